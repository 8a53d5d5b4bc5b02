/*
** scripts.c
** DIR/NAME.lua returns a table of handler functions and serves the service
** whose simple name is NAME ignoring case, or the one its `service` field names.
** Everything here runs in protected mode: an error names the script.
*/
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>
#include <lualib.h>

#include "embedded.h"
#include "guard.h"
#include "lbuiltin.h"
#include "log.h"
#include "lsandbox.h"
#include "scripts.h"

#define DIRLIST_MT "host.dirlist"
#define LIST_MAX 1024

/* scandir's result in a userdata, so an error while loading frees it. */
typedef struct dirlist {
  struct dirent **entries;
  int n;
} dirlist;

static int dirlist_gc(lua_State *L) {
  dirlist *d = luaL_checkudata(L, 1, DIRLIST_MT);
  for (int i = 0; i < d->n; i++) free(d->entries[i]);
  free(d->entries);
  d->entries = NULL;
  d->n = 0;
  return 0;
}

static int is_script(const struct dirent *e) {
  size_t len = strlen(e->d_name);
  return e->d_name[0] != '.' && len > 4 && strcmp(e->d_name + len - 4, ".lua") == 0;
}

/* [-0, +1] The *.lua files of dir, sorted. */
static dirlist *list_scripts(lua_State *L, const char *dir) {
  dirlist *d = lua_newuserdatauv(L, sizeof *d, 0);
  d->entries = NULL;
  d->n = 0;
  if (luaL_newmetatable(L, DIRLIST_MT)) {
    lua_pushcfunction(L, dirlist_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  d->n = scandir(dir, &d->entries, is_script, alphasort);
  if (d->n < 0) {
    d->n = 0;
    luaL_error(L, "scripts directory '%s' cannot be read", dir);
  }
  return d;
}

/* The protosets loaded, for a warning's reader to check the .proto made it into one. */
static const char *loaded_protosets(lua_State *L, char *list, size_t size) {
  const config *cfg = lvm_of(L)->cfg;
  list[0] = '\0';
  for (size_t i = 0; i < cfg->n_protosets; i++) log_append(list, size, cfg->protosets[i]);
  return list;
}

/* The service named in a script's `service` field; NULL, with a warning, when no protoset has it. */
static const schema_service *named_service(lua_State *L, const schema *s, const char *file, int idx,
                                           int warn) {
  char protosets[LIST_MAX];
  if (lua_type(L, idx) != LUA_TSTRING)
    luaL_error(L, "%s: 'service' must be a service name or an array of them", file);
  const schema_service *svc = schema_find_service(s, lua_tostring(L, idx));
  if (svc == NULL && warn)
    log_line(LOG_WARN, "script serves no service: no protoset has the service it names", "script", file,
             "service", lua_tostring(L, idx), "protosets", loaded_protosets(L, protosets, sizeof protosets),
             "hint", "is its .proto in proto/ and built (./bootstrap.sh build), or misspelt here?", NULL);
  return svc;
}

/* The service whose simple name is the file's name, ignoring case; NULL when none is. */
static const schema_service *stem_service(lua_State *L, const schema *s, const char *file,
                                          const char *stem, int warn) {
  const schema_service *found = NULL;
  for (size_t i = 0; i < schema_service_count(s); i++) {
    const schema_service *svc = schema_service_at(s, i);
    if (strcasecmp(svc->name, stem) != 0) continue;
    if (found != NULL)
      luaL_error(L, "%s: both %s and %s match the file name; say which with service = \"...\"",
                 file, found->full_name, svc->full_name);
    found = svc;
  }
  char protosets[LIST_MAX];
  if (found == NULL && warn)
    log_line(LOG_WARN, "script serves no service: no protoset has a service of that name",
             "script", file, "protosets", loaded_protosets(L, protosets, sizeof protosets),
             "hint", "is the service's .proto in proto/ and built (./bootstrap.sh build)? "
             "Else rename the file or set service = \"pkg.Service\"", NULL);
  return found;
}

static const schema_method *method_named(const schema_service *svc, const char *name) {
  for (size_t i = 0; i < svc->n_methods; i++)
    if (strcmp(svc->methods[i].name, name) == 0) return &svc->methods[i];
  return NULL;
}

/* [-0, +0] Every function in the script's table t must be a method of svc. */
static void check_functions(lua_State *L, int t, const schema_service *svc, const char *file) {
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -1) == LUA_TFUNCTION) {
      const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
      if (name == NULL || method_named(svc, name) == NULL) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (size_t i = 0; i < svc->n_methods; i++) {
          if (i) luaL_addstring(&b, ", ");
          luaL_addstring(&b, svc->methods[i].name);
        }
        luaL_pushresult(&b);
        luaL_error(L, "%s: '%s' is not a method of %s (its methods: %s); make it local",
                   file, name ? name : luaL_typename(L, -2), svc->full_name, lua_tostring(L, -1));
      }
    }
    lua_pop(L, 1);
  }
}

