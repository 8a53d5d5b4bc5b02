/*
** luatypes.c
** Messages and enums as lua-language-server sees Lua values, following the
** host's mapping of messages to tables: a message is an exact class whose
** fields are its fields (integers `integer`, bytes `string`, repeated `T[]`,
** maps `table<K, V>`), an enum an alias of its value names. Fields a decoded
** message may lack (message fields, `optional` ones, oneof members) are
** optional keys.
*/
#include <stdbool.h>

#include "luatypes.h"

static const char *scalar_type(field_type t) {
  switch (t) {
  case FIELD_DOUBLE: case FIELD_FLOAT: return "number";
  case FIELD_BOOL: return "boolean";
  case FIELD_STRING: case FIELD_BYTES: return "string";
  default: return "integer";
  }
}

/* The type of one value of f: a scalar, an enum's alias, a message's class. */
static const char *value_type(const schema_field *f) {
  if (f->type == FIELD_ENUM) return f->enum_type->full_name;
  if (f->type == FIELD_MESSAGE || f->type == FIELD_GROUP) return f->message->full_name;
  return scalar_type(f->type);
}

static void put_field(FILE *out, const schema_message *m, const schema_field *f) {
  if (f->is_map) {
    const schema_field *key = &f->message->fields[0], *value = &f->message->fields[1];
    fprintf(out, "---@field %s table<%s, %s>\n", f->name, value_type(key), value_type(value));
  } else if (f->label == LABEL_REPEATED) {
    fprintf(out, "---@field %s %s[]\n", f->name, value_type(f));
  } else if (f->oneof >= 0) {
    fprintf(out, "---@field %s? %s oneof %s: only the member set is present\n", f->name,
            value_type(f), m->oneofs[f->oneof]);
  } else {
    bool maybe_nil = f->has_presence || f->type == FIELD_MESSAGE || f->type == FIELD_GROUP;
    fprintf(out, "---@field %s%s %s\n", f->name, maybe_nil ? "?" : "", value_type(f));
  }
}

static void put_message(FILE *out, const schema_message *m) {
  fprintf(out, "\n---@class (exact) %s\n", m->full_name);
  for (size_t i = 0; i < m->n_fields; i++) put_field(out, m, &m->fields[i]);
}

static void put_enum(FILE *out, const schema_enum *e) {
  fprintf(out, "\n---@alias %s\n", e->full_name);
  for (size_t i = 0; i < e->n_values; i++) fprintf(out, "---| \"%s\"\n", e->values[i].name);
  fputs("---| integer # or the number of a value\n", out);
}

void luatypes_write(FILE *out, const schema *s) {
  fputs("---@meta messages\n"
        "-- The protosets' messages and enums for lua-language-server, as `host --types` writes\n"
        "-- them (the build keeps them in build/types/messages.lua; .luarc.json loads them).\n"
        "-- Messages are tables keyed by field name (docs/handlers.md, \"Messages as Lua tables\").\n",
        out);
  for (size_t i = 0; i < schema_enum_count(s); i++) put_enum(out, schema_enum_at(s, i));
  for (size_t i = 0; i < schema_message_count(s); i++) {
    const schema_message *m = schema_message_at(s, i);
    if (!m->map_entry) put_message(out, m);
  }
}
