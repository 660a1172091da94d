/* proxy/session_data.c: the DATA stream, the end-of-data hold point, records */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "esmtp.h"
#include "io.h"
#include "io_read.h"
#include "log.h"
#include "session.h"
#include "tls.h"

#define BACKEND_OUT_HIGH (256 * 1024) /* message bytes queued for the backend */
#define BACKEND_OUT_LOW  (64 * 1024)

/* data_sink_out - scanner output goes to the backend */
static void
data_sink_out(void *arg, const char *p, size_t n)
{
	struct session *s = arg;

	if (s->data_fail == DF_POLICY)
		policy_evidence_feed(s, p, n); /* evidence: never the backend */
	else
		backend_write(s, p, n);
}

/* received_tls - a Received header telling the backend how the client came in (TLS) */
static void
received_tls(struct session *s)
{
	char buf[1024], helo[256], date[64];
	time_t now = time(NULL);
	struct tm tm;
	size_t k = 0;
	int n;

	for (const char *h = s->helo ? s->helo : "unknown"; *h != '\0' && k + 1 < sizeof(helo); h++)
		helo[k++] = (*h > 0x20 && *h < 0x7f && *h != '(' && *h != ')') ? *h : '?';
	helo[k] = '\0';
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	n = snprintf(buf, sizeof(buf),
	    "Received: from %s ([%s])\r\n\tby %s (sluice) with %s (%s:%s:%d)\r\n\tid %s; %s\r\n", helo,
	    s->client_ip, s->cfg->hostname, s->esmtp ? "ESMTPS" : "SMTPS", s->tlsi->version, s->tlsi->cipher,
	    s->tlsi->bits, s->sid, date);
	if (n > 0 && (size_t)n < sizeof(buf))
		backend_write(s, buf, (size_t)n);
}

/* data_begin - 354 received: the client's next bytes are the message */
void
data_begin(struct session *s)
{
	struct timeval tv = tv_ms(s->cfg->t_data);

	data_free(s);
	s->data = malloc(sizeof(*s->data));
	if (s->data == NULL) {
		sess_close(s, "out of memory");
		return;
	}
	data_scanner_init(s->data, s->cfg->bare);
	s->data_fail = DF_NONE;
	s->data_start_ms = clock_mono_ms();
	sess_enter(s, ST_DATA);
	io_rd_set_timeouts(s->crd, &tv, &tv);
	if (s->tlsi != NULL && s->bbev != NULL)
		received_tls(s); /* XCLIENT has no word for TLS: the header carries it */
	if (s->bbev != NULL)
		policy_headers(s); /* add-header rules */
}

/* data_free - forget the scanner */
void
data_free(struct session *s)
{
	free(s->data);
	s->data = NULL;
}

/* data_abort - the message will not be committed: drop the backend side */
static void
data_abort(struct session *s, enum data_fail why)
{
	if (s->data_fail != DF_NONE)
		return;
	s->data_fail = why;
	s->data->discard = true;
	/* closing without the dot is how a backend transaction is abandoned */
	backend_close(s);
}

/* data_backend_lost - the backend went away while the client sends */
void
data_backend_lost(struct session *s)
{
	if (s->data != NULL && s->data_fail == DF_NONE) {
		s->data_fail = DF_BACKEND;
		s->data->discard = true;
	}
}

/* data_record - the decision record of one message */
static void
data_record(struct session *s, const char *ev, int prio, const char *result, const char *reply, size_t replylen, const char *queue_id)
{
	struct logrec r;

	while (replylen > 0 && (reply[replylen - 1] == '\n' || reply[replylen - 1] == '\r'))
		replylen--;
	logrec_begin(&r, prio, ev, s->sid, true);
	logrec_str(&r, "client", s->client_ip);
	logrec_int(&r, "port", s->client_port);
	logrec_str(&r, "helo", s->helo);
	logrec_str(&r, "from", s->mail_from);
	logrec_strv(&r, "rcpts", s->rcpts, MIN(s->nrcpt, SESS_MAX_RCPT_LOG));
	logrec_int(&r, "nrcpt", s->nrcpt);
	logrec_int(&r, "size", s->data ? (long long)s->data->size : 0);
	logrec_str(&r, "msgid", s->data && s->data->msgidlen ? s->data->msgid : NULL);
	logrec_str(&r, "queue_id", queue_id);
	logrec_str(&r, "result", result);
	logrec_strn(&r, "reply", reply, MIN(replylen, 1024)); /* a record must fit */
	logrec_int(&r, "data_ms", (long long)(clock_mono_ms() - s->data_start_ms));
	sess_record_tail(s, &r);
}

