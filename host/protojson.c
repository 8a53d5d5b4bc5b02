/*
** protojson.c
** The proto3 JSON mapping between Lua tables (the codec's mapping) and JSON
** text, driven by the schema. See protojson.h.
**
** Writing:
** - Fields in number order under their JSON names (json_name). Fields with
**   presence are written when the table has them; others (proto3 scalars,
**   repeated fields, maps) only when not zero or empty, as protobuf's printers
**   do. The table is checked as the codec checks it: unknown keys, wrong
**   types, out-of-range integers, unknown enum names, invalid UTF-8, two
**   members of a oneof are errors naming the path.
** - 64-bit integers as strings, uint64 and fixed64 unsigned; bytes as base64
**   (standard, padded); enums by name, numbers a closed enum lacks as numbers;
**   NaN and the infinities as "NaN", "Infinity", "-Infinity"; floats in the
**   fewest digits that read back as the same float; google.protobuf.NullValue
**   as null.
** - Well-known types in their own forms: Timestamp as RFC 3339 in UTC ("Z")
**   with 0, 3, 6 or 9 digits of fraction, Duration as "1.5s", wrappers as
**   their bare value, Struct/Value/ListValue as the JSON they hold (a Value
**   with no kind set is null; a number that is not finite is an error, as it
**   would read back as a string), FieldMask as its paths in lowerCamelCase
**   joined by commas, Any as {"@type": url, fields...} or, for a type with a
**   form of its own, {"@type": url, "value": form}. Empty is {}.
**
** Reading:
** - A field is found by its JSON name or by its name in the .proto; a
**   member naming no field, or a field twice, is an error. null stands for
**   an unset field, except for google.protobuf.Value (the null value) and
**   NullValue. Integers come as numbers or strings, exact over 64 bits, with
**   an exponent or a fraction only when the value is whole ("1e3"); floats
**   as numbers or strings, "NaN", "Infinity", "-Infinity"; bytes as base64 of
**   either alphabet, padded or not; enums by name or number; Timestamps with
**   any offset; proto2 required fields must be there.
** - The table is what codec_decode would give for the same message: proto3
**   scalars not given read their default, repeated fields and maps an empty
**   table, enum values the first name declared for their number.
*/
#include "protojson.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "codec.h"
#include "ljson.h"

#define MAX_DEPTH 100                   /* nested messages below the root, as the codec */
#define TYPE_URL_PREFIX "type.googleapis.com/"
#define WIRE_MT "protojson.wire"

/* Seconds from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z, as protobuf's Timestamp allows. */
#define TIMESTAMP_MIN INT64_C(-62135596800)
#define TIMESTAMP_MAX INT64_C(253402300799)
#define DURATION_MAX INT64_C(315576000000)   /* 10,000 years */

/* Largest double that rounds to a finite float (the codec saturates past it). */
#define FLOAT_LIMIT 0x1.ffffffp+127

/*
** {======================================================
** Shared: walk state, errors, well-known types
** =======================================================
*/

typedef struct pj {
  lua_State *L;
  const schema *s;
  jt_buf *b;            /* output when writing, scratch when reading */
  jt_reader r;          /* reading */
  const char *root;
  char *err;
  size_t errlen;
  int depth;            /* messages entered below the root */
  int n;                /* steps of the path */
  bool in_key;          /* the value at hand is a map key */
  ljson_step path[2 * MAX_DEPTH + 8];
  char rerr[160];       /* the reader's message */
} pj;

