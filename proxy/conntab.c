/* proxy/conntab.c: session counts, in total and per client IP */
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conntab.h"

#define CT_BUCKETS 4096

struct ct_entry {
	struct ct_entry *next;
	uint8_t key[16]; /* IPv4 mapped into IPv6 form */
	unsigned count;
};

static pthread_mutex_t ct_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ct_entry *ct_bucket[CT_BUCKETS];
static unsigned ct_total;

/* ct_key - the client address as 16 bytes; the port is not part of it */
static void
ct_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		key[10] = key[11] = 0xff;
		memcpy(key + 12, &sin->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

/* ct_hash - FNV-1a over the key */
static unsigned
ct_hash(const uint8_t key[16])
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 16; i++) {
		h ^= key[i];
		h *= 16777619u;
	}
	return h % CT_BUCKETS;
}

/* conntab_acquire - see conntab.h */
enum conntab_rc
conntab_acquire(const struct sockaddr *sa, unsigned max_total, unsigned max_per_ip)
{
	uint8_t key[16];
	struct ct_entry *e;
	unsigned h;
	enum conntab_rc rc = CONNTAB_OK;

	ct_key(sa, key);
	h = ct_hash(key);
	pthread_mutex_lock(&ct_lock);
	for (e = ct_bucket[h]; e != NULL; e = e->next)
		if (memcmp(e->key, key, 16) == 0)
			break;
	if (ct_total >= max_total) {
		rc = CONNTAB_TOTAL;
	} else if (e != NULL && e->count >= max_per_ip) {
		rc = CONNTAB_PER_IP;
	} else {
		if (e == NULL) {
			e = calloc(1, sizeof(*e));
			if (e == NULL) {
				rc = CONNTAB_NOMEM;
				goto out;
			}
			memcpy(e->key, key, 16);
			e->next = ct_bucket[h];
			ct_bucket[h] = e;
		}
		e->count++;
		ct_total++;
	}
out:
	pthread_mutex_unlock(&ct_lock);
	return rc;
}

/* conntab_release - forget one session from sa */
void
conntab_release(const struct sockaddr *sa)
{
	uint8_t key[16];
	struct ct_entry **pp, *e;

	ct_key(sa, key);
	pthread_mutex_lock(&ct_lock);
	for (pp = &ct_bucket[ct_hash(key)]; (e = *pp) != NULL; pp = &e->next) {
		if (memcmp(e->key, key, 16) != 0)
			continue;
		if (--e->count == 0) {
			*pp = e->next;
			free(e);
		}
		ct_total--;
		break;
	}
	pthread_mutex_unlock(&ct_lock);
}

/* conntab_total - sessions open now */
unsigned
conntab_total(void)
{
	unsigned n;

	pthread_mutex_lock(&ct_lock);
	n = ct_total;
	pthread_mutex_unlock(&ct_lock);
	return n;
}
