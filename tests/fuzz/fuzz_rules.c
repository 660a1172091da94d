/* tests/fuzz/fuzz_rules.c: configuration text through the rules parser and evaluator */
#include "conf.h"
#include "fuzz.h"
#include "rules.h"

/* lookup - a few facts of every type */
static bool
lookup(void *arg, const char *name, struct rval *out)
{
	(void)arg;
	if (name[0] == 'a') {
		out->type = RV_BOOL;
		out->i = 1;
		return true;
	}
	if (name[0] == 'd') {
		out->type = RV_INT;
		out->i = 5;
		return true;
	}
	if (name[0] == 'c') {
		out->type = RV_STR;
		out->s = "192.0.2.1";
		return true;
	}
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_error err;
	struct conf_doc *doc = conf_parse("fuzz.conf", (const char *)data, size, &err);

	if (doc == NULL)
		return 0;
	for (const struct conf_stmt *s = doc->first; s != NULL; s = s->next) {
		struct ruleset *rs;

		if (s->argc < 1 || strcmp(s->argv[0], "rules") != 0)
			continue;
		rs = rules_parse(s, &err);
		if (rs == NULL) {
			FUZZ_CHECK(strnlen(err.msg, sizeof(err.msg)) < sizeof(err.msg));
			continue;
		}
		for (int st = 0; st < RULES_STAGES; st++) {
			struct rules_hit hit;
			unsigned pos = 0;
			int guard = 0;

			while (rules_eval(rs, st, &pos, lookup, NULL, &hit) != NULL && ++guard < 2000)
				FUZZ_CHECK(hit.nread <= RULES_READ_MAX);
		}
		rules_free(rs);
	}
	conf_doc_free(doc);
	return 0;
}
