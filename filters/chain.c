/* filters/chain.c: the configured filters, and running them for one session and stage */
#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "chain.h"
#include "conf.h"
#include "dnsbl.h"
#include "helo.h"
#include "ratelimit.h"
#include "plugin.h"
#include "policy.h"
#include "pregreet.h"
#include "rdns.h"
#include "spf.h"
#include "rules_filter.h"
#include "util.h"

#define CHAIN_MAX 16 /* filter instances per configuration */

/* The built-in filters; a filter loaded from a shared object joins this list. */
static const struct sl_filter *const builtins[] = {
	&dnsbl_filter,
	&rdns_filter,
	&helo_filter,
	&pregreet_filter,
	&policy_filter,
	&spf_filter,
	&limits_filter,
	&rules_filter,
};

#define HOOK_TIMEOUT_MS 60000 /* default: a safety net; filters keep their own time */

struct chain_link {
	const struct sl_filter *f;
	void *conf;       /* owned by the chain_conf */
	unsigned stages;  /* (1u << stage) mask */
	unsigned hook_timeout_ms;
	bool fail_tempfail; /* on_error tempfail (else skip) */
};

struct chain_conf {
	unsigned n;
	struct chain_link l[CHAIN_MAX];
};

struct chain {
	const struct chain_conf *cc; /* borrowed */
	struct sl_sess *ss;          /* borrowed */
	void *ctx[CHAIN_MAX];        /* owned by the filters: detach() frees */
	struct event *timer;         /* owned: the pending hook's time limit */
	bool skipped[CHAIN_MAX];     /* a rule said: skip this filter (session) */
	/* the run in progress */
	bool running;
	enum sl_stage st;
	unsigned at;
	chain_done_fn done;
	void *arg;
};

/* chain_filter_find - see chain.h */
const struct sl_filter *
chain_filter_find(const char *name)
{
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		if (strcmp(builtins[i]->name, name) == 0)
			return builtins[i];
	return plugin_find(name);
}

/* chain_conf_new - see chain.h */
struct chain_conf *
chain_conf_new(void)
{
	return calloc(1, sizeof(struct chain_conf));
}

/* chain_conf_add - see chain.h */
int
chain_conf_add(struct chain_conf *cc, const struct sl_filter *f, const struct conf_stmt *block, struct conf_error *err)
{
	void *conf;
	struct chain_link *l = &cc->l[cc->n];

	if (cc->n >= CHAIN_MAX) {
		snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: at most %d filters", block->file, block->line, block->col,
		    CHAIN_MAX);
		return -1;
	}
	memset(l, 0, sizeof(*l));
	l->hook_timeout_ms = HOOK_TIMEOUT_MS;
	for (int w = 1; w < block->argc; w += 2) {
		const char *k = block->argv[w], *v = w + 1 < block->argc ? block->argv[w + 1] : NULL;
		bool ok = v != NULL;

		if (ok && !strcmp(k, "hook_timeout"))
			ok = conf_parse_duration(v, &l->hook_timeout_ms) == 0 && l->hook_timeout_ms >= 10;
		else if (ok && !strcmp(k, "on_error") && (!strcmp(v, "skip") || !strcmp(v, "tempfail")))
			l->fail_tempfail = !strcmp(v, "tempfail");
		else
			ok = false;
		if (!ok) {
			snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: after '%s' come hook_timeout TIME and on_error "
			    "skip|tempfail, not '%s'", block->file, block->line, block->argcol[w], block->argv[0], k);
			return -1;
		}
	}
	conf = f->conf_new(block, err);
	if (conf == NULL)
		return -1;
	l->f = f;
	l->conf = conf;
	l->stages = f->stages(conf);
	cc->n++;
	/* the rules decide on every filter's facts: they stay last */
	for (unsigned i = cc->n - 1; i > 0 && cc->l[i - 1].f == &rules_filter && f != &rules_filter; i--) {
		struct chain_link tmp = cc->l[i - 1];

		cc->l[i - 1] = cc->l[i];
		cc->l[i] = tmp;
	}
	return 0;
}

/* chain_conf_free - see chain.h */
void
chain_conf_free(struct chain_conf *cc)
{
	if (cc == NULL)
		return;
	for (unsigned i = 0; i < cc->n; i++)
		cc->l[i].f->conf_free(cc->l[i].conf);
	free(cc);
}

/* chain_conf_stats - see chain.h */
void
chain_conf_stats(const struct chain_conf *cc, const struct sl_report *w)
{
	for (unsigned i = 0; cc != NULL && i < cc->n; i++)
		if (cc->l[i].f->stats != NULL)
			cc->l[i].f->stats(cc->l[i].conf, w);
}

/* chain_conf_count - see chain.h */
unsigned
chain_conf_count(const struct chain_conf *cc)
{
	return cc != NULL ? cc->n : 0;
}

static void chain_step(struct chain *c);
static void chain_skip(struct sl_sess *ss, const char *name);

/* chain_resume - a filter's pending work is done (sl_sess.resume) */
static void
chain_resume(struct sl_sess *ss, void *ctx)
{
	struct chain *c = ss->chain;

	/* a filter the chain gave up on (hook_timeout) may call late: ignored */
	if (c == NULL || !c->running || c->at >= c->cc->n || c->ctx[c->at] != ctx)
		return;
	if (c->timer != NULL)
		evtimer_del(c->timer);
	chain_step(c);
}

