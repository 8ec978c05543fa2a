/* SPDX-License-Identifier: MIT
 *
 * Unit tests for src/http/doh.c: the DNS-over-HTTPS server session driven
 * by a real nghttp2 CLIENT session, both directions through memory buffers
 * (no sockets, no TLS), and a fake pipeline that records the queries and
 * answers them when a test says so (inside the callback or later, in any
 * order).  Covered: GET and POST, the status codes of RFC 8484 requests
 * (400 bad base64, padding, not a query; 404; 405 with Allow; 413; 415;
 * 431), the client ID in the path and the forwarded header, Cache-Control
 * of positive, negative and record-less answers, many concurrent streams
 * answered out of order, answers for streams the client reset (run under
 * ASan too), DROP, and the abuse limits: concurrent streams, orphaned
 * queries, rapid reset, PING and SETTINGS floods, oversize headers, the
 * buffer cap and nghttp2's memory cap.
 */
#include <check.h>

#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "core/core.h"
#include "http/doh.h"
#include "vigil/err.h"
#include "vigil/wire.h"

#define MAXS 1024 /* client streams remembered (stream ID / 2) */

struct resp {
	int status;
	char ctype[128], cc[128], allow[128], clen[128];
	uint8_t body[1024];
	size_t blen;
	bool headers, closed, rst;
	uint32_t err;
	const uint8_t *up; /* request body to upload */
	size_t uplen, upoff;
};

struct q {
	int32_t sid;
	uint8_t pkt[1024];
	size_t len;
	char id[VG_DOH_ID_MAX], fwd[VG_DOH_FWD_MAX];
	bool answered;
};

struct t {
	nghttp2_session *h2;
	struct vg_doh *d;
	struct vg_doh_opts o;
	uint64_t now;
	int rc;             /* first negative vg_doh_input() result */
	bool goaway;
	uint32_t goaway_code;
	unsigned nrst;      /* RST_STREAM frames the client received */
	struct resp r[MAXS];
	struct q qs[MAXS];
	unsigned nq;
	int sync;           /* answer inside the callback: 1 answer, 2 + output, 3 free */
	bool last_ttl;
};

static struct t *T;

/* ------------------------------------------------------------ DNS helpers */

static size_t mkquery(uint8_t *buf, size_t cap, uint16_t id, const char *qname)
{
	uint8_t n[VG_NAME_MAX];
	ck_assert_int_gt(vg_name_from_str(qname, n, sizeof(n)), 0);
	int len = vg_wire_make_query(buf, cap, id, n, VG_T_A, true, 1232, false);
	ck_assert_int_gt(len, 0);
	return (size_t)len;
}

/* answer with A records of TTL @ttl1 and @ttl2, an NS of 86400, an additional A of 5 */
static size_t mkanswer(const uint8_t *qp, size_t qlen, uint8_t *buf, size_t cap, uint32_t ttl1,
		       uint32_t ttl2)
{
	struct vg_query q;
	int rcode;
	ck_assert_int_eq(vg_query_parse(&q, qp, qlen, &rcode), 0);
	struct vg_pkt p;
	vg_pkt_init(&p, buf, cap, q.id, VG_F_QR | VG_F_RD | VG_F_RA);
	ck_assert_int_eq(vg_pkt_put_question(&p, q.qname, q.qtype, q.qclass), 0);
	vg_pkt_begin(&p, 1);
	uint8_t a1[4] = { 192, 0, 2, (uint8_t)q.id }, a2[4] = { 192, 0, 2, 200 };
	ck_assert_int_eq(vg_pkt_put_rr(&p, q.qname, VG_T_A, VG_C_IN, ttl1, a1, 4), 0);
	ck_assert_int_eq(vg_pkt_put_rr(&p, q.qname, VG_T_A, VG_C_IN, ttl2, a2, 4), 0);
	vg_pkt_begin(&p, 2);
	uint8_t ns[] = "\2ns\7example\0";
	ck_assert_int_eq(vg_pkt_put_rr(&p, (const uint8_t *)"\7example\0", VG_T_NS, VG_C_IN,
				       86400, ns, sizeof(ns) - 1), 0);
	vg_pkt_begin(&p, 3);
	ck_assert_int_eq(vg_pkt_put_rr(&p, ns, VG_T_A, VG_C_IN, 5, a2, 4), 0);
	ck_assert_int_eq(vg_pkt_put_opt(&p, 1232, 0, false, NULL, 0), 0);
	return vg_pkt_finish(&p);
}

/* NXDOMAIN with an authority SOA of TTL @ttl and MINIMUM @min */
static size_t mknegative(const uint8_t *qp, size_t qlen, uint8_t *buf, size_t cap, uint32_t ttl,
			 uint32_t min)
{
	struct vg_query q;
	int rcode;
	ck_assert_int_eq(vg_query_parse(&q, qp, qlen, &rcode), 0);
	struct vg_pkt p;
	vg_pkt_init(&p, buf, cap, q.id, VG_F_QR | VG_F_RD | VG_F_RA);
	vg_pkt_set_rcode(&p, VG_RCODE_NXDOMAIN);
	ck_assert_int_eq(vg_pkt_put_question(&p, q.qname, q.qtype, q.qclass), 0);
	vg_pkt_begin(&p, 2);
	uint8_t rd[64];
	size_t n = 0;
	memcpy(rd, "\2ns\7example\0", 12);
	n = 12;
	memcpy(rd + n, "\4host\7example\0", 14);
	n += 14;
	vg_put32(rd + n, 2026); /* serial */
	vg_put32(rd + n + 4, 7200);
	vg_put32(rd + n + 8, 3600);
	vg_put32(rd + n + 12, 1209600);
	vg_put32(rd + n + 16, min);
	n += 20;
	ck_assert_int_eq(vg_pkt_put_rr(&p, (const uint8_t *)"\7example\0", VG_T_SOA, VG_C_IN, ttl,
				       rd, (uint16_t)n), 0);
	return vg_pkt_finish(&p);
}

static void b64url(const uint8_t *in, size_t len, char *out)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		acc = acc << 8 | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = a[(acc >> bits) & 63];
		}
	}
	if (bits)
		out[o++] = a[(acc << (6 - bits)) & 63];
	out[o] = 0;
}

/* ------------------------------------------------------------ the fake pipeline */

static void answer_q(struct t *t, struct q *q)
{
	uint8_t ans[512];
	size_t n = mkanswer(q->pkt, q->len, ans, sizeof(ans), 300, 600);
	q->answered = true;
	ck_assert_int_eq(vg_doh_answer(t->d, q->sid, ans, n), 0);
}

static void on_query(void *arg, int32_t sid, const uint8_t *pkt, size_t len, const char *id,
		     const char *fwd)
{
	struct t *t = arg;
	ck_assert_uint_lt(t->nq, MAXS);
	struct q *q = &t->qs[t->nq++];
	q->sid = sid;
	memcpy(q->pkt, pkt, len < sizeof(q->pkt) ? len : sizeof(q->pkt)); /* the start */
	q->len = len;
	snprintf(q->id, sizeof(q->id), "%s", id);
	snprintf(q->fwd, sizeof(q->fwd), "%s", fwd);
	if (t->sync >= 1)
		answer_q(t, q);
	if (t->sync >= 2) {
		const uint8_t *p;
		size_t n;
		do
			ck_assert_int_eq(vg_doh_output(t->d, &p, &n), 0);
		while (n && nghttp2_session_mem_recv(t->h2, p, n) == (ssize_t)n);
	}
	if (t->sync == 3) {
		vg_doh_free(t->d); /* deferred to the end of vg_doh_input() */
		t->d = NULL;
	}
}

