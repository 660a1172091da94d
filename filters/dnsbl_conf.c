/* filters/dnsbl_conf.c: the dnsbl { } configuration block */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "dnsbl.h"
#include "set.h"
#include "template.h"

#define DEFAULT_REPLY  "Service unavailable; {listed} listed on {list} ({reason}); ref={ref}"
#define DEFAULT_TREPLY "Service temporarily unavailable; DNS list {list} unavailable; ref={ref}"

const char *const dnsbl_tpl_fields[] = {
	"client.ip", "helo", "sender", "listed", "list", "lists", "reason", "answer", "txt",
	"score", "threshold", "ref", NULL,
};

/* nargs - s has between min and max arguments */
static int
nargs(struct conf_error *err, const struct conf_stmt *s, int min, int max)
{
	if (s->argc - 1 < min || s->argc - 1 > max)
		return conf_fail(err, s, 0, "'%s' takes %d%s argument%s", s->argv[0], min,
		    max > min ? " or more" : "", min == 1 && max == 1 ? "" : "s");
	if (s->block)
		return conf_fail(err, s, 0, "'%s' takes no block", s->argv[0]);
	return 0;
}

/* parse_int - a decimal integer within [lo, hi] */
static int
parse_int(struct conf_error *err, const struct conf_stmt *s, int w, long lo, long hi, int *out)
{
	char *end;
	long v = strtol(s->argv[w], &end, 10);

	if (end == s->argv[w] || *end != '\0' || v < lo || v > hi)
		return conf_fail(err, s, w, "'%s' is not a number from %ld to %ld", s->argv[w], lo, hi);
	*out = (int)v;
	return 0;
}

/* parse_onoff - on | off */
static int
parse_onoff(struct conf_error *err, const struct conf_stmt *s, int w, bool *out)
{
	if (!strcmp(s->argv[w], "on") || !strcmp(s->argv[w], "yes"))
		*out = true;
	else if (!strcmp(s->argv[w], "off") || !strcmp(s->argv[w], "no"))
		*out = false;
	else
		return conf_fail(err, s, w, "expected on or off, not '%s'", s->argv[w]);
	return 0;
}

/* parse_reply - reply CODE ENH "text": code class given by cls (5 or 4) */
static int
parse_reply(struct conf_error *err, const struct conf_stmt *s, int cls, int *code, char *enh, char **text)
{
	int c;
	char why[160];
	const char *e;

	if (nargs(err, s, 3, 3) < 0 || parse_int(err, s, 1, cls * 100, cls * 100 + 99, &c) < 0)
		return -1;
	e = s->argv[2];
	if (strlen(e) > 7 || e[0] != '0' + cls || e[1] != '.' || strspn(e + 2, "0123456789.") != strlen(e + 2))
		return conf_fail(err, s, 2, "'%s' is not an enhanced status code %d.x.y", e, cls);
	if (tpl_check(s->argv[3], dnsbl_tpl_fields, why, sizeof(why)) < 0)
		return conf_fail(err, s, 3, "%s", why);
	if (strlen(s->argv[3]) > DNSBL_TEXT_MAX)
		return conf_fail(err, s, 3, "reply text longer than %d bytes", DNSBL_TEXT_MAX);
	*code = c;
	strcpy(enh, e);
	free(*text);
	*text = strdup(s->argv[3]);
	return *text != NULL ? 0 : conf_fail(err, s, 0, "out of memory");
}

/* parse_errpat - error_codes PATTERN... */
static int
parse_errpat(struct conf_error *err, const struct conf_stmt *s, struct dnsbl_pattern *pat, unsigned *n)
{
	char why[160];

	if (s->argc < 2 || s->block)
		return conf_fail(err, s, 0, "error_codes takes one or more answer patterns");
	*n = 0;
	for (int w = 1; w < s->argc; w++) {
		if (*n >= DNSBL_MAX_ERRPAT)
			return conf_fail(err, s, w, "at most %d error code patterns", DNSBL_MAX_ERRPAT);
		if (dnsbl_pattern_parse(s->argv[w], strlen(s->argv[w]), &pat[*n], why, sizeof(why)) < 0)
			return conf_fail(err, s, w, "bad answer pattern '%s': %s", s->argv[w], why);
		(*n)++;
	}
	return 0;
}

