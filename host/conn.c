/*
** conn.c
** Connection records and the rules that end a connection: resets faster than
** a rate (CVE-2023-44487), headers over the limit again and again, and bytes
** sent beyond what its calls account for (floods of frames that carry no
** call). A record of a connection the listener accepted is found by the
** descriptor gRPC knows it by and lives while the listener or a call holds a
** reference; with TLS, gRPC accepts connections itself, so their records are
** made by the calls that come, found by peer name, and kept until their
** connection has had no call for a while.
*/
#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "timer.h"

/* Resets before an answer, within this long of the call's arrival, count (Envoy's premature resets). */
#define RESET_WITHIN_NS 1000000000
/* nghttp2's bucket for them: a burst of 1000, then 33 a second. */
#define RESET_BURST 1000.0
#define RESET_RATE 33.0

/* Calls with headers over the limit a connection may send: those it sent before it read the limit. */
#define HEADERS_OVER_MAX 8

/*
** What a connection may send that no call takes. Requests on their way count
** until they are whole: a client may have several of 4 MiB in flight at once.
*/
#define EXCESS_MAX (64 << 20)
/* A call's headers, trailers, reset and window updates; a message's prefix and frame headers. */
#define CALL_ALLOWANCE (16u << 10)
#define MESSAGE_ALLOWANCE 64u
/* tcpi_state of a connection in use (the kernel's TCP_ESTABLISHED, which linux/tcp.h leaves out). */
#define TCP_STATE_ESTABLISHED 1

/* Clients acknowledge what they receive with WINDOW_UPDATEs: this much per byte the host sent. */
#define ACKED_PER_ALLOWED 256u

struct conn {
  atomic_int refs;
  conn *next_named;                 /* in its names chain */
  int64_t named_used;               /* when a call last found it by name, under names_mu */
  int64_t looked_junk;              /* its junk and calls when the watch last looked (connwatch.c) */
  int64_t marked_received;          /* what it had sent and its junk when the watch of polls */
  int64_t marked_junk;              /* last marked it (connwatch.c) */
  bool marked;                      /* false when the kernel could not tell then */
  unsigned looked_calls;
  unsigned checked_calls;           /* its calls when conn_check last ran, and whether it was */
  bool over;                        /* past EXCESS_MAX then with no call coming */
  int fd;                           /* gRPC's descriptor: the calls' peer is "fd:N" */
  int own;                          /* a duplicate, closed with the record: to measure and abort; -1 by name */
  char peer[64];
  uint8_t address[16];
  atomic_uint_least64_t taken;      /* bytes the calls account for, allowances included */
  atomic_uint calls;                /* calls that came */
  atomic_bool aborted;
  atomic_bool unacknowledged;       /* given to gRPC before the client acknowledged SETTINGS */
  atomic_int headers_over;          /* calls whose headers were over the limit */
  pthread_mutex_t mu;               /* guards the reset bucket */
  double tokens;
  int64_t refilled;                 /* when tokens were last topped up (monotonic ns) */
};

/* Every open record by its gRPC descriptor, for conn_find; the array lives as long as the process. */
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static conn **table;
static size_t table_cap;

/* Records by name: chains by a hash of the peer name, each holding a reference. */
#define NAMES_BUCKETS 256
/* How long a record by name outlives its connection's last call: a rate is counted across calls. */
#define NAMED_LINGER_NS 10000000000LL
static pthread_mutex_t names_mu = PTHREAD_MUTEX_INITIALIZER;
static conn *names[NAMES_BUCKETS];

/*
** sa as gRPC names a peer (an IPv4 client of a dual-stack socket as IPv4, as
** gRPC does), in peer, and its address as IPv6 (IPv4 mapped), in address.
*/
static void name_peer(const struct sockaddr *sa, char peer[64], uint8_t address[16]) {
  char text[INET6_ADDRSTRLEN] = "?";
  uint16_t port;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    memset(address, 0, 10);
    memset(address + 10, 0xff, 2);
    memcpy(address + 12, &in->sin_addr, 4);
    port = ntohs(in->sin_port);
  } else {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    memcpy(address, &in6->sin6_addr, 16);
    port = ntohs(in6->sin6_port);
  }
  if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)address)) {
    inet_ntop(AF_INET, address + 12, text, sizeof text);
    snprintf(peer, 64, "ipv4:%s:%u", text, port);
  } else {
    inet_ntop(AF_INET6, address, text, sizeof text);
    snprintf(peer, 64, "ipv6:[%s]:%u", text, port);
  }
}

