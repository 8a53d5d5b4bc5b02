/*
** client.c
** Channels by target, and the state machine of an outbound call. A unary call
** is one batch. A stream has a batch for its headers, one for its status, and
** at most one each of send, close and receive in flight.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "chanargs.h"
#include "client.h"
#include "fsutil.h"
#include "log.h"
#include "tag.h"

/*
** {======================================================
** Channels
** =======================================================
*/

typedef struct channel_entry {
  char *key;                        /* every field of the client_target, one a line */
  grpc_channel *channel;
} channel_entry;

struct client_pool {
  grpc_completion_queue *cq;        /* the calls', borrowed: the worker's, or its relay's (relay.h) */
  int max_message_bytes;
  channel_entry *entries;
  size_t n, cap;
};

client_pool *client_pool_new(grpc_completion_queue *cq, int max_message_bytes) {
  client_pool *p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  p->cq = cq;
  p->max_message_bytes = max_message_bytes;
  return p;
}

void client_pool_free(client_pool *p) {
  if (p == NULL) return;
  for (size_t i = 0; i < p->n; i++) {
    grpc_channel_destroy(p->entries[i].channel);
    free(p->entries[i].key);
  }
  free(p->entries);
  free(p);
}

#define KEY_PARTS 6

/* What makes a channel: the parts of its key, "" for NULL. */
static void key_parts(const client_target *t, const char *parts[KEY_PARTS]) {
  const char *p[KEY_PARTS] = {t->target, t->tls ? "tls" : "", t->ca, t->cert, t->key, t->authority};
  for (int i = 0; i < KEY_PARTS; i++) parts[i] = p[i] ? p[i] : "";
}

static char *key_of(const client_target *t) {
  const char *parts[KEY_PARTS];
  key_parts(t, parts);
  size_t len = 1;
  for (int i = 0; i < KEY_PARTS; i++) len += strlen(parts[i]) + 1;
  char *key = malloc(len);
  if (key == NULL) return NULL;
  key[0] = '\0';
  for (int i = 0; i < KEY_PARTS; i++) {
    strcat(key, parts[i]);
    strcat(key, "\n");
  }
  return key;
}

/* Whether key is key_of(t), without making it: a call finds its channel without an allocation. */
static bool key_matches(const char *key, const client_target *t) {
  const char *parts[KEY_PARTS];
  key_parts(t, parts);
  for (int i = 0; i < KEY_PARTS; i++) {
    size_t n = strlen(parts[i]);
    if (strncmp(key, parts[i], n) != 0 || key[n] != '\n') return false;
    key += n + 1;
  }
  return *key == '\0';
}

/* The contents of a PEM file named by an option, into *pem; -1 with the reason in err. */
static int read_pem(const char *option, const char *path, char **pem, char *err, size_t errlen) {
  size_t len;
  *pem = NULL;
  if (path == NULL) return 0;
  *pem = fs_read_file(path, &len);
  if (*pem != NULL) return 0;
  snprintf(err, errlen, "cannot read %s file %s: %s", option, path, strerror(errno));
  return -1;
}

static grpc_channel_credentials *credentials(const client_target *t, char *err, size_t errlen) {
  if (!t->tls) return grpc_insecure_credentials_create();
  if ((t->cert == NULL) != (t->key == NULL)) {
    snprintf(err, errlen, "tls.cert and tls.key go together");
    return NULL;
  }
  char *ca, *cert = NULL, *key = NULL;
  grpc_channel_credentials *creds = NULL;
  if (read_pem("tls.ca", t->ca, &ca, err, errlen) == 0 && read_pem("tls.cert", t->cert, &cert, err, errlen) == 0 &&
      read_pem("tls.key", t->key, &key, err, errlen) == 0) {
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    creds = grpc_ssl_credentials_create(ca, cert ? &pair : NULL, NULL, NULL);
    if (creds == NULL) snprintf(err, errlen, "the TLS files are not usable PEM");
  }
  free(ca);
  free(cert);
  free(key);
  return creds;
}

