/* proxy/smtp_cmd.c: SMTP command line parser */
#include <string.h>

#include "smtp_cmd.h"

static const struct {
	const char *name;
	enum cmd_verb verb;
} verbs[] = {
	{ "HELO", CMD_HELO },
	{ "EHLO", CMD_EHLO },
	{ "MAIL", CMD_MAIL },
	{ "RCPT", CMD_RCPT },
	{ "DATA", CMD_DATA },
	{ "BDAT", CMD_BDAT },
	{ "RSET", CMD_RSET },
	{ "NOOP", CMD_NOOP },
	{ "QUIT", CMD_QUIT },
	{ "VRFY", CMD_VRFY },
	{ "EXPN", CMD_EXPN },
	{ "HELP", CMD_HELP },
	{ "STARTTLS", CMD_STARTTLS },
	{ "AUTH", CMD_AUTH },
	{ "ETRN", CMD_ETRN },
	{ "XCLIENT", CMD_XCLIENT },
	{ "XFORWARD", CMD_XFORWARD },
	/* what Postfix lists in smtpd_forbidden_commands, plus friends */
	{ "GET", CMD_NONSMTP },
	{ "POST", CMD_NONSMTP },
	{ "HEAD", CMD_NONSMTP },
	{ "PUT", CMD_NONSMTP },
	{ "CONNECT", CMD_NONSMTP },
	{ "OPTIONS", CMD_NONSMTP },
	{ "USER", CMD_NONSMTP },
	{ "PASS", CMD_NONSMTP },
};

/* cmd_verb_name - canonical upper-case name */
const char *
cmd_verb_name(enum cmd_verb v)
{
	if (v == CMD_NONSMTP)
		return "non-smtp";
	for (size_t i = 0; i < nitems(verbs); i++)
		if (verbs[i].verb == v)
			return verbs[i].name;
	return "unknown";
}

/* bad - fill the error reply and return PARSE_BAD */
static enum parse_rc
bad(struct smtp_cmd *c, int code, const char *enh, const char *err)
{
	c->errcode = code;
	c->enh = enh;
	c->err = err;
	return PARSE_BAD;
}

/* is_ctl - control characters that never belong in a command */
static bool
has_ctl(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 && ch != '\t')
			return true;
		if (ch == 0x7f)
			return true;
	}
	return false;
}

/* parse_u64 - decimal digits only, no overflow */
static bool
parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* parse_params - ESMTP parameters: keyword[=value] separated by spaces */
static enum parse_rc
parse_params(struct smtp_cmd *c, const char *s, size_t n)
{
	size_t i = 0, count = 0;

	while (i < n) {
		size_t start, kend, end;

		while (i < n && s[i] == ' ')
			i++;
		if (i >= n)
			break;
		start = i;
		while (i < n && s[i] != ' ')
			i++;
		end = i;
		if (++count > CMD_PARAM_MAX)
			return bad(c, 555, "5.5.4", "Too many parameters");
		kend = start;
		while (kend < end && s[kend] != '=')
			kend++;
		if (kend == start)
			return bad(c, 555, "5.5.4", "Malformed parameter");
		for (size_t k = start; k < kend; k++) {
			char ch = s[k];

			if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			        (ch >= '0' && ch <= '9') || ch == '-'))
				return bad(c, 555, "5.5.4", "Malformed parameter keyword");
		}
		if (kend - start == 4 && ascii_ncasecmp(s + start, "SIZE", 4) == 0) {
			if (kend == end || !parse_u64(s + kend + 1, end - kend - 1, &c->size))
				return bad(c, 501, "5.5.4", "Bad SIZE parameter");
			c->has_size = true;
		} else if (kend - start == 4 && ascii_ncasecmp(s + start, "BODY", 4) == 0) {
			const char *v = s + kend + 1;
			size_t vl = kend < end ? end - kend - 1 : 0;

			if (vl == 4 && ascii_ncasecmp(v, "7BIT", 4) == 0)
				c->body = BODY_7BIT;
			else if (vl == 8 && ascii_ncasecmp(v, "8BITMIME", 8) == 0)
				c->body = BODY_8BITMIME;
			else if (vl == 10 && ascii_ncasecmp(v, "BINARYMIME", 10) == 0)
				c->body = BODY_BINARYMIME;
			else
				return bad(c, 501, "5.5.4", "Bad BODY parameter");
		} else if (kend - start == 8 && kend == end &&
		    ascii_ncasecmp(s + start, "SMTPUTF8", 8) == 0) {
			c->smtputf8 = true;
		}
	}
	return PARSE_OK;
}

/* path_chars_ok - no white space or angle bracket outside a quoted part */
static bool
path_chars_ok(const char *s, size_t n)
{
	bool quoted = false;

	for (size_t i = 0; i < n; i++) {
		if (quoted && s[i] == '\\' && i + 1 < n)
			i++;
		else if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && (s[i] == ' ' || s[i] == '\t' || s[i] == '<' || s[i] == '>'))
			return false;
	}
	return true;
}

