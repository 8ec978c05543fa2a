/* SPDX-License-Identifier: MIT
 *
 * NSEC3 denial proofs against RFC 5155: the NSEC3 records of the Appendix A
 * zone (salt aabbccdd, 12 iterations, every record Opt-Out) typed in from
 * the RFC as presentation text and turned into wire form by ldns (so the
 * encoding does not come from the code under test), then the Appendix B
 * responses B.1 to B.6, followed by the bounds (RFC 9276 iterations, the
 * CVE-2023-50868 hash budget, max_records), parameter and zone filtering,
 * delegations, and the plain NSEC "no DS" proof.
 *
 * Appendix A has one record, kohar7mbb8dc2ce8a9qvl8hon4k53uhi, whose owner
 * is the hash of no name of the zone (the appendix has errata); no proof
 * below depends on it.
 */
#include <check.h>

#include "check_main.h"
#include <stdio.h>
#include <string.h>

#include <ldns/ldns.h>

#include "dnssec/dnssec.h"
#include "dnssec/nsec3.h"

/* ------------------------------------------------------------ fixtures */

enum { H_APEX, H_NS1, H_XYW, H_A, H_XW, H_AI, H_YW, H_W, H_KOHAR, H_NS2, H_WILD, H_XX, H_COUNT };

/* RFC 5155 Appendix A, in canonical (hash) order; the comment is the original name */
static const char *const appendix_a[H_COUNT] = {
	[H_APEX] = "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example. NSEC3 1 1 12 aabbccdd " /* example */
		   "2t7b4g4vsa5smi47k61mv5bv1a22bojr NS SOA MX RRSIG DNSKEY NSEC3PARAM",
	[H_NS1] = "2t7b4g4vsa5smi47k61mv5bv1a22bojr.example. NSEC3 1 1 12 aabbccdd "
		  "2vptu5timamqttgl4luu9kg21e0aor3s A RRSIG", /* ns1 */
	[H_XYW] = "2vptu5timamqttgl4luu9kg21e0aor3s.example. NSEC3 1 1 12 aabbccdd "
		  "35mthgpgcu1qg68fab165klnsnk3dpvl MX RRSIG", /* x.y.w */
	[H_A] = "35mthgpgcu1qg68fab165klnsnk3dpvl.example. NSEC3 1 1 12 aabbccdd "
		"b4um86eghhds6nea196smvmlo4ors995 NS DS RRSIG", /* a */
	[H_XW] = "b4um86eghhds6nea196smvmlo4ors995.example. NSEC3 1 1 12 aabbccdd "
		 "gjeqe526plbf1g8mklp59enfd789njgi MX RRSIG", /* x.w */
	[H_AI] = "gjeqe526plbf1g8mklp59enfd789njgi.example. NSEC3 1 1 12 aabbccdd "
		 "ji6neoaepv8b5o6k4ev33abha8ht9fgc A HINFO AAAA RRSIG", /* ai */
	[H_YW] = "ji6neoaepv8b5o6k4ev33abha8ht9fgc.example. NSEC3 1 1 12 aabbccdd "
		 "k8udemvp1j2f7eg6jebps17vp3n8i58h", /* y.w, empty non-terminal */
	[H_W] = "k8udemvp1j2f7eg6jebps17vp3n8i58h.example. NSEC3 1 1 12 aabbccdd "
		"kohar7mbb8dc2ce8a9qvl8hon4k53uhi", /* w, empty non-terminal */
	[H_KOHAR] = "kohar7mbb8dc2ce8a9qvl8hon4k53uhi.example. NSEC3 1 1 12 aabbccdd "
		    "q04jkcevqvmu85r014c7dkba38o0ji5r A RRSIG", /* (no name) */
	[H_NS2] = "q04jkcevqvmu85r014c7dkba38o0ji5r.example. NSEC3 1 1 12 aabbccdd "
		  "r53bq7cc2uvmubfu5ocmm6pers9tk9en A RRSIG", /* ns2 */
	[H_WILD] = "r53bq7cc2uvmubfu5ocmm6pers9tk9en.example. NSEC3 1 1 12 aabbccdd "
		   "t644ebqk9bibcna874givr6joj62mlhv MX RRSIG", /* *.w */
	[H_XX] = "t644ebqk9bibcna874givr6joj62mlhv.example. NSEC3 1 1 12 aabbccdd "
		 "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom A HINFO AAAA RRSIG", /* xx */
};

/* wire storage for one record; struct vg_nsec3 points into it */
struct wire {
	uint8_t owner[VG_NAME_MAX];
	uint8_t rdata[512];
	size_t len;
};

static struct wire rfc_wire[H_COUNT];
static struct vg_nsec3 rfc[H_COUNT];
static uint8_t zone[VG_NAME_MAX];

/* ldns: presentation text -> owner and rdata in uncompressed wire form */
static void to_wire(const char *text, struct wire *w)
{
	ldns_rr *rr = NULL;
	ldns_status st = ldns_rr_new_frm_str(&rr, text, 3600, NULL, NULL);
	ck_assert_msg(st == LDNS_STATUS_OK, "%s: %s", text, ldns_get_errorstr_by_id(st));
	const ldns_rdf *o = ldns_rr_owner(rr);
	ck_assert_uint_le(ldns_rdf_size(o), sizeof(w->owner));
	memcpy(w->owner, ldns_rdf_data(o), ldns_rdf_size(o));
	ldns_buffer *b = ldns_buffer_new(512);
	ck_assert_int_eq(ldns_rr_rdata2buffer_wire(b, rr), LDNS_STATUS_OK);
	w->len = ldns_buffer_position(b);
	ck_assert_uint_le(w->len, sizeof(w->rdata));
	memcpy(w->rdata, ldns_buffer_begin(b), w->len);
	ldns_buffer_free(b);
	ldns_rr_free(rr);
}

