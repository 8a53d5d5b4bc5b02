/*
** handler.h
** Runs calls' handlers: a coroutine per call in the call's Lua state, resumed
** each time what it waits on is over, and the way it ends turned into the
** call's status (a status object, any other error, a memory error, a yield
** that waits on nothing). These are the hooks a worker installs in its call
** queue. Errors are the calls' statuses, and a log line for script errors.
*/
#ifndef handler_h
#define handler_h

#include "call.h"

extern const call_hooks handler_hooks;

#endif
