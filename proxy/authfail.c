/* proxy/authfail.c: failed AUTH attempts per client address, and temporary blocks (all workers) */
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>

#include "authfail.h"

struct entry {
	uint8_t addr[16];     /* IPv4 as ::ffff:a.b.c.d */
	unsigned failures;
	uint64_t first_ms;    /* start of the counting window */
	uint64_t blocked_until;
	uint64_t seen_ms;
	int used;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry table[AUTHFAIL_MAX];

/* key - the address as 16 bytes */
static int
key(const struct sockaddr *sa, uint8_t out[16])
{
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return 0;
	}
	if (sa->sa_family == AF_INET) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 0;
	}
	return -1;
}

/* find - the address's entry; with create, a new one (evicting the stalest of its probe run) */
static struct entry *
find(const uint8_t k[16], bool create, uint64_t now)
{
	uint32_t h = 2166136261u;
	struct entry *stalest = NULL;

	for (int i = 0; i < 16; i++)
		h = (h ^ k[i]) * 16777619u;
	/* open addressing with a short probe run: bounded work, bounded memory */
	for (unsigned p = 0; p < 16; p++) {
		struct entry *e = &table[(h + p * 97u) % AUTHFAIL_MAX];

		if (e->used && memcmp(e->addr, k, 16) == 0)
			return e;
		if (!e->used || e->blocked_until <= now) {
			if (stalest == NULL || !e->used || (stalest->used && e->seen_ms < stalest->seen_ms))
				stalest = e;
		}
	}
	if (!create || stalest == NULL)
		return NULL;
	memset(stalest, 0, sizeof(*stalest));
	memcpy(stalest->addr, k, 16);
	stalest->used = 1;
	stalest->first_ms = now;
	return stalest;
}

/* authfail_note - see authfail.h */
bool
authfail_note(const struct sockaddr *sa, unsigned max, unsigned block_ms, uint64_t now_ms)
{
	uint8_t k[16];
	struct entry *e;
	bool blocked = false;

	if (max == 0 || key(sa, k) < 0)
		return false;
	pthread_mutex_lock(&lock);
	e = find(k, true, now_ms);
	if (e != NULL) {
		if (now_ms - e->first_ms > block_ms) {
			e->failures = 0; /* the window passed: start counting again */
			e->first_ms = now_ms;
		}
		e->seen_ms = now_ms;
		if (++e->failures >= max) {
			e->blocked_until = now_ms + block_ms;
			blocked = true;
		}
	}
	pthread_mutex_unlock(&lock);
	return blocked;
}

/* authfail_blocked - see authfail.h */
bool
authfail_blocked(const struct sockaddr *sa, uint64_t now_ms, uint64_t *left_ms)
{
	uint8_t k[16];
	struct entry *e;
	bool blocked = false;

	if (key(sa, k) < 0)
		return false;
	pthread_mutex_lock(&lock);
	e = find(k, false, now_ms);
	if (e != NULL && e->blocked_until > now_ms) {
		blocked = true;
		*left_ms = e->blocked_until - now_ms;
	}
	pthread_mutex_unlock(&lock);
	return blocked;
}

/* authfail_clear - see authfail.h */
void
authfail_clear(const struct sockaddr *sa)
{
	uint8_t k[16];
	struct entry *e;

	if (key(sa, k) < 0)
		return;
	pthread_mutex_lock(&lock);
	e = find(k, false, 0);
	if (e != NULL && e->blocked_until == 0)
		e->used = 0;
	pthread_mutex_unlock(&lock);
}
