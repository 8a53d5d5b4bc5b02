/*
** lcall.c
** The `call` object. Methods that wait (recv, send) keep what they need in
** the C call and yield with a continuation: their own C frame is gone when
** the handler resumes.
*/
#include <stdio.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>
#include <lauxlib.h>

#include "call.h"
#include "codec.h"
#include "lcall.h"
#include "lgrpc.h"
#include "worker.h"

#define CALL_MT "grpc.call"
#define ERR_MAX 512

static call *check_call(lua_State *L) {
  lcall_box *box = luaL_checkudata(L, 1, CALL_MT);
  if (box->call == NULL)
    luaL_error(L, "the call has ended: a call object is only valid while its handler runs");
  return box->call;
}

/* Methods that wait must run in the handler's own coroutine: a yield elsewhere would land in the user's resume. */
static call *check_waitable(lua_State *L, const char *what) {
  call *c = check_call(L);
  if (c->co != L || !lua_isyieldable(L))
    luaL_error(L, "call:%s must be called from the handler itself, not from a nested coroutine", what);
  return c;
}

/* The message in one slice: its own when it came in one and uncompressed (most do), else a copy. */
static grpc_slice whole_message(grpc_byte_buffer_reader *reader) {
  const grpc_slice_buffer *in = &reader->buffer_in->data.raw.slice_buffer;
  if (reader->buffer_out == reader->buffer_in && in->count == 1) return grpc_slice_ref(in->slices[0]);
  return grpc_byte_buffer_reader_readall(reader);
}

void lcall_push_request(lua_State *L, call *c) {
  grpc_byte_buffer_reader reader;
  int readable = grpc_byte_buffer_reader_init(&reader, c->recv_buf);
  if (readable) {
    grpc_slice_unref(c->recv_bytes);
    c->recv_bytes = whole_message(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
  }
  grpc_byte_buffer_destroy(c->recv_buf);
  c->recv_buf = NULL;
  if (!readable) lgrpc_raise(L, GRPC_STATUS_INTERNAL, "request: cannot read the message (bad compression?)");
  char err[ERR_MAX];
  int r = codec_decode(L, c->method->input, (const char *)GRPC_SLICE_START_PTR(c->recv_bytes),
                       GRPC_SLICE_LENGTH(c->recv_bytes), "request", err, sizeof err);
  grpc_slice_unref(c->recv_bytes);
  c->recv_bytes = grpc_empty_slice();
  if (r != 0) lgrpc_raise(L, GRPC_STATUS_INTERNAL, "%s", err);
}

grpc_byte_buffer *lcall_encode_reply(lua_State *L, int idx, call *c) {
  codec_buf *b = &c->worker->buf;
  char err[ERR_MAX];
  if (lua_isnil(L, idx)) {
    b->len = 0;                     /* nil is the empty message */
  } else if (!lua_istable(L, idx)) {
    lgrpc_raise(L, GRPC_STATUS_INTERNAL, "reply: expected a table (%s), got %s",
                c->method->output->full_name, luaL_typename(L, idx));
  } else if (codec_encode(L, idx, c->method->output, b, "reply", err, sizeof err)) {
    lgrpc_raise(L, GRPC_STATUS_INTERNAL, "%s", err);
  }
  if (b->len > c->worker->max_message_bytes)
    lgrpc_raise(L, GRPC_STATUS_RESOURCE_EXHAUSTED, "reply: %d bytes, more than --max-message-bytes %d",
                (int)b->len, (int)c->worker->max_message_bytes);
  grpc_slice s = grpc_slice_from_copied_buffer(b->data, b->len);
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  return bb;
}

static int recv_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  call *c = (call *)ctx;
  if (c->cancelled) return lgrpc_raise_cancelled(L, c);
  if (c->recv_buf == NULL) {
    c->half_closed = true;
    lua_pushnil(L);
  } else {
    lcall_push_request(L, c);
  }
  return 1;
}

/* call:recv() -> next request, or nil once the client has half-closed */
static int lcall_recv(lua_State *L) {
  call *c = check_waitable(L, "recv");
  if (c->cancelled) return lgrpc_raise_cancelled(L, c);
  if (c->recv_buf != NULL) {         /* read ahead with the call (a registered method) */
    lcall_push_request(L, c);
    return 1;
  }
  if (c->half_closed || method_one_request(c->method)) {
    lua_pushnil(L);
    return 1;
  }
  if (call_recv(c)) return lgrpc_raise(L, GRPC_STATUS_INTERNAL, "the host could not receive");
  c->wait = WAIT_RECV;
  return lua_yieldk(L, 0, (lua_KContext)c, recv_k);
}

/* call:messages() -> iterator over the requests, for a generic for */
static int lcall_messages(lua_State *L) {
  check_call(L);
  lua_pushcfunction(L, lcall_recv);
  lua_pushvalue(L, 1);
  return 2;
}

/* The message is encoded only once it can go, so that a waiting handler holds no bytes. */
static int send_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  call *c = (call *)ctx;
  if (c->cancelled) return lgrpc_raise_cancelled(L, c);
  if (!call_can_send(c)) {
    c->wait = WAIT_SEND;
    return lua_yieldk(L, 0, ctx, send_k);
  }
  if (call_send(c, lcall_encode_reply(L, 2, c)))
    return lgrpc_raise(L, GRPC_STATUS_INTERNAL, "gRPC refused to send the message");
  return 0;
}

