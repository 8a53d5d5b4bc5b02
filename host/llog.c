/*
** llog.c
** The `log` library and `print`: records in the host's format (log.h) from
** scripts, with the method and request id of the call whose handler writes
** them.
*/
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "llog.h"

#define FIELDS_MAX 32
#define FIELD_NAME_MAX 64

static const char *const level_names[] = {"info", "warn", "error"};

/* Every record has these already. */
static const char *const reserved[] = {"ts", "level", "msg", "method", "request_id"};

static llog_context call_fields;

void llog_set_context(llog_context f) {
  call_fields = f;
}

static void add_call_fields(lua_State *L, log_record *r) {
  if (call_fields != NULL) call_fields(L, r);
}

/* [A-Za-z_][A-Za-z0-9_.-]*: logfmt writes keys bare, and JSON ones need no escapes. */
static bool valid_name(const char *s, size_t len) {
  if (len == 0 || len > FIELD_NAME_MAX) return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool other = (c >= '0' && c <= '9') || c == '.' || c == '-';
    if (!letter && !(other && i > 0)) return false;
  }
  return true;
}

/* [-0, +0, v] The name of the field whose key is at idx. */
static const char *check_name(lua_State *L, int idx, const char *fn) {
  if (lua_type(L, idx) != LUA_TSTRING)
    luaL_error(L, "log.%s: field names are strings, got a %s", fn, luaL_typename(L, idx));
  size_t len;
  const char *name = lua_tolstring(L, idx, &len);
  if (!valid_name(name, len))
    luaL_error(L, "log.%s: field name '%s' is not letters, digits, '_', '.' and '-' starting with a letter "
               "or '_', at most %d of them", fn, len > FIELD_NAME_MAX ? "(too long)" : name, FIELD_NAME_MAX);
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
    if (strcmp(name, reserved[i]) == 0)
      luaL_error(L, "log.%s: field name '%s' is the record's own", fn, name);
  return name;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
** [-0, +0, v] The names of the fields table at idx, checked, sorted, into
** names; their strings live as long as the table. Returns how many.
*/
static size_t check_fields(lua_State *L, int idx, const char *fn, const char **names) {
  size_t n = 0;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    const char *name = check_name(L, -2, fn);
    int t = lua_type(L, -1);
    if (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN)
      luaL_error(L, "log.%s: field '%s' is a %s; fields are strings, numbers or booleans", fn, name,
                 luaL_typename(L, -1));
    if (n == FIELDS_MAX) luaL_error(L, "log.%s: more than %d fields", fn, FIELDS_MAX);
    names[n++] = name;
    lua_pop(L, 1);
  }
  qsort(names, n, sizeof *names, by_name);
  return n;
}

/* [-0, +0, -] The value at the top of L as field name of r. */
static void add_field(lua_State *L, log_record *r, const char *name) {
  size_t len;
  switch (lua_type(L, -1)) {
  case LUA_TNUMBER:
    if (lua_isinteger(L, -1)) log_integer(r, name, lua_tointeger(L, -1));
    else log_number(r, name, lua_tonumber(L, -1));
    break;
  case LUA_TBOOLEAN: log_boolean(r, name, lua_toboolean(L, -1)); break;
  default: {
    const char *s = lua_tolstring(L, -1, &len);
    log_bytes(r, name, s, len);
    break;
  }
  }
}

/* [-0, +0, v] log.LEVEL(msg [, fields]) */
static int write_record(lua_State *L, log_level level) {
  const char *fn = level_names[level];
  size_t len;
  const char *msg = luaL_checklstring(L, 1, &len);
  const char *names[FIELDS_MAX];
  size_t n = lua_isnoneornil(L, 2) ? 0 : check_fields(L, 2, fn, names);
  log_record r;
  log_begin(&r, level, msg, len);
  add_call_fields(L, &r);
  for (size_t i = 0; i < n; i++) {
    lua_getfield(L, 2, names[i]);
    add_field(L, &r, names[i]);
    lua_pop(L, 1);
  }
  log_end(&r);
  return 0;
}

/* log.info(msg [, fields])  [-0, +0, v] */
static int llog_info(lua_State *L) {
  return write_record(L, LOG_INFO);
}

/* log.warn(msg [, fields])  [-0, +0, v] */
static int llog_warn(lua_State *L) {
  return write_record(L, LOG_WARN);
}

/* log.error(msg [, fields])  [-0, +0, v] */
static int llog_error(lua_State *L) {
  return write_record(L, LOG_ERROR);
}

/*
** print(...): a log.info record whose message is the arguments as tostring
** shows them, separated by tabs, as Lua's print writes them.
** [-0, +0, e]
*/
static int llog_print(lua_State *L) {
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_tolstring(L, i, NULL);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  size_t len;
  const char *msg = lua_tolstring(L, -1, &len);
  log_record r;
  log_begin(&r, LOG_INFO, msg, len);
  add_call_fields(L, &r);
  log_end(&r);
  return 0;
}

static const luaL_Reg functions[] = {
  {"info", llog_info},
  {"warn", llog_warn},
  {"error", llog_error},
  {NULL, NULL},
};

/* [-0, +1, m] The log table; also replaces the global print. */
int luaopen_log(lua_State *L) {
  lua_pushcfunction(L, llog_print);
  lua_setglobal(L, "print");
  luaL_newlib(L, functions);
  return 1;
}
