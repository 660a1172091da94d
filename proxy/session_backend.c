/* proxy/session_backend.c: the backend half: connect, prelude, replies */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "config.h"
#include "tls.h"
#include "esmtp.h"
#include "io.h"
#include "io_read.h"
#include "log.h"
#include "pool.h"
#include "session.h"
#include "worker.h"

#define CLIENT_OUT_HIGH (256 * 1024) /* replies queued for a client that does not read */

static void backend_read_cb(struct bufferevent *bev, void *arg);
static void backend_write_cb(struct bufferevent *bev, void *arg);
static void backend_event_cb(struct bufferevent *bev, short what, void *arg);

/* backend_log - see session.h: one backend.error line */
void
backend_log(struct session *s, int prio, const char *ev, const char *what, const char *detail)
{
	struct logrec r;

	logrec_begin(&r, prio, ev, s->sid, false);
	logrec_str(&r, "backend", s->cfg->backend.spec);
	logrec_str(&r, "what", what);
	if (detail != NULL)
		logrec_str(&r, "detail", detail);
	logrec_str(&r, "state", s->state == ST_DATA ? "DATA" : "command");
	logrec_emit(&r);
}

/* backend_timeouts - read timeout only while a reply is owed */
static void
backend_timeouts(struct session *s)
{
	struct timeval rd, wr;
	bool owed = false;
	const struct inflight *fi;
	uint8_t want;

	if (s->bbev == NULL)
		return;
	TAILQ_FOREACH(fi, &s->fifo, link)
		if (fi->stage == FS_SENT) {
			owed = true;
			break;
		}
	if (owed && fi->what == FW_GREETING) {
		/* still connecting: the connect timeouts stay in force */
		if (s->b_tmode != 0) {
			s->b_tmode = 0;
			rd = tv_ms(s->cfg->t_connect);
			io_rd_set_timeouts(s->brd, &rd, &rd);
		}
		return;
	}
	/* re-arming timers costs: only when the kind of wait changes */
	want = (uint8_t)(1 + owed + 2 * (s->state == ST_DATA));
	if (want == s->b_tmode)
		return;
	s->b_tmode = want;
	rd = tv_ms(s->cfg->t_command);
	wr = tv_ms(s->state == ST_DATA ? s->cfg->t_data : s->cfg->t_command);
	io_rd_set_timeouts(s->brd, owed ? &rd : NULL, &wr);
}

/* helo_replay - a new connection mid-session: XCLIENT, then the client's HELO again */
static int
helo_replay(struct session *s)
{
	struct inflight *fi;

	if (s->helo_line == NULL)
		return 0;
	backend_prelude(s);
	fi = fifo_push(s, FI_INTERNAL, FW_HELO_REPLAY, CMD_EHLO);
	if (fi == NULL || (fi->cmd = strdup(s->helo_line)) == NULL)
		return -1;
	fi->cmdlen = strlen(s->helo_line);
	return 0;
}