/* ------------------------------------------------------------ the client */

static struct resp *R(int32_t sid)
{
	ck_assert_int_gt(sid, 0);
	ck_assert_int_lt(sid / 2, MAXS);
	return &T->r[sid / 2];
}

static int c_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name,
		    size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
	(void)h2, (void)flags, (void)ud;
	struct resp *r = R(f->hd.stream_id);
	r->headers = true;
	char v[128];
	snprintf(v, sizeof(v), "%.*s", (int)vl, (const char *)value);
	if (nl == 7 && !memcmp(name, ":status", 7))
		r->status = atoi(v);
	else if (nl == 12 && !memcmp(name, "content-type", 12))
		snprintf(r->ctype, sizeof(r->ctype), "%s", v);
	else if (nl == 13 && !memcmp(name, "cache-control", 13))
		snprintf(r->cc, sizeof(r->cc), "%s", v);
	else if (nl == 5 && !memcmp(name, "allow", 5))
		snprintf(r->allow, sizeof(r->allow), "%s", v);
	else if (nl == 14 && !memcmp(name, "content-length", 14))
		snprintf(r->clen, sizeof(r->clen), "%s", v);
	return 0;
}

static int c_data(nghttp2_session *h2, uint8_t flags, int32_t sid, const uint8_t *data,
		  size_t len, void *ud)
{
	(void)h2, (void)flags, (void)ud;
	struct resp *r = R(sid);
	ck_assert_uint_le(r->blen + len, sizeof(r->body));
	memcpy(r->body + r->blen, data, len);
	r->blen += len;
	return 0;
}

static int c_close(nghttp2_session *h2, int32_t sid, uint32_t err, void *ud)
{
	(void)h2, (void)ud;
	struct resp *r = R(sid);
	r->closed = true;
	r->err = err;
	return 0;
}

static int c_frame(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	(void)h2, (void)ud;
	if (f->hd.type == NGHTTP2_GOAWAY) {
		T->goaway = true;
		T->goaway_code = f->goaway.error_code;
	} else if (f->hd.type == NGHTTP2_RST_STREAM) {
		T->nrst++;
		R(f->hd.stream_id)->rst = true;
	}
	return 0;
}

static ssize_t c_read(nghttp2_session *h2, int32_t sid, uint8_t *buf, size_t length,
		      uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	(void)h2, (void)src, (void)ud;
	struct resp *r = R(sid);
	size_t n = r->uplen - r->upoff;
	if (n > length)
		n = length;
	memcpy(buf, r->up + r->upoff, n);
	r->upoff += n;
	if (r->upoff == r->uplen)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static struct t *setup_opts(const struct vg_doh_opts *o, unsigned peer_streams)
{
	struct t *t = calloc(1, sizeof(*t));
	ck_assert_ptr_nonnull(t);
	T = t;
	if (o)
		t->o = *o;
	t->now = 1000000;
	struct vg_doh_cb cb = { .arg = t, .query = on_query };
	t->d = vg_doh_new(&t->o, &cb);
	ck_assert_ptr_nonnull(t->d);

	nghttp2_session_callbacks *cbs;
	nghttp2_option *opt;
	ck_assert_int_eq(nghttp2_session_callbacks_new(&cbs), 0);
	ck_assert_int_eq(nghttp2_option_new(&opt), 0);
	nghttp2_session_callbacks_set_on_header_callback(cbs, c_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, c_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, c_close);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, c_frame);
	nghttp2_option_set_peer_max_concurrent_streams(opt, peer_streams);
	ck_assert_int_eq(nghttp2_session_client_new2(&t->h2, cbs, t, opt), 0);
	nghttp2_session_callbacks_del(cbs);
	nghttp2_option_del(opt);
	ck_assert_int_eq(nghttp2_submit_settings(t->h2, NGHTTP2_FLAG_NONE, NULL, 0), 0);
	return t;
}

static struct t *setup(void)
{
	return setup_opts(NULL, 100);
}

static void teardown(struct t *t)
{
	nghttp2_session_del(t->h2);
	vg_doh_free(t->d);
	free(t);
	T = NULL;
}

/* everything the client has queued, as one input to the server */
static void to_server(struct t *t)
{
	static uint8_t buf[1 << 20];
	size_t len = 0;
	const uint8_t *p;
	ssize_t n;
	while ((n = nghttp2_session_mem_send(t->h2, &p)) > 0) {
		ck_assert_uint_le(len + (size_t)n, sizeof(buf));
		memcpy(buf + len, p, (size_t)n);
		len += (size_t)n;
	}
	ck_assert_int_ge(n, 0);
	if (!len || !t->d)
		return;
	int r = vg_doh_input(t->d, buf, len, t->now);
	if (r < 0 && !t->rc)
		t->rc = r;
}

static bool to_client(struct t *t)
{
	const uint8_t *p;
	size_t n;
	bool moved = false;
	if (!t->d)
		return false;
	for (;;) {
		ck_assert_int_eq(vg_doh_output(t->d, &p, &n), 0);
		if (!n)
			break;
		moved = true;
		ck_assert_int_eq(nghttp2_session_mem_recv(t->h2, p, n), (ssize_t)n);
	}
	return moved;
}

/* both directions until neither side has anything to say */
static void pump(struct t *t)
{
	for (int i = 0; i < 100; i++) {
		bool c = nghttp2_session_want_write(t->h2) && !t->rc;
		if (c)
			to_server(t);
		bool s = to_client(t);
		if (!c && !s)
			return;
	}
	ck_abort_msg("pump does not settle");
}

static int32_t request(struct t *t, const char *method, const char *path, const char *ctype,
		       const uint8_t *body, size_t blen, const nghttp2_nv *extra, size_t nextra)
{
	nghttp2_nv nv[16];
	size_t n = 0;
#define H(a, b) \
	nv[n++] = (nghttp2_nv){ (uint8_t *)(a), (uint8_t *)(b), strlen(a), strlen(b), 0 }
	H(":method", method);
	H(":scheme", "https");
	H(":authority", "dns.example");
	H(":path", path);
	if (ctype)
		H("content-type", ctype);
	if (body)
		H("accept", "application/dns-message");
#undef H
	for (size_t i = 0; i < nextra; i++)
		nv[n++] = extra[i];
	nghttp2_data_provider prd = { .read_callback = c_read };
	int32_t sid = nghttp2_submit_request(t->h2, NULL, nv, n, body ? &prd : NULL, NULL);
	ck_assert_int_gt(sid, 0);
	struct resp *r = R(sid);
	r->up = body;
	r->uplen = blen;
	return sid;
}

static int32_t get(struct t *t, const char *path, const uint8_t *q, size_t qlen)
{
	char p[4096];
	int n = snprintf(p, sizeof(p), "%s?dns=", path);
	b64url(q, qlen, p + n);
	return request(t, "GET", p, NULL, NULL, 0, NULL, 0);
}

static int32_t post(struct t *t, const char *path, const uint8_t *q, size_t qlen)
{
	return request(t, "POST", path, "application/dns-message", q, qlen, NULL, 0);
}

static struct q *find_q(struct t *t, int32_t sid)
{
	for (unsigned i = 0; i < t->nq; i++)
		if (t->qs[i].sid == sid)
			return &t->qs[i];
	return NULL;
}

/* the status of a request that never reaches the pipeline */
static int status_of(const struct vg_doh_opts *o, const char *method, const char *path,
		     const char *ctype, const uint8_t *body, size_t blen, struct resp *out)
{
	struct t *t = setup_opts(o, 100);
	int32_t sid = request(t, method, path, ctype, body, blen, NULL, 0);
	pump(t);
	ck_assert_uint_eq(t->nq, 0);
	ck_assert_int_eq(t->rc, 0);
	struct resp *r = R(sid);
	ck_assert(r->closed);
	int st = r->status;
	if (out)
		*out = *r;
	teardown(t);
	return st;
}

