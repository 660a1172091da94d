/* tests/unit/test_smtp_data.c: the DATA stream scanner, fed whole and split */
#include <stdio.h>
#include <string.h>

#include "smtp_data.h"
#include "util.h"
#include "t.h"

#define WIRE(s) .wire = s, .len = sizeof(s) - 1
#define OUT(s)  .out = s, .outlen = sizeof(s) - 1
#define ALL     ((size_t)-1)
#define ANY     (-1)

/*
 * R is reject mode, N normalise. out is what the sink must receive, byte
 * for byte; consumed is where data_scan() stopped (ALL: the whole input);
 * size (received bytes less stuffing dots and the terminator) and lines may
 * be ANY when the case is about something else. Only CRLF "." CRLF ends a
 * message (DESIGN: SMTP smuggling): a "." line after a bare LF or CR, or
 * ending in one, is content, and normalise mode hands it on as "..".
 */
enum { R = DATA_BARE_REJECT, N = DATA_BARE_NORMALISE };

struct data_case {
	const char *label;
	int mode;
	const char *wire;
	size_t len;
	enum data_rc rc;
	size_t consumed;
	const char *out;
	size_t outlen;
	unsigned flags;
	bool discard;
	long long size, lines;
	const char *msgid;
};

static const struct data_case cases[] = {
	/* framing */
	{ "simple message", R, WIRE("Subject: x\r\n\r\nhello\r\n.\r\n"), DATA_END, ALL,
	    OUT("Subject: x\r\n\r\nhello\r\n"), 0, false, 21, 3 },
	{ "bytes after the terminator are left", R, WIRE("a\r\n.\r\nQUIT\r\n"), DATA_END, 6,
	    OUT("a\r\n"), 0, false, 3, 1 },
	{ "empty message", R, WIRE(".\r\n"), DATA_END, ALL, OUT(""), 0, false, 0, 0 },
	{ "empty message, then a command", R, WIRE(".\r\nQUIT\r\n"), DATA_END, 3, OUT(""), 0, false, 0, 0 },
	{ "one empty line", R, WIRE("\r\n.\r\n"), DATA_END, ALL, OUT("\r\n"), 0, false, 2, 1 },
	{ "dot-stuffed line", R, WIRE("..foo\r\n.\r\n"), DATA_END, ALL, OUT("..foo\r\n"), 0, false, 6, 1 },
	{ "dot-stuffed lone dot", R, WIRE("a\r\n..\r\n.\r\n"), DATA_END, ALL, OUT("a\r\n..\r\n"), 0, false, 6, 2 },
	{ "line starting with a dot", R, WIRE(".foo\r\n.\r\n"), DATA_END, ALL, OUT(".foo\r\n"), 0, false, 5, 1 },
	{ "dot and a space", R, WIRE("a\r\n. \r\n.\r\n"), DATA_END, ALL, OUT("a\r\n. \r\n"), 0, false, 6, 2 },
	{ "dot inside a line", R, WIRE("a.\r\n.b\r\n.\r\n"), DATA_END, ALL, OUT("a.\r\n.b\r\n"), 0, false, 7, 2 },
	{ "no end yet", R, WIRE("abc"), DATA_MORE, ALL, OUT("abc"), 0, false, 3, 0 },
	{ "ends in CR", R, WIRE("abc\r"), DATA_MORE, ALL, OUT("abc"), 0, false, 4, 0 },
	{ "ends in CRLF dot", R, WIRE("abc\r\n."), DATA_MORE, ALL, OUT("abc\r\n"), 0, false, 5, 1 },
	{ "ends in CRLF dot CR", R, WIRE("abc\r\n.\r"), DATA_MORE, ALL, OUT("abc\r\n"), 0, false, 5, 1 },
	{ "nothing", R, WIRE(""), DATA_MORE, ALL, OUT(""), 0, false, 0, 0 },
	{ "NUL in the body", R, WIRE("a\r\n\r\nb\0c\r\n.\r\n"), DATA_END, ALL, OUT("a\r\n\r\nb\0c\r\n"),
	    DATA_F_NUL, false, 10, 3 },
	{ "NUL in a header", R, WIRE("X: a\0b\r\n\r\n.\r\n"), DATA_END, ALL, OUT("X: a\0b\r\n\r\n"),
	    DATA_F_NUL, false, 10, 2 },
	{ "8-bit body", R, WIRE("\r\n\xff\xfe\r\n.\r\n"), DATA_END, ALL, OUT("\r\n\xff\xfe\r\n"), 0, false, 6, 2 },

	/* bare LF / CR */
	{ "bare LF, reject", R, WIRE("a\nb\r\n.\r\n"), DATA_END, ALL, OUT("a"), DATA_F_BARE_LF, true, 5, 2 },
	{ "bare LF, normalise", N, WIRE("a\nb\r\n.\r\n"), DATA_END, ALL, OUT("a\r\nb\r\n"), DATA_F_BARE_LF,
	    false, 5, 2 },
	{ "bare LF after good lines, reject", R, WIRE("x\r\ny\r\nab\ncd\r\n.\r\n"), DATA_END, ALL,
	    OUT("x\r\ny\r\nab"), DATA_F_BARE_LF, true, 13, 4 },
	{ "LF dot CRLF at the start is no end, reject", R, WIRE("\n.\r\n"), DATA_MORE, ALL, OUT(""),
	    DATA_F_BARE_LF, true, 4, 2 },
	{ "CRLF dot LF is no end, reject", R, WIRE("a\r\n.\nMAIL FROM:<x>\r\n.\r\nQUIT\r\n"), DATA_END, 23,
	    OUT("a\r\n"), DATA_F_BARE_LF, true, 20, 3 },
	{ "CRLF dot LF is no end, normalise", N, WIRE("a\r\n.\nMAIL FROM:<x>\r\n.\r\nQUIT\r\n"), DATA_END,
	    23, OUT("a\r\n..\r\nMAIL FROM:<x>\r\n"), DATA_F_BARE_LF, false, 20, 3 },
	{ "LF dot CRLF is no end, reject", R, WIRE("a\n.\r\nX\r\n.\r\n"), DATA_END, ALL, OUT("a"),
	    DATA_F_BARE_LF, true, 8, 3 },
	{ "LF dot CRLF is no end, normalise", N, WIRE("a\n.\r\nX\r\n.\r\n"), DATA_END, ALL,
	    OUT("a\r\n..\r\nX\r\n"), DATA_F_BARE_LF, false, 8, 3 },
	{ "LF dot LF is no end, normalise", N, WIRE("a\n.\nX\r\n.\r\n"), DATA_END, ALL,
	    OUT("a\r\n..\r\nX\r\n"), DATA_F_BARE_LF, false, 7, 3 },
	{ "nothing emitted after a bare LF", R, WIRE("a\nbbbbbbbb\r\ncccc\r\n..x\r\n.\r\n"), DATA_END, ALL,
	    OUT("a"), DATA_F_BARE_LF, true, 22, 4 },
	{ "bare CR, reject", R, WIRE("a\rb\r\n.\r\n"), DATA_END, ALL, OUT("a"), DATA_F_BARE_CR, true, 5, 2 },
	{ "bare CR, normalise", N, WIRE("a\rb\r\n.\r\n"), DATA_END, ALL, OUT("a\r\nb\r\n"), DATA_F_BARE_CR,
	    false, 5, 2 },
	{ "CR CR LF, reject", R, WIRE("a\r\r\n.\r\n"), DATA_END, ALL, OUT("a"), DATA_F_BARE_CR, true, 4, 2 },
	{ "CR CR LF, normalise", N, WIRE("a\r\r\n.\r\n"), DATA_END, ALL, OUT("a\r\n\r\n"), DATA_F_BARE_CR,
	    false, 4, 2 },
	{ "CRLF dot CR X is no end, reject", R, WIRE("a\r\n.\rX\r\n.\r\n"), DATA_END, ALL, OUT("a\r\n"),
	    DATA_F_BARE_CR, true, 8, 3 },
	{ "CRLF dot CR X is no end, normalise", N, WIRE("a\r\n.\rX\r\n.\r\n"), DATA_END, ALL,
	    OUT("a\r\n..\r\nX\r\n"), DATA_F_BARE_CR, false, 8, 3 },
	{ "CRLF dot CR CR LF, normalise", N, WIRE("a\r\n.\r\r\n.\r\n"), DATA_END, ALL,
	    OUT("a\r\n..\r\n\r\n"), DATA_F_BARE_CR, false, 7, 3 },
	{ "CR dot CRLF is no end, reject", R, WIRE("a\r.\r\nX\r\n.\r\n"), DATA_END, ALL, OUT("a"),
	    DATA_F_BARE_CR, true, 8, 3 },
	{ "CR dot CRLF is no end, normalise", N, WIRE("a\r.\r\nX\r\n.\r\n"), DATA_END, ALL,
	    OUT("a\r\n..\r\nX\r\n"), DATA_F_BARE_CR, false, 8, 3 },
	{ "bare LF and CR both", N, WIRE("a\nb\rc\r\n.\r\n"), DATA_END, ALL, OUT("a\r\nb\r\nc\r\n"),
	    DATA_F_BARE_LF | DATA_F_BARE_CR, false, 7, 3 },

	/* Message-ID */
	{ "Message-ID", R, WIRE("Message-ID: <abc@x>\r\n\r\nbody\r\n.\r\n"), DATA_END, ALL,
	    OUT("Message-ID: <abc@x>\r\n\r\nbody\r\n"), 0, false, 29, 3, "<abc@x>" },
	{ "message-id lower case, no space", R, WIRE("message-id:<abc@x>\r\n\r\n.\r\n"), DATA_END, ALL,
	    OUT("message-id:<abc@x>\r\n\r\n"), 0, false, ANY, ANY, "<abc@x>" },
	{ "Message-ID value trimmed", R, WIRE("MESSAGE-ID:   <abc@x> \t \r\n\r\n.\r\n"), DATA_END, ALL,
	    OUT("MESSAGE-ID:   <abc@x> \t \r\n\r\n"), 0, false, ANY, ANY, "<abc@x>" },
	{ "Message-ID folded", R, WIRE("Message-ID:\r\n <abc@x>\r\n\r\n.\r\n"), DATA_END, ALL,
	    OUT("Message-ID:\r\n <abc@x>\r\n\r\n"), 0, false, ANY, ANY, "<abc@x>" },
	{ "Message-Id folded with a tab", R, WIRE("Message-Id:\r\n\t<abc@x>\r\nSubject: s\r\n\r\n.\r\n"),
	    DATA_END, ALL, OUT("Message-Id:\r\n\t<abc@x>\r\nSubject: s\r\n\r\n"), 0, false, ANY, ANY,
	    "<abc@x>" },
	{ "Message-ID after other headers", R,
	    WIRE("From: a\r\nTo: b\r\nMessage-ID: <m@x>\r\nSubject: c\r\n\r\nd\r\n.\r\n"), DATA_END, ALL,
	    OUT("From: a\r\nTo: b\r\nMessage-ID: <m@x>\r\nSubject: c\r\n\r\nd\r\n"), 0, false, ANY, ANY,
	    "<m@x>" },
	{ "only the first Message-ID", R, WIRE("Message-ID: <1@x>\r\nMessage-ID: <2@x>\r\n\r\n.\r\n"),
	    DATA_END, ALL, OUT("Message-ID: <1@x>\r\nMessage-ID: <2@x>\r\n\r\n"), 0, false, ANY, ANY,
	    "<1@x>" },
	{ "an empty first Message-ID counts", R, WIRE("Message-ID:\r\nMessage-ID: <2@x>\r\n\r\n.\r\n"),
	    DATA_END, ALL, OUT("Message-ID:\r\nMessage-ID: <2@x>\r\n\r\n"), 0, false, ANY, ANY, "" },
	{ "Message-ID in the body", R, WIRE("Subject: a\r\n\r\nMessage-ID: <b@x>\r\n.\r\n"), DATA_END, ALL,
	    OUT("Subject: a\r\n\r\nMessage-ID: <b@x>\r\n"), 0, false, ANY, ANY, "" },
	{ "no header section", R, WIRE("\r\nMessage-ID: <b@x>\r\n.\r\n"), DATA_END, ALL,
	    OUT("\r\nMessage-ID: <b@x>\r\n"), 0, false, ANY, ANY, "" },
	{ "similar header names", R, WIRE("X-Message-ID: <x>\r\nMessage-IDs: <y>\r\n\r\n.\r\n"), DATA_END,
	    ALL, OUT("X-Message-ID: <x>\r\nMessage-IDs: <y>\r\n\r\n"), 0, false, ANY, ANY, "" },
	{ "Message-ID as the last line", R, WIRE("Message-ID: <a@b> \r\n.\r\n"), DATA_END, ALL,
	    OUT("Message-ID: <a@b> \r\n"), 0, false, ANY, ANY, "<a@b>" },
	{ "header name split by a fold", R, WIRE("Mess\r\n age-ID: <x@y>\r\n\r\n.\r\n"), DATA_END, ALL,
	    OUT("Mess\r\n age-ID: <x@y>\r\n\r\n"), 0, false, ANY, ANY, "" },
	{ "leading white space on the first line", R, WIRE(" Message-ID: <x@y>\r\n\r\n.\r\n"), DATA_END,
	    ALL, OUT(" Message-ID: <x@y>\r\n\r\n"), 0, false, ANY, ANY, "" },
	{ "Message-ID with bare LFs, normalise", N, WIRE("Subject: s\nMessage-ID: <n@x>\n\nbody\r\n.\r\n"),
	    DATA_END, ALL, OUT("Subject: s\r\nMessage-ID: <n@x>\r\n\r\nbody\r\n"), DATA_F_BARE_LF, false,
	    ANY, ANY, "<n@x>" },
	{ "Message-ID, dot-stuffed header line", R, WIRE("..x: y\r\nMessage-ID: <d@x>\r\n\r\n.\r\n"),
	    DATA_END, ALL, OUT("..x: y\r\nMessage-ID: <d@x>\r\n\r\n"), 0, false, ANY, ANY, "<d@x>" },
};

