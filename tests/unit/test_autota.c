/* SPDX-License-Identifier: MIT
 *
 * RFC 5011 trust anchor rollover (src/dnssec/autota.c) with real keys: each
 * test makes its own ECDSA P-256 or Ed25519 keys with ldns, publishes DNSKEY
 * RRsets for "example." signed by ldns (ldns_sign_public) at simulated
 * times, and feeds them to vg_autota_update() the way the resolver will.
 * ldns is used here only to make and sign the fixtures.
 */
#include <check.h>

#include "check_main.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "dnssec/autota.h"

#define T0 1700000000u
#define DAY (24u * 3600)
#define ZONE ((const uint8_t *)"\7example")

/* ------------------------------------------------------------ fixtures */

struct tkey {
	ldns_key *k;
	uint8_t rd[1024]; /* as published now (flags may include REVOKE) */
	size_t len;
	uint8_t plain[1024]; /* as first made: without REVOKE */
	size_t plain_len;
};

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

static void tkey_flags(struct tkey *t, uint16_t flags)
{
	ldns_key_set_flags(t->k, flags);
	ldns_rr *rr = ldns_key2rr(t->k);
	ck_assert_ptr_nonnull(rr);
	/* the key tag changes with the flags; ldns signs with the one set here */
	ldns_key_set_keytag(t->k, ldns_calc_keytag(rr));
	t->len = rdata_wire(rr, t->rd, sizeof(t->rd));
	ldns_rr_free(rr);
}

static void tkey_new(struct tkey *t, ldns_signing_algorithm alg)
{
	memset(t, 0, sizeof(*t));
	t->k = ldns_key_new_frm_algorithm(alg, 256);
	ck_assert_ptr_nonnull(t->k);
	ldns_key_set_pubkey_owner(t->k, ldns_dname_new_frm_str("example."));
	tkey_flags(t, 257);
	memcpy(t->plain, t->rd, t->len);
	t->plain_len = t->len;
}

static void tkey_revoke(struct tkey *t)
{
	tkey_flags(t, 257 | 0x80);
	ck_assert_uint_ne(vg_dnssec_keytag(t->rd, t->len), vg_dnssec_keytag(t->plain, t->len));
}

static void tkey_free(struct tkey *t)
{
	ldns_key_deep_free(t->k);
	t->k = NULL;
}

/* A signed DNSKEY RRset in vigil's packed form. */
struct rrs {
	struct vg_rrset keys, sigs;
	uint8_t kbuf[8192], sbuf[8192];
};

static void pack(ldns_rr_list *l, uint8_t *store, size_t cap, struct vg_rrset *rs, uint16_t type,
		 uint32_t ttl)
{
	size_t used = 0;
	memset(rs, 0, sizeof(*rs));
	rs->owner = ZONE;
	rs->type = type;
	rs->rclass = VG_C_IN;
	rs->ttl = ttl;
	for (size_t i = 0; l && i < ldns_rr_list_rr_count(l); i++) {
		size_t n = rdata_wire(ldns_rr_list_rr(l, i), store + used + 2, cap - used - 2);
		vg_put16(store + used, (uint16_t)n);
		used += 2 + n;
		rs->count++;
	}
	rs->rdata = store;
	rs->rdata_len = (uint16_t)used;
}

/*
 * Publish @p pub (NULL-terminated) signed by @p signers (NULL-terminated),
 * with RRSIGs valid from @p incept to @p expire and TTL @p ttl.
 */
static void build_full(struct rrs *r, struct tkey *const *pub, struct tkey *const *signers,
		       uint32_t ttl, uint32_t incept, uint32_t expire)
{
	ldns_rr_list *list = ldns_rr_list_new();
	for (unsigned i = 0; pub[i]; i++) {
		ldns_rr *rr = ldns_key2rr(pub[i]->k);
		ldns_rr_set_ttl(rr, ttl);
		ldns_rr_list_push_rr(list, rr);
	}
	ldns_key_list *kl = ldns_key_list_new();
	for (unsigned i = 0; signers[i]; i++) {
		ldns_key_set_inception(signers[i]->k, incept);
		ldns_key_set_expiration(signers[i]->k, expire);
		ldns_key_list_push_key(kl, signers[i]->k);
	}
	ldns_rr_list *sigs = ldns_key_list_key_count(kl) ? ldns_sign_public(list, kl) : NULL;
	if (ldns_key_list_key_count(kl))
		ck_assert_uint_eq(ldns_rr_list_rr_count(sigs), ldns_key_list_key_count(kl));
	pack(list, r->kbuf, sizeof(r->kbuf), &r->keys, VG_T_DNSKEY, ttl);
	pack(sigs, r->sbuf, sizeof(r->sbuf), &r->sigs, VG_T_RRSIG, ttl);
	ldns_key_list_set_key_count(kl, 0); /* the keys stay ours */
	ldns_key_list_free(kl);
	ldns_rr_list_deep_free(list);
	if (sigs)
		ldns_rr_list_deep_free(sigs);
}

static void build(struct rrs *r, struct tkey *const *pub, struct tkey *const *signers,
		  uint32_t now)
{
	build_full(r, pub, signers, 3600, now - 3600, now + 14 * DAY);
}

#define KEYS(...) ((struct tkey *const[]){ __VA_ARGS__, NULL })
#define NOKEYS ((struct tkey *const[]){ NULL })

static int update(struct vg_autota *a, struct rrs *r, uint32_t now, bool *changed)
{
	return vg_autota_update(a, ZONE, &r->keys, &r->sigs, now, changed);
}

static int state(struct vg_autota *a, const struct tkey *t, uint32_t *since)
{
	return vg_autota_key_state(a, ZONE, t->plain, t->plain_len, since);
}

static void ta_add(struct vg_ta_set *s, const uint8_t *owner, uint16_t type, const uint8_t *rd,
		   size_t len)
{
	struct vg_ta *t = &s->ta[s->n++];
	memcpy(t->owner, owner, vg_name_len(owner));
	t->type = type;
	t->rdlen = (uint16_t)len;
	memcpy(t->rdata, rd, len);
}

static void ta_add_ds(struct vg_ta_set *s, const uint8_t *owner, const struct tkey *t)
{
	ldns_rr *key = ldns_key2rr(t->k);
	ldns_rdf *old = ldns_rr_owner(key);
	ldns_rr_set_owner(key, ldns_dname_new_frm_data((uint16_t)vg_name_len(owner), owner));
	ldns_rdf_deep_free(old);
	ldns_rr *ds = ldns_key_rr2ds(key, LDNS_SHA256);
	uint8_t rd[128];
	size_t n = rdata_wire(ds, rd, sizeof(rd));
	ta_add(s, owner, VG_T_DS, rd, n);
	ldns_rr_free(ds);
	ldns_rr_free(key);
}

