/*
** reloadguard.c
** A record is a list of (service, script) pairs, copied out of a state so that
** it outlives the state's handing over to a worker.
*/
#define _POSIX_C_SOURCE 200809L     /* strdup */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "reloadguard.h"

typedef struct service_script {
  char *service;
  char *script;                     /* the file, as the scripts directory names it */
} service_script;

struct served_by {
  size_t n;
  service_script pairs[];
};

void reloadguard_free(served_by *r) {
  if (r == NULL) return;
  for (size_t i = 0; i < r->n; i++) {
    free(r->pairs[i].service);
    free(r->pairs[i].script);
  }
  free(r);
}

/* The file of the user's script that serves a method of svc, or NULL. */
static const char *script_of(const lvm *vm, const schema_service *svc) {
  for (size_t j = 0; j < svc->n_methods; j++) {
    const char *src = lvm_handler_source(vm, &svc->methods[j]);
    if (src != NULL && src[0] == '@') return src + 1;
  }
  return NULL;
}

served_by *reloadguard_record(const lvm *vm) {
  size_t n = schema_service_count(vm->schema);
  served_by *r = calloc(1, sizeof *r + n * sizeof r->pairs[0]);
  if (r == NULL) return NULL;
  for (size_t i = 0; i < n; i++) {
    const schema_service *svc = schema_service_at(vm->schema, i);
    const char *script = script_of(vm, svc);
    if (script == NULL) continue;
    service_script *p = &r->pairs[r->n++];
    p->service = strdup(svc->full_name);
    p->script = strdup(script);
    if (p->service == NULL || p->script == NULL) {
      reloadguard_free(r);
      return NULL;
    }
  }
  return r;
}

static bool serves_something(const served_by *r, const char *script) {
  for (size_t i = 0; i < r->n; i++)
    if (strcmp(r->pairs[i].script, script) == 0) return true;
  return false;
}

int reloadguard_check(const served_by *running, const served_by *next, const schema *next_schema,
                      const config *cfg, char *err, size_t errlen) {
  if (running == NULL || next == NULL) return 0;
  char protosets[1024] = "";
  for (size_t i = 0; i < cfg->n_protosets; i++) log_append(protosets, sizeof protosets, cfg->protosets[i]);
  size_t len = 0;
  err[0] = '\0';
  for (size_t i = 0; i < running->n; i++) {
    const service_script *p = &running->pairs[i];
    if (schema_find_service(next_schema, p->service) != NULL) continue;
    /* A script removed, or turned to another service, lets its service go on purpose. */
    if (access(p->script, F_OK) != 0 || serves_something(next, p->script)) continue;
    int n = snprintf(err + len, errlen - len,
                     "%s%s would no longer be served: %s still handles it, but the protosets "
                     "(%s) no longer have it; is its .proto in proto/ and built (./bootstrap.sh build)?",
                     len ? "\n" : "", p->service, p->script, protosets);
    if (n < 0 || (size_t)n >= errlen - len) break;
    len += (size_t)n;
  }
  return err[0] ? -1 : 0;
}
