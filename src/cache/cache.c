/* SPDX-License-Identifier: MIT
 *
 * Sharded LRU cache of RRsets and negative answers.
 *
 * Design: VG_CACHE_SHARDS shards, each a mutex, a fixed bucket array (chained
 * hashing, never resized, sized from the byte budget) and an intrusive LRU
 * list.  The budget is split evenly between shards and includes the bucket
 * arrays.  Each entry is one heap block: header, owner name, optional SOA owner,
 * rdata, the RRSIGs' rdata (positive), the proof (negative, or a positive
 * wildcard expansion's).  Its accounted size is the block size plus
 * allocator overhead.
 *
 * Hashing is SipHash-2-4 (libsodium crypto_shorthash) keyed at start-up, so
 * remote parties cannot aim many names at one bucket.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cache/cache.h"
#include "core/core.h"

#define VG_CACHE_SHARDS 32
#define MALLOC_OVERHEAD 16

enum { F_NEG = 1, F_NX = 2, F_FAIL = 4, F_PREFETCH = 8 };

struct entry {
	struct entry *hnext;
	struct entry *prev, *next;
	uint64_t hash;
	uint32_t expire;
	uint32_t ttl0;          /* the TTL it was stored with (prefetch) */
	uint32_t fail_until;    /* stale: refreshing it failed, answer stale until then */
	uint32_t size;
	uint16_t type, rclass;
	uint8_t rank, flags;
	uint8_t name_len, soa_name_len;
	uint16_t count;
	uint16_t rdata_len;
	uint16_t sig_count;     /* positive: RRSIG records in the extra part */
	uint16_t ede;
	uint16_t sig_len;       /* positive: RRSIG rdata bytes */
	uint16_t proof_len;     /* the proof's bytes (negative; positive: wildcard) */
	uint8_t sec;
	uint8_t data[];         /* name, soa owner, rdata, RRSIG rdata, proof */
};

struct shard {
	pthread_mutex_t lock;
	struct entry **buckets;
	size_t nbuckets; /* power of two */
	struct entry lru; /* sentinel: lru.next is most recent */
	size_t bytes, max_bytes, entries;
	vg_counter_t evictions; /* entries removed to make room: written under the lock,
				 * read without it (relaxed) */
} __attribute__((aligned(64)));

struct vg_cache {
	struct shard shards[VG_CACHE_SHARDS];
	unsigned char key[crypto_shorthash_KEYBYTES];
	_Atomic uint32_t min_ttl, max_ttl, max_neg_ttl; /* changed by reload, read by workers */
	_Atomic uint32_t stale_max; /* serve-stale: expired entries kept this long (0: none) */
	size_t limit;
	struct entry **table; /* every shard's buckets, one block (big_alloc) */
	size_t table_bytes;
	struct vg_aggr *aggr; /* validated NSEC ranges (aggr.c), an eighth of the budget */
};

struct vg_aggr *vg_cache_aggr(struct vg_cache *c)
{
	return c->aggr;
}

static uint64_t key_hash(const struct vg_cache *c, const uint8_t *name, size_t nlen, uint16_t type)
{
	uint8_t buf[VG_NAME_MAX + 2];
	uint64_t h;
	memcpy(buf, name, nlen);
	vg_put16(buf + nlen, type);
	crypto_shorthash((unsigned char *)&h, buf, nlen + 2, c->key);
	return h;
}

