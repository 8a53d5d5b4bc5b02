/*
** calljson.c
** A Lua state of its own does the work, with the libraries handlers have: the
** proto3 JSON mapping turns text into a message's table and back (protojson.h,
** as grpc.from_json and grpc.to_json do), the codec turns tables into bytes
** and back.
** Each conversion runs in protected mode and leaves its result in the
** registry, where it stays until the next one.
*/
#include <stdio.h>
#include <stdlib.h>

#include "calljson.h"
#include "codec.h"
#include "ljson.h"
#include "lvm.h"
#include "protojson.h"

#define RESULT_KEY "host.calljson"

struct calljson {
  lvm *vm;
};

/* What one conversion takes. */
typedef struct job {
  const schema_message *m;
  const char *data;
  size_t len;
} job;

/* [-1, +0] In protected mode: [libs] opens them. */
static int open_libs(lua_State *L) {
  lvm_open_libs(L, lua_touserdata(L, 1));
  return 0;
}

calljson *calljson_new(schema *s, const config *cfg, const luaL_Reg *libs, char *err, size_t errlen) {
  calljson *j = calloc(1, sizeof *j);
  if (j == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  j->vm = lvm_new(s, cfg, err, errlen);
  if (j->vm == NULL || lvm_run(j->vm, open_libs, (void *)libs, err, errlen) < 0) {
    calljson_free(j);
    return NULL;
  }
  return j;
}

void calljson_free(calljson *j) {
  if (j == NULL) return;
  lvm_free(j->vm);
  free(j);
}

/* [-1, +0] In protected mode: [job] the bytes of its JSON text. */
static int text_to_bytes(lua_State *L) {
  const job *jb = lua_touserdata(L, 1);
  buf *b = &lvm_of(L)->buf;
  buf *scratch = ljson_buffer(L);
  char err[1024];
  scratch->limit = 0;
  if (protojson_decode(L, lvm_of(L)->schema, jb->m, jb->data, jb->len, scratch, jb->m->full_name,
                       err, sizeof err) < 0 ||
      codec_encode(L, -1, jb->m, b, jb->m->full_name, err, sizeof err) < 0)
    return luaL_error(L, "%s", err);
  lua_pushlstring(L, b->data ? b->data : "", b->len);
  lua_setfield(L, LUA_REGISTRYINDEX, RESULT_KEY);
  return 0;
}

/* [-1, +0] In protected mode: [job] the JSON text of its bytes. */
static int bytes_to_text(lua_State *L) {
  const job *jb = lua_touserdata(L, 1);
  buf *text = ljson_buffer(L);
  char err[1024];
  if (codec_decode(L, jb->m, jb->data, jb->len, jb->m->full_name, err, sizeof err) < 0 ||
      protojson_encode(L, -1, lvm_of(L)->schema, jb->m, text, jb->m->full_name, err, sizeof err) < 0)
    return luaL_error(L, "%s", err);
  lua_pushlstring(L, text->data ? text->data : "", text->len);
  lua_setfield(L, LUA_REGISTRYINDEX, RESULT_KEY);
  return 0;
}

static int run(calljson *j, lua_CFunction f, const schema_message *m, const char *data, size_t len,
               const char **out, size_t *out_len, char *err, size_t errlen) {
  job jb = {m, data, len};
  if (lvm_run(j->vm, f, &jb, err, errlen) < 0) return -1;
  lua_getfield(j->vm->L, LUA_REGISTRYINDEX, RESULT_KEY);
  *out = lua_tolstring(j->vm->L, -1, out_len);
  lua_pop(j->vm->L, 1);             /* the registry keeps it */
  return 0;
}

int calljson_to_bytes(calljson *j, const schema_message *m, const char *text, size_t len,
                      const char **out, size_t *out_len, char *err, size_t errlen) {
  return run(j, text_to_bytes, m, text, len, out, out_len, err, errlen);
}

int calljson_to_json(calljson *j, const schema_message *m, const char *data, size_t len,
                     const char **out, size_t *out_len, char *err, size_t errlen) {
  return run(j, bytes_to_text, m, data, len, out, out_len, err, errlen);
}
