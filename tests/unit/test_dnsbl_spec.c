/* tests/unit/test_dnsbl_spec.c: DNS list specs and answer patterns, parsing and matching */
#include <arpa/inet.h>
#include <string.h>

#include "dnsbl_spec.h"
#include "t.h"
#include "util.h"

/* Specs. rc 0: zone, weight and any are checked; rc -1: the exact error. */
static const struct {
	const char *label;
	const char *text;
	size_t len;
	int rc;
	const char *zone;
	int weight;
	bool any;
	const char *err;
} specs[] = {
	/* the header's examples */
	{ "range, weight", T_S("zen.example=127.0.0.[2..11]*3"), 0, "zen.example", 3, false, NULL },
	{ "full range, list, negative weight", T_S("list.example=127.0.[0..255].[1;3]*-2"), 0,
	    "list.example", -2, false, NULL },
	{ "no pattern, weight", T_S("bl.example*2"), 0, "bl.example", 2, true, NULL },
	/* more valid ones */
	{ "zone only", T_S("bl.example"), 0, "bl.example", 1, true, NULL },
	{ "plain pattern, default weight", T_S("zen.example=127.0.0.2"), 0, "zen.example", 1, false, NULL },
	{ "lowercased", T_S("ZEN.Example.ORG=127.0.0.2"), 0, "zen.example.org", 1, false, NULL },
	{ "one label", T_S("localhost"), 0, "localhost", 1, true, NULL },
	{ "digits, '-' and '_'", T_S("b-l_2.Example"), 0, "b-l_2.example", 1, true, NULL },
	{ "an all-digit name is a zone", T_S("127.0.0.2"), 0, "127.0.0.2", 1, true, NULL },
	{ "plus sign", T_S("bl.example*+2"), 0, "bl.example", 2, true, NULL },
	{ "minus zero", T_S("bl.example*-0"), 0, "bl.example", 0, true, NULL },
	{ "zero", T_S("bl.example*0"), 0, "bl.example", 0, true, NULL },
	{ "leading zeros", T_S("bl.example=127.0.0.002*007"), 0, "bl.example", 7, false, NULL },
	{ "largest weight", T_S("bl.example*1000000"), 0, "bl.example", 1000000, true, NULL },
	{ "smallest weight", T_S("bl.example*-1000000"), 0, "bl.example", -1000000, true, NULL },
	{ "everything", T_S("x=[0..255].[0..255].[0..255].[0..255]"), 0, "x", 1, false, NULL },
	/* empty zone */
	{ "empty text", T_S(""), -1, NULL, 0, false, "column 1: empty zone" },
	{ "pattern without zone", T_S("=127.0.0.2"), -1, NULL, 0, false, "column 1: empty zone" },
	{ "weight without zone", T_S("*3"), -1, NULL, 0, false, "column 1: empty zone" },
	/* zone characters and labels */
	{ "space in zone", T_S("zen example"), -1, NULL, 0, false,
	    "column 4: character ' ' not allowed in a zone" },
	{ "'!' in zone", T_S("zen!example"), -1, NULL, 0, false,
	    "column 4: character '!' not allowed in a zone" },
	{ "8-bit byte in zone", T_S("zen\xc3\xa9"), -1, NULL, 0, false,
	    "column 4: character \\xc3 not allowed in a zone" },
	{ "trailing space", T_S("bl.example "), -1, NULL, 0, false,
	    "column 11: character ' ' not allowed in a zone" },
	{ "bare pattern is no spec", T_S("127.255.255.[252..255]"), -1, NULL, 0, false,
	    "column 13: character '[' not allowed in a zone" },
	{ "leading dot", T_S(".zen.example"), -1, NULL, 0, false, "column 1: zone starts with a dot" },
	{ "only a dot", T_S("."), -1, NULL, 0, false, "column 1: zone starts with a dot" },
	{ "empty label", T_S("zen..example"), -1, NULL, 0, false, "column 5: empty label in zone" },
	{ "trailing dot", T_S("zen.example."), -1, NULL, 0, false, "column 12: zone ends with a dot" },
	{ "trailing dot before '='", T_S("zen.example.=127.0.0.2"), -1, NULL, 0, false,
	    "column 12: zone ends with a dot" },
	{ "trailing dot before '*'", T_S("zen.example.*2"), -1, NULL, 0, false,
	    "column 12: zone ends with a dot" },
	/* octets */
	{ "octet above 255", T_S("zen.example=127.256.0.1"), -1, NULL, 0, false,
	    "column 17: octet value above 255" },
	{ "octet far above 255", T_S("zen.example=127.0.0.99999999999999999999"), -1, NULL, 0, false,
	    "column 21: octet value above 255" },
	{ "range end above 255", T_S("zen.example=127.0.0.[1..256]"), -1, NULL, 0, false,
	    "column 25: octet value above 255" },
	{ "list item above 255", T_S("zen.example=127.0.0.[1;300]"), -1, NULL, 0, false,
	    "column 24: octet value above 255" },
	{ "range low above high", T_S("zen.example=127.0.0.[11..2]"), -1, NULL, 0, false,
	    "column 22: range 11..2 has low above high" },
	{ "empty brackets", T_S("zen.example=127.0.0.[]"), -1, NULL, 0, false,
	    "column 21: empty brackets" },
	{ "unclosed bracket", T_S("zen.example=127.0.0.[1"), -1, NULL, 0, false,
	    "column 23: missing ']'" },
	{ "empty last item", T_S("zen.example=127.0.0.[1;]"), -1, NULL, 0, false,
	    "column 24: expected a number, found ']'" },
	{ "empty first item", T_S("zen.example=127.0.0.[;1]"), -1, NULL, 0, false,
	    "column 22: expected a number, found ';'" },
	{ "item cut off", T_S("zen.example=127.0.0.[1;"), -1, NULL, 0, false,
	    "column 24: expected a number, found end of text" },
	{ "single dot in brackets", T_S("zen.example=127.0.0.[1.5]"), -1, NULL, 0, false,
	    "column 23: a single '.' inside brackets (ranges use '..')" },
	{ "range without end", T_S("zen.example=127.0.0.[1..]"), -1, NULL, 0, false,
	    "column 25: expected a number after '..', found ']'" },
	{ "three dots", T_S("zen.example=127.0.0.[1...5]"), -1, NULL, 0, false,
	    "column 25: expected a number after '..', found '.'" },
	{ "space between items", T_S("zen.example=127.0.0.[1 2]"), -1, NULL, 0, false,
	    "column 23: expected ';' or ']', found ' '" },
	{ "negative octet", T_S("zen.example=127.0.0.-1"), -1, NULL, 0, false,
	    "column 21: expected octet 4 (a number or '['), found '-'" },
	{ "junk inside the pattern", T_S("zen.example=127x0.0.1"), -1, NULL, 0, false,
	    "column 16: expected '.' after octet 1, found 'x'" },
	/* missing octets */
	{ "empty pattern", T_S("zen.example="), -1, NULL, 0, false, "column 13: missing octet 1 of 4" },
	{ "empty pattern, weight", T_S("zen.example=*2"), -1, NULL, 0, false,
	    "column 13: expected octet 1 (a number or '['), found '*'" },
	{ "one octet", T_S("zen.example=127"), -1, NULL, 0, false,
	    "column 16: pattern has only 1 of 4 octets" },
	{ "three octets", T_S("zen.example=127.0.0"), -1, NULL, 0, false,
	    "column 20: pattern has only 3 of 4 octets" },
	{ "three octets, weight", T_S("zen.example=127.0.0*2"), -1, NULL, 0, false,
	    "column 20: pattern has only 3 of 4 octets" },
	{ "fourth octet empty", T_S("zen.example=127.0.0."), -1, NULL, 0, false,
	    "column 21: missing octet 4 of 4" },
	/* trailing junk */
	{ "junk after the pattern", T_S("zen.example=127.0.0.2x"), -1, NULL, 0, false,
	    "column 22: unexpected 'x' after the pattern" },
	{ "five octets", T_S("zen.example=127.0.0.2.5"), -1, NULL, 0, false,
	    "column 22: unexpected '.' after the pattern" },
	{ "second '='", T_S("zen.example=127.0.0.2=1"), -1, NULL, 0, false,
	    "column 22: unexpected '=' after the pattern" },
	{ "junk after the weight", T_S("zen.example*2x"), -1, NULL, 0, false,
	    "column 14: unexpected 'x' after the weight" },
	{ "second weight", T_S("zen.example*2*3"), -1, NULL, 0, false,
	    "column 14: unexpected '*' after the weight" },
	{ "pattern after the weight", T_S("zen.example*2=127.0.0.2"), -1, NULL, 0, false,
	    "column 14: unexpected '=' after the weight" },
	{ "trailing newline", T_S("zen.example*2\n"), -1, NULL, 0, false,
	    "column 14: unexpected \\x0a after the weight" },
	/* weights */
	{ "no weight digits", T_S("zen.example*"), -1, NULL, 0, false,
	    "column 13: weight needs digits, found end of text" },
	{ "sign only", T_S("zen.example*-"), -1, NULL, 0, false,
	    "column 14: weight needs digits, found end of text" },
	{ "two signs", T_S("zen.example*+-2"), -1, NULL, 0, false,
	    "column 14: weight needs digits, found '-'" },
	{ "letter weight", T_S("zen.example*x"), -1, NULL, 0, false,
	    "column 13: weight needs digits, found 'x'" },
	{ "weight too big", T_S("zen.example*1000001"), -1, NULL, 0, false,
	    "column 13: weight out of range (at most 1000000 either way)" },
	{ "weight too small", T_S("zen.example*-1000001"), -1, NULL, 0, false,
	    "column 13: weight out of range (at most 1000000 either way)" },
	{ "weight overflows int", T_S("zen.example=127.0.0.2*99999999999999999999"), -1, NULL, 0, false,
	    "column 23: weight out of range (at most 1000000 either way)" },
	/* NUL bytes */
	{ "NUL in zone", T_S("zen\0example"), -1, NULL, 0, false, "column 4: NUL byte" },
	{ "NUL at the end", T_S("zen.example=127.0.0.2\0"), -1, NULL, 0, false, "column 22: NUL byte" },
	{ "NUL first", T_S("\0zen.example"), -1, NULL, 0, false, "column 1: NUL byte" },
};

