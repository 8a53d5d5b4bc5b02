/*
** call.c
** The call state machine. Each completed batch lands in on_tag, which
** updates the state and ends the handler's wait if it waited on that event.
*/
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "call.h"
#include "conn.h"
#include "log.h"
#include "loopback.h"
#include "metadata.h"
#include "status.h"
#include "tag.h"

/*
** Calls requested ahead on each queue, so a burst of new calls is not served
** one by one; a call beyond them waits in gRPC until the next is posted, which
** each arrival does at once. Few: Debian's gRPC checks every completion against
** the queue's outstanding tags one by one, so each slot costs every event.
*/
#define REQUEST_SLOTS 8
#define REGISTERED_SLOTS 4          /* for each registered method */

#define DETAILS_MAX 256

/*
** The request header list gRPC advertises (SETTINGS_MAX_HEADER_LIST_SIZE) and
** enforces once the client acknowledged it; until then gRPC 1.51 takes any.
*/
#define HEADER_LIST_MAX 8192

/* The longest status message sent; the log has the whole of it. */
#define STATUS_MESSAGE_MAX 2048
#define TRUNCATED "... (cut; the host's log has it whole)"

/* The most of a failed call's status message its log line carries. */
#define LOGGED_MESSAGE_MAX 512

/*
** Sends that complete at once (gzip makes a large message tiny) would let a
** handler keep its worker from ever polling the network. Every this many, the
** handler waits, with nothing in flight, until its worker has found the queue
** empty twice: the first may only clear the wake-up its sends left, the second
** polls.
*/
#define SENDS_PER_TURN 64

/*
** What a streaming handler may hand over behind the message in flight before
** it waits: this many messages, while they hold under OUTBOX_BYTES. It then
** waits until all have gone to gRPC, so a handler that sends small messages
** fast is resumed once for several of them, not once each.
*/
#define OUTBOX_MESSAGES 8
#define OUTBOX_BYTES (64 * 1024)

/*
** Records of freed calls a queue keeps for its next ones: glibc serves the
** zeroed 600 bytes of a new one from its arena, not its per-thread cache, at
** several times the cost (GCC makes malloc and memset a calloc). None under
** ASan, which must see every free.
*/
#if defined(__SANITIZE_ADDRESS__)
#define SPARE_CALLS 0
#else
#define SPARE_CALLS 64
#endif

typedef enum call_tag_kind {
  TAG_NEW,       /* grpc_server_request_call handed over a call */
  TAG_CLOSE,     /* RECV_CLOSE_ON_SERVER: the call is over, or the client cancelled */
  TAG_RECV,      /* RECV_MESSAGE */
  TAG_SEND,      /* SEND_MESSAGE, with initial metadata the first time */
  TAG_FINISH,    /* SEND_STATUS_FROM_SERVER, with whatever had not been sent */
  TAG_COUNT
} call_tag_kind;

typedef struct call_tag {
  tag base;
  struct call *call;
  call_tag_kind kind;
} call_tag;

struct call {
  call_queue *q;
  lvm *vm;                          /* the Lua state running the handler, retained */
  const schema_method *method;      /* NULL until known */
  const registered_method *registered;  /* the slot it came through, or NULL */
  grpc_call *gc;
  grpc_call_details details;
  grpc_metadata_array request_md;
  call_tag tags[TAG_COUNT];
  int pending;                      /* batches given to gRPC, not yet back */
  void *handler;                    /* while the handler lives */
  call_child children;              /* the head of the ring of what the handler started */
  call_wait *waiting;               /* what the handler is suspended on, or NULL */
  call_wait own;                    /* the call's own waits: recv, send, its turn, sleep */

  int close_cancelled;              /* out parameter of RECV_CLOSE_ON_SERVER */
  bool close_posted;
  bool close_with_finish;           /* RECV_CLOSE_ON_SERVER went with the status */
  bool cancelled;                   /* sticky: the client went away or the deadline passed */

  grpc_byte_buffer *recv_buf;       /* out parameter of RECV_MESSAGE */
  grpc_slice recv_bytes;            /* the last message taken, in one piece, while it is decoded */
  bool half_closed;                 /* the client sent its last message */

