/* tests/unit/test_smtp_reply.c: SMTP reply parser (RFC 5321 4.2), fed whole and split */
#include <stdio.h>
#include <string.h>

#include "smtp_reply.h"
#include "t.h"

/*
 * A run is written down as a trace: "ok CODE/LINES[raw]" for each complete
 * reply (the parser is reset and fed the rest of the bytes), "bad" or
 * "too-long" for an error (after which the parser is not fed again), and
 * "more" if the input ended inside a reply.
 */
static const struct {
	const char *label;
	const char *wire;
	size_t len;
	size_t max;
	const char *trace;
	size_t tracelen;
} cases[] = {
	{ "single line", T_S("250 ok\r\n"), 512, T_S("ok 250/1[250 ok\r\n]") },
	{ "greeting", T_S("220 mx.example ESMTP\r\n"), 512, T_S("ok 220/1[220 mx.example ESMTP\r\n]") },
	{ "multi-line", T_S("250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n"), 512,
	    T_S("ok 250/3[250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n]") },
	{ "final text empty after space", T_S("250 \r\n"), 512, T_S("ok 250/1[250 \r\n]") },
	{ "final text empty, no space", T_S("250\r\n"), 512, T_S("ok 250/1[250\r\n]") },
	{ "continuation with empty text", T_S("250-\r\n250 ok\r\n"), 512,
	    T_S("ok 250/2[250-\r\n250 ok\r\n]") },
	{ "multi-line, empty final", T_S("250-a\r\n250 \r\n"), 512, T_S("ok 250/2[250-a\r\n250 \r\n]") },
	{ "multi-line, bare final", T_S("250-a\r\n250\r\n"), 512, T_S("ok 250/2[250-a\r\n250\r\n]") },
	{ "tabs and 8-bit text", T_S("554 5.7.1 \t\xc3\xa9t\xc3\xa9\r\n"), 512,
	    T_S("ok 554/1[554 5.7.1 \t\xc3\xa9t\xc3\xa9\r\n]") },
	{ "lowest code", T_S("200 x\r\n"), 512, T_S("ok 200/1[200 x\r\n]") },
	{ "highest code", T_S("559 x\r\n"), 512, T_S("ok 559/1[559 x\r\n]") },
	{ "code changes mid-reply", T_S("250-a\r\n251 b\r\n"), 512, T_S("bad") },
	{ "code changes on the last line", T_S("250-a\r\n250-b\r\n550 c\r\n"), 512, T_S("bad") },
	{ "class changes mid-reply", T_S("250-a\r\n450 b\r\n"), 512, T_S("bad") },
	{ "bare LF", T_S("250 ok\n"), 512, T_S("bad") },
	{ "bare LF in a continuation", T_S("250-a\n250 b\r\n"), 512, T_S("bad") },
	{ "bare LF alone", T_S("\n"), 512, T_S("bad") },
	{ "empty line", T_S("\r\n"), 512, T_S("bad") },
	{ "bare CR inside", T_S("250 a\rb\r\n"), 512, T_S("bad") },
	{ "CR CR LF", T_S("250 a\r\r\n"), 512, T_S("bad") },
	{ "NUL in text", T_S("250 o\0k\r\n"), 512, T_S("bad") },
	{ "NUL in code", T_S("2\00050 ok\r\n"), 512, T_S("bad") },
	{ "code 199", T_S("199 x\r\n"), 512, T_S("bad") },
	{ "code 600", T_S("600 x\r\n"), 512, T_S("bad") },
	{ "code 260", T_S("260 x\r\n"), 512, T_S("bad") },
	{ "code 2x0", T_S("2x0 x\r\n"), 512, T_S("bad") },
	{ "two-digit code", T_S("25\r\n"), 512, T_S("bad") },
	{ "four-digit code", T_S("2500 x\r\n"), 512, T_S("bad") },
	{ "bad separator", T_S("250_x\r\n"), 512, T_S("bad") },
	{ "leading space", T_S(" 250 x\r\n"), 512, T_S("bad") },
	{ "two replies in one read", T_S("220 hi\r\n250 ok\r\n"), 512,
	    T_S("ok 220/1[220 hi\r\n]ok 250/1[250 ok\r\n]") },
	{ "pipelined replies", T_S("250 2.1.0 ok\r\n250-a\r\n250 b\r\n354 go\r\n"), 512,
	    T_S("ok 250/1[250 2.1.0 ok\r\n]ok 250/2[250-a\r\n250 b\r\n]ok 354/1[354 go\r\n]") },
	{ "reply then a partial one", T_S("250 ok\r\n354 go"), 512, T_S("ok 250/1[250 ok\r\n]more") },
	{ "partial multi-line", T_S("250-a\r\n250-b\r\n"), 512, T_S("more") },
	{ "partial line", T_S("25"), 512, T_S("more") },
	{ "nothing", T_S(""), 512, T_S("") },
	{ "good reply, then garbage", T_S("250 ok\r\nxyz\r\n"), 512, T_S("ok 250/1[250 ok\r\n]bad") },
	{ "error stops the parser", T_S("250 ok\n250 ok\r\n"), 512, T_S("bad") },
};