/* Bare patterns: rc and error. */
static const struct {
	const char *label;
	const char *text;
	size_t len;
	int rc;
	const char *err;
} patterns[] = {
	{ "header example", T_S("127.255.255.[252..255]"), 0, NULL },
	{ "plain", T_S("127.0.0.2"), 0, NULL },
	{ "all lists", T_S("[1;2].[3..4;9].[0..255].[7]"), 0, NULL },
	{ "empty", T_S(""), -1, "column 1: missing octet 1 of 4" },
	{ "a zone", T_S("zen.example"), -1, "column 1: expected octet 1 (a number or '['), found 'z'" },
	{ "a weight is no pattern", T_S("127.0.0.2*3"), -1, "column 10: unexpected '*' after the pattern" },
	{ "three octets", T_S("127.0.0"), -1, "column 8: pattern has only 3 of 4 octets" },
	{ "trailing space", T_S("1.2.3.4 "), -1, "column 8: unexpected ' ' after the pattern" },
	{ "above 255", T_S("1.2.3.[4;256]"), -1, "column 10: octet value above 255" },
	{ "reversed", T_S("[9..8].2.3.4"), -1, "column 2: range 9..8 has low above high" },
	{ "empty brackets", T_S("1.[].3.4"), -1, "column 3: empty brackets" },
	{ "NUL", T_S("1.2.3.[4]\0"), -1, "column 10: NUL byte" },
};

