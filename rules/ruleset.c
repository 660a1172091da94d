/* rules/ruleset.c: the rules { } block: stages, conditions and actions */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "expr.h"
#include "rules.h"
#include "template.h"

#define RULES_MAX 1024

struct rule {
	int stage;
	bool observe;
	struct expr *cond;     /* owned; NULL: always */
	enum rule_action action;
	int code;
	char enh[8];
	char *text;            /* owned template */
	char *arg;             /* owned: fact (set), filter (skip), header template (add-header) */
	struct rval setval;    /* setval.s owned */
	char *file;            /* owned */
	int line;
	char *source;          /* owned */
	const struct ruleset *rs;
};

struct ruleset {
	bool observe;          /* every rule only logs */
	unsigned n;
	struct rule *r;        /* owned, file order */
};

static const char *const stage_names[RULES_STAGES] = { "connect", "helo", "mail", "rcpt", "data" };

/* source_of - the statement as written, for decision records */
static char *
source_of(const struct conf_stmt *s)
{
	size_t len = 1;
	char *out;

	for (int w = 0; w < s->argc; w++)
		len += strlen(s->argv[w]) * 2 + 3;
	if ((out = calloc(1, len)) == NULL)
		return NULL;
	for (int w = 0; w < s->argc; w++) {
		if (w > 0)
			strcat(out, " ");
		if (s->argq && s->argq[w]) {
			char *o = out + strlen(out);

			*o++ = '"';
			for (const char *p = s->argv[w]; *p; p++) {
				if (*p == '"' || *p == '\\')
					*o++ = '\\';
				*o++ = *p;
			}
			*o++ = '"';
			*o = '\0';
		} else {
			strcat(out, s->argv[w]);
		}
	}
	return out;
}

/* parse_reply - [CODE ENH] ["text"] after reject/tempfail/disconnect */
static int
parse_reply(struct conf_error *err, const struct conf_stmt *s, int w, struct rule *r, int cls_lo, int cls_hi)
{
	char why[160];

	if (w < s->argc && !(s->argq && s->argq[w])) {
		char *end;
		long code = strtol(s->argv[w], &end, 10);

		if (*end != '\0' || code < cls_lo * 100 || code > cls_hi * 100 + 99)
			return conf_fail_at(err, s, s->argcol[w], "'%s' is not a reply code from %d00 to %d99", s->argv[w], cls_lo,
			    cls_hi);
		r->code = (int)code;
		w++;
		if (w >= s->argc || (s->argq && s->argq[w]) || strlen(s->argv[w]) > 7 || s->argv[w][0] != '0' + code / 100 ||
		    s->argv[w][1] != '.' || strspn(s->argv[w] + 2, "0123456789.") != strlen(s->argv[w] + 2))
			return conf_fail_at(err, s, w < s->argc ? s->argcol[w] : s->col, "an enhanced status code %ld.x.y must follow %ld",
			    code / 100, code);
		strcpy(r->enh, s->argv[w]);
		w++;
	}
	if (w < s->argc) {
		if (tpl_check(s->argv[w], NULL, why, sizeof(why)) < 0)
			return conf_fail_at(err, s, s->argcol[w], "%s", why);
		if (strlen(s->argv[w]) > 400)
			return conf_fail_at(err, s, s->argcol[w], "reply text longer than 400 bytes");
		if ((r->text = strdup(s->argv[w])) == NULL)
			return conf_fail_at(err, s, s->col, "out of memory");
		w++;
	}
	if (w < s->argc)
		return conf_fail_at(err, s, s->argcol[w], "unexpected '%s' after the reply", s->argv[w]);
	return 0;
}

