/*
** lbuiltin.h
** The `host` table that the built-in services' scripts (host/builtin)
** receive as their argument: what reflection and health need to know of the
** schema and of the host. User scripts never see it.
*/
#ifndef lbuiltin_h
#define lbuiltin_h

#include <lua.h>

struct lvm;

/* [-0, +1] Pushes the table, for the state of vm. */
void lbuiltin_push(lua_State *L, struct lvm *vm);

#endif
