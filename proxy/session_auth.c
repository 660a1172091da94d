/* proxy/session_auth.c: AUTH relayed to the backend, the user learned, per-user policy */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "authfail.h"
#include "config.h"
#include "log.h"
#include "sasl.h"
#include "senders.h"
#include "session.h"

/*
 * The backend checks the credentials (Postfix with Dovecot SASL, qmail
 * with checkpassword): sluice relays AUTH and the client's SASL responses
 * line by line and reads only the user name on the way (PLAIN, LOGIN).
 * Lines that carry a password are wiped from sluice's buffers once they
 * are written to the backend and are never logged. The backend's 235 makes
 * the session authenticated: facts auth.user and auth.mechanism, DNS-list
 * verdicts skipped, the sender checked against the user's addresses, and
 * XCLIENT LOGIN= when a new backend connection is opened.
 */

/* auth_offered - see session.h */
bool
auth_offered(const struct session *s)
{
	switch (s->cfg->auth_offer) {
	case AUTH_OFFER_ALWAYS:
		return true;
	case AUTH_OFFER_TLS:
		return s->tls;
	default:
		return false;
	}
}

/* relay - one AUTH line to the backend; its reply comes back to auth_reply() */
static void
relay(struct session *s, const char *line, size_t len)
{
	struct inflight *fi;

	if (!backend_ensure(s))
		return;
	fi = fifo_push(s, FI_CLIENT, FW_CMD, CMD_AUTH);
	if (fi == NULL || (fi->cmd = malloc(len)) == NULL) {
		sess_close(s, "out of memory");
		return;
	}
	memcpy(fi->cmd, line, len);
	fi->cmdlen = len;
	fi->secret = true; /* wiped when freed */
	fi->txn = s->txn_seq;
	s->barrier = true; /* the client waits for 334 or the result */
	backend_pump(s);
}

