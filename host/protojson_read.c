/*
** protojson_read.c
** protojson_decode: JSON text in the proto3 JSON mapping to a Lua table in
** the codec's mapping, driven by the schema (protojson.h).
**
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
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "codec.h"
#include "protojson.h"
#include "protojson_walk.h"

#define WIRE_MT "protojson.wire"

/* The reader failed: its message, after the path. */
static int read_fail(pj *c) {
  return pj_fail(c, "%s", c->rerr);
}


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
  return pj_fail(c, "expected %s, got %s", what, got);
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
    return pj_fail(c, "expected integer, got \"%.*s\"", (int)(len < 40 ? len : 40), s);
  rc = jt_number_integer(s, len, &neg, &mag);
  if (rc == JT_NOT_INTEGER) return pj_fail(c, "expected integer, got %.*s", (int)(len < 40 ? len : 40), s);
  pj_int_range(t, &min, &max);
  if (pj_is_unsigned64(t)) {
    if (rc == JT_OK && (!neg || mag == 0)) return (*out = (lua_Integer)mag), 0;
  } else if (rc == JT_OK && mag <= (neg ? (uint64_t)1 << 63 : (uint64_t)INT64_MAX)) {
    v = neg ? (lua_Integer)(0 - mag) : (lua_Integer)mag;
    if (v >= min && v <= max) return (*out = v), 0;
  }
  return pj_fail(c, "%.*s is out of range for %s", (int)(len < 40 ? len : 40), s, pj_type_name(t));
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
    return pj_fail(c, "expected number, got \"%.*s\"", (int)(len < 40 ? len : 40), s);
  *d = jt_number_double(s, len);
  if (isinf(*d) || (f->type == FIELD_FLOAT && fabs(*d) >= PJ_FLOAT_LIMIT))
    return pj_fail(c, "%.*s is out of range for %s", (int)(len < 40 ? len : 40), s, pj_type_name(f->type));
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
      return pj_fail(c, "unknown value \"%.*s\" of enum %s", (int)(len < 60 ? len : 60), s, e->full_name);
    ev = schema_enum_value_by_number(e, ev->number);
  } else {
    if (strcmp(json_type(c), "number") != 0) return expected(c, "enum name or integer");
    if (read_integer(c, FIELD_ENUM, &v) < 0) return -1;
    if ((ev = schema_enum_value_by_number(e, (int32_t)v)) == NULL) {
      if (e->closed)
        return pj_fail(c, LUA_INTEGER_FMT " is not a value of enum %s", (LUAI_UACINT)v, e->full_name);
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
    if (buf_reserve(c->b, len / 4 * 3 + 3) != JT_OK) return pj_fail(c, "out of memory");
    out = c->b->data;
  }
  if ((n = jt_base64_decode(s, len, out)) < 0) return pj_fail(c, "invalid base64");
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
  if (pj_is_null_value(f)) lua_pushliteral(c->L, "NULL_VALUE");
  else push_null_value(c->L);
  return 0;
}

/* An element of a list or a map value: null only where a Value (or NullValue) is. */
static int read_element(pj *c, const schema_field *f) {
  if (jt_peek(&c->r) == 'n') {
    if (!pj_takes_null(f)) return pj_fail(c, "null is not a value here");
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
  ljson_step *step = pj_top_step(c);
  lua_Integer n = 0;
  int rc;
  if ((rc = open_container(c, '[', "array")) < 0) return -1;
  if (!lua_checkstack(L, 4)) return pj_fail(c, "Lua stack overflow");
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
    return pj_fail(c, "expected true or false");
  }
  pj_int_range(kf->type, &min, &max);
  if (len == 0 || jt_scan_number(s, len, &integral) != len || !integral ||
      jt_number_integer(s, len, &neg, &mag) != JT_OK)
    return pj_fail(c, "expected integer");
  if (pj_is_unsigned64(kf->type) && (!neg || mag == 0)) return lua_pushinteger(L, (lua_Integer)mag), 0;
  if (!pj_is_unsigned64(kf->type) && mag <= (neg ? (uint64_t)1 << 63 : (uint64_t)INT64_MAX)) {
    v = neg ? (lua_Integer)(0 - mag) : (lua_Integer)mag;
    if (v >= min && v <= max) return lua_pushinteger(L, v), 0;
  }
  return pj_fail(c, "out of range for %s", pj_type_name(kf->type));
}

