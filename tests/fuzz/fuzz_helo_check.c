/* tests/fuzz/fuzz_helo_check.c: HELO names (and client addresses) through helo_check() */
#include "fuzz.h"
#include "helo_check.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[300], client[64];
	const uint8_t *bar = memchr(data, '|', size);
	size_t n = bar ? (size_t)(bar - data) : size, c = bar ? size - n - 1 : 0;
	struct helo_facts f;

	if (n >= sizeof(name) || c >= sizeof(client))
		return 0;
	memcpy(name, data, n);
	name[n] = '\0';
	memcpy(client, bar ? bar + 1 : data, c);
	client[c] = '\0';
	helo_check(name, client, "mx.example", "192.0.2.1", &f);
	FUZZ_CHECK(!f.literal_matches || f.literal);
	FUZZ_CHECK(!(f.literal && f.bare_ip));
	FUZZ_CHECK(!f.literal || f.syntax_ok);
	return 0;
}
