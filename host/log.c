/*
** log.c
** Records: one line each, in logfmt or JSON, built in a fixed buffer and
** handed whole to logbuf.c, so that lines never interleave.
*/
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsontext.h"
#include "log.h"
#include "logbuf.h"

/* Room kept at the end of every record for what closes it: `..."}` and the newline. */
#define TAIL 6

/* The most of a message a record carries, so that the fields after it have room. */
#define MSG_MAX (LOG_LINE_MAX / 2)

static int quiet;
static int json;

static const char *const level_names[] = {"info", "warn", "error"};

void log_set_quiet(int q) { quiet = q; }

int log_calls(void) { return !quiet; }

/* What is left for fields before the tail; 0 once a value has been cut. */
static size_t room(const log_record *r) {
  return r->len + TAIL < LOG_LINE_MAX ? LOG_LINE_MAX - TAIL - r->len : 0;
}

static void put(log_record *r, const char *s, size_t n) {
  memcpy(r->text + r->len, s, n);
  r->len += n;
}

/*
** How each byte may be written, by its low bits: 1, as it is inside quotes (printable ASCII
** but '"' and '\\'); 2, bare in logfmt too (none of space, '=' among those).
*/
static const char byte_class[257] =
  "0000000000000000" "0000000000000000" "1303333333333333" "3333333333333133"
  "3333333333333333" "3333333333330333" "3333333333333333" "3333333333333330"
  "0000000000000000" "0000000000000000" "0000000000000000" "0000000000000000"
  "0000000000000000" "0000000000000000" "0000000000000000" "0000000000000000";

static int plain(unsigned char c) {
  return byte_class[c] & 1;
}

/*
** What stands for the character at v inside quotes: an escape, or the character
** itself. Writes at most 6 bytes to out; *used is how many bytes of v it covers.
** Control characters and bytes that are not UTF-8 become \u00XX or \ufffd in JSON,
** \xXX in logfmt.
*/
static size_t escape(const unsigned char *v, size_t n, char *out, size_t *used) {
  static const char hex[] = "0123456789abcdef";
  unsigned char c = v[0];
  size_t len = c >= 0x80 ? jt_utf8_seq(v, n) : 1;
  *used = len ? len : 1;
  if (c >= 0x80 && len > 0) {
    memcpy(out, v, len);
    return len;
  }
  out[0] = '\\';
  switch (c) {
  case '"': case '\\': out[1] = (char)c; return 2;
  case '\n': out[1] = 'n'; return 2;
  case '\r': out[1] = 'r'; return 2;
  case '\t': out[1] = 't'; return 2;
  default: break;
  }
  if (json && len == 0) {
    memcpy(out, "\\ufffd", 6);
    return 6;
  }
  if (json) {
    memcpy(out, "\\u00", 4);
    out[4] = hex[c >> 4];
    out[5] = hex[c & 15];
    return 6;
  }
  out[1] = 'x';
  out[2] = hex[c >> 4];
  out[3] = hex[c & 15];
  return 4;
}

/* "v", escaped, as much of it as fits; cut (or too long) ends in "...". */
static void put_quoted(log_record *r, const unsigned char *v, size_t n, int cut) {
  put(r, "\"", 1);
  size_t i = 0;
  while (i < n) {
    size_t run = i;
    while (run < n && plain(v[run])) run++;
    if (run > i) {
      size_t take = run - i < room(r) ? run - i : room(r);
      put(r, (const char *)v + i, take);
      i += take;
      if (i < run) break;
      continue;
    }
    char esc[8];
    size_t used, len = escape(v + i, n - i, esc, &used);
    if (len > room(r)) break;
    put(r, esc, len);
    i += used;
  }
  if (i < n) r->cut = true;
  if (i < n || cut) put(r, "...", 3);   /* from the tail's room when the line is full */
  put(r, "\"", 1);
}

static int needs_quotes(const unsigned char *v, size_t n) {
  if (n == 0) return 1;
  for (size_t i = 0; i < n; i++)
    if (!(byte_class[v[i]] & 2)) return 1;
  return 0;
}

