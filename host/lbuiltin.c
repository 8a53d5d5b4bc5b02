/*
** lbuiltin.c
** The `host` table of the built-in services. Reflection: the services with a
** handler, and FileDescriptorProtos of the loaded descriptor sets, serialized
** again with protobuf-c, each with the files it imports. Health: a service's
** serving status, and whether the host drains.
*/
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "health.h"
#include "lbuiltin.h"
#include "lvm.h"

typedef Google__Protobuf__FileDescriptorProto FileProto;
typedef Google__Protobuf__DescriptorProto MessageProto;
typedef Google__Protobuf__EnumDescriptorProto EnumProto;

#define NAME_MAX_LEN 512

static lvm *vm_of(lua_State *L) {
  return lua_touserdata(L, lua_upvalueindex(1));
}

/* host.services() -> the names of the services that have a handler */
static int lbuiltin_services(lua_State *L) {
  const lvm *vm = vm_of(L);
  lua_newtable(L);
  lua_Integer n = 0;
  for (size_t i = 0; i < schema_service_count(vm->schema); i++) {
    const schema_service *svc = schema_service_at(vm->schema, i);
    for (size_t j = 0; j < svc->n_methods; j++) {
      if (!lvm_has_handler(vm, &svc->methods[j])) continue;
      lua_pushstring(L, svc->full_name);
      lua_rawseti(L, -2, ++n);
      break;
    }
  }
  return 1;
}

/* full = scope.name (or name at the top of a package-less file); false when it does not fit. */
static bool qualify(char full[NAME_MAX_LEN], const char *scope, const char *name) {
  int n = snprintf(full, NAME_MAX_LEN, "%s%s%s", scope, *scope ? "." : "", name);
  return n >= 0 && n < NAME_MAX_LEN;
}

static bool named(const char *symbol, const char *scope, const char *name) {
  char full[NAME_MAX_LEN];
  return qualify(full, scope, name) && strcmp(full, symbol) == 0;
}

static bool enums_have(EnumProto *const *es, size_t n, const char *scope, const char *symbol) {
  for (size_t i = 0; i < n; i++)
    if (named(symbol, scope, es[i]->name)) return true;
  return false;
}

/* Whether symbol is one of the messages (or their nested types) in scope. */
static bool messages_have(MessageProto *const *ms, size_t n, const char *scope, const char *symbol) {
  for (size_t i = 0; i < n; i++) {
    char full[NAME_MAX_LEN];
    if (!qualify(full, scope, ms[i]->name)) continue;
    if (strcmp(full, symbol) == 0 ||
        enums_have(ms[i]->enum_type, ms[i]->n_enum_type, full, symbol) ||
        messages_have(ms[i]->nested_type, ms[i]->n_nested_type, full, symbol))
      return true;
  }
  return false;
}

/* Whether file f defines symbol: a message, an enum, a service or a service's method. */
static bool defines(const FileProto *f, const char *symbol) {
  const char *pkg = f->package ? f->package : "";
  if (messages_have(f->message_type, f->n_message_type, pkg, symbol) ||
      enums_have(f->enum_type, f->n_enum_type, pkg, symbol))
    return true;
  for (size_t i = 0; i < f->n_service; i++) {
    char full[NAME_MAX_LEN];
    if (!qualify(full, pkg, f->service[i]->name)) continue;
    if (strcmp(full, symbol) == 0) return true;
    for (size_t j = 0; j < f->service[i]->n_method; j++)
      if (named(symbol, full, f->service[i]->method[j]->name)) return true;
  }
  return false;
}

static const FileProto *file_named(const schema *s, const char *name) {
  for (size_t i = 0; i < schema_file_count(s); i++)
    if (strcmp(schema_file_at(s, i)->name, name) == 0) return schema_file_at(s, i);
  return NULL;
}

/* [-0, +0] Appends f, serialized, to the array at -2 unless the set at -1 has it; then its imports. */
static void add_file(lua_State *L, const schema *s, const FileProto *f) {
  if (lua_getfield(L, -1, f->name) != LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, f->name);
  size_t size = google__protobuf__file_descriptor_proto__get_packed_size(f);
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, size);
  google__protobuf__file_descriptor_proto__pack(f, (uint8_t *)p);
  luaL_pushresultsize(&b, size);
  lua_rawseti(L, -3, (lua_Integer)luaL_len(L, -3) + 1);
  luaL_checkstack(L, 4, "imports nested too deep");
  for (size_t i = 0; i < f->n_dependency; i++) {
    const FileProto *dep = file_named(s, f->dependency[i]);
    if (dep != NULL) add_file(L, s, dep);
  }
}

/* [-0, +1] f and every file it imports, serialized, or nil when f is NULL. */
static int push_files(lua_State *L, const schema *s, const FileProto *f) {
  if (f == NULL) {
    lua_pushnil(L);
    return 1;
  }
  lua_newtable(L);
  lua_newtable(L);
  add_file(L, s, f);
  lua_pop(L, 1);
  return 1;
}

/* host.files_for_name(file name) -> array of serialized FileDescriptorProtos, or nil */
static int lbuiltin_files_for_name(lua_State *L) {
  const schema *s = vm_of(L)->schema;
  return push_files(L, s, file_named(s, luaL_checkstring(L, 1)));
}

/* host.files_for_symbol(full name) -> array of serialized FileDescriptorProtos, or nil */
static int lbuiltin_files_for_symbol(lua_State *L) {
  const schema *s = vm_of(L)->schema;
  const char *symbol = luaL_checkstring(L, 1);
  for (size_t i = 0; i < schema_file_count(s); i++)
    if (defines(schema_file_at(s, i), symbol)) return push_files(L, s, schema_file_at(s, i));
  lua_pushnil(L);
  return 1;
}

/* host.has_message(full name) -> boolean */
static int lbuiltin_has_message(lua_State *L) {
  lua_pushboolean(L, schema_find_message(vm_of(L)->schema, luaL_checkstring(L, 1)) != NULL);
  return 1;
}

static bool serves(const lvm *vm, const char *service) {
  const schema_service *svc = schema_find_service(vm->schema, service);
  for (size_t i = 0; svc != NULL && i < svc->n_methods; i++)
    if (lvm_has_handler(vm, &svc->methods[i])) return true;
  return false;
}

/* host.health(service) -> "SERVING", "NOT_SERVING" or "SERVICE_UNKNOWN" */
static int lbuiltin_health(lua_State *L) {
  const char *service = luaL_checkstring(L, 1);
  health_status status = health_get(service);
  if (health_draining()) status = HEALTH_NOT_SERVING;
  else if (status == HEALTH_UNKNOWN)
    status = *service == '\0' || serves(vm_of(L), service) ? HEALTH_SERVING : HEALTH_SERVICE_UNKNOWN;
  lua_pushstring(L, health_status_names[status]);
  return 1;
}

/* host.draining() -> true once SIGTERM came */
static int lbuiltin_draining(lua_State *L) {
  lua_pushboolean(L, health_draining());
  return 1;
}

static const luaL_Reg functions[] = {
  {"services", lbuiltin_services},
  {"files_for_name", lbuiltin_files_for_name},
  {"files_for_symbol", lbuiltin_files_for_symbol},
  {"has_message", lbuiltin_has_message},
  {"health", lbuiltin_health},
  {"draining", lbuiltin_draining},
  {NULL, NULL}};

void lbuiltin_push(lua_State *L, lvm *vm) {
  luaL_newlibtable(L, functions);
  lua_pushlightuserdata(L, vm);
  luaL_setfuncs(L, functions, 1);
}
