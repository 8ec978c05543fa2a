/* SPDX-License-Identifier: MIT
 *
 * One DNS-over-HTTPS server connection over memory buffers: nghttp2's
 * server session fed by vg_doh_input() and drained by vg_doh_output(), the
 * RFC 8484 request rules, the answers' Cache-Control, and the abuse limits
 * doh.h lists.  Sockets, TLS and timers belong to the transport (src/net).
 *
 * Design.  Every request stream gets a record of ours (struct stream), set
 * as nghttp2's stream user data and kept in the session's list, in one of
 * these states:
 *   ST_HEADERS  reading the header block (pseudo-headers checked as they come)
 *   ST_BODY     a POST whose body is arriving
 *   ST_READY    complete and valid, waiting in the ready list
 *   ST_QUERIED  handed to the query callback, waiting for vg_doh_answer()
 *   ST_DONE     response or RST_STREAM submitted; the record goes when
 *               nghttp2 closes the stream
 * Queries are not handed out from inside nghttp2's callbacks but after
 * nghttp2_session_mem_recv() has returned (the ready list): the transport
 * may then answer synchronously, even pull output, without re-entering
 * nghttp2, and a request the client resets later in the same input never
 * reaches the pipeline.  When the client resets a stream in ST_QUERIED, the
 * record stays as an orphan (closed, no buffers) until the pipeline's
 * answer arrives, so vg_doh_answer() recognises and drops it; looking the
 * stream up in our own list, never through nghttp2's user data, is what
 * makes a late answer safe.  HTTP/2 stream IDs are never reused within a
 * connection, so the ID alone identifies the record.
 */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "core/core.h"
#include "http/doh.h"
#include "vigil/wire.h"

#define DEF_PATH "/dns-query"
#define DEF_MAX_STREAMS 100
#define DEF_MAX_HEADER_LIST 8192
#define DEF_MAX_BUFFERED (1u << 20)
#define DEF_MAX_H2_MEM (256u << 10)
#define DEF_WINDOW_MS 10000
#define DEF_MAX_RESETS 200
#define DEF_MAX_PINGS 100
#define DEF_MAX_SETTINGS 100
#define DEF_MAX_OTHER 1000
#define H2_MAX_OUTBOUND_ACK 100 /* PING/SETTINGS ACKs queued and not yet sent */
#define H2_MAX_SETTINGS_ENTRIES 16

enum { ST_HEADERS, ST_BODY, ST_READY, ST_QUERIED, ST_DONE };
enum { M_NONE, M_GET, M_POST, M_OTHER };
enum { F_RESET, F_PING, F_SETTINGS, F_OTHER, F_N };

struct stream {
	struct stream *prev, *next;   /* d->streams */
	struct stream *rprev, *rnext; /* d->ready, while ST_READY */
	int32_t sid;
	uint8_t state, method;
	bool closed;      /* nghttp2 has closed the stream: an orphan if ST_QUERIED */
	bool path_bad;    /* 404 */
	bool ctype_ok;    /* POST media type */
	bool too_big;     /* 413 */
	bool bad;         /* 400 */
	bool hdr_over;    /* 431 */
	bool refuse;      /* the buffer cap: RST_STREAM REFUSED_STREAM */
	uint8_t ndns;     /* dns= parameters seen */
	size_t hdr_bytes;
	uint8_t *buf;     /* request body or decoded query, then the answer */
	size_t len, cap, off;
	char id[VG_DOH_ID_MAX];
	char fwd[VG_DOH_FWD_MAX];
	size_t fwdlen;
};

struct vg_doh {
	nghttp2_session *h2;
	nghttp2_mem mem;
	struct vg_doh_opts o;
	size_t pathlen;         /* o.path without a trailing '/' */
	size_t fwdnamelen;
	struct vg_doh_cb cb;
	struct stream *streams;
	struct stream *ready, *ready_tail;
	unsigned nstreams;      /* records, orphans included */
	unsigned norphans;
	unsigned inflight;      /* ST_QUERIED records */
	size_t buffered;        /* bytes of bodies and answers held */
	uint64_t now, win_start;
	unsigned fcount[F_N];
	const char *calm;       /* a flood limit was hit: why */
	bool in_input;          /* inside vg_doh_input(): no re-entry */
	bool free_pending;      /* vg_doh_free() called from a query callback */
	bool dead;              /* a fatal error: nothing more to do */
	struct vg_doh_stats st;
};

