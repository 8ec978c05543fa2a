/* SPDX-License-Identifier: MIT
 *
 * Client-facing TCP (RFC 7766): length-framed queries, several in flight per
 * connection and answered in the order they complete, an idle timeout, and
 * caps on connections per worker and in total.
 *
 * A connection is freed only when its handles are closed and no request or
 * write still refers to it (refs).  When the pipeline cap is reached reading
 * pauses until answers go out, so one client cannot queue unbounded work.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"

#define TCP_BUF_FIRST 4096
#define TCP_BUF_MAX (2 + 65535)
#define TCP_WQUEUE_MAX (128 * 1024) /* answers queued for a client that does not read */

struct vg_tcp_conn {
	uv_tcp_t h;
	uv_timer_t idle;
	struct vg_worker *w;
	struct vg_tcp_conn *next, **pprev; /* worker's list, for shutdown */
	uint8_t *buf;
	size_t have, cap;
	unsigned inflight;
	size_t wqueued;   /* bytes of answers handed to uv_write, not yet written */
	unsigned refs;    /* requests in flight + writes pending + open handles */
	bool closing, reading, dispatching;
	struct vg_client client;
};

struct tcp_write {
	uv_write_t req;
	struct vg_tcp_conn *c;
	size_t len;
	uint8_t data[];
};

static void conn_unref(struct vg_tcp_conn *c)
{
	if (--c->refs > 0)
		return;
	struct vg_worker *w = c->w;
	w->tcp_conns--;
	atomic_fetch_sub(&w->shared->tcp_total, 1);
	free(c->buf);
	free(c);
}

static void handle_closed(uv_handle_t *h)
{
	conn_unref(h->data);
}

static void conn_close(struct vg_tcp_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->pprev) {
		*c->pprev = c->next;
		if (c->next)
			c->next->pprev = c->pprev;
		c->pprev = NULL;
	}
	uv_timer_stop(&c->idle);
	uv_close((uv_handle_t *)&c->idle, handle_closed);
	uv_close((uv_handle_t *)&c->h, handle_closed);
}

