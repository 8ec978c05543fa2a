/* SPDX-License-Identifier: MIT
 *
 * Unit tests for src/cache/aggr.c, the aggressive use of validated NSEC
 * records (RFC 8198): NXDOMAIN and NODATA synthesized from a stored NSEC
 * chain, the cases where no answer may be given (wildcard present or not
 * proven absent, type or CNAME present, DS, below a delegation or a DNAME,
 * empty non-terminals, other zones, a closer zone that cannot prove it),
 * answer TTLs, expiry, replacement, the per-zone record cap, the byte budget
 * and its LRU eviction, input checks, and a multi-threaded smoke test.
 *
 * The records are built by hand in vigil's packed form (rdata is
 * [u16 len][rdata] per record).  The store does not verify signatures, so an
 * RRSIG rdata here is dummy bytes.  Times are explicit `now` values.
 *
 * The main zone, `example.`, in canonical order (y.example. is an empty
 * non-terminal; sub.example. a secure delegation; dn.example. a DNAME):
 *
 *   example.      -> a.example.     NS SOA RRSIG NSEC DNSKEY
 *   a.example.    -> cn.example.    A RRSIG NSEC CAA
 *   cn.example.   -> dn.example.    CNAME RRSIG NSEC
 *   dn.example.   -> m.example.     A DNAME RRSIG NSEC
 *   m.example.    -> sub.example.   A TXT RRSIG NSEC
 *   sub.example.  -> x.y.example.   NS DS RRSIG NSEC
 *   x.y.example.  -> example.       A RRSIG NSEC   (the last: wraps to the apex)
 */
#include <check.h>

#include "check_main.h"
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache.h"
#include "vigil/err.h"
#include "vigil/wire.h"

#define MIB (1024 * 1024)
#define SIGLEN 24 /* dummy RRSIG rdata: >= 19 bytes, as a real one */

/* ------------------------------------------------------------ record builders */

/* One NSEC record and its RRSIG, with their own storage. */
struct nsec {
	uint8_t owner[VG_NAME_MAX];
	uint8_t rd[2 + VG_NAME_MAX + 3 * 34];
	uint8_t sigrd[2 + 1024];
	struct vg_rrset rs, sig;
};

/* The SOA of a zone and its RRSIG. */
struct soa {
	uint8_t owner[VG_NAME_MAX];
	uint8_t rd[128];
	uint8_t sigrd[2 + SIGLEN];
	struct vg_rrset rs, sig;
};

#define T(...) ((const uint16_t[]){ __VA_ARGS__, 0 })

static void wname(const char *s, uint8_t *out)
{
	ck_assert_int_gt(vg_name_from_str(s, out, VG_NAME_MAX), 0);
}

/* Type bitmap (RFC 4034 4.1.2) of the 0-terminated @p types into @p out. */
static size_t mk_bitmap(const uint16_t *types, uint8_t *out)
{
	static _Thread_local uint8_t win[256][32];
	uint8_t len[256] = { 0 };
	memset(win, 0, sizeof(win));
	for (; *types; types++) {
		unsigned w = *types >> 8, b = *types & 0xff;
		win[w][b / 8] |= (uint8_t)(0x80 >> (b % 8));
		if (b / 8 + 1 > len[w])
			len[w] = (uint8_t)(b / 8 + 1);
	}
	size_t o = 0;
	for (unsigned w = 0; w < 256; w++) {
		if (!len[w])
			continue;
		out[o++] = (uint8_t)w;
		out[o++] = len[w];
		memcpy(out + o, win[w], len[w]);
		o += len[w];
	}
	return o;
}

/* Dummy RRSIG rdata of @p len bytes covering @p covered: [u16 len][rdata]. */
static void mk_sigrd(uint8_t *d, size_t len, uint16_t covered, uint8_t tag)
{
	vg_put16(d, (uint16_t)len);
	vg_put16(d + 2, covered);
	for (size_t k = 2; k < len; k++)
		d[2 + k] = (uint8_t)(tag + k);
}

/* NSEC @p owner -> @p next with @p types; TTLs of the NSEC and its RRSIG. */
static struct nsec *mk_nsec_sig(struct nsec *n, const char *owner, const char *next,
				const uint16_t *types, uint32_t ttl, uint32_t sig_ttl,
				size_t siglen)
{
	uint8_t nx[VG_NAME_MAX];
	wname(owner, n->owner);
	wname(next, nx);
	size_t nl = vg_name_len(nx);
	memcpy(n->rd + 2, nx, nl);
	size_t bl = mk_bitmap(types, n->rd + 2 + nl);
	vg_put16(n->rd, (uint16_t)(nl + bl));
	n->rs = (struct vg_rrset){ .owner = n->owner, .type = VG_T_NSEC, .rclass = VG_C_IN,
				   .ttl = ttl, .count = 1, .rdata_len = (uint16_t)(2 + nl + bl),
				   .rdata = n->rd };
	ck_assert_uint_le(siglen, sizeof(n->sigrd) - 2);
	mk_sigrd(n->sigrd, siglen, VG_T_NSEC, n->owner[1]);
	n->sig = (struct vg_rrset){ .owner = n->owner, .type = VG_T_RRSIG, .rclass = VG_C_IN,
				    .ttl = sig_ttl, .count = 1, .rdata_len = (uint16_t)(2 + siglen),
				    .rdata = n->sigrd };
	return n;
}

static struct nsec *mk_nsec(struct nsec *n, const char *owner, const char *next,
			    const uint16_t *types, uint32_t ttl)
{
	return mk_nsec_sig(n, owner, next, types, ttl, ttl, SIGLEN);
}

/* The SOA of @p zone with serial @p serial (its TTL is not used by the store). */
static struct soa *mk_soa(struct soa *s, const char *zone, uint32_t serial)
{
	static const uint8_t mname[] = "\3ns1\7invalid", rname[] = "\4host\7invalid";
	wname(zone, s->owner);
	uint8_t *d = s->rd + 2;
	memcpy(d, mname, sizeof(mname)), d += sizeof(mname);
	memcpy(d, rname, sizeof(rname)), d += sizeof(rname);
	vg_put32(d, serial), vg_put32(d + 4, 7200), vg_put32(d + 8, 3600);
	vg_put32(d + 12, 1209600), vg_put32(d + 16, 300);
	d += 20;
	vg_put16(s->rd, (uint16_t)(d - s->rd - 2));
	s->rs = (struct vg_rrset){ .owner = s->owner, .type = VG_T_SOA, .rclass = VG_C_IN,
				   .ttl = 3600, .count = 1, .rdata_len = (uint16_t)(d - s->rd),
				   .rdata = s->rd };
	mk_sigrd(s->sigrd, SIGLEN, VG_T_SOA, (uint8_t)serial);
	s->sig = (struct vg_rrset){ .owner = s->owner, .type = VG_T_RRSIG, .rclass = VG_C_IN,
				    .ttl = 3600, .count = 1, .rdata_len = 2 + SIGLEN,
				    .rdata = s->sigrd };
	return s;
}

