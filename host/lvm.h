/*
** lvm.h
** A Lua state that runs handlers: its limits (guard), its schema, its scratch
** buffer, and its handler table, by method index. Built on the main thread,
** then handed to one worker thread, which alone uses it from then on.
** Errors: constructors return NULL with the reason in a caller's buffer.
*/
#ifndef lvm_h
#define lvm_h

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <lua.h>
#include <lauxlib.h>

#include "codec.h"
#include "config.h"
#include "guard.h"
#include "schema.h"

/* Coroutines of handlers that returned, reset and kept for the next calls. */
#define LVM_IDLE_THREADS 32

typedef struct lvm {
  guard guard;                      /* first: the allocator's ud, so lvm_of finds the rest */
  lua_State *L;
  schema *schema;                   /* shared with the other states of its version */
  const config *cfg;                /* lives as long as the process */
  buf buf;                    /* scratch for encoding, reset per message */
  int handlers_ref;                 /* registry: table method index + 1 -> handler */
  int call_mt_ref;                  /* registry: the call objects' metatable (lcall.c), once made */
  bool *has_handler;                /* by method index, for the lookup of every call */
  size_t calls;                     /* calls whose handlers run here */
  int idle[LVM_IDLE_THREADS];       /* registry refs of handler coroutines kept for reuse (handler.c) */
  size_t n_idle;
  bool retired;                     /* a reload replaced it: freed with its last call */
  bool adopted;                     /* owner is set */
  pthread_t owner;                  /* the thread it was handed to */
} lvm;

/* A new state under cfg's limits, holding a reference to s; no library is open yet. */
lvm *lvm_new(schema *s, const config *cfg, char *err, size_t errlen);
void lvm_free(lvm *vm);

/* The lvm of any thread of its state. */
lvm *lvm_of(lua_State *L);

/*
** Runs f(L) with ud as its one argument (a light userdata) in protected mode,
** under the guard's limits for loading. 0, or -1 with the error in err.
*/
int lvm_run(lvm *vm, lua_CFunction f, void *ud, char *err, size_t errlen);

/* [-0, +0, error] Opens each library of the list as `require` would, setting its global. */
void lvm_open_libs(lua_State *L, const luaL_Reg *libs);

/* [-1, +0, error] Takes the handler table on top of L's stack: method index + 1 -> function. */
void lvm_set_handlers(lvm *vm, lua_State *L);

bool lvm_has_handler(const lvm *vm, const schema_method *m);

/*
** The chunk name of m's handler ("@scripts/greeter.lua" for a file,
** "=builtin/health.lua" for a built-in), or NULL when it has none. The string
** lives as long as the handler. Only the thread that owns vm may ask.
*/
const char *lvm_handler_source(const lvm *vm, const schema_method *m);

/* [-0, +1] Pushes m's handler onto L (a thread of vm's state), or nil. */
void lvm_push_handler(const lvm *vm, lua_State *L, const schema_method *m);

/* The calling thread owns vm from now on: only it may retain, release or retire it. */
void lvm_adopt(lvm *vm);

/* A call starts or stops using vm. */
lvm *lvm_retain(lvm *vm);
void lvm_release(lvm *vm);

/* No new call will run in vm: free it now, or when its last call ends. */
void lvm_retire(lvm *vm);

#endif