static grpc_channel *new_channel(const client_pool *p, const client_target *t, char *err, size_t errlen) {
  grpc_channel_credentials *creds = credentials(t, err, errlen);
  if (creds == NULL) return NULL;
  grpc_arg args[4];
  size_t n = 0;
  args[n++] = chanarg_int(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, p->max_message_bytes);
  args[n++] = chanarg_no_channelz();
  if (t->authority != NULL) {
    args[n++] = chanarg_string(GRPC_ARG_DEFAULT_AUTHORITY, t->authority);
    if (t->tls) args[n++] = chanarg_string(GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, t->authority);
  }
  grpc_channel_args channel_args = {n, args};
  grpc_channel *channel = grpc_channel_create(t->target, creds, &channel_args);
  grpc_channel_credentials_release(creds);
  if (channel == NULL) snprintf(err, errlen, "cannot make a channel");
  return channel;
}

static grpc_channel *channel_for(client_pool *p, const client_target *t, char *err, size_t errlen) {
  for (size_t i = 0; i < p->n; i++)
    if (key_matches(p->entries[i].key, t)) return p->entries[i].channel;
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 8;
    channel_entry *entries = realloc(p->entries, cap * sizeof *entries);
    if (entries == NULL) {
      snprintf(err, errlen, "out of memory");
      return NULL;
    }
    p->entries = entries;
    p->cap = cap;
  }
  char *key = key_of(t);
  if (key == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  grpc_channel *channel = new_channel(p, t, err, errlen);
  if (channel == NULL) {
    free(key);
    return NULL;
  }
  p->entries[p->n].key = key;
  p->entries[p->n++].channel = channel;
  return channel;
}

/* }====================================================== */

/*
** {======================================================
** --outbound
** =======================================================
*/

/* Whether one address, "host", "host:port" or "[v6]:port" (port 443 when left out, as gRPC's), may be reached. */
static bool address_allowed(const outbound_list *l, const char *a, size_t n) {
  char host[256];
  const char *end = a + n, *h = a, *colon;
  size_t hlen;
  if (n > 0 && a[0] == '[') {
    const char *close = memchr(a, ']', n);
    if (close == NULL) return false;
    h = a + 1;
    hlen = (size_t)(close - h);
    colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
  } else {
    colon = memchr(a, ':', n);
    hlen = colon ? (size_t)(colon - a) : n;
  }
  if (hlen == 0 || hlen >= sizeof host) return false;
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  int port = colon ? atoi(colon + 1) : 443;
  return outbound_allowed(l, host, port);
}

/*
** Whether every address a target names may be reached: "host:port",
** "dns:[//authority/]host:port", "ipv4:a:p,b:p", "ipv6:[a]:p". A unix socket
** names no host: under a list it is refused.
*/
static bool target_allowed(const outbound_list *l, const char *target) {
  if (l->n == 0) return true;
  if (strncmp(target, "unix:", 5) == 0 || strncmp(target, "unix-abstract:", 14) == 0) return false;
  const char *p = target;
  if (strncmp(p, "dns:", 4) == 0) {
    p += 4;
    const char *slash = strncmp(p, "//", 2) == 0 ? strchr(p + 2, '/') : NULL;
    if (slash != NULL) p = slash + 1;   /* past an authority: "dns://8.8.8.8/name:443" */
  } else if (strncmp(p, "ipv4:", 5) == 0 || strncmp(p, "ipv6:", 5) == 0) {
    p += 5;
  }
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    if (!address_allowed(l, p, n)) return false;
    if (comma == NULL) return true;
    p = comma + 1;
  }
}

/* }====================================================== */

/*
** {======================================================
** Outbound calls
** =======================================================
*/

typedef enum client_tag_kind {
  CT_UNARY,      /* every op of a unary call */
  CT_HEADERS,    /* SEND_INITIAL_METADATA + RECV_INITIAL_METADATA of a stream */
  CT_STATUS,     /* RECV_STATUS_ON_CLIENT of a stream */
  CT_SEND,       /* SEND_MESSAGE */
  CT_CLOSE,      /* SEND_CLOSE_FROM_CLIENT */
  CT_RECV,       /* RECV_MESSAGE */
  CT_COUNT
} client_tag_kind;

typedef struct client_tag {
  tag base;
  client_call *cc;
  client_tag_kind kind;
} client_tag;

