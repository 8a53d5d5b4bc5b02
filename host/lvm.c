/*
** lvm.c
** Lua states and the handler's coroutine: set-up, the body every coroutine
** runs, and the resume loop that maps how it ended to a gRPC status.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "call.h"
#include "codec.h"
#include "lcall.h"
#include "lgrpc.h"
#include "log.h"
#include "lsandbox.h"
#include "lvm.h"
#include "scripts.h"
#include "status.h"
#include "worker.h"

/* The call a coroutine serves lives in its extra space; nested coroutines copy NULL from the main state. */
#define CURRENT_CALL(L) (*(call **)lua_getextraspace(L))

call *lvm_current_call(lua_State *L) {
  return CURRENT_CALL(L);
}

static int on_panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  log_line(LOG_ERROR, "Lua panic: an error outside any protected call", "error",
           msg ? msg : "(not a string)", NULL);
  abort();
}

/* Where scripts `require` from: the scripts directory, nothing else. */
static void set_package_paths(lua_State *L, const char *dir) {
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", dir, dir);
  lua_setfield(L, -2, "path");
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  lua_pop(L, 1);
}

/* [-3, +0] In protected mode: [vm cfg warn] opens the libraries and loads the scripts. */
static int init_state(lua_State *L) {
  lvm *vm = lua_touserdata(L, 1);
  const config *cfg = lua_touserdata(L, 2);
  int warn = lua_toboolean(L, 3);
  const char *dir = cfg->scripts_dir;
  luaL_openlibs(L);
  if (!cfg->unsafe_lua) lsandbox_open(L, dir);
  lgrpc_open(L, vm->schema);
  lcall_open(L);
  set_package_paths(L, dir);
  lua_pushcfunction(L, scripts_load);
  lua_pushlightuserdata(L, vm);
  lua_pushstring(L, dir);
  lua_pushboolean(L, warn);
  lua_call(L, 3, 1);
  for (size_t i = 0; i < schema_method_count(vm->schema); i++) {
    vm->has_handler[i] = lua_rawgeti(L, -1, (lua_Integer)i + 1) == LUA_TFUNCTION;
    lua_pop(L, 1);
  }
  vm->handlers_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

lvm *lvm_new(schema *s, const config *cfg, bool warn, char *err, size_t errlen) {
  lvm *vm = calloc(1, sizeof *vm);
  size_t n_methods = schema_method_count(s);
  if (vm != NULL) {
    vm->guard.limit = (size_t)cfg->max_memory_mb << 20;
    vm->guard.slice_limit = (int64_t)cfg->max_cpu_ms * 1000000;
    vm->has_handler = calloc(n_methods ? n_methods : 1, sizeof *vm->has_handler);
  }
  if (vm != NULL && vm->has_handler != NULL) vm->L = lua_newstate(guard_alloc, &vm->guard);
  if (vm == NULL || vm->has_handler == NULL || vm->L == NULL) {
    snprintf(err, errlen, "out of memory for a Lua state");
    lvm_free(vm);
    return NULL;
  }
  vm->schema = schema_retain(s);
  CURRENT_CALL(vm->L) = NULL;       /* lua_newstate leaves it as it was; threads copy it */
  lua_atpanic(vm->L, on_panic);
  lua_gc(vm->L, LUA_GCGEN, 0, 0);
  guard_install(vm->L);
  lua_pushcfunction(vm->L, init_state);
  lua_pushlightuserdata(vm->L, vm);
  lua_pushlightuserdata(vm->L, (void *)cfg);
  lua_pushboolean(vm->L, warn);
  guard_begin(&vm->guard, NULL);
  int status = lua_pcall(vm->L, 3, 0, 0);
  guard_end(&vm->guard);
  if (status != LUA_OK) {
    const char *msg = lua_tostring(vm->L, -1);
    snprintf(err, errlen, "%s", msg ? msg : "error loading scripts (not a string)");
    lvm_free(vm);
    return NULL;
  }
  return vm;
}

void lvm_free(lvm *vm) {
  if (vm == NULL) return;
  if (vm->L != NULL) lua_close(vm->L);
  if (vm->schema != NULL) schema_release(vm->schema);
  free(vm->has_handler);
  free(vm);
}

bool lvm_has_handler(const lvm *vm, const schema_method *m) {
  return vm->has_handler[m->index];
}

lvm *lvm_retain(lvm *vm) {
  vm->calls++;
  return vm;
}

void lvm_release(lvm *vm) {
  if (--vm->calls == 0 && vm->retired) lvm_free(vm);
}

void lvm_retire(lvm *vm) {
  vm->retired = true;
  if (vm->calls == 0) lvm_free(vm);
}

/* The handler has returned: its results are on the stack. End the call with OK. */
static int body_k(lua_State *co, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  call *c = CURRENT_CALL(co);
  grpc_byte_buffer *reply = NULL;
  if (method_one_reply(c->method)) reply = lcall_encode_reply(co, -1, c);
  call_finish(c, GRPC_STATUS_OK, NULL, reply);
  return 0;
}

/*
** What every coroutine runs: [handler call] -> handler(req, call) or handler(call).
** A copy of the call object stays at the bottom, so it lives as long as the
** coroutine whatever the handler does with its own.
*/
static int body(lua_State *co) {
  call *c = CURRENT_CALL(co);
  lua_pushvalue(co, 2);
  lua_insert(co, 1);                /* call handler call */
  int nargs = 1;
  if (method_one_request(c->method)) {
    lcall_push_request(co, c);
    lua_insert(co, 3);              /* call handler req call */
    nargs = 2;
  }
  lua_callk(co, nargs, 1, 0, body_k);
  return body_k(co, LUA_OK, 0);
}

/* [-1, +0] In protected mode: [call] makes its coroutine, anchored in the registry, ready to run body. */
static int new_coroutine(lua_State *L) {
  call *c = lua_touserdata(L, 1);
  lua_State *co = lua_newthread(L);
  lua_pushcfunction(co, body);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->vm->handlers_ref);
  lua_rawgeti(L, -1, (lua_Integer)c->method->index + 1);
  lua_xmove(L, co, 1);
  lua_pop(L, 1);
  lcall_push(co, c);
  CURRENT_CALL(co) = c;
  c->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  c->co = co;
  return 0;
}

