/* SPDX-License-Identifier: MIT
 *
 * Unit tests for src/wire: name decompression and its guards (loops, forward
 * pointers, length, obsolete label types), name comparison and presentation
 * conversion, the client-query and full-message parsers, rdata
 * decompression, and the writer (exact bytes, compression, ENOSPACE rollback,
 * error replies, outbound queries).
 *
 * Packets are built byte by byte with a small builder so that every expected
 * offset is known; names are C literals whose terminating NUL is the root label.
 */
#include <check.h>

#include "check_main.h"
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "vigil/err.h"
#include "vigil/wire.h"

#define N(s) ((const uint8_t *)(s))
#define EXAMPLE N("\7example\3com")
#define WWW N("\3www\7example\3com") /* www at 12, example.com at 16 when first */

/* ------------------------------------------------------------ packet builder */

struct bb {
	uint8_t b[4096];
	size_t n;
	size_t rdata; /* offset of the last rdata written by bb_rr */
};

static size_t bb_raw(struct bb *b, const void *p, size_t n)
{
	size_t at = b->n;
	ck_assert_uint_le(b->n + n, sizeof(b->b));
	if (n)
		memcpy(b->b + b->n, p, n);
	b->n += n;
	return at;
}

/* Big-endian integer of @p w bytes. */
static void bb_int(struct bb *b, uint32_t v, int w)
{
	ck_assert_uint_le(b->n + (size_t)w, sizeof(b->b));
	for (int i = w - 1; i >= 0; i--)
		b->b[b->n++] = (uint8_t)(v >> (8 * i));
}

static size_t bb_name(struct bb *b, const uint8_t *name)
{
	return bb_raw(b, name, vg_name_len(name));
}

static void bb_ptr(struct bb *b, size_t off)
{
	bb_int(b, (uint32_t)(0xc000 | off), 2);
}

static void bb_hdr(struct bb *b, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
		   uint16_t ns, uint16_t ar)
{
	const uint16_t f[6] = { id, flags, qd, an, ns, ar };
	b->n = 0;
	for (int i = 0; i < 6; i++)
		bb_int(b, f[i], 2);
}

static void bb_q(struct bb *b, const uint8_t *name, uint16_t type)
{
	bb_name(b, name);
	bb_int(b, type, 2);
	bb_int(b, VG_C_IN, 2);
}

/* Fixed RR part after an owner already written, then rdata @p rd. */
static void bb_rr(struct bb *b, uint16_t type, uint32_t ttl, const void *rd, uint16_t rdlen)
{
	bb_int(b, type, 2);
	bb_int(b, VG_C_IN, 2);
	bb_int(b, ttl, 4);
	bb_int(b, rdlen, 2);
	b->rdata = b->n;
	bb_raw(b, rd, rdlen);
}

static void bb_opt(struct bb *b, uint16_t udp, uint8_t version, bool do_bit)
{
	bb_int(b, 0, 1);
	bb_int(b, VG_T_OPT, 2);
	bb_int(b, udp, 2);
	bb_int(b, version, 2); /* extended rcode 0, version */
	bb_int(b, do_bit ? 0x8000 : 0, 2);
	bb_int(b, 0, 2);
}

/* A query for @p qname/A with @p flags and an optional OPT (udp 1232). */
static void bb_query(struct bb *b, uint16_t flags, const uint8_t *qname, bool edns, bool do_bit)
{
	bb_hdr(b, 0x1234, flags, 1, 0, 0, edns ? 1 : 0);
	bb_q(b, qname, VG_T_A);
	if (edns)
		bb_opt(b, 1232, 0, do_bit);
}

/* vg_query_parse must return 0; hand back the rcode it chose. */
static int qparse(struct vg_query *q, const struct bb *b, size_t len)
{
	int rc = -1;
	ck_assert_int_eq(vg_query_parse(q, b->b, len, &rc), 0);
	return rc;
}

/* ------------------------------------------------------------ names */

START_TEST(name_unpack_plain_lower)
{
	struct bb b;
	uint8_t out[VG_NAME_MAX];
	size_t next = 0;
	bb_hdr(&b, 1, 0, 1, 0, 0, 0);
	bb_name(&b, N("\3WwW\7Example\3COM"));
	bb_int(&b, 1, 2);
	ck_assert_int_eq(vg_name_unpack(b.b, b.n, 12, out, true, &next), 17);
	ck_assert_uint_eq(next, 29);
	ck_assert_mem_eq(out, WWW, 17);
	ck_assert_int_eq(vg_name_unpack(b.b, b.n, 12, out, false, NULL), 17);
	ck_assert_mem_eq(out, "\3WwW\7Example\3COM", 17);
	ck_assert_int_eq(vg_name_skip(b.b, b.n, 12), 29);
	ck_assert_int_eq(vg_name_skip(b.b, b.n, 16), 29);
	b.n = 12; /* root alone */
	bb_int(&b, 0, 1);
	ck_assert_int_eq(vg_name_unpack(b.b, b.n, 12, out, true, &next), 1);
	ck_assert(next == 13 && out[0] == 0);
}
END_TEST

START_TEST(name_unpack_compressed)
{
	struct bb b;
	uint8_t out[VG_NAME_MAX];
	size_t next = 0;
	bb_hdr(&b, 1, 0, 0, 0, 0, 0);
	bb_name(&b, WWW);
	size_t mail = bb_raw(&b, "\4MAIL", 5);
	bb_ptr(&b, 16);
	size_t chain = b.n; /* pointer to a name that ends in a pointer */
	bb_ptr(&b, mail);
	bb_int(&b, 0xee, 1); /* trailing byte: next must stop before it */
	ck_assert_int_eq(vg_name_unpack(b.b, b.n, mail, out, true, &next), 18);
	ck_assert_uint_eq(next, mail + 7);
	ck_assert_mem_eq(out, "\4mail\7example\3com", 18);
	ck_assert_int_eq(vg_name_unpack(b.b, b.n, chain, out, false, &next), 18);
	ck_assert_uint_eq(next, chain + 2);
	ck_assert_mem_eq(out, "\4MAIL\7example\3com", 18);
	ck_assert_int_eq(vg_name_skip(b.b, b.n, mail), (int)mail + 7);
	ck_assert_int_eq(vg_name_skip(b.b, b.n, chain), (int)chain + 2);
}
END_TEST

