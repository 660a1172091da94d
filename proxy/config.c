/* proxy/config.c: configuration snapshots: statements -> struct config */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <syslog.h>
#include <pwd.h>
#include <unistd.h>

#include "conf.h"
#include "chain.h"
#include "plugin.h"
#include "config.h"
#include "senders.h"
#include "tls.h"
#include "util.h"

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct config *cfg_current; /* the one mutable global: see STYLE */
static atomic_uint_fast64_t cfg_gen;

#define INCLUDE_DEPTH_MAX 8

struct loadctx {
	FILE *errs;
	int nerr;
	int depth;                 /* include nesting */
	struct conf_doc *docs[32]; /* owned: included files, freed after the load */
	int ndocs;
};

/* cfg_report - a ready "FILE:LINE:COL: message" from a parser */
static void
cfg_report(struct loadctx *lc, const char *msg)
{
	fprintf(lc->errs, "%s\n", msg);
	lc->nerr++;
}

static void cfg_err(struct loadctx *lc, const struct conf_stmt *s, int word, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* cfg_err - report one problem at a statement word */
static void
cfg_err(struct loadctx *lc, const struct conf_stmt *s, int word, const char *fmt, ...)
{
	va_list ap;

	fprintf(lc->errs, "%s:%d:%d: ", s->file, s->line,
	    word < s->argc ? s->argcol[word] : s->col);
	va_start(ap, fmt);
	vfprintf(lc->errs, fmt, ap);
	va_end(ap);
	fputc('\n', lc->errs);
	lc->nerr++;
}

/* want_args - check the word count of a statement */
static bool
want_args(struct loadctx *lc, const struct conf_stmt *s, int min, int max)
{
	if (s->block) {
		cfg_err(lc, s, 0, "'%s' takes no block", s->argv[0]);
		return false;
	}
	if (s->argc - 1 < min || s->argc - 1 > max) {
		if (min == max)
			cfg_err(lc, s, 0, "'%s' takes %d argument%s", s->argv[0], min, min == 1 ? "" : "s");
		else
			cfg_err(lc, s, 0, "'%s' takes %d to %d arguments", s->argv[0], min, max);
		return false;
	}
	return true;
}

/* parse_bool - on/off, yes/no, true/false */
static bool
parse_bool(struct loadctx *lc, const struct conf_stmt *s, int w, bool *out)
{
	const char *v = s->argv[w];

	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false"))
		*out = false;
	else {
		cfg_err(lc, s, w, "expected on or off, not '%s'", v);
		return false;
	}
	return true;
}

/* parse_uint - decimal within [lo, hi] */
static bool
parse_uint(struct loadctx *lc, const struct conf_stmt *s, int w, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s->argv[w], &end, 10);
	if (s->argv[w][0] < '0' || s->argv[w][0] > '9' || *end != '\0' || errno != 0 || v < lo || v > hi) {
		cfg_err(lc, s, w, "expected a number from %u to %u, not '%s'", lo, hi, s->argv[w]);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

/* set_str - replace an owned string */
static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

/* hostname_ok - a plausible FQDN for the banner and EHLO */
static bool
hostname_ok(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		        c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* apply_timeout - "timeout NAME DURATION" */
static void
apply_timeout(struct loadctx *lc, struct config *c, const struct conf_stmt *s)
{
	static const struct {
		const char *name;
		size_t off;
	} names[] = {
		{ "connect", offsetof(struct config, t_connect) },
		{ "command", offsetof(struct config, t_command) },
		{ "data", offsetof(struct config, t_data) },
		{ "idle", offsetof(struct config, t_idle) },
		{ "session", offsetof(struct config, t_session) },
		{ "shutdown", offsetof(struct config, t_shutdown) },
	};
	unsigned ms;

	if (!want_args(lc, s, 2, 2))
		return;
	for (size_t i = 0; i < nitems(names); i++) {
		if (strcmp(s->argv[1], names[i].name) != 0)
			continue;
		if (conf_parse_duration(s->argv[2], &ms) < 0 || ms < 100)
			cfg_err(lc, s, 2, "bad duration '%s' (examples: 30s, 5m, 1h; at least 100ms)", s->argv[2]);
		else
			*(unsigned *)((char *)c + names[i].off) = ms;
		return;
	}
	cfg_err(lc, s, 1, "unknown timeout '%s' (connect, command, data, idle, session, shutdown)", s->argv[1]);
}

/* apply_limit - "limit NAME VALUE" */
static void
apply_limit(struct loadctx *lc, struct config *c, const struct conf_stmt *s)
{
	static const struct {
		const char *name;
		size_t off;
		unsigned lo, hi;
	} names[] = {
		{ "sessions", offsetof(struct config, max_sessions), 1, 1000000 },
		{ "sessions_per_ip", offsetof(struct config, max_per_ip), 1, 1000000 },
		{ "line_length", offsetof(struct config, line_length), 512, 65536 },
		{ "reply_length", offsetof(struct config, reply_length), 512, 1048576 },
		{ "recipients", offsetof(struct config, max_rcpt), 1, 100000 },
		{ "errors", offsetof(struct config, max_errors), 1, 1000 },
		{ "pipeline", offsetof(struct config, max_inflight), 1, 10000 },
	};

	if (!want_args(lc, s, 2, 2))
		return;
	if (strcmp(s->argv[1], "message_size") == 0) {
		if (conf_parse_size(s->argv[2], &c->message_size) < 0 || c->message_size < 1024)
			cfg_err(lc, s, 2, "bad size '%s' (examples: 10M, 51200000; at least 1k)", s->argv[2]);
		return;
	}
	for (size_t i = 0; i < nitems(names); i++) {
		if (strcmp(s->argv[1], names[i].name) != 0)
			continue;
		parse_uint(lc, s, 2, names[i].lo, names[i].hi, (unsigned *)((char *)c + names[i].off));
		return;
	}
	cfg_err(lc, s, 1,
	    "unknown limit '%s' (sessions, sessions_per_ip, line_length, reply_length, "
	    "recipients, errors, pipeline, message_size)",
	    s->argv[1]);
}

/* parse_days - "30d" (up to ten years) or any duration, into seconds */
static int
parse_days(const char *s, uint64_t *secs)
{
	unsigned ms;
	char *end;

	if (s[0] >= '0' && s[0] <= '9' && s[strlen(s) - 1] == 'd') {
		unsigned long d = strtoul(s, &end, 10);

		if (*end != 'd' || end[1] != '\0' || d > 3650)
			return -1;
		*secs = (uint64_t)d * 86400;
		return 0;
	}
	if (conf_parse_duration(s, &ms) < 0)
		return -1;
	*secs = ms / 1000;
	return 0;
}

static void apply_stmt(struct loadctx *lc, struct config *c, const struct conf_stmt *s);

/* apply_include - include FILE: its statements as if written here (relative to this file) */
static void
apply_include(struct loadctx *lc, struct config *c, const struct conf_stmt *s)
{
	char path[4096];
	const char *slash;
	struct conf_error perr;
	struct conf_doc *doc;

	if (!want_args(lc, s, 1, 1))
		return;
	if (lc->depth >= INCLUDE_DEPTH_MAX || lc->ndocs >= (int)nitems(lc->docs)) {
		cfg_err(lc, s, 0, "includes nested deeper than %d, or more than %d files", INCLUDE_DEPTH_MAX,
		    (int)nitems(lc->docs));
		return;
	}
	slash = strrchr(s->file, '/');
	if (s->argv[1][0] == '/' || slash == NULL)
		snprintf(path, sizeof(path), "%s", s->argv[1]);
	else
		snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - s->file), s->file, s->argv[1]);
	doc = conf_parse_file(path, &perr);
	if (doc == NULL) {
		cfg_err(lc, s, 1, "%s", perr.msg);
		return;
	}
	lc->docs[lc->ndocs++] = doc;
	lc->depth++;
	for (const struct conf_stmt *t = doc->first; t != NULL; t = t->next)
		apply_stmt(lc, c, t);
	lc->depth--;
}

/* apply_auth - auth offer tls|always|never | max_failures N | block_time T | senders FILE */
static void
apply_auth(struct loadctx *lc, struct config *c, const struct conf_stmt *s)
{
	const char *what = s->argc > 1 ? s->argv[1] : "";
	unsigned v;

	if (!want_args(lc, s, 2, 2))
		return;
	if (!strcmp(what, "offer")) {
		static const char *const offers[AUTH_OFFER_COUNT] = { "tls", "always", "never" };
		int i;

		for (i = 0; i < AUTH_OFFER_COUNT && strcmp(offers[i], s->argv[2]); i++)
			;
		if (i == AUTH_OFFER_COUNT)
			cfg_err(lc, s, 2, "auth offer is tls, always or never, not '%s'", s->argv[2]);
		else
			c->auth_offer = (enum auth_offer)i;
	} else if (!strcmp(what, "max_failures")) {
		if (parse_uint(lc, s, 2, 0, 1000, &v))
			c->auth_max_failures = v;
	} else if (!strcmp(what, "block_time")) {
		if (conf_parse_duration(s->argv[2], &v) < 0 || v < 1000)
			cfg_err(lc, s, 2, "'%s' is not a duration of at least 1s", s->argv[2]);
		else
			c->auth_block_ms = v;
	} else if (!strcmp(what, "senders")) {
		char err[512];

		senders_free(c->auth_senders);
		if ((c->auth_senders = senders_load(s->argv[2], err, sizeof(err))) == NULL)
			cfg_err(lc, s, 2, "%s", err);
	} else {
		cfg_err(lc, s, 1, "auth takes offer, max_failures, block_time or senders, not '%s'", what);
	}
}

/* apply_stmt - one top-level statement */
static void
apply_stmt(struct loadctx *lc, struct config *c, const struct conf_stmt *s)
{
	const char *k = s->argv[0];
	const char *why = NULL;

	if (s->argc == 0)
		return;
	if (!strcmp(k, "hostname")) {
		if (want_args(lc, s, 1, 1)) {
			if (!hostname_ok(s->argv[1]))
				cfg_err(lc, s, 1, "'%s' is not a valid host name", s->argv[1]);
			else
				set_str(&c->hostname, s->argv[1]);
		}
	} else if (!strcmp(k, "banner")) {
		if (want_args(lc, s, 1, 1)) {
			if (strpbrk(s->argv[1], "\r\n") != NULL)
				cfg_err(lc, s, 1, "banner text must be one line");
			else
				set_str(&c->banner, s->argv[1]);
		}
	} else if (!strcmp(k, "workers")) {
		unsigned n;

		if (want_args(lc, s, 1, 1)) {
			if (!strcmp(s->argv[1], "auto"))
				c->workers = 0;
			else if (parse_uint(lc, s, 1, 1, 256, &n))
				c->workers = (int)n;
		}
	} else if (!strcmp(k, "listen")) {
		if (want_args(lc, s, 1, 3)) {
			struct cfg_addr a;

			memset(&a, 0, sizeof(a));
			for (int w = 2; w < s->argc; w++) {
				if (!strcmp(s->argv[w], "tls"))
					a.flags |= LISTEN_TLS;
				else if (!strcmp(s->argv[w], "require_tls"))
					a.flags |= LISTEN_REQUIRE_TLS;
				else
					cfg_err(lc, s, w, "'%s': a listen option is tls or require_tls", s->argv[w]);
			}
			if (cfg_parse_addr(s->argv[1], &a, &why) < 0) {
				cfg_err(lc, s, 1, "bad listen address '%s': %s", s->argv[1], why);
			} else if (a.ss.ss_family == AF_UNIX) {
				cfg_err(lc, s, 1, "listen takes an IP address and port, not a UNIX socket");
			} else {
				struct cfg_addr *nl = realloc(c->listen, sizeof(*nl) * (c->nlisten + 1));

				if (nl == NULL)
					abort();
				c->listen = nl;
				a.spec = xstrdup(s->argv[1]);
				c->listen[c->nlisten++] = a;
			}
		}
	} else if (!strcmp(k, "backend")) {
		if (want_args(lc, s, 1, 1)) {
			if (cfg_parse_addr(s->argv[1], &c->backend, &why) < 0)
				cfg_err(lc, s, 1, "bad backend address '%s': %s", s->argv[1], why);
			else
				set_str(&c->backend.spec, s->argv[1]);
		}
	} else if (!strcmp(k, "xclient")) {
		if (want_args(lc, s, 1, 1))
			parse_bool(lc, s, 1, &c->xclient);
	} else if (!strcmp(k, "backend_reuse")) {
		if (want_args(lc, s, 1, 1)) {
			parse_bool(lc, s, 1, &c->backend_reuse);
			c->backend_reuse_set = true;
		}
	} else if (!strcmp(k, "decision_log")) {
		if (want_args(lc, s, 1, 1)) {
			free(c->decision_log);
			c->decision_log = strcmp(s->argv[1], "off") ? xstrdup(s->argv[1]) : NULL;
		}
	} else if (!strcmp(k, "evidence_dir")) {
		if (want_args(lc, s, 1, 1)) {
			free(c->evidence_dir);
			c->evidence_dir = strcmp(s->argv[1], "off") ? xstrdup(s->argv[1]) : NULL;
		}
	} else if (!strcmp(k, "evidence_max")) {
		uint64_t v;

		if (want_args(lc, s, 1, 1)) {
			if (conf_parse_size(s->argv[1], &v) < 0 || v < 1024 || v > 1024 * 1024)
				cfg_err(lc, s, 1, "'%s' is not a size from 1k to 1M", s->argv[1]);
			else
				c->evidence_max = (unsigned)v;
		}
	} else if (!strcmp(k, "evidence_keep")) {
		if (want_args(lc, s, 1, 1) && parse_days(s->argv[1], &c->evidence_keep) < 0)
			cfg_err(lc, s, 1, "'%s' is not a retention time (e.g. 12h, 30d; at most 3650d)", s->argv[1]);
	} else if (!strcmp(k, "user")) {
		if (want_args(lc, s, 1, 1)) {
			if (getpwnam(s->argv[1]) == NULL)
				cfg_err(lc, s, 1, "no such user '%s'", s->argv[1]);
			else
				set_str(&c->user, s->argv[1]);
		}
	} else if (!strcmp(k, "pid_file")) {
		if (want_args(lc, s, 1, 1))
			set_str(&c->pid_file, s->argv[1]);
	} else if (!strcmp(k, "log")) {
		if (want_args(lc, s, 1, 1)) {
			if (!strcmp(s->argv[1], "stderr"))
				c->log_to = LOG_TO_STDERR;
			else if (!strcmp(s->argv[1], "syslog"))
				c->log_to = LOG_TO_SYSLOG;
			else
				cfg_err(lc, s, 1, "log goes to stderr or syslog, not '%s'", s->argv[1]);
		}
	} else if (!strcmp(k, "log_level")) {
		static const struct {
			const char *n;
			int v;
		} lv[] = { { "error", LOG_ERR }, { "warning", LOG_WARNING }, { "notice", LOG_NOTICE },
			{ "info", LOG_INFO }, { "debug", LOG_DEBUG } };
		size_t i;

		if (want_args(lc, s, 1, 1)) {
			for (i = 0; i < nitems(lv); i++)
				if (!strcmp(s->argv[1], lv[i].n))
					break;
			if (i == nitems(lv))
				cfg_err(lc, s, 1, "log_level is error, warning, notice, info or debug");
			else
				c->log_level = lv[i].v;
		}
	} else if (!strcmp(k, "timeout")) {
		apply_timeout(lc, c, s);
	} else if (!strcmp(k, "limit")) {
		apply_limit(lc, c, s);
	} else if (!strcmp(k, "bare_lf")) {
		if (want_args(lc, s, 1, 1)) {
			if (!strcmp(s->argv[1], "reject"))
				c->bare = DATA_BARE_REJECT;
			else if (!strcmp(s->argv[1], "normalise") || !strcmp(s->argv[1], "normalize"))
				c->bare = DATA_BARE_NORMALISE;
			else
				cfg_err(lc, s, 1, "bare_lf is reject or normalise, not '%s'", s->argv[1]);
		}
	} else if (!strcmp(k, "auth")) {
		apply_auth(lc, c, s);
	} else if (!strcmp(k, "include")) {
		apply_include(lc, c, s);
	} else if (!strcmp(k, "plugin")) {
		char err[512];

		if (want_args(lc, s, 1, 1) && plugin_load(s->argv[1], err, sizeof(err)) == NULL)
			cfg_err(lc, s, 1, "%s", err);
	} else if (!strcmp(k, "backend_tls")) {
		struct conf_error err;
		char host[256] = "";

		if (c->backend.spec != NULL && c->backend.ss.ss_family != AF_UNIX) {
			const char *spec = c->backend.spec, *end = strrchr(spec, ':');
			size_t n = end ? (size_t)(end - spec) : strlen(spec);

			if (spec[0] == '[' && n >= 2) {
				spec++;
				n -= 2;
			}
			snprintf(host, sizeof(host), "%.*s", (int)n, spec);
		}
		tls_client_free(c->btls);
		if ((c->btls = tls_client_new(s, host[0] ? host : NULL, &err)) == NULL)
			cfg_report(lc, err.msg);
	} else if (!strcmp(k, "tls")) {
		struct conf_error err;

		tls_conf_free(c->tls);
		if ((c->tls = tls_conf_new(s, &err)) == NULL)
			cfg_report(lc, err.msg);
	} else if (!strcmp(k, "dns")) {
		struct conf_error err;

		if (dns_conf_parse(s, &c->dns, &c->dns_servers, &err) < 0)
			cfg_report(lc, err.msg);
	} else if (chain_filter_find(k) != NULL) {
		struct conf_error err;

		if (!s->block)
			cfg_err(lc, s, 0, "'%s' is configured with a block: %s { ... }", k, k);
		else if (chain_conf_add(c->filters, chain_filter_find(k), s, &err) < 0)
			cfg_report(lc, err.msg);
	} else {
		cfg_err(lc, s, 0, "unknown statement '%s'", k);
	}
}

/* cfg_free - free a snapshot */
static void
cfg_free(struct config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nlisten; i++)
		free(c->listen[i].spec);
	free(c->listen);
	free(c->backend.spec);
	free(c->path);
	free(c->hostname);
	free(c->banner);
	free(c->decision_log);
	free(c->pid_file);
	free(c->user);
	free(c->dns_servers);
	free(c->evidence_dir);
	chain_conf_free(c->filters);
	tls_conf_free(c->tls);
	tls_client_free(c->btls);
	senders_free(c->auth_senders);
	free(c);
}

