/* filters/spf.c: SPF (libspf2) for the MAIL FROM and HELO identities, off the event loop */
#include <arpa/inet.h>
#include <ares.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include <event2/event.h>

/* libspf2 needs these before its headers */
#include <netdb.h>
#include <arpa/nameser.h>
#include <spf2/spf.h>
#undef MIN /* libspf2 leaks its own */
#undef MAX

#include "conf.h"
#include "dns_msg.h"
#include "spf.h"
#include "util.h"

/*
 * libspf2 resolves synchronously, so checks run on a small thread pool,
 * never on an event loop. Its DNS goes through a layer of ours: c-ares,
 * blocking in the pool thread, asking the servers of sluice's dns { }
 * block (so tests and operators choose the resolver; /etc/resolv.conf is
 * the default, as for everything else). The answer comes back to the
 * session's loop through an event. Facts: spf.result (pass, fail,
 * softfail, neutral, none, temperror, permerror), spf.reason, spf.helo
 * (the HELO identity's result); a Received-SPF header is added to the
 * message. The rules decide (rules/default.rules refuses fail).
 */

#define SPF_QUEUE_MAX 4096
#define SPF_TEXT_MAX  400

struct spf_conf {
	unsigned threads;
	unsigned timeout_ms;   /* per DNS query */
	bool helo;             /* also check the HELO identity */
	bool header;           /* add Received-SPF */
	char servers[512];     /* from the dns block at load time; "" = resolv.conf */
};

struct spf_job {
	struct spf_job *next;
	struct event *ev;      /* owned: fires on the session's loop when done */
	void *owner;           /* the spf_sess; NULL once it went away */
	char servers[512];     /* the resolver to ask ("" = resolv.conf) */
	char receiver[256];    /* our host name, for Received-SPF */
	unsigned timeout_ms;
	bool do_helo;
	char ip[64], helo[256], from[512];
	/* the result */
	char result[16], helo_result[16];
	char reason[SPF_TEXT_MAX], header[SPF_TEXT_MAX];
};

struct spf_sess {
	const struct spf_conf *c;
	struct sl_sess *ss;
	struct spf_job *job;   /* in flight; the pool owns it */
	bool done, waiting, in_hook;
	char result[16], reason[SPF_TEXT_MAX];
};

static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcond = PTHREAD_COND_INITIALIZER;
static struct spf_job *qhead, *qtail;
static unsigned qlen, nthreads, running;
static atomic_uint inflight;

/* spf_busy - see spf.h */
unsigned
spf_busy(void)
{
	unsigned n;

	pthread_mutex_lock(&qlock);
	n = qlen + running;
	pthread_mutex_unlock(&qlock);
	return n;
}

/* spf_inflight - see spf.h */
unsigned
spf_inflight(void)
{
	return atomic_load(&inflight);
}

/* ---- DNS for libspf2: c-ares, blocking, in the pool thread ---- */

struct dns_hook {
	ares_channel ch;
};

struct answer {
	bool done;
	int status;
	unsigned char *buf;
	int len;
};

static void
answer_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct answer *a = arg;

	(void)timeouts;
	a->done = true;
	a->status = status;
	if (abuf != NULL && alen > 0 && (a->buf = malloc((size_t)alen)) != NULL) {
		memcpy(a->buf, abuf, (size_t)alen);
		a->len = alen;
	}
}

/* rr_text - put one string into the SPF rr set at idx */
static int
rr_put(SPF_dns_rr_t *rr, int idx, const void *p, size_t n)
{
	if (SPF_dns_rr_buf_realloc(rr, idx, n + 1) != SPF_E_SUCCESS)
		return -1;
	memcpy(rr->rr[idx], p, n);
	((char *)rr->rr[idx])[n] = '\0';
	return 0;
}