static void load(const char *text, struct wire *w, struct vg_nsec3 *n)
{
	to_wire(text, w);
	ck_assert_msg(vg_nsec3_parse(n, w->owner, w->rdata, w->len) == 0, "parse %s", text);
}

static void setup_rfc(void)
{
	for (int i = 0; i < H_COUNT; i++)
		load(appendix_a[i], &rfc_wire[i], &rfc[i]);
	ck_assert_int_gt(vg_name_from_str("example.", zone, sizeof(zone)), 0);
}

/* A name in wire form, from a ring of buffers so several can be live at once. */
static const uint8_t *N(const char *s)
{
	static uint8_t ring[8][VG_NAME_MAX];
	static unsigned next;
	uint8_t *b = ring[next++ % 8];
	ck_assert_msg(vg_name_from_str(s, b, VG_NAME_MAX) > 0, "name %s", s);
	return b;
}

/* Copy the Appendix A records @p idx (terminated by -1) into @p out. */
static unsigned pick(struct vg_nsec3 *out, const int *idx)
{
	unsigned k = 0;
	for (; idx[k] >= 0; k++)
		out[k] = rfc[idx[k]];
	return k;
}
#define PICK(out, ...) pick((out), (const int[]){ __VA_ARGS__, -1 })

static void clear_optout(struct vg_nsec3 *n, unsigned count)
{
	for (unsigned i = 0; i < count; i++)
		n[i].flags &= (uint8_t)~VG_NSEC3_FLAG_OPTOUT;
}

#define COST 13u /* one SHA-1 NSEC3 hash with 12 iterations */

/* ------------------------------------------------------------ base32hex, parse */

START_TEST(base32hex_decode_rfc4648_vectors)
{
	static const struct {
		const char *in, *out;
	} v[] = { /* RFC 4648 section 10, BASE32-HEX, without the padding */
		{ "", "" },         { "CO", "f" },         { "CPNG", "fo" },
		{ "CPNMU", "foo" }, { "CPNMUOG", "foob" }, { "CPNMUOJ1", "fooba" },
		{ "cpnmuoj1e8", "foobar" },
	};
	uint8_t out[16];
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int r = vg_nsec3_base32hex_decode((const uint8_t *)v[i].in, strlen(v[i].in), out,
						  sizeof(out));
		ck_assert_int_eq(r, (int)strlen(v[i].out));
		ck_assert(memcmp(out, v[i].out, (size_t)r) == 0);
	}
	/* outside the alphabet (W-Z are base32, not base32hex), padding, bad lengths */
	static const char *const bad[] = { "CW", "CPNMUOJ=", "C", "CPN", "CPNMUO", "CP", "C!" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(vg_nsec3_base32hex_decode((const uint8_t *)bad[i], strlen(bad[i]),
							out, sizeof(out)) == VG_EMALFORMED,
			      "%s", bad[i]);
	ck_assert_int_eq(vg_nsec3_base32hex_decode((const uint8_t *)"CPNMUOJ1E8", 10, out, 5),
			 VG_ENOSPACE);

	/* an RFC 5155 owner label decodes to the hash vigil computes for its name */
	uint8_t h[20], want[20];
	static const uint8_t salt[] = { 0xaa, 0xbb, 0xcc, 0xdd };
	const char *lab = "0P9MHAVEQVM6T7VBL5LOP2U3T2RP3TOM";
	ck_assert_int_eq(vg_nsec3_base32hex_decode((const uint8_t *)lab, 32, h, sizeof(h)), 20);
	ck_assert_int_eq(vg_dnssec_nsec3_hash(N("example."), salt, 4, 12, want), 0);
	ck_assert(memcmp(h, want, 20) == 0);
}
END_TEST

START_TEST(parse_appendix_a_records)
{
	static const uint8_t salt[] = { 0xaa, 0xbb, 0xcc, 0xdd };
	const struct vg_nsec3 *apex = &rfc[H_APEX];
	uint8_t h[20];
	ck_assert_int_eq(apex->alg, 1);
	ck_assert_int_eq(apex->flags, 1);
	ck_assert_uint_eq(apex->iterations, 12);
	ck_assert_uint_eq(apex->salt_len, 4);
	ck_assert(memcmp(apex->salt, salt, 4) == 0);
	ck_assert_uint_eq(apex->hash_len, 20);
	ck_assert_ptr_eq(apex->owner, rfc_wire[H_APEX].owner);
	ck_assert_int_eq(vg_dnssec_nsec3_hash(N("example."), salt, 4, 12, h), 0);
	ck_assert(memcmp(apex->hash, h, 20) == 0);
	/* next hashed owner = ns1.example */
	ck_assert_uint_eq(apex->next_len, 20);
	ck_assert_int_eq(vg_dnssec_nsec3_hash(N("ns1.example."), salt, 4, 12, h), 0);
	ck_assert(memcmp(apex->next, h, 20) == 0);
	static const uint16_t set[] = { VG_T_NS, VG_T_SOA, VG_T_MX, VG_T_RRSIG, VG_T_DNSKEY, 51 };
	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
		ck_assert(vg_nsec_bitmap_has(apex->bitmap, apex->bitmap_len, set[i], NULL));
	ck_assert(!vg_nsec_bitmap_has(apex->bitmap, apex->bitmap_len, VG_T_A, NULL));
	ck_assert(!vg_nsec_bitmap_has(apex->bitmap, apex->bitmap_len, VG_T_DS, NULL));
	/* the empty non-terminal y.w has an empty bitmap */
	ck_assert_uint_eq(rfc[H_YW].bitmap_len, 0);
	/* owner label case does not matter */
	struct wire w;
	struct vg_nsec3 n;
	load("0P9MHAVEQVM6T7VBL5LOP2U3T2RP3TOM.EXAMPLE. NSEC3 1 0 0 - "
	     "2T7B4G4VSA5SMI47K61MV5BV1A22BOJR A", &w, &n);
	ck_assert(memcmp(n.hash, apex->hash, 20) == 0);
	ck_assert_uint_eq(n.salt_len, 0);
	ck_assert_int_eq(n.flags, 0);
	/* an unknown algorithm parses, whatever its owner hash length */
	load("0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example. NSEC3 2 0 1 ab "
	     "2t7b4g4vsa5smi47k61mv5bv1a22bojr A", &w, &n);
	ck_assert_int_eq(n.alg, 2);
	ck_assert_uint_eq(n.iterations, 1);
	ck_assert_uint_eq(n.hash_len, 20);
	static const uint8_t short_owner[] = "\x0a" "cpnmuoj1e8" "\x07" "example";
	ck_assert_int_eq(vg_nsec3_parse(&n, short_owner, w.rdata, w.len), 0);
	ck_assert_uint_eq(n.hash_len, 6);
	ck_assert(memcmp(n.hash, "foobar", 6) == 0);
	w.rdata[0] = 1; /* as SHA-1, a 6-byte owner hash is malformed */
	ck_assert_int_eq(vg_nsec3_parse(&n, short_owner, w.rdata, w.len), VG_EMALFORMED);
}
END_TEST

