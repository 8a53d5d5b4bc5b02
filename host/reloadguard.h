/*
** reloadguard.h
** A reload may not drop a service that a script still handles: what each
** version's scripts serve, and the check of a new version against the running
** one. A service vanishes so when its .proto left the protosets (moved, or not
** built) while its script stayed; the running version then keeps serving.
*/
#ifndef reloadguard_h
#define reloadguard_h

#include <stddef.h>

#include "config.h"
#include "lvm.h"
#include "schema.h"

typedef struct served_by served_by;

/*
** The services vm's scripts serve (built-ins aside), by script. From the
** thread that owns vm. NULL when out of memory: nothing is checked against it.
*/
served_by *reloadguard_record(const lvm *vm);
void reloadguard_free(served_by *r);

/*
** 0 when next (on next_schema) may replace running; else -1, with each service
** that would vanish while its script is still there named in err.
*/
int reloadguard_check(const served_by *running, const served_by *next, const schema *next_schema,
                      const config *cfg, char *err, size_t errlen);

#endif
