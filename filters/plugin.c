/* filters/plugin.c: filters loaded from shared objects (dlopen), checked against the ABI */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

#define PLUGIN_MAX 32

typedef const struct sl_filter *(*entry_fn)(unsigned host_abi);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char *path;                 /* owned */
	void *handle;               /* never closed */
	const struct sl_filter *f;
} loaded[PLUGIN_MAX];
static unsigned nloaded;

/* plugin_load - see plugin.h */
const struct sl_filter *
plugin_load(const char *path, char *err, size_t errsz)
{
	const struct sl_filter *f = NULL;
	void *h;
	entry_fn entry;

	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < nloaded; i++)
		if (strcmp(loaded[i].path, path) == 0) {
			f = loaded[i].f;
			goto out;
		}
	if (nloaded >= PLUGIN_MAX) {
		snprintf(err, errsz, "at most %d plugins", PLUGIN_MAX);
		goto out;
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		snprintf(err, errsz, "cannot load plugin: %s", dlerror());
		goto out;
	}
	*(void **)&entry = dlsym(h, SL_PLUGIN_ENTRY);
	if (entry == NULL) {
		snprintf(err, errsz, "'%s' is not a sluice plugin (no %s symbol)", path, SL_PLUGIN_ENTRY);
		dlclose(h);
		goto out;
	}
	f = entry(SL_FILTER_ABI);
	if (f == NULL || f->abi != SL_FILTER_ABI) {
		if (f == NULL)
			snprintf(err, errsz, "plugin '%s' refused sluice's filter ABI %u", path, SL_FILTER_ABI);
		else
			snprintf(err, errsz, "plugin '%s' has filter ABI %u, sluice has %u: rebuild it against this sluice",
			    path, f->abi, SL_FILTER_ABI);
		f = NULL;
		dlclose(h);
		goto out;
	}
	if (f->name == NULL || f->conf_new == NULL || f->conf_free == NULL || f->stages == NULL ||
	    f->attach == NULL || f->detach == NULL || f->hook == NULL) {
		snprintf(err, errsz, "plugin '%s' leaves required filter functions unset", path);
		f = NULL;
		dlclose(h);
		goto out;
	}
	loaded[nloaded].path = strdup(path);
	loaded[nloaded].handle = h;
	loaded[nloaded].f = f;
	if (loaded[nloaded].path == NULL) {
		snprintf(err, errsz, "out of memory");
		f = NULL;
		goto out;
	}
	nloaded++;
out:
	pthread_mutex_unlock(&lock);
	return f;
}

/* plugin_find - see plugin.h */
const struct sl_filter *
plugin_find(const char *name)
{
	const struct sl_filter *f = NULL;

	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < nloaded && f == NULL; i++)
		if (strcmp(loaded[i].f->name, name) == 0)
			f = loaded[i].f;
	pthread_mutex_unlock(&lock);
	return f;
}
