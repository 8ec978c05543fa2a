/* SPDX-License-Identifier: MIT
 *
 * DNS over HTTPS on a stream connection: the connection's HTTP/2 session
 * (src/http, nghttp2) between its plaintext and the pipeline.  Over TLS the
 * plaintext comes out of the session into the connection's buffer (tcp.c);
 * a cleartext HTTP/2 listener (behind a reverse proxy) feeds the socket's
 * bytes straight in.
 *
 * Each HTTP request is one query to the pipeline, with the connection's
 * client description plus the stream, the client ID from the path (which
 * wins over one from SNI) and, when the peer is a trusted proxy, the client
 * address from the configured forwarded header.
 */
#include <arpa/inet.h>
#include <string.h>

#include "net/stream.h"

/* The client address a trusted proxy reports: the last entry of
 * X-Forwarded-For (the one the proxy itself added), or the last for= of
 * Forwarded (RFC 7239), an address with an optional port.  0 or negative. */
static int forwarded_addr(const char *v, uint16_t port, struct vg_sockaddr *out)
{
	const char *last = strrchr(v, ',');
	char tok[128];
	last = last ? last + 1 : v;
	while (*last == ' ' || *last == '\t')
		last++;
	const char *f = strcasestr(last, "for=");
	if (f)
		last = f + 4;
	size_t n = strcspn(last, ";, \t");
	if (n == 0 || n >= sizeof(tok))
		return VG_EPARSE;
	memcpy(tok, last, n);
	tok[n] = 0;
	char *t = tok;
	if (*t == '"') { /* for="[2001:db8::1]:4711" */
		t++;
		size_t l = strlen(t);
		if (!l || t[l - 1] != '"')
			return VG_EPARSE;
		t[l - 1] = 0;
	}
	if (vg_sockaddr_parse(t, port, out) < 0)
		return VG_EPARSE;
	return 0;
}

static void on_query(void *arg, int32_t sid, const uint8_t *q, size_t len, const char *id,
		     const char *fwd)
{
	struct vg_tcp_conn *c = arg;
	const struct vg_net_opts *net = c->w->snap->net;
	struct vg_client cl = c->client;
	cl.stream = sid;
	if (id[0])
		snprintf(cl.id, sizeof(cl.id), "%s", id);
	if (fwd[0] && net->n_trusted_proxies &&
	    vg_prefix_longest(net->trusted_proxies, net->n_trusted_proxies,
			      sizeof(net->trusted_proxies[0]), &c->client.addr.u.sa) >= 0) {
		struct vg_sockaddr a;
		if (forwarded_addr(fwd, 0, &a) == 0)
			cl.addr = a;
		else
			vg_log(VG_LOG_DEBUG, "DoH: unusable %s from a trusted proxy: %.80s",
			       net->doh.forwarded_header, fwd);
	}
	vg__conn_query(c, q, len, &cl);
}

/* Send what the session has to send, gathered into few TLS records. */
static int flush(struct vg_tcp_conn *c)
{
	uint8_t *buf = c->w->h2_tx;
	size_t have = 0;
	for (;;) {
		const uint8_t *out;
		size_t len;
		int r = vg_doh_output(c->doh, &out, &len);
		if (r < 0)
			return r;
		if (!len || have + len > VG_NET_TLS_BUF) {
			vg__conn_write(c, buf, have);
			have = 0;
		}
		if (!len)
			break;
		if (len > VG_NET_TLS_BUF) {
			vg__conn_write(c, out, len);
			continue;
		}
		memcpy(buf + have, out, len);
		have += len;
	}
	if (vg_doh_is_done(c->doh))
		vg__conn_close(c);
	return 0;
}

static void feed(struct vg_tcp_conn *c, const uint8_t *p, size_t len)
{
	c->in_feed = true;
	int r = vg_doh_input(c->doh, p, len, uv_now(&c->w->loop));
	c->in_feed = false;
	if (r < 0) {
		const struct vg_doh_stats *st = vg_doh_stats(c->doh);
		char a[VG_ADDRSTRLEN];
		vg_log(VG_LOG_INFO, "DoH connection from %s closed: %s",
		       vg_sockaddr_str(&c->client.addr, VG_ADDR_PORT, a, sizeof(a)),
		       st->goaway ? st->goaway : vg_strerror(r));
	}
	if (c->closing)
		return;
	if (flush(c) < 0 || r < 0)
		vg__conn_close(c);
}

int vg__doh_start(struct vg_tcp_conn *c)
{
	const struct vg_doh_cb cb = { .arg = c, .query = on_query };
	c->doh = vg_doh_new(&c->w->snap->net->doh, &cb);
	if (!c->doh)
		return VG_ENOMEM;
	return flush(c); /* our SETTINGS */
}

void vg__doh_input(struct vg_tcp_conn *c, const uint8_t *p, size_t len)
{
	if (c->doh && !c->closing)
		feed(c, p, len);
}

void vg__doh_process(struct vg_tcp_conn *c)
{
	if (!c->doh || c->closing || !c->have || c->in_feed)
		return;
	size_t n = c->have;
	c->have = 0; /* the session copies what it keeps */
	feed(c, c->buf, n);
}

void vg__doh_answer(struct vg_tcp_conn *c, int32_t stream, const uint8_t *pkt, size_t len)
{
	if (c->doh && !c->closing) {
		/* VG_ENOTFOUND: the client reset the stream; nothing to send */
		/* each answer in TLS records of its own, at once, even while the
		 * session parses input (it allows output then): some clients
		 * (dnsperf 2.10) take one response per record they read */
		vg_doh_answer(c->doh, stream, pkt, len);
		if (flush(c) < 0)
			vg__conn_close(c);
	}
	vg__conn_query_done(c);
}

void vg__doh_free(struct vg_tcp_conn *c)
{
	vg_doh_free(c->doh);
	c->doh = NULL;
}
