/* filters/helo.h: the HELO/EHLO name as facts */
#ifndef SLUICE_HELO_H
#define SLUICE_HELO_H

#include "filter.h"

extern const struct sl_filter helo_filter;

#endif
