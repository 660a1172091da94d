/* proxy/session.c: session lifecycle, client input and commands */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "conntab.h"
#include "io.h"
#include "io_read.h"
#include "log.h"
#include "session.h"
#include "tls.h"
#include "worker.h"

#define CLIENT_INPUT_MAX (64 * 1024) /* unread client bytes before reads stop */
#define CLIENT_OUT_HIGH  (256 * 1024) /* unread replies before commands wait */
#define CLOSE_FLUSH_MS   10000       /* time to deliver the last reply */

static const char *const state_names[ST_COUNT] = {
	"CONNECT", "GREETED", "HELO", "MAIL", "RCPT", "DATA", "CLOSING",
};

static void sess_free(struct session *s);

/* sess_enter - the only writer of s->state */
void
sess_enter(struct session *s, enum sess_state st)
{
	assert(st < ST_COUNT);
	if (s->state == st)
		return;
	if (log_enabled(LOG_DEBUG))
		log_msg(LOG_DEBUG, "sid=%s ev=state from=%s to=%s", s->sid, state_names[s->state], state_names[st]);
	s->state = st;
}

/* ---- lifecycle ---- */

/* client_read_cb - bytes from the client */
static void
client_read_cb(struct bufferevent *bev, void *arg)
{
	sess_client_process(arg);
}

/* client_write_cb - output drained: finish a close, or undo backpressure */
static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (s->flags & SESS_F_CLOSING) {
		if (!s->tls && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			sess_free(s); /* TLS: tls_close() decides */
		return;
	}
	if ((s->flags & SESS_F_BPAUSED) && s->bbev != NULL) {
		s->flags &= ~SESS_F_BPAUSED;
		io_rd_enable(s->brd, EV_READ);
		bufferevent_trigger(s->bbev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS);
	}
	/* replies drained: commands held back for them may go on */
	sess_client_resume(s);
}

/* client_event_cb - EOF, error or timeout on the client side */
static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		tls_connected(s); /* the TLS handshake is done (the client may have said QUIT already) */
		return;
	}
	if (s->flags & SESS_F_CLOSING) {
		sess_free(s);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_WRITING)) {
		/* replies sat unread for a whole timeout: nothing more to say */
		sess_close(s, "timeout writing to client");
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (fifo_awaiting_backend(s) || (s->flags & SESS_F_CPAUSED) || policy_waiting(s)) {
			/* the client waits for us, it is not idle */
			io_rd_enable(s->crd, EV_READ);
			return;
		}
		s->close_reason = "timeout";
		{
			struct logrec r;

			logrec_begin(&r, LOG_INFO, "proto.error", s->sid, false);
			logrec_str(&r, "what", "timeout");
			logrec_str(&r, "state", state_names[s->state]);
			logrec_emit(&r);
		}
		if (s->state == ST_DATA) {
			/* the FIFO is empty in DATA: the 421 goes straight out */
			evbuffer_add_printf(bufferevent_get_output(bev), "421 4.4.2 %s Error: timeout exceeded\r\n",
			    s->cfg->hostname);
			sess_close(s, "timeout in DATA");
		}
		else if (fifo_local(s, CMD_UNKNOWN, "421 4.4.2 %s Error: timeout exceeded", s->cfg->hostname)) {
			TAILQ_LAST(&s->fifo, inflight_q)->close_after = true;
			fifo_flush(s);
		}
		return;
	}
	if ((what & BEV_EVENT_EOF) && (evbuffer_get_length(bufferevent_get_input(bev)) > 0 || policy_waiting(s) ||
	    (s->nfifo > 0 && s->state != ST_DATA))) {
		/*
		 * A half-close after pipelined commands, or a final dot still at the
		 * vote: answer them, then close. In DATA too while the client's last
		 * bytes are unread (the EOF can be seen before the read callback that
		 * would have taken them): they may hold the final dot.
		 */
		s->client_eof = true;
		sess_client_process(s);
		return;
	}
	if (s->tls && (what & BEV_EVENT_ERROR))
		tls_failed(s, what);
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		sess_close(s, s->state == ST_DATA ? "lost connection in DATA" : "lost connection");
}

