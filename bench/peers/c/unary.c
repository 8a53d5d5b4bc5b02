/*
** unary.c
** SayHello on the bare C core: a registered method, so the call arrives with
** its request read; one batch (headers, reply, status, close) answers it.
** Two events a call, as the host's unary calls have.
*/
#include "core.h"

static void arrived(core_call *c) {
  if (c->message == NULL) {
    core_finish(c, GRPC_STATUS_INTERNAL, NULL);
    return;
  }
  grpc_slice name = core_request_name(c->message);
  grpc_slice parts[] = {grpc_slice_from_static_string("Hello "), name};
  core_finish(c, GRPC_STATUS_OK, core_reply(parts, 2));
  grpc_slice_unref(name);
}

const core_method core_unary = {"/helloworld.Greeter/SayHello", true, arrived, NULL, NULL};
