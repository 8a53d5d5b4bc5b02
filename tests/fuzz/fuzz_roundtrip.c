/*
** fuzz_roundtrip.c
** Decode -> encode -> decode of arbitrary bytes: the first byte (or
** "=full.Name\n") picks the message type, the rest is the message. Whatever
** decodes must encode, the encoding must decode again to an equal table
** (fuzz_equal), and encoding that table must give bytes of the same length
** (map entries may come in another order), the very same bytes when the type
** has no maps.
*/
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  fuzz_init();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_env *e = fuzz_init();
  lua_State *L = e->L;
  char err[512];
  const schema_message *m = fuzz_pick(e, &data, &size);
  if (m == NULL) return 0;
  if (codec_decode(L, m, (const char *)data, size, "request", err, sizeof err) < 0) {
    fuzz_reset(e);
    return 0;
  }
  /* [t1] */
  if (codec_encode(L, 1, m, &e->b1, "reply", err, sizeof err) < 0)
    fuzz_die("%s: decoded, but the table does not encode: %s", m->full_name, err);
  if (codec_decode(L, m, e->b1.data, e->b1.len, "again", err, sizeof err) < 0)
    fuzz_die("%s: encoded, but the bytes do not decode: %s", m->full_name, err);
  /* [t1, t2] */
  if (!fuzz_equal(L, 1, 2, 0))
    fuzz_die("%s: the table decoded from its own encoding differs", m->full_name);
  if (codec_encode(L, 2, m, &e->b2, "reply", err, sizeof err) < 0)
    fuzz_die("%s: the second encoding failed: %s", m->full_name, err);
  if (e->b1.len != e->b2.len)
    fuzz_die("%s: encodings of equal tables differ in length: %zu, %zu", m->full_name,
             e->b1.len, e->b2.len);
  if (!fuzz_has_maps(e, m) && e->b1.len > 0 && memcmp(e->b1.data, e->b2.data, e->b1.len) != 0)
    fuzz_die("%s: encodings of equal tables differ", m->full_name);
  fuzz_reset(e);
  return 0;
}
