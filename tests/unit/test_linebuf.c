/* tests/unit/test_linebuf.c: the bounded line accumulator, fed whole and split */
#include <stdio.h>
#include <string.h>

#include "linebuf.h"
#include "t.h"

/*
 * A run is written down as a trace: one "rc[bytes]" per completed line
 * (the bytes held when linebuf_feed() returned), then "more[partial]" or
 * "skip[prefix]" for an unfinished line when the input ran out.
 */
static const struct {
	const char *label;
	const char *wire;
	size_t len;
	size_t max;
	const char *trace;
	size_t tracelen;
} cases[] = {
	{ "one CRLF line", T_S("EHLO a\r\n"), 1024, T_S("ok[EHLO a\r\n]") },
	{ "LF-only line is a line", T_S("EHLO a\n"), 1024, T_S("ok[EHLO a\n]") },
	{ "two lines", T_S("a\r\nb\r\n"), 1024, T_S("ok[a\r\n]ok[b\r\n]") },
	{ "empty lines", T_S("\r\n\n\r\n"), 1024, T_S("ok[\r\n]ok[\n]ok[\r\n]") },
	{ "unfinished line", T_S("MAIL FROM:<a@b>"), 1024, T_S("more[MAIL FROM:<a@b>]") },
	{ "line then partial", T_S("a\r\nbc"), 1024, T_S("ok[a\r\n]more[bc]") },
	{ "no input", T_S(""), 1024, T_S("") },
	{ "bare CR is content", T_S("a\rb\r\n"), 1024, T_S("ok[a\rb\r\n]") },
	{ "NUL is content", T_S("a\0b\r\n"), 1024, T_S("ok[a\0b\r\n]") },
	{ "8-bit is content", T_S("\xff\xfe\x80\n"), 1024, T_S("ok[\xff\xfe\x80\n]") },
	{ "exactly max, LF included", T_S("1234567\n"), 8, T_S("ok[1234567\n]") },
	{ "one over max", T_S("12345678\n"), 8, T_S("too-long[12345678]") },
	{ "CRLF straddles the bound", T_S("123456\r\n"), 8, T_S("ok[123456\r\n]") },
	{ "CR fits, LF does not", T_S("1234567\r\n"), 8, T_S("too-long[1234567\r]") },
	{ "far over max", T_S("0123456789abcdef\r\n"), 8, T_S("too-long[01234567]") },
	{ "line after an overlong one", T_S("0123456789\r\nok\r\n"), 8,
	    T_S("too-long[01234567]ok[ok\r\n]") },
	{ "two overlong lines", T_S("0123456789\n0123456789\n"), 8,
	    T_S("too-long[01234567]too-long[01234567]") },
	{ "overlong, unfinished", T_S("0123456789"), 8, T_S("skip[01234567]") },
	{ "exactly max, unfinished", T_S("01234567"), 8, T_S("more[01234567]") },
	{ "max below 4 is 4", T_S("abc\nabcd\n"), 1, T_S("ok[abc\n]too-long[abcd]") },
	{ "max 0 is 4", T_S("\r\n"), 0, T_S("ok[\r\n]") },
	{ "long line under a big max", T_S("0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789\r\n"), 4096,
	    T_S("ok[0123456789012345678901234567890123456789"
	        "0123456789012345678901234567890123456789"
	        "0123456789012345678901234567890123456789"
	        "0123456789012345678901234567890123456789\r\n]") },
};

/* trace_line - append "rc[bytes]" for a completed line */
static void
trace_line(struct tbuf *tr, const char *rc, const struct linebuf *lb)
{
	tbuf_adds(tr, rc);
	tbuf_adds(tr, "[");
	tbuf_add(tr, lb->buf, lb->len);
	tbuf_adds(tr, "]");
}