static void init(pj *c, lua_State *L, const schema *s, jt_buf *b, const char *root, char *err,
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

static int fail(pj *c, const char *fmt, ...) {
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

/* The reader failed: its message, after the path. */
static int read_fail(pj *c) {
  return fail(c, "%s", c->rerr);
}

static int push_step(pj *c, const char *name) {
  if (c->n >= (int)(sizeof c->path / sizeof c->path[0])) return fail(c, "path too deep");
  c->path[c->n++] = (ljson_step){name, 0, 0};
  return 0;
}

static ljson_step *top_step(pj *c) {
  return &c->path[c->n - 1];
}

/* Enters a message: depth and Lua stack checked. */
static int enter(pj *c, int slots) {
  if (c->depth >= MAX_DEPTH) return fail(c, "nesting deeper than %d", MAX_DEPTH);
  if (!lua_checkstack(c->L, slots + 8)) return fail(c, "Lua stack overflow");
  c->depth++;
  return 0;
}

typedef enum wkt {
  WKT_NONE, WKT_ANY, WKT_TIMESTAMP, WKT_DURATION, WKT_FIELD_MASK, WKT_STRUCT, WKT_VALUE,
  WKT_LIST_VALUE, WKT_WRAPPER
} wkt;

static bool has_field(const schema_message *m, const char *name, uint32_t number, field_type t) {
  const schema_field *f = schema_field_by_name(m, name, strlen(name));
  return f != NULL && f->number == number && f->type == t;
}

/* The well-known type m is, with a JSON form of its own; WKT_NONE for any other (Empty too). */
static wkt wkt_of(const schema_message *m) {
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

static bool is_null_value(const schema_field *f) {
  return f->type == FIELD_ENUM && strcmp(f->enum_type->full_name, "google.protobuf.NullValue") == 0;
}

/* A singular google.protobuf.Value: null is its null value, not an unset field. */
static bool takes_null(const schema_field *f) {
  return is_null_value(f) || (f->type == FIELD_MESSAGE && wkt_of(f->message) == WKT_VALUE);
}

/* The message of a type URL: the part after its last '/'. */
static const schema_message *type_of_url(const schema *s, const char *url) {
  const char *name = strrchr(url, '/');
  name = name ? name + 1 : url;
  return *name ? schema_find_message(s, name) : NULL;
}

/* Integer bounds of the integer field types. */
static void int_range(field_type t, lua_Integer *min, lua_Integer *max) {
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

static bool is_unsigned64(field_type t) {
  return t == FIELD_UINT64 || t == FIELD_FIXED64;
}

static bool is_64bit(field_type t) {
  return t == FIELD_INT64 || t == FIELD_UINT64 || t == FIELD_FIXED64 || t == FIELD_SFIXED64 ||
         t == FIELD_SINT64;
}

static const char *type_name(field_type t) {
  static const char *const names[] = {
    [FIELD_DOUBLE] = "double", [FIELD_FLOAT] = "float", [FIELD_INT64] = "int64",
    [FIELD_UINT64] = "uint64", [FIELD_INT32] = "int32", [FIELD_FIXED64] = "fixed64",
    [FIELD_FIXED32] = "fixed32", [FIELD_BOOL] = "bool", [FIELD_STRING] = "string",
    [FIELD_GROUP] = "group", [FIELD_MESSAGE] = "message", [FIELD_BYTES] = "bytes",
    [FIELD_UINT32] = "uint32", [FIELD_ENUM] = "enum", [FIELD_SFIXED32] = "sfixed32",
    [FIELD_SFIXED64] = "sfixed64", [FIELD_SINT32] = "sint32", [FIELD_SINT64] = "sint64"};
  return names[t];
}

/* Civil date of a day count from 1970-01-01 (Howard Hinnant's algorithm). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
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

static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* ".000", ".000000" or ".000000000" for nanos, as protobuf writes them; nothing for 0. */
static int fraction_text(char *out, size_t size, int32_t nanos) {
  if (nanos == 0) return (out[0] = '\0', 0);
  if (nanos % 1000000 == 0) return snprintf(out, size, ".%03d", (int)(nanos / 1000000));
  if (nanos % 1000 == 0) return snprintf(out, size, ".%06d", (int)(nanos / 1000));
  return snprintf(out, size, ".%09d", (int)nanos);
}

/* }====================================================== */

/*
** {======================================================
** Writing
** =======================================================
*/

static int write_fail(pj *c, int rc) {
  if (rc == JT_TOOBIG)
    return fail(c, "the JSON text would be larger than %zu bytes (the host's --max-message-bytes)",
                c->b->limit);
  return fail(c, "out of memory");
}

#define W(c, x) do { int rc_ = (x); if (rc_ != JT_OK) return write_fail(c, rc_); } while (0)

static int type_fail(pj *c, const char *expected, int idx) {
  lua_State *L = c->L;
  if (lua_type(L, idx) == LUA_TNUMBER && !lua_isinteger(L, idx))
    return fail(c, "expected %s, got number " LUA_NUMBER_FMT, expected,
                (LUAI_UACNUMBER)lua_tonumber(L, idx));
  return fail(c, "expected %s, got %s", expected, luaL_typename(L, idx));
}

static int put_text(pj *c, const char *s, size_t len) {
  size_t bad;
  int rc = jt_put_string(c->b, s, len, &bad);
  if (rc == JT_BADUTF8) return fail(c, "invalid UTF-8 (byte %zu)", bad + 1);
  W(c, rc);
  return 0;
}

/* The string at idx, as a JSON string. */
static int put_lua_string(pj *c, int idx) {
  size_t len;
  const char *s;
  if (lua_type(c->L, idx) != LUA_TSTRING) return type_fail(c, "string", idx);
  s = lua_tolstring(c->L, idx, &len);
  return put_text(c, s, len);
}

/* An integer of type t at idx: a Lua integer, or a float of integral value, within t's range. */
static int get_integer(pj *c, field_type t, int idx, lua_Integer *v) {
  lua_State *L = c->L;
  lua_Integer min, max;
  int exact;
  if (lua_isinteger(L, idx)) *v = lua_tointeger(L, idx);
  else if (lua_type(L, idx) != LUA_TNUMBER || (*v = lua_tointegerx(L, idx, &exact), !exact))
    return type_fail(c, "integer", idx);
  int_range(t, &min, &max);
  if (*v < min || *v > max)
    return fail(c, LUA_INTEGER_FMT " is out of range for %s", (LUAI_UACINT)*v, type_name(t));
  return 0;
}

static int put_integer(pj *c, field_type t, lua_Integer v) {
  if (!is_64bit(t)) {
    W(c, jt_put_int(c->b, v));
    return 0;
  }
  W(c, jt_putc(c->b, '"'));
  W(c, is_unsigned64(t) ? jt_put_uint(c->b, (uint64_t)v) : jt_put_int(c->b, v));
  W(c, jt_putc(c->b, '"'));
  return 0;
}

/* A float or double field's value: the number nearest as that type (floats saturate, as the codec's). */
static double field_double(const schema_field *f, double d) {
  if (f->type != FIELD_FLOAT || d != d) return d;
  if (d >= FLOAT_LIMIT) return HUGE_VAL;
  if (d <= -FLOAT_LIMIT) return -HUGE_VAL;
  return (double)(float)d;
}

static int put_floating(pj *c, const schema_field *f, double d) {
  if (d != d) W(c, jt_put(c->b, "\"NaN\"", 5));
  else if (isinf(d)) W(c, d > 0 ? jt_put(c->b, "\"Infinity\"", 10) : jt_put(c->b, "\"-Infinity\"", 11));
  else W(c, f->type == FIELD_FLOAT ? jt_put_float(c->b, (float)d) : jt_put_double(c->b, d));
  return 0;
}

/* The enum value at idx (a name or a number): its number, and its declaration when it has one. */
static int get_enum(pj *c, const schema_enum *e, int idx, lua_Integer *v,
                    const schema_enum_value **ev) {
  lua_State *L = c->L;
  if (lua_type(L, idx) == LUA_TSTRING) {
    size_t len;
    const char *name = lua_tolstring(L, idx, &len);
    if ((*ev = schema_enum_value_by_name(e, name, len)) == NULL)
      return fail(c, "unknown value \"%s\" of enum %s", name, e->full_name);
    *v = (*ev)->number;
    return 0;
  }
  if (lua_type(L, idx) != LUA_TNUMBER) return type_fail(c, "enum name or integer", idx);
  if (get_integer(c, FIELD_ENUM, idx, v) < 0) return -1;
  *ev = schema_enum_value_by_number(e, (int32_t)*v);
  if (*ev == NULL && e->closed)
    return fail(c, LUA_INTEGER_FMT " is not a value of enum %s", (LUAI_UACINT)*v, e->full_name);
  return 0;
}

/* A scalar of field f at idx; *zero tells whether it is its type's zero (proto3 leaves those out). */
static int put_scalar(pj *c, const schema_field *f, int idx, bool *zero) {
  lua_State *L = c->L;
  lua_Integer i;
  size_t len;
  switch (f->type) {
    case FIELD_DOUBLE: case FIELD_FLOAT: {
      double d;
      if (lua_type(L, idx) != LUA_TNUMBER) return type_fail(c, "number", idx);
      d = field_double(f, (double)lua_tonumber(L, idx));
      *zero = d == 0 && !signbit(d);
      return put_floating(c, f, d);
    }
    case FIELD_BOOL:
      if (!lua_isboolean(L, idx)) return type_fail(c, "boolean", idx);
      *zero = !lua_toboolean(L, idx);
      W(c, *zero ? jt_put(c->b, "false", 5) : jt_put(c->b, "true", 4));
      return 0;
    case FIELD_STRING:
      if (put_lua_string(c, idx) < 0) return -1;
      *zero = lua_rawlen(L, idx) == 0;
      return 0;
    case FIELD_BYTES: {
      const char *s;
      if (lua_type(L, idx) != LUA_TSTRING) return type_fail(c, "string", idx);
      s = lua_tolstring(L, idx, &len);
      *zero = len == 0;
      W(c, jt_put_base64(c->b, s, len));
      return 0;
    }
    case FIELD_ENUM: {
      const schema_enum_value *ev;
      if (get_enum(c, f->enum_type, idx, &i, &ev) < 0) return -1;
      *zero = i == 0;
      if (is_null_value(f)) W(c, jt_put(c->b, "null", 4));
      else if (ev != NULL) return put_text(c, ev->name, strlen(ev->name));
      else W(c, jt_put_int(c->b, i));
      return 0;
    }
    default:
      if (get_integer(c, f->type, idx, &i) < 0) return -1;
      *zero = i == 0;
      return put_integer(c, f->type, i);
  }
}

static int put_message(pj *c, const schema_message *m, int t);

/* A singular value of f at idx; *zero as put_scalar (a message is never zero). */
static int put_single(pj *c, const schema_field *f, int idx, bool *zero) {
  *zero = false;
  if (f->type == FIELD_MESSAGE || f->type == FIELD_GROUP) return put_message(c, f->message, idx);
  return put_scalar(c, f, idx, zero);
}

/* Length of the array at t, checked to have keys 1..n only. */
static int array_length(pj *c, int t, lua_Integer *n) {
  char why[160];
  if ((*n = codec_array_length(c->L, t, why, sizeof why)) < 0) return fail(c, "%s", why);
  return 0;
}

/* Repeated field f at idx as a JSON array; *count its elements. */
static int put_list(pj *c, const schema_field *f, int idx, lua_Integer *count) {
  lua_State *L = c->L;
  ljson_step *step = top_step(c);
  bool zero;
  if (!lua_istable(L, idx)) return type_fail(c, "array", idx);
  if (array_length(c, idx, count) < 0) return -1;
  W(c, jt_putc(c->b, '['));
  for (lua_Integer i = 1; i <= *count; i++) {
    if (i > 1) W(c, jt_putc(c->b, ','));
    lua_rawgeti(L, idx, i);
    step->index = i;
    if (put_single(c, f, lua_gettop(L), &zero) < 0) return -1;
    lua_pop(L, 1);
  }
  step->index = 0;
  W(c, jt_putc(c->b, ']'));
  return 0;
}

/* The map key at idx, of key field kf, as a JSON string. */
static int put_map_key(pj *c, const schema_field *kf, int idx) {
  lua_Integer v;
  if (kf->type == FIELD_STRING) return put_lua_string(c, idx);
  if (kf->type == FIELD_BOOL) {
    if (!lua_isboolean(c->L, idx)) return type_fail(c, "boolean", idx);
    W(c, lua_toboolean(c->L, idx) ? jt_put(c->b, "\"true\"", 6) : jt_put(c->b, "\"false\"", 7));
    return 0;
  }
  if (get_integer(c, kf->type, idx, &v) < 0) return -1;
  W(c, jt_putc(c->b, '"'));
  W(c, is_unsigned64(kf->type) ? jt_put_uint(c->b, (uint64_t)v) : jt_put_int(c->b, v));
  W(c, jt_putc(c->b, '"'));
  return 0;
}

/* Map field f at idx as a JSON object; *count its entries. */
static int put_map(pj *c, const schema_field *f, int idx, lua_Integer *count) {
  lua_State *L = c->L;
  const schema_field *kf = &f->message->fields[0], *vf = &f->message->fields[1];
  ljson_step *step = top_step(c);
  bool zero;
  if (!lua_istable(L, idx)) return type_fail(c, "table", idx);
  *count = 0;
  W(c, jt_putc(c->b, '{'));
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int key = lua_gettop(L) - 1;
    if ((*count)++ > 0) W(c, jt_putc(c->b, ','));
    step->key = key;
    c->in_key = true;
    if (put_map_key(c, kf, key) < 0) return -1;
    c->in_key = false;
    W(c, jt_putc(c->b, ':'));
    if (put_single(c, vf, key + 1, &zero) < 0) return -1;
    lua_pop(L, 1);
  }
  step->key = 0;
  W(c, jt_putc(c->b, '}'));
  return 0;
}

/*
** [-0, +n_fields] Pushes the value of each field of m in the table at t
** (nil for those it lacks), in field order: unknown keys are errors.
*/
static int collect(pj *c, const schema_message *m, int t, int *base) {
  lua_State *L = c->L;
  *base = lua_gettop(L);
  lua_settop(L, *base + (int)m->n_fields);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    size_t len;
    const char *name;
    const schema_field *f;
    if (lua_type(L, -2) != LUA_TSTRING)
      return fail(c, "expected field name, got %s key", luaL_typename(L, -2));
    name = lua_tolstring(L, -2, &len);
    if ((f = schema_field_by_name(m, name, len)) == NULL) {
      if (push_step(c, name) < 0) return -1;
      return fail(c, "unknown field of %s", m->full_name);
    }
    lua_replace(L, *base + 1 + (int)(f - m->fields));
  }
  for (size_t i = 0; i < m->n_fields && m->n_oneofs > 0; i++) {
    const schema_field *f = &m->fields[i];
    if (f->oneof < 0 || lua_isnil(L, *base + 1 + (int)i)) continue;
    for (size_t j = 0; j < i; j++)
      if (m->fields[j].oneof == f->oneof && !lua_isnil(L, *base + 1 + (int)j))
        return fail(c, "only one of oneof '%s' may be set (%s, %s)", m->oneofs[f->oneof],
                    m->fields[j].name, f->name);
  }
  return 0;
}

/* ,"jsonName":value for field f of the value at idx, unless it is left out. */
static int put_field(pj *c, const schema_field *f, int idx, bool *first) {
  size_t mark = c->b->len;
  lua_Integer count = 1;
  bool zero = false;
  int rc;
  if (!*first) W(c, jt_putc(c->b, ','));
  if (put_text(c, f->json_name, strlen(f->json_name)) < 0) return -1;
  W(c, jt_putc(c->b, ':'));
  if (push_step(c, f->name) < 0) return -1;
  if (f->is_map) rc = put_map(c, f, idx, &count);
  else if (f->label == LABEL_REPEATED) rc = put_list(c, f, idx, &count);
  else rc = put_single(c, f, idx, &zero);
  c->n--;
  if (rc < 0) return -1;
  if (count == 0 || (zero && !f->has_presence)) c->b->len = mark;
  else *first = false;
  return 0;
}

/* The fields of the table at t, message m, as members of an object already open. */
static int put_fields(pj *c, const schema_message *m, int t, bool first) {
  int base;
  if (collect(c, m, t, &base) < 0) return -1;
  for (size_t i = 0; i < m->n_fields; i++)
    if (!lua_isnil(c->L, base + 1 + (int)i) && put_field(c, &m->fields[i], base + 1 + (int)i, &first) < 0)
      return -1;
  lua_settop(c->L, base);
  return 0;
}

/* Field `name` of the fields collected at base: an integer of type t, 0 when absent. */
static int slot_integer(pj *c, const schema_message *m, int base, const char *name, field_type t,
                        lua_Integer *v) {
  const schema_field *f = schema_field_by_name(m, name, strlen(name));
  int idx = base + 1 + (int)(f - m->fields);
  int rc;
  *v = 0;
  if (lua_isnil(c->L, idx)) return 0;
  if (push_step(c, name) < 0) return -1;
  rc = get_integer(c, t, idx, v);
  c->n--;
  return rc;
}

static int put_time(pj *c, const schema_message *m, int t, bool timestamp) {
  lua_Integer s, ns;
  char text[64], frac[16];
  int base, n;
  if (collect(c, m, t, &base) < 0 || slot_integer(c, m, base, "seconds", FIELD_INT64, &s) < 0 ||
      slot_integer(c, m, base, "nanos", FIELD_INT32, &ns) < 0)
    return -1;
  lua_settop(c->L, base);
  if (timestamp) {
    int64_t y, day, sod;
    int mo, d;
    if (s < TIMESTAMP_MIN || s > TIMESTAMP_MAX || ns < 0 || ns > 999999999)
      return fail(c, "Timestamp out of range (seconds " LUA_INTEGER_FMT ", nanos " LUA_INTEGER_FMT ")",
                  (LUAI_UACINT)s, (LUAI_UACINT)ns);
    day = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
    sod = s - day * 86400;
    civil_from_days(day, &y, &mo, &d);
    fraction_text(frac, sizeof frac, (int32_t)ns);
    n = snprintf(text, sizeof text, "\"%04d-%02d-%02dT%02d:%02d:%02d%sZ\"", (int)y, mo, d,
                 (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), frac);
  } else {
    if (s < -DURATION_MAX || s > DURATION_MAX || ns < -999999999 || ns > 999999999 ||
        (s > 0 && ns < 0) || (s < 0 && ns > 0))
      return fail(c, "Duration out of range (seconds " LUA_INTEGER_FMT ", nanos " LUA_INTEGER_FMT ")",
                  (LUAI_UACINT)s, (LUAI_UACINT)ns);
    fraction_text(frac, sizeof frac, (int32_t)(ns < 0 ? -ns : ns));
    n = snprintf(text, sizeof text, "\"%s" LUA_INTEGER_FMT "%ss\"", s < 0 || ns < 0 ? "-" : "",
                 (LUAI_UACINT)(s < 0 ? -s : s), frac);
  }
  W(c, jt_put(c->b, text, (size_t)n));
  return 0;
}

/* FieldMask: the paths in lowerCamelCase, joined by commas, as one string. */
static int put_field_mask(pj *c, const schema_message *m, int t) {
  lua_State *L = c->L;
  const schema_field *f = &m->fields[0];
  luaL_Buffer lb;
  lua_Integer n = 0;
  int base;
  if (collect(c, m, t, &base) < 0 || push_step(c, f->name) < 0) return -1;
  if (!lua_isnil(L, base + 1)) {
    if (!lua_istable(L, base + 1)) return type_fail(c, "array", base + 1);
    if (array_length(c, base + 1, &n) < 0) return -1;
  }
  luaL_buffinit(L, &lb);
  for (lua_Integer i = 1; i <= n; i++) {
    size_t len;
    const char *p;
    bool upper = false;
    top_step(c)->index = i;
    lua_rawgeti(L, base + 1, i);
    if (lua_type(L, -1) != LUA_TSTRING) return type_fail(c, "string", -1);
    p = lua_tolstring(L, -1, &len);
    if (i > 1) luaL_addchar(&lb, ',');
    for (size_t k = 0; k < len; k++) {
      char ch = p[k];
      if ((ch >= 'A' && ch <= 'Z') || (upper && !(ch >= 'a' && ch <= 'z')) || (ch == '_' && k + 1 == len))
        return fail(c, "path \"%s\" has no JSON form (lower case and '_' before a letter only)", p);
      if (ch == '_') upper = true;
      else {
        luaL_addchar(&lb, upper ? (char)(ch - 'a' + 'A') : ch);
        upper = false;
      }
    }
    lua_pop(L, 1);
  }
  luaL_pushresult(&lb);
  c->n--;
  if (put_lua_string(c, -1) < 0) return -1;
  lua_settop(L, base);
  return 0;
}

/* Value: the JSON its kind holds. */
static int put_value(pj *c, const schema_message *m, int t) {
  lua_State *L = c->L;
  int base, rc = 0;
  bool zero;
  if (collect(c, m, t, &base) < 0) return -1;
  for (size_t i = 0; i < m->n_fields; i++) {
    const schema_field *f = &m->fields[i];
    int idx = base + 1 + (int)i;
    if (lua_isnil(L, idx)) continue;
    if (push_step(c, f->name) < 0) return -1;
    if (f->type == FIELD_DOUBLE && lua_type(L, idx) == LUA_TNUMBER && !isfinite(lua_tonumber(L, idx)))
      return fail(c, "%s has no JSON form in a Value (it would read back as a string)",
                  lua_tonumber(L, idx) != lua_tonumber(L, idx) ? "NaN" : "an infinity");
    rc = put_single(c, f, idx, &zero);
    c->n--;
    lua_settop(L, base);
    return rc;
  }
  lua_settop(L, base);
  W(c, jt_put(c->b, "null", 4));
  return 0;
}

/* A wrapper: its value bare, the default when the table has none. */
static int put_wrapper(pj *c, const schema_message *m, int t) {
  lua_State *L = c->L;
  const schema_field *f = &m->fields[0];
  int base, rc;
  bool zero;
  if (collect(c, m, t, &base) < 0) return -1;
  if (lua_isnil(L, base + 1)) {
    codec_push_default(L, f);
    lua_replace(L, base + 1);
  }
  if (push_step(c, f->name) < 0) return -1;
  rc = put_single(c, f, base + 1, &zero);
  c->n--;
  lua_settop(L, base);
  return rc;
}

/* Any: its payload decoded (a table for a moment), then written after "@type". */
static int put_any(pj *c, const schema_message *m, int t) {
  lua_State *L = c->L;
  const schema_message *inner;
  const char *url, *data;
  size_t len = 0, url_len = 0;
  char err[512];
  int base, rc;
  if (collect(c, m, t, &base) < 0) return -1;
  if (!lua_isnil(L, base + 1) && lua_type(L, base + 1) != LUA_TSTRING)
    return push_step(c, "type_url") < 0 ? -1 : type_fail(c, "string", base + 1);
  if (!lua_isnil(L, base + 2) && lua_type(L, base + 2) != LUA_TSTRING)
    return push_step(c, "value") < 0 ? -1 : type_fail(c, "string", base + 2);
  url = lua_isnil(L, base + 1) ? "" : lua_tolstring(L, base + 1, &url_len);
  data = lua_isnil(L, base + 2) ? "" : lua_tolstring(L, base + 2, &len);
  if (url_len == 0 && len == 0) {   /* the empty Any */
    lua_settop(L, base);
    W(c, jt_put(c->b, "{}", 2));
    return 0;
  }
  if (strlen(url) != url_len || (inner = type_of_url(c->s, url)) == NULL) {
    if (push_step(c, "type_url") < 0) return -1;
    return fail(c, "no message type \"%s\" in the protosets", url);
  }
  if (codec_decode(L, inner, data, len, inner->full_name, err, sizeof err) < 0) {
    if (push_step(c, "value") < 0) return -1;
    return fail(c, "%s", err);
  }
  W(c, jt_put(c->b, "{\"@type\":", 9));
  if (put_text(c, url, url_len) < 0) return -1;
  if (wkt_of(inner) != WKT_NONE) {
    W(c, jt_put(c->b, ",\"value\":", 9));
    rc = put_message(c, inner, lua_gettop(L));
  } else if ((rc = enter(c, (int)inner->n_fields)) == 0) {
    rc = put_fields(c, inner, lua_gettop(L), false);
    c->depth--;
  }
  if (rc < 0) return -1;
  lua_settop(L, base);
  W(c, jt_putc(c->b, '}'));
  return 0;
}

/* The table at t as message m: an object, or the form of a well-known type. */
static int put_message(pj *c, const schema_message *m, int t) {
  lua_Integer count;
  int rc;
  t = lua_absindex(c->L, t);
  if (!lua_istable(c->L, t)) return type_fail(c, "table", t);
  if (enter(c, (int)m->n_fields) < 0) return -1;
  switch (wkt_of(m)) {
    case WKT_TIMESTAMP: rc = put_time(c, m, t, true); break;
    case WKT_DURATION: rc = put_time(c, m, t, false); break;
    case WKT_FIELD_MASK: rc = put_field_mask(c, m, t); break;
    case WKT_VALUE: rc = put_value(c, m, t); break;
    case WKT_WRAPPER: rc = put_wrapper(c, m, t); break;
    case WKT_ANY: rc = put_any(c, m, t); break;
    case WKT_STRUCT: case WKT_LIST_VALUE: {
      int base;
      const schema_field *f = &m->fields[0];
      if ((rc = collect(c, m, t, &base)) < 0 || (rc = push_step(c, f->name)) < 0) break;
      if (lua_isnil(c->L, base + 1)) {
        lua_newtable(c->L);
        lua_replace(c->L, base + 1);
      }
      rc = f->is_map ? put_map(c, f, base + 1, &count) : put_list(c, f, base + 1, &count);
      c->n--;
      lua_settop(c->L, base);
      break;
    }
    default:
      W(c, jt_putc(c->b, '{'));
      rc = put_fields(c, m, t, true);
      if (rc == 0) W(c, jt_putc(c->b, '}'));
  }
  c->depth--;
  return rc;
}

int protojson_encode(lua_State *L, int idx, const schema *s, const schema_message *m, jt_buf *b,
                     const char *root, char *err, size_t errlen) {
  pj c;
  int top = lua_gettop(L), rc;
  init(&c, L, s, b, root, err, errlen);
  b->len = 0;
  rc = put_message(&c, m, lua_absindex(L, idx));
  lua_settop(L, top);
  return rc;
}

/* }====================================================== */

/*
** {======================================================
** Reading
** =======================================================
*/

#undef W
#define R(c, x) do { if ((x) < 0) return read_fail(c); } while (0)

/* What the value at the reader is, for "expected string, got number". */
static const char *json_type(pj *c) {
  switch (jt_peek(&c->r)) {
    case '{': return "object";
    case '[': return "array";
    case '"': return "string";
    case 't': case 'f': return "boolean";
    case 'n': return "null";
    case -1: return "the end of the text";
    default: return *c->r.p == '-' || (*c->r.p >= '0' && *c->r.p <= '9') ? "number" : "no JSON value";
  }
}

static int expected(pj *c, const char *what) {
  const char *got = json_type(c);
  if (strcmp(got, "no JSON value") == 0) {
    jt_fail_expected(&c->r, what);
    return read_fail(c);
  }
  return fail(c, "expected %s, got %s", what, got);
}

/* The string at the reader (after white space): *s is valid until the next read. */
static int read_string(pj *c, const char **s, size_t *len) {
  if (jt_peek(&c->r) != '"') return expected(c, "string");
  R(c, jt_read_string(&c->r, c->b, s, len));
  return 0;
}

/* A number, or a string holding one, as text (a string's text stays in *s until the next read). */
static int read_numeric(pj *c, const char *what, const char **s, size_t *len, bool *quoted) {
  jt_number n;
  *quoted = jt_peek(&c->r) == '"';
  if (*quoted) return read_string(c, s, len);
  if (strcmp(json_type(c), "number") != 0) return expected(c, what);
  R(c, jt_read_number(&c->r, &n));
  *s = n.text;
  *len = n.len;
  return 0;
}

/* Pushes the integer of type t given as a number or a string. */
static int read_integer(pj *c, field_type t, lua_Integer *out) {
  const char *s;
  size_t len;
  bool quoted, integral, neg;
  uint64_t mag;
  lua_Integer min, max, v;
  int rc;
  if (read_numeric(c, "integer", &s, &len, &quoted) < 0) return -1;
  if (jt_scan_number(s, len, &integral) != len || len == 0)
    return fail(c, "expected integer, got \"%.*s\"", (int)(len < 40 ? len : 40), s);
  rc = jt_number_integer(s, len, &neg, &mag);
  if (rc == JT_NOT_INTEGER) return fail(c, "expected integer, got %.*s", (int)(len < 40 ? len : 40), s);
  int_range(t, &min, &max);
  if (is_unsigned64(t)) {
    if (rc == JT_OK && (!neg || mag == 0)) return (*out = (lua_Integer)mag), 0;
  } else if (rc == JT_OK && mag <= (neg ? (uint64_t)1 << 63 : (uint64_t)INT64_MAX)) {
    v = neg ? (lua_Integer)(0 - mag) : (lua_Integer)mag;
    if (v >= min && v <= max) return (*out = v), 0;
  }
  return fail(c, "%.*s is out of range for %s", (int)(len < 40 ? len : 40), s, type_name(t));
}

static int read_floating(pj *c, const schema_field *f, double *d) {
  const char *s;
  size_t len;
  bool quoted, integral;
  if (read_numeric(c, "number", &s, &len, &quoted) < 0) return -1;
  if (quoted && len == 3 && memcmp(s, "NaN", 3) == 0) return (*d = NAN), 0;
  if (quoted && len == 8 && memcmp(s, "Infinity", 8) == 0) return (*d = HUGE_VAL), 0;
  if (quoted && len == 9 && memcmp(s, "-Infinity", 9) == 0) return (*d = -HUGE_VAL), 0;
  if (jt_scan_number(s, len, &integral) != len || len == 0)
    return fail(c, "expected number, got \"%.*s\"", (int)(len < 40 ? len : 40), s);
  *d = jt_number_double(s, len);
  if (isinf(*d) || (f->type == FIELD_FLOAT && fabs(*d) >= FLOAT_LIMIT))
    return fail(c, "%.*s is out of range for %s", (int)(len < 40 ? len : 40), s, type_name(f->type));
  if (f->type == FIELD_FLOAT) *d = (double)(float)*d;
  return 0;
}

/* Pushes the value of enum field f given by name or number: its first name, or the number. */
static int read_enum(pj *c, const schema_field *f) {
  const schema_enum *e = f->enum_type;
  const schema_enum_value *ev;
  lua_Integer v;
  if (jt_peek(&c->r) == '"') {
    const char *s;
    size_t len;
    if (read_string(c, &s, &len) < 0) return -1;
    if ((ev = schema_enum_value_by_name(e, s, len)) == NULL)
      return fail(c, "unknown value \"%.*s\" of enum %s", (int)(len < 60 ? len : 60), s, e->full_name);
    ev = schema_enum_value_by_number(e, ev->number);
  } else {
    if (strcmp(json_type(c), "number") != 0) return expected(c, "enum name or integer");
    if (read_integer(c, FIELD_ENUM, &v) < 0) return -1;
    if ((ev = schema_enum_value_by_number(e, (int32_t)v)) == NULL) {
      if (e->closed)
        return fail(c, LUA_INTEGER_FMT " is not a value of enum %s", (LUAI_UACINT)v, e->full_name);
      lua_pushinteger(c->L, v);
      return 0;
    }
  }
  lua_pushstring(c->L, ev->name);
  return 0;
}

/* Pushes bytes given in base64; decoded into scratch (in place when the text is there). */
static int read_bytes(pj *c) {
  const char *s;
  size_t len;
  char *out;
  long n;
  if (read_string(c, &s, &len) < 0) return -1;
  if (s >= c->b->data && s < c->b->data + c->b->cap) out = (char *)s;   /* unescaped in scratch */
  else {
    c->b->len = 0;
    if (jt_reserve(c->b, len / 4 * 3 + 3) != JT_OK) return fail(c, "out of memory");
    out = c->b->data;
  }
  if ((n = jt_base64_decode(s, len, out)) < 0) return fail(c, "invalid base64");
  lua_pushlstring(c->L, out, (size_t)n);
  return 0;
}

static int read_message(pj *c, const schema_message *m);

/* Pushes a singular value of field f. */
static int read_single(pj *c, const schema_field *f) {
  lua_State *L = c->L;
  int which;
  switch (f->type) {
    case FIELD_MESSAGE: case FIELD_GROUP: return read_message(c, f->message);
    case FIELD_ENUM: return read_enum(c, f);
    case FIELD_BYTES: return read_bytes(c);
    case FIELD_STRING: {
      const char *s;
      size_t len;
      if (read_string(c, &s, &len) < 0) return -1;
      lua_pushlstring(L, s, len);
      return 0;
    }
    case FIELD_BOOL:
      if (jt_peek(&c->r) != 't' && jt_peek(&c->r) != 'f') return expected(c, "boolean");
      R(c, jt_read_literal(&c->r, &which));
      lua_pushboolean(L, which);
      return 0;
    case FIELD_DOUBLE: case FIELD_FLOAT: {
      double d = 0;
      if (read_floating(c, f, &d) < 0) return -1;
      lua_pushnumber(L, (lua_Number)d);
      return 0;
    }
    default: {
      lua_Integer v;
      if (read_integer(c, f->type, &v) < 0) return -1;
      lua_pushinteger(L, v);
      return 0;
    }
  }
}

/* Pushes {null_value = "NULL_VALUE"}, what null is for a Value. */
static void push_null_value(lua_State *L) {
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "NULL_VALUE");
  lua_setfield(L, -2, "null_value");
}

/* A null at the reader for field f, which takes it: pushes what it stands for. */
static int read_null(pj *c, const schema_field *f) {
  int which;
  R(c, jt_read_literal(&c->r, &which));
  if (is_null_value(f)) lua_pushliteral(c->L, "NULL_VALUE");
  else push_null_value(c->L);
  return 0;
}

/* An element of a list or a map value: null only where a Value (or NullValue) is. */
static int read_element(pj *c, const schema_field *f) {
  if (jt_peek(&c->r) == 'n') {
    if (!takes_null(f)) return fail(c, "null is not a value here");
    return read_null(c, f);
  }
  return read_single(c, f);
}

/* Steps over ',' or stops at close: 1 at close (stepped over), 0 after a ','. */
static int next_member(pj *c, char close) {
  if (jt_peek(&c->r) == close) {
    c->r.p++;
    return 1;
  }
  R(c, jt_expect(&c->r, ',', close == '}' ? "',' or '}'" : "',' or ']'"));
  return 0;
}

/* Opens an object or array: 1 when it is empty (and closed already). */
static int open_container(pj *c, char open, const char *what) {
  if (jt_peek(&c->r) != (unsigned char)open) return expected(c, what);
  c->r.p++;
  if (jt_peek(&c->r) == (open == '{' ? '}' : ']')) {
    c->r.p++;
    return 1;
  }
  return 0;
}

/* Pushes the list of repeated field f. */
static int read_list(pj *c, const schema_field *f) {
  lua_State *L = c->L;
  ljson_step *step = top_step(c);
  lua_Integer n = 0;
  int rc;
  if ((rc = open_container(c, '[', "array")) < 0) return -1;
  if (!lua_checkstack(L, 4)) return fail(c, "Lua stack overflow");
  lua_newtable(L);
  while (rc == 0) {
    step->index = n + 1;
    if (read_element(c, f) < 0) return -1;
    lua_rawseti(L, -2, ++n);
    if ((rc = next_member(c, ']')) < 0) return -1;
  }
  step->index = 0;
  return 0;
}

/* Pushes the map key of key field kf given as the JSON name at the top of the stack. */
static int read_map_key(pj *c, const schema_field *kf) {
  lua_State *L = c->L;
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  bool integral, neg;
  uint64_t mag;
  lua_Integer min, max, v;
  if (kf->type == FIELD_STRING) return lua_pushvalue(L, -1), 0;
  if (kf->type == FIELD_BOOL) {
    if (len == 4 && memcmp(s, "true", 4) == 0) return lua_pushboolean(L, 1), 0;
    if (len == 5 && memcmp(s, "false", 5) == 0) return lua_pushboolean(L, 0), 0;
    return fail(c, "expected true or false");
  }
  int_range(kf->type, &min, &max);
  if (len == 0 || jt_scan_number(s, len, &integral) != len || !integral ||
      jt_number_integer(s, len, &neg, &mag) != JT_OK)
    return fail(c, "expected integer");
  if (is_unsigned64(kf->type) && (!neg || mag == 0)) return lua_pushinteger(L, (lua_Integer)mag), 0;
  if (!is_unsigned64(kf->type) && mag <= (neg ? (uint64_t)1 << 63 : (uint64_t)INT64_MAX)) {
    v = neg ? (lua_Integer)(0 - mag) : (lua_Integer)mag;
    if (v >= min && v <= max) return lua_pushinteger(L, v), 0;
  }
  return fail(c, "out of range for %s", type_name(kf->type));
}

/* Pushes the table of map field f. */
static int read_map(pj *c, const schema_field *f) {
  lua_State *L = c->L;
  const schema_field *kf = &f->message->fields[0], *vf = &f->message->fields[1];
  ljson_step *step = top_step(c);
  int rc;
  if ((rc = open_container(c, '{', "object")) < 0) return -1;
  if (!lua_checkstack(L, 6)) return fail(c, "Lua stack overflow");
  lua_newtable(L);
  while (rc == 0) {
    const char *s;
    size_t len;
    if (jt_peek(&c->r) != '"') return expected(c, "string (a map key)");
    if (read_string(c, &s, &len) < 0) return -1;
    lua_pushlstring(L, s, len);                         /* map name */
    step->key = lua_gettop(L);
    c->in_key = true;
    if (read_map_key(c, kf) < 0) return -1;             /* map name key */
    c->in_key = false;
    step->key = lua_gettop(L);
    R(c, jt_expect(&c->r, ':', "':'"));
    if (read_element(c, vf) < 0) return -1;             /* map name key value */
    lua_rawset(L, -4);
    lua_pop(L, 1);
    step->key = 0;
    if ((rc = next_member(c, '}')) < 0) return -1;
  }
  return 0;
}

/* Pushes the value of field f (not null). */
static int read_field(pj *c, const schema_field *f) {
  if (f->is_map) return read_map(c, f);
  if (f->label == LABEL_REPEATED) return read_list(c, f);
  return read_single(c, f);
}

/* Bits of fields: given (set), or given as something other than null (has). */
typedef struct fieldset {
  uint64_t local[4], *bits;
} fieldset;

static void fieldset_init(lua_State *L, fieldset *fs, size_t n) {
  size_t words = (n + 63) / 64;
  fs->bits = words <= 2 ? fs->local : lua_newuserdatauv(L, 2 * words * sizeof *fs->bits, 0);
  memset(fs->bits, 0, 2 * words * sizeof *fs->bits);
}

#define BIT(fs, which, n_fields, i) \
  ((fs)->bits[(which) * (((n_fields) + 63) / 64) + (i) / 64] >> ((i) % 64) & 1)
#define SET_BIT(fs, which, n_fields, i) \
  ((fs)->bits[(which) * (((n_fields) + 63) / 64) + (i) / 64] |= (uint64_t)1 << ((i) % 64))

/* The field a member's name stands for; unknown names are errors. */
static int member_field(pj *c, const schema_message *m, const char *s, size_t len,
                        const schema_field **f) {
  char name[80];
  if ((*f = schema_field_by_name(m, s, len)) != NULL) return 0;
  if ((*f = schema_field_by_json_name(m, s, len)) != NULL) return 0;
  snprintf(name, sizeof name, "%.*s", (int)(len < 60 ? len : 60), s);
  if (push_step(c, name) < 0) return -1;
  return fail(c, "unknown field of %s", m->full_name);
}

/* One oneof member at a time: f is being given, and must be the first of its oneof. */
static int check_oneof(pj *c, const schema_message *m, const schema_field *f, const fieldset *fs) {
  for (size_t j = 0; j < m->n_fields; j++)
    if (m->fields[j].oneof == f->oneof && &m->fields[j] != f && BIT(fs, 1, m->n_fields, j))
      return fail(c, "only one of oneof '%s' may be set (%s, %s)", m->oneofs[f->oneof],
                  m->fields[j].name, f->name);
  return 0;
}

/* After the members: defaults of the fields without presence, required fields checked. */
static int finish_fields(pj *c, const schema_message *m, int t, const fieldset *fs) {
  lua_State *L = c->L;
  for (size_t i = 0; i < m->n_fields; i++) {
    const schema_field *f = &m->fields[i];
    if (BIT(fs, 1, m->n_fields, i)) continue;
    if (f->label == LABEL_REQUIRED) {
      if (push_step(c, f->name) < 0) return -1;
      return fail(c, "missing required field");
    }
    if (f->label != LABEL_REPEATED && f->has_presence) continue;
    if (f->label == LABEL_REPEATED) lua_newtable(L);
    else codec_push_default(L, f);
    lua_setfield(L, t, f->name);
  }
  return 0;
}

/*
** The members of an object already open (after its '{'), fields of m, into
** the table at t. skip_type: step over "@type" (an Any's members).
*/
static int read_fields(pj *c, const schema_message *m, int t, bool skip_type) {
  lua_State *L = c->L;
  fieldset fs;
  int top = lua_gettop(L), rc = 0;
  fieldset_init(L, &fs, m->n_fields);
  if (jt_peek(&c->r) == '}') {
    c->r.p++;
    rc = 1;
  }
  while (rc == 0) {
    const schema_field *f;
    const char *s;
    size_t len, i;
    if (jt_peek(&c->r) != '"') return expected(c, "string (a field name)");
    if (read_string(c, &s, &len) < 0) return -1;
    if (skip_type && len == 5 && memcmp(s, "@type", 5) == 0) {
      R(c, jt_expect(&c->r, ':', "':'"));
      R(c, jt_skip_value(&c->r, c->b, MAX_DEPTH));
    } else {
      if (member_field(c, m, s, len, &f) < 0 || push_step(c, f->name) < 0) return -1;
      i = (size_t)(f - m->fields);
      if (BIT(&fs, 0, m->n_fields, i)) return fail(c, "given twice");
      SET_BIT(&fs, 0, m->n_fields, i);
      R(c, jt_expect(&c->r, ':', "':'"));
      if (jt_peek(&c->r) == 'n' && !(f->label != LABEL_REPEATED && takes_null(f))) {
        int which;
        R(c, jt_read_literal(&c->r, &which));   /* null: the field is not set */
      } else {
        if (f->oneof >= 0 && check_oneof(c, m, f, &fs) < 0) return -1;
        if ((jt_peek(&c->r) == 'n' ? read_null(c, f) : read_field(c, f)) < 0) return -1;
        lua_setfield(L, t, f->name);
        SET_BIT(&fs, 1, m->n_fields, i);
      }
      c->n--;
    }
    if ((rc = next_member(c, '}')) < 0) return -1;
  }
  if (finish_fields(c, m, t, &fs) < 0) return -1;
  lua_settop(L, top);
  return 0;
}

/* Up to 9 digits of fraction at *p: nanoseconds. */
static int32_t read_nanos(const char **p, const char *end, int *digits) {
  int32_t ns = 0;
  *digits = 0;
  while (*p < end && **p >= '0' && **p <= '9' && *digits < 10) {
    ns = ns * 10 + (**p - '0');
    (*p)++;
    (*digits)++;
  }
  for (int k = *digits; k < 9; k++) ns *= 10;
  return ns;
}

/* n digits at p as a number, or -1. */
static int digits_at(const char *p, int n) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return -1;
    v = v * 10 + (p[i] - '0');
  }
  return v;
}

