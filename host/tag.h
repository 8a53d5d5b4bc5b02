/*
** tag.h
** What a worker's completion queue hands back. Every pointer given to gRPC as
** a tag is a `tag` embedded in its owner (a call, an outbound call, an
** inbox); the worker's loop only calls done, and the owner finds itself with
** CONTAINER_OF.
*/
#ifndef tag_h
#define tag_h

#include <stdbool.h>
#include <stddef.h>

typedef struct tag tag;

struct tag {
  void (*done)(tag *t, bool ok);    /* runs on the worker's thread; may free the owner */
};

#define CONTAINER_OF(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

#endif