/* Is the DNSKEY @p rd (with this exact rdata) among the anchors? */
static bool anchored(const struct vg_ta_set *s, const uint8_t *rd, size_t len)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->ta[i].type == VG_T_DNSKEY && s->ta[i].rdlen == len &&
		    !memcmp(s->ta[i].rdata, rd, len))
			return true;
	return false;
}

static struct vg_ta_set *ta_new(void)
{
	struct vg_ta_set *s = calloc(1, sizeof(*s));
	ck_assert_ptr_nonnull(s);
	return s;
}

static char tmpdir[64];
static char state_path[128];

static void tmp_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vigil-autota-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(state_path, sizeof(state_path), "%s/state", tmpdir);
}

static void tmp_teardown(void)
{
	DIR *d = opendir(tmpdir);
	if (!d)
		return;
	struct dirent *de;
	char p[sizeof(tmpdir) + 260];
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmpdir, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(tmpdir);
}

/* A fresh state (no file) trusting @p t as a configured DNSKEY anchor. */
static struct vg_autota *load_with_key(const struct tkey *t, uint32_t now)
{
	struct vg_ta_set *s = ta_new();
	struct vg_autota *a = NULL;
	ta_add(s, ZONE, VG_T_DNSKEY, t->plain, t->plain_len);
	ck_assert_int_eq(vg_autota_load(&a, state_path, s, now, stderr), 0);
	ck_assert_ptr_nonnull(a);
	free(s);
	return a;
}

/* ------------------------------------------------------------ tests */

START_TEST(ds_anchor_seeds_then_first_validated_set_makes_keys_valid)
{
	struct tkey A, B;
	static struct rrs r;
	struct vg_ta_set *s = ta_new(), *anc = ta_new();
	struct vg_autota *a = NULL;
	bool changed = true;
	const uint8_t *due = NULL;
	tkey_new(&A, LDNS_SIGN_ECDSAP256SHA256);
	tkey_new(&B, LDNS_SIGN_ECDSAP256SHA256);
	ta_add_ds(s, ZONE, &A);
	ck_assert_int_eq(vg_autota_load(&a, state_path, s, T0, stderr), 0);

	/* until the first match, the DS itself is the anchor, and a refresh is due now */
	ck_assert_int_eq(vg_autota_anchors(a, anc), 0);
	ck_assert_uint_eq(anc->n, 1);
	ck_assert_uint_eq(anc->ta[0].type, VG_T_DS);
	ck_assert_uint_eq(vg_autota_next_refresh(a, T0, &due), T0);
	ck_assert(due && vg_name_eq(due, ZONE));

	/* a set signed only by a key the DS does not match proves nothing */
	build(&r, KEYS(&A, &B), KEYS(&B), T0);
	ck_assert_int_eq(update(a, &r, T0, &changed), VG_EBOGUS);
	ck_assert(!changed);
	ck_assert_int_eq(state(a, &A, NULL), VG_AUTOTA_START);
	ck_assert_int_eq(state(a, &B, NULL), VG_AUTOTA_START);

	/* signed by the DS's key: A is Valid at once, B has to wait */
	build(&r, KEYS(&A, &B), KEYS(&A), T0 + 60);
	ck_assert_int_eq(update(a, &r, T0 + 60, &changed), 0);
	ck_assert(changed);
	uint32_t since;
	ck_assert_int_eq(state(a, &A, &since), VG_AUTOTA_VALID);
	ck_assert_uint_eq(since, T0 + 60);
	ck_assert_int_eq(state(a, &B, &since), VG_AUTOTA_ADDPEND);
	ck_assert_uint_eq(since, T0 + 60);
	ck_assert_int_eq(vg_autota_anchors(a, anc), 0);
	ck_assert_uint_eq(anc->n, 1); /* the DS gave way to the key it matched */
	ck_assert(anchored(anc, A.rd, A.len));
	ck_assert(!anchored(anc, B.rd, B.len));
	ck_assert(vg_name_eq(anc->ta[0].owner, ZONE));

	vg_autota_free(a);
	tkey_free(&A);
	tkey_free(&B);
	free(s);
	free(anc);
}
END_TEST

START_TEST(dnskey_anchor_is_valid_at_once)
{
	struct tkey A;
	struct vg_ta_set *anc = ta_new();
	uint32_t since;
	tkey_new(&A, LDNS_SIGN_ED25519);
	struct vg_autota *a = load_with_key(&A, T0);
	ck_assert_int_eq(state(a, &A, &since), VG_AUTOTA_VALID);
	ck_assert_uint_eq(since, T0);
	ck_assert_int_eq(vg_autota_anchors(a, anc), 0);
	ck_assert_uint_eq(anc->n, 1);
	ck_assert(anchored(anc, A.rd, A.len));
	ck_assert_int_eq(vg_autota_key_state(a, (const uint8_t *)"\5other", A.rd, A.len, NULL),
			 VG_ENOTFOUND);

	/* and the key works: an Ed25519-signed set is accepted */
	static struct rrs r;
	build(&r, KEYS(&A), KEYS(&A), T0 + 10);
	ck_assert_int_eq(update(a, &r, T0 + 10, NULL), 0);
	ck_assert_int_eq(state(a, &A, NULL), VG_AUTOTA_VALID);
	vg_autota_free(a);
	tkey_free(&A);
	free(anc);
}
END_TEST

