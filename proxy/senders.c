/* proxy/senders.c: which envelope senders an authenticated user may use (a table file) */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "senders.h"
#include "util.h"

#define SENDERS_FILE_MAX (64 * 1024 * 1024)

struct row {
	char *user;   /* owned */
	char **addr;  /* owned: lowercase; "@domain" for a whole domain */
	size_t naddr;
};

struct senders {
	struct row *rows; /* owned, sorted by user */
	size_t n;
};

/* row_cmp - qsort/bsearch order */
static int
row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->user, ((const struct row *)b)->user);
}

/* lower - ASCII lowercase in place */
static void
lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + 32);
}

/* senders_free - see senders.h */
void
senders_free(struct senders *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->rows[i].user);
		for (size_t k = 0; k < t->rows[i].naddr; k++)
			free(t->rows[i].addr[k]);
		free(t->rows[i].addr);
	}
	free(t->rows);
	free(t);
}

/* senders_parse - see senders.h */
struct senders *
senders_parse(const char *name, const char *text, size_t len, char *err, size_t errsz)
{
	struct senders *t = calloc(1, sizeof(*t));
	size_t cap = 0, pos = 0;
	int lineno = 0;

	if (t == NULL)
		goto nomem;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		char line[4096], *save = NULL, *w;
		struct row r = { NULL, NULL, 0 };
		size_t acap = 0;

		lineno++;
		if (end - pos >= sizeof(line)) {
			snprintf(err, errsz, "%s:%d: line too long", name, lineno);
			goto fail;
		}
		memcpy(line, text + pos, end - pos);
		line[end - pos] = '\0';
		pos = end + 1;
		if ((w = strchr(line, '#')) != NULL)
			*w = '\0';
		w = strtok_r(line, " \t\r", &save);
		if (w == NULL)
			continue;
		if ((r.user = strdup(w)) == NULL)
			goto nomem;
		while ((w = strtok_r(NULL, " \t\r,", &save)) != NULL) {
			if (strchr(w, '@') == NULL || (w[0] != '@' && w[strlen(w) - 1] == '@') || w[1] == '\0') {
				snprintf(err, errsz, "%s:%d: '%s' is not an address or @domain", name, lineno, w);
				free(r.user);
				for (size_t k = 0; k < r.naddr; k++)
					free(r.addr[k]);
				free(r.addr);
				goto fail;
			}
			if (r.naddr == acap) {
				char **na = realloc(r.addr, sizeof(char *) * (acap = acap ? acap * 2 : 4));

				if (na == NULL)
					goto nomem;
				r.addr = na;
			}
			if ((r.addr[r.naddr] = strdup(w)) == NULL)
				goto nomem;
			lower(r.addr[r.naddr++]);
		}
		if (r.naddr == 0) {
			snprintf(err, errsz, "%s:%d: user '%s' has no addresses", name, lineno, r.user);
			free(r.user);
			free(r.addr);
			goto fail;
		}
		if (t->n == cap) {
			struct row *nr = realloc(t->rows, sizeof(*nr) * (cap = cap ? cap * 2 : 16));

			if (nr == NULL)
				goto nomem;
			t->rows = nr;
		}
		t->rows[t->n++] = r;
	}
	if (t->n > 1)
		qsort(t->rows, t->n, sizeof(*t->rows), row_cmp);
	for (size_t i = 1; i < t->n; i++)
		if (strcmp(t->rows[i - 1].user, t->rows[i].user) == 0) {
			snprintf(err, errsz, "%s: user '%s' is listed twice", name, t->rows[i].user);
			goto fail;
		}
	return t;
nomem:
	snprintf(err, errsz, "%s: out of memory", name);
fail:
	senders_free(t);
	return NULL;
}

/* senders_load - see senders.h */
struct senders *
senders_load(const char *path, char *err, size_t errsz)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0, cap = 0, n;
	struct senders *t;

	if (f == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return NULL;
	}
	do {
		if (len == cap) {
			char *nt = cap >= SENDERS_FILE_MAX ? NULL : realloc(text, cap = cap ? cap * 2 : 65536);

			if (nt == NULL) {
				snprintf(err, errsz, "%s: too large or out of memory", path);
				free(text);
				fclose(f);
				return NULL;
			}
			text = nt;
		}
		n = fread(text + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	t = senders_parse(path, text ? text : "", len, err, errsz);
	free(text);
	return t;
}

/* senders_allowed - see senders.h */
bool
senders_allowed(const struct senders *t, const char *user, const char *addr)
{
	struct row key = { (char *)(uintptr_t)user, NULL, 0 };
	const struct row *r;
	char a[512];
	const char *at;

	if (addr[0] == '\0')
		return true; /* the null sender */
	r = t->n > 0 ? bsearch(&key, t->rows, t->n, sizeof(*t->rows), row_cmp) : NULL;
	if (r == NULL || strlen(addr) >= sizeof(a))
		return false;
	strcpy(a, addr);
	lower(a);
	at = strrchr(a, '@');
	for (size_t k = 0; k < r->naddr; k++) {
		if (strcmp(r->addr[k], a) == 0)
			return true;
		if (r->addr[k][0] == '@' && at != NULL && strcmp(r->addr[k], at) == 0)
			return true;
	}
	return false;
}

/* senders_count - see senders.h */
size_t
senders_count(const struct senders *t)
{
	return t ? t->n : 0;
}
