/*
** lgrpc.c
** The `grpc` library: error, status, sleep, now. A status raised by
** grpc.error (or by the host: cancellation, codec errors) is a table with a
** metatable of its own, so the resume loop tells it from any other error.
*/
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "call.h"
#include "health.h"
#include "lcodec.h"
#include "lgrpc.h"
#include "lvm.h"
#include "status.h"
#include "worker.h"

#define STATUS_MT "grpc.status"

/*
** [-1, +0, error] Raises a status object with code and the message on top of
** the stack, and the details at index details unless it is 0.
*/
static int raise_status(lua_State *L, grpc_status_code code, int details) {
  lua_createtable(L, 0, 3);
  lua_insert(L, -2);
  lua_setfield(L, -2, "message");
  if (details != 0) {
    lua_pushvalue(L, details);
    lua_setfield(L, -2, "details");
  }
  lua_pushinteger(L, code);
  lua_setfield(L, -2, "code");
  luaL_setmetatable(L, STATUS_MT);
  return lua_error(L);
}

int lgrpc_raise(lua_State *L, grpc_status_code code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return raise_status(L, code, 0);
}

int lgrpc_status_of(lua_State *L, int idx, grpc_status_code *code, const char **message) {
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

/* A status code given as a number or as a name such as "NOT_FOUND". */
static grpc_status_code check_code(lua_State *L, int arg) {
  if (lua_type(L, arg) == LUA_TSTRING) {
    const char *name = lua_tostring(L, arg);
    int code = status_from_name(name);
    if (code > 0) return (grpc_status_code)code;
    luaL_argerror(L, arg, lua_pushfstring(L, "unknown status code name '%s'", name));
  }
  lua_Integer code = luaL_checkinteger(L, arg);
  luaL_argcheck(L, code >= 1 && code < STATUS_COUNT, arg,
                "status code must be 1 to 16 (OK ends a call by returning)");
  return (grpc_status_code)code;
}

/* grpc.error(code, message [, details]): details, a list of google.protobuf.Any tables */
static int lgrpc_error(lua_State *L) {
  grpc_status_code code = check_code(L, 1);
  const char *message = luaL_optstring(L, 2, "");
  int details = lua_isnoneornil(L, 3) ? 0 : 3;
  if (details) luaL_checktype(L, 3, LUA_TTABLE);
  lua_pushstring(L, message);
  return raise_status(L, code, details);
}

static int status_tostring(lua_State *L) {
  lua_getfield(L, 1, "code");
  grpc_status_code code = (grpc_status_code)lua_tointeger(L, -1);
  lua_getfield(L, 1, "message");
  lua_pushfstring(L, "%s: %s", status_name(code), luaL_optstring(L, -1, ""));
  return 1;
}

/* The call of the running handler; raises when L is not a handler's own coroutine. */
static call *check_handler(lua_State *L, const char *what) {
  call *c = lvm_current_call(L);
  if (c == NULL || c->co != L || !lua_isyieldable(L))
    luaL_error(L, "%s must be called from a handler itself, not from a nested coroutine or the script's top level", what);
  return c;
}

static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  call *c = (call *)ctx;
  if (c->cancelled) lgrpc_raise_cancelled(L, c);
  return 0;
}

/* grpc.sleep(seconds) */
static int lgrpc_sleep(lua_State *L) {
  lua_Number seconds = luaL_checknumber(L, 1);
  luaL_argcheck(L, seconds >= 0 && seconds < 1e9, 1, "seconds must be from 0 to 1e9");
  call *c = check_handler(L, "grpc.sleep");
  if (c->cancelled) lgrpc_raise_cancelled(L, c);
  int64_t when = timer_now() + (int64_t)(seconds * 1e9);
  if (timer_arm(&c->worker->timers, &c->sleep, when)) return luaL_error(L, "grpc.sleep: out of memory");
  c->wait = WAIT_SLEEP;
  return lua_yieldk(L, 0, (lua_KContext)c, sleep_k);
}

/* grpc.now(): wall-clock seconds */
static int lgrpc_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

int lgrpc_raise_cancelled(lua_State *L, const call *c) {
  if (call_seconds_left(c) == 0) return lgrpc_raise(L, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline exceeded");
  return lgrpc_raise(L, GRPC_STATUS_CANCELLED, "the call was cancelled");
}

/* grpc.set_health(service, "SERVING" | "NOT_SERVING"): what grpc.health.v1.Health answers for it */
static int lgrpc_set_health(lua_State *L) {
  static const char *const names[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN", NULL};
  const char *service = luaL_checkstring(L, 1);
  health_status status = (health_status)luaL_checkoption(L, 2, NULL, names);
  if (health_set(service, status)) return luaL_error(L, "grpc.set_health: out of memory");
  return 0;
}

static const luaL_Reg functions[] = {
  {"error", lgrpc_error},
  {"set_health", lgrpc_set_health},
  {"sleep", lgrpc_sleep},
  {"now", lgrpc_now},
  {NULL, NULL}};

void lgrpc_open(lua_State *L, const schema *s) {
  luaL_newmetatable(L, STATUS_MT);
  lua_pushcfunction(L, status_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);

  luaL_newlib(L, functions);
  lua_createtable(L, 0, STATUS_COUNT);
  for (int i = 0; i < STATUS_COUNT; i++) {
    lua_pushinteger(L, i);
    lua_setfield(L, -2, status_name((grpc_status_code)i));
  }
  lua_setfield(L, -2, "status");
  lcodec_open(L, s);

  lua_pushvalue(L, -1);
  lua_setglobal(L, "grpc");
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_insert(L, -2);
  lua_setfield(L, -2, "grpc");
  lua_pop(L, 1);
}