struct client_call {
  call_wait wait;                   /* the owner's handler waiting on it */
  call_child child;                 /* its place among what the handler started */
  call_queue *q;                    /* whose budget it takes */
  grpc_call *gc;
  client_tag tags[CT_COUNT];
  int pending;                      /* batches given to gRPC, not yet back */
  bool owned;                       /* the owner has not let go */
  client_call **handle;             /* where the owner keeps it, cleared when the handler ends; or NULL */
  client_step step;                 /* what the owner waits for */
  metadata_list md;                 /* request metadata, until it is sent */
  grpc_byte_buffer *sending;        /* in flight */
  grpc_byte_buffer *received;       /* out parameter of RECV_MESSAGE */
  bool close_wanted, close_started, receiving, headers_done, status_done;
  grpc_metadata_array headers, trailers;
  grpc_status_code status;
  grpc_slice details;
};

static void on_tag(tag *t, bool ok);
static void cancel_wait(call_wait *w);

static const call_wait_type outbound_wait = {"an outbound call", NULL, cancel_wait};

/* The slices of received metadata are the C core call's: copies of them outlive it. */
static void copy_metadata(grpc_metadata_array *md) {
  for (size_t i = 0; i < md->count; i++) {
    md->metadata[i].key = grpc_slice_dup(md->metadata[i].key);
    md->metadata[i].value = grpc_slice_dup(md->metadata[i].value);
  }
}

/* Once the slices are copies. */
static void free_metadata(grpc_metadata_array *md) {
  for (size_t i = 0; i < md->count; i++) {
    grpc_slice_unref(md->metadata[i].key);
    grpc_slice_unref(md->metadata[i].value);
  }
  grpc_metadata_array_destroy(md);
}

/*
** The call is over and gRPC holds no batch of it: the C core call goes now,
** before the handler resumes. Held on, it would still be a child of the
** handler's call when that call ends, and gRPC would cancel it then, through
** every filter and the transport: about a tenth of the instructions of a
** proxied unary call.
*/
static void release_grpc_call(client_call *cc) {
  copy_metadata(&cc->headers);
  copy_metadata(&cc->trailers);
  grpc_call_unref(cc->gc);
  cc->gc = NULL;
}

static void client_call_free(client_call *cc) {
  if (cc->gc != NULL) release_grpc_call(cc);
  cc->q->outbound--;
  metadata_free(&cc->md);
  grpc_byte_buffer_destroy(cc->sending);
  grpc_byte_buffer_destroy(cc->received);
  free_metadata(&cc->headers);
  free_metadata(&cc->trailers);
  grpc_slice_unref(cc->details);
  free(cc);
}

static void maybe_free(client_call *cc) {
  if (cc->pending == 0 && !cc->owned) client_call_free(cc);
}

/* The handler ended with cc open: it is cancelled, and its owner's pointer cleared. */
static void orphan(call_child *k) {
  client_call *cc = CONTAINER_OF(k, client_call, child);
  if (cc->handle != NULL) *cc->handle = NULL;
  client_call_release(cc);
}

static int start_batch(client_call *cc, const grpc_op *ops, size_t n, client_tag_kind kind) {
  grpc_call_error e = grpc_call_start_batch(cc->gc, ops, n, &cc->tags[kind].base, NULL);
  if (e != GRPC_CALL_OK) {
    log_line(LOG_ERROR, "gRPC refused an outbound batch", "error", grpc_call_error_to_string(e), NULL);
    grpc_call_cancel(cc->gc, NULL);
    return -1;
  }
  cc->pending++;
  return 0;
}

static grpc_op op_of(grpc_op_type type) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = type;
  return op;
}

