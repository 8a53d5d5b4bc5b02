/*
** http.c
** The engine: its thread and loop, the hand-over of requests from other
** threads, a pool of connections per origin, and each request's life from
** submission to done (deadline, connect timeout, one retry on a connection the
** server had closed, cancellation).
**
** Every request the loop runs holds a connection: an idle one of its pool, or
** a new one (waiting for the pool's addresses, connecting, shaking hands).
** Connections and pools are freed after the loop's turn, never while a
** callback of the turn may still hold them.
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "httpconn.h"
#include "httptls.h"
#include "resolve.h"
#include "tag.h"

#define NS_PER_S 1000000000.0

/* Idle connections kept per origin, and for how long. */
#define MAX_IDLE_PER_ORIGIN 64
#define IDLE_NS (60 * (int64_t)NS_PER_S)

enum { PHASE_QUEUED = 1, PHASE_RUNNING, PHASE_DONE };

/* The connections of one origin: scheme, host, port and how its certificate is checked. */
typedef struct http_pool {
  struct http_engine *engine;
  bool tls;
  char *host;
  int port;
  char *ca;
  bool insecure;
  size_t n_conns;                   /* open or opening */
  http_conn *idle;                  /* most recently used first */
  size_t n_idle;
  http_conn *waiting;               /* for addresses */
  bool resolving;
  resolve_result addrs;
  int64_t addrs_expire;             /* 0: none */
  struct http_pool *next;
} http_pool;

struct http_engine {
  ioloop loop;
  resolver *resolver;
  tls_contexts *tls;
  http_pool *pools;
  http_conn *closed;                /* freed after the loop's turn */
  bool sweep;                       /* a pool may have no connection left */
  http_request *running;            /* linked through run_next, for the stop */
  pthread_t thread;
  bool started;

  pthread_mutex_t lock;             /* for what follows */
  http_request *queue, *queue_tail;
  http_request *cancels;
  bool stopping;

  char scratch[CONN_READ_MAX];
};

static void dispatch(http_request *r, bool fresh);

/* {====== a request's end */

static void unlink_running(http_request *r) {
  http_engine *e = r->engine;
  if (r->run_prev) r->run_prev->run_next = r->run_next;
  else if (e->running == r) e->running = r->run_next;
  if (r->run_next) r->run_next->run_prev = r->run_prev;
  r->run_prev = r->run_next = NULL;
}

static void remove_cancel(http_engine *e, http_request *r) {
  for (http_request **p = &e->cancels; *p != NULL; p = &(*p)->next)
    if (*p == r) {
      *p = r->next;
      break;
    }
  r->on_cancel_list = false;
}

/* Hands r back to its owner: the engine's last touch. */
static void complete(http_request *r) {
  http_engine *e = r->engine;
  ioloop_disarm(&e->loop, &r->timer);
  unlink_running(r);
  pthread_mutex_lock(&e->lock);
  r->phase = PHASE_DONE;
  if (r->on_cancel_list) remove_cancel(e, r);
  pthread_mutex_unlock(&e->lock);
  r->done(r);
}

static void fail_request(http_request *r, http_failure failure, const char *err) {
  r->status = 0;
  r->failure = failure;
  snprintf(r->error, sizeof r->error, "%s", err);
  complete(r);
}

/* Fails r after it ran out of time: seconds, its timeout or its connect timeout. */
static void time_out(http_request *r, const char *what, double seconds) {
  char err[HTTP_ERROR_MAX];
  snprintf(err, sizeof err, "%s after %g s", what, seconds);
  fail_request(r, HTTP_FAILED_TIMEOUT, err);
}

/* }====== */

/* {====== pools and their connections */

