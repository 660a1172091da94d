/* proxy/session_cmd.c: the client's commands: sequence checks, policy gates, relaying */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "config.h"
#include "log.h"
#include "session.h"
#include "tls.h"

/* proto_error - see session.h: count a client error and answer it */
void
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

/* sess_command - see session.h: one complete client command line */
void
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

