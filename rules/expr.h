/* rules/expr.h: conditions of the policy language: parse once, evaluate often (pure) */
#ifndef SLUICE_EXPR_H
#define SLUICE_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include "rules.h"

/* A token: a configuration word, or a piece of one split off at ( ) [ ] , */
struct etok {
	const char *s;
	size_t n;
	bool quoted; /* a string literal, never a keyword or a fact */
	int col;
};

#define EXPR_MAX_TOKENS 256

/*
 * expr_tokens - cut words into tokens. Returns the count, or -1 when there
 * are more than max.
 */
int expr_tokens(char *const *words, const bool *quoted, const int *cols, int nwords, struct etok *out, int max);

struct expr;

/*
 * expr_parse - one expression from tok[0..n); *used is how many tokens it
 * took (it stops before "then"). NULL with a message and its column.
 */
struct expr *expr_parse(const struct etok *tok, int n, int *used, char *err, size_t errsz, int *errcol);
void expr_free(struct expr *e);

/* expr_eval - does it hold; the facts it read go into hit (bounded) */
bool expr_eval(const struct expr *e, rules_lookup_fn lookup, void *arg, struct rules_hit *hit);

/* rval_parse_literal - a number, true/false, or a string (not quoted: still a string) */
void rval_literal(const char *s, bool quoted, struct rval *out);

#endif
