/*
** lgrpc.h
** The `grpc` library of handler scripts: error, status, sleep, now,
** set_health, and the codec's functions (lcodec.h).
*/
#ifndef lgrpc_h
#define lgrpc_h

#include <lua.h>

/* [-0, +1] Opens the library, as `require "grpc"`. */
int luaopen_grpc(lua_State *L);

#endif
