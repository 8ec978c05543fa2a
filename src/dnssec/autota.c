/* SPDX-License-Identifier: MIT
 *
 * RFC 5011 trust anchor state: the key state machine, the refresh schedule
 * and the state file (format in autota.h).  Fetching the DNSKEY RRset and
 * feeding the validator belong to the resolver; this file only decides.
 *
 * Design.  Each anchor zone keeps a small fixed array of entries: DNSKEYs
 * with their RFC 5011 state, and configured DS anchors still waiting for
 * their first match.  An update runs in four steps, in this order so that
 * no key can vouch for itself except to revoke itself:
 *
 *  1. RemTime: revoked keys past the remove hold-down are deleted.
 *  2. Revbit: each RRset key with the REVOKE bit whose unrevoked form is a
 *     trusted key (or matches a pending DS) is checked against the RRset's
 *     RRSIGs on its own; a verifying self-signature revokes it.
 *  3. The RRset must verify with the trusted keys left (Valid, Missing, and
 *     the RRset's keys matching a pending DS).  Otherwise stop: a failure.
 *  4. NewKey / AddTime / KeyRem / KeyPres over the SEP keys present.
 *
 * All signature checks of one update share one work budget, so a DNSKEY
 * RRset full of revoked keys and junk RRSIGs costs at most a few
 * verifications (KeyTrap).  Allocation happens only in load/save and for
 * the zone table; updates use the two buffers allocated at load.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/core.h"
#include "dnssec/autota.h"

#define F_ZONE 0x0100
#define F_REVOKE 0x0080
#define F_SEP 0x0001

#define SCRATCH_CAP (65536 + 1024) /* canonical RRset + RRSIG for one verification */
#define SIGBUF_CAP 65536
#define LINE_MAX_LEN 16384
#define FIELDS_MAX 12
#define DS_DIGEST_MAX (VG_TA_RDATA_MAX - 4)

#define HOUR 3600u
#define DAY (24 * HOUR)

enum { ENT_KEY, ENT_DS };

struct entry {
	uint8_t kind;  /* ENT_KEY, or ENT_DS: a configured DS not yet matched */
	uint8_t state; /* enum vg_autota_state (keys) */
	bool present;  /* scratch for one update: in the RRset */
	bool fresh;    /* scratch for one update: added by it */
	uint32_t since, until;
	uint16_t rdlen;
	uint8_t rdata[VG_TA_RDATA_MAX];
};

struct zone {
	uint8_t name[VG_NAME_MAX];
	bool from_file; /* scratch for load */
	uint32_t refreshed, attempted, failures, ttl, expire;
	unsigned n;
	struct entry e[VG_AUTOTA_KEYS_MAX];
};

struct vg_autota {
	struct zone *zone;
	unsigned nzones;
	size_t cap;
	uint32_t add_holddown, remove_holddown;
	uint8_t *scratch; /* canonical form for vg_dnssec_validate_rrset */
	uint8_t *sigbuf;  /* the RRSIGs of an update that count, packed */
};

static const char *const state_names[] = {
	[VG_AUTOTA_START] = "start",     [VG_AUTOTA_ADDPEND] = "addpend",
	[VG_AUTOTA_VALID] = "valid",     [VG_AUTOTA_MISSING] = "missing",
	[VG_AUTOTA_REVOKED] = "revoked", [VG_AUTOTA_REMOVED] = "removed",
};

const char *vg_autota_state_name(int state)
{
	if (state < 0 || (size_t)state >= VG_ARRAY_SIZE(state_names))
		return "?";
	return state_names[state];
}

static uint32_t min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static uint32_t max32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