struct result {
	struct tbuf out;
	enum data_rc rc;
	size_t consumed;
	struct data_scanner d;
};

/* sink_out - collect what the scanner hands on */
static void
sink_out(void *arg, const char *p, size_t n)
{
	tbuf_add(arg, p, n);
}

/* run - scan one case under a cut plan; stops at DATA_END */
static void
run(const struct data_case *k, size_t plan, struct result *r)
{
	struct data_sink sink = { sink_out, &r->out };
	size_t off, n;

	memset(r, 0, sizeof(*r));
	data_scanner_init(&r->d, (enum data_bare)k->mode);
	r->rc = DATA_MORE;
	for (size_t idx = 0; r->rc == DATA_MORE && t_chunk(plan, k->len, idx, &off, &n); idx++) {
		char *chunk = t_dup(k->wire + off, n);
		size_t used = data_scan(&r->d, chunk, n, &sink, &r->rc);

		r->consumed += used;
		if (used > n || (r->rc == DATA_MORE && used != n))
			r->consumed = (size_t)-2; /* never a legal value */
		free(chunk);
	}
}

/* describe - the whole observable result as one string, for split comparisons */
static void
describe(const struct result *r, struct tbuf *b)
{
	char s[160];

	snprintf(s, sizeof(s), "rc=%d consumed=%zu flags=%#x discard=%d size=%llu lines=%llu msgid=", r->rc,
	    r->consumed, r->d.flags, r->d.discard, (unsigned long long)r->d.size,
	    (unsigned long long)r->d.lines);
	tbuf_adds(b, s);
	tbuf_add(b, r->d.msgid, r->d.msgidlen);
	tbuf_adds(b, " out=");
	tbuf_add(b, r->out.p, r->out.len);
}