START_TEST(name_unpack_rejects_loops_and_forward)
{
	struct bb b;
	uint8_t out[VG_NAME_MAX];
	bb_hdr(&b, 1, 0, 0, 0, 0, 0);
	bb_ptr(&b, 12); /* 12: points at itself */
	bb_ptr(&b, 16); /* 14: -> 16 (forward) */
	bb_ptr(&b, 14); /* 16: -> 14 -> 16: a loop */
	for (size_t off = 12; off <= 16; off += 2) {
		ck_assert_int_eq(vg_name_unpack(b.b, b.n, off, out, true, NULL), VG_EMALFORMED);
		ck_assert_int_eq(vg_name_skip(b.b, b.n, off), VG_EMALFORMED);
	}
	/* a label, then a pointer back to the start of the same name: skipping
	 * follows the pointer with the same walk, so it refuses it too */
	bb_hdr(&b, 1, 0, 0, 0, 0, 0);
	bb_raw(&b, "\1a", 2);
	bb_ptr(&b, 12);
	ck_assert_int_eq(vg_name_unpack(b.b, b.n, 12, out, true, NULL), VG_EMALFORMED);
	ck_assert_int_eq(vg_name_skip(b.b, b.n, 12), VG_EMALFORMED);
	/* a backward pointer to a name that is itself malformed (a label past the
	 * end of what it claims): skipping cannot accept what unpacking refuses */
	bb_hdr(&b, 1, 0, 0, 0, 0, 0);
	bb_raw(&b, "\1a\100", 3); /* 12: "a", then a 0x40 label type */
	size_t bad_ptr = b.n;
	bb_ptr(&b, 12);
	ck_assert_int_eq(vg_name_unpack(b.b, b.n, bad_ptr, out, true, NULL), VG_EMALFORMED);
	ck_assert_int_eq(vg_name_skip(b.b, b.n, bad_ptr), VG_EMALFORMED);
	/* a forward pointer to a perfectly valid name */
	bb_hdr(&b, 1, 0, 0, 0, 0, 0);
	bb_raw(&b, "\1a", 2);
	bb_ptr(&b, 16);
	bb_name(&b, EXAMPLE);
	ck_assert_int_eq(vg_name_unpack(b.b, b.n, 12, out, true, NULL), VG_EMALFORMED);
	ck_assert_int_eq(vg_name_skip(b.b, b.n, 12), VG_EMALFORMED);
	ck_assert_int_eq(vg_name_unpack(b.b, b.n, 16, out, true, NULL), 13);
}
END_TEST

/* Append @p full labels of 63 bytes, one of @p last bytes, then root. */
static void long_name(struct bb *b, int full, int last)
{
	uint8_t lab[64];
	memset(lab + 1, 'x', 63);
	lab[0] = 63;
	for (int i = 0; i < full; i++)
		bb_raw(b, lab, 64);
	lab[0] = (uint8_t)last;
	bb_raw(b, lab, (size_t)last + 1);
	bb_int(b, 0, 1);
}

START_TEST(name_unpack_length_limit)
{
	struct bb b;
	uint8_t out[VG_NAME_MAX];
	bb_hdr(&b, 1, 0, 0, 0, 0, 0);
	long_name(&b, 3, 61); /* 192 + 62 + 1 = 255 */
	ck_assert_int_eq(vg_name_unpack(b.b, b.n, 12, out, true, NULL), 255);
	ck_assert_int_eq(vg_name_skip(b.b, b.n, 12), 12 + 255);
	ck_assert_int_eq(vg_name_check(out, VG_NAME_MAX), 255);
	bb_hdr(&b, 1, 0, 0, 0, 0, 0);
	long_name(&b, 3, 62); /* 256 */
	ck_assert_int_eq(vg_name_unpack(b.b, b.n, 12, out, true, NULL), VG_EMALFORMED);
	ck_assert_int_eq(vg_name_skip(b.b, b.n, 12), VG_EMALFORMED);
	/* too long only once decompressed: a 201-byte name, then 61 + pointer */
	bb_hdr(&b, 1, 0, 0, 0, 0, 0);
	long_name(&b, 3, 7);
	size_t second = b.n;
	uint8_t lab[61];
	memset(lab, 'y', sizeof(lab));
	lab[0] = 60;
	bb_raw(&b, lab, 61);
	bb_ptr(&b, 12);
	ck_assert_int_eq(vg_name_unpack(b.b, b.n, second, out, true, NULL), VG_EMALFORMED);
}
END_TEST

START_TEST(name_unpack_rejects_bad_labels)
{
	struct bb b;
	uint8_t out[VG_NAME_MAX];
	static const uint8_t types[] = { 0x40, 0x41, 0x80, 0xbf };
	for (unsigned i = 0; i < sizeof(types); i++) {
		bb_hdr(&b, 1, 0, 0, 0, 0, 0);
		bb_raw(&b, "\1a", 2);
		bb_int(&b, types[i], 1);
		bb_raw(&b, "abcdefgh", 9);
		ck_assert_int_eq(vg_name_unpack(b.b, b.n, 12, out, true, NULL), VG_EMALFORMED);
		ck_assert_int_eq(vg_name_skip(b.b, b.n, 12), VG_EMALFORMED);
	}
	/* truncations: a label past the end, no root, half a pointer, offset at end */
	static const char *const cut[] = { "\5ab", "\2ab", "\0\300" };
	for (unsigned i = 0; i < 3; i++) {
		bb_hdr(&b, 1, 0, 0, 0, 0, 0);
		bb_raw(&b, cut[i], i == 2 ? 2 : 3);
		size_t off = i == 2 ? 13 : 12;
		ck_assert_int_eq(vg_name_unpack(b.b, b.n, off, out, true, NULL), VG_EMALFORMED);
		ck_assert_int_eq(vg_name_skip(b.b, b.n, off), VG_EMALFORMED);
	}
	ck_assert_int_eq(vg_name_unpack(b.b, b.n, b.n, out, true, NULL), VG_EMALFORMED);
}
END_TEST

START_TEST(name_compare)
{
	ck_assert(vg_name_eq(WWW, N("\3WWW\7ExAmPlE\3cOm")));
	ck_assert(vg_name_eq(N(""), N("")));
	ck_assert(!vg_name_eq(WWW, EXAMPLE));
	ck_assert(!vg_name_eq(N("\2ab\1c"), N("\1a\2bc")));
	ck_assert(!vg_name_eq(N("\3www\7exampld\3com"), WWW));
	ck_assert(!vg_name_eq(N("\1@"), N("\1`"))); /* only A-Z fold */
	ck_assert(vg_name_is_sub(WWW, EXAMPLE));
	ck_assert(vg_name_is_sub(WWW, N("\7EXAMPLE\3COM")));
	ck_assert(vg_name_is_sub(EXAMPLE, EXAMPLE));
	ck_assert(vg_name_is_sub(WWW, N("")));
	ck_assert(!vg_name_is_sub(EXAMPLE, WWW));
	ck_assert(!vg_name_is_sub(N("\12notexample\3com"), EXAMPLE));
	ck_assert(!vg_name_is_sub(WWW, N("\3org")));
	ck_assert(vg_name_labels(N("")) == 0 && vg_name_labels(WWW) == 3);
	ck_assert(vg_name_len(WWW) == 17 && vg_name_len(N("")) == 1);
	ck_assert_ptr_eq(vg_name_suffix(WWW, 3), WWW);
	ck_assert_ptr_eq(vg_name_suffix(WWW, 2), WWW + 4);
	ck_assert_ptr_eq(vg_name_suffix(WWW, 1), WWW + 12);
	ck_assert_ptr_eq(vg_name_suffix(WWW, 0), WWW + 16);
	ck_assert_ptr_eq(vg_name_suffix(WWW, 7), WWW);
	uint8_t n[17];
	memcpy(n, "\3WwW\7EXAMPLE\3Com", 17);
	vg_name_lower(n);
	ck_assert_mem_eq(n, WWW, 17);
	/* vg_name_check */
	ck_assert_int_eq(vg_name_check(WWW, 17), 17);
	ck_assert_int_eq(vg_name_check(WWW, 16), VG_EMALFORMED);
	ck_assert_int_eq(vg_name_check(N("\100aaaa"), 100), VG_EMALFORMED); /* label 64 */
	ck_assert_int_eq(vg_name_check(N("\300\014"), 2), VG_EMALFORMED);   /* pointer */
	ck_assert_int_eq(vg_name_check(N(""), 1), 1);
	ck_assert_int_eq(vg_name_check(N(""), 0), VG_EMALFORMED);
}
END_TEST

