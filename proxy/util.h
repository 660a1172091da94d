/* proxy/util.h: small helpers shared by every module (no state, no I/O) */
#ifndef SLUICE_UTIL_H
#define SLUICE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/time.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* FREE_AND_NULL - call a free function and clear the pointer (Tor style) */
#define FREE_AND_NULL(fn, p) \
	do {                     \
		fn(p);               \
		(p) = NULL;          \
	} while (0)

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Results of every pure parser in proxy/ and rules/. */
enum parse_rc {
	PARSE_OK = 0,  /* one complete item is available */
	PARSE_MORE,    /* need more bytes */
	PARSE_TOO_LONG,/* item exceeds its bound */
	PARSE_BAD,     /* protocol violation */
	PARSE_RC_COUNT
};

const char *parse_rc_name(enum parse_rc rc);

/* Error codes: functions return 0 or -SL_E* / -errno. */
#define SL_EPROTO  1001 /* peer violated the protocol */
#define SL_ELIMIT  1002 /* a configured bound was hit */
#define SL_ECONFIG 1003 /* configuration error */

const char *sl_strerror(int err);

/* xmalloc family: abort on failure; only for startup and config code. */
void *xcalloc(size_t n, size_t sz);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* ascii_casecmp_n - case-insensitive compare of n bytes, ASCII only */
int ascii_ncasecmp(const char *a, const char *b, size_t n);

/* Monotonic and wall clocks in milliseconds. */
uint64_t clock_mono_ms(void);
uint64_t clock_wall_ms(void);

/* tv_ms - a struct timeval from milliseconds (libevent timeouts) */
static inline struct timeval
tv_ms(unsigned ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

	return tv;
}

/* fmt_rfc3339_ms - "2026-11-28T23:59:01.123Z" into buf (>= 32 bytes) */
void fmt_rfc3339_ms(char *buf, size_t sz, uint64_t wall_ms);

/* rand_fill - fill with kernel randomness (getrandom); aborts on failure */
void rand_fill(void *buf, size_t len);

/* ref_new - a reference id nobody can guess: REF_LEN base32 characters (60 bits) */
#define REF_LEN 12
void ref_new(char out[REF_LEN + 1]);

#endif
