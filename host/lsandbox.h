/*
** lsandbox.h
** What scripts may reach: no processes, no exit, no C modules, no debug
** library, no bytecode, and files loaded only from the scripts directory.
*/
#ifndef lsandbox_h
#define lsandbox_h

#include <lua.h>

/* [-0, +0] In protected mode, after luaL_openlibs: narrows the globals of L to dir. */
void lsandbox_open(lua_State *L, const char *dir);

#endif
