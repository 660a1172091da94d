/* filters/dnsbl.c: the DNS-list filter: lookups, score, verdict, evidence */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "dns.h"
#include "dnsbl.h"
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

enum q_state { Q_IDLE = 0, Q_PENDING, Q_DONE };
enum q_result { R_NONE = 0, R_LISTED, R_CLEAN, R_FAILED, R_TIMEOUT, R_SKIPPED, R_COUNT };

static const char *const result_names[R_COUNT] = {
	"none", "listed", "not-listed", "unavailable", "timeout", "skipped",
};

#define Q_MAX_ADDR 4

struct dnsbl_sess;

struct dnsbl_q {
	struct dnsbl_sess *ds;      /* weak: owner */
	const struct dnsbl_list *l; /* borrowed from the configuration */
	uint8_t state;              /* enum q_state */
	uint8_t result;             /* enum q_result */
	bool cached;
	struct dns_req *req, *treq; /* A and TXT lookups in flight */
	uint16_t plen;              /* qname bytes before the key/zone part */
	char qname[DNS_NAME_MAX + 1];
	char target[DNS_NAME_MAX + 1]; /* what was asked about */
	uint64_t t_start;
	unsigned latency_ms;
	uint32_t ttl;
	unsigned naddr;
	struct in_addr addr[Q_MAX_ADDR];
	char txt[256];
	char error[64];
};

struct dnsbl_sess {
	const struct dnsbl_conf *c;
	struct sl_sess *ss;
	struct event *timer;        /* owned: the verdict's wait */
	bool in_hook, waiting, resuming, recorded, allowed;
	const char *allowed_by;     /* "allow" (CIDR), "allow_threshold", "auth" */
	uint64_t wait_start;
	unsigned waited_ms;
	struct dns_req *ptr_req;
	uint8_t ptr_state;          /* enum q_state */
	char ptr[DNS_NAME_MAX + 1];
	/* the last evaluation */
	int score;
	const struct dnsbl_q *decisive; /* the list named in the reply */
	char ref[REF_LEN + 1];
	char text[DNSBL_TEXT_MAX + 1];
	char lists[256];            /* matched zones, comma-separated */
	const char *result;
	unsigned nq;
	struct dnsbl_q q[];         /* one per configured list */
};

/* ---- query names ---- */

/* rev_ip - the reversed address labels of sa ("4.3.2.1" / 32 nibbles), or -1 */
static int
rev_ip(const struct sockaddr *sa, char *out, size_t outsz, bool *v6)
{
	const uint8_t *b;

	*v6 = false;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (!IN6_IS_ADDR_V4MAPPED(a)) {
			static const char hex[] = "0123456789abcdef";
			size_t n = 0;

			if (outsz < 64)
				return -1;
			for (int i = 15; i >= 0; i--) {
				out[n++] = hex[a->s6_addr[i] & 15];
				out[n++] = '.';
				out[n++] = hex[a->s6_addr[i] >> 4];
				out[n++] = '.';
			}
			out[n - 1] = '\0';
			*v6 = true;
			return 0;
		}
		b = a->s6_addr + 12;
	} else if (sa->sa_family == AF_INET) {
		b = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else {
		return -1;
	}
	snprintf(out, outsz, "%u.%u.%u.%u", b[3], b[2], b[1], b[0]);
	return 0;
}

/* domain_of - the domain part of an address, lowercased; NULL when none */
static const char *
domain_of(const char *addr, char *buf, size_t bufsz)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;
	size_t n;

	if (at == NULL || at[1] == '\0' || at[1] == '[')
		return NULL;
	n = strlen(at + 1);
	while (n > 0 && at[1 + n - 1] == '.')
		n--;
	if (n == 0 || n >= bufsz)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char ch = at[1 + i];

		buf[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
	}
	buf[n] = '\0';
	return buf;
}

/* helo_domain - a HELO name worth asking about (a dotted name, not a literal) */
static const char *
helo_domain(const char *helo, char *buf, size_t bufsz)
{
	size_t n;
	struct in_addr a;

	if (helo == NULL || helo[0] == '[' || strchr(helo, '.') == NULL || inet_pton(AF_INET, helo, &a) == 1)
		return NULL;
	n = strlen(helo);
	while (n > 0 && helo[n - 1] == '.')
		n--;
	if (n == 0 || n >= bufsz)
		return NULL;
	for (size_t i = 0; i < n; i++)
		buf[i] = (helo[i] >= 'A' && helo[i] <= 'Z') ? (char)(helo[i] + 32) : helo[i];
	buf[n] = '\0';
	return buf;
}

/* qname_build - "<subject>.[<key>.]<zone>"; -1 when too long for DNS */
static int
qname_build(struct dnsbl_q *q, const char *subject)
{
	int n = snprintf(q->qname, sizeof(q->qname), "%s.%s%s%s", subject, q->l->key, q->l->key[0] ? "." : "",
	    q->l->spec.zone);

	q->plen = (uint16_t)(strlen(subject) + 1);
	return (n < 0 || n > 253) ? -1 : 0;
}

