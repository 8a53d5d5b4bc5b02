/*
** door.c
** The door's thread: an epoll loop over its HTTP/1.1 connections, requests
** parsed by http-parser, handed to webcall.c, replies written back. A second
** thread waits on the door's completion queue and queues each finished batch
** for the loop, which it wakes; so every webcall lives on the loop's thread.
**
** That queue does not poll. gRPC 1.51 (epoll1) polls every connection from
** one set, so a thread waiting on a polling queue reads all of them, the
** clients' too: every call's events would cross from it to a worker (up to a
** third of h2c's unary throughput, measured). The loopback connections are
** direct channels, which need no pollset of their own: the threads that poll
** for gRPC (the workers, or --io-threads) read them with the rest.
**
** A connection reads one request at a time. Once it is whole the connection
** stops reading (watching only for the client's hang-up) until the reply is
** written: bytes that come meanwhile are a pipelined request, refused by
** closing after the reply. Connections are freed after the loop's turn.
*/
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpc/support/time.h>
#include <http_parser.h>

#include "door.h"
#include "ioloop.h"
#include "log.h"
#include "loopback.h"
#include "pollers.h"
#include "webcall.h"

#define HEAD_MAX (16 << 10)         /* request line and headers */
#define HEADERS_MAX 100
#define READ_CHUNK (16 << 10)
#define NS 1000000000LL
#define HEAD_NS (10 * NS)           /* from a request's first byte to its last header */
#define BODY_IDLE_NS (10 * NS)      /* between two reads of a body */
#define KEEPALIVE_NS (60 * NS)      /* between requests */
#define WRITE_STALL_NS (30 * NS)    /* a client that takes no byte of its reply */
#define LINGER_NS (2 * NS)          /* reading what a client still sends after the last reply */
#define BACKLOG_LOW (64 << 10)      /* a reply stream reads on once the client took this much of it */

typedef enum conn_state {
  READING,                          /* a request, or waiting for one */
  CALLING,                          /* its call is in flight; the reply is being written */
  CLOSING,                          /* the last reply is out: reading until the client closes */
  DEAD                              /* closed, freed after the loop's turn */
} conn_state;

typedef struct hconn {
  door *door;
  io_watch io;
  timer timer;
  conn_state state;
  char peer[64];
  http_parser parser;
  bool started;                     /* a byte of the current request came */
  bool in_value;                    /* the last header callback was a value */
  bool in_body;
  int reject;                       /* an HTTP status to answer at the request's end instead of a call */
  const char *reject_why;
  int fail;                         /* an HTTP status to answer at once: the request cannot be read on */
  const char *fail_why;
  buf head;                         /* the URL, then names and values, each NUL-terminated */
  size_t n_headers;
  size_t name_at[HEADERS_MAX], value_at[HEADERS_MAX];
  buf body;
  web_out out;
  webcall *call;
  struct hconn *prev, *next;
} hconn;

struct door {
  const config *cfg;
  ioloop loop;
  web_env env;
  size_t body_max;
  hconn *conns;
  hconn *dead;
  bool quiet;                       /* quiescing: no new request */
  pthread_t thread, cq_thread;
  bool thread_running, cq_running;

  pthread_mutex_t mu;               /* what other threads hand over: */
  web_tag *events, *events_tail;    /* finished batches */
  struct handed *handed;            /* accepted sockets */
  bool quiescing, stopping;
};

typedef struct handed {
  struct handed *next;
  int fd;
  char peer[64];
} handed;

static void on_io(io_watch *w, uint32_t events);
static void on_timer(timer *t);
static void flush(web_out *o);
static void response_done(web_out *o);

/*
** {======================================================
** Connections
** =======================================================
*/

/*
** A shutdown before the close: the listener keeps a duplicate of every
** client's socket, which would hold the connection open past a bare close.
*/
static void close_client(int fd) {
  shutdown(fd, SHUT_RDWR);
  close(fd);
}

