/* SPDX-License-Identifier: MIT
 *
 * DNS over TLS to upstreams (RFC 7858, the strict profile of RFC 8310):
 * each worker's connections to the TLS upstreams of its forward zones, and
 * the query padding (RFC 8467).  outbound.c builds and shares the queries;
 * this file moves them over TLS and never over anything else.
 *
 * Connections.  A worker keeps one connection per upstream, keyed by the
 * address and port and by how the server is authenticated (name, pins, CA
 * file: two zones naming one address differently get two connections).
 * It is opened by the first query and stays open while queries are on it
 * and for tls_idle_ms after the last one, so a busy forwarder pays for one
 * TCP and TLS handshake, not one per query.  Queries are pipelined on it
 * with the 2-byte length framing of RFC 7766 and answered in any order:
 * a reply is matched by ID and question among the connection's queries in
 * flight (IDs are unique on a connection); anything else is counted and
 * dropped, the connection goes on.  TCP_NODELAY is set: queries are small
 * and must not wait for Nagle.
 *
 * States: IDLE (no socket) -> CONNECTING (TCP) -> HANDSHAKE (TLS and
 * authentication) -> READY -> CLOSING (the socket closes) -> IDLE.
 * Queries that arrive before READY wait on the connection's queue, at most
 * DOT_MAX_QUERIES in all; connect and handshake together have
 * tls_handshake_ms.  A query's own timer starts when it is written.
 *
 * Strict: there is no fallback.  When the connection cannot be made
 * (refused, handshake timeout) or the server cannot be authenticated
 * (certificate, name or pin), every query on it fails (-ECONNREFUSED,
 * -ETIMEDOUT, VG_ETLS: the resolver core moves on to the zone's next
 * upstream, and the client gets SERVFAIL with EDE 22 or 23 when none is
 * left), and the upstream is in back-off: for DOT_BACKOFF_MIN_MS, doubling
 * with every failure in a row up to DOT_BACKOFF_MAX_MS, new queries to it
 * fail at once, without a connection attempt.  A failed TLS upstream is
 * never asked over UDP or cleartext TCP.
 *
 * A connection that breaks after it was up (the server closed it, or reset
 * it) is not a failure of the server yet: its queries in flight are queued
 * again, once each, for a new connection, which is opened at once (an idle
 * close by the server racing with our query is common on long-lived
 * connections, RFC 7766 6.2.1); a query whose second connection breaks too
 * fails with -ECONNRESET.
 *
 * TLS client contexts (the CA store or file) are made per worker when first
 * needed and kept until the settings change (vg__dot_reset_ctx), so a reload
 * reads the CA file again; open connections keep the context they started
 * with.
 *
 * Lifetime: a connection entry lives while it has a socket, queries, or a
 * back-off to remember; otherwise its timer frees it after an idle period.
 * Everything is freed in close callbacks (u->pending counts the entries).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "tls/tls.h"
#include "upstream/impl.h"

#define DOT_MAX_QUERIES 1024    /* queued and in flight, per connection */
#define DOT_MAX_CONNS 1024      /* connection entries per worker */
#define DOT_BACKOFF_MIN_MS 500
#define DOT_BACKOFF_MAX_MS 30000
#define DOT_RBUF (2 + 65535)

enum dot_state { DOT_IDLE, DOT_CONNECTING, DOT_HANDSHAKE, DOT_READY, DOT_CLOSING };

struct vg__dot_conn {
	struct vg_upstream *up;
	struct vg__dot_conn *next; /* up->dot */
	/* the key */
	struct vg_sockaddr to;
	uint64_t id; /* vg__dot_id() */
	char name[VG_UPSTREAM_TLS_NAME_MAX];
	char pins[VG_UPSTREAM_TLS_PINS_MAX];
	char ca_file[VG_UPSTREAM_TLS_PATH_MAX];