static void idle_fired(uv_timer_t *t)
{
	struct vg_tcp_conn *c = t->data;
	if (c->inflight == 0)
		conn_close(c);
	else
		uv_timer_again(t);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct vg_tcp_conn *c = h->data;
	(void)suggested;
	if (c->cap - c->have < 512 && c->cap < TCP_BUF_MAX) {
		size_t ncap = c->cap * 2 > TCP_BUF_MAX ? TCP_BUF_MAX : c->cap * 2;
		uint8_t *n = realloc(c->buf, ncap);
		if (n) {
			c->buf = n;
			c->cap = ncap;
		}
	}
	*buf = uv_buf_init((char *)c->buf + c->have, (unsigned)(c->cap - c->have));
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Too much work outstanding: queries in flight, or answers the client has not
 * read yet.  Either stops reading from the connection until it drains. */
static bool conn_busy(const struct vg_tcp_conn *c)
{
	return c->inflight >= c->w->snap->net->tcp_max_pipeline || c->wqueued > TCP_WQUEUE_MAX;
}

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

/* Dispatch every complete frame in the buffer. */
static void conn_frames(struct vg_tcp_conn *c)
{
	size_t off = 0;
	if (c->dispatching)
		return; /* a request finished synchronously inside the loop below */
	c->dispatching = true;
	while (!c->closing && c->have - off >= 2 && !conn_busy(c)) {
		size_t len = vg_get16(c->buf + off);
		if (c->have - off - 2 < len)
			break;
		if (len == 0) { /* nothing to answer: RFC 7766 leaves it to us, close */
			c->dispatching = false;
			conn_close(c);
			return;
		}
		VG_STAT_INC(c->w->stats.tcp_queries);
		c->refs++; /* the pipeline may answer synchronously: stay alive */
		c->inflight++; /* until its answer (vg__tcp_answer) */
		c->refs++;
		vg_pipe_query(&c->w->pipe, c->buf + off + 2, len, &c->client);
		off += 2 + len;
		bool gone = c->refs == 1 && c->closing;
		conn_unref(c);
		if (gone)
			return;
	}
	c->dispatching = false;
	if (off) {
		memmove(c->buf, c->buf + off, c->have - off);
		c->have -= off;
	}
	pause_or_resume(c);
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct vg_tcp_conn *c = s->data;
	(void)buf;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (nread == 0)
		return;
	c->have += (size_t)nread;
	uv_timer_again(&c->idle);
	conn_frames(c);
}

static void write_done(uv_write_t *req, int status)
{
	struct tcp_write *wr = container_of(req, struct tcp_write, req);
	struct vg_tcp_conn *c = wr->c;
	c->wqueued -= wr->len;
	free(wr);
	if (status < 0) {
		conn_close(c);
	} else if (!c->closing && !c->reading && !conn_busy(c)) {
		pause_or_resume(c); /* the client read its answers: take more queries */
		conn_frames(c);
	}
	conn_unref(c);
}

/* Queue one framed answer on the connection; closes it on failure. */
static void conn_send(struct vg_tcp_conn *c, const uint8_t *pkt, size_t len)
{
	if (c->closing)
		return;
	struct tcp_write *wr = malloc(sizeof(*wr) + 2 + len);
	if (!wr) {
		conn_close(c);
		return;
	}
	wr->c = c;
	wr->len = len + 2;
	vg_put16(wr->data, (uint16_t)len);
	memcpy(wr->data + 2, pkt, len);
	uv_buf_t b = uv_buf_init((char *)wr->data, (unsigned)(len + 2));
	c->refs++;
	if (uv_write(&wr->req, (uv_stream_t *)&c->h, &b, 1, write_done) < 0) {
		free(wr);
		c->refs--;
		conn_close(c);
		return;
	}
	c->wqueued += wr->len;
	uv_timer_again(&c->idle);
}

void vg__tcp_answer(struct vg_tcp_conn *c, const uint8_t *pkt, size_t len)
{
	if (len)
		conn_send(c, pkt, len); /* (copied before anything else can run) */
	c->inflight--;
	if (!c->closing) {
		pause_or_resume(c);
		if (!c->reading || c->have >= 2)
			conn_frames(c); /* frames left waiting by the pipeline cap */
	}
	conn_unref(c);
}

static void on_connection(uv_stream_t *server, int status)
{
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
	c->refs = 2; /* the two handles */
	w->tcp_conns++;
	atomic_fetch_add(&w->shared->tcp_total, 1);
	uv_timer_init(&w->loop, &c->idle);
	c->idle.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->h) < 0) {
		conn_close(c);
		return;
	}
	if (w->tcp_conns > net->tcp_max_per_worker ||
	    atomic_load(&w->shared->tcp_total) > net->tcp_max_total) {
		VG_STAT_INC(w->stats.tcp_rejected);
		conn_close(c);
		return;
	}
	VG_STAT_INC(w->stats.tcp_accepted);
	struct sockaddr_storage ss;
	int alen = sizeof(ss);
	c->client.transport = VG_TRANSPORT_TCP;
	c->client.max_size = 65535;
	c->client.conn = c;
	c->client.sock = -1;
	if (uv_tcp_getpeername(&c->h, (struct sockaddr *)&ss, &alen) < 0 ||
	    vg_sockaddr_from(&c->client.addr, (struct sockaddr *)&ss) < 0) {
		conn_close(c);
		return;
	}
	c->buf = malloc(TCP_BUF_FIRST);
	c->cap = c->buf ? TCP_BUF_FIRST : 0;
	if (!c->buf) {
		conn_close(c);
		return;
	}
	c->next = w->conns;
	if (w->conns)
		w->conns->pprev = &c->next;
	w->conns = c;
	c->pprev = &w->conns;
	uv_timer_start(&c->idle, idle_fired, net->tcp_idle_ms, net->tcp_idle_ms);
	if (uv_read_start((uv_stream_t *)&c->h, conn_alloc, conn_read) == 0)
		c->reading = true;
	else
		conn_close(c);
}

int vg__tcp_listen(struct vg_worker *w, const struct vg_sockaddr *addr, uv_tcp_t *h)
{
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
	return 0;
}

void vg__tcp_close_all(struct vg_worker *w)
{
	while (w->conns)
		conn_close(w->conns); /* unlinks it */
}
