/* proxy/session_prelude.c: what sluice says to a new backend connection before the client's HELO */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "esmtp.h"
#include "log.h"
#include "session.h"
#include "tls.h"
#include "worker.h"

/*
 * On a new backend connection sluice may say, before relaying the
 * client's HELO/EHLO: its own EHLO (to learn the extensions; once per
 * worker and configuration unless STARTTLS is used), STARTTLS and EHLO
 * again (backend_tls starttls), and XCLIENT with the real client. Each is
 * an internal FIFO entry; the replies come back through prelude_ehlo_reply
 * and handle_reply in session_backend.c.
 */

/* xclient_queue - queue XCLIENT after pos (or at the end when pos is NULL) */
static void
xclient_queue(struct session *s, struct inflight *pos)
{
	struct inflight *x;
	char line[1200];
	size_t n;

	n = xclient_build(line, sizeof(line), s->b_xattrs, s->client_ip,
	    s->client_sa.ss_family == AF_INET6, s->client_port,
	    policy_client_name(s) ? policy_client_name(s) : "[UNAVAILABLE]", s->helo, s->esmtp, s->auth_user);
	x = pos ? fifo_insert_after(s, pos, FI_INTERNAL, FW_XCLIENT, CMD_XCLIENT)
		: fifo_push(s, FI_INTERNAL, FW_XCLIENT, CMD_XCLIENT);
	if (x == NULL)
		return;
	if (n == 0 || (x->cmd = strndup(line, n)) == NULL) {
		x->stage = FS_DONE;
		return;
	}
	x->cmdlen = n;
}

/* prelude_ehlo_queue - see session.h: sluice's EHLO after pos (or at the end) */
void
prelude_ehlo_queue(struct session *s, struct inflight *pos)
{
	struct inflight *fi = pos ? fifo_insert_after(s, pos, FI_INTERNAL, FW_OUR_EHLO, CMD_EHLO)
	                          : fifo_push(s, FI_INTERNAL, FW_OUR_EHLO, CMD_EHLO);
	char buf[300];
	int n;

	if (fi == NULL)
		return;
	n = snprintf(buf, sizeof(buf), "EHLO %s\r\n", s->cfg->hostname);
	fi->cmd = strndup(buf, (size_t)n);
	fi->cmdlen = fi->cmd ? (size_t)n : 0;
}

/* starttls_queue - sluice's STARTTLS to the backend after pos */
static void
starttls_queue(struct session *s, struct inflight *pos)
{
	struct inflight *fi = fifo_insert_after(s, pos, FI_INTERNAL, FW_STARTTLS, CMD_STARTTLS);

	if (fi == NULL)
		return;
	fi->cmd = strdup("STARTTLS\r\n");
	fi->cmdlen = fi->cmd ? 10 : 0;
}

/*
 * backend_prelude - XCLIENT before the client's HELO. The first session of
 * a config snapshot on a worker sends sluice's own EHLO to learn whether and
 * what XCLIENT the backend offers; later sessions send XCLIENT directly.
 */
void
backend_prelude(struct session *s)
{
	if ((!s->cfg->xclient && !s->b_starttls_due) || s->b_xclient_done)
		return;
	s->b_xclient_done = true;
	if (s->b_starttls_due) {
		/* EHLO, STARTTLS, EHLO again over TLS, then XCLIENT (our_ehlo_reply) */
		prelude_ehlo_queue(s, NULL);
		return;
	}
	if (s->b_uses > 1) {
		/* a reused connection: its XCLIENT attributes are known */
		xclient_queue(s, NULL);
		return;
	}
	if (s->w->caps_gen == s->cfg->gen) {
		s->b_pipelining = s->w->caps_pipelining;
		s->b_xclient = s->w->caps_xclient;
		s->b_xattrs = s->w->caps_xattrs;
		if (s->b_xclient) {
			xclient_queue(s, NULL);
			return;
		}
		s->w->caps_gen = 0; /* no XCLIENT last time: probe (and fail) again */
	}
	prelude_ehlo_queue(s, NULL);
}

/* reply_offers - does an EHLO reply name this extension */
static bool
reply_offers(const struct reply_parser *rp, const char *ext)
{
	struct esmtp_caps caps;

	esmtp_parse_caps(rp->raw, rp->rawlen, &caps);
	return (caps.flags & ESMTP_F_STARTTLS) && strcmp(ext, "STARTTLS") == 0;
}

/* prelude_ehlo_reply - see session.h: learn extensions; STARTTLS or XCLIENT next */
void
prelude_ehlo_reply(struct session *s, struct inflight *fi, const struct reply_parser *rp)
{
	struct esmtp_caps caps;

	if (rp->code != 250) {
		/* fail closed: without its extensions sluice would relay as itself */
		backend_log(s, LOG_WARNING, "backend.xclient", "EHLO refused", NULL);
		backend_fail(s, "EHLO refused", true);
		return;
	}
	if (s->b_starttls_due) {
		if (!reply_offers(rp, "STARTTLS")) {
			backend_log(s, LOG_ERR, "backend.error", "STARTTLS not offered",
			    "backend_tls starttls needs a backend that offers STARTTLS");
			backend_fail(s, "STARTTLS not offered", true);
			return;
		}
		starttls_queue(s, fi);
		return;
	}
	esmtp_parse_caps(rp->raw, rp->rawlen, &caps);
	s->b_pipelining = caps.pipelining;
	s->b_xclient = caps.xclient;
	s->b_xattrs = caps.xattrs;
	if (!s->cfg->xclient)
		return; /* the EHLO after STARTTLS: nothing more to announce */
	if (tls_client_mode(s->cfg->btls) != BTLS_STARTTLS) {
		/* (with STARTTLS every connection says EHLO anyway: no cache) */
		s->w->caps_gen = s->cfg->gen;
		s->w->caps_pipelining = caps.pipelining;
		s->w->caps_xclient = caps.xclient;
		s->w->caps_xattrs = caps.xattrs;
	}
	if (!caps.xclient) {
		/* fail closed: relaying as sluice's address could make it an open relay */
		backend_log(s, LOG_ERR, "backend.xclient", "not offered",
		    "authorise sluice in smtpd_authorized_xclient_hosts, or set xclient off");
		s->w->caps_gen = 0;
		backend_fail(s, "XCLIENT not offered", true);
		return;
	}
	xclient_queue(s, fi);
}