/* ------------------------------------------------------------ tests */

START_TEST(get_answered)
{
	struct t *t = setup();
	uint8_t qb[512], ab[512];
	size_t ql = mkquery(qb, sizeof(qb), 0, "www.example.");
	int32_t sid = get(t, "/dns-query", qb, ql);
	pump(t);
	ck_assert_uint_eq(t->nq, 1);
	ck_assert_int_eq(t->qs[0].sid, sid);
	ck_assert_uint_eq(t->qs[0].len, ql);
	ck_assert_mem_eq(t->qs[0].pkt, qb, ql);
	ck_assert_str_eq(t->qs[0].id, "");
	ck_assert_str_eq(t->qs[0].fwd, "");
	ck_assert_uint_eq(vg_doh_inflight(t->d), 1);
	ck_assert(!R(sid)->headers);

	size_t al = mkanswer(qb, ql, ab, sizeof(ab), 300, 600);
	ck_assert_int_eq(vg_doh_answer(t->d, sid, ab, al), 0);
	ck_assert_uint_eq(vg_doh_inflight(t->d), 0);
	pump(t);
	struct resp *r = R(sid);
	ck_assert(r->closed);
	ck_assert_uint_eq(r->err, 0);
	ck_assert_int_eq(r->status, 200);
	ck_assert_str_eq(r->ctype, "application/dns-message");
	ck_assert_str_eq(r->cc, "max-age=300");
	ck_assert_int_eq(atoi(r->clen), (int)al);
	ck_assert_uint_eq(r->blen, al);
	ck_assert_mem_eq(r->body, ab, al);
	ck_assert_uint_eq(vg_doh_stats(t->d)->answered, 1);
	/* a second answer for the same stream finds nothing */
	ck_assert_int_eq(vg_doh_answer(t->d, sid, ab, al), VG_ENOTFOUND);
	ck_assert(!vg_doh_is_done(t->d));
	teardown(t);
}
END_TEST

START_TEST(post_answered_inside_callback)
{
	struct t *t = setup();
	t->sync = 1;
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 4711, "post.example.");
	int32_t sid = post(t, "/dns-query", qb, ql);
	/* a media type with a parameter and another case is accepted */
	int32_t sid2 = request(t, "POST", "/dns-query", "Application/DNS-Message; charset=x", qb,
			       ql, NULL, 0);
	pump(t);
	ck_assert_uint_eq(t->nq, 2);
	ck_assert_mem_eq(find_q(t, sid)->pkt, qb, ql);
	for (int i = 0; i < 2; i++) {
		struct resp *r = R(i ? sid2 : sid);
		ck_assert_int_eq(r->status, 200);
		ck_assert(r->closed);
		ck_assert_uint_ge(r->blen, VG_HDR_LEN);
		ck_assert_uint_eq(vg_get16(r->body), 4711);
		ck_assert_uint_eq(vg_get16(r->body + 2) & VG_F_QR, VG_F_QR);
	}
	ck_assert_uint_eq(vg_doh_inflight(t->d), 0);
	teardown(t);
}
END_TEST

START_TEST(output_and_free_inside_callback)
{
	struct t *t = setup();
	t->sync = 2; /* answer and pull the output from inside the callback */
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 1, "a.example.");
	int32_t s1 = get(t, "/dns-query", qb, ql);
	int32_t s2 = post(t, "/dns-query", qb, ql);
	pump(t);
	ck_assert_int_eq(R(s1)->status, 200);
	ck_assert_int_eq(R(s2)->status, 200);
	ck_assert(R(s1)->closed && R(s2)->closed);

	/* the session freed from inside the callback: deferred, the rest skipped */
	t->sync = 3;
	get(t, "/dns-query", qb, ql);
	get(t, "/dns-query", qb, ql);
	to_server(t);
	ck_assert_ptr_null(t->d);
	ck_assert_uint_eq(t->nq, 3); /* the second query of the batch was not handed out */
	teardown(t);
}
END_TEST

START_TEST(bad_base64_and_padding)
{
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 0, "www.example.");
	char enc[1024], path[2200];
	b64url(qb, ql, enc);
	/* the control: the same query encoded correctly is not rejected */
	struct t *t = setup();
	snprintf(path, sizeof(path), "/dns-query?ct&dns=%s&x=1", enc);
	request(t, "GET", path, NULL, NULL, 0, NULL, 0);
	pump(t);
	ck_assert_uint_eq(t->nq, 1);
	teardown(t);

	/* ql is 33: 44 characters with 2 padding characters in standard base64 */
	ck_assert_uint_eq(strlen(enc) % 4, 0 + (ql % 3 ? ql % 3 + 1 : 0));
	snprintf(path, sizeof(path), "/dns-query?dns=%s==", enc);
	ck_assert_int_eq(status_of(NULL, "GET", path, NULL, NULL, 0, NULL), 400);
	snprintf(path, sizeof(path), "/dns-query?dns=%s=", enc);
	ck_assert_int_eq(status_of(NULL, "GET", path, NULL, NULL, 0, NULL), 400);
	/* standard base64's '+' and '/' are not base64url */
	snprintf(path, sizeof(path), "/dns-query?dns=%s", enc);
	path[20] = '+';
	ck_assert_int_eq(status_of(NULL, "GET", path, NULL, NULL, 0, NULL), 400);
	path[20] = '/';
	ck_assert_int_eq(status_of(NULL, "GET", path, NULL, NULL, 0, NULL), 400);
	path[20] = '%';
	ck_assert_int_eq(status_of(NULL, "GET", path, NULL, NULL, 0, NULL), 400);
	/* missing, empty, doubled dns= */
	ck_assert_int_eq(status_of(NULL, "GET", "/dns-query", NULL, NULL, 0, NULL), 400);
	ck_assert_int_eq(status_of(NULL, "GET", "/dns-query?dns=", NULL, NULL, 0, NULL), 400);
	ck_assert_int_eq(status_of(NULL, "GET", "/dns-query?dns", NULL, NULL, 0, NULL), 400);
	snprintf(path, sizeof(path), "/dns-query?dns=%s&dns=%s", enc, enc);
	ck_assert_int_eq(status_of(NULL, "GET", path, NULL, NULL, 0, NULL), 400);

	/* the decoder itself */
	uint8_t out[8];
	ck_assert_int_eq(vg_doh_b64url_decode("AAEC_-8", 7, out, sizeof(out)), 5);
	ck_assert_mem_eq(out, "\x00\x01\x02\xff\xef", 5);
	ck_assert_int_eq(vg_doh_b64url_decode("AAE=", 4, out, sizeof(out)), VG_EMALFORMED);
	ck_assert_int_eq(vg_doh_b64url_decode("AAEBA", 5, out, sizeof(out)), VG_EMALFORMED);
	ck_assert_int_eq(vg_doh_b64url_decode("AB", 2, out, sizeof(out)), VG_EMALFORMED);
	ck_assert_int_eq(vg_doh_b64url_decode("AA", 2, out, sizeof(out)), 1);
	ck_assert_int_eq(vg_doh_b64url_decode("AAAAAAAAAAAA", 12, out, sizeof(out)),
			 VG_ENOSPACE);
}
END_TEST