START_TEST(new_key_becomes_valid_only_after_add_holddown)
{
	struct tkey A, B;
	static struct rrs r;
	struct vg_ta_set *anc = ta_new();
	bool changed;
	uint32_t since;
	tkey_new(&A, LDNS_SIGN_ECDSAP256SHA256);
	tkey_new(&B, LDNS_SIGN_ECDSAP256SHA256);
	struct vg_autota *a = load_with_key(&A, T0);

	build(&r, KEYS(&A, &B), KEYS(&A), T0);
	ck_assert_int_eq(update(a, &r, T0, &changed), 0);
	ck_assert(!changed); /* B is pending: the anchors are still just A */
	ck_assert_int_eq(state(a, &B, &since), VG_AUTOTA_ADDPEND);
	ck_assert_uint_eq(since, T0);

	/* seen again and again, but too early */
	static const uint32_t early[] = { DAY, 15 * DAY, 29 * DAY, 30 * DAY - 1 };
	for (unsigned i = 0; i < 4; i++) {
		uint32_t t = T0 + early[i];
		build(&r, KEYS(&A, &B), KEYS(&A), t);
		ck_assert_int_eq(update(a, &r, t, &changed), 0);
		ck_assert(!changed);
		ck_assert_int_eq(state(a, &B, &since), VG_AUTOTA_ADDPEND);
		ck_assert_uint_eq(since, T0); /* the hold-down runs from first sight */
		ck_assert_int_eq(vg_autota_anchors(a, anc), 0);
		ck_assert_uint_eq(anc->n, 1);
		ck_assert(!anchored(anc, B.rd, B.len));
	}

	/* 30 days on, still there and validated: Valid */
	build(&r, KEYS(&A, &B), KEYS(&A), T0 + 30 * DAY);
	ck_assert_int_eq(update(a, &r, T0 + 30 * DAY, &changed), 0);
	ck_assert(changed);
	ck_assert_int_eq(state(a, &B, &since), VG_AUTOTA_VALID);
	ck_assert_uint_eq(since, T0 + 30 * DAY);
	ck_assert_int_eq(vg_autota_anchors(a, anc), 0);
	ck_assert_uint_eq(anc->n, 2);
	ck_assert(anchored(anc, A.rd, A.len) && anchored(anc, B.rd, B.len));

	/* B can now vouch for the set on its own */
	build(&r, KEYS(&A, &B), KEYS(&B), T0 + 31 * DAY);
	ck_assert_int_eq(update(a, &r, T0 + 31 * DAY, &changed), 0);
	ck_assert(!changed);
	vg_autota_free(a);
	tkey_free(&A);
	tkey_free(&B);
	free(anc);
}
END_TEST

START_TEST(add_holddown_is_the_ttl_when_longer)
{
	struct tkey A, B;
	static struct rrs r;
	const uint32_t ttl = 40 * DAY;
	tkey_new(&A, LDNS_SIGN_ECDSAP256SHA256);
	tkey_new(&B, LDNS_SIGN_ECDSAP256SHA256);
	struct vg_autota *a = load_with_key(&A, T0);
	build_full(&r, KEYS(&A, &B), KEYS(&A), ttl, T0 - 3600, T0 + 60 * DAY);
	ck_assert_int_eq(update(a, &r, T0, NULL), 0);
	ck_assert_int_eq(state(a, &B, NULL), VG_AUTOTA_ADDPEND);
	ck_assert_int_eq(update(a, &r, T0 + 30 * DAY, NULL), 0);
	ck_assert_int_eq(state(a, &B, NULL), VG_AUTOTA_ADDPEND);
	ck_assert_int_eq(update(a, &r, T0 + 40 * DAY, NULL), 0);
	ck_assert_int_eq(state(a, &B, NULL), VG_AUTOTA_VALID);
	vg_autota_free(a);
	tkey_free(&A);
	tkey_free(&B);
}
END_TEST

START_TEST(pending_key_that_disappears_is_forgotten)
{
	struct tkey A, B;
	static struct rrs r;
	bool changed = true;
	uint32_t since;
	tkey_new(&A, LDNS_SIGN_ECDSAP256SHA256);
	tkey_new(&B, LDNS_SIGN_ECDSAP256SHA256);
	struct vg_autota *a = load_with_key(&A, T0);

	build(&r, KEYS(&A, &B), KEYS(&A), T0);
	ck_assert_int_eq(update(a, &r, T0, NULL), 0);
	ck_assert_int_eq(state(a, &B, NULL), VG_AUTOTA_ADDPEND);

	/* gone before its hold-down ended: back to Start, nothing kept */
	build(&r, KEYS(&A), KEYS(&A), T0 + 10 * DAY);
	ck_assert_int_eq(update(a, &r, T0 + 10 * DAY, &changed), 0);
	ck_assert(!changed);
	ck_assert_int_eq(state(a, &B, NULL), VG_AUTOTA_START);

	/* back again: a new hold-down, the old sighting does not count */
	build(&r, KEYS(&A, &B), KEYS(&A), T0 + 20 * DAY);
	ck_assert_int_eq(update(a, &r, T0 + 20 * DAY, NULL), 0);
	ck_assert_int_eq(state(a, &B, &since), VG_AUTOTA_ADDPEND);
	ck_assert_uint_eq(since, T0 + 20 * DAY);
	build(&r, KEYS(&A, &B), KEYS(&A), T0 + 31 * DAY);
	ck_assert_int_eq(update(a, &r, T0 + 31 * DAY, NULL), 0);
	ck_assert_int_eq(state(a, &B, NULL), VG_AUTOTA_ADDPEND);
	build(&r, KEYS(&A, &B), KEYS(&A), T0 + 50 * DAY);
	ck_assert_int_eq(update(a, &r, T0 + 50 * DAY, NULL), 0);
	ck_assert_int_eq(state(a, &B, NULL), VG_AUTOTA_VALID);
	vg_autota_free(a);
	tkey_free(&A);
	tkey_free(&B);
}
END_TEST

