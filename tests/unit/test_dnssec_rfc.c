/* SPDX-License-Identifier: MIT
 *
 * DNSSEC primitives against the examples printed in the RFCs, typed in from
 * the documents rather than made by a signer: RSA/SHA-256 and RSA/SHA-512
 * (RFC 5702 section 6), ECDSA P-256 and P-384 (RFC 6605 section 6), Ed25519
 * and Ed448 (RFC 8080 section 6, as corrected by erratum 4935), the NSEC3
 * hashes and the NSEC3 chain of the RFC 5155 appendix A zone with the proofs
 * of appendix B, and the canonical RR form of RFC 4034 section 6.2 (as
 * updated by RFC 6840 section 5.1).
 *
 * test_dnssec.c covers the same functions with zones signed by ldns; what this
 * file adds is an authority other than ldns for every expected value.  ldns
 * turns presentation format into wire form here, and gives second opinions
 * (its verifier, key tags and NSEC3 hashes) where it can.
 */
#include <check.h>

#include "check_main.h"
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>
#include <openssl/err.h>
#include <sodium.h>

#include "dnssec/dnssec.h"

static uint8_t scratch[65536];

static ldns_rr *rr_new(const char *s)
{
	ldns_rr *rr = NULL;
	ldns_status st = ldns_rr_new_frm_str(&rr, s, 3600, NULL, NULL);
	ck_assert_msg(st == LDNS_STATUS_OK, "%s: %s", s, ldns_get_errorstr_by_id(st));
	return rr;
}

/* rdata of @p rr in uncompressed wire form, case kept as written */
static size_t rdata_wire(const ldns_rr *rr, uint8_t *out, size_t cap)
{
	ldns_buffer *b = ldns_buffer_new(1024);
	ck_assert_int_eq(ldns_rr_rdata2buffer_wire(b, rr), LDNS_STATUS_OK);
	size_t n = ldns_buffer_position(b);
	ck_assert_uint_le(n, cap);
	memcpy(out, ldns_buffer_begin(b), n);
	ldns_buffer_free(b);
	return n;
}

static size_t owner_wire(const ldns_rr *rr, uint8_t *out)
{
	size_t n = ldns_rdf_size(ldns_rr_owner(rr));
	ck_assert_uint_le(n, VG_NAME_MAX);
	memcpy(out, ldns_rdf_data(ldns_rr_owner(rr)), n);
	return n;
}

/* The RRs of @p list (one owner, one type) in vigil's packed form. */
static void pack_rrset(const ldns_rr_list *list, struct vg_rrset *rs, uint8_t *store, size_t cap,
		       uint8_t *owner)
{
	size_t used = 0;
	const ldns_rr *first = ldns_rr_list_rr(list, 0);
	memset(rs, 0, sizeof(*rs));
	owner_wire(first, owner);
	rs->owner = owner;
	rs->type = (uint16_t)ldns_rr_get_type(first);
	rs->rclass = (uint16_t)ldns_rr_get_class(first);
	rs->ttl = ldns_rr_ttl(first);
	for (size_t i = 0; i < ldns_rr_list_rr_count(list); i++) {
		size_t n = rdata_wire(ldns_rr_list_rr(list, i), store + used + 2, cap - used - 2);
		vg_put16(store + used, (uint16_t)n);
		used += 2 + n;
		rs->count++;
	}
	rs->rdata = store;
	rs->rdata_len = (uint16_t)used;
}

/* ------------------------------------------------------------ signatures */

/*
 * One example of the algorithm RFCs: a DNSKEY, perhaps a DS for it, a signed
 * RRset (one record in every example) and its RRSIG, all as printed.
 */
struct rfc_example {
	const char *what;
	uint8_t alg;
	uint16_t tag;
	const char *dnskey, *ds, *rr, *rrsig;
};

/*
 * RFC 8080 section 6 printed its RRSIGs without the algorithm field and with
 * signatures made over a label count of 3 for example.com (the root counted
 * as a label).  Verified erratum 4935 (EID 4935, Tom Thorogood) restores the
 * algorithm, sets the label count to 2 and gives signatures recomputed with
 * the same keys; those corrected RRSIGs are the ones below.  The DNSKEY, DS
 * and MX records are unchanged by the erratum.  The published signatures are
 * kept in rfc8080_published_rrsigs_are_refused.
 */
