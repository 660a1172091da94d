/* proxy/dns_msg.c: DNS answer parser (RFC 1035 4.1), pure, bounded */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "dns_msg.h"

#define DNS_MAX_JUMPS 32 /* compression pointers followed per name */

/* get16 - big-endian 16 bits */
static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/* get32 - big-endian 32 bits */
static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* dns_name_read - see dns_msg.h; labels joined with '.', no final dot */
int
dns_name_read(const uint8_t *buf, size_t len, size_t off, char *out, size_t outsz, size_t *next)
{
	size_t o = 0, pos = off;
	unsigned jumps = 0;
	bool jumped = false;

	if (outsz == 0)
		return -1;
	for (;;) {
		uint8_t l;

		if (pos >= len)
			return -1;
		l = buf[pos];
		if ((l & 0xc0) == 0xc0) {
			size_t target;

			if (pos + 1 >= len || ++jumps > DNS_MAX_JUMPS)
				return -1;
			target = ((size_t)(l & 0x3f) << 8) | buf[pos + 1];
			if (!jumped)
				*next = pos + 2;
			jumped = true;
			if (target >= pos)
				return -1; /* pointers go backwards: no loops */
			pos = target;
			continue;
		}
		if ((l & 0xc0) != 0)
			return -1; /* extended label types: not in answers we use */
		if (l == 0) {
			if (!jumped)
				*next = pos + 1;
			break;
		}
		if (pos + 1 + l > len)
			return -1;
		if (o + (o > 0) + l >= outsz || o + (o > 0) + l > DNS_NAME_MAX)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (size_t i = 0; i < l; i++) {
			char c = (char)buf[pos + 1 + i];

			/* bytes a log line or a reply text must never carry */
			if ((unsigned char)c < 0x21 || (unsigned char)c > 0x7e)
				c = '?';
			out[o++] = c;
		}
		pos += 1 + l;
	}
	out[o] = '\0';
	return 0;
}

/* skip_name - step over a name without decoding it */
static int
skip_name(const uint8_t *buf, size_t len, size_t off, size_t *next)
{
	char tmp[DNS_NAME_MAX + 1];

	return dns_name_read(buf, len, off, tmp, sizeof(tmp), next);
}

/* bad - record why and fail */
static enum parse_rc
bad(struct dns_msg *m, const char *why)
{
	m->err = why;
	return PARSE_BAD;
}

/* dns_msg_parse - see dns_msg.h */
enum parse_rc
dns_msg_parse(const uint8_t *buf, size_t len, struct dns_msg *m)
{
	unsigned qd, an, ns;
	size_t pos = 12;

	memset(m, 0, sizeof(*m));
	m->buf = buf;
	m->len = len;
	if (len < 12)
		return bad(m, "shorter than a DNS header");
	m->id = get16(buf);
	m->qr = (buf[2] & 0x80) != 0;
	m->tc = (buf[2] & 0x02) != 0;
	m->rcode = buf[3] & 0x0f;
	qd = get16(buf + 4);
	an = get16(buf + 6);
	ns = get16(buf + 8);
	if (!m->qr)
		return bad(m, "a query, not a response");
	for (unsigned i = 0; i < qd; i++) {
		if (skip_name(buf, len, pos, &pos) < 0 || pos + 4 > len)
			return bad(m, "malformed question");
		pos += 4;
	}
	m->nanswer = an;
	for (unsigned i = 0; i < an + ns; i++) {
		struct dns_rr rr;

		if (skip_name(buf, len, pos, &pos) < 0 || pos + 10 > len)
			return bad(m, i < an ? "malformed answer record" : "malformed authority record");
		rr.type = get16(buf + pos);
		rr.ttl = get32(buf + pos + 4);
		if (rr.ttl > 0x7fffffffu)
			rr.ttl = 0; /* RFC 2181 8: treat as zero */
		rr.rdlen = get16(buf + pos + 8);
		rr.rdoff = pos + 10;
		if (rr.rdoff + rr.rdlen > len)
			return bad(m, "record data beyond the message");
		pos = rr.rdoff + rr.rdlen;
		if (i < an) {
			if (m->nrr < DNS_MAX_RR)
				m->rr[m->nrr++] = rr;
		} else if (rr.type == DNS_T_SOA && !m->has_soa) {
			size_t p = rr.rdoff;
			uint32_t minimum;

			/* MNAME, RNAME, then SERIAL REFRESH RETRY EXPIRE MINIMUM */
			if (skip_name(buf, len, p, &p) < 0 || skip_name(buf, len, p, &p) < 0 ||
			    p + 20 > rr.rdoff + rr.rdlen)
				return bad(m, "malformed SOA record");
			minimum = get32(buf + p + 16);
			m->has_soa = true;
			m->neg_ttl = MIN(rr.ttl, minimum);
		}
	}
	return PARSE_OK;
}

