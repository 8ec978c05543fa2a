/* SPDX-License-Identifier: MIT
 *
 * Unit tests for the protocol half of src/feed (xfr.c, tsig.c, zone.c):
 * RFC 1982 serial arithmetic; TSIG (RFC 8945) against ldns's independent
 * implementation in both directions, for requests, responses and
 * multi-message streams (with unsigned messages in between, signed here by
 * hand with OpenSSL), and the ways a signature fails (MAC, message, time,
 * key); the in-memory zone; the SOA / AXFR / IXFR state machine on canned
 * responses (up to date, incremental with several steps, the AXFR form,
 * deletions of missing records and wrong serials undone completely); zone
 * files written and read back; and hostile responses (truncations and
 * random corruption), which must never crash (the suite also runs under
 * ASan/UBSan).  The feed thread (feed.c: sockets, timers, NOTIFY) is
 * tested against Knot in tests/integration/test_feed.py.
 */
#include <check.h>

#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ldns/ldns.h>
#include <openssl/evp.h>

#include "feed/impl.h"
#include "vigil/err.h"
#include "vigil/wire.h"

#define SECRET "secret-secret-secret-secret-1234"
#define SECRET_B64 "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="
#define KEYNAME "feed-key."
#define ZONE "rpz.example."

static struct vg_tsig_key mkkey(enum vg_tsig_alg alg)
{
	struct vg_tsig_key k;
	memset(&k, 0, sizeof(k));
	ck_assert_int_gt(vg_name_from_str(KEYNAME, k.name, sizeof(k.name)), 0);
	k.alg = alg;
	k.secret_len = (uint16_t)strlen(SECRET);
	memcpy(k.secret, SECRET, k.secret_len);
	return k;
}

static const char *ldns_alg(enum vg_tsig_alg alg)
{
	return alg == VG_TSIG_HMAC_SHA512 ? "hmac-sha512." :
	       alg == VG_TSIG_HMAC_SHA1 ? "hmac-sha1." : "hmac-sha256.";
}

static void name(const char *s, uint8_t out[VG_NAME_MAX])
{
	ck_assert_int_gt(vg_name_from_str(s, out, VG_NAME_MAX), 0);
}

/* ------------------------------------------------------------ message builder */

struct mb {
	uint8_t buf[65535];
	struct vg_pkt p;
};

static void mb_start(struct mb *m, uint16_t id, uint16_t flags, uint16_t qtype)
{
	uint8_t z[VG_NAME_MAX];
	name(ZONE, z);
	vg_pkt_init(&m->p, m->buf, sizeof(m->buf), id, flags);
	if (qtype)
		ck_assert_int_eq(vg_pkt_put_question(&m->p, z, qtype, VG_C_IN), 0);
	vg_pkt_begin(&m->p, 1);
}

static void mb_rr(struct mb *m, const char *owner, uint16_t type, const uint8_t *rd, uint16_t n)
{
	uint8_t o[VG_NAME_MAX];
	name(owner, o);
	ck_assert_int_eq(vg_pkt_put_rr(&m->p, o, type, VG_C_IN, 300, rd, n), 0);
}

static uint16_t soa_rd(uint32_t serial, uint8_t *rd)
{
	static const uint8_t names[] = "\2ns\0\1h\0";
	memcpy(rd, names, 7);
	vg_put32(rd + 7, serial);
	vg_put32(rd + 11, 2);
	vg_put32(rd + 15, 3);
	vg_put32(rd + 19, 600);
	vg_put32(rd + 23, 60);
	return 27;
}

static void mb_soa(struct mb *m, uint32_t serial)
{
	uint8_t rd[27];
	mb_rr(m, ZONE, VG_T_SOA, rd, soa_rd(serial, rd));
}

/* "<label>.rpz.example. CNAME ." (an NXDOMAIN rule) */
static void mb_rule(struct mb *m, const char *label)
{
	char owner[128];
	snprintf(owner, sizeof(owner), "%s." ZONE, label);
	mb_rr(m, owner, VG_T_CNAME, (const uint8_t *)"", 1);
}

static size_t mb_finish(struct mb *m)
{
	return vg_pkt_finish(&m->p);
}

#define RESP (VG_F_QR | VG_F_AA)

/* A zone at @p serial with NXDOMAIN rules for each label of @p labels (NULL-terminated). */
static void mkzone(struct vg_xfr_zone *z, uint32_t serial, const char *const *labels)
{
	uint8_t zn[VG_NAME_MAX], o[VG_NAME_MAX], rd[27];
	name(ZONE, zn);
	ck_assert_int_eq(vg_xfr_zone_init(z, zn), 0);
	ck_assert_int_eq(vg_xfr_zone_set_soa(z, vg_xfr_rr_new(zn, VG_T_SOA, VG_C_IN, 300, rd,
							       soa_rd(serial, rd)), NULL), 0);
	for (; labels && *labels; labels++) {
		char s[128];
		snprintf(s, sizeof(s), "%s." ZONE, *labels);
		name(s, o);
		ck_assert_int_eq(vg_xfr_zone_add(z, vg_xfr_rr_new(o, VG_T_CNAME, VG_C_IN, 300,
								   (const uint8_t *)"", 1)), 0);
	}
}

static bool has_rule(struct vg_xfr_zone *z, const char *label)
{
	char s[128];
	uint8_t o[VG_NAME_MAX];
	snprintf(s, sizeof(s), "%s." ZONE, label);
	name(s, o);
	struct vg_xfr_rr *probe = vg_xfr_rr_new(o, VG_T_CNAME, VG_C_IN, 0, (const uint8_t *)"", 1);
	struct vg_xfr_rr *got = vg_xfr_zone_take(z, probe);
	free(probe);
	if (!got)
		return false;
	ck_assert_int_eq(vg_xfr_zone_add(z, got), 0); /* put it back */
	return true;
}

/* ------------------------------------------------------------ serials */

START_TEST(serial_arithmetic)
{
	ck_assert_int_eq(vg_xfr_serial_cmp(1, 1), 0);
	ck_assert_int_eq(vg_xfr_serial_cmp(1, 2), -1);
	ck_assert_int_eq(vg_xfr_serial_cmp(2, 1), 1);
	/* wrap-around: 0xffffffff < 0 < 5 */
	ck_assert_int_eq(vg_xfr_serial_cmp(0xffffffffu, 0), -1);
	ck_assert_int_eq(vg_xfr_serial_cmp(0, 0xffffffffu), 1);
	ck_assert_int_eq(vg_xfr_serial_cmp(0xfffffff0u, 5), -1);
	/* the largest step forward is 2^31 - 1 */
	ck_assert_int_eq(vg_xfr_serial_cmp(0, 0x7fffffffu), -1);
	ck_assert_int_eq(vg_xfr_serial_cmp(0x7fffffffu, 0), 1);
	/* exactly 2^31 apart: undefined */
	ck_assert_int_eq(vg_xfr_serial_cmp(0, 0x80000000u), 2);
	ck_assert_int_eq(vg_xfr_serial_cmp(0x80000000u, 0), 2);
	ck_assert_int_eq(vg_xfr_serial_cmp(2026112201u, 2026112202u), -1);
}
END_TEST

