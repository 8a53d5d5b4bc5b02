/*
** lstatus.c
** Status objects and their metatable.
*/
#include <stdarg.h>

#include <lauxlib.h>

#include "lstatus.h"
#include "status.h"

#define STATUS_MT "grpc.status"

/* "NOT_FOUND: no such item", and where it came from when an outbound call raised it */
static int status_tostring(lua_State *L) {
  lua_getfield(L, 1, "code");
  grpc_status_code code = (grpc_status_code)lua_tointeger(L, -1);
  lua_getfield(L, 1, "message");
  const char *text = lua_pushfstring(L, "%s: %s", status_name(code), luaL_optstring(L, -1, ""));
  int top = lua_gettop(L);
  if (lua_getfield(L, 1, "target") == LUA_TSTRING && lua_getfield(L, 1, "method") == LUA_TSTRING)
    lua_pushfstring(L, "%s (from %s %s)", text, lua_tostring(L, -2), lua_tostring(L, -1));
  else
    lua_settop(L, top);
  return 1;
}

void lstatus_open(lua_State *L) {
  luaL_newmetatable(L, STATUS_MT);
  lua_pushcfunction(L, status_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}

void lstatus_push(lua_State *L, grpc_status_code code, int msg, int details) {
  msg = lua_absindex(L, msg);
  if (details != 0) details = lua_absindex(L, details);
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, code);
  lua_setfield(L, -2, "code");
  lua_pushvalue(L, msg);
  lua_setfield(L, -2, "message");
  if (details != 0) {
    lua_pushvalue(L, details);
    lua_setfield(L, -2, "details");
  }
  luaL_setmetatable(L, STATUS_MT);
}

int lstatus_raise_at(lua_State *L, grpc_status_code code, int msg, int details) {
  lstatus_push(L, code, msg, details);
  return lua_error(L);
}

int lstatus_raise(lua_State *L, grpc_status_code code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return lstatus_raise_at(L, code, -1, 0);
}

int lstatus_of(lua_State *L, int idx, grpc_status_code *code, const char **message) {
  if (!lua_istable(L, idx) || !lua_getmetatable(L, idx)) return 0;
  luaL_getmetatable(L, STATUS_MT);
  int is_status = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  if (!is_status) return 0;
  idx = lua_absindex(L, idx);
  lua_getfield(L, idx, "code");
  *code = (grpc_status_code)lua_tointeger(L, -1);
  lua_getfield(L, idx, "message");
  *message = lua_tostring(L, -1);
  lua_pop(L, 2);
  if (*message == NULL) *message = "";
  return 1;
}
