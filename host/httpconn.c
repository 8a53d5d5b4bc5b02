/*
** httpconn.c
** A connection's state machine: CONN_CONNECTING -> CONN_HANDSHAKE (https) ->
** CONN_WRITING -> CONN_READING -> CONN_IDLE -> CONN_WRITING ... or
** CONN_CLOSED. Responses are parsed by Node's http-parser, which handles
** content-length, chunked and read-until-close bodies.
*/
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "httpconn.h"
#include "httptls.h"
#include "tag.h"

#define ERR_MAX HTTP_ERROR_MAX

static void on_ready(io_watch *w, uint32_t events);

void conn_init(http_conn *c, ioloop *l, char *scratch, void (*ended)(http_conn *c, const char *err)) {
  memset(c, 0, sizeof *c);
  io_watch_init(&c->io, -1, on_ready);
  c->loop = l;
  c->scratch = scratch;
  c->ended = ended;
}

void conn_close(http_conn *c) {
  if (c->io.fd >= 0) {
    (void)ioloop_watch(c->loop, &c->io, 0);
    close(c->io.fd);
    c->io.fd = -1;
  }
  SSL_free(c->ssl);
  c->ssl = NULL;
  c->state = CONN_CLOSED;
}

bool conn_stale(const http_conn *c) {
  return c->served > 0 && !c->received;
}

/* Ends the exchange: closed, with err as the request's error. */
static void fail(http_conn *c, const char *err) {
  conn_close(c);
  if (err != c->req->error) snprintf(c->req->error, sizeof c->req->error, "%s", err);
  c->req->status = 0;
  if (c->req->failure == HTTP_FAILED_NOT) c->req->failure = HTTP_FAILED_NETWORK;
  c->ended(c, c->req->error);
}

static void watch(http_conn *c, uint32_t events) {
  if (ioloop_watch(c->loop, &c->io, events) != 0) fail(c, strerror(errno));
}

static const char *errno_text(int e) {
  switch (e) {
  case ECONNREFUSED: return "connection refused";
  case ECONNRESET: case EPIPE: return "connection reset";
  case ETIMEDOUT: return "connection timed out";
  case ENETUNREACH: return "network unreachable";
  case EHOSTUNREACH: return "host unreachable";
  default: return strerror(e);
  }
}

/* {====== the response, through http-parser's callbacks */

static http_conn *conn_of(http_parser *p) {
  return p->data;
}

/* Stops the parser with reason, which the exchange then fails with. */
static int stop(http_conn *c, const char *reason) {
  c->failed = reason;
  return -1;
}

static int end_value(http_conn *c) {
  c->in_value = false;
  c->req->n_headers++;
  return buf_put(&c->req->headers, "", 1) ? stop(c, "out of memory") : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
  http_conn *c = conn_of(p);
  if (c->in_value && end_value(c)) return -1;
  buf *h = &c->req->headers;
  size_t from = h->len;
  if (buf_put(h, at, len)) return stop(c, "out of memory");
  for (size_t i = from; i < h->len; i++)
    if (h->data[i] >= 'A' && h->data[i] <= 'Z') h->data[i] = (char)(h->data[i] - 'A' + 'a');
  return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
  http_conn *c = conn_of(p);
  if (!c->in_value && buf_put(&c->req->headers, "", 1)) return stop(c, "out of memory");
  c->in_value = true;
  return buf_put(&c->req->headers, at, len) ? stop(c, "out of memory") : 0;
}

static const char *too_large(http_conn *c) {
  c->req->failure = HTTP_FAILED_TOO_LARGE;
  snprintf(c->req->error, sizeof c->req->error, "response larger than --max-message-bytes (%zu)",
           c->req->max_response_bytes);
  return c->req->error;
}

/* 1: no body follows (the answer to HEAD). */
static int on_headers_complete(http_parser *p) {
  http_conn *c = conn_of(p);
  if (c->in_value && end_value(c)) return -1;
  c->req->status = p->status_code;
  bool framed = !(p->flags & F_CHUNKED) && p->content_length != ULLONG_MAX;
  if (framed && !c->req->head && p->content_length > c->req->max_response_bytes) return stop(c, too_large(c));
  return c->req->head ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
  http_conn *c = conn_of(p);
  buf *b = &c->req->body;
  if (len > c->req->max_response_bytes - b->len) return stop(c, too_large(c));
  return buf_put(b, at, len) ? stop(c, "out of memory") : 0;
}

