/*
** httptls.h
** OpenSSL for outbound HTTPS: one client context per kind of verification
** (the system's roots, a CA file, none), made once and shared by every
** connection; sessions that check the server's certificate chain and name.
**
** The system's roots are the first that exist of: $SSL_CERT_FILE,
** $SSL_CERT_DIR, then the bundles and directories that Linux distributions
** keep (TLS_ROOT_FILES, TLS_ROOT_DIRS). A static binary cannot rely on the
** OPENSSLDIR compiled into its libcrypto, which is the build machine's.
*/
#ifndef httptls_h
#define httptls_h

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#define TLS_ROOT_FILES                                                                            \
  "/etc/ssl/certs/ca-certificates.crt",             /* Debian, Ubuntu, Alpine, Arch */            \
  "/etc/pki/tls/certs/ca-bundle.crt",               /* CentOS, RHEL, Fedora, Alibaba Cloud Linux */ \
  "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",                                           \
  "/etc/ssl/ca-bundle.pem",                         /* openSUSE */                                \
  "/etc/pki/tls/cacert.pem",                        /* OpenELEC */                                \
  "/etc/ssl/cert.pem"                               /* Alpine, BSDs */
#define TLS_ROOT_DIRS "/etc/ssl/certs", "/etc/pki/tls/certs"

typedef struct tls_contexts tls_contexts;

tls_contexts *tls_contexts_new(void);
void tls_contexts_free(tls_contexts *t);

/*
** The client context that verifies with ca (a PEM file), or with the system's
** roots when ca is NULL, or not at all when insecure. Made on first use and
** kept; NULL with the reason in err (no roots found, an unreadable CA file).
*/
SSL_CTX *tls_context(tls_contexts *t, const char *ca, bool insecure, char *err, size_t errlen);

/*
** A session on the connected socket fd for host, which the certificate must
** name (a DNS name, sent as SNI, or an IP address) unless verify is false.
** NULL with the reason in err.
*/
SSL *tls_session(SSL_CTX *ctx, int fd, const char *host, bool verify, char *err, size_t errlen);

/* What failed, after an SSL_connect, SSL_read or SSL_write on ssl returned ret <= 0. */
void tls_error(SSL *ssl, int ret, char *err, size_t errlen);

#endif
