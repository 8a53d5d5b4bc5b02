/*
** cli_call.c
** host --call: one call through the gRPC C core on a completion queue of its
** own, in a blocking loop. The request is proto3 JSON from the command line
** (the empty message when there is none) or, for a method that streams
** requests, one JSON document a line from stdin; each reply goes to stdout as
** one line of JSON. A status other than OK goes to stderr as "NAME: message"
** and the exit code is 64 + its code, as grpcurl does; 1 is a failure of our
** own (bad JSON, unknown method).
*/
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "calljson.h"
#include "chanargs.h"
#include "cli_call.h"
#include "embedded.h"
#include "schema.h"
#include "status.h"

#define EXIT_STATUS_BASE 64
#define STDIN_TICK_MS 10            /* how often a wait for stdin looks at the queue */

typedef struct session {
  const schema_method *m;
  calljson *json;
  grpc_completion_queue *cq;
  grpc_call *call;
  grpc_metadata_array initial, trailing;
  grpc_status_code status;
  grpc_slice details;
  grpc_byte_buffer *sent, *reply;
  int pending;                      /* batches started, not yet completed */
  bool sending, receiving, ended, half_closed;
  bool failed;                      /* we cancelled the call: our error is printed */
  /* Requests from stdin: what was read and not yet sent, the line number. */
  char *in;
  size_t in_len, in_cap;
  bool in_eof;
  int line;
} session;

/* The tags: one batch of each kind in flight at most. */
static char tag_start, tag_send, tag_recv, tag_status;

static int start_batch(session *s, const grpc_op *ops, size_t n, void *tag) {
  if (grpc_call_start_batch(s->call, ops, n, tag, NULL) != GRPC_CALL_OK) return -1;
  s->pending++;
  return 0;
}

/* Ends the call with our own error, printed now. */
static void fail(session *s, const char *what, const char *err) {
  fprintf(stderr, "host --call: %s%s\n", what, err);
  s->failed = true;
  grpc_call_cancel_with_status(s->call, GRPC_STATUS_CANCELLED, "the client gave up", NULL);
}

static void receive_next(session *s) {
  grpc_op op = {.op = GRPC_OP_RECV_MESSAGE};
  op.data.recv_message.recv_message = &s->reply;
  s->receiving = start_batch(s, &op, 1, &tag_recv) == 0;
}

/* Sends one message of JSON text, and half-closes after it when close is set. */
static void send_json(session *s, const char *text, size_t len, bool close, const char *where) {
  const char *bytes;
  size_t n;
  char err[1024];
  if (calljson_to_bytes(s->json, s->m->input, text, len, &bytes, &n, err, sizeof err) < 0) {
    fail(s, where, err);
    return;
  }
  grpc_slice slice = grpc_slice_from_copied_buffer(bytes, n);
  s->sent = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  grpc_op ops[2] = {{.op = GRPC_OP_SEND_MESSAGE}, {.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT}};
  ops[0].data.send_message.send_message = s->sent;
  s->sending = start_batch(s, ops, close ? 2 : 1, &tag_send) == 0;
  s->half_closed = close;
}

static void half_close(session *s) {
  grpc_op op = {.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT};
  s->sending = start_batch(s, &op, 1, &tag_send) == 0;
  s->half_closed = true;
}

/* Prints a reply as one line of JSON; a reply that does not decode ends the call. */
static void print_reply(session *s) {
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, s->reply)) {
    fail(s, "a reply: ", "cannot read its bytes");
    return;
  }
  grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  const char *text;
  size_t len;
  char err[1024];
  if (calljson_to_json(s->json, s->m->output, (const char *)GRPC_SLICE_START_PTR(all),
                       GRPC_SLICE_LENGTH(all), &text, &len, err, sizeof err) < 0) {
    fail(s, "a reply: ", err);
  } else {
    fwrite(text, 1, len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
  }
  grpc_slice_unref(all);
}

