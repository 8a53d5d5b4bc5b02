/*
** pollers.c
** I/O threads: each waits on one shared queue that never receives an event,
** which makes it poll the network for every connection of the server.
*/
#include <string.h>

#include <grpc/support/time.h>

#include "pollers.h"

void pollers_register(pollers *p, grpc_server *gs, int n) {
  memset(p, 0, sizeof *p);
  p->n = n < POLLERS_MAX ? n : POLLERS_MAX;
  if (p->n == 0) return;
  p->cq = grpc_completion_queue_create_for_next(NULL);
  grpc_server_register_completion_queue(gs, p->cq, NULL);
}

grpc_completion_queue *pollers_silent_queue(void) {
  grpc_completion_queue_attributes attr = {GRPC_CQ_CURRENT_VERSION, GRPC_CQ_NEXT, GRPC_CQ_NON_POLLING, NULL};
  return grpc_completion_queue_create(grpc_completion_queue_factory_lookup(&attr), &attr, NULL);
}

grpc_completion_queue *pollers_worker_queue(const pollers *p) {
  return p->n == 0 ? grpc_completion_queue_create_for_next(NULL) : pollers_silent_queue();
}

static void *run(void *arg) {
  grpc_completion_queue *cq = arg;
  while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type != GRPC_QUEUE_SHUTDOWN)
    continue;
  return NULL;
}

int pollers_spawn(pollers *p) {
  while (p->running < p->n && pthread_create(&p->threads[p->running], NULL, run, p->cq) == 0)
    p->running++;
  return p->n > 0 && p->running == 0 ? -1 : 0;
}

void pollers_stop(pollers *p) {
  if (p->cq != NULL) grpc_completion_queue_shutdown(p->cq);
  for (int i = 0; i < p->running; i++) pthread_join(p->threads[i], NULL);
  if (p->cq != NULL) grpc_completion_queue_destroy(p->cq);
  memset(p, 0, sizeof *p);
}
