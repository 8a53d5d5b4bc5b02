/*
** buf.h
** A growable byte buffer, what the codec, the JSON writer and the HTTP client
** write into: appends that check their room inline and grow it by doubling.
** Errors: BUF_NOMEM when memory runs out, BUF_TOOBIG past the buffer's limit.
*/
#ifndef buf_h
#define buf_h

#include <stddef.h>
#include <string.h>

typedef struct buf {
  char *data;
  size_t len;
  size_t cap;
  size_t limit;                     /* the most bytes it may hold; 0: no limit */
} buf;

enum { BUF_OK = 0, BUF_NOMEM = -1, BUF_TOOBIG = -2 };

/* Room for n more bytes, grown; see buf_reserve. */
int buf_grow(buf *b, size_t n);

/* Room for n more bytes: BUF_OK, or what stops it. */
static inline int buf_reserve(buf *b, size_t n) {
  return b->cap - b->len >= n && (b->limit == 0 || b->limit - b->len >= n) ? BUF_OK : buf_grow(b, n);
}

/* Appends n bytes at p. */
static inline int buf_put(buf *b, const void *p, size_t n) {
  int rc = buf_reserve(b, n);
  if (rc == BUF_OK && n > 0) {
    memcpy(b->data + b->len, p, n);
    b->len += n;
  }
  return rc;
}

static inline int buf_putc(buf *b, char c) {
  int rc = buf_reserve(b, 1);
  if (rc == BUF_OK) b->data[b->len++] = c;
  return rc;
}

void buf_free(buf *b);

/* Frees b's memory when it has grown past what is worth keeping between uses (1 MiB). */
void buf_shrink(buf *b);

#endif
