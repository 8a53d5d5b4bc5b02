/*
** cli_call.h
** host --call pkg.Service/Method [JSON] [--target ADDR]: one call to a running host.
*/
#ifndef cli_call_h
#define cli_call_h

#include <lauxlib.h>

#include "config.h"

/*
** Makes the call cfg names, its JSON mapped by the handlers' libraries (libs);
** the process's exit code (0, 1, or 64 + a status other than OK).
*/
int cli_call_main(const config *cfg, const luaL_Reg *libs);

#endif
