/* rules/lmdbenv.c: LMDB environments, one per directory per process */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lmdbenv.h"

#define ENVS_MAX 32

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char *dir;
	MDB_env *env;
	MDB_dbi dbi;
} envs[ENVS_MAX];
static unsigned nenvs;

/* lmdb_env_get - see lmdbenv.h */
MDB_env *
lmdb_env_get(const char *dir, bool readonly, size_t map_size, MDB_dbi *dbi, char *err, size_t errsz)
{
	MDB_env *env = NULL;
	MDB_txn *txn;
	int rc;

	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < nenvs; i++)
		if (strcmp(envs[i].dir, dir) == 0) {
			*dbi = envs[i].dbi;
			env = envs[i].env;
			goto out;
		}
	if (nenvs >= ENVS_MAX) {
		snprintf(err, errsz, "more than %d LMDB directories", ENVS_MAX);
		goto out;
	}
	if (!readonly && mkdir(dir, 0750) != 0 && errno != EEXIST) {
		snprintf(err, errsz, "cannot create %s: %s", dir, strerror(errno));
		goto out;
	}
	if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_mapsize(env, map_size)) != 0 ||
	    (rc = mdb_env_open(env, dir, (readonly ? MDB_RDONLY : MDB_NOSYNC | MDB_NOMETASYNC) | MDB_NOTLS, 0640)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, readonly ? MDB_RDONLY : 0, &txn)) != 0) {
		snprintf(err, errsz, "cannot open LMDB %s: %s", dir, mdb_strerror(rc));
		if (env != NULL)
			mdb_env_close(env);
		env = NULL;
		goto out;
	}
	if ((rc = mdb_dbi_open(txn, NULL, 0, dbi)) != 0 || (rc = mdb_txn_commit(txn)) != 0) {
		snprintf(err, errsz, "cannot open LMDB %s: %s", dir, mdb_strerror(rc));
		mdb_env_close(env);
		env = NULL;
		goto out;
	}
	envs[nenvs].dir = strdup(dir);
	envs[nenvs].env = env;
	envs[nenvs].dbi = *dbi;
	nenvs++;
out:
	pthread_mutex_unlock(&lock);
	return env;
}
