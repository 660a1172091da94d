/* proxy/conntab.h: session counts, in total and per client IP (all workers) */
#ifndef SLUICE_CONNTAB_H
#define SLUICE_CONNTAB_H

#include <sys/socket.h>

enum conntab_rc { CONNTAB_OK = 0, CONNTAB_TOTAL, CONNTAB_PER_IP, CONNTAB_NOMEM, CONNTAB_RC_COUNT };

/*
 * conntab_acquire - count a new session from sa, unless a limit is hit.
 * A session that got CONNTAB_OK must call conntab_release() exactly once.
 */
enum conntab_rc conntab_acquire(const struct sockaddr *sa, unsigned max_total, unsigned max_per_ip);
void conntab_release(const struct sockaddr *sa);
unsigned conntab_total(void);

#endif