static const struct rfc_example examples[] = {
	{ "RFC 5702 6.1 RSA/SHA-256", VG_ALG_RSASHA256, 9033,
	  "example.net. 3600 IN DNSKEY 256 3 8 AwEAAcFcGsaxxdgiuuGmCkVI"
	  " my4h99CqT7jwY3pexPGcnUFtR2Fh36BponcwtkZ4cAgtvd4Qs8P kxUdp6p/DlUmObdk=",
	  NULL,
	  "www.example.net. 3600 IN A 192.0.2.91",
	  "www.example.net. 3600 IN RRSIG A 8 3 3600 20300101000000 20000101000000 9033"
	  " example.net. kRCOH6u7l0QGy9qpC9 l1sLncJcOKFLJ7GhiUOibu4teYp5VE9RncriShZNz85mwlMgNEa"
	  " cFYK/lPtPiVYP4bwg==" },
	{ "RFC 5702 6.2 RSA/SHA-512", VG_ALG_RSASHA512, 3740,
	  "example.net. 3600 IN DNSKEY 256 3 10 AwEAAdHoNTOW+et86KuJOWRD"
	  " p1pndvwb6Y83nSVXXyLA3DLroROUkN6X0O6pnWnjJQujX/AyhqFD"
	  " xj13tOnD9u/1kTg7cV6rklMrZDtJCQ5PCl/D7QNPsgVsMu1J2Q8g"
	  " pMpztNFLpPBz1bWXjDtaR7ZQBlZ3PFY12ZTSncorffcGmhOL",
	  NULL,
	  "www.example.net. 3600 IN A 192.0.2.91",
	  "www.example.net. 3600 IN RRSIG A 10 3 3600 20300101000000 20000101000000 3740"
	  " example.net. tsb4wnjRUDnB1BUi+t 6TMTXThjVnG+eCkWqjvvjhzQL1d0YRoOe0CbxrVDYd0xDtsuJRa"
	  " eUw1ep94PzEWzr0iGYgZBWm/zpq+9fOuagYJRfDqfReKBzMweOL"
	  " DiNa8iP5g9vMhpuv6OPlvpXwm9Sa9ZXIbNl1MBGk0fthPgxdDLw =" },
	{ "RFC 6605 6.1 ECDSA P-256", VG_ALG_ECDSAP256, 55648,
	  "example.net. 3600 IN DNSKEY 257 3 13 GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edb"
	  " krSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA==",
	  "example.net. 3600 IN DS 55648 13 2 b4c8c1fe2e7477127b27115656ad6256f424625bf5c1"
	  " e2770ce6d6e37df61d17",
	  "www.example.net. 3600 IN A 192.0.2.1",
	  "www.example.net. 3600 IN RRSIG A 13 3 3600 20100909100439 20100812100439 55648"
	  " example.net. qx6wLYqmh+l9oCKTN6qIc+bw6ya+KJ8oMz0YP107epXA"
	  " yGmt+3SNruPFKG7tZoLBLlUzGGus7ZwmwWep666VCw==" },
	{ "RFC 6605 6.2 ECDSA P-384", VG_ALG_ECDSAP384, 10771,
	  "example.net. 3600 IN DNSKEY 257 3 14 xKYaNhWdGOfJ+nPrL8/arkwf2EY3MDJ+SErKivBVSum1"
	  " w/egsXvSADtNJhyem5RCOpgQ6K8X1DRSEkrbYQ+OB+v8 /uX45NBwY8rp65F6Glur8I/mlVNgF6W/qTI37m40",
	  "example.net. 3600 IN DS 10771 14 4 72d7b62976ce06438e9c0bf319013cf801f09ecc84b8"
	  " d7e9495f27e305c6a9b0563a9b5f4d288405c3008a94 6df983d6",
	  "www.example.net. 3600 IN A 192.0.2.1",
	  "www.example.net. 3600 IN RRSIG A 14 3 3600 20100909102025 20100812102025 10771"
	  " example.net. /L5hDKIvGDyI1fcARX3z65qrmPsVz73QD1Mr5CEqOiLP"
	  " 95hxQouuroGCeZOvzFaxsT8Glr74hbavRKayJNuydCuz"
	  " WTSSPdz7wnqXL5bdcJzusdnI0RSMROxxwGipWcJm" },
	{ "RFC 8080 6.1 Ed25519 (1)", VG_ALG_ED25519, 3613,
	  "example.com. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=",
	  "example.com. 3600 IN DS 3613 15 2"
	  " 3aa5ab37efce57f737fc1627013fee07bdf241bd10f3b1964ab55c78e79"
	  " a304b",
	  "example.com. 3600 IN MX 10 mail.example.com.",
	  "example.com. 3600 IN RRSIG MX 15 2 3600 1440021600 1438207200 3613 example.com."
	  " oL9krJun7xfBOIWcGHi7mag5/hdZrKWw15jPGrHpjQeRAvTdszaPD+QLs3f"
	  " x8A4M3e23mRZ9VrbpMngwcrqNAg==" },
	{ "RFC 8080 6.1 Ed25519 (2)", VG_ALG_ED25519, 35217,
	  "example.com. 3600 IN DNSKEY 257 3 15 zPnZ/QwEe7S8C5SPz2OfS5RR40ATk2/rYnE9xHIEijs=",
	  "example.com. 3600 IN DS 35217 15 2"
	  " 401781b934e392de492ec77ae2e15d70f6575a1c0bc59c5275c04ebe80c"
	  " 6614c",
	  "example.com. 3600 IN MX 10 mail.example.com.",
	  "example.com. 3600 IN RRSIG MX 15 2 3600 1440021600 1438207200 35217 example.com."
	  " zXQ0bkYgQTEFyfLyi9QoiY6D8ZdYo4wyUhVioYZXFdT410QPRITQSqJSnzQ"
	  " oSm5poJ7gD7AQR0O7KuI5k2pcBg==" },
	{ "RFC 8080 6.2 Ed448 (1)", VG_ALG_ED448, 9713,
	  "example.com. 3600 IN DNSKEY 257 3 16"
	  " 3kgROaDjrh0H2iuixWBrc8g2EpBBLCdGzHmn+G2MpTPhpj/OiBVHHSfPodx"
	  " 1FYYUcJKm1MDpJtIA",
	  "example.com. 3600 IN DS 9713 16 2"
	  " 6ccf18d5bc5d7fc2fceb1d59d17321402f2aa8d368048db93dd811f5cb2"
	  " b19c7",
	  "example.com. 3600 IN MX 10 mail.example.com.",
	  "example.com. 3600 IN RRSIG MX 16 2 3600 1440021600 1438207200 9713 example.com."
	  " 3cPAHkmlnxcDHMyg7vFC34l0blBhuG1qpwLmjInI8w1CMB29FkEAIJUA0am"
	  " xWndkmnBZ6SKiwZSAxGILn/NBtOXft0+Gj7FSvOKxE/07+4RQvE581N3Aj/"
	  " JtIyaiYVdnYtyMWbSNyGEY2213WKsJlwEA" },
	{ "RFC 8080 6.2 Ed448 (2)", VG_ALG_ED448, 38353,
	  "example.com. 3600 IN DNSKEY 257 3 16"
	  " kkreGWoccSDmUBGAe7+zsbG6ZAFQp+syPmYUurBRQc3tDjeMCJcVMRDmgcN"
	  " Lp5HlHAMy12VoISsA",
	  "example.com. 3600 IN DS 38353 16 2"
	  " 645ff078b3568f5852b70cb60e8e696cc77b75bfaaffc118cf79cbda1ba"
	  " 28af4",
	  "example.com. 3600 IN MX 10 mail.example.com.",
	  "example.com. 3600 IN RRSIG MX 16 2 3600 1440021600 1438207200 38353 example.com."
	  " E1/oLjSGIbmLny/4fcgM1z4oL6aqo+izT3urCyHyvEp4Sp8Syg1eI+lJ57C"
	  " SnZqjJP41O/9l4m0AsQ4f7qI1gVnML8vWWiyW2KXhT9kuAICUSxv5OWbf81"
	  " Rq7Yu60npabODB0QFPb/rkW3kUZmQ0YQUA" },
};

#define NEXAMPLES (sizeof(examples) / sizeof(examples[0]))

