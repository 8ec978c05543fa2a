/* SPDX-License-Identifier: MIT
 *
 * DNSSEC primitives against independent references: zones signed by ldns's
 * own tools (tests/unit/data/dnssec/make.sh: one per algorithm 5, 7, 8, 10,
 * 13, 14, 15, 16, with mixed-case names in rdata and a wildcard), the DS
 * records ldns-key2ds made for each key, and the RFC 5155 appendix NSEC3
 * hashes.  ldns is used here only to read the fixtures.
 */
#include <check.h>

#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include <ldns/ldns.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "dnssec/dnssec.h"
#include "dnssec/ta.h"

static const int algs[] = { 5, 7, 8, 10, 13, 14, 15, 16 };
static uint8_t scratch[65536 + 1024];

static ldns_rr_list *load(const char *path)
{
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s (run from the source root)", path);
	ldns_zone *z = NULL;
	int line = 0;
	ldns_status st = ldns_zone_new_frm_fp_l(&z, f, NULL, 3600, LDNS_RR_CLASS_IN, &line);
	fclose(f);
	ck_assert_msg(st == LDNS_STATUS_OK, "%s:%d: %s", path, line, ldns_get_errorstr_by_id(st));
	ldns_rr_list *all = ldns_rr_list_clone(ldns_zone_rrs(z));
	if (ldns_zone_soa(z))
		ldns_rr_list_push_rr(all, ldns_rr_clone(ldns_zone_soa(z)));
	ldns_zone_deep_free(z);
	return all;
}

/* rdata of @p rr in uncompressed wire form */
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

/* The RRset (owner, type) of @p all in vigil's packed form, into @p store. */
static void rrset_of(ldns_rr_list *all, const ldns_rdf *owner, ldns_rr_type type,
		     struct vg_rrset *rs, uint8_t *store, size_t cap, uint8_t *ownerbuf)
{
	size_t used = 0;
	memset(rs, 0, sizeof(*rs));
	memcpy(ownerbuf, ldns_rdf_data(owner), ldns_rdf_size(owner));
	rs->owner = ownerbuf;
	rs->type = type;
	rs->rclass = VG_C_IN;
	for (size_t i = 0; i < ldns_rr_list_rr_count(all); i++) {
		ldns_rr *rr = ldns_rr_list_rr(all, i);
		if (ldns_rr_get_type(rr) != type || ldns_dname_compare(ldns_rr_owner(rr), owner))
			continue;
		size_t n = rdata_wire(rr, store + used + 2, cap - used - 2);
		vg_put16(store + used, (uint16_t)n);
		used += 2 + n;
		rs->count++;
	}
	rs->rdata = store;
	rs->rdata_len = (uint16_t)used;
}

static void key_of(ldns_rr_list *all, struct vg_dnssec_key *k, uint8_t *rd, size_t *len)
{
	for (size_t i = 0; i < ldns_rr_list_rr_count(all); i++) {
		ldns_rr *rr = ldns_rr_list_rr(all, i);
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_DNSKEY) {
			*len = rdata_wire(rr, rd, 4096);
			ck_assert_int_eq(vg_dnssec_key_init(k, rd, *len), 0);
			ck_assert_uint_eq(k->tag, ldns_calc_keytag(rr));
			return;
		}
	}
	ck_abort_msg("no DNSKEY in fixture");
}

/* Verify the first RRSIG of @p all with @p k: vg_dnssec_verify's result. */
static int verify_first_rrsig(ldns_rr_list *all, const struct vg_dnssec_key *k)
{
	uint8_t store[16384], owner[VG_NAME_MAX], sig[4096];
	for (size_t i = 0; i < ldns_rr_list_rr_count(all); i++) {
		ldns_rr *rr = ldns_rr_list_rr(all, i);
		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_RRSIG)
			continue;
		ldns_rr_type covered = ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr));
		struct vg_rrset rs;
		rrset_of(all, ldns_rr_owner(rr), covered, &rs, store, sizeof(store), owner);
		size_t siglen = rdata_wire(rr, sig, sizeof(sig));
		return vg_dnssec_verify(k, &rs, sig, siglen, scratch, sizeof(scratch));
	}
	ck_abort_msg("no RRSIG in fixture");
	return VG_EBOGUS;
}

/* The per-worker key cache decodes a key once: later lookups share the
 * decoded key (the same OpenSSL object, reference-counted), and a key that
 * cannot be parsed keeps failing the same way. */
START_TEST(key_cache_decodes_once)
{
	char path[64];
	snprintf(path, sizeof(path), "tests/unit/data/dnssec/alg%d.zone", _i == 0 ? 8 : 13);
	ldns_rr_list *all = load(path);
	struct vg_dnssec_key k0, k1, k2;
	uint8_t rd[4096];
	size_t len;
	key_of(all, &k0, rd, &len);
	struct vg_keycache *c = vg_keycache_new();
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(vg_keycache_get(c, &k1, rd, len), 0);
	ck_assert_int_eq(vg_keycache_get(c, &k2, rd, len), 0);
	ck_assert_ptr_eq(k1.pkey, k2.pkey);   /* decoded once, shared */
	ck_assert_ptr_ne(k1.pkey, k0.pkey);   /* not the caller's own parse */
	ck_assert_uint_eq(k1.tag, k0.tag);
	ck_assert_uint_eq(k1.alg, k0.alg);
	/* the shared key verifies what the fixture signed */
	ck_assert_int_eq(verify_first_rrsig(all, &k1), 0);
	/* the references outlive the cache: each still verifies, the last alone too */
	vg_keycache_free(c);
	ck_assert_int_eq(verify_first_rrsig(all, &k1), 0);
	vg_dnssec_key_deinit(&k1);
	ck_assert_int_eq(verify_first_rrsig(all, &k2), 0);
	vg_dnssec_key_deinit(&k2);
	vg_dnssec_key_deinit(&k0);
	/* unparseable key: same error each time, no key handed out */
	uint8_t bad[8] = { 1, 1, 3, 99, 1, 2, 3, 4 };
	c = vg_keycache_new();
	ck_assert_int_eq(vg_keycache_get(c, &k1, bad, sizeof(bad)), VG_ENOTSUP);
	ck_assert_int_eq(vg_keycache_get(c, &k1, bad, sizeof(bad)), VG_ENOTSUP);
	ck_assert_ptr_null(k1.pkey);
	vg_keycache_free(c);
	ldns_rr_list_deep_free(all);
}
END_TEST

/*
 * Keys in use stay decoded even when their hashes meet: 6 keys at a time
 * (a zone's KSK and ZSK and its parents'), 200 fresh caches (new hash keys).
 * A direct-mapped cache of 512 slots puts two of 6 keys in one slot in ~3%
 * of caches, and then decodes them again on every use; 4 ways per set only
 * fail with 5 of the 6 in one set (~2e-8 per cache).
 */
