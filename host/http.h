/*
** http.h
** An HTTP/1.1 client engine in plain C: one thread of its own runs every
** request on non-blocking sockets (epoll, OpenSSL, c-ares), keeps the
** connections to each origin alive for the next request, and hands each
** outcome back through a callback. Any thread may submit and cancel.
**
** A request's life, and who owns it:
**   1. Its owner embeds an http_request in its own struct, http_request_init's
**      it (which parses the URL), adds headers, ends it with the body and
**      sets the options. A failing step leaves an error in err; the owner then
**      frees it with http_request_free, having never submitted it.
**   2. http_submit: the engine owns the request until it calls r->done,
**      exactly once, on the engine's thread: with r->status set (a response,
**      4xx and 5xx included) or r->status 0 and r->error saying what failed.
**      done must be cheap and must not free r: it hands r to the owner's
**      thread (the host posts it to the worker's inbox).
**   3. After done, the engine never touches r again; the owner reads the
**      outcome and frees r with http_request_free on its own thread.
** http_cancel may be called by the owner at any time between http_submit and
** its handling of done: the request fails soon with "cancelled" (unless its
** outcome was already decided, which then stands). done still comes, once,
** and the owner still frees r only after it.
*/
#ifndef http_h
#define http_h

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ioloop.h"

#define HTTP_ERROR_MAX 256

typedef struct http_engine http_engine;
struct http_pool;
struct http_conn;

/* What kind of failure ended a request without a response. */
typedef enum http_failure {
  HTTP_FAILED_NOT,                  /* a response came */
  HTTP_FAILED_NETWORK,              /* DNS, connecting, TLS, a reset, a bad response */
  HTTP_FAILED_TIMEOUT,              /* its timeout or connect timeout */
  HTTP_FAILED_TOO_LARGE,            /* the body passed max_response_bytes */
  HTTP_FAILED_CANCELLED             /* http_cancel, or the engine stopping */
} http_failure;

typedef struct http_buf {
  char *data;
  size_t len;
  size_t cap;
} http_buf;

typedef struct http_request {
  /* Options, set by the owner before http_submit. */
  double timeout;                   /* seconds from submission; the request fails then */
  double connect_timeout;           /* seconds for a new connection: lookup, connect, TLS handshake */
  bool insecure;                    /* https without checking the server's certificate */
  char *ca;                         /* owned (http_request_set_ca): a PEM file of roots to trust */
  size_t max_response_bytes;        /* a larger body fails the request */
  void (*done)(struct http_request *r);

  /* The outcome, for the owner after done. */
  int status;                       /* the response's status; 0: failed, r->error says why */
  http_failure failure;
  char error[HTTP_ERROR_MAX];
  http_buf headers;                 /* name NUL value NUL ..., names lower-case, in arrival order */
  size_t n_headers;
  http_buf body;

  /* The request itself, made by http_request_init ... http_request_end. */
  char *shown;                      /* the URL without query and user info, for messages */
  char *host;
  int port;
  bool tls;
  bool idempotent;                  /* may be sent again on a fresh connection (RFC 9110 9.2.2) */
  bool head;                        /* HEAD: the response has no body */
  bool close;                       /* the owner asked for connection: close */
  unsigned has;                     /* which headers the owner gave (HAS_* in http.c) */
  http_buf out;                     /* the head, then the body: the bytes to send */

  /* The engine's. */
  struct http_engine *engine;
  int phase;                        /* queued, running, done: under the engine's lock */
  bool cancel;                      /* under the engine's lock */
  bool on_cancel_list;              /* under the engine's lock */
  struct http_request *next;        /* in the submission queue, then the cancel list */
  struct http_request *run_prev, *run_next;   /* the requests the engine's thread runs */
  struct http_pool *pool;
  struct http_conn *conn;
  int64_t deadline;                 /* timer_now() nanoseconds */
  timer timer;
  bool retried;
} http_request;

/*
** Starts r for method (case-insensitive; sent in upper case) and url
** (http:// or https://, a host, an optional port, path and query). 0, or -1
** with what is wrong in err ("unsupported scheme 'ftp' (http or https)").
*/
int http_request_init(http_request *r, const char *method, const char *url, size_t url_len,
                      char *err, size_t errlen);

/* Adds a request header. -1 with the reason in err (a bad name, CR or LF in the value). */
int http_request_header(http_request *r, const char *name, size_t nlen, const char *value, size_t vlen,
                        char *err, size_t errlen);

/* Ends the head and adds body (len 0: none). -1 when out of memory. */
int http_request_end(http_request *r, const char *body, size_t len);

/* The CA file to verify the server with, instead of the system's roots. -1 when out of memory. */
int http_request_set_ca(http_request *r, const char *path);

/* Frees what r holds, not r itself. */
void http_request_free(http_request *r);

/* The engine's thread, started. NULL with the reason in err. */
http_engine *http_engine_new(char *err, size_t errlen);

/*
** Stops the thread and frees the engine with its connections. Requests still
** submitted are failed first ("the host is stopping"): their owners must
** still be able to take done.
*/
void http_engine_free(http_engine *e);

/* Hands r to the engine (see the top of this file). */
void http_submit(http_engine *e, http_request *r);
void http_cancel(http_request *r);

/* Appends n bytes at p to b. -1 when out of memory. */
int http_buf_add(http_buf *b, const char *p, size_t n);

/* The next response header of r from *pos (0 at first): false after the last. */
bool http_response_header(const http_request *r, size_t *pos, const char **name, const char **value);

#endif