/* Makes room for descriptor fd in the table; the lock is held. */
static int table_reserve(int fd) {
  if ((size_t)fd < table_cap) return 0;
  size_t cap = table_cap ? table_cap : 64;
  while (cap <= (size_t)fd) cap *= 2;
  conn **grown = realloc(table, cap * sizeof *grown);
  if (grown == NULL) return -1;
  memset(grown + table_cap, 0, (cap - table_cap) * sizeof *grown);
  table = grown;
  table_cap = cap;
  return 0;
}

/* Takes c out of the table if it is still there; the lock is held. */
static bool table_remove(conn *c) {
  if ((size_t)c->fd >= table_cap || table[c->fd] != c) return false;
  table[c->fd] = NULL;
  return true;
}

conn *conn_open(int fd, const struct sockaddr *sa) {
  conn *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->own = dup(fd);
  if (c->own < 0) {
    free(c);
    return NULL;
  }
  atomic_init(&c->refs, 2);         /* the caller's, and the table's */
  c->fd = fd;
  name_peer(sa, c->peer, c->address);
  pthread_mutex_init(&c->mu, NULL);
  c->tokens = RESET_BURST;
  c->refilled = timer_now();
  c->marked = true;                 /* at nothing sent: a stall that began before it counts all of it */
  pthread_mutex_lock(&table_mu);
  bool room = table_reserve(fd) == 0;
  conn *stale = room ? table[fd] : NULL;
  if (room) table[fd] = c;
  pthread_mutex_unlock(&table_mu);
  /* gRPC closed the descriptor of an older connection before its close reached the listener. */
  if (stale != NULL) conn_release(stale);
  if (room) return c;
  close(c->own);
  pthread_mutex_destroy(&c->mu);
  free(c);
  return NULL;
}

void conn_unlist(conn *c) {
  pthread_mutex_lock(&table_mu);
  bool was_there = table_remove(c);
  pthread_mutex_unlock(&table_mu);
  if (was_there) conn_release(c);
}

void conn_forget(conn *c) {
  conn_unlist(c);
  conn_release(c);
}