static uint32_t add_sat(uint32_t a, uint32_t b)
{
	return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

/* ------------------------------------------------------------ keys and zones */

static uint16_t key_flags(const uint8_t *rd)
{
	return vg_get16(rd);
}

/* The same key, whether or not either copy has the REVOKE bit. */
static bool same_key(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && alen >= 4 && a[0] == b[0] &&
	       (a[1] & ~F_REVOKE) == (b[1] & ~F_REVOKE) && !memcmp(a + 2, b + 2, alen - 2);
}

static bool trusted(const struct entry *e)
{
	return e->kind == ENT_KEY && (e->state == VG_AUTOTA_VALID || e->state == VG_AUTOTA_MISSING);
}

static struct zone *find_zone(const struct vg_autota *a, const uint8_t *name)
{
	for (unsigned i = 0; i < a->nzones; i++)
		if (vg_name_eq(a->zone[i].name, name))
			return &a->zone[i];
	return NULL;
}

static struct zone *add_zone(struct vg_autota *a, const uint8_t *name)
{
	if (vg_grow((void **)&a->zone, &a->cap, (size_t)a->nzones + 1, sizeof(*a->zone), 4) < 0)
		return NULL;
	struct zone *z = &a->zone[a->nzones++];
	memset(z, 0, sizeof(*z));
	memcpy(z->name, name, vg_name_len(name));
	vg_name_lower(z->name);
	return z;
}

static int find_key(const struct zone *z, const uint8_t *rd, size_t len)
{
	for (unsigned i = 0; i < z->n; i++)
		if (z->e[i].kind == ENT_KEY && same_key(z->e[i].rdata, z->e[i].rdlen, rd, len))
			return (int)i;
	return -1;
}

/* A pending DS of @p z matching the (unrevoked) key @p rd, or -1. */
static int find_ds(const struct zone *z, const uint8_t *rd, size_t len)
{
	for (unsigned i = 0; i < z->n; i++)
		if (z->e[i].kind == ENT_DS &&
		    vg_dnssec_ds_match(z->name, rd, len, z->e[i].rdata, z->e[i].rdlen) == 0)
			return (int)i;
	return -1;
}

static void del_entry(struct zone *z, unsigned i)
{
	memmove(&z->e[i], &z->e[i + 1], (z->n - i - 1) * sizeof(z->e[0]));
	z->n--;
}

static struct entry *add_entry(struct zone *z, int kind, int state, uint32_t since,
			       uint32_t until, const uint8_t *rd, size_t len)
{
	if (z->n == VG_AUTOTA_KEYS_MAX || len > VG_TA_RDATA_MAX)
		return NULL;
	struct entry *e = &z->e[z->n++];
	memset(e, 0, offsetof(struct entry, rdata));
	e->kind = (uint8_t)kind;
	e->state = (uint8_t)state;
	e->since = since;
	e->until = until;
	e->rdlen = (uint16_t)len;
	memcpy(e->rdata, rd, len);
	return e;
}

/* Does the zone still have something to refresh with? */
static bool zone_active(const struct zone *z)
{
	for (unsigned i = 0; i < z->n; i++)
		if (trusted(&z->e[i]) || z->e[i].kind == ENT_DS)
			return true;
	return false;
}

/* ------------------------------------------------------------ packed RRsets */

struct rdit {
	const uint8_t *p, *end;
	unsigned left;
};

static void rdit_init(struct rdit *it, const struct vg_rrset *rs)
{
	it->p = rs ? rs->rdata : NULL;
	it->end = it->p ? it->p + rs->rdata_len : NULL;
	it->left = rs && rs->rdata ? rs->count : 0;
}

static bool rdit_next(struct rdit *it, const uint8_t **rd, uint16_t *len)
{
	if (!it->left || it->end - it->p < 2)
		return false;
	uint16_t l = vg_get16(it->p);
	if (it->end - it->p - 2 < l)
		return false;
	*rd = it->p + 2;
	*len = l;
	it->p += 2u + l;
	it->left--;
	return true;
}

static bool rrset_ok(const struct vg_rrset *rs)
{
	struct rdit it;
	const uint8_t *rd;
	uint16_t len;
	unsigned n = 0;
	rdit_init(&it, rs);
	while (rdit_next(&it, &rd, &len))
		n++;
	return n == rs->count && it.p == it.end;
}

/* serial arithmetic (RFC 1982), as the validator uses for RRSIG times */
static bool serial_lt(uint32_t a, uint32_t b)
{
	return a != b && (uint32_t)(b - a) < 0x80000000u;
}

/*
 * Copy the RRSIGs covering DNSKEY and signed by @p zone into a->sigbuf as a
 * packed RRset @p out, and find the earliest expiration still in the future.
 */
static int filter_sigs(struct vg_autota *a, const uint8_t *zone, const struct vg_rrset *sigs,
		       uint32_t now, struct vg_rrset *out, uint32_t *expire)
{
	struct rdit it;
	const uint8_t *rd;
	uint16_t len;
	size_t used = 0;
	memset(out, 0, sizeof(*out));
	out->owner = zone;
	out->type = VG_T_RRSIG;
	out->rclass = VG_C_IN;
	out->rdata = a->sigbuf;
	*expire = 0;
	if (!sigs)
		return 0;
	if (!rrset_ok(sigs))
		return VG_EMALFORMED;
	rdit_init(&it, sigs);
	while (rdit_next(&it, &rd, &len)) {
		if (len < 19 || vg_get16(rd) != VG_T_DNSKEY)
			continue;
		int nl = vg_name_check(rd + 18, len - 18u);
		if (nl < 0 || !vg_name_eq(rd + 18, zone))
			continue;
		if (used + 2u + len > SIGBUF_CAP)
			break;
		vg_put16(a->sigbuf + used, len);
		memcpy(a->sigbuf + used + 2, rd, len);
		used += 2u + len;
		out->count++;
		uint32_t exp = vg_get32(rd + 8);
		if (serial_lt(now, exp) && (!*expire || serial_lt(exp, *expire)))
			*expire = exp;
	}
	out->rdata_len = (uint16_t)used;
	return 0;
}

/* ------------------------------------------------------------ update */

struct keyset {
	unsigned n;
	struct vg_dnssec_key k[2 * VG_AUTOTA_KEYS_MAX];
};

static void keyset_add(struct keyset *ks, const uint8_t *rd, size_t len, bool *unsupported)
{
	if (ks->n == VG_ARRAY_SIZE(ks->k))
		return;
	int r = vg_dnssec_key_init(&ks->k[ks->n], rd, len);
	if (r == 0)
		ks->n++;
	else if (r == VG_ENOTSUP)
		*unsupported = true;
}

static void keyset_deinit(struct keyset *ks)
{
	for (unsigned i = 0; i < ks->n; i++)
		vg_dnssec_key_deinit(&ks->k[i]);
	ks->n = 0;
}

static bool is_zone_key(const uint8_t *rd, size_t len)
{
	return len >= 5 && rd[2] == 3 && (key_flags(rd) & F_ZONE);
}

static uint32_t add_until(const struct vg_autota *a, const struct vg_rrset *rs, uint32_t now)
{
	/* 2.4.1: 30 days, or the original TTL of the RRset if that is longer */
	return add_sat(now, max32(a->add_holddown, min32(rs->ttl, 0x7fffffffu)));
}

/* Step 2: self-signed revocations.  0 or VG_ELIMIT / VG_ENOMEM. */
static int apply_revocations(struct vg_autota *a, struct zone *z, const struct vg_rrset *rs,
			     const struct vg_rrset *sigs, uint32_t now,
			     struct vg_val_budget *budget, bool *changed, bool *revoked)
{
	struct rdit it;
	const uint8_t *rd;
	uint16_t len;
	uint8_t plain[VG_TA_RDATA_MAX];
	rdit_init(&it, rs);
	while (rdit_next(&it, &rd, &len)) {
		if (!is_zone_key(rd, len) || !(key_flags(rd) & F_REVOKE) || len > sizeof(plain))
			continue;
		int k = find_key(z, rd, len), d = -1;
		if (k >= 0 && !trusted(&z->e[k]))
			continue; /* already revoked, or never trusted */
		if (k < 0) {
			memcpy(plain, rd, len);
			plain[1] &= (uint8_t)~F_REVOKE;
			d = find_ds(z, plain, len);
			if (d < 0)
				continue;
		}
		struct vg_dnssec_key key;
		if (vg_dnssec_key_init(&key, rd, len) != 0)
			continue;
		int ede, r = vg_dnssec_validate_rrset(rs, sigs, &key, 1, now, budget, a->scratch,
						      SCRATCH_CAP, &ede);
		vg_dnssec_key_deinit(&key);
		if (r == VG_ELIMIT || r == VG_ENOMEM)
			return r;
		if (r != 0)
			continue; /* not self-signed: the revocation is not proven */
		if (k >= 0) {
			struct entry *e = &z->e[k];
			e->state = VG_AUTOTA_REVOKED;
			e->since = now;
			e->until = add_sat(now, a->remove_holddown);
			memcpy(e->rdata, rd, len); /* as published, REVOKE bit set */
		} else {
			del_entry(z, (unsigned)d);
		}
		*changed = *revoked = true;
	}
	return 0;
}

/* Step 4: the state machine over an accepted RRset. */
static void apply_states(struct vg_autota *a, struct zone *z, const struct vg_rrset *rs,
			 uint32_t now, bool *changed)
{
	struct rdit it;
	const uint8_t *rd;
	uint16_t len;

	/* first accepted RRset: keys matching a pending DS become Valid at once */
	bool had_ds = false;
	for (unsigned i = 0; i < z->n; i++)
		had_ds |= z->e[i].kind == ENT_DS;
	if (had_ds) {
		const uint8_t *match[VG_AUTOTA_KEYS_MAX];
		uint16_t mlen[VG_AUTOTA_KEYS_MAX];
		unsigned nm = 0;
		rdit_init(&it, rs);
		while (rdit_next(&it, &rd, &len) && nm < VG_AUTOTA_KEYS_MAX) {
			if (is_zone_key(rd, len) && !(key_flags(rd) & F_REVOKE) &&
			    find_ds(z, rd, len) >= 0) {
				match[nm] = rd;
				mlen[nm++] = len;
			}
		}
		for (unsigned i = z->n; i-- > 0;)
			if (z->e[i].kind == ENT_DS)
				del_entry(z, i);
		for (unsigned i = 0; i < nm; i++) {
			int k = find_key(z, match[i], mlen[i]);
			if (k >= 0 && z->e[k].state == VG_AUTOTA_VALID)
				continue; /* also configured as a DNSKEY */
			if (k >= 0) {
				z->e[k].state = VG_AUTOTA_VALID;
				z->e[k].since = now;
				z->e[k].until = 0;
			} else
				add_entry(z, ENT_KEY, VG_AUTOTA_VALID, now, 0, match[i], mlen[i]);
		}
		*changed = true; /* the DS anchors gave way to keys */
	}

	for (unsigned i = 0; i < z->n; i++)
		z->e[i].present = z->e[i].fresh = false;
	rdit_init(&it, rs);
	while (rdit_next(&it, &rd, &len)) {
		if (!is_zone_key(rd, len))
			continue;
		int k = find_key(z, rd, len);
		if (key_flags(rd) & F_REVOKE)
			continue; /* revoked form: handled by step 2 or unproven */
		if (k >= 0) {
			z->e[k].present = true; /* for a revoked entry: never again */
			continue;
		}
		/* NewKey: only SEP keys we could use */
		if (!(key_flags(rd) & F_SEP) || !vg_dnssec_alg_supported(rd[3]))
			continue;
		struct entry *e = add_entry(z, ENT_KEY, VG_AUTOTA_ADDPEND, now,
					    add_until(a, rs, now), rd, len);
		if (e)
			e->present = e->fresh = true;
	}

	for (unsigned i = z->n; i-- > 0;) {
		struct entry *e = &z->e[i];
		if (e->kind != ENT_KEY)
			continue;
		switch (e->state) {
		case VG_AUTOTA_ADDPEND:
			if (!e->present) { /* KeyRem: back to Start, forgotten */
				del_entry(z, i);
			} else if (!e->fresh && !serial_lt(now, e->until)) { /* AddTime */
				e->state = VG_AUTOTA_VALID;
				e->since = now;
				e->until = 0;
				*changed = true;
			}
			break;
		case VG_AUTOTA_VALID:
			if (!e->present) { /* KeyRem: still trusted */
				e->state = VG_AUTOTA_MISSING;
				e->since = now;
			}
			break;
		case VG_AUTOTA_MISSING:
			if (e->present) { /* KeyPres */
				e->state = VG_AUTOTA_VALID;
				e->since = now;
			}
			break;
		default:
			break;
		}
	}
}

int vg_autota_update(struct vg_autota *a, const uint8_t *zone, const struct vg_rrset *dnskey,
		     const struct vg_rrset *rrsig, uint32_t now, bool *changed)
{
	struct vg_val_budget budget = {
		.sigs_left = 16, .rrsigs_per_rrset = 8, .keys_per_tag = 2, .skew = 300,
	};
	struct keyset ks = { 0 };
	struct vg_rrset sigs;
	uint32_t expire;
	bool dummy, revoked = false, unsupported = false;
	int ret;

	if (!changed)
		changed = &dummy;
	*changed = false;
	struct zone *z = find_zone(a, zone);
	if (!z)
		return VG_ENOTFOUND;
	if (!dnskey || dnskey->type != VG_T_DNSKEY || !dnskey->owner ||
	    !vg_name_eq(dnskey->owner, zone))
		return VG_EINVAL;
	z->attempted = now;
	if (!rrset_ok(dnskey)) {
		ret = VG_EMALFORMED;
		goto fail;
	}
	ret = filter_sigs(a, z->name, rrsig, now, &sigs, &expire);
	if (ret)
		goto fail;

	/* 1. RemTime */
	for (unsigned i = z->n; i-- > 0;)
		if (z->e[i].kind == ENT_KEY && z->e[i].state == VG_AUTOTA_REVOKED &&
		    !serial_lt(now, z->e[i].until))
			del_entry(z, i);

	/* 2. Revbit */
	ret = apply_revocations(a, z, dnskey, &sigs, now, &budget, changed, &revoked);
	if (ret)
		goto fail;
	if (revoked) {
		/* 2.2: the keys vouching for pending keys may be the revoked ones */
		for (unsigned i = 0; i < z->n; i++) {
			if (z->e[i].kind == ENT_KEY && z->e[i].state == VG_AUTOTA_ADDPEND) {
				z->e[i].since = now;
				z->e[i].until = add_until(a, dnskey, now);
			}
		}
	}

	/* 3. the RRset must verify with a trusted key */
	for (unsigned i = 0; i < z->n; i++)
		if (trusted(&z->e[i]))
			keyset_add(&ks, z->e[i].rdata, z->e[i].rdlen, &unsupported);
	if (!zone_active(z)) {
		ret = VG_EBOGUS; /* a deleted trust point */
		goto fail;
	}
	struct rdit it;
	const uint8_t *rd;
	uint16_t len;
	rdit_init(&it, dnskey);
	while (rdit_next(&it, &rd, &len))
		if (is_zone_key(rd, len) && !(key_flags(rd) & F_REVOKE) && find_ds(z, rd, len) >= 0)
			keyset_add(&ks, rd, len, &unsupported);
	if (ks.n == 0) {
		ret = unsupported ? VG_ENOTSUP : VG_EBOGUS;
		goto fail;
	}
	int ede;
	ret = vg_dnssec_validate_rrset(dnskey, &sigs, ks.k, ks.n, now, &budget, a->scratch,
				       SCRATCH_CAP, &ede);
	keyset_deinit(&ks);
	if (ret)
		goto fail;

	/* 4. the state machine */
	apply_states(a, z, dnskey, now, changed);
	z->refreshed = now;
	z->failures = 0;
	z->ttl = dnskey->ttl;
	z->expire = expire;
	return 0;
fail:
	keyset_deinit(&ks);
	if (z->failures < UINT32_MAX)
		z->failures++;
	return ret;
}

int vg_autota_failed(struct vg_autota *a, const uint8_t *zone, uint32_t now)
{
	struct zone *z = find_zone(a, zone);
	if (!z)
		return VG_ENOTFOUND;
	z->attempted = now;
	if (z->failures < UINT32_MAX)
		z->failures++;
	return 0;
}

/* ------------------------------------------------------------ queries */

int vg_autota_anchors(const struct vg_autota *a, struct vg_ta_set *out)
{
	out->n = 0;
	for (unsigned i = 0; i < a->nzones; i++) {
		const struct zone *z = &a->zone[i];
		for (unsigned k = 0; k < z->n; k++) {
			const struct entry *e = &z->e[k];
			if (!trusted(e) && e->kind != ENT_DS)
				continue;
			if (out->n == VG_TA_MAX)
				return VG_ELIMIT;
			struct vg_ta *t = &out->ta[out->n++];
			memcpy(t->owner, z->name, vg_name_len(z->name));
			t->type = e->kind == ENT_DS ? VG_T_DS : VG_T_DNSKEY;
			t->rdlen = e->rdlen;
			memcpy(t->rdata, e->rdata, e->rdlen);
		}
	}
	return 0;
}

static uint32_t zone_next(const struct zone *z, uint32_t now)
{
	uint32_t x, base;
	if (!zone_active(z))
		return VG_AUTOTA_NEVER;
	if (!z->refreshed && !z->failures)
		return now;
	uint32_t ei = z->expire > z->refreshed ? z->expire - z->refreshed : 0;
	bool have_ei = z->refreshed && z->expire;
	if (z->failures) {
		/* retryTime = MAX(1 hour, MIN(1 day, .1 * origTTL, .1 * expireInterval)) */
		x = DAY;
		if (z->refreshed)
			x = min32(x, z->ttl / 10);
		else
			x = HOUR;
		if (have_ei)
			x = min32(x, ei / 10);
		base = z->attempted;
	} else {
		/* queryInterval = MAX(1 hr, MIN(15 days, 1/2 origTTL, 1/2 expireInterval)) */
		x = min32(15 * DAY, z->ttl / 2);
		if (have_ei)
			x = min32(x, ei / 2);
		base = z->refreshed;
	}
	uint32_t t = add_sat(base, max32(HOUR, x));
	return t < now ? now : t;
}

uint32_t vg_autota_next_refresh(const struct vg_autota *a, uint32_t now, const uint8_t **zone)
{
	uint32_t best = VG_AUTOTA_NEVER;
	if (zone)
		*zone = NULL;
	for (unsigned i = 0; i < a->nzones; i++) {
		uint32_t t = zone_next(&a->zone[i], now);
		if (t < best) {
			best = t;
			if (zone)
				*zone = a->zone[i].name;
		}
	}
	return best;
}

int vg_autota_key_state(const struct vg_autota *a, const uint8_t *zone, const uint8_t *key,
			size_t keylen, uint32_t *since)
{
	const struct zone *z = find_zone(a, zone);
	if (!z)
		return VG_ENOTFOUND;
	int k = find_key(z, key, keylen);
	if (since)
		*since = k >= 0 ? z->e[k].since : 0;
	return k >= 0 ? z->e[k].state : VG_AUTOTA_START;
}

void vg_autota_set_holddown(struct vg_autota *a, uint32_t add, uint32_t remove)
{
	a->add_holddown = add;
	a->remove_holddown = remove;
}

void vg_autota_free(struct vg_autota *a)
{
	if (!a)
		return;
	free(a->zone);
	free(a->scratch);
	free(a->sigbuf);
	free(a);
}

/* ------------------------------------------------------------ save */

static void put_name(FILE *f, const uint8_t *n)
{
	if (!*n) {
		fputc('.', f);
		return;
	}
	while (*n) {
		uint8_t l = *n++;
		for (unsigned i = 0; i < l; i++) {
			uint8_t c = n[i];
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '*')
				fputc(c, f);
			else
				fprintf(f, "\\%03u", c);
		}
		n += l;
		fputc('.', f);
	}
}

