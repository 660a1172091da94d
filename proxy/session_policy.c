/* proxy/session_policy.c: the filter chain in a session: gates, verdicts, decision records */
#include <dirent.h>
#include <netdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "chain.h"
#include "config.h"
#include "log.h"
#include "mailhdr.h"
#include "sasl.h"
#include "session.h"
#include "tls.h"
#include "worker.h"

/*
 * A command the filters hook (HELO, MAIL, RCPT, DATA) passes a gate before
 * it is acted on. When a filter must wait (a DNS list), the command line is
 * held and the client is not read until the verdict; then the command goes
 * on exactly as if it had just arrived, or sluice answers it with the
 * refusal, the reference id in the text and a decision record in the log.
 * A refused command never reaches the backend.
 */

/*
 * Evidence mode (a refusal at the DATA stage): sluice answers DATA with 354
 * itself, the backend never sees the message (its connection is dropped
 * without a dot), the header block is kept up to evidence_max bytes, and
 * the refusal is given at the end of data, with the Message-ID, Date, From
 * and Subject in the decision record and the headers in evidence_dir.
 */
struct evidence {
	struct sl_verdict v;     /* text, ref, filter, why point into this struct */
	char text[512], ref[32], filter[32], why[32];
	char *hdr;               /* owned: the header block as received (capped) */
	size_t hlen, hcap;
	bool hdr_done;           /* the empty line was seen, or the cap reached */
};

struct policy {
	struct sl_sess view;     /* what the filters see */
	struct facts facts;
	struct chain *chain;     /* owned */
	char *held;              /* owned: the command waiting for a verdict */
	size_t heldlen;
	char *held_arg;          /* owned: its subject (HELO name, address) */
	bool waiting;            /* a gate is closed */
	bool in_gate;            /* policy_gate() is on the stack */
	bool sync_done;          /* ... and the chain already answered */
	bool pass_once;          /* the held command is being replayed */
	bool refused;            /* refused at connect: only QUIT is served */
	bool early_sent;         /* "220-" went out (pregreet multiline) */
	char refusal[512];       /* after an early line: the reply every command gets */
	bool wait_fifo;          /* DATA held until the replies before it are in */
	/* headers the rules add: for the session, and for the transaction */
	char hdr_sess[2048], hdr_txn[2048];
	size_t hdr_sess_len, hdr_txn_len;
	struct evidence *ev;     /* owned: while a message is taken as evidence */
	char local_ip[INET6_ADDRSTRLEN];
	struct sl_verdict sync_v;
};

static const enum cmd_verb stage_verb[SL_STAGE_COUNT] = {
	[SL_STAGE_CONNECT] = CMD_UNKNOWN, [SL_STAGE_HELO] = CMD_HELO, [SL_STAGE_MAIL] = CMD_MAIL,
	[SL_STAGE_RCPT] = CMD_RCPT, [SL_STAGE_DATA] = CMD_DATA, [SL_STAGE_EOD] = CMD_DATA,
};

/* ---- the decision record ---- */

/* rep_* - struct sl_report on a logrec */
static void
rep_open(void *ctx, const char *key, bool array)
{
	logrec_json_open(ctx, key, array);
}

static void
rep_close(void *ctx, bool array)
{
	logrec_json_close(ctx, array);
}

static void
rep_str(void *ctx, const char *key, const char *val)
{
	logrec_json_str(ctx, key, val, val ? strlen(val) : 0);
}

static void
rep_num(void *ctx, const char *key, long long v)
{
	logrec_json_int(ctx, key, v);
}

/* stat_* - struct sl_report as one key=value line per item (filter.stats) */
static void
stat_open(void *ctx, const char *key, bool array)
{
	(void)key;
	(void)array;
	logrec_begin(ctx, LOG_INFO, "filter.stats", NULL, false);
}

static void
stat_close(void *ctx, bool array)
{
	(void)array;
	logrec_emit(ctx);
}

static void
stat_str(void *ctx, const char *key, const char *val)
{
	logrec_str(ctx, key, val);
}

static void
stat_num(void *ctx, const char *key, long long v)
{
	logrec_int(ctx, key, v);
}

/* policy_log_stats - see session.h */
void
policy_log_stats(const struct config *cfg)
{
	struct logrec r;
	struct sl_report w = { &r, stat_open, stat_close, stat_str, stat_num };

	if (log_enabled(LOG_INFO))
		chain_conf_stats(cfg->filters, &w);
}

