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

#include "httpreq.h"

typedef struct http_engine http_engine;

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

#endif