/* An interim response (100 Continue, 103 Early Hints) is dropped; the final one pauses the parser. */
static int on_message_complete(http_parser *p) {
  http_conn *c = conn_of(p);
  if (p->status_code / 100 == 1 && p->status_code != 101) {
    c->req->status = 0;
    c->req->headers.len = 0;
    c->req->n_headers = 0;
    return 0;
  }
  c->complete = true;
  http_parser_pause(p, 1);
  return 0;
}

static const http_parser_settings settings = {
  .on_header_field = on_header_field,
  .on_header_value = on_header_value,
  .on_headers_complete = on_headers_complete,
  .on_body = on_body,
  .on_message_complete = on_message_complete,
};

/* The exchange is over with a whole response: keep the connection if both sides allow. */
static void succeed(http_conn *c, bool reusable) {
  c->served++;
  c->state = CONN_IDLE;
  if (!reusable || !http_should_keep_alive(&c->parser) || c->req->close ||
      ioloop_watch(c->loop, &c->io, EPOLLIN | EPOLLRDHUP) != 0)
    conn_close(c);
  c->ended(c, NULL);
}

/* Feeds n bytes (0: the server closed) to the parser. */
static void parse(http_conn *c, const char *data, size_t n) {
  size_t used = http_parser_execute(&c->parser, &settings, data, n);
  enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
  if (c->complete) {
    /* Bytes past the response, or a request not all sent: the connection is out of step. */
    succeed(c, used == n && n > 0 && c->state == CONN_READING);
  } else if (e != HPE_OK) {
    char err[ERR_MAX];
    snprintf(err, sizeof err, "bad response: %s", http_errno_description(e));
    fail(c, c->failed ? c->failed : err);
  } else if (c->parser.upgrade) {
    fail(c, "the server switched protocols");
  } else if (n == 0) {
    fail(c, c->received ? "connection closed before the response was complete"
                        : "connection closed by the server before any response");
  }
}

/* }====== */

/* {====== reading and writing, through TLS or not */

/* Bytes read (0: closed), or -1 with err set; *again when nothing more is there now. */
static ssize_t read_some(http_conn *c, bool *again, char *err) {
  *again = false;
  if (c->ssl == NULL) {
    ssize_t n = recv(c->io.fd, c->scratch, CONN_READ_MAX, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) *again = true;
    else if (n < 0) snprintf(err, ERR_MAX, "%s", errno_text(errno));
    return n;
  }
  ERR_clear_error();
  int n = SSL_read(c->ssl, c->scratch, CONN_READ_MAX);
  if (n > 0) return n;
  int e = SSL_get_error(c->ssl, n);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) *again = true;
  else if (e == SSL_ERROR_ZERO_RETURN) return 0;
  else tls_error(c->ssl, n, err, ERR_MAX);
  return -1;
}

static ssize_t write_some(http_conn *c, const char *p, size_t n, bool *again, char *err) {
  *again = false;
  if (c->ssl == NULL) {
    ssize_t w = send(c->io.fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) *again = true;
    else if (w < 0) snprintf(err, ERR_MAX, "%s", errno_text(errno));
    return w;
  }
  ERR_clear_error();
  int w = SSL_write(c->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
  if (w > 0) return w;
  int e = SSL_get_error(c->ssl, w);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) *again = true;
  else tls_error(c->ssl, w, err, ERR_MAX);
  return -1;
}

static void read_response(http_conn *c) {
  char err[ERR_MAX];
  for (;;) {
    bool again;
    ssize_t n = read_some(c, &again, err);
    if (again) return;
    if (n < 0) return fail(c, err);
    if (n > 0) c->received = true;
    parse(c, c->scratch, (size_t)n);
    if (n == 0 || (c->state != CONN_WRITING && c->state != CONN_READING)) return;
  }
}

static void write_request(http_conn *c) {
  const buf *out = &c->req->out;
  char err[ERR_MAX];
  while (c->written < out->len) {
    bool again;
    ssize_t n = write_some(c, out->data + c->written, out->len - c->written, &again, err);
    if (again) return watch(c, EPOLLIN | EPOLLOUT);
    if (n < 0) {
      /* The server may have answered and closed: its response says more than the reset. */
      c->state = CONN_READING;
      read_response(c);
      if (c->state == CONN_READING) fail(c, err);
      return;
    }
    c->written += (size_t)n;
  }
  c->state = CONN_READING;
  watch(c, EPOLLIN);
}