/* parse_action - the words from w on */
static int
parse_action(struct conf_error *err, const struct conf_stmt *s, int w, struct rule *r)
{
	const char *a;
	char why[160];

	if (w >= s->argc)
		return conf_fail_at(err, s, s->argcol[s->argc - 1], "an action is missing (reject, tempfail, disconnect, accept, "
		    "add-header, set, skip)");
	a = s->argv[w];
	if (!strcmp(a, "accept")) {
		r->action = RA_ACCEPT;
		return w + 1 == s->argc ? 0 : conf_fail_at(err, s, s->argcol[w + 1], "accept takes nothing");
	}
	if (!strcmp(a, "reject")) {
		r->action = RA_REJECT;
		return parse_reply(err, s, w + 1, r, 5, 5);
	}
	if (!strcmp(a, "tempfail")) {
		r->action = RA_TEMPFAIL;
		return parse_reply(err, s, w + 1, r, 4, 4);
	}
	if (!strcmp(a, "disconnect")) {
		r->action = RA_DISCONNECT;
		return parse_reply(err, s, w + 1, r, 4, 5);
	}
	if (!strcmp(a, "add-header")) {
		r->action = RA_ADD_HEADER;
		if (w + 2 != s->argc || strchr(s->argv[w + 1], ':') == NULL || strpbrk(s->argv[w + 1], "\r\n"))
			return conf_fail_at(err, s, s->argcol[w], "add-header takes one \"Name: value\"");
		if (tpl_check(s->argv[w + 1], NULL, why, sizeof(why)) < 0)
			return conf_fail_at(err, s, s->argcol[w + 1], "%s", why);
		return (r->arg = strdup(s->argv[w + 1])) ? 0 : conf_fail_at(err, s, s->col, "out of memory");
	}
	if (!strcmp(a, "set")) {
		r->action = RA_SET;
		if (w + 4 != s->argc || strcmp(s->argv[w + 2], "=") != 0)
			return conf_fail_at(err, s, s->argcol[w], "set takes FACT = VALUE");
		if ((r->arg = strdup(s->argv[w + 1])) == NULL || (r->setval.s = strdup(s->argv[w + 3])) == NULL)
			return conf_fail_at(err, s, s->col, "out of memory");
		rval_literal(r->setval.s, s->argq && s->argq[w + 3], &r->setval);
		return 0;
	}
	if (!strcmp(a, "skip")) {
		r->action = RA_SKIP;
		if (w + 2 != s->argc)
			return conf_fail_at(err, s, s->argcol[w], "skip takes one filter name");
		return (r->arg = strdup(s->argv[w + 1])) ? 0 : conf_fail_at(err, s, s->col, "out of memory");
	}
	return conf_fail_at(err, s, s->argcol[w], "unknown action '%s' (reject, tempfail, disconnect, accept, add-header, set, "
	    "skip)", a);
}

/* parse_rule - STAGE[:] [observe] [if EXPR then] ACTION */
static int
parse_rule(struct conf_error *err, const struct conf_stmt *s, struct rule *r)
{
	char stage[16], why[256];
	size_t n = strlen(s->argv[0]);
	int w = 1, st;

	if (n > 0 && s->argv[0][n - 1] == ':')
		n--;
	snprintf(stage, sizeof(stage), "%.*s", (int)(n < sizeof(stage) ? n : sizeof(stage) - 1), s->argv[0]);
	for (st = 0; st < RULES_STAGES && strcmp(stage_names[st], stage); st++)
		;
	if (st == RULES_STAGES)
		return conf_fail_at(err, s, s->col, "'%s' is not a stage (connect, helo, mail, rcpt, data) or rules option",
		    s->argv[0]);
	r->stage = st;
	if (w < s->argc && !strcmp(s->argv[w], "observe") && !(s->argq && s->argq[w])) {
		r->observe = true;
		w++;
	}
	if (w < s->argc && !strcmp(s->argv[w], "if") && !(s->argq && s->argq[w])) {
		struct etok tok[EXPR_MAX_TOKENS];
		int ntok = expr_tokens(s->argv + w + 1, s->argq ? s->argq + w + 1 : NULL, s->argcol + w + 1, s->argc - w - 1,
		    tok, EXPR_MAX_TOKENS);
		int used = 0, col = 0, consumed;

		if (ntok < 0)
			return conf_fail_at(err, s, s->col, "condition longer than %d tokens", EXPR_MAX_TOKENS);
		r->cond = expr_parse(tok, ntok, &used, why, sizeof(why), &col);
		if (r->cond == NULL)
			return conf_fail_at(err, s, col ? col : s->argcol[w], "%s", why);
		if (used >= ntok || tok[used].quoted || tok[used].n != 4 || memcmp(tok[used].s, "then", 4) != 0)
			return conf_fail_at(err, s, used < ntok ? tok[used].col : s->argcol[s->argc - 1], "'then' expected");
		/* back from tokens to words: the action starts after the word holding "then" */
		consumed = w + 1;
		while (consumed < s->argc && s->argcol[consumed] <= tok[used].col)
			consumed++;
		w = consumed;
	}
	return parse_action(err, s, w, r);
}

