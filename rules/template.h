/* rules/template.h: reply-text templates with {name} fields (pure) */
#ifndef SLUICE_TEMPLATE_H
#define SLUICE_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A template is text with fields in braces: "listed on {list}; ref={ref}".
 * "{{" and "}}" stand for literal braces. Field names are letters, digits,
 * '.', '_' and '-'. The result is one SMTP reply line: bytes below 0x20,
 * 0x7f and above are replaced with '?', and it is cut to fit the buffer.
 */

/* tpl_lookup_fn - the value of a field (NULL: empty) */
typedef const char *(*tpl_lookup_fn)(void *arg, const char *name, size_t namelen);

/*
 * tpl_check - is tpl well-formed and does it name only fields in known
 * (a NULL-terminated list; NULL: any name)? Returns 0, or -1 with a reason
 * in err.
 */
int tpl_check(const char *tpl, const char *const *known, char *err, size_t errsz);

/* tpl_render - expand tpl into out (always NUL-terminated); returns the length */
size_t tpl_render(char *out, size_t outsz, const char *tpl, tpl_lookup_fn lookup, void *arg);

#endif
