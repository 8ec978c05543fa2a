/* SPDX-License-Identifier: MIT
 *
 * DNSSEC primitives: DNSKEY key tags, DS digests, NSEC3 hashing, and RRSIG
 * verification over an RRset in canonical form (RFC 4034 section 6, RFC 6840
 * section 5.1) for RSA/SHA-1, SHA-256 and SHA-512 (algorithms 5, 7, 8, 10),
 * ECDSA P-256 and P-384 (13, 14), Ed25519 (15, via libsodium) and Ed448 (16,
 * via OpenSSL); a per-worker cache of decoded keys; and the validator's
 * options (struct vg_dnssec_opts).
 *
 * This module does crypto, canonical form and proofs (nsec.c, nsec3.c, ta.c,
 * autota.c).  The chain of trust is walked by the resolver's validator stage
 * (src/resolv/validate.c), which uses these primitives.
 */
#ifndef VG_DNSSEC_H
#define VG_DNSSEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/err.h"
#include "vigil/wire.h"

enum {
	VG_ALG_RSASHA1 = 5, VG_ALG_RSASHA1_NSEC3 = 7, VG_ALG_RSASHA256 = 8,
	VG_ALG_RSASHA512 = 10, VG_ALG_ECDSAP256 = 13, VG_ALG_ECDSAP384 = 14,
	VG_ALG_ED25519 = 15, VG_ALG_ED448 = 16,
};
enum { VG_DS_SHA1 = 1, VG_DS_SHA256 = 2, VG_DS_SHA384 = 4 };

/** DNSSEC status of an answer or a cache entry (kept with the data). */
enum vg_sec {
	VG_SEC_UNCHECKED = 0, /* not validated yet (or fetched with CD=1) */
	VG_SEC_INSECURE = 1,  /* provably unsigned (insecure delegation, NTA, no anchor) */
	VG_SEC_SECURE = 2,    /* signatures verified along a chain from a trust anchor */
	VG_SEC_BOGUS = 3,     /* failed validation: kept briefly, served only with CD=1 */
};
#define VG_SEC_STATES 4 /* the values of enum vg_sec: 0 .. VG_SEC_STATES - 1 */

/** The name of status @p sec ("unchecked", "insecure", "secure", "bogus") as
 * the logs, the metrics and vigilctl write it; "unknown" out of range. */
const char *vg_dnssec_status_name(unsigned sec);

bool vg_dnssec_alg_supported(uint8_t alg);
bool vg_dnssec_digest_supported(uint8_t digest);

/** Key tag of a DNSKEY (RFC 4034 appendix B) from its rdata. */
uint16_t vg_dnssec_keytag(const uint8_t *rdata, size_t len);

/**
 * Does DS rdata @p ds match the DNSKEY (@p owner, @p key)?  0 if it does,
 * VG_EBOGUS if not, VG_ENOTSUP for an unknown digest type, VG_EMALFORMED.
 */
int vg_dnssec_ds_match(const uint8_t *owner, const uint8_t *key, size_t keylen,
		       const uint8_t *ds, size_t dslen);

/** NSEC3 hash (RFC 5155 section 5) of @p name into @p out (20 bytes, SHA-1). */
int vg_dnssec_nsec3_hash(const uint8_t *name, const uint8_t *salt, size_t saltlen,
			 uint16_t iterations, uint8_t out[20]);

/**
 * A parsed public key: decoded once, used for many signatures.  A key and
 * the references made of it (vg_dnssec_key_ref, vg_keycache_get) belong to
 * one thread: the count is not atomic and the verification context OpenSSL
 * keeps with it is not for concurrent use.
 */
struct vg_dnssec_key {
	uint8_t alg;
	uint16_t tag;
	void *pkey;          /* verify.c's counted holder of the OpenSSL key (RSA, ECDSA, Ed448) */
	uint8_t ed25519[32]; /* Ed25519: the raw public key, for libsodium */
};

/** Parse DNSKEY rdata.  0, VG_ENOTSUP (algorithm), VG_EMALFORMED.  Free with _deinit. */
int vg_dnssec_key_init(struct vg_dnssec_key *k, const uint8_t *rdata, size_t len);
void vg_dnssec_key_deinit(struct vg_dnssec_key *k);
/** Another reference to a parsed key (the OpenSSL key is shared, counted). */
void vg_dnssec_key_ref(struct vg_dnssec_key *dst, const struct vg_dnssec_key *src);

/**
 * A per-thread cache of parsed keys, so that a DNSKEY is decoded once, not
 * per request: set associative by a keyed hash of the rdata, bounded, no locks
 * (one per worker).  vg_keycache_get() fills @p k with a reference (free it
 * with vg_dnssec_key_deinit as usual); with @p c NULL it just parses.
 */
struct vg_keycache;
struct vg_keycache *vg_keycache_new(void);
void vg_keycache_free(struct vg_keycache *c);
int vg_keycache_get(struct vg_keycache *c, struct vg_dnssec_key *k, const uint8_t *rdata,
		    size_t len);

