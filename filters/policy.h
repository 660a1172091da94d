/* filters/policy.h: a client for the Postfix policy delegation protocol */
#ifndef SLUICE_POLICY_H
#define SLUICE_POLICY_H

#include "filter.h"

extern const struct sl_filter policy_filter;

/*
 * policy_response - the action of a policy server's response (the lines
 * before the empty line): the value of the last "action=" attribute,
 * control bytes replaced with '?', cut to fit; "" when there is none.
 */
void policy_response(const char *buf, size_t n, char *action, size_t sz);

#endif