static void on_event(session *s, void *tag, bool ok) {
  s->pending--;
  if (tag == &tag_send) {
    s->sending = false;
    grpc_byte_buffer_destroy(s->sent);
    s->sent = NULL;
  } else if (tag == &tag_recv) {
    s->receiving = false;
    if (!ok || s->reply == NULL) return;           /* the replies have ended */
    if (!s->failed) print_reply(s);
    grpc_byte_buffer_destroy(s->reply);
    s->reply = NULL;
    if (!s->failed) receive_next(s);
  } else if (tag == &tag_status) {
    s->ended = true;
  }
}

/* The first whole line read from stdin, or the rest at its end; NULL until there is one. */
static char *take_line(session *s, size_t *len) {
  char *nl = s->in_len > 0 ? memchr(s->in, '\n', s->in_len) : NULL;
  if (nl == NULL && !(s->in_eof && s->in_len > 0)) return NULL;
  *len = nl ? (size_t)(nl - s->in) : s->in_len;
  return s->in;
}

static void drop_line(session *s, size_t len) {
  size_t used = len < s->in_len ? len + 1 : len;
  memmove(s->in, s->in + used, s->in_len - used);
  s->in_len -= used;
}

/* Reads what stdin has within a tick; -1 when it cannot be read. */
static int read_stdin(session *s) {
  struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
  if (poll(&p, 1, STDIN_TICK_MS) <= 0) return 0;
  if (s->in_cap - s->in_len < 4096) {
    size_t cap = s->in_cap ? s->in_cap * 2 : 8192;
    char *in = realloc(s->in, cap);
    if (in == NULL) return -1;
    s->in = in;
    s->in_cap = cap;
  }
  ssize_t n = read(STDIN_FILENO, s->in + s->in_len, s->in_cap - s->in_len);
  if (n < 0 && errno != EINTR && errno != EAGAIN) return -1;
  if (n == 0) s->in_eof = true;
  if (n > 0) s->in_len += (size_t)n;
  return 0;
}

/* Sends the next request line when one is there, half-closes at the end of stdin. */
static void feed_from_stdin(session *s) {
  size_t len;
  char *text = take_line(s, &len);
  if (text == NULL && s->in_eof) {
    half_close(s);
    return;
  }
  if (text == NULL) {
    if (read_stdin(s) < 0) fail(s, "stdin: ", strerror(errno ? errno : ENOMEM));
    return;
  }
  char where[32];
  snprintf(where, sizeof where, "stdin line %d: ", ++s->line);
  if (strspn(text, " \t\r") < len) send_json(s, text, len, false, where);
  drop_line(s, len);
}

static bool wants_stdin(const session *s) {
  return !method_one_request(s->m) && !s->half_closed && !s->sending && !s->ended && !s->failed;
}

static void run(session *s, const char *request) {
  grpc_op start[2] = {{.op = GRPC_OP_SEND_INITIAL_METADATA}, {.op = GRPC_OP_RECV_INITIAL_METADATA}};
  start[1].data.recv_initial_metadata.recv_initial_metadata = &s->initial;
  grpc_op status = {.op = GRPC_OP_RECV_STATUS_ON_CLIENT};
  status.data.recv_status_on_client.trailing_metadata = &s->trailing;
  status.data.recv_status_on_client.status = &s->status;
  status.data.recv_status_on_client.status_details = &s->details;
  if (start_batch(s, start, 2, &tag_start) || start_batch(s, &status, 1, &tag_status)) {
    fprintf(stderr, "host --call: the call could not be started\n");
    s->failed = true;
    grpc_call_cancel(s->call, NULL);
    return;
  }
  receive_next(s);
  if (request != NULL || method_one_request(s->m)) {
    const char *text = request ? request : "{}";
    send_json(s, text, strlen(text), true, "the request: ");
  }
  while (s->pending > 0) {
    bool input = wants_stdin(s);
    if (input) feed_from_stdin(s);
    gpr_timespec until = input ? gpr_time_0(GPR_CLOCK_MONOTONIC) : gpr_inf_future(GPR_CLOCK_MONOTONIC);
    grpc_event ev = grpc_completion_queue_next(s->cq, until, NULL);
    if (ev.type == GRPC_OP_COMPLETE) on_event(s, ev.tag, ev.success);
  }
}