START_TEST(key_cache_keeps_colliding_keys)
{
	enum { N = 6, ROUNDS = 200 };
	uint8_t rd[N][4 + 1 + 3 + 64];
	for (unsigned r = 0; r < ROUNDS; r++) {
		struct vg_keycache *c = vg_keycache_new();
		struct vg_dnssec_key first[N], again;
		ck_assert_ptr_nonnull(c);
		for (unsigned i = 0; i < N; i++) {
			/* an RSA/SHA-256 zone key: exponent 65537, a made-up modulus */
			uint8_t *p = rd[i];
			p[0] = 1, p[1] = 0, p[2] = 3, p[3] = VG_ALG_RSASHA256;
			p[4] = 3, p[5] = 1, p[6] = 0, p[7] = 1;
			randombytes_buf(p + 8, 64);
			p[8] |= 0x80;
			ck_assert_int_eq(vg_keycache_get(c, &first[i], p, sizeof(rd[i])), 0);
		}
		for (unsigned i = 0; i < N; i++) {
			ck_assert_int_eq(vg_keycache_get(c, &again, rd[i], sizeof(rd[i])), 0);
			ck_assert_msg(again.pkey == first[i].pkey,
				      "round %u: key %u decoded again", r, i);
			vg_dnssec_key_deinit(&again);
		}
		for (unsigned i = 0; i < N; i++)
			vg_dnssec_key_deinit(&first[i]);
		vg_keycache_free(c);
	}
}
END_TEST

/*
 * ECDSA signatures are r || s in DNS (RFC 6605) and DER for OpenSSL: r and s
 * with a leading zero byte (minimal DER drops it) and with the top bit set
 * (DER adds a zero byte) must verify, and a changed one must not.  ldns signs
 * once for the RRSIG fields; OpenSSL then signs the same data again with
 * fresh random k until each case has come up (~1 in 256 for a zero byte).
 */
START_TEST(ecdsa_signature_encodings_verify)
{
	ldns_signing_algorithm alg = _i == 0 ? LDNS_SIGN_ECDSAP256SHA256 : LDNS_SIGN_ECDSAP384SHA384;
	size_t half = _i == 0 ? 32 : 48;
	ldns_key *key = ldns_key_new_frm_algorithm(alg, 0);
	ck_assert_ptr_nonnull(key);
	ldns_key_set_pubkey_owner(key, ldns_dname_new_frm_str("example."));
	ldns_key_set_flags(key, 257);
	ldns_key_set_inception(key, 1000);
	ldns_key_set_expiration(key, 0x7fffffff);
	ldns_rr *dnskey = ldns_key2rr(key), *a = NULL;
	ldns_key_set_keytag(key, ldns_calc_keytag(dnskey));
	ldns_key_list *kl = ldns_key_list_new();
	ldns_key_list_push_key(kl, key);
	ck_assert_int_eq(ldns_rr_new_frm_str(&a, "x.example. 300 IN A 192.0.2.1", 0, NULL, NULL),
			 LDNS_STATUS_OK);
	ldns_rr_list *all = ldns_rr_list_new();
	ldns_rr_list_push_rr(all, a);
	ldns_rr_list *sigs = ldns_sign_public(all, kl);
	ck_assert_ptr_nonnull(sigs);

	uint8_t rd[4096], store[1024], owner[VG_NAME_MAX], sig[1024], data[1024];
	size_t len = rdata_wire(dnskey, rd, sizeof(rd));
	struct vg_dnssec_key k;
	ck_assert_int_eq(vg_dnssec_key_init(&k, rd, len), 0);
	struct vg_rrset rs;
	rrset_of(all, ldns_rr_owner(a), LDNS_RR_TYPE_A, &rs, store, sizeof(store), owner);
	size_t siglen = rdata_wire(ldns_rr_list_rr(sigs, 0), sig, sizeof(sig));
	size_t pre = siglen - 2 * half; /* the RRSIG fields before the signature */
	/* the signed data (RFC 4034 3.1.8.1): those fields, then the one RR */
	static const uint8_t rr[] = { 1, 'x', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1,
				      0, 0, 1, 44, 0, 4, 192, 0, 2, 1 };
	memcpy(data, sig, pre);
	memcpy(data + pre, rr, sizeof(rr));
	ck_assert_int_eq(vg_dnssec_verify(&k, &rs, sig, siglen, scratch, sizeof(scratch)), 0);

	EVP_PKEY *pk = ldns_key_evp_key(key);
	unsigned seen = 0; /* bits: r zero, s zero, r top bit, s top bit */
	for (int n = 0; n < 20000 && seen != 15; n++) {
		uint8_t der[160];
		size_t dl = sizeof(der);
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		ck_assert(ctx && EVP_DigestSignInit(ctx, NULL, _i == 0 ? EVP_sha256() : EVP_sha384(),
						    NULL, pk) == 1);
		ck_assert_int_eq(EVP_DigestSign(ctx, der, &dl, data, pre + sizeof(rr)), 1);
		EVP_MD_CTX_free(ctx);
		const uint8_t *dp = der;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &dp, (long)dl);
		ck_assert_ptr_nonnull(es);
		uint8_t *raw = sig + pre;
		ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)half), (int)half);
		ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + half, (int)half), (int)half);
		ECDSA_SIG_free(es);
		unsigned has = (raw[0] == 0) | (raw[half] == 0) << 1 | (raw[0] >= 0x80) << 2 |
			       (raw[half] >= 0x80) << 3;
		if (!(has & ~seen))
			continue;
		seen |= has;
		ck_assert_int_eq(vg_dnssec_verify(&k, &rs, sig, siglen, scratch, sizeof(scratch)), 0);
		raw[half - 1] ^= 1; /* r changed */
		ck_assert_int_eq(vg_dnssec_verify(&k, &rs, sig, siglen, scratch, sizeof(scratch)),
				 VG_EBOGUS);
	}
	ck_assert_uint_eq(seen, 15);
	vg_dnssec_key_deinit(&k);
	ldns_rr_list_deep_free(sigs);
	ldns_rr_list_deep_free(all);
	ldns_rr_free(dnskey);
	ldns_key_list_free(kl); /* and the key in it */
}
END_TEST

