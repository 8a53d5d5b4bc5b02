/*
** protojson_write.c
** protojson_encode: a Lua table in the codec's mapping to JSON text in the
** proto3 JSON mapping, driven by the schema (protojson.h).
**
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
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "codec.h"
#include "protojson.h"
#include "protojson_walk.h"

/* ".000", ".000000" or ".000000000" for nanos, as protobuf writes them; nothing for 0. */
static int fraction_text(char *out, size_t size, int32_t nanos) {
  if (nanos == 0) return (out[0] = '\0', 0);
  if (nanos % 1000000 == 0) return snprintf(out, size, ".%03d", (int)(nanos / 1000000));
  if (nanos % 1000 == 0) return snprintf(out, size, ".%06d", (int)(nanos / 1000));
  return snprintf(out, size, ".%09d", (int)nanos);
}


static int write_fail(pj *c, int rc) {
  if (rc == JT_TOOBIG)
    return pj_fail(c, "the JSON text would be larger than %zu bytes (the host's --max-message-bytes)",
                c->b->limit);
  return pj_fail(c, "out of memory");
}

#define W(c, x) do { int rc_ = (x); if (rc_ != JT_OK) return write_fail(c, rc_); } while (0)

static int type_fail(pj *c, const char *expected, int idx) {
  lua_State *L = c->L;
  if (lua_type(L, idx) == LUA_TNUMBER && !lua_isinteger(L, idx))
    return pj_fail(c, "expected %s, got number " LUA_NUMBER_FMT, expected,
                (LUAI_UACNUMBER)lua_tonumber(L, idx));
  return pj_fail(c, "expected %s, got %s", expected, luaL_typename(L, idx));
}

static int put_text(pj *c, const char *s, size_t len) {
  size_t bad;
  int rc = jt_put_string(c->b, s, len, &bad);
  if (rc == JT_BADUTF8) return pj_fail(c, "invalid UTF-8 (byte %zu)", bad + 1);
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
  pj_int_range(t, &min, &max);
  if (*v < min || *v > max)
    return pj_fail(c, LUA_INTEGER_FMT " is out of range for %s", (LUAI_UACINT)*v, pj_type_name(t));
  return 0;
}

static int put_integer(pj *c, field_type t, lua_Integer v) {
  if (!pj_is_64bit(t)) {
    W(c, jt_put_int(c->b, v));
    return 0;
  }
  W(c, buf_putc(c->b, '"'));
  W(c, pj_is_unsigned64(t) ? jt_put_uint(c->b, (uint64_t)v) : jt_put_int(c->b, v));
  W(c, buf_putc(c->b, '"'));
  return 0;
}

/* A float or double field's value: the number nearest as that type (floats saturate, as the codec's). */
static double field_double(const schema_field *f, double d) {
  if (f->type != FIELD_FLOAT || d != d) return d;
  if (d >= PJ_FLOAT_LIMIT) return HUGE_VAL;
  if (d <= -PJ_FLOAT_LIMIT) return -HUGE_VAL;
  return (double)(float)d;
}

static int put_floating(pj *c, const schema_field *f, double d) {
  if (d != d) W(c, buf_put(c->b, "\"NaN\"", 5));
  else if (isinf(d)) W(c, d > 0 ? buf_put(c->b, "\"Infinity\"", 10) : buf_put(c->b, "\"-Infinity\"", 11));
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
      return pj_fail(c, "unknown value \"%s\" of enum %s", name, e->full_name);
    *v = (*ev)->number;
    return 0;
  }
  if (lua_type(L, idx) != LUA_TNUMBER) return type_fail(c, "enum name or integer", idx);
  if (get_integer(c, FIELD_ENUM, idx, v) < 0) return -1;
  *ev = schema_enum_value_by_number(e, (int32_t)*v);
  if (*ev == NULL && e->closed)
    return pj_fail(c, LUA_INTEGER_FMT " is not a value of enum %s", (LUAI_UACINT)*v, e->full_name);
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
      W(c, *zero ? buf_put(c->b, "false", 5) : buf_put(c->b, "true", 4));
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
      if (pj_is_null_value(f)) W(c, buf_put(c->b, "null", 4));
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
  if ((*n = codec_array_length(c->L, t, why, sizeof why)) < 0) return pj_fail(c, "%s", why);
  return 0;
}

