/* tests/unit/t.h: a tiny TAP producer for table-driven unit tests */
#ifndef SLUICE_T_H
#define SLUICE_T_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Every check prints one "ok N - label" or "not ok N - label" line, with
 * "# got/want" diagnostics on failure. t_done() prints the plan "1..N" last
 * (TAP allows a trailing plan) and returns the exit status: 0 if every
 * check passed. Labels are printf formats. Header-only: one test per file.
 */

#define T_PRINTF(f, a) __attribute__((format(printf, f, a)))

static unsigned t_count, t_failures;

/* t_vreport - print one TAP result line; returns ok */
static inline T_PRINTF(2, 0) bool
t_vreport(bool ok, const char *fmt, va_list ap)
{
	t_count++;
	if (!ok)
		t_failures++;
	printf("%sok %u - ", ok ? "" : "not ", t_count);
	vprintf(fmt, ap);
	putchar('\n');
	return ok;
}

/* t_true - a plain assertion */
static inline T_PRINTF(2, 3) bool
t_true(bool cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	t_vreport(cond, fmt, ap);
	va_end(ap);
	return cond;
}

/* t_diag - a "# ..." comment line */
static inline T_PRINTF(1, 2) void
t_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* t_escape - print bytes as a C string literal body */
static inline void
t_escape(const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r')
			fputs("\\r", stdout);
		else if (s[i] == '\n')
			fputs("\\n", stdout);
		else if (s[i] == '\t')
			fputs("\\t", stdout);
		else if (s[i] == '"' || s[i] == '\\')
			printf("\\%c", s[i]);
		else if (s[i] < 0x20 || s[i] >= 0x7f)
			printf("\\x%02x", s[i]);
		else
			putchar(s[i]);
	}
}

/* t_int_eq - integers compare equal */
static inline T_PRINTF(3, 4) bool
t_int_eq(long long got, long long want, const char *fmt, ...)
{
	va_list ap;
	bool ok = got == want;

	va_start(ap, fmt);
	t_vreport(ok, fmt, ap);
	va_end(ap);
	if (!ok)
		t_diag("got %lld, want %lld", got, want);
	return ok;
}

/* t_same - byte strings are equal (either may be NULL when empty) */
static inline bool
t_same(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* t_mem_eq - byte strings compare equal (lengths too) */
static inline T_PRINTF(5, 6) bool
t_mem_eq(const void *got, size_t gotlen, const void *want, size_t wantlen, const char *fmt, ...)
{
	va_list ap;
	bool ok = t_same(got, gotlen, want, wantlen);

	va_start(ap, fmt);
	t_vreport(ok, fmt, ap);
	va_end(ap);
	if (!ok) {
		fputs("# got  \"", stdout);
		t_escape(got, gotlen);
		printf("\" (%zu)\n# want \"", gotlen);
		t_escape(want, wantlen);
		printf("\" (%zu)\n", wantlen);
	}
	return ok;
}

/* t_str_eq - C strings compare equal; NULL only equals NULL */
static inline T_PRINTF(3, 4) bool
t_str_eq(const char *got, const char *want, const char *fmt, ...)
{
	va_list ap;
	bool ok = (got == NULL || want == NULL) ? got == want : strcmp(got, want) == 0;

	va_start(ap, fmt);
	t_vreport(ok, fmt, ap);
	va_end(ap);
	if (!ok) {
		fputs("# got  ", stdout);
		if (got != NULL) {
			putchar('"');
			t_escape(got, strlen(got));
			putchar('"');
		} else {
			fputs("NULL", stdout);
		}
		fputs("\n# want ", stdout);
		if (want != NULL) {
			putchar('"');
			t_escape(want, strlen(want));
			putchar('"');
		} else {
			fputs("NULL", stdout);
		}
		putchar('\n');
	}
	return ok;
}

/* t_done - print the plan; the exit status of main() */
static inline int
t_done(void)
{
	printf("1..%u\n", t_count);
	if (t_failures > 0)
		t_diag("%u of %u checks failed", t_failures, t_count);
	fflush(stdout);
	return t_failures > 0 || t_count == 0;
}

/*
 * struct tbuf - a growable byte buffer for collecting parser output
 * (sink bytes, event traces) that is then compared with t_mem_eq().
 */
struct tbuf {
	char *p;
	size_t len, cap;
};

/* tbuf_add - append bytes; aborts on allocation failure */
static inline void
tbuf_add(struct tbuf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (b->p == NULL)
			abort();
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* tbuf_adds - append a C string */
static inline void
tbuf_adds(struct tbuf *b, const char *s)
{
	tbuf_add(b, s, strlen(s));
}

/* tbuf_free - release and empty */
static inline void
tbuf_free(struct tbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* t_dup - an exact-size heap copy, so ASan catches reads past n */
static inline char *
t_dup(const char *p, size_t n)
{
	char *c = malloc(n ? n : 1);

	if (c == NULL)
		abort();
	if (n > 0)
		memcpy(c, p, n);
	return c;
}

/*
 * t_chunk - the idx-th piece of n bytes under cut plan `plan`, for running
 * every byte-stream case split at every boundary. Plan 0 feeds everything
 * at once; plans 1..n+1 cut once at offset plan-1 (so the first or last
 * piece may be empty); plan n+2 feeds one byte at a time. Returns false
 * when the plan has no more pieces. T_NPLANS(n) is the number of plans.
 */
#define T_NPLANS(n) ((n) + 3)

static inline bool
t_chunk(size_t plan, size_t n, size_t idx, size_t *off, size_t *len)
{
	if (plan == 0) {
		*off = 0;
		*len = n;
		return idx == 0;
	}
	if (plan <= n + 1) {
		size_t cut = plan - 1;

		*off = idx == 0 ? 0 : cut;
		*len = idx == 0 ? cut : n - cut;
		return idx < 2;
	}
	*off = idx;
	*len = 1;
	return idx < n;
}

/* T_S - a string literal and its length, NULs included */
#define T_S(s) s, (sizeof(s) - 1)

#endif
