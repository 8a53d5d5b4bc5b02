/*
** relay.h
** A polling queue for a worker whose own queue does not poll (pollers.h).
** gRPC binds an outbound call's I/O to its queue's pollset, and a queue that
** does not poll has none (gRPC 1.51 aborts on it). So a worker's outbound
** calls go on a relay's queue; a thread of the relay waits on it and hands
** each event to the worker through its inbox, where the event's tag runs as
** if it had come on the worker's queue.
*/
#ifndef relay_h
#define relay_h

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <grpc/grpc.h>

#include "inbox.h"
#include "tag.h"

typedef struct relay_event {
  tag *tag;
  bool ok;
} relay_event;

typedef struct relay {
  grpc_completion_queue *cq;        /* owned: the worker's outbound calls are bound to it */
  inbox *inbox;                     /* borrowed: the worker's */
  inbox_msg msg;                    /* posted when events wait */
  pthread_mutex_t lock;
  relay_event *events;              /* under lock: what came, not yet handed over */
  size_t n, cap;
  pthread_t thread;
  bool running;
} relay;

/* Sets r up to hand events to b's worker; -1 when out of memory. */
int relay_init(relay *r, inbox *b);

/* Starts the thread. -1 when it cannot start. */
int relay_spawn(relay *r);

/* Once no outbound call is left: ends the thread and frees r. */
void relay_free(relay *r);

#endif
