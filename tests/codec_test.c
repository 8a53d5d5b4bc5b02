/*
** codec_test.c
** Unit tests of the schema and the codec, without gRPC.
** Usage: codec_test TEST_PROTOSET (all of tests/proto, imports included).
** The last line says "N passed, N failed"; the exit status is 1 on a failure.
*/
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "codec.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "schema.h"

static int passed, failed;
static schema *S;
static lua_State *L;
static buf B;
static char err[4096];

static void check(bool ok, int line, const char *fmt, ...) {
  va_list ap;
  if (ok) {
    passed++;
    return;
  }
  failed++;
  fprintf(stderr, "FAIL line %d: ", line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

#define CHECK(cond) check((cond), __LINE__, "%s", #cond)

/*
** {======================================================
** Helpers
** =======================================================
*/

static size_t unhex(const char *hex, char *out) {
  size_t n = 0;
  for (const char *p = hex; *p;) {
    unsigned v;
    if (*p == ' ') {
      p++;
      continue;
    }
    sscanf(p, "%2x", &v);
    out[n++] = (char)v;
    p += 2;
  }
  return n;
}

static const char *tohex(const char *data, size_t len) {
  static char out[8192];
  size_t i;
  for (i = 0; i < len && i * 2 + 2 < sizeof out; i++)
    sprintf(out + 2 * i, "%02x", (unsigned char)data[i]);
  out[2 * i] = '\0';
  return out;
}

static const char *nospace(const char *hex) {
  static char out[8192];
  size_t n = 0;
  for (; *hex && n + 1 < sizeof out; hex++)
    if (*hex != ' ') out[n++] = *hex;
  out[n] = '\0';
  return out;
}

static const schema_message *msg(const char *name) {
  const schema_message *m = schema_find_message(S, name);
  if (m == NULL) {
    fprintf(stderr, "no message %s\n", name);
    exit(2);
  }
  return m;
}

/* Pushes the value of a Lua expression. */
static void push_expr(const char *expr) {
  char chunk[8192];
  snprintf(chunk, sizeof chunk, "return %s", expr);
  if (luaL_loadstring(L, chunk) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
    fprintf(stderr, "Lua: %s\n", lua_tostring(L, -1));
    exit(2);
  }
}

/* Runs `cond` with t = the value at the top (popped) and v = the one below it. */
static bool lua_cond(const char *cond) {
  char chunk[8192];
  bool ok;
  snprintf(chunk, sizeof chunk, "local t, v = ...; return %s", cond);
  if (luaL_loadstring(L, chunk) != LUA_OK) {
    fprintf(stderr, "Lua: %s\n", lua_tostring(L, -1));
    exit(2);
  }
  lua_insert(L, -2);
  lua_pushvalue(L, -3);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
    fprintf(stderr, "Lua error in check: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
    return false;
  }
  ok = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return ok;
}

/* The Lua value of expr encodes as message name to hex (NULL: only succeeds). */
static void enc_ok_(int line, const char *name, const char *expr, const char *hex) {
  int top = lua_gettop(L), rc;
  push_expr(expr);
  rc = codec_encode(L, -1, msg(name), &B, "reply", err, sizeof err);
  check(rc == 0, line, "encode %s: %s", expr, rc == 0 ? "" : err);
  if (rc == 0 && hex != NULL)
    check(strcmp(tohex(B.data, B.len), nospace(hex)) == 0, line, "encode %s:\n got  %s\n want %s",
          expr, tohex(B.data, B.len), nospace(hex));
  lua_pop(L, 1);
  check(lua_gettop(L) == top, line, "stack top moved");
}

static void enc_err_(int line, const char *name, const char *expr, const char *want) {
  int top = lua_gettop(L), rc;
  push_expr(expr);
  rc = codec_encode(L, -1, msg(name), &B, "reply", err, sizeof err);
  check(rc == -1 && strcmp(err, want) == 0, line, "encode %s:\n got  %s\n want %s", expr,
        rc == 0 ? "success" : err, want);
  lua_pop(L, 1);
  check(lua_gettop(L) == top, line, "stack top moved");
}

/* hex decodes as message name into t, and cond(t) holds. */
static void dec_ok_(int line, const char *name, const char *hex, const char *cond) {
  char data[4096];
  size_t n = unhex(hex, data);
  int top = lua_gettop(L), rc;
  lua_pushnil(L);   /* v */
  rc = codec_decode(L, msg(name), data, n, "request", err, sizeof err);
  check(rc == 0, line, "decode %s: %s", hex, rc == 0 ? "" : err);
  if (rc == 0) check(lua_cond(cond), line, "decode %s: %s", hex, cond);
  lua_settop(L, top);
}

static void dec_err_(int line, const char *name, const char *hex, const char *want) {
  char data[4096];
  size_t n = unhex(hex, data);
  int top = lua_gettop(L);
  int rc = codec_decode(L, msg(name), data, n, "request", err, sizeof err);
  check(rc == -1 && strcmp(err, want) == 0, line, "decode %s:\n got  %s\n want %s", hex,
        rc == 0 ? "success" : err, want);
  check(lua_gettop(L) == top, line, "stack top moved");
  lua_settop(L, top);
}

/* expr encodes, decodes back to t, and cond(t, v = expr) holds. */
static void rtrip_(int line, const char *name, const char *expr, const char *cond) {
  int top = lua_gettop(L), rc;
  push_expr(expr);
  rc = codec_encode(L, -1, msg(name), &B, "reply", err, sizeof err);
  check(rc == 0, line, "encode %s: %s", expr, rc == 0 ? "" : err);
  if (rc == 0) {
    rc = codec_decode(L, msg(name), B.data, B.len, "request", err, sizeof err);
    check(rc == 0, line, "decode of %s: %s", expr, rc == 0 ? "" : err);
    if (rc == 0) check(lua_cond(cond), line, "round trip %s: %s", expr, cond);
  }
  lua_settop(L, top);
}

/* hex decodes and encodes back to the same bytes. */
static void recode_(int line, const char *name, const char *hex) {
  char data[4096];
  size_t n = unhex(hex, data);
  int rc = codec_decode(L, msg(name), data, n, "request", err, sizeof err);
  check(rc == 0, line, "decode %s: %s", hex, rc == 0 ? "" : err);
  if (rc != 0) return;
  rc = codec_encode(L, -1, msg(name), &B, "reply", err, sizeof err);
  check(rc == 0, line, "encode back %s: %s", hex, rc == 0 ? "" : err);
  if (rc == 0)
    check(strcmp(tohex(B.data, B.len), nospace(hex)) == 0, line, "recode:\n got  %s\n want %s",
          tohex(B.data, B.len), nospace(hex));
  lua_pop(L, 1);
}

#define enc_ok(name, expr, hex) enc_ok_(__LINE__, name, expr, hex)
#define enc_err(name, expr, want) enc_err_(__LINE__, name, expr, want)
#define dec_ok(name, hex, cond) dec_ok_(__LINE__, name, hex, cond)
#define dec_err(name, hex, want) dec_err_(__LINE__, name, hex, want)
#define rtrip(name, expr, cond) rtrip_(__LINE__, name, expr, cond)
#define recode(name, hex) recode_(__LINE__, name, hex)

/* Lua helpers for the checks. */
static const char *prelude =
  "function same(a, b)\n"   /* numbers: NaN equals NaN, -0.0 is not 0.0, subtypes matter */
  "  if type(a) ~= type(b) then return false end\n"
  "  if type(a) == 'number' then\n"
  "    if math.type(a) ~= math.type(b) then return false end\n"
  "    if a ~= a then return b ~= b end\n"
  "    if a == 0 and math.type(a) == 'float' then return 1/a == 1/b end\n"
  "    return a == b\n"
  "  end\n"
  "  if type(a) ~= 'table' then return a == b end\n"
  "  for k, x in pairs(a) do if not same(x, b[k]) then return false end end\n"
  "  for k in pairs(b) do if a[k] == nil then return false end end\n"
  "  return true\n"
  "end\n"
  "function sub(a, b)\n"   /* every key of a is in b with the same value; numbers loosely */
  "  if type(a) ~= 'table' or type(b) ~= 'table' then\n"
  "    if type(a) == 'number' and type(b) == 'number' then return a == b or (a ~= a and b ~= b) end\n"
  "    return a == b\n"
  "  end\n"
  "  if #a ~= #b then return false end\n"
  "  for k, x in pairs(a) do if not sub(x, b[k]) then return false end end\n"
  "  return true\n"
  "end\n"
  "function count(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end\n"
  "function nest(n, leaf) local t = leaf or {} for i = 1, n do t = {child = t} end return t end\n";

static char tmpdir[256];

static const char *tmp_path(const char *name) {
  static char path[4][512];
  static int i;
  i = (i + 1) % 4;
  snprintf(path[i], sizeof path[i], "%s/%s", tmpdir, name);
  return path[i];
}

static void write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
    perror(path);
    exit(2);
  }
}