/* ------------------------------------------------------------ allocator */

/*
 * nghttp2's allocations for this connection, counted and capped: a size
 * header in front of every block (aligned for any type) so free() knows
 * what to give back.
 */
union memhdr {
	size_t size;
	max_align_t align;
};

static void *mem_malloc(size_t size, void *ud)
{
	struct vg_doh *d = ud;
	if (size > d->o.max_h2_mem - d->st.h2_mem)
		return NULL;
	union memhdr *h = malloc(sizeof(*h) + size);
	if (!h)
		return NULL;
	h->size = size;
	d->st.h2_mem += size;
	if (d->st.h2_mem > d->st.h2_mem_peak)
		d->st.h2_mem_peak = d->st.h2_mem;
	return h + 1;
}

static void mem_free(void *p, void *ud)
{
	struct vg_doh *d = ud;
	if (!p)
		return;
	union memhdr *h = (union memhdr *)p - 1;
	d->st.h2_mem -= h->size;
	free(h);
}

static void *mem_calloc(size_t n, size_t size, void *ud)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	void *p = mem_malloc(n * size, ud);
	if (p)
		memset(p, 0, n * size);
	return p;
}

static void *mem_realloc(void *p, size_t size, void *ud)
{
	struct vg_doh *d = ud;
	if (!p)
		return mem_malloc(size, ud);
	union memhdr *h = (union memhdr *)p - 1;
	size_t old = h->size;
	if (size > old && size - old > d->o.max_h2_mem - d->st.h2_mem)
		return NULL;
	union memhdr *n = realloc(h, sizeof(*n) + size);
	if (!n)
		return NULL;
	n->size = size;
	d->st.h2_mem = d->st.h2_mem - old + size;
	if (d->st.h2_mem > d->st.h2_mem_peak)
		d->st.h2_mem_peak = d->st.h2_mem;
	return n + 1;
}

/* ------------------------------------------------------------ helpers */

int vg_doh_b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap)
{
	if (inlen % 4 == 1)
		return VG_EMALFORMED;
	size_t outlen = inlen / 4 * 3 + (inlen % 4 ? inlen % 4 - 1 : 0);
	if (outlen > cap || outlen > INT32_MAX)
		return VG_ENOSPACE;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < inlen; i++) {
		char c = in[i];
		uint32_t v;
		if (c >= 'A' && c <= 'Z')
			v = (uint32_t)(c - 'A');
		else if (c >= 'a' && c <= 'z')
			v = (uint32_t)(c - 'a' + 26);
		else if (c >= '0' && c <= '9')
			v = (uint32_t)(c - '0' + 52);
		else if (c == '-')
			v = 62;
		else if (c == '_')
			v = 63;
		else
			return VG_EMALFORMED; /* '=' padding, '+', '/', '%', ... */
		acc = acc << 6 | v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc) /* the unused low bits of the last character must be 0 */
		return VG_EMALFORMED;
	return (int)o;
}

uint32_t vg_doh_max_age(const uint8_t *pkt, size_t len)
{
	if (len < VG_HDR_LEN)
		return 0;
	unsigned qd = vg_get16(pkt + 4), an = vg_get16(pkt + 6), ns = vg_get16(pkt + 8);
	size_t off = VG_HDR_LEN;
	for (unsigned i = 0; i < qd; i++) {
		int r = vg_name_skip(pkt, len, off);
		if (r < 0 || len - (size_t)r < 4)
			return 0;
		off = (size_t)r + 4;
	}
	uint32_t min = UINT32_MAX;
	bool any = false;
	for (unsigned i = 0; i < an + ns; i++) {
		int r = vg_name_skip(pkt, len, off);
		if (r < 0 || len - (size_t)r < 10)
			return 0;
		off = (size_t)r;
		uint16_t type = vg_get16(pkt + off);
		uint32_t ttl = vg_get32(pkt + off + 4);
		uint16_t rdlen = vg_get16(pkt + off + 8);
		off += 10;
		if (len - off < rdlen)
			return 0;
		if (ttl & 0x80000000u) /* RFC 2181 8: treated as 0 */
			ttl = 0;
		if (type == VG_T_OPT) { /* not a record: never in these sections anyway */
			off += rdlen;
			continue;
		}
		/* negative answer: the SOA's own TTL and its MINIMUM (RFC 2308 5) */
		if (type == VG_T_SOA && an == 0 && rdlen >= 22) {
			uint32_t minimum = vg_get32(pkt + off + rdlen - 4);
			if (minimum < ttl)
				ttl = minimum;
		}
		if (ttl < min)
			min = ttl;
		any = true;
		off += rdlen;
	}
	return any ? min : 0;
}

