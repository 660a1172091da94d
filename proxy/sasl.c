/* proxy/sasl.c: reading the user name out of an AUTH exchange (pure) */
#include <string.h>

#include "sasl.h"
#include "util.h"

#define SASL_RESPONSE_MAX 2048 /* decoded bytes looked at */

/* wipe - clear a buffer that held a password (not optimised away) */
static void
wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n-- > 0)
		*v++ = 0;
}

/* b64_value - one base64 digit, or -1 */
static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* b64_decode - see sasl.h */
long
b64_decode(const char *in, size_t len, unsigned char *out, size_t outsz)
{
	size_t o = 0;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		size_t pad = 0;

		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + (size_t)k];

			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = b64_value(c)) < 0)
				return -1; /* a digit after padding, or not base64 */
		}
		if (o + 3 - pad > outsz)
			return -1;
		out[o++] = (unsigned char)((v[0] << 2) | (v[1] >> 4));
		if (pad < 2)
			out[o++] = (unsigned char)(((v[1] & 15) << 4) | (v[2] >> 2));
		if (pad < 1)
			out[o++] = (unsigned char)(((v[2] & 3) << 6) | v[3]);
	}
	return (long)o;
}

/* sasl_auth_args - see sasl.h */
enum sasl_mech
sasl_auth_args(const char *arg, size_t arglen, const char **ir, size_t *irlen)
{
	size_t m = 0, i;
	enum sasl_mech mech;

	*ir = NULL;
	*irlen = 0;
	while (m < arglen && arg[m] != ' ')
		m++;
	if (m == 0)
		return SASL_NONE;
	if (m == 5 && ascii_ncasecmp(arg, "PLAIN", 5) == 0)
		mech = SASL_PLAIN;
	else if (m == 5 && ascii_ncasecmp(arg, "LOGIN", 5) == 0)
		mech = SASL_LOGIN;
	else
		mech = SASL_OTHER;
	i = m;
	while (i < arglen && arg[i] == ' ')
		i++;
	if (i < arglen) {
		*ir = arg + i;
		*irlen = arglen - i;
		if (memchr(*ir, ' ', *irlen) != NULL)
			return SASL_NONE;
	}
	return mech;
}

/* sasl_mech_name - see sasl.h */
const char *
sasl_mech_name(enum sasl_mech m)
{
	static const char *const names[SASL_MECH_COUNT] = { "NONE", "PLAIN", "LOGIN", "OTHER" };

	return m < SASL_MECH_COUNT ? names[m] : "?";
}

/* copy_user - a user name from decoded bytes: no control bytes, bounded */
static bool
copy_user(const unsigned char *p, size_t n, char *user, size_t usersz)
{
	if (n == 0 || n >= usersz)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return false;
		user[i] = (char)p[i];
	}
	user[n] = '\0';
	return true;
}

/* sasl_plain_user - see sasl.h */
bool
sasl_plain_user(const char *b64, size_t len, char *user, size_t usersz)
{
	unsigned char buf[SASL_RESPONSE_MAX];
	const unsigned char *nul1, *nul2;
	long n;
	bool ok = false;

	if (len > sizeof(buf) / 3 * 4)
		return false;
	n = b64_decode(b64, len, buf, sizeof(buf));
	if (n > 0 && (nul1 = memchr(buf, '\0', (size_t)n)) != NULL &&
	    (nul2 = memchr(nul1 + 1, '\0', (size_t)(buf + n - (nul1 + 1)))) != NULL)
		ok = copy_user(nul1 + 1, (size_t)(nul2 - (nul1 + 1)), user, usersz);
	wipe(buf, sizeof(buf)); /* the password was in there */
	return ok;
}

/* sasl_login_user - see sasl.h */
bool
sasl_login_user(const char *b64, size_t len, char *user, size_t usersz)
{
	unsigned char buf[SASL_RESPONSE_MAX];
	long n;
	bool ok;

	if (len > sizeof(buf) / 3 * 4)
		return false;
	n = b64_decode(b64, len, buf, sizeof(buf));
	ok = n > 0 && copy_user(buf, (size_t)n, user, usersz);
	wipe(buf, sizeof(buf));
	return ok;
}
