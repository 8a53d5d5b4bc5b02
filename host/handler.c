/*
** handler.c
** The body every handler's coroutine runs, and the resume that maps how it
** ended to a gRPC status, in the manner of lua-nginx-module's run_thread.
*/
#include <lauxlib.h>

#include "codec.h"
#include "guard.h"
#include "handler.h"
#include "lcall.h"
#include "log.h"
#include "lstatus.h"
#include "status.h"

/* The handler has returned: its results are on the stack. End the call with OK. */
static int body_k(lua_State *co, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  call *c = lcall_current(co)->call;
  grpc_byte_buffer *reply = NULL;
  if (method_one_reply(call_method(c))) reply = lcall_encode_reply(co, -1, c);
  call_finish(c, GRPC_STATUS_OK, NULL, reply);
  return 0;
}

/*
** What every coroutine runs: [call handler] -> handler(req, call) or handler(call).
** The call object stays at the bottom, so it lives as long as the coroutine
** whatever the handler does with its own copy.
*/
static int body(lua_State *co) {
  call *c = lcall_current(co)->call;
  int nargs = 1;
  if (method_one_request(call_method(c))) {
    lcall_push_request(co, c);      /* call handler req */
    nargs = 2;
  }
  lua_pushvalue(co, 1);             /* call handler [req] call */
  lua_callk(co, nargs, 1, 0, body_k);
  return body_k(co, LUA_OK, 0);
}

/*
** [-1, +0] In protected mode: [c] makes c's coroutine, ready to run body,
** anchored in the registry: a kept one (end_handler) if there is one, which
** leaves the list only once nothing can fail, else a new one.
*/
static int new_coroutine(lua_State *L) {
  call *c = lua_touserdata(L, 1);
  lvm *vm = call_vm(c);
  lua_State *co;
  if (vm->n_idle > 0) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->idle[vm->n_idle - 1]);
    co = lua_tothread(L, -1);
  } else {
    co = lua_newthread(L);
  }
  guard_reset(co);
  lua_pushcfunction(co, body);
  lcall *obj = lcall_new(co, co, c);
  lvm_push_handler(vm, co, call_method(c));
  obj->co_ref = vm->n_idle > 0 ? vm->idle[--vm->n_idle] : luaL_ref(L, LUA_REGISTRYINDEX);
  call_set_handler(c, obj);
  return 0;
}

/*
** Unlinks the call object, runs what the coroutine left to close, and lets it
** go. status: how its last resume ended; after an error, lua_resetthread
** returns that error again, so only a clean end can tell of a failed close.
*/
static void end_handler(lcall *obj, int status) {
  call *c = obj->call;
  lvm *vm = call_vm(c);
  obj->call = NULL;
  /*
  ** A coroutine that returned has closed its variables and unwound: only its
  ** results are left. Any other has its pending <close> variables run, as
  ** coroutine.close would run them.
  */
  int closed = LUA_OK;
  if (status == LUA_OK) lua_settop(obj->co, 0);
  else closed = lua_resetthread(obj->co);
  if (closed != LUA_OK && (status == LUA_OK || status == LUA_YIELD))
    log_line(LOG_ERROR, "a <close> variable of the handler failed", "method", call_method(c)->path,
             "error", lua_isstring(obj->co, -1) ? lua_tostring(obj->co, -1) : "(not a string)", NULL);
  /* A coroutine that returned cleanly is as new once reset: the next call takes it. */
  if (status == LUA_OK && closed == LUA_OK && obj->stop == GRPC_STATUS_OK && vm->n_idle < LVM_IDLE_THREADS)
    vm->idle[vm->n_idle++] = obj->co_ref;
  else
    luaL_unref(vm->L, LUA_REGISTRYINDEX, obj->co_ref);
  obj->co_ref = LUA_NOREF;
  call_set_handler(c, NULL);
}

/*
** [-0, +1] The google.rpc.Status of a status object at the top of co that has
** details, encoded; nil when it has none. A bad detail is logged and left out.
*/
static void push_status_details(lua_State *L, lua_State *co, call *c, grpc_status_code code,
                                const char *msg) {
  lvm *vm = call_vm(c);
  const schema_message *status = schema_find_message(vm->schema, "google.rpc.Status");
  lua_getfield(co, -1, "details");
  lua_xmove(co, L, 1);
  if (!lua_istable(L, -1) || status == NULL) return;
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, code);
  lua_setfield(L, -2, "code");
  lua_pushstring(L, msg);
  lua_setfield(L, -2, "message");
  lua_rotate(L, -2, 1);
  lua_setfield(L, -2, "details");
  char err[256];
  if (codec_encode(L, -1, status, &vm->buf, "grpc.error", err, sizeof err)) {
    log_line(LOG_ERROR, "grpc.error details left out", "method", call_method(c)->path, "error", err,
             "hint", "each detail is a google.protobuf.Any, as grpc.any_pack makes", NULL);
    lua_pushnil(L);
  } else {
    lua_pushlstring(L, vm->buf.data, vm->buf.len);
  }
  lua_remove(L, -2);
}