/* run - feed one case under a cut plan; the trace goes to tr */
static void
run(const char *wire, size_t len, size_t max, size_t plan, struct tbuf *tr)
{
	struct reply_parser p;
	size_t off, n;
	bool stopped = false;

	reply_parser_init(&p, max);
	for (size_t idx = 0; !stopped && t_chunk(plan, len, idx, &off, &n); idx++) {
		char *chunk = t_dup(wire + off, n);
		size_t pos = 0;

		do {
			size_t used = 0;
			enum parse_rc rc = reply_parser_feed(&p, chunk + pos, n - pos, &used);
			char hdr[32];

			if (used > n - pos) {
				tbuf_adds(tr, "<used past the input>");
				stopped = true;
				break;
			}
			pos += used;
			if (rc == PARSE_OK) {
				if (!p.complete)
					tbuf_adds(tr, "<ok but not complete>");
				snprintf(hdr, sizeof(hdr), "ok %d/%u[", p.code, p.nlines);
				tbuf_adds(tr, hdr);
				tbuf_add(tr, p.raw, p.rawlen);
				tbuf_adds(tr, "]");
				reply_parser_reset(&p);
			} else if (rc == PARSE_MORE) {
				if (pos != n)
					tbuf_adds(tr, "<more but not all used>");
			} else {
				tbuf_adds(tr, parse_rc_name(rc));
				if (p.err == NULL)
					tbuf_adds(tr, "<no err text>");
				stopped = true;
			}
		} while (!stopped && pos < n);
		free(chunk);
	}
	if (!stopped && (p.nlines > 0 || p.line.len > 0))
		tbuf_adds(tr, "more");
	reply_parser_release(&p);
}

/* check_case - one case whole (against the trace) and under every cut plan */
static void
check_case(const char *label, const char *wire, size_t len, size_t max, const char *trace,
    size_t tracelen)
{
	struct tbuf whole = { 0 };
	size_t bad = 0;

	run(wire, len, max, 0, &whole);
	t_mem_eq(whole.p, whole.len, trace, tracelen, "%s", label);
	for (size_t plan = 1; plan < T_NPLANS(len); plan++) {
		struct tbuf split = { 0 };

		run(wire, len, max, plan, &split);
		if (!t_same(split.p, split.len, whole.p, whole.len) && bad++ == 0)
			t_mem_eq(split.p, split.len, whole.p, whole.len, "%s: first differing plan %zu",
			    label, plan);
		tbuf_free(&split);
	}
	t_int_eq((long long)bad, 0, "%s: every split agrees with the whole feed", label);
	tbuf_free(&whole);
}

/* build - "CODE" SEP + fill bytes of 'x' + CRLF appended to b */
static void
build(struct tbuf *b, const char *code_sep, size_t fill)
{
	tbuf_adds(b, code_sep);
	for (size_t i = 0; i < fill; i++)
		tbuf_add(b, "x", 1);
	tbuf_adds(b, "\r\n");
}

/* test_bounds - replies at and over the bounds (whole reply, one line) */
static void
test_bounds(void)
{
	struct tbuf w = { 0 }, tr = { 0 };

	/* max 64: two 32-byte lines fit exactly, a third line does not */
	build(&w, "250-", 26);
	build(&w, "250 ", 26);
	tbuf_adds(&tr, "ok 250/2[");
	tbuf_add(&tr, w.p, w.len);
	tbuf_adds(&tr, "]");
	check_case("reply of exactly max bytes", w.p, w.len, 64, tr.p, tr.len);
	tbuf_free(&w);
	tbuf_free(&tr);

	build(&w, "250-", 26);
	build(&w, "250-", 26);
	build(&w, "250 ", 3);
	check_case("reply longer than max", w.p, w.len, 64, T_S("too-long"));
	tbuf_free(&w);

	/* one line longer than the max bounds the line buffer too */
	build(&w, "250 ", 61);
	check_case("one line longer than max", w.p, w.len, 64, T_S("too-long"));
	tbuf_free(&w);

	/* lines are bounded at 1024 bytes whatever the reply bound */
	build(&w, "250 ", 1018);
	tbuf_adds(&tr, "ok 250/1[");
	tbuf_add(&tr, w.p, w.len);
	tbuf_adds(&tr, "]");
	check_case("line of 1024 bytes", w.p, w.len, 8192, tr.p, tr.len);
	tbuf_free(&w);
	tbuf_free(&tr);

	build(&w, "250 ", 1019);
	check_case("line of 1025 bytes", w.p, w.len, 8192, T_S("too-long"));
	tbuf_free(&w);
}

