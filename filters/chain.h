/* filters/chain.h: the configured filters, and running them for one session and stage */
#ifndef SLUICE_CHAIN_H
#define SLUICE_CHAIN_H

#include <stdbool.h>

#include "filter.h"

struct chain_conf; /* the filters of one configuration snapshot (immutable once loaded) */
struct chain;      /* their contexts for one session */

/* chain_filter_find - a built-in filter by its configuration name, or NULL */
const struct sl_filter *chain_filter_find(const char *name);

struct chain_conf *chain_conf_new(void);
/* chain_conf_add - configure one filter instance from its block; -1 + err on error */
int chain_conf_add(struct chain_conf *cc, const struct sl_filter *f, const struct conf_stmt *block, struct conf_error *err);
void chain_conf_free(struct chain_conf *cc);
/* chain_conf_stats - every filter's counters (sl_filter.stats) */
void chain_conf_stats(const struct chain_conf *cc, const struct sl_report *w);
/* chain_conf_count - configured filters (0: sessions need no chain) */
unsigned chain_conf_count(const struct chain_conf *cc);

/* chain_done_fn - the chain has voted; called exactly once per chain_run() */
typedef void (*chain_done_fn)(void *arg, enum sl_stage st, const struct sl_verdict *v);

/*
 * chain_new - attach every configured filter to a session. ss must stay
 * valid (and current) until chain_free_(); cc until then too. NULL when
 * out of memory.
 */
struct chain *chain_new(const struct chain_conf *cc, struct sl_sess *ss);
/* chain_free_ - detach every filter (nothing pending survives); NULL is fine */
void chain_free_(struct chain *c);

/* chain_hooks - does any filter hook stage (NULL chain: no) */
bool chain_hooks(const struct chain *c, enum sl_stage st);
/* chain_busy - a chain_run() has not reported yet */
bool chain_busy(const struct chain *c);

/*
 * chain_run - run every filter hooked at stage, in order, and report the
 * verdict through done. Without a filter for the stage (or with a NULL
 * chain) the verdict is CONTINUE and done is called before chain_run()
 * returns; a filter that must wait makes the call come later from the
 * event loop. One run at a time per session.
 */
void chain_run(struct chain *c, enum sl_stage stage, chain_done_fn done, void *arg);

const char *chain_stage_name(enum sl_stage st);

#endif
