/* filters/dnsbl_spec.h: DNS list specs "zone=127.0.0.[2..11]*3" and answer patterns (pure) */
#ifndef SLUICE_DNSBL_SPEC_H
#define SLUICE_DNSBL_SPEC_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The syntax follows Postfix postscreen_dnsbl_sites:
 *
 *     spec    = zone [ "=" pattern ] [ "*" weight ]
 *     pattern = octet "." octet "." octet "." octet
 *     octet   = number | "[" item { ";" item } "]"
 *     item    = number | number ".." number
 *     weight  = [ "-" | "+" ] digits          (default 1; |weight| <= 1000000)
 *
 * number is 0..255 in decimal, ranges are inclusive and low <= high. A zone
 * is a DNS name: labels of letters, digits, '-' and '_' (1..63 bytes each),
 * separated by single dots, no leading or trailing dot, at most
 * DNSBL_ZONE_MAX bytes. It is stored lowercased. Without a pattern every
 * answer matches. Examples:
 *
 *     zen.example=127.0.0.[2..11]*3
 *     list.example=127.0.[0..255].[1;3]*-2
 *     bl.example*2
 *     127.255.255.[252..255]                  (a bare pattern: dnsbl_pattern_parse)
 */

#define DNSBL_ZONE_MAX 200 /* room left for a reversed IPv6 address and a key */

/* A set of IPv4 answers: one 256-bit set per octet. */
struct dnsbl_pattern {
	uint8_t oct[4][32]; /* bit v of oct[i] set: value v allowed in octet i */
};

struct dnsbl_spec {
	char zone[DNSBL_ZONE_MAX + 1]; /* lowercased */
	bool any;                      /* no pattern: every answer matches */
	struct dnsbl_pattern pat;      /* when !any (allows everything when any) */
	int weight;
};

/*
 * dnsbl_spec_parse - parse len bytes of text (need not be NUL-terminated).
 * Returns 0, or -1 with a one-line reason in err (which names the column,
 * counting bytes from 1, where the problem is; len + 1 for "ended too
 * soon"), e.g. "column 17: octet value above 255". A NUL byte anywhere is
 * an error. out is written only on success. err may be NULL or errsz 0;
 * otherwise it is always NUL-terminated (truncated to errsz; "" on success).
 */
int dnsbl_spec_parse(const char *text, size_t len, struct dnsbl_spec *out, char *err, size_t errsz);

/* dnsbl_pattern_parse - a bare pattern (the pattern production above); errors as above */
int dnsbl_pattern_parse(const char *text, size_t len, struct dnsbl_pattern *out, char *err, size_t errsz);

/* dnsbl_pattern_match - is the answer a (network byte order) in the set */
bool dnsbl_pattern_match(const struct dnsbl_pattern *p, struct in_addr a);

/* dnsbl_spec_match - does the answer count for this list (any, or the pattern) */
bool dnsbl_spec_match(const struct dnsbl_spec *sp, struct in_addr a);

#endif
