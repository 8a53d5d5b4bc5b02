/*
** listener.c
** One thread and one epoll set: the listening socket; connections waiting for
** their client preface and their acknowledgement of the host's SETTINGS (read
** edge-triggered, peeked at, never consumed, so gRPC or the door reads them
** whole); connections gRPC or the door has, each watched through the
** duplicate conn.c keeps, for its close only. Ten times a second it ends the
** waits that took too long. The traffic of the connections is another
** thread's to watch (connwatch.h): this one calls into gRPC.
**
** A connection whose first bytes are not the start of the preface is
** HTTP/1.1 (or nothing the host speaks, which the door answers with 400).
**
** Why the acknowledgement: until a client acknowledges SETTINGS, gRPC 1.51
** holds it to none of the limits it advertised, and takes a header block of
** any size, at up to 35 times its bytes in memory. So the listener sends an
** empty SETTINGS of its own (a server may send several) and gives gRPC the
** connection once the client acknowledged it; gRPC takes that acknowledgement
** for one of its own SETTINGS, which it sends first. A client that sends much
** before it reads (PEEK_MAX) is given over unacknowledged, and watched closer.
*/
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>

#include "conn.h"
#include "connwatch.h"
#include "listener.h"
#include "log.h"
#include "timer.h"

#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PREFACE_LEN 24
#define PEEK_MAX 65536
#define FRAME_HEADER 9
#define SETTINGS_FRAME 4
#define ACK_FLAG 1
/* A client sends its preface as soon as it connects; one that does not is holding a socket. */
#define PREFACE_TIMEOUT_NS 10000000000LL
#define SCAN_NS 100000000LL
/* Refusals are logged at most once a second, with how many there were. */
#define REFUSALS_EVERY_NS 1000000000LL
#define EVENTS_MAX 64

/* HTTP/2 error codes, for the GOAWAY that tells a refused client why. */
#define H2_PROTOCOL_ERROR 0x1
#define H2_ENHANCE_YOUR_CALM 0xb

typedef struct entry {
  conn *conn;
  int fd;                           /* the accepted socket: the listener's until handed to gRPC */
  bool handed;
  bool greeted;                     /* the listener's SETTINGS went */
  int64_t deadline;                 /* for the preface and the acknowledgement, while not handed */
  size_t index;                     /* in listener.entries */
} entry;

struct listener {
  int fd;                           /* the listening socket, -1 once closed */
  int ep;
  int wake;                         /* an eventfd: quiesce and free wake the thread with it */
  int port;
  int max_connections;
  int max_per_peer;                 /* 0: no limit */
  char over_total[64], over_peer[64];   /* why a connection over a limit was refused */
  grpc_server *gs;
  door *door;                       /* serves the connections that are not HTTP/2 */
  grpc_server_credentials *creds;   /* insecure: the only kind grpc_server_add_channel_from_fd takes */
  pthread_t thread;
  bool running;
  pthread_mutex_t mu;               /* a hand-off and quiesce do not overlap */
  atomic_bool accepting;
  atomic_bool stopping;
  uint8_t *peeked;                  /* PEEK_MAX bytes; this and what follows: the thread's own */
  entry **entries;
  size_t n, cap;
  bool paused;                      /* out of descriptors: accepting again at the next tick */
  connwatch *watch;
  unsigned refused;                 /* since the last line about refusals */
  const char *refused_why;
  char refused_peer[64];
  int64_t refused_logged;
};

/* --- refusals ------------------------------------------------------------------------------ */

static void log_refusals(listener *l, int64_t now) {
  if (l->refused == 0 || now - l->refused_logged < REFUSALS_EVERY_NS) return;
  char count[16];
  snprintf(count, sizeof count, "%u", l->refused);
  log_line(LOG_WARN, "connection refused", "peer", l->refused_peer[0] ? l->refused_peer : NULL,
           "reason", l->refused_why, "count", count, NULL);
  l->refused = 0;
  l->refused_logged = now;
}