START_TEST(not_a_dns_query)
{
	char path[256], enc[64];
	uint8_t shortq[5] = { 1, 2, 3, 4, 5 };
	b64url(shortq, sizeof(shortq), enc);
	snprintf(path, sizeof(path), "/dns-query?dns=%s", enc);
	ck_assert_int_eq(status_of(NULL, "GET", path, NULL, NULL, 0, NULL), 400);

	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 0, "www.example.");
	qb[2] |= 0x80; /* QR: a response */
	ck_assert_int_eq(status_of(NULL, "POST", "/dns-query", "application/dns-message", qb, ql,
				   NULL), 400);
	ck_assert_int_eq(status_of(NULL, "POST", "/dns-query", "application/dns-message", qb, 11,
				   NULL), 400);
	/* an empty POST body */
	struct t *t = setup();
	int32_t sid = request(t, "POST", "/dns-query", "application/dns-message", NULL, 0, NULL, 0);
	pump(t);
	ck_assert_int_eq(R(sid)->status, 400);
	ck_assert_uint_eq(t->nq, 0);
	ck_assert_uint_eq(vg_doh_stats(t->d)->http_errors, 1);
	teardown(t);
}
END_TEST

START_TEST(method_not_allowed)
{
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 0, "www.example.");
	const char *m[] = { "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH" };
	for (unsigned i = 0; i < VG_ARRAY_SIZE(m); i++) {
		struct resp r;
		bool body = !strcmp(m[i], "PUT") || !strcmp(m[i], "PATCH");
		ck_assert_int_eq(status_of(NULL, m[i], "/dns-query", "application/dns-message",
					   body ? qb : NULL, ql, &r), 405);
		ck_assert_str_eq(r.allow, "GET, POST");
		ck_assert_uint_eq(r.blen, 0);
	}
}
END_TEST

START_TEST(too_large)
{
	/* a POST body over 65535 bytes */
	static uint8_t big[70000];
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 0, "www.example.");
	memcpy(big, qb, ql);
	struct t *t = setup();
	int32_t sid = post(t, "/dns-query", big, sizeof(big));
	int32_t ok = post(t, "/dns-query", qb, ql);
	pump(t);
	ck_assert_int_eq(R(sid)->status, 413);
	ck_assert_uint_eq(t->nq, 1); /* the other stream is unaffected */
	ck_assert_int_eq(t->qs[0].sid, ok);
	ck_assert_int_eq(t->rc, 0);
	teardown(t);

	/* exactly 65535 is allowed through to the DNS checks */
	t = setup();
	memset(big, 0, sizeof(big));
	memcpy(big, qb, ql);
	sid = post(t, "/dns-query", big, 65535);
	pump(t);
	ck_assert_uint_eq(t->nq, 1);
	ck_assert_uint_eq(t->qs[0].len, 65535);
	ck_assert(!R(sid)->headers);
	teardown(t);

	/* a smaller cap, for GET and POST */
	struct vg_doh_opts o = { .max_msg = 32 };
	ck_assert_uint_gt(ql, 32);
	char enc[1024], path[2200];
	b64url(qb, ql, enc);
	snprintf(path, sizeof(path), "/dns-query?dns=%s", enc);
	ck_assert_int_eq(status_of(&o, "GET", path, NULL, NULL, 0, NULL), 413);
	ck_assert_int_eq(status_of(&o, "POST", "/dns-query", "application/dns-message", qb, ql,
				   NULL), 413);
	o.max_msg = (unsigned)ql;
	t = setup_opts(&o, 100);
	get(t, "/dns-query", qb, ql);
	post(t, "/dns-query", qb, ql);
	pump(t);
	ck_assert_uint_eq(t->nq, 2);
	teardown(t);
}
END_TEST

START_TEST(unsupported_media_type)
{
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 0, "www.example.");
	ck_assert_int_eq(status_of(NULL, "POST", "/dns-query", "text/plain", qb, ql, NULL), 415);
	ck_assert_int_eq(status_of(NULL, "POST", "/dns-query", NULL, qb, ql, NULL), 415);
	ck_assert_int_eq(status_of(NULL, "POST", "/dns-query", "application/dns-messagex", qb, ql,
				   NULL), 415);
	ck_assert_int_eq(status_of(NULL, "POST", "/dns-query", "application/dns-json", qb, ql,
				   NULL), 415);
}
END_TEST

START_TEST(not_found)
{
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 0, "www.example.");
	char enc[1024], path[2200];
	b64url(qb, ql, enc);
	const char *bad[] = { "/", "/dns", "/dns-queryx", "/dns-query/", "/dns-query/a_b",
			      "/dns-query/a.b", "/dns-query/a/b", "/DNS-QUERY", "/x/dns-query",
			      "/dns-query/0123456789012345678901234567890123456789012345678901"
			      "234567890123" };
	for (unsigned i = 0; i < VG_ARRAY_SIZE(bad); i++) {
		snprintf(path, sizeof(path), "%s?dns=%s", bad[i], enc);
		ck_assert_msg(status_of(NULL, "GET", path, NULL, NULL, 0, NULL) == 404, "%s",
			      bad[i]);
		ck_assert_int_eq(status_of(NULL, "POST", bad[i], "application/dns-message", qb, ql,
					   NULL), 404);
	}
}
END_TEST

START_TEST(client_id_in_path)
{
	struct vg_doh_opts o = { .path = "/q/" };
	struct t *t = setup_opts(&o, 100);
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 0, "www.example.");
	char id63[64];
	memset(id63, 'Z', 63);
	id63[63] = 0;
	char p63[80];
	snprintf(p63, sizeof(p63), "/q/%s", id63);
	int32_t a = get(t, "/q/Laptop-7", qb, ql);
	int32_t b = post(t, "/q/phone", qb, ql);
	int32_t c = post(t, "/q", qb, ql);
	int32_t d = post(t, p63, qb, ql);
	int32_t e = post(t, "/dns-query", qb, ql); /* not the configured path */
	pump(t);
	ck_assert_uint_eq(t->nq, 4);
	ck_assert_str_eq(find_q(t, a)->id, "laptop-7");
	ck_assert_str_eq(find_q(t, b)->id, "phone");
	ck_assert_str_eq(find_q(t, c)->id, "");
	for (int i = 0; i < 63; i++)
		id63[i] = 'z';
	ck_assert_str_eq(find_q(t, d)->id, id63);
	ck_assert_int_eq(R(e)->status, 404);
	teardown(t);
}
END_TEST

START_TEST(forwarded_header)
{
	struct vg_doh_opts o = { .forwarded_header = "X-Forwarded-For" };
	struct t *t = setup_opts(&o, 100);
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 0, "www.example.");
	nghttp2_nv one[] = { { (uint8_t *)"x-forwarded-for", (uint8_t *)"192.0.2.7", 15, 9, 0 } };
	nghttp2_nv two[] = { { (uint8_t *)"x-forwarded-for", (uint8_t *)"192.0.2.7", 15, 9, 0 },
			     { (uint8_t *)"forwarded", (uint8_t *)"for=1.1.1.1", 9, 11, 0 },
			     { (uint8_t *)"x-forwarded-for", (uint8_t *)"10.0.0.1", 15, 8, 0 } };
	int32_t a = request(t, "POST", "/dns-query", "application/dns-message", qb, ql, one, 1);
	int32_t b = request(t, "POST", "/dns-query", "application/dns-message", qb, ql, two, 3);
	int32_t c = post(t, "/dns-query", qb, ql);
	char huge[300];
	memset(huge, '1', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = 0;
	nghttp2_nv big[] = { { (uint8_t *)"x-forwarded-for", (uint8_t *)huge, 15, 299, 0 } };
	int32_t d = request(t, "POST", "/dns-query", "application/dns-message", qb, ql, big, 1);
	pump(t);
	ck_assert_uint_eq(t->nq, 3);
	ck_assert_str_eq(find_q(t, a)->fwd, "192.0.2.7");
	ck_assert_str_eq(find_q(t, b)->fwd, "192.0.2.7, 10.0.0.1");
	ck_assert_str_eq(find_q(t, c)->fwd, "");
	ck_assert_int_eq(R(d)->status, 431);
	teardown(t);

	/* not configured: nothing is handed over */
	t = setup();
	a = request(t, "POST", "/dns-query", "application/dns-message", qb, ql, one, 1);
	pump(t);
	ck_assert_str_eq(find_q(t, a)->fwd, "");
	teardown(t);
}
END_TEST

