/*
** connwatch.h
** A thread that watches every connection the host accepted (conn.h) and the
** process's memory, and aborts the connections the rules condemn. It never
** calls into gRPC: a thread that does may be made to run any connection's
** reading for as long as that connection keeps sending (the core's combiner
** runs what others queue on whoever holds it), and a watch must not be.
*/
#ifndef connwatch_h
#define connwatch_h

typedef struct connwatch connwatch;

/* NULL when the thread cannot start or memory runs out. */
connwatch *connwatch_start(void);
void connwatch_stop(connwatch *w);

#endif
