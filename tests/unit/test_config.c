/* tests/unit/test_config.c: value parsers and cfg_load() error positions */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "conf.h"
#include "config.h"
#include "t.h"
#include "util.h"

static const struct {
	const char *s;
	int rc;
	unsigned ms;
} durations[] = {
	{ "30", 0, 30000 }, { "30s", 0, 30000 }, { "5m", 0, 300000 }, { "1h", 0, 3600000 },
	{ "250ms", 0, 250 }, { "0", 0, 0 }, { "0ms", 0, 0 }, { "007s", 0, 7000 },
	{ "604800", 0, 604800000 }, { "604800s", 0, 604800000 }, { "10080m", 0, 604800000 },
	{ "168h", 0, 604800000 }, { "604800000ms", 0, 604800000 },
	{ "604801", -1, 0 }, { "10081m", -1, 0 }, { "169h", -1, 0 }, { "604800001ms", -1, 0 },
	{ "99999999999999999999999", -1, 0 }, { "", -1, 0 }, { "s", -1, 0 }, { "ms", -1, 0 },
	{ "-1", -1, 0 }, { "+5", -1, 0 }, { " 5", -1, 0 }, { "5 s", -1, 0 }, { "5s ", -1, 0 }, { "1.5s", -1, 0 },
	{ "5x", -1, 0 }, { "5S", -1, 0 }, { "5sec", -1, 0 }, { "5d", 0, 432000000 }, { "8d", -1, 0 }, { "5mss", -1, 0 },
};

static const struct {
	const char *s;
	int rc;
	uint64_t bytes;
} sizes[] = {
	{ "1000", 0, 1000 }, { "64k", 0, 65536 }, { "64K", 0, 65536 }, { "25M", 0, 26214400 },
	{ "25m", 0, 26214400 }, { "1G", 0, 1073741824 }, { "0", 0, 0 }, { "1024G", 0, 1ULL << 40 },
	{ "1099511627776", 0, 1ULL << 40 }, { "1073741824k", 0, 1ULL << 40 },
	{ "1025G", -1, 0 }, { "1099511627777", -1, 0 }, { "1073741825k", -1, 0 }, { "1T", -1, 0 },
	{ "1kb", -1, 0 }, { "1 k", -1, 0 }, { "k", -1, 0 }, { "", -1, 0 }, { "-1", -1, 0 }, { "+1", -1, 0 },
	{ " 1", -1, 0 }, { "1.5M", -1, 0 }, { "99999999999999999999999", -1, 0 },
};

static const struct {
	const char *spec;
	int rc;
	int family;
	unsigned port;
	const char *addr; /* numeric address, or the socket path */
} addrs[] = {
	{ "192.0.2.1:25", 0, AF_INET, 25, "192.0.2.1" },
	{ "127.0.0.1:65535", 0, AF_INET, 65535, "127.0.0.1" },
	{ "*:2525", 0, AF_INET, 2525, "0.0.0.0" },
	{ ":25", 0, AF_INET, 25, "0.0.0.0" },
	{ "0.0.0.0:1", 0, AF_INET, 1, "0.0.0.0" },
	{ "[::1]:25", 0, AF_INET6, 25, "::1" },
	{ "[2001:db8::5]:587", 0, AF_INET6, 587, "2001:db8::5" },
	{ "unix:/run/postfix/smtpd.sock", 0, AF_UNIX, 0, "/run/postfix/smtpd.sock" },
	{ "192.0.2.1", -1, 0, 0, NULL }, { "192.0.2.1:", -1, 0, 0, NULL },
	{ "192.0.2.1:0", -1, 0, 0, NULL }, { "192.0.2.1:65536", -1, 0, 0, NULL },
	{ "192.0.2.1:x", -1, 0, 0, NULL }, { "192.0.2.1:25x", -1, 0, 0, NULL },
	{ "192.0.2.1:-25", -1, 0, 0, NULL }, { "256.0.2.1:25", -1, 0, 0, NULL },
	{ "mx.example:25", -1, 0, 0, NULL }, { "[::1]", -1, 0, 0, NULL }, { "[::1]25", -1, 0, 0, NULL },
	{ "[::1:25", -1, 0, 0, NULL }, { "[::g]:25", -1, 0, 0, NULL }, { "", -1, 0, 0, NULL },
	/* IPv6 only in brackets, brackets only for IPv6, digits-only ports */
	{ "[]:25", -1, 0, 0, NULL }, { "[*]:25", -1, 0, 0, NULL }, { "[1.2.3.4]:25", -1, 0, 0, NULL },
	{ "::1:25", -1, 0, 0, NULL }, { "127.0.0.1:+25", -1, 0, 0, NULL }, { "127.0.0.1: 25", -1, 0, 0, NULL },
	{ "unix:", -1, 0, 0, NULL }, { "unix:run/x", -1, 0, 0, NULL },
};

