/* filters/policy.c: a client for the Postfix policy delegation protocol (postgrey, policyd-spf ...) */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conf.h"
#include "policy.h"
#include "util.h"

/*
 * Existing policy servers (greylisting with postgrey, SPF with policyd-spf,
 * quotas) speak Postfix's SMTPD_POLICY_README protocol: attribute lines,
 * an empty line; the answer is "action=..." and an empty line. sluice asks
 * at the configured stage (rcpt by default, like check_policy_service in
 * smtpd_recipient_restrictions), one connection per session, kept open.
 * Actions as in access(5): OK/DUNNO go on, REJECT and DEFER(_IF_PERMIT)
 * refuse (554 5.7.1, 450 4.7.1), "4xx/5xx text" refuse with that code,
 * PREPEND adds a header; the action is the fact policy.action either way.
 * A server that is down or slow fails the hook: on_error decides.
 */

#define POLICY_RESPONSE_MAX 4096

struct policy_conf {
	struct sockaddr_storage ss;
	socklen_t sslen;
	char server[300];
	enum sl_stage stage;
	unsigned timeout_ms;
};

struct policy_sess {
	const struct policy_conf *c;
	struct sl_sess *ss;
	struct bufferevent *bev;  /* owned */
	struct event *timer;      /* owned */
	enum { PS_IDLE = 0, PS_WAIT, PS_DONE, PS_FAILED } state;
	bool in_hook;
	char action[512];         /* the server's answer */
	char text[512];
	char enh[8];
	char error[64];
	uint64_t t_start;
	unsigned latency_ms;
};

/* parse_server - "127.0.0.1:10023", "[::1]:10023", "unix:/path" */
static int
parse_server(const char *spec, struct policy_conf *c)
{
	memset(&c->ss, 0, sizeof(c->ss));
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)&c->ss;

		if (strlen(spec + 5) >= sizeof(un->sun_path) || spec[5] == '\0')
			return -1;
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, spec + 5);
		c->sslen = sizeof(*un);
		return 0;
	} else {
		char host[64];
		const char *colon = strrchr(spec, ':');
		size_t n;
		long port;
		char *end;

		if (colon == NULL)
			return -1;
		n = (size_t)(colon - spec);
		if (spec[0] == '[' && n >= 2 && spec[n - 1] == ']') {
			spec++;
			n -= 2;
		}
		if (n >= sizeof(host))
			return -1;
		memcpy(host, spec, n);
		host[n] = '\0';
		port = strtol(colon + 1, &end, 10);
		if (*end != '\0' || port <= 0 || port > 65535)
			return -1;
		if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&c->ss)->sin_addr) == 1) {
			c->ss.ss_family = AF_INET;
			((struct sockaddr_in *)&c->ss)->sin_port = htons((uint16_t)port);
			c->sslen = sizeof(struct sockaddr_in);
			return 0;
		}
		if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&c->ss)->sin6_addr) == 1) {
			c->ss.ss_family = AF_INET6;
			((struct sockaddr_in6 *)&c->ss)->sin6_port = htons((uint16_t)port);
			c->sslen = sizeof(struct sockaddr_in6);
			return 0;
		}
		return -1;
	}
}

/* done - the answer (or the failure) is in: wake the hook */
static void
done(struct policy_sess *ps, bool failed, const char *why)
{
	ps->state = failed ? PS_FAILED : PS_DONE;
	ps->latency_ms = (unsigned)(clock_mono_ms() - ps->t_start);
	if (why != NULL)
		snprintf(ps->error, sizeof(ps->error), "%s", why);
	if (ps->timer != NULL)
		evtimer_del(ps->timer);
	if (failed && ps->bev != NULL) {
		bufferevent_free(ps->bev);
		ps->bev = NULL;
	}
	if (!ps->in_hook)
		ps->ss->resume(ps->ss, ps);
}

/* policy_response - see policy.h */
void
policy_response(const char *buf, size_t n, char *action, size_t sz)
{
	size_t i = 0;

	action[0] = '\0';
	while (i < n) {
		const char *nl = memchr(buf + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - buf) : n;

		if (end - i >= 7 && strncasecmp(buf + i, "action=", 7) == 0 && sz > 0) {
			size_t k = 0;

			for (size_t p = i + 7; p < end && k + 1 < sz; p++) {
				unsigned char c = (unsigned char)buf[p];

				action[k++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
			}
			action[k] = '\0';
		}
		i = end + 1;
	}
}

/* read_cb - "action=...\n\n" */
static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct policy_sess *ps = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\n\n", 2, NULL);
	char buf[POLICY_RESPONSE_MAX + 1];
	size_t n;

	if (ps->state != PS_WAIT)
		return;
	if (end.pos < 0) {
		if (evbuffer_get_length(in) > POLICY_RESPONSE_MAX)
			done(ps, true, "response too long");
		return;
	}
	n = (size_t)end.pos;
	if (n > POLICY_RESPONSE_MAX) {
		done(ps, true, "response too long");
		return;
	}
	evbuffer_remove(in, buf, n);
	evbuffer_drain(in, 2);
	policy_response(buf, n, ps->action, sizeof(ps->action));
	done(ps, ps->action[0] == '\0', ps->action[0] == '\0' ? "no action in the response" : NULL);
}

