/* tests/fuzz/fuzz_senders.c: senders tables through senders_parse() and lookups */
#include "fuzz.h"
#include "senders.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct senders *t = senders_parse("f", (const char *)data, size, err, sizeof(err));

	if (t == NULL) {
		FUZZ_CHECK(strnlen(err, sizeof(err)) < sizeof(err));
		return 0;
	}
	(void)senders_allowed(t, "alice", "alice@example.org");
	(void)senders_allowed(t, "bob", "");
	(void)senders_allowed(t, "", "x@y");
	senders_free(t);
	return 0;
}
