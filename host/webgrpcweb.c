/*
** webgrpcweb.c
** gRPC-Web (github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md): gRPC's
** length-prefixed frames in an HTTP/1.1 body, the status and trailers in a
** last frame flagged 0x80 that holds them as header lines. The text form
** (application/grpc-web-text) is the same bytes in base64, both ways; each
** frame of the reply is encoded on its own, so a client decodes it as it
** comes, four characters at a time.
*/
#include <stdio.h>
#include <string.h>

#include "jsontext.h"
#include "webproto.h"

#define FRAME_COMPRESSED 0x01
#define FRAME_TRAILERS 0x80

static grpc_status_code take(webcall *w, const web_request *r, const char **msg, size_t *len, char *err,
                             size_t errlen) {
  const char *body = r->body;
  size_t n = r->body_len;
  if (w->text) {
    while (n > 0 && (body[n - 1] == '\n' || body[n - 1] == '\r' || body[n - 1] == ' ')) n--;
    w->packed.len = 0;
    if (buf_reserve(&w->packed, n * 3 / 4 + 3) != BUF_OK) {
      snprintf(err, errlen, "out of memory");
      return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    long decoded = jt_base64_decode(body, n, w->packed.data);
    if (decoded < 0) {
      snprintf(err, errlen, "the body of a grpc-web-text request must be base64");
      return GRPC_STATUS_INVALID_ARGUMENT;
    }
    body = w->packed.data;
    n = (size_t)decoded;
  }
  web_gzip_replies(w, r, "grpc-accept-encoding");
  return web_unframe(w, r, body, n, "grpc-encoding", msg, len, err, errlen);
}

static void head(webcall *w) {
  web_out *o = w->out;
  web_status(o, 200);
  static const char *const types[2][2] = {
    {"application/grpc-web+proto", "application/grpc-web+json"},
    {"application/grpc-web-text+proto", "application/grpc-web-text+json"}};
  const char *type = types[w->text][w->json];
  web_header(o, "content-type", type, strlen(type));
  if (w->gzip_replies) web_header(o, "grpc-encoding", "gzip", 4);
  web_put_metadata(o, &w->headers, "");
  web_begin_body(o, -1);
}

/* One frame; in the text form, the frame in base64. */
static void put_frame(webcall *w, unsigned flags, const char *data, size_t len) {
  char prefix[5];
  web_prefix(prefix, flags, len);
  if (!w->text) {
    web_body_framed(w->out, prefix, data, len);
    return;
  }
  buf *b = &w->packed;
  b->len = 0;
  if (buf_put(b, prefix, 5) != BUF_OK || buf_put(b, data, len) != BUF_OK) {
    w->out->broken = true;
    return;
  }
  size_t mark = b->len;
  /* Room first: the text is encoded from the buffer's own start. */
  if (buf_reserve(b, (mark + 2) / 3 * 4) != BUF_OK || jt_put_base64_bare(b, b->data, mark) != JT_OK) {
    w->out->broken = true;
    return;
  }
  web_body(w->out, b->data + mark, b->len - mark);
}

static void message(webcall *w, const char *data, size_t len) {
  bool gzip = web_compress(w, &data, &len);
  put_frame(w, gzip ? FRAME_COMPRESSED : 0, data, len);
}

/* grpc-message as gRPC sends it: percent-encoded outside printable ASCII. */
static void put_percent_encoded(buf *b, const char *s, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f && c != '%') {
      buf_putc(b, (char)c);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      buf_put(b, e, 3);
    }
  }
}

/* The trailer frame's header lines: the status, then the trailers (-bin values in base64). */
static void put_trailer_block(webcall *w, buf *b) {
  char status[32];
  snprintf(status, sizeof status, "grpc-status:%d\r\n", (int)w->code);
  buf_put(b, status, strlen(status));
  if (GRPC_SLICE_LENGTH(w->details) > 0) {
    buf_put(b, "grpc-message:", 13);
    put_percent_encoded(b, (const char *)GRPC_SLICE_START_PTR(w->details), GRPC_SLICE_LENGTH(w->details));
    buf_put(b, "\r\n", 2);
  }
  for (size_t i = 0; i < w->trailers.count; i++) {
    grpc_slice k = w->trailers.metadata[i].key, v = w->trailers.metadata[i].value;
    buf_put(b, GRPC_SLICE_START_PTR(k), GRPC_SLICE_LENGTH(k));
    buf_putc(b, ':');
    if (grpc_is_binary_header(k)) jt_put_base64_bare(b, (const char *)GRPC_SLICE_START_PTR(v), GRPC_SLICE_LENGTH(v));
    else buf_put(b, GRPC_SLICE_START_PTR(v), GRPC_SLICE_LENGTH(v));
    buf_put(b, "\r\n", 2);
  }
}

static void end(webcall *w) {
  buf block = {0};
  put_trailer_block(w, &block);
  put_frame(w, FRAME_TRAILERS, block.data ? block.data : "", block.len);
  buf_free(&block);
  web_end(w->out);
}

const web_protocol web_grpc_web = {"grpc-web", true, take, head, message, end};