/* Matching: pattern, answer, whether it counts. */
static const struct {
	const char *pattern, *addr;
	bool match;
} matches[] = {
	{ "127.0.0.[2..11]", "127.0.0.2", true },
	{ "127.0.0.[2..11]", "127.0.0.11", true },
	{ "127.0.0.[2..11]", "127.0.0.7", true },
	{ "127.0.0.[2..11]", "127.0.0.1", false },
	{ "127.0.0.[2..11]", "127.0.0.12", false },
	{ "127.0.0.[2..11]", "127.0.1.2", false },
	{ "127.0.0.[2..11]", "128.0.0.2", false },
	{ "127.0.0.[2..11]", "2.0.0.127", false },
	{ "127.0.[0..255].[1;3]", "127.0.200.1", true },
	{ "127.0.[0..255].[1;3]", "127.0.0.3", true },
	{ "127.0.[0..255].[1;3]", "127.0.255.3", true },
	{ "127.0.[0..255].[1;3]", "127.0.0.2", false },
	{ "127.0.[0..255].[1;3]", "127.1.0.1", false },
	{ "127.0.0.[1;3;5..7]", "127.0.0.1", true },
	{ "127.0.0.[1;3;5..7]", "127.0.0.2", false },
	{ "127.0.0.[1;3;5..7]", "127.0.0.3", true },
	{ "127.0.0.[1;3;5..7]", "127.0.0.4", false },
	{ "127.0.0.[1;3;5..7]", "127.0.0.5", true },
	{ "127.0.0.[1;3;5..7]", "127.0.0.6", true },
	{ "127.0.0.[1;3;5..7]", "127.0.0.7", true },
	{ "127.0.0.[1;3;5..7]", "127.0.0.8", false },
	{ "127.0.0.[1;3;5..7]", "127.0.0.0", false },
	{ "127.255.255.[252..255]", "127.255.255.252", true },
	{ "127.255.255.[252..255]", "127.255.255.255", true },
	{ "127.255.255.[252..255]", "127.255.255.251", false },
	{ "[7..8].0.0.0", "7.0.0.0", true }, /* a range across a byte of the bit set */
	{ "[7..8].0.0.0", "8.0.0.0", true },
	{ "[7..8].0.0.0", "6.0.0.0", false },
	{ "[7..8].0.0.0", "9.0.0.0", false },
	{ "0.0.0.0", "0.0.0.0", true },
	{ "0.0.0.0", "0.0.0.1", false },
	{ "0.0.0.0", "1.0.0.0", false },
	{ "[0..255].[0..255].[0..255].[0..255]", "0.0.0.0", true },
	{ "[0..255].[0..255].[0..255].[0..255]", "255.255.255.255", true },
	{ "[0..255].[0..255].[0..255].[0..255]", "10.20.30.40", true },
	{ "[5;5;5].[1..1].2.[3;4]", "5.1.2.4", true },
	{ "[5;5;5].[1..1].2.[3;4]", "5.1.2.5", false },
	{ "[250..255;0].1.1.1", "0.1.1.1", true },
	{ "[250..255;0].1.1.1", "249.1.1.1", false },
};

