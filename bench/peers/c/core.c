/*
** core.c
** The bare C core peer's server and loop (core.h): request slots posted ahead
** as the host posts them (REQUEST_SLOTS for any method, REGISTERED_SLOTS for
** each registered one), every event dispatched through its tag, a call freed
** once its status went and every batch is back.
**
**   core_server [--port N]     serves on 0.0.0.0:N (50051) until killed
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "chanargs.h"
#include "core.h"
#include "mutexdebug.h"

#define REQUEST_SLOTS 8
#define REGISTERED_SLOTS 4

#define CONTAINER_OF(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

static const core_method *const methods[] = {&core_unary, &core_server_stream, &core_client_stream,
                                             &core_bidi};
#define N_METHODS (sizeof methods / sizeof methods[0])

static grpc_server *server;
static grpc_completion_queue *cq;
static void *handles[N_METHODS];

static void on_arrived(tag *t, bool ok);
static void on_received(tag *t, bool ok);
static void on_sent(tag *t, bool ok);
static void on_finished(tag *t, bool ok);

static void call_free(core_call *c) {
  if (c->gc != NULL) grpc_call_unref(c->gc);
  grpc_byte_buffer_destroy(c->message);
  grpc_byte_buffer_destroy(c->out);
  grpc_slice_unref(c->name);
  grpc_call_details_destroy(&c->details);
  grpc_metadata_array_destroy(&c->metadata);
  free(c);
}

static void maybe_free(core_call *c) {
  if (c->finished_sent && c->pending == 0) call_free(c);
}

/* One slot for a call of methods[i] (registered), or of any other method when i is N_METHODS. */
static void request(size_t i) {
  core_call *c = calloc(1, sizeof *c);
  if (c == NULL) {
    fprintf(stderr, "core_server: out of memory\n");
    exit(1);
  }
  c->arrived.done = on_arrived;
  c->received.done = on_received;
  c->sent.done = on_sent;
  c->finished.done = on_finished;
  c->name = grpc_empty_slice();
  grpc_call_details_init(&c->details);
  grpc_metadata_array_init(&c->metadata);
  grpc_call_error e;
  if (i < N_METHODS) {
    c->method = methods[i];
    e = grpc_server_request_registered_call(server, handles[i], &c->gc, &c->deadline, &c->metadata,
                                            &c->message, cq, cq, &c->arrived);
  } else {
    e = grpc_server_request_call(server, &c->gc, &c->details, &c->metadata, cq, cq, &c->arrived);
  }
  if (e != GRPC_CALL_OK) {
    fprintf(stderr, "core_server: request_call: %s\n", grpc_call_error_to_string(e));
    exit(1);
  }
}

static const core_method *find_method(grpc_slice path) {
  for (size_t i = 0; i < N_METHODS; i++)
    if (!methods[i]->registered && grpc_slice_str_cmp(path, methods[i]->path) == 0) return methods[i];
  return NULL;
}

static size_t slot_of(const core_method *m) {
  for (size_t i = 0; i < N_METHODS; i++)
    if (methods[i] == m) return i;
  return N_METHODS;
}

static void on_arrived(tag *t, bool ok) {
  core_call *c = CONTAINER_OF(t, core_call, arrived);
  if (!ok) {
    call_free(c);
    return;
  }
  request(c->method != NULL ? slot_of(c->method) : N_METHODS);
  if (c->method == NULL) c->method = find_method(c->details.method);
  if (c->method == NULL) core_finish(c, GRPC_STATUS_UNIMPLEMENTED, NULL);
  else c->method->arrived(c);
  maybe_free(c);
}

static void on_received(tag *t, bool ok) {
  core_call *c = CONTAINER_OF(t, core_call, received);
  c->pending--;
  c->method->received(c, ok);
  maybe_free(c);
}

static void on_sent(tag *t, bool ok) {
  core_call *c = CONTAINER_OF(t, core_call, sent);
  c->pending--;
  grpc_byte_buffer_destroy(c->out);
  c->out = NULL;
  c->method->sent(c, ok);
  maybe_free(c);
}

static void on_finished(tag *t, bool ok) {
  (void)ok;
  core_call *c = CONTAINER_OF(t, core_call, finished);
  c->pending--;
  maybe_free(c);
}