static bool count_frame(struct vg_doh *d, int kind)
{
	static const char *const why[F_N] = { "rapid reset", "PING flood", "SETTINGS flood",
					       "control frame flood" };
	const unsigned lim[F_N] = { d->o.max_resets, d->o.max_pings, d->o.max_settings,
				    d->o.max_other };
	if (d->now - d->win_start >= d->o.window_ms) {
		d->win_start = d->now;
		memset(d->fcount, 0, sizeof(d->fcount));
	}
	if (++d->fcount[kind] <= lim[kind])
		return true;
	d->calm = why[kind];
	return false;
}

static void ready_unlink(struct vg_doh *d, struct stream *s)
{
	if (s->rprev)
		s->rprev->rnext = s->rnext;
	else
		d->ready = s->rnext;
	if (s->rnext)
		s->rnext->rprev = s->rprev;
	else
		d->ready_tail = s->rprev;
	s->rprev = s->rnext = NULL;
}

static void buf_release(struct vg_doh *d, struct stream *s)
{
	free(s->buf);
	d->buffered -= s->cap;
	s->buf = NULL;
	s->len = s->cap = s->off = 0;
}

/* room for @need bytes in s->buf, within max_buffered: 0 or VG_ELIMIT/VG_ENOMEM */
static int buf_reserve(struct vg_doh *d, struct stream *s, size_t need, size_t most)
{
	if (need <= s->cap)
		return 0;
	size_t ncap = s->cap ? s->cap * 2 : 512;
	if (ncap < need)
		ncap = need;
	if (ncap > most)
		ncap = most;
	if (ncap - s->cap > d->o.max_buffered - d->buffered)
		return VG_ELIMIT;
	uint8_t *n = realloc(s->buf, ncap);
	if (!n)
		return VG_ENOMEM;
	d->buffered += ncap - s->cap;
	s->buf = n;
	s->cap = ncap;
	return 0;
}

static void stream_free(struct vg_doh *d, struct stream *s)
{
	if (s->state == ST_READY)
		ready_unlink(d, s);
	if (s->prev)
		s->prev->next = s->next;
	else
		d->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	buf_release(d, s);
	d->nstreams--;
	free(s);
}

static struct stream *stream_find(struct vg_doh *d, int32_t sid)
{
	for (struct stream *s = d->streams; s; s = s->next)
		if (s->sid == sid)
			return s;
	return NULL;
}

#define NV(n, v, vlen) \
	{ (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vlen), NGHTTP2_NV_FLAG_NONE }

static void respond_error(struct vg_doh *d, struct stream *s, int status)
{
	char st[4];
	snprintf(st, sizeof(st), "%d", status);
	nghttp2_nv nv[] = {
		NV(":status", st, 3),
		NV("content-length", "0", 1),
		NV("allow", "GET, POST", 9),
	};
	size_t n = status == 405 ? 3 : 2;
	if (s->state == ST_READY)
		ready_unlink(d, s);
	s->state = ST_DONE;
	buf_release(d, s);
	d->st.http_errors++;
	/* fails only when the stream is already closing or out of memory: nothing to add */
	nghttp2_submit_response(d->h2, s->sid, nv, n, NULL);
}

static void refuse(struct vg_doh *d, int32_t sid, struct stream *s)
{
	if (s) {
		if (s->state == ST_READY)
			ready_unlink(d, s);
		s->state = ST_DONE;
		buf_release(d, s);
	}
	d->st.refused++;
	nghttp2_submit_rst_stream(d->h2, NGHTTP2_FLAG_NONE, sid, NGHTTP2_REFUSED_STREAM);
}

