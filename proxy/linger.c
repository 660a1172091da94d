/* proxy/linger.c: see linger.h */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "linger.h"
#include "util.h"

struct linger_sock {
	TAILQ_ENTRY(linger_sock) link;
	struct linger_set *set;   /* weak: the worker's */
	struct event *ev;         /* owned */
	int fd;                   /* owned */
	size_t left;              /* bytes still accepted before giving up */
	uint64_t deadline;        /* clock_mono_ms(): the EV_PERSIST timeout restarts on every read */
};

/* linger_end - close and forget */
static void
linger_end(struct linger_sock *g)
{
	TAILQ_REMOVE(&g->set->socks, g, link);
	g->set->n--;
	event_free(g->ev);
	close(g->fd);
	free(g);
}

/* linger_cb - input to drop, the client's FIN, or time is up */
static void
linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct linger_sock *g = arg;
	char buf[16384];

	if ((what & EV_TIMEOUT) || clock_mono_ms() >= g->deadline) {
		linger_end(g);
		return;
	}
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (r > 0 && (size_t)r < g->left) {
			g->left -= (size_t)r;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return; /* drained for now: wait for more, or the FIN */
		linger_end(g); /* FIN, error, or the client will not stop */
		return;
	}
}

/* linger_close - see linger.h */
void
linger_close(struct linger_set *set, struct event_base *base, int fd)
{
	struct timeval tv = tv_ms(LINGER_MS);
	struct linger_sock *g = set->n < LINGER_MAX ? calloc(1, sizeof(*g)) : NULL;

	if (g == NULL || shutdown(fd, SHUT_WR) < 0 ||
	    (g->ev = event_new(base, fd, EV_READ | EV_PERSIST, linger_cb, g)) == NULL ||
	    event_add(g->ev, &tv) < 0) {
		if (g != NULL && g->ev != NULL)
			event_free(g->ev);
		free(g);
		close(fd);
		return;
	}
	g->fd = fd;
	g->left = LINGER_BYTES;
	g->deadline = clock_mono_ms() + LINGER_MS;
	g->set = set;
	TAILQ_INSERT_TAIL(&set->socks, g, link);
	set->n++;
}

/* linger_flush - see linger.h */
void
linger_flush(struct linger_set *set)
{
	while (!TAILQ_EMPTY(&set->socks))
		linger_end(TAILQ_FIRST(&set->socks));
}
