/*
** outbound.h
** --outbound HOST[:PORT],...: the hosts handlers may reach, for the HTTP and
** the gRPC clients alike. Plain C. A host is matched as the URL or target
** writes it (not the address it resolves to), ignoring case; "*.example.com"
** matches every name below example.com; without a port, every port matches.
*/
#ifndef outbound_h
#define outbound_h

#include <stdbool.h>
#include <stddef.h>

typedef struct outbound_rule {
  char *host;                       /* lower case; "*.x" for names below x; IPv6 without brackets */
  int port;                         /* 0: any */
} outbound_rule;

typedef struct outbound_list {
  outbound_rule *rules;
  size_t n;                         /* 0: anywhere (the option was not given) */
} outbound_list;

/* Parses spec ("api.example.com:443,*.internal,[::1]:8080") into l. -1 with what is wrong in err. */
int outbound_parse(outbound_list *l, const char *spec, char *err, size_t errlen);

/* Whether host (as written, IPv6 without brackets) and port may be reached. */
bool outbound_allowed(const outbound_list *l, const char *host, int port);

void outbound_free(outbound_list *l);

#endif