START_TEST(every_signature_verifies)
{
	char path[128];
	snprintf(path, sizeof(path), "tests/unit/data/dnssec/alg%d.zone", algs[_i]);
	ldns_rr_list *all = load(path);
	struct vg_dnssec_key k;
	uint8_t keyrd[4096], store[16384], owner[VG_NAME_MAX], sig[4096];
	size_t keylen;
	key_of(all, &k, keyrd, &keylen);
	ck_assert(vg_dnssec_alg_supported(k.alg));
	ck_assert_int_eq(k.alg, algs[_i]);

	unsigned verified = 0, wildcard = 0;
	for (size_t i = 0; i < ldns_rr_list_rr_count(all); i++) {
		ldns_rr *rr = ldns_rr_list_rr(all, i);
		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_RRSIG)
			continue;
		ldns_rr_type covered = ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr));
		struct vg_rrset rs;
		rrset_of(all, ldns_rr_owner(rr), covered, &rs, store, sizeof(store), owner);
		ck_assert_uint_gt(rs.count, 0);
		size_t siglen = rdata_wire(rr, sig, sizeof(sig));
		int r = vg_dnssec_verify(&k, &rs, sig, siglen, scratch, sizeof(scratch));
		ck_assert_msg(r == 0, "alg %d: RRSIG over type %d did not verify (%d)", algs[_i],
			      covered, r);
		verified++;
		wildcard += owner[0] == 1 && owner[1] == '*';

		/* one flipped bit in the data, or a wrong type, must fail */
		if (covered == LDNS_RR_TYPE_A || covered == LDNS_RR_TYPE_TXT) {
			store[rs.rdata_len - 1] ^= 1;
			ck_assert_int_eq(vg_dnssec_verify(&k, &rs, sig, siglen, scratch,
							  sizeof(scratch)), VG_EBOGUS);
			store[rs.rdata_len - 1] ^= 1;
		}
		sig[siglen - 1] ^= 0x40;
		ck_assert_int_eq(vg_dnssec_verify(&k, &rs, sig, siglen, scratch, sizeof(scratch)),
				 VG_EBOGUS);
	}
	ck_assert_uint_ge(verified, 10);
	ck_assert_uint_ge(wildcard, 1);
	vg_dnssec_key_deinit(&k);
	ldns_rr_list_deep_free(all);
}
END_TEST

START_TEST(wildcard_expansion_verifies)
{
	/* the signature of *.wild.example. A also covers x.wild.example. A */
	ldns_rr_list *all = load("tests/unit/data/dnssec/alg13.zone");
	struct vg_dnssec_key k;
	uint8_t keyrd[4096], store[4096], owner[VG_NAME_MAX], sig[4096];
	size_t keylen;
	key_of(all, &k, keyrd, &keylen);
	ldns_rdf *wild = ldns_dname_new_frm_str("*.wild.example.");
	int found = 0;
	for (size_t i = 0; i < ldns_rr_list_rr_count(all); i++) {
		ldns_rr *rr = ldns_rr_list_rr(all, i);
		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_RRSIG ||
		    ldns_dname_compare(ldns_rr_owner(rr), wild) ||
		    ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr)) != LDNS_RR_TYPE_A)
			continue;
		found++;
		struct vg_rrset rs;
		rrset_of(all, wild, LDNS_RR_TYPE_A, &rs, store, sizeof(store), owner);
		size_t siglen = rdata_wire(rr, sig, sizeof(sig));
		static const uint8_t expanded[] = "\1x\4WILD\7example";
		rs.owner = expanded;
		ck_assert_int_eq(vg_dnssec_verify(&k, &rs, sig, siglen, scratch, sizeof(scratch)), 0);
		static const uint8_t deeper[] = "\1a\1b\4wild\7example";
		rs.owner = deeper;
		ck_assert_int_eq(vg_dnssec_verify(&k, &rs, sig, siglen, scratch, sizeof(scratch)), 0);
		static const uint8_t elsewhere[] = "\1x\4tame\7example";
		rs.owner = elsewhere;
		ck_assert_int_eq(vg_dnssec_verify(&k, &rs, sig, siglen, scratch, sizeof(scratch)),
				 VG_EBOGUS);
	}
	ck_assert_int_eq(found, 1);
	ldns_rdf_deep_free(wild);
	vg_dnssec_key_deinit(&k);
	ldns_rr_list_deep_free(all);
}
END_TEST

START_TEST(ds_digests_match)
{
	char path[128];
	snprintf(path, sizeof(path), "tests/unit/data/dnssec/alg%d.zone", algs[_i]);
	ldns_rr_list *zone = load(path);
	snprintf(path, sizeof(path), "tests/unit/data/dnssec/alg%d.ds", algs[_i]);
	ldns_rr_list *ds = load(path);
	struct vg_dnssec_key k;
	uint8_t keyrd[4096], dsrd[256];
	size_t keylen;
	key_of(zone, &k, keyrd, &keylen);
	static const uint8_t owner[] = "\7EXAMPLE"; /* case must not matter */
	ck_assert_uint_eq(ldns_rr_list_rr_count(ds), 3);
	for (size_t i = 0; i < ldns_rr_list_rr_count(ds); i++) {
		size_t n = rdata_wire(ldns_rr_list_rr(ds, i), dsrd, sizeof(dsrd));
		ck_assert(vg_dnssec_digest_supported(dsrd[3]));
		ck_assert_int_eq(vg_dnssec_ds_match(owner, keyrd, keylen, dsrd, n), 0);
		dsrd[n - 1] ^= 1;
		ck_assert_int_eq(vg_dnssec_ds_match(owner, keyrd, keylen, dsrd, n), VG_EBOGUS);
		dsrd[n - 1] ^= 1;
		dsrd[3] = 3; /* GOST: not supported, never "bogus" */
		ck_assert_int_eq(vg_dnssec_ds_match(owner, keyrd, keylen, dsrd, n), VG_ENOTSUP);
	}
	vg_dnssec_key_deinit(&k);
	ldns_rr_list_deep_free(zone);
	ldns_rr_list_deep_free(ds);
}
END_TEST

/* DS RRset of @p bad records naming the key's tag (@p tag_delta 0) or another
 * tag, with wrong SHA-256 digests, and the real DS first or last. */
static void ds_flood(struct vg_rrset *rs, uint8_t *store, size_t cap, const uint8_t *real,
		     size_t real_len, unsigned bad, int tag_delta, bool real_first)
{
	size_t used = 0;
	memset(rs, 0, sizeof(*rs));
	rs->type = VG_T_DS;
	rs->rclass = VG_C_IN;
	for (unsigned i = 0; i <= bad; i++) {
		bool is_real = real_first ? i == 0 : i == bad;
		ck_assert_uint_le(used + 2 + 36, cap);
		if (is_real) {
			vg_put16(store + used, (uint16_t)real_len);
			memcpy(store + used + 2, real, real_len);
			used += 2 + real_len;
		} else {
			uint8_t *d = store + used + 2;
			vg_put16(store + used, 36);
			vg_put16(d, (uint16_t)(vg_get16(real) + tag_delta));
			d[2] = real[2];
			d[3] = VG_DS_SHA256;
			memset(d + 4, 0x5a, 32);
			vg_put32(d + 4, i); /* distinct records */
			used += 2 + 36;
		}
		rs->count++;
	}
	rs->rdata = store;
	rs->rdata_len = (uint16_t)used;
}

/* A DS RRset of hundreds of records that share the key's tag and algorithm
 * (validly signed by a hostile parent) costs at most the DNSKEY set's
 * allowance of digests, not one per record per key: the real DS after the
 * allowance is not found (VG_ELIMIT), before it is, and DS records of
 * other tags cost nothing. */