/* ------------------------------------------------------------ TSIG against ldns */

static size_t query_wire(uint8_t *buf, size_t cap, uint16_t qtype)
{
	uint8_t z[VG_NAME_MAX];
	name(ZONE, z);
	int n = vg_wire_make_query(buf, cap, 0x1234, z, qtype, false, 1232, false);
	ck_assert_int_gt(n, 0);
	return (size_t)n;
}

/* We sign a request; ldns verifies it (each algorithm). */
START_TEST(tsig_sign_verified_by_ldns)
{
	enum vg_tsig_alg alg = (enum vg_tsig_alg)_i;
	struct vg_tsig_key k = mkkey(alg);
	uint8_t buf[1024], mac[VG_TSIG_MAC_MAX];
	uint16_t mac_len = 0;
	size_t n = query_wire(buf, sizeof(buf), VG_T_SOA);
	int len = vg_tsig_sign(&k, buf, n, sizeof(buf), NULL, 0, false, (uint64_t)time(NULL), 0,
			       mac, &mac_len);
	ck_assert_int_gt(len, (int)n);
	ck_assert_uint_eq(mac_len, alg == VG_TSIG_HMAC_SHA512 ? 64 :
				   alg == VG_TSIG_HMAC_SHA1 ? 20 : 32);
	ldns_pkt *pkt = NULL;
	ck_assert_int_eq(ldns_wire2pkt(&pkt, buf, (size_t)len), LDNS_STATUS_OK);
	ck_assert(ldns_pkt_tsig_verify(pkt, buf, (size_t)len, KEYNAME, SECRET_B64, NULL));
	/* and our own check agrees */
	struct vg_tsig_info info;
	ck_assert_int_eq(vg_tsig_check(&k, buf, (size_t)len, (uint64_t)time(NULL), &info), 0);
	ck_assert_uint_eq(info.mac_len, mac_len);
	ck_assert_mem_eq(info.mac, mac, mac_len);
	ldns_pkt_free(pkt);
}
END_TEST

/* ldns signs a request; we verify it. */
START_TEST(tsig_ldns_signed_verified)
{
	enum vg_tsig_alg alg = (enum vg_tsig_alg)_i;
	struct vg_tsig_key k = mkkey(alg);
	uint8_t buf[1024], *wire = NULL;
	size_t n = query_wire(buf, sizeof(buf), VG_T_AXFR), wlen = 0;
	ldns_pkt *pkt = NULL;
	ck_assert_int_eq(ldns_wire2pkt(&pkt, buf, n), LDNS_STATUS_OK);
	ck_assert_int_eq(ldns_pkt_tsig_sign(pkt, KEYNAME, SECRET_B64, 300, ldns_alg(alg), NULL),
			 LDNS_STATUS_OK);
	ck_assert_int_eq(ldns_pkt2wire(&wire, pkt, &wlen), LDNS_STATUS_OK);
	struct vg_tsig_info info;
	ck_assert_int_eq(vg_tsig_check(&k, wire, wlen, (uint64_t)time(NULL), &info), 0);
	ck_assert(info.present);
	ck_assert_uint_eq(info.error, 0);
	free(wire);
	ldns_pkt_free(pkt);
}
END_TEST

/* A response we sign with the request's MAC verifies in ldns given that MAC. */
START_TEST(tsig_response_chained_to_request)
{
	struct vg_tsig_key k = mkkey(VG_TSIG_HMAC_SHA256);
	uint8_t q[1024], r[1024], mac[VG_TSIG_MAC_MAX];
	uint16_t mac_len = 0;
	uint64_t now = (uint64_t)time(NULL);
	size_t n = query_wire(q, sizeof(q), VG_T_SOA);
	ck_assert_int_gt(vg_tsig_sign(&k, q, n, sizeof(q), NULL, 0, false, now, 0, mac,
				      &mac_len), 0);
	struct mb *m = malloc(sizeof(*m));
	mb_start(m, 0x1234, RESP, VG_T_SOA);
	mb_soa(m, 7);
	size_t rl = mb_finish(m);
	memcpy(r, m->buf, rl);
	free(m);
	int len = vg_tsig_sign(&k, r, rl, sizeof(r), mac, mac_len, false, now, 0, NULL, NULL);
	ck_assert_int_gt(len, 0);
	uint8_t macrd[2 + VG_TSIG_MAC_MAX];
	vg_put16(macrd, mac_len);
	memcpy(macrd + 2, mac, mac_len);
	ldns_rdf *req_mac = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2u + mac_len, macrd);
	ldns_pkt *pkt = NULL;
	ck_assert_int_eq(ldns_wire2pkt(&pkt, r, (size_t)len), LDNS_STATUS_OK);
	ck_assert(ldns_pkt_tsig_verify(pkt, r, (size_t)len, KEYNAME, SECRET_B64, req_mac));
	/* without the request MAC (or with another) it does not verify */
	ck_assert(!ldns_pkt_tsig_verify(pkt, r, (size_t)len, KEYNAME, SECRET_B64, NULL));
	ldns_rdf_deep_free(req_mac);
	ldns_pkt_free(pkt);
}
END_TEST

static int signed_query(const struct vg_tsig_key *k, uint8_t *buf, size_t cap, uint64_t now)
{
	size_t n = query_wire(buf, cap, VG_T_SOA);
	return vg_tsig_sign(k, buf, n, cap, NULL, 0, false, now, 0, NULL, NULL);
}