/* Repeated field f at idx as a JSON array; *count its elements. */
static int put_list(pj *c, const schema_field *f, int idx, lua_Integer *count) {
  lua_State *L = c->L;
  ljson_step *step = pj_top_step(c);
  bool zero;
  if (!lua_istable(L, idx)) return type_fail(c, "array", idx);
  if (array_length(c, idx, count) < 0) return -1;
  W(c, buf_putc(c->b, '['));
  for (lua_Integer i = 1; i <= *count; i++) {
    if (i > 1) W(c, buf_putc(c->b, ','));
    lua_rawgeti(L, idx, i);
    step->index = i;
    if (put_single(c, f, lua_gettop(L), &zero) < 0) return -1;
    lua_pop(L, 1);
  }
  step->index = 0;
  W(c, buf_putc(c->b, ']'));
  return 0;
}

/* The map key at idx, of key field kf, as a JSON string. */
static int put_map_key(pj *c, const schema_field *kf, int idx) {
  lua_Integer v;
  if (kf->type == FIELD_STRING) return put_lua_string(c, idx);
  if (kf->type == FIELD_BOOL) {
    if (!lua_isboolean(c->L, idx)) return type_fail(c, "boolean", idx);
    W(c, lua_toboolean(c->L, idx) ? buf_put(c->b, "\"true\"", 6) : buf_put(c->b, "\"false\"", 7));
    return 0;
  }
  if (get_integer(c, kf->type, idx, &v) < 0) return -1;
  W(c, buf_putc(c->b, '"'));
  W(c, pj_is_unsigned64(kf->type) ? jt_put_uint(c->b, (uint64_t)v) : jt_put_int(c->b, v));
  W(c, buf_putc(c->b, '"'));
  return 0;
}

