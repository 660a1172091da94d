/* proxy/esmtp.c: EHLO capabilities (read, filter, announce) and queue ids */
#include <stdio.h>
#include <string.h>

#include "esmtp.h"
#include "smtp_reply.h"
#include "util.h"

/* word_is - the first word of s (length n) equals kw, ignoring case */
static bool
word_is(const char *s, size_t n, const char *kw)
{
	size_t k = strlen(kw);

	return n >= k && ascii_ncasecmp(s, kw, k) == 0 && (n == k || s[k] == ' ' || s[k] == '=');
}

/* parse_u64 - leading decimal digits */
static uint64_t
parse_u64(const char *s, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n && s[i] >= '0' && s[i] <= '9' && v < (1ULL << 58); i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	return v;
}

/* esmtp_parse_caps - see esmtp.h */
void
esmtp_parse_caps(const char *raw, size_t len, struct esmtp_caps *caps)
{
	static const struct {
		const char *name;
		unsigned bit;
	} attrs[] = {
		{ "NAME", XA_NAME }, { "ADDR", XA_ADDR }, { "PORT", XA_PORT },
		{ "PROTO", XA_PROTO }, { "HELO", XA_HELO }, { "REVERSE_NAME", XA_REVERSE_NAME },
		{ "LOGIN", XA_LOGIN }, { "DESTADDR", XA_DESTADDR }, { "DESTPORT", XA_DESTPORT },
	};
	size_t pos = 0, tl;
	const char *t;
	bool last, first = true;

	memset(caps, 0, sizeof(*caps));
	while (reply_next_line(raw, len, &pos, &t, &tl, &last)) {
		if (first) {
			first = false; /* the greeting line names the host */
			continue;
		}
		if (word_is(t, tl, "PIPELINING")) {
			caps->pipelining = true;
		} else if (word_is(t, tl, "STARTTLS")) {
			caps->flags |= ESMTP_F_STARTTLS;
		} else if (word_is(t, tl, "SIZE")) {
			caps->size = tl > 5 ? parse_u64(t + 5, tl - 5) : 0;
		} else if (word_is(t, tl, "AUTH") && tl > 5 && caps->auth[0] == '\0') {
			size_t n = 0;

			/* mechanism names: letters, digits, '-', '_' and spaces (RFC 4422 3.1) */
			for (size_t i = 5; i < tl && n + 1 < sizeof(caps->auth); i++) {
				char ch = t[i];

				if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
				    ch == '-' || ch == '_' || ch == ' ')
					caps->auth[n++] = ch;
			}
			caps->auth[n] = '\0';
		} else if (word_is(t, tl, "XCLIENT")) {
			size_t i = 7;

			caps->xclient = true;
			while (i < tl) {
				size_t s, e;

				while (i < tl && t[i] == ' ')
					i++;
				s = i;
				while (i < tl && t[i] != ' ')
					i++;
				e = i;
				for (size_t a = 0; a < nitems(attrs); a++)
					if (e - s == strlen(attrs[a].name) &&
					    ascii_ncasecmp(t + s, attrs[a].name, e - s) == 0)
						caps->xattrs |= attrs[a].bit;
			}
		}
	}
}

/* esmtp_rewrite_ehlo - see esmtp.h */
size_t
esmtp_rewrite_ehlo(const char *raw, size_t len, const char *hostname, uint64_t size_limit,
    const char *const *extra, char *out, size_t outsz)
{
	static const char *const keep[] = {
		"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN",
	};
	const char *lines[16];
	size_t lens[16], n = 0, pos = 0, tl, o = 0;
	const char *t;
	bool last, first = true;
	uint64_t size = size_limit;
	char sizebuf[32];
	int w;

	while (reply_next_line(raw, len, &pos, &t, &tl, &last)) {
		if (first) {
			first = false;
			continue;
		}
		if (word_is(t, tl, "SIZE")) {
			uint64_t b = tl > 5 ? parse_u64(t + 5, tl - 5) : 0;

			if (b != 0 && (size == 0 || b < size))
				size = b;
			continue;
		}
		for (size_t k = 0; k < nitems(keep); k++) {
			if (word_is(t, tl, keep[k]) && n < nitems(lines) - 1) {
				lines[n] = t;
				lens[n] = tl;
				n++;
				break;
			}
		}
	}
	for (; extra != NULL && *extra != NULL && n < nitems(lines) - 1; extra++) {
		lines[n] = *extra;
		lens[n] = strlen(*extra);
		n++;
	}
	w = snprintf(sizebuf, sizeof(sizebuf), "SIZE %llu", (unsigned long long)size);
	lines[n] = sizebuf;
	lens[n] = (size_t)w;
	n++;
	w = snprintf(out, outsz, "250-%s\r\n", hostname);
	if (w < 0 || (size_t)w >= outsz)
		return 0;
	o = (size_t)w;
	for (size_t i = 0; i < n; i++) {
		if (o + lens[i] + 6 > outsz)
			return 0;
		memcpy(out + o, i + 1 == n ? "250 " : "250-", 4);
		memcpy(out + o + 4, lines[i], lens[i]);
		memcpy(out + o + 4 + lens[i], "\r\n", 2);
		o += lens[i] + 6;
	}
	return o;
}

