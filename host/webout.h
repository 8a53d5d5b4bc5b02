/*
** webout.h
** What the HTTP/1.1 door writes to one client: a response's status line and
** headers, its body (in chunks when its length is not known), gathered in a
** buffer that the door's connection writes out. Plain C.
** Errors: out of memory marks the output broken; the door then closes the connection.
*/
#ifndef webout_h
#define webout_h

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

typedef struct web_out web_out;

struct web_out {
  buf data;                         /* bytes for the client, from sent on not yet written */
  size_t sent;
  bool chunked;                     /* the body being written goes in chunks */
  bool close;                       /* the connection closes after this response */
  bool http10;                      /* the request was HTTP/1.0: no chunks, the end of the body is the close */
  bool broken;                      /* out of memory while writing: the connection must close */
  const char *origin;               /* the request's Origin when --cors-origin allows it, else NULL */
  buf exposed;                      /* with origin: the names of the headers written, for the browser */
  void (*flush)(web_out *o);        /* writes what it can now; the door's */
  void (*done)(web_out *o);         /* the response is whole: the door's, may start the next request */
};

/* Bytes written to o and not yet to the client. */
static inline size_t web_backlog(const web_out *o) {
  return o->data.len - o->sent;
}

/* The status line, and the headers every response has (connection, CORS). */
void web_status(web_out *o, int status);
void web_header(web_out *o, const char *name, const char *value, size_t vlen);
/* With CORS: lets the page's script read header name (the call's own metadata). */
void web_expose(web_out *o, const char *name);
/* name: value in base64 (a -bin key's bytes). */
void web_header_base64(web_out *o, const char *name, const char *value, size_t vlen);
/* Ends the headers: a body of length bytes, of a length not known (-1: chunks, or the close), or none (204). */
#define WEB_NO_BODY (-2)
void web_begin_body(web_out *o, long long length);
void web_body(web_out *o, const char *data, size_t len);
/* The 5-byte prefix of an envelope or a frame, then its message, in one chunk. */
void web_body_framed(web_out *o, const char prefix[5], const char *data, size_t len);
/* Ends the body, and the response: o->done runs. */
void web_end(web_out *o);

/* A whole response of status with a text/plain body (a line saying what is wrong). */
void web_text(web_out *o, int status, const char *text);

#endif
