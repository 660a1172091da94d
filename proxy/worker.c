/* proxy/worker.c: one event loop per thread; owns its listeners and sessions */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "config.h"
#include "dns.h"
#include "log.h"
#include "session.h"
#include "worker.h"

#define ACCEPT_PAUSE_MS 250 /* out of descriptors: how long to stop accepting */

/*
 * accept_cb - a client is waiting on one of this worker's listeners: take
 * one. One per wakeup, not until EAGAIN (libevent's listener loop): a loop
 * ends in a failed accept4 every time, while a level-triggered epoll simply
 * reports the listener again with the next batch of events. The sockets
 * inherit TCP_NODELAY from the listener (Linux).
 */
static void
accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct worker_listener *wl = arg;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct timeval pause = { 0, ACCEPT_PAUSE_MS * 1000 };

	(void)what;
	if (fd >= 0) {
		sess_start(wl->w, fd, (struct sockaddr *)&ss, len, wl->flags);
		return;
	}
	if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
		return; /* another worker took it, or the client gave up */
	/* EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection waits in the backlog;
	 * listening on would only spin on it, so pause (and log once a pause) */
	log_msg(LOG_ERR, "ev=daemon.error what=accept error=\"%s\" pause_ms=%d", strerror(errno), ACCEPT_PAUSE_MS);
	if (wl->ev_pause != NULL) {
		event_del(wl->ev);
		evtimer_add(wl->ev_pause, &pause);
	}
}

/* accept_resume_cb - the pause is over: listen again */
static void
accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker_listener *wl = arg;

	(void)fd;
	(void)what;
	if (!wl->w->draining && wl->ev != NULL)
		event_add(wl->ev, NULL);
}

/* worker_stop_listening - free the listeners (drain) */
static void
worker_stop_listening(struct worker *w)
{
	for (size_t i = 0; i < w->nlis; i++) {
		if (w->lctx[i].ev != NULL)
			event_free(w->lctx[i].ev);
		if (w->lctx[i].ev_pause != NULL)
			event_free(w->lctx[i].ev_pause);
		if (w->lis[i] != NULL)
			evconnlistener_free(w->lis[i]);
	}
	free(w->lis);
	w->lis = NULL;
	free(w->lctx);
	w->lctx = NULL;
	w->nlis = 0;
}

/* deadline_cb - drain time is up: close what is left */
static void
drain_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct session *s, *next;

	for (s = TAILQ_FIRST(&w->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, link);
		sess_shutdown(s);
	}
	if (w->nsessions == 0)
		event_base_loopexit(w->base, NULL);
}

/* ctl_cb - the main thread asked for something */
static void
ctl_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct config *cfg;
	struct timeval tv;

	if (atomic_exchange(&w->cmd, WCMD_NONE) != WCMD_DRAIN || w->draining)
		return;
	w->draining = true;
	worker_stop_listening(w);
	pool_flush(w);
	if (w->nsessions == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	cfg = cfg_current_get();
	tv = tv_ms(cfg ? cfg->t_shutdown : 30000);
	cfg_unref(cfg);
	w->ev_deadline = evtimer_new(w->base, drain_deadline_cb, w);
	if (w->ev_deadline != NULL)
		evtimer_add(w->ev_deadline, &tv);
}