static void copy_file(const char *from, const char *to) {
  char buf[1 << 16];
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  size_t n;
  if (in == NULL || out == NULL) {
    perror(from);
    exit(2);
  }
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
  fclose(in);
  fclose(out);
}

/* }====================================================== */

/*
** {======================================================
** Schema
** =======================================================
*/

static void test_schema_lookups(void) {
  const schema_service *svc = schema_find_service(S, "codectest.Echo");
  const schema_method *m;
  const char path[] = "/codectest.Echo/Streamxyz";
  CHECK(svc != NULL && strcmp(svc->name, "Echo") == 0 && svc->n_methods == 5);
  if (svc == NULL) return;
  CHECK(strcmp(svc->methods[0].path, "/codectest.Echo/Echo") == 0);
  CHECK(svc->methods[0].kind == METHOD_UNARY);
  CHECK(svc->methods[1].kind == METHOD_SERVER_STREAMING);
  CHECK(svc->methods[2].kind == METHOD_CLIENT_STREAMING);
  CHECK(svc->methods[3].kind == METHOD_BIDI_STREAMING);
  CHECK(strcmp(method_kind_name(METHOD_BIDI_STREAMING), "bidi streaming") == 0);
  CHECK(svc->methods[0].input == msg("codectest.AllTypes"));
  CHECK(svc->methods[4].output == msg("codectest.Node"));
  CHECK(svc->methods[0].service == svc);
  m = schema_find_method(S, path, sizeof path - 4);   /* not NUL-terminated */
  CHECK(m == &svc->methods[3] && strcmp(m->name, "Stream") == 0);
  CHECK(schema_find_method(S, path, sizeof path - 1) == NULL);
  CHECK(schema_find_method(S, "/codectest.Echo/Str", 19) == NULL);
  CHECK(schema_find_method(S, "", 0) == NULL);
  m = schema_find_method(S, "/Bare/Ping", 10);   /* no package */
  CHECK(m != NULL && m->input == msg("Ping") && m->kind == METHOD_UNARY);
  CHECK(schema_find_service(S, "Bare") != NULL);
  /* Dense method index over the whole schema (other tests add their protos). */
  size_t k = 0;
  for (size_t i = 0; i < schema_service_count(S); i++) {
    const schema_service *s = schema_service_at(S, i);
    for (size_t j = 0; j < s->n_methods; j++, k++) {
      const schema_method *mj = &s->methods[j];
      check(mj->index == k && schema_find_method(S, mj->path, strlen(mj->path)) == mj, __LINE__,
            "method index of %s", mj->path);
    }
  }
  CHECK(schema_method_count(S) == k && k >= 6);
  CHECK(schema_service_at(S, schema_service_count(S)) == NULL);
  CHECK(schema_find_message(S, ".codectest.AllTypes") == msg("codectest.AllTypes"));
  CHECK(schema_find_message(S, "codectest.AllTypes.Nested") != NULL);
  CHECK(schema_find_message(S, "codectest.Nope") == NULL);
  CHECK(schema_find_message(S, "AllTypes") == NULL);
  CHECK(schema_find_enum(S, "codectest.imp.Level") != NULL);
  CHECK(schema_find_enum(S, "codectest.AllTypes") == NULL);
}

static void test_schema_fields(void) {
  const schema_message *a = msg("codectest.AllTypes"), *l = msg("codectest2.Legacy");
  const schema_message *sp = msg("codectest.Sparse");
  const schema_field *f;
  const schema_enum *mood = schema_find_enum(S, "codectest.Mood");
  CHECK(a->proto3 && !l->proto3);
  CHECK(a->n_oneofs == 2 && strcmp(a->oneofs[0], "choice") == 0 && strcmp(a->oneofs[1], "other") == 0);
  for (size_t i = 1; i < a->n_fields; i++)
    check(a->fields[i - 1].number < a->fields[i].number, __LINE__, "fields sorted");
  f = schema_field_by_name(a, "f_int32", 7);
  CHECK(f != NULL && f->number == 5 && f->type == FIELD_INT32 && !f->has_presence && f->oneof == -1);
  CHECK(schema_field_by_number(a, 5) == f);
  CHECK(schema_field_by_name(a, "f_int32x", 7) == f);   /* length counts, not NUL */
  CHECK(schema_field_by_name(a, "f_int3", 6) == NULL);
  f = schema_field_by_name(a, "o_int32", 7);
  CHECK(f && f->has_presence && f->oneof == -1);
  f = schema_field_by_name(a, "c_int", 5);
  CHECK(f && f->has_presence && f->oneof == 0);
  f = schema_field_by_name(a, "x_bytes", 7);
  CHECK(f && f->oneof == 1);
  f = schema_field_by_name(a, "f_nested", 8);
  CHECK(f && f->has_presence && f->type == FIELD_MESSAGE && f->message == msg("codectest.AllTypes.Nested"));
  f = schema_field_by_name(a, "f_stamp", 7);
  CHECK(f && f->message == msg("codectest.imp.Stamp"));
  f = schema_field_by_name(a, "r_int32", 7);
  CHECK(f && f->packed && f->label == LABEL_REPEATED && !f->is_map);
  f = schema_field_by_name(a, "r_unpacked", 10);
  CHECK(f && !f->packed);
  f = schema_field_by_name(a, "r_string", 8);
  CHECK(f && !f->packed);
  f = schema_field_by_name(a, "m_int32", 7);
  CHECK(f && f->is_map && f->message->map_entry && f->message->fields[0].type == FIELD_INT32 &&
        f->message->fields[1].type == FIELD_STRING);
  CHECK(schema_field_by_number(a, 999) == NULL && schema_field_by_number(a, 0) == NULL);
  CHECK(schema_field_by_number(sp, 536870911) != NULL && schema_field_by_number(sp, 100000) != NULL);
  CHECK(schema_field_by_number(sp, 2) == NULL && schema_field_by_number(sp, 1) != NULL);
  CHECK(l->n_required == 1);
  f = schema_field_by_name(l, "name", 4);
  CHECK(f && f->has_presence && f->default_value && strcmp(f->default_value, "anon") == 0);
  f = schema_field_by_name(l, "plain", 5);
  CHECK(f && !f->packed);
  f = schema_field_by_name(l, "packed", 6);
  CHECK(f && f->packed);
  f = schema_field_by_name(l, "size", 4);
  CHECK(f && f->enum_type->closed && strcmp(f->default_value, "MEDIUM") == 0);
  f = schema_field_by_name(l, "item", 4);
  CHECK(f && f->type == FIELD_GROUP && f->message == msg("codectest2.Legacy.Item"));
  CHECK(mood && !mood->closed && mood->n_values == 4);
  if (mood == NULL) return;
  CHECK(strcmp(schema_enum_value_by_number(mood, 1)->name, "HAPPY") == 0);   /* first alias */
  CHECK(schema_enum_value_by_name(mood, "GLAD", 4)->number == 1);
  CHECK(schema_enum_value_by_number(mood, 3) == NULL && schema_enum_value_by_name(mood, "GL", 2) == NULL);
}

