/* proxy/dns.c: asynchronous DNS for one worker: c-ares on the event loop, a TTL cache */
#include <ares.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "dns.h"
#include "util.h"

#define DNS_BUCKETS 1024

struct sockev {
	struct sockev *next;
	ares_socket_t fd;
	struct event *ev; /* owned */
	struct dns *d;    /* weak */
};

struct dns_req {
	struct dns_req *next;
	dns_cb cb;
	void *arg;
	bool cancelled;
};

struct centry {
	struct centry *hnext;        /* hash chain */
	TAILQ_ENTRY(centry) age;     /* oldest first */
	struct dns *d;               /* weak */
	uint16_t type;
	bool pending;                /* a query is out */
	bool delivering;             /* answer_cb is calling its waiters */
	char *name;                  /* owned, lower case */
	uint64_t started_ms, expires_ms;
	struct dns_req *waiters;     /* owned */
	struct dns_result res;
};
TAILQ_HEAD(centry_q, centry);

struct dns {
	struct event_base *base;     /* borrowed */
	ares_channel ch;
	struct event *timer;         /* owned: c-ares timeouts */
	struct sockev *socks;        /* owned */
	struct centry *bucket[DNS_BUCKETS];
	struct centry_q age;
	unsigned nentries;
	struct dns_config cfg;       /* servers not kept */
	struct dns_stats stats;
	bool destroying;
};

/* dns_status_name - for logs */
const char *
dns_status_name(enum dns_status s)
{
	static const char *const names[DNS_STATUS_COUNT] = {
		"ok", "nxdomain", "nodata", "servfail", "timeout", "error",
	};

	return s < DNS_STATUS_COUNT ? names[s] : "?";
}

/* reschedule - the next c-ares timeout on our timer */
static void
reschedule(struct dns *d)
{
	struct timeval tv, *tp = ares_timeout(d->ch, NULL, &tv);

	if (tp != NULL)
		evtimer_add(d->timer, tp);
	else
		evtimer_del(d->timer);
}

/* timer_cb - c-ares has a timeout due */
static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns *d = arg;

	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	reschedule(d);
}

/* io_cb - a c-ares socket is readable or writable */
static void
io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sockev *se = arg;
	struct dns *d = se->d;

	ares_process_fd(d->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD, (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	reschedule(d);
}

/* sock_state_cb - c-ares opens, watches or closes a socket */
static void
sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	struct sockev **pp, *se;

	for (pp = &d->socks; (se = *pp) != NULL; pp = &se->next)
		if (se->fd == fd)
			break;
	if (!readable && !writable) {
		if (se != NULL) {
			*pp = se->next;
			event_free(se->ev);
			free(se);
		}
		return;
	}
	if (se == NULL) {
		se = calloc(1, sizeof(*se));
		if (se == NULL)
			return;
		se->fd = fd;
		se->d = d;
		se->next = d->socks;
		d->socks = se;
	} else {
		event_free(se->ev);
	}
	se->ev = event_new(d->base, fd, EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0), io_cb, se);
	if (se->ev != NULL)
		event_add(se->ev, NULL);
}

/* dns_new - see dns.h */
struct dns *
dns_new(struct event_base *base, const struct dns_config *cfg, char *err, size_t errsz)
{
	struct dns *d = calloc(1, sizeof(*d));
	struct ares_options o;
	int rc;

	if (d == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	d->base = base;
	d->cfg = *cfg;
	d->cfg.servers = NULL;
	if (d->cfg.cache_max == 0)
		d->cfg.cache_max = 10000;
	TAILQ_INIT(&d->age);
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = d;
	o.timeout = (int)(cfg->timeout_ms ? cfg->timeout_ms : 2000);
	o.tries = (int)(cfg->tries ? cfg->tries : 2);
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	rc = ares_init_options(&d->ch, &o,
	    ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errsz, "c-ares: %s", ares_strerror(rc));
		free(d);
		return NULL;
	}
	if (cfg->servers != NULL && (rc = ares_set_servers_ports_csv(d->ch, cfg->servers)) != ARES_SUCCESS) {
		snprintf(err, errsz, "bad resolver list '%s': %s", cfg->servers, ares_strerror(rc));
		ares_destroy(d->ch);
		free(d);
		return NULL;
	}
	d->timer = evtimer_new(base, timer_cb, d);
	if (d->timer == NULL) {
		snprintf(err, errsz, "out of memory");
		ares_destroy(d->ch);
		free(d);
		return NULL;
	}
	return d;
}