START_TEST(ds_vouching_is_bounded)
{
	ldns_rr_list *zone = load("tests/unit/data/dnssec/alg8.zone");
	ldns_rr_list *dsl = load("tests/unit/data/dnssec/alg8.ds");
	struct vg_dnssec_key k;
	uint8_t keyrd[4096], real[256];
	static uint8_t store[16384];
	size_t keylen, real_len = 0;
	struct vg_rrset ds;
	static const uint8_t owner[] = "\7example";
	key_of(zone, &k, keyrd, &keylen);
	for (size_t i = 0; i < ldns_rr_list_rr_count(dsl) && !real_len; i++) {
		size_t n = rdata_wire(ldns_rr_list_rr(dsl, i), real, sizeof(real));
		if (real[3] == VG_DS_SHA256)
			real_len = n;
	}
	ck_assert_uint_eq(real_len, 36);

	unsigned left = 8;
	ds_flood(&ds, store, sizeof(store), real, real_len, 300, 0, true);
	ck_assert_int_eq(vg_dnssec_ds_vouches(owner, keyrd, keylen, k.tag, &ds, &left), 0);
	ck_assert_uint_eq(left, 7); /* the first digest matched */

	left = 8;
	ds_flood(&ds, store, sizeof(store), real, real_len, 300, 1, false);
	ck_assert_int_eq(vg_dnssec_ds_vouches(owner, keyrd, keylen, k.tag, &ds, &left), 0);
	ck_assert_uint_eq(left, 7); /* other tags: not digested */

	left = 8;
	ds_flood(&ds, store, sizeof(store), real, real_len, 300, 0, false);
	ck_assert_int_eq(vg_dnssec_ds_vouches(owner, keyrd, keylen, k.tag, &ds, &left),
			 VG_ELIMIT);
	ck_assert_uint_eq(left, 0);
	/* the allowance is the key set's: the next key gets nothing */
	ck_assert_int_eq(vg_dnssec_ds_vouches(owner, keyrd, keylen, k.tag, &ds, &left),
			 VG_ELIMIT);
	ck_assert_uint_eq(left, 0);

	left = 8;
	ds_flood(&ds, store, sizeof(store), real, real_len, 7, 0, false);
	ck_assert_int_eq(vg_dnssec_ds_vouches(owner, keyrd, keylen, k.tag, &ds, &left), 0);
	ck_assert_uint_eq(left, 0); /* the 8th digest is the real one */

	left = 8;
	ds.count--; /* the 7 wrong ones only */
	ds.rdata_len = (uint16_t)(ds.rdata_len - 2 - real_len);
	ck_assert_int_eq(vg_dnssec_ds_vouches(owner, keyrd, keylen, k.tag, &ds, &left),
			 VG_EBOGUS);
	ck_assert_uint_eq(left, 1);

	vg_dnssec_key_deinit(&k);
	ldns_rr_list_deep_free(zone);
	ldns_rr_list_deep_free(dsl);
}
END_TEST

