/*
** log.h
** One record a line on stdout, in logfmt (ts=... level=... msg=... key=value)
** or JSON ({"ts":...,"level":...,"msg":...,"key":"value"}), so that a log
** service can parse it and a person can read it.
** Records go out through logbuf.h: in bursts from the threads that serve
** calls, at once from the others.
*/
#ifndef log_h
#define log_h

#include <stdbool.h>
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

/*
** A record built field by field, for values that are not C strings: numbers
** (bare in JSON too), booleans, bytes with a length. Keys are the caller's
** literals or checked names ([A-Za-z_][A-Za-z0-9_.-]*). A record longer than
** LOG_LINE_MAX is cut: the value being written ends in "...", later fields are
** left out; a message is cut to half of that, so that fields after it have room.
*/
#define LOG_LINE_MAX 4096

typedef struct log_record {
  size_t len;
  bool cut;                         /* a value was cut, or a field left out, for want of room */
  char text[LOG_LINE_MAX];
} log_record;

void log_begin(log_record *r, log_level level, const char *msg, size_t len);
void log_string(log_record *r, const char *key, const char *value);    /* NULL: left out */
void log_bytes(log_record *r, const char *key, const char *value, size_t len);
/* At most max bytes of value, cut at a character boundary, with "..." when cut. */
void log_excerpt(log_record *r, const char *key, const char *value, size_t len, size_t max);
void log_integer(log_record *r, const char *key, long long value);
void log_number(log_record *r, const char *key, double value);
/* value / 10^point, written with `point` (0 to 6) decimals: log_decimal(r, "duration_ms", 1234, 3) is 1.234. */
void log_decimal(log_record *r, const char *key, long long value, int point);
void log_boolean(log_record *r, const char *key, bool value);
void log_end(log_record *r);

/*
** Fields whose values recur record after record (a thread's heads: ts, level,
** msg; a worker's call records: the method, its status, the connection's peer):
** the memo keeps the values, packed by the caller into a key, and the fields as
** they were written; the next record with the same key copies them instead of
** writing each again, at the same place (a field's separator depends on what
** comes before it: the head starts a record, the others follow it). A memo is
** its thread's; zeroed before use.
*/
#define LOG_MEMO_KEY 192

typedef struct log_memo {
  size_t key_len, text_len;         /* text_len 0: nothing kept */
  char key[LOG_MEMO_KEY];
  char text[2 * LOG_MEMO_KEY];
} log_memo;

/* Copies the fields kept for key (len bytes) and returns true; false: write them, then keep them. */
bool log_memo_copy(log_record *r, const log_memo *m, const void *key, size_t len);
/* Keeps what r holds from start on as the fields of key, unless a value was cut or a field left out. */
void log_memo_keep(log_memo *m, const log_record *r, size_t start, const void *key, size_t len);

#endif