/* sess_client_callbacks - see session.h: (re)arm the client bufferevent */
void
sess_client_callbacks(struct session *s)
{
	struct timeval tv = tv_ms(s->state == ST_DATA ? s->cfg->t_data : s->cfg->t_idle);

	bufferevent_setcb(s->cbev, client_read_cb, client_write_cb, client_event_cb, s);
	io_rd_set_read_high(s->crd, CLIENT_INPUT_MAX);
	io_rd_set_timeouts(s->crd, &tv, &tv);
	io_rd_enable(s->crd, EV_READ | EV_WRITE);
}

/* deadline_cb - the whole-session time limit */
static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	/* closing anyway: the 421 goes out ahead of anything still owed */
	if (s->state != ST_DATA && s->state != ST_CONNECT)
		evbuffer_add_printf(bufferevent_get_output(s->cbev),
		    "421 4.4.2 %s Error: session time limit exceeded\r\n", s->cfg->hostname);
	sess_close(s, "session time limit");
}

/* sess_refuse - over a limit before the session exists: 421 and close */
static void
sess_refuse(int fd, const struct config *cfg, const char *ip, const char *why)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "421 4.7.0 %s Error: %s; try again later\r\n", cfg->hostname, why);
	struct logrec r;

	(void)!write(fd, buf, (size_t)n);
	evutil_closesocket(fd);
	logrec_begin(&r, LOG_NOTICE, "conn.refuse", NULL, false);
	logrec_str(&r, "client", ip);
	logrec_str(&r, "reason", why);
	logrec_emit(&r);
}