/* The exit code: the status, printed to stderr when it is not OK. */
static int report(session *s) {
  if (s->failed) return 1;
  if (s->status == GRPC_STATUS_OK) return 0;
  fprintf(stderr, "%s: %.*s\n", status_name(s->status), (int)GRPC_SLICE_LENGTH(s->details),
          (const char *)GRPC_SLICE_START_PTR(s->details));
  return EXIT_STATUS_BASE + (int)s->status;
}

/* The channel and the call on it; -1 when the core refuses. */
static int open_call(session *s, grpc_channel **channel, const config *cfg) {
  grpc_arg args[] = {chanarg_int(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, cfg->max_message_bytes),
                     chanarg_no_channelz()};
  grpc_channel_args channel_args = {sizeof args / sizeof args[0], args};
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  *channel = grpc_channel_create(cfg->call_target, creds, &channel_args);
  grpc_channel_credentials_release(creds);
  s->cq = grpc_completion_queue_create_for_next(NULL);
  grpc_slice path = grpc_slice_from_static_string(s->m->path);
  s->call = grpc_channel_create_call(*channel, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, path, NULL,
                                     gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  return s->call != NULL ? 0 : -1;
}

static void close_call(session *s, grpc_channel *channel) {
  if (s->call != NULL) grpc_call_unref(s->call);
  grpc_channel_destroy(channel);
  grpc_completion_queue_shutdown(s->cq);
  while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type != GRPC_QUEUE_SHUTDOWN) {}
  grpc_completion_queue_destroy(s->cq);
  grpc_metadata_array_destroy(&s->initial);
  grpc_metadata_array_destroy(&s->trailing);
  grpc_slice_unref(s->details);
  free(s->in);
}

/* The method of "pkg.Service/Method" (a leading '/' allowed); NULL with the reason printed. */
static const schema_method *find_method(const schema *s, const char *name) {
  char path[512];
  snprintf(path, sizeof path, "/%s", name[0] == '/' ? name + 1 : name);
  const schema_method *m = schema_find_method(s, path, strlen(path));
  if (m != NULL) return m;
  const char *slash = strrchr(path, '/');
  char service[512];
  snprintf(service, sizeof service, "%.*s", slash > path ? (int)(slash - path - 1) : 0, path + 1);
  if (slash == path || schema_find_service(s, service) == NULL)
    fprintf(stderr, "host --call: no service '%s' in the protosets (name a method as pkg.Service/Method)\n",
            service);
  else
    fprintf(stderr, "host --call: %s has no method '%s'\n", service, slash + 1);
  return NULL;
}

int cli_call_main(const config *cfg, const luaL_Reg *libs) {
  char err[1024];
  schema *sch = schema_load_with(builtin_protoset[0].data, builtin_protoset[0].size, cfg->protosets,
                                 cfg->n_protosets, err, sizeof err);
  if (sch == NULL) {
    fprintf(stderr, "host --call: %s\n", err);
    return 1;
  }
  session s = {.m = find_method(sch, cfg->call), .details = grpc_empty_slice()};
  if (s.m != NULL) s.json = calljson_new(sch, cfg, libs, err, sizeof err);
  if (s.json == NULL) {
    if (s.m != NULL) fprintf(stderr, "host --call: %s\n", err);
    schema_release(sch);
    return 1;
  }
  grpc_init();
  grpc_metadata_array_init(&s.initial);
  grpc_metadata_array_init(&s.trailing);
  grpc_channel *channel;
  int code = 1;
  if (open_call(&s, &channel, cfg) == 0) {
    run(&s, cfg->call_request);
    code = report(&s);
  } else {
    fprintf(stderr, "host --call: cannot call %s on %s\n", s.m->path, cfg->call_target);
  }
  close_call(&s, channel);
  grpc_shutdown();
  calljson_free(s.json);
  schema_release(sch);
  return code;
}
