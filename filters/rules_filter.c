/* filters/rules_filter.c: the policy rules as the last filter of the chain: facts in, verdicts out */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "rules_filter.h"
#include "template.h"
#include "util.h"

/*
 * The rules run after every other filter of their stage (the chain keeps
 * them last), so they see the facts of that stage. A rule that refuses
 * gives the verdict; one in observe mode records "would ..." and the
 * session goes on; add-header, set and skip act and evaluation goes on.
 */


struct rules_sess {
	const struct ruleset *rs;
	struct sl_sess *ss;
	struct rules_hit hit;
	const struct rule *last;
	char ref[REF_LEN + 1];
	char text[420];
	char why[32];
	char num[32];
};

/* lookup - the value of a fact: the session's own, then the filters' */
static bool
lookup(void *arg, const char *name, struct rval *out)
{
	struct rules_sess *rs = arg;
	const struct sl_sess *ss = rs->ss;
	const struct fact *f;

#define STR(v) (out->type = RV_STR, out->s = (v), out->s != NULL)
	if (!strcmp(name, "client.ip"))
		return STR(ss->client_ip);
	if (!strcmp(name, "client.port")) {
		out->type = RV_INT;
		out->i = ss->client_port;
		return true;
	}
	if (!strcmp(name, "helo"))
		return STR(ss->helo);
	if (!strcmp(name, "sender"))
		return STR(ss->mail_from);
	if (!strcmp(name, "rcpt"))
		return STR(ss->rcpt);
	if (!strcmp(name, "auth") || !strcmp(name, "tls")) {
		out->type = RV_BOOL;
		out->i = name[0] == 'a' ? ss->authenticated : ss->tls_version != NULL;
		return true;
	}
	if (!strcmp(name, "tls.version"))
		return STR(ss->tls_version);
#undef STR
	f = fact_get(ss->facts, name);
	if (f == NULL)
		return false;
	switch (f->type) {
	case FACT_BOOL:
		out->type = RV_BOOL;
		out->i = f->i;
		return true;
	case FACT_INT:
		out->type = RV_INT;
		out->i = f->i;
		return true;
	case FACT_STR:
		out->type = RV_STR;
		out->s = f->s;
		return true;
	default:
		return false;
	}
}

/* field - template fields: {ref} and any fact */
static const char *
field(void *arg, const char *name, size_t n)
{
	struct rules_sess *rs = arg;
	char key[64];
	struct rval v;

	if (n == 3 && memcmp(name, "ref", 3) == 0)
		return rs->ref;
	if (n >= sizeof(key))
		return NULL;
	memcpy(key, name, n);
	key[n] = '\0';
	if (!lookup(rs, key, &v))
		return NULL;
	if (v.type == RV_STR)
		return v.s;
	if (v.type == RV_BOOL)
		return v.i ? "true" : "false";
	snprintf(rs->num, sizeof(rs->num), "%lld", v.i);
	return rs->num;
}

/* rules_report - the rule, where it is, and what it read */
static void
rules_report(void *ctx, const struct sl_report *w)
{
	struct rules_sess *rs = ctx;
	const struct rule *r = rs->last;
	char num[32];

	if (r == NULL)
		return;
	w->str(w->ctx, "rule", rule_source(r));
	w->str(w->ctx, "file", rule_file(r));
	w->num(w->ctx, "line", rule_line(r));
	w->str(w->ctx, "observe", rule_observe(r) ? "yes" : "no");
	w->open(w->ctx, "read", false);
	for (unsigned i = 0; i < rs->hit.nread; i++) {
		const struct rval *v = &rs->hit.read_val[i];

		switch (v->type) {
		case RV_INT:
			w->num(w->ctx, rs->hit.read_name[i], v->i);
			break;
		case RV_BOOL:
			w->str(w->ctx, rs->hit.read_name[i], v->i ? "true" : "false");
			break;
		case RV_STR:
			w->str(w->ctx, rs->hit.read_name[i], v->s);
			break;
		default:
			w->str(w->ctx, rs->hit.read_name[i], NULL);
			break;
		}
	}
	(void)num;
	w->close(w->ctx, false);
}

static void *
rules_conf_new(const struct conf_stmt *block, struct conf_error *err)
{
	return rules_parse(block, err);
}

static void
rules_conf_free(void *conf)
{
	rules_free(conf);
}