START_TEST(name_str_roundtrip)
{
	static const struct {
		const char *in, *out, *wire;
		int len;
	} cases[] = {
		{ "www.example.com.", "www.example.com.", "\3www\7example\3com", 17 },
		{ "WWW.Example.COM", "www.example.com.", "\3www\7example\3com", 17 },
		{ ".", ".", "", 1 },
		{ "a\\.b.example.", "a\\.b.example.", "\3a.b\7example", 13 },
		{ "x\\\\y.", "x\\\\y.", "\3x\\y", 5 },
		{ "\\000\\255z.", "\\000\\255z.", "\3\000\377z", 5 },
		{ "sp\\032ace.", "sp\\032ace.", "\6sp ace", 8 },
		{ "\\065b.", "ab.", "\2ab", 4 },
		{ "\\-x.", "-x.", "\2-x", 4 },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t w[VG_NAME_MAX], w2[VG_NAME_MAX];
		char s[1024];
		int r = vg_name_from_str(cases[i].in, w, sizeof(w));
		ck_assert_msg(r == cases[i].len, "%s: len %d", cases[i].in, r);
		ck_assert_mem_eq(w, cases[i].wire, (size_t)cases[i].len);
		vg_name_to_str(w, s, sizeof(s));
		ck_assert_str_eq(s, cases[i].out);
		ck_assert_int_eq(vg_name_from_str(s, w2, sizeof(w2)), r); /* and back */
		ck_assert_mem_eq(w2, w, (size_t)r);
	}
	/* a short buffer: always terminated, never written past */
	char buf[16];
	memset(buf, 'Z', sizeof(buf));
	vg_name_to_str(N("\20aaaaaaaaaaaaaaaa\7example\3com"), buf, 8);
	ck_assert_uint_lt(strlen(buf), 8);
	ck_assert_int_eq(strncmp(buf, "aaaaaaa", strlen(buf)), 0);
	ck_assert_int_eq(buf[8], 'Z');
	memset(buf, 'Z', sizeof(buf));
	vg_name_to_str(N("\3a\001b"), buf, 5); /* "\001" needs 4 bytes */
	ck_assert(strlen(buf) < 5 && buf[5] == 'Z');
}
END_TEST

START_TEST(name_from_str_errors)
{
	uint8_t w[VG_NAME_MAX];
	char s[400];
	ck_assert_int_eq(vg_name_from_str("a..b", w, sizeof(w)), VG_EPARSE);
	ck_assert_int_eq(vg_name_from_str(".a", w, sizeof(w)), VG_EPARSE);
	ck_assert_int_eq(vg_name_from_str("abc\\", w, sizeof(w)), VG_EPARSE);
	ck_assert_int_eq(vg_name_from_str("a\\256b", w, sizeof(w)), VG_EPARSE);
	ck_assert_int_eq(vg_name_from_str("example.com", w, 5), VG_ENOSPACE);
	ck_assert_int_eq(vg_name_from_str("example.com", w, 13), 13);
	memset(s, 'a', 64); /* a 63-byte label is fine, 64 is not */
	s[63] = 0;
	ck_assert_int_eq(vg_name_from_str(s, w, sizeof(w)), 65);
	s[63] = 'a';
	s[64] = 0;
	ck_assert_int_eq(vg_name_from_str(s, w, sizeof(w)), VG_ELIMIT);
	size_t o = 0; /* 255 bytes in all is the maximum: 3 x 63 + 61 */
	for (int i = 0; i < 4; i++) {
		int l = i < 3 ? 63 : 61;
		memset(s + o, 'b', (size_t)l);
		o += (size_t)l;
		s[o++] = '.';
	}
	s[o] = 0;
	ck_assert_int_eq(vg_name_from_str(s, w, sizeof(w)), 255);
	ck_assert_int_eq(vg_name_check(w, sizeof(w)), 255);
	s[o - 1] = 'b'; /* the last label 62 long: 256 bytes */
	s[o] = '.';
	s[o + 1] = 0;
	ck_assert_int_eq(vg_name_from_str(s, w, sizeof(w)), VG_ELIMIT);
}
END_TEST

/* ------------------------------------------------------------ query parse */

START_TEST(query_well_formed)
{
	struct bb b;
	struct vg_query q;
	bb_query(&b, VG_F_RD, N("\3WWW\7Example\3com"), false, false);
	ck_assert_int_eq(qparse(&q, &b, b.n), 0);
	ck_assert(q.id == 0x1234 && q.flags == VG_F_RD && q.qdcount == 1);
	ck_assert_uint_eq(q.qname_len, 17);
	ck_assert_mem_eq(q.qname, WWW, 17); /* lower-cased */
	ck_assert(q.qtype == VG_T_A && q.qclass == VG_C_IN);
	ck_assert(!q.edns.present);

	bb_query(&b, 0, WWW, true, true);
	ck_assert_int_eq(qparse(&q, &b, b.n), 0);
	ck_assert(q.edns.present && q.edns.do_bit);
	ck_assert_uint_eq(q.edns.udp_size, 1232);
	ck_assert_uint_eq(q.edns.version, 0);
	bb_query(&b, 0, WWW, true, false);
	ck_assert_int_eq(qparse(&q, &b, b.n), 0);
	ck_assert(q.edns.present && !q.edns.do_bit);
}
END_TEST