static const char *fmt_time(uint32_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, size, "%u", t);
	return buf;
}

static void put_entry(FILE *f, const struct entry *e)
{
	char b64[sodium_base64_ENCODED_LEN(VG_TA_RDATA_MAX, sodium_base64_VARIANT_ORIGINAL)];
	char hex[2 * VG_TA_RDATA_MAX + 1], t1[40], t2[40];
	if (e->kind == ENT_DS) {
		sodium_bin2hex(hex, sizeof(hex), e->rdata + 4, e->rdlen - 4u);
		for (char *p = hex; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		fprintf(f, "ds pending %u %u %u %u %u %s ; configured %s, awaiting a match\n",
			e->since, e->until, vg_get16(e->rdata), e->rdata[2], e->rdata[3], hex,
			fmt_time(e->since, t1, sizeof(t1)));
		return;
	}
	sodium_bin2base64(b64, sizeof(b64), e->rdata + 4, e->rdlen - 4u,
			  sodium_base64_VARIANT_ORIGINAL);
	fprintf(f, "dnskey %s %u %u %u %u %u %s ; tag %u, %s since %s", state_names[e->state],
		e->since, e->until, key_flags(e->rdata), e->rdata[2], e->rdata[3], b64,
		vg_dnssec_keytag(e->rdata, e->rdlen), state_names[e->state],
		fmt_time(e->since, t1, sizeof(t1)));
	if (e->until)
		fprintf(f, ", hold-down until %s", fmt_time(e->until, t2, sizeof(t2)));
	fputc('\n', f);
}

static void put_state(FILE *f, const struct vg_autota *a)
{
	fputs("; vigil RFC 5011 trust anchor state; the format is described in\n"
	      "; src/dnssec/autota.h.  vigil rewrites this file (atomically) after every\n"
	      "; refresh of an anchor zone; delete it to start again from the configured\n"
	      "; trust anchors.  Times are Unix seconds, 0 = never.\n"
	      "vigil-autota 1\n",
	      f);
	for (unsigned i = 0; i < a->nzones; i++) {
		const struct zone *z = &a->zone[i];
		fputs("\n; zone NAME REFRESHED ATTEMPTED FAILURES TTL EXPIRE\nzone ", f);
		put_name(f, z->name);
		fprintf(f, " %u %u %u %u %u\n", z->refreshed, z->attempted, z->failures, z->ttl,
			z->expire);
		if (z->n)
			fputs("; dnskey STATE SINCE UNTIL FLAGS PROTOCOL ALGORITHM KEY\n", f);
		else
			fputs("; no keys left: a deleted trust point (every key was revoked)\n", f);
		for (unsigned k = 0; k < z->n; k++)
			put_entry(f, &z->e[k]);
	}
}

int vg_autota_save(const struct vg_autota *a, const char *path)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 16);
	int fd = -1, ret = 0;
	FILE *f = NULL;
	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, plen + 16, "%s.tmp-XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	(void)fchmod(fd, 0644);
	f = fdopen(fd, "w");
	if (!f) {
		ret = -errno;
		close(fd);
		goto out_unlink;
	}
	put_state(f, a);
	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
		ret = errno ? -errno : -EIO;
		fclose(f);
		goto out_unlink;
	}
	if (fclose(f) != 0) {
		ret = -errno;
		goto out_unlink;
	}
	if (rename(tmp, path) != 0) {
		ret = -errno;
		goto out_unlink;
	}
	/* make the rename itself durable */
	char *slash = strrchr(tmp, '/');
	if (slash)
		slash[slash == tmp ? 1 : 0] = 0;
	int dfd = open(slash ? tmp : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	goto out;
out_unlink:
	unlink(tmp);
out:
	free(tmp);
	return ret;
}

