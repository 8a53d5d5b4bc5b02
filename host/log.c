/*
** log.c
** logfmt records, written with a single fwrite so lines of different threads
** never interleave.
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define LOG_LINE_MAX 4096

static int quiet;

static const char *const level_names[] = {"info", "warn", "error"};

void log_set_quiet(int q) { quiet = q; }

int log_calls(void) { return !quiet; }

typedef struct line {
  char text[LOG_LINE_MAX];
  size_t len;
} line;

static void put_char(line *l, char c) {
  if (l->len < LOG_LINE_MAX - 1) l->text[l->len++] = c;
}

static void put_raw(line *l, const char *s) {
  while (*s) put_char(l, *s++);
}

static int needs_quotes(const char *v) {
  if (*v == '\0') return 1;
  for (; *v; v++)
    if (*v <= ' ' || *v == '"' || *v == '=' || *v == '\\' || *v == 0x7f) return 1;
  return 0;
}

/* A value, quoted and escaped when it holds anything but plain characters. */
static void put_value(line *l, const char *v) {
  if (!needs_quotes(v)) {
    put_raw(l, v);
    return;
  }
  put_char(l, '"');
  for (; *v; v++) {
    unsigned char c = (unsigned char)*v;
    if (c == '"' || c == '\\') {
      put_char(l, '\\');
      put_char(l, (char)c);
    } else if (c == '\n') {
      put_raw(l, "\\n");
    } else if (c == '\t') {
      put_raw(l, "\\t");
    } else if (c < ' ' || c == 0x7f) {
      char hex[8];
      snprintf(hex, sizeof hex, "\\x%02x", c);
      put_raw(l, hex);
    } else {
      put_char(l, (char)c);
    }
  }
  put_char(l, '"');
}

static void put_timestamp(line *l) {
  struct timespec now;
  struct tm tm;
  char ts[40];
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);
  put_raw(l, "ts=");
  put_raw(l, ts);
}

void log_line(log_level level, const char *msg, ...) {
  line l;
  l.len = 0;
  put_timestamp(&l);
  put_raw(&l, " level=");
  put_raw(&l, level_names[level]);
  put_raw(&l, " msg=");
  put_value(&l, msg);
  va_list ap;
  va_start(ap, msg);
  const char *key;
  while ((key = va_arg(ap, const char *)) != NULL) {
    const char *value = va_arg(ap, const char *);
    if (value == NULL) continue;
    put_char(&l, ' ');
    put_raw(&l, key);
    put_char(&l, '=');
    put_value(&l, value);
  }
  va_end(ap);
  l.text[l.len++] = '\n';
  fwrite(l.text, 1, l.len, stdout);
  fflush(stdout);
}