/* test_values - durations, sizes, addresses */
static void
test_values(void)
{
	for (size_t i = 0; i < nitems(durations); i++) {
		unsigned ms = 12345;
		int rc = conf_parse_duration(durations[i].s, &ms);

		t_int_eq(rc, durations[i].rc, "duration \"%s\"", durations[i].s);
		if (rc == 0 && durations[i].rc == 0)
			t_int_eq(ms, durations[i].ms, "duration \"%s\": value", durations[i].s);
	}
	for (size_t i = 0; i < nitems(sizes); i++) {
		uint64_t v = 12345;
		int rc = conf_parse_size(sizes[i].s, &v);

		t_int_eq(rc, sizes[i].rc, "size \"%s\"", sizes[i].s);
		if (rc == 0 && sizes[i].rc == 0)
			t_true(v == sizes[i].bytes, "size \"%s\": value %llu", sizes[i].s, (unsigned long long)v);
	}
	/* sun_path holds 108 bytes with its NUL */
	for (size_t n = 106; n <= 108; n++) {
		char spec[128] = "unix:/";
		struct cfg_addr a;
		const char *why = NULL;

		memset(spec + 6, 's', n - 1);
		spec[5 + n] = '\0';
		t_int_eq(cfg_parse_addr(spec, &a, &why), n < 108 ? 0 : -1, "addr unix path of %zu bytes", n);
	}
	for (size_t i = 0; i < nitems(addrs); i++) {
		struct cfg_addr a;
		const char *why = NULL;
		char got[INET6_ADDRSTRLEN + 110] = "";
		unsigned port = 0;
		int rc;

		memset(&a, 0, sizeof(a));
		rc = cfg_parse_addr(addrs[i].spec, &a, &why);
		t_int_eq(rc, addrs[i].rc, "addr \"%s\"", addrs[i].spec);
		if (rc != 0) {
			t_true(why != NULL && *why != '\0', "addr \"%s\": reason given", addrs[i].spec);
			continue;
		}
		if (addrs[i].rc != 0)
			continue;
		t_int_eq(a.ss.ss_family, addrs[i].family, "addr \"%s\": family", addrs[i].spec);
		if (a.ss.ss_family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;

			inet_ntop(AF_INET, &sin->sin_addr, got, sizeof(got));
			port = ntohs(sin->sin_port);
			t_int_eq(a.len, sizeof(*sin), "addr \"%s\": length", addrs[i].spec);
		} else if (a.ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.ss;

			inet_ntop(AF_INET6, &sin6->sin6_addr, got, sizeof(got));
			port = ntohs(sin6->sin6_port);
			t_int_eq(a.len, sizeof(*sin6), "addr \"%s\": length", addrs[i].spec);
		} else if (a.ss.ss_family == AF_UNIX) {
			struct sockaddr_un *sun = (struct sockaddr_un *)&a.ss;

			snprintf(got, sizeof(got), "%s", sun->sun_path);
		}
		t_str_eq(got, addrs[i].addr, "addr \"%s\": address", addrs[i].spec);
		t_int_eq(port, addrs[i].port, "addr \"%s\": port", addrs[i].spec);
	}
}

/* load - write text to a temp file and cfg_load() it; errors into *errs */
static struct config *
load(const char *text, size_t len, char *path, size_t pathsz, char **errs, int *nerr)
{
	char tmpl[] = "/tmp/sluice-test-config-XXXXXX";
	int fd = mkstemp(tmpl);
	size_t errlen = 0;
	FILE *fp;
	struct config *c;

	snprintf(path, pathsz, "%s", tmpl);
	*errs = NULL;
	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		abort();
	close(fd);
	fp = open_memstream(errs, &errlen);
	if (fp == NULL)
		abort();
	c = cfg_load(path, fp, nerr);
	fclose(fp);
	unlink(path);
	return c;
}