START_TEST(parse_rejects_bad_rdata)
{
	const struct wire *g = &rfc_wire[H_NS1]; /* bitmap: one window, A RRSIG */
	struct vg_nsec3 n;
	size_t fixed = 5 + 4 + 1 + 20;
	ck_assert_uint_gt(g->len, fixed + 2);
	/* every truncation fails, except the one that drops exactly the whole bitmap */
	for (size_t len = 0; len < g->len; len++) {
		int r = vg_nsec3_parse(&n, g->owner, g->rdata, len);
		if (len == fixed) {
			ck_assert_int_eq(r, 0);
			ck_assert_uint_eq(n.bitmap_len, 0);
		} else {
			ck_assert_msg(r == VG_EMALFORMED, "len %zu", len);
			ck_assert_ptr_null(n.owner);
		}
	}
	ck_assert_int_eq(vg_nsec3_parse(&n, g->owner, g->rdata, g->len), 0);

	uint8_t rd[512];
	memcpy(rd, g->rdata, g->len);
	rd[9] = 19; /* SHA-1 next hash of 19 bytes */
	ck_assert_int_eq(vg_nsec3_parse(&n, g->owner, rd, g->len), VG_EMALFORMED);
	rd[9] = 0; /* no next hash at all */
	ck_assert_int_eq(vg_nsec3_parse(&n, g->owner, rd, g->len), VG_EMALFORMED);
	memcpy(rd, g->rdata, g->len);
	rd[4] = 200; /* salt longer than the rdata */
	ck_assert_int_eq(vg_nsec3_parse(&n, g->owner, rd, g->len), VG_EMALFORMED);

	/* bitmaps: window length 0, > 32, windows out of order */
	static const uint8_t bm_zero[] = { 0, 0 }, bm_long[] = { 0, 33 },
			     bm_order[] = { 1, 1, 0x40, 0, 1, 0x40 };
	const struct {
		const uint8_t *b;
		size_t l;
	} bms[] = { { bm_zero, 2 }, { bm_long, 2 }, { bm_order, 6 } };
	for (size_t i = 0; i < 3; i++) {
		memcpy(rd, g->rdata, fixed);
		memcpy(rd + fixed, bms[i].b, bms[i].l);
		ck_assert_int_eq(vg_nsec3_parse(&n, g->owner, rd, fixed + bms[i].l),
				 VG_EMALFORMED);
	}

	/* owner labels: 'w' is not base32hex; 31 characters (19 bytes) is not a SHA-1 hash */
	uint8_t owner[VG_NAME_MAX];
	memcpy(owner, g->owner, sizeof(owner));
	owner[32] = 'w';
	ck_assert_int_eq(vg_nsec3_parse(&n, owner, g->rdata, g->len), VG_EMALFORMED);
	ck_assert_int_gt(vg_name_from_str("2t7b4g4vsa5smi47k61mv5bv1a22bog.example.", owner,
					  sizeof(owner)), 0);
	ck_assert_int_eq(vg_nsec3_parse(&n, owner, g->rdata, g->len), VG_EMALFORMED);
	ck_assert_int_eq(vg_nsec3_parse(&n, (const uint8_t *)"", g->rdata, g->len), VG_EMALFORMED);
}
END_TEST

START_TEST(appendix_a_chain_is_consistent)
{
	/* the typed-in records: every owner but one is the hash of a name of the
	 * zone, and the next hashes form one closed chain in hash order */
	static const char *const names[] = {
		"example.", "ns1.example.", "x.y.w.example.", "a.example.", "x.w.example.",
		"ai.example.", "y.w.example.", "w.example.", NULL, "ns2.example.",
		"*.w.example.", "xx.example.",
	};
	static const uint8_t salt[] = { 0xaa, 0xbb, 0xcc, 0xdd };
	for (int i = 0; i < H_COUNT; i++) {
		const struct vg_nsec3 *r = &rfc[i], *nx = &rfc[(i + 1) % H_COUNT];
		ck_assert_msg(memcmp(r->next, nx->hash, 20) == 0, "chain broken at %d", i);
		if (i + 1 < H_COUNT)
			ck_assert_int_lt(memcmp(r->hash, nx->hash, 20), 0);
		if (!names[i])
			continue;
		uint8_t h[20];
		ck_assert_int_eq(vg_dnssec_nsec3_hash(N(names[i]), salt, 4, 12, h), 0);
		ck_assert_msg(memcmp(h, r->hash, 20) == 0, "%s", names[i]);
		ck_assert(vg_name_eq(r->owner + 1 + r->owner[0], zone));
	}
}
END_TEST