	enum dot_state state;
	int open_handles; /* timer, and the socket while it is open */
	bool tcp_open, freeing;
	unsigned gen; /* of the socket: callbacks of an earlier one are ignored */
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_shutdown_t shutdown;
	uv_timer_t timer; /* handshake deadline, idle close, forgetting the entry */
	struct vg_tls_conn *tls;
	uint8_t *rbuf; /* plaintext frames, DOT_RBUF bytes while connected */
	size_t rhave;
	struct vg__up_query *queries, **qtail; /* queued and in flight, in order */
	unsigned n_queries;
	/* back-off after failed attempts */
	unsigned failures;
	uint64_t down_until; /* uv_now() */
	int down_err;
};

struct dot_write {
	uv_write_t w;
	struct vg__dot_conn *c;
	unsigned gen;
	uint8_t data[];
};

static void conn_connect(struct vg__dot_conn *c);
static void conn_drop_socket(struct vg__dot_conn *c, bool graceful);

/* ------------------------------------------------------------ padding */

/* ------------------------------------------------------------ keys and contexts */

uint64_t vg__dot_id(const unsigned char *key, const struct vg_upstream_tls *tls)
{
	uint8_t buf[VG_UPSTREAM_TLS_NAME_MAX + VG_UPSTREAM_TLS_PINS_MAX +
		    VG_UPSTREAM_TLS_PATH_MAX + 3];
	size_t n = 0;
	const char *parts[3] = { tls->name, tls->pins, tls->ca_file };
	for (int i = 0; i < 3; i++) {
		size_t l = parts[i] ? strnlen(parts[i], sizeof(buf) / 3 - 1) : 0;
		memcpy(buf + n, parts[i] ? parts[i] : "", l);
		n += l;
		buf[n++] = 0;
	}
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, buf, n, key);
	return h ? h : 1; /* 0 means cleartext */
}

void vg__dot_reset_ctx(struct vg_upstream *u)
{
	for (unsigned i = 0; i < u->n_tls_ctx; i++)
		vg_tls_ctx_unref(u->tls_ctx[i].ctx); /* connections hold their own reference */
	u->n_tls_ctx = 0;
}

static struct vg_tls_ctx *ctx_for(struct vg_upstream *u, const char *ca_file, char *err,
				  size_t errlen)
{
	for (unsigned i = 0; i < u->n_tls_ctx; i++)
		if (strcmp(u->tls_ctx[i].ca_file, ca_file) == 0)
			return u->tls_ctx[i].ctx;
	if (u->n_tls_ctx == VG__UP_TLS_CTX_MAX) {
		snprintf(err, errlen, "too many CA files (at most %d)", VG__UP_TLS_CTX_MAX);
		return NULL;
	}
	struct vg_tls_client_opts o = { .no_verify = false };
	struct vg_tls_ctx *ctx;
	snprintf(o.ca_file, sizeof(o.ca_file), "%s", ca_file);
	if (vg_tls_client_new(&o, &ctx, err, errlen) < 0)
		return NULL;
	struct vg__up_tls_ctx *e = &u->tls_ctx[u->n_tls_ctx++];
	snprintf(e->ca_file, sizeof(e->ca_file), "%s", ca_file);
	e->ctx = ctx;
	return ctx;
}

/* ------------------------------------------------------------ entries */

static const char *conn_str(const struct vg__dot_conn *c, char *buf, size_t size)
{
	char a[VG_ADDRSTRLEN];
	vg_sockaddr_str(&c->to, VG_ADDR_PORT, a, sizeof(a));
	snprintf(buf, size, "%s%s%s", a, c->name[0] ? "#" : "", c->name);
	return buf;
}

static void conn_freed(uv_handle_t *h)
{
	struct vg__dot_conn *c = h->data;
	if (--c->open_handles > 0)
		return;
	c->up->pending--;
	free(c);
}

