/*
 * bench/tls_load.c - SMTP load client for bench/ tls mode: one program, one
 * state machine, for plaintext, STARTTLS and implicit TLS, so that the three
 * differ only in the TLS steps.  smtp-source (Postfix) has no TLS.
 *
 *   cc -O2 -o tls_load bench/tls_load.c -lssl -lcrypto
 *   tls_load -p PORT -x MODE [-m 20000] [-s 20] [-l 2048] [-C ca.pem] [-N name] [-k]
 *
 * MODE   session (one message per session, as smtp-source -m M -s S without -d)
 *   plain        220 EHLO MAIL RCPT DATA <msg> QUIT
 *   starttls     220 EHLO STARTTLS <handshake> EHLO MAIL RCPT DATA <msg> QUIT
 *   implicit     <handshake> 220 EHLO MAIL RCPT DATA <msg> QUIT
 *   hs-plain     220 EHLO QUIT                    (sessions without mail)
 *   hs-starttls  220 EHLO STARTTLS <handshake> QUIT
 *   hs-implicit  <handshake> 220 EHLO QUIT        (= hs-plain + the handshake)
 *
 * One thread, epoll, non-blocking sockets, -s sessions open at a time until
 * -m sessions were started.  No pipelining: each command waits for its reply.
 * Every session is a fresh TLS client: no session cache, no tickets reused,
 * so every handshake is a full one (TLS 1.3, X25519 unless -g/-v say
 * otherwise; the server certificate is verified against -C and -N unless -k).
 * After QUIT's 221 the client sends close_notify (TLS) and closes.
 *
 * stdout: one line of key=value results; stderr: the first errors (empty
 * when every session succeeded).  Exit 0 only if every session succeeded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum kind { K_READ, K_CMD, K_MSG, K_HS, K_END };
struct step {
	enum kind kind;
	const char *cmd; /* K_CMD: without CRLF */
	int expect;      /* reply code */
};

#define EHLO_CMD "EHLO client.bench.test"
static const struct step S_PLAIN[] = { { K_READ, NULL, 220 }, { K_CMD, EHLO_CMD, 250 },
	{ K_CMD, "MAIL FROM:<sender@bench.test>", 250 }, { K_CMD, "RCPT TO:<rcpt@bench.test>", 250 },
	{ K_CMD, "DATA", 354 }, { K_MSG, NULL, 250 }, { K_CMD, "QUIT", 221 }, { K_END, NULL, 0 } };
static const struct step S_STARTTLS[] = { { K_READ, NULL, 220 }, { K_CMD, EHLO_CMD, 250 },
	{ K_CMD, "STARTTLS", 220 }, { K_HS, NULL, 0 }, { K_CMD, EHLO_CMD, 250 },
	{ K_CMD, "MAIL FROM:<sender@bench.test>", 250 }, { K_CMD, "RCPT TO:<rcpt@bench.test>", 250 },
	{ K_CMD, "DATA", 354 }, { K_MSG, NULL, 250 }, { K_CMD, "QUIT", 221 }, { K_END, NULL, 0 } };
static const struct step S_IMPLICIT[] = { { K_HS, NULL, 0 }, { K_READ, NULL, 220 }, { K_CMD, EHLO_CMD, 250 },
	{ K_CMD, "MAIL FROM:<sender@bench.test>", 250 }, { K_CMD, "RCPT TO:<rcpt@bench.test>", 250 },
	{ K_CMD, "DATA", 354 }, { K_MSG, NULL, 250 }, { K_CMD, "QUIT", 221 }, { K_END, NULL, 0 } };
static const struct step S_HS_PLAIN[] = { { K_READ, NULL, 220 }, { K_CMD, EHLO_CMD, 250 },
	{ K_CMD, "QUIT", 221 }, { K_END, NULL, 0 } };
static const struct step S_HS_STARTTLS[] = { { K_READ, NULL, 220 }, { K_CMD, EHLO_CMD, 250 },
	{ K_CMD, "STARTTLS", 220 }, { K_HS, NULL, 0 }, { K_CMD, "QUIT", 221 }, { K_END, NULL, 0 } };
static const struct step S_HS_IMPLICIT[] = { { K_HS, NULL, 0 }, { K_READ, NULL, 220 }, { K_CMD, EHLO_CMD, 250 },
	{ K_CMD, "QUIT", 221 }, { K_END, NULL, 0 } };

