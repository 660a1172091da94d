/* proxy/util.c: small helpers shared by every module */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util.h"

/* parse_rc_name - name a parser result for logs and tests */
const char *
parse_rc_name(enum parse_rc rc)
{
	switch (rc) {
	case PARSE_OK:
		return "ok";
	case PARSE_MORE:
		return "more";
	case PARSE_TOO_LONG:
		return "too-long";
	case PARSE_BAD:
		return "bad";
	case PARSE_RC_COUNT:
		break;
	}
	return "?";
}

/* sl_strerror - name a negative error code */
const char *
sl_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case SL_EPROTO:
		return "protocol error";
	case SL_ELIMIT:
		return "limit exceeded";
	case SL_ECONFIG:
		return "configuration error";
	default:
		return strerror(err);
	}
}

/* xcalloc - calloc or die (startup/config only) */
void *
xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (p == NULL) {
		fputs("sluice: out of memory\n", stderr);
		abort();
	}
	return p;
}

/* xstrdup - strdup or die */
char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

/* xstrndup - strndup or die */
char *
xstrndup(const char *s, size_t n)
{
	char *p = xcalloc(1, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* ascii_ncasecmp - compare n bytes ignoring ASCII case */
int
ascii_ncasecmp(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ca = (unsigned char)a[i], cb = (unsigned char)b[i];

		if (ca >= 'A' && ca <= 'Z')
			ca += 'a' - 'A';
		if (cb >= 'A' && cb <= 'Z')
			cb += 'a' - 'A';
		if (ca != cb)
			return ca - cb;
		if (ca == '\0')
			return 0;
	}
	return 0;
}

/* clock_mono_ms - monotonic milliseconds */
uint64_t
clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* clock_wall_ms - wall-clock milliseconds since the epoch */
uint64_t
clock_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* fmt_rfc3339_ms - format a wall time in UTC with milliseconds */
void
fmt_rfc3339_ms(char *buf, size_t sz, uint64_t wall_ms)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, sz, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    (unsigned)(wall_ms % 1000));
}

/* ref_new - see util.h (no 0/o, 1/l: it is read aloud and typed) */
void
ref_new(char out[REF_LEN + 1])
{
	static const char b32[] = "abcdefghijkmnpqrstuvwxyz23456789";
	uint8_t r[REF_LEN];

	rand_fill(r, sizeof(r));
	for (size_t i = 0; i < REF_LEN; i++)
		out[i] = b32[r[i] & 31];
	out[REF_LEN] = '\0';
}

/* rand_fill - kernel randomness; aborts if the kernel refuses */
void
rand_fill(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			abort();
		}
		p += n;
		len -= (size_t)n;
	}
}
