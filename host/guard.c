/*
** guard.c
** The hook runs every GUARD_COUNT instructions and reads the clock; once it
** stops a handler it fires at every instruction, so a script's pcall cannot
** swallow the stop (as Redis does with its script kill).
*/
#include <stdlib.h>

#include <lauxlib.h>

#include "guard.h"
#include "lstatus.h"
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

void guard_begin(guard *g, int64_t deadline, grpc_status_code *stop) {
  g->deadline = deadline;
  g->stop = stop;
  g->slice_started = timer_now();
}

void guard_end(guard *g) {
  g->stop = NULL;
  g->slice_started = 0;
}

/* Stops the running handler at once, and again at every instruction until it has unwound. */
static void stop(lua_State *L, guard *g, grpc_status_code code) {
  lua_sethook(L, lua_gethook(L), LUA_MASKCOUNT, 1);
  *g->stop = code;
  if (code == GRPC_STATUS_DEADLINE_EXCEEDED)
    lstatus_raise(L, code, "deadline exceeded while the handler ran without yielding");
  lstatus_raise(L, code, "the handler ran longer than --max-cpu-ms without yielding");
}

static void hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  guard *g = guard_of(L);
  if (g->stop != NULL && *g->stop != GRPC_STATUS_OK) stop(L, g, *g->stop);
  if (g->slice_started == 0) return;
  int64_t now = timer_now();
  if (g->stop != NULL && now >= g->deadline) stop(L, g, GRPC_STATUS_DEADLINE_EXCEEDED);
  if (g->slice_limit == 0 || now - g->slice_started <= g->slice_limit) return;
  if (g->stop != NULL) stop(L, g, GRPC_STATUS_RESOURCE_EXHAUSTED);
  lua_sethook(L, hook, LUA_MASKCOUNT, 1);   /* the state is discarded: no pcall may outlast this */
  luaL_error(L, "the script ran longer than --max-cpu-ms while loading");
}

void guard_install(lua_State *L) {
  lua_sethook(L, hook, LUA_MASKCOUNT, GUARD_COUNT);
}
