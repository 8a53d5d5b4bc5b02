/*
** guard.c
** Lua runs unhooked: the watch (guardwatch.h) sets the hook on a slice that
** runs past its due time. The coroutines a script makes, which the watch
** cannot see, carry a hook that runs every GUARD_COUNT instructions and reads
** the clock. Once the hook stops a handler it fires at every instruction, so a
** script's pcall cannot swallow the stop (as Redis does with its script kill).
*/
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "guard.h"
#include "guardwatch.h"
#include "lstatus.h"
#include "timer.h"

#define GUARD_COUNT 10000

/* Bytes of freed small blocks a state keeps; none under ASan, which must see every free. */
#if defined(__SANITIZE_ADDRESS__)
#define GUARD_KEPT_MAX 0
#else
#define GUARD_KEPT_MAX (64 * 1024)
#endif

/* The class of a small block of size bytes (size > 0): its blocks hold (class + 1) * 16. */
static size_t class_of(size_t size) {
  return (size - 1) / 16;
}

/* A kept block for size bytes, or NULL. */
static void *take(guard *g, size_t size) {
  size_t k = class_of(size);
  guard_block *b = g->kept[k];
  if (b == NULL) return NULL;
  g->kept[k] = b->next;
  g->kept_bytes -= (k + 1) * 16;
  return b;
}

/* Keeps the small block p for the next allocation of its class, if there is room. */
static bool keep(guard *g, void *p, size_t size) {
  size_t k = class_of(size);
  if (g->kept_bytes + (k + 1) * 16 > GUARD_KEPT_MAX) return false;
  guard_block *b = p;
  b->next = g->kept[k];
  g->kept[k] = b;
  g->kept_bytes += (k + 1) * 16;
  return true;
}

static void *small_alloc(guard *g, size_t size) {
  void *p = take(g, size);
  return p != NULL ? p : malloc((class_of(size) + 1) * 16);
}

/* Out of line, as is resize_counted: a call on guard_alloc's fast paths would make them save registers. */
__attribute__((noinline)) static void *release(void *p) {
  free(p);
  return NULL;
}

/* realloc for blocks that may be small: a small block's size is its class's. */
static void *resize(guard *g, void *ptr, size_t osize, size_t nsize) {
  bool small_old = ptr != NULL && osize <= GUARD_SMALL_MAX, small_new = nsize <= GUARD_SMALL_MAX;
  if (!small_old && !small_new) return realloc(ptr, nsize);
  if (small_old && small_new && class_of(osize) == class_of(nsize)) return ptr;
  void *p = small_new ? small_alloc(g, nsize) : malloc(nsize);
  if (p == NULL || ptr == NULL) return p;
  memcpy(p, ptr, osize < nsize ? osize : nsize);
  if (!small_old || !keep(g, ptr, osize)) free(ptr);
  return p;
}

/* What the fast paths of guard_alloc leave: used is already counted, and uncounted on failure. */
__attribute__((noinline)) static void *resize_counted(guard *g, void *ptr, size_t osize, size_t nsize) {
  void *p = resize(g, ptr, osize, nsize);
  if (p == NULL) g->used -= nsize - osize;
  return p;
}

/* Lua's allocator. Its common cases, a kept block taken or given back, call nothing. */
void *guard_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  guard *g = ud;
  if (ptr == NULL) osize = 0;       /* osize only tells the kind of object */
  if (nsize == 0) {                 /* a free; NULL: an empty part, as a table without an array part has */
    if (ptr == NULL) return NULL;
    g->used -= osize;
    if (osize <= GUARD_SMALL_MAX && keep(g, ptr, osize)) return NULL;
    return release(ptr);
  }
  if (g->limit && nsize > osize && g->used - osize + nsize > g->limit) return NULL;
  g->used += nsize - osize;
  void *p = ptr == NULL && nsize <= GUARD_SMALL_MAX ? take(g, nsize) : NULL;
  return p != NULL ? p : resize_counted(g, ptr, osize, nsize);
}