/* Tampering: MAC, message, time, key name, algorithm, no TSIG at all. */
START_TEST(tsig_rejects_tampering)
{
	struct vg_tsig_key k = mkkey(VG_TSIG_HMAC_SHA256), other = k;
	struct vg_tsig_info info;
	uint8_t buf[1024], t[1024];
	uint64_t now = (uint64_t)time(NULL);
	int len = signed_query(&k, buf, sizeof(buf), now);
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(vg_tsig_check(&k, buf, (size_t)len, now, &info), 0);

	/* one bit of the MAC (the 6 bytes before the MAC end: orig ID, error, other len) */
	memcpy(t, buf, (size_t)len);
	t[len - 8] ^= 1;
	ck_assert_int_eq(vg_tsig_check(&k, t, (size_t)len, now, &info), VG_ETSIG);
	ck_assert_uint_eq(info.error, VG_TSIG_BADSIG);
	/* one bit of the question */
	memcpy(t, buf, (size_t)len);
	t[VG_HDR_LEN + 1] ^= 0x20;
	ck_assert_int_eq(vg_tsig_check(&k, t, (size_t)len, now, &info), VG_ETSIG);
	ck_assert_uint_eq(info.error, VG_TSIG_BADSIG);
	/* the ID (the original ID in the TSIG record still says 0x1234: that is allowed) */
	memcpy(t, buf, (size_t)len);
	t[0] ^= 0xff;
	ck_assert_int_eq(vg_tsig_check(&k, t, (size_t)len, now, &info), 0);
	/* the time: within the fudge yes, beyond it BADTIME */
	ck_assert_int_eq(vg_tsig_check(&k, buf, (size_t)len, now + 300, &info), 0);
	ck_assert_int_eq(vg_tsig_check(&k, buf, (size_t)len, now + 301, &info), VG_ETSIG);
	ck_assert_uint_eq(info.error, VG_TSIG_BADTIME);
	ck_assert_int_eq(vg_tsig_check(&k, buf, (size_t)len, now - 301, &info), VG_ETSIG);
	ck_assert_uint_eq(info.error, VG_TSIG_BADTIME);
	/* another secret */
	other.secret[0] ^= 1;
	ck_assert_int_eq(vg_tsig_check(&other, buf, (size_t)len, now, &info), VG_ETSIG);
	ck_assert_uint_eq(info.error, VG_TSIG_BADSIG);
	/* another key name, another algorithm, no key */
	other = k;
	name("other-key.", other.name);
	ck_assert_int_eq(vg_tsig_check(&other, buf, (size_t)len, now, &info), VG_ETSIG);
	ck_assert_uint_eq(info.error, VG_TSIG_BADKEY);
	other = k;
	other.alg = VG_TSIG_HMAC_SHA512;
	ck_assert_int_eq(vg_tsig_check(&other, buf, (size_t)len, now, &info), VG_ETSIG);
	ck_assert_uint_eq(info.error, VG_TSIG_BADKEY);
	ck_assert_int_eq(vg_tsig_check(NULL, buf, (size_t)len, now, &info), VG_ETSIG);
	ck_assert_uint_eq(info.error, VG_TSIG_BADKEY);
	/* unsigned */
	size_t n = query_wire(t, sizeof(t), VG_T_SOA);
	ck_assert_int_eq(vg_tsig_check(&k, t, n, now, &info), VG_ENOTFOUND);
	/* truncated anywhere: malformed or unsigned, never accepted */
	for (int cut = 0; cut < len; cut++)
		ck_assert_int_ne(vg_tsig_check(&k, buf, (size_t)cut, now, &info), 0);
	/* a TSIG record that is not the last record */
	memcpy(t, buf, (size_t)len);
	vg_put16(t + 10, (uint16_t)(vg_get16(t + 10) + 1)); /* ARCOUNT says one more after it */
	ck_assert_int_eq(vg_tsig_check(&k, t, (size_t)len, now, &info), VG_EMALFORMED);
}
END_TEST

/* The error record of a BADSIG reply: unsigned, naming the request's key. */
START_TEST(tsig_error_record)
{
	struct vg_tsig_key k = mkkey(VG_TSIG_HMAC_SHA256), other = k;
	struct vg_tsig_info info;
	uint8_t buf[1024], r[1024];
	uint64_t now = (uint64_t)time(NULL);
	int len = signed_query(&k, buf, sizeof(buf), now);
	other.secret[3] ^= 4;
	ck_assert_int_eq(vg_tsig_check(&other, buf, (size_t)len, now, &info), VG_ETSIG);
	memcpy(r, buf, VG_HDR_LEN);
	vg_put16(r + 2, VG_F_QR | VG_RCODE_NOTAUTH);
	memset(r + 4, 0, 8);
	int n = vg_tsig_error_rr(r, VG_HDR_LEN, sizeof(r), &info, now);
	ck_assert_int_gt(n, VG_HDR_LEN);
	ldns_pkt *pkt = NULL;
	ck_assert_int_eq(ldns_wire2pkt(&pkt, r, (size_t)n), LDNS_STATUS_OK);
	ldns_rr *tsig = ldns_pkt_tsig(pkt);
	ck_assert_ptr_nonnull(tsig);
	ck_assert_int_eq(ldns_rdf2native_int16(ldns_rr_rdf(tsig, 5)), VG_TSIG_BADSIG);
	ldns_pkt_free(pkt);
}
END_TEST

/* ------------------------------------------------------------ TSIG streams */

/* Three messages, each signed by ldns (the first with the request MAC). */
START_TEST(tsig_stream_all_signed_by_ldns)
{
	struct vg_tsig_key k = mkkey(VG_TSIG_HMAC_SHA256);
	struct vg_tsig_stream s;
	uint8_t q[1024], mac[VG_TSIG_MAC_MAX];
	uint16_t mac_len = 0;
	uint64_t now = (uint64_t)time(NULL);
	size_t n = query_wire(q, sizeof(q), VG_T_AXFR);
	ck_assert_int_gt(vg_tsig_sign(&k, q, n, sizeof(q), NULL, 0, false, now, 0, mac,
				      &mac_len), 0);
	ck_assert_int_eq(vg_tsig_stream_init(&s, &k, mac, mac_len), 0);
	uint8_t macrd[2 + VG_TSIG_MAC_MAX];
	vg_put16(macrd, mac_len);
	memcpy(macrd + 2, mac, mac_len);
	ldns_rdf *prior = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2u + mac_len, macrd);
	struct mb *m = malloc(sizeof(*m));
	for (int i = 0; i < 3; i++) {
		mb_start(m, 0x1234, RESP, i == 0 ? VG_T_AXFR : 0);
		if (i == 0)
			mb_soa(m, 5);
		char l[16];
		snprintf(l, sizeof(l), "r%d", i);
		mb_rule(m, l);
		size_t rl = mb_finish(m);
		ldns_pkt *pkt = NULL;
		uint8_t *wire = NULL;
		size_t wlen = 0;
		ck_assert_int_eq(ldns_wire2pkt(&pkt, m->buf, rl), LDNS_STATUS_OK);
		ck_assert_int_eq(ldns_pkt_tsig_sign_next(pkt, KEYNAME, SECRET_B64, 300,
							 "hmac-sha256.", prior, i > 0),
				 LDNS_STATUS_OK);
		ck_assert_int_eq(ldns_pkt2wire(&wire, pkt, &wlen), LDNS_STATUS_OK);
		ck_assert_int_eq(vg_tsig_stream_next(&s, wire, wlen, now), 0);
		ck_assert(s.last_signed);
		/* the next message chains from this one's MAC */
		ldns_rdf_deep_free(prior);
		prior = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(pkt), 3));
		free(wire);
		ldns_pkt_free(pkt);
	}
	ldns_rdf_deep_free(prior);
	free(m);
	vg_tsig_stream_deinit(&s);
}
END_TEST

