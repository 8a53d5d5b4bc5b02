/*
** protojson.c
** The proto3 JSON mapping: what its writer and reader share (protojson_walk.h).
** The mapping itself is described over protojson_write.c and protojson_read.c.
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "protojson_walk.h"

void pj_init(pj *c, lua_State *L, const schema *s, buf *b, const char *root, char *err,
             size_t errlen) {
  c->L = L;
  c->s = s;
  c->b = b;
  c->root = root ? root : "";
  c->err = err;
  c->errlen = errlen;
  c->depth = 0;
  c->n = 0;
  c->in_key = false;
}

int pj_fail(pj *c, const char *fmt, ...) {
  char reason[512];
  va_list ap;
  size_t at = 0;
  if (c->in_key) at = (size_t)snprintf(reason, sizeof reason, "map key: ");
  va_start(ap, fmt);
  vsnprintf(reason + at, sizeof reason - at, fmt, ap);
  va_end(ap);
  ljson_path_error(c->L, c->err, c->errlen, c->root, c->path, c->n, reason);
  return -1;
}

int pj_push_step(pj *c, const char *name) {
  if (c->n >= (int)(sizeof c->path / sizeof c->path[0])) return pj_fail(c, "path too deep");
  c->path[c->n++] = (ljson_step){name, 0, 0};
  return 0;
}

int pj_enter(pj *c, int slots) {
  if (c->depth >= PJ_MAX_DEPTH) return pj_fail(c, "nesting deeper than %d", PJ_MAX_DEPTH);
  if (!lua_checkstack(c->L, slots + 8)) return pj_fail(c, "Lua stack overflow");
  c->depth++;
  return 0;
}

static bool has_field(const schema_message *m, const char *name, uint32_t number, field_type t) {
  const schema_field *f = schema_field_by_name(m, name, strlen(name));
  return f != NULL && f->number == number && f->type == t;
}

wkt pj_wkt(const schema_message *m) {
  static const char *const wrappers[] = {"DoubleValue", "FloatValue", "Int64Value", "UInt64Value",
                                         "Int32Value", "UInt32Value", "BoolValue", "StringValue",
                                         "BytesValue"};
  const char *n = m->full_name;
  if (strncmp(n, "google.protobuf.", 16) != 0) return WKT_NONE;
  n += 16;
  if (!strcmp(n, "Timestamp") || !strcmp(n, "Duration"))
    return has_field(m, "seconds", 1, FIELD_INT64) && has_field(m, "nanos", 2, FIELD_INT32) &&
           m->n_fields == 2 ? (n[0] == 'T' ? WKT_TIMESTAMP : WKT_DURATION) : WKT_NONE;
  if (!strcmp(n, "Any"))
    return has_field(m, "type_url", 1, FIELD_STRING) && has_field(m, "value", 2, FIELD_BYTES) &&
           m->n_fields == 2 ? WKT_ANY : WKT_NONE;
  if (!strcmp(n, "FieldMask"))
    return has_field(m, "paths", 1, FIELD_STRING) && m->n_fields == 1 ? WKT_FIELD_MASK : WKT_NONE;
  if (!strcmp(n, "Struct"))
    return has_field(m, "fields", 1, FIELD_MESSAGE) && m->fields[0].is_map ? WKT_STRUCT : WKT_NONE;
  if (!strcmp(n, "Value"))
    return m->n_fields == 6 && m->n_oneofs == 1 ? WKT_VALUE : WKT_NONE;
  if (!strcmp(n, "ListValue"))
    return has_field(m, "values", 1, FIELD_MESSAGE) && m->n_fields == 1 ? WKT_LIST_VALUE : WKT_NONE;
  for (size_t i = 0; i < sizeof wrappers / sizeof wrappers[0]; i++)
    if (!strcmp(n, wrappers[i]))
      return m->n_fields == 1 && m->fields[0].number == 1 && m->fields[0].label != LABEL_REPEATED
                 ? WKT_WRAPPER : WKT_NONE;
  return WKT_NONE;
}

bool pj_takes_null(const schema_field *f) {
  return pj_is_null_value(f) || (f->type == FIELD_MESSAGE && pj_wkt(f->message) == WKT_VALUE);
}

const schema_message *pj_type_of_url(const schema *s, const char *url) {
  const char *name = strrchr(url, '/');
  name = name ? name + 1 : url;
  return *name ? schema_find_message(s, name) : NULL;
}

void pj_int_range(field_type t, lua_Integer *min, lua_Integer *max) {
  switch (t) {
    case FIELD_INT32: case FIELD_SINT32: case FIELD_SFIXED32: case FIELD_ENUM:
      *min = INT32_MIN;
      *max = INT32_MAX;
      return;
    case FIELD_UINT32: case FIELD_FIXED32:
      *min = 0;
      *max = UINT32_MAX;
      return;
    default:   /* 64 bits; uint64 as two's complement */
      *min = LUA_MININTEGER;
      *max = LUA_MAXINTEGER;
  }
}

const char *pj_type_name(field_type t) {
  static const char *const names[] = {
    [FIELD_DOUBLE] = "double", [FIELD_FLOAT] = "float", [FIELD_INT64] = "int64",
    [FIELD_UINT64] = "uint64", [FIELD_INT32] = "int32", [FIELD_FIXED64] = "fixed64",
    [FIELD_FIXED32] = "fixed32", [FIELD_BOOL] = "bool", [FIELD_STRING] = "string",
    [FIELD_GROUP] = "group", [FIELD_MESSAGE] = "message", [FIELD_BYTES] = "bytes",
    [FIELD_UINT32] = "uint32", [FIELD_ENUM] = "enum", [FIELD_SFIXED32] = "sfixed32",
    [FIELD_SFIXED64] = "sfixed64", [FIELD_SINT32] = "sint32", [FIELD_SINT64] = "sint64"};
  return names[t];
}

void pj_civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

int64_t pj_days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}