bool core_batch(core_call *c, grpc_op *ops, size_t n, tag *t) {
  grpc_call_error e = grpc_call_start_batch(c->gc, ops, n, t, NULL);
  if (e != GRPC_CALL_OK) {
    fprintf(stderr, "core_server: batch refused: %s\n", grpc_call_error_to_string(e));
    grpc_call_cancel(c->gc, NULL);
    return false;
  }
  c->pending++;
  return true;
}

static size_t headers_op(core_call *c, grpc_op *op) {
  if (c->headers_sent) return 0;
  c->headers_sent = true;
  memset(op, 0, sizeof *op);
  op->op = GRPC_OP_SEND_INITIAL_METADATA;
  return 1;
}

static size_t message_op(grpc_op *op, grpc_byte_buffer *bb, uint32_t flags) {
  memset(op, 0, sizeof *op);
  op->op = GRPC_OP_SEND_MESSAGE;
  op->flags = flags;
  op->data.send_message.send_message = bb;
  return 1;
}

void core_send(core_call *c, grpc_byte_buffer *bb, uint32_t flags) {
  grpc_op ops[2];
  size_t n = headers_op(c, &ops[0]);
  n += message_op(&ops[n], bb, flags);
  c->out = bb;
  core_batch(c, ops, n, &c->sent);
}

void core_recv(core_call *c) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &c->message;
  core_batch(c, &op, 1, &c->received);
}

void core_finish(core_call *c, grpc_status_code status, grpc_byte_buffer *reply) {
  grpc_op ops[4];
  size_t n = headers_op(c, &ops[0]);
  if (reply != NULL) {
    n += message_op(&ops[n], reply, 0);
    c->out = reply;
  }
  memset(&ops[n], 0, 2 * sizeof ops[0]);
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = status;
  ops[n + 1].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  ops[n + 1].data.recv_close_on_server.cancelled = &c->close_cancelled;
  c->finished_sent = true;
  core_batch(c, ops, n + 2, &c->finished);
}

static int parse_port(int argc, char **argv) {
  int port = 50051;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else if (strncmp(argv[i], "--port=", 7) == 0) {
      port = atoi(argv[i] + 7);
    } else {
      fprintf(stderr, "usage: %s [--port N]\n", argv[0]);
      exit(2);
    }
  }
  if (port <= 0 || port > 65535) {
    fprintf(stderr, "core_server: bad port\n");
    exit(2);
  }
  return port;
}

int main(int argc, char **argv) {
  char address[32];
  snprintf(address, sizeof address, "0.0.0.0:%d", parse_port(argc, argv));
  mutexdebug_off();                 /* as the host does (host/mutexdebug.h) */
  grpc_init();
  grpc_arg no_channelz = chanarg_no_channelz();   /* as the host has it (host/chanargs.h) */
  grpc_channel_args args = {1, &no_channelz};
  server = grpc_server_create(&args, NULL);
  for (size_t i = 0; i < N_METHODS; i++) {
    if (!methods[i]->registered) continue;
    handles[i] = grpc_server_register_method(server, methods[i]->path, NULL,
                                             GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    if (handles[i] == NULL) {
      fprintf(stderr, "core_server: cannot register %s\n", methods[i]->path);
      return 1;
    }
  }
  cq = grpc_completion_queue_create_for_next(NULL);
  grpc_server_register_completion_queue(server, cq, NULL);
  grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
  int bound = grpc_server_add_http2_port(server, address, creds);
  grpc_server_credentials_release(creds);
  if (bound == 0) {
    fprintf(stderr, "core_server: cannot listen on %s\n", address);
    return 1;
  }
  grpc_server_start(server);
  for (size_t i = 0; i < N_METHODS; i++)
    for (int k = 0; methods[i]->registered && k < REGISTERED_SLOTS; k++) request(i);
  for (int k = 0; k < REQUEST_SLOTS; k++) request(N_METHODS);
  printf("core_server listening on %s\n", address);
  fflush(stdout);
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    if (ev.type != GRPC_OP_COMPLETE) break;
    tag *t = ev.tag;
    t->done(t, ev.success != 0);
  }
  return 0;
}