/*
 * RFC 8945 §5.3.1 by hand: the signed message after unsigned ones covers
 * the prior MAC, every unsigned message whole, itself without TSIG, and its
 * timers.  Returns the length of @p msg with its TSIG record appended.
 */
static size_t sign_after_unsigned(const struct vg_tsig_key *k, const uint8_t *prior,
				  uint16_t prior_len, uint8_t *const *unsig, const size_t *ulen,
				  int nunsig, uint8_t *msg, size_t len, uint64_t now,
				  uint8_t *mac_out, uint16_t *mac_len_out)
{
	size_t total = 2 + prior_len + len + 8;
	for (int i = 0; i < nunsig; i++)
		total += ulen[i];
	uint8_t *d = malloc(total), *p = d;
	vg_put16(p, prior_len);
	memcpy(p + 2, prior, prior_len);
	p += 2 + prior_len;
	for (int i = 0; i < nunsig; i++) {
		memcpy(p, unsig[i], ulen[i]);
		p += ulen[i];
	}
	memcpy(p, msg, len);
	p += len;
	vg_put16(p, (uint16_t)(now >> 32));
	vg_put32(p + 2, (uint32_t)now);
	vg_put16(p + 6, 300);
	p += 8;
	uint8_t mac[64];
	size_t mlen = 0;
	ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k->secret,
					k->secret_len, d, (size_t)(p - d), mac, sizeof(mac),
					&mlen));
	free(d);
	/* the record */
	uint8_t *r = msg + len;
	size_t kl = vg_name_len(k->name);
	memcpy(r, k->name, kl);
	r += kl;
	vg_put16(r, VG_T_TSIG);
	vg_put16(r + 2, VG_C_ANY);
	vg_put32(r + 4, 0);
	uint8_t *rdlen = r + 8;
	r += 10;
	uint8_t *rd = r;
	memcpy(r, "\013hmac-sha256", 13);
	r += 13;
	vg_put16(r, (uint16_t)(now >> 32));
	vg_put32(r + 2, (uint32_t)now);
	vg_put16(r + 6, 300);
	vg_put16(r + 8, (uint16_t)mlen);
	memcpy(r + 10, mac, mlen);
	r += 10 + mlen;
	vg_put16(r, vg_get16(msg));
	vg_put16(r + 2, 0);
	vg_put16(r + 4, 0);
	r += 6;
	vg_put16(rdlen, (uint16_t)(r - rd));
	vg_put16(msg + 10, (uint16_t)(vg_get16(msg + 10) + 1));
	memcpy(mac_out, mac, mlen);
	*mac_len_out = (uint16_t)mlen;
	return (size_t)(r - msg);
}

/* One message of a signed transfer stream: 0x1234, answer records r<i>. */
static size_t stream_msg(uint8_t *out, int i)
{
	struct mb *m = malloc(sizeof(*m));
	char l[16];
	mb_start(m, 0x1234, RESP, 0);
	snprintf(l, sizeof(l), "u%d", i);
	mb_rule(m, l);
	size_t n = mb_finish(m);
	memcpy(out, m->buf, n);
	free(m);
	return n;
}

START_TEST(tsig_stream_unsigned_between)
{
	struct vg_tsig_key k = mkkey(VG_TSIG_HMAC_SHA256);
	struct vg_tsig_stream s;
	uint8_t reqmac[VG_TSIG_MAC_MAX], mac1[VG_TSIG_MAC_MAX], mac[VG_TSIG_MAC_MAX];
	uint8_t first[1024], last[1024], *u[3];
	uint16_t reqmac_len = 0, mac1_len = 0, mac_len = 0;
	size_t ul[3];
	uint64_t now = (uint64_t)time(NULL);
	/* the request and a first response signed by us */
	size_t n = query_wire(first, sizeof(first), VG_T_AXFR);
	ck_assert_int_gt(vg_tsig_sign(&k, first, n, sizeof(first), NULL, 0, false, now, 0,
				      reqmac, &reqmac_len), 0);
	n = stream_msg(first, 0);
	int fl = vg_tsig_sign(&k, first, n, sizeof(first), reqmac, reqmac_len, false, now, 0,
			      mac1, &mac1_len);
	ck_assert_int_gt(fl, 0);
	/* three unsigned, then a signed one covering them (signed by hand) */
	for (int i = 0; i < 3; i++) {
		u[i] = malloc(1024);
		ul[i] = stream_msg(u[i], i + 1);
	}
	n = stream_msg(last, 9);
	size_t ll = sign_after_unsigned(&k, mac1, mac1_len, u, ul, 3, last, n, now, mac, &mac_len);

	for (int tamper = 0; tamper < 2; tamper++) {
		ck_assert_int_eq(vg_tsig_stream_init(&s, &k, reqmac, reqmac_len), 0);
		ck_assert_int_eq(vg_tsig_stream_next(&s, first, (size_t)fl, now), 0);
		ck_assert(s.last_signed);
		for (int i = 0; i < 3; i++) {
			if (tamper && i == 1)
				u[i][ul[i] - 1] ^= 1; /* altered on the way */
			ck_assert_int_eq(vg_tsig_stream_next(&s, u[i], ul[i], now), 0);
			ck_assert(!s.last_signed);
		}
		ck_assert_int_eq(vg_tsig_stream_next(&s, last, ll, now), tamper ? VG_ETSIG : 0);
		if (!tamper) {
			ck_assert(s.last_signed);
			ck_assert_mem_eq(s.mac, mac, mac_len);
		} else {
			ck_assert_uint_eq(s.error, VG_TSIG_BADSIG);
		}
		vg_tsig_stream_deinit(&s);
	}
	for (int i = 0; i < 3; i++)
		free(u[i]);
}
END_TEST

