/* tests/unit/test_esmtp.c: EHLO capabilities, the client's EHLO, queue ids, XCLIENT */
#include <string.h>

#include "esmtp.h"
#include "t.h"
#include "util.h"

static const struct {
	const char *label, *reply;
	bool found;
	const char *qid;
} qids[] = {
	{ "postfix", "250 2.0.0 Ok: queued as 4XyZ12AB34\r\n", true, "4XyZ12AB34" },
	{ "postfix long id", "250 2.0.0 Ok: queued as 4bCdE5FgH6zJkL7\r\n", true, "4bCdE5FgH6zJkL7" },
	{ "qmail", "250 ok 1764371234 qp 12345\r\n", true, "12345" },
	{ "exim", "250 OK id=1vQ2aB-000123-Cd\r\n", true, "1vQ2aB-000123-Cd" },
	{ "multi-line postfix", "250-first\r\n250 2.0.0 Ok: queued as ABC\r\n", true, "ABC" },
	{ "no id", "250 2.0.0 Ok\r\n", false, "" },
	{ "marker without id", "250 queued as \r\n", false, "" },
	{ "trailing dot dropped", "250 Ok: queued as ABC123.\r\n", true, "ABC123" },
};

static const char postfix_ehlo[] =
    "250-backend.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
    "250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN\r\n"
    "250-XFORWARD NAME ADDR PROTO HELO\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
    "250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";

/* test_caps - what sluice learns from the backend's EHLO */
static void
test_caps(void)
{
	struct esmtp_caps c;

	esmtp_parse_caps(postfix_ehlo, strlen(postfix_ehlo), &c);
	t_true(c.pipelining, "caps: PIPELINING");
	t_true(c.xclient, "caps: XCLIENT");
	t_int_eq(c.xattrs, XA_NAME | XA_ADDR | XA_PROTO | XA_HELO | XA_REVERSE_NAME | XA_PORT | XA_LOGIN,
	    "caps: XCLIENT attributes");
	t_int_eq((long long)c.size, 10240000, "caps: SIZE");
	esmtp_parse_caps("250 only.host\r\n", 15, &c);
	t_true(!c.pipelining && !c.xclient && c.size == 0, "caps: single-line EHLO has none");
	/* the greeting line names the host: a host called PIPELINING is no extension */
	esmtp_parse_caps("250-PIPELINING\r\n250 8BITMIME\r\n", 31, &c);
	t_true(!c.pipelining, "caps: first line is the host name");
}

/* test_rewrite - what the client sees */
static void
test_rewrite(void)
{
	char out[1024];
	size_t n = esmtp_rewrite_ehlo(postfix_ehlo, strlen(postfix_ehlo), "mx.sluice.test", 5000000, NULL, out,
	    sizeof(out));
	static const char want[] = "250-mx.sluice.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n"
				   "250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 SIZE 5000000\r\n";

	t_mem_eq(out, n, want, strlen(want), "rewrite: keeps the safe list, SIZE from the limit");
	n = esmtp_rewrite_ehlo("250-b\r\n250 SIZE 1000\r\n", 22, "h", 5000000, NULL, out, sizeof(out));
	t_mem_eq(out, n, "250-h\r\n250 SIZE 1000\r\n", 22, "rewrite: the backend's smaller SIZE wins");
	n = esmtp_rewrite_ehlo("250-b\r\n250 SIZE 0\r\n", 19, "h", 777, NULL, out, sizeof(out));
	t_mem_eq(out, n, "250-h\r\n250 SIZE 777\r\n", 21, "rewrite: SIZE 0 (no limit) at the backend");
	n = esmtp_rewrite_ehlo(postfix_ehlo, strlen(postfix_ehlo), "mx.sluice.test", 1, NULL, out, 40);
	t_int_eq((long long)n, 0, "rewrite: too small a buffer gives 0, never a partial reply");
}

/* test_xclient - the XCLIENT line and xtext */
static void
test_xclient(void)
{
	char out[512], x[64];
	size_t n;
	static const char want4[] = "XCLIENT ADDR=192.0.2.7 PORT=40312 NAME=[UNAVAILABLE] HELO=mail.example.net PROTO=ESMTP\r\n";
	static const char want6[] = "XCLIENT ADDR=IPV6:2001:db8::1 HELO=a+2Bb+3Dc+20d PROTO=SMTP\r\n";

	n = xclient_build(out, sizeof(out), XA_ADDR | XA_PORT | XA_NAME | XA_HELO | XA_PROTO, "192.0.2.7",
	    false, 40312, "[UNAVAILABLE]", "mail.example.net", true, NULL);
	t_mem_eq(out, n, want4, strlen(want4), "xclient: IPv4, all attributes");
	n = xclient_build(out, sizeof(out), XA_ADDR | XA_HELO | XA_PROTO, "2001:db8::1", true, 1,
	    "[UNAVAILABLE]", "a+b=c d", false, NULL);
	t_mem_eq(out, n, want6, strlen(want6), "xclient: IPv6, xtext HELO, only offered attributes");
	n = xclient_build(out, sizeof(out), XA_ADDR | XA_HELO, "192.0.2.7", false, 1, "x", NULL, true, NULL);
	t_mem_eq(out, n, "XCLIENT ADDR=192.0.2.7\r\n", 24, "xclient: no HELO yet");
	n = xtext_encode("\x01\xff+", 3, x, sizeof(x));
	t_mem_eq(x, n, "+01+FF+2B", 9, "xtext: control, 8-bit and '+' encoded");
	t_int_eq((long long)xtext_encode("abcdef", 6, x, 4), 0, "xtext: too small a buffer gives 0");
}

int
main(void)
{
	for (size_t i = 0; i < nitems(qids); i++) {
		char out[64];
		bool found = esmtp_queue_id(qids[i].reply, strlen(qids[i].reply), out, sizeof(out));

		t_int_eq(found, qids[i].found, "queue id: %s", qids[i].label);
		if (found)
			t_str_eq(out, qids[i].qid, "queue id value: %s", qids[i].label);
	}
	test_caps();
	test_rewrite();
	test_xclient();
	return t_done();
}
