/*
** lsandbox.h
** What scripts may reach: no processes, no exit, no C modules, no debug
** library, no bytecode, code loaded only from the scripts directory, and files
** opened only under the directories of --files.
*/
#ifndef lsandbox_h
#define lsandbox_h

#include <lua.h>

/*
** [-0, +0] In protected mode, after luaL_openlibs: narrows the globals of L to
** dir. files: --files as given ("DIR[:ro|:rw],..."), or NULL for dir read-only
** and /tmp read-write.
*/
void lsandbox_open(lua_State *L, const char *dir, const char *files);

#endif
