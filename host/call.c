/*
** call.c
** The call state machine. Each completed batch lands in call_on_tag, which
** updates the state and wakes the handler if it waits on that event.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include <lauxlib.h>

#include "call.h"
#include "log.h"
#include "status.h"
#include "lvm.h"
#include "worker.h"

#define DETAILS_MAX 256

/* The longest status message sent; the log has the whole of it. */
#define STATUS_MESSAGE_MAX 2048
#define TRUNCATED "... (cut; the host's log has it whole)"

/*
** Sends that complete at once (gzip makes a large message tiny) would let a
** handler keep its worker from ever polling the network. Every this many, the
** handler waits, with nothing in flight, until its worker has found the queue
** empty twice: the first may only clear the wake-up its sends left, the second
** polls.
*/
#define SENDS_PER_TURN 64

static call *call_new(worker *w) {
  call *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->worker = w;
  for (int k = 0; k < TAG_COUNT; k++) {
    c->tags[k].call = c;
    c->tags[k].kind = (call_tag_kind)k;
  }
  grpc_call_details_init(&c->details);
  grpc_metadata_array_init(&c->request_md);
  c->status_details = grpc_empty_slice();
  c->recv_bytes = grpc_empty_slice();
  c->co_ref = LUA_NOREF;
  timer_init(&c->sleep);
  return c;
}

static void metadata_free(call_metadata *list) {
  for (size_t i = 0; i < list->n; i++) {
    grpc_slice_unref(list->items[i].key);
    grpc_slice_unref(list->items[i].value);
  }
  free(list->items);
}

/* One line per call, when it is freed: what a log service needs to account for it. */
static void log_call(call *c) {
  if (!log_calls()) return;
  char duration[32], in[24], out[24];
  snprintf(duration, sizeof duration, "%.3f", (double)(timer_now() - c->started) / 1e6);
  snprintf(in, sizeof in, "%zu", c->bytes_in);
  snprintf(out, sizeof out, "%zu", c->bytes_out);
  char *method = grpc_slice_to_c_string(c->details.method);
  const grpc_slice *rid = call_find_metadata(c, "x-fc-request-id");
  char *request_id = rid ? grpc_slice_to_c_string(*rid) : NULL;
  /* What the client saw: a cancelled call never got the status its handler chose. */
  grpc_status_code code = c->status;
  if (c->cancelled || !c->finishing)
    code = call_seconds_left(c) == 0 ? GRPC_STATUS_DEADLINE_EXCEEDED : GRPC_STATUS_CANCELLED;
  log_line(LOG_INFO, "call", "method", method, "status", status_name(code), "duration_ms", duration,
           "bytes_in", in, "bytes_out", out, "peer", call_peer(c), "request_id", request_id, NULL);
  gpr_free(request_id);
  gpr_free(method);
}

static void call_free(call *c) {
  if (c->gc != NULL) {
    log_call(c);
    grpc_call_unref(c->gc);
    c->worker->live--;
  }
  if (c->vm != NULL) lvm_release(c->vm);
  grpc_byte_buffer_destroy(c->recv_buf);
  grpc_byte_buffer_destroy(c->sending);
  grpc_byte_buffer_destroy(c->outbox);
  grpc_byte_buffer_destroy(c->reply);
  metadata_free(&c->headers);
  metadata_free(&c->trailers);
  grpc_slice_unref(c->status_details);
  grpc_slice_unref(c->recv_bytes);
  gpr_free(c->peer);
  grpc_call_details_destroy(&c->details);
  grpc_metadata_array_destroy(&c->request_md);
  free(c);
}

/* Nothing holds c any more: no coroutine, no batch in gRPC. */
static void maybe_free(call *c) {
  if (c->pending == 0 && c->co == NULL) call_free(c);
}

static int start_batch(call *c, const grpc_op *ops, size_t n, call_tag_kind kind) {
  grpc_call_error e = grpc_call_start_batch(c->gc, ops, n, &c->tags[kind], NULL);
  if (e != GRPC_CALL_OK) {
    char *method = grpc_slice_to_c_string(c->details.method);
    log_line(LOG_ERROR, "gRPC refused a batch", "method", method,
             "error", grpc_call_error_to_string(e), NULL);
    gpr_free(method);
    grpc_call_cancel(c->gc, NULL);
    return -1;
  }
  c->pending++;
  return 0;
}

