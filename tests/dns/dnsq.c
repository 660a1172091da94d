/* tests/dns/dnsq.c: drive proxy/dns.c against a real DNS server, print the answers */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "dns.h"

/*
 * dnsq SERVERS TIMEOUT_MS MIN_TTL MAX_TTL ROUND [ROUND ...]
 * A round is a comma-separated list of TYPE:NAME (A, TXT, PTR) issued at
 * once, or "sleep:MS". Each answer prints one line:
 *   TYPE NAME status=S ttl=N cached=0|1 [addrs=a,b] [txt="..."] [name=...]
 * and a last line prints the counters.
 */

struct ask {
	char type[8];
	char name[300];
	struct event_base *base;
	int *pending;
};

static void
print(const struct ask *a, const struct dns_result *r)
{
	printf("%s %s status=%s ttl=%u cached=%d", a->type, a->name, dns_status_name(r->status), r->ttl,
	    r->cached ? 1 : 0);
	if (r->naddr > 0) {
		printf(" addrs=");
		for (unsigned i = 0; i < r->naddr; i++)
			printf("%s%s", i ? "," : "", inet_ntoa(r->addr[i]));
	}
	if (r->txt[0])
		printf(" txt=\"%s\"", r->txt);
	if (r->name[0])
		printf(" name=%s", r->name);
	printf("\n");
	fflush(stdout);
}

static void
done(void *arg, const struct dns_result *r)
{
	struct ask *a = arg;

	print(a, r);
	if (--*a->pending == 0)
		event_base_loopbreak(a->base);
}

int
main(int argc, char **argv)
{
	struct dns_config cfg = { 0 };
	struct event_base *base = event_base_new();
	struct dns *d;
	struct dns_stats st;
	char err[256];

	if (argc < 6) {
		fprintf(stderr, "usage: dnsq SERVERS TIMEOUT_MS MIN_TTL MAX_TTL ROUND...\n");
		return 2;
	}
	cfg.servers = argv[1];
	cfg.timeout_ms = (unsigned)atoi(argv[2]);
	cfg.tries = 1;
	cfg.min_ttl = (uint32_t)atoi(argv[3]);
	cfg.max_ttl = (uint32_t)atoi(argv[4]);
	d = dns_new(base, &cfg, err, sizeof(err));
	if (d == NULL) {
		fprintf(stderr, "dnsq: %s\n", err);
		return 1;
	}
	for (int i = 5; i < argc; i++) {
		struct ask asks[32];
		int n = 0, pending = 0;
		char *round = strdup(argv[i]), *tok, *save = NULL;

		if (strncmp(round, "sleep:", 6) == 0) {
			struct timespec ts = { atoi(round + 6) / 1000, (atoi(round + 6) % 1000) * 1000000L };

			nanosleep(&ts, NULL);
			free(round);
			continue;
		}
		for (tok = strtok_r(round, ",", &save); tok && n < 32; tok = strtok_r(NULL, ",", &save)) {
			struct ask *a = &asks[n++];
			char *colon = strchr(tok, ':');
			uint16_t type;
			struct dns_result now;
			struct dns_req *req;

			if (colon == NULL)
				return 2;
			*colon = '\0';
			snprintf(a->type, sizeof(a->type), "%s", tok);
			snprintf(a->name, sizeof(a->name), "%s", colon + 1);
			a->base = base;
			a->pending = &pending;
			type = !strcmp(a->type, "A") ? DNS_T_A : !strcmp(a->type, "TXT") ? DNS_T_TXT : DNS_T_PTR;
			switch (dns_query(d, type, a->name, done, a, &now, &req)) {
			case 1:
				print(a, &now);
				break;
			case 0:
				pending++;
				break;
			default:
				printf("%s %s status=local-error\n", a->type, a->name);
			}
		}
		if (pending > 0)
			event_base_dispatch(base);
		free(round);
	}
	dns_get_stats(d, &st);
	printf("stats queries=%lu hits=%lu joined=%lu answers=%lu\n", st.queries_sent, st.cache_hits, st.joined,
	    st.answers);
	dns_free_(d);
	event_base_free(base);
	return 0;
}