/* Unlink an entry with no socket and no queries, and free it. */
static void conn_free(struct vg__dot_conn *c)
{
	struct vg_upstream *u = c->up;
	if (c->freeing)
		return;
	c->freeing = true;
	for (struct vg__dot_conn **pp = &u->dot; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			u->n_dot--;
			break;
		}
	}
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, conn_freed);
}

static void on_forget(uv_timer_t *t)
{
	struct vg__dot_conn *c = t->data;
	if (c->state == DOT_IDLE && !c->queries)
		conn_free(c);
}

/* Idle, no socket: free the entry once its back-off is long over. */
static void arm_forget(struct vg__dot_conn *c)
{
	uint64_t now = uv_now(c->up->loop), after = c->up->opts->tls_idle_ms;
	if (c->down_until > now)
		after += c->down_until - now;
	uv_timer_start(&c->timer, on_forget, after + DOT_BACKOFF_MAX_MS, 0);
}

static struct vg__dot_conn *conn_find(struct vg_upstream *u, const struct vg_sockaddr *to,
				      uint64_t id, const struct vg_upstream_tls *tls)
{
	for (struct vg__dot_conn *c = u->dot; c; c = c->next)
		if (c->id == id && vg_sockaddr_eq(&c->to, to) && !strcmp(c->name, tls->name) &&
		    !strcmp(c->pins, tls->pins) && !strcmp(c->ca_file, tls->ca_file))
			return c;
	return NULL;
}

static struct vg__dot_conn *conn_new(struct vg_upstream *u, const struct vg_sockaddr *to,
				     uint64_t id, const struct vg_upstream_tls *tls)
{
	if (u->n_dot >= DOT_MAX_CONNS) {
		/* make room: an idle entry without a back-off to remember */
		uint64_t now = uv_now(u->loop);
		struct vg__dot_conn *old = NULL;
		for (struct vg__dot_conn *c = u->dot; c && !old; c = c->next)
			if (c->state == DOT_IDLE && !c->queries && c->down_until <= now)
				old = c;
		if (!old)
			return NULL;
		conn_free(old);
	}
	if (strlen(tls->name) >= VG_UPSTREAM_TLS_NAME_MAX ||
	    strlen(tls->pins) >= VG_UPSTREAM_TLS_PINS_MAX ||
	    strlen(tls->ca_file) >= VG_UPSTREAM_TLS_PATH_MAX)
		return NULL;
	struct vg__dot_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->up = u;
	c->to = *to;
	c->id = id;
	strcpy(c->name, tls->name);
	strcpy(c->pins, tls->pins);
	strcpy(c->ca_file, tls->ca_file);
	c->qtail = &c->queries;
	if (uv_timer_init(u->loop, &c->timer) < 0) {
		free(c);
		return NULL;
	}
	c->timer.data = c;
	c->open_handles = 1;
	u->pending++;
	c->next = u->dot;
	u->dot = c;
	u->n_dot++;
	return c;
}

/* ------------------------------------------------------------ queries on a connection */

static void q_link(struct vg__dot_conn *c, struct vg__up_query *q)
{
	q->dot = c;
	q->dot_sent = false;
	q->dnext = NULL;
	q->dpprev = c->qtail;
	*c->qtail = q;
	c->qtail = &q->dnext;
	c->n_queries++;
}

static void q_unlink(struct vg__up_query *q)
{
	struct vg__dot_conn *c = q->dot;
	*q->dpprev = q->dnext;
	if (q->dnext)
		q->dnext->dpprev = q->dpprev;
	else
		c->qtail = q->dpprev;
	q->dot = NULL;
	q->dnext = NULL;
	q->dpprev = NULL;
	c->n_queries--;
}

/* No query on a READY connection: close it after the idle time. */
static void on_idle(uv_timer_t *t)
{
	struct vg__dot_conn *c = t->data;
	if (c->state == DOT_READY && !c->queries)
		conn_drop_socket(c, true);
}

