/*
** connwatch.c
** Every CHECK_NS, each connection's traffic against its calls (conn_check).
** Every WATCH_NS, the process's resident memory: gRPC keeps what a connection
** sends in memory of its own, at times many times over, and gRPC 1.51 bounds
** none of it (a header block that never ends, from a client that never
** acknowledged the header list limit, costs 2 to 35 times its bytes; a PING
** flood past gRPC's strikes, 200 times). The listener gives gRPC a
** connection once its client acknowledged SETTINGS, which holds it to gRPC's
** limits, unless the client sent much before it did. So when the process has
** grown by GROWTH_MAX within WINDOW_NS, and by GROWTH_PER_JUNK times all the
** junk that came meanwhile or more, the unacknowledged connection that sent
** the most of it (at least JUNK_MIN, and no call came from it meanwhile) is
** aborted. Requests on their way are junk until whole, but gRPC keeps them at
** about their size: a client that sends large requests is seldom taken for
** one that floods, and only if it did not acknowledge SETTINGS first.
**
** And every WATCH_NS, the workers' polls (pollwatch.h): a worker held inside
** one poll while its thread is busy (running or ready to) may be reading a
** flood that never lets it go (gRPC's read loop), where none of the rules
** above run. judge_stall says when it is; then the connection that sent the
** most junk meanwhile (at least STALL_JUNK_MIN) is aborted.
*/
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "connwatch.h"
#include "pollwatch.h"
#include "timer.h"

#define WATCH_NS 10000000LL
#define CHECK_NS 100000000LL
#define GROWTH_MAX (16 << 20)
#define WINDOW_NS 10000000000LL
#define GROWTH_PER_JUNK 4.0
#define JUNK_MIN (16 << 10)
#define STALL_NS 50000000LL
#define STALL_MAX_NS 1000000000LL
#define STALL_JUNK_MIN (64 << 10)
/* A thread reading a flood runs whenever it gets a CPU: a tenth of the time, on a loaded machine. */
#define STALL_ON_CPU_SHARE 10
/* Streams opened and reset cost about 100 times their bytes; messages on their way, about once. */
#define STALL_GROWTH_PER_BYTE 32.0

/* What the watch saw of a worker's polls (pollwatch_marks, by index). */
typedef struct stall {
  pid_t tid;                        /* the thread, and its schedstat (pollwatch_open_busy) */
  int busy_fd;
  unsigned polls;                   /* the mark's count when last seen */
  int64_t seen;                     /* when that was */
  thread_time seen_time;            /* the thread's times then (pollwatch_thread_time) */
  int64_t since;                    /* when a busy thread's poll was first seen unchanged, or 0 */
  thread_time time;                 /* its times then */
  int64_t rss;                      /* the resident memory then */
} stall;

struct connwatch {
  pthread_t thread;
  atomic_bool stopping;
  int statm;                        /* /proc/self/statm, or -1: memory is not watched */
  int64_t rss_base;                 /* resident bytes when the watch last looked, or fewer since */
  int64_t rss_since;                /* when it last looked */
  conn **seen;                      /* conn_all's snapshot */
  size_t cap;
  stall stalls[POLLWATCH_MAX];
};

static int64_t resident_bytes(const connwatch *w) {
  char text[64];
  ssize_t n = w->statm >= 0 ? pread(w->statm, text, sizeof text - 1, 0) : -1;
  if (n <= 0) return -1;
  text[n] = '\0';
  long long pages;
  if (sscanf(text, "%*s %lld", &pages) != 1) return -1;
  return pages * sysconf(_SC_PAGESIZE);
}

/*
** Every connection's junk since the watch last looked: their sum, and the most
** from one unacknowledged that no call came from.
*/
static int64_t junk_since_last_look(conn **all, size_t n, conn **worst, int64_t *most) {
  int64_t total = 0;
  *worst = NULL;
  *most = 0;
  for (size_t i = 0; i < n; i++) {
    bool calls_came;
    int64_t junk = conn_junk_since_last_look(all[i], &calls_came);
    if (junk <= 0) continue;
    total += junk;
    if (calls_came || conn_acknowledged(all[i]) || junk <= *most) continue;
    *most = junk;
    *worst = all[i];
  }
  return total;
}