static const struct {
	const char *name;
	const struct step *steps;
	bool msg;
} MODES[] = { { "plain", S_PLAIN, true }, { "starttls", S_STARTTLS, true }, { "implicit", S_IMPLICIT, true },
	{ "hs-plain", S_HS_PLAIN, false }, { "hs-starttls", S_HS_STARTTLS, false },
	{ "hs-implicit", S_HS_IMPLICIT, false } };

struct sess {
	int fd;
	SSL *ssl;
	const struct step *st; /* current step */
	bool sending;          /* K_CMD/K_MSG: request not yet fully written */
	bool connecting;
	uint32_t ev;           /* epoll interest now */
	const char *w;         /* what is being written */
	size_t wlen, woff;
	char cmd[256];
	char r[8192];          /* reply being read */
	size_t rlen;
	double t0, ths, tlast;  /* session start, handshake start, last progress */
};

static int ep;
static SSL_CTX *ctx;
static struct sockaddr_in dst;
static const struct step *steps;
static char *msg;
static size_t msglen;
static const char *sni = "mx.bench.test";
static long m = 20000, conc = 20, started, done, failed, in_msgs, hs_done, tls_other;
static double timeout_s = 30;
static double *hs_lat, *sess_lat;
static long n_hs_lat, n_sess_lat;
static int nerrs;
static char tls_desc[160];

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
sess_fail(struct sess *s, const char *fmt, ...)
{
	if (nerrs++ < 10) {
		va_list ap;
		unsigned long e;
		char buf[256];

		fprintf(stderr, "tls_load: step %d: ", s->st ? (int)(s->st - steps) : -1);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		while ((e = ERR_get_error()) != 0) {
			ERR_error_string_n(e, buf, sizeof(buf));
			fprintf(stderr, " [%s]", buf);
		}
		fputc('\n', stderr);
	}
	ERR_clear_error();
	failed++;
}

static void
sess_close(struct sess *s)
{
	if (s->ssl != NULL) {
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->fd >= 0) {
		close(s->fd); /* also drops it from the epoll set */
		s->fd = -1;
	}
	done++;
}

static void
set_ev(struct sess *s, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = s };

	if (s->ev == ev)
		return;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &e) < 0) {
		perror("tls_load: epoll_ctl");
		exit(2);
	}
	s->ev = ev;
}

static int sess_start(struct sess *s);

/* the I/O of both kinds: >0 bytes, 0 would block (interest set), -1 failed/closed */
static ssize_t
io_write(struct sess *s, const char *p, size_t n)
{
	if (s->ssl == NULL) {
		ssize_t k = write(s->fd, p, n);

		if (k >= 0)
			return k;
		if (errno == EAGAIN) {
			set_ev(s, EPOLLOUT);
			return 0;
		}
		sess_fail(s, "write: %s", strerror(errno));
		return -1;
	}
	int k = SSL_write(s->ssl, p, (int)n);

	if (k > 0)
		return k;
	switch (SSL_get_error(s->ssl, k)) {
	case SSL_ERROR_WANT_WRITE:
		set_ev(s, EPOLLOUT);
		return 0;
	case SSL_ERROR_WANT_READ:
		set_ev(s, EPOLLIN);
		return 0;
	default:
		sess_fail(s, "SSL_write failed");
		return -1;
	}
}

static ssize_t
io_read(struct sess *s, char *p, size_t n)
{
	if (s->ssl == NULL) {
		ssize_t k = read(s->fd, p, n);

		if (k > 0)
			return k;
		if (k < 0 && errno == EAGAIN) {
			set_ev(s, EPOLLIN);
			return 0;
		}
		sess_fail(s, "read: %s", k == 0 ? "connection closed" : strerror(errno));
		return -1;
	}
	int k = SSL_read(s->ssl, p, (int)n);

	if (k > 0)
		return k;
	switch (SSL_get_error(s->ssl, k)) {
	case SSL_ERROR_WANT_READ:
		set_ev(s, EPOLLIN);
		return 0;
	case SSL_ERROR_WANT_WRITE:
		set_ev(s, EPOLLOUT);
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		sess_fail(s, "SSL_read: close_notify from the server");
		return -1;
	default:
		sess_fail(s, "SSL_read failed (%s)", errno ? strerror(errno) : "eof");
		return -1;
	}
}