/* A FileDescriptorSet of one file with one message whose field has type_name. */
static void write_set(const char *path, const char *file, const char *type_name) {
  Google__Protobuf__FieldDescriptorProto fd = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__INIT;
  Google__Protobuf__FieldDescriptorProto *fields[] = {&fd};
  Google__Protobuf__DescriptorProto md = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
  Google__Protobuf__DescriptorProto *msgs[] = {&md};
  Google__Protobuf__FileDescriptorProto f = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
  Google__Protobuf__FileDescriptorProto *files[] = {&f};
  Google__Protobuf__FileDescriptorSet set = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_SET__INIT;
  uint8_t buf[1024];
  fd.name = "x";
  fd.has_number = fd.has_label = fd.has_type = 1;
  fd.number = 1;
  fd.label = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_OPTIONAL;
  fd.type = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE;
  fd.type_name = (char *)type_name;
  md.name = "Msg";
  md.n_field = 1;
  md.field = fields;
  f.name = (char *)file;
  f.package = "bad";
  f.syntax = "proto3";
  f.n_message_type = 1;
  f.message_type = msgs;
  set.n_file = 1;
  set.file = files;
  write_file(path, buf, google__protobuf__file_descriptor_set__pack(&set, buf));
}

static void load_fails_(int line, const char *const *paths, size_t n, const char *want) {
  char e[512] = "";
  schema *s = schema_load(paths, n, e, sizeof e);
  check(s == NULL && strcmp(e, want) == 0, line, "load %s:\n got  %s\n want %s", paths[0],
        s ? "success" : e, want);
  schema_free(s);
}

#define load_fails(paths, n, want) load_fails_(__LINE__, paths, n, want)

static void test_schema_load(const char *protoset) {
  char e[512], want[1024];
  const char *paths[3];
  schema *s;
  /* The same set twice, and a directory of copies: files are taken once. */
  paths[0] = paths[1] = protoset;
  s = schema_load(paths, 2, e, sizeof e);
  CHECK(s != NULL && schema_method_count(s) == schema_method_count(S));
  schema_free(s);
  mkdir(tmp_path("set"), 0700);
  copy_file(protoset, tmp_path("set/b.pb"));
  copy_file(protoset, tmp_path("set/a.protoset"));
  write_file(tmp_path("set/ignored.txt"), "x", 1);
  paths[0] = tmp_path("set");
  s = schema_load(paths, 1, e, sizeof e);
  CHECK(s != NULL && schema_find_message(s, "codectest.Node") != NULL);
  schema_free(s);

  paths[0] = tmp_path("missing.pb");
  snprintf(want, sizeof want, "protoset %s: No such file or directory", paths[0]);
  load_fails(paths, 1, want);
  write_file(tmp_path("text.pb"), "this is no protoset\n", 20);
  paths[0] = tmp_path("text.pb");
  snprintf(want, sizeof want, "protoset %s: not a FileDescriptorSet", paths[0]);
  load_fails(paths, 1, want);
  write_file(tmp_path("empty.pb"), "", 0);
  paths[0] = tmp_path("empty.pb");
  snprintf(want, sizeof want, "protoset %s: not a FileDescriptorSet (no files)", paths[0]);
  load_fails(paths, 1, want);
  mkdir(tmp_path("none"), 0700);
  paths[0] = tmp_path("none");
  snprintf(want, sizeof want, "protoset %s: no *.pb or *.protoset file", paths[0]);
  load_fails(paths, 1, want);
  /* An error in the second path, after a good one. */
  paths[0] = protoset;
  paths[1] = tmp_path("text.pb");
  snprintf(want, sizeof want, "protoset %s: not a FileDescriptorSet", paths[1]);
  load_fails(paths, 2, want);
  /* A bad file in a directory is named with its directory. */
  mkdir(tmp_path("bad"), 0700);
  write_set(tmp_path("bad/x.pb"), "bad.proto", ".foo.Bar");
  paths[0] = tmp_path("bad");
  snprintf(want, sizeof want, "protoset %s: bad.Msg refers to unknown type .foo.Bar", tmp_path("bad/x.pb"));
  load_fails(paths, 1, want);
  /* The same type from two files. */
  write_set(tmp_path("one.pb"), "one.proto", ".bad.Msg");
  write_set(tmp_path("two.pb"), "two.proto", ".bad.Msg");
  paths[0] = tmp_path("one.pb");
  paths[1] = tmp_path("two.pb");
  snprintf(want, sizeof want, "protoset %s: type bad.Msg is defined twice", paths[1]);
  load_fails(paths, 2, want);
  /* A file of the same name in two sets is taken once: no clash. */
  write_set(tmp_path("two.pb"), "one.proto", ".bad.Msg");
  s = schema_load(paths, 2, e, sizeof e);
  CHECK(s != NULL && schema_find_message(s, "bad.Msg") != NULL);
  schema_free(s);
  const char *rm[] = {"set/a.protoset", "set/b.pb", "set/ignored.txt", "set", "none", "bad/x.pb", "bad",
                      "text.pb", "empty.pb", "one.pb", "two.pb"};
  for (size_t i = 0; i < sizeof rm / sizeof rm[0]; i++) remove(tmp_path(rm[i]));
}

/* }====================================================== */

/*
** {======================================================
** Codec
** =======================================================
*/

