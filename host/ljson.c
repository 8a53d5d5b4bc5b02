/*
** ljson.c
** The `json` library: json.encode and json.decode between Lua values and
** JSON text (RFC 8259), on the writers and the reader of jsontext.c.
**
** Mapping:
** - null <-> json.null (a light userdata, as lua-cjson's cjson.null); nil
**   encodes as null too.
** - Numbers: an integer literal within 64 bits reads as a Lua integer, any
**   other number as a float (integers beyond 64 bits too; -0 reads as -0.0).
**   Integers are written exactly, floats in as few digits as read back as
**   the same double (17 at most), with ".0" when they would read as an
**   integer. NaN and the infinities are not JSON: encoding them is an error,
**   and so is decoding a number too large for a double.
** - Strings must be UTF-8 both ways. \u escapes of a surrogate pair make one
**   character; a lone surrogate is an error (it is no character at all).
** - A table whose keys are 1..n is an array; one with string keys an object;
**   one with integer keys that are not 1..n an object whose names are those
**   integers. An empty table is an object ({}), as in lua-cjson; json.empty_array
**   and tables with the metatable json.array_mt are arrays, and json.decode
**   gives every array json.array_mt, so `[]` comes back as `[]`. Tables
**   mixing string and integer keys, keys of other types, functions,
**   coroutines and other userdata are errors naming the path:
**   "json.encode: items[3].f: cannot encode a function".
** - Nesting deeper than LJSON_MAX_DEPTH levels is an error both ways (a
**   table holding itself ends that way), and so is a text longer than the
**   limit (--max-message-bytes).
**
** The encoder only reads the Lua values it walks (no allocation, so no
** collection and no finalizer can run while it writes) and raises after
** writing nothing it must free. The buffer it writes to belongs to the
** state (ljson_buffer).
*/
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "ljson.h"
#include "lvm.h"

#define BOX_MT "json.buffer"
#define KEEP_MAX ((size_t)1 << 20)    /* a bigger buffer is freed after use */
#define ERR_LEN 1024

static const char box_key = 'b';      /* registry: the state's box; its address is the key */
static const char empty_array = 'e';  /* json.empty_array is its address */

/*
** {======================================================
** The state's buffer
** =======================================================
*/

typedef struct box {
  buf buf;
  size_t limit;
  int out;          /* lent to a running call */
} box;

static int box_gc(lua_State *L) {
  buf_free(&((box *)luaL_checkudata(L, 1, BOX_MT))->buf);
  return 0;
}

/* __close: the call that had the buffer ended, one way or another. */
static int box_close(lua_State *L) {
  box *x = luaL_checkudata(L, 1, BOX_MT);
  x->out = 0;
  if (x->buf.cap > KEEP_MAX) buf_free(&x->buf);
  return 0;
}

/* [-0, +1] A new box, with the limit given. */
static box *new_box(lua_State *L, size_t limit) {
  box *x = lua_newuserdatauv(L, sizeof *x, 0);
  memset(x, 0, sizeof *x);
  x->limit = limit;
  if (luaL_newmetatable(L, BOX_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, box_close);
    lua_setfield(L, -2, "__close");
  }
  lua_setmetatable(L, -2);
  return x;
}

/* [-0, +1] The state's box, made on first use; its limit is the host's --max-message-bytes. */
static box *state_box(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &box_key) == LUA_TUSERDATA) return lua_touserdata(L, -1);
  lua_pop(L, 1);
  box *x = new_box(L, (size_t)lvm_of(L)->cfg->max_message_bytes);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &box_key);
  return x;
}

buf *ljson_buffer(lua_State *L) {
  box *x = state_box(L);
  if (x->out) {
    size_t limit = x->limit;
    lua_pop(L, 1);
    x = new_box(L, limit);
  }
  x->out = 1;
  x->buf.len = 0;
  x->buf.limit = x->limit;
  lua_toclose(L, -1);
  return &x->buf;
}

/* }====================================================== */

/*
** {======================================================
** Paths in errors
** =======================================================
*/

static bool is_identifier(const char *s, size_t len) {
  if (len == 0 || (s[0] >= '0' && s[0] <= '9')) return false;
  for (size_t i = 0; i < len; i++)
    if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9')))
      return false;
  return true;
}

