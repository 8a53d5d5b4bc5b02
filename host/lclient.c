/*
** lclient.c
** Client and stream objects. A client holds its target and options only: the
** channel is the worker's (client.c), found when a call starts, so a client
** made at a script's top level serves every worker and survives reloads.
** Methods that wait yield with a continuation that asks the outbound call
** again, as call:recv does.
*/
#include <math.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <lauxlib.h>

#include "client.h"
#include "codec.h"
#include "lcall.h"
#include "lclient.h"
#include "lmetadata.h"
#include "lstatus.h"
#include "lvm.h"

#define CLIENT_MT "grpc.client"
#define STREAM_MT "grpc.stream"
#define ERR_MAX 512

/* Request metadata a handler's outbound calls carry over from its own call. */
static const char *const forwarded[] = {"traceparent", "tracestate", "grpc-trace-bin", NULL};

/* Its uservalue 1 is a table holding the strings t points into, and the default metadata. */
typedef struct lclient {
  client_target t;
  lua_Number timeout;               /* seconds, or HUGE_VAL for none */
} lclient;

typedef struct lstream {
  client_call *cc;                  /* NULL once released, or once its handler ended */
  const schema_method *method;
  const lclient *client;            /* kept alive by uservalue 1 */
} lstream;

/*
** {======================================================
** Options
** =======================================================
*/

