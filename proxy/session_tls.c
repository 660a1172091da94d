/* proxy/session_tls.c: STARTTLS and implicit TLS on the client side of a session */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "config.h"
#include "io.h"
#include "io_read.h"
#include "log.h"
#include "session.h"
#include "tls.h"
#include "worker.h"

/*
 * sluice terminates TLS itself so that its filters can read the dialogue.
 * STARTTLS (RFC 3207): the 220 goes out in plaintext once every earlier
 * reply is out; then whatever the client sent after the STARTTLS line in
 * plaintext is thrown away (CVE-2011-0411, command injection), the client
 * side is wrapped in a TLS filter, and the client starts over with EHLO.
 * Implicit TLS listeners (465) start with the handshake.
 */

/* tls_client_bev - see session.h */
struct bufferevent *
tls_client_bev(struct session *s, int fd)
{
	struct bufferevent *bev;
	SSL *ssl;

	if (!(s->lflags & LISTEN_TLS) || s->cfg->tls == NULL)
		return bufferevent_socket_new(s->w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if ((ssl = tls_ssl_new(s->cfg->tls)) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(s->w->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	s->tls = true;
	return bev;
}

/* sess_send - see session.h */
int
sess_send(struct session *s, const char *p, size_t n)
{
	if (s->tls)
		return bufferevent_write(s->cbev, p, n); /* never past the TLS layer */
	return io_send(s->cbev, p, n);
}

/* tls_starttls - see session.h */
void
tls_starttls(struct session *s, const struct smtp_cmd *c)
{
	struct inflight *fi;

	if (s->cfg->tls == NULL) {
		s->errors++;
		fifo_local(s, CMD_STARTTLS, "502 5.5.1 Error: command not implemented");
		return;
	}
	if (s->tls) {
		fifo_local(s, CMD_STARTTLS, "503 5.5.1 Error: TLS already active");
		return;
	}
	if (c->arglen > 0) {
		fifo_local(s, CMD_STARTTLS, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (s->state == ST_MAIL || s->state == ST_RCPT) {
		fifo_local(s, CMD_STARTTLS, "503 5.5.1 Error: MAIL transaction in progress");
		return;
	}
	fi = fifo_local(s, CMD_STARTTLS, "220 2.0.0 Ready to start TLS");
	if (fi == NULL)
		return;
	fi->start_tls = true;
	s->barrier = true; /* nothing after STARTTLS is read as plaintext */
}

/* tls_begin - see session.h */
void
tls_begin(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->cbev);
	size_t junk = evbuffer_get_length(in) + s->cline.len;
	struct bufferevent *bev;
	SSL *ssl;

	if (junk > 0) {
		struct logrec r;

		logrec_begin(&r, LOG_WARNING, "tls.injection", s->sid, false);
		logrec_str(&r, "client", s->client_ip);
		logrec_int(&r, "discarded_bytes", (long long)junk);
		logrec_emit(&r);
		evbuffer_drain(in, evbuffer_get_length(in));
		linebuf_clear(&s->cline);
	}
	ssl = tls_ssl_new(s->cfg->tls);
	io_rd_set_timeouts(s->crd, NULL, NULL); /* the TLS layer above keeps time */
	bev = ssl ? bufferevent_openssl_filter_new(s->w->base, s->cbev, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE) : NULL;
	if (bev == NULL) {
		SSL_free(ssl);
		sess_close(s, "TLS setup failed");
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	io_rd_free(s->crd); /* the filter has libevent read the socket for it */
	s->cbev = bev; /* owns the plain bufferevent underneath */
	s->tls = true;
	if ((s->crd = io_rd_new(bev)) == NULL) {
		sess_close(s, "out of memory");
		return;
	}
	/* RFC 3207 4.2: the client starts over; what it said before is forgotten */
	FREE_AND_NULL(free, s->helo);
	s->esmtp = false;
	sess_txn_reset(s);
	sess_enter(s, ST_GREETED);
	sess_client_callbacks(s);
}

#define TLS_CLOSE_POLL_MS 20
#define TLS_CLOSE_MAX_MS  10000

/* out_pending - bytes not yet handed to the kernel, TLS layer and the socket below */
static size_t
out_pending(struct session *s)
{
	struct bufferevent *under = bufferevent_get_underlying(s->cbev);

	return evbuffer_get_length(bufferevent_get_output(s->cbev)) +
	    (under != NULL ? evbuffer_get_length(bufferevent_get_output(under)) : 0);
}

/* close_poll_cb - wait for the last bytes, say close_notify, wait again, free */
static void
close_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct timeval tv = tv_ms(TLS_CLOSE_POLL_MS);

	(void)fd;
	(void)what;
	if (out_pending(s) > 0 && clock_mono_ms() < s->tls_close_by) {
		evtimer_add(s->ev_tlsclose, &tv);
		return;
	}
	if (!s->tls_shut && s->tlsi != NULL && out_pending(s) == 0) {
		SSL *ssl = bufferevent_openssl_get_ssl(s->cbev);

		s->tls_shut = true;
		if (ssl != NULL) {
			SSL_shutdown(ssl); /* close_notify: a clean end for the client */
			ERR_clear_error();
		}
		evtimer_add(s->ev_tlsclose, &tv);
		return;
	}
	sess_free_later(s);
}

/* tls_close - see session.h */
void
tls_close(struct session *s)
{
	struct timeval zero = { 0, 0 };

	s->tls_close_by = clock_mono_ms() + TLS_CLOSE_MAX_MS;
	bufferevent_set_timeouts(s->cbev, NULL, NULL);
	bufferevent_enable(s->cbev, EV_WRITE);
	if (s->ev_tlsclose == NULL && (s->ev_tlsclose = evtimer_new(s->w->base, close_poll_cb, s)) == NULL) {
		sess_free_later(s);
		return;
	}
	evtimer_add(s->ev_tlsclose, &zero);
}

/* tls_connected - see session.h */
void
tls_connected(struct session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->cbev);
	struct logrec r;

	if (ssl == NULL || s->tlsi != NULL)
		return;
	s->tlsi = calloc(1, sizeof(*s->tlsi));
	if (s->tlsi == NULL)
		return;
	tls_info_get(ssl, s->tlsi);
	logrec_begin(&r, LOG_INFO, "tls.start", s->sid, false);
	logrec_str(&r, "client", s->client_ip);
	logrec_str(&r, "version", s->tlsi->version);
	logrec_str(&r, "cipher", s->tlsi->cipher);
	logrec_int(&r, "bits", s->tlsi->bits);
	if (s->tlsi->sni[0] != '\0')
		logrec_str(&r, "sni", s->tlsi->sni);
	if (s->tlsi->peer[0] != '\0')
		logrec_str(&r, "peer", s->tlsi->peer);
	logrec_str(&r, "mode", (s->lflags & LISTEN_TLS) ? "implicit" : "starttls");
	logrec_emit(&r);
}

/* tls_failed - see session.h */
void
tls_failed(struct session *s, short what)
{
	unsigned long e = bufferevent_get_openssl_error(s->cbev);
	char why[256];
	struct logrec r;

	tls_error(why, sizeof(why), e);
	while (bufferevent_get_openssl_error(s->cbev) != 0)
		;
	logrec_begin(&r, LOG_NOTICE, "tls.error", s->sid, false);
	logrec_str(&r, "client", s->client_ip);
	logrec_str(&r, "stage", s->tlsi == NULL ? "handshake" : "session");
	logrec_str(&r, "error", why[0] ? why : (what & BEV_EVENT_EOF) ? "connection closed" : "socket error");
	logrec_emit(&r);
}
