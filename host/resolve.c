/*
** resolve.c
** A c-ares channel driven by an ioloop: ARES_OPT_SOCK_STATE_CB tells which of
** its sockets to watch, ares_timeout when to call it back without I/O.
*/
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <ares.h>

#include "resolve.h"
#include "tag.h"

/* Seconds an answer is kept at most, and at least (a hosts-file answer has no TTL). */
#define TTL_MAX 300
#define TTL_MIN 1

typedef struct dns_socket {
  io_watch io;                      /* fd -1: a free slot */
  struct resolver *r;
} dns_socket;

struct resolver {
  ioloop *loop;
  ares_channel channel;
  timer timer;
  dns_socket socks[ARES_GETSOCK_MAXNUM];
};

typedef struct lookup {
  resolve_cb cb;
  void *arg;
  int port;
} lookup;

/* c-ares's next timeout as the loop's timer, after anything that may have changed it. */
static void rearm(resolver *r) {
  struct timeval tv;
  if (ares_timeout(r->channel, NULL, &tv) == NULL) {
    ioloop_disarm(r->loop, &r->timer);
    return;
  }
  int64_t when = timer_now() + (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
  /* Without memory for the timer, the next lookup or socket event drives c-ares again. */
  (void)ioloop_arm(r->loop, &r->timer, when);
}

static void on_timer(timer *t) {
  resolver *r = CONTAINER_OF(t, resolver, timer);
  ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  rearm(r);
}

static void on_socket(io_watch *w, uint32_t events) {
  resolver *r = CONTAINER_OF(w, dns_socket, io)->r;
  ares_socket_t rd = events & (EPOLLIN | EPOLLERR | EPOLLHUP) ? w->fd : ARES_SOCKET_BAD;
  ares_socket_t wr = events & (EPOLLOUT | EPOLLERR | EPOLLHUP) ? w->fd : ARES_SOCKET_BAD;
  ares_process_fd(r->channel, rd, wr);
  rearm(r);
}

static dns_socket *find_socket(resolver *r, int fd) {
  for (size_t i = 0; i < ARES_GETSOCK_MAXNUM; i++)
    if (r->socks[i].io.fd == fd) return &r->socks[i];
  return NULL;
}

/* ARES_OPT_SOCK_STATE_CB: watch fd for what c-ares waits on, or forget it (both 0: closed). */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable) {
  resolver *r = data;
  dns_socket *s = find_socket(r, fd);
  if (s == NULL && (readable || writable)) {
    s = find_socket(r, -1);
    /* More sockets than c-ares ever opens at once: the lookup times out instead. */
    if (s == NULL) return;
    io_watch_init(&s->io, fd, on_socket);
  }
  if (s == NULL) return;
  uint32_t events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
  if (ioloop_watch(r->loop, &s->io, events) != 0 || events == 0) {
    (void)ioloop_watch(r->loop, &s->io, 0);
    s->io.fd = -1;
  }
}

resolver *resolver_new(ioloop *l, char *err, size_t errlen) {
  int rc = ares_library_init(ARES_LIB_INIT_ALL);
  resolver *r = rc == ARES_SUCCESS ? calloc(1, sizeof *r) : NULL;
  if (r == NULL) {
    snprintf(err, errlen, "DNS: %s", rc == ARES_SUCCESS ? "out of memory" : ares_strerror(rc));
    if (rc == ARES_SUCCESS) ares_library_cleanup();
    return NULL;
  }
  r->loop = l;
  timer_init(&r->timer, on_timer);
  for (size_t i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
    r->socks[i].r = r;
    r->socks[i].io.fd = -1;
  }
  struct ares_options opts = {.sock_state_cb = on_sock_state, .sock_state_cb_data = r};
  rc = ares_init_options(&r->channel, &opts, ARES_OPT_SOCK_STATE_CB);
  if (rc != ARES_SUCCESS) {
    snprintf(err, errlen, "DNS: cannot start c-ares: %s", ares_strerror(rc));
    free(r);
    ares_library_cleanup();
    return NULL;
  }
  return r;
}

void resolver_free(resolver *r) {
  if (r == NULL) return;
  ares_destroy(r->channel);         /* fails what is pending, closes its sockets */
  ioloop_disarm(r->loop, &r->timer);
  free(r);
  ares_library_cleanup();
}

static const char *lookup_error(int status) {
  switch (status) {
  case ARES_ENOTFOUND: case ARES_ENODATA: case ARES_ENONAME: return "no such host";
  case ARES_ETIMEOUT: return "no answer from the name servers";
  case ARES_ECONNREFUSED: return "the name servers refused the connection";
  case ARES_EDESTRUCTION: case ARES_ECANCELLED: return "the lookup was abandoned";
  default: return ares_strerror(status);
  }
}

static void fill(resolve_result *res, const struct ares_addrinfo *ai, int port) {
  int ttl = TTL_MAX;
  res->n = 0;
  for (const struct ares_addrinfo_node *n = ai->nodes; n != NULL && res->n < RESOLVE_MAX_ADDRS; n = n->ai_next) {
    if ((n->ai_family != AF_INET && n->ai_family != AF_INET6) || n->ai_addrlen > sizeof res->addrs[0]) continue;
    struct sockaddr_storage *a = &res->addrs[res->n];
    memcpy(a, n->ai_addr, n->ai_addrlen);
    if (n->ai_family == AF_INET) ((struct sockaddr_in *)a)->sin_port = htons((uint16_t)port);
    else ((struct sockaddr_in6 *)a)->sin6_port = htons((uint16_t)port);
    res->lens[res->n++] = n->ai_addrlen;
    if (n->ai_ttl < ttl) ttl = n->ai_ttl;
  }
  res->ttl = ttl < TTL_MIN ? TTL_MIN : ttl;
}

static void on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *ai) {
  (void)timeouts;
  lookup *q = arg;
  resolve_result res;
  if (status == ARES_SUCCESS) fill(&res, ai, q->port);
  if (ai != NULL) ares_freeaddrinfo(ai);
  if (status == ARES_SUCCESS && res.n == 0) status = ARES_ENODATA;
  q->cb(q->arg, status == ARES_SUCCESS ? &res : NULL, status == ARES_SUCCESS ? NULL : lookup_error(status));
  free(q);
}

/* An address literal, answered without c-ares (which would ask the name servers first). */
static bool literal(const char *host, int port, resolve_result *res) {
  struct sockaddr_in *v4 = (struct sockaddr_in *)&res->addrs[0];
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&res->addrs[0];
  memset(&res->addrs[0], 0, sizeof res->addrs[0]);
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    res->lens[0] = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    res->lens[0] = sizeof *v6;
  } else {
    return false;
  }
  res->n = 1;
  res->ttl = TTL_MAX;
  return true;
}

void resolver_lookup(resolver *r, const char *host, int port, resolve_cb cb, void *arg) {
  resolve_result res;
  if (literal(host, port, &res)) return cb(arg, &res, NULL);
  lookup *q = malloc(sizeof *q);
  if (q == NULL) {
    cb(arg, NULL, "out of memory");
    return;
  }
  *q = (lookup){.cb = cb, .arg = arg, .port = port};
  struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  ares_getaddrinfo(r->channel, host, NULL, &hints, on_answer, q);
  rearm(r);
}