/*
** [-0, +0] Puts the handlers of the script's table t for svc into the handlers
** table at h; served (h + 1) maps services to scripts. A user's script serves a
** service once; a built-in one gives way to a user's.
*/
static void serve(lua_State *L, int h, int t, const schema_service *svc, const char *file, int builtin) {
  int taken = lua_getfield(L, h + 1, svc->full_name) == LUA_TSTRING;
  if (taken && !builtin)
    luaL_error(L, "%s: %s is served by %s already", file, svc->full_name, lua_tostring(L, -1));
  lua_pop(L, 1);
  if (taken) return;
  check_functions(L, t, svc, file);
  lua_pushstring(L, file);
  lua_setfield(L, h + 1, svc->full_name);
  for (size_t i = 0; i < svc->n_methods; i++) {
    const schema_method *m = &svc->methods[i];
    if (lua_getfield(L, t, m->name) == LUA_TFUNCTION) lua_rawseti(L, h, (lua_Integer)m->index + 1);
    else lua_pop(L, 1);
  }
}

/*
** [-1, +0] Registers the script's table on top for what it serves: its `service`
** field (a name, or an array of names), else the service its file stem names.
*/
static void register_script(lua_State *L, const schema *s, int h, const char *file,
                            const char *stem, int warn, int builtin) {
  int t = lua_gettop(L);
  if (!lua_istable(L, t))
    luaL_error(L, "%s: must return a table of handler functions, got %s", file, luaL_typename(L, t));
  int type = lua_getfield(L, t, "service");
  if (type == LUA_TTABLE) {
    for (lua_Integer i = 1; lua_rawgeti(L, t + 1, i) != LUA_TNIL; i++) {
      const schema_service *svc = named_service(L, s, file, -1, warn);
      if (svc != NULL) serve(L, h, t, svc, file, builtin);
      lua_pop(L, 1);
    }
  } else if (type != LUA_TNIL) {
    const schema_service *svc = named_service(L, s, file, -1, warn);
    if (svc != NULL) serve(L, h, t, svc, file, builtin);
  } else {
    const schema_service *svc = stem_service(L, s, file, stem, warn);
    if (svc != NULL) serve(L, h, t, svc, file, builtin);
  }
  lua_settop(L, t - 1);
}

/* [-0, +0] Runs one script and registers what it serves in the handlers table at h. */
static void load_script(lua_State *L, const schema *s, int h, const char *dir, const char *name,
                        int warn) {
  const char *file = lua_pushfstring(L, "%s/%s", dir, name);
  const char *stem = lua_pushlstring(L, name, strlen(name) - 4);
  if (luaL_loadfilex(L, file, "t") != LUA_OK) lua_error(L);
  lua_call(L, 0, 1);
  register_script(L, s, h, file, stem, warn, 0);
  lua_pop(L, 2);
}

