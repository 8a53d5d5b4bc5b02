/*
** llog.h
** The `log` library of handler scripts (info, warn, error: records in the
** host's log format) and the `print` that writes through it.
*/
#ifndef llog_h
#define llog_h

#include <lua.h>

#include "log.h"

/*
** Adds the fields of the call whose handler runs in L (its method and request
** id), if one does. The layer that knows calls hands it over; without it,
** records carry no call.
*/
typedef void (*llog_context)(lua_State *L, log_record *r);
void llog_set_context(llog_context f);

/* Opens `log` and replaces the global print with one that writes log.info records. */
int luaopen_log(lua_State *L);

#endif