static void arm(hconn *c, int64_t after) {
  if (ioloop_arm(&c->door->loop, &c->timer, timer_now() + after) != 0)
    log_line(LOG_WARN, "out of memory for a timer: a connection goes untimed", "peer", c->peer, NULL);
}

/* Closes c now; it is freed after the loop's turn. A call in flight is cancelled. */
static void kill_conn(hconn *c) {
  door *d = c->door;
  if (c->state == DEAD) return;
  if (c->call != NULL) webcall_abandon(c->call);
  c->call = NULL;
  ioloop_watch(&d->loop, &c->io, 0);
  ioloop_disarm(&d->loop, &c->timer);
  close_client(c->io.fd);
  c->state = DEAD;
  if (c->prev) c->prev->next = c->next;
  else d->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->next = d->dead;
  d->dead = c;
}

static void free_dead(door *d) {
  while (d->dead != NULL) {
    hconn *c = d->dead;
    d->dead = c->next;
    buf_free(&c->head);
    buf_free(&c->body);
    buf_free(&c->out.data);
    buf_free(&c->out.exposed);
    free(c);
  }
}

/* Ready for the next request: a fresh parser, the keep-alive timer. */
static void await_request(hconn *c) {
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  c->started = c->in_value = c->in_body = false;
  c->reject = c->fail = 0;
  c->head.len = c->body.len = 0;
  c->n_headers = 0;
  c->state = READING;
  c->out.close = c->out.http10 = false;
  c->out.origin = NULL;
  buf_shrink(&c->body);
  ioloop_watch(&c->door->loop, &c->io, EPOLLIN | EPOLLRDHUP);
  arm(c, KEEPALIVE_NS);
}

static void open_conn(door *d, int fd, const char *peer) {
  hconn *c = calloc(1, sizeof *c);
  if (c == NULL) {
    close_client(fd);
    return;
  }
  c->door = d;
  snprintf(c->peer, sizeof c->peer, "%s", peer);
  io_watch_init(&c->io, fd, on_io);
  timer_init(&c->timer, on_timer);
  c->out.flush = flush;
  c->out.done = response_done;
  c->body.limit = d->body_max;
  c->head.limit = HEAD_MAX;
  c->next = d->conns;
  if (d->conns) d->conns->prev = c;
  d->conns = c;
  await_request(c);
}

/* }====================================================== */

/*
** {======================================================
** Writing
** =======================================================
*/

/* After the last reply: no more bytes go out, what the client still sends is read and dropped. */
static void linger(hconn *c) {
  c->state = CLOSING;
  shutdown(c->io.fd, SHUT_WR);
  ioloop_watch(&c->door->loop, &c->io, EPOLLIN | EPOLLRDHUP);
  arm(c, LINGER_NS);
}

/* Writes what it can; a client that takes nothing for WRITE_STALL_NS is cut off. */
static void flush(web_out *o) {
  hconn *c = CONTAINER_OF(o, hconn, out);
  bool progressed = false;
  while (web_backlog(o) > 0) {
    ssize_t n = send(c->io.fd, o->data.data + o->sent, web_backlog(o), MSG_NOSIGNAL);
    if (n > 0) {
      o->sent += (size_t)n;
      progressed = true;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      ioloop_watch(&c->door->loop, &c->io, c->io.events | EPOLLOUT);
      if (c->state == CALLING && (progressed || c->timer.slot == TIMER_IDLE)) arm(c, WRITE_STALL_NS);
      return;
    } else {
      o->broken = true;             /* the client is gone: closed on the timer, not under the caller */
      arm(c, 0);
      return;
    }
  }
  o->data.len = o->sent = 0;
  buf_shrink(&o->data);
  if (c->state == CALLING) ioloop_disarm(&c->door->loop, &c->timer);
  if (c->io.events & EPOLLOUT) ioloop_watch(&c->door->loop, &c->io, c->io.events & ~(uint32_t)EPOLLOUT);
  if (c->state == CALLING && c->call == NULL) {
    if (o->close || c->door->quiet) linger(c);
    else await_request(c);
  }
}

