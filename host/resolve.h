/*
** resolve.h
** Host names to addresses with c-ares, on an ioloop: its sockets are watched
** by the loop and its timeouts are the loop's timers. c-ares reads
** /etc/resolv.conf and /etc/hosts itself, so a static binary needs no NSS
** module of the C library it was linked with.
*/
#ifndef resolve_h
#define resolve_h

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ioloop.h"

#define RESOLVE_MAX_ADDRS 8

typedef struct resolve_result {
  struct sockaddr_storage addrs[RESOLVE_MAX_ADDRS];   /* port filled in */
  socklen_t lens[RESOLVE_MAX_ADDRS];
  size_t n;
  int ttl;                          /* seconds the answer may be kept */
} resolve_result;

/*
** The answer to one lookup, on the loop's thread: res when found, else NULL and
** what failed ("no such host", "DNS server unreachable"...). Also called, with an
** error, for every lookup still pending when the resolver is freed.
*/
typedef void (*resolve_cb)(void *arg, const resolve_result *res, const char *err);

typedef struct resolver resolver;

/* NULL with the reason in err. */
resolver *resolver_new(ioloop *l, char *err, size_t errlen);
void resolver_free(resolver *r);

/*
** Looks host up (a name, or an address literal) for port. The answer may come
** before this returns (literals, /etc/hosts).
*/
void resolver_lookup(resolver *r, const char *host, int port, resolve_cb cb, void *arg);

#endif
