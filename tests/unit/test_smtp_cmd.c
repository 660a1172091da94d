/* tests/unit/test_smtp_cmd.c: SMTP command line parser (RFC 5321 4.1) */
#include <stdio.h>
#include <string.h>

#include "linebuf.h"
#include "smtp_cmd.h"
#include "t.h"

#define LINE(s) .line = s, .len = sizeof(s) - 1

struct cmd_case {
	const char *label;
	const char *line;
	size_t len;
	enum parse_rc rc;
	enum cmd_verb verb;   /* checked when OK, or when not CMD_UNKNOWN */
	int errcode;          /* 0 when OK */
	const char *arg;      /* NULL: not checked */
	const char *path;     /* NULL: not checked */
	const char *params;   /* NULL: not checked */
	bool has_size;
	uint64_t size;
	enum cmd_body body;
	bool smtputf8;
};

static const struct cmd_case cases[] = {
	/* verbs */
	{ "HELO", LINE("HELO mx.example\r\n"), PARSE_OK, CMD_HELO, .arg = "mx.example" },
	{ "helo lower case", LINE("helo mx\r\n"), PARSE_OK, CMD_HELO, .arg = "mx" },
	{ "EhLo mixed case", LINE("EhLo mx\r\n"), PARSE_OK, CMD_EHLO, .arg = "mx" },
	{ "EHLO address literal", LINE("EHLO [192.0.2.1]\r\n"), PARSE_OK, CMD_EHLO, .arg = "[192.0.2.1]" },
	{ "EHLO trailing blanks", LINE("EHLO mx \t \r\n"), PARSE_OK, CMD_EHLO, .arg = "mx" },
	{ "HELO without argument", LINE("HELO\r\n"), PARSE_BAD, CMD_HELO, 501 },
	{ "EHLO without argument", LINE("EHLO\r\n"), PARSE_BAD, CMD_EHLO, 501 },
	{ "EHLO with only a blank", LINE("EHLO \r\n"), PARSE_BAD, CMD_EHLO, 501 },
	{ "EHLO two names", LINE("EHLO a b\r\n"), PARSE_BAD, CMD_EHLO, 501 },
	{ "DATA", LINE("DATA\r\n"), PARSE_OK, CMD_DATA, .arg = "" },
	{ "data lower case", LINE("data\r\n"), PARSE_OK, CMD_DATA },
	{ "DATA trailing blank", LINE("DATA \r\n"), PARSE_OK, CMD_DATA },
	{ "DATA with argument", LINE("DATA x\r\n"), PARSE_BAD, CMD_DATA, 501 },
	{ "RSET", LINE("RSET\r\n"), PARSE_OK, CMD_RSET },
	{ "RSET with argument", LINE("RSET now\r\n"), PARSE_BAD, CMD_RSET, 501 },
	{ "QUIT", LINE("QUIT\r\n"), PARSE_OK, CMD_QUIT },
	{ "QUIT with argument", LINE("QUIT x\r\n"), PARSE_BAD, CMD_QUIT, 501 },
	{ "STARTTLS", LINE("STARTTLS\r\n"), PARSE_OK, CMD_STARTTLS },
	{ "STARTTLS with argument", LINE("STARTTLS x\r\n"), PARSE_BAD, CMD_STARTTLS, 501 },
	{ "NOOP with argument", LINE("NOOP anything at all\r\n"), PARSE_OK, CMD_NOOP, .arg = "anything at all" },
	{ "NOOP tab inside", LINE("NOOP a\tb\r\n"), PARSE_OK, CMD_NOOP, .arg = "a\tb" },
	{ "VRFY", LINE("VRFY user\r\n"), PARSE_OK, CMD_VRFY, .arg = "user" },
	{ "VRFY without argument", LINE("VRFY\r\n"), PARSE_BAD, CMD_VRFY, 501 },
	{ "EXPN without argument", LINE("EXPN\r\n"), PARSE_BAD, CMD_EXPN, 501 },
	{ "HELP", LINE("HELP\r\n"), PARSE_OK, CMD_HELP },
	{ "AUTH", LINE("AUTH PLAIN AGEAYg==\r\n"), PARSE_OK, CMD_AUTH, .arg = "PLAIN AGEAYg==" },
	{ "BDAT", LINE("BDAT 100 LAST\r\n"), PARSE_OK, CMD_BDAT, .arg = "100 LAST" },
	{ "ETRN", LINE("ETRN example.org\r\n"), PARSE_OK, CMD_ETRN },
	{ "XCLIENT", LINE("XCLIENT ADDR=192.0.2.1\r\n"), PARSE_OK, CMD_XCLIENT },
	{ "XFORWARD", LINE("XFORWARD NAME=x\r\n"), PARSE_OK, CMD_XFORWARD },
	{ "unknown verb", LINE("XYZZY\r\n"), PARSE_OK, CMD_UNKNOWN, .arg = "" },
	{ "unknown verb, argument", LINE("XYZZY plugh\r\n"), PARSE_OK, CMD_UNKNOWN, .arg = "plugh" },
	{ "prefix of a verb", LINE("HEL mx\r\n"), PARSE_OK, CMD_UNKNOWN },
	{ "verb with a suffix", LINE("HELOX mx\r\n"), PARSE_OK, CMD_UNKNOWN },
	{ "HTTP GET", LINE("GET / HTTP/1.1\r\n"), PARSE_OK, CMD_NONSMTP },
	{ "HTTP CONNECT", LINE("CONNECT mx.example:25 HTTP/1.0\r\n"), PARSE_OK, CMD_NONSMTP },
	{ "HTTP POST", LINE("POST /x HTTP/1.0\r\n"), PARSE_OK, CMD_NONSMTP },
	{ "get lower case", LINE("get /\r\n"), PARSE_OK, CMD_NONSMTP },
	{ "POP3 USER", LINE("USER bob\r\n"), PARSE_OK, CMD_NONSMTP },

	/* MAIL / RCPT */
	{ "MAIL with SIZE and BODY", LINE("MAIL FROM:<a@b> SIZE=123 BODY=8BITMIME\r\n"), PARSE_OK, CMD_MAIL,
	    .path = "a@b", .params = " SIZE=123 BODY=8BITMIME", .has_size = true, .size = 123,
	    .body = BODY_8BITMIME },
	{ "mail from lower case", LINE("mail from:<a@b>\r\n"), PARSE_OK, CMD_MAIL, .path = "a@b", .params = "" },
	{ "null reverse path", LINE("MAIL FROM:<>\r\n"), PARSE_OK, CMD_MAIL, .path = "", .params = "" },
	{ "null reverse path, SIZE", LINE("MAIL FROM:<> SIZE=0\r\n"), PARSE_OK, CMD_MAIL, .path = "",
	    .has_size = true, .size = 0 },
	{ "space after FROM: tolerated", LINE("MAIL FROM: <a@b>\r\n"), PARSE_OK, CMD_MAIL, .path = "a@b" },
	{ "address without brackets", LINE("MAIL FROM:a@b SIZE=5\r\n"), PARSE_OK, CMD_MAIL, .path = "a@b",
	    .has_size = true, .size = 5 },
	{ "two spaces before params", LINE("MAIL FROM:<a@b>  SIZE=7\r\n"), PARSE_OK, CMD_MAIL, .path = "a@b",
	    .has_size = true, .size = 7 },
	{ "BODY=7BIT", LINE("MAIL FROM:<a@b> BODY=7BIT\r\n"), PARSE_OK, CMD_MAIL, .body = BODY_7BIT },
	{ "body=binarymime", LINE("MAIL FROM:<a@b> body=binarymime\r\n"), PARSE_OK, CMD_MAIL,
	    .body = BODY_BINARYMIME },
	{ "SMTPUTF8", LINE("MAIL FROM:<\xc3\xa9@b> SMTPUTF8\r\n"), PARSE_OK, CMD_MAIL,
	    .path = "\xc3\xa9@b", .smtputf8 = true },
	{ "unknown parameter passes", LINE("MAIL FROM:<a@b> X-FOO=bar ENVID=1\r\n"), PARSE_OK, CMD_MAIL,
	    .params = " X-FOO=bar ENVID=1" },
	{ "source route", LINE("MAIL FROM:<@a,@b:c@d>\r\n"), PARSE_OK, CMD_MAIL, .path = "@a,@b:c@d" },
	{ "quoted local part with space", LINE("MAIL FROM:<\"a b\"@c>\r\n"), PARSE_OK, CMD_MAIL,
	    .path = "\"a b\"@c" },
	{ "quoted local part with '>'", LINE("MAIL FROM:<\"a>b\"@c>\r\n"), PARSE_OK, CMD_MAIL,
	    .path = "\"a>b\"@c" },
	{ "quoted-pair \\\" inside quotes", LINE("MAIL FROM:<\"a\\\"> b\"@c>\r\n"), PARSE_OK, CMD_MAIL,
	    .path = "\"a\\\"> b\"@c" },
	{ "quoted-pair \\\\ before closing quote", LINE("MAIL FROM:<\"a\\\\\"@c> SIZE=1\r\n"), PARSE_OK,
	    CMD_MAIL, .path = "\"a\\\\\"@c", .has_size = true, .size = 1 },
	{ "RCPT postmaster", LINE("RCPT TO:<postmaster>\r\n"), PARSE_OK, CMD_RCPT, .path = "postmaster" },
	{ "rcpt lower case", LINE("rcpt to:<u@d>\r\n"), PARSE_OK, CMD_RCPT, .path = "u@d" },
	{ "RCPT with NOTIFY", LINE("RCPT TO:<u@d> NOTIFY=NEVER\r\n"), PARSE_OK, CMD_RCPT, .path = "u@d",
	    .params = " NOTIFY=NEVER" },
	{ "missing '>'", LINE("MAIL FROM:<a@b\r\n"), PARSE_BAD, CMD_MAIL, 501 },
	{ "unterminated quote", LINE("MAIL FROM:<\"a@b>\r\n"), PARSE_BAD, CMD_MAIL, 501 },
	{ "text glued after '>'", LINE("MAIL FROM:<a@b>SIZE=1\r\n"), PARSE_BAD, CMD_MAIL, 501 },
	{ "space inside path", LINE("MAIL FROM:<a b@c>\r\n"), PARSE_BAD, CMD_MAIL, 501 },
	{ "space after a quoted part", LINE("MAIL FROM:<\"a\" b@c>\r\n"), PARSE_BAD, CMD_MAIL, 501 },
	{ "nested '<'", LINE("MAIL FROM:<<a@b>>\r\n"), PARSE_BAD, CMD_MAIL, 501 },
	{ "MAIL without FROM:", LINE("MAIL <a@b>\r\n"), PARSE_BAD, CMD_MAIL, 501 },
	{ "MAIL TO:", LINE("MAIL TO:<a@b>\r\n"), PARSE_BAD, CMD_MAIL, 501 },
	{ "MAIL alone", LINE("MAIL\r\n"), PARSE_BAD, CMD_MAIL, 501 },
	{ "MAIL FROM: and nothing", LINE("MAIL FROM:\r\n"), PARSE_BAD, CMD_MAIL, 501 },
	{ "RCPT FROM:", LINE("RCPT FROM:<a@b>\r\n"), PARSE_BAD, CMD_RCPT, 501 },
	{ "RCPT null path", LINE("RCPT TO:<>\r\n"), PARSE_BAD, CMD_RCPT, 501 },
	{ "SIZE=abc", LINE("MAIL FROM:<a@b> SIZE=abc\r\n"), PARSE_BAD, CMD_MAIL, 501 },
	{ "SIZE= empty", LINE("MAIL FROM:<a@b> SIZE=\r\n"), PARSE_BAD, CMD_MAIL, 501 },
	{ "SIZE without value", LINE("MAIL FROM:<a@b> SIZE\r\n"), PARSE_BAD, CMD_MAIL, 501 },
	{ "SIZE negative", LINE("MAIL FROM:<a@b> SIZE=-1\r\n"), PARSE_BAD, CMD_MAIL, 501 },
	{ "SIZE 19 digits", LINE("MAIL FROM:<a@b> SIZE=9999999999999999999\r\n"), PARSE_OK, CMD_MAIL,
	    .has_size = true, .size = 9999999999999999999ULL },
	{ "SIZE 20 digits", LINE("MAIL FROM:<a@b> SIZE=10000000000000000000\r\n"), PARSE_BAD, CMD_MAIL, 501 },
	{ "BODY unknown", LINE("MAIL FROM:<a@b> BODY=9BIT\r\n"), PARSE_BAD, CMD_MAIL, 501 },
	{ "BODY without value", LINE("MAIL FROM:<a@b> BODY\r\n"), PARSE_BAD, CMD_MAIL, 501 },
	{ "parameter without keyword", LINE("MAIL FROM:<a@b> =x\r\n"), PARSE_BAD, CMD_MAIL, 555 },
	{ "bad keyword character", LINE("MAIL FROM:<a@b> SI_ZE=1\r\n"), PARSE_BAD, CMD_MAIL, 555 },

	/* line framing and forbidden bytes */
	{ "bare LF", LINE("HELO mx\n"), PARSE_BAD, CMD_UNKNOWN, 500 },
	{ "bare LF alone", LINE("\n"), PARSE_BAD, CMD_UNKNOWN, 500 },
	{ "bare LF after MAIL", LINE("MAIL FROM:<a@b>\n"), PARSE_BAD, CMD_UNKNOWN, 500 },
	{ "no terminator at all", LINE("QUIT"), PARSE_BAD, CMD_UNKNOWN, 500 },
	{ "CR without LF", LINE("QUIT\r"), PARSE_BAD, CMD_UNKNOWN, 500 },
	{ "empty line", LINE("\r\n"), PARSE_BAD, CMD_UNKNOWN, 500 },
	{ "leading space", LINE(" HELO mx\r\n"), PARSE_BAD, CMD_UNKNOWN, 500 },
	{ "NUL in argument", LINE("HELO a\0b\r\n"), PARSE_BAD, CMD_UNKNOWN, 500 },
	{ "NUL in verb", LINE("HE\0LO a\r\n"), PARSE_BAD, CMD_UNKNOWN, 500 },
	{ "bare CR inside", LINE("HELO a\rb\r\n"), PARSE_BAD, CMD_UNKNOWN, 500 },
	{ "CR CR LF", LINE("QUIT\r\r\n"), PARSE_BAD, CMD_UNKNOWN, 500 },
	{ "LF inside", LINE("HELO a\nb\r\n"), PARSE_BAD, CMD_UNKNOWN, 500 },
	{ "control character", LINE("HELO a\x01" "b\r\n"), PARSE_BAD, CMD_UNKNOWN, 500 },
	{ "DEL", LINE("HELO a\x7f\r\n"), PARSE_BAD, CMD_UNKNOWN, 500 },
	{ "ESC", LINE("NOOP \x1b[2J\r\n"), PARSE_BAD, CMD_UNKNOWN, 500 },
};

