/*
** timer.c
** Binary min-heap ordered by expiry; each node knows its slot so it can be
** disarmed in O(log n) when a sleeping call is cancelled.
*/
#include <assert.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include <grpc/support/time.h>

#include "timer.h"

static int64_t monotonic_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/*
** gRPC's monotonic clock is CLOCK_MONOTONIC, moved by whole seconds in some
** versions (by 5 in later ones, not in Debian's 1.51): the move is learnt
** once, to the nearest second, so that a reading is one clock_gettime and
** not gpr_now's conversions.
*/
static int64_t grpc_offset(void) {
  static _Atomic int64_t offset = INT64_MIN;
  int64_t off = atomic_load_explicit(&offset, memory_order_relaxed);
  if (off != INT64_MIN) return off;
  gpr_timespec g = gpr_now(GPR_CLOCK_MONOTONIC);
  double seconds = ((double)g.tv_sec * 1e9 + g.tv_nsec - (double)monotonic_ns()) / 1e9;
  off = llround(seconds) * 1000000000;
  atomic_store_explicit(&offset, off, memory_order_relaxed);
  return off;
}

int64_t timer_now(void) {
  return monotonic_ns() + grpc_offset();
}

void timer_init(timer *t, void (*fire)(timer *t)) {
  t->when = 0;
  t->slot = TIMER_IDLE;
  t->fire = fire;
}

static void place(timer_heap *h, size_t i, timer *t) {
  h->nodes[i] = t;
  t->slot = i;
}

static void sift_up(timer_heap *h, size_t i) {
  timer *t = h->nodes[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (h->nodes[parent]->when <= t->when) break;
    place(h, i, h->nodes[parent]);
    i = parent;
  }
  place(h, i, t);
}

static void sift_down(timer_heap *h, size_t i) {
  timer *t = h->nodes[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= h->n) break;
    if (child + 1 < h->n && h->nodes[child + 1]->when < h->nodes[child]->when) child++;
    if (t->when <= h->nodes[child]->when) break;
    place(h, i, h->nodes[child]);
    i = child;
  }
  place(h, i, t);
}

int timer_arm(timer_heap *h, timer *t, int64_t when) {
  assert(t->slot == TIMER_IDLE);
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 64;
    timer **nodes = realloc(h->nodes, cap * sizeof *nodes);
    if (nodes == NULL) return -1;
    h->nodes = nodes;
    h->cap = cap;
  }
  t->when = when;
  place(h, h->n++, t);
  sift_up(h, t->slot);
  return 0;
}

void timer_disarm(timer_heap *h, timer *t) {
  if (t->slot == TIMER_IDLE) return;
  size_t i = t->slot;
  t->slot = TIMER_IDLE;
  timer *last = h->nodes[--h->n];
  if (i == h->n) return;
  place(h, i, last);
  sift_down(h, i);
  sift_up(h, last->slot);
}

void timer_fire_due(timer_heap *h, int64_t now) {
  while (h->n > 0 && h->nodes[0]->when <= now) {
    timer *t = h->nodes[0];
    timer_disarm(h, t);
    t->fire(t);
  }
}

int64_t timer_next(const timer_heap *h) {
  return h->n ? h->nodes[0]->when : INT64_MAX;
}

void timer_heap_free(timer_heap *h) {
  free(h->nodes);
  h->nodes = NULL;
  h->n = h->cap = 0;
}
