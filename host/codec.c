/*
** codec.c
** Protobuf wire format <-> Lua tables, driven by the schema: bytes are read
** straight into tables and tables written straight into bytes.
**
** Mapping choices (docs/handlers.md, "Messages as Lua tables", tells users):
** - Decoding, a table holds every field without presence: proto3 scalars read
**   their default, repeated fields and maps an empty table (so `#req.items`
**   and `pairs(req.labels)` work, as in grpc-go and grpc-js). Fields with
**   presence (messages, oneof members, proto3 `optional`, all proto2 singular
**   fields) read nil when unset; a proto2 [default = ...] is not applied: nil
**   tells the handler the field was not sent, and schema_field.default_value
**   is there for whoever wants it.
** - A number for an integer field must have an integral value: 2.0 is taken
**   as 2, 1.5 is an error. An integer for a float or double field is fine.
** - Encoding writes fields in number order, packed repeated scalars in proto3
**   (as declared in proto2) and skips proto3 scalars without presence that
**   hold their default, so proto3 output equals python-protobuf's except for
**   the order of map entries. Both key and value of a map entry are written.
** - Unknown fields are skipped; so is a number a closed (proto2) enum does not
**   have, as protobuf keeps those aside as unknown fields.
** - Floats and doubles keep their bits: -0.0, infinities, every NaN payload
**   (a float's NaN, signalling or not, is widened and narrowed by hand, as a C
**   conversion would set its quiet bit).
** - Errors name the path: root, field names, 1-based indexes of repeated
**   elements and keys of map entries: `reply.items[2].tags["x"]: ...`. A path
**   too long for the caller's buffer loses levels from its middle, never the
**   reason: `reply.child.child(... 95 more ...).child: nesting deeper than 100`.
**
** Nothing here allocates C memory but the caller's buf, grown with
** realloc; scratch for big messages is a userdata on the Lua stack, and the
** encoder's cache of keys (see below) lives in the registry. A memory error
** raised by Lua therefore leaks nothing.
*/
#include "codec.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "jsontext.h"

#include "wire.h"

#define MAX_DEPTH 100                 /* nested messages below the root, as protobuf */
#define LOCAL_SEGMENTS 32             /* fields of a message tracked on the C stack */
#define LOCAL_SEEN 4                  /* 64-bit words of the decoder's field set */

/* What each field type is on the wire, and the integers it takes. */
typedef struct type_info {
  const char *name;
  unsigned char wire;
  bool zigzag;
  int64_t min, max;
} type_info;

static const type_info types[] = {
  [FIELD_DOUBLE] = {"double", WT_I64, false, 0, 0},
  [FIELD_FLOAT] = {"float", WT_I32, false, 0, 0},
  [FIELD_INT64] = {"int64", WT_VARINT, false, INT64_MIN, INT64_MAX},
  [FIELD_UINT64] = {"uint64", WT_VARINT, false, INT64_MIN, INT64_MAX},  /* two's complement */
  [FIELD_INT32] = {"int32", WT_VARINT, false, INT32_MIN, INT32_MAX},
  [FIELD_FIXED64] = {"fixed64", WT_I64, false, INT64_MIN, INT64_MAX},
  [FIELD_FIXED32] = {"fixed32", WT_I32, false, 0, UINT32_MAX},
  [FIELD_BOOL] = {"bool", WT_VARINT, false, 0, 0},
  [FIELD_STRING] = {"string", WT_LEN, false, 0, 0},
  [FIELD_GROUP] = {"group", WT_SGROUP, false, 0, 0},
  [FIELD_MESSAGE] = {"message", WT_LEN, false, 0, 0},
  [FIELD_BYTES] = {"bytes", WT_LEN, false, 0, 0},
  [FIELD_UINT32] = {"uint32", WT_VARINT, false, 0, UINT32_MAX},
  [FIELD_ENUM] = {"enum", WT_VARINT, false, INT32_MIN, INT32_MAX},
  [FIELD_SFIXED32] = {"sfixed32", WT_I32, false, INT32_MIN, INT32_MAX},
  [FIELD_SFIXED64] = {"sfixed64", WT_I64, false, INT64_MIN, INT64_MAX},
  [FIELD_SINT32] = {"sint32", WT_VARINT, true, INT32_MIN, INT32_MAX},
  [FIELD_SINT64] = {"sint64", WT_VARINT, true, INT64_MIN, INT64_MAX},
};

#define WIRE(f) (types[(f)->type].wire)
#define IS_MESSAGE(f) ((f)->type == FIELD_MESSAGE || (f)->type == FIELD_GROUP)

/*
** {======================================================
** Walk state and error paths
** =======================================================
*/

/* One level of the path: the field being read or written in a message. */
typedef struct path_elem {
  const char *name;     /* NULL between fields */
  lua_Integer index;    /* element of a repeated field, 1-based, or 0 */
  int key;              /* stack index of the key of a map entry, or 0 */
} path_elem;

typedef struct cache cache;

typedef struct ctx {
  lua_State *L;
  cache *cache;         /* of the state, once the encoder opens it */
  int lookups;          /* of keys, before that */
  buf *b;         /* encoding only */
  const char *root;
  char *err;
  size_t errlen;
  int depth;            /* of the message being walked: the root is 0 */
  bool in_key;          /* the value being handled is a map key */
  path_elem path[MAX_DEPTH + 2];
} ctx;

static void init_ctx(ctx *c, lua_State *L, buf *b, const char *root, char *err,
                     size_t errlen) {
  c->L = L;   /* path[] is filled as the walk goes: no need to clear 2 KB per call */
  c->cache = NULL;
  c->lookups = 0;
  c->b = b;
  c->root = root ? root : "";
  c->err = err;
  c->errlen = errlen;
  c->depth = 0;
  c->in_key = false;
}

static void append(ctx *c, size_t *at, const char *fmt, ...) {
  va_list ap;
  int n;
  if (*at + 1 >= c->errlen) return;
  va_start(ap, fmt);
  n = vsnprintf(c->err + *at, c->errlen - *at, fmt, ap);
  va_end(ap);
  if (n > 0) *at += (size_t)n < c->errlen - *at ? (size_t)n : c->errlen - *at - 1;
}

