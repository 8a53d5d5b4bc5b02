/*
** logbuf.h
** Where log lines go: stdout, whole lines only, in the order each thread
** wrote them.
**
** A thread that serves calls (a worker) holds its lines in a buffer of its own
** and writes a burst of them with one write(2): its loop calls logbuf_flush
** once it has had nothing to do for a moment (worker.c), and logbuf_flush_due
** after each event; a line that fills the buffer, or that comes LOG_FLUSH_NS
** after the oldest one held, flushes it too. Every other thread writes each
** line at once.
**
** What is held is written when its thread ends, at exit, and, as far as a
** dying process can, on SIGSEGV, SIGBUS, SIGFPE and SIGABRT.
*/
#ifndef logbuf_h
#define logbuf_h

#include <stdbool.h>
#include <stddef.h>

/* The longest a line waits in a buffer. */
#define LOG_FLUSH_NS 100000000

/* Writes whole lines (ending in '\n'): held, on a thread that buffers; else at once. */
void logbuf_write(const char *lines, size_t len);

/*
** From now on this thread holds its lines. The first call also installs the
** handlers of fatal signals that write what every thread holds.
*/
void logbuf_thread_begin(void);

/* Whether this thread holds lines. */
bool logbuf_held(void);

/* Writes what this thread holds. */
void logbuf_flush(void);

/* Writes what this thread holds if the oldest line is LOG_FLUSH_NS old. */
void logbuf_flush_due(void);

/* Writes what this thread holds, and writes at once from now on. */
void logbuf_thread_end(void);

#endif
