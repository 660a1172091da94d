/* filters/dnsbl-int.h: the dnsbl filter's session state, shared by its lookups and its verdict */
#ifndef SLUICE_DNSBL_INT_H
#define SLUICE_DNSBL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "dns.h"
#include "dnsbl.h"
#include "util.h"

enum q_state { Q_IDLE = 0, Q_PENDING, Q_DONE };
enum q_result { R_NONE = 0, R_LISTED, R_CLEAN, R_FAILED, R_TIMEOUT, R_SKIPPED, R_COUNT };

extern const char *const dnsbl_result_names[R_COUNT];

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


/* dnsbl_query.c: names, lookups, answers */
const char *dnsbl_domain_of(const char *addr, char *buf, size_t bufsz);
const char *dnsbl_helo_domain(const char *helo, char *buf, size_t bufsz);
const char *dnsbl_qname_redacted(const struct dnsbl_q *q, char *buf, size_t bufsz);
void dnsbl_count(const struct dnsbl_q *q);
void dnsbl_start_on(struct dnsbl_sess *ds, enum dnsbl_on on, const char *subject, const char *target);
void dnsbl_start_connect(struct dnsbl_sess *ds);

/* dnsbl.c: an answer arrived (settle early allows, wake a waiting verdict) */
void dnsbl_progress(struct dnsbl_sess *ds);

#endif