/* A table key as text: "name" (quoted, cut at 60 bytes), 7, 1.5, true. */
static const char *key_text(lua_State *L, int idx, char *buf, size_t size) {
  size_t len;
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
      const char *s = lua_tolstring(L, idx, &len);
      snprintf(buf, size, "\"%.*s\"", (int)(len < 60 ? len : 60), s);
      return buf;
    }
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx))
        snprintf(buf, size, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
      else
        snprintf(buf, size, LUA_NUMBER_FMT, (LUAI_UACNUMBER)lua_tonumber(L, idx));
      return buf;
    case LUA_TBOOLEAN: return lua_toboolean(L, idx) ? "true" : "false";
    default: return luaL_typename(L, idx);
  }
}

/* Level i of the path as text: ".name", then "[index]" or "[key]"; its length. */
static size_t level_text(ctx *c, int i, char *buf, size_t size) {
  const path_elem *e = &c->path[i];
  char key[80];
  size_t n = 0;
  n += (size_t)snprintf(buf, size, ".%s", e->name);
  if (n < size && e->index > 0)
    n += (size_t)snprintf(buf + n, size - n, "[" LUA_INTEGER_FMT "]", (LUAI_UACINT)e->index);
  if (n < size && e->key > 0)
    n += (size_t)snprintf(buf + n, size - n, "[%s]", key_text(c->L, e->key, key, sizeof key));
  return n < size ? n : size - 1;
}

#define ELISION_MAX 32   /* room for "(... 100 more ...)" */

/*
** Writes "<root><path>: <reason>" to err and returns -1. A path too long for
** err loses levels from its middle, "reply.a.b(... 95 more ...).y.z: reason",
** so that the reason and both ends stay. Runs only on failure.
*/
static int fail(ctx *c, const char *fmt, ...) {
  char reason[256], level[256];
  const char *sep = c->in_key ? ": map key: " : ": ";
  size_t lens[MAX_DEPTH + 2], fixed, total, at = 0;
  int n = 0, first, last;
  va_list ap;
  if (c->errlen == 0) return -1;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  while (n <= c->depth && n < MAX_DEPTH + 2 && c->path[n].name != NULL) n++;
  fixed = total = strlen(c->root) + strlen(sep) + strlen(reason);
  for (int i = 0; i < n; i++) total += lens[i] = level_text(c, i, level, sizeof level);
  first = last = n;   /* levels first .. last - 1 are left out */
  if (total >= c->errlen && fixed + ELISION_MAX < c->errlen) {
    size_t budget = c->errlen - 1 - fixed - ELISION_MAX, used = 0;
    for (first = 0; first < n && used + lens[first] <= budget / 2; first++) used += lens[first];
    while (last > first && used + lens[last - 1] <= budget) used += lens[--last];
  }
  c->err[0] = '\0';
  append(c, &at, "%s", c->root);
  for (int i = 0; i < n; i++) {
    if (i == first && first < last) {
      append(c, &at, "(... %d more ...)", last - first);
      i = last - 1;
      continue;
    }
    level_text(c, i, level, sizeof level);
    append(c, &at, "%s", level);
  }
  append(c, &at, "%s%s", sep, reason);
  return -1;
}

static int type_fail(ctx *c, const char *expected, int idx) {
  if (lua_type(c->L, idx) == LUA_TNUMBER && !lua_isinteger(c->L, idx))
    return fail(c, "expected %s, got number " LUA_NUMBER_FMT, expected,
                (LUAI_UACNUMBER)lua_tonumber(c->L, idx));
  return fail(c, "expected %s, got %s", expected, luaL_typename(c->L, idx));
}

/* Enters a message: a new path level, its depth and Lua stack checked. */
static int enter(ctx *c) {
  path_elem *e = &c->path[c->depth];
  e->name = NULL;
  e->index = 0;
  e->key = 0;
  if (c->depth > MAX_DEPTH) return fail(c, "nesting deeper than %d", MAX_DEPTH);
  if (!lua_checkstack(c->L, 8)) return fail(c, "Lua stack overflow");
  return 0;
}

/* }====================================================== */

/*
** {======================================================
** The state's cache of table keys: (message, key address) -> field
**
** A table key that names a field is an interned Lua string. The cache anchors
** one such string per field in a table (by schema_field.id + 1), so that it
** lives as long as the state and its address names the field for good: the
** encoder then finds the field of a key with one pointer hash, without
** reading the key's bytes. The cache serves the messages of one schema
** (serial); another schema starts a new one. It is a userdata kept in the
** registry, its user value the table of names: all in Lua memory.
** =======================================================
*/

typedef struct cache_slot {
  const char *key;      /* the name's bytes, as lua_tolstring gives them; NULL: free */
  const schema_message *m;
  const schema_field *f;
} cache_slot;

struct cache {
  uint64_t serial;      /* of the schema whose fields it knows */
  size_t cap, count;    /* slots: a power of two of them, at most half used */
  cache_slot slots[];
};

static const char cache_key = 'c';   /* its address is the registry key */

#define CACHE_SLOTS 128
#define CACHE_AFTER 2                /* keys an encode looks up itself before it opens the cache */

static size_t cache_hash(const cache *k, const schema_message *m, const char *key) {
  uint64_t h = ((uint64_t)(uintptr_t)key ^ (uint64_t)(uintptr_t)m << 17) * 0x9E3779B97F4A7C15u;
  return (size_t)(h >> 32) & (k->cap - 1);
}

/*
** [-1, +0] Makes the state's cache, of cap slots, with old's entries, and the
** table of names on the top of the stack as its user value.
*/
static cache *cache_new(lua_State *L, uint64_t serial, size_t cap, const cache *old) {
  cache *k = lua_newuserdatauv(L, sizeof(cache) + cap * sizeof(cache_slot), 1);  /* names k */
  memset(k, 0, sizeof(cache) + cap * sizeof(cache_slot));
  k->serial = serial;
  k->cap = cap;
  for (size_t i = 0; old != NULL && i < old->cap; i++)
    if (old->slots[i].key != NULL) {
      size_t j = cache_hash(k, old->slots[i].m, old->slots[i].key);
      while (k->slots[j].key != NULL) j = (j + 1) & (cap - 1);
      k->slots[j] = old->slots[i];
      k->count++;
    }
  lua_insert(L, -2);                                  /* k names */
  lua_setiuservalue(L, -2, 1);                        /* k */
  lua_rawsetp(L, LUA_REGISTRYINDEX, &cache_key);
  return k;
}

/* The state's cache for m's schema, made when there is none. */
static cache *cache_open(lua_State *L, const schema_message *m) {
  cache *k = NULL;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &cache_key) == LUA_TUSERDATA) k = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (k != NULL && k->serial == m->serial) return k;
  lua_newtable(L);
  return cache_new(L, m->serial, CACHE_SLOTS, NULL);
}

