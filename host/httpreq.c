/*
** httpreq.c
** An HTTP request put together on its owner's thread (the URL parsed by
** http-parser, the head and body in one buffer), and the response read back.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "httpreq.h"

/* r->has: what the owner set, so that the host adds only what is missing. */
#define HAS_HOST 1u
#define HAS_USER_AGENT 2u
#define WANTS_LENGTH 4u             /* a method that carries a body: send Content-Length, even 0 */

#define USER_AGENT "grpc-lua-host"

static int buf_str(buf *b, const char *s) {
  return buf_put(b, s, strlen(s));
}

/* RFC 9110 5.6.2: the characters of a method or a header name. */
static bool is_token(const char *s, size_t n) {
  static const char extra[] = "!#$%&'*+-.^_`|~";
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    bool alnum = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
    if (!alnum && (ch == '\0' || strchr(extra, ch) == NULL)) return false;
  }
  return true;
}

static bool is_one_of(const char *s, const char *const *list) {
  for (; *list != NULL; list++)
    if (strcmp(s, *list) == 0) return true;
  return false;
}

static bool has_control(const char *s, size_t n, bool tab_ok) {
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if ((ch < 0x20 && !(tab_ok && ch == '\t')) || ch == 0x7f) return true;
  }
  return false;
}

/* Whether a Connection header's value holds "close". */
static bool mentions_close(const char *value, size_t n) {
  for (size_t i = 0; i + 5 <= n; i++)
    if (strncasecmp(value + i, "close", 5) == 0) return true;
  return false;
}

static char *dup_field(const char *url, const struct http_parser_url *u, int f) {
  return strndup(url + u->field_data[f].off, u->field_data[f].len);
}

