/* tests/unit/test_rules.c: the policy language: parsing, error positions, evaluation */
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "rules.h"
#include "t.h"
#include "util.h"

/* The facts every case sees. */
static bool
lookup(void *arg, const char *name, struct rval *out)
{
	static const struct {
		const char *name;
		enum rval_type t;
		long long i;
		const char *s;
	} facts[] = {
		{ "dnsbl.score", RV_INT, 7, NULL },
		{ "auth", RV_BOOL, 0, NULL },
		{ "tls", RV_BOOL, 1, NULL },
		{ "client.ip", RV_STR, 0, "192.0.2.77" },
		{ "client.ip6", RV_STR, 0, "2001:db8::5" },
		{ "helo", RV_STR, 0, "Mail.Example.COM" },
		{ "sender", RV_STR, 0, "Bob@Sub.Example.ORG" },
		{ "empty", RV_STR, 0, "" },
		{ "num.text", RV_STR, 0, "12" },
	};

	(void)arg;
	for (size_t i = 0; i < nitems(facts); i++)
		if (strcmp(facts[i].name, name) == 0) {
			out->type = facts[i].t;
			out->i = facts[i].i;
			out->s = facts[i].s;
			return true;
		}
	return false;
}

/* fires - does a one-rule set "rcpt: if COND then reject" fire */
static int
fires(const char *cond, char *err, size_t errsz)
{
	char text[1024];
	struct conf_error cerr;
	struct conf_doc *doc;
	struct ruleset *rs;
	struct rules_hit hit;
	unsigned pos = 0;
	int rc;

	snprintf(text, sizeof(text), "rules {\n  rcpt: if %s then reject\n}\n", cond);
	doc = conf_parse("t.conf", text, strlen(text), &cerr);
	if (doc == NULL) {
		snprintf(err, errsz, "%s", cerr.msg);
		return -1;
	}
	rs = rules_parse(doc->first, &cerr);
	conf_doc_free(doc);
	if (rs == NULL) {
		snprintf(err, errsz, "%s", cerr.msg);
		return -1;
	}
	rc = rules_eval(rs, 3, &pos, lookup, NULL, &hit) != NULL;
	rules_free(rs);
	return rc;
}