static void test_vectors(void) {
  /* Known vectors: field 1 varint 150; a string. */
  enc_ok("codectest2.Legacy", "{id = 150}", "08 96 01");
  dec_ok("codectest2.Legacy", "08 96 01", "t.id == 150 and math.type(t.id) == 'integer'");
  enc_ok("codectest.Hello", "{name = 'testing'}", "0a 07 74 65 73 74 69 6e 67");
  dec_ok("codectest.Hello", "0a 07 74 65 73 74 69 6e 67", "same(t, {name = 'testing'})");
  enc_ok("codectest.Hello", "{}", "");
  enc_ok("codectest.Hello", "{name = ''}", "");   /* proto3 default: not written */
  /* UTF-8 checked in 8-byte words, the tail as the last word, a short string in two loads */
  enc_ok("codectest.Hello", "{name = 'abcdefg\\xc3\\xa9'}", "0a 09 61 62 63 64 65 66 67 c3 a9");
  enc_ok("codectest.Hello", "{name = '\\xc3\\xa9abcdefgh'}", "0a 0a c3 a9 61 62 63 64 65 66 67 68");
  enc_ok("codectest.Hello", "{name = 'ab\\xc3\\xa9'}", "0a 04 61 62 c3 a9");
  /* Bytes from python-protobuf for the same values: canonical order and packing. */
  enc_ok("codectest.AllTypes",
         "{f_double = 0.1, f_float = 1.5, f_int64 = math.mininteger, f_uint64 = -1, f_int32 = -1,"
         " f_fixed64 = -1, f_fixed32 = 4294967295, f_bool = true, f_string = 'h\\u{e9}\\0',"
         " f_bytes = '\\0\\xff', f_uint32 = 4294967295, f_sfixed32 = -2147483648,"
         " f_sfixed64 = math.mininteger, f_sint32 = -2147483648, f_sint64 = math.mininteger,"
         " f_color = 'BLUE', f_mood = 2, f_nested = {id = 7, name = 'n', values = {1, -1}},"
         " f_stamp = {seconds = 12}, f_level = 'LEVEL_HIGH',"
         " o_int32 = 0, o_string = '', o_double = -0.0, o_bool = false, o_color = 'COLOR_UNSPECIFIED',"
         " r_double = {1, -0.0}, r_float = {0.25}, r_int64 = {-1, 0, 1}, r_uint64 = {-1},"
         " r_int32 = {1, 300, -2}, r_fixed64 = {5}, r_fixed32 = {6}, r_bool = {true, false},"
         " r_string = {'a', ''}, r_bytes = {'\\1'}, r_uint32 = {7}, r_sfixed32 = {-8},"
         " r_sfixed64 = {-9}, r_sint32 = {-10}, r_sint64 = {-11}, r_color = {'RED', 2},"
         " r_nested = {{id = 1}, {}}, r_unpacked = {3, 4}, c_string = 'one', x_bytes = ''}",
         "099a9999999999b93f150000c03f188080808080808080800120ffffffffffffffffff0128ffffffffffffff"
         "ffff0131ffffffffffffffff3dffffffff40014a0468c3a900520200ff58ffffffff0f650000008069000000"
         "000000008070ffffffff0f78ffffffffffffffffff01800103880102920112080712016e1a0b01ffffffffff"
         "ffffffff019a0102080ca00102a9010000000000000080c80100e00100ea0100a00200ca0210000000000000"
         "f03f0000000000000080d202040000803eda020cffffffffffffffffff010001e2020affffffffffffffffff"
         "01ea020d01ac02feffffffffffffffff01f202080500000000000000fa02040600000082030201008a030161"
         "8a0300920301019a030107a20304f8ffffffaa0308f7ffffffffffffffb2030113ba030115c203020102ca03"
         "020801ca0300d00303d003049205036f6e65b20500");
  enc_ok("codectest.AllTypes", "{f_double = string.unpack('<d', '\\0\\0\\0\\0\\0\\0\\xf8\\x7f'), f_float = -math.huge, c_int = 0}",
         "09000000000000f87f15000080ff880500");
  enc_ok("codectest2.Legacy",
         "{id = 150, plain = {1, 2}, packed = {1, 2}, item = {a = 5, b = 'x'}, entry = {{key = 'k'}},"
         " sizes = {'LARGE'}, name = 'anon', next = {id = 2}}",
         "0896011204616e6f6e28012802320201023803535805620178546b72016b6c7a020802");
  /* Decoding then encoding gives the same bytes: NaN payloads and -0.0 survive. */
  recode("codectest.AllTypes", "09 01 00 00 00 00 00 f8 7f 15 01 00 c0 7f");
  recode("codectest.AllTypes", "09 00 00 00 00 00 00 00 80 15 00 00 00 80");
  /* Signalling float NaNs too (a C float -> double -> float would set the quiet bit). */
  recode("codectest.AllTypes", "15 01 00 80 7f");
  recode("codectest.AllTypes", "15 ff ff bf ff d2 02 08 01 00 80 ff 00 00 c0 7f");
  dec_ok("codectest.AllTypes", "15 01 00 80 7f",
         "string.pack('<d', t.f_float) == string.pack('<i8', 0x7ff0000020000000)");
  /* A double NaN whose payload a float cannot hold becomes the quiet NaN of its sign. */
  enc_ok("codectest.AllTypes", "{f_float = string.unpack('<d', string.pack('<i8', 0x7ff0000000000001))}",
         "15 00 00 c0 7f");
  enc_ok("codectest.AllTypes", "{f_float = string.unpack('<d', string.pack('<i8', -1))}",
         "15 ff ff ff ff");
  recode("codectest2.Legacy", "0896011204616e6f6e28012802320201023803535805620178546b72016b6c7a020802");
  /* The buffer is replaced, not appended to. */
  enc_ok("codectest.Hello", "{name = 'a'}", "0a 01 61");
}

static void test_scalars(void) {
  const char *t = "codectest.AllTypes";
  rtrip(t, "{f_int64 = math.mininteger, f_uint64 = -1, f_int32 = -2147483648, f_uint32 = 4294967295,"
           " f_sint32 = 2147483647, f_sint64 = math.maxinteger, f_fixed64 = math.mininteger,"
           " f_fixed32 = 4294967295, f_sfixed32 = -2147483648, f_sfixed64 = math.maxinteger}",
        "sub(v, t) and math.type(t.f_uint64) == 'integer'");
  rtrip(t, "{f_sint32 = -2147483648, f_sint64 = math.mininteger, f_int64 = math.maxinteger,"
           " f_uint64 = math.mininteger, f_sfixed64 = math.mininteger}", "sub(v, t)");
  rtrip(t, "{f_double = -0.0, f_float = -0.0}", "same(t.f_double, -0.0) and same(t.f_float, -0.0)");
  rtrip(t, "{f_double = 0/0, f_float = 0/0}", "t.f_double ~= t.f_double and t.f_float ~= t.f_float");
  rtrip(t, "{f_double = math.huge, f_float = -math.huge}", "t.f_double == math.huge and t.f_float == -math.huge");
  rtrip(t, "{f_double = 5e-324, f_float = 1e300}", "t.f_double == 5e-324 and t.f_float == math.huge");
  rtrip(t, "{f_double = 0.1, f_float = 0.1}", "t.f_double == 0.1 and t.f_float ~= 0.1 and math.abs(t.f_float - 0.1) < 1e-8");
  rtrip(t, "{f_double = 3, f_float = 2}", "same(t.f_double, 3.0) and same(t.f_float, 2.0)");
  rtrip(t, "{f_int32 = 2.0, f_int64 = -7.0}", "same(t.f_int32, 2) and same(t.f_int64, -7)");
  rtrip(t, "{f_bool = true}", "t.f_bool == true");
  rtrip(t, "{f_string = 'a\\0b', f_bytes = '\\0\\255\\1'}", "t.f_string == 'a\\0b' and t.f_bytes == '\\0\\255\\1'");
  rtrip(t, "{o_string = '', o_bytes = '', o_int32 = 0, o_bool = false, o_double = 0.0, o_color = 0}",
        "t.o_string == '' and t.o_bytes == '' and same(t.o_int32, 0) and t.o_bool == false"
        " and same(t.o_double, 0.0) and t.o_color == 'COLOR_UNSPECIFIED'");
  rtrip(t, "{f_string = string.rep('\\u{10FFFF}\\u{800}x', 100)}", "sub(v, t)");
  rtrip("codectest2.Legacy", "{id = 1, text = '\\xff\\xfe', raw = '\\xff'}", "sub(v, t)");   /* proto2: unchecked */
  /* Non-canonical varints decode too: 5 = 85 80 80 00, int32 -1 as 5 bytes. */
  dec_ok(t, "28 85 80 80 00", "t.f_int32 == 5");
  dec_ok(t, "28 ff ff ff ff 0f", "t.f_int32 == -1");
  dec_ok(t, "40 02", "t.f_bool == true");
  /* Last one wins for a scalar given twice. */
  dec_ok(t, "28 01 28 02", "t.f_int32 == 2");
}

static void test_defaults(void) {
  dec_ok("codectest.AllTypes", "",
         "same(t.f_int32, 0) and same(t.f_uint64, 0) and same(t.f_double, 0.0) and same(t.f_float, 0.0)"
         " and t.f_string == '' and t.f_bytes == '' and t.f_bool == false"
         " and t.f_color == 'COLOR_UNSPECIFIED' and t.f_mood == 'MOOD_UNKNOWN' and t.f_level == 'LEVEL_UNSPECIFIED'"
         " and t.f_nested == nil and t.f_stamp == nil and t.o_int32 == nil and t.o_string == nil"
         " and same(t.r_int32, {}) and same(t.r_nested, {}) and same(t.m_int32, {}) and same(t.m_nested, {})"
         " and t.c_int == nil and t.c_nested == nil and t.x_bool == nil"
         " and count(t) == 18 + 18 + 16");
  dec_ok("codectest.AllTypes", "92 01 00", "same(t.f_nested, {id = 0, name = '', values = {}})");
  dec_ok("codectest2.Legacy", "08 01",
         "same(t, {id = 1, plain = {}, packed = {}, sizes = {}, entry = {}, counts = {}, flags = {}})");
  dec_ok("codectest.Node", "12 00", "same(t, {name = '', child = {name = '', children = {}, named = {}}, children = {}, named = {}})");
}

