/* proxy/worker.h: one event loop per thread; owns its listeners and sessions */
#ifndef SLUICE_WORKER_H
#define SLUICE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "linger.h"
#include "pool.h"
#include "session-t.h"

struct event_base;
struct evconnlistener;
struct event;
struct config;
struct dns;

enum worker_cmd { WCMD_NONE = 0, WCMD_DRAIN, WCMD_COUNT };

TAILQ_HEAD(session_list, session);

/* One listening socket: libevent made it (bind, listen, SO_REUSEPORT); sluice accepts. */
struct worker_listener {
	struct worker *w;   /* weak */
	unsigned flags;     /* LISTEN_* of the configured address */
	struct event *ev;   /* owned: readable listening socket */
	struct event *ev_pause; /* owned: out of descriptors, listen again later */
};

struct worker {
	int id;
	pthread_t thread;
	struct event_base *base;        /* owned */
	struct evconnlistener **lis;    /* owned */
	struct worker_listener *lctx;   /* owned: one per listener */
	size_t nlis;
	struct event *ev_ctl;           /* owned: poked by the main thread */
	struct event *ev_deadline;      /* owned: drain deadline */
	atomic_int cmd;                 /* enum worker_cmd */
	bool draining;
	struct session_list sessions;
	unsigned nsessions;
	uint64_t rng[2];                /* session ids (xorshift128+) */
	/* what the backend offered, learned once per config snapshot, so that
	 * sessions skip sluice's EHLO probe and send XCLIENT right away */
	struct pool_list pool;          /* idle backend connections (backend_reuse) */
	unsigned npool;
	uint64_t caps_gen;              /* config gen the cache is for; 0 = none */
	bool caps_pipelining;
	bool caps_xclient;
	unsigned caps_xattrs;
	struct linger_set lingers;      /* owned: closed clients still draining (linger.h) */
	struct dns *dns;                /* owned: the resolver (made on first use) */
	bool dns_failed;                /* ... and making it failed (logged once) */
};

/* worker_new - create the loop and bind this worker's listeners */
struct worker *worker_new(int id, const struct config *cfg, char *err, size_t errsz);
int worker_start(struct worker *w);
/* worker_drain - from another thread: stop accepting, finish sessions */
void worker_drain(struct worker *w);
void worker_join(struct worker *w);
void worker_free_(struct worker *w);
#define worker_free(p) FREE_AND_NULL(worker_free_, p)

/* worker_sid - a fresh 64-bit session id as 16 hex digits */
void worker_sid(struct worker *w, char out[17]);
/*
 * worker_dns - the worker's resolver, made from cfg's dns settings on first
 * use (changing them needs a restart); NULL when it cannot be made.
 */
struct dns *worker_dns(struct worker *w, const struct config *cfg);
/* worker_session_gone - a session was freed; may end a drain */
void worker_session_gone(struct worker *w);

#endif
