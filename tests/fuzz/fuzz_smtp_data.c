/* tests/fuzz/fuzz_smtp_data.c: message bodies through data_scan() */
#include <stdbool.h>

#include "fuzz.h"
#include "smtp_data.h"

/*
 * Input: byte 0 bit 0 picks reject or normalise mode, byte 1 a split
 * point, the rest is what a client sends after DATA. The scanner is fed
 * whole, in two pieces and (for short inputs) one byte at a time; the
 * sink output and every fact must not depend on the feeding. The output
 * must be safe to relay: no bare CR or LF and no end-of-data inside it,
 * and without bare line ends it is exactly the input before the terminator
 * (only CRLF "." CRLF may end the message).
 */

struct result {
	struct fbuf out;
	enum data_rc rc;
	size_t consumed;
	struct data_scanner d;
};

/* sink_out - collect the bytes meant for the backend */
static void
sink_out(void *arg, const char *p, size_t n)
{
	FUZZ_CHECK(n > 0);
	fbuf_add(arg, p, n);
}

/* run - scan; cut 0 = whole, (size_t)-1 = one byte at a time */
static void
run(const char *data, size_t size, enum data_bare mode, size_t cut,
    struct result *r)
{
	struct data_sink sink = {sink_out, &r->out};
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	data_scanner_init(&r->d, mode);
	r->rc = DATA_MORE;
	while (off < size && r->rc == DATA_MORE) {
		size_t n = size - off, used;
		char *chunk;

		if (cut == (size_t)-1)
			n = 1;
		else if (off < cut && cut < size)
			n = cut - off;
		chunk = fuzz_dup(data + off, n);
		used = data_scan(&r->d, chunk, n, &sink, &r->rc);
		FUZZ_CHECK(used <= n && (r->rc == DATA_END || used == n));
		/* used may be 0 with DATA_END: ".\r" then a byte, in normalise mode */
		r->consumed += used;
		free(chunk);
		off += n;
	}
}

/* same - two runs are indistinguishable */
static bool
same(const struct result *a, const struct result *b)
{
	return fbuf_same(&a->out, &b->out) && a->rc == b->rc &&
	       a->consumed == b->consumed && a->d.flags == b->d.flags &&
	       a->d.discard == b->d.discard && a->d.size == b->d.size &&
	       a->d.lines == b->d.lines && a->d.msgidlen == b->d.msgidlen &&
	       memcmp(a->d.msgid, b->d.msgid, a->d.msgidlen) == 0;
}

/* is_prefix - the n bytes at o begin data (o may be NULL when n is 0) */
static bool
is_prefix(const char *o, size_t n, const char *data)
{
	return n == 0 || memcmp(o, data, n) == 0;
}

/* check_out - properties of one run */
static void
check_out(const char *data, const struct result *r)
{
	const char *o = r->out.p;
	size_t n = r->out.len, stuffing = 0;
	bool bare = (r->d.flags & (DATA_F_BARE_LF | DATA_F_BARE_CR)) != 0;

	FUZZ_CHECK(r->d.msgidlen <= DATA_MSGID_MAX &&
	           r->d.msgid[r->d.msgidlen] == '\0');
	FUZZ_CHECK(strlen(r->d.msgid) == r->d.msgidlen);
	FUZZ_CHECK(r->d.discard == (r->d.bare == DATA_BARE_REJECT && bare));
	/* line ends in the output are CRLF (a last CR is held back), and no
	 * line is a lone "." */
	for (size_t i = 0; i < n; i++) {
		bool bol = i == 0 || o[i - 1] == '\n';

		if (o[i] == '\r')
			FUZZ_CHECK(i + 1 < n && o[i + 1] == '\n');
		if (o[i] == '\n')
			FUZZ_CHECK(i > 0 && o[i - 1] == '\r');
		stuffing += o[i] == '.' && bol;
		if (o[i] == '.' && bol && i + 2 < n)
			FUZZ_CHECK(o[i + 1] != '\r' || o[i + 2] != '\n');
	}
	/* only CRLF "." CRLF ends a message, whatever came before (smuggling) */
	if (r->rc == DATA_END) {
		size_t e = r->consumed;

		FUZZ_CHECK(e >= 3 && memcmp(data + e - 3, ".\r\n", 3) == 0);
		FUZZ_CHECK(e == 3 || (e >= 5 && data[e - 5] == '\r' &&
		                         data[e - 4] == '\n'));
	}
	/* the caller appends ".\r\n": the output must end at a line boundary */
	if (r->rc == DATA_END && !r->d.discard)
		FUZZ_CHECK(
		    n == 0 || (n >= 2 && o[n - 2] == '\r' && o[n - 1] == '\n'));
	/* reject mode never rewrites: what went out is a prefix of what came in */
	if (r->d.bare == DATA_BARE_REJECT)
		FUZZ_CHECK(n <= r->consumed && is_prefix(o, n, data));
	/* nothing bare: the bytes pass through unchanged, dot-stuffing included */
	if (!bare && r->rc == DATA_END) {
		FUZZ_CHECK(r->consumed >= 3 &&
		           memcmp(data + r->consumed - 3, ".\r\n", 3) == 0);
		FUZZ_CHECK(n == r->consumed - 3 && is_prefix(o, n, data));
		FUZZ_CHECK(r->d.size == n - stuffing); /* size: as unstuffed */
	}
	if (!bare && r->rc == DATA_MORE) {
		/* held back at most: "." or ".\r" at a line start, or a last CR */
		FUZZ_CHECK(n <= r->consumed && r->consumed - n <= 2 &&
		           is_prefix(o, n, data));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t insize)
{
	struct result whole, split, bytes;
	const char *data = (const char *)in + 2;
	enum data_bare mode;
	size_t size, cut;

	if (insize < 2)
		return 0;
	mode = (in[0] & 1) ? DATA_BARE_NORMALISE : DATA_BARE_REJECT;
	size = insize - 2;
	cut = size ? (size_t)in[1] * size / 255 : 0;

	run(data, size, mode, 0, &whole);
	check_out(data, &whole);
	run(data, size, mode, cut, &split);
	FUZZ_CHECK(same(&whole, &split));
	fbuf_free(&split.out);
	if (size <= 1024) {
		run(data, size, mode, (size_t)-1, &bytes);
		FUZZ_CHECK(same(&whole, &bytes));
		fbuf_free(&bytes.out);
	}
	fbuf_free(&whole.out);
	return 0;
}
