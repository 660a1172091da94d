/* proxy/fifo.c: the commands in flight of one session, answered in order */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "io.h"
#include "session.h"

/*
 * Every client command gets an entry, in arrival order, whether the backend
 * or sluice answers it; sluice's own commands to the backend (EHLO probe,
 * XCLIENT, HELO replay) are entries too, whose replies nobody forwards.
 * fifo_flush() hands replies to the client strictly from the head, so a
 * local refusal never overtakes a backend reply that is still owed.
 */

/* fifo_new - an entry, not yet linked */
static struct inflight *
fifo_new(enum fi_kind kind, enum fi_what what, enum cmd_verb verb)
{
	struct inflight *fi = calloc(1, sizeof(*fi));

	if (fi == NULL)
		return NULL;
	fi->kind = (uint8_t)kind;
	fi->what = (uint8_t)what;
	fi->verb = (uint8_t)verb;
	fi->stage = kind == FI_LOCAL ? FS_DONE : FS_QUEUED;
	return fi;
}

/* fifo_push - append an entry; NULL when out of memory (caller closes) */
struct inflight *
fifo_push(struct session *s, enum fi_kind kind, enum fi_what what, enum cmd_verb verb)
{
	struct inflight *fi = fifo_new(kind, what, verb);

	if (fi != NULL) {
		TAILQ_INSERT_TAIL(&s->fifo, fi, link);
		s->nfifo++;
	}
	return fi;
}

/* fifo_insert_after - insert right behind pos (XCLIENT after our EHLO) */
struct inflight *
fifo_insert_after(struct session *s, struct inflight *pos, enum fi_kind kind, enum fi_what what, enum cmd_verb verb)
{
	struct inflight *fi = fifo_new(kind, what, verb);

	if (fi != NULL) {
		TAILQ_INSERT_AFTER(&s->fifo, pos, fi, link);
		s->nfifo++;
	}
	return fi;
}

/* fifo_free_entry - unlink and free */
void
fifo_free_entry(struct session *s, struct inflight *fi)
{
	TAILQ_REMOVE(&s->fifo, fi, link);
	s->nfifo--;
	if (fi->secret && fi->cmd != NULL) {
		volatile char *v = fi->cmd; /* a SASL response: no copy outlives its use */

		for (size_t i = 0; i < fi->cmdlen; i++)
			v[i] = 0;
	}
	free(fi->cmd);
	free(fi->reply);
	free(fi->arg);
	free(fi);
}

/* fifo_set_reply - the reply the client will get for this entry */
void
fifo_set_reply(struct inflight *fi, const char *text, size_t len)
{
	char *r = malloc(len ? len : 1);

	free(fi->reply);
	fi->reply = r;
	fi->replylen = r ? len : 0;
	if (r != NULL)
		memcpy(r, text, len);
	fi->code = len >= 3 ? (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0') : 0;
	fi->stage = FS_DONE;
}

/* fifo_set_replyf - printf a one-line reply (CRLF added) */
void
fifo_set_replyf(struct inflight *fi, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(buf) - 3)
		n = (int)sizeof(buf) - 3;
	buf[n++] = '\r';
	buf[n++] = '\n';
	fifo_set_reply(fi, buf, (size_t)n);
}

/* fifo_local - queue a reply sluice gives itself; keeps pipelined order */
struct inflight *
fifo_local(struct session *s, enum cmd_verb verb, const char *fmt, ...)
{
	struct inflight *fi = fifo_push(s, FI_LOCAL, FW_CMD, verb);
	char buf[1024];
	va_list ap;

	if (fi == NULL) {
		sess_close(s, "out of memory");
		return NULL;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fifo_set_replyf(fi, "%s", buf);
	if (fi->code >= 200 && fi->code < 400 && s->ok[verb] < UINT16_MAX)
		s->ok[verb]++;
	return fi;
}

/* fifo_awaiting_backend - is any entry waiting for the backend */
bool
fifo_awaiting_backend(const struct session *s)
{
	const struct inflight *fi;

	TAILQ_FOREACH(fi, &s->fifo, link)
		if (fi->stage != FS_DONE)
			return true;
	return false;
}

/* fifo_flush - send every reply that is ready, in order */
void
fifo_flush(struct session *s)
{
	struct inflight *fi;

	while ((fi = TAILQ_FIRST(&s->fifo)) != NULL && fi->stage == FS_DONE) {
		bool close = fi->close_after;

		bool start_tls = fi->start_tls;

		if (fi->kind != FI_INTERNAL && fi->reply != NULL && !(s->flags & SESS_F_CLOSING)) {
			if (sess_send(s, fi->reply, fi->replylen) < 0)
				close = true;
		}
		fifo_free_entry(s, fi);
		if (close) {
			sess_close(s, s->close_reason ? s->close_reason : "quit");
			return;
		}
		if (start_tls) {
			tls_begin(s); /* the 220 is out in plaintext: TLS from here on */
			if (s->flags & SESS_F_CLOSING)
				return;
		}
	}
	if (s->nfifo == 0 && !(s->flags & SESS_F_CLOSING)) {
		if (s->client_eof && !s->in_process && !policy_waiting(s) &&
		    evbuffer_get_length(bufferevent_get_input(s->cbev)) == 0)
			sess_close(s, s->state == ST_DATA ? "lost connection in DATA" : "lost connection");
		else
			sess_client_resume(s);
	}
}