static unsigned
rules_filter_stages(const void *conf)
{
	return rules_stages(conf);
}

static void *
rules_attach(const void *conf, struct sl_sess *ss)
{
	struct rules_sess *rs = calloc(1, sizeof(*rs));

	if (rs != NULL) {
		rs->rs = conf;
		rs->ss = ss;
	}
	return rs;
}

static void
rules_detach(void *ctx)
{
	free(ctx);
}

/* record - a decision record for a rule that did not refuse */
static void
record(struct rules_sess *rs, enum sl_stage st, const char *why)
{
	struct sl_verdict v = { .action = SL_ACT_CONTINUE, .filter = "rules", .why = why, .record = true,
		.ref = rs->ref, .report = rules_report, .report_ctx = rs };

	if (rs->ss->record != NULL)
		rs->ss->record(rs->ss, st, &v);
}

/* rules_hook - see sl_filter.hook */
static enum sl_hook_rc
rules_hook(void *ctx, enum sl_stage st, struct sl_verdict *v)
{
	struct rules_sess *rs = ctx;
	unsigned pos = 0;
	const struct rule *r;
	char buf[420];

	if (st >= RULES_STAGES)
		return SL_HOOK_CONTINUE;
	while ((r = rules_eval(rs->rs, (int)st, &pos, lookup, rs, &rs->hit)) != NULL) {
		enum rule_action a = rule_action(r);

		rs->last = r;
		ref_new(rs->ref);
		switch (a) {
		case RA_ACCEPT:
			record(rs, st, "accept");
			return SL_HOOK_CONTINUE;
		case RA_ADD_HEADER:
			tpl_render(buf, sizeof(buf), rule_arg(r), field, rs);
			if (rs->ss->add_header != NULL)
				rs->ss->add_header(rs->ss, st, buf);
			continue;
		case RA_SET: {
			const struct rval *sv = rule_set_value(r);

			if (sv->type == RV_STR)
				fact_set_str(rs->ss->facts, rule_arg(r), sv->s);
			else if (sv->type == RV_BOOL)
				fact_set_bool(rs->ss->facts, rule_arg(r), sv->i != 0);
			else
				fact_set_int(rs->ss->facts, rule_arg(r), sv->i);
			continue;
		}
		case RA_SKIP:
			if (rs->ss->skip_filter != NULL)
				rs->ss->skip_filter(rs->ss, rule_arg(r));
			continue;
		default:
			break;
		}
		/* reject, tempfail, disconnect */
		if (rule_observe(r)) {
			snprintf(rs->why, sizeof(rs->why), "observe:%s", a == RA_REJECT ? "reject" : a == RA_TEMPFAIL ?
			    "tempfail" : "disconnect");
			record(rs, st, rs->why);
			continue; /* trialling: the session goes on */
		}
		tpl_render(rs->text, sizeof(rs->text), rule_text(r) ? rule_text(r) :
		    a == RA_TEMPFAIL ? "Service temporarily unavailable; ref={ref}" : "Rejected by policy; ref={ref}",
		    field, rs);
		v->action = a == RA_REJECT ? SL_ACT_REJECT : a == RA_TEMPFAIL ? SL_ACT_TEMPFAIL : SL_ACT_DISCONNECT;
		v->code = rule_code(r) ? rule_code(r) : a == RA_REJECT ? 550 : a == RA_TEMPFAIL ? 451 : 421;
		v->enh = rule_enh(r) ? rule_enh(r) : a == RA_REJECT ? "5.7.1" : a == RA_TEMPFAIL ? "4.7.1" : "4.7.0";
		v->text = rs->text;
		v->ref = rs->ref;
		v->why = a == RA_REJECT ? "reject" : a == RA_TEMPFAIL ? "tempfail" : "disconnect";
		v->report = rules_report;
		v->report_ctx = rs;
		return SL_HOOK_CONTINUE;
	}
	return SL_HOOK_CONTINUE;
}

const struct sl_filter rules_filter = {
	.abi = SL_FILTER_ABI,
	.name = "rules",
	.conf_new = rules_conf_new,
	.conf_free = rules_conf_free,
	.stages = rules_filter_stages,
	.attach = rules_attach,
	.detach = rules_detach,
	.hook = rules_hook,
	.report = rules_report,
};
