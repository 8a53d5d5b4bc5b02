/*
** log.h
** One record a line on stdout, in logfmt (ts=... level=... msg=... key=value)
** or JSON ({"ts":...,"level":...,"msg":...,"key":"value"}), so that a log
** service can parse it and a person can read it.
*/
#ifndef log_h
#define log_h

#include <stddef.h>

typedef enum log_level { LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Turns the per-call records off (--quiet); the rest are always written. */
void log_set_quiet(int quiet);
int log_calls(void);

/* JSON records instead of logfmt (--log-format json). */
void log_set_json(int json);

/*
** Writes one record: msg, then the NULL-terminated key/value string pairs that
** follow. A value is quoted when it needs to be; a NULL value is left out.
*/
void log_line(log_level level, const char *msg, ...);

/* Appends item to the comma-separated list (a field's value) unless it holds it; cut at size. */
void log_append(char *list, size_t size, const char *item);

#endif