static void lru_unlink(struct entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void lru_push_front(struct shard *s, struct entry *e)
{
	e->next = s->lru.next;
	e->prev = &s->lru;
	s->lru.next->prev = e;
	s->lru.next = e;
}

struct vg_cache *vg_cache_new(size_t max_bytes)
{
	struct vg_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	randombytes_buf(c->key, sizeof(c->key));
	c->min_ttl = 0;
	c->max_ttl = 86400;
	c->max_neg_ttl = 3600;
	c->limit = max_bytes;
	c->aggr = vg_aggr_new(max_bytes / 8);
	if (!c->aggr) {
		free(c);
		return NULL;
	}
	max_bytes -= max_bytes / 8;
	size_t per = max_bytes / VG_CACHE_SHARDS;
	size_t nb = 64;
	while (nb * 512 < per) /* about one bucket per 512 budget bytes */
		nb <<= 1;
	c->table_bytes = VG_CACHE_SHARDS * nb * sizeof(struct entry *);
	c->table = vg_big_alloc(c->table_bytes);
	for (int i = 0; i < VG_CACHE_SHARDS; i++) {
		struct shard *s = &c->shards[i];
		pthread_mutex_init(&s->lock, NULL);
		s->nbuckets = nb;
		s->buckets = c->table ? c->table + (size_t)i * nb : NULL;
		if (!s->buckets) {
			vg_cache_free(c);
			return NULL;
		}
		s->lru.next = s->lru.prev = &s->lru;
		size_t table = nb * sizeof(*s->buckets);
		s->max_bytes = per > table ? per - table : 0;
	}
	return c;
}

void vg_cache_free(struct vg_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < VG_CACHE_SHARDS; i++) {
		struct shard *s = &c->shards[i];
		if (s->buckets) {
			struct entry *e = s->lru.next;
			while (e && e != &s->lru) {
				struct entry *n = e->next;
				free(e);
				e = n;
			}
		}
		pthread_mutex_destroy(&s->lock);
	}
	vg_big_free(c->table, c->table_bytes);
	vg_aggr_free(c->aggr);
	free(c);
}

void vg_cache_set_limits(struct vg_cache *c, uint32_t min_ttl, uint32_t max_ttl,
			 uint32_t max_neg_ttl)
{
	atomic_store_explicit(&c->min_ttl, min_ttl, memory_order_relaxed);
	atomic_store_explicit(&c->max_ttl, max_ttl, memory_order_relaxed);
	atomic_store_explicit(&c->max_neg_ttl, max_neg_ttl, memory_order_relaxed);
}

void vg_cache_set_stale(struct vg_cache *c, uint32_t max_s)
{
	atomic_store_explicit(&c->stale_max, max_s, memory_order_relaxed);
}

/* May this expired entry still be served stale (RFC 8767)?  Data and
 * negative answers only: neither a cached failure nor bogus data. */
static bool stale_ok(const struct vg_cache *c, const struct entry *e, uint32_t now)
{
	uint32_t max = atomic_load_explicit(&c->stale_max, memory_order_relaxed);
	return max && !(e->flags & F_FAIL) && e->sec != VG_SEC_BOGUS && now - e->expire < max;
}

static struct shard *shard_of(struct vg_cache *c, uint64_t h)
{
	return &c->shards[h >> 59 & (VG_CACHE_SHARDS - 1)];
}