/* addr - a dotted quad as the resolver hands it over (network byte order) */
static struct in_addr
addr(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		abort();
	return a;
}

/* test_specs - the spec table, each input in an exact-size heap copy */
static void
test_specs(void)
{
	for (size_t i = 0; i < nitems(specs); i++) {
		struct dnsbl_spec sp;
		char err[128];
		char *text = t_dup(specs[i].text, specs[i].len);
		int rc = dnsbl_spec_parse(text, specs[i].len, &sp, err, sizeof(err));

		t_int_eq(rc, specs[i].rc, "spec rc: %s", specs[i].label);
		if (rc == 0 && specs[i].rc == 0) {
			t_str_eq(sp.zone, specs[i].zone, "spec zone: %s", specs[i].label);
			t_int_eq(sp.weight, specs[i].weight, "spec weight: %s", specs[i].label);
			t_int_eq(sp.any, specs[i].any, "spec any: %s", specs[i].label);
			t_str_eq(err, "", "spec err empty: %s", specs[i].label);
		} else if (rc != 0 && specs[i].rc != 0) {
			t_str_eq(err, specs[i].err, "spec err: %s", specs[i].label);
		}
		free(text);
	}
}

/* test_patterns - the bare pattern table */
static void
test_patterns(void)
{
	for (size_t i = 0; i < nitems(patterns); i++) {
		struct dnsbl_pattern p;
		char err[128];
		char *text = t_dup(patterns[i].text, patterns[i].len);
		int rc = dnsbl_pattern_parse(text, patterns[i].len, &p, err, sizeof(err));

		t_int_eq(rc, patterns[i].rc, "pattern rc: %s", patterns[i].label);
		if (rc != 0 && patterns[i].rc != 0)
			t_str_eq(err, patterns[i].err, "pattern err: %s", patterns[i].label);
		free(text);
	}
}