/* The chain of records named peer. */
static conn **chain_of(const char *peer) {
  uint32_t h = 2166136261u;         /* FNV-1a */
  for (const char *p = peer; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
  return &names[h % NAMES_BUCKETS];
}

/* Frees the records of chain that no call holds and none found for NAMED_LINGER_NS; names_mu is held. */
static void sweep(conn **chain, int64_t now) {
  for (conn **p = chain; *p != NULL;) {
    conn *c = *p;
    if (atomic_load(&c->refs) > 1 || now - c->named_used < NAMED_LINGER_NS) {
      p = &c->next_named;
      continue;
    }
    *p = c->next_named;
    conn_release(c);
  }
}

/* The record named peer, made if there is none, with a reference; NULL when out of memory. */
static conn *find_by_name(const char *peer) {
  conn **chain = chain_of(peer), *c;
  int64_t now = timer_now();
  pthread_mutex_lock(&names_mu);
  sweep(chain, now);
  for (c = *chain; c != NULL && strcmp(c->peer, peer) != 0; c = c->next_named)
    continue;
  if (c == NULL && (c = calloc(1, sizeof *c)) != NULL) {
    c->fd = c->own = -1;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    pthread_mutex_init(&c->mu, NULL);
    c->tokens = RESET_BURST;
    c->refilled = now;
    atomic_init(&c->refs, 1);       /* the chain's */
    c->next_named = *chain;
    *chain = c;
  }
  if (c != NULL) {
    c->named_used = now;
    atomic_fetch_add(&c->refs, 1);
  }
  pthread_mutex_unlock(&names_mu);
  return c;
}

size_t conn_all(conn ***all, size_t *cap) {
  size_t n = 0;
  pthread_mutex_lock(&table_mu);
  for (size_t fd = 0; fd < table_cap; fd++) {
    if (table[fd] == NULL) continue;
    if (n == *cap) {
      size_t grown_cap = *cap ? *cap * 2 : 64;
      conn **grown = realloc(*all, grown_cap * sizeof *grown);
      if (grown == NULL) break;
      *all = grown;
      *cap = grown_cap;
    }
    atomic_fetch_add(&table[fd]->refs, 1);
    (*all)[n++] = table[fd];
  }
  pthread_mutex_unlock(&table_mu);
  return n;
}

/* N of a peer named "fd:N", or -1: once a call, so without strtol's generality. */
static long fd_of(const char *peer) {
  if (strncmp(peer, "fd:", 3) != 0 || peer[3] == '\0') return -1;
  long fd = 0;
  const char *p = peer + 3;
  for (; *p >= '0' && *p <= '9' && fd < INT_MAX / 10; p++) fd = fd * 10 + (*p - '0');
  return *p == '\0' ? fd : -1;
}

conn *conn_find(const char *peer) {
  if (peer == NULL) return NULL;
  long fd = fd_of(peer);
  if (fd < 0) {
    bool named = strncmp(peer, "ipv4:", 5) == 0 || strncmp(peer, "ipv6:", 5) == 0;
    return named ? find_by_name(peer) : NULL;
  }
  conn *c = NULL;
  pthread_mutex_lock(&table_mu);
  if ((size_t)fd < table_cap) c = table[fd];
  if (c != NULL) atomic_fetch_add(&c->refs, 1);
  pthread_mutex_unlock(&table_mu);
  return c;
}

void conn_release(conn *c) {
  if (atomic_fetch_sub(&c->refs, 1) != 1) return;
  if (c->own >= 0) close(c->own);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

void conn_unacknowledged(conn *c) { atomic_store(&c->unacknowledged, true); }

bool conn_acknowledged(const conn *c) { return !atomic_load(&c->unacknowledged); }

const char *conn_peer(const conn *c) { return c->peer; }

const uint8_t *conn_address(const conn *c) { return c->address; }

int conn_fd(const conn *c) { return c->own; }

void conn_took(conn *c, size_t bytes) {
  atomic_fetch_add_explicit(&c->taken, bytes + bytes / 64 + MESSAGE_ALLOWANCE, memory_order_relaxed);
}

void conn_call(conn *c) {
  atomic_fetch_add_explicit(&c->taken, CALL_ALLOWANCE, memory_order_relaxed);
  atomic_fetch_add_explicit(&c->calls, 1, memory_order_relaxed);
}

void conn_reset(conn *c, int64_t arrived) {
  int64_t now = timer_now();
  if (now - arrived > RESET_WITHIN_NS) return;
  pthread_mutex_lock(&c->mu);
  c->tokens += (double)(now - c->refilled) / 1e9 * RESET_RATE;
  if (c->tokens > RESET_BURST) c->tokens = RESET_BURST;
  c->refilled = now;
  c->tokens -= 1;
  bool over = c->tokens < 0;
  pthread_mutex_unlock(&c->mu);
  if (over) conn_abort(c, "streams reset faster than 1000 at once or 33 a second (rapid reset, CVE-2023-44487)");
}

void conn_headers_over(conn *c) {
  if (atomic_fetch_add(&c->headers_over, 1) + 1 == HEADERS_OVER_MAX)
    conn_abort(c, "sent request headers over the limit 8 times: it ignores the limit it was told");
}

/* What the kernel knows of the connection; false when it cannot tell. */
static bool tcp_info_of(const conn *c, struct tcp_info *ti) {
  socklen_t len = sizeof *ti;
  memset(ti, 0, sizeof *ti);
  if (getsockopt(c->own, IPPROTO_TCP, TCP_INFO, ti, &len) != 0) return false;
  return len >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti->tcpi_bytes_received;
}

/*
** What c has sent, in *received; beyond what its calls took, headers,
** messages and window updates allowed for, in *junk (negative while calls
** took more); and how many calls came, in *calls. false when the kernel
** cannot tell, or c was aborted.
*/
static bool traffic(const conn *c, int64_t *received, int64_t *junk, unsigned *calls) {
  struct tcp_info ti;
  if (atomic_load_explicit(&c->aborted, memory_order_relaxed) || !tcp_info_of(c, &ti)) return false;
  *calls = atomic_load_explicit(&c->calls, memory_order_relaxed);
  uint64_t taken = atomic_load_explicit(&c->taken, memory_order_relaxed);
  *received = (int64_t)ti.tcpi_bytes_received;
  *junk = *received - (int64_t)(taken + ti.tcpi_bytes_acked / ACKED_PER_ALLOWED);
  return true;
}

void conn_mark(conn *c) {
  unsigned calls;
  c->marked = traffic(c, &c->marked_received, &c->marked_junk, &calls);
}

bool conn_since_mark(const conn *c, int64_t *received, int64_t *junk) {
  unsigned calls;
  if (!c->marked || !traffic(c, received, junk, &calls)) return false;
  *received -= c->marked_received;
  *junk -= c->marked_junk;
  return true;
}

int64_t conn_junk_since_last_look(conn *c, bool *calls_came) {
  int64_t received, junk;
  unsigned calls;
  *calls_came = true;
  if (!traffic(c, &received, &junk, &calls)) return 0;
  int64_t grown = junk - c->looked_junk;
  *calls_came = calls != c->looked_calls;
  c->looked_junk = junk;
  c->looked_calls = calls;
  return grown;
}

void conn_check(conn *c) {
  int64_t received, junk;
  unsigned calls;
  if (!traffic(c, &received, &junk, &calls)) return;
  /*
  ** Requests on their way are junk until whole: a burst of large ones may be
  ** past the limit until the workers catch up, and then calls come. So it
  ** must stay past with no call coming for two checks in a row.
  */
  bool over = junk > EXCESS_MAX && calls == c->checked_calls, was_over = c->over;
  c->checked_calls = calls;
  c->over = over;
  if (!over || !was_over) return;
  char why[160];
  snprintf(why, sizeof why, "sent %lld MiB that no call took (frames without a call: a flood, or headers far over the limit)",
           (long long)(junk >> 20));
  conn_abort(c, why);
}

/* Whether fd is a socket connected to peer. */
static bool connected_to(int fd, const char *peer) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char name[64];
  uint8_t address[16];
  if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) return false;
  name_peer((struct sockaddr *)&ss, name, address);
  return strcmp(name, peer) == 0;
}

