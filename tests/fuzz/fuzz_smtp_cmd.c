/* tests/fuzz/fuzz_smtp_cmd.c: command lines through linebuf and cmd_parse() */
#include <stdbool.h>

#include "fuzz.h"
#include "linebuf.h"
#include "smtp_cmd.h"

/*
 * Input: byte 0 picks a split point, byte 1 the line bound, the rest is
 * what a client sends. The stream is cut into lines by a linebuf fed whole,
 * fed in two pieces and (for short inputs) one byte at a time; every line is
 * parsed. All feedings must produce the same trace. The whole stream is
 * also given to cmd_parse() as one "line", which must never misbehave.
 */

/* within - [p, p+n) lies inside [line, line+len) */
static bool
within(const char *p, size_t n, const char *line, size_t len)
{
	return p != NULL && p >= line && n <= len && p + n <= line + len;
}

/* check_cmd - parse one line (exact-size copy) and check what comes back */
static void
check_cmd(const char *src, size_t len, struct fbuf *tr)
{
	char *line = fuzz_dup(src, len);
	struct smtp_cmd c;
	enum parse_rc rc = cmd_parse(line, len, &c);
	char ev[3] = {(char)rc, (char)c.verb, (char)(c.errcode / 100)};

	fbuf_add(tr, ev, sizeof(ev));
	if (rc == PARSE_BAD) {
		FUZZ_CHECK(
		    c.errcode == 500 || c.errcode == 501 || c.errcode == 555);
		FUZZ_CHECK(c.enh != NULL && c.err != NULL);
	} else {
		FUZZ_CHECK(rc == PARSE_OK);
		FUZZ_CHECK(c.errcode == 0);
		/* an accepted line is CRLF-terminated and has no NUL or bare CR */
		FUZZ_CHECK(
		    len >= 2 && line[len - 2] == '\r' && line[len - 1] == '\n');
		FUZZ_CHECK(memchr(line, '\0', len) == NULL);
		FUZZ_CHECK(memchr(line, '\r', len - 2) == NULL);
		FUZZ_CHECK(memchr(line, '\n', len - 1) == NULL);
		FUZZ_CHECK(
		    within(c.verbtxt, c.verblen, line, len) && c.verblen > 0);
		FUZZ_CHECK(within(c.arg, c.arglen, line, len - 2));
		if (c.verb == CMD_MAIL || c.verb == CMD_RCPT) {
			FUZZ_CHECK(within(c.path, c.pathlen, line, len - 2));
			FUZZ_CHECK(
			    within(c.params, c.paramslen, line, len - 2));
			FUZZ_CHECK(c.pathlen + 2 <= CMD_PATH_MAX);
			FUZZ_CHECK(c.verb == CMD_MAIL || c.pathlen > 0);
			FUZZ_CHECK(memchr(c.path, '\0', c.pathlen) == NULL);
		}
		FUZZ_CHECK(c.body < BODY_COUNT);
		fbuf_add(tr, c.arg, c.arglen);
	}
	free(line);
}

/* run - split the stream into lines; cut 0 = whole, (size_t)-1 = bytewise */
static void
run(const char *data, size_t size, size_t max, size_t cut, struct fbuf *tr)
{
	struct linebuf lb;
	size_t off = 0;

	linebuf_init(&lb, max);
	while (off < size) {
		size_t n = size - off, pos = 0;
		char *chunk;

		if (cut == (size_t)-1)
			n = 1;
		else if (off < cut && cut < size)
			n = cut - off;
		chunk = fuzz_dup(data + off, n);
		while (pos < n) {
			size_t used = 0;
			enum parse_rc rc =
			    linebuf_feed(&lb, chunk + pos, n - pos, &used);

			FUZZ_CHECK(used <= n - pos);
			FUZZ_CHECK(rc == PARSE_MORE || used > 0);
			pos += used;
			FUZZ_CHECK(lb.len <= lb.max && lb.len <= lb.cap);
			if (rc == PARSE_OK) {
				FUZZ_CHECK(
				    lb.len > 0 && lb.buf[lb.len - 1] == '\n');
				check_cmd(lb.buf, lb.len, tr);
			} else if (rc == PARSE_TOO_LONG) {
				FUZZ_CHECK(lb.len == lb.max);
				fbuf_add(tr, "L", 1);
			} else {
				FUZZ_CHECK(rc == PARSE_MORE && pos == n);
			}
		}
		free(chunk);
		off += n;
	}
	fbuf_add(tr, lb.skipping ? "S" : "E", 1);
	if (!lb.done)
		fbuf_add(tr, lb.buf, lb.len);
	linebuf_release(&lb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t insize)
{
	struct fbuf whole = {0}, split = {0}, bytes = {0};
	const char *data = (const char *)in + 2;
	size_t size, cut, max;

	if (insize < 2)
		return 0;
	size = insize - 2;
	max = 4 + (size_t)in[1] * 4; /* 4 .. 1024: small bounds find edges */
	cut = size ? (size_t)in[0] * size / 255 : 0;

	run(data, size, max, 0, &whole);
	run(data, size, max, cut, &split);
	FUZZ_CHECK(fbuf_same(&whole, &split));
	if (size <= 512) {
		run(data, size, max, (size_t)-1, &bytes);
		FUZZ_CHECK(fbuf_same(&whole, &bytes));
	}
	fbuf_free(&whole);
	fbuf_free(&split);
	fbuf_free(&bytes);

	/* the raw input as one line: terminators and all in odd places */
	{
		struct fbuf tr = {0};

		check_cmd(data, size, &tr);
		fbuf_free(&tr);
	}
	return 0;
}
