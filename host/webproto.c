/*
** webproto.c
** What the door's protocols (webconnect.c, webgrpcweb.c) share: request
** headers, frames and envelopes, inflating, replies taken whole, metadata as
** headers.
*/
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <grpc/byte_buffer_reader.h>

#include "gzip.h"
#include "webproto.h"

#define FRAME_COMPRESSED 0x01       /* of a request's frame or envelope */

const char *web_find_header(const web_request *r, const char *name) {
  for (size_t i = 0; i < r->n_headers; i++)
    if (strcmp(r->names[i], name) == 0) return r->values[i];
  return NULL;
}

/* Whether the client lists gzip in the value of accept (an Accept-Encoding header). */
static bool accepts_gzip(const char *accept) {
  for (const char *p = accept; p != NULL && (p = strstr(p, "gzip")) != NULL; p += 4) {
    const char *q = p + 4;
    while (*q == ' ') q++;
    if (strncmp(q, ";q=0", 4) != 0 || (q[4] == '.' && strspn(q + 5, "0") < strcspn(q + 5, ", ")))
      return true;
  }
  return false;
}

void web_prefix(char prefix[5], unsigned flags, size_t len) {
  prefix[0] = (char)flags;
  prefix[1] = (char)(len >> 24);
  prefix[2] = (char)(len >> 16);
  prefix[3] = (char)(len >> 8);
  prefix[4] = (char)len;
}

void web_put_metadata(web_out *o, const grpc_metadata_array *md, const char *prefix) {
  char name[256];
  for (size_t i = 0; i < md->count; i++) {
    grpc_slice k = md->metadata[i].key, v = md->metadata[i].value;
    size_t klen = GRPC_SLICE_LENGTH(k);
    if (klen + strlen(prefix) >= sizeof name || (klen >= 5 && memcmp(GRPC_SLICE_START_PTR(k), "grpc-", 5) == 0))
      continue;
    snprintf(name, sizeof name, "%s%.*s", prefix, (int)klen, (const char *)GRPC_SLICE_START_PTR(k));
    if (grpc_is_binary_header(k))
      web_header_base64(o, name, (const char *)GRPC_SLICE_START_PTR(v), GRPC_SLICE_LENGTH(v));
    else
      web_header(o, name, (const char *)GRPC_SLICE_START_PTR(v), GRPC_SLICE_LENGTH(v));
    web_expose(o, name);
  }
}

grpc_status_code web_unframe(webcall *w, const web_request *r, const char *body, size_t n, const char *encoding,
                             const char **msg, size_t *len, char *err, size_t errlen) {
  const unsigned char *p = (const unsigned char *)body;
  if (n < 5 || ((size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4]) != n - 5) {
    snprintf(err, errlen, "the body must be one message in a frame (5 bytes of flags and length, then the message)");
    return GRPC_STATUS_INVALID_ARGUMENT;
  }
  if (p[0] & ~FRAME_COMPRESSED) {
    snprintf(err, errlen, "the request's frame has flags 0x%02x; only 0x01 (compressed) may be set", p[0]);
    return GRPC_STATUS_INVALID_ARGUMENT;
  }
  *msg = body + 5;
  *len = n - 5;
  if (!(p[0] & FRAME_COMPRESSED)) return GRPC_STATUS_OK;
  const char *value = web_find_header(r, encoding);
  if (value != NULL && strcasecmp(value, "gzip") == 0) return web_inflate(w, msg, len, err, errlen);
  snprintf(err, errlen, "the request is compressed with %s '%.32s'; only gzip is supported", encoding,
           value ? value : "(none)");
  return GRPC_STATUS_UNIMPLEMENTED;
}

void web_gzip_replies(webcall *w, const web_request *r, const char *accept) {
  w->gzip_replies = w->env->cfg->compress_min_bytes > 0 && accepts_gzip(web_find_header(r, accept));
}

bool web_compress(webcall *w, const char **data, size_t *len) {
  if (!w->gzip_replies || *len < (size_t)w->env->cfg->compress_min_bytes) return false;
  w->zipped.len = 0;
  if (gzip_deflate(*data, *len, &w->zipped) != GZIP_OK) return false;
  *data = w->zipped.data;
  *len = w->zipped.len;
  return true;
}

grpc_status_code web_inflate(webcall *w, const char **data, size_t *len, char *err, size_t errlen) {
  size_t max = (size_t)w->env->cfg->max_message_bytes;
  w->scratch.len = 0;
  switch (gzip_inflate(*data, *len, max, &w->scratch)) {
  case GZIP_OK:
    *data = w->scratch.data ? w->scratch.data : "";
    *len = w->scratch.len;
    return GRPC_STATUS_OK;
  case GZIP_TOOBIG:
    snprintf(err, errlen, "the request inflates to more than --max-message-bytes %zu", max);
    return GRPC_STATUS_RESOURCE_EXHAUSTED;
  case GZIP_BAD:
    snprintf(err, errlen, "the request is not valid gzip");
    return GRPC_STATUS_INVALID_ARGUMENT;
  default:
    snprintf(err, errlen, "out of memory inflating the request");
    return GRPC_STATUS_RESOURCE_EXHAUSTED;
  }
}

/* }====================================================== */

void web_take_reply(webcall *w, const char **data, size_t *len) {
  grpc_byte_buffer_reader reader;
  w->scratch.len = 0;
  if (grpc_byte_buffer_reader_init(&reader, w->reply)) {
    grpc_slice s;
    while (grpc_byte_buffer_reader_next(&reader, &s)) {
      if (buf_put(&w->scratch, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s)) != BUF_OK && w->out != NULL)
        w->out->broken = true;
      grpc_slice_unref(s);
    }
    grpc_byte_buffer_reader_destroy(&reader);
  }
  grpc_byte_buffer_destroy(w->reply);
  w->reply = NULL;
  *data = w->scratch.data ? w->scratch.data : "";
  *len = w->scratch.len;
}
