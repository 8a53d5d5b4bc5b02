/*
** corelog.h
** The gRPC core's own log lines as records of the host's log.
*/
#ifndef corelog_h
#define corelog_h

#include <stddef.h>

/* Routes the core's lines into log_line; call before grpc_init. */
void corelog_install(void);

/*
** Until corelog_end, the core's errors on this thread are not logged: the last
** one's cause (its os_error when it has one: "Address already in use") is kept
** in buf for the caller's own message. buf stays "" when the core said nothing.
*/
void corelog_begin(char *buf, size_t len);
void corelog_end(void);

#endif