/* [-6, +0] In protected mode: [vm handlers served dir name warn] loads one script. */
static int load_one(lua_State *L) {
  lvm *vm = lua_touserdata(L, 1);
  load_script(L, vm->schema, 2, lua_tostring(L, 4), lua_tostring(L, 5), lua_toboolean(L, 6));
  return 0;
}

/* [-0, +0, error] Raises the errors in the array at idx, one a line, if there are any. */
static void raise_all(lua_State *L, int idx) {
  lua_Integer n = luaL_len(L, idx);
  if (n == 0) return;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (lua_Integer i = 1; i <= n; i++) {
    if (i > 1) luaL_addchar(&b, '\n');
    lua_rawgeti(L, idx, i);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  lua_error(L);
}

/* [-0, +0] The built-in services' scripts, given the `host` table, for what no user script serves. */
static void load_builtins(lua_State *L, lvm *vm, int h) {
  for (const embedded_file *f = builtin_scripts; f->name != NULL; f++) {
    const char *chunk = lua_pushfstring(L, "=builtin/%s", f->name);
    if (luaL_loadbufferx(L, (const char *)f->data, f->size, chunk, "t") != LUA_OK) lua_error(L);
    lbuiltin_push(L, vm);
    lua_call(L, 1, 1);
    register_script(L, vm->schema, h, chunk + 1, "", 0, 1);
    lua_pop(L, 1);
  }
}

/* [-0, +1] The handler table of vm's scripts in dir: method index + 1 -> function. */
static void load_scripts(lua_State *L, lvm *vm, const char *dir, int warn) {
  dirlist *d = list_scripts(L, dir);
  lua_createtable(L, (int)schema_method_count(vm->schema), 0);
  int h = lua_gettop(L);
  lua_newtable(L);                  /* served, at h + 1 */
  lua_newtable(L);                  /* errors, at h + 2: every broken script is named, not just the first */
  for (int i = 0; i < d->n; i++) {
    lua_pushcfunction(L, load_one);
    lua_pushlightuserdata(L, vm);
    lua_pushvalue(L, h);
    lua_pushvalue(L, h + 1);
    lua_pushstring(L, dir);
    lua_pushstring(L, d->entries[i]->d_name);
    lua_pushboolean(L, warn);
    if (lua_pcall(L, 6, 0, 0) != LUA_OK) lua_rawseti(L, h + 2, luaL_len(L, h + 2) + 1);
  }
  raise_all(L, h + 2);
  load_builtins(L, vm, h);
  lua_pop(L, 2);
  lua_remove(L, h - 1);             /* the dirlist */
}

/* Where scripts `require` from: the scripts directory, nothing else. */
static void set_package_paths(lua_State *L, const char *dir) {
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", dir, dir);
  lua_setfield(L, -2, "path");
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  lua_pop(L, 1);
}

typedef struct loading {
  lvm *vm;
  const luaL_Reg *libs;
  bool warn;
} loading;

/* [-1, +0] In protected mode: [loading] opens the libraries and loads the scripts. */
static int init_state(lua_State *L) {
  const loading *ld = lua_touserdata(L, 1);
  const config *cfg = ld->vm->cfg;
  luaL_openlibs(L);
  guard_watch_coroutines(L);
  if (!cfg->unsafe_lua) lsandbox_open(L, cfg->scripts_dir, cfg->files);
  lvm_open_libs(L, ld->libs);
  set_package_paths(L, cfg->scripts_dir);
  load_scripts(L, ld->vm, cfg->scripts_dir, ld->warn);
  lvm_set_handlers(ld->vm, L);
  return 0;
}

lvm *scripts_new_state(schema *s, const config *cfg, const luaL_Reg *libs, bool warn,
                       char *err, size_t errlen) {
  lvm *vm = lvm_new(s, cfg, err, errlen);
  if (vm == NULL) return NULL;
  loading ld = {vm, libs, warn};
  if (lvm_run(vm, init_state, &ld, err, errlen) == 0) return vm;
  lvm_free(vm);
  return NULL;
}