/* event_cb - connected, or the server went away */
static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct policy_sess *ps = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (ps->state == PS_WAIT)
		done(ps, true, (what & BEV_EVENT_EOF) ? "server closed the connection" : "cannot reach the server");
	else if (ps->bev != NULL) {
		bufferevent_free(ps->bev); /* an idle connection closed: reconnect next time */
		ps->bev = NULL;
	}
}

/* timer_cb - the server is too slow */
static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	done(arg, true, "timeout");
}

/* attr - one "name=value" line, values without newlines */
static void
attr(struct evbuffer *out, const char *name, const char *value)
{
	evbuffer_add_printf(out, "%s=", name);
	for (const char *p = value ? value : ""; *p; p++)
		if (*p != '\n' && *p != '\r')
			evbuffer_add(out, p, 1);
	evbuffer_add(out, "\n", 1);
}

/* ask - send one request */
static int
ask(struct policy_sess *ps, enum sl_stage st)
{
	static const char *const states[] = { "CONNECT", "HELO", "MAIL", "RCPT", "DATA", "END-OF-MESSAGE" };
	const struct sl_sess *ss = ps->ss;
	const struct fact *name = fact_get(ss->facts, "rdns.name"), *ok = fact_get(ss->facts, "rdns.fcrdns");
	const struct fact *user = fact_get(ss->facts, "auth.user"), *mech = fact_get(ss->facts, "auth.mechanism");
	struct timeval tv = tv_ms(ps->c->timeout_ms);
	struct evbuffer *out;

	if (ps->bev == NULL) {
		ps->bev = bufferevent_socket_new(ss->base, -1, BEV_OPT_CLOSE_ON_FREE);
		if (ps->bev == NULL)
			return -1;
		bufferevent_setcb(ps->bev, read_cb, NULL, event_cb, ps);
		if (bufferevent_socket_connect(ps->bev, (const struct sockaddr *)&ps->c->ss, (int)ps->c->sslen) < 0) {
			bufferevent_free(ps->bev);
			ps->bev = NULL;
			return -1;
		}
		bufferevent_enable(ps->bev, EV_READ | EV_WRITE);
	}
	out = bufferevent_get_output(ps->bev);
	attr(out, "request", "smtpd_access_policy");
	attr(out, "protocol_state", st < (int)nitems(states) ? states[st] : "RCPT");
	attr(out, "protocol_name", "ESMTP");
	attr(out, "client_address", ss->client_ip);
	attr(out, "client_name", ok && ok->i && name ? name->s : "unknown");
	attr(out, "reverse_client_name", name && name->s[0] ? name->s : "unknown");
	attr(out, "helo_name", ss->helo);
	attr(out, "sender", ss->mail_from);
	attr(out, "recipient", st == SL_STAGE_RCPT ? ss->rcpt : "");
	attr(out, "instance", ss->sid);
	attr(out, "sasl_method", mech ? mech->s : "");
	attr(out, "sasl_username", user ? user->s : "");
	attr(out, "encryption_protocol", ss->tls_version);
	evbuffer_add(out, "\n", 1);
	ps->state = PS_WAIT;
	ps->t_start = clock_mono_ms();
	if (ps->timer == NULL)
		ps->timer = evtimer_new(ss->base, timer_cb, ps);
	if (ps->timer != NULL)
		evtimer_add(ps->timer, &tv);
	return 0;
}

/* verdict - access(5) actions */
static void
verdict(struct policy_sess *ps, struct sl_verdict *v)
{
	char word[32];
	const char *rest;
	size_t n = 0;

	fact_set_str(ps->ss->facts, "policy.action", ps->action);
	while (ps->action[n] && !isspace((unsigned char)ps->action[n]) && n + 1 < sizeof(word)) {
		word[n] = (char)toupper((unsigned char)ps->action[n]);
		n++;
	}
	word[n] = '\0';
	rest = ps->action + n;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (!strcmp(word, "PREPEND")) {
		if (ps->ss->add_header != NULL && strchr(rest, ':') != NULL)
			ps->ss->add_header(ps->ss, SL_STAGE_DATA, rest);
		return;
	}
	if (isdigit((unsigned char)word[0]) && n == 3 && (word[0] == '4' || word[0] == '5')) {
		v->action = word[0] == '4' ? SL_ACT_TEMPFAIL : SL_ACT_REJECT;
		v->code = atoi(word);
	} else if (!strcmp(word, "REJECT")) {
		v->action = SL_ACT_REJECT;
		v->code = 554;
	} else if (!strncmp(word, "DEFER", 5)) {
		v->action = SL_ACT_TEMPFAIL;
		v->code = 450;
	} else {
		return; /* OK, DUNNO, and what sluice does not do itself (HOLD, FILTER ...) */
	}
	/* "4.7.1 text": the enhanced code is the server's */
	if (isdigit((unsigned char)rest[0]) && rest[1] == '.' && rest[0] == word[0] && strchr(rest, ' ') != NULL &&
	    (size_t)(strchr(rest, ' ') - rest) < sizeof(ps->enh)) {
		snprintf(ps->enh, sizeof(ps->enh), "%.*s", (int)(strchr(rest, ' ') - rest), rest);
		rest = strchr(rest, ' ') + 1;
		v->enh = ps->enh;
	} else {
		v->enh = v->action == SL_ACT_REJECT ? "5.7.1" : "4.7.1";
	}
	snprintf(ps->text, sizeof(ps->text), "%s", rest[0] ? rest : (v->action == SL_ACT_REJECT ? "Access denied" :
	    "Service temporarily unavailable"));
	v->text = ps->text;
	v->why = "policy-server";
}

