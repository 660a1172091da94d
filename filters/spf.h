/* filters/spf.h: SPF (libspf2) for the MAIL FROM and HELO identities, off the event loop */
#ifndef SLUICE_SPF_H
#define SLUICE_SPF_H

#include "filter.h"

extern const struct sl_filter spf_filter;

/* spf_inflight - SPF checks whose answer has not reached its session yet */
unsigned spf_inflight(void);
/* spf_busy - checks queued or running in the pool: the daemon waits for 0
 * before it frees the event loops the answers are posted to */
unsigned spf_busy(void);

#endif
