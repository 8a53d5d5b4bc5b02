/*
** call.h
** One gRPC call on the server, from its arrival to its status: its batches
** and tags, cancellation and deadline, and what its handler waits on. Plain C
** on the gRPC core: the handler is reached only through the hooks its worker
** installs in the call queue.
**
** Lifetime: a call is freed once its handler has ended (call_set_handler(c,
** NULL)) and every batch it gave gRPC has come back. Only the ways into a call
** free it: its tags, its timers and call_wait_end. None of them touches the
** call after, and nothing else frees it.
**
** Errors: a batch that gRPC refuses is logged and cancels the call; the
** functions below then report the call as cancelled.
*/
#ifndef call_h
#define call_h

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "log.h"
#include "lvm.h"
#include "schema.h"
#include "timer.h"

typedef struct call call;

/*
** A method registered with the server before it started: its calls arrive
** with their one request already read, one event sooner. Unary and
** server-streaming methods of the schema the host started with; the rest come
** through grpc_server_request_call.
*/
typedef struct registered_method {
  void *handle;
  char *path;                       /* owned by the server: outlives every schema a reload frees */
} registered_method;

/* How a call reaches its handler. */
typedef struct call_hooks {
  void (*start)(call *c);           /* the handler may run: its method is known, its one request in */
  void (*wake)(call *c);            /* what the handler waited on is over (or the call was cancelled) */
} call_hooks;

/*
** The calls of one worker: what they share. Owned by the worker, used on its
** thread only, but for the two flags call_queue_close reads and writes.
*/
typedef struct call_queue {
  grpc_server *server;              /* borrowed */
  grpc_completion_queue *cq;        /* borrowed: the worker's, where every event of these calls lands */
  timer_heap timers;
  const call_hooks *hooks;
  lvm *vm;                          /* the state new calls run in */
  const registered_method *registered;   /* borrowed from the server */
  size_t n_registered;
  size_t *unposted;                 /* request slots to post, by registered method, the rest last */
  const schema_method **found;      /* by registered method: its method in the schema of found_serial */
  uint64_t found_serial;            /* 0: none looked up yet */
  size_t missing;                   /* their sum */
  size_t posted;                    /* request slots outstanding */
  size_t live;                      /* calls handed over and not yet freed */
  unsigned empty_polls;             /* waits on the queue that found it empty */
  size_t outbound;                  /* outbound calls and requests in flight, of every handler */
  size_t max_outbound;              /* --max-outbound */
  struct client_pool *clients;      /* outbound gRPC channels: the worker's, kept across reloads */
  struct inbox *inbox;              /* the worker's: where work from other threads lands */
  struct http_engine *http;         /* the process's HTTP client, borrowed */
  struct call *spare;               /* records of freed calls, kept for the next ones */
  size_t n_spare;
  log_memo logged;                  /* the call records' recurring fields */
  atomic_bool requesting;           /* a request slot is being posted */
  atomic_bool closed;               /* none may be from now on */
} call_queue;

/* Sets up q for n_registered methods; -1 when out of memory (call_queue_free frees what was made). */
int call_queue_init(call_queue *q, size_t n_registered);
void call_queue_free(call_queue *q);

/* Posts the request slots still to post: all at first, later those gRPC refused; none once closed. */
void call_queue_fill(call_queue *q);

/*
** From any thread, before grpc_server_shutdown_and_notify: q posts no request
** slot from now on. Returns once a post under way is over.
*/
void call_queue_close(call_queue *q);

/*
** {======================================================
** Waiting
** =======================================================
*/

/*
** What a suspended handler waits on: one at a time. A kind of wait is a
** call_wait_type; its record is embedded in whatever the handler waits for
** (the call itself for recv, send and sleep; an outbound call; an HTTP
** request), which finds itself again with CONTAINER_OF.
*/
typedef struct call_wait call_wait;

typedef struct call_wait_type {
  const char *what;                 /* "call:recv", "grpc.sleep": the operation, for messages */
  void (*expire)(call_wait *w);     /* its timer fired; NULL: the wait is over */
  void (*cancel)(call_wait *w);     /* the call was cancelled first: undo what was started; may be NULL */
} call_wait_type;

struct call_wait {
  const call_wait_type *type;
  call *call;                       /* whose handler waits, NULL when it no longer does */
  timer timer;
};

void call_wait_init(call_wait *w, const call_wait_type *type);

/*
** c's handler suspends on w (and yields next). From now on a cancel of c runs
** w's cancel and wakes the handler.
*/
void call_wait_begin(call *c, call_wait *w);

/* Ends w at `when` (timer_now) unless it ends sooner. -1 when the timer cannot be armed. */
int call_wait_until(call_wait *w, int64_t when);

/*
** What w waited on is over: the handler resumes now. Does nothing when w is
** over already (its call was cancelled first). May free the call.
*/
void call_wait_end(call_wait *w);