/* check - one case whole against its expectations, then every cut plan */
static void
check(const struct data_case *k)
{
	struct result whole;
	struct tbuf wd = { 0 };
	size_t bad = 0;
	const char *l = k->label;

	run(k, 0, &whole);
	t_int_eq(whole.rc, k->rc, "%s: rc", l);
	t_int_eq((long long)whole.consumed, (long long)(k->consumed == ALL ? k->len : k->consumed),
	    "%s: consumed", l);
	t_mem_eq(whole.out.p, whole.out.len, k->out, k->outlen, "%s: output", l);
	t_int_eq(whole.d.flags, k->flags, "%s: flags", l);
	t_int_eq(whole.d.discard, k->discard, "%s: discard", l);
	if (k->size != ANY)
		t_int_eq((long long)whole.d.size, k->size, "%s: size", l);
	if (k->lines != ANY)
		t_int_eq((long long)whole.d.lines, k->lines, "%s: lines", l);
	t_str_eq(whole.d.msgid, k->msgid ? k->msgid : "", "%s: Message-ID", l);
	t_int_eq((long long)strlen(whole.d.msgid), (long long)whole.d.msgidlen, "%s: msgidlen", l);

	describe(&whole, &wd);
	for (size_t plan = 1; plan < T_NPLANS(k->len); plan++) {
		struct result split;
		struct tbuf sd = { 0 };

		run(k, plan, &split);
		describe(&split, &sd);
		if (!t_same(sd.p, sd.len, wd.p, wd.len) && bad++ == 0)
			t_mem_eq(sd.p, sd.len, wd.p, wd.len, "%s: first differing plan %zu", l, plan);
		tbuf_free(&sd);
		tbuf_free(&split.out);
	}
	t_int_eq((long long)bad, 0, "%s: every split agrees with the whole feed", l);
	tbuf_free(&wd);
	tbuf_free(&whole.out);
}

