/* proxy/linger.c: closing a client that is still sending, without an RST over the last reply */
#ifndef SLUICE_LINGER_H
#define SLUICE_LINGER_H

#include <stddef.h>
#include <sys/queue.h>

struct event_base;

struct linger_sock;

/* a worker's lingering sockets */
struct linger_set {
	TAILQ_HEAD(, linger_sock) socks;
	unsigned n;
};

/*
 * Closing a TCP socket with unread input makes the kernel answer with RST
 * instead of FIN, and some client stacks then drop replies they have
 * received but not read yet: the 421 that explains the close. So such a
 * socket first gets a FIN after the last reply (shutdown SHUT_WR), then its
 * input is read and dropped until the client closes too, LINGER_MS pass or
 * LINGER_BYTES arrive, whichever comes first. At most LINGER_MAX per worker;
 * beyond that, and when anything fails, the socket is closed at once.
 */
#define LINGER_MS    2000
#define LINGER_BYTES (256 * 1024)
#define LINGER_MAX   256

/* linger_close - take fd (output already flushed) and close it gracefully */
void linger_close(struct linger_set *set, struct event_base *base, int fd);
/* linger_flush - close every lingering socket now (the worker ends) */
void linger_flush(struct linger_set *set);

#endif
