/*
** ioloop.h
** An epoll loop for one thread: file descriptors watched for readiness,
** timers, and a wake-up that any thread may send. Plain C; the
** outbound HTTP engine runs on one.
**
** Everything but ioloop_wake belongs to the loop's thread. A callback may
** unwatch or close any descriptor, but an object whose io_watch is in the
** batch being dispatched must stay allocated until ioloop_run returns (the
** engine frees closed connections after it).
*/
#ifndef ioloop_h
#define ioloop_h

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "timer.h"

typedef struct io_watch {
  int fd;
  uint32_t events;                  /* what epoll watches now; 0: not registered */
  void (*ready)(struct io_watch *w, uint32_t events);
} io_watch;

typedef struct ioloop {
  int epfd;
  int wakefd;                       /* an eventfd: ioloop_wake writes, the loop reads */
  timer_heap timers;
} ioloop;

/* 0, or -1 with the reason in err. */
int ioloop_init(ioloop *l, char *err, size_t errlen);
void ioloop_close(ioloop *l);

void io_watch_init(io_watch *w, int fd, void (*ready)(io_watch *w, uint32_t events));

/* Watches w->fd for events (EPOLLIN, EPOLLOUT...), or stops watching when 0. -1 with errno. */
int ioloop_watch(ioloop *l, io_watch *w, uint32_t events);

/* Arms t (timer_init'ed) at when (timer_now), disarming it first. -1 when out of memory. */
int ioloop_arm(ioloop *l, timer *t, int64_t when);
void ioloop_disarm(ioloop *l, timer *t);

/* Any thread: the loop's thread returns from ioloop_run at once. */
void ioloop_wake(ioloop *l);

/*
** Waits for readiness, the earliest timer or a wake-up, and runs the
** callbacks of what happened. True when ioloop_wake was called.
*/
bool ioloop_run(ioloop *l);

#endif