/* [-0, +0, error] A string field of the table at idx, kept in the table at keep; NULL when absent. */
static const char *opt_string(lua_State *L, int idx, const char *field, int keep, const char *what) {
  int type = lua_getfield(L, idx, field);
  const char *s = NULL;
  if (type == LUA_TSTRING) {
    s = lua_tostring(L, -1);
    lua_pushvalue(L, -1);
    lua_setfield(L, keep, field);
  } else if (type != LUA_TNIL) {
    luaL_error(L, "%s: option %s must be a string, got %s", what, field, luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return s;
}

/* [-0, +0, error] The timeout option of the table at idx (nil: none), in seconds. */
static lua_Number opt_timeout(lua_State *L, int idx, const char *what) {
  lua_Number t = HUGE_VAL;
  if (lua_getfield(L, idx, "timeout") != LUA_TNIL) {
    int isnum;
    t = lua_tonumberx(L, -1, &isnum);
    if (!isnum || !(t > 0)) luaL_error(L, "%s: option timeout must be a number of seconds above 0", what);
  }
  lua_pop(L, 1);
  return t;
}

/* [-0, +0, error] The tls option: true (the system's roots) or {ca=, cert=, key=}. */
static void opt_tls(lua_State *L, int idx, client_target *t, int keep) {
  switch (lua_getfield(L, idx, "tls")) {
  case LUA_TNIL: break;
  case LUA_TBOOLEAN: t->tls = lua_toboolean(L, -1); break;
  case LUA_TTABLE:
    t->tls = true;
    t->ca = opt_string(L, -1, "ca", keep, "grpc.client tls");
    t->cert = opt_string(L, -1, "cert", keep, "grpc.client tls");
    t->key = opt_string(L, -1, "key", keep, "grpc.client tls");
    if ((t->cert == NULL) != (t->key == NULL)) luaL_error(L, "grpc.client: tls.cert and tls.key go together");
    break;
  default: luaL_error(L, "grpc.client: option tls must be true or a table {ca=, cert=, key=}");
  }
  lua_pop(L, 1);
}

/* grpc.client(target [, opts]) -> client */
static int lclient_new(lua_State *L) {
  const char *target = luaL_checkstring(L, 1);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lclient *cl = lua_newuserdatauv(L, sizeof *cl, 1);     /* target opts cl */
  memset(cl, 0, sizeof *cl);
  cl->timeout = HUGE_VAL;
  lua_createtable(L, 0, 6);                               /* target opts cl keep */
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "target");
  cl->t.target = target;
  if (lua_istable(L, 2)) {
    opt_tls(L, 2, &cl->t, 4);
    cl->t.authority = opt_string(L, 2, "authority", 4, "grpc.client");
    cl->timeout = opt_timeout(L, 2, "grpc.client");
    int type = lua_getfield(L, 2, "metadata");
    if (type != LUA_TNIL && type != LUA_TTABLE) luaL_error(L, "grpc.client: option metadata must be a table");
    lua_setfield(L, 4, "metadata");
  }
  lua_setiuservalue(L, 3, 1);
  luaL_setmetatable(L, CLIENT_MT);
  return 1;
}

static lclient *check_client(lua_State *L) {
  return luaL_checkudata(L, 1, CLIENT_MT);
}

/* }====================================================== */

/*
** {======================================================
** Starting a call
** =======================================================
*/

/* [-0, +0, error] The method named at arg: "pkg.Service/Method", a leading '/' allowed. */
static const schema_method *check_method(lua_State *L, int arg, const char *what) {
  size_t len;
  const char *name = luaL_checklstring(L, arg, &len);
  lvm *vm = lvm_of(L);
  const char *path = name;
  if (name[0] != '/') {             /* its path in the scratch buffer: no Lua string each call */
    vm->buf.len = 0;
    if (buf_putc(&vm->buf, '/') != BUF_OK || buf_put(&vm->buf, name, len) != BUF_OK)
      luaL_error(L, "%s: out of memory", what);
    path = vm->buf.data;
    len = vm->buf.len;
  }
  const schema_method *m = schema_find_method(vm->schema, path, len);
  if (m == NULL)
    luaL_error(L, "%s %s: unknown method '%s': no loaded protoset has it", what, check_client(L)->t.target, name);
  return m;
}

/* [-0, +1, error] The request metadata of an outbound call: the client's, opts', and the trace context. */
static metadata_list *push_metadata(lua_State *L, call *c, int opts, const char *what) {
  metadata_list *md = lmetadata_new(L);
  if (lua_getiuservalue(L, 1, 1) == LUA_TTABLE && lua_getfield(L, -1, "metadata") == LUA_TTABLE)
    lmetadata_add_table(L, -1, md, what);
  lua_settop(L, lua_gettop(L) - 2);
  if (opts != 0 && lua_getfield(L, opts, "metadata") != LUA_TNIL) {
    if (!lua_istable(L, -1)) luaL_error(L, "%s: option metadata must be a table", what);
    lmetadata_add_table(L, -1, md, what);
  }
  if (opts != 0) lua_pop(L, 1);
  for (const char *const *key = forwarded; *key != NULL; key++) {
    const grpc_slice *v = call_find_metadata(c, *key);
    if (v != NULL && !metadata_has(md, *key) &&
        metadata_append(md, grpc_slice_from_static_string(*key), grpc_slice_ref(*v)))
      luaL_error(L, "%s: out of memory", what);
  }
  return md;
}

/* [-0, +0, error] The request at idx as bytes of m's input; INTERNAL naming the path when it is not. */
static grpc_byte_buffer *encode_request(lua_State *L, int idx, const char *target, const schema_method *m,
                                        const char *what) {
  lvm *vm = lvm_of(L);
  char err[ERR_MAX];
  if (lua_isnoneornil(L, idx)) vm->buf.len = 0;
  else if (!lua_istable(L, idx))
    lstatus_raise(L, GRPC_STATUS_INTERNAL, "%s %s %s: request: expected a table (%s), got %s", what,
                  target, m->path, m->input->full_name, luaL_typename(L, idx));
  else if (codec_encode(L, idx, m->input, &vm->buf, "request", err, sizeof err))
    lstatus_raise(L, GRPC_STATUS_INTERNAL, "%s %s %s: %s", what, target, m->path, err);
  grpc_slice s = grpc_slice_from_copied_buffer(vm->buf.data, vm->buf.len);
  buf_shrink(&vm->buf);
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  return bb;
}

/* Seconds to ns, the smaller of the two timeouts; INT64_MAX for none. */
static int64_t timeout_ns(lua_Number a, lua_Number b) {
  lua_Number t = a < b ? a : b;
  return t >= 1e9 ? INT64_MAX : (int64_t)(t * 1e9);
}

/*
** [-0, +0, error] Starts method m from c's handler: the client at 1, the
** options at opts (0 for none), the request of a unary call at request (0
** for a stream). The request is encoded last: nothing may raise between
** its bytes and client_call_start, which takes them.
*/
static client_call *start(lua_State *L, call *c, const schema_method *m, int opts, int request,
                          client_call **handle, const char *what) {
  lclient *cl = check_client(L);
  lua_Number timeout = opts != 0 ? opt_timeout(L, opts, what) : HUGE_VAL;
  metadata_list *md = push_metadata(L, c, opts, what);
  grpc_byte_buffer *bb = request != 0 ? encode_request(L, request, cl->t.target, m, what) : NULL;
  grpc_status_code code;
  char err[ERR_MAX];
  client_call *cc = client_call_start(c, &cl->t, m->path, md, bb, timeout_ns(timeout, cl->timeout),
                                      handle, &code, err, sizeof err);
  lua_pop(L, 1);                    /* the metadata's box, emptied */
  if (cc == NULL) lstatus_raise(L, code, "%s %s %s: %s", what, cl->t.target, m->path, err);
  return cc;
}

/* }====================================================== */

/*
** {======================================================
** Replies
** =======================================================
*/

/* [-0, +1] The details of a google.rpc.Status in trailers, as grpc.error takes them; nil when none. */
static void push_status_details(lua_State *L, const grpc_metadata_array *trailers) {
  const schema_message *status = schema_find_message(lvm_of(L)->schema, "google.rpc.Status");
  for (size_t i = 0; status != NULL && trailers != NULL && i < trailers->count; i++) {
    if (grpc_slice_str_cmp(trailers->metadata[i].key, "grpc-status-details-bin") != 0) continue;
    grpc_slice v = trailers->metadata[i].value;
    char err[ERR_MAX];
    if (codec_decode(L, status, (const char *)GRPC_SLICE_START_PTR(v), GRPC_SLICE_LENGTH(v), "status", err,
                     sizeof err) != 0)
      break;
    lua_getfield(L, -1, "details");
    lua_remove(L, -2);
    return;
  }
  lua_pushnil(L);
}

/*
** [-0, +0, error] Raises the status an outbound call ended with, letting cc
** go first: code, message and details as the server sent them, and where it
** came from (target, method), also in its text.
*/
static int raise_status(lua_State *L, client_call *cc, const lclient *cl, const schema_method *m) {
  grpc_slice details;
  grpc_status_code code = client_call_status(cc, &details);
  lua_pushlstring(L, (const char *)GRPC_SLICE_START_PTR(details), GRPC_SLICE_LENGTH(details));
  push_status_details(L, client_call_trailers(cc));
  client_call_release(cc);
  lstatus_push(L, code, -2, lua_isnil(L, -1) ? 0 : -1);
  lua_pushstring(L, cl->t.target);
  lua_setfield(L, -2, "target");
  lua_pushstring(L, m->path);
  lua_setfield(L, -2, "method");
  return lua_error(L);
}

/* [-0, +1, error] The reply in bb (destroyed here), as m's output; INTERNAL naming the path. */
static void push_reply(lua_State *L, grpc_byte_buffer *bb, const char *target, const schema_method *m,
                       const char *what) {
  grpc_byte_buffer_reader reader;
  int readable = grpc_byte_buffer_reader_init(&reader, bb);
  grpc_slice s = readable ? grpc_byte_buffer_reader_readall(&reader) : grpc_empty_slice();
  if (readable) grpc_byte_buffer_reader_destroy(&reader);
  grpc_byte_buffer_destroy(bb);
  char err[ERR_MAX];
  int r = readable ? codec_decode(L, m->output, (const char *)GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s),
                                  "reply", err, sizeof err)
                   : -1;
  grpc_slice_unref(s);
  if (!readable) lstatus_raise(L, GRPC_STATUS_INTERNAL, "%s %s %s: the reply cannot be read", what, target, m->path);
  if (r != 0) lstatus_raise(L, GRPC_STATUS_INTERNAL, "%s %s %s: %s", what, target, m->path, err);
}