int
main(void)
{
	static const struct {
		const char *cond;
		int want;
	} cases[] = {
		{ "dnsbl.score >= 5", 1 }, { "dnsbl.score > 7", 0 }, { "dnsbl.score == 7", 1 }, { "dnsbl.score != 7", 0 },
		{ "dnsbl.score < 10 and not auth", 1 }, { "auth or tls", 1 }, { "auth and tls", 0 },
		{ "not auth and not tls", 0 }, { "not (auth or tls)", 0 }, { "(auth or tls) and dnsbl.score >= 7", 1 },
		{ "auth or tls and dnsbl.score > 100", 0 },            /* and binds tighter than or */
		{ "helo == \"mail.example.com\"", 1 },                  /* strings compare without case */
		{ "helo ~ \"^mail\\\\.\"", 1 }, { "helo !~ \"example\"", 0 }, { "helo ~ \"^smtp\"", 0 },
		{ "client.ip in [192.0.2.0/24, 10.0.0.0/8]", 1 }, { "client.ip in [198.51.100.0/24]", 0 },
		{ "client.ip6 in [2001:db8::/32]", 1 }, { "client.ip in [192.0.2.77]", 1 },
		{ "sender in [@sub.example.org]", 1 }, { "sender in [.example.org]", 1 },
		{ "sender in [example.org]", 0 }, { "sender in [bob@sub.example.org]", 1 },
		{ "helo in [.example.com]", 1 }, { "missing.fact", 0 }, { "not missing.fact", 1 },
		{ "missing.fact == 0", 0 }, { "missing.fact != 1", 1 }, { "missing.fact ~ \"x\"", 0 },
		{ "empty", 0 }, { "tls", 1 }, { "num.text > 11", 1 }, { "helo > 3", 0 },
		{ "dnsbl.score >= \"5\"", 1 },
		{ "helo == mail.example.com", 0 },                      /* a dotted word is a fact (unset) */
		{ "helo == \"mail.example.com\"", 1 },
		{ "client.ip != none", 1 },                             /* an undotted word is a string */
		{ "tls == true", 1 }, { "auth == tls", 0 },              /* session facts stay facts */
	};
	static const struct {
		const char *cond, *err;
	} bad[] = {
		{ "dnsbl.score >=", "t.conf:2:27: a comparison needs a value after its operator" }, /* at "then" */
		{ "(auth or tls", "t.conf:2:25: ')' expected" },
		{ "auth tls", "t.conf:2:17: unexpected word (missing 'and', 'or' or 'then'?)" },
		{ "client.ip in 10.0.0.0/8", "t.conf:2:25: 'in' needs [a list], file:PATH or lmdb:DIR" },
		{ "helo ~ \"(\"", "t.conf:2:19: bad regular expression" },
		{ "and auth", "t.conf:2:12: unexpected punctuation or keyword" },
		{ "client.ip in file:/nonexistent/table", "cannot read table /nonexistent/table" },
		{ "helo ~ \"a+++\"", "bad regular expression: a quantifier after a quantifier" },
		{ "helo ~ \"(a{200})\"", "bad regular expression: a repetition bound above 100" },
	};
	char err[600];

	for (size_t i = 0; i < nitems(cases); i++) {
		int got = fires(cases[i].cond, err, sizeof(err));

		t_true(got == cases[i].want, "'%s' -> %d (want %d) %s", cases[i].cond, got, cases[i].want,
		    got < 0 ? err : "");
	}
	for (size_t i = 0; i < nitems(bad); i++) {
		int got = fires(bad[i].cond, err, sizeof(err));

		t_true(got < 0 && strstr(err, bad[i].err) != NULL, "'%s' refused with '%s' (got '%s')", bad[i].cond,
		    bad[i].err, got < 0 ? err : "accepted");
	}
	{
		/* rule shapes: stage names, observe, actions, positions */
		static const struct {
			const char *text, *err;
		} shapes[] = {
			{ "rules {\n  rcpt: reject 554 5.7.1 \"no {client.ip} ref {ref}\"\n}\n", NULL },
			{ "rules {\n  observe on\n  helo observe if helo == x then tempfail 451 4.7.1 \"later\"\n}\n", NULL },
			{ "rules {\n  data: add-header \"X-Score: {dnsbl.score}\"\n  mail: set a.b = 3\n  rcpt: skip dnsbl\n}\n", NULL },
			{ "rules {\n  connect: if client.ip in [10.0.0.0/8] then disconnect\n}\n", NULL },
			{ "rules {\n  body: reject\n}\n", "t.conf:2:3: 'body:' is not a stage" },
			{ "rules {\n  rcpt: reject 454 5.7.1 x\n}\n", "t.conf:2:16: '454' is not a reply code from 500 to 599" },
			{ "rules {\n  rcpt: reject 554 4.7.1 x\n}\n", "t.conf:2:20: an enhanced status code 5.x.y must follow 554" },
			{ "rules {\n  rcpt: if auth reject\n}\n", "t.conf:2:17: unexpected word (missing 'and', 'or' or 'then'?)" },
			{ "rules {\n  rcpt: frobnicate\n}\n", "t.conf:2:9: unknown action 'frobnicate'" },
			{ "rules {\n  rcpt: reject 554 5.7.1 \"{unclosed\"\n}\n", "malformed field" },
			{ "rules {\n  data: add-header nocolon\n}\n", "add-header takes one \"Name: value\"" },
			{ "rules {\n  mail: set a.b 3\n}\n", "set takes FACT = VALUE" },
			{ "rules {\n  observe maybe\n}\n", "t.conf:2:3: observe takes on or off" },
		};

		for (size_t i = 0; i < nitems(shapes); i++) {
			struct conf_error cerr;
			struct conf_doc *doc = conf_parse("t.conf", shapes[i].text, strlen(shapes[i].text), &cerr);
			struct ruleset *rs = doc ? rules_parse(doc->first, &cerr) : NULL;

			if (shapes[i].err == NULL)
				t_true(rs != NULL, "shape %zu parses (%s)", i, rs ? "" : cerr.msg);
			else
				t_true(rs == NULL && strstr(cerr.msg, shapes[i].err) != NULL, "shape %zu refused: '%s' (got '%s')",
				    i, shapes[i].err, rs ? "accepted" : cerr.msg);
			rules_free(rs);
			conf_doc_free(doc);
		}
	}
	{
		/* evaluation order, observe, what a rule read */
		const char *text = "rules {\n  observe off\n  rcpt: observe if dnsbl.score > 1 then reject\n"
		                   "  rcpt: if auth then accept\n  rcpt: if dnsbl.score >= 5 and tls then reject 554 5.7.1 \"x\"\n}\n";
		struct conf_error cerr;
		struct conf_doc *doc = conf_parse("t.conf", text, strlen(text), &cerr);
		struct ruleset *rs = rules_parse(doc->first, &cerr);
		struct rules_hit hit;
		unsigned pos = 0;
		const struct rule *r = rules_eval(rs, 3, &pos, lookup, NULL, &hit);

		t_true(r != NULL && rule_observe(r) && rule_line(r) == 3, "first: the observed rule");
		r = rules_eval(rs, 3, &pos, lookup, NULL, &hit);
		t_true(r != NULL && !rule_observe(r) && rule_line(r) == 5 && rule_code(r) == 554, "then the refusal");
		t_true(hit.nread == 2 && !strcmp(hit.read_name[0], "dnsbl.score") && hit.read_val[0].i == 7 &&
		    !strcmp(hit.read_name[1], "tls"), "it read dnsbl.score and tls");
		t_true(strcmp(rule_source(r), "rcpt: if dnsbl.score >= 5 and tls then reject 554 5.7.1 \"x\"") == 0,
		    "source '%s'", rule_source(r));
		t_true(rules_eval(rs, 3, &pos, lookup, NULL, &hit) == NULL, "no more");
		t_true(rules_stages(rs) == (1u << 3), "stages");
		rules_free(rs);
		conf_doc_free(doc);
	}
	return t_done();
}
