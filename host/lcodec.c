/*
** lcodec.c
** grpc.encode / grpc.decode for scripts.
*/
#include "lcodec.h"

void lcodec_open(lua_State *L, const schema *s) {
  (void)L;
  (void)s;
}
