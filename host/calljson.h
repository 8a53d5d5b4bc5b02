/*
** calljson.h
** host --call's conversions: a request in the proto3 JSON mapping to the
** protobuf bytes of its message, and a reply's bytes to one line of JSON.
*/
#ifndef calljson_h
#define calljson_h

#include <stddef.h>

#include <lauxlib.h>

#include "config.h"
#include "schema.h"

typedef struct calljson calljson;

/*
** A converter for the messages of s, in a Lua state of its own with the
** handlers' libraries open (libs). NULL with the reason in err.
*/
calljson *calljson_new(schema *s, const config *cfg, const luaL_Reg *libs, char *err, size_t errlen);
void calljson_free(calljson *j);

/*
** The bytes of the JSON text as message m, in *out (valid until the next call
** on j). -1 with the reason, naming the field, in err.
*/
int calljson_to_bytes(calljson *j, const schema_message *m, const char *text, size_t len,
                      const char **out, size_t *out_len, char *err, size_t errlen);

/* The JSON text of len bytes of message m, on one line, in *out (valid until the next call on j). */
int calljson_to_json(calljson *j, const schema_message *m, const char *data, size_t len,
                     const char **out, size_t *out_len, char *err, size_t errlen);

#endif
