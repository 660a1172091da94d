/* proxy/config_addr.c: listen and backend addresses: address:port, [IPv6]:port, unix:/path */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "config.h"

/* cfg_parse_addr - see config.h */
int
cfg_parse_addr(const char *spec, struct cfg_addr *out, const char **why)
{
	char host[256];
	const char *colon, *port;
	char *end;
	unsigned long pn;

	memset(&out->ss, 0, sizeof(out->ss));
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&out->ss;

		if (spec[5] != '/' || strlen(spec + 5) >= sizeof(sun->sun_path)) {
			*why = "unix: needs an absolute path shorter than 108 bytes";
			return -1;
		}
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, spec + 5);
		out->len = sizeof(*sun);
		return 0;
	}
	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');

		if (rb == NULL || rb[1] != ':' || rb == spec + 1 || (size_t)(rb - spec - 1) >= sizeof(host)) {
			*why = "expected [IPv6]:port";
			return -1;
		}
		memcpy(host, spec + 1, (size_t)(rb - spec - 1));
		host[rb - spec - 1] = '\0';
		port = rb + 2;
		if (strchr(host, ':') == NULL) {
			*why = "brackets are for IPv6 addresses";
			return -1;
		}
	} else {
		colon = strchr(spec, ':');
		if (colon == NULL || (size_t)(colon - spec) >= sizeof(host)) {
			*why = "expected address:port";
			return -1;
		}
		if (strchr(colon + 1, ':') != NULL) {
			*why = "write IPv6 addresses in brackets: [::1]:25";
			return -1;
		}
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
		port = colon + 1;
	}
	for (const char *p = port; *p != '\0'; p++) {
		if (*p < '0' || *p > '9') {
			*why = "port must be 1..65535";
			return -1;
		}
	}
	errno = 0;
	pn = strtoul(port, &end, 10);
	if (*port == '\0' || *end != '\0' || errno != 0 || pn == 0 || pn > 65535) {
		*why = "port must be 1..65535";
		return -1;
	}
	if (strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0 || host[0] == '\0') {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)pn);
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		out->len = sizeof(*sin);
		return 0;
	}
	if (strchr(host, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			*why = "not a numeric IPv6 address";
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)pn);
		out->len = sizeof(*sin6);
		return 0;
	}
	{
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
			*why = "not a numeric IPv4 address (host names are not resolved here)";
			return -1;
		}
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)pn);
		out->len = sizeof(*sin);
	}
	return 0;
}
