/* SPDX-License-Identifier: MIT
 *
 * Resolver core driven with fake I/O (no sockets, no loop): each test plays
 * the authoritative servers by answering the core's VG_STEP_SEND with a reply
 * built here, and checks what the core asks next and what it answers.
 *
 * The binary is linked with -Wl,--wrap=malloc,calloc,realloc so the cache-hit
 * test can prove that answering from cache allocates nothing on the heap.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <check.h>

#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "resolv/resolv.h"

#include "heap_count.h"

/* Name decompressions by vigil's code (tests/meson.build wraps vg_name_unpack). */
int __real_vg_name_unpack(const uint8_t *pkt, size_t len, size_t off, uint8_t *out, bool lower,
			  size_t *next);
static unsigned long unpacks;
int __wrap_vg_name_unpack(const uint8_t *pkt, size_t len, size_t off, uint8_t *out, bool lower,
			  size_t *next)
{
	unpacks++;
	return __real_vg_name_unpack(pkt, len, off, out, lower, next);
}

/* ---------------------------------------------------------- fixture */
static struct vg_resolv_opts ropts;
static struct vg_dnssec_opts dopts;
static struct vg_hints hints;
static struct vg_resolv_env env;
static struct vg_cache *cache;
static struct vg_infra *infra;
static uint8_t *scratch, *scratch2;
static struct vg_msg *msgbuf;

static void addr4(struct vg_sockaddr *sa, const char *ip)
{
	memset(sa, 0, sizeof(*sa));
	sa->u.in4.sin_family = AF_INET;
	sa->u.in4.sin_port = htons(53);
	inet_pton(AF_INET, ip, &sa->u.in4.sin_addr);
	sa->len = sizeof(sa->u.in4);
}

static void setup(void)
{
	/* the defaults of the config's resolver and limits sections */
	ropts = (struct vg_resolv_opts){
		.allow_query_localhost = true, .allow_query_private = true,
		.qname_minimisation = true, .use_ipv6_upstream = false,
		.max_upstream_queries = 200, .max_subquery_depth = 8, .max_referrals = 30,
		.max_cname_chain = 11, .max_glueless_ns = 5, .upstream_timeout_ms = 400,
		.servfail_ttl = 5,
	};
	/* the iterator alone; validation has its own tests (test_dnssec*.c) */
	dopts = (struct vg_dnssec_opts){ .validation = false, .bogus_ttl = 60 };
	memset(&hints, 0, sizeof(hints));
	vg_name_from_str("a.root.test.", hints.ns[0], VG_NAME_MAX);
	hints.n_ns = 1;
	addr4(&hints.addr[0], "127.0.0.1");
	hints.addr_ns[0] = 0;
	hints.n_addr = 1;
	cache = vg_cache_new(4 << 20);
	infra = vg_infra_new(64);
	scratch = malloc(VG_SCRATCH);
	scratch2 = malloc(VG_SCRATCH);
	msgbuf = malloc(sizeof(*msgbuf));
	env = (struct vg_resolv_env){ .opts = &ropts, .dnssec = &dopts, .cache = cache,
				      .hints = &hints, .infra = infra, .msg = msgbuf,
				      .scratch = scratch, .scratch2 = scratch2,
				      .now_ms = 1000, .now_s = vg_time_s_of_ms(1000),
				      .now_wall = 1700000000 };
}

static void teardown(void)
{
	vg_cache_free(cache);
	vg_infra_free(infra);
	free(scratch);
	free(scratch2);
	free(msgbuf);
}

static const uint8_t *N(const char *s)
{
	static uint8_t bufs[8][VG_NAME_MAX];
	static int i;
	uint8_t *b = bufs[i++ & 7];
	ck_assert_int_gt(vg_name_from_str(s, b, VG_NAME_MAX), 0);
	return b;
}

/* A reply under construction for the query in req->out. */
struct reply {
	uint8_t buf[4096];
	struct vg_pkt p;
};

static void reply_start(struct reply *r, const struct vg_request *req, uint16_t flags, int rcode)
{
	vg_pkt_init(&r->p, r->buf, sizeof(r->buf), 1, (uint16_t)(VG_F_QR | flags));
	vg_pkt_set_rcode(&r->p, rcode);
	ck_assert_int_eq(vg_pkt_put_question(&r->p, req->out.qname, req->out.qtype, VG_C_IN), 0);
}

static void rr(struct reply *r, int sec, const char *owner, uint16_t type, uint32_t ttl,
	       const void *rd, size_t rdlen)
{
	vg_pkt_begin(&r->p, sec);
	ck_assert_int_eq(vg_pkt_put_rr(&r->p, N(owner), type, VG_C_IN, ttl, rd, (uint16_t)rdlen), 0);
}

static void rr_name(struct reply *r, int sec, const char *owner, uint16_t type, const char *target)
{
	const uint8_t *t = N(target);
	rr(r, sec, owner, type, 3600, t, vg_name_len(t));
}

static void rr_a(struct reply *r, int sec, const char *owner, const char *ip)
{
	uint8_t a[4];
	inet_pton(AF_INET, ip, a);
	rr(r, sec, owner, VG_T_A, 3600, a, 4);
}

static void rr_soa(struct reply *r, const char *zone, uint32_t minimum)
{
	uint8_t rd[VG_NAME_MAX * 2 + 20];
	size_t o = 0;
	const uint8_t *m = N("ns.test."), *e = N("hostmaster.test.");
	memcpy(rd, m, vg_name_len(m));
	o += vg_name_len(m);
	memcpy(rd + o, e, vg_name_len(e));
	o += vg_name_len(e);
	uint32_t v[5] = { 1, 3600, 600, 86400, minimum };
	for (int i = 0; i < 5; i++, o += 4)
		vg_put32(rd + o, v[i]);
	rr(r, VG_SEC_NS + 1, zone, VG_T_SOA, 3600, rd, o);
}

