/*
** config.c
** Options, their environment fallbacks and their defaults, as README.md lists them.
*/
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fsutil.h"

#define HOST_VERSION "0.1.0"

static const char usage[] =
  "usage: host [options]\n"
  "  --port N            port to serve on (env FC_CUSTOM_LISTEN_PORT, FC_SERVER_PORT, PORT; default 8089;\n"
  "                      0 picks a free port, named in the ready line)\n"
  "  --address A         address to listen on (default 0.0.0.0)\n"
  "  --scripts DIR       Lua handlers (env HOST_SCRIPTS; default scripts/ beside the binary, else ./scripts)\n"
  "  --protoset FILE     descriptor set, or a directory of *.pb/*.protoset; repeatable (env HOST_PROTOSET;\n"
  "                      default protoset.pb beside the binary, else ./build/protoset.pb)\n"
  "  --workers N         worker threads, each with its own Lua state (default: number of CPUs)\n"
  "  --cors-origin LIST  ORIGIN,... (or *) whose web pages may call over HTTP/1.1 (Connect, gRPC-Web; h2c\n"
  "                      only): preflights answered, replies readable by their scripts; default none\n"
  "  --max-streams N     concurrent streams per connection (env FC_CONCURRENT_LIMIT, FC_INSTANCE_CONCURRENCY:\n"
  "                      the function's instanceConcurrency on Function Compute; default 100)\n"
  "  --max-connections N  open connections at most; more are refused, with a log line (default 4096)\n"
  "  --max-connections-per-peer N  open connections from one client address at most; 0 for no limit\n"
  "                      (default 512)\n"
  "  --io-threads N      threads that read and write the network for gRPC, so that one connection's\n"
  "                      traffic never holds up a worker: for a port exposed to hostile clients (it\n"
  "                      costs CPU per call, and gRPC then starts every call on the first worker);\n"
  "                      0: the workers do it themselves (default 2 with TLS, 0 for h2c)\n"
  "  --tls-cert F        PEM certificate chain; with --tls-key serves TLS instead of h2c\n"
  "  --tls-key F         PEM private key\n"
  "  --grace-ms N        on SIGTERM, how long calls in flight may take to finish (default 10000)\n"
  "  --max-message-bytes N  largest request or reply message (default 4194304)\n"
  "  --compress-min-bytes N  compress replies this large when the client accepts gzip or deflate;\n"
  "                      0 never (default 1024)\n"
  "  --max-memory-mb N   memory cap of each worker's Lua state; 0 for none (default 256)\n"
  "  --max-cpu-ms N      longest a handler may run without yielding; 0 for no limit (default 10000)\n"
  "  --max-outbound N    outbound gRPC calls and HTTP requests in flight per worker; past it the next\n"
  "                      one fails at once with RESOURCE_EXHAUSTED (default 1000)\n"
  "  --outbound LIST     HOST[:PORT],... handlers may reach (*.example.com: any name below it);\n"
  "                      default: anywhere\n"
  "  --shared-memory-mb N  size of the store every worker shares (the `shared` library); least recently\n"
  "                      used keys go when it is full (default 64)\n"
  "  --unsafe-lua        give scripts the whole standard library (os.execute, io.popen, debug, C modules)\n"
  "  --files DIR[:rw],... the only directories io.open may reach, read-only unless :rw\n"
  "                      (default: the scripts directory read-only and /tmp:rw; '' for none)\n"
  "  --no-watch          do not watch scripts for changes\n"
  "  --check             load protosets and scripts, print what would be served, exit\n"
  "  --quiet             no log line per call\n"
  "  --log-format F      logfmt (default) or json\n"
  "  --version           print the version and exit\n"
  "commands (each prints and exits; they read --protoset):\n"
  "  --scaffold pkg.Service  a handler script for that service, every method UNIMPLEMENTED until written\n"
  "  --types             lua-language-server classes of every message and enum\n"
  "  --call pkg.Service/Method [JSON] [--target ADDR]\n"
  "                      calls a running host (default 127.0.0.1:8089) with a request in proto3 JSON\n"
  "                      (client and bidi streaming: one JSON request a line from stdin) and prints\n"
  "                      each reply as one JSON line; a status other than OK goes to stderr, exit 1\n"
  "  --help              print this and exit\n";

