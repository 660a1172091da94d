/* proxy/log.c: operational log lines and the JSON decision log */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "util.h"

/* Every event name sluice logs (memcached default_entries[] style). */
static const char *const log_events[] = {
	"daemon.start",    /* listeners bound, workers running */
	"daemon.reload",   /* SIGHUP: a new configuration is in force */
	"daemon.reload_failed", /* SIGHUP: the new file had errors; old one kept */
	"daemon.drain",    /* SIGTERM: not accepting; waiting for sessions */
	"daemon.stop",
	"conn.open",       /* a client connected */
	"conn.refuse",     /* over a session limit: 421 and close */
	"conn.close",      /* session summary (Postfix "disconnect from") */
	"cmd.reject",      /* sluice answered a command with 4xx/5xx itself */
	"proto.error",     /* a client protocol error (counted) */
	"backend.error",   /* backend unreachable, dropped, timed out, garbage */
	"backend.xclient", /* XCLIENT outcome */
	"msg.accept",      /* the backend accepted a message (250) */
	"msg.reject",      /* a message refused (by sluice or the backend) */
	"msg.tempfail",    /* a message deferred with 4xx */
	"txn.abort",       /* a transaction ended without a message */
	"log.overflow",    /* a decision record too large to write */
	"policy.reject",   /* a filter refused a command (5xx) */
	"policy.tempfail", /* a filter deferred a command (4xx) */
	"policy.pass",     /* a filter let a client pass with evidence worth keeping */
	"policy.error",    /* a filter failed; the session went on without it */
	"filter.stats",    /* a filter's counters since its configuration was loaded */
	"tls.start",       /* a TLS handshake with a client completed */
	"tls.error",       /* a TLS handshake or session failed */
	"tls.injection",   /* plaintext after STARTTLS, thrown away (CVE-2011-0411) */
	"auth.ok",         /* the backend accepted a client's AUTH (235): user, mechanism */
	"auth.fail",       /* the backend refused a client's AUTH */
	"auth.sender_mismatch", /* an authenticated user's MAIL FROM is not one of theirs */
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;                   /* decision log; -1 = off */
static char *log_path;                    /* owned */
static int log_to = LOG_TO_STDERR;
static int log_level = LOG_INFO;

/* log_event_known - see log.h */
bool
log_event_known(const char *ev)
{
	for (size_t i = 0; i < nitems(log_events); i++)
		if (strcmp(log_events[i], ev) == 0)
			return true;
	return false;
}

/* log_open_file - open the decision log for appending */
static int
log_open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/* log_configure - see log.h */
int
log_configure(const struct config *c)
{
	int fd = -1, rc = 0;

	if (c->decision_log != NULL) {
		fd = log_open_file(c->decision_log);
		if (fd < 0) {
			rc = -errno;
			log_msg(LOG_ERR, "ev=daemon.error what=decision_log path=%s error=\"%s\"",
			    c->decision_log, strerror(errno));
		}
	}
	pthread_mutex_lock(&log_lock);
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	free(log_path);
	log_path = c->decision_log ? xstrdup(c->decision_log) : NULL;
	if (c->log_to == LOG_TO_SYSLOG && log_to != LOG_TO_SYSLOG)
		openlog("sluice", LOG_PID | LOG_NDELAY, LOG_MAIL);
	log_to = c->log_to;
	log_level = c->log_level;
	pthread_mutex_unlock(&log_lock);
	return rc;
}

/* log_reopen - after logrotate moved the file away */
void
log_reopen(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_path != NULL) {
		int fd = log_open_file(log_path);

		if (fd >= 0) {
			if (log_fd >= 0)
				close(log_fd);
			log_fd = fd;
		}
	}
	pthread_mutex_unlock(&log_lock);
}

/* log_close - at exit */
void
log_close(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
	free(log_path);
	log_path = NULL;
	pthread_mutex_unlock(&log_lock);
}

/* log_enabled - would a line at prio be written */
bool
log_enabled(int prio)
{
	return prio <= log_level;
}