static void remove_from(http_conn **list, http_conn *c) {
  if (c->prev) c->prev->next = c->next;
  else if (*list == c) *list = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

static void push(http_conn **list, http_conn *c) {
  c->prev = NULL;
  c->next = *list;
  if (*list) (*list)->prev = c;
  *list = c;
}

/* c is done: closed now, freed after the loop's turn. */
static void discard(http_conn *c) {
  http_pool *p = c->pool;
  http_engine *e = p->engine;
  ioloop_disarm(&e->loop, &c->timer);
  conn_close(c);
  p->n_conns--;
  e->sweep = true;
  c->prev = NULL;
  c->next = e->closed;
  e->closed = c;
}

static void on_conn_timer(timer *t);
static void on_conn_ended(http_conn *c, const char *err);

static http_conn *new_conn(http_pool *p) {
  http_conn *c = malloc(sizeof *c);
  if (c == NULL) return NULL;
  conn_init(c, &p->engine->loop, p->engine->scratch, on_conn_ended);
  timer_init(&c->timer, on_conn_timer);
  c->pool = p;
  p->n_conns++;
  return c;
}

static void keep_idle(http_conn *c) {
  http_pool *p = c->pool;
  if (p->n_idle == MAX_IDLE_PER_ORIGIN || ioloop_arm(&p->engine->loop, &c->timer, timer_now() + IDLE_NS) != 0)
    return discard(c);
  push(&p->idle, c);
  p->n_idle++;
}

static http_conn *take_idle(http_pool *p) {
  http_conn *c = p->idle;
  if (c == NULL) return NULL;
  remove_from(&p->idle, c);
  p->n_idle--;
  ioloop_disarm(&p->engine->loop, &c->timer);
  return c;
}

/* Takes r's connection from it: closed, out of whatever list it waited in. */
static void drop_conn(http_request *r) {
  http_conn *c = r->conn;
  if (c == NULL) return;
  if (c->state == CONN_NEW) remove_from(&c->pool->waiting, c);
  c->req = NULL;
  r->conn = NULL;
  discard(c);
}

static bool same_origin(const http_pool *p, const http_request *r) {
  const char *ca = r->insecure ? NULL : r->ca;
  return p->port == r->port && p->tls == r->tls && strcmp(p->host, r->host) == 0 &&
         (!r->tls || (p->insecure == r->insecure && (p->ca == ca || (p->ca && ca && strcmp(p->ca, ca) == 0))));
}

static http_pool *find_pool(http_engine *e, const http_request *r) {
  for (http_pool *p = e->pools; p != NULL; p = p->next)
    if (same_origin(p, r)) return p;
  http_pool *p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  p->engine = e;
  p->tls = r->tls;
  p->port = r->port;
  p->insecure = r->tls && r->insecure;
  p->host = strdup(r->host);
  if (r->tls && !r->insecure && r->ca != NULL) p->ca = strdup(r->ca);
  if (p->host == NULL || (r->tls && !r->insecure && r->ca != NULL && p->ca == NULL)) {
    free(p->host);
    free(p);
    return NULL;
  }
  p->next = e->pools;
  e->pools = p;
  return p;
}

static void free_pool(http_pool *p) {
  free(p->host);
  free(p->ca);
  free(p);
}

/* After the loop's turn: closed connections, and pools that have none left. */
static void sweep(http_engine *e) {
  for (http_conn *c = e->closed, *next; c != NULL; c = next) {
    next = c->next;
    free(c);
  }
  e->closed = NULL;
  if (!e->sweep) return;
  e->sweep = false;
  for (http_pool **pp = &e->pools; *pp != NULL;) {
    http_pool *p = *pp;
    if (p->n_conns > 0 || p->resolving) {
      pp = &p->next;
      continue;
    }
    *pp = p->next;
    free_pool(p);
  }
}

/* }====== */

/* {====== connecting */

static void connect_now(http_conn *c) {
  http_request *r = c->req;
  http_pool *p = c->pool;
  SSL_CTX *ctx = NULL;
  char err[HTTP_ERROR_MAX];
  if (p->tls && (ctx = tls_context(p->engine->tls, p->ca, p->insecure, err, sizeof err)) == NULL) {
    drop_conn(r);
    return fail_request(r, HTTP_FAILED_NETWORK, err);
  }
  conn_connect(c, &p->addrs, ctx, r);
}

static void on_resolved(void *arg, const resolve_result *res, const char *err) {
  http_pool *p = arg;
  p->resolving = false;
  p->engine->sweep = true;
  char msg[HTTP_ERROR_MAX];
  if (res != NULL) {
    p->addrs = *res;
    p->addrs_expire = timer_now() + (int64_t)res->ttl * (int64_t)NS_PER_S;
  } else {
    snprintf(msg, sizeof msg, "DNS: %s", err);
  }
  http_conn *c;
  while ((c = p->waiting) != NULL) {
    remove_from(&p->waiting, c);
    if (res != NULL) {
      connect_now(c);
      continue;
    }
    http_request *r = c->req;
    drop_conn(r);
    fail_request(r, HTTP_FAILED_NETWORK, msg);
  }
}

/* c connects at once when its pool knows the addresses, else once the lookup answers. */
static void need_addresses(http_conn *c) {
  http_pool *p = c->pool;
  if (p->addrs_expire > timer_now()) return connect_now(c);
  push(&p->waiting, c);
  if (p->resolving) return;
  p->resolving = true;
  resolver_lookup(p->engine->resolver, p->host, p->port, on_resolved, p);
}

/* }====== */

/* {====== a request's life */

/* r on an idle connection of its pool, else on a new one (always, when fresh). */
static void dispatch(http_request *r, bool fresh) {
  http_pool *p = r->pool;
  http_conn *c = fresh ? NULL : take_idle(p);
  if (c != NULL) {
    r->conn = c;
    return conn_send(c, r);
  }
  if ((c = new_conn(p)) == NULL) return fail_request(r, HTTP_FAILED_NETWORK, "out of memory");
  r->conn = c;
  c->req = r;
  int64_t limit = (int64_t)(r->connect_timeout * NS_PER_S);
  if (limit > 0 && ioloop_arm(&p->engine->loop, &c->timer, timer_now() + limit) != 0) {
    drop_conn(r);
    return fail_request(r, HTTP_FAILED_NETWORK, "out of memory");
  }
  need_addresses(c);
}

static void on_conn_ended(http_conn *c, const char *err) {
  http_request *r = c->req;
  http_pool *p = c->pool;
  if (r == NULL) {                  /* an idle connection the server closed */
    remove_from(&p->idle, c);
    p->n_idle--;
    return discard(c);
  }
  c->req = NULL;
  r->conn = NULL;
  if (err != NULL && c->served == 0) p->addrs_expire = 0;   /* the next connection looks up anew */
  bool retry = err != NULL && conn_stale(c) && r->idempotent && !r->retried;
  if (c->state == CONN_IDLE) keep_idle(c);
  else discard(c);
  if (!retry) return complete(r);
  r->retried = true;
  r->failure = HTTP_FAILED_NOT;
  r->headers.len = r->body.len = r->n_headers = 0;
  dispatch(r, true);
}

/* The connect timeout of a new connection, or the idle expiry of a pooled one. */
static void on_conn_timer(timer *t) {
  http_conn *c = CONTAINER_OF(t, http_conn, timer);
  switch (c->state) {
  case CONN_IDLE:
    remove_from(&c->pool->idle, c);
    c->pool->n_idle--;
    return discard(c);
  case CONN_NEW: case CONN_CONNECTING: case CONN_HANDSHAKE: {
    http_request *r = c->req;
    const char *what = c->state == CONN_HANDSHAKE ? "TLS handshake timed out" : "connect timed out";
    drop_conn(r);
    return time_out(r, what, r->connect_timeout);
  }
  default: return;                  /* connected in time */
  }
}

static void on_request_timer(timer *t) {
  http_request *r = CONTAINER_OF(t, http_request, timer);
  drop_conn(r);
  time_out(r, "timed out", r->timeout);
}

static void link_running(http_engine *e, http_request *r) {
  r->run_next = e->running;
  if (e->running) e->running->run_prev = r;
  e->running = r;
}

static void start(http_engine *e, http_request *r) {
  link_running(e, r);
  if (r->cancel) return fail_request(r, HTTP_FAILED_CANCELLED, "cancelled");
  if (r->deadline <= timer_now()) return time_out(r, "timed out", r->timeout);
  if (ioloop_arm(&e->loop, &r->timer, r->deadline) != 0 || (r->pool = find_pool(e, r)) == NULL)
    return fail_request(r, HTTP_FAILED_NETWORK, "out of memory");
  dispatch(r, false);
}

/* }====== */

/* {====== the thread, and the hand-over from others */

/* What other threads submitted: started in the order it came. */
static void take_submitted(http_engine *e) {
  pthread_mutex_lock(&e->lock);
  http_request *list = e->queue;
  e->queue = e->queue_tail = NULL;
  for (http_request *r = list; r != NULL; r = r->next) r->phase = PHASE_RUNNING;
  pthread_mutex_unlock(&e->lock);
  /* r->cancel is final: http_cancel of a running request uses the cancel list. */
  for (http_request *r = list, *next; r != NULL; r = next) {
    next = r->next;                 /* r may be freed once done */
    start(e, r);
  }
}

static void take_cancels(http_engine *e) {
  pthread_mutex_lock(&e->lock);
  http_request *list = e->cancels;
  e->cancels = NULL;
  for (http_request *r = list; r != NULL; r = r->next) r->on_cancel_list = false;
  pthread_mutex_unlock(&e->lock);
  for (http_request *r = list, *next; r != NULL; r = next) {
    next = r->next;
    drop_conn(r);
    fail_request(r, HTTP_FAILED_CANCELLED, "cancelled");
  }
}

static bool stopping(http_engine *e) {
  pthread_mutex_lock(&e->lock);
  bool stop = e->stopping;
  pthread_mutex_unlock(&e->lock);
  return stop;
}

/* Fails what is queued or running, closes every connection. */
static void stop_all(http_engine *e) {
  pthread_mutex_lock(&e->lock);
  http_request *list = e->queue;
  e->queue = e->queue_tail = NULL;
  pthread_mutex_unlock(&e->lock);
  for (http_request *r = list; r != NULL; r = r->next) link_running(e, r);
  while (e->running != NULL) {
    http_request *r = e->running;
    drop_conn(r);
    fail_request(r, HTTP_FAILED_CANCELLED, "the host is stopping");
  }
  for (http_pool *p = e->pools; p != NULL; p = p->next) {
    http_conn *c;
    while ((c = take_idle(p)) != NULL) discard(c);
  }
}

static void *run(void *arg) {
  http_engine *e = arg;
  for (;;) {
    if (ioloop_run(&e->loop)) {
      if (stopping(e)) break;
      take_submitted(e);
      take_cancels(e);
    }
    sweep(e);
  }
  stop_all(e);
  resolver_free(e->resolver);       /* fails the pools' lookups still pending */
  e->resolver = NULL;
  e->sweep = true;
  sweep(e);
  return NULL;
}

http_engine *http_engine_new(char *err, size_t errlen) {
  http_engine *e = calloc(1, sizeof *e);
  if (e == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&e->lock, NULL);
  if (ioloop_init(&e->loop, err, errlen) != 0) {
    pthread_mutex_destroy(&e->lock);
    free(e);
    return NULL;
  }
  e->resolver = resolver_new(&e->loop, err, errlen);
  e->tls = e->resolver ? tls_contexts_new() : NULL;
  if (e->tls != NULL && pthread_create(&e->thread, NULL, run, e) == 0) {
    e->started = true;
    return e;
  }
  if (e->resolver != NULL) snprintf(err, errlen, "cannot start the HTTP client's thread");
  http_engine_free(e);
  return NULL;
}

void http_engine_free(http_engine *e) {
  if (e == NULL) return;
  pthread_mutex_lock(&e->lock);
  e->stopping = true;
  pthread_mutex_unlock(&e->lock);
  if (e->started) {
    ioloop_wake(&e->loop);
    pthread_join(e->thread, NULL);
  }
  resolver_free(e->resolver);
  tls_contexts_free(e->tls);
  ioloop_close(&e->loop);
  pthread_mutex_destroy(&e->lock);
  free(e);
}

void http_submit(http_engine *e, http_request *r) {
  double timeout = r->timeout < 0 ? 0 : r->timeout > 1e9 ? 1e9 : r->timeout;
  r->engine = e;
  r->deadline = timer_now() + (int64_t)(timeout * NS_PER_S);
  timer_init(&r->timer, on_request_timer);
  r->next = NULL;
  pthread_mutex_lock(&e->lock);
  r->phase = PHASE_QUEUED;
  bool was_empty = e->queue == NULL;
  if (was_empty) e->queue = r;
  else e->queue_tail->next = r;
  e->queue_tail = r;
  pthread_mutex_unlock(&e->lock);
  if (was_empty) ioloop_wake(&e->loop);
}

void http_cancel(http_request *r) {
  http_engine *e = r->engine;
  bool wake = false;
  pthread_mutex_lock(&e->lock);
  if (r->phase == PHASE_QUEUED) {
    r->cancel = true;
  } else if (r->phase == PHASE_RUNNING && !r->on_cancel_list) {
    wake = e->cancels == NULL;
    r->next = e->cancels;
    e->cancels = r;
    r->on_cancel_list = true;
  }
  pthread_mutex_unlock(&e->lock);
  if (wake) ioloop_wake(&e->loop);
}

/* }====== */
