/* SPDX-License-Identifier: MIT
 *
 * Unit tests for src/cache: positive and negative entries, remaining TTLs on
 * explicit clocks, case-insensitive keys, rank replacement rules, TTL clamps,
 * the byte bound under eviction pressure and its LRU order, size errors, a
 * multi-threaded smoke test, and the DNSSEC additions: RRSIGs kept with an
 * RRset, the secure-entry replacement rule, negative proofs, a wildcard
 * expansion's proof kept with its RRset, vg_cache_set_sec.
 *
 * Times are explicit `now` values (seconds); the cache never reads the clock.
 */
#include <check.h>

#include "check_main.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "cache/cache.h"
#include "vigil/err.h"
#include "vigil/wire.h"

#define MIB (1024 * 1024)

static struct vg_cache *C;

static void setup(void)
{
	C = vg_cache_new(MIB);
	ck_assert_ptr_nonnull(C);
}

static void teardown(void)
{
	vg_cache_free(C);
	C = NULL;
}

/* An RRset with its own storage. */
struct rrs {
	uint8_t owner[VG_NAME_MAX];
	uint8_t rd[2048];
	struct vg_rrset rs;
};

/* @p n A records 10.@p tag.0.i at @p name. */
static struct vg_rrset *mk_a(struct rrs *r, const char *name, uint32_t ttl, int n, uint8_t tag)
{
	ck_assert_int_gt(vg_name_from_str(name, r->owner, sizeof(r->owner)), 0);
	for (int i = 0; i < n; i++) {
		uint8_t *d = r->rd + 6 * i;
		vg_put16(d, 4);
		d[2] = 10, d[3] = tag, d[4] = 0, d[5] = (uint8_t)i;
	}
	r->rs = (struct vg_rrset){ .owner = r->owner, .type = VG_T_A, .rclass = VG_C_IN,
				   .ttl = ttl, .count = (uint16_t)n,
				   .rdata_len = (uint16_t)(6 * n), .rdata = r->rd };
	return &r->rs;
}

/* The SOA of example.com with serial @p serial. */
static struct vg_rrset *mk_soa(struct rrs *r, uint32_t serial)
{
	static const uint8_t rd[] = "\3ns1\7example\3com\0\12hostmaster\7example\3com";
	const size_t nl = sizeof(rd); /* the literal's NUL is the second root */
	ck_assert_int_eq(vg_name_from_str("example.com", r->owner, sizeof(r->owner)), 13);
	vg_put16(r->rd, (uint16_t)(nl + 20));
	memcpy(r->rd + 2, rd, nl);
	uint8_t *f = r->rd + 2 + nl;
	vg_put32(f, serial);
	vg_put32(f + 4, 7200), vg_put32(f + 8, 3600), vg_put32(f + 12, 1209600);
	vg_put32(f + 16, 300);
	r->rs = (struct vg_rrset){ .owner = r->owner, .type = VG_T_SOA, .rclass = VG_C_IN,
				   .ttl = 3600, .count = 1,
				   .rdata_len = (uint16_t)(2 + nl + 20), .rdata = r->rd };
	return &r->rs;
}

static void wname(const char *s, uint8_t *out)
{
	ck_assert_int_gt(vg_name_from_str(s, out, VG_NAME_MAX), 0);
}

/* Look up @p name/@p type at @p now into a static buffer. */
static int get(const char *name, uint16_t type, uint32_t now, struct vg_cache_entry *e)
{
	static uint8_t buf[8192];
	uint8_t n[VG_NAME_MAX];
	wname(name, n);
	memset(e, 0xa5, sizeof(*e));
	return vg_cache_get(C, n, type, now, e, buf, sizeof(buf));
}

static size_t n_entries(void)
{
	size_t n;
	vg_cache_usage(C, &n, NULL, NULL);
	return n;
}

/* ------------------------------------------------------------ positive */

START_TEST(positive_ttl_counts_down)
{
	struct rrs r;
	struct vg_cache_entry e;
	struct vg_rrset *rs = mk_a(&r, "www.example.com", 300, 2, 7);
	ck_assert_int_eq(vg_cache_put(C, rs, VG_RANK_AUTH, 5000), 0);
	ck_assert_uint_eq(n_entries(), 1);

	ck_assert_int_eq(get("www.example.com", VG_T_A, 5000, &e), 0);
	ck_assert_uint_eq(e.ttl, 300);
	ck_assert_int_eq(get("www.example.com", VG_T_A, 5100, &e), 0);
	ck_assert(!e.negative);
	ck_assert_uint_eq(e.rank, VG_RANK_AUTH);
	ck_assert_uint_eq(e.ttl, 200);
	ck_assert_uint_eq(e.rs.ttl, 200);
	ck_assert_uint_eq(e.rs.type, VG_T_A);
	ck_assert_uint_eq(e.rs.rclass, VG_C_IN);
	ck_assert_uint_eq(e.rs.count, 2);
	ck_assert_uint_eq(e.rs.rdata_len, 12);
	ck_assert_mem_eq(e.rs.owner, "\3www\7example\3com", 17);
	ck_assert_mem_eq(e.rs.rdata, "\0\4\12\7\0\0\0\4\12\7\0\1", 12);
	ck_assert_uint_eq(e.soa.count, 0);
	ck_assert_int_eq(get("www.example.com", VG_T_A, 5299, &e), 0);
	ck_assert_uint_eq(e.ttl, 1);
	ck_assert_int_eq(get("www.example.com", VG_T_AAAA, 5100, &e), VG_ENOTFOUND);
	ck_assert_int_eq(get("example.com", VG_T_A, 5100, &e), VG_ENOTFOUND);

	uint8_t n[VG_NAME_MAX];
	wname("www.example.com", n);
	ck_assert(vg_cache_has(C, n, VG_T_A, 5299));
	ck_assert(!vg_cache_has(C, n, VG_T_A, 5300));
	ck_assert_int_eq(get("www.example.com", VG_T_A, 5300, &e), VG_ENOTFOUND);
	ck_assert_int_eq(get("www.example.com", VG_T_A, 5100, &e), VG_ENOTFOUND); /* gone */
	ck_assert_uint_eq(n_entries(), 0);
}
END_TEST

START_TEST(positive_data_is_copied)
{
	struct rrs r;
	struct vg_cache_entry e;
	uint8_t buf[256];
	struct vg_rrset *rs = mk_a(&r, "a.example", 60, 1, 1);
	ck_assert_int_eq(vg_cache_put(C, rs, VG_RANK_AUTH, 10), 0);
	memset(r.rd, 0xee, sizeof(r.rd));  /* the caller's buffers are not kept */
	memset(r.owner + 1, 'z', 1);
	uint8_t n[VG_NAME_MAX];
	wname("a.example", n);
	ck_assert_int_eq(vg_cache_get(C, n, VG_T_A, 20, &e, buf, sizeof(buf)), 0);
	ck_assert_mem_eq(e.rs.rdata, "\0\4\12\1\0\0", 6);
	ck_assert_mem_eq(e.rs.owner, "\1a\7example", 11);
	ck_assert(e.rs.owner >= buf && e.rs.owner < buf + sizeof(buf));
	ck_assert(e.rs.rdata >= buf && e.rs.rdata + 6 <= buf + sizeof(buf));
	/* the copy-out needs owner + rdata bytes: one less is ENOSPACE */
	size_t need = 11 + 6;
	ck_assert_int_eq(vg_cache_get(C, n, VG_T_A, 20, &e, buf, need - 1), VG_ENOSPACE);
	ck_assert_int_eq(vg_cache_get(C, n, VG_T_A, 20, &e, buf, need), 0);
	ck_assert_mem_eq(e.rs.rdata, "\0\4\12\1\0\0", 6);
}
END_TEST

START_TEST(keys_are_case_insensitive)
{
	struct rrs r;
	struct vg_cache_entry e;
	uint8_t mixed[] = "\3WwW\7ExAmPlE\3COM";
	struct vg_rrset *rs = mk_a(&r, "x", 300, 1, 1);
	rs->owner = mixed;
	ck_assert_int_eq(vg_cache_put(C, rs, VG_RANK_AUTH, 100), 0);
	ck_assert_int_eq(get("www.example.com", VG_T_A, 100, &e), 0);
	ck_assert_mem_eq(e.rs.owner, "\3www\7example\3com", 17); /* stored lower-case */
	ck_assert_mem_eq(mixed, "\3WwW\7ExAmPlE\3COM", 17);     /* input untouched */
	/* the same name in another case is the same key */
	struct rrs r2;
	uint8_t other[] = "\3WWW\7EXAMPLE\3com";
	rs = mk_a(&r2, "x", 300, 1, 2);
	rs->owner = other;
	ck_assert_int_eq(vg_cache_put(C, rs, VG_RANK_AUTH, 100), 0);
	ck_assert_uint_eq(n_entries(), 1);
	ck_assert_int_eq(get("www.example.com", VG_T_A, 100, &e), 0);
	ck_assert_uint_eq(e.rs.rdata[3], 2);
}
END_TEST

