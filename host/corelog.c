/*
** corelog.c
** The core writes its own lines to stderr ("E1201 12:24:58.45 26481
** chttp2_server.cc:1045] ..."); installed, they become host records at their
** level, named by the core's source line. The core filters by GRPC_VERBOSITY
** (default: errors only) before it calls us.
*/
#include <stdio.h>
#include <string.h>

#include <grpc/support/log.h>

#include "corelog.h"
#include "log.h"

/* Where a failing host call keeps the core's errors instead of logging them. */
static _Thread_local char *held;
static _Thread_local size_t held_len;

/* The innermost os_error:"..." of a core error, else the whole message. */
static void keep_cause(const char *message) {
  static const char mark[] = "os_error:\"";
  const char *cause = message, *p = message, *end;
  size_t len;
  while ((p = strstr(p, mark)) != NULL) cause = p += sizeof mark - 1;
  if (cause != message && (end = strchr(cause, '"')) != NULL) len = (size_t)(end - cause);
  else len = strlen(cause);
  snprintf(held, held_len, "%.*s", (int)len, cause);
}

static void on_core_line(gpr_log_func_args *args) {
  if (held != NULL && args->severity == GPR_LOG_SEVERITY_ERROR) {
    keep_cause(args->message);
    return;
  }
  const char *file = strrchr(args->file, '/');
  char source[256];
  snprintf(source, sizeof source, "%s:%d", file ? file + 1 : args->file, args->line);
  log_line(args->severity == GPR_LOG_SEVERITY_ERROR ? LOG_ERROR : LOG_INFO, "grpc core",
           "source", source, "detail", args->message, NULL);
}

void corelog_install(void) {
  gpr_set_log_function(on_core_line);
}

void corelog_begin(char *buf, size_t len) {
  buf[0] = '\0';
  held = buf;
  held_len = len;
}

void corelog_end(void) {
  held = NULL;
  held_len = 0;
}