/* The field of m whose name is the string at address key, if the cache knows it. */
static inline const schema_field *cache_find(const cache *k, const schema_message *m,
                                             const char *key) {
  for (size_t i = cache_hash(k, m, key);; i = (i + 1) & (k->cap - 1)) {
    const cache_slot *sl = &k->slots[i];
    if (sl->key == key && sl->m == m) return sl->f;
    if (sl->key == NULL) return NULL;
  }
}

/*
** The string at stack index idx, at address key, names field f of m: the
** cache learns it when that string is f's anchored name (any short string
** equal to it is, while it lives), or can become it.
*/
static void cache_add(ctx *c, const schema_message *m, const schema_field *f, int idx,
                      const char *key) {
  lua_State *L = c->L;
  cache *k = c->cache;
  size_t i;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &cache_key);
  lua_getiuservalue(L, -1, 1);                        /* k names */
  if (lua_rawgeti(L, -1, (lua_Integer)f->id + 1) == LUA_TNIL) {
    lua_pushvalue(L, idx);
    lua_rawseti(L, -3, (lua_Integer)f->id + 1);
  } else if (lua_tostring(L, -1) != key) {            /* an equal long string: not the one */
    lua_pop(L, 3);
    return;
  }
  lua_pop(L, 1);                                      /* k names */
  if ((k->count + 1) * 2 > k->cap) {
    k = c->cache = cache_new(L, k->serial, k->cap * 2, k);   /* k */
    lua_pushnil(L);                                   /* k nil */
  }
  lua_pop(L, 2);
  for (i = cache_hash(k, m, key); k->slots[i].key != NULL; i = (i + 1) & (k->cap - 1)) {}
  k->slots[i] = (cache_slot){key, m, f};
  k->count++;
}

/* The field of m named by the string key (len bytes) at stack index idx, or NULL. */
static const schema_field *field_of_key(ctx *c, const schema_message *m, int idx,
                                        const char *key, size_t len) {
  const schema_field *f;
  if (c->cache == NULL) {   /* a small message does not pay for opening it */
    if (++c->lookups <= CACHE_AFTER) return schema_field_by_name(m, key, len);
    c->cache = cache_open(c->L, m);
  }
  if ((f = cache_find(c->cache, m, key)) == NULL && (f = schema_field_by_name(m, key, len)) != NULL)
    cache_add(c, m, f, idx, key);
  return f;
}

/* }====================================================== */


/*
** {======================================================
** ENCODING
** =======================================================
*/

/* A scalar ready for the wire: the varint or fixed bits, or the bytes. */
typedef struct scalar {
  uint64_t u;
  const char *s;
  size_t len;
} scalar;

/*
** Where each field of a message body was written, by position in the
** message's fields (so in number order); len 0: not written.
*/
typedef struct segment {
  size_t start, len;
} segment;

static int grow(ctx *c, size_t n) {
  int rc = buf_grow(c->b, n);
  return rc == BUF_OK ? 0 : fail(c, rc == BUF_NOMEM ? "out of memory" : "message too large");
}

static inline int need(ctx *c, size_t n) {
  return c->b->cap - c->b->len >= n ? 0 : grow(c, n);
}

static inline unsigned char *tail(ctx *c) { return (unsigned char *)c->b->data + c->b->len; }

static inline void set_tail(ctx *c, unsigned char *p) {
  c->b->len = (size_t)(p - (unsigned char *)c->b->data);
}

static inline unsigned char *put_varint(unsigned char *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  *p++ = (unsigned char)v;
  return p;
}

static inline unsigned char *put_tag(unsigned char *p, uint32_t number, int wire) {
  return put_varint(p, (uint64_t)number << 3 | (unsigned)wire);
}

static unsigned char *put_scalar(unsigned char *p, int wire, const scalar *v) {
  switch (wire) {
    case WT_VARINT: return put_varint(p, v->u);
    case WT_I64:
      for (int i = 0; i < 8; i++) *p++ = (unsigned char)(v->u >> (8 * i));
      return p;
    case WT_I32:
      for (int i = 0; i < 4; i++) *p++ = (unsigned char)(v->u >> (8 * i));
      return p;
    default:
      p = put_varint(p, v->len);
      memcpy(p, v->s, v->len);
      return p + v->len;
  }
}

/* The body after the byte reserved at `at` is complete: put its length there. */
static int put_length(ctx *c, size_t at) {
  buf *b = c->b;
  size_t size = b->len - at - 1, n = 1;
  for (size_t v = size; v >= 0x80; v >>= 7) n++;
  if (n > 1) {   /* rare: a body of 128 bytes or more moves up */
    if (need(c, n - 1) < 0) return -1;
    memmove(b->data + at + n, b->data + at + 1, size);
    b->len += n - 1;
  }
  put_varint((unsigned char *)b->data + at, size);
  return 0;
}

static int enc_integer(ctx *c, field_type t, int idx, lua_Integer *v) {
  lua_State *L = c->L;
  int exact;
  if (lua_isinteger(L, idx)) *v = lua_tointeger(L, idx);
  else if (lua_type(L, idx) != LUA_TNUMBER || (*v = lua_tointegerx(L, idx, &exact), !exact))
    return type_fail(c, "integer", idx);
  if (*v < types[t].min || *v > types[t].max)
    return fail(c, LUA_INTEGER_FMT " is out of range for %s", (LUAI_UACINT)*v, types[t].name);
  return 0;
}

static int enc_enum(ctx *c, const schema_enum *e, int idx, lua_Integer *v) {
  lua_State *L = c->L;
  size_t len;
  if (lua_type(L, idx) == LUA_TSTRING) {
    const char *name = lua_tolstring(L, idx, &len);
    const schema_enum_value *ev = schema_enum_value_by_name(e, name, len);
    if (ev == NULL) return fail(c, "unknown value \"%s\" of enum %s", name, e->full_name);
    *v = ev->number;
    return 0;
  }
  if (lua_type(L, idx) != LUA_TNUMBER) return type_fail(c, "enum name or integer", idx);
  if (enc_integer(c, FIELD_ENUM, idx, v) < 0) return -1;
  if (e->closed && schema_enum_value_by_number(e, (int32_t)*v) == NULL)
    return fail(c, LUA_INTEGER_FMT " is not a value of enum %s", (LUAI_UACINT)*v, e->full_name);
  return 0;
}