static enum vg_step send_reply(struct vg_request *req, struct reply *r)
{
	size_t len = vg_pkt_finish(&r->p);
	return vg_resolv_consume(req, 0, r->buf, len);
}

static void expect_send(struct vg_request *req, enum vg_step st, const char *ip, const char *qname,
			uint16_t qtype)
{
	char got[300];
	ck_assert_int_eq(st, VG_STEP_SEND);
	vg_name_to_str(req->out.qname, got, sizeof(got));
	ck_assert_msg(vg_name_eq(req->out.qname, N(qname)), "asked %s, expected %s", got, qname);
	ck_assert_uint_eq(req->out.qtype, qtype);
	struct vg_sockaddr want;
	addr4(&want, ip);
	ck_assert_msg(vg_sockaddr_eq(&req->out.to, &want), "sent to wrong server for %s", qname);
}

/* Walk root -> lab. -> example.lab. for www.example.lab A. */
static struct vg_request *resolve_www(void)
{
	struct reply r;
	struct vg_request *req = vg_request_new(&env, N("www.example.lab."), VG_T_A);
	enum vg_step st = vg_resolv_begin(req);
	expect_send(req, st, "127.0.0.1", "lab.", VG_T_A); /* minimised */
	reply_start(&r, req, 0, VG_RCODE_NOERROR);
	rr_name(&r, 2, "lab.", VG_T_NS, "ns.lab.");
	rr_a(&r, 3, "ns.lab.", "127.0.0.2");
	rr_a(&r, 3, "ns.example.lab.", "127.0.0.66"); /* out of the root's... still under "." */
	st = send_reply(req, &r);
	expect_send(req, st, "127.0.0.2", "example.lab.", VG_T_A);
	reply_start(&r, req, 0, VG_RCODE_NOERROR);
	rr_name(&r, 2, "example.lab.", VG_T_NS, "ns.example.lab.");
	rr_a(&r, 3, "ns.example.lab.", "127.0.0.3");
	rr_a(&r, 3, "bank.other.", "127.0.0.99"); /* out of bailiwick: must be ignored */
	st = send_reply(req, &r);
	expect_send(req, st, "127.0.0.3", "www.example.lab.", VG_T_A);
	reply_start(&r, req, VG_F_AA, VG_RCODE_NOERROR);
	rr_a(&r, 1, "www.example.lab.", "192.0.2.1");
	st = send_reply(req, &r);
	ck_assert_int_eq(st, VG_STEP_ANSWER);
	return req;
}

START_TEST(referrals_to_answer)
{
	struct vg_request *req = resolve_www();
	ck_assert_int_eq(req->rcode, VG_RCODE_NOERROR);
	ck_assert_uint_eq(req->n_answer, 1);
	ck_assert_uint_eq(req->answer[0]->type, VG_T_A);
	ck_assert_mem_eq(req->answer[0]->rdata + 2, "\xc0\x00\x02\x01", 4);
	ck_assert_uint_eq(req->used.referrals, 2);
	ck_assert_uint_eq(req->used.upstream, 3);
	vg_request_free(req);
	/* out-of-bailiwick glue was not cached */
	ck_assert(!vg_cache_has(cache, N("bank.other."), VG_T_A, env.now_s));
	/* in-bailiwick glue was */
	ck_assert(vg_cache_has(cache, N("ns.example.lab."), VG_T_A, env.now_s));
}
END_TEST

START_TEST(large_rrset_duplicates_dropped)
{
	/* RFC 2181 5: one RRset of 100 addresses, each sent twice or three
	 * times, interleaved (the first copies before and after the point
	 * where vigil stops comparing records one by one and hashes them) */
	struct reply r;
	struct vg_request *req = vg_request_new(&env, N("www.example.lab."), VG_T_A);
	enum vg_step st = vg_resolv_begin(req);
	reply_start(&r, req, 0, VG_RCODE_NOERROR);
	rr_name(&r, 2, "lab.", VG_T_NS, "ns.lab.");
	rr_a(&r, 3, "ns.lab.", "127.0.0.2");
	st = send_reply(req, &r);
	reply_start(&r, req, 0, VG_RCODE_NOERROR);
	rr_name(&r, 2, "example.lab.", VG_T_NS, "ns.example.lab.");
	rr_a(&r, 3, "ns.example.lab.", "127.0.0.3");
	st = send_reply(req, &r);
	expect_send(req, st, "127.0.0.3", "www.example.lab.", VG_T_A);
	reply_start(&r, req, VG_F_AA, VG_RCODE_NOERROR);
	for (unsigned i = 0; i < 240; i++) {
		unsigned k = i < 100 ? i : i < 200 ? 199 - i : (i * 7) % 100;
		uint8_t a[4] = { 192, 0, 2, (uint8_t)k };
		rr(&r, 1, "www.example.lab.", VG_T_A, 3600, a, 4);
	}
	st = send_reply(req, &r);
	ck_assert_int_eq(st, VG_STEP_ANSWER);
	ck_assert_int_eq(req->rcode, VG_RCODE_NOERROR);
	ck_assert_uint_eq(req->n_answer, 1);
	const struct vg_rrset *rs = req->answer[0];
	ck_assert_uint_eq(rs->count, 100);
	bool seen[100] = { false };
	const uint8_t *p = rs->rdata;
	for (unsigned i = 0; i < rs->count; i++, p += 2 + 4) {
		ck_assert_uint_eq(vg_get16(p), 4);
		ck_assert_uint_lt(p[5], 100);
		ck_assert_msg(!seen[p[5]], "192.0.2.%u twice", p[5]);
		seen[p[5]] = true;
	}
	vg_request_free(req);
}
END_TEST

