/* SPDX-License-Identifier: MIT
 *
 * Authenticated denial of existence with NSEC3 (RFC 5155 sections 8 and 9.2,
 * erratum 3441), bounded as RFC 9276 and the CVE-2023-50868 fixes ask, and
 * the "no DS" proofs a chain of trust needs at a delegation, for NSEC3 and
 * for plain NSEC.
 *
 * What this file owns: parsing NSEC3 rdata, base32hex, and deciding what a
 * set of NSEC3 records (already signature-validated by the caller, all signed
 * by @p zone) proves about a name.  What it does not own: checking the RRSIGs
 * over the NSEC3s, choosing which records of a response to pass in, caching,
 * or turning the verdict into an rcode/AD bit/EDE (the validator does that).
 *
 * Verdicts shared by every vg_nsec3_prove_*() function (*@p ede is always
 * written when @p ede is not NULL; 0 means "no EDE"):
 *
 *   0             proven: the denial is secure.
 *   VG_ENOTSUP    treat the answer as insecure (no AD, no SERVFAIL):
 *                 - the first usable record's iterations exceed
 *                   lim->max_iterations (RFC 9276 3.2): *ede = 27, decided
 *                   before any hash is computed;
 *                 - every in-zone record has an unknown hash algorithm or
 *                   unknown flags (RFC 5155 8.1, 8.2): *ede = 0;
 *                 - an Opt-Out NSEC3 covers the next closer name where the
 *                   proof relies on it (RFC 5155 9.2): *ede = 0;
 *                 - the closest encloser is a proven insecure delegation
 *                   (NS, no DS, no SOA): the name lies in an unsigned
 *                   child zone: *ede = 0.
 *   VG_EBOGUS     not proven.  *ede = 12 (NSEC Missing) when a record the
 *                 proof needs is absent (no usable record at all, nothing
 *                 matches or covers a name that must be matched or
 *                 covered); *ede = 6 (DNSSEC Bogus) when the records present
 *                 contradict the claim (the name or type exists, the
 *                 wildcard exists, the closest encloser is a delegation or
 *                 DNAME, the proof comes from the wrong side of a zone cut,
 *                 the name is outside @p zone).
 *   VG_ELIMIT     the hash budget (lim->hashes_left) ran out: *ede = 6, like
 *                 vg_dnssec_validate_rrset().  The caller answers SERVFAIL
 *                 and must not retry the same proof with a fresh budget.
 *
 * Record selection, identical for every proof: only the first
 * lim->max_records entries of the array are looked at (capped at
 * VG_NSEC3_MAX_RECORDS); of those, a record is used only when its owner is
 * exactly <one label>.<zone>, its hash algorithm is 1 (SHA-1), its flags are
 * 0 or 1 (Opt-Out), its hash and next hash are 20 bytes, its type bitmap is
 * well formed, and its salt and iterations equal those of the first record
 * passing the other tests (RFC 5155 8.2).  Ignored records are never an
 * error by themselves.
 *
 * Costs (CVE-2023-50868): every NSEC3 hash of a name costs iterations + 1
 * units of lim->hashes_left, spent across calls for one client query; a name
 * is hashed at most once per call; the closest encloser search walks from
 * the name up to @p zone, so it hashes at most (labels(name) - labels(zone)
 * + 2) names per call.  No heap memory is used.
 *
 * Names are uncompressed wire form, already validated (vg_name_check), and
 * compared case-insensitively.  All pointers are borrowed for the call only.
 */
#ifndef VG_DNSSEC_NSEC3_H
#define VG_DNSSEC_NSEC3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dnssec/dnssec.h"
#include "vigil/err.h"
#include "vigil/wire.h"

enum { VG_NSEC3_HASH_SHA1 = 1 };
enum { VG_NSEC3_FLAG_OPTOUT = 0x01 };
#define VG_NSEC3_SHA1_LEN 20
/** Hard cap on lim->max_records (the per-call working set lives on the stack). */
#define VG_NSEC3_MAX_RECORDS 64

