/*
** webout.c
** HTTP/1.1 responses as text: RFC 9112's status line, header fields and
** chunked body.
*/
#include <stdio.h>

#include "jsontext.h"
#include "webout.h"

/* What a browser's script may read of a response besides the safelisted headers (Fetch's CORS rules). */
#define EXPOSED_ALWAYS "grpc-status, grpc-message, grpc-status-details-bin, grpc-encoding, connect-content-encoding"

static void put(web_out *o, const char *p, size_t n) {
  if (buf_put(&o->data, p, n) != BUF_OK) o->broken = true;
}

static void puts_(web_out *o, const char *s) {
  put(o, s, strlen(s));
}

static const char *reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 204: return "No Content";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 413: return "Content Too Large";
  case 415: return "Unsupported Media Type";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 499: return "Client Closed Request";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default: return status < 500 ? "Error" : "Internal Server Error";
  }
}

void web_status(web_out *o, int status) {
  char line[64];
  snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, reason(status));
  puts_(o, line);
  if (o->close) puts_(o, "connection: close\r\n");
  o->exposed.len = 0;
  if (o->origin == NULL) return;
  puts_(o, "access-control-allow-origin: ");
  puts_(o, o->origin);
  puts_(o, "\r\nvary: origin\r\n");
}

void web_header(web_out *o, const char *name, const char *value, size_t vlen) {
  puts_(o, name);
  put(o, ": ", 2);
  put(o, value, vlen);
  put(o, "\r\n", 2);
}

void web_expose(web_out *o, const char *name) {
  if (o->origin == NULL) return;
  if (buf_put(&o->exposed, ", ", 2) != BUF_OK || buf_put(&o->exposed, name, strlen(name)) != BUF_OK)
    o->broken = true;
}

void web_header_base64(web_out *o, const char *name, const char *value, size_t vlen) {
  size_t mark = o->data.len;
  web_header(o, name, "", 0);
  o->data.len -= 2;                 /* the value goes before the line's end */
  if (jt_put_base64_bare(&o->data, value, vlen) != JT_OK) {
    o->data.len = mark;
    o->broken = true;
  }
  put(o, "\r\n", 2);
}

void web_begin_body(web_out *o, long long length) {
  char line[64];
  if (o->origin != NULL && length != WEB_NO_BODY) {
    puts_(o, "access-control-expose-headers: " EXPOSED_ALWAYS);
    put(o, o->exposed.data, o->exposed.len);
    put(o, "\r\n", 2);
  }
  o->chunked = false;
  if (length == WEB_NO_BODY) {
    /* 204: nothing */
  } else if (length >= 0) {
    snprintf(line, sizeof line, "content-length: %lld\r\n", length);
    puts_(o, line);
  } else if (o->http10) {
    o->close = true;                /* the body ends with the connection */
  } else {
    puts_(o, "transfer-encoding: chunked\r\n");
    o->chunked = true;
  }
  put(o, "\r\n", 2);
}

/* A chunk's size line, when the body goes in chunks. */
static void chunk(web_out *o, size_t len) {
  if (!o->chunked) return;
  char size[24];
  snprintf(size, sizeof size, "%zx\r\n", len);
  puts_(o, size);
}

void web_body(web_out *o, const char *data, size_t len) {
  if (len == 0) return;
  chunk(o, len);
  put(o, data, len);
  if (o->chunked) put(o, "\r\n", 2);
}

void web_body_framed(web_out *o, const char prefix[5], const char *data, size_t len) {
  chunk(o, len + 5);
  put(o, prefix, 5);
  put(o, data, len);
  if (o->chunked) put(o, "\r\n", 2);
}

void web_end(web_out *o) {
  if (o->chunked) puts_(o, "0\r\n\r\n");
  o->chunked = false;
  o->done(o);
}

void web_text(web_out *o, int status, const char *text) {
  web_status(o, status);
  web_header(o, "content-type", "text/plain; charset=utf-8", 25);
  size_t len = strlen(text);
  web_begin_body(o, (long long)len + 1);
  put(o, text, len);
  put(o, "\n", 1);
  web_end(o);
}
