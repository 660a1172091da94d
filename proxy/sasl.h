/* proxy/sasl.h: reading the user name out of an AUTH exchange (pure) */
#ifndef SLUICE_SASL_H
#define SLUICE_SASL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * sluice relays AUTH to the backend, which checks the credentials; it only
 * learns who is logging in, to log it and to apply per-user policy. The
 * password passes through these functions in decoded form and is wiped
 * before they return; nothing here keeps it.
 */

enum sasl_mech { SASL_NONE = 0, SASL_PLAIN, SASL_LOGIN, SASL_OTHER, SASL_MECH_COUNT };

#define SASL_USER_MAX 256

/*
 * sasl_auth_args - the AUTH command's arguments: "PLAIN", "PLAIN <b64>",
 * "LOGIN <b64>", "CRAM-MD5" ... Returns the mechanism and points *ir at
 * the initial response (irlen 0 when there is none; "=" is an empty one).
 * SASL_NONE: no mechanism, or more than two words.
 */
enum sasl_mech sasl_auth_args(const char *arg, size_t arglen, const char **ir, size_t *irlen);

/* sasl_mech_name - "PLAIN", "LOGIN", "OTHER" */
const char *sasl_mech_name(enum sasl_mech m);

/*
 * sasl_plain_user - the authentication identity from a PLAIN response
 * (base64 of authzid NUL authcid NUL password). Returns false if it is not
 * well-formed. user is NUL-terminated, printable ASCII/UTF-8 only.
 */
bool sasl_plain_user(const char *b64, size_t len, char *user, size_t usersz);

/* sasl_login_user - the user name from LOGIN's first response (base64) */
bool sasl_login_user(const char *b64, size_t len, char *user, size_t usersz);

/*
 * b64_decode - strict RFC 4648 base64 (padding required, no white space).
 * Returns the decoded length, or -1. out must hold len / 4 * 3 bytes.
 */
long b64_decode(const char *in, size_t len, unsigned char *out, size_t outsz);

#endif
