/*
** lcall.h
** The `call` object a handler receives: recv, send, messages, metadata,
** headers and trailers, cancellation and deadline. It also anchors the
** handler's run (handler.c): its coroutine and the CPU guard's stop slot.
** Errors: the object's methods raise (status objects for what ends the call).
*/
#ifndef lcall_h
#define lcall_h

#include <grpc/grpc.h>
#include <lua.h>

#include "call.h"
#include "log.h"

typedef struct lcall {
  call *call;                       /* NULL once the handler has ended */
  lua_State *co;                    /* the handler's coroutine */
  int co_ref;                       /* registry ref of co while the handler runs */
  grpc_status_code stop;            /* the CPU guard's stop slot: sticky once set */
} lcall;

/* [-0, +1, error] A new call object for c, running its handler in co (whose extra space points at it). */
lcall *lcall_new(lua_State *L, lua_State *co, call *c);

/* The call object of the handler running in coroutine L, or NULL (main state, nested coroutine). */
lcall *lcall_current(lua_State *L);

/* Adds the method and request id of the call whose handler runs in L, if one does (llog's context). */
void lcall_log_fields(lua_State *L, log_record *r);

/*
** [-0, +0, error] The call whose handler runs in L itself. Raises, naming
** what, when L is a nested coroutine, the script's top level, or cannot yield.
*/
call *lcall_check_handler(lua_State *L, const char *what);

/* [-0, +0, error] Ends the running handler of a cancelled call: CANCELLED or DEADLINE_EXCEEDED. */
int lcall_raise_cancelled(lua_State *L, const call *c);

/* [-0, +1, error] The next request message of c as a table; INTERNAL on bad bytes. c must have one. */
void lcall_push_request(lua_State *L, call *c);

/* [-0, +0, error] Encodes the table at idx as a reply; INTERNAL naming the field path on a bad shape. */
grpc_byte_buffer *lcall_encode_reply(lua_State *L, int idx, call *c);

#endif