/* test_load_ok - a full file lands in the right fields; defaults elsewhere */
static void
test_load_ok(void)
{
	static const char text[] = "hostname mx.example.org\n"
				   "banner \"ESMTP sluice\"\n"
				   "workers 4\n"
				   "listen 0.0.0.0:25; listen [::1]:2525\n"
				   "backend unix:/run/postfix.sock\n"
				   "xclient off\n"
				   "decision_log /var/log/sluice.json\n"
				   "log syslog\n"
				   "log_level debug\n"
				   "# timeouts\n"
				   "timeout idle 5m\n"
				   "timeout data 250ms\n"
				   "limit message_size 10M\n"
				   "limit recipients 50\n"
				   "limit sessions 20\n"
				   "bare_lf normalise\n";
	char path[64], *errs;
	int nerr = -1;
	struct config *c = load(text, sizeof(text) - 1, path, sizeof(path), &errs, &nerr);

	t_true(c != NULL, "load: full file loads");
	t_int_eq(nerr, 0, "load: no errors");
	t_str_eq(errs, "", "load: nothing printed");
	free(errs);
	if (c == NULL)
		return;
	t_str_eq(c->hostname, "mx.example.org", "load: hostname");
	t_str_eq(c->banner, "ESMTP sluice", "load: banner");
	t_int_eq(c->workers, 4, "load: workers");
	t_int_eq((long long)c->nlisten, 2, "load: two listen addresses");
	if (c->nlisten == 2) {
		t_str_eq(c->listen[0].spec, "0.0.0.0:25", "load: first listen spec");
		t_int_eq(c->listen[1].ss.ss_family, AF_INET6, "load: second listen is IPv6");
	}
	t_str_eq(c->backend.spec, "unix:/run/postfix.sock", "load: backend spec");
	t_int_eq(c->backend.ss.ss_family, AF_UNIX, "load: backend is a unix socket");
	t_int_eq(c->xclient, false, "load: xclient off");
	t_int_eq(c->backend_reuse, false, "load: no backend reuse without XCLIENT");
	t_str_eq(c->decision_log, "/var/log/sluice.json", "load: decision log");
	t_int_eq(c->log_to, LOG_TO_SYSLOG, "load: log to syslog");
	t_int_eq(c->log_level, LOG_DEBUG, "load: log level");
	t_int_eq(c->t_idle, 300000, "load: idle timeout");
	t_int_eq(c->t_data, 250, "load: data timeout");
	t_int_eq(c->t_connect, 10000, "load: connect timeout default");
	t_true(c->message_size == 10 * 1024 * 1024, "load: message size");
	t_int_eq(c->max_rcpt, 50, "load: recipients");
	t_int_eq(c->max_sessions, 20, "load: sessions");
	t_int_eq(c->max_per_ip, 20, "load: per-IP limit capped at sessions");
	t_int_eq(c->bare, DATA_BARE_NORMALISE, "load: bare_lf");
	t_int_eq((long long)strspn(c->hash, "0123456789abcdef"), 16, "load: hash is 16 hex digits");
	t_str_eq(c->path, path, "load: path kept");

	cfg_current_set(cfg_ref(c));
	{
		struct config *cur = cfg_current_get();

		t_true(cur == c, "current: get returns the installed snapshot");
		t_int_eq(atomic_load(&c->refs), 3, "current: three references");
		cfg_unref(cur);
	}
	cfg_current_set(NULL);
	t_int_eq(atomic_load(&c->refs), 1, "current: replaced snapshot released");
	t_true(cfg_current_get() == NULL, "current: empty");
	cfg_unref(c);
}