/* ------------------------------------------------------------ load */

struct parser {
	const char *path;
	unsigned line;
	FILE *errout;
	struct zone *zone; /* the current zone record */
	bool version;
};

static int perr(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(struct parser *p, const char *fmt, ...)
{
	if (p->errout) {
		va_list ap;
		va_start(ap, fmt);
		fprintf(p->errout, "%s:%u: ", p->path, p->line);
		vfprintf(p->errout, fmt, ap);
		fputc('\n', p->errout);
		va_end(ap);
	}
	return VG_EPARSE;
}

static bool parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return false;
	}
	*out = (uint32_t)v;
	return true;
}

static int parse_state(const char *s)
{
	for (int i = VG_AUTOTA_ADDPEND; i <= VG_AUTOTA_REVOKED; i++)
		if (!strcmp(s, state_names[i]))
			return i;
	return -1;
}

static int parse_zone(struct vg_autota *a, struct parser *p, char **f, unsigned nf)
{
	uint8_t name[VG_NAME_MAX];
	uint32_t v[5];
	if (nf != 7)
		return perr(p, "a zone record has 7 fields, not %u", nf);
	if (vg_name_from_str(f[1], name, sizeof(name)) < 0)
		return perr(p, "bad zone name '%s'", f[1]);
	for (unsigned i = 0; i < 5; i++)
		if (!parse_u32(f[2 + i], UINT32_MAX, &v[i]))
			return perr(p, "bad number '%s'", f[2 + i]);
	if (find_zone(a, name))
		return perr(p, "zone %s appears twice", f[1]);
	struct zone *z = add_zone(a, name);
	if (!z)
		return VG_ENOMEM;
	z->from_file = true;
	z->refreshed = v[0];
	z->attempted = v[1];
	z->failures = v[2];
	z->ttl = v[3];
	z->expire = v[4];
	p->zone = z;
	return 0;
}

