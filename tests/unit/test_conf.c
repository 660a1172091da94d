/* tests/unit/test_conf.c: the configuration language's lexer and parser */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "t.h"
#include "util.h"

#define TEXT(s) .text = s, .len = sizeof(s) - 1

/*
 * A parsed document is written down as "LINE:COL(word|word)" per
 * statement, with "[...]" after it for a block that has statements.
 * A case expects either that tree or the exact error message.
 */
static const struct {
	const char *label;
	const char *text;
	size_t len;
	const char *tree; /* NULL: a syntax error is expected */
	const char *err;
} cases[] = {
	{ "one statement", TEXT("listen *:25\n"), "1:1(listen|*:25)" },
	{ "no final newline", TEXT("listen *:25"), "1:1(listen|*:25)" },
	{ "several statements", TEXT("a 1\nb 2\n\nc\n"), "1:1(a|1)2:1(b|2)4:1(c)" },
	{ "semicolons", TEXT("a b; c d;e\n"), "1:1(a|b)1:6(c|d)1:10(e)" },
	{ "empty statements", TEXT(";;a ; ; b;\n;"), "1:3(a)1:9(b)" },
	{ "indentation", TEXT("  a\n\tb  c\n"), "1:3(a)2:2(b|c)" },
	{ "comments", TEXT("# top\na 1 # after\n  # indented\nb#glued\n"), "2:1(a|1)4:1(b)" },
	{ "comment without newline", TEXT("a # end"), "1:1(a)" },
	{ "only comments and blanks", TEXT("# x\n\n   \n# y"), "" },
	{ "empty file", TEXT(""), "" },
	{ "CRLF line ends", TEXT("a b\r\nc\r\n"), "1:1(a|b)2:1(c)" },
	{ "line continuation", TEXT("a b \\\n  c\nd\n"), "1:1(a|b|c)3:1(d)" },
	{ "line continuation, CRLF", TEXT("a b \\\r\n  c\r\nd\r\n"), "1:1(a|b|c)3:1(d)" },
	{ "word characters", TEXT("w -_.:/[]@*+=<>!~,\n"), "1:1(w|-_.:/[]@*+=<>!~,)" },
	{ "UTF-8 in a bare word", TEXT("banner h\xc3\xa9llo\n"), "1:1(banner|h\xc3\xa9llo)" },
	{ "quoted string", TEXT("banner \"a b  c\"\n"), "1:1(banner|a b  c)" },
	{ "empty quoted string", TEXT("a \"\"\n"), "1:1(a|)" },
	{ "quoted specials", TEXT("a \"#;{}\"\n"), "1:1(a|#;{})" },
	{ "escapes", TEXT("a \"q\\\"x\\\\y\\nz\\tw\"\n"), "1:1(a|q\"x\\y\nz\tw)" },
	{ "quoted keyword", TEXT("\"two words\" x\n"), "1:1(two words|x)" },
	{ "quote glued to a word", TEXT("a\"b\"c\n"), "1:1(a|b|c)" },
	{ "block", TEXT("s {\n  a 1\n  b 2\n}\n"), "1:1(s)[2:3(a|1)3:3(b|2)]" },
	{ "block on one line", TEXT("s x { a; b }\n"), "1:1(s|x)[1:7(a)1:10(b)]" },
	{ "block then statement", TEXT("a { b } c\n"), "1:1(a)[1:5(b)]1:9(c)" },
	{ "nested blocks", TEXT("a {\n b {\n  c {\n   d\n  }\n }\n}\ne\n"),
	    "1:1(a)[2:2(b)[3:3(c)[4:4(d)]]]8:1(e)" },
	{ "brace glued to words", TEXT("a{b}c\n"), "1:1(a)[1:3(b)]1:5(c)" },
	{ "eight levels deep", TEXT("a{a{a{a{a{a{a{a{x}}}}}}}}"),
	    "1:1(a)[1:3(a)[1:5(a)[1:7(a)[1:9(a)[1:11(a)[1:13(a)[1:15(a)[1:17(x)]]]]]]]]" },

	{ "unterminated string at newline", TEXT("a \"abc\nb\n"), NULL, "t.conf:1:3: unterminated string" },
	{ "unterminated string at the end", TEXT("a\n  b \"abc"), NULL, "t.conf:2:5: unterminated string" },
	{ "backslash at the end of a string", TEXT("a \"abc\\"), NULL, "t.conf:1:3: unterminated string" },
	{ "unknown escape", TEXT("a \"ab\\qc\"\n"), NULL, "t.conf:1:6: unknown escape \\q" },
	{ "escaped newline in a string", TEXT("a \"ab\\\nc\"\n"), NULL,
	    "t.conf:1:6: unknown escape: backslash before byte 0x0a" },
	{ "unclosed block", TEXT("\n\nfoo {\n  bar\n"), NULL, "t.conf:3:5: '{' is never closed" },
	{ "unclosed inner block", TEXT("a {\n b {\n}\n"), NULL, "t.conf:1:3: '{' is never closed" },
	{ "'}' without '{'", TEXT("a\n  }\n"), NULL, "t.conf:2:3: '}' without a matching '{'" },
	{ "one '}' too many", TEXT("a { b }\n}"), NULL, "t.conf:2:1: '}' without a matching '{'" },
	{ "'{' without a statement", TEXT("{ a }\n"), NULL, "t.conf:1:1: '{' without a statement before it" },
	{ "'{' after ';'", TEXT("a; { b }\n"), NULL, "t.conf:1:4: '{' without a statement before it" },
	{ "second block", TEXT("a { b } { c }\n"), NULL, "t.conf:1:9: '{' without a statement before it" },
	{ "nine levels deep", TEXT("a{a{a{a{a{a{a{a{a{x}}}}}}}}}"), NULL,
	    "t.conf:1:18: blocks nested deeper than 8" },
	{ "NUL byte", TEXT("a b\nc\0d\n"), NULL, "t.conf:2:2: NUL byte in configuration" },
	{ "NUL byte first", TEXT("\0"), NULL, "t.conf:1:1: NUL byte in configuration" },
	{ "NUL byte in a comment", TEXT("a # x\0y\n"), NULL, "t.conf:1:6: NUL byte in configuration" },
	{ "NUL byte in a string", TEXT("a \"b\0c\"\n"), NULL, "t.conf:1:5: NUL byte in string" },
	{ "escaped NUL byte", TEXT("a \"b\\\0c\"\n"), NULL, "t.conf:1:6: NUL byte in string" },
	{ "unexpected character", TEXT("a\nb `c`\n"), NULL, "t.conf:2:3: unexpected character '`'" },
	{ "lone backslash", TEXT("a \\ b\n"), NULL, "t.conf:1:3: unexpected character '\\'" },
	{ "control byte", TEXT("a \x01\n"), NULL, "t.conf:1:3: unexpected byte 0x01" },
	{ "DEL byte", TEXT("a\x7f\n"), NULL, "t.conf:1:2: unexpected byte 0x7f" },
	{ "first error wins", TEXT("a }\nb \"x\n"), NULL, "t.conf:1:3: '}' without a matching '{'" },
};

