/*
** fuzz_common.c
** See fuzz_common.h.
*/
#define _GNU_SOURCE

#include "fuzz_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "google/protobuf/descriptor.pb-c.h"

#ifndef FUZZ_DEFAULT_PROTOSETS
#define FUZZ_DEFAULT_PROTOSETS "build/tests/test_protoset.pb:build/protoset.pb"
#endif

static fuzz_env env;
static bool ready;
static char *errbuf;
static size_t errbuf_len;

void fuzz_die(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "fuzz: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  abort();
}

void fuzz_check_decoded(lua_State *L, int rc, int top, const char *err, size_t errlen,
                        const char *what) {
  if (rc == 0 && (lua_gettop(L) != top + 1 || !lua_istable(L, -1)))
    fuzz_die("%s: decode succeeded without leaving one table", what);
  if (rc < 0) {
    if (lua_gettop(L) != top) fuzz_die("%s: decode failed and left the stack at %d (was %d)",
                                       what, lua_gettop(L), top);
    if (memchr(err, '\0', errlen) == NULL) fuzz_die("%s: error text not terminated", what);
  }
}

char *fuzz_errbuf(size_t n) {
  if (n != errbuf_len) {
    free(errbuf);
    errbuf = malloc(n ? n : 1);
    errbuf_len = n;
  }
  if (n > 0) memset(errbuf, 'x', n);
  return errbuf;
}

/* Every message type of a descriptor set, by full name, appended to names. */
static void add_names(char ***names, size_t *n, const char *scope,
                      Google__Protobuf__DescriptorProto *const *ms, size_t n_ms) {
  for (size_t i = 0; i < n_ms; i++) {
    char *full;
    if (asprintf(&full, "%s%s%s", scope, *scope ? "." : "", ms[i]->name) < 0) abort();
    *names = realloc(*names, (*n + 1) * sizeof **names);
    (*names)[(*n)++] = full;
    add_names(names, n, full, ms[i]->nested_type, ms[i]->n_nested_type);
  }
}

static void list_messages(const char *path, char ***names, size_t *n) {
  FILE *f = fopen(path, "rb");
  static uint8_t data[1 << 22];
  size_t len;
  if (f == NULL) fuzz_die("cannot open %s", path);
  len = fread(data, 1, sizeof data, f);
  fclose(f);
  Google__Protobuf__FileDescriptorSet *set =
      google__protobuf__file_descriptor_set__unpack(NULL, len, data);
  if (set == NULL) fuzz_die("%s is not a FileDescriptorSet", path);
  for (size_t i = 0; i < set->n_file; i++) {
    const Google__Protobuf__FileDescriptorProto *fd = set->file[i];
    add_names(names, n, fd->package ? fd->package : "", fd->message_type, fd->n_message_type);
  }
  google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
}

static int by_name(const void *a, const void *b) {
  return strcmp((*(const schema_message *const *)a)->full_name,
                (*(const schema_message *const *)b)->full_name);
}

fuzz_env *fuzz_init(void) {
  char err[1024], *list, *save = NULL, **names = NULL;
  size_t n_names = 0;
  if (ready) return &env;
  list = getenv("FUZZ_PROTOSETS");
  list = strdup(list && *list ? list : FUZZ_DEFAULT_PROTOSETS);
  for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
    env.protosets = realloc(env.protosets, (env.n_protosets + 1) * sizeof *env.protosets);
    env.protosets[env.n_protosets++] = p;   /* list stays allocated: the paths point into it */
    list_messages(p, &names, &n_names);
  }
  env.s = schema_load(env.protosets, env.n_protosets, err, sizeof err);
  if (env.s == NULL) fuzz_die("schema_load: %s", err);
  env.messages = calloc(n_names, sizeof *env.messages);
  for (size_t i = 0; i < n_names; i++) {
    const schema_message *m = schema_find_message(env.s, names[i]);
    if (m == NULL) fuzz_die("message %s is not in the schema", names[i]);
    bool dup = false;
    for (size_t j = 0; j < env.n_messages; j++) dup = dup || env.messages[j] == m;
    if (!dup) env.messages[env.n_messages++] = m;
    free(names[i]);
  }
  free(names);
  if (env.n_messages == 0) fuzz_die("no message types");
  qsort(env.messages, env.n_messages, sizeof *env.messages, by_name);
  /* has_maps: to a fixed point over the message graph (recursive types included). */
  env.has_maps = calloc(env.n_messages, sizeof *env.has_maps);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < env.n_messages; i++) {
      const schema_message *m = env.messages[i];
      bool any = env.has_maps[i];
      for (size_t k = 0; k < m->n_fields && !any; k++) {
        const schema_field *f = &m->fields[k];
        any = f->is_map || ((f->type == FIELD_MESSAGE || f->type == FIELD_GROUP) &&
                            fuzz_has_maps(&env, f->message));
      }
      if (any && !env.has_maps[i]) env.has_maps[i] = changed = true;
    }
  }
  env.L = luaL_newstate();
  if (env.L == NULL) fuzz_die("luaL_newstate");
  if (getenv("FUZZ_LIST")) {
    for (size_t i = 0; i < env.n_messages; i++)
      fprintf(stderr, "%3zu %s\n", i, env.messages[i]->full_name);
  }
  ready = true;
  return &env;
}