/* call:send(msg): returns at once unless two messages are already on their way; then waits */
static int lcall_send(lua_State *L) {
  call *c = check_waitable(L, "send");
  if (method_one_reply(c->method))
    return luaL_error(L, "call:send: %s does not stream replies: return the reply from the handler",
                      c->method->path);
  luaL_checktype(L, 2, LUA_TTABLE);
  return send_k(L, LUA_OK, (lua_KContext)c);
}

static int add_metadata(lua_State *L, call_metadata *list, const char *what) {
  size_t klen, vlen;
  const char *key = luaL_checklstring(L, 2, &klen);
  const char *value = luaL_checklstring(L, 3, &vlen);
  char err[ERR_MAX];
  if (call_metadata_add(list, key, klen, value, vlen, err, sizeof err))
    return luaL_error(L, "call:%s: %s", what, err);
  return 0;
}

/* call:set_header(key, value), before the first message */
static int lcall_set_header(lua_State *L) {
  call *c = check_call(L);
  if (c->headers_sent)
    return luaL_error(L, "call:set_header: the headers were sent with the first message; set them before it");
  return add_metadata(L, &c->headers, "set_header");
}

/* call:set_trailer(key, value) */
static int lcall_set_trailer(lua_State *L) {
  return add_metadata(L, &check_call(L)->trailers, "set_trailer");
}

/* call:cancelled() -> true once the client went away or the deadline passed */
static int lcall_cancelled(lua_State *L) {
  lua_pushboolean(L, check_call(L)->cancelled);
  return 1;
}

static int lcall_tostring(lua_State *L) {
  lcall_box *box = luaL_checkudata(L, 1, CALL_MT);
  if (box->call == NULL) lua_pushliteral(L, "grpc.call (ended)");
  else lua_pushfstring(L, "grpc.call %s", box->call->method->path);
  return 1;
}

static void push_slice(lua_State *L, grpc_slice s) {
  lua_pushlstring(L, (const char *)GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
}

/*
** [-0, +1] The request metadata as a table. Repeated text keys are joined with
** ", " as HTTP does; of a repeated -bin key, whose bytes cannot be joined, the first counts.
*/
static void push_metadata(lua_State *L, const call *c) {
  const grpc_metadata_array *md = &c->request_md;
  lua_createtable(L, 0, (int)md->count);
  for (size_t i = 0; i < md->count; i++) {
    push_slice(L, md->metadata[i].key);           /* t key */
    lua_pushvalue(L, -1);
    int parts = 1;
    if (lua_rawget(L, -3) == LUA_TSTRING) {       /* t key earlier */
      if (grpc_is_binary_header(md->metadata[i].key)) {
        lua_pop(L, 2);
        continue;
      }
      lua_pushliteral(L, ", ");
      parts = 3;
    } else {
      lua_pop(L, 1);
    }
    push_slice(L, md->metadata[i].value);
    lua_concat(L, parts);                         /* t key value */
    lua_rawset(L, -3);
  }
}

/* call.metadata, built on first use and kept in the object's user value */
static void push_cached_metadata(lua_State *L, const call *c) {
  if (lua_getiuservalue(L, 1, 1) == LUA_TTABLE) return;
  lua_pop(L, 1);
  push_metadata(L, c);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, 1, 1);
}

/* call.KEY: a method, or one of the fields metadata, method, peer, deadline, request_id */
static int lcall_index(lua_State *L) {
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  call *c = check_call(L);
  const char *key = lua_tostring(L, 2);
  if (key == NULL) {
    lua_pushnil(L);
  } else if (strcmp(key, "metadata") == 0) {
    push_cached_metadata(L, c);
  } else if (strcmp(key, "method") == 0) {
    lua_pushstring(L, c->method->path);
  } else if (strcmp(key, "peer") == 0) {
    lua_pushstring(L, call_peer(c));
  } else if (strcmp(key, "deadline") == 0) {
    double left = call_seconds_left(c);
    if (left < 0) lua_pushnil(L);
    else lua_pushnumber(L, left);
  } else if (strcmp(key, "request_id") == 0) {
    const grpc_slice *id = call_find_metadata(c, "x-fc-request-id");
    if (id == NULL) lua_pushnil(L);
    else push_slice(L, *id);
  } else {
    lua_pushnil(L);
  }
  return 1;
}

static const luaL_Reg methods[] = {
  {"recv", lcall_recv},
  {"messages", lcall_messages},
  {"send", lcall_send},
  {"set_header", lcall_set_header},
  {"set_trailer", lcall_set_trailer},
  {"cancelled", lcall_cancelled},
  {NULL, NULL}};

void lcall_open(lua_State *L) {
  luaL_newmetatable(L, CALL_MT);
  luaL_newlib(L, methods);
  lua_pushcclosure(L, lcall_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, lcall_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}

void lcall_push(lua_State *L, call *c) {
  lcall_box *box = lua_newuserdatauv(L, sizeof *box, 1);
  box->call = c;
  c->box = box;
  luaL_setmetatable(L, CALL_MT);
}