/* The ops that open the call and, for a unary call, all the rest; -1 if gRPC refused. */
static int start_ops(client_call *cc, grpc_byte_buffer *unary_request) {
  grpc_op ops[6];
  size_t n = 0;
  ops[n] = op_of(GRPC_OP_SEND_INITIAL_METADATA);
  ops[n].data.send_initial_metadata.count = cc->md.n;
  ops[n++].data.send_initial_metadata.metadata = cc->md.items;
  ops[n] = op_of(GRPC_OP_RECV_INITIAL_METADATA);
  ops[n++].data.recv_initial_metadata.recv_initial_metadata = &cc->headers;
  grpc_op status = op_of(GRPC_OP_RECV_STATUS_ON_CLIENT);
  status.data.recv_status_on_client.trailing_metadata = &cc->trailers;
  status.data.recv_status_on_client.status = &cc->status;
  status.data.recv_status_on_client.status_details = &cc->details;
  if (unary_request == NULL) return start_batch(cc, ops, n, CT_HEADERS) || start_batch(cc, &status, 1, CT_STATUS);
  cc->sending = unary_request;
  ops[n] = op_of(GRPC_OP_SEND_MESSAGE);
  ops[n++].data.send_message.send_message = unary_request;
  ops[n++] = op_of(GRPC_OP_SEND_CLOSE_FROM_CLIENT);
  ops[n] = op_of(GRPC_OP_RECV_MESSAGE);
  ops[n++].data.recv_message.recv_message = &cc->received;
  ops[n++] = status;
  cc->close_started = true;
  return start_batch(cc, ops, n, CT_UNARY);
}

static gpr_timespec deadline_of(int64_t timeout_ns) {
  if (timeout_ns == INT64_MAX) return gpr_inf_future(GPR_CLOCK_MONOTONIC);
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_nanos(timeout_ns, GPR_TIMESPAN));
}

static client_call *client_call_new(call *c, metadata_list *md, client_call **handle) {
  client_call *cc = calloc(1, sizeof *cc);
  if (cc == NULL) return NULL;
  call_wait_init(&cc->wait, &outbound_wait);
  cc->q = call_queue_of(c);
  cc->q->outbound++;
  for (int k = 0; k < CT_COUNT; k++) {
    cc->tags[k].base.done = on_tag;
    cc->tags[k].cc = cc;
    cc->tags[k].kind = (client_tag_kind)k;
  }
  cc->md = *md;
  memset(md, 0, sizeof *md);
  cc->owned = true;
  cc->handle = handle;
  if (handle != NULL) *handle = cc;
  cc->child.orphan = orphan;
  grpc_metadata_array_init(&cc->headers);
  grpc_metadata_array_init(&cc->trailers);
  cc->details = grpc_empty_slice();
  return cc;
}

client_call *client_call_start(call *c, const client_target *t, const char *method,
                               metadata_list *md, grpc_byte_buffer *unary_request,
                               int64_t timeout_ns, client_call **handle,
                               grpc_status_code *code, char *err, size_t errlen) {
  call_queue *q = call_queue_of(c);
  grpc_channel *channel = NULL;
  *code = GRPC_STATUS_RESOURCE_EXHAUSTED;
  if (!target_allowed(call_vm(c)->cfg->outbound, t->target)) {
    *code = GRPC_STATUS_PERMISSION_DENIED;
    snprintf(err, errlen, "the target is not in --outbound");
  } else if (q->outbound >= q->max_outbound) {
    snprintf(err, errlen, "%zu outbound calls are in flight in this worker (--max-outbound)", q->outbound);
  } else {
    *code = GRPC_STATUS_INVALID_ARGUMENT;
    channel = channel_for(q->clients, t, err, errlen);
  }
  client_call *cc = channel ? client_call_new(c, md, handle) : NULL;
  if (channel != NULL && cc == NULL) snprintf(err, errlen, "out of memory");
  if (cc == NULL) {
    metadata_free(md);
    grpc_byte_buffer_destroy(unary_request);
    return NULL;
  }
  grpc_slice path = grpc_slice_from_static_string(method);
  cc->gc = grpc_channel_create_call(channel, call_grpc(c), GRPC_PROPAGATE_DEFAULTS, q->clients->cq, path,
                                    NULL, deadline_of(timeout_ns), NULL);
  if (cc->gc == NULL || start_ops(cc, unary_request)) {
    if (cc->sending == NULL) grpc_byte_buffer_destroy(unary_request);
    *code = GRPC_STATUS_INTERNAL;
    snprintf(err, errlen, "gRPC refused to start the call");
    if (handle != NULL) *handle = NULL;
    cc->owned = false;
    maybe_free(cc);
    return NULL;
  }
  call_adopt(c, &cc->child);
  return cc;
}

static bool ready(const client_call *cc) {
  switch (cc->step) {
  case CLIENT_REPLY: return cc->status_done;
  case CLIENT_SENT: return cc->sending == NULL;
  case CLIENT_MESSAGE: return !cc->receiving && (cc->received != NULL || cc->status_done);
  }
  return true;
}