static void note_refusal(listener *l, const char *peer, const char *why) {
  l->refused++;
  l->refused_why = why;
  snprintf(l->refused_peer, sizeof l->refused_peer, "%s", peer ? peer : "");
  log_refusals(l, timer_now());
}

/* The server's preface (an empty SETTINGS) and a GOAWAY saying why: what an HTTP/2 client can report. */
static void send_goaway(int fd, uint32_t code, const char *why) {
  uint8_t out[256] = {0, 0, 0, 4};
  size_t len = strlen(why);
  if (len > sizeof out - 26) len = sizeof out - 26;
  uint8_t *f = out + 9;
  f[0] = 0;
  f[1] = (uint8_t)((8 + len) >> 8);
  f[2] = (uint8_t)(8 + len);
  f[3] = 7;
  f[13] = (uint8_t)(code >> 24);
  f[14] = (uint8_t)(code >> 16);
  f[15] = (uint8_t)(code >> 8);
  f[16] = (uint8_t)code;
  memcpy(f + 17, why, len);
  if (send(fd, out, 26 + len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) return;   /* the client may be gone */
}

/* --- entries ------------------------------------------------------------------------------- */

static int append(listener *l, entry *e) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    entry **grown = realloc(l->entries, cap * sizeof *grown);
    if (grown == NULL) return -1;
    l->entries = grown;
    l->cap = cap;
  }
  e->index = l->n;
  l->entries[l->n++] = e;
  return 0;
}

/* Forgets e: closes the socket if it is still the listener's, else stops watching gRPC's. */
static void drop(listener *l, entry *e) {
  l->entries[e->index] = l->entries[--l->n];
  l->entries[e->index]->index = e->index;
  epoll_ctl(l->ep, EPOLL_CTL_DEL, e->handed ? conn_fd(e->conn) : e->fd, NULL);
  if (!e->handed) close(e->fd);
  conn_forget(e->conn);
  free(e);
}

/* Tells the client why it is turned away, and notes it for the log. */
static void turn_away(listener *l, int fd, const conn *c, uint32_t code, const char *why) {
  send_goaway(fd, code, why);
  note_refusal(l, c != NULL ? conn_peer(c) : NULL, why);
}

static void refuse(listener *l, entry *e, uint32_t code, const char *why) {
  turn_away(l, e->fd, e->conn, code, why);
  drop(l, e);
}

/* Why c may not have one more connection, or NULL. */
static const char *over_limits(const listener *l, const conn *c) {
  if (l->n >= (size_t)l->max_connections) return l->over_total;
  if (l->max_per_peer == 0) return NULL;
  int same = 0;
  for (size_t i = 0; i < l->n; i++)
    same += memcmp(conn_address(l->entries[i]->conn), conn_address(c), 16) == 0;
  return same >= l->max_per_peer ? l->over_peer : NULL;
}

static void admit(listener *l, int fd, const struct sockaddr *sa) {
  conn *c = conn_open(fd, sa);
  const char *why = c == NULL ? "out of memory or file descriptors" : over_limits(l, c);
  entry *e = why == NULL ? calloc(1, sizeof *e) : NULL;
  if (why == NULL && (e == NULL || append(l, e) != 0)) why = "out of memory";
  if (why != NULL) {
    turn_away(l, fd, c, H2_ENHANCE_YOUR_CALM, why);
    if (c != NULL) conn_forget(c);
    free(e);
    close(fd);
    return;
  }
  e->conn = c;
  e->fd = fd;
  e->deadline = timer_now() + PREFACE_TIMEOUT_NS;
  int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = e};
  if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) != 0) refuse(l, e, H2_ENHANCE_YOUR_CALM, "out of memory");
}

