/*
** loopback.h
** In-process connections to the host's own gRPC server: one end of a
** socketpair goes to the server (grpc_server_add_channel_from_fd), the other
** becomes a client channel (grpc_channel_create_from_fd). The HTTP/1.1 door
** makes each of its requests a real gRPC call over one of them, so handlers,
** limits, deadlines and the call log see a call like any other.
**
** A call that came over one of these may carry what the door translated in
** the metadata key LOOPBACK_KEY; loopback_is_peer tells the server's calls
** whether to believe it (a client outside the process cannot make its call's
** peer one of these sockets).
**
** A pool belongs to one thread (the door's); loopback_is_peer is thread-safe.
** Errors: NULL or -1 with the reason in a caller's buffer.
*/
#ifndef loopback_h
#define loopback_h

#include <stdbool.h>
#include <stddef.h>

#include <grpc/grpc.h>

#include "ioloop.h"

/*
** "PROTOCOL CODEC PEER": "connect" (unary), "connect-stream" or "grpc-web";
** "proto" or "json" (the messages are JSON text in the proto3 mapping); the
** HTTP client's address as gRPC names peers ("ipv4:10.0.0.1:5000").
*/
#define LOOPBACK_KEY "x-lua-host-door"

typedef struct loopback loopback;
typedef struct loopback_link loopback_link;

/*
** A pool of connections to gs (started), each taking up to max_streams calls
** at once; loop (the owning thread's) watches for their close. NULL when out of memory.
*/
loopback *loopback_new(ioloop *loop, grpc_server *gs, int max_streams, int max_message_bytes);

/*
** A channel with room for one more call, on a new connection when every open
** one is full; *link is to be given to loopback_release when the call ends.
** NULL with the reason in err when no connection can be made.
*/
grpc_channel *loopback_acquire(loopback *lb, loopback_link **link, char *err, size_t errlen);
void loopback_release(loopback_link *link);

/* Closes every connection: after the server stopped and the calls on them ended. */
void loopback_free(loopback *lb);

/* Whether peer, a server call's peer ("fd:N"), is the server's end of a loopback connection. */
bool loopback_is_peer(const char *peer);

#endif