/* entry_free - unlink from hash and age list, free waiters */
static void
entry_free(struct dns *d, struct centry *e)
{
	struct centry **pp;
	unsigned h = 2166136261u;

	for (const char *p = e->name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ e->type) % DNS_BUCKETS;
	for (pp = &d->bucket[h]; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	TAILQ_REMOVE(&d->age, e, age);
	d->nentries--;
	while (e->waiters != NULL) {
		struct dns_req *r = e->waiters;

		e->waiters = r->next;
		free(r);
	}
	free(e->name);
	free(e);
}

/* dns_free_ - NULL is fine; pending callbacks are not called */
void
dns_free_(struct dns *d)
{
	if (d == NULL)
		return;
	d->destroying = true;
	ares_destroy(d->ch); /* calls pending callbacks with ARES_EDESTRUCTION */
	while (!TAILQ_EMPTY(&d->age))
		entry_free(d, TAILQ_FIRST(&d->age));
	while (d->socks != NULL) {
		struct sockev *se = d->socks;

		d->socks = se->next;
		event_free(se->ev);
		free(se);
	}
	event_free(d->timer);
	free(d);
}

/* clamp - a TTL within the configured bounds */
static uint32_t
clamp(const struct dns *d, uint32_t ttl)
{
	if (ttl > d->cfg.max_ttl)
		ttl = d->cfg.max_ttl; /* ttl_max 0s: nothing is cached */
	if (ttl < d->cfg.min_ttl)
		ttl = d->cfg.min_ttl;
	return ttl;
}

/* fill - the result of one answer message */
static void
fill(struct dns *d, struct centry *e, int status, const unsigned char *abuf, int alen)
{
	struct dns_result *r = &e->res;
	struct dns_msg m;
	uint32_t ttl = UINT32_MAX;

	memset(r, 0, sizeof(*r));
	r->type = e->type;
	r->latency_ms = (unsigned)(clock_mono_ms() - e->started_ms);
	if (status == ARES_ETIMEOUT) {
		r->status = DNS_TIMEOUT;
		return;
	}
	if (abuf == NULL || alen <= 0 || dns_msg_parse(abuf, (size_t)alen, &m) != PARSE_OK) {
		r->status = (status == ARES_ESERVFAIL || status == ARES_EREFUSED) ? DNS_SERVFAIL : DNS_ERROR;
		return;
	}
	if (m.rcode == DNS_RCODE_NXDOMAIN) {
		r->status = DNS_NXDOMAIN;
		r->ttl = clamp(d, m.has_soa ? m.neg_ttl : 0);
		return;
	}
	if (m.rcode != DNS_RCODE_NOERROR) {
		r->status = DNS_SERVFAIL;
		return;
	}
	for (unsigned i = 0; i < m.nrr; i++) {
		const struct dns_rr *rr = &m.rr[i];

		if (rr->type != e->type)
			continue; /* CNAMEs on the way */
		if (e->type == DNS_T_A && r->naddr < DNS_MAX_ADDR && dns_rr_a(&m, rr, &r->addr[r->naddr]) == 0)
			r->naddr++;
		else if (e->type == DNS_T_AAAA && r->naddr6 < DNS_MAX_ADDR && dns_rr_aaaa(&m, rr, &r->addr6[r->naddr6]) == 0)
			r->naddr6++;
		else if (e->type == DNS_T_TXT && r->txt[0] == '\0')
			dns_rr_txt(&m, rr, r->txt, sizeof(r->txt));
		else if (e->type == DNS_T_PTR && r->name[0] == '\0')
			dns_rr_name(&m, rr, r->name, sizeof(r->name));
		else
			continue;
		ttl = MIN(ttl, rr->ttl);
	}
	if (ttl == UINT32_MAX) {
		r->status = DNS_NODATA;
		r->ttl = clamp(d, m.has_soa ? m.neg_ttl : 0);
		return;
	}
	r->status = DNS_OK;
	r->ttl = clamp(d, ttl);
}

/* answer_cb - c-ares finished one query */
static void
answer_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct centry *e = arg;
	struct dns *d = e->d;
	struct dns_req *w;

	if (status == ARES_EDESTRUCTION || d->destroying)
		return; /* dns_free_ frees the entry */
	fill(d, e, status, abuf, alen);
	e->pending = false;
	d->stats.answers++;
	e->expires_ms = clock_mono_ms() + (uint64_t)e->res.ttl * 1000;
	/* a callback may query again: e must survive any eviction meanwhile */
	e->delivering = true;
	while ((w = e->waiters) != NULL) {
		e->waiters = w->next;
		if (!w->cancelled)
			w->cb(w->arg, &e->res);
		free(w);
	}
	e->delivering = false;
	if (e->res.status != DNS_OK && e->res.status != DNS_NXDOMAIN && e->res.status != DNS_NODATA)
		e->expires_ms = 0; /* failures are not cached: the next request asks again */
}

