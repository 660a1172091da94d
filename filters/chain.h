/* filters/chain.h: runs the filter chain for one session and stage */
#ifndef SLUICE_CHAIN_H
#define SLUICE_CHAIN_H

#include "filter-t.h"

struct chain;

/* chain_done_fn - the chain has voted; called exactly once per chain_run() */
typedef void (*chain_done_fn)(void *arg, const struct sl_verdict *v);

/*
 * chain_run - run every filter hooked at stage, in order, and report the
 * verdict through done. With no filter configured the verdict is CONTINUE
 * and done is called before chain_run() returns. A filter that must wait
 * (DNS, a policy server) makes the call come later from the event loop.
 */
void chain_run(struct chain *c, enum sl_stage stage, chain_done_fn done, void *arg);

/* chain_new/chain_free_ - the per-session filter contexts (none yet: NULL is a valid empty chain) */
struct chain *chain_new(void);
void chain_free_(struct chain *c);

const char *chain_stage_name(enum sl_stage st);

#endif