void vg__dot_detach(struct vg__up_query *q)
{
	struct vg__dot_conn *c = q->dot;
	q_unlink(q);
	if (c->queries || c->up->shut)
		return;
	if (c->state == DOT_READY)
		uv_timer_start(&c->timer, on_idle, c->up->opts->tls_idle_ms, 0);
	else if (c->state == DOT_IDLE)
		arm_forget(c);
}

/* Fail every query on @p c with @p err (their callbacks may queue new
 * ones: the caller decided first what happens to those). */
static void fail_all(struct vg__dot_conn *c, int err)
{
	struct vg__up_query *q;
	while ((q = c->queries) != NULL) {
		if (q->done)
			q_unlink(q); /* (complete() detaches before its callbacks) */
		else
			vg__up_complete(q, err, NULL, 0); /* detaches it */
	}
}

/* ------------------------------------------------------------ socket I/O */

static void written(uv_write_t *w, int status)
{
	struct dot_write *dw = container_of(w, struct dot_write, w);
	struct vg__dot_conn *c = dw->c;
	bool current = dw->gen == c->gen && c->tcp_open;
	free(dw);
	if (status < 0 && current && (c->state == DOT_HANDSHAKE || c->state == DOT_READY))
		conn_drop_socket(c, false);
}

/* Write what TLS has for the socket.  0, or negative (the socket is done). */
static int flush(struct vg__dot_conn *c)
{
	size_t n;
	while ((n = vg_tls_conn_pending(c->tls)) > 0) {
		struct dot_write *dw = malloc(sizeof(*dw) + n);
		if (!dw)
			return VG_ENOMEM;
		dw->c = c;
		dw->gen = c->gen;
		n = vg_tls_conn_take(c->tls, dw->data, n);
		uv_buf_t b = uv_buf_init((char *)dw->data, (unsigned)n);
		int r = uv_write(&dw->w, (uv_stream_t *)&c->tcp, &b, 1, written);
		if (r < 0) {
			free(dw);
			return r;
		}
	}
	return 0;
}

static bool id_in_use(const struct vg__dot_conn *c, const struct vg__up_query *self, uint16_t id)
{
	for (const struct vg__up_query *q = c->queries; q; q = q->dnext)
		if (q != self && q->dot_sent && q->id == id)
			return true;
	return false;
}

/* Write @p q on the READY connection and start its timer. */
static int write_query(struct vg__dot_conn *c, struct vg__up_query *q)
{
	/* IDs are unique on the connection: replies are matched by them */
	for (int tries = 0; id_in_use(c, q, q->id) && tries < 64; tries++)
		q->id = vg_rand_u16();
	if (id_in_use(c, q, q->id))
		return VG_ELIMIT;
	vg_put16(q->qbuf + 2, q->id);
	if (vg_tls_conn_write(c->tls, q->qbuf, q->qlen + 2) < 0)
		return VG_ETLS;
	q->dot_sent = true;
	q->sent_ms = uv_now(c->up->loop);
	uv_timer_start(&q->timer, vg__up_on_timeout, q->timeout_ms, 0);
	VG_STAT_INC(c->up->stats.tls_sent);
	return 0;
}

/* The connection is up: write every query that waited for it. */
static void send_queued(struct vg__dot_conn *c)
{
	for (struct vg__up_query *q = c->queries; q; q = q->dnext) {
		if (q->dot_sent)
			continue;
		if (write_query(c, q) < 0) {
			conn_drop_socket(c, false);
			return;
		}
	}
	if (flush(c) < 0)
		conn_drop_socket(c, false);
}

/* A failed attempt (connect, handshake, authentication): back-off, and
 * every query on the connection fails. */
