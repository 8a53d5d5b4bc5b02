/*
** guardwatch.h
** Watches the threads that run Lua from outside, so that Lua runs without a
** hook: a hook, even one that counts, costs a call at every instruction (a
** loop runs 1.6 times slower). A thread announces each slice of Lua it runs
** and when the guard must look at it; a slice still running then gets the
** guard's hook, set from a signal the watch sends to its thread, as lua.c
** stops a script on SIGINT.
*/
#ifndef guardwatch_h
#define guardwatch_h

#include <stdint.h>

#include <lua.h>

/* How often the watch looks: a slice is stopped at most this late. */
#define GUARDWATCH_TICK_NS 10000000

/*
** The calling thread runs L from now until guardwatch_end; at `due` (timer_now's
** clock, INT64_MAX for never) hook is set on L, to run at its next instruction.
** The first call of a thread starts the watch; 0, or -1 when it cannot watch
** (more threads than it has room for, or no thread or signal of its own).
*/
int guardwatch_begin(lua_State *L, int64_t due, lua_Hook hook);
void guardwatch_end(void);

/* The thread the calling thread's slice runs, or NULL between slices. */
lua_State *guardwatch_running(void);

#endif
