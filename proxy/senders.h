/* proxy/senders.h: which envelope senders an authenticated user may use (a table file) */
#ifndef SLUICE_SENDERS_H
#define SLUICE_SENDERS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The file has one user per line, then the addresses and domains that
 * user may send as (comma or space separated):
 *
 *     alice@example.org   alice@example.org, alice.smith@example.org
 *     bob                 @example.net          # any address in the domain
 *     relay-customer      @customer.example, @mail.customer.example
 *
 * '#' starts a comment. A user not in the table may not send at all once
 * the table is configured (Postfix's reject_sender_login_mismatch, strict).
 * The null sender <> is always allowed (bounces).
 */
struct senders;

/* senders_load - read path; NULL with "FILE:LINE: message" in err */
struct senders *senders_load(const char *path, char *err, size_t errsz);
void senders_free(struct senders *t);
/* senders_parse - the same from text (tests) */
struct senders *senders_parse(const char *name, const char *text, size_t len, char *err, size_t errsz);

/* senders_allowed - may user send as addr (a path without brackets) */
bool senders_allowed(const struct senders *t, const char *user, const char *addr);
/* senders_count - users in the table */
size_t senders_count(const struct senders *t);

#endif