/* dns_lookup - SPF_dns_lookup_t: one query, answered from the wire */
static SPF_dns_rr_t *
dns_lookup(SPF_dns_server_t *srv, const char *domain, ns_type type, int should_cache)
{
	struct dns_hook *h = srv->hook;
	struct answer a = { 0 };
	struct dns_msg m;
	SPF_dns_rr_t *rr;
	int n = 0;

	(void)should_cache;
	ares_query(h->ch, domain, 1, (int)type, answer_cb, &a);
	while (!a.done) {
		fd_set r, w;
		struct timeval tv, *tvp;
		int nfds;

		FD_ZERO(&r);
		FD_ZERO(&w);
		nfds = ares_fds(h->ch, &r, &w);
		if (nfds == 0)
			break;
		tvp = ares_timeout(h->ch, NULL, &tv);
		select(nfds, &r, &w, NULL, tvp);
		ares_process(h->ch, &r, &w);
	}
	if (!a.done || a.status == ARES_ETIMEOUT || a.status == ARES_ECONNREFUSED || a.status == ARES_ESERVFAIL ||
	    a.buf == NULL || dns_msg_parse(a.buf, (size_t)a.len, &m) != PARSE_OK) {
		free(a.buf);
		if (a.done && (a.status == ARES_ENOTFOUND || a.status == ARES_ENODATA))
			return SPF_dns_rr_new_init(srv, domain, type, 0, a.status == ARES_ENOTFOUND ? HOST_NOT_FOUND : NO_DATA);
		return SPF_dns_rr_new_init(srv, domain, type, 0, TRY_AGAIN);
	}
	if (m.rcode == DNS_RCODE_NXDOMAIN) {
		free(a.buf);
		return SPF_dns_rr_new_init(srv, domain, type, 0, HOST_NOT_FOUND);
	}
	rr = SPF_dns_rr_new_init(srv, domain, type, 0, NETDB_SUCCESS);
	for (unsigned i = 0; rr != NULL && i < m.nrr; i++) {
		const struct dns_rr *x = &m.rr[i];
		char text[1024];
		unsigned pref;

		if (x->type != (unsigned)type && !(type == ns_t_spf && x->type == DNS_T_SPF))
			continue;
		if (x->type == DNS_T_A && x->rdlen == 4 &&
		    SPF_dns_rr_buf_realloc(rr, n, sizeof(struct in_addr)) == SPF_E_SUCCESS) {
			memcpy(&rr->rr[n]->a, m.buf + x->rdoff, 4);
			n++;
		} else if (x->type == DNS_T_AAAA && x->rdlen == 16 && SPF_dns_rr_buf_realloc(rr, n, 16) == SPF_E_SUCCESS) {
			memcpy(&rr->rr[n]->aaaa, m.buf + x->rdoff, 16);
			n++;
		} else if ((x->type == DNS_T_TXT || x->type == DNS_T_SPF)) {
			struct dns_rr t = *x;

			t.type = DNS_T_TXT;
			if (dns_rr_txt(&m, &t, text, sizeof(text)) == 0 && rr_put(rr, n, text, strlen(text)) == 0)
				n++;
		} else if (x->type == DNS_T_MX && dns_rr_mx(&m, x, &pref, text, sizeof(text)) == 0 &&
		    rr_put(rr, n, text, strlen(text)) == 0) {
			n++;
		} else if (x->type == DNS_T_PTR && dns_rr_name(&m, x, text, sizeof(text)) == 0 &&
		    rr_put(rr, n, text, strlen(text)) == 0) {
			n++;
		}
	}
	if (rr != NULL) {
		rr->num_rr = n;
		if (n == 0)
			rr->herrno = NO_DATA;
	}
	free(a.buf);
	return rr;
}

static void
dns_destroy(SPF_dns_server_t *srv)
{
	struct dns_hook *h = srv->hook;

	ares_destroy(h->ch);
	free(h);
	free(srv);
}

