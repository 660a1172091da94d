/* tests/fuzz/fuzz_dns_msg.c: DNS replies through dns_msg_parse() and the rdata decoders */
#include "dns_msg.h"
#include "fuzz.h"

/* printable - what a decoder hands to logs and reply texts */
static void
check_printable(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	FUZZ_CHECK(n < max); /* NUL-terminated inside the buffer */
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_msg m;
	struct in_addr a;
	struct in6_addr a6;
	char out[DNS_NAME_MAX + 1], small[8];

	if (dns_msg_parse(data, size, &m) != PARSE_OK)
		return 0;
	FUZZ_CHECK(m.nrr <= DNS_MAX_RR && m.nrr <= m.nanswer);
	for (unsigned i = 0; i < m.nrr; i++) {
		const struct dns_rr *rr = &m.rr[i];

		FUZZ_CHECK(rr->rdoff + rr->rdlen <= size);
		FUZZ_CHECK(rr->ttl <= 0x7fffffffu);
		if (dns_rr_a(&m, rr, &a) == 0)
			FUZZ_CHECK(rr->type == DNS_T_A && rr->rdlen == 4);
		{
			unsigned pref;

			if (dns_rr_mx(&m, rr, &pref, out, sizeof(out)) == 0) {
				FUZZ_CHECK(rr->type == DNS_T_MX && pref <= 0xffff);
				check_printable(out, sizeof(out));
			}
		}
		if (dns_rr_aaaa(&m, rr, &a6) == 0)
			FUZZ_CHECK(rr->type == DNS_T_AAAA && rr->rdlen == 16);
		if (dns_rr_txt(&m, rr, out, sizeof(out)) == 0)
			check_printable(out, sizeof(out));
		if (dns_rr_txt(&m, rr, small, sizeof(small)) == 0)
			check_printable(small, sizeof(small));
		if (dns_rr_name(&m, rr, out, sizeof(out)) == 0)
			check_printable(out, sizeof(out));
	}
	return 0;
}