START_TEST(query_errors)
{
	struct bb b;
	struct vg_query q;
	int rc;
	bb_query(&b, 0, WWW, false, false);
	ck_assert_int_eq(vg_query_parse(&q, b.b, 11, &rc), VG_EMALFORMED);
	ck_assert_int_eq(vg_query_parse(&q, b.b, 0, &rc), VG_EMALFORMED);
	bb_query(&b, VG_F_QR | VG_F_RD, WWW, false, false);
	ck_assert_int_eq(vg_query_parse(&q, b.b, b.n, &rc), VG_EMALFORMED);

	for (uint16_t qd = 0; qd <= 2; qd += 2) {
		bb_query(&b, 0, WWW, false, false);
		vg_put16(b.b + 4, qd);
		ck_assert_int_eq(qparse(&q, &b, b.n), VG_RCODE_FORMERR);
		ck_assert_uint_eq(q.id, 0x1234);
	}
	bb_query(&b, (uint16_t)(2 << 11), WWW, false, false); /* opcode 2 (STATUS) */
	ck_assert_int_eq(qparse(&q, &b, b.n), VG_RCODE_NOTIMP);
	ck_assert_uint_eq(q.qdcount, 0);

	bb_hdr(&b, 7, 0, 1, 0, 0, 1);
	bb_q(&b, WWW, VG_T_AAAA);
	bb_opt(&b, 4096, 1, true);
	ck_assert_int_eq(qparse(&q, &b, b.n), VG_RCODE_BADVERS);
	ck_assert(q.edns.present && q.edns.version == 1 && q.qtype == VG_T_AAAA);

	bb_hdr(&b, 7, 0, 1, 0, 0, 2); /* two OPTs */
	bb_q(&b, WWW, VG_T_A);
	bb_opt(&b, 4096, 0, false);
	bb_opt(&b, 4096, 0, false);
	ck_assert_int_eq(qparse(&q, &b, b.n), VG_RCODE_FORMERR);

	bb_query(&b, 0, WWW, true, false); /* trailing garbage */
	bb_int(&b, 0, 1);
	ck_assert_int_eq(qparse(&q, &b, b.n), VG_RCODE_FORMERR);
	ck_assert_int_eq(qparse(&q, &b, b.n - 1), 0);
	ck_assert_int_eq(qparse(&q, &b, 32), VG_RCODE_FORMERR); /* question cut short */

	bb_hdr(&b, 7, 0, 1, 0, 0, 1); /* OPT with a non-root owner */
	bb_q(&b, WWW, VG_T_A);
	bb_ptr(&b, 12);
	bb_rr(&b, VG_T_OPT, 0, NULL, 0);
	ck_assert_int_eq(qparse(&q, &b, b.n), VG_RCODE_FORMERR);

	bb_query(&b, 0, WWW, false, false); /* an answer in a query */
	vg_put16(b.b + 6, 1);
	ck_assert_int_eq(qparse(&q, &b, b.n), VG_RCODE_FORMERR);
}
END_TEST

/* ------------------------------------------------------------ message parse */

static void check_rr(const struct vg_msg *m, unsigned i, size_t owner, uint16_t type,
		     uint32_t ttl, size_t rdata, uint16_t rdlen)
{
	const struct vg_rr *r = &m->rr[i];
	ck_assert_msg(r->owner == owner && r->type == type && r->rclass == VG_C_IN &&
			      r->ttl == ttl && r->rdata == rdata && r->rdlen == rdlen,
		      "rr %u: owner %u type %u ttl %u rdata %u/%u", i, r->owner, r->type,
		      r->ttl, r->rdata, r->rdlen);
}

START_TEST(msg_parse_sections)
{
	struct bb b;
	static struct vg_msg m;
	size_t own[4], rd[4];
	bb_hdr(&b, 0xabcd, VG_F_QR | VG_F_AA | VG_F_RD, 1, 2, 1, 2);
	bb_q(&b, EXAMPLE, VG_T_A); /* example.com at 12 */
	own[0] = b.n;
	bb_ptr(&b, 12);
	bb_rr(&b, VG_T_A, 3600, "\1\2\3\4", 4);
	rd[0] = b.rdata;
	own[1] = b.n;
	bb_ptr(&b, 12);
	bb_rr(&b, VG_T_A, 1800, "\5\6\7\10", 4);
	rd[1] = b.rdata;
	own[2] = b.n;
	bb_ptr(&b, 12);
	bb_rr(&b, VG_T_NS, 86400, "\2ns\300\014", 5);
	rd[2] = b.rdata;
	own[3] = b.n;
	bb_ptr(&b, rd[2]); /* glue owner: the NS target */
	bb_rr(&b, VG_T_A, 86400, "\12\0\0\65", 4);
	rd[3] = b.rdata;
	bb_opt(&b, 4096, 0, true);

	ck_assert_int_eq(vg_msg_parse(&m, b.b, b.n), 0);
	ck_assert(m.id == 0xabcd && m.flags == (VG_F_QR | VG_F_AA | VG_F_RD));
	ck_assert(m.qdcount == 1 && m.ancount == 2 && m.nscount == 1 && m.arcount == 2);
	ck_assert_mem_eq(m.qname, EXAMPLE, 13);
	ck_assert(m.qname_len == 13 && m.qtype == VG_T_A && m.qclass == VG_C_IN);
	ck_assert_uint_eq(m.nrr, 4); /* OPT is not one of them */
	ck_assert(m.sec_start[VG_SEC_AN] == 0 && m.sec_start[VG_SEC_NS] == 2);
	ck_assert(m.sec_start[VG_SEC_AR] == 3 && m.sec_start[3] == 4);
	check_rr(&m, 0, own[0], VG_T_A, 3600, rd[0], 4);
	check_rr(&m, 1, own[1], VG_T_A, 1800, rd[1], 4);
	check_rr(&m, 2, own[2], VG_T_NS, 86400, rd[2], 5);
	check_rr(&m, 3, own[3], VG_T_A, 86400, rd[3], 4);
	ck_assert_mem_eq(b.b + m.rr[1].rdata, "\5\6\7\10", 4);
	uint8_t name[VG_NAME_MAX];
	ck_assert_int_eq(vg_name_unpack(b.b, b.n, m.rr[3].owner, name, true, NULL), 16);
	ck_assert_mem_eq(name, "\2ns\7example\3com", 16);
	ck_assert(m.edns.present && m.edns.do_bit);
	ck_assert(m.edns.udp_size == 4096 && m.edns.version == 0);
}
END_TEST

START_TEST(msg_parse_rejects)
{
	struct bb b;
	static struct vg_msg m;
	bb_hdr(&b, 1, VG_F_QR, 1, 1, 0, 0); /* OPT in the answer section */
	bb_q(&b, EXAMPLE, VG_T_A);
	bb_opt(&b, 4096, 0, false);
	ck_assert_int_eq(vg_msg_parse(&m, b.b, b.n), VG_EMALFORMED);
	vg_put16(b.b + 6, 0); /* in the authority section */
	vg_put16(b.b + 8, 1);
	ck_assert_int_eq(vg_msg_parse(&m, b.b, b.n), VG_EMALFORMED);
	vg_put16(b.b + 8, 0); /* ...and in the additional it is fine */
	vg_put16(b.b + 10, 1);
	ck_assert_int_eq(vg_msg_parse(&m, b.b, b.n), 0);
	ck_assert(m.edns.present && m.nrr == 0);
	/* truncated rdata; a count larger than what is there; short header */
	bb_hdr(&b, 1, VG_F_QR, 1, 1, 0, 0);
	bb_q(&b, EXAMPLE, VG_T_A);
	bb_ptr(&b, 12);
	bb_rr(&b, VG_T_A, 60, "\1\2\3\4", 4);
	ck_assert_int_eq(vg_msg_parse(&m, b.b, b.n), 0);
	ck_assert_int_eq(vg_msg_parse(&m, b.b, b.n - 1), VG_EMALFORMED);
	vg_put16(b.b + 6, 2);
	ck_assert_int_eq(vg_msg_parse(&m, b.b, b.n), VG_EMALFORMED);
	ck_assert_int_eq(vg_msg_parse(&m, b.b, 11), VG_EMALFORMED);
	bb_hdr(&b, 1, VG_F_QR, 2, 0, 0, 0); /* two questions */
	bb_q(&b, EXAMPLE, VG_T_A);
	bb_q(&b, WWW, VG_T_A);
	ck_assert_int_eq(vg_msg_parse(&m, b.b, b.n), VG_EMALFORMED);
	bb_hdr(&b, 1, VG_F_QR, 0, 0, 0, 2); /* two OPTs */
	bb_opt(&b, 4096, 0, false);
	bb_opt(&b, 4096, 0, false);
	ck_assert_int_eq(vg_msg_parse(&m, b.b, b.n), VG_EMALFORMED);
}
END_TEST

