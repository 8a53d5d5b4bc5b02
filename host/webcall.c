/*
** webcall.c
** A request of the door as a gRPC call: the protocol from the content type,
** request headers as metadata, the timeout as the deadline, the one request
** message; then the call's headers, replies and status handed to the
** protocol as they arrive. Replies are read one at a time, and not while the
** client has more than BACKLOG_MAX bytes to take: a slow reader holds the
** handler back through gRPC's flow control, not the door's memory.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/support/time.h>

#include "jsontext.h"
#include "log.h"
#include "webcall.h"
#include "webproto.h"

#define BACKLOG_MAX (256 << 10)
#define ERR_MAX 256
#define NOTE_MAX 160

/*
** {======================================================
** Content types
** =======================================================
*/

typedef struct content_type {
  const char *name;
  const web_protocol *protocol;
  bool json, text;
} content_type;

static const content_type content_types[] = {
  {"application/json", &web_connect, true, false},
  {"application/proto", &web_connect, false, false},
  {"application/connect+json", &web_connect_stream, true, false},
  {"application/connect+proto", &web_connect_stream, false, false},
  {"application/grpc-web", &web_grpc_web, false, false},
  {"application/grpc-web+proto", &web_grpc_web, false, false},
  {"application/grpc-web+json", &web_grpc_web, true, false},
  {"application/grpc-web-text", &web_grpc_web, false, true},
  {"application/grpc-web-text+proto", &web_grpc_web, false, true},
  {"application/grpc-web-text+json", &web_grpc_web, true, true},
};

/* The entry of value, a Content-Type header: its media type, parameters (charset) aside. */
static const content_type *find_content_type(const char *value) {
  if (value == NULL) return NULL;
  size_t len = strcspn(value, "; \t");
  for (size_t i = 0; i < sizeof content_types / sizeof content_types[0]; i++)
    if (strlen(content_types[i].name) == len && strncasecmp(value, content_types[i].name, len) == 0)
      return &content_types[i];
  return NULL;
}

bool webcall_serves(const char *value) {
  return find_content_type(value) != NULL;
}

/* }====================================================== */


/*
** {======================================================
** The request
** =======================================================
*/

/* Headers that are HTTP's, the protocols' or the door's own: never metadata. */
static bool is_transport_header(const char *name) {
  static const char *const names[] = {
    "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te",
    "content-length", "content-type", "content-encoding", "accept-encoding", "expect", LOOPBACK_KEY};
  static const char *const prefixes[] = {"grpc-", "connect-", "access-control-", ":"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(name, names[i]) == 0) return true;
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
    if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0) return true;
  return false;
}

/* One request header as metadata: -bin values are base64 on HTTP/1.1. Headers gRPC cannot carry are left out. */
static grpc_status_code add_header(webcall *w, const char *name, const char *value, char *err, size_t errlen) {
  size_t klen = strlen(name), vlen = strlen(value);
  char scratch[ERR_MAX];
  if (klen <= 4 || strcmp(name + klen - 4, "-bin") != 0) {
    metadata_add(&w->metadata, name, klen, value, vlen, scratch, sizeof scratch);
    return GRPC_STATUS_OK;
  }
  char *bytes = malloc(vlen * 3 / 4 + 3);
  long n = bytes ? jt_base64_decode(value, vlen, bytes) : -1;
  grpc_status_code code = GRPC_STATUS_OK;
  if (n < 0) {
    snprintf(err, errlen, "header %s: the value of a -bin header must be base64", name);
    code = GRPC_STATUS_INVALID_ARGUMENT;
  } else {
    metadata_add(&w->metadata, name, klen, bytes, (size_t)n, scratch, sizeof scratch);
  }
  free(bytes);
  return code;
}

/* A time-out of up to 8 digits and a unit (gRPC's grpc-timeout), in ns; -1 when it is not one. */
static int64_t grpc_timeout_ns(const char *v) {
  size_t digits = strspn(v, "0123456789");
  if (digits == 0 || digits > 8 || v[digits + 1] != '\0') return -1;
  int64_t n = strtoll(v, NULL, 10);
  switch (v[digits]) {
  case 'H': return n * 3600 * 1000000000LL;
  case 'M': return n * 60 * 1000000000LL;
  case 'S': return n * 1000000000LL;
  case 'm': return n * 1000000LL;
  case 'u': return n * 1000LL;
  case 'n': return n;
  default: return -1;
  }
}

