/* filters/helo.c: the HELO/EHLO name as facts (syntax, literal, FQDN, claims to be us) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "helo.h"
#include "helo_check.h"

/*
 * Facts at HELO/EHLO: helo.syntax_ok, helo.literal, helo.literal_matches,
 * helo.bare_ip, helo.fqdn, helo.ours. The filter decides nothing: rules do,
 * e.g.  helo: if helo.ours and not auth then reject 550 5.7.1 "you are not me"
 */

static void *
helo_conf_new(const struct conf_stmt *block, struct conf_error *err)
{
	static int dummy;

	if (block->child != NULL) {
		snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: helo takes no options", block->file, block->line,
		    block->col);
		return NULL;
	}
	return &dummy;
}

static void
helo_conf_free(void *conf)
{
	(void)conf;
}

static unsigned
helo_stages(const void *conf)
{
	(void)conf;
	return 1u << SL_STAGE_HELO;
}

static void *
helo_attach(const void *conf, struct sl_sess *ss)
{
	(void)conf;
	return ss;
}

static void
helo_detach(void *ctx)
{
	(void)ctx;
}

/* helo_hook - judge the name the client just gave */
static enum sl_hook_rc
helo_hook(void *ctx, enum sl_stage st, struct sl_verdict *v)
{
	struct sl_sess *ss = ctx;
	struct helo_facts hf;

	(void)st;
	(void)v;
	helo_check(ss->helo, ss->client_ip, ss->our_hostname, ss->local_ip, &hf);
	fact_set_bool(ss->facts, "helo.syntax_ok", hf.syntax_ok);
	fact_set_bool(ss->facts, "helo.valid", hf.syntax_ok && !hf.bare_ip);
	fact_set_bool(ss->facts, "helo.literal", hf.literal);
	fact_set_bool(ss->facts, "helo.literal_matches", hf.literal_matches);
	fact_set_bool(ss->facts, "helo.bare_ip", hf.bare_ip);
	fact_set_bool(ss->facts, "helo.fqdn", hf.fqdn);
	fact_set_bool(ss->facts, "helo.ours", hf.ours);
	return SL_HOOK_CONTINUE;
}

const struct sl_filter helo_filter = {
	.abi = SL_FILTER_ABI,
	.name = "helo",
	.conf_new = helo_conf_new,
	.conf_free = helo_conf_free,
	.stages = helo_stages,
	.attach = helo_attach,
	.detach = helo_detach,
	.hook = helo_hook,
};
