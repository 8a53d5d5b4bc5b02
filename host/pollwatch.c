/*
** pollwatch.c
** A fixed table of marks, and how long a thread was busy, from /proc.
*/
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pollwatch.h"

pollmark pollwatch_marks[POLLWATCH_MAX];

pollmark *pollwatch_register(void) {
  int tid = (int)syscall(SYS_gettid);
  for (size_t i = 0; i < POLLWATCH_MAX; i++) {
    int free_tid = 0;
    if (atomic_compare_exchange_strong(&pollwatch_marks[i].tid, &free_tid, tid)) return &pollwatch_marks[i];
  }
  return NULL;
}

void pollwatch_unregister(pollmark *m) {
  if (m != NULL) atomic_store(&m->tid, 0);
}

int pollwatch_open_busy(pid_t tid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", (int)tid);
  return open(path, O_RDONLY | O_CLOEXEC);
}

thread_time pollwatch_thread_time(int fd) {
  thread_time t = {-1, -1};
  char text[128];
  ssize_t n = fd >= 0 ? pread(fd, text, sizeof text - 1, 0) : -1;
  if (n <= 0) return t;
  text[n] = '\0';
  long long on_cpu, waiting;
  if (sscanf(text, "%lld %lld", &on_cpu, &waiting) != 2) return t;
  t.on_cpu = on_cpu;
  t.busy = on_cpu + waiting;
  return t;
}
