/*
** door.h
** HTTP/1.1 on the gRPC port: a thread that serves the connections which did
** not open with the HTTP/2 preface (the listener hands them over, listener.h).
** Each request is a Connect or gRPC-Web call (webcall.h) made to the host's
** own server over a loopback connection, so the same handlers, limits and log
** serve it. Keep-alive; pipelining refused
** (the request in hand is answered with connection: close); limits on the
** head, the body and the time a client may take; preflights answered for
** --cors-origin.
** Errors: door_new returns NULL with the reason in a caller's buffer.
*/
#ifndef door_h
#define door_h

#include <stddef.h>

#include <grpc/grpc.h>

#include "config.h"

typedef struct door door;

/* A door for gs (started) with cfg's limits; its thread runs from now on. */
door *door_new(const config *cfg, grpc_server *gs, char *err, size_t errlen);

/*
** Any thread: serves the accepted socket fd (taken; closed with a shutdown,
** which the listener's duplicate of it sees) of the client peer, named as
** gRPC names peers ("ipv4:10.0.0.1:5000").
*/
void door_serve(door *d, int fd, const char *peer);

/* Takes no new request: idle connections close, those with a call in flight close after its reply. */
void door_quiesce(door *d);

/* Ends every connection and call, the thread, and frees d: once the server has stopped taking calls. */
void door_free(door *d);

#endif