static void test_repeated(void) {
  const char *t = "codectest.AllTypes";
  enc_ok(t, "{r_int32 = {1, 2, 3}}", "ea 02 03 01 02 03");
  enc_ok(t, "{r_unpacked = {1, 2}}", "d0 03 01 d0 03 02");
  enc_ok(t, "{r_int32 = {}}", "");
  enc_ok(t, "{r_string = {'', 'a'}}", "8a 03 00 8a 03 01 61");
  enc_ok("codectest2.Legacy", "{id = 0, plain = {1, 2}, packed = {1, 2}}", "08 00 28 01 28 02 32 02 01 02");
  /* A table filled backwards still encodes in order. */
  enc_ok(t, "(function() local r = {} r[3] = 3 r[2] = 2 r[1] = 1 return {r_int32 = r} end)()",
         "ea 02 03 01 02 03");
  /* Packed and unpacked decode alike for every packable type, whatever the declaration. */
  dec_ok(t, "e8 02 01 e8 02 02 ea 02 02 03 04 e8 02 05", "same(t.r_int32, {1, 2, 3, 4, 5})");
  dec_ok(t, "d2 03 02 07 08 d0 03 09", "same(t.r_unpacked, {7, 8, 9})");
  dec_ok("codectest2.Legacy", "08 01 2a 02 01 02 28 03 30 04", "same(t.plain, {1, 2, 3}) and same(t.packed, {4})");
  dec_ok(t, "ca 02 10 00 00 00 00 00 00 f0 3f 00 00 00 00 00 00 00 80 c9 02 00 00 00 00 00 00 00 40",
         "same(t.r_double, {1.0, -0.0, 2.0})");
  dec_ok(t, "d2 02 04 00 00 80 3e d5 02 00 00 80 3f", "same(t.r_float, {0.25, 1.0})");
  dec_ok(t, "fa 02 04 06 00 00 00 fd 02 07 00 00 00", "same(t.r_fixed32, {6, 7})");
  dec_ok(t, "f2 02 08 ff ff ff ff ff ff ff ff f1 02 01 00 00 00 00 00 00 00", "same(t.r_fixed64, {-1, 1})");
  dec_ok(t, "82 03 02 01 00 80 03 01", "same(t.r_bool, {true, false, true})");
  dec_ok(t, "ba 03 02 15 02 b8 03 03", "same(t.r_sint64, {-11, 1, -2})");
  dec_ok(t, "b2 03 01 13 b0 03 14", "same(t.r_sint32, {-10, 10})");
  dec_ok(t, "a2 03 04 f8 ff ff ff a5 03 01 00 00 00", "same(t.r_sfixed32, {-8, 1})");
  dec_ok(t, "c2 03 02 01 63 c0 03 02", "same(t.r_color, {'RED', 99, 'GREEN'})");
  dec_ok(t, "e2 02 0a ff ff ff ff ff ff ff ff ff 01 e0 02 01", "same(t.r_uint64, {-1, 1})");
  dec_ok(t, "ea 02 00", "same(t.r_int32, {})");
  /* Repeated messages, interleaved with other fields. */
  rtrip(t, "{r_nested = {{id = 1, values = {1, 2}}, {name = 'b'}, {}}, f_int32 = 3}",
        "#t.r_nested == 3 and t.r_nested[1].id == 1 and same(t.r_nested[1].values, {1, 2})"
        " and t.r_nested[2].name == 'b' and same(t.r_nested[3], {id = 0, name = '', values = {}})");
  dec_ok(t, "ca 03 02 08 01 28 05 ca 03 02 08 02", "#t.r_nested == 2 and t.r_nested[2].id == 2 and t.f_int32 == 5");
  rtrip(t, "{r_string = {'x', '', 'y'}, r_bytes = {'\\0'}}", "sub(v, t)");
  rtrip(t, "{r_int32 = {}, r_nested = {}}", "same(t.r_int32, {}) and same(t.r_nested, {})");
  /* A long packed run: its length takes two bytes. */
  rtrip(t, "(function() local r = {} for i = 1, 1000 do r[i] = i * 1000 end return {r_int64 = r} end)()",
        "sub(v, t)");
}

static void test_maps(void) {
  const char *t = "codectest.AllTypes";
  rtrip(t, "{m_int32 = {[-1] = 'a', [2] = 'b'}, m_int64 = {[math.mininteger] = 'x', [math.maxinteger] = 'y'},"
           " m_uint32 = {[4294967295] = 'x', [0] = ''}, m_uint64 = {[-1] = 'x'}, m_sint32 = {[-5] = 'x'},"
           " m_sint64 = {[math.mininteger] = 'x'}, m_fixed32 = {[4294967295] = 'x'},"
           " m_fixed64 = {[-1] = 'x'}, m_sfixed32 = {[-2147483648] = 'x'}, m_sfixed64 = {[-1] = 'x'},"
           " m_bool = {[true] = 't', [false] = 'f'}, m_string = {k = 'v', [''] = ''},"
           " m_nested = {a = {id = 1}, b = {}}, m_color = {x = 'RED', y = 2, z = 0},"
           " m_bytes = {b = '\\0\\255'}, m_double = {[1] = 0.5, [2] = -0.0}}",
        "sub(v.m_int32, t.m_int32) and sub(v.m_int64, t.m_int64) and sub(v.m_uint32, t.m_uint32)"
        " and sub(v.m_uint64, t.m_uint64) and sub(v.m_sint32, t.m_sint32) and sub(v.m_sint64, t.m_sint64)"
        " and sub(v.m_fixed32, t.m_fixed32) and sub(v.m_fixed64, t.m_fixed64)"
        " and sub(v.m_sfixed32, t.m_sfixed32) and sub(v.m_sfixed64, t.m_sfixed64)"
        " and same(t.m_bool, {[true] = 't', [false] = 'f'}) and same(t.m_string, {k = 'v', [''] = ''})"
        " and same(t.m_nested.a, {id = 1, name = '', values = {}}) and same(t.m_nested.b, {id = 0, name = '', values = {}})"
        " and same(t.m_color, {x = 'RED', y = 'GREEN', z = 'COLOR_UNSPECIFIED'})"
        " and same(t.m_bytes, {b = '\\0\\255'}) and same(t.m_double, {[1] = 0.5, [2] = -0.0})"
        " and count(t.m_int32) == 2 and math.type(next(t.m_int32)) == 'integer'");
  /* Both key and value are written, defaults included. */
  enc_ok(t, "{m_int32 = {[0] = ''}}", "ea 03 04 08 00 12 00");
  /* Entries with the key or the value missing, or in the other order, or repeated. */
  dec_ok(t, "ea 03 00", "same(t.m_int32, {[0] = ''})");
  dec_ok(t, "ea 03 03 12 01 61", "same(t.m_int32, {[0] = 'a'})");
  dec_ok(t, "ea 03 05 12 01 61 08 07", "same(t.m_int32, {[7] = 'a'})");
  dec_ok(t, "ea 03 02 08 07 ea 03 05 08 07 12 01 62", "same(t.m_int32, {[7] = 'b'})");
  dec_ok(t, "ca 04 03 0a 01 61", "same(t.m_nested, {a = {id = 0, name = '', values = {}}})");
  dec_ok(t, "ea 03 06 08 01 18 05 12 00", "same(t.m_int32, {[1] = ''})");   /* unknown field in an entry */
  dec_ok("codectest2.Legacy", "08 01 8a 01 05 0a 01 61 10 09", "same(t.counts, {a = 9})");
  /* A number a closed enum lacks drops the entry. */
  dec_ok("codectest2.Legacy", "08 01 92 01 05 0a 01 61 10 09 92 01 05 0a 01 62 10 01",
         "same(t.flags, {b = 'FLAG_ON'})");
}

