/*
** fuzz_decode.c
** codec_decode of arbitrary bytes: the first byte (or "=full.Name\n") picks
** the message type (of every message in the test protos and the example's),
** the rest is the message. Decoding must return a table or an error, never
** crash, overrun or leave the Lua stack unbalanced; the error text must fit
** its buffer.
*/
#include "fuzz_common.h"

static const size_t errlens[] = {1, 9, 80, 1024};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  fuzz_init();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_env *e = fuzz_init();
  lua_State *L = e->L;
  size_t errlen = errlens[size & 3];
  const schema_message *m = fuzz_pick(e, &data, &size);
  if (m == NULL) return 0;
  char *err = fuzz_errbuf(errlen);
  int top = lua_gettop(L);
  int rc = codec_decode(L, m, (const char *)data, size, "request", err, errlen);
  fuzz_check_decoded(L, rc, top, err, errlen, m->full_name);
  fuzz_reset(e);
  return 0;
}
