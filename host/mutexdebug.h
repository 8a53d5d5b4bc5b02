/*
** mutexdebug.h
** Debian builds Abseil without NDEBUG, so every absl::Mutex gRPC takes also
** feeds Abseil's deadlock detector: a graph of which lock was held when
** another was taken, updated at each lock. A release build of Abseil has it
** off; so does the host, from its start (C++: Abseil has no C interface).
*/
#ifndef mutexdebug_h
#define mutexdebug_h

#ifdef __cplusplus
extern "C" {
#endif

void mutexdebug_off(void);

#ifdef __cplusplus
}
#endif

#endif