/* within - p..p+n lies inside the line */
static bool
within(const char *p, size_t n, const char *line, size_t len)
{
	return p != NULL && p >= line && p + n <= line + len;
}

/* check - parse one line (in an exact-size heap copy) and compare */
static void
check(const struct cmd_case *k)
{
	char *line = t_dup(k->line, k->len);
	struct smtp_cmd c;
	enum parse_rc rc = cmd_parse(line, k->len, &c);
	const char *l = k->label;

	t_int_eq(rc, k->rc, "%s: rc", l);
	if (k->rc == PARSE_OK || k->verb != CMD_UNKNOWN)
		t_str_eq(cmd_verb_name(c.verb), cmd_verb_name(k->verb), "%s: verb", l);
	if (rc == PARSE_BAD) {
		t_int_eq(c.errcode, k->errcode, "%s: reply code", l);
		t_true(c.enh != NULL && strlen(c.enh) == 5 && c.enh[0] == '5' && c.err != NULL,
		    "%s: enhanced code and text", l);
	} else if (rc == PARSE_OK) {
		t_int_eq(c.errcode, 0, "%s: no error code", l);
		t_true(within(c.verbtxt, c.verblen, line, k->len) &&
			within(c.arg, c.arglen, line, k->len),
		    "%s: verb and argument borrow from the line", l);
		if (k->arg != NULL)
			t_mem_eq(c.arg, c.arglen, k->arg, strlen(k->arg), "%s: argument", l);
		if (k->verb == CMD_MAIL || k->verb == CMD_RCPT)
			t_true(within(c.path, c.pathlen, line, k->len) &&
				within(c.params, c.paramslen, line, k->len),
			    "%s: path and parameters borrow from the line", l);
		if (k->path != NULL)
			t_mem_eq(c.path, c.pathlen, k->path, strlen(k->path), "%s: path", l);
		if (k->params != NULL)
			t_mem_eq(c.params, c.paramslen, k->params, strlen(k->params), "%s: params", l);
		t_int_eq(c.has_size, k->has_size, "%s: has SIZE", l);
		if (k->has_size)
			t_true(c.size == k->size, "%s: SIZE value %llu", l, (unsigned long long)c.size);
		t_int_eq(c.body, k->body, "%s: BODY", l);
		t_int_eq(c.smtputf8, k->smtputf8, "%s: SMTPUTF8", l);
	}
	free(line);
}

