/*
** lshared.h
** The `shared` library of handler scripts: get, set, add, incr, delete on the
** process's store (shared.h), which shared_open must have set up.
*/
#ifndef lshared_h
#define lshared_h

#include <lua.h>

int luaopen_shared(lua_State *L);

#endif
