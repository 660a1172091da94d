/* tests/unit/test_template.c: reply-text templates: checking and rendering */
#include <string.h>

#include "t.h"
#include "template.h"
#include "util.h"

static const char *const known[] = { "list", "ref", "client.ip", "txt", NULL };

/* lookup - a fixed set of values; "txt" carries a CR LF and a control byte */
static const char *
lookup(void *arg, const char *name, size_t n)
{
	(void)arg;
	if (n == 4 && memcmp(name, "list", 4) == 0)
		return "zen.example";
	if (n == 3 && memcmp(name, "ref", 3) == 0)
		return "abcd2345efgh";
	if (n == 3 && memcmp(name, "txt", 3) == 0)
		return "bad\r\n250 injected\x01";
	return NULL;
}

static const struct {
	const char *tpl;
	int check;        /* tpl_check result */
	const char *out;  /* rendering, when check == 0 */
} cases[] = {
	{ "listed on {list}; ref={ref}", 0, "listed on zen.example; ref=abcd2345efgh" },
	{ "no fields", 0, "no fields" },
	{ "{{literal}} braces }}", 0, "{literal} braces }" },
	{ "[{client.ip}]", 0, "[]" },
	{ "reason: {txt}", 0, "reason: bad??250 injected?" },
	{ "{nosuch}", -1, NULL },
	{ "{list", -1, NULL },
	{ "{}", -1, NULL },
	{ "a } b", -1, NULL },
	{ "{li st}", -1, NULL },
	{ "", 0, "" },
};

int
main(void)
{
	char out[128], err[128], small[8];

	for (size_t i = 0; i < nitems(cases); i++) {
		int rc = tpl_check(cases[i].tpl, known, err, sizeof(err));

		t_true(rc == cases[i].check, "check '%s' = %d (%s)", cases[i].tpl, rc, rc ? err : "");
		if (cases[i].out == NULL)
			continue;
		tpl_render(out, sizeof(out), cases[i].tpl, lookup, NULL);
		t_true(strcmp(out, cases[i].out) == 0, "render '%s' -> '%s'", cases[i].tpl, out);
	}
	t_true(tpl_render(small, sizeof(small), "listed on {list}", lookup, NULL) == 7, "cut to fit");
	t_true(strcmp(small, "listed ") == 0, "cut value '%s'", small);
	t_true(tpl_render(small, 0, "x", lookup, NULL) == 0, "empty buffer");
	return t_done();
}