/* The key at stack index key as a step: "[\"key\"]" (cut at 60 bytes), "[7]", "[true]". */
static int key_text(lua_State *L, int key, char *buf, size_t size) {
  size_t len;
  if (lua_type(L, key) == LUA_TSTRING) {
    const char *k = lua_tolstring(L, key, &len);
    return snprintf(buf, size, "[\"%.*s%s\"]", (int)(len < 60 ? len : 60), k, len > 60 ? "..." : "");
  }
  if (lua_isinteger(L, key)) return snprintf(buf, size, "[" LUA_INTEGER_FMT "]", (LUAI_UACINT)lua_tointeger(L, key));
  if (lua_type(L, key) == LUA_TBOOLEAN) return snprintf(buf, size, "[%s]", lua_toboolean(L, key) ? "true" : "false");
  return snprintf(buf, size, "[%s]", luaL_typename(L, key));
}

/* A step as text: ".name", then "[3]" or a key; its length. */
static size_t step_text(lua_State *L, const ljson_step *s, bool first, char *buf, size_t size) {
  size_t n = 0;
  int k = 0;
  if (s->name != NULL) k = snprintf(buf, size, "%s%s", first ? "" : ".", s->name);
  if (k > 0) n = (size_t)k < size ? (size_t)k : size - 1;
  if (s->index > 0) k = snprintf(buf + n, size - n, "[" LUA_INTEGER_FMT "]", (LUAI_UACINT)s->index);
  else if (s->key > 0) k = key_text(L, s->key, buf + n, size - n);
  else k = 0;
  if (k > 0) n += (size_t)k < size - n ? (size_t)k : size - n - 1;
  return n;
}

#define KEEP_ENDS 4   /* steps kept at each end of a path too long for the message */

void ljson_path_error(lua_State *L, char *err, size_t errlen, const char *root,
                      const ljson_step *steps, int n, const char *reason) {
  char step[128];
  size_t at, total = strlen(root) + strlen(reason) + 2;
  int skip_from = n, skip_to = n;
  if (errlen == 0) return;
  for (int i = 0; i < n; i++) total += step_text(L, &steps[i], i == 0 && !*root, step, sizeof step);
  if (total >= errlen && n > 2 * KEEP_ENDS) {
    skip_from = KEEP_ENDS;
    skip_to = n - KEEP_ENDS;
  }
  at = (size_t)snprintf(err, errlen, "%s", root);
  for (int i = 0; i < n && at < errlen; i++) {
    if (i == skip_from) {
      at += (size_t)snprintf(err + at, errlen - at, "(... %d more ...)", skip_to - skip_from);
      i = skip_to - 1;
      continue;
    }
    step_text(L, &steps[i], i == 0 && !*root, step, sizeof step);
    at += (size_t)snprintf(err + at, errlen - at, "%s", step);
  }
  if (at < errlen) snprintf(err + at, errlen - at, "%s%s", at > 0 ? ": " : "", reason);
}

/* }====================================================== */

/*
** {======================================================
** Encoding
** =======================================================
*/

typedef struct enc {
  lua_State *L;
  buf *b;
  int array_mt;     /* pseudo-index of json.array_mt */
  int depth;        /* containers open */
  ljson_step path[LJSON_MAX_DEPTH];
} enc;