/* a complete reply in s->r: its code; 0 incomplete; -1 garbage */
static int
reply_code(struct sess *s)
{
	size_t i = 0;

	while (i < s->rlen) {
		char *nl = memchr(s->r + i, '\n', s->rlen - i);
		size_t len;

		if (nl == NULL)
			return 0;
		len = (size_t)(nl - (s->r + i)) + 1;
		if (len < 5 || s->r[i] < '2' || s->r[i] > '5')
			return -1;
		if (s->r[i + 3] == ' ' || s->r[i + 3] == '\r') {
			if (i + len != s->rlen)
				return -1; /* something after the last line: we never pipeline */
			return (s->r[0] - '0') * 100 + (s->r[1] - '0') * 10 + (s->r[2] - '0');
		}
		i += len;
	}
	return 0;
}

static void
tls_check(struct sess *s)
{
	int nid = SSL_get_negotiated_group(s->ssl);
	const char *g = OBJ_nid2sn(nid & ~0x01000000); /* TLSEXT_nid_unknown: high bit */

	if (tls_desc[0] == '\0')
		snprintf(tls_desc, sizeof(tls_desc), "tls_version=%s tls_cipher=%s tls_group=%s", SSL_get_version(s->ssl),
		    SSL_get_cipher_name(s->ssl), g ? g : "?");
	if (SSL_version(s->ssl) != TLS1_3_VERSION || nid != NID_X25519 || SSL_session_reused(s->ssl))
		tls_other++;
}