/* Raw message building, for names compressed as a hostile server would. */
static size_t put_rr_raw(uint8_t *b, size_t o, uint16_t owner_ptr, uint16_t type,
			 const uint8_t *rd, size_t rdlen)
{
	vg_put16(b + o, (uint16_t)(0xc000 | owner_ptr));
	vg_put16(b + o + 2, type);
	vg_put16(b + o + 4, VG_C_IN);
	vg_put32(b + o + 6, 3600);
	vg_put16(b + o + 10, (uint16_t)rdlen);
	memcpy(b + o + 12, rd, rdlen);
	return o + 12 + rdlen;
}

/* An authoritative answer's header and question (@p qname, @p ql bytes,
 * type @p qtype) for @p ancount records into @p b; where the records go. */
static size_t put_head_raw(uint8_t *b, const uint8_t *qname, size_t ql, uint16_t qtype,
			   unsigned ancount)
{
	vg_put16(b, 1);
	vg_put16(b + 2, VG_F_QR | VG_F_AA);
	vg_put16(b + 4, 1);
	vg_put16(b + 6, (uint16_t)ancount);
	vg_put16(b + 8, 0);
	vg_put16(b + 10, 0);
	memcpy(b + 12, qname, ql);
	vg_put16(b + 12 + ql, qtype);
	vg_put16(b + 12 + ql + 2, VG_C_IN);
	return 12 + ql + 4;
}

/* @p labels labels "a" under lab. into @p qname; its length. */
static size_t long_qname(uint8_t *qname, int labels)
{
	size_t ql = 0;
	for (int i = 0; i < labels; i++) {
		qname[ql++] = 1;
		qname[ql++] = 'a';
	}
	memcpy(qname + ql, "\3lab", 5);
	return ql + 5;
}

/*
 * An ANY answer of 64 RRsets at a 120-label name plus 440 RRSIGs there,
 * every owner a compression pointer to the question: gathering each RRset
 * and its RRSIGs used to decompress every record of the section again (and
 * unpack the rdata of every RRSIG at the name), ~30,000 decompressions of
 * 245-byte names, 200 million instructions (19 ms of the worker).  Now each
 * owner is decompressed about once to hash it, once when it is gathered, and
 * the ANY loop's own pass: a few per record.
 */
START_TEST(hostile_answer_gathered_in_linear_time)
{
	enum { TYPES = 64, SIGS = 440, LABELS = 120 };
	static uint8_t b[65535];
	uint8_t qname[VG_NAME_MAX], rd[64];
	size_t ql = long_qname(qname, LABELS);
	ropts.qname_minimisation = false;
	dopts.validation = true; /* RRSIGs are gathered (no anchor: not validated) */
	struct vg_request *req = vg_request_new(&env, qname, VG_T_ANY);
	enum vg_step st = vg_resolv_begin(req);
	ck_assert_int_eq(st, VG_STEP_SEND);

	size_t o = put_head_raw(b, qname, ql, VG_T_ANY, TYPES + SIGS);
	for (unsigned i = 0; i < TYPES; i++)
		o = put_rr_raw(b, o, 12, (uint16_t)(65280 + i), (const uint8_t *)"x", 1);
	for (unsigned i = 0; i < SIGS; i++) {
		memset(rd, 0, sizeof(rd));
		vg_put16(rd, (uint16_t)(65280 + i % TYPES)); /* type covered */
		rd[2] = 13;
		rd[3] = 2;
		vg_put16(rd + 18, (uint16_t)(0xc000 | (12 + 2 * LABELS))); /* signer lab. */
		memset(rd + 20, 'S', 8);
		vg_put32(rd + 4, i); /* distinct records */
		o = put_rr_raw(b, o, 12, VG_T_RRSIG, rd, 28);
	}
	unpacks = 0;
	st = vg_resolv_consume(req, 0, b, o);
	unsigned long used = unpacks;
	ck_assert_int_eq(st, VG_STEP_ANSWER);
	ck_assert_uint_eq(req->n_answer, TYPES);
	for (unsigned i = 0; i < TYPES; i++) {
		ck_assert_ptr_nonnull(req->answer_sig[i]);
		ck_assert_uint_eq(req->answer_sig[i]->count, SIGS / TYPES + (i < SIGS % TYPES));
	}
	/* per record: the owner hashed, the ANY loop's pass, gathered; an
	 * RRSIG's signer once more (before: ~30,000 in all) */
	ck_assert_msg(used <= 5ul * (TYPES + SIGS), "%lu name decompressions for %u records",
		      used, TYPES + SIGS);
	vg_request_free(req);
}
END_TEST

/*
 * KeyTrap's answer: one A record and 480 distinct RRSIGs over it, every
 * owner a compression pointer to the question.  Only the first 64 RRSIGs are
 * kept (the validator tries at most max-rrsigs-per-rrset <= 64 of them), and
 * the owner, the same name 481 times, is decompressed once to hash it and
 * once to gather the RRset: before, every RRSIG's owner was decompressed
 * twice and all 480 RRSIGs copied (~1,500 decompressions).
 */