START_TEST(rfc_example_verifies)
{
	const struct rfc_example *e = &examples[_i];
	uint8_t keyrd[1024], dsrd[128], sig[1024], store[1024], owner[VG_NAME_MAX];
	uint8_t keyowner[VG_NAME_MAX];

	/* the key: its tag is the one the RFC prints in the RRSIG (and DS) */
	ldns_rr *key = rr_new(e->dnskey);
	size_t keylen = rdata_wire(key, keyrd, sizeof(keyrd));
	owner_wire(key, keyowner);
	ck_assert_uint_eq(vg_dnssec_keytag(keyrd, keylen), e->tag);
	ck_assert_uint_eq(ldns_calc_keytag(key), e->tag);
	ck_assert(vg_dnssec_alg_supported(e->alg));
	struct vg_dnssec_key k;
	ck_assert_int_eq(vg_dnssec_key_init(&k, keyrd, keylen), 0);
	ck_assert_uint_eq(k.alg, e->alg);
	ck_assert_uint_eq(k.tag, e->tag);

	/* the DS names the key, and a changed digest or key tag does not */
	if (e->ds) {
		ldns_rr *ds = rr_new(e->ds);
		size_t dslen = rdata_wire(ds, dsrd, sizeof(dsrd));
		ck_assert_uint_eq(vg_get16(dsrd), e->tag);
		ck_assert_int_eq(vg_dnssec_ds_match(keyowner, keyrd, keylen, dsrd, dslen), 0);
		dsrd[dslen - 1] ^= 0x01;
		ck_assert_int_eq(vg_dnssec_ds_match(keyowner, keyrd, keylen, dsrd, dslen),
				 VG_EBOGUS);
		dsrd[dslen - 1] ^= 0x01;
		dsrd[1] ^= 0x01;
		ck_assert_int_eq(vg_dnssec_ds_match(keyowner, keyrd, keylen, dsrd, dslen),
				 VG_EBOGUS);
		dsrd[1] ^= 0x01;
		/* the digest covers the owner name: another zone's DS does not match */
		static const uint8_t other[] = "\7example\3org";
		ck_assert_int_eq(vg_dnssec_ds_match(other, keyrd, keylen, dsrd, dslen), VG_EBOGUS);
		ldns_rr_free(ds);
	}

	/* the RRset and its RRSIG */
	ldns_rr_list *set = ldns_rr_list_new();
	ldns_rr_list_push_rr(set, rr_new(e->rr));
	struct vg_rrset rs;
	pack_rrset(set, &rs, store, sizeof(store), owner);
	ldns_rr *rrsig = rr_new(e->rrsig);
	size_t siglen = rdata_wire(rrsig, sig, sizeof(sig));
	ck_assert_uint_eq(vg_get16(sig), rs.type);
	ck_assert_uint_eq(sig[2], e->alg);
	ck_assert_uint_eq(vg_get16(sig + 16), e->tag);
	ck_assert_msg(vg_dnssec_verify(&k, &rs, sig, siglen, scratch, sizeof(scratch)) == 0,
		      "%s does not verify", e->what);

	/* ldns agrees, at a time inside the validity period */
	time_t when = (time_t)vg_get32(sig + 12) + 1;
	ldns_rr_list *copy = ldns_rr_list_clone(set);
	ck_assert_int_eq(ldns_verify_rrsig_time(copy, rrsig, key, when), LDNS_STATUS_OK);
	ldns_rr_list_deep_free(copy);

	/* the owner name is compared in canonical (lower) case */
	uint8_t upper[VG_NAME_MAX];
	memcpy(upper, owner, vg_name_len(owner));
	for (size_t i = 0; i < vg_name_len(owner); i++)
		if (upper[i] >= 'a' && upper[i] <= 'z')
			upper[i] = (uint8_t)(upper[i] - 'a' + 'A');
	rs.owner = upper;
	ck_assert_int_eq(vg_dnssec_verify(&k, &rs, sig, siglen, scratch, sizeof(scratch)), 0);
	rs.owner = owner;

	/* one flipped bit in the signature: first and last byte of it */
	size_t sigstart = 18 + vg_name_len(sig + 18);
	ck_assert_uint_lt(sigstart, siglen);
	size_t flip[] = { sigstart, siglen - 1, sigstart + (siglen - sigstart) / 2 };
	for (size_t i = 0; i < sizeof(flip) / sizeof(flip[0]); i++) {
		sig[flip[i]] ^= 0x04;
		ck_assert_msg(vg_dnssec_verify(&k, &rs, sig, siglen, scratch, sizeof(scratch)) ==
				      VG_EBOGUS,
			      "%s: flipped signature byte %zu accepted", e->what, flip[i]);
		/* nothing left on the thread's OpenSSL error queue (the worker's
		 * TLS connections read it) */
		ck_assert_msg(ERR_peek_error() == 0, "%s: OpenSSL error queue not empty",
			      e->what);
		sig[flip[i]] ^= 0x04;
	}
	/* one flipped bit in the data: second rdata octet (A: the address; MX: the
	 * preference) */
	store[2 + 1] ^= 0x01;
	ck_assert_int_eq(vg_dnssec_verify(&k, &rs, sig, siglen, scratch, sizeof(scratch)),
			 VG_EBOGUS);
	store[2 + 1] ^= 0x01;
	/* one flipped bit in the signed RRSIG fields (the original TTL) */
	sig[7] ^= 0x01;
	ck_assert_int_eq(vg_dnssec_verify(&k, &rs, sig, siglen, scratch, sizeof(scratch)),
			 VG_EBOGUS);
	sig[7] ^= 0x01;
	/* another owner */
	static const uint8_t elsewhere[] = "\3ftp\7example\3net";
	rs.owner = elsewhere;
	ck_assert_int_eq(vg_dnssec_verify(&k, &rs, sig, siglen, scratch, sizeof(scratch)),
			 VG_EBOGUS);
	rs.owner = owner;
	/* and after all that, still valid */
	ck_assert_int_eq(vg_dnssec_verify(&k, &rs, sig, siglen, scratch, sizeof(scratch)), 0);

	vg_dnssec_key_deinit(&k);
	ldns_rr_free(rrsig);
	ldns_rr_free(key);
	ldns_rr_list_deep_free(set);
}
END_TEST

/*
 * The RRSIGs RFC 8080 section 6 published before erratum 4935, with the
 * missing algorithm field put back: their label count, 3, is more than
 * example.com has, so they are refused without any crypto (RFC 4035 5.3.1).
 * That they are otherwise good signatures over a label count of 3 (the
 * erratum's diagnosis) is checked for the Ed25519 ones with libsodium.
 */
