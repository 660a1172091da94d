/* rules/conf.c: the configuration language's lexer and parser */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

#define CONF_MAX_DEPTH 8
#define CONF_MAX_WORDS 256
#define CONF_MAX_WORD  4096
#define CONF_MAX_FILE  (16u << 20)

struct lexer {
	const char *file;
	const char *p, *end;
	int line, col;
	struct conf_error *err;
	bool failed;
};

static void lex_fail(struct lexer *lx, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* lex_fail - record the first error with its position */
static void
lex_fail(struct lexer *lx, int line, int col, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (lx->failed)
		return;
	lx->failed = true;
	n = snprintf(lx->err->msg, sizeof(lx->err->msg), "%s:%d:%d: ", lx->file, line, col);
	if (n < 0 || (size_t)n >= sizeof(lx->err->msg))
		return; /* a very long file name fills the message by itself */
	va_start(ap, fmt);
	vsnprintf(lx->err->msg + n, sizeof(lx->err->msg) - (size_t)n, fmt, ap);
	va_end(ap);
}

/* lex_adv - step one byte, tracking line and column */
static void
lex_adv(struct lexer *lx)
{
	if (*lx->p == '\n') {
		lx->line++;
		lx->col = 1;
	} else {
		lx->col++;
	}
	lx->p++;
}

/* is_word_char - bytes allowed in a bare word */
static bool
is_word_char(unsigned char c)
{
	if (c >= 0x80)
		return true; /* UTF-8 in bare words (host names in comments, texts) */
	/* strchr() finds the terminating NUL too: NUL must not be a word byte */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("-_.:/[]@*+=<>!~,%$^&?|()'", c) != NULL);
}

enum tok { T_EOF = 0, T_WORD, T_QWORD, T_END, T_OPEN, T_CLOSE, T_ERR, T_COUNT };

/* lex_next - next token; words are returned in a malloc'd *word */
static enum tok
lex_next(struct lexer *lx, char **word, int *line, int *col)
{
	for (;;) {
		while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r'))
			lex_adv(lx);
		if (lx->p < lx->end && *lx->p == '#') {
			while (lx->p < lx->end && *lx->p != '\n') {
				if (*lx->p == '\0') {
					lex_fail(lx, lx->line, lx->col, "NUL byte in configuration");
					return T_ERR;
				}
				lex_adv(lx);
			}
			continue;
		}
		if (lx->p + 1 < lx->end && lx->p[0] == '\\' &&
		    (lx->p[1] == '\n' || (lx->p[1] == '\r' && lx->p + 2 < lx->end && lx->p[2] == '\n'))) {
			lex_adv(lx); /* line continuation, LF or CRLF */
			if (*lx->p == '\r')
				lex_adv(lx);
			lex_adv(lx);
			continue;
		}
		break;
	}
	*line = lx->line;
	*col = lx->col;
	if (lx->p >= lx->end)
		return T_EOF;
	if (*lx->p == '\n' || *lx->p == ';') {
		lex_adv(lx);
		return T_END;
	}
	if (*lx->p == '{') {
		lex_adv(lx);
		return T_OPEN;
	}
	if (*lx->p == '}') {
		lex_adv(lx);
		return T_CLOSE;
	}
	if (*lx->p == '"') {
		char *buf = malloc(CONF_MAX_WORD + 1);
		size_t n = 0;

		if (buf == NULL) {
			lex_fail(lx, *line, *col, "out of memory");
			return T_ERR;
		}
		lex_adv(lx);
		while (lx->p < lx->end && *lx->p != '"') {
			char c = *lx->p;

			if (c == '\n') {
				lex_fail(lx, *line, *col, "unterminated string");
				free(buf);
				return T_ERR;
			}
			if (c == '\\') {
				lex_adv(lx);
				if (lx->p >= lx->end)
					break;
				c = *lx->p;
				if (c == 'n')
					c = '\n';
				else if (c == 't')
					c = '\t';
				else if (c != '"' && c != '\\' && c != '\0') {
					if (c > 0x20 && c < 0x7f)
						lex_fail(lx, lx->line, lx->col - 1, "unknown escape \\%c", c);
					else
						lex_fail(lx, lx->line, lx->col - 1, "unknown escape: backslash before byte 0x%02x",
						    (unsigned char)c);
					free(buf);
					return T_ERR;
				}
			}
			if (c == '\0') {
				lex_fail(lx, lx->line, lx->col, "NUL byte in string");
				free(buf);
				return T_ERR;
			}
			if (n >= CONF_MAX_WORD) {
				lex_fail(lx, *line, *col, "string longer than %d bytes", CONF_MAX_WORD);
				free(buf);
				return T_ERR;
			}
			buf[n++] = c;
			lex_adv(lx);
		}
		if (lx->p >= lx->end) {
			lex_fail(lx, *line, *col, "unterminated string");
			free(buf);
			return T_ERR;
		}
		lex_adv(lx);
		buf[n] = '\0';
		*word = buf;
		return T_QWORD;
	}
	if (is_word_char((unsigned char)*lx->p)) {
		const char *s = lx->p;

		while (lx->p < lx->end && is_word_char((unsigned char)*lx->p))
			lex_adv(lx);
		if ((size_t)(lx->p - s) > CONF_MAX_WORD) {
			lex_fail(lx, *line, *col, "word longer than %d bytes", CONF_MAX_WORD);
			return T_ERR;
		}
		*word = strndup(s, (size_t)(lx->p - s));
		if (*word == NULL) {
			lex_fail(lx, *line, *col, "out of memory");
			return T_ERR;
		}
		return T_WORD;
	}
	if (*lx->p == '\0')
		lex_fail(lx, *line, *col, "NUL byte in configuration");
	else if (*lx->p > 0x20 && *lx->p < 0x7f)
		lex_fail(lx, *line, *col, "unexpected character '%c'", *lx->p);
	else
		lex_fail(lx, *line, *col, "unexpected byte 0x%02x", (unsigned char)*lx->p);
	return T_ERR;
}