static void conn_failed(struct vg__dot_conn *c, int err, const char *why)
{
	struct vg_upstream *u = c->up;
	char who[VG_ADDRSTRLEN + VG_UPSTREAM_TLS_NAME_MAX + 2];
	uint64_t backoff = DOT_BACKOFF_MIN_MS;
	for (unsigned i = 0; i < c->failures && backoff < DOT_BACKOFF_MAX_MS; i++)
		backoff *= 2;
	if (backoff > DOT_BACKOFF_MAX_MS)
		backoff = DOT_BACKOFF_MAX_MS;
	c->failures++;
	c->down_until = uv_now(u->loop) + backoff;
	c->down_err = err;
	VG_STAT_INC(u->stats.tls_failed);
	vg_log(VG_LOG_WARNING, "DNS over TLS to %s failed: %s; its queries fail for %u ms",
	       conn_str(c, who, sizeof(who)), why, (unsigned)backoff);
	conn_drop_socket(c, false);
	fail_all(c, err); /* new queries to it fail at once: down_until is set */
}

static void on_closed(uv_handle_t *h)
{
	struct vg__dot_conn *c = h->data;
	c->tcp_open = false;
	vg_tls_conn_free(c->tls);
	c->tls = NULL;
	free(c->rbuf);
	c->rbuf = NULL;
	c->rhave = 0;
	c->state = DOT_IDLE;
	if (--c->open_handles == 0) { /* shutting down: the timer closed first */
		c->up->pending--;
		free(c);
		return;
	}
	if (c->up->shut || c->freeing)
		return;
	if (c->queries) {
		/* queries queued again (a broken connection) or arriving while
		 * it closed: a new connection for them */
		if (uv_now(c->up->loop) < c->down_until)
			fail_all(c, c->down_err);
		else
			conn_connect(c);
		return;
	}
	arm_forget(c);
}

static void shut_done(uv_shutdown_t *s, int status)
{
	struct vg__dot_conn *c = s->data;
	(void)status;
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/*
 * Close the socket.  @p graceful: an idle close (close_notify, then the
 * socket once it is written).  Otherwise the connection broke: queries in
 * flight are queued again for the next connection, once each.
 */
static void conn_drop_socket(struct vg__dot_conn *c, bool graceful)
{
	if (c->state == DOT_CLOSING || c->state == DOT_IDLE)
		return;
	bool was_up = c->state == DOT_READY;
	c->state = DOT_CLOSING;
	c->gen++;
	uv_timer_stop(&c->timer);
	uv_read_stop((uv_stream_t *)&c->tcp);
	if (graceful && c->tls) {
		vg_tls_conn_shutdown(c->tls);
		c->shutdown.data = c;
		if (flush(c) == 0 &&
		    uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, shut_done) == 0)
			return;
	}
	uv_close((uv_handle_t *)&c->tcp, on_closed);
	if (!was_up)
		return; /* conn_failed() fails the queries */
	struct vg__up_query *q = c->queries;
	while (q) {
		struct vg__up_query *next = q->dnext;
		if (q->dot_sent && q->dot_retried) {
			vg__up_complete(q, -ECONNRESET, NULL, 0);
			q = c->queries; /* callbacks may have changed the list */
			continue;
		}
		if (q->dot_sent) {
			q->dot_sent = false;
			q->dot_retried = true;
			uv_timer_stop(&q->timer);
		}
		q = next;
	}
}

static void on_read_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct vg__dot_conn *c = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)c->up->rxbuf, sizeof(c->up->rxbuf));
}

/* One whole message from the server. */
static void on_message(struct vg__dot_conn *c, const uint8_t *pkt, size_t len)
{
	if (len >= VG_HDR_LEN) {
		uint16_t id = vg_get16(pkt);
		for (struct vg__up_query *q = c->queries; q; q = q->dnext) {
			if (q->dot_sent && q->id == id && vg__up_reply_matches(q, pkt, len)) {
				vg__up_complete(q, 0, pkt, len);
				return;
			}
		}
	}
	/* a late reply to a query that timed out, or garbage: the stream is
	 * still in step (the framing held), so the connection goes on */
	VG_STAT_INC(c->up->stats.unwanted);
}

