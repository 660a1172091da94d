/* filters/plugin.h: filters loaded from shared objects (dlopen), checked against the ABI */
#ifndef SLUICE_PLUGIN_H
#define SLUICE_PLUGIN_H

#include <stddef.h>

#include "filter.h"

/*
 * A plugin is a shared object that exports one symbol:
 *
 *     const struct sl_filter *sluice_filter_entry(unsigned host_abi);
 *
 * It returns its filter; sluice refuses it unless its abi field equals
 * SL_FILTER_ABI. NULL means the plugin refuses to run in this sluice. Loaded objects stay loaded for the life
 * of the process (a reload may configure them again); loading the same path
 * twice returns the same filter.
 */
#define SL_PLUGIN_ENTRY "sluice_filter_entry"

/* plugin_load - load path; NULL with a one-line reason in err */
const struct sl_filter *plugin_load(const char *path, char *err, size_t errsz);
/* plugin_find - a loaded plugin's filter by its name, or NULL */
const struct sl_filter *plugin_find(const char *name);

#endif
