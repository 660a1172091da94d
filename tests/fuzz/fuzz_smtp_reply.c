/* tests/fuzz/fuzz_smtp_reply.c: backend replies through reply_parser_feed() */
#include <stdbool.h>

#include "fuzz.h"
#include "smtp_reply.h"

/*
 * Input: byte 0 picks a split point, byte 1 the reply bound, the rest is
 * what a backend sends. The parser is fed whole, in two pieces and (for
 * short inputs) one byte at a time; each complete reply is checked and
 * walked with reply_next_line(), and all feedings must give one trace.
 */

/* check_reply - a complete reply is well-formed and iterates cleanly */
static void
check_reply(const struct reply_parser *p)
{
	const char *text;
	size_t pos = 0, textlen, lines = 0;
	bool last = false;
	char code[4];

	FUZZ_CHECK(p->complete && p->nlines > 0);
	FUZZ_CHECK(p->rawlen >= 5 && p->rawlen <= p->max);
	FUZZ_CHECK(
	    p->raw[p->rawlen - 2] == '\r' && p->raw[p->rawlen - 1] == '\n');
	FUZZ_CHECK(reply_code_valid(p->raw));
	FUZZ_CHECK(memchr(p->raw, '\0', p->rawlen) == NULL);
	snprintf(code, sizeof(code), "%03d", p->code);
	for (;;) {
		const char *line = p->raw + pos;

		if (!reply_next_line(
		        p->raw, p->rawlen, &pos, &text, &textlen, &last))
			break;
		FUZZ_CHECK(!last ||
		           pos == p->rawlen); /* only the final line is last */
		FUZZ_CHECK(
		    text >= p->raw && text + textlen <= p->raw + p->rawlen);
		FUZZ_CHECK(memchr(text, '\r', textlen) == NULL &&
		           memchr(text, '\n', textlen) == NULL);
		FUZZ_CHECK(memcmp(line, code, 3) == 0 && text >= line + 3);
		lines++;
	}
	FUZZ_CHECK(last && lines == p->nlines && pos == p->rawlen);
}

/* run - feed the stream; cut 0 = whole, (size_t)-1 = one byte at a time */
static void
run(const char *data, size_t size, size_t max, size_t cut, struct fbuf *tr)
{
	struct reply_parser p;
	size_t off = 0;
	bool stopped = false;

	reply_parser_init(&p, max);
	while (off < size && !stopped) {
		size_t n = size - off, pos = 0;
		char *chunk;

		if (cut == (size_t)-1)
			n = 1;
		else if (off < cut && cut < size)
			n = cut - off;
		chunk = fuzz_dup(data + off, n);
		while (pos < n && !stopped) {
			size_t used = 0;
			enum parse_rc rc =
			    reply_parser_feed(&p, chunk + pos, n - pos, &used);
			char ev = (char)('0' + rc);

			FUZZ_CHECK(used <= n - pos);
			pos += used;
			fbuf_add(tr, &ev, 1);
			if (rc == PARSE_OK) {
				char code = (char)p.code;

				check_reply(&p);
				fbuf_add(tr, &code, 1);
				fbuf_add(tr, p.raw, p.rawlen);
				reply_parser_reset(&p);
			} else if (rc == PARSE_MORE) {
				FUZZ_CHECK(pos == n);
				tr->len--; /* how often MORE comes depends on the cut */
			} else {
				FUZZ_CHECK(
				    rc == PARSE_BAD || rc == PARSE_TOO_LONG);
				FUZZ_CHECK(p.err != NULL);
				stopped =
				    true; /* the parser must not be fed again */
			}
		}
		free(chunk);
		off += n;
	}
	reply_parser_release(&p);
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
	max = 64 + (size_t)in[1] * 16; /* the floor is 64; lines stop at 1024 */
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
	return 0;
}
