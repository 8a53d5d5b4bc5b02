/*
** health.c
** A short list under a mutex: services are few and health is read per probe,
** not per call.
*/
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"

typedef struct entry {
  char *service;
  health_status status;
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry *entries;
static size_t n_entries, cap_entries;
static atomic_bool draining;

const char *const health_status_names[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN", NULL};

static entry *find(const char *service) {
  for (size_t i = 0; i < n_entries; i++)
    if (strcmp(entries[i].service, service) == 0) return &entries[i];
  return NULL;
}

static entry *add(const char *service) {
  if (n_entries == cap_entries) {
    size_t cap = cap_entries ? cap_entries * 2 : 8;
    entry *grown = realloc(entries, cap * sizeof *grown);
    if (grown == NULL) return NULL;
    entries = grown;
    cap_entries = cap;
  }
  char *name = strdup(service);
  if (name == NULL) return NULL;
  entries[n_entries].service = name;
  return &entries[n_entries++];
}

int health_set(const char *service, health_status status) {
  pthread_mutex_lock(&lock);
  entry *e = find(service);
  if (e == NULL) e = add(service);
  if (e != NULL) e->status = status;
  pthread_mutex_unlock(&lock);
  return e ? 0 : -1;
}

health_status health_get(const char *service) {
  pthread_mutex_lock(&lock);
  entry *e = find(service);
  health_status status = e ? e->status : HEALTH_UNKNOWN;
  pthread_mutex_unlock(&lock);
  return status;
}

void health_drain(void) { atomic_store(&draining, true); }

bool health_draining(void) { return atomic_load(&draining); }

void health_free(void) {
  for (size_t i = 0; i < n_entries; i++) free(entries[i].service);
  free(entries);
  entries = NULL;
  n_entries = cap_entries = 0;
}