/* cfg_defaults - what an unconfigured sluice does */
static void
cfg_defaults(struct config *c)
{
	char host[256];

	if (gethostname(host, sizeof(host)) != 0 || !hostname_ok(host))
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	c->hostname = xstrdup(host);
	c->banner = xstrdup("ESMTP");
	c->workers = 0;
	c->xclient = true;
	c->log_to = LOG_TO_STDERR;
	c->log_level = LOG_INFO;
	c->t_connect = 10000;
	c->t_command = 300000;
	c->t_data = 300000;
	c->t_idle = 300000;
	c->t_session = 3600000;
	c->t_shutdown = 30000;
	c->max_sessions = 10000;
	c->max_per_ip = 50;
	c->line_length = 2048;
	c->reply_length = 8192;
	c->max_rcpt = 1000;
	c->max_errors = 10;
	c->max_inflight = 100;
	c->message_size = 25 * 1024 * 1024;
	c->bare = DATA_BARE_REJECT;
	c->dns = (struct dns_config){ NULL, 1500, 2, 0, 86400, 10000 };
	c->auth_offer = AUTH_OFFER_TLS;
	c->auth_max_failures = 5;
	c->auth_block_ms = 600000;
	c->evidence_max = 64 * 1024;
	c->evidence_keep = 30 * 86400;
	c->filters = chain_conf_new();
	if (c->filters == NULL)
		abort();
}