static void accept_all(listener *l) {
  for (;;) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      admit(l, fd, (struct sockaddr *)&ss);
    } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      /* The pending connection stays queued; waiting beats spinning on it. */
      epoll_ctl(l->ep, EPOLL_CTL_DEL, l->fd, NULL);
      l->paused = true;
      note_refusal(l, NULL, "out of file descriptors (see ulimit -n)");
      return;
    } else if (errno != EINTR && errno != ECONNABORTED) {
      return;
    }
  }
}

/* --- the preface, and the hand-off ------------------------------------------------------- */

/* To gRPC once the client acknowledged SETTINGS, or before; to the door when it is not HTTP/2. */
typedef enum handover { ACKNOWLEDGED, UNACKNOWLEDGED, NOT_HTTP2 } handover;

static void hand_off(listener *l, entry *e, handover how) {
  epoll_ctl(l->ep, EPOLL_CTL_DEL, e->fd, NULL);
  if (how == UNACKNOWLEDGED) conn_unacknowledged(e->conn);
  if (how == NOT_HTTP2) conn_unlist(e->conn);
  pthread_mutex_lock(&l->mu);
  bool accepting = atomic_load(&l->accepting);
  if (accepting && how == NOT_HTTP2) door_serve(l->door, e->fd, conn_peer(e->conn));
  else if (accepting) grpc_server_add_channel_from_fd(l->gs, e->fd, l->creds);
  pthread_mutex_unlock(&l->mu);
  if (!accepting) {
    drop(l, e);
    return;
  }
  e->handed = true;
  /* gRPC and the door close their descriptor with a shutdown: the duplicate then sees a hang-up. */
  struct epoll_event ev = {.events = EPOLLRDHUP, .data.ptr = e};
  if (epoll_ctl(l->ep, EPOLL_CTL_ADD, conn_fd(e->conn), &ev) == 0) return;
  log_line(LOG_ERROR, "cannot watch a connection: it goes unchecked", "peer", conn_peer(e->conn), NULL);
  drop(l, e);
}

/*
** Whether the frames after the preface, as far as n bytes of buf hold them,
** include a SETTINGS ack. One sent ahead of the listener's SETTINGS counts:
** gRPC takes any ack for one of its own, whose SETTINGS go before it reads.
*/
static bool settings_acked(const uint8_t *buf, size_t n) {
  for (size_t at = PREFACE_LEN; at + FRAME_HEADER <= n;) {
    if (buf[at + 3] == SETTINGS_FRAME && (buf[at + 4] & ACK_FLAG)) return true;
    at += FRAME_HEADER + ((size_t)buf[at] << 16 | (size_t)buf[at + 1] << 8 | buf[at + 2]);
  }
  return false;
}

/* The server's preface, an empty SETTINGS, for the client to acknowledge. */
static void greet(entry *e) {
  static const uint8_t settings[FRAME_HEADER] = {0, 0, 0, SETTINGS_FRAME};
  e->greeted = send(e->fd, settings, sizeof settings, MSG_NOSIGNAL | MSG_DONTWAIT) == sizeof settings;
}

static void on_first_bytes(listener *l, entry *e, uint32_t events) {
  ssize_t n = recv(e->fd, l->peeked, PEEK_MAX, MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    drop(l, e);
  } else if (memcmp(l->peeked, PREFACE, n < PREFACE_LEN ? (size_t)n : PREFACE_LEN) != 0) {
    hand_off(l, e, NOT_HTTP2);
  } else if (n > PREFACE_LEN + 4 && (l->peeked[PREFACE_LEN + 3] != SETTINGS_FRAME || l->peeked[PREFACE_LEN + 4] & ACK_FLAG)) {
    refuse(l, e, H2_PROTOCOL_ERROR, "the client preface must be followed by a SETTINGS frame");
  } else if (n >= PREFACE_LEN && settings_acked(l->peeked, (size_t)n)) {
    hand_off(l, e, ACKNOWLEDGED);
  } else if (n == PEEK_MAX) {
    hand_off(l, e, UNACKNOWLEDGED);
  } else if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    drop(l, e);
  } else if (n >= PREFACE_LEN && !e->greeted) {
    greet(e);
  }
}

