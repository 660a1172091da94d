/* rules/expr.c: conditions of the policy language: parse once, evaluate often (pure) */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expr.h"
#include "set.h"

#define DEPTH_MAX    32

enum enode { E_AND = 0, E_OR, E_NOT, E_CMP, E_TRUTH, E_IN, E_MATCH, E_COUNT };
enum ecmp { C_EQ = 0, C_NE, C_LT, C_LE, C_GT, C_GE, C_COUNT };

struct operand {
	char *fact;        /* owned: a fact's name; NULL for a literal */
	struct rval lit;   /* lit.s owned */
};

struct expr {
	enum enode t;
	struct expr *a, *b;   /* owned: children of AND/OR/NOT */
	enum ecmp op;
	bool negate;          /* !~ */
	struct operand l, r;  /* CMP: l op r; TRUTH, IN, MATCH: l */
	struct set *set;      /* owned: IN */
	regex_t re;           /* MATCH */
	bool re_ok;
};

/* ---- tokens ---- */

/* expr_tokens - see expr.h */
int
expr_tokens(char *const *words, const bool *quoted, const int *cols, int nwords, struct etok *out, int max)
{
	int n = 0;

	for (int w = 0; w < nwords; w++) {
		const char *s = words[w];
		size_t len = strlen(s), i = 0;

		if (quoted && quoted[w]) {
			if (n >= max)
				return -1;
			out[n++] = (struct etok){ s, len, true, cols[w] };
			continue;
		}
		while (i < len) {
			size_t j = i;

			if (strchr("()[],", s[i]) != NULL) {
				j = i + 1;
			} else {
				while (j < len && strchr("()[],", s[j]) == NULL)
					j++;
			}
			if (n >= max)
				return -1;
			out[n++] = (struct etok){ s + i, j - i, false, cols[w] + (int)i };
			i = j;
		}
	}
	return n;
}

/* is - the token is this keyword (unquoted) */
static bool
is(const struct etok *t, const char *kw)
{
	return !t->quoted && t->n == strlen(kw) && memcmp(t->s, kw, t->n) == 0;
}

/* ---- values ---- */

