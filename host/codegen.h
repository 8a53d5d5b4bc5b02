/*
** codegen.h
** The commands that write Lua from the protosets: --scaffold and --types.
*/
#ifndef codegen_h
#define codegen_h

#include "config.h"

/* Loads cfg's protosets and prints what cfg asks for to stdout; the process's exit code. */
int codegen_main(const config *cfg);

#endif