/* check_built - a generated line: verb, rc and reply code */
static void
check_built(const char *label, struct tbuf *b, enum cmd_verb verb, enum parse_rc want, int errcode)
{
	struct cmd_case k = { .label = label, .line = b->p, .len = b->len, .rc = want, .verb = verb,
		.errcode = errcode };

	check(&k);
	tbuf_free(b);
}

/* test_bounds - path length and parameter count at and over their limits */
static void
test_bounds(void)
{
	struct tbuf b = { 0 };
	static const struct {
		const char *label;
		size_t local; /* local-part length; "@d" follows */
		int errcode;
	} paths[] = {
		{ "path of 254 bytes (256 with brackets)", 252, 0 },
		{ "path of 255 bytes (257 with brackets)", 253, 501 },
		{ "path of 257 bytes", 255, 501 },
		{ "path of 1000 bytes", 998, 501 },
	};

	for (size_t i = 0; i < nitems(paths); i++) {
		tbuf_adds(&b, "RCPT TO:<");
		for (size_t j = 0; j < paths[i].local; j++)
			tbuf_adds(&b, "x");
		tbuf_adds(&b, "@d>\r\n");
		check_built(paths[i].label, &b, CMD_RCPT, paths[i].errcode ? PARSE_BAD : PARSE_OK, paths[i].errcode);
		tbuf_adds(&b, "MAIL FROM:");
		for (size_t j = 0; j < paths[i].local; j++)
			tbuf_adds(&b, "x");
		tbuf_adds(&b, "@d\r\n");
		check_built(paths[i].label, &b, CMD_MAIL, paths[i].errcode ? PARSE_BAD : PARSE_OK, paths[i].errcode);
	}

	tbuf_adds(&b, "MAIL FROM:<a@b>");
	for (int j = 0; j < CMD_PARAM_MAX; j++)
		tbuf_adds(&b, " X-P=1");
	tbuf_adds(&b, "\r\n");
	check_built("16 parameters", &b, CMD_MAIL, PARSE_OK, 0);

	tbuf_adds(&b, "MAIL FROM:<a@b>");
	for (int j = 0; j < CMD_PARAM_MAX + 1; j++)
		tbuf_adds(&b, " X-P=1");
	tbuf_adds(&b, "\r\n");
	check_built("17 parameters", &b, CMD_MAIL, PARSE_BAD, 555);
}