/* qname_redacted - the query name as logged: the key never appears */
static const char *
qname_redacted(const struct dnsbl_q *q, char *buf, size_t bufsz)
{
	if (q->l->key[0] == '\0')
		return q->qname;
	snprintf(buf, bufsz, "%.*s<key>.%s", (int)q->plen, q->qname, q->l->spec.zone);
	return buf;
}

/* ---- answers ---- */

static void progress(struct dnsbl_sess *ds);

/* is_error_code - an answer that says "the list failed", not "listed" */
static bool
is_error_code(const struct dnsbl_sess *ds, const struct dnsbl_list *l, struct in_addr a)
{
	const uint8_t *b = (const uint8_t *)&a;

	if (b[0] != 127)
		return true; /* not a DNS list answer: a wildcarding resolver, a hijack */
	for (unsigned i = 0; i < l->nerr; i++)
		if (dnsbl_pattern_match(&l->err[i], a))
			return true;
	for (unsigned i = 0; i < ds->c->nerr; i++)
		if (dnsbl_pattern_match(&ds->c->err[i], a))
			return true;
	return false;
}

/* redact_key - a TXT that echoes the query name must not leak the key */
static void
redact_key(char *txt, size_t sz, const char *key)
{
	char *p;

	if (key[0] == '\0')
		return;
	while ((p = strstr(txt, key)) != NULL) {
		size_t klen = strlen(key), rest = strlen(p + klen);

		if ((size_t)(p - txt) + 5 + rest + 1 > sz)
			rest = sz - (size_t)(p - txt) - 5 - 1;
		memmove(p + 5, p + klen, rest);
		p[5 + rest] = '\0';
		memcpy(p, "<key>", 5);
	}
}

/* count - a list's answer, for its counters (dnsbl_stats) */
static void
count(const struct dnsbl_q *q)
{
	struct dnsbl_counters *k = q->l->cnt;

	atomic_fetch_add(&k->queries, 1);
	if (q->result == R_LISTED)
		atomic_fetch_add(&k->listed, 1);
	else if (q->result == R_CLEAN)
		atomic_fetch_add(&k->clean, 1);
	else if (q->result == R_FAILED)
		atomic_fetch_add(&k->failed, 1);
	else if (q->result == R_TIMEOUT)
		atomic_fetch_add(&k->timeouts, 1);
}

/* q_done - a list's lookups are over */
static void
q_done(struct dnsbl_q *q, enum q_result r)
{
	q->state = Q_DONE;
	q->result = (uint8_t)r;
	count(q);
	progress(q->ds);
}

/* txt_answer - the reason of a listing */
static void
txt_answer(void *arg, const struct dns_result *r)
{
	struct dnsbl_q *q = arg;

	q->treq = NULL;
	if (r->status == DNS_OK) {
		size_t n = strnlen(r->txt, sizeof(q->txt) - 1);

		memcpy(q->txt, r->txt, n);
		q->txt[n] = '\0';
		redact_key(q->txt, sizeof(q->txt), q->l->key);
	}
	q_done(q, R_LISTED);
}

/* a_answer - the list's A answer */
static void
a_answer(void *arg, const struct dns_result *r)
{
	struct dnsbl_q *q = arg;
	bool listed = false, failed = false;

	q->req = NULL;
	q->latency_ms = r->cached ? 0 : (unsigned)(clock_mono_ms() - q->t_start);
	q->cached = r->cached;
	q->ttl = r->ttl;
	switch (r->status) {
	case DNS_OK:
		q->naddr = MIN(r->naddr, Q_MAX_ADDR);
		memcpy(q->addr, r->addr, q->naddr * sizeof(q->addr[0]));
		for (unsigned i = 0; i < r->naddr; i++) {
			if (is_error_code(q->ds, q->l, r->addr[i])) {
				char a[INET_ADDRSTRLEN];

				inet_ntop(AF_INET, &r->addr[i], a, sizeof(a));
				snprintf(q->error, sizeof(q->error), "error code %s", a);
				failed = true;
			} else if (dnsbl_spec_match(&q->l->spec, r->addr[i])) {
				listed = true;
			}
		}
		if (failed) {
			q_done(q, R_FAILED); /* an error code spoils the whole answer */
		} else if (listed && q->l->txt) {
			struct dns_result now;
			int rc = dns_query(q->ds->ss->dns, DNS_T_TXT, q->qname, txt_answer, q, &now, &q->treq);

			if (rc == 1)
				txt_answer(q, &now);
			else if (rc < 0)
				q_done(q, R_LISTED);
		} else {
			q_done(q, listed ? R_LISTED : R_CLEAN);
		}
		return;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		q_done(q, R_CLEAN);
		return;
	case DNS_TIMEOUT:
		snprintf(q->error, sizeof(q->error), "timeout");
		q_done(q, R_TIMEOUT);
		return;
	default:
		snprintf(q->error, sizeof(q->error), "%s", dns_status_name(r->status));
		q_done(q, R_FAILED);
		return;
	}
}

