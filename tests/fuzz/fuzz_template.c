/* tests/fuzz/fuzz_template.c: templates through tpl_check() and tpl_render() */
#include "fuzz.h"
#include "template.h"

static const char *const known[] = { "list", "ref", "client.ip", NULL };

/* lookup - echoes the name, so rendering copies fuzzed bytes too */
static const char *
lookup(void *arg, const char *name, size_t n)
{
	static char buf[64];

	(void)arg;
	n = n < sizeof(buf) - 1 ? n : sizeof(buf) - 1;
	memcpy(buf, name, n);
	buf[n] = '\0';
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char tpl[512], err[128], out[256];
	size_t n = size < sizeof(tpl) - 1 ? size : sizeof(tpl) - 1;
	size_t len;

	memcpy(tpl, data, n);
	tpl[n] = '\0'; /* templates are C strings from the configuration */
	if (tpl_check(tpl, known, err, sizeof(err)) < 0)
		FUZZ_CHECK(strnlen(err, sizeof(err)) < sizeof(err));
	len = tpl_render(out, sizeof(out), tpl, lookup, NULL);
	FUZZ_CHECK(len < sizeof(out) && out[len] == '\0' && strlen(out) == len);
	for (size_t i = 0; i < len; i++)
		FUZZ_CHECK((unsigned char)out[i] >= 0x20 && (unsigned char)out[i] < 0x7f);
	return 0;
}
