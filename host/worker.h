/*
** worker.h
** One thread: its completion queue, its Lua state, its timers, its event loop.
** Every tag of a call comes back to the worker that requested the call, so a
** lua_State is only ever touched by the thread that owns it.
*/
#ifndef worker_h
#define worker_h

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <grpc/grpc.h>

#include "codec.h"
#include "schema.h"
#include "timer.h"

struct lvm;

/*
** A method registered with the server before it started: its calls arrive
** with their one request already read, one event sooner. Unary and
** server-streaming methods of the schema the host started with; the rest come
** through grpc_server_request_call.
*/
typedef struct registered_method {
  void *handle;
  char *path;                       /* owned: outlives every schema a reload frees */
} registered_method;

typedef struct worker {
  int id;
  grpc_server *server;              /* borrowed from the server */
  grpc_completion_queue *cq;        /* owned; registered with the server */
  struct lvm *vm;                   /* owned: the Lua state new calls run in */
  _Atomic(struct lvm *) offered;    /* a reload's new state, adopted at the next event */
  timer_heap timers;
  int64_t idle_until;               /* when an idle wait ends (monotonic ns), 0 once it has */
  unsigned empty_polls;             /* waits on the queue that found it empty */
  codec_buf buf;                    /* scratch for encoding, reset per message */
  size_t max_message_bytes;
  size_t compress_min_bytes;        /* 0: never compress */
  const registered_method *registered;   /* borrowed from the server */
  size_t n_registered;
  size_t posted;                    /* request slots outstanding */
  size_t live;                      /* calls handed over and not yet freed */
  atomic_bool stopping;             /* the server is down: end once no call is left */
  pthread_t thread;
  bool running;                     /* the thread was started */
} worker;

/* Runs w's loop on a new thread: posts its request slots, serves until its queue shuts down. */
int worker_spawn(worker *w);

/* Hands w a new Lua state (from any thread); one offered before and not yet adopted is freed. */
void worker_offer(worker *w, struct lvm *vm);
void worker_join(worker *w);

#endif
