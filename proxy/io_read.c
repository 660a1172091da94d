/* proxy/io_read.c: reads into a bufferevent without libevent's FIONREAD */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "io.h"
#include "io_read.h"

#define IO_RD_MAX 16384 /* bytes per read, as libevent's bufferevents take them */

struct io_rd {
	struct bufferevent *bev;         /* weak: the session or the pool owns it */
	struct event *ev;                /* owned; NULL: libevent reads (TLS, filters) */
	struct evbuffer_cb_entry *drain; /* owned, on bev's input: while a limit is set */
	struct evbuffer_cb_entry *queued;/* owned, on bev's output: arms writing on the first bytes */
	struct timeval tmo;
	size_t high;                     /* 0: no limit */
	bool has_tmo, enabled, full;
	bool want_write; /* EV_WRITE asked for; libevent's is enabled once bytes wait */
};

/* rd_arm - add or remove the read event to match enabled/full */
static void
rd_arm(struct io_rd *r)
{
	if (!r->enabled || r->full) {
		event_del(r->ev);
	} else if (r->has_tmo) {
		event_add(r->ev, &r->tmo);
	} else {
		event_add(r->ev, NULL);
		event_remove_timer(r->ev); /* event_add(NULL) keeps a timeout set before */
	}
}

/* rd_stop - reading is over until re-enabled (EOF, error, timeout: as libevent does) */
static void
rd_stop(struct io_rd *r)
{
	r->enabled = false;
	event_del(r->ev);
}

/* rd_cb - the socket is readable (or the read timeout expired) */
static void
rd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct io_rd *r = arg;
	struct bufferevent *bev = r->bev;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	size_t want = IO_RD_MAX, have = evbuffer_get_length(in), left;
	ssize_t n;
	int nv, i, err;

	if (what & EV_TIMEOUT) {
		rd_stop(r);
		bufferevent_trigger_event(bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, 0);
		return;
	}
	if (r->high > 0) {
		if (have >= r->high) {
			r->full = true; /* drain_cb re-arms once the reader took some */
			event_del(r->ev);
			return;
		}
		if (r->high - have < want)
			want = r->high - have;
	}
	evbuffer_unfreeze(in, 0); /* a socket bufferevent's input takes bytes only from its reader */
	nv = evbuffer_reserve_space(in, (ev_ssize_t)want, v, 2);
	if (nv <= 0) {
		evbuffer_freeze(in, 0);
		rd_stop(r);
		errno = ENOMEM;
		bufferevent_trigger_event(bev, BEV_EVENT_READING | BEV_EVENT_ERROR, 0);
		return;
	}
	for (i = 0, left = want; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len < left ? v[i].iov_len : left;
		left -= iov[i].iov_len;
	}
	n = readv(fd, iov, nv);
	if (n > 0) {
		for (i = 0, left = (size_t)n; i < nv; i++) {
			v[i].iov_len = iov[i].iov_len < left ? iov[i].iov_len : left;
			left -= v[i].iov_len;
		}
		evbuffer_commit_space(in, v, nv);
		evbuffer_freeze(in, 0);
		bufferevent_trigger(bev, EV_READ, 0);
		return;
	}
	err = errno;
	evbuffer_commit_space(in, v, 0);
	evbuffer_freeze(in, 0);
	if (n < 0 && (err == EAGAIN || err == EINTR))
		return;
	rd_stop(r);
	errno = err; /* the event callback reads it (EVUTIL_SOCKET_ERROR) */
	bufferevent_trigger_event(bev, BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), 0);
}

/* drain_cb - the input buffer shrank: read again if it was full */
static void
drain_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct io_rd *r = arg;

	if (r->full && info->n_deleted > 0 && evbuffer_get_length(buf) < r->high) {
		r->full = false;
		rd_arm(r);
	}
}

