/*
** lgrpc.c
** The `grpc` library: error, status, sleep, now, set_health, and the codec's
** functions.
*/
#include <time.h>

#include <lauxlib.h>

#include "health.h"
#include "lcall.h"
#include "lclient.h"
#include "lcodec.h"
#include "lgrpc.h"
#include "lstatus.h"
#include "status.h"
#include "timer.h"

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
  return lstatus_raise_at(L, code, -1, details);
}

static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  call *c = (call *)ctx;
  if (call_cancelled(c)) lcall_raise_cancelled(L, c);
  return 0;
}

/* grpc.sleep(seconds) */
static int lgrpc_sleep(lua_State *L) {
  lua_Number seconds = luaL_checknumber(L, 1);
  luaL_argcheck(L, seconds >= 0 && seconds < 1e9, 1, "seconds must be from 0 to 1e9");
  call *c = lcall_check_handler(L, "grpc.sleep");
  if (call_cancelled(c)) lcall_raise_cancelled(L, c);
  if (call_sleep(c, timer_now() + (int64_t)(seconds * 1e9))) return luaL_error(L, "grpc.sleep: out of memory");
  return lua_yieldk(L, 0, (lua_KContext)c, sleep_k);
}

/* grpc.now(): wall-clock seconds */
static int lgrpc_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* grpc.set_health(service, "SERVING" | "NOT_SERVING"): what grpc.health.v1.Health answers for it */
static int lgrpc_set_health(lua_State *L) {
  const char *service = luaL_checkstring(L, 1);
  health_status status = (health_status)luaL_checkoption(L, 2, NULL, health_status_names);
  if (health_set(service, status)) return luaL_error(L, "grpc.set_health: out of memory");
  return 0;
}

static const luaL_Reg functions[] = {
  {"error", lgrpc_error},
  {"set_health", lgrpc_set_health},
  {"sleep", lgrpc_sleep},
  {"now", lgrpc_now},
  {NULL, NULL}};

int luaopen_grpc(lua_State *L) {
  lstatus_open(L);
  luaL_newlib(L, functions);
  lua_createtable(L, 0, STATUS_COUNT);
  for (int i = 0; i < STATUS_COUNT; i++) {
    lua_pushinteger(L, i);
    lua_setfield(L, -2, status_name((grpc_status_code)i));
  }
  lua_setfield(L, -2, "status");
  lcodec_open(L);
  lclient_open(L);
  return 1;
}
