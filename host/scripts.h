/*
** scripts.h
** A Lua state with the handler scripts of a directory loaded: the standard
** libraries (sandboxed unless --unsafe-lua), the host's libraries, every
** script, each mapped to the service it serves, and the built-in services for
** what no script serves.
** Errors: NULL with the reason in the caller's buffer.
*/
#ifndef scripts_h
#define scripts_h

#include <stdbool.h>
#include <stddef.h>

#include <lauxlib.h>

#include "config.h"
#include "lvm.h"
#include "schema.h"

/*
** A new state on s with libs opened and cfg's scripts loaded. NULL with every
** broken script named in err, one a line ("scripts/greeter.lua:3: '=' expected
** near 'x'"). warn: log what serves nothing (once per version, not per state).
*/
lvm *scripts_new_state(schema *s, const config *cfg, const luaL_Reg *libs, bool warn,
                       char *err, size_t errlen);

#endif
