/*
** fuzz_encode.c
** codec_encode of Lua values built from the fuzz input by a small interpreter:
** the first byte (or "=full.Name\n") picks the message type, the rest are
** choices. A table gets keys from the message's field names, mostly with
** values of the right kind (edge integers, odd floats, enum names, invalid
** UTF-8, arrays with holes, maps with keys of every type, nested and cyclic
** tables), and junk: unknown names, keys that are not strings, values of
** every Lua type. Encoding must return bytes or an error, never crash; bytes
** it returns must decode, and encode again to the same bytes (the same length
** when there are maps).
*/
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>

#include "fuzz_common.h"

#define MAX_GEN_DEPTH 110   /* a little beyond the codec's 100 */
#define POOL_MAX 64         /* tables kept for references back: cycles, sharing */
#define POOL 1              /* stack index of the pool inside the generator */

typedef struct src {
  lua_State *L;
  const uint8_t *p, *end;
  const fuzz_env *e;
  const schema_message *root;
} src;

static const size_t errlens[] = {1, 9, 80, 1024};

static unsigned u8(src *s) { return s->p < s->end ? *s->p++ : 0; }

static uint64_t u64(src *s) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | u8(s);
  return v;
}

static void gen_message(src *s, const schema_message *m, int depth);
static void gen_any(src *s, int depth);

/* {======================================================
** Scalars
** ======================================================= */

static void push_integer(src *s) {
  static const lua_Integer edges[] = {
    0, 1, -1, 2, 127, 128, INT32_MAX, (lua_Integer)INT32_MAX + 1, INT32_MIN,
    (lua_Integer)INT32_MIN - 1, UINT32_MAX, (lua_Integer)UINT32_MAX + 1, INT64_MAX, INT64_MIN,
  };
  const size_t n = sizeof edges / sizeof edges[0];
  unsigned k = u8(s) % (n + 3);
  if (k < n) lua_pushinteger(s->L, edges[k]);
  else if (k == n) lua_pushinteger(s->L, (lua_Integer)u64(s));
  else if (k == n + 1) lua_pushinteger(s->L, (lua_Integer)(int8_t)u8(s));
  else {
    lua_Integer hi = u8(s);
    lua_pushinteger(s->L, hi << 8 | u8(s));
  }
}

static void push_float(src *s) {
  static const double edges[] = {
    0.5, -0.0, 0.0, 2.0, -1.0, 1e300, -1e300, 3.4028235677973366e38, 1e-45, 9223372036854775808.0,
    -9223372036854775808.0, 18446744073709551616.0, 4294967296.0, 2147483648.0,
  };
  const size_t n = sizeof edges / sizeof edges[0];
  unsigned k = u8(s) % (n + 4);
  double d;
  if (k < n) d = edges[k];
  else if (k == n) d = NAN;
  else if (k == n + 1) d = k & 1 ? INFINITY : -INFINITY;
  else if (k == n + 2) d = -INFINITY;
  else {
    uint64_t bits = u64(s);
    memcpy(&d, &bits, sizeof d);
  }
  lua_pushnumber(s->L, (lua_Number)d);
}

/* Bytes from the input, a name of the message, UTF-8 edge cases, or a big string. */
static void push_string(src *s, const schema_field *f) {
  static const char *const odd[] = {
    "", "\xff", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "h\xc3\xa9llo",
    "\xf0\x9f\x98\x80", "a\0b",
  };
  lua_State *L = s->L;
  unsigned k = u8(s) % 6;
  switch (k) {
    case 0: case 1: {
      size_t len = u8(s) % 40, have = (size_t)(s->end - s->p);
      if (len > have) len = have;
      lua_pushlstring(L, (const char *)s->p, len);
      s->p += len;
      return;
    }
    case 2: {
      unsigned i = u8(s) % (sizeof odd / sizeof odd[0]);
      lua_pushlstring(L, odd[i], i == 8 ? 3 : strlen(odd[i]));
      return;
    }
    case 3:
      if (f != NULL && f->type == FIELD_ENUM && f->enum_type->n_values > 0) {
        lua_pushstring(L, f->enum_type->values[u8(s) % f->enum_type->n_values].name);
        return;
      }
      /* fall through */
    case 4: {
      const schema_message *m = s->root;
      if (m->n_fields > 0) {
        lua_pushstring(L, m->fields[u8(s) % m->n_fields].name);
        return;
      }
      lua_pushliteral(L, "name");
      return;
    }
    default: {
      size_t len = (size_t)(u8(s) % 4 + 1) * 20000;
      luaL_Buffer b;
      char *p = luaL_buffinitsize(L, &b, len);
      memset(p, 'a' + (int)(u8(s) % 26), len);
      luaL_pushresultsize(&b, len);
    }
  }
}

