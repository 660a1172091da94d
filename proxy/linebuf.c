/* proxy/linebuf.c: bounded accumulator for one line */
#include <stdlib.h>
#include <string.h>

#include "linebuf.h"

/* linebuf_init - empty line buffer with a bound */
void
linebuf_init(struct linebuf *lb, size_t max)
{
	memset(lb, 0, sizeof(*lb));
	lb->max = max < 4 ? 4 : max;
}

/* linebuf_release - free the storage */
void
linebuf_release(struct linebuf *lb)
{
	free(lb->buf);
	lb->buf = NULL;
	lb->len = lb->cap = 0;
	lb->skipping = lb->done = false;
}

/* linebuf_clear - forget the held line, keep the storage */
void
linebuf_clear(struct linebuf *lb)
{
	lb->len = 0;
	lb->skipping = lb->done = false;
}

/* linebuf_shrink - give memory back between lines (idle sessions stay small) */
void
linebuf_shrink(struct linebuf *lb, size_t keep)
{
	if (lb->len == 0 && lb->cap > keep)
		linebuf_release(lb);
}

/* linebuf_append - append within the bound; 0 or -1 on allocation failure */
static int
linebuf_append(struct linebuf *lb, const char *p, size_t n)
{
	if (n == 0)
		return 0; /* an empty feed: lb->buf may still be NULL */
	if (lb->len + n > lb->cap) {
		size_t want = lb->cap ? lb->cap : 128;
		char *nb;

		while (want < lb->len + n)
			want *= 2;
		if (want > lb->max)
			want = lb->max;
		nb = realloc(lb->buf, want);
		if (nb == NULL)
			return -1;
		lb->buf = nb;
		lb->cap = want;
	}
	memcpy(lb->buf + lb->len, p, n);
	lb->len += n;
	return 0;
}

/* linebuf_feed - see linebuf.h */
enum parse_rc
linebuf_feed(struct linebuf *lb, const char *p, size_t n, size_t *used)
{
	const char *lf;
	size_t take, room;

	if (lb->done)
		linebuf_clear(lb);
	lf = memchr(p, '\n', n);
	take = lf ? (size_t)(lf - p) + 1 : n;
	*used = take;
	room = lb->max - lb->len;
	if (!lb->skipping && take > room) {
		/* keep the prefix for the log, discard the rest of the line */
		if (linebuf_append(lb, p, room) < 0)
			return PARSE_BAD;
		lb->skipping = true;
	} else if (!lb->skipping) {
		if (linebuf_append(lb, p, take) < 0)
			return PARSE_BAD;
	}
	if (lf == NULL)
		return PARSE_MORE;
	lb->done = true;
	if (lb->skipping) {
		lb->skipping = false;
		return PARSE_TOO_LONG;
	}
	return PARSE_OK;
}
