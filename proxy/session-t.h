/* proxy/session-t.h: struct session, the in-flight FIFO, session states */
#ifndef SLUICE_SESSION_T_H
#define SLUICE_SESSION_T_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "linebuf.h"
#include "smtp_cmd.h"
#include "smtp_data.h"
#include "smtp_reply.h"

struct bufferevent;
struct evbuffer;
struct event;
struct worker;
struct config;
struct policy;
struct tls_info;

/* Where the client is in the dialogue (its view, assuming pipelined success). */
enum sess_state {
	ST_CONNECT = 0, /* waiting for the backend greeting; client not read */
	ST_GREETED,     /* 220 sent; no HELO/EHLO yet */
	ST_HELO,        /* HELO/EHLO done; no transaction */
	ST_MAIL,        /* MAIL sent */
	ST_RCPT,        /* at least one RCPT sent */
	ST_DATA,        /* message content streaming */
	ST_CLOSING,     /* last reply queued; nothing more is read */
	ST_COUNT
};

/* Who answers a FIFO entry. */
enum fi_kind {
	FI_CLIENT = 0, /* a client command relayed to the backend */
	FI_LOCAL,      /* a client command answered by sluice itself */
	FI_INTERNAL,   /* sluice's own command to the backend; reply consumed */
	FI_KIND_COUNT
};

/* What an entry is, beyond the verb. */
enum fi_what {
	FW_CMD = 0,     /* an ordinary command */
	FW_GREETING,    /* the backend's 220 (no command sent) */
	FW_OUR_EHLO,    /* sluice's EHLO, to learn the backend's extensions */
	FW_XCLIENT,     /* XCLIENT with the real client's attributes */
	FW_HELO_REPLAY, /* the client's HELO/EHLO again, after a reconnect */
	FW_EOD,         /* the end-of-data dot */
	FW_STARTTLS,    /* sluice's STARTTLS to the backend (backend_tls starttls) */
	FW_COUNT
};

enum fi_stage {
	FS_QUEUED = 0, /* to be written to the backend */
	FS_SENT,       /* written; awaiting the backend's reply */
	FS_DONE,       /* reply ready (or none due) */
	FS_COUNT
};

struct inflight {
	TAILQ_ENTRY(inflight) link;
	uint8_t kind;    /* enum fi_kind */
	uint8_t what;    /* enum fi_what */
	uint8_t stage;   /* enum fi_stage */
	uint8_t verb;    /* enum cmd_verb */
	bool close_after;/* close the session once this reply is out */
	bool start_tls;  /* start TLS once this reply (220 to STARTTLS) is out */
	bool secret;     /* cmd carries a SASL response: wiped when freed */
	int code;        /* reply code, once known */
	uint32_t txn;    /* the client transaction it belongs to (s->txn_seq) */
	char *cmd;       /* owned: bytes for the backend */
	size_t cmdlen;
	char *reply;     /* owned: bytes for the client */
	size_t replylen;
	char *arg;       /* owned: RCPT/MAIL address or HELO name */
};
TAILQ_HEAD(inflight_q, inflight);

/* Why a message in DATA will not be committed. */
enum data_fail { DF_NONE = 0, DF_BARE, DF_SIZE, DF_BACKEND, DF_POLICY, DF_COUNT };

#define SESS_F_CLOSING   0x01u /* sess_close() ran; free is queued */
#define SESS_F_COUNTED   0x02u /* holds a conntab slot */
#define SESS_F_CPAUSED   0x04u /* client reads stopped (backpressure) */
#define SESS_F_BPAUSED   0x08u /* backend reads stopped (backpressure) */
#define SESS_F_FREEING   0x10u /* deferred free scheduled */

#define SESS_MAX_RCPT_LOG 50 /* recipients named in one decision record */

