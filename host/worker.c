/*
** worker.c
** The event loop of one thread: completion queue events and timers.
*/
#include <stddef.h>

#include <grpc/support/time.h>

#include "call.h"
#include "lvm.h"
#include "worker.h"

/* Calls requested ahead on each queue, so a burst of new calls is not served one by one. */
#define REQUEST_SLOTS 32
#define REGISTERED_SLOTS 16         /* for each registered method */

/* An idle worker still wakes this often, to adopt a reloaded state and free the old one. */
#define MAX_WAIT_NS 1000000000

#define CONTAINER_OF(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* While stopping, how often a worker looks whether its last call is gone. */
#define STOPPING_WAIT_NS 10000000

/* The earliest timer, or the idle wake-up; without timers, the clock is read only once a second. */
static gpr_timespec next_deadline(worker *w) {
  if (atomic_load_explicit(&w->stopping, memory_order_relaxed))
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_nanos(STOPPING_WAIT_NS, GPR_TIMESPAN));
  if (w->timers.n == 0) {
    if (w->idle_until == 0) w->idle_until = timer_now() + MAX_WAIT_NS;
    return gpr_time_from_nanos(w->idle_until, GPR_CLOCK_MONOTONIC);
  }
  int64_t next = timer_next(&w->timers), now = timer_now();
  /* gRPC rounds a deadline up to the millisecond: one due now must not wait for it. */
  if (next <= now) return gpr_inf_past(GPR_CLOCK_MONOTONIC);
  int64_t cap = now + MAX_WAIT_NS;
  return gpr_time_from_nanos(next < cap ? next : cap, GPR_CLOCK_MONOTONIC);
}

static void fire_timers(worker *w) {
  if (w->timers.n == 0) return;
  int64_t now = timer_now();
  timer *t;
  while ((t = timer_pop_due(&w->timers, now)) != NULL)
    call_on_timer(CONTAINER_OF(t, call, sleep));
}

/* New calls run in the state a reload offered; the old one goes when its last call ends. */
static void adopt_offered(worker *w) {
  if (atomic_load_explicit(&w->offered, memory_order_relaxed) == NULL) return;
  lvm *next = atomic_exchange(&w->offered, NULL);
  if (next == NULL) return;
  lvm_retire(w->vm);
  w->vm = next;
}

void worker_offer(worker *w, lvm *vm) {
  lvm_free(atomic_exchange(&w->offered, vm));
}

static void *run(void *arg) {
  worker *w = arg;
  for (int i = 0; i < REQUEST_SLOTS; i++)
    if (call_request(w, NULL)) break;
  for (size_t m = 0; m < w->n_registered; m++)
    for (int i = 0; i < REGISTERED_SLOTS; i++)
      if (call_request(w, &w->registered[m])) break;
  /* The queue is shut down only after this: no call may start a batch on a queue that is. */
  while (!atomic_load(&w->stopping) || w->live > 0 || w->posted > 0) {
    grpc_event ev = grpc_completion_queue_next(w->cq, next_deadline(w), NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
      w->idle_until = 0;
      w->empty_polls++;
    }
    adopt_offered(w);
    if (ev.type == GRPC_OP_COMPLETE) call_on_tag(ev.tag, ev.success != 0);
    fire_timers(w);
  }
  return NULL;
}

int worker_spawn(worker *w) {
  w->running = pthread_create(&w->thread, NULL, run, w) == 0;
  return w->running ? 0 : -1;
}

void worker_join(worker *w) {
  if (w->running) pthread_join(w->thread, NULL);
  w->running = false;
}
