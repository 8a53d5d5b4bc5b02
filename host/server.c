/*
** server.c
** One grpc_server, one completion queue per worker, registered before start,
** so every event of a call comes back to the thread that owns its Lua state.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "chanargs.h"
#include "corelog.h"
#include "door.h"
#include "fsutil.h"
#include "http.h"
#include "log.h"
#include "server.h"

/*
** Registers the unary and server-streaming methods of s so that their calls
** arrive with the request read. Best effort: a method left out still comes
** through grpc_server_request_call.
*/
static void register_methods(server *srv, const schema *s) {
  srv->registered = calloc(schema_method_count(s), sizeof *srv->registered);
  if (srv->registered == NULL) {
    log_line(LOG_WARN, "out of memory: no method is registered, every call comes unread", NULL);
    return;
  }
  for (size_t i = 0; i < schema_service_count(s); i++) {
    const schema_service *svc = schema_service_at(s, i);
    for (size_t j = 0; j < svc->n_methods; j++) {
      const schema_method *m = &svc->methods[j];
      if (!method_one_request(m)) continue;
      registered_method *rm = &srv->registered[srv->n_registered];
      rm->path = strdup(m->path);
      if (rm->path != NULL)
        rm->handle = grpc_server_register_method(srv->gs, rm->path, NULL,
                                                 GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
      if (rm->handle != NULL) srv->n_registered++;
      else free(rm->path);
    }
  }
}

static void free_registered(server *s) {
  for (size_t i = 0; i < s->n_registered; i++) free(s->registered[i].path);
  free(s->registered);
  s->registered = NULL;
  s->n_registered = 0;
}

static void free_workers(server *s) {
  for (int i = 0; i < s->n_workers; i++) worker_free(&s->workers[i]);
  free(s->workers);
  s->workers = NULL;
}

static grpc_server *create_server(const config *cfg) {
  grpc_arg args[] = {
    chanarg_int(GRPC_ARG_MAX_CONCURRENT_STREAMS, cfg->max_streams),
    chanarg_int(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, cfg->max_message_bytes),
    chanarg_int(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, cfg->max_message_bytes),
    /* A port in use must be an error, not a second server sharing it. */
    chanarg_int(GRPC_ARG_ALLOW_REUSEPORT, 0),
    /*
    ** Past its strikes, gRPC 1.51 answers each ping of a flood with one more
    ** error in a growing text: 200 times the flood's bytes. On h2c the host
    ** bounds floods itself (conn.h), so pings are let be; with TLS, gRPC's
    ** close after 2 strikes is all there is.
    */
    chanarg_int(GRPC_ARG_HTTP2_MAX_PING_STRIKES, cfg->tls_cert == NULL ? 0 : 2),
    /* With TLS: a client has as long to finish its handshake as one on h2c has for its preface. */
    chanarg_int(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, 10000),
    chanarg_no_channelz(),
  };
  grpc_channel_args channel_args = {sizeof args / sizeof args[0], args};
  return grpc_server_create(&channel_args, NULL);
}

static grpc_server_credentials *credentials(const config *cfg, char *err, size_t errlen) {
  if (cfg->tls_cert == NULL) return grpc_insecure_server_credentials_create();
  size_t len;
  char *cert = fs_read_file(cfg->tls_cert, &len);
  char *key = cert ? fs_read_file(cfg->tls_key, &len) : NULL;
  grpc_server_credentials *creds = NULL;
  if (cert == NULL || key == NULL) {
    snprintf(err, errlen, "cannot read %s: %s", cert == NULL ? cfg->tls_cert : cfg->tls_key, strerror(errno));
  } else {
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    creds = grpc_ssl_server_credentials_create_ex(NULL, &pair, 1, GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE, NULL);
    if (creds == NULL) snprintf(err, errlen, "%s and %s are not a usable PEM key and certificate", cfg->tls_key, cfg->tls_cert);
  }
  free(cert);
  free(key);
  return creds;
}

static int bind_port(server *s, const config *cfg, char *err, size_t errlen) {
  if (cfg->tls_cert == NULL) {
    s->listener = listener_open(cfg, err, errlen);
    s->port = s->listener != NULL ? listener_port(s->listener) : 0;
    return s->listener != NULL ? 0 : -1;
  }
  char address[300];
  snprintf(address, sizeof address, "%s:%d", cfg->address, cfg->port);
  grpc_server_credentials *creds = credentials(cfg, err, errlen);
  if (creds == NULL) return -1;
  char cause[256];
  corelog_begin(cause, sizeof cause);   /* the reason goes in our message, not a line of its own */
  s->port = grpc_server_add_http2_port(s->gs, address, creds);
  corelog_end();
  grpc_server_credentials_release(creds);
  if (s->port == 0) {
    snprintf(err, errlen, "cannot listen on %s: %s", address,
             cause[0] ? cause : "the port is in use or the address is not local");
    return -1;
  }
  return 0;
}

/* The workers, each owning its state of vms from now on; the states not handed over are freed. */
static int make_workers(server *s, const config *cfg, lvm **vms, char *err, size_t errlen) {
  s->workers = calloc((size_t)cfg->workers, sizeof *s->workers);
  int made = 0;
  for (; s->workers != NULL && made < cfg->workers; made++) {
    worker *w = &s->workers[made];
    s->n_workers = made + 1;
    if (worker_init(w, made, &s->pollers, s->gs, s->registered, s->n_registered, vms[made])) break;
    w->calls.http = s->http;
    grpc_server_register_completion_queue(s->gs, w->cq, NULL);
  }
  if (made == cfg->workers) return 0;
  for (int i = s->n_workers; i < cfg->workers; i++) lvm_free(vms[i]);
  snprintf(err, errlen, "out of memory for the workers");
  return -1;
}

/*
** The network's threads, and on h2c the door, for the connections the
** listener finds are not HTTP/2. With TLS, gRPC owns the port: no HTTP/1.1.
*/
static int start_network(server *s, const config *cfg, char *err, size_t errlen) {
  if (s->listener == NULL)
    log_line(LOG_INFO, "HTTP/1.1 clients are not served with TLS", "reason",
             "gRPC owns a TLS port; Connect and gRPC-Web need h2c, behind a proxy that ends TLS", NULL);
  else if ((s->door = door_new(cfg, s->gs, err, errlen)) == NULL)
    return -1;
  if (pollers_spawn(&s->pollers) == 0 && (s->listener == NULL || listener_start(s->listener, s->gs, s->door) == 0))
    return 0;
  snprintf(err, errlen, "cannot start the network threads");
  return -1;
}

int server_start(server *s, const config *cfg, lvm **vms, char *err, size_t errlen) {
  memset(s, 0, sizeof *s);
  s->http = http_engine_new(err, errlen);
  if (s->http == NULL) {
    for (int i = 0; i < cfg->workers; i++) lvm_free(vms[i]);
    return -1;
  }
  s->gs = create_server(cfg);
  register_methods(s, vms[0]->schema);
  pollers_register(&s->pollers, s->gs, cfg->io_threads);
  if (make_workers(s, cfg, vms, err, errlen) || bind_port(s, cfg, err, errlen)) {
    grpc_server_destroy(s->gs);
    free_workers(s);
    free_registered(s);
    pollers_stop(&s->pollers);
    http_engine_free(s->http);
    return -1;
  }
  grpc_server_start(s->gs);
  if (start_network(s, cfg, err, errlen)) {
    server_stop(s, 0);
    return -1;
  }
  for (int i = 0; i < s->n_workers; i++) {
    if (worker_spawn(&s->workers[i]) == 0) continue;
    snprintf(err, errlen, "cannot start worker threads");
    server_stop(s, 0);
    return -1;
  }
  return 0;
}

void server_stop(server *s, int grace_ms) {
  grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
  if (s->listener != NULL) listener_quiesce(s->listener);
  if (s->door != NULL) door_quiesce(s->door);
  for (int i = 0; i < s->n_workers; i++) worker_quiesce(&s->workers[i]);
  grpc_server_shutdown_and_notify(s->gs, cq, s);
  gpr_timespec grace = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                    gpr_time_from_millis(grace_ms, GPR_TIMESPAN));
  grpc_event ev = grpc_completion_queue_pluck(cq, s, grace, NULL);
  if (ev.type == GRPC_QUEUE_TIMEOUT) {
    log_line(LOG_WARN, "grace period over: cancelling the calls still in flight", NULL);
    grpc_server_cancel_all_calls(s->gs);
    grpc_completion_queue_pluck(cq, s, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
  }
  if (s->door != NULL) door_free(s->door);
  for (int i = 0; i < s->n_workers; i++) worker_stop(&s->workers[i]);
  for (int i = 0; i < s->n_workers; i++) worker_join(&s->workers[i]);
  grpc_server_destroy(s->gs);
  free_workers(s);
  pollers_stop(&s->pollers);
  if (s->listener != NULL) listener_free(s->listener);
  free_registered(s);
  http_engine_free(s->http);        /* after the workers: each took every answer to its requests */
  grpc_completion_queue_shutdown(cq);
  grpc_completion_queue_destroy(cq);
}