/* ------------------------------------------------------------ RFC 5155 appendix B */

START_TEST(b1_name_error)
{
	struct vg_nsec3 n[4];
	struct vg_nsec3_limits lim = VG_NSEC3_LIMITS_DEFAULT;
	int ede = -1;
	/* x.w matches the closest encloser, 0p9m covers c.x.w, 35mt covers *.x.w */
	unsigned k = PICK(n, H_APEX, H_XW, H_A);
	const uint8_t *q = N("a.c.x.w.example.");

	/* as published every record is Opt-Out: the name may be an unsigned
	 * delegation, so the denial is insecure (RFC 5155 9.2) */
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, q, &lim, &ede), VG_ENOTSUP);
	ck_assert_int_eq(ede, 0);
	/* a.c.x.w, c.x.w, x.w, *.x.w: four names, each hashed once */
	ck_assert_uint_eq(lim.hashes_left, 600 - 4 * COST);

	clear_optout(n, k);
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, q, &lim, &ede), 0);
	ck_assert_int_eq(ede, 0);
	ck_assert_uint_eq(lim.hashes_left, 600 - 8 * COST);
	/* order does not matter */
	struct vg_nsec3 r[3] = { n[2], n[0], n[1] };
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(r, 3, zone, q, &lim, &ede), 0);
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, N("A.C.X.W.EXAMPLE."), &lim, &ede), 0);

	/* one piece missing: the proof fails with NSEC Missing */
	for (unsigned drop = 0; drop < k; drop++) {
		struct vg_nsec3 part[3];
		unsigned m = 0;
		for (unsigned i = 0; i < k; i++)
			if (i != drop)
				part[m++] = n[i];
		ede = -1;
		ck_assert_int_eq(vg_nsec3_prove_nxdomain(part, m, zone, q, &lim, &ede), VG_EBOGUS);
		ck_assert_int_eq(ede, VG_EDE_NSEC_MISSING);
	}
	/* x.w.example exists: no name error for it */
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, N("x.w.example."), &lim, &ede),
			 VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_BOGUS);
	/* no records at all */
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, 0, zone, q, &lim, &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_NSEC_MISSING);
}
END_TEST

START_TEST(name_error_refused_when_the_wildcard_exists)
{
	/* b.w.example does not exist, but *.w.example does: a name error for it
	 * is a lie even with a valid closest encloser proof */
	struct vg_nsec3_limits lim = VG_NSEC3_LIMITS_DEFAULT;
	int ede = -1;
	struct vg_nsec3 all[H_COUNT];
	memcpy(all, rfc, sizeof(all));
	clear_optout(all, H_COUNT);
	lim.max_records = H_COUNT;
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(all, H_COUNT, zone, N("b.w.example."), &lim,
						 &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_BOGUS);
}
END_TEST

START_TEST(b2_no_data)
{
	struct vg_nsec3 n[2];
	struct vg_nsec3_limits lim = VG_NSEC3_LIMITS_DEFAULT;
	int ede = -1;
	unsigned k = PICK(n, H_NS1);
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, k, zone, N("ns1.example."), VG_T_MX, &lim, &ede),
			 0);
	ck_assert_int_eq(ede, 0);
	ck_assert_uint_eq(lim.hashes_left, 600 - COST);
	/* A is there, and a NODATA answer for it is bogus */
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, k, zone, N("ns1.example."), VG_T_A, &lim, &ede),
			 VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_BOGUS);
	/* the record says nothing about ns2.example */
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, k, zone, N("ns2.example."), VG_T_MX, &lim, &ede),
			 VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_NSEC_MISSING);
}
END_TEST

START_TEST(b2_1_no_data_empty_non_terminal)
{
	struct vg_nsec3 n[2];
	struct vg_nsec3_limits lim = VG_NSEC3_LIMITS_DEFAULT;
	int ede = -1;
	unsigned k = PICK(n, H_YW);
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, k, zone, N("y.w.example."), VG_T_A, &lim, &ede),
			 0);
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, k, zone, N("y.w.example."), VG_T_CNAME, &lim,
					       &ede), 0);
	ck_assert_uint_eq(lim.hashes_left, 600 - 2 * COST); /* one hash per call */
}
END_TEST