/* ------------------------------------------------------------ negative */

START_TEST(negative_entries)
{
	struct rrs soa;
	struct vg_cache_entry e;
	uint8_t nx[VG_NAME_MAX], nod[VG_NAME_MAX];
	wname("nx.Example.com", nx);
	wname("nodata.example.com", nod);
	mk_soa(&soa, 2024010101);
	ck_assert_int_eq(vg_cache_put_neg(C, nx, 0, &soa.rs, 900, VG_RANK_AUTH, 5000), 0);
	ck_assert_int_eq(vg_cache_put_neg(C, nod, VG_T_AAAA, &soa.rs, 600, VG_RANK_AUTH, 5000),
			 0);

	ck_assert_int_eq(get("nx.example.com", 0, 5100, &e), 0);
	ck_assert(e.negative);
	ck_assert(e.nxdomain);
	ck_assert_uint_eq(e.ttl, 800);
	ck_assert_mem_eq(e.rs.owner, "\2nx\7example\3com", 16);
	ck_assert_uint_eq(e.soa.type, VG_T_SOA);
	ck_assert_uint_eq(e.soa.rclass, VG_C_IN);
	ck_assert_uint_eq(e.soa.count, 1);
	ck_assert_uint_eq(e.soa.ttl, 800);
	ck_assert_mem_eq(e.soa.owner, "\7example\3com", 13);
	ck_assert_uint_eq(e.soa.rdata_len, soa.rs.rdata_len);
	ck_assert_mem_eq(e.soa.rdata, soa.rs.rdata, soa.rs.rdata_len);
	ck_assert_uint_eq(vg_get32(e.soa.rdata + e.soa.rdata_len - 20), 2024010101);

	ck_assert_int_eq(get("nodata.example.com", VG_T_AAAA, 5100, &e), 0);
	ck_assert(e.negative);
	ck_assert(!e.nxdomain);
	ck_assert_uint_eq(e.ttl, 500);
	ck_assert_uint_eq(e.soa.count, 1);
	/* NODATA for AAAA says nothing about A, nor about NXDOMAIN */
	ck_assert_int_eq(get("nodata.example.com", VG_T_A, 5100, &e), VG_ENOTFOUND);
	ck_assert_int_eq(get("nodata.example.com", 0, 5100, &e), VG_ENOTFOUND);
	ck_assert_int_eq(get("nx.example.com", 0, 5900, &e), VG_ENOTFOUND);

	/* without an SOA; and the negative TTL cap (default 3600) */
	ck_assert_int_eq(vg_cache_put_neg(C, nod, VG_T_MX, NULL, 7200, VG_RANK_AUTH, 5000), 0);
	ck_assert_int_eq(get("nodata.example.com", VG_T_MX, 5000, &e), 0);
	ck_assert(e.negative);
	ck_assert_uint_eq(e.ttl, 3600);
	ck_assert_uint_eq(e.soa.count, 0);
	ck_assert_uint_eq(e.soa.rdata_len, 0);

	/* a positive answer of equal rank replaces the NODATA */
	struct rrs a;
	struct vg_rrset *rs = mk_a(&a, "nodata.example.com", 60, 1, 9);
	rs->type = VG_T_AAAA;
	ck_assert_int_eq(vg_cache_put(C, rs, VG_RANK_AUTH, 5200), 0);
	ck_assert_int_eq(get("nodata.example.com", VG_T_AAAA, 5200, &e), 0);
	ck_assert(!e.negative);
	ck_assert_uint_eq(e.ttl, 60);
}
END_TEST

/* RFC 9520 failure entries: lowest rank, replaced by anything real. */
START_TEST(failure_entries)
{
	struct rrs r;
	struct vg_cache_entry e;
	uint8_t w[VG_NAME_MAX];
	wname("Fail.Example", w);
	ck_assert_int_eq(vg_cache_put_fail(C, w, VG_T_A, 5, 0, 1000), 0);
	ck_assert_int_eq(get("fail.example", VG_T_A, 1002, &e), 0);
	ck_assert(e.failure && !e.negative);
	ck_assert_uint_eq(e.ttl, 3);
	ck_assert_int_eq(get("fail.example", VG_T_AAAA, 1002, &e), VG_ENOTFOUND);
	ck_assert_int_eq(get("fail.example", VG_T_A, 1005, &e), VG_ENOTFOUND);
	ck_assert_int_eq(vg_cache_put_fail(C, w, VG_T_MX, 0, 0, 1000), 0); /* ttl 0: nothing */
	ck_assert_int_eq(get("fail.example", VG_T_MX, 1000, &e), VG_ENOTFOUND);
	/* even glue replaces a live failure entry... */
	ck_assert_int_eq(vg_cache_put_fail(C, w, VG_T_A, 60, 0, 2000), 0);
	ck_assert_int_eq(vg_cache_put(C, mk_a(&r, "fail.example", 300, 1, 4), VG_RANK_GLUE, 2001),
			 0);
	ck_assert_int_eq(get("fail.example", VG_T_A, 2001, &e), 0);
	ck_assert(!e.failure && e.rank == VG_RANK_GLUE && e.rs.rdata[3] == 4);
	/* ...and a failure never replaces live data */
	ck_assert_int_eq(vg_cache_put_fail(C, w, VG_T_A, 60, 0, 2002), 0);
	ck_assert_int_eq(get("fail.example", VG_T_A, 2002, &e), 0);
	ck_assert(!e.failure && e.rs.count == 1);
	/* a negative answer replaces it too */
	ck_assert_int_eq(vg_cache_put_fail(C, w, VG_T_MX, 60, 0, 2000), 0);
	ck_assert_int_eq(vg_cache_put_neg(C, w, VG_T_MX, NULL, 60, VG_RANK_GLUE, 2001), 0);
	ck_assert_int_eq(get("fail.example", VG_T_MX, 2001, &e), 0);
	ck_assert(!e.failure && e.negative);
	ck_assert_uint_eq(n_entries(), 2);
}
END_TEST

/* cache.h: a failure entry "never replaces live data" -- including data of
 * the lowest real rank, VG_RANK_HINT (0), which is also the failure rank. */
START_TEST(failure_keeps_hint_rank_data)
{
	struct rrs r;
	struct vg_cache_entry e;
	ck_assert_int_eq(vg_cache_put(C, mk_a(&r, "hint.example", 300, 1, 5), VG_RANK_HINT, 10),
			 0);
	ck_assert_int_eq(vg_cache_put_fail(C, r.owner, VG_T_A, 60, 0, 11), 0);
	ck_assert_int_eq(get("hint.example", VG_T_A, 11, &e), 0);
	ck_assert_msg(!e.failure && e.rs.count == 1,
		      "live hint-rank RRset was replaced by a failure entry");
}
END_TEST

/* ------------------------------------------------------------ rank and TTL */

START_TEST(rank_rules)
{
	struct rrs r;
	struct vg_cache_entry e;
	const char *n = "rank.example";
	ck_assert_int_eq(vg_cache_put(C, mk_a(&r, n, 300, 1, 1), VG_RANK_AUTH, 1000), 0);
	/* lower rank does not replace a live higher one */
	ck_assert_int_eq(vg_cache_put(C, mk_a(&r, n, 300, 1, 2), VG_RANK_GLUE, 1010), 0);
	ck_assert_int_eq(get(n, VG_T_A, 1010, &e), 0);
	ck_assert_uint_eq(e.rs.rdata[3], 1);
	ck_assert_uint_eq(e.rank, VG_RANK_AUTH);
	ck_assert_uint_eq(e.ttl, 290);
	ck_assert_int_eq(vg_cache_put(C, mk_a(&r, n, 300, 1, 3), VG_RANK_NONAUTH, 1010), 0);
	ck_assert_int_eq(get(n, VG_T_A, 1010, &e), 0);
	ck_assert_uint_eq(e.rs.rdata[3], 1);
	/* equal rank replaces (fresh TTL) */
	ck_assert_int_eq(vg_cache_put(C, mk_a(&r, n, 300, 1, 4), VG_RANK_AUTH, 1020), 0);
	ck_assert_int_eq(get(n, VG_T_A, 1020, &e), 0);
	ck_assert_uint_eq(e.rs.rdata[3], 4);
	ck_assert_uint_eq(e.ttl, 300);
	ck_assert_uint_eq(n_entries(), 1);
	/* anything replaces an expired entry */
	ck_assert_int_eq(vg_cache_put(C, mk_a(&r, n, 100, 1, 5), VG_RANK_HINT, 1320), 0);
	ck_assert_int_eq(get(n, VG_T_A, 1320, &e), 0);
	ck_assert_uint_eq(e.rs.rdata[3], 5);
	ck_assert_uint_eq(e.rank, VG_RANK_HINT);
	/* higher rank replaces lower */
	ck_assert_int_eq(vg_cache_put(C, mk_a(&r, n, 50, 1, 6), VG_RANK_REFERRAL, 1330), 0);
	ck_assert_int_eq(get(n, VG_T_A, 1330, &e), 0);
	ck_assert_uint_eq(e.rs.rdata[3], 6);
	ck_assert_uint_eq(e.rank, VG_RANK_REFERRAL);
	ck_assert_uint_eq(e.ttl, 50);
	/* ranks also guard negative entries */
	uint8_t w[VG_NAME_MAX];
	wname(n, w);
	ck_assert_int_eq(vg_cache_put_neg(C, w, VG_T_A, NULL, 300, VG_RANK_GLUE, 1330), 0);
	ck_assert_int_eq(get(n, VG_T_A, 1330, &e), 0);
	ck_assert(!e.negative);
}
END_TEST

