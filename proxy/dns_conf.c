/* proxy/dns_conf.c: the dns { } configuration block */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "dns.h"

/* server_ok - an address, optionally with a port: a.b.c.d[:p], v6, [v6]:p */
static bool
server_ok(const char *s)
{
	char host[64];
	const char *port = NULL;
	struct in6_addr a6;
	size_t n;

	if (s[0] == '[') {
		const char *e = strchr(s, ']');

		if (e == NULL || (e[1] != '\0' && e[1] != ':'))
			return false;
		n = (size_t)(e - s - 1);
		if (n >= sizeof(host))
			return false;
		memcpy(host, s + 1, n);
		host[n] = '\0';
		port = e[1] == ':' ? e + 2 : NULL;
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return false;
	} else if (inet_pton(AF_INET6, s, &a6) == 1) {
		return true;
	} else {
		const char *colon = strchr(s, ':');

		n = colon ? (size_t)(colon - s) : strlen(s);
		if (n >= sizeof(host))
			return false;
		memcpy(host, s, n);
		host[n] = '\0';
		port = colon ? colon + 1 : NULL;
		if (inet_pton(AF_INET, host, &a6) != 1)
			return false;
	}
	if (port != NULL) {
		char *end;
		unsigned long p = strtoul(port, &end, 10);

		if (end == port || *end != '\0' || p == 0 || p > 65535)
			return false;
	}
	return true;
}

/* one_arg - the statement has exactly one argument */
static int
one_arg(struct conf_error *err, const struct conf_stmt *s)
{
	if (s->argc != 2 || s->block)
		return conf_fail(err, s, 0, "'%s' takes one argument", s->argv[0]);
	return 0;
}

/* dns_conf_parse - see dns.h */
int
dns_conf_parse(const struct conf_stmt *b, struct dns_config *dc, char **servers, struct conf_error *err)
{
	if (!b->block || b->argc != 1)
		return conf_fail(err, b, 0, "dns is configured with a block: dns { servers ...; }");
	for (const struct conf_stmt *s = b->child; s != NULL; s = s->next) {
		const char *k = s->argv[0];
		unsigned v;
		char *end;

		if (!strcmp(k, "servers")) {
			size_t len = 0;

			if (s->argc < 2)
				return conf_fail(err, s, 0, "servers takes one or more addresses (127.0.0.1, 127.0.0.1:5353, [::1]:53)");
			for (int w = 1; w < s->argc; w++) {
				if (!server_ok(s->argv[w]))
					return conf_fail(err, s, w, "bad DNS server '%s' (127.0.0.1, 127.0.0.1:5353, ::1, [::1]:5353)",
					    s->argv[w]);
				len += strlen(s->argv[w]) + 1;
			}
			free(*servers);
			if ((*servers = calloc(1, len)) == NULL)
				return conf_fail(err, s, 0, "out of memory");
			for (int w = 1; w < s->argc; w++) {
				if (w > 1)
					strcat(*servers, ",");
				strcat(*servers, s->argv[w]);
			}
			dc->servers = *servers;
		} else if (!strcmp(k, "timeout")) {
			if (one_arg(err, s) < 0)
				return -1;
			if (conf_parse_duration(s->argv[1], &v) < 0 || v < 10 || v > 60000)
				return conf_fail(err, s, 1, "'%s' is not a duration from 10ms to 60s", s->argv[1]);
			dc->timeout_ms = v;
		} else if (!strcmp(k, "tries")) {
			if (one_arg(err, s) < 0)
				return -1;
			v = (unsigned)strtoul(s->argv[1], &end, 10);
			if (end == s->argv[1] || *end != '\0' || v < 1 || v > 10)
				return conf_fail(err, s, 1, "'%s' is not a number from 1 to 10", s->argv[1]);
			dc->tries = v;
		} else if (!strcmp(k, "ttl_min") || !strcmp(k, "ttl_max")) {
			if (one_arg(err, s) < 0)
				return -1;
			if (conf_parse_duration(s->argv[1], &v) < 0)
				return conf_fail(err, s, 1, "'%s' is not a duration", s->argv[1]);
			*(!strcmp(k, "ttl_min") ? &dc->min_ttl : &dc->max_ttl) = v / 1000;
		} else if (!strcmp(k, "cache_size")) {
			if (one_arg(err, s) < 0)
				return -1;
			v = (unsigned)strtoul(s->argv[1], &end, 10);
			if (end == s->argv[1] || *end != '\0' || v > 10000000)
				return conf_fail(err, s, 1, "'%s' is not a number from 0 to 10000000", s->argv[1]);
			dc->cache_max = v;
		} else {
			return conf_fail(err, s, 0, "unknown dns option '%s'", k);
		}
	}
	if (dc->min_ttl > dc->max_ttl)
		return conf_fail(err, b, 0, "dns ttl_min is above ttl_max");
	return 0;
}
