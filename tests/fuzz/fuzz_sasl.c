/* tests/fuzz/fuzz_sasl.c: AUTH arguments and responses through the sasl decoders */
#include "fuzz.h"
#include "sasl.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *ir;
	size_t irlen;
	char user[SASL_USER_MAX];
	unsigned char out[64];
	long n;
	enum sasl_mech m = sasl_auth_args(p, size, &ir, &irlen);

	FUZZ_CHECK(m < SASL_MECH_COUNT);
	if (ir != NULL)
		FUZZ_CHECK(ir >= p && ir + irlen <= p + size && irlen > 0);
	for (int k = 0; k < 2; k++) {
		bool ok = k ? sasl_login_user(p, size, user, sizeof(user)) : sasl_plain_user(p, size, user, sizeof(user));

		if (ok) {
			size_t l = strnlen(user, sizeof(user));

			FUZZ_CHECK(l > 0 && l < sizeof(user));
			for (size_t i = 0; i < l; i++)
				FUZZ_CHECK((unsigned char)user[i] >= 0x20 && user[i] != 0x7f);
		}
	}
	n = b64_decode(p, size, out, sizeof(out));
	FUZZ_CHECK(n >= -1 && n <= (long)sizeof(out));
	return 0;
}
