/* SPDX-License-Identifier: MIT
 *
 * Aggressive use of DNSSEC-validated NSEC records (RFC 8198).
 *
 * The RRset cache is keyed on exact names; NSEC records prove things about
 * ranges of names, so they live here, per zone, in canonical order.  Only
 * NSEC records the validator has proven secure are stored.  A lookup finds the
 * NSEC whose owner is the greatest at or before the name (binary search):
 *
 *   owner == name, type and CNAME absent from its bitmap       NODATA
 *   it covers name, and an NSEC covers the wildcard at the
 *   closest encloser (RFC 4035 5.4)                             NXDOMAIN
 *
 * With NSEC3 (RFC 5155 8.4, 8.5) the records are kept in hash order: the
 * name's ancestors are hashed (with the zone's salt and iterations, already
 * within the validator's limit) until one matches (the closest encloser);
 * the next closer name and the wildcard must then be covered, by records
 * without Opt-Out.
 *
 * It returns the SOA and NSEC/NSEC3 records (with RRSIGs) for the answer.  The TTL
 * of a synthesized answer is the smallest of the records' (RFC 8198 5.4).
 *
 * Memory: zones in shards, each shard a read-write lock, a zone hash table
 * and a byte budget.  A zone keeps at most ZONE_MAX_NSEC records; expired
 * ones are purged on insertion; when a shard is over budget, the zone
 * least recently used (of a sample) is dropped.  Lookups take only the read
 * lock and copy out, as vg_cache_get does.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "cache/cache.h"
#include "core/core.h"
#include "dnssec/dnssec.h"
#include "dnssec/nsec3.h"

#define AGGR_SHARDS 16
#define ZONE_MAX_NSEC 4096
#define ZONE_BUCKETS 256
#define OVERHEAD 64

struct nsec_ent {
	uint32_t expire;
	uint16_t owner_len, rdata_len, sig_len, sig_count;
	uint8_t data[]; /* owner, NSEC rdata, RRSIG rdata (packed [u16 len][rdata]*) */
};

struct nsec3_ent {
	uint32_t expire;
	uint8_t hash[VG_NSEC3_SHA1_LEN];
	uint16_t owner_len, rdata_len, sig_len, sig_count;
	uint8_t data[]; /* owner, NSEC3 rdata, RRSIG rdata */
};

struct zone {
	struct zone *hnext;
	/* NSEC3: one parameter set per zone (a new one replaces the records) */
	unsigned n3, cap3;
	struct nsec3_ent **ent3; /* sorted by hash */
	uint16_t n3_iter;
	uint8_t n3_salt_len, n3_salt[255];
	uint8_t name[VG_NAME_MAX];
	_Atomic uint32_t last_used;
	size_t bytes;
	/* the SOA for answers, and its RRSIGs */
	uint8_t *soa;        /* owner, rdata (packed), sig rdata (packed) */
	uint16_t soa_owner_len, soa_len, soa_sig_len, soa_sig_count, soa_count;
	uint32_t soa_expire;
	unsigned n, cap;
	struct nsec_ent **ent; /* sorted by owner, canonical order */
};

struct shard {
	pthread_rwlock_t lock;
	struct zone *buckets[ZONE_BUCKETS];
	size_t bytes, max_bytes;
	unsigned zones;
};

struct vg_aggr {
	struct shard shards[AGGR_SHARDS];
	unsigned char key[crypto_shorthash_KEYBYTES];
};

struct vg_aggr *vg_aggr_new(size_t max_bytes)
{
	struct vg_aggr *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	randombytes_buf(a->key, sizeof(a->key));
	for (int i = 0; i < AGGR_SHARDS; i++) {
		pthread_rwlock_init(&a->shards[i].lock, NULL);
		a->shards[i].max_bytes = max_bytes / AGGR_SHARDS;
	}
	return a;
}

static void zone_free(struct zone *z)
{
	for (unsigned i = 0; i < z->n3; i++)
		free(z->ent3[i]);
	free(z->ent3);
	for (unsigned i = 0; i < z->n; i++)
		free(z->ent[i]);
	free(z->ent);
	free(z->soa);
	free(z);
}

