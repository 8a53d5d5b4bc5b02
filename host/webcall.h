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

#include "webproto.h"

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
