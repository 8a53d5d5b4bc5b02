/*
** luatypes.h
** host --types: lua-language-server annotations of every message and enum.
*/
#ifndef luatypes_h
#define luatypes_h

#include <stdio.h>

#include "schema.h"

/* Writes to out a ---@meta file: a ---@class a message, a ---@alias an enum. */
void luatypes_write(FILE *out, const schema *s);

#endif
