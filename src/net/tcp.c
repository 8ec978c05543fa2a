/* SPDX-License-Identifier: MIT
 *
 * Client-facing stream connections: DNS over TCP (RFC 7766) and DNS over
 * TLS (RFC 7858), with length-framed queries, several in flight per
 * connection and answered in the order they complete; DoH connections
 * (doh.c) share the connection handling here and differ in the framing.
 *
 * TLS is a layer between the socket and the framing: ciphertext read from
 * the socket goes into the connection's TLS session (src/tls), plaintext
 * comes out into the frame buffer, and answers are encrypted and written.
 * The ciphertext buffer is the worker's (reads are synchronous), so an idle
 * TLS connection costs its session and its small frame buffer.
 *
 * Limits: an idle timeout (and a handshake timeout on TLS), caps on
 * connections per worker, in total and per client address, and a cap on
 * queries in flight and on answers queued per connection (reading pauses
 * until they drain, so a client that does not read cannot queue unbounded
 * work).  At a cap, a new connection first evicts the oldest one of the
 * worker that has not yet produced a query (a TLS handshake that never
 * ends, a connection that sends nothing: the slowloris pattern), so those
 * cannot lock out clients that do their part.
 *
 * A connection is freed only when its handles are closed and no request or
 * write still refers to it (refs).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "net/stream.h"

#define TCP_BUF_FIRST 4096
#define TCP_BUF_MAX (2 + 65535)
#define TCP_WQUEUE_MAX (128 * 1024) /* answers queued for a client that does not read */

struct tcp_write {
	uv_write_t req;
	struct vg_tcp_conn *c;
	size_t len;
	uint8_t data[];
};

/* ------------------------------------------------------------ per-address counts */

static unsigned addr_bucket(const struct vg_shared *sh, const struct vg_sockaddr *a)
{
	const uint8_t *p;
	size_t n;
	uint64_t h = sh->per_addr_key;
	if (a->u.sa.sa_family == AF_INET) {
		p = (const uint8_t *)&a->u.in4.sin_addr;
		n = 4;
	} else {
		p = a->u.in6.sin6_addr.s6_addr;
		/* an IPv4 client on a dual-stack socket counts as its IPv4 address,
		 * an IPv6 one by its /64 */
		if (IN6_IS_ADDR_V4MAPPED(&a->u.in6.sin6_addr)) {
			p += 12;
			n = 4;
		} else {
			n = 8;
		}
	}
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 29;
	return (unsigned)(h % VG_NET_ADDR_BUCKETS);
}

/* ------------------------------------------------------------ lifetime */

static void conn_unref(struct vg_tcp_conn *c)
{
	if (--c->refs > 0)
		return;
	vg__doh_free(c);
	vg_tls_conn_free(c->tls);
	free(c->buf);
	free(c);
}

static void handle_closed(uv_handle_t *h)
{
	conn_unref(h->data);
}

static void unlink_conn(struct vg_tcp_conn *c)
{
	struct vg_worker *w = c->w;
	if (!c->linked)
		return;
	c->linked = false;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		w->conns_tail = c->prev;
	c->next = c->prev = NULL;
}

void vg__conn_close(struct vg_tcp_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	unlink_conn(c);
	/* counted out now, not when freed: a connection evicted to make room
	 * must make room at once */
	struct vg_worker *w = c->w;
	w->tcp_conns--;
	atomic_fetch_sub(&w->shared->tcp_total, 1);
	VG_STAT_ADD(w->stats.conns_open[c->kind], (uint64_t)-1);
	if (c->counted)
		atomic_fetch_sub(&w->shared->per_addr[c->bucket], 1);
	uv_timer_stop(&c->idle);
	uv_close((uv_handle_t *)&c->idle, handle_closed);
	uv_close((uv_handle_t *)&c->h, handle_closed);
}

static void idle_fired(uv_timer_t *t)
{
	struct vg_tcp_conn *c = t->data;
	if (c->tls && !c->established) {
		VG_STAT_INC(c->w->stats.tls_failed);
		vg_log(VG_LOG_DEBUG, "TLS handshake timed out");
		vg__conn_close(c);
	} else if (c->inflight == 0) {
		vg__conn_close(c);
	} else {
		uv_timer_again(t);
	}
}

/* ------------------------------------------------------------ writing */

static void write_done(uv_write_t *req, int status);

