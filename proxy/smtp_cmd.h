/* proxy/smtp_cmd.h: SMTP command line parser (RFC 5321 4.1), pure */
#ifndef SLUICE_SMTP_CMD_H
#define SLUICE_SMTP_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum cmd_verb {
	CMD_UNKNOWN = 0,
	CMD_HELO,
	CMD_EHLO,
	CMD_MAIL,
	CMD_RCPT,
	CMD_DATA,
	CMD_BDAT,
	CMD_RSET,
	CMD_NOOP,
	CMD_QUIT,
	CMD_VRFY,
	CMD_EXPN,
	CMD_HELP,
	CMD_STARTTLS,
	CMD_AUTH,
	CMD_ETRN,
	CMD_XCLIENT,
	CMD_XFORWARD,
	CMD_NONSMTP, /* GET, POST, CONNECT ...: a web client or proxy abuse */
	CMD_VERB_COUNT
};

enum cmd_body { BODY_NONE = 0, BODY_7BIT, BODY_8BITMIME, BODY_BINARYMIME, BODY_COUNT };

#define CMD_PATH_MAX  256 /* RFC 5321 4.5.3.1.3 */
#define CMD_PARAM_MAX 16  /* ESMTP parameters per command */

/* A parsed command. Pointers borrow from the line given to cmd_parse(). */
struct smtp_cmd {
	enum cmd_verb verb;
	const char *verbtxt; /* as sent */
	size_t verblen;
	const char *arg;     /* after the verb and one space; CRLF excluded */
	size_t arglen;
	/* MAIL / RCPT */
	const char *path;    /* inside the angle brackets; "" for <> */
	size_t pathlen;
	const char *params;  /* ESMTP parameters after the path */
	size_t paramslen;
	bool has_size;
	uint64_t size;       /* SIZE= */
	enum cmd_body body;  /* BODY= */
	bool smtputf8;
	/* when PARSE_BAD: the reply to give */
	int errcode;         /* 500 / 501 / 555 */
	const char *enh;     /* "5.5.2" */
	const char *err;     /* human text */
};

const char *cmd_verb_name(enum cmd_verb v);

/*
 * cmd_parse - parse one command line.
 * line/len include the line terminator. Returns PARSE_OK or PARSE_BAD with
 * out->errcode/enh/err describing the reply. A line that is not terminated
 * by CRLF (bare LF), contains NUL or a bare CR, is PARSE_BAD.
 */
enum parse_rc cmd_parse(const char *line, size_t len, struct smtp_cmd *out);

#endif
