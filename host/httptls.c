/*
** httptls.c
** Client contexts by kind of verification, the system's roots found on the
** machine the host runs on, and OpenSSL's failures in words.
*/
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "httptls.h"

typedef struct tls_ctx_entry {
  char *ca;                         /* NULL: the system's roots */
  bool insecure;
  SSL_CTX *ctx;
  struct tls_ctx_entry *next;
} tls_ctx_entry;

struct tls_contexts {
  tls_ctx_entry *list;
};

tls_contexts *tls_contexts_new(void) {
  return calloc(1, sizeof(tls_contexts));
}

void tls_contexts_free(tls_contexts *t) {
  if (t == NULL) return;
  for (tls_ctx_entry *e = t->list, *next; e != NULL; e = next) {
    next = e->next;
    SSL_CTX_free(e->ctx);
    free(e->ca);
    free(e);
  }
  free(t);
}

static bool is_file(const char *path) {
  struct stat st;
  return path != NULL && *path != '\0' && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *path) {
  struct stat st;
  return path != NULL && *path != '\0' && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The reason of OpenSSL's last error, or fallback. */
static const char *ssl_reason(const char *fallback) {
  unsigned long e = ERR_peek_last_error();
  const char *reason = e ? ERR_reason_error_string(e) : NULL;
  return reason ? reason : fallback;
}

/* Loads the first set of roots that exists; -1 with what was looked for in err. */
static int load_system_roots(SSL_CTX *ctx, char *err, size_t errlen) {
  static const char *const files[] = {TLS_ROOT_FILES};
  static const char *const dirs[] = {TLS_ROOT_DIRS};
  const char *file = getenv("SSL_CERT_FILE"), *dir = getenv("SSL_CERT_DIR");
  if (is_file(file)) return SSL_CTX_load_verify_locations(ctx, file, NULL) == 1 ? 0 : -1;
  if (is_dir(dir)) return SSL_CTX_load_verify_locations(ctx, NULL, dir) == 1 ? 0 : -1;
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    if (is_file(files[i])) return SSL_CTX_load_verify_locations(ctx, files[i], NULL) == 1 ? 0 : -1;
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
    if (is_dir(dirs[i])) return SSL_CTX_load_verify_locations(ctx, NULL, dirs[i]) == 1 ? 0 : -1;
  snprintf(err, errlen, "TLS: no CA certificates on this machine (none of $SSL_CERT_FILE, $SSL_CERT_DIR, "
           "%s, ...): set SSL_CERT_FILE or give the request a ca file", files[0]);
  return -1;
}

static SSL_CTX *new_context(const char *ca, bool insecure, char *err, size_t errlen) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL) {
    snprintf(err, errlen, "TLS: %s", ssl_reason("cannot make a context"));
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                   SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_verify(ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
  /* Servers often close without close_notify; a body's framing, not TLS, tells a cut reply. */
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  err[0] = '\0';
  int r = 0;
  if (!insecure && ca != NULL) r = SSL_CTX_load_verify_locations(ctx, ca, NULL) == 1 ? 0 : -1;
  else if (!insecure) r = load_system_roots(ctx, err, errlen);
  if (r == 0) return ctx;
  if (err[0] == '\0')
    snprintf(err, errlen, "TLS: cannot load CA certificates from %s: %s", ca ? ca : "the system's bundle",
             ssl_reason(errno ? strerror(errno) : "no certificate in it"));
  SSL_CTX_free(ctx);
  return NULL;
}

SSL_CTX *tls_context(tls_contexts *t, const char *ca, bool insecure, char *err, size_t errlen) {
  if (insecure) ca = NULL;
  for (tls_ctx_entry *e = t->list; e != NULL; e = e->next)
    if (e->insecure == insecure && (e->ca == ca || (e->ca && ca && strcmp(e->ca, ca) == 0))) return e->ctx;
  ERR_clear_error();
  errno = 0;
  tls_ctx_entry *e = calloc(1, sizeof *e);
  if (e == NULL || (ca != NULL && (e->ca = strdup(ca)) == NULL)) {
    if (e != NULL) free(e);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  e->ctx = new_context(ca, insecure, err, errlen);
  if (e->ctx == NULL) {
    free(e->ca);
    free(e);
    return NULL;
  }
  e->insecure = insecure;
  e->next = t->list;
  t->list = e;
  return e->ctx;
}

SSL *tls_session(SSL_CTX *ctx, int fd, const char *host, bool verify, char *err, size_t errlen) {
  unsigned char ip[sizeof(struct in6_addr)];
  bool literal = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
  SSL *ssl = SSL_new(ctx);
  int ok = ssl != NULL && SSL_set_fd(ssl, fd) == 1;
  /* A name goes as SNI (RFC 6066 forbids literals there) and is what the certificate must carry. */
  if (ok && !literal) ok = SSL_set_tlsext_host_name(ssl, host) == 1;
  if (ok && verify) {
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ok = literal ? X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1
                 : X509_VERIFY_PARAM_set1_host(param, host, 0) == 1;
  }
  if (ok) {
    SSL_set_connect_state(ssl);
    return ssl;
  }
  snprintf(err, errlen, "TLS: %s", ssl_reason("cannot start a session"));
  SSL_free(ssl);
  return NULL;
}

void tls_error(SSL *ssl, int ret, char *err, size_t errlen) {
  int e = SSL_get_error(ssl, ret);
  long verify = SSL_get_verify_result(ssl);
  if (e == SSL_ERROR_SSL && !SSL_is_init_finished(ssl) && verify != X509_V_OK) {
    snprintf(err, errlen, "TLS: certificate verify failed (%s)", X509_verify_cert_error_string(verify));
  } else if (e == SSL_ERROR_SSL) {
    snprintf(err, errlen, "TLS: %s", ssl_reason("protocol error"));
  } else if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) {
    snprintf(err, errlen, SSL_is_init_finished(ssl) ? "connection closed by the server"
                                                    : "TLS: connection closed during the handshake");
  } else if (e == SSL_ERROR_SYSCALL && (errno == ECONNRESET || errno == EPIPE)) {
    snprintf(err, errlen, "connection reset");
  } else {
    snprintf(err, errlen, "TLS: %s", e == SSL_ERROR_SYSCALL ? strerror(errno) : ssl_reason("error"));
  }
}