struct session {
	TAILQ_ENTRY(session) link;  /* the worker's list */
	struct worker *w;           /* weak: the owning worker */
	struct config *cfg;         /* ref: the snapshot this session runs on */
	enum sess_state state;
	unsigned flags;             /* SESS_F_* */
	bool in_process;            /* sess_client_process() is on the stack */
	bool barrier;               /* a barrier command awaits its reply */
	bool client_eof;            /* client half-closed; finish, then close */
	char sid[17];
	struct sockaddr_storage client_sa;
	char client_ip[INET6_ADDRSTRLEN];
	uint16_t client_port;
	struct bufferevent *cbev;   /* owned: client side */
	struct bufferevent *bbev;   /* owned: backend side; NULL when down */
	struct io_rd *crd;          /* owned: reads for cbev (io_read.h) */
	struct io_rd *brd;          /* owned: reads for bbev; NULL when down */
	struct event *ev_deadline;  /* owned: whole-session time limit */
	struct linebuf cline;       /* client command line being read */
	struct reply_parser brep;   /* backend reply being read */
	struct inflight_q fifo;     /* commands in flight, oldest first */
	unsigned nfifo;
	/* backend connection */
	bool b_up;                  /* connected (or connecting) */
	bool b_pipelining;          /* backend offered PIPELINING */
	bool b_xclient;             /* backend offered XCLIENT */
	bool b_xclient_done;        /* XCLIENT sent on this connection */
	bool b_xclient_ok;          /* ... and the backend took it */
	bool b_txn_open;            /* the backend accepted a MAIL not yet ended */
	bool b_dead;                /* the backend said 421: never reuse */
	bool b_tls;                 /* the backend connection is TLS */
	bool b_starttls_due;        /* backend_tls starttls: due before XCLIENT on this connection */
	bool b_retried;             /* a reused connection died under its XCLIENT: retried once */
	unsigned b_uses;            /* sessions this connection served (reuse) */
	unsigned b_junk;            /* Postfix "junk" commands sent on it (pool.h) */
	unsigned b_rejects;         /* 4xx/5xx replies it gave this session */
	unsigned b_xattrs;          /* XCLIENT attributes offered (xclient.h) */
	unsigned b_conns;           /* backend connections opened */
	bool b_corked;              /* backend writes held in bcork */
	struct evbuffer *bcork;     /* owned: held backend writes */
	uint8_t b_tmode;            /* timeouts in force: 0 connect, else 1 + owed + 2 * DATA */
	/* the client */
	char *helo;                 /* owned: HELO/EHLO argument */
	char *helo_line;            /* owned: the client's last HELO/EHLO line */
	bool esmtp;
	/* the transaction */
	char *mail_from;            /* owned */
	char **rcpts;               /* owned: accepted recipients */
	unsigned nrcpt, rcpt_cap;
	unsigned rcpt_pending;      /* RCPTs sent, not answered */
	bool txn_lost;              /* the backend went away mid-transaction */
	uint32_t txn_seq;           /* bumped by every MAIL and every reset */
	struct data_scanner *data;  /* owned: while in DATA */
	enum data_fail data_fail;
	uint64_t data_start_ms;
	/* counters for the session summary */
	uint16_t cnt[CMD_VERB_COUNT];
	uint16_t ok[CMD_VERB_COUNT];
	unsigned errors, msgs_ok, msgs_fail;
	uint64_t t_start;
	const char *close_reason;   /* static text */
	struct policy *pol;         /* owned: filters and their gates; NULL without filters */
	/* TLS on the client side (session_tls.c) */
	unsigned lflags;            /* LISTEN_* of the listener the client came in on */
	bool tls;                   /* cbev is a TLS bufferevent */
	struct tls_info *tlsi;      /* owned: what the handshake settled; NULL before */
	struct event *ev_tlsclose;  /* owned: polls the last TLS bytes out at close */
	uint64_t tls_close_by;      /* monotonic deadline of that */
	bool tls_shut;              /* close_notify queued */
	/* AUTH (session_auth.c) */
	char *b_auth_mechs;         /* owned: the backend's AUTH mechanisms; NULL = none */
	bool b_authed;              /* AUTH succeeded on this backend connection: never pooled */
	bool sasl_wait;             /* the backend sent 334: the next line is a response */
	uint8_t auth_mech;          /* enum sasl_mech of the exchange */
	uint8_t auth_mech_done;     /* ... of the successful one */
	uint8_t auth_step;          /* responses sent in the exchange */
	char *auth_try;             /* owned: the user name being tried */
	char *auth_user;            /* owned: authenticated as; NULL = not */
};

#endif
