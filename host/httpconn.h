/*
** httpconn.h
** One connection of the HTTP engine: connecting (each address in turn), the
** TLS handshake, writing a request and reading its response into the request,
** then idling until the next. Runs on the engine's loop; the engine (http.c)
** decides which request goes on which connection and frees connections.
*/
#ifndef httpconn_h
#define httpconn_h

#include <stdbool.h>
#include <stddef.h>

#include <http_parser.h>
#include <openssl/ssl.h>

#include "httpreq.h"
#include "ioloop.h"
#include "resolve.h"

#define CONN_READ_MAX 65536         /* the engine's read buffer */

typedef enum conn_state {
  CONN_NEW,                         /* waiting for addresses */
  CONN_CONNECTING,
  CONN_HANDSHAKE,
  CONN_WRITING,                     /* the request; a response may start to come */
  CONN_READING,
  CONN_IDLE,                        /* in its pool, watched for the server closing it */
  CONN_CLOSED
} conn_state;

typedef struct http_conn {
  io_watch io;
  ioloop *loop;
  char *scratch;                    /* the engine's read buffer, CONN_READ_MAX bytes */
  conn_state state;
  SSL *ssl;
  http_request *req;                /* the exchange under way; NULL while idle */
  http_parser parser;
  const resolve_result *addrs;      /* while connecting: its pool's, which outlive it */
  SSL_CTX *ctx;                     /* while connecting: for the handshake, NULL for http */
  size_t next_addr;
  int connect_errno;                /* the last address's failure */
  size_t written;                   /* bytes of req->out sent */
  unsigned served;                  /* exchanges completed on it */
  bool received;                    /* a byte of the current response came */
  bool complete;                    /* the current response is whole */
  bool in_value;                    /* the parser's last header callback was for a value */
  const char *failed;               /* a callback's reason to stop the parser */
  /*
  ** The end of an exchange, or of an idle connection (req NULL): err NULL when
  ** the response is whole, then state is CONN_IDLE if the connection may serve
  ** another request, else CONN_CLOSED; otherwise what failed (state CONN_CLOSED).
  */
  void (*ended)(struct http_conn *c, const char *err);

  /* The engine's. */
  struct http_pool *pool;
  struct http_conn *prev, *next;    /* its pool's idle list, or the engine's closed list */
  timer timer;                      /* connect deadline, or idle expiry */
} http_conn;

/* c, zeroed, on loop. */
void conn_init(http_conn *c, ioloop *l, char *scratch, void (*ended)(http_conn *c, const char *err));

/* Connects to addrs in turn, shakes hands with ctx unless it is NULL, sends req. */
void conn_connect(http_conn *c, const resolve_result *addrs, SSL_CTX *ctx, http_request *req);

/* Sends req on the idle connection c. */
void conn_send(http_conn *c, http_request *req);

/* Closes the socket (state CONN_CLOSED), without calling ended. */
void conn_close(http_conn *c);

/* Whether c failed before the first byte of a response on a connection that had served one:
   the server closed it while the request was on its way, and nothing was processed. */
bool conn_stale(const http_conn *c);

#endif
