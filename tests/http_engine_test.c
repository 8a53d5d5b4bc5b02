/*
** http_engine_test.c
** Drives the HTTP engine (host/http.h) without the rest of the host, for
** tests/test_http_engine.py, which starts the servers and reads what this prints.
**
**   http_engine_test [--sequential] [--free-ms MS] REQUEST [-- REQUEST ...]
**   REQUEST: METHOD URL [-H NAME:VALUE]... [-d BODY] [-t TIMEOUT] [-c CONNECT_TIMEOUT]
**            [-k] [--ca FILE] [-m MAX_RESPONSE_BYTES] [-n COPIES] [--cancel-ms MS]
**
** Requests run at once (--sequential: each after the previous is done); with
** --free-ms the engine is freed that long after the last submission, whatever
** is still in flight (each must then have had its done). Then
** one JSON line per request, in order: {"status": N, "error": "...",
** "headers": {...}, "body": "..."} and a last line {"elapsed_ms": N}.
** Exits 2 on bad arguments, 0 otherwise.
*/
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"

typedef struct job {
  http_request req;
  int cancel_ms;                    /* >= 0: cancel this long after submission */
  bool submitted;
  bool built;                       /* http_request_init succeeded: free it */
  char build_error[HTTP_ERROR_MAX];
} job;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static size_t finished;

/* On the engine's thread: count it, as an owner's inbox would take it. */
static void on_done(http_request *r) {
  (void)r;
  pthread_mutex_lock(&lock);
  finished++;
  pthread_cond_broadcast(&cond);
  pthread_mutex_unlock(&lock);
}

static void wait_finished(size_t n) {
  pthread_mutex_lock(&lock);
  while (finished < n) pthread_cond_wait(&cond, &lock);
  pthread_mutex_unlock(&lock);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void print_json_string(const char *s, size_t n) {
  putchar('"');
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\') printf("\\%c", ch);
    else if (ch < 0x20 || ch >= 0x7f) printf("\\u%04x", ch);
    else putchar(ch);
  }
  putchar('"');
}

static void print_result(const job *j) {
  const http_request *r = &j->req;
  printf("{\"status\": %d, \"error\": ", j->built ? r->status : 0);
  const char *err = j->build_error[0] ? j->build_error : r->status ? "" : r->error;
  print_json_string(err, strlen(err));
  printf(", \"n_headers\": %zu, \"headers\": [", r->n_headers);
  size_t pos = 0;
  const char *name, *value;
  for (bool first = true; http_response_header(r, &pos, &name, &value); first = false) {
    printf("%s[", first ? "" : ", ");
    print_json_string(name, strlen(name));
    printf(", ");
    print_json_string(value, strlen(value));
    printf("]");
  }
  printf("], \"body\": ");
  print_json_string(r->body.data ? r->body.data : "", r->body.len);
  printf("}\n");
}

/* Parses one REQUEST from argv[*i] up to "--" into a template job. -1 on bad arguments. */
static int parse_request(int argc, char **argv, int *i, job *j, int *copies) {
  if (*i + 1 >= argc) return -1;
  const char *method = argv[(*i)++], *url = argv[(*i)++];
  const char *headers[64], *body = "", *ca = NULL;
  size_t n_headers = 0;
  double timeout = 10, connect_timeout = 5;
  long max = 1 << 20;
  bool insecure = false;
  j->cancel_ms = -1;
  *copies = 1;
  for (; *i < argc && strcmp(argv[*i], "--") != 0; (*i)++) {
    const char *opt = argv[*i], *arg = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (strcmp(opt, "-k") == 0) {
      insecure = true;
      continue;
    }
    if (arg == NULL) return -1;
    (*i)++;
    if (strcmp(opt, "-H") == 0 && n_headers < 64) headers[n_headers++] = arg;
    else if (strcmp(opt, "-d") == 0) body = arg;
    else if (strcmp(opt, "-t") == 0) timeout = atof(arg);
    else if (strcmp(opt, "-c") == 0) connect_timeout = atof(arg);
    else if (strcmp(opt, "--ca") == 0) ca = arg;
    else if (strcmp(opt, "-m") == 0) max = atol(arg);
    else if (strcmp(opt, "-n") == 0) *copies = atoi(arg);
    else if (strcmp(opt, "--cancel-ms") == 0) j->cancel_ms = atoi(arg);
    else return -1;
  }
  http_request *r = &j->req;
  char *err = j->build_error;
  size_t errlen = sizeof j->build_error;
  if (http_request_init(r, method, url, strlen(url), err, errlen) != 0) return 0;
  j->built = true;
  for (size_t h = 0; h < n_headers; h++) {
    const char *colon = strchr(headers[h], ':');
    if (colon == NULL) return -1;
    const char *value = colon + 1 + (colon[1] == ' ');
    if (http_request_header(r, headers[h], (size_t)(colon - headers[h]), value, strlen(value), err, errlen))
      return 0;
  }
  if (http_request_end(r, body, strlen(body)) != 0 || (ca != NULL && http_request_set_ca(r, ca) != 0)) {
    snprintf(err, errlen, "out of memory");
    return 0;
  }
  r->timeout = timeout;
  r->connect_timeout = connect_timeout;
  r->insecure = insecure;
  r->max_response_bytes = (size_t)max;
  r->done = on_done;
  return 0;
}