/* --- the thread -------------------------------------------------------------------------- */

/* Ends the waits for a preface that took too long; logs refusals. */
static void scan(listener *l, int64_t now) {
  for (size_t i = l->n; i-- > 0;) {             /* backwards: drop moves the last entry here */
    entry *e = l->entries[i];
    if (e->handed || now < e->deadline) continue;
    refuse(l, e, H2_PROTOCOL_ERROR, e->greeted ? "the server's SETTINGS not acknowledged within 10 s"
                                               : "no HTTP/2 client preface within 10 s");
  }
  log_refusals(l, now);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->fd};
  if (l->paused && l->fd >= 0 && epoll_ctl(l->ep, EPOLL_CTL_ADD, l->fd, &ev) == 0) l->paused = false;
}

static void on_wake(listener *l) {
  uint64_t n;
  if (read(l->wake, &n, sizeof n) < 0) return;
  if (atomic_load(&l->accepting) || l->fd < 0) return;
  epoll_ctl(l->ep, EPOLL_CTL_DEL, l->fd, NULL);
  close(l->fd);
  l->fd = -1;
}

static void *run(void *arg) {
  listener *l = arg;
  struct epoll_event events[EVENTS_MAX];
  int64_t next_scan = timer_now() + SCAN_NS;
  while (!atomic_load(&l->stopping)) {
    int64_t wait = next_scan - timer_now();
    int n = epoll_wait(l->ep, events, EVENTS_MAX, wait > 0 ? (int)(wait / 1000000) + 1 : 0);
    for (int i = 0; i < n; i++) {
      void *p = events[i].data.ptr;
      if (p == &l->fd) accept_all(l);
      else if (p == &l->wake) on_wake(l);
      else if (((entry *)p)->handed) drop(l, p);     /* its only event is its close */
      else on_first_bytes(l, p, events[i].events);
    }
    int64_t now = timer_now();
    if (now >= next_scan) {
      scan(l, now);
      next_scan = now + SCAN_NS;
    }
  }
  return NULL;
}

/* --- the socket ---------------------------------------------------------------------------- */

static void set_port(struct sockaddr_storage *ss, int family, int port) {
  ss->ss_family = (sa_family_t)family;
  if (family == AF_INET6) ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
  else ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

/*
** address (numeric: "10.0.0.1", "::1" or "[::1]") as a socket address; the
** IPv4 wildcard as the IPv6 one, dual-stack (*dual), as gRPC listens on it.
*/
static int parse_address(const char *address, int port, struct sockaddr_storage *ss, bool *dual) {
  char host[INET6_ADDRSTRLEN + 2];
  size_t len = strlen(address);
  if (len >= 2 && address[0] == '[' && address[len - 1] == ']') address++, len -= 2;
  if (len >= sizeof host) return -1;
  memcpy(host, address, len);
  host[len] = '\0';
  memset(ss, 0, sizeof *ss);
  *dual = strcmp(host, "0.0.0.0") == 0;
  if (*dual || inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
    set_port(ss, AF_INET6, port);
    return 0;
  }
  if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) != 1) return -1;
  set_port(ss, AF_INET, port);
  return 0;
}

static int listen_on(const struct sockaddr_storage *ss, bool dual) {
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int on = 1, off = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (dual) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (bind(fd, (const struct sockaddr *)ss, len) == 0 && listen(fd, SOMAXCONN) == 0) return fd;
  int saved = errno;
  close(fd);
  errno = saved;
  return -1;
}

