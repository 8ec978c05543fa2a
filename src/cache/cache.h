/* SPDX-License-Identifier: MIT
 *
 * The shared RRset and negative cache.
 *
 * One cache serves all worker threads.  It is split into shards, each with its
 * own lock, hash table and LRU list, so threads rarely contend.  The byte bound
 * given at creation is honoured: inserting evicts least-recently-used entries
 * of the shard until the new entry fits; the cache never grows past it.
 *
 * Entries are keyed on (owner name, type).  A positive entry holds one RRset
 * (with its RRSIGs, and for a wildcard expansion the NSEC/NSEC3 records that
 * prove it); a negative entry (RFC 2308) holds the SOA that proves it.  NXDOMAIN is stored
 * under type 0, meaning "no type exists at this name".  TTLs are stored as an
 * absolute expiry on vigil's monotonic clock, so answers carry the remaining TTL.
 *
 * vg_cache_get copies the entry out into caller storage under the shard lock:
 * the caller never holds a reference into the cache, and nothing is allocated.
 */
#ifndef VG_CACHE_H
#define VG_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dnssec/dnssec.h"
#include "vigil/wire.h"

/** Trust ranks (RFC 2181 5.4.1): a higher rank replaces a lower one. */
enum vg_rank {
	VG_RANK_GLUE = 1,       /* additional-section data, glue */
	VG_RANK_REFERRAL = 2,   /* NS from a referral (non-authoritative authority) */
	VG_RANK_NONAUTH = 3,    /* answer from a forwarder / non-AA answer */
	VG_RANK_AUTH = 4,       /* authoritative answer or authority data */
	VG_RANK_HINT = 0,       /* root hints: lowest */
};

/* An entry's DNSSEC status (kept with the data): enum vg_sec, dnssec.h. */

struct vg_cache;

/** The cache section of the configuration (servfail-ttl is the resolver's). */
struct vg_cache_opts {
	size_t size;          /* bytes, default 64 MiB, min 1 MiB */
	uint32_t max_ttl;     /* default 86400 */
	uint32_t max_neg_ttl; /* default 3600 */
	uint32_t min_ttl;     /* default 0 */
};

/** Create a cache bounded by @p max_bytes (all of its memory, tables included). */
struct vg_cache *vg_cache_new(size_t max_bytes);
void vg_cache_free(struct vg_cache *c);

/** TTL clamps applied on insertion (seconds). */
void vg_cache_set_limits(struct vg_cache *c, uint32_t min_ttl, uint32_t max_ttl,
			 uint32_t max_neg_ttl);
/**
 * @p ttl as the cache would store it: within the limits of
 * vg_cache_set_limits (max-negative-ttl for a negative answer's), and 0 for
 * one above 2^31 - 1 (RFC 2181 8).  What a fresh answer says, too.
 */
uint32_t vg_cache_clamp_ttl(const struct vg_cache *c, uint32_t ttl, bool negative);

/**
 * Store an RRset (its ttl field is the TTL as received).  Replaces an existing
 * entry of equal or lower rank, or one that has expired.  Returns 0, or
 * VG_ELIMIT when the entry is larger than a shard may hold, or VG_ENOMEM.
 * A zero TTL (after clamping) is not stored and returns 0.
 */
int vg_cache_put(struct vg_cache *c, const struct vg_rrset *rs, uint8_t rank, uint32_t now);

/**
 * Like vg_cache_put, with the RRSIGs covering the RRset (@p sigs: an RRset of
 * type RRSIG at the same owner, or NULL) and a DNSSEC status.  A live entry
 * marked secure is not replaced by one that is not, at the same rank.
 */
int vg_cache_put_signed(struct vg_cache *c, const struct vg_rrset *rs, const struct vg_rrset *sigs,
			uint8_t rank, uint8_t sec, uint32_t now);