START_TEST(ttl_clamps)
{
	struct rrs r;
	struct vg_cache_entry e;
	uint8_t w[VG_NAME_MAX];
	vg_cache_set_limits(C, 0, 100, 3600);
	ck_assert_int_eq(vg_cache_put(C, mk_a(&r, "max.example", 300, 1, 1), 4, 5000), 0);
	ck_assert_int_eq(get("max.example", VG_T_A, 5000, &e), 0);
	ck_assert_uint_eq(e.ttl, 100);
	ck_assert_uint_eq(e.rs.ttl, 100);
	ck_assert_int_eq(get("max.example", VG_T_A, 5100, &e), VG_ENOTFOUND);

	vg_cache_set_limits(C, 60, 86400, 3600);
	ck_assert_int_eq(vg_cache_put(C, mk_a(&r, "min.example", 10, 1, 1), 4, 5000), 0);
	ck_assert_int_eq(get("min.example", VG_T_A, 5000, &e), 0);
	ck_assert_uint_eq(e.ttl, 60);

	vg_cache_set_limits(C, 0, 86400, 30);
	wname("neg.example", w);
	ck_assert_int_eq(vg_cache_put_neg(C, w, 0, NULL, 900, 4, 5000), 0);
	ck_assert_int_eq(get("neg.example", 0, 5000, &e), 0);
	ck_assert_uint_eq(e.ttl, 30);

	/* zero, and TTLs with the top bit set (RFC 2181 8: as zero): not stored */
	vg_cache_set_limits(C, 0, 86400, 3600);
	ck_assert_int_eq(vg_cache_put(C, mk_a(&r, "zero.example", 0, 1, 1), 4, 5000), 0);
	ck_assert_int_eq(vg_cache_put(C, mk_a(&r, "big.example", 0x80000000u, 1, 1), 4, 5000), 0);
	ck_assert_int_eq(vg_cache_put(C, mk_a(&r, "huge.example", 0xffffffffu, 1, 1), 4, 5000), 0);
	ck_assert_int_eq(get("zero.example", VG_T_A, 5000, &e), VG_ENOTFOUND);
	ck_assert_int_eq(get("big.example", VG_T_A, 5000, &e), VG_ENOTFOUND);
	ck_assert_int_eq(get("huge.example", VG_T_A, 5000, &e), VG_ENOTFOUND);
	wname("bigneg.example", w);
	ck_assert_int_eq(vg_cache_put_neg(C, w, 0, NULL, 0x80000001u, 4, 5000), 0);
	ck_assert_int_eq(get("bigneg.example", 0, 5000, &e), VG_ENOTFOUND);
	ck_assert_uint_eq(n_entries(), 2); /* min and neg; max expired and was dropped */
	/* 2^31-1 itself is a legal TTL, capped by max-ttl */
	ck_assert_int_eq(vg_cache_put(C, mk_a(&r, "top.example", 0x7fffffffu, 1, 1), 4, 5000), 0);
	ck_assert_int_eq(get("top.example", VG_T_A, 5000, &e), 0);
	ck_assert_uint_eq(e.ttl, 86400);
}
END_TEST

/* ------------------------------------------------------------ size bounds */

START_TEST(oversized_entry_rejected)
{
	static struct rrs r;
	struct vg_rrset rs;
	static uint8_t big[40002];
	struct vg_cache_entry e;
	vg_put16(big, 40000);
	memset(big + 2, 'x', 40000);
	mk_a(&r, "big.example", 300, 1, 1);
	rs = r.rs;
	rs.type = VG_T_TXT;
	rs.rdata = big;
	rs.rdata_len = sizeof(big);
	ck_assert_int_eq(vg_cache_put(C, &rs, VG_RANK_AUTH, 1), VG_ELIMIT);
	ck_assert_int_eq(get("big.example", VG_T_TXT, 1, &e), VG_ENOTFOUND);
	ck_assert_uint_eq(n_entries(), 0);
	/* the same as a negative entry's SOA */
	uint8_t w[VG_NAME_MAX];
	wname("big.example", w);
	rs.type = VG_T_SOA;
	ck_assert_int_eq(vg_cache_put_neg(C, w, 0, &rs, 300, VG_RANK_AUTH, 1), VG_ELIMIT);
	ck_assert_uint_eq(n_entries(), 0);
	/* something of 4 KiB still fits */
	rs.type = VG_T_TXT;
	rs.rdata_len = 4096;
	vg_put16(big, 4094);
	ck_assert_int_eq(vg_cache_put(C, &rs, VG_RANK_AUTH, 1), 0);
	ck_assert_int_eq(get("big.example", VG_T_TXT, 1, &e), 0);
	ck_assert_uint_eq(e.rs.rdata_len, 4096);
}
END_TEST

START_TEST(eviction_respects_bound)
{
	struct rrs r;
	struct vg_cache_entry e;
	char name[64];
	size_t entries, bytes, limit;
	const int total = 40000;
	for (int i = 0; i < total; i++) {
		snprintf(name, sizeof(name), "host-%d.example.net", i);
		ck_assert_int_eq(vg_cache_put(C, mk_a(&r, name, 3600, 1 + i % 3, 1), 4, 100), 0);
		vg_cache_usage(C, &entries, &bytes, &limit);
		ck_assert_uint_eq(limit, MIB);
		ck_assert_msg(bytes <= limit, "insert %d: %zu bytes > limit %zu", i, bytes, limit);
	}
	vg_cache_usage(C, &entries, &bytes, &limit);
	ck_assert_uint_lt(entries, (size_t)total);   /* something was evicted */
	ck_assert_uint_gt(entries, 2000);            /* and the cache is not empty */
	ck_assert_uint_ge(bytes, limit / 2);         /* the budget is actually used */
	ck_assert_int_eq(get("host-0.example.net", VG_T_A, 100, &e), VG_ENOTFOUND);
	snprintf(name, sizeof(name), "host-%d.example.net", total - 1);
	ck_assert_int_eq(get(name, VG_T_A, 100, &e), 0);
	ck_assert_uint_eq(e.rs.count, 1 + (total - 1) % 3);
}
END_TEST

START_TEST(eviction_is_lru)
{
	struct rrs r;
	struct vg_cache_entry e;
	char name[64];
	enum { HOT = 200, FILL = 30000 };
	for (int i = 0; i < HOT; i++) {
		snprintf(name, sizeof(name), "hot-%d.example.org", i);
		ck_assert_int_eq(vg_cache_put(C, mk_a(&r, name, 86400, 1, 1), 4, 1000), 0);
		snprintf(name, sizeof(name), "cold-%d.example.org", i);
		ck_assert_int_eq(vg_cache_put(C, mk_a(&r, name, 86400, 1, 2), 4, 1000), 0);
	}
	for (int i = 0; i < FILL; i++) {
		snprintf(name, sizeof(name), "fill-%d.example.org", i);
		ck_assert_int_eq(vg_cache_put(C, mk_a(&r, name, 86400, 1, 3), 4, 1000), 0);
		if (i % 100 == 0) {
			for (int h = 0; h < HOT; h++) {
				snprintf(name, sizeof(name), "hot-%d.example.org", h);
				ck_assert_int_eq(get(name, VG_T_A, 1000, &e), 0);
			}
		}
	}
	int hot = 0, cold = 0;
	for (int i = 0; i < HOT; i++) {
		snprintf(name, sizeof(name), "hot-%d.example.org", i);
		hot += get(name, VG_T_A, 1000, &e) == 0;
		snprintf(name, sizeof(name), "cold-%d.example.org", i);
		cold += get(name, VG_T_A, 1000, &e) == 0;
	}
	ck_assert_int_eq(hot, HOT);
	ck_assert_int_eq(cold, 0);
}
END_TEST

