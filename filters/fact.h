/* filters/fact.h: typed, bounded facts that filters write into a session */
#ifndef SLUICE_FACT_H
#define SLUICE_FACT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Facts are what filters learned about a session ("dnsbl.score" = 5,
 * "rdns.name" = "mail.example.com"); rules read them to decide. The store
 * is a fixed array inside the session: no allocation, a bounded number of
 * facts and a bounded string length. Keys are static strings owned by the
 * filter that writes them (compared by content, stored by pointer).
 */
#define FACTS_MAX     48
#define FACT_STR_MAX  256  /* one string value, NUL included */
#define FACTS_ARENA   3072 /* all string values of a session */

enum fact_type { FACT_NONE = 0, FACT_BOOL, FACT_INT, FACT_STR, FACT_TYPE_COUNT };

struct fact {
	const char *key;    /* borrowed, static */
	enum fact_type type;
	long long i;        /* FACT_BOOL (0/1) and FACT_INT */
	const char *s;      /* FACT_STR: NUL-terminated, inside the arena */
};

/* A replaced string leaves its old bytes behind: the arena only grows. */
struct facts {
	unsigned n;
	size_t used;
	struct fact f[FACTS_MAX];
	char arena[FACTS_ARENA];
};

/* fact_set_* - set or replace; -1 when the store is full (the fact is unchanged) */
int fact_set_bool(struct facts *fs, const char *key, bool v);
int fact_set_int(struct facts *fs, const char *key, long long v);
int fact_set_str(struct facts *fs, const char *key, const char *v);

/* fact_get - the fact, or NULL when unset */
const struct fact *fact_get(const struct facts *fs, const char *key);

/* facts_clear - forget everything (a new session) */
void facts_clear(struct facts *fs);

#endif