START_TEST(tsig_stream_limits)
{
	struct vg_tsig_key k = mkkey(VG_TSIG_HMAC_SHA256);
	struct vg_tsig_stream s;
	uint8_t mac[VG_TSIG_MAC_MAX], msg[1024];
	uint16_t mac_len = 0;
	uint64_t now = (uint64_t)time(NULL);
	size_t n = query_wire(msg, sizeof(msg), VG_T_AXFR);
	ck_assert_int_gt(vg_tsig_sign(&k, msg, n, sizeof(msg), NULL, 0, false, now, 0, mac,
				      &mac_len), 0);
	/* the first message unsigned: refused */
	ck_assert_int_eq(vg_tsig_stream_init(&s, &k, mac, mac_len), 0);
	n = stream_msg(msg, 0);
	ck_assert_int_eq(vg_tsig_stream_next(&s, msg, n, now), VG_ETSIG);
	vg_tsig_stream_deinit(&s);
	/* signed first, then 99 unsigned are fine, the 100th is not */
	ck_assert_int_eq(vg_tsig_stream_init(&s, &k, mac, mac_len), 0);
	int fl = vg_tsig_sign(&k, msg, n, sizeof(msg), mac, mac_len, false, now, 0, NULL, NULL);
	ck_assert_int_eq(vg_tsig_stream_next(&s, msg, (size_t)fl, now), 0);
	n = stream_msg(msg, 1);
	for (int i = 0; i < VG_TSIG_MAX_UNSIGNED; i++)
		ck_assert_int_eq(vg_tsig_stream_next(&s, msg, n, now), 0);
	ck_assert_int_eq(vg_tsig_stream_next(&s, msg, n, now), VG_ETSIG);
	vg_tsig_stream_deinit(&s);
	/* a response signed by someone else (its MAC does not chain from our request) */
	ck_assert_int_eq(vg_tsig_stream_init(&s, &k, mac, mac_len), 0);
	n = stream_msg(msg, 2);
	uint8_t other[VG_TSIG_MAC_MAX] = { 1, 2, 3 };
	fl = vg_tsig_sign(&k, msg, n, sizeof(msg), other, mac_len, false, now, 0, NULL, NULL);
	ck_assert_int_eq(vg_tsig_stream_next(&s, msg, (size_t)fl, now), VG_ETSIG);
	ck_assert_uint_eq(s.error, VG_TSIG_BADSIG);
	vg_tsig_stream_deinit(&s);
}
END_TEST

/* ------------------------------------------------------------ transfers */

struct xfr_case {
	struct vg_xfr x;
	uint8_t q[1024];
	int qlen;
};

static void start(struct xfr_case *c, enum vg_xfr_kind kind, uint32_t serial,
		  const struct vg_tsig_key *key)
{
	uint8_t z[VG_NAME_MAX];
	name(ZONE, z);
	ck_assert_int_eq(vg_xfr_init(&c->x, kind, z, serial, key), 0);
	c->qlen = vg_xfr_query(&c->x, c->q, sizeof(c->q), (uint64_t)time(NULL));
	ck_assert_int_gt(c->qlen, 0);
}

START_TEST(query_forms)
{
	struct xfr_case c;
	struct vg_msg *m = malloc(sizeof(*m));
	start(&c, VG_XFR_IXFR, 41, NULL);
	ck_assert_int_eq(vg_msg_parse(m, c.q, (size_t)c.qlen), 0);
	ck_assert_uint_eq(m->qtype, VG_T_IXFR);
	ck_assert_uint_eq(m->nscount, 1); /* our version: an SOA in the authority section */
	const struct vg_rr *soa = &m->rr[m->sec_start[VG_SEC_NS]];
	ck_assert_uint_eq(soa->type, VG_T_SOA);
	ck_assert_uint_eq(vg_get32(c.q + soa->rdata + 2), 41);
	ck_assert_uint_eq(m->id, c.x.id);
	vg_xfr_deinit(&c.x);
	/* signed AXFR: ldns verifies it */
	struct vg_tsig_key k = mkkey(VG_TSIG_HMAC_SHA256);
	start(&c, VG_XFR_AXFR, 0, &k);
	ldns_pkt *pkt = NULL;
	ck_assert_int_eq(ldns_wire2pkt(&pkt, c.q, (size_t)c.qlen), LDNS_STATUS_OK);
	ck_assert(ldns_pkt_tsig_verify(pkt, c.q, (size_t)c.qlen, KEYNAME, SECRET_B64, NULL));
	ck_assert_int_eq(ldns_pkt_get_opcode(pkt), LDNS_PACKET_QUERY);
	ck_assert_int_eq(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_question(pkt), 0)),
			 LDNS_RR_TYPE_AXFR);
	ldns_pkt_free(pkt);
	vg_xfr_deinit(&c.x);
	free(m);
}
END_TEST

START_TEST(axfr_in_several_messages)
{
	struct xfr_case c;
	struct mb *m = malloc(sizeof(*m));
	uint64_t now = (uint64_t)time(NULL);
	start(&c, VG_XFR_AXFR, 0, NULL);
	mb_start(m, c.x.id, RESP, VG_T_AXFR);
	mb_soa(m, 10);
	mb_rr(m, ZONE, VG_T_NS, (const uint8_t *)"\11localhost", 11);
	mb_rule(m, "a");
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), 0);
	mb_start(m, c.x.id, RESP, 0); /* later messages may leave the question out */
	mb_rule(m, "b");
	mb_rule(m, "*.c");
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), 0);
	mb_start(m, c.x.id, RESP, VG_T_AXFR);
	mb_rule(m, "b"); /* a duplicate is harmless */
	mb_soa(m, 10);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), 1);
	ck_assert_int_eq(c.x.result, VG_XFR_FULL);
	ck_assert_uint_eq(c.x.new_serial, 10);
	struct vg_xfr_zone z;
	mkzone(&z, 3, (const char *const[]){ "old", NULL });
	ck_assert_int_eq(vg_xfr_apply(&c.x, &z), 0);
	ck_assert_uint_eq(z.serial, 10);
	ck_assert_uint_eq(vg_xfr_zone_count(&z), 5); /* SOA, NS, a, b, *.c */
	ck_assert(has_rule(&z, "a") && has_rule(&z, "b") && has_rule(&z, "*.c"));
	ck_assert(!has_rule(&z, "old"));
	vg_xfr_zone_deinit(&z);
	vg_xfr_deinit(&c.x);
	free(m);
}
END_TEST