/* dns_layer - a per-thread libspf2 DNS layer asking servers */
static SPF_dns_server_t *
dns_layer(const char *servers, unsigned timeout_ms)
{
	SPF_dns_server_t *srv = calloc(1, sizeof(*srv));
	struct dns_hook *h = calloc(1, sizeof(*h));
	struct ares_options o = { 0 };

	if (srv == NULL || h == NULL)
		goto fail;
	o.timeout = (int)timeout_ms;
	o.tries = 2;
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_STAYOPEN; /* one socket per pool thread, not per check */
	if (ares_init_options(&h->ch, &o, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS) != ARES_SUCCESS)
		goto fail;
	if (servers[0] != '\0' && ares_set_servers_ports_csv(h->ch, servers) != ARES_SUCCESS) {
		ares_destroy(h->ch);
		goto fail;
	}
	srv->destroy = dns_destroy;
	srv->lookup = dns_lookup;
	srv->name = "sluice";
	srv->hook = h;
	return srv;
fail:
	free(h);
	free(srv);
	return NULL;
}

/* ---- the pool ---- */

/* query - one identity: env_from (the null sender checks the HELO name) */
static SPF_response_t *
query(SPF_server_t *spf, const struct spf_job *j, const char *env_from)
{
	SPF_request_t *req = SPF_request_new(spf);
	SPF_response_t *resp = NULL;

	if (req == NULL)
		return NULL;
	if ((strchr(j->ip, ':') ? SPF_request_set_ipv6_str(req, j->ip) : SPF_request_set_ipv4_str(req, j->ip)) ==
	    SPF_E_SUCCESS) {
		if (j->helo[0] != '\0' && j->helo[0] != '[')
			SPF_request_set_helo_dom(req, j->helo);
		SPF_request_set_env_from(req, env_from);
		SPF_request_query_mailfrom(req, &resp);
	}
	SPF_request_free(req);
	return resp;
}

/* check - the MAIL FROM identity, and the HELO one when asked (in a pool thread) */
static void
check(struct spf_job *j, SPF_server_t *spf)
{
	SPF_response_t *resp;
	const char *s;
	char who[300];

	snprintf(j->result, sizeof(j->result), "temperror");
	resp = query(spf, j, j->from);
	if (resp != NULL) {
		SPF_result_t res = SPF_response_result(resp);

		/* a record that does not parse is a permanent error (RFC 7208 4.6) */
		snprintf(j->result, sizeof(j->result), "%s", res == SPF_RESULT_INVALID ? "permerror" : SPF_strresult(res));
		if ((s = SPF_response_get_smtp_comment(resp)) != NULL || (s = SPF_response_get_header_comment(resp)) != NULL)
			snprintf(j->reason, sizeof(j->reason), "%s", s);
		if ((s = SPF_response_get_received_spf_value(resp)) != NULL)
			snprintf(j->header, sizeof(j->header), "%s", s);
		SPF_response_free(resp);
	}
	if (j->do_helo && j->helo[0] != '\0' && j->helo[0] != '[' && strchr(j->helo, '.') != NULL) {
		snprintf(who, sizeof(who), "postmaster@%s", j->helo);
		resp = query(spf, j, who);
		snprintf(j->helo_result, sizeof(j->helo_result), "%s", resp == NULL ? "temperror" :
		    SPF_response_result(resp) == SPF_RESULT_INVALID ? "permerror" : SPF_strresult(SPF_response_result(resp)));
		SPF_response_free(resp);
	}
}