  grpc_byte_buffer *sending;        /* the message in flight */
  grpc_byte_buffer *outbox[OUTBOX_MESSAGES];   /* the next ones, held until sending is out */
  unsigned outbox_first, outbox_n;  /* the oldest held, and how many */
  size_t outbox_bytes;
  unsigned sends;                   /* messages sent, to give up the worker's turn every so often */
  unsigned turn;                    /* waiting for its turn: the queue's empty_polls when it may go on */
  bool headers_sent;
  metadata_list headers;
  metadata_list trailers;

  bool finishing;                   /* the status is decided */
  bool finish_sent;
  grpc_status_code status;
  grpc_slice status_details;
  grpc_byte_buffer *reply;          /* unary reply, sent with the status */

  int64_t deadline;                 /* timer_now's clock, INT64_MAX for none */
  int64_t started;                  /* monotonic ns: when it came */
  char *peer;                       /* gpr-allocated, once asked for: a cancelled call has none */
  conn *conn;                       /* its connection when the host accepted it (h2c), referenced */
  call_protocol protocol;           /* how the client called: gRPC, or what the door translated */
  bool json;                        /* the door's messages are JSON text (the proto3 mapping) */
  char *http_peer;                  /* the door's HTTP client, when the call came through the door */
  size_t bytes_in;
  size_t bytes_out;
  call *spare_next;                 /* while kept in q->spare */
};

static void on_tag(tag *t, bool ok);
static void on_wait_timer(timer *t);
static void take_turn(call_wait *w);

static const char *const protocol_names[] = {"grpc", "connect", "connect", "grpc-web"};

static const call_wait_type recv_wait = {"call:recv", NULL, NULL};
static const call_wait_type send_wait = {"call:send", NULL, NULL};
static const call_wait_type turn_wait = {"call:send", take_turn, NULL};
static const call_wait_type sleep_wait = {"grpc.sleep", NULL, NULL};

/*
** {======================================================
** Birth and death
** =======================================================
*/

static call *call_new(call_queue *q) {
  call *c = q->spare;
  if (c != NULL) {
    q->spare = c->spare_next;
    q->n_spare--;
  } else if ((c = malloc(sizeof *c)) == NULL) {
    return NULL;
  }
  memset(c, 0, sizeof *c);
  c->q = q;
  c->deadline = INT64_MAX;
  for (int k = 0; k < TAG_COUNT; k++) {
    c->tags[k].base.done = on_tag;
    c->tags[k].call = c;
    c->tags[k].kind = (call_tag_kind)k;
  }
  grpc_call_details_init(&c->details);
  grpc_metadata_array_init(&c->request_md);
  c->status_details = grpc_empty_slice();
  c->recv_bytes = grpc_empty_slice();
  c->children.prev = c->children.next = &c->children;
  call_wait_init(&c->own, &recv_wait);
  return c;
}

static void hold(call *c, grpc_byte_buffer *bb) {
  c->outbox[(c->outbox_first + c->outbox_n++) % OUTBOX_MESSAGES] = bb;
  c->outbox_bytes += grpc_byte_buffer_length(bb);
}

static grpc_byte_buffer *unhold(call *c) {
  grpc_byte_buffer *bb = c->outbox[c->outbox_first];
  c->outbox_first = (c->outbox_first + 1) % OUTBOX_MESSAGES;
  c->outbox_n--;
  c->outbox_bytes -= grpc_byte_buffer_length(bb);
  return bb;
}

static void drop_outbox(call *c) {
  while (c->outbox_n > 0) grpc_byte_buffer_destroy(unhold(c));
}

static void log_slice(log_record *r, const char *key, const grpc_slice *s) {
  log_bytes(r, key, (const char *)GRPC_SLICE_START_PTR(*s), GRPC_SLICE_LENGTH(*s));
}

/*
** The values of the call record's fields that recur (method, status, peer,
** protocol), packed into key for the queue's memo; 0 when they are too long to.
*/
static size_t logged_key(const call *c, grpc_status_code code, const char *peer, char *key) {
  size_t method_len = GRPC_SLICE_LENGTH(c->details.method), peer_len = peer != NULL ? strlen(peer) : 0;
  if (4 + method_len + peer_len > LOG_MEMO_KEY) return 0;
  key[0] = (char)(code >= 0 && code < STATUS_COUNT ? code : STATUS_COUNT);
  key[1] = (char)c->protocol;
  key[2] = peer != NULL;
  key[3] = (char)method_len;
  memcpy(key + 4, GRPC_SLICE_START_PTR(c->details.method), method_len);
  if (peer != NULL) memcpy(key + 4 + method_len, peer, peer_len);
  return 4 + method_len + peer_len;
}

