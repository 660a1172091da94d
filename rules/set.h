/* rules/set.h: the sets of the policy language: lists, file: tables, lmdb: tables */
#ifndef SLUICE_SET_H
#define SLUICE_SET_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A set holds networks (192.0.2.0/24, 2001:db8::/32) and strings
 * (lowercased): addresses, "@domain", ".domain". Membership: an address
 * in a network; a string exactly; an e-mail address also by its @domain
 * and as a name; a name by ".domain" entries for itself and its parents.
 * An lmdb: set keeps its strings as the keys of an LMDB database.
 */
struct set;

struct set *set_new(void);
/* set_add - one entry; -1 when it is empty or too long */
int set_add(struct set *st, const char *s, size_t n);
/* set_add_net - an address or network only; -1 for anything else */
int set_add_net(struct set *st, const char *s);
/* set_load - file:PATH, one entry per line, '#' comments; -1 + err */
int set_load(struct set *st, const char *path, char *err, size_t errsz);
/* set_open_lmdb - lmdb:DIR; -1 + err */
int set_open_lmdb(struct set *st, const char *dir, char *err, size_t errsz);
/* set_finish - after the last set_add/set_load: ready for set_has */
void set_finish(struct set *st);
bool set_has(const struct set *st, const char *v);
void set_free(struct set *st);

#endif