/* run - feed one case under a cut plan; the trace goes to tr */
static void
run(const char *wire, size_t len, size_t max, size_t plan, struct tbuf *tr)
{
	struct linebuf lb;
	size_t off, n;
	enum parse_rc rc = PARSE_MORE;

	linebuf_init(&lb, max);
	for (size_t idx = 0; t_chunk(plan, len, idx, &off, &n); idx++) {
		char *chunk = t_dup(wire + off, n);
		size_t pos = 0;

		/* a chunk may hold several lines: feed the rest after each one */
		do {
			size_t used = 0;

			rc = linebuf_feed(&lb, chunk + pos, n - pos, &used);
			if (used > n - pos) {
				tbuf_adds(tr, "<used past the input>");
				break;
			}
			pos += used;
			if (rc == PARSE_OK || rc == PARSE_TOO_LONG)
				trace_line(tr, parse_rc_name(rc), &lb);
			else if (rc != PARSE_MORE)
				tbuf_adds(tr, "<bad>");
		} while (pos < n && rc != PARSE_BAD);
		free(chunk);
	}
	if (!lb.done && (lb.len > 0 || lb.skipping))
		trace_line(tr, lb.skipping ? "skip" : "more", &lb);
	linebuf_release(&lb);
}

/* test_cases - every case whole, then under every cut plan */
static void
test_cases(void)
{
	for (size_t i = 0; i < nitems(cases); i++) {
		struct tbuf whole = { 0 };
		size_t bad = 0;

		run(cases[i].wire, cases[i].len, cases[i].max, 0, &whole);
		t_mem_eq(whole.p, whole.len, cases[i].trace, cases[i].tracelen, "%s", cases[i].label);
		for (size_t plan = 1; plan < T_NPLANS(cases[i].len); plan++) {
			struct tbuf split = { 0 };

			run(cases[i].wire, cases[i].len, cases[i].max, plan, &split);
			if (!t_same(split.p, split.len, whole.p, whole.len)) {
				if (bad++ == 0)
					t_mem_eq(split.p, split.len, whole.p, whole.len,
					    "%s: first differing plan %zu", cases[i].label, plan);
			}
			tbuf_free(&split);
		}
		t_int_eq((long long)bad, 0, "%s: every split agrees with the whole feed", cases[i].label);
		tbuf_free(&whole);
	}
}

/* test_reuse - storage survives clear, goes on shrink and release */
static void
test_reuse(void)
{
	struct linebuf lb;
	char big[600];
	size_t used;

	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	linebuf_init(&lb, 1024);
	t_true(lb.buf == NULL, "reuse: nothing allocated before the first byte");
	t_int_eq(linebuf_feed(&lb, big, sizeof(big), &used), PARSE_OK, "reuse: long line");
	t_int_eq((long long)used, sizeof(big), "reuse: long line consumed");
	t_true(lb.cap >= sizeof(big) && lb.cap <= 1024, "reuse: capacity within the bound");
	linebuf_shrink(&lb, 256);
	t_true(lb.buf != NULL, "reuse: shrink keeps a held line");
	linebuf_clear(&lb);
	t_int_eq((long long)lb.len, 0, "reuse: clear empties");
	linebuf_shrink(&lb, 256);
	t_true(lb.buf == NULL && lb.cap == 0, "reuse: shrink frees a big empty buffer");
	t_int_eq(linebuf_feed(&lb, "ab\n", 3, &used), PARSE_OK, "reuse: after shrink");
	t_mem_eq(lb.buf, lb.len, "ab\n", 3, "reuse: after shrink, content");
	/* the next feed forgets the held line by itself */
	t_int_eq(linebuf_feed(&lb, "c", 1, &used), PARSE_MORE, "reuse: feed after done");
	t_mem_eq(lb.buf, lb.len, "c", 1, "reuse: feed after done, content");
	linebuf_shrink(&lb, 256);
	t_true(lb.buf != NULL, "reuse: shrink keeps a partial line");
	linebuf_release(&lb);
	t_true(lb.buf == NULL && lb.len == 0 && !lb.done, "reuse: release");
	t_int_eq(linebuf_feed(&lb, "d\r\n", 3, &used), PARSE_OK, "reuse: after release");
	linebuf_release(&lb);
}

int
main(void)
{
	test_cases();
	test_reuse();
	return t_done();
}
