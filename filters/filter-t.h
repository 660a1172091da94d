/* filters/filter-t.h: stages and verdicts shared by the filter chain */
#ifndef SLUICE_FILTER_T_H
#define SLUICE_FILTER_T_H

#include <stdbool.h>

struct sl_report;

/** SMTP stages a filter can hook. */
enum sl_stage {
	SL_STAGE_CONNECT = 0,
	SL_STAGE_HELO,
	SL_STAGE_MAIL,
	SL_STAGE_RCPT,
	SL_STAGE_DATA,
	SL_STAGE_EOD,   /**< end of data: the final dot is withheld until the vote */
	SL_STAGE_RESET,
	SL_STAGE_DISCONNECT,
	SL_STAGE_COUNT
};

/** What the chain decided. */
enum sl_action {
	SL_ACT_CONTINUE = 0, /**< let the dialogue go on */
	SL_ACT_TEMPFAIL,     /**< 4xx */
	SL_ACT_REJECT,       /**< 5xx */
	SL_ACT_DISCONNECT,   /**< 421 and close */
	SL_ACT_COUNT
};

/** A verdict: an action and, for refusals, the reply to give. */
struct sl_verdict {
	enum sl_action action;
	int code;          /**< 4xx/5xx for TEMPFAIL/REJECT */
	const char *enh;   /**< enhanced status code, e.g. "5.7.1" */
	const char *text;  /**< reply text; borrowed from the filter */
	const char *filter;/**< which filter decided */
	const char *ref;   /**< reference id quoted in the text; borrowed */
	bool record;       /**< CONTINUE: still worth a decision record */
	const char *why;   /**< short reason for logs ("listed", "allowed") */
	/* the evidence, for the decision record (filter.h) */
	void (*report)(void *ctx, const struct sl_report *w);
	void *report_ctx;
};

#endif
