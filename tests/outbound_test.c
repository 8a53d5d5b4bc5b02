/*
** outbound_test.c
** The --outbound list (host/outbound.c): what it accepts, what it refuses.
*/
#include <stdio.h>
#include <string.h>

#include "outbound.h"

static int failures;

#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                     \
    }                                                                 \
  } while (0)

static void test_anywhere_without_the_option(void) {
  outbound_list l = {0};
  CHECK(outbound_allowed(&l, "example.com", 443));
}

static void test_hosts_ports_wildcards(void) {
  outbound_list l;
  char err[256];
  CHECK(outbound_parse(&l, "API.example.com:443,*.internal,[::1]:8080,10.0.0.7", err, sizeof err) == 0);
  CHECK(l.n == 4);
  CHECK(outbound_allowed(&l, "api.EXAMPLE.com", 443));
  CHECK(!outbound_allowed(&l, "api.example.com", 80));
  CHECK(!outbound_allowed(&l, "example.com", 443));
  CHECK(outbound_allowed(&l, "db.internal", 5432));
  CHECK(outbound_allowed(&l, "a.b.internal", 1));
  CHECK(!outbound_allowed(&l, "internal", 1));
  CHECK(!outbound_allowed(&l, "xinternal", 1));
  CHECK(outbound_allowed(&l, "::1", 8080));
  CHECK(!outbound_allowed(&l, "::1", 8081));
  CHECK(outbound_allowed(&l, "10.0.0.7", 9));
  CHECK(!outbound_allowed(&l, "10.0.0.70", 9));
  outbound_free(&l);
}

static void test_bad_items(void) {
  const char *bad[] = {"", "a,,b", "host:", "host:0", "host:65536", "host:12x", "[::1", "[::1]x", ":80", "a b"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    outbound_list l;
    char err[256] = "";
    CHECK(outbound_parse(&l, bad[i], err, sizeof err) == -1);
    CHECK(strncmp(err, "--outbound: ", 12) == 0);
    CHECK(l.n == 0 && l.rules == NULL);
  }
}

int main(void) {
  test_anywhere_without_the_option();
  test_hosts_ports_wildcards();
  test_bad_items();
  if (failures == 0) printf("outbound: all passed\n");
  return failures ? 1 : 0;
}