START_TEST(rfc8080_published_rrsigs_are_refused)
{
	static const struct {
		const char *dnskey, *sig;
	} published[] = {
		{ "example.com. 3600 IN DNSKEY 257 3 15"
		  " l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=",
		  "example.com. 3600 IN RRSIG MX 15 3 3600 1440021600 1438207200 3613 example.com."
		  " Edk+IB9KNNWg0HAjm7FazXyrd5m3Rk8zNZbvNpAcM+eysqcUOMIjWoevFkj"
		  " H5GaMWeG96GUVZu6ECKOQmemHDg==" },
		{ "example.com. 3600 IN DNSKEY 257 3 15"
		  " zPnZ/QwEe7S8C5SPz2OfS5RR40ATk2/rYnE9xHIEijs=",
		  "example.com. 3600 IN RRSIG MX 15 3 3600 1440021600 1438207200 35217 example.com."
		  " 5LL2obmzdqjWI+Xto5eP5adXt/T5tMhasWvwcyW4L3SzfcRawOle9bodhC+"
		  " oip9ayUGjY9T/rL4rN3bOuESGDA==" },
	};
	for (size_t i = 0; i < sizeof(published) / sizeof(published[0]); i++) {
		uint8_t keyrd[64], sig[256], store[64], owner[VG_NAME_MAX], data[256];
		ldns_rr *key = rr_new(published[i].dnskey), *rrsig = rr_new(published[i].sig);
		size_t keylen = rdata_wire(key, keyrd, sizeof(keyrd));
		size_t siglen = rdata_wire(rrsig, sig, sizeof(sig));
		struct vg_dnssec_key k;
		ck_assert_int_eq(vg_dnssec_key_init(&k, keyrd, keylen), 0);
		ldns_rr_list *set = ldns_rr_list_new();
		ldns_rr_list_push_rr(set, rr_new("example.com. 3600 IN MX 10 mail.example.com."));
		struct vg_rrset rs;
		pack_rrset(set, &rs, store, sizeof(store), owner);
		ck_assert_int_eq(vg_dnssec_verify(&k, &rs, sig, siglen, scratch, sizeof(scratch)),
				 VG_EBOGUS);

		/* RFC 4034 3.1.8.1 signed data, built by hand with the label count of 3 */
		size_t sigstart = 18 + vg_name_len(sig + 18), n = 0;
		memcpy(data, sig, sigstart);
		n = sigstart;
		memcpy(data + n, owner, vg_name_len(owner));
		n += vg_name_len(owner);
		vg_put16(data + n, VG_T_MX);
		vg_put16(data + n + 2, VG_C_IN);
		memcpy(data + n + 4, sig + 4, 4);
		vg_put16(data + n + 8, vg_get16(store));
		n += 10;
		memcpy(data + n, store + 2, vg_get16(store));
		n += vg_get16(store);
		const uint8_t *raw = sig + sigstart, *pk = keyrd + 4;
		ck_assert_uint_eq(siglen - sigstart, crypto_sign_BYTES);
		ck_assert_int_eq(crypto_sign_verify_detached(raw, data, n, pk), 0);
		data[3] = 2; /* the corrected label count: not what these were made over */
		ck_assert_int_ne(crypto_sign_verify_detached(raw, data, n, pk), 0);

		vg_dnssec_key_deinit(&k);
		ldns_rr_list_deep_free(set);
		ldns_rr_free(key);
		ldns_rr_free(rrsig);
	}
}
END_TEST

/* ------------------------------------------------------------ NSEC3 */

static const uint8_t salt[] = { 0xaa, 0xbb, 0xcc, 0xdd };

