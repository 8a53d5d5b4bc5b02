/*
** health.h
** Serving status by service name, shared by every worker (grpc.set_health
** may run in any of them), and whether the host is draining.
*/
#ifndef health_h
#define health_h

#include <stdbool.h>

/* grpc.health.v1.HealthCheckResponse.ServingStatus */
typedef enum health_status {
  HEALTH_UNKNOWN = 0, HEALTH_SERVING = 1, HEALTH_NOT_SERVING = 2, HEALTH_SERVICE_UNKNOWN = 3
} health_status;

/* The names of the statuses, as the proto has them, by status; NULL-terminated. */
extern const char *const health_status_names[];

/* -1 when out of memory. */
int health_set(const char *service, health_status status);
/* What was set for service, or HEALTH_UNKNOWN. */
health_status health_get(const char *service);

/* From SIGTERM on, everything reads NOT_SERVING. */
void health_drain(void);
bool health_draining(void);

void health_free(void);

#endif
