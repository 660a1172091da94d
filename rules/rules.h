/* rules/rules.h: the policy language: at a stage, if a condition over facts holds, do an action */
#ifndef SLUICE_RULES_H
#define SLUICE_RULES_H

#include <stdbool.h>
#include <stddef.h>

struct conf_stmt;
struct conf_error;

/*
 * rules {
 *     observe off                          # on: every rule only logs "would ..."
 *     connect: if client.ip in file:/etc/sluice/blocked.cidr then disconnect 421 4.7.0 "go away"
 *     rcpt: if dnsbl.score >= 5 and not auth then reject 554 5.7.1 "{client.ip} listed on {dnsbl.lists} (ref {ref})"
 *     mail: if sender ~ "@(example|test)\\.invalid$" then reject 553 5.1.8 "bad sender domain"
 *     helo: observe if helo == "localhost" then reject 550 5.7.1 "not you"
 *     rcpt: if client.ip in [192.0.2.0/24, 2001:db8::/32] then accept
 *     data: add-header "X-Sluice-Score: {dnsbl.score}"
 *     mail: if auth then skip dnsbl
 *     rcpt: set greylist.exempt = true
 * }
 *
 * A rule is STAGE[:] [observe] [if EXPR then] ACTION. Stages: connect,
 * helo, mail, rcpt, data. Rules of a stage run in file order after the
 * filters of that stage; the first reject/tempfail/disconnect/accept ends
 * the stage. EXPR: comparisons (== != < <= > >=), ~ and !~ (POSIX extended
 * regular expressions, case-insensitive), in (a [list] of strings and
 * networks, or file:PATH with one entry per line), and, or, not,
 * parentheses; a fact alone is true when set, non-zero and non-empty.
 * Strings compare without regard to case. Texts are templates: {fact}
 * and {ref}.
 */

/* A value read from a fact (or a literal). */
enum rval_type { RV_NONE = 0, RV_BOOL, RV_INT, RV_STR, RV_TYPE_COUNT };

struct rval {
	enum rval_type type;
	long long i;
	const char *s; /* borrowed */
};

/* rules_lookup_fn - the value of a fact; false when it is not set */
typedef bool (*rules_lookup_fn)(void *arg, const char *name, struct rval *out);

enum rule_action {
	RA_NONE = 0, RA_ACCEPT, RA_REJECT, RA_TEMPFAIL, RA_DISCONNECT, RA_ADD_HEADER, RA_SET, RA_SKIP,
	RA_COUNT
};

#define RULES_STAGES 5 /* connect helo mail rcpt data (enum sl_stage order) */

struct rule;
struct ruleset;

/* rules_parse - a rules { } block; NULL + err ("FILE:LINE:COL: message") */
struct ruleset *rules_parse(const struct conf_stmt *block, struct conf_error *err);
void rules_free(struct ruleset *rs);
/* rules_stages - bitmask of (1u << stage) that have rules */
unsigned rules_stages(const struct ruleset *rs);

/* One rule that fired, and what it read. */
#define RULES_READ_MAX 16
struct rules_hit {
	const struct rule *rule;     /* NULL: no rule ended the stage */
	unsigned nread;
	const char *read_name[RULES_READ_MAX];
	struct rval read_val[RULES_READ_MAX];
};

/*
 * rules_eval - run the rules of stage from position *pos (0 first). Stops
 * at a rule whose condition holds and returns it (with what its condition
 * read); *pos is then the next rule. NULL when no further rule fires.
 * Evaluation allocates nothing.
 */
const struct rule *rules_eval(const struct ruleset *rs, int stage, unsigned *pos, rules_lookup_fn lookup,
    void *arg, struct rules_hit *hit);

/* What a rule does. */
enum rule_action rule_action(const struct rule *r);
bool rule_observe(const struct rule *r);       /* per rule, or the global switch */
int rule_code(const struct rule *r);           /* 0 = the action's default */
const char *rule_enh(const struct rule *r);    /* NULL = default */
const char *rule_text(const struct rule *r);   /* template; NULL = default */
const char *rule_arg(const struct rule *r);    /* RA_SET fact, RA_SKIP filter, RA_ADD_HEADER template */
const struct rval *rule_set_value(const struct rule *r);
const char *rule_file(const struct rule *r);
int rule_line(const struct rule *r);
const char *rule_source(const struct rule *r); /* the rule as written (for records) */

#endif
