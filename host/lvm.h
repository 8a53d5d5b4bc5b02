/*
** lvm.h
** A Lua state that runs handlers: its set-up, its handlers, and the resume loop
** that turns each way a handler's coroutine ends into a gRPC status.
*/
#ifndef lvm_h
#define lvm_h

#include <stdbool.h>
#include <stddef.h>

#include <lua.h>

#include "config.h"
#include "guard.h"
#include "schema.h"

struct call;

typedef struct lvm {
  guard guard;                      /* its allocator's and hook's state */
  lua_State *L;
  schema *schema;                   /* shared with the other states of its version */
  int handlers_ref;                 /* registry: table method index + 1 -> handler */
  bool *has_handler;                /* by method index, for the lookup of every call */
  size_t calls;                     /* calls whose handlers run here */
  bool retired;                     /* a reload replaced it: freed with its last call */
} lvm;

/*
** A new state, sandboxed and guarded as cfg says, with the grpc library and
** every script of cfg's directory loaded; it holds a reference to s. NULL with
** the reason in err: "scripts/greeter.lua:3: '=' expected near 'x'".
** warn: log what serves nothing (once per version, not per state).
*/
lvm *lvm_new(schema *s, const config *cfg, bool warn, char *err, size_t errlen);
void lvm_free(lvm *vm);

/* No new call will run in vm: free it now, or when its last call ends. */
void lvm_retire(lvm *vm);

bool lvm_has_handler(const lvm *vm, const schema_method *m);

/* A call starts or stops using vm. */
lvm *lvm_retain(lvm *vm);
void lvm_release(lvm *vm);

/* Runs c's handler in a new coroutine until it first waits or ends. */
void lvm_start(struct call *c);

/* Resumes c's handler after what it waited on happened (or the call was cancelled). */
void lvm_wake(struct call *c);

/* The call whose handler runs in coroutine L, or NULL (main state, nested coroutine). */
struct call *lvm_current_call(lua_State *L);

#endif