static void b32hex(const uint8_t *in, size_t len, char *out)
{
	static const char al[] = "0123456789abcdefghijklmnopqrstuv";
	size_t bits = 0, o = 0;
	uint32_t acc = 0;
	for (size_t i = 0; i < len; i++) {
		acc = acc << 8 | in[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = al[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits)
		out[o++] = al[(acc << (5 - bits)) & 31];
	out[o] = 0;
}

START_TEST(nsec3_hash_rfc5155_vectors)
{
	static const struct {
		const char *name, *hash;
	} v[] = {
		{ "example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom" },
		{ "a.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl" },
		{ "*.w.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en" },
		{ "X.Y.W.EXAMPLE.", "2vptu5timamqttgl4luu9kg21e0aor3s" },
	};
	static const uint8_t salt[] = { 0xaa, 0xbb, 0xcc, 0xdd };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t name[VG_NAME_MAX], h[20];
		char got[40];
		/* keep the case as written: hashing must lower-case it */
		ck_assert_int_gt(vg_name_from_str(v[i].name, name, sizeof(name)), 0);
		if (v[i].name[0] == 'X')
			memcpy(name, "\1X\1Y\1W\7EXAMPLE", 15); /* with its root label */
		ck_assert_int_eq(vg_dnssec_nsec3_hash(name, salt, 4, 12, h), 0);
		b32hex(h, 20, got);
		ck_assert_str_eq(got, v[i].hash);
	}
}
END_TEST

START_TEST(unsupported_and_malformed_keys)
{
	struct vg_dnssec_key k;
	uint8_t rd[40] = { 1, 0, 3, 3 /* DSA */ };
	ck_assert_int_eq(vg_dnssec_key_init(&k, rd, sizeof(rd)), VG_ENOTSUP);
	ck_assert(!vg_dnssec_alg_supported(3));
	rd[3] = VG_ALG_ED25519;
	ck_assert_int_eq(vg_dnssec_key_init(&k, rd, 4 + 31), VG_EMALFORMED);
	rd[3] = VG_ALG_ECDSAP256;
	ck_assert_int_eq(vg_dnssec_key_init(&k, rd, sizeof(rd)), VG_EMALFORMED);
	rd[2] = 2; /* protocol must be 3 */
	ck_assert_int_eq(vg_dnssec_key_init(&k, rd, sizeof(rd)), VG_EMALFORMED);
	/* RFC 4034 appendix B.1 arithmetic on a known rdata */
	static const uint8_t key[] = { 1, 0, 3, 8, 3, 1, 0, 1, 0xc0, 0xff, 0xee };
	uint32_t ac = 0x0100 + 0x0308 + 0x0301 + 0x0001 + 0xc0ff + 0xee00;
	ac += ac >> 16;
	ck_assert_uint_eq(vg_dnssec_keytag(key, sizeof(key)), ac & 0xffff);
}
END_TEST

/* The built-in root anchors match the real root KSKs (Debian's dns-root-data
 * root.key, copied into the fixtures), and a root.key file works as anchors. */
START_TEST(builtin_root_anchors_match_root_keys)
{
	static struct vg_ta_set builtin, file;
	ck_assert_int_eq(vg_ta_builtin(&builtin), 0);
	ck_assert_uint_eq(builtin.n, 2);
	ck_assert_int_eq(vg_ta_load(&file, "tests/unit/data/dnssec/root.key", stderr), 0);
	ck_assert_uint_eq(file.n, 2);
	ldns_rr_list *keys = load("tests/unit/data/dnssec/root.key");
	static const uint8_t root[1] = { 0 };
	unsigned tags = 0;
	for (size_t i = 0; i < ldns_rr_list_rr_count(keys); i++) {
		uint8_t rd[1024];
		size_t n = rdata_wire(ldns_rr_list_rr(keys, i), rd, sizeof(rd));
		ck_assert_int_eq(vg_ta_trusts_key(&builtin, root, rd, n), 0);
		ck_assert_int_eq(vg_ta_trusts_key(&file, root, rd, n), 0);
		uint16_t tag = vg_dnssec_keytag(rd, n);
		tags += tag == 20326 || tag == 38696;
		rd[n - 1] ^= 1; /* any other key is not trusted */
		ck_assert_int_eq(vg_ta_trusts_key(&builtin, root, rd, n), VG_EBOGUS);
	}
	ck_assert_uint_eq(tags, 2);
	uint8_t name[VG_NAME_MAX];
	vg_name_from_str("www.example.com.", name, sizeof(name));
	ck_assert_ptr_nonnull(vg_ta_anchor_for(&builtin, name));
	ldns_rr_list_deep_free(keys);
}
END_TEST

START_TEST(anchor_file_ds_and_errors)
{
	static struct vg_ta_set set;
	char path[] = "/tmp/vigil-ta-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	FILE *ds = fopen("tests/unit/data/dnssec/alg8.ds", "r");
	char line[512];
	fputs("; anchors for the lab\n\n", f);
	while (fgets(line, sizeof(line), ds))
		fputs(line, f);
	fclose(ds);
	fclose(f);
	memset(&set, 0, sizeof(set));
	ck_assert_int_eq(vg_ta_load(&set, path, stderr), 0);
	ck_assert_uint_eq(set.n, 3);
	uint8_t name[VG_NAME_MAX];
	vg_name_from_str("www.Example.", name, sizeof(name));
	const uint8_t *a = vg_ta_anchor_for(&set, name);
	ck_assert_ptr_nonnull(a);
	ck_assert(vg_name_eq(a, (const uint8_t *)"\7example"));
	vg_name_from_str("www.other.", name, sizeof(name));
	ck_assert_ptr_null(vg_ta_anchor_for(&set, name)); /* no anchor: insecure */

	ldns_rr_list *zone = load("tests/unit/data/dnssec/alg8.zone");
	struct vg_dnssec_key k;
	uint8_t keyrd[4096];
	size_t keylen;
	key_of(zone, &k, keyrd, &keylen);
	ck_assert_int_eq(vg_ta_trusts_key(&set, (const uint8_t *)"\7example", keyrd, keylen), 0);
	vg_dnssec_key_deinit(&k);
	ldns_rr_list_deep_free(zone);

	/* only an unsupported digest for the zone: insecure, not bogus */
	static struct vg_ta_set gost;
	memset(&gost, 0, sizeof(gost));
	gost.n = 1;
	memcpy(gost.ta[0].owner, "\7example", 9);
	gost.ta[0].type = VG_T_DS;
	memcpy(gost.ta[0].rdata, set.ta[0].rdata, set.ta[0].rdlen);
	gost.ta[0].rdata[3] = 3;
	gost.ta[0].rdlen = set.ta[0].rdlen;
	ck_assert_int_eq(vg_ta_trusts_key(&gost, (const uint8_t *)"\7example", keyrd, keylen),
			 VG_ENOTSUP);

	/* errors name the file and line; other record types are refused */
	f = fopen(path, "w");
	fputs("; comment\nexample. IN A 192.0.2.1\nexample. IN DS 1 8 2 nothex\n", f);
	fclose(f);
	char *buf = NULL;
	size_t blen = 0;
	FILE *err = open_memstream(&buf, &blen);
	memset(&set, 0, sizeof(set));
	ck_assert_int_lt(vg_ta_load(&set, path, err), 0);
	fclose(err);
	char want[64];
	snprintf(want, sizeof(want), "%s:2:", path);
	ck_assert_msg(strstr(buf, want) != NULL, "no error for line 2: %s", buf);
	snprintf(want, sizeof(want), "%s:3:", path);
	ck_assert_msg(strstr(buf, want) != NULL, "no error for line 3: %s", buf);
	ck_assert_uint_eq(set.n, 0);
	free(buf);
	unlink(path);
}
END_TEST

START_TEST(canonical_order_rfc4034)
{
	/* RFC 4034 section 6.1, in canonical order */
	static const char *const order[] = {
		"example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.",
		"zABC.a.EXAMPLE.", "z.example.", "\\001.z.example.", "*.z.example.",
		"\\200.z.example.",
	};
	uint8_t a[VG_NAME_MAX], b[VG_NAME_MAX];
	const size_t n = sizeof(order) / sizeof(order[0]);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			ck_assert_int_gt(vg_name_from_str(order[i], a, sizeof(a)), 0);
			ck_assert_int_gt(vg_name_from_str(order[j], b, sizeof(b)), 0);
			int c = vg_dnssec_name_cmp(a, b);
			if (i < j)
				ck_assert_msg(c < 0, "%s should sort before %s", order[i], order[j]);
			else if (i > j)
				ck_assert_msg(c > 0, "%s should sort after %s", order[i], order[j]);
			else
				ck_assert_int_eq(c, 0);
		}
	}
	/* case does not matter */
	ck_assert_int_eq(vg_dnssec_name_cmp((const uint8_t *)"\3ABC\7Example",
					    (const uint8_t *)"\3abc\7eXAMPLE"), 0);
}
END_TEST

START_TEST(nsec_and_nsec3_intervals)
{
	uint8_t o[VG_NAME_MAX], nx[VG_NAME_MAX], q[VG_NAME_MAX];
	vg_name_from_str("a.example.", o, sizeof(o));
	vg_name_from_str("d.example.", nx, sizeof(nx));
	static const struct {
		const char *name;
		bool covered;
	} v[] = {
		{ "b.example.", true }, { "b.a.example.", true }, { "c.b.example.", true }, { "c.z.example.", false },
		{ "a.example.", false }, { "d.example.", false }, { "e.example.", false },
		{ "example.", false },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		vg_name_from_str(v[i].name, q, sizeof(q));
		ck_assert_msg(vg_nsec_covers(o, nx, q) == v[i].covered, "%s", v[i].name);
	}
	/* the last NSEC wraps to the apex */
	vg_name_from_str("z.example.", o, sizeof(o));
	vg_name_from_str("example.", nx, sizeof(nx));
	vg_name_from_str("zz.example.", q, sizeof(q));
	ck_assert(vg_nsec_covers(o, nx, q));
	vg_name_from_str("b.example.", q, sizeof(q));
	ck_assert(!vg_nsec_covers(o, nx, q));

	uint8_t lo[20], hi[20], h[20];
	memset(lo, 0x10, 20);
	memset(hi, 0x80, 20);
	memset(h, 0x40, 20);
	ck_assert(vg_nsec3_covers(lo, hi, h, 20));
	ck_assert(!vg_nsec3_covers(lo, hi, lo, 20));
	ck_assert(!vg_nsec3_covers(lo, hi, hi, 20));
	ck_assert(!vg_nsec3_covers(hi, lo, h, 20)); /* wrapped: 0x80.. to 0x10.. */
	memset(h, 0xf0, 20);
	ck_assert(vg_nsec3_covers(hi, lo, h, 20));
	memset(h, 0x01, 20);
	ck_assert(vg_nsec3_covers(hi, lo, h, 20));
}
END_TEST