/* RFC 3339: 1972-01-01T10:00:20.021Z or with an offset, +05:30. */
static int read_timestamp(pj *c) {
  const char *s, *p, *end;
  size_t len;
  int y, mo, d, h, mi, sec, digits = 0, oh = 0, om = 0;
  int32_t ns = 0;
  int64_t secs, yy;
  int cm, cd;
  if (read_string(c, &s, &len) < 0) return -1;
  end = s + len;
  if (len < 20 || (y = digits_at(s, 4)) < 0 || s[4] != '-' || (mo = digits_at(s + 5, 2)) < 0 ||
      s[7] != '-' || (d = digits_at(s + 8, 2)) < 0 || (s[10] != 'T' && s[10] != 't') ||
      (h = digits_at(s + 11, 2)) < 0 || s[13] != ':' || (mi = digits_at(s + 14, 2)) < 0 ||
      s[16] != ':' || (sec = digits_at(s + 17, 2)) < 0)
    goto bad;
  p = s + 19;
  if (*p == '.') {
    p++;
    ns = read_nanos(&p, end, &digits);
    if (digits == 0 || digits > 9) goto bad;
  }
  if (p < end && (*p == 'Z' || *p == 'z')) p++;
  else if (end - p == 6 && (*p == '+' || *p == '-') && (oh = digits_at(p + 1, 2)) >= 0 &&
           p[3] == ':' && (om = digits_at(p + 4, 2)) >= 0 && oh < 24 && om < 60) {
    if (*p == '+') oh = -oh, om = -om;
    p += 6;
  } else goto bad;
  if (p != end || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) goto bad;
  secs = days_from_civil(y, mo, d);
  civil_from_days(secs, &yy, &cm, &cd);
  if (yy != y || cm != mo || cd != d) goto bad;   /* no such day */
  secs = secs * 86400 + h * 3600 + mi * 60 + sec + oh * 3600 + om * 60;
  if (secs < TIMESTAMP_MIN || secs > TIMESTAMP_MAX)
    return fail(c, "Timestamp out of range (years 1 to 9999)");
  codec_push_time(c->L, secs, ns);
  return 0;
bad:
  return fail(c, "expected a Timestamp in RFC 3339 form (\"1972-01-01T10:00:20.021Z\"), got \"%.*s\"",
              (int)(len < 40 ? len : 40), s);
}

