/*
** lshared.c
** The `shared` library: the process's store (shared.c) as Lua sees it, with
** the calls and results of OpenResty's ngx.shared.DICT.
*/
#include <lauxlib.h>

#include "lshared.h"
#include "shared.h"

/* How much of a key an error message quotes. */
#define KEY_EXCERPT 64

static const char *check_key(lua_State *L, size_t *len) {
  const char *key = luaL_checklstring(L, 1, len);
  if (*len == 0) luaL_argerror(L, 1, "the key is empty");
  if (*len > SHARED_KEY_MAX) luaL_argerror(L, 1, "the key is longer than 65535 bytes");
  return key;
}

/* [-0, +1] The start of key, for an error message. */
static const char *key_excerpt(lua_State *L, const char *key, size_t len) {
  if (len <= KEY_EXCERPT) return lua_pushlstring(L, key, len);
  lua_pushlstring(L, key, KEY_EXCERPT);
  lua_pushliteral(L, "...");
  lua_concat(L, 2);
  return lua_tostring(L, -1);
}

static void check_number(lua_State *L, int arg, shared_value *v) {
  luaL_checktype(L, arg, LUA_TNUMBER);
  if (lua_isinteger(L, arg)) {
    v->type = SHARED_INTEGER;
    v->as.integer = lua_tointeger(L, arg);
  } else {
    v->type = SHARED_FLOAT;
    v->as.number = lua_tonumber(L, arg);
  }
}

static void check_value(lua_State *L, int arg, shared_value *v) {
  switch (lua_type(L, arg)) {
  case LUA_TNIL: v->type = SHARED_NIL; break;
  case LUA_TBOOLEAN:
    v->type = SHARED_BOOLEAN;
    v->as.boolean = lua_toboolean(L, arg);
    break;
  case LUA_TNUMBER: check_number(L, arg, v); break;
  case LUA_TSTRING:
    v->type = SHARED_STRING;
    v->as.string.data = lua_tolstring(L, arg, &v->as.string.len);
    break;
  default:
    luaL_typeerror(L, arg, "string, number, boolean or nil");
  }
}

static double check_ttl(lua_State *L, int arg) {
  double ttl = luaL_optnumber(L, arg, 0);
  if (!(ttl >= 0)) luaL_argerror(L, arg, "the ttl is seconds: 0 (for good) or more");
  return ttl;
}

/* [-0, +0, v] */
static int too_large(lua_State *L, const char *fn, const char *key, size_t klen, const shared_value *v) {
  return luaL_error(L, "shared.%s: the entry for '%s' would take %I bytes, more than the %I one entry may take",
                    fn, key_excerpt(L, key, klen), (lua_Integer)shared_entry_size(klen, v),
                    (lua_Integer)shared_entry_max());
}

/* [-0, +3] true, nil, forcible: what ngx.shared.DICT's set and add return. */
static int push_stored(lua_State *L, bool forcible) {
  lua_pushboolean(L, 1);
  lua_pushnil(L);
  lua_pushboolean(L, forcible);
  return 3;
}

/* [-0, +1] v; a string's bytes are in b, which it ends. */
static void push_value(lua_State *L, const shared_value *v, luaL_Buffer *b) {
  switch (v->type) {
  case SHARED_STRING: luaL_pushresultsize(b, v->as.string.len); break;
  case SHARED_INTEGER: lua_pushinteger(L, v->as.integer); break;
  case SHARED_FLOAT: lua_pushnumber(L, v->as.number); break;
  case SHARED_BOOLEAN: lua_pushboolean(L, v->as.boolean); break;
  default: lua_pushnil(L); break;
  }
}

/*
** shared.get(key) -> value, or nil when missing or expired
** [-0, +1, e] A string is copied into a Lua buffer with no lock held: when it
** does not fit, the buffer grows and the read is done again.
*/
static int lshared_get(lua_State *L) {
  size_t klen, size = LUAL_BUFFERSIZE;
  const char *key = check_key(L, &klen);
  luaL_Buffer b;
  char *buf = luaL_buffinitsize(L, &b, size);
  shared_value v;
  for (;;) {
    if (shared_get(key, klen, &v, buf, size) != SHARED_OK) {
      lua_pushnil(L);
      return 1;
    }
    if (v.type != SHARED_STRING || v.as.string.data != NULL) break;
    size = v.as.string.len;
    buf = luaL_prepbuffsize(&b, size);
  }
  push_value(L, &v, &b);
  return 1;
}

/* [-0, +3, e] set and add, named fn in errors */
static int set(lua_State *L, const char *fn, bool add) {
  size_t klen;
  const char *key = check_key(L, &klen);
  shared_value v;
  check_value(L, 2, &v);
  if (add && v.type == SHARED_NIL) luaL_argerror(L, 2, "a value to add, not nil");
  double ttl = check_ttl(L, 3);
  bool forcible;
  switch (shared_set(key, klen, &v, ttl, add, &forcible)) {
  case SHARED_OK: return push_stored(L, forcible);
  case SHARED_EXISTS:
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "exists");
    lua_pushboolean(L, 0);
    return 3;
  case SHARED_TOO_LARGE: return too_large(L, fn, key, klen, &v);
  default: return luaL_error(L, "shared.%s: out of memory", fn);
  }
}

/* shared.set(key, value [, ttl]) -> true, nil, forcible; a nil value deletes
** [-0, +3, e] */
static int lshared_set(lua_State *L) {
  return set(L, "set", false);
}

/* shared.add(key, value [, ttl]) -> true, nil, forcible; false, "exists", false when key has a value
** [-0, +3, e] */
static int lshared_add(lua_State *L) {
  return set(L, "add", true);
}

static const char *const type_names[] = {"nil", "boolean", "integer", "float", "string"};

/* shared.incr(key, n [, init]) -> the new value, nil, forcible; nil, "not found" when missing without init
** [-0, +(2|3), e] */
static int lshared_incr(lua_State *L) {
  size_t klen;
  const char *key = check_key(L, &klen);
  shared_value by, init, out;
  check_number(L, 2, &by);
  bool has_init = !lua_isnoneornil(L, 3);
  if (has_init) check_number(L, 3, &init);
  bool forcible;
  switch (shared_incr(key, klen, &by, has_init ? &init : NULL, &out, &forcible)) {
  case SHARED_OK:
    push_value(L, &out, NULL);
    lua_pushnil(L);
    lua_pushboolean(L, forcible);
    return 3;
  case SHARED_NOT_FOUND:
    lua_pushnil(L);
    lua_pushliteral(L, "not found");
    return 2;
  case SHARED_NOT_A_NUMBER:
    return luaL_error(L, "shared.incr: the value of '%s' is a %s, not a number", key_excerpt(L, key, klen),
                      type_names[out.type]);
  case SHARED_TOO_LARGE: return too_large(L, "incr", key, klen, &init);
  default: return luaL_error(L, "shared.incr: out of memory");
  }
}

/* shared.delete(key)  [-0, +0, e] */
static int lshared_delete(lua_State *L) {
  size_t klen;
  const char *key = check_key(L, &klen);
  shared_delete(key, klen);
  return 0;
}

static const luaL_Reg functions[] = {
  {"get", lshared_get},
  {"set", lshared_set},
  {"add", lshared_add},
  {"incr", lshared_incr},
  {"delete", lshared_delete},
  {NULL, NULL},
};

/* [-0, +1, m] */
int luaopen_shared(lua_State *L) {
  luaL_newlib(L, functions);
  return 1;
}