/* run the session's steps as far as they go without blocking */
static void
advance(struct sess *s)
{
	for (;;) {
		const struct step *st = s->st;

		switch (st->kind) {
		case K_END: {
			double t = now();

			if (s->ssl != NULL) {
				SSL_shutdown(s->ssl); /* close_notify, not waiting for the server's */
				ERR_clear_error();
			}
			sess_lat[n_sess_lat++] = t - s->t0;
			sess_close(s);
			sess_start(s);
			return;
		}
		case K_HS: {
			int k;

			if (s->ssl == NULL) {
				if ((s->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(s->ssl, s->fd) != 1 ||
				    SSL_set_tlsext_host_name(s->ssl, sni) != 1 || SSL_set1_host(s->ssl, sni) != 1) {
					sess_fail(s, "SSL setup");
					sess_close(s);
					sess_start(s);
					return;
				}
				s->ths = now();
			}
			k = SSL_connect(s->ssl);
			if (k == 1) {
				hs_lat[n_hs_lat++] = now() - s->ths;
				hs_done++;
				tls_check(s);
				s->st++;
				s->sending = true;
				continue;
			}
			switch (SSL_get_error(s->ssl, k)) {
			case SSL_ERROR_WANT_READ:
				set_ev(s, EPOLLIN);
				return;
			case SSL_ERROR_WANT_WRITE:
				set_ev(s, EPOLLOUT);
				return;
			default:
				sess_fail(s, "TLS handshake failed (verify: %s)",
				    X509_verify_cert_error_string(SSL_get_verify_result(s->ssl)));
				sess_close(s);
				sess_start(s);
				return;
			}
		}
		case K_CMD:
		case K_MSG:
			if (s->sending) {
				if (s->woff == 0 && s->w == NULL) {
					if (st->kind == K_MSG) {
						s->w = msg;
						s->wlen = msglen;
					} else {
						s->wlen = (size_t)snprintf(s->cmd, sizeof(s->cmd), "%s\r\n", st->cmd);
						s->w = s->cmd;
					}
				}
				while (s->woff < s->wlen) {
					ssize_t k = io_write(s, s->w + s->woff, s->wlen - s->woff);

					if (k < 0) {
						sess_close(s);
						sess_start(s);
						return;
					}
					if (k == 0)
						return;
					s->woff += (size_t)k;
				}
				s->w = NULL;
				s->woff = 0;
				s->sending = false;
				s->rlen = 0;
				set_ev(s, EPOLLIN); /* the reply cannot be there yet: no read until epoll says so */
				return;
			}
			/* FALLTHROUGH */
		case K_READ: {
			int code;

			for (;;) {
				ssize_t k;

				if (s->rlen == sizeof(s->r)) {
					sess_fail(s, "reply too long");
					goto fail;
				}
				k = io_read(s, s->r + s->rlen, sizeof(s->r) - s->rlen);
				if (k < 0)
					goto fail_closed;
				if (k == 0)
					return; /* wait for more */
				s->rlen += (size_t)k;
				if ((code = reply_code(s)) != 0)
					break;
			}
			if (code != st->expect) {
				sess_fail(s, "expected %d, got: %.*s", st->expect, (int)strcspn(s->r, "\r\n"), s->r);
				goto fail;
			}
			if (st->kind == K_MSG)
				in_msgs++;
			s->rlen = 0;
			s->st++;
			s->sending = true;
			continue;
		}
		}
	}
fail:
fail_closed:
	sess_close(s);
	sess_start(s);
}

/* start the next session in this slot, if any is left (a session that fails at once counts as done) */
static int
sess_start(struct sess *s)
{
	struct epoll_event e;
	int one = 1;

	for (;;) {
		memset(s, 0, sizeof(*s));
		s->fd = -1;
		if (started >= m)
			return 0;
		started++;
		s->t0 = s->tlast = now();
		s->st = steps;
		s->sending = true;
		if ((s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
			sess_fail(s, "socket: %s", strerror(errno));
			sess_close(s);
			continue;
		}
		setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		s->connecting = true;
		s->ev = EPOLLOUT;
		e.events = s->ev;
		e.data.ptr = s;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &e) < 0) {
			perror("tls_load: epoll_ctl add");
			exit(2);
		}
		if (connect(s->fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS) {
			sess_fail(s, "connect: %s", strerror(errno));
			sess_close(s);
			continue;
		}
		return 0;
	}
}

static void
on_event(struct sess *s, uint32_t ev)
{
	s->tlast = now();
	if (s->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
			sess_fail(s, "connect: %s", strerror(err ? err : errno));
			sess_close(s);
			sess_start(s);
			return;
		}
		s->connecting = false;
		/* first step: K_READ (wait for the banner) or K_HS (write the ClientHello now) */
		if (s->st->kind == K_READ) {
			set_ev(s, EPOLLIN);
			return;
		}
	}
	(void)ev;
	advance(s);
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(double *v, long n, double p)
{
	if (n == 0)
		return 0;
	return v[(long)(p * (double)(n - 1) + 0.5)];
}

static void
usage(void)
{
	fprintf(stderr, "usage: tls_load -p port -x plain|starttls|implicit|hs-plain|hs-starttls|hs-implicit\n"
	                "       [-a 127.0.0.1] [-m 20000] [-s 20] [-l 2048] [-C cafile] [-N name] [-k]\n"
	                "       [-g X25519] [-v 1.3|1.2] [-c tls13-suites] [-T 30]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *mode = NULL, *cafile = NULL, *groups = "X25519", *suites = NULL;
	const char *ver = "1.3";
	long len = 2048, port = 0;
	bool verify = true, tls = false;
	struct sess *ss;
	struct epoll_event evs[256];
	struct rusage ru;
	double t0, t1, last_scan;
	int opt;

	while ((opt = getopt(argc, argv, "a:p:x:m:s:l:C:N:kg:v:c:T:")) != -1) {
		switch (opt) {
		case 'a': addr = optarg; break;
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 'x': mode = optarg; break;
		case 'm': m = strtol(optarg, NULL, 10); break;
		case 's': conc = strtol(optarg, NULL, 10); break;
		case 'l': len = strtol(optarg, NULL, 10); break;
		case 'C': cafile = optarg; break;
		case 'N': sni = optarg; break;
		case 'k': verify = false; break;
		case 'g': groups = optarg; break;
		case 'v': ver = optarg; break;
		case 'c': suites = optarg; break;
		case 'T': timeout_s = strtod(optarg, NULL); break;
		default: usage();
		}
	}
	if (mode == NULL || port <= 0 || port > 65535 || m < 1 || conc < 1 || len < 0 || timeout_s <= 0)
		usage();
	for (size_t i = 0; i < sizeof(MODES) / sizeof(MODES[0]); i++)
		if (!strcmp(mode, MODES[i].name))
			steps = MODES[i].steps;
	if (steps == NULL)
		usage();
	for (const struct step *st = steps; st->kind != K_END; st++)
		tls |= st->kind == K_HS;
	if (conc > m)
		conc = m;
	memset(&dst, 0, sizeof(dst));
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &dst.sin_addr) != 1)
		usage();
	signal(SIGPIPE, SIG_IGN);

	/* the message: 4 headers, then len bytes of 80-column lines, then the dot */
	{
		static const char hdr[] = "From: <sender@bench.test>\r\nTo: <rcpt@bench.test>\r\n"
		                          "Date: Sun, 29 Nov 2026 00:00:00 +0000\r\n"
		                          "Message-Id: <tls-load@bench.test>\r\n\r\n";
		size_t off = sizeof(hdr) - 1;

		msg = malloc(off + (size_t)len + 8);
		memcpy(msg, hdr, off);
		for (long left = len; left > 0;) {
			long line = left >= 80 ? 80 : left;

			if (line >= 2) {
				memset(msg + off, 'x', (size_t)line - 2);
				memcpy(msg + off + line - 2, "\r\n", 2);
			} else {
				msg[off] = 'x'; /* 1 byte left: one "x" line (3 bytes) */
				memcpy(msg + off + 1, "\r\n", 2);
				off += 3;
				break;
			}
			off += (size_t)line;
			left -= line;
		}
		memcpy(msg + off, ".\r\n", 3);
		msglen = off + 3;
	}

	if (tls) {
		ctx = SSL_CTX_new(TLS_client_method());
		if (ctx == NULL)
			goto ssl_err;
		int v = !strcmp(ver, "1.2") ? TLS1_2_VERSION : TLS1_3_VERSION;

		SSL_CTX_set_min_proto_version(ctx, v);
		SSL_CTX_set_max_proto_version(ctx, v);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* every handshake a full one */
		if (SSL_CTX_set1_groups_list(ctx, groups) != 1)
			goto ssl_err;
		if (suites != NULL && SSL_CTX_set_ciphersuites(ctx, suites) != 1)
			goto ssl_err;
		if (verify) {
			if (cafile == NULL || SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1)
				goto ssl_err;
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		}
	}
	hs_lat = calloc((size_t)m, sizeof(double));
	sess_lat = calloc((size_t)m, sizeof(double));
	ss = calloc((size_t)conc, sizeof(*ss));
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || hs_lat == NULL || sess_lat == NULL || ss == NULL) {
		perror("tls_load");
		return 2;
	}

	t0 = last_scan = now();
	for (long i = 0; i < conc; i++)
		sess_start(&ss[i]);
	while (done < m) {
		int n = epoll_wait(ep, evs, 256, 500);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("tls_load: epoll_wait");
			return 2;
		}
		for (int i = 0; i < n; i++)
			on_event(evs[i].data.ptr, evs[i].events);
		if (now() - last_scan >= 0.5) { /* stalled sessions */
			double t = last_scan = now();

			for (long i = 0; i < conc; i++) {
				if (ss[i].fd >= 0 && t - ss[i].tlast > timeout_s) {
					sess_fail(&ss[i], "no progress for %.0f s", timeout_s);
					sess_close(&ss[i]);
					sess_start(&ss[i]);
				}
			}
		}
	}
	t1 = now();
	getrusage(RUSAGE_SELF, &ru);
	qsort(hs_lat, (size_t)n_hs_lat, sizeof(double), cmp_d);
	qsort(sess_lat, (size_t)n_sess_lat, sizeof(double), cmp_d);
	printf("mode=%s sessions=%ld ok=%ld failed=%ld msgs=%ld handshakes=%ld tls_other=%ld wall_s=%.3f "
	       "sessions_per_s=%.1f cpu_s=%.3f us_per_session=%.1f hs_ms_p50=%.3f hs_ms_p99=%.3f "
	       "sess_ms_p50=%.3f sess_ms_p99=%.3f verify=%s %s\n",
	    mode, started, n_sess_lat, failed, in_msgs, hs_done, tls_other, t1 - t0, (double)done / (t1 - t0),
	    ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
	    (ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6) /
	        (double)done * 1e6,
	    pct(hs_lat, n_hs_lat, 0.5) * 1e3, pct(hs_lat, n_hs_lat, 0.99) * 1e3, pct(sess_lat, n_sess_lat, 0.5) * 1e3,
	    pct(sess_lat, n_sess_lat, 0.99) * 1e3, tls ? (verify ? "on" : "off") : "-",
	    tls_desc[0] ? tls_desc : "tls_version=-");
	fflush(stdout);
	free(ss);
	free(hs_lat);
	free(sess_lat);
	free(msg);
	SSL_CTX_free(ctx);
	close(ep);
	return failed == 0 && n_sess_lat == m && tls_other == 0 ? 0 : 1;
ssl_err:
	ERR_print_errors_fp(stderr);
	fprintf(stderr, "tls_load: TLS setup failed\n");
	return 2;
}