/* policy_record - one decision record: who, what, which evidence, which reply */
static void
policy_record(struct session *s, enum sl_stage st, const struct sl_verdict *v, const char *reply, size_t replylen,
    const char *evidence_path)
{
	static const char *const actions[SL_ACT_COUNT] = { "pass", "tempfail", "reject", "disconnect" };
	const char *event = v->action == SL_ACT_CONTINUE ? "policy.pass" : v->action == SL_ACT_TEMPFAIL ? "policy.tempfail"
	    : "policy.reject";
	const struct fact *ptr = fact_get(&s->pol->facts, "rdns.name");
	struct sl_report w = { NULL, rep_open, rep_close, rep_str, rep_num };
	struct logrec r;

	while (replylen > 0 && (reply[replylen - 1] == '\n' || reply[replylen - 1] == '\r'))
		replylen--;
	logrec_begin(&r, v->action == SL_ACT_CONTINUE ? LOG_INFO : LOG_NOTICE, event, s->sid, true);
	logrec_str(&r, "ref", v->ref);
	logrec_str(&r, "client", s->client_ip);
	logrec_int(&r, "port", s->client_port);
	logrec_str(&r, "ptr", ptr ? ptr->s : NULL);
	logrec_str(&r, "helo", st == SL_STAGE_HELO ? s->pol->view.helo : s->helo);
	logrec_str(&r, "from", st == SL_STAGE_MAIL ? s->pol->view.mail_from : s->mail_from);
	logrec_strv(&r, "rcpts", s->rcpts, MIN(s->nrcpt, SESS_MAX_RCPT_LOG));
	if (st == SL_STAGE_RCPT)
		logrec_str(&r, "rcpt", s->pol->view.rcpt);
	if (s->data != NULL && s->data->msgidlen > 0)
		logrec_str(&r, "msgid", s->data->msgid);
	else
		logrec_json_str(&r, "msgid", NULL, 0);
	if (s->pol->ev != NULL && s->data != NULL) {
		const struct evidence *ev = s->pol->ev;
		static const char *const fields[] = { "Date", "From", "Subject" };
		char val[256];

		logrec_int(&r, "size", (long long)s->data->size);
		logrec_json_open(&r, "headers", false);
		for (size_t i = 0; i < nitems(fields); i++) {
			bool have = mailhdr_get(ev->hdr ? ev->hdr : "", ev->hlen, fields[i], val, sizeof(val));
			char key[16];
			size_t k;

			for (k = 0; fields[i][k] != '\0'; k++)
				key[k] = (char)(fields[i][k] | 0x20);
			key[k] = '\0';
			logrec_json_str(&r, key, have ? val : NULL, strlen(val));
		}
		logrec_json_close(&r, false);
		logrec_str(&r, "evidence", evidence_path);
	}
	logrec_str(&r, "filter", v->filter);
	logrec_str(&r, "stage", chain_stage_name(st));
	logrec_str(&r, "action", actions[v->action]);
	logrec_str(&r, "why", v->why);
	if (reply != NULL)
		logrec_strn(&r, "reply", reply, MIN(replylen, 1024));
	else
		logrec_json_str(&r, "reply", NULL, 0);
	if (v->report != NULL && v->filter != NULL) {
		w.ctx = &r;
		logrec_json_open(&r, v->filter, false);
		v->report(v->report_ctx, &w);
		logrec_json_close(&r, false);
	}
	sess_record_tail(s, &r);
}

/* view_record - sl_sess.record: a CONTINUE verdict worth keeping */
static void
view_record(struct sl_sess *ss, enum sl_stage st, const struct sl_verdict *v)
{
	policy_record(ss->host, st, v, NULL, 0, NULL);
}

/* ---- applying verdicts ---- */

/* copy_str - bounded copy for the evidence's own strings */
static const char *
copy_str(char *dst, size_t sz, const char *src)
{
	if (src == NULL)
		return NULL;
	snprintf(dst, sz, "%s", src);
	return dst;
}

