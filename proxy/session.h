/* proxy/session.h: a client session and its backend connection */
#ifndef SLUICE_SESSION_H
#define SLUICE_SESSION_H

#include <stdbool.h>
#include <sys/socket.h>

#include "filter-t.h"
#include "session-t.h"

struct worker;

/* sess_start - take an accepted client socket; the worker owns the result */
void sess_start(struct worker *w, int fd, const struct sockaddr *sa, socklen_t salen, unsigned lflags);
/* sess_close - tear down both halves, log the summary, free later */
void sess_close(struct session *s, const char *reason);
/* sess_shutdown - worker is stopping: 421 to the client and close */
void sess_shutdown(struct session *s);

/* ---- internal to session*.c ---- */
void sess_enter(struct session *s, enum sess_state st);
struct inflight *fifo_push(struct session *s, enum fi_kind kind, enum fi_what what, enum cmd_verb verb);
struct inflight *fifo_insert_after(struct session *s, struct inflight *pos, enum fi_kind kind, enum fi_what what, enum cmd_verb verb);
void fifo_free_entry(struct session *s, struct inflight *fi);
void fifo_set_reply(struct inflight *fi, const char *text, size_t len);
void fifo_set_replyf(struct inflight *fi, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fifo_flush(struct session *s);
struct inflight *fifo_local(struct session *s, enum cmd_verb verb, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool fifo_awaiting_backend(const struct session *s);
void sess_client_process(struct session *s);
void sess_txn_reset(struct session *s);
void sess_client_resume(struct session *s);
/* session_cmd.c */
/* sess_command - one complete command line from the client */
void sess_command(struct session *s, const char *line, size_t len);
/* proto_error - count a client protocol error and answer it (421 and close past the limit) */
void proto_error(struct session *s, int code, const char *enh, const char *text);
/* sess_replay - act on a command line held at a policy gate (not counted again) */
void sess_replay(struct session *s, const char *line, size_t len);

/* session_tls.c */
/* tls_client_bev - the client's bufferevent: plain, or TLS at once (implicit TLS) */
struct bufferevent *tls_client_bev(struct session *s, int fd);
/* tls_starttls - STARTTLS: 220 now, TLS once it is out */
void tls_starttls(struct session *s, const struct smtp_cmd *c);
/* tls_begin - the 220 to STARTTLS went out: wrap the client side */
void tls_begin(struct session *s);
/* tls_connected - the handshake completed (BEV_EVENT_CONNECTED) */
void tls_connected(struct session *s);
/* tls_failed - log why a TLS connection failed */
void tls_failed(struct session *s, short what);
/* tls_close - a closing TLS session: last replies, close_notify, then free */
void tls_close(struct session *s);
/* sess_free_now - schedule the free (session.c) */
void sess_free_later(struct session *s);
/* sess_send - a reply to the client (direct write when plain) */
int sess_send(struct session *s, const char *p, size_t n);
void sess_client_callbacks(struct session *s);

/* session_auth.c */
/* auth_offered - may the client see (and use) AUTH now */
bool auth_offered(const struct session *s);
void cmd_auth(struct session *s, const struct smtp_cmd *c, const char *line, size_t len);
/* auth_response - a client line while the backend waits for a SASL response */
void auth_response(struct session *s, const char *line, size_t len);
void auth_reply(struct session *s, struct inflight *fi, const struct reply_parser *rp);
/* auth_sender_ok - false: MAIL was answered (553, the sender is not the user's) */
bool auth_sender_ok(struct session *s, const char *addr);
/* auth_blocked_at_connect - 421 written and true if the address is blocked */
bool auth_blocked_at_connect(const struct config *cfg, const struct sockaddr *sa, int fd, const char *ip);

/* session_policy.c */
/* policy_headers - the headers rules added, to the backend (DATA begins) */
void policy_headers(struct session *s);
/* policy_txn_reset - forget the transaction's headers */
void policy_txn_reset(struct session *s);
/* policy_fact - a session-level fact (proto.*), when filters are configured */
void policy_fact(struct session *s, const char *key, bool v);
/* policy_refusal - the reply commands get after a refusal behind an early 220- line */
const char *policy_refusal(const struct session *s);
/* policy_client_name - the client's confirmed (FCrDNS) name, or NULL */
const char *policy_client_name(const struct session *s);
/* policy_authenticated - AUTH succeeded: the filters see it from now on */
void policy_authenticated(struct session *s);
/* policy_start - attach the filters and run the connect stage; false: no filters */
bool policy_start(struct session *s);
/*
 * policy_gate - may the command go on now? false: it was refused (answered)
 * or is held until the filters vote. arg is its subject (HELO name, address).
 */
bool policy_gate(struct session *s, enum sl_stage st, const char *line, size_t len, const char *arg);
bool policy_waiting(const struct session *s);
/* policy_fifo_drained - a DATA held for the replies before it goes on; true if it did */
bool policy_fifo_drained(struct session *s);
/* policy_evidence_feed/end - a message taken as evidence (a refusal at DATA) */
void policy_evidence_feed(struct session *s, const char *p, size_t n);
void policy_evidence_end(struct session *s);
bool policy_refused(const struct session *s);
/*
 * policy_eod - the end-of-data vote: the chain's EOD hooks, then done()
 * (at once when no filter hooks EOD). While it runs, policy_waiting().
 */
void policy_eod(struct session *s, void (*done)(void *arg, enum sl_stage st, const struct sl_verdict *v));
/* policy_eod_refused - the decision record of a message refused at EOD */
void policy_eod_refused(struct session *s, const struct sl_verdict *v, const char *reply, size_t replylen);
void policy_free(struct session *s);
/* policy_log_stats - the filters' counters of a snapshot, one line each (reload, stop) */
void policy_log_stats(const struct config *cfg);

/* session_backend.c */
int backend_open(struct session *s, bool replay);
void backend_pump(struct session *s);
void backend_prelude(struct session *s);
void backend_close(struct session *s);
void backend_quit(struct session *s);
void backend_write(struct session *s, const char *p, size_t n);
void backend_cork(struct session *s);
void backend_uncork(struct session *s);
void backend_fail(struct session *s, const char *why, bool protocol);
bool backend_ensure(struct session *s);
void backend_send_line(struct session *s, struct inflight *fi, const char *line, size_t len);
void backend_log(struct session *s, int prio, const char *ev, const char *what, const char *detail);

/* session_prelude.c */
void prelude_ehlo_queue(struct session *s, struct inflight *pos);
void prelude_ehlo_reply(struct session *s, struct inflight *fi, const struct reply_parser *rp);

/* session_data.c */
struct logrec;
/* sess_record_tail - TLS, AUTH user and configuration hash, then emit the record */
void sess_record_tail(const struct session *s, struct logrec *r);
void data_begin(struct session *s);
void data_process(struct session *s);
void data_backend_lost(struct session *s);
void data_eod_reply(struct session *s, struct inflight *fi, const struct reply_parser *rp);
void data_free(struct session *s);
void data_eod_lost(struct session *s, struct inflight *fi);

#endif
