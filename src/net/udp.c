/* SPDX-License-Identifier: MIT
 *
 * Client-facing UDP: one socket per listen address per worker, bound with
 * SO_REUSEPORT so the kernel spreads clients across workers, read in batches
 * with recvmmsg (UV_UDP_RECVMMSG) into the worker's preallocated buffer.
 * Replies go out with uv_udp_try_send: no allocation per packet.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"

#define UDP_RCVBUF (4 << 20)

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct vg_worker *w = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)w->rxbuf, VG_MMSG_BATCH * 65536);
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
		     unsigned flags)
{
	struct vg_worker *w = h->data;
	if (flags & UV_UDP_MMSG_FREE)
		return; /* the buffer is the worker's own */
	if (nread <= 0 || !addr)
		return;
	struct vg_peer peer;
	peer.transport = VG_TRANSPORT_UDP;
	peer.udp = h;
	peer.conn = NULL;
	memcpy(&peer.addr, addr, addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							      : sizeof(struct sockaddr_in));
	VG_STAT_INC(w->stats.udp_queries);
	vg__worker_query(w, (const uint8_t *)buf->base, (size_t)nread, &peer);
}

int vg__udp_listen(struct vg_worker *w, const struct vg_sockaddr *addr, uv_udp_t *h)
{
	int fam = addr->u.sa.sa_family, one = 1, size = UDP_RCVBUF;
	int fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    (fam == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)) {
		r = -errno;
		goto fail;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (bind(fd, &addr->u.sa, addr->len) < 0) {
		r = -errno;
		goto fail;
	}
	r = uv_udp_init_ex(&w->loop, h, AF_UNSPEC | UV_UDP_RECVMMSG);
	if (r < 0)
		goto fail;
	h->data = w;
	r = uv_udp_open(h, fd);
	if (r < 0) {
		uv_close((uv_handle_t *)h, NULL);
		goto fail;
	}
	r = uv_udp_recv_start(h, udp_alloc, udp_recv);
	if (r < 0) {
		uv_close((uv_handle_t *)h, NULL);
		return r;
	}
	return 0;
fail:
	close(fd);
	return r;
}
