/*
** lsandbox.c
** The standard libraries less what lets a script leave its sandbox. The
** originals of load, loadfile and dofile stay as upvalues of their
** replacements, which only ever load text from under the scripts directory;
** those of io.open, io.lines, io.input, io.output, os.remove and os.rename
** likewise, reached only for paths under the directories of --files.
*/
#define _DEFAULT_SOURCE             /* realpath */

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/*
** {======================================================
** Files: --files DIR[:ro|:rw],... Each wrapper has three upvalues: the
** original function, the rules (an array of {path = resolved dir, write =
** boolean}) and their description for errors.
** =======================================================
*/

#define DEFAULT_WRITABLE "/tmp"

/*
** The absolute path name stands for, symlinks and '..' resolved: the file's
** own if it exists, else its directory's plus its last component (a file to
** create). NULL, or why not: neither resolves, or name is a dangling symlink
** (a write would create its target wherever it points).
*/
static const char *resolve(const char *name, char out[PATH_MAX]) {
  if (realpath(name, out) != NULL) return NULL;
  struct stat st;
  if (errno != ENOENT) return strerror(errno);
  if (lstat(name, &st) == 0) return "a symbolic link to nothing";
  const char *slash = strrchr(name, '/');
  const char *base = slash ? slash + 1 : name;
  char dir[PATH_MAX];
  if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) return "not a file name";
  int n = slash == NULL ? snprintf(dir, sizeof dir, ".")
                        : snprintf(dir, sizeof dir, "%.*s", slash == name ? 1 : (int)(slash - name), name);
  if (n < 0 || (size_t)n >= sizeof dir) return strerror(ENAMETOOLONG);
  if (realpath(dir, out) == NULL) return strerror(errno);
  size_t len = strlen(out);
  n = snprintf(out + len, PATH_MAX - len, "%s%s", len > 1 ? "/" : "", base);
  return n >= 0 && (size_t)n < PATH_MAX - len ? NULL : strerror(ENAMETOOLONG);
}