/* Looks at the connections (a snapshot of n in w->seen) when memory grew, or once a window anyway. */
static void watch_memory(connwatch *w, size_t n, int64_t rss, int64_t now) {
  conn *worst;
  int64_t grown = rss - w->rss_base;
  int64_t most, total = junk_since_last_look(w->seen, n, &worst, &most), since = w->rss_since;
  w->rss_base = rss;
  w->rss_since = now;
  if (grown < GROWTH_MAX || worst == NULL || most < JUNK_MIN || (double)grown < GROWTH_PER_JUNK * (double)total)
    return;
  char why[160];
  snprintf(why, sizeof why, "the server grew by %lld MiB in %.1f s while it sent %lld KiB that no call took",
           (long long)(grown >> 20), (double)(now - since) / 1e9, (long long)(most >> 10));
  conn_abort(worst, why);
}

/* Whether the memory watch should look now: memory grew enough, or its window is over. */
static bool memory_due(connwatch *w, int64_t rss, int64_t now) {
  if (rss < 0) return false;
  if (rss < w->rss_base) w->rss_base = rss;
  return rss - w->rss_base >= GROWTH_MAX || now - w->rss_since >= WINDOW_NS;
}

/* What every connection sent since they were marked, and the one that sent the most junk. */
static conn *since_mark(conn **all, size_t n, int64_t *received, int64_t *junk) {
  conn *top = NULL;
  *received = 0;
  *junk = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t r, j;
    if (!conn_since_mark(all[i], &r, &j)) continue;
    *received += r;
    if (j > *junk) {
      *junk = j;
      top = all[i];
    }
  }
  return top;
}

/* Whether a thread whose times are t at now was busy `quarters` quarters of the time since then. */
static bool busy_quarters(thread_time t, thread_time then_t, int64_t now, int64_t then, int quarters) {
  return t.busy >= 0 && then_t.busy >= 0 && (t.busy - then_t.busy) * 4 >= (now - then) * quarters;
}

/* Whether it was on a CPU a STALL_ON_CPU_SHARE-th of the time since then, at least. */
static bool ran(thread_time t, thread_time then_t, int64_t now, int64_t then) {
  return (t.on_cpu - then_t.on_cpu) * STALL_ON_CPU_SHARE >= now - then;
}

/*
** A worker held in one poll for STALL_NS or more. A thread reading a flood
** is never idle, and runs whenever it gets a CPU. One idle a quarter of the
** time, or seldom on a CPU, waits, and the stall is over: on a loaded machine
** a worker that polls while the others run their handlers sleeps between
** their messages, or waits for a CPU most of the time, and counts as busy
** (half the time, or three quarters) though it only reads their calls'
** messages. Busy and running, it is reading a flood if what came meanwhile
** was mostly junk, and memory grew STALL_GROWTH_PER_BYTE times as much
** (GROWTH_MAX at least; memory is the whole process's, and the factor leaves
** room for other workers' handlers), or, after STALL_MAX_NS, kept less than a
** GROWTH_PER_JUNK-th of it (frames nothing keeps). Requests on their way grow
** memory by about their size.
*/
static void judge_stall(connwatch *w, stall *s, thread_time t, int64_t rss, int64_t now) {
  int64_t held = now - s->since;
  bool reading = busy_quarters(t, s->time, now, s->since, 3) && ran(t, s->time, now, s->since);
  if (!reading || rss < 0 || s->rss < 0) {
    s->since = 0;
    return;
  }
  int64_t grown = rss - s->rss, received, junk;
  size_t n = conn_all(&w->seen, &w->cap);
  conn *top = since_mark(w->seen, n, &received, &junk);
  bool flood = top != NULL && junk >= STALL_JUNK_MIN && junk * 2 >= received;
  bool amplified = grown >= GROWTH_MAX && (double)grown >= STALL_GROWTH_PER_BYTE * (double)received;
  bool unkept = held >= STALL_MAX_NS && (double)grown * GROWTH_PER_JUNK < (double)received;
  bool ended = flood && (amplified || unkept);
  if (ended) {
    char why[160];
    snprintf(why, sizeof why, "sent %lld KiB that no call took in %.2f s while a worker was held reading (a flood)",
             (long long)(junk >> 10), (double)held / 1e9);
    conn_abort(top, why);
  }
  if (ended || held >= STALL_MAX_NS) s->since = 0;
  for (size_t i = 0; i < n; i++) conn_release(w->seen[i]);
}