/* ------------------------------------------------------------ rdata */

static struct bb rb;
static struct vg_rr rr;

/* A response to www.example.com (www at 12, example.com at 16) whose one
 * answer has @p type and rdata @p rd; returns vg_rdata_unpack into @p out. */
static int rd_unpack(uint16_t type, const void *rd, uint16_t n, uint8_t *out, size_t cap)
{
	bb_hdr(&rb, 1, VG_F_QR, 1, 1, 0, 0);
	bb_q(&rb, WWW, type);
	rr.owner = (uint16_t)rb.n;
	bb_ptr(&rb, 12);
	bb_rr(&rb, type, 60, rd, n);
	rr.type = type;
	rr.rclass = VG_C_IN;
	rr.ttl = 60;
	rr.rdata = (uint16_t)rb.rdata;
	rr.rdlen = n;
	return vg_rdata_unpack(rb.b, rb.n, &rr, out, cap);
}

START_TEST(rdata_decompress)
{
	uint8_t out[512], soa[64];
	ck_assert_int_eq(rd_unpack(VG_T_MX, "\0\12\300\020", 4, out, sizeof(out)), 15);
	ck_assert_mem_eq(out, "\0\12\7example\3com", 15);
	ck_assert_ptr_eq(vg_rdata_target(VG_T_MX, out, 15), out + 2);
	ck_assert_int_eq(rd_unpack(VG_T_NS, "\3NS1\300\020", 6, out, sizeof(out)), 17);
	ck_assert_mem_eq(out, "\3NS1\7example\3com", 17); /* case kept */
	ck_assert_int_eq(rd_unpack(VG_T_CNAME, "\3web\300\020", 6, out, sizeof(out)), 17);
	ck_assert_mem_eq(out, "\3web\7example\3com", 17);
	ck_assert_ptr_eq(vg_rdata_target(VG_T_CNAME, out, 17), out);
	/* SOA: mname ns1.<ptr>, rname hostmaster.<ptr>, then 20 bytes */
	memcpy(soa, "\3ns1\300\020\12hostmaster\300\020", 19);
	for (int i = 0; i < 20; i++)
		soa[19 + i] = (uint8_t)(i + 1);
	ck_assert_int_eq(rd_unpack(VG_T_SOA, soa, 39, out, sizeof(out)), 17 + 24 + 20);
	ck_assert_mem_eq(out, "\3ns1\7example\3com", 17);
	ck_assert_mem_eq(out + 17, "\12hostmaster\7example\3com", 24);
	ck_assert_mem_eq(out + 41, soa + 19, 20);
	/* a type without names is copied as it is */
	ck_assert_int_eq(rd_unpack(VG_T_TXT, "\5\300\014abc", 6, out, sizeof(out)), 6);
	ck_assert_mem_eq(out, "\5\300\014abc", 6);
	ck_assert_ptr_null(vg_rdata_target(VG_T_A, out, 4));
}
END_TEST

START_TEST(rdata_rejects_malformed)
{
	uint8_t out[512];
	const size_t cap = sizeof(out);
	ck_assert_int_eq(rd_unpack(VG_T_MX, "\0", 1, out, cap), VG_EMALFORMED); /* pref cut */
	ck_assert_int_eq(rd_unpack(VG_T_NS, "\3ns1\300\020\0", 7, out, cap), VG_EMALFORMED);
	ck_assert_int_eq(rd_unpack(VG_T_SOA, "\300\020\300\020\0\0\0\1", 8, out, cap),
			 VG_EMALFORMED); /* fixed part short */
	ck_assert_int_eq(rd_unpack(VG_T_PTR, "\101ab\0", 4, out, cap), VG_EMALFORMED);
	/* a forward pointer: to the byte just after the pointer itself */
	rd_unpack(VG_T_CNAME, "\1a\0", 3, out, cap);
	vg_put16(rb.b + rr.rdata, (uint16_t)(0xc000 | (rr.rdata + 2)));
	ck_assert_int_eq(vg_rdata_unpack(rb.b, rb.n, &rr, out, cap), VG_EMALFORMED);
	/* a pointer to itself */
	rd_unpack(VG_T_CNAME, "\0\0", 2, out, cap);
	vg_put16(rb.b + rr.rdata, (uint16_t)(0xc000 | rr.rdata));
	ck_assert_int_eq(vg_rdata_unpack(rb.b, rb.n, &rr, out, cap), VG_EMALFORMED);
	/* a name running past rdlen, although the packet goes on */
	ck_assert_int_eq(rd_unpack(VG_T_CNAME, "\3web\0", 5, out, cap), 5);
	rr.rdlen = 4;
	ck_assert_int_eq(vg_rdata_unpack(rb.b, rb.n, &rr, out, cap), VG_EMALFORMED);
	/* output too small */
	ck_assert_int_eq(rd_unpack(VG_T_CNAME, "\3web\300\020", 6, out, 16), VG_ENOSPACE);
	ck_assert_int_eq(vg_rdata_unpack(rb.b, rb.n, &rr, out, 17), 17);
	ck_assert_int_eq(rd_unpack(VG_T_TXT, "\3abc", 4, out, 3), VG_ENOSPACE);
	/* rdata_target refuses a broken name */
	ck_assert_ptr_null(vg_rdata_target(VG_T_CNAME, N("\5ab"), 3));
	ck_assert_ptr_null(vg_rdata_target(VG_T_MX, N("\0\1"), 2));
}
END_TEST

/* ------------------------------------------------------------ writer */

START_TEST(pkt_exact_bytes)
{
	uint8_t buf[512];
	struct vg_pkt p;
	static const uint8_t expect[] = {
		0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 1,
		7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1,
		0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 93, 184, 216, 34,
		0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0,
	};
	vg_pkt_init(&p, buf, sizeof(buf), 0x1234, VG_F_QR | VG_F_RD | VG_F_RA);
	ck_assert_int_eq(vg_pkt_put_question(&p, EXAMPLE, VG_T_A, VG_C_IN), 0);
	vg_pkt_begin(&p, 1);
	ck_assert_int_eq(vg_pkt_put_rr(&p, N("\7EXAMPLE\3com"), VG_T_A, VG_C_IN, 300,
				       N("\135\270\330\042"), 4), 0);
	ck_assert_int_eq(vg_pkt_put_opt(&p, 1232, 0, true, NULL, 0), 0);
	ck_assert_uint_eq(vg_pkt_finish(&p), sizeof(expect));
	ck_assert_mem_eq(buf, expect, sizeof(expect));
}
END_TEST