START_TEST(b3_referral_to_opt_out_unsigned_zone)
{
	/* mc.c.example: the referral to c.example carries 35mt (covers c.example,
	 * Opt-Out) and 0p9m (matches the closest provable encloser, example) */
	struct vg_nsec3 n[2];
	struct vg_nsec3_limits lim = VG_NSEC3_LIMITS_DEFAULT;
	int ede = -1;
	unsigned k = PICK(n, H_A, H_APEX);
	ck_assert_int_eq(vg_nsec3_prove_nods(n, k, zone, N("c.example."), &lim, &ede), VG_ENOTSUP);
	ck_assert_int_eq(ede, 0);
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, k, zone, N("c.example."), VG_T_DS, &lim, &ede),
			 VG_ENOTSUP);
	/* also for the name the client asked about, below the unsigned cut */
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, k, zone, N("mc.c.example."), VG_T_MX, &lim,
					       &ede), VG_ENOTSUP);
	/* without Opt-Out the same records prove c.example does not exist:
	 * a referral to it is bogus */
	clear_optout(n, k);
	ck_assert_int_eq(vg_nsec3_prove_nods(n, k, zone, N("c.example."), &lim, &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_BOGUS);
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, k, zone, N("c.example."), VG_T_DS, &lim, &ede),
			 VG_EBOGUS);
	/* a.example is a signed delegation: 35mt matches it with DS set */
	ck_assert_int_eq(vg_nsec3_prove_nods(n, k, zone, N("a.example."), &lim, &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_BOGUS);
	/* the closest encloser proof needs the apex record */
	ck_assert_int_eq(vg_nsec3_prove_nods(n, 1, zone, N("c.example."), &lim, &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_NSEC_MISSING);
}
END_TEST

START_TEST(b4_wildcard_expansion)
{
	/* a.z.w.example MX from *.w.example: q04j covers the next closer z.w */
	struct vg_nsec3 n[2];
	struct vg_nsec3_limits lim = VG_NSEC3_LIMITS_DEFAULT;
	int ede = -1;
	unsigned k = PICK(n, H_NS2);
	const uint8_t *q = N("a.z.w.example."), *ce = N("w.example.");
	/* q04j has Opt-Out: an unsigned delegation may exist at z.w, so the
	 * expansion is not proven -- insecure (RFC 5155 6, B.4; see nsec3.h) */
	ck_assert_int_eq(vg_nsec3_prove_wildcard(n, k, zone, q, ce, &lim, &ede), VG_ENOTSUP);
	ck_assert_uint_eq(lim.hashes_left, 600 - COST); /* only z.w.example is hashed */
	clear_optout(n, k);
	ck_assert_int_eq(vg_nsec3_prove_wildcard(n, k, zone, q, ce, &lim, &ede), 0);
	ck_assert_int_eq(ede, 0);

	/* the cover is missing */
	k = PICK(n, H_XW);
	ck_assert_int_eq(vg_nsec3_prove_wildcard(n, k, zone, q, ce, &lim, &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_NSEC_MISSING);
	/* the next closer name x.w exists: *.w cannot have answered a.x.w */
	ck_assert_int_eq(vg_nsec3_prove_wildcard(n, k, zone, N("a.x.w.example."), ce, &lim, &ede),
			 VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_BOGUS);
	/* a closest encloser that is not an ancestor of the name, or is the name */
	ck_assert_int_eq(vg_nsec3_prove_wildcard(n, k, zone, q, N("x.w.example."), &lim, &ede),
			 VG_EBOGUS);
	ck_assert_int_eq(vg_nsec3_prove_wildcard(n, k, zone, q, q, &lim, &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_BOGUS);
	/* the wildcard's own RRset needs no proof, and no hashing */
	unsigned before = lim.hashes_left;
	ck_assert_int_eq(vg_nsec3_prove_wildcard(n, 0, zone, N("*.w.example."), ce, &lim, &ede), 0);
	ck_assert_uint_eq(lim.hashes_left, before);
}
END_TEST

START_TEST(b5_wildcard_no_data)
{
	/* a.z.w.example AAAA: k8ud matches the closest encloser w, q04j covers
	 * z.w, r53b matches *.w, which has MX but no AAAA */
	struct vg_nsec3 n[4];
	struct vg_nsec3_limits lim = VG_NSEC3_LIMITS_DEFAULT;
	int ede = -1;
	unsigned k = PICK(n, H_W, H_NS2, H_WILD);
	const uint8_t *q = N("a.z.w.example.");
	/* the next closer cover is Opt-Out: insecure (RFC 5155 9.2) */
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, k, zone, q, VG_T_AAAA, &lim, &ede), VG_ENOTSUP);
	ck_assert_int_eq(ede, 0);
	ck_assert_uint_eq(lim.hashes_left, 600 - 4 * COST); /* a.z.w, z.w, w, *.w */
	clear_optout(n, k);
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, k, zone, q, VG_T_AAAA, &lim, &ede), 0);
	/* MX exists at the wildcard */
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, k, zone, q, VG_T_MX, &lim, &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_BOGUS);
	/* without the wildcard record nothing shows the wildcard has no AAAA */
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, 2, zone, q, VG_T_AAAA, &lim, &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_NSEC_MISSING);
	/* without the next closer cover there is no closest encloser proof */
	struct vg_nsec3 part[2] = { n[0], n[2] };
	ck_assert_int_eq(vg_nsec3_prove_nodata(part, 2, zone, q, VG_T_AAAA, &lim, &ede),
			 VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_NSEC_MISSING);
}
END_TEST

START_TEST(b6_ds_child_zone_no_data)
{
	/* example DS answered by the child: the apex record 0p9m has no DS, but
	 * it has SOA, so it comes from the wrong side of the cut: a validator
	 * must get the DS denial from the parent */
	struct vg_nsec3 n[2];
	struct vg_nsec3_limits lim = VG_NSEC3_LIMITS_DEFAULT;
	int ede = -1;
	unsigned k = PICK(n, H_APEX);
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, k, zone, zone, VG_T_DS, &lim, &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_BOGUS);
	ck_assert_int_eq(vg_nsec3_prove_nods(n, k, zone, zone, &lim, &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_BOGUS);
	/* the same record is a fine NODATA proof for a type the apex lacks */
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, k, zone, zone, VG_T_AAAA, &lim, &ede), 0);
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, k, zone, zone, VG_T_MX, &lim, &ede), VG_EBOGUS);
}
END_TEST

