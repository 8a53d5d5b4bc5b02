/*
** ioloop.c
** epoll (level-triggered), an eventfd for wake-ups, and a timer heap.
*/
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ioloop.h"

#define BATCH 64                    /* events taken from epoll at a time */

int ioloop_init(ioloop *l, char *err, size_t errlen) {
  memset(l, 0, sizeof *l);
  l->wakefd = -1;
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (l->epfd >= 0) l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (l->wakefd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) != 0) {
    snprintf(err, errlen, "cannot set up an epoll loop: %s", strerror(errno));
    ioloop_close(l);
    return -1;
  }
  return 0;
}

void ioloop_close(ioloop *l) {
  if (l->wakefd >= 0) close(l->wakefd);
  if (l->epfd >= 0) close(l->epfd);
  l->wakefd = l->epfd = -1;
  timer_heap_free(&l->timers);
}

void io_watch_init(io_watch *w, int fd, void (*ready)(io_watch *w, uint32_t events)) {
  w->fd = fd;
  w->events = 0;
  w->ready = ready;
}

int ioloop_watch(ioloop *l, io_watch *w, uint32_t events) {
  if (events == w->events) return 0;
  struct epoll_event ev = {.events = events, .data.ptr = w};
  int op = events == 0 ? EPOLL_CTL_DEL : w->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (epoll_ctl(l->epfd, op, w->fd, &ev) != 0) return -1;
  w->events = events;
  return 0;
}

int ioloop_arm(ioloop *l, timer *t, int64_t when) {
  timer_disarm(&l->timers, t);
  return timer_arm(&l->timers, t, when);
}

void ioloop_disarm(ioloop *l, timer *t) {
  timer_disarm(&l->timers, t);
}

void ioloop_wake(ioloop *l) {
  uint64_t one = 1;
  /* EAGAIN means the counter is already non-zero: the loop will wake anyway. */
  while (write(l->wakefd, &one, sizeof one) < 0 && errno == EINTR) {}
}

/* Milliseconds until the earliest timer, rounded up so that it is due on return; -1: none. */
static int wait_ms(const ioloop *l) {
  int64_t next = timer_next(&l->timers);
  if (next == INT64_MAX) return -1;
  int64_t left = next - timer_now();
  if (left <= 0) return 0;
  int64_t ms = (left + 999999) / 1000000;
  return ms > 60000 ? 60000 : (int)ms;
}

bool ioloop_run(ioloop *l) {
  struct epoll_event evs[BATCH];
  int n = epoll_wait(l->epfd, evs, BATCH, wait_ms(l));
  bool woken = false;
  for (int i = 0; i < n; i++) {
    io_watch *w = evs[i].data.ptr;
    if (w == NULL) {
      uint64_t count;
      woken = read(l->wakefd, &count, sizeof count) > 0 || woken;
      continue;
    }
    /* Unwatched by an earlier callback of this batch: what it reported is stale. */
    if (w->events != 0) w->ready(w, evs[i].events);
  }
  timer_fire_due(&l->timers, timer_now());
  return woken;
}