/* A duplicate of gRPC's own descriptor of c's connection (TLS: a record by name), or -1. */
static int find_socket(const conn *c) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return -1;
  int found = -1;
  for (struct dirent *de; found < 0 && (de = readdir(d)) != NULL;) {
    int fd = atoi(de->d_name);
    if (fd == dirfd(d) || !connected_to(fd, c->peer)) continue;
    found = dup(fd);
    /* Closed and reused since: not it after all. */
    if (found >= 0 && !connected_to(found, c->peer)) {
      close(found);
      found = -1;
    }
  }
  closedir(d);
  return found;
}

void conn_abort(conn *c, const char *why) {
  if (atomic_exchange(&c->aborted, true)) return;
  int fd = c->own >= 0 ? c->own : find_socket(c);
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  /* A client that is gone already needs no word: its calls were cancelled by its leaving. */
  if (fd >= 0 && (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 || ti.tcpi_state == TCP_STATE_ESTABLISHED)) {
    log_line(LOG_WARN, "closing a connection that abuses the server", "peer", c->peer, "reason", why, NULL);
    /* connect(AF_UNSPEC) dissolves the connection: unread bytes dropped, a reset sent, gRPC's reads end. */
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    if (connect(fd, &unspec, sizeof unspec) != 0) shutdown(fd, SHUT_RDWR);
  }
  if (fd >= 0 && fd != c->own) close(fd);
}