/* Starts the exchange of c->req on a connected (and, for https, shaken) connection. */
static void start_exchange(http_conn *c) {
  c->state = CONN_WRITING;
  c->written = 0;
  c->received = c->complete = c->in_value = false;
  c->failed = NULL;
  http_parser_init(&c->parser, HTTP_RESPONSE);
  c->parser.data = c;
  write_request(c);
}

void conn_send(http_conn *c, http_request *req) {
  c->req = req;
  start_exchange(c);
}

/* }====== */

/* {====== connecting */

static void handshake(http_conn *c) {
  ERR_clear_error();
  int r = SSL_connect(c->ssl);
  if (r == 1) return start_exchange(c);
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_READ) return watch(c, EPOLLIN);
  if (e == SSL_ERROR_WANT_WRITE) return watch(c, EPOLLOUT);
  char err[ERR_MAX];
  tls_error(c->ssl, r, err, sizeof err);
  fail(c, err);
}

static void connected(http_conn *c) {
  int one = 1;
  (void)setsockopt(c->io.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->addrs = NULL;
  if (c->ctx == NULL) return start_exchange(c);
  char err[ERR_MAX];
  c->ssl = tls_session(c->ctx, c->io.fd, c->req->host, !c->req->insecure, err, sizeof err);
  c->ctx = NULL;
  if (c->ssl == NULL) return fail(c, err);
  c->state = CONN_HANDSHAKE;
  handshake(c);
}

/* Starts connecting to the next address; when none is left, fails with the last one's error. */
static void try_next_address(http_conn *c) {
  while (c->next_addr < c->addrs->n) {
    size_t i = c->next_addr++;
    const struct sockaddr *sa = (const struct sockaddr *)&c->addrs->addrs[i];
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      c->connect_errno = errno;
      continue;
    }
    io_watch_init(&c->io, fd, on_ready);
    c->state = CONN_CONNECTING;
    if (connect(fd, sa, c->addrs->lens[i]) == 0) return connected(c);
    if (errno == EINPROGRESS) return watch(c, EPOLLOUT);
    c->connect_errno = errno;
    close(fd);
    c->io.fd = -1;
  }
  fail(c, errno_text(c->connect_errno ? c->connect_errno : ECONNREFUSED));
}

/* The socket's connect finished, or the event is stale (a previous address's): look which. */
static void on_connect_event(http_conn *c) {
  int e = 0;
  socklen_t len = sizeof e;
  if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0) e = errno;
  if (e == 0) {
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    if (getpeername(c->io.fd, (struct sockaddr *)&peer, &plen) == 0) return connected(c);
    if (errno == ENOTCONN) return;  /* still in progress */
    e = errno;
  }
  c->connect_errno = e;
  close(c->io.fd);                  /* which takes it out of epoll */
  c->io.fd = -1;
  c->io.events = 0;
  try_next_address(c);
}

void conn_connect(http_conn *c, const resolve_result *addrs, SSL_CTX *ctx, http_request *req) {
  c->req = req;
  c->addrs = addrs;
  c->ctx = ctx;
  c->next_addr = 0;
  try_next_address(c);
}

/* }====== */

/*
** Readable while idle: a TLS 1.3 session ticket (read and kept), or the server
** closing the connection or sending what nobody asked for: then it is done.
*/
static void on_idle_event(http_conn *c) {
  if (c->ssl != NULL) {
    ERR_clear_error();
    int n = SSL_read(c->ssl, c->scratch, CONN_READ_MAX);
    if (n <= 0 && SSL_get_error(c->ssl, n) == SSL_ERROR_WANT_READ) return;
  }
  conn_close(c);
  c->ended(c, "closed while idle");
}

static void on_ready(io_watch *w, uint32_t events) {
  http_conn *c = CONTAINER_OF(w, http_conn, io);
  switch (c->state) {
  case CONN_CONNECTING: return on_connect_event(c);
  case CONN_HANDSHAKE: return handshake(c);
  case CONN_IDLE: return on_idle_event(c);
  case CONN_WRITING:
    if (events & EPOLLOUT) write_request(c);
    if (c->state == CONN_WRITING && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) read_response(c);
    return;
  case CONN_READING: return read_response(c);
  default: return;
  }
}