/* test_used - a complete reply stops the feed: *used ends at its last LF */
static void
test_used(void)
{
	static const char two[] = "220 hi\r\n250-a\r\n250 b\r\n";
	struct reply_parser p;
	size_t used = 0;

	reply_parser_init(&p, 512);
	t_int_eq(reply_parser_feed(&p, two, sizeof(two) - 1, &used), PARSE_OK, "used: first reply");
	t_int_eq((long long)used, 8, "used: length of the first reply");
	t_mem_eq(p.raw, p.rawlen, "220 hi\r\n", 8, "used: first raw");
	reply_parser_reset(&p);
	t_true(p.code == 0 && p.nlines == 0 && !p.complete, "used: reset clears the reply");
	t_int_eq(reply_parser_feed(&p, two + 8, sizeof(two) - 9, &used), PARSE_OK, "used: second reply");
	t_int_eq((long long)used, sizeof(two) - 9, "used: all of the second reply");
	t_int_eq(p.code, 250, "used: second code");
	reply_parser_reset(&p);

	t_int_eq(reply_parser_feed(&p, "250-a\r\n251 b\r\nxx", 16, &used), PARSE_BAD, "err: code change");
	t_true(p.err != NULL && *p.err != '\0', "err: reason given");
	reply_parser_release(&p);
	reply_parser_release(&p); /* twice is harmless */
}

static const struct {
	const char *label;
	const char *raw;
	const char *lines; /* "[text]" per line, "!" after the last */
} iter_cases[] = {
	{ "iter: single", "250 ok\r\n", "[ok]!" },
	{ "iter: multi", "250-mx\r\n250-SIZE 100\r\n250 HELP\r\n", "[mx][SIZE 100][HELP]!" },
	{ "iter: empty final text", "250-a\r\n250 \r\n", "[a][]!" },
	{ "iter: bare final code", "250-a\r\n250\r\n", "[a][]!" },
	{ "iter: empty continuation", "250-\r\n250-\r\n250 z\r\n", "[][][z]!" },
	{ "iter: only a code", "421\r\n", "[]!" },
	{ "iter: text keeps spaces", "550  two  spaces \r\n", "[ two  spaces ]!" },
	{ "iter: empty raw", "", "" },
};

/* test_next_line - walk the lines of a raw reply */
static void
test_next_line(void)
{
	for (size_t i = 0; i < nitems(iter_cases); i++) {
		struct tbuf out = { 0 };
		const char *raw = iter_cases[i].raw, *text;
		size_t pos = 0, textlen, rawlen = strlen(raw), guard = 0;
		bool last;

		while (guard++ < 100 && reply_next_line(raw, rawlen, &pos, &text, &textlen, &last)) {
			tbuf_adds(&out, "[");
			tbuf_add(&out, text, textlen);
			tbuf_adds(&out, last ? "]!" : "]");
		}
		t_str_eq(out.p ? out.p : "", iter_cases[i].lines, "%s", iter_cases[i].label);
		t_int_eq((long long)pos, (long long)rawlen, "%s: position at the end", iter_cases[i].label);
		tbuf_free(&out);
	}
}

/* test_code_valid - [2-5][0-5][0-9] */
static void
test_code_valid(void)
{
	static const struct {
		const char *code;
		bool valid;
	} codes[] = {
		{ "200", true }, { "220", true }, { "354", true }, { "421", true }, { "559", true },
		{ "199", false }, { "099", false }, { "600", false }, { "560", false },
		{ "2x0", false }, { "25x", false }, { "x50", false }, { "2 0", false },
	};

	for (size_t i = 0; i < nitems(codes); i++)
		t_int_eq(reply_code_valid(codes[i].code), codes[i].valid, "code_valid %s", codes[i].code);
}

int
main(void)
{
	for (size_t i = 0; i < nitems(cases); i++)
		check_case(cases[i].label, cases[i].wire, cases[i].len, cases[i].max, cases[i].trace,
		    cases[i].tracelen);
	test_bounds();
	test_used();
	test_next_line();
	test_code_valid();
	return t_done();
}