/*
 * queued_cb - bytes wait in the output buffer (io_send could not write them
 * all, or they were added directly): now libevent's writing is needed.
 * Enabling it while nothing waits would cost an EPOLLOUT arm, a wakeup and
 * a disarm per session for nothing.
 */
static void
queued_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct io_rd *r = arg;

	(void)buf;
	if (info->n_added > 0 && r->want_write && !(bufferevent_get_enabled(r->bev) & EV_WRITE))
		bufferevent_enable(r->bev, EV_WRITE);
}

/* io_rd_new - see io_read.h */
struct io_rd *
io_rd_new(struct bufferevent *bev)
{
	struct io_rd *r = calloc(1, sizeof(*r));
	evutil_socket_t fd = bufferevent_getfd(bev);

	if (r == NULL)
		return NULL;
	r->bev = bev;
	if (io_direct_ok(bev) && fd >= 0) {
		r->ev = event_new(bufferevent_get_base(bev), fd, EV_READ | EV_PERSIST, rd_cb, r);
		r->queued = r->ev ? evbuffer_add_cb(bufferevent_get_output(bev), queued_cb, r) : NULL;
		if (r->queued == NULL) {
			if (r->ev != NULL)
				event_free(r->ev);
			free(r);
			return NULL;
		}
		bufferevent_disable(bev, EV_READ);
	}
	return r;
}

/* io_rd_free - see io_read.h */
void
io_rd_free(struct io_rd *r)
{
	if (r == NULL)
		return;
	if (r->drain != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_input(r->bev), r->drain);
	if (r->queued != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_output(r->bev), r->queued);
	if (r->ev != NULL)
		event_free(r->ev);
	free(r);
}

/* io_rd_bev - see io_read.h */
struct bufferevent *
io_rd_bev(const struct io_rd *r)
{
	return r->bev;
}

/* io_rd_enable - see io_read.h */
void
io_rd_enable(struct io_rd *r, short what)
{
	if (r->ev == NULL) {
		bufferevent_enable(r->bev, what);
		return;
	}
	if (what & EV_WRITE) {
		r->want_write = true;
		if (evbuffer_get_length(bufferevent_get_output(r->bev)) > 0)
			bufferevent_enable(r->bev, EV_WRITE);
	}
	if (what & EV_READ) {
		r->enabled = true;
		rd_arm(r);
	}
}

/* io_rd_disable - see io_read.h */
void
io_rd_disable(struct io_rd *r, short what)
{
	if (r->ev == NULL) {
		bufferevent_disable(r->bev, what);
		return;
	}
	if (what & EV_WRITE) {
		r->want_write = false;
		bufferevent_disable(r->bev, EV_WRITE);
	}
	if (what & EV_READ)
		rd_stop(r);
}

/* io_rd_set_timeouts - see io_read.h */
void
io_rd_set_timeouts(struct io_rd *r, const struct timeval *rd, const struct timeval *wr)
{
	if (r->ev == NULL) {
		bufferevent_set_timeouts(r->bev, rd, wr);
		return;
	}
	bufferevent_set_timeouts(r->bev, NULL, wr);
	r->has_tmo = rd != NULL && (rd->tv_sec != 0 || rd->tv_usec != 0);
	if (r->has_tmo)
		r->tmo = *rd;
	if (r->enabled)
		rd_arm(r); /* the new timeout counts from now, as with libevent */
}

/* io_rd_set_read_high - see io_read.h */
void
io_rd_set_read_high(struct io_rd *r, size_t hi)
{
	if (r->ev == NULL) {
		bufferevent_setwatermark(r->bev, EV_READ, 0, hi);
		return;
	}
	r->high = hi;
	if (hi > 0 && r->drain == NULL)
		r->drain = evbuffer_add_cb(bufferevent_get_input(r->bev), drain_cb, r);
	if (r->full && (hi == 0 || evbuffer_get_length(bufferevent_get_input(r->bev)) < hi)) {
		r->full = false;
		rd_arm(r);
	}
}
