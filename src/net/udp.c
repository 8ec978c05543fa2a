/* SPDX-License-Identifier: MIT
 *
 * Client-facing UDP: one socket per listen address per worker, bound with
 * SO_REUSEPORT so the kernel spreads clients across workers.
 *
 * Reading: a uv_poll_t tells when the socket is readable; vigil then reads up
 * to VG_MMSG_BATCH datagrams with one recvmmsg into the worker's preallocated
 * buffers, and only reads again at once if the batch came back full.  This is
 * what libuv's UV_UDP_RECVMMSG does, minus the extra recvmmsg that libuv always
 * makes until EAGAIN: at moderate load, when each wake-up finds one or two
 * queries, that extra system call was a quarter of the per-answer CPU
 * (measured with bench/, see README).  Replies to one batch go out together
 * in one sendmmsg.  No allocation per packet.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"

#define UDP_RCVBUF (4 << 20)
#define MAX_ROUNDS 8 /* full batches read per wake-up before yielding to the loop */

/* Send every reply queued for the batch in one sendmmsg. */
static void batch_flush(struct vg_worker *w)
{
	struct vg_udp_batch *b = &w->batch;
	unsigned sent = 0;
	unsigned failed = 0;
	while (sent < b->n) {
		int r = sendmmsg(b->fd, b->msg + sent, b->n - sent, MSG_DONTWAIT);
		if (r > 0) {
			sent += (unsigned)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == ENOBUFS))
			break; /* the socket is full: the rest would fail too */
		/* this one reply cannot go (a spoofed source port 0, a broadcast
		 * source...): skip it, not the whole batch */
		sent++;
		failed++;
	}
	failed += b->n - sent;
	if (failed)
		VG_STAT_ADD(w->stats.send_errors, failed);
	b->n = 0;
	b->fd = -1;
}

bool vg__udp_batch_add(struct vg_worker *w, int fd, const struct sockaddr *to,
		       const uint8_t *pkt, size_t len)
{
	struct vg_udp_batch *b = &w->batch;
	if (b->fd != fd || fd < 0 || b->n >= VG_MMSG_BATCH || len > VG_BATCH_REPLY_MAX)
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

void vg__udp_send(struct vg_worker *w, int fd, const struct sockaddr *to, const uint8_t *pkt,
		  size_t len)
{
	socklen_t alen = to->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						    : sizeof(struct sockaddr_in);
	if (sendto(fd, pkt, len, MSG_DONTWAIT, to, alen) < 0)
		VG_STAT_INC(w->stats.send_errors);
}

static void udp_readable(uv_poll_t *h, int status, int events)
{
	struct vg_worker *w = h->data;
	int fd = w->udp_fd[h - w->udp];
	struct vg_client c;
	(void)events;
	if (status < 0)
		return;
	c.transport = VG_TRANSPORT_UDP;
	c.max_size = VG_BATCH_REPLY_MAX; /* (the pipeline applies EDNS and max-udp-size) */
	c.id[0] = 0;
	c.cert_fp = NULL;
	c.cert_subject = NULL;
	c.has_cookie = false;
	c.conn = NULL;
	c.sock = fd;
	for (int round = 0; round < MAX_ROUNDS && !w->stopping; round++) {
		int n = recvmmsg(fd, w->rx_msg, VG_MMSG_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return; /* EAGAIN, or an error the next wake-up will see again */
		w->batch.fd = fd;
		w->batch.n = 0;
		/* one clock read for the batch's queries, one for their answers
		 * (the answer latency, vg_pipe_hold) */
		c.rx_ns = vg_time_now_ns();
		vg_pipe_hold(&w->pipe);
		for (int i = 0; i < n; i++) {
			const struct sockaddr *sa = (const struct sockaddr *)&w->rx_addr[i];
			VG_STAT_INC(w->stats.udp_queries);
			if (vg_sockaddr_from(&c.addr, sa) < 0)
				continue;
			if (w->rx_msg[i].msg_hdr.msg_flags & MSG_TRUNC) {
				VG_STAT_INC(w->pipe.stats.malformed); /* no real query is this big */
				continue;
			}
			vg_pipe_query(&w->pipe, w->rxbuf + (size_t)i * VG_UDP_QUERY_MAX,
				      w->rx_msg[i].msg_len, &c);
		}
		vg_pipe_sent(&w->pipe, vg_time_now_ns());
		batch_flush(w);
		for (int i = 0; i < n; i++) { /* recvmmsg wrote the lengths and flags it used */
			w->rx_msg[i].msg_hdr.msg_namelen = sizeof(w->rx_addr[i]);
			w->rx_msg[i].msg_hdr.msg_flags = 0;
		}
		if (n < VG_MMSG_BATCH)
			return; /* the socket is most likely empty: let epoll say otherwise */
	}
}

void vg__udp_init_batch(struct vg_worker *w)
{
	for (unsigned i = 0; i < VG_MMSG_BATCH; i++) {
		w->rx_iov[i].iov_base = w->rxbuf + (size_t)i * VG_UDP_QUERY_MAX;
		w->rx_iov[i].iov_len = VG_UDP_QUERY_MAX;
		memset(&w->rx_msg[i], 0, sizeof(w->rx_msg[i]));
		w->rx_msg[i].msg_hdr.msg_name = &w->rx_addr[i];
		w->rx_msg[i].msg_hdr.msg_namelen = sizeof(w->rx_addr[i]);
		w->rx_msg[i].msg_hdr.msg_iov = &w->rx_iov[i];
		w->rx_msg[i].msg_hdr.msg_iovlen = 1;
	}
	w->batch.fd = -1;
}

int vg__udp_listen(struct vg_worker *w, const struct vg_sockaddr *addr)
{
	int fam = addr->u.sa.sa_family, one = 1, size = UDP_RCVBUF;
	unsigned idx = w->n_udp;
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
	r = uv_poll_init_socket(&w->loop, &w->udp[idx], fd);
	if (r < 0)
		goto fail;
	w->udp[idx].data = w;
	w->udp_fd[idx] = fd;
	w->n_udp++; /* from here on the worker closes both */
	return uv_poll_start(&w->udp[idx], UV_READABLE, udp_readable);
fail:
	close(fd);
	return r;
}
