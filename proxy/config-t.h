/* proxy/config-t.h: the configuration snapshot (immutable once loaded) */
#ifndef SLUICE_CONFIG_T_H
#define SLUICE_CONFIG_T_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dns.h"
#include "smtp_data.h"

struct chain_conf;

#define LISTEN_TLS         0x1u /* implicit TLS (465 style) */
#define LISTEN_REQUIRE_TLS 0x2u /* MAIL only after STARTTLS (530) */

struct cfg_addr {
	char *spec;                 /* owned: as written */
	struct sockaddr_storage ss; /* AF_INET, AF_INET6 or AF_UNIX */
	socklen_t len;
	unsigned flags;             /* listen: LISTEN_* */
};

struct tls_conf;
struct tls_client;
struct senders;

/* When the client is offered AUTH (the backend's mechanisms). */
enum auth_offer { AUTH_OFFER_TLS = 0, AUTH_OFFER_ALWAYS, AUTH_OFFER_NEVER, AUTH_OFFER_COUNT };

enum log_target { LOG_TO_STDERR = 0, LOG_TO_SYSLOG, LOG_TARGET_COUNT };

struct config {
	atomic_int refs;
	uint64_t gen;           /* unique per loaded snapshot (caches key on it) */
	char *path;             /* owned */
	char hash[17];          /* FNV-1a of the file text, for decision records */
	char *hostname;         /* owned */
	char *banner;           /* owned: text after "220 hostname " */
	int workers;            /* resolved: "auto" = number of cores */
	struct cfg_addr *listen;/* owned array */
	size_t nlisten;
	struct cfg_addr backend;
	bool xclient;
	bool backend_reuse;      /* keep clean backend connections for later sessions */
	bool backend_reuse_set;  /* written in the file; otherwise it follows xclient */
	char *decision_log;     /* owned; NULL = none */
	enum log_target log_to;
	int log_level;          /* syslog priority: LOG_ERR .. LOG_DEBUG */
	char *pid_file;         /* owned; NULL = none */
	char *user;             /* owned; NULL = keep the starting user */
	/* timeouts, milliseconds */
	unsigned t_connect;     /* backend connect + banner */
	unsigned t_command;     /* backend reply to one command */
	unsigned t_data;        /* client inactivity inside DATA */
	unsigned t_idle;        /* client inactivity between commands */
	unsigned t_session;     /* whole session */
	unsigned t_shutdown;    /* SIGTERM drain deadline */
	/* limits */
	unsigned max_sessions;
	unsigned max_per_ip;
	unsigned line_length;   /* command line, CRLF included */
	unsigned reply_length;  /* whole backend reply */
	unsigned max_rcpt;      /* per message */
	unsigned max_errors;    /* protocol errors before 421 */
	unsigned max_inflight;  /* pipelined commands in flight */
	uint64_t message_size;  /* bytes; announced as SIZE */
	enum data_bare bare;    /* bare LF / CR inside DATA */
	/* DNS and filters */
	char *dns_servers;      /* owned; NULL = /etc/resolv.conf */
	struct dns_config dns;  /* .servers points at dns_servers */
	struct chain_conf *filters; /* owned: the configured filters, in order */
	struct tls_conf *tls;   /* owned: NULL = no TLS (no STARTTLS offered) */
	struct tls_client *btls;/* owned: TLS to the backend; NULL = plaintext */
	/* AUTH, relayed to the backend */
	enum auth_offer auth_offer;
	unsigned auth_max_failures; /* per client address within auth_block_ms; 0 = no limit */
	unsigned auth_block_ms;
	struct senders *auth_senders; /* owned: allowed senders per user; NULL = any */
	/* evidence of messages refused at end of data */
	char *evidence_dir;     /* owned; NULL = headers only in the decision record */
	unsigned evidence_max;  /* header bytes kept per message */
	uint64_t evidence_keep; /* seconds a file is kept */
};

#endif