/* sess_record_tail - see session.h: what every decision record ends with */
void
sess_record_tail(const struct session *s, struct logrec *r)
{
	if (s->tlsi != NULL) {
		logrec_str(r, "tls", s->tlsi->version);
		logrec_str(r, "tls_cipher", s->tlsi->cipher);
	}
	logrec_str(r, "auth_user", s->auth_user);
	logrec_str(r, "config", s->cfg->hash);
	logrec_emit(r);
}

/* client_idle_timeouts - back to the between-commands timeout */
static void
client_idle_timeouts(struct session *s)
{
	struct timeval tv = tv_ms(s->cfg->t_idle);

	io_rd_set_timeouts(s->crd, &tv, &tv);
}

/* data_finish - the message is over: back to command mode */
static void
data_finish(struct session *s)
{
	data_free(s);
	sess_enter(s, ST_HELO);
	sess_txn_reset(s);
	client_idle_timeouts(s);
}

static void data_end(struct session *s);

/* eod_resume - a vote that came later: answer, and read what the client pipelined */
static void
eod_resume(struct session *s)
{
	if (s->in_process || (s->flags & SESS_F_CLOSING))
		return; /* voted at once: sess_client_process() goes on by itself */
	fifo_flush(s);
	sess_client_resume(s);
}

/* eod_voted - the filters have voted on the complete message */
static void
eod_voted(void *arg, enum sl_stage st, const struct sl_verdict *v)
{
	struct session *s = arg;
	struct inflight *fi;

	(void)st;
	if (s->flags & SESS_F_CLOSING)
		return; /* the session ended while the filters voted: nothing to answer */
	if (v->action == SL_ACT_CONTINUE && s->data_fail != DF_NONE) {
		data_end(s); /* the backend went away while the filters voted: its 451 */
		eod_resume(s);
		return;
	}
	if (v->action != SL_ACT_CONTINUE) {
		int code = v->code ? v->code : (v->action == SL_ACT_TEMPFAIL ? 451 : 554);

		data_abort(s, DF_NONE);
		fi = fifo_local(s, CMD_DATA, "%d %s %s", code, v->enh ? v->enh : (code >= 500 ? "5.7.1" : "4.7.1"),
		    v->text ? v->text : "Message refused");
		if (fi == NULL)
			return;
		backend_close(s);
		policy_eod_refused(s, v, fi->reply, fi->replylen);
		s->msgs_fail++;
		if (v->action == SL_ACT_DISCONNECT) {
			fi->close_after = true;
			s->close_reason = "policy";
		}
		data_finish(s);
		s->barrier = true;
		eod_resume(s);
		return;
	}
	/* commit: now, and only now, the backend gets the dot */
	fi = fifo_push(s, FI_CLIENT, FW_EOD, CMD_DATA);
	if (fi == NULL || (fi->cmd = strdup(".\r\n")) == NULL) {
		sess_close(s, "out of memory");
		return;
	}
	fi->cmdlen = 3;
	s->barrier = true;
	sess_enter(s, ST_HELO); /* commands after the dot wait for its reply (barrier) */
	client_idle_timeouts(s);
	backend_pump(s);
	eod_resume(s);
}