/* The reply is whole: its call lets go of the connection. */
static void response_done(web_out *o) {
  hconn *c = CONTAINER_OF(o, hconn, out);
  c->call = NULL;
  c->state = CALLING;               /* until the reply is written out */
  if (o->broken) arm(c, 0);
  else flush(o);
}

/* }====================================================== */

/*
** {======================================================
** Requests
** =======================================================
*/

static hconn *conn_of(http_parser *p) {
  return p->data;
}

/* A request the door answers itself, at the request's end: the status and why. */
static int reject(hconn *c, int status, const char *why) {
  if (c->reject == 0) {
    c->reject = status;
    c->reject_why = why;
  }
  return 0;
}

/* The request cannot be read on (too large): answered with status at once, and the connection closes. */
static int fail(hconn *c, int status, const char *why) {
  c->fail = status;
  c->fail_why = why;
  return -1;
}

static int on_message_begin(http_parser *p) {
  hconn *c = conn_of(p);
  c->started = true;
  arm(c, HEAD_NS);
  return 0;
}

static const char head_too_big[] = "the request's head is over 16 KiB or 100 headers";

static int put_head(hconn *c, const char *at, size_t len, bool lower) {
  size_t mark = c->head.len;
  if (buf_put(&c->head, at, len) != BUF_OK) return fail(c, 431, head_too_big);
  if (lower)
    for (size_t i = mark; i < c->head.len; i++) c->head.data[i] = (char)tolower((unsigned char)c->head.data[i]);
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
  return put_head(conn_of(p), at, len, false);
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
  hconn *c = conn_of(p);
  if (c->in_value || c->n_headers == 0) {
    if (c->n_headers == HEADERS_MAX || buf_putc(&c->head, '\0') != BUF_OK) return fail(c, 431, head_too_big);
    c->name_at[c->n_headers++] = c->head.len;
    c->in_value = false;
  }
  return put_head(c, at, len, true);
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
  hconn *c = conn_of(p);
  if (!c->in_value) {
    if (buf_putc(&c->head, '\0') != BUF_OK) return fail(c, 431, head_too_big);
    c->value_at[c->n_headers - 1] = c->head.len;
    c->in_value = true;
  }
  return put_head(c, at, len, false);
}

static const char *header(const hconn *c, const char *name) {
  for (size_t i = 0; i < c->n_headers; i++)
    if (strcmp(c->head.data + c->name_at[i], name) == 0) return c->head.data + c->value_at[i];
  return NULL;
}

/* Whether --cors-origin lets origin's pages call. */
static bool origin_allowed(const door *d, const char *origin) {
  const char *list = d->cfg->cors_origins;
  size_t len = origin ? strlen(origin) : 0;
  for (const char *p = list; origin != NULL && p != NULL && *p != '\0';) {
    size_t n = strcspn(p, ",");
    if ((n == 1 && *p == '*') || (n == len && strncasecmp(p, origin, len) == 0)) return true;
    p += n + (p[n] == ',');
  }
  return false;
}

static const char body_too_big[] = "the request's body is larger than --max-message-bytes allows";