START_TEST(self_signed_revocation_revokes_then_removes)
{
	struct tkey A, B, C;
	static struct rrs r;
	struct vg_ta_set *s = ta_new(), *anc = ta_new();
	struct vg_autota *a = NULL;
	bool changed = false;
	uint32_t since;
	tkey_new(&A, LDNS_SIGN_ED25519);
	tkey_new(&B, LDNS_SIGN_ECDSAP256SHA256);
	tkey_new(&C, LDNS_SIGN_ECDSAP256SHA256);
	ta_add(s, ZONE, VG_T_DNSKEY, A.plain, A.plain_len);
	ta_add(s, ZONE, VG_T_DNSKEY, B.plain, B.plain_len);
	ck_assert_int_eq(vg_autota_load(&a, state_path, s, T0, stderr), 0);

	/* C appears and starts its hold-down */
	build(&r, KEYS(&A, &B, &C), KEYS(&A), T0);
	ck_assert_int_eq(update(a, &r, T0, NULL), 0);
	ck_assert_int_eq(state(a, &C, NULL), VG_AUTOTA_ADDPEND);

	/* A is revoked: published with the REVOKE bit and signing the set itself */
	tkey_revoke(&A);
	uint32_t t1 = T0 + 20 * DAY;
	build(&r, KEYS(&A, &B, &C), KEYS(&A, &B), t1);
	ck_assert_int_eq(update(a, &r, t1, &changed), 0);
	ck_assert(changed);
	ck_assert_int_eq(state(a, &A, &since), VG_AUTOTA_REVOKED);
	ck_assert_uint_eq(since, t1);
	ck_assert_int_eq(vg_autota_key_state(a, ZONE, A.rd, A.len, NULL), VG_AUTOTA_REVOKED);
	ck_assert_int_eq(vg_autota_anchors(a, anc), 0);
	ck_assert_uint_eq(anc->n, 1);
	ck_assert(anchored(anc, B.rd, B.len));
	ck_assert(!anchored(anc, A.plain, A.plain_len) && !anchored(anc, A.rd, A.len));
	/* the revocation restarted C's hold-down (RFC 5011 2.2) */
	ck_assert_int_eq(state(a, &C, &since), VG_AUTOTA_ADDPEND);
	ck_assert_uint_eq(since, t1);
	build(&r, KEYS(&A, &B, &C), KEYS(&B), T0 + 31 * DAY);
	ck_assert_int_eq(update(a, &r, T0 + 31 * DAY, NULL), 0);
	ck_assert_int_eq(state(a, &C, NULL), VG_AUTOTA_ADDPEND);

	/* the revoked key can no longer vouch for anything */
	build(&r, KEYS(&A, &B, &C), KEYS(&A), t1 + DAY);
	ck_assert_int_eq(update(a, &r, t1 + DAY, &changed), VG_EBOGUS);
	ck_assert(!changed);

	/* nor come back by dropping the bit */
	ck_assert_int_eq(vg_autota_key_state(a, ZONE, A.plain, A.plain_len, NULL),
			 VG_AUTOTA_REVOKED);
	tkey_flags(&A, 257);
	build(&r, KEYS(&A, &B, &C), KEYS(&B), t1 + 2 * DAY);
	ck_assert_int_eq(update(a, &r, t1 + 2 * DAY, &changed), 0);
	ck_assert(!changed);
	ck_assert_int_eq(state(a, &A, NULL), VG_AUTOTA_REVOKED);

	/* after the remove hold-down the record is deleted */
	build(&r, KEYS(&B, &C), KEYS(&B), t1 + 30 * DAY - 1);
	ck_assert_int_eq(update(a, &r, t1 + 30 * DAY - 1, NULL), 0);
	ck_assert_int_eq(state(a, &A, NULL), VG_AUTOTA_REVOKED);
	build(&r, KEYS(&B, &C), KEYS(&B), t1 + 30 * DAY);
	ck_assert_int_eq(update(a, &r, t1 + 30 * DAY, NULL), 0);
	ck_assert_int_eq(state(a, &A, NULL), VG_AUTOTA_START);
	ck_assert_int_eq(state(a, &C, NULL), VG_AUTOTA_VALID);

	vg_autota_free(a);
	tkey_free(&A);
	tkey_free(&B);
	tkey_free(&C);
	free(s);
	free(anc);
}
END_TEST

START_TEST(revocation_needs_only_the_self_signature)
{
	/* the only key revokes itself: the trust point is deleted (RFC 5011 5) */
	struct tkey A, B;
	static struct rrs r;
	struct vg_ta_set *anc = ta_new();
	bool changed = false;
	tkey_new(&A, LDNS_SIGN_ECDSAP256SHA256);
	tkey_new(&B, LDNS_SIGN_ECDSAP256SHA256);
	struct vg_autota *a = load_with_key(&A, T0);
	tkey_revoke(&A);
	build(&r, KEYS(&A, &B), KEYS(&A), T0 + DAY);
	/* the set itself is not accepted (no trusted key left to sign it) ... */
	ck_assert_int_eq(update(a, &r, T0 + DAY, &changed), VG_EBOGUS);
	/* ... but the revocation is */
	ck_assert(changed);
	ck_assert_int_eq(state(a, &A, NULL), VG_AUTOTA_REVOKED);
	ck_assert_int_eq(state(a, &B, NULL), VG_AUTOTA_START);
	ck_assert_int_eq(vg_autota_anchors(a, anc), 0);
	ck_assert_uint_eq(anc->n, 0);
	ck_assert_uint_eq(vg_autota_next_refresh(a, T0 + DAY, NULL), VG_AUTOTA_NEVER);
	/* and it is not re-seeded from the configuration on the next start */
	ck_assert_int_eq(vg_autota_save(a, state_path), 0);
	vg_autota_free(a);
	tkey_flags(&A, 257);
	a = load_with_key(&A, T0 + 2 * DAY);
	ck_assert_int_eq(state(a, &A, NULL), VG_AUTOTA_REVOKED);
	ck_assert_int_eq(vg_autota_anchors(a, anc), 0);
	ck_assert_uint_eq(anc->n, 0);
	vg_autota_free(a);
	tkey_free(&A);
	tkey_free(&B);
	free(anc);
}
END_TEST

START_TEST(revocation_without_valid_self_signature_is_ignored)
{
	struct tkey A, B, X;
	static struct rrs r;
	struct vg_ta_set *s = ta_new(), *anc = ta_new();
	struct vg_autota *a = NULL;
	bool changed = true;
	tkey_new(&A, LDNS_SIGN_ECDSAP256SHA256);
	tkey_new(&B, LDNS_SIGN_ECDSAP256SHA256);
	tkey_new(&X, LDNS_SIGN_ECDSAP256SHA256);
	ta_add(s, ZONE, VG_T_DNSKEY, A.plain, A.plain_len);
	ta_add(s, ZONE, VG_T_DNSKEY, B.plain, B.plain_len);
	ck_assert_int_eq(vg_autota_load(&a, state_path, s, T0, stderr), 0);

	/* A shows the REVOKE bit, but only B signed: no proof, A stays trusted */
	tkey_revoke(&A);
	build(&r, KEYS(&A, &B), KEYS(&B), T0 + DAY);
	ck_assert_int_eq(update(a, &r, T0 + DAY, &changed), 0);
	ck_assert(!changed);
	ck_assert_int_eq(state(a, &A, NULL), VG_AUTOTA_MISSING);
	ck_assert_int_eq(vg_autota_anchors(a, anc), 0);
	ck_assert(anchored(anc, A.plain, A.plain_len));

	/* a self-signature that does not verify is no proof either */
	build(&r, KEYS(&A, &B), KEYS(&A, &B), T0 + 2 * DAY);
	uint16_t revtag = vg_dnssec_keytag(A.rd, A.len);
	unsigned flipped = 0;
	const uint8_t *p = r.sigs.rdata;
	for (unsigned i = 0; i < r.sigs.count; i++) {
		uint16_t len = vg_get16(p);
		if (vg_get16(p + 2 + 16) == revtag) {
			r.sbuf[(size_t)(p - r.sbuf) + 2 + len - 1] ^= 1;
			flipped++;
		}
		p += 2 + len;
	}
	ck_assert_uint_eq(flipped, 1);
	ck_assert_int_eq(update(a, &r, T0 + 2 * DAY, &changed), 0);
	ck_assert(!changed);
	ck_assert_int_eq(state(a, &A, NULL), VG_AUTOTA_MISSING);

	/* a self-signed revocation of a key we never trusted changes nothing */
	tkey_revoke(&X);
	build(&r, KEYS(&B, &X), KEYS(&B, &X), T0 + 3 * DAY);
	ck_assert_int_eq(update(a, &r, T0 + 3 * DAY, &changed), 0);
	ck_assert(!changed);
	ck_assert_int_eq(state(a, &X, NULL), VG_AUTOTA_START);
	ck_assert_int_eq(vg_autota_anchors(a, anc), 0);
	ck_assert_uint_eq(anc->n, 2);

	vg_autota_free(a);
	tkey_free(&A);
	tkey_free(&B);
	tkey_free(&X);
	free(s);
	free(anc);
}
END_TEST

