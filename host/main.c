/*
** main.c
** Wiring: configuration, schema, one Lua state per worker, the server, and
** the signals that stop it.
*/
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <lauxlib.h>

#include "cli_call.h"
#include "codegen.h"
#include "config.h"
#include "corelog.h"
#include "embedded.h"
#include "health.h"
#include "lcall.h"
#include "lgrpc.h"
#include "lhttp.h"
#include "ljson.h"
#include "llog.h"
#include "log.h"
#include "mutexdebug.h"
#include "lshared.h"
#include "reloadguard.h"
#include "lvm.h"
#include "schema.h"
#include "scripts.h"
#include "server.h"
#include "shared.h"
#include "timer.h"
#include "watch.h"

#define ERR_MAX 1024
#define LIST_MAX 2048

/* Editors write a file in several steps: reload once they have been quiet this long. */
#define DEBOUNCE_MS 100

/* The host's libraries, opened in every handler state as linit.c opens Lua's. */
static const luaL_Reg host_libs[] = {
  {"grpc", luaopen_grpc},
  {"http", luaopen_http},
  {"json", luaopen_json},
  {"shared", luaopen_shared},
  {"log", luaopen_log},
  {NULL, NULL}};

/* Warns when no script of the user's serves anything: every call would be UNIMPLEMENTED. */
static void warn_if_serving_nothing(const lvm *vm, const config *cfg) {
  for (size_t i = 0; i < schema_service_count(vm->schema); i++) {
    const schema_service *svc = schema_service_at(vm->schema, i);
    for (size_t j = 0; j < svc->n_methods; j++) {
      const char *src = lvm_handler_source(vm, &svc->methods[j]);
      if (src != NULL && src[0] == '@') return;
    }
  }
  log_line(LOG_WARN, "no script serves a method of the protosets: every call will be UNIMPLEMENTED",
           "scripts", cfg->scripts_dir, NULL);
}

/* --check: what would be served, by which script. */
static void print_served(const lvm *vm) {
  const schema *s = vm->schema;
  size_t served = 0;
  for (size_t i = 0; i < schema_service_count(s); i++) {
    const schema_service *svc = schema_service_at(s, i);
    printf("%s\n", svc->full_name);
    for (size_t j = 0; j < svc->n_methods; j++) {
      const schema_method *m = &svc->methods[j];
      const char *src = lvm_handler_source(vm, m);
      printf("  %-28s %-17s %s\n", m->name, method_kind_name(m->kind), src ? src + 1 : "UNIMPLEMENTED (no handler)");
      served += src != NULL;
    }
  }
  printf("%zu services, %zu methods, %zu with handlers\n", schema_service_count(s),
         schema_method_count(s), served);
}

/* What the ready line names: the services and methods with a handler. */
typedef struct served {
  char services[LIST_MAX];
  char methods[LIST_MAX];
} served;

static void list_served(const lvm *vm, served *out) {
  const schema *s = vm->schema;
  out->services[0] = out->methods[0] = '\0';
  for (size_t i = 0; i < schema_service_count(s); i++) {
    const schema_service *svc = schema_service_at(s, i);
    bool any = false;
    for (size_t j = 0; j < svc->n_methods; j++) {
      if (!lvm_has_handler(vm, &svc->methods[j])) continue;
      log_append(out->methods, sizeof out->methods, svc->methods[j].path);
      any = true;
    }
    if (any) log_append(out->services, sizeof out->services, svc->full_name);
  }
}

static void log_ready(const server *srv, const config *cfg, const served *what) {
  log_record r;
  log_begin(&r, LOG_INFO, "ready", 5);
  log_string(&r, "address", cfg->address);
  log_integer(&r, "port", srv->port);
  log_integer(&r, "workers", cfg->workers);
  log_string(&r, "tls", cfg->tls_cert ? "on" : "off");
  log_string(&r, "services", what->services);
  log_string(&r, "methods", what->methods);
  log_end(&r);
}

