/*
** webconnect.c
** The Connect protocol (connectrpc.com/docs/protocol): unary calls as plain
** HTTP (the body is the message; an error is a JSON object with the HTTP
** status its code maps to; trailers are headers named trailer-KEY), and
** server streaming as enveloped messages ending in an end-of-stream message
** that carries the error and the trailers.
*/
#define _GNU_SOURCE                 /* memrchr */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "jsontext.h"
#include "webproto.h"
#include "wire.h"

#define ENVELOPE_COMPRESSED 0x01
#define ENVELOPE_END_STREAM 0x02

/* Connect's name and HTTP status of each gRPC code, by number. */
static const struct {
  const char *name;
  int http;
} codes[] = {
  {"ok", 200}, {"canceled", 499}, {"unknown", 500}, {"invalid_argument", 400},
  {"deadline_exceeded", 504}, {"not_found", 404}, {"already_exists", 409},
  {"permission_denied", 403}, {"resource_exhausted", 429}, {"failed_precondition", 400},
  {"aborted", 409}, {"out_of_range", 400}, {"unimplemented", 501}, {"internal", 500},
  {"unavailable", 503}, {"data_loss", 500}, {"unauthenticated", 401},
};

static unsigned code_index(grpc_status_code code) {
  return (unsigned)code < sizeof codes / sizeof codes[0] ? (unsigned)code : GRPC_STATUS_UNKNOWN;
}

/*
** {======================================================
** The error object
** =======================================================
*/

/* A varint at *p (before end); false when there is none. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  *v = 0;
  for (int shift = 0; *p < end && shift < 64; shift += 7) {
    uint8_t byte = *(*p)++;
    *v |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}

/* The next field of a message: its number, and for length-delimited ones its bytes. False at the end or on bad bytes. */
static bool next_field(const uint8_t **p, const uint8_t *end, uint32_t *number, const uint8_t **data, size_t *len) {
  uint64_t key, v;
  if (*p >= end || !read_varint(p, end, &key)) return false;
  *number = (uint32_t)(key >> 3);
  *data = NULL;
  switch (key & 7) {
  case WT_VARINT: return read_varint(p, end, &v);
  case WT_I64: *p += 8; return *p <= end;
  case WT_I32: *p += 4; return *p <= end;
  case WT_LEN:
    if (!read_varint(p, end, &v) || v > (uint64_t)(end - *p)) return false;
    *data = *p;
    *len = (size_t)v;
    *p += v;
    return true;
  default: return false;
  }
}

/* One google.protobuf.Any of the status's details as {"type": NAME, "value": BASE64} (no padding). */
static void put_detail(buf *b, const uint8_t *any, size_t len, bool first) {
  const uint8_t *p = any, *end = any + len, *data, *url = NULL, *value = NULL;
  size_t n, url_len = 0, value_len = 0;
  uint32_t number;
  while (next_field(&p, end, &number, &data, &n)) {
    if (number == 1 && data != NULL) url = data, url_len = n;
    if (number == 2 && data != NULL) value = data, value_len = n;
  }
  if (url == NULL) return;
  const uint8_t *slash = memrchr(url, '/', url_len);
  if (slash != NULL) url_len -= (size_t)(slash + 1 - url), url = slash + 1;
  buf_put(b, first ? "{\"type\":" : ",{\"type\":", first ? 8 : 9);
  size_t bad;
  jt_put_string(b, (const char *)url, url_len, &bad);
  buf_put(b, ",\"value\":\"", 10);
  jt_put_base64_bare(b, value ? (const char *)value : "", value_len);
  while (b->len > 0 && b->data[b->len - 1] == '=') b->len--;
  buf_put(b, "\"}", 2);
}

/* The details of grpc-status-details-bin (a google.rpc.Status), as Connect's "details" array. */
static void put_details(buf *b, const grpc_metadata_array *trailers) {
  for (size_t i = 0; i < trailers->count; i++) {
    grpc_slice k = trailers->metadata[i].key, v = trailers->metadata[i].value;
    if (grpc_slice_str_cmp(k, "grpc-status-details-bin") != 0) continue;
    const uint8_t *p = GRPC_SLICE_START_PTR(v), *end = p + GRPC_SLICE_LENGTH(v), *data;
    size_t n;
    uint32_t number;
    bool first = true;
    buf_put(b, ",\"details\":[", 12);
    while (next_field(&p, end, &number, &data, &n))
      if (number == 3 && data != NULL) {
        put_detail(b, data, n, first);
        first = false;
      }
    buf_putc(b, ']');
    return;
  }
}

/* {"code": ..., "message": ..., "details": [...]} of the call's status. */
static void put_error(webcall *w, buf *b) {
  const char *name = codes[code_index(w->code)].name;
  buf_put(b, "{\"code\":\"", 9);
  buf_put(b, name, strlen(name));
  buf_putc(b, '"');
  if (GRPC_SLICE_LENGTH(w->details) > 0) {
    size_t mark = b->len, bad;
    buf_put(b, ",\"message\":", 11);
    if (jt_put_string(b, (const char *)GRPC_SLICE_START_PTR(w->details), GRPC_SLICE_LENGTH(w->details), &bad) != JT_OK)
      b->len = mark;                /* not UTF-8: the code says enough */
  }
  put_details(b, &w->trailers);
  buf_putc(b, '}');
}

/* }====================================================== */

