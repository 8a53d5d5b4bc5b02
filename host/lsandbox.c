/*
** lsandbox.c
** The standard libraries less what lets a script leave its sandbox. The
** originals of load, loadfile and dofile stay as upvalues of their
** replacements, which only ever load text from under the scripts directory.
*/
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lsandbox.h"

/* Global tables and the fields removed from them. */
static const char *const removed[][2] = {
  {"os", "execute"}, {"os", "exit"}, {"io", "popen"},
  {"package", "loadlib"}, {"package", "cpath"}};

static void remove_field(lua_State *L, const char *table, const char *field) {
  if (lua_getglobal(L, table) == LUA_TTABLE) {
    lua_pushnil(L);
    lua_setfield(L, -2, field);
  }
  lua_pop(L, 1);
}

/* Only package.preload and the Lua searcher: no C modules from anywhere. */
static void lua_searchers_only(lua_State *L) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  for (lua_Integer i = luaL_len(L, -1); i > 2; i--) {
    lua_pushnil(L);
    lua_rawseti(L, -2, i);
  }
  lua_pop(L, 2);
}

/* [-0, +1] The path of a script file from its name relative to the scripts directory (upvalue 2). */
static const char *script_path(lua_State *L, int arg) {
  const char *name = luaL_checkstring(L, arg);
  if (name[0] == '/' || strstr(name, "..") != NULL)
    luaL_argerror(L, arg, "must be a path inside the scripts directory, without '..'");
  return lua_pushfstring(L, "%s/%s", lua_tostring(L, lua_upvalueindex(2)), name);
}

/* load(chunk [, chunkname [, mode [, env]]]): text only, whatever mode says */
static int sandbox_load(lua_State *L) {
  int has_env = lua_gettop(L) >= 4;   /* an env given as nil is still an env */
  lua_settop(L, 4);
  lua_pushliteral(L, "t");
  lua_replace(L, 3);
  if (!has_env) lua_settop(L, 3);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* loadfile(name [, mode [, env]]): a text file under the scripts directory */
static int sandbox_loadfile(lua_State *L) {
  int nargs = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  script_path(L, 1);
  lua_pushliteral(L, "t");
  if (nargs >= 3) lua_pushvalue(L, 3);
  lua_call(L, nargs >= 3 ? 3 : 2, LUA_MULTRET);
  return lua_gettop(L) - nargs;
}

static int dofile_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  return lua_gettop(L) - 1;
}

/* dofile(name): runs a text file under the scripts directory */
static int sandbox_dofile(lua_State *L) {
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  script_path(L, 1);
  lua_pushliteral(L, "t");
  lua_call(L, 2, 2);
  if (lua_isnil(L, -2)) return lua_error(L);
  lua_pop(L, 1);
  lua_callk(L, 0, LUA_MULTRET, 0, dofile_k);
  return dofile_k(L, LUA_OK, 0);
}

/* Replaces global name by f, with the original (and dir, when given) as upvalues. */
static void wrap(lua_State *L, const char *name, lua_CFunction f, const char *original, const char *dir) {
  lua_getglobal(L, original);
  int n = 1;
  if (dir != NULL) {
    lua_pushstring(L, dir);
    n = 2;
  }
  lua_pushcclosure(L, f, n);
  lua_setglobal(L, name);
}

void lsandbox_open(lua_State *L, const char *dir) {
  for (size_t i = 0; i < sizeof removed / sizeof removed[0]; i++)
    remove_field(L, removed[i][0], removed[i][1]);
  lua_pushnil(L);
  lua_setglobal(L, "debug");
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  lua_setfield(L, -2, "debug");
  lua_pop(L, 1);
  lua_searchers_only(L);
  wrap(L, "dofile", sandbox_dofile, "loadfile", dir);   /* before loadfile is replaced */
  wrap(L, "loadfile", sandbox_loadfile, "loadfile", dir);
  wrap(L, "load", sandbox_load, "load", NULL);
}