/* Raises "json.encode: <the first n steps>: <reason>". */
static int enc_fail(enc *e, int n, const char *fmt, ...) {
  char reason[256], err[ERR_LEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  ljson_path_error(e->L, err, sizeof err, "", e->path, n, reason);
  return luaL_error(e->L, "json.encode: %s", err);
}

/* A writer's code: raises unless it is JT_OK. */
static void check(enc *e, int rc) {
  if (rc == JT_TOOBIG)
    enc_fail(e, e->depth, "the text would be larger than %zu bytes (the host's --max-message-bytes)",
             e->b->limit);
  if (rc != JT_OK) enc_fail(e, e->depth, "out of memory");
}

static void enc_string(enc *e, int idx, int n_path, const char *what) {
  size_t len, bad;
  const char *s = lua_tolstring(e->L, idx, &len);
  int rc = jt_put_string(e->b, s, len, &bad);
  if (rc == JT_BADUTF8) enc_fail(e, n_path, "%sinvalid UTF-8 (byte %zu)", what, bad + 1);
  check(e, rc);
}

static void enc_table(enc *e, int t);

static void enc_value(enc *e, int idx) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
    case LUA_TNIL: check(e, buf_put(e->b, "null", 4)); return;
    case LUA_TBOOLEAN:
      check(e, lua_toboolean(L, idx) ? buf_put(e->b, "true", 4) : buf_put(e->b, "false", 5));
      return;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) check(e, jt_put_int(e->b, lua_tointeger(L, idx)));
      else {
        double d = (double)lua_tonumber(L, idx);
        if (!isfinite(d)) enc_fail(e, e->depth, "%s is not a JSON number", d != d ? "NaN" : d > 0 ? "inf" : "-inf");
        check(e, jt_put_double(e->b, d));
      }
      return;
    case LUA_TSTRING: enc_string(e, idx, e->depth, ""); return;
    case LUA_TTABLE: enc_table(e, idx); return;
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL) check(e, buf_put(e->b, "null", 4));
      else if (lua_touserdata(L, idx) == &empty_array) check(e, buf_put(e->b, "[]", 2));
      else enc_fail(e, e->depth, "cannot encode a light userdata other than json.null and json.empty_array");
      return;
    default: enc_fail(e, e->depth, "cannot encode a %s", luaL_typename(L, idx));
  }
}

/* The child at the top under step s: written, then popped. */
static void enc_child(enc *e, int level, ljson_step s) {
  e->path[level] = s;
  enc_value(e, lua_gettop(e->L));
  lua_pop(e->L, 1);
}

/*
** The table at t, its first pair on the stack, while its keys run 1, 2, 3...
** in traversal order (the array part comes first, in order): true when the
** table ended so, an array; false when a key broke the run (pair popped).
*/
static bool enc_run(enc *e, int t, int level) {
  lua_State *L = e->L;
  lua_Integer n = 0;
  check(e, buf_putc(e->b, '['));
  do {
    if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) != n + 1) {
      lua_pop(L, 2);
      return false;
    }
    if (n > 0) check(e, buf_putc(e->b, ','));
    enc_child(e, level, (ljson_step){NULL, ++n, 0});
  } while (lua_next(L, t));
  check(e, buf_putc(e->b, ']'));
  return true;
}

/* The members of the table at t, its first pair on the stack: names all strings, or all integers. */
static void enc_members(enc *e, int t, int level, int key_type) {
  lua_State *L = e->L;
  bool first = true;
  check(e, buf_putc(e->b, '{'));
  do {
    int key = lua_gettop(L) - 1;
    if (!first) check(e, buf_putc(e->b, ','));
    first = false;
    if (lua_type(L, key) != key_type)
      enc_fail(e, level, "a table with both string and integer keys is neither an array nor an object");
    if (key_type == LUA_TSTRING) {
      size_t len;
      const char *name = lua_tolstring(L, key, &len);
      enc_string(e, key, level, "a key: ");
      check(e, buf_putc(e->b, ':'));
      enc_child(e, level, is_identifier(name, len) ? (ljson_step){name, 0, 0} : (ljson_step){NULL, 0, key});
    } else {
      check(e, buf_putc(e->b, '"'));
      check(e, jt_put_int(e->b, lua_tointeger(L, key)));
      check(e, buf_put(e->b, "\":", 2));
      enc_child(e, level, (ljson_step){NULL, 0, key});
    }
  } while (lua_next(L, t));
  check(e, buf_putc(e->b, '}'));
}

