/*
** lcodec.c
** The codec for scripts: grpc.encode and grpc.decode, grpc.any_pack and
** grpc.any_unpack for google.protobuf.Any, conversions between seconds
** and Timestamp / Duration tables (grpc.timestamp, grpc.duration,
** grpc.seconds), and the proto3 JSON mapping (grpc.to_json, grpc.from_json,
** on protojson.c, with the json library's buffer).
**
** They use the state's schema and its encoding buffer (lvm.h). A codec error
** is a plain Lua error naming the function, the type and the field path:
**   grpc.encode: helloworld.HelloReply.message: expected string, got number
** so a script may pcall it; uncaught, it ends the call with UNKNOWN.
** The codec never runs Lua code (raw access only), so the buffer is never
** re-entered; a memory error raised mid-encode leaves it owned by the state:
** nothing leaks.
*/
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "codec.h"
#include "lcodec.h"
#include "ljson.h"
#include "lvm.h"
#include "protojson.h"

#define ERR_LEN 1024
#define TYPE_URL_PREFIX "type.googleapis.com/"

/* Seconds from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z, as protobuf's Timestamp allows. */
#define TIMESTAMP_MIN INT64_C(-62135596800)
#define TIMESTAMP_MAX INT64_C(253402300799)
#define DURATION_MAX INT64_C(315576000000)   /* 10,000 years, as protobuf's Duration allows */

#define SCHEMA(L) (lvm_of(L)->schema)

/*
** {======================================================
** Encode and decode
** =======================================================
*/

/* The message type named by argument arg; raises naming fn when there is none. */
static const schema_message *check_type(lua_State *L, int arg, const char *fn) {
  const char *name = luaL_checkstring(L, arg);
  const schema_message *m = schema_find_message(SCHEMA(L), name);
  if (m == NULL) luaL_error(L, "%s: unknown message type '%s'", fn, name);
  return m;
}

/* [-0, +1, error] Pushes the bytes of the table at idx as message m. */
static void push_encoded(lua_State *L, const schema_message *m, int idx, const char *fn) {
  buf *b = &lvm_of(L)->buf;
  char err[ERR_LEN];
  if (codec_encode(L, idx, m, b, m->full_name, err, sizeof err) < 0)
    luaL_error(L, "%s: %s", fn, err);
  lua_pushlstring(L, b->data ? b->data : "", b->len);
  buf_shrink(b);
}

/* [-0, +1, error] Pushes the table of len bytes at data as message m. */
static void push_decoded(lua_State *L, const schema_message *m, const char *data, size_t len,
                         const char *fn) {
  char err[ERR_LEN];
  if (codec_decode(L, m, data, len, m->full_name, err, sizeof err) < 0)
    luaL_error(L, "%s: %s", fn, err);
}

/* grpc.encode(type_name, table) -> bytes */
static int lcodec_encode(lua_State *L) {
  const schema_message *m = check_type(L, 1, "grpc.encode");
  push_encoded(L, m, 2, "grpc.encode");
  return 1;
}

/* grpc.decode(type_name, bytes) -> table */
static int lcodec_decode(lua_State *L) {
  const schema_message *m = check_type(L, 1, "grpc.decode");
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  push_decoded(L, m, data, len, "grpc.decode");
  return 1;
}

/* }====================================================== */

/*
** {======================================================
** google.protobuf.Any
** =======================================================
*/

/* grpc.any_pack(type_name, table) -> {type_url = "type.googleapis.com/<type>", value = bytes} */
static int lcodec_any_pack(lua_State *L) {
  const schema_message *m = check_type(L, 1, "grpc.any_pack");
  lua_createtable(L, 0, 2);
  lua_pushfstring(L, TYPE_URL_PREFIX "%s", m->full_name);
  lua_setfield(L, -2, "type_url");
  push_encoded(L, m, 2, "grpc.any_pack");
  lua_setfield(L, -2, "value");
  return 1;
}

/* grpc.any_unpack(any) -> type_name, table. The type is the part of type_url after its last '/'. */
static int lcodec_any_unpack(lua_State *L) {
  const char *url, *name;
  const char *data = "";
  size_t len = 0;
  const schema_message *m;
  luaL_checktype(L, 1, LUA_TTABLE);
  if (lua_getfield(L, 1, "type_url") != LUA_TSTRING)
    return luaL_error(L, "grpc.any_unpack: type_url: expected string, got %s", luaL_typename(L, -1));
  url = lua_tostring(L, -1);
  name = strrchr(url, '/');
  name = name ? name + 1 : url;
  m = *name ? schema_find_message(SCHEMA(L), name) : NULL;
  if (m == NULL) return luaL_error(L, "grpc.any_unpack: unknown type '%s'", url);
  switch (lua_getfield(L, 1, "value")) {
    case LUA_TNIL: break;   /* an Any decoded from nothing: the empty message */
    case LUA_TSTRING: data = lua_tolstring(L, -1, &len); break;
    default:
      return luaL_error(L, "grpc.any_unpack: value: expected string, got %s", luaL_typename(L, -1));
  }
  lua_pushstring(L, m->full_name);
  push_decoded(L, m, data, len, "grpc.any_unpack");
  return 2;
}

/* }====================================================== */

/*
** {======================================================
** Timestamp and Duration
** =======================================================
*/

