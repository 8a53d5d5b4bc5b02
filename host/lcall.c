/*
** lcall.c
** The `call` object. Methods that wait (recv, send) yield with a continuation
** that asks the call again: their own C frame is gone when the handler resumes.
*/
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "codec.h"
#include "lcall.h"
#include "ljson.h"
#include "lmetadata.h"
#include "lstatus.h"
#include "protojson.h"

#define CALL_MT "grpc.call"
#define ERR_MAX 512

/* The call object of a coroutine lives in its extra space; nested coroutines copy NULL from the main state. */
#define CURRENT(L) (*(lcall **)lua_getextraspace(L))

lcall *lcall_current(lua_State *L) {
  return CURRENT(L);
}

/* Methods that wait must run in the handler's own coroutine: a yield elsewhere would land in the user's resume. */
static call *waitable(lua_State *L, const lcall *obj, const char *what) {
  if (obj == NULL || obj->call == NULL || obj->co != L || !lua_isyieldable(L))
    luaL_error(L, "%s must be called from a handler itself, not from a nested coroutine or the script's top level",
               what);
  return obj->call;
}

void lcall_log_fields(lua_State *L, log_record *r) {
  const lcall *obj = CURRENT(L);
  if (obj == NULL || obj->call == NULL) return;
  log_string(r, "method", call_method(obj->call)->path);
  const grpc_slice *id = call_request_id(obj->call);
  if (id != NULL) log_bytes(r, "request_id", (const char *)GRPC_SLICE_START_PTR(*id), GRPC_SLICE_LENGTH(*id));
}

call *lcall_check_handler(lua_State *L, const char *what) {
  return waitable(L, CURRENT(L), what);
}

/*
** The call object at 1: the running handler's own is known by its address
** (no light userdata a script can reach has it), any other by its metatable.
*/
static lcall *check_object(lua_State *L) {
  lcall *obj = CURRENT(L);
  if (obj != NULL && lua_touserdata(L, 1) == obj) return obj;
  return luaL_checkudata(L, 1, CALL_MT);
}

static call *check_call(lua_State *L) {
  lcall *obj = check_object(L);
  if (obj->call == NULL)
    luaL_error(L, "the call has ended: a call object is only valid while its handler runs");
  return obj->call;
}

int lcall_raise_cancelled(lua_State *L, const call *c) {
  if (call_cancel_status(c) == GRPC_STATUS_DEADLINE_EXCEEDED)
    return lstatus_raise(L, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline exceeded");
  return lstatus_raise(L, GRPC_STATUS_CANCELLED, "the call was cancelled");
}

/* [-0, +0, error] Raises what a call_result other than READY and END means. */
static int raise_result(lua_State *L, call *c, call_result r) {
  if (r == CALL_UNREADABLE)
    return lstatus_raise(L, GRPC_STATUS_INTERNAL, "request: cannot read the message (bad compression?)");
  return lcall_raise_cancelled(L, c);
}

/*
** [-0, +1, error] JSON text of a Connect client as a request table: what does
** not fit the message is the client's mistake, named by its field path.
*/
static void push_json_message(lua_State *L, call *c, const char *data, size_t len) {
  char err[ERR_MAX];
  buf *scratch = ljson_buffer(L);   /* [-0, +1]: a to-be-closed box */
  scratch->limit = 0;               /* never longer than the text */
  if (protojson_decode(L, call_vm(c)->schema, call_method(c)->input, data, len, scratch, "request", err,
                       sizeof err) != 0)
    lstatus_raise(L, GRPC_STATUS_INVALID_ARGUMENT, "%s", err);
  lua_closeslot(L, -2);
  lua_remove(L, -2);
}

/* [-0, +1, error] Decodes the bytes of the message c has taken. */
static void push_message(lua_State *L, call *c, const char *data, size_t len) {
  char err[ERR_MAX];
  if (call_json(c)) push_json_message(L, c, data, len);
  else if (codec_decode(L, call_method(c)->input, data, len, "request", err, sizeof err) != 0)
    lstatus_raise(L, GRPC_STATUS_INTERNAL, "%s", err);
}

void lcall_push_request(lua_State *L, call *c) {
  const char *data;
  size_t len;
  call_result r = call_recv(c, &data, &len);
  if (r != CALL_READY) raise_result(L, c, r);
  push_message(L, c, data, len);
}

/*
** [-0, +1, error] The reply at idx in the proto3 JSON mapping, for a Connect
** client, in a to-be-closed buffer of the state's own (protojson_encode may
** run finalizers, which may use vm->buf).
*/
static buf *encode_json_reply(lua_State *L, int idx, call *c) {
  idx = lua_absindex(L, idx);
  buf *b = ljson_buffer(L);
  char err[ERR_MAX];
  if (lua_isnil(L, idx)) {
    lua_newtable(L);
    lua_replace(L, idx);
  }
  if (protojson_encode(L, idx, call_vm(c)->schema, call_method(c)->output, b, "reply", err, sizeof err))
    lstatus_raise(L, GRPC_STATUS_INTERNAL, "%s", err);
  return b;
}

grpc_byte_buffer *lcall_encode_reply(lua_State *L, int idx, call *c) {
  const schema_method *m = call_method(c);
  lvm *vm = call_vm(c);
  buf *b = &vm->buf;
  char err[ERR_MAX];
  int type = lua_type(L, idx);
  if (type != LUA_TNIL && type != LUA_TTABLE) {
    lstatus_raise(L, GRPC_STATUS_INTERNAL, "reply: expected a table (%s), got %s",
                  m->output->full_name, lua_typename(L, type));
  } else if (call_json(c)) {
    b = encode_json_reply(L, idx, c);
  } else if (type == LUA_TNIL) {
    b->len = 0;                     /* nil is the empty message */
  } else if (codec_encode(L, idx, m->output, b, "reply", err, sizeof err)) {
    lstatus_raise(L, GRPC_STATUS_INTERNAL, "%s", err);
  }
  if (b->len > (size_t)vm->cfg->max_message_bytes)
    lstatus_raise(L, GRPC_STATUS_RESOURCE_EXHAUSTED, "reply: %d bytes, more than --max-message-bytes %d",
                  (int)b->len, vm->cfg->max_message_bytes);
  grpc_slice s = grpc_slice_from_copied_buffer(b->data, b->len);
  if (call_json(c)) lua_pop(L, 1);  /* closes the JSON buffer */
  else buf_shrink(b);
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  return bb;
}

static int recv_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  call *c = (call *)ctx;
  const char *data;
  size_t len;
  call_result r = call_recv(c, &data, &len);
  if (r == CALL_WAIT) return lua_yieldk(L, 0, ctx, recv_k);
  if (r == CALL_END) {
    lua_pushnil(L);
    return 1;
  }
  if (r != CALL_READY) return raise_result(L, c, r);
  push_message(L, c, data, len);
  return 1;
}