/* ------------------------------------------------------------ request parsing */

static bool ieq_prefix(const uint8_t *v, size_t vlen, const char *lit)
{
	size_t n = strlen(lit);
	if (vlen < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = v[i];
		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c - 'A' + 'a');
		if (c != (uint8_t)lit[i])
			return false;
	}
	return true;
}

static void parse_ctype(struct stream *s, const uint8_t *v, size_t len)
{
	static const char mt[] = "application/dns-message";
	while (len && (*v == ' ' || *v == '\t'))
		v++, len--;
	s->ctype_ok = false;
	if (!ieq_prefix(v, len, mt))
		return;
	size_t n = sizeof(mt) - 1;
	s->ctype_ok = len == n || v[n] == ';' || v[n] == ' ' || v[n] == '\t';
}

/* the value of a dns= parameter: decoded into s->buf, or the reason it is not */
static void take_dns(struct vg_doh *d, struct stream *s, const char *b, size_t blen)
{
	size_t out = blen / 4 * 3 + (blen % 4 ? blen % 4 - 1 : 0);
	if (out > d->o.max_msg) {
		s->too_big = true;
		return;
	}
	if (blen == 0 || blen % 4 == 1) {
		s->bad = true;
		return;
	}
	if (buf_reserve(d, s, out, out) < 0) {
		s->refuse = true; /* the connection's buffer cap */
		return;
	}
	int r = vg_doh_b64url_decode(b, blen, s->buf, s->cap);
	if (r < 0)
		s->bad = true;
	else
		s->len = (size_t)r;
}

/* the query string: exactly one dns= parameter; other parameters are ignored */
static void parse_query(struct vg_doh *d, struct stream *s, const char *q, size_t len)
{
	while (len) {
		const char *amp = memchr(q, '&', len);
		size_t plen = amp ? (size_t)(amp - q) : len;
		if (plen >= 3 && memcmp(q, "dns", 3) == 0 && (plen == 3 || q[3] == '=')) {
			if (++s->ndns > 1 || plen == 3)
				s->bad = true;
			else
				take_dns(d, s, q + 4, plen - 4);
		}
		if (!amp)
			break;
		q = amp + 1;
		len -= plen + 1;
	}
}

static void parse_path(struct vg_doh *d, struct stream *s, const char *v, size_t len)
{
	const char *qm = memchr(v, '?', len);
	size_t plen = qm ? (size_t)(qm - v) : len;
	size_t bl = d->pathlen;
	s->id[0] = 0;
	if (plen >= bl && memcmp(v, d->o.path, bl) == 0 &&
	    (plen == bl || (bl == 0 && plen == 1 && v[0] == '/'))) {
		/* the configured path itself ("/" when configured as "/") */
	} else if (plen > bl + 1 && memcmp(v, d->o.path, bl) == 0 && v[bl] == '/') {
		const char *id = v + bl + 1;
		size_t idl = plen - bl - 1;
		if (idl >= VG_DOH_ID_MAX) {
			s->path_bad = true;
			return;
		}
		for (size_t i = 0; i < idl; i++) {
			char c = id[i];
			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
				s->path_bad = true;
				return;
			}
			s->id[i] = c;
		}
		s->id[idl] = 0;
	} else {
		s->path_bad = true;
		return;
	}
	if (qm)
		parse_query(d, s, qm + 1, len - plen - 1);
}

/* the request is complete: check it is a DNS query, then queue it for the callback */
static void request_complete(struct vg_doh *d, struct stream *s)
{
	struct vg_query q;
	int rcode;
	if (s->len < VG_HDR_LEN || vg_query_parse(&q, s->buf, s->len, &rcode) < 0) {
		respond_error(d, s, 400);
		return;
	}
	s->state = ST_READY;
	s->rprev = d->ready_tail;
	s->rnext = NULL;
	if (d->ready_tail)
		d->ready_tail->rnext = s;
	else
		d->ready = s;
	d->ready_tail = s;
}