/*
** Splits the number at arg into whole seconds and nanoseconds: floor, so that
** nanos is in [0, 1e9), or, truncating, nanos has the sign of seconds.
** Raises when it is not finite or outside [-max - 1, max + 1].
*/
static void split_seconds(lua_State *L, int arg, bool truncate, int64_t min, int64_t max,
                          const char *fn, lua_Integer *s, lua_Integer *n) {
  lua_Number x, whole;
  if (lua_isinteger(L, arg)) {
    *s = lua_tointeger(L, arg);
    *n = 0;
    if (*s < min || *s > max) luaL_error(L, "%s: %I seconds is out of range", fn, (lua_Integer)*s);
    return;
  }
  x = luaL_checknumber(L, arg);
  if (!(x >= (lua_Number)min - 1 && x <= (lua_Number)max + 1))
    luaL_error(L, "%s: %f seconds is out of range", fn, (LUAI_UACNUMBER)x);
  whole = truncate ? trunc(x) : floor(x);
  *s = (lua_Integer)whole;
  *n = (lua_Integer)llround((x - whole) * 1e9);   /* exact: x - whole is */
  if (*n >= 1000000000 || *n <= -1000000000) {   /* rounded up to a whole second */
    *s += *n > 0 ? 1 : -1;
    *n = 0;
  }
  if (*s < min || *s > max || (*s == max && *n > 0) || (*s == min && *n < 0))
    luaL_error(L, "%s: %f seconds is out of range", fn, (LUAI_UACNUMBER)x);
}

/* grpc.timestamp([seconds]) -> {seconds = integer, nanos = 0..999999999}; now without an argument */
static int lcodec_timestamp(lua_State *L) {
  lua_Integer s, n;
  if (lua_isnoneornil(L, 1)) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    codec_push_time(L, (int64_t)ts.tv_sec, (int32_t)ts.tv_nsec);
    return 1;
  }
  split_seconds(L, 1, false, TIMESTAMP_MIN, TIMESTAMP_MAX, "grpc.timestamp", &s, &n);
  codec_push_time(L, s, (int32_t)n);
  return 1;
}

/* grpc.duration(seconds) -> {seconds = integer, nanos = integer of the same sign} */
static int lcodec_duration(lua_State *L) {
  lua_Integer s, n;
  split_seconds(L, 1, true, -DURATION_MAX, DURATION_MAX, "grpc.duration", &s, &n);
  codec_push_time(L, s, (int32_t)n);
  return 1;
}

/* The integer field k of the table at 1, 0 when nil. */
static lua_Integer time_field(lua_State *L, const char *k) {
  int isint;
  lua_Integer v;
  if (lua_getfield(L, 1, k) == LUA_TNIL) v = 0;
  else if (v = lua_tointegerx(L, -1, &isint), !isint || lua_type(L, -1) != LUA_TNUMBER)
    luaL_error(L, "grpc.seconds: %s: expected integer, got %s", k, luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

/* grpc.seconds(timestamp_or_duration) -> number: seconds + nanos / 1e9 */
static int lcodec_seconds(lua_State *L) {
  lua_Integer s, n;
  luaL_checktype(L, 1, LUA_TTABLE);
  s = time_field(L, "seconds");
  n = time_field(L, "nanos");
  lua_pushnumber(L, (lua_Number)s + (lua_Number)n / 1e9);
  return 1;
}

/* }====================================================== */

/*
** {======================================================
** The proto3 JSON mapping
** =======================================================
*/

/* grpc.to_json(type_name, table) -> text */
static int lcodec_to_json(lua_State *L) {
  const schema_message *m = check_type(L, 1, "grpc.to_json");
  char err[ERR_LEN];
  buf *b;
  luaL_checkany(L, 2);
  lua_settop(L, 2);
  b = ljson_buffer(L);
  if (protojson_encode(L, 2, SCHEMA(L), m, b, m->full_name, err, sizeof err) < 0)
    return luaL_error(L, "grpc.to_json: %s", err);
  lua_pushlstring(L, b->data ? b->data : "", b->len);
  return 1;
}

/* grpc.from_json(type_name, text) -> table */
static int lcodec_from_json(lua_State *L) {
  const schema_message *m = check_type(L, 1, "grpc.from_json");
  char err[ERR_LEN];
  size_t len;
  const char *text = luaL_checklstring(L, 2, &len);
  buf *b;
  lua_settop(L, 2);
  b = ljson_buffer(L);
  if (b->limit != 0 && len > b->limit)
    return luaL_error(L, "grpc.from_json: a text of %I bytes is larger than the limit of %I (the host's --max-message-bytes)",
                      (lua_Integer)len, (lua_Integer)b->limit);
  b->limit = 0;   /* scratch, never longer than the text */
  if (protojson_decode(L, SCHEMA(L), m, text, len, b, m->full_name, err, sizeof err) < 0)
    return luaL_error(L, "grpc.from_json: %s", err);
  return 1;
}

/* }====================================================== */

static const luaL_Reg functions[] = {
  {"encode", lcodec_encode},
  {"decode", lcodec_decode},
  {"any_pack", lcodec_any_pack},
  {"any_unpack", lcodec_any_unpack},
  {"timestamp", lcodec_timestamp},
  {"duration", lcodec_duration},
  {"seconds", lcodec_seconds},
  {"to_json", lcodec_to_json},
  {"from_json", lcodec_from_json},
  {NULL, NULL}};

void lcodec_open(lua_State *L) {
  luaL_setfuncs(L, functions, 0);
}
