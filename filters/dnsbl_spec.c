/* filters/dnsbl_spec.c: parse DNS list specs and answer patterns (pure, no allocation) */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dnsbl_spec.h"

#define LABEL_MAX  63
#define WEIGHT_MAX 1000000

/*
 * One cursor over the caller's bytes. Nothing here reads at or past len,
 * so the text need not be NUL-terminated. Columns in errors count bytes
 * from 1; an error at the end of the text names column len + 1.
 */
struct spec_cur {
	const char *s; /* borrowed: caller */
	size_t len, pos;
	char *err; /* borrowed: caller; may be NULL */
	size_t errsz;
};

static int cur_fail(const struct spec_cur *c, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* cur_peek - the byte at the cursor, or -1 at the end */
static int
cur_peek(const struct spec_cur *c)
{
	return c->pos < c->len ? (unsigned char)c->s[c->pos] : -1;
}

/* cur_fail - "column N: reason" for byte offset pos into err; returns -1 */
static int
cur_fail(const struct spec_cur *c, size_t pos, const char *fmt, ...)
{
	char why[128];
	va_list ap;

	if (c->err == NULL || c->errsz == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errsz, "column %zu: %s", pos + 1, why);
	return -1;
}

/* byte_name - a byte (or -1, the end) as error text: 'x', \xNN or "end of text" */
static const char *
byte_name(int ch, char *buf, size_t sz)
{
	if (ch < 0)
		return "end of text";
	if (ch >= 0x20 && ch < 0x7f)
		snprintf(buf, sz, "'%c'", ch);
	else
		snprintf(buf, sz, "\\x%02x", (unsigned)(unsigned char)ch);
	return buf;
}

/* is_digit - ASCII decimal digit; -1 (the end) is not one */
static int
is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* no_nul - reject any NUL byte before parsing, so no grammar rule sees one */
static int
no_nul(const struct spec_cur *c)
{
	const char *z = c->len > 0 ? memchr(c->s, '\0', c->len) : NULL;

	if (z != NULL)
		return cur_fail(c, (size_t)(z - c->s), "NUL byte");
	return 0;
}

/*
 * zone_parse - the zone, up to '=', '*' or the end, lowercased into zone
 * (DNSBL_ZONE_MAX + 1 bytes). Labels are [A-Za-z0-9_-]{1,63} joined by
 * single dots.
 */
static int
zone_parse(struct spec_cur *c, char *zone)
{
	size_t n = 0, label = 0;
	char b[8];
	int ch;

	while ((ch = cur_peek(c)) >= 0 && ch != '=' && ch != '*') {
		if (ch == '.') {
			if (n == 0)
				return cur_fail(c, c->pos, "zone starts with a dot");
			if (label == 0)
				return cur_fail(c, c->pos, "empty label in zone");
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) ||
			   ch == '-' || ch == '_') {
			if (++label > LABEL_MAX)
				return cur_fail(c, c->pos, "zone label longer than %d bytes", LABEL_MAX);
		} else {
			return cur_fail(c, c->pos, "character %s not allowed in a zone",
			    byte_name(ch, b, sizeof(b)));
		}
		if (n == DNSBL_ZONE_MAX)
			return cur_fail(c, c->pos, "zone longer than %d bytes", DNSBL_ZONE_MAX);
		zone[n++] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
		c->pos++;
	}
	if (n == 0)
		return cur_fail(c, c->pos, "empty zone");
	if (label == 0)
		return cur_fail(c, c->pos - 1, "zone ends with a dot");
	zone[n] = '\0';
	return 0;
}

/* number_parse - decimal 0..255 at the cursor (the caller saw a digit) */
static int
number_parse(struct spec_cur *c, unsigned *v)
{
	size_t start = c->pos;
	unsigned n = 0;

	while (is_digit(cur_peek(c))) {
		n = n * 10 + (unsigned)(cur_peek(c) - '0');
		if (n > 255)
			return cur_fail(c, start, "octet value above 255");
		c->pos++;
	}
	*v = n;
	return 0;
}