/* A copy of t for one more submission: the request's buffers are duplicated. */
static int clone_job(job *dst, const job *t) {
  *dst = *t;
  http_request *r = &dst->req;
  const http_request *s = &t->req;
  if (!t->built) return 0;
  r->shown = strdup(s->shown);
  r->host = strdup(s->host);
  r->ca = s->ca ? strdup(s->ca) : NULL;
  r->out = (buf){0};
  r->headers = r->body = (buf){0};
  return r->shown && r->host && buf_put(&r->out, s->out.data, s->out.len) == 0 ? 0 : -1;
}

static int parse_jobs(int argc, char **argv, int i, job **jobs, size_t *n) {
  size_t cap = 16;
  *jobs = calloc(cap, sizeof **jobs);
  *n = 0;
  while (i < argc) {
    job t = {0};
    int copies;
    if (parse_request(argc, argv, &i, &t, &copies) != 0) return -1;
    for (int c = 0; c < copies; c++) {
      if (*n == cap) {
        cap *= 2;
        *jobs = realloc(*jobs, cap * sizeof **jobs);
      }
      if (clone_job(&(*jobs)[(*n)++], &t) != 0) return -1;
    }
    if (t.built) http_request_free(&t.req);
    if (i < argc) i++;              /* "--" */
  }
  return 0;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  int i = 1, free_ms = -1;
  bool sequential = false;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--sequential") == 0) sequential = true;
    else if (strcmp(argv[i], "--free-ms") == 0 && i + 1 < argc) free_ms = atoi(argv[++i]);
    else break;
  }
  job *jobs;
  size_t n;
  if (i >= argc || parse_jobs(argc, argv, i, &jobs, &n) != 0) {
    fprintf(stderr, "usage: see the top of tests/http_engine_test.c\n");
    return 2;
  }
  char err[HTTP_ERROR_MAX];
  http_engine *e = http_engine_new(err, sizeof err);
  if (e == NULL) {
    fprintf(stderr, "http_engine_new: %s\n", err);
    return 1;
  }
  double start = now_ms();
  size_t expected = 0;
  for (size_t k = 0; k < n; k++) {
    if (!jobs[k].built || jobs[k].build_error[0] != '\0') continue;
    http_submit(e, &jobs[k].req);
    jobs[k].submitted = true;
    expected++;
    if (sequential) wait_finished(expected);
  }
  /* The test's schedule (a cancel or a stop while requests are in flight), not a synchronisation. */
  for (size_t k = 0; k < n; k++) {
    if (!jobs[k].submitted || jobs[k].cancel_ms < 0) continue;
    sleep_ms(jobs[k].cancel_ms);
    http_cancel(&jobs[k].req);
  }
  if (free_ms >= 0) sleep_ms(free_ms);
  else wait_finished(expected);
  double elapsed = now_ms() - start;
  http_engine_free(e);
  if (finished != expected) {
    fprintf(stderr, "%zu requests never had their done\n", expected - finished);
    return 1;
  }
  for (size_t k = 0; k < n; k++) {
    print_result(&jobs[k]);
    if (jobs[k].built) http_request_free(&jobs[k].req);
  }
  printf("{\"elapsed_ms\": %.1f}\n", elapsed);
  free(jobs);
  return 0;
}
