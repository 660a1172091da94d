/* proxy/config.h: load, check, share and swap configuration snapshots */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdio.h>

#include "config-t.h"

/*
 * cfg_load - parse and validate a file into a new snapshot (refs = 1).
 * On error returns NULL after printing every problem to errs as
 * "FILE:LINE:COL: message" lines; *nerr counts them.
 */
struct config *cfg_load(const char *path, FILE *errs, int *nerr);

struct config *cfg_ref(struct config *c);
void cfg_unref(struct config *c);

/* The running snapshot: cfg_current_get() returns a reference. */
struct config *cfg_current_get(void);
/* cfg_current_set - install c (takes the caller's reference) */
void cfg_current_set(struct config *c);

/* cfg_parse_addr - "1.2.3.4:25", "[::1]:25", "*:25", "unix:/path" */
int cfg_parse_addr(const char *spec, struct cfg_addr *out, const char **why);

#endif