/**
 * Verify RRSIG rdata @p sig over RRset @p rs with key @p k.  The signed data is
 * built in canonical form in @p scratch (capacity @p cap).  Checks algorithm
 * and key tag against the RRSIG, not the validity period (the caller's clock
 * decides).  0 valid, VG_EBOGUS, VG_ENOTSUP, VG_EMALFORMED, VG_ENOSPACE.
 */
int vg_dnssec_verify(const struct vg_dnssec_key *k, const struct vg_rrset *rs,
		     const uint8_t *sig, size_t siglen, uint8_t *scratch, size_t cap);

/* ------------------------------------------------------------ validate.c */

/** Extended DNS Error codes (RFC 8914) vigil reports for its own failures. */
enum {
	VG_EDE_UNSUPPORTED_ALG = 1, VG_EDE_UNSUPPORTED_DIGEST = 2, VG_EDE_STALE_ANSWER = 3,
	VG_EDE_BOGUS = 6,
	VG_EDE_SIG_EXPIRED = 7, VG_EDE_SIG_NOT_YET_VALID = 8, VG_EDE_DNSKEY_MISSING = 9,
	VG_EDE_RRSIGS_MISSING = 10, VG_EDE_NSEC_MISSING = 12, VG_EDE_NSEC3_ITERATIONS = 27,
	VG_EDE_CACHED_ERROR = 13, VG_EDE_NO_REACHABLE_AUTHORITY = 22, VG_EDE_NETWORK_ERROR = 23,
};

/**
 * Work limits for one client query (ATTACKS.md 1; KeyTrap, CVE-2023-50387).
 * @c sigs_left is spent across calls: one unit per signature verification.
 */
struct vg_val_budget {
	unsigned sigs_left;        /* default 32 per client query */
	unsigned rrsigs_per_rrset; /* default 8 */
	unsigned keys_per_tag;     /* default 2 */
	unsigned ds_digests;       /* DS digests computed per DNSKEY set, default 8 */
	uint32_t skew;             /* seconds of clock skew allowed, default 300 */
	/* Slices (the resolver core's yielding, resolv/validate.c): each
	 * verification spends one unit of slice_left too; with it at 0 and
	 * yield_ok set, vg_dnssec_validate_rrset stops before its next
	 * verification with VG_EAGAIN and keeps its place in cur_*, and a later
	 * call for the same @p rs and @p sigs goes on from there. */
	unsigned slice_left;
	bool yield_ok;
	const void *cur_rs, *cur_sigs;
	unsigned cur_i, cur_k, cur_same;
};

/**
 * Validate RRset @p rs with the RRSIG records in @p sigs (an RRset of type
 * RRSIG at the same owner; those covering other types are ignored) against the
 * DNSKEYs in @p keys (already parsed; @p nkeys of them, all for the signer's
 * zone).  @p now is Unix time.
 *
 * Returns 0 (secure), VG_EBOGUS with *@p ede set (6, 7, 8 or 10),
 * VG_ENOTSUP (*@p ede 1: no RRSIG with a supported algorithm, the RRset is
 * to be treated as insecure), VG_ELIMIT (a bound was reached; *@p ede 6) or
 * VG_EAGAIN (the slice ran out, see struct vg_val_budget: call again with
 * the same arguments and a new slice to go on).
 */
int vg_dnssec_validate_rrset(const struct vg_rrset *rs, const struct vg_rrset *sigs,
			     const struct vg_dnssec_key *keys, unsigned nkeys, uint32_t now,
			     struct vg_val_budget *budget, uint8_t *scratch, size_t cap, int *ede);

/**
 * Does a DS record of @p ds (the DS RRset of zone @p owner) vouch for the
 * DNSKEY whose rdata is @p key (@p keylen bytes, key tag @p tag)?  Only DS
 * records with a supported digest type that name the key's tag and
 * algorithm are digested, and each digest spends one unit of *@p digests_left
 * (the allowance of the whole DNSKEY set: a hostile DS RRset of hundreds of
 * records sharing the tags of many keys must not cost keys x records).
 * 0 vouched, VG_EBOGUS not, VG_ELIMIT the allowance ran out first.
 */
int vg_dnssec_ds_vouches(const uint8_t *owner, const uint8_t *key, size_t keylen, uint16_t tag,
			 const struct vg_rrset *ds, unsigned *digests_left);

/* ------------------------------------------------------------ nsec.c */

/**
 * Canonical DNS name order (RFC 4034 6.1): by labels from the right, each
 * compared as lower-cased octet strings, a missing label sorting first.
 * Negative, 0 or positive like memcmp.
 */
int vg_dnssec_name_cmp(const uint8_t *a, const uint8_t *b);

/**
 * Does the NSEC (@p owner, @p next) cover @p name: is it strictly between
 * them in canonical order?  The last NSEC of a zone points back to the apex
 * (next <= owner) and covers every name after owner; the caller checks that
 * @p name is inside the NSEC's zone.
 */
bool vg_nsec_covers(const uint8_t *owner, const uint8_t *next, const uint8_t *name);