/* test_names - every verb has a distinct name */
static void
test_names(void)
{
	t_str_eq(cmd_verb_name(CMD_EHLO), "EHLO", "name EHLO");
	t_str_eq(cmd_verb_name(CMD_STARTTLS), "STARTTLS", "name STARTTLS");
	t_str_eq(cmd_verb_name(CMD_NONSMTP), "non-smtp", "name of non-SMTP");
	t_str_eq(cmd_verb_name(CMD_UNKNOWN), "unknown", "name of unknown");
	for (int v = CMD_HELO; v < CMD_NONSMTP; v++) {
		char line[32];
		struct smtp_cmd c;
		int n = snprintf(line, sizeof(line), "%s x\r\n", cmd_verb_name((enum cmd_verb)v));

		/* the name parses back to the verb (rc depends on the verb's syntax) */
		cmd_parse(line, (size_t)n, &c);
		t_int_eq(c.verb, v, "name %s parses back", cmd_verb_name((enum cmd_verb)v));
	}
}

/*
 * test_split - every case as the session meets it: the line arrives cut at
 * every byte boundary (and byte by byte), linebuf frames it, and the parse
 * of the framed line must equal the parse of the whole line.
 */
static void
test_split(void)
{
	for (size_t i = 0; i < nitems(cases); i++) {
		const struct cmd_case *k = &cases[i];
		const char *lf = memchr(k->line, '\n', k->len);

		if (lf == NULL || (size_t)(lf - k->line) + 1 != k->len)
			continue; /* framing cases (no LF, LF inside) are linebuf's own tests */
		for (size_t plan = 0; plan < T_NPLANS(k->len); plan++) {
			struct linebuf lb;
			enum parse_rc rc = PARSE_MORE;
			size_t off, len, fed = 0;
			char label[160];

			linebuf_init(&lb, 2048);
			for (size_t idx = 0; t_chunk(plan, k->len, idx, &off, &len); idx++) {
				size_t used = 0;

				if (len == 0)
					continue;
				t_true(rc == PARSE_MORE, "%s, plan %zu: no line before the last piece", k->label, plan);
				rc = linebuf_feed(&lb, k->line + off, len, &used);
				fed += used;
			}
			snprintf(label, sizeof(label), "%s (cut plan %zu)", k->label, plan);
			t_int_eq(rc, PARSE_OK, "%s: framed", label);
			t_true(fed == k->len && lb.len == k->len && memcmp(lb.buf, k->line, k->len) == 0,
			    "%s: the whole line, once", label);
			if (rc == PARSE_OK) {
				struct cmd_case again = *k;

				again.label = label;
				again.line = lb.buf;
				check(&again);
			}
			linebuf_release(&lb);
		}
	}
}

int
main(void)
{
	for (size_t i = 0; i < nitems(cases); i++)
		check(&cases[i]);
	test_split();
	test_bounds();
	test_names();
	return t_done();
}
