/*
** loopback.c
** Socketpairs between the door and the host's own server. A connection that
** gRPC closes (the server's shutdown) is seen through a duplicate of the
** client's end, watched for its hang-up, and replaced for new calls.
*/
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>

#include "chanargs.h"
#include "ioloop.h"
#include "loopback.h"
#include "tag.h"

struct loopback_link {
  loopback *lb;
  grpc_channel *channel;
  int server_fd;                    /* the server's end, as its calls' peer names it */
  io_watch hangup;                  /* a duplicate of the client's end, for its close */
  int calls;
  bool dead;
};

struct loopback {
  ioloop *loop;
  grpc_server *gs;
  grpc_server_credentials *server_creds;
  grpc_channel_credentials *channel_creds;
  int max_streams;
  int max_message_bytes;
  loopback_link **links;
  size_t n, cap;
};

/*
** {======================================================
** The server's ends, for loopback_is_peer
** =======================================================
*/

static pthread_mutex_t ends_mu = PTHREAD_MUTEX_INITIALIZER;
static int *ends;
static size_t n_ends, cap_ends;

static int remember_end(int fd) {
  pthread_mutex_lock(&ends_mu);
  if (n_ends == cap_ends) {
    size_t cap = cap_ends ? cap_ends * 2 : 8;
    int *grown = realloc(ends, cap * sizeof *grown);
    if (grown == NULL) {
      pthread_mutex_unlock(&ends_mu);
      return -1;
    }
    ends = grown;
    cap_ends = cap;
  }
  ends[n_ends++] = fd;
  pthread_mutex_unlock(&ends_mu);
  return 0;
}

static void forget_end(int fd) {
  pthread_mutex_lock(&ends_mu);
  for (size_t i = 0; i < n_ends; i++)
    if (ends[i] == fd) {
      ends[i] = ends[--n_ends];
      break;
    }
  pthread_mutex_unlock(&ends_mu);
}

/*
** One of ours, and a Unix socket still: the listener accepts TCP only, so a
** descriptor gRPC closed and the kernel gave to a client is never taken for one.
*/
bool loopback_is_peer(const char *peer) {
  if (peer == NULL || strncmp(peer, "fd:", 3) != 0) return false;
  char *end;
  long fd = strtol(peer + 3, &end, 10);
  if (*end != '\0' || fd < 0 || fd > 1 << 30) return false;
  bool known = false;
  pthread_mutex_lock(&ends_mu);
  for (size_t i = 0; i < n_ends && !known; i++) known = ends[i] == (int)fd;
  pthread_mutex_unlock(&ends_mu);
  int domain = 0;
  socklen_t len = sizeof domain;
  return known && getsockopt((int)fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX;
}

/* }====================================================== */

static void free_link(loopback_link *k) {
  ioloop_watch(k->lb->loop, &k->hangup, 0);
  close(k->hangup.fd);
  forget_end(k->server_fd);
  grpc_channel_destroy(k->channel);
  free(k);
}

static void remove_link(loopback *lb, loopback_link *k) {
  for (size_t i = 0; i < lb->n; i++)
    if (lb->links[i] == k) {
      lb->links[i] = lb->links[--lb->n];
      break;
    }
}

static void on_hangup(io_watch *w, uint32_t events) {
  (void)events;
  loopback_link *k = CONTAINER_OF(w, loopback_link, hangup);
  ioloop_watch(k->lb->loop, w, 0);
  k->dead = true;
  remove_link(k->lb, k);
  if (k->calls == 0) free_link(k);
}

/*
** The client's end: no compression (the server would compress what the door
** only inflates again), no retries (they keep a copy of each request), and
** messages as large as the server takes.
*/
static grpc_channel *client_channel(loopback *lb, int fd) {
  grpc_arg args[] = {
    chanarg_int(GRPC_COMPRESSION_CHANNEL_ENABLED_ALGORITHMS_BITSET, 1 << GRPC_COMPRESS_NONE),
    chanarg_int(GRPC_ARG_ENABLE_RETRIES, 0),
    chanarg_int(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, lb->max_message_bytes),
    chanarg_int(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, lb->max_message_bytes),
    chanarg_no_channelz(),
  };
  grpc_channel_args channel_args = {sizeof args / sizeof args[0], args};
  return grpc_channel_create_from_fd("loopback", fd, lb->channel_creds, &channel_args);
}

static loopback_link *open_link(loopback *lb, char *err, size_t errlen) {
  int sv[2] = {-1, -1};
  loopback_link *k = calloc(1, sizeof *k);
  if (lb->n == lb->cap) {
    size_t cap = lb->cap ? lb->cap * 2 : 4;
    loopback_link **grown = realloc(lb->links, cap * sizeof *grown);
    if (grown != NULL) lb->links = grown, lb->cap = cap;
  }
  int dup_fd = -1;
  if (k == NULL || lb->n == lb->cap || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0 ||
      (dup_fd = fcntl(sv[1], F_DUPFD_CLOEXEC, 0)) < 0 || remember_end(sv[0]) != 0) {
    snprintf(err, errlen, "cannot open a loopback connection: %s", strerror(errno ? errno : ENOMEM));
    if (dup_fd >= 0) close(dup_fd);
    if (sv[0] >= 0) close(sv[0]), close(sv[1]);
    free(k);
    return NULL;
  }
  k->lb = lb;
  k->server_fd = sv[0];
  io_watch_init(&k->hangup, dup_fd, on_hangup);
  grpc_server_add_channel_from_fd(lb->gs, sv[0], lb->server_creds);
  k->channel = client_channel(lb, sv[1]);
  ioloop_watch(lb->loop, &k->hangup, EPOLLRDHUP);
  lb->links[lb->n++] = k;
  return k;
}

loopback *loopback_new(ioloop *loop, grpc_server *gs, int max_streams, int max_message_bytes) {
  loopback *lb = calloc(1, sizeof *lb);
  if (lb == NULL) return NULL;
  lb->loop = loop;
  lb->gs = gs;
  lb->max_streams = max_streams;
  lb->max_message_bytes = max_message_bytes;
  /* grpc_server_add_channel_from_fd takes insecure credentials only. */
  lb->server_creds = grpc_insecure_server_credentials_create();
  lb->channel_creds = grpc_insecure_credentials_create();
  return lb;
}

grpc_channel *loopback_acquire(loopback *lb, loopback_link **link, char *err, size_t errlen) {
  loopback_link *k = NULL;
  for (size_t i = 0; i < lb->n && k == NULL; i++)
    if (lb->links[i]->calls < lb->max_streams) k = lb->links[i];
  if (k == NULL && (k = open_link(lb, err, errlen)) == NULL) return NULL;
  k->calls++;
  *link = k;
  return k->channel;
}

void loopback_release(loopback_link *k) {
  if (--k->calls == 0 && k->dead) free_link(k);
}

void loopback_free(loopback *lb) {
  for (size_t i = 0; i < lb->n; i++) free_link(lb->links[i]);
  free(lb->links);
  grpc_server_credentials_release(lb->server_creds);
  grpc_channel_credentials_release(lb->channel_creds);
  free(lb);
}