/* Hand @p len bytes to the socket, in order after anything queued: written at
 * once when nothing is queued and the socket takes them, else copied into a
 * write request.  Closes the connection on failure. */
static void sock_write(struct vg_tcp_conn *c, const uint8_t *p, size_t len)
{
	if (c->closing || !len)
		return;
	if (c->wqueued == 0) {
		uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
		int n = uv_try_write((uv_stream_t *)&c->h, &b, 1);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n != UV_EAGAIN) {
			vg__conn_close(c);
			return;
		}
		if (!len)
			return;
	}
	struct tcp_write *wr = malloc(sizeof(*wr) + len);
	if (!wr) {
		vg__conn_close(c);
		return;
	}
	wr->c = c;
	wr->len = len;
	memcpy(wr->data, p, len);
	uv_buf_t b = uv_buf_init((char *)wr->data, (unsigned)len);
	c->refs++;
	if (uv_write(&wr->req, (uv_stream_t *)&c->h, &b, 1, write_done) < 0) {
		free(wr);
		c->refs--;
		vg__conn_close(c);
		return;
	}
	c->wqueued += len;
}

/* Write what the TLS session has to send (handshake messages, records). */
static void tls_flush(struct vg_tcp_conn *c)
{
	uint8_t *out = c->w->tls_tx;
	size_t n;
	while (!c->closing && (n = vg_tls_conn_take(c->tls, out, VG_NET_TLS_BUF)) > 0)
		sock_write(c, out, n);
}

void vg__conn_write(struct vg_tcp_conn *c, const uint8_t *p, size_t len)
{
	if (c->closing)
		return;
	if (!c->tls) {
		sock_write(c, p, len);
	} else if (vg_tls_conn_write(c->tls, p, len) < 0) {
		vg__conn_close(c);
	} else {
		tls_flush(c);
	}
	uv_timer_again(&c->idle);
}

/* ------------------------------------------------------------ reading */

/* A TLS connection with nothing left in its frame buffer gives the buffer
 * back (it is taken again for the next bytes): idle connections then hold
 * only their TLS session (bench/ (t3): bytes per idle DoT connection). */
static void buf_release(struct vg_tcp_conn *c)
{
	if (c->tls && c->have == 0 && c->buf && !c->dispatching && !c->in_feed) {
		free(c->buf);
		c->buf = NULL;
		c->cap = 0;
	}
}

/* Too much work outstanding: queries in flight, or answers the client has not
 * read yet.  Either stops reading from the connection until it drains. */
