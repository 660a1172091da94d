/* filters/helo_check.h: what a HELO/EHLO name says about the client (pure) */
#ifndef SLUICE_HELO_CHECK_H
#define SLUICE_HELO_CHECK_H

#include <stdbool.h>

struct helo_facts {
	bool syntax_ok;        /* a host name or an address literal (RFC 5321 4.1.2) */
	bool literal;          /* [192.0.2.1] or [IPv6:2001:db8::1] */
	bool literal_matches;  /* ... and it is the client's address */
	bool bare_ip;          /* an address without brackets (a common bot habit) */
	bool fqdn;             /* a host name with at least one dot */
	bool ours;             /* our host name, our address, or localhost */
};

/*
 * helo_check - judge name (as the client sent it) for a client at
 * client_ip, talking to us as our_name on our_ip. NULL our_* are skipped.
 */
void helo_check(const char *name, const char *client_ip, const char *our_name, const char *our_ip,
    struct helo_facts *out);

#endif