/* parse_path - "FROM:<path> params" / "TO:<path> params" */
static enum parse_rc
parse_path(struct smtp_cmd *c, const char *kw, size_t kwlen)
{
	const char *s = c->arg, *e = c->arg + c->arglen, *p;

	if (c->arglen < kwlen || ascii_ncasecmp(s, kw, kwlen) != 0)
		return bad(c, 501, "5.5.4",
		    c->verb == CMD_MAIL ? "Syntax: MAIL FROM:<address>" : "Syntax: RCPT TO:<address>");
	s += kwlen;
	while (s < e && *s == ' ') /* tolerated, as Postfix does */
		s++;
	if (s < e && *s == '<') {
		bool quoted = false;

		p = ++s;
		/* '>' ends the path unless it is inside a quoted local part */
		while (p < e && (quoted || *p != '>')) {
			if (quoted && *p == '\\' && p + 1 < e)
				p++; /* quoted-pair: the next byte is literal */
			else if (*p == '"')
				quoted = !quoted;
			p++;
		}
		if (p >= e)
			return bad(c, 501, "5.1.7", "Bad address syntax: missing '>'");
		c->path = s;
		c->pathlen = (size_t)(p - s);
		p++;
		if (p < e && *p != ' ')
			return bad(c, 501, "5.5.4", "Syntax error after address");
	} else {
		/* bare address, tolerated like Postfix's strict_rfc821_envelopes=no */
		p = s;
		while (p < e && *p != ' ')
			p++;
		if (p == s)
			return bad(c, 501, "5.1.7", "Bad address syntax");
		c->path = s;
		c->pathlen = (size_t)(p - s);
	}
	/* RFC 5321 4.5.3.1.3: 256 octets, the angle brackets included */
	if (c->pathlen + 2 > CMD_PATH_MAX)
		return bad(c, 501, "5.1.7", "Address too long");
	if (!path_chars_ok(c->path, c->pathlen))
		return bad(c, 501, "5.1.7", "Bad address syntax");
	if (c->verb == CMD_RCPT && c->pathlen == 0)
		return bad(c, 501, "5.1.3", "Bad recipient address syntax");
	c->params = p;
	c->paramslen = (size_t)(e - p);
	return parse_params(c, p, (size_t)(e - p));
}

/* cmd_parse - see smtp_cmd.h */
enum parse_rc
cmd_parse(const char *line, size_t len, struct smtp_cmd *c)
{
	size_t n, vl;

	memset(c, 0, sizeof(*c));
	if (len < 2 || line[len - 1] != '\n' || line[len - 2] != '\r')
		return bad(c, 500, "5.5.2", "Error: bare <LF> received; commands end in <CR><LF>");
	n = len - 2;
	if (memchr(line, '\0', n) != NULL)
		return bad(c, 500, "5.5.2", "Error: NUL character in command");
	if (memchr(line, '\r', n) != NULL)
		return bad(c, 500, "5.5.2", "Error: bare <CR> in command");
	if (has_ctl(line, n))
		return bad(c, 500, "5.5.2", "Error: control character in command");
	for (vl = 0; vl < n && line[vl] != ' '; vl++)
		;
	if (vl == 0)
		return bad(c, 500, "5.5.2", "Error: bad syntax");
	c->verbtxt = line;
	c->verblen = vl;
	c->verb = CMD_UNKNOWN;
	for (size_t i = 0; i < nitems(verbs); i++) {
		if (strlen(verbs[i].name) == vl && ascii_ncasecmp(line, verbs[i].name, vl) == 0) {
			c->verb = verbs[i].verb;
			break;
		}
	}
	c->arg = vl < n ? line + vl + 1 : line + n;
	c->arglen = vl < n ? n - vl - 1 : 0;
	/* trailing white space is not part of the argument */
	while (c->arglen > 0 && (c->arg[c->arglen - 1] == ' ' || c->arg[c->arglen - 1] == '\t'))
		c->arglen--;

	switch (c->verb) {
	case CMD_HELO:
	case CMD_EHLO:
		if (c->arglen == 0)
			return bad(c, 501, "5.5.4",
			    c->verb == CMD_HELO ? "Syntax: HELO hostname" : "Syntax: EHLO hostname");
		if (memchr(c->arg, ' ', c->arglen) != NULL && c->arg[0] != '[')
			return bad(c, 501, "5.5.4", "Syntax: one hostname, no spaces");
		break;
	case CMD_MAIL:
		return parse_path(c, "FROM:", 5);
	case CMD_RCPT:
		return parse_path(c, "TO:", 3);
	case CMD_DATA:
	case CMD_RSET:
	case CMD_QUIT:
	case CMD_STARTTLS:
		if (c->arglen != 0)
			return bad(c, 501, "5.5.4", "Syntax error: no parameters allowed");
		break;
	case CMD_VRFY:
	case CMD_EXPN:
		if (c->arglen == 0)
			return bad(c, 501, "5.5.4", "Syntax: VRFY address");
		break;
	case CMD_UNKNOWN:
	case CMD_BDAT:
	case CMD_NOOP:
	case CMD_HELP:
	case CMD_AUTH:
	case CMD_ETRN:
	case CMD_XCLIENT:
	case CMD_XFORWARD:
	case CMD_NONSMTP:
	case CMD_VERB_COUNT:
		break;
	}
	return PARSE_OK;
}