static bool under(const char *path, const char *dir) {
  size_t n = strlen(dir);
  if (n == 1 && dir[0] == '/') return true;
  return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* [-0, +0] Whether a rule lets path be read, or written when write. */
static bool permitted(lua_State *L, const char *path, bool write) {
  int rules = lua_upvalueindex(2);
  bool ok = false;
  for (lua_Integer i = 1; !ok && i <= (lua_Integer)lua_rawlen(L, rules); i++) {
    lua_rawgeti(L, rules, i);
    lua_getfield(L, -1, "path");
    lua_getfield(L, -2, "write");
    ok = under(path, lua_tostring(L, -2)) && (!write || lua_toboolean(L, -1));
    lua_pop(L, 3);
  }
  return ok;
}

/*
** [-0, +0 | +1] Replaces argument arg, a path, by its resolved form when
** --files lets the script reach it; else pushes why not and returns false.
*/
static bool check_path(lua_State *L, int arg, bool write) {
  const char *name = luaL_checkstring(L, arg);
  char path[PATH_MAX];
  const char *unresolved = resolve(name, path);
  if (unresolved != NULL) {
    lua_pushfstring(L, "%s: %s", name, unresolved);
    return false;
  }
  if (permitted(L, path, write)) {
    lua_pushstring(L, path);
    lua_replace(L, arg);
    return true;
  }
  if (write && permitted(L, path, false))
    lua_pushfstring(L, "%s: --files lets scripts only read there (%s); DIR:rw in --files lets them write",
                    name, lua_tostring(L, lua_upvalueindex(3)));
  else
    lua_pushfstring(L, "%s: outside the directories --files lets scripts reach (%s)", name,
                    lua_tostring(L, lua_upvalueindex(3)));
  return false;
}

/* [-0, +?] Calls the original with the arguments as they are now. */
static int call_original(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* [-0, +2] The nil, message pair that io.open and os.remove return on failure. */
static int refused(lua_State *L) {
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

/* io.open(name [, mode]) */
static int files_open(lua_State *L) {
  const char *mode = luaL_optstring(L, 2, "r");
  if (!check_path(L, 1, strpbrk(mode, "wa+") != NULL)) return refused(L);
  return call_original(L);
}

/* io.lines([name, ...]): raises when refused, as io.lines does when it cannot open */
static int files_lines(lua_State *L) {
  if (!lua_isnoneornil(L, 1) && !check_path(L, 1, false)) return lua_error(L);
  return call_original(L);
}

/* io.input([file | name]) */
static int files_input(lua_State *L) {
  if (lua_type(L, 1) == LUA_TSTRING && !check_path(L, 1, false)) return lua_error(L);
  return call_original(L);
}

/* io.output([file | name]) */
static int files_output(lua_State *L) {
  if (lua_type(L, 1) == LUA_TSTRING && !check_path(L, 1, true)) return lua_error(L);
  return call_original(L);
}

/* os.remove(name) */
static int files_remove(lua_State *L) {
  if (!check_path(L, 1, true)) return refused(L);
  return call_original(L);
}

/* os.rename(from, to) */
static int files_rename(lua_State *L) {
  if (!check_path(L, 1, true) || !check_path(L, 2, true)) return refused(L);
  return call_original(L);
}

/* [-0, +0] Appends the rule {path = DIR resolved, write = ...} to the rules at idx and to the description b. */
static void add_rule(lua_State *L, int idx, luaL_Buffer *b, const char *dir, size_t len, bool write) {
  char given[PATH_MAX], path[PATH_MAX];
  snprintf(given, sizeof given, "%.*s", (int)len, dir);
  lua_createtable(L, 0, 2);
  lua_pushstring(L, realpath(given, path) ? path : given);   /* a missing directory holds nothing */
  lua_setfield(L, -2, "path");
  lua_pushboolean(L, write);
  lua_setfield(L, -2, "write");
  lua_rawseti(L, idx, luaL_len(L, idx) + 1);
  if (luaL_bufflen(b) > 0) luaL_addstring(b, ", ");
  luaL_addlstring(b, given, strlen(given));
  luaL_addstring(b, write ? " read-write" : " read-only");
}

/* [-0, +2] The rules of --files (checked by config.c) and their description; NULL: the default. */
static void push_rules(lua_State *L, const char *scripts_dir, const char *files) {
  lua_newtable(L);
  int rules = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (files == NULL) {
    add_rule(L, rules, &b, scripts_dir, strlen(scripts_dir), false);
    add_rule(L, rules, &b, DEFAULT_WRITABLE, strlen(DEFAULT_WRITABLE), true);
  }
  for (const char *p = files ? files : ""; *p != '\0';) {
    size_t len = strcspn(p, ",");
    const char *colon = memchr(p, ':', len);
    add_rule(L, rules, &b, p, colon ? (size_t)(colon - p) : len, colon && colon[2] == 'w');
    p += len + (p[len] == ',');
  }
  if (luaL_bufflen(&b) == 0) luaL_addstring(&b, "none: --files is empty");
  luaL_pushresult(&b);
}

/* [-2, +0] Wraps table.field with f, whose upvalues are the original and the two values on top. */
static void wrap_file_function(lua_State *L, const char *table, const char *field, lua_CFunction f) {
  lua_getglobal(L, table);
  lua_getfield(L, -1, field);
  lua_pushvalue(L, -4);
  lua_pushvalue(L, -4);
  lua_pushcclosure(L, f, 3);
  lua_setfield(L, -2, field);
  lua_pop(L, 1);
}

static void limit_files(lua_State *L, const char *scripts_dir, const char *files) {
  push_rules(L, scripts_dir, files);
  wrap_file_function(L, "io", "open", files_open);
  wrap_file_function(L, "io", "lines", files_lines);
  wrap_file_function(L, "io", "input", files_input);
  wrap_file_function(L, "io", "output", files_output);
  wrap_file_function(L, "os", "remove", files_remove);
  wrap_file_function(L, "os", "rename", files_rename);
  lua_pop(L, 2);
}

/* }====================================================== */

void lsandbox_open(lua_State *L, const char *dir, const char *files) {
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
  limit_files(L, dir, files);
}
