/* filters/rdns.c: the client's PTR name and whether it confirms (FCrDNS), as facts */
#include <arpa/inet.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "conf.h"
#include "dns.h"
#include "rdns.h"
#include "util.h"

/*
 * At connect: PTR of the client address; then A (or AAAA) of the name it
 * gives; the name is confirmed when one of those addresses is the client's.
 * Facts: rdns.name (the PTR name, "" when none), rdns.none (no PTR),
 * rdns.fcrdns (confirmed), rdns.generic (looks like a dynamic/generic
 * name), rdns.error (why the lookup failed). The facts are waited for at
 * the configured stage (helo by default: before the rules of that stage
 * and before XCLIENT, which then carries the confirmed name to Postfix),
 * for no longer than the timeout.
 */

#define RDNS_MAX_GENERIC 16

struct rdns_conf {
	enum sl_stage wait_at;
	unsigned timeout_ms;
	unsigned ngeneric;
	regex_t generic[RDNS_MAX_GENERIC];
};

struct rdns_sess {
	const struct rdns_conf *c;
	struct sl_sess *ss;
	struct dns_req *req;
	struct event *timer;      /* owned */
	bool pending, waiting, in_hook, done;
	char name[DNS_NAME_MAX + 1];
	uint64_t t_start;
};

static const char *const default_generic[] = {
	/* an address in the name: 192-0-2-1, 1.2.0.192, 0xc0000201 */
	"[0-9]{1,3}[.-][0-9]{1,3}[.-][0-9]{1,3}[.-][0-9]{1,3}",
	"(^|[.-])(dhcp|dyn|dynamic|dynip|pool|ppp|pppoe|dsl|adsl|xdsl|cable|dial|dialup|broadband|bb|client|customer|"
	"cust|host|ip|nat|static|user|res|residential|mobile|cpe)[0-9.-]",
	"(^|[.-])[0-9a-f]{8}\\.",
};

/* finish - facts for what is known; wake a waiting stage */
static void
finish(struct rdns_sess *rs, const char *error)
{
	bool generic = false;

	rs->pending = false;
	rs->done = true;
	if (rs->timer != NULL)
		evtimer_del(rs->timer);
	for (unsigned i = 0; i < rs->c->ngeneric && rs->name[0]; i++)
		generic |= regexec(&rs->c->generic[i], rs->name, 0, NULL, 0) == 0;
	fact_set_str(rs->ss->facts, "rdns.name", rs->name);
	fact_set_bool(rs->ss->facts, "rdns.none", rs->name[0] == '\0' && error == NULL);
	fact_set_bool(rs->ss->facts, "rdns.generic", generic);
	if (error != NULL)
		fact_set_str(rs->ss->facts, "rdns.error", error);
	if (!fact_get(rs->ss->facts, "rdns.fcrdns"))
		fact_set_bool(rs->ss->facts, "rdns.fcrdns", false);
	if (rs->waiting && !rs->in_hook) {
		rs->waiting = false;
		rs->ss->resume(rs->ss, rs);
	}
}

/* forward_answer - the name's addresses: is the client among them */
static void
forward_answer(void *arg, const struct dns_result *r)
{
	struct rdns_sess *rs = arg;
	const struct sockaddr *sa = rs->ss->client_sa;
	bool match = false;

	rs->req = NULL;
	if (sa->sa_family == AF_INET) {
		const struct in_addr *ca = &((const struct sockaddr_in *)sa)->sin_addr;

		for (unsigned i = 0; i < r->naddr && !match; i++)
			match = memcmp(&r->addr[i], ca, 4) == 0;
	} else {
		const struct in6_addr *ca = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(ca)) {
			for (unsigned i = 0; i < r->naddr && !match; i++)
				match = memcmp(&r->addr[i], ca->s6_addr + 12, 4) == 0;
		} else {
			for (unsigned i = 0; i < r->naddr6 && !match; i++)
				match = memcmp(&r->addr6[i], ca, 16) == 0;
		}
	}
	fact_set_bool(rs->ss->facts, "rdns.fcrdns", match);
	finish(rs, r->status == DNS_OK || r->status == DNS_NXDOMAIN || r->status == DNS_NODATA ? NULL :
	    dns_status_name(r->status));
}

/* ptr_answer - the PTR name; then its forward lookup */
static void
ptr_answer(void *arg, const struct dns_result *r)
{
	struct rdns_sess *rs = arg;
	const struct sockaddr *sa = rs->ss->client_sa;
	bool v6 = sa->sa_family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	struct dns_result now;
	int rc;

	rs->req = NULL;
	if (r->status != DNS_OK || r->name[0] == '\0') {
		finish(rs, r->status == DNS_NXDOMAIN || r->status == DNS_NODATA ? NULL : dns_status_name(r->status));
		return;
	}
	snprintf(rs->name, sizeof(rs->name), "%s", r->name);
	rc = dns_query(rs->ss->dns, v6 ? DNS_T_AAAA : DNS_T_A, rs->name, forward_answer, rs, &now, &rs->req);
	if (rc == 1)
		forward_answer(rs, &now);
	else if (rc < 0)
		finish(rs, "local resolver error");
}

/* timer_cb - the lookups took too long */
static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rdns_sess *rs = arg;

	(void)fd;
	(void)what;
	dns_cancel(rs->req);
	rs->req = NULL;
	finish(rs, "timeout");
}