/* Largest double that rounds to a finite float: IEEE rounding without UB. */
#define FLOAT_LIMIT 0x1.ffffffp+127

/*
** The bits of the float nearest to d. A NaN keeps its sign and the top of its
** payload, signalling or not, so that a float read by float_number comes back
** bit for bit (a C conversion would set the quiet bit).
*/
static uint32_t float_bits(double d) {
  float x;
  uint32_t bits;
  if (d != d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    bits = (uint32_t)(u >> 63) << 31 | 0x7F800000u | (uint32_t)(u >> 29 & 0x7FFFFF);
    return bits & 0x7FFFFF ? bits : bits | 0x400000;   /* no payload left: a quiet NaN */
  }
  x = d >= FLOAT_LIMIT ? (float)HUGE_VAL : d <= -FLOAT_LIMIT ? -(float)HUGE_VAL : (float)d;
  memcpy(&bits, &x, 4);
  return bits;
}

/* Converts the Lua value at idx for field f of a message (proto3 or not). */
static int enc_scalar(ctx *c, const schema_field *f, bool proto3, int idx, scalar *v) {
  lua_State *L = c->L;
  lua_Integer i;
  v->len = 0;
  switch (f->type) {
    case FIELD_DOUBLE: case FIELD_FLOAT: {
      double d;
      if (lua_type(L, idx) != LUA_TNUMBER) return type_fail(c, "number", idx);
      d = (double)lua_tonumber(L, idx);
      if (f->type == FIELD_DOUBLE) memcpy(&v->u, &d, 8);
      else v->u = float_bits(d);
      return 0;
    }
    case FIELD_BOOL:
      if (!lua_isboolean(L, idx)) return type_fail(c, "boolean", idx);
      v->u = (uint64_t)lua_toboolean(L, idx);
      return 0;
    case FIELD_STRING: case FIELD_BYTES:
      if (lua_type(L, idx) != LUA_TSTRING) return type_fail(c, "string", idx);
      v->u = 0;
      v->s = lua_tolstring(L, idx, &v->len);
      if (f->type == FIELD_STRING && proto3 && !jt_utf8_valid(v->s, v->len, NULL))
        return fail(c, "invalid UTF-8");
      return 0;
    case FIELD_ENUM:
      if (enc_enum(c, f->enum_type, idx, &i) < 0) return -1;
      v->u = (uint64_t)i;
      return 0;
    default:
      if (enc_integer(c, f->type, idx, &i) < 0) return -1;
      v->u = types[f->type].zigzag ? (uint64_t)i << 1 ^ (uint64_t)(i >> 63) : (uint64_t)i;
      return 0;
  }
}

static int enc_fields(ctx *c, const schema_message *m, int idx);

/* Field f of a message: a sub-message, or a scalar unless skip_zero and zero. */
static int enc_single(ctx *c, const schema_message *m, const schema_field *f, int idx,
                      bool skip_zero) {
  size_t at;
  int rc;
  scalar v;
  if (IS_MESSAGE(f)) {
    if (!lua_istable(c->L, idx)) return type_fail(c, "table", idx);
    if (need(c, 11) < 0) return -1;
    set_tail(c, put_tag(tail(c), f->number, WIRE(f)));
    at = c->b->len;
    if (f->type == FIELD_MESSAGE) c->b->len++;   /* one byte reserved for the length */
    c->depth++;
    rc = enc_fields(c, f->message, idx);
    c->depth--;
    if (rc < 0) return -1;
    if (f->type == FIELD_MESSAGE) return put_length(c, at);
    if (need(c, 5) < 0) return -1;
    set_tail(c, put_tag(tail(c), f->number, WT_EGROUP));
    return 0;
  }
  if (enc_scalar(c, f, m->proto3, idx, &v) < 0) return -1;
  if (skip_zero && v.u == 0 && v.len == 0) return 0;
  if (need(c, 20 + v.len) < 0) return -1;
  set_tail(c, put_scalar(put_tag(tail(c), f->number, WIRE(f)), WIRE(f), &v));
  return 0;
}

/* Element i of repeated field f, at idx. */
static int enc_element(ctx *c, const schema_message *m, const schema_field *f, int idx,
                       lua_Integer i) {
  scalar v;
  c->path[c->depth].index = i;
  if (!f->packed) return enc_single(c, m, f, idx, false);
  if (enc_scalar(c, f, m->proto3, idx, &v) < 0 || need(c, 10) < 0) return -1;
  set_tail(c, put_scalar(tail(c), WIRE(f), &v));
  return 0;
}

lua_Integer codec_array_length(lua_State *L, int idx, char *why, size_t whylen) {
  lua_Integer n = 0, max = 0;
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
      char key[80];
      snprintf(why, whylen, "expected array, got table with key %s", key_text(L, -1, key, sizeof key));
      lua_pop(L, 1);
      return -1;
    }
    n++;
    if (lua_tointeger(L, -1) > max) max = lua_tointeger(L, -1);
  }
  if (max == n) return n;
  for (lua_Integer i = 1;; i++) {   /* a hole: at most n, as n keys lie in 1..max */
    int type = lua_rawgeti(L, idx, i);
    lua_pop(L, 1);
    if (type == LUA_TNIL) {
      snprintf(why, whylen, "expected array, element " LUA_INTEGER_FMT " is missing", (LUAI_UACINT)i);
      return -1;
    }
  }
}

static lua_Integer array_length(ctx *c, int idx) {
  char why[160];
  lua_Integer n = codec_array_length(c->L, idx, why, sizeof why);
  return n < 0 ? fail(c, "%s", why) : n;
}

static int enc_elements(ctx *c, const schema_message *m, const schema_field *f, int idx) {
  lua_State *L = c->L;
  size_t start = c->b->len;
  lua_Integer n = 0;
  int value = lua_gettop(L) + 2;
  lua_pushnil(L);
  while (lua_next(L, idx)) {   /* fast: the array part comes first, in order */
    if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) != n + 1) goto unordered;
    if (enc_element(c, m, f, value, ++n) < 0) return -1;
    lua_pop(L, 1);
  }
  return 0;
unordered:   /* keys out of order (a table filled backwards, say): check, then index */
  lua_pop(L, 2);
  c->b->len = start;
  c->path[c->depth].index = 0;
  if ((n = array_length(c, idx)) < 0) return -1;
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, i);
    if (enc_element(c, m, f, value - 1, i) < 0) return -1;
    lua_pop(L, 1);
  }
  return 0;
}