static void log_recurring(log_record *r, call *c, grpc_status_code code, const char *peer) {
  char key[LOG_MEMO_KEY];
  size_t start = r->len, key_len = logged_key(c, code, peer, key);
  if (key_len > 0 && log_memo_copy(r, &c->q->logged, key, key_len)) return;
  log_slice(r, "method", &c->details.method);
  log_string(r, "status", status_name(code));
  log_string(r, "peer", peer);
  log_string(r, "protocol", protocol_names[c->protocol]);
  if (key_len > 0) log_memo_keep(&c->q->logged, r, start, key, key_len);
}

/*
** One line per call, when it is freed: what a log service needs to account for
** it, and the status message of a failed one.
*/
static void log_call(call *c) {
  if (!log_calls()) return;
  /* What the client saw: a cancelled call never got the status its handler chose. */
  bool chosen = c->finishing && !c->cancelled;
  grpc_status_code code = chosen ? c->status : call_cancel_status(c);
  const grpc_slice *rid = call_request_id(c);
  log_record r;
  log_begin(&r, LOG_INFO, "call", 4);
  log_recurring(&r, c, code, call_peer(c));
  log_decimal(&r, "duration_ms", (timer_now() - c->started) / 1000, 3);
  log_integer(&r, "bytes_in", (long long)c->bytes_in);
  log_integer(&r, "bytes_out", (long long)c->bytes_out);
  if (rid != NULL) log_slice(&r, "request_id", rid);
  if (chosen && code != GRPC_STATUS_OK && GRPC_SLICE_LENGTH(c->status_details) > 0)
    log_excerpt(&r, "message", (const char *)GRPC_SLICE_START_PTR(c->status_details),
                GRPC_SLICE_LENGTH(c->status_details), LOGGED_MESSAGE_MAX);
  log_end(&r);
}

/*
** Tells c's connection how c ended: a call the client cancelled before it was
** answered counts toward closing a connection that does that too fast.
*/
static void account(call *c) {
  if (c->cancelled && !c->finish_sent && call_seconds_left(c) != 0) conn_reset(c->conn, c->started);
  conn_release(c->conn);
}

static void call_free(call *c) {
  if (c->gc != NULL) {
    log_call(c);
    grpc_call_unref(c->gc);
    c->q->live--;
  }
  if (c->conn != NULL) account(c);
  if (c->vm != NULL) lvm_release(c->vm);
  grpc_byte_buffer_destroy(c->recv_buf);
  grpc_byte_buffer_destroy(c->sending);
  drop_outbox(c);
  grpc_byte_buffer_destroy(c->reply);
  metadata_free(&c->headers);
  metadata_free(&c->trailers);
  grpc_slice_unref(c->status_details);
  grpc_slice_unref(c->recv_bytes);
  gpr_free(c->peer);
  free(c->http_peer);
  /* A registered call's details hold a static path and no host: their destroy would release nothing. */
  if (c->registered == NULL) grpc_call_details_destroy(&c->details);
  grpc_metadata_array_destroy(&c->request_md);
  if (c->q->n_spare + 1 > SPARE_CALLS) {
    free(c);
    return;
  }
  c->spare_next = c->q->spare;
  c->q->spare = c;
  c->q->n_spare++;
}

/* Nothing holds c any more: no handler, no batch in gRPC. */
static void maybe_free(call *c) {
  if (c->pending == 0 && c->handler == NULL) call_free(c);
}

/* }====================================================== */

/*
** {======================================================
** Batches
** =======================================================
*/

