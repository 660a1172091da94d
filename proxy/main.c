/* proxy/main.c: argv, signals, workers; no protocol code */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/types.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "config.h"
#include "log.h"
#include "session.h"
#include "spf.h"
#include "worker.h"

#define DEFAULT_CONFIG "/etc/sluice/sluice.conf"

struct daemon {
	const char *cfg_path;
	struct event_base *base;   /* owned: the main thread's loop (signals) */
	struct worker **workers;   /* owned */
	int nworkers;
	bool draining;
};

/* usage - print the synopsis */
static void
usage(FILE *fp)
{
	fprintf(fp, "usage: sluice [-c config] [-t] [-V]\n"
	            "  -c FILE  configuration file (default " DEFAULT_CONFIG ")\n"
	            "  -t       check the configuration and exit\n"
	            "  -V       print the version and exit\n");
}

/* listen_changed - listeners are bound once; a reload cannot move them */
static bool
listen_changed(const struct config *a, const struct config *b)
{
	if (a->nlisten != b->nlisten)
		return true;
	for (size_t i = 0; i < a->nlisten; i++)
		if (strcmp(a->listen[i].spec, b->listen[i].spec) != 0)
			return true;
	return a->workers != b->workers;
}

/* dns_changed - the resolver is made once per worker: do the settings differ */
static bool
dns_changed(const struct config *a, const struct config *b)
{
	const char *sa = a->dns.servers ? a->dns.servers : "", *sb = b->dns.servers ? b->dns.servers : "";

	return strcmp(sa, sb) != 0 || a->dns.timeout_ms != b->dns.timeout_ms || a->dns.tries != b->dns.tries ||
	    a->dns.min_ttl != b->dns.min_ttl || a->dns.max_ttl != b->dns.max_ttl || a->dns.cache_max != b->dns.cache_max;
}

/* reload - SIGHUP: a new snapshot for new sessions, or the old one kept */
static void
reload(struct daemon *d)
{
	char *errbuf = NULL;
	size_t errlen = 0;
	FILE *errs = open_memstream(&errbuf, &errlen);
	struct config *old, *c;
	int nerr = 0;

	if (errs == NULL)
		return;
	c = cfg_load(d->cfg_path, errs, &nerr);
	fclose(errs);
	if (c == NULL) {
		char *line = errbuf, *nl;

		while (line != NULL && *line != '\0') {
			nl = strchr(line, '\n');
			if (nl != NULL)
				*nl = '\0';
			log_msg(LOG_ERR, "ev=daemon.reload_failed error=\"%s\"", line);
			line = nl ? nl + 1 : NULL;
		}
		log_msg(LOG_ERR, "ev=daemon.reload_failed errors=%d kept=old", nerr);
		free(errbuf);
		return;
	}
	free(errbuf);
	old = cfg_current_get();
	if (old != NULL && listen_changed(old, c))
		log_msg(LOG_WARNING, "ev=daemon.reload note=\"listen addresses and workers change only on restart\"");
	if (old != NULL && dns_changed(old, c))
		log_msg(LOG_WARNING, "ev=daemon.reload note=\"dns { } settings change only on restart\"");
	if (old != NULL)
		policy_log_stats(old); /* the old snapshot's counters end here */
	cfg_unref(old);
	log_configure(c);
	log_msg(LOG_NOTICE, "ev=daemon.reload config=%s hash=%s", d->cfg_path, c->hash);
	cfg_current_set(c);
}

/* signal_cb - SIGTERM/SIGINT drain, SIGHUP reload */
static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	if (sig == SIGHUP) {
		reload(d);
		log_reopen();
		return;
	}
	if (d->draining)
		return;
	d->draining = true;
	log_msg(LOG_NOTICE, "ev=daemon.drain signal=%s", sig == SIGTERM ? "TERM" : "INT");
	for (int i = 0; i < d->nworkers; i++)
		worker_drain(d->workers[i]);
	event_base_loopexit(d->base, NULL);
}

/*
 * drop_privileges - after the listeners are bound (port 25 needs root), run
 * as the configured user: groups first, then gid, then uid, and check that
 * root cannot be regained.
 */
static int
drop_privileges(const char *user)
{
	struct passwd *pw = getpwnam(user);

	if (pw == NULL) {
		fprintf(stderr, "sluice: no such user '%s'\n", user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		fprintf(stderr, "sluice: cannot become '%s': %s\n", user, strerror(errno));
		return -1;
	}
	if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		fprintf(stderr, "sluice: privileges could be regained after dropping to '%s'\n", user);
		return -1;
	}
	return 0;
}

