/* proxy/io_read.h: reads into a bufferevent without libevent's FIONREAD */
#ifndef SLUICE_IO_READ_H
#define SLUICE_IO_READ_H

#include <stddef.h>

struct bufferevent;
struct timeval;
struct io_rd;

/*
 * An io_rd does the reading for one bufferevent. For a plain socket
 * bufferevent it is an event of its own on the socket: one readv() straight
 * into the bufferevent's input buffer, then the bufferevent's own read
 * callback (bufferevent_trigger) or event callback (EOF, error, read
 * timeout: BEV_EVENT_* | BEV_EVENT_READING, as libevent would say them).
 * libevent's reading stays disabled; its writing, connecting and write
 * timeouts stay libevent's, except that EV_WRITE is enabled in libevent
 * only once bytes wait in the output buffer (io_send writes most replies
 * itself; arming EPOLLOUT for an empty buffer costs an epoll_ctl and a
 * wakeup). For any other bufferevent (TLS, a filter) every call passes
 * straight through to libevent.
 *
 * Why: libevent asks the kernel how many bytes wait (ioctl FIONREAD) before
 * each read. SMTP lines are small, one read each, so that second system call
 * per read cost about 8 % of sluice's CPU per message.
 *
 * The callbacks may free the bufferevent and its io_rd: nothing here touches
 * either after calling one.
 */

/* io_rd_new - take over bev's reading (disabled until io_rd_enable); NULL when out of memory */
struct io_rd *io_rd_new(struct bufferevent *bev);

/* io_rd_free - stop and free r (call before bufferevent_free of its bufferevent); NULL is fine */
void io_rd_free(struct io_rd *r);

/* io_rd_bev - the bufferevent r reads for */
struct bufferevent *io_rd_bev(const struct io_rd *r);

/* io_rd_enable, io_rd_disable - bufferevent_enable/disable: EV_READ here, EV_WRITE to libevent (when bytes wait) */
void io_rd_enable(struct io_rd *r, short what);
void io_rd_disable(struct io_rd *r, short what);

/* io_rd_set_timeouts - bufferevent_set_timeouts: the read timeout here, the write timeout to libevent */
void io_rd_set_timeouts(struct io_rd *r, const struct timeval *rd, const struct timeval *wr);

/* io_rd_set_read_high - stop reading while the input buffer holds hi bytes (0: no limit) */
void io_rd_set_read_high(struct io_rd *r, size_t hi);

#endif