/* Pushes the table of map field f. */
static int read_map(pj *c, const schema_field *f) {
  lua_State *L = c->L;
  const schema_field *kf = &f->message->fields[0], *vf = &f->message->fields[1];
  ljson_step *step = pj_top_step(c);
  int rc;
  if ((rc = open_container(c, '{', "object")) < 0) return -1;
  if (!lua_checkstack(L, 6)) return pj_fail(c, "Lua stack overflow");
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
  if (pj_push_step(c, name) < 0) return -1;
  return pj_fail(c, "unknown field of %s", m->full_name);
}

/* One oneof member at a time: f is being given, and must be the first of its oneof. */
static int check_oneof(pj *c, const schema_message *m, const schema_field *f, const fieldset *fs) {
  for (size_t j = 0; j < m->n_fields; j++)
    if (m->fields[j].oneof == f->oneof && &m->fields[j] != f && BIT(fs, 1, m->n_fields, j))
      return pj_fail(c, "only one of oneof '%s' may be set (%s, %s)", m->oneofs[f->oneof],
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
      if (pj_push_step(c, f->name) < 0) return -1;
      return pj_fail(c, "missing required field");
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
      R(c, jt_skip_value(&c->r, c->b, PJ_MAX_DEPTH));
    } else {
      if (member_field(c, m, s, len, &f) < 0 || pj_push_step(c, f->name) < 0) return -1;
      i = (size_t)(f - m->fields);
      if (BIT(&fs, 0, m->n_fields, i)) return pj_fail(c, "given twice");
      SET_BIT(&fs, 0, m->n_fields, i);
      R(c, jt_expect(&c->r, ':', "':'"));
      if (jt_peek(&c->r) == 'n' && !(f->label != LABEL_REPEATED && pj_takes_null(f))) {
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

/* The digits of a fraction at *p as nanoseconds; *digits counts them, 10 meaning too many. */
static int32_t read_nanos(const char **p, const char *end, int *digits) {
  int32_t ns = 0;
  *digits = 0;
  while (*p < end && **p >= '0' && **p <= '9' && *digits < 10) {
    if (*digits < 9) ns = ns * 10 + (**p - '0');
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
  secs = pj_days_from_civil(y, mo, d);
  pj_civil_from_days(secs, &yy, &cm, &cd);
  if (yy != y || cm != mo || cd != d) goto bad;   /* no such day */
  secs = secs * 86400 + h * 3600 + mi * 60 + sec + oh * 3600 + om * 60;
  if (secs < PJ_TIMESTAMP_MIN || secs > PJ_TIMESTAMP_MAX)
    return pj_fail(c, "Timestamp out of range (years 1 to 9999)");
  codec_push_time(c->L, secs, ns);
  return 0;
bad:
  return pj_fail(c, "expected a Timestamp in RFC 3339 form (\"1972-01-01T10:00:20.021Z\"), got \"%.*s\"",
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
  if (secs > PJ_DURATION_MAX) return pj_fail(c, "Duration out of range (10,000 years at most)");
  codec_push_time(c->L, neg ? -secs : secs, neg ? -ns : ns);
  return 0;
bad:
  return pj_fail(c, "expected a Duration such as \"1.5s\", got \"%.*s\"", (int)(len < 40 ? len : 40), s);
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
      if (s[k] == '_') return pj_fail(c, "FieldMask path \"%.*s\" has a '_' (paths are lowerCamelCase)",
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
  if (f == NULL) return pj_fail(c, "%s has no field %s", m->full_name, member);
  lua_createtable(L, 0, 1);
  if (pj_push_step(c, f->name) < 0 || read_single(c, f) < 0) return -1;
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
      if (pj_push_step(c, "@type") < 0 || read_string(c, &s, &len) < 0) return -1;
      lua_pushlstring(c->L, s, len);   /* kept on the stack by the caller */
      *url = lua_tolstring(c->L, -1, url_len);
      if ((*m = pj_type_of_url(c->s, *url)) == NULL || strlen(*url) != *url_len)
        return pj_fail(c, "no message type \"%s\" in the protosets", *url);
      c->n--;
      c->r = saved;
      return 0;
    }
    R(c, jt_skip_value(&c->r, c->b, PJ_MAX_DEPTH));
    if ((rc = next_member(c, '}')) < 0) return -1;
  }
  return pj_fail(c, "an Any needs \"@type\"");
}

/* [-0, +1] A wire buffer that a memory error cannot leak: a userdata whose __gc frees it. */
static int wire_gc(lua_State *L) {
  buf_free(luaL_checkudata(L, 1, WIRE_MT));
  return 0;
}

static buf *push_wire_buffer(lua_State *L) {
  buf *w = lua_newuserdatauv(L, sizeof *w, 0);
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
  buf *w;
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
  if (pj_wkt(inner) == WKT_NONE) {
    if (pj_enter(c, 8) < 0) return -1;
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
      if (len == 5 && memcmp(s, "@type", 5) == 0) R(c, jt_skip_value(&c->r, c->b, PJ_MAX_DEPTH));
      else if (len == 5 && memcmp(s, "value", 5) == 0 && !seen) {
        if (pj_push_step(c, "value") < 0 || read_message(c, inner) < 0) return -1;   /* url t */
        c->n--;
        seen = true;
      } else return pj_fail(c, "an Any of %s has only \"@type\" and \"value\"", inner->full_name);
      if ((rc = next_member(c, '}')) < 0) return -1;
    }
    if (!seen) return pj_fail(c, "an Any of %s needs \"value\"", inner->full_name);
  }
  w = push_wire_buffer(L);                                   /* url t w */
  if (codec_encode(L, -2, inner, w, inner->full_name, err, sizeof err) < 0) return pj_fail(c, "%s", err);
  lua_createtable(L, 0, 2);                                  /* url t w any */
  lua_pushvalue(L, -4);
  lua_setfield(L, -2, "type_url");
  lua_pushlstring(L, w->data ? w->data : "", w->len);
  lua_setfield(L, -2, "value");
  buf_free(w);
  lua_replace(L, -4);                                        /* any t w */
  lua_pop(L, 2);
  return 0;
}

/* Pushes {field = table}: the wrapper of a Struct or a ListValue around its map or list. */
static int read_wrapped(pj *c, const schema_message *m) {
  const schema_field *f = &m->fields[0];
  lua_createtable(c->L, 0, 1);
  if (pj_push_step(c, f->name) < 0 || read_field(c, f) < 0) return -1;
  c->n--;
  lua_setfield(c->L, -2, f->name);
  return 0;
}

/* Pushes the table of message m read at the reader (not at a null). */
static int read_message(pj *c, const schema_message *m) {
  int rc;
  if (pj_enter(c, 8) < 0) return -1;
  switch (pj_wkt(m)) {
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
                     size_t len, buf *scratch, const char *root, char *err, size_t errlen) {
  pj c;
  int top = lua_gettop(L);
  pj_init(&c, L, s, scratch, root, err, errlen);
  jt_reader_init(&c.r, text ? text : "", len, c.rerr, sizeof c.rerr);
  if (!lua_checkstack(L, 8)) return pj_fail(&c, "Lua stack overflow");
  if (jt_peek(&c.r) == 'n') return pj_fail(&c, "expected object, got null");
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