/* base32hex (RFC 4648 section 7) without padding, either case; 20 bytes out */
static void b32hex_decode(const char *s, size_t len, uint8_t out[20])
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;
	ck_assert_uint_eq(len, 32);
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		unsigned v = 0;
		if (c >= '0' && c <= '9')
			v = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'v')
			v = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'V')
			v = (unsigned)(c - 'A' + 10);
		else
			ck_abort_msg("not base32hex: %.*s", (int)len, s);
		acc = acc << 5 | v;
		bits += 5;
		if (bits >= 8) {
			out[o++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	ck_assert_uint_eq(o, 20);
}

/* H(@p name), the name in wire form with its case as written */
static void hash_of(const char *name, uint8_t h[20])
{
	ldns_rdf *d = ldns_dname_new_frm_str(name);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_le(ldns_rdf_size(d), VG_NAME_MAX);
	ck_assert_int_eq(vg_dnssec_nsec3_hash(ldns_rdf_data(d), salt, sizeof(salt), 12, h), 0);
	ldns_rdf_deep_free(d);
}

/*
 * RFC 5155 appendix A lists the hashes of the zone's names (salt aabbccdd, 12
 * iterations); appendix B gives those of the names its proofs deny.
 * test_dnssec.c already checks example, a.example, *.w.example and
 * x.y.w.example; these are the others.  The hashes are case-insensitive, and
 * ldns computes the same ones.
 */
static const struct {
	const char *name, *hash;
} rfc5155_hashes[] = {
	/* appendix A */
	{ "ai.example.", "gjeqe526plbf1g8mklp59enfd789njgi" },
	{ "ns1.example.", "2t7b4g4vsa5smi47k61mv5bv1a22bojr" },
	{ "ns2.example.", "q04jkcevqvmu85r014c7dkba38o0ji5r" },
	{ "w.example.", "k8udemvp1j2f7eg6jebps17vp3n8i58h" },
	{ "x.w.example.", "b4um86eghhds6nea196smvmlo4ors995" },
	{ "y.w.example.", "ji6neoaepv8b5o6k4ev33abha8ht9fgc" },
	{ "xx.example.", "t644ebqk9bibcna874givr6joj62mlhv" },
	/* the zone's 2t7b4g4vsa5smi47k61mv5bv1a22bojr.example A 192.0.2.127,
	 * a name that looks like a hash, owns the NSEC3 kohar7mb... */
	{ "2t7b4g4vsa5smi47k61mv5bv1a22bojr.example.", "kohar7mbb8dc2ce8a9qvl8hon4k53uhi" },
	/* appendix B.1: next closer name and wildcard of a.c.x.w.example */
	{ "c.x.w.example.", "0va5bpr2ou0vk0lbqeeljri88laipsfh" },
	{ "*.x.w.example.", "92pqneegtaue7pjatc3l3qnk738c6v5m" },
	/* B.3: next closer name of mc.c.example */
	{ "c.example.", "4g6p9u5gvfshp30pqecj98b3maqbn1ck" },
	/* B.4 and B.5: next closer name of a.z.w.example */
	{ "z.w.example.", "qlu7gtfaeh0ek0c05ksfhdpbcgglbe03" },
	/* case does not matter */
	{ "AI.Example.", "gjeqe526plbf1g8mklp59enfd789njgi" },
	{ "X.w.EXAMPLE.", "b4um86eghhds6nea196smvmlo4ors995" },
};

START_TEST(nsec3_hash_rfc5155_more_vectors)
{
	for (size_t i = 0; i < sizeof(rfc5155_hashes) / sizeof(rfc5155_hashes[0]); i++) {
		uint8_t h[20], want[20];
		hash_of(rfc5155_hashes[i].name, h);
		b32hex_decode(rfc5155_hashes[i].hash, 32, want);
		ck_assert_msg(memcmp(h, want, 20) == 0, "H(%s)", rfc5155_hashes[i].name);

		/* ldns's own NSEC3 hashing gives the same label */
		ldns_rdf *name = ldns_dname_new_frm_str(rfc5155_hashes[i].name);
		ldns_rdf *lh = ldns_nsec3_hash_name(name, 1, 12, sizeof(salt), salt);
		ck_assert_ptr_nonnull(lh);
		ck_assert_uint_eq(ldns_rdf_data(lh)[0], 32);
		uint8_t theirs[20];
		b32hex_decode((const char *)ldns_rdf_data(lh) + 1, 32, theirs);
		ck_assert(memcmp(theirs, want, 20) == 0);
		ldns_rdf_deep_free(lh);
		ldns_rdf_deep_free(name);
	}
	/* iterations and salt both count: 11 iterations or no salt differ */
	uint8_t wire[VG_NAME_MAX], h[20], want[20];
	vg_name_from_str("ns1.example.", wire, sizeof(wire));
	b32hex_decode("2t7b4g4vsa5smi47k61mv5bv1a22bojr", 32, want);
	ck_assert_int_eq(vg_dnssec_nsec3_hash(wire, salt, sizeof(salt), 11, h), 0);
	ck_assert(memcmp(h, want, 20) != 0);
	ck_assert_int_eq(vg_dnssec_nsec3_hash(wire, salt, 0, 12, h), 0);
	ck_assert(memcmp(h, want, 20) != 0);
}
END_TEST

/* The NSEC3 chain of the RFC 5155 appendix A zone, in hash order, without
 * its RRSIGs. */
static const char *const rfc5155_chain[] = {
	"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example. NSEC3 1 1 12 aabbccdd"
	" 2t7b4g4vsa5smi47k61mv5bv1a22bojr MX DNSKEY NS SOA NSEC3PARAM RRSIG",
	"2t7b4g4vsa5smi47k61mv5bv1a22bojr.example. NSEC3 1 1 12 aabbccdd"
	" 2vptu5timamqttgl4luu9kg21e0aor3s A RRSIG",
	"2vptu5timamqttgl4luu9kg21e0aor3s.example. NSEC3 1 1 12 aabbccdd"
	" 35mthgpgcu1qg68fab165klnsnk3dpvl MX RRSIG",
	"35mthgpgcu1qg68fab165klnsnk3dpvl.example. NSEC3 1 1 12 aabbccdd"
	" b4um86eghhds6nea196smvmlo4ors995 NS DS RRSIG",
	"b4um86eghhds6nea196smvmlo4ors995.example. NSEC3 1 1 12 aabbccdd"
	" gjeqe526plbf1g8mklp59enfd789njgi MX RRSIG",
	"gjeqe526plbf1g8mklp59enfd789njgi.example. NSEC3 1 1 12 aabbccdd"
	" ji6neoaepv8b5o6k4ev33abha8ht9fgc A HINFO AAAA RRSIG",
	"ji6neoaepv8b5o6k4ev33abha8ht9fgc.example. NSEC3 1 1 12 aabbccdd"
	" k8udemvp1j2f7eg6jebps17vp3n8i58h",
	"k8udemvp1j2f7eg6jebps17vp3n8i58h.example. NSEC3 1 1 12 aabbccdd"
	" kohar7mbb8dc2ce8a9qvl8hon4k53uhi",
	"kohar7mbb8dc2ce8a9qvl8hon4k53uhi.example. NSEC3 1 1 12 aabbccdd"
	" q04jkcevqvmu85r014c7dkba38o0ji5r A RRSIG",
	"q04jkcevqvmu85r014c7dkba38o0ji5r.example. NSEC3 1 1 12 aabbccdd"
	" r53bq7cc2uvmubfu5ocmm6pers9tk9en A RRSIG",
	"r53bq7cc2uvmubfu5ocmm6pers9tk9en.example. NSEC3 1 1 12 aabbccdd"
	" t644ebqk9bibcna874givr6joj62mlhv MX RRSIG",
	"t644ebqk9bibcna874givr6joj62mlhv.example. NSEC3 1 1 12 aabbccdd"
	" 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom A HINFO AAAA RRSIG",
};
#define NCHAIN (sizeof(rfc5155_chain) / sizeof(rfc5155_chain[0]))

/* the names of the zone that own the chain's records, in the chain's order */
static const char *const rfc5155_owners[NCHAIN] = {
	"example.", "ns1.example.", "x.y.w.example.", "a.example.", "x.w.example.",
	"ai.example.", "y.w.example.", "w.example.", "2t7b4g4vsa5smi47k61mv5bv1a22bojr.example.",
	"ns2.example.", "*.w.example.", "xx.example.",
};

struct nsec3 {
	uint8_t owner[20], next[20];
	uint8_t flags;
	uint8_t bitmap[64];
	size_t bitmap_len;
};

static void load_chain(struct nsec3 *c)
{
	for (size_t i = 0; i < NCHAIN; i++) {
		ldns_rr *rr = rr_new(rfc5155_chain[i]);
		uint8_t rd[256], own[VG_NAME_MAX];
		size_t n = rdata_wire(rr, rd, sizeof(rd));
		owner_wire(rr, own);
		ck_assert_uint_eq(own[0], 32);
		b32hex_decode((const char *)own + 1, 32, c[i].owner);
		/* hash algorithm 1, flags, iterations 12, salt aabbccdd, 20-byte hash */
		ck_assert_uint_eq(rd[0], 1);
		c[i].flags = rd[1];
		ck_assert_uint_eq(vg_get16(rd + 2), 12);
		ck_assert_uint_eq(rd[4], 4);
		ck_assert(memcmp(rd + 5, salt, 4) == 0);
		ck_assert_uint_eq(rd[9], 20);
		memcpy(c[i].next, rd + 10, 20);
		c[i].bitmap_len = n - 30;
		ck_assert_uint_le(c[i].bitmap_len, sizeof(c[i].bitmap));
		memcpy(c[i].bitmap, rd + 30, c[i].bitmap_len);
		ldns_rr_free(rr);
	}
}

/* the chain records covering @p h (at most NCHAIN), and how many */
static unsigned covering(const struct nsec3 *c, const uint8_t h[20], size_t *which)
{
	unsigned n = 0;
	for (size_t i = 0; i < NCHAIN; i++)
		if (vg_nsec3_covers(c[i].owner, c[i].next, h, 20)) {
			*which = i;
			n++;
		}
	return n;
}

static size_t matching(const struct nsec3 *c, const uint8_t h[20])
{
	for (size_t i = 0; i < NCHAIN; i++)
		if (memcmp(c[i].owner, h, 20) == 0)
			return i;
	return NCHAIN;
}

static bool has_type(const struct nsec3 *r, uint16_t type)
{
	bool bad = false;
	bool has = vg_nsec_bitmap_has(r->bitmap, r->bitmap_len, type, &bad);
	ck_assert(!bad);
	return has;
}

START_TEST(nsec3_chain_rfc5155_appendix_a)
{
	static struct nsec3 c[NCHAIN];
	load_chain(c);

	/* a closed chain in hash order; every record has the opt-out flag */
	for (size_t i = 0; i < NCHAIN; i++) {
		ck_assert(memcmp(c[i].next, c[(i + 1) % NCHAIN].owner, 20) == 0);
		if (i + 1 < NCHAIN)
			ck_assert(memcmp(c[i].owner, c[i + 1].owner, 20) < 0);
		ck_assert_uint_eq(c[i].flags, 1);
	}
	/* each name of the zone hashes to its record's owner, and so is
	 * covered by no record: a match is not a cover */
	for (size_t i = 0; i < NCHAIN; i++) {
		uint8_t h[20];
		size_t w = NCHAIN;
		hash_of(rfc5155_owners[i], h);
		ck_assert_msg(matching(c, h) == i, "H(%s)", rfc5155_owners[i]);
		ck_assert_msg(covering(c, h, &w) == 0, "%s covered by record %zu",
			      rfc5155_owners[i], w);
	}
	/* names that do not exist are covered by exactly one record: the one
	 * appendix B shows for each */
	static const struct {
		const char *name;
		size_t by; /* index in rfc5155_chain */
	} absent[] = {
		{ "c.x.w.example.", 0 },  /* B.1 next closer: 0p9mhave.. */
		{ "*.x.w.example.", 3 },  /* B.1 wildcard: 35mthgpg.. */
		{ "c.example.", 3 },      /* B.3 opt-out: 35mthgpg.. */
		{ "z.w.example.", 9 },    /* B.4, B.5 next closer: q04jkcev.. */
	};
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		uint8_t h[20];
		size_t w = NCHAIN;
		hash_of(absent[i].name, h);
		ck_assert_uint_eq(matching(c, h), NCHAIN);
		ck_assert_msg(covering(c, h, &w) == 1, "%s", absent[i].name);
		ck_assert_msg(w == absent[i].by, "%s covered by %zu, not %zu", absent[i].name, w,
			      absent[i].by);
	}
	/* the last record wraps around: hashes above t644.. and below 0p9m..
	 * belong to it alone */
	uint8_t h[20];
	size_t w = 0;
	memset(h, 0xff, 20);
	ck_assert_uint_eq(covering(c, h, &w), 1);
	ck_assert_uint_eq(w, NCHAIN - 1);
	memset(h, 0x00, 20);
	ck_assert_uint_eq(covering(c, h, &w), 1);
	ck_assert_uint_eq(w, NCHAIN - 1);
	/* one bit either side of an owner */
	memcpy(h, c[5].owner, 20);
	h[19] ^= 0x01; /* gjeqe526..: last byte even, so this is owner + 1 */
	ck_assert_uint_eq(covering(c, h, &w), 1);
	ck_assert_uint_eq(w, c[5].owner[19] & 1 ? 4 : 5);
}
END_TEST

