/*
** gzip.h
** gzip bodies of the HTTP/1.1 door through zlib: inflating what a client
** sent, within a bound (a small body may inflate a thousandfold), and
** deflating replies. Plain C.
*/
#ifndef gzip_h
#define gzip_h

#include <stddef.h>

#include "buf.h"

enum { GZIP_OK = 0, GZIP_BAD = -1, GZIP_TOOBIG = -2, GZIP_NOMEM = -3 };

/* Appends the inflated len bytes at in to out: GZIP_TOOBIG past max bytes, GZIP_BAD when they are not gzip. */
int gzip_inflate(const char *in, size_t len, size_t max, buf *out);

/* Appends len bytes at in, gzip-compressed, to out. */
int gzip_deflate(const char *in, size_t len, buf *out);

#endif
