/* proxy/pool.c: idle backend connections kept per worker for reuse */
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "io.h"
#include "io_read.h"
#include "pool.h"
#include "worker.h"

/* pool_drop - forget one idle connection */
static void
pool_drop(struct pooled *p, bool quit)
{
	struct worker *w = p->w;

	TAILQ_REMOVE(&w->pool, p, link);
	w->npool--;
	if (quit)
		io_send(p->bev, "QUIT\r\n", 6);
	io_rd_free(p->rd);
	bufferevent_free(p->bev);
	free(p);
}

/* pool_read_cb - an idle backend spoke (421 timeout, garbage): drop it */
static void
pool_read_cb(struct bufferevent *bev, void *arg)
{
	pool_drop(arg, false);
}

/* pool_event_cb - EOF, error or our idle timeout */
static void
pool_event_cb(struct bufferevent *bev, short what, void *arg)
{
	pool_drop(arg, (what & BEV_EVENT_TIMEOUT) != 0);
}

/* pool_put - see pool.h */
bool
pool_put(struct worker *w, struct io_rd *rd, uint64_t gen, unsigned uses, unsigned junk, bool pipelining, unsigned xattrs)
{
	struct timeval idle = { POOL_IDLE_SECS, 0 };
	struct bufferevent *bev = io_rd_bev(rd);
	struct pooled *p;

	if (w->draining || w->npool >= POOL_MAX_IDLE || uses >= POOL_MAX_USES || junk >= POOL_MAX_JUNK ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0 ||
	    evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		return false;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return false;
	p->w = w;
	p->bev = bev;
	p->rd = rd;
	p->gen = gen;
	p->uses = uses;
	p->junk = junk;
	p->pipelining = pipelining;
	p->xattrs = xattrs;
	bufferevent_setcb(bev, pool_read_cb, NULL, pool_event_cb, p);
	io_rd_set_timeouts(rd, &idle, NULL);
	io_rd_enable(rd, EV_READ);
	TAILQ_INSERT_HEAD(&w->pool, p, link); /* LIFO: the warmest first */
	w->npool++;
	return true;
}

/* pool_take - see pool.h */
struct pooled *
pool_take(struct worker *w, uint64_t gen)
{
	struct pooled *p;

	while ((p = TAILQ_FIRST(&w->pool)) != NULL) {
		if (p->gen == gen) {
			TAILQ_REMOVE(&w->pool, p, link);
			w->npool--;
			return p;
		}
		pool_drop(p, true); /* made for an older configuration */
	}
	return NULL;
}

/* pool_flush - see pool.h */
void
pool_flush(struct worker *w)
{
	while (!TAILQ_EMPTY(&w->pool))
		pool_drop(TAILQ_FIRST(&w->pool), true);
}
