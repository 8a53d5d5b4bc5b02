/*
** embedded.h
** Files built into the binary (cmake/embed.cmake): the built-in services'
** descriptor set and their Lua handlers, so a package needs nothing beside it.
*/
#ifndef embedded_h
#define embedded_h

#include <stddef.h>

typedef struct embedded_file {
  const char *name;                 /* path relative to host/builtin */
  const unsigned char *data;        /* NUL-terminated, for scripts */
  size_t size;
} embedded_file;

/* Ended by an entry whose name is NULL. */
extern const embedded_file builtin_protoset[];
extern const embedded_file builtin_scripts[];

#endif