const schema_message *fuzz_message(const fuzz_env *e, unsigned choice) {
  return e->messages[choice % e->n_messages];
}

const schema_message *fuzz_pick(const fuzz_env *e, const uint8_t **data, size_t *size) {
  const uint8_t *p = *data;
  if (*size == 0) return NULL;
  if (p[0] == '=') {
    const uint8_t *nl = memchr(p, '\n', *size);
    char name[256];
    size_t len;
    if (nl == NULL || (len = (size_t)(nl - p - 1)) >= sizeof name) return NULL;
    memcpy(name, p + 1, len);
    name[len] = '\0';
    *size -= len + 2;
    *data = nl + 1;
    return schema_find_message(e->s, name);
  }
  (*data)++;
  (*size)--;
  return fuzz_message(e, p[0]);
}

bool fuzz_has_maps(const fuzz_env *e, const schema_message *m) {
  for (size_t i = 0; i < e->n_messages; i++)
    if (e->messages[i] == m) return e->has_maps[i];
  return true;   /* a type the lists missed: assume the worst */
}

void fuzz_reset(fuzz_env *e) {
  lua_settop(e->L, 0);
  lua_gc(e->L, LUA_GCSTEP, 0);
}

static bool same_number(lua_State *L, int a, int b) {
  if (lua_isinteger(L, a) != lua_isinteger(L, b)) return false;
  if (lua_isinteger(L, a)) return lua_tointeger(L, a) == lua_tointeger(L, b);
  lua_Number x = lua_tonumber(L, a), y = lua_tonumber(L, b);
  return memcmp(&x, &y, sizeof x) == 0;
}

/* Every key of the table at a is in the table at b with an equal value; *n counts them. */
static bool covers(lua_State *L, int a, int b, int depth, size_t *n) {
  *n = 0;
  lua_pushnil(L);
  while (lua_next(L, a)) {
    int v = lua_gettop(L);
    (*n)++;
    lua_pushvalue(L, v - 1);
    lua_rawget(L, b);
    if (!fuzz_equal(L, v, v + 1, depth + 1)) {
      lua_settop(L, v - 2);
      return false;
    }
    lua_settop(L, v - 1);
  }
  return true;
}

static size_t count_keys(lua_State *L, int t) {
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    n++;
  }
  return n;
}

bool fuzz_equal(lua_State *L, int a, int b, int depth) {
  a = lua_absindex(L, a);
  b = lua_absindex(L, b);
  if (depth > 250) fuzz_die("fuzz_equal: tables nested deeper than 250");
  luaL_checkstack(L, 6, "fuzz_equal");
  if (lua_type(L, a) != lua_type(L, b)) return false;
  switch (lua_type(L, a)) {
    case LUA_TNUMBER: return same_number(L, a, b);
    case LUA_TTABLE: {
      size_t n;
      return covers(L, a, b, depth, &n) && count_keys(L, b) == n;
    }
    default: return lua_rawequal(L, a, b);
  }
}