START_TEST(keytrap_rrsigs_bounded_owner_decompressed_once)
{
	enum { SIGS = 480, LABELS = 60 };
	static uint8_t b[65535];
	uint8_t qname[VG_NAME_MAX], rd[64];
	size_t ql = long_qname(qname, LABELS);
	ropts.qname_minimisation = false;
	dopts.validation = true; /* RRSIGs are gathered (no anchor: not validated) */
	struct vg_request *req = vg_request_new(&env, qname, VG_T_A);
	ck_assert_int_eq(vg_resolv_begin(req), VG_STEP_SEND);
	size_t o = put_head_raw(b, qname, ql, VG_T_A, 1 + SIGS);
	o = put_rr_raw(b, o, 12, VG_T_A, (const uint8_t *)"\xc0\x00\x02\x01", 4);
	for (unsigned i = 0; i < SIGS; i++) {
		memset(rd, 0, sizeof(rd));
		vg_put16(rd, VG_T_A); /* type covered */
		rd[2] = 8;
		rd[3] = (uint8_t)(LABELS + 1);
		vg_put32(rd + 4, 3600);
		vg_put32(rd + 8, i); /* distinct records */
		vg_put16(rd + 18, (uint16_t)(0xc000 | (12 + 2 * LABELS))); /* signer lab. */
		memset(rd + 20, 'S', 8);
		o = put_rr_raw(b, o, 12, VG_T_RRSIG, rd, 28);
	}
	unpacks = 0;
	enum vg_step st = vg_resolv_consume(req, 0, b, o);
	unsigned long used = unpacks;
	ck_assert_int_eq(st, VG_STEP_ANSWER);
	ck_assert_uint_eq(req->n_answer, 1);
	ck_assert_ptr_nonnull(req->answer_sig[0]);
	ck_assert_uint_eq(req->answer_sig[0]->count, 64);
	/* the first 64 of them, in the order they came */
	const uint8_t *p = req->answer_sig[0]->rdata;
	for (unsigned i = 0; i < 64; i++) {
		ck_assert_uint_eq(vg_get32(p + 2 + 8), i);
		p += 2 + vg_get16(p);
	}
	/* owners: a few in all; signers: one per RRSIG kept */
	ck_assert_msg(used <= 64 + 16, "%lu name decompressions for %u records", used, 1 + SIGS);
	vg_request_free(req);
}
END_TEST

/* A CNAME chain of 11 hops along a 120-label name, padded with 490 DNAMEs
 * owned by a name that is no ancestor of it: each hop's DNAME search used to
 * decompress every DNAME owner (~5,900 decompressions, 40 million
 * instructions); now only those whose hash is an ancestor's. */
START_TEST(dname_search_is_linear)
{
	enum { HOPS = 11, DNAMES = 490, LABELS = 120 };
	static uint8_t b[65535];
	uint8_t qname[VG_NAME_MAX], rd[4];
	size_t ql = long_qname(qname, LABELS);
	ropts.qname_minimisation = false;
	struct vg_request *req = vg_request_new(&env, qname, VG_T_A);
	ck_assert_int_eq(vg_resolv_begin(req), VG_STEP_SEND);
	size_t o = put_head_raw(b, qname, ql, VG_T_A, HOPS + DNAMES);
	for (unsigned k = 0; k < HOPS; k++) { /* a^(120-k).lab CNAME a^(119-k).lab */
		vg_put16(rd, (uint16_t)(0xc000 | (12 + 2 * (k + 1))));
		o = put_rr_raw(b, o, (uint16_t)(12 + 2 * k), VG_T_CNAME, rd, 2);
	}
	size_t x = o; /* x.<qname>, owner of the DNAMEs: first written here */
	b[o++] = 1;
	b[o++] = 'x';
	vg_put16(b + o, 0xc000 | 12);
	o += 2;
	vg_put16(b + o, VG_T_DNAME);
	vg_put16(b + o + 2, VG_C_IN);
	vg_put32(b + o + 4, 3600);
	vg_put16(b + o + 8, 2);
	vg_put16(b + o + 10, 0xc000 | 12);
	o += 12;
	for (unsigned i = 1; i < DNAMES; i++) {
		vg_put16(rd, (uint16_t)(0xc000 | (12 + 2 * (i % 100))));
		o = put_rr_raw(b, o, (uint16_t)x, VG_T_DNAME, rd, 2);
	}
	unpacks = 0;
	(void)vg_resolv_consume(req, 0, b, o);
	unsigned long used = unpacks;
	ck_assert_uint_eq(req->n_answer, HOPS);
	ck_assert_msg(used <= 3ul * (HOPS + DNAMES), "%lu name decompressions for %u records",
		      used, HOPS + DNAMES);
	vg_request_free(req);
}
END_TEST

/* Ask @p qname (3 labels below example.lab.), whose parent is no zone cut:
 * the first send is @p first (the parent, minimised, or the full name). */
static void ask_below_non_cut(const char *qname, const char *first, bool ent)
{
	struct reply r;
	struct vg_request *req = vg_request_new(&env, N(qname), VG_T_A);
	enum vg_step st = vg_resolv_begin(req);
	expect_send(req, st, "127.0.0.3", first, VG_T_A);
	if (!vg_name_eq(N(first), N(qname))) { /* the minimised step */
		reply_start(&r, req, VG_F_AA, VG_RCODE_NOERROR);
		if (ent)
			rr_soa(&r, "example.lab.", 300);
		else
			rr_a(&r, 1, first, "192.0.2.7");
		st = send_reply(req, &r);
		expect_send(req, st, "127.0.0.3", qname, VG_T_A);
	}
	reply_start(&r, req, VG_F_AA, VG_RCODE_NOERROR);
	rr_a(&r, 1, qname, "192.0.2.8");
	st = send_reply(req, &r);
	ck_assert_int_eq(st, VG_STEP_ANSWER);
	ck_assert_int_eq(req->rcode, VG_RCODE_NOERROR);
	vg_request_free(req);
}

