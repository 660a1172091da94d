/* rules/lmdbenv.h: LMDB environments, one per directory per process */
#ifndef SLUICE_LMDBENV_H
#define SLUICE_LMDBENV_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * LMDB forbids opening the same environment twice in one process; a
 * configuration reload would. lmdb_env_get() opens a directory once (the
 * first caller's mode wins; a read-write environment serves readers too)
 * and keeps it for the life of the process. NULL with a reason in err.
 */
MDB_env *lmdb_env_get(const char *dir, bool readonly, size_t map_size, MDB_dbi *dbi, char *err, size_t errsz);

#endif
