/*
** lcall.h
** The `call` object a handler receives: recv, send, messages, metadata,
** headers and trailers, cancellation and deadline.
*/
#ifndef lcall_h
#define lcall_h

#include <grpc/grpc.h>
#include <lua.h>

struct call;

typedef struct lcall_box {
  struct call *call;                /* NULL once the handler's coroutine has ended */
} lcall_box;

/* [-0, +0] Creates the call metatable. */
void lcall_open(lua_State *L);

/* [-0, +1] Pushes a new call object for c and points c->box at it. */
void lcall_push(lua_State *L, struct call *c);

/* [-0, +1, error] Decodes c->recv_buf (and frees it) as a request table; INTERNAL on bad bytes. */
void lcall_push_request(lua_State *L, struct call *c);

/* [-0, +0, error] Encodes the table at idx as a reply; INTERNAL naming the field path on a bad shape. */
grpc_byte_buffer *lcall_encode_reply(lua_State *L, int idx, struct call *c);

#endif