enum { OPT_PORT = 256, OPT_ADDRESS, OPT_SCRIPTS, OPT_PROTOSET, OPT_WORKERS, OPT_MAX_STREAMS,
       OPT_MAX_CONNECTIONS, OPT_MAX_PER_PEER, OPT_IO_THREADS,
       OPT_TLS_CERT, OPT_TLS_KEY, OPT_GRACE, OPT_MAX_MESSAGE, OPT_COMPRESS, OPT_MAX_MEMORY, OPT_MAX_CPU, OPT_MAX_OUTBOUND,
       OPT_OUTBOUND, OPT_CORS_ORIGIN,
       OPT_UNSAFE_LUA, OPT_NO_WATCH, OPT_CHECK, OPT_QUIET, OPT_LOG_FORMAT,
       OPT_VERSION, OPT_HELP, OPT_FILES, OPT_SCAFFOLD, OPT_TYPES, OPT_CALL, OPT_TARGET, OPT_SHARED_MEMORY };

static const struct option options[] = {
  {"port", required_argument, NULL, OPT_PORT},
  {"address", required_argument, NULL, OPT_ADDRESS},
  {"scripts", required_argument, NULL, OPT_SCRIPTS},
  {"protoset", required_argument, NULL, OPT_PROTOSET},
  {"workers", required_argument, NULL, OPT_WORKERS},
  {"max-streams", required_argument, NULL, OPT_MAX_STREAMS},
  {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
  {"max-connections-per-peer", required_argument, NULL, OPT_MAX_PER_PEER},
  {"io-threads", required_argument, NULL, OPT_IO_THREADS},
  {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
  {"tls-key", required_argument, NULL, OPT_TLS_KEY},
  {"grace-ms", required_argument, NULL, OPT_GRACE},
  {"max-message-bytes", required_argument, NULL, OPT_MAX_MESSAGE},
  {"compress-min-bytes", required_argument, NULL, OPT_COMPRESS},
  {"max-memory-mb", required_argument, NULL, OPT_MAX_MEMORY},
  {"max-cpu-ms", required_argument, NULL, OPT_MAX_CPU},
  {"max-outbound", required_argument, NULL, OPT_MAX_OUTBOUND},
  {"outbound", required_argument, NULL, OPT_OUTBOUND},
  {"shared-memory-mb", required_argument, NULL, OPT_SHARED_MEMORY},
  {"cors-origin", required_argument, NULL, OPT_CORS_ORIGIN},
  {"unsafe-lua", no_argument, NULL, OPT_UNSAFE_LUA},
  {"no-watch", no_argument, NULL, OPT_NO_WATCH},
  {"check", no_argument, NULL, OPT_CHECK},
  {"quiet", no_argument, NULL, OPT_QUIET},
  {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
  {"version", no_argument, NULL, OPT_VERSION},
  {"help", no_argument, NULL, OPT_HELP},
  {"files", required_argument, NULL, OPT_FILES},
  {"scaffold", required_argument, NULL, OPT_SCAFFOLD},
  {"types", no_argument, NULL, OPT_TYPES},
  {"call", required_argument, NULL, OPT_CALL},
  {"target", required_argument, NULL, OPT_TARGET},
  {NULL, 0, NULL, 0},
};

/* Paths beside the binary and the --outbound list, built once; they live as long as the process. */
static char scripts_beside[PATH_MAX];
static char protoset_beside[PATH_MAX];
static outbound_list outbound;

static int parse_int(const char *s, int lo, int hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end != '\0' || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/*
** Writes DIR_OF_BINARY/name into out: the binary's directory from /proc/self/exe,
** else from argv[0] (a chroot may have no /proc), else the working directory.
*/
static void beside_binary(const char *argv0, const char *name, char out[PATH_MAX]) {
  char self[PATH_MAX], exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) self[n] = '\0';
  else snprintf(self, sizeof self, "%s", argv0);
  fs_dir_of(self, exe, sizeof exe);
  if (snprintf(out, PATH_MAX, "%s%s%s", exe, exe[strlen(exe) - 1] == '/' ? "" : "/", name) >= PATH_MAX)
    snprintf(out, PATH_MAX, "%s", name);
}

/*
** name beside the binary if it is there, else the fallback if that is there; else
** beside the binary again, so that the error names where a package keeps it.
*/
static const char *default_path(const char *argv0, const char *name, char *storage,
                                const char *fallback) {
  beside_binary(argv0, name, storage);
  return !exists(storage) && exists(fallback) ? fallback : storage;
}

static void set_defaults(config *c, const char *argv0) {
  memset(c, 0, sizeof *c);
  c->address = "0.0.0.0";
  c->port = 8089;
  const char *vars[] = {"FC_CUSTOM_LISTEN_PORT", "FC_SERVER_PORT", "PORT"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i]);
    if (v != NULL && *v != '\0' && parse_int(v, 0, 65535, &c->port) == 0) break;
  }
  c->scripts_dir = getenv("HOST_SCRIPTS");
  if (c->scripts_dir == NULL)
    c->scripts_dir = default_path(argv0, "scripts", scripts_beside, "scripts");
  const char *protoset = getenv("HOST_PROTOSET");
  if (protoset == NULL)
    protoset = default_path(argv0, "protoset.pb", protoset_beside, "build/protoset.pb");
  c->protosets[c->n_protosets++] = protoset;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  c->workers = cpus > 0 ? (int)cpus : 1;
  /* Function Compute hands its runtimes the function's instanceConcurrency as FC_CONCURRENT_LIMIT
     (its own runtimes read that); FC_INSTANCE_CONCURRENCY is accepted too. */
  c->max_streams = 100;
  const char *limits[] = {"FC_CONCURRENT_LIMIT", "FC_INSTANCE_CONCURRENCY"};
  for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
    const char *v = getenv(limits[i]);
    if (v != NULL && *v != '\0' && parse_int(v, 1, INT_MAX, &c->max_streams) == 0) break;
  }
  c->max_connections = 4096;
  c->max_connections_per_peer = 512;
  c->io_threads = -1;               /* decided once TLS is known */
  c->grace_ms = 10000;
  c->max_message_bytes = 4 * 1024 * 1024;
  c->compress_min_bytes = 1024;
  c->max_memory_mb = 256;
  c->max_cpu_ms = 10000;
  c->max_outbound = 1000;
  c->outbound = &outbound;
  c->shared_memory_mb = 64;
  c->watch = true;
  c->call_target = "127.0.0.1:8089";
}