static void headers_done(struct vg_doh *d, struct stream *s, bool end_stream)
{
	int status = 0;
	if (s->refuse) {
		refuse(d, s->sid, s);
		return;
	}
	if (s->hdr_over)
		status = 431;
	else if (s->path_bad)
		status = 404;
	else if (s->method != M_GET && s->method != M_POST)
		status = 405;
	else if (s->method == M_POST && !s->ctype_ok)
		status = 415;
	else if (s->method == M_GET && s->too_big)
		status = 413;
	else if (s->method == M_GET && (s->bad || s->ndns != 1))
		status = 400;
	if (status) {
		respond_error(d, s, status);
		return;
	}
	if (s->method == M_GET) {
		request_complete(d, s); /* a body after a GET is ignored */
		return;
	}
	buf_release(d, s); /* a dns= parameter on a POST is ignored */
	s->state = ST_BODY;
	if (end_stream)
		request_complete(d, s);
}

/* ------------------------------------------------------------ nghttp2 callbacks */

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	struct vg_doh *d = ud;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (d->norphans >= d->o.max_orphans ||
	    d->nstreams >= d->o.max_streams + d->o.max_orphans) {
		refuse(d, f->hd.stream_id, NULL);
		return 0;
	}
	struct stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM INTERNAL_ERROR */
	s->sid = f->hd.stream_id;
	s->next = d->streams;
	if (d->streams)
		d->streams->prev = s;
	d->streams = s;
	d->nstreams++;
	nghttp2_session_set_stream_user_data(h2, s->sid, s);
	return 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *ud)
{
	struct vg_doh *d = ud;
	(void)flags;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct stream *s = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
	if (!s || s->state != ST_HEADERS || s->hdr_over)
		return 0;
	s->hdr_bytes += namelen + valuelen + 32;
	if (s->hdr_bytes > d->o.max_header_list) {
		s->hdr_over = true;
		buf_release(d, s);
		return 0;
	}
	if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
		if (valuelen == 3 && memcmp(value, "GET", 3) == 0)
			s->method = M_GET;
		else if (valuelen == 4 && memcmp(value, "POST", 4) == 0)
			s->method = M_POST;
		else
			s->method = M_OTHER;
	} else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
		parse_path(d, s, (const char *)value, valuelen);
	} else if (namelen == 12 && memcmp(name, "content-type", 12) == 0) {
		parse_ctype(s, value, valuelen);
	} else if (d->fwdnamelen && namelen == d->fwdnamelen &&
		   memcmp(name, d->o.forwarded_header, namelen) == 0) {
		size_t sep = s->fwdlen ? 2 : 0;
		if (s->fwdlen + sep + valuelen >= sizeof(s->fwd)) {
			s->hdr_over = true;
			buf_release(d, s);
			return 0;
		}
		memcpy(s->fwd + s->fwdlen, ", ", sep);
		memcpy(s->fwd + s->fwdlen + sep, value, valuelen);
		s->fwdlen += sep + valuelen;
		s->fwd[s->fwdlen] = 0;
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t sid, const uint8_t *data,
			 size_t len, void *ud)
{
	struct vg_doh *d = ud;
	(void)flags;
	struct stream *s = nghttp2_session_get_stream_user_data(h2, sid);
	if (!s || s->state != ST_BODY)
		return 0;
	if (len > d->o.max_msg - s->len) {
		respond_error(d, s, 413);
		return 0;
	}
	int r = buf_reserve(d, s, s->len + len, d->o.max_msg);
	if (r < 0) {
		refuse(d, sid, s);
		return 0;
	}
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	return 0;
}

/*
 * Every frame header, before nghttp2 looks further: the flood counters.
 * Counted here rather than in on_frame_recv because nghttp2 does not report
 * PRIORITY frames there once RFC 7540 priorities are off.  (Frames of
 * unknown types reach neither callback: nghttp2 skips them unparsed, which
 * costs no more than reading their bytes.)  PRIORITY_UPDATE (RFC 9218) and
 * WINDOW_UPDATE are not counted: well-behaved clients send one per request
 * or per window of answers.
 */