/* evidence_begin - DATA refused: take the message as evidence, refuse at its end */
static void
evidence_begin(struct session *s, const struct sl_verdict *v)
{
	struct evidence *ev = calloc(1, sizeof(*ev));

	if (ev == NULL) {
		sess_close(s, "out of memory");
		return;
	}
	ev->v = *v;
	ev->v.text = copy_str(ev->text, sizeof(ev->text), v->text);
	ev->v.ref = copy_str(ev->ref, sizeof(ev->ref), v->ref);
	ev->v.filter = copy_str(ev->filter, sizeof(ev->filter), v->filter);
	ev->v.why = copy_str(ev->why, sizeof(ev->why), v->why);
	s->pol->ev = ev;
	/* the backend never gets the message: drop its transaction now */
	backend_close(s);
	if (fifo_local(s, CMD_DATA, "354 End data with <CR><LF>.<CR><LF>") == NULL)
		return;
	data_begin(s);
	s->data_fail = DF_POLICY;
}

/* refuse - answer the gated command with the verdict's reply */
static void
refuse(struct session *s, enum sl_stage st, const struct sl_verdict *v)
{
	int code = v->code ? v->code : v->action == SL_ACT_TEMPFAIL ? 451 : 554;
	const char *enh = v->enh ? v->enh : code >= 500 ? "5.7.1" : "4.7.1";
	struct inflight *fi;

	if (st == SL_STAGE_CONNECT && code < 500)
		code = 421; /* a deferred greeting is a closing one (RFC 5321 3.8) */
	if (st == SL_STAGE_DATA && v->action != SL_ACT_DISCONNECT) {
		evidence_begin(s, v);
		return;
	}
	fi = fifo_local(s, stage_verb[st], "%d %s %s", code, enh, v->text ? v->text : "Access denied");
	if (fi == NULL)
		return;
	policy_record(s, st, v, fi->reply, fi->replylen, NULL);
	if (v->action == SL_ACT_DISCONNECT || code == 421) {
		fi->close_after = true;
		s->close_reason = "policy";
		sess_enter(s, ST_CLOSING);
	}
}

/* connect_done - the connect stage voted: greet through the backend, or refuse */
static void
connect_done(void *arg, enum sl_stage st, const struct sl_verdict *v)
{
	struct session *s = arg;

	if (s->flags & SESS_F_CLOSING)
		return;
	if (v->action == SL_ACT_CONTINUE) {
		backend_open(s, false); /* on failure it queued a 421 */
		fifo_flush(s);
		return;
	}
	if (s->pol->early_sent && s->state == ST_CONNECT) {
		/*
		 * "220-" is out: a refusal cannot be the greeting any more. Finish
		 * it, and give the refusal to every command but QUIT (postscreen).
		 */
		struct inflight *fi = fifo_local(s, CMD_UNKNOWN, "220 %s %s", s->cfg->hostname, s->cfg->banner);
		int code = v->code ? v->code : v->action == SL_ACT_TEMPFAIL ? 421 : 554;

		if (fi == NULL)
			return;
		snprintf(s->pol->refusal, sizeof(s->pol->refusal), "%d %s %s", code,
		    v->enh ? v->enh : code >= 500 ? "5.7.1" : "4.7.1", v->text ? v->text : "Access denied");
		policy_record(s, st, v, s->pol->refusal, strlen(s->pol->refusal), NULL);
		s->pol->refused = true;
		sess_enter(s, ST_GREETED);
		fifo_flush(s);
		sess_client_resume(s);
		return;
	}
	/* RFC 5321 3.1: 554 instead of 220, then 503 to all but QUIT */
	refuse(s, st, v);
	if (s->state == ST_CONNECT) {
		s->pol->refused = true;
		sess_enter(s, ST_GREETED);
	}
	fifo_flush(s);
	sess_client_resume(s);
}

/* gate_done - a gate's verdict */
static void
gate_done(void *arg, enum sl_stage st, const struct sl_verdict *v)
{
	struct session *s = arg;
	struct policy *p = s->pol;

	if (p->in_gate) {
		p->sync_done = true;
		p->sync_v = *v;
		return;
	}
	p->waiting = false;
	if (!(s->flags & SESS_F_CLOSING)) {
		if (v->action == SL_ACT_CONTINUE) {
			p->pass_once = true;
			sess_replay(s, p->held, p->heldlen);
			p->pass_once = false;
		} else {
			refuse(s, st, v);
		}
	}
	FREE_AND_NULL(free, p->held);
	FREE_AND_NULL(free, p->held_arg);
	if (s->flags & SESS_F_CLOSING)
		return;
	fifo_flush(s);
	sess_client_resume(s);
}

/* ---- the session's side ---- */

