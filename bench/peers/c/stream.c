/*
** stream.c
** The streaming methods of helloworld.Greeter on the bare C core, each the way
** bench/scripts/greeter.lua serves it, with one batch and one event per message:
**   SayHelloStreamReply   x-count replies (request metadata; 3 without it),
**                         "Hello NAME #i"; the first with the headers, the next
**                         ones marked for buffering (GRPC_WRITE_BUFFER_HINT) as
**                         the host marks a message sent while its handler waits
**                         to send another, the last with the status. (A first
**                         message so marked never completes: the transport holds
**                         it, headers and all, for a write nothing starts.)
**   SayHelloClientStream  one RECV_MESSAGE a request, counted; the count as reply
**   SayHelloBidiStream    for each request, "Hello NAME" back, then the next
**                         RECV_MESSAGE once the reply is out
*/
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define DEFAULT_REPLIES 3

static long metadata_count(const grpc_metadata_array *md) {
  for (size_t i = 0; i < md->count; i++) {
    if (grpc_slice_str_cmp(md->metadata[i].key, "x-count") != 0) continue;
    char digits[24];
    size_t len = GRPC_SLICE_LENGTH(md->metadata[i].value);
    if (len >= sizeof digits) return 0;
    memcpy(digits, GRPC_SLICE_START_PTR(md->metadata[i].value), len);
    digits[len] = '\0';
    return strtol(digits, NULL, 10);
  }
  return DEFAULT_REPLIES;
}

/* n in decimal at the end of buf (size 24); returns where it starts. */
static char *decimal(char *buf, long n) {
  char *p = buf + 24;
  do *--p = (char)('0' + n % 10);
  while ((n /= 10) > 0);
  return p;
}

static void send_next(core_call *c) {
  char buf[24], *digits = decimal(buf, ++c->count);
  grpc_slice parts[] = {grpc_slice_from_static_string("Hello "), c->name,
                        grpc_slice_from_static_string(" #"),
                        grpc_slice_from_static_buffer(digits, (size_t)(buf + sizeof buf - digits))};
  grpc_byte_buffer *bb = core_reply(parts, 4);
  if (c->count == c->total) core_finish(c, GRPC_STATUS_OK, bb);
  else core_send(c, bb, c->count > 1 ? GRPC_WRITE_BUFFER_HINT : 0);
}

static void replies_arrived(core_call *c) {
  if (c->message == NULL) {
    core_finish(c, GRPC_STATUS_INTERNAL, NULL);
    return;
  }
  c->name = core_request_name(c->message);
  c->total = metadata_count(&c->metadata);
  if (c->total <= 0) core_finish(c, GRPC_STATUS_OK, NULL);
  else send_next(c);
}

static void reply_sent(core_call *c, bool ok) {
  if (ok) send_next(c);
  else core_finish(c, GRPC_STATUS_CANCELLED, NULL);
}

const core_method core_server_stream = {"/helloworld.Greeter/SayHelloStreamReply", true,
                                        replies_arrived, NULL, reply_sent};

static void requests_arrived(core_call *c) {
  core_recv(c);
}

/* The request read, as a handler would read it, then let go. */
static void take_request(core_call *c) {
  grpc_slice_unref(c->name);
  c->name = core_request_name(c->message);
  grpc_byte_buffer_destroy(c->message);
  c->message = NULL;
}

static void request_counted(core_call *c, bool ok) {
  if (!ok) {
    core_finish(c, GRPC_STATUS_CANCELLED, NULL);
  } else if (c->message != NULL) {
    take_request(c);
    c->count++;
    core_recv(c);
  } else {
    char buf[24], *digits = decimal(buf, c->count);
    grpc_slice count = grpc_slice_from_static_buffer(digits, (size_t)(buf + sizeof buf - digits));
    core_finish(c, GRPC_STATUS_OK, core_reply(&count, 1));
  }
}

const core_method core_client_stream = {"/helloworld.Greeter/SayHelloClientStream", false,
                                        requests_arrived, request_counted, NULL};

/* One request in, its reply out, then the next request: one message in flight each way. */
static void bidi_received(core_call *c, bool ok) {
  if (!ok || c->message == NULL) {
    core_finish(c, ok ? GRPC_STATUS_OK : GRPC_STATUS_CANCELLED, NULL);
    return;
  }
  take_request(c);
  grpc_slice parts[] = {grpc_slice_from_static_string("Hello "), c->name};
  core_send(c, core_reply(parts, 2), 0);
}

static void bidi_sent(core_call *c, bool ok) {
  if (ok) core_recv(c);
  else core_finish(c, GRPC_STATUS_CANCELLED, NULL);
}

const core_method core_bidi = {"/helloworld.Greeter/SayHelloBidiStream", false, requests_arrived,
                               bidi_received, bidi_sent};