START_TEST(nsec_type_bitmaps)
{
	/* A, NS, RRSIG, NSEC in window 0; type 1234 in window 4 */
	uint8_t bm[2 + 6 + 2 + 27] = { 0, 6, 0x60, 0, 0, 0, 0, 0x03, 4, 27 };
	bm[2 + 6 + 2 + 26] = 0x20;
	bool bad;
	for (uint16_t t = 0; t < 2048; t++) {
		bool want = t == 1 || t == 2 || t == 46 || t == 47 || t == 1234;
		ck_assert_msg(vg_nsec_bitmap_has(bm, sizeof(bm), t, &bad) == want, "type %u", t);
		ck_assert(!bad);
	}
	uint8_t out_of_order[] = { 4, 1, 0x80, 0, 1, 0x40 };
	ck_assert(!vg_nsec_bitmap_has(out_of_order, sizeof(out_of_order), 1, &bad));
	ck_assert(bad);
	uint8_t overrun[] = { 0, 5, 0x40 };
	ck_assert(!vg_nsec_bitmap_has(overrun, sizeof(overrun), 1, &bad));
	ck_assert(bad);

	/* an NSEC that ldns-signzone wrote: the apex has SOA, NS, MX and DNSKEY */
	ldns_rr_list *all = load("tests/unit/data/dnssec/alg8.zone");
	int seen = 0;
	for (size_t i = 0; i < ldns_rr_list_rr_count(all); i++) {
		ldns_rr *rr = ldns_rr_list_rr(all, i);
		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NSEC || ldns_dname_label_count(ldns_rr_owner(rr)) != 1)
			continue;
		uint8_t rd[512];
		size_t n = rdata_wire(rr, rd, sizeof(rd));
		int nl = vg_name_check(rd, n);
		ck_assert_int_gt(nl, 0);
		const uint8_t *b = rd + nl;
		size_t bl = n - (size_t)nl;
		ck_assert(vg_nsec_bitmap_has(b, bl, VG_T_SOA, &bad) && !bad);
		ck_assert(vg_nsec_bitmap_has(b, bl, VG_T_DNSKEY, &bad));
		ck_assert(vg_nsec_bitmap_has(b, bl, VG_T_MX, &bad));
		ck_assert(!vg_nsec_bitmap_has(b, bl, VG_T_A, &bad));
		seen++;
	}
	ck_assert_int_eq(seen, 1);
	ldns_rr_list_deep_free(all);
}
END_TEST

/* Fixtures are signed from 2025-01-01 to 2037-12-31. */
#define T_2024 1704067200u
#define T_2026 1767225600u
#define T_2038 2146000000u

struct val_fixture {
	ldns_rr_list *all;
	struct vg_dnssec_key key;
	uint8_t keyrd[4096], store[8192], sigstore[8192], owner[VG_NAME_MAX], sowner[VG_NAME_MAX];
	struct vg_rrset rs, sigs;
};

static void val_setup(struct val_fixture *f, const char *zone, const char *name)
{
	size_t keylen;
	f->all = load(zone);
	key_of(f->all, &f->key, f->keyrd, &keylen);
	ldns_rdf *o = ldns_dname_new_frm_str(name);
	rrset_of(f->all, o, LDNS_RR_TYPE_A, &f->rs, f->store, sizeof(f->store), f->owner);
	rrset_of(f->all, o, LDNS_RR_TYPE_RRSIG, &f->sigs, f->sigstore, sizeof(f->sigstore),
		 f->sowner);
	ldns_rdf_deep_free(o);
	ck_assert_uint_eq(f->rs.count, 2);
	ck_assert_uint_ge(f->sigs.count, 2); /* RRSIG(A) and RRSIG(NSEC) */
}

static void val_teardown(struct val_fixture *f)
{
	vg_dnssec_key_deinit(&f->key);
	ldns_rr_list_deep_free(f->all);
}

static struct vg_val_budget budget(void)
{
	return (struct vg_val_budget){ .sigs_left = 32, .rrsigs_per_rrset = 8,
				       .keys_per_tag = 2, .skew = 300 };
}