/* chain_failed - a filter failed or timed out: its on_error decides */
static void
chain_failed(struct chain *c, const char *why)
{
	const struct chain_link *l = &c->cc->l[c->at];
	struct sl_verdict v = { .action = SL_ACT_CONTINUE, .filter = l->f->name, .why = why, .record = true };

	if (l->fail_tempfail) {
		v.action = SL_ACT_TEMPFAIL;
		v.code = 451;
		v.enh = "4.3.0";
		v.text = "Error: a mail filter failed; try again later";
		c->running = false;
		c->done(c->arg, c->st, &v);
		return;
	}
	if (c->ss->record != NULL)
		c->ss->record(c->ss, c->st, &v);
	c->at++;
	chain_step(c);
}

/* timeout_cb - a pending hook outlived its hook_timeout */
static void
timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct chain *c = arg;

	(void)fd;
	(void)what;
	if (c->running)
		chain_failed(c, "filter-timeout");
}

/* chain_new - see chain.h */
struct chain *
chain_new(const struct chain_conf *cc, struct sl_sess *ss)
{
	struct chain *c;

	if (cc == NULL || cc->n == 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->cc = cc;
	c->ss = ss;
	ss->chain = c;
	ss->resume = chain_resume;
	ss->skip_filter = chain_skip;
	for (unsigned i = 0; i < cc->n; i++)
		c->ctx[i] = cc->l[i].f->attach(cc->l[i].conf, ss); /* NULL: skipped */
	return c;
}

/* chain_free_ - see chain.h */
void
chain_free_(struct chain *c)
{
	if (c == NULL)
		return;
	for (unsigned i = 0; i < c->cc->n; i++)
		if (c->ctx[i] != NULL)
			c->cc->l[i].f->detach(c->ctx[i]);
	if (c->timer != NULL)
		event_free(c->timer);
	c->ss->chain = NULL;
	free(c);
}

/* chain_skip - sl_sess.skip_filter */
static void
chain_skip(struct sl_sess *ss, const char *name)
{
	struct chain *c = ss->chain;

	for (unsigned i = 0; c != NULL && i < c->cc->n; i++)
		if (strcmp(c->cc->l[i].f->name, name) == 0)
			c->skipped[i] = true;
}

/* chain_hooks - see chain.h */
bool
chain_hooks(const struct chain *c, enum sl_stage st)
{
	if (c == NULL)
		return false;
	for (unsigned i = 0; i < c->cc->n; i++)
		if (c->ctx[i] != NULL && (c->cc->l[i].stages & (1u << st)))
			return true;
	return false;
}

/* chain_busy - see chain.h */
bool
chain_busy(const struct chain *c)
{
	return c != NULL && c->running;
}

/* chain_finish - report the verdict; the callback may free the chain */
static void
chain_finish(struct chain *c, const struct sl_verdict *v)
{
	c->running = false;
	c->done(c->arg, c->st, v);
}

/* chain_step - go on from filter c->at */
static void
chain_step(struct chain *c)
{
	struct sl_verdict v;

	for (; c->at < c->cc->n; c->at++) {
		const struct chain_link *l = &c->cc->l[c->at];
		enum sl_hook_rc rc;

		if (c->ctx[c->at] == NULL || c->skipped[c->at] || !(l->stages & (1u << c->st)))
			continue;
		v = (struct sl_verdict){ .action = SL_ACT_CONTINUE, .filter = l->f->name };
		rc = l->f->hook(c->ctx[c->at], c->st, &v);
		if (rc == SL_HOOK_PENDING) {
			struct timeval tv = tv_ms(l->hook_timeout_ms);

			if (c->timer == NULL && c->ss->base != NULL)
				c->timer = evtimer_new(c->ss->base, timeout_cb, c);
			if (c->timer != NULL)
				evtimer_add(c->timer, &tv);
			return;
		}
		if (rc == SL_HOOK_ERROR) {
			chain_failed(c, "filter-error"); /* skip (recorded) or tempfail */
			return;
		}
		if (v.action != SL_ACT_CONTINUE) {
			chain_finish(c, &v);
			return;
		}
		if (v.record && c->ss->record != NULL)
			c->ss->record(c->ss, c->st, &v);
	}
	v = (struct sl_verdict){ .action = SL_ACT_CONTINUE };
	chain_finish(c, &v);
}

/* chain_run - see chain.h */
void
chain_run(struct chain *c, enum sl_stage stage, chain_done_fn done, void *arg)
{
	if (!chain_hooks(c, stage)) {
		struct sl_verdict v = { .action = SL_ACT_CONTINUE };

		done(arg, stage, &v);
		return;
	}
	assert(!c->running);
	c->running = true;
	c->st = stage;
	c->at = 0;
	c->done = done;
	c->arg = arg;
	chain_step(c);
}

/* chain_stage_name - for logs */
const char *
chain_stage_name(enum sl_stage st)
{
	static const char *const names[SL_STAGE_COUNT] = {
		"connect", "helo", "mail", "rcpt", "data", "eod", "reset", "disconnect",
	};

	return st < SL_STAGE_COUNT ? names[st] : "?";
}