START_TEST(pkt_compresses_rdata)
{
	uint8_t buf[512], out[VG_NAME_MAX + 2];
	struct vg_pkt p;
	static struct vg_msg m;
	static const uint8_t cname[] = { 0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6,
					 3, 'w', 'e', 'b', 0xc0, 0x10 };
	vg_pkt_init(&p, buf, sizeof(buf), 1, VG_F_QR);
	ck_assert_int_eq(vg_pkt_put_question(&p, WWW, VG_T_A, VG_C_IN), 0);
	ck_assert_uint_eq(p.len, 33);
	vg_pkt_begin(&p, 1);
	/* owner -> 0xc00c; target "web" + pointer to example.com at 16 */
	ck_assert_int_eq(vg_pkt_put_rr(&p, WWW, VG_T_CNAME, VG_C_IN, 60,
				       N("\3web\7example\3com"), 17), 0);
	ck_assert_uint_eq(p.len, 33 + sizeof(cname));
	ck_assert_mem_eq(buf + 33, cname, sizeof(cname));
	/* the next owner is the CNAME target, written at 45 */
	ck_assert_int_eq(vg_pkt_put_rr(&p, N("\3WEB\7example\3com"), VG_T_A, VG_C_IN, 60,
				       N("\1\2\3\4"), 4), 0);
	ck_assert(buf[51] == 0xc0 && buf[52] == 45);
	vg_pkt_begin(&p, 2); /* MX in authority: the exchange is compressed too */
	ck_assert_int_eq(vg_pkt_put_rr(&p, EXAMPLE, VG_T_MX, VG_C_IN, 60,
				       N("\0\12\4mail\7example\3com"), 20), 0);
	size_t n = vg_pkt_finish(&p);
	ck_assert_uint_eq(n, 67 + 2 + 10 + 2 + 5 + 2);
	ck_assert(vg_get16(buf + 6) == 2 && vg_get16(buf + 8) == 1);
	ck_assert_int_eq(vg_msg_parse(&m, buf, n), 0);
	ck_assert_uint_eq(m.nrr, 3);
	ck_assert_int_eq(vg_rdata_unpack(buf, n, &m.rr[0], out, sizeof(out)), 17);
	ck_assert_mem_eq(out, "\3web\7example\3com", 17);
	ck_assert_int_eq(vg_rdata_unpack(buf, n, &m.rr[2], out, sizeof(out)), 20);
	ck_assert_mem_eq(out, "\0\12\4mail\7example\3com", 20);
}
END_TEST

/* Answers to a copied question (vg_pkt_copy_question, with its lower-cased
 * name at hand) are byte for byte what the general compression walk writes:
 * an owner equal to the question's name, in any case; a name under it; one
 * that only shares a suffix; the root; and a name longer than the question's
 * that starts with it. */
static size_t answer_bytes(const struct vg_query *q, bool fast, uint8_t *buf, size_t cap)
{
	static const uint8_t *const owners[] = {
		N("\3www\7example\3com"), N("\3WwW\7EXAMPLE\3com"), N("\1a\3www\7example\3com"),
		N("\4mail\7example\3com"), N("\0"), N("\3www\7example\3com\3net"),
		N("\3www\7example\2co"),
	};
	struct vg_pkt p;
	vg_pkt_init(&p, buf, cap, q->id, VG_F_QR);
	ck_assert_int_eq(vg_pkt_copy_question(&p, q), 0);
	ck_assert(p.qname_lc == q->qname);
	if (!fast)
		p.qname_lc = NULL;
	vg_pkt_begin(&p, 1);
	for (size_t i = 0; i < sizeof(owners) / sizeof(owners[0]); i++)
		ck_assert_msg(vg_pkt_put_rr(&p, owners[i], VG_T_A, VG_C_IN, 60,
					    N("\1\2\3\4"), 4) == 0, "owner %zu, len %zu cap %zu", i, p.len, p.cap);
	return vg_pkt_finish(&p);
}

START_TEST(pkt_question_owner_shortcut_is_exact)
{
	struct bb b;
	struct vg_query q;
	uint8_t fast[512], walk[512];
	bb_query(&b, VG_F_RD, N("\3wWw\7ExamPle\3COM"), true, false); /* 0x20 case */
	ck_assert_int_eq(qparse(&q, &b, b.n), 0);
	size_t n = answer_bytes(&q, true, fast, sizeof(fast));
	ck_assert_uint_eq(answer_bytes(&q, false, walk, sizeof(walk)), n);
	ck_assert_mem_eq(fast, walk, n);
	/* the first owner is a bare pointer to the question, as the client wrote it */
	size_t at = VG_HDR_LEN + q.qname_len + 4;
	ck_assert(fast[at] == 0xc0 && fast[at + 1] == VG_HDR_LEN);
	ck_assert(fast[VG_HDR_LEN + 1] == 'w' && fast[VG_HDR_LEN + 2] == 'W');
}
END_TEST

START_TEST(pkt_enospace_keeps_len)
{
	uint8_t buf[512];
	struct vg_pkt p;
	vg_pkt_init(&p, buf, 20, 1, 0);
	ck_assert_int_eq(vg_pkt_put_question(&p, WWW, VG_T_A, VG_C_IN), VG_ENOSPACE);
	ck_assert(p.len == 12 && p.counts[0] == 0);
	/* room for the question and an owner pointer, not the whole RR or an OPT */
	vg_pkt_init(&p, buf, 33 + 10, 1, 0);
	ck_assert_int_eq(vg_pkt_put_question(&p, WWW, VG_T_A, VG_C_IN), 0);
	ck_assert_int_eq(vg_pkt_put_rr(&p, WWW, VG_T_A, VG_C_IN, 1, N("\1\2\3\4"), 4),
			 VG_ENOSPACE);
	ck_assert(p.len == 33 && p.counts[1] == 0);
	ck_assert_int_eq(vg_pkt_put_opt(&p, 1232, 0, false, NULL, 0), VG_ENOSPACE);
	ck_assert(p.len == 33 && p.counts[3] == 0);
	/* a bad stored rdata is refused without writing */
	vg_pkt_init(&p, buf, sizeof(buf), 1, 0);
	ck_assert_int_eq(vg_pkt_put_rr(&p, WWW, VG_T_MX, VG_C_IN, 1, N("\0"), 1), VG_EMALFORMED);
	ck_assert_int_eq(vg_pkt_put_rr(&p, WWW, VG_T_NS, VG_C_IN, 1, N("\3ns1\0\0"), 6),
			 VG_EMALFORMED);
	ck_assert_uint_eq(p.len, 12);
	ck_assert_uint_eq(vg_pkt_finish(&p), 12);
	ck_assert_uint_eq(vg_get16(buf + 6), 0);
}
END_TEST

