/*
** status.h
** The names of gRPC status codes, as scripts write them and logs show them.
*/
#ifndef status_h
#define status_h

#include <grpc/status.h>

#define STATUS_COUNT 17             /* OK .. UNAUTHENTICATED */

/* "NOT_FOUND" for GRPC_STATUS_NOT_FOUND; "UNKNOWN" for a number that is no code. */
const char *status_name(grpc_status_code code);

/* The code of a name, or -1. */
int status_from_name(const char *name);

#endif
