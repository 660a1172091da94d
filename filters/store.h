/* filters/store.h: shared counters for rate limits, behind an interface (LMDB embedded) */
#ifndef SLUICE_STORE_H
#define SLUICE_STORE_H

#include <stddef.h>
#include <stdint.h>

/*
 * A store counts events per key in fixed windows: "how many messages has
 * alice sent in this hour". The embedded store is LMDB: one file, crash
 * safe, shared by every worker (and by several sluice processes on the same
 * machine). A shared store (Redis) would implement the same operations.
 */
struct store;

struct store_ops {
	const char *name;
	/* add - count n more for key in the window of window_s seconds that
	 * holds now; the total in that window goes to *total; -1 on failure */
	int (*add)(struct store *st, const char *key, unsigned n, unsigned window_s, uint64_t now, uint64_t *total);
	void (*close)(struct store *st);
};

struct store {
	const struct store_ops *ops;
};

/* store_open_lmdb - the LMDB store in directory dir (created if missing); NULL + err */
struct store *store_open_lmdb(const char *dir, size_t map_size, char *err, size_t errsz);

#endif