/* dns_query - see dns.h */
int
dns_query(struct dns *d, uint16_t type, const char *name, dns_cb cb, void *arg, struct dns_result *now, struct dns_req **req)
{
	char key[DNS_NAME_MAX + 1];
	size_t n = strlen(name);
	struct centry *e;
	struct dns_req *w;
	unsigned h = 2166136261u;
	uint64_t t = clock_mono_ms();

	*req = NULL;
	while (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > DNS_NAME_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		key[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		h = (h ^ (unsigned char)key[i]) * 16777619u;
	}
	key[n] = '\0';
	h = (h ^ type) % DNS_BUCKETS;
	for (e = d->bucket[h]; e != NULL; e = e->hnext)
		if (e->type == type && strcmp(e->name, key) == 0)
			break;
	if (e != NULL && !e->pending && e->expires_ms > t) {
		*now = e->res;
		now->cached = true;
		d->stats.cache_hits++;
		return 1;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -1;
	w->cb = cb;
	w->arg = arg;
	if (e != NULL && e->pending) {
		w->next = e->waiters;
		e->waiters = w;
		d->stats.joined++;
		*req = w;
		return 0;
	}
	if (e == NULL) {
		while (d->nentries >= d->cfg.cache_max) {
			struct centry *old;

			TAILQ_FOREACH(old, &d->age, age)
				if (!old->pending && !old->delivering)
					break;
			if (old == NULL)
				break;
			entry_free(d, old);
		}
		e = calloc(1, sizeof(*e));
		if (e == NULL || (e->name = strdup(key)) == NULL) {
			free(e);
			free(w);
			return -1;
		}
		e->d = d;
		e->type = type;
		e->hnext = d->bucket[h];
		d->bucket[h] = e;
		d->nentries++;
	} else {
		TAILQ_REMOVE(&d->age, e, age); /* expired: asked again */
	}
	TAILQ_INSERT_TAIL(&d->age, e, age);
	e->pending = true;
	e->started_ms = t;
	d->stats.queries_sent++;
	ares_query(d->ch, key, 1 /* C_IN */, type, answer_cb, e);
	if (!e->pending) {
		/* c-ares answered at once (a local error): no callback later */
		*now = e->res;
		free(w);
		return 1;
	}
	w->next = e->waiters;
	e->waiters = w;
	*req = w;
	reschedule(d);
	return 0;
}

/* dns_cancel - see dns.h */
void
dns_cancel(struct dns_req *req)
{
	if (req != NULL)
		req->cancelled = true;
}

/* dns_get_stats - see dns.h */
void
dns_get_stats(const struct dns *d, struct dns_stats *out)
{
	*out = d->stats;
}