/* "1.5s", "-0.000000001s" */
static int read_duration(pj *c) {
  const char *s, *p, *end;
  size_t len;
  bool neg;
  int64_t secs = 0;
  int32_t ns = 0;
  int digits = 0, whole = 0;
  if (read_string(c, &s, &len) < 0) return -1;
  p = s;
  end = s + len;
  neg = p < end && *p == '-';
  p += neg;
  while (p < end && *p >= '0' && *p <= '9' && whole++ < 13) secs = secs * 10 + (*p++ - '0');
  if (whole == 0) goto bad;
  if (p < end && *p == '.') {
    p++;
    ns = read_nanos(&p, end, &digits);
    if (digits == 0 || digits > 9) goto bad;
  }
  if (p + 1 != end || *p != 's') goto bad;
  if (secs > DURATION_MAX) return fail(c, "Duration out of range (10,000 years at most)");
  codec_push_time(c->L, neg ? -secs : secs, neg ? -ns : ns);
  return 0;
bad:
  return fail(c, "expected a Duration such as \"1.5s\", got \"%.*s\"", (int)(len < 40 ? len : 40), s);
}

/* "a.fooBar,b" -> {paths = {"a.foo_bar", "b"}} */
static int read_field_mask(pj *c) {
  lua_State *L = c->L;
  const char *s;
  size_t len, start = 0;
  lua_Integer n = 0;
  luaL_Buffer lb;
  if (read_string(c, &s, &len) < 0) return -1;
  lua_pushlstring(L, s, len);   /* s stays while the buffer grows */
  s = lua_tostring(L, -1);
  lua_createtable(L, 0, 1);
  lua_newtable(L);              /* text mask paths */
  for (size_t i = 0; i <= len && len > 0; i++) {
    if (i < len && s[i] != ',') continue;
    luaL_buffinit(L, &lb);
    for (size_t k = start; k < i; k++) {
      if (s[k] == '_') return fail(c, "FieldMask path \"%.*s\" has a '_' (paths are lowerCamelCase)",
                                   (int)(i - start), s + start);
      if (s[k] >= 'A' && s[k] <= 'Z') {
        luaL_addchar(&lb, '_');
        luaL_addchar(&lb, (char)(s[k] - 'A' + 'a'));
      } else luaL_addchar(&lb, s[k]);
    }
    luaL_pushresult(&lb);
    lua_rawseti(L, -2, ++n);
    start = i + 1;
  }
  lua_setfield(L, -2, "paths");
  lua_remove(L, -2);
  return 0;
}

