/*
** ljson.h
** The `json` library of handler states (json.encode, json.decode, json.null,
** json.empty_array, json.array_mt), and what the proto3 JSON mapping's Lua
** functions share with it: the state's text buffer and field paths in errors.
*/
#ifndef ljson_h
#define ljson_h

#include <stddef.h>

#include <lua.h>

#include "jsontext.h"

#define LJSON_MAX_DEPTH 100          /* nested arrays and objects, as the codec's messages */

/*
** [-0, +1] Opens the library (as luaL_requiref wants it). The largest text
** json.* and grpc.to_json/from_json read or write is the state's
** --max-message-bytes (lvm_of).
*/
int luaopen_json(lua_State *L);

/*
** [-0, +1] The state's text buffer for one call of a C function, emptied,
** with --max-message-bytes as its limit. The value pushed is to be closed: when the
** function returns or raises, the buffer is handed back (and freed when big).
** A call made while the buffer is out (from a finalizer run by an allocation
** of the call that has it) gets a buffer of its own.
*/
buf *ljson_buffer(lua_State *L);

/*
** One level of a path: a name (".name"), a 1-based index ("[3]"), or the key
** at a stack index ("[\"k\"]", "[7]").
*/
typedef struct ljson_step {
  const char *name;
  lua_Integer index;
  int key;
} ljson_step;

/*
** Writes "<root><steps>: <reason>" to err; a path too long for err loses
** steps from its middle, never the reason.
*/
void ljson_path_error(lua_State *L, char *err, size_t errlen, const char *root,
                      const ljson_step *steps, int n, const char *reason);

#endif