START_TEST(minimised_name_known_no_cut_not_asked_again)
{
	/* RFC 9156: once b.example.lab. answered a minimised query without a
	 * referral (with data, or as an empty non-terminal), the next name
	 * below it goes to the zone's server in full: one upstream query, not
	 * two */
	vg_request_free(resolve_www());
	ask_below_non_cut("a.b.example.lab.", "b.example.lab.", false);
	ask_below_non_cut("c.b.example.lab.", "c.b.example.lab.", false);
	ask_below_non_cut("x.e.example.lab.", "e.example.lab.", true);
	ask_below_non_cut("y.e.example.lab.", "y.e.example.lab.", true);
	/* the marker is never an answer: not from the cache stage the pipeline
	 * asks first, and a client asking its type is resolved */
	uint8_t qbuf[512], out[512];
	int qlen = vg_wire_make_query(qbuf, sizeof(qbuf), 9, N("b.example.lab."),
				      VG_T_PRIV_NOCUT, true, 1232, false);
	struct vg_query q;
	int rc;
	ck_assert_int_eq(vg_query_parse(&q, qbuf, (size_t)qlen, &rc), 0);
	struct vg_client_q cq = { .q = &q, .limit = 1232, .edns_size = 1232 };
	ck_assert_uint_eq(vg_resolv_answer_cached(&env, &cq, NULL, out, sizeof(out)), 0);
	struct vg_request *req = vg_request_new(&env, N("b.example.lab."), VG_T_PRIV_NOCUT);
	expect_send(req, vg_resolv_begin(req), "127.0.0.3", "b.example.lab.", VG_T_PRIV_NOCUT);
	vg_request_free(req);
	/* and it lives as long as the answer's records: past that, minimised again */
	env.now_s += 301;
	env.now_ms += 301000;
	ask_below_non_cut("z.e.example.lab.", "e.example.lab.", true);
}
END_TEST

START_TEST(delegation_reused_from_cache)
{
	vg_request_free(resolve_www());
	/* a sibling name starts at the cached example.lab. cut, one query */
	struct vg_request *req = vg_request_new(&env, N("mail.example.lab."), VG_T_A);
	enum vg_step st = vg_resolv_begin(req);
	expect_send(req, st, "127.0.0.3", "mail.example.lab.", VG_T_A);
	vg_request_free(req);
}
END_TEST

START_TEST(cache_hit_allocates_nothing)
{
	vg_request_free(resolve_www());
	uint8_t qbuf[512], out[4096];
	static const uint8_t mixed[] = "\3WWW\7Example\3LAB"; /* client's own case */
	int qlen = vg_wire_make_query(qbuf, sizeof(qbuf), 77, mixed, VG_T_A, true, 1232, false);
	struct vg_query q;
	int rc;
	ck_assert_int_eq(vg_query_parse(&q, qbuf, (size_t)qlen, &rc), 0);
	struct vg_client_q cq = { .q = &q, .limit = 1232, .edns_size = 1232 };
	unsigned long before = heap_calls;
	size_t n = vg_resolv_answer_cached(&env, &cq, NULL, out, sizeof(out));
	unsigned long after = heap_calls;
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_eq(after, before);
	struct vg_msg *m = msgbuf;
	ck_assert_int_eq(vg_msg_parse(m, out, n), 0);
	ck_assert_uint_eq(m->id, 77);
	ck_assert_uint_eq(m->ancount, 1);
	ck_assert(m->flags & VG_F_RA);
	/* question echoed with the client's case */
	ck_assert_mem_eq(out + 12, mixed, sizeof(mixed));
}
END_TEST

START_TEST(nxdomain_cached_with_soa)
{
	struct reply r;
	ropts.qname_minimisation = false;
	struct vg_request *req = vg_request_new(&env, N("nope.test."), VG_T_A);
	enum vg_step st = vg_resolv_begin(req);
	expect_send(req, st, "127.0.0.1", "nope.test.", VG_T_A);
	reply_start(&r, req, VG_F_AA, VG_RCODE_NXDOMAIN);
	rr_soa(&r, ".", 300);
	st = send_reply(req, &r);
	ck_assert_int_eq(st, VG_STEP_ANSWER);
	ck_assert_int_eq(req->rcode, VG_RCODE_NXDOMAIN);
	ck_assert_ptr_nonnull(req->soa);
	ck_assert_uint_eq(req->soa->ttl, 300); /* min(SOA TTL, MINIMUM) */
	vg_request_free(req);
	/* the second time, the core answers from cache without asking */
	req = vg_request_new(&env, N("nope.test."), VG_T_A);
	ck_assert_int_eq(vg_resolv_begin(req), VG_STEP_ANSWER);
	ck_assert_int_eq(req->rcode, VG_RCODE_NXDOMAIN);
	ck_assert_uint_eq(req->used.upstream, 0);
	vg_request_free(req);
}
END_TEST

START_TEST(cname_loop_is_bounded)
{
	struct reply r;
	ropts.qname_minimisation = false;
	ropts.max_cname_chain = 5;
	struct vg_request *req = vg_request_new(&env, N("a.loop."), VG_T_A);
	enum vg_step st = vg_resolv_begin(req);
	for (int i = 0; i < 20 && st == VG_STEP_SEND; i++) {
		/* the hostile server answers every name with a CNAME to the other */
		const char *self = vg_name_eq(req->out.qname, N("a.loop.")) ? "a.loop." : "b.loop.";
		const char *other = self[0] == 'a' ? "b.loop." : "a.loop.";
		reply_start(&r, req, VG_F_AA, VG_RCODE_NOERROR);
		rr_name(&r, 1, self, VG_T_CNAME, other);
		st = send_reply(req, &r);
	}
	ck_assert_int_eq(st, VG_STEP_FAIL);
	ck_assert_int_eq(req->rcode, VG_RCODE_SERVFAIL);
	ck_assert_uint_le(req->used.upstream, 2);
	vg_request_free(req);
}
END_TEST