/* set_range - allow lo..hi (inclusive) in one octet's set */
static void
set_range(uint8_t *set, unsigned lo, unsigned hi)
{
	for (unsigned v = lo; v <= hi; v++)
		set[v >> 3] |= (uint8_t)(1u << (v & 7));
}

/*
 * item_parse - number or number ".." number, inside brackets. A range
 * whose low end is above its high end is reported at the low end.
 */
static int
item_parse(struct spec_cur *c, uint8_t *set)
{
	size_t start = c->pos;
	unsigned lo, hi;
	char b[8];
	int ch = cur_peek(c);

	if (!is_digit(ch))
		return cur_fail(c, c->pos, "expected a number, found %s", byte_name(ch, b, sizeof(b)));
	if (number_parse(c, &lo) < 0)
		return -1;
	hi = lo;
	if (cur_peek(c) == '.') {
		c->pos++;
		if (cur_peek(c) != '.')
			return cur_fail(c, c->pos - 1, "a single '.' inside brackets (ranges use '..')");
		c->pos++;
		ch = cur_peek(c);
		if (!is_digit(ch))
			return cur_fail(c, c->pos, "expected a number after '..', found %s",
			    byte_name(ch, b, sizeof(b)));
		if (number_parse(c, &hi) < 0)
			return -1;
		if (lo > hi)
			return cur_fail(c, start, "range %u..%u has low above high", lo, hi);
	}
	set_range(set, lo, hi);
	return 0;
}

/* octet_parse - octet number idx (0..3): a number or "[" item { ";" item } "]" */
static int
octet_parse(struct spec_cur *c, int idx, uint8_t *set)
{
	size_t open = c->pos;
	unsigned v;
	char b[8];
	int ch = cur_peek(c);

	if (is_digit(ch)) {
		if (number_parse(c, &v) < 0)
			return -1;
		set_range(set, v, v);
		return 0;
	}
	if (ch != '[') {
		if (ch < 0)
			return cur_fail(c, c->pos, "missing octet %d of 4", idx + 1);
		return cur_fail(c, c->pos, "expected octet %d (a number or '['), found %s", idx + 1,
		    byte_name(ch, b, sizeof(b)));
	}
	c->pos++;
	if (cur_peek(c) == ']')
		return cur_fail(c, open, "empty brackets");
	for (;;) {
		if (item_parse(c, set) < 0)
			return -1;
		ch = cur_peek(c);
		if (ch == ']') {
			c->pos++;
			return 0;
		}
		if (ch < 0)
			return cur_fail(c, c->pos, "missing ']'");
		if (ch != ';')
			return cur_fail(c, c->pos, "expected ';' or ']', found %s",
			    byte_name(ch, b, sizeof(b)));
		c->pos++;
	}
}

/*
 * pattern_parse - exactly four octets joined by '.'; stops after the
 * fourth, leaving whatever follows to the caller. p is cleared first.
 */
static int
pattern_parse(struct spec_cur *c, struct dnsbl_pattern *p)
{
	char b[8];
	int ch;

	memset(p, 0, sizeof(*p));
	for (int i = 0; i < 4; i++) {
		if (i > 0) {
			ch = cur_peek(c);
			if (ch < 0 || ch == '*')
				return cur_fail(c, c->pos, "pattern has only %d of 4 octets", i);
			if (ch != '.')
				return cur_fail(c, c->pos, "expected '.' after octet %d, found %s", i,
				    byte_name(ch, b, sizeof(b)));
			c->pos++;
		}
		if (octet_parse(c, i, p->oct[i]) < 0)
			return -1;
	}
	return 0;
}