START_TEST(nsec3_proofs_rfc5155_appendix_b)
{
	static struct nsec3 c[NCHAIN];
	load_chain(c);
	uint8_t h[20];
	size_t w;

	/* B.1 name error, a.c.x.w.example: x.w.example is the closest encloser
	 * (a match), c.x.w.example (next closer) and *.x.w.example are covered */
	hash_of("x.w.example.", h);
	ck_assert_uint_eq(matching(c, h), 4);
	hash_of("a.c.x.w.example.", h);
	ck_assert_uint_eq(matching(c, h), NCHAIN);

	/* B.2 no data, ns1.example MX: the matching record has A, not MX or CNAME */
	hash_of("NS1.example.", h);
	w = matching(c, h);
	ck_assert_uint_eq(w, 1);
	ck_assert(has_type(&c[w], VG_T_A));
	ck_assert(!has_type(&c[w], VG_T_MX));
	ck_assert(!has_type(&c[w], VG_T_CNAME));

	/* B.2.1 no data at an empty non-terminal, y.w.example A: an empty bitmap */
	hash_of("y.w.example.", h);
	w = matching(c, h);
	ck_assert_uint_eq(w, 6);
	ck_assert_uint_eq(c[w].bitmap_len, 0);
	ck_assert(!has_type(&c[w], VG_T_A));

	/* B.3 referral to an opt-out unsigned zone, mc.c.example: example is the
	 * closest encloser, c.example is covered by an opt-out record */
	hash_of("example.", h);
	ck_assert_uint_eq(matching(c, h), 0);
	hash_of("c.example.", h);
	ck_assert_uint_eq(covering(c, h, &w), 1);
	ck_assert(c[w].flags & 1);

	/* B.4 wildcard expansion, a.z.w.example MX from *.w.example: the next
	 * closer z.w.example is covered */
	hash_of("z.w.example.", h);
	ck_assert_uint_eq(covering(c, h, &w), 1);
	ck_assert_uint_eq(w, 9);

	/* B.5 wildcard no data, a.z.w.example AAAA: w.example is the closest
	 * encloser, and *.w.example has MX but no AAAA */
	hash_of("w.example.", h);
	ck_assert_uint_eq(matching(c, h), 7);
	hash_of("*.w.example.", h);
	w = matching(c, h);
	ck_assert_uint_eq(w, 10);
	ck_assert(has_type(&c[w], VG_T_MX));
	ck_assert(!has_type(&c[w], VG_T_AAAA));
	ck_assert(!has_type(&c[w], VG_T_CNAME));

	/* B.6 DS child zone no data, example DS: the apex record has SOA, no DS */
	hash_of("example.", h);
	w = matching(c, h);
	ck_assert(has_type(&c[w], VG_T_SOA));
	ck_assert(has_type(&c[w], VG_T_NS));
	ck_assert(!has_type(&c[w], VG_T_DS));
	/* whereas the delegation a.example has NS and DS, no SOA */
	hash_of("a.example.", h);
	w = matching(c, h);
	ck_assert(has_type(&c[w], VG_T_NS) && has_type(&c[w], VG_T_DS));
	ck_assert(!has_type(&c[w], VG_T_SOA));
}
END_TEST

/* ------------------------------------------------------------ canonical form */

/*
 * RFC 4034 section 6.2, canonical RR form, and 6.3, canonical RRset order:
 * the signed data uses the owner name in lower case (or "*." and the RRSIG's
 * labels for a wildcard), the RRSIG's original TTL, rdata with the names of
 * the types listed there in lower case, records sorted by canonical rdata,
 * duplicates once.  RFC 6840 section 5.1 takes NSEC off that list, and notes
 * that HINFO has no names to lower-case.
 *
 * Each case is an RRset as a server might send it and the same RRset in
 * canonical form, as the RFC rules make it.  The test signs the canonical
 * form (Ed25519, libsodium) and vigil must verify the RRset as sent; ldns's
 * verifier is asked for a second opinion.
 */