/* rval_literal - see expr.h */
void
rval_literal(const char *s, bool quoted, struct rval *out)
{
	char *end;
	long long v;

	out->s = s;
	out->i = 0;
	if (!quoted && (!strcmp(s, "true") || !strcmp(s, "false"))) {
		out->type = RV_BOOL;
		out->i = s[0] == 't';
		return;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (!quoted && s[0] != '\0' && *end == '\0' && errno == 0) {
		out->type = RV_INT;
		out->i = v;
		return;
	}
	out->type = RV_STR;
}

/* fact_name_ok - letters, digits, '.', '_', '-'; starting with a letter */
static bool
fact_name_ok(const struct etok *t)
{
	if (t->quoted || t->n == 0 || !isalpha((unsigned char)t->s[0]))
		return false;
	for (size_t i = 0; i < t->n; i++)
		if (!isalnum((unsigned char)t->s[i]) && t->s[i] != '.' && t->s[i] != '_' && t->s[i] != '-')
			return false;
	return true;
}

/* session_fact - the facts whose names have no dot */
static bool
session_fact(const struct etok *t)
{
	static const char *const names[] = { "helo", "sender", "rcpt", "auth", "tls" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (t->n == strlen(names[i]) && memcmp(t->s, names[i], t->n) == 0)
			return true;
	return false;
}

/*
 * operand_set - a fact, or a literal. On the right of a comparison a bare
 * word without a dot is a string (spf.result == fail), unless it is one of
 * the session facts (helo, sender, rcpt, auth, tls).
 */
static int
operand_set(struct operand *o, const struct etok *t, bool rhs)
{
	char *copy = strndup(t->s, t->n);
	struct rval v;

	if (copy == NULL)
		return -1;
	if (!t->quoted) {
		rval_literal(copy, false, &v);
		if (v.type == RV_STR && fact_name_ok(t) &&
		    !(rhs && memchr(t->s, '.', t->n) == NULL && !session_fact(t))) {
			o->fact = copy;
			return 0;
		}
		o->lit = v;
		o->lit.s = copy;
		return 0;
	}
	o->lit = (struct rval){ RV_STR, 0, copy };
	return 0;
}

static void
operand_free(struct operand *o)
{
	free(o->fact);
	free((char *)(uintptr_t)o->lit.s);
}

/* ---- parser ---- */

struct pstate {
	const struct etok *t;
	int n, i;
	char *err;
	size_t errsz;
	int errcol;
	int depth;
};

static struct expr *p_or(struct pstate *ps);

/* p_fail - report msg at token i (or the end) */
static struct expr *
p_fail(struct pstate *ps, const char *msg)
{
	if (ps->err[0] == '\0') {
		snprintf(ps->err, ps->errsz, "%s", msg);
		ps->errcol = ps->i < ps->n ? ps->t[ps->i].col : (ps->n > 0 ? ps->t[ps->n - 1].col : 0);
	}
	return NULL;
}

/* node - a new node */
static struct expr *
node(struct pstate *ps, enum enode t)
{
	struct expr *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return p_fail(ps, "out of memory");
	e->t = t;
	return e;
}

/* at_end - no more tokens of this expression */
static bool
at_end(const struct pstate *ps)
{
	return ps->i >= ps->n || is(&ps->t[ps->i], "then");
}

/*
 * regex_sane - refuse patterns that make the regex compiler blow up (glibc
 * expands nested repetition: "a+++", "(a{200}){200}"): stacked
 * quantifiers, bounds above 100, patterns over 512 bytes.
 */
static bool
regex_sane(const char *p, const char **why)
{
	bool after_quant = false, in_bracket = false;

	if (strlen(p) > 512) {
		*why = "regular expression longer than 512 bytes";
		return false;
	}
	for (size_t i = 0; p[i] != '\0'; i++) {
		char c = p[i];

		if (in_bracket) {
			if (c == ']' && i > 0 && p[i - 1] != '[')
				in_bracket = false;
			continue;
		}
		if (c == '\\' && p[i + 1] != '\0') {
			i++;
			after_quant = false;
			continue;
		}
		if (c == '[') {
			in_bracket = true;
			after_quant = false;
			continue;
		}
		if (c == '*' || c == '+' || c == '?' || c == '{') {
			if (after_quant) {
				*why = "a quantifier after a quantifier";
				return false;
			}
			if (c == '{') {
				char *end;
				unsigned long a = strtoul(p + i + 1, &end, 10), b = a;

				if (*end == ',')
					b = end[1] == '}' ? 0 : strtoul(end + 1, &end, 10);
				if (a > 100 || b > 100) {
					*why = "a repetition bound above 100";
					return false;
				}
				while (p[i] != '\0' && p[i] != '}')
					i++;
				if (p[i] == '\0')
					break;
			}
			after_quant = true;
			continue;
		}
		after_quant = false;
	}
	return true;
}

/* p_set - "[a, b, c]", file:PATH or lmdb:DIR */
static int
p_set(struct pstate *ps, struct set *st)
{
	const struct etok *t;
	char path[1024], why[512] = "";

	if (at_end(ps)) {
		p_fail(ps, "'in' needs [a list], file:PATH or lmdb:DIR");
		return -1;
	}
	t = &ps->t[ps->i];
	if (!t->quoted && t->n > 5 && (memcmp(t->s, "lmdb:", 5) == 0 || memcmp(t->s, "file:", 5) == 0)) {
		snprintf(path, sizeof(path), "%.*s", (int)(t->n - 5), t->s + 5);
		if ((t->s[0] == 'l' ? set_open_lmdb(st, path, why, sizeof(why)) : set_load(st, path, why, sizeof(why))) < 0) {
			p_fail(ps, why);
			return -1;
		}
		ps->i++;
		set_finish(st);
		return 0;
	}
	if (!is(t, "[")) {
		p_fail(ps, "'in' needs [a list], file:PATH or lmdb:DIR");
		return -1;
	}
	ps->i++;
	while (!at_end(ps) && !is(&ps->t[ps->i], "]")) {
		t = &ps->t[ps->i];
		if (is(t, ",")) {
			ps->i++;
			continue;
		}
		if (set_add(st, t->s, t->n) < 0) {
			p_fail(ps, "bad list entry");
			return -1;
		}
		ps->i++;
	}
	if (at_end(ps)) {
		p_fail(ps, "'[' is never closed");
		return -1;
	}
	ps->i++;
	set_finish(st);
	return 0;
}

/* p_primary - ( expr ) | operand [op operand | in set | ~ regex] */
static struct expr *
p_primary(struct pstate *ps)
{
	static const char *const ops[C_COUNT] = { "==", "!=", "<", "<=", ">", ">=" };
	struct expr *e;
	const struct etok *t;

	if (at_end(ps))
		return p_fail(ps, "a condition is missing");
	t = &ps->t[ps->i];
	if (is(t, "(")) {
		ps->i++;
		e = p_or(ps);
		if (e == NULL)
			return NULL;
		if (at_end(ps) || !is(&ps->t[ps->i], ")")) {
			expr_free(e);
			return p_fail(ps, "')' expected");
		}
		ps->i++;
		return e;
	}
	if (is(t, ")") || is(t, "and") || is(t, "or") || is(t, "[") || is(t, "]") || is(t, ","))
		return p_fail(ps, t->quoted ? "unexpected string" : "unexpected punctuation or keyword");
	if ((e = node(ps, E_TRUTH)) == NULL)
		return NULL;
	if (operand_set(&e->l, t, false) < 0) {
		expr_free(e);
		return p_fail(ps, "out of memory");
	}
	ps->i++;
	if (at_end(ps))
		return e;
	t = &ps->t[ps->i];
	if (is(t, "in")) {
		ps->i++;
		e->t = E_IN;
		if ((e->set = set_new()) == NULL || p_set(ps, e->set) < 0) {
			expr_free(e);
			return NULL;
		}
		return e;
	}
	if (is(t, "~") || is(t, "!~")) {
		char pat[1024];
		int rc;

		e->t = E_MATCH;
		e->negate = is(t, "!~");
		ps->i++;
		if (at_end(ps)) {
			expr_free(e);
			return p_fail(ps, "'~' needs a \"regular expression\"");
		}
		t = &ps->t[ps->i];
		snprintf(pat, sizeof(pat), "%.*s", (int)t->n, t->s);
		{
			const char *bad;

			if (!regex_sane(pat, &bad)) {
				char msg[160];

				snprintf(msg, sizeof(msg), "bad regular expression: %s", bad);
				expr_free(e);
				return p_fail(ps, msg);
			}
		}
		rc = regcomp(&e->re, pat, REG_EXTENDED | REG_ICASE | REG_NOSUB);
		if (rc != 0) {
			char why[128];

			char msg[160];

			regerror(rc, &e->re, why, sizeof(why));
			snprintf(msg, sizeof(msg), "bad regular expression: %s", why);
			expr_free(e);
			return p_fail(ps, msg);
		}
		e->re_ok = true;
		ps->i++;
		return e;
	}
	for (int op = 0; op < C_COUNT; op++) {
		if (!is(t, ops[op]))
			continue;
		e->t = E_CMP;
		e->op = (enum ecmp)op;
		ps->i++;
		if (at_end(ps) || is(&ps->t[ps->i], ")")) {
			expr_free(e);
			return p_fail(ps, "a comparison needs a value after its operator");
		}
		if (operand_set(&e->r, &ps->t[ps->i], true) < 0) {
			expr_free(e);
			return p_fail(ps, "out of memory");
		}
		ps->i++;
		return e;
	}
	return e;
}

/* p_unary - not unary | primary */
static struct expr *
p_unary(struct pstate *ps)
{
	struct expr *e, *a;

	if (!at_end(ps) && is(&ps->t[ps->i], "not")) {
		if (++ps->depth > DEPTH_MAX)
			return p_fail(ps, "expression nested too deeply");
		ps->i++;
		a = p_unary(ps);
		ps->depth--;
		if (a == NULL)
			return NULL;
		if ((e = node(ps, E_NOT)) == NULL) {
			expr_free(a);
			return NULL;
		}
		e->a = a;
		return e;
	}
	if (!at_end(ps) && is(&ps->t[ps->i], "(")) {
		if (++ps->depth > DEPTH_MAX)
			return p_fail(ps, "expression nested too deeply");
		e = p_primary(ps);
		ps->depth--;
		return e;
	}
	return p_primary(ps);
}

/* p_chain - sub { word sub }, left-associative, into kind nodes */
static struct expr *
p_chain(struct pstate *ps, const char *word, enum enode kind, struct expr *(*sub)(struct pstate *))
{
	struct expr *l = sub(ps);

	while (l != NULL && !at_end(ps) && is(&ps->t[ps->i], word)) {
		struct expr *r, *e;

		ps->i++;
		if ((r = sub(ps)) == NULL || (e = node(ps, kind)) == NULL) {
			expr_free(l);
			expr_free(r);
			return NULL;
		}
		e->a = l;
		e->b = r;
		l = e;
	}
	return l;
}

/* p_and - unary { and unary } */
static struct expr *
p_and(struct pstate *ps)
{
	return p_chain(ps, "and", E_AND, p_unary);
}

/* p_or - and { or and } */
static struct expr *
p_or(struct pstate *ps)
{
	return p_chain(ps, "or", E_OR, p_and);
}

/* expr_parse - see expr.h */
struct expr *
expr_parse(const struct etok *tok, int n, int *used, char *err, size_t errsz, int *errcol)
{
	struct pstate ps = { tok, n, 0, err, errsz, 0, 0 };
	struct expr *e;

	err[0] = '\0';
	e = p_or(&ps);
	if (e != NULL && !at_end(&ps)) {
		expr_free(e);
		e = p_fail(&ps, "unexpected word (missing 'and', 'or' or 'then'?)");
	}
	*used = ps.i;
	*errcol = ps.errcol;
	return e;
}

/* expr_free - see expr.h */
void
expr_free(struct expr *e)
{
	if (e == NULL)
		return;
	expr_free(e->a);
	expr_free(e->b);
	operand_free(&e->l);
	operand_free(&e->r);
	set_free(e->set);
	if (e->re_ok)
		regfree(&e->re);
	free(e);
}

/* ---- evaluation ---- */

/* value - an operand's value; a fact is noted in hit */
static bool
value(const struct operand *o, rules_lookup_fn lookup, void *arg, struct rules_hit *hit, struct rval *v)
{
	bool set;

	if (o->fact == NULL) {
		*v = o->lit;
		return true;
	}
	set = lookup(arg, o->fact, v);
	if (!set)
		*v = (struct rval){ RV_NONE, 0, NULL };
	if (hit != NULL && hit->nread < RULES_READ_MAX) {
		bool seen = false;

		for (unsigned i = 0; i < hit->nread && !seen; i++)
			seen = strcmp(hit->read_name[i], o->fact) == 0;
		if (!seen) {
			hit->read_name[hit->nread] = o->fact;
			hit->read_val[hit->nread++] = *v;
		}
	}
	return set;
}

/* as_text - a value's string form (numbers into buf) */
static const char *
as_text(const struct rval *v, char *buf, size_t sz)
{
	switch (v->type) {
	case RV_STR:
		return v->s ? v->s : "";
	case RV_INT:
		snprintf(buf, sz, "%lld", v->i);
		return buf;
	case RV_BOOL:
		return v->i ? "true" : "false";
	default:
		return NULL;
	}
}

/* as_number - a value as a number; false when it is not one */
static bool
as_number(const struct rval *v, long long *out)
{
	char *end;

	if (v->type == RV_INT || v->type == RV_BOOL) {
		*out = v->i;
		return true;
	}
	if (v->type == RV_STR && v->s != NULL && v->s[0] != '\0') {
		errno = 0;
		*out = strtoll(v->s, &end, 10);
		return *end == '\0' && errno == 0;
	}
	return false;
}

/* truthy - set, non-zero, non-empty */
static bool
truthy(const struct rval *v)
{
	switch (v->type) {
	case RV_BOOL:
	case RV_INT:
		return v->i != 0;
	case RV_STR:
		return v->s != NULL && v->s[0] != '\0';
	default:
		return false;
	}
}

/* compare - l op r */
static bool
compare(enum ecmp op, const struct rval *l, const struct rval *r)
{
	long long a, b;
	char ba[32], bb[32];
	const char *sa, *sb;
	int c;

	if (l->type == RV_NONE || r->type == RV_NONE)
		return op == C_NE && !(l->type == RV_NONE && r->type == RV_NONE);
	if (as_number(l, &a) && as_number(r, &b))
		c = a < b ? -1 : a > b;
	else if (op == C_EQ || op == C_NE) {
		sa = as_text(l, ba, sizeof(ba));
		sb = as_text(r, bb, sizeof(bb));
		c = strcasecmp(sa ? sa : "", sb ? sb : "");
	} else
		return false; /* ordering needs numbers */
	switch (op) {
	case C_EQ:
		return c == 0;
	case C_NE:
		return c != 0;
	case C_LT:
		return c < 0;
	case C_LE:
		return c <= 0;
	case C_GT:
		return c > 0;
	case C_GE:
		return c >= 0;
	default:
		return false;
	}
}

/* expr_eval - see expr.h */
bool
expr_eval(const struct expr *e, rules_lookup_fn lookup, void *arg, struct rules_hit *hit)
{
	struct rval l, r;
	char buf[32];

	switch (e->t) {
	case E_AND:
		return expr_eval(e->a, lookup, arg, hit) && expr_eval(e->b, lookup, arg, hit);
	case E_OR:
		return expr_eval(e->a, lookup, arg, hit) || expr_eval(e->b, lookup, arg, hit);
	case E_NOT:
		return !expr_eval(e->a, lookup, arg, hit);
	case E_TRUTH:
		value(&e->l, lookup, arg, hit, &l);
		return truthy(&l);
	case E_CMP:
		value(&e->l, lookup, arg, hit, &l);
		value(&e->r, lookup, arg, hit, &r);
		return compare(e->op, &l, &r);
	case E_IN:
		if (!value(&e->l, lookup, arg, hit, &l) && e->l.fact != NULL)
			return false;
		return set_has(e->set, as_text(&l, buf, sizeof(buf)));
	case E_MATCH: {
		const char *s;

		if (!value(&e->l, lookup, arg, hit, &l) && e->l.fact != NULL)
			return e->negate;
		s = as_text(&l, buf, sizeof(buf));
		return (s != NULL && regexec(&e->re, s, 0, NULL, 0) == 0) != e->negate;
	}
	default:
		return false;
	}
}