static void on_established(struct vg__dot_conn *c)
{
	c->state = DOT_READY;
	c->failures = 0;
	c->down_until = 0;
	uv_timer_stop(&c->timer);
	send_queued(c);
	if (c->state == DOT_READY && !c->queries)
		uv_timer_start(&c->timer, on_idle, c->up->opts->tls_idle_ms, 0);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct vg__dot_conn *c = s->data;
	if (c->state != DOT_HANDSHAKE && c->state != DOT_READY)
		return;
	if (nread < 0) {
		if (c->state == DOT_HANDSHAKE)
			conn_failed(c, -ECONNRESET, nread == UV_EOF
					    ? "the server closed the connection in the handshake"
					    : uv_strerror((int)nread));
		else
			conn_drop_socket(c, false);
		return;
	}
	if (vg_tls_conn_input(c->tls, (const uint8_t *)buf->base, (size_t)nread) < 0) {
		conn_failed(c, VG_ENOMEM, "out of memory");
		return;
	}
	for (;;) {
		bool was_up = c->state == DOT_READY;
		ssize_t r = vg_tls_conn_read(c->tls, c->rbuf + c->rhave, DOT_RBUF - c->rhave);
		if (r == VG_TLS_FAILED && !was_up) {
			char why[200];
			snprintf(why, sizeof(why), "%s", vg_tls_conn_error(c->tls));
			conn_failed(c, VG_ETLS, why[0] ? why : "TLS handshake failed");
			return;
		}
		if (r == VG_TLS_FAILED || r == VG_TLS_CLOSED) {
			conn_drop_socket(c, false);
			return;
		}
		if (!was_up && vg_tls_conn_established(c->tls)) {
			on_established(c);
			if (c->state != DOT_READY)
				return;
		}
		if (r == VG_TLS_AGAIN)
			break;
		c->rhave += (size_t)r;
		size_t off = 0;
		while (c->rhave - off >= 2) {
			size_t mlen = vg_get16(c->rbuf + off);
			if (c->rhave - off < 2 + mlen)
				break;
			on_message(c, c->rbuf + off + 2, mlen);
			if (c->state != DOT_READY)
				return; /* a callback broke the connection: rbuf goes at close */
			off += 2 + mlen;
		}
		memmove(c->rbuf, c->rbuf + off, c->rhave - off);
		c->rhave -= off;
	}
	if (flush(c) < 0) {
		if (c->state == DOT_HANDSHAKE)
			conn_failed(c, -ECONNRESET, "cannot write to the socket");
		else
			conn_drop_socket(c, false);
	}
}

static void on_handshake_timeout(uv_timer_t *t)
{
	struct vg__dot_conn *c = t->data;
	if (c->state == DOT_CONNECTING || c->state == DOT_HANDSHAKE)
		conn_failed(c, -ETIMEDOUT, c->state == DOT_CONNECTING
						  ? "no TCP connection within the handshake timeout"
						  : "TLS handshake timed out");
}