/**
 * Like vg_cache_put_signed, keeping @p proof (@p proof_len bytes, opaque to
 * the cache: the resolver's packed NSEC/NSEC3 records with their RRSIGs that
 * prove a wildcard expansion, RFC 4035 3.1.3.3 and 5.3.4) with the RRset, for
 * the authority section of later answers.  A proof lives as long as its
 * records: @p proof_ttl, their smallest TTL, caps the entry's TTL (clamped as
 * any other; with 0, nothing is stored).  VG_ELIMIT above 65535 bytes.
 */
int vg_cache_put_signed_proof(struct vg_cache *c, const struct vg_rrset *rs,
			      const struct vg_rrset *sigs, const uint8_t *proof, size_t proof_len,
			      uint32_t proof_ttl, uint8_t rank, uint8_t sec, uint32_t now);

/**
 * Store a negative answer for @p name: @p type 0 for NXDOMAIN, else NODATA for
 * that type.  @p soa (may be NULL) is kept for the authority section; @p ttl is
 * the negative TTL already computed per RFC 2308 (min of SOA TTL and MINIMUM).
 */
int vg_cache_put_neg(struct vg_cache *c, const uint8_t *name, uint16_t type,
		     const struct vg_rrset *soa, uint32_t ttl, uint8_t rank, uint32_t now);

/**
 * Like vg_cache_put_neg, keeping @p proof (@p proof_len bytes, opaque to the
 * cache: the resolver's packed NSEC/NSEC3/RRSIG records) and a DNSSEC status.
 */
int vg_cache_put_neg_proof(struct vg_cache *c, const uint8_t *name, uint16_t type,
			   const struct vg_rrset *soa, uint32_t ttl, uint8_t rank, uint8_t sec,
			   const uint8_t *proof, size_t proof_len, uint32_t now);

/**
 * Record the outcome of validating the entry (name, type): its status and,
 * for VG_SEC_BOGUS, the Extended DNS Error; a bogus entry expires within
 * @p bogus_ttl seconds.  VG_ENOTFOUND if the entry is gone.
 */
int vg_cache_set_sec(struct vg_cache *c, const uint8_t *name, uint16_t type, uint8_t sec,
		     uint16_t ede, uint32_t bogus_ttl, uint32_t now);

/**
 * Remove the entry (name, type) unless it is marked secure (data a server
 * sent that failed validation, so that it is fetched again).  0, or
 * VG_ENOTFOUND when there is no such entry (or it is secure).
 */
int vg_cache_drop(struct vg_cache *c, const uint8_t *name, uint16_t type);

/**
 * Remember that resolving (name, type) failed (RFC 9520), for @p ttl seconds,
 * and why (@p ede: the Extended DNS Error it was answered with, 0 none).
 * The entry has the lowest rank: any real data replaces it, and it never
 * replaces live data.
 */
int vg_cache_put_fail(struct vg_cache *c, const uint8_t *name, uint16_t type, uint32_t ttl,
		      uint16_t ede, uint32_t now);

/** A copied-out cache entry; pointers refer to the caller's buffer. */
struct vg_cache_entry {
	bool failure;      /* a cached resolution failure: answer SERVFAIL */
	bool stale;        /* expired, served stale (ttl is VG_CACHE_STALE_TTL) */
	bool prefetch;     /* VG_CACHE_PREFETCH: the caller should refresh it */
	bool negative;     /* NODATA or NXDOMAIN */
	bool nxdomain;     /* only with negative */
	uint8_t rank;
	uint32_t ttl;      /* remaining */
	uint8_t sec;       /* enum vg_sec */
	uint16_t ede;      /* with VG_SEC_BOGUS: why */
	struct vg_rrset rs;  /* positive: the RRset, ttl = remaining */
	struct vg_rrset sigs; /* positive: its RRSIGs (count 0 if none) */
	struct vg_rrset soa; /* negative: SOA (count 0 if none was stored) */
	const uint8_t *proof; /* negative: the proof records as stored; positive: those
			       * of a wildcard expansion (NULL, proof_len 0: none) */
	size_t proof_len;
};

