/*
** core.h
** The bare C core peer of the benchmarks (bench/README.md): helloworld.Greeter
** served straight on the gRPC C core, with one thread, one completion queue, no
** Lua and no codec. It does what the host must do for each call and nothing
** more, so the host's figures over its figures are the host's own cost:
**   core.c    the server, its request slots and its loop; one call's batches
**   unary.c   SayHello: the call arrives with its request read, one batch replies
**   stream.c  the three streaming methods, one batch and one event per message
** Replies are HelloReply bytes written by hand ("Hello " + name), as the other
** peers and bench/scripts/greeter.lua word them.
*/
#ifndef core_h
#define core_h

#include <stdbool.h>
#include <stddef.h>

#include <grpc/grpc.h>

/* What the completion queue hands back: the loop calls t->done(t, ok). */
typedef struct tag {
  void (*done)(struct tag *t, bool ok);
} tag;

struct core_call;

/* What a method does at each event of its calls (NULL: nothing). */
typedef struct core_method {
  const char *path;
  bool registered;                  /* arrives with its request read (unary, server streaming) */
  void (*arrived)(struct core_call *c);
  void (*received)(struct core_call *c, bool ok);   /* RECV_MESSAGE is back: c->message */
  void (*sent)(struct core_call *c, bool ok);       /* SEND_MESSAGE is back */
} core_method;

typedef struct core_call {
  tag arrived, received, sent, finished;
  const core_method *method;        /* NULL: a slot for any unregistered method */
  grpc_call *gc;
  grpc_call_details details;
  gpr_timespec deadline;
  grpc_metadata_array metadata;
  grpc_byte_buffer *message;        /* read with the call, or by the last RECV_MESSAGE */
  grpc_byte_buffer *out;            /* the message in flight, kept until its batch is back */
  grpc_slice name;                  /* the request's name, for replies that echo it */
  long count, total;                /* messages counted or sent, and how many to send */
  int pending;                      /* batches in the core, not yet back */
  int close_cancelled;
  bool headers_sent;
  bool finished_sent;               /* the status is on its way */
} core_call;

extern const core_method core_unary, core_server_stream, core_client_stream, core_bidi;

/* Starts a batch of ops on c with tag t (one of c's). false if the core refused it. */
bool core_batch(core_call *c, grpc_op *ops, size_t n, tag *t);

/* Sends bb (taken), with the headers the first time; c->sent fires when it is out. */
void core_send(core_call *c, grpc_byte_buffer *bb, uint32_t flags);

/* Ends c: headers if still due, reply (taken, may be NULL), the status, the close. */
void core_finish(core_call *c, grpc_status_code status, grpc_byte_buffer *reply);

/* Posts one RECV_MESSAGE into c->message. */
void core_recv(core_call *c);

/* The name field of a HelloRequest, as a slice of the message's own bytes (empty if none). */
grpc_slice core_request_name(grpc_byte_buffer *bb);

/* HelloReply{message: the n parts one after the other}, as a byte buffer the caller owns. */
grpc_byte_buffer *core_reply(const grpc_slice *parts, size_t n);

#endif
