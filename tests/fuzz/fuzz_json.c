/*
** fuzz_json.c
** The JSON readers on arbitrary text: the first byte (or "=full.Name\n") picks
** a message type, the rest is the text.
** - protojson_decode returns a table or an error (terminated in its buffer,
**   the Lua stack as it was); a table it returns encodes (protojson_encode),
**   and that text decodes to an equal table; without maps, encoding that
**   gives the same text again.
** - json.decode, run on the same text, returns a value or raises; a value it
**   returns encodes, and that text decodes to an equal value.
** The json library takes its limit from the lvm of its state: here a fake
** one with the host's default limit.
*/
#include <string.h>

#include <lauxlib.h>

#include "fuzz_common.h"
#include "ljson.h"
#include "lvm.h"
#include "protojson.h"

static config fuzz_config = {.max_message_bytes = 4 << 20};
static lvm fuzz_lvm = {.cfg = &fuzz_config};

lvm *lvm_of(lua_State *L) {
  (void)L;
  return &fuzz_lvm;
}

static const size_t errlens[] = {1, 9, 80, 1024};
static buf out1, out2, scratch;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  fuzz_env *e = fuzz_init();
  luaL_requiref(e->L, "json", luaopen_json, 1);
  lua_pop(e->L, 1);
  return 0;
}

/* protojson: decode, encode, decode again; the same table, and without maps the same text. */
static void proto_json(fuzz_env *e, const schema_message *m, const char *text, size_t size,
                       size_t errlen) {
  lua_State *L = e->L;
  char *err = fuzz_errbuf(errlen), big[1024];
  int top = lua_gettop(L);
  int rc = protojson_decode(L, e->s, m, text, size, &scratch, m->full_name, err, errlen);
  fuzz_check_decoded(L, rc, top, err, errlen, m->full_name);
  if (rc < 0) return;
  if (protojson_encode(L, -1, e->s, m, &out1, m->full_name, big, sizeof big) < 0)
    fuzz_die("%s: what decoded does not encode: %s", m->full_name, big);
  if (protojson_decode(L, e->s, m, out1.data, out1.len, &scratch, m->full_name, big, sizeof big) < 0)
    fuzz_die("%s: the encoding does not decode: %s\n%.*s", m->full_name, big, (int)out1.len, out1.data);
  if (!fuzz_equal(L, -2, -1, 0))
    fuzz_die("%s: the encoding decodes to another table\n%.*s", m->full_name, (int)out1.len, out1.data);
  if (protojson_encode(L, -1, e->s, m, &out2, m->full_name, big, sizeof big) < 0)
    fuzz_die("%s: the second table does not encode: %s", m->full_name, big);
  if (!fuzz_has_maps(e, m) && (out1.len != out2.len || memcmp(out1.data, out2.data, out1.len) != 0))
    fuzz_die("%s: encoding is not stable\n%.*s\n%.*s", m->full_name, (int)out1.len, out1.data,
             (int)out2.len, out2.data);
}

/* [-0, +0] In protected mode: [text] json.decode, json.encode, json.decode; equal values. */
static int plain_json(lua_State *L) {
  lua_getglobal(L, "json");
  lua_getfield(L, -1, "decode");
  lua_pushvalue(L, 1);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) return 0;      /* text json v|err */
  lua_getfield(L, 2, "encode");
  lua_pushvalue(L, 3);
  lua_call(L, 1, 1);                                  /* text json v encoded */
  lua_getfield(L, 2, "decode");
  lua_pushvalue(L, 4);
  lua_call(L, 1, 1);                                  /* text json v encoded v2 */
  if (!fuzz_equal(L, 3, 5, 0)) fuzz_die("json: the encoding decodes to another value\n%s", lua_tostring(L, 4));
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_env *e = fuzz_init();
  lua_State *L = e->L;
  const schema_message *m = fuzz_pick(e, &data, &size);
  if (m == NULL) return 0;
  proto_json(e, m, (const char *)data, size, errlens[size & 3]);
  lua_settop(L, 0);
  lua_pushcfunction(L, plain_json);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) fuzz_die("json: %s", lua_tostring(L, -1));
  fuzz_reset(e);
  return 0;
}