/* }====================================================== */

/* {======================================================
** Values for fields
** ======================================================= */

/* A value meant for a single (non-repeated) occurrence of f. */
static void gen_single(src *s, const schema_field *f, int depth) {
  lua_State *L = s->L;
  if (u8(s) % 10 == 0) {   /* the wrong kind, on purpose */
    gen_any(s, depth);
    return;
  }
  switch (f->type) {
    case FIELD_MESSAGE: case FIELD_GROUP:
      gen_message(s, f->message, depth + 1);
      return;
    case FIELD_DOUBLE: case FIELD_FLOAT:
      if (u8(s) & 1) push_float(s);
      else push_integer(s);
      return;
    case FIELD_BOOL:
      lua_pushboolean(L, u8(s) & 1);
      return;
    case FIELD_STRING: case FIELD_BYTES:
      push_string(s, f);
      return;
    case FIELD_ENUM:
      if (u8(s) & 1) push_string(s, f);
      else push_integer(s);
      return;
    default:   /* integers: now and then a float with an integral value, or not */
      if (u8(s) % 5 == 0) push_float(s);
      else push_integer(s);
  }
}

/* Keeps a NaN or nil out of table keys: lua_rawset would raise. */
static void fix_key(lua_State *L) {
  if (lua_isnil(L, -1) || (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) != lua_tonumber(L, -1))) {
    lua_pop(L, 1);
    lua_pushinteger(L, 0);
  }
}

/* t[k] = v for key and value on top; pops both. */
static void set(lua_State *L, int t) {
  if (lua_isnil(L, -1)) {
    lua_pop(L, 2);
    return;
  }
  lua_rawset(L, t);
}

static void gen_array(src *s, const schema_field *f, int depth) {
  lua_State *L = s->L;
  unsigned n = u8(s) % 6, shape = u8(s) % 8;
  lua_createtable(L, (int)n, 0);
  int t = lua_gettop(L);
  for (unsigned i = 0; i < n; i++) {
    lua_Integer at = shape == 1 ? (lua_Integer)(n - i) : (lua_Integer)i + 1;   /* backwards */
    if (shape == 2 && i == n / 2) continue;                                  /* a hole */
    if (shape == 3 && i == 0) at = 0;
    if (shape == 4 && i == 0) at = -1;
    gen_single(s, f, depth);
    lua_rawseti(L, t, at);
  }
  if (shape == 5) {   /* a key that is no index */
    push_string(s, NULL);
    gen_single(s, f, depth);
    set(L, t);
  }
  if (shape == 6) {
    lua_pushnumber(L, 1.5);
    gen_single(s, f, depth);
    set(L, t);
  }
}

static void gen_map(src *s, const schema_field *f, int depth) {
  lua_State *L = s->L;
  const schema_message *e = f->message;
  unsigned n = u8(s) % 6;
  lua_createtable(L, 0, (int)n);
  int t = lua_gettop(L);
  for (unsigned i = 0; i < n; i++) {
    gen_single(s, &e->fields[0], depth);
    fix_key(L);
    gen_single(s, &e->fields[1], depth);
    set(L, t);
  }
}

static void gen_value(src *s, const schema_field *f, int depth) {
  if (f->label != LABEL_REPEATED) gen_single(s, f, depth);
  else if (u8(s) % 12 == 0) gen_any(s, depth);
  else if (f->is_map) gen_map(s, f, depth);
  else gen_array(s, f, depth);
}

/* }====================================================== */

/* {======================================================
** Tables and other values
** ======================================================= */