/* Value: any JSON. */
static int read_value(pj *c, const schema_message *m) {
  lua_State *L = c->L;
  const char *member;
  const schema_field *f;
  switch (jt_peek(&c->r)) {
    case 'n': {
      int which;
      R(c, jt_read_literal(&c->r, &which));
      push_null_value(L);
      return 0;
    }
    case 't': case 'f': member = "bool_value"; break;
    case '"': member = "string_value"; break;
    case '{': member = "struct_value"; break;
    case '[': member = "list_value"; break;
    default: member = "number_value";
  }
  f = schema_field_by_name(m, member, strlen(member));
  if (f == NULL) return fail(c, "%s has no field %s", m->full_name, member);
  lua_createtable(L, 0, 1);
  if (push_step(c, f->name) < 0 || read_single(c, f) < 0) return -1;
  c->n--;
  lua_setfield(L, -2, f->name);
  return 0;
}

/* The type of an Any, from its "@type" member wherever it is; NULL *m for the empty Any. */
static int any_type(pj *c, const char **url, size_t *url_len, const schema_message **m) {
  jt_reader saved = c->r;
  const char *s;
  size_t len;
  int rc = 0;
  *m = NULL;
  c->r.p++;
  if (jt_peek(&c->r) == '}') {
    c->r = saved;
    return 0;
  }
  while (rc == 0) {
    if (read_string(c, &s, &len) < 0) return -1;
    R(c, jt_expect(&c->r, ':', "':'"));
    if (len == 5 && memcmp(s, "@type", 5) == 0) {
      if (push_step(c, "@type") < 0 || read_string(c, &s, &len) < 0) return -1;
      lua_pushlstring(c->L, s, len);   /* kept on the stack by the caller */
      *url = lua_tolstring(c->L, -1, url_len);
      if ((*m = type_of_url(c->s, *url)) == NULL || strlen(*url) != *url_len)
        return fail(c, "no message type \"%s\" in the protosets", *url);
      c->n--;
      c->r = saved;
      return 0;
    }
    R(c, jt_skip_value(&c->r, c->b, MAX_DEPTH));
    if ((rc = next_member(c, '}')) < 0) return -1;
  }
  return fail(c, "an Any needs \"@type\"");
}