START_TEST(set_not_signed_by_trusted_key_changes_nothing)
{
	struct tkey A, X;
	static struct rrs r;
	struct vg_ta_set *before = ta_new(), *after = ta_new();
	bool changed = true;
	tkey_new(&A, LDNS_SIGN_ECDSAP256SHA256);
	tkey_new(&X, LDNS_SIGN_ECDSAP256SHA256);
	struct vg_autota *a = load_with_key(&A, T0);
	ck_assert_int_eq(vg_autota_anchors(a, before), 0);

	/* signed by an unknown key */
	build(&r, KEYS(&X), KEYS(&X), T0);
	ck_assert_int_eq(update(a, &r, T0, &changed), VG_EBOGUS);
	ck_assert(!changed);
	/* trusted key, but its signature expired (and one not yet valid) */
	build_full(&r, KEYS(&A, &X), KEYS(&A), 3600, T0 - 20 * DAY, T0 - 10 * DAY);
	ck_assert_int_eq(update(a, &r, T0, &changed), VG_EBOGUS);
	build_full(&r, KEYS(&A, &X), KEYS(&A), 3600, T0 + DAY, T0 + 20 * DAY);
	ck_assert_int_eq(update(a, &r, T0, &changed), VG_EBOGUS);
	/* no signature at all */
	build(&r, KEYS(&A, &X), KEYS(&A), T0);
	ck_assert_int_eq(vg_autota_update(a, ZONE, &r.keys, NULL, T0, &changed), VG_EBOGUS);
	/* a key added after signing */
	build(&r, KEYS(&A), KEYS(&A), T0);
	struct rrs *r2 = calloc(1, sizeof(*r2));
	build(r2, KEYS(&A, &X), NOKEYS, T0);
	r2->sigs = r.sigs;
	ck_assert_int_eq(update(a, r2, T0, &changed), VG_EBOGUS);
	ck_assert(!changed);
	free(r2);

	ck_assert_int_eq(state(a, &X, NULL), VG_AUTOTA_START);
	ck_assert_int_eq(state(a, &A, NULL), VG_AUTOTA_VALID); /* not even Missing */
	ck_assert_int_eq(vg_autota_anchors(a, after), 0);
	ck_assert_uint_eq(after->n, before->n);
	ck_assert(anchored(after, A.rd, A.len));

	/* wrong zone, or a zone we do not anchor */
	build(&r, KEYS(&A), KEYS(&A), T0);
	r.keys.owner = (const uint8_t *)"\5other";
	ck_assert_int_eq(update(a, &r, T0, NULL), VG_EINVAL);
	ck_assert_int_eq(vg_autota_update(a, r.keys.owner, &r.keys, &r.sigs, T0, NULL),
			 VG_ENOTFOUND);
	/* a truncated packed RRset */
	build(&r, KEYS(&A), KEYS(&A), T0);
	r.keys.rdata_len -= 1;
	ck_assert_int_eq(update(a, &r, T0, NULL), VG_EMALFORMED);

	/* failures move the next refresh to the retry time, not earlier */
	ck_assert_uint_eq(vg_autota_next_refresh(a, T0, NULL), T0 + 3600);
	vg_autota_free(a);
	tkey_free(&A);
	tkey_free(&X);
	free(before);
	free(after);
}
END_TEST

START_TEST(junk_signatures_hit_the_work_budget)
{
	struct tkey A;
	static struct rrs r;
	tkey_new(&A, LDNS_SIGN_ECDSAP256SHA256);
	struct vg_autota *a = load_with_key(&A, T0);
	build(&r, KEYS(&A), KEYS(&A), T0);
	/* 20 copies of A's RRSIG with a broken signature, the good one last */
	static uint8_t sb[65536];
	uint16_t len = vg_get16(r.sbuf);
	size_t used = 0;
	for (unsigned i = 0; i < 20; i++) {
		memcpy(sb + used, r.sbuf, 2u + len);
		sb[used + 2 + len - 1] ^= 1;
		used += 2u + len;
	}
	memcpy(sb + used, r.sbuf, 2u + len);
	used += 2u + len;
	r.sigs.rdata = sb;
	r.sigs.rdata_len = (uint16_t)used;
	r.sigs.count = 21;
	ck_assert_int_eq(update(a, &r, T0, NULL), VG_ELIMIT);
	ck_assert_int_eq(state(a, &A, NULL), VG_AUTOTA_VALID);
	vg_autota_free(a);
	tkey_free(&A);
}
END_TEST

START_TEST(last_trusted_key_is_kept_when_missing)
{
	struct tkey A, C;
	static struct rrs r;
	struct vg_ta_set *anc = ta_new();
	bool changed = true;
	tkey_new(&A, LDNS_SIGN_ECDSAP256SHA256);
	tkey_new(&C, LDNS_SIGN_ECDSAP256SHA256);
	struct vg_autota *a = load_with_key(&A, T0);
	vg_autota_set_holddown(a, 3600, 7200);

	/* A is no longer published (it still signs): Missing, but still trusted */
	build(&r, KEYS(&C), KEYS(&A), T0);
	ck_assert_int_eq(update(a, &r, T0, &changed), 0);
	ck_assert(!changed);
	ck_assert_int_eq(state(a, &A, NULL), VG_AUTOTA_MISSING);
	ck_assert_int_eq(state(a, &C, NULL), VG_AUTOTA_ADDPEND);
	ck_assert_int_eq(vg_autota_anchors(a, anc), 0);
	ck_assert_uint_eq(anc->n, 1);
	ck_assert(anchored(anc, A.rd, A.len));

	/* long after, with C Valid (short hold-down here), A is still kept */
	for (uint32_t t = T0 + 3600; t <= T0 + 90 * DAY; t += 30 * DAY) {
		build(&r, KEYS(&C), KEYS(&A), t);
		ck_assert_int_eq(update(a, &r, t, NULL), 0);
	}
	ck_assert_int_eq(state(a, &C, NULL), VG_AUTOTA_VALID);
	ck_assert_int_eq(state(a, &A, NULL), VG_AUTOTA_MISSING);
	ck_assert_int_eq(vg_autota_anchors(a, anc), 0);
	ck_assert_uint_eq(anc->n, 2);
	ck_assert(anchored(anc, A.rd, A.len) && anchored(anc, C.rd, C.len));

	/* KeyPres: back in the set, Valid again */
	build(&r, KEYS(&A, &C), KEYS(&C), T0 + 91 * DAY);
	ck_assert_int_eq(update(a, &r, T0 + 91 * DAY, NULL), 0);
	ck_assert_int_eq(state(a, &A, NULL), VG_AUTOTA_VALID);
	vg_autota_free(a);
	tkey_free(&A);
	tkey_free(&C);
	free(anc);
}
END_TEST