static void test_oneof_enum_nested(void) {
  const char *t = "codectest.AllTypes";
  rtrip(t, "{c_int = 5}", "t.c_int == 5 and t.c_string == nil and t.c_nested == nil and t.c_color == nil");
  rtrip(t, "{c_nested = {id = 1}, x_bool = false}", "t.c_nested.id == 1 and t.x_bool == false and t.c_int == nil");
  enc_ok(t, "{c_int = 0}", "88 05 00");
  enc_ok(t, "{c_color = 'COLOR_UNSPECIFIED'}", "a0 05 00");
  /* Two members on the wire: the last one wins. */
  dec_ok(t, "88 05 01 92 05 01 61", "t.c_int == nil and t.c_string == 'a'");
  dec_ok(t, "92 05 01 61 88 05 01", "t.c_int == 1 and t.c_string == nil");
  dec_ok(t, "9a 05 02 08 01 88 05 01 9a 05 02 18 02",
         "t.c_int == nil and t.c_nested.id == 0 and same(t.c_nested.values, {2})");
  /* A message given twice merges. */
  dec_ok(t, "92 01 02 08 01 92 01 05 12 01 78 18 02 92 01 02 18 03",
         "t.f_nested.id == 1 and t.f_nested.name == 'x' and same(t.f_nested.values, {2, 3})");
  dec_ok(t, "9a 05 02 08 01 9a 05 03 12 01 78", "t.c_nested.id == 1 and t.c_nested.name == 'x'");
  /* Enums: names, numbers, aliases, unknown numbers. */
  rtrip(t, "{f_color = 'GREEN', f_mood = 'GLAD', o_color = 3}",
        "t.f_color == 'GREEN' and t.f_mood == 'HAPPY' and t.o_color == 'BLUE'");
  rtrip(t, "{f_color = 99, f_mood = -5}", "t.f_color == 99 and t.f_mood == -5");
  enc_ok(t, "{f_color = 'COLOR_UNSPECIFIED'}", "");
  dec_ok(t, "80 01 ff ff ff ff ff ff ff ff ff 01", "t.f_color == -1");
  /* A closed enum skips numbers it lacks, singular and repeated. */
  dec_ok("codectest2.Legacy", "08 01 20 09", "t.size == nil");
  dec_ok("codectest2.Legacy", "08 01 20 03", "t.size == 'LARGE'");
  dec_ok("codectest2.Legacy", "08 01 38 01 38 09 38 02 3a 02 09 03", "same(t.sizes, {'SMALL', 'MEDIUM', 'LARGE'})");
  /* Nested and recursive messages; imported ones. */
  rtrip("codectest.Node",
        "{name = 'root', child = {name = 'c', child = {name = 'cc'}}, children = {{name = 'k1'}, {name = 'k2', children = {{name = 'g'}}}},"
        " named = {x = {name = 'nx', named = {y = {name = 'ny'}}}}}",
        "sub(v, t) and t.child.child.child == nil and #t.children[1].children == 0");
  rtrip(t, "{f_stamp = {seconds = -1, nanos = 5, level = 'LEVEL_LOW'}, f_level = 2}",
        "same(t.f_stamp, {seconds = -1, nanos = 5, level = 'LEVEL_LOW'}) and t.f_level == 'LEVEL_HIGH'");
  /* A big body moves its length prefix: 200-byte and 20000-byte sub-messages. */
  rtrip("codectest.Node", "{child = {name = string.rep('x', 200)}, named = {k = {name = string.rep('y', 20000)}}}",
        "sub(v, t)");
  /* Groups. */
  rtrip("codectest2.Legacy", "{id = 1, item = {a = 5}, entry = {{key = 'a'}, {key = 'b'}}}",
        "t.item.a == 5 and t.item.b == nil and t.entry[2].key == 'b'");
  /* Raw access only: metamethods are never called. */
  enc_ok("codectest.Hello", "setmetatable({name = 'm'}, {__index = error, __newindex = error, __pairs = error, __len = error})",
         "0a 01 6d");
  enc_ok(t, "{r_int32 = setmetatable({1}, {__index = error, __len = error})}", "ea 02 01 01");
}

/* The encoder's cache of keys: long keys, other schemas, many fields. */
static void test_key_cache(const char *protoset) {
  const char *t = "codectest.LongNames";
  char e[512];
  schema *s2;
  /* Long keys are not interned: each table has its own string, the cache keeps none of them. */
  for (int i = 0; i < 3; i++) {
    enc_ok(t, "{a_field_name_that_is_longer_than_forty_bytes_1 = 1, short = 2, also_short = 3,"
              " a_field_name_that_is_longer_than_forty_bytes_2 = 'x'}", "08 01 12 01 78 18 02 20 03");
    enc_ok(t, "{[string.rep('a', 1) .. '_field_name_that_is_longer_than_forty_bytes_1'] = 5, short = 1,"
              " also_short = 1}", "08 05 18 01 20 01");
    rtrip(t, "{a_field_name_that_is_longer_than_forty_bytes_2 = 'y', short = 1, also_short = 2}", "sub(v, t)");
    enc_err(t, "{short = 1, also_short = 2, a_field_name_that_is_longer_than_forty_bytes_3 = 1}",
            "reply.a_field_name_that_is_longer_than_forty_bytes_3: unknown field of codectest.LongNames");
  }
  /* The same state with messages of another schema, then this one again. */
  s2 = schema_load(&protoset, 1, e, sizeof e);
  CHECK(s2 != NULL);
  if (s2 == NULL) return;
  for (int i = 0; i < 2; i++) {
    const schema_message *m2 = schema_find_message(s2, "codectest.Scalars20");
    push_expr("{a1 = 1, a2 = 2, a3 = 3, a14 = 'x'}");
    CHECK(m2 != NULL && m2->serial != msg("codectest.Scalars20")->serial);
    CHECK(codec_encode(L, -1, m2, &B, "reply", err, sizeof err) == 0 &&
          strcmp(tohex(B.data, B.len), "080110021803720178") == 0);
    lua_pop(L, 1);
    enc_ok("codectest.Scalars20", "{a1 = 1, a2 = 2, a3 = 3, a14 = 'x'}", "080110021803720178");
  }
  schema_free(s2);
  enc_err("codectest.Scalars20", "{a1 = 1, a2 = 2, a3 = 3, a4 = 4, nope = 1}", "reply.nope: unknown field of codectest.Scalars20");
}

static void test_unknown_fields(void) {
  /* Every wire type, groups nested in groups, before and after a known field. */
  dec_ok("codectest.Hello",
         "a0 06 96 01 a9 06 01 02 03 04 05 06 07 08 0a 01 61 b2 06 03 01 02 03 bd 06 01 02 03 04"
         " c3 06 08 01 cb 06 0a 00 cc 06 c4 06 10 02",
         "same(t, {name = 'a'})");
  dec_ok("codectest2.Legacy", "08 01 a3 06 a4 06", "t.id == 1");
}