static int enc_list(ctx *c, const schema_message *m, const schema_field *f, int idx) {
  size_t tag, at;
  if (!f->packed) return enc_elements(c, m, f, idx);
  if (need(c, 11) < 0) return -1;
  tag = c->b->len;
  set_tail(c, put_tag(tail(c), f->number, WT_LEN));
  at = c->b->len++;
  if (enc_elements(c, m, f, idx) < 0) return -1;
  if (c->b->len == at + 1) {   /* empty: nothing at all */
    c->b->len = tag;
    return 0;
  }
  return put_length(c, at);
}

static int enc_map(ctx *c, const schema_field *f, int idx) {
  lua_State *L = c->L;
  const schema_message *e = f->message;
  path_elem *pe = &c->path[c->depth];
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int top = lua_gettop(L);
    size_t at;
    pe->key = top - 1;
    if (need(c, 11) < 0) return -1;
    set_tail(c, put_tag(tail(c), f->number, WT_LEN));
    at = c->b->len++;
    c->in_key = true;
    if (enc_single(c, e, &e->fields[0], top - 1, false) < 0) return -1;
    c->in_key = false;
    if (enc_single(c, e, &e->fields[1], top, false) < 0 || put_length(c, at) < 0) return -1;
    lua_pop(L, 1);
  }
  pe->key = 0;
  return 0;
}

static int enc_field(ctx *c, const schema_message *m, const schema_field *f, int idx) {
  if (f->label != LABEL_REPEATED) return enc_single(c, m, f, idx, !f->has_presence);
  if (!lua_istable(c->L, idx)) return type_fail(c, f->is_map ? "table" : "array", idx);
  return f->is_map ? enc_map(c, f, idx) : enc_list(c, m, f, idx);
}

/* Every required field, one member per oneof: checked on the fields written. */
static int check_written(ctx *c, const schema_message *m, const segment *seg) {
  uint64_t oneofs = 0;   /* of the first 64, those seen */
  for (size_t i = 0; i < m->n_fields; i++) {
    const schema_field *f = &m->fields[i];
    if (seg[i].len == 0 && f->label == LABEL_REQUIRED) {
      c->path[c->depth].name = f->name;
      return fail(c, "missing required field");
    }
    if (seg[i].len == 0 || f->oneof < 0) continue;
    if (f->oneof < 64 && !(oneofs >> f->oneof & 1)) {
      oneofs |= (uint64_t)1 << f->oneof;
      continue;
    }
    for (size_t j = 0; j < i; j++)
      if (seg[j].len > 0 && m->fields[j].oneof == f->oneof)
        return fail(c, "only one of oneof '%s' may be set (%s, %s)", m->oneofs[f->oneof],
                    m->fields[j].name, f->name);
  }
  return 0;
}

/* Rewrites the body from `body` on with its fields in number order. */
static int order_fields(ctx *c, const schema_message *m, const segment *seg, size_t body) {
  size_t size = c->b->len - body, at = c->b->len;
  if (need(c, size) < 0) return -1;   /* scratch after the body */
  for (size_t i = 0; i < m->n_fields; i++) {
    memcpy(c->b->data + at, c->b->data + seg[i].start, seg[i].len);
    at += seg[i].len;
  }
  memcpy(c->b->data + body, c->b->data + c->b->len, size);
  return 0;
}

/* Writes the fields of the table at idx, message m, at the end of the buffer. */
static int enc_fields(ctx *c, const schema_message *m, int idx) {
  lua_State *L = c->L;
  path_elem *pe = &c->path[c->depth];
  segment local[LOCAL_SEGMENTS], *seg = local;
  size_t body = c->b->len, last = 0;   /* position of the last field written + 1 */
  bool sorted = true;
  int top = lua_gettop(L), value;
  if (enter(c) < 0) return -1;
  if (m->n_fields > LOCAL_SEGMENTS) seg = lua_newuserdatauv(L, m->n_fields * sizeof *seg, 0);
  memset(seg, 0, m->n_fields * sizeof *seg);
  value = lua_gettop(L) + 2;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    size_t len, start = c->b->len;
    const char *name;
    const schema_field *f;
    if (lua_type(L, -2) != LUA_TSTRING) {
      pe->name = NULL;
      return fail(c, "expected field name, got %s key", luaL_typename(L, -2));
    }
    name = lua_tolstring(L, -2, &len);
    f = field_of_key(c, m, lua_gettop(L) - 1, name, len);
    pe->name = name;
    pe->index = 0;
    pe->key = 0;
    if (f == NULL) return fail(c, "unknown field of %s", m->full_name);
    if (enc_field(c, m, f, value) < 0) return -1;
    if (c->b->len > start) {
      size_t i = (size_t)(f - m->fields);
      sorted = sorted && i >= last;
      last = i + 1;
      seg[i] = (segment){start, c->b->len - start};
    }
    lua_pop(L, 1);
  }
  pe->name = NULL;
  if ((m->n_oneofs > 0 || m->n_required > 0) && check_written(c, m, seg) < 0) return -1;
  if (!sorted && order_fields(c, m, seg, body) < 0) return -1;
  lua_settop(L, top);
  return 0;
}

int codec_encode(lua_State *L, int idx, const schema_message *m, buf *b, const char *root,
                 char *err, size_t errlen) {
  ctx c;
  int top = lua_gettop(L), rc;
  init_ctx(&c, L, b, root, err, errlen);
  idx = lua_absindex(L, idx);
  b->len = 0;
  c.path[0].name = NULL;
  rc = lua_istable(L, idx) ? enc_fields(&c, m, idx) : type_fail(&c, "table", idx);
  lua_settop(L, top);
  return rc;
}

/* }====================================================== */

/*
** {======================================================
** DECODING
** =======================================================
*/

typedef const unsigned char *cursor;

static cursor varint_slow(cursor p, cursor end, uint64_t *v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 70 && p < end; shift += 7) {
    unsigned byte = *p++;
    r |= (uint64_t)(byte & 0x7f) << shift;
    if (byte < 0x80) {
      *v = r;
      return p;
    }
  }
  return NULL;
}

/* The varint at p, or NULL: then varint_fail(p) says why. */
static inline cursor get_varint(cursor p, cursor end, uint64_t *v) {
  if (p < end && *p < 0x80) {
    *v = *p;
    return p + 1;
  }
  return varint_slow(p, end, v);
}

