/* proxy/linebuf.h: bounded accumulator for one CRLF- or LF-terminated line */
#ifndef SLUICE_LINEBUF_H
#define SLUICE_LINEBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/*
 * A line is everything up to and including the first LF. The buffer is
 * allocated on first use and never grows past max bytes; a longer line is
 * consumed and discarded up to its LF, then reported once as PARSE_TOO_LONG
 * with its first max bytes kept for the log.
 */
struct linebuf {
	char *buf;     /* owned; NULL until the first byte */
	size_t len;    /* bytes held (line incl. LF once complete) */
	size_t cap;    /* allocated */
	size_t max;    /* bound on a line, LF included */
	bool skipping; /* over the bound: discarding until LF */
	bool done;     /* a complete line is held; call linebuf_clear() */
};

void linebuf_init(struct linebuf *lb, size_t max);
void linebuf_release(struct linebuf *lb);
void linebuf_clear(struct linebuf *lb);
/* linebuf_shrink - drop the allocation if empty and larger than keep bytes */
void linebuf_shrink(struct linebuf *lb, size_t keep);

/*
 * linebuf_feed - take bytes until a line is complete.
 * Sets *used to the bytes consumed. Returns PARSE_OK (line held, LF
 * included), PARSE_TOO_LONG (an overlong line ended; truncated prefix held),
 * PARSE_MORE (all of p consumed, no LF yet), or PARSE_BAD (out of memory).
 */
enum parse_rc linebuf_feed(struct linebuf *lb, const char *p, size_t n, size_t *used);

#endif
