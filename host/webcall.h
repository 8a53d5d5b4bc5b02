/*
** webcall.h
** One HTTP/1.1 request of the door made a gRPC call to the host's own server
** over a loopback connection (loopback.h), and its reply written back in the
** protocol the client spoke: Connect (unary and server streaming, JSON or
** protobuf) or gRPC-Web (binary or base64 text). The door's thread only.
**
** The call's batches complete on the door's completion queue; the door hands
** each back as a tag (tag.h) on its own thread.
*/
#ifndef webcall_h
#define webcall_h

#include <stdbool.h>
#include <stddef.h>

#include <grpc/grpc.h>

#include "config.h"
#include "loopback.h"
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

/* Whether content_type is one the door serves (Connect, gRPC-Web). */
bool webcall_serves(const char *content_type);

/*
** Makes r a call, whose reply goes to o. NULL when it was answered at once
** (a request the protocol refuses: its error is in o and o->done has run).
*/
webcall *webcall_start(web_env *env, const web_request *r, web_out *o);

/* o has room again (web_backlog is low): the call reads on. */
void webcall_drained(webcall *w);

/* The client went away or the door stops: the call is cancelled, o is not used again. */
void webcall_abandon(webcall *w);

#endif
