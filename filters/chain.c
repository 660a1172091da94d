/* filters/chain.c: the configured filters, and running them for one session and stage */
#include <assert.h>
#include <stddef.h>
#include <stdlib.h>

#include "chain.h"
#include "dnsbl.h"

#define CHAIN_MAX 16 /* filter instances per configuration */

/* The built-in filters; a filter loaded from a shared object joins this list. */
static const struct sl_filter *const builtins[] = {
	&dnsbl_filter,
};

struct chain_link {
	const struct sl_filter *f;
	void *conf;       /* owned by the chain_conf */
	unsigned stages;  /* (1u << stage) mask */
};

struct chain_conf {
	unsigned n;
	struct chain_link l[CHAIN_MAX];
};

struct chain {
	const struct chain_conf *cc; /* borrowed */
	struct sl_sess *ss;          /* borrowed */
	void *ctx[CHAIN_MAX];        /* owned by the filters: detach() frees */
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
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		const char *a = builtins[i]->name, *b = name;

		while (*a != '\0' && *a == *b)
			a++, b++;
		if (*a == '\0' && *b == '\0')
			return builtins[i];
	}
	return NULL;
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

	if (cc->n >= CHAIN_MAX)
		return -1;
	conf = f->conf_new(block, err);
	if (conf == NULL)
		return -1;
	cc->l[cc->n].f = f;
	cc->l[cc->n].conf = conf;
	cc->l[cc->n].stages = f->stages(conf);
	cc->n++;
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

/* chain_resume - a filter's pending work is done (sl_sess.resume) */
static void
chain_resume(struct sl_sess *ss)
{
	struct chain *c = ss->chain;

	if (c != NULL && c->running)
		chain_step(c);
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
	c->ss->chain = NULL;
	free(c);
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

		if (c->ctx[c->at] == NULL || !(l->stages & (1u << c->st)))
			continue;
		v = (struct sl_verdict){ .action = SL_ACT_CONTINUE, .filter = l->f->name };
		rc = l->f->hook(c->ctx[c->at], c->st, &v);
		if (rc == SL_HOOK_PENDING)
			return;
		if (rc == SL_HOOK_ERROR) {
			/* a failing filter never fails the session: record it, go on */
			v = (struct sl_verdict){ .action = SL_ACT_CONTINUE, .filter = l->f->name, .record = true, .why = "filter-error" };
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
