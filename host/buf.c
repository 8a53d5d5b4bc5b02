/*
** buf.c
** Growth by doubling from 256 bytes.
*/
#include <stdint.h>
#include <stdlib.h>

#include "buf.h"

#define BUF_KEEP_MAX ((size_t)1 << 20)

int buf_grow(buf *b, size_t n) {
  if (n > SIZE_MAX / 4 - b->len) return BUF_TOOBIG;
  if (b->limit != 0 && (b->len > b->limit || n > b->limit - b->len)) return BUF_TOOBIG;
  if (b->cap - b->len >= n) return BUF_OK;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len < n) cap *= 2;
  char *data = realloc(b->data, cap);
  if (data == NULL) return BUF_NOMEM;
  b->data = data;
  b->cap = cap;
  return BUF_OK;
}

void buf_free(buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void buf_shrink(buf *b) {
  if (b->cap > BUF_KEEP_MAX) buf_free(b);
}
