/* proxy/mailhdr.c: read one field from a block of RFC 5322 header lines (pure) */
#include <string.h>

#include "mailhdr.h"
#include "util.h"

/* line_end - index just past the line starting at i (its LF, or len) */
static size_t
line_end(const char *h, size_t len, size_t i)
{
	const char *lf = memchr(h + i, '\n', len - i);

	return lf ? (size_t)(lf - h) + 1 : len;
}

/* mailhdr_get - see mailhdr.h */
bool
mailhdr_get(const char *hdr, size_t len, const char *name, char *out, size_t outsz)
{
	size_t nlen = strlen(name), i = 0, n = 0;

	if (outsz == 0)
		return false;
	out[0] = '\0';
	while (i < len) {
		size_t e = line_end(hdr, len, i);
		bool blank = (e - i == 1 && hdr[i] == '\n') || (e - i == 2 && hdr[i] == '\r' && hdr[i + 1] == '\n');

		if (blank)
			return false; /* the end of the header block */
		if (e - i > nlen && hdr[i + nlen] == ':' && ascii_ncasecmp(hdr + i, name, nlen) == 0) {
			size_t p = i + nlen + 1;
			bool space = true; /* trims leading white space, folds runs */

			for (;;) {
				for (; p < e; p++) {
					unsigned char c = (unsigned char)hdr[p];

					if (c == '\r' || c == '\n')
						continue;
					if (c == ' ' || c == '\t') {
						if (!space && n + 1 < outsz)
							out[n++] = ' ';
						space = true;
						continue;
					}
					if (n + 1 < outsz)
						out[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
					space = false;
				}
				/* a continuation line starts with white space */
				if (e >= len || (hdr[e] != ' ' && hdr[e] != '\t'))
					break;
				if (!space && n + 1 < outsz)
					out[n++] = ' ';
				space = true;
				p = e;
				e = line_end(hdr, len, e);
			}
			while (n > 0 && out[n - 1] == ' ')
				n--;
			out[n] = '\0';
			return true;
		}
		i = e;
	}
	return false;
}