/* The SEND_INITIAL_METADATA op, if the headers are still to go. */
static size_t add_headers_op(call *c, grpc_op *op) {
  if (c->headers_sent) return 0;
  c->headers_sent = true;
  memset(op, 0, sizeof *op);
  op->op = GRPC_OP_SEND_INITIAL_METADATA;
  op->data.send_initial_metadata.count = c->headers.n;
  op->data.send_initial_metadata.metadata = c->headers.items;
  /* The core picks gzip or deflate from what the client accepts, or nothing. */
  if (c->worker->compress_min_bytes > 0) {
    op->data.send_initial_metadata.maybe_compression_level.is_set = 1;
    op->data.send_initial_metadata.maybe_compression_level.level = GRPC_COMPRESS_LEVEL_LOW;
  }
  return 1;
}

static size_t add_message_op(call *c, grpc_op *op, grpc_byte_buffer *bb, uint32_t flags) {
  memset(op, 0, sizeof *op);
  op->op = GRPC_OP_SEND_MESSAGE;
  op->data.send_message.send_message = bb;
  op->flags = flags;
  size_t len = grpc_byte_buffer_length(bb);
  if (len < c->worker->compress_min_bytes) op->flags |= GRPC_WRITE_NO_COMPRESS;
  c->bytes_out += len;
  return 1;
}

static size_t add_close_op(call *c, grpc_op *op) {
  if (c->close_posted) return 0;
  c->close_posted = true;
  memset(op, 0, sizeof *op);
  op->op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op->data.recv_close_on_server.cancelled = &c->close_cancelled;
  return 1;
}

void call_watch_close(call *c) {
  grpc_op op;
  if (add_close_op(c, &op)) start_batch(c, &op, 1, TAG_CLOSE);
}

static void start_finish(call *c) {
  grpc_op ops[4];
  size_t n = add_close_op(c, &ops[0]);
  c->close_with_finish = n == 1;
  n += add_headers_op(c, &ops[n]);
  if (c->reply != NULL) n += add_message_op(c, &ops[n], c->reply, 0);
  grpc_op *op = &ops[n++];
  memset(op, 0, sizeof *op);
  op->op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  op->data.send_status_from_server.trailing_metadata_count = c->trailers.n;
  op->data.send_status_from_server.trailing_metadata = c->trailers.items;
  op->data.send_status_from_server.status = c->status;
  op->data.send_status_from_server.status_details = &c->status_details;
  c->finish_sent = true;
  start_batch(c, ops, n, TAG_FINISH);
}

void call_finish(call *c, grpc_status_code status, const char *details, grpc_byte_buffer *reply) {
  if (c->finishing) {
    grpc_byte_buffer_destroy(reply);
    return;
  }
  c->finishing = true;
  c->status = status;
  if (details != NULL) {
    /* Clients refuse trailers past their header-list limit (8 KiB by default): cut long messages. */
    size_t len = strlen(details);
    grpc_slice_unref(c->status_details);
    if (len <= STATUS_MESSAGE_MAX) {
      c->status_details = grpc_slice_from_copied_buffer(details, len);
    } else {
      c->status_details = grpc_slice_malloc(STATUS_MESSAGE_MAX + sizeof TRUNCATED - 1);
      memcpy(GRPC_SLICE_START_PTR(c->status_details), details, STATUS_MESSAGE_MAX);
      memcpy(GRPC_SLICE_START_PTR(c->status_details) + STATUS_MESSAGE_MAX, TRUNCATED, sizeof TRUNCATED - 1);
    }
  }
  c->reply = reply;
  if (c->sending == NULL) start_finish(c);
}

int call_recv(call *c) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &c->recv_buf;
  return start_batch(c, &op, 1, TAG_RECV);
}

/*
** GRPC_WRITE_BUFFER_HINT lets the transport hold the message (up to its write
** buffer size, 64 KiB) and report it sent at once; the next message without
** the hint, or the status, writes out everything held.
*/
static int start_send(call *c, grpc_byte_buffer *bb, uint32_t flags) {
  grpc_op ops[2];
  size_t n = add_headers_op(c, &ops[0]);
  n += add_message_op(c, &ops[n], bb, flags);
  c->sending = bb;
  if (start_batch(c, ops, n, TAG_SEND) == 0) return 0;
  c->sending = NULL;
  grpc_byte_buffer_destroy(bb);
  return -1;
}

bool call_can_send(const call *c) {
  return c->outbox == NULL;
}

int call_send(call *c, grpc_byte_buffer *bb) {
  if (c->sending == NULL) return start_send(c, bb, 0);
  c->outbox = bb;
  return 0;
}

