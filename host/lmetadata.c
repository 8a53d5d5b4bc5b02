/*
** lmetadata.c
** Metadata tables.
*/
#include <lauxlib.h>

#include "lmetadata.h"

#define LIST_MT "grpc.metadata_list"
#define ERR_MAX 256

static void push_slice(lua_State *L, grpc_slice s) {
  lua_pushlstring(L, (const char *)GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
}

void lmetadata_push(lua_State *L, const grpc_metadata_array *md) {
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

static int list_gc(lua_State *L) {
  metadata_free(luaL_checkudata(L, 1, LIST_MT));
  return 0;
}

metadata_list *lmetadata_new(lua_State *L) {
  metadata_list *list = lua_newuserdatauv(L, sizeof *list, 0);
  list->items = NULL;
  list->n = list->cap = 0;
  if (luaL_newmetatable(L, LIST_MT)) {
    lua_pushcfunction(L, list_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return list;
}

void lmetadata_add_table(lua_State *L, int idx, metadata_list *list, const char *what) {
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "%s: metadata keys and values must be strings, got %s = %s", what,
                 luaL_typename(L, -2), luaL_typename(L, -1));
    size_t klen, vlen;
    const char *key = lua_tolstring(L, -2, &klen);
    const char *value = lua_tolstring(L, -1, &vlen);
    char err[ERR_MAX];
    if (metadata_add(list, key, klen, value, vlen, err, sizeof err)) luaL_error(L, "%s: %s", what, err);
    lua_pop(L, 1);
  }
}
