/* filters/dnsbl.c: the DNS-list filter: waiting, score, verdict, evidence (lookups: dnsbl_query.c) */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "dnsbl-int.h"
#include "set.h"
#include "template.h"
#include "util.h"

/*
 * Every list is asked as soon as its subject is known: the client address
 * at connect (and its PTR name once looked up), the HELO name at HELO, the
 * sender domain at MAIL. The verdict waits at its stage (rcpt by default)
 * for whatever is still out, and a session waits no longer than the
 * configured timeout in total: what has not answered by then counts as a
 * timeout. Answers outside 127.0.0.0/8 and the lists' error codes are list
 * failures, never listings.
 */

/* ---- the verdict ---- */

/* pending - anything still out */
static bool
pending(const struct dnsbl_sess *ds)
{
	if (ds->ptr_state == Q_PENDING)
		return true;
	for (unsigned i = 0; i < ds->nq; i++)
		if (ds->q[i].state == Q_PENDING)
			return true;
	return false;
}

/* expire - the session waited long enough: whatever is out timed out */
static void
expire(struct dnsbl_sess *ds, const char *why)
{
	if (ds->ptr_state == Q_PENDING) {
		dns_cancel(ds->ptr_req);
		ds->ptr_req = NULL;
		ds->ptr_state = Q_DONE;
		for (unsigned i = 0; i < ds->nq; i++)
			if (ds->q[i].l->on == DNSBL_ON_PTR && ds->q[i].state == Q_IDLE) {
				ds->q[i].state = Q_DONE;
				ds->q[i].result = R_TIMEOUT;
				snprintf(ds->q[i].error, sizeof(ds->q[i].error), "PTR lookup %s", why);
			}
	}
	for (unsigned i = 0; i < ds->nq; i++) {
		struct dnsbl_q *q = &ds->q[i];

		if (q->state != Q_PENDING)
			continue;
		dns_cancel(q->req);
		dns_cancel(q->treq);
		q->req = q->treq = NULL;
		q->state = Q_DONE;
		if (q->result != R_LISTED) /* a listing whose TXT is late stays a listing */
			q->result = R_TIMEOUT;
		if (strncmp(why, "skipped", 7) != 0)
			dnsbl_count(q);
		q->latency_ms = (unsigned)(clock_mono_ms() - q->t_start);
		snprintf(q->error, sizeof(q->error), "%s", why);
	}
}

/* score - the sum of matching weights and failure scores */
static int
score(struct dnsbl_sess *ds, const struct dnsbl_q **tempfail)
{
	long s = 0;
	size_t n = 0;

	ds->decisive = NULL;
	ds->lists[0] = '\0';
	*tempfail = NULL;
	for (unsigned i = 0; i < ds->nq; i++) {
		const struct dnsbl_q *q = &ds->q[i];

		if (q->state != Q_DONE)
			continue;
		if (q->result == R_LISTED && !q->l->log_only) {
			s += q->l->spec.weight;
			if (q->l->spec.weight > 0 && (ds->decisive == NULL || q->l->spec.weight > ds->decisive->l->spec.weight))
				ds->decisive = q;
			if (q->l->spec.weight > 0)
				n += (size_t)snprintf(ds->lists + n, sizeof(ds->lists) - MIN(n, sizeof(ds->lists)), "%s%s",
				    n ? "," : "", q->l->spec.zone);
			n = MIN(n, sizeof(ds->lists) - 1);
		} else if (q->result == R_FAILED || q->result == R_TIMEOUT) {
			if (q->l->fail == DNSBL_FAIL_SCORE)
				s += q->l->fail_score;
			else if (q->l->fail == DNSBL_FAIL_TEMPFAIL && *tempfail == NULL)
				*tempfail = q;
		}
	}
	return (int)MAX(MIN(s, 100000000L), -100000000L);
}

/* allowed_early - allow lists alone already reach the allow threshold */
static bool
allowed_early(const struct dnsbl_sess *ds)
{
	long s = 0;

	if (!ds->c->have_allow_threshold)
		return false;
	for (unsigned i = 0; i < ds->nq; i++) {
		const struct dnsbl_q *q = &ds->q[i];

		if (q->state == Q_DONE && q->result == R_LISTED && !q->l->log_only && q->l->spec.weight < 0)
			s += q->l->spec.weight;
	}
	return s <= ds->c->allow_threshold;
}

