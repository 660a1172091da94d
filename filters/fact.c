/* filters/fact.c: typed, bounded facts that filters write into a session */
#include <string.h>

#include "fact.h"

/* slot - the fact named key, or a free slot, or NULL when full */
static struct fact *
slot(struct facts *fs, const char *key)
{
	for (unsigned i = 0; i < fs->n; i++)
		if (strcmp(fs->f[i].key, key) == 0)
			return &fs->f[i];
	if (fs->n >= FACTS_MAX)
		return NULL;
	fs->f[fs->n].key = key;
	return &fs->f[fs->n++];
}

/* fact_set_bool - see fact.h */
int
fact_set_bool(struct facts *fs, const char *key, bool v)
{
	struct fact *f = slot(fs, key);

	if (f == NULL)
		return -1;
	f->type = FACT_BOOL;
	f->i = v;
	return 0;
}

/* fact_set_int - see fact.h */
int
fact_set_int(struct facts *fs, const char *key, long long v)
{
	struct fact *f = slot(fs, key);

	if (f == NULL)
		return -1;
	f->type = FACT_INT;
	f->i = v;
	return 0;
}

/* fact_set_str - see fact.h */
int
fact_set_str(struct facts *fs, const char *key, const char *v)
{
	size_t n = strnlen(v, FACT_STR_MAX - 1);
	struct fact *f;
	char *p;

	if (fs->used + n + 1 > sizeof(fs->arena) || (f = slot(fs, key)) == NULL)
		return -1;
	p = fs->arena + fs->used;
	memcpy(p, v, n);
	p[n] = '\0';
	fs->used += n + 1;
	f->type = FACT_STR;
	f->s = p;
	return 0;
}

/* fact_get - see fact.h */
const struct fact *
fact_get(const struct facts *fs, const char *key)
{
	for (unsigned i = 0; i < fs->n; i++)
		if (strcmp(fs->f[i].key, key) == 0)
			return &fs->f[i];
	return NULL;
}

/* facts_clear - see fact.h */
void
facts_clear(struct facts *fs)
{
	fs->n = 0;
	fs->used = 0;
}