/* The float of these bits as a double; a NaN keeps its payload, as float_bits wants it. */
static lua_Number float_number(uint32_t bits) {
  float x;
  if ((bits & 0x7F800000u) == 0x7F800000u && (bits & 0x7FFFFF)) {
    uint64_t u = (uint64_t)(bits >> 31) << 63 | (uint64_t)0x7FF << 52 | (uint64_t)(bits & 0x7FFFFF) << 29;
    double d;
    memcpy(&d, &u, 8);
    return (lua_Number)d;
  }
  memcpy(&x, &bits, 4);
  return (lua_Number)x;
}

static int varint_fail(ctx *c, cursor p, cursor end) {
  return fail(c, end - p >= 10 ? "varint longer than 10 bytes" : "truncated varint");
}

static uint64_t get_fixed(cursor p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

/* A length-delimited payload: its start, with *len checked against end. */
static cursor get_bytes(ctx *c, cursor p, cursor end, size_t *len) {
  uint64_t n;
  cursor q = get_varint(p, end, &n);
  if (q == NULL) return varint_fail(c, p, end), NULL;
  if (n > (uint64_t)(end - q)) return fail(c, "length past the end"), NULL;
  *len = (size_t)n;
  return q;
}

/* The next tag at *pp: its number, with the wire type in *wt; 0 on error. */
static uint32_t get_tag(ctx *c, cursor *pp, cursor end, uint32_t *wt) {
  uint64_t tag;
  cursor q = get_varint(*pp, end, &tag);
  if (q == NULL) return varint_fail(c, *pp, end), 0;
  *pp = q;
  *wt = (uint32_t)(tag & 7);
  if (tag >> 3 == 0 || tag >> 3 > WIRE_MAX_FIELD_NUMBER)
    return fail(c, "invalid field number %llu", (unsigned long long)(tag >> 3)), 0;
  return (uint32_t)(tag >> 3);
}

static int wire_fail(ctx *c, const schema_field *f, uint32_t wt) {
  return fail(c, "wire type %u is wrong for %s", (unsigned)wt,
              f->is_map ? "map" : types[f->type].name);
}

static cursor skip_field(ctx *c, uint32_t number, uint32_t wt, cursor p, cursor end, int depth);

/* Skips an unknown group up to its end tag; groups nest, so depth counts. */
static cursor skip_group(ctx *c, uint32_t number, cursor p, cursor end, int depth) {
  uint32_t wt, n;
  if (depth > MAX_DEPTH) return fail(c, "nesting deeper than %d", MAX_DEPTH), NULL;
  while (p < end) {
    if ((n = get_tag(c, &p, end, &wt)) == 0) return NULL;
    if (wt == WT_EGROUP) return n == number ? p : (fail(c, "unexpected end-group tag %u", n), NULL);
    if ((p = skip_field(c, n, wt, p, end, depth + 1)) == NULL) return NULL;
  }
  return fail(c, "missing end-group tag %u", number), NULL;
}

static cursor skip_field(ctx *c, uint32_t number, uint32_t wt, cursor p, cursor end, int depth) {
  uint64_t v;
  size_t len;
  cursor q;
  switch (wt) {
    case WT_VARINT:
      if ((q = get_varint(p, end, &v)) == NULL) varint_fail(c, p, end);
      return q;
    case WT_I64:
      return end - p >= 8 ? p + 8 : (fail(c, "truncated fixed64"), NULL);
    case WT_I32:
      return end - p >= 4 ? p + 4 : (fail(c, "truncated fixed32"), NULL);
    case WT_LEN:
      return (q = get_bytes(c, p, end, &len)) ? q + len : NULL;
    case WT_SGROUP:
      return skip_group(c, number, p, end, depth);
    default:
      return fail(c, "invalid wire type %u", (unsigned)wt), NULL;
  }
}

/*
** Reads one scalar of field f (of message m) and pushes it. Returns 1, or 0
** having pushed nothing for a number a closed enum does not have, or -1.
*/
static int dec_scalar(ctx *c, const schema_message *m, const schema_field *f, cursor *pp,
                      cursor end) {
  lua_State *L = c->L;
  cursor p = *pp;
  uint64_t u;
  size_t len;
  switch (WIRE(f)) {
    case WT_VARINT:
      if ((p = get_varint(p, end, &u)) == NULL) return varint_fail(c, *pp, end);
      break;
    case WT_I64:
      if (end - p < 8) return fail(c, "truncated fixed64");
      u = get_fixed(p, 8);
      p += 8;
      break;
    case WT_I32:
      if (end - p < 4) return fail(c, "truncated fixed32");
      u = get_fixed(p, 4);
      p += 4;
      break;
    default:
      if ((p = get_bytes(c, p, end, &len)) == NULL) return -1;
      if (f->type == FIELD_STRING && m->proto3 && !jt_utf8_valid((const char *)p, len, NULL))
        return fail(c, "invalid UTF-8");
      lua_pushlstring(L, (const char *)p, len);
      *pp = p + len;
      return 1;
  }
  *pp = p;
  switch (f->type) {
    case FIELD_DOUBLE: {
      double d;
      memcpy(&d, &u, 8);
      lua_pushnumber(L, (lua_Number)d);
      break;
    }
    case FIELD_FLOAT: lua_pushnumber(L, float_number((uint32_t)u)); break;
    case FIELD_INT32: case FIELD_SFIXED32: lua_pushinteger(L, (int32_t)u); break;
    case FIELD_UINT32: case FIELD_FIXED32: lua_pushinteger(L, (uint32_t)u); break;
    case FIELD_SINT32: lua_pushinteger(L, (int32_t)((uint32_t)u >> 1 ^ -((uint32_t)u & 1))); break;
    case FIELD_SINT64: lua_pushinteger(L, (lua_Integer)(u >> 1 ^ -(u & 1))); break;
    case FIELD_BOOL: lua_pushboolean(L, u != 0); break;
    case FIELD_ENUM: {
      const schema_enum_value *ev = schema_enum_value_by_number(f->enum_type, (int32_t)u);
      if (ev != NULL) lua_pushstring(L, ev->name);
      else if (f->enum_type->closed) return 0;
      else lua_pushinteger(L, (int32_t)u);
      break;
    }
    default: lua_pushinteger(L, (lua_Integer)u);   /* 64-bit integers, uint64 as two's complement */
  }
  return 1;
}

void codec_push_default(lua_State *L, const schema_field *f) {
  switch (f->type) {
    case FIELD_DOUBLE: case FIELD_FLOAT: lua_pushnumber(L, 0); break;
    case FIELD_BOOL: lua_pushboolean(L, 0); break;
    case FIELD_STRING: case FIELD_BYTES: lua_pushliteral(L, ""); break;
    case FIELD_ENUM: lua_pushstring(L, f->enum_type->values[0].name); break;
    default: lua_pushinteger(L, 0);
  }
}

void codec_push_time(lua_State *L, int64_t seconds, int32_t nanos) {
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, (lua_Integer)seconds);
  lua_setfield(L, -2, "seconds");
  lua_pushinteger(L, nanos);
  lua_setfield(L, -2, "nanos");
}

