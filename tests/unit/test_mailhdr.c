/* tests/unit/test_mailhdr.c: header fields from a (possibly cut) header block */
#include <string.h>

#include "mailhdr.h"
#include "t.h"
#include "util.h"

static const struct {
	const char *hdr, *name;
	bool found;
	const char *value;
} cases[] = {
	{ "Subject: hello\r\nFrom: a@b\r\n\r\nbody", "Subject", true, "hello" },
	{ "subject:   hello  \r\n\r\n", "Subject", true, "hello" },
	{ "Subject: a\r\n  folded\r\n\tagain\r\nX: y\r\n\r\n", "Subject", true, "a folded again" },
	{ "From: a@b\nSubject: lf only\n\n", "subject", true, "lf only" },
	{ "From: a@b\r\n\r\nSubject: in the body\r\n", "Subject", false, "" },
	{ "Subject: first\r\nSubject: second\r\n\r\n", "Subject", true, "first" },
	{ "Subjectx: no\r\n\r\n", "Subject", false, "" },
	{ "Subject: cut sho", "Subject", true, "cut sho" },
	{ "Subject: ctl\x01\x7f!\r\n\r\n", "Subject", true, "ctl\?\?!" },
	{ "Subject:\r\n\r\n", "Subject", true, "" },
	{ "", "Subject", false, "" },
	{ "Subject", "Subject", false, "" },
	{ "Date: Sun, 29 Nov 2026 03:00:00 +0000\r\n", "Date", true, "Sun, 29 Nov 2026 03:00:00 +0000" },
};

int
main(void)
{
	char out[64], small[6];

	for (size_t i = 0; i < nitems(cases); i++) {
		size_t len = strlen(cases[i].hdr);
		char *copy = t_dup(cases[i].hdr, len); /* exact size: ASan sees overreads */
		bool f = mailhdr_get(copy, len, cases[i].name, out, sizeof(out));

		t_true(f == cases[i].found, "case %zu found=%d", i, f);
		t_true(strcmp(out, cases[i].value) == 0, "case %zu value '%s'", i, out);
		free(copy);
	}
	t_true(mailhdr_get("Subject: a long subject\r\n", 25, "Subject", small, sizeof(small)), "cut to fit");
	t_true(strcmp(small, "a lon") == 0, "cut value '%s'", small);
	return t_done();
}
