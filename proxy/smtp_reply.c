/* proxy/smtp_reply.c: SMTP reply parser */
#include <stdlib.h>
#include <string.h>

#include "smtp_reply.h"

#define REPLY_LINE_MAX 1024 /* RFC 5321 says 512; be generous, stay bounded */

/* reply_parser_init - empty parser; max bounds the whole reply */
void
reply_parser_init(struct reply_parser *p, size_t max)
{
	memset(p, 0, sizeof(*p));
	p->max = max < 64 ? 64 : max;
	linebuf_init(&p->line, MIN(p->max, REPLY_LINE_MAX));
}

/* reply_parser_release - free everything the parser owns */
void
reply_parser_release(struct reply_parser *p)
{
	linebuf_release(&p->line);
	free(p->raw);
	p->raw = NULL;
	p->rawlen = p->rawcap = 0;
}

/* reply_parser_reset - start the next reply; shrink big buffers */
void
reply_parser_reset(struct reply_parser *p)
{
	p->rawlen = 0;
	p->code = 0;
	p->nlines = 0;
	p->complete = false;
	p->err = NULL;
	if (p->rawcap > 1024) {
		free(p->raw);
		p->raw = NULL;
		p->rawcap = 0;
	}
	linebuf_shrink(&p->line, 256);
}

/* reply_code_valid - three digits in the ranges RFC 5321 defines */
bool
reply_code_valid(const char *c)
{
	return c[0] >= '2' && c[0] <= '5' && c[1] >= '0' && c[1] <= '5' &&
	    c[2] >= '0' && c[2] <= '9';
}

/* raw_append - add one line to the reply; -1 over the bound, -2 out of memory */
static int
raw_append(struct reply_parser *p, const char *s, size_t n)
{
	if (p->rawlen + n > p->max)
		return -1;
	if (p->rawlen + n > p->rawcap) {
		size_t want = p->rawcap ? p->rawcap * 2 : 256;
		char *nb;

		while (want < p->rawlen + n)
			want *= 2;
		nb = realloc(p->raw, want);
		if (nb == NULL)
			return -2;
		p->raw = nb;
		p->rawcap = want;
	}
	memcpy(p->raw + p->rawlen, s, n);
	p->rawlen += n;
	return 0;
}

/* reply_take_line - validate one complete line and add it */
static enum parse_rc
reply_take_line(struct reply_parser *p, const char *s, size_t n)
{
	int code;
	bool last;

	if (n < 2 || s[n - 2] != '\r') {
		p->err = "reply line not terminated by CRLF";
		return PARSE_BAD;
	}
	n -= 2;
	if (memchr(s, '\0', n) != NULL || memchr(s, '\r', n) != NULL) {
		p->err = "NUL or bare CR in reply";
		return PARSE_BAD;
	}
	if (n < 3 || !reply_code_valid(s)) {
		p->err = "malformed reply code";
		return PARSE_BAD;
	}
	if (n == 3 || s[3] == ' ')
		last = true;
	else if (s[3] == '-')
		last = false;
	else {
		p->err = "malformed reply separator";
		return PARSE_BAD;
	}
	code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	if (p->nlines > 0 && code != p->code) {
		p->err = "reply code changed within a multi-line reply";
		return PARSE_BAD;
	}
	p->code = code;
	switch (raw_append(p, s, n + 2)) {
	case -1:
		p->err = "reply too long";
		return PARSE_TOO_LONG;
	case -2:
		p->err = "out of memory";
		return PARSE_BAD;
	default:
		break;
	}
	p->nlines++;
	if (last) {
		p->complete = true;
		return PARSE_OK;
	}
	return PARSE_MORE;
}

/* reply_parser_feed - see smtp_reply.h */
enum parse_rc
reply_parser_feed(struct reply_parser *p, const char *buf, size_t len, size_t *used)
{
	size_t off = 0;

	while (off < len) {
		size_t n;
		enum parse_rc rc = linebuf_feed(&p->line, buf + off, len - off, &n);

		off += n;
		if (rc == PARSE_MORE)
			break;
		if (rc == PARSE_TOO_LONG) {
			p->err = "reply line too long";
			*used = off;
			return PARSE_TOO_LONG;
		}
		if (rc == PARSE_BAD) {
			p->err = "out of memory";
			*used = off;
			return PARSE_BAD;
		}
		rc = reply_take_line(p, p->line.buf, p->line.len);
		linebuf_clear(&p->line);
		if (rc != PARSE_MORE) {
			*used = off;
			return rc;
		}
	}
	*used = off;
	return PARSE_MORE;
}

/* reply_next_line - see smtp_reply.h */
bool
reply_next_line(const char *raw, size_t rawlen, size_t *pos, const char **text, size_t *textlen, bool *last)
{
	const char *s, *lf;
	size_t n;

	if (*pos >= rawlen)
		return false;
	s = raw + *pos;
	lf = memchr(s, '\n', rawlen - *pos);
	n = lf ? (size_t)(lf - s) + 1 : rawlen - *pos;
	*pos += n;
	/* strip CRLF */
	if (n >= 1 && s[n - 1] == '\n')
		n--;
	if (n >= 1 && s[n - 1] == '\r')
		n--;
	*last = n <= 3 || s[3] == ' ';
	*text = n > 4 ? s + 4 : s + n;
	*textlen = n > 4 ? n - 4 : 0;
	return true;
}
