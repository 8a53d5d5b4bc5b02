/*
** gzip.c
** zlib's inflate and deflate with a gzip wrapper (windowBits 15 + 16).
*/
#include <zlib.h>

#include "gzip.h"

#define GZIP_WINDOW (15 + 16)
#define STEP (64 << 10)             /* room added to the output at a time */

int gzip_inflate(const char *in, size_t len, size_t max, buf *out) {
  z_stream z = {0};
  if (inflateInit2(&z, GZIP_WINDOW) != Z_OK) return GZIP_NOMEM;
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)len;
  size_t start = out->len;
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (out->len - start >= max + 1) {
      rc = Z_BUF_ERROR;
      break;
    }
    size_t room = max + 1 - (out->len - start);   /* one byte more than allowed tells "too big" */
    if (room > STEP) room = STEP;
    if (buf_reserve(out, room) != BUF_OK) {
      inflateEnd(&z);
      return GZIP_NOMEM;
    }
    z.next_out = (Bytef *)out->data + out->len;
    z.avail_out = (uInt)room;
    rc = inflate(&z, Z_NO_FLUSH);
    out->len += room - z.avail_out;
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;   /* the input ended early */
  }
  inflateEnd(&z);
  if (out->len - start > max) return GZIP_TOOBIG;
  return rc == Z_STREAM_END ? GZIP_OK : GZIP_BAD;
}

int gzip_deflate(const char *in, size_t len, buf *out) {
  z_stream z = {0};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, GZIP_WINDOW, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return GZIP_NOMEM;
  size_t bound = deflateBound(&z, (uLong)len);
  if (buf_reserve(out, bound) != BUF_OK) {
    deflateEnd(&z);
    return GZIP_NOMEM;
  }
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)len;
  z.next_out = (Bytef *)out->data + out->len;
  z.avail_out = (uInt)bound;
  int rc = deflate(&z, Z_FINISH);
  out->len += bound - z.avail_out;
  deflateEnd(&z);
  return rc == Z_STREAM_END ? GZIP_OK : GZIP_NOMEM;
}
