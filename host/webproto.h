/*
** webproto.h
** Inside a webcall: the door's requests and calls, what each protocol does
** with a call (webconnect.c: Connect; webgrpcweb.c: gRPC-Web), and the helpers
** they share (webproto.c). webcall.c makes the gRPC call and calls the
** protocol's functions as the call's parts arrive; the protocols never call
** webcall.c.
*/
#ifndef webproto_h
#define webproto_h

#include <stdbool.h>
#include <stddef.h>

#include <grpc/grpc.h>

#include "buf.h"
#include "config.h"
#include "loopback.h"
#include "metadata.h"
#include "tag.h"
#include "webout.h"

typedef struct webcall webcall;

/* A tag of a webcall's batch: the door's completion thread queues it for the door's thread. */
typedef struct web_tag {
  tag base;
  struct web_tag *next;
  bool ok;
} web_tag;

/* What every call of the door shares. */
typedef struct web_env {
  const config *cfg;
  grpc_completion_queue *cq;        /* the door's */
  loopback *loopback;
  grpc_server *loopback_server;     /* what loopback connects to */
  size_t live;                      /* calls not yet freed */
} web_env;

/* A request as the door parsed it: header names lower-case, every string NUL-terminated. */
typedef struct web_request {
  const char *path;                 /* "/pkg.Service/Method" */
  size_t n_headers;
  const char *const *names;
  const char *const *values;
  const char *body;
  size_t body_len;
  const char *peer;                 /* the client, as gRPC names peers */
} web_request;

typedef struct web_protocol web_protocol;

struct webcall {
  web_env *env;
  web_out *out;                     /* NULL once abandoned */
  const web_protocol *protocol;
  bool json;                        /* Connect's JSON codec: messages are JSON text */
  bool text;                        /* gRPC-Web's text form: the body is base64 */
  bool gzip_replies;                /* the client accepts gzip, and replies this large are compressed */
  grpc_call *gc;
  loopback_link *link;
  web_tag started, received, ended; /* the call's batches: start (with the headers), a reply, the status */
  int pending;                      /* batches given to gRPC, not yet back */
  metadata_list metadata;           /* the request's */
  grpc_byte_buffer *request;
  grpc_metadata_array headers, trailers;
  grpc_byte_buffer *reply;
  grpc_status_code code;
  grpc_slice details;
  bool headers_in, status_in, replies_over, reading, answered;
  buf scratch;                      /* a message taken whole, or inflated */
  buf packed;                       /* a body decoded from base64; an error or a frame, written */
  buf zipped;                       /* a reply compressed (web_compress) */
};

/* What a protocol does. The status, once in, is in code and details; trailers in trailers. */
struct web_protocol {
  const char *name;                 /* the door's note on the call (loopback.h) */
  bool streams;                     /* replies are written as they come; else all at the end, in one batch */
  /* The request message of r, in *msg (pointing into r or w->scratch). A status other than OK refuses it. */
  grpc_status_code (*take)(webcall *w, const web_request *r, const char **msg, size_t *len, char *err,
                           size_t errlen);
  void (*head)(webcall *w);         /* streams: the status line and headers, once the call's headers are in */
  void (*message)(webcall *w, const char *data, size_t len);   /* streams: one reply */
  void (*end)(webcall *w);          /* the status (with the one reply, unless it streams), and web_end */
};

extern const web_protocol web_connect, web_connect_stream, web_grpc_web;

/* The value of request header name, or NULL. */
const char *web_find_header(const web_request *r, const char *name);

/* The 5-byte prefix of Connect's envelopes and gRPC's frames: flags, then the length big-endian. */
void web_prefix(char prefix[5], unsigned flags, size_t len);

/* The reply just received, in one piece (in w->scratch). */
void web_take_reply(webcall *w, const char **data, size_t *len);

/*
** Writes metadata as HTTP headers, -bin values in base64, prefix before each
** key ("trailer-"); gRPC's own keys (grpc-status-details-bin) are left to the protocol.
*/
void web_put_metadata(web_out *o, const grpc_metadata_array *md, const char *prefix);

/*
** The one message of a body of n bytes that must be one frame (gRPC's, or a
** Connect envelope): 5 bytes of flags and length, then the message; a flag
** 0x01 says it is compressed with what the request's header `encoding` names.
*/
grpc_status_code web_unframe(webcall *w, const web_request *r, const char *body, size_t n, const char *encoding,
                             const char **msg, size_t *len, char *err, size_t errlen);

/* Whether replies are compressed: the request's header accept lists gzip, and --compress-min-bytes is not 0. */
void web_gzip_replies(webcall *w, const web_request *r, const char *accept);

/*
** A reply of len bytes at data gzip-compressed into w->zipped, and data and
** len pointed at it, when the client takes gzip and the reply is
** --compress-min-bytes or more; false, leaving them, otherwise.
*/
bool web_compress(webcall *w, const char **data, size_t *len);

/* Inflates len bytes at data into w->scratch, bounded by --max-message-bytes. */
grpc_status_code web_inflate(webcall *w, const char **data, size_t *len, char *err, size_t errlen);

#endif