START_TEST(ixfr_up_to_date)
{
	struct xfr_case c;
	struct mb *m = malloc(sizeof(*m));
	uint64_t now = (uint64_t)time(NULL);
	start(&c, VG_XFR_IXFR, 7, NULL);
	mb_start(m, c.x.id, RESP, VG_T_IXFR);
	mb_soa(m, 7);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), 1);
	ck_assert_int_eq(c.x.result, VG_XFR_UPTODATE);
	struct vg_xfr_zone z;
	mkzone(&z, 7, (const char *const[]){ "a", NULL });
	ck_assert_int_eq(vg_xfr_apply(&c.x, &z), 0);
	ck_assert_uint_eq(vg_xfr_zone_count(&z), 2);
	vg_xfr_zone_deinit(&z);
	vg_xfr_deinit(&c.x);
	/* a primary with an older serial also answers with its SOA alone */
	start(&c, VG_XFR_IXFR, 9, NULL);
	mb_start(m, c.x.id, RESP, VG_T_IXFR);
	mb_soa(m, 8);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), 1);
	ck_assert_int_eq(c.x.result, VG_XFR_UPTODATE);
	ck_assert_uint_eq(c.x.new_serial, 8);
	vg_xfr_deinit(&c.x);
	/* SOA query */
	start(&c, VG_XFR_SOA, 0, NULL);
	mb_start(m, c.x.id, RESP, VG_T_SOA);
	mb_soa(m, 12);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), 1);
	ck_assert_uint_eq(c.x.new_serial, 12);
	vg_xfr_deinit(&c.x);
	free(m);
}
END_TEST

/*
 * IXFR from -> from+1 (-a +c), from+1 -> from+2 (-c -b +d +e): applied to a
 * zone at 1 {a, b, keep} (from = 1) it gives 3 {keep, d, e}.
 */
static void ixfr_two_steps(struct mb *m, uint16_t id, uint32_t from)
{
	mb_start(m, id, RESP, VG_T_IXFR);
	mb_soa(m, from + 2);
	mb_soa(m, from);
	mb_rule(m, "a");
	mb_soa(m, from + 1);
	mb_rule(m, "c");
	mb_soa(m, from + 1);
	mb_rule(m, "c");
	mb_rule(m, "b");
	mb_soa(m, from + 2);
	mb_rule(m, "d");
	mb_rule(m, "e");
	mb_soa(m, from + 2);
}

START_TEST(ixfr_incremental)
{
	struct xfr_case c;
	struct mb *m = malloc(sizeof(*m));
	uint64_t now = (uint64_t)time(NULL);
	struct vg_xfr_zone z;
	mkzone(&z, 1, (const char *const[]){ "a", "b", "keep", NULL });
	start(&c, VG_XFR_IXFR, 1, NULL);
	ixfr_two_steps(m, c.x.id, 1);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), 1);
	ck_assert_int_eq(c.x.result, VG_XFR_INCR);
	ck_assert_uint_eq(c.x.added, 3);
	ck_assert_uint_eq(c.x.deleted, 3);
	ck_assert_int_eq(vg_xfr_apply(&c.x, &z), 0);
	ck_assert_uint_eq(z.serial, 3);
	ck_assert_uint_eq(vg_xfr_zone_count(&z), 4);
	ck_assert(has_rule(&z, "keep") && has_rule(&z, "d") && has_rule(&z, "e"));
	ck_assert(!has_rule(&z, "a") && !has_rule(&z, "b") && !has_rule(&z, "c"));
	vg_xfr_deinit(&c.x);
	vg_xfr_zone_deinit(&z);
	free(m);
}
END_TEST

/* What a failed apply must leave: the zone exactly as before. */
static void assert_unchanged(struct vg_xfr_zone *z)
{
	ck_assert_uint_eq(z->serial, 1);
	ck_assert_uint_eq(vg_xfr_zone_count(z), 4);
	ck_assert(has_rule(z, "a") && has_rule(z, "b") && has_rule(z, "keep"));
	ck_assert(!has_rule(z, "c") && !has_rule(z, "d"));
}

START_TEST(ixfr_wrong_serial_and_missing_record)
{
	struct xfr_case c;
	struct mb *m = malloc(sizeof(*m));
	uint64_t now = (uint64_t)time(NULL);
	struct vg_xfr_zone z;
	mkzone(&z, 1, (const char *const[]){ "a", "b", "keep", NULL });

	/* we asked from serial 5 (say the copy on disk was older than we thought) */
	start(&c, VG_XFR_IXFR, 5, NULL);
	ixfr_two_steps(m, c.x.id, 5);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), 1);
	ck_assert_int_eq(vg_xfr_apply(&c.x, &z), VG_EINVAL);
	ck_assert_ptr_nonnull(strstr(c.x.why, "serial"));
	assert_unchanged(&z);
	vg_xfr_deinit(&c.x);

	/* the second step deletes a record we never had: the first step is undone too */
	start(&c, VG_XFR_IXFR, 1, NULL);
	mb_start(m, c.x.id, RESP, VG_T_IXFR);
	mb_soa(m, 3);
	mb_soa(m, 1);
	mb_rule(m, "a");
	mb_soa(m, 2);
	mb_rule(m, "c");
	mb_soa(m, 2);
	mb_rule(m, "b");
	mb_rule(m, "never-had");
	mb_soa(m, 3);
	mb_rule(m, "d");
	mb_soa(m, 3);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), 1);
	ck_assert_int_eq(vg_xfr_apply(&c.x, &z), VG_EINVAL);
	ck_assert_ptr_nonnull(strstr(c.x.why, "deletes"));
	assert_unchanged(&z);
	vg_xfr_deinit(&c.x);

	/* and the zone still takes a good IXFR after that */
	start(&c, VG_XFR_IXFR, 1, NULL);
	ixfr_two_steps(m, c.x.id, 1);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), 1);
	ck_assert_int_eq(vg_xfr_apply(&c.x, &z), 0);
	ck_assert_uint_eq(z.serial, 3);
	vg_xfr_deinit(&c.x);
	vg_xfr_zone_deinit(&z);
	free(m);
}
END_TEST

START_TEST(ixfr_answered_in_axfr_form)
{
	struct xfr_case c;
	struct mb *m = malloc(sizeof(*m));
	uint64_t now = (uint64_t)time(NULL);
	struct vg_xfr_zone z;
	mkzone(&z, 1, (const char *const[]){ "a", NULL });
	start(&c, VG_XFR_IXFR, 1, NULL);
	mb_start(m, c.x.id, RESP, VG_T_IXFR);
	mb_soa(m, 9);
	mb_rr(m, ZONE, VG_T_NS, (const uint8_t *)"\11localhost", 11);
	mb_rule(m, "x");
	mb_soa(m, 9);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), 1);
	ck_assert_int_eq(c.x.result, VG_XFR_FULL);
	ck_assert_int_eq(vg_xfr_apply(&c.x, &z), 0);
	ck_assert_uint_eq(z.serial, 9);
	ck_assert(has_rule(&z, "x") && !has_rule(&z, "a"));
	vg_xfr_deinit(&c.x);
	vg_xfr_zone_deinit(&z);
	free(m);
}
END_TEST