/* [-0, +1] A wire buffer that a memory error cannot leak: a userdata whose __gc frees it. */
static int wire_gc(lua_State *L) {
  codec_buf_free(luaL_checkudata(L, 1, WIRE_MT));
  return 0;
}

static codec_buf *push_wire_buffer(lua_State *L) {
  codec_buf *w = lua_newuserdatauv(L, sizeof *w, 0);
  memset(w, 0, sizeof *w);
  if (luaL_newmetatable(L, WIRE_MT)) {
    lua_pushcfunction(L, wire_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return w;
}

/* {"@type": url, fields...} or {"@type": url, "value": form} -> {type_url = url, value = bytes} */
static int read_any(pj *c) {
  lua_State *L = c->L;
  const schema_message *inner;
  const char *url = NULL;
  size_t url_len = 0;
  char err[512];
  codec_buf *w;
  int rc;
  if (jt_peek(&c->r) != '{') return expected(c, "object");
  if (any_type(c, &url, &url_len, &inner) < 0) return -1;   /* url */
  if (inner == NULL) {                                       /* {} */
    c->r.p++;
    jt_peek(&c->r);
    c->r.p++;
    lua_newtable(L);
    return 0;
  }
  c->r.p++;
  if (wkt_of(inner) == WKT_NONE) {
    if (enter(c, 8) < 0) return -1;
    lua_newtable(L);                                         /* url t */
    rc = read_fields(c, inner, lua_gettop(L), true);
    c->depth--;
    if (rc < 0) return -1;
  } else {
    bool seen = false;
    rc = 0;
    while (rc == 0) {
      const char *s;
      size_t len;
      if (read_string(c, &s, &len) < 0) return -1;
      R(c, jt_expect(&c->r, ':', "':'"));
      if (len == 5 && memcmp(s, "@type", 5) == 0) R(c, jt_skip_value(&c->r, c->b, MAX_DEPTH));
      else if (len == 5 && memcmp(s, "value", 5) == 0 && !seen) {
        if (push_step(c, "value") < 0 || read_message(c, inner) < 0) return -1;   /* url t */
        c->n--;
        seen = true;
      } else return fail(c, "an Any of %s has only \"@type\" and \"value\"", inner->full_name);
      if ((rc = next_member(c, '}')) < 0) return -1;
    }
    if (!seen) return fail(c, "an Any of %s needs \"value\"", inner->full_name);
  }
  w = push_wire_buffer(L);                                   /* url t w */
  if (codec_encode(L, -2, inner, w, inner->full_name, err, sizeof err) < 0) return fail(c, "%s", err);
  lua_createtable(L, 0, 2);                                  /* url t w any */
  lua_pushvalue(L, -4);
  lua_setfield(L, -2, "type_url");
  lua_pushlstring(L, w->data ? w->data : "", w->len);
  lua_setfield(L, -2, "value");
  codec_buf_free(w);
  lua_replace(L, -4);                                        /* any t w */
  lua_pop(L, 2);
  return 0;
}

/* Pushes {field = table}: the wrapper of a Struct or a ListValue around its map or list. */
static int read_wrapped(pj *c, const schema_message *m) {
  const schema_field *f = &m->fields[0];
  lua_createtable(c->L, 0, 1);
  if (push_step(c, f->name) < 0 || read_field(c, f) < 0) return -1;
  c->n--;
  lua_setfield(c->L, -2, f->name);
  return 0;
}

/* Pushes the table of message m read at the reader (not at a null). */
static int read_message(pj *c, const schema_message *m) {
  int rc;
  if (enter(c, 8) < 0) return -1;
  switch (wkt_of(m)) {
    case WKT_TIMESTAMP: rc = read_timestamp(c); break;
    case WKT_DURATION: rc = read_duration(c); break;
    case WKT_FIELD_MASK: rc = read_field_mask(c); break;
    case WKT_VALUE: rc = read_value(c, m); break;
    case WKT_ANY: rc = read_any(c); break;
    case WKT_STRUCT: case WKT_LIST_VALUE: case WKT_WRAPPER: rc = read_wrapped(c, m); break;
    default:
      if (jt_peek(&c->r) != '{') return expected(c, "object");
      c->r.p++;
      lua_createtable(c->L, 0, (int)m->n_implicit);
      rc = read_fields(c, m, lua_gettop(c->L), false);
  }
  c->depth--;
  return rc;
}

int protojson_decode(lua_State *L, const schema *s, const schema_message *m, const char *text,
                     size_t len, jt_buf *scratch, const char *root, char *err, size_t errlen) {
  pj c;
  int top = lua_gettop(L);
  init(&c, L, s, scratch, root, err, errlen);
  jt_reader_init(&c.r, text ? text : "", len, c.rerr, sizeof c.rerr);
  if (!lua_checkstack(L, 8)) return fail(&c, "Lua stack overflow");
  if (jt_peek(&c.r) == 'n') return fail(&c, "expected object, got null");
  if (read_message(&c, m) < 0) {
    lua_settop(L, top);
    return -1;
  }
  if (jt_peek(&c.r) >= 0) {
    jt_fail_expected(&c.r, "the end of the text");
    lua_settop(L, top);
    return read_fail(&c);
  }
  return 0;
}

/* }====================================================== */
