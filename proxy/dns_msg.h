/* proxy/dns_msg.h: DNS answer parser (RFC 1035 4.1), pure, bounded */
#ifndef SLUICE_DNS_MSG_H
#define SLUICE_DNS_MSG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/*
 * The resolver transport (c-ares) hands over the raw reply; this parser
 * turns it into the records and TTLs the DNS-list code needs, so that TTLs
 * are known for every type (the cache honours them) and the untrusted bytes
 * of a DNS reply go through one fuzzed parser. Records borrow from the
 * message buffer.
 */

#define DNS_T_A    1
#define DNS_T_NS   2
#define DNS_T_CNAME 5
#define DNS_T_SOA  6
#define DNS_T_PTR  12
#define DNS_T_TXT  16
#define DNS_T_AAAA 28
#define DNS_T_MX   15
#define DNS_T_SPF  99

#define DNS_RCODE_NOERROR  0
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_REFUSED  5

#define DNS_MAX_RR   32  /* answer records kept; more are counted, not kept */
#define DNS_NAME_MAX 255 /* presentation form, without the final dot */

struct dns_rr {
	uint16_t type;
	uint16_t rdlen;
	uint32_t ttl;
	size_t rdoff; /* rdata offset in the message */
};

struct dns_msg {
	const uint8_t *buf; /* borrowed: the message */
	size_t len;
	uint16_t id;
	bool qr, tc;
	int rcode;
	unsigned nanswer;     /* answer records in the message */
	unsigned nrr;         /* answer records kept in rr[] */
	struct dns_rr rr[DNS_MAX_RR];
	bool has_soa;
	uint32_t neg_ttl;     /* RFC 2308: min(SOA TTL, SOA MINIMUM) */
	const char *err;      /* static text when PARSE_BAD */
};

/* dns_msg_parse - header, questions skipped, answers, authority SOA */
enum parse_rc dns_msg_parse(const uint8_t *buf, size_t len, struct dns_msg *m);

/* dns_rr_a - an A record's address; -1 if rr is not a well-formed A */
int dns_rr_a(const struct dns_msg *m, const struct dns_rr *rr, struct in_addr *out);
/* dns_rr_mx - an MX record's preference and exchange; -1 if not a well-formed MX */
int dns_rr_mx(const struct dns_msg *m, const struct dns_rr *rr, unsigned *pref, char *out, size_t outsz);
/* dns_rr_aaaa - an AAAA record's address; -1 if rr is not a well-formed AAAA */
int dns_rr_aaaa(const struct dns_msg *m, const struct dns_rr *rr, struct in6_addr *out);
/* dns_rr_txt - a TXT record's strings, concatenated, NUL-terminated; -1 if malformed */
int dns_rr_txt(const struct dns_msg *m, const struct dns_rr *rr, char *out, size_t outsz);
/* dns_rr_name - the domain name in a PTR/CNAME/NS record (compression followed) */
int dns_rr_name(const struct dns_msg *m, const struct dns_rr *rr, char *out, size_t outsz);
/* dns_name_read - a name at off; *next is where the name ends in place */
int dns_name_read(const uint8_t *buf, size_t len, size_t off, char *out, size_t outsz, size_t *next);

struct sockaddr;
/*
 * dns_rev_labels - the address as reversed labels for a PTR or DNS-list
 * query: "4.3.2.1" for IPv4 (and IPv4-mapped IPv6), 32 nibbles for IPv6
 * (*v6 set). No suffix: add in-addr.arpa / ip6.arpa or a list's zone.
 */
int dns_rev_labels(const struct sockaddr *sa, char *out, size_t outsz, bool *v6);

#endif