/* ------------------------------------------------------------ threads */

#define TNAMES 64
/* operations per thread: a fixed amount of work, not a time window (quick
 * under TSan too); 4 * TOPS ticks of the fake clock are 1000 cache seconds,
 * over three times the 300 s TTLs */
#define TOPS 5000

static atomic_uint tick; /* shared fake clock: 20 operations per second */

struct worker {
	int id;
	long hits, errors;
};

/* Name i carries 10.i.0.0 (positive, i < TNAMES) or a NODATA (i >= TNAMES). */
static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct rrs r, soa;
	struct vg_cache_entry e;
	uint8_t buf[1024], n[VG_NAME_MAX];
	char name[64];
	uint32_t seed = (uint32_t)w->id * 2654435761u + 1;
	mk_soa(&soa, 1);
	for (long op = 0; op < TOPS; op++) {
		seed = seed * 1103515245u + 12345u;
		unsigned i = (seed >> 8) % (2 * TNAMES);
		uint32_t now = 1000 + atomic_fetch_add(&tick, 1) / 20; /* entries expire */
		snprintf(name, sizeof(name), "N%u.Shared.example", i);
		if (vg_name_from_str(name, n, sizeof(n)) < 0) {
			w->errors++;
			continue;
		}
		int ret;
		if (seed & 0x10000) {
			if (i < TNAMES)
				ret = vg_cache_put(C, mk_a(&r, name, 300, 1, (uint8_t)i),
						   (uint8_t)(1 + w->id % 4), now);
			else
				ret = vg_cache_put_neg(C, n, VG_T_A, &soa.rs, 300, 4, now);
			if (ret != 0)
				w->errors++;
		} else {
			ret = vg_cache_get(C, n, VG_T_A, now, &e, buf, sizeof(buf));
			if (ret == 0) {
				w->hits++;
				/* a racing put may have read the clock later than we did */
				uint32_t later = 1000 + atomic_load(&tick) / 20;
				bool ok = e.ttl >= 1 && e.ttl <= 300 + (later - now) &&
					  vg_name_eq(e.rs.owner, n);
				if (i < TNAMES)
					ok = ok && !e.negative && e.rs.count == 1 &&
					     e.rs.rdata_len == 6 && e.rs.rdata[3] == i;
				else
					ok = ok && e.negative && !e.nxdomain && e.soa.count == 1;
				if (!ok && w->errors++ == 0)
					fprintf(stderr, "# %s: neg %d ttl %u count %u len %u\n", name,
						e.negative, e.ttl, e.rs.count, e.rs.rdata_len);
			} else if (ret != VG_ENOTFOUND) {
				w->errors++;
			}
		}
	}
	return NULL;
}

START_TEST(threads_smoke)
{
	pthread_t t[4];
	struct worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .id = i };
		ck_assert_int_eq(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	long hits = 0;
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_msg(w[i].errors == 0, "thread %d: %ld inconsistent results", i,
			      w[i].errors);
		hits += w[i].hits;
	}
	ck_assert_int_gt(hits, 0);
	size_t entries, bytes, limit;
	vg_cache_usage(C, &entries, &bytes, &limit);
	ck_assert_uint_le(entries, 2 * TNAMES);
	ck_assert_uint_le(bytes, limit);
}
END_TEST

/* ------------------------------------------------------------ DNSSEC additions */

/* @p n dummy RRSIG records (22 bytes of rdata each, byte i*7+@p tag) at @p name. */
static struct vg_rrset *mk_sigs(struct rrs *r, const char *name, uint32_t ttl, int n, uint8_t tag)
{
	enum { SIGLEN = 22 };
	ck_assert_int_gt(vg_name_from_str(name, r->owner, sizeof(r->owner)), 0);
	for (int i = 0; i < n; i++) {
		uint8_t *d = r->rd + (2 + SIGLEN) * i;
		vg_put16(d, SIGLEN);
		vg_put16(d + 2, VG_T_A); /* type covered */
		for (int k = 2; k < SIGLEN; k++)
			d[2 + k] = (uint8_t)(tag + i * 7 + k);
	}
	r->rs = (struct vg_rrset){ .owner = r->owner, .type = VG_T_RRSIG, .rclass = VG_C_IN,
				   .ttl = ttl, .count = (uint16_t)n,
				   .rdata_len = (uint16_t)((2 + SIGLEN) * n), .rdata = r->rd };
	return &r->rs;
}

START_TEST(signed_entry_keeps_sigs)
{
	struct rrs a, s;
	struct vg_cache_entry e;
	struct vg_rrset *rs = mk_a(&a, "sig.example", 300, 2, 7);
	struct vg_rrset *sigs = mk_sigs(&s, "sig.example", 200, 2, 40);
	ck_assert_int_eq(vg_cache_put_signed(C, rs, sigs, VG_RANK_AUTH, VG_SEC_SECURE, 1000), 0);
	uint8_t keep[2 * 24];
	memcpy(keep, s.rd, sizeof(keep));
	memset(s.rd, 0xee, sizeof(s.rd)); /* the caller's buffers are not kept */

	ck_assert_int_eq(get("sig.example", VG_T_A, 1000, &e), 0);
	ck_assert(!e.negative && !e.failure);
	ck_assert_uint_eq(e.sec, VG_SEC_SECURE);
	ck_assert_uint_eq(e.ede, 0);
	ck_assert_uint_eq(e.ttl, 200); /* the RRSIGs' TTL is the smaller */
	ck_assert_uint_eq(e.rs.ttl, 200);
	ck_assert_uint_eq(e.rs.count, 2);
	ck_assert_mem_eq(e.rs.rdata, a.rd, 12);
	ck_assert_uint_eq(e.sigs.type, VG_T_RRSIG);
	ck_assert_uint_eq(e.sigs.rclass, VG_C_IN);
	ck_assert_uint_eq(e.sigs.count, 2);
	ck_assert_uint_eq(e.sigs.ttl, 200);
	ck_assert_uint_eq(e.sigs.rdata_len, sizeof(keep));
	ck_assert_mem_eq(e.sigs.rdata, keep, sizeof(keep));
	ck_assert_ptr_nonnull(e.sigs.owner);
	ck_assert(vg_name_eq(e.sigs.owner, e.rs.owner));
	ck_assert_mem_eq(e.sigs.owner, "\3sig\7example", 13);
	ck_assert_uint_eq(e.soa.count, 0);
	ck_assert_uint_eq(e.proof_len, 0);
	ck_assert_int_eq(get("sig.example", VG_T_A, 1199, &e), 0);
	ck_assert_uint_eq(e.ttl, 1);
	ck_assert_int_eq(get("sig.example", VG_T_A, 1200, &e), VG_ENOTFOUND);

	/* the RRset's TTL is the smaller: it decides */
	rs = mk_a(&a, "sig2.example", 100, 1, 8);
	sigs = mk_sigs(&s, "sig2.example", 500, 1, 50);
	ck_assert_int_eq(vg_cache_put_signed(C, rs, sigs, VG_RANK_AUTH, VG_SEC_INSECURE, 1000), 0);
	ck_assert_int_eq(get("sig2.example", VG_T_A, 1000, &e), 0);
	ck_assert_uint_eq(e.ttl, 100);
	ck_assert_uint_eq(e.sec, VG_SEC_INSECURE);
	ck_assert_uint_eq(e.sigs.count, 1);
	ck_assert_uint_eq(e.sigs.ttl, 100);
	/* the copy-out needs owner + rdata + RRSIG rdata */
	uint8_t buf[128];
	size_t need = 14 + 6 + 24;
	ck_assert_int_eq(vg_cache_get(C, a.owner, VG_T_A, 1000, &e, buf, need - 1), VG_ENOSPACE);
	ck_assert_int_eq(vg_cache_get(C, a.owner, VG_T_A, 1000, &e, buf, need), 0);
	ck_assert_uint_eq(e.sigs.count, 1);
	ck_assert(e.sigs.rdata >= buf && e.sigs.rdata + e.sigs.rdata_len <= buf + need);
	ck_assert_uint_eq(vg_get16(e.sigs.rdata), 22);

	/* no RRSIGs: count 0, and vg_cache_put is UNCHECKED */
	ck_assert_int_eq(vg_cache_put_signed(C, mk_a(&a, "nosig.example", 300, 1, 9), NULL,
					     VG_RANK_AUTH, VG_SEC_INSECURE, 1000), 0);
	ck_assert_int_eq(get("nosig.example", VG_T_A, 1000, &e), 0);
	ck_assert_uint_eq(e.sigs.count, 0);
	ck_assert_uint_eq(e.sec, VG_SEC_INSECURE);
	ck_assert_uint_eq(e.ttl, 300);
	ck_assert_int_eq(vg_cache_put(C, mk_a(&a, "plain.example", 300, 1, 9), VG_RANK_AUTH, 1000),
			 0);
	ck_assert_int_eq(get("plain.example", VG_T_A, 1000, &e), 0);
	ck_assert_uint_eq(e.sigs.count, 0);
	ck_assert_uint_eq(e.sec, VG_SEC_UNCHECKED);
}
END_TEST

