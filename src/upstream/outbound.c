/* SPDX-License-Identifier: MIT
 *
 * Outbound queries to authoritative servers and forwarders.
 *
 * Each query gets its own connected UDP socket on a random source port (port
 * and query ID from libsodium), so replies from any other address or port are
 * dropped by the kernel.  A reply is accepted only if its ID, QR bit and
 * question match; anything else on the socket is counted as unwanted and the
 * query keeps waiting (TuDoor-style garbage must not end it).  A truncated
 * reply is retried over TCP to the same server.
 *
 * Identical queries in flight (same server, name, type, RD and DO) are shared:
 * later askers join the first one's waiter list.  Every query holds up to
 * MAX_WAITERS waiters; beyond that a new query is sent.
 *
 * Lifetime: a query is freed when all its libuv handles have closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "upstream/upstream.h"
#include "vigil/wire.h"

#define MAX_WAITERS 16
#define PENDING_BUCKETS 1024
#define TCP_TIMEOUT_MIN 1500

struct waiter {
	vg_upstream_cb cb;
	void *arg;
};

struct vg_upq {
	struct vg_upstream *up;
	struct vg_upq *hnext; /* pending table chain */
	uint32_t hash;
	bool in_table, done, use_tcp, completing;
	int open_handles;
	uv_udp_t udp;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t connect;
	uv_write_t write;
	struct vg_sockaddr to;
	uint8_t qname[VG_NAME_MAX];
	uint16_t qtype, id;
	bool rd, do_bit;
	uint32_t timeout_ms;
	uint64_t sent_ms;
	uint8_t qbuf[2 + 512]; /* 2-byte length prefix for TCP, then the query */
	size_t qlen;
	uint8_t *tcp_buf; /* 2 + 65535, on TCP only */
	size_t tcp_have;
	unsigned nwaiters;
	struct waiter waiters[MAX_WAITERS];
};

struct vg_upstream {
	uv_loop_t *loop;
	struct vg_infra *infra;
	const struct vg_upstream_opts *opts;
	struct vg_upq *table[PENDING_BUCKETS];
	unsigned pending; /* queries not yet freed */
	struct vg_upstream_stats stats;
	uint8_t rxbuf[65536];
};

struct vg_upstream *vg_upstream_new(struct uv_loop_s *loop, struct vg_infra *inf,
				    const struct vg_upstream_opts *opts)
{
	struct vg_upstream *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->loop = loop;
	u->infra = inf;
	u->opts = opts;
	return u;
}

void vg_upstream_set_opts(struct vg_upstream *u, const struct vg_upstream_opts *opts)
{
	u->opts = opts;
}

unsigned vg_upstream_pending(const struct vg_upstream *u)
{
	return u->pending;
}

const struct vg_upstream_stats *vg_upstream_stats(const struct vg_upstream *u)
{
	return &u->stats;
}

void vg_upstream_free(struct vg_upstream *u)
{
	free(u);
}

static uint32_t key_hash(const struct vg_sockaddr *to, const uint8_t *qname, uint16_t qtype,
			 bool rd, bool do_bit)
{
	uint32_t h = 2166136261u;
	const uint8_t *a = (const uint8_t *)&to->u;
	for (socklen_t i = 0; i < to->len; i++)
		h = (h ^ a[i]) * 16777619u;
	for (size_t i = 0, n = vg_name_len(qname); i < n; i++)
		h = (h ^ qname[i]) * 16777619u;
	h = (h ^ qtype) * 16777619u;
	return (h ^ (uint32_t)(rd | do_bit << 1)) * 16777619u;
}

static void table_remove(struct vg_upq *q)
{
	if (!q->in_table)
		return;
	struct vg_upq **pp = &q->up->table[q->hash % PENDING_BUCKETS];
	while (*pp && *pp != q)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = q->hnext;
	q->in_table = false;
}

static void handle_closed(uv_handle_t *h)
{
	struct vg_upq *q = h->data;
	if (--q->open_handles == 0) {
		q->up->pending--;
		free(q->tcp_buf);
		free(q);
	}
}

static void close_handle(uv_handle_t *h)
{
	if (h->loop && !uv_is_closing(h))
		uv_close(h, handle_closed);
}

