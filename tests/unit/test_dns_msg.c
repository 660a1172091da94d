/* tests/unit/test_dns_msg.c: the DNS answer parser, on replies built by hand */
#include <arpa/inet.h>
#include <string.h>

#include "dns_msg.h"
#include "t.h"
#include "util.h"

struct mb {
	uint8_t b[1024];
	size_t n;
};

/* put - append raw bytes */
static void
put(struct mb *m, const void *p, size_t n)
{
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

/* put16/put32 - big-endian integers */
static void
put16(struct mb *m, unsigned v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(m, x, 2);
}

static void
put32(struct mb *m, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	put(m, x, 4);
}

/* putname - "a.b.c" as labels */
static void
putname(struct mb *m, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		uint8_t lb = (uint8_t)l;

		put(m, &lb, 1);
		put(m, name, l);
		name += l + (dot != NULL);
	}
	put(m, "", 1);
}

/* header - a response with counts */
static void
header(struct mb *m, int rcode, unsigned qd, unsigned an, unsigned ns)
{
	m->n = 0;
	put16(m, 0x1234);
	put16(m, 0x8180 | (unsigned)rcode); /* QR, RD, RA */
	put16(m, qd);
	put16(m, an);
	put16(m, ns);
	put16(m, 0);
}

/* rr_ptr - an RR whose owner is a compression pointer to the question */
static void
rr_head(struct mb *m, unsigned type, uint32_t ttl, unsigned rdlen)
{
	put16(m, 0xc00c);
	put16(m, type);
	put16(m, 1);
	put32(m, ttl);
	put16(m, rdlen);
}