static void test_encode_errors(void) {
  const char *t = "codectest.AllTypes";
  char deep[4096];
  enc_err("codectest.Hello", "{nmae = 'x'}", "reply.nmae: unknown field of codectest.Hello");
  enc_err("codectest.Hello", "{[1] = 'x'}", "reply: expected field name, got number key");
  enc_err("codectest.Hello", "(function() local t = {name = 'x'} t[true] = 1 return t end)()",
          "reply: expected field name, got boolean key");
  enc_err("codectest.Hello", "{name = 5}", "reply.name: expected string, got number");
  enc_err("codectest.Hello", "5", "reply: expected table, got number");
  enc_err(t, "{r_nested = {{id = 1}, {id = 'x'}}}", "reply.r_nested[2].id: expected integer, got string");
  enc_err(t, "{f_int32 = 1.5}", "reply.f_int32: expected integer, got number 1.5");
  enc_err(t, "{f_int32 = '1'}", "reply.f_int32: expected integer, got string");
  enc_err(t, "{f_int64 = true}", "reply.f_int64: expected integer, got boolean");
  enc_err(t, "{f_uint64 = 2^63}", "reply.f_uint64: expected integer, got number 9.2233720368548e+18");
  enc_err(t, "{f_int32 = 2147483648}", "reply.f_int32: 2147483648 is out of range for int32");
  enc_err(t, "{f_int32 = -2147483649}", "reply.f_int32: -2147483649 is out of range for int32");
  enc_err(t, "{f_uint32 = -1}", "reply.f_uint32: -1 is out of range for uint32");
  enc_err(t, "{f_uint32 = 4294967296}", "reply.f_uint32: 4294967296 is out of range for uint32");
  enc_err(t, "{f_sint32 = 2147483648}", "reply.f_sint32: 2147483648 is out of range for sint32");
  enc_err(t, "{f_fixed32 = -1}", "reply.f_fixed32: -1 is out of range for fixed32");
  enc_err(t, "{f_sfixed32 = 2147483648}", "reply.f_sfixed32: 2147483648 is out of range for sfixed32");
  enc_err(t, "{f_color = 2147483648}", "reply.f_color: 2147483648 is out of range for enum");
  enc_err(t, "{f_color = 'PURPLE'}", "reply.f_color: unknown value \"PURPLE\" of enum codectest.Color");
  enc_err(t, "{f_color = true}", "reply.f_color: expected enum name or integer, got boolean");
  enc_err(t, "{r_color = {'RED', 'NOPE'}}", "reply.r_color[2]: unknown value \"NOPE\" of enum codectest.Color");
  enc_err(t, "{f_double = '1'}", "reply.f_double: expected number, got string");
  enc_err(t, "{f_bool = 1}", "reply.f_bool: expected boolean, got number");
  enc_err(t, "{f_bytes = {}}", "reply.f_bytes: expected string, got table");
  enc_err(t, "{f_string = 'a\\xff'}", "reply.f_string: invalid UTF-8");
  enc_err(t, "{f_string = 'abcdefgh\\xff'}", "reply.f_string: invalid UTF-8");    /* in the tail */
  enc_err(t, "{f_string = 'abcdefghi\\xc3'}", "reply.f_string: invalid UTF-8");   /* cut short in the tail */
  enc_err(t, "{f_string = 'abcd\\xff'}", "reply.f_string: invalid UTF-8");        /* in the second short load */
  enc_err(t, "{f_string = '\\xed\\xa0\\x80'}", "reply.f_string: invalid UTF-8");   /* a surrogate */
  enc_err(t, "{f_string = '\\xc0\\x80'}", "reply.f_string: invalid UTF-8");        /* overlong */
  enc_err(t, "{f_nested = 5}", "reply.f_nested: expected table, got number");
  enc_err(t, "{f_nested = {id = 1, bad = 2}}", "reply.f_nested.bad: unknown field of codectest.AllTypes.Nested");
  enc_err(t, "{m_int32 = {x = 'a'}}", "reply.m_int32[\"x\"]: map key: expected integer, got string");
  enc_err(t, "{m_int32 = {[1.5] = 'a'}}", "reply.m_int32[1.5]: map key: expected integer, got number 1.5");
  enc_err(t, "{m_int32 = {[2^40] = 'a'}}", "reply.m_int32[1099511627776]: map key: 1099511627776 is out of range for int32");
  enc_err(t, "{m_string = {[1] = 'a'}}", "reply.m_string[1]: map key: expected string, got number");
  enc_err(t, "{m_bool = {[1] = 'a'}}", "reply.m_bool[1]: map key: expected boolean, got number");
  enc_err(t, "{m_string = {k = 1}}", "reply.m_string[\"k\"]: expected string, got number");
  enc_err(t, "{m_nested = {k = {id = 'x'}}}", "reply.m_nested[\"k\"].id: expected integer, got string");
  enc_err(t, "{m_color = {k = 'NOPE'}}", "reply.m_color[\"k\"]: unknown value \"NOPE\" of enum codectest.Color");
  enc_err(t, "{m_int32 = 5}", "reply.m_int32: expected table, got number");
  enc_err(t, "{r_int32 = {a = 1}}", "reply.r_int32: expected array, got table with key \"a\"");
  enc_err(t, "{r_int32 = {1, 2, x = 3}}", "reply.r_int32: expected array, got table with key \"x\"");
  enc_err(t, "{r_int32 = {[1] = 1, [3] = 3}}", "reply.r_int32: expected array, element 2 is missing");
  enc_err(t, "{r_int32 = {[0] = 1}}", "reply.r_int32: expected array, got table with key 0");
  enc_err(t, "{r_int32 = 5}", "reply.r_int32: expected array, got number");
  enc_err(t, "{r_int32 = {1, 'x'}}", "reply.r_int32[2]: expected integer, got string");
  enc_err(t, "{r_nested = {{}, 5}}", "reply.r_nested[2]: expected table, got number");
  enc_err(t, "{c_int = 1, c_string = 'a'}", "reply: only one of oneof 'choice' may be set (c_int, c_string)");
  enc_err(t, "{f_nested = {id = 1}, r_nested = {{id = 2}, {values = {1, 1.25}}}}",
          "reply.r_nested[2].values[2]: expected integer, got number 1.25");
  /* The index of one field does not leak into the next one's path. */
  enc_err(t, "(function() local r = {} r[1] = 1 r[2] = 2 return {r_int32 = r, f_int32 = 'x'} end)()",
          "reply.f_int32: expected integer, got string");
  enc_err("codectest2.Legacy", "{}", "reply.id: missing required field");
  enc_err("codectest2.Legacy", "{id = 1, next = {name = 'x'}}", "reply.next.id: missing required field");
  enc_err("codectest2.Legacy", "{id = 1, entry = {{key = 'a'}, {}}}", "reply.entry[2].key: missing required field");
  enc_err("codectest2.Legacy", "{id = 1, size = 9}", "reply.size: 9 is not a value of enum codectest2.Size");
  enc_ok("codectest2.Legacy", "{id = 1, size = 3}", "08 01 20 03");
  /* Depth: 100 nested messages are fine, 101 are not; nor is a cycle. */
  enc_ok("codectest.Node", "nest(100)", NULL);
  strcpy(deep, "reply");
  for (int i = 0; i < 101; i++) strcat(deep, ".child");
  strcat(deep, ": nesting deeper than 100");
  enc_err("codectest.Node", "nest(101)", deep);
  strcpy(deep, "reply");
  for (int i = 0; i < 101; i++) strcat(deep, ".children[1]");
  strcat(deep, ": nesting deeper than 100");
  enc_err("codectest.Node", "(function() local t = {} t.children = {t} return t end)()", deep);
  /* A path too long for the buffer loses levels from its middle; the reason stays. */
  {
    char mid[200];
    const char *tail = ".child.child: nesting deeper than 100";
    push_expr("nest(101)");
    CHECK(codec_encode(L, -1, msg("codectest.Node"), &B, "reply", mid, sizeof mid) == -1);
    check(strncmp(mid, "reply.child.child", 17) == 0 && strstr(mid, ".child(... ") != NULL &&
          strstr(mid, " more ...).child") != NULL && strlen(mid) < sizeof mid - 1 &&
          strlen(mid) > strlen(tail) && strcmp(mid + strlen(mid) - strlen(tail), tail) == 0,
          __LINE__, "elided path: %s", mid);
    lua_pop(L, 1);
  }
  /* A short error buffer is cut, never overrun. */
  {
    char small[16];
    push_expr("{f_int32 = 'x'}");
    CHECK(codec_encode(L, -1, msg(t), &B, "reply", small, sizeof small) == -1 &&
          strcmp(small, "reply.f_int32: ") == 0);
    CHECK(codec_encode(L, -1, msg(t), &B, "reply", NULL, 0) == -1);
    lua_pop(L, 1);
  }
}