/* test_matches - the same set through the bare and the spec parser */
static void
test_matches(void)
{
	for (size_t i = 0; i < nitems(matches); i++) {
		struct dnsbl_pattern p;
		struct dnsbl_spec sp;
		char spec[128], err[128];
		int n = snprintf(spec, sizeof(spec), "m.example=%s", matches[i].pattern);
		struct in_addr a = addr(matches[i].addr);

		if (dnsbl_pattern_parse(matches[i].pattern, strlen(matches[i].pattern), &p, err,
			sizeof(err)) != 0 ||
		    dnsbl_spec_parse(spec, (size_t)n, &sp, err, sizeof(err)) != 0) {
			t_true(false, "match: %s does not parse: %s", matches[i].pattern, err);
			continue;
		}
		t_int_eq(dnsbl_pattern_match(&p, a), matches[i].match, "pattern match: %s against %s",
		    matches[i].pattern, matches[i].addr);
		t_int_eq(dnsbl_spec_match(&sp, a), matches[i].match, "spec match: %s against %s",
		    matches[i].pattern, matches[i].addr);
	}
}

/* test_any - a spec without a pattern counts every answer */
static void
test_any(void)
{
	static const char *const answers[] = { "0.0.0.0", "127.0.0.2", "255.255.255.255", "10.1.2.3" };
	struct dnsbl_spec sp;
	char err[64];

	if (!t_int_eq(dnsbl_spec_parse(T_S("bl.example*2"), &sp, err, sizeof(err)), 0, "any: parses"))
		return;
	for (size_t i = 0; i < nitems(answers); i++) {
		t_true(dnsbl_spec_match(&sp, addr(answers[i])), "any: %s counts", answers[i]);
		/* pat is filled too, for a caller that forgets to look at any */
		t_true(dnsbl_pattern_match(&sp.pat, addr(answers[i])), "any: pat allows %s", answers[i]);
	}
}

/* fill - n bytes of c */
static void
fill(char *buf, size_t *len, char c, size_t n)
{
	memset(buf + *len, c, n);
	*len += n;
}

