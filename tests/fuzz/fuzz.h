/* tests/fuzz/fuzz.h: what every fuzz target shares */
#ifndef SLUICE_FUZZ_H
#define SLUICE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the libFuzzer entry point; standalone_main.c calls it without libFuzzer */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* FUZZ_CHECK - a property of the parser; a violation is a crash to report */
#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: property violated: %s\n",      \
			    __FILE__, __LINE__, #cond);                        \
			abort();                                               \
		}                                                              \
	} while (0)

/* struct fbuf - growable bytes: traces of one run, compared across runs */
struct fbuf {
	char *p;
	size_t len, cap;
};

/* fbuf_add - append bytes; aborts when memory runs out */
static inline void
fbuf_add(struct fbuf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (b->p == NULL)
			abort();
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* fbuf_same - two traces are byte-identical */
static inline int
fbuf_same(const struct fbuf *a, const struct fbuf *b)
{
	return a->len == b->len &&
	       (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/* fbuf_free - release */
static inline void
fbuf_free(struct fbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* fuzz_dup - exact-size heap copy, so ASan sees any read past n */
static inline char *
fuzz_dup(const void *p, size_t n)
{
	char *c = malloc(n ? n : 1);

	if (c == NULL)
		abort();
	if (n > 0)
		memcpy(c, p, n);
	return c;
}

#endif