static int parse_entry(struct parser *p, char **f, unsigned nf)
{
	uint8_t rd[VG_TA_RDATA_MAX];
	uint32_t since, until, flags, proto, alg;
	size_t len = 0;
	bool ds = !strcmp(f[0], "ds");
	int state = ds ? (strcmp(f[1], "pending") ? -1 : VG_AUTOTA_START) : parse_state(f[1]);
	struct zone *z = p->zone;

	if (!z)
		return perr(p, "%s record before any zone record", f[0]);
	if (nf != 8)
		return perr(p, "a %s record has 8 fields, not %u", f[0], nf);
	if (state < 0)
		return perr(p, "unknown %s state '%s'", f[0], f[1]);
	if (!parse_u32(f[2], UINT32_MAX, &since) || !parse_u32(f[3], UINT32_MAX, &until))
		return perr(p, "bad time");
	if (!parse_u32(f[4], 0xffff, &flags) || !parse_u32(f[5], 0xff, &proto) ||
	    !parse_u32(f[6], 0xff, &alg))
		return perr(p, "bad %s", ds ? "key tag, algorithm or digest type" :
					      "flags, protocol or algorithm");
	vg_put16(rd, (uint16_t)flags);
	rd[2] = (uint8_t)proto;
	rd[3] = (uint8_t)alg;
	const char *end = NULL, *s = f[7];
	size_t slen = strlen(s);
	int r = ds ? sodium_hex2bin(rd + 4, DS_DIGEST_MAX, s, slen, NULL, &len, &end)
		   : sodium_base642bin(rd + 4, sizeof(rd) - 4, s, slen, NULL, &len, &end,
				       sodium_base64_VARIANT_ORIGINAL);
	if (r != 0 || end != s + slen || len == 0)
		return perr(p, "bad %s", ds ? "digest" : "public key");
	len += 4;
	if (!ds) {
		bool rev = flags & F_REVOKE;
		if (proto != 3 || !(flags & F_ZONE))
			return perr(p, "not a DNSSEC zone key (flags %u, protocol %u)", flags,
				    proto);
		if (rev != (state == VG_AUTOTA_REVOKED))
			return perr(p, "the REVOKE flag does not agree with state %s", f[1]);
		bool hold = state == VG_AUTOTA_ADDPEND || state == VG_AUTOTA_REVOKED;
		if (hold ? until < since : until != 0)
			return perr(p, "bad hold-down end for state %s", f[1]);
		if (find_key(z, rd, len) >= 0)
			return perr(p, "key appears twice in the zone");
	} else {
		for (unsigned i = 0; i < z->n; i++)
			if (z->e[i].kind == ENT_DS && z->e[i].rdlen == len &&
			    !memcmp(z->e[i].rdata, rd, len))
				return perr(p, "DS appears twice in the zone");
	}
	if (z->n == VG_AUTOTA_KEYS_MAX)
		return perr(p, "more than %d keys for one zone", VG_AUTOTA_KEYS_MAX);
	add_entry(z, ds ? ENT_DS : ENT_KEY, state, since, until, rd, len);
	return 0;
}

