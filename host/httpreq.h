/*
** httpreq.h
** An HTTP/1.1 request of the engine (http.h) and its outcome: building one
** from a method, a URL, headers and a body, and reading the response. Plain
** C; who owns a request when is said in http.h.
** Errors: -1 with the reason in the caller's buffer.
*/
#ifndef httpreq_h
#define httpreq_h

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "timer.h"

#define HTTP_ERROR_MAX 256

struct http_engine;
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
  buf headers;                 /* name NUL value NUL ..., names lower-case, in arrival order */
  size_t n_headers;
  buf body;

  /* The request itself, made by http_request_init ... http_request_end. */
  char *shown;                      /* the URL without query and user info, for messages */
  char *host;
  int port;
  bool tls;
  bool idempotent;                  /* may be sent again on a fresh connection (RFC 9110 9.2.2) */
  bool head;                        /* HEAD: the response has no body */
  bool close;                       /* the owner asked for connection: close */
  unsigned has;                     /* which headers the owner gave (HAS_* in http.c) */
  buf out;                     /* the head, then the body: the bytes to send */

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


/* The next response header of r from *pos (0 at first): false after the last. */
bool http_response_header(const http_request *r, size_t *pos, const char **name, const char **value);

#endif
