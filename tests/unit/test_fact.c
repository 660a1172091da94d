/* tests/unit/test_fact.c: the bounded fact store */
#include <stdio.h>
#include <string.h>

#include "fact.h"
#include "t.h"

int
main(void)
{
	static struct facts fs;
	static char keys[FACTS_MAX + 1][16];
	char big[FACT_STR_MAX + 50];
	const struct fact *f;

	t_true(fact_set_int(&fs, "dnsbl.score", 7) == 0 && fact_get(&fs, "dnsbl.score")->i == 7, "int");
	t_true(fact_set_int(&fs, "dnsbl.score", 9) == 0 && fact_get(&fs, "dnsbl.score")->i == 9 && fs.n == 1,
	    "replaced in place");
	t_true(fact_set_bool(&fs, "auth", true) == 0 && fact_get(&fs, "auth")->type == FACT_BOOL, "bool");
	t_true(fact_set_str(&fs, "rdns.name", "mail.example.org") == 0 &&
	    strcmp(fact_get(&fs, "rdns.name")->s, "mail.example.org") == 0, "string");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	t_true(fact_set_str(&fs, "long", big) == 0 && strlen(fact_get(&fs, "long")->s) == FACT_STR_MAX - 1,
	    "a long string is cut to FACT_STR_MAX");
	t_true(fact_get(&fs, "missing") == NULL, "unset");
	facts_clear(&fs);
	for (int i = 0; i < FACTS_MAX; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		fact_set_int(&fs, keys[i], i);
	}
	snprintf(keys[FACTS_MAX], sizeof(keys[FACTS_MAX]), "one.more");
	t_true(fs.n == FACTS_MAX && fact_set_int(&fs, keys[FACTS_MAX], 1) == -1, "full: the next fact is refused");
	t_true(fact_set_int(&fs, "k3", 33) == 0 && fact_get(&fs, "k3")->i == 33, "full: replacing still works");
	facts_clear(&fs);
	for (int i = 0; i < 100 && fact_set_str(&fs, "s", big) == 0; i++)
		;
	f = fact_get(&fs, "s");
	t_true(f != NULL && fs.used <= FACTS_ARENA, "the arena never overflows (%zu used)", fs.used);
	return t_done();
}