static int start_batch(call *c, const grpc_op *ops, size_t n, call_tag_kind kind) {
  grpc_call_error e = grpc_call_start_batch(c->gc, ops, n, &c->tags[kind].base, NULL);
  if (e != GRPC_CALL_OK) {
    char *method = grpc_slice_to_c_string(c->details.method);
    log_line(LOG_ERROR, "gRPC refused a batch", "method", method,
             "error", grpc_call_error_to_string(e), NULL);
    gpr_free(method);
    grpc_call_cancel(c->gc, NULL);
    c->cancelled = true;
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
  if (c->vm->cfg->compress_min_bytes > 0) {
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
  if (len < (size_t)c->vm->cfg->compress_min_bytes) op->flags |= GRPC_WRITE_NO_COMPRESS;
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

/*
** The handler waits: from now on a cancel must wake it, so the call watches for
** its close. A handler that never waits (most unary ones) has the close
** received with its status instead: one batch, one event fewer per call.
*/
static void watch_close(call *c) {
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

static int start_recv(call *c) {
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

/* }====================================================== */

/*
** {======================================================
** Waiting
** =======================================================
*/

void call_wait_init(call_wait *w, const call_wait_type *type) {
  w->type = type;
  w->call = NULL;
  timer_init(&w->timer, on_wait_timer);
}

void call_wait_begin(call *c, call_wait *w) {
  w->call = c;
  c->waiting = w;
  watch_close(c);
}

int call_wait_until(call_wait *w, int64_t when) {
  return timer_arm(&w->call->q->timers, &w->timer, when);
}

static bool waits_on(const call *c, const call_wait_type *type) {
  return c->waiting != NULL && c->waiting->type == type;
}

/* The wait is over: the handler resumes. */
static void wake(call *c) {
  call_wait *w = c->waiting;
  c->waiting = NULL;
  w->call = NULL;
  timer_disarm(&c->q->timers, &w->timer);
  c->q->hooks->wake(c);
}

void call_wait_end(call_wait *w) {
  call *c = w->call;
  if (c == NULL) return;
  wake(c);
  maybe_free(c);
}

/* The call was cancelled: what the handler waits on is undone, and the handler wakes to see it. */
static void cancel_wait(call *c) {
  if (c->waiting->type->cancel != NULL) c->waiting->type->cancel(c->waiting);
  wake(c);
}

static void on_wait_timer(timer *t) {
  call_wait *w = CONTAINER_OF(t, call_wait, timer);
  if (w->type->expire != NULL) w->type->expire(w);
  else call_wait_end(w);
}

/* }====================================================== */

/*
** {======================================================
** What the handler asks
** =======================================================
*/

/* The message in one slice: its own when it came in one and uncompressed (most do), else a copy. */
static grpc_slice whole_message(grpc_byte_buffer_reader *reader) {
  const grpc_slice_buffer *in = &reader->buffer_in->data.raw.slice_buffer;
  if (reader->buffer_out == reader->buffer_in && in->count == 1) return grpc_slice_ref(in->slices[0]);
  return grpc_byte_buffer_reader_readall(reader);
}

/* Takes recv_buf into recv_bytes; false when it cannot be read. */
static bool take_message(call *c) {
  grpc_byte_buffer_reader reader;
  int readable = grpc_byte_buffer_reader_init(&reader, c->recv_buf);
  grpc_slice_unref(c->recv_bytes);
  c->recv_bytes = grpc_empty_slice();
  if (readable) {
    c->recv_bytes = whole_message(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
  }
  grpc_byte_buffer_destroy(c->recv_buf);
  c->recv_buf = NULL;
  return readable;
}

call_result call_recv(call *c, const char **data, size_t *len) {
  if (c->cancelled) return CALL_CANCELLED;
  if (c->recv_buf != NULL) {        /* read ahead with the call, or the one waited for */
    if (!take_message(c)) return CALL_UNREADABLE;
    *data = (const char *)GRPC_SLICE_START_PTR(c->recv_bytes);
    *len = GRPC_SLICE_LENGTH(c->recv_bytes);
    return CALL_READY;
  }
  if (c->half_closed || method_one_request(c->method)) return CALL_END;
  if (start_recv(c)) return CALL_CANCELLED;
  c->own.type = &recv_wait;
  call_wait_begin(c, &c->own);
  return CALL_WAIT;
}

call_result call_send_ready(call *c) {
  if (c->cancelled) return CALL_CANCELLED;
  if (c->outbox_n < OUTBOX_MESSAGES && (c->outbox_n == 0 || c->outbox_bytes < OUTBOX_BYTES)) return CALL_READY;
  c->own.type = &send_wait;
  call_wait_begin(c, &c->own);
  return CALL_WAIT;
}

int call_send(call *c, grpc_byte_buffer *bb) {
  if (c->sending == NULL) return start_send(c, bb, 0);
  hold(c, bb);
  return 0;
}

int call_sleep(call *c, int64_t until) {
  c->own.type = &sleep_wait;
  call_wait_begin(c, &c->own);
  if (call_wait_until(&c->own, until) == 0) return 0;
  c->waiting = NULL;
  c->own.call = NULL;
  return -1;
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

int call_add_header(call *c, const char *key, size_t klen, const char *value, size_t vlen,
                    char *err, size_t errlen) {
  return metadata_add(&c->headers, key, klen, value, vlen, err, errlen);
}

int call_add_trailer(call *c, const char *key, size_t klen, const char *value, size_t vlen,
                     char *err, size_t errlen) {
  return metadata_add(&c->trailers, key, klen, value, vlen, err, errlen);
}

bool call_headers_sent(const call *c) {
  return c->headers_sent;
}

int call_set_status_details(call *c, const char *status, size_t len) {
  return metadata_append(&c->trailers, grpc_slice_from_static_string("grpc-status-details-bin"),
                         grpc_slice_from_copied_buffer(status, len));
}

/* }====================================================== */

/*
** {======================================================
** What the handler reads
** =======================================================
*/

/* The handler has ended: what it started and did not finish is cancelled. */
static void orphan_children(call *c) {
  while (c->children.next != &c->children) {
    call_child *k = c->children.next;
    call_disown(k);
    k->orphan(k);
  }
}

void call_set_handler(call *c, void *handler) {
  c->handler = handler;
  if (handler == NULL) orphan_children(c);
}

void call_adopt(call *c, call_child *k) {
  k->parent = c;
  k->prev = c->children.prev;
  k->next = &c->children;
  k->prev->next = k;
  c->children.prev = k;
}

void call_disown(call_child *k) {
  if (k->parent == NULL) return;
  k->prev->next = k->next;
  k->next->prev = k->prev;
  k->prev = k->next = NULL;
  k->parent = NULL;
}

void *call_handler(const call *c) {
  return c->handler;
}

bool call_waiting(const call *c) {
  return c->waiting != NULL;
}

bool call_cancelled(const call *c) {
  return c->cancelled;
}

grpc_status_code call_cancel_status(const call *c) {
  return call_seconds_left(c) == 0 ? GRPC_STATUS_DEADLINE_EXCEEDED : GRPC_STATUS_CANCELLED;
}

lvm *call_vm(const call *c) {
  return c->vm;
}

call_queue *call_queue_of(const call *c) {
  return c->q;
}

grpc_call *call_grpc(const call *c) {
  return c->gc;
}

const schema_method *call_method(const call *c) {
  return c->method;
}

const grpc_metadata_array *call_request_metadata(const call *c) {
  return &c->request_md;
}

const char *call_peer(call *c) {
  if (c->http_peer != NULL) return c->http_peer;
  if (c->peer == NULL) c->peer = grpc_call_get_peer(c->gc);
  return c->conn != NULL ? conn_peer(c->conn) : c->peer;
}

call_protocol call_protocol_of(const call *c) {
  return c->protocol;
}

const char *call_protocol_name(const call *c) {
  return protocol_names[c->protocol];
}

bool call_json(const call *c) {
  return c->json;
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

const grpc_slice *call_request_id(const call *c) {
  return call_find_metadata(c, "x-fc-request-id");
}

int64_t call_deadline(const call *c) {
  return c->deadline;
}

/* The deadline on timer_now's clock: a realtime deadline is converted once, when the call comes. */
static int64_t monotonic_deadline(gpr_timespec t) {
  gpr_timespec deadline = gpr_convert_clock_type(t, GPR_CLOCK_MONOTONIC);
  if (gpr_time_cmp(deadline, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 0) return INT64_MAX;
  return deadline.tv_sec * 1000000000 + deadline.tv_nsec;
}

double call_seconds_left(const call *c) {
  int64_t deadline = call_deadline(c);
  if (deadline == INT64_MAX) return -1;
  int64_t left = deadline - timer_now();
  return left > 0 ? (double)left / 1e9 : 0;
}

/* }====================================================== */

/*
** {======================================================
** Events
** =======================================================
*/

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

/* The request's header list as HTTP/2 counts it: each field's name and value, and 32 bytes. */
static size_t header_list_size(const call *c) {
  size_t size = 0;
  for (size_t i = 0; i < c->request_md.count; i++)
    size += GRPC_SLICE_LENGTH(c->request_md.metadata[i].key) + GRPC_SLICE_LENGTH(c->request_md.metadata[i].value) + 32;
  return size;
}

/* What gRPC answers once the client acknowledged the limit; before, only a client that ignores it sends this. */
static void finish_header_list_too_large(call *c) {
  char details[DETAILS_MAX];
  snprintf(details, sizeof details, "request headers of %zu bytes, over the limit of %d", header_list_size(c),
           HEADER_LIST_MAX);
  if (c->conn != NULL) conn_headers_over(c->conn);
  call_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, details, NULL);
}

/* Takes the request metadata at index i out of the call's list. */
static void drop_metadata(call *c, size_t i) {
  grpc_metadata *md = c->request_md.metadata;
  memmove(&md[i], &md[i + 1], (c->request_md.count - i - 1) * sizeof *md);
  c->request_md.count--;
}

/*
** What the door says of a call it made (loopback.h), believed only from a
** loopback connection, and taken out of the metadata either way. True when
** the call came through the door.
*/
static bool take_door_note(call *c) {
  static const char *const kinds[] = {"connect ", "connect-stream ", "grpc-web "};
  const grpc_slice *note = call_find_metadata(c, LOOPBACK_KEY);
  if (note == NULL) return false;
  char text[160];
  size_t len = GRPC_SLICE_LENGTH(*note) < sizeof text ? GRPC_SLICE_LENGTH(*note) : sizeof text - 1;
  memcpy(text, GRPC_SLICE_START_PTR(*note), len);
  text[len] = '\0';
  drop_metadata(c, (size_t)(CONTAINER_OF(note, grpc_metadata, value) - c->request_md.metadata));
  if (c->peer == NULL) c->peer = grpc_call_get_peer(c->gc);
  if (!loopback_is_peer(c->peer)) return false;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    size_t klen = strlen(kinds[k]);
    if (strncmp(text, kinds[k], klen) != 0) continue;
    const char *codec = text + klen, *peer = strchr(codec, ' ');
    if (peer == NULL) return false;
    c->protocol = (call_protocol)(k + 1);
    c->json = strncmp(codec, "json ", 5) == 0;
    c->http_peer = strdup(peer + 1);
    return true;
  }
  return false;
}

/*
** HTTP/1.1 carries one request each way, or one request and a stream of
** replies: a call through the door must be of a method of that shape, and
** of the shape its protocol said (Connect tells unary from streaming by its
** content type). False when the call was refused.
*/
static bool door_fits(call *c) {
  const schema_method *m = c->method;
  char details[DETAILS_MAX + 128];
  if (!method_one_request(m))
    snprintf(details, sizeof details,
             "%s is a %s method: HTTP/1.1 carries unary and server-streaming calls only; call it with gRPC (HTTP/2)",
             m->path, method_kind_name(m->kind));
  else if (c->protocol == CALL_CONNECT && !method_one_reply(m))
    snprintf(details, sizeof details,
             "%s is a server-streaming method: call it with content-type application/connect+json or application/connect+proto",
             m->path);
  else if (c->protocol == CALL_CONNECT_STREAM && method_one_reply(m))
    snprintf(details, sizeof details,
             "%s is a unary method: call it with content-type application/json or application/proto", m->path);
  else
    return true;
  call_finish(c, GRPC_STATUS_UNIMPLEMENTED, details, NULL);
  return false;
}

/* Posts a slot for one new call of rm, or of any method when rm is NULL. -1 on failure (logged). */
static int post(call_queue *q, const registered_method *rm) {
  call *c = call_new(q);
  if (c == NULL) {
    log_line(LOG_ERROR, "out of memory for a new call", NULL);
    return -1;
  }
  c->registered = rm;
  tag *t = &c->tags[TAG_NEW].base;
  grpc_call_error e =
    rm == NULL ? grpc_server_request_call(q->server, &c->gc, &c->details, &c->request_md, q->cq,
                                          q->cq, t)
               : grpc_server_request_registered_call(q->server, rm->handle, &c->gc,
                                                     &c->details.deadline, &c->request_md,
                                                     &c->recv_buf, q->cq, q->cq, t);
  if (e != GRPC_CALL_OK) {
    log_line(LOG_ERROR, "gRPC refused to request a call", "error", grpc_call_error_to_string(e), NULL);
    call_free(c);
    return -1;
  }
  q->posted++;
  return 0;
}

/*
** gRPC queues a request slot after a look at whether the server is shutting
** down, taken without its lock: a slot posted while grpc_server_shutdown_and_notify
** runs may never come back, and its worker would wait for it for ever. So a
** post and the close are kept apart, each flagging itself before it looks at
** the other's flag (sequentially consistent: one of the two sees the other).
*/
static int request(call_queue *q, const registered_method *rm) {
  atomic_store(&q->requesting, true);
  int rc = atomic_load(&q->closed) ? -1 : post(q, rm);
  atomic_store_explicit(&q->requesting, false, memory_order_release);
  return rc;
}

void call_queue_close(call_queue *q) {
  atomic_store(&q->closed, true);
  while (atomic_load(&q->requesting)) sched_yield();
}

/* The slot rm came through, in q->unposted. */
static size_t slot_of(const call_queue *q, const registered_method *rm) {
  return rm == NULL ? q->n_registered : (size_t)(rm - q->registered);
}

int call_queue_init(call_queue *q, size_t n_registered) {
  q->n_registered = n_registered;
  q->unposted = calloc(n_registered + 1, sizeof *q->unposted);
  q->found = calloc(n_registered + 1, sizeof *q->found);
  if (q->unposted == NULL || q->found == NULL) return -1;
  for (size_t i = 0; i < n_registered; i++) q->unposted[i] = REGISTERED_SLOTS;
  q->unposted[n_registered] = REQUEST_SLOTS;
  q->missing = n_registered * REGISTERED_SLOTS + REQUEST_SLOTS;
  atomic_init(&q->requesting, false);
  atomic_init(&q->closed, false);
  return 0;
}

void call_queue_free(call_queue *q) {
  while (q->spare != NULL) {
    call *c = q->spare;
    q->spare = c->spare_next;
    free(c);
  }
  q->n_spare = 0;
  free(q->unposted);
  q->unposted = NULL;
  free(q->found);
  q->found = NULL;
  timer_heap_free(&q->timers);
}

void call_queue_fill(call_queue *q) {
  for (size_t i = 0; q->missing > 0 && i <= q->n_registered; i++) {
    const registered_method *rm = i < q->n_registered ? &q->registered[i] : NULL;
    while (q->unposted[i] > 0 && request(q, rm) == 0) {
      q->unposted[i]--;
      q->missing--;
    }
  }
}

/* What came in recv_buf (NULL: the stream ended) is counted for the log and the connection. */
static void count_in(call *c) {
  if (c->recv_buf == NULL) return;
  size_t len = grpc_byte_buffer_length(c->recv_buf);
  c->bytes_in += len;
  if (c->conn != NULL) conn_took(c->conn, len);
}

/* The one request of a unary or server-streaming call is in: now the handler can start. */
static void on_first_message(call *c) {
  /* A stream reset before its request came is a cancel, not a request without a message. */
  if (c->recv_buf == NULL && grpc_call_failed_before_recv_message(c->gc)) c->cancelled = true;
  if (c->cancelled) return;
  if (c->recv_buf == NULL) call_finish(c, GRPC_STATUS_INTERNAL, "the client sent no request message", NULL);
  else c->q->hooks->start(c);
}

/* c's method in its state's schema: a registered method's is looked up once a schema. */
static const schema_method *find_method(call_queue *q, const call *c) {
  const schema *s = c->vm->schema;
  const char *path = (const char *)GRPC_SLICE_START_PTR(c->details.method);
  size_t len = GRPC_SLICE_LENGTH(c->details.method);
  if (c->registered == NULL) return schema_find_method(s, path, len);
  if (q->found_serial != schema_serial(s)) {
    memset(q->found, 0, q->n_registered * sizeof *q->found);
    q->found_serial = schema_serial(s);
  }
  const schema_method **m = &q->found[slot_of(q, c->registered)];
  if (*m == NULL) *m = schema_find_method(s, path, len);
  return *m;
}

static void on_new(call *c) {
  call_queue *q = c->q;
  q->live++;
  c->deadline = monotonic_deadline(c->details.deadline);
  if (request(q, c->registered)) {
    q->unposted[slot_of(q, c->registered)]++;
    q->missing++;
  }
  c->started = timer_now();
  /* A call through the door is the door's to bound: its loopback connection is no client's. */
  bool door = take_door_note(c);
  if (!door) c->conn = conn_find(call_peer(c));   /* now, while the connection is there to ask */
  if (c->conn != NULL) conn_call(c->conn);
  if (c->registered != NULL) {
    c->details.method = grpc_slice_from_static_string(c->registered->path);
    count_in(c);
  }
  c->vm = lvm_retain(q->vm);
  c->method = find_method(q, c);
  if (door && c->method != NULL && !door_fits(c)) return;
  if (header_list_size(c) > HEADER_LIST_MAX) finish_header_list_too_large(c);
  else if (c->method == NULL || !lvm_has_handler(c->vm, c->method)) finish_unimplemented(c);
  else if (!method_one_request(c->method)) q->hooks->start(c);  /* a message read ahead waits in recv_buf */
  else if (c->registered != NULL) on_first_message(c);
  else start_recv(c);
}

static void on_close(call *c) {
  if (c->close_cancelled) c->cancelled = true;
  if (c->cancelled && c->waiting != NULL) cancel_wait(c);
}

static void on_recv(call *c, bool ok) {
  /* No message: a half-close, or a stream that broke (cancel, reset), which must not read as one. */
  if (!ok || (c->recv_buf == NULL && grpc_call_failed_before_recv_message(c->gc))) c->cancelled = true;
  if (c->recv_buf != NULL) count_in(c);
  else if (!c->cancelled) c->half_closed = true;
  if (c->handler == NULL) on_first_message(c);
  else if (waits_on(c, &recv_wait)) wake(c);
}

/* Sends the oldest held message, marked for buffering when another is sure to follow: see call_send. */
static void send_outbox(call *c) {
  grpc_byte_buffer *next = unhold(c);
  bool more = c->outbox_n > 0 || waits_on(c, &send_wait);
  if (c->cancelled) grpc_byte_buffer_destroy(next);
  else if (c->finishing && c->outbox_n == 0) c->reply = next;   /* streams have no reply of their own */
  else start_send(c, next, more ? GRPC_WRITE_BUFFER_HINT : 0);
  if (c->cancelled) drop_outbox(c);
}

static bool give_up_turn(call *c) {
  if (++c->sends % SENDS_PER_TURN != 0 || !waits_on(c, &send_wait) || c->cancelled) return false;
  if (timer_arm(&c->q->timers, &c->own.timer, timer_now())) return false;
  c->own.type = &turn_wait;
  c->turn = c->q->empty_polls + 2;
  return true;
}

/* The turn's timer is due at every turn of the loop until the worker has polled. */
static void take_turn(call_wait *w) {
  call *c = w->call;
  if ((int)(c->q->empty_polls - c->turn) < 0 && timer_arm(&c->q->timers, &w->timer, timer_now() + 1) == 0)
    return;
  w->type = &send_wait;
  if (c->outbox_n > 0) send_outbox(c);
  if (c->outbox_n == 0) call_wait_end(w);
}

static void on_send(call *c, bool ok) {
  grpc_byte_buffer_destroy(c->sending);
  c->sending = NULL;
  if (!ok) c->cancelled = true;
  if (give_up_turn(c)) return;
  if (c->outbox_n > 0) send_outbox(c);
  if (c->finishing && !c->finish_sent && c->sending == NULL) start_finish(c);
  if (waits_on(c, &send_wait) && c->outbox_n == 0) wake(c);
}

static void on_tag(tag *t, bool ok) {
  call_tag *ct = CONTAINER_OF(t, call_tag, base);
  call *c = ct->call;
  if (ct->kind == TAG_NEW) {
    c->q->posted--;
    if (!ok) {                      /* the server is shutting down */
      call_free(c);
      return;
    }
  } else {
    c->pending--;
  }
  switch (ct->kind) {
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

/* }====================================================== */
