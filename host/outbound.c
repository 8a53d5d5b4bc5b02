/*
** outbound.c
** The list of --outbound, parsed once at start and read by every worker.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "outbound.h"

static char *lower_dup(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d == NULL) return NULL;
  for (size_t i = 0; i < n; i++) d[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
  d[n] = '\0';
  return d;
}

/* One item, "host", "host:port", "[v6]" or "[v6]:port", into r. -1 with err set. */
static int parse_item(outbound_rule *r, const char *item, size_t n, char *err, size_t errlen) {
  const char *host = item, *port = NULL;
  size_t hlen = n;
  if (n > 0 && item[0] == '[') {
    const char *close = memchr(item, ']', n);
    if (close == NULL) goto bad;
    host = item + 1;
    hlen = (size_t)(close - host);
    if (close + 1 < item + n && close[1] != ':') goto bad;
    if (close + 1 < item + n) port = close + 2;
  } else {
    const char *colon = memchr(item, ':', n);
    if (colon != NULL) {
      hlen = (size_t)(colon - item);
      port = colon + 1;
    }
  }
  if (hlen == 0 || memchr(host, ' ', hlen) != NULL) goto bad;
  r->port = 0;
  if (port != NULL) {
    char *end;
    long p = strtol(port, &end, 10);
    if (end != item + n || end == port || p < 1 || p > 65535) goto bad;
    r->port = (int)p;
  }
  r->host = lower_dup(host, hlen);
  if (r->host != NULL) return 0;
  snprintf(err, errlen, "--outbound: out of memory");
  return -1;
bad:
  snprintf(err, errlen, "--outbound: '%.*s' is not HOST, HOST:PORT or [IPV6]:PORT", (int)n, item);
  return -1;
}

int outbound_parse(outbound_list *l, const char *spec, char *err, size_t errlen) {
  size_t items = 1;
  for (const char *p = spec; *p; p++) items += *p == ',';
  l->n = 0;
  l->rules = calloc(items, sizeof *l->rules);
  if (l->rules == NULL) {
    snprintf(err, errlen, "--outbound: out of memory");
    return -1;
  }
  for (const char *p = spec;;) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    if (parse_item(&l->rules[l->n], p, n, err, errlen) != 0) {
      outbound_free(l);
      return -1;
    }
    l->n++;
    if (comma == NULL) return 0;
    p = comma + 1;
  }
}

static bool host_matches(const char *rule, const char *host) {
  if (rule[0] == '*' && rule[1] == '.') {
    size_t rn = strlen(rule + 1), hn = strlen(host);
    return hn > rn && strcasecmp(host + hn - rn, rule + 1) == 0;
  }
  return strcasecmp(rule, host) == 0;
}

bool outbound_allowed(const outbound_list *l, const char *host, int port) {
  if (l->n == 0) return true;
  for (size_t i = 0; i < l->n; i++)
    if ((l->rules[i].port == 0 || l->rules[i].port == port) && host_matches(l->rules[i].host, host)) return true;
  return false;
}

void outbound_free(outbound_list *l) {
  for (size_t i = 0; i < l->n; i++) free(l->rules[i].host);
  free(l->rules);
  l->rules = NULL;
  l->n = 0;
}