START_TEST(concurrent_out_of_order)
{
	struct t *t = setup();
	enum { N = 80 };
	uint8_t qb[N][128];
	size_t ql[N];
	int32_t sid[N];
	for (int i = 0; i < N; i++) {
		char n[64];
		snprintf(n, sizeof(n), "host%d.example.", i);
		ql[i] = mkquery(qb[i], sizeof(qb[i]), (uint16_t)(1000 + i), n);
		sid[i] = i % 2 ? get(t, "/dns-query", qb[i], ql[i]) :
				 post(t, "/dns-query", qb[i], ql[i]);
	}
	pump(t);
	ck_assert_uint_eq(t->nq, N);
	ck_assert_uint_eq(vg_doh_inflight(t->d), N);
	/* answer in a scrambled order, some pumped in between */
	for (int k = 0; k < N; k++) {
		int i = (k * 37 + 11) % N;
		struct q *q = find_q(t, sid[i]);
		ck_assert_ptr_nonnull(q);
		ck_assert_mem_eq(q->pkt, qb[i], ql[i]);
		answer_q(t, q);
		if (k % 7 == 0)
			pump(t);
	}
	pump(t);
	for (int i = 0; i < N; i++) {
		struct resp *r = R(sid[i]);
		ck_assert_int_eq(r->status, 200);
		ck_assert(r->closed);
		ck_assert_uint_eq(vg_get16(r->body), 1000 + i); /* its own answer */
		ck_assert_uint_eq(r->blen, atoi(r->clen));
	}
	ck_assert_uint_eq(vg_doh_inflight(t->d), 0);
	ck_assert_uint_eq(vg_doh_stats(t->d)->answered, N);
	ck_assert_uint_gt(vg_doh_stats(t->d)->h2_mem_peak, 0);
	ck_assert_uint_lt(vg_doh_stats(t->d)->h2_mem_peak, 256u << 10); /* the default cap */
	teardown(t);
}
END_TEST

START_TEST(answer_after_client_reset)
{
	struct t *t = setup();
	uint8_t qb[512], ab[512];
	size_t ql = mkquery(qb, sizeof(qb), 9, "www.example.");
	int32_t a = get(t, "/dns-query", qb, ql);
	int32_t b = post(t, "/dns-query", qb, ql);
	int32_t c = get(t, "/dns-query", qb, ql);
	pump(t);
	ck_assert_uint_eq(t->nq, 3);
	ck_assert_int_eq(nghttp2_submit_rst_stream(t->h2, 0, a, NGHTTP2_CANCEL), 0);
	ck_assert_int_eq(nghttp2_submit_rst_stream(t->h2, 0, c, NGHTTP2_CANCEL), 0);
	pump(t);
	ck_assert_uint_eq(vg_doh_inflight(t->d), 3);
	size_t al = mkanswer(qb, ql, ab, sizeof(ab), 60, 60);
	ck_assert_int_eq(vg_doh_answer(t->d, a, ab, al), VG_ENOTFOUND);
	ck_assert_int_eq(vg_doh_answer(t->d, a, ab, al), VG_ENOTFOUND);
	ck_assert_int_eq(vg_doh_answer(t->d, b, ab, al), 0);
	ck_assert_int_eq(vg_doh_answer(t->d, 999, ab, al), VG_ENOTFOUND); /* never seen */
	pump(t);
	ck_assert_int_eq(vg_doh_answer(t->d, c, ab, al), VG_ENOTFOUND);
	ck_assert_uint_eq(vg_doh_inflight(t->d), 0);
	ck_assert_int_eq(R(b)->status, 200);
	ck_assert_str_eq(R(b)->cc, "max-age=60");
	ck_assert_int_eq(R(a)->status, 0);
	ck_assert_uint_eq(vg_doh_stats(t->d)->dropped, 2);

	/* a request reset in the same input as it arrived never reaches the pipeline */
	int32_t d = get(t, "/dns-query", qb, ql);
	to_server(t);
	ck_assert_uint_eq(t->nq, 4);
	int32_t e = get(t, "/dns-query", qb, ql);
	int32_t f = post(t, "/dns-query", qb, ql);
	/* HEADERS and DATA go out, then the resets, all in one input */
	const uint8_t *p;
	static uint8_t buf[65536];
	size_t len = 0;
	ssize_t n;
	while ((n = nghttp2_session_mem_send(t->h2, &p)) > 0) {
		memcpy(buf + len, p, (size_t)n);
		len += (size_t)n;
	}
	ck_assert_int_eq(nghttp2_submit_rst_stream(t->h2, 0, e, NGHTTP2_CANCEL), 0);
	ck_assert_int_eq(nghttp2_submit_rst_stream(t->h2, 0, f, NGHTTP2_CANCEL), 0);
	while ((n = nghttp2_session_mem_send(t->h2, &p)) > 0) {
		memcpy(buf + len, p, (size_t)n);
		len += (size_t)n;
	}
	ck_assert_int_eq(vg_doh_input(t->d, buf, len, t->now), 0);
	ck_assert_uint_eq(t->nq, 4);
	ck_assert_uint_eq(vg_doh_inflight(t->d), 1);
	answer_q(t, find_q(t, d));
	pump(t);
	ck_assert_int_eq(R(d)->status, 200);
	ck_assert_uint_eq(vg_doh_inflight(t->d), 0);
	/* the session is still good */
	int32_t g = post(t, "/dns-query", qb, ql);
	pump(t);
	answer_q(t, find_q(t, g));
	pump(t);
	ck_assert_int_eq(R(g)->status, 200);
	teardown(t);
}
END_TEST

START_TEST(answers_outlive_nothing_after_free)
{
	/* queries outstanding, some reset, when the session is freed: ASan checks */
	struct t *t = setup();
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 9, "www.example.");
	int32_t a = get(t, "/dns-query", qb, ql);
	post(t, "/dns-query", qb, ql);
	static uint8_t big[3000];
	memcpy(big, qb, ql);
	post(t, "/dns-query", big, sizeof(big)); /* body in flight when freed */
	pump(t);
	nghttp2_submit_rst_stream(t->h2, 0, a, NGHTTP2_CANCEL);
	pump(t);
	ck_assert_uint_eq(vg_doh_inflight(t->d), 3);
	struct q *q = find_q(t, 3);
	uint8_t ab[512];
	size_t al = mkanswer(q->pkt, q->len, ab, sizeof(ab), 1, 1);
	ck_assert_int_eq(vg_doh_answer(t->d, 3, ab, al), 0); /* queued, never sent */
	teardown(t);
}
END_TEST

START_TEST(drop_resets_stream)
{
	struct t *t = setup();
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 9, "www.example.");
	int32_t a = get(t, "/dns-query", qb, ql);
	pump(t);
	ck_assert_int_eq(vg_doh_answer(t->d, a, NULL, 0), 0);
	pump(t);
	ck_assert(R(a)->closed);
	ck_assert(R(a)->rst);
	ck_assert_uint_eq(R(a)->err, NGHTTP2_CANCEL);
	ck_assert_int_eq(R(a)->status, 0);
	ck_assert(!R(a)->headers);
	ck_assert_uint_eq(vg_doh_inflight(t->d), 0);
	teardown(t);
}
END_TEST