/* Store @p n in @p zone, with the zone's SOA, negative TTL @p neg_ttl. */
static int put(struct vg_aggr *a, const char *zone, const struct nsec *n, uint32_t neg_ttl,
	       uint32_t now)
{
	struct soa s;
	uint8_t z[VG_NAME_MAX];
	wname(zone, z);
	mk_soa(&s, zone, 1);
	return vg_aggr_put(a, z, &s.rs, &s.sig, neg_ttl, &n->rs, &n->sig, now);
}

/* Look up @p name / @p qtype, into a static buffer. */
static int get(struct vg_aggr *a, const char *name, uint16_t qtype, uint32_t now,
	       struct vg_aggr_answer *out)
{
	static uint8_t buf[8192];
	uint8_t n[VG_NAME_MAX];
	wname(name, n);
	memset(out, 0xa5, sizeof(*out));
	return vg_aggr_get(a, n, qtype, now, out, buf, sizeof(buf));
}

static bool name_is(const uint8_t *wire, const char *s)
{
	uint8_t n[VG_NAME_MAX];
	wname(s, n);
	return vg_name_len(wire) == vg_name_len(n) && memcmp(wire, n, vg_name_len(n)) == 0;
}

/* ------------------------------------------------------------ the example. zone */

enum { APEX, NA, NCN, NDN, NM, NSUB, NXY, NEX };

static const struct {
	const char *owner, *next;
	uint16_t types[8];
} EX[NEX] = {
	[APEX] = { "example.", "a.example.", { VG_T_NS, VG_T_SOA, VG_T_RRSIG, VG_T_NSEC,
					       VG_T_DNSKEY } },
	[NA] = { "a.example.", "cn.example.", { VG_T_A, VG_T_RRSIG, VG_T_NSEC, 257 } },
	[NCN] = { "cn.example.", "dn.example.", { VG_T_CNAME, VG_T_RRSIG, VG_T_NSEC } },
	[NDN] = { "dn.example.", "m.example.", { VG_T_A, VG_T_DNAME, VG_T_RRSIG, VG_T_NSEC } },
	[NM] = { "m.example.", "sub.example.", { VG_T_A, VG_T_TXT, VG_T_RRSIG, VG_T_NSEC } },
	[NSUB] = { "sub.example.", "x.y.example.", { VG_T_NS, VG_T_DS, VG_T_RRSIG, VG_T_NSEC } },
	[NXY] = { "x.y.example.", "example.", { VG_T_A, VG_T_RRSIG, VG_T_NSEC } },
};

static struct nsec *ex(struct nsec *n, int i, uint32_t ttl, uint32_t sig_ttl)
{
	return mk_nsec_sig(n, EX[i].owner, EX[i].next, EX[i].types, ttl, sig_ttl, SIGLEN);
}

/* Store record @p i of example. with TTLs 3600 (negative TTL 3600). */
static void put_ex(struct vg_aggr *a, int i, uint32_t now)
{
	struct nsec n;
	ck_assert_int_eq(put(a, "example.", ex(&n, i, 3600, 3600), 3600, now), 0);
}

static struct vg_aggr *A;

static void setup(void)
{
	A = vg_aggr_new(4 * MIB);
	ck_assert_ptr_nonnull(A);
}

static void teardown(void)
{
	vg_aggr_free(A);
	A = NULL;
}

/* ------------------------------------------------------------ NXDOMAIN */

START_TEST(nxdomain_two_nsecs)
{
	struct nsec apex, a;
	struct soa s;
	struct vg_aggr_answer o;
	ck_assert_int_eq(put(A, "example.", ex(&apex, APEX, 900, 800), 3600, 1000), 0);
	ck_assert_int_eq(put(A, "example.", ex(&a, NA, 700, 600), 3600, 1000), 0);
	mk_soa(&s, "example.", 1);

	ck_assert_int_eq(get(A, "b.example.", VG_T_A, 1000, &o), 0);
	ck_assert(o.nxdomain);
	ck_assert_uint_eq(o.n, 2);
	ck_assert_uint_eq(o.ttl, 600); /* the covering NSEC's RRSIG is the shortest */
	/* [0] covers the name, [1] the wildcard *.example. */
	ck_assert(name_is(o.nsec[0].owner, "a.example."));
	ck_assert_uint_eq(o.nsec[0].type, VG_T_NSEC);
	ck_assert_uint_eq(o.nsec[0].rclass, VG_C_IN);
	ck_assert_uint_eq(o.nsec[0].count, 1);
	ck_assert_uint_eq(o.nsec[0].rdata_len, a.rs.rdata_len);
	ck_assert_mem_eq(o.nsec[0].rdata, a.rd, a.rs.rdata_len);
	ck_assert_uint_eq(o.nsec_sig[0].type, VG_T_RRSIG);
	ck_assert_uint_eq(o.nsec_sig[0].count, 1);
	ck_assert(name_is(o.nsec_sig[0].owner, "a.example."));
	ck_assert_uint_eq(o.nsec_sig[0].rdata_len, a.sig.rdata_len);
	ck_assert_mem_eq(o.nsec_sig[0].rdata, a.sigrd, a.sig.rdata_len);
	ck_assert(name_is(o.nsec[1].owner, "example."));
	ck_assert_mem_eq(o.nsec[1].rdata, apex.rd, apex.rs.rdata_len);
	ck_assert_mem_eq(o.nsec_sig[1].rdata, apex.sigrd, apex.sig.rdata_len);
	/* the SOA and its RRSIG */
	ck_assert(name_is(o.soa.owner, "example."));
	ck_assert_uint_eq(o.soa.type, VG_T_SOA);
	ck_assert_uint_eq(o.soa.count, 1);
	ck_assert_uint_eq(o.soa.rdata_len, s.rs.rdata_len);
	ck_assert_mem_eq(o.soa.rdata, s.rd, s.rs.rdata_len);
	ck_assert_uint_eq(o.soa_sig.type, VG_T_RRSIG);
	ck_assert_uint_eq(o.soa_sig.count, 1);
	ck_assert_mem_eq(o.soa_sig.rdata, s.sigrd, s.sig.rdata_len);
	/* every record carries the answer's TTL */
	ck_assert_uint_eq(o.soa.ttl, 600);
	ck_assert_uint_eq(o.soa_sig.ttl, 600);
	for (int i = 0; i < 2; i++) {
		ck_assert_uint_eq(o.nsec[i].ttl, 600);
		ck_assert_uint_eq(o.nsec_sig[i].ttl, 600);
	}

	/* counts down; any qtype, and names further below */
	ck_assert_int_eq(get(A, "b.example.", VG_T_AAAA, 1100, &o), 0);
	ck_assert(o.nxdomain);
	ck_assert_uint_eq(o.ttl, 500);
	ck_assert_int_eq(get(A, "b.example.", VG_T_DS, 1100, &o), 0);
	ck_assert(o.nxdomain);
	ck_assert_int_eq(get(A, "deep.b.example.", VG_T_MX, 1100, &o), 0);
	ck_assert(o.nxdomain && o.n == 2);
	ck_assert(name_is(o.nsec[0].owner, "a.example."));
	/* names the stored records do not cover */
	ck_assert_int_eq(get(A, "d.example.", VG_T_A, 1100, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "z.example.", VG_T_A, 1100, &o), VG_ENOTFOUND);
}
END_TEST

