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

#include "log.h"
#include "schema.h"
#include "scripts.h"

#define DIRLIST_MT "host.dirlist"

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

/* The service a script serves: its `service` field, else its file name; NULL to serve none. */
static const schema_service *service_of(lua_State *L, const schema *s, const char *file,
                                        const char *stem, int warn) {
  if (lua_getfield(L, -1, "service") != LUA_TNIL) {
    const char *name = lua_tostring(L, -1);
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "%s: field 'service' must be a string", file);
    const schema_service *svc = schema_find_service(s, name);
    if (svc == NULL) luaL_error(L, "%s: service '%s' is not in any protoset", file, name);
    lua_pop(L, 1);
    return svc;
  }
  lua_pop(L, 1);
  const schema_service *found = NULL;
  for (size_t i = 0; i < schema_service_count(s); i++) {
    const schema_service *svc = schema_service_at(s, i);
    if (strcasecmp(svc->name, stem) != 0) continue;
    if (found != NULL)
      luaL_error(L, "%s: both %s and %s match the file name; say which with service = \"...\"",
                 file, found->full_name, svc->full_name);
    found = svc;
  }
  if (found == NULL && warn)
    log_line(LOG_WARN, "script serves no service: no protoset has a service of that name",
             "script", file, "hint", "rename the file or set service = \"pkg.Service\"", NULL);
  return found;
}

static const schema_method *method_named(const schema_service *svc, const char *name) {
  for (size_t i = 0; i < svc->n_methods; i++)
    if (strcmp(svc->methods[i].name, name) == 0) return &svc->methods[i];
  return NULL;
}

/* [-0, +0] Every function in the script's table [-1] must be a method of svc. */
static void check_functions(lua_State *L, const schema_service *svc, const char *file) {
  lua_pushnil(L);
  while (lua_next(L, -2)) {
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

/* [-0, +0] Puts the script's [-1] handlers into the handlers table at h; served (h + 1) maps services to scripts. */
static void add_handlers(lua_State *L, int h, const schema_service *svc, const char *file) {
  if (lua_getfield(L, h + 1, svc->full_name) == LUA_TSTRING)
    luaL_error(L, "%s: %s is served by %s already", file, svc->full_name, lua_tostring(L, -1));
  lua_pop(L, 1);
  lua_pushstring(L, file);
  lua_setfield(L, h + 1, svc->full_name);
  for (size_t i = 0; i < svc->n_methods; i++) {
    const schema_method *m = &svc->methods[i];
    if (lua_getfield(L, -1, m->name) == LUA_TFUNCTION) lua_rawseti(L, h, (lua_Integer)m->index + 1);
    else lua_pop(L, 1);
  }
}

/* [-0, +0] Runs one script and registers what it serves in the handlers table at h. */
static void load_script(lua_State *L, const schema *s, int h, const char *dir, const char *name,
                        int warn) {
  const char *file = lua_pushfstring(L, "%s/%s", dir, name);
  const char *stem = lua_pushlstring(L, name, strlen(name) - 4);
  if (luaL_loadfilex(L, file, "t") != LUA_OK) lua_error(L);
  lua_call(L, 0, 1);
  if (!lua_istable(L, -1))
    luaL_error(L, "%s: must return a table of handler functions, got %s", file, luaL_typename(L, -1));
  const schema_service *svc = service_of(L, s, file, stem, warn);
  if (svc != NULL) {
    check_functions(L, svc, file);
    add_handlers(L, h, svc, file);
  }
  lua_pop(L, 3);
}

int scripts_load(lua_State *L) {
  const schema *s = lua_touserdata(L, 1);
  const char *dir = luaL_checkstring(L, 2);
  int warn = lua_toboolean(L, 3);
  dirlist *d = list_scripts(L, dir);
  lua_createtable(L, (int)schema_method_count(s), 0);
  int h = lua_gettop(L);
  lua_newtable(L);
  for (int i = 0; i < d->n; i++) load_script(L, s, h, dir, d->entries[i]->d_name, warn);
  lua_pop(L, 1);
  return 1;
}