/* Hash slots for a message table: what it always holds, plus a guess from its size. */
static int table_size(const schema_message *m, size_t len) {
  size_t n = m->n_implicit + len / 2;
  return (int)(n < m->n_fields ? n : m->n_fields);
}

static int dec_fields(ctx *c, const schema_message *m, int t, cursor *pp, cursor end,
                      uint32_t group, bool merge);

/*
** Reads message m one level down from *pp to end (a group: to its end tag)
** into the table at `into`, merging, or when into is 0 into a new table it pushes.
*/
static int dec_body(ctx *c, const schema_message *m, cursor *pp, cursor end, uint32_t group,
                    int into) {
  bool merge = into != 0;
  int rc;
  if (!merge) {
    lua_createtable(c->L, 0, table_size(m, (size_t)(end - *pp)));
    into = lua_gettop(c->L);
  }
  c->depth++;
  rc = dec_fields(c, m, into, pp, end, group, merge);
  c->depth--;
  return rc;
}

/* A sub-message of field f at *pp: length-delimited, or a group. */
static int dec_message(ctx *c, const schema_field *f, cursor *pp, cursor end, int into) {
  size_t len;
  cursor p;
  if (f->type == FIELD_GROUP) return dec_body(c, f->message, pp, end, f->number, into);
  if ((p = get_bytes(c, *pp, end, &len)) == NULL) return -1;
  *pp = p + len;
  return dec_body(c, f->message, &p, p + len, 0, into);
}

/* Pushes the value of f at *pp, as dec_scalar does: 1, or 0 having pushed nothing, or -1. */
static int dec_value(ctx *c, const schema_message *m, const schema_field *f, cursor *pp,
                     cursor end) {
  if (!IS_MESSAGE(f)) return dec_scalar(c, m, f, pp, end);
  return dec_message(c, f, pp, end, 0) < 0 ? -1 : 1;
}

/* Elements in a packed run of f: a guess for the array size, from the bytes. */
static int packed_count(const schema_field *f, cursor p, cursor end) {
  uint64_t len;
  size_t n = 0;
  if ((p = get_varint(p, end, &len)) == NULL || len > (uint64_t)(end - p)) return 0;
  if (WIRE(f) == WT_I64) return (int)(len / 8);
  if (WIRE(f) == WT_I32) return (int)(len / 4);
  for (cursor q = p; q < p + len; q++) n += *q < 0x80;
  return (int)n;
}

/*
** Pushes the table of repeated field f of the table at t, stored there when
** made. again: f may have been read before. Returns its length.
*/
static lua_Integer open_table(ctx *c, int t, const schema_field *f, bool again, int narr) {
  lua_State *L = c->L;
  if (again) {
    lua_pushstring(L, f->name);
    if (lua_rawget(L, t) == LUA_TTABLE) return (lua_Integer)lua_rawlen(L, -1);
    lua_pop(L, 1);
  }
  lua_createtable(L, f->is_map ? 0 : narr, 0);
  lua_pushstring(L, f->name);
  lua_pushvalue(L, -2);
  lua_rawset(L, t);
  return 0;
}

/* Elements of repeated field f at *pp, appended to the array at the top after n. */
static int dec_elements(ctx *c, const schema_message *m, const schema_field *f, uint32_t wt,
                        cursor *pp, cursor end, lua_Integer *n) {
  lua_State *L = c->L;
  path_elem *pe = &c->path[c->depth];
  size_t len;
  int rc;
  if (wt == WT_LEN && WIRE(f) != WT_LEN && !IS_MESSAGE(f)) {   /* packed, whatever the declaration */
    cursor p = get_bytes(c, *pp, end, &len), run_end;
    if (p == NULL) return -1;
    for (run_end = p + len; p < run_end;) {
      pe->index = *n + 1;
      if ((rc = dec_scalar(c, m, f, &p, run_end)) < 0) return -1;
      if (rc > 0) lua_rawseti(L, -2, ++*n);
    }
    *pp = run_end;
    return 0;
  }
  pe->index = *n + 1;
  if (wt != WIRE(f)) return wire_fail(c, f, wt);
  if ((rc = dec_value(c, m, f, pp, end)) < 0) return -1;
  if (rc > 0) lua_rawseti(L, -2, ++*n);
  return 0;
}

/* One map entry of f at *pp into the table at the top. */
static int dec_entry(ctx *c, const schema_field *f, uint32_t wt, cursor *pp, cursor end) {
  lua_State *L = c->L;
  const schema_message *e = f->message;
  const schema_field *kf = &e->fields[0], *vf = &e->fields[1];
  path_elem *pe = &c->path[c->depth];
  int map = lua_gettop(L), key = map + 1, val = map + 2, rc = 1;
  size_t len;
  uint32_t n;
  cursor p;
  pe->key = 0;
  if (wt != WT_LEN) return wire_fail(c, f, wt);
  if ((p = get_bytes(c, *pp, end, &len)) == NULL) return -1;
  *pp = end = p + len;
  codec_push_default(L, kf);
  lua_pushnil(L);
  while (p < end) {
    if ((n = get_tag(c, &p, end, &wt)) == 0) return -1;
    if (n == 1 && wt == WIRE(kf)) {
      c->in_key = true;
      if (dec_scalar(c, e, kf, &p, end) < 0) return -1;
      c->in_key = false;
      lua_replace(L, key);
      continue;
    }
    if (n != 2 || wt != WIRE(vf)) {
      if ((n == 1 || n == 2) && wt != WT_EGROUP) return wire_fail(c, n == 1 ? kf : vf, wt);
      if (wt == WT_EGROUP) return fail(c, "unexpected end-group tag %u", n);
      if ((p = skip_field(c, n, wt, p, end, c->depth + 1)) == NULL) return -1;
      continue;
    }
    pe->key = key;
    if ((rc = dec_value(c, e, vf, &p, end)) < 0) return -1;
    if (rc > 0) lua_replace(L, val);   /* last one wins, messages too */
  }
  if (rc == 0) {   /* a number the closed enum lacks: protobuf drops the entry */
    lua_settop(L, map);
    return 0;
  }
  if (lua_isnil(L, val)) {
    lua_pop(L, 1);
    if (IS_MESSAGE(vf)) {
      if (dec_body(c, vf->message, &p, p, 0, 0) < 0) return -1;   /* an empty message */
    } else codec_push_default(L, vf);
  }
  lua_rawset(L, map);
  pe->key = 0;
  return 0;
}

