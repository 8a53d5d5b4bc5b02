/*
** log.c
** One record a line, in logfmt or JSON, written with a single fwrite so lines
** of different threads never interleave.
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define LOG_LINE_MAX 4096

static int quiet;
static int json;

static const char *const level_names[] = {"info", "warn", "error"};

void log_set_quiet(int q) { quiet = q; }

void log_set_json(int j) { json = j; }

int log_calls(void) { return !quiet; }

typedef struct line {
  char text[LOG_LINE_MAX];
  size_t len;
} line;

static void put_char(line *l, char c) {
  if (l->len < LOG_LINE_MAX - 2) l->text[l->len++] = c;
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

/* A quoted string: escapes for '"', '\\' and control characters, in logfmt's or JSON's way. */
static void put_quoted(line *l, const char *v) {
  put_char(l, '"');
  for (; *v; v++) {
    unsigned char c = (unsigned char)*v;
    char esc[8];
    if (c == '"' || c == '\\') {
      put_char(l, '\\');
      put_char(l, (char)c);
    } else if (c == '\n') {
      put_raw(l, "\\n");
    } else if (c == '\t') {
      put_raw(l, "\\t");
    } else if (c < ' ' || c == 0x7f) {
      snprintf(esc, sizeof esc, json ? "\\u%04x" : "\\x%02x", c);
      put_raw(l, esc);
    } else {
      put_char(l, (char)c);
    }
  }
  put_char(l, '"');
}

/* key=value, or "key":"value" */
static void put_field(line *l, const char *key, const char *value) {
  if (json) {
    put_raw(l, l->len > 1 ? ",\"" : "\"");
    put_raw(l, key);
    put_raw(l, "\":");
    put_quoted(l, value);
    return;
  }
  if (l->len > 0) put_char(l, ' ');
  put_raw(l, key);
  put_char(l, '=');
  if (needs_quotes(value)) put_quoted(l, value);
  else put_raw(l, value);
}

static void timestamp(char *ts, size_t size) {
  struct timespec now;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  size_t n = strftime(ts, size, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + n, size - n, ".%03ldZ", now.tv_nsec / 1000000);
}

void log_line(log_level level, const char *msg, ...) {
  line l;
  char ts[40];
  l.len = 0;
  if (json) put_char(&l, '{');
  timestamp(ts, sizeof ts);
  put_field(&l, "ts", ts);
  put_field(&l, "level", level_names[level]);
  put_field(&l, "msg", msg);
  va_list ap;
  va_start(ap, msg);
  const char *key;
  while ((key = va_arg(ap, const char *)) != NULL) {
    const char *value = va_arg(ap, const char *);
    if (value != NULL) put_field(&l, key, value);
  }
  va_end(ap);
  if (json) l.text[l.len++] = '}';
  l.text[l.len++] = '\n';
  fwrite(l.text, 1, l.len, stdout);
  fflush(stdout);
}

void log_append(char *list, size_t size, const char *item) {
  size_t len = strlen(list);
  if (strstr(list, item) == NULL) snprintf(list + len, size - len, "%s%s", len ? "," : "", item);
}