/* [-0, +1] {headers = ..., trailers = ...} of cc, as far as they came. */
static void push_info(lua_State *L, const client_call *cc) {
  lua_createtable(L, 0, 2);
  const grpc_metadata_array *md = client_call_headers(cc);
  if (md != NULL) {
    lmetadata_push(L, md);
    lua_setfield(L, -2, "headers");
  }
  if ((md = client_call_trailers(cc)) != NULL) {
    lmetadata_push(L, md);
    lua_setfield(L, -2, "trailers");
  }
}

/* }====================================================== */

/*
** {======================================================
** client:call
** =======================================================
*/

/* [client method request opts] after the call is over */
static int call_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  client_call *cc = (client_call *)ctx;
  call *c = lcall_current(L)->call;
  const schema_method *m = check_method(L, 2, "client:call");
  if (!client_call_done(cc)) {      /* woken by the incoming call's cancel */
    client_call_release(cc);
    return lcall_raise_cancelled(L, c);
  }
  grpc_slice details;
  if (client_call_status(cc, &details) != GRPC_STATUS_OK) return raise_status(L, cc, check_client(L), m);
  push_info(L, cc);
  grpc_byte_buffer *bb = client_call_take_message(cc);
  client_call_release(cc);
  const char *target = check_client(L)->t.target;
  if (bb == NULL) return lstatus_raise(L, GRPC_STATUS_INTERNAL, "client:call %s %s: no reply came", target, m->path);
  push_reply(L, bb, target, m, "client:call");
  lua_insert(L, -2);
  return 2;
}