static bool conn_busy(const struct vg_tcp_conn *c)
{
	return c->inflight >= c->w->snap->net->tcp_max_pipeline || c->wqueued > TCP_WQUEUE_MAX;
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void pause_or_resume(struct vg_tcp_conn *c)
{
	if (c->closing)
		return;
	if (c->reading && conn_busy(c)) {
		uv_read_stop((uv_stream_t *)&c->h);
		c->reading = false;
	} else if (!c->reading && !conn_busy(c)) {
		if (uv_read_start((uv_stream_t *)&c->h, conn_alloc, conn_read) == 0)
			c->reading = true;
	}
}

/* Room for at least a little more plaintext in the frame buffer. */
static bool buf_room(struct vg_tcp_conn *c)
{
	if (c->cap - c->have >= 512 || c->cap >= TCP_BUF_MAX)
		return c->cap > c->have;
	size_t ncap = !c->cap ? TCP_BUF_FIRST : c->cap * 2 > TCP_BUF_MAX ? TCP_BUF_MAX : c->cap * 2;
	uint8_t *n = realloc(c->buf, ncap);
	if (n) {
		c->buf = n;
		c->cap = ncap;
	}
	return c->cap > c->have;
}

static void established(struct vg_tcp_conn *c)
{
	struct vg_worker *w = c->w;
	c->established = true;
	VG_STAT_INC(w->stats.tls_handshakes);
	if (vg_tls_conn_resumed(c->tls))
		VG_STAT_INC(w->stats.tls_resumed);
	snprintf(c->client.id, sizeof(c->client.id), "%s", vg_tls_conn_client_id(c->tls));
	if (vg_tls_conn_cert_fp(c->tls)[0]) {
		c->client.cert_fp = vg_tls_conn_cert_fp(c->tls);
		c->client.cert_subject = vg_tls_conn_cert_subject(c->tls);
	}
	unsigned idle = w->snap->net->tcp_idle_ms;
	uv_timer_start(&c->idle, idle_fired, idle, idle);
	if (c->kind == VG_STREAM_DOH && vg__doh_start(c) < 0) /* the HTTP/2 session */
		vg__conn_close(c);
}

/* Move the plaintext the TLS session has into the frame buffer, as far as
 * it fits, finishing the handshake on the way.  False when the connection
 * was closed. */
static bool tls_pull(struct vg_tcp_conn *c)
{
	while (buf_room(c)) {
		ssize_t r = vg_tls_conn_read(c->tls, c->buf + c->have, c->cap - c->have);
		if (!c->established && vg_tls_conn_established(c->tls)) {
			established(c);
			if (c->closing)
				return false;
		}
		if (r > 0) {
			c->have += (size_t)r;
			continue;
		}
		if (r == VG_TLS_AGAIN)
			break;
		if (r == VG_TLS_FAILED) {
			if (!c->established)
				VG_STAT_INC(c->w->stats.tls_failed);
			char a[VG_ADDRSTRLEN];
			vg_log(VG_LOG_DEBUG, "TLS with %s: %s",
			       vg_sockaddr_str(&c->client.addr, VG_ADDR_PORT, a, sizeof(a)),
			       vg_tls_conn_error(c->tls));
		}
		tls_flush(c); /* an alert, a close_notify */
		vg__conn_close(c);
		return false;
	}
	tls_flush(c);
	return true;
}

void vg__conn_query(struct vg_tcp_conn *c, const uint8_t *q, size_t len,
		    const struct vg_client *cl)
{
	struct vg_worker_stats *st = &c->w->stats;
	if (c->kind == VG_STREAM_TCP)
		VG_STAT_INC(st->tcp_queries);
	else if (c->kind == VG_STREAM_DOT)
		VG_STAT_INC(st->tls_queries);
	else
		VG_STAT_INC(st->doh_queries);
	c->queries++;
	if (c->established || !c->tls)
		uv_timer_again(&c->idle);
	c->inflight++; /* until its answer (vg__conn_query_done) */
	c->refs++;
	vg_pipe_query(&c->w->pipe, q, len, cl);
}

/* Dispatch every complete DNS frame in the buffer (TCP, DoT). */
static void conn_frames(struct vg_tcp_conn *c)
{
	size_t off = 0;
	if (c->dispatching)
		return; /* a request finished synchronously inside the loop below */
	c->dispatching = true;
	if (c->tls && !tls_pull(c))
		return;
	while (!c->closing && c->have - off >= 2 && !conn_busy(c)) {
		size_t len = vg_get16(c->buf + off);
		if (c->have - off - 2 < len)
			break;
		if (len == 0) { /* nothing to answer: RFC 7766 leaves it to us, close */
			c->dispatching = false;
			vg__conn_close(c);
			return;
		}
		c->refs++; /* the pipeline may answer synchronously: stay alive */
		vg__conn_query(c, c->buf + off + 2, len, &c->client);
		off += 2 + len;
		bool gone = c->refs == 1 && c->closing;
		conn_unref(c);
		if (gone)
			return;
		if (c->closing)
			break;
	}
	c->dispatching = false;
	if (off) {
		memmove(c->buf, c->buf + off, c->have - off);
		c->have -= off;
	}
	/* the session may hold more plaintext than fitted: pull it now there is room */
	if (c->tls && off && !c->closing && !conn_busy(c) && c->have < 2 + 512) {
		conn_frames(c);
		return;
	}
	buf_release(c);
	pause_or_resume(c);
}

/* New bytes (or room for them): DNS frames, or HTTP/2 for DoH. */
static void conn_process(struct vg_tcp_conn *c)
{
	if (c->kind == VG_STREAM_DOT || c->kind == VG_STREAM_TCP) {
		conn_frames(c);
		return;
	}
	/* DoH over TLS: the session may hold more plaintext than the buffer
	 * takes at once; HTTP/2 in cleartext was fed as it was read */
	while (c->tls && !c->closing && !c->in_feed && tls_pull(c) && c->have)
		vg__doh_process(c);
	buf_release(c);
	pause_or_resume(c);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct vg_tcp_conn *c = h->data;
	(void)suggested;
	if (c->tls || c->kind == VG_STREAM_H2C) {
		*buf = uv_buf_init((char *)c->w->tls_rx, VG_NET_TLS_BUF);
		return;
	}
	buf_room(c);
	*buf = uv_buf_init((char *)c->buf + c->have, (unsigned)(c->cap - c->have));
}

static void conn_input(struct vg_tcp_conn *c, const uint8_t *buf, ssize_t nread);

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct vg_tcp_conn *c = s->data;
	if (nread < 0) {
		vg__conn_close(c);
		return;
	}
	if (nread == 0)
		return;
	/* the queries of this read came now (one clock read); their answers
	 * given during it count as sent at its end (vg_pipe_hold) */
	c->client.rx_ns = vg_time_now_ns();
	struct vg_pipe *p = &c->w->pipe;
	vg_pipe_hold(p);
	conn_input(c, (const uint8_t *)buf->base, nread);
	vg_pipe_sent(p, vg_time_now_ns());
}