/* Map field f at idx as a JSON object; *count its entries. */
static int put_map(pj *c, const schema_field *f, int idx, lua_Integer *count) {
  lua_State *L = c->L;
  const schema_field *kf = &f->message->fields[0], *vf = &f->message->fields[1];
  ljson_step *step = pj_top_step(c);
  bool zero;
  if (!lua_istable(L, idx)) return type_fail(c, "table", idx);
  *count = 0;
  W(c, buf_putc(c->b, '{'));
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int key = lua_gettop(L) - 1;
    if ((*count)++ > 0) W(c, buf_putc(c->b, ','));
    step->key = key;
    c->in_key = true;
    if (put_map_key(c, kf, key) < 0) return -1;
    c->in_key = false;
    W(c, buf_putc(c->b, ':'));
    if (put_single(c, vf, key + 1, &zero) < 0) return -1;
    lua_pop(L, 1);
  }
  step->key = 0;
  W(c, buf_putc(c->b, '}'));
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
      return pj_fail(c, "expected field name, got %s key", luaL_typename(L, -2));
    name = lua_tolstring(L, -2, &len);
    if ((f = schema_field_by_name(m, name, len)) == NULL) {
      if (pj_push_step(c, name) < 0) return -1;
      return pj_fail(c, "unknown field of %s", m->full_name);
    }
    lua_replace(L, *base + 1 + (int)(f - m->fields));
  }
  for (size_t i = 0; i < m->n_fields && m->n_oneofs > 0; i++) {
    const schema_field *f = &m->fields[i];
    if (f->oneof < 0 || lua_isnil(L, *base + 1 + (int)i)) continue;
    for (size_t j = 0; j < i; j++)
      if (m->fields[j].oneof == f->oneof && !lua_isnil(L, *base + 1 + (int)j))
        return pj_fail(c, "only one of oneof '%s' may be set (%s, %s)", m->oneofs[f->oneof],
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
  if (!*first) W(c, buf_putc(c->b, ','));
  if (put_text(c, f->json_name, strlen(f->json_name)) < 0) return -1;
  W(c, buf_putc(c->b, ':'));
  if (pj_push_step(c, f->name) < 0) return -1;
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
  if (pj_push_step(c, name) < 0) return -1;
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
    if (s < PJ_TIMESTAMP_MIN || s > PJ_TIMESTAMP_MAX || ns < 0 || ns > 999999999)
      return pj_fail(c, "Timestamp out of range (seconds " LUA_INTEGER_FMT ", nanos " LUA_INTEGER_FMT ")",
                  (LUAI_UACINT)s, (LUAI_UACINT)ns);
    day = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
    sod = s - day * 86400;
    pj_civil_from_days(day, &y, &mo, &d);
    fraction_text(frac, sizeof frac, (int32_t)ns);
    n = snprintf(text, sizeof text, "\"%04d-%02d-%02dT%02d:%02d:%02d%sZ\"", (int)y, mo, d,
                 (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), frac);
  } else {
    if (s < -PJ_DURATION_MAX || s > PJ_DURATION_MAX || ns < -999999999 || ns > 999999999 ||
        (s > 0 && ns < 0) || (s < 0 && ns > 0))
      return pj_fail(c, "Duration out of range (seconds " LUA_INTEGER_FMT ", nanos " LUA_INTEGER_FMT ")",
                  (LUAI_UACINT)s, (LUAI_UACINT)ns);
    fraction_text(frac, sizeof frac, (int32_t)(ns < 0 ? -ns : ns));
    n = snprintf(text, sizeof text, "\"%s" LUA_INTEGER_FMT "%ss\"", s < 0 || ns < 0 ? "-" : "",
                 (LUAI_UACINT)(s < 0 ? -s : s), frac);
  }
  W(c, buf_put(c->b, text, (size_t)n));
  return 0;
}