void guard_free(guard *g) {
  for (size_t k = 0; k < GUARD_CLASSES; k++)
    while (g->kept[k] != NULL) {
      guard_block *b = g->kept[k];
      g->kept[k] = b->next;
      free(b);
    }
  g->kept_bytes = 0;
}

guard *guard_of(lua_State *L) {
  void *ud;
  lua_getallocf(L, &ud);
  return ud;
}

static void hook(lua_State *L, lua_Debug *ar);

/* L checks the clock itself, every GUARD_COUNT instructions: where the watch cannot reach it. */
static void count(lua_State *L) {
  lua_sethook(L, hook, LUA_MASKCOUNT, GUARD_COUNT);
}

/* Stops the running handler at once, and again at every instruction until it has unwound. */
static void stop(lua_State *L, guard *g, grpc_status_code code) {
  lua_sethook(L, lua_gethook(L), LUA_MASKCOUNT, 1);
  *g->stop = code;
  if (code == GRPC_STATUS_DEADLINE_EXCEEDED)
    lstatus_raise(L, code, "deadline exceeded while the handler ran without yielding");
  lstatus_raise(L, code, "the handler ran longer than --max-cpu-ms without yielding");
}

/* Stops a slice past its call's deadline or --max-cpu-ms: a handler, or a script loading. */
static void check_slice(lua_State *L, guard *g) {
  int64_t now = timer_now();
  if (g->stop != NULL && now >= g->deadline) stop(L, g, GRPC_STATUS_DEADLINE_EXCEEDED);
  if (g->slice_limit == 0 || now - g->slice_started <= g->slice_limit) return;
  if (g->stop != NULL) stop(L, g, GRPC_STATUS_RESOURCE_EXHAUSTED);
  lua_sethook(L, hook, LUA_MASKCOUNT, 1);   /* the state is discarded: no pcall may outlast this */
  luaL_error(L, "the script ran longer than --max-cpu-ms while loading");
}

static void hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  guard *g = guard_of(L);
  if (g->stop != NULL && *g->stop != GRPC_STATUS_OK) stop(L, g, *g->stop);
  if (g->slice_started != 0) check_slice(L, g);
  /*
  ** Nothing to stop, after a signal that came as a slice ended: its thread
  ** runs on unhooked, a script's coroutine counts again.
  */
  if (lua_gethookcount(L) == 1) {
    if (L == guardwatch_running()) guard_reset(L);
    else count(L);
  }
}

void guard_begin(guard *g, lua_State *L, int64_t deadline, grpc_status_code *stop) {
  g->deadline = deadline;
  g->stop = stop;
  g->slice_started = timer_now();
  int64_t due = g->slice_limit != 0 ? g->slice_started + g->slice_limit : INT64_MAX;
  if (stop != NULL && deadline < due) due = deadline;
  /* Without the watch, the slice counts its own instructions. */
  if (guardwatch_begin(L, due, hook) != 0) count(L);
}

void guard_end(guard *g) {
  guardwatch_end();
  g->stop = NULL;
  g->slice_started = 0;
}

/*
** coroutine.create and coroutine.wrap: a new thread takes its creator's hook,
** so the creator wears the counting one while the original makes the thread.
*/
static int counted_from_birth(lua_State *L) {
  lua_Hook h = lua_gethook(L);
  int mask = lua_gethookmask(L), n = lua_gethookcount(L);
  count(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);   /* raising, it leaves L counting: guard_reset undoes that */
  lua_sethook(L, h, mask, n);          /* a signal's hook set meanwhile is lost: the watch sends another */
  return 1;
}

void guard_reset(lua_State *L) {
  lua_sethook(L, NULL, 0, 0);
}

void guard_watch_coroutines(lua_State *L) {
  static const char *const makers[] = {"create", "wrap"};
  if (lua_getglobal(L, "coroutine") == LUA_TTABLE)
    for (size_t i = 0; i < sizeof makers / sizeof makers[0]; i++) {
      lua_getfield(L, -1, makers[i]);
      lua_pushcclosure(L, counted_from_birth, 1);
      lua_setfield(L, -2, makers[i]);
    }
  lua_pop(L, 1);
}