/* dns_rr_a - see dns_msg.h */
int
dns_rr_a(const struct dns_msg *m, const struct dns_rr *rr, struct in_addr *out)
{
	if (rr->type != DNS_T_A || rr->rdlen != 4)
		return -1;
	memcpy(&out->s_addr, m->buf + rr->rdoff, 4);
	return 0;
}

/* dns_rr_mx - see dns_msg.h */
int
dns_rr_mx(const struct dns_msg *m, const struct dns_rr *rr, unsigned *pref, char *out, size_t outsz)
{
	size_t next;

	if (rr->type != DNS_T_MX || rr->rdlen < 3)
		return -1;
	*pref = (unsigned)m->buf[rr->rdoff] << 8 | m->buf[rr->rdoff + 1];
	if (dns_name_read(m->buf, rr->rdoff + rr->rdlen, rr->rdoff + 2, out, outsz, &next) < 0)
		return -1;
	return next == rr->rdoff + rr->rdlen ? 0 : -1;
}

/* dns_rr_aaaa - see dns_msg.h */
int
dns_rr_aaaa(const struct dns_msg *m, const struct dns_rr *rr, struct in6_addr *out)
{
	if (rr->type != DNS_T_AAAA || rr->rdlen != 16)
		return -1;
	memcpy(out->s6_addr, m->buf + rr->rdoff, 16);
	return 0;
}

/* dns_rr_txt - see dns_msg.h; control bytes become '?' */
int
dns_rr_txt(const struct dns_msg *m, const struct dns_rr *rr, char *out, size_t outsz)
{
	size_t p = rr->rdoff, end = rr->rdoff + rr->rdlen, o = 0;

	if (rr->type != DNS_T_TXT || outsz == 0)
		return -1;
	while (p < end) {
		uint8_t l = m->buf[p];

		if (p + 1 + l > end)
			return -1;
		for (size_t i = 0; i < l && o + 1 < outsz; i++) {
			char c = (char)m->buf[p + 1 + i];

			out[o++] = ((unsigned char)c < 0x20 || c == 0x7f) ? '?' : c;
		}
		p += 1 + l;
	}
	out[o] = '\0';
	return 0;
}

/* dns_rr_name - see dns_msg.h */
int
dns_rr_name(const struct dns_msg *m, const struct dns_rr *rr, char *out, size_t outsz)
{
	size_t next;

	if (rr->type != DNS_T_PTR && rr->type != DNS_T_CNAME && rr->type != DNS_T_NS)
		return -1;
	if (dns_name_read(m->buf, rr->rdoff + rr->rdlen, rr->rdoff, out, outsz, &next) < 0)
		return -1;
	return next == rr->rdoff + rr->rdlen ? 0 : -1;
}

/* dns_rev_labels - see dns_msg.h */
int
dns_rev_labels(const struct sockaddr *sa, char *out, size_t outsz, bool *v6)
{
	const uint8_t *b;

	*v6 = false;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (!IN6_IS_ADDR_V4MAPPED(a)) {
			static const char hex[] = "0123456789abcdef";
			size_t n = 0;

			if (outsz < 64)
				return -1;
			for (int i = 15; i >= 0; i--) {
				out[n++] = hex[a->s6_addr[i] & 15];
				out[n++] = '.';
				out[n++] = hex[a->s6_addr[i] >> 4];
				out[n++] = '.';
			}
			out[n - 1] = '\0';
			*v6 = true;
			return 0;
		}
		b = a->s6_addr + 12;
	} else if (sa->sa_family == AF_INET) {
		b = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else {
		return -1;
	}
	snprintf(out, outsz, "%u.%u.%u.%u", b[3], b[2], b[1], b[0]);
	return 0;
}