/* policy_sync - bring the filters' view up to date */
static void
policy_sync(struct session *s)
{
	struct sl_sess *ss = &s->pol->view;

	ss->helo = s->helo;
	ss->authenticated = s->auth_user != NULL;
	ss->tls_version = s->tlsi != NULL ? s->tlsi->version : NULL;
	ss->mail_from = (s->state == ST_MAIL || s->state == ST_RCPT) ? s->mail_from : NULL;
	ss->rcpt = NULL;
}

/* view_add_header - sl_sess.add_header: bounded, one line each */
static int
view_add_header(struct sl_sess *ss, enum sl_stage st, const char *h)
{
	struct session *s = ss->host;
	struct policy *p = s->pol;
	bool sess = st == SL_STAGE_CONNECT || st == SL_STAGE_HELO;
	char *buf = sess ? p->hdr_sess : p->hdr_txn;
	size_t *len = sess ? &p->hdr_sess_len : &p->hdr_txn_len, n = strlen(h);

	if (strpbrk(h, "\r\n") != NULL || *len + n + 2 > sizeof(p->hdr_sess))
		return -1;
	for (const char *q = buf; q < buf + *len; q = (const char *)memchr(q, '\n', (size_t)(buf + *len - q)) + 1)
		if ((size_t)(buf + *len - q) >= n + 2 && memcmp(q, h, n) == 0 && q[n] == '\r')
			return 0; /* once per message, however many RCPTs asked */
	memcpy(buf + *len, h, n);
	memcpy(buf + *len + n, "\r\n", 2);
	*len += n + 2;
	return 0;
}

/* policy_headers - see session.h */
void
policy_headers(struct session *s)
{
	if (s->pol == NULL)
		return;
	if (s->pol->hdr_sess_len > 0)
		backend_write(s, s->pol->hdr_sess, s->pol->hdr_sess_len);
	if (s->pol->hdr_txn_len > 0)
		backend_write(s, s->pol->hdr_txn, s->pol->hdr_txn_len);
}

/* policy_txn_reset - see session.h */
void
policy_txn_reset(struct session *s)
{
	if (s->pol != NULL) {
		s->pol->hdr_txn_len = 0;
		s->pol->view.mail_from = NULL; /* the session's copy is about to be freed */
	}
}

/* view_greet_early - sl_sess.greet_early: "220-hostname ESMTP" now */
static void
view_greet_early(struct sl_sess *ss)
{
	struct session *s = ss->host;
	char line[300];
	int n = snprintf(line, sizeof(line), "220-%s %s\r\n", s->cfg->hostname, s->cfg->banner);

	if (s->state != ST_CONNECT || s->pol->early_sent || n <= 0 || (size_t)n >= sizeof(line))
		return;
	s->pol->early_sent = true;
	sess_send(s, line, (size_t)n);
}

/* view_client_bytes - sl_sess.client_bytes */
static size_t
view_client_bytes(struct sl_sess *ss)
{
	struct session *s = ss->host;

	return s->cbev != NULL ? evbuffer_get_length(bufferevent_get_input(s->cbev)) : 0;
}

/* policy_fact - see session.h */
void
policy_fact(struct session *s, const char *key, bool v)
{
	if (s->pol != NULL)
		fact_set_bool(&s->pol->facts, key, v);
}

/* policy_refusal - see session.h */
const char *
policy_refusal(const struct session *s)
{
	return s->pol != NULL && s->pol->refusal[0] ? s->pol->refusal : NULL;
}

/* policy_client_name - see session.h */
const char *
policy_client_name(const struct session *s)
{
	const struct fact *ok, *name;

	if (s->pol == NULL || (ok = fact_get(&s->pol->facts, "rdns.fcrdns")) == NULL || !ok->i ||
	    (name = fact_get(&s->pol->facts, "rdns.name")) == NULL || name->s[0] == '\0')
		return NULL;
	return name->s;
}

/* policy_authenticated - see session.h */
void
policy_authenticated(struct session *s)
{
	if (s->pol == NULL)
		return;
	s->pol->view.authenticated = true;
	fact_set_str(&s->pol->facts, "auth.user", s->auth_user);
	fact_set_str(&s->pol->facts, "auth.mechanism", sasl_mech_name((enum sasl_mech)s->auth_mech_done));
}

