/*
** chanargs.h
** The channel arguments the host gives gRPC, as grpc_arg values. Every
** server and channel it makes has channelz off: gRPC keeps channelz's counts
** by default (each call, stream and message, on the server or channel and on
** its socket), and nothing in the host serves or reads them.
*/
#ifndef chanargs_h
#define chanargs_h

#include <grpc/grpc.h>

static inline grpc_arg chanarg_int(const char *key, int value) {
  grpc_arg a = {.type = GRPC_ARG_INTEGER, .key = (char *)key};
  a.value.integer = value;
  return a;
}

static inline grpc_arg chanarg_string(const char *key, const char *value) {
  grpc_arg a = {.type = GRPC_ARG_STRING, .key = (char *)key};
  a.value.string = (char *)value;
  return a;
}

static inline grpc_arg chanarg_no_channelz(void) {
  return chanarg_int(GRPC_ARG_ENABLE_CHANNELZ, 0);
}

#endif
