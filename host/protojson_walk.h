/*
** protojson_walk.h
** What protojson's writer (protojson_write.c) and reader (protojson_read.c)
** share: the state of one walk, its path for errors, the well-known types
** with forms of their own, integer ranges and dates. Not for other files.
*/
#ifndef protojson_walk_h
#define protojson_walk_h

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <lua.h>

#include "jsontext.h"
#include "ljson.h"
#include "schema.h"

#define PJ_MAX_DEPTH 100                   /* nested messages below the root, as the codec */

/* Seconds from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z, as protobuf's Timestamp allows. */
#define PJ_TIMESTAMP_MIN INT64_C(-62135596800)
#define PJ_TIMESTAMP_MAX INT64_C(253402300799)
#define PJ_DURATION_MAX INT64_C(315576000000)   /* 10,000 years */

/* Largest double that rounds to a finite float (the codec saturates past it). */
#define PJ_FLOAT_LIMIT 0x1.ffffffp+127

/* One walk: writing a table as JSON, or reading JSON into a table. */
typedef struct pj {
  lua_State *L;
  const schema *s;
  buf *b;            /* output when writing, scratch when reading */
  jt_reader r;          /* reading */
  const char *root;
  char *err;
  size_t errlen;
  int depth;            /* messages entered below the root */
  int n;                /* steps of the path */
  bool in_key;          /* the value at hand is a map key */
  ljson_step path[2 * PJ_MAX_DEPTH + 8];
  char rerr[160];       /* the reader's message */
} pj;

void pj_init(pj *c, lua_State *L, const schema *s, buf *b, const char *root, char *err,
             size_t errlen);

/* Writes "<root><path>: <reason>" to the caller's err (a map key's: "...: map key: <reason>"); -1. */
int pj_fail(pj *c, const char *fmt, ...);

/* A field's name as the next step of the path. */
int pj_push_step(pj *c, const char *name);

static inline ljson_step *pj_top_step(pj *c) {
  return &c->path[c->n - 1];
}

/* Enters a message: depth and Lua stack (slots more) checked. */
int pj_enter(pj *c, int slots);

/* The well-known types whose JSON is not an object of their fields. */
typedef enum wkt {
  WKT_NONE, WKT_ANY, WKT_TIMESTAMP, WKT_DURATION, WKT_FIELD_MASK, WKT_STRUCT, WKT_VALUE,
  WKT_LIST_VALUE, WKT_WRAPPER
} wkt;

/* The well-known type m is, with a JSON form of its own; WKT_NONE for any other (Empty too). */
wkt pj_wkt(const schema_message *m);

static inline bool pj_is_null_value(const schema_field *f) {
  return f->type == FIELD_ENUM && strcmp(f->enum_type->full_name, "google.protobuf.NullValue") == 0;
}

/* A singular google.protobuf.Value or NullValue: null is its null value, not an unset field. */
bool pj_takes_null(const schema_field *f);

/* The message of a type URL: the part after its last '/'. */
const schema_message *pj_type_of_url(const schema *s, const char *url);

/* Integer bounds of the integer field types (uint64 as two's complement: the whole range). */
void pj_int_range(field_type t, lua_Integer *min, lua_Integer *max);

static inline bool pj_is_unsigned64(field_type t) {
  return t == FIELD_UINT64 || t == FIELD_FIXED64;
}

static inline bool pj_is_64bit(field_type t) {
  return t == FIELD_INT64 || t == FIELD_UINT64 || t == FIELD_FIXED64 || t == FIELD_SFIXED64 ||
         t == FIELD_SINT64;
}

/* "int32", "bytes", ... */
const char *pj_type_name(field_type t);

/* Civil dates and days since 1970-01-01 (Howard Hinnant's algorithms). */
void pj_civil_from_days(int64_t z, int64_t *y, int *m, int *d);
int64_t pj_days_from_civil(int64_t y, int m, int d);

#endif
