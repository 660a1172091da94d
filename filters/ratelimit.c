/* filters/ratelimit.c: connection, message and recipient rates per client, sender and user */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "ratelimit.h"
#include "store.h"
#include "util.h"

/*
 * limits {
 *     store /var/lib/sluice/state        # the LMDB directory (shared by workers and processes)
 *     connection_rate 30/1m              # per client address, at connect
 *     message_rate 100/1h ip|sender|user # MAIL commands per window
 *     recipient_rate 1000/1h ip|sender|user
 *     verdict on|off                     # off: facts only (limits.exceeded), the rules decide
 * }
 * Counts are attempts (counted when the command arrives). A limit without
 * its subject (user: no AUTH; sender: the null sender) does not apply.
 * Concurrency per address is `limit sessions_per_ip` of the core.
 */

#define LIMITS_MAX 16
#define STORE_MAP_SIZE (256UL * 1024 * 1024)

enum lkind { L_CONN = 0, L_MSG, L_RCPT, L_KIND_COUNT };
enum lscope { S_IP = 0, S_SENDER, S_USER, S_SCOPE_COUNT };

static const char *const kind_names[L_KIND_COUNT] = { "connection_rate", "message_rate", "recipient_rate" };
static const char *const scope_names[S_SCOPE_COUNT] = { "ip", "sender", "user" };

struct limit {
	enum lkind kind;
	enum lscope scope;
	unsigned max;
	unsigned window_s;
};

struct limits_conf {
	struct store *store;     /* borrowed from the process-wide registry */
	bool verdict;
	unsigned n;
	struct limit l[LIMITS_MAX];
};

struct limits_sess {
	const struct limits_conf *c;
	struct sl_sess *ss;
	char text[300];
	char exceeded[64];
	uint64_t count;
};

/* parse_rate - "30/1m", "100/1h", "5/30s" */
static int
parse_rate(const char *s, unsigned *max, unsigned *window_s)
{
	char *end;
	unsigned long m = strtoul(s, &end, 10);
	unsigned ms;

	if (end == s || *end != '/' || m == 0 || m > 100000000)
		return -1;
	if (conf_parse_duration(end + 1, &ms) < 0 || ms < 1000)
		return -1;
	*max = (unsigned)m;
	*window_s = ms / 1000;
	return 0;
}

static void *
limits_conf_new(const struct conf_stmt *block, struct conf_error *err)
{
	struct limits_conf *c = calloc(1, sizeof(*c));
	char why[300];
	const char *dir = "/var/lib/sluice/state";
	const struct conf_stmt *dir_at = block;

	if (c == NULL)
		return NULL;
	c->verdict = true;
	for (const struct conf_stmt *s = block->child; s != NULL; s = s->next) {
		const char *k = s->argv[0];
		int kind = -1, scope = S_IP;

		for (int i = 0; i < L_KIND_COUNT; i++)
			if (!strcmp(k, kind_names[i]))
				kind = i;
		if (!strcmp(k, "store") && s->argc == 2) {
			dir = s->argv[1];
			dir_at = s;
			continue;
		}
		if (!strcmp(k, "verdict") && s->argc == 2 && (!strcmp(s->argv[1], "on") || !strcmp(s->argv[1], "off"))) {
			c->verdict = !strcmp(s->argv[1], "on");
			continue;
		}
		if (kind < 0 || s->argc < 2 || s->argc > 3 || c->n >= LIMITS_MAX) {
			snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: limits takes store DIR, connection_rate N/TIME, "
			    "message_rate|recipient_rate N/TIME ip|sender|user and verdict on|off (at most %d limits)",
			    s->file, s->line, s->col, LIMITS_MAX);
			goto fail;
		}
		if (s->argc == 3) {
			for (scope = 0; scope < S_SCOPE_COUNT && strcmp(scope_names[scope], s->argv[2]); scope++)
				;
			if (scope == S_SCOPE_COUNT || (kind == L_CONN && scope != S_IP)) {
				snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: '%s': a rate is per ip, sender or user "
				    "(connections: per ip)", s->file, s->line, s->argcol[2], s->argv[2]);
				goto fail;
			}
		}
		if (parse_rate(s->argv[1], &c->l[c->n].max, &c->l[c->n].window_s) < 0) {
			snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: '%s' is not a rate like 100/1h (count/window of "
			    "at least 1s)", s->file, s->line, s->argcol[1], s->argv[1]);
			goto fail;
		}
		c->l[c->n].kind = (enum lkind)kind;
		c->l[c->n].scope = (enum lscope)scope;
		c->n++;
	}
	if ((c->store = store_open_lmdb(dir, STORE_MAP_SIZE, why, sizeof(why))) == NULL) {
		snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: %s", dir_at->file, dir_at->line, dir_at->col, why);
		goto fail;
	}
	return c;
