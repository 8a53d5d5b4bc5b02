/*
** json_module.c
** The host's json library (host/ljson.c) as a Lua C module, json.so, for the
** stock lua5.4 interpreter: bench/json.sh times it there beside Debian's
** lua-cjson, in one interpreter, on the same documents. In the host the
** library finds its limit through lvm_of; here that is a state of its own
** with the host's default --max-message-bytes.
*/
#include "ljson.h"
#include "lvm.h"

static config standalone_config = {.max_message_bytes = 4 << 20};
static lvm standalone = {.cfg = &standalone_config};

lvm *lvm_of(lua_State *L) {
  (void)L;
  return &standalone;
}
