/*
** codec.h
** Protobuf wire format <-> Lua tables, driven by the schema, as docs/handlers.md's
** mapping table says. No intermediate C structs: bytes are read straight into
** tables and tables written straight into bytes.
*/
#ifndef codec_h
#define codec_h

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "buf.h"
#include "schema.h"

/*
** Decodes len bytes as message m and pushes the table [-0, +1 on success].
** On failure pushes nothing, returns -1 and writes to err a message that starts
** with the field path below root: "request.items[2].id: truncated varint".
** Only a memory error raises.
*/
int codec_decode(lua_State *L, const schema_message *m, const char *data, size_t len,
                 const char *root, char *err, size_t errlen);

/*
** Encodes the table at idx as message m, replacing b's contents [-0, +0].
** The first encode of a state with more than a couple of keys makes the
** state's cache of keys (a userdata in the registry, for m's schema).
** On failure returns -1 with the path-named reason in err:
** "reply.items[2].id: expected integer, got string". Only a memory error raises;
** b stays owned by the caller either way.
*/
int codec_encode(lua_State *L, int idx, const schema_message *m, buf *b,
                 const char *root, char *err, size_t errlen);

/*
** [-0, +0] Length n of the table at idx when its keys are 1..n; else -1 with
** why: "expected array, got table with key \"a\"", "... element 2 is missing".
*/
lua_Integer codec_array_length(lua_State *L, int idx, char *why, size_t whylen);

/* [-0, +1] The value a decoded table holds for scalar field f when it was not sent. */
void codec_push_default(lua_State *L, const schema_field *f);

/* [-0, +1] A google.protobuf.Timestamp or Duration table, {seconds = s, nanos = n}. */
void codec_push_time(lua_State *L, int64_t seconds, int32_t nanos);

#endif