/* parse_list - list SPEC [{ options }] */
static int
parse_list(struct conf_error *err, const struct conf_stmt *s, struct dnsbl_conf *c)
{
	struct dnsbl_list *l;
	char why[160];

	if (s->argc != 2)
		return conf_fail(err, s, 0, "list takes one spec, e.g. zen.example=127.0.0.[2..11]*3");
	if (c->nlists >= DNSBL_MAX_LISTS)
		return conf_fail(err, s, 0, "at most %d lists", DNSBL_MAX_LISTS);
	l = &c->lists[c->nlists];
	memset(l, 0, sizeof(*l));
	if (dnsbl_spec_parse(s->argv[1], strlen(s->argv[1]), &l->spec, why, sizeof(why)) < 0)
		return conf_fail(err, s, 1, "bad list spec '%s': %s%s", s->argv[1], why,
		    strchr(s->argv[1], '[') && !strchr(s->argv[1], ']') ? " (';' ends a statement: quote a spec that has one)" : "");
	c->nlists++; /* from here on dnsbl_conf_free() owns l->reply and l->cnt */
	if ((l->cnt = calloc(1, sizeof(*l->cnt))) == NULL)
		return conf_fail(err, s, 0, "out of memory");
	for (const struct conf_stmt *o = s->child; o != NULL; o = o->next) {
		const char *k = o->argv[0];

		if (!strcmp(k, "on")) {
			static const char *const ons[DNSBL_ON_COUNT] = { "ip", "ptr", "helo", "sender" };
			int i;

			if (nargs(err, o, 1, 1) < 0)
				return -1;
			for (i = 0; i < DNSBL_ON_COUNT && strcmp(ons[i], o->argv[1]); i++)
				;
			if (i == DNSBL_ON_COUNT)
				return conf_fail(err, o, 1, "'%s': a list is on ip, ptr, helo or sender", o->argv[1]);
			l->on = (enum dnsbl_on)i;
		} else if (!strcmp(k, "txt")) {
			if (nargs(err, o, 1, 1) < 0 || parse_onoff(err, o, 1, &l->txt) < 0)
				return -1;
		} else if (!strcmp(k, "log_only")) {
			if (nargs(err, o, 1, 1) < 0 || parse_onoff(err, o, 1, &l->log_only) < 0)
				return -1;
		} else if (!strcmp(k, "key")) {
			size_t n;

			if (nargs(err, o, 1, 1) < 0)
				return -1;
			n = strlen(o->argv[1]);
			if (n == 0 || n > DNSBL_KEY_MAX || strspn(o->argv[1], "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != n)
				return conf_fail(err, o, 1, "a key is one DNS label (letters, digits, '-', '_'; up to %d)",
				    DNSBL_KEY_MAX);
			memcpy(l->key, o->argv[1], n + 1);
		} else if (!strcmp(k, "on_failure")) {
			if (o->argc == 2 && !strcmp(o->argv[1], "pass")) {
				l->fail = DNSBL_FAIL_PASS;
			} else if (o->argc == 2 && !strcmp(o->argv[1], "tempfail")) {
				l->fail = DNSBL_FAIL_TEMPFAIL;
			} else if (o->argc == 3 && !strcmp(o->argv[1], "score")) {
				if (parse_int(err, o, 2, -1000000, 1000000, &l->fail_score) < 0)
					return -1;
				l->fail = DNSBL_FAIL_SCORE;
			} else {
				return conf_fail(err, o, 1, "on_failure takes pass, tempfail or score N");
			}
		} else if (!strcmp(k, "reply")) {
			if (nargs(err, o, 1, 1) < 0 || tpl_check(o->argv[1], dnsbl_tpl_fields, why, sizeof(why)) < 0)
				return o->argc == 2 ? conf_fail(err, o, 1, "%s", why) : -1;
			if (strlen(o->argv[1]) > DNSBL_TEXT_MAX)
				return conf_fail(err, o, 1, "reply text longer than %d bytes", DNSBL_TEXT_MAX);
			free(l->reply);
			if ((l->reply = strdup(o->argv[1])) == NULL)
				return conf_fail(err, o, 0, "out of memory");
		} else if (!strcmp(k, "error_codes")) {
			if (parse_errpat(err, o, l->err, &l->nerr) < 0)
				return -1;
		} else {
			return conf_fail(err, o, 0, "unknown list option '%s'", k);
		}
	}
	return 0;
}

/* parse_stmt - one statement of the dnsbl block */
static int
parse_stmt(struct conf_error *err, const struct conf_stmt *s, struct dnsbl_conf *c)
{
	const char *k = s->argv[0];

	if (!strcmp(k, "list"))
		return parse_list(err, s, c);
	if (!strcmp(k, "stage")) {
		static const struct { const char *name; enum sl_stage st; } stages[] = {
			{ "connect", SL_STAGE_CONNECT }, { "helo", SL_STAGE_HELO }, { "mail", SL_STAGE_MAIL },
			{ "rcpt", SL_STAGE_RCPT }, { "data", SL_STAGE_DATA },
		};

		if (nargs(err, s, 1, 1) < 0)
			return -1;
		for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++)
			if (!strcmp(stages[i].name, s->argv[1])) {
				c->stage = stages[i].st;
				return 0;
			}
		return conf_fail(err, s, 1, "'%s': the stage is connect, helo, mail, rcpt or data", s->argv[1]);
	}
	if (!strcmp(k, "verdict"))
		return nargs(err, s, 1, 1) < 0 ? -1 : parse_onoff(err, s, 1, &c->verdict);
	if (!strcmp(k, "threshold"))
		return nargs(err, s, 1, 1) < 0 ? -1 : parse_int(err, s, 1, -1000000, 1000000, &c->threshold);
	if (!strcmp(k, "allow_threshold")) {
		c->have_allow_threshold = true;
		return nargs(err, s, 1, 1) < 0 ? -1 : parse_int(err, s, 1, -1000000, 1000000, &c->allow_threshold);
	}
	if (!strcmp(k, "timeout")) {
		if (nargs(err, s, 1, 1) < 0)
			return -1;
		if (conf_parse_duration(s->argv[1], &c->timeout_ms) < 0 || c->timeout_ms < 10 || c->timeout_ms > 600000)
			return conf_fail(err, s, 1, "'%s' is not a duration from 10ms to 10m", s->argv[1]);
		return 0;
	}
	if (!strcmp(k, "reply"))
		return parse_reply(err, s, 5, &c->code, c->enh, &c->reply);
	if (!strcmp(k, "tempfail_reply"))
		return parse_reply(err, s, 4, &c->tcode, c->tenh, &c->treply);
	if (!strcmp(k, "error_codes"))
		return parse_errpat(err, s, c->err, &c->nerr);
	if (!strcmp(k, "allow")) {
		if (s->argc < 2 || s->block)
			return conf_fail(err, s, 0, "allow takes one or more addresses or CIDR networks");
		for (int w = 1; w < s->argc; w++) {
			if (c->allow == NULL && (c->allow = set_new()) == NULL)
				return conf_fail(err, s, 0, "out of memory");
			if (set_add_net(c->allow, s->argv[w]) < 0)
				return conf_fail(err, s, w, "'%s' is not an address or network", s->argv[w]);
		}
		set_finish(c->allow);
		return 0;
	}
	return conf_fail(err, s, 0, "unknown dnsbl option '%s'", k);
}

/* dnsbl_conf_new - see dnsbl.h */
void *
dnsbl_conf_new(const struct conf_stmt *block, struct conf_error *err)
{
	struct dnsbl_conf *c = calloc(1, sizeof(*c));
	char why[160];

	if (c == NULL) {
		conf_fail(err, block, 0, "out of memory");
		return NULL;
	}
	c->stage = SL_STAGE_RCPT;
	c->verdict = true;
	c->threshold = 1;
	c->timeout_ms = 5000;
	c->code = 554;
	strcpy(c->enh, "5.7.1");
	c->tcode = 451;
	strcpy(c->tenh, "4.7.1");
	c->reply = strdup(DEFAULT_REPLY);
	c->treply = strdup(DEFAULT_TREPLY);
	/* the error answers of the big lists (Spamhaus: 127.255.255.252..255) */
	dnsbl_pattern_parse("127.255.255.[0..255]", 20, &c->err[0], why, sizeof(why));
	c->nerr = 1;
	if (c->reply == NULL || c->treply == NULL) {
		conf_fail(err, block, 0, "out of memory");
		goto fail;
	}
	for (const struct conf_stmt *s = block->child; s != NULL; s = s->next)
		if (parse_stmt(err, s, c) < 0)
			goto fail;
	if (c->nlists == 0) {
		conf_fail(err, block, 0, "dnsbl needs at least one list");
		goto fail;
	}
	if (c->have_allow_threshold && c->allow_threshold >= c->threshold) {
		conf_fail(err, block, 0, "allow_threshold (%d) must be below threshold (%d)", c->allow_threshold,
		    c->threshold);
		goto fail;
	}
	return c;
fail:
	dnsbl_conf_free(c);
	return NULL;
}

/* dnsbl_conf_free - see dnsbl.h */
void
dnsbl_conf_free(void *conf)
{
	struct dnsbl_conf *c = conf;

	if (c == NULL)
		return;
	for (unsigned i = 0; i < c->nlists; i++) {
		free(c->lists[i].reply);
		free(c->lists[i].cnt);
	}
	free(c->reply);
	free(c->treply);
	set_free(c->allow);
	free(c);
}

/* dnsbl_stats - see dnsbl.h */
void
dnsbl_stats(const void *conf, const struct sl_report *w)
{
	const struct dnsbl_conf *c = conf;

	for (unsigned i = 0; i < c->nlists; i++) {
		const struct dnsbl_list *l = &c->lists[i];

		w->open(w->ctx, NULL, false);
		w->str(w->ctx, "filter", "dnsbl");
		w->str(w->ctx, "list", l->spec.zone);
		w->str(w->ctx, "on", dnsbl_on_name(l->on));
		w->num(w->ctx, "queries", (long long)atomic_load(&l->cnt->queries));
		w->num(w->ctx, "listed", (long long)atomic_load(&l->cnt->listed));
		w->num(w->ctx, "clean", (long long)atomic_load(&l->cnt->clean));
		w->num(w->ctx, "failed", (long long)atomic_load(&l->cnt->failed));
		w->num(w->ctx, "timeouts", (long long)atomic_load(&l->cnt->timeouts));
		w->close(w->ctx, false);
	}
}

/* dnsbl_on_name - see dnsbl.h */
const char *
dnsbl_on_name(enum dnsbl_on on)
{
	static const char *const names[DNSBL_ON_COUNT] = { "ip", "ptr", "helo", "sender" };

	return on < DNSBL_ON_COUNT ? names[on] : "?";
}

/* dnsbl_fail_name - see dnsbl.h */
const char *
dnsbl_fail_name(enum dnsbl_fail f)
{
	static const char *const names[DNSBL_FAIL_COUNT] = { "pass", "tempfail", "score" };

	return f < DNSBL_FAIL_COUNT ? names[f] : "?";
}
