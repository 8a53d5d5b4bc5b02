/*
** lhttp.h
** The `http` library of handler scripts: http.request(url [, opts]), an
** HTTP/1.1 or HTTPS request that suspends only the handler's coroutine.
*/
#ifndef lhttp_h
#define lhttp_h

#include <lua.h>

/* [-0, +1] Opens the library, as `require "http"`. */
int luaopen_http(lua_State *L);

#endif
