/*
** guard.h
** The limits a Lua state runs under: a memory cap (its allocator) and a CPU
** guard (a hook the watch sets, guardwatch.h) that stops a handler which runs
** too long without yielding, or past its call's deadline.
*/
#ifndef guard_h
#define guard_h

#include <stddef.h>
#include <stdint.h>

#include <grpc/status.h>
#include <lua.h>

/*
** Blocks of up to GUARD_SMALL_MAX bytes the state freed, kept for its next
** allocations of the same class (16 bytes apart): Lua's collector frees a
** handful of small objects for each message a handler makes, in bursts
** that outrun the C library's own per-thread cache.
*/
#define GUARD_SMALL_MAX 256
#define GUARD_CLASSES (GUARD_SMALL_MAX / 16)

typedef struct guard_block {
  struct guard_block *next;
} guard_block;

typedef struct guard {
  guard_block *kept[GUARD_CLASSES]; /* by class: blocks of (class + 1) * 16 bytes */
  size_t kept_bytes;                /* their sum, at most GUARD_KEPT_MAX */
  size_t used;                      /* bytes the state holds */
  size_t limit;                     /* cap on used, 0 for none */
  int64_t slice_limit;              /* ns one run of Lua may take without yielding, 0 for none */
  int64_t slice_started;            /* when the running slice began (timer_now), 0 when idle */
  int64_t deadline;                 /* the running handler's call's deadline (timer_now), INT64_MAX for none */
  grpc_status_code *stop;           /* the running handler's stop slot, NULL while scripts load */
} guard;

/* A lua_Alloc with g as its ud: fails what would take the state over its cap. */
void *guard_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

/* Frees the blocks g keeps, once its state is closed. */
void guard_free(guard *g);

/* The guard of any thread of a state made with guard_alloc. */
guard *guard_of(lua_State *L);

/* Replaces coroutine.create and coroutine.wrap by makers of threads that the guard watches. */
void guard_watch_coroutines(lua_State *L);

/* A handler's coroutine starts unhooked, whatever it or the state it came from wore before. */
void guard_reset(lua_State *L);

/*
** A slice of Lua, run in L, starts or ends. For a handler, stop is its slot:
** once the guard writes a status there, the handler is stopped at every
** instruction until it has unwound (no pcall can swallow it). NULL while
** scripts load.
*/
void guard_begin(guard *g, lua_State *L, int64_t deadline, grpc_status_code *stop);
void guard_end(guard *g);

#endif