/* Lua states for every worker, all on schema s; NULL with the first script error in err. */
static lvm **new_states(const config *cfg, schema *s, char *err, size_t errlen) {
  lvm **vms = calloc((size_t)cfg->workers, sizeof *vms);
  if (vms == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  for (int i = 0; i < cfg->workers; i++) {
    vms[i] = scripts_new_state(s, cfg, host_libs, i == 0, err, errlen);
    if (vms[i] != NULL) continue;
    while (i-- > 0) lvm_free(vms[i]);
    free(vms);
    return NULL;
  }
  return vms;
}

/* Protosets and scripts loaded anew; NULL, with the reason in err, when any of them is broken. */
static lvm **load(const config *cfg, char *err, size_t errlen) {
  schema *s = schema_load_with(builtin_protoset[0].data, builtin_protoset[0].size, cfg->protosets,
                               cfg->n_protosets, err, errlen);
  if (s == NULL) return NULL;
  lvm **vms = new_states(cfg, s, err, errlen);
  schema_release(s);                /* the states hold it now */
  return vms;
}

/* The states of a version that does not replace the running one. */
static void discard(lvm **vms, int n) {
  for (int i = 0; i < n; i++) lvm_free(vms[i]);
  free(vms);
}

/*
** A new version for new calls; calls in flight finish on the one they started
** with. Refused, as a broken script is, when it would drop a service that a
** script of the running one still handles (running: what that one serves).
*/
static void reload(server *srv, const config *cfg, const char *changed, served_by **running) {
  static unsigned version = 1;
  int64_t started = timer_now();
  char err[ERR_MAX];
  lvm **vms = load(cfg, err, sizeof err);
  served_by *next = vms ? reloadguard_record(vms[0]) : NULL;
  if (vms != NULL && reloadguard_check(*running, next, vms[0]->schema, cfg, err, sizeof err) < 0) {
    discard(vms, cfg->workers);
    reloadguard_free(next);
    vms = NULL;
  }
  if (vms == NULL) {
    log_line(LOG_ERROR, "reload failed: the running version keeps serving", "changed", changed,
             "error", err, NULL);
    return;
  }
  reloadguard_free(*running);
  *running = next;
  for (int i = 0; i < srv->n_workers; i++) worker_offer(&srv->workers[i], vms[i]);
  free(vms);
  log_record r;
  log_begin(&r, LOG_INFO, "reloaded", 8);
  log_integer(&r, "version", ++version);
  log_string(&r, "changed", changed);
  log_decimal(&r, "duration_ms", (timer_now() - started) / 100000, 1);
  log_end(&r);
}

/*
** Serves until SIGTERM or SIGINT. The signals are blocked in every thread and
** read here from a signalfd, beside the watch on scripts and protosets.
*/
static void serve(server *srv, const config *cfg, int sfd, watch *w, served_by **running) {
  char changed[LIST_MAX] = "";
  int dirty = 0;
  for (;;) {
    struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN}, {.fd = w->fd, .events = POLLIN}};
    int n = poll(fds, 2, dirty ? DEBOUNCE_MS : -1);
    if (n == 0) {
      reload(srv, cfg, changed, running);
      changed[0] = '\0';
      dirty = 0;
      continue;
    }
    if (fds[1].revents & POLLIN) dirty |= watch_read(w, changed, sizeof changed) > 0;
    struct signalfd_siginfo si;
    if (!(fds[0].revents & POLLIN) || read(sfd, &si, sizeof si) != sizeof si) continue;
    if (si.ssi_signo == SIGHUP) {
      reload(srv, cfg, "SIGHUP", running);
      continue;
    }
    log_line(LOG_INFO, "stopping: draining calls in flight", "signal",
             si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    break;
  }
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
  if (cfg.scaffold != NULL || cfg.types) return codegen_main(&cfg);
  /* The store outlives every Lua state: scripts may use it as they load. */
  if (shared_open((size_t)cfg.shared_memory_mb, err, sizeof err)) return fail("cannot start", err);
  llog_set_context(lcall_log_fields);
  if (cfg.call != NULL) return cli_call_main(&cfg, host_libs);
  log_set_quiet(cfg.quiet);
  log_set_json(cfg.log_json);
  if (cfg.check) cfg.workers = 1;

  /* Blocked before grpc_init starts its threads, so that only the signalfd sees these. */
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, NULL);
  signal(SIGPIPE, SIG_IGN);
  int sfd = cfg.check ? -1 : signalfd(-1, &signals, SFD_CLOEXEC);
  if (!cfg.check && sfd < 0) return fail("cannot read signals (signalfd)", strerror(errno));

  /* Watched before the first load, so that no edit falls between the two. */
  watch w = {.fd = -1};
  if (cfg.watch && !cfg.check && watch_open(&w, &cfg, err, sizeof err))
    log_line(LOG_WARN, "scripts are not watched; SIGHUP reloads them", "error", err, NULL);
  lvm **vms = load(&cfg, err, sizeof err);
  if (vms == NULL && cfg.check) {
    printf("%s\n", err);           /* every error found, one a line */
    return 1;
  }
  if (vms == NULL) {
    watch_close(&w);
    close(sfd);
    return fail("cannot load the protosets and scripts", err);
  }
  warn_if_serving_nothing(vms[0], &cfg);
  if (cfg.check) {
    print_served(vms[0]);
    lvm_free(vms[0]);
    free(vms);
    return 0;
  }

  served what;
  list_served(vms[0], &what);       /* now: once started, the states are the workers' */
  served_by *running = reloadguard_record(vms[0]);
  corelog_install();
  mutexdebug_off();
  grpc_init();
  server srv;
  int status = 0;
  if (server_start(&srv, &cfg, vms, err, sizeof err) == 0) {
    log_ready(&srv, &cfg, &what);
    serve(&srv, &cfg, sfd, &w, &running);
    health_drain();
    server_stop(&srv, cfg.grace_ms);
    log_line(LOG_INFO, "stopped", NULL);
  } else {
    status = fail("cannot serve", err);
  }
  reloadguard_free(running);
  watch_close(&w);
  close(sfd);
  free(vms);
  shared_close();
  health_free();
  grpc_shutdown();
  return status;
}
