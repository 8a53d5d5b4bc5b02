/*
** cli_call.h
** host --call pkg.Service/Method [JSON] [--target ADDR]: one call to a running host.
*/
#ifndef cli_call_h
#define cli_call_h

#include "config.h"

/* Makes the call cfg names; the process's exit code (0, 1, or 64 + a status other than OK). */
int cli_call_main(const config *cfg);

#endif