START_TEST(cache_control)
{
	uint8_t qb[512], ab[512];
	size_t ql = mkquery(qb, sizeof(qb), 9, "www.example.");
	/* positive: the smallest of answer and authority; additional (TTL 5) and OPT ignored */
	size_t al = mkanswer(qb, ql, ab, sizeof(ab), 300, 120);
	ck_assert_uint_eq(vg_doh_max_age(ab, al), 120);
	al = mkanswer(qb, ql, ab, sizeof(ab), 90000, 100000);
	ck_assert_uint_eq(vg_doh_max_age(ab, al), 86400); /* the authority NS */
	al = mkanswer(qb, ql, ab, sizeof(ab), 0x80000001u, 100);
	ck_assert_uint_eq(vg_doh_max_age(ab, al), 0); /* top bit set: 0 */
	/* negative: min(SOA TTL, MINIMUM) */
	al = mknegative(qb, ql, ab, sizeof(ab), 3600, 300);
	ck_assert_uint_eq(vg_doh_max_age(ab, al), 300);
	al = mknegative(qb, ql, ab, sizeof(ab), 60, 300);
	ck_assert_uint_eq(vg_doh_max_age(ab, al), 60);
	/* no records at all, and garbage */
	struct vg_query q;
	int rcode;
	ck_assert_int_eq(vg_query_parse(&q, qb, ql, &rcode), 0);
	al = vg_wire_error_reply(&q, VG_RCODE_SERVFAIL, false, 1232, ab, sizeof(ab));
	ck_assert_uint_gt(al, 0);
	ck_assert_uint_eq(vg_doh_max_age(ab, al), 0);
	ck_assert_uint_eq(vg_doh_max_age(ab, 5), 0);
	al = mkanswer(qb, ql, ab, sizeof(ab), 300, 120);
	ck_assert_uint_eq(vg_doh_max_age(ab, al - 30), 0); /* truncated inside a record */

	/* and on the wire */
	struct t *t = setup();
	int32_t s[4];
	for (int i = 0; i < 4; i++)
		s[i] = get(t, "/dns-query", qb, ql);
	pump(t);
	al = mkanswer(qb, ql, ab, sizeof(ab), 300, 120);
	ck_assert_int_eq(vg_doh_answer(t->d, s[0], ab, al), 0);
	al = mknegative(qb, ql, ab, sizeof(ab), 3600, 900);
	ck_assert_int_eq(vg_doh_answer(t->d, s[1], ab, al), 0);
	al = mknegative(qb, ql, ab, sizeof(ab), 30, 900);
	ck_assert_int_eq(vg_doh_answer(t->d, s[2], ab, al), 0);
	al = vg_wire_error_reply(&q, VG_RCODE_SERVFAIL, false, 1232, ab, sizeof(ab));
	ck_assert_int_eq(vg_doh_answer(t->d, s[3], ab, al), 0);
	pump(t);
	ck_assert_str_eq(R(s[0])->cc, "max-age=120");
	ck_assert_str_eq(R(s[1])->cc, "max-age=900");
	ck_assert_str_eq(R(s[2])->cc, "max-age=30");
	ck_assert_str_eq(R(s[3])->cc, "max-age=0");
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(R(s[i])->status, 200);
	teardown(t);
}
END_TEST

/* a request followed at once by its reset, each pair in its own input */
static int32_t open_and_reset(struct t *t, const uint8_t *qb, size_t ql)
{
	int32_t sid = get(t, "/dns-query", qb, ql);
	to_server(t);
	if (t->rc)
		return sid;
	nghttp2_submit_rst_stream(t->h2, 0, sid, NGHTTP2_CANCEL);
	to_server(t);
	to_client(t);
	return sid;
}

START_TEST(rapid_reset)
{
	struct vg_doh_opts o = { .max_resets = 20, .window_ms = 1000, .max_orphans = 1000 };
	struct t *t = setup_opts(&o, 100);
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 9, "www.example.");
	pump(t);
	/* under the limit in each window: fine */
	for (int w = 0; w < 3; w++) {
		for (int i = 0; i < 20; i++)
			open_and_reset(t, qb, ql);
		ck_assert_int_eq(t->rc, 0);
		t->now += 1000;
	}
	ck_assert_uint_eq(t->nq, 60);
	ck_assert_uint_eq(vg_doh_inflight(t->d), 60); /* orphans, answers still owed */
	ck_assert(!t->goaway);
	/* the 21st in one window */
	for (int i = 0; i < 21 && !t->rc; i++)
		open_and_reset(t, qb, ql);
	ck_assert_int_eq(t->rc, VG_ELIMIT);
	pump(t);
	ck_assert(t->goaway);
	ck_assert_uint_eq(t->goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	ck_assert_str_eq(vg_doh_stats(t->d)->goaway, "rapid reset");
	ck_assert(vg_doh_is_done(t->d));
	/* the owed answers can still come and are dropped */
	for (unsigned i = 0; i < t->nq; i++)
		ck_assert_int_eq(vg_doh_answer(t->d, t->qs[i].sid, qb, ql), VG_ENOTFOUND);
	ck_assert_uint_eq(vg_doh_inflight(t->d), 0);
	/* further input is refused */
	ck_assert_int_eq(vg_doh_input(t->d, qb, 1, t->now), VG_ELIMIT);
	teardown(t);
}
END_TEST

START_TEST(rapid_reset_burst)
{
	struct t *t = setup_opts(NULL, 100000);
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 9, "www.example.");
	pump(t);
	static uint8_t buf[1 << 20];
	size_t len = 0;
	const uint8_t *p;
	ssize_t n;
	for (int i = 0; i < 300; i++) {
		int32_t sid = get(t, "/dns-query", qb, ql);
		while ((n = nghttp2_session_mem_send(t->h2, &p)) > 0) {
			memcpy(buf + len, p, (size_t)n);
			len += (size_t)n;
		}
		nghttp2_submit_rst_stream(t->h2, 0, sid, NGHTTP2_CANCEL);
		while ((n = nghttp2_session_mem_send(t->h2, &p)) > 0) {
			memcpy(buf + len, p, (size_t)n);
			len += (size_t)n;
		}
	}
	ck_assert_int_eq(vg_doh_input(t->d, buf, len, t->now), VG_ELIMIT);
	ck_assert_uint_eq(t->nq, 0);
	ck_assert_uint_eq(vg_doh_inflight(t->d), 0);
	to_client(t);
	ck_assert(t->goaway);
	ck_assert_uint_eq(t->goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	ck_assert(vg_doh_is_done(t->d));
	teardown(t);
}
END_TEST

START_TEST(orphan_cap)
{
	struct vg_doh_opts o = { .max_orphans = 5 };
	struct t *t = setup_opts(&o, 100);
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 9, "www.example.");
	pump(t);
	for (int i = 0; i < 5; i++)
		open_and_reset(t, qb, ql);
	ck_assert_uint_eq(t->nq, 5);
	ck_assert_uint_eq(vg_doh_inflight(t->d), 5);
	/* the pipeline owes 5 answers for reset streams: a new stream is refused */
	int32_t a = get(t, "/dns-query", qb, ql);
	pump(t);
	ck_assert_uint_eq(t->nq, 5);
	ck_assert(R(a)->closed);
	ck_assert_uint_eq(R(a)->err, NGHTTP2_REFUSED_STREAM);
	ck_assert_uint_eq(vg_doh_stats(t->d)->refused, 1);
	/* one answer arrives: room again */
	ck_assert_int_eq(vg_doh_answer(t->d, t->qs[0].sid, qb, ql), VG_ENOTFOUND);
	int32_t b = get(t, "/dns-query", qb, ql);
	pump(t);
	ck_assert_uint_eq(t->nq, 6);
	answer_q(t, find_q(t, b));
	pump(t);
	ck_assert_int_eq(R(b)->status, 200);
	ck_assert_int_eq(t->rc, 0);
	teardown(t);
}
END_TEST