/* stmt_free - free a statement list */
static void
stmt_free(struct conf_stmt *s)
{
	while (s != NULL) {
		struct conf_stmt *next = s->next;

		for (int i = 0; i < s->argc; i++)
			free(s->argv[i]);
		free(s->argv);
		free(s->argcol);
		free(s->argq);
		stmt_free(s->child);
		free(s);
		s = next;
	}
}

/* parse_block - statements until '}' (depth > 0) or end of file */
static struct conf_stmt *
parse_block(struct lexer *lx, int depth, int open_line, int open_col)
{
	struct conf_stmt *first = NULL, **tail = &first, *cur = NULL;

	for (;;) {
		char *word = NULL;
		int line, col;
		enum tok t = lex_next(lx, &word, &line, &col);

		switch (t) {
		case T_ERR:
			goto fail;
		case T_EOF:
			if (cur != NULL)
				cur = NULL;
			if (depth > 0) {
				lex_fail(lx, open_line, open_col, "'{' is never closed");
				goto fail;
			}
			return first;
		case T_END:
			cur = NULL;
			break;
		case T_WORD:
		case T_QWORD:
			if (cur == NULL) {
				cur = calloc(1, sizeof(*cur));
				if (cur == NULL) {
					free(word);
					lex_fail(lx, line, col, "out of memory");
					goto fail;
				}
				cur->file = lx->file;
				cur->line = line;
				cur->col = col;
				*tail = cur;
				tail = &cur->next;
			}
			if (cur->argc >= CONF_MAX_WORDS) {
				free(word);
				lex_fail(lx, line, col, "more than %d words in one statement", CONF_MAX_WORDS);
				goto fail;
			}
			{
				char **nv = realloc(cur->argv, sizeof(char *) * (size_t)(cur->argc + 1));
				int *nc;
				bool *nq;

				if (nv == NULL) {
					free(word);
					lex_fail(lx, line, col, "out of memory");
					goto fail;
				}
				cur->argv = nv;
				nc = realloc(cur->argcol, sizeof(int) * (size_t)(cur->argc + 1));
				if (nc == NULL) {
					free(word);
					lex_fail(lx, line, col, "out of memory");
					goto fail;
				}
				cur->argcol = nc;
				nq = realloc(cur->argq, sizeof(bool) * (size_t)(cur->argc + 1));
				if (nq == NULL) {
					free(word);
					lex_fail(lx, line, col, "out of memory");
					goto fail;
				}
				cur->argq = nq;
				cur->argv[cur->argc] = word;
				cur->argcol[cur->argc] = col;
				cur->argq[cur->argc] = t == T_QWORD;
				cur->argc++;
			}
			break;
		case T_OPEN:
			if (cur == NULL) {
				lex_fail(lx, line, col, "'{' without a statement before it");
				goto fail;
			}
			if (depth + 1 > CONF_MAX_DEPTH) {
				lex_fail(lx, line, col, "blocks nested deeper than %d", CONF_MAX_DEPTH);
				goto fail;
			}
			cur->block = true; /* "a {}" is not "a" */
			cur->child = parse_block(lx, depth + 1, line, col);
			if (lx->failed)
				goto fail;
			cur = NULL;
			break;
		case T_CLOSE:
			if (depth == 0) {
				lex_fail(lx, line, col, "'}' without a matching '{'");
				goto fail;
			}
			return first;
		case T_COUNT:
			break;
		}
	}
fail:
	stmt_free(first);
	return NULL;
}