/* dump - append the statement list in the trace notation */
static void
dump(struct tbuf *b, const struct conf_stmt *s)
{
	for (; s != NULL; s = s->next) {
		char pos[32];

		snprintf(pos, sizeof(pos), "%d:%d(", s->line, s->col);
		tbuf_adds(b, pos);
		for (int i = 0; i < s->argc; i++) {
			if (i > 0)
				tbuf_adds(b, "|");
			tbuf_adds(b, s->argv[i]);
		}
		tbuf_adds(b, ")");
		if (s->child != NULL) {
			tbuf_adds(b, "[");
			dump(b, s->child);
			tbuf_adds(b, "]");
		}
	}
}

/* test_cases - each text parsed from an exact-size heap copy */
static void
test_cases(void)
{
	for (size_t i = 0; i < nitems(cases); i++) {
		char *text = t_dup(cases[i].text, cases[i].len);
		struct conf_error err;
		struct conf_doc *doc;

		memset(&err, 0, sizeof(err));
		doc = conf_parse("t.conf", text, cases[i].len, &err);
		if (cases[i].tree != NULL) {
			struct tbuf b = { 0 };

			t_true(doc != NULL, "%s: parses", cases[i].label);
			if (doc == NULL)
				t_diag("error: %s", err.msg);
			dump(&b, doc ? doc->first : NULL);
			t_str_eq(b.p ? b.p : "", cases[i].tree, "%s: tree", cases[i].label);
			if (doc != NULL)
				t_str_eq(doc->file, "t.conf", "%s: file name", cases[i].label);
			tbuf_free(&b);
		} else {
			t_true(doc == NULL, "%s: fails", cases[i].label);
			t_str_eq(err.msg, cases[i].err, "%s: message", cases[i].label);
		}
		conf_doc_free(doc);
		t_true(doc == NULL, "%s: free clears the pointer", cases[i].label);
		free(text);
	}
}