/* Binds and listens; the IPv4 wildcard falls back to IPv4 alone where there is no IPv6. */
static int open_socket(const config *cfg, char *err, size_t errlen) {
  struct sockaddr_storage ss;
  bool dual;
  if (parse_address(cfg->address, cfg->port, &ss, &dual) != 0) {
    snprintf(err, errlen, "--address: '%s' is not a numeric IPv4 or IPv6 address", cfg->address);
    return -1;
  }
  int fd = listen_on(&ss, dual);
  if (fd < 0 && dual && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {
    memset(&ss, 0, sizeof ss);      /* INADDR_ANY */
    set_port(&ss, AF_INET, cfg->port);
    fd = listen_on(&ss, false);
  }
  bool bare_ipv6 = strchr(cfg->address, ':') != NULL && cfg->address[0] != '[';
  if (fd < 0)
    snprintf(err, errlen, "cannot listen on %s%s%s:%d: %s", bare_ipv6 ? "[" : "", cfg->address,
             bare_ipv6 ? "]" : "", cfg->port, strerror(errno));
  return fd;
}

static int bound_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
  return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                        : ((struct sockaddr_in *)&ss)->sin_port);
}

listener *listener_open(const config *cfg, char *err, size_t errlen) {
  listener *l = calloc(1, sizeof *l);
  if (l == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&l->mu, NULL);
  l->peeked = malloc(PEEK_MAX);
  if (l->peeked == NULL) snprintf(err, errlen, "out of memory");
  l->fd = l->peeked != NULL ? open_socket(cfg, err, errlen) : -1;
  l->ep = epoll_create1(EPOLL_CLOEXEC);
  l->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event on_listen = {.events = EPOLLIN, .data.ptr = &l->fd};
  struct epoll_event on_wake = {.events = EPOLLIN, .data.ptr = &l->wake};
  if (l->fd >= 0 && (l->ep < 0 || l->wake < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, l->fd, &on_listen) != 0 ||
                     epoll_ctl(l->ep, EPOLL_CTL_ADD, l->wake, &on_wake) != 0))
    snprintf(err, errlen, "cannot watch the port: %s", strerror(errno));
  else if (l->fd >= 0)
    l->port = bound_port(l->fd);
  if (l->fd < 0 || l->port <= 0) {
    listener_free(l);
    return NULL;
  }
  l->max_connections = cfg->max_connections;
  l->max_per_peer = cfg->max_connections_per_peer;
  snprintf(l->over_total, sizeof l->over_total, "over --max-connections %d", l->max_connections);
  snprintf(l->over_peer, sizeof l->over_peer, "over --max-connections-per-peer %d", l->max_per_peer);
  return l;
}

int listener_port(const listener *l) { return l->port; }

int listener_start(listener *l, grpc_server *gs, door *d) {
  l->gs = gs;
  l->door = d;
  l->creds = grpc_insecure_server_credentials_create();
  atomic_store(&l->accepting, true);
  l->watch = connwatch_start();
  l->running = l->watch != NULL && pthread_create(&l->thread, NULL, run, l) == 0;
  return l->running ? 0 : -1;
}

static void wake(listener *l) {
  uint64_t one = 1;
  if (write(l->wake, &one, sizeof one) < 0) return;   /* the counter is full: a wake-up is pending */
}

void listener_quiesce(listener *l) {
  pthread_mutex_lock(&l->mu);
  atomic_store(&l->accepting, false);
  pthread_mutex_unlock(&l->mu);
  wake(l);
}

void listener_free(listener *l) {
  if (l->running) {
    listener_quiesce(l);
    atomic_store(&l->stopping, true);
    wake(l);
    pthread_join(l->thread, NULL);
  }
  if (l->watch != NULL) connwatch_stop(l->watch);
  while (l->n > 0) drop(l, l->entries[l->n - 1]);
  free(l->entries);
  free(l->peeked);
  if (l->creds != NULL) grpc_server_credentials_release(l->creds);
  if (l->fd >= 0) close(l->fd);
  if (l->ep >= 0) close(l->ep);
  if (l->wake >= 0) close(l->wake);
  pthread_mutex_destroy(&l->mu);
  free(l);
}