/*
** A table that is not plainly an array: its keys decide. Integers 1..n: an
** array after all (filled out of order); other integers: an object.
*/
static void enc_by_keys(enc *e, int t, int level, bool must_be_array) {
  lua_State *L = e->L;
  lua_Integer count = 0, max = 0;
  bool strings = false, integers = false, positive = true;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) strings = true;
    else if (lua_isinteger(L, -1)) {
      lua_Integer k = lua_tointeger(L, -1);
      integers = true;
      count++;
      positive = positive && k >= 1;
      if (k > max) max = k;
    } else {
      char key[64];
      if (lua_type(L, -1) == LUA_TNUMBER)
        snprintf(key, sizeof key, "the number " LUA_NUMBER_FMT, (LUAI_UACNUMBER)lua_tonumber(L, -1));
      else snprintf(key, sizeof key, "a %s", luaL_typename(L, -1));
      enc_fail(e, level, "cannot use %s as a key (only strings and integers)", key);
    }
  }
  if (strings && integers)
    enc_fail(e, level, "a table with both string and integer keys is neither an array nor an object");
  if (integers && positive && count == max) {
    check(e, buf_putc(e->b, '['));
    for (lua_Integer i = 1; i <= max; i++) {
      if (i > 1) check(e, buf_putc(e->b, ','));
      lua_rawgeti(L, t, i);
      enc_child(e, level, (ljson_step){NULL, i, 0});
    }
    check(e, buf_putc(e->b, ']'));
    return;
  }
  if (must_be_array) enc_fail(e, level, "a table with json.array_mt has keys other than 1..n");
  lua_pushnil(L);
  lua_next(L, t);
  enc_members(e, t, level, strings ? LUA_TSTRING : LUA_TNUMBER);
}

static void enc_table(enc *e, int t) {
  lua_State *L = e->L;
  int level = e->depth;
  size_t start = e->b->len;
  bool is_array = false;
  if (level >= LJSON_MAX_DEPTH)
    enc_fail(e, level, "nesting deeper than %d (does a table hold itself?)", LJSON_MAX_DEPTH);
  if (!lua_checkstack(L, 4)) enc_fail(e, level, "Lua stack overflow");
  if (lua_getmetatable(L, t)) {
    is_array = lua_rawequal(L, -1, e->array_mt);
    lua_pop(L, 1);
  }
  e->depth++;
  lua_pushnil(L);
  if (!lua_next(L, t)) check(e, is_array ? buf_put(e->b, "[]", 2) : buf_put(e->b, "{}", 2));
  else if (lua_isinteger(L, -2) && lua_tointeger(L, -2) == 1) {
    if (!enc_run(e, t, level)) {
      e->b->len = start;
      enc_by_keys(e, t, level, is_array);
    }
  } else if (lua_type(L, -2) == LUA_TSTRING && !is_array) enc_members(e, t, level, LUA_TSTRING);
  else {
    lua_pop(L, 2);
    enc_by_keys(e, t, level, is_array);
  }
  e->depth--;
}

/* json.encode(value) -> text */
static int ljson_encode(lua_State *L) {
  enc e;
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  e.L = L;
  e.b = ljson_buffer(L);
  e.array_mt = lua_upvalueindex(1);
  e.depth = 0;
  enc_value(&e, 1);
  lua_pushlstring(L, e.b->data, e.b->len);
  return 1;
}

/* }====================================================== */

/*
** {======================================================
** Decoding
** =======================================================
*/

typedef struct dec {
  lua_State *L;
  jt_reader r;
  buf *scratch;
  int array_mt;
  int depth;
  char err[256];
} dec;

static int dec_raise(dec *d) {
  return luaL_error(d->L, "json.decode: %s", d->err);
}

#define TRY(d, x) do { if ((x) < 0) dec_raise(d); } while (0)

static void dec_value(dec *d);

/* Steps into an object or array at p: depth and stack checked. */
static void dec_enter(dec *d) {
  if (d->depth >= LJSON_MAX_DEPTH) {
    jt_fail(&d->r, d->r.p, "nesting deeper than %d", LJSON_MAX_DEPTH);
    dec_raise(d);
  }
  if (!lua_checkstack(d->L, 4)) {
    jt_fail(&d->r, d->r.p, "Lua stack overflow");
    dec_raise(d);
  }
  d->depth++;
  d->r.p++;
}

static void dec_object(dec *d) {
  lua_State *L = d->L;
  const char *s;
  size_t len;
  dec_enter(d);
  lua_newtable(L);
  if (jt_peek(&d->r) == '}') {
    d->r.p++;
    d->depth--;
    return;
  }
  for (;;) {
    if (jt_peek(&d->r) != '"') TRY(d, jt_fail_expected(&d->r, "a string (a member's name)"));
    TRY(d, jt_read_string(&d->r, d->scratch, &s, &len));
    lua_pushlstring(L, s, len);
    TRY(d, jt_expect(&d->r, ':', "':' after a member's name"));
    dec_value(d);
    lua_rawset(L, -3);
    if (jt_peek(&d->r) == '}') break;
    TRY(d, jt_expect(&d->r, ',', "',' or '}'"));
  }
  d->r.p++;
  d->depth--;
}