/** Same for NSEC3: raw hashes of @p len bytes, with wrap-around at the end. */
bool vg_nsec3_covers(const uint8_t *owner_hash, const uint8_t *next_hash, const uint8_t *hash,
		     size_t len);

/**
 * Is @p type set in an NSEC/NSEC3 type bitmap (RFC 4034 4.1.2)?  Malformed
 * bitmaps (windows out of order, lengths 0 or > 32, overrun) answer false
 * and set *@p malformed when given.
 */
bool vg_nsec_bitmap_has(const uint8_t *bm, size_t len, uint16_t type, bool *malformed);

/** One NSEC record, already validated by the caller: owner, next, bitmap. */
struct vg_nsec {
	const uint8_t *owner, *next;
	const uint8_t *bitmap;
	size_t bitmap_len;
};

/**
 * NODATA proof (RFC 4035 5.4): an NSEC owned by @p name whose bitmap has
 * neither @p qtype nor CNAME.  0 proven, VG_EBOGUS not proven.
 */
int vg_nsec_prove_nodata(const struct vg_nsec *n, unsigned count, const uint8_t *name,
			 uint16_t qtype);

/**
 * NXDOMAIN proof (RFC 4035 5.4): an NSEC covers @p name, and an NSEC covers
 * the wildcard at its closest encloser (the longest common ancestor of @p name
 * and the covering NSEC's owner or next name).  @p zone bounds the proof: the
 * closest encloser must be at or below it.  0 proven, VG_EBOGUS not proven.
 */
int vg_nsec_prove_nxdomain(const struct vg_nsec *n, unsigned count, const uint8_t *zone,
			   const uint8_t *name);

/**
 * NODATA in any of its forms (RFC 4035 5.4, RFC 4592): the plain proof
 * above; an empty non-terminal (an NSEC covers @p name and its next name is
 * below @p name); or a wildcard NODATA (an NSEC proves @p name absent and an
 * NSEC at the wildcard of its closest encloser lacks @p qtype and CNAME).
 * @p zone bounds the closest encloser.  0 proven, VG_EBOGUS not proven.
 */
int vg_nsec_prove_nodata_any(const struct vg_nsec *n, unsigned count, const uint8_t *zone,
			     const uint8_t *name, uint16_t qtype);

/**
 * The wildcard at the closest encloser of @p name, given the NSEC
 * (@p owner, @p next) that covers it (RFC 4035 5.4), into @p wild
 * (VG_NAME_MAX bytes).  0, or VG_EBOGUS when the closest encloser is outside
 * @p zone.
 */
int vg_nsec_wildcard(const uint8_t *name, const uint8_t *owner, const uint8_t *next,
		     const uint8_t *zone, uint8_t *wild);

/** For a wildcard answer: an NSEC proves @p name itself does not exist. */
int vg_nsec_prove_no_exact(const struct vg_nsec *n, unsigned count, const uint8_t *name);

/* ------------------------------------------------------------ options */

#define VG_DNSSEC_MAX_TA_FILES 8
#define VG_DNSSEC_MAX_NTA 64
#define VG_DNSSEC_MAX_INSECURE 64
/*
 * dnssec.insecure-names by default: private names no public chain of trust
 * can cover (RFC 6761 special-use names, RFC 8375 home.arpa, ICANN's
 * internal, and the lan and corp of many sites), presentation form,
 * separated by spaces.
 */
#define VG_DNSSEC_INSECURE_DEFAULT "internal home.arpa local localhost test invalid lan corp"

/** The dnssec section of the configuration. */
struct vg_dnssec_opts {
	bool validation;             /* default true */
	char trust_anchor_files[VG_DNSSEC_MAX_TA_FILES][512]; /* none: built-in root anchors */
	size_t n_trust_anchor_files;
	char auto_ta_file[512];      /* RFC 5011 state file; "" = no automated rollover */
	uint8_t nta[VG_DNSSEC_MAX_NTA][VG_NAME_MAX]; /* negative trust anchors (RFC 7646) */
	size_t n_nta;
	/* names treated like negative trust anchors (default VG_DNSSEC_INSECURE_DEFAULT) */
	uint8_t insecure[VG_DNSSEC_MAX_INSECURE][VG_NAME_MAX];
	size_t n_insecure;
	uint32_t clock_skew;         /* seconds, default 300 */
	uint32_t bogus_ttl;          /* seconds a bogus result is cached, default 60 */
	unsigned max_rrsigs_per_rrset; /* default 8 */
	unsigned max_keys_per_tag;     /* default 2 */
	unsigned max_per_query;        /* signature validations per client query, default 32 */
	unsigned max_ds_digests;       /* DS digests per DNSKEY set, default 8 */
	unsigned nsec3_max_iterations; /* RFC 9276, default 50 */
	unsigned nsec3_max_records;    /* per answer, default 8 */
	unsigned nsec3_max_hashes;     /* per client query, default 600 */
	bool aggressive_nsec;          /* RFC 8198, default true */
};

#endif
