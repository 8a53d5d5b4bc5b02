/*
** main.c
** Wiring: configuration, schema, one Lua state per worker, the server, and
** the signals that stop it.
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <lauxlib.h>

#include "config.h"
#include "log.h"
#include "lvm.h"
#include "schema.h"
#include "server.h"

#define ERR_MAX 1024
#define LIST_MAX 2048

static const char *const kind_names[] = {"unary", "server streaming", "client streaming", "bidi streaming"};

/* Where m's handler was defined ("scripts/greeter.lua"), or NULL when it has none. */
static const char *handler_source(const lvm *vm, const schema_method *m) {
  if (!lvm_has_handler(vm, m)) return NULL;
  lua_Debug ar;
  lua_rawgeti(vm->L, LUA_REGISTRYINDEX, vm->handlers_ref);
  lua_rawgeti(vm->L, -1, (lua_Integer)m->index + 1);
  lua_remove(vm->L, -2);
  lua_getinfo(vm->L, ">S", &ar);
  return ar.short_src[0] ? ar.short_src : "?";
}

/* --check: what would be served, by which script. */
static void print_served(const schema *s, const lvm *vm) {
  size_t served = 0;
  for (size_t i = 0; i < schema_service_count(s); i++) {
    const schema_service *svc = schema_service_at(s, i);
    printf("%s\n", svc->full_name);
    for (size_t j = 0; j < svc->n_methods; j++) {
      const schema_method *m = &svc->methods[j];
      const char *src = handler_source(vm, m);
      printf("  %-28s %-17s %s\n", m->name, kind_names[m->kind], src ? src : "UNIMPLEMENTED (no handler)");
      served += src != NULL;
    }
  }
  printf("%zu services, %zu methods, %zu with handlers\n", schema_service_count(s),
         schema_method_count(s), served);
}

static void append(char *list, size_t size, const char *item) {
  size_t len = strlen(list);
  snprintf(list + len, size - len, "%s%s", len ? "," : "", item);
}

static void log_ready(const server *srv, const config *cfg, const schema *s, const lvm *vm) {
  char services[LIST_MAX] = "", methods[LIST_MAX] = "", port[16], workers[16];
  for (size_t i = 0; i < schema_service_count(s); i++) {
    const schema_service *svc = schema_service_at(s, i);
    bool any = false;
    for (size_t j = 0; j < svc->n_methods; j++) {
      if (!lvm_has_handler(vm, &svc->methods[j])) continue;
      append(methods, sizeof methods, svc->methods[j].path);
      any = true;
    }
    if (any) append(services, sizeof services, svc->full_name);
  }
  snprintf(port, sizeof port, "%d", srv->port);
  snprintf(workers, sizeof workers, "%d", cfg->workers);
  log_line(LOG_INFO, "ready", "address", cfg->address, "port", port, "workers", workers,
           "tls", cfg->tls_cert ? "on" : "off", "services", services, "methods", methods, NULL);
}

/* Waits for SIGTERM or SIGINT; the signals are blocked in every thread and taken here. */
static void wait_for_stop(const sigset_t *signals) {
  for (;;) {
    int sig;
    if (sigwait(signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      log_line(LOG_WARN, "SIGHUP: reloading scripts is not available yet; restart the host", NULL);
      continue;
    }
    log_line(LOG_INFO, "stopping: draining calls in flight", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    return;
  }
}

static lvm **new_states(const config *cfg, const schema *s, char *err, size_t errlen) {
  lvm **vms = calloc((size_t)cfg->workers, sizeof *vms);
  if (vms == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  for (int i = 0; i < cfg->workers; i++) {
    vms[i] = lvm_new(s, cfg->scripts_dir, err, errlen);
    if (vms[i] != NULL) continue;
    while (i-- > 0) lvm_free(vms[i]);
    free(vms);
    return NULL;
  }
  return vms;
}

static int fail(const char *what, const char *err) {
  log_line(LOG_ERROR, what, "error", err, NULL);
  return 1;
}

int main(int argc, char **argv) {
  config cfg;
  char err[ERR_MAX];
  switch (config_parse(&cfg, argc, argv, err, sizeof err)) {
  case CONFIG_EXIT: return 0;
  case CONFIG_ERROR: fprintf(stderr, "host: %s\n", err); return 2;
  case CONFIG_OK: break;
  }
  log_set_quiet(cfg.quiet);
  if (cfg.check) cfg.workers = 1;

  /* Before grpc_init starts its threads, so that only sigwait sees these. */
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, NULL);
  signal(SIGPIPE, SIG_IGN);

  schema *s = schema_load(cfg.protosets, cfg.n_protosets, err, sizeof err);
  if (s == NULL) return fail("cannot load the protosets", err);
  lvm **vms = new_states(&cfg, s, err, sizeof err);
  if (vms == NULL) {
    schema_free(s);
    return fail("cannot load the scripts", err);
  }
  if (cfg.check) {
    print_served(s, vms[0]);
    lvm_free(vms[0]);
    free(vms);
    schema_free(s);
    return 0;
  }

  grpc_init();
  server srv;
  int status = 0;
  if (server_start(&srv, &cfg, s, vms, err, sizeof err) == 0) {
    log_ready(&srv, &cfg, s, srv.workers[0].vm);
    wait_for_stop(&signals);
    server_stop(&srv, cfg.grace_ms);
    log_line(LOG_INFO, "stopped", NULL);
  } else {
    status = fail("cannot serve", err);
  }
  free(vms);
  schema_free(s);
  grpc_shutdown();
  return status;
}