/* q_start - ask list q about subject (a reversed address or a domain) */
static void
q_start(struct dnsbl_q *q, const char *subject, const char *target)
{
	struct dns_result now;
	int rc;

	dns_cancel(q->req);
	dns_cancel(q->treq);
	memset(&q->state, 0, sizeof(*q) - offsetof(struct dnsbl_q, state));
	snprintf(q->target, sizeof(q->target), "%s", target);
	if (q->ds->ss->dns == NULL || qname_build(q, subject) < 0) {
		snprintf(q->error, sizeof(q->error), q->ds->ss->dns ? "query name too long" : "no resolver");
		q->state = Q_DONE;
		q->result = q->ds->ss->dns ? R_SKIPPED : R_FAILED;
		return;
	}
	q->state = Q_PENDING;
	q->t_start = clock_mono_ms();
	rc = dns_query(q->ds->ss->dns, DNS_T_A, q->qname, a_answer, q, &now, &q->req);
	if (rc == 1) {
		a_answer(q, &now);
	} else if (rc < 0) {
		snprintf(q->error, sizeof(q->error), "local resolver error");
		q_done(q, R_FAILED);
	}
}

/* start_on - ask every list of one kind about subject */
static void
start_on(struct dnsbl_sess *ds, enum dnsbl_on on, const char *subject, const char *target)
{
	for (unsigned i = 0; i < ds->nq; i++) {
		struct dnsbl_q *q = &ds->q[i];

		if (q->l->on != on)
			continue;
		if (subject == NULL) {
			dns_cancel(q->req);
			dns_cancel(q->treq);
			memset(&q->state, 0, sizeof(*q) - offsetof(struct dnsbl_q, state));
			continue;
		}
		q_start(q, subject, target);
	}
}

/* ptr_answer - the client's PTR name: now the ptr lists can be asked */
static void
ptr_answer(void *arg, const struct dns_result *r)
{
	struct dnsbl_sess *ds = arg;

	ds->ptr_req = NULL;
	ds->ptr_state = Q_DONE;
	if (r->status == DNS_OK && r->name[0] != '\0') {
		snprintf(ds->ptr, sizeof(ds->ptr), "%s", r->name);
		fact_set_str(ds->ss->facts, "rdns.name", ds->ptr);
		start_on(ds, DNSBL_ON_PTR, ds->ptr, ds->ptr);
	} else {
		for (unsigned i = 0; i < ds->nq; i++)
			if (ds->q[i].l->on == DNSBL_ON_PTR) {
				ds->q[i].state = Q_DONE;
				ds->q[i].result = R_SKIPPED;
				snprintf(ds->q[i].error, sizeof(ds->q[i].error), "no PTR name (%s)", dns_status_name(r->status));
			}
	}
	progress(ds);
}

/* start_connect - the client address lists, and the PTR name if a list wants it */
static void
start_connect(struct dnsbl_sess *ds)
{
	char rev[80], target[INET6_ADDRSTRLEN + 2], pname[96];
	bool v6, want_ptr = false;

	if (rev_ip(ds->ss->client_sa, rev, sizeof(rev), &v6) < 0)
		return;
	snprintf(target, sizeof(target), "[%s]", ds->ss->client_ip);
	start_on(ds, DNSBL_ON_IP, rev, target);
	for (unsigned i = 0; i < ds->nq; i++)
		want_ptr |= ds->q[i].l->on == DNSBL_ON_PTR;
	if (want_ptr && ds->ss->dns != NULL) {
		struct dns_result now;
		int rc;

		snprintf(pname, sizeof(pname), "%s.%s", rev, v6 ? "ip6.arpa" : "in-addr.arpa");
		ds->ptr_state = Q_PENDING;
		rc = dns_query(ds->ss->dns, DNS_T_PTR, pname, ptr_answer, ds, &now, &ds->ptr_req);
		if (rc == 1) {
			ptr_answer(ds, &now);
		} else if (rc < 0) {
			now.status = DNS_ERROR;
			now.name[0] = '\0';
			ptr_answer(ds, &now);
		}
	}
}

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
			count(q);
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

/* progress - an answer arrived: settle early allows, wake a waiting verdict */
static void
progress(struct dnsbl_sess *ds)
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
			if (dnsbl_cidr_match(ds->c, ds->ss->client_sa)) {
				ds->allowed = true;
				ds->allowed_by = "allow";
			} else {
				start_connect(ds);
			}
			break;
		case SL_STAGE_HELO:
			if (!ds->allowed)
				start_on(ds, DNSBL_ON_HELO, helo_domain(ds->ss->helo, buf, sizeof(buf)),
				    helo_domain(ds->ss->helo, buf, sizeof(buf)));
			break;
		case SL_STAGE_MAIL:
			ds->recorded = false; /* a new transaction is worth its own record */
			if (!ds->allowed)
				start_on(ds, DNSBL_ON_SENDER, domain_of(ds->ss->mail_from, buf, sizeof(buf)),
				    domain_of(ds->ss->mail_from, buf, sizeof(buf)));
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
		w->str(w->ctx, "query", qname_redacted(q, buf, sizeof(buf)));
		w->str(w->ctx, "result", q->state == Q_PENDING ? "pending" : result_names[q->result]);
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