static void on_connected(uv_connect_t *req, int status)
{
	struct vg__dot_conn *c = req->data;
	char err[256];
	if (status == UV_ECANCELED || c->state != DOT_CONNECTING)
		return;
	if (status < 0) {
		conn_failed(c, status == UV_ECONNREFUSED ? -ECONNREFUSED : status,
			    uv_strerror(status));
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	struct vg_tls_ctx *ctx = ctx_for(c->up, c->ca_file, err, sizeof(err));
	if (ctx)
		c->tls = vg_tls_conn_connect(ctx, c->name, c->pins);
	c->rbuf = malloc(DOT_RBUF);
	if (!ctx || !c->tls || !c->rbuf) {
		conn_failed(c, ctx ? VG_ENOMEM : VG_ETLS, ctx ? "out of memory" : err);
		return;
	}
	c->state = DOT_HANDSHAKE;
	uint8_t none[1];
	ssize_t r = vg_tls_conn_read(c->tls, none, 0); /* the ClientHello */
	if (r == VG_TLS_FAILED) {
		conn_failed(c, VG_ETLS, vg_tls_conn_error(c->tls));
		return;
	}
	if (flush(c) < 0 ||
	    uv_read_start((uv_stream_t *)&c->tcp, on_read_alloc, on_read) < 0)
		conn_failed(c, -ECONNRESET, "cannot use the socket");
}

static void conn_connect(struct vg__dot_conn *c)
{
	struct vg_upstream *u = c->up;
	int r = uv_tcp_init(u->loop, &c->tcp);
	if (r < 0) {
		conn_failed(c, r, uv_strerror(r));
		return;
	}
	c->tcp.data = c;
	c->tcp_open = true;
	c->open_handles++;
	c->gen++;
	c->state = DOT_CONNECTING;
	VG_STAT_INC(u->stats.tls_connects);
	uv_timer_start(&c->timer, on_handshake_timeout, u->opts->tls_handshake_ms, 0);
	const struct vg_sockaddr *src = vg__up_source_for(u, c->to.u.sa.sa_family);
	if (src) {
		struct vg_sockaddr s = *src;
		vg_sockaddr_set_port(&s, 0);
		r = uv_tcp_bind(&c->tcp, &s.u.sa, 0);
	}
	c->connect.data = c;
	if (r == 0)
		r = uv_tcp_connect(&c->connect, &c->tcp, &c->to.u.sa, on_connected);
	if (r < 0)
		conn_failed(c, r == UV_ECONNREFUSED ? -ECONNREFUSED : r, uv_strerror(r));
}

/* ------------------------------------------------------------ entry points */

int vg__dot_send(struct vg__up_query *q, const struct vg_upstream_tls *tls_in)
{
	struct vg_upstream *u = q->up;
	struct vg_upstream_tls tls = {
		.name = tls_in->name ? tls_in->name : "",
		.pins = tls_in->pins ? tls_in->pins : "",
		.ca_file = tls_in->ca_file ? tls_in->ca_file : "",
	};
	if (!tls.name[0] && !tls.pins[0])
		return VG_EINVAL; /* strict: never an unauthenticated server */
	struct vg__dot_conn *c = conn_find(u, &q->to, q->tls_id, &tls);
	if (!c && !(c = conn_new(u, &q->to, q->tls_id, &tls)))
		return VG_ENOMEM;
	if (uv_now(u->loop) < c->down_until || c->n_queries >= DOT_MAX_QUERIES) {
		/* in back-off (no attempt, and never cleartext), or too busy */
		VG_STAT_INC(u->stats.tls_refused);
		return uv_now(u->loop) < c->down_until ? c->down_err : -ENOBUFS;
	}
	if (c->state == DOT_IDLE) {
		uv_timer_stop(&c->timer);
		conn_connect(c);
		if (c->state != DOT_CONNECTING) {
			VG_STAT_INC(u->stats.tls_refused);
			return c->down_err; /* failed at once (q was not queued yet) */
		}
	}
	q_link(c, q);
	if (c->state == DOT_READY) {
		uv_timer_stop(&c->timer); /* not idle any more */
		if (write_query(c, q) < 0 || flush(c) < 0)
			conn_drop_socket(c, false); /* q is queued again for the next one */
	}
	/* else it is written once the connection is up */
	return 0;
}

void vg__dot_shutdown(struct vg_upstream *u)
{
	while (u->dot) {
		struct vg__dot_conn *c = u->dot;
		u->dot = c->next;
		u->n_dot--;
		c->freeing = true;
		uv_timer_stop(&c->timer);
		if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp))
			uv_close((uv_handle_t *)&c->tcp, on_closed);
		uv_close((uv_handle_t *)&c->timer, conn_freed);
	}
}
