/*
** worker.h
** One thread: its completion queue, its Lua state, its calls and timers, its
** event loop. Every event of a call comes back to the worker that requested
** the call, so a Lua state is only ever used by the thread it was handed to.
** Other threads reach a worker only through its inbox (reload, stop), but
** for the close of its call queue before the server shuts down.
*/
#ifndef worker_h
#define worker_h

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <grpc/grpc.h>

#include "call.h"
#include "inbox.h"
#include "lvm.h"
#include "pollers.h"
#include "relay.h"

typedef struct worker {
  int id;
  grpc_completion_queue *cq;        /* owned; registered with the server */
  call_queue calls;                 /* its calls; calls.vm is the state new calls run in */
  inbox inbox;
  relay relay;                      /* its outbound calls' queue, when cq does not poll */
  bool relayed;
  inbox_msg adopt;                  /* posted when a state is offered */
  _Atomic(lvm *) offered;           /* a reload's new state, adopted on the worker's thread */
  inbox_msg stop;                   /* posted when the server is down */
  bool stopping;                    /* it was run: end once no call is left */
  pthread_t thread;
  bool running;                     /* the thread was started */
  struct pollmark *mark;            /* its polls, for the connection watch (pollwatch.h) */
} worker;

/*
** Sets w up to serve s's calls in vm (which w owns from now on), on a queue
** that polls unless io has threads to do it; w->cq must be registered with
** the server before it starts. -1 when out of memory.
*/
int worker_init(worker *w, int id, const pollers *io, grpc_server *s, const registered_method *registered,
                size_t n_registered, lvm *vm);

/* Runs w's loop on a new thread: posts its request slots, serves until told to stop. */
int worker_spawn(worker *w);

/* Hands w a new Lua state (from any thread); one offered before and not yet adopted is freed. */
void worker_offer(worker *w, lvm *vm);

/* From any thread, before the server's shutdown: w asks gRPC for no new call from now on. */
void worker_quiesce(worker *w);

/* From any thread: w ends once its calls are over (after the server stopped handing it any). */
void worker_stop(worker *w);

void worker_join(worker *w);

/* After worker_join and the server's destruction: drains w's queue and frees it all. */
void worker_free(worker *w);

#endif