static config_result bad_number(const char *opt, const char *arg, char *err, size_t errlen) {
  snprintf(err, errlen, "--%s: '%s' is not a valid number", opt, arg);
  return CONFIG_ERROR;
}

/* --files: a comma-separated list of directories, each read-only or with :ro or :rw after it. */
static int check_files(const char *list, char *err, size_t errlen) {
  for (const char *p = list; *p != '\0';) {
    size_t len = strcspn(p, ",");
    const char *colon = memchr(p, ':', len);
    size_t mode_len = colon ? len - (size_t)(colon - p) - 1 : 0;
    if (len == 0 || colon == p ||
        (colon && !(mode_len == 2 && (memcmp(colon + 1, "ro", 2) == 0 || memcmp(colon + 1, "rw", 2) == 0)))) {
      snprintf(err, errlen, "--files: '%.*s' is not DIR, DIR:ro or DIR:rw", (int)len, p);
      return -1;
    }
    p += len + (p[len] == ',');
  }
  return 0;
}

config_result config_parse(config *c, int argc, char **argv, char *err, size_t errlen) {
  set_defaults(c, argc > 0 ? argv[0] : "");
  bool protoset_given = false;
  int opt;
  opterr = 0;
  while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
    switch (opt) {
    case OPT_PORT:
      if (parse_int(optarg, 0, 65535, &c->port)) return bad_number("port", optarg, err, errlen);
      break;
    case OPT_ADDRESS: c->address = optarg; break;
    case OPT_SCRIPTS: c->scripts_dir = optarg; break;
    case OPT_PROTOSET:
      if (!protoset_given) c->n_protosets = 0;
      protoset_given = true;
      if (c->n_protosets == CONFIG_MAX_PROTOSETS) {
        snprintf(err, errlen, "--protoset: at most %d may be given", CONFIG_MAX_PROTOSETS);
        return CONFIG_ERROR;
      }
      c->protosets[c->n_protosets++] = optarg;
      break;
    case OPT_WORKERS:
      if (parse_int(optarg, 1, 1024, &c->workers)) return bad_number("workers", optarg, err, errlen);
      break;
    case OPT_MAX_STREAMS:
      if (parse_int(optarg, 1, INT_MAX, &c->max_streams))
        return bad_number("max-streams", optarg, err, errlen);
      break;
    case OPT_MAX_CONNECTIONS:
      if (parse_int(optarg, 1, INT_MAX, &c->max_connections))
        return bad_number("max-connections", optarg, err, errlen);
      break;
    case OPT_MAX_PER_PEER:
      if (parse_int(optarg, 0, INT_MAX, &c->max_connections_per_peer))
        return bad_number("max-connections-per-peer", optarg, err, errlen);
      break;
    case OPT_IO_THREADS:
      if (parse_int(optarg, 0, 64, &c->io_threads)) return bad_number("io-threads", optarg, err, errlen);
      break;
    case OPT_TLS_CERT: c->tls_cert = optarg; break;
    case OPT_TLS_KEY: c->tls_key = optarg; break;
    case OPT_GRACE:
      if (parse_int(optarg, 0, INT_MAX, &c->grace_ms)) return bad_number("grace-ms", optarg, err, errlen);
      break;
    case OPT_MAX_MESSAGE:
      if (parse_int(optarg, 1, INT_MAX, &c->max_message_bytes))
        return bad_number("max-message-bytes", optarg, err, errlen);
      break;
    case OPT_COMPRESS:
      if (parse_int(optarg, 0, INT_MAX, &c->compress_min_bytes))
        return bad_number("compress-min-bytes", optarg, err, errlen);
      break;
    case OPT_MAX_MEMORY:
      if (parse_int(optarg, 0, 1 << 20, &c->max_memory_mb))
        return bad_number("max-memory-mb", optarg, err, errlen);
      break;
    case OPT_MAX_CPU:
      if (parse_int(optarg, 0, INT_MAX, &c->max_cpu_ms)) return bad_number("max-cpu-ms", optarg, err, errlen);
      break;
    case OPT_MAX_OUTBOUND:
      if (parse_int(optarg, 1, INT_MAX, &c->max_outbound))
        return bad_number("max-outbound", optarg, err, errlen);
      break;
    case OPT_OUTBOUND:
      outbound_free(&outbound);
      if (outbound_parse(&outbound, optarg, err, errlen)) return CONFIG_ERROR;
      break;
    case OPT_SHARED_MEMORY:
      if (parse_int(optarg, 1, 1 << 20, &c->shared_memory_mb))
        return bad_number("shared-memory-mb", optarg, err, errlen);
      break;
    case OPT_CORS_ORIGIN:
      if (optarg[0] == '\0' || strstr(optarg, ",,") != NULL || optarg[0] == ',' || optarg[strlen(optarg) - 1] == ',') {
        snprintf(err, errlen, "--cors-origin: '%s' is not a list of origins (https://app.example.com,... or *)", optarg);
        return CONFIG_ERROR;
      }
      c->cors_origins = optarg;
      break;
    case OPT_UNSAFE_LUA: c->unsafe_lua = true; break;
    case OPT_NO_WATCH: c->watch = false; break;
    case OPT_CHECK: c->check = true; break;
    case OPT_QUIET: c->quiet = true; break;
    case OPT_LOG_FORMAT:
      if (strcmp(optarg, "json") != 0 && strcmp(optarg, "logfmt") != 0) {
        snprintf(err, errlen, "--log-format: '%s' is neither logfmt nor json", optarg);
        return CONFIG_ERROR;
      }
      c->log_json = strcmp(optarg, "json") == 0;
      break;
    case OPT_FILES:
      if (check_files(optarg, err, errlen)) return CONFIG_ERROR;
      c->files = optarg;
      break;
    case OPT_SCAFFOLD: c->scaffold = optarg; break;
    case OPT_TYPES: c->types = true; break;
    case OPT_CALL: c->call = optarg; break;
    case OPT_TARGET: c->call_target = optarg; break;
    case OPT_VERSION:
      printf("host %s\n", HOST_VERSION);
      return CONFIG_EXIT;
    case OPT_HELP:
      fputs(usage, stdout);
      return CONFIG_EXIT;
    default:
      snprintf(err, errlen, "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
      return CONFIG_ERROR;
    }
  }
  if (c->call != NULL && optind < argc) c->call_request = argv[optind++];
  if (optind < argc) {
    snprintf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
    return CONFIG_ERROR;
  }
  if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
    snprintf(err, errlen, "--tls-cert and --tls-key go together");
    return CONFIG_ERROR;
  }
  /* A TLS port faces clients itself; an h2c one is most often behind a gateway or a proxy. */
  if (c->io_threads < 0) c->io_threads = c->tls_cert != NULL ? 2 : 0;
  return CONFIG_OK;
}
