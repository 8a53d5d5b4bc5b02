/*
** protojson.h
** The proto3 JSON mapping (protobuf's JSON format: what grpc-gateway, grpcurl
** and protobuf's own JSON printers and parsers write and read) between Lua
** tables in the codec's mapping (codec.h) and JSON text, for any message of a
** schema, well-known types included.
**
** Both return 0, or -1 with a reason in err that starts with root and the
** field path, as the codec's do:
**   "helloworld.HelloRequest.name: expected string, got number"
** Only a memory error raises. Either may run Lua finalizers (both allocate
** Lua values: the payload of an Any is decoded into a table, a parsed Any is
** encoded): a buffer passed in must not be one a finalizer could use.
*/
#ifndef protojson_h
#define protojson_h

#include <stddef.h>

#include <lua.h>

#include "jsontext.h"
#include "schema.h"

/*
** Writes the table at idx, message m, as JSON to b, replacing its contents
** [-0, +0]. Fields are written in number order under their JSON names,
** proto3 fields without presence only when they are not zero, as protobuf's
** printers do; past b->limit it fails.
*/
int protojson_encode(lua_State *L, int idx, const schema *s, const schema_message *m, buf *b,
                     const char *root, char *err, size_t errlen);

/*
** Reads len bytes of JSON text as message m and pushes its table, shaped as
** codec_decode shapes a decoded message [-0, +1 on success, +0 on failure].
** Fields are taken by JSON name or by their name in the .proto. scratch
** holds unescaped strings and decoded bytes for a moment; it is grown to the
** length of the text at most.
*/
int protojson_decode(lua_State *L, const schema *s, const schema_message *m, const char *text,
                     size_t len, buf *scratch, const char *root, char *err, size_t errlen);

#endif
