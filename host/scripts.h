/*
** scripts.h
** Finds the handler scripts of a directory, runs them, and maps each to the
** service it serves.
*/
#ifndef scripts_h
#define scripts_h

#include <lua.h>

/*
** [-0, +1, error] lua_CFunction, to be called in protected mode with the
** lvm (light userdata) and the directory (string). Pushes a table that maps
** method index + 1 to its handler function. A third argument, true, logs the
** scripts that serve no service. The built-in services come last, for what
** no user script serves. Raises "FILE: reason" (or the
** script's own "FILE:LINE: error") at the first script that cannot serve.
*/
int scripts_load(lua_State *L);

#endif