/** One NSEC3 record, already signature-validated by the caller. */
struct vg_nsec3 {
	const uint8_t *owner;   /* full owner name, wire form: <base32hex hash>.<zone> */
	uint8_t hash[20];       /* decoded from the owner's first label */
	uint8_t hash_len;       /* 20 for SHA-1; 0 when an unknown algorithm's label does not fit */
	uint8_t alg, flags;
	uint16_t iterations;
	const uint8_t *salt;    /* into the rdata */
	uint8_t salt_len;
	const uint8_t *next;    /* raw next hashed owner, into the rdata */
	uint8_t next_len;
	const uint8_t *bitmap;  /* type bitmap, into the rdata */
	size_t bitmap_len;
};

/**
 * Per-query work limits.  @c hashes_left is spent across calls (one client
 * query may need several proofs) and is never reset by this module.
 */
struct vg_nsec3_limits {
	unsigned max_records;    /* NSEC3 records considered per proof, default 8 */
	unsigned hashes_left;    /* hash units left for this client query, default 600 */
	uint16_t max_iterations; /* RFC 9276 limit, default 50 */
};

/** Initialiser with the defaults: `struct vg_nsec3_limits l = VG_NSEC3_LIMITS_DEFAULT;` */
#define VG_NSEC3_LIMITS_DEFAULT { .max_records = 8, .hashes_left = 600, .max_iterations = 50 }

/**
 * Decode unpadded base32hex (RFC 4648 section 7, "extended hex" alphabet
 * 0-9 A-V, case-insensitive) of @p len characters into @p out (capacity
 * @p cap).  Returns the number of bytes, VG_EMALFORMED (a character outside
 * the alphabet, '=' padding, a length that no byte string encodes, or
 * non-zero trailing bits) or VG_ENOSPACE.
 */
int vg_nsec3_base32hex_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/**
 * Parse NSEC3 rdata (RFC 5155 3.2) of @p len bytes owned by @p owner into
 * @p n; @p n points into @p owner and @p rdata, which must outlive it.  The
 * owner's first label is decoded into n->hash.
 *
 * Returns 0 or VG_EMALFORMED: rdata too short for its fields (salt, hash),
 * hash length 0, a malformed type bitmap, an owner whose first
 * label is not base32hex, or, for algorithm 1 (SHA-1), an owner hash or next
 * hash that is not 20 bytes.  Unknown algorithms and flags parse fine (the
 * proofs ignore them).
 */
int vg_nsec3_parse(struct vg_nsec3 *n, const uint8_t *owner, const uint8_t *rdata, size_t len);

/**
 * Name error proof (RFC 5155 8.4): a closest encloser proof for @p name (an
 * NSEC3 matches the closest encloser, another covers the next closer name)
 * and an NSEC3 covering the wildcard at the closest encloser.
 *
 * An Opt-Out NSEC3 covering the next closer name leaves the answer insecure
 * (RFC 5155 9.2: the name might exist as an unsigned delegation): VG_ENOTSUP
 * after the rest of the proof has been checked.  See the verdict table at
 * the top of this file for the other results.
 */
int vg_nsec3_prove_nxdomain(const struct vg_nsec3 *n, unsigned count, const uint8_t *zone,
			    const uint8_t *name, struct vg_nsec3_limits *lim, int *ede);