/* backend_open - see session.h; 0, or -1 with a 421 queued */
int
backend_open(struct session *s, bool replay)
{
	struct worker *w = s->w;
	struct inflight *fi;
	struct timeval tv = tv_ms(s->cfg->t_connect);
	bool first = s->b_conns == 0;
	struct pooled *p;

	if (s->cfg->backend_reuse && (p = pool_take(w, s->cfg->gen)) != NULL) {
		/* a connection that already greeted: XCLIENT announces this client */
		s->bbev = p->bev;
		s->brd = p->rd;
		bufferevent_setcb(s->bbev, backend_read_cb, backend_write_cb, backend_event_cb, s);
		io_rd_enable(s->brd, EV_READ | EV_WRITE);
		s->b_up = true;
		s->b_pipelining = p->pipelining;
		s->b_xclient = true;
		s->b_xattrs = p->xattrs;
		s->b_xclient_done = s->b_xclient_ok = false;
		s->b_txn_open = s->b_dead = false;
		s->b_tls = tls_client_mode(s->cfg->btls) != BTLS_OFF; /* pooled only after the prelude */
		s->b_starttls_due = false;
		s->b_uses = p->uses + 1;
		s->b_junk = p->junk;
		s->b_rejects = 0;
		s->b_tmode = 0xff; /* force backend_timeouts() to set them */
		s->b_conns++;
		free(p);
		reply_parser_release(&s->brep);
		reply_parser_init(&s->brep, s->cfg->reply_length);
		backend_timeouts(s);
		if (first) {
			if (fifo_local(s, CMD_UNKNOWN, "220 %s %s", s->cfg->hostname, s->cfg->banner) == NULL)
				return -1;
			sess_enter(s, ST_GREETED);
		} else if (replay && helo_replay(s) < 0) {
			goto fail;
		}
		return 0;
	}
	s->b_tls = false;
	s->b_starttls_due = tls_client_mode(s->cfg->btls) == BTLS_STARTTLS;
	if (tls_client_mode(s->cfg->btls) == BTLS_IMPLICIT) {
		SSL *ssl = tls_client_ssl(s->cfg->btls);

		s->bbev = ssl ? bufferevent_openssl_socket_new(w->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
		    BEV_OPT_CLOSE_ON_FREE) : NULL;
		if (s->bbev == NULL) {
			SSL_free(ssl);
			goto fail;
		}
		s->b_tls = true;
	} else {
		s->bbev = bufferevent_socket_new(w->base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (s->bbev == NULL)
		goto fail;
	bufferevent_setcb(s->bbev, backend_read_cb, backend_write_cb, backend_event_cb, s);
	bufferevent_set_timeouts(s->bbev, NULL, &tv);
	if (bufferevent_socket_connect(s->bbev, (struct sockaddr *)&s->cfg->backend.ss,
	        (int)s->cfg->backend.len) < 0 || (s->brd = io_rd_new(s->bbev)) == NULL) {
		bufferevent_free(s->bbev);
		s->bbev = NULL;
		goto fail;
	}
	io_rd_set_timeouts(s->brd, &tv, &tv);
	if (s->cfg->backend.ss.ss_family != AF_UNIX) {
		int one = 1;

		setsockopt(bufferevent_getfd(s->bbev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	io_rd_enable(s->brd, EV_READ | EV_WRITE);
	s->b_up = true;
	s->b_pipelining = s->b_xclient = s->b_xclient_done = s->b_xclient_ok = false;
	s->b_txn_open = s->b_dead = false;
	s->b_xattrs = 0;
	s->b_uses = 1;
	s->b_junk = s->b_rejects = 0;
	s->b_tmode = 0; /* the connect timeouts are in force */
	s->b_conns++;
	reply_parser_release(&s->brep);
	reply_parser_init(&s->brep, s->cfg->reply_length);
	/* the backend speaks first: the greeting is a reply with no command */
	fi = fifo_push(s, first ? FI_CLIENT : FI_INTERNAL, FW_GREETING, CMD_UNKNOWN);
	if (fi == NULL)
		goto fail;
	fi->stage = FS_SENT;
	if (replay && helo_replay(s) < 0)
		goto fail;
	return 0;
fail:
	backend_log(s, LOG_ERR, "backend.error", "connect", strerror(errno));
	backend_close(s);
	fi = fifo_local(s, CMD_UNKNOWN, "421 4.4.1 %s Error: mail server unavailable; try again later",
	    s->cfg->hostname);
	if (fi != NULL) {
		fi->close_after = true;
		s->close_reason = "backend unavailable";
	}
	return -1;
}

/* backend_ensure - a backend for the next command; false if none can be had */
bool
backend_ensure(struct session *s)
{
	if (s->bbev != NULL)
		return true;
	return backend_open(s, s->helo_line != NULL) == 0;
}

/* backend_tls_wrap - the backend said 220 to STARTTLS: TLS from here on */
static void
backend_tls_wrap(struct session *s, struct inflight *fi)
{
	SSL *ssl = tls_client_ssl(s->cfg->btls);
	struct bufferevent *bev;
	struct evbuffer *in = bufferevent_get_input(s->bbev);

	evbuffer_drain(in, evbuffer_get_length(in)); /* nothing may precede the handshake */
	io_rd_set_timeouts(s->brd, NULL, NULL);
	bev = ssl ? bufferevent_openssl_filter_new(s->w->base, s->bbev, ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE) : NULL;
	if (bev == NULL) {
		SSL_free(ssl);
		backend_fail(s, "TLS setup failed", true);
		return;
	}
	io_rd_free(s->brd); /* the filter has libevent read the socket for it */
	s->bbev = bev;
	s->b_tls = true;
	s->b_starttls_due = false;
	s->b_tmode = 0xff;
	if ((s->brd = io_rd_new(bev)) == NULL) {
		backend_fail(s, "out of memory", true);
		return;
	}
	bufferevent_setcb(s->bbev, backend_read_cb, backend_write_cb, backend_event_cb, s);
	io_rd_enable(s->brd, EV_READ | EV_WRITE);
	backend_timeouts(s);
	prelude_ehlo_queue(s, fi); /* RFC 3207: what the server offers over TLS may differ */
}

/* backend_close - drop the connection (an unfinished DATA is abandoned) */
void
backend_close(struct session *s)
{
	io_rd_free(s->brd);
	s->brd = NULL;
	if (s->bbev != NULL) {
		bufferevent_free(s->bbev);
		s->bbev = NULL;
	}
	/* held bytes were for that connection, never for the next one */
	if (s->bcork != NULL)
		evbuffer_drain(s->bcork, evbuffer_get_length(s->bcork));
	s->b_up = false;
	s->flags &= ~SESS_F_BPAUSED;
	if (s->flags & SESS_F_CPAUSED) {
		s->flags &= ~SESS_F_CPAUSED;
		if (s->cbev != NULL && !(s->flags & SESS_F_CLOSING)) {
			io_rd_enable(s->crd, EV_READ);
			sess_client_resume(s);
		}
	}
}

/*
 * backend_quit - a polite close: QUIT when the backend waits for a command
 * (so Postfix logs a normal disconnect), a plain close otherwise. Never
 * inside DATA, where "QUIT" would be message content, and never while a
 * reply is owed (DATA could turn into 354).
 */
void
backend_quit(struct session *s)
{
	bool idle = s->bbev != NULL && s->state != ST_DATA && !fifo_awaiting_backend(s) &&
	    s->brep.line.len == 0 && s->brep.rawlen == 0;

	backend_uncork(s);
	if (idle && s->cfg->backend_reuse && s->b_xclient_ok && !s->b_txn_open && !s->b_dead && !s->b_authed &&
	    s->auth_user == NULL &&
	    !s->txn_lost && s->b_rejects == 0 &&
	    pool_put(s->w, s->brd, s->cfg->gen, s->b_uses, s->b_junk, s->b_pipelining, s->b_xattrs)) {
		s->bbev = NULL; /* the pool owns both now */
		s->brd = NULL;
		backend_close(s);
		return;
	}
	if (idle)
		backend_write(s, "QUIT\r\n", 6);
	backend_close(s);
}

/* backend_write - to the backend, in order; held while corked */
void
backend_write(struct session *s, const char *p, size_t n)
{
	if (s->bbev == NULL)
		return;
	if (s->b_corked && s->bcork != NULL) {
		evbuffer_add(s->bcork, p, n);
		return;
	}
	io_send(s->bbev, p, n);
}

/* backend_cork - hold backend writes until backend_uncork (one write per pass) */
void
backend_cork(struct session *s)
{
	if (s->bcork == NULL)
		s->bcork = evbuffer_new();
	s->b_corked = s->bcork != NULL;
}

/* backend_uncork - write what was held: directly if nothing is queued */
void
backend_uncork(struct session *s)
{
	struct evbuffer *out;

	s->b_corked = false;
	if (s->bcork == NULL || evbuffer_get_length(s->bcork) == 0)
		return;
	if (s->bbev == NULL) {
		evbuffer_drain(s->bcork, evbuffer_get_length(s->bcork));
		return;
	}
	out = bufferevent_get_output(s->bbev);
	if (evbuffer_get_length(out) == 0 && io_direct_ok(s->bbev))
		evbuffer_write(s->bcork, bufferevent_getfd(s->bbev));
	if (evbuffer_get_length(s->bcork) > 0)
		evbuffer_add_buffer(out, s->bcork);
}

/* pipelinable - may more commands follow this one before its reply */
static bool
pipelinable(const struct inflight *fi)
{
	if (fi->what != FW_CMD)
		return false;
	return fi->verb == CMD_MAIL || fi->verb == CMD_RCPT || fi->verb == CMD_RSET ||
	    fi->verb == CMD_NOOP;
}

/* backend_send_line - write a command, mark it sent */
void
backend_send_line(struct session *s, struct inflight *fi, const char *line, size_t len)
{
	switch ((enum cmd_verb)fi->verb) {
	case CMD_HELO:
	case CMD_EHLO:
	case CMD_RSET:
	case CMD_NOOP:
	case CMD_VRFY:
	case CMD_XCLIENT:
		s->b_junk++; /* what Postfix counts against smtpd_junk_command_limit */
		break;
	default:
		break;
	}
	backend_write(s, line, len);
	fi->stage = FS_SENT;
}

/* backend_pump - write queued commands as far as RFC 2920 allows */
void
backend_pump(struct session *s)
{
	struct inflight *fi;
	bool waiting = false, all_pipelinable = true;

	if (s->bbev == NULL)
		return;
	TAILQ_FOREACH(fi, &s->fifo, link) {
		if (fi->kind == FI_LOCAL || fi->stage == FS_DONE)
			continue;
		if (fi->stage == FS_SENT) {
			waiting = true;
			all_pipelinable = all_pipelinable && pipelinable(fi);
			continue;
		}
		if (waiting && !(s->b_pipelining && all_pipelinable && fi->what == FW_CMD))
			break;
		backend_send_line(s, fi, fi->cmd, fi->cmdlen);
		free(fi->cmd);
		fi->cmd = NULL;
		waiting = true;
		all_pipelinable = all_pipelinable && pipelinable(fi);
	}
	backend_timeouts(s);
}

/*
 * backend_fail - the backend broke: answer what it owed, drop it.
 * A connection that failed (refused, dropped, timed out) yields 451 for the
 * commands it owed, and the session goes on with a new connection later. A
 * backend that broke the protocol (garbage, a reply nobody asked for) is not
 * to be trusted with this session any more: 421 and close.
 */
void
backend_fail(struct session *s, const char *why, bool protocol)
{
	struct inflight *fi, *next;
	const char *host = s->cfg->hostname;

	backend_log(s, LOG_WARNING, "backend.error", why, NULL);
	backend_close(s);
	if (s->state == ST_DATA)
		data_backend_lost(s);
	for (fi = TAILQ_FIRST(&s->fifo); fi != NULL; fi = next) {
		next = TAILQ_NEXT(fi, link);
		if (fi->kind == FI_LOCAL || fi->stage == FS_DONE)
			continue;
		if (fi->kind == FI_INTERNAL) {
			fifo_free_entry(s, fi);
			continue;
		}
		if (protocol && fi->what != FW_EOD) {
			fifo_set_replyf(fi, "421 4.4.2 %s Error: mail server protocol error; closing connection", host);
			fi->close_after = true;
			s->close_reason = "backend protocol error";
			continue;
		}
		switch (fi->what == FW_GREETING ? CMD_HELO : (enum cmd_verb)fi->verb) {
		case CMD_HELO:
		case CMD_EHLO:
			fifo_set_replyf(fi, "421 4.4.1 %s Error: mail server unavailable; try again later", host);
			fi->close_after = true;
			s->close_reason = "backend unavailable";
			break;
		case CMD_QUIT:
			fifo_set_replyf(fi, "221 2.0.0 Bye");
			break;
		case CMD_RSET:
			fifo_set_replyf(fi, "250 2.0.0 Ok");
			break;
		default:
			if (fi->what == FW_EOD)
				data_eod_lost(s, fi);
			else
				fifo_set_replyf(fi, "451 4.4.2 Error: lost connection to the mail server; try again later");
			break;
		}
	}
	if (s->state == ST_MAIL || s->state == ST_RCPT)
		s->txn_lost = true;
	fifo_flush(s);
}

/* greeting_reply - the backend's 220 becomes ours */
static void
greeting_reply(struct session *s, struct inflight *fi, const struct reply_parser *rp)
{
	if (fi->kind == FI_INTERNAL) {
		if (rp->code != 220)
			backend_fail(s, "greeting refused", false);
		return;
	}
	if (rp->code == 220) {
		fifo_set_replyf(fi, "220 %s %s", s->cfg->hostname, s->cfg->banner);
		sess_enter(s, ST_GREETED);
		return;
	}
	backend_log(s, LOG_WARNING, "backend.error", "greeting refused", NULL);
	if (rp->code >= 500)
		fifo_set_replyf(fi, "554 5.3.2 %s Service unavailable", s->cfg->hostname);
	else
		fifo_set_replyf(fi, "421 4.3.2 %s Service temporarily unavailable; try again later", s->cfg->hostname);
	fi->close_after = true;
	s->close_reason = "backend refused greeting";
}

/* cmd_reply - the backend answered a relayed client command */
static void
cmd_reply(struct session *s, struct inflight *fi, const struct reply_parser *rp)
{
	bool ok = rp->code >= 200 && rp->code < 400;

	fifo_set_reply(fi, rp->raw, rp->rawlen);
	if (ok && s->ok[fi->verb] < UINT16_MAX)
		s->ok[fi->verb]++;
	if (rp->code == 421) {
		/* the backend is closing: so is the session */
		s->b_dead = true;
		fi->close_after = true;
		s->close_reason = "backend said 421";
	}
	switch ((enum cmd_verb)fi->verb) {
	case CMD_EHLO:
		if (rp->code == 250) {
			struct esmtp_caps caps;
			char out[4096];
			size_t n;

			s->b_txn_open = false;
			esmtp_parse_caps(rp->raw, rp->rawlen, &caps);
			s->b_pipelining = caps.pipelining;
			const char *extra[3] = { NULL, NULL, NULL };
			char authline[160];
			int k = 0;

			if (s->cfg->tls != NULL && !s->tls)
				extra[k++] = "STARTTLS";
			free(s->b_auth_mechs);
			s->b_auth_mechs = caps.auth[0] ? strdup(caps.auth) : NULL;
			if (s->b_auth_mechs != NULL && auth_offered(s) && s->auth_user == NULL) {
				snprintf(authline, sizeof(authline), "AUTH %s", s->b_auth_mechs);
				extra[k++] = authline;
			}
			n = esmtp_rewrite_ehlo(rp->raw, rp->rawlen, s->cfg->hostname, s->cfg->message_size, extra, out,
			    sizeof(out));
			if (n > 0)
				fifo_set_reply(fi, out, n);
			else /* never the backend's own list: it names what we hide */
				fifo_set_replyf(fi, "250-%s\r\n250 SIZE %llu", s->cfg->hostname,
				    (unsigned long long)s->cfg->message_size);
		} else if (s->state == ST_HELO) {
			sess_enter(s, ST_GREETED);
		}
		break;
	case CMD_RSET:
		if (ok)
			s->b_txn_open = false;
		break;
	case CMD_HELO:
		if (rp->code == 250)
			s->b_txn_open = false;
		if (rp->code == 250)
			fifo_set_replyf(fi, "250 %s", s->cfg->hostname);
		else if (s->state == ST_HELO)
			sess_enter(s, ST_GREETED);
		break;
	case CMD_MAIL:
		if (ok)
			s->b_txn_open = true;
		else if (fi->txn == s->txn_seq && (s->state == ST_MAIL || s->state == ST_RCPT))
			sess_txn_reset(s);
		break;
	case CMD_RCPT:
		if (fi->txn != s->txn_seq)
			break; /* a reply for a transaction the client already left */
		if (s->rcpt_pending > 0)
			s->rcpt_pending--;
		if (ok && fi->arg != NULL && (s->state == ST_MAIL || s->state == ST_RCPT)) {
			if (s->nrcpt == s->rcpt_cap) {
				unsigned cap = s->rcpt_cap ? s->rcpt_cap * 2 : 4;
				char **nr = realloc(s->rcpts, sizeof(char *) * cap);

				if (nr == NULL)
					break;
				s->rcpts = nr;
				s->rcpt_cap = cap;
			}
			s->rcpts[s->nrcpt++] = fi->arg;
			fi->arg = NULL;
		}
		break;
	case CMD_DATA:
		if (rp->code == 354)
			data_begin(s);
		break;
	case CMD_AUTH:
		auth_reply(s, fi, rp);
		break;
	case CMD_QUIT:
		fifo_set_replyf(fi, "221 2.0.0 Bye");
		break;
	default:
		break;
	}
}

/* handle_reply - route one complete backend reply to its FIFO entry */
static void
handle_reply(struct session *s, struct inflight *fi, const struct reply_parser *rp)
{
	if (rp->code >= 400 && fi->what != FW_GREETING)
		s->b_rejects++; /* Postfix counted an error on this connection */
	if (log_enabled(LOG_DEBUG))
		log_msg(LOG_DEBUG, "sid=%s ev=backend.reply code=%d what=%u", s->sid, rp->code, fi->what);
	switch ((enum fi_what)fi->what) {
	case FW_GREETING:
		fi->stage = FS_DONE;
		greeting_reply(s, fi, rp);
		break;
	case FW_OUR_EHLO:
		fi->stage = FS_DONE;
		prelude_ehlo_reply(s, fi, rp);
		break;
	case FW_STARTTLS:
		fi->stage = FS_DONE;
		if (rp->code == 220) {
			backend_tls_wrap(s, fi);
		} else {
			backend_log(s, LOG_ERR, "backend.error", "STARTTLS refused", NULL);
			backend_fail(s, "STARTTLS refused", true);
		}
		break;
	case FW_XCLIENT:
		fi->stage = FS_DONE;
		/* Postfix answers 220 (a new greeting), smtp-sink 250 */
		s->b_xclient_ok = rp->code == 220 || rp->code == 250;
		if (s->b_xclient_ok) {
			s->b_txn_open = false;
		} else {
			/* never relay as sluice's own address: that may be a trusted one */
			s->w->caps_gen = 0; /* the backend changed: probe again */
			backend_fail(s, "XCLIENT refused", true);
		}
		break;
	case FW_HELO_REPLAY:
		fi->stage = FS_DONE;
		if (rp->code != 250)
			backend_fail(s, "HELO refused after reconnect", true);
		break;
	case FW_EOD:
		data_eod_reply(s, fi, rp);
		break;
	case FW_CMD:
	case FW_COUNT:
		cmd_reply(s, fi, rp);
		break;
	}
}

/* backend_read_cb - parse replies and hand them out in order */
static void
backend_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (s->bbev == bev && !(s->flags & SESS_F_CLOSING)) {
		struct evbuffer_iovec v;
		struct inflight *fi;
		size_t used;
		enum parse_rc rc;

		if (evbuffer_get_length(bufferevent_get_output(s->cbev)) > CLIENT_OUT_HIGH) {
			/* the client does not read its replies: stop reading the backend */
			s->flags |= SESS_F_BPAUSED;
			io_rd_disable(s->brd, EV_READ);
			return;
		}
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		rc = reply_parser_feed(&s->brep, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
		if (rc == PARSE_MORE)
			continue;
		if (rc != PARSE_OK) {
			backend_fail(s, s->brep.err ? s->brep.err : "bad reply", true);
			return;
		}
		TAILQ_FOREACH(fi, &s->fifo, link)
			if (fi->stage == FS_SENT)
				break;
		if (fi == NULL) {
			backend_fail(s, "unexpected reply", true);
			return;
		}
		handle_reply(s, fi, &s->brep);
		reply_parser_reset(&s->brep);
		if (s->bbev != bev)
			break;
		backend_pump(s);
		fifo_flush(s);
	}
	if (s->bbev == bev) {
		backend_timeouts(s);
	} else if (s->bbev != NULL && !(s->flags & SESS_F_CLOSING)) {
		/* the connection was wrapped in TLS (or replaced): go on with the new one */
		backend_pump(s);
		fifo_flush(s);
	}
}

/* backend_write_cb - output drained below the mark: read the client again */
static void
backend_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if ((s->flags & SESS_F_CPAUSED) && !(s->flags & SESS_F_CLOSING)) {
		s->flags &= ~SESS_F_CPAUSED;
		io_rd_enable(s->crd, EV_READ);
		sess_client_resume(s);
	}
}

/*
 * backend_retry - a reused connection hung up (or failed) before answering
 * the XCLIENT that announced this session's client: the backend closed it
 * as the session took it from the pool. The client did nothing wrong, so
 * open a fresh connection and go on there, once, instead of a 421. Only
 * while nothing but that XCLIENT was on the wire.
 */
static bool
backend_retry(struct session *s)
{
	struct inflight *fi, *x = NULL, *first, *last, *next;

	if (s->b_uses <= 1 || s->b_retried || s->state > ST_HELO)
		return false;
	TAILQ_FOREACH(fi, &s->fifo, link) {
		if (fi->kind != FI_LOCAL && fi->stage != FS_DONE) {
			x = fi;
			break;
		}
	}
	if (x == NULL || x->what != FW_XCLIENT || x->stage != FS_SENT)
		return false;
	for (fi = TAILQ_NEXT(x, link); fi != NULL; fi = TAILQ_NEXT(fi, link))
		if (fi->stage == FS_SENT)
			return false;
	s->b_retried = true;
	backend_log(s, LOG_NOTICE, "backend.retry", "reused connection lost before its XCLIENT reply",
	    "connecting afresh");
	first = TAILQ_NEXT(x, link);
	last = first != NULL ? TAILQ_LAST(&s->fifo, inflight_q) : NULL;
	fifo_free_entry(s, x);
	backend_close(s);
	s->b_xclient_done = false;
	if (backend_open(s, false) < 0)
		return false; /* the commands still owed get their 421 from backend_fail */
	backend_prelude(s);
	/* the client's commands go after the new connection's greeting and XCLIENT */
	for (fi = first; fi != NULL; fi = next) {
		next = fi == last ? NULL : TAILQ_NEXT(fi, link);
		TAILQ_REMOVE(&s->fifo, fi, link);
		TAILQ_INSERT_TAIL(&s->fifo, fi, link);
	}
	backend_pump(s);
	return true;
}

/* backend_timeout_what - what the backend did not do in time, for the log */
static const char *
backend_timeout_what(const struct session *s, struct bufferevent *bev, short what)
{
	const struct inflight *fi;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	TAILQ_FOREACH(fi, &s->fifo, link)
		if (fi->stage == FS_SENT)
			break;
	if (fi != NULL && fi->what == FW_GREETING) {
		if (getpeername(bufferevent_getfd(bev), (struct sockaddr *)&ss, &len) < 0)
			return "timeout connecting"; /* SYNs unanswered: a full listen queue, a filtering firewall */
		return "timeout waiting for greeting";
	}
	return (what & BEV_EVENT_READING) ? "timeout waiting for reply" : "timeout sending";
}

/* backend_event_cb - connected, EOF, error, timeout */
static void
backend_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_TIMEOUT) {
		backend_fail(s, backend_timeout_what(s, bev, what), false);
		return;
	}
	if ((what & BEV_EVENT_EOF) && !fifo_awaiting_backend(s) && s->state != ST_DATA) {
		/* an idle backend hung up (its own timeout): reconnect on demand */
		backend_log(s, LOG_INFO, "backend.error", "closed while idle", NULL);
		backend_close(s);
		if (s->state == ST_MAIL || s->state == ST_RCPT)
			s->txn_lost = true; /* its transaction went with it: 451s, not 503s */
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		int err = EVUTIL_SOCKET_ERROR();
		unsigned long tlserr = s->b_tls ? bufferevent_get_openssl_error(bev) : 0;
		char why[256];

		if (tlserr != 0) {
			tls_error(why, sizeof(why), tlserr);
			while (bufferevent_get_openssl_error(bev) != 0)
				;
			backend_log(s, LOG_ERR, "backend.error", "TLS", why);
			backend_fail(s, "TLS handshake or session failed", true);
			return;
		}
		if (backend_retry(s))
			return;
		backend_fail(s, err ? evutil_socket_error_to_string(err) : "connection error", false);
		return;
	}
	if (backend_retry(s))
		return;
	backend_fail(s, "connection closed", false);
}
