/*
** status.c
** The code names of grpc/status.h, in code order.
*/
#include <string.h>

#include "status.h"

static const char *const names[STATUS_COUNT] = {
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
  "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
  "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
  "UNAUTHENTICATED"};

const char *status_name(grpc_status_code code) {
  return code >= 0 && code < STATUS_COUNT ? names[code] : "UNKNOWN";
}

int status_from_name(const char *name) {
  for (int i = 0; i < STATUS_COUNT; i++)
    if (strcmp(name, names[i]) == 0) return i;
  return -1;
}
