/* proxy/smtp_data.c: DATA stream scanner */
#include <string.h>

#include "smtp_data.h"
#include "util.h"

enum {
	S_BOL = 0, /* at the beginning of a line */
	S_MID,     /* inside a line */
	S_CR,      /* inside a line, after CR */
	S_DOT,     /* "." at BOL, held */
	S_DOTCR,   /* ".\r" at BOL, held */
	S_COUNT
};

enum {
	H_NAME = 0, /* matching a header name against "message-id:" */
	H_MSGID,    /* capturing the Message-ID value */
	H_OTHER,    /* some other header */
	H_COUNT
};

static const char msgid_name[] = "message-id:";

/* data_scanner_init - fresh scanner at the start of a message */
void
data_scanner_init(struct data_scanner *d, enum data_bare bare)
{
	memset(d, 0, sizeof(*d));
	d->bare = bare;
	d->st = S_BOL;
	d->in_headers = true;
	d->after_crlf = true; /* the DATA command ended in CRLF */
	d->hst = H_NAME;
}

/* emit - hand bytes to the sink unless the message is being discarded */
static void
emit(struct data_scanner *d, const struct data_sink *sink, const char *p, size_t n)
{
	if (n > 0 && !d->discard)
		sink->out(sink->arg, p, n);
}

/* msgid_trim - strip surrounding white space from the captured Message-ID */
static void
msgid_trim(struct data_scanner *d)
{
	size_t s = 0, e = d->msgidlen;

	while (s < e && (d->msgid[s] == ' ' || d->msgid[s] == '\t'))
		s++;
	while (e > s && (d->msgid[e - 1] == ' ' || d->msgid[e - 1] == '\t'))
		e--;
	memmove(d->msgid, d->msgid + s, e - s);
	d->msgidlen = e - s;
	d->msgid[d->msgidlen] = '\0';
}

/* header_byte - follow the header section one content byte at a time */
static void
header_byte(struct data_scanner *d, unsigned char c, bool bol)
{
	if (bol) {
		if (c == ' ' || c == '\t') {
			/* continuation: stays in the current header */
			if (d->hst == H_MSGID && d->msgidlen < DATA_MSGID_MAX)
				d->msgid[d->msgidlen++] = ' ';
			else if (d->hst == H_NAME)
				d->hst = H_OTHER; /* a fold cannot finish a header name */
			return;
		}
		if (d->hst == H_MSGID)
			msgid_trim(d);
		d->hst = H_NAME;
		d->hmatch = 0;
	}
	switch (d->hst) {
	case H_NAME: {
		unsigned char lc = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;

		if (lc == (unsigned char)msgid_name[d->hmatch]) {
			if (++d->hmatch == sizeof(msgid_name) - 1) {
				d->hst = d->msgid_seen ? H_OTHER : H_MSGID;
				d->msgid_seen = true;
			}
		} else {
			d->hst = H_OTHER;
		}
		break;
	}
	case H_MSGID:
		if (c < 0x20 && c != '\t')
			break; /* NUL and other controls never go into the log */
		if (c != ' ' && c != '\t' && d->msgidlen < DATA_MSGID_MAX)
			d->msgid[d->msgidlen++] = (char)c;
		else if ((c == ' ' || c == '\t') && d->msgidlen > 0 && d->msgidlen < DATA_MSGID_MAX)
			d->msgid[d->msgidlen++] = ' ';
		break;
	case H_OTHER:
	case H_COUNT:
		break;
	}
}

/* line_end - a line ended; crlf: by a real CRLF (only then may "." end DATA) */
static void
line_end(struct data_scanner *d, bool crlf)
{
	d->lines++;
	if (d->in_headers && d->linelen == 0) {
		if (d->hst == H_MSGID)
			msgid_trim(d);
		d->in_headers = false;
	}
	d->linelen = 0;
	d->st = S_BOL;
	d->after_crlf = crlf;
}

/* bare - a bare LF or CR: flag it; reject mode stops emitting */
static void
bare(struct data_scanner *d, unsigned flag)
{
	d->flags |= flag;
	if (d->bare == DATA_BARE_REJECT)
		d->discard = true;
}

/* content_byte - account one ordinary byte of a line */
static inline void
content_byte(struct data_scanner *d, unsigned char c)
{
	if (c == '\0')
		d->flags |= DATA_F_NUL; /* in the headers too */
	if (d->in_headers)
		header_byte(d, c, d->linelen == 0);
	if (d->linelen < UINT32_MAX)
		d->linelen++;
	d->size++;
}

/* dot_line - a "." line that is not an end of data: it is content */
static void
dot_line(struct data_scanner *d, const struct data_sink *sink, uint64_t bytes)
{
	/* stuffed, so that the backend reads a line with one dot, not an end */
	emit(d, sink, "..\r\n", 4);
	d->size += bytes;
	d->linelen = 1;
}