START_TEST(max_concurrent_streams)
{
	struct vg_doh_opts o = { .max_streams = 10 };
	/* a client that ignores the limit: all 15 sent before it reads our SETTINGS */
	struct t *t = setup_opts(&o, 1000);
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 9, "www.example.");
	int32_t sid[15];
	for (int i = 0; i < 15; i++)
		sid[i] = get(t, "/dns-query", qb, ql);
	pump(t);
	ck_assert_uint_eq(t->nq, 10);
	int refused = 0;
	for (int i = 0; i < 15; i++)
		if (R(sid[i])->closed) {
			ck_assert_uint_eq(R(sid[i])->err, NGHTTP2_REFUSED_STREAM);
			refused++;
		}
	ck_assert_int_eq(refused, 5);
	/* the advertised value */
	ck_assert_uint_eq(nghttp2_session_get_remote_settings(
				  t->h2, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 10);
	ck_assert_uint_eq(nghttp2_session_get_remote_settings(
				  t->h2, NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE), 8192);
	for (unsigned i = 0; i < t->nq; i++)
		answer_q(t, &t->qs[i]);
	pump(t);
	/* a well-behaved client now keeps to 10 at a time and is served */
	for (int i = 0; i < 15; i++)
		sid[i] = get(t, "/dns-query", qb, ql);
	pump(t);
	ck_assert_uint_eq(t->nq, 20);
	for (unsigned i = 10; i < 20; i++)
		answer_q(t, &t->qs[i]);
	pump(t);
	ck_assert_uint_eq(t->nq, 25);
	for (unsigned i = 20; i < 25; i++)
		answer_q(t, &t->qs[i]);
	pump(t);
	for (int i = 0; i < 15; i++)
		ck_assert_int_eq(R(sid[i])->status, 200);
	ck_assert_int_eq(t->rc, 0);
	teardown(t);
}
END_TEST

START_TEST(ping_flood)
{
	struct vg_doh_opts o = { .max_pings = 10, .window_ms = 1000 };
	struct t *t = setup_opts(&o, 100);
	pump(t);
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(nghttp2_submit_ping(t->h2, 0, NULL), 0);
		pump(t);
	}
	ck_assert_int_eq(t->rc, 0);
	t->now += 1000; /* a new window */
	for (int i = 0; i < 11; i++) {
		ck_assert_int_eq(nghttp2_submit_ping(t->h2, 0, NULL), 0);
		pump(t);
	}
	ck_assert_int_eq(t->rc, VG_ELIMIT);
	ck_assert(t->goaway);
	ck_assert_uint_eq(t->goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	ck_assert_str_eq(vg_doh_stats(t->d)->goaway, "PING flood");
	teardown(t);

	/* many PINGs in one input, the ACKs never read: nghttp2's own guard */
	struct vg_doh_opts o2 = { .max_pings = 100000 };
	t = setup_opts(&o2, 100);
	pump(t);
	for (int i = 0; i < 500; i++)
		nghttp2_submit_ping(t->h2, 0, NULL);
	to_server(t);
	ck_assert_int_eq(t->rc, VG_ELIMIT);
	ck_assert_str_eq(vg_doh_stats(t->d)->goaway, "nghttp2 flood guard");
	teardown(t);
}
END_TEST

