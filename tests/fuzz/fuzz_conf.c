/* tests/fuzz/fuzz_conf.c: configuration text through conf_parse() and back */
#include <stdbool.h>

#include "conf.h"
#include "config.h"
#include "fuzz.h"

/*
 * Input: byte 0 picks a split point, the rest is a configuration file.
 * A failed parse must name a position inside the text. A good parse is
 * written back out with every word quoted and must parse again to the
 * same tree. Every word also goes through the value parsers of config.c.
 * The prefix before the split point is parsed too: a file cut short.
 */

/* count_lines - 1 + the number of LFs */
static int
count_lines(const char *p, size_t n)
{
	int lines = 1;

	for (size_t i = 0; i < n; i++)
		lines += p[i] == '\n';
	return lines;
}

/* write_word - a word as a quoted string the lexer reads back */
static void
write_word(struct fbuf *b, const char *w)
{
	fbuf_add(b, "\"", 1);
	for (; *w != '\0'; w++) {
		if (*w == '"' || *w == '\\')
			fbuf_add(b, "\\", 1);
		if (*w == '\n')
			fbuf_add(b, "\\n", 2);
		else if (*w == '\t')
			fbuf_add(b, "\\t", 2);
		else
			fbuf_add(b, w, 1);
	}
	fbuf_add(b, "\" ", 2);
}

/* write_stmts - statements back to text; checks each on the way */
static void
write_stmts(struct fbuf *b, const struct conf_stmt *s, int depth, int lines)
{
	FUZZ_CHECK(depth <= 8);
	for (; s != NULL; s = s->next) {
		FUZZ_CHECK(s->argc >= 1 && s->argc <= 256 && s->argv != NULL);
		FUZZ_CHECK(s->line >= 1 && s->line <= lines && s->col >= 1);
		FUZZ_CHECK(s->argcol[0] == s->col);
		for (int i = 0; i < s->argc; i++) {
			struct cfg_addr a;
			const char *why;
			unsigned ms;
			uint64_t sz;

			FUZZ_CHECK(
			    s->argv[i] != NULL && strlen(s->argv[i]) <= 4096);
			FUZZ_CHECK(s->argcol[i] >= 1);
			write_word(b, s->argv[i]);
			memset(&a, 0, sizeof(a));
			cfg_parse_addr(s->argv[i], &a, &why);
			conf_parse_duration(s->argv[i], &ms);
			conf_parse_size(s->argv[i], &sz);
		}
		if (s->child != NULL) {
			fbuf_add(b, "{\n", 2);
			write_stmts(b, s->child, depth + 1, lines);
			fbuf_add(b, "}", 1);
		}
		fbuf_add(b, "\n", 1);
	}
}

/* same_tree - two statement lists hold the same words in the same shape */
static bool
same_tree(const struct conf_stmt *a, const struct conf_stmt *b)
{
	for (; a != NULL && b != NULL; a = a->next, b = b->next) {
		if (a->argc != b->argc)
			return false;
		for (int i = 0; i < a->argc; i++)
			if (strcmp(a->argv[i], b->argv[i]) != 0)
				return false;
		if (!same_tree(a->child, b->child))
			return false;
	}
	return a == NULL && b == NULL;
}

/* parse_one - parse text; check the error or the round trip */
static void
parse_one(const char *src, size_t n)
{
	char *text = fuzz_dup(src, n);
	struct conf_error err;
	struct conf_doc *doc;
	int lines = count_lines(text, n);

	memset(&err, 0, sizeof(err));
	doc = conf_parse("fuzz.conf", text, n, &err);
	if (doc == NULL) {
		int line = 0, col = 0;

		FUZZ_CHECK(
		    sscanf(err.msg, "fuzz.conf:%d:%d: ", &line, &col) == 2);
		FUZZ_CHECK(line >= 1 && line <= lines && col >= 1);
		FUZZ_CHECK(strlen(err.msg) < sizeof(err.msg));
	} else {
		struct fbuf b = {0};
		struct conf_doc *again;

		write_stmts(&b, doc->first, 0, lines);
		again = conf_parse("again.conf", b.p ? b.p : "", b.len, &err);
		FUZZ_CHECK(again != NULL);
		FUZZ_CHECK(same_tree(doc->first, again->first));
		conf_doc_free(again);
		fbuf_free(&b);
	}
	conf_doc_free(doc);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t insize)
{
	const char *data = (const char *)in + 1;
	size_t size, cut;

	if (insize < 1)
		return 0;
	size = insize - 1;
	cut = size ? (size_t)in[0] * size / 255 : 0;
	parse_one(data, size);
	if (cut < size)
		parse_one(data, cut);
	return 0;
}