/* call:recv() -> next request, or nil once the client has half-closed */
static int lcall_recv(lua_State *L) {
  call *c = waitable(L, check_object(L), "call:recv");
  return recv_k(L, LUA_OK, (lua_KContext)c);
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
  call_result r = call_send_ready(c);
  if (r == CALL_WAIT) return lua_yieldk(L, 0, ctx, send_k);
  if (r != CALL_READY) return raise_result(L, c, r);
  if (call_send(c, lcall_encode_reply(L, 2, c)))
    return lstatus_raise(L, GRPC_STATUS_INTERNAL, "gRPC refused to send the message");
  return 0;
}

/* call:send(msg): returns at once unless the call's outbox is full; then waits until it is sent */
static int lcall_send(lua_State *L) {
  call *c = waitable(L, check_object(L), "call:send");
  if (method_one_reply(call_method(c)))
    return luaL_error(L, "call:send: %s does not stream replies: return the reply from the handler",
                      call_method(c)->path);
  luaL_checktype(L, 2, LUA_TTABLE);
  return send_k(L, LUA_OK, (lua_KContext)c);
}

typedef int (*metadata_adder)(call *c, const char *key, size_t klen, const char *value, size_t vlen,
                              char *err, size_t errlen);

static int add_metadata(lua_State *L, call *c, metadata_adder add, const char *what) {
  size_t klen, vlen;
  const char *key = luaL_checklstring(L, 2, &klen);
  const char *value = luaL_checklstring(L, 3, &vlen);
  char err[ERR_MAX];
  if (add(c, key, klen, value, vlen, err, sizeof err)) return luaL_error(L, "call:%s: %s", what, err);
  return 0;
}

/* call:set_header(key, value), before the first message */
static int lcall_set_header(lua_State *L) {
  call *c = check_call(L);
  if (call_headers_sent(c))
    return luaL_error(L, "call:set_header: the headers were sent with the first message; set them before it");
  return add_metadata(L, c, call_add_header, "set_header");
}

/* call:set_trailer(key, value) */
static int lcall_set_trailer(lua_State *L) {
  return add_metadata(L, check_call(L), call_add_trailer, "set_trailer");
}

/* call:cancelled() -> true once the client went away or the deadline passed */
static int lcall_cancelled(lua_State *L) {
  lua_pushboolean(L, call_cancelled(check_call(L)));
  return 1;
}

static int lcall_tostring(lua_State *L) {
  lcall *obj = check_object(L);
  if (obj->call == NULL) lua_pushliteral(L, "grpc.call (ended)");
  else lua_pushfstring(L, "grpc.call %s", call_method(obj->call)->path);
  return 1;
}

static void push_slice(lua_State *L, grpc_slice s) {
  lua_pushlstring(L, (const char *)GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
}

/* call.metadata, built on first use and kept in the object's user value */
static void push_cached_metadata(lua_State *L, const call *c) {
  if (lua_getiuservalue(L, 1, 1) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lmetadata_push(L, call_request_metadata(c));
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, 1, 1);
}

/* call.KEY: a method, or one of the fields metadata, method, peer, protocol, deadline, request_id */
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
    lua_pushstring(L, call_method(c)->path);
  } else if (strcmp(key, "peer") == 0) {
    lua_pushstring(L, call_peer(c));
  } else if (strcmp(key, "protocol") == 0) {
    lua_pushstring(L, call_protocol_name(c));
  } else if (strcmp(key, "deadline") == 0) {
    double left = call_seconds_left(c);
    if (left < 0) lua_pushnil(L);
    else lua_pushnumber(L, left);
  } else if (strcmp(key, "request_id") == 0) {
    const grpc_slice *id = call_request_id(c);
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

/*
** [-0, +1] The call metatable, made on first use. Every call after finds it by
** its integer ref, in the registry's array: by name costs ~100 instructions more.
*/
static void push_metatable(lua_State *L, lvm *vm) {
  if (vm->call_mt_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->call_mt_ref);
    return;
  }
  if (luaL_newmetatable(L, CALL_MT)) {
    luaL_newlib(L, methods);
    lua_pushcclosure(L, lcall_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, lcall_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pushvalue(L, -1);
  vm->call_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

lcall *lcall_new(lua_State *L, lua_State *co, call *c) {
  lcall *obj = lua_newuserdatauv(L, sizeof *obj, 1);
  obj->call = c;
  obj->co = co;
  obj->co_ref = LUA_NOREF;
  obj->stop = GRPC_STATUS_OK;
  push_metatable(L, call_vm(c));
  lua_setmetatable(L, -2);
  CURRENT(co) = obj;
  return obj;
}