/* pool_main - take jobs, check, hand the result back to the session's loop */
static void *
pool_main(void *arg)
{
	SPF_server_t *spf = NULL;
	SPF_dns_server_t *dns = NULL;
	char made_for[512] = "\x01"; /* never a servers list */
	char made_receiver[256] = "";
	unsigned made_timeout = 0;

	(void)arg;
	for (;;) {
		struct spf_job *j;

		pthread_mutex_lock(&qlock);
		while (qhead == NULL)
			pthread_cond_wait(&qcond, &qlock);
		j = qhead;
		qhead = j->next;
		if (qhead == NULL)
			qtail = NULL;
		qlen--;
		running++;
		pthread_mutex_unlock(&qlock);
		if (spf == NULL || strcmp(made_for, j->servers) != 0 || made_timeout != j->timeout_ms ||
		    strcmp(made_receiver, j->receiver) != 0) {
			/* other servers (a reload): a resolver for them */
			if (spf != NULL)
				SPF_server_free(spf);
			dns = dns_layer(j->servers, j->timeout_ms);
			spf = dns ? SPF_server_new_dns(dns, 0) : NULL;
			if (spf != NULL) {
				SPF_response_t *resp = NULL;

				/* our name in Received-SPF, and an explanation that points nowhere dead */
				if (j->receiver[0] != '\0')
					SPF_server_set_rec_dom(spf, j->receiver);
				SPF_server_set_explanation(spf, "%{o}%_does%_not%_allow%_%{i}%_to%_send%_its%_mail%_(SPF)", &resp);
				SPF_response_free(resp);
			}
			snprintf(made_for, sizeof(made_for), "%s", j->servers);
			snprintf(made_receiver, sizeof(made_receiver), "%s", j->receiver);
			made_timeout = j->timeout_ms;
		}
		if (spf != NULL)
			check(j, spf);
		else
			snprintf(j->result, sizeof(j->result), "temperror");
		pthread_mutex_lock(&qlock);
		event_active(j->ev, EV_READ, 0); /* the loop takes it from here */
		running--;
		pthread_mutex_unlock(&qlock);
	}
	return NULL;
}

/* submit - queue a job; -1 when the queue is full */
static int
submit(struct spf_job *j, unsigned threads)
{
	int rc = 0;

	pthread_mutex_lock(&qlock);
	while (nthreads < threads) {
		pthread_t t;

		if (pthread_create(&t, NULL, pool_main, NULL) != 0)
			break;
		pthread_detach(t);
		nthreads++;
	}
	if (nthreads == 0 || qlen >= SPF_QUEUE_MAX) {
		rc = -1;
	} else {
		j->next = NULL;
		if (qtail != NULL)
			qtail->next = j;
		else
			qhead = j;
		qtail = j;
		qlen++;
		atomic_fetch_add(&inflight, 1);
		pthread_cond_signal(&qcond);
	}
	pthread_mutex_unlock(&qlock);
	return rc;
}

/* job_done - on the session's loop */
static void
job_done(evutil_socket_t fd, short what, void *arg)
{
	struct spf_job *j = arg;
	struct spf_sess *sp = j->owner;

	(void)fd;
	(void)what;
	atomic_fetch_sub(&inflight, 1);
	if (sp != NULL) {
		sp->job = NULL;
		sp->done = true;
		snprintf(sp->result, sizeof(sp->result), "%s", j->result);
		snprintf(sp->reason, sizeof(sp->reason), "%s", j->reason);
		fact_set_str(sp->ss->facts, "spf.result", j->result);
		fact_set_str(sp->ss->facts, "spf.reason", j->reason);
		if (j->helo_result[0] != '\0')
			fact_set_str(sp->ss->facts, "spf.helo", j->helo_result);
		if (sp->c->header && sp->ss->add_header != NULL) {
			char h[SPF_TEXT_MAX + 16];

			snprintf(h, sizeof(h), "Received-SPF: %s", j->header[0] ? j->header : j->result);
			sp->ss->add_header(sp->ss, SL_STAGE_MAIL, h);
		}
		if (sp->waiting) {
			sp->waiting = false;
			sp->ss->resume(sp->ss, sp);
		}
	}
	event_free(j->ev);
	free(j);
}

/* ---- the filter interface ---- */

