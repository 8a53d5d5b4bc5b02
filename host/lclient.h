/*
** lclient.h
** grpc.client(target, opts) for handlers: client objects with :call() for
** unary methods and :stream() for the three streaming kinds, each suspending
** only the handler's coroutine. A status other than OK raises a status object
** (code, message, details) with the target and method beside them, so a
** handler that does not catch it passes the status on unchanged.
*/
#ifndef lclient_h
#define lclient_h

#include <lua.h>

/* [-0, +0] Adds `client` to the grpc table on top of the stack. */
void lclient_open(lua_State *L);

#endif
