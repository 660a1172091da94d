/* filters/dnsbl.h: the DNS-list filter: weighted DNSBL/DNSWL/RHSBL with traceable verdicts */
#ifndef SLUICE_DNSBL_H
#define SLUICE_DNSBL_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dnsbl_spec.h"
#include "filter.h"

extern const struct sl_filter dnsbl_filter;

/* What a list is asked about. */
enum dnsbl_on { DNSBL_ON_IP = 0, DNSBL_ON_PTR, DNSBL_ON_HELO, DNSBL_ON_SENDER, DNSBL_ON_COUNT };

/* What a list does when it cannot answer (timeout, failure, error code). */
enum dnsbl_fail { DNSBL_FAIL_PASS = 0, DNSBL_FAIL_TEMPFAIL, DNSBL_FAIL_SCORE, DNSBL_FAIL_COUNT };

#define DNSBL_MAX_LISTS   32
#define DNSBL_MAX_ERRPAT  8
#define DNSBL_KEY_MAX     64
#define DNSBL_TEXT_MAX    400 /* a rendered reply text */

/* What a list did since the configuration was loaded (all workers). */
struct dnsbl_counters {
	atomic_ulong queries, listed, clean, failed, timeouts;
};

struct set;

struct dnsbl_list {
	struct dnsbl_spec spec;
	enum dnsbl_on on;
	bool txt;                       /* look up the TXT reason of a listing */
	bool log_only;                  /* hits are logged, never scored */
	char key[DNSBL_KEY_MAX + 1];    /* secret label before the zone; "" = none */
	enum dnsbl_fail fail;
	int fail_score;                 /* DNSBL_FAIL_SCORE */
	char *reply;                    /* owned: text template when this list decides; NULL = the filter's */
	unsigned nerr;
	struct dnsbl_pattern err[DNSBL_MAX_ERRPAT]; /* answers that mean "list failure" */
	struct dnsbl_counters *cnt;     /* owned: mutable inside the immutable snapshot */
};

struct dnsbl_conf {
	enum sl_stage stage;            /* where the verdict is applied */
	int threshold;                  /* score >= threshold: refuse */
	int allow_threshold;            /* score <= this: allowed, stop looking */
	bool have_allow_threshold;
	unsigned timeout_ms;            /* all the waiting a session does, in total */
	bool verdict;                   /* off: facts only, the rules decide */
	int code, tcode;                /* refusal and tempfail codes */
	char enh[8], tenh[8];
	char *reply;                    /* owned: refusal text template */
	char *treply;                   /* owned: tempfail text template */
	unsigned nlists;
	struct dnsbl_list lists[DNSBL_MAX_LISTS];
	struct set *allow;              /* owned: never checked (addresses, networks) */
	unsigned nerr;                  /* error codes for every list */
	struct dnsbl_pattern err[DNSBL_MAX_ERRPAT];
};

/* dnsbl_conf.c */
void *dnsbl_conf_new(const struct conf_stmt *block, struct conf_error *err);
void dnsbl_conf_free(void *conf);
/* dnsbl_stats - sl_filter.stats: one line per list */
void dnsbl_stats(const void *conf, const struct sl_report *w);
/* dnsbl_on_name / dnsbl_fail_name - for logs */
const char *dnsbl_on_name(enum dnsbl_on on);
const char *dnsbl_fail_name(enum dnsbl_fail f);

/* Fields the reply templates may use. */
extern const char *const dnsbl_tpl_fields[];

#endif