/* data_end - the client sent the final dot */
static void
data_end(struct session *s)
{
	struct inflight *fi;
	const char *text = NULL, *ev = "msg.reject", *result = NULL;

	switch (s->data_fail) {
	case DF_NONE:
		if (s->data->flags & (DATA_F_BARE_LF | DATA_F_BARE_CR)) {
			struct logrec r;

			logrec_begin(&r, LOG_INFO, "proto.error", s->sid, false);
			logrec_str(&r, "client", s->client_ip);
			logrec_str(&r, "error", "bare LF/CR in DATA, normalised");
			logrec_emit(&r);
		}
		/* the hold point: nothing is committed before the filters agree */
		policy_eod(s, eod_voted);
		return;
	case DF_BARE:
		text = "550 5.6.0 Error: bare <LF> or <CR> in message content (RFC 5321 2.3.8); message rejected";
		result = "bare-lf";
		break;
	case DF_SIZE:
		text = "552 5.3.4 Error: message size exceeds fixed limit";
		result = "too-big";
		break;
	case DF_BACKEND:
		text = "451 4.4.2 Error: lost connection to the mail server; message not delivered, try again later";
		ev = "msg.tempfail";
		result = "backend-lost";
		break;
	case DF_POLICY:
		policy_evidence_end(s); /* the refusal and its decision record */
		s->msgs_fail++;
		data_finish(s);
		s->barrier = true;
		return;
	case DF_COUNT:
		return;
	}
	fi = fifo_local(s, CMD_DATA, "%s", text);
	if (fi == NULL)
		return;
	data_record(s, ev, LOG_NOTICE, result, fi->reply, fi->replylen, NULL);
	s->msgs_fail++;
	data_finish(s);
	s->barrier = true;
}

/* data_eod_reply - the backend answered the dot */
void
data_eod_reply(struct session *s, struct inflight *fi, const struct reply_parser *rp)
{
	char qid[64];
	bool have = esmtp_queue_id(rp->raw, rp->rawlen, qid, sizeof(qid));
	const char *ev = rp->code < 300 ? "msg.accept" : rp->code < 500 ? "msg.tempfail" : "msg.reject";

	fifo_set_reply(fi, rp->raw, rp->rawlen);
	s->b_txn_open = false; /* the dot ends the transaction, whatever the reply */
	if (rp->code == 421) {
		s->b_dead = true;
		fi->close_after = true;
		s->close_reason = "backend said 421";
	}
	data_record(s, ev, rp->code < 300 ? LOG_INFO : LOG_NOTICE,
	    rp->code < 300 ? "accepted" : "backend-refused", rp->raw, rp->rawlen, have ? qid : NULL);
	if (rp->code < 300) {
		s->msgs_ok++;
	} else {
		s->msgs_fail++;
	}
	data_free(s);
	sess_txn_reset(s);
}

/* data_eod_lost - the backend went away before answering the dot */
void
data_eod_lost(struct session *s, struct inflight *fi)
{
	fifo_set_replyf(fi, "451 4.4.2 Error: lost connection to the mail server; message not delivered, try again later");
	data_record(s, "msg.tempfail", LOG_NOTICE, "backend-lost", fi->reply, fi->replylen, NULL);
	s->msgs_fail++;
	data_free(s);
	sess_txn_reset(s);
}

static void data_process_corked(struct session *s);

/* data_process - stream client bytes; one backend write per pass */
void
data_process(struct session *s)
{
	backend_cork(s);
	data_process_corked(s);
	backend_uncork(s);
}

/* data_process_corked - see data_process */
static void
data_process_corked(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->cbev);
	struct data_sink sink = { data_sink_out, s };

	while (s->state == ST_DATA && !(s->flags & SESS_F_CLOSING)) {
		struct evbuffer_iovec v;
		enum data_rc rc;
		size_t used;

		if (s->bbev != NULL && evbuffer_get_length(bufferevent_get_output(s->bbev)) > BACKEND_OUT_HIGH) {
			/* the backend is slower than the client: stop reading the client */
			s->flags |= SESS_F_CPAUSED;
			io_rd_disable(s->crd, EV_READ);
			bufferevent_setwatermark(s->bbev, EV_WRITE, BACKEND_OUT_LOW, 0);
			return;
		}
		if (policy_waiting(s))
			return; /* the final dot is in, the vote is not: what follows waits */
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return;
		used = data_scan(s->data, v.iov_base, v.iov_len, &sink, &rc);
		evbuffer_drain(in, used);
		if (s->data_fail == DF_NONE && s->cfg->bare == DATA_BARE_REJECT &&
		    (s->data->flags & (DATA_F_BARE_LF | DATA_F_BARE_CR)))
			data_abort(s, DF_BARE);
		if (s->data_fail == DF_NONE && s->data->size > s->cfg->message_size)
			data_abort(s, DF_SIZE);
		if (rc == DATA_END) {
			data_end(s);
			return;
		}
	}
}