START_TEST(secure_entry_replacement)
{
	struct rrs a, s;
	struct vg_cache_entry e;
	const char *n = "sec.example";
	ck_assert_int_eq(vg_cache_put_signed(C, mk_a(&a, n, 300, 1, 1), mk_sigs(&s, n, 300, 1, 1),
					     VG_RANK_NONAUTH, VG_SEC_SECURE, 1000), 0);
	/* same rank, not secure: the live secure entry stays */
	ck_assert_int_eq(vg_cache_put(C, mk_a(&a, n, 300, 1, 2), VG_RANK_NONAUTH, 1010), 0);
	ck_assert_int_eq(get(n, VG_T_A, 1010, &e), 0);
	ck_assert_uint_eq(e.rs.rdata[3], 1);
	ck_assert_uint_eq(e.sec, VG_SEC_SECURE);
	ck_assert_uint_eq(e.sigs.count, 1);
	ck_assert_uint_eq(e.ttl, 290);
	ck_assert_int_eq(vg_cache_put_signed(C, mk_a(&a, n, 300, 1, 3), NULL, VG_RANK_NONAUTH,
					     VG_SEC_INSECURE, 1010), 0);
	ck_assert_int_eq(vg_cache_put_signed(C, mk_a(&a, n, 300, 1, 3), NULL, VG_RANK_NONAUTH,
					     VG_SEC_BOGUS, 1010), 0);
	ck_assert_int_eq(get(n, VG_T_A, 1010, &e), 0);
	ck_assert_uint_eq(e.rs.rdata[3], 1);
	ck_assert_uint_eq(e.sec, VG_SEC_SECURE);
	/* same rank and secure: a fresh copy replaces it */
	ck_assert_int_eq(vg_cache_put_signed(C, mk_a(&a, n, 300, 1, 4), mk_sigs(&s, n, 300, 1, 4),
					     VG_RANK_NONAUTH, VG_SEC_SECURE, 1020), 0);
	ck_assert_int_eq(get(n, VG_T_A, 1020, &e), 0);
	ck_assert_uint_eq(e.rs.rdata[3], 4);
	ck_assert_uint_eq(e.ttl, 300);
	/* a higher rank replaces it, secure or not */
	ck_assert_int_eq(vg_cache_put(C, mk_a(&a, n, 300, 1, 5), VG_RANK_AUTH, 1030), 0);
	ck_assert_int_eq(get(n, VG_T_A, 1030, &e), 0);
	ck_assert_uint_eq(e.rs.rdata[3], 5);
	ck_assert_uint_eq(e.rank, VG_RANK_AUTH);
	ck_assert_uint_eq(e.sec, VG_SEC_UNCHECKED);
	ck_assert_uint_eq(e.sigs.count, 0);
	ck_assert_uint_eq(n_entries(), 1);

	/* an expired secure entry is replaced by anything */
	const char *m = "old.example";
	ck_assert_int_eq(vg_cache_put_signed(C, mk_a(&a, m, 100, 1, 6), mk_sigs(&s, m, 100, 1, 6),
					     VG_RANK_AUTH, VG_SEC_SECURE, 1000), 0);
	ck_assert_int_eq(vg_cache_put(C, mk_a(&a, m, 300, 1, 7), VG_RANK_AUTH, 1099), 0);
	ck_assert_int_eq(get(m, VG_T_A, 1099, &e), 0);
	ck_assert_uint_eq(e.rs.rdata[3], 6); /* still live at 1099 */
	ck_assert_int_eq(vg_cache_put(C, mk_a(&a, m, 300, 1, 8), VG_RANK_GLUE, 1100), 0);
	ck_assert_int_eq(get(m, VG_T_A, 1100, &e), 0);
	ck_assert_uint_eq(e.rs.rdata[3], 8);
	ck_assert_uint_eq(e.sec, VG_SEC_UNCHECKED);
	ck_assert_uint_eq(e.rank, VG_RANK_GLUE);
	ck_assert_uint_eq(e.ttl, 300);
}
END_TEST

START_TEST(negative_proof_kept)
{
	struct rrs soa;
	struct vg_cache_entry e;
	uint8_t nx[VG_NAME_MAX], nod[VG_NAME_MAX], proof[300], keep[300];
	for (size_t i = 0; i < sizeof(proof); i++)
		proof[i] = (uint8_t)(i * 31 + 5);
	memcpy(keep, proof, sizeof(keep));
	wname("nx.example.com", nx);
	wname("nodata.example.com", nod);
	mk_soa(&soa, 7);
	ck_assert_int_eq(vg_cache_put_neg_proof(C, nx, 0, &soa.rs, 600, VG_RANK_AUTH,
						VG_SEC_SECURE, proof, sizeof(proof), 1000), 0);
	ck_assert_int_eq(vg_cache_put_neg_proof(C, nod, VG_T_MX, &soa.rs, 600, VG_RANK_AUTH,
						VG_SEC_INSECURE, proof, 17, 1000), 0);
	memset(proof, 0, sizeof(proof)); /* copied, not borrowed */

	ck_assert_int_eq(get("nx.example.com", 0, 1100, &e), 0);
	ck_assert(e.negative && e.nxdomain && !e.failure);
	ck_assert_uint_eq(e.sec, VG_SEC_SECURE);
	ck_assert_uint_eq(e.ttl, 500);
	ck_assert_uint_eq(e.proof_len, sizeof(keep));
	ck_assert_ptr_nonnull(e.proof);
	ck_assert_mem_eq(e.proof, keep, sizeof(keep));
	ck_assert_uint_eq(e.soa.count, 1);
	ck_assert_mem_eq(e.soa.rdata, soa.rs.rdata, soa.rs.rdata_len);
	ck_assert_uint_eq(e.sigs.count, 0);

	ck_assert_int_eq(get("nodata.example.com", VG_T_MX, 1100, &e), 0);
	ck_assert(e.negative && !e.nxdomain);
	ck_assert_uint_eq(e.sec, VG_SEC_INSECURE);
	ck_assert_uint_eq(e.proof_len, 17);
	ck_assert_mem_eq(e.proof, keep, 17);
	ck_assert_uint_eq(e.soa.count, 1);

	/* the proof counts towards the copy-out size */
	uint8_t buf[1024];
	size_t need = 16 + 13 + soa.rs.rdata_len + sizeof(keep);
	ck_assert_int_eq(vg_cache_get(C, nx, 0, 1100, &e, buf, need - 1), VG_ENOSPACE);
	ck_assert_int_eq(vg_cache_get(C, nx, 0, 1100, &e, buf, need), 0);
	ck_assert(e.proof >= buf && e.proof + e.proof_len == buf + need);
	ck_assert_mem_eq(e.proof, keep, sizeof(keep));

	/* plain vg_cache_put_neg: no proof, UNCHECKED; without an SOA, a proof alone */
	wname("plain.example.com", nx);
	ck_assert_int_eq(vg_cache_put_neg(C, nx, 0, &soa.rs, 600, VG_RANK_AUTH, 1000), 0);
	ck_assert_int_eq(get("plain.example.com", 0, 1000, &e), 0);
	ck_assert_uint_eq(e.proof_len, 0);
	ck_assert_uint_eq(e.sec, VG_SEC_UNCHECKED);
	wname("nosoa.example.com", nx);
	ck_assert_int_eq(vg_cache_put_neg_proof(C, nx, VG_T_A, NULL, 600, VG_RANK_AUTH,
						VG_SEC_SECURE, keep, 40, 1000), 0);
	ck_assert_int_eq(get("nosoa.example.com", VG_T_A, 1000, &e), 0);
	ck_assert_uint_eq(e.soa.count, 0);
	ck_assert_uint_eq(e.proof_len, 40);
	ck_assert_mem_eq(e.proof, keep, 40);
	/* too long a proof is refused */
	static uint8_t huge[65536];
	int ret = vg_cache_put_neg_proof(C, nx, VG_T_MX, NULL, 600, VG_RANK_AUTH, VG_SEC_SECURE,
					 huge, sizeof(huge), 1000);
	ck_assert_int_eq(ret, VG_ELIMIT);
	ck_assert_int_eq(get("nosoa.example.com", VG_T_MX, 1000, &e), VG_ENOTFOUND);
}
END_TEST