/* test_columns - every word records its own column */
static void
test_columns(void)
{
	static const char text[] = "x\n\tlisten  \"*:25\"\t# c\n  timeout idle 5m; limit errors 3\n";
	static const int want[][3] = { { 2, 10, 0 }, { 3, 11, 16 }, { 20, 26, 33 } };
	struct conf_error err;
	struct conf_doc *doc = conf_parse("c.conf", text, sizeof(text) - 1, &err);
	const struct conf_stmt *s = doc ? doc->first : NULL;

	t_true(doc != NULL, "columns: parses");
	if (s == NULL)
		return;
	s = s->next;
	for (int i = 0; i < 3 && s != NULL; i++, s = s->next)
		for (int w = 0; w < s->argc && w < 3; w++)
			t_int_eq(s->argcol[w], want[i][w], "columns: statement %d word %d", i + 2, w);
	t_int_eq(doc->first->next->col, 2, "columns: statement column is its first word's");
	conf_doc_free(doc);
}

/* test_limits - long words, many words, long file names */
static void
test_limits(void)
{
	struct tbuf b = { 0 };
	struct conf_error err;
	struct conf_doc *doc;
	char longname[700];

	tbuf_adds(&b, "a ");
	for (int i = 0; i < 4096; i++)
		tbuf_adds(&b, "w");
	doc = conf_parse("t.conf", b.p, b.len, &err);
	t_true(doc != NULL && strlen(doc->first->argv[1]) == 4096, "word of 4096 bytes");
	conf_doc_free(doc);
	tbuf_adds(&b, "w");
	doc = conf_parse("t.conf", b.p, b.len, &err);
	t_true(doc == NULL, "word of 4097 bytes fails");
	t_str_eq(err.msg, "t.conf:1:3: word longer than 4096 bytes", "word of 4097 bytes: message");
	tbuf_free(&b);

	tbuf_adds(&b, "a \"");
	for (int i = 0; i < 4097; i++)
		tbuf_adds(&b, "s");
	tbuf_adds(&b, "\"");
	doc = conf_parse("t.conf", b.p, b.len, &err);
	t_str_eq(doc ? "" : err.msg, "t.conf:1:3: string longer than 4096 bytes", "string of 4097 bytes");
	conf_doc_free(doc);
	tbuf_free(&b);

	for (int i = 0; i < 256; i++)
		tbuf_adds(&b, "w ");
	doc = conf_parse("t.conf", b.p, b.len, &err);
	t_true(doc != NULL && doc->first->argc == 256, "256 words in a statement");
	conf_doc_free(doc);
	tbuf_adds(&b, "w");
	doc = conf_parse("t.conf", b.p, b.len, &err);
	t_str_eq(doc ? "" : err.msg, "t.conf:1:513: more than 256 words in one statement", "257 words");
	conf_doc_free(doc);
	tbuf_free(&b);

	/*
	 * The position prefix alone fills the message: it must be truncated,
	 * not overrun. The error lives on the heap so that ASan sees a write
	 * just past it (a 510-byte name puts the text at offset 516).
	 */
	for (size_t namelen = 510; namelen < sizeof(longname); namelen += 189) {
		struct conf_error *e = malloc(sizeof(*e));

		if (e == NULL)
			abort();
		memset(longname, 'n', namelen);
		longname[namelen] = '\0';
		memset(e, 'X', sizeof(*e));
		doc = conf_parse(longname, "}", 1, e);
		t_true(doc == NULL && strlen(e->msg) == sizeof(e->msg) - 1,
		    "file name of %zu bytes: message truncated", namelen);
		free(e);
	}
}

/* test_file - conf_parse_file reads a file and names it in errors */
static void
test_file(void)
{
	char path[] = "/tmp/sluice-test-conf-XXXXXX";
	int fd = mkstemp(path);
	struct conf_error err;
	struct conf_doc *doc;
	char want[128];

	t_true(fd >= 0, "file: temp file");
	if (fd < 0)
		return;
	t_true(write(fd, "a 1\nb {\n", 8) == 8, "file: written");
	close(fd);
	doc = conf_parse_file(path, &err);
	snprintf(want, sizeof(want), "%s:2:3: '{' is never closed", path);
	t_true(doc == NULL, "file: syntax error");
	t_str_eq(err.msg, want, "file: message names the file");
	unlink(path);
	doc = conf_parse_file(path, &err);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	t_true(doc == NULL, "file: missing");
	t_str_eq(err.msg, want, "file: missing, message");
}

int
main(void)
{
	test_cases();
	test_columns();
	test_limits();
	test_file();
	return t_done();
}
