/*
** config.h
** The command line and environment (README.md, "Command line"), resolved to one struct.
*/
#ifndef config_h
#define config_h

#include <stdbool.h>
#include <stddef.h>

#include "outbound.h"

#define CONFIG_MAX_PROTOSETS 64

typedef struct config {
  const char *address;
  int port;
  const char *scripts_dir;
  const char *protosets[CONFIG_MAX_PROTOSETS];
  size_t n_protosets;
  int workers;
  int max_streams;
  int max_connections;
  int max_connections_per_peer;    /* 0: no limit */
  int io_threads;      /* threads doing gRPC's network I/O; 0: the workers do it; -1 until parsed */
  const char *cors_origins;  /* --cors-origin ORIGIN,...: whose pages may call over HTTP/1.1; NULL: none */
  const char *tls_cert;
  const char *tls_key;
  int grace_ms;        /* how long SIGTERM waits for calls in flight */
  int max_message_bytes;
  int compress_min_bytes;  /* replies this large are compressed if the client accepts it; 0: never */
  int max_memory_mb;   /* per Lua state; 0: no cap */
  int max_cpu_ms;      /* Lua run without yielding; 0: no guard */
  int max_outbound;    /* outbound calls and requests in flight per worker */
  const outbound_list *outbound;   /* where handlers may connect */
  int shared_memory_mb;  /* the store all workers share */
  bool unsafe_lua;     /* the full standard library, no sandbox */
  bool watch;
  bool check;
  bool quiet;
  bool log_json;
  const char *files;   /* --files DIR[:rw],...: where io.open may reach; NULL: the default */
  /* Commands that print and exit instead of serving: */
  const char *scaffold;      /* --scaffold pkg.Service */
  bool types;                /* --types */
  const char *call;          /* --call pkg.Service/Method, to call_target */
  const char *call_request;  /* its JSON request; NULL: JSON lines from stdin */
  const char *call_target;
} config;

typedef enum config_result { CONFIG_OK, CONFIG_EXIT, CONFIG_ERROR } config_result;

/*
** Fills c from argv and the environment. CONFIG_EXIT: --help or --version was
** answered. CONFIG_ERROR: err says what is wrong. Strings point into argv, the
** environment, or storage of this module that lives as long as the process.
*/
config_result config_parse(config *c, int argc, char **argv, char *err, size_t errlen);

#endif
