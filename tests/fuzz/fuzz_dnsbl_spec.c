/* tests/fuzz/fuzz_dnsbl_spec.c: DNS list specs and bare patterns through dnsbl_spec.c */
#include <arpa/inet.h>

#include "dnsbl_spec.h"
#include "fuzz.h"

#define LABEL_MAX  63
#define WEIGHT_MAX 1000000

/* check_err - a failure leaves "column N: ..." in err, N within the text (+1 for its end) */
static void
check_err(const char *err, size_t errsz, size_t len)
{
	char *end;
	unsigned long col;

	FUZZ_CHECK(memchr(err, '\0', errsz) != NULL);
	FUZZ_CHECK(strncmp(err, "column ", 7) == 0);
	col = strtoul(err + 7, &end, 10);
	FUZZ_CHECK(end[0] == ':');
	FUZZ_CHECK(col >= 1 && col <= len + 1);
}

/* check_zone - what a parsed zone must look like */
static void
check_zone(const char *zone)
{
	size_t n = strnlen(zone, DNSBL_ZONE_MAX + 1), label = 0;

	FUZZ_CHECK(n > 0 && n <= DNSBL_ZONE_MAX);
	FUZZ_CHECK(zone[0] != '.' && zone[n - 1] != '.');
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)zone[i];

		if (ch == '.') {
			FUZZ_CHECK(label > 0);
			label = 0;
			continue;
		}
		FUZZ_CHECK((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
			   ch == '_');
		FUZZ_CHECK(++label <= LABEL_MAX);
	}
}

/* check_pattern - every octet allows at least one value (brackets are never empty) */
static void
check_pattern(const struct dnsbl_pattern *p)
{
	for (int i = 0; i < 4; i++) {
		int any = 0;

		for (int j = 0; j < 32; j++)
			any |= p->oct[i][j];
		FUZZ_CHECK(any != 0);
	}
}

/* probe - an answer built from input bytes, so the matchers see varied addresses */
static struct in_addr
probe(const uint8_t *data, size_t size, size_t k)
{
	struct in_addr a;
	uint8_t o[4];

	for (int i = 0; i < 4; i++)
		o[i] = size > 0 ? data[(k + (size_t)i) % size] : (uint8_t)k;
	memcpy(&a.s_addr, o, 4);
	return a;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct dnsbl_spec sp, sp2;
	struct dnsbl_pattern p;
	char err[96];

	/* the spec; data is exactly size bytes and not NUL-terminated */
	memset(err, 'X', sizeof(err));
	if (dnsbl_spec_parse(text, size, &sp, err, sizeof(err)) == 0) {
		check_zone(sp.zone);
		FUZZ_CHECK(sp.weight >= -WEIGHT_MAX && sp.weight <= WEIGHT_MAX);
		FUZZ_CHECK(memchr(text, '\0', size) == NULL);
		FUZZ_CHECK(err[0] == '\0');
		if (!sp.any)
			check_pattern(&sp.pat);
		for (size_t k = 0; k < 4; k++) {
			struct in_addr a = probe(data, size, k);

			FUZZ_CHECK(dnsbl_spec_match(&sp, a) ==
				   (sp.any || dnsbl_pattern_match(&sp.pat, a)));
			if (sp.any)
				FUZZ_CHECK(dnsbl_pattern_match(&sp.pat, a));
		}
		/* the same text parses the same way twice (no hidden state) */
		FUZZ_CHECK(dnsbl_spec_parse(text, size, &sp2, NULL, 0) == 0);
		FUZZ_CHECK(memcmp(&sp, &sp2, sizeof(sp)) == 0);
	} else {
		check_err(err, sizeof(err), size);
	}

	/* the bare pattern; when it parses, "z=<it>" is a spec with that pattern */
	memset(err, 'X', sizeof(err));
	if (dnsbl_pattern_parse(text, size, &p, err, sizeof(err)) == 0) {
		char *spec = malloc(2 + size);

		if (spec == NULL)
			abort();
		check_pattern(&p);
		memcpy(spec, "z=", 2);
		memcpy(spec + 2, data, size);
		FUZZ_CHECK(dnsbl_spec_parse(spec, 2 + size, &sp2, err, sizeof(err)) == 0);
		FUZZ_CHECK(!sp2.any && sp2.weight == 1 && strcmp(sp2.zone, "z") == 0);
		FUZZ_CHECK(memcmp(&sp2.pat, &p, sizeof(p)) == 0);
		free(spec);
	} else {
		check_err(err, sizeof(err), size);
	}
	return 0;
}