/* The call's deadline from connect-timeout-ms (Connect) or grpc-timeout (gRPC-Web). */
static grpc_status_code deadline(webcall *w, const web_request *r, gpr_timespec *out, char *err,
                                 size_t errlen) {
  *out = gpr_inf_future(GPR_CLOCK_MONOTONIC);
  int64_t ns;
  const char *v;
  if (w->protocol == &web_grpc_web) {
    if ((v = web_find_header(r, "grpc-timeout")) == NULL) return GRPC_STATUS_OK;
    ns = grpc_timeout_ns(v);
  } else {
    if ((v = web_find_header(r, "connect-timeout-ms")) == NULL) return GRPC_STATUS_OK;
    size_t digits = strspn(v, "0123456789");
    ns = digits > 0 && digits <= 10 && v[digits] == '\0' ? strtoll(v, NULL, 10) * 1000000LL : -1;
  }
  if (ns < 0) {
    snprintf(err, errlen, "%s: '%.32s' is not a time-out", w->protocol == &web_grpc_web ? "grpc-timeout" : "connect-timeout-ms", v);
    return GRPC_STATUS_INVALID_ARGUMENT;
  }
  *out = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_nanos(ns, GPR_TIMESPAN));
  return GRPC_STATUS_OK;
}

static grpc_status_code take_metadata(webcall *w, const web_request *r, char *err, size_t errlen) {
  for (size_t i = 0; i < r->n_headers; i++) {
    if (is_transport_header(r->names[i])) continue;
    grpc_status_code code = add_header(w, r->names[i], r->values[i], err, errlen);
    if (code != GRPC_STATUS_OK) return code;
  }
  char note[NOTE_MAX];
  snprintf(note, sizeof note, "%s %s %s", w->protocol->name, w->json ? "json" : "proto", r->peer);
  if (metadata_append(&w->metadata, grpc_slice_from_static_string(LOOPBACK_KEY), grpc_slice_from_copied_string(note)) == 0)
    return GRPC_STATUS_OK;
  snprintf(err, errlen, "out of memory");
  return GRPC_STATUS_RESOURCE_EXHAUSTED;
}

/* }====================================================== */

/*
** {======================================================
** The call
** =======================================================
*/

static void free_call(webcall *w) {
  if (w->gc != NULL) grpc_call_unref(w->gc);
  if (w->link != NULL) loopback_release(w->link);
  metadata_free(&w->metadata);
  grpc_byte_buffer_destroy(w->request);
  grpc_byte_buffer_destroy(w->reply);
  grpc_metadata_array_destroy(&w->headers);
  grpc_metadata_array_destroy(&w->trailers);
  grpc_slice_unref(w->details);
  buf_free(&w->scratch);
  buf_free(&w->packed);
  buf_free(&w->zipped);
  w->env->live--;
  free(w);
}

static void maybe_free(webcall *w) {
  if (w->pending == 0 && (w->answered || w->out == NULL)) free_call(w);
}

/* The protocol writes the status: the response is whole. */
static void answer(webcall *w) {
  if (w->answered || w->out == NULL) return;
  w->answered = true;
  w->protocol->end(w);
}

/* The call is refused before it is made: code and err are the status the client gets. */
static void refuse(webcall *w, grpc_status_code code, const char *err) {
  w->code = code;
  w->details = grpc_slice_from_copied_string(err);
  if (w->protocol->streams) w->protocol->head(w);
  answer(w);
}

static int start_batch(webcall *w, const grpc_op *ops, size_t n, web_tag *t) {
  if (grpc_call_start_batch(w->gc, ops, n, t, NULL) != GRPC_CALL_OK) return -1;
  w->pending++;
  return 0;
}

static void read_reply(webcall *w) {
  grpc_op op = {.op = GRPC_OP_RECV_MESSAGE};
  op.data.recv_message.recv_message = &w->reply;
  w->reading = start_batch(w, &op, 1, &w->received) == 0;
  if (!w->reading) w->replies_over = true;
}

/* A streamed call is over once its status is in and no reply is left to read. */
static void maybe_answer(webcall *w) {
  if (w->status_in && w->replies_over && w->headers_in) answer(w);
}

static void on_received(tag *t, bool ok) {
  webcall *w = CONTAINER_OF(t, webcall, received.base);
  w->pending--;
  w->reading = false;
  if (!ok || w->reply == NULL) {
    w->replies_over = true;
    maybe_answer(w);
  } else if (w->out != NULL) {
    const char *data;
    size_t len;
    web_take_reply(w, &data, &len);  /* before the next read, which lands in w->reply */
    w->protocol->message(w, data, len);
    w->out->flush(w->out);
    if (web_backlog(w->out) < BACKLOG_MAX) read_reply(w);
  }
  maybe_free(w);
}