/**
 * No data proof for (@p name, @p qtype):
 *  - RFC 5155 8.5/8.6: an NSEC3 matches @p name and has neither @p qtype
 *    nor CNAME in its bitmap.  For qtype DS the record must not have SOA
 *    set unless @p name is the root (a child apex NSEC3 cannot deny the
 *    parent-side DS: RFC 5155 B.6 shows such a response, which a validator
 *    rejects, VG_EBOGUS *ede 6).  For other types a matching parent-side
 *    delegation record (NS set, SOA clear) means the name belongs to a child
 *    zone: VG_ENOTSUP if it has no DS (insecure delegation), else VG_EBOGUS.
 *  - RFC 5155 8.7: no match, but a closest encloser proof and an NSEC3
 *    matching the wildcard at the closest encloser without @p qtype or CNAME
 *    (0, or VG_ENOTSUP when the next closer cover is Opt-Out).
 *  - RFC 5155 8.6 and erratum 3441: no match and no wildcard, but a closest
 *    encloser proof whose next closer cover has Opt-Out: VG_ENOTSUP (an
 *    insecure delegation for DS, an empty non-terminal above one otherwise).
 */
int vg_nsec3_prove_nodata(const struct vg_nsec3 *n, unsigned count, const uint8_t *zone,
			  const uint8_t *name, uint16_t qtype, struct vg_nsec3_limits *lim,
			  int *ede);

/**
 * A positive answer synthesised from the wildcard *.@p closest_encloser
 * (RFC 5155 8.8): an NSEC3 covers the next closer name of @p name, i.e.
 * @p name did not exist.  @p closest_encloser comes from the caller (the
 * owner's rightmost <RRSIG labels field> labels) and must be a
 * proper ancestor of @p name at or below @p zone, else VG_EBOGUS *ede 6.
 *
 * Opt-Out on the covering NSEC3 gives VG_ENOTSUP (insecure, no AD): an
 * unsigned delegation may exist at the next closer name, so the expansion
 * is not proven (RFC 5155 6 and Appendix B.4; Unbound and Knot Resolver
 * agree).
 * When @p name is the wildcard itself (*.@p closest_encloser, the RRSIG
 * labels field not counting the '*'), nothing needs proving: 0 without
 * hashing.
 */
int vg_nsec3_prove_wildcard(const struct vg_nsec3 *n, unsigned count, const uint8_t *zone,
			    const uint8_t *name, const uint8_t *closest_encloser,
			    struct vg_nsec3_limits *lim, int *ede);

/**
 * The parent @p zone has no DS for its child @p name (a referral; @p name
 * must be strictly below @p zone).  Returns:
 *  - 0: an NSEC3 matches @p name with NS set and DS and SOA clear: no DS,
 *    proven securely; the child zone is insecure.
 *  - VG_ENOTSUP: the child is to be treated as insecure without a secure
 *    proof: an Opt-Out NSEC3 covers the next closer name of a proven
 *    closest encloser (RFC 5155 8.6), or the closest encloser is itself an
 *    insecure delegation, or the usual VG_ENOTSUP reasons (*ede 27 for
 *    iterations, else 0).
 *  - VG_ENOTFOUND: an NSEC3 matches @p name without NS (and without DS and
 *    SOA): @p name exists but is not a delegation; no zone cut here.
 *  - VG_EBOGUS: not proven (*ede 6 when DS or SOA is set on the matching
 *    record or the name is proven not to exist without Opt-Out; 12 when
 *    records are missing).
 *  - VG_ELIMIT as above.
 */
int vg_nsec3_prove_nods(const struct vg_nsec3 *n, unsigned count, const uint8_t *zone,
			const uint8_t *name, struct vg_nsec3_limits *lim, int *ede);

/**
 * The same "no DS" proof with plain NSEC records (struct vg_nsec from
 * dnssec.h), which cost nothing to check: an NSEC owned by @p name with NS
 * set and DS and SOA clear gives 0 (no DS, the child is insecure); an NSEC
 * owned by @p name without NS (nor DS, SOA) gives VG_ENOTFOUND (not a
 * delegation); anything else (no NSEC owned by @p name, DS or SOA set, a
 * malformed bitmap) gives VG_EBOGUS.
 */
int vg_nsec_prove_nods(const struct vg_nsec *n, unsigned count, const uint8_t *name);

#endif
