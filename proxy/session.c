/* proxy/session.c: session lifecycle, client input and commands */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "conntab.h"
#include "io.h"
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
static void sess_command(struct session *s, const char *line, size_t len);

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
		bufferevent_enable(s->bbev, EV_READ);
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
			bufferevent_enable(bev, EV_READ);
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
	if ((what & BEV_EVENT_EOF) && s->state != ST_DATA &&
	    (s->nfifo > 0 || evbuffer_get_length(bufferevent_get_input(bev)) > 0)) {
		/* a half-close after pipelined commands: answer them, then close */
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
	bufferevent_setwatermark(s->cbev, EV_READ, 0, CLIENT_INPUT_MAX);
	bufferevent_set_timeouts(s->cbev, &tv, &tv);
	bufferevent_enable(s->cbev, EV_READ | EV_WRITE);
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
	if (s->cbev != NULL)
		bufferevent_disable(s->cbev, EV_READ | EV_WRITE);
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
	bufferevent_disable(s->cbev, EV_READ);
	if (s->tls) {
		tls_close(s); /* last replies, then close_notify, then free */
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(s->cbev)) == 0) {
		sess_free(s);
		return;
	}
	/* deliver the last reply first; client_write_cb frees */
	bufferevent_set_timeouts(s->cbev, NULL, &tv);
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
		sess_client_process(s);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_input(s->cbev)) > 0)
		bufferevent_trigger(s->cbev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* proto_error - count a client error and answer it */
static void
proto_error(struct session *s, int code, const char *enh, const char *text)
{
	struct logrec r;
	struct inflight *fi;

	s->errors++;
	logrec_begin(&r, LOG_INFO, "proto.error", s->sid, false);
	logrec_str(&r, "client", s->client_ip);
	logrec_str(&r, "error", text);
	logrec_int(&r, "count", s->errors);
	logrec_emit(&r);
	if (s->errors >= s->cfg->max_errors) {
		fi = fifo_local(s, CMD_UNKNOWN, "421 4.7.0 %s Error: too many errors", s->cfg->hostname);
		if (fi != NULL) {
			fi->close_after = true;
			s->close_reason = "too many errors";
			sess_enter(s, ST_CLOSING);
		}
		return;
	}
	fifo_local(s, CMD_UNKNOWN, "%d %s %s", code, enh, text);
}

/* forward - relay the client's command line to the backend */
static struct inflight *
forward(struct session *s, enum cmd_verb verb, const char *line, size_t len)
{
	struct inflight *fi;

	if (!backend_ensure(s))
		return NULL;
	fi = fifo_push(s, FI_CLIENT, FW_CMD, verb);
	if (fi == NULL || (fi->cmd = malloc(len)) == NULL) {
		sess_close(s, "out of memory");
		return NULL;
	}
	memcpy(fi->cmd, line, len);
	fi->cmdlen = len;
	fi->txn = s->txn_seq;
	return fi;
}

/* cmd_helo - HELO/EHLO: learn the name, XCLIENT first, then relay */
static void
cmd_helo(struct session *s, const struct smtp_cmd *c, const char *line, size_t len)
{
	char *helo = strndup(c->arg, MIN(c->arglen, 255));
	char *hl = malloc(len + 1); /* NUL-terminated: replayed with strdup() */

	if (helo == NULL || hl == NULL) {
		free(helo);
		free(hl);
		sess_close(s, "out of memory");
		return;
	}
	memcpy(hl, line, len);
	hl[len] = '\0';
	if (!policy_gate(s, SL_STAGE_HELO, line, len, helo)) {
		free(helo);
		free(hl);
		return;
	}
	/* a new backend connection needs no replay: this command is the HELO */
	if (s->bbev == NULL && backend_open(s, false) < 0) {
		free(helo);
		free(hl);
		return;
	}
	free(s->helo);
	s->helo = helo;
	free(s->helo_line);
	s->helo_line = hl;
	s->esmtp = c->verb == CMD_EHLO;
	sess_txn_reset(s);
	backend_prelude(s);
	if (forward(s, c->verb, line, len) == NULL)
		return;
	sess_enter(s, ST_HELO);
	s->barrier = true;
	backend_pump(s);
}

/* gate_path - policy_gate for MAIL/RCPT with the address as its subject */
static bool
gate_path(struct session *s, enum sl_stage st, const struct smtp_cmd *c, const char *line, size_t len)
{
	char *path = strndup(c->path, c->pathlen);
	bool go;

	if (path == NULL) {
		sess_close(s, "out of memory");
		return false;
	}
	go = policy_gate(s, st, line, len, path);
	free(path);
	return go;
}

/* cmd_mail - MAIL FROM */
static void
cmd_mail(struct session *s, const struct smtp_cmd *c, const char *line, size_t len)
{
	struct inflight *fi;

	if (s->txn_lost)
		sess_txn_reset(s);
	if (s->state == ST_GREETED) {
		fifo_local(s, CMD_MAIL, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->state == ST_MAIL || s->state == ST_RCPT) {
		fifo_local(s, CMD_MAIL, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if ((s->lflags & LISTEN_REQUIRE_TLS) && !s->tls) {
		fifo_local(s, CMD_MAIL, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (s->auth_user != NULL && s->cfg->auth_senders != NULL) {
		char *from = strndup(c->path, c->pathlen);
		bool ok = from != NULL && auth_sender_ok(s, from);

		free(from);
		if (!ok)
			return;
	}
	if (c->has_size && c->size > s->cfg->message_size) {
		fifo_local(s, CMD_MAIL, "552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	if (s->pol != NULL && !gate_path(s, SL_STAGE_MAIL, c, line, len))
		return;
	s->txn_seq++;
	fi = forward(s, CMD_MAIL, line, len);
	if (fi == NULL)
		return;
	free(s->mail_from);
	s->mail_from = strndup(c->path, c->pathlen);
	sess_enter(s, ST_MAIL);
	backend_pump(s);
}

/* cmd_rcpt - RCPT TO */
static void
cmd_rcpt(struct session *s, const struct smtp_cmd *c, const char *line, size_t len)
{
	struct inflight *fi;

	if (s->state != ST_MAIL && s->state != ST_RCPT) {
		fifo_local(s, CMD_RCPT, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->txn_lost) {
		fifo_local(s, CMD_RCPT, "451 4.4.2 Error: transaction aborted by lost backend connection; send RSET");
		return;
	}
	if (s->nrcpt + s->rcpt_pending >= s->cfg->max_rcpt) {
		fifo_local(s, CMD_RCPT, "452 4.5.3 Error: too many recipients");
		return;
	}
	if (s->pol != NULL && !gate_path(s, SL_STAGE_RCPT, c, line, len))
		return;
	fi = forward(s, CMD_RCPT, line, len);
	if (fi == NULL)
		return;
	fi->arg = strndup(c->path, c->pathlen);
	s->rcpt_pending++;
	sess_enter(s, ST_RCPT);
	backend_pump(s);
}

/* cmd_data - DATA: relayed; the client is read again after the reply */
static void
cmd_data(struct session *s, const char *line, size_t len)
{
	if (s->state == ST_GREETED || s->state == ST_HELO) {
		fifo_local(s, CMD_DATA, s->state == ST_HELO ? "503 5.5.1 Error: need MAIL command" : "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->txn_lost) {
		fifo_local(s, CMD_DATA, "451 4.4.2 Error: transaction aborted by lost backend connection; send RSET");
		return;
	}
	if (s->state == ST_MAIL) {
		fifo_local(s, CMD_DATA, "503 5.5.1 Error: need RCPT command");
		return;
	}
	if (!policy_gate(s, SL_STAGE_DATA, line, len, NULL))
		return;
	if (forward(s, CMD_DATA, line, len) == NULL)
		return;
	s->barrier = true;
	backend_pump(s);
}

/* cmd_rset - RSET: relayed when a backend is there, else answered */
static void
cmd_rset(struct session *s, const char *line, size_t len)
{
	sess_txn_reset(s);
	if (s->bbev == NULL) {
		fifo_local(s, CMD_RSET, "250 2.0.0 Ok");
		return;
	}
	if (forward(s, CMD_RSET, line, len) != NULL)
		backend_pump(s);
}

/*
 * cmd_quit - QUIT: say goodbye after everything before it is answered.
 * Answered by sluice: the backend gets its QUIT when the session closes
 * (sess_close), without the client waiting for the backend's 221.
 */
static void
cmd_quit(struct session *s)
{
	struct inflight *fi = fifo_local(s, CMD_QUIT, "221 2.0.0 Bye");

	if (fi != NULL)
		fi->close_after = true;
	s->close_reason = "quit";
	sess_enter(s, ST_CLOSING);
}

/* cmd_refused - commands sluice does not relay */
static void
cmd_refused(struct session *s, const struct smtp_cmd *c)
{
	struct logrec r;

	switch ((enum cmd_verb)c->verb) {
	case CMD_NONSMTP: {
		struct inflight *fi;

		logrec_begin(&r, LOG_NOTICE, "proto.error", s->sid, false);
		logrec_str(&r, "client", s->client_ip);
		logrec_str(&r, "error", "non-SMTP command");
		logrec_strn(&r, "command", c->verbtxt, c->verblen);
		logrec_emit(&r);
		s->errors++;
		fi = fifo_local(s, CMD_NONSMTP, "521 5.7.0 Error: non-SMTP command; closing connection");
		if (fi != NULL) {
			fi->close_after = true;
			s->close_reason = "non-SMTP command";
			sess_enter(s, ST_CLOSING);
		}
		return;
	}
	case CMD_XCLIENT:
	case CMD_XFORWARD:
		/* only sluice speaks these to the backend */
		proto_error(s, 502, "5.5.1", "Error: command not implemented");
		return;
	case CMD_VRFY:
		fifo_local(s, c->verb, "502 5.5.1 VRFY command is disabled");
		return;
	case CMD_UNKNOWN:
		proto_error(s, 502, "5.5.2", "Error: command not recognized");
		return;
	default:
		proto_error(s, 502, "5.5.1", "Error: command not implemented");
		return;
	}
}

static void sess_dispatch(struct session *s, const struct smtp_cmd *c, const char *line, size_t len);

/* sess_command - one complete client command line */
static void
sess_command(struct session *s, const char *line, size_t len)
{
	struct smtp_cmd c;

	if (cmd_parse(line, len, &c) != PARSE_OK) {
		if (c.err != NULL && strstr(c.err, "bare <LF>") != NULL)
			policy_fact(s, "proto.bare_lf", true);
		proto_error(s, c.errcode, c.enh, c.err);
		return;
	}
	if (s->cnt[c.verb] < UINT16_MAX)
		s->cnt[c.verb]++;
	if (c.verb == CMD_NONSMTP)
		policy_fact(s, "proto.nonsmtp", true);
	if (policy_refused(s) && c.verb != CMD_QUIT) {
		/* refused at connect (RFC 5321 3.1): only QUIT is served */
		if (policy_refusal(s) != NULL)
			fifo_local(s, c.verb, "%s", policy_refusal(s));
		else
			proto_error(s, 503, "5.5.1", "Error: access denied; send QUIT");
		return;
	}
	sess_dispatch(s, &c, line, len);
}

/* sess_replay - see session.h: a command held at a policy gate goes on */
void
sess_replay(struct session *s, const char *line, size_t len)
{
	struct smtp_cmd c;

	if (cmd_parse(line, len, &c) == PARSE_OK)
		sess_dispatch(s, &c, line, len);
}

/* sess_dispatch - act on one parsed command */
static void
sess_dispatch(struct session *s, const struct smtp_cmd *cp, const char *line, size_t len)
{
	const struct smtp_cmd *c = cp;

	switch (c->verb) {
	case CMD_HELO:
	case CMD_EHLO:
		cmd_helo(s, c, line, len);
		break;
	case CMD_MAIL:
		cmd_mail(s, c, line, len);
		break;
	case CMD_RCPT:
		cmd_rcpt(s, c, line, len);
		break;
	case CMD_DATA:
		cmd_data(s, line, len);
		break;
	case CMD_RSET:
		cmd_rset(s, line, len);
		break;
	case CMD_NOOP:
		fifo_local(s, CMD_NOOP, "250 2.0.0 Ok");
		break;
	case CMD_HELP:
		fifo_local(s, CMD_HELP, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT");
		break;
	case CMD_QUIT:
		cmd_quit(s);
		break;
	case CMD_STARTTLS:
		tls_starttls(s, c);
		break;
	case CMD_AUTH:
		cmd_auth(s, c, line, len);
		break;
	case CMD_UNKNOWN:
	case CMD_BDAT:
	case CMD_VRFY:
	case CMD_EXPN:
	case CMD_ETRN:
	case CMD_XCLIENT:
	case CMD_XFORWARD:
	case CMD_NONSMTP:
	case CMD_VERB_COUNT:
		cmd_refused(s, c);
		break;
	}
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
	if (s->client_eof && s->nfifo == 0 && !(s->flags & SESS_F_CLOSING))
		sess_close(s, "lost connection");
}