void vg_aggr_free(struct vg_aggr *a)
{
	if (!a)
		return;
	for (int i = 0; i < AGGR_SHARDS; i++) {
		for (int b = 0; b < ZONE_BUCKETS; b++) {
			struct zone *z = a->shards[i].buckets[b];
			while (z) {
				struct zone *n = z->hnext;
				zone_free(z);
				z = n;
			}
		}
		pthread_rwlock_destroy(&a->shards[i].lock);
	}
	free(a);
}

static uint64_t zhash(const struct vg_aggr *a, const uint8_t *name)
{
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, name, vg_name_len(name), a->key);
	return h;
}

static struct zone **zslot(struct shard *s, uint64_t h, const uint8_t *name)
{
	struct zone **pp = &s->buckets[(h >> 8) % ZONE_BUCKETS];
	while (*pp && !vg_name_eq((*pp)->name, name))
		pp = &(*pp)->hnext;
	return pp;
}

/* Index of the greatest of @p n sorted elements <= the key (cmp(i) compares
 * element i with it), or -1; *@p exact when equal. */
static int search_le(int n, int (*cmp)(const void *set, int i, const void *key),
		     const void *set, const void *key, bool *exact)
{
	int lo = 0, hi = n - 1, best = -1;
	*exact = false;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		int c = cmp(set, mid, key);
		if (c == 0) {
			*exact = true;
			return mid;
		}
		if (c < 0) {
			best = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return best;
}

static int owner_cmp(const void *set, int i, const void *name)
{
	return vg_dnssec_name_cmp(((const struct zone *)set)->ent[i]->data, name);
}

/* Index of the greatest owner <= name, or -1. */
static int find_le(const struct zone *z, const uint8_t *name, bool *exact)
{
	return search_le((int)z->n, owner_cmp, z, name, exact);
}

static void drop_zone(struct shard *s, struct zone **pp)
{
	struct zone *z = *pp;
	*pp = z->hnext;
	s->bytes -= z->bytes;
	s->zones--;
	zone_free(z);
}

/* Make room in @p s: drop the least recently used of up to 64 zones. */
static void shard_evict(struct shard *s, const struct zone *keep)
{
	struct zone **victim = NULL;
	uint32_t oldest = 0;
	bool any = false;
	unsigned seen = 0;
	for (int b = 0; b < ZONE_BUCKETS && seen < 64; b++)
		for (struct zone **pp = &s->buckets[b]; *pp && seen < 64; pp = &(*pp)->hnext, seen++)
			if (*pp != keep && (!any || (*pp)->last_used < oldest)) {
				oldest = (*pp)->last_used;
				victim = pp;
				any = true;
			}
	if (victim)
		drop_zone(s, victim);
}

static void purge_expired(struct shard *s, struct zone *z, uint32_t now)
{
	unsigned w = 0;
	for (unsigned i = 0; i < z->n; i++) {
		struct nsec_ent *e = z->ent[i];
		if (e->expire <= now) {
			size_t sz = sizeof(*e) + e->owner_len + e->rdata_len + e->sig_len + OVERHEAD;
			z->bytes -= sz;
			s->bytes -= sz;
			free(e);
		} else {
			z->ent[w++] = e;
		}
	}
	z->n = w;
}

/* Double a zone's array of entry pointers (*@p arr, @p cap of them), counted
 * in the budget.  0 or VG_ENOMEM. */
static int grow(void **arr, unsigned *cap, struct shard *s, struct zone *z)
{
	size_t nc = *cap;
	if (vg_grow(arr, &nc, (size_t)*cap + 1, sizeof(void *), 16) < 0 || nc > UINT_MAX)
		return VG_ENOMEM;
	z->bytes += (nc - *cap) * sizeof(void *);
	s->bytes += (nc - *cap) * sizeof(void *);
	*cap = (unsigned)nc;
	return 0;
}

/* The zone's record set, created if new, with its SOA replaced by @p soa;
 * returned with its shard write-locked (*@p sp), or NULL (unlocked). */
static struct zone *zone_open(struct vg_aggr *a, const uint8_t *zone, const struct vg_rrset *soa,
			      const struct vg_rrset *soa_sig, uint32_t neg_ttl, uint32_t now,
			      struct shard **sp)
{
	uint8_t zl[VG_NAME_MAX];
	memcpy(zl, zone, vg_name_len(zone));
	vg_name_lower(zl);
	uint64_t h = zhash(a, zl);
	struct shard *s = &a->shards[h % AGGR_SHARDS];
	size_t sol = vg_name_len(soa->owner);
	size_t soa_sz = sol + soa->rdata_len + soa_sig->rdata_len;
	uint8_t *sb = malloc(soa_sz);
	if (!sb)
		return NULL;
	memcpy(sb, soa->owner, sol);
	memcpy(sb + sol, soa->rdata, soa->rdata_len);
	memcpy(sb + sol + soa->rdata_len, soa_sig->rdata, soa_sig->rdata_len);
	pthread_rwlock_wrlock(&s->lock);
	struct zone **pp = zslot(s, h, zl), *z = *pp;
	if (!z) {
		z = calloc(1, sizeof(*z));
		if (!z) {
			pthread_rwlock_unlock(&s->lock);
			free(sb);
			return NULL;
		}
		memcpy(z->name, zl, vg_name_len(zl));
		z->hnext = s->buckets[(h >> 8) % ZONE_BUCKETS];
		s->buckets[(h >> 8) % ZONE_BUCKETS] = z;
		s->zones++;
		z->bytes = sizeof(*z) + OVERHEAD;
		s->bytes += z->bytes;
	}
	z->last_used = now;
	/* the SOA: replace it with the newer one */
	if (z->soa) {
		z->bytes -= (size_t)z->soa_owner_len + z->soa_len + z->soa_sig_len;
		s->bytes -= (size_t)z->soa_owner_len + z->soa_len + z->soa_sig_len;
	}
	free(z->soa);
	z->soa = sb;
	z->soa_owner_len = (uint16_t)sol;
	z->soa_len = soa->rdata_len;
	z->soa_count = soa->count;
	z->soa_sig_len = soa_sig->rdata_len;
	z->soa_sig_count = soa_sig->count;
	z->soa_expire = now + neg_ttl;
	z->bytes += soa_sz;
	s->bytes += soa_sz;
	*sp = s;
	return z;
}

int vg_aggr_put(struct vg_aggr *a, const uint8_t *zone, const struct vg_rrset *soa,
		const struct vg_rrset *soa_sig, uint32_t neg_ttl, const struct vg_rrset *nsec,
		const struct vg_rrset *nsec_sig, uint32_t now)
{
	if (!a || !nsec || nsec->count != 1 || !nsec_sig || !nsec_sig->count || !soa ||
	    !soa_sig || !soa_sig->count)
		return VG_EINVAL;
	if (!vg_name_is_sub(nsec->owner, zone))
		return VG_EINVAL;
	uint32_t ttl = neg_ttl > 0x7fffffff ? 0 : neg_ttl; /* RFC 2181 8 */
	if (nsec->ttl < ttl)
		ttl = nsec->ttl;
	if (nsec_sig->ttl < ttl)
		ttl = nsec_sig->ttl;
	if (ttl == 0)
		return 0;
	size_t ol = vg_name_len(nsec->owner);
	if (nsec->rdata_len < 2 || vg_get16(nsec->rdata) != nsec->rdata_len - 2)
		return VG_EMALFORMED;
	size_t rl = nsec->rdata_len - 2u, sl = nsec_sig->rdata_len;
	struct nsec_ent *e = malloc(sizeof(*e) + ol + rl + sl);
	if (!e)
		return VG_ENOMEM;
	e->expire = now + ttl;
	e->owner_len = (uint16_t)ol;
	e->rdata_len = (uint16_t)rl;
	e->sig_len = (uint16_t)sl;
	e->sig_count = nsec_sig->count;
	memcpy(e->data, nsec->owner, ol);
	vg_name_lower(e->data);
	memcpy(e->data + ol, nsec->rdata + 2, rl);
	memcpy(e->data + ol + rl, nsec_sig->rdata, sl);
	size_t esz = sizeof(*e) + ol + rl + sl + OVERHEAD;

	struct shard *s;
	struct zone *z = zone_open(a, zone, soa, soa_sig, neg_ttl, now, &s);
	int ret = 0;
	if (!z) {
		free(e);
		return VG_ENOMEM;
	}
	purge_expired(s, z, now);
	while (s->bytes + esz > s->max_bytes && s->zones > 1)
		shard_evict(s, z);
	if (s->bytes + esz > s->max_bytes) {
		free(e); /* over budget with this zone alone: keep what it has */
		goto out;
	}
	bool exact;
	int i = find_le(z, e->data, &exact);
	if (exact) { /* a fresh copy replaces the old one */
		struct nsec_ent *old = z->ent[i];
		size_t osz = sizeof(*old) + old->owner_len + old->rdata_len + old->sig_len + OVERHEAD;
		z->bytes -= osz;
		s->bytes -= osz;
		free(old);
		z->ent[i] = e;
	} else {
		if (z->n >= ZONE_MAX_NSEC) {
			free(e);
			goto out; /* full: the records it has keep answering */
		}
		if (z->n == z->cap && grow((void **)&z->ent, &z->cap, s, z) < 0) {
			free(e);
			ret = VG_ENOMEM;
			goto out;
		}
		memmove(&z->ent[i + 2], &z->ent[i + 1], (z->n - (unsigned)(i + 1)) * sizeof(*z->ent));
		z->ent[i + 1] = e;
		z->n++;
	}
	z->bytes += esz;
	s->bytes += esz;
out:
	pthread_rwlock_unlock(&s->lock);
	return ret;
}

static size_t ent3_size(const struct nsec3_ent *e)
{
	return sizeof(*e) + e->owner_len + e->rdata_len + e->sig_len + OVERHEAD;
}

static void drop_nsec3(struct shard *s, struct zone *z, bool expired_only, uint32_t now)
{
	unsigned w = 0;
	for (unsigned i = 0; i < z->n3; i++) {
		struct nsec3_ent *e = z->ent3[i];
		if (!expired_only || e->expire <= now) {
			z->bytes -= ent3_size(e);
			s->bytes -= ent3_size(e);
			free(e);
		} else {
			z->ent3[w++] = e;
		}
	}
	z->n3 = w;
}

static int hash_cmp(const void *set, int i, const void *h)
{
	return memcmp(((const struct zone *)set)->ent3[i]->hash, h, VG_NSEC3_SHA1_LEN);
}

/* Index of the greatest hash <= h, or -1. */
static int find3_le(const struct zone *z, const uint8_t *h, bool *exact)
{
	return search_le((int)z->n3, hash_cmp, z, h, exact);
}

int vg_aggr_put_nsec3(struct vg_aggr *a, const uint8_t *zone, const struct vg_rrset *soa,
		      const struct vg_rrset *soa_sig, uint32_t neg_ttl, const struct vg_rrset *nsec3,
		      const struct vg_rrset *nsec3_sig, uint32_t now)
{
	struct vg_nsec3 n;
	if (!a || !nsec3 || nsec3->count != 1 || !nsec3_sig || !nsec3_sig->count || !soa ||
	    !soa_sig || !soa_sig->count || nsec3->rdata_len < 2 ||
	    vg_get16(nsec3->rdata) != nsec3->rdata_len - 2)
		return VG_EINVAL;
	if (vg_nsec3_parse(&n, nsec3->owner, nsec3->rdata + 2, nsec3->rdata_len - 2u) < 0 ||
	    n.alg != VG_NSEC3_HASH_SHA1 || n.hash_len != VG_NSEC3_SHA1_LEN ||
	    n.next_len != VG_NSEC3_SHA1_LEN || (n.flags & ~VG_NSEC3_FLAG_OPTOUT))
		return VG_EMALFORMED;
	uint32_t ttl = neg_ttl > 0x7fffffff ? 0 : neg_ttl; /* RFC 2181 8 */
	if (nsec3->ttl < ttl)
		ttl = nsec3->ttl;
	if (nsec3_sig->ttl < ttl)
		ttl = nsec3_sig->ttl;
	if (ttl == 0)
		return 0;
	size_t ol = vg_name_len(nsec3->owner), rl = nsec3->rdata_len - 2u, sl = nsec3_sig->rdata_len;
	struct nsec3_ent *e = malloc(sizeof(*e) + ol + rl + sl);
	if (!e)
		return VG_ENOMEM;
	e->expire = now + ttl;
	memcpy(e->hash, n.hash, VG_NSEC3_SHA1_LEN);
	e->owner_len = (uint16_t)ol;
	e->rdata_len = (uint16_t)rl;
	e->sig_len = (uint16_t)sl;
	e->sig_count = nsec3_sig->count;
	memcpy(e->data, nsec3->owner, ol);
	vg_name_lower(e->data);
	memcpy(e->data + ol, nsec3->rdata + 2, rl);
	memcpy(e->data + ol + rl, nsec3_sig->rdata, sl);

	struct shard *s;
	struct zone *z = zone_open(a, zone, soa, soa_sig, neg_ttl, now, &s);
	if (!z) {
		free(e);
		return VG_ENOMEM;
	}
	int ret = 0;
	if (z->n3 && (z->n3_iter != n.iterations || z->n3_salt_len != n.salt_len ||
		      memcmp(z->n3_salt, n.salt, n.salt_len) != 0))
		drop_nsec3(s, z, false, now); /* new parameters: the old chain is gone */
	z->n3_iter = n.iterations;
	z->n3_salt_len = n.salt_len;
	memcpy(z->n3_salt, n.salt, n.salt_len);
	drop_nsec3(s, z, true, now);
	while (s->bytes + ent3_size(e) > s->max_bytes && s->zones > 1)
		shard_evict(s, z);
	if (s->bytes + ent3_size(e) > s->max_bytes) {
		free(e);
		goto out;
	}
	bool exact;
	int i = find3_le(z, e->hash, &exact);
	if (exact) {
		z->bytes -= ent3_size(z->ent3[i]);
		s->bytes -= ent3_size(z->ent3[i]);
		free(z->ent3[i]);
		z->ent3[i] = e;
	} else {
		if (z->n3 >= ZONE_MAX_NSEC) {
			free(e);
			goto out;
		}
		if (z->n3 == z->cap3 && grow((void **)&z->ent3, &z->cap3, s, z) < 0) {
			free(e);
			ret = VG_ENOMEM;
			goto out;
		}
		memmove(&z->ent3[i + 2], &z->ent3[i + 1],
			(z->n3 - (unsigned)(i + 1)) * sizeof(*z->ent3));
		z->ent3[i + 1] = e;
		z->n3++;
	}
	z->bytes += ent3_size(e);
	s->bytes += ent3_size(e);
out:
	pthread_rwlock_unlock(&s->lock);
	return ret;
}

/* ------------------------------------------------------------ lookup */

static bool bitmap_of(const struct nsec_ent *e, const uint8_t **next, const uint8_t **bm,
		      size_t *bml)
{
	const uint8_t *rd = e->data + e->owner_len;
	int nl = vg_name_check(rd, e->rdata_len);
	if (nl <= 0)
		return false;
	*next = rd;
	*bm = rd + nl;
	*bml = e->rdata_len - (size_t)nl;
	return true;
}

/* The entry covering @p name (owner < name < next), or NULL. */
static const struct nsec_ent *covering(const struct zone *z, const uint8_t *name, bool *exact_out,
				       int *idx)
{
	bool exact;
	int i = find_le(z, name, &exact);
	*exact_out = exact;
	*idx = i;
	if (i < 0) {
		/* before the first owner: only the last NSEC (wrapping to the apex) can cover */
		if (!z->n)
			return NULL;
		i = (int)z->n - 1;
	}
	if (exact)
		return z->ent[i];
	const uint8_t *next, *bm;
	size_t bml;
	if (!bitmap_of(z->ent[i], &next, &bm, &bml))
		return NULL;
	return vg_nsec_covers(z->ent[i]->data, next, name) ? z->ent[i] : NULL;
}

/* Copy one entry out as an NSEC RRset and its RRSIG RRset. */
/* One stored record (owner, rdata, RRSIG rdata in @p data) out as an RRset of
 * @p type and its RRSIG RRset; the TTLs are set by finish(). */
static int put_rec(const uint8_t *data, uint16_t ol, uint16_t rl, uint16_t sl, uint16_t sc,
		   uint16_t type, uint8_t **buf, size_t *room, struct vg_rrset *rs,
		   struct vg_rrset *sig)
{
	size_t need = ol + 2u + rl + sl;
	if (need > *room)
		return VG_ENOSPACE;
	uint8_t *b = *buf;
	memcpy(b, data, ol);
	vg_put16(b + ol, rl);
	memcpy(b + ol + 2, data + ol, (size_t)rl + sl);
	*rs = (struct vg_rrset){ .owner = b, .type = type, .rclass = VG_C_IN, .count = 1,
				 .rdata_len = (uint16_t)(rl + 2), .rdata = b + ol };
	*sig = (struct vg_rrset){ .owner = b, .type = VG_T_RRSIG, .rclass = VG_C_IN,
				  .count = sc, .rdata_len = sl, .rdata = b + ol + 2 + rl };
	*buf += need;
	*room -= need;
	return 0;
}

static int put_out(const struct nsec_ent *e, uint8_t **buf, size_t *room, struct vg_rrset *rs,
		   struct vg_rrset *sig)
{
	return put_rec(e->data, e->owner_len, e->rdata_len, e->sig_len, e->sig_count, VG_T_NSEC,
		       buf, room, rs, sig);
}

/* The SOA of the zone into the answer; VG_ENOSPACE if it does not fit. */
static int put_soa(const struct zone *z, uint8_t **buf, size_t *room, struct vg_aggr_answer *out)
{
	size_t soa_sz = (size_t)z->soa_owner_len + z->soa_len + z->soa_sig_len;
	if (soa_sz > *room)
		return VG_ENOSPACE;
	uint8_t *b = *buf;
	memcpy(b, z->soa, soa_sz);
	out->soa = (struct vg_rrset){ .owner = b, .type = VG_T_SOA, .rclass = VG_C_IN,
				      .count = z->soa_count, .rdata_len = z->soa_len,
				      .rdata = b + z->soa_owner_len };
	out->soa_sig = (struct vg_rrset){ .owner = b, .type = VG_T_RRSIG, .rclass = VG_C_IN,
					  .count = z->soa_sig_count, .rdata_len = z->soa_sig_len,
					  .rdata = b + z->soa_owner_len + z->soa_len };
	*buf += soa_sz;
	*room -= soa_sz;
	return 0;
}

/* Same TTL everywhere in the answer: the smallest. */
static void finish(struct vg_aggr_answer *out, uint32_t ttl)
{
	out->ttl = ttl;
	out->soa.ttl = out->soa_sig.ttl = ttl;
	for (unsigned i = 0; i < out->n; i++)
		out->nsec[i].ttl = out->nsec_sig[i].ttl = ttl;
}

/* NSEC: 0, VG_ENOTFOUND or VG_ENOSPACE. */
static int get_nsec(const struct zone *z, const uint8_t *name, uint16_t qtype, uint32_t now,
		    struct vg_aggr_answer *out, uint8_t *buf, size_t cap)
{
	bool exact, wexact;
	int idx, widx;
	const uint8_t *next, *bm;
	size_t bml;
	const struct nsec_ent *c = covering(z, name, &exact, &idx), *w = NULL;
	if (!c || c->expire <= now || !bitmap_of(c, &next, &bm, &bml))
		return VG_ENOTFOUND;
	bool deleg = vg_nsec_bitmap_has(bm, bml, VG_T_NS, NULL) &&
		     !vg_nsec_bitmap_has(bm, bml, VG_T_SOA, NULL);
	if (!exact && vg_name_is_sub(name, c->data) &&
	    (deleg || vg_nsec_bitmap_has(bm, bml, VG_T_DNAME, NULL)))
		return VG_ENOTFOUND; /* below a delegation or DNAME: not this zone's to deny */
	if (exact) {
		bool bad = false;
		if (vg_nsec_bitmap_has(bm, bml, qtype, &bad) || bad ||
		    vg_nsec_bitmap_has(bm, bml, VG_T_CNAME, &bad) || qtype == VG_T_DS || deleg)
			return VG_ENOTFOUND; /* the type exists; DS or a delegation: ask */
		out->nxdomain = false;
	} else {
		/* covered: NXDOMAIN if the closest encloser's wildcard is covered too */
		uint8_t wild[VG_NAME_MAX];
		if (vg_nsec_wildcard(name, c->data, next, z->name, wild) < 0)
			return VG_ENOTFOUND;
		if (vg_name_is_sub(next, name))
			return VG_ENOTFOUND; /* an empty non-terminal: left to the iterator */
		w = covering(z, wild, &wexact, &widx);
		if (!w || wexact || w->expire <= now)
			return VG_ENOTFOUND; /* a wildcard exists: the iterator asks */
		out->nxdomain = true;
	}
	uint8_t *b = buf;
	size_t room = cap;
	uint32_t ttl = c->expire - now;
	if (put_out(c, &b, &room, &out->nsec[0], &out->nsec_sig[0]) < 0)
		return VG_ENOSPACE;
	out->n = 1;
	if (w && w != c) {
		if (put_out(w, &b, &room, &out->nsec[1], &out->nsec_sig[1]) < 0)
			return VG_ENOSPACE;
		out->n = 2;
		if (w->expire - now < ttl)
			ttl = w->expire - now;
	}
	if (put_soa(z, &b, &room, out) < 0)
		return VG_ENOSPACE;
	if (z->soa_expire - now < ttl)
		ttl = z->soa_expire - now;
	finish(out, ttl);
	return 0;
}

/* ------------------------------------------------------------ NSEC3 lookup */

#define AGGR_MAX_HASHES 16 /* ancestors hashed per lookup */

static const struct nsec3_ent *match3(const struct zone *z, const uint8_t *h, uint32_t now)
{
	bool exact;
	int i = find3_le(z, h, &exact);
	return exact && z->ent3[i]->expire > now ? z->ent3[i] : NULL;
}

static bool parse3(const struct nsec3_ent *e, struct vg_nsec3 *n)
{
	return vg_nsec3_parse(n, e->data, e->data + e->owner_len, e->rdata_len) == 0 &&
	       n->next_len == VG_NSEC3_SHA1_LEN;
}

/* The record covering hash @p h (strictly), without Opt-Out, or NULL. */
static const struct nsec3_ent *cover3(const struct zone *z, const uint8_t *h, uint32_t now)
{
	bool exact;
	int i = find3_le(z, h, &exact);
	if (exact || !z->n3)
		return NULL;
	if (i < 0)
		i = (int)z->n3 - 1; /* before the first hash: only the last (wrapping) record */
	const struct nsec3_ent *e = z->ent3[i];
	struct vg_nsec3 n;
	if (e->expire <= now || !parse3(e, &n) || (n.flags & VG_NSEC3_FLAG_OPTOUT))
		return NULL;
	return vg_nsec3_covers(e->hash, n.next, h, VG_NSEC3_SHA1_LEN) ? e : NULL;
}

static int put3(const struct nsec3_ent *e, uint8_t **buf, size_t *room, struct vg_rrset *rs,
		struct vg_rrset *sig)
{
	return put_rec(e->data, e->owner_len, e->rdata_len, e->sig_len, e->sig_count, VG_T_NSEC3,
		       buf, room, rs, sig);
}

/* NSEC3 (RFC 5155 8.4 NXDOMAIN, 8.5 NODATA): 0, VG_ENOTFOUND or VG_ENOSPACE. */
static int get_nsec3(const struct zone *z, const uint8_t *name, uint16_t qtype, uint32_t now,
		     struct vg_aggr_answer *out, uint8_t *buf, size_t cap)
{
	int nl = vg_name_labels(name), zl = vg_name_labels(z->name);
	if (nl - zl + 1 > AGGR_MAX_HASHES || qtype == VG_T_DS)
		return VG_ENOTFOUND;
	uint8_t h[VG_NSEC3_SHA1_LEN], hnc[VG_NSEC3_SHA1_LEN];
	const struct nsec3_ent *ce = NULL, *nc = NULL, *wc = NULL;
	const uint8_t *anc = name, *prev = NULL;
	for (int l = nl; l >= zl; l--, prev = anc, anc += *anc + 1) {
		if (vg_dnssec_nsec3_hash(anc, z->n3_salt, z->n3_salt_len, z->n3_iter, h) < 0)
			return VG_ENOTFOUND;
		if ((ce = match3(z, h, now)))
			break;
		memcpy(hnc, h, sizeof(h)); /* the next closer, if the parent matches */
	}
	if (!ce)
		return VG_ENOTFOUND;
	struct vg_nsec3 n;
	if (!parse3(ce, &n))
		return VG_ENOTFOUND;
	bool deleg = vg_nsec_bitmap_has(n.bitmap, n.bitmap_len, VG_T_NS, NULL) &&
		     !vg_nsec_bitmap_has(n.bitmap, n.bitmap_len, VG_T_SOA, NULL);
	if (!prev) {
		/* the name itself exists: NODATA if the type (and CNAME) is absent */
		bool bad = false;
		if (vg_nsec_bitmap_has(n.bitmap, n.bitmap_len, qtype, &bad) || bad || deleg ||
		    vg_nsec_bitmap_has(n.bitmap, n.bitmap_len, VG_T_CNAME, &bad))
			return VG_ENOTFOUND;
		out->nxdomain = false;
	} else {
		if (deleg || vg_nsec_bitmap_has(n.bitmap, n.bitmap_len, VG_T_DNAME, NULL))
			return VG_ENOTFOUND; /* the closest encloser is a cut: not ours */
		if (!(nc = cover3(z, hnc, now)))
			return VG_ENOTFOUND;
		uint8_t wild[VG_NAME_MAX];
		size_t cl = vg_name_len(anc);
		if (cl + 2 > VG_NAME_MAX)
			return VG_ENOTFOUND;
		wild[0] = 1;
		wild[1] = '*';
		memcpy(wild + 2, anc, cl);
		if (vg_dnssec_nsec3_hash(wild, z->n3_salt, z->n3_salt_len, z->n3_iter, h) < 0 ||
		    !(wc = cover3(z, h, now)))
			return VG_ENOTFOUND; /* a wildcard may exist: the iterator asks */
		out->nxdomain = true;
	}
	const struct nsec3_ent *recs[3] = { ce, nc, wc };
	uint8_t *b = buf;
	size_t room = cap;
	uint32_t ttl = UINT32_MAX;
	out->n = 0;
	for (int i = 0; i < 3; i++) {
		const struct nsec3_ent *e = recs[i];
		bool dup = !e;
		for (int k = 0; k < i && !dup; k++)
			dup = recs[k] == e;
		if (dup)
			continue;
		if (put3(e, &b, &room, &out->nsec[out->n], &out->nsec_sig[out->n]) < 0)
			return VG_ENOSPACE;
		out->n++;
		if (e->expire - now < ttl)
			ttl = e->expire - now;
	}
	if (put_soa(z, &b, &room, out) < 0)
		return VG_ENOSPACE;
	if (z->soa_expire - now < ttl)
		ttl = z->soa_expire - now;
	finish(out, ttl);
	return 0;
}

int vg_aggr_get(struct vg_aggr *a, const uint8_t *name, uint16_t qtype, uint32_t now,
		struct vg_aggr_answer *out, uint8_t *buf, size_t cap)
{
	if (!a)
		return VG_ENOTFOUND;
	/* the closest zone we hold NSEC or NSEC3 records for decides */
	for (const uint8_t *zn = name;; zn += *zn + 1) {
		uint64_t h = zhash(a, zn);
		struct shard *s = &a->shards[h % AGGR_SHARDS];
		pthread_rwlock_rdlock(&s->lock);
		struct zone *z = *zslot(s, h, zn);
		if (!z) {
			pthread_rwlock_unlock(&s->lock);
			if (!*zn)
				return VG_ENOTFOUND;
			continue;
		}
		memset(out, 0, sizeof(*out));
		int ret = VG_ENOTFOUND;
		if (z->soa_expire > now) {
			if (z->n)
				ret = get_nsec(z, name, qtype, now, out, buf, cap);
			if (ret == VG_ENOTFOUND && z->n3)
				ret = get_nsec3(z, name, qtype, now, out, buf, cap);
		}
		if (ret == 0)
			z->last_used = now;
		pthread_rwlock_unlock(&s->lock);
		return ret;
	}
}

/* Does zone @p z go in a flush of @p name? (at it, above it, or below with subtree) */
static bool flush_zone_match(const struct zone *z, const uint8_t *name, bool subtree)
{
	if (!name)
		return true;
	if (vg_name_is_sub(name, z->name)) /* z at or above name: could deny it */
		return true;
	return subtree && vg_name_is_sub(z->name, name);
}

size_t vg_aggr_flush(struct vg_aggr *a, const uint8_t *name, bool subtree)
{
	size_t n = 0;
	for (int i = 0; i < AGGR_SHARDS; i++) {
		struct shard *s = &a->shards[i];
		pthread_rwlock_wrlock(&s->lock);
		for (int b = 0; b < ZONE_BUCKETS; b++) {
			struct zone **pp = &s->buckets[b];
			while (*pp) {
				if (flush_zone_match(*pp, name, subtree)) {
					drop_zone(s, pp);
					n++;
				} else {
					pp = &(*pp)->hnext;
				}
			}
		}
		pthread_rwlock_unlock(&s->lock);
	}
	return n;
}
