/*
** fuzz_decode.c
** codec_decode of arbitrary bytes: the first byte (or "=full.Name\n") picks
** the message type (of every message in the test protos and the example's),
** the rest is the message. Decoding must return a table or an error, never
** crash, overrun or leave the Lua stack unbalanced; the error text must fit
** its buffer.
*/
#include <string.h>

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
  if (rc == 0 && (lua_gettop(L) != top + 1 || !lua_istable(L, -1)))
    fuzz_die("%s: decode succeeded without leaving one table", m->full_name);
  if (rc < 0) {
    if (lua_gettop(L) != top) fuzz_die("%s: decode failed and left the stack at %d (was %d)",
                                       m->full_name, lua_gettop(L), top);
    if (memchr(err, '\0', errlen) == NULL) fuzz_die("%s: error text not terminated", m->full_name);
  }
  fuzz_reset(e);
  return 0;
}
