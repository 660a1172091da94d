/* proxy/authfail.h: failed AUTH attempts per client address, and temporary blocks (all workers) */
#ifndef SLUICE_AUTHFAIL_H
#define SLUICE_AUTHFAIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * A client address that fails AUTH max times within the block time is
 * blocked for the block time: its sessions get 421 at connect. The table
 * is bounded (AUTHFAIL_MAX addresses); when full the stalest entry goes.
 */
#define AUTHFAIL_MAX 16384

/* authfail_note - one more failure; returns true when the address is now blocked */
bool authfail_note(const struct sockaddr *sa, unsigned max, unsigned block_ms, uint64_t now_ms);
/* authfail_blocked - is the address blocked now; *left_ms is the time left */
bool authfail_blocked(const struct sockaddr *sa, uint64_t now_ms, uint64_t *left_ms);
/* authfail_clear - a successful AUTH forgives earlier failures */
void authfail_clear(const struct sockaddr *sa);

#endif
