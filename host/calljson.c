/*
** calljson.c
** A Lua state of its own does the work: the proto3 JSON mapping turns text
** into a message's table and back (grpc.from_json and grpc.to_json, as
** handlers have them), the codec turns tables into bytes and back.
*/
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lualib.h>

#include "calljson.h"
#include "codec.h"
#include "lgrpc.h"

struct calljson {
  lua_State *L;
  codec_buf buf;
};

/* [-1, +0] In protected mode: [schema] the libraries the mapping needs. */
static int open_libraries(lua_State *L) {
  const schema *s = lua_touserdata(L, 1);
  luaL_openlibs(L);
  lgrpc_open(L, s);
  return 0;
}

calljson *calljson_new(const schema *s) {
  calljson *j = calloc(1, sizeof *j);
  if (j == NULL || (j->L = luaL_newstate()) == NULL) {
    free(j);
    return NULL;
  }
  lua_pushcfunction(j->L, open_libraries);
  lua_pushlightuserdata(j->L, (void *)s);
  if (lua_pcall(j->L, 1, 0, 0) != LUA_OK) {
    calljson_free(j);
    return NULL;
  }
  return j;
}

void calljson_free(calljson *j) {
  if (j == NULL) return;
  if (j->L != NULL) lua_close(j->L);
  codec_buf_free(&j->buf);
  free(j);
}

/* [-1, +1, error] grpc.<fn>(m's name, the value on top), which it replaces. */
static void call_mapping(lua_State *L, const char *fn, const schema_message *m) {
  lua_getglobal(L, "grpc");
  if (lua_getfield(L, -1, fn) != LUA_TFUNCTION)
    luaL_error(L, "this host is built without the proto3 JSON mapping (grpc.%s)", fn);
  lua_remove(L, -2);
  lua_insert(L, -2);
  lua_pushstring(L, m->full_name);
  lua_insert(L, -2);
  lua_call(L, 2, 1);
}

/* [-3, +1] In protected mode: [j m text] the message's bytes. */
static int text_to_bytes(lua_State *L) {
  calljson *j = lua_touserdata(L, 1);
  const schema_message *m = lua_touserdata(L, 2);
  char err[1024];
  call_mapping(L, "from_json", m);
  if (codec_encode(L, -1, m, &j->buf, m->full_name, err, sizeof err) < 0) return luaL_error(L, "%s", err);
  lua_pushlstring(L, j->buf.data ? j->buf.data : "", j->buf.len);
  return 1;
}

/* [-3, +1] In protected mode: [j m bytes] the message's JSON text. */
static int bytes_to_text(lua_State *L) {
  const schema_message *m = lua_touserdata(L, 2);
  size_t len;
  const char *data = lua_tolstring(L, 3, &len);
  char err[1024];
  if (codec_decode(L, m, data, len, m->full_name, err, sizeof err) < 0) return luaL_error(L, "%s", err);
  call_mapping(L, "to_json", m);
  if (!lua_isstring(L, -1)) return luaL_error(L, "grpc.to_json gave no text");
  return 1;
}

/* Runs f on [j m data] in protected mode; its string result, valid until the next run, in *out. */
static int run(calljson *j, lua_CFunction f, const schema_message *m, const char *data, size_t len,
               const char **out, size_t *out_len, char *err, size_t errlen) {
  lua_State *L = j->L;
  lua_settop(L, 0);                 /* the previous result, kept until now */
  lua_pushcfunction(L, f);
  lua_pushlightuserdata(L, j);
  lua_pushlightuserdata(L, (void *)m);
  lua_pushlstring(L, data, len);
  if (lua_pcall(L, 3, 1, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    snprintf(err, errlen, "%s", msg ? msg : "(error object is not a string)");
    return -1;
  }
  *out = lua_tolstring(L, -1, out_len);
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