static int parse_line(struct vg_autota *a, struct parser *p, char *s)
{
	char *f[FIELDS_MAX];
	unsigned nf = 0;
	for (char *save = NULL, *t = strtok_r(s, " \t\r\n", &save); t;
	     t = strtok_r(NULL, " \t\r\n", &save)) {
		if (t[0] == ';' || t[0] == '#')
			break;
		if (nf == FIELDS_MAX)
			return perr(p, "too many fields");
		f[nf++] = t;
	}
	if (nf == 0)
		return 0;
	if (!p->version) {
		if (nf != 2 || strcmp(f[0], "vigil-autota") != 0 || strcmp(f[1], "1") != 0)
			return perr(p, "not a vigil trust anchor state file (no 'vigil-autota 1')");
		p->version = true;
		return 0;
	}
	if (!strcmp(f[0], "zone"))
		return parse_zone(a, p, f, nf);
	if (!strcmp(f[0], "dnskey") || !strcmp(f[0], "ds"))
		return parse_entry(p, f, nf);
	return perr(p, "unknown record '%s'", f[0]);
}

static int parse_file(struct vg_autota *a, FILE *in, const char *path, FILE *errout)
{
	struct parser p = { .path = path, .errout = errout };
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	int ret = 0;
	while ((n = getline(&buf, &cap, in)) >= 0) {
		p.line++;
		if (n > LINE_MAX_LEN) {
			ret = perr(&p, "line too long");
			break;
		}
		if (strlen(buf) != (size_t)n) {
			ret = perr(&p, "NUL byte in line");
			break;
		}
		ret = parse_line(a, &p, buf);
		if (ret)
			break;
	}
	if (!ret && ferror(in)) {
		ret = -EIO;
		if (errout)
			fprintf(errout, "%s: read error\n", path);
	}
	if (!ret && !p.version) {
		p.line++;
		ret = perr(&p, "empty: no 'vigil-autota 1' record");
	}
	free(buf);
	return ret;
}

