/* filters/rules_filter.h: the policy rules as the last filter of the chain */
#ifndef SLUICE_RULES_FILTER_H
#define SLUICE_RULES_FILTER_H

#include "filter.h"

extern const struct sl_filter rules_filter;

#endif