/* client:call(method, request [, opts]) -> reply, {headers =, trailers =} */
static int lclient_call(lua_State *L) {
  check_client(L);
  call *c = lcall_check_handler(L, "client:call");
  const schema_method *m = check_method(L, 2, "client:call");
  if (m->kind != METHOD_UNARY)
    return luaL_error(L, "client:call: %s is %s: use client:stream", m->path, method_kind_name(m->kind));
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
  lua_settop(L, 4);
  if (call_cancelled(c)) return lcall_raise_cancelled(L, c);
  client_call *cc = start(L, c, m, lua_istable(L, 4) ? 4 : 0, 3, NULL, "client:call");
  if (client_call_wait(cc, CLIENT_REPLY)) return lua_yieldk(L, 0, (lua_KContext)cc, call_k);
  return call_k(L, LUA_OK, (lua_KContext)cc);
}

/* }====================================================== */

/*
** {======================================================
** Streams
** =======================================================
*/

static lstream *check_stream(lua_State *L) {
  return luaL_checkudata(L, 1, STREAM_MT);
}

/* The open outbound call of a stream, used from the handler that opened it. */
static client_call *check_open(lua_State *L, const lstream *s, const char *what) {
  call *c = lcall_check_handler(L, what);
  if (s->cc == NULL) luaL_error(L, "%s: the stream is over: it was cancelled or its handler ended", what);
  if (client_call_parent(s->cc) != c) luaL_error(L, "%s: a stream belongs to the handler that opened it", what);
  if (call_cancelled(c)) lcall_raise_cancelled(L, c);
  return s->cc;
}

/* client:stream(method [, opts]) -> stream */
static int lclient_stream(lua_State *L) {
  check_client(L);
  call *c = lcall_check_handler(L, "client:stream");
  const schema_method *m = check_method(L, 2, "client:stream");
  if (m->kind == METHOD_UNARY) return luaL_error(L, "client:stream: %s is unary: use client:call", m->path);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 3);
  if (call_cancelled(c)) return lcall_raise_cancelled(L, c);
  lstream *s = lua_newuserdatauv(L, sizeof *s, 1);         /* client method opts stream */
  s->cc = NULL;
  s->method = m;
  s->client = check_client(L);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, STREAM_MT);
  start(L, c, m, lua_istable(L, 3) ? 3 : 0, 0, &s->cc, "client:stream");
  return 1;
}

