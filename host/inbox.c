/*
** inbox.c
** A mutex-guarded list and a flag. The worker clears the flag before it takes
** the list, so a message posted after the take finds the flag clear and sends
** a wake-up of its own. A message taken but not yet run counts as queued: it
** is run once more only if it is posted after it was unmarked.
*/
#include <string.h>

#include <grpc/support/time.h>

#include "inbox.h"
#include "log.h"

static void on_wake(tag *t, bool ok);

int inbox_init(inbox *b, grpc_completion_queue *cq) {
  memset(b, 0, sizeof *b);
  if (pthread_mutex_init(&b->lock, NULL) != 0) return -1;
  atomic_init(&b->waking, false);
  b->cq = cq;
  b->tag.done = on_wake;
  b->details = grpc_empty_slice();
  grpc_metadata_array_init(&b->trailers);
  b->lame = grpc_lame_client_channel_create(NULL, GRPC_STATUS_UNAVAILABLE, "the worker's wake-up");
  if (b->lame != NULL) return 0;
  pthread_mutex_destroy(&b->lock);
  return -1;
}

/* Sends the wake-up: a call that fails at once, on the worker's queue. */
static void wake(inbox *b) {
  grpc_slice method = grpc_slice_from_static_string("/host.Inbox/Wake");
  b->wake = grpc_channel_create_call(b->lame, NULL, GRPC_PROPAGATE_DEFAULTS, b->cq, method, NULL,
                                     gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  grpc_op ops[2];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[1].data.recv_status_on_client.trailing_metadata = &b->trailers;
  ops[1].data.recv_status_on_client.status = &b->status;
  ops[1].data.recv_status_on_client.status_details = &b->details;
  grpc_call_error e = grpc_call_start_batch(b->wake, ops, 2, &b->tag, NULL);
  if (e == GRPC_CALL_OK) return;
  log_line(LOG_ERROR, "cannot wake a worker", "error", grpc_call_error_to_string(e), NULL);
  grpc_call_unref(b->wake);
  b->wake = NULL;
  atomic_store(&b->waking, false);
}

void inbox_post(inbox *b, inbox_msg *m) {
  pthread_mutex_lock(&b->lock);
  if (!m->queued) {
    m->queued = true;
    m->next = NULL;
    if (b->tail != NULL) b->tail->next = m;
    else b->head = m;
    b->tail = m;
  }
  pthread_mutex_unlock(&b->lock);
  if (!atomic_exchange(&b->waking, true)) wake(b);
}

/* On the worker's thread: the wake-up is back; run what was posted. */
static void on_wake(tag *t, bool ok) {
  (void)ok;
  inbox *b = CONTAINER_OF(t, inbox, tag);
  grpc_call_unref(b->wake);
  b->wake = NULL;
  grpc_slice_unref(b->details);
  b->details = grpc_empty_slice();
  grpc_metadata_array_destroy(&b->trailers);
  grpc_metadata_array_init(&b->trailers);
  atomic_store(&b->waking, false);
  pthread_mutex_lock(&b->lock);
  inbox_msg *m = b->head;
  b->head = b->tail = NULL;
  pthread_mutex_unlock(&b->lock);
  while (m != NULL) {
    inbox_msg *next = m->next;
    pthread_mutex_lock(&b->lock);   /* posted again from now on, it runs again */
    m->queued = false;
    pthread_mutex_unlock(&b->lock);
    m->run(m);
    m = next;
  }
}

bool inbox_waking(inbox *b) {
  return atomic_load(&b->waking);
}

void inbox_free(inbox *b) {
  if (b->lame == NULL) return;      /* never set up */
  grpc_channel_destroy(b->lame);
  b->lame = NULL;
  grpc_slice_unref(b->details);
  grpc_metadata_array_destroy(&b->trailers);
  pthread_mutex_destroy(&b->lock);
}