struct canon_case {
	const char *what;
	const char *sent[3];
	const char *canonical[3];
	uint8_t labels; /* 0: the canonical owner's */
	/* ldns keeps duplicate RRs in the data it verifies: no second opinion */
	bool not_ldns;
	/* vigil does not yet lower-case this type (a known gap, see below):
	 * expected VG_EBOGUS, and a failure here once it is fixed */
	bool gap;
};

static const struct canon_case canon[] = {
	{ "owner name and NS", { "Sub.EXAMPLE. 60 IN NS NS1.Sub.Example." },
	  { "sub.example. 3600 IN NS ns1.sub.example." } },
	{ "MD", { "example. IN MD Mail.Example." }, { "example. IN MD mail.example." } },
	{ "MF", { "example. IN MF Mail.Example." }, { "example. IN MF mail.example." } },
	{ "CNAME", { "WWW.example. IN CNAME Host.Example." },
	  { "www.example. IN CNAME host.example." } },
	{ "SOA", { "example. IN SOA NS1.Example. HostMaster.Example. 1 7200 3600 1209600 300" },
	  { "example. IN SOA ns1.example. hostmaster.example. 1 7200 3600 1209600 300" } },
	{ "MB", { "example. IN MB Box.Example." }, { "example. IN MB box.example." } },
	{ "MG", { "example. IN MG Group.Example." }, { "example. IN MG group.example." } },
	{ "MR", { "example. IN MR New.Example." }, { "example. IN MR new.example." } },
	{ "PTR", { "1.2.0.192.IN-ADDR.ARPA. IN PTR Host.Example." },
	  { "1.2.0.192.in-addr.arpa. IN PTR host.example." } },
	{ "MINFO", { "example. IN MINFO RMail.Example. EMail.Example." },
	  { "example. IN MINFO rmail.example. email.example." } },
	/* lower-cased before sorting: 'B' (0x42) sorts before 'a' as sent, after it
	 * in canonical form */
	{ "MX, sorted after lower-casing",
	  { "example. IN MX 10 B.Example.", "example. IN MX 10 a.example." },
	  { "example. IN MX 10 a.example.", "example. IN MX 10 b.example." } },
	{ "RP", { "example. IN RP Admin.Example. Info.Example." },
	  { "example. IN RP admin.example. info.example." } },
	{ "AFSDB", { "example. IN AFSDB 1 AFS.Example." },
	  { "example. IN AFSDB 1 afs.example." } },
	{ "RT", { "example. IN RT 10 Relay.Example." }, { "example. IN RT 10 relay.example." } },
	{ "PX", { "example. IN PX 10 Net2.IT. PRMD-net2.ADMD-p400.C-it." },
	  { "example. IN PX 10 net2.it. prmd-net2.admd-p400.c-it." } },
	{ "KX", { "example. IN KX 10 KX.Example." }, { "example. IN KX 10 kx.example." } },
	{ "SRV", { "_sip._udp.Example. IN SRV 0 5 5060 SIP.Example." },
	  { "_sip._udp.example. IN SRV 0 5 5060 sip.example." } },
	{ "DNAME", { "Old.Example. IN DNAME New.Example." },
	  { "old.example. IN DNAME new.example." } },
	/* 6.3: records equal in canonical form count once */
	{ "duplicates", { "example. IN NS NS1.example.", "example. IN NS ns1.EXAMPLE." },
	  { "example. IN NS ns1.example." }, 0, true },
	/* 6.2 item 4: a wildcard expansion is signed as the wildcard */
	{ "wildcard owner", { "A.B.Wild.Example. IN TXT \"Mixed Case\"" },
	  { "*.wild.example. IN TXT \"Mixed Case\"" }, 2 },
	/* RFC 6840 5.1: the next name of an NSEC keeps its case */
	{ "NSEC (RFC 6840)", { "Alpha.Example. IN NSEC Beta.Example. A RRSIG NSEC" },
	  { "alpha.example. IN NSEC Beta.Example. A RRSIG NSEC" } },
	/* RFC 6840 5.1: HINFO holds no names */
	{ "HINFO (RFC 6840)", { "example. IN HINFO \"PC-Intel\" \"Linux\"" },
	  { "example. IN HINFO \"PC-Intel\" \"Linux\"" } },
	/* NAPTR is on the 6.2 list: its replacement name, after two 16-bit
	 * fields and three character-strings, is lower-cased (ldns agrees) */
	{ "NAPTR", { "example. IN NAPTR 100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.Example." },
	  { "example. IN NAPTR 100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example." } },
	{ "NAPTR already in lower case",
	  { "example. IN NAPTR 100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example." },
	  { "example. IN NAPTR 100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example." } },
	/* types off the list keep their rdata as sent */
	{ "TXT", { "example. IN TXT \"ABC\" \"def\"" }, { "example. IN TXT \"ABC\" \"def\"" } },
};

struct crr {
	uint8_t rd[512];
	size_t len;
};

static int crr_cmp(const void *a, const void *b)
{
	const struct crr *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->rd, y->rd, n);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

struct signer {
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	uint8_t keyrd[4 + crypto_sign_PUBLICKEYBYTES];
	struct vg_dnssec_key key;
};

static void signer_init(struct signer *s)
{
	uint8_t seed[crypto_sign_SEEDBYTES];
	memset(seed, 0x42, sizeof(seed)); /* fixed: the same signatures every run */
	crypto_sign_seed_keypair(s->pk, s->sk, seed);
	s->keyrd[0] = 1;
	s->keyrd[1] = 1; /* 257 */
	s->keyrd[2] = 3;
	s->keyrd[3] = VG_ALG_ED25519;
	memcpy(s->keyrd + 4, s->pk, sizeof(s->pk));
	ck_assert_int_eq(vg_dnssec_key_init(&s->key, s->keyrd, sizeof(s->keyrd)), 0);
}

/*
 * Sign @p canonical (already in canonical form, any order) as RFC 4034
 * 3.1.8.1 says: RRSIG rdata with the signer "ExAmPlE." (the signer name is
 * lower-cased for signing, and must be by the verifier too), then each RR.
 * The RRSIG rdata goes to @p sig; returns its length.
 */