/* timer_cb - the wait is over, answered or not */
static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dnsbl_sess *ds = arg;

	(void)fd;
	(void)what;
	ds->waited_ms += (unsigned)(clock_mono_ms() - ds->wait_start);
	ds->waiting = false;
	expire(ds, "timeout (session list wait exhausted)");
	ds->resuming = true;
	ds->ss->resume(ds->ss, ds);
}

/* dnsbl_progress - see dnsbl-int.h: an answer arrived: settle early allows, wake a waiting verdict */
void
dnsbl_progress(struct dnsbl_sess *ds)
{
	if (!ds->allowed && allowed_early(ds)) {
		ds->allowed = true;
		ds->allowed_by = "allow_threshold";
		expire(ds, "skipped: client allowed");
		for (unsigned i = 0; i < ds->nq; i++)
			if (ds->q[i].result == R_TIMEOUT)
				ds->q[i].result = R_SKIPPED;
	}
	if (ds->in_hook || !ds->waiting || pending(ds))
		return;
	ds->waiting = false;
	ds->waited_ms += (unsigned)(clock_mono_ms() - ds->wait_start);
	evtimer_del(ds->timer);
	ds->resuming = true;
	ds->ss->resume(ds->ss, ds);
}

/* tpl_field - the template fields (dnsbl_tpl_fields) */
static const char *
tpl_field(void *arg, const char *name, size_t n)
{
	static __thread char buf[320];
	struct dnsbl_sess *ds = arg;
	const struct dnsbl_q *q = ds->decisive;

#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
	if (IS("client.ip"))
		return ds->ss->client_ip;
	if (IS("helo"))
		return ds->ss->helo;
	if (IS("sender"))
		return ds->ss->mail_from;
	if (IS("ref"))
		return ds->ref;
	if (IS("lists"))
		return ds->lists;
	if (IS("score") || IS("threshold")) {
		snprintf(buf, sizeof(buf), "%d", IS("score") ? ds->score : ds->c->threshold);
		return buf;
	}
	if (q == NULL)
		return NULL;
	if (IS("list"))
		return q->l->spec.zone;
	if (IS("listed"))
		return q->target;
	if (IS("txt"))
		return q->txt;
	if (IS("answer") || IS("reason")) {
		char a[INET_ADDRSTRLEN] = "";

		if (q->naddr > 0)
			inet_ntop(AF_INET, &q->addr[0], a, sizeof(a));
		if (IS("answer"))
			snprintf(buf, sizeof(buf), "%s", a);
		else if (q->result == R_LISTED && q->txt[0] != '\0')
			snprintf(buf, sizeof(buf), "%s: \"%.200s\"", a, q->txt);
		else if (q->result == R_LISTED)
			snprintf(buf, sizeof(buf), "%s", a);
		else
			snprintf(buf, sizeof(buf), "%s", q->error);
		return buf;
	}
#undef IS
	return NULL;
}

/* report_cb - sl_filter.report for the verdict */
static void dnsbl_report(void *ctx, const struct sl_report *w);

/* verdict - score the answers and decide (nothing is pending any more) */
static void
verdict(struct dnsbl_sess *ds, struct sl_verdict *v)
{
	const struct dnsbl_q *tf;
	bool hits = false, failures = false;

	ds->score = score(ds, &tf);
	for (unsigned i = 0; i < ds->nq; i++) {
		hits |= ds->q[i].result == R_LISTED;
		failures |= ds->q[i].result == R_FAILED || ds->q[i].result == R_TIMEOUT;
	}
	fact_set_int(ds->ss->facts, "dnsbl.score", ds->score);
	fact_set_str(ds->ss->facts, "dnsbl.lists", ds->lists);
	v->report = dnsbl_report;
	v->report_ctx = ds;
	v->ref = ds->ref;
	if (!ds->allowed && ds->c->have_allow_threshold && ds->score <= ds->c->allow_threshold) {
		ds->allowed = true;
		ds->allowed_by = "allow_threshold";
	}
	fact_set_bool(ds->ss->facts, "dnsbl.allowed", ds->allowed);
	fact_set_bool(ds->ss->facts, "dnsbl.listed", !ds->allowed && ds->score >= ds->c->threshold);
	if (!ds->c->verdict) {
		ds->result = "facts-only";
		return; /* the rules decide on dnsbl.score, dnsbl.listed, dnsbl.lists */
	}
	if (!ds->allowed && ds->score >= ds->c->threshold) {
		const char *tpl = ds->decisive && ds->decisive->l->reply ? ds->decisive->l->reply : ds->c->reply;

		ref_new(ds->ref);
		tpl_render(ds->text, sizeof(ds->text), tpl, tpl_field, ds);
		v->action = SL_ACT_REJECT;
		v->code = ds->c->code;
		v->enh = ds->c->enh;
		v->text = ds->text;
		v->why = ds->result = "listed";
		return;
	}
	if (!ds->allowed && tf != NULL) {
		ref_new(ds->ref);
		ds->decisive = tf;
		tpl_render(ds->text, sizeof(ds->text), ds->c->treply, tpl_field, ds);
		v->action = SL_ACT_TEMPFAIL;
		v->code = ds->c->tcode;
		v->enh = ds->c->tenh;
		v->text = ds->text;
		v->why = ds->result = "list-unavailable";
		return;
	}
	/* a pass worth a record: allowed by a list, listed below the threshold, a list failed */
	ds->result = ds->allowed ? "allowed" : hits ? "below-threshold" : failures ? "list-unavailable" : "clean";
	v->why = ds->result;
	if ((hits || failures || ds->allowed) && !ds->recorded) {
		ds->recorded = true;
		ref_new(ds->ref);
		v->record = true;
	}
}

