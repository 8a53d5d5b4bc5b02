/*
** lvm.c
** A Lua state and what the host keeps beside it.
*/
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "lvm.h"
#include "tag.h"

static int on_panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  log_line(LOG_ERROR, "Lua panic: an error outside any protected call", "error",
           msg ? msg : "(not a string)", NULL);
  abort();
}

lvm *lvm_new(schema *s, const config *cfg, char *err, size_t errlen) {
  lvm *vm = calloc(1, sizeof *vm);
  size_t n_methods = schema_method_count(s);
  if (vm != NULL) {
    vm->guard.limit = (size_t)cfg->max_memory_mb << 20;
    vm->guard.slice_limit = (int64_t)cfg->max_cpu_ms * 1000000;
    vm->has_handler = calloc(n_methods ? n_methods : 1, sizeof *vm->has_handler);
    vm->handlers_ref = LUA_NOREF;
    vm->call_mt_ref = LUA_NOREF;
  }
  if (vm != NULL && vm->has_handler != NULL) vm->L = lua_newstate(guard_alloc, &vm->guard);
  if (vm == NULL || vm->has_handler == NULL || vm->L == NULL) {
    snprintf(err, errlen, "out of memory for a Lua state");
    lvm_free(vm);
    return NULL;
  }
  vm->schema = schema_retain(s);
  vm->cfg = cfg;
  memset(lua_getextraspace(vm->L), 0, LUA_EXTRASPACE);   /* lua_newstate leaves it as it was; threads copy it */
  lua_atpanic(vm->L, on_panic);
  lua_gc(vm->L, LUA_GCGEN, 0, 0);
  return vm;
}

void lvm_free(lvm *vm) {
  if (vm == NULL) return;
  if (vm->L != NULL) lua_close(vm->L);
  guard_free(&vm->guard);
  if (vm->schema != NULL) schema_release(vm->schema);
  buf_free(&vm->buf);
  free(vm->has_handler);
  free(vm);
}

lvm *lvm_of(lua_State *L) {
  return CONTAINER_OF(guard_of(L), lvm, guard);
}

int lvm_run(lvm *vm, lua_CFunction f, void *ud, char *err, size_t errlen) {
  lua_State *L = vm->L;
  lua_pushcfunction(L, f);
  lua_pushlightuserdata(L, ud);
  guard_begin(&vm->guard, L, INT64_MAX, NULL);
  int status = lua_pcall(L, 1, 0, 0);
  guard_end(&vm->guard);
  if (status == LUA_OK) return 0;
  const char *msg = lua_tostring(L, -1);
  snprintf(err, errlen, "%s", msg ? msg : "error loading scripts (not a string)");
  lua_pop(L, 1);
  return -1;
}

void lvm_open_libs(lua_State *L, const luaL_Reg *libs) {
  for (const luaL_Reg *lib = libs; lib->func != NULL; lib++) {
    luaL_requiref(L, lib->name, lib->func, 1);
    lua_pop(L, 1);
  }
}

void lvm_set_handlers(lvm *vm, lua_State *L) {
  for (size_t i = 0; i < schema_method_count(vm->schema); i++) {
    vm->has_handler[i] = lua_rawgeti(L, -1, (lua_Integer)i + 1) == LUA_TFUNCTION;
    lua_pop(L, 1);
  }
  vm->handlers_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

const char *lvm_handler_source(const lvm *vm, const schema_method *m) {
  if (!lvm_has_handler(vm, m)) return NULL;
  lua_Debug ar;
  lvm_push_handler(vm, vm->L, m);
  lua_getinfo(vm->L, ">S", &ar);
  return ar.source;
}

bool lvm_has_handler(const lvm *vm, const schema_method *m) {
  return vm->has_handler[m->index];
}

void lvm_push_handler(const lvm *vm, lua_State *L, const schema_method *m) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->handlers_ref);
  lua_rawgeti(L, -1, (lua_Integer)m->index + 1);
  lua_remove(L, -2);
}

void lvm_adopt(lvm *vm) {
  vm->owner = pthread_self();
  vm->adopted = true;
}

static inline bool owned_here(const lvm *vm) {
  return vm->adopted && pthread_equal(vm->owner, pthread_self());
}

lvm *lvm_retain(lvm *vm) {
  assert(owned_here(vm));
  vm->calls++;
  return vm;
}

void lvm_release(lvm *vm) {
  assert(owned_here(vm) && vm->calls > 0);
  if (--vm->calls == 0 && vm->retired) lvm_free(vm);
}

void lvm_retire(lvm *vm) {
  assert(owned_here(vm));
  vm->retired = true;
  if (vm->calls == 0) lvm_free(vm);
}