/* The method in upper case, and what it implies. -1 when it is no token. */
static int set_method(http_request *r, const char *method, char *upper, size_t size) {
  static const char *const idempotent[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", NULL};
  static const char *const with_body[] = {"POST", "PUT", "PATCH", NULL};
  size_t n = strlen(method);
  if (!is_token(method, n) || n >= size) return -1;
  for (size_t i = 0; i <= n; i++)
    upper[i] = method[i] >= 'a' && method[i] <= 'z' ? (char)(method[i] - 'a' + 'A') : method[i];
  r->idempotent = is_one_of(upper, idempotent);
  r->head = strcmp(upper, "HEAD") == 0;
  if (is_one_of(upper, with_body)) r->has |= WANTS_LENGTH;
  return 0;
}

/* r->shown: scheme://host[:port]path, no user info, query or fragment (they may hold secrets). */
static int set_shown(http_request *r, const char *url, const struct http_parser_url *u) {
  bool v6 = strchr(r->host, ':') != NULL;
  char port[8] = "";
  if (u->field_set & (1 << UF_PORT)) snprintf(port, sizeof port, ":%d", r->port);
  int plen = u->field_set & (1 << UF_PATH) ? u->field_data[UF_PATH].len : 0;
  const char *path = url + u->field_data[UF_PATH].off;
  size_t size = strlen(r->host) + (size_t)plen + 32;
  r->shown = malloc(size);
  if (r->shown == NULL) return -1;
  snprintf(r->shown, size, "%s://%s%s%s%s%.*s", r->tls ? "https" : "http", v6 ? "[" : "", r->host,
           v6 ? "]" : "", port, plen, path);
  return 0;
}

/* "METHOD /path?query HTTP/1.1\r\n" */
static int request_line(http_request *r, const char *method, const char *url, const struct http_parser_url *u) {
  int ok = buf_str(&r->out, method) == 0 && buf_str(&r->out, " ") == 0;
  if (u->field_set & (1 << UF_PATH)) ok = ok && buf_put(&r->out, url + u->field_data[UF_PATH].off, u->field_data[UF_PATH].len) == 0;
  else ok = ok && buf_str(&r->out, "/") == 0;
  if (u->field_set & (1 << UF_QUERY))
    ok = ok && buf_str(&r->out, "?") == 0 &&
         buf_put(&r->out, url + u->field_data[UF_QUERY].off, u->field_data[UF_QUERY].len) == 0;
  return ok && buf_str(&r->out, " HTTP/1.1\r\n") == 0 ? 0 : -1;
}

static int parse_url(http_request *r, const char *url, size_t len, struct http_parser_url *u,
                     char *err, size_t errlen) {
  http_parser_url_init(u);
  if (len > UINT16_MAX || has_control(url, len, false) || http_parser_parse_url(url, len, 0, u) != 0 ||
      !(u->field_set & (1 << UF_SCHEMA)) || !(u->field_set & (1 << UF_HOST))) {
    snprintf(err, errlen, "not an absolute http:// or https:// URL");
    return -1;
  }
  const char *scheme = url + u->field_data[UF_SCHEMA].off;
  int slen = u->field_data[UF_SCHEMA].len;
  r->tls = slen == 5 && strncasecmp(scheme, "https", 5) == 0;
  if (!r->tls && !(slen == 4 && strncasecmp(scheme, "http", 4) == 0)) {
    snprintf(err, errlen, "unsupported scheme '%.*s' (http or https)", slen, scheme);
    return -1;
  }
  if (u->field_set & (1 << UF_USERINFO)) {
    snprintf(err, errlen, "user info in the URL is not sent: give an authorization header");
    return -1;
  }
  r->port = u->field_set & (1 << UF_PORT) ? u->port : r->tls ? 443 : 80;
  if (r->port == 0) {
    snprintf(err, errlen, "port 0");
    return -1;
  }
  return 0;
}

int http_request_init(http_request *r, const char *method, const char *url, size_t url_len,
                      char *err, size_t errlen) {
  memset(r, 0, sizeof *r);
  char upper[32];
  struct http_parser_url u;
  if (set_method(r, method, upper, sizeof upper) != 0) {
    snprintf(err, errlen, "method '%s' is not a valid HTTP method", method);
    return -1;
  }
  if (parse_url(r, url, url_len, &u, err, errlen) != 0) return -1;
  r->host = dup_field(url, &u, UF_HOST);
  if (r->host == NULL || set_shown(r, url, &u) != 0 || request_line(r, upper, url, &u) != 0) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  return 0;
}

int http_request_header(http_request *r, const char *name, size_t nlen, const char *value, size_t vlen,
                        char *err, size_t errlen) {
  if (!is_token(name, nlen)) {
    snprintf(err, errlen, "header name '%.*s' is not a token (RFC 9110)", (int)(nlen > 64 ? 64 : nlen), name);
    return -1;
  }
  if (has_control(value, vlen, true)) {
    snprintf(err, errlen, "header %.*s: control characters (CR, LF, NUL...) in the value", (int)nlen, name);
    return -1;
  }
  if ((nlen == 14 && strncasecmp(name, "content-length", nlen) == 0) ||
      (nlen == 17 && strncasecmp(name, "transfer-encoding", nlen) == 0)) {
    snprintf(err, errlen, "header %.*s: the host sets it from the body", (int)nlen, name);
    return -1;
  }
  if (nlen == 4 && strncasecmp(name, "host", nlen) == 0) r->has |= HAS_HOST;
  if (nlen == 10 && strncasecmp(name, "user-agent", nlen) == 0) r->has |= HAS_USER_AGENT;
  if (nlen == 10 && strncasecmp(name, "connection", nlen) == 0 && mentions_close(value, vlen)) r->close = true;
  int ok = buf_put(&r->out, name, nlen) == 0 && buf_str(&r->out, ": ") == 0 &&
           buf_put(&r->out, value, vlen) == 0 && buf_str(&r->out, "\r\n") == 0;
  if (!ok) snprintf(err, errlen, "out of memory");
  return ok ? 0 : -1;
}

int http_request_end(http_request *r, const char *body, size_t len) {
  char line[512];
  int ok = 1;
  if (!(r->has & HAS_HOST)) {
    bool v6 = strchr(r->host, ':') != NULL, default_port = r->port == (r->tls ? 443 : 80);
    char port[8] = "";
    if (!default_port) snprintf(port, sizeof port, ":%d", r->port);
    ok = buf_str(&r->out, "Host: ") == 0 && buf_str(&r->out, v6 ? "[" : "") == 0 &&
         buf_str(&r->out, r->host) == 0 && buf_str(&r->out, v6 ? "]" : "") == 0 &&
         buf_str(&r->out, port) == 0 && buf_str(&r->out, "\r\n") == 0;
  }
  if (ok && !(r->has & HAS_USER_AGENT)) ok = buf_str(&r->out, "User-Agent: " USER_AGENT "\r\n") == 0;
  if (ok && (len > 0 || (r->has & WANTS_LENGTH))) {
    snprintf(line, sizeof line, "Content-Length: %zu\r\n", len);
    ok = buf_str(&r->out, line) == 0;
  }
  ok = ok && buf_str(&r->out, "\r\n") == 0 && buf_put(&r->out, body, len) == 0;
  return ok ? 0 : -1;
}

int http_request_set_ca(http_request *r, const char *path) {
  free(r->ca);
  r->ca = strdup(path);
  return r->ca ? 0 : -1;
}

void http_request_free(http_request *r) {
  free(r->ca);
  free(r->headers.data);
  free(r->body.data);
  free(r->shown);
  free(r->host);
  free(r->out.data);
  r->ca = r->shown = r->host = NULL;
  r->headers = r->body = r->out = (buf){0};
}

bool http_response_header(const http_request *r, size_t *pos, const char **name, const char **value) {
  if (*pos >= r->headers.len) return false;
  *name = r->headers.data + *pos;
  *value = *name + strlen(*name) + 1;
  *pos = (size_t)(*value - r->headers.data) + strlen(*value) + 1;
  return true;
}