static int on_begin_frame(nghttp2_session *h2, const nghttp2_frame_hd *hd, void *ud)
{
	struct vg_doh *d = ud;
	bool ok = true;
	(void)h2;
	switch (hd->type) {
	case NGHTTP2_DATA:
		if (hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM))
			ok = count_frame(d, F_OTHER);
		break;
	case NGHTTP2_HEADERS:
	case NGHTTP2_PUSH_PROMISE:
	case NGHTTP2_GOAWAY:
	case NGHTTP2_WINDOW_UPDATE:
	case NGHTTP2_CONTINUATION:
	case NGHTTP2_PRIORITY_UPDATE:
		break;
	case NGHTTP2_RST_STREAM:
		ok = count_frame(d, F_RESET);
		break;
	case NGHTTP2_PING:
		if (!(hd->flags & NGHTTP2_FLAG_ACK))
			ok = count_frame(d, F_PING);
		break;
	case NGHTTP2_SETTINGS:
		if (!(hd->flags & NGHTTP2_FLAG_ACK))
			ok = count_frame(d, F_SETTINGS);
		break;
	default: /* PRIORITY, and extension types nghttp2 knows (ALTSVC, ORIGIN) */
		ok = count_frame(d, F_OTHER);
		break;
	}
	/* stops nghttp2 at once; vg_doh_input() then sends GOAWAY ENHANCE_YOUR_CALM */
	return ok ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	struct vg_doh *d = ud;
	bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;
	struct stream *s;

	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	s = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
	if (!s)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS && s->state == ST_HEADERS &&
	    f->headers.cat == NGHTTP2_HCAT_REQUEST)
		headers_done(d, s, end);
	else if (s->state == ST_BODY && end) /* the end of the body, or trailers */
		request_complete(d, s);
	return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t sid, uint32_t error_code, void *ud)
{
	struct vg_doh *d = ud;
	(void)error_code;
	struct stream *s = nghttp2_session_get_stream_user_data(h2, sid);
	if (!s)
		return 0;
	nghttp2_session_set_stream_user_data(h2, sid, NULL);
	if (s->state == ST_QUERIED) {
		/* the pipeline still owes the answer: keep an orphan to recognise it */
		s->closed = true;
		buf_release(d, s);
		d->norphans++;
		return 0;
	}
	stream_free(d, s);
	return 0;
}

static ssize_t read_answer(nghttp2_session *h2, int32_t sid, uint8_t *buf, size_t length,
			   uint32_t *data_flags, nghttp2_data_source *src, void *ud)
{
	struct vg_doh *d = ud;
	struct stream *s = src->ptr;
	(void)h2;
	(void)sid;
	size_t n = s->len - s->off;
	if (n > length)
		n = length;
	memcpy(buf, s->buf + s->off, n);
	s->off += n;
	if (s->off == s->len) {
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
		buf_release(d, s); /* sent: the memory goes back to the connection's budget */
	}
	return (ssize_t)n;
}

/* ------------------------------------------------------------ the session */

static void fill_defaults(struct vg_doh_opts *o)
{
	if (!o->path[0])
		snprintf(o->path, sizeof(o->path), "%s", DEF_PATH);
	if (!o->max_streams)
		o->max_streams = DEF_MAX_STREAMS;
	if (!o->max_header_list)
		o->max_header_list = DEF_MAX_HEADER_LIST;
	if (!o->max_msg || o->max_msg > VG_DOH_MSG_MAX)
		o->max_msg = VG_DOH_MSG_MAX;
	if (!o->max_orphans)
		o->max_orphans = o->max_streams;
	if (!o->max_buffered)
		o->max_buffered = DEF_MAX_BUFFERED;
	if (!o->max_h2_mem)
		o->max_h2_mem = DEF_MAX_H2_MEM;
	if (!o->window_ms)
		o->window_ms = DEF_WINDOW_MS;
	if (!o->max_resets)
		o->max_resets = DEF_MAX_RESETS;
	if (!o->max_pings)
		o->max_pings = DEF_MAX_PINGS;
	if (!o->max_settings)
		o->max_settings = DEF_MAX_SETTINGS;
	if (!o->max_other)
		o->max_other = DEF_MAX_OTHER;
}

