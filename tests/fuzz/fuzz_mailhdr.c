/* tests/fuzz/fuzz_mailhdr.c: header blocks through mailhdr_get() */
#include "fuzz.h"
#include "mailhdr.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "Subject", "From", "Date", "Message-ID", "X" };
	char out[201];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		bool f = mailhdr_get((const char *)data, size, names[i], out, sizeof(out));
		size_t n = strnlen(out, sizeof(out));

		FUZZ_CHECK(n < sizeof(out));
		FUZZ_CHECK(f || n == 0);
		for (size_t k = 0; k < n; k++)
			FUZZ_CHECK((unsigned char)out[k] >= 0x20 && out[k] != 0x7f);
		FUZZ_CHECK(n == 0 || (out[0] != ' ' && out[n - 1] != ' '));
	}
	return 0;
}
