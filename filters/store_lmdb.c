/* filters/store_lmdb.c: the embedded store: LMDB, one small write transaction per count */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmdbenv.h"
#include "store.h"

/*
 * A record is key -> { window start, count }. Counting is a write
 * transaction (LMDB serialises writers, across processes too), without
 * fsync: a crash loses the last counts, never the file.
 */
struct lmdb_store {
	struct store base;
	MDB_env *env;
	MDB_dbi dbi;
};

struct rec {
	uint64_t start;
	uint64_t count;
};

/* lmdb_add - see store_ops.add */
static int
lmdb_add(struct store *st, const char *key, unsigned n, unsigned window_s, uint64_t now, uint64_t *total)
{
	struct lmdb_store *ls = (struct lmdb_store *)st;
	MDB_txn *txn;
	MDB_val k = { strlen(key), (void *)(uintptr_t)key }, v;
	struct rec r = { 0, 0 };
	uint64_t start = window_s ? now - now % window_s : now;
	int rc;

	if (k.mv_size == 0 || k.mv_size > 500)
		return -1;
	if (mdb_txn_begin(ls->env, NULL, 0, &txn) != 0)
		return -1;
	rc = mdb_get(txn, ls->dbi, &k, &v);
	if (rc == 0 && v.mv_size == sizeof(r))
		memcpy(&r, v.mv_data, sizeof(r));
	if (r.start != start) {
		r.start = start; /* a new window */
		r.count = 0;
	}
	r.count += n;
	v.mv_size = sizeof(r);
	v.mv_data = &r;
	if (mdb_put(txn, ls->dbi, &k, &v, 0) != 0 || mdb_txn_commit(txn) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	*total = r.count;
	return 0;
}

static void
lmdb_close(struct store *st)
{
	free(st); /* the environment stays: one per directory per process (lmdbenv.h) */
}

static const struct store_ops lmdb_ops = { "lmdb", lmdb_add, lmdb_close };

/* store_open_lmdb - see store.h */
struct store *
store_open_lmdb(const char *dir, size_t map_size, char *err, size_t errsz)
{
	struct lmdb_store *ls = calloc(1, sizeof(*ls));

	if (ls == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	ls->base.ops = &lmdb_ops;
	if ((ls->env = lmdb_env_get(dir, false, map_size, &ls->dbi, err, errsz)) == NULL) {
		free(ls);
		return NULL;
	}
	return &ls->base;
}
