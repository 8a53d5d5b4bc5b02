/*
** guard.h
** The limits a Lua state runs under: a memory cap (its allocator) and a CPU
** guard (an instruction-count hook) that stops a handler which runs too long
** without yielding, or past its call's deadline.
*/
#ifndef guard_h
#define guard_h

#include <stddef.h>
#include <stdint.h>

#include <grpc/status.h>
#include <lua.h>

typedef struct guard {
  size_t used;                      /* bytes the state holds */
  size_t limit;                     /* cap on used, 0 for none */
  int64_t slice_limit;              /* ns one run of Lua may take without yielding, 0 for none */
  int64_t slice_started;            /* when the running slice began (timer_now), 0 when idle */
  int64_t deadline;                 /* the running handler's call's deadline (timer_now), INT64_MAX for none */
  grpc_status_code *stop;           /* the running handler's stop slot, NULL while scripts load */
} guard;

/* A lua_Alloc with g as its ud: fails what would take the state over its cap. */
void *guard_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

/* The guard of any thread of a state made with guard_alloc. */
guard *guard_of(lua_State *L);

/* Installs the hook; threads created from L afterwards inherit it. */
void guard_install(lua_State *L);

/*
** A slice of Lua starts or ends. For a handler, stop is its slot: once the
** guard writes a status there, the handler is stopped at every instruction
** until it has unwound (no pcall can swallow it). NULL while scripts load.
*/
void guard_begin(guard *g, int64_t deadline, grpc_status_code *stop);
void guard_end(guard *g);

#endif
