/* filters/helo_check.c: what a HELO/EHLO name says about the client (pure) */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "helo_check.h"

/* same_addr - two textual addresses name the same address */
static bool
same_addr(const char *a, const char *b)
{
	unsigned char x[16], y[16];

	if (a == NULL || b == NULL)
		return false;
	if (inet_pton(AF_INET, a, x) == 1)
		return inet_pton(AF_INET, b, y) == 1 && memcmp(x, y, 4) == 0;
	if (inet_pton(AF_INET6, a, x) == 1) {
		if (inet_pton(AF_INET6, b, y) == 1)
			return memcmp(x, y, 16) == 0;
		/* an IPv4-mapped client against an IPv4 literal */
		return inet_pton(AF_INET, b, y) == 1 && memcmp(x, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0 &&
		    memcmp(x + 12, y, 4) == 0;
	}
	return false;
}

/* hostname_ok - letters, digits, '-' in labels of 1..63, no leading/trailing '-' */
static bool
hostname_ok(const char *s, bool *dotted)
{
	size_t n = strlen(s), label = 0;

	*dotted = false;
	if (n == 0 || n > 253)
		return false;
	if (s[n - 1] == '.')
		n--; /* a trailing dot is tolerated */
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			*dotted = true;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[n - 1] != '-';
}

/* helo_check - see helo_check.h */
void
helo_check(const char *name, const char *client_ip, const char *our_name, const char *our_ip,
    struct helo_facts *out)
{
	unsigned char tmp[16];
	char lit[64];
	size_t n = name ? strlen(name) : 0;

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return;
	if (name[0] == '[' && name[n - 1] == ']' && n - 2 < sizeof(lit)) {
		const char *inner = lit;

		memcpy(lit, name + 1, n - 2);
		lit[n - 2] = '\0';
		if (strncasecmp(lit, "IPv6:", 5) == 0) {
			inner = lit + 5;
			out->syntax_ok = inet_pton(AF_INET6, inner, tmp) == 1;
		} else {
			out->syntax_ok = inet_pton(AF_INET, inner, tmp) == 1;
		}
		out->literal = out->syntax_ok;
		out->literal_matches = out->literal && same_addr(client_ip, inner);
		out->ours = out->literal && our_ip != NULL && same_addr(our_ip, inner) && !out->literal_matches;
		return;
	}
	if (inet_pton(AF_INET, name, tmp) == 1 || inet_pton(AF_INET6, name, tmp) == 1) {
		out->bare_ip = true;
		out->ours = our_ip != NULL && same_addr(our_ip, name) && !same_addr(client_ip, name);
		return;
	}
	out->syntax_ok = hostname_ok(name, &out->fqdn);
	out->ours = strcasecmp(name, "localhost") == 0 || strcasecmp(name, "localhost.localdomain") == 0 ||
	    (our_name != NULL && strcasecmp(name, our_name) == 0);
}