/* After a failed put, names it had remembered must not be used as targets. */
START_TEST(pkt_enospace_forgets_names)
{
	uint8_t buf[512], big[40], name[VG_NAME_MAX];
	struct vg_pkt p;
	static struct vg_msg m;
	vg_pkt_init(&p, buf, 33 + 40, 1, 0);
	ck_assert_int_eq(vg_pkt_put_question(&p, WWW, VG_T_A, VG_C_IN), 0);
	/* owner "mail.example.org" is written in full, then the rdata does not fit */
	memset(big, 0x55, sizeof(big));
	ck_assert_int_eq(vg_pkt_put_rr(&p, N("\4mail\7example\3org"), VG_T_TXT, VG_C_IN, 1,
				       big, sizeof(big)), VG_ENOSPACE);
	ck_assert_uint_eq(p.len, 33);
	memset(buf + 33, 0xff, 40); /* the stale bytes are gone */
	ck_assert_int_eq(vg_pkt_put_rr(&p, N("\1x\7example\3org"), VG_T_A, VG_C_IN, 1,
				       N("\1\2\3\4"), 4), 0);
	size_t n = vg_pkt_finish(&p);
	ck_assert_int_eq(vg_msg_parse(&m, buf, n), 0);
	ck_assert_int_eq(vg_name_unpack(buf, n, m.rr[0].owner, name, true, NULL), 15);
	ck_assert_mem_eq(name, "\1x\7example\3org", 15);
}
END_TEST

/* pkt.c promises: "On VG_ENOSPACE the packet is left as it was before the failed call". */
START_TEST(pkt_rrset_enospace_is_atomic)
{
	uint8_t buf[512], rd[18];
	struct vg_pkt p;
	for (int i = 0; i < 3; i++) {
		memcpy(rd + 6 * i, "\0\4\300\0\2", 5);
		rd[6 * i + 5] = (uint8_t)i;
	}
	struct vg_rrset rs = { .owner = WWW, .type = VG_T_A, .rclass = VG_C_IN, .ttl = 60,
			       .count = 3, .rdata_len = 18, .rdata = rd };
	vg_pkt_init(&p, buf, sizeof(buf), 1, 0);
	ck_assert_int_eq(vg_pkt_put_question(&p, WWW, VG_T_A, VG_C_IN), 0);
	ck_assert_int_eq(vg_pkt_put_rrset(&p, &rs, 60), 0);
	ck_assert(p.counts[1] == 3 && p.len == 33 + 3 * 16);
	vg_pkt_init(&p, buf, 33 + 24, 1, 0); /* room for one and a half records */
	ck_assert_int_eq(vg_pkt_put_question(&p, WWW, VG_T_A, VG_C_IN), 0);
	ck_assert_int_eq(vg_pkt_put_rrset(&p, &rs, 60), VG_ENOSPACE);
	ck_assert_msg(p.len == 33 && p.counts[1] == 0,
		      "partial RRset left behind: len %zu (was 33), ancount %u", p.len,
		      (unsigned)p.counts[1]);
}
END_TEST

START_TEST(error_reply_fields)
{
	struct bb b;
	struct vg_query q;
	static struct vg_msg m;
	uint8_t buf[512];
	/* EDNS query with DO, mixed-case name, RD and CD */
	bb_query(&b, VG_F_RD | VG_F_CD, N("\3WwW\7Example\3com"), true, true);
	ck_assert_int_eq(qparse(&q, &b, b.n), 0);
	size_t n = vg_wire_error_reply(&q, VG_RCODE_SERVFAIL, false, 1232, buf, sizeof(buf));
	ck_assert_int_eq(vg_msg_parse(&m, buf, n), 0);
	ck_assert_uint_eq(m.id, 0x1234);
	ck_assert(m.flags & VG_F_QR && m.flags & VG_F_RD && m.flags & VG_F_CD);
	ck_assert(!(m.flags & VG_F_TC) && !(m.flags & VG_F_AA));
	ck_assert_uint_eq(VG_F_RCODE(m.flags), VG_RCODE_SERVFAIL);
	ck_assert_uint_eq(m.qdcount, 1);
	ck_assert_mem_eq(buf + 12, "\3WwW\7Example\3com", 17); /* echoed as sent */
	ck_assert_uint_eq(m.qtype, VG_T_A);
	ck_assert(m.ancount == 0 && m.nscount == 0 && m.arcount == 1);
	ck_assert(m.edns.present && m.edns.do_bit);
	ck_assert(m.edns.udp_size == 1232 && m.edns.ext_rcode == 0);
	/* truncation, no EDNS in the query: no OPT in the reply */
	bb_query(&b, VG_F_RD, WWW, false, false);
	ck_assert_int_eq(qparse(&q, &b, b.n), 0);
	n = vg_wire_error_reply(&q, VG_RCODE_NOERROR, true, 1232, buf, sizeof(buf));
	ck_assert_int_eq(vg_msg_parse(&m, buf, n), 0);
	ck_assert(m.flags & VG_F_TC);
	ck_assert_uint_eq(VG_F_RCODE(m.flags), 0);
	ck_assert(m.arcount == 0 && !m.edns.present);
	ck_assert_uint_eq(n, b.n);
	vg_wire_error_reply(&q, VG_RCODE_REFUSED, false, 1232, buf, sizeof(buf));
	ck_assert_uint_eq(VG_F_RCODE(vg_get16(buf + 2)), VG_RCODE_REFUSED);
	ck_assert_uint_eq(vg_wire_error_reply(&q, VG_RCODE_REFUSED, false, 0, buf, 11), 0);
	/* a buffer too small for the question still gives a header */
	ck_assert_uint_eq(vg_wire_error_reply(&q, VG_RCODE_SERVFAIL, true, 0, buf, 20), 12);
	ck_assert_uint_eq(vg_get16(buf + 4), 0);
	ck_assert_uint_eq(VG_F_RCODE(vg_get16(buf + 2)), VG_RCODE_SERVFAIL);
}
END_TEST

START_TEST(error_reply_badvers_notimp)
{
	struct bb b;
	struct vg_query q;
	static struct vg_msg m;
	uint8_t buf[512];
	bb_hdr(&b, 0x4242, VG_F_RD, 1, 0, 0, 1);
	bb_q(&b, WWW, VG_T_A);
	bb_opt(&b, 4096, 1, false);
	int rc = qparse(&q, &b, b.n);
	ck_assert_int_eq(rc, VG_RCODE_BADVERS);
	size_t n = vg_wire_error_reply(&q, rc, false, 1232, buf, sizeof(buf));
	ck_assert_int_eq(vg_msg_parse(&m, buf, n), 0);
	ck_assert_uint_eq(VG_F_RCODE(m.flags), 0); /* 16 = extended 1, low bits 0 */
	ck_assert(m.edns.present && m.edns.ext_rcode == 1);
	ck_assert(m.edns.version == 0 && m.edns.udp_size == 1232);

	bb_query(&b, (uint16_t)(2 << 11) | VG_F_RD, WWW, true, false);
	rc = qparse(&q, &b, b.n);
	ck_assert_int_eq(rc, VG_RCODE_NOTIMP);
	n = vg_wire_error_reply(&q, rc, false, 1232, buf, sizeof(buf));
	ck_assert_int_eq(vg_msg_parse(&m, buf, n), 0);
	ck_assert_uint_eq(VG_F_RCODE(m.flags), VG_RCODE_NOTIMP);
	ck_assert_uint_eq(VG_F_OPCODE(m.flags), 2);
	ck_assert_uint_eq(m.qdcount, 0);
}
END_TEST

