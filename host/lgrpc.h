/*
** lgrpc.h
** The `grpc` table scripts see, and the status object that grpc.error raises.
*/
#ifndef lgrpc_h
#define lgrpc_h

#include <grpc/status.h>
#include <lua.h>

#include "schema.h"

/* [-0, +0] Sets the global `grpc` and package.loaded.grpc; s is the schema of the state. */
void lgrpc_open(lua_State *L, const schema *s);

/* [-0, +0, error] Ends the running handler with code and a formatted message. */
int lgrpc_raise(lua_State *L, grpc_status_code code, const char *fmt, ...);

/* [-0, +0, error] Ends the running handler of a cancelled call: CANCELLED or DEADLINE_EXCEEDED. */
struct call;
int lgrpc_raise_cancelled(lua_State *L, const struct call *c);

/*
** [-0, +0] If the value at idx is a status object, stores its code and message
** (valid while the value is) and returns 1; else 0.
*/
int lgrpc_status_of(lua_State *L, int idx, grpc_status_code *code, const char **message);

#endif
