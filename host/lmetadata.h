/*
** lmetadata.h
** Metadata between gRPC and Lua: received metadata as a table, and a table of
** metadata to send into a list.
** Errors: lmetadata_add_table raises, naming the key.
*/
#ifndef lmetadata_h
#define lmetadata_h

#include <grpc/grpc.h>
#include <lua.h>

#include "metadata.h"

/*
** [-0, +1] md as a table: keys lower-case as they came; a key sent several
** times reads joined with ", " as HTTP does; of a repeated -bin key, whose
** bytes cannot be joined, the first counts.
*/
void lmetadata_push(lua_State *L, const grpc_metadata_array *md);

/* [-0, +1, error] A new empty list, in a userdata that frees it when collected. */
metadata_list *lmetadata_new(lua_State *L);

/* [-0, +0, error] Adds each key = value of the table at idx (strings) to list; what names the option. */
void lmetadata_add_table(lua_State *L, int idx, metadata_list *list, const char *what);

#endif