/* Stop everything and release the query once libuv is done with it. */
static void finish(struct vg_upq *q)
{
	q->done = true;
	table_remove(q);
	uv_timer_stop(&q->timer);
	close_handle((uv_handle_t *)&q->timer);
	if (q->udp.loop) {
		uv_udp_recv_stop(&q->udp);
		close_handle((uv_handle_t *)&q->udp);
	}
	if (q->tcp.loop)
		close_handle((uv_handle_t *)&q->tcp);
}

/* Deliver the outcome to every live waiter, then finish. */
static void complete(struct vg_upq *q, int status, const uint8_t *pkt, size_t len)
{
	if (q->done)
		return;
	uint64_t now = uv_now(q->up->loop);
	if (status == 0) {
		vg_infra_rtt(q->up->infra, &q->to, (uint32_t)(now - q->sent_ms), now);
	} else if (status == -ETIMEDOUT || status == -ECONNREFUSED) {
		vg_infra_failed(q->up->infra, &q->to, now);
		if (status == -ETIMEDOUT)
			VG_STAT_INC(q->up->stats.timeouts);
		else
			VG_STAT_INC(q->up->stats.errors);
	} else {
		VG_STAT_INC(q->up->stats.errors);
	}
	table_remove(q); /* callbacks may start an identical query: it must not join us */
	q->done = true;
	q->completing = true;
	/* in place, not from a copy: a callback may cancel a later waiter */
	for (unsigned i = 0; i < q->nwaiters; i++) {
		vg_upstream_cb cb = q->waiters[i].cb;
		q->waiters[i].cb = NULL;
		if (cb)
			cb(q->waiters[i].arg, status, pkt, len);
	}
	q->completing = false;
	q->nwaiters = 0;
	finish(q);
}

/* Is @p pkt the reply to @p q? (ID, QR, opcode, question) */
static bool reply_matches(const struct vg_upq *q, const uint8_t *pkt, size_t len)
{
	if (len < VG_HDR_LEN || vg_get16(pkt) != q->id)
		return false;
	uint16_t flags = vg_get16(pkt + 2);
	if (!(flags & VG_F_QR) || VG_F_OPCODE(flags) != VG_OPCODE_QUERY)
		return false;
	if (vg_get16(pkt + 4) != 1) {
		/* FORMERR/NOTIMP replies may come without a question */
		int rc = VG_F_RCODE(flags);
		return vg_get16(pkt + 4) == 0 && (rc == VG_RCODE_FORMERR || rc == VG_RCODE_NOTIMP);
	}
	uint8_t name[VG_NAME_MAX];
	size_t next;
	if (vg_name_unpack(pkt, len, VG_HDR_LEN, name, true, &next) < 0 || len - next < 4)
		return false;
	return vg_name_eq(name, q->qname) && vg_get16(pkt + next) == q->qtype &&
	       vg_get16(pkt + next + 2) == VG_C_IN;
}

static void on_timeout(uv_timer_t *t)
{
	complete(t->data, -ETIMEDOUT, NULL, 0);
}

/* ------------------------------------------------------------------ TCP */

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct vg_upq *q = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)q->tcp_buf + q->tcp_have, (unsigned)(2 + 65535 - q->tcp_have));
}

static void tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct vg_upq *q = s->data;
	(void)buf;
	if (q->done)
		return;
	if (nread < 0) {
		complete(q, nread == UV_EOF ? VG_EMALFORMED : (int)nread, NULL, 0);
		return;
	}
	q->tcp_have += (size_t)nread;
	if (q->tcp_have < 2)
		return;
	size_t mlen = vg_get16(q->tcp_buf);
	if (q->tcp_have < 2 + mlen)
		return;
	if (!reply_matches(q, q->tcp_buf + 2, mlen)) {
		/* on a TCP stream a wrong reply means the stream is useless */
		VG_STAT_INC(q->up->stats.unwanted);
		complete(q, VG_EMALFORMED, NULL, 0);
		return;
	}
	complete(q, 0, q->tcp_buf + 2, mlen);
}

static void tcp_written(uv_write_t *w, int status)
{
	struct vg_upq *q = w->data;
	if (status < 0 && !q->done)
		complete(q, status, NULL, 0);
}

