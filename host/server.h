/*
** server.h
** The grpc_server: its port, its worker threads, and the drain on shutdown.
** Errors: -1 with the reason in a caller's buffer.
*/
#ifndef server_h
#define server_h

#include <stddef.h>

#include <grpc/grpc.h>

#include "call.h"
#include "config.h"
#include "listener.h"
#include "lvm.h"
#include "pollers.h"
#include "worker.h"

typedef struct server {
  grpc_server *gs;
  worker *workers;
  int n_workers;
  int port;                         /* the port bound, also when 0 was asked for */
  listener *listener;               /* h2c: the host's own port; NULL with TLS, where gRPC owns it */
  pollers pollers;
  registered_method *registered;    /* owned; shared read-only by the workers */
  size_t n_registered;
  struct http_engine *http;         /* owned: the handlers' HTTP client, shared by the workers */
  struct door *door;                /* owned: HTTP/1.1 (Connect, gRPC-Web) on h2c; NULL with TLS */
} server;

/*
** Binds the port and starts one worker per Lua state in vms (cfg->workers of
** them), which the workers then own; they are freed either way on failure.
*/
int server_start(server *s, const config *cfg, lvm **vms, char *err, size_t errlen);

/* Stops accepting, lets calls in flight finish for up to grace_ms, cancels the rest, frees all. */
void server_stop(server *s, int grace_ms);

#endif
