/*
** fuzz_common.h
** What the libFuzzer targets share: the schema of the test protos, every
** message type in it, one Lua state, and a deep comparison of decoded tables.
*/
#ifndef fuzz_common_h
#define fuzz_common_h

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "codec.h"
#include "schema.h"

/* Loaded once, on the first call of fuzz_init. */
typedef struct fuzz_env {
  schema *s;
  const schema_message **messages;  /* every message type, sorted by full name */
  size_t n_messages;
  const char **protosets;           /* the files the schema came from */
  size_t n_protosets;
  bool *has_maps;                   /* by position in messages: a map in it or below */
  lua_State *L;
  buf b1, b2;
} fuzz_env;

/*
** Loads the descriptor sets named by FUZZ_PROTOSETS (colon-separated), else the
** build's test_protoset.pb and protoset.pb. Aborts with a message if it cannot.
*/
fuzz_env *fuzz_init(void);

/* Message type number `choice` (taken modulo their count). */
const schema_message *fuzz_message(const fuzz_env *e, unsigned choice);

/*
** The message type an input starts with, the input moved past it: "=full.Name\n" names it
** (seeds and regression inputs stay valid when protos are added), any other first byte
** picks one by number. NULL for an empty input or an unknown name.
*/
const schema_message *fuzz_pick(const fuzz_env *e, const uint8_t **data, size_t *size);

/* Whether m holds a map field, itself or in a message below (encodings may then differ
** in the order of map entries). */
bool fuzz_has_maps(const fuzz_env *e, const schema_message *m);

/* Resets the Lua stack between inputs and lets the GC keep up. */
void fuzz_reset(fuzz_env *e);

/*
** Whether the values at a and b are equal: numbers bit for bit (NaN equals the
** same NaN, 0.0 and -0.0 differ), tables key by key, recursively.
*/
bool fuzz_equal(lua_State *L, int a, int b, int depth);

/* Prints why and aborts: libFuzzer records the input as a crash. */
void fuzz_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* An err buffer of exactly n bytes on the heap, so ASan sees any overrun. */
char *fuzz_errbuf(size_t n);

/*
** After a decoder that pushes one table on success (rc 0) or nothing with an
** error in err (rc -1), the stack was at top: dies unless it kept to that.
*/
void fuzz_check_decoded(lua_State *L, int rc, int top, const char *err, size_t errlen,
                        const char *what);

#endif
