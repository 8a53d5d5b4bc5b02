/*
** inbox.h
** Work handed to a worker from other threads: any thread posts a message, and
** the worker runs it on its own thread, woken at once. The C core has no
** public alarm, so the wake-up is a call on a lame channel bound to the
** worker's completion queue: its batch completes at once, on that queue, with
** UNAVAILABLE. At most one such call is in flight per inbox: messages posted
** meanwhile ride on it.
** Errors: inbox_init returns -1; a wake-up gRPC refuses is logged, and the
** messages wait for the next post.
*/
#ifndef inbox_h
#define inbox_h

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <grpc/grpc.h>

#include "tag.h"

typedef struct inbox_msg inbox_msg;

struct inbox_msg {
  inbox_msg *next;
  bool queued;                      /* in an inbox, not yet run */
  void (*run)(inbox_msg *m);        /* on the worker's thread; may free m */
};

typedef struct inbox {
  pthread_mutex_t lock;
  inbox_msg *head, *tail;           /* under lock */
  atomic_bool waking;               /* a wake-up call is in flight */
  grpc_completion_queue *cq;        /* borrowed: the worker's */
  grpc_channel *lame;
  grpc_call *wake;                  /* the wake-up call in flight, and its batch's out parameters: */
  grpc_metadata_array trailers;
  grpc_status_code status;
  grpc_slice details;
  tag tag;
} inbox;

int inbox_init(inbox *b, grpc_completion_queue *cq);

/* Any thread: m runs on the worker's thread soon. A message already queued stays where it is. */
void inbox_post(inbox *b, inbox_msg *m);

/* Whether a wake-up call is in flight: the worker's queue must not shut down before it is back. */
bool inbox_waking(inbox *b);

/* Once no thread posts any more: drops messages not run, frees the lame channel. */
void inbox_free(inbox *b);

#endif