/* The separator and key of a field, if they fit with `need` more bytes: ,"key": or key= */
static inline int put_key(log_record *r, const char *key, size_t need) {
  size_t klen = strlen(key);
  if (klen + 4 + need > room(r)) {
    r->cut = true;
    return 0;
  }
  char *p = r->text + r->len;
  if (json) {
    if (p[-1] != '{') *p++ = ',';
    *p++ = '"';
  } else if (r->len > 0) {
    *p++ = ' ';
  }
  memcpy(p, key, klen);
  p += klen;
  if (json) *p++ = '"';
  *p++ = json ? ':' : '=';
  r->len = (size_t)(p - r->text);
  return 1;
}

/* A value that needs no escape, quoted in JSON, bare in logfmt: what the host writes itself. */
static void put_word(log_record *r, const char *key, const char *value, size_t len) {
  if (!put_key(r, key, len + 2)) return;
  if (json) r->text[r->len++] = '"';
  put(r, value, len);
  if (json) r->text[r->len++] = '"';
}

/* v bare after its key, checked as it is copied; false, and nothing written, if it needs quotes. */
static int put_bare_text(log_record *r, const char *key, const unsigned char *v, size_t len) {
  size_t start = r->len;
  if (!put_key(r, key, len)) return needs_quotes(v, len) == 0;  /* a bare value that does not fit is left out */
  char *p = r->text + r->len;
  for (size_t i = 0; i < len; i++) {
    if (!(byte_class[v[i]] & 2)) {
      r->len = start;
      return 0;
    }
    p[i] = (char)v[i];
  }
  r->len += len;
  return 1;
}

static void put_text(log_record *r, const char *key, const char *value, size_t len, int cut) {
  const unsigned char *v = (const unsigned char *)value;
  if (!json && !cut && len > 0 && put_bare_text(r, key, v, len)) return;
  if (put_key(r, key, 2)) put_quoted(r, v, len, cut);
}

/* A value written bare in both formats: a number or a boolean. */
static void put_bare(log_record *r, const char *key, const char *text, size_t len) {
  if (put_key(r, key, len)) put(r, text, len);
}

void log_bytes(log_record *r, const char *key, const char *value, size_t len) {
  put_text(r, key, value, len, 0);
}

bool log_memo_copy(log_record *r, const log_memo *m, const void *key, size_t len) {
  if (m->text_len == 0 || len != m->key_len || m->text_len > room(r) || memcmp(key, m->key, len) != 0)
    return false;
  put(r, m->text, m->text_len);
  return true;
}

void log_memo_keep(log_memo *m, const log_record *r, size_t start, const void *key, size_t len) {
  size_t text_len = r->len - start;
  m->text_len = 0;
  if (r->cut || len > sizeof m->key || text_len > sizeof m->text) return;
  memcpy(m->key, key, len);
  m->key_len = len;
  memcpy(m->text, r->text + start, text_len);
  m->text_len = text_len;
}

void log_string(log_record *r, const char *key, const char *value) {
  if (value != NULL) put_text(r, key, value, strlen(value), 0);
}

void log_excerpt(log_record *r, const char *key, const char *value, size_t len, size_t max) {
  if (len <= max) {
    put_text(r, key, value, len, 0);
    return;
  }
  while (max > 0 && ((unsigned char)value[max] & 0xC0) == 0x80) max--;
  put_text(r, key, value, max, 1);
}

/* The digits of u, at least `width` of them, two at a time, ending at end; returns where they start. */
static char *put_digits(char *end, unsigned long long u, int width) {
  static const char pairs[] =
    "00010203040506070809" "10111213141516171819" "20212223242526272829" "30313233343536373839"
    "40414243444546474849" "50515253545556575859" "60616263646566676869" "70717273747576777879"
    "80818283848586878889" "90919293949596979899";
  char *p = end;
  for (; u >= 100 || width > 2; width -= 2, u /= 100) {
    p -= 2;
    memcpy(p, pairs + u % 100 * 2, 2);
  }
  if (u >= 10 || width == 2) {
    p -= 2;
    memcpy(p, pairs + u * 2, 2);
  } else {
    *--p = (char)('0' + u);
  }
  return p;
}