static void conn_input(struct vg_tcp_conn *c, const uint8_t *buf, ssize_t nread)
{
	/* bytes alone do not keep a connection: its idle timer restarts on a
	 * complete query or an answer (vg__conn_query, vg__conn_write), so a
	 * client trickling bytes is closed like an idle one */
	if (c->kind == VG_STREAM_H2C) {
		vg__doh_input(c, buf, (size_t)nread);
		return;
	}
	if (!c->tls) {
		c->have += (size_t)nread;
		conn_frames(c);
		return;
	}
	if (vg_tls_conn_input(c->tls, buf, (size_t)nread) < 0) {
		vg__conn_close(c);
		return;
	}
	conn_process(c);
}

static void write_done(uv_write_t *req, int status)
{
	struct tcp_write *wr = container_of(req, struct tcp_write, req);
	struct vg_tcp_conn *c = wr->c;
	c->wqueued -= wr->len;
	free(wr);
	if (status < 0) {
		vg__conn_close(c);
	} else if (!c->closing && !c->reading && !conn_busy(c)) {
		pause_or_resume(c); /* the client read its answers: take more queries */
		conn_process(c);
	}
	conn_unref(c);
}

/* ------------------------------------------------------------ answers */

void vg__tcp_answer(struct vg_tcp_conn *c, const uint8_t *pkt, size_t len)
{
	/* length and message framed in the worker's buffer: one write (and on
	 * TLS one record), queued in order behind anything still pending */
	if (len && !c->closing) {
		uint8_t *f = c->w->tls_tx;
		vg_put16(f, (uint16_t)len);
		memcpy(f + 2, pkt, len);
		vg__conn_write(c, f, len + 2);
	}
	vg__conn_query_done(c);
}

void vg__conn_query_done(struct vg_tcp_conn *c)
{
	c->inflight--;
	if (!c->closing) {
		pause_or_resume(c);
		if (!c->reading || c->have >= 2 || c->tls)
			conn_process(c); /* frames left waiting by the pipeline cap */
	}
	conn_unref(c);
}

/* ------------------------------------------------------------ accepting */

/* At a cap: close the oldest connection of this worker that has not produced
 * a query yet.  True if one was closed. */
static bool evict_one(struct vg_worker *w)
{
	for (struct vg_tcp_conn *o = w->conns_tail; o; o = o->prev) {
		if (o->queries == 0 && o->inflight == 0 && !o->closing) {
			VG_STAT_INC(w->stats.tcp_evicted);
			vg__conn_close(o);
			return true;
		}
	}
	return false;
}