START_TEST(validate_rrset_periods_and_tampering)
{
	static struct val_fixture f;
	val_setup(&f, "tests/unit/data/dnssec/alg13.zone", "Mail.example.");
	struct vg_val_budget b = budget();
	int ede = -1;
	ck_assert_int_eq(vg_dnssec_validate_rrset(&f.rs, &f.sigs, &f.key, 1, T_2026, &b, scratch,
						  sizeof(scratch), &ede), 0);
	ck_assert_uint_eq(b.sigs_left, 31); /* exactly one verification */
	ck_assert_int_eq(vg_dnssec_validate_rrset(&f.rs, &f.sigs, &f.key, 1, T_2024, &b, scratch,
						  sizeof(scratch), &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_SIG_NOT_YET_VALID);
	ck_assert_int_eq(vg_dnssec_validate_rrset(&f.rs, &f.sigs, &f.key, 1, T_2038, &b, scratch,
						  sizeof(scratch), &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_SIG_EXPIRED);
	f.store[f.rs.rdata_len - 1] ^= 1; /* tampered data */
	ck_assert_int_eq(vg_dnssec_validate_rrset(&f.rs, &f.sigs, &f.key, 1, T_2026, &b, scratch,
						  sizeof(scratch), &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_BOGUS);
	f.store[f.rs.rdata_len - 1] ^= 1;
	ck_assert_int_eq(vg_dnssec_validate_rrset(&f.rs, NULL, &f.key, 1, T_2026, &b, scratch,
						  sizeof(scratch), &ede), VG_EBOGUS);
	ck_assert_int_eq(ede, VG_EDE_RRSIGS_MISSING);
	b.sigs_left = 0; /* the query's budget is spent */
	ck_assert_int_eq(vg_dnssec_validate_rrset(&f.rs, &f.sigs, &f.key, 1, T_2026, &b, scratch,
						  sizeof(scratch), &ede), VG_ELIMIT);
	val_teardown(&f);
}
END_TEST

/* A fresh P-256 key (DNSKEY rdata, decoded as any key is), its tag forced
 * to @p tag: a KeyTrap decoy. */
static void decoy_p256(struct vg_dnssec_key *k, uint16_t tag)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	uint8_t rd[4 + 65];
	size_t n = 0;
	ck_assert_ptr_nonnull(pk);
	ck_assert_int_eq(EVP_PKEY_get_octet_string_param(pk, "encoded-pub-key", rd + 3,
							 sizeof(rd) - 3, &n), 1);
	ck_assert_uint_eq(n, 65); /* 0x04 || X || Y */
	EVP_PKEY_free(pk);
	rd[0] = 1; /* flags 256: a zone key */
	rd[1] = 0;
	rd[2] = 3;
	rd[3] = 13; /* over the 0x04 */
	ck_assert_int_eq(vg_dnssec_key_init(k, rd, 4 + 64), 0);
	k->tag = tag;
}

/* Mail.example.'s A RRset, and 12 decoy P-256 keys with the real key's
 * tag listed before the real key (keys[12]). */
static void keytrap_setup(struct val_fixture *f, struct vg_dnssec_key keys[13])
{
	val_setup(f, "tests/unit/data/dnssec/alg13.zone", "Mail.example.");
	for (int i = 0; i < 12; i++)
		decoy_p256(&keys[i], f->key.tag);
	vg_dnssec_key_ref(&keys[12], &f->key);
}

START_TEST(validate_rrset_keytrap_bounds)
{
	static struct val_fixture f;
	struct vg_dnssec_key keys[13];
	keytrap_setup(&f, keys);
	struct vg_val_budget b = budget();
	int ede = -1;
	ck_assert_int_eq(vg_dnssec_validate_rrset(&f.rs, &f.sigs, keys, 13, T_2026, &b, scratch,
						  sizeof(scratch), &ede), VG_EBOGUS);
	ck_assert_uint_eq(32 - b.sigs_left, 2); /* only keys_per_tag keys tried */
	/* with the real key among the first two, it validates */
	struct vg_dnssec_key tmp = keys[1];
	keys[1] = keys[12];
	keys[12] = tmp;
	b = budget();
	ck_assert_int_eq(vg_dnssec_validate_rrset(&f.rs, &f.sigs, keys, 13, T_2026, &b, scratch,
						  sizeof(scratch), &ede), 0);
	for (int i = 0; i < 13; i++)
		vg_dnssec_key_deinit(&keys[i]);
	val_teardown(&f);
}
END_TEST

/* Slices (resolv/validate.c): with one verification per call, the same
 * RRset is validated over several calls, each verifying once and going on
 * where the last stopped, to the same result at the same cost as in one
 * call; while one RRset's place is kept, another is validated whole. */
static int sliced(const struct val_fixture *f, const struct vg_rrset *sigs,
		  const struct vg_dnssec_key *keys, unsigned n, struct vg_val_budget *b,
		  unsigned *calls)
{
	int ede = -1, r;
	*calls = 0;
	do {
		unsigned before = b->sigs_left;
		b->slice_left = *calls ? 0 : 1; /* a call that goes on verifies once anyway */
		b->yield_ok = true;
		r = vg_dnssec_validate_rrset(&f->rs, sigs, keys, n, T_2026, b, scratch,
					     sizeof(scratch), &ede);
		(*calls)++;
		ck_assert_uint_eq(before - b->sigs_left, 1); /* one each time: progress */
		ck_assert_uint_lt(*calls, 40);
	} while (r == VG_EAGAIN);
	ck_assert_ptr_null(b->cur_sigs); /* nothing kept once done */
	return r;
}

START_TEST(validate_rrset_in_slices)
{
	static struct val_fixture f;
	struct vg_dnssec_key keys[13];
	keytrap_setup(&f, keys); /* the real key last */
	struct vg_val_budget b = budget();
	b.keys_per_tag = 13;
	unsigned calls;
	ck_assert_int_eq(sliced(&f, &f.sigs, keys, 13, &b, &calls), 0);
	ck_assert_uint_eq(calls, 13);
	ck_assert_uint_eq(32 - b.sigs_left, 13); /* as in one call */
	/* bogus (the real key left out): the same result as in one call */
	b = budget();
	b.keys_per_tag = 13;
	int ede = -1;
	ck_assert_int_eq(vg_dnssec_validate_rrset(&f.rs, &f.sigs, keys, 12, T_2026, &b, scratch,
						  sizeof(scratch), &ede), VG_EBOGUS);
	unsigned whole = 32 - b.sigs_left;
	b = budget();
	b.keys_per_tag = 13;
	ck_assert_int_eq(sliced(&f, &f.sigs, keys, 12, &b, &calls), VG_EBOGUS);
	ck_assert_uint_eq(32 - b.sigs_left, whole);
	ck_assert_uint_eq(calls, whole);
	/* a place kept: another RRset (another RRSIG set) is not stopped */
	b = budget();
	b.keys_per_tag = 13;
	b.slice_left = 1;
	b.yield_ok = true;
	ck_assert_int_eq(vg_dnssec_validate_rrset(&f.rs, &f.sigs, keys, 13, T_2026, &b, scratch,
						  sizeof(scratch), &ede), VG_EAGAIN);
	struct vg_rrset other = f.sigs;
	ck_assert_int_eq(vg_dnssec_validate_rrset(&f.rs, &other, keys, 13, T_2026, &b, scratch,
						  sizeof(scratch), &ede), 0);
	ck_assert_ptr_eq(b.cur_sigs, &f.sigs); /* still kept */
	ck_assert_uint_eq(b.cur_k, 1);
	/* two RRSIG(A), the first tampered, the real key second of three that
	 * share its tag: at 2 and 3 keys per tag, the colliding-tag bound ends
	 * the first RRSIG's keys and the second RRSIG validates, in slices at
	 * the cost of one call, every call verifying (no empty slice) */
	static uint8_t two_rd[2048];
	struct vg_rrset two = f.sigs;
	const uint8_t *d = f.sigs.rdata;
	size_t n = 0;
	for (unsigned i = 0; i < f.sigs.count; i++, d += 2 + vg_get16(d))
		if (vg_get16(d + 2) == VG_T_A) {
			memcpy(two_rd, d, 2u + vg_get16(d));
			memcpy(two_rd + 2 + vg_get16(d), d, 2u + vg_get16(d));
			n = 2 * (2u + vg_get16(d));
			two_rd[2 + vg_get16(d) - 1] ^= 1; /* the first's signature */
		}
	ck_assert_uint_gt(n, 0);
	two.rdata = two_rd;
	two.rdata_len = (uint16_t)n;
	two.count = 2;
	struct vg_dnssec_key three[3];
	decoy_p256(&three[0], f.key.tag);
	vg_dnssec_key_ref(&three[1], &f.key);
	decoy_p256(&three[2], f.key.tag);
	for (unsigned per_tag = 2; per_tag <= 3; per_tag++) {
		b = budget();
		b.keys_per_tag = per_tag;
		ck_assert_int_eq(vg_dnssec_validate_rrset(&f.rs, &two, three, 3, T_2026, &b, scratch,
							  sizeof(scratch), &ede), 0);
		whole = 32 - b.sigs_left;
		ck_assert_uint_eq(whole, per_tag + 2); /* per_tag, then the decoy and the key */
		b = budget();
		b.keys_per_tag = per_tag;
		ck_assert_int_eq(sliced(&f, &two, three, 3, &b, &calls), 0);
		ck_assert_uint_eq(32 - b.sigs_left, whole);
		ck_assert_uint_eq(calls, whole);
	}
	for (int i = 0; i < 3; i++)
		vg_dnssec_key_deinit(&three[i]);
	for (int i = 0; i < 13; i++)
		vg_dnssec_key_deinit(&keys[i]);
	val_teardown(&f);
}
END_TEST

START_TEST(validate_rrset_unsupported_algorithm_is_insecure)
{
	static struct val_fixture f;
	val_setup(&f, "tests/unit/data/dnssec/alg13.zone", "Mail.example.");
	/* rewrite every RRSIG's algorithm to 253 (private): none is usable */
	uint8_t *d = f.sigstore;
	for (unsigned i = 0; i < f.sigs.count; i++) {
		d[2 + 2] = 253;
		d += 2 + vg_get16(d);
	}
	struct vg_val_budget b = budget();
	int ede = -1;
	ck_assert_int_eq(vg_dnssec_validate_rrset(&f.rs, &f.sigs, &f.key, 1, T_2026, &b, scratch,
						  sizeof(scratch), &ede), VG_ENOTSUP);
	ck_assert_int_eq(ede, VG_EDE_UNSUPPORTED_ALG);
	ck_assert_uint_eq(b.sigs_left, 32);
	val_teardown(&f);
}
END_TEST

START_TEST(nsec_denial_proofs)
{
	/* the NSEC chain ldns-signzone wrote for alg8.zone:
	 * example -> Mail -> NS1 -> srv -> txt -> *.wild -> www -> example */
	ldns_rr_list *all = load("tests/unit/data/dnssec/alg8.zone");
	static uint8_t owners[16][VG_NAME_MAX], rds[16][512];
	struct vg_nsec n[16];
	unsigned count = 0;
	for (size_t i = 0; i < ldns_rr_list_rr_count(all) && count < 16; i++) {
		ldns_rr *rr = ldns_rr_list_rr(all, i);
		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NSEC)
			continue;
		memcpy(owners[count], ldns_rdf_data(ldns_rr_owner(rr)),
		       ldns_rdf_size(ldns_rr_owner(rr)));
		size_t len = rdata_wire(rr, rds[count], sizeof(rds[count]));
		int nl = vg_name_check(rds[count], len);
		ck_assert_int_gt(nl, 0);
		n[count] = (struct vg_nsec){ owners[count], rds[count], rds[count] + nl,
					     len - (size_t)nl };
		count++;
	}
	ck_assert_uint_eq(count, 7);
	uint8_t zone[VG_NAME_MAX], q[VG_NAME_MAX];
	vg_name_from_str("example.", zone, sizeof(zone));
#define NAME(s) (vg_name_from_str((s), q, sizeof(q)), q)
	/* NXDOMAIN: covered, and no wildcard at the closest encloser */
	ck_assert_int_eq(vg_nsec_prove_nxdomain(n, count, zone, NAME("nope.example.")), 0);
	ck_assert_int_eq(vg_nsec_prove_nxdomain(n, count, zone, NAME("zzz.example.")), 0);
	/* not NXDOMAIN: the name exists, or a wildcard would answer it */
	ck_assert_int_eq(vg_nsec_prove_nxdomain(n, count, zone, NAME("mail.example.")), VG_EBOGUS);
	ck_assert_int_eq(vg_nsec_prove_nxdomain(n, count, zone, NAME("a.b.wild.example.")),
			 VG_EBOGUS);
	/* an NSEC of this zone proves nothing about another zone */
	ck_assert_int_eq(vg_nsec_prove_nxdomain(n, count, zone, NAME("nope.other.")), VG_EBOGUS);
	/* with one NSEC missing, the proof is incomplete */
	ck_assert_int_eq(vg_nsec_prove_nxdomain(n + 1, count - 1, zone, NAME("nope.example.")),
			 VG_EBOGUS);
	/* NODATA */
	ck_assert_int_eq(vg_nsec_prove_nodata(n, count, NAME("MAIL.example."), VG_T_AAAA), 0);
	ck_assert_int_eq(vg_nsec_prove_nodata(n, count, NAME("mail.example."), VG_T_A), VG_EBOGUS);
	ck_assert_int_eq(vg_nsec_prove_nodata(n, count, NAME("www.example."), VG_T_A), VG_EBOGUS);
	ck_assert_int_eq(vg_nsec_prove_nodata(n, count, NAME("nope.example."), VG_T_A), VG_EBOGUS);
	/* a wildcard answer for x.wild.example needs proof that it does not exist */
	ck_assert_int_eq(vg_nsec_prove_no_exact(n, count, NAME("x.wild.example.")), 0);
	ck_assert_int_eq(vg_nsec_prove_no_exact(n, count, NAME("*.wild.example.")), VG_EBOGUS);
#undef NAME
	ldns_rr_list_deep_free(all);
}
END_TEST

/* The one table of status names the logs, the metrics and vigilctl write. */
START_TEST(status_names)
{
	ck_assert_str_eq(vg_dnssec_status_name(VG_SEC_UNCHECKED), "unchecked");
	ck_assert_str_eq(vg_dnssec_status_name(VG_SEC_INSECURE), "insecure");
	ck_assert_str_eq(vg_dnssec_status_name(VG_SEC_SECURE), "secure");
	ck_assert_str_eq(vg_dnssec_status_name(VG_SEC_BOGUS), "bogus");
	ck_assert_str_eq(vg_dnssec_status_name(VG_SEC_STATES), "unknown");
	ck_assert_str_eq(vg_dnssec_status_name(~0u), "unknown");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dnssec");
	TCase *tc = tcase_create("crypto");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, every_signature_verifies, 0, 8);
	tcase_add_loop_test(tc, ds_digests_match, 0, 8);
	tcase_add_test(tc, ds_vouching_is_bounded);
	tcase_add_test(tc, wildcard_expansion_verifies);
	tcase_add_loop_test(tc, key_cache_decodes_once, 0, 2);
	tcase_add_test(tc, key_cache_keeps_colliding_keys);
	tcase_add_loop_test(tc, ecdsa_signature_encodings_verify, 0, 2);
	tcase_add_test(tc, nsec3_hash_rfc5155_vectors);
	tcase_add_test(tc, unsupported_and_malformed_keys);
	tcase_add_test(tc, builtin_root_anchors_match_root_keys);
	tcase_add_test(tc, anchor_file_ds_and_errors);
	tcase_add_test(tc, canonical_order_rfc4034);
	tcase_add_test(tc, nsec_and_nsec3_intervals);
	tcase_add_test(tc, nsec_type_bitmaps);
	tcase_add_test(tc, nsec_denial_proofs);
	tcase_add_test(tc, validate_rrset_periods_and_tampering);
	tcase_add_test(tc, validate_rrset_keytrap_bounds);
	tcase_add_test(tc, validate_rrset_in_slices);
	tcase_add_test(tc, validate_rrset_unsupported_algorithm_is_insecure);
	tcase_add_test(tc, status_names);
	suite_add_tcase(s, tc);
	return vg_test_run(s);
}
