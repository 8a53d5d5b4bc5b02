/*
** logbuf.c
** Per-thread buffers of log lines, and the one place that writes stdout.
**
** Every buffer is a slot of a static table, so that the exit and crash paths
** can find them all. A slot's state says who may touch its lines: its own
** thread while BUSY; the exit or crash path, which takes IDLE slots for good
** (DEAD) and writes what they hold. A thread whose slot is DEAD writes at once
** from then on.
*/
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "logbuf.h"

/* A pipe's default capacity: a burst this large is one write. */
#define BUFFER_BYTES (64 * 1024)
#define MAX_SLOTS 1024

enum { SLOT_FREE, SLOT_IDLE, SLOT_BUSY, SLOT_DEAD };

typedef struct slot {
  _Alignas(64) atomic_int state;    /* a cache line each: threads do not share theirs */
  char *lines;                      /* BUFFER_BYTES, kept for the next thread that takes the slot */
  size_t len;
  int64_t oldest;                   /* coarse_now() when the first line held came */
} slot;

static slot slots[MAX_SLOTS];
static atomic_size_t slots_used;    /* every slot ever taken is below this */
static _Thread_local slot *mine;

/* One writer at a time: a pipe takes a long write in pieces when it fills up. */
static pthread_mutex_t stdout_lock = PTHREAD_MUTEX_INITIALIZER;

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGABRT};
#define N_FATAL (sizeof fatal_signals / sizeof fatal_signals[0])
static struct sigaction previous[N_FATAL];
static pthread_once_t installed = PTHREAD_ONCE_INIT;

/* A clock of a few milliseconds' resolution, at a fraction of the cost of a precise one. */
static int64_t coarse_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* All of p, through partial writes and interruptions. Async-signal-safe. */
static void write_all(const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(STDOUT_FILENO, p, n);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd out = {.fd = STDOUT_FILENO, .events = POLLOUT};
      poll(&out, 1, -1);            /* stdout was left non-blocking: wait until it takes more */
    } else {
      return;                       /* stdout is gone (closed pipe): nothing more to be done */
    }
  }
}

static void write_now(const char *lines, size_t len) {
  pthread_mutex_lock(&stdout_lock);
  fflush(stdout);                   /* what printf left goes first */
  write_all(lines, len);
  pthread_mutex_unlock(&stdout_lock);
}

/* The slot for this thread to fill or write; false once the exit or crash path has taken it. */
static bool claim(slot *s) {
  int idle = SLOT_IDLE;
  if (atomic_compare_exchange_strong_explicit(&s->state, &idle, SLOT_BUSY, memory_order_acquire,
                                              memory_order_relaxed))
    return true;
  mine = NULL;
  return false;
}

static void release(slot *s) {
  atomic_store_explicit(&s->state, SLOT_IDLE, memory_order_release);
}

static void flush_claimed(slot *s) {
  if (s->len == 0) return;
  pthread_mutex_lock(&stdout_lock);
  write_all(s->lines, s->len);
  pthread_mutex_unlock(&stdout_lock);
  s->len = 0;
}

void logbuf_write(const char *lines, size_t len) {
  slot *s = mine;
  if (s == NULL || !claim(s)) {
    write_now(lines, len);
    return;
  }
  int64_t now = coarse_now();
  if (s->len + len > BUFFER_BYTES) flush_claimed(s);
  if (len > BUFFER_BYTES) {
    write_now(lines, len);
  } else {
    if (s->len == 0) s->oldest = now;
    memcpy(s->lines + s->len, lines, len);
    s->len += len;
  }
  if (s->len > 0 && now - s->oldest >= LOG_FLUSH_NS) flush_claimed(s);
  release(s);
}

void logbuf_flush(void) {
  slot *s = mine;
  if (s == NULL || s->len == 0 || !claim(s)) return;
  flush_claimed(s);
  release(s);
}

bool logbuf_held(void) {
  const slot *s = mine;
  return s != NULL && s->len > 0;
}

void logbuf_flush_due(void) {
  if (logbuf_held() && coarse_now() - mine->oldest >= LOG_FLUSH_NS) logbuf_flush();
}

/* Takes every idle slot for good and writes what it holds. Async-signal-safe. */
static void write_all_held(void) {
  size_t n = atomic_load(&slots_used);
  for (size_t i = 0; i < n; i++) {
    int idle = SLOT_IDLE;
    if (atomic_compare_exchange_strong(&slots[i].state, &idle, SLOT_DEAD) && slots[i].len > 0)
      write_all(slots[i].lines, slots[i].len);
  }
}

static void at_exit(void) {
  pthread_mutex_lock(&stdout_lock);
  write_all_held();
  pthread_mutex_unlock(&stdout_lock);
}

/*
** Writes what every thread holds, then lets the signal do what it did before:
** a fault happens again when the handler returns (now under the old action,
** with its own context, as a sanitizer's handler needs); a signal sent by kill
** or abort is raised again.
*/
static void on_fatal(int sig, siginfo_t *info, void *context) {
  (void)context;
  int saved = errno;
  write_all_held();
  for (size_t i = 0; i < N_FATAL; i++)
    if (fatal_signals[i] == sig) sigaction(sig, &previous[i], NULL);
  if (info->si_code <= 0) raise(sig);
  errno = saved;
}

static void install_handlers(void) {
  struct sigaction sa = {.sa_sigaction = on_fatal, .sa_flags = SA_SIGINFO};
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < N_FATAL; i++)
    if (sigaction(fatal_signals[i], &sa, &previous[i]) != 0)
      fprintf(stderr, "host: cannot handle signal %d: log lines held at a crash are lost\n", fatal_signals[i]);
  if (atexit(at_exit) != 0) fputs("host: cannot register the log flush at exit\n", stderr);
}

void logbuf_thread_begin(void) {
  if (mine != NULL) return;
  pthread_once(&installed, install_handlers);
  for (size_t i = 0; i < MAX_SLOTS; i++) {
    slot *s = &slots[i];
    int free_slot = SLOT_FREE;
    if (!atomic_compare_exchange_strong(&s->state, &free_slot, SLOT_BUSY)) continue;
    size_t used = atomic_load(&slots_used);
    while (used <= i && !atomic_compare_exchange_weak(&slots_used, &used, i + 1)) {}
    if (s->lines == NULL) s->lines = malloc(BUFFER_BYTES);
    if (s->lines == NULL) {         /* this thread writes at once */
      atomic_store(&s->state, SLOT_FREE);
      return;
    }
    s->len = 0;
    mine = s;
    release(s);
    return;
  }
}

void logbuf_thread_end(void) {
  slot *s = mine;
  if (s == NULL || !claim(s)) return;
  flush_claimed(s);
  mine = NULL;
  atomic_store_explicit(&s->state, SLOT_FREE, memory_order_release);
}