bool client_call_wait(client_call *cc, client_step step) {
  cc->step = step;
  if (ready(cc)) return false;
  call_wait_begin(cc->child.parent, &cc->wait);
  return true;
}

/* The incoming call was cancelled while its handler waited: the outbound call goes too. */
static void cancel_wait(call_wait *w) {
  client_call *cc = CONTAINER_OF(w, client_call, wait);
  grpc_call_cancel(cc->gc, NULL);
}

static int start_close(client_call *cc) {
  grpc_op op = op_of(GRPC_OP_SEND_CLOSE_FROM_CLIENT);
  cc->close_started = true;
  return start_batch(cc, &op, 1, CT_CLOSE);
}

int client_call_send(client_call *cc, grpc_byte_buffer *bb) {
  if (cc->status_done || cc->close_wanted || cc->close_started) {
    grpc_byte_buffer_destroy(bb);
    return -1;
  }
  grpc_op op = op_of(GRPC_OP_SEND_MESSAGE);
  op.data.send_message.send_message = bb;
  cc->sending = bb;
  if (start_batch(cc, &op, 1, CT_SEND) == 0) return 0;
  cc->sending = NULL;
  grpc_byte_buffer_destroy(bb);
  return -1;
}

void client_call_close_send(client_call *cc) {
  if (cc->close_wanted || cc->close_started) return;
  cc->close_wanted = true;
  if (cc->sending == NULL && !cc->status_done) start_close(cc);
}

int client_call_recv(client_call *cc) {
  grpc_byte_buffer_destroy(cc->received);
  cc->received = NULL;
  if (cc->status_done) return 0;    /* no message comes after the status */
  grpc_op op = op_of(GRPC_OP_RECV_MESSAGE);
  op.data.recv_message.recv_message = &cc->received;
  if (start_batch(cc, &op, 1, CT_RECV)) return -1;
  cc->receiving = true;
  return 0;
}

grpc_byte_buffer *client_call_take_message(client_call *cc) {
  grpc_byte_buffer *bb = cc->received;
  cc->received = NULL;
  return bb;
}

bool client_call_done(const client_call *cc) {
  return cc->status_done;
}

grpc_status_code client_call_status(const client_call *cc, grpc_slice *details) {
  *details = cc->details;
  return cc->status;
}

const grpc_metadata_array *client_call_headers(const client_call *cc) {
  return cc->headers_done ? &cc->headers : NULL;
}

const grpc_metadata_array *client_call_trailers(const client_call *cc) {
  return cc->status_done ? &cc->trailers : NULL;
}

call *client_call_parent(const client_call *cc) {
  return cc->child.parent;
}

void client_call_cancel(client_call *cc) {
  if (!cc->status_done) grpc_call_cancel(cc->gc, NULL);
}

void client_call_release(client_call *cc) {
  client_call_cancel(cc);
  call_disown(&cc->child);
  cc->owned = false;
  cc->handle = NULL;
  maybe_free(cc);
}

static void on_tag(tag *t, bool ok) {
  client_tag *ct = CONTAINER_OF(t, client_tag, base);
  client_call *cc = ct->cc;
  switch (ct->kind) {
  case CT_UNARY:
    grpc_byte_buffer_destroy(cc->sending);
    cc->sending = NULL;
    cc->headers_done = true;
    cc->status_done = true;
    break;
  case CT_HEADERS: cc->headers_done = true; break;
  case CT_STATUS: cc->status_done = true; break;
  case CT_SEND:
    grpc_byte_buffer_destroy(cc->sending);
    cc->sending = NULL;
    if (ok && cc->close_wanted && !cc->close_started) start_close(cc);
    break;
  case CT_CLOSE: break;
  case CT_RECV: cc->receiving = false; break;
  default: break;
  }
  if (cc->status_done && cc->pending == 1) release_grpc_call(cc);
  /* The batch still counts while the handler runs: its letting go cannot free cc under us. */
  if (cc->wait.call != NULL && ready(cc)) call_wait_end(&cc->wait);
  cc->pending--;
  maybe_free(cc);
}

/* }====================================================== */