static void tcp_connected(uv_connect_t *c, int status)
{
	struct vg_upq *q = c->data;
	if (q->done)
		return;
	if (status < 0) {
		complete(q, status == UV_ECONNREFUSED ? -ECONNREFUSED : status, NULL, 0);
		return;
	}
	uv_buf_t b = uv_buf_init((char *)q->qbuf, (unsigned)(q->qlen + 2));
	q->write.data = q;
	int r = uv_write(&q->write, (uv_stream_t *)&q->tcp, &b, 1, tcp_written);
	if (r == 0)
		r = uv_read_start((uv_stream_t *)&q->tcp, tcp_alloc, tcp_read);
	if (r < 0)
		complete(q, r, NULL, 0);
}

static const struct vg_sockaddr *source_for(const struct vg_upstream *u, int family)
{
	for (size_t i = 0; i < u->opts->n_outgoing; i++)
		if (u->opts->outgoing[i].u.sa.sa_family == family)
			return &u->opts->outgoing[i];
	return NULL;
}

static int start_tcp(struct vg_upq *q)
{
	q->use_tcp = true;
	if (!q->tcp_buf) {
		q->tcp_buf = malloc(2 + 65535);
		if (!q->tcp_buf)
			return VG_ENOMEM;
	}
	q->tcp_have = 0;
	int r = uv_tcp_init(q->up->loop, &q->tcp);
	if (r < 0)
		return r;
	q->tcp.data = q;
	q->open_handles++;
	const struct vg_sockaddr *src = source_for(q->up, q->to.u.sa.sa_family);
	if (src) {
		struct vg_sockaddr s = *src;
		if (s.u.sa.sa_family == AF_INET6)
			s.u.in6.sin6_port = 0;
		else
			s.u.in4.sin_port = 0;
		r = uv_tcp_bind(&q->tcp, &s.u.sa, 0);
		if (r < 0)
			return r;
	}
	q->connect.data = q;
	r = uv_tcp_connect(&q->connect, &q->tcp, &q->to.u.sa, tcp_connected);
	if (r < 0)
		return r;
	VG_STAT_INC(q->up->stats.tcp_sent);
	uint32_t t = q->timeout_ms * 2;
	uv_timer_start(&q->timer, on_timeout, t < TCP_TIMEOUT_MIN ? TCP_TIMEOUT_MIN : t, 0);
	return 0;
}

/* ------------------------------------------------------------------ UDP */

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct vg_upq *q = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)q->up->rxbuf, sizeof(q->up->rxbuf));
}

static void udp_read(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
		     unsigned flags)
{
	struct vg_upq *q = h->data;
	(void)flags;
	(void)from; /* the socket is connected: the kernel filters the source */
	if (q->done || q->use_tcp)
		return;
	if (nread < 0) {
		complete(q, nread == UV_ECONNREFUSED ? -ECONNREFUSED : (int)nread, NULL, 0);
		return;
	}
	if (nread == 0)
		return;
	const uint8_t *pkt = (const uint8_t *)buf->base;
	if (!reply_matches(q, pkt, (size_t)nread)) {
		VG_STAT_INC(q->up->stats.unwanted);
		return;
	}
	if (vg_get16(pkt + 2) & VG_F_TC) {
		VG_STAT_INC(q->up->stats.tc_fallback);
		uv_udp_recv_stop(&q->udp);
		uv_timer_stop(&q->timer);
		int r = start_tcp(q);
		if (r < 0)
			complete(q, r, NULL, 0);
		return;
	}
	complete(q, 0, pkt, (size_t)nread);
}