START_TEST(settings_flood)
{
	struct vg_doh_opts o = { .max_settings = 10, .window_ms = 1000 };
	struct t *t = setup_opts(&o, 100);
	pump(t); /* the client's first SETTINGS counts too */
	for (int i = 0; i < 9; i++) {
		ck_assert_int_eq(nghttp2_submit_settings(t->h2, 0, NULL, 0), 0);
		pump(t);
	}
	ck_assert_int_eq(t->rc, 0);
	ck_assert_int_eq(nghttp2_submit_settings(t->h2, 0, NULL, 0), 0);
	pump(t);
	ck_assert_int_eq(t->rc, VG_ELIMIT);
	ck_assert(t->goaway);
	ck_assert_uint_eq(t->goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	ck_assert_str_eq(vg_doh_stats(t->d)->goaway, "SETTINGS flood");
	teardown(t);

	/* one SETTINGS frame with too many entries */
	t = setup();
	pump(t);
	nghttp2_settings_entry e[40];
	for (int i = 0; i < 40; i++)
		e[i] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 4096 };
	ck_assert_int_eq(nghttp2_submit_settings(t->h2, 0, e, 40), 0);
	pump(t);
	ck_assert(t->goaway);
	ck_assert_uint_eq(t->goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	ck_assert(vg_doh_is_done(t->d));
	teardown(t);
}
END_TEST

static size_t frame(uint8_t *b, uint8_t type, uint8_t flags, int32_t sid, const uint8_t *pl,
		    size_t len)
{
	b[0] = (uint8_t)(len >> 16);
	b[1] = (uint8_t)(len >> 8);
	b[2] = (uint8_t)len;
	b[3] = type;
	b[4] = flags;
	vg_put32(b + 5, (uint32_t)sid);
	if (len)
		memcpy(b + 9, pl, len);
	return 9 + len;
}

static ssize_t c_read_deferred(nghttp2_session *h2, int32_t sid, uint8_t *buf, size_t length,
			       uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	(void)h2, (void)sid, (void)buf, (void)length, (void)flags, (void)src, (void)ud;
	return NGHTTP2_ERR_DEFERRED;
}

START_TEST(other_frame_flood)
{
	struct vg_doh_opts o = { .max_other = 10, .window_ms = 1000 };
	struct t *t = setup_opts(&o, 100);
	pump(t);
	/* a POST whose body never comes: an open stream to send empty DATA on */
	nghttp2_nv nv[] = {
		{ (uint8_t *)":method", (uint8_t *)"POST", 7, 4, 0 },
		{ (uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0 },
		{ (uint8_t *)":authority", (uint8_t *)"x", 10, 1, 0 },
		{ (uint8_t *)":path", (uint8_t *)"/dns-query", 5, 10, 0 },
		{ (uint8_t *)"content-type", (uint8_t *)"application/dns-message", 12, 23, 0 },
	};
	nghttp2_data_provider prd = { .read_callback = c_read_deferred };
	int32_t sid = nghttp2_submit_request(t->h2, NULL, nv, 5, &prd, NULL);
	ck_assert_int_gt(sid, 0);
	pump(t);
	ck_assert_int_eq(t->rc, 0);
	uint8_t b[64], prio[5] = { 0, 0, 0, 1, 16 };
	size_t n = frame(b, NGHTTP2_DATA, 0, sid, NULL, 0);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(vg_doh_input(t->d, b, n, t->now), 0);
	ck_assert_int_eq(vg_doh_input(t->d, b, n, t->now), VG_ELIMIT);
	ck_assert_str_eq(vg_doh_stats(t->d)->goaway, "control frame flood");
	to_client(t);
	ck_assert(t->goaway);
	ck_assert_uint_eq(t->goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	teardown(t);

	/* PRIORITY frames on idle streams */
	t = setup_opts(&o, 100);
	pump(t);
	int r = 0;
	for (int i = 0; i < 11 && !r; i++) {
		n = frame(b, NGHTTP2_PRIORITY, 0, 101 + 2 * i, prio, 5);
		r = vg_doh_input(t->d, b, n, t->now);
	}
	ck_assert_int_eq(r, VG_ELIMIT);
	teardown(t);
}
END_TEST

START_TEST(oversize_headers)
{
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 9, "www.example.");
	static char v[9000];
	memset(v, 'a', sizeof(v) - 1);
	struct t *t = setup();
	nghttp2_nv one[] = { { (uint8_t *)"x-pad", (uint8_t *)v, 5, 8200, 0 } };
	int32_t a = request(t, "POST", "/dns-query", "application/dns-message", qb, ql, one, 1);
	/* many headers, each small, over the total */
	nghttp2_nv many[10];
	for (int i = 0; i < 10; i++)
		many[i] = (nghttp2_nv){ (uint8_t *)"x-pad", (uint8_t *)v, 5, 900, 0 };
	int32_t b = request(t, "POST", "/dns-query", "application/dns-message", qb, ql, many, 10);
	/* just under */
	nghttp2_nv fits[] = { { (uint8_t *)"x-pad", (uint8_t *)v, 5, 7800, 0 } };
	int32_t c = request(t, "POST", "/dns-query", "application/dns-message", qb, ql, fits, 1);
	pump(t);
	ck_assert_int_eq(R(a)->status, 431);
	ck_assert_int_eq(R(b)->status, 431);
	ck_assert_uint_eq(t->nq, 1);
	ck_assert_int_eq(t->qs[0].sid, c);
	ck_assert_int_eq(t->rc, 0);
	teardown(t);

	/* a long GET path counts too */
	struct vg_doh_opts o = { .max_header_list = 1024 };
	static uint8_t big[2000];
	memcpy(big, qb, ql);
	t = setup_opts(&o, 100);
	a = get(t, "/dns-query", big, sizeof(big));
	b = get(t, "/dns-query", qb, ql);
	pump(t);
	ck_assert_int_eq(R(a)->status, 431);
	ck_assert_uint_eq(t->nq, 1);
	ck_assert_int_eq(t->qs[0].sid, b);
	teardown(t);
}
END_TEST

START_TEST(buffer_cap)
{
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 9, "www.example.");
	static uint8_t body[1000];
	memcpy(body, qb, ql);
	/* bodies of 1000 bytes take 1024 each: the third does not fit in 2048 */
	struct vg_doh_opts o = { .max_buffered = 2048 };
	struct t *t = setup_opts(&o, 100);
	int32_t s[3];
	for (int i = 0; i < 3; i++)
		s[i] = post(t, "/dns-query", body, sizeof(body));
	pump(t);
	ck_assert_uint_eq(t->nq, 2);
	ck_assert(R(s[2])->closed);
	ck_assert_uint_eq(R(s[2])->err, NGHTTP2_REFUSED_STREAM);
	ck_assert_uint_eq(vg_doh_stats(t->d)->refused, 1);
	/* the bodies were released after the callback: room again */
	int32_t d = post(t, "/dns-query", body, sizeof(body));
	pump(t);
	ck_assert_uint_eq(t->nq, 3);
	/* an answer over the budget becomes 503 */
	static uint8_t huge[3000];
	memcpy(huge, qb, ql);
	huge[2] |= 0x80;
	ck_assert_int_eq(vg_doh_answer(t->d, d, huge, sizeof(huge)), 0);
	answer_q(t, find_q(t, s[0]));
	pump(t);
	ck_assert_int_eq(R(d)->status, 503);
	ck_assert_int_eq(R(s[0])->status, 200);
	teardown(t);
}
END_TEST

START_TEST(h2_memory_cap)
{
	/* nghttp2 needs more than this for a session at all */
	struct vg_doh_opts o = { .max_h2_mem = 1000 };
	struct vg_doh_cb cb = { .query = on_query };
	ck_assert_ptr_null(vg_doh_new(&o, &cb));

	/* enough to start, not enough for many streams: the connection fails cleanly */
	o.max_h2_mem = 40000;
	struct t *t = setup_opts(&o, 1000);
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 9, "www.example.");
	for (int i = 0; i < 100; i++)
		get(t, "/dns-query", qb, ql);
	pump(t);
	ck_assert_int_eq(t->rc, VG_ENOMEM);
	ck_assert_uint_le(vg_doh_stats(t->d)->h2_mem_peak, 40000);
	ck_assert(vg_doh_is_done(t->d));
	teardown(t);
}
END_TEST

START_TEST(graceful_shutdown)
{
	struct t *t = setup();
	uint8_t qb[512];
	size_t ql = mkquery(qb, sizeof(qb), 9, "www.example.");
	int32_t a = get(t, "/dns-query", qb, ql);
	pump(t);
	ck_assert_int_eq(vg_doh_shutdown(t->d), 0);
	pump(t);
	ck_assert(t->goaway);
	ck_assert_uint_eq(t->goaway_code, NGHTTP2_NO_ERROR);
	ck_assert(!vg_doh_is_done(t->d)); /* stream a is still owed its answer */
	answer_q(t, find_q(t, a));
	pump(t);
	ck_assert_int_eq(R(a)->status, 200);
	ck_assert(vg_doh_is_done(t->d));
	teardown(t);
}
END_TEST

START_TEST(not_http2)
{
	struct vg_doh_opts o = { 0 };
	struct vg_doh_cb cb = { .query = on_query };
	ck_assert_ptr_null(vg_doh_new(&o, &(struct vg_doh_cb){ 0 }));
	struct vg_doh *d = vg_doh_new(&o, &cb);
	ck_assert_ptr_nonnull(d);
	const char *h1 = "GET /dns-query?dns=AAAA HTTP/1.1\r\nHost: x\r\n\r\n";
	ck_assert_int_lt(vg_doh_input(d, (const uint8_t *)h1, strlen(h1), 0), 0);
	vg_doh_free(d);
	o.path[0] = 'x';
	ck_assert_ptr_null(vg_doh_new(&o, &cb));
	snprintf(o.path, sizeof(o.path), "/a?b");
	ck_assert_ptr_null(vg_doh_new(&o, &cb));
}
END_TEST

static Suite *doh_suite(void)
{
	Suite *s = suite_create("doh");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, get_answered);
	tcase_add_test(tc, post_answered_inside_callback);
	tcase_add_test(tc, output_and_free_inside_callback);
	tcase_add_test(tc, bad_base64_and_padding);
	tcase_add_test(tc, not_a_dns_query);
	tcase_add_test(tc, method_not_allowed);
	tcase_add_test(tc, too_large);
	tcase_add_test(tc, unsupported_media_type);
	tcase_add_test(tc, not_found);
	tcase_add_test(tc, client_id_in_path);
	tcase_add_test(tc, forwarded_header);
	tcase_add_test(tc, concurrent_out_of_order);
	tcase_add_test(tc, answer_after_client_reset);
	tcase_add_test(tc, answers_outlive_nothing_after_free);
	tcase_add_test(tc, drop_resets_stream);
	tcase_add_test(tc, cache_control);
	tcase_add_test(tc, rapid_reset);
	tcase_add_test(tc, rapid_reset_burst);
	tcase_add_test(tc, orphan_cap);
	tcase_add_test(tc, max_concurrent_streams);
	tcase_add_test(tc, ping_flood);
	tcase_add_test(tc, settings_flood);
	tcase_add_test(tc, other_frame_flood);
	tcase_add_test(tc, oversize_headers);
	tcase_add_test(tc, buffer_cap);
	tcase_add_test(tc, h2_memory_cap);
	tcase_add_test(tc, graceful_shutdown);
	tcase_add_test(tc, not_http2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return vg_test_run(doh_suite());
}
