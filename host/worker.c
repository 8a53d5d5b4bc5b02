/*
** worker.c
** The event loop of one thread: completion queue events, timers, and what
** other threads post to its inbox.
*/
#include <stddef.h>
#include <string.h>

#include <grpc/support/time.h>

#include "client.h"
#include "handler.h"
#include "log.h"
#include "logbuf.h"
#include "pollwatch.h"
#include "tag.h"
#include "worker.h"

/* How long a worker holding log lines waits for more work before it writes them. */
#define LOG_LINGER_NS 1000000

/*
** The poll's deadline: the earliest timer, and no later than LOG_LINGER_NS
** from now when log lines are held; without either, an event or a post.
*/
static gpr_timespec next_deadline(worker *w, bool lines) {
  int64_t next = timer_next(&w->calls.timers);
  if (next == INT64_MAX && !lines) return gpr_inf_future(GPR_CLOCK_MONOTONIC);
  int64_t now = timer_now();
  if (lines && now + LOG_LINGER_NS < next) next = now + LOG_LINGER_NS;
  /* gRPC rounds a deadline up to the millisecond: one due now must not wait for it. */
  if (next <= now) return gpr_inf_past(GPR_CLOCK_MONOTONIC);
  return (gpr_timespec){next / 1000000000, (int32_t)(next % 1000000000), GPR_CLOCK_MONOTONIC};
}

/* New calls run in the state a reload offered; the old one goes when its last call ends. */
static void adopt_offered(inbox_msg *m) {
  worker *w = CONTAINER_OF(m, worker, adopt);
  lvm *next = atomic_exchange(&w->offered, NULL);
  if (next == NULL) return;
  lvm_adopt(next);
  lvm_retire(w->calls.vm);
  w->calls.vm = next;
}

void worker_offer(worker *w, lvm *vm) {
  lvm_free(atomic_exchange(&w->offered, vm));
  inbox_post(&w->inbox, &w->adopt);
}

void worker_quiesce(worker *w) {
  call_queue_close(&w->calls);
}

/*
** Told on the worker's thread, as its wake-up is taken: a flag set from the
** stopping thread could be seen before its wake-up was sent, and the wake-up
** would come to a loop that had ended, and never be freed.
*/
static void stop_posted(inbox_msg *m) {
  CONTAINER_OF(m, worker, stop)->stopping = true;
}

void worker_stop(worker *w) {
  inbox_post(&w->inbox, &w->stop);
}

/* The queue is shut down only after this is false: no call may start a batch on a queue that is. */
static bool busy(worker *w) {
  return !w->stopping || w->calls.live > 0 || w->calls.posted > 0 ||
         w->calls.outbound > 0 || inbox_waking(&w->inbox);
}

/*
** Log lines held go out once the worker has had nothing to do for
** LOG_LINGER_NS, and once the oldest is LOG_FLUSH_NS old. A busy worker finds
** its queue empty for a moment between most bursts of calls: writing then
** would cost a write(2), and a wake-up of the reader, every few dozen calls.
** The poll is marked for the connection watch (pollwatch.h).
*/
static grpc_event next_event(worker *w) {
  bool lines = logbuf_held();
  gpr_timespec until = next_deadline(w, lines);
  pollmark_flip(w->mark);
  grpc_event ev = grpc_completion_queue_next(w->cq, until, NULL);
  pollmark_flip(w->mark);
  if (lines && ev.type == GRPC_QUEUE_TIMEOUT) logbuf_flush();
  else if (lines) logbuf_flush_due();
  return ev;
}

static void *run(void *arg) {
  worker *w = arg;
  logbuf_thread_begin();
  w->mark = pollwatch_register();
  lvm_adopt(w->calls.vm);
  call_queue_fill(&w->calls);
  while (busy(w)) {
    grpc_event ev = next_event(w);
    if (ev.type == GRPC_QUEUE_TIMEOUT) w->calls.empty_polls++;
    if (ev.type == GRPC_OP_COMPLETE) ((tag *)ev.tag)->done(ev.tag, ev.success != 0);
    if (timer_next(&w->calls.timers) != INT64_MAX) timer_fire_due(&w->calls.timers, timer_now());
    call_queue_fill(&w->calls);
  }
  pollwatch_unregister(w->mark);
  logbuf_thread_end();
  return NULL;
}

int worker_init(worker *w, int id, const pollers *io, grpc_server *s, const registered_method *registered,
                size_t n_registered, lvm *vm) {
  memset(w, 0, sizeof *w);
  w->id = id;
  w->calls.vm = vm;
  atomic_init(&w->offered, NULL);
  w->adopt.run = adopt_offered;
  w->stop.run = stop_posted;
  w->cq = pollers_worker_queue(io);
  w->calls.server = s;
  w->calls.cq = w->cq;
  w->calls.hooks = &handler_hooks;
  w->calls.registered = registered;
  w->calls.max_outbound = (size_t)vm->cfg->max_outbound;
  w->calls.inbox = &w->inbox;
  if (w->cq == NULL || call_queue_init(&w->calls, n_registered)) return -1;
  if (io->n > 0) {
    if (relay_init(&w->relay, &w->inbox)) return -1;
    w->relayed = true;
  }
  w->calls.clients = client_pool_new(w->relayed ? w->relay.cq : w->cq, vm->cfg->max_message_bytes);
  if (w->calls.clients == NULL) return -1;
  return inbox_init(&w->inbox, w->cq);
}

int worker_spawn(worker *w) {
  if (w->relayed && relay_spawn(&w->relay)) return -1;
  w->running = pthread_create(&w->thread, NULL, run, w) == 0;
  return w->running ? 0 : -1;
}

void worker_join(worker *w) {
  if (w->running) pthread_join(w->thread, NULL);
  w->running = false;
}

void worker_free(worker *w) {
  if (w->cq != NULL) {
    grpc_completion_queue_shutdown(w->cq);
    while (grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
      continue;
    grpc_completion_queue_destroy(w->cq);
  }
  if (w->relayed) relay_free(&w->relay);
  inbox_free(&w->inbox);
  client_pool_free(w->calls.clients);
  call_queue_free(&w->calls);
  lvm_free(w->calls.vm);
  lvm_free(atomic_exchange(&w->offered, NULL));
}
