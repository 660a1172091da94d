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