START_TEST(make_query_roundtrip)
{
	uint8_t buf[512];
	static struct vg_msg m;
	struct vg_query q;
	int rc, n = vg_wire_make_query(buf, sizeof(buf), 0x7777, WWW, VG_T_AAAA, false, 1232,
				       true);
	ck_assert_int_eq(n, 33 + 11);
	ck_assert_int_eq(vg_msg_parse(&m, buf, (size_t)n), 0);
	ck_assert(m.id == 0x7777 && m.flags == 0 && m.qdcount == 1 && m.nrr == 0);
	ck_assert_mem_eq(m.qname, WWW, 17);
	ck_assert(m.qtype == VG_T_AAAA && m.qclass == VG_C_IN);
	ck_assert(m.edns.present && m.edns.do_bit && m.edns.udp_size == 1232);

	n = vg_wire_make_query(buf, sizeof(buf), 9, EXAMPLE, VG_T_NS, true, 0, false);
	ck_assert_int_eq(n, 29);
	ck_assert_int_eq(vg_msg_parse(&m, buf, (size_t)n), 0);
	ck_assert(m.flags == VG_F_RD && !m.edns.present && m.arcount == 0);
	ck_assert_int_eq(vg_query_parse(&q, buf, (size_t)n, &rc), 0); /* we accept it too */
	ck_assert_int_eq(rc, 0);

	ck_assert_int_eq(vg_wire_make_query(buf, 20, 1, WWW, VG_T_A, true, 0, false), VG_ENOSPACE);
	ck_assert_int_eq(vg_wire_make_query(buf, 33 + 10, 1, WWW, VG_T_A, true, 1232, false),
			 VG_ENOSPACE);
	ck_assert_int_eq(vg_wire_make_query(buf, 8, 1, WWW, VG_T_A, true, 0, false), VG_ENOSPACE);
}
END_TEST

/* A name may chain pointers (www -> example -> com), but never more than it has
 * labels: a chain of hundreds of pointer-to-pointer jumps is an attack on CPU. */
START_TEST(name_unpack_rejects_pointer_chains)
{
	static uint8_t pkt[12 + 3 + 2 * 300];
	uint8_t out[VG_NAME_MAX];
	size_t next, o = 12;
	memcpy(pkt + o, "\1a\0", 3);
	size_t prev = o;
	o += 3;
	size_t at[300];
	for (int i = 0; i < 300; i++) {
		at[i] = o;
		vg_put16(pkt + o, (uint16_t)(0xc000 | prev));
		prev = o;
		o += 2;
	}
	/* 100 jumps: legal (fewer than 127) */
	ck_assert_int_eq(vg_name_unpack(pkt, o, at[99], out, true, &next), 3);
	/* 200 jumps: rejected */
	ck_assert_int_eq(vg_name_unpack(pkt, o, at[199], out, true, &next), VG_EMALFORMED);
}
END_TEST

START_TEST(pad_to_block)
{
	uint8_t buf[2048];
	struct vg_msg m;
	/* a query with EDNS: padded to 128, the OPT's RDLENGTH counts the option */
	int n = vg_wire_make_query(buf, sizeof(buf), 1, WWW, VG_T_A, true, 1232, false);
	ck_assert_int_gt(n, 0);
	size_t p = vg_wire_pad(buf, (size_t)n, sizeof(buf), VG_PAD_QUERY);
	ck_assert_uint_eq(p, 128);
	ck_assert_int_eq(vg_msg_parse(&m, buf, p), 0);
	/* the option sits at the end: code 12, length up to the block */
	size_t opt_rdlen_at = (size_t)n - 2;
	ck_assert_uint_eq(vg_get16(buf + opt_rdlen_at), 4 + (128 - n - 4));
	ck_assert_uint_eq(vg_get16(buf + n), VG_EDNS_PADDING);
	ck_assert_uint_eq(vg_get16(buf + n + 2), 128 - n - 4);
	for (size_t i = (size_t)n + 4; i < p; i++)
		ck_assert_uint_eq(buf[i], 0);
	/* answers: to 468 */
	n = vg_wire_make_query(buf, sizeof(buf), 1, WWW, VG_T_A, true, 1232, false);
	ck_assert_uint_eq(vg_wire_pad(buf, (size_t)n, sizeof(buf), VG_PAD_ANSWER), 468);
	/* no EDNS, no padding; no room, no padding */
	n = vg_wire_make_query(buf, sizeof(buf), 1, WWW, VG_T_A, true, 0, false);
	ck_assert_uint_eq(vg_wire_pad(buf, (size_t)n, sizeof(buf), VG_PAD_ANSWER), (size_t)n);
	n = vg_wire_make_query(buf, sizeof(buf), 1, WWW, VG_T_A, true, 1232, false);
	ck_assert_uint_eq(vg_wire_pad(buf, (size_t)n, 100, VG_PAD_QUERY), (size_t)n);
	/* a message the walk cannot follow is left alone */
	buf[5] = 9; /* nine questions */
	ck_assert_uint_eq(vg_wire_pad(buf, (size_t)n, sizeof(buf), VG_PAD_QUERY), (size_t)n);
}
END_TEST

static Suite *wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("names");
	tcase_add_test(tc, name_unpack_plain_lower);
	tcase_add_test(tc, name_unpack_compressed);
	tcase_add_test(tc, name_unpack_rejects_loops_and_forward);
	tcase_add_test(tc, name_unpack_length_limit);
	tcase_add_test(tc, name_unpack_rejects_bad_labels);
	tcase_add_test(tc, name_unpack_rejects_pointer_chains);
	tcase_add_test(tc, name_compare);
	tcase_add_test(tc, name_str_roundtrip);
	tcase_add_test(tc, name_from_str_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_test(tc, query_well_formed);
	tcase_add_test(tc, query_errors);
	tcase_add_test(tc, msg_parse_sections);
	tcase_add_test(tc, msg_parse_rejects);
	tcase_add_test(tc, rdata_decompress);
	tcase_add_test(tc, rdata_rejects_malformed);
	suite_add_tcase(s, tc);

	tc = tcase_create("write");
	tcase_add_test(tc, pkt_exact_bytes);
	tcase_add_test(tc, pkt_compresses_rdata);
	tcase_add_test(tc, pkt_question_owner_shortcut_is_exact);
	tcase_add_test(tc, pkt_enospace_keeps_len);
	tcase_add_test(tc, pkt_enospace_forgets_names);
	tcase_add_test(tc, pkt_rrset_enospace_is_atomic);
	tcase_add_test(tc, error_reply_fields);
	tcase_add_test(tc, error_reply_badvers_notimp);
	tcase_add_test(tc, make_query_roundtrip);
	tcase_add_test(tc, pad_to_block);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return vg_test_run(wire_suite());
}