int
main(void)
{
	struct mb m;
	struct dns_msg d;
	struct in_addr a;
	char s[300];

	/* A: 2.0.0.127.zen.example -> 127.0.0.2 and 127.0.0.10 */
	header(&m, 0, 1, 2, 0);
	putname(&m, "2.0.0.127.zen.example");
	put16(&m, DNS_T_A);
	put16(&m, 1);
	rr_head(&m, DNS_T_A, 300, 4);
	put(&m, "\x7f\x00\x00\x02", 4);
	rr_head(&m, DNS_T_A, 120, 4);
	put(&m, "\x7f\x00\x00\x0a", 4);
	t_int_eq(dns_msg_parse(m.b, m.n, &d), PARSE_OK, "A: parses");
	t_int_eq(d.rcode, DNS_RCODE_NOERROR, "A: rcode");
	t_int_eq(d.nrr, 2, "A: two records");
	t_int_eq(dns_rr_a(&d, &d.rr[0], &a), 0, "A: first is an address");
	t_str_eq(inet_ntoa(a), "127.0.0.2", "A: first address");
	t_int_eq(d.rr[0].ttl, 300, "A: first TTL");
	dns_rr_a(&d, &d.rr[1], &a);
	t_str_eq(inet_ntoa(a), "127.0.0.10", "A: second address");
	t_int_eq(d.rr[1].ttl, 120, "A: second TTL");
	t_int_eq(dns_rr_txt(&d, &d.rr[0], s, sizeof(s)), -1, "A: not a TXT");
	{
		struct in6_addr a6;

		t_int_eq(dns_rr_aaaa(&d, &d.rr[0], &a6), -1, "A: not an AAAA");
	}
	/* every strict prefix is refused, never misread */
	for (size_t cut = 0; cut < m.n; cut++) {
		enum parse_rc rc = dns_msg_parse(m.b, cut, &d);

		t_int_eq(rc, PARSE_BAD, "A: cut at %zu refused", cut);
	}

	/* TXT: two character-strings, a control byte masked */
	header(&m, 0, 1, 1, 0);
	putname(&m, "2.0.0.127.zen.example");
	put16(&m, DNS_T_TXT);
	put16(&m, 1);
	rr_head(&m, DNS_T_TXT, 900, 1 + 10 + 1 + 5);
	put(&m, "\x0aListed by ", 11);
	put(&m, "\x05x\x01y z", 6);
	t_int_eq(dns_msg_parse(m.b, m.n, &d), PARSE_OK, "TXT: parses");
	t_int_eq(dns_rr_txt(&d, &d.rr[0], s, sizeof(s)), 0, "TXT: decodes");
	t_str_eq(s, "Listed by x?y z", "TXT: strings joined, control byte masked");
	t_int_eq(d.rr[0].ttl, 900, "TXT: TTL known (c-ares would not tell)");
	t_int_eq(dns_rr_txt(&d, &d.rr[0], s, 8), 0, "TXT: bounded output");
	t_str_eq(s, "Listed ", "TXT: truncated to the buffer");

	/* NXDOMAIN with a SOA: negative TTL = min(SOA TTL, MINIMUM) */
	header(&m, DNS_RCODE_NXDOMAIN, 1, 0, 1);
	putname(&m, "1.0.0.127.zen.example");
	put16(&m, DNS_T_A);
	put16(&m, 1);
	put16(&m, 0xc00c + 10); /* owner: "zen.example" inside the question */
	put16(&m, DNS_T_SOA);
	put16(&m, 1);
	put32(&m, 600);
	put16(&m, 2 + 2 + 20);
	put16(&m, 0xc00c + 10); /* MNAME */
	put16(&m, 0xc00c + 10); /* RNAME */
	put32(&m, 1);
	put32(&m, 2);
	put32(&m, 3);
	put32(&m, 4);
	put32(&m, 60);
	t_int_eq(dns_msg_parse(m.b, m.n, &d), PARSE_OK, "NXDOMAIN: parses");
	t_int_eq(d.rcode, DNS_RCODE_NXDOMAIN, "NXDOMAIN: rcode");
	t_int_eq(d.nrr, 0, "NXDOMAIN: no answers");
	t_true(d.has_soa, "NXDOMAIN: SOA seen");
	t_int_eq(d.neg_ttl, 60, "NXDOMAIN: negative TTL from SOA MINIMUM");

	/* PTR with a compressed target */
	header(&m, 0, 1, 1, 0);
	putname(&m, "7.2.0.192.in-addr.arpa");
	put16(&m, DNS_T_PTR);
	put16(&m, 1);
	rr_head(&m, DNS_T_PTR, 3600, 6 + 2);
	put(&m, "\x05mail1", 6);
	put16(&m, 0xc00c + 4); /* -> "0.192.in-addr.arpa" inside the question */
	t_int_eq(dns_msg_parse(m.b, m.n, &d), PARSE_OK, "PTR: parses");
	t_int_eq(dns_rr_name(&d, &d.rr[0], s, sizeof(s)), 0, "PTR: name decodes");
	t_str_eq(s, "mail1.0.192.in-addr.arpa", "PTR: compression followed");

	/* hostile messages */
	header(&m, 0, 1, 0, 0);
	put16(&m, 0xc00c); /* the question name points at itself */
	put16(&m, 1);
	put16(&m, 1);
	t_int_eq(dns_msg_parse(m.b, m.n, &d), PARSE_BAD, "pointer loop refused");
	header(&m, 0, 1, 0, 0);
	put16(&m, 0xc0ff); /* forward pointer */
	put16(&m, 1);
	put16(&m, 1);
	t_int_eq(dns_msg_parse(m.b, m.n, &d), PARSE_BAD, "forward pointer refused");
	header(&m, 0, 0, 1, 0);
	putname(&m, "x");
	put16(&m, DNS_T_A);
	put16(&m, 1);
	put32(&m, 0x80000001u);
	put16(&m, 4);
	put(&m, "\x7f\x00\x00\x02", 4);
	t_int_eq(dns_msg_parse(m.b, m.n, &d), PARSE_OK, "TTL with the high bit: parses");
	t_int_eq(d.rr[0].ttl, 0, "TTL with the high bit is zero (RFC 2181)");
	m.b[m.n - 5] = 9; /* rdlength 9 with 4 bytes left */
	t_int_eq(dns_msg_parse(m.b, m.n, &d), PARSE_BAD, "rdata beyond the end refused");
	header(&m, 0, 0, 0, 0);
	m.b[2] = 0x01; /* QR clear: a query */
	t_int_eq(dns_msg_parse(m.b, m.n, &d), PARSE_BAD, "a query is not an answer");
	t_int_eq(dns_msg_parse(m.b, 11, &d), PARSE_BAD, "short header refused");
	header(&m, 0, 0, 1, 0);
	putname(&m, "x");
	put16(&m, DNS_T_A);
	put16(&m, 1);
	put32(&m, 5);
	put16(&m, 3);
	put(&m, "\x7f\x00\x00", 3);
	t_int_eq(dns_msg_parse(m.b, m.n, &d), PARSE_OK, "short A rdata: message parses");
	t_int_eq(dns_rr_a(&d, &d.rr[0], &a), -1, "short A rdata: no address");
	return t_done();
}
