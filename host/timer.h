/*
** timer.h
** A worker's timers: a binary min-heap of nodes embedded in their owners.
** The C core has no public timer; a worker passes the earliest expiry as the
** deadline of grpc_completion_queue_next.
*/
#ifndef timer_h
#define timer_h

#include <stddef.h>
#include <stdint.h>

typedef struct timer timer;

struct timer {
  int64_t when;               /* monotonic nanoseconds */
  size_t slot;                /* index in the heap while armed, else TIMER_IDLE */
  void (*fire)(timer *t);     /* runs when it is due, disarmed; its owner finds itself with CONTAINER_OF */
};

#define TIMER_IDLE ((size_t)-1)

typedef struct timer_heap {
  timer **nodes;
  size_t n;
  size_t cap;
} timer_heap;

/* gRPC's monotonic clock, so an expiry can be a completion queue deadline as it is. */
int64_t timer_now(void);

void timer_init(timer *t, void (*fire)(timer *t));
/* Arms t at `when`; -1 when the heap cannot grow. t must be idle. */
int timer_arm(timer_heap *h, timer *t, int64_t when);
/* Disarms t if armed. */
void timer_disarm(timer_heap *h, timer *t);
/* Fires, in order of expiry, every timer due at `now`. */
void timer_fire_due(timer_heap *h, int64_t now);
/* The earliest expiry, or INT64_MAX when nothing is armed. */
int64_t timer_next(const timer_heap *h);
void timer_heap_free(timer_heap *h);

#endif