static bool configured(const struct vg_ta_set *s, const uint8_t *name)
{
	for (unsigned i = 0; i < s->n; i++)
		if (vg_name_eq(s->ta[i].owner, name))
			return true;
	return false;
}

static int seed(struct vg_autota *a, const struct vg_ta_set *s, const char *path, uint32_t now,
		FILE *errout)
{
	for (unsigned i = 0; i < s->n; i++) {
		const struct vg_ta *t = &s->ta[i];
		struct zone *z = find_zone(a, t->owner);
		if (z && z->from_file)
			continue;
		if (!z && !(z = add_zone(a, t->owner)))
			return VG_ENOMEM;
		int kind = t->type == VG_T_DS ? ENT_DS : ENT_KEY;
		bool dup = false;
		for (unsigned k = 0; k < z->n; k++)
			dup |= z->e[k].kind == kind && z->e[k].rdlen == t->rdlen &&
			       !memcmp(z->e[k].rdata, t->rdata, t->rdlen);
		if (dup)
			continue;
		/* only what the state file can hold and read back */
		bool usable = kind == ENT_DS ? t->rdlen >= 5
					     : is_zone_key(t->rdata, t->rdlen) &&
						       !(key_flags(t->rdata) & F_REVOKE);
		if (!usable) {
			char nm[VG_NAME_MAX * 4 + 1];
			vg_name_to_str(t->owner, nm, sizeof(nm));
			if (errout)
				fprintf(errout, "%s: configured anchor for %s is not usable\n",
					path, nm);
			return VG_EINVAL;
		}
		if (!add_entry(z, kind, kind == ENT_DS ? VG_AUTOTA_START : VG_AUTOTA_VALID, now, 0,
			       t->rdata, t->rdlen)) {
			char nm[VG_NAME_MAX * 4 + 1];
			vg_name_to_str(t->owner, nm, sizeof(nm));
			if (errout)
				fprintf(errout, "%s: more than %d trust anchors for %s\n", path,
					VG_AUTOTA_KEYS_MAX, nm);
			return VG_ELIMIT;
		}
	}
	return 0;
}