/* test_backend_reuse_default - reuse follows xclient unless written */
static void
test_backend_reuse_default(void)
{
	static const struct {
		const char *text;
		int ok, reuse;
	} cases[] = {
		{ "listen *:2525\nbackend 127.0.0.1:25\n", 1, 1 },
		{ "listen *:2525\nbackend 127.0.0.1:25\nxclient off\n", 1, 0 },
		{ "listen *:2525\nbackend 127.0.0.1:25\nbackend_reuse off\n", 1, 0 },
		{ "listen *:2525\nbackend 127.0.0.1:25\nxclient off\nbackend_reuse on\n", 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[64], *errs;
		int nerr = -1;
		struct config *c = load(cases[i].text, strlen(cases[i].text), path, sizeof(path), &errs, &nerr);

		t_int_eq(c != NULL, cases[i].ok, "reuse default: loads: %s", cases[i].text);
		if (c != NULL) {
			t_int_eq(c->backend_reuse, cases[i].reuse, "reuse default: %s", cases[i].text);
			cfg_unref(c);
		} else {
			t_true(strstr(errs, "backend_reuse needs xclient on") != NULL, "reuse default: error: %s", errs);
		}
		free(errs);
	}
}

/* one expected diagnostic: position and a word that must appear in it */
struct diag {
	int line, col;
	const char *has;
};

#define TEXT(s) s, sizeof(s) - 1

static const struct {
	const char *label;
	const char *text;
	size_t len;
	struct diag d[16];
} bad_files[] = {
	{ "errors in values",
	    TEXT("listen *:2525\n"
		 "backend 127.0.0.1:25\n"
		 "hostname bad_host\n"
		 "timeout idle 5x\n"
		 "limit recipients 0\n"
		 "  bogus 1\n"
		 "listen 192.0.2.1\n"
		 "timeout nap 5s\n"
		 "log_level loud\n"
		 "workers\t\t300\n"
		 "listen\n"
		 "hostname a { b }\n"
		 "limit message_size 1000\n"
		 "xclient maybe\n"
		 "bare_lf ignore\n"
		 "timeout idle 50ms\n"
		 "banner x {}\n"),
	    { { 3, 10, "bad_host" }, { 4, 14, "5x" }, { 5, 18, "'0'" }, { 6, 3, "bogus" },
		{ 7, 8, "192.0.2.1" }, { 8, 9, "nap" }, { 9, 11, "log_level" }, { 10, 10, "300" },
		{ 11, 1, "listen" }, { 12, 1, "block" }, { 13, 20, "1000" }, { 14, 9, "maybe" },
		{ 15, 9, "ignore" }, { 16, 14, "50ms" }, { 17, 1, "block" } } },
	{ "statements after semicolons",
	    TEXT("listen *:2525; backend 127.0.0.1:25; xclient maybe\n"
		 "\tbackend  [::1]:0\n"),
	    { { 1, 46, "maybe" }, { 2, 11, "[::1]:0" } } },
	{ "syntax error stops the load",
	    TEXT("listen *:2525\n"
		 "backend \"127.0.0.1:25\n"
		 "bogus\n"),
	    { { 2, 9, "unterminated string" } } },
	{ "unclosed block", TEXT("listen *:2525\nbackend 127.0.0.1:25\nfilter x {\n  a\n"),
	    { { 3, 10, "never closed" } } },
	{ "NUL byte", TEXT("listen *:2525\nbackend 127.0.0.1:25\nhost\0name x\n"), { { 3, 5, "NUL" } } },
	{ "empty file", TEXT(""), { { 1, 1, "listen" }, { 1, 1, "backend" } } },
};

/* check_errs - each printed line is "PATH:LINE:COL: ..." as expected */
static void
check_errs(const char *label, const char *path, const char *errs, int nerr, const struct diag *d)
{
	int want = 0;
	const char *p = errs;

	while (want < 16 && d[want].line != 0)
		want++;
	t_int_eq(nerr, want, "%s: error count", label);
	for (int i = 0; i < want; i++) {
		char prefix[128];
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *line = t_dup(p, n + 1);

		line[n] = '\0';
		snprintf(prefix, sizeof(prefix), "%s:%d:%d: ", path, d[i].line, d[i].col);
		t_true(strncmp(line, prefix, strlen(prefix)) == 0 && strstr(line, d[i].has) != NULL,
		    "%s: error %d at %d:%d mentions \"%s\"", label, i + 1, d[i].line, d[i].col, d[i].has);
		if (strncmp(line, prefix, strlen(prefix)) != 0 || strstr(line, d[i].has) == NULL)
			t_diag("printed: %s", line);
		free(line);
		p = nl ? nl + 1 : p + n;
	}
	t_str_eq(p, "", "%s: nothing else printed", label);
}

/* test_load_errors - every problem reported at its own FILE:LINE:COL */
static void
test_load_errors(void)
{
	for (size_t i = 0; i < nitems(bad_files); i++) {
		char path[64], *errs;
		int nerr = -1;
		struct config *c;

		c = load(bad_files[i].text, bad_files[i].len, path, sizeof(path), &errs, &nerr);
		t_true(c == NULL, "%s: load fails", bad_files[i].label);
		check_errs(bad_files[i].label, path, errs, nerr, bad_files[i].d);
		free(errs);
		cfg_unref(c);
	}
}

/* test_missing_file - a file that is not there is one error naming it */
static void
test_missing_file(void)
{
	char *errs = NULL;
	size_t errlen = 0;
	int nerr = 0;
	FILE *fp = open_memstream(&errs, &errlen);
	struct config *c = cfg_load("/nonexistent/sluice.conf", fp, &nerr);

	fclose(fp);
	t_true(c == NULL, "missing file: fails");
	t_int_eq(nerr, 1, "missing file: one error");
	t_str_eq(errs, "/nonexistent/sluice.conf: No such file or directory\n", "missing file: message");
	free(errs);
}

int
main(void)
{
	test_values();
	test_load_ok();
	test_backend_reuse_default();
	test_load_errors();
	test_missing_file();
	return t_done();
}