/* A signed AXFR: the last message must be signed; a wrong MAC fails. */
START_TEST(signed_transfer)
{
	struct vg_tsig_key k = mkkey(VG_TSIG_HMAC_SHA256);
	struct xfr_case c;
	struct mb *m = malloc(sizeof(*m));
	uint64_t now = (uint64_t)time(NULL);
	uint8_t mac[VG_TSIG_MAC_MAX], reqmac[VG_TSIG_MAC_MAX];
	uint16_t mac_len = 0, reqmac_len;
	start(&c, VG_XFR_AXFR, 0, &k);
	/* the request MAC: as the primary sees it */
	struct vg_tsig_info info;
	ck_assert_int_eq(vg_tsig_check(&k, c.q, (size_t)c.qlen, now, &info), 0);
	memcpy(reqmac, info.mac, info.mac_len);
	reqmac_len = info.mac_len;
	mb_start(m, c.x.id, RESP, VG_T_AXFR);
	mb_soa(m, 4);
	mb_rule(m, "a");
	int n = vg_tsig_sign(&k, m->buf, mb_finish(m), sizeof(m->buf), reqmac, reqmac_len,
			     false, now, 0, mac, &mac_len);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, (size_t)n, now), 0);
	/* unsigned last message: not complete */
	mb_start(m, c.x.id, RESP, VG_T_AXFR);
	mb_soa(m, 4);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), VG_ETSIG);
	ck_assert_ptr_nonnull(strstr(c.x.why, "unsigned"));
	vg_xfr_deinit(&c.x);

	/* the server's BADSIG (NOTAUTH with a TSIG error) */
	start(&c, VG_XFR_AXFR, 0, &k);
	mb_start(m, c.x.id, VG_F_QR | VG_RCODE_NOTAUTH, VG_T_AXFR);
	n = (int)mb_finish(m);
	struct vg_tsig_info bad = info;
	bad.error = VG_TSIG_BADSIG;
	n = vg_tsig_error_rr(m->buf, (size_t)n, sizeof(m->buf), &bad, now);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, (size_t)n, now), VG_ETSIG);
	ck_assert_ptr_nonnull(strstr(c.x.why, "BADSIG"));
	vg_xfr_deinit(&c.x);

	/* REFUSED */
	start(&c, VG_XFR_AXFR, 0, &k);
	mb_start(m, c.x.id, VG_F_QR | VG_RCODE_REFUSED, VG_T_AXFR);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), VG_ERCODE);
	ck_assert_int_eq(c.x.rcode, VG_RCODE_REFUSED);
	ck_assert_ptr_nonnull(strstr(c.x.why, "REFUSED"));
	vg_xfr_deinit(&c.x);
	free(m);
}
END_TEST

START_TEST(malformed_transfers)
{
	struct xfr_case c;
	struct mb *m = malloc(sizeof(*m));
	uint64_t now = (uint64_t)time(NULL);
	/* another ID */
	start(&c, VG_XFR_AXFR, 0, NULL);
	mb_start(m, (uint16_t)(c.x.id + 1), RESP, VG_T_AXFR);
	mb_soa(m, 1);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), VG_EMALFORMED);
	vg_xfr_deinit(&c.x);
	/* not a response */
	start(&c, VG_XFR_AXFR, 0, NULL);
	mb_start(m, c.x.id, 0, VG_T_AXFR);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), VG_EMALFORMED);
	vg_xfr_deinit(&c.x);
	/* the first record is not the SOA */
	start(&c, VG_XFR_AXFR, 0, NULL);
	mb_start(m, c.x.id, RESP, VG_T_AXFR);
	mb_rule(m, "a");
	mb_soa(m, 1);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), VG_EMALFORMED);
	vg_xfr_deinit(&c.x);
	/* an empty first message */
	start(&c, VG_XFR_AXFR, 0, NULL);
	mb_start(m, c.x.id, RESP, VG_T_AXFR);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), VG_EMALFORMED);
	vg_xfr_deinit(&c.x);
	/* records after the closing SOA */
	start(&c, VG_XFR_AXFR, 0, NULL);
	mb_start(m, c.x.id, RESP, VG_T_AXFR);
	mb_soa(m, 1);
	mb_soa(m, 1);
	mb_rule(m, "late");
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), VG_EMALFORMED);
	vg_xfr_deinit(&c.x);
	/* closing SOA with another serial */
	start(&c, VG_XFR_AXFR, 0, NULL);
	mb_start(m, c.x.id, RESP, VG_T_AXFR);
	mb_soa(m, 1);
	mb_soa(m, 2);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), VG_EMALFORMED);
	vg_xfr_deinit(&c.x);
	/* the answer to another question */
	start(&c, VG_XFR_IXFR, 1, NULL);
	mb_start(m, c.x.id, RESP, VG_T_AXFR);
	mb_soa(m, 1);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), VG_EMALFORMED);
	vg_xfr_deinit(&c.x);
	/* an IXFR step that goes backwards */
	start(&c, VG_XFR_IXFR, 5, NULL);
	mb_start(m, c.x.id, RESP, VG_T_IXFR);
	mb_soa(m, 6);
	mb_soa(m, 5);
	mb_soa(m, 4);
	ck_assert_int_eq(vg_xfr_consume(&c.x, m->buf, mb_finish(m), now), VG_EMALFORMED);
	vg_xfr_deinit(&c.x);
	/* every truncation of a good AXFR message: an error or "more", never a crash */
	start(&c, VG_XFR_AXFR, 0, NULL);
	mb_start(m, c.x.id, RESP, VG_T_AXFR);
	mb_soa(m, 1);
	mb_rule(m, "a");
	mb_rule(m, "b");
	mb_soa(m, 1);
	size_t full = mb_finish(m);
	vg_xfr_deinit(&c.x);
	for (size_t cut = 0; cut < full; cut++) {
		start(&c, VG_XFR_AXFR, 0, NULL);
		vg_put16(m->buf, c.x.id);
		ck_assert_int_ne(vg_xfr_consume(&c.x, m->buf, cut, now), 1);
		vg_xfr_deinit(&c.x);
	}
	free(m);
}
END_TEST