/* Takes k and v: appended, or unreferenced when the list cannot grow. */
static int metadata_append(call_metadata *list, grpc_slice k, grpc_slice v) {
  if (list->n == list->cap) {
    size_t cap = list->cap ? list->cap * 2 : 4;
    grpc_metadata *items = realloc(list->items, cap * sizeof *items);
    if (items == NULL) {
      grpc_slice_unref(k);
      grpc_slice_unref(v);
      return -1;
    }
    list->items = items;
    list->cap = cap;
  }
  grpc_metadata *md = &list->items[list->n++];
  memset(md, 0, sizeof *md);
  md->key = k;
  md->value = v;
  return 0;
}

int call_metadata_add(call_metadata *list, const char *key, size_t klen,
                      const char *value, size_t vlen, char *err, size_t errlen) {
  grpc_slice k = grpc_slice_from_copied_buffer(key, klen);
  grpc_slice v = grpc_slice_from_copied_buffer(value, vlen);
  const char *problem = NULL;
  if (!grpc_header_key_is_legal(k))
    problem = "is not a legal key (lower-case letters, digits, '-', '_', '.')";
  else if (klen >= 5 && memcmp(key, "grpc-", 5) == 0)
    problem = "is reserved for gRPC";
  else if (!grpc_is_binary_header(k) && !grpc_header_nonbin_value_is_legal(v))
    problem = "has a value with characters not allowed in text metadata (use a -bin key)";
  if (problem != NULL) {
    grpc_slice_unref(k);
    grpc_slice_unref(v);
  } else if (metadata_append(list, k, v)) {
    problem = "could not be stored: out of memory";
  }
  if (problem == NULL) return 0;
  snprintf(err, errlen, "metadata key '%.*s' %s", (int)(klen > 64 ? 64 : klen), key, problem);
  return -1;
}

int call_status_details(call *c, const char *status, size_t len) {
  return metadata_append(&c->trailers, grpc_slice_from_static_string("grpc-status-details-bin"),
                         grpc_slice_from_copied_buffer(status, len));
}

const char *call_peer(call *c) {
  if (c->peer == NULL) c->peer = grpc_call_get_peer(c->gc);
  return c->peer;
}

const grpc_slice *call_find_metadata(const call *c, const char *key) {
  size_t len = strlen(key);
  for (size_t i = 0; i < c->request_md.count; i++) {
    const grpc_slice *k = &c->request_md.metadata[i].key;
    if (GRPC_SLICE_LENGTH(*k) == len && memcmp(GRPC_SLICE_START_PTR(*k), key, len) == 0)
      return &c->request_md.metadata[i].value;
  }
  return NULL;
}

