/* filters/rdns.h: the client's PTR name and whether it confirms (FCrDNS), as facts */
#ifndef SLUICE_RDNS_H
#define SLUICE_RDNS_H

#include "filter.h"

extern const struct sl_filter rdns_filter;

#endif