static int send_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  lstream *s = check_stream(L);
  client_call *cc = check_open(L, s, "stream:send");
  if (client_call_wait(cc, CLIENT_SENT)) return lua_yieldk(L, 0, 0, send_k);
  if (client_call_send(cc, encode_request(L, 2, s->client->t.target, s->method, "stream:send")) == 0) return 0;
  if (client_call_done(cc)) {
    grpc_slice details;
    if (client_call_status(cc, &details) != GRPC_STATUS_OK) {
      s->cc = NULL;
      return raise_status(L, cc, s->client, s->method);
    }
  }
  return luaL_error(L, "stream:send %s %s: the stream is closed for sending", s->client->t.target, s->method->path);
}

/* stream:send(msg): returns once the message before is out */
static int lstream_send(lua_State *L) {
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  return send_k(L, LUA_OK, 0);
}

/* stream:close_send(): the client sends no more */
static int lstream_close_send(lua_State *L) {
  client_call_close_send(check_open(L, check_stream(L), "stream:close_send"));
  return 0;
}

static int recv_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  lstream *s = check_stream(L);
  client_call *cc = check_open(L, s, "stream:recv");
  if (client_call_wait(cc, CLIENT_MESSAGE)) return lua_yieldk(L, 0, 0, recv_k);
  grpc_byte_buffer *bb = client_call_take_message(cc);
  if (bb != NULL) {
    push_reply(L, bb, s->client->t.target, s->method, "stream:recv");
    return 1;
  }
  grpc_slice details;
  if (client_call_status(cc, &details) != GRPC_STATUS_OK) {
    s->cc = NULL;
    return raise_status(L, cc, s->client, s->method);
  }
  lua_pushnil(L);
  return 1;
}

/* stream:recv() -> the next reply, or nil once the server ended with OK */
static int lstream_recv(lua_State *L) {
  lstream *s = check_stream(L);
  client_call *cc = check_open(L, s, "stream:recv");
  lua_settop(L, 1);
  if (client_call_recv(cc))
    return luaL_error(L, "stream:recv %s %s: gRPC refused to receive", s->client->t.target, s->method->path);
  return recv_k(L, LUA_OK, 0);
}

/* stream:messages() -> iterator over the replies, for a generic for */
static int lstream_messages(lua_State *L) {
  check_stream(L);
  lua_pushcfunction(L, lstream_recv);
  lua_pushvalue(L, 1);
  return 2;
}

/* stream:cancel(): ends the call at once; the server sees CANCELLED */
static int lstream_cancel(lua_State *L) {
  lstream *s = check_stream(L);
  if (s->cc != NULL) client_call_cancel(s->cc);
  return 0;
}

static int lstream_gc(lua_State *L) {
  lstream *s = check_stream(L);
  if (s->cc != NULL) client_call_release(s->cc);
  s->cc = NULL;
  return 0;
}

/* stream.headers (once the server sent them), stream.trailers (once it ended); else a method */
static int lstream_index(lua_State *L) {
  lstream *s = check_stream(L);
  const char *key = lua_tostring(L, 2);
  const grpc_metadata_array *md = NULL;
  if (key != NULL && s->cc != NULL && strcmp(key, "headers") == 0) md = client_call_headers(s->cc);
  else if (key != NULL && s->cc != NULL && strcmp(key, "trailers") == 0) md = client_call_trailers(s->cc);
  if (md != NULL) {
    lmetadata_push(L, md);
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

/* }====================================================== */

static const luaL_Reg client_methods[] = {
  {"call", lclient_call},
  {"stream", lclient_stream},
  {NULL, NULL}};

static const luaL_Reg stream_methods[] = {
  {"send", lstream_send},
  {"close_send", lstream_close_send},
  {"recv", lstream_recv},
  {"messages", lstream_messages},
  {"cancel", lstream_cancel},
  {NULL, NULL}};

void lclient_open(lua_State *L) {
  luaL_newmetatable(L, CLIENT_MT);
  luaL_newlib(L, client_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newmetatable(L, STREAM_MT);
  luaL_newlib(L, stream_methods);
  lua_pushcclosure(L, lstream_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, lstream_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  lua_pushcfunction(L, lclient_new);
  lua_setfield(L, -2, "client");
}