static void dec_array(dec *d) {
  lua_State *L = d->L;
  lua_Integer n = 0;
  dec_enter(d);
  lua_newtable(L);
  lua_pushvalue(L, d->array_mt);
  lua_setmetatable(L, -2);
  if (jt_peek(&d->r) == ']') {
    d->r.p++;
    d->depth--;
    return;
  }
  for (;;) {
    dec_value(d);
    lua_rawseti(L, -2, ++n);
    if (jt_peek(&d->r) == ']') break;
    TRY(d, jt_expect(&d->r, ',', "',' or ']'"));
  }
  d->r.p++;
  d->depth--;
}

static void dec_number(dec *d) {
  jt_number n;
  const char *at = d->r.p;
  TRY(d, jt_read_number(&d->r, &n));
  if (n.integral && n.len <= 18 && !(n.len == 2 && n.text[0] == '-' && n.text[1] == '0')) {
    lua_Integer v = 0;   /* fits: at most 18 digits */
    for (size_t i = n.text[0] == '-'; i < n.len; i++) v = v * 10 + (n.text[i] - '0');
    lua_pushinteger(d->L, n.text[0] == '-' ? -v : v);
    return;
  }
  if (n.integral) {
    bool neg;
    uint64_t mag;
    if (jt_number_integer(n.text, n.len, &neg, &mag) == JT_OK && mag != 0 &&
        mag <= (neg ? (uint64_t)1 << 63 : (uint64_t)INT64_MAX)) {
      lua_pushinteger(d->L, neg ? (lua_Integer)(0 - mag) : (lua_Integer)mag);
      return;
    }
  }
  double v = jt_number_double(n.text, n.len);
  if (isinf(v)) {
    jt_fail(&d->r, at, "number too large for a double");
    dec_raise(d);
  }
  lua_pushnumber(d->L, (lua_Number)v);
}

static void dec_value(dec *d) {
  lua_State *L = d->L;
  const char *s;
  size_t len;
  int which;
  switch (jt_peek(&d->r)) {
    case '{': dec_object(d); return;
    case '[': dec_array(d); return;
    case '"':
      TRY(d, jt_read_string(&d->r, d->scratch, &s, &len));
      lua_pushlstring(L, s, len);
      return;
    case '-': case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
    case '8': case '9':
      dec_number(d);
      return;
    default:
      TRY(d, jt_read_literal(&d->r, &which));
      if (which < 0) lua_pushlightuserdata(L, NULL);
      else lua_pushboolean(L, which);
  }
}

/* json.decode(text) -> value */
static int ljson_decode(lua_State *L) {
  dec d;
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  lua_settop(L, 1);
  d.L = L;
  d.scratch = ljson_buffer(L);
  d.array_mt = lua_upvalueindex(1);
  d.depth = 0;
  if (d.scratch->limit != 0 && len > d.scratch->limit)
    return luaL_error(L, "json.decode: a text of %I bytes is larger than the limit of %I (the host's --max-message-bytes)",
                      (lua_Integer)len, (lua_Integer)d.scratch->limit);
  d.scratch->limit = 0;   /* scratch for strings: never larger than the text */
  jt_reader_init(&d.r, text, len, d.err, sizeof d.err);
  dec_value(&d);
  if (jt_peek(&d.r) >= 0) TRY(&d, jt_fail_expected(&d.r, "the end of the text"));
  return 1;
}

/* }====================================================== */

static const luaL_Reg functions[] = {
  {"encode", ljson_encode},
  {"decode", ljson_decode},
  {NULL, NULL}};

int luaopen_json(lua_State *L) {
  state_box(L);
  lua_pop(L, 1);
  lua_createtable(L, 0, 6);
  lua_createtable(L, 0, 1);                             /* json array_mt */
  lua_pushliteral(L, "array");
  lua_setfield(L, -2, "__name");
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "array_mt");
  luaL_setfuncs(L, functions, 1);                       /* json */
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  lua_pushlightuserdata(L, (void *)&empty_array);
  lua_setfield(L, -2, "empty_array");
  return 1;
}