/* conf_parse - see conf.h */
struct conf_doc *
conf_parse(const char *file, const char *text, size_t len, struct conf_error *err)
{
	struct conf_doc *doc = calloc(1, sizeof(*doc));
	struct lexer lx;

	if (doc == NULL || (doc->file = strdup(file)) == NULL) {
		snprintf(err->msg, sizeof(err->msg), "%s: out of memory", file);
		free(doc);
		return NULL;
	}
	memset(&lx, 0, sizeof(lx));
	lx.file = doc->file;
	lx.p = text;
	lx.end = text + len;
	lx.line = 1;
	lx.col = 1;
	lx.err = err;
	doc->first = parse_block(&lx, 0, 0, 0);
	if (lx.failed) {
		conf_doc_free_(doc);
		return NULL;
	}
	return doc;
}

/* conf_parse_file - read a whole file (bounded) and parse it */
struct conf_doc *
conf_parse_file(const char *path, struct conf_error *err)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	struct conf_doc *doc;

	if (fp == NULL) {
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			if (cap > CONF_MAX_FILE) {
				snprintf(err->msg, sizeof(err->msg), "%s: file too large", path);
				goto fail;
			}
			nb = realloc(buf, cap);
			if (nb == NULL) {
				snprintf(err->msg, sizeof(err->msg), "%s: out of memory", path);
				goto fail;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		snprintf(err->msg, sizeof(err->msg), "%s: read error", path);
		goto fail;
	}
	fclose(fp);
	doc = conf_parse(path, buf ? buf : "", len, err);
	free(buf);
	return doc;
fail:
	fclose(fp);
	free(buf);
	return NULL;
}

/* conf_doc_free_ - free a document; NULL is fine */
void
conf_doc_free_(struct conf_doc *doc)
{
	if (doc == NULL)
		return;
	stmt_free(doc->first);
	free(doc->file);
	free(doc);
}

/* conf_parse_duration - see conf.h */
int
conf_parse_duration(const char *s, unsigned *ms)
{
	char *end;
	unsigned long long v, mult = 1000;

	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "m") == 0)
		mult = 60000;
	else if (strcmp(end, "h") == 0)
		mult = 3600000;
	else if (strcmp(end, "d") == 0)
		mult = 86400000;
	else
		return -1;
	if (v > 86400000ULL / mult * 7)
		return -1; /* a week at most */
	*ms = (unsigned)(v * mult);
	return 0;
}

/* conf_parse_size - see conf.h */
int
conf_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v, mult = 1;

	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end == 'k' || *end == 'K')
		mult = 1024;
	else if (*end == 'm' || *end == 'M')
		mult = 1024 * 1024;
	else if (*end == 'g' || *end == 'G')
		mult = 1024ULL * 1024 * 1024;
	else if (*end != '\0')
		return -1;
	if (*end != '\0' && end[1] != '\0')
		return -1;
	if (v > (1ULL << 40) / mult)
		return -1;
	*out = v * mult;
	return 0;
}

/* conf_vfail_at - see conf.h */
int
conf_vfail_at(struct conf_error *err, const struct conf_stmt *s, int col, const char *fmt, va_list ap)
{
	int n = snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: ", s->file, s->line, col);

	if (n >= 0 && (size_t)n < sizeof(err->msg))
		vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
	return -1;
}

/* conf_fail_at - see conf.h */
int
conf_fail_at(struct conf_error *err, const struct conf_stmt *s, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_vfail_at(err, s, col, fmt, ap);
	va_end(ap);
	return -1;
}

/* conf_fail - see conf.h */
int
conf_fail(struct conf_error *err, const struct conf_stmt *s, int word, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_vfail_at(err, s, word >= 0 && word < s->argc ? s->argcol[word] : s->col, fmt, ap);
	va_end(ap);
	return -1;
}