static int on_headers_complete(http_parser *p) {
  hconn *c = conn_of(p);
  door *d = c->door;
  if (buf_putc(&c->head, '\0') != BUF_OK) return fail(c, 431, head_too_big);
  if (c->n_headers > 0 && !c->in_value) c->value_at[c->n_headers - 1] = c->head.len - 1;   /* a name with no value */
  c->in_body = true;
  arm(c, BODY_IDLE_NS);
  c->out.http10 = p->http_major == 1 && p->http_minor == 0;
  const char *origin = header(c, "origin");
  if (origin_allowed(d, origin)) c->out.origin = origin;
  if (p->method == HTTP_OPTIONS) return 0;
  if (p->method != HTTP_POST) return reject(c, 405, "only POST (and OPTIONS for a browser's preflight) is served over HTTP/1.1");
  const char *type = header(c, "content-type");
  if (type != NULL && strncasecmp(type, "application/grpc", 16) == 0 && strncasecmp(type, "application/grpc-web", 20) != 0)
    return reject(c, 415, "gRPC needs HTTP/2: connect with HTTP/2 (prior knowledge), or use gRPC-Web or Connect over HTTP/1.1");
  if (!webcall_serves(type))
    return reject(c, 415, "content-type must be application/json or application/proto (Connect unary), "
                          "application/connect+json or +proto (Connect streaming), "
                          "application/grpc-web[-text][+proto|+json] (gRPC-Web)");
  if (p->content_length != ULLONG_MAX && p->content_length > d->body_max) return fail(c, 413, body_too_big);
  const char *expect = header(c, "expect");
  if (expect != NULL && strcasecmp(expect, "100-continue") == 0 && c->reject == 0) {
    static const char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";
    buf_put(&c->out.data, go_on, sizeof go_on - 1);
    flush(&c->out);
  }
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
  hconn *c = conn_of(p);
  arm(c, BODY_IDLE_NS);
  return buf_put(&c->body, at, len) == BUF_OK ? 0 : fail(c, 413, body_too_big);
}

static int on_message_complete(http_parser *p) {
  http_parser_pause(p, 1);
  return 0;
}

static const http_parser_settings settings = {
  .on_message_begin = on_message_begin,
  .on_url = on_url,
  .on_header_field = on_header_field,
  .on_header_value = on_header_value,
  .on_headers_complete = on_headers_complete,
  .on_body = on_body,
  .on_message_complete = on_message_complete,
};

/* A browser's preflight: which methods and headers its page may send, for how long it may remember. */
static void answer_preflight(hconn *c) {
  web_out *o = &c->out;
  const char *asked = header(c, "access-control-request-headers");
  web_status(o, 204);
  if (o->origin != NULL) {
    web_header(o, "access-control-allow-methods", "POST", 4);
    if (asked != NULL) web_header(o, "access-control-allow-headers", asked, strlen(asked));
    web_header(o, "access-control-max-age", "7200", 4);
  }
  web_header(o, "allow", "POST, OPTIONS", 13);
  web_begin_body(o, WEB_NO_BODY);
  web_end(o);
}

/* The path of a call, "/pkg.Service/Method", from the request's target; NULL when it is not one. */
static const char *call_path(hconn *c) {
  char *url = c->head.data;
  url[strcspn(url, "?#")] = '\0';
  const char *slash = url[0] == '/' ? strchr(url + 1, '/') : NULL;
  if (slash == NULL || slash == url + 1 || slash[1] == '\0' || strchr(slash + 1, '/') != NULL) return NULL;
  return url;
}

static void dispatch(hconn *c) {
  door *d = c->door;
  c->state = CALLING;
  ioloop_disarm(&d->loop, &c->timer);
  ioloop_watch(&d->loop, &c->io, EPOLLRDHUP);   /* a pipelined request is not read: only the hang-up */
  const char *path = call_path(c);
  if (c->parser.method == HTTP_OPTIONS) {
    answer_preflight(c);
    return;
  }
  if (c->reject == 0 && path == NULL) reject(c, 404, "the path must be /package.Service/Method");
  if (c->reject != 0) {
    log_line(LOG_WARN, "http request refused", "peer", c->peer, "path", c->head.data, "error", c->reject_why, NULL);
    web_text(&c->out, c->reject, c->reject_why);
    return;
  }
  const char *names[HEADERS_MAX], *values[HEADERS_MAX];
  for (size_t i = 0; i < c->n_headers; i++) {
    names[i] = c->head.data + c->name_at[i];
    values[i] = c->head.data + c->value_at[i];
  }
  web_request r = {path, c->n_headers, names, values, c->body.data ? c->body.data : "", c->body.len, c->peer};
  c->call = webcall_start(&d->env, &r, &c->out);
}