/* ---- the filter interface ---- */

/* dnsbl_stages - see sl_filter.stages */
static unsigned
dnsbl_stages(const void *conf)
{
	const struct dnsbl_conf *c = conf;
	unsigned m = (1u << SL_STAGE_CONNECT) | (1u << c->stage);

	for (unsigned i = 0; i < c->nlists; i++) {
		if (c->lists[i].on == DNSBL_ON_HELO)
			m |= 1u << SL_STAGE_HELO;
		if (c->lists[i].on == DNSBL_ON_SENDER)
			m |= 1u << SL_STAGE_MAIL;
	}
	return m;
}

/* dnsbl_attach - see sl_filter.attach */
static void *
dnsbl_attach(const void *conf, struct sl_sess *ss)
{
	const struct dnsbl_conf *c = conf;
	struct dnsbl_sess *ds = calloc(1, sizeof(*ds) + c->nlists * sizeof(ds->q[0]));

	if (ds == NULL)
		return NULL;
	ds->c = c;
	ds->ss = ss;
	ds->nq = c->nlists;
	for (unsigned i = 0; i < ds->nq; i++) {
		ds->q[i].ds = ds;
		ds->q[i].l = &c->lists[i];
	}
	return ds;
}

/* dnsbl_detach - see sl_filter.attach: nothing calls back after this */
static void
dnsbl_detach(void *ctx)
{
	struct dnsbl_sess *ds = ctx;

	dns_cancel(ds->ptr_req);
	for (unsigned i = 0; i < ds->nq; i++) {
		dns_cancel(ds->q[i].req);
		dns_cancel(ds->q[i].treq);
	}
	if (ds->timer != NULL)
		event_free(ds->timer);
	free(ds);
}

/* dnsbl_hook - see sl_filter.hook */
static enum sl_hook_rc
dnsbl_hook(void *ctx, enum sl_stage st, struct sl_verdict *v)
{
	struct dnsbl_sess *ds = ctx;
	char buf[DNS_NAME_MAX + 1];

	if (!ds->resuming) {
		ds->in_hook = true;
		switch (st) {
		case SL_STAGE_CONNECT:
			if (ds->c->allow != NULL && set_has(ds->c->allow, ds->ss->client_ip)) {
				ds->allowed = true;
				ds->allowed_by = "allow";
			} else {
				dnsbl_start_connect(ds);
			}
			break;
		case SL_STAGE_HELO:
			if (!ds->allowed)
				dnsbl_start_on(ds, DNSBL_ON_HELO, dnsbl_helo_domain(ds->ss->helo, buf, sizeof(buf)),
				    dnsbl_helo_domain(ds->ss->helo, buf, sizeof(buf)));
			break;
		case SL_STAGE_MAIL:
			ds->recorded = false; /* a new transaction is worth its own record */
			if (!ds->allowed)
				dnsbl_start_on(ds, DNSBL_ON_SENDER, dnsbl_domain_of(ds->ss->mail_from, buf, sizeof(buf)),
				    dnsbl_domain_of(ds->ss->mail_from, buf, sizeof(buf)));
			break;
		default:
			break;
		}
		ds->in_hook = false;
	}
	ds->resuming = false;
	if (st != ds->c->stage)
		return SL_HOOK_CONTINUE;
	if (ds->ss->authenticated) {
		v->why = "authenticated";
		return SL_HOOK_CONTINUE; /* a roaming user on a listed address may send */
	}
	if (pending(ds) && !ds->allowed) {
		struct timeval tv;

		if (ds->waited_ms >= ds->c->timeout_ms) {
			expire(ds, "timeout (session list wait exhausted)");
		} else {
			if (ds->timer == NULL && (ds->timer = evtimer_new(ds->ss->base, timer_cb, ds)) == NULL)
				return SL_HOOK_ERROR;
			tv = tv_ms(ds->c->timeout_ms - ds->waited_ms);
			evtimer_add(ds->timer, &tv);
			ds->wait_start = clock_mono_ms();
			ds->waiting = true;
			return SL_HOOK_PENDING;
		}
	}
	verdict(ds, v);
	return SL_HOOK_CONTINUE;
}