/**
 * Look up (name, type) valid at @p now, copying into @p buf (capacity @p cap).
 * @p name must be lower-case (the hot path passes names already lowered; this
 * keeps a copy and a pass over the name out of every lookup).
 * Returns 0 on a hit, VG_ENOTFOUND on a miss or expired entry, VG_ENOSPACE if
 * @p buf is too small.  Type 0 looks up an NXDOMAIN entry.
 */
int vg_cache_get(struct vg_cache *c, const uint8_t *name, uint16_t type, uint32_t now,
		 struct vg_cache_entry *out, uint8_t *buf, size_t cap);

/*
 * Serve-stale (RFC 8767): with a maximum staleness set, expired data and
 * negative entries are kept that long after they expire (or until evicted)
 * and handed out only to a caller that asks for stale data.  A cached
 * failure (vg_cache_put_fail) does not replace such an entry: it marks it
 * "refresh failed" for the failure's TTL instead (RFC 8767 4, the failure
 * recheck timer).  Cached failures and bogus data are never kept stale.
 */
#define VG_CACHE_STALE_TTL 30 /* the TTL of a stale answer (RFC 8767 4) */

/** Keep expired entries @p max_s seconds for serve-stale (0: off, the default). */
void vg_cache_set_stale(struct vg_cache *c, uint32_t max_s);

enum {
	VG_CACHE_STALE = 1,        /* an expired entry within the staleness limit too */
	VG_CACHE_STALE_FAILED = 2, /* one whose refresh failed recently (fail TTL) too */
	VG_CACHE_PREFETCH = 4,     /* claim the refresh of a live entry with under a
				    * tenth of its TTL left: out->prefetch is set for
				    * one caller per stored entry */
	VG_CACHE_NO_FAIL = 8,      /* (vg_resolv_answer_cached_ex) a cached failure
				    * with no stale data to stand in is a miss */
};

/**
 * vg_cache_get with @p flags (VG_CACHE_*): out->stale tells a stale entry
 * (its TTLs are VG_CACHE_STALE_TTL), out->prefetch a claimed refresh.
 * Takes no other lock and allocates nothing.
 */
int vg_cache_get_ex(struct vg_cache *c, const uint8_t *name, uint16_t type, uint32_t now,
		    unsigned flags, struct vg_cache_entry *out, uint8_t *buf, size_t cap);

/** vg_cache_get_ex with the key's @p hash from vg_cache_prefetch. */
int vg_cache_get_hashed(struct vg_cache *c, const uint8_t *name, uint16_t type, uint64_t hash,
			uint32_t now, unsigned flags, struct vg_cache_entry *out, uint8_t *buf,
			size_t cap);

/** Is there a live entry (any rank) for (name, type)? */
bool vg_cache_has(struct vg_cache *c, const uint8_t *name, uint16_t type, uint32_t now);

/**
 * Start loading the hash bucket of (@p name, @p type) into the CPU's cache,
 * for a lookup that follows soon (the pipeline calls it as it parses a query,
 * so that the load overlaps the access and policy checks), and return the
 * key's hash for that lookup (vg_cache_get_hashed), so that it is not
 * computed twice.  No lock, no effect on the contents; @p name lower-cased,
 * as every key is.
 */
uint64_t vg_cache_prefetch(const struct vg_cache *c, const uint8_t *name, uint16_t type);

/* ------------------------------------------------------------ aggr.c */

/**
 * Aggressive use of validated NSEC records (RFC 8198): a per-zone ordered
 * store, part of the cache (its budget is an eighth of the cache's).
 */
struct vg_aggr;
struct vg_aggr *vg_aggr_new(size_t max_bytes);
void vg_aggr_free(struct vg_aggr *a);
/** The cache's NSEC store. */
struct vg_aggr *vg_cache_aggr(struct vg_cache *c);

/**
 * Keep one validated NSEC record (@p nsec, one record, with its RRSIGs) of
 * @p zone, with the zone's SOA and its RRSIGs for answers.  Lives at most
 * @p neg_ttl (the negative TTL), the NSEC's TTL and its RRSIGs' TTL.
 */