/* The request cannot be read on: a status and why for the client, who is not heard further. */
static void bad_request(hconn *c) {
  int status = c->fail ? c->fail : 400;
  char why[128], code[8];
  if (c->fail) snprintf(why, sizeof why, "%s", c->fail_why);
  else snprintf(why, sizeof why, "malformed HTTP/1.1: %s", http_errno_description(HTTP_PARSER_ERRNO(&c->parser)));
  snprintf(code, sizeof code, "%d", status);
  log_line(LOG_WARN, "http request refused", "peer", c->peer, "status", code, "error", why, NULL);
  c->state = CALLING;
  c->out.close = true;
  ioloop_watch(&c->door->loop, &c->io, EPOLLRDHUP);
  web_text(&c->out, status, why);
}

static void on_bytes(hconn *c, const char *data, size_t n) {
  size_t used = http_parser_execute(&c->parser, &settings, data, n);
  enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
  if (e == HPE_PAUSED) {
    if (used < n || !http_should_keep_alive(&c->parser) || c->door->quiet) c->out.close = true;   /* pipelined */
    dispatch(c);
  } else if (e != HPE_OK) {
    bad_request(c);
  }
}

static void read_conn(hconn *c) {
  char data[READ_CHUNK];
  ssize_t n = recv(c->io.fd, data, sizeof data, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    kill_conn(c);                   /* the client closed, or reset */
  } else if (c->state == CLOSING) {
    return;                         /* dropped */
  } else if (c->state == CALLING) {
    c->out.close = true;            /* a pipelined request: refused once the reply is out */
    ioloop_watch(&c->door->loop, &c->io, c->io.events & ~(uint32_t)EPOLLIN);
  } else {
    on_bytes(c, data, (size_t)n);
  }
}

static void on_io(io_watch *w, uint32_t events) {
  hconn *c = CONTAINER_OF(w, hconn, io);
  if (events & EPOLLOUT) {
    flush(&c->out);
    if (c->call != NULL && web_backlog(&c->out) < BACKLOG_LOW) webcall_drained(c->call);
  }
  if (c->state == DEAD) return;
  if (events & (EPOLLIN | EPOLLERR)) read_conn(c);
  else if (events & (EPOLLRDHUP | EPOLLHUP)) kill_conn(c);
}

static void on_timer(timer *t) {
  hconn *c = CONTAINER_OF(t, hconn, timer);
  if (c->out.broken || c->state != READING || !c->started) {
    kill_conn(c);                   /* idle, stalled, lingered, or gone */
    return;
  }
  static const char slow[] = "the request did not arrive in time";
  log_line(LOG_WARN, "http request refused", "peer", c->peer, "status", "408", "error", slow, NULL);
  c->state = CALLING;
  c->out.close = true;
  ioloop_watch(&c->door->loop, &c->io, EPOLLRDHUP);
  web_text(&c->out, 408, slow);
}

/* }====================================================== */

/*
** {======================================================
** What other threads hand over
** =======================================================
*/

/* The completion thread: every finished batch of the door's calls goes to the loop's thread. */
static void *run_completions(void *arg) {
  door *d = arg;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(d->env.cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) return NULL;
    if (ev.type != GRPC_OP_COMPLETE) continue;
    web_tag *t = ev.tag;
    t->ok = ev.success != 0;
    t->next = NULL;
    pthread_mutex_lock(&d->mu);
    bool was_empty = d->events == NULL;
    if (was_empty) d->events = t;
    else d->events_tail->next = t;
    d->events_tail = t;
    pthread_mutex_unlock(&d->mu);
    if (was_empty) ioloop_wake(&d->loop);
  }
}

void door_serve(door *d, int fd, const char *peer) {
  handed *h = calloc(1, sizeof *h);
  if (h == NULL) {
    close_client(fd);
    return;
  }
  h->fd = fd;
  snprintf(h->peer, sizeof h->peer, "%s", peer);
  pthread_mutex_lock(&d->mu);
  h->next = d->handed;
  d->handed = h;
  pthread_mutex_unlock(&d->mu);
  ioloop_wake(&d->loop);
}

