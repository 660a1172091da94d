/* tests/fuzz/fuzz_policy.c: policy server responses through policy_response() */
#include "fuzz.h"
#include "policy.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char action[64];
	size_t n;

	policy_response((const char *)data, size, action, sizeof(action));
	n = strnlen(action, sizeof(action));
	FUZZ_CHECK(n < sizeof(action));
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)action[i] >= 0x20 && action[i] != 0x7f);
	return 0;
}