START_TEST(positive_proof_kept)
{
	struct rrs a, s;
	struct vg_cache_entry e;
	static uint8_t proof[1000], keep[1000];
	const char *n = "x.wild.example";
	size_t b0, b1, b2;
	for (size_t i = 0; i < sizeof(proof); i++)
		proof[i] = (uint8_t)(i * 13 + 1);
	memcpy(keep, proof, sizeof(keep));

	/* the proof is copied in, and out after the RRSIGs; its TTL caps the entry's */
	vg_cache_usage(C, NULL, &b0, NULL);
	ck_assert_int_eq(vg_cache_put_signed_proof(C, mk_a(&a, n, 300, 1, 1),
						   mk_sigs(&s, n, 300, 1, 1), proof,
						   sizeof(proof), 100, VG_RANK_AUTH,
						   VG_SEC_UNCHECKED, 1000), 0);
	memset(proof, 0, sizeof(proof)); /* copied, not borrowed */
	ck_assert_int_eq(get(n, VG_T_A, 1000, &e), 0);
	ck_assert(!e.negative && !e.failure);
	ck_assert_uint_eq(e.ttl, 100);
	ck_assert_uint_eq(e.rs.ttl, 100);
	ck_assert_uint_eq(e.rs.count, 1);
	ck_assert_uint_eq(e.sigs.count, 1);
	ck_assert_uint_eq(e.sigs.rdata_len, 24);
	ck_assert_uint_eq(e.soa.count, 0);
	ck_assert_uint_eq(e.proof_len, sizeof(keep));
	ck_assert_ptr_nonnull(e.proof);
	ck_assert_mem_eq(e.proof, keep, sizeof(keep));
	ck_assert_int_eq(get(n, VG_T_A, 1099, &e), 0);
	ck_assert_uint_eq(e.ttl, 1);
	ck_assert_int_eq(get(n, VG_T_A, 1100, &e), VG_ENOTFOUND);

	/* accounted in the byte bound; the copy-out needs room for it too */
	ck_assert_int_eq(vg_cache_put_signed_proof(C, mk_a(&a, n, 300, 1, 2),
						   mk_sigs(&s, n, 300, 1, 2), keep,
						   sizeof(keep), 500, VG_RANK_AUTH,
						   VG_SEC_UNCHECKED, 1000), 0);
	vg_cache_usage(C, NULL, &b1, NULL);
	ck_assert_uint_ge(b1 - b0, 15 + 6 + 24 + sizeof(keep));
	uint8_t buf[2048], w[VG_NAME_MAX];
	wname(n, w);
	size_t need = 16 + 6 + 24 + sizeof(keep);
	ck_assert_int_eq(vg_cache_get(C, w, VG_T_A, 1000, &e, buf, need - 1), VG_ENOSPACE);
	ck_assert_int_eq(vg_cache_get(C, w, VG_T_A, 1000, &e, buf, need), 0);
	ck_assert_uint_eq(e.ttl, 300); /* the RRset's TTL is the smaller this time */
	ck_assert(e.proof == buf + need - sizeof(keep));
	ck_assert_mem_eq(e.proof, keep, sizeof(keep));
	ck_assert(e.sigs.rdata + e.sigs.rdata_len == e.proof);

	/* the validator's verdict keeps the proof */
	ck_assert_int_eq(vg_cache_set_sec(C, w, VG_T_A, VG_SEC_SECURE, 0, 60, 1010), 0);
	ck_assert_int_eq(get(n, VG_T_A, 1010, &e), 0);
	ck_assert_uint_eq(e.sec, VG_SEC_SECURE);
	ck_assert_uint_eq(e.proof_len, sizeof(keep));
	ck_assert_mem_eq(e.proof, keep, sizeof(keep));

	/* data that replaces it comes without it (and frees its bytes) */
	ck_assert_int_eq(vg_cache_put_signed(C, mk_a(&a, n, 300, 1, 3), NULL, VG_RANK_AUTH,
					     VG_SEC_SECURE, 1020), 0);
	ck_assert_int_eq(get(n, VG_T_A, 1020, &e), 0);
	ck_assert_uint_eq(e.rs.rdata[3], 3);
	ck_assert_uint_eq(e.proof_len, 0);
	ck_assert_ptr_null(e.proof);
	vg_cache_usage(C, NULL, &b2, NULL);
	ck_assert_uint_lt(b2, b1);

	/* a proof with TTL 0 is not cached, nor is the expansion it proves */
	ck_assert_int_eq(vg_cache_put_signed_proof(C, mk_a(&a, "y.wild.example", 300, 1, 4),
						   mk_sigs(&s, "y.wild.example", 300, 1, 4), keep,
						   40, 0, VG_RANK_AUTH, VG_SEC_SECURE, 1000), 0);
	ck_assert_int_eq(get("y.wild.example", VG_T_A, 1000, &e), VG_ENOTFOUND);
	/* ... unless cache.min-ttl says to keep everything longer */
	vg_cache_set_limits(C, 30, 86400, 3600);
	ck_assert_int_eq(vg_cache_put_signed_proof(C, mk_a(&a, "y.wild.example", 300, 1, 4),
						   mk_sigs(&s, "y.wild.example", 300, 1, 4), keep,
						   40, 0, VG_RANK_AUTH, VG_SEC_SECURE, 1000), 0);
	ck_assert_int_eq(get("y.wild.example", VG_T_A, 1000, &e), 0);
	ck_assert_uint_eq(e.ttl, 30);
	ck_assert_uint_eq(e.proof_len, 40);
	vg_cache_set_limits(C, 0, 86400, 3600);
	/* no proof: its TTL means nothing */
	ck_assert_int_eq(vg_cache_put_signed_proof(C, mk_a(&a, "z.wild.example", 300, 1, 5),
						   NULL, NULL, 0, 0, VG_RANK_AUTH,
						   VG_SEC_SECURE, 1000), 0);
	ck_assert_int_eq(get("z.wild.example", VG_T_A, 1000, &e), 0);
	ck_assert_uint_eq(e.ttl, 300);
	ck_assert_uint_eq(e.proof_len, 0);
	ck_assert_ptr_null(e.proof);
	/* too long a proof is refused */
	static uint8_t huge[65536];
	ck_assert_int_eq(vg_cache_put_signed_proof(C, mk_a(&a, "h.wild.example", 300, 1, 6),
						   NULL, huge, sizeof(huge), 300, VG_RANK_AUTH,
						   VG_SEC_SECURE, 1000), VG_ELIMIT);
	ck_assert_int_eq(get("h.wild.example", VG_T_A, 1000, &e), VG_ENOTFOUND);
}
END_TEST

/* vg_cache_drop: data that failed validation goes (mixed-case owner, any
 * status but secure); a secure entry stays. */
START_TEST(drop_unless_secure)
{
	struct rrs a;
	struct vg_cache_entry e;
	uint8_t w[VG_NAME_MAX];
	ck_assert_int_eq(vg_cache_put(C, mk_a(&a, "d.example", 300, 1, 1), VG_RANK_AUTH, 1000), 0);
	wname("D.Example", w);
	ck_assert_int_eq(vg_cache_drop(C, w, VG_T_A), 0);
	ck_assert_int_eq(get("d.example", VG_T_A, 1000, &e), VG_ENOTFOUND);
	ck_assert_int_eq(vg_cache_drop(C, w, VG_T_A), VG_ENOTFOUND);
	ck_assert_int_eq(vg_cache_put(C, mk_a(&a, "d.example", 300, 1, 1), VG_RANK_AUTH, 1000), 0);
	wname("d.example", w);
	ck_assert_int_eq(vg_cache_set_sec(C, w, VG_T_A, VG_SEC_BOGUS, 6, 60, 1000), 0);
	ck_assert_int_eq(vg_cache_drop(C, w, VG_T_A), 0);
	ck_assert_int_eq(get("d.example", VG_T_A, 1000, &e), VG_ENOTFOUND);
	ck_assert_int_eq(vg_cache_put(C, mk_a(&a, "d.example", 300, 1, 1), VG_RANK_AUTH, 1000), 0);
	ck_assert_int_eq(vg_cache_set_sec(C, w, VG_T_A, VG_SEC_SECURE, 0, 60, 1000), 0);
	ck_assert_int_eq(vg_cache_drop(C, w, VG_T_A), VG_ENOTFOUND);
	ck_assert_int_eq(get("d.example", VG_T_A, 1000, &e), 0);
	ck_assert_uint_eq(e.sec, VG_SEC_SECURE);
}
END_TEST

