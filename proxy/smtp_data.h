/* proxy/smtp_data.h: DATA stream scanner (RFC 5321 4.1.1.4, 4.5.2), pure */
#ifndef SLUICE_SMTP_DATA_H
#define SLUICE_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The scanner reads the message as the client sends it and hands every byte
 * meant for the backend to a sink, unchanged (dot-stuffing included), except:
 *  - the end-of-data line "." CRLF is recognised only after CRLF and is never
 *    handed to the sink: the caller sends it once the filters have voted;
 *  - a bare LF or bare CR is flagged; in DATA_BARE_REJECT mode the scanner
 *    stops emitting (the caller abandons the backend transaction), in
 *    DATA_BARE_NORMALISE mode it emits CRLF in its place.
 * A "." line ends the message only when it follows CRLF and ends in CRLF:
 * ".\n", "\n.\r\n", ".\r" are content (SMTP smuggling); in normalise mode
 * they reach the backend dot-stuffed, so the backend cannot end there either.
 * size counts the message as received, without the stuffing dots.
 */

enum data_bare { DATA_BARE_REJECT = 0, DATA_BARE_NORMALISE, DATA_BARE_COUNT };

enum data_rc { DATA_MORE = 0, DATA_END, DATA_RC_COUNT };

#define DATA_F_BARE_LF 0x1u
#define DATA_F_BARE_CR 0x2u
#define DATA_F_NUL     0x4u

#define DATA_MSGID_MAX 250

struct data_sink {
	void (*out)(void *arg, const char *p, size_t n);
	void *arg;
};

struct data_scanner {
	enum data_bare bare;
	uint8_t st;        /* byte-level state (smtp_data.c) */
	uint8_t hst;       /* header-name state */
	uint8_t hmatch;    /* bytes of "message-id:" matched */
	bool in_headers;
	bool after_crlf;     /* the current line began after a real CRLF */
	bool msgid_seen;    /* only the first Message-ID header counts */
	bool discard;      /* set by the caller or on a bare LF/CR in reject mode */
	unsigned flags;    /* DATA_F_* seen */
	uint64_t size;     /* message bytes received, terminator excluded */
	uint64_t lines;
	uint32_t linelen;  /* content bytes in the current line */
	size_t msgidlen;
	char msgid[DATA_MSGID_MAX + 1]; /* first Message-ID value, trimmed */
};

void data_scanner_init(struct data_scanner *d, enum data_bare bare);

/*
 * data_scan - scan len bytes. Returns the bytes consumed: all of them with
 * *rc = DATA_MORE, or up to and including the terminator with *rc = DATA_END.
 */
size_t data_scan(struct data_scanner *d, const char *buf, size_t len, const struct data_sink *sink, enum data_rc *rc);

#endif