/* write_pid - for init systems that want one */
static void
write_pid(const char *path)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL) {
		log_msg(LOG_WARNING, "ev=daemon.error what=pid_file path=%s error=\"%s\"", path, strerror(errno));
		return;
	}
	fprintf(fp, "%ld\n", (long)getpid());
	fclose(fp);
}

int
main(int argc, char **argv)
{
	struct daemon d = { DEFAULT_CONFIG, NULL, NULL, 0, false };
	struct event *sigs[3];
	static const int signums[3] = { SIGTERM, SIGINT, SIGHUP };
	struct config *cfg;
	bool check = false;
	int ch, nerr = 0;

	while ((ch = getopt(argc, argv, "c:tVh")) != -1) {
		switch (ch) {
		case 'c':
			d.cfg_path = optarg;
			break;
		case 't':
			check = true;
			break;
		case 'V':
			printf("sluice %s (libevent %s)\n", SLUICE_VERSION, event_get_version());
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	cfg = cfg_load(d.cfg_path, stderr, &nerr);
	if (cfg == NULL) {
		fprintf(stderr, "sluice: %s: %d error%s\n", d.cfg_path, nerr, nerr == 1 ? "" : "s");
		return 1;
	}
	if (check) {
		printf("sluice: %s: configuration OK\n", d.cfg_path);
		cfg_unref(cfg);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() < 0) {
		fprintf(stderr, "sluice: libevent has no thread support\n");
		return 1;
	}
	log_configure(cfg);
	cfg_current_set(cfg_ref(cfg));
	d.nworkers = cfg->workers;
	d.workers = calloc((size_t)d.nworkers, sizeof(*d.workers));
	d.base = event_base_new();
	if (d.workers == NULL || d.base == NULL) {
		fprintf(stderr, "sluice: out of memory\n");
		return 1;
	}
	for (int i = 0; i < d.nworkers; i++) {
		char err[256];

		d.workers[i] = worker_new(i, cfg, err, sizeof(err));
		if (d.workers[i] == NULL) {
			fprintf(stderr, "sluice: %s\n", err);
			log_msg(LOG_ERR, "ev=daemon.error error=\"%s\"", err);
			return 1;
		}
	}
	for (int i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(d.base, signums[i], signal_cb, &d);
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) < 0) {
			fprintf(stderr, "sluice: cannot install signal handlers\n");
			return 1;
		}
	}
	if (cfg->pid_file != NULL)
		write_pid(cfg->pid_file);
	if (cfg->user != NULL && drop_privileges(cfg->user) < 0)
		return 1;
	for (int i = 0; i < d.nworkers; i++) {
		if (worker_start(d.workers[i]) < 0) {
			fprintf(stderr, "sluice: cannot start worker threads\n");
			return 1;
		}
	}
	{
		struct logrec r;

		logrec_begin(&r, LOG_NOTICE, "daemon.start", NULL, false);
		logrec_str(&r, "version", SLUICE_VERSION);
		logrec_str(&r, "config", d.cfg_path);
		logrec_str(&r, "hash", cfg->hash);
		logrec_int(&r, "workers", d.nworkers);
		for (size_t i = 0; i < cfg->nlisten; i++)
			logrec_str(&r, "listen", cfg->listen[i].spec);
		logrec_str(&r, "backend", cfg->backend.spec);
		if (cfg->user != NULL)
			logrec_str(&r, "user", cfg->user);
		logrec_emit(&r);
	}
	event_base_dispatch(d.base);
	for (int i = 0; i < d.nworkers; i++)
		worker_join(d.workers[i]);
	for (int waited = 0; spf_busy() > 0 && waited < 100; waited++)
		usleep(50000); /* SPF answers are posted to the loops freed below */
	for (int i = 0; i < d.nworkers; i++)
		worker_free(d.workers[i]);
	for (int i = 0; i < 3; i++)
		event_free(sigs[i]);
	event_base_free(d.base);
	free(d.workers);
	if (cfg->pid_file != NULL)
		unlink(cfg->pid_file);
	{
		struct config *last = cfg_current_get();

		if (last != NULL) {
			policy_log_stats(last);
			cfg_unref(last);
		}
	}
	log_msg(LOG_NOTICE, "ev=daemon.stop");
	cfg_unref(cfg);
	cfg_current_set(NULL);
	log_close();
	return 0;
}