/* A table for m: fields by name, sometimes junk keys; or one seen before. */
static void gen_message(src *s, const schema_message *m, int depth) {
  lua_State *L = s->L;
  luaL_checkstack(L, 10, "gen_message");
  if (depth > MAX_GEN_DEPTH || s->p >= s->end) {
    lua_newtable(L);
    return;
  }
  unsigned pooled = (unsigned)lua_rawlen(L, POOL), k = u8(s);
  if (k >= 250 && pooled > 0) {   /* a table made before: shared, or a cycle */
    lua_rawgeti(L, POOL, (lua_Integer)(k % pooled) + 1);
    return;
  }
  unsigned n = u8(s) % 10;
  lua_createtable(L, 0, (int)n);
  int t = lua_gettop(L);
  if (pooled < POOL_MAX) {
    lua_pushvalue(L, t);
    lua_rawseti(L, POOL, (lua_Integer)pooled + 1);
  }
  for (unsigned i = 0; i < n && s->p < s->end; i++) {
    unsigned sel = u8(s);
    if (sel < 224 && m->n_fields > 0) {
      const schema_field *f = &m->fields[u8(s) % m->n_fields];
      lua_pushstring(L, f->name);
      gen_value(s, f, depth);
      set(L, t);
      continue;
    }
    switch (sel % 5) {   /* junk keys */
      case 0: push_string(s, NULL); break;
      case 1: push_integer(s); break;
      case 2: lua_pushnumber(L, 0.25); break;
      case 3: lua_pushboolean(L, sel & 1); break;
      default: lua_newtable(L);
    }
    fix_key(L);
    gen_any(s, depth);
    set(L, t);
  }
}

static int a_function(lua_State *L) { return lua_gettop(L); }

static void gen_any(src *s, int depth) {
  lua_State *L = s->L;
  luaL_checkstack(L, 10, "gen_any");
  switch (u8(s) % 12) {
    case 0: lua_pushnil(L); break;
    case 1: lua_pushboolean(L, u8(s) & 1); break;
    case 2: push_integer(s); break;
    case 3: push_float(s); break;
    case 4: push_string(s, NULL); break;
    case 5: gen_message(s, s->e->messages[u8(s) % s->e->n_messages], depth + 1); break;
    case 6: lua_pushlightuserdata(L, (void *)s); break;
    case 7: lua_pushcfunction(L, a_function); break;
    case 8: lua_newuserdatauv(L, 16, 0); break;
    case 9: lua_newthread(L); break;
    case 10: lua_newtable(L); break;
    default: {
      unsigned n = u8(s) % 4;
      lua_createtable(L, (int)n, 0);
      for (unsigned i = 0; i < n; i++) {
        gen_any(s, depth + 1);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
    }
  }
}

/* }====================================================== */

/* Protected: [pool] -> [pool, value]. */
static int generate(lua_State *L) {
  src *s = lua_touserdata(L, 1);
  lua_settop(L, 0);
  lua_newtable(L);   /* POOL */
  if (u8(s) % 16 == 0) gen_any(s, 0);
  else gen_message(s, s->root, 0);
  return 2;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  fuzz_init();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_env *e = fuzz_init();
  lua_State *L = e->L;
  char err2[512];
  size_t errlen = errlens[size & 3];
  const schema_message *m = fuzz_pick(e, &data, &size);
  if (m == NULL) return 0;
  src s = {L, data, data + size, e, m};
  char *err = fuzz_errbuf(errlen);

  lua_pushcfunction(L, generate);
  lua_pushlightuserdata(L, &s);
  if (lua_pcall(L, 1, 2, 0) != LUA_OK) fuzz_die("generator: %s", lua_tostring(L, -1));
  /* [pool, value] */
  int rc = codec_encode(L, 2, m, &e->b1, "reply", err, errlen);
  if (lua_gettop(L) != 2) fuzz_die("%s: encode left the stack at %d", m->full_name, lua_gettop(L));
  if (rc < 0) {
    if (memchr(err, '\0', errlen) == NULL) fuzz_die("%s: error text not terminated", m->full_name);
    fuzz_reset(e);
    return 0;
  }
  if (codec_decode(L, m, e->b1.data, e->b1.len, "again", err2, sizeof err2) < 0)
    fuzz_die("%s: encoded bytes do not decode: %s", m->full_name, err2);
  if (codec_encode(L, 3, m, &e->b2, "again", err2, sizeof err2) < 0)
    fuzz_die("%s: the decoded table does not encode: %s", m->full_name, err2);
  if (e->b1.len != e->b2.len)
    fuzz_die("%s: re-encoding changed the length: %zu, %zu", m->full_name, e->b1.len, e->b2.len);
  if (!fuzz_has_maps(e, m) && e->b1.len > 0 && memcmp(e->b1.data, e->b2.data, e->b1.len) != 0)
    fuzz_die("%s: re-encoding changed the bytes", m->full_name);
  fuzz_reset(e);
  return 0;
}