/* FieldMask: the paths in lowerCamelCase, joined by commas, as one string. */
static int put_field_mask(pj *c, const schema_message *m, int t) {
  lua_State *L = c->L;
  const schema_field *f = &m->fields[0];
  luaL_Buffer lb;
  lua_Integer n = 0;
  int base;
  if (collect(c, m, t, &base) < 0 || pj_push_step(c, f->name) < 0) return -1;
  if (!lua_isnil(L, base + 1)) {
    if (!lua_istable(L, base + 1)) return type_fail(c, "array", base + 1);
    if (array_length(c, base + 1, &n) < 0) return -1;
  }
  luaL_buffinit(L, &lb);
  for (lua_Integer i = 1; i <= n; i++) {
    size_t len;
    const char *p;
    bool upper = false;
    pj_top_step(c)->index = i;
    lua_rawgeti(L, base + 1, i);
    if (lua_type(L, -1) != LUA_TSTRING) return type_fail(c, "string", -1);
    p = lua_tolstring(L, -1, &len);
    lua_pop(L, 1);   /* the array keeps it; the buffer grows only on the stack as it left it */
    if (i > 1) luaL_addchar(&lb, ',');
    for (size_t k = 0; k < len; k++) {
      char ch = p[k];
      if ((ch >= 'A' && ch <= 'Z') || (upper && !(ch >= 'a' && ch <= 'z')) || (ch == '_' && k + 1 == len))
        return pj_fail(c, "path \"%s\" has no JSON form (lower case and '_' before a letter only)", p);
      if (ch == '_') upper = true;
      else {
        luaL_addchar(&lb, upper ? (char)(ch - 'a' + 'A') : ch);
        upper = false;
      }
    }
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
    if (pj_push_step(c, f->name) < 0) return -1;
    if (f->type == FIELD_DOUBLE && lua_type(L, idx) == LUA_TNUMBER && !isfinite(lua_tonumber(L, idx)))
      return pj_fail(c, "%s has no JSON form in a Value (it would read back as a string)",
                  lua_tonumber(L, idx) != lua_tonumber(L, idx) ? "NaN" : "an infinity");
    rc = put_single(c, f, idx, &zero);
    c->n--;
    lua_settop(L, base);
    return rc;
  }
  lua_settop(L, base);
  W(c, buf_put(c->b, "null", 4));
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
  if (pj_push_step(c, f->name) < 0) return -1;
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
    return pj_push_step(c, "type_url") < 0 ? -1 : type_fail(c, "string", base + 1);
  if (!lua_isnil(L, base + 2) && lua_type(L, base + 2) != LUA_TSTRING)
    return pj_push_step(c, "value") < 0 ? -1 : type_fail(c, "string", base + 2);
  url = lua_isnil(L, base + 1) ? "" : lua_tolstring(L, base + 1, &url_len);
  data = lua_isnil(L, base + 2) ? "" : lua_tolstring(L, base + 2, &len);
  if (url_len == 0 && len == 0) {   /* the empty Any */
    lua_settop(L, base);
    W(c, buf_put(c->b, "{}", 2));
    return 0;
  }
  if (strlen(url) != url_len || (inner = pj_type_of_url(c->s, url)) == NULL) {
    if (pj_push_step(c, "type_url") < 0) return -1;
    return pj_fail(c, "no message type \"%s\" in the protosets", url);
  }
  if (codec_decode(L, inner, data, len, inner->full_name, err, sizeof err) < 0) {
    if (pj_push_step(c, "value") < 0) return -1;
    return pj_fail(c, "%s", err);
  }
  W(c, buf_put(c->b, "{\"@type\":", 9));
  if (put_text(c, url, url_len) < 0) return -1;
  if (pj_wkt(inner) != WKT_NONE) {
    W(c, buf_put(c->b, ",\"value\":", 9));
    rc = put_message(c, inner, lua_gettop(L));
  } else if ((rc = pj_enter(c, (int)inner->n_fields)) == 0) {
    rc = put_fields(c, inner, lua_gettop(L), false);
    c->depth--;
  }
  if (rc < 0) return -1;
  lua_settop(L, base);
  W(c, buf_putc(c->b, '}'));
  return 0;
}

/* The table at t as message m: an object, or the form of a well-known type. */
static int put_message(pj *c, const schema_message *m, int t) {
  lua_Integer count;
  int rc;
  t = lua_absindex(c->L, t);
  if (!lua_istable(c->L, t)) return type_fail(c, "table", t);
  if (pj_enter(c, (int)m->n_fields) < 0) return -1;
  switch (pj_wkt(m)) {
    case WKT_TIMESTAMP: rc = put_time(c, m, t, true); break;
    case WKT_DURATION: rc = put_time(c, m, t, false); break;
    case WKT_FIELD_MASK: rc = put_field_mask(c, m, t); break;
    case WKT_VALUE: rc = put_value(c, m, t); break;
    case WKT_WRAPPER: rc = put_wrapper(c, m, t); break;
    case WKT_ANY: rc = put_any(c, m, t); break;
    case WKT_STRUCT: case WKT_LIST_VALUE: {
      int base;
      const schema_field *f = &m->fields[0];
      if ((rc = collect(c, m, t, &base)) < 0 || (rc = pj_push_step(c, f->name)) < 0) break;
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
      W(c, buf_putc(c->b, '{'));
      rc = put_fields(c, m, t, true);
      if (rc == 0) W(c, buf_putc(c->b, '}'));
  }
  c->depth--;
  return rc;
}

int protojson_encode(lua_State *L, int idx, const schema *s, const schema_message *m, buf *b,
                     const char *root, char *err, size_t errlen) {
  pj c;
  int top = lua_gettop(L), rc;
  pj_init(&c, L, s, b, root, err, errlen);
  b->len = 0;
  rc = put_message(&c, m, lua_absindex(L, idx));
  lua_settop(L, top);
  return rc;
}