int vg_aggr_put(struct vg_aggr *a, const uint8_t *zone, const struct vg_rrset *soa,
		const struct vg_rrset *soa_sig, uint32_t neg_ttl, const struct vg_rrset *nsec,
		const struct vg_rrset *nsec_sig, uint32_t now);

/** The same for one validated NSEC3 record (SHA-1; a zone keeps one parameter set). */
int vg_aggr_put_nsec3(struct vg_aggr *a, const uint8_t *zone, const struct vg_rrset *soa,
		      const struct vg_rrset *soa_sig, uint32_t neg_ttl, const struct vg_rrset *nsec3,
		      const struct vg_rrset *nsec3_sig, uint32_t now);

struct vg_aggr_answer {
	bool nxdomain;           /* else NODATA */
	uint32_t ttl;
	struct vg_rrset soa, soa_sig;
	unsigned n;              /* NSEC records proving it (1 or 2), or NSEC3 (1 to 3) */
	struct vg_rrset nsec[3], nsec_sig[3];
};

/**
 * Can stored NSEC/NSEC3 records prove that (@p name, @p qtype) does not exist?
 * @p name is lower-case.  0 with @p out filled (pointing into @p buf),
 * VG_ENOTFOUND, or VG_ENOSPACE.
 */
int vg_aggr_get(struct vg_aggr *a, const uint8_t *name, uint16_t qtype, uint32_t now,
		struct vg_aggr_answer *out, uint8_t *buf, size_t cap);

/** Entries removed so far to make room for others (LRU); takes no lock. */
uint64_t vg_cache_evictions(struct vg_cache *c);

/* ------------------------------------------------------------ the control socket */

enum {
	VG_CACHE_FLUSH_SUBTREE = 1, /* the name and every name below it */
	VG_CACHE_FLUSH_NEGATIVE = 2, /* only negative entries and cached failures */
};

/**
 * Remove entries (thread-safe, shard by shard, under each shard's lock in
 * batches; every matching entry there when the call began is gone when it
 * returns; a worker storing meanwhile may add one back, as after any flush).
 * @p name (wire, any case) NULL: every entry; else the entries at @p name
 * (every type), and with VG_CACHE_FLUSH_SUBTREE those below it too.  With
 * VG_CACHE_FLUSH_NEGATIVE only negative entries (NXDOMAIN, NODATA) and
 * cached failures go.  The aggressive-NSEC store (aggr.c) is a store of
 * denials: it is emptied for a flush of everything or of negative entries;
 * for a name, its zones at, above (they could deny the name) and, with
 * SUBTREE, below the name are dropped.  Returns how many entries (cache
 * entries and NSEC zones) were removed.
 */
size_t vg_cache_flush(struct vg_cache *c, const uint8_t *name, unsigned flags);
/* vg_cache_flush holds a shard's lock for about this many buckets and
 * entries looked at (a bucket's chain is never split), then lets it go */
#define VG_CACHE_FLUSH_BATCH 256

/** What the cache holds for one (name, type), for an operator (no LRU touch). */
struct vg_cache_info {
	bool negative, nxdomain, failure;
	bool expired;     /* kept for serve-stale only */
	uint8_t rank, sec;
	uint16_t ede;
	uint16_t count;   /* records (positive), SOA records (negative) */
	uint16_t sig_count;
	uint32_t ttl;     /* remaining (0 when expired) */
	uint32_t ttl0;    /* as stored */
	uint32_t stale_for; /* expired: seconds since */
};

/**
 * Look at (@p name, @p type) without changing anything (no LRU move, no
 * removal of an expired entry).  @p name any case.  0 or VG_ENOTFOUND.
 */
int vg_cache_peek(struct vg_cache *c, const uint8_t *name, uint16_t type, uint32_t now,
		  struct vg_cache_info *out);

/** Remove NSEC zones (see vg_cache_flush); @p name NULL: all.  How many. */
size_t vg_aggr_flush(struct vg_aggr *a, const uint8_t *name, bool subtree);

/** Current entry count and accounted bytes (sums over shards; approximate under load). */
void vg_cache_usage(struct vg_cache *c, size_t *entries, size_t *bytes, size_t *limit);

#endif