/* sess_start - see session.h */
void
sess_start(struct worker *w, int fd, const struct sockaddr *sa, socklen_t salen, unsigned lflags)
{
	struct config *cfg = cfg_current_get();
	struct session *s = NULL;
	char ip[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;
	enum conntab_rc crc;
	struct timeval tv;

	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	}
	if (cfg == NULL) {
		evutil_closesocket(fd);
		return;
	}
	if (w->draining) {
		sess_refuse(fd, cfg, ip, "service shutting down");
		cfg_unref(cfg);
		return;
	}
	if (auth_blocked_at_connect(cfg, sa, fd, ip)) {
		evutil_closesocket(fd);
		cfg_unref(cfg);
		return;
	}
	crc = conntab_acquire(sa, cfg->max_sessions, cfg->max_per_ip);
	if (crc != CONNTAB_OK) {
		sess_refuse(fd, cfg, ip,
		    crc == CONNTAB_PER_IP ? "too many connections from your address" : "too many connections");
		cfg_unref(cfg);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto fail;
	s->flags |= SESS_F_COUNTED;
	s->w = w;
	s->cfg = cfg;
	memcpy(&s->client_sa, sa, MIN((size_t)salen, sizeof(s->client_sa)));
	memcpy(s->client_ip, ip, sizeof(s->client_ip));
	s->client_port = port;
	s->lflags = lflags;
	s->t_start = clock_mono_ms();
	TAILQ_INIT(&s->fifo);
	linebuf_init(&s->cline, cfg->line_length);
	reply_parser_init(&s->brep, cfg->reply_length);
	worker_sid(w, s->sid);
	TAILQ_INSERT_TAIL(&w->sessions, s, link);
	w->nsessions++;

	/* the listener accepted it with SOCK_NONBLOCK already */
	s->cbev = tls_client_bev(s, fd);
	if (s->cbev == NULL) {
		evutil_closesocket(fd);
		sess_close(s, "out of memory");
		return;
	}
	if ((s->crd = io_rd_new(s->cbev)) == NULL) {
		bufferevent_free(s->cbev); /* closes fd */
		s->cbev = NULL;
		sess_close(s, "out of memory");
		return;
	}
	sess_client_callbacks(s);
	s->ev_deadline = evtimer_new(w->base, deadline_cb, s);
	if (s->ev_deadline != NULL) {
		tv = tv_ms(cfg->t_session);
		evtimer_add(s->ev_deadline, &tv);
	}
	{
		struct logrec r;

		logrec_begin(&r, LOG_INFO, "conn.open", s->sid, false);
		logrec_str(&r, "client", s->client_ip);
		logrec_int(&r, "port", s->client_port);
		logrec_emit(&r);
	}
	if (policy_start(s))
		return;         /* the filters greet (or refuse) when the connect stage voted */
	backend_open(s, false); /* on failure it queued a 421 */
	fifo_flush(s);          /* a reused backend: our 220 goes out now */
	return;
fail:
	conntab_release(sa);
	evutil_closesocket(fd);
	cfg_unref(cfg);
}

/* sess_log_summary - Postfix-style "disconnect from" line */
static void
sess_log_summary(struct session *s, const char *reason)
{
	static const enum cmd_verb shown[] = {
		CMD_HELO, CMD_EHLO, CMD_MAIL, CMD_RCPT, CMD_DATA, CMD_RSET, CMD_NOOP, CMD_QUIT,
		CMD_VRFY, CMD_STARTTLS, CMD_AUTH, CMD_UNKNOWN,
	};
	struct logrec r;
	unsigned total = 0;
	char buf[32];

	/* also a decision record: the last line of the session's story (sluicectl why) */
	logrec_begin(&r, LOG_INFO, "conn.close", s->sid, true);
	logrec_str(&r, "client", s->client_ip);
	logrec_int(&r, "port", s->client_port);
	if (s->helo != NULL)
		logrec_str(&r, "helo_name", s->helo); /* "helo" is the count of HELO commands */
	for (size_t i = 0; i < nitems(shown); i++) {
		enum cmd_verb v = shown[i];

		if (s->cnt[v] == 0)
			continue;
		total += s->cnt[v];
		if (s->ok[v] == s->cnt[v] || v == CMD_UNKNOWN)
			snprintf(buf, sizeof(buf), "%u", s->cnt[v]);
		else
			snprintf(buf, sizeof(buf), "%u/%u", s->ok[v], s->cnt[v]);
		{
			char key[16];
			size_t k;

			for (k = 0; cmd_verb_name(v)[k] != '\0' && k + 1 < sizeof(key); k++) {
				char c = cmd_verb_name(v)[k];

				key[k] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
			}
			key[k] = '\0';
			logrec_str(&r, key, buf);
		}
	}
	logrec_int(&r, "commands", total);
	logrec_int(&r, "errors", s->errors);
	logrec_int(&r, "msgs", s->msgs_ok);
	logrec_int(&r, "backend_conns", s->b_conns);
	if (s->tlsi != NULL) {
		logrec_str(&r, "tls", s->tlsi->version);
		logrec_str(&r, "cipher", s->tlsi->cipher);
	}
	if (s->auth_user != NULL)
		logrec_str(&r, "auth_user", s->auth_user);
	snprintf(buf, sizeof(buf), "%.3f", (double)(clock_mono_ms() - s->t_start) / 1000.0);
	logrec_str(&r, "duration", buf);
	logrec_str(&r, "state", state_names[s->state]);
	logrec_str(&r, "result", reason);
	logrec_emit(&r);
}

/*
 * client_linger - the client may still be sending (pipelined input left, or
 * a close that was not its QUIT): hand the socket to linger.h, which closes
 * it with a FIN after the last reply instead of an RST.
 */
static void
client_linger(struct session *s)
{
	int fd = s->cbev != NULL ? bufferevent_getfd(s->cbev) : -1;
	int n = 0;

	if (fd < 0 || s->tls || s->client_eof)
		return;
	if (evbuffer_get_length(bufferevent_get_input(s->cbev)) == 0 &&
	    ((s->close_reason != NULL && strcmp(s->close_reason, "quit") == 0) ||
		ioctl(fd, FIONREAD, &n) < 0 || n == 0))
		return;
	io_rd_free(s->crd); /* its event on fd goes first */
	s->crd = NULL;
	bufferevent_setfd(s->cbev, -1); /* the bufferevent lets go of fd */
	linger_close(&s->w->lingers, s->w->base, fd);
}

/* free_later_cb - the deferred free (never inside our own callbacks) */
static void
free_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct worker *w = s->w;

	TAILQ_REMOVE(&w->sessions, s, link);
	w->nsessions--;
	policy_free(s); /* cancels lookups: no filter calls back after this */
	data_free(s);
	while (!TAILQ_EMPTY(&s->fifo))
		fifo_free_entry(s, TAILQ_FIRST(&s->fifo));
	linebuf_release(&s->cline);
	reply_parser_release(&s->brep);
	if (s->bcork != NULL)
		evbuffer_free(s->bcork);
	client_linger(s);
	io_rd_free(s->crd);
	if (s->cbev != NULL)
		bufferevent_free(s->cbev);
	if (s->ev_deadline != NULL)
		event_free(s->ev_deadline);
	if (s->ev_tlsclose != NULL)
		event_free(s->ev_tlsclose);
	if (s->flags & SESS_F_COUNTED)
		conntab_release((struct sockaddr *)&s->client_sa);
	for (unsigned i = 0; i < s->nrcpt; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	free(s->mail_from);
	free(s->helo);
	free(s->helo_line);
	free(s->tlsi);
	free(s->auth_try);
	free(s->auth_user);
	free(s->b_auth_mechs);
	cfg_unref(s->cfg);
	free(s);
	worker_session_gone(w);
}

/* sess_free_later - see session.h */
void
sess_free_later(struct session *s)
{
	sess_free(s);
}

/* sess_free - schedule the free on the loop */
static void
sess_free(struct session *s)
{
	struct timeval zero = { 0, 0 };

	if (s->flags & SESS_F_FREEING)
		return;
	s->flags |= SESS_F_FREEING;
	if (s->crd != NULL)
		io_rd_disable(s->crd, EV_READ | EV_WRITE);
	if (event_base_once(s->w->base, -1, EV_TIMEOUT, free_later_cb, s, &zero) < 0)
		log_msg(LOG_ERR, "sid=%s ev=daemon.error what=deferred_free", s->sid);
}

/* sess_close - see session.h */
void
sess_close(struct session *s, const char *reason)
{
	struct timeval tv = tv_ms(CLOSE_FLUSH_MS);

	if (s->flags & SESS_F_CLOSING)
		return;
	s->flags |= SESS_F_CLOSING;
	if (s->close_reason == NULL)
		s->close_reason = reason;
	if (s->state == ST_DATA) {
		struct logrec r;

		logrec_begin(&r, LOG_NOTICE, "txn.abort", s->sid, true);
		logrec_str(&r, "client", s->client_ip);
		logrec_str(&r, "helo", s->helo);
		logrec_str(&r, "from", s->mail_from);
		logrec_strv(&r, "rcpts", s->rcpts, MIN(s->nrcpt, SESS_MAX_RCPT_LOG));
		logrec_str(&r, "reason", reason);
		logrec_emit(&r);
	}
	/* the session is over for the limits now (before its summary is out: who reads the
	 * log and connects again must find the slot free), not when its memory goes */
	if (s->flags & SESS_F_COUNTED) {
		conntab_release((struct sockaddr *)&s->client_sa);
		s->flags &= ~SESS_F_COUNTED;
	}
	sess_log_summary(s, reason);
	backend_quit(s); /* never a dot: an unfinished message is dropped */
	if (s->ev_deadline != NULL)
		evtimer_del(s->ev_deadline);
	if (s->cbev == NULL) {
		sess_free(s);
		return;
	}
	if (s->crd != NULL)
		io_rd_disable(s->crd, EV_READ);
	if (s->tls) {
		tls_close(s); /* last replies, then close_notify, then free */
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(s->cbev)) == 0) {
		sess_free(s);
		return;
	}
	/* deliver the last reply first; client_write_cb frees */
	io_rd_set_timeouts(s->crd, NULL, &tv);
	bufferevent_setwatermark(s->cbev, EV_WRITE, 0, 0);
	bufferevent_enable(s->cbev, EV_WRITE);
}

