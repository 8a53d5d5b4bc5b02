/*
** lstatus.h
** Status objects: the error values that end a handler's call with a gRPC
** status. grpc.error raises them, and so does the host (cancellation, codec
** errors, a failed outbound call); the handler's runner tells them from any
** other error by their metatable. A status object is a table
** {code = integer, message = string [, details = {Any, ...}]}.
** Errors: these functions raise (lstatus_raise*) or return 0/1.
*/
#ifndef lstatus_h
#define lstatus_h

#include <grpc/status.h>
#include <lua.h>

/* [-0, +0] Creates the metatable of status objects; once per state. */
void lstatus_open(lua_State *L);

/* [-0, +0, error] Raises a status object with code and a formatted message. */
int lstatus_raise(lua_State *L, grpc_status_code code, const char *fmt, ...);

/* [-0, +1] A status object with code, the string at index msg and the details at index details (0: none). */
void lstatus_push(lua_State *L, grpc_status_code code, int msg, int details);

/* [-0, +0, error] Raises the status object lstatus_push makes. */
int lstatus_raise_at(lua_State *L, grpc_status_code code, int msg, int details);

/*
** [-0, +0] If the value at idx is a status object, stores its code and message
** (valid while the value is) and returns 1; else 0.
*/
int lstatus_of(lua_State *L, int idx, grpc_status_code *code, const char **message);

#endif
