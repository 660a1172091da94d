/* filters/dnsbl_query.c: the dnsbl filter's lookups: query names, answers, list failures */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsbl-int.h"

const char *const dnsbl_result_names[R_COUNT] = {
	"none", "listed", "not-listed", "unavailable", "timeout", "skipped",
};

/* ---- query names ---- */

/* dnsbl_domain_of - the domain part of an address, lowercased; NULL when none */
const char *
dnsbl_domain_of(const char *addr, char *buf, size_t bufsz)
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

/* dnsbl_helo_domain - a HELO name worth asking about (a dotted name, not a literal) */
const char *
dnsbl_helo_domain(const char *helo, char *buf, size_t bufsz)
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

/* dnsbl_qname_redacted - the query name as logged: the key never appears */
const char *
dnsbl_qname_redacted(const struct dnsbl_q *q, char *buf, size_t bufsz)
{
	if (q->l->key[0] == '\0')
		return q->qname;
	snprintf(buf, bufsz, "%.*s<key>.%s", (int)q->plen, q->qname, q->l->spec.zone);
	return buf;
}

/* ---- answers ---- */

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

/* dnsbl_count - a list's answer, for its counters (dnsbl_stats) */
void
dnsbl_count(const struct dnsbl_q *q)
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
	dnsbl_count(q);
	dnsbl_progress(q->ds);
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

/* dnsbl_start_on - ask every list of one kind about subject */
void
dnsbl_start_on(struct dnsbl_sess *ds, enum dnsbl_on on, const char *subject, const char *target)
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
		dnsbl_start_on(ds, DNSBL_ON_PTR, ds->ptr, ds->ptr);
	} else {
		for (unsigned i = 0; i < ds->nq; i++)
			if (ds->q[i].l->on == DNSBL_ON_PTR) {
				ds->q[i].state = Q_DONE;
				ds->q[i].result = R_SKIPPED;
				snprintf(ds->q[i].error, sizeof(ds->q[i].error), "no PTR name (%s)", dns_status_name(r->status));
			}
	}
	dnsbl_progress(ds);
}

/* dnsbl_start_connect - the client address lists, and the PTR name if a list wants it */
void
dnsbl_start_connect(struct dnsbl_sess *ds)
{
	char rev[80], target[INET6_ADDRSTRLEN + 2], pname[96];
	bool v6, want_ptr = false;

	if (dns_rev_labels(ds->ss->client_sa, rev, sizeof(rev), &v6) < 0)
		return;
	snprintf(target, sizeof(target), "[%s]", ds->ss->client_ip);
	dnsbl_start_on(ds, DNSBL_ON_IP, rev, target);
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

