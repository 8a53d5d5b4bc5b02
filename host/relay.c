/*
** relay.c
** The relay's thread appends each event of its queue to a list and posts one
** message to the worker's inbox; the worker takes the whole list at once and
** runs each event's tag in order. The thread polls while it waits, as the
** I/O threads do.
*/
#include <stdlib.h>
#include <string.h>

#include <grpc/support/time.h>

#include "log.h"
#include "relay.h"

/* On the worker's thread: the events that came, in order. */
static void hand_over(inbox_msg *m) {
  relay *r = CONTAINER_OF(m, relay, msg);
  pthread_mutex_lock(&r->lock);
  relay_event *events = r->events;
  size_t n = r->n;
  r->events = NULL;
  r->n = r->cap = 0;
  pthread_mutex_unlock(&r->lock);
  for (size_t i = 0; i < n; i++) events[i].tag->done(events[i].tag, events[i].ok);
  free(events);
}

/* -1 when the list cannot grow: the event is lost, and its outbound call with it. */
static int add(relay *r, tag *t, bool ok) {
  pthread_mutex_lock(&r->lock);
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    relay_event *grown = realloc(r->events, cap * sizeof *grown);
    if (grown == NULL) {
      pthread_mutex_unlock(&r->lock);
      return -1;
    }
    r->events = grown;
    r->cap = cap;
  }
  r->events[r->n++] = (relay_event){t, ok};
  pthread_mutex_unlock(&r->lock);
  return 0;
}

static void *run(void *arg) {
  relay *r = arg;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(r->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) return NULL;
    if (ev.type != GRPC_OP_COMPLETE) continue;
    if (add(r, ev.tag, ev.success != 0) == 0) inbox_post(r->inbox, &r->msg);
    else log_line(LOG_ERROR, "out of memory: an event of an outbound call is lost", NULL);
  }
}

int relay_init(relay *r, inbox *b) {
  memset(r, 0, sizeof *r);
  r->inbox = b;
  r->msg.run = hand_over;
  r->cq = grpc_completion_queue_create_for_next(NULL);
  if (r->cq == NULL) return -1;
  pthread_mutex_init(&r->lock, NULL);
  return 0;
}

int relay_spawn(relay *r) {
  r->running = pthread_create(&r->thread, NULL, run, r) == 0;
  return r->running ? 0 : -1;
}

void relay_free(relay *r) {
  if (r->cq != NULL) grpc_completion_queue_shutdown(r->cq);
  if (r->running) pthread_join(r->thread, NULL);
  if (r->cq != NULL) grpc_completion_queue_destroy(r->cq);
  free(r->events);
  pthread_mutex_destroy(&r->lock);
}