/*
** {======================================================
** Unary
** =======================================================
*/

static grpc_status_code take_unary(webcall *w, const web_request *r, const char **msg, size_t *len, char *err,
                                   size_t errlen) {
  const char *version = web_find_header(r, "connect-protocol-version");
  const char *encoding = web_find_header(r, "content-encoding");
  *msg = r->body;
  *len = r->body_len;
  web_gzip_replies(w, r, "accept-encoding");
  if (version != NULL && strcmp(version, "1") != 0) {
    snprintf(err, errlen, "connect-protocol-version: '%.16s' is not 1", version);
    return GRPC_STATUS_INVALID_ARGUMENT;
  }
  if (encoding == NULL || strcasecmp(encoding, "identity") == 0) return GRPC_STATUS_OK;
  if (strcasecmp(encoding, "gzip") == 0) return web_inflate(w, msg, len, err, errlen);
  snprintf(err, errlen, "content-encoding: '%.32s' is not supported; gzip and identity are", encoding);
  return GRPC_STATUS_UNIMPLEMENTED;
}

static void end_unary(webcall *w) {
  web_out *o = w->out;
  const char *data = "";
  size_t len = 0;
  bool ok = w->code == GRPC_STATUS_OK;
  if (ok && w->reply != NULL) web_take_reply(w, &data, &len);
  if (!ok) {
    w->packed.len = 0;
    put_error(w, &w->packed);
    data = w->packed.data;
    len = w->packed.len;
  }
  bool gzip = ok && web_compress(w, &data, &len);
  web_status(o, codes[code_index(w->code)].http);
  if (!ok || w->json) web_header(o, "content-type", "application/json", 16);
  else web_header(o, "content-type", "application/proto", 17);
  if (gzip) web_header(o, "content-encoding", "gzip", 4);
  web_put_metadata(o, &w->headers, "");
  web_put_metadata(o, &w->trailers, "trailer-");
  web_begin_body(o, (long long)len);
  web_body(o, data, len);
  web_end(o);
}

static void no_head(webcall *w) {
  (void)w;
}

static void no_message(webcall *w, const char *data, size_t len) {
  (void)w, (void)data, (void)len;
}

const web_protocol web_connect = {"connect", false, take_unary, no_head, no_message, end_unary};

/* }====================================================== */

/*
** {======================================================
** Server streaming
** =======================================================
*/

static grpc_status_code take_stream(webcall *w, const web_request *r, const char **msg, size_t *len, char *err,
                                    size_t errlen) {
  web_gzip_replies(w, r, "connect-accept-encoding");
  return web_unframe(w, r, r->body, r->body_len, "connect-content-encoding", msg, len, err, errlen);
}

static void head_stream(webcall *w) {
  web_out *o = w->out;
  web_status(o, 200);
  if (w->json) web_header(o, "content-type", "application/connect+json", 24);
  else web_header(o, "content-type", "application/connect+proto", 25);
  if (w->gzip_replies) web_header(o, "connect-content-encoding", "gzip", 4);
  web_put_metadata(o, &w->headers, "");
  web_begin_body(o, -1);
}

static void message_stream(webcall *w, const char *data, size_t len) {
  char prefix[5];
  bool gzip = web_compress(w, &data, &len);
  web_prefix(prefix, gzip ? ENVELOPE_COMPRESSED : 0, len);
  web_body_framed(w->out, prefix, data, len);
}

/* {"KEY": ["VALUE", ...], ...} of the trailers, -bin values in base64. */
static void put_trailers(buf *b, const grpc_metadata_array *trailers) {
  size_t bad;
  buf_put(b, "\"metadata\":{", 12);
  for (size_t i = 0, n = 0; i < trailers->count; i++) {
    grpc_slice k = trailers->metadata[i].key, v = trailers->metadata[i].value;
    if (GRPC_SLICE_LENGTH(k) >= 5 && memcmp(GRPC_SLICE_START_PTR(k), "grpc-", 5) == 0) continue;
    if (n++ > 0) buf_putc(b, ',');
    jt_put_string(b, (const char *)GRPC_SLICE_START_PTR(k), GRPC_SLICE_LENGTH(k), &bad);
    buf_put(b, ":[", 2);
    if (grpc_is_binary_header(k)) jt_put_base64(b, (const char *)GRPC_SLICE_START_PTR(v), GRPC_SLICE_LENGTH(v));
    else jt_put_string(b, (const char *)GRPC_SLICE_START_PTR(v), GRPC_SLICE_LENGTH(v), &bad);
    buf_putc(b, ']');
  }
  buf_putc(b, '}');
}

/* The end-of-stream message: {"error": {...}, "metadata": {...}}. */
static void end_stream(webcall *w) {
  char prefix[5];
  buf *b = &w->packed;
  b->len = 0;
  buf_putc(b, '{');
  if (w->code != GRPC_STATUS_OK) {
    buf_put(b, "\"error\":", 8);
    put_error(w, b);
    buf_putc(b, ',');
  }
  put_trailers(b, &w->trailers);
  buf_putc(b, '}');
  web_prefix(prefix, ENVELOPE_END_STREAM, b->len);
  web_body_framed(w->out, prefix, b->data, b->len);
  web_end(w->out);
}

const web_protocol web_connect_stream = {"connect-stream", true, take_stream, head_stream, message_stream, end_stream};

/* }====================================================== */