START_TEST(refresh_schedule_follows_rfc5011_2_3)
{
	struct tkey A;
	static struct rrs r;
	const uint8_t *due;
	tkey_new(&A, LDNS_SIGN_ECDSAP256SHA256);
	struct vg_autota *a = load_with_key(&A, T0);
	ck_assert_uint_eq(vg_autota_next_refresh(a, T0 + 5, &due), T0 + 5); /* never refreshed */

	/* TTL 2 days, signatures good for 14: every TTL/2 = 1 day */
	build_full(&r, KEYS(&A), KEYS(&A), 2 * DAY, T0 - 3600, T0 + 14 * DAY);
	ck_assert_int_eq(update(a, &r, T0, NULL), 0);
	ck_assert_uint_eq(vg_autota_next_refresh(a, T0, &due), T0 + DAY);
	ck_assert(vg_name_eq(due, ZONE));
	/* overdue: now */
	ck_assert_uint_eq(vg_autota_next_refresh(a, T0 + 3 * DAY, NULL), T0 + 3 * DAY);
	/* failure: retry after MIN(1 day, TTL/10, expiry/10) = 4.8 hours */
	ck_assert_int_eq(vg_autota_failed(a, ZONE, T0 + DAY), 0);
	ck_assert_uint_eq(vg_autota_next_refresh(a, T0 + DAY, NULL), T0 + DAY + 2 * DAY / 10);

	/* short TTL: never more often than hourly */
	build_full(&r, KEYS(&A), KEYS(&A), 600, T0 - 3600, T0 + 14 * DAY);
	ck_assert_int_eq(update(a, &r, T0 + 2 * DAY, NULL), 0);
	ck_assert_uint_eq(vg_autota_next_refresh(a, T0 + 2 * DAY, NULL), T0 + 2 * DAY + 3600);
	ck_assert_int_eq(vg_autota_failed(a, ZONE, T0 + 2 * DAY + 3600), 0);
	ck_assert_uint_eq(vg_autota_next_refresh(a, T0, NULL), T0 + 2 * DAY + 7200);

	/* long TTL: signatures expiring in 10 days give 5; long TTL alone caps at 15 */
	uint32_t t = T0 + 3 * DAY;
	build_full(&r, KEYS(&A), KEYS(&A), 40 * DAY, t - 3600, t + 10 * DAY);
	ck_assert_int_eq(update(a, &r, t, NULL), 0);
	ck_assert_uint_eq(vg_autota_next_refresh(a, t, NULL), t + 5 * DAY);
	ck_assert_int_eq(vg_autota_failed(a, ZONE, t + 5 * DAY), 0);
	ck_assert_uint_eq(vg_autota_next_refresh(a, t, NULL), t + 6 * DAY); /* 1 day cap */
	build_full(&r, KEYS(&A), KEYS(&A), 40 * DAY, t - 3600, t + 60 * DAY);
	ck_assert_int_eq(update(a, &r, t, NULL), 0);
	ck_assert_uint_eq(vg_autota_next_refresh(a, t, NULL), t + 15 * DAY);
	ck_assert_int_eq(vg_autota_failed(a, (const uint8_t *)"\5other", t), VG_ENOTFOUND);
	vg_autota_free(a);
	tkey_free(&A);
}
END_TEST

static bool file_has(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	static char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return strstr(buf, needle) != NULL;
}