/* A oneof member is being set: the member set before it, if any, goes. */
static void oneof_set(ctx *c, const schema_message *m, const schema_field *f, int t,
                      uint64_t *mask, bool merge) {
  lua_State *L = c->L;
  uint64_t bit = f->oneof < 64 ? (uint64_t)1 << f->oneof : 0;
  if (merge || bit == 0 || (*mask & bit))
    for (size_t i = 0; i < m->n_fields; i++)
      if (m->fields[i].oneof == f->oneof && &m->fields[i] != f) {
        lua_pushstring(L, m->fields[i].name);
        lua_pushnil(L);
        lua_rawset(L, t);
      }
  *mask |= bit;
}

/* A singular field into the table at t. again: it may have been read before. */
static int dec_single(ctx *c, const schema_message *m, const schema_field *f, int t, uint32_t wt,
                      cursor *pp, cursor end, bool again) {
  lua_State *L = c->L;
  int rc;
  if (wt != WIRE(f)) return wire_fail(c, f, wt);
  lua_pushstring(L, f->name);
  /* A message read twice merges, as protobuf does (required fields are checked
     on the first copy alone). */
  if (IS_MESSAGE(f) && again) {
    lua_pushvalue(L, -1);
    if (lua_rawget(L, t) == LUA_TTABLE) {
      rc = dec_message(c, f, pp, end, lua_gettop(L));
      lua_pop(L, 2);
      return rc < 0 ? -1 : 1;
    }
    lua_pop(L, 1);
  }
  if ((rc = dec_value(c, m, f, pp, end)) < 0) return -1;
  if (rc == 0) {
    lua_pop(L, 1);
    return 0;
  }
  lua_rawset(L, t);
  return 1;
}

/* After the last field: defaults for the fields without presence, required ones checked. */
static int dec_finish(ctx *c, const schema_message *m, int t, const uint64_t *seen) {
  lua_State *L = c->L;
  if (m->n_implicit == 0 && m->n_required == 0) return 0;
  for (size_t i = 0; i < m->n_fields; i++) {
    const schema_field *f = &m->fields[i];
    if (seen[i / 64] >> (i % 64) & 1) continue;
    if (f->label == LABEL_REQUIRED) {
      c->path[c->depth].name = f->name;
      return fail(c, "missing required field");
    }
    if (f->label != LABEL_REPEATED && f->has_presence) continue;
    lua_pushstring(L, f->name);
    if (f->label == LABEL_REPEATED) lua_createtable(L, 0, 0);
    else codec_push_default(L, f);
    lua_rawset(L, t);
  }
  return 0;
}

/*
** Reads the fields of message m from *pp into the table at t, up to end or, in
** a group, to its end tag. merge: t holds an earlier copy of the message.
*/
static int dec_fields(ctx *c, const schema_message *m, int t, cursor *pp, cursor end,
                      uint32_t group, bool merge) {
  lua_State *L = c->L;
  path_elem *pe = &c->path[c->depth];
  uint64_t local[LOCAL_SEEN], *seen = local, oneofs = 0;
  size_t words = (m->n_fields + 63) / 64;
  const schema_field *open = NULL;   /* the repeated field whose table is at base + 1 */
  lua_Integer n_open = 0;
  cursor p = *pp;
  int top = lua_gettop(L), base, rc;
  if (enter(c) < 0) return -1;
  if (words > LOCAL_SEEN) seen = lua_newuserdatauv(L, words * sizeof *seen, 0);
  memset(seen, 0, words * sizeof *seen);
  base = lua_gettop(L);
  for (;;) {
    const schema_field *f;
    uint32_t wt, n;
    size_t i;
    if (p >= end) {
      if (group) return fail(c, "missing end-group tag %u", group);
      break;
    }
    if ((n = get_tag(c, &p, end, &wt)) == 0) return -1;
    if (wt == WT_EGROUP) {
      if (n == group) break;
      return fail(c, "unexpected end-group tag %u", n);
    }
    if ((f = schema_field_by_number(m, n)) == NULL) {
      if ((p = skip_field(c, n, wt, p, end, c->depth + 1)) == NULL) return -1;
      continue;
    }
    i = (size_t)(f - m->fields);
    pe->name = f->name;
    if (f->label == LABEL_REPEATED) {
      if (open != f) {
        int narr = wt == WT_LEN && WIRE(f) != WT_LEN ? packed_count(f, p, end) : 0;
        lua_settop(L, base);
        n_open = open_table(c, t, f, merge || (seen[i / 64] >> (i % 64) & 1), narr);
        open = f;
      }
      rc = f->is_map ? dec_entry(c, f, wt, &p, end) : dec_elements(c, m, f, wt, &p, end, &n_open);
      rc = rc < 0 ? -1 : 1;
    } else {
      if (f->oneof >= 0) oneof_set(c, m, f, t, &oneofs, merge);
      rc = dec_single(c, m, f, t, wt, &p, end, merge || (seen[i / 64] >> (i % 64) & 1));
    }
    if (rc < 0) return -1;
    if (rc > 0) seen[i / 64] |= (uint64_t)1 << (i % 64);
    pe->name = NULL;
    pe->index = 0;
    pe->key = 0;
  }
  pe->name = NULL;
  lua_settop(L, base);
  if (!merge && dec_finish(c, m, t, seen) < 0) return -1;
  lua_settop(L, top);
  *pp = p;
  return 0;
}

int codec_decode(lua_State *L, const schema_message *m, const char *data, size_t len,
                 const char *root, char *err, size_t errlen) {
  ctx c;
  cursor p = (cursor)(data ? data : "");
  int top = lua_gettop(L);
  init_ctx(&c, L, NULL, root, err, errlen);
  c.path[0].name = NULL;
  if (!lua_checkstack(L, 4)) return fail(&c, "Lua stack overflow");
  lua_createtable(L, 0, table_size(m, len));
  if (dec_fields(&c, m, top + 1, &p, p + len, 0, false) < 0) {
    lua_settop(L, top);
    return -1;
  }
  return 0;
}

/* }====================================================== */
