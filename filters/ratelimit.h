/* filters/ratelimit.h: connection, message and recipient rates */
#ifndef SLUICE_RATELIMIT_H
#define SLUICE_RATELIMIT_H

#include "filter.h"

extern const struct sl_filter limits_filter;

#endif