/*
** A busy thread's poll first seen unchanged: its times, the memory and
** every connection's traffic, marked. The marks are shared: a later stall's
** shorten an earlier one's count, which errs only towards sparing.
*/
static void begin_stall(connwatch *w, stall *s, thread_time t, int64_t rss, int64_t now) {
  s->since = now;
  s->time = t;
  s->rss = rss;
  size_t n = conn_all(&w->seen, &w->cap);
  for (size_t i = 0; i < n; i++) {
    conn_mark(w->seen[i]);
    conn_release(w->seen[i]);
  }
}

/* A mark taken by another thread, or freed (tid 0): the watch starts over with it. */
static void follow(stall *s, pid_t tid) {
  if (s->tid != 0 && s->busy_fd >= 0) close(s->busy_fd);
  *s = (stall){.tid = tid, .busy_fd = tid != 0 ? pollwatch_open_busy(tid) : -1};
}

/* Each worker's poll: one that lasts on a thread busy since the last look is a stall. */
static void watch_polls(connwatch *w, int64_t rss, int64_t now) {
  for (size_t i = 0; i < POLLWATCH_MAX; i++) {
    pollmark *m = &pollwatch_marks[i];
    stall *s = &w->stalls[i];
    pid_t tid = atomic_load_explicit(&m->tid, memory_order_relaxed);
    if (tid != s->tid) follow(s, tid);
    if (tid == 0) continue;
    unsigned polls = atomic_load_explicit(&m->polls, memory_order_relaxed);
    thread_time t = pollwatch_thread_time(s->busy_fd);
    bool held = (polls & 1) && polls == s->polls;
    if (!held) s->since = 0;
    else if (s->since == 0 && busy_quarters(t, s->seen_time, now, s->seen, 2)) begin_stall(w, s, t, rss, now);
    else if (s->since != 0 && now - s->since >= STALL_NS) judge_stall(w, s, t, rss, now);
    s->polls = polls;
    s->seen = now;
    s->seen_time = t;
  }
}

static void *run(void *arg) {
  connwatch *w = arg;
  int64_t next_check = 0;
  const struct timespec pause = {0, WATCH_NS};
  while (!atomic_load(&w->stopping)) {
    int64_t now = timer_now(), rss = resident_bytes(w);
    bool check = now >= next_check, look = memory_due(w, rss, now);
    size_t n = check || look ? conn_all(&w->seen, &w->cap) : 0;
    for (size_t i = 0; check && i < n; i++) conn_check(w->seen[i]);
    if (look) watch_memory(w, n, rss, now);
    for (size_t i = 0; i < n; i++) conn_release(w->seen[i]);
    watch_polls(w, rss, now);
    if (check) next_check = now + CHECK_NS;
    nanosleep(&pause, NULL);
  }
  return NULL;
}

connwatch *connwatch_start(void) {
  connwatch *w = calloc(1, sizeof *w);
  if (w == NULL) return NULL;
  atomic_init(&w->stopping, false);
  w->statm = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  w->rss_base = INT64_MAX;
  if (pthread_create(&w->thread, NULL, run, w) == 0) return w;
  if (w->statm >= 0) close(w->statm);
  free(w);
  return NULL;
}

void connwatch_stop(connwatch *w) {
  atomic_store(&w->stopping, true);
  pthread_join(w->thread, NULL);
  if (w->statm >= 0) close(w->statm);
  for (size_t i = 0; i < POLLWATCH_MAX; i++) follow(&w->stalls[i], 0);
  free(w->seen);
  free(w);
}