/* dnsbl_report - see sl_filter.report: every list consulted, as asked and answered */
static void
dnsbl_report(void *ctx, const struct sl_report *w)
{
	struct dnsbl_sess *ds = ctx;
	char buf[DNS_NAME_MAX + 16], a[INET_ADDRSTRLEN];

	w->num(w->ctx, "score", ds->score);
	w->num(w->ctx, "threshold", ds->c->threshold);
	if (ds->c->have_allow_threshold)
		w->num(w->ctx, "allow_threshold", ds->c->allow_threshold);
	w->str(w->ctx, "result", ds->result);
	w->str(w->ctx, "allowed_by", ds->allowed ? ds->allowed_by : NULL);
	w->str(w->ctx, "stage", ds->c->stage == SL_STAGE_CONNECT ? "connect" : ds->c->stage == SL_STAGE_HELO ? "helo"
	    : ds->c->stage == SL_STAGE_MAIL ? "mail" : ds->c->stage == SL_STAGE_RCPT ? "rcpt" : "data");
	w->num(w->ctx, "waited_ms", ds->waited_ms);
	if (ds->ptr_state != Q_IDLE)
		w->str(w->ctx, "ptr", ds->ptr[0] ? ds->ptr : NULL);
	w->open(w->ctx, "lists", true);
	for (unsigned i = 0; i < ds->nq; i++) {
		const struct dnsbl_q *q = &ds->q[i];
		int applied = 0;

		if (q->state == Q_IDLE)
			continue;
		if (q->result == R_LISTED && !q->l->log_only)
			applied = q->l->spec.weight;
		else if ((q->result == R_FAILED || q->result == R_TIMEOUT) && q->l->fail == DNSBL_FAIL_SCORE)
			applied = q->l->fail_score;
		w->open(w->ctx, NULL, false);
		w->str(w->ctx, "list", q->l->spec.zone);
		w->str(w->ctx, "on", dnsbl_on_name(q->l->on));
		w->str(w->ctx, "subject", q->target);
		w->str(w->ctx, "query", dnsbl_qname_redacted(q, buf, sizeof(buf)));
		w->str(w->ctx, "result", q->state == Q_PENDING ? "pending" : dnsbl_result_names[q->result]);
		w->open(w->ctx, "answers", true);
		for (unsigned k = 0; k < q->naddr; k++) {
			inet_ntop(AF_INET, &q->addr[k], a, sizeof(a));
			w->str(w->ctx, NULL, a);
		}
		w->close(w->ctx, true);
		w->str(w->ctx, "txt", q->txt[0] ? q->txt : NULL);
		w->num(w->ctx, "ttl", q->ttl);
		w->num(w->ctx, "latency_ms", q->latency_ms);
		w->str(w->ctx, "cached", q->cached ? "yes" : "no");
		w->str(w->ctx, "error", q->error[0] ? q->error : NULL);
		w->num(w->ctx, "weight", q->l->spec.weight);
		w->num(w->ctx, "applied", applied);
		if (q->l->log_only)
			w->str(w->ctx, "log_only", "yes");
		if (q->result == R_FAILED || q->result == R_TIMEOUT)
			w->str(w->ctx, "on_failure", dnsbl_fail_name(q->l->fail));
		w->close(w->ctx, false);
	}
	w->close(w->ctx, true);
}

const struct sl_filter dnsbl_filter = {
	.abi = SL_FILTER_ABI,
	.name = "dnsbl",
	.conf_new = dnsbl_conf_new,
	.conf_free = dnsbl_conf_free,
	.stages = dnsbl_stages,
	.attach = dnsbl_attach,
	.detach = dnsbl_detach,
	.hook = dnsbl_hook,
	.report = dnsbl_report,
	.stats = dnsbl_stats,
};
