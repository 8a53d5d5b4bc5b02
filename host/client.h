/*
** client.h
** Outbound gRPC on the C core: channels kept per worker and target and reused
** by every call, and outbound calls whose events come back on the worker's own
** completion queue. Plain C: a handler waits on an outbound call through its
** call_wait record, and the call is a child of the handler's call (it inherits
** its deadline and cancellation, and is cancelled when the handler ends).
**
** Lifetime: an outbound call is held by the batches it gave gRPC and by its
** owner on the Lua side; it is freed when both have let go. The owner lets go
** with client_call_release, or is let go of when the handler ends: then the
** pointer it holds (*handle) is cleared.
**
** Errors: NULL with the reason in the caller's buffer; a call that fails ends
** with its status, as the C core reports it.
*/
#ifndef client_h
#define client_h

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "call.h"
#include "metadata.h"

/* How a channel connects: plaintext when tls is false. */
typedef struct client_target {
  const char *target;               /* "127.0.0.1:50051", "dns:///name:443", "unix:/path" */
  bool tls;
  const char *ca;                   /* PEM file of trusted roots; NULL: the system's */
  const char *cert, *key;           /* PEM files of a client certificate, or NULL */
  const char *authority;            /* the :authority (and TLS name) to use, or NULL */
} client_target;

typedef struct client_pool client_pool;

/* The channels of one worker, whose calls complete on cq. NULL when out of memory. */
client_pool *client_pool_new(grpc_completion_queue *cq, int max_message_bytes);
/* Once no outbound call is in flight. */
void client_pool_free(client_pool *p);

typedef struct client_call client_call;

/* What the owner waits for. */
typedef enum client_step {
  CLIENT_REPLY,                     /* unary: the reply and the status */
  CLIENT_SENT,                      /* stream: the message in flight is out */
  CLIENT_MESSAGE                    /* stream: the next message, or the status after the last */
} client_step;

/*
** Starts an outbound call of method (a path: "/pkg.Service/Method") from c's
** handler, taking md. unary_request: the one request of a unary call (taken),
** sent with the close; NULL opens a stream. timeout_ns: from now, or INT64_MAX
** for none (the incoming call's deadline applies either way). *handle is
** where the owner keeps the call: cleared when the handler ends first.
** NULL with the reason in err (PERMISSION_DENIED for a target --outbound
** leaves out, RESOURCE_EXHAUSTED past --max-outbound, INVALID_ARGUMENT for a
** channel that cannot be made).
*/
client_call *client_call_start(call *c, const client_target *t, const char *method,
                               metadata_list *md, grpc_byte_buffer *unary_request,
                               int64_t timeout_ns, client_call **handle,
                               grpc_status_code *code, char *err, size_t errlen);

/*
** The owner waits for step: false when it is there already; true when the
** handler waits for it (the wait has begun: yield).
*/
bool client_call_wait(client_call *cc, client_step step);

/* Stream: sends bb (taken) once the message before is out: -1 when the call is over. */
int client_call_send(client_call *cc, grpc_byte_buffer *bb);
/* Stream: the client will send no more (after the message in flight). */
void client_call_close_send(client_call *cc);
/* Stream: asks for the next message. */
int client_call_recv(client_call *cc);
/* The message received last (taken; NULL at the end of the stream). */
grpc_byte_buffer *client_call_take_message(client_call *cc);

/* Whether the status came; then code, details and trailers are known. */
bool client_call_done(const client_call *cc);
grpc_status_code client_call_status(const client_call *cc, grpc_slice *details);
/* NULL until they came. */
const grpc_metadata_array *client_call_headers(const client_call *cc);
const grpc_metadata_array *client_call_trailers(const client_call *cc);

/* The call whose handler started cc, or NULL once that handler ended. */
call *client_call_parent(const client_call *cc);

void client_call_cancel(client_call *cc);
/* The owner lets go: cancelled unless it is over, freed once gRPC has given it back. */
void client_call_release(client_call *cc);

#endif
