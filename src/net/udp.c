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

/* Send every reply queued for the batch in one sendmmsg. */
static void batch_flush(struct vg_worker *w)
{
	struct vg_udp_batch *b = &w->batch;
	uv_os_fd_t fd;
	unsigned sent = 0;
	if (b->n && uv_fileno((uv_handle_t *)b->h, &fd) == 0) {
		while (sent < b->n) {
			int r = sendmmsg(fd, b->msg + sent, b->n - sent, MSG_DONTWAIT);
			if (r <= 0) {
				if (r < 0 && errno == EINTR)
					continue;
				break;
			}
			sent += (unsigned)r;
		}
	}
	if (sent < b->n)
		VG_STAT_ADD(w->stats.send_errors, b->n - sent);
	b->n = 0;
	b->h = NULL;
}

bool vg__udp_batch_add(struct vg_worker *w, uv_udp_t *h, const struct sockaddr *to,
		       const uint8_t *pkt, size_t len)
{
	struct vg_udp_batch *b = &w->batch;
	if (b->h != h || b->n >= VG_MMSG_BATCH || len > VG_BATCH_REPLY_MAX)
		return false;
	unsigned i = b->n++;
	uint8_t *slot = b->buf + (size_t)i * VG_BATCH_REPLY_MAX;
	memcpy(slot, pkt, len);
	size_t alen = to->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						 : sizeof(struct sockaddr_in);
	memcpy(&b->addr[i], to, alen);
	b->iov[i].iov_base = slot;
	b->iov[i].iov_len = len;
	memset(&b->msg[i], 0, sizeof(b->msg[i]));
	b->msg[i].msg_hdr.msg_name = &b->addr[i];
	b->msg[i].msg_hdr.msg_namelen = (socklen_t)alen;
	b->msg[i].msg_hdr.msg_iov = &b->iov[i];
	b->msg[i].msg_hdr.msg_iovlen = 1;
	return true;
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
		     unsigned flags)
{
	struct vg_worker *w = h->data;
	if (flags & UV_UDP_MMSG_FREE) {
		batch_flush(w); /* end of a recvmmsg batch; the buffer is the worker's own */
		return;
	}
	if (nread <= 0 || !addr)
		return;
	if (w->batch.h != h) {
		if (w->batch.n)
			batch_flush(w);
		/* chunks of a recvmmsg batch are followed by UV_UDP_MMSG_FREE: only
		 * then may replies wait for the flush */
		w->batch.h = (flags & UV_UDP_MMSG_CHUNK) ? h : NULL;
	}
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
