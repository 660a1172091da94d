/* proxy/esmtp.h: EHLO capabilities (read, filter, announce) and queue ids */
#ifndef SLUICE_ESMTP_H
#define SLUICE_ESMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* XCLIENT attributes a backend may offer (Postfix XCLIENT_README). */
#define XA_NAME         0x01u
#define XA_ADDR         0x02u
#define XA_PORT         0x04u
#define XA_PROTO        0x08u
#define XA_HELO         0x10u
#define XA_REVERSE_NAME 0x20u
#define XA_LOGIN        0x40u
#define XA_DESTADDR     0x80u
#define XA_DESTPORT     0x100u

struct esmtp_caps {
	bool pipelining;
	bool xclient;
	unsigned xattrs; /* XA_* */
	uint64_t size;   /* 0 = not announced or unlimited */
	char auth[128];  /* the AUTH mechanisms offered ("PLAIN LOGIN"); "" = none */
	unsigned flags;  /* ESMTP_F_* */
};

#define ESMTP_F_STARTTLS 0x1u

/* esmtp_parse_caps - read the extensions of a 250 EHLO reply */
void esmtp_parse_caps(const char *raw, size_t len, struct esmtp_caps *caps);

/*
 * esmtp_rewrite_ehlo - the EHLO reply the client sees.
 * Keeps the extensions sluice relays faithfully (PIPELINING, 8BITMIME,
 * SMTPUTF8, ENHANCEDSTATUSCODES, DSN), drops everything else (CHUNKING,
 * XCLIENT, XFORWARD, STARTTLS, AUTH, ETRN, VRFY ...), announces SIZE as
 * the smaller of size_limit and the backend's, adds the extension lines of
 * extra (NULL-terminated; NULL for none: STARTTLS when sluice offers TLS),
 * and greets as hostname.
 * Returns the length written to out (always a complete reply), or 0 if out
 * is too small.
 */
size_t esmtp_rewrite_ehlo(const char *raw, size_t len, const char *hostname, uint64_t size_limit,
    const char *const *extra, char *out, size_t outsz);

/*
 * esmtp_queue_id - the backend's queue id from its end-of-data reply:
 * Postfix "queued as 4XyZ12", qmail "qp 12345", Exim "id=1abc-0002". 
 * Returns false if none is found.
 */
bool esmtp_queue_id(const char *raw, size_t len, char *out, size_t outsz);

/* xtext_encode - RFC 3461 xtext (for XCLIENT values); returns length or 0 */
size_t xtext_encode(const char *in, size_t inlen, char *out, size_t outsz);

/*
 * xclient_build - "XCLIENT ADDR=.. PORT=.. NAME=.. HELO=.. PROTO=..\r\n",
 * only with the attributes the backend offered. helo may be NULL; login
 * (the SASL user of an authenticated client) too.
 */
size_t xclient_build(char *out, size_t outsz, unsigned xattrs, const char *addr, bool v6, unsigned port, const char *name, const char *helo, bool esmtp, const char *login);

#endif
