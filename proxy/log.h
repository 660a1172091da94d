/* proxy/log.h: operational log lines and the JSON decision log */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

struct config;

/*
 * Two outputs:
 *  - operational lines, key=value, beginning with the session id when there
 *    is one (OpenSMTPD style), to stderr or syslog facility mail;
 *  - decision records, one JSON object per line, appended to the decision
 *    log file (O_APPEND, one write() per record, safe across threads).
 * Both are built through struct logrec, which escapes every value.
 */

/* log_configure - apply a snapshot's log settings; reopens the decision log */
int log_configure(const struct config *c);
/* log_reopen - reopen the decision log (SIGHUP, after logrotate) */
void log_reopen(void);
void log_close(void);
bool log_enabled(int prio);

/* log_msg - one operational line (printf format, no session) */
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOGREC_MAX 16384

struct logrec {
	int prio;
	bool json_on;      /* a decision record is being built */
	bool kv_on;        /* an operational line is being built */
	bool jfirst;       /* next JSON member opens an object/array: no comma */
	size_t jlen, klen;
	char json[LOGREC_MAX];
	char kv[2048];
};

/*
 * logrec_begin - start a record for event ev (a name from log.c's table).
 * sid may be NULL. decision: also write the JSON record.
 */
void logrec_begin(struct logrec *r, int prio, const char *ev, const char *sid, bool decision);
void logrec_str(struct logrec *r, const char *key, const char *val);
void logrec_strn(struct logrec *r, const char *key, const char *val, size_t n);
void logrec_int(struct logrec *r, const char *key, long long v);
void logrec_bool(struct logrec *r, const char *key, bool v);
/* logrec_strv - an array of strings (JSON array, comma-joined in key=value) */
void logrec_strv(struct logrec *r, const char *key, char *const *v, size_t n);
/* logrec_json_str - add a field to the JSON record only */
void logrec_json_str(struct logrec *r, const char *key, const char *val, size_t n);
void logrec_json_int(struct logrec *r, const char *key, long long v);
/*
 * logrec_json_open/close - a nested object or array (JSON record only).
 * Inside an array, key is NULL for each element (and for logrec_json_str).
 */
void logrec_json_open(struct logrec *r, const char *key, bool array);
void logrec_json_close(struct logrec *r, bool array);
void logrec_emit(struct logrec *r);

/* log_event_known - is ev in the table of event names (tests, docs) */
bool log_event_known(const char *ev);

#endif
