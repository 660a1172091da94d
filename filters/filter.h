/* filters/filter.h: the filter interface: hooks per SMTP stage, pending/resume, facts */
#ifndef SLUICE_FILTER_H
#define SLUICE_FILTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "fact.h"
#include "filter-t.h"

/*
 * A filter gathers evidence about a session and may give a verdict. The
 * session drives it through the chain (chain.h): at each stage the chain
 * calls hook() of every filter that hooks the stage, in configuration order.
 *
 *  - SL_HOOK_CONTINUE: done here; a verdict left at SL_ACT_CONTINUE lets the
 *    next filter run, any other action ends the stage with that verdict.
 *  - SL_HOOK_PENDING: the filter waits for something (DNS). It calls
 *    ss->resume(ss, ctx) later, from the event loop, and the chain calls
 *    hook() again for the same stage. It must not call resume from inside
 *    hook(). A hook pending longer than the instance's hook_timeout counts
 *    as failed; a late resume is then ignored.
 *  - SL_HOOK_ERROR: the filter failed. The instance's on_error decides:
 *    skip (the default: go on as if it had said CONTINUE, and record it) or
 *    tempfail (451 4.3.0). A failing filter never fails the daemon.
 *
 * Configuration: a filter is configured by a block named after it; the
 * words between the name and the block are the chain's, not the filter's:
 *
 *     dnsbl [hook_timeout 30s] [on_error skip|tempfail] { ...filter options... }
 *
 * Plugins: see plugin.h (one entry symbol, this ABI version checked at
 * load). Built-in and loaded filters go through exactly this interface.
 *
 * Everything a filter allocates per session hangs off the context attach()
 * returns; detach() cancels whatever is pending (no resume after it).
 * Filters never see the session structure: struct sl_sess is their view.
 * The later plugin ABI exposes exactly this interface.
 */
#ifdef SL_FILTER_ABI_OVERRIDE /* tests only: a plugin built for another ABI */
#define SL_FILTER_ABI SL_FILTER_ABI_OVERRIDE
#else
#define SL_FILTER_ABI 1
#endif

struct conf_stmt;
struct conf_error;
struct dns;
struct event_base;

/* What a filter sees of a session; kept current by the host before each hook. */
struct sl_sess {
	const char *sid;
	const struct sockaddr *client_sa;
	const char *client_ip;
	unsigned client_port;
	const char *helo;          /* NULL before HELO/EHLO */
	const char *mail_from;     /* NULL outside a transaction; "" for <> */
	const char *rcpt;          /* at SL_STAGE_RCPT: the recipient asked for */
	bool authenticated;        /* AUTH succeeded: list verdicts do not apply */
	uint64_t t_connect_ms;     /* monotonic time of the connection */
	struct facts *facts;       /* filters write what they learn here */
	struct event_base *base;   /* the worker's loop, for timers */
	struct dns *dns;           /* the worker's resolver; NULL when none */
	void (*resume)(struct sl_sess *ss, void *ctx); /* ctx's pending hook may go on */
	/* for CONTINUE verdicts with record set: the host writes a decision record */
	void (*record)(struct sl_sess *ss, enum sl_stage st, const struct sl_verdict *v);
	/* add_header - "Name: value" prepended to the message(s): stages before MAIL
	 * for the whole session, later ones for the transaction; -1 when full */
	int (*add_header)(struct sl_sess *ss, enum sl_stage st, const char *header);
	/* skip_filter - the named filter is not run again in this session */
	void (*skip_filter)(struct sl_sess *ss, const char *name);
	const char *tls_version;   /* NULL: the client did not use TLS */
	const char *our_hostname;  /* the name sluice greets with */
	/* greet_early - send the first line of a multi-line 220 now (connect stage) */
	void (*greet_early)(struct sl_sess *ss);
	/* client_bytes - bytes the client sent that sluice has not read yet */
	size_t (*client_bytes)(struct sl_sess *ss);
	const char *local_ip;      /* the address the client connected to */
	const char *dns_servers;   /* the dns { } block's servers; NULL = resolv.conf */
	void *host;                /* the host's own pointer */
	void *chain;               /* the chain's own pointer */
};

enum sl_hook_rc { SL_HOOK_CONTINUE = 0, SL_HOOK_PENDING, SL_HOOK_ERROR, SL_HOOK_RC_COUNT };

/* A writer for the evidence a filter adds to a decision record (JSON). */
struct sl_report {
	void *ctx;
	void (*open)(void *ctx, const char *key, bool array); /* key is NULL inside an array */
	void (*close)(void *ctx, bool array);
	void (*str)(void *ctx, const char *key, const char *val); /* val NULL: null */
	void (*num)(void *ctx, const char *key, long long v);
};

struct sl_filter {
	unsigned abi;     /* SL_FILTER_ABI */
	const char *name; /* the configuration block that configures it */
	/* conf_new - the filter's block from a configuration load; NULL + err on error */
	void *(*conf_new)(const struct conf_stmt *block, struct conf_error *err);
	void (*conf_free)(void *conf);
	/* stages - bitmask of (1u << stage) this configured instance hooks */
	unsigned (*stages)(const void *conf);
	/* attach - per session; NULL: out of memory (the filter is skipped) */
	void *(*attach)(const void *conf, struct sl_sess *ss);
	void (*detach)(void *ctx);
	enum sl_hook_rc (*hook)(void *ctx, enum sl_stage st, struct sl_verdict *v);
	/* report - the evidence behind the last verdict, for the decision record */
	void (*report)(void *ctx, const struct sl_report *w);
	/*
	 * stats - counters since the configuration was loaded (may be NULL).
	 * Each open(NULL, false) ... close(false) pair is one log line.
	 */
	void (*stats)(const void *conf, const struct sl_report *w);
};

#endif
