/*
** fuzz_schema.c
** schema_load of arbitrary bytes as a descriptor set, written to a memfd and
** loaded through /proc/self/fd/N. The first byte chooses what else is loaded
** with it: nothing, the test protoset before it, or the input twice (every
** file a duplicate). A schema that loads is then walked: every service,
** method, field and enum value looked up again by name and number, and an
** empty message decoded and encoded for every method's input and output.
*/
#define _GNU_SOURCE

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <lauxlib.h>

#include "fuzz_common.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  fuzz_init();
  fd = memfd_create("fuzz_schema", 0);
  if (fd < 0) fuzz_die("memfd_create");
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  return 0;
}

static void walk_message(const schema_message *m, int depth) {
  if (depth > 3) return;
  for (size_t i = 0; i < m->n_fields; i++) {
    const schema_field *f = &m->fields[i];
    const schema_field *g = schema_field_by_name(m, f->name, strlen(f->name));
    if (g == NULL || strcmp(g->name, f->name) != 0)
      fuzz_die("%s: field %s not found by its name", m->full_name, f->name);
    g = schema_field_by_number(m, f->number);
    if (g == NULL || g->number != f->number)
      fuzz_die("%s: field %s not found by its number %u", m->full_name, f->name, f->number);
    if (i > 0 && m->fields[i - 1].number >= f->number)
      fuzz_die("%s: fields not sorted by number", m->full_name);
    if (f->oneof >= 0 && ((size_t)f->oneof >= m->n_oneofs || m->oneofs[f->oneof] == NULL))
      fuzz_die("%s.%s: oneof index %d of %zu", m->full_name, f->name, f->oneof, m->n_oneofs);
    if (f->type == FIELD_ENUM) {
      const schema_enum *e = f->enum_type;
      if (e == NULL || e->n_values == 0) fuzz_die("%s.%s: enum without values", m->full_name, f->name);
      for (size_t k = 0; k < e->n_values; k++) {
        const schema_enum_value *v = schema_enum_value_by_name(e, e->values[k].name,
                                                               strlen(e->values[k].name));
        if (v == NULL || schema_enum_value_by_number(e, e->values[k].number) == NULL)
          fuzz_die("%s: value %s not found", e->full_name, e->values[k].name);
      }
    }
    if (f->type == FIELD_MESSAGE || f->type == FIELD_GROUP) {
      if (f->message == NULL) fuzz_die("%s.%s: message field without a type", m->full_name, f->name);
      if (f->is_map && f->message->n_fields < 2)
        fuzz_die("%s.%s: map entry with %zu fields", m->full_name, f->name, f->message->n_fields);
      walk_message(f->message, depth + 1);
    }
  }
}

static void exercise(fuzz_env *e, const schema_message *m) {
  char err[256];
  lua_State *L = e->L;
  walk_message(m, 0);
  if (codec_decode(L, m, "", 0, "request", err, sizeof err) == 0) {
    codec_encode(L, -1, m, &e->b1, "reply", err, sizeof err);
    lua_pop(L, 1);
  }
  lua_newtable(L);
  codec_encode(L, -1, m, &e->b1, "reply", err, sizeof err);
  lua_pop(L, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_env *e = fuzz_init();
  const char *paths[2];
  size_t n = 0;
  char err[512];
  if (size < 1) return 0;
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data + 1, size - 1, 0) != (ssize_t)(size - 1))
    fuzz_die("cannot write the memfd");
  switch (data[0] % 3) {
    case 0: paths[n++] = path; break;
    case 1: paths[n++] = e->protosets[0]; paths[n++] = path; break;
    default: paths[n++] = path; paths[n++] = path; break;
  }
  schema *s = schema_load(paths, n, err, sizeof err);
  if (s == NULL) {
    if (memchr(err, '\0', sizeof err) == NULL || err[0] == '\0')
      fuzz_die("schema_load failed without a reason");
    return 0;
  }
  schema_retain(s);
  for (size_t i = 0; i < schema_service_count(s); i++) {
    const schema_service *svc = schema_service_at(s, i);
    if (schema_find_service(s, svc->full_name) != svc)
      fuzz_die("service %s not found by name", svc->full_name);
    for (size_t j = 0; j < svc->n_methods; j++) {
      const schema_method *mt = &svc->methods[j];
      if (schema_find_method(s, mt->path, strlen(mt->path)) != mt)
        fuzz_die("method %s not found by path", mt->path);
      if (mt->index >= schema_method_count(s)) fuzz_die("method %s: index out of range", mt->path);
      if (mt->input == NULL || mt->output == NULL) fuzz_die("method %s without types", mt->path);
      if (schema_find_message(s, mt->input->full_name) != mt->input)
        fuzz_die("message %s not found by name", mt->input->full_name);
      method_kind_name(mt->kind);
      exercise(e, mt->input);
      exercise(e, mt->output);
    }
  }
  schema_release(s);
  schema_release(s);
  fuzz_reset(e);
  return 0;
}