static void
policy_report(void *ctx, const struct sl_report *w)
{
	struct policy_sess *ps = ctx;

	w->str(w->ctx, "server", ps->c->server);
	w->str(w->ctx, "action", ps->action);
	w->num(w->ctx, "latency_ms", ps->latency_ms);
}

/* policy_hook - ask at the stage; refuse or go on with the answer */
static enum sl_hook_rc
policy_hook(void *ctx, enum sl_stage st, struct sl_verdict *v)
{
	struct policy_sess *ps = ctx;

	if (ps->state == PS_IDLE) {
		ps->in_hook = true;
		if (ask(ps, st) < 0)
			ps->state = PS_FAILED;
		ps->in_hook = false;
		if (ps->state == PS_WAIT)
			return SL_HOOK_PENDING;
	}
	if (ps->state == PS_WAIT)
		return SL_HOOK_PENDING;
	if (ps->state == PS_FAILED) {
		ps->state = PS_IDLE;
		return SL_HOOK_ERROR;
	}
	ps->state = PS_IDLE; /* the next command asks again */
	verdict(ps, v);
	v->report = policy_report;
	v->report_ctx = ps;
	return SL_HOOK_CONTINUE;
}

static void *
policy_conf_new(const struct conf_stmt *block, struct conf_error *err)
{
	struct policy_conf *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->stage = SL_STAGE_RCPT;
	c->timeout_ms = 10000;
	for (const struct conf_stmt *s = block->child; s != NULL; s = s->next) {
		const char *k = s->argv[0];

		if (!strcmp(k, "server") && s->argc == 2 && parse_server(s->argv[1], c) == 0) {
			snprintf(c->server, sizeof(c->server), "%s", s->argv[1]);
		} else if (!strcmp(k, "timeout") && s->argc == 2 && conf_parse_duration(s->argv[1], &c->timeout_ms) == 0 &&
		    c->timeout_ms >= 10) {
			continue;
		} else if (!strcmp(k, "stage") && s->argc == 2 && (!strcmp(s->argv[1], "helo") ||
		    !strcmp(s->argv[1], "mail") || !strcmp(s->argv[1], "rcpt") || !strcmp(s->argv[1], "data"))) {
			c->stage = !strcmp(s->argv[1], "helo") ? SL_STAGE_HELO : !strcmp(s->argv[1], "mail") ? SL_STAGE_MAIL :
			    !strcmp(s->argv[1], "rcpt") ? SL_STAGE_RCPT : SL_STAGE_DATA;
		} else {
			snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: policy takes server ADDRESS:PORT|unix:PATH, stage "
			    "helo|mail|rcpt|data and timeout TIME, not '%s'", s->file, s->line, s->col, k);
			free(c);
			return NULL;
		}
	}
	if (c->server[0] == '\0') {
		snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: policy needs a server", block->file, block->line, block->col);
		free(c);
		return NULL;
	}
	return c;
}

static void
policy_conf_free(void *conf)
{
	free(conf);
}

static unsigned
policy_stages(const void *conf)
{
	return 1u << ((const struct policy_conf *)conf)->stage;
}

static void *
policy_attach(const void *conf, struct sl_sess *ss)
{
	struct policy_sess *ps = calloc(1, sizeof(*ps));

	if (ps != NULL) {
		ps->c = conf;
		ps->ss = ss;
	}
	return ps;
}

static void
policy_detach(void *ctx)
{
	struct policy_sess *ps = ctx;

	if (ps->bev != NULL)
		bufferevent_free(ps->bev);
	if (ps->timer != NULL)
		event_free(ps->timer);
	free(ps);
}

const struct sl_filter policy_filter = {
	.abi = SL_FILTER_ABI,
	.name = "policy",
	.conf_new = policy_conf_new,
	.conf_free = policy_conf_free,
	.stages = policy_stages,
	.attach = policy_attach,
	.detach = policy_detach,
	.hook = policy_hook,
	.report = policy_report,
};