/* policy_start - see session.h */
bool
policy_start(struct session *s)
{
	struct policy *p;

	if (chain_conf_count(s->cfg->filters) == 0)
		return false;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return false; /* no memory for filters: the session runs unfiltered */
	s->pol = p;
	p->view.sid = s->sid;
	p->view.client_sa = (const struct sockaddr *)&s->client_sa;
	p->view.client_ip = s->client_ip;
	p->view.client_port = s->client_port;
	p->view.t_connect_ms = s->t_start;
	p->view.facts = &p->facts;
	p->view.base = s->w->base;
	p->view.dns = worker_dns(s->w, s->cfg);
	p->view.record = view_record;
	p->view.add_header = view_add_header;
	p->view.our_hostname = s->cfg->hostname;
	p->view.dns_servers = s->cfg->dns_servers;
	p->view.greet_early = view_greet_early;
	p->view.client_bytes = view_client_bytes;
	{
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = s->cbev ? bufferevent_getfd(s->cbev) : -1;

		if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
		    getnameinfo((struct sockaddr *)&ss, len, p->local_ip, sizeof(p->local_ip), NULL, 0, NI_NUMERICHOST) == 0)
			p->view.local_ip = p->local_ip;
	}
	p->view.host = s;
	p->chain = chain_new(s->cfg->filters, &p->view);
	if (p->chain == NULL) {
		free(p);
		s->pol = NULL;
		return false;
	}
	policy_sync(s);
	chain_run(p->chain, SL_STAGE_CONNECT, connect_done, s);
	return true;
}

/* hold_line - keep a command until it may go on; the client is not read meanwhile (false) */
static bool
hold_line(struct session *s, const char *line, size_t len)
{
	struct policy *p = s->pol;

	p->held = malloc(len);
	if (p->held == NULL) {
		sess_close(s, "out of memory");
		return false;
	}
	memcpy(p->held, line, len);
	p->heldlen = len;
	p->waiting = true;
	return false;
}

/* policy_gate - see session.h */
bool
policy_gate(struct session *s, enum sl_stage st, const char *line, size_t len, const char *arg)
{
	struct policy *p = s->pol;

	if (p == NULL || !chain_hooks(p->chain, st))
		return true;
	if (p->pass_once) {
		p->pass_once = false;
		return true;
	}
	if (st == SL_STAGE_DATA && s->nfifo > 0) {
		/* evidence mode answers DATA itself: first learn which RCPTs the backend took */
		p->wait_fifo = true;
		return hold_line(s, line, len);
	}
	policy_sync(s);
	free(p->held_arg);
	p->held_arg = arg ? strdup(arg) : NULL;
	if (st == SL_STAGE_HELO)
		p->view.helo = p->held_arg;
	else if (st == SL_STAGE_MAIL)
		p->view.mail_from = p->held_arg;
	else if (st == SL_STAGE_RCPT)
		p->view.rcpt = p->held_arg;
	p->in_gate = true;
	p->sync_done = false;
	chain_run(p->chain, st, gate_done, s);
	p->in_gate = false;
	if (p->sync_done) {
		if (p->sync_v.action == SL_ACT_CONTINUE)
			return true;
		refuse(s, st, &p->sync_v);
		return false;
	}
	/* the verdict comes later: hold the line, stop reading the client */
	return hold_line(s, line, len);
}

/* policy_fifo_drained - see session.h */
bool
policy_fifo_drained(struct session *s)
{
	struct policy *p = s->pol;
	char *line;

	if (p == NULL || !p->wait_fifo || s->nfifo > 0)
		return false;
	p->wait_fifo = p->waiting = false;
	line = p->held;
	p->held = NULL;
	sess_replay(s, line, p->heldlen); /* DATA again: its gate opens now */
	free(line);
	if (!(s->flags & SESS_F_CLOSING))
		fifo_flush(s);
	return true;
}

/* evidence_feed - see session.h: the header block, up to evidence_max bytes */
void
policy_evidence_feed(struct session *s, const char *p, size_t n)
{
	struct evidence *ev = s->pol ? s->pol->ev : NULL;
	size_t room, from;

	if (ev == NULL || ev->hdr_done)
		return;
	if (ev->hdr == NULL) {
		ev->hcap = s->cfg->evidence_max;
		if ((ev->hdr = malloc(ev->hcap)) == NULL) {
			ev->hdr_done = true;
			return;
		}
	}
	room = ev->hcap - ev->hlen;
	from = ev->hlen > 3 ? ev->hlen - 3 : 0;
	memcpy(ev->hdr + ev->hlen, p, MIN(n, room));
	ev->hlen += MIN(n, room);
	/* keep the header block and its empty line, not the body */
	for (size_t i = from; i + 1 < ev->hlen; i++) {
		if (ev->hdr[i] == '\n' && (ev->hdr[i + 1] == '\n' ||
		    (i + 2 < ev->hlen && ev->hdr[i + 1] == '\r' && ev->hdr[i + 2] == '\n'))) {
			ev->hlen = i + (ev->hdr[i + 1] == '\n' ? 2 : 3);
			ev->hdr_done = true;
			return;
		}
	}
	if (ev->hlen == ev->hcap)
		ev->hdr_done = true;
}