START_TEST(upstream_budget_is_bounded)
{
	ropts.qname_minimisation = false;
	ropts.max_upstream_queries = 7;
	/* 6 name servers without glue, each needing sub-queries that time out */
	struct vg_request *req = vg_request_new(&env, N("x.slow."), VG_T_A);
	enum vg_step st = vg_resolv_begin(req);
	unsigned sent = 0;
	while (st == VG_STEP_SEND && sent < 100) {
		sent++;
		st = vg_resolv_consume(req, -110 /* -ETIMEDOUT */, NULL, 0);
	}
	ck_assert_int_eq(st, VG_STEP_FAIL);
	ck_assert_uint_le(sent, 7);
	vg_request_free(req);
	/* and the failure is cached (RFC 9520): the next ask costs nothing */
	req = vg_request_new(&env, N("x.slow."), VG_T_A);
	ck_assert_int_eq(vg_resolv_begin(req), VG_STEP_FAIL);
	ck_assert_uint_eq(req->used.upstream, 0);
	vg_request_free(req);
}
END_TEST

START_TEST(garbage_reply_tries_next_server)
{
	/* two root addresses: a reply that does not parse makes the core move on */
	addr4(&hints.addr[1], "127.0.0.5");
	hints.addr_ns[1] = 0;
	hints.n_addr = 2;
	ropts.qname_minimisation = false;
	struct vg_request *req = vg_request_new(&env, N("g.test."), VG_T_A);
	enum vg_step st = vg_resolv_begin(req);
	ck_assert_int_eq(st, VG_STEP_SEND);
	struct vg_sockaddr first = req->out.to;
	static const uint8_t junk[7] = { 1, 2, 3 };
	st = vg_resolv_consume(req, 0, junk, sizeof(junk));
	ck_assert_int_eq(st, VG_STEP_SEND);
	ck_assert(!vg_sockaddr_eq(&first, &req->out.to));
	vg_request_free(req);
}
END_TEST

/* The only server drops this query but answers others in between (what
 * response rate limiting does): each answer resets the server's own
 * back-off, yet every retry of this task waits twice the one before -- 400,
 * 800, 1600 ms, then the cap -- instead of the server's shortest timeout,
 * and after MAX_TRIES (4) timeouts the task gives up with SERVFAIL. */
START_TEST(timeouts_back_off_per_task)
{
	ropts.qname_minimisation = false;
	struct vg_request *req = vg_request_new(&env, N("t.test."), VG_T_A);
	enum vg_step st = vg_resolv_begin(req);
	ck_assert_int_eq(st, VG_STEP_SEND);
	struct vg_sockaddr root = req->out.to;
	uint32_t last = req->out.timeout_ms;
	ck_assert_uint_eq(last, 400); /* a server never seen: upstream_timeout_ms */
	static const uint32_t want[] = { 800, 1600, VG_INFRA_RTO_MAX };
	for (int i = 0; i < 3; i++) {
		vg_infra_timed_out(infra, &root, last, env.now_ms);
		env.now_ms += last;
		vg_infra_rtt(infra, &root, 2, env.now_ms); /* another query's answer */
		ck_assert_uint_lt(vg_infra_timeout(infra, &root, env.now_ms, 400), last);
		st = vg_resolv_consume(req, -ETIMEDOUT, NULL, 0);
		ck_assert_int_eq(st, VG_STEP_SEND);
		ck_assert(vg_sockaddr_eq(&req->out.to, &root));
		ck_assert_uint_eq(req->out.timeout_ms, want[i]);
		last = req->out.timeout_ms;
	}
	st = vg_resolv_consume(req, -ETIMEDOUT, NULL, 0);
	ck_assert_int_eq(st, VG_STEP_FAIL);
	ck_assert_int_eq(req->rcode, VG_RCODE_SERVFAIL);
	ck_assert_uint_eq(req->up.timeouts, 4);
	vg_request_free(req);
}
END_TEST

START_TEST(glueless_ns_resolved_by_subquery)
{
	struct reply r;
	ropts.qname_minimisation = false;
	struct vg_request *req = vg_request_new(&env, N("www.gl.test."), VG_T_A);
	enum vg_step st = vg_resolv_begin(req);
	expect_send(req, st, "127.0.0.1", "www.gl.test.", VG_T_A);
	reply_start(&r, req, 0, VG_RCODE_NOERROR);
	rr_name(&r, 2, "gl.test.", VG_T_NS, "ns.hoster.test."); /* no glue */
	st = send_reply(req, &r);
	/* sub-query for the NS name's address, from the root again */
	expect_send(req, st, "127.0.0.1", "ns.hoster.test.", VG_T_A);
	reply_start(&r, req, VG_F_AA, VG_RCODE_NOERROR);
	rr_a(&r, 1, "ns.hoster.test.", "127.0.0.8");
	st = send_reply(req, &r);
	expect_send(req, st, "127.0.0.8", "www.gl.test.", VG_T_A);
	reply_start(&r, req, VG_F_AA, VG_RCODE_NOERROR);
	rr_a(&r, 1, "www.gl.test.", "192.0.2.9");
	ck_assert_int_eq(send_reply(req, &r), VG_STEP_ANSWER);
	ck_assert_uint_eq(req->n_answer, 1);
	ck_assert_uint_eq(req->answer[0]->type, VG_T_A); /* the sub-query's A is not in it */
	vg_request_free(req);
}
END_TEST

START_TEST(upper_case_ns_names_found_in_cache)
{
	struct reply r;
	ropts.qname_minimisation = false;
	struct vg_request *req = vg_request_new(&env, N("www.uc.test."), VG_T_A);
	enum vg_step st = vg_resolv_begin(req);
	expect_send(req, st, "127.0.0.1", "www.uc.test.", VG_T_A);
	reply_start(&r, req, 0, VG_RCODE_NOERROR);
	static const uint8_t upper[] = "\2NS\2UC\4TEST"; /* NS.UC.TEST. as sent */
	rr(&r, 2, "uc.test.", VG_T_NS, 3600, upper, sizeof(upper));
	vg_pkt_begin(&r.p, 3);
	ck_assert_int_eq(vg_pkt_put_rr(&r.p, upper, VG_T_A, VG_C_IN, 3600,
				       (const uint8_t *)"\x7f\0\0\x09", 4), 0);
	st = send_reply(req, &r);
	expect_send(req, st, "127.0.0.9", "www.uc.test.", VG_T_A);
	vg_request_free(req);
	/* the cut now comes from the cache: the glue must be found under its name */
	req = vg_request_new(&env, N("mail.uc.test."), VG_T_A);
	expect_send(req, vg_resolv_begin(req), "127.0.0.9", "mail.uc.test.", VG_T_A);
	vg_request_free(req);
}
END_TEST