/* [-0, +0] A status raised by an outbound call (it names a target) that the handler let through. */
static void log_outbound(lua_State *co, const char *path, grpc_status_code code, const char *msg) {
  int top = lua_gettop(co);
  if (lua_getfield(co, -1, "target") == LUA_TSTRING && lua_getfield(co, -2, "method") == LUA_TSTRING)
    log_line(LOG_WARN, "an outbound call failed and the handler passed its status on", "method", path,
             "status", status_name(code), "error", msg, "target", lua_tostring(co, -2), "outbound_method",
             lua_tostring(co, -1), NULL);
  lua_settop(co, top);
}

/*
** [-1, +3] In protected mode: [co] reads the error that killed co into a
** status code (integer), a message, and the encoded google.rpc.Status of its
** details or nil; logs script errors with a traceback.
*/
static int describe_error(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  call *c = lcall_current(co)->call;
  const char *path = call_method(c)->path;
  grpc_status_code code;
  const char *msg;
  if (lstatus_of(co, -1, &code, &msg)) {
    if (code == GRPC_STATUS_INTERNAL)
      log_line(LOG_ERROR, "handler failed", "method", path, "status", status_name(code), "error", msg, NULL);
    else
      log_outbound(co, path, code, msg);
    lua_pushinteger(L, code);
    lua_pushstring(L, msg);
    push_status_details(L, co, c, code, msg);
    return 3;
  }
  msg = lua_tostring(co, -1);
  if (msg == NULL) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(co, -1));
  luaL_traceback(L, co, NULL, 0);
  log_line(LOG_ERROR, "handler failed", "method", path, "status", "UNKNOWN", "error", msg,
           "traceback", lua_tostring(L, -1), NULL);
  lua_pop(L, 1);
  lua_pushinteger(L, GRPC_STATUS_UNKNOWN);
  lua_pushstring(L, msg);
  lua_pushnil(L);
  return 3;
}

static void finish_with_error(lcall *obj, int status) {
  call *c = obj->call;
  if (status == LUA_ERRMEM) {
    log_line(LOG_ERROR, "handler failed", "method", call_method(c)->path, "status", "RESOURCE_EXHAUSTED",
             "error", "the Lua state is out of memory (--max-memory-mb)", NULL);
    call_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "the handler ran out of memory", NULL);
    return;
  }
  lua_State *L = call_vm(c)->L;
  int top = lua_gettop(L);
  lua_pushcfunction(L, describe_error);
  lua_rawgeti(L, LUA_REGISTRYINDEX, obj->co_ref);
  if (lua_pcall(L, 1, 3, 0) == LUA_OK) {
    size_t len;
    const char *details = lua_tolstring(L, -1, &len);
    if (details != NULL && call_set_status_details(c, details, len))
      log_line(LOG_ERROR, "grpc.error details left out: out of memory", "method", call_method(c)->path, NULL);
    call_finish(c, (grpc_status_code)lua_tointeger(L, -3), lua_tostring(L, -2), NULL);
  } else {
    call_finish(c, GRPC_STATUS_UNKNOWN, "the handler failed and its error could not be read", NULL);
  }
  lua_settop(L, top);
}

static void resume(lcall *obj, int nargs) {
  call *c = obj->call;
  lvm *vm = call_vm(c);
  int nresults;
  guard_begin(&vm->guard, obj->co, call_deadline(c), &obj->stop);
  int status = lua_resume(obj->co, vm->L, nargs, &nresults);
  guard_end(&vm->guard);
  if (status == LUA_YIELD && call_waiting(c)) return;
  if (status == LUA_YIELD) {
    static const char yielded[] = "the handler yielded outside call:recv, call:send and grpc.sleep";
    log_line(LOG_ERROR, "handler failed", "method", call_method(c)->path, "status", "UNKNOWN",
             "error", yielded, NULL);
    call_finish(c, GRPC_STATUS_UNKNOWN, yielded, NULL);
  } else if (status != LUA_OK) {
    finish_with_error(obj, status);
  }
  end_handler(obj, status);
  /* Some allocations (luaL_Buffer's) fail without an emergency collection: collect now. */
  if (status == LUA_ERRMEM) lua_gc(vm->L, LUA_GCCOLLECT);
}

static void start(call *c) {
  lua_State *L = call_vm(c)->L;
  lua_pushcfunction(L, new_coroutine);
  lua_pushlightuserdata(L, c);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    log_line(LOG_ERROR, "cannot start a handler", "method", call_method(c)->path,
             "error", lua_tostring(L, -1), NULL);
    lua_pop(L, 1);
    call_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "the host could not start the handler", NULL);
    return;
  }
  resume(call_handler(c), 2);
}

static void wake(call *c) {
  resume(call_handler(c), 0);
}

const call_hooks handler_hooks = {start, wake};