/* worker_new - see worker.h */
struct worker *
worker_new(int id, const struct config *cfg, char *err, size_t errsz)
{
	struct worker *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	w->id = id;
	TAILQ_INIT(&w->lingers.socks);
	TAILQ_INIT(&w->sessions);
	TAILQ_INIT(&w->pool);
	atomic_init(&w->cmd, WCMD_NONE);
	rand_fill(w->rng, sizeof(w->rng));
	{
		/* the changelist folds the EPOLLOUT arm/disarm pairs of one loop
		 * turn into at most one epoll_ctl */
		struct event_config *ec = event_config_new();

		if (ec != NULL)
			event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
		w->base = ec ? event_base_new_with_config(ec) : event_base_new();
		if (ec != NULL)
			event_config_free(ec);
	}
	if (w->base == NULL) {
		snprintf(err, errsz, "cannot create an event loop");
		goto fail;
	}
	w->ev_ctl = event_new(w->base, -1, 0, ctl_cb, w);
	w->lis = calloc(cfg->nlisten, sizeof(*w->lis));
	w->lctx = calloc(cfg->nlisten, sizeof(*w->lctx));
	if (w->ev_ctl == NULL || w->lis == NULL || w->lctx == NULL) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < cfg->nlisten; i++) {
		const struct cfg_addr *a = &cfg->listen[i];
		unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT |
		    LEV_OPT_CLOSE_ON_EXEC;
		evutil_socket_t lfd;
		int one = 1;

		if (a->ss.ss_family == AF_INET6)
			flags |= LEV_OPT_BIND_IPV6ONLY;
		w->lctx[i].w = w;
		w->lctx[i].flags = a->flags;
		w->lis[i] = evconnlistener_new_bind(w->base, NULL, NULL, flags, 1024,
		    (const struct sockaddr *)&a->ss, (int)a->len);
		if (w->lis[i] == NULL) {
			snprintf(err, errsz, "cannot listen on %s: %s", a->spec, strerror(errno));
			goto fail;
		}
		w->nlis++;
		lfd = evconnlistener_get_fd(w->lis[i]);
		if (a->ss.ss_family == AF_INET || a->ss.ss_family == AF_INET6)
			setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* inherited */
		w->lctx[i].ev = event_new(w->base, lfd, EV_READ | EV_PERSIST, accept_cb, &w->lctx[i]);
		w->lctx[i].ev_pause = evtimer_new(w->base, accept_resume_cb, &w->lctx[i]);
		if (w->lctx[i].ev == NULL || w->lctx[i].ev_pause == NULL || event_add(w->lctx[i].ev, NULL) < 0) {
			snprintf(err, errsz, "out of memory");
			goto fail;
		}
	}
	return w;
fail:
	worker_free_(w);
	return NULL;
}

/* worker_main - the thread */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

/* worker_start - run the loop on its own thread */
int
worker_start(struct worker *w)
{
	int rc = pthread_create(&w->thread, NULL, worker_main, w);

	return rc == 0 ? 0 : -rc;
}

/* worker_drain - see worker.h (any thread) */
void
worker_drain(struct worker *w)
{
	atomic_store(&w->cmd, WCMD_DRAIN);
	event_active(w->ev_ctl, EV_READ, 0);
}

/* worker_join - wait for the thread */
void
worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
}

/* worker_free_ - after the thread ended */
void
worker_free_(struct worker *w)
{
	if (w == NULL)
		return;
	worker_stop_listening(w);
	pool_flush(w);
	linger_flush(&w->lingers);
	dns_free_(w->dns);
	if (w->ev_ctl != NULL)
		event_free(w->ev_ctl);
	if (w->ev_deadline != NULL)
		event_free(w->ev_deadline);
	if (w->base != NULL)
		event_base_free(w->base);
	free(w);
}

/* worker_dns - see worker.h */
struct dns *
worker_dns(struct worker *w, const struct config *cfg)
{
	char err[256];

	if (w->dns != NULL || w->dns_failed)
		return w->dns;
	w->dns = dns_new(w->base, &cfg->dns, err, sizeof(err));
	if (w->dns == NULL) {
		w->dns_failed = true;
		log_msg(LOG_ERR, "ev=daemon.error what=resolver worker=%d error=\"%s\"", w->id, err);
	}
	return w->dns;
}

/* worker_sid - xorshift128+ seeded from the kernel: unique across restarts */
void
worker_sid(struct worker *w, char out[17])
{
	uint64_t s1 = w->rng[0], s0 = w->rng[1], r;

	w->rng[0] = s0;
	s1 ^= s1 << 23;
	w->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
	r = w->rng[1] + s0;
	snprintf(out, 17, "%016llx", (unsigned long long)r);
}

/* worker_session_gone - a session was freed */
void
worker_session_gone(struct worker *w)
{
	if (w->draining && w->nsessions == 0) {
		pool_flush(w);
		event_base_loopexit(w->base, NULL);
	}
}