/* ------------------------------------------------------------ bounds */

START_TEST(iterations_above_limit_are_insecure_without_hashing)
{
	struct vg_nsec3 n[4];
	struct vg_nsec3_limits lim = VG_NSEC3_LIMITS_DEFAULT;
	int ede = -1;
	unsigned k = PICK(n, H_APEX, H_XW, H_A);
	clear_optout(n, k);
	lim.max_iterations = 11;
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, N("a.c.x.w.example."), &lim, &ede),
			 VG_ENOTSUP);
	ck_assert_int_eq(ede, VG_EDE_NSEC3_ITERATIONS);
	ede = -1;
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, k, zone, N("x.w.example."), VG_T_A, &lim, &ede),
			 VG_ENOTSUP);
	ck_assert_int_eq(ede, VG_EDE_NSEC3_ITERATIONS);
	ck_assert_int_eq(vg_nsec3_prove_nods(n, k, zone, N("c.example."), &lim, &ede), VG_ENOTSUP);
	ck_assert_int_eq(vg_nsec3_prove_wildcard(n, k, zone, N("a.z.w.example."), N("w.example."),
						 &lim, &ede), VG_ENOTSUP);
	ck_assert_int_eq(ede, VG_EDE_NSEC3_ITERATIONS);
	ck_assert_uint_eq(lim.hashes_left, 600); /* nothing hashed */
	/* at the limit is fine */
	lim.max_iterations = 12;
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, N("a.c.x.w.example."), &lim, &ede), 0);
	/* the RFC 9276 default (50) admits the appendix zone; 51 does not pass */
	struct vg_nsec3_limits def = VG_NSEC3_LIMITS_DEFAULT;
	ck_assert_uint_eq(def.max_iterations, 50);
	for (unsigned i = 0; i < k; i++)
		n[i].iterations = 51;
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, N("a.c.x.w.example."), &def, &ede),
			 VG_ENOTSUP);
	ck_assert_int_eq(ede, VG_EDE_NSEC3_ITERATIONS);
	ck_assert_uint_eq(def.hashes_left, 600);
}
END_TEST

START_TEST(hash_budget_is_spent_and_exhausted)
{
	struct vg_nsec3 n[4];
	struct vg_nsec3_limits lim = VG_NSEC3_LIMITS_DEFAULT;
	int ede = -1;
	unsigned k = PICK(n, H_APEX, H_XW, H_A);
	clear_optout(n, k);
	lim.hashes_left = 2 * COST + 4; /* two hashes, not three */
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, N("a.c.x.w.example."), &lim, &ede),
			 VG_ELIMIT);
	ck_assert_int_eq(ede, VG_EDE_BOGUS);
	ck_assert_uint_eq(lim.hashes_left, 4);
	/* the budget is per client query: later proofs fail too, at once */
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, k, zone, N("x.w.example."), VG_T_A, &lim, &ede),
			 VG_ELIMIT);
	ck_assert_uint_eq(lim.hashes_left, 4);
	/* exactly enough: 4 hashes */
	lim.hashes_left = 4 * COST;
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, N("a.c.x.w.example."), &lim, &ede), 0);
	ck_assert_uint_eq(lim.hashes_left, 0);
}
END_TEST

START_TEST(deep_name_cannot_stall_the_closest_encloser_walk)
{
	/* CVE-2023-50868: 100 labels below the apex, each a candidate closest
	 * encloser.  The default budget stops the walk after 46 hashes. */
	char text[VG_NAME_MAX + 16] = "";
	for (int i = 0; i < 100; i++)
		strcat(text, "a.");
	strcat(text, "example.");
	struct vg_nsec3 n[4];
	struct vg_nsec3_limits lim = VG_NSEC3_LIMITS_DEFAULT;
	int ede = -1;
	unsigned k = PICK(n, H_APEX, H_XW, H_A);
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, N(text), &lim, &ede), VG_ELIMIT);
	ck_assert_int_eq(ede, VG_EDE_BOGUS);
	ck_assert_uint_eq(lim.hashes_left, 600 - (600 / COST) * COST);
	/* with a budget that allows it, the walk completes: the closest
	 * encloser is a.example (35mt), a delegation with DS, so bogus */
	struct vg_nsec3_limits big = { .max_records = 8, .hashes_left = 100000,
				       .max_iterations = 50 };
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, N(text), &big, &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_BOGUS);
	ck_assert_uint_eq(big.hashes_left, 100000 - 100 * COST); /* the name down to a.example */
}
END_TEST

START_TEST(max_records_bounds_the_records_looked_at)
{
	struct vg_nsec3 n[80];
	struct vg_nsec3_limits lim = VG_NSEC3_LIMITS_DEFAULT;
	int ede = -1;
	const uint8_t *q = N("a.c.x.w.example.");
	unsigned k = PICK(n, H_APEX, H_XW, H_A);
	clear_optout(n, k);
	lim.max_records = 2; /* the wildcard cover (third) is not looked at */
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, q, &lim, &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_NSEC_MISSING);
	lim.max_records = 3;
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, q, &lim, &ede), 0);

	/* padding in front uses up the allowance, even when raised past the cap */
	struct wire w;
	struct vg_nsec3 pad;
	load("0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.other. NSEC3 1 0 12 aabbccdd "
	     "2t7b4g4vsa5smi47k61mv5bv1a22bojr A", &w, &pad);
	for (unsigned i = 0; i < 77; i++)
		n[i] = pad;
	PICK(n + 77, H_APEX, H_XW, H_A);
	clear_optout(n + 77, 3);
	lim.max_records = 1000;
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, 80, zone, q, &lim, &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_NSEC_MISSING);
	/* within the cap, padding is ignored */
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n + 20, 60, zone, q, &lim, &ede), 0);
}
END_TEST