/* evidence_prune - drop evidence files past their retention (once a minute at most) */
static void
evidence_prune(const struct config *cfg)
{
	static atomic_llong last;
	long long now = (long long)time(NULL), prev = atomic_load(&last);
	DIR *d;
	struct dirent *de;

	if (now - prev < 60 || !atomic_compare_exchange_strong(&last, &prev, now))
		return;
	d = opendir(cfg->evidence_dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		struct stat st;

		if (n < 5 || strcmp(de->d_name + n - 4, ".eml") != 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    (uint64_t)(now - st.st_mtime) > cfg->evidence_keep)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

/* evidence_write - the header block into evidence_dir/REF.eml; the path, or NULL */
static const char *
evidence_write(struct session *s, char *path, size_t pathsz)
{
	const struct evidence *ev = s->pol->ev;
	int fd;
	bool ok;

	if (s->cfg->evidence_dir == NULL || ev->v.ref == NULL)
		return NULL;
	evidence_prune(s->cfg);
	snprintf(path, pathsz, "%s/%s.eml", s->cfg->evidence_dir, ev->v.ref);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		log_msg(LOG_ERR, "sid=%s ev=daemon.error what=evidence path=%s error=\"%s\"", s->sid, path, strerror(errno));
		return NULL;
	}
	ok = ev->hlen == 0 || write(fd, ev->hdr, ev->hlen) == (ssize_t)ev->hlen;
	if (close(fd) != 0 || !ok) {
		log_msg(LOG_ERR, "sid=%s ev=daemon.error what=evidence path=%s error=write", s->sid, path);
		return NULL;
	}
	return path;
}

/* policy_evidence_end - see session.h: the refusal, at the end of data */
void
policy_evidence_end(struct session *s)
{
	struct evidence *ev = s->pol->ev;
	const struct sl_verdict *v = &ev->v;
	int code = v->code ? v->code : v->action == SL_ACT_TEMPFAIL ? 451 : 554;
	const char *enh = v->enh ? v->enh : code >= 500 ? "5.7.1" : "4.7.1";
	char path[4096];
	const char *written;
	struct inflight *fi;

	fi = fifo_local(s, CMD_DATA, "%d %s %s", code, enh, v->text ? v->text : "Message refused");
	if (fi != NULL) {
		written = evidence_write(s, path, sizeof(path));
		policy_record(s, SL_STAGE_DATA, v, fi->reply, fi->replylen, written);
	}
	free(ev->hdr);
	FREE_AND_NULL(free, s->pol->ev);
}

/* policy_eod - see session.h */
void
policy_eod(struct session *s, chain_done_fn done)
{
	struct policy *p = s->pol;

	if (p == NULL) {
		struct sl_verdict v = { .action = SL_ACT_CONTINUE };

		done(s, SL_STAGE_EOD, &v);
		return;
	}
	policy_sync(s);
	p->view.mail_from = s->mail_from; /* still the transaction's: the message is complete */
	chain_run(p->chain, SL_STAGE_EOD, done, s);
}

/* policy_eod_refused - see session.h */
void
policy_eod_refused(struct session *s, const struct sl_verdict *v, const char *reply, size_t replylen)
{
	policy_record(s, SL_STAGE_EOD, v, reply, replylen, NULL);
}

/* policy_waiting - see session.h */
bool
policy_waiting(const struct session *s)
{
	return s->pol != NULL && (s->pol->waiting || chain_busy(s->pol->chain));
}

/* policy_refused - see session.h */
bool
policy_refused(const struct session *s)
{
	return s->pol != NULL && s->pol->refused;
}

/* policy_free - see session.h */
void
policy_free(struct session *s)
{
	if (s->pol == NULL)
		return;
	chain_free_(s->pol->chain);
	if (s->pol->ev != NULL)
		free(s->pol->ev->hdr);
	free(s->pol->ev);
	free(s->pol->held);
	free(s->pol->held_arg);
	FREE_AND_NULL(free, s->pol);
}
