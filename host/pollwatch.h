/*
** pollwatch.h
** Whether a worker is held inside gRPC's polling. gRPC 1.51 reads a
** connection, on the thread that polled it, for as long as its socket has
** data: a client that keeps its socket full (streams opened and reset, GOAWAY
** frames) holds a worker inside grpc_completion_queue_next, where no rule of
** the host's can run. Each worker marks its polls (a relaxed increment before
** and after: no clock, no lock); the connection watch (connwatch.c) sees a
** poll that has not ended for a while on a thread busy all along.
*/
#ifndef pollwatch_h
#define pollwatch_h

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct pollmark {
  atomic_uint polls;                /* odd while inside a poll */
  atomic_int tid;                   /* the thread's id, 0 while the mark is free */
} pollmark;

/* The calling thread's mark, watched from now on; NULL when every mark is taken. */
pollmark *pollwatch_register(void);
void pollwatch_unregister(pollmark *m);

static inline void pollmark_flip(pollmark *m) {
  if (m != NULL) atomic_fetch_add_explicit(&m->polls, 1, memory_order_relaxed);
}

/* The marks, for the watch: POLLWATCH_MAX of them, free ones with tid 0. */
#define POLLWATCH_MAX 256
extern pollmark pollwatch_marks[POLLWATCH_MAX];

/*
** How long a thread has been on a CPU, and busy: on a CPU, or ready and
** waiting for one (a loaded machine must not hide a busy thread), in ns. fd
** is what pollwatch_open_busy(tid) gave, -1 when the kernel keeps no
** schedstat; then both are -1.
*/
typedef struct thread_time {
  int64_t on_cpu;
  int64_t busy;
} thread_time;

int pollwatch_open_busy(pid_t tid);
thread_time pollwatch_thread_time(int fd);

#endif
