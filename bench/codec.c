/*
** bench/codec.c
** Times decode + encode of a few messages through the host's codec (bytes ->
** Lua table -> bytes, as a handler that echoes its request costs) and through
** protoc-c's generated code (bytes -> C struct -> bytes), and prints ns per
** message and MB/s. A benchmark, not a test: see bench/README.md.
**
** Usage: codec_bench [-t SECONDS] [-only TEXT] [PROTOSET...]
** -t: time each figure for that long (0.5 s); -only: the messages whose label has TEXT;
** -n N: instead, run every figure N times (for instruction counts: perf stat -e instructions).
** The default protoset is the one the build writes beside this program.
*/
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>
#include <protobuf-c/protobuf-c.h>

#include "codec.h"
#include "codec_bench.pb-c.h"
#include "helloworld.pb-c.h"
#include "schema.h"

#ifndef BENCH_PROTOSET
#define BENCH_PROTOSET "codec_bench.pb"
#endif

typedef struct bench_case {
  const char *label;
  const char *type;                          /* full name in the protoset */
  const ProtobufCMessageDescriptor *pbc;     /* the same message through protoc-c */
  const char *lua;                           /* a Lua expression for the message */
} bench_case;

/* Builds big messages: n items of codecbench.Item, as codectest.AllTypes.Nested. */
static const char *prelude =
  "function big(n)\n"
  "  local items = {}\n"
  "  for i = 1, n do\n"
  "    items[i] = {id = i * 7919 % 1000003, name = 'item-' .. i .. '-' .. string.rep('x', i % 16),\n"
  "                values = {i, -i, i * 1000}}\n"
  "  end\n"
  "  return {items = items}\n"
  "end\n"
  "function person(i)\n"
  "  return {name = 'Alice', id = 12345 + i, email = 'alice@example.com',\n"
  "          phones = {{number = '1301234567', type = 'MOBILE'}, {number = '87654321', type = 'WORK'}}}\n"
  "end\n";

static const bench_case cases[] = {
  {"helloworld.HelloRequest", "helloworld.HelloRequest", &helloworld__hello_request__descriptor,
   "{name = 'world'}"},
  {"Scalars20 (20 scalars)", "codecbench.Scalars20", &codecbench__scalars20__descriptor,
   "{a1 = -42, a2 = 1234567890123, a3 = 4000000000, a4 = -1, a5 = -77, a6 = -1234567890123,"
   " a7 = true, a8 = 3.14159, a9 = 2.5, a10 = 123456, a11 = 9876543210, a12 = -5, a13 = -6,"
   " a14 = 'hello, world', a15 = '\\0\\1\\2\\3', a16 = 300, a17 = 1 << 40, a18 = 'é✓',"
   " a19 = -0.001, a20 = true}"},
  {"Person (addressbook)", "codecbench.Person", &codecbench__person__descriptor, "person(0)"},
  {"AddressBook, 2 people", "codecbench.AddressBook", &codecbench__address_book__descriptor,
   "{people = {person(0), person(1)}}"},
  {"Big, 1 MiB of items", "codecbench.Big", &codecbench__big__descriptor, "big(23500)"},
};

/* CPU time of this thread: other processes on the machine do not count. */
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *why) {
  fprintf(stderr, "codec_bench: %s: %s\n", what, why);
  exit(1);
}

/*
** {======================================================
** The two codecs, one iteration each
** =======================================================
*/

typedef struct run {
  lua_State *L;
  const schema_message *m;
  const ProtobufCMessageDescriptor *pbc;
  buf *buf;
  const char *data;                /* the message's bytes */
  size_t len;
  uint8_t *out;                    /* protobuf-c's output, len bytes */
  int table;                       /* stack index of a decoded table, for encode alone */
} run;

static char err[1024];

static void host_decode(run *r) {
  if (codec_decode(r->L, r->m, r->data, r->len, "request", err, sizeof err) < 0) die("decode", err);
  lua_pop(r->L, 1);
}

static void host_encode(run *r) {
  if (codec_encode(r->L, r->table, r->m, r->buf, "reply", err, sizeof err) < 0) die("encode", err);
}

static void host_both(run *r) {
  if (codec_decode(r->L, r->m, r->data, r->len, "request", err, sizeof err) < 0) die("decode", err);
  if (codec_encode(r->L, -1, r->m, r->buf, "reply", err, sizeof err) < 0) die("encode", err);
  lua_pop(r->L, 1);
}

static void pbc_decode(run *r) {
  ProtobufCMessage *msg = protobuf_c_message_unpack(r->pbc, NULL, r->len, (const uint8_t *)r->data);
  if (msg == NULL) die("protobuf-c", "unpack failed");
  protobuf_c_message_free_unpacked(msg, NULL);
}