int vg_autota_load(struct vg_autota **out, const char *path, const struct vg_ta_set *initial,
		   uint32_t now, FILE *errout)
{
	int ret = 0;
	struct vg_autota *a = calloc(1, sizeof(*a));
	*out = NULL;
	if (!a)
		return VG_ENOMEM;
	a->add_holddown = a->remove_holddown = VG_AUTOTA_HOLDDOWN;
	a->scratch = malloc(SCRATCH_CAP);
	a->sigbuf = malloc(SIGBUF_CAP);
	if (!a->scratch || !a->sigbuf) {
		ret = VG_ENOMEM;
		goto fail;
	}
	FILE *f = fopen(path, "r");
	if (f) {
		ret = parse_file(a, f, path, errout);
		fclose(f);
		if (ret)
			goto fail;
	} else if (errno != ENOENT) {
		ret = -errno;
		if (errout)
			fprintf(errout, "%s: cannot open trust anchor state: %s\n", path,
				strerror(errno));
		goto fail;
	}
	if (initial) {
		for (unsigned i = a->nzones; i-- > 0;) {
			if (configured(initial, a->zone[i].name))
				continue;
			memmove(&a->zone[i], &a->zone[i + 1],
				(a->nzones - i - 1) * sizeof(a->zone[0]));
			a->nzones--;
		}
		ret = seed(a, initial, path, now, errout);
		if (ret)
			goto fail;
	}
	*out = a;
	return 0;
fail:
	vg_autota_free(a);
	return ret;
}

size_t vg_autota_list(const struct vg_autota *a, struct vg_autota_info *out, size_t cap)
{
	size_t n = 0;
	for (unsigned i = 0; i < a->nzones; i++) {
		const struct zone *z = &a->zone[i];
		for (unsigned k = 0; k < z->n; k++, n++) {
			const struct entry *e = &z->e[k];
			if (n >= cap)
				continue;
			struct vg_autota_info *o = &out[n];
			memset(o, 0, sizeof(*o));
			memcpy(o->zone, z->name, vg_name_len(z->name));
			o->ds = e->kind == ENT_DS;
			if (o->ds) { /* DS rdata: key tag, algorithm, digest type, digest */
				o->tag = e->rdlen >= 3 ? vg_get16(e->rdata) : 0;
				o->alg = e->rdlen >= 3 ? e->rdata[2] : 0;
				o->state = VG_AUTOTA_ADDPEND;
			} else { /* DNSKEY rdata: flags, protocol, algorithm, key */
				o->tag = vg_dnssec_keytag(e->rdata, e->rdlen);
				o->alg = e->rdlen >= 4 ? e->rdata[3] : 0;
				o->state = e->state;
			}
			o->since = e->since;
			o->until = e->until;
			o->refreshed = z->refreshed;
			o->failures = z->failures;
		}
	}
	return n;
}