/* No new request: a connection waiting for one closes, the others once their reply is out. */
static void go_quiet(door *d) {
  d->quiet = true;
  for (hconn *c = d->conns, *next; c != NULL; c = next) {
    next = c->next;
    if (c->state == READING && !c->started) kill_conn(c);
    else c->out.close = true;
  }
}

/* Runs what the other threads handed over: finished batches, sockets, a stop. False once stopped. */
static bool take_handed(door *d) {
  pthread_mutex_lock(&d->mu);
  web_tag *events = d->events;
  handed *sockets = d->handed;
  bool quiescing = d->quiescing, stopping = d->stopping;
  d->events = d->events_tail = NULL;
  d->handed = NULL;
  pthread_mutex_unlock(&d->mu);
  for (web_tag *t = events, *next; t != NULL; t = next) {
    next = t->next;
    t->base.done(&t->base, t->ok);
  }
  for (handed *h = sockets, *next; h != NULL; h = next) {
    next = h->next;
    if (quiescing) close_client(h->fd);
    else open_conn(d, h->fd, h->peer);
    free(h);
  }
  if (quiescing && !d->quiet) go_quiet(d);
  if (stopping)
    while (d->conns != NULL) kill_conn(d->conns);
  return !(stopping && d->env.live == 0);
}

static void *run(void *arg) {
  door *d = arg;
  d->env.loopback = loopback_new(&d->loop, d->env.loopback_server, d->cfg->max_streams, d->cfg->max_message_bytes);
  if (d->env.loopback == NULL) log_line(LOG_ERROR, "out of memory: HTTP/1.1 requests cannot be served", NULL);
  for (bool going = true; going;) {
    ioloop_run(&d->loop);
    going = take_handed(d);
    free_dead(d);
  }
  return NULL;
}

/* }====================================================== */

/*
** {======================================================
** The door
** =======================================================
*/

door *door_new(const config *cfg, grpc_server *gs, char *err, size_t errlen) {
  door *d = calloc(1, sizeof *d);
  if (d == NULL || ioloop_init(&d->loop, err, errlen) != 0) {
    if (d == NULL) snprintf(err, errlen, "out of memory");
    free(d);
    return NULL;
  }
  d->cfg = cfg;
  d->env.cfg = cfg;
  d->env.loopback_server = gs;
  /* The largest body: a message, its 5-byte prefix, in base64 (gRPC-Web's text form). */
  d->body_max = ((size_t)cfg->max_message_bytes + 5 + 2) / 3 * 4 + 64;
  pthread_mutex_init(&d->mu, NULL);
  d->env.cq = pollers_silent_queue();
  d->cq_running = pthread_create(&d->cq_thread, NULL, run_completions, d) == 0;
  d->thread_running = d->cq_running && pthread_create(&d->thread, NULL, run, d) == 0;
  if (d->thread_running) return d;
  snprintf(err, errlen, "cannot start the HTTP/1.1 threads");
  door_free(d);
  return NULL;
}

static void tell(door *d, bool stop) {
  pthread_mutex_lock(&d->mu);
  d->quiescing = true;
  if (stop) d->stopping = true;
  pthread_mutex_unlock(&d->mu);
  ioloop_wake(&d->loop);
}

void door_quiesce(door *d) {
  tell(d, false);
}

void door_free(door *d) {
  if (d->thread_running) {
    tell(d, true);
    pthread_join(d->thread, NULL);
  }
  grpc_completion_queue_shutdown(d->env.cq);
  if (d->cq_running) pthread_join(d->cq_thread, NULL);
  grpc_completion_queue_destroy(d->env.cq);
  free_dead(d);
  if (d->env.loopback != NULL) loopback_free(d->env.loopback);
  for (handed *h = d->handed, *next; h != NULL; h = next) {
    next = h->next;
    close_client(h->fd);
    free(h);
  }
  ioloop_close(&d->loop);
  pthread_mutex_destroy(&d->mu);
  free(d);
}

/* }====================================================== */
