/* filters/pregreet.c: clients that talk before the greeting (in the same session, no reconnect) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "conf.h"
#include "pregreet.h"
#include "util.h"

/*
 * A real MTA waits for the 220 greeting; a lot of spamware does not. The
 * filter holds the greeting back for a short pause (optionally after a
 * first "220-" line: a multi-line greeting catches clients that answer the
 * first line) and looks at what the client sent meanwhile. Unlike
 * postscreen, the client need not reconnect: the session goes on, and the
 * facts are there for the rules:
 *     pregreet.talked_first  the client sent bytes before the greeting ended
 *     pregreet.bytes         how many
 * The session adds the protocol facts it sees later: proto.pipelined
 * (commands sent ahead without PIPELINING), proto.bare_lf (a command line
 * ending in a bare LF), proto.nonsmtp (an HTTP verb or CONNECT).
 */

struct pregreet_conf {
	unsigned pause_ms;
	bool multiline;
};

struct pregreet_sess {
	const struct pregreet_conf *c;
	struct sl_sess *ss;
	struct event *timer; /* owned */
	bool waiting, done;
};

/* timer_cb - the pause is over: what did the client say meanwhile */
static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pregreet_sess *ps = arg;
	size_t n = ps->ss->client_bytes != NULL ? ps->ss->client_bytes(ps->ss) : 0;

	(void)fd;
	(void)what;
	fact_set_bool(ps->ss->facts, "pregreet.talked_first", n > 0);
	fact_set_int(ps->ss->facts, "pregreet.bytes", (long long)n);
	ps->done = true;
	if (ps->waiting) {
		ps->waiting = false;
		ps->ss->resume(ps->ss, ps);
	}
}

static void *
pregreet_conf_new(const struct conf_stmt *block, struct conf_error *err)
{
	struct pregreet_conf *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->pause_ms = 1000;
	for (const struct conf_stmt *s = block->child; s != NULL; s = s->next) {
		if (!strcmp(s->argv[0], "pause") && s->argc == 2 && conf_parse_duration(s->argv[1], &c->pause_ms) == 0 &&
		    c->pause_ms <= 60000)
			continue;
		if (!strcmp(s->argv[0], "multiline") && s->argc == 2 && (!strcmp(s->argv[1], "on") ||
		    !strcmp(s->argv[1], "off"))) {
			c->multiline = !strcmp(s->argv[1], "on");
			continue;
		}
		snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: pregreet takes pause TIME (up to 60s) and multiline on|off, "
		    "not '%s'", s->file, s->line, s->col, s->argv[0]);
		free(c);
		return NULL;
	}
	return c;
}

static void
pregreet_conf_free(void *conf)
{
	free(conf);
}

static unsigned
pregreet_stages(const void *conf)
{
	(void)conf;
	return 1u << SL_STAGE_CONNECT;
}

static void *
pregreet_attach(const void *conf, struct sl_sess *ss)
{
	struct pregreet_sess *ps = calloc(1, sizeof(*ps));

	if (ps != NULL) {
		ps->c = conf;
		ps->ss = ss;
	}
	return ps;
}

static void
pregreet_detach(void *ctx)
{
	struct pregreet_sess *ps = ctx;

	if (ps->timer != NULL)
		event_free(ps->timer);
	free(ps);
}

/* pregreet_hook - first line (maybe), then the pause */
static enum sl_hook_rc
pregreet_hook(void *ctx, enum sl_stage st, struct sl_verdict *v)
{
	struct pregreet_sess *ps = ctx;
	struct timeval tv = tv_ms(ps->c->pause_ms);

	(void)st;
	(void)v;
	if (ps->done)
		return SL_HOOK_CONTINUE;
	if (ps->c->pause_ms == 0 || (ps->timer == NULL && (ps->timer = evtimer_new(ps->ss->base, timer_cb, ps)) == NULL))
		return SL_HOOK_ERROR;
	if (ps->c->multiline && ps->ss->greet_early != NULL)
		ps->ss->greet_early(ps->ss);
	evtimer_add(ps->timer, &tv);
	ps->waiting = true;
	return SL_HOOK_PENDING;
}

const struct sl_filter pregreet_filter = {
	.abi = SL_FILTER_ABI,
	.name = "pregreet",
	.conf_new = pregreet_conf_new,
	.conf_free = pregreet_conf_free,
	.stages = pregreet_stages,
	.attach = pregreet_attach,
	.detach = pregreet_detach,
	.hook = pregreet_hook,
};