/* n nested Node.child levels below an empty Node, as bytes. */
static size_t nested_bytes(int n, char *out) {
  size_t len = 0;
  char tmp[1024];
  for (int i = 0; i < n; i++) {
    size_t k = 0;
    tmp[k++] = 0x12;
    if (len >= 128) tmp[k++] = (char)(len | 0x80), tmp[k++] = (char)(len >> 7);
    else tmp[k++] = (char)len;
    memmove(out + k, out, len);
    memcpy(out, tmp, k);
    len += k;
  }
  return len;
}

static void test_decode_errors(void) {
  const char *t = "codectest.AllTypes";
  char data[1024], deep[4096];
  size_t n;
  dec_err(t, "28 96", "request.f_int32: truncated varint");
  dec_err(t, "28", "request.f_int32: truncated varint");
  dec_err(t, "28 ff ff ff ff ff ff ff ff ff ff 01", "request.f_int32: varint longer than 10 bytes");
  dec_err(t, "2a 00", "request.f_int32: wire type 2 is wrong for int32");
  dec_err(t, "4d 00 00 00 00", "request.f_string: wire type 5 is wrong for string");
  dec_err(t, "90 01 00", "request.f_nested: wire type 0 is wrong for message");
  dec_err(t, "e8 03 00", "request.m_int32: wire type 0 is wrong for map");
  dec_err(t, "8a 03 00 8d 03 00", "request.r_string[2]: wire type 5 is wrong for string");
  dec_err(t, "4a 05 61", "request.f_string: length past the end");
  dec_err(t, "4a ff ff ff ff ff ff ff ff ff 01", "request.f_string: length past the end");
  dec_err(t, "4a 01 ff", "request.f_string: invalid UTF-8");
  dec_err(t, "4a 03 e0 80 80", "request.f_string: invalid UTF-8");
  dec_err(t, "4a 04 f4 90 80 80", "request.f_string: invalid UTF-8");   /* above U+10FFFF */
  dec_err(t, "4a 02 e2 82", "request.f_string: invalid UTF-8");         /* cut short */
  dec_err(t, "3d 01 02", "request.f_fixed32: truncated fixed32");
  dec_err(t, "09 01 02 03", "request.f_double: truncated fixed64");
  dec_err(t, "ca 03 02 08 01 ca 03 01 08", "request.r_nested[2].id: truncated varint");
  dec_err(t, "ea 02 03 01 02 80", "request.r_int32[3]: truncated varint");
  dec_err(t, "ea 02 05 01 02", "request.r_int32: length past the end");
  dec_err(t, "c2 04 06 0a 01 78 12 01 ff", "request.m_string[\"x\"]: invalid UTF-8");
  dec_err(t, "ea 03 05 08 07 12 01 ff", "request.m_int32[7]: invalid UTF-8");
  dec_err(t, "c2 04 03 0a 01 ff", "request.m_string: map key: invalid UTF-8");
  dec_err(t, "ca 04 07 0a 01 6b 12 02 08 80", "request.m_nested[\"k\"].id: truncated varint");
  dec_err(t, "ea 03 02 0d 00", "request.m_int32: wire type 5 is wrong for int32");
  dec_err(t, "ea 03 05 08 01", "request.m_int32: length past the end");
  dec_err(t, "92 01 03 1a 01 80", "request.f_nested.values[1]: truncated varint");
  dec_err(t, "00 00", "request: invalid field number 0");
  dec_err(t, "a0 06", "request: truncated varint");
  dec_err(t, "a2 06 05 00", "request: length past the end");
  dec_err(t, "a7 06 00", "request: invalid wire type 7");
  dec_err(t, "a9 06 00", "request: truncated fixed64");
  dec_err(t, "a3 06 08 01", "request: missing end-group tag 100");
  dec_err(t, "a3 06 ac 06", "request: unexpected end-group tag 101");
  dec_err(t, "a4 06", "request: unexpected end-group tag 100");
  dec_err(t, "28 01 2c", "request: unexpected end-group tag 5");
  dec_err("codectest2.Legacy", "", "request.id: missing required field");
  dec_err("codectest2.Legacy", "08 01 7a 00", "request.next.id: missing required field");
  dec_err("codectest2.Legacy", "08 01 6b 6c", "request.entry[1].key: missing required field");
  dec_err("codectest2.Legacy", "08 01 53 58 01", "request.item: missing end-group tag 10");
  dec_err("codectest2.Legacy", "08 01 52 00", "request.item: wire type 2 is wrong for group");
  /* Depth: 100 nested messages are fine, 101 are not, groups included. */
  n = nested_bytes(100, data);
  CHECK(codec_decode(L, msg("codectest.Node"), data, n, "request", err, sizeof err) == 0);
  lua_pop(L, 1);
  n = nested_bytes(101, data);
  strcpy(deep, "request");
  for (int i = 0; i < 101; i++) strcat(deep, ".child");
  strcat(deep, ": nesting deeper than 100");
  CHECK(codec_decode(L, msg("codectest.Node"), data, n, "request", err, sizeof err) == -1 &&
        strcmp(err, deep) == 0);
  {   /* unknown group 100 in itself, 101 deep */
    char g[600];
    size_t k = 0;
    for (int i = 0; i < 101; i++) g[k++] = (char)0xa3, g[k++] = 0x06;
    for (int i = 0; i < 101; i++) g[k++] = (char)0xa4, g[k++] = 0x06;
    CHECK(codec_decode(L, msg("codectest.Hello"), g, k, "request", err, sizeof err) == -1 &&
          strcmp(err, "request: nesting deeper than 100") == 0);
    CHECK(codec_decode(L, msg("codectest.Hello"), g + 2, k - 4, "request", err, sizeof err) == 0);
    lua_pop(L, 1);
  }
}

/* }====================================================== */

int main(int argc, char **argv) {
  char e[512];
  const char *tmp = getenv("TMPDIR");
  if (argc != 2) {
    fprintf(stderr, "usage: %s TEST_PROTOSET\n", argv[0]);
    return 2;
  }
  snprintf(tmpdir, sizeof tmpdir, "%s/codec_test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(tmpdir) == NULL) {
    perror("mkdtemp");
    return 2;
  }
  S = schema_load((const char *const *)&argv[1], 1, e, sizeof e);
  if (S == NULL) {
    fprintf(stderr, "%s\n", e);
    return 2;
  }
  L = luaL_newstate();
  luaL_openlibs(L);
  if (luaL_dostring(L, prelude) != LUA_OK) {
    fprintf(stderr, "prelude: %s\n", lua_tostring(L, -1));
    return 2;
  }
  test_schema_lookups();
  test_schema_fields();
  test_schema_load(argv[1]);
  test_vectors();
  test_scalars();
  test_defaults();
  test_repeated();
  test_maps();
  test_oneof_enum_nested();
  test_unknown_fields();
  test_key_cache(argv[1]);
  test_encode_errors();
  test_decode_errors();
  lua_close(L);
  buf_free(&B);
  schema_free(S);
  rmdir(tmpdir);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