/* ------------------------------------------------------------ filtering */

START_TEST(records_with_other_parameters_are_ignored)
{
	struct vg_nsec3 n[4];
	struct vg_nsec3_limits lim = VG_NSEC3_LIMITS_DEFAULT;
	int ede = -1;
	const uint8_t *q = N("a.c.x.w.example.");
	static const uint8_t other_salt[] = { 0xaa, 0xbb, 0xcc, 0xde };
	unsigned k = PICK(n, H_APEX, H_XW, H_A);
	clear_optout(n, k);
	/* the wildcard cover with another salt belongs to another chain */
	n[2].salt = other_salt;
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, q, &lim, &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_NSEC_MISSING);
	n[2] = rfc[H_A];
	n[2].flags = 0;
	n[2].iterations = 13;
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, q, &lim, &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_NSEC_MISSING);
	n[2].salt_len = 3;
	n[2].iterations = 12;
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, q, &lim, &ede), VG_EBOGUS);
	/* the first usable record sets the parameters: when it is the odd one,
	 * the others are ignored, and nothing matches */
	n[2] = rfc[H_A];
	n[2].flags = 0;
	struct vg_nsec3 r[3] = { n[2], n[0], n[1] };
	r[0].salt = other_salt;
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(r, 3, zone, q, &lim, &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_NSEC_MISSING);
	/* restored, it works */
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, q, &lim, &ede), 0);
}
END_TEST

START_TEST(records_of_other_zones_are_ignored)
{
	struct vg_nsec3 n[4];
	struct vg_nsec3_limits lim = VG_NSEC3_LIMITS_DEFAULT;
	int ede = -1;
	unsigned k = PICK(n, H_APEX, H_XW, H_A);
	clear_optout(n, k);
	/* the same records claimed for zone w.example: owners are not <hash>.w.example */
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, N("w.example."), N("a.c.x.w.example."),
						 &lim, &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_NSEC_MISSING);
	ck_assert_uint_eq(lim.hashes_left, 600);
	/* a record of a deeper zone (<hash>.sub.example) among the example ones */
	struct wire w;
	load("35mthgpgcu1qg68fab165klnsnk3dpvl.sub.example. NSEC3 1 0 12 aabbccdd "
	     "b4um86eghhds6nea196smvmlo4ors995 NS RRSIG", &w, &n[2]);
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, N("a.c.x.w.example."), &lim, &ede),
			 VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_NSEC_MISSING);
	/* a name outside the zone is never denied by it */
	n[2] = rfc[H_A];
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, N("a.c.x.w.other."), &lim, &ede),
			 VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_BOGUS);
}
END_TEST

START_TEST(unknown_algorithms_and_flags_are_insecure)
{
	struct vg_nsec3 n[4];
	struct vg_nsec3_limits lim = VG_NSEC3_LIMITS_DEFAULT;
	int ede = -1;
	const uint8_t *q = N("a.c.x.w.example.");
	unsigned k = PICK(n, H_APEX, H_XW, H_A);
	clear_optout(n, k);
	for (unsigned i = 0; i < k; i++)
		n[i].alg = 2;
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, q, &lim, &ede), VG_ENOTSUP);
	ck_assert_int_eq(ede, 0);
	for (unsigned i = 0; i < k; i++) {
		n[i].alg = 1;
		n[i].flags = 0x80;
	}
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, k, zone, N("x.w.example."), VG_T_A, &lim, &ede),
			 VG_ENOTSUP);
	ck_assert_int_eq(ede, 0);
	ck_assert_uint_eq(lim.hashes_left, 600);
	/* one odd record among good ones is just ignored */
	k = PICK(n, H_APEX, H_XW, H_A);
	clear_optout(n, k);
	n[2].alg = 2;
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, q, &lim, &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_NSEC_MISSING);
	n[2].alg = 1;
	n[2].flags = 3;
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, k, zone, q, &lim, &ede), VG_EBOGUS);
}
END_TEST

/* ------------------------------------------------------------ delegations */