static void on_started(tag *t, bool ok) {
  (void)ok;                         /* a call that failed says why in its status */
  webcall *w = CONTAINER_OF(t, webcall, started.base);
  w->pending--;
  if (!w->protocol->streams) {      /* everything came in this one batch */
    w->headers_in = w->status_in = w->replies_over = true;
    answer(w);
  } else if (w->out != NULL) {
    w->headers_in = true;
    w->protocol->head(w);
    w->out->flush(w->out);
    read_reply(w);
    maybe_answer(w);
  }
  maybe_free(w);
}

static void on_ended(tag *t, bool ok) {
  (void)ok;
  webcall *w = CONTAINER_OF(t, webcall, ended.base);
  w->pending--;
  w->status_in = true;
  maybe_answer(w);
  maybe_free(w);
}

/* The batches: all in one for a unary Connect call; else the start, the status, then reply by reply. */
static int start_call(webcall *w) {
  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = w->metadata.n;
  ops[0].data.send_initial_metadata.metadata = w->metadata.items;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = w->request;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &w->headers;
  grpc_op *status = &ops[4];
  if (!w->protocol->streams) {
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &w->reply;
    status = &ops[5];
  }
  status->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  status->data.recv_status_on_client.trailing_metadata = &w->trailers;
  status->data.recv_status_on_client.status = &w->code;
  status->data.recv_status_on_client.status_details = &w->details;
  if (!w->protocol->streams) return start_batch(w, ops, 6, &w->started);
  if (start_batch(w, ops, 4, &w->started)) return -1;
  if (start_batch(w, status, 1, &w->ended) == 0) return 0;
  grpc_call_cancel(w->gc, NULL);
  return 0;                         /* the start batch comes back, and the status with it is CANCELLED */
}

static grpc_status_code make_call(webcall *w, const web_request *r, const char *msg, size_t len, char *err,
                                  size_t errlen) {
  gpr_timespec when;
  grpc_status_code code = deadline(w, r, &when, err, errlen);
  if (code == GRPC_STATUS_OK) code = take_metadata(w, r, err, errlen);
  if (code != GRPC_STATUS_OK) return code;
  grpc_channel *ch = w->env->loopback ? loopback_acquire(w->env->loopback, &w->link, err, errlen) : NULL;
  if (ch == NULL) return GRPC_STATUS_UNAVAILABLE;
  grpc_slice method = grpc_slice_from_copied_string(r->path);
  w->gc = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, w->env->cq, method, NULL, when, NULL);
  grpc_slice_unref(method);
  grpc_slice body = grpc_slice_from_copied_buffer(msg, len);
  w->request = grpc_raw_byte_buffer_create(&body, 1);
  grpc_slice_unref(body);
  if (w->gc != NULL && start_call(w) == 0) return GRPC_STATUS_OK;
  snprintf(err, errlen, "gRPC refused the call");
  return GRPC_STATUS_INTERNAL;
}

webcall *webcall_start(web_env *env, const web_request *r, web_out *o) {
  const content_type *ct = find_content_type(web_find_header(r, "content-type"));
  webcall *w = calloc(1, sizeof *w);
  if (w == NULL) {
    o->close = true;
    web_text(o, 503, "out of memory");
    return NULL;
  }
  env->live++;
  w->env = env;
  w->out = o;
  w->protocol = ct->protocol;
  w->json = ct->json;
  w->text = ct->text;
  w->details = grpc_empty_slice();
  w->started.base.done = on_started;
  w->received.base.done = on_received;
  w->ended.base.done = on_ended;
  grpc_metadata_array_init(&w->headers);
  grpc_metadata_array_init(&w->trailers);
  w->scratch.limit = 0;
  char err[ERR_MAX];
  const char *msg;
  size_t len;
  grpc_status_code code = w->protocol->take(w, r, &msg, &len, err, sizeof err);
  if (code == GRPC_STATUS_OK && len > (size_t)env->cfg->max_message_bytes) {
    snprintf(err, sizeof err, "the request message is %zu bytes, more than --max-message-bytes %d", len,
             env->cfg->max_message_bytes);
    code = GRPC_STATUS_RESOURCE_EXHAUSTED;
  }
  if (code == GRPC_STATUS_OK) code = make_call(w, r, msg, len, err, sizeof err);
  if (code == GRPC_STATUS_OK) return w;
  log_line(LOG_WARN, "http request refused", "path", r->path, "peer", r->peer, "protocol",
           w->protocol == &web_grpc_web ? "grpc-web" : "connect", "error", err, NULL);
  refuse(w, code, err);
  maybe_free(w);
  return NULL;
}

void webcall_drained(webcall *w) {
  if (!w->reading && !w->replies_over && w->headers_in) read_reply(w);
}

void webcall_abandon(webcall *w) {
  w->out = NULL;
  if (w->gc != NULL && !w->answered) grpc_call_cancel(w->gc, NULL);
  maybe_free(w);
}

/* }====================================================== */