/* token_after - copy [A-Za-z0-9.-] characters following marker */
static bool
token_after(const char *raw, size_t len, const char *marker, char *out, size_t outsz)
{
	size_t ml = strlen(marker);

	for (size_t i = 0; i + ml <= len; i++) {
		size_t j, o = 0;

		if (ascii_ncasecmp(raw + i, marker, ml) != 0)
			continue;
		for (j = i + ml; j < len && o + 1 < outsz; j++) {
			char c = raw[j];

			if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			        c == '-' || c == '.'))
				break;
			out[o++] = c;
		}
		while (o > 0 && out[o - 1] == '.')
			o--;
		out[o] = '\0';
		if (o > 0)
			return true;
	}
	return false;
}

/* esmtp_queue_id - see esmtp.h */
bool
esmtp_queue_id(const char *raw, size_t len, char *out, size_t outsz)
{
	if (outsz == 0)
		return false;
	out[0] = '\0';
	return token_after(raw, len, "queued as ", out, outsz) ||
	    token_after(raw, len, " qp ", out, outsz) ||
	    token_after(raw, len, " id=", out, outsz);
}

/* xtext_encode - see esmtp.h */
size_t
xtext_encode(const char *in, size_t inlen, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 33 || c > 126 || c == '+' || c == '=') {
			if (o + 3 >= outsz)
				return 0;
			out[o++] = '+';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			if (o + 1 >= outsz)
				return 0;
			out[o++] = (char)c;
		}
	}
	if (o >= outsz)
		return 0;
	out[o] = '\0';
	return o;
}

/* xclient_build - see esmtp.h */
size_t
xclient_build(char *out, size_t outsz, unsigned xattrs, const char *addr, bool v6, unsigned port, const char *name, const char *helo, bool esmtp, const char *login)
{
	char enc[800];
	size_t o;
	int w;

	w = snprintf(out, outsz, "XCLIENT");
	if (w < 0 || (size_t)w >= outsz)
		return 0;
	o = (size_t)w;
#define XADD(fmt, ...)                                              \
	do {                                                            \
		w = snprintf(out + o, outsz - o, fmt, __VA_ARGS__);         \
		if (w < 0 || (size_t)w >= outsz - o)                        \
			return 0;                                               \
		o += (size_t)w;                                             \
	} while (0)
	if (xattrs & XA_ADDR)
		XADD(" ADDR=%s%s", v6 ? "IPV6:" : "", addr);
	if (xattrs & XA_PORT)
		XADD(" PORT=%u", port);
	if ((xattrs & XA_NAME) && xtext_encode(name, strlen(name), enc, sizeof(enc)) > 0)
		XADD(" NAME=%s", enc);
	if ((xattrs & XA_HELO) && helo != NULL && xtext_encode(helo, strlen(helo), enc, sizeof(enc)) > 0)
		XADD(" HELO=%s", enc);
	if (xattrs & XA_PROTO)
		XADD(" PROTO=%s", esmtp ? "ESMTP" : "SMTP");
	if ((xattrs & XA_LOGIN) && login != NULL && xtext_encode(login, strlen(login), enc, sizeof(enc)) > 0)
		XADD(" LOGIN=%s", enc);
	XADD("%s", "\r\n");
#undef XADD
	return o;
}
