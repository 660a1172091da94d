/* tests/unit/test_helo_check.c: HELO names judged */
#include <string.h>

#include "helo_check.h"
#include "t.h"
#include "util.h"

int
main(void)
{
	static const struct {
		const char *name, *client;
		bool syntax_ok, literal, literal_matches, bare_ip, fqdn, ours;
	} cases[] = {
		{ "mail.example.org", "192.0.2.7", 1, 0, 0, 0, 1, 0 },
		{ "mail.example.org.", "192.0.2.7", 1, 0, 0, 0, 1, 0 },
		{ "localhost", "192.0.2.7", 1, 0, 0, 0, 0, 1 },
		{ "MX.Sluice.Test", "192.0.2.7", 1, 0, 0, 0, 1, 1 },       /* our name, any case */
		{ "desktop", "192.0.2.7", 1, 0, 0, 0, 0, 0 },
		{ "[192.0.2.7]", "192.0.2.7", 1, 1, 1, 0, 0, 0 },
		{ "[192.0.2.8]", "192.0.2.7", 1, 1, 0, 0, 0, 0 },
		{ "[198.51.100.1]", "192.0.2.7", 1, 1, 0, 0, 0, 1 },       /* our address */
		{ "[IPv6:2001:db8::1]", "2001:db8::1", 1, 1, 1, 0, 0, 0 },
		{ "[192.0.2.7]", "::ffff:192.0.2.7", 1, 1, 1, 0, 0, 0 },
		{ "[300.1.1.1]", "192.0.2.7", 0, 0, 0, 0, 0, 0 },
		{ "192.0.2.7", "192.0.2.7", 0, 0, 0, 1, 0, 0 },
		{ "198.51.100.1", "192.0.2.7", 0, 0, 0, 1, 0, 1 },
		{ "bad_host!.example", "192.0.2.7", 0, 0, 0, 0, 1, 0 },
		{ "-dash.example", "192.0.2.7", 0, 0, 0, 0, 0, 0 },
		{ "a..b", "192.0.2.7", 0, 0, 0, 0, 1, 0 },
		{ "", "192.0.2.7", 0, 0, 0, 0, 0, 0 },
	};

	for (size_t i = 0; i < nitems(cases); i++) {
		struct helo_facts f;

		helo_check(cases[i].name, cases[i].client, "mx.sluice.test", "198.51.100.1", &f);
		t_true(f.syntax_ok == cases[i].syntax_ok && f.literal == cases[i].literal &&
		    f.literal_matches == cases[i].literal_matches && f.bare_ip == cases[i].bare_ip &&
		    (!f.syntax_ok || f.fqdn == cases[i].fqdn) && f.ours == cases[i].ours,
		    "'%s' from %s: syntax %d literal %d matches %d bare %d fqdn %d ours %d", cases[i].name, cases[i].client,
		    f.syntax_ok, f.literal, f.literal_matches, f.bare_ip, f.fqdn, f.ours);
	}
	return t_done();
}