/* Random corruption of IXFR and AXFR answers (signed and not): no crash, no leak. */
START_TEST(corrupted_transfers_never_crash)
{
	struct vg_tsig_key k = mkkey(VG_TSIG_HMAC_SHA256);
	struct mb *m = malloc(sizeof(*m));
	uint8_t *bad = malloc(65535);
	uint64_t now = (uint64_t)time(NULL);
	srand(12345);
	for (int round = 0; round < 3000; round++) {
		struct xfr_case c;
		bool ixfr = round % 2, sign = round % 3 == 0;
		start(&c, ixfr ? VG_XFR_IXFR : VG_XFR_AXFR, 1, sign ? &k : NULL);
		if (ixfr) {
			ixfr_two_steps(m, c.x.id, 1);
		} else {
			mb_start(m, c.x.id, RESP, VG_T_AXFR);
			mb_soa(m, 2);
			mb_rule(m, "a");
			mb_rr(m, "txt." ZONE, VG_T_TXT, (const uint8_t *)"\3abc", 4);
			mb_soa(m, 2);
		}
		size_t n = mb_finish(m);
		memcpy(bad, m->buf, n);
		int flips = 1 + rand() % 6;
		for (int f = 0; f < flips; f++) {
			size_t at = (size_t)rand() % n;
			bad[at] = (uint8_t)(rand() % 3 == 0 ? 0xc0 | (rand() & 0x3f) : rand());
		}
		if (rand() % 4 == 0)
			n = (size_t)rand() % n;
		int r = vg_xfr_consume(&c.x, bad, n, now);
		ck_assert(r <= 1);
		if (r == 0) /* more expected: a second message, corrupted as well */
			r = vg_xfr_consume(&c.x, bad, n, now);
		if (r == 1) {
			struct vg_xfr_zone z;
			mkzone(&z, 1, (const char *const[]){ "a", "b", "keep", NULL });
			vg_xfr_apply(&c.x, &z);
			vg_xfr_zone_deinit(&z);
		}
		vg_xfr_deinit(&c.x);
	}
	free(bad);
	free(m);
}
END_TEST

/* ------------------------------------------------------------ zone files */

START_TEST(zone_file_round_trip)
{
	struct vg_xfr_zone z, back;
	uint8_t zn[VG_NAME_MAX], o[VG_NAME_MAX];
	mkzone(&z, 2026112201u, (const char *const[]){ "a", "*.b", "c.d", NULL });
	name(ZONE, zn);
	name("txt." ZONE, o);
	ck_assert_int_eq(vg_xfr_zone_add(&z, vg_xfr_rr_new(o, VG_T_TXT, VG_C_IN, 60,
							   (const uint8_t *)"\5a \"b;", 6)), 0);
	name("32.1.2.0.192.rpz-ip." ZONE, o);
	ck_assert_int_eq(vg_xfr_zone_add(&z, vg_xfr_rr_new(o, VG_T_CNAME, VG_C_IN, 60,
							   (const uint8_t *)"\1*", 3)), 0);
	name("odd." ZONE, o); /* a type ldns does not know */
	ck_assert_int_eq(vg_xfr_zone_add(&z, vg_xfr_rr_new(o, 65400, VG_C_IN, 60,
							   (const uint8_t *)"\x01\x02", 2)), 0);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_assert_int_eq(vg_xfr_zone_write(&z, f, "test copy"), 0);
	fclose(f);
	ck_assert_msg(!strncmp(text, "; test copy\nrpz.example.\t", 25), "%s", text);
	f = fmemopen(text, len, "r");
	const char *why = "unset";
	ck_assert_int_eq(vg_xfr_zone_init(&back, zn), 0);
	ck_assert_msg(vg_xfr_zone_read(&back, f, &why) == 0, "%s\n%s", why, text);
	fclose(f);
	ck_assert_uint_eq(back.serial, 2026112201u);
	ck_assert_uint_eq(back.refresh, 2);
	ck_assert_uint_eq(back.retry, 3);
	ck_assert_uint_eq(vg_xfr_zone_count(&back), vg_xfr_zone_count(&z));
	/* the same records, in the same order */
	const struct vg_xfr_rr *a = z.head, *b = back.head;
	for (; a && b; a = a->next, b = b->next) {
		ck_assert_uint_eq(a->type, b->type);
		ck_assert_uint_eq(a->ttl, b->ttl);
		ck_assert_uint_eq(a->rdlen, b->rdlen);
		ck_assert_mem_eq(a->data, b->data, (size_t)a->owner_len + a->rdlen);
	}
	ck_assert(!a && !b);
	vg_xfr_zone_deinit(&back);
	vg_xfr_zone_deinit(&z);
	free(text);

	/* not a zone: no SOA first */
	static const char notzone[] = "a.rpz.example. 60 IN CNAME .\n";
	f = fmemopen((void *)notzone, sizeof(notzone) - 1, "r");
	ck_assert_int_eq(vg_xfr_zone_init(&back, zn), 0);
	ck_assert_int_eq(vg_xfr_zone_read(&back, f, &why), VG_EPARSE);
	ck_assert_ptr_nonnull(why);
	fclose(f);
	vg_xfr_zone_deinit(&back);
}
END_TEST

static Suite *xfr_suite(void)
{
	Suite *s = suite_create("xfr");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, serial_arithmetic);
	tcase_add_loop_test(tc, tsig_sign_verified_by_ldns, 0, 3);
	tcase_add_loop_test(tc, tsig_ldns_signed_verified, 0, 3);
	tcase_add_test(tc, tsig_response_chained_to_request);
	tcase_add_test(tc, tsig_rejects_tampering);
	tcase_add_test(tc, tsig_error_record);
	tcase_add_test(tc, tsig_stream_all_signed_by_ldns);
	tcase_add_test(tc, tsig_stream_unsigned_between);
	tcase_add_test(tc, tsig_stream_limits);
	tcase_add_test(tc, query_forms);
	tcase_add_test(tc, axfr_in_several_messages);
	tcase_add_test(tc, ixfr_up_to_date);
	tcase_add_test(tc, ixfr_incremental);
	tcase_add_test(tc, ixfr_wrong_serial_and_missing_record);
	tcase_add_test(tc, ixfr_answered_in_axfr_form);
	tcase_add_test(tc, signed_transfer);
	tcase_add_test(tc, malformed_transfers);
	tcase_add_test(tc, corrupted_transfers_never_crash);
	tcase_add_test(tc, zone_file_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return vg_test_run(xfr_suite());
}