/* weight_parse - after '*': [ "+" | "-" ] digits, |weight| <= WEIGHT_MAX */
static int
weight_parse(struct spec_cur *c, int *w)
{
	size_t start = c->pos;
	bool neg = false;
	long v = 0;
	char b[8];
	int ch = cur_peek(c);

	if (ch == '+' || ch == '-') {
		neg = ch == '-';
		c->pos++;
		ch = cur_peek(c);
	}
	if (!is_digit(ch))
		return cur_fail(c, c->pos, "weight needs digits, found %s",
		    byte_name(ch, b, sizeof(b)));
	while (is_digit(ch = cur_peek(c))) {
		v = v * 10 + (ch - '0');
		if (v > WEIGHT_MAX)
			return cur_fail(c, start, "weight out of range (at most %d either way)",
			    WEIGHT_MAX);
		c->pos++;
	}
	*w = (int)(neg ? -v : v);
	return 0;
}

/* trailing - reject whatever is left after what the grammar consumed */
static int
trailing(const struct spec_cur *c, const char *after)
{
	char b[8];

	if (c->pos < c->len)
		return cur_fail(c, c->pos, "unexpected %s after the %s",
		    byte_name(cur_peek(c), b, sizeof(b)), after);
	return 0;
}

/*
 * dnsbl_spec_parse - see dnsbl_spec.h. out is written only on success.
 * Without a pattern, out->pat allows every answer as well, so a caller
 * that ignores out->any still matches everything. err, when not NULL and
 * errsz > 0, is always NUL-terminated ("" on success).
 */
int
dnsbl_spec_parse(const char *text, size_t len, struct dnsbl_spec *out, char *err, size_t errsz)
{
	struct spec_cur c = { text, len, 0, err, errsz };
	struct dnsbl_spec sp;

	if (err != NULL && errsz > 0)
		err[0] = '\0';
	if (no_nul(&c) < 0)
		return -1;
	memset(&sp, 0, sizeof(sp));
	sp.any = true;
	sp.weight = 1;
	if (zone_parse(&c, sp.zone) < 0)
		return -1;
	if (cur_peek(&c) == '=') {
		c.pos++;
		if (pattern_parse(&c, &sp.pat) < 0)
			return -1;
		sp.any = false;
		if (cur_peek(&c) >= 0 && cur_peek(&c) != '*')
			return trailing(&c, "pattern");
	} else {
		memset(&sp.pat, 0xff, sizeof(sp.pat));
	}
	if (cur_peek(&c) == '*') {
		c.pos++;
		if (weight_parse(&c, &sp.weight) < 0)
			return -1;
		if (trailing(&c, "weight") < 0)
			return -1;
	}
	*out = sp;
	return 0;
}

/* dnsbl_pattern_parse - see dnsbl_spec.h; out is written only on success */
int
dnsbl_pattern_parse(const char *text, size_t len, struct dnsbl_pattern *out, char *err, size_t errsz)
{
	struct spec_cur c = { text, len, 0, err, errsz };
	struct dnsbl_pattern p;

	if (err != NULL && errsz > 0)
		err[0] = '\0';
	if (no_nul(&c) < 0 || pattern_parse(&c, &p) < 0 || trailing(&c, "pattern") < 0)
		return -1;
	*out = p;
	return 0;
}

/* dnsbl_pattern_match - see dnsbl_spec.h */
bool
dnsbl_pattern_match(const struct dnsbl_pattern *p, struct in_addr a)
{
	uint8_t o[4];

	memcpy(o, &a.s_addr, 4); /* network order: o[0] is the first octet */
	for (int i = 0; i < 4; i++)
		if (!(p->oct[i][o[i] >> 3] & (1u << (o[i] & 7))))
			return false;
	return true;
}

/* dnsbl_spec_match - see dnsbl_spec.h */
bool
dnsbl_spec_match(const struct dnsbl_spec *sp, struct in_addr a)
{
	return sp->any || dnsbl_pattern_match(&sp->pat, a);
}