static bool over_caps(struct vg_worker *w)
{
	const struct vg_net_opts *net = w->snap->net;
	return w->tcp_conns >= net->tcp_max_per_worker ||
	       atomic_load(&w->shared->tcp_total) >= net->tcp_max_total;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct vg_listener *l = container_of((uv_tcp_t *)server, struct vg_listener, h);
	struct vg_worker *w = server->data;
	const struct vg_net_opts *net = w->snap->net;
	if (status < 0)
		return;
	struct vg_tcp_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	uv_tcp_init(&w->loop, &c->h);
	c->h.data = c;
	c->w = w;
	c->kind = l->kind;
	c->refs = 2; /* the two handles */
	uv_timer_init(&w->loop, &c->idle);
	c->idle.data = c;
	w->tcp_conns++; /* (counted out by vg__conn_close) */
	atomic_fetch_add(&w->shared->tcp_total, 1);
	VG_STAT_INC(w->stats.conns_open[c->kind]);
	struct sockaddr_storage ss;
	int alen = sizeof(ss);
	if (uv_accept(server, (uv_stream_t *)&c->h) < 0 ||
	    uv_tcp_getpeername(&c->h, (struct sockaddr *)&ss, &alen) < 0 ||
	    vg_sockaddr_from(&c->client.addr, (struct sockaddr *)&ss) < 0) {
		vg__conn_close(c);
		return;
	}
	/* the client's own cap first: a client at it must not evict others.
	 * A trusted proxy carries many clients and is not capped. */
	bool proxy = net->n_trusted_proxies &&
		     vg_prefix_longest(net->trusted_proxies, net->n_trusted_proxies,
				       sizeof(net->trusted_proxies[0]), &c->client.addr.u.sa) >= 0;
	if (net->max_per_address && !proxy) {
		c->bucket = addr_bucket(w->shared, &c->client.addr);
		c->counted = true;
		unsigned n = atomic_fetch_add(&w->shared->per_addr[c->bucket], 1) + 1u;
		if (n > net->max_per_address) {
			VG_STAT_INC(w->stats.tcp_rejected);
			vg__conn_close(c);
			return;
		}
	}
	/* then the worker's and the total cap (this connection counted in) */
	w->tcp_conns--;
	atomic_fetch_sub(&w->shared->tcp_total, 1);
	bool room = !over_caps(w) || (evict_one(w) && !over_caps(w));
	w->tcp_conns++;
	atomic_fetch_add(&w->shared->tcp_total, 1);
	if (!room) {
		VG_STAT_INC(w->stats.tcp_rejected);
		vg__conn_close(c);
		return;
	}
	VG_STAT_INC(w->stats.tcp_accepted);
	static const enum vg_transport transport[VG_STREAM_KINDS] = {
		[VG_STREAM_TCP] = VG_TRANSPORT_TCP, [VG_STREAM_DOT] = VG_TRANSPORT_DOT,
		[VG_STREAM_DOH] = VG_TRANSPORT_DOH, [VG_STREAM_H2C] = VG_TRANSPORT_DOH,
	};
	c->client.transport = transport[c->kind];
	c->client.max_size = 65535;
	c->client.conn = c;
	c->client.sock = -1;
	uv_tcp_nodelay(&c->h, 1);
	unsigned first_timer = net->tcp_idle_ms;
	struct vg_tls_ctx *tls = w->snap->tls[c->kind];
	if (c->kind == VG_STREAM_DOT || c->kind == VG_STREAM_DOH) {
		c->tls = tls ? vg_tls_conn_accept(tls) : NULL;
		if (!c->tls) {
			vg__conn_close(c);
			return;
		}
		first_timer = net->tls_handshake_ms;
	}
	if (!c->tls) { /* (a TLS connection takes one when it has plaintext) */
		c->buf = malloc(TCP_BUF_FIRST);
		c->cap = c->buf ? TCP_BUF_FIRST : 0;
	}
	if ((!c->tls && !c->buf) || (c->kind == VG_STREAM_H2C && vg__doh_start(c) < 0)) {
		vg__conn_close(c);
		return;
	}
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	else
		w->conns_tail = c;
	w->conns = c;
	c->linked = true;
	uv_timer_start(&c->idle, idle_fired, first_timer, first_timer);
	if (uv_read_start((uv_stream_t *)&c->h, conn_alloc, conn_read) == 0)
		c->reading = true;
	else
		vg__conn_close(c);
}

int vg__tcp_listen(struct vg_worker *w, const struct vg_sockaddr *addr, enum vg_stream_kind kind)
{
	struct vg_listener *l = &w->tcp[w->n_tcp];
	uv_tcp_t *h = &l->h;
	int fam = addr->u.sa.sa_family, one = 1;
	int fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    (fam == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)) {
		r = -errno;
		close(fd);
		return r;
	}
	if (bind(fd, &addr->u.sa, addr->len) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	r = uv_tcp_init(&w->loop, h);
	if (r < 0) {
		close(fd);
		return r;
	}
	h->data = w;
	l->kind = kind;
	r = uv_tcp_open(h, fd);
	if (r < 0) {
		close(fd);
		uv_close((uv_handle_t *)h, NULL);
		return r;
	}
	r = uv_listen((uv_stream_t *)h, 256, on_connection);
	if (r < 0) {
		uv_close((uv_handle_t *)h, NULL);
		return r;
	}
	w->n_tcp++;
	return 0;
}

void vg__tcp_close_all(struct vg_worker *w)
{
	while (w->conns)
		vg__conn_close(w->conns); /* unlinks it */
}