fail:
	free(c);
	return NULL;
}

static void
limits_conf_free(void *conf)
{
	struct limits_conf *c = conf;

	if (c != NULL && c->store != NULL)
		c->store->ops->close(c->store);
	free(c);
}

static unsigned
limits_stages(const void *conf)
{
	const struct limits_conf *c = conf;
	unsigned m = 0;

	for (unsigned i = 0; i < c->n; i++)
		m |= 1u << (c->l[i].kind == L_CONN ? SL_STAGE_CONNECT : c->l[i].kind == L_MSG ? SL_STAGE_MAIL : SL_STAGE_RCPT);
	return m;
}

static void *
limits_attach(const void *conf, struct sl_sess *ss)
{
	struct limits_sess *ls = calloc(1, sizeof(*ls));

	if (ls != NULL) {
		ls->c = conf;
		ls->ss = ss;
	}
	return ls;
}

static void
limits_detach(void *ctx)
{
	free(ctx);
}

/* subject - what a limit counts for this session; NULL: does not apply */
static const char *
subject(const struct limits_sess *ls, enum lscope scope)
{
	const struct fact *user;

	switch (scope) {
	case S_IP:
		return ls->ss->client_ip;
	case S_SENDER:
		return ls->ss->mail_from && ls->ss->mail_from[0] ? ls->ss->mail_from : NULL;
	case S_USER:
		user = fact_get(ls->ss->facts, "auth.user");
		return user && user->s[0] ? user->s : NULL;
	default:
		return NULL;
	}
}

static void
limits_report(void *ctx, const struct sl_report *w)
{
	struct limits_sess *ls = ctx;

	w->str(w->ctx, "exceeded", ls->exceeded);
	w->num(w->ctx, "count", (long long)ls->count);
	w->str(w->ctx, "store", ls->c->store->ops->name);
}

/* limits_hook - count, and refuse over a limit */
static enum sl_hook_rc
limits_hook(void *ctx, enum sl_stage st, struct sl_verdict *v)
{
	struct limits_sess *ls = ctx;
	enum lkind want = st == SL_STAGE_CONNECT ? L_CONN : st == SL_STAGE_MAIL ? L_MSG : L_RCPT;
	uint64_t now = (uint64_t)time(NULL);
	bool failed = false;

	for (unsigned i = 0; i < ls->c->n; i++) {
		const struct limit *l = &ls->c->l[i];
		const char *subj = subject(ls, l->scope);
		char key[600];
		uint64_t total;

		if (l->kind != want || subj == NULL)
			continue;
		snprintf(key, sizeof(key), "%s/%s/%u:%s", kind_names[l->kind], scope_names[l->scope], l->window_s, subj);
		if (ls->c->store->ops->add(ls->c->store, key, 1, l->window_s, now, &total) < 0) {
			failed = true;
			continue;
		}
		if (total <= l->max || ls->exceeded[0] != '\0')
			continue;
		snprintf(ls->exceeded, sizeof(ls->exceeded), "%s/%s", kind_names[l->kind], scope_names[l->scope]);
		ls->count = total;
		fact_set_str(ls->ss->facts, "limits.exceeded", ls->exceeded);
		fact_set_int(ls->ss->facts, "limits.count", (long long)total);
		if (!ls->c->verdict)
			continue;
		snprintf(ls->text, sizeof(ls->text), "Error: too many %s from %s %s (%llu in %us); try again later",
		    l->kind == L_CONN ? "connections" : l->kind == L_MSG ? "messages" : "recipients", scope_names[l->scope],
		    subj, (unsigned long long)total, l->window_s);
		v->action = SL_ACT_TEMPFAIL;
		v->code = l->kind == L_CONN ? 421 : 450;
		v->enh = l->kind == L_CONN ? "4.7.0" : "4.7.1";
		v->text = ls->text;
		v->why = "rate-limit";
		v->report = limits_report;
		v->report_ctx = ls;
		return SL_HOOK_CONTINUE;
	}
	ls->exceeded[0] = '\0';
	return failed ? SL_HOOK_ERROR : SL_HOOK_CONTINUE;
}

const struct sl_filter limits_filter = {
	.abi = SL_FILTER_ABI,
	.name = "limits",
	.conf_new = limits_conf_new,
	.conf_free = limits_conf_free,
	.stages = limits_stages,
	.attach = limits_attach,
	.detach = limits_detach,
	.hook = limits_hook,
	.report = limits_report,
};