double call_seconds_left(const call *c) {
  gpr_timespec deadline = gpr_convert_clock_type(c->details.deadline, GPR_CLOCK_MONOTONIC);
  if (gpr_time_cmp(deadline, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 0) return -1;
  double left = gpr_timespec_to_micros(gpr_time_sub(deadline, gpr_now(GPR_CLOCK_MONOTONIC))) / 1e6;
  return left > 0 ? left : 0;
}

/* grpc-go's wording, so clients see the messages they know. */
static void finish_unimplemented(call *c) {
  char path[DETAILS_MAX], details[DETAILS_MAX + 64];
  size_t len = GRPC_SLICE_LENGTH(c->details.method);
  if (len >= sizeof path) len = sizeof path - 1;
  memcpy(path, GRPC_SLICE_START_PTR(c->details.method), len);
  path[len] = '\0';
  char *service = path[0] == '/' ? path + 1 : path;
  char *slash = strchr(service, '/');
  const char *method = "";
  if (slash != NULL) {
    *slash = '\0';
    method = slash + 1;
  }
  if (c->method != NULL)
    snprintf(details, sizeof details, "method %s of service %s has no Lua handler", method, service);
  else if (schema_find_service(c->vm->schema, service) != NULL)
    snprintf(details, sizeof details, "unknown method %s for service %s", method, service);
  else
    snprintf(details, sizeof details, "unknown service %s", service);
  call_finish(c, GRPC_STATUS_UNIMPLEMENTED, details, NULL);
}

int call_request(worker *w, const registered_method *rm) {
  call *c = call_new(w);
  if (c == NULL) {
    log_line(LOG_ERROR, "out of memory for a new call", NULL);
    return -1;
  }
  c->registered = rm;
  grpc_call_error e =
    rm == NULL ? grpc_server_request_call(w->server, &c->gc, &c->details, &c->request_md, w->cq,
                                          w->cq, &c->tags[TAG_NEW])
               : grpc_server_request_registered_call(w->server, rm->handle, &c->gc,
                                                     &c->details.deadline, &c->request_md,
                                                     &c->recv_buf, w->cq, w->cq, &c->tags[TAG_NEW]);
  if (e != GRPC_CALL_OK) {
    log_line(LOG_ERROR, "gRPC refused to request a call", "error", grpc_call_error_to_string(e), NULL);
    call_free(c);
    return -1;
  }
  w->posted++;
  return 0;
}

/* The one request of a unary or server-streaming call is in: now the handler can start. */
static void on_first_message(call *c) {
  if (c->cancelled) return;
  if (c->recv_buf == NULL) call_finish(c, GRPC_STATUS_INTERNAL, "the client sent no request message", NULL);
  else lvm_start(c);
}

static void on_new(call *c) {
  worker *w = c->worker;
  w->live++;
  call_request(w, c->registered);
  if (log_calls()) {
    c->started = timer_now();
    call_peer(c);                   /* now, while the connection is there to ask */
  }
  if (c->registered != NULL) {
    c->details.method = grpc_slice_from_static_string(c->registered->path);
    if (c->recv_buf != NULL) c->bytes_in += grpc_byte_buffer_length(c->recv_buf);
  }
  c->vm = lvm_retain(w->vm);
  c->method = schema_find_method(c->vm->schema, (const char *)GRPC_SLICE_START_PTR(c->details.method),
                                 GRPC_SLICE_LENGTH(c->details.method));
  if (c->method == NULL || !lvm_has_handler(c->vm, c->method)) {
    finish_unimplemented(c);
  } else if (!method_one_request(c->method)) {
    lvm_start(c);                   /* a message read ahead waits in recv_buf for call:recv */
  } else if (c->registered != NULL) {
    on_first_message(c);
  } else {
    call_recv(c);
  }
}

static void on_close(call *c) {
  if (c->close_cancelled) c->cancelled = true;
  if (c->cancelled && c->wait != WAIT_NONE) lvm_wake(c);
}

static void on_recv(call *c, bool ok) {
  /* No message: a half-close, or a stream that broke (cancel, reset), which must not read as one. */
  if (!ok || (c->recv_buf == NULL && grpc_call_failed_before_recv_message(c->gc))) c->cancelled = true;
  if (c->recv_buf != NULL) c->bytes_in += grpc_byte_buffer_length(c->recv_buf);
  if (c->co != NULL) {
    if (c->wait == WAIT_RECV) lvm_wake(c);
    return;
  }
  on_first_message(c);
}

/* Sends the held message: see call_send. */
static void send_outbox(call *c) {
  grpc_byte_buffer *next = c->outbox;
  c->outbox = NULL;
  if (c->cancelled) grpc_byte_buffer_destroy(next);
  else if (c->finishing) c->reply = next;   /* streams have no reply of their own */
  else start_send(c, next, c->wait == WAIT_SEND ? GRPC_WRITE_BUFFER_HINT : 0);
}

static bool give_up_turn(call *c) {
  if (++c->sends % SENDS_PER_TURN != 0 || c->wait != WAIT_SEND || c->cancelled) return false;
  if (timer_arm(&c->worker->timers, &c->sleep, timer_now())) return false;
  c->wait = WAIT_TURN;
  c->turn = c->worker->empty_polls + 2;
  return true;
}

/* The timer is due at every turn of the loop until the worker has polled. */
static void take_turn(call *c) {
  if ((int)(c->worker->empty_polls - c->turn) < 0 &&
      timer_arm(&c->worker->timers, &c->sleep, timer_now() + 1) == 0)
    return;
  c->wait = WAIT_SEND;
  if (c->outbox != NULL) send_outbox(c);
  lvm_wake(c);
}

static void on_send(call *c, bool ok) {
  grpc_byte_buffer_destroy(c->sending);
  c->sending = NULL;
  if (!ok) c->cancelled = true;
  if (give_up_turn(c)) return;
  if (c->outbox != NULL) send_outbox(c);
  if (c->finishing && !c->finish_sent && c->sending == NULL) start_finish(c);
  if (c->wait == WAIT_SEND) lvm_wake(c);
}

void call_on_tag(call_tag *tag, bool ok) {
  call *c = tag->call;
  if (tag->kind == TAG_NEW) {
    c->worker->posted--;
    if (!ok) {                      /* the server is shutting down */
      call_free(c);
      return;
    }
  } else {
    c->pending--;
  }
  switch (tag->kind) {
  case TAG_NEW: on_new(c); break;
  case TAG_CLOSE: on_close(c); break;
  case TAG_RECV: on_recv(c, ok); break;
  case TAG_SEND: on_send(c, ok); break;
  case TAG_FINISH:
    if (c->close_with_finish) on_close(c);
    break;
  default: break;
  }
  maybe_free(c);
}

void call_on_timer(call *c) {
  if (c->wait == WAIT_TURN) take_turn(c);
  else if (c->wait == WAIT_SLEEP) lvm_wake(c);
  maybe_free(c);
}