/* cfg_hash - a short, stable fingerprint of the configuration text */
static void
cfg_hash(struct config *c, const char *text, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)text[i];
		h *= 1099511628211ULL;
	}
	snprintf(c->hash, sizeof(c->hash), "%016llx", (unsigned long long)h);
}

/* cfg_read - the whole file, bounded; NULL with a message on failure */
static char *
cfg_read(const char *path, size_t *len, FILE *errs)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;

	*len = 0;
	if (fp == NULL) {
		fprintf(errs, "%s: %s\n", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t n;

		if (*len == cap) {
			char *nb;

			if (cap >= ((size_t)16 << 20)) {
				fprintf(errs, "%s: file larger than 16 MiB\n", path);
				goto fail;
			}
			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap + 1);
			if (nb == NULL) {
				fprintf(errs, "%s: out of memory\n", path);
				goto fail;
			}
			buf = nb;
		}
		n = fread(buf + *len, 1, cap - *len, fp);
		*len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		fprintf(errs, "%s: read error\n", path);
		goto fail;
	}
	fclose(fp);
	buf[*len] = '\0';
	return buf;
fail:
	fclose(fp);
	free(buf);
	return NULL;
}

/* cfg_load - see config.h */
struct config *
cfg_load(const char *path, FILE *errs, int *nerr)
{
	struct conf_error perr;
	struct conf_doc *doc;
	struct loadctx lc = { .errs = errs };
	struct config *c;
	char *text;
	size_t len;

	*nerr = 0;
	text = cfg_read(path, &len, errs);
	if (text == NULL) {
		*nerr = 1;
		return NULL;
	}
	doc = conf_parse(path, text, len, &perr);
	if (doc == NULL) {
		free(text);
		fprintf(errs, "%s\n", perr.msg);
		*nerr = 1;
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	atomic_init(&c->refs, 1);
	c->gen = atomic_fetch_add(&cfg_gen, 1) + 1;
	cfg_hash(c, text, len);
	free(text);
	c->path = xstrdup(path);
	cfg_defaults(c);
	for (const struct conf_stmt *s = doc->first; s != NULL; s = s->next)
		apply_stmt(&lc, c, s);
	if (c->nlisten == 0) {
		fprintf(errs, "%s:1:1: no 'listen' address configured\n", path);
		lc.nerr++;
	}
	if (c->backend.spec == NULL) {
		fprintf(errs, "%s:1:1: no 'backend' configured\n", path);
		lc.nerr++;
	}
	if (!c->backend_reuse_set)
		c->backend_reuse = c->xclient; /* reuse needs XCLIENT to announce each client */
	if (c->backend_reuse && !c->xclient) {
		fprintf(errs, "%s:1:1: backend_reuse needs xclient on (each session announces its client)\n", path);
		lc.nerr++;
	}
	for (size_t i = 0; i < c->nlisten; i++)
		if ((c->listen[i].flags & (LISTEN_TLS | LISTEN_REQUIRE_TLS)) && c->tls == NULL) {
			fprintf(errs, "%s:1:1: listen %s uses TLS but there is no tls { } block\n", path, c->listen[i].spec);
			lc.nerr++;
		}
	if (c->max_per_ip > c->max_sessions)
		c->max_per_ip = c->max_sessions;
	if (c->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		c->workers = n > 0 ? (int)MIN(n, 64) : 1;
	}
	for (int d = 0; d < lc.ndocs; d++)
		conf_doc_free(lc.docs[d]);
	conf_doc_free(doc);
	if (lc.nerr > 0) {
		*nerr = lc.nerr;
		cfg_free(c);
		return NULL;
	}
	return c;
}

/* cfg_ref - take a reference */
struct config *
cfg_ref(struct config *c)
{
	atomic_fetch_add(&c->refs, 1);
	return c;
}

/* cfg_unref - drop a reference; the last one frees */
void
cfg_unref(struct config *c)
{
	if (c != NULL && atomic_fetch_sub(&c->refs, 1) == 1)
		cfg_free(c);
}

/* cfg_current_get - a reference on the running snapshot */
struct config *
cfg_current_get(void)
{
	struct config *c;

	pthread_mutex_lock(&cfg_lock);
	c = cfg_current ? cfg_ref(cfg_current) : NULL;
	pthread_mutex_unlock(&cfg_lock);
	return c;
}

/* cfg_current_set - swap in a new snapshot; sessions keep the old one */
void
cfg_current_set(struct config *c)
{
	struct config *old;

	pthread_mutex_lock(&cfg_lock);
	old = cfg_current;
	cfg_current = c;
	pthread_mutex_unlock(&cfg_lock);
	cfg_unref(old);
}
