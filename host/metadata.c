/*
** metadata.c
** A growable array of grpc_metadata.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metadata.h"

int metadata_append(metadata_list *list, grpc_slice k, grpc_slice v) {
  if (list->n == list->cap) {
    size_t cap = list->cap ? list->cap * 2 : 4;
    grpc_metadata *items = realloc(list->items, cap * sizeof *items);
    if (items == NULL) {
      grpc_slice_unref(k);
      grpc_slice_unref(v);
      return -1;
    }
    list->items = items;
    list->cap = cap;
  }
  grpc_metadata *md = &list->items[list->n++];
  memset(md, 0, sizeof *md);
  md->key = k;
  md->value = v;
  return 0;
}

int metadata_add(metadata_list *list, const char *key, size_t klen, const char *value, size_t vlen,
                 char *err, size_t errlen) {
  grpc_slice k = grpc_slice_from_copied_buffer(key, klen);
  grpc_slice v = grpc_slice_from_copied_buffer(value, vlen);
  const char *problem = NULL;
  if (!grpc_header_key_is_legal(k))
    problem = "is not a legal key (lower-case letters, digits, '-', '_', '.')";
  else if (klen >= 5 && memcmp(key, "grpc-", 5) == 0)
    problem = "is reserved for gRPC";
  else if (!grpc_is_binary_header(k) && !grpc_header_nonbin_value_is_legal(v))
    problem = "has a value with characters not allowed in text metadata (use a -bin key)";
  if (problem != NULL) {
    grpc_slice_unref(k);
    grpc_slice_unref(v);
  } else if (metadata_append(list, k, v)) {
    problem = "could not be stored: out of memory";
  }
  if (problem == NULL) return 0;
  snprintf(err, errlen, "metadata key '%.*s' %s", (int)(klen > 64 ? 64 : klen), key, problem);
  return -1;
}

int metadata_has(const metadata_list *list, const char *key) {
  size_t len = strlen(key);
  for (size_t i = 0; i < list->n; i++) {
    grpc_slice k = list->items[i].key;
    if (GRPC_SLICE_LENGTH(k) == len && memcmp(GRPC_SLICE_START_PTR(k), key, len) == 0) return 1;
  }
  return 0;
}

void metadata_free(metadata_list *list) {
  for (size_t i = 0; i < list->n; i++) {
    grpc_slice_unref(list->items[i].key);
    grpc_slice_unref(list->items[i].value);
  }
  free(list->items);
  list->items = NULL;
  list->n = list->cap = 0;
}