START_TEST(delegations_and_dname_at_the_closest_encloser)
{
	/* H(c.example) = 4g6p9u5g...; a parent-side record for an unsigned
	 * delegation c.example (NS, no DS, no SOA), without Opt-Out */
	struct wire w[3];
	struct vg_nsec3 n[4];
	struct vg_nsec3_limits lim = VG_NSEC3_LIMITS_DEFAULT;
	int ede = -1;
	load("4g6p9u5gvfshp30pqecj98b3maqbn1ck.example. NSEC3 1 0 12 aabbccdd "
	     "4g6p9u5gvfshp30pqecj98b3maqbn1cl NS", &w[0], &n[0]);
	n[1] = rfc[H_APEX];
	n[1].flags = 0;
	ck_assert_int_eq(vg_nsec3_prove_nods(n, 2, zone, N("c.example."), &lim, &ede), 0);
	ck_assert_int_eq(ede, 0);
	ck_assert_int_eq(vg_nsec3_prove_nods(n, 2, zone, N("C.EXAMPLE."), &lim, &ede), 0);
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, 2, zone, N("c.example."), VG_T_DS, &lim, &ede),
			 0);
	/* other types at c.example live in the unsigned child: insecure */
	ck_assert_int_eq(vg_nsec3_prove_nodata(n, 2, zone, N("c.example."), VG_T_A, &lim, &ede),
			 VG_ENOTSUP);
	/* and so does anything below the cut */
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, 2, zone, N("x.c.example."), &lim, &ede),
			 VG_ENOTSUP);
	ck_assert_int_eq(ede, 0);
	/* the same record with DS set: a signed delegation, no denial below it */
	load("4g6p9u5gvfshp30pqecj98b3maqbn1ck.example. NSEC3 1 0 12 aabbccdd "
	     "4g6p9u5gvfshp30pqecj98b3maqbn1cl NS DS", &w[1], &n[0]);
	ck_assert_int_eq(vg_nsec3_prove_nods(n, 2, zone, N("c.example."), &lim, &ede), VG_EBOGUS);
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, 2, zone, N("x.c.example."), &lim, &ede),
			 VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_BOGUS);
	/* a DNAME at the closest encloser: the answer should have been the DNAME */
	load("4g6p9u5gvfshp30pqecj98b3maqbn1ck.example. NSEC3 1 0 12 aabbccdd "
	     "4g6p9u5gvfshp30pqecj98b3maqbn1cl DNAME RRSIG", &w[2], &n[0]);
	ck_assert_int_eq(vg_nsec3_prove_nxdomain(n, 2, zone, N("x.c.example."), &lim, &ede),
			 VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_BOGUS);
	/* ns1.example exists and is no delegation: no zone cut there */
	n[0] = rfc[H_NS1];
	ck_assert_int_eq(vg_nsec3_prove_nods(n, 1, zone, N("ns1.example."), &lim, &ede),
			 VG_ENOTFOUND);
	ck_assert_int_eq(ede, 0);
}
END_TEST

/* ldns: an NSEC record from text into a struct vg_nsec backed by @p w */
static void load_nsec(const char *text, struct wire *w, struct vg_nsec *n)
{
	to_wire(text, w);
	int nl = vg_name_check(w->rdata, w->len);
	ck_assert_int_gt(nl, 0);
	*n = (struct vg_nsec){ w->owner, w->rdata, w->rdata + nl, w->len - (size_t)nl };
}

START_TEST(nsec_nods)
{
	static struct wire w[5];
	struct vg_nsec n[5];
	load_nsec("c.example. NSEC d.example. NS RRSIG NSEC", &w[0], &n[0]);
	load_nsec("a.example. NSEC ai.example. NS DS RRSIG NSEC", &w[1], &n[1]);
	load_nsec("ns1.example. NSEC ns2.example. A RRSIG NSEC", &w[2], &n[2]);
	load_nsec("example. NSEC a.example. NS SOA MX RRSIG NSEC DNSKEY", &w[3], &n[3]);
	ck_assert_int_eq(vg_nsec_prove_nods(n, 4, N("c.example.")), 0);
	ck_assert_int_eq(vg_nsec_prove_nods(n, 4, N("C.Example.")), 0);
	ck_assert_int_eq(vg_nsec_prove_nods(n, 4, N("a.example.")), VG_EBOGUS);  /* DS exists */
	ck_assert_int_eq(vg_nsec_prove_nods(n, 4, N("ns1.example.")), VG_ENOTFOUND);
	ck_assert_int_eq(vg_nsec_prove_nods(n, 4, N("example.")), VG_EBOGUS);    /* child apex */
	ck_assert_int_eq(vg_nsec_prove_nods(n, 4, N("b.example.")), VG_EBOGUS);  /* no NSEC */
	ck_assert_int_eq(vg_nsec_prove_nods(n, 0, N("c.example.")), VG_EBOGUS);
	/* a malformed bitmap proves nothing */
	static const uint8_t bad[] = { 0, 1, 0x20, 0, 1, 0x20 }; /* NS, then window 0 again */
	struct vg_nsec m = n[0];
	m.bitmap = bad;
	m.bitmap_len = sizeof(bad);
	ck_assert_int_eq(vg_nsec_prove_nods(&m, 1, N("c.example.")), VG_EBOGUS);
	m.bitmap_len = 3; /* just NS, well formed */
	ck_assert_int_eq(vg_nsec_prove_nods(&m, 1, N("c.example.")), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("nsec3");
	TCase *tc = tcase_create("nsec3");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup_rfc, NULL);
	tcase_add_test(tc, base32hex_decode_rfc4648_vectors);
	tcase_add_test(tc, parse_appendix_a_records);
	tcase_add_test(tc, parse_rejects_bad_rdata);
	tcase_add_test(tc, appendix_a_chain_is_consistent);
	tcase_add_test(tc, b1_name_error);
	tcase_add_test(tc, name_error_refused_when_the_wildcard_exists);
	tcase_add_test(tc, b2_no_data);
	tcase_add_test(tc, b2_1_no_data_empty_non_terminal);
	tcase_add_test(tc, b3_referral_to_opt_out_unsigned_zone);
	tcase_add_test(tc, b4_wildcard_expansion);
	tcase_add_test(tc, b5_wildcard_no_data);
	tcase_add_test(tc, b6_ds_child_zone_no_data);
	tcase_add_test(tc, iterations_above_limit_are_insecure_without_hashing);
	tcase_add_test(tc, hash_budget_is_spent_and_exhausted);
	tcase_add_test(tc, deep_name_cannot_stall_the_closest_encloser_walk);
	tcase_add_test(tc, max_records_bounds_the_records_looked_at);
	tcase_add_test(tc, records_with_other_parameters_are_ignored);
	tcase_add_test(tc, records_of_other_zones_are_ignored);
	tcase_add_test(tc, unknown_algorithms_and_flags_are_insecure);
	tcase_add_test(tc, delegations_and_dname_at_the_closest_encloser);
	tcase_add_test(tc, nsec_nods);
	suite_add_tcase(s, tc);
	return vg_test_run(s);
}