static unsigned dir_entries(void)
{
	DIR *d = opendir(tmpdir);
	unsigned n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

START_TEST(save_and_load_roundtrip)
{
	struct tkey A, B, C, D, E;
	static struct rrs r;
	struct vg_ta_set *s = ta_new(), *anc1 = ta_new(), *anc2 = ta_new();
	struct vg_autota *a = NULL, *b = NULL;
	static const uint8_t other[] = "\4test\3a\043b";   /* "test.a#b." needs escaping */
	static const uint8_t fresh[] = "\5fresh";
	tkey_new(&A, LDNS_SIGN_ECDSAP256SHA256);
	tkey_new(&B, LDNS_SIGN_ED25519);
	tkey_new(&C, LDNS_SIGN_ECDSAP256SHA256);
	tkey_new(&D, LDNS_SIGN_ECDSAP256SHA256);
	tkey_new(&E, LDNS_SIGN_ECDSAP256SHA256);
	ta_add(s, ZONE, VG_T_DNSKEY, A.plain, A.plain_len);
	ta_add(s, ZONE, VG_T_DNSKEY, C.plain, C.plain_len);
	ta_add(s, ZONE, VG_T_DNSKEY, D.plain, D.plain_len);
	ta_add_ds(s, other, &E);
	ck_assert_int_eq(vg_autota_load(&a, state_path, s, T0, stderr), 0);
	/* A valid, B pending, C revoked, D missing; "test.a#b." waits on its DS */
	tkey_revoke(&C);
	build(&r, KEYS(&A, &B, &C), KEYS(&A, &C), T0 + 100);
	ck_assert_int_eq(update(a, &r, T0 + 100, NULL), 0);
	ck_assert_int_eq(state(a, &A, NULL), VG_AUTOTA_VALID);
	ck_assert_int_eq(state(a, &B, NULL), VG_AUTOTA_ADDPEND);
	ck_assert_int_eq(state(a, &C, NULL), VG_AUTOTA_REVOKED);
	ck_assert_int_eq(state(a, &D, NULL), VG_AUTOTA_MISSING);
	ck_assert_int_eq(vg_autota_failed(a, other, T0 + 200), 0);

	ck_assert_int_eq(vg_autota_save(a, state_path), 0);
	ck_assert_uint_eq(dir_entries(), 1); /* no temporary file left behind */
	ck_assert(file_has(state_path, "; vigil RFC 5011 trust anchor state"));
	ck_assert(file_has(state_path, "\nvigil-autota 1\n"));
	ck_assert(file_has(state_path, "\nzone example. 1700000100 1700000100 0 3600 "));
	ck_assert(file_has(state_path, "\nzone test.a\\035b. 0 1700000200 1 0 0\n"));
	ck_assert(file_has(state_path, "\ndnskey valid 1700000000 0 257 3 13 "));
	ck_assert(file_has(state_path, "\ndnskey addpend 1700000100 1702592100 257 3 15 "));
	ck_assert(file_has(state_path, "\ndnskey revoked 1700000100 1702592100 385 3 13 "));
	ck_assert(file_has(state_path, "\ndnskey missing 1700000100 0 257 3 13 "));
	ck_assert(file_has(state_path, "\nds pending 1700000000 0 "));

	/* the file wins over the configuration for zones it has; a newly
	 * configured zone is seeded */
	struct vg_ta_set *s2 = ta_new();
	ta_add_ds(s2, ZONE, &E);
	ta_add_ds(s2, other, &A);
	ta_add(s2, fresh, VG_T_DNSKEY, E.plain, E.plain_len);
	ck_assert_int_eq(vg_autota_load(&b, state_path, s2, T0 + 300, stderr), 0);
	struct tkey *all[] = { &A, &B, &C, &D, &E };
	for (unsigned i = 0; i < 5; i++) {
		uint32_t s1, t2;
		ck_assert_int_eq(state(a, all[i], &s1), state(b, all[i], &t2));
		ck_assert_uint_eq(s1, t2);
	}
	ck_assert_int_eq(vg_autota_anchors(a, anc1), 0);
	ck_assert_int_eq(vg_autota_anchors(b, anc2), 0);
	ck_assert_uint_eq(anc2->n, anc1->n + 1);
	for (unsigned i = 0; i < anc1->n; i++) {
		ck_assert(vg_name_eq(anc1->ta[i].owner, anc2->ta[i].owner));
		ck_assert_uint_eq(anc1->ta[i].type, anc2->ta[i].type);
		ck_assert_uint_eq(anc1->ta[i].rdlen, anc2->ta[i].rdlen);
		ck_assert(!memcmp(anc1->ta[i].rdata, anc2->ta[i].rdata, anc1->ta[i].rdlen));
	}
	ck_assert(vg_name_eq(anc2->ta[anc1->n].owner, fresh));
	ck_assert_int_eq(vg_autota_key_state(b, fresh, E.plain, E.plain_len, NULL),
			 VG_AUTOTA_VALID);
	/* the zone seeded now is due at once */
	const uint8_t *z1, *z2;
	ck_assert_uint_eq(vg_autota_next_refresh(b, T0 + 300, &z2), T0 + 300);
	ck_assert(vg_name_eq(z2, fresh));
	/* the state goes on working after the reload: B becomes Valid in time */
	build(&r, KEYS(&A, &B), KEYS(&A), T0 + 100 + 30 * DAY);
	ck_assert_int_eq(update(b, &r, T0 + 100 + 30 * DAY, NULL), 0);
	ck_assert_int_eq(state(b, &B, NULL), VG_AUTOTA_VALID);

	/* writing what was read gives the same file (comments aside) */
	vg_autota_free(b);
	b = NULL;
	ck_assert_int_eq(vg_autota_load(&b, state_path, NULL, T0 + 300, stderr), 0);
	ck_assert_uint_eq(vg_autota_next_refresh(a, T0 + 300, &z1),
			  vg_autota_next_refresh(b, T0 + 300, &z2));
	ck_assert(vg_name_eq(z1, z2));
	char path2[160];
	snprintf(path2, sizeof(path2), "%s/state2", tmpdir);
	ck_assert_int_eq(vg_autota_save(b, path2), 0);
	static char x1[65536], x2[65536];
	FILE *f1 = fopen(state_path, "r"), *f2 = fopen(path2, "r");
	size_t n1 = fread(x1, 1, sizeof(x1), f1), n2 = fread(x2, 1, sizeof(x2), f2);
	fclose(f1);
	fclose(f2);
	ck_assert_uint_eq(n1, n2);
	ck_assert(!memcmp(x1, x2, n1));

	/* a zone no longer configured is dropped */
	vg_autota_free(b);
	b = NULL;
	struct vg_ta_set *s3 = ta_new();
	ta_add(s3, ZONE, VG_T_DNSKEY, A.plain, A.plain_len);
	ck_assert_int_eq(vg_autota_load(&b, state_path, s3, T0 + 300, stderr), 0);
	ck_assert_int_eq(vg_autota_key_state(b, other, E.plain, E.plain_len, NULL),
			 VG_ENOTFOUND);
	ck_assert_int_eq(state(b, &C, NULL), VG_AUTOTA_REVOKED);

	/* a save that cannot happen leaves nothing behind */
	ck_assert_int_lt(vg_autota_save(b, "/nonexistent-vigil-dir/state"), 0);

	vg_autota_free(a);
	vg_autota_free(b);
	struct tkey *fr[] = { &A, &B, &C, &D, &E };
	for (unsigned i = 0; i < 5; i++)
		tkey_free(fr[i]);
	free(s);
	free(s2);
	free(s3);
	free(anc1);
	free(anc2);
}
END_TEST

static const struct {
	const char *text;
	size_t len; /* 0: strlen */
	unsigned line;
} corrupt[] = {
	{ "", 0, 1 },
	{ "zone example. 1 2 3 4 5\n", 0, 1 },
	{ "vigil-autota 2\n", 0, 1 },
	{ "; header\nvigil-autota 1\ndnskey valid 1 0 257 3 13 AAAA\n", 0, 3 },
	{ "vigil-autota 1\nzone example. 1 2 3 4 5\ndnskey bogus 1 0 257 3 13 AAAA\n", 0, 3 },
	{ "vigil-autota 1\n\n; c\nzone example. 1 2 x 4 5\n", 0, 4 },
	{ "vigil-autota 1\nzone example. 1 2 3 4 99999999999\n", 0, 2 },
	{ "vigil-autota 1\nzone example. 1 2 3 4\n", 0, 2 },
	{ "vigil-autota 1\nzone exa..mple. 1 2 3 4 5\n", 0, 2 },
	{ "vigil-autota 1\nzone example. 1 2 3 4 5\ndnskey valid 1 0 257 3 13 !!!!\n", 0, 3 },
	{ "vigil-autota 1\nzone example. 1 2 3 4 5\ndnskey valid 1 0 257 3 13 AAA\n", 0, 3 },
	{ "vigil-autota 1\nzone example. 1 2 3 4 5\ndnskey valid 1 0 257 3\n", 0, 3 },
	{ "vigil-autota 1\nzone example. 1 2 3 4 5\ndnskey valid 1 0 385 3 13 AAAA\n", 0, 3 },
	{ "vigil-autota 1\nzone example. 1 2 3 4 5\ndnskey revoked 1 0 257 3 13 AAAA\n", 0, 3 },
	{ "vigil-autota 1\nzone example. 1 2 3 4 5\ndnskey addpend 5 1 257 3 13 AAAA\n", 0, 3 },
	{ "vigil-autota 1\nzone example. 1 2 3 4 5\ndnskey valid 1 0 257 2 13 AAAA\n", 0, 3 },
	{ "vigil-autota 1\nzone example. 1 2 3 4 5\ndnskey valid 1 0 70000 3 13 AAAA\n", 0, 3 },
	{ "vigil-autota 1\nzone example. 1 2 3 4 5\ndnskey valid 1 0 257 3 13 AAAA\n"
	  "dnskey missing 1 0 257 3 13 AAAA\n", 0, 4 },
	{ "vigil-autota 1\nzone example. 1 2 3 4 5\nds pending 1 0 1 8 2 ABC\n", 0, 3 },
	{ "vigil-autota 1\nzone example. 1 2 3 4 5\nds valid 1 0 1 8 2 ABCD\n", 0, 3 },
	{ "vigil-autota 1\nzone example. 1 2 3 4 5\nzone EXAMPLE. 1 2 3 4 5\n", 0, 3 },
	{ "vigil-autota 1\nzone example. 1 2 3 4 5\nkey valid\n", 0, 3 },
	{ "vigil-autota 1\nzone example. 1 2 3 4 5 6 7 8 9 10 11 12 13\n", 0, 2 },
	{ "vigil-autota 1\nzone ex\0ample. 1 2 3 4 5\n", 40, 2 },
	{ "\x7f" "ELF\x02\x01\x01\0\0\0\xff\xfe\n\x01\x02", 15, 1 },
};

START_TEST(corrupt_state_file_is_an_error_with_file_and_line)
{
	FILE *f = fopen(state_path, "w");
	size_t len = corrupt[_i].len ? corrupt[_i].len : strlen(corrupt[_i].text);
	ck_assert_uint_eq(fwrite(corrupt[_i].text, 1, len, f), len);
	fclose(f);
	char *buf = NULL;
	size_t blen = 0;
	FILE *err = open_memstream(&buf, &blen);
	struct vg_autota *a = (struct vg_autota *)&blen; /* must be reset to NULL */
	struct vg_ta_set *s = ta_new();
	static const uint8_t rd[] = { 1, 1, 3, 13, 0, 0, 0, 0 };
	ta_add(s, ZONE, VG_T_DNSKEY, rd, sizeof(rd));
	ck_assert_int_eq(vg_autota_load(&a, state_path, s, T0, err), VG_EPARSE);
	fclose(err);
	ck_assert_ptr_null(a);
	char want[192];
	snprintf(want, sizeof(want), "%s:%u: ", state_path, corrupt[_i].line);
	ck_assert_msg(strstr(buf, want) == buf, "case %d: want '%s', got '%s'", _i, want, buf);
	ck_assert_msg(strchr(buf, '\n') == buf + blen - 1, "one line: '%s'", buf);
	free(buf);
	free(s);
}
END_TEST

START_TEST(configured_anchors_are_checked_and_bounded)
{
	struct vg_ta_set *s = ta_new();
	struct vg_autota *a = NULL;
	uint8_t rd[8] = { 1, 1, 3, 13, 0, 0, 0, 0 };
	for (unsigned i = 0; i <= VG_AUTOTA_KEYS_MAX; i++) {
		rd[7] = (uint8_t)i;
		ta_add(s, ZONE, VG_T_DNSKEY, rd, sizeof(rd));
	}
	char *buf = NULL;
	size_t blen = 0;
	FILE *err = open_memstream(&buf, &blen);
	ck_assert_int_eq(vg_autota_load(&a, state_path, s, T0, err), VG_ELIMIT);
	fclose(err);
	ck_assert_ptr_null(a);
	ck_assert_ptr_nonnull(strstr(buf, "example."));
	free(buf);
	/* one fewer fits, and duplicates are merged */
	s->n = VG_AUTOTA_KEYS_MAX;
	ta_add(s, ZONE, VG_T_DNSKEY, s->ta[0].rdata, s->ta[0].rdlen);
	ck_assert_int_eq(vg_autota_load(&a, state_path, s, T0, stderr), 0);
	struct vg_ta_set *anc = ta_new();
	ck_assert_int_eq(vg_autota_anchors(a, anc), 0);
	ck_assert_uint_eq(anc->n, VG_AUTOTA_KEYS_MAX);
	vg_autota_free(a);
	a = NULL;

	/* a configured key the state file could not hold: revoked, or no zone key */
	s->n = 1;
	s->ta[0].rdata[1] |= 0x80;
	ck_assert_int_eq(vg_autota_load(&a, state_path, s, T0, NULL), VG_EINVAL);
	ck_assert_ptr_null(a);
	s->ta[0].rdata[1] = 1;
	s->ta[0].rdata[0] = 0;
	ck_assert_int_eq(vg_autota_load(&a, state_path, s, T0, NULL), VG_EINVAL);
	ck_assert_ptr_null(a);
	free(anc);
	free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("autota");
	TCase *tc = tcase_create("rfc5011");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, ds_anchor_seeds_then_first_validated_set_makes_keys_valid);
	tcase_add_test(tc, dnskey_anchor_is_valid_at_once);
	tcase_add_test(tc, new_key_becomes_valid_only_after_add_holddown);
	tcase_add_test(tc, add_holddown_is_the_ttl_when_longer);
	tcase_add_test(tc, pending_key_that_disappears_is_forgotten);
	tcase_add_test(tc, self_signed_revocation_revokes_then_removes);
	tcase_add_test(tc, revocation_needs_only_the_self_signature);
	tcase_add_test(tc, revocation_without_valid_self_signature_is_ignored);
	tcase_add_test(tc, set_not_signed_by_trusted_key_changes_nothing);
	tcase_add_test(tc, junk_signatures_hit_the_work_budget);
	tcase_add_test(tc, last_trusted_key_is_kept_when_missing);
	tcase_add_test(tc, refresh_schedule_follows_rfc5011_2_3);
	tcase_add_test(tc, save_and_load_roundtrip);
	tcase_add_loop_test(tc, corrupt_state_file_is_an_error_with_file_and_line, 0,
			    (int)(sizeof(corrupt) / sizeof(corrupt[0])));
	tcase_add_test(tc, configured_anchors_are_checked_and_bounded);
	suite_add_tcase(s, tc);
	return vg_test_run(s);
}
