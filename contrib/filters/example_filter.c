/* contrib/filters/example_filter.c: an external sluice filter, loaded with `plugin PATH`
 *
 * Build: meson builds it as contrib/filters/sluice_example.so; out of tree,
 *     cc -shared -fPIC -I/usr/include/sluice -o sluice_example.so example_filter.c
 * Configure:
 *     plugin /usr/lib/sluice/sluice_example.so
 *     example [hook_timeout 5s] [on_error skip|tempfail] {
 *         reject_helo bad.example      # refuse this HELO name (550 5.7.1)
 *         reject_at eod                # refuse every session at this stage (550 5.7.1)
 *         fail_at mail                 # for testing: fail the hook at this stage
 *         hang_at rcpt                 # for testing: never answer at this stage
 *     }
 * Stages: connect helo mail rcpt data eod; at eod the whole message is in
 * and the backend has not had the final dot yet.
 * It writes the fact example.helo (the HELO name it saw) and shows the
 * whole interface: a configuration block, per-session state, a verdict with
 * its evidence for the decision record, and the failure paths the chain
 * must survive.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "filter.h"

struct example_conf {
	char reject_helo[256];
	int fail_at, hang_at, reject_at; /* an sl_stage, or -1 */
};

struct example_sess {
	const struct example_conf *c;
	struct sl_sess *ss;
	char text[300];
	char helo[256];
	const char *rule; /* which option refused */
};

/* stage_of - "helo" -> SL_STAGE_HELO; -1 when unknown */
static int
stage_of(const char *s)
{
	static const char *const names[] = { "connect", "helo", "mail", "rcpt", "data", "eod" };

	for (int i = 0; i < 6; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/* example_conf_new - the example { } block */
static void *
example_conf_new(const struct conf_stmt *block, struct conf_error *err)
{
	struct example_conf *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->fail_at = c->hang_at = c->reject_at = -1;
	for (const struct conf_stmt *s = block->child; s != NULL; s = s->next) {
		if (s->argc == 2 && strcmp(s->argv[0], "reject_helo") == 0) {
			snprintf(c->reject_helo, sizeof(c->reject_helo), "%s", s->argv[1]);
		} else if (s->argc == 2 && strcmp(s->argv[0], "fail_at") == 0 && stage_of(s->argv[1]) >= 0) {
			c->fail_at = stage_of(s->argv[1]);
		} else if (s->argc == 2 && strcmp(s->argv[0], "hang_at") == 0 && stage_of(s->argv[1]) >= 0) {
			c->hang_at = stage_of(s->argv[1]);
		} else if (s->argc == 2 && strcmp(s->argv[0], "reject_at") == 0 && stage_of(s->argv[1]) >= 0) {
			c->reject_at = stage_of(s->argv[1]);
		} else {
			snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: unknown example option '%s'", s->file, s->line,
			    s->col, s->argv[0]);
			free(c);
			return NULL;
		}
	}
	return c;
}

static void
example_conf_free(void *conf)
{
	free(conf);
}

/* example_stages - HELO always; the failure and refusal stages when asked for */
static unsigned
example_stages(const void *conf)
{
	const struct example_conf *c = conf;
	unsigned m = 1u << SL_STAGE_HELO;

	if (c->fail_at >= 0)
		m |= 1u << c->fail_at;
	if (c->hang_at >= 0)
		m |= 1u << c->hang_at;
	if (c->reject_at >= 0)
		m |= 1u << c->reject_at;
	return m;
}

static void *
example_attach(const void *conf, struct sl_sess *ss)
{
	struct example_sess *e = calloc(1, sizeof(*e));

	if (e != NULL) {
		e->c = conf;
		e->ss = ss;
	}
	return e;
}

static void
example_detach(void *ctx)
{
	free(ctx); /* nothing pending to cancel: hang_at simply never resumes */
}

/* example_report - the evidence behind a verdict */
static void
example_report(void *ctx, const struct sl_report *w)
{
	struct example_sess *e = ctx;

	w->str(w->ctx, "helo", e->helo);
	w->str(w->ctx, "rule", e->rule);
}

/* example_refuse - a 550 5.7.1 verdict with e->text, and its evidence */
static void
example_refuse(struct example_sess *e, struct sl_verdict *v, const char *rule, const char *why)
{
	e->rule = rule;
	v->action = SL_ACT_REJECT;
	v->code = 550;
	v->enh = "5.7.1";
	v->text = e->text;
	v->why = why;
	v->report = example_report;
	v->report_ctx = e;
}

/* example_hook - see filter.h */
static enum sl_hook_rc
example_hook(void *ctx, enum sl_stage st, struct sl_verdict *v)
{
	struct example_sess *e = ctx;

	if ((int)st == e->c->fail_at)
		return SL_HOOK_ERROR;
	if ((int)st == e->c->hang_at)
		return SL_HOOK_PENDING; /* and never resume: the chain's hook_timeout must save the session */
	if ((int)st == e->c->reject_at) {
		snprintf(e->text, sizeof(e->text), "Refused by the example filter (reject_at)");
		example_refuse(e, v, "reject_at", "reject_at");
		return SL_HOOK_CONTINUE;
	}
	if (st == SL_STAGE_HELO && e->ss->helo != NULL) {
		snprintf(e->helo, sizeof(e->helo), "%s", e->ss->helo);
		fact_set_str(e->ss->facts, "example.helo", e->helo);
		if (e->c->reject_helo[0] != '\0' && strcmp(e->helo, e->c->reject_helo) == 0) {
			snprintf(e->text, sizeof(e->text), "HELO %s refused by the example filter", e->helo);
			example_refuse(e, v, "reject_helo", "helo");
		}
	}
	return SL_HOOK_CONTINUE;
}

static const struct sl_filter example_filter = {
	.abi = SL_FILTER_ABI,
	.name = "example",
	.conf_new = example_conf_new,
	.conf_free = example_conf_free,
	.stages = example_stages,
	.attach = example_attach,
	.detach = example_detach,
	.hook = example_hook,
	.report = example_report,
};

/* sluice_filter_entry - the one symbol sluice looks for (plugin.h) */
const struct sl_filter *sluice_filter_entry(unsigned host_abi);

const struct sl_filter *
sluice_filter_entry(unsigned host_abi)
{
	(void)host_abi; /* sluice compares example_filter.abi with its own */
	return &example_filter;
}