/* value / 10^point, with `point` decimals: the host's own numbers, without printf's cost. */
static inline void put_decimal(log_record *r, const char *key, long long value, int point) {
  static const unsigned long long powers[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
  char text[32], *end = text + sizeof text, *p = end;
  unsigned long long u = value < 0 ? 0 - (unsigned long long)value : (unsigned long long)value;
  if (point > 0) {
    p = put_digits(p, u % powers[point], point);
    *--p = '.';
    u /= powers[point];
  }
  p = put_digits(p, u, 0);
  if (value < 0) *--p = '-';
  put_bare(r, key, p, (size_t)(end - p));
}

void log_integer(log_record *r, const char *key, long long value) {
  put_decimal(r, key, value, 0);
}

void log_decimal(log_record *r, const char *key, long long value, int point) {
  put_decimal(r, key, value, point);
}

/*
** The shortest of 15 or 17 digits that reads back as value; JSON has no NaN or
** infinity, so those are strings there.
*/
void log_number(log_record *r, const char *key, double value) {
  char text[32];
  snprintf(text, sizeof text, "%.15g", value);
  if (strtod(text, NULL) != value && isfinite(value)) snprintf(text, sizeof text, "%.17g", value);
  if (json && !isfinite(value)) put_text(r, key, text, strlen(text), 0);
  else put_bare(r, key, text, strlen(text));
}

void log_boolean(log_record *r, const char *key, bool value) {
  put_bare(r, key, value ? "true" : "false", value ? 4 : 5);
}

/*
** What a thread keeps of its records' heads (ts, level, msg): a busy worker
** writes dozens of records a millisecond, most with the same level and msg (its
** call records), and copies the head while they stay so (the memo). ts is
** 2024-05-01T12:00:00.123Z, its part up to the second formatted once a second.
*/
typedef struct head {
  time_t sec;                       /* the second `second` holds */
  size_t second_len;
  char second[24];
  log_memo memo;                    /* the last head, keyed by its millisecond, level and msg */
} head;

static _Thread_local head last;

/* At start, before other threads log: the head this thread kept is in the old format. */
void log_set_json(int j) {
  json = j;
  last.memo.text_len = 0;
}

static void put_timestamp(log_record *r, head *h, struct timespec now) {
  if (now.tv_sec != h->sec) {
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    h->second_len = strftime(h->second, sizeof h->second, "%Y-%m-%dT%H:%M:%S", &tm);
    h->sec = now.tv_sec;
  }
  long ms = now.tv_nsec / 1000000;
  char text[32], *p = text + h->second_len;
  memcpy(text, h->second, h->second_len);
  p[0] = '.';
  p[1] = (char)('0' + ms / 100);
  p[2] = (char)('0' + ms / 10 % 10);
  p[3] = (char)('0' + ms % 10);
  p[4] = 'Z';
  put_word(r, "ts", text, h->second_len + 5);
}

/* What a head is written from, packed into key for the memo; 0 when the msg is too long to keep. */
static size_t head_key(char *key, struct timespec now, log_level level, const char *msg, size_t len) {
  int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  if (9 + len > LOG_MEMO_KEY) return 0;
  memcpy(key, &ms, 8);
  key[8] = (char)level;
  memcpy(key + 9, msg, len);
  return 9 + len;
}

void log_begin(log_record *r, log_level level, const char *msg, size_t len) {
  head *h = &last;
  struct timespec now;
  char key[LOG_MEMO_KEY];
  clock_gettime(CLOCK_REALTIME, &now);
  size_t key_len = head_key(key, now, level, msg, len);
  r->len = 0;
  r->cut = false;
  if (key_len > 0 && log_memo_copy(r, &h->memo, key, key_len)) return;
  if (json) put(r, "{", 1);
  put_timestamp(r, h, now);
  put_word(r, "level", level_names[level], strlen(level_names[level]));
  log_excerpt(r, "msg", msg, len, MSG_MAX);
  if (key_len > 0) log_memo_keep(&h->memo, r, 0, key, key_len);
}

void log_end(log_record *r) {
  if (json) r->text[r->len++] = '}';
  r->text[r->len++] = '\n';
  logbuf_write(r->text, r->len);
}

void log_line(log_level level, const char *msg, ...) {
  log_record r;
  log_begin(&r, level, msg, strlen(msg));
  va_list ap;
  va_start(ap, msg);
  const char *key;
  while ((key = va_arg(ap, const char *)) != NULL) log_string(&r, key, va_arg(ap, const char *));
  va_end(ap);
  log_end(&r);
}

void log_append(char *list, size_t size, const char *item) {
  size_t len = strlen(list);
  if (strstr(list, item) == NULL) snprintf(list + len, size - len, "%s%s", len ? "," : "", item);
}
