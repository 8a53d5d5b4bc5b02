/*
** guardwatch.c
** A slot per thread that runs Lua, in a static table the watch thread scans
** every tick. A slot says which lua_State its thread runs and until when; the
** watch signals a thread whose slice is overdue, and the handler, on that
** thread, sets the hook: lua_sethook is made to be called from a signal.
** A slot is taken at its thread's first slice and given back at its exit; the
** watch signals only under the table's lock, which an exiting thread must take.
*/
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "guardwatch.h"
#include "timer.h"

#define MAX_SLOTS 256

typedef struct slot {
  bool used;                        /* under the lock */
  pthread_t thread;
  _Atomic(lua_State *) running;     /* NULL between slices */
  _Atomic int64_t due;
  lua_Hook hook;                    /* its own thread's: set before running, read by its signal */
} slot;

static slot slots[MAX_SLOTS];
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local slot *mine;
static pthread_key_t exit_key;      /* its destructor gives a thread's slot back */
static pthread_once_t started = PTHREAD_ONCE_INIT;
static bool watching;               /* the signal and the thread are there */
static int watch_signal;

/* On the thread whose slice is overdue. Async-signal-safe: loads, and lua_sethook's stores. */
static void on_signal(int sig) {
  (void)sig;
  int saved = errno;
  slot *s = mine;
  lua_State *L = s != NULL ? atomic_load_explicit(&s->running, memory_order_acquire) : NULL;
  if (L != NULL) lua_sethook(L, s->hook, LUA_MASKCOUNT, 1);
  errno = saved;
}

static void *watch(void *arg) {
  (void)arg;
  const struct timespec tick = {0, GUARDWATCH_TICK_NS};
  for (;;) {
    clock_nanosleep(CLOCK_MONOTONIC, 0, &tick, NULL);
    int64_t now = timer_now();
    pthread_mutex_lock(&slots_lock);
    for (size_t i = 0; i < MAX_SLOTS; i++) {
      slot *s = &slots[i];
      if (s->used && atomic_load_explicit(&s->running, memory_order_acquire) != NULL &&
          now >= atomic_load_explicit(&s->due, memory_order_relaxed))
        pthread_kill(s->thread, watch_signal);
    }
    pthread_mutex_unlock(&slots_lock);
  }
  return NULL;
}

static void give_back(void *p) {
  slot *s = p;
  pthread_mutex_lock(&slots_lock);
  atomic_store(&s->running, NULL);
  s->used = false;
  pthread_mutex_unlock(&slots_lock);
}

static void start(void) {
  struct sigaction sa = {0};
  pthread_t t;
  pthread_attr_t attr;
  watch_signal = SIGRTMIN;
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (pthread_key_create(&exit_key, give_back) != 0 || sigaction(watch_signal, &sa, NULL) != 0) return;
  if (pthread_attr_init(&attr) != 0) return;
  if (pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
      pthread_create(&t, &attr, watch, NULL) == 0)
    watching = true;
  pthread_attr_destroy(&attr);
}

static int claim(void) {
  pthread_once(&started, start);
  if (!watching) return -1;
  pthread_mutex_lock(&slots_lock);
  for (size_t i = 0; i < MAX_SLOTS && mine == NULL; i++)
    if (!slots[i].used) {
      slots[i].used = true;
      slots[i].thread = pthread_self();
      mine = &slots[i];
    }
  pthread_mutex_unlock(&slots_lock);
  if (mine == NULL) return -1;
  if (pthread_setspecific(exit_key, mine) == 0) return 0;
  give_back(mine);
  mine = NULL;
  return -1;
}

int guardwatch_begin(lua_State *L, int64_t due, lua_Hook hook) {
  if (mine == NULL && claim() != 0) return -1;
  mine->hook = hook;
  atomic_store_explicit(&mine->due, due, memory_order_relaxed);
  atomic_store_explicit(&mine->running, L, memory_order_release);
  return 0;
}

void guardwatch_end(void) {
  if (mine != NULL) atomic_store_explicit(&mine->running, NULL, memory_order_release);
}

lua_State *guardwatch_running(void) {
  return mine != NULL ? atomic_load_explicit(&mine->running, memory_order_relaxed) : NULL;
}