/* log_line - write one finished operational line */
static void
log_line(int prio, const char *line)
{
	if (!log_enabled(prio))
		return;
	if (log_to == LOG_TO_SYSLOG) {
		syslog(prio, "%s", line);
	} else {
		char buf[2304];
		int n = snprintf(buf, sizeof(buf), "sluice[%ld]: %s\n", (long)getpid(), line);

		if (n > (int)sizeof(buf) - 1) {
			n = (int)sizeof(buf) - 1;
			buf[n - 1] = '\n';
		}
		(void)!write(STDERR_FILENO, buf, (size_t)n);
	}
}

/* log_msg - see log.h */
void
log_msg(int prio, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	if (!log_enabled(prio))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_line(prio, line);
}

/* jput - append raw bytes to the JSON buffer (truncation-safe) */
static void
jput(struct logrec *r, const char *s, size_t n)
{
	if (!r->json_on)
		return;
	if (r->jlen + n >= sizeof(r->json) - 4) {
		/* a record that does not fit is dropped whole, never cut into bad JSON */
		r->json_on = false;
		log_line(LOG_WARNING, "ev=log.overflow what=decision_record");
		return;
	}
	memcpy(r->json + r->jlen, s, n);
	r->jlen += n;
}

/* kput - append raw bytes to the key=value line (truncated, never dropped) */
static void
kput(struct logrec *r, const char *s, size_t n)
{
	if (r->klen + n >= sizeof(r->kv) - 1)
		n = sizeof(r->kv) - 1 - r->klen;
	memcpy(r->kv + r->klen, s, n);
	r->klen += n;
}

/* jstr - a JSON string literal with escapes; bytes >= 0x80 kept if valid-ish */
static void
jstr(struct logrec *r, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	jput(r, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			jput(r, esc, 2);
		} else if (c < 0x20 || c == 0x7f || c >= 0x80) {
			/* control and non-ASCII bytes: \u00XX keeps the line valid JSON */
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			jput(r, esc, 6);
		} else {
			jput(r, (const char *)&c, 1);
		}
	}
	jput(r, "\"", 1);
}

/* kstr - a key=value value: bare when safe, else quoted with \xNN escapes */
static void
kstr(struct logrec *r, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	bool plain = n > 0;

	for (size_t i = 0; i < n && plain; i++) {
		unsigned char c = (unsigned char)s[i];

		plain = c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=';
	}
	if (plain) {
		kput(r, s, n);
		return;
	}
	kput(r, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[4];

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[c >> 4];
			esc[3] = hex[c & 15];
			kput(r, esc, 4);
		} else {
			kput(r, (const char *)&c, 1);
		}
	}
	kput(r, "\"", 1);
}

/* jkey - ,"key": (key NULL: an array element, just the comma) */
static void
jkey(struct logrec *r, const char *key)
{
	if (!r->jfirst)
		jput(r, ",", 1);
	r->jfirst = false;
	if (key == NULL)
		return;
	jstr(r, key, strlen(key));
	jput(r, ":", 1);
}

/* kkey - " key=" */
static void
kkey(struct logrec *r, const char *key)
{
	kput(r, " ", 1);
	kput(r, key, strlen(key));
	kput(r, "=", 1);
}

/* logrec_begin - see log.h */
void
logrec_begin(struct logrec *r, int prio, const char *ev, const char *sid, bool decision)
{
	char ts[40];

	r->prio = prio;
	r->jlen = r->klen = 0;
	r->jfirst = false;
	r->kv_on = log_enabled(prio);
	r->json_on = decision && log_fd >= 0;
	if (!r->kv_on && !r->json_on)
		return;
	if (r->json_on) {
		fmt_rfc3339_ms(ts, sizeof(ts), clock_wall_ms());
		jput(r, "{\"ts\":", 6);
		jstr(r, ts, strlen(ts));
		jkey(r, "event");
		jstr(r, ev, strlen(ev));
		if (sid != NULL) {
			jkey(r, "sid");
			jstr(r, sid, strlen(sid));
		}
	}
	if (sid != NULL) {
		kput(r, "sid=", 4);
		kput(r, sid, strlen(sid));
		kput(r, " ", 1);
	}
	kput(r, "ev=", 3);
	kput(r, ev, strlen(ev));
}