/* test_lengths - the 63-byte label and DNSBL_ZONE_MAX bounds, exactly */
static void
test_lengths(void)
{
	char buf[512], err[128];
	struct dnsbl_spec sp;
	size_t n;

	n = 0;
	fill(buf, &n, 'a', 63);
	fill(buf, &n, '.', 1);
	fill(buf, &n, 'b', 1);
	t_int_eq(dnsbl_spec_parse(buf, n, &sp, err, sizeof(err)), 0, "length: 63-byte label");
	n = 0;
	fill(buf, &n, 'x', 1);
	fill(buf, &n, '.', 1);
	fill(buf, &n, 'a', 64);
	t_int_eq(dnsbl_spec_parse(buf, n, &sp, err, sizeof(err)), -1, "length: 64-byte label");
	t_str_eq(err, "column 66: zone label longer than 63 bytes", "length: 64-byte label, error");

	/* 3 x (63 + dot) + 8 = 200 bytes */
	n = 0;
	for (int i = 0; i < 3; i++) {
		fill(buf, &n, (char)('A' + i), 63);
		fill(buf, &n, '.', 1);
	}
	fill(buf, &n, 'z', 8);
	t_int_eq((long long)n, DNSBL_ZONE_MAX, "length: the zone is DNSBL_ZONE_MAX bytes");
	if (t_int_eq(dnsbl_spec_parse(buf, n, &sp, err, sizeof(err)), 0, "length: longest zone")) {
		t_int_eq((long long)strlen(sp.zone), DNSBL_ZONE_MAX, "length: longest zone kept");
		t_true(sp.zone[0] == 'a' && sp.zone[64] == 'b' && sp.zone[128] == 'c',
		    "length: longest zone lowercased");
	}
	memcpy(buf + n, "=127.0.0.2*5", 12);
	t_int_eq(dnsbl_spec_parse(buf, n + 12, &sp, err, sizeof(err)), 0,
	    "length: longest zone with pattern and weight");
	buf[n] = 'z';
	t_int_eq(dnsbl_spec_parse(buf, n + 1, &sp, err, sizeof(err)), -1, "length: zone one too long");
	t_str_eq(err, "column 201: zone longer than 200 bytes", "length: zone one too long, error");
	buf[n] = '.';
	t_int_eq(dnsbl_spec_parse(buf, n + 1, &sp, err, sizeof(err)), -1,
	    "length: longest zone plus a dot");
	t_str_eq(err, "column 201: zone longer than 200 bytes", "length: longest zone plus a dot, error");
}

/* test_contract - out untouched on failure, err bounded, err may be NULL */
static void
test_contract(void)
{
	struct dnsbl_spec sp, before;
	struct dnsbl_pattern p, pbefore;
	char err[12];

	memset(&sp, 0x5a, sizeof(sp));
	before = sp;
	t_int_eq(dnsbl_spec_parse(T_S("zen.example=127.0.0.[]"), &sp, err, sizeof(err)), -1,
	    "contract: failing spec");
	t_true(memcmp(&sp, &before, sizeof(sp)) == 0, "contract: out untouched on failure");
	t_str_eq(err, "column 21: ", "contract: err truncated to its size, NUL-terminated");
	memset(&p, 0x5a, sizeof(p));
	pbefore = p;
	t_int_eq(dnsbl_pattern_parse(T_S("1.2.3"), &p, err, sizeof(err)), -1, "contract: failing pattern");
	t_true(memcmp(&p, &pbefore, sizeof(p)) == 0, "contract: pattern untouched on failure");
	t_int_eq(dnsbl_spec_parse(T_S("zen..example"), &sp, NULL, 0), -1, "contract: err may be NULL");
	t_int_eq(dnsbl_pattern_parse(T_S("1..2.3"), &p, NULL, 0), -1, "contract: pattern err may be NULL");
	err[0] = 'x';
	t_int_eq(dnsbl_spec_parse(T_S("zen.example"), &sp, err, 0), 0, "contract: errsz 0 is fine");
	t_true(err[0] == 'x', "contract: errsz 0 writes nothing");
	t_int_eq(dnsbl_spec_parse(NULL, 0, &sp, err, sizeof(err)), -1, "contract: NULL, 0 is empty");
	t_str_eq(err, "column 1: e", "contract: NULL, 0 error (truncated)");
}

int
main(void)
{
	test_specs();
	test_patterns();
	test_matches();
	test_any();
	test_lengths();
	test_contract();
	return t_done();
}
