/*
** metadata.h
** Lists of metadata to send (headers, trailers, an outbound call's request
** metadata): keys checked as gRPC wants them, keys and values owned as slices.
** Errors: -1 with a reason naming the key in the caller's buffer.
*/
#ifndef metadata_h
#define metadata_h

#include <stddef.h>

#include <grpc/grpc.h>

typedef struct metadata_list {
  grpc_metadata *items;
  size_t n;
  size_t cap;
} metadata_list;

/* Adds key: value, checked: a legal key, not reserved (grpc-), a value text metadata may hold. */
int metadata_add(metadata_list *list, const char *key, size_t klen, const char *value, size_t vlen,
                 char *err, size_t errlen);

/* Adds k: v unchecked, taking both slices (unreferenced if the list cannot grow). -1 when out of memory. */
int metadata_append(metadata_list *list, grpc_slice k, grpc_slice v);

/* Whether list holds key. */
int metadata_has(const metadata_list *list, const char *key);

void metadata_free(metadata_list *list);

#endif