/* start - the PTR query, at connect */
static void
start(struct rdns_sess *rs)
{
	const struct sockaddr *sa = rs->ss->client_sa;
	char q[96];
	bool v6;
	struct dns_result now;
	struct timeval tv = tv_ms(rs->c->timeout_ms);
	int rc;

	if (rs->ss->dns == NULL) {
		finish(rs, "no resolver");
		return;
	}
	if (dns_rev_labels(sa, q, sizeof(q) - 10, &v6) < 0) {
		finish(rs, "not an IP client");
		return;
	}
	strcat(q, v6 ? ".ip6.arpa" : ".in-addr.arpa");
	rs->pending = true;
	rs->t_start = clock_mono_ms();
	if (rs->timer == NULL)
		rs->timer = evtimer_new(rs->ss->base, timer_cb, rs);
	if (rs->timer != NULL)
		evtimer_add(rs->timer, &tv);
	rc = dns_query(rs->ss->dns, DNS_T_PTR, q, ptr_answer, rs, &now, &rs->req);
	if (rc == 1)
		ptr_answer(rs, &now);
	else if (rc < 0)
		finish(rs, "local resolver error");
}

/* ---- the filter interface ---- */

static void *
rdns_conf_new(const struct conf_stmt *block, struct conf_error *err)
{
	struct rdns_conf *c = calloc(1, sizeof(*c));
	bool own_patterns = false;

	if (c == NULL)
		return NULL;
	c->wait_at = SL_STAGE_HELO;
	c->timeout_ms = 5000;
	for (const struct conf_stmt *s = block->child; s != NULL; s = s->next) {
		const char *k = s->argv[0];

		if (!strcmp(k, "timeout") && s->argc == 2 && conf_parse_duration(s->argv[1], &c->timeout_ms) == 0 &&
		    c->timeout_ms >= 10) {
			continue;
		} else if (!strcmp(k, "wait_at") && s->argc == 2 && (!strcmp(s->argv[1], "connect") ||
		    !strcmp(s->argv[1], "helo"))) {
			c->wait_at = !strcmp(s->argv[1], "connect") ? SL_STAGE_CONNECT : SL_STAGE_HELO;
		} else if (!strcmp(k, "generic") && s->argc == 2 && c->ngeneric < RDNS_MAX_GENERIC) {
			if (regcomp(&c->generic[c->ngeneric], s->argv[1], REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) {
				snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: bad regular expression '%s'", s->file, s->line,
				    s->argcol[1], s->argv[1]);
				goto fail;
			}
			c->ngeneric++;
			own_patterns = true;
		} else {
			snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: rdns takes timeout TIME, wait_at connect|helo and "
			    "generic \"REGEX\" (at most %d), not '%s'", s->file, s->line, s->col, RDNS_MAX_GENERIC, k);
			goto fail;
		}
	}
	if (!own_patterns)
		for (size_t i = 0; i < nitems(default_generic); i++)
			if (regcomp(&c->generic[c->ngeneric], default_generic[i], REG_EXTENDED | REG_ICASE | REG_NOSUB) == 0)
				c->ngeneric++;
	return c;
fail:
	for (unsigned i = 0; i < c->ngeneric; i++)
		regfree(&c->generic[i]);
	free(c);
	return NULL;
}

static void
rdns_conf_free(void *conf)
{
	struct rdns_conf *c = conf;

	for (unsigned i = 0; c != NULL && i < c->ngeneric; i++)
		regfree(&c->generic[i]);
	free(c);
}

static unsigned
rdns_stages(const void *conf)
{
	const struct rdns_conf *c = conf;

	return (1u << SL_STAGE_CONNECT) | (1u << c->wait_at) | (1u << SL_STAGE_MAIL) | (1u << SL_STAGE_RCPT);
}

static void *
rdns_attach(const void *conf, struct sl_sess *ss)
{
	struct rdns_sess *rs = calloc(1, sizeof(*rs));

	if (rs != NULL) {
		rs->c = conf;
		rs->ss = ss;
	}
	return rs;
}

static void
rdns_detach(void *ctx)
{
	struct rdns_sess *rs = ctx;

	dns_cancel(rs->req);
	if (rs->timer != NULL)
		event_free(rs->timer);
	free(rs);
}

/* rdns_hook - start at connect; from wait_at on, the facts must be there */
static enum sl_hook_rc
rdns_hook(void *ctx, enum sl_stage st, struct sl_verdict *v)
{
	struct rdns_sess *rs = ctx;

	(void)v;
	if (st == SL_STAGE_CONNECT && !rs->done && !rs->pending) {
		rs->in_hook = true;
		start(rs);
		rs->in_hook = false;
	}
	if (st < rs->c->wait_at || rs->done)
		return SL_HOOK_CONTINUE;
	rs->waiting = true; /* the timer bounds the wait */
	return SL_HOOK_PENDING;
}

const struct sl_filter rdns_filter = {
	.abi = SL_FILTER_ABI,
	.name = "rdns",
	.conf_new = rdns_conf_new,
	.conf_free = rdns_conf_free,
	.stages = rdns_stages,
	.attach = rdns_attach,
	.detach = rdns_detach,
	.hook = rdns_hook,
};
