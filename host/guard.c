/*
** guard.c
** The hook runs every GUARD_COUNT instructions and reads the clock; once it
** stops a handler it fires at every instruction, so a script's pcall cannot
** swallow the stop (as Redis does with its script kill).
*/
#include <stdlib.h>

#include <lauxlib.h>

#include "call.h"
#include "guard.h"
#include "lgrpc.h"
#include "timer.h"

#define GUARD_COUNT 10000

void *guard_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  guard *g = ud;
  if (ptr == NULL) osize = 0;       /* then osize only tells the kind of object */
  if (nsize == 0) {
    free(ptr);
    g->used -= osize;
    return NULL;
  }
  if (g->limit && nsize > osize && g->used - osize + nsize > g->limit) return NULL;
  void *p = realloc(ptr, nsize);
  if (p != NULL) g->used = g->used - osize + nsize;
  return p;
}

guard *guard_of(lua_State *L) {
  void *ud;
  lua_getallocf(L, &ud);
  return ud;
}

void guard_begin(guard *g, call *c) {
  g->running = c;
  g->slice_started = timer_now();
}

void guard_end(guard *g) {
  g->running = NULL;
  g->slice_started = 0;
}

/* Stops the handler of c at once, and again at every instruction until it has unwound. */
static void stop(lua_State *L, call *c, grpc_status_code code) {
  lua_sethook(L, lua_gethook(L), LUA_MASKCOUNT, 1);
  c->killed = code;
  if (code == GRPC_STATUS_DEADLINE_EXCEEDED)
    lgrpc_raise(L, code, "deadline exceeded while the handler ran without yielding");
  lgrpc_raise(L, code, "the handler ran longer than --max-cpu-ms without yielding");
}

static void hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  guard *g = guard_of(L);
  call *c = g->running;
  if (c != NULL && c->killed != GRPC_STATUS_OK) stop(L, c, c->killed);
  if (g->slice_started == 0) return;
  if (c != NULL && call_seconds_left(c) == 0) stop(L, c, GRPC_STATUS_DEADLINE_EXCEEDED);
  if (g->slice_limit == 0 || timer_now() - g->slice_started <= g->slice_limit) return;
  if (c != NULL) stop(L, c, GRPC_STATUS_RESOURCE_EXHAUSTED);
  lua_sethook(L, hook, LUA_MASKCOUNT, 1);   /* the state is discarded: no pcall may outlast this */
  luaL_error(L, "the script ran longer than --max-cpu-ms while loading");
}

void guard_install(lua_State *L) {
  lua_sethook(L, hook, LUA_MASKCOUNT, GUARD_COUNT);
}
