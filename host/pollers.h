/*
** pollers.h
** Threads that do the gRPC core's network I/O, so that workers never do.
**
** The core reads a connection for as long as its socket has data, in the
** thread that polled it: one client that keeps its socket full (CONTINUATION
** or GOAWAY frames, streams opened and reset) would hold that thread for as
** long as it likes. When that thread is a worker, every call queued on the
** worker waits. So the workers' queues do not poll; these threads do, and one
** busy connection holds one of them while the others go on.
**
** The price: each event of a call crosses from one of these threads to its
** worker, and gRPC 1.51 gives a connection whose accepting pollset it cannot
** find (every one the listener hands over) to the first queue that does not
** poll: every call starts on the first worker. So they are for a port exposed
** to hostile clients (--io-threads: by default with TLS, not for h2c).
*/
#ifndef pollers_h
#define pollers_h

#include <pthread.h>
#include <stdbool.h>

#include <grpc/grpc.h>

#define POLLERS_MAX 64

typedef struct pollers {
  grpc_completion_queue *cq;        /* owned; polled only, no call is bound to it */
  pthread_t threads[POLLERS_MAX];
  int n;                            /* 0: the workers poll, as plain gRPC servers do */
  int running;                      /* threads started */
} pollers;

/* Sets p up for n threads (at most POLLERS_MAX) and registers their queue with gs, before grpc_server_start. */
void pollers_register(pollers *p, grpc_server *gs, int n);

/* A queue for a worker: one that does not poll when p has threads. */
grpc_completion_queue *pollers_worker_queue(const pollers *p);

/* A queue that does not poll: whoever waits on it gets what others' polling completes. */
grpc_completion_queue *pollers_silent_queue(void);

/* Starts the threads (after grpc_server_start). -1 if none could start. */
int pollers_spawn(pollers *p);

/* Ends the threads and frees p: after grpc_server_destroy, when no I/O is left to do. */
void pollers_stop(pollers *p);

#endif