/* Unlinks the call object, runs what the coroutine left to close, and lets it go. */
static void end_coroutine(call *c) {
  lua_State *L = c->vm->L;
  c->box->call = NULL;
  c->box = NULL;
  CURRENT_CALL(c->co) = NULL;
  lua_resetthread(c->co);           /* its pending <close> variables, as coroutine.close would */
  luaL_unref(L, LUA_REGISTRYINDEX, c->co_ref);
  c->co_ref = LUA_NOREF;
  c->co = NULL;
  c->wait = WAIT_NONE;
}

/*
** [-0, +1] The google.rpc.Status of a status object at the top of co that has
** details, encoded; nil when it has none. A bad detail is logged and left out.
*/
static void push_status_details(lua_State *L, lua_State *co, call *c, grpc_status_code code,
                                const char *msg) {
  const schema_message *status = schema_find_message(c->vm->schema, "google.rpc.Status");
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
  codec_buf *b = &c->worker->buf;
  if (codec_encode(L, -1, status, b, "grpc.error", err, sizeof err)) {
    log_line(LOG_ERROR, "grpc.error details left out", "method", c->method->path, "error", err,
             "hint", "each detail is a google.protobuf.Any, as grpc.any_pack makes", NULL);
    lua_pushnil(L);
  } else {
    lua_pushlstring(L, b->data, b->len);
  }
  lua_remove(L, -2);
}

