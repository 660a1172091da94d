/* proxy/io.c: writes that skip the event loop when the socket can take them */
#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include "io.h"

/* io_direct_ok - see io.h */
int
io_direct_ok(struct bufferevent *bev)
{
	return bufferevent_openssl_get_ssl(bev) == NULL && bufferevent_get_underlying(bev) == NULL;
}

/* io_send - see io.h */
int
io_send(struct bufferevent *bev, const void *p, size_t n)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	const char *c = p;

	if (n == 0)
		return 0;
	if (evbuffer_get_length(out) == 0 && io_direct_ok(bev)) {
		evutil_socket_t fd = bufferevent_getfd(bev);
		ssize_t w = fd >= 0 ? send(fd, c, n, MSG_NOSIGNAL | MSG_DONTWAIT) : -1;

		if (w == (ssize_t)n)
			return 0;
		if (w > 0) {
			c += w;
			n -= (size_t)w;
		}
		/* EAGAIN, a connect in progress, or an error: libevent takes over */
	}
	return evbuffer_add(out, c, n);
}