static void *
spf_conf_new(const struct conf_stmt *block, struct conf_error *err)
{
	struct spf_conf *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->threads = 2;
	c->timeout_ms = 2000;
	c->header = true;
	for (const struct conf_stmt *s = block->child; s != NULL; s = s->next) {
		const char *k = s->argv[0];
		char *end;

		if (!strcmp(k, "threads") && s->argc == 2 && (c->threads = (unsigned)strtoul(s->argv[1], &end, 10)) >= 1 &&
		    c->threads <= 64 && *end == '\0')
			continue;
		if (!strcmp(k, "timeout") && s->argc == 2 && conf_parse_duration(s->argv[1], &c->timeout_ms) == 0 &&
		    c->timeout_ms >= 10)
			continue;
		if ((!strcmp(k, "header") || !strcmp(k, "helo")) && s->argc == 2 && (!strcmp(s->argv[1], "on") ||
		    !strcmp(s->argv[1], "off"))) {
			*(!strcmp(k, "header") ? &c->header : &c->helo) = !strcmp(s->argv[1], "on");
			continue;
		}
		if (!strcmp(k, "servers") && s->argc >= 2) {
			c->servers[0] = '\0';
			for (int w = 1; w < s->argc; w++)
				snprintf(c->servers + strlen(c->servers), sizeof(c->servers) - strlen(c->servers), "%s%s",
				    w > 1 ? "," : "", s->argv[w]);
			continue;
		}
		snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: spf takes servers ADDR..., threads N, timeout TIME, "
		    "header on|off, not '%s'", s->file, s->line, s->col, k);
		free(c);
		return NULL;
	}
	return c;
}

static void
spf_conf_free(void *conf)
{
	free(conf); /* jobs carry copies of what they need */
}

static unsigned
spf_stages(const void *conf)
{
	(void)conf;
	return (1u << SL_STAGE_MAIL) | (1u << SL_STAGE_RCPT);
}

static void *
spf_attach(const void *conf, struct sl_sess *ss)
{
	struct spf_sess *sp = calloc(1, sizeof(*sp));

	if (sp != NULL) {
		sp->c = conf;
		sp->ss = ss;
	}
	return sp;
}

static void
spf_detach(void *ctx)
{
	struct spf_sess *sp = ctx;

	if (sp->job != NULL)
		sp->job->owner = NULL; /* job_done frees it, on this loop */
	free(sp);
}

/* spf_hook - start at MAIL; the facts are there from RCPT on */
static enum sl_hook_rc
spf_hook(void *ctx, enum sl_stage st, struct sl_verdict *v)
{
	struct spf_sess *sp = ctx;
	struct spf_job *j;

	(void)v;
	if (st == SL_STAGE_MAIL && sp->job == NULL) {
		sp->done = false;
		if ((j = calloc(1, sizeof(*j))) == NULL)
			return SL_HOOK_ERROR;
		j->owner = sp;
		snprintf(j->servers, sizeof(j->servers), "%s", sp->c->servers[0] ? sp->c->servers :
		    sp->ss->dns_servers ? sp->ss->dns_servers : "");
		j->timeout_ms = sp->c->timeout_ms;
		snprintf(j->receiver, sizeof(j->receiver), "%s", sp->ss->our_hostname ? sp->ss->our_hostname : "");
		j->do_helo = sp->c->helo;
		snprintf(j->ip, sizeof(j->ip), "%s", sp->ss->client_ip);
		if (strncmp(j->ip, "::ffff:", 7) == 0 && strchr(j->ip + 7, '.'))
			memmove(j->ip, j->ip + 7, strlen(j->ip + 7) + 1);
		snprintf(j->helo, sizeof(j->helo), "%s", sp->ss->helo ? sp->ss->helo : "");
		snprintf(j->from, sizeof(j->from), "%s", sp->ss->mail_from ? sp->ss->mail_from : "");
		j->ev = event_new(sp->ss->base, -1, 0, job_done, j);
		if (j->ev == NULL || submit(j, sp->c->threads) < 0) {
			if (j->ev)
				event_free(j->ev);
			free(j);
			return SL_HOOK_ERROR;
		}
		sp->job = j;
		return SL_HOOK_CONTINUE; /* the check runs while the client sends RCPT */
	}
	if (st == SL_STAGE_RCPT && sp->job != NULL && !sp->done) {
		sp->waiting = true; /* the DNS timeouts bound the wait; hook_timeout too */
		return SL_HOOK_PENDING;
	}
	return SL_HOOK_CONTINUE;
}

const struct sl_filter spf_filter = {
	.abi = SL_FILTER_ABI,
	.name = "spf",
	.conf_new = spf_conf_new,
	.conf_free = spf_conf_free,
	.stages = spf_stages,
	.attach = spf_attach,
	.detach = spf_detach,
	.hook = spf_hook,
};
