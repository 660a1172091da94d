/* rules/set.c: the sets of the policy language: lists, file: tables, lmdb: tables (pure but for files) */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmdbenv.h"
#include "set.h"

#define SET_FILE_MAX (16 * 1024 * 1024)

struct cidr {
	int family;
	unsigned char a[16];
	unsigned bits;
};

struct set {
	char **str;        /* owned, lowercased, sorted */
	size_t nstr;
	struct cidr *net;  /* owned */
	size_t nnet;
	MDB_env *lmdb;     /* lmdb:DIR - keys are the entries; borrowed (lmdbenv.h) */
	MDB_dbi dbi;
};


/* cidr_parse - "192.0.2.0/24", "2001:db8::/32", an address */
static bool
cidr_parse(const char *s, struct cidr *c)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max;

	if (n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, c->a) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c->a) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		return false;
	}
	c->bits = max;
	if (slash != NULL) {
		char *end;
		unsigned long b = strtoul(slash + 1, &end, 10);

		if (end == slash + 1 || *end != '\0' || b > max)
			return false;
		c->bits = (unsigned)b;
	}
	return true;
}

/* cidr_has - is the address in the network */
static bool
cidr_has(const struct cidr *c, const struct cidr *addr)
{
	const unsigned char *a = addr->a;
	unsigned bytes = c->bits / 8, rest = c->bits % 8;

	if (c->family == AF_INET && addr->family == AF_INET6 &&
	    memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
		a += 12; /* an IPv4-mapped client against an IPv4 network */
	else if (c->family != addr->family)
		return false;
	if (memcmp(c->a, a, bytes) != 0)
		return false;
	return rest == 0 || ((c->a[bytes] ^ a[bytes]) & (0xff << (8 - rest))) == 0;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* set_add - one entry: a network, or a string (lowercased) */
int
set_add(struct set *st, const char *s, size_t n)
{
	char buf[512];
	struct cidr c;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (cidr_parse(buf, &c)) {
		struct cidr *nn = realloc(st->net, sizeof(*nn) * (st->nnet + 1));

		if (nn == NULL)
			return -1;
		st->net = nn;
		st->net[st->nnet++] = c;
		return 0;
	}
	{
		char **ns = realloc(st->str, sizeof(*ns) * (st->nstr + 1));

		if (ns == NULL)
			return -1;
		st->str = ns;
		for (size_t i = 0; i < n; i++)
			buf[i] = (char)tolower((unsigned char)buf[i]);
		if ((st->str[st->nstr] = strdup(buf)) == NULL)
			return -1;
		st->nstr++;
	}
	return 0;
}

/* set_load - file:PATH, one entry per line, '#' comments */
int
set_load(struct set *st, const char *path, char *err, size_t errsz)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int lineno = 0;
	size_t total = 0;

	if (f == NULL) {
		snprintf(err, errsz, "cannot read table %.200s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line, *e;

		lineno++;
		total += strlen(line);
		if (total > SET_FILE_MAX) {
			snprintf(err, errsz, "table %.200s is larger than %d bytes", path, SET_FILE_MAX);
			fclose(f);
			return -1;
		}
		if ((e = strchr(p, '#')) != NULL)
			*e = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		e = p + strlen(p);
		while (e > p && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == p)
			continue;
		if (set_add(st, p, (size_t)(e - p)) < 0) {
			snprintf(err, errsz, "%.200s:%d: bad table entry", path, lineno);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

/* st_find - a string among the entries: sorted in memory, or an LMDB key */
static bool
st_find(const struct set *st, char *key)
{
	if (st->lmdb != NULL) {
		MDB_txn *txn;
		MDB_val k = { strlen(key), key }, v;
		bool found;

		if (mdb_txn_begin(st->lmdb, NULL, MDB_RDONLY, &txn) != 0)
			return false;
		found = mdb_get(txn, st->dbi, &k, &v) == 0;
		mdb_txn_abort(txn);
		return found;
	}
	return st->nstr > 0 && bsearch(&key, st->str, st->nstr, sizeof(char *), str_cmp) != NULL;
}

/* set_has - membership: networks for addresses; strings exactly, "@domain" and ".domain" */
bool
set_has(const struct set *st, const char *v)
{
	char buf[512], *key = buf;
	struct cidr addr;
	const char *at;

	if (v == NULL || strlen(v) >= sizeof(buf))
		return false;
	if (st->nnet > 0 && cidr_parse(v, &addr) && strchr(v, '/') == NULL) {
		for (size_t i = 0; i < st->nnet; i++)
			if (cidr_has(&st->net[i], &addr))
				return true;
	}
	for (size_t i = 0; v[i] != '\0'; i++)
		buf[i] = (char)tolower((unsigned char)v[i]);
	buf[strlen(v)] = '\0';
	if (st_find(st, key))
		return true;
	at = strrchr(buf, '@');
	if (at != NULL) {
		/* an address: its "@domain", then the domain as a name */
		key = (char *)(uintptr_t)at;
		if (st_find(st, key))
			return true;
		key = (char *)(uintptr_t)(at + 1);
	}
	/* a name: ".example.com" entries match it and its subdomains */
	for (const char *p = key; p != NULL; p = strchr(p + 1, '.')) {
		char dot[514];
		char *dk = dot;

		snprintf(dot, sizeof(dot), "%s%.511s", *p == '.' ? "" : ".", p);
		if (st_find(st, dk))
			return true;
	}
	return false;
}

void
set_free(struct set *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->nstr; i++)
		free(st->str[i]);
	free(st->str);
	free(st->net);
	free(st);
}


/* set_add_net - see set.h */
int
set_add_net(struct set *st, const char *s)
{
	struct cidr c;

	return cidr_parse(s, &c) ? set_add(st, s, strlen(s)) : -1;
}

/* set_new - see set.h */
struct set *
set_new(void)
{
	return calloc(1, sizeof(struct set));
}

/* set_finish - see set.h */
void
set_finish(struct set *st)
{
	if (st->nstr > 1)
		qsort(st->str, st->nstr, sizeof(char *), str_cmp);
}

/* set_open_lmdb - see set.h */
int
set_open_lmdb(struct set *st, const char *dir, char *err, size_t errsz)
{
	st->lmdb = lmdb_env_get(dir, true, 64UL << 20, &st->dbi, err, errsz);
	return st->lmdb != NULL ? 0 : -1;
}
