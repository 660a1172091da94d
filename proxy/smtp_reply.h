/* proxy/smtp_reply.h: SMTP reply parser (RFC 5321 4.2), bytes in, replies out */
#ifndef SLUICE_SMTP_REPLY_H
#define SLUICE_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "linebuf.h"
#include "util.h"

/*
 * A reply is zero or more "DDD-text" lines and one final "DDD text" line.
 * The final text may be empty ("250 " or "250" then CRLF). Lines end in
 * CRLF; the code must be identical on every line. The complete reply is
 * kept verbatim (raw) so that it can be relayed byte-exact or rewritten.
 */
struct reply_parser {
	struct linebuf line; /* owned: the line being read */
	char *raw;           /* owned: the reply so far, CRLFs included */
	size_t rawlen, rawcap;
	size_t max;          /* bound on the whole reply */
	int code;            /* 0 until the first line */
	unsigned nlines;
	bool complete;       /* raw holds one whole reply */
	const char *err;     /* static text when PARSE_BAD / PARSE_TOO_LONG */
};

void reply_parser_init(struct reply_parser *p, size_t max);
void reply_parser_release(struct reply_parser *p);
/* reply_parser_reset - forget the complete reply, keep partial input state */
void reply_parser_reset(struct reply_parser *p);

/*
 * reply_parser_feed - consume bytes until one reply is complete.
 * *used is set to the bytes taken. PARSE_OK: p->raw/p->code hold the reply
 * (call reply_parser_reset() before feeding again). PARSE_MORE: all taken.
 * PARSE_BAD / PARSE_TOO_LONG: protocol error, p->err says why; the parser
 * must not be fed again (the peer is broken).
 */
enum parse_rc reply_parser_feed(struct reply_parser *p, const char *buf, size_t len, size_t *used);

/*
 * reply_next_line - iterate the lines of a raw reply.
 * *pos starts at 0. Returns false at the end; else sets *text and *textlen to
 * the text after "DDD-" or "DDD " (CRLF excluded) and *last.
 */
bool reply_next_line(const char *raw, size_t rawlen, size_t *pos, const char **text, size_t *textlen, bool *last);

/* reply_code_valid - three digits, [2-5][0-5][0-9] */
bool reply_code_valid(const char *p);

#endif
