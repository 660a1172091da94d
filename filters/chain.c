/* filters/chain.c: runs the filter chain for one session and stage */
#include <stddef.h>
#include <stdlib.h>

#include "chain.h"

/*
 * The chain is empty until the DNS-list filter arrives: the point of this
 * file now is the contract. The session withholds the final dot of DATA and
 * commits the message only from the done callback.
 */
struct chain {
	int nfilters;
};

/* chain_new - per-session contexts for the configured filters */
struct chain *
chain_new(void)
{
	return calloc(1, sizeof(struct chain));
}

/* chain_free_ - NULL is fine */
void
chain_free_(struct chain *c)
{
	free(c);
}

/* chain_run - see chain.h */
void
chain_run(struct chain *c, enum sl_stage stage, chain_done_fn done, void *arg)
{
	struct sl_verdict v = { SL_ACT_CONTINUE, 0, NULL, NULL, NULL };

	(void)c;
	(void)stage;
	done(arg, &v);
}

/* chain_stage_name - for logs */
const char *
chain_stage_name(enum sl_stage st)
{
	static const char *const names[SL_STAGE_COUNT] = {
		"connect", "helo", "mail", "rcpt", "data", "eod", "reset", "disconnect",
	};

	return st < SL_STAGE_COUNT ? names[st] : "?";
}