START_TEST(set_sec_status)
{
	struct rrs a;
	struct vg_cache_entry e;
	uint8_t w[VG_NAME_MAX];
	ck_assert_int_eq(vg_cache_put(C, mk_a(&a, "v.example", 300, 1, 1), VG_RANK_AUTH, 1000), 0);
	wname("v.example", w);
	/* secure: the expiry is kept */
	ck_assert_int_eq(vg_cache_set_sec(C, w, VG_T_A, VG_SEC_SECURE, 0, 60, 1000), 0);
	ck_assert_int_eq(get("v.example", VG_T_A, 1000, &e), 0);
	ck_assert_uint_eq(e.sec, VG_SEC_SECURE);
	ck_assert_uint_eq(e.ede, 0);
	ck_assert_uint_eq(e.ttl, 300);
	ck_assert_uint_eq(e.rs.rdata[3], 1);
	/* bogus: the EDE, and at most bogus_ttl more seconds */
	ck_assert_int_eq(vg_cache_set_sec(C, w, VG_T_A, VG_SEC_BOGUS, 7, 60, 1010), 0);
	ck_assert_int_eq(get("v.example", VG_T_A, 1010, &e), 0);
	ck_assert_uint_eq(e.sec, VG_SEC_BOGUS);
	ck_assert_uint_eq(e.ede, 7);
	ck_assert_uint_eq(e.ttl, 60);
	ck_assert_uint_eq(e.rs.count, 1); /* the data is still there, for CD=1 */
	ck_assert_int_eq(get("v.example", VG_T_A, 1069, &e), 0);
	ck_assert_uint_eq(e.sec, VG_SEC_BOGUS);
	ck_assert_int_eq(get("v.example", VG_T_A, 1070, &e), VG_ENOTFOUND);
	ck_assert_int_eq(get("v.example", VG_T_A, 1100, &e), VG_ENOTFOUND);

	/* bogus never lengthens a shorter life */
	ck_assert_int_eq(vg_cache_put(C, mk_a(&a, "short.example", 30, 1, 2), VG_RANK_AUTH, 1000),
			 0);
	wname("short.example", w);
	ck_assert_int_eq(vg_cache_set_sec(C, w, VG_T_A, VG_SEC_BOGUS, 6, 60, 1000), 0);
	ck_assert_int_eq(get("short.example", VG_T_A, 1000, &e), 0);
	ck_assert_uint_eq(e.ttl, 30);
	ck_assert_uint_eq(e.ede, 6);
	ck_assert_int_eq(get("short.example", VG_T_A, 1030, &e), VG_ENOTFOUND);

	/* missing: other name, other type, expired */
	wname("missing.example", w);
	ck_assert_int_eq(vg_cache_set_sec(C, w, VG_T_A, VG_SEC_SECURE, 0, 60, 1000), VG_ENOTFOUND);
	wname("short.example", w);
	ck_assert_int_eq(vg_cache_set_sec(C, w, VG_T_AAAA, VG_SEC_SECURE, 0, 60, 1000),
			 VG_ENOTFOUND);
	ck_assert_int_eq(vg_cache_set_sec(C, w, VG_T_A, VG_SEC_SECURE, 0, 60, 1030), VG_ENOTFOUND);
	ck_assert_int_eq(get("missing.example", VG_T_A, 1000, &e), VG_ENOTFOUND);

	/* a negative entry */
	struct rrs soa;
	wname("nx.example.com", w);
	ck_assert_int_eq(vg_cache_put_neg(C, w, 0, mk_soa(&soa, 1), 900, VG_RANK_AUTH, 1000), 0);
	ck_assert_int_eq(vg_cache_set_sec(C, w, 0, VG_SEC_BOGUS, 12, 5, 1000), 0);
	ck_assert_int_eq(get("nx.example.com", 0, 1004, &e), 0);
	ck_assert(e.negative && e.nxdomain);
	ck_assert_uint_eq(e.sec, VG_SEC_BOGUS);
	ck_assert_uint_eq(e.ede, 12);
	ck_assert_uint_eq(e.ttl, 1);
	ck_assert_int_eq(get("nx.example.com", 0, 1005, &e), VG_ENOTFOUND);
}
END_TEST

/*
 * A resolution that failed validation is remembered with vg_cache_put_fail and
 * then marked bogus with its EDE (iterate.c fail()); try_cache answers
 * "DNSSEC validation failed (cached)" with that EDE when e.failure and
 * e.sec == VG_SEC_BOGUS.
 */
START_TEST(set_sec_on_failure_entry)
{
	struct vg_cache_entry e;
	uint8_t w[VG_NAME_MAX];
	wname("bogus.example", w);
	ck_assert_int_eq(vg_cache_put_fail(C, w, VG_T_A, 5, 0, 2000), 0);
	ck_assert_int_eq(vg_cache_set_sec(C, w, VG_T_A, VG_SEC_BOGUS, 9, 60, 2000), 0);
	ck_assert_int_eq(get("bogus.example", VG_T_A, 2000, &e), 0);
	ck_assert(e.failure && !e.negative);
	ck_assert(e.failure && e.sec == VG_SEC_BOGUS && e.ede == 9);
	ck_assert_uint_eq(e.ttl, 5); /* bogus_ttl (60) never lengthens it */
	/* and a shorter bogus_ttl shortens it */
	ck_assert_int_eq(vg_cache_set_sec(C, w, VG_T_A, VG_SEC_BOGUS, 9, 2, 2001), 0);
	ck_assert_int_eq(get("bogus.example", VG_T_A, 2002, &e), 0);
	ck_assert(e.failure && e.sec == VG_SEC_BOGUS && e.ede == 9 && e.ttl == 1);
	ck_assert_int_eq(get("bogus.example", VG_T_A, 2003, &e), VG_ENOTFOUND);
	/* a failure entry that expired is not found */
	ck_assert_int_eq(vg_cache_put_fail(C, w, VG_T_A, 5, 0, 2000), 0);
	ck_assert_int_eq(vg_cache_set_sec(C, w, VG_T_A, VG_SEC_BOGUS, 9, 60, 2005), VG_ENOTFOUND);
	ck_assert_int_eq(get("bogus.example", VG_T_A, 2005, &e), VG_ENOTFOUND);
}
END_TEST

/* ------------------------------------------------------------ control socket */

/* a.example.com A, b.a.example.com A, other.com A, nx.a.example.com NXDOMAIN,
 * a.example.com AAAA NODATA, fail.a.example.com A failure */
static void fill_for_flush(void)
{
	struct rrs r, soa;
	uint8_t n[VG_NAME_MAX];
	ck_assert_int_eq(vg_cache_put(C, mk_a(&r, "a.example.com", 600, 1, 1), VG_RANK_AUTH,
				      5000), 0);
	ck_assert_int_eq(vg_cache_put(C, mk_a(&r, "b.A.example.com", 600, 1, 2), VG_RANK_AUTH,
				      5000), 0);
	ck_assert_int_eq(vg_cache_put(C, mk_a(&r, "other.com", 600, 1, 3), VG_RANK_AUTH, 5000),
			 0);
	mk_soa(&soa, 1);
	wname("nx.a.example.com", n);
	ck_assert_int_eq(vg_cache_put_neg(C, n, 0, &soa.rs, 300, VG_RANK_AUTH, 5000), 0);
	wname("a.example.com", n);
	ck_assert_int_eq(vg_cache_put_neg(C, n, VG_T_AAAA, &soa.rs, 300, VG_RANK_AUTH, 5000), 0);
	wname("fail.a.example.com", n);
	ck_assert_int_eq(vg_cache_put_fail(C, n, VG_T_A, 5, 22, 5000), 0);
	ck_assert_uint_eq(n_entries(), 6);
}

START_TEST(flush_everything)
{
	struct vg_cache_entry e;
	fill_for_flush();
	ck_assert_uint_eq(vg_cache_flush(C, NULL, 0), 6);
	ck_assert_uint_eq(n_entries(), 0);
	ck_assert_int_eq(get("other.com", VG_T_A, 5001, &e), VG_ENOTFOUND);
}
END_TEST

