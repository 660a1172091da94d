/* rules/template.c: reply-text templates with {name} fields (pure) */
#include <stdio.h>
#include <string.h>

#include "template.h"

/* name_char - may c appear in a field name */
static bool
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
	    c == '_' || c == '-';
}

/*
 * field_end - tpl[i] is '{' opening a field: the index of its '}', or 0
 * when the field is malformed
 */
static size_t
field_end(const char *tpl, size_t i)
{
	size_t j = i + 1;

	while (name_char(tpl[j]))
		j++;
	return (tpl[j] == '}' && j > i + 1) ? j : 0;
}

/* tpl_check - see template.h */
int
tpl_check(const char *tpl, const char *const *known, char *err, size_t errsz)
{
	for (size_t i = 0; tpl[i] != '\0'; i++) {
		size_t j;
		bool found = known == NULL; /* NULL: any field name will do (facts) */

		if ((tpl[i] == '{' && tpl[i + 1] == '{') || (tpl[i] == '}' && tpl[i + 1] == '}')) {
			i++;
			continue;
		}
		if (tpl[i] == '}') {
			snprintf(err, errsz, "unmatched '}' at offset %zu (write '}}' for a brace)", i);
			return -1;
		}
		if (tpl[i] != '{')
			continue;
		j = field_end(tpl, i);
		if (j == 0) {
			snprintf(err, errsz, "malformed field at offset %zu (write '{{' for a brace)", i);
			return -1;
		}
		for (const char *const *k = known; k != NULL && *k != NULL && !found; k++)
			found = strlen(*k) == j - i - 1 && memcmp(*k, tpl + i + 1, j - i - 1) == 0;
		if (!found) {
			snprintf(err, errsz, "unknown field {%.*s}", (int)(j - i - 1), tpl + i + 1);
			return -1;
		}
		i = j;
	}
	return 0;
}

/* put - one byte, made safe for a reply line */
static void
put(char *out, size_t outsz, size_t *n, char c)
{
	unsigned char u = (unsigned char)c;

	if (*n + 1 >= outsz)
		return;
	out[(*n)++] = (u < 0x20 || u >= 0x7f) ? '?' : c;
}

/* tpl_render - see template.h */
size_t
tpl_render(char *out, size_t outsz, const char *tpl, tpl_lookup_fn lookup, void *arg)
{
	size_t n = 0;

	if (outsz == 0)
		return 0;
	for (size_t i = 0; tpl[i] != '\0'; i++) {
		size_t j;
		const char *v;

		if ((tpl[i] == '{' && tpl[i + 1] == '{') || (tpl[i] == '}' && tpl[i + 1] == '}')) {
			put(out, outsz, &n, tpl[i++]);
			continue;
		}
		if (tpl[i] != '{' || (j = field_end(tpl, i)) == 0) {
			put(out, outsz, &n, tpl[i]);
			continue;
		}
		v = lookup(arg, tpl + i + 1, j - i - 1);
		for (; v != NULL && *v != '\0'; v++)
			put(out, outsz, &n, *v);
		i = j;
	}
	out[n] = '\0';
	return n;
}
