/* filters/pregreet.h: clients that talk before the greeting */
#ifndef SLUICE_PREGREET_H
#define SLUICE_PREGREET_H

#include "filter.h"

extern const struct sl_filter pregreet_filter;

#endif