START_TEST(many_root_hints_fit)
{
	/* more hint names than a task keeps: no out-of-bounds bookkeeping */
	memset(&hints, 0, sizeof(hints));
	for (unsigned i = 0; i < VG_HINTS_MAX; i++) {
		char n[32], ip[32];
		snprintf(n, sizeof(n), "r%u.root.test.", i);
		snprintf(ip, sizeof(ip), "127.0.1.%u", i + 1);
		vg_name_from_str(n, hints.ns[i], VG_NAME_MAX);
		addr4(&hints.addr[i], ip);
		hints.addr_ns[i] = (uint8_t)i;
	}
	hints.n_ns = hints.n_addr = VG_HINTS_MAX;
	struct vg_request *req = vg_request_new(&env, N("x.test."), VG_T_A);
	ck_assert_int_eq(vg_resolv_begin(req), VG_STEP_SEND);
	vg_request_free(req);
}
END_TEST

/* Prime the root: ". NS" answered by the hint server with @p ns and no
 * additional section (no addresses for the root's name servers). */
static void prime_without_glue(const char *ns)
{
	struct reply r;
	struct vg_request *req = vg_request_new(&env, N("."), VG_T_NS);
	enum vg_step st = vg_resolv_begin(req);
	expect_send(req, st, "127.0.0.1", ".", VG_T_NS);
	reply_start(&r, req, VG_F_AA, VG_RCODE_NOERROR);
	rr_name(&r, 1, ".", VG_T_NS, ns);
	ck_assert_int_eq(send_reply(req, &r), VG_STEP_ANSWER);
	ck_assert_int_eq(req->rcode, VG_RCODE_NOERROR);
	vg_request_free(req);
	ck_assert(!vg_cache_has(cache, N(ns), VG_T_A, env.now_s));
}

START_TEST(root_ns_answer_without_addresses_keeps_hints)
{
	/* issue 11: the priming answer named the root's server without its
	 * address; the hints' address must still be used (it was left with "1
	 * name servers, 0 addresses" and failed every query) */
	ropts.qname_minimisation = false;
	prime_without_glue("a.root.test.");
	struct vg_request *req = vg_request_new(&env, N("www.x.test."), VG_T_A);
	expect_send(req, vg_resolv_begin(req), "127.0.0.1", "www.x.test.", VG_T_A);
	vg_request_free(req);
	/* and ". NS" itself (from the cache) */
	req = vg_request_new(&env, N("."), VG_T_NS);
	ck_assert_int_eq(vg_resolv_begin(req), VG_STEP_ANSWER);
	ck_assert_int_eq(req->rcode, VG_RCODE_NOERROR);
	vg_request_free(req);
}
END_TEST

START_TEST(root_ns_names_without_addresses_are_resolved)
{
	/* the priming answer names another server than the hints, without an
	 * address; when the hints' server fails, that name is resolved through
	 * the zone it lives in (test., known from an earlier referral) instead of
	 * giving up: it is under the root, but not served by the root itself */
	ropts.qname_minimisation = false;
	struct reply r;
	struct vg_request *req = vg_request_new(&env, N("www.y.test."), VG_T_A);
	enum vg_step st = vg_resolv_begin(req);
	expect_send(req, st, "127.0.0.1", "www.y.test.", VG_T_A);
	reply_start(&r, req, 0, VG_RCODE_NOERROR);
	rr_name(&r, 2, "test.", VG_T_NS, "ns.test.");
	rr_a(&r, 3, "ns.test.", "127.0.0.7");
	st = send_reply(req, &r);
	expect_send(req, st, "127.0.0.7", "www.y.test.", VG_T_A);
	reply_start(&r, req, VG_F_AA, VG_RCODE_NOERROR);
	rr_a(&r, 1, "www.y.test.", "192.0.2.1");
	ck_assert_int_eq(send_reply(req, &r), VG_STEP_ANSWER);
	vg_request_free(req);

	prime_without_glue("b.root.test.");
	req = vg_request_new(&env, N("www.z.other."), VG_T_A);
	st = vg_resolv_begin(req);
	expect_send(req, st, "127.0.0.1", "www.z.other.", VG_T_A);
	/* the hints' server is lame for the root from now on */
	vg_infra_lame(infra, &req->out.to, N("."), env.now_ms);
	st = vg_resolv_consume(req, -110 /* -ETIMEDOUT */, NULL, 0);
	expect_send(req, st, "127.0.0.7", "b.root.test.", VG_T_A);
	reply_start(&r, req, VG_F_AA, VG_RCODE_NOERROR);
	rr_a(&r, 1, "b.root.test.", "127.0.0.9");
	st = send_reply(req, &r);
	expect_send(req, st, "127.0.0.9", "www.z.other.", VG_T_A);
	vg_request_free(req);
}
END_TEST