struct vg_doh *vg_doh_new(const struct vg_doh_opts *opts, const struct vg_doh_cb *cb)
{
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	if (!cb->query)
		return NULL;
	struct vg_doh *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->o = *opts;
	d->cb = *cb;
	fill_defaults(&d->o);
	d->o.path[sizeof(d->o.path) - 1] = 0;
	d->o.forwarded_header[sizeof(d->o.forwarded_header) - 1] = 0;
	if (d->o.path[0] != '/' || strchr(d->o.path, '?'))
		goto fail;
	d->pathlen = strlen(d->o.path);
	while (d->pathlen && d->o.path[d->pathlen - 1] == '/')
		d->pathlen--;
	for (char *p = d->o.forwarded_header; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	d->fwdnamelen = strlen(d->o.forwarded_header);

	d->mem = (nghttp2_mem){ d, mem_malloc, mem_free, mem_calloc, mem_realloc };
	if (nghttp2_session_callbacks_new(&cbs) || nghttp2_option_new(&opt))
		goto fail;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_option_set_no_closed_streams(opt, 1);
	nghttp2_option_set_max_outbound_ack(opt, H2_MAX_OUTBOUND_ACK);
	nghttp2_option_set_max_settings(opt, H2_MAX_SETTINGS_ENTRIES);
	if (nghttp2_session_server_new3(&d->h2, cbs, d, opt, &d->mem))
		goto fail;

	nghttp2_settings_entry set[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, d->o.max_streams },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, d->o.max_header_list },
		{ NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1 },
	};
	if (nghttp2_submit_settings(d->h2, NGHTTP2_FLAG_NONE, set, VG_ARRAY_SIZE(set)))
		goto fail;
	nghttp2_session_callbacks_del(cbs);
	nghttp2_option_del(opt);
	return d;
fail:
	if (cbs)
		nghttp2_session_callbacks_del(cbs);
	if (opt)
		nghttp2_option_del(opt);
	vg_doh_free(d);
	return NULL;
}

static int h2_error(int rv)
{
	if (rv == NGHTTP2_ERR_NOMEM)
		return VG_ENOMEM;
	if (rv == NGHTTP2_ERR_FLOODED)
		return VG_ELIMIT;
	return VG_EMALFORMED;
}

/* hand the complete requests to the query callback, oldest first */
static void dispatch(struct vg_doh *d)
{
	while (d->ready && !d->free_pending) {
		struct stream *s = d->ready;
		ready_unlink(d, s);
		s->state = ST_QUERIED;
		d->inflight++;
		d->st.queries++;
		/*
		 * The callback may answer, pull output and so close and free the
		 * stream: take the query and the strings out of the record first.
		 */
		uint8_t *q = s->buf;
		size_t qlen = s->len, qcap = s->cap;
		char id[VG_DOH_ID_MAX], fwd[VG_DOH_FWD_MAX];
		memcpy(id, s->id, sizeof(id));
		memcpy(fwd, s->fwd, s->fwdlen + 1);
		int32_t sid = s->sid;
		s->buf = NULL;
		s->len = s->cap = 0;
		d->cb.query(d->cb.arg, sid, q, qlen, id, fwd);
		free(q);
		d->buffered -= qcap;
	}
}

int vg_doh_input(struct vg_doh *d, const uint8_t *in, size_t len, uint64_t now_ms)
{
	if (d->in_input)
		return VG_EINVAL;
	if (d->dead || d->calm)
		return d->calm ? VG_ELIMIT : VG_EMALFORMED;
	int ret = 0;
	d->in_input = true;
	d->now = now_ms;
	if (d->now < d->win_start) /* a clock that went back restarts the window */
		d->win_start = d->now;
	ssize_t rv = nghttp2_session_mem_recv(d->h2, in, len);
	if (rv < 0 || d->calm) {
		if (d->calm || rv == NGHTTP2_ERR_FLOODED) {
			if (!d->calm)
				d->calm = "nghttp2 flood guard";
			d->st.goaway = d->calm;
			vg_log(VG_LOG_DEBUG, "doh: %s, GOAWAY ENHANCE_YOUR_CALM", d->calm);
			nghttp2_session_terminate_session(d->h2, NGHTTP2_ENHANCE_YOUR_CALM);
			ret = VG_ELIMIT;
		} else {
			ret = h2_error((int)rv);
			if (rv != NGHTTP2_ERR_NOMEM)
				nghttp2_session_terminate_session(d->h2, NGHTTP2_PROTOCOL_ERROR);
			else
				d->dead = true;
		}
		goto out;
	}
	dispatch(d);
out:
	d->in_input = false;
	if (d->free_pending) {
		d->free_pending = false;
		vg_doh_free(d);
	}
	return ret;
}