/* A UDP socket bound to a random port, connected to the server. */
static int open_udp(struct vg_upq *q)
{
	int fam = q->to.u.sa.sa_family;
	int fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct vg_sockaddr src;
	const struct vg_sockaddr *cfgsrc = source_for(q->up, fam);
	if (cfgsrc) {
		src = *cfgsrc;
	} else {
		memset(&src, 0, sizeof(src));
		src.u.sa.sa_family = (sa_family_t)fam;
		src.len = fam == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	}
	socklen_t slen = fam == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int r = -EADDRINUSE;
	for (int tries = 0; tries < 10 && r == -EADDRINUSE; tries++) {
		uint16_t port = (uint16_t)(1024 + vg_rand_uniform(65536 - 1024));
		if (fam == AF_INET6)
			src.u.in6.sin6_port = htons(port);
		else
			src.u.in4.sin_port = htons(port);
		r = bind(fd, &src.u.sa, slen) == 0 ? 0 : -errno;
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	if (connect(fd, &q->to.u.sa, slen) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	r = uv_udp_init(q->up->loop, &q->udp);
	if (r < 0) {
		close(fd);
		return r;
	}
	q->udp.data = q;
	q->open_handles++;
	r = uv_udp_open(&q->udp, fd);
	if (r < 0) {
		close(fd);
		return r;
	}
	return uv_udp_recv_start(&q->udp, udp_alloc, udp_read);
}

static int send_udp(struct vg_upq *q)
{
	uv_buf_t b = uv_buf_init((char *)q->qbuf + 2, (unsigned)q->qlen);
	int r = uv_udp_try_send(&q->udp, &b, 1, NULL);
	if (r < 0)
		return r;
	VG_STAT_INC(q->up->stats.udp_sent);
	uv_timer_start(&q->timer, on_timeout, q->timeout_ms, 0);
	return 0;
}

int vg_upstream_query(struct vg_upstream *u, const struct vg_sockaddr *to, const uint8_t *qname,
		      uint16_t qtype, bool rd, bool do_bit, uint32_t timeout_ms,
		      vg_upstream_cb cb, void *arg, struct vg_upq **handle)
{
	uint32_t h = key_hash(to, qname, qtype, rd, do_bit);
	for (struct vg_upq *q = u->table[h % PENDING_BUCKETS]; q; q = q->hnext) {
		if (q->hash == h && q->qtype == qtype && q->rd == rd && q->do_bit == do_bit &&
		    q->nwaiters < MAX_WAITERS && vg_sockaddr_eq(&q->to, to) &&
		    vg_name_eq(q->qname, qname)) {
			q->waiters[q->nwaiters++] = (struct waiter){ cb, arg };
			VG_STAT_INC(u->stats.shared);
			*handle = q;
			return 0;
		}
	}

	struct vg_upq *q = calloc(1, sizeof(*q));
	if (!q)
		return VG_ENOMEM;
	q->up = u;
	q->hash = h;
	q->to = *to;
	memcpy(q->qname, qname, vg_name_len(qname));
	q->qtype = qtype;
	q->rd = rd;
	q->do_bit = do_bit;
	q->timeout_ms = timeout_ms;
	q->id = vg_rand_u16();
	int len = vg_wire_make_query(q->qbuf + 2, sizeof(q->qbuf) - 2, q->id, qname, qtype, rd,
				     u->opts->udp_size, do_bit);
	if (len < 0) {
		free(q);
		return len;
	}
	q->qlen = (size_t)len;
	vg_put16(q->qbuf, (uint16_t)len);
	q->waiters[0] = (struct waiter){ cb, arg };
	q->nwaiters = 1;

	int r = uv_timer_init(u->loop, &q->timer);
	if (r < 0) {
		free(q);
		return r;
	}
	q->timer.data = q;
	q->open_handles = 1;
	u->pending++;
	q->sent_ms = uv_now(u->loop);
	r = open_udp(q);
	if (r == 0)
		r = send_udp(q);
	if (r < 0) {
		/* no callback: tell the caller directly, and release what we made */
		q->nwaiters = 0;
		finish(q);
		return r;
	}
	q->hnext = u->table[h % PENDING_BUCKETS];
	u->table[h % PENDING_BUCKETS] = q;
	q->in_table = true;
	*handle = q;
	return 0;
}

void vg_upstream_cancel(struct vg_upq *q, void *arg)
{
	if (q && q->completing) { /* called from a waiter's callback in complete() */
		for (unsigned i = 0; i < q->nwaiters; i++)
			if (q->waiters[i].arg == arg)
				q->waiters[i].cb = NULL;
		return;
	}
	if (!q || q->done)
		return;
	bool live = false;
	for (unsigned i = 0; i < q->nwaiters; i++) {
		if (q->waiters[i].arg == arg)
			q->waiters[i].cb = NULL;
		live |= q->waiters[i].cb != NULL;
	}
	if (!live) {
		q->nwaiters = 0;
		finish(q);
	}
}

void vg_upstream_shutdown(struct vg_upstream *u)
{
	for (unsigned b = 0; b < PENDING_BUCKETS; b++) {
		while (u->table[b]) {
			struct vg_upq *q = u->table[b];
			q->nwaiters = 0;
			finish(q); /* unlinks q from the table */
		}
	}
}