static struct entry **find_slot(struct shard *s, uint64_t h, const uint8_t *name, size_t nlen,
				uint16_t type)
{
	struct entry **pp = &s->buckets[h & (s->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->hnext) {
		struct entry *e = *pp;
		if (e->hash == h && e->type == type && e->name_len == nlen &&
		    memcmp(e->data, name, nlen) == 0)
			return pp;
	}
	return pp;
}

uint64_t vg_cache_prefetch(const struct vg_cache *c, const uint8_t *name, uint16_t type)
{
	uint64_t h = key_hash(c, name, vg_name_len(name), type);
	const struct shard *s = &c->shards[h >> 59 & (VG_CACHE_SHARDS - 1)];
	/* the bucket array and its size never change after vg_cache_new */
	__builtin_prefetch(&s->buckets[h & (s->nbuckets - 1)]);
	return h;
}

static void remove_entry(struct shard *s, struct entry **pp)
{
	struct entry *e = *pp;
	*pp = e->hnext;
	lru_unlink(e);
	s->bytes -= e->size;
	s->entries--;
	free(e);
}

/* Evict from the LRU tail until @p need more bytes fit. */
static void make_room(struct shard *s, size_t need)
{
	while (s->bytes + need > s->max_bytes && s->lru.prev != &s->lru) {
		struct entry *victim = s->lru.prev;
		struct entry **pp = &s->buckets[victim->hash & (s->nbuckets - 1)];
		while (*pp != victim)
			pp = &(*pp)->hnext;
		remove_entry(s, pp);
		VG_STAT_INC(s->evictions);
	}
}

/* Common insertion: build the block first (outside the lock), then swap in. */
static int insert(struct vg_cache *c, struct entry *ne, uint32_t now)
{
	struct shard *s = shard_of(c, ne->hash);
	if (ne->size > s->max_bytes) {
		free(ne);
		return VG_ELIMIT;
	}
	pthread_mutex_lock(&s->lock);
	struct entry **pp = find_slot(s, ne->hash, ne->data, ne->name_len, ne->type);
	if (*pp) {
		struct entry *old = *pp;
		bool live = old->expire > now;
		if (!live && (ne->flags & F_FAIL) && stale_ok(c, old, now)) {
			/* refreshing stale data failed: keep the data, answer it stale
			 * at once until the failure would have expired (RFC 8767 4,
			 * the failure recheck timer) */
			old->fail_until = ne->expire;
			pthread_mutex_unlock(&s->lock);
			free(ne);
			return 0;
		}
		/* a refresh asked for by prefetch replaces the entry even when it
		 * is secure: the request validates what it stores */
		if (live && (old->flags & F_PREFETCH) && !(ne->flags & F_FAIL) &&
		    old->rank <= ne->rank)
			live = false;
		if (live && (old->rank > ne->rank || (ne->flags & F_FAIL) ||
			     (old->rank == ne->rank && old->sec == VG_SEC_SECURE &&
			      ne->sec != VG_SEC_SECURE))) {
			pthread_mutex_unlock(&s->lock);
			free(ne);
			return 0;
		}
		remove_entry(s, pp);
	}
	make_room(s, ne->size);
	pp = &s->buckets[ne->hash & (s->nbuckets - 1)];
	ne->hnext = *pp;
	*pp = ne;
	lru_push_front(s, ne);
	s->bytes += ne->size;
	s->entries++;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static uint32_t clamp_ttl(const struct vg_cache *c, uint32_t ttl, uint32_t max)
{
	if (ttl > 0x7fffffff) /* RFC 2181 8: treat as zero */
		ttl = 0;
	uint32_t min = atomic_load_explicit(&c->min_ttl, memory_order_relaxed);
	if (ttl > max)
		ttl = max;
	if (ttl < min)
		ttl = min;
	return ttl;
}

uint32_t vg_cache_clamp_ttl(const struct vg_cache *c, uint32_t ttl, bool negative)
{
	return clamp_ttl(c, ttl, atomic_load_explicit(negative ? &c->max_neg_ttl : &c->max_ttl,
						      memory_order_relaxed));
}

static struct entry *entry_new(size_t nlen, size_t soalen, size_t rdlen)
{
	size_t sz = sizeof(struct entry) + nlen + soalen + rdlen; /* sigs, proof in rdlen */
	struct entry *e = malloc(sz);
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->size = (uint32_t)(sz + MALLOC_OVERHEAD);
	return e;
}

int vg_cache_put(struct vg_cache *c, const struct vg_rrset *rs, uint8_t rank, uint32_t now)
{
	return vg_cache_put_signed(c, rs, NULL, rank, VG_SEC_UNCHECKED, now);
}

int vg_cache_put_signed(struct vg_cache *c, const struct vg_rrset *rs, const struct vg_rrset *sigs,
			uint8_t rank, uint8_t sec, uint32_t now)
{
	return vg_cache_put_signed_proof(c, rs, sigs, NULL, 0, 0, rank, sec, now);
}

int vg_cache_put_signed_proof(struct vg_cache *c, const struct vg_rrset *rs,
			      const struct vg_rrset *sigs, const uint8_t *proof, size_t proof_len,
			      uint32_t proof_ttl, uint8_t rank, uint8_t sec, uint32_t now)
{
	uint32_t ttl = clamp_ttl(c, rs->ttl, atomic_load_explicit(&c->max_ttl, memory_order_relaxed));
	if (sigs && sigs->count && sigs->ttl < ttl)
		ttl = clamp_ttl(c, sigs->ttl, ttl);
	if (proof_len && proof_ttl < ttl) /* the expansion lives no longer than its proof */
		ttl = clamp_ttl(c, proof_ttl, ttl);
	if (ttl == 0)
		return 0;
	if (proof_len > 65535)
		return VG_ELIMIT;
	size_t nlen = vg_name_len(rs->owner);
	size_t xlen = sigs ? sigs->rdata_len : 0;
	struct entry *e = entry_new(nlen, 0, (size_t)rs->rdata_len + xlen + proof_len);
	if (!e)
		return VG_ENOMEM;
	memcpy(e->data, rs->owner, nlen);
	vg_name_lower(e->data);
	memcpy(e->data + nlen, rs->rdata, rs->rdata_len);
	if (xlen)
		memcpy(e->data + nlen + rs->rdata_len, sigs->rdata, xlen);
	if (proof_len)
		memcpy(e->data + nlen + rs->rdata_len + xlen, proof, proof_len);
	e->sig_len = (uint16_t)xlen;
	e->proof_len = (uint16_t)proof_len;
	e->sig_count = sigs ? sigs->count : 0;
	e->sec = sec;
	e->name_len = (uint8_t)nlen;
	e->type = rs->type;
	e->rclass = rs->rclass;
	e->rank = rank;
	e->count = rs->count;
	e->rdata_len = rs->rdata_len;
	e->expire = now + ttl;
	e->ttl0 = ttl;
	e->hash = key_hash(c, e->data, nlen, e->type);
	return insert(c, e, now);
}

int vg_cache_put_neg(struct vg_cache *c, const uint8_t *name, uint16_t type,
		     const struct vg_rrset *soa, uint32_t ttl, uint8_t rank, uint32_t now)
{
	return vg_cache_put_neg_proof(c, name, type, soa, ttl, rank, VG_SEC_UNCHECKED, NULL, 0,
				      now);
}

int vg_cache_put_neg_proof(struct vg_cache *c, const uint8_t *name, uint16_t type,
			   const struct vg_rrset *soa, uint32_t ttl, uint8_t rank, uint8_t sec,
			   const uint8_t *proof, size_t proof_len, uint32_t now)
{
	ttl = clamp_ttl(c, ttl, atomic_load_explicit(&c->max_neg_ttl, memory_order_relaxed));
	if (ttl == 0)
		return 0;
	if (proof_len > 65535)
		return VG_ELIMIT;
	size_t nlen = vg_name_len(name);
	size_t slen = soa ? vg_name_len(soa->owner) : 0;
	size_t rdlen = soa ? soa->rdata_len : 0;
	struct entry *e = entry_new(nlen, slen, rdlen + proof_len);
	if (!e)
		return VG_ENOMEM;
	if (proof_len)
		memcpy(e->data + nlen + slen + rdlen, proof, proof_len);
	e->proof_len = (uint16_t)proof_len;
	e->sec = sec;
	memcpy(e->data, name, nlen);
	vg_name_lower(e->data);
	if (soa) {
		memcpy(e->data + nlen, soa->owner, slen);
		memcpy(e->data + nlen + slen, soa->rdata, rdlen);
		e->count = soa->count;
		e->rclass = soa->rclass;
	}
	e->name_len = (uint8_t)nlen;
	e->soa_name_len = (uint8_t)slen;
	e->rdata_len = (uint16_t)rdlen;
	e->type = type;
	e->rank = rank;
	e->flags = (uint8_t)(F_NEG | (type == 0 ? F_NX : 0));
	e->expire = now + ttl;
	e->ttl0 = ttl;
	e->hash = key_hash(c, e->data, nlen, type);
	return insert(c, e, now);
}

int vg_cache_put_fail(struct vg_cache *c, const uint8_t *name, uint16_t type, uint32_t ttl,
		      uint16_t ede, uint32_t now)
{
	if (ttl == 0)
		return 0;
	size_t nlen = vg_name_len(name);
	struct entry *e = entry_new(nlen, 0, 0);
	if (!e)
		return VG_ENOMEM;
	memcpy(e->data, name, nlen);
	vg_name_lower(e->data);
	e->name_len = (uint8_t)nlen;
	e->type = type;
	e->rank = 0;
	e->flags = F_FAIL;
	e->ede = ede;
	e->expire = now + ttl;
	e->ttl0 = ttl;
	e->hash = key_hash(c, e->data, nlen, type);
	return insert(c, e, now);
}

int vg_cache_get(struct vg_cache *c, const uint8_t *name, uint16_t type, uint32_t now,
		 struct vg_cache_entry *out, uint8_t *buf, size_t cap)
{
	return vg_cache_get_ex(c, name, type, now, 0, out, buf, cap);
}

int vg_cache_get_ex(struct vg_cache *c, const uint8_t *name, uint16_t type, uint32_t now,
		    unsigned flags, struct vg_cache_entry *out, uint8_t *buf, size_t cap)
{
	return vg_cache_get_hashed(c, name, type, key_hash(c, name, vg_name_len(name), type), now,
				   flags, out, buf, cap);
}

int vg_cache_get_hashed(struct vg_cache *c, const uint8_t *name, uint16_t type, uint64_t h,
			uint32_t now, unsigned flags, struct vg_cache_entry *out, uint8_t *buf,
			size_t cap)
{
	bool stale = false, prefetch = false;
	size_t nlen = vg_name_len(name);
	struct shard *s = shard_of(c, h);
	int ret = VG_ENOTFOUND;

	pthread_mutex_lock(&s->lock);
	struct entry **pp = find_slot(s, h, name, nlen, type);
	struct entry *e = *pp;
	if (!e)
		goto out;
	if (e->expire <= now) {
		if (!stale_ok(c, e, now)) {
			remove_entry(s, pp);
			goto out;
		}
		/* kept for serve-stale; handed out only when asked for */
		if (!(flags & VG_CACHE_STALE) &&
		    !((flags & VG_CACHE_STALE_FAILED) && e->fail_until > now))
			goto out;
		stale = true;
	} else if ((flags & VG_CACHE_PREFETCH) && !(e->flags & (F_FAIL | F_PREFETCH)) &&
		   (uint64_t)(e->expire - now) * 10 < e->ttl0) {
		/* under a tenth of its TTL left: this caller refreshes it, and
		 * nobody else (the flag goes with the entry a refresh replaces) */
		prefetch = true;
	}
	size_t head = (size_t)e->name_len + e->soa_name_len + e->rdata_len + e->sig_len;
	size_t body = head + e->proof_len;
	if (body > cap) {
		ret = VG_ENOSPACE;
		goto out;
	}
	memcpy(buf, e->data, body);
	if (prefetch)
		e->flags |= F_PREFETCH;
	lru_unlink(e);
	lru_push_front(s, e);
	out->failure = e->flags & F_FAIL;
	out->negative = e->flags & F_NEG;
	out->nxdomain = e->flags & F_NX;
	out->rank = e->rank;
	out->ttl = stale ? VG_CACHE_STALE_TTL : e->expire - now;
	out->stale = stale;
	out->prefetch = prefetch;
	out->sec = e->sec;
	out->ede = e->ede;
	memset(&out->sigs, 0, sizeof(out->sigs));
	out->proof = e->proof_len ? buf + head : NULL;
	out->proof_len = e->proof_len;
	if (out->negative) {
		memset(&out->rs, 0, sizeof(out->rs));
		out->soa.owner = buf + e->name_len;
		out->soa.type = VG_T_SOA;
		out->soa.rclass = e->rclass;
		out->soa.ttl = out->ttl;
		out->soa.count = e->count;
		out->soa.rdata_len = e->rdata_len;
		out->soa.rdata = buf + e->name_len + e->soa_name_len;
		out->rs.owner = buf;
	} else {
		memset(&out->soa, 0, sizeof(out->soa));
		out->rs.owner = buf;
		out->rs.type = e->type;
		out->rs.rclass = e->rclass;
		out->rs.ttl = out->ttl;
		out->rs.count = e->count;
		out->rs.rdata_len = e->rdata_len;
		out->rs.rdata = buf + e->name_len;
		if (e->sig_count) {
			out->sigs.owner = buf;
			out->sigs.type = VG_T_RRSIG;
			out->sigs.rclass = e->rclass;
			out->sigs.ttl = out->ttl;
			out->sigs.count = e->sig_count;
			out->sigs.rdata_len = e->sig_len;
			out->sigs.rdata = buf + e->name_len + e->rdata_len;
		}
	}
	ret = 0;
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int vg_cache_set_sec(struct vg_cache *c, const uint8_t *name, uint16_t type, uint8_t sec,
		     uint16_t ede, uint32_t bogus_ttl, uint32_t now)
{
	size_t nlen = vg_name_len(name);
	uint64_t h = key_hash(c, name, nlen, type);
	struct shard *s = shard_of(c, h);
	int ret = VG_ENOTFOUND;
	pthread_mutex_lock(&s->lock);
	struct entry *e = *find_slot(s, h, name, nlen, type);
	if (e && e->expire > now) { /* on a failure entry: why it failed */
		e->sec = sec;
		e->ede = ede;
		if (sec == VG_SEC_BOGUS && e->expire - now > bogus_ttl)
			e->expire = now + (bogus_ttl ? bogus_ttl : 1);
		ret = 0;
	} else if (e && sec == VG_SEC_BOGUS) {
		/* expired (VG_ENOTFOUND still): stale data whose refresh was
		 * bogus is not served stale */
		e->sec = sec;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int vg_cache_drop(struct vg_cache *c, const uint8_t *name, uint16_t type)
{
	uint8_t low[VG_NAME_MAX];
	size_t nlen = vg_name_len(name);
	memcpy(low, name, nlen);
	vg_name_lower(low);
	uint64_t h = key_hash(c, low, nlen, type);
	struct shard *s = shard_of(c, h);
	int ret = VG_ENOTFOUND;
	pthread_mutex_lock(&s->lock);
	struct entry **pp = find_slot(s, h, low, nlen, type);
	if (*pp && (*pp)->sec != VG_SEC_SECURE) {
		remove_entry(s, pp);
		ret = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

bool vg_cache_has(struct vg_cache *c, const uint8_t *name, uint16_t type, uint32_t now)
{
	uint8_t low[VG_NAME_MAX];
	size_t nlen = vg_name_len(name);
	memcpy(low, name, nlen);
	vg_name_lower(low);
	name = low;
	uint64_t h = key_hash(c, name, nlen, type);
	struct shard *s = shard_of(c, h);
	pthread_mutex_lock(&s->lock);
	struct entry *e = *find_slot(s, h, name, nlen, type);
	bool r = e && e->expire > now;
	pthread_mutex_unlock(&s->lock);
	return r;
}

uint64_t vg_cache_evictions(struct vg_cache *c)
{
	uint64_t n = 0;
	for (int i = 0; i < VG_CACHE_SHARDS; i++)
		n += VG_STAT_GET(c->shards[i].evictions);
	return n;
}

void vg_cache_usage(struct vg_cache *c, size_t *entries, size_t *bytes, size_t *limit)
{
	size_t n = 0, b = 0;
	for (int i = 0; i < VG_CACHE_SHARDS; i++) {
		struct shard *s = &c->shards[i];
		pthread_mutex_lock(&s->lock);
		n += s->entries;
		b += s->bytes + s->nbuckets * sizeof(*s->buckets);
		pthread_mutex_unlock(&s->lock);
	}
	if (entries)
		*entries = n;
	if (bytes)
		*bytes = b;
	if (limit)
		*limit = c->limit;
}

/* ------------------------------------------------------------ the control socket */

static bool flush_match(const struct entry *e, const uint8_t *name, unsigned flags)
{
	if ((flags & VG_CACHE_FLUSH_NEGATIVE) && !(e->flags & (F_NEG | F_FAIL)))
		return false;
	if (!name)
		return true;
	if (flags & VG_CACHE_FLUSH_SUBTREE)
		return vg_name_is_sub(e->data, name);
	return vg_name_eq(e->data, name);
}

size_t vg_cache_flush(struct vg_cache *c, const uint8_t *name, unsigned flags)
{
	uint8_t low[VG_NAME_MAX];
	size_t n = 0;

	if (name) {
		memcpy(low, name, vg_name_len(name));
		vg_name_lower(low);
		name = low;
	}
	/* A shard's lock is let go every VG_CACHE_FLUSH_BATCH steps (a bucket
	 * or an entry looked at), between buckets, so that a worker whose
	 * lookups hit it waits for a batch, not for the whole shard.  Buckets
	 * are never resized and an entry never changes bucket: every entry there
	 * when the flush began is looked at (an entry stored meanwhile in a
	 * bucket already walked stays, as one stored just after the flush). */
	for (int i = 0; i < VG_CACHE_SHARDS; i++) {
		struct shard *s = &c->shards[i];
		size_t b = 0;
		while (b < s->nbuckets) {
			unsigned steps = 0;
			pthread_mutex_lock(&s->lock);
			for (; b < s->nbuckets && steps < VG_CACHE_FLUSH_BATCH; b++, steps++) {
				struct entry **pp = &s->buckets[b];
				while (*pp) {
					steps++;
					if (flush_match(*pp, name, flags)) {
						remove_entry(s, pp);
						n++;
					} else {
						pp = &(*pp)->hnext;
					}
				}
			}
			pthread_mutex_unlock(&s->lock);
		}
	}
	if (flags & VG_CACHE_FLUSH_NEGATIVE)
		name = NULL; /* every NSEC zone is a store of denials */
	n += vg_aggr_flush(c->aggr, name, flags & VG_CACHE_FLUSH_SUBTREE);
	return n;
}

int vg_cache_peek(struct vg_cache *c, const uint8_t *name, uint16_t type, uint32_t now,
		  struct vg_cache_info *out)
{
	uint8_t low[VG_NAME_MAX];
	size_t nlen = vg_name_len(name);
	int ret = VG_ENOTFOUND;

	memcpy(low, name, nlen);
	vg_name_lower(low);
	uint64_t h = key_hash(c, low, nlen, type);
	struct shard *s = shard_of(c, h);
	pthread_mutex_lock(&s->lock);
	const struct entry *e = *find_slot(s, h, low, nlen, type);
	if (!e || (e->expire <= now && !stale_ok(c, e, now)))
		goto out;
	*out = (struct vg_cache_info){
		.negative = e->flags & F_NEG, .nxdomain = e->flags & F_NX,
		.failure = e->flags & F_FAIL, .expired = e->expire <= now,
		.rank = e->rank, .sec = e->sec, .ede = e->ede, .count = e->count,
		.sig_count = e->sig_count, .ttl = e->expire > now ? e->expire - now : 0,
		.ttl0 = e->ttl0, .stale_for = e->expire <= now ? now - e->expire : 0,
	};
	ret = 0;
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}