/* cmd_auth - see session.h */
void
cmd_auth(struct session *s, const struct smtp_cmd *c, const char *line, size_t len)
{
	const char *ir;
	size_t irlen;
	enum sasl_mech mech;
	char user[SASL_USER_MAX] = "";

	if (!auth_offered(s) || s->b_auth_mechs == NULL) {
		s->errors++;
		fifo_local(s, CMD_AUTH, "503 5.5.1 Error: authentication not enabled");
		return;
	}
	if (s->state == ST_GREETED || !s->esmtp) {
		fifo_local(s, CMD_AUTH, "503 5.5.1 Error: send EHLO first");
		return;
	}
	if (s->auth_user != NULL) {
		fifo_local(s, CMD_AUTH, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (s->state == ST_MAIL || s->state == ST_RCPT) {
		fifo_local(s, CMD_AUTH, "503 5.5.1 Error: MAIL transaction in progress");
		return;
	}
	mech = sasl_auth_args(c->arg, c->arglen, &ir, &irlen);
	if (mech == SASL_NONE) {
		fifo_local(s, CMD_AUTH, "501 5.5.4 Syntax: AUTH mechanism");
		return;
	}
	if (ir != NULL && !(irlen == 1 && ir[0] == '=')) {
		if (mech == SASL_PLAIN)
			sasl_plain_user(ir, irlen, user, sizeof(user));
		else if (mech == SASL_LOGIN)
			sasl_login_user(ir, irlen, user, sizeof(user));
	}
	free(s->auth_try);
	s->auth_try = user[0] ? strdup(user) : NULL;
	s->auth_mech = (uint8_t)mech;
	s->auth_step = ir != NULL ? 1 : 0;
	relay(s, line, len);
}

/* auth_response - see session.h: a SASL response line (after 334) */
void
auth_response(struct session *s, const char *line, size_t len)
{
	size_t n = len;
	char user[SASL_USER_MAX] = "";

	s->sasl_wait = false;
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (s->auth_step == 0 && !(n == 1 && line[0] == '*')) {
		/* PLAIN's only response, or LOGIN's first (the user name) */
		if (s->auth_mech == SASL_PLAIN)
			sasl_plain_user(line, n, user, sizeof(user));
		else if (s->auth_mech == SASL_LOGIN)
			sasl_login_user(line, n, user, sizeof(user));
		if (user[0] != '\0') {
			free(s->auth_try);
			s->auth_try = strdup(user);
		}
	}
	s->auth_step++;
	relay(s, line, len);
}

/* auth_log - auth.ok / auth.fail (never a password: only the user name) */
static void
auth_log(struct session *s, const char *ev, int prio, const char *user, const struct reply_parser *rp)
{
	struct logrec r;
	size_t n = rp->rawlen;

	while (n > 0 && (rp->raw[n - 1] == '\n' || rp->raw[n - 1] == '\r'))
		n--;
	logrec_begin(&r, prio, ev, s->sid, true);
	logrec_str(&r, "client", s->client_ip);
	logrec_int(&r, "port", s->client_port);
	logrec_str(&r, "helo", s->helo);
	logrec_str(&r, "user", user);
	logrec_str(&r, "mechanism", sasl_mech_name((enum sasl_mech)s->auth_mech));
	logrec_strn(&r, "reply", rp->raw, MIN(n, 512));
	logrec_str(&r, "config", s->cfg->hash);
	logrec_emit(&r);
}

/* auth_reply - see session.h: the backend's reply to AUTH or a response */
void
auth_reply(struct session *s, struct inflight *fi, const struct reply_parser *rp)
{
	if (rp->code == 334) {
		s->sasl_wait = true; /* the client's next line is a SASL response */
		return;
	}
	if (rp->code == 235) {
		free(s->auth_user);
		s->auth_user = s->auth_try ? s->auth_try : strdup("[unknown]");
		s->auth_try = NULL;
		s->auth_mech_done = s->auth_mech;
		s->b_authed = true; /* never pooled for another client */
		authfail_clear((const struct sockaddr *)&s->client_sa);
		auth_log(s, "auth.ok", LOG_INFO, s->auth_user, rp);
		policy_authenticated(s);
		return;
	}
	auth_log(s, "auth.fail", LOG_NOTICE, s->auth_try, rp);
	FREE_AND_NULL(free, s->auth_try);
	if (rp->code >= 500 && rp->code != 501 &&
	    authfail_note((const struct sockaddr *)&s->client_sa, s->cfg->auth_max_failures, s->cfg->auth_block_ms,
	    clock_mono_ms())) {
		/* too many failures from this address: this reply, then 421 and a block */
		struct inflight *bye = fifo_insert_after(s, fi, FI_LOCAL, FW_CMD, CMD_AUTH);

		if (bye != NULL) {
			fifo_set_replyf(bye, "421 4.7.0 %s Error: too many failed authentications; try again later",
			    s->cfg->hostname);
			bye->stage = FS_DONE;
			bye->close_after = true;
			s->close_reason = "too many failed authentications";
			sess_enter(s, ST_CLOSING);
		}
	}
}

/* auth_sender_ok - see session.h: MAIL FROM against the user's addresses */
bool
auth_sender_ok(struct session *s, const char *addr)
{
	struct logrec r;

	if (s->auth_user == NULL || s->cfg->auth_senders == NULL ||
	    senders_allowed(s->cfg->auth_senders, s->auth_user, addr))
		return true;
	logrec_begin(&r, LOG_NOTICE, "auth.sender_mismatch", s->sid, true);
	logrec_str(&r, "client", s->client_ip);
	logrec_str(&r, "user", s->auth_user);
	logrec_str(&r, "from", addr);
	logrec_str(&r, "config", s->cfg->hash);
	logrec_emit(&r);
	fifo_local(s, CMD_MAIL, "553 5.7.1 <%s>: Sender address rejected: not owned by user %s", addr, s->auth_user);
	return false;
}

/* auth_blocked_at_connect - see session.h */
bool
auth_blocked_at_connect(const struct config *cfg, const struct sockaddr *sa, int fd, const char *ip)
{
	uint64_t left;
	char buf[256];
	int n;

	if (cfg->auth_max_failures == 0 || !authfail_blocked(sa, clock_mono_ms(), &left))
		return false;
	n = snprintf(buf, sizeof(buf), "421 4.7.0 %s Error: too many failed authentications from [%s]; try again "
	    "in %llu s\r\n", cfg->hostname, ip, (unsigned long long)(left / 1000 + 1));
	(void)!write(fd, buf, (size_t)n);
	log_msg(LOG_NOTICE, "ev=conn.refuse client=%s reason=\"auth failures\" left_s=%llu", ip,
	    (unsigned long long)(left / 1000 + 1));
	return true;
}