/* logrec_strn - a string field of n bytes */
void
logrec_strn(struct logrec *r, const char *key, const char *val, size_t n)
{
	if (!r->json_on && !r->kv_on)
		return;
	logrec_json_str(r, key, val, n);
	if (r->kv_on && val != NULL) {
		kkey(r, key);
		kstr(r, val, n);
	}
}

/* logrec_str - a NUL-terminated string field; NULL is JSON null */
void
logrec_str(struct logrec *r, const char *key, const char *val)
{
	logrec_strn(r, key, val, val ? strlen(val) : 0);
}

/* logrec_json_str - JSON only (long values that would swamp syslog) */
void
logrec_json_str(struct logrec *r, const char *key, const char *val, size_t n)
{
	if (r->json_on) {
		jkey(r, key);
		if (val == NULL)
			jput(r, "null", 4);
		else
			jstr(r, val, n);
	}
}

/* logrec_json_int - an integer in the JSON record only */
void
logrec_json_int(struct logrec *r, const char *key, long long v)
{
	char num[32];
	int n;

	if (!r->json_on)
		return;
	n = snprintf(num, sizeof(num), "%lld", v);
	jkey(r, key);
	jput(r, num, (size_t)n);
}

/* logrec_json_open - see log.h */
void
logrec_json_open(struct logrec *r, const char *key, bool array)
{
	if (!r->json_on)
		return;
	jkey(r, key);
	jput(r, array ? "[" : "{", 1);
	r->jfirst = true;
}

/* logrec_json_close - see log.h */
void
logrec_json_close(struct logrec *r, bool array)
{
	if (!r->json_on)
		return;
	jput(r, array ? "]" : "}", 1);
	r->jfirst = false;
}

/* logrec_int - an integer field */
void
logrec_int(struct logrec *r, const char *key, long long v)
{
	char num[32];
	int n;

	if (!r->json_on && !r->kv_on)
		return;
	n = snprintf(num, sizeof(num), "%lld", v);
	if (r->json_on) {
		jkey(r, key);
		jput(r, num, (size_t)n);
	}
	if (r->kv_on) {
		kkey(r, key);
		kput(r, num, (size_t)n);
	}
}

/* logrec_bool - a boolean field */
void
logrec_bool(struct logrec *r, const char *key, bool v)
{
	if (r->json_on) {
		jkey(r, key);
		jput(r, v ? "true" : "false", v ? 4 : 5);
	}
	if (r->kv_on) {
		kkey(r, key);
		kput(r, v ? "yes" : "no", v ? 3 : 2);
	}
}

/* logrec_strv - see log.h */
void
logrec_strv(struct logrec *r, const char *key, char *const *v, size_t n)
{
	if (!r->json_on && !r->kv_on)
		return;
	if (r->json_on) {
		size_t shown = 0;

		jkey(r, key);
		jput(r, "[", 1);
		for (; shown < n; shown++) {
			size_t len = strlen(v[shown]);

			/* worst case 6 bytes per byte escaped; keep half the record free */
			if (r->jlen + 6 * len + 8 > sizeof(r->json) / 2)
				break;
			if (shown > 0)
				jput(r, ",", 1);
			jstr(r, v[shown], len);
		}
		jput(r, "]", 1);
		if (shown < n) {
			jkey(r, "truncated");
			jstr(r, key, strlen(key));
		}
	}
	if (r->kv_on) {
		kkey(r, key);
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				kput(r, ",", 1);
			kstr(r, v[i], strlen(v[i]));
		}
	}
}

/* logrec_emit - write the line and the record */
void
logrec_emit(struct logrec *r)
{
	if (r->kv_on) {
		r->kv[r->klen] = '\0';
		log_line(r->prio, r->kv);
	}
	if (r->json_on) {
		r->json[r->jlen++] = '}';
		r->json[r->jlen++] = '\n';
		pthread_mutex_lock(&log_lock);
		if (log_fd >= 0)
			(void)!write(log_fd, r->json, r->jlen);
		pthread_mutex_unlock(&log_lock);
	}
}