static void
rule_clear(struct rule *r)
{
	expr_free(r->cond);
	free(r->text);
	free(r->arg);
	free((char *)(uintptr_t)r->setval.s);
	free(r->file);
	free(r->source);
}

/* rules_parse - see rules.h */
struct ruleset *
rules_parse(const struct conf_stmt *block, struct conf_error *err)
{
	struct ruleset *rs = calloc(1, sizeof(*rs));

	if (rs == NULL) {
		conf_fail_at(err, block, block->col, "out of memory");
		return NULL;
	}
	for (const struct conf_stmt *s = block->child; s != NULL; s = s->next) {
		struct rule *r;

		if (!strcmp(s->argv[0], "observe")) {
			if (s->argc != 2 || (strcmp(s->argv[1], "on") && strcmp(s->argv[1], "off"))) {
				conf_fail_at(err, s, s->col, "observe takes on or off");
				goto fail;
			}
			rs->observe = !strcmp(s->argv[1], "on");
			continue;
		}
		if (rs->n >= RULES_MAX) {
			conf_fail_at(err, s, s->col, "more than %d rules", RULES_MAX);
			goto fail;
		}
		if (s->block) {
			conf_fail_at(err, s, s->col, "a rule takes no block");
			goto fail;
		}
		if ((r = realloc(rs->r, sizeof(*r) * (rs->n + 1))) == NULL) {
			conf_fail_at(err, s, s->col, "out of memory");
			goto fail;
		}
		rs->r = r;
		r = &rs->r[rs->n];
		memset(r, 0, sizeof(*r));
		rs->n++;
		r->rs = rs;
		r->line = s->line;
		if ((r->file = strdup(s->file)) == NULL || (r->source = source_of(s)) == NULL) {
			conf_fail_at(err, s, s->col, "out of memory");
			goto fail;
		}
		if (parse_rule(err, s, r) < 0)
			goto fail;
	}
	return rs;
fail:
	rules_free(rs);
	return NULL;
}

/* rules_free - see rules.h */
void
rules_free(struct ruleset *rs)
{
	if (rs == NULL)
		return;
	for (unsigned i = 0; i < rs->n; i++)
		rule_clear(&rs->r[i]);
	free(rs->r);
	free(rs);
}

/* rules_stages - see rules.h */
unsigned
rules_stages(const struct ruleset *rs)
{
	unsigned m = 0;

	for (unsigned i = 0; i < rs->n; i++)
		m |= 1u << rs->r[i].stage;
	return m;
}

/* rules_eval - see rules.h */
const struct rule *
rules_eval(const struct ruleset *rs, int stage, unsigned *pos, rules_lookup_fn lookup, void *arg,
    struct rules_hit *hit)
{
	for (; *pos < rs->n; (*pos)++) {
		const struct rule *r = &rs->r[*pos];

		if (r->stage != stage)
			continue;
		hit->nread = 0;
		if (r->cond == NULL || expr_eval(r->cond, lookup, arg, hit)) {
			hit->rule = r;
			(*pos)++;
			return r;
		}
	}
	hit->rule = NULL;
	return NULL;
}

enum rule_action rule_action(const struct rule *r) { return r->action; }
bool rule_observe(const struct rule *r) { return r->observe || r->rs->observe; }
int rule_code(const struct rule *r) { return r->code; }
const char *rule_enh(const struct rule *r) { return r->enh[0] ? r->enh : NULL; }
const char *rule_text(const struct rule *r) { return r->text; }
const char *rule_arg(const struct rule *r) { return r->arg; }
const struct rval *rule_set_value(const struct rule *r) { return &r->setval; }
const char *rule_file(const struct rule *r) { return r->file; }
int rule_line(const struct rule *r) { return r->line; }
const char *rule_source(const struct rule *r) { return r->source; }