/* finish - the message ended: settle the header state */
static size_t
finish(struct data_scanner *d, size_t consumed, enum data_rc *rc)
{
	if (d->hst == H_MSGID)
		msgid_trim(d);
	d->hst = H_OTHER;
	d->st = S_BOL;
	*rc = DATA_END;
	return consumed;
}

/* data_scan - see smtp_data.h */
/*
 * Bytes [run, i) of buf are pending emission. Held back instead, so that
 * where the reads split the stream never changes what the sink gets: a '.'
 * at the start of a line and a CR after it (maybe the terminator), and a
 * CR that ends buf (a bare CR must not reach the sink in reject mode). In
 * reject mode the sink gets exactly the bytes before the first bare LF or
 * CR, less a held '.'; nothing after them.
 */
size_t
data_scan(struct data_scanner *d, const char *buf, size_t len, const struct data_sink *sink, enum data_rc *rc)
{
	size_t i = 0, run = 0;

	*rc = DATA_MORE;
	while (i < len) {
		unsigned char c = (unsigned char)buf[i];

		switch (d->st) {
		case S_BOL:
			if (c == '.') {
				/* maybe the terminator: hold the dot */
				emit(d, sink, buf + run, i - run);
				run = ++i;
				d->st = S_DOT;
				break;
			}
			__attribute__((fallthrough));
		case S_MID:
			/* fast path: ordinary bytes up to the next CR or LF */
			if (!d->in_headers) {
				/* the body: memchr, not a byte loop (most of a message) */
				const char *lf = memchr(buf + i, '\n', len - i);
				const char *end = lf ? lf : buf + len;
				const char *cr = memchr(buf + i, '\r', (size_t)(end - (buf + i)));
				size_t k = (size_t)((cr ? cr : end) - (buf + i));

				if (k > 0) {
					if (memchr(buf + i, '\0', k) != NULL)
						d->flags |= DATA_F_NUL;
					d->size += k;
					d->linelen = (uint32_t)MIN((uint64_t)d->linelen + k, UINT32_MAX);
					i += k;
				}
			}
			while (i < len && buf[i] != '\r' && buf[i] != '\n')
				content_byte(d, (unsigned char)buf[i++]);
			d->st = S_MID;
			if (i >= len)
				break;
			d->size++;
			if (buf[i] == '\r') {
				d->st = S_CR;
				i++;
				break;
			}
			/* bare LF: the line so far goes out, then CRLF or nothing */
			emit(d, sink, buf + run, i - run);
			bare(d, DATA_F_BARE_LF);
			emit(d, sink, "\r\n", 2);
			run = ++i;
			line_end(d, false);
			break;
		case S_CR:
			/* the CR is buf[i - 1], or held from the last call if i == 0 */
			if (c == '\n') {
				if (i == 0)
					emit(d, sink, "\r", 1);
				d->size++;
				i++;
				line_end(d, true);
				break;
			}
			/* bare CR: the line before it goes out, then CRLF or nothing */
			if (i > 0)
				emit(d, sink, buf + run, i - 1 - run);
			bare(d, DATA_F_BARE_CR);
			emit(d, sink, "\r\n", 2);
			run = i;
			line_end(d, false);
			break;
		case S_DOT:
			if (c == '\r') {
				run = ++i; /* ".\r" held */
				d->st = S_DOTCR;
				break;
			}
			if (c == '\n') {
				/* ".\n" is never an end of data (SMTP smuggling) */
				bare(d, DATA_F_BARE_LF);
				dot_line(d, sink, 2);
				run = ++i;
				line_end(d, false);
				break;
			}
			/* a dot-stuffed line: the client's stuffing dot is not content */
			emit(d, sink, ".", 1);
			run = i;
			if (d->in_headers)
				header_byte(d, '.', true);
			d->linelen = 1;
			d->st = S_MID;
			break;
		case S_DOTCR:
			if (c == '\n' && d->after_crlf)
				return finish(d, i + 1, rc);
			if (c == '\n') {
				/* "." CRLF after a bare line end: not CRLF.CRLF, so content */
				dot_line(d, sink, 3);
				run = ++i;
				line_end(d, true);
				break;
			}
			/* "." bare CR: content; c starts the next line */
			bare(d, DATA_F_BARE_CR);
			dot_line(d, sink, 2);
			run = i;
			line_end(d, false);
			break;
		default:
			break;
		}
	}
	/* a CR at the very end is held until the next byte tells what it is */
	if (d->st == S_CR && i > 0)
		emit(d, sink, buf + run, i - 1 - run);
	else
		emit(d, sink, buf + run, i - run);
	return i;
}
