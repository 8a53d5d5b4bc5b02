/*
** lcodec.h
** The codec for scripts: grpc.encode and grpc.decode, and the helpers built
** on them for well-known types.
*/
#ifndef lcodec_h
#define lcodec_h

#include <lua.h>

/* [-0, +0] Adds the codec functions to the `grpc` table on top of the stack. */
void lcodec_open(lua_State *L);

#endif
