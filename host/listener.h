/*
** listener.h
** The h2c port, owned by the host rather than by gRPC: a thread accepts each
** connection, refuses those over the connection limits, waits (a while at
** most) for its first bytes, then gives the socket to gRPC when they are the
** HTTP/2 client preface and to the door (HTTP/1.1) when they are not, and
** keeps watching it (conn.h) until it closes: the limits count both kinds.
** With TLS, gRPC owns the port instead: grpc_server_add_channel_from_fd
** takes plaintext connections only.
*/
#ifndef listener_h
#define listener_h

#include <stddef.h>

#include <grpc/grpc.h>

#include "config.h"
#include "door.h"

typedef struct listener listener;

/* Binds cfg's address and port and listens; NULL with the reason in err. */
listener *listener_open(const config *cfg, char *err, size_t errlen);

/* The port bound, also when 0 was asked for. */
int listener_port(const listener *l);

/* Starts accepting for gs and d, after grpc_server_start. -1 if the thread cannot start. */
int listener_start(listener *l, grpc_server *gs, door *d);

/*
** Stops accepting: the port is closed and no connection is given to gRPC or
** the door any more, once this returns. Connections already given stay watched.
*/
void listener_quiesce(listener *l);

/* Ends the thread and forgets every connection: after grpc_server_destroy. */
void listener_free(listener *l);

#endif