static size_t sign_canonical(const struct signer *s, const struct canon_case *cc, uint8_t *sig,
			     size_t cap)
{
	static uint8_t data[8192];
	static struct crr rr[3];
	static const uint8_t signer_sent[] = "\7ExAmPlE", signer_canon[] = "\7example";
	uint8_t owner[VG_NAME_MAX];
	size_t nrr = 0, olen = 0, n = 0;
	uint16_t type = 0;

	for (; nrr < 3 && cc->canonical[nrr]; nrr++) {
		ldns_rr *r = rr_new(cc->canonical[nrr]);
		olen = owner_wire(r, owner);
		type = (uint16_t)ldns_rr_get_type(r);
		rr[nrr].len = rdata_wire(r, rr[nrr].rd, sizeof(rr[nrr].rd));
		ldns_rr_free(r);
	}
	qsort(rr, nrr, sizeof(rr[0]), crr_cmp);

	/* RRSIG rdata: type, alg, labels, original TTL 3600, expiration 2037,
	 * inception 2000, key tag, signer */
	ck_assert_uint_ge(cap, 18 + sizeof(signer_sent) + crypto_sign_BYTES);
	vg_put16(sig, type);
	sig[2] = VG_ALG_ED25519;
	sig[3] = cc->labels ? cc->labels : (uint8_t)vg_name_labels(owner);
	vg_put32(sig + 4, 3600);
	vg_put32(sig + 8, 2114380800u);
	vg_put32(sig + 12, 946684800u);
	vg_put16(sig + 16, s->key.tag);
	memcpy(sig + 18, signer_sent, sizeof(signer_sent));
	size_t sigstart = 18 + sizeof(signer_sent);

	memcpy(data, sig, 18);
	memcpy(data + 18, signer_canon, sizeof(signer_canon));
	n = sigstart;
	for (size_t i = 0; i < nrr; i++) {
		memcpy(data + n, owner, olen);
		n += olen;
		vg_put16(data + n, type);
		vg_put16(data + n + 2, VG_C_IN);
		vg_put32(data + n + 4, 3600);
		vg_put16(data + n + 8, (uint16_t)rr[i].len);
		n += 10;
		memcpy(data + n, rr[i].rd, rr[i].len);
		n += rr[i].len;
	}
	crypto_sign_detached(sig + sigstart, NULL, data, n, s->sk);
	return sigstart + crypto_sign_BYTES;
}

/* The same RRSIG and key in presentation form, for ldns. */
static void ldns_second_opinion(const struct signer *s, const ldns_rr_list *sent,
				const uint8_t *sig, size_t siglen, ldns_status *st)
{
	char b64[256], text[2048], owner[VG_NAME_MAX * 4 + 1];
	sodium_bin2base64(b64, sizeof(b64), s->pk, sizeof(s->pk), sodium_base64_VARIANT_ORIGINAL);
	snprintf(text, sizeof(text), "example. 3600 IN DNSKEY 257 3 15 %s", b64);
	ldns_rr *key = rr_new(text);

	size_t sigstart = 18 + vg_name_len(sig + 18);
	sodium_bin2base64(b64, sizeof(b64), sig + sigstart, siglen - sigstart,
			  sodium_base64_VARIANT_ORIGINAL);
	vg_name_to_str(ldns_rdf_data(ldns_rr_owner(ldns_rr_list_rr(sent, 0))), owner,
		       sizeof(owner));
	snprintf(text, sizeof(text), "%s 3600 IN RRSIG TYPE%u 15 %u 3600 %u %u %u ExAmPlE. %s",
		 owner, vg_get16(sig), sig[3], vg_get32(sig + 8), vg_get32(sig + 12),
		 vg_get16(sig + 16), b64);
	ldns_rr *rrsig = rr_new(text);
	ldns_rr_list *copy = ldns_rr_list_clone(sent);
	*st = ldns_verify_rrsig_time(copy, rrsig, key, 1700000000);
	ldns_rr_list_deep_free(copy);
	ldns_rr_free(rrsig);
	ldns_rr_free(key);
}

START_TEST(canonical_rr_form_rfc4034)
{
	const struct canon_case *cc = &canon[_i];
	static struct signer s;
	uint8_t sig[256], store[4096], owner[VG_NAME_MAX];
	signer_init(&s);
	size_t siglen = sign_canonical(&s, cc, sig, sizeof(sig));

	ldns_rr_list *sent = ldns_rr_list_new();
	for (size_t i = 0; i < 3 && cc->sent[i]; i++)
		ldns_rr_list_push_rr(sent, rr_new(cc->sent[i]));
	struct vg_rrset rs;
	pack_rrset(sent, &rs, store, sizeof(store), owner);

	/* ldns finds the table's canonical form right */
	if (!cc->not_ldns) {
		ldns_status st;
		ldns_second_opinion(&s, sent, sig, siglen, &st);
		ck_assert_msg(st == LDNS_STATUS_OK, "%s: ldns says %s", cc->what,
			      ldns_get_errorstr_by_id(st));
	}
	int r = vg_dnssec_verify(&s.key, &rs, sig, siglen, scratch, sizeof(scratch));
	if (cc->gap) {
		ck_assert_msg(r == VG_EBOGUS, "%s: verifies now (%d): drop its .gap", cc->what, r);
		goto out;
	}
	ck_assert_msg(r == 0, "%s: the RRset as sent does not verify (%d)", cc->what, r);

	/* and the signature is not just accepted: a changed bit is refused */
	sig[siglen - 1] ^= 0x01;
	ck_assert_int_eq(vg_dnssec_verify(&s.key, &rs, sig, siglen, scratch, sizeof(scratch)),
			 VG_EBOGUS);
	sig[siglen - 1] ^= 0x01;
	/* (the last octet of a name is its root label: change the one before) */
	store[rs.rdata_len - 2] ^= 0x01;
	ck_assert_int_eq(vg_dnssec_verify(&s.key, &rs, sig, siglen, scratch, sizeof(scratch)),
			 VG_EBOGUS);
	store[rs.rdata_len - 2] ^= 0x01;
out:
	vg_dnssec_key_deinit(&s.key);
	ldns_rr_list_deep_free(sent);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dnssec_rfc");
	TCase *tc = tcase_create("rfc");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, rfc_example_verifies, 0, (int)NEXAMPLES);
	tcase_add_test(tc, rfc8080_published_rrsigs_are_refused);
	tcase_add_test(tc, nsec3_hash_rfc5155_more_vectors);
	tcase_add_test(tc, nsec3_chain_rfc5155_appendix_a);
	tcase_add_test(tc, nsec3_proofs_rfc5155_appendix_b);
	tcase_add_loop_test(tc, canonical_rr_form_rfc4034, 0,
			    (int)(sizeof(canon) / sizeof(canon[0])));
	suite_add_tcase(s, tc);
	return vg_test_run(s);
}