START_TEST(flush_one_name_every_type)
{
	struct vg_cache_entry e;
	uint8_t n[VG_NAME_MAX];
	fill_for_flush();
	wname("A.Example.COM", n); /* any case */
	ck_assert_uint_eq(vg_cache_flush(C, n, 0), 2); /* A and the AAAA NODATA */
	ck_assert_int_eq(get("a.example.com", VG_T_A, 5001, &e), VG_ENOTFOUND);
	ck_assert_int_eq(get("a.example.com", VG_T_AAAA, 5001, &e), VG_ENOTFOUND);
	ck_assert_int_eq(get("b.a.example.com", VG_T_A, 5001, &e), 0); /* below: kept */
	ck_assert_int_eq(get("nx.a.example.com", 0, 5001, &e), 0);
	ck_assert_uint_eq(n_entries(), 4);
}
END_TEST

START_TEST(flush_subtree)
{
	struct vg_cache_entry e;
	uint8_t n[VG_NAME_MAX];
	fill_for_flush();
	wname("a.example.com", n);
	ck_assert_uint_eq(vg_cache_flush(C, n, VG_CACHE_FLUSH_SUBTREE), 5);
	ck_assert_int_eq(get("other.com", VG_T_A, 5001, &e), 0);
	ck_assert_uint_eq(n_entries(), 1);
	/* label by label: "her.com" is not a parent of "other.com" */
	wname("her.com", n);
	ck_assert_uint_eq(vg_cache_flush(C, n, VG_CACHE_FLUSH_SUBTREE), 0);
	ck_assert_uint_eq(n_entries(), 1);
}
END_TEST

START_TEST(flush_negative_only)
{
	struct vg_cache_entry e;
	fill_for_flush();
	ck_assert_uint_eq(vg_cache_flush(C, NULL, VG_CACHE_FLUSH_NEGATIVE), 3);
	ck_assert_int_eq(get("a.example.com", VG_T_A, 5001, &e), 0);
	ck_assert_int_eq(get("b.a.example.com", VG_T_A, 5001, &e), 0);
	ck_assert_int_eq(get("other.com", VG_T_A, 5001, &e), 0);
	ck_assert_int_eq(get("nx.a.example.com", 0, 5001, &e), VG_ENOTFOUND);
	ck_assert_int_eq(get("a.example.com", VG_T_AAAA, 5001, &e), VG_ENOTFOUND);
	ck_assert_uint_eq(n_entries(), 3);
}
END_TEST

/* A budget whose bucket table passes 2 MiB: the table is one huge-page
 * block (vg_big_alloc), every shard's buckets a slice of it.  Names land in
 * every shard and are all found; vg_cache_prefetch, for names present and
 * absent, changes nothing and returns the hash vg_cache_get_hashed finds the
 * entry by (another hash does not); flush empties it and the free is clean
 * (ASan). */
START_TEST(big_table_and_prefetch)
{
	struct vg_cache *big = vg_cache_new((size_t)256 * MIB);
	ck_assert_ptr_nonnull(big);
	enum { N = 4000 };
	struct rrs r;
	uint8_t n[VG_NAME_MAX], buf[512];
	char name[64];
	struct vg_cache_entry e;
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "n%d.big.example", i);
		ck_assert_int_eq(vg_cache_put(big, mk_a(&r, name, 600, 1, (uint8_t)i), 1, 1000), 0);
	}
	size_t count;
	vg_cache_usage(big, &count, NULL, NULL);
	ck_assert_uint_eq(count, N);
	for (int i = 0; i < 2 * N; i++) {
		snprintf(name, sizeof(name), "n%d.big.example", i);
		wname(name, n);
		uint64_t h = vg_cache_prefetch(big, n, VG_T_A);
		vg_cache_prefetch(big, n, VG_T_AAAA);
		int got = vg_cache_get(big, n, VG_T_A, 1001, &e, buf, sizeof(buf));
		/* the hash it returns is the key's: the hashed lookup agrees */
		ck_assert_int_eq(vg_cache_get_hashed(big, n, VG_T_A, h, 1001, 0, &e, buf,
						     sizeof(buf)), got);
		ck_assert_int_eq(vg_cache_get_hashed(big, n, VG_T_A, h ^ 1, 1001, 0, &e, buf,
						     sizeof(buf)), VG_ENOTFOUND);
		if (i >= N) {
			ck_assert_int_eq(got, VG_ENOTFOUND);
			continue;
		}
		ck_assert_int_eq(vg_cache_get_hashed(big, n, VG_T_A, h, 1001, 0, &e, buf,
						     sizeof(buf)), 0);
		ck_assert_uint_eq(e.rs.count, 1);
		ck_assert_uint_eq(e.rs.rdata[3], (uint8_t)i); /* 10.i.0.0: its own data */
		ck_assert_uint_eq(e.ttl, 599);
	}
	vg_cache_usage(big, &count, NULL, NULL);
	ck_assert_uint_eq(count, N);
	ck_assert_uint_eq(vg_cache_flush(big, NULL, 0), N);
	vg_cache_free(big);
}
END_TEST

START_TEST(peek_reports_without_touching)
{
	struct vg_cache_info in;
	uint8_t n[VG_NAME_MAX];
	fill_for_flush();
	wname("a.EXAMPLE.com", n);
	ck_assert_int_eq(vg_cache_peek(C, n, VG_T_A, 5100, &in), 0);
	ck_assert(!in.negative && !in.failure && !in.expired);
	ck_assert_uint_eq(in.ttl, 500);
	ck_assert_uint_eq(in.ttl0, 600);
	ck_assert_uint_eq(in.rank, VG_RANK_AUTH);
	ck_assert_uint_eq(in.sec, VG_SEC_UNCHECKED);
	ck_assert_uint_eq(in.count, 1);
	ck_assert_int_eq(vg_cache_set_sec(C, n, VG_T_A, VG_SEC_BOGUS, 9, 60, 5100), 0);
	ck_assert_int_eq(vg_cache_peek(C, n, VG_T_A, 5100, &in), 0);
	ck_assert_uint_eq(in.sec, VG_SEC_BOGUS);
	ck_assert_uint_eq(in.ede, 9);
	ck_assert_uint_eq(in.ttl, 60);
	ck_assert_int_eq(vg_cache_peek(C, n, VG_T_AAAA, 5100, &in), 0);
	ck_assert(in.negative && !in.nxdomain);
	wname("nx.a.example.com", n);
	ck_assert_int_eq(vg_cache_peek(C, n, 0, 5100, &in), 0);
	ck_assert(in.negative && in.nxdomain);
	wname("fail.a.example.com", n);
	ck_assert_int_eq(vg_cache_peek(C, n, VG_T_A, 5001, &in), 0);
	ck_assert(in.failure);
	ck_assert_uint_eq(in.ede, 22);
	/* expired (no serve-stale): not found, and peeking removes nothing */
	ck_assert_int_eq(vg_cache_peek(C, n, VG_T_A, 5005, &in), VG_ENOTFOUND);
	ck_assert_uint_eq(n_entries(), 6);
	wname("absent.example.com", n);
	ck_assert_int_eq(vg_cache_peek(C, n, VG_T_A, 5001, &in), VG_ENOTFOUND);
}
END_TEST

static Suite *cache_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("entries");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, positive_ttl_counts_down);
	tcase_add_test(tc, positive_data_is_copied);
	tcase_add_test(tc, keys_are_case_insensitive);
	tcase_add_test(tc, negative_entries);
	tcase_add_test(tc, failure_entries);
	tcase_add_test(tc, failure_keeps_hint_rank_data);
	tcase_add_test(tc, rank_rules);
	tcase_add_test(tc, ttl_clamps);
	tcase_add_test(tc, oversized_entry_rejected);
	tcase_add_test(tc, signed_entry_keeps_sigs);
	tcase_add_test(tc, secure_entry_replacement);
	tcase_add_test(tc, negative_proof_kept);
	tcase_add_test(tc, positive_proof_kept);
	tcase_add_test(tc, set_sec_status);
	tcase_add_test(tc, drop_unless_secure);
	tcase_add_test(tc, set_sec_on_failure_entry);
	tcase_add_test(tc, flush_everything);
	tcase_add_test(tc, flush_one_name_every_type);
	tcase_add_test(tc, flush_subtree);
	tcase_add_test(tc, flush_negative_only);
	tcase_add_test(tc, peek_reports_without_touching);
	tcase_add_test(tc, big_table_and_prefetch);
	suite_add_tcase(s, tc);

	tc = tcase_create("bounds");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120); /* slow under valgrind */
	tcase_add_test(tc, eviction_respects_bound);
	tcase_add_test(tc, eviction_is_lru);
	tcase_add_test(tc, threads_smoke);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return vg_test_run(cache_suite());
}
