/* tests/unit/test_senders.c: the allowed-senders table (auth senders FILE) */
#include <string.h>

#include "senders.h"
#include "t.h"
#include "util.h"

static const char table[] =
	"# user      addresses\n"
	"alice@example.org   alice@example.org, Alice.Smith@Example.org\n"
	"bob  @example.net   # the whole domain\n"
	"\n"
	"carol\tcarol@a.example\t@b.example\r\n";

int
main(void)
{
	static const struct {
		const char *user, *addr;
		bool ok;
	} cases[] = {
		{ "alice@example.org", "alice@example.org", true },
		{ "alice@example.org", "ALICE@EXAMPLE.ORG", true },
		{ "alice@example.org", "alice.smith@example.org", true },
		{ "alice@example.org", "bob@example.org", false },
		{ "alice@example.org", "", true },                 /* the null sender */
		{ "bob", "anyone@example.net", true },
		{ "bob", "anyone@sub.example.net", false },        /* a domain, not its subdomains */
		{ "bob", "bob@example.org", false },
		{ "carol", "carol@a.example", true },
		{ "carol", "x@b.example", true },
		{ "Carol", "carol@a.example", false },             /* user names are exact */
		{ "mallory", "mallory@example.org", false },       /* not in the table */
	};
	static const struct {
		const char *text, *err;
	} bad[] = {
		{ "alice\n", "t:1: user 'alice' has no addresses" },
		{ "alice nobody\n", "t:1: 'nobody' is not an address or @domain" },
		{ "alice a@b\nalice c@d\n", "t: user 'alice' is listed twice" },
		{ "alice a@\n", "t:1: 'a@' is not an address or @domain" },
		{ "\n\nbob @\n", "t:3: '@' is not an address or @domain" },
	};
	char err[256];
	struct senders *t = senders_parse("t", table, sizeof(table) - 1, err, sizeof(err));

	t_true(t != NULL, "table parses (%s)", t ? "" : err);
	if (t == NULL)
		return t_done();
	t_true(senders_count(t) == 3, "three users");
	for (size_t i = 0; i < nitems(cases); i++)
		t_true(senders_allowed(t, cases[i].user, cases[i].addr) == cases[i].ok, "%s as <%s>: %d", cases[i].user,
		    cases[i].addr, cases[i].ok);
	senders_free(t);
	for (size_t i = 0; i < nitems(bad); i++) {
		t = senders_parse("t", bad[i].text, strlen(bad[i].text), err, sizeof(err));
		t_true(t == NULL && strcmp(err, bad[i].err) == 0, "refused: '%s' (%s)", bad[i].err, t ? "parsed" : err);
		senders_free(t);
	}
	t = senders_parse("t", "", 0, err, sizeof(err));
	t_true(t != NULL && senders_count(t) == 0, "an empty table");
	senders_free(t);
	return t_done();
}
