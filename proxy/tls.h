/* proxy/tls.h: TLS for clients: the tls { } block, server contexts with SNI, session facts */
#ifndef SLUICE_TLS_H
#define SLUICE_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct conf_stmt;
struct conf_error;

/*
 * tls {
 *     certificate /etc/sluice/mx.pem /etc/sluice/mx.key   # repeat: SNI picks by name
 *     protocols TLSv1.2 TLSv1.3
 *     ciphers "ECDHE+AESGCM:ECDHE+CHACHA20"               # TLS 1.2
 *     ciphersuites "TLS_AES_256_GCM_SHA384:..."           # TLS 1.3
 *     groups X25519:P-256
 *     dhparam /etc/sluice/dh.pem
 *     client_ca /etc/sluice/clients.pem                   # ask for client certificates
 * }
 * Files are read when the configuration is loaded (sluice -t checks them,
 * SIGHUP reloads them); running sessions keep the context they started on.
 */
struct tls_conf;

/* tls_conf_new - the block's settings and their SSL_CTX; NULL + err */
struct tls_conf *tls_conf_new(const struct conf_stmt *block, struct conf_error *err);
void tls_conf_free(struct tls_conf *t);

/* tls_ssl_new - a server-side SSL for one client connection; NULL on failure */
SSL *tls_ssl_new(const struct tls_conf *t);

/*
 * backend_tls {
 *     mode starttls | implicit       # TLS to the backend (default: none)
 *     verify on | off                # check the backend's certificate (on)
 *     ca /etc/ssl/certs/ca-certificates.crt   # default: the system store
 *     name mx.internal.example       # the name (or address) to verify
 *     certificate CERT KEY           # a client certificate, if the backend wants one
 * }
 */
enum btls_mode { BTLS_OFF = 0, BTLS_STARTTLS, BTLS_IMPLICIT, BTLS_MODE_COUNT };
struct tls_client;

/* tls_client_new - the block's settings; backend_host is the default name to verify */
struct tls_client *tls_client_new(const struct conf_stmt *block, const char *backend_host, struct conf_error *err);
void tls_client_free(struct tls_client *t);
enum btls_mode tls_client_mode(const struct tls_client *t);
/* tls_client_ssl - a client-side SSL for one backend connection (SNI, host check) */
SSL *tls_client_ssl(const struct tls_client *t);

/* What the handshake settled, for logs, records and the Received header. */
struct tls_info {
	char version[16];   /* "TLSv1.3" */
	char cipher[64];    /* "TLS_AES_256_GCM_SHA384" */
	char sni[256];      /* server name the client asked for; "" = none */
	char peer[256];     /* client certificate subject; "" = none */
	int bits;
};
void tls_info_get(SSL *ssl, struct tls_info *out);

/* tls_error - the last OpenSSL error of this thread as text (drains the queue) */
const char *tls_error(char *buf, size_t sz, unsigned long first);

#endif
