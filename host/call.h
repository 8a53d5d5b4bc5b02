/*
** call.h
** One gRPC call on the server: its batches and tags, its state from arrival to
** status, cancellation and deadline. Plain C; the Lua side (lvm.c, lcall.c)
** reads the state and is woken through lvm_wake().
**
** Lifetime: a call is freed only when its handler's coroutine is done *and*
** every batch it gave gRPC has come back.
*/
#ifndef call_h
#define call_h

#include <stdbool.h>
#include <stdint.h>

#include <grpc/grpc.h>
#include <lua.h>

#include "schema.h"
#include "timer.h"

struct worker;
struct lvm;

typedef enum call_tag_kind {
  TAG_NEW,       /* grpc_server_request_call handed over a call */
  TAG_CLOSE,     /* RECV_CLOSE_ON_SERVER: the call is over, or the client cancelled */
  TAG_RECV,      /* RECV_MESSAGE */
  TAG_SEND,      /* SEND_MESSAGE, with initial metadata the first time */
  TAG_FINISH,    /* SEND_STATUS_FROM_SERVER, with whatever had not been sent */
  TAG_COUNT
} call_tag_kind;

typedef struct call_tag {
  struct call *call;
  call_tag_kind kind;
} call_tag;

/* What the handler's coroutine is suspended on; WAIT_TURN: its worker's next poll (call.c). */
typedef enum call_wait { WAIT_NONE, WAIT_RECV, WAIT_SEND, WAIT_SLEEP, WAIT_TURN } call_wait;

/* Metadata the handler sets: keys and values are slices owned by the list. */
typedef struct call_metadata {
  grpc_metadata *items;
  size_t n;
  size_t cap;
} call_metadata;

typedef struct call {
  struct worker *worker;
  struct lvm *vm;                   /* the Lua state running the handler */
  const schema_method *method;      /* NULL until known */
  const struct registered_method *registered;  /* the slot it came through, or NULL */
  grpc_call *gc;
  grpc_call_details details;
  grpc_metadata_array request_md;
  call_tag tags[TAG_COUNT];
  int pending;                      /* batches given to gRPC, not yet back */

  int close_cancelled;              /* out parameter of RECV_CLOSE_ON_SERVER */
  bool close_posted;
  bool close_with_finish;           /* RECV_CLOSE_ON_SERVER went with the status */
  bool cancelled;                   /* sticky: the client went away or the deadline passed */
  grpc_status_code killed;          /* sticky: the CPU guard stopped the handler with this */

  grpc_byte_buffer *recv_buf;       /* out parameter of RECV_MESSAGE */
  grpc_slice recv_bytes;            /* its bytes in one piece, while they are decoded */
  bool half_closed;                 /* the client sent its last message */

  grpc_byte_buffer *sending;        /* the message in flight */
  grpc_byte_buffer *outbox;         /* the next one, held until sending is out */
  unsigned sends;                   /* messages sent, to give up the worker's turn every so often */
  unsigned turn;                    /* WAIT_TURN: the worker's empty_polls when it may go on */
  bool headers_sent;
  call_metadata headers;
  call_metadata trailers;

  bool finishing;                   /* the status is decided */
  bool finish_sent;
  grpc_status_code status;
  grpc_slice status_details;
  grpc_byte_buffer *reply;          /* unary reply, sent with the status */

  lua_State *co;                    /* the handler's coroutine while it lives */
  int co_ref;
  struct lcall_box *box;            /* the Lua `call` object, cleared when the coroutine ends */
  call_wait wait;
  timer sleep;

  int64_t started;                  /* monotonic ns, for the call's log line */
  char *peer;                       /* gpr-allocated, once asked for: a cancelled call has none */
  size_t bytes_in;
  size_t bytes_out;
} call;

/* Posts a slot for one new call of rm, or of any method when rm is NULL. -1 on failure (logged). */
int call_request(struct worker *w, const struct registered_method *rm);

/*
** The two ways into a call from the worker's loop. Each may free the call: the
** only places that do, so nothing below them ever sees a freed call.
*/
void call_on_tag(call_tag *tag, bool ok);

/*
** The handler waits: from now on a cancel must wake it, so the call watches for
** its close. A handler that never waits (most unary ones) has the close
** received with its status instead: one batch, one event fewer per call.
*/
void call_watch_close(call *c);

/* Starts receiving the next message into c->recv_buf. -1 if gRPC refused. */
int call_recv(call *c);

/*
** Whether call_send may be called now: a full outbox means the handler waits
** (WAIT_SEND) for the message in flight first.
*/
bool call_can_send(const call *c);

/*
** Sends bb (taking it): at once when nothing is in flight, else it is held in
** the outbox. 0 when taken, -1 if gRPC refused.
**
** A held message goes when the one in flight is out: marked for buffering when
** the handler waits to send another after it (so a burst of messages leaves in
** few writes, not one each), flushed when the handler waits on anything else,
** and with the status when the handler has returned.
*/
int call_send(call *c, grpc_byte_buffer *bb);

/*
** Ends the call with status (and reply, taken, for unary replies), as soon as the
** message in flight is out. details may be NULL. Only the first call counts.
*/
void call_finish(call *c, grpc_status_code status, const char *details, grpc_byte_buffer *reply);

/* Adds key: value to list; -1 with a reason in err for an illegal key or value. */
int call_metadata_add(call_metadata *list, const char *key, size_t klen,
                      const char *value, size_t vlen, char *err, size_t errlen);

/* The handler's grpc.sleep is over, or its turn has come again (WAIT_TURN). */
void call_on_timer(call *c);

/* Sends status, a google.rpc.Status, as grpc-status-details-bin (rich errors). -1 when out of memory. */
int call_status_details(call *c, const char *status, size_t len);

/* The client's address ("ipv4:127.0.0.1:5000"); owned by c. */
const char *call_peer(call *c);

/* The value of a request metadata key, or NULL. */
const grpc_slice *call_find_metadata(const call *c, const char *key);

/* Seconds left before the deadline, or a negative number when there is none. */
double call_seconds_left(const call *c);

#endif