int vg_doh_answer(struct vg_doh *d, int32_t sid, const uint8_t *pkt, size_t len)
{
	struct stream *s = stream_find(d, sid);
	if (!s || s->state != ST_QUERIED)
		return VG_ENOTFOUND;
	d->inflight--;
	/* reset by the client while the pipeline worked, or the connection failed */
	if (s->closed || d->dead || d->calm || vg_doh_is_done(d)) {
		if (s->closed)
			d->norphans--;
		else if (d->h2)
			nghttp2_session_set_stream_user_data(d->h2, sid, NULL);
		d->st.dropped++;
		stream_free(d, s);
		return VG_ENOTFOUND;
	}
	s->state = ST_DONE;
	if (len == 0) {
		d->st.dropped++;
		nghttp2_submit_rst_stream(d->h2, NGHTTP2_FLAG_NONE, sid, NGHTTP2_CANCEL);
		return 0;
	}
	if (len > VG_DOH_MSG_MAX || buf_reserve(d, s, len, len) < 0) {
		respond_error(d, s, 503);
		return 0;
	}
	memcpy(s->buf, pkt, len);
	s->len = len;
	s->off = 0;

	char clen[12], cc[24];
	int cl = snprintf(clen, sizeof(clen), "%zu", len);
	int ccl = snprintf(cc, sizeof(cc), "max-age=%u", (unsigned)vg_doh_max_age(pkt, len));
	nghttp2_nv nv[] = {
		NV(":status", "200", 3),
		NV("content-type", "application/dns-message", 23),
		NV("content-length", clen, (size_t)cl),
		NV("cache-control", cc, (size_t)ccl),
	};
	nghttp2_data_provider prd = { .source.ptr = s, .read_callback = read_answer };
	int rv = nghttp2_submit_response(d->h2, sid, nv, VG_ARRAY_SIZE(nv), &prd);
	if (rv) { /* the session is closing (GOAWAY) or out of memory: drop the answer */
		buf_release(d, s);
		d->st.dropped++;
		return rv == NGHTTP2_ERR_NOMEM ? VG_ENOMEM : VG_ENOTFOUND;
	}
	d->st.answered++;
	return 0;
}

int vg_doh_output(struct vg_doh *d, const uint8_t **out, size_t *len)
{
	*len = 0;
	*out = NULL;
	if (d->dead)
		return 0;
	ssize_t n = nghttp2_session_mem_send(d->h2, out);
	if (n < 0) {
		d->dead = true;
		return h2_error((int)n);
	}
	*len = (size_t)n;
	return 0;
}

int vg_doh_shutdown(struct vg_doh *d)
{
	if (d->dead)
		return 0;
	int rv = nghttp2_submit_goaway(d->h2, NGHTTP2_FLAG_NONE,
				       nghttp2_session_get_last_proc_stream_id(d->h2),
				       NGHTTP2_NO_ERROR, NULL, 0);
	return rv ? h2_error(rv) : 0;
}

bool vg_doh_is_done(const struct vg_doh *d)
{
	if (d->dead)
		return true;
	return !nghttp2_session_want_read(d->h2) && !nghttp2_session_want_write(d->h2);
}

unsigned vg_doh_inflight(const struct vg_doh *d)
{
	return d->inflight;
}

const struct vg_doh_stats *vg_doh_stats(const struct vg_doh *d)
{
	return &d->st;
}

void vg_doh_free(struct vg_doh *d)
{
	if (!d)
		return;
	if (d->in_input) {
		d->free_pending = true;
		return;
	}
	/* nghttp2 calls on_stream_close for open streams: drop the user data first */
	if (d->h2) {
		for (struct stream *s = d->streams; s; s = s->next)
			if (!s->closed)
				nghttp2_session_set_stream_user_data(d->h2, s->sid, NULL);
		nghttp2_session_del(d->h2);
	}
	while (d->streams)
		stream_free(d, d->streams);
	free(d);
}