/*
** [-0, +3] In protected mode: [co] reads the error that killed co into a
** status code (integer), a message, and the encoded google.rpc.Status of its
** details or nil; logs script errors with a traceback.
*/
static int describe_error(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  call *c = CURRENT_CALL(co);
  grpc_status_code code;
  const char *msg;
  if (lgrpc_status_of(co, -1, &code, &msg)) {
    if (code == GRPC_STATUS_INTERNAL)
      log_line(LOG_ERROR, "handler failed", "method", c->method->path,
               "status", status_name(code), "error", msg, NULL);
    lua_pushinteger(L, code);
    lua_pushstring(L, msg);
    push_status_details(L, co, c, code, msg);
    return 3;
  }
  msg = lua_tostring(co, -1);
  if (msg == NULL) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(co, -1));
  luaL_traceback(L, co, NULL, 0);
  log_line(LOG_ERROR, "handler failed", "method", c->method->path, "status", "UNKNOWN",
           "error", msg, "traceback", lua_tostring(L, -1), NULL);
  lua_pop(L, 1);
  lua_pushinteger(L, GRPC_STATUS_UNKNOWN);
  lua_pushstring(L, msg);
  lua_pushnil(L);
  return 3;
}

static void finish_with_error(call *c, int status) {
  lua_State *L = c->vm->L;
  if (status == LUA_ERRMEM) {
    log_line(LOG_ERROR, "handler failed", "method", c->method->path, "status", "RESOURCE_EXHAUSTED",
             "error", "the Lua state is out of memory (--max-memory-mb)", NULL);
    call_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "the handler ran out of memory", NULL);
    return;
  }
  int top = lua_gettop(L);
  lua_pushcfunction(L, describe_error);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->co_ref);
  if (lua_pcall(L, 1, 3, 0) == LUA_OK) {
    size_t len;
    const char *details = lua_tolstring(L, -1, &len);
    if (details != NULL) call_status_details(c, details, len);
    call_finish(c, (grpc_status_code)lua_tointeger(L, -3), lua_tostring(L, -2), NULL);
  } else
    call_finish(c, GRPC_STATUS_UNKNOWN, "the handler failed and its error could not be read", NULL);
  lua_settop(L, top);
}

static void resume(call *c, int nargs) {
  int nresults;
  guard_begin(&c->vm->guard, c);
  int status = lua_resume(c->co, c->vm->L, nargs, &nresults);
  guard_end(&c->vm->guard);
  if (status == LUA_YIELD && c->wait != WAIT_NONE) {
    call_watch_close(c);
    return;
  }
  if (status == LUA_YIELD) {
    static const char yielded[] = "the handler yielded outside call:recv, call:send and grpc.sleep";
    log_line(LOG_ERROR, "handler failed", "method", c->method->path, "status", "UNKNOWN",
             "error", yielded, NULL);
    call_finish(c, GRPC_STATUS_UNKNOWN, yielded, NULL);
  } else if (status != LUA_OK) {
    finish_with_error(c, status);
  }
  end_coroutine(c);
  /* Some allocations (luaL_Buffer's) fail without an emergency collection: collect now. */
  if (status == LUA_ERRMEM) lua_gc(c->vm->L, LUA_GCCOLLECT);
}

void lvm_start(call *c) {
  lua_State *L = c->vm->L;
  lua_pushcfunction(L, new_coroutine);
  lua_pushlightuserdata(L, c);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    log_line(LOG_ERROR, "cannot start a handler", "method", c->method->path,
             "error", lua_tostring(L, -1), NULL);
    lua_pop(L, 1);
    call_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "the host could not start the handler", NULL);
    return;
  }
  resume(c, 2);
}

void lvm_wake(call *c) {
  if (c->wait == WAIT_SLEEP || c->wait == WAIT_TURN) timer_disarm(&c->worker->timers, &c->sleep);
  c->wait = WAIT_NONE;
  resume(c, 0);
}