/* The answer's TTL is the smallest of the NSECs', their RRSIGs' and the negative TTL. */
START_TEST(nxdomain_ttl_is_min)
{
	static const struct {
		uint32_t apex, apex_sig, a, a_sig, neg, want;
	} cases[] = {
		{ 900, 900, 900, 900, 900, 900 }, { 900, 900, 100, 900, 900, 100 },
		{ 900, 900, 900, 150, 900, 150 }, { 200, 900, 900, 900, 900, 200 },
		{ 900, 250, 900, 900, 900, 250 }, { 900, 900, 900, 900, 50, 50 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vg_aggr *a = vg_aggr_new(MIB);
		struct nsec n;
		struct vg_aggr_answer o;
		ck_assert_int_eq(put(a, "example.", ex(&n, APEX, cases[i].apex, cases[i].apex_sig),
				     cases[i].neg, 1000), 0);
		ck_assert_int_eq(put(a, "example.", ex(&n, NA, cases[i].a, cases[i].a_sig),
				     cases[i].neg, 1000), 0);
		ck_assert_int_eq(get(a, "b.example.", VG_T_A, 1010, &o), 0);
		ck_assert_msg(o.ttl == cases[i].want - 10, "case %zu: ttl %u", i, o.ttl);
		ck_assert_uint_eq(o.nsec[1].ttl, cases[i].want - 10);
		ck_assert_int_eq(get(a, "b.example.", VG_T_A, 1000 + cases[i].want - 1, &o), 0);
		ck_assert_uint_eq(o.ttl, 1);
		ck_assert_int_eq(get(a, "b.example.", VG_T_A, 1000 + cases[i].want, &o),
				 VG_ENOTFOUND);
		vg_aggr_free(a);
	}
}
END_TEST

START_TEST(nxdomain_one_nsec)
{
	struct nsec n;
	struct vg_aggr_answer o;
	/* a zone whose only name is its apex: one NSEC, pointing to itself */
	ck_assert_int_eq(put(A, "one.", mk_nsec(&n, "one.", "one.",
						T(VG_T_NS, VG_T_SOA, VG_T_RRSIG, VG_T_NSEC), 300),
			     300, 1000), 0);
	ck_assert_int_eq(get(A, "foo.one.", VG_T_A, 1000, &o), 0);
	ck_assert(o.nxdomain);
	ck_assert_uint_eq(o.n, 1);
	ck_assert(name_is(o.nsec[0].owner, "one."));
	ck_assert(name_is(o.soa.owner, "one."));
	ck_assert_uint_eq(o.ttl, 300);
	ck_assert_int_eq(get(A, "a.b.c.one.", VG_T_A, 1000, &o), 0);
	ck_assert(o.nxdomain && o.n == 1);
	ck_assert_int_eq(get(A, "one.", VG_T_A, 1000, &o), 0); /* the apex: NODATA */
	ck_assert(!o.nxdomain && o.n == 1);

	/* in example.: the apex NSEC alone covers 0.example. and *.example. */
	put_ex(A, APEX, 1000);
	ck_assert_int_eq(get(A, "0.example.", VG_T_A, 1000, &o), 0);
	ck_assert(o.nxdomain);
	ck_assert_uint_eq(o.n, 1);
	ck_assert(name_is(o.nsec[0].owner, "example."));
	ck_assert_int_eq(get(A, "b.example.", VG_T_A, 1000, &o), VG_ENOTFOUND);
}
END_TEST

START_TEST(nxdomain_needs_wildcard_cover)
{
	struct vg_aggr_answer o;
	put_ex(A, NA, 1000);
	ck_assert_int_eq(get(A, "b.example.", VG_T_A, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "deep.b.example.", VG_T_A, 1000, &o), VG_ENOTFOUND);
	/* NODATA needs no wildcard proof */
	ck_assert_int_eq(get(A, "a.example.", VG_T_AAAA, 1000, &o), 0);
	ck_assert(!o.nxdomain);
	put_ex(A, APEX, 1000);
	ck_assert_int_eq(get(A, "b.example.", VG_T_A, 1000, &o), 0);
	ck_assert(o.nxdomain && o.n == 2);
}
END_TEST

START_TEST(nxdomain_not_when_wildcard_exists)
{
	struct nsec n;
	struct vg_aggr_answer o;
	ck_assert_int_eq(put(A, "example.", mk_nsec(&n, "example.", "*.example.",
						    T(VG_T_NS, VG_T_SOA, VG_T_RRSIG, VG_T_NSEC),
						    600), 600, 1000), 0);
	ck_assert_int_eq(put(A, "example.", mk_nsec(&n, "*.example.", "a.example.",
						    T(VG_T_TXT, VG_T_RRSIG, VG_T_NSEC), 600),
			     600, 1000), 0);
	put_ex(A, NA, 1000);
	/* b.example. is covered, but *.example. exists: the wildcard answers */
	ck_assert_int_eq(get(A, "b.example.", VG_T_A, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "b.example.", VG_T_TXT, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "deep.b.example.", VG_T_A, 1000, &o), VG_ENOTFOUND);
	/* names that exist are still proven to lack a type */
	ck_assert_int_eq(get(A, "a.example.", VG_T_AAAA, 1000, &o), 0);
	ck_assert(!o.nxdomain && o.n == 1);
	ck_assert(name_is(o.nsec[0].owner, "a.example."));
}
END_TEST

/* ------------------------------------------------------------ NODATA */

START_TEST(nodata_by_bitmap)
{
	struct vg_aggr_answer o;
	for (int i = 0; i < NEX; i++)
		put_ex(A, i, 1000);
	ck_assert_int_eq(get(A, "a.example.", VG_T_AAAA, 1000, &o), 0);
	ck_assert(!o.nxdomain);
	ck_assert_uint_eq(o.n, 1);
	ck_assert(name_is(o.nsec[0].owner, "a.example."));
	ck_assert_uint_eq(o.nsec_sig[0].count, 1);
	ck_assert(name_is(o.soa.owner, "example."));
	ck_assert_uint_eq(o.soa_sig.count, 1);
	ck_assert_uint_eq(o.ttl, 3600);
	ck_assert_int_eq(get(A, "a.example.", VG_T_MX, 1000, &o), 0);
	ck_assert(!o.nxdomain);
	ck_assert_int_eq(get(A, "m.example.", VG_T_MX, 1000, &o), 0);
	ck_assert(!o.nxdomain && name_is(o.nsec[0].owner, "m.example."));
	ck_assert_int_eq(get(A, "example.", VG_T_A, 1000, &o), 0); /* the apex */
	ck_assert(!o.nxdomain && name_is(o.nsec[0].owner, "example."));
	ck_assert_int_eq(get(A, "x.y.example.", VG_T_TXT, 1000, &o), 0);
	ck_assert(!o.nxdomain && name_is(o.nsec[0].owner, "x.y.example."));
	ck_assert_int_eq(get(A, "dn.example.", VG_T_AAAA, 1000, &o), 0); /* the DNAME owner */
	ck_assert(!o.nxdomain);

	/* the type is there */
	ck_assert_int_eq(get(A, "a.example.", VG_T_A, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "a.example.", 257, 1000, &o), VG_ENOTFOUND); /* window 1 */
	ck_assert_int_eq(get(A, "a.example.", VG_T_NSEC, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "m.example.", VG_T_TXT, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "example.", VG_T_DNSKEY, 1000, &o), VG_ENOTFOUND);
	/* a CNAME is there */
	ck_assert_int_eq(get(A, "cn.example.", VG_T_AAAA, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "cn.example.", VG_T_CNAME, 1000, &o), VG_ENOTFOUND);
	/* DS is the parent's to deny */
	ck_assert_int_eq(get(A, "a.example.", VG_T_DS, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "example.", VG_T_DS, 1000, &o), VG_ENOTFOUND);
}
END_TEST

START_TEST(nodata_not_for_empty_non_terminal)
{
	struct vg_aggr_answer o;
	for (int i = 0; i < NEX; i++)
		put_ex(A, i, 1000);
	/* y.example. is covered by sub.example. -> x.y.example., but exists (as an ENT) */
	ck_assert_int_eq(get(A, "y.example.", VG_T_A, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "y.example.", VG_T_TXT, 1000, &o), VG_ENOTFOUND);
	/* its other children do not exist */
	ck_assert_int_eq(get(A, "z.y.example.", VG_T_A, 1000, &o), 0);
	ck_assert(o.nxdomain);
	ck_assert(name_is(o.nsec[0].owner, "x.y.example."));
}
END_TEST

/* ------------------------------------------------------------ zone cuts */

START_TEST(no_answer_below_delegation_or_dname)
{
	struct vg_aggr_answer o;
	for (int i = 0; i < NEX; i++)
		put_ex(A, i, 1000);
	/* controls: names next to them are denied */
	ck_assert_int_eq(get(A, "t.example.", VG_T_A, 1000, &o), 0);
	ck_assert(o.nxdomain && name_is(o.nsec[0].owner, "sub.example."));
	ck_assert_int_eq(get(A, "e.example.", VG_T_A, 1000, &o), 0);
	ck_assert(o.nxdomain && name_is(o.nsec[0].owner, "dn.example."));
	/* below the delegation sub.example. (NS, no SOA): the child's names */
	ck_assert_int_eq(get(A, "www.sub.example.", VG_T_A, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "a.b.sub.example.", VG_T_A, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "www.sub.example.", VG_T_DS, 1000, &o), VG_ENOTFOUND);
	/* below the DNAME at dn.example.: redirected, not denied */
	ck_assert_int_eq(get(A, "x.dn.example.", VG_T_A, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "a.b.dn.example.", VG_T_AAAA, 1000, &o), VG_ENOTFOUND);
	/* at the delegation itself: DS is there */
	ck_assert_int_eq(get(A, "sub.example.", VG_T_DS, 1000, &o), VG_ENOTFOUND);
	/*
	 * RFC 6840 4.1: the parent-side NSEC at a delegation (NS set, SOA clear)
	 * proves nothing about types at that name other than DS; the child is
	 * authoritative for them.
	 */
	ck_assert_int_eq(get(A, "sub.example.", VG_T_A, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "sub.example.", VG_T_AAAA, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "sub.example.", VG_T_DNSKEY, 1000, &o), VG_ENOTFOUND);
}
END_TEST

/* A stored child zone decides for the names in it; its parent does not. */
START_TEST(closest_zone_decides)
{
	struct nsec n;
	struct vg_aggr_answer o;
	/* a parent whose records would deny names in sub.example. */
	put_ex(A, APEX, 1000);
	ck_assert_int_eq(put(A, "example.", mk_nsec(&n, "m.example.", "x.y.example.",
						    T(VG_T_A, VG_T_RRSIG, VG_T_NSEC), 3600),
			     3600, 1000), 0);
	ck_assert_int_eq(get(A, "www.sub.example.", VG_T_A, 1000, &o), 0);
	ck_assert(o.nxdomain && name_is(o.soa.owner, "example."));

	/* the child zone, with only its apex NSEC: it cannot prove www absent */
	ck_assert_int_eq(put(A, "sub.example.",
			     mk_nsec(&n, "sub.example.", "mail.sub.example.",
				     T(VG_T_NS, VG_T_SOA, VG_T_RRSIG, VG_T_NSEC, VG_T_DNSKEY), 600),
			     600, 1000), 0);
	ck_assert_int_eq(get(A, "www.sub.example.", VG_T_A, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "www.sub.example.", VG_T_AAAA, 1000, &o), VG_ENOTFOUND);
	/* but what it covers it answers, with its own SOA */
	ck_assert_int_eq(get(A, "b.sub.example.", VG_T_A, 1000, &o), 0);
	ck_assert(o.nxdomain && o.n == 1);
	ck_assert(name_is(o.soa.owner, "sub.example."));
	ck_assert(name_is(o.nsec[0].owner, "sub.example."));
	ck_assert_uint_eq(o.ttl, 600);
	ck_assert_int_eq(get(A, "sub.example.", VG_T_A, 1000, &o), 0); /* child apex NODATA */
	ck_assert(!o.nxdomain && name_is(o.soa.owner, "sub.example."));

	/* the rest of the child's chain: now it denies www itself */
	ck_assert_int_eq(put(A, "sub.example.",
			     mk_nsec(&n, "mail.sub.example.", "sub.example.",
				     T(VG_T_A, VG_T_MX, VG_T_RRSIG, VG_T_NSEC), 600),
			     600, 1000), 0);
	ck_assert_int_eq(get(A, "www.sub.example.", VG_T_A, 1000, &o), 0);
	ck_assert(o.nxdomain && o.n == 2);
	ck_assert(name_is(o.soa.owner, "sub.example."));
	ck_assert(name_is(o.nsec[0].owner, "mail.sub.example."));
	ck_assert(name_is(o.nsec[1].owner, "sub.example."));
	ck_assert_int_eq(get(A, "mail.sub.example.", VG_T_AAAA, 1000, &o), 0);
	ck_assert(!o.nxdomain && name_is(o.nsec[0].owner, "mail.sub.example."));

	/* the parent still answers for its own names */
	ck_assert_int_eq(get(A, "n.example.", VG_T_A, 1000, &o), 0);
	ck_assert(o.nxdomain && name_is(o.soa.owner, "example."));
	ck_assert(name_is(o.nsec[0].owner, "m.example."));
}
END_TEST

START_TEST(wrap_around_last_nsec)
{
	struct vg_aggr_answer o;
	put_ex(A, NXY, 1000);
	put_ex(A, APEX, 1000);
	ck_assert_int_eq(get(A, "z.example.", VG_T_A, 1000, &o), 0);
	ck_assert(o.nxdomain);
	ck_assert_uint_eq(o.n, 2);
	ck_assert(name_is(o.nsec[0].owner, "x.y.example."));
	ck_assert(name_is(o.nsec[1].owner, "example."));
	ck_assert_int_eq(get(A, "zzz.zdeep.example.", VG_T_AAAA, 1000, &o), 0);
	ck_assert(o.nxdomain && name_is(o.nsec[0].owner, "x.y.example."));
	ck_assert_int_eq(get(A, "z.y.example.", VG_T_A, 1000, &o), VG_ENOTFOUND); /* *.y */
	/* before the last owner: not covered by it */
	ck_assert_int_eq(get(A, "w.example.", VG_T_A, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "b.example.", VG_T_A, 1000, &o), VG_ENOTFOUND);
}
END_TEST

START_TEST(other_zones_not_answered)
{
	struct vg_aggr_answer o;
	ck_assert_int_eq(get(A, "b.example.", VG_T_A, 1000, &o), VG_ENOTFOUND); /* empty */
	ck_assert_int_eq(get(A, ".", VG_T_A, 1000, &o), VG_ENOTFOUND);
	for (int i = 0; i < NEX; i++)
		put_ex(A, i, 1000);
	ck_assert_int_eq(get(A, "b.example.", VG_T_A, 1000, &o), 0);
	ck_assert_int_eq(get(A, "b.example.org.", VG_T_A, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "b.example.com.", VG_T_A, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "b.other.", VG_T_A, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "org.", VG_T_A, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, ".", VG_T_A, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(vg_aggr_get(NULL, (const uint8_t *)"", VG_T_A, 1000, &o, NULL, 0),
			 VG_ENOTFOUND);
}
END_TEST

/* ------------------------------------------------------------ lifetime */

START_TEST(answers_expire)
{
	struct nsec n;
	struct vg_aggr_answer o;
	ck_assert_int_eq(put(A, "example.", ex(&n, APEX, 100, 100), 3600, 1000), 0);
	ck_assert_int_eq(put(A, "example.", ex(&n, NA, 100, 100), 3600, 1000), 0);
	ck_assert_int_eq(get(A, "b.example.", VG_T_A, 1099, &o), 0);
	ck_assert_uint_eq(o.ttl, 1);
	ck_assert_int_eq(get(A, "a.example.", VG_T_AAAA, 1099, &o), 0);
	ck_assert_int_eq(get(A, "b.example.", VG_T_A, 1100, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "a.example.", VG_T_AAAA, 1100, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "b.example.", VG_T_A, 5000, &o), VG_ENOTFOUND);

	/* the wildcard's NSEC expiring first ends NXDOMAIN, not NODATA at a. */
	ck_assert_int_eq(put(A, "example.", ex(&n, APEX, 50, 50), 3600, 2000), 0);
	ck_assert_int_eq(put(A, "example.", ex(&n, NA, 500, 500), 3600, 2000), 0);
	ck_assert_int_eq(get(A, "b.example.", VG_T_A, 2049, &o), 0);
	ck_assert_int_eq(get(A, "b.example.", VG_T_A, 2050, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "a.example.", VG_T_AAAA, 2050, &o), 0);
	ck_assert_uint_eq(o.ttl, 450);

	/* the negative TTL (the SOA's) bounds everything in the zone */
	ck_assert_int_eq(put(A, "example.", ex(&n, APEX, 500, 500), 30, 3000), 0);
	ck_assert_int_eq(get(A, "example.", VG_T_A, 3029, &o), 0);
	ck_assert_uint_eq(o.ttl, 1);
	ck_assert_int_eq(get(A, "example.", VG_T_A, 3030, &o), VG_ENOTFOUND);

	/* a zero TTL is not stored */
	ck_assert_int_eq(put(A, "example.", ex(&n, APEX, 600, 600), 600, 4000), 0);
	ck_assert_int_eq(put(A, "example.", ex(&n, NM, 0, 600), 600, 4000), 0);
	ck_assert_int_eq(put(A, "example.", ex(&n, NXY, 600, 0), 600, 4000), 0);
	ck_assert_int_eq(put(A, "example.", ex(&n, NDN, 600, 600), 0, 4000), 0);
	ck_assert_int_eq(get(A, "m.example.", VG_T_MX, 4000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "x.y.example.", VG_T_MX, 4000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "dn.example.", VG_T_MX, 4000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "example.", VG_T_MX, 4000, &o), 0); /* the zone still answers */
	ck_assert_uint_eq(o.ttl, 600);
}
END_TEST

START_TEST(fresh_copy_replaces_owner)
{
	struct nsec n;
	struct vg_aggr_answer o;
	put_ex(A, APEX, 1000);
	ck_assert_int_eq(put(A, "example.", mk_nsec(&n, "a.example.", "cn.example.",
						    T(VG_T_A, VG_T_RRSIG, VG_T_NSEC), 100),
			     3600, 1000), 0);
	ck_assert_int_eq(get(A, "a.example.", VG_T_AAAA, 1000, &o), 0);
	ck_assert_uint_eq(o.ttl, 100);
	/* the zone changed: a.example. now has AAAA, and the record lives longer */
	ck_assert_int_eq(put(A, "example.", mk_nsec(&n, "a.example.", "cn.example.",
						    T(VG_T_A, VG_T_AAAA, VG_T_RRSIG, VG_T_NSEC),
						    600), 3600, 1050), 0);
	ck_assert_int_eq(get(A, "a.example.", VG_T_AAAA, 1050, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "a.example.", VG_T_MX, 1050, &o), 0);
	ck_assert_uint_eq(o.ttl, 600);
	ck_assert_uint_eq(o.nsec[0].rdata_len, n.rs.rdata_len);
	ck_assert_mem_eq(o.nsec[0].rdata, n.rd, n.rs.rdata_len);
	ck_assert_int_eq(get(A, "a.example.", VG_T_MX, 1200, &o), 0); /* the old one expired */
	ck_assert_uint_eq(o.ttl, 450);
	/* a shorter-lived copy replaces it too (it is the newer data) */
	ck_assert_int_eq(put(A, "example.", mk_nsec(&n, "a.example.", "b.example.",
						    T(VG_T_A, VG_T_RRSIG, VG_T_NSEC), 20),
			     3600, 1300), 0);
	ck_assert_int_eq(get(A, "a.example.", VG_T_AAAA, 1300, &o), 0);
	ck_assert_uint_eq(o.ttl, 20);
	ck_assert_int_eq(get(A, "c.example.", VG_T_A, 1300, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(A, "aa.example.", VG_T_A, 1300, &o), 0);
	ck_assert(o.nxdomain && o.nsec[0].rdata_len == n.rs.rdata_len);
	ck_assert_int_eq(get(A, "a.example.", VG_T_AAAA, 1320, &o), VG_ENOTFOUND);
	/* case does not make another owner, nor another zone */
	static const uint8_t upper_zone[] = "\7EXAMPLE";
	struct soa s;
	mk_soa(&s, "example.", 2);
	mk_nsec(&n, "a.example.", "cn.example.", T(VG_T_A, VG_T_RRSIG, VG_T_NSEC), 300);
	n.owner[1] = 'A';
	n.owner[3] = 'E';
	ck_assert_int_eq(vg_aggr_put(A, upper_zone, &s.rs, &s.sig, 3600, &n.rs, &n.sig, 1400), 0);
	ck_assert_int_eq(get(A, "a.example.", VG_T_AAAA, 1400, &o), 0);
	ck_assert_uint_eq(o.ttl, 300);
	ck_assert_mem_eq(o.nsec[0].owner, "\1a\7example", 11); /* stored lower-case */
	ck_assert_int_eq(get(A, "b.example.", VG_T_A, 1400, &o), 0);
	ck_assert(name_is(o.nsec[0].owner, "a.example."));
}
END_TEST

/* ------------------------------------------------------------ bounds */

START_TEST(output_buffer_bounds)
{
	struct nsec apex, a;
	struct soa s;
	struct vg_aggr_answer o;
	uint8_t name[VG_NAME_MAX];
	static uint8_t buf[1024];
	ck_assert_int_eq(put(A, "example.", ex(&apex, APEX, 600, 600), 600, 1000), 0);
	ck_assert_int_eq(put(A, "example.", ex(&a, NA, 600, 600), 600, 1000), 0);
	mk_soa(&s, "example.", 1);
	size_t need = vg_name_len(a.owner) + a.rs.rdata_len + a.sig.rdata_len +
		      vg_name_len(apex.owner) + apex.rs.rdata_len + apex.sig.rdata_len +
		      vg_name_len(s.owner) + s.rs.rdata_len + s.sig.rdata_len;
	wname("b.example.", name);
	memset(buf, 0x5a, sizeof(buf));
	ck_assert_int_eq(vg_aggr_get(A, name, VG_T_A, 1000, &o, buf, need), 0);
	ck_assert(o.nxdomain && o.n == 2);
	ck_assert_uint_eq(buf[need], 0x5a); /* nothing written past the capacity */
	ck_assert(o.soa_sig.rdata + o.soa_sig.rdata_len <= buf + need);
	for (size_t cap = 0; cap < need; cap += (cap < 8 || need - cap < 8) ? 1 : 7) {
		memset(buf, 0x5a, sizeof(buf));
		int ret = vg_aggr_get(A, name, VG_T_A, 1000, &o, buf, cap);
		ck_assert_msg(ret != 0, "cap %zu of %zu answered", cap, need);
		for (size_t k = cap; k < sizeof(buf); k++)
			ck_assert_msg(buf[k] == 0x5a, "cap %zu: byte %zu written", cap, k);
		ck_assert_int_eq(ret, VG_ENOSPACE);
	}
}
END_TEST

START_TEST(put_rejects_bad_input)
{
	struct nsec n;
	struct soa s;
	struct vg_aggr_answer o;
	uint8_t zone[VG_NAME_MAX], other[VG_NAME_MAX];
	wname("example.", zone);
	wname("example.org.", other);
	mk_soa(&s, "example.", 1);
	ex(&n, APEX, 600, 600);
	ck_assert_int_eq(vg_aggr_put(NULL, zone, &s.rs, &s.sig, 600, &n.rs, &n.sig, 1000),
			 VG_EINVAL);
	ck_assert_int_eq(vg_aggr_put(A, zone, &s.rs, &s.sig, 600, NULL, &n.sig, 1000), VG_EINVAL);
	ck_assert_int_eq(vg_aggr_put(A, zone, &s.rs, &s.sig, 600, &n.rs, NULL, 1000), VG_EINVAL);
	ck_assert_int_eq(vg_aggr_put(A, zone, NULL, &s.sig, 600, &n.rs, &n.sig, 1000), VG_EINVAL);
	ck_assert_int_eq(vg_aggr_put(A, zone, &s.rs, NULL, 600, &n.rs, &n.sig, 1000), VG_EINVAL);
	/* the NSEC is not in the zone */
	ck_assert_int_eq(vg_aggr_put(A, other, &s.rs, &s.sig, 600, &n.rs, &n.sig, 1000),
			 VG_EINVAL);
	/* one NSEC record, with at least one RRSIG */
	n.rs.count = 2;
	ck_assert_int_eq(vg_aggr_put(A, zone, &s.rs, &s.sig, 600, &n.rs, &n.sig, 1000), VG_EINVAL);
	n.rs.count = 1;
	n.sig.count = 0;
	ck_assert_int_eq(vg_aggr_put(A, zone, &s.rs, &s.sig, 600, &n.rs, &n.sig, 1000), VG_EINVAL);
	n.sig.count = 1;
	/* the record's length prefix must match */
	vg_put16(n.rd, (uint16_t)(vg_get16(n.rd) + 1));
	ck_assert_int_eq(vg_aggr_put(A, zone, &s.rs, &s.sig, 600, &n.rs, &n.sig, 1000),
			 VG_EMALFORMED);
	n.rs.rdata_len = 1;
	ck_assert_int_eq(vg_aggr_put(A, zone, &s.rs, &s.sig, 600, &n.rs, &n.sig, 1000),
			 VG_EMALFORMED);
	ck_assert_int_eq(get(A, "example.", VG_T_A, 1000, &o), VG_ENOTFOUND);
	/* and the good one is stored */
	ex(&n, APEX, 600, 600);
	ck_assert_int_eq(vg_aggr_put(A, zone, &s.rs, &s.sig, 600, &n.rs, &n.sig, 1000), 0);
	ck_assert_int_eq(get(A, "example.", VG_T_A, 1000, &o), 0);
}
END_TEST

static void hname(char *buf, size_t size, char pfx, int i)
{
	snprintf(buf, size, "%c%05d.big.", pfx, i);
}

/* Store @p count NSECs pfx00000.big. -> next, RRSIG of @p siglen bytes. */
static void put_big(struct vg_aggr *a, char pfx, int first, int count, size_t siglen,
		    uint32_t now)
{
	static struct nsec n;
	char o[32], nx[32];
	for (int i = first; i < first + count; i++) {
		hname(o, sizeof(o), pfx, i);
		hname(nx, sizeof(nx), pfx, i + 1);
		mk_nsec_sig(&n, o, nx, T(VG_T_A, VG_T_RRSIG, VG_T_NSEC), 3600, 3600, siglen);
		ck_assert_int_eq(put(a, "big.", &n, 3600, now), 0);
	}
}

static int count_nodata(struct vg_aggr *a, char pfx, int first, int count, uint32_t now)
{
	struct vg_aggr_answer o;
	char nm[32];
	int hits = 0;
	for (int i = first; i < first + count; i++) {
		hname(nm, sizeof(nm), pfx, i);
		if (get(a, nm, VG_T_AAAA, now, &o) == 0 && !o.nxdomain)
			hits++;
	}
	return hits;
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}
#endif

/* A zone keeps at most ZONE_MAX_NSEC (4096) records. */
START_TEST(zone_record_cap)
{
	enum { CAP = 4096, TOTAL = 5000 };
	struct vg_aggr *a = vg_aggr_new(512 * MIB); /* the cap binds, not the budget */
	struct vg_aggr_answer o;
	put_big(a, 'h', 0, TOTAL, SIGLEN, 1000);
	ck_assert_int_eq(count_nodata(a, 'h', 0, CAP, 1000), CAP);
	ck_assert_int_eq(count_nodata(a, 'h', CAP, TOTAL - CAP, 1000), 0);
	/* a full zone still takes fresh copies of the owners it has */
	struct nsec n;
	ck_assert_int_eq(put(a, "big.", mk_nsec(&n, "h00000.big.", "h00001.big.",
						T(VG_T_A, VG_T_AAAA, VG_T_RRSIG, VG_T_NSEC), 3600),
			     3600, 1000), 0);
	ck_assert_int_eq(get(a, "h00000.big.", VG_T_AAAA, 1000, &o), VG_ENOTFOUND);
	ck_assert_int_eq(get(a, "h00000.big.", VG_T_MX, 1000, &o), 0);
	/* expired records are purged on insertion, which makes room */
	put_big(a, 'g', 0, 100, SIGLEN, 1000 + 3600);
	ck_assert_int_eq(count_nodata(a, 'g', 0, 100, 1000 + 3600), 100);
	ck_assert_int_eq(count_nodata(a, 'h', 0, 100, 1000 + 3600), 0);
	vg_aggr_free(a);

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	/* memory: 20000 records of ~560 bytes would be ~11 MB; 4096 are ~2.5 MB */
	size_t before = heap_in_use();
	a = vg_aggr_new(512 * MIB);
	put_big(a, 'h', 0, 20000, 512, 1000);
	size_t used = heap_in_use() - before;
	ck_assert_int_eq(count_nodata(a, 'h', 0, 20000, 1000), CAP);
	ck_assert_msg(used < 4 * MIB, "%zu bytes for a capped zone", used);
	vg_aggr_free(a);
#endif
}
END_TEST

/* Store the one-NSEC zone @p zone (its apex pointing to itself), for a day. */
static void put_tiny_zone(struct vg_aggr *a, const char *zone, uint32_t now)
{
	struct nsec n;
	mk_nsec(&n, zone, zone, T(VG_T_NS, VG_T_SOA, VG_T_RRSIG, VG_T_NSEC), 86400);
	ck_assert_int_eq(put(a, zone, &n, 86400, now), 0);
}

static bool tiny_zone_answers(struct vg_aggr *a, const char *zone, uint32_t now)
{
	struct vg_aggr_answer o;
	char nm[300];
	snprintf(nm, sizeof(nm), "nx.%s", zone);
	return get(a, nm, VG_T_A, now, &o) == 0 && o.nxdomain && name_is(o.soa.owner, zone);
}

/* Over its byte budget a shard drops the least recently used zones. */
START_TEST(budget_evicts_zones)
{
	enum { ZONES = 2000 };
	char zn[64];
	/* about 700 bytes a zone: a shard of 4096 bytes keeps a handful */
	struct vg_aggr *a = vg_aggr_new(16 * 4096);
	put_tiny_zone(a, "keep.test.", 1000);
	for (int i = 0; i < ZONES; i++) {
		snprintf(zn, sizeof(zn), "z%d.test.", i);
		put_tiny_zone(a, zn, 2000 + 2 * (uint32_t)i);
		/* keep.test. is in use: looked up after every insertion */
		ck_assert(tiny_zone_answers(a, "keep.test.", 2000 + 2 * (uint32_t)i + 1));
	}
	int hits = 0, early = 0;
	uint32_t now = 2000 + 2 * ZONES;
	for (int i = 0; i < ZONES; i++) {
		snprintf(zn, sizeof(zn), "z%d.test.", i);
		bool h = tiny_zone_answers(a, zn, now);
		hits += h;
		early += h && i < ZONES / 2;
	}
	ck_assert_int_ge(hits, 16);  /* each shard keeps its newest zone */
	ck_assert_int_le(hits, 200); /* and not many more */
	ck_assert_int_eq(early, 0);
	snprintf(zn, sizeof(zn), "z%d.test.", ZONES - 1);
	ck_assert(tiny_zone_answers(a, zn, now));
	ck_assert(tiny_zone_answers(a, "keep.test.", now));
	vg_aggr_free(a);

	/* no budget at all: the bound holds (no record is kept), and no crash */
	a = vg_aggr_new(0);
	for (int i = 0; i < 200; i++) {
		snprintf(zn, sizeof(zn), "z%d.test.", i);
		put_tiny_zone(a, zn, 1000);
		ck_assert(!tiny_zone_answers(a, zn, 1000));
	}
	vg_aggr_free(a);
}
END_TEST

/* The cache's store gets an eighth of the cache's budget. */
START_TEST(cache_store_budget)
{
	char zn[64];
	struct vg_cache *c = vg_cache_new(256 * 1024); /* 32 KiB for NSEC records */
	ck_assert_ptr_nonnull(c);
	struct vg_aggr *a = vg_cache_aggr(c);
	ck_assert_ptr_nonnull(a);
	for (int i = 0; i < 1000; i++) {
		snprintf(zn, sizeof(zn), "z%d.test.", i);
		put_tiny_zone(a, zn, 1000 + (uint32_t)i);
	}
	int hits = 0;
	for (int i = 0; i < 1000; i++) {
		snprintf(zn, sizeof(zn), "z%d.test.", i);
		hits += tiny_zone_answers(a, zn, 2000);
	}
	ck_assert_int_ge(hits, 16);
	ck_assert_int_le(hits, 100); /* 32 KiB / ~700 bytes a zone */
	ck_assert(tiny_zone_answers(a, "z999.test.", 2000));
	ck_assert(!tiny_zone_answers(a, "z0.test.", 2000));
	/* and the RRset cache works beside it */
	size_t entries;
	vg_cache_usage(c, &entries, NULL, NULL);
	ck_assert_uint_eq(entries, 0);
	vg_cache_free(c);
}
END_TEST

/* ------------------------------------------------------------ threads */

#define TZONES 64
/* operations per thread: a fixed amount of work, not a time window (quick
 * under TSan too); 4 * TOPS ticks of the fake clock are 100 seconds, over
 * three times the TTL_T of the NSEC records */
#define TOPS 5000
#define TTL_T 30

static atomic_uint tick; /* shared fake clock: 200 operations per second */

struct worker {
	struct vg_aggr *a;
	int id;
	long hits, nx, nodata, errors;
};

/*
 * Zone tK. (K < TZONES): tK. -> n00.tK., then n00 -> n02 -> ... -> n30, and
 * n30.tK. -> tK.  Odd names do not exist, even ones have only A.
 */
static void tzone_nsec(struct nsec *n, unsigned k, unsigned j)
{
	char o[32], nx[32];
	if (j == 0) {
		snprintf(o, sizeof(o), "t%u.", k);
		snprintf(nx, sizeof(nx), "n00.t%u.", k);
		mk_nsec(n, o, nx, T(VG_T_NS, VG_T_SOA, VG_T_RRSIG, VG_T_NSEC), TTL_T);
		return;
	}
	snprintf(o, sizeof(o), "n%02u.t%u.", 2 * (j - 1), k);
	if (j < 16)
		snprintf(nx, sizeof(nx), "n%02u.t%u.", 2 * j, k);
	else
		snprintf(nx, sizeof(nx), "t%u.", k);
	mk_nsec(n, o, nx, T(VG_T_A, VG_T_RRSIG, VG_T_NSEC), TTL_T);
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct nsec n;
	struct soa s;
	struct vg_aggr_answer o;
	uint8_t buf[4096], qn[VG_NAME_MAX], zone[VG_NAME_MAX], expect[VG_NAME_MAX];
	char nm[64];
	uint32_t seed = (uint32_t)w->id * 2654435761u + 7;
	for (long op = 0; op < TOPS; op++) {
		seed = seed * 1103515245u + 12345u;
		unsigned k = (seed >> 4) % TZONES, j = (seed >> 12) % 32;
		uint32_t now = 1000 + atomic_fetch_add(&tick, 1) / 200;
		snprintf(nm, sizeof(nm), "t%u.", k);
		if (vg_name_from_str(nm, zone, sizeof(zone)) < 0) {
			w->errors++;
			continue;
		}
		if (seed & 0x40000000) {
			tzone_nsec(&n, k, j % 17);
			mk_soa(&s, nm, 1);
			if (vg_aggr_put(w->a, zone, &s.rs, &s.sig, TTL_T, &n.rs, &n.sig, now) != 0)
				w->errors++;
		} else {
			bool odd = j & 1;
			uint16_t qtype = (seed & 0x20000000) ? VG_T_A : VG_T_AAAA;
			snprintf(nm, sizeof(nm), "n%02u.t%u.", j, k);
			vg_name_from_str(nm, qn, sizeof(qn));
			int ret = vg_aggr_get(w->a, qn, qtype, now, &o, buf, sizeof(buf));
			if (ret == 0) {
				uint32_t later = 1000 + atomic_load(&tick) / 200;
				bool ok = o.ttl >= 1 && o.ttl <= TTL_T + (later - now) &&
					  vg_name_eq(o.soa.owner, zone) && o.soa.count == 1 &&
					  o.soa_sig.count == 1;
				if (odd) {
					/* covered by n(j-1), wildcard by the apex */
					snprintf(nm, sizeof(nm), "n%02u.t%u.", j - 1, k);
					vg_name_from_str(nm, expect, sizeof(expect));
					ok = ok && o.nxdomain && o.n == 2 &&
					     vg_name_eq(o.nsec[0].owner, expect) &&
					     vg_name_eq(o.nsec[1].owner, zone);
					w->nx++;
				} else {
					ok = ok && !o.nxdomain && o.n == 1 && qtype == VG_T_AAAA &&
					     vg_name_eq(o.nsec[0].owner, qn);
					w->nodata++;
				}
				for (unsigned i = 0; ok && i < o.n; i++)
					ok = o.nsec[i].count == 1 && o.nsec_sig[i].count == 1 &&
					     o.nsec_sig[i].rdata_len == 2 + SIGLEN;
				if (!ok && w->errors++ == 0)
					fprintf(stderr, "# %s/%u: nx %d n %u ttl %u\n", nm, qtype,
						o.nxdomain, o.n, o.ttl);
				w->hits++;
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
	/* through the cache: its store has 128 KiB, less than 64 full zones need */
	struct vg_cache *c = vg_cache_new(MIB);
	ck_assert_ptr_nonnull(c);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .a = vg_cache_aggr(c), .id = i };
		ck_assert_int_eq(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	long nx = 0, nodata = 0;
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_msg(w[i].errors == 0, "thread %d: %ld inconsistent results", i,
			      w[i].errors);
		nx += w[i].nx;
		nodata += w[i].nodata;
	}
	ck_assert_int_gt(nx, 0);
	ck_assert_int_gt(nodata, 0);
	vg_cache_free(c);
}
END_TEST

static Suite *aggr_suite(void)
{
	Suite *s = suite_create("aggr");
	TCase *tc = tcase_create("answers");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, nxdomain_two_nsecs);
	tcase_add_test(tc, nxdomain_ttl_is_min);
	tcase_add_test(tc, nxdomain_one_nsec);
	tcase_add_test(tc, nxdomain_needs_wildcard_cover);
	tcase_add_test(tc, nxdomain_not_when_wildcard_exists);
	tcase_add_test(tc, nodata_by_bitmap);
	tcase_add_test(tc, nodata_not_for_empty_non_terminal);
	tcase_add_test(tc, no_answer_below_delegation_or_dname);
	tcase_add_test(tc, closest_zone_decides);
	tcase_add_test(tc, wrap_around_last_nsec);
	tcase_add_test(tc, other_zones_not_answered);
	tcase_add_test(tc, answers_expire);
	tcase_add_test(tc, fresh_copy_replaces_owner);
	tcase_add_test(tc, output_buffer_bounds);
	tcase_add_test(tc, put_rejects_bad_input);
	suite_add_tcase(s, tc);

	tc = tcase_create("bounds");
	tcase_set_timeout(tc, 120); /* slow under sanitizers */
	tcase_add_test(tc, zone_record_cap);
	tcase_add_test(tc, budget_evicts_zones);
	tcase_add_test(tc, cache_store_budget);
	tcase_add_test(tc, threads_smoke);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return vg_test_run(aggr_suite());
}
