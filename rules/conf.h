/* rules/conf.h: the configuration language's lexer and parser (pure) */
#ifndef SLUICE_CONF_H
#define SLUICE_CONF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A configuration file is a sequence of statements:
 *
 *     word arg arg ...            # ends at a newline or ';'
 *     word arg ... { statements } # a block
 *
 * Words are bare (letters, digits, bytes >= 0x80 and -_.:/[]@*+=<>!~,%$^&?|()')
 * or quoted with "..." (backslash escapes \" \\ \n \t). '#' starts a comment
 * outside quotes. A backslash at the end of a line (LF or CRLF) continues it.
 * The parser knows no keywords: proxy/config.c gives the words meaning, and
 * the policy language will grow on the same statements.
 */
struct conf_stmt {
	const char *file; /* borrowed: conf_doc owns the name */
	int line, col;
	int argc;         /* argv[0] is the keyword */
	char **argv;      /* owned */
	int *argcol;      /* owned: column of each word */
	bool *argq;       /* owned: the word was quoted (a string, never a keyword) */
	struct conf_stmt *child; /* owned: first statement of the block */
	bool block;       /* written with a block, even an empty one */
	struct conf_stmt *next;  /* owned: next sibling */
};

struct conf_doc {
	char *file;             /* owned */
	struct conf_stmt *first;/* owned */
};

/* conf_error - one diagnostic, "FILE:LINE:COL: message" */
struct conf_error {
	char msg[512];
};

/*
 * conf_parse - parse text (len bytes) named file into a new document.
 * Returns NULL and fills err on a syntax error (the first one).
 */
struct conf_doc *conf_parse(const char *file, const char *text, size_t len, struct conf_error *err);
/* conf_parse_file - read and parse a file */
struct conf_doc *conf_parse_file(const char *path, struct conf_error *err);
void conf_doc_free_(struct conf_doc *doc);
#define conf_doc_free(p) \
	do {                 \
		conf_doc_free_(p); \
		(p) = NULL;      \
	} while (0)

/*
 * conf_fail - "FILE:LINE:COL: message" into err, at word `word` of s (a
 * word past the end: the statement itself); conf_fail_at takes a column,
 * conf_vfail_at a va_list. They return -1, for "return conf_fail(...)".
 */
int conf_fail(struct conf_error *err, const struct conf_stmt *s, int word, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int conf_fail_at(struct conf_error *err, const struct conf_stmt *s, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int conf_vfail_at(struct conf_error *err, const struct conf_stmt *s, int col, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* conf_parse_duration - "30", "30s", "5m", "1h", "2d", "250ms" into ms (a week at most) */
int conf_parse_duration(const char *s, unsigned *ms);
/* conf_parse_size - "1000", "64k", "25M", "1G" into bytes */
int conf_parse_size(const char *s, uint64_t *out);

#endif
