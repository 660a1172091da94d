/* proxy/tls.c: TLS for clients: the tls { } block, server contexts with SNI, session facts */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "conf.h"
#include "tls.h"
#include "util.h"

#define TLS_MAX_CERTS 16

/* Mozilla's "intermediate" choices: TLS 1.2 with forward secrecy and AEAD only. */
#define DEFAULT_CIPHERS "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:" \
	"ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"
#define DEFAULT_GROUPS "X25519:P-256:P-384"

struct tls_conf {
	unsigned nctx;
	SSL_CTX *ctx[TLS_MAX_CERTS]; /* owned: one per certificate; [0] is the default */
};

static int tls_fail(struct conf_error *err, const struct conf_stmt *s, int word, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* tls_fail - "FILE:LINE:COL: message" (with OpenSSL's reason if it has one) */
static int
tls_fail(struct conf_error *err, const struct conf_stmt *s, int word, const char *fmt, ...)
{
	va_list ap;
	char why[256];

	va_start(ap, fmt);
	conf_vfail_at(err, s, word < s->argc ? s->argcol[word] : s->col, fmt, ap);
	va_end(ap);
	tls_error(why, sizeof(why), 0);
	if (why[0] != '\0') {
		size_t l = strlen(err->msg);

		snprintf(err->msg + l, sizeof(err->msg) - l, " (%s)", why);
	}
	return -1;
}

/* tls_error - see tls.h */
const char *
tls_error(char *buf, size_t sz, unsigned long first)
{
	unsigned long e = first ? first : ERR_get_error();

	buf[0] = '\0';
	if (e != 0)
		ERR_error_string_n(e, buf, sz);
	while (ERR_get_error() != 0)
		;
	return buf;
}

/* sni_cb - pick the context whose certificate names the requested server */
static int
sni_cb(SSL *ssl, int *alert, void *arg)
{
	const struct tls_conf *t = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)alert;
	if (name == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	for (unsigned i = 0; i < t->nctx; i++) {
		X509 *x = SSL_CTX_get0_certificate(t->ctx[i]);

		if (x != NULL && X509_check_host(x, name, 0, 0, NULL) == 1) {
			if (i > 0)
				SSL_set_SSL_CTX(ssl, t->ctx[i]);
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_OK; /* the default certificate */
}

struct tls_opts {
	int min_version, max_version;
	const char *ciphers, *suites, *groups, *dhparam, *client_ca;
	const struct conf_stmt *where[5]; /* for errors: ciphers, suites, groups, dhparam, client_ca */
};

/* ctx_new - one SSL_CTX for a certificate and key */
static SSL_CTX *
ctx_new(const struct conf_stmt *s, const struct tls_opts *o, struct conf_error *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		tls_fail(err, s, 0, "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, o->min_version);
	SSL_CTX_set_max_proto_version(ctx, o->max_version);
	/* no compression (CRIME), no client-started renegotiation, our cipher order */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* idle sessions keep no TLS buffers */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"sluice", 6);
	if (SSL_CTX_use_certificate_chain_file(ctx, s->argv[1]) != 1) {
		tls_fail(err, s, 1, "cannot load certificate chain '%s'", s->argv[1]);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, s->argv[2], SSL_FILETYPE_PEM) != 1) {
		tls_fail(err, s, 2, "cannot load private key '%s'", s->argv[2]);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_fail(err, s, 2, "private key '%s' does not match certificate '%s'", s->argv[2], s->argv[1]);
		goto fail;
	}
	if (SSL_CTX_set_cipher_list(ctx, o->ciphers) != 1) {
		tls_fail(err, o->where[0] ? o->where[0] : s, 1, "no usable cipher in '%s'", o->ciphers);
		goto fail;
	}
	if (o->suites != NULL && SSL_CTX_set_ciphersuites(ctx, o->suites) != 1) {
		tls_fail(err, o->where[1], 1, "no usable TLS 1.3 cipher suite in '%s'", o->suites);
		goto fail;
	}
	if (SSL_CTX_set1_groups_list(ctx, o->groups) != 1) {
		tls_fail(err, o->where[2] ? o->where[2] : s, 1, "bad groups '%s'", o->groups);
		goto fail;
	}
	if (o->dhparam != NULL) {
		BIO *bio = BIO_new_file(o->dhparam, "r");
		EVP_PKEY *dh = bio ? PEM_read_bio_Parameters(bio, NULL) : NULL;

		BIO_free(bio);
		if (dh == NULL || SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
			EVP_PKEY_free(dh);
			tls_fail(err, o->where[3], 1, "cannot load DH parameters '%s'", o->dhparam);
			goto fail;
		}
	} else {
		SSL_CTX_set_dh_auto(ctx, 1);
	}
	if (o->client_ca != NULL) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->client_ca);

		if (names == NULL || SSL_CTX_load_verify_locations(ctx, o->client_ca, NULL) != 1) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			tls_fail(err, o->where[4], 1, "cannot load client CA file '%s'", o->client_ca);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		/* ask, never require: an unverified certificate is a fact, not a refusal */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		SSL_CTX_set_verify_depth(ctx, 5);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* proto_version - "TLSv1.2" / "TLSv1.3" */
static int
proto_version(const char *s)
{
	if (!strcmp(s, "TLSv1.2"))
		return TLS1_2_VERSION;
	if (!strcmp(s, "TLSv1.3"))
		return TLS1_3_VERSION;
	return 0;
}

/* tls_conf_new - see tls.h */
struct tls_conf *
tls_conf_new(const struct conf_stmt *block, struct conf_error *err)
{
	struct tls_opts o = { TLS1_2_VERSION, TLS1_3_VERSION, DEFAULT_CIPHERS, NULL, DEFAULT_GROUPS, NULL, NULL, { NULL } };
	struct tls_conf *t = calloc(1, sizeof(*t));
	const struct conf_stmt *certs[TLS_MAX_CERTS];
	unsigned ncerts = 0;

	if (t == NULL) {
		tls_fail(err, block, 0, "out of memory");
		return NULL;
	}
	if (!block->block || block->argc != 1) {
		tls_fail(err, block, 0, "tls is configured with a block: tls { certificate CERT KEY }");
		goto fail;
	}
	for (const struct conf_stmt *s = block->child; s != NULL; s = s->next) {
		const char *k = s->argv[0];

		if (!strcmp(k, "certificate")) {
			if (s->argc != 3) {
				tls_fail(err, s, 0, "certificate takes a certificate chain file and a key file");
				goto fail;
			}
			if (ncerts >= TLS_MAX_CERTS) {
				tls_fail(err, s, 0, "at most %d certificates", TLS_MAX_CERTS);
				goto fail;
			}
			certs[ncerts++] = s;
		} else if (!strcmp(k, "protocols")) {
			int lo = 0, hi = 0;

			for (int w = 1; w < s->argc; w++) {
				int v = proto_version(s->argv[w]);

				if (v == 0) {
					tls_fail(err, s, w, "'%s': protocols are TLSv1.2 and TLSv1.3", s->argv[w]);
					goto fail;
				}
				lo = lo == 0 || v < lo ? v : lo;
				hi = v > hi ? v : hi;
			}
			if (lo == 0) {
				tls_fail(err, s, 0, "protocols takes TLSv1.2 and/or TLSv1.3");
				goto fail;
			}
			o.min_version = lo;
			o.max_version = hi;
		} else if (s->argc == 2 && (!strcmp(k, "ciphers") || !strcmp(k, "ciphersuites") ||
		    !strcmp(k, "groups") || !strcmp(k, "dhparam") || !strcmp(k, "client_ca"))) {
			static const char *const names[] = { "ciphers", "ciphersuites", "groups", "dhparam", "client_ca" };
			const char **dst[] = { &o.ciphers, &o.suites, &o.groups, &o.dhparam, &o.client_ca };

			for (size_t i = 0; i < nitems(names); i++)
				if (!strcmp(k, names[i])) {
					*dst[i] = s->argv[1];
					o.where[i] = s;
				}
		} else {
			tls_fail(err, s, 0, "unknown tls option '%s' (or a missing argument)", k);
			goto fail;
		}
	}
	if (ncerts == 0) {
		tls_fail(err, block, 0, "tls needs a certificate (certificate CERT KEY)");
		goto fail;
	}
	for (unsigned i = 0; i < ncerts; i++) {
		if ((t->ctx[i] = ctx_new(certs[i], &o, err)) == NULL)
			goto fail;
		t->nctx++;
	}
	if (t->nctx > 1)
		for (unsigned i = 0; i < t->nctx; i++) {
			SSL_CTX_set_tlsext_servername_callback(t->ctx[i], sni_cb);
			SSL_CTX_set_tlsext_servername_arg(t->ctx[i], t);
		}
	return t;
fail:
	tls_conf_free(t);
	return NULL;
}

/* tls_conf_free - see tls.h (SSLs still running hold their own references) */
void
tls_conf_free(struct tls_conf *t)
{
	if (t == NULL)
		return;
	for (unsigned i = 0; i < t->nctx; i++)
		SSL_CTX_free(t->ctx[i]);
	free(t);
}

/* tls_ssl_new - see tls.h */
SSL *
tls_ssl_new(const struct tls_conf *t)
{
	return SSL_new(t->ctx[0]);
}

struct tls_client {
	enum btls_mode mode;
	SSL_CTX *ctx;      /* owned */
	bool verify;
	char name[256];    /* checked against the certificate; "" = none */
	bool name_is_ip;
};

/* tls_client_new - see tls.h */
struct tls_client *
tls_client_new(const struct conf_stmt *block, const char *backend_host, struct conf_error *err)
{
	struct tls_client *t = calloc(1, sizeof(*t));
	const char *ca = NULL, *cert = NULL, *key = NULL;
	const struct conf_stmt *ca_at = NULL, *cert_at = NULL;
	unsigned char ipbuf[16];

	if (t == NULL) {
		tls_fail(err, block, 0, "out of memory");
		return NULL;
	}
	t->verify = true;
	snprintf(t->name, sizeof(t->name), "%s", backend_host ? backend_host : "");
	if (!block->block || block->argc != 1) {
		tls_fail(err, block, 0, "backend_tls is configured with a block: backend_tls { mode starttls }");
		goto fail;
	}
	for (const struct conf_stmt *s = block->child; s != NULL; s = s->next) {
		const char *k = s->argv[0];

		if (!strcmp(k, "mode") && s->argc == 2) {
			if (!strcmp(s->argv[1], "starttls"))
				t->mode = BTLS_STARTTLS;
			else if (!strcmp(s->argv[1], "implicit"))
				t->mode = BTLS_IMPLICIT;
			else if (!strcmp(s->argv[1], "off"))
				t->mode = BTLS_OFF;
			else {
				tls_fail(err, s, 1, "'%s': the mode is starttls, implicit or off", s->argv[1]);
				goto fail;
			}
		} else if (!strcmp(k, "verify") && s->argc == 2 && (!strcmp(s->argv[1], "on") || !strcmp(s->argv[1], "off"))) {
			t->verify = !strcmp(s->argv[1], "on");
		} else if (!strcmp(k, "ca") && s->argc == 2) {
			ca = s->argv[1];
			ca_at = s;
		} else if (!strcmp(k, "name") && s->argc == 2) {
			snprintf(t->name, sizeof(t->name), "%s", s->argv[1]);
		} else if (!strcmp(k, "certificate") && s->argc == 3) {
			cert = s->argv[1];
			key = s->argv[2];
			cert_at = s;
		} else {
			tls_fail(err, s, 0, "unknown backend_tls option '%s' (or wrong arguments)", k);
			goto fail;
		}
	}
	if ((t->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		tls_fail(err, block, 0, "cannot create a TLS context");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS);
	if (ca != NULL ? SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1 :
	    SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
		tls_fail(err, ca_at ? ca_at : block, ca_at ? 1 : 0, "cannot load CA certificates%s%s", ca ? " from " : "",
		    ca ? ca : "");
		goto fail;
	}
	if (cert != NULL && (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(t->ctx) != 1)) {
		tls_fail(err, cert_at, 1, "cannot load client certificate '%s' and key '%s'", cert, key);
		goto fail;
	}
	if (t->verify) {
		if (t->name[0] == '\0') {
			tls_fail(err, block, 0, "backend_tls verify on needs a name (the backend is a UNIX socket)");
			goto fail;
		}
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	}
	t->name_is_ip = inet_pton(AF_INET, t->name, ipbuf) == 1 || inet_pton(AF_INET6, t->name, ipbuf) == 1;
	return t;
fail:
	tls_client_free(t);
	return NULL;
}

/* tls_client_free - see tls.h */
void
tls_client_free(struct tls_client *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

/* tls_client_mode - see tls.h */
enum btls_mode
tls_client_mode(const struct tls_client *t)
{
	return t != NULL ? t->mode : BTLS_OFF;
}

/* tls_client_ssl - see tls.h */
SSL *
tls_client_ssl(const struct tls_client *t)
{
	SSL *ssl = SSL_new(t->ctx);

	if (ssl == NULL)
		return NULL;
	if (t->name[0] != '\0' && !t->name_is_ip)
		SSL_set_tlsext_host_name(ssl, t->name);
	if (t->verify) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);

		if (t->name_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, t->name) != 1 : SSL_set1_host(ssl, t->name) != 1) {
			SSL_free(ssl);
			return NULL;
		}
	}
	return ssl;
}

/* tls_info_get - see tls.h */
void
tls_info_get(SSL *ssl, struct tls_info *out)
{
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	X509 *peer = SSL_get1_peer_certificate(ssl);

	memset(out, 0, sizeof(*out));
	snprintf(out->version, sizeof(out->version), "%s", SSL_get_version(ssl));
	snprintf(out->cipher, sizeof(out->cipher), "%s", SSL_get_cipher_name(ssl));
	out->bits = SSL_get_cipher_bits(ssl, NULL);
	if (sni != NULL) {
		/* a client-chosen string: keep it printable */
		size_t n = 0;

		for (; sni[n] != '\0' && n + 1 < sizeof(out->sni); n++)
			out->sni[n] = (sni[n] > 0x20 && sni[n] < 0x7f) ? sni[n] : '?';
		out->sni[n] = '\0';
	}
	if (peer != NULL) {
		X509_NAME_oneline(X509_get_subject_name(peer), out->peer, sizeof(out->peer));
		X509_free(peer);
	}
}
