/* proxy/dns.h: asynchronous DNS for one worker: c-ares on the event loop, a TTL cache */
#ifndef SLUICE_DNS_H
#define SLUICE_DNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "dns_msg.h"

struct event_base;
struct dns;
struct dns_req;

enum dns_status {
	DNS_OK = 0,     /* answers present */
	DNS_NXDOMAIN,   /* the name does not exist (a DNS list's "not listed") */
	DNS_NODATA,     /* the name exists, no record of the type */
	DNS_SERVFAIL,   /* the server failed or refused */
	DNS_TIMEOUT,    /* no answer in time */
	DNS_ERROR,      /* malformed answer, or a local error */
	DNS_STATUS_COUNT
};

#define DNS_MAX_ADDR 16
#define DNS_TXT_MAX  512

struct dns_result {
	enum dns_status status;
	uint16_t type;
	unsigned naddr;                   /* DNS_T_A */
	struct in_addr addr[DNS_MAX_ADDR];
	unsigned naddr6;                  /* DNS_T_AAAA */
	struct in6_addr addr6[DNS_MAX_ADDR];
	char txt[DNS_TXT_MAX];            /* DNS_T_TXT: the first record, joined */
	char name[DNS_NAME_MAX + 1];      /* DNS_T_PTR: the first name */
	uint32_t ttl;                     /* seconds the answer is good for (after clamping) */
	bool cached;                      /* came from the cache */
	unsigned latency_ms;              /* of the query that produced it */
};

struct dns_config {
	const char *servers;  /* "127.0.0.1:5353,[::1]:53"; NULL = /etc/resolv.conf */
	unsigned timeout_ms;  /* per try */
	unsigned tries;
	uint32_t min_ttl, max_ttl; /* clamp of positive and negative TTLs */
	unsigned cache_max;   /* entries kept per worker */
};

struct conf_stmt;
struct conf_error;
/* dns_conf_parse - the dns { } block into dc (dns_conf.c); servers owns the server list */
int dns_conf_parse(const struct conf_stmt *block, struct dns_config *dc, char **servers, struct conf_error *err);

/* dns_cb - the answer for one request (never called for a cancelled one) */
typedef void (*dns_cb)(void *arg, const struct dns_result *r);

struct dns *dns_new(struct event_base *base, const struct dns_config *cfg, char *err, size_t errsz);
void dns_free_(struct dns *d);

/*
 * dns_query - look up name (no search list, no trailing dot needed).
 * A fresh cached answer is copied to *now and 1 is returned: no callback.
 * Otherwise 0 is returned, *req is a handle for dns_cancel(), and cb runs
 * later from the event loop; two requests for the same name and type share
 * one query. -1: a local error (out of memory, bad name).
 */
int dns_query(struct dns *d, uint16_t type, const char *name, dns_cb cb, void *arg, struct dns_result *now, struct dns_req **req);
/* dns_cancel - the caller went away: its callback will not run */
void dns_cancel(struct dns_req *req);

const char *dns_status_name(enum dns_status s);

/* Counters, for tests and metrics. */
struct dns_stats {
	unsigned long queries_sent, cache_hits, joined, answers;
};
void dns_get_stats(const struct dns *d, struct dns_stats *out);

#endif