/* sess_shutdown - see session.h */
void
sess_shutdown(struct session *s)
{
	if (s->flags & SESS_F_CLOSING)
		return;
	if (s->state != ST_DATA && s->cbev != NULL)
		evbuffer_add_printf(bufferevent_get_output(s->cbev),
		    "421 4.3.2 %s Service shutting down, closing connection\r\n", s->cfg->hostname);
	sess_close(s, "shutdown");
}

/* ---- the client's commands ---- */

/* sess_txn_reset - forget the envelope (RSET, HELO, end of message) */
void
sess_txn_reset(struct session *s)
{
	free(s->mail_from);
	s->mail_from = NULL;
	for (unsigned i = 0; i < s->nrcpt; i++)
		free(s->rcpts[i]);
	s->nrcpt = 0;
	s->rcpt_pending = 0;
	s->txn_lost = false;
	s->txn_seq++; /* late replies of the old transaction are not this one's */
	policy_txn_reset(s);
	if (s->state == ST_MAIL || s->state == ST_RCPT)
		sess_enter(s, ST_HELO);
}

/* sess_client_resume - the FIFO drained: read the client again */
void
sess_client_resume(struct session *s)
{
	if (s->flags & SESS_F_CLOSING)
		return;
	if (policy_fifo_drained(s))
		return; /* a held DATA went on (and resumed reading if it may) */
	if (s->client_eof) {
		/*
		 * No read event will come after EOF, so process here; but not when
		 * processing could not go on anyway: a gate or the vote resumes us
		 * when it is done, client_write_cb when the replies drained. (This
		 * is called from fifo_flush at the end of sess_client_process:
		 * processing again without progress would recurse without end.)
		 */
		if (!policy_waiting(s) && evbuffer_get_length(bufferevent_get_output(s->cbev)) <= CLIENT_OUT_HIGH)
			sess_client_process(s);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_input(s->cbev)) > 0)
		bufferevent_trigger(s->cbev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* wipe_line - clear a line that carried credentials */
static void
wipe_line(struct linebuf *lb)
{
	volatile char *v = lb->buf;

	for (size_t i = 0; v != NULL && i < lb->len; i++)
		v[i] = 0;
}

/* sess_client_process - see session.h: read commands while allowed */
void
sess_client_process(struct session *s)
{
	struct evbuffer *in;

	if (s->in_process)
		return;
	s->in_process = true;
	while (!(s->flags & SESS_F_CLOSING)) {
		struct evbuffer_iovec v;
		size_t used;
		enum parse_rc rc;

		if (s->state == ST_DATA) {
			data_process(s);
			if (s->state == ST_DATA)
				break;
			continue;
		}
		if (s->state == ST_CONNECT || s->state == ST_CLOSING)
			break;
		if (s->barrier) {
			if (s->nfifo > 0)
				break;
			s->barrier = false;
		}
		if (s->nfifo >= s->cfg->max_inflight)
			break;
		if (policy_waiting(s))
			break; /* a command is held at a gate: gate_done() resumes */
		if (evbuffer_get_length(bufferevent_get_output(s->cbev)) > CLIENT_OUT_HIGH)
			break; /* the client does not read its replies: client_write_cb resumes */
		in = bufferevent_get_input(s->cbev);
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		rc = linebuf_feed(&s->cline, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
		switch (rc) {
		case PARSE_MORE:
			continue;
		case PARSE_TOO_LONG:
			proto_error(s, 500, "5.5.2", "Error: line too long");
			break;
		case PARSE_BAD:
			sess_close(s, "out of memory");
			break;
		case PARSE_OK:
			if (s->pol != NULL && evbuffer_get_length(in) > 0 &&
			    !(s->esmtp && s->state >= ST_HELO && s->b_pipelining))
				policy_fact(s, "proto.pipelined", true); /* ahead of replies, PIPELINING not offered */
			if (s->sasl_wait) {
				/* a SASL response, not a command: relayed, then wiped */
				auth_response(s, s->cline.buf, s->cline.len);
				wipe_line(&s->cline);
			} else {
				sess_command(s, s->cline.buf, s->cline.len);
				if (s->cnt[CMD_AUTH] != 0 && s->cline.len > 5 && ascii_ncasecmp(s->cline.buf, "AUTH ", 5) == 0)
					wipe_line(&s->cline); /* an initial response carries the password */
			}
			break;
		case PARSE_RC_COUNT:
			break;
		}
		linebuf_clear(&s->cline);
		fifo_flush(s);
	}
	if (!(s->flags & SESS_F_CLOSING))
		linebuf_shrink(&s->cline, 512);
	s->in_process = false;
	if (!(s->flags & SESS_F_CLOSING))
		fifo_flush(s);
	if (s->client_eof && s->nfifo == 0 && !policy_waiting(s) && !(s->flags & SESS_F_CLOSING) &&
	    evbuffer_get_length(bufferevent_get_input(s->cbev)) == 0) /* everything it sent is answered */
		sess_close(s, s->state == ST_DATA ? "lost connection in DATA" : "lost connection");
}