/* }====================================================== */

/*
** {======================================================
** Children: what a handler started that must not outlive it
** =======================================================
*/

/*
** An outbound call or request a handler started. When the handler ends, each
** child still adopted is orphaned: its orphan runs (cancel what is in flight),
** and the child is on its own from then on.
*/
typedef struct call_child call_child;

struct call_child {
  call_child *prev, *next;
  call *parent;                     /* NULL once orphaned or disowned */
  void (*orphan)(call_child *k);
};

void call_adopt(call *c, call_child *k);
/* k no longer needs its parent (it is over, or its owner let it go). */
void call_disown(call_child *k);

/* }====================================================== */

/* The outcome of call_recv and call_send_ready. */
typedef enum call_result {
  CALL_READY,                       /* a message is in / a message may go */
  CALL_END,                         /* no more messages: the client half-closed */
  CALL_WAIT,                        /* the handler waits for it (the wait has begun): yield */
  CALL_CANCELLED,                   /* the client went away or the deadline passed (call_cancel_status) */
  CALL_UNREADABLE                   /* a message came that cannot be read (bad compression) */
} call_result;

/*
** The next request message: CALL_READY with its bytes in *data and *len,
** owned by c until the next call_recv or c's end.
*/
call_result call_recv(call *c, const char **data, size_t *len);

/*
** Whether the handler may hand over its next message: CALL_READY, or
** CALL_WAIT while the held ones fill the outbox (call.c), or CALL_CANCELLED.
*/
call_result call_send_ready(call *c);

/*
** Sends bb (taking it) after call_send_ready said so: at once when nothing is
** in flight, else held until the messages before it are out. -1 if gRPC refused.
**
** A held message is marked for buffering when another is held after it or
** the handler waits to send one (so a burst of messages leaves in few writes,
** not one each), flushed when the handler waits on anything else, and the last
** goes with the status when the handler has returned.
*/
int call_send(call *c, grpc_byte_buffer *bb);

/* The handler sleeps until `until` (timer_now); -1 when the timer cannot be armed. */
int call_sleep(call *c, int64_t until);

/*
** Ends the call with status (and reply, taken, for unary replies), as soon as
** the message in flight is out. details may be NULL. Only the first call counts.
*/
void call_finish(call *c, grpc_status_code status, const char *details, grpc_byte_buffer *reply);

/* Sends status, a google.rpc.Status, as grpc-status-details-bin (rich errors). -1 when out of memory. */
int call_set_status_details(call *c, const char *status, size_t len);

/* Adds key: value to the headers (before the first message) or trailers; -1 with a reason in err. */
int call_add_header(call *c, const char *key, size_t klen, const char *value, size_t vlen,
                    char *err, size_t errlen);
int call_add_trailer(call *c, const char *key, size_t klen, const char *value, size_t vlen,
                     char *err, size_t errlen);
bool call_headers_sent(const call *c);

/* The handler's state, opaque here: set when it starts, NULL once it has ended. */
void call_set_handler(call *c, void *handler);
void *call_handler(const call *c);

bool call_waiting(const call *c);
bool call_cancelled(const call *c);
/* What a cancelled call ended with: DEADLINE_EXCEEDED once its deadline passed, else CANCELLED. */
grpc_status_code call_cancel_status(const call *c);

lvm *call_vm(const call *c);
call_queue *call_queue_of(const call *c);
/* The call in the C core: the parent of outbound calls, which inherit its deadline and cancellation. */
grpc_call *call_grpc(const call *c);
const schema_method *call_method(const call *c);
const grpc_metadata_array *call_request_metadata(const call *c);
/* The value of a request metadata key, or NULL. */
const grpc_slice *call_find_metadata(const call *c, const char *key);
/* x-fc-request-id, Function Compute's id of the request, or NULL. */
const grpc_slice *call_request_id(const call *c);
/* The client's address ("ipv4:127.0.0.1:5000"), the HTTP client's for a call through the door; owned by c. */
const char *call_peer(call *c);

/* How the client called: gRPC, or a protocol the HTTP/1.1 door translated (loopback.h). */
typedef enum call_protocol { CALL_GRPC, CALL_CONNECT, CALL_CONNECT_STREAM, CALL_GRPC_WEB } call_protocol;
call_protocol call_protocol_of(const call *c);
/* "grpc", "connect" or "grpc-web": what call.protocol and the call's log line say. */
const char *call_protocol_name(const call *c);
/* Whether the call's messages are JSON text (Connect's JSON codec) rather than protobuf bytes. */
bool call_json(const call *c);

/* The deadline (timer_now), or INT64_MAX when there is none. */
int64_t call_deadline(const call *c);
/* Seconds left before the deadline, or a negative number when there is none. */
double call_seconds_left(const call *c);

#endif