/* test_msgid_bound - a long Message-ID is cut at DATA_MSGID_MAX */
static void
test_msgid_bound(void)
{
	struct tbuf w = { 0 }, out = { 0 }, want = { 0 };
	struct data_case k = { .label = "long Message-ID", .mode = R, .rc = DATA_END, .consumed = ALL,
		.size = ANY, .lines = ANY };

	tbuf_adds(&w, "Message-ID: <");
	tbuf_adds(&want, "<");
	for (int i = 0; i < 400; i++) {
		tbuf_adds(&w, "x");
		if (want.len < DATA_MSGID_MAX)
			tbuf_adds(&want, "x");
	}
	tbuf_adds(&w, ">\r\n\r\n");
	tbuf_add(&out, w.p, w.len);
	tbuf_adds(&w, ".\r\n");
	k.wire = w.p;
	k.len = w.len;
	k.out = out.p;
	k.outlen = out.len;
	k.msgid = want.p;
	check(&k);
	tbuf_free(&w);
	tbuf_free(&out);
	tbuf_free(&want);
}

/* test_caller_discard - a discarding caller still gets the end and the facts */
static void
test_caller_discard(void)
{
	static const char msg[] = "Message-ID: <q@x>\r\n\r\nbody\r\n.\r\nQUIT\r\n";
	struct tbuf out = { 0 };
	struct data_sink sink = { sink_out, &out };
	struct data_scanner d;
	enum data_rc rc;
	size_t used;

	data_scanner_init(&d, DATA_BARE_REJECT);
	d.discard = true;
	used = data_scan(&d, msg, sizeof(msg) - 1, &sink, &rc);
	t_int_eq(rc, DATA_END, "caller discard: end found");
	t_int_eq((long long)used, sizeof(msg) - 1 - 6, "caller discard: stops after the terminator");
	t_int_eq((long long)out.len, 0, "caller discard: nothing emitted");
	t_str_eq(d.msgid, "<q@x>", "caller discard: Message-ID still read");
	t_int_eq((long long)d.size, 27, "caller discard: size still counted");

	/* the next message on the same connection starts from a fresh scanner */
	data_scanner_init(&d, DATA_BARE_REJECT);
	used = data_scan(&d, "..\r\n.\r\n", 7, &sink, &rc);
	t_int_eq(rc, DATA_END, "second message: end");
	t_mem_eq(out.p, out.len, "..\r\n", 4, "second message: output");
	t_str_eq(d.msgid, "", "second message: no Message-ID");
	tbuf_free(&out);
}

int
main(void)
{
	for (size_t i = 0; i < nitems(cases); i++)
		check(&cases[i]);
	test_msgid_bound();
	test_caller_discard();
	return t_done();
}
