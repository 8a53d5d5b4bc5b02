/*
** scaffold.h
** host --scaffold pkg.Service: a handler script for a service of the schema.
*/
#ifndef scaffold_h
#define scaffold_h

#include <stddef.h>
#include <stdio.h>

#include "schema.h"

/*
** Writes to out a script that serves the service named full_name: every method
** in the shape of its kind, ending its call with UNIMPLEMENTED until written.
** -1 with the reason in err when the schema has no such service.
*/
int scaffold_write(FILE *out, const schema *s, const char *full_name, char *err, size_t errlen);

#endif
