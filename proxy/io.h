/* proxy/io.h: writes that skip the event loop when the socket can take them */
#ifndef SLUICE_IO_H
#define SLUICE_IO_H

#include <stddef.h>

struct bufferevent;

/*
 * io_send - write n bytes to bev's socket now if nothing is queued before
 * them; queue whatever the kernel did not take in bev's output buffer, so
 * libevent finishes the write (and reports errors) as usual.
 *
 * Why: a bufferevent write costs an EPOLLOUT arm, an epoll_wait round and a
 * disarm before the writev; SMTP replies are small and the socket almost
 * always has room. Returns 0, or -1 if the bytes could not even be queued.
 */
int io_send(struct bufferevent *bev, const void *p, size_t n);

/*
 * io_direct_ok - may bytes go straight to bev's socket? Never for a TLS
 * bufferevent (they would bypass the encryption), nor while it connects.
 */
int io_direct_ok(struct bufferevent *bev);

#endif