static void pbc_both(run *r) {
  ProtobufCMessage *msg = protobuf_c_message_unpack(r->pbc, NULL, r->len, (const uint8_t *)r->data);
  if (msg == NULL) die("protobuf-c", "unpack failed");
  if (protobuf_c_message_get_packed_size(msg) != r->len) die("protobuf-c", "size changed");
  protobuf_c_message_pack(msg, r->out);
  protobuf_c_message_free_unpacked(msg, NULL);
}

static long fixed_runs;   /* -n */

/* Seconds per call of f: the best of 5 rounds, each of batches run for seconds / 5. */
static double time_it(void (*f)(run *), run *r, double seconds) {
  double best = 1e30;
  if (fixed_runs > 0) {
    double t0 = now();
    for (long i = 0; i < fixed_runs; i++) f(r);
    return (now() - t0) / (double)fixed_runs;
  }
  for (int i = 0; i < 3; i++) f(r);   /* warm up */
  for (int round = 0; round < 5; round++) {
    long n = 1, total = 0;
    double t0 = now(), t;
    do {
      for (long i = 0; i < n; i++) f(r);
      total += n;
      n *= 2;
      t = now() - t0;
    } while (t < seconds / 5);
    if (t / (double)total < best) best = t / (double)total;
  }
  return best;
}

/* }====================================================== */

int main(int argc, char **argv) {
  const char *paths[16];
  size_t n_paths = 0;
  double seconds = 0.5;
  const char *only = NULL;
  char e[512];
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) seconds = atof(argv[++i]);
    else if (strcmp(argv[i], "-only") == 0 && i + 1 < argc) only = argv[++i];
    else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) fixed_runs = atol(argv[++i]);
    else if (n_paths < 16) paths[n_paths++] = argv[i];
  }
  if (n_paths == 0) paths[n_paths++] = BENCH_PROTOSET;
  schema *s = schema_load(paths, n_paths, e, sizeof e);
  if (s == NULL) die("schema", e);
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  lua_gc(L, LUA_GCGEN, 0, 0);   /* as the host runs its states */
  if (luaL_dostring(L, prelude) != LUA_OK) die("prelude", lua_tostring(L, -1));
  buf buf = {0};

  printf("%-24s %9s | %29s %9s | %29s %9s | %s\n", "", "", "host codec (Lua tables), ns", "",
         "protoc-c generated code, ns", "", "");
  printf("%-24s %9s | %9s %9s %9s %9s | %9s %9s %9s %9s | %s\n", "message", "bytes", "decode",
         "encode", "both", "MB/s", "unpack", "pack", "both", "MB/s", "ratio");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const bench_case *bc = &cases[i];
    run r = {L, schema_find_message(s, bc->type), bc->pbc, &buf, NULL, 0, NULL, 0};
    char chunk[4096];
    if (only != NULL && strstr(bc->label, only) == NULL) continue;
    if (r.m == NULL) die(bc->type, "not in the protoset");
    snprintf(chunk, sizeof chunk, "return %s", bc->lua);
    if (luaL_dostring(L, chunk) != LUA_OK) die(bc->label, lua_tostring(L, -1));
    if (codec_encode(L, -1, r.m, &buf, "bench", err, sizeof err) < 0) die(bc->label, err);
    lua_pop(L, 1);
    char *data = malloc(buf.len);
    memcpy(data, buf.data, buf.len);
    r.data = data;
    r.len = buf.len;
    r.out = malloc(r.len ? r.len : 1);
    /* Both codecs agree on the bytes. */
    pbc_both(&r);
    if (memcmp(r.out, r.data, r.len) != 0) die(bc->label, "protobuf-c wrote other bytes");
    host_both(&r);
    if (buf.len != r.len || memcmp(buf.data, r.data, r.len) != 0) die(bc->label, "the codec wrote other bytes");

    double hd = time_it(host_decode, &r, seconds);
    if (codec_decode(L, r.m, r.data, r.len, "request", err, sizeof err) < 0) die("decode", err);
    r.table = lua_gettop(L);
    double he = time_it(host_encode, &r, seconds);
    lua_pop(L, 1);
    double hb = time_it(host_both, &r, seconds);
    double pd = time_it(pbc_decode, &r, seconds);
    double pb = time_it(pbc_both, &r, seconds);
    printf("%-24s %9zu | %9.0f %9.0f %9.0f %9.1f | %9.0f %9.0f %9.0f %9.1f | %.2fx\n", bc->label, r.len,
           hd * 1e9, he * 1e9, hb * 1e9, (double)r.len / hb / 1e6, pd * 1e9, (pb - pd) * 1e9, pb * 1e9,
           (double)r.len / pb / 1e6, hb / pb);
    fflush(stdout);
    free(data);
    free(r.out);
  }
  printf("both: decode then encode of the decoded table (the host), or unpack, pack and free "
         "(protoc-c);\nMB/s: message bytes per second of both; ratio: host time / protoc-c time.\n");
  buf_free(&buf);
  lua_close(L);
  schema_free(s);
  return 0;
}