START_TEST(parent_glue_kept_when_child_addresses_fail)
{
	/* issue 11: the parent's glue for ns.pc.test. (127.0.0.20) and the
	 * child's own address for it (127.0.0.21) differ, as while renumbering.
	 * Once the child's was learned, the glue was gone: when the child's
	 * address stopped answering, the zone failed. */
	ropts.qname_minimisation = false;
	struct reply r;
	struct vg_request *req = vg_request_new(&env, N("www.pc.test."), VG_T_A);
	enum vg_step st = vg_resolv_begin(req);
	expect_send(req, st, "127.0.0.1", "www.pc.test.", VG_T_A);
	reply_start(&r, req, 0, VG_RCODE_NOERROR);
	rr_name(&r, 2, "pc.test.", VG_T_NS, "ns.pc.test.");
	rr_a(&r, 3, "ns.pc.test.", "127.0.0.20");
	st = send_reply(req, &r);
	expect_send(req, st, "127.0.0.20", "www.pc.test.", VG_T_A);
	reply_start(&r, req, VG_F_AA, VG_RCODE_NOERROR);
	rr_a(&r, 1, "www.pc.test.", "192.0.2.1");
	ck_assert_int_eq(send_reply(req, &r), VG_STEP_ANSWER);
	vg_request_free(req);

	/* the child's side of ns.pc.test. (a client asked for it) */
	req = vg_request_new(&env, N("ns.pc.test."), VG_T_A);
	st = vg_resolv_begin(req);
	expect_send(req, st, "127.0.0.20", "ns.pc.test.", VG_T_A);
	reply_start(&r, req, VG_F_AA, VG_RCODE_NOERROR);
	rr_a(&r, 1, "ns.pc.test.", "127.0.0.21");
	ck_assert_int_eq(send_reply(req, &r), VG_STEP_ANSWER);
	vg_request_free(req);

	/* the child's address times out: the parent's is tried */
	req = vg_request_new(&env, N("mail.pc.test."), VG_T_A);
	st = vg_resolv_begin(req);
	struct vg_sockaddr child, parent;
	addr4(&child, "127.0.0.21");
	addr4(&parent, "127.0.0.20");
	for (unsigned i = 0; i < 10 && st == VG_STEP_SEND && vg_sockaddr_eq(&req->out.to, &child);
	     i++)
		st = vg_resolv_consume(req, -110 /* -ETIMEDOUT */, NULL, 0);
	ck_assert_int_eq(st, VG_STEP_SEND);
	ck_assert_msg(vg_sockaddr_eq(&req->out.to, &parent), "the parent's glue was not tried");
	expect_send(req, st, "127.0.0.20", "mail.pc.test.", VG_T_A);
	reply_start(&r, req, VG_F_AA, VG_RCODE_NOERROR);
	rr_a(&r, 1, "mail.pc.test.", "192.0.2.2");
	ck_assert_int_eq(send_reply(req, &r), VG_STEP_ANSWER);
	ck_assert_int_eq(req->rcode, VG_RCODE_NOERROR);
	vg_request_free(req);
}
END_TEST

START_TEST(child_addresses_tried_when_parent_glue_fails)
{
	/* the other way round: the glue is stale, the child's address works */
	ropts.qname_minimisation = false;
	struct reply r;
	struct vg_request *req = vg_request_new(&env, N("ns.pd.test."), VG_T_A);
	enum vg_step st = vg_resolv_begin(req);
	expect_send(req, st, "127.0.0.1", "ns.pd.test.", VG_T_A);
	reply_start(&r, req, 0, VG_RCODE_NOERROR);
	rr_name(&r, 2, "pd.test.", VG_T_NS, "ns.pd.test.");
	rr_a(&r, 3, "ns.pd.test.", "127.0.0.30");
	st = send_reply(req, &r);
	expect_send(req, st, "127.0.0.30", "ns.pd.test.", VG_T_A);
	reply_start(&r, req, VG_F_AA, VG_RCODE_NOERROR);
	rr_a(&r, 1, "ns.pd.test.", "127.0.0.31");
	ck_assert_int_eq(send_reply(req, &r), VG_STEP_ANSWER);
	vg_request_free(req);

	req = vg_request_new(&env, N("www.pd.test."), VG_T_A);
	st = vg_resolv_begin(req);
	struct vg_sockaddr glue, child;
	addr4(&glue, "127.0.0.30");
	addr4(&child, "127.0.0.31");
	for (unsigned i = 0; i < 10 && st == VG_STEP_SEND && vg_sockaddr_eq(&req->out.to, &glue);
	     i++)
		st = vg_resolv_consume(req, -110 /* -ETIMEDOUT */, NULL, 0);
	ck_assert_int_eq(st, VG_STEP_SEND);
	ck_assert_msg(vg_sockaddr_eq(&req->out.to, &child), "the child's address was not tried");
	vg_request_free(req);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("resolv");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, referrals_to_answer);
	tcase_add_test(tc, delegation_reused_from_cache);
	tcase_add_test(tc, minimised_name_known_no_cut_not_asked_again);
	tcase_add_test(tc, hostile_answer_gathered_in_linear_time);
	tcase_add_test(tc, keytrap_rrsigs_bounded_owner_decompressed_once);
	tcase_add_test(tc, dname_search_is_linear);
	tcase_add_test(tc, large_rrset_duplicates_dropped);
	tcase_add_test(tc, cache_hit_allocates_nothing);
	tcase_add_test(tc, nxdomain_cached_with_soa);
	tcase_add_test(tc, cname_loop_is_bounded);
	tcase_add_test(tc, upstream_budget_is_bounded);
	tcase_add_test(tc, garbage_reply_tries_next_server);
	tcase_add_test(tc, timeouts_back_off_per_task);
	tcase_add_test(tc, glueless_ns_resolved_by_subquery);
	tcase_add_test(tc, upper_case_ns_names_found_in_cache);
	tcase_add_test(tc, many_root_hints_fit);
	tcase_add_test(tc, root_ns_answer_without_addresses_keeps_hints);
	tcase_add_test(tc, root_ns_names_without_addresses_are_resolved);
	tcase_add_test(tc, parent_glue_kept_when_child_addresses_fail);
	tcase_add_test(tc, child_addresses_tried_when_parent_glue_fails);
	suite_add_tcase(s, tc);
	return vg_test_run(s);
}
