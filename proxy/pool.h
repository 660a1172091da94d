/* proxy/pool.h: idle backend connections kept per worker for reuse */
#ifndef SLUICE_POOL_H
#define SLUICE_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

struct bufferevent;
struct io_rd;
struct worker;

/*
 * With "backend_reuse on", a backend connection whose session ended cleanly
 * (XCLIENT worked, no transaction open, nothing owed) waits here for the
 * next session of the same worker and config snapshot, which announces its
 * own client with XCLIENT (Postfix resets the session on XCLIENT). A pooled
 * connection that hears anything, hangs up or idles too long is dropped.
 */
struct pooled {
	TAILQ_ENTRY(pooled) link;
	struct worker *w;        /* weak */
	struct bufferevent *bev; /* owned */
	struct io_rd *rd;        /* owned: its reads (io_read.h) */
	uint64_t gen;            /* config snapshot it was made for */
	unsigned uses;           /* sessions it has served */
	unsigned junk;           /* HELO/EHLO/RSET/XCLIENT sent on it so far */
	bool pipelining;
	unsigned xattrs;
};
TAILQ_HEAD(pool_list, pooled);

#define POOL_MAX_IDLE  32   /* idle connections per worker */
#define POOL_MAX_USES  1000 /* sessions per connection */
/*
 * Postfix counts errors and "junk" commands (HELO, EHLO, RSET, NOOP, VRFY,
 * XCLIENT) per connection, and XCLIENT does not reset those counters: past
 * smtpd_junk_command_limit (100) every such command is an error, and errors
 * slow down and finally cut off the connection. A connection is therefore
 * reused only while it has seen no 4xx/5xx reply and well under 100 junk
 * commands, so one client's errors never land on the next client.
 */
#define POOL_MAX_JUNK  50
#define POOL_IDLE_SECS 10   /* well under Postfix's smtpd_timeout */

/* pool_put - keep rd and its bufferevent (ownership passes to the pool); false: caller frees */
bool pool_put(struct worker *w, struct io_rd *rd, uint64_t gen, unsigned uses, unsigned junk, bool pipelining, unsigned xattrs);
/* pool_take - an idle connection for gen, or NULL; the caller owns its bev and rd */
struct pooled *pool_take(struct worker *w, uint64_t gen);
/* pool_flush - close every idle connection politely (drain, exit) */
void pool_flush(struct worker *w);

#endif
