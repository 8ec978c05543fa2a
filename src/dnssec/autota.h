/* SPDX-License-Identifier: MIT
 *
 * RFC 5011 automated updates of DNSSEC trust anchors.  This module owns the
 * per-zone key state (Start, AddPend, Valid, Missing, Revoked, Removed), the
 * state machine that moves keys between those states when a DNSKEY RRset is
 * fetched for an anchor zone, the refresh schedule (RFC 5011 2.3) and the
 * state file.  It does not fetch anything: the resolver asks for the anchor
 * zone's DNSKEY RRset when vg_autota_next_refresh() says so and hands the
 * answer to vg_autota_update(); it then takes the trust anchors for its
 * validator from vg_autota_anchors().
 *
 * Threads: there is no global state; one struct vg_autota is used by one
 * thread at a time (the resolver's control/refresh thread).  The validator
 * gets copies (struct vg_ta_set), never pointers into this object.
 *
 * Trust rules, in short (RFC 5011 sections 2 and 4):
 *  - Valid and Missing keys are trust anchors; Missing keys stay trusted and
 *    are never dropped (only a revocation removes a trusted key), so the last
 *    trusted key is never lost to a key that merely went absent.
 *  - A DNSKEY RRset is accepted only if an RRSIG over it by a trusted key
 *    verifies now (validity window, 300 s skew) within a work budget.
 *  - A new SEP key (ZONE and SEP flags, protocol 3, supported algorithm) in
 *    an accepted RRset becomes AddPend; it becomes Valid at the first
 *    accepted RRset that still has it once the add hold-down (30 days, or the
 *    RRset's TTL if longer) has passed.  If it is absent from an accepted
 *    RRset before that, it is forgotten (back to Start).
 *  - A trusted key that appears with the REVOKE bit (0x0080) and whose
 *    revoked form has itself signed the RRset is Revoked at once (even when
 *    no other key signed the RRset: the self-signature is the proof), no
 *    longer trusted, and deleted (Removed) after the remove hold-down.  A
 *    revocation also restarts the hold-down of every AddPend key (2.2: the key
 *    that vouched for them may be the compromised one).  Revoked keys never
 *    come back.
 *  - A zone whose keys are all revoked is a deleted trust point (RFC 5011
 *    section 5): it yields no anchors, so names under it become insecure
 *    unless a parent zone has an anchor.  It stays in the state file so that
 *    it is not seeded again from the configuration.
 *  - DS anchors from the configuration are "pending": the first accepted
 *    RRset (signed by a key matching one of them) makes every key matching
 *    one Valid, and the zone's DS anchors are then dropped; other SEP keys
 *    in that RRset go through the add hold-down.
 *
 * State file format (text, one record per line, fields separated by blanks;
 * blank lines and anything from a field starting with ';' or '#' to the end
 * of the line are comments; times are Unix seconds, 0 = never):
 *
 *     vigil-autota 1
 *     zone NAME REFRESHED ATTEMPTED FAILURES TTL EXPIRE
 *     dnskey STATE SINCE UNTIL FLAGS PROTOCOL ALGORITHM BASE64-PUBLIC-KEY
 *     ds pending SINCE UNTIL KEYTAG ALGORITHM DIGEST-TYPE HEX-DIGEST
 *
 * The first record is the format version.  A zone record starts an anchor
 * zone: NAME in presentation form, every byte other than letters, digits,
 * '-', '_' and '*' written as \DDD; REFRESHED is the last accepted refresh,
 * ATTEMPTED the last attempt, FAILURES the attempts failed since REFRESHED,
 * TTL the TTL and EXPIRE the earliest RRSIG expiration of the last accepted
 * RRset.  The dnskey and ds records after it belong to that zone.  STATE is
 * addpend, valid, missing or revoked (pending for ds); SINCE is the time of
 * the last state change (first seen, for addpend); UNTIL is the end of the
 * hold-down for addpend and revoked keys and 0 otherwise.  A revoked key is
 * stored as it was published, with the REVOKE bit.  For example:
 *
 *     vigil-autota 1
 *     zone example. 1700000000 1700000000 0 3600 1701209600
 *     dnskey valid 1690000000 0 257 3 13 kXMF...Q== ; tag 4711, valid since ...
 *     dnskey addpend 1700000000 1702592000 257 3 13 oZJc...A== ; tag 1234 ...
 *
 * Start and Removed keys are not written.  A zone that is configured but not
 * in the file is seeded from the configuration; a zone in the file wins over
 * the configuration; a zone in the file that is no longer configured is
 * dropped.  Delete the file to start over from the configured anchors.
 */
#ifndef VG_DNSSEC_AUTOTA_H
#define VG_DNSSEC_AUTOTA_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dnssec/ta.h"

#define VG_AUTOTA_KEYS_MAX 16                /* keys and DS anchors per zone */
#define VG_AUTOTA_HOLDDOWN (30u * 24 * 3600) /* add and remove hold-down, 2.4.1/2.4.2 */
#define VG_AUTOTA_NEVER UINT32_MAX           /* vg_autota_next_refresh: nothing to do */

/** RFC 5011 section 4 key states. */
enum vg_autota_state {
	VG_AUTOTA_START = 0, /* not known: not in the state */
	VG_AUTOTA_ADDPEND,
	VG_AUTOTA_VALID,
	VG_AUTOTA_MISSING,
	VG_AUTOTA_REVOKED,
	VG_AUTOTA_REMOVED, /* only transient: removed keys are deleted */
};

/** Opaque; heap-allocated by vg_autota_load(), released by vg_autota_free(). */
struct vg_autota;

/**
 * Read the state file @p path, or when it does not exist, seed the state
 * from @p initial (may be NULL): DNSKEY anchors become Valid at @p now, DS
 * anchors pending.  Zones of @p initial missing from an existing file are
 * seeded the same way, and zones of the file not in @p initial are dropped
 * (with @p initial NULL, the file is taken as it is).
 *
 * Problems are reported to @p errout (may be NULL) as "FILE:LINE: message";
 * a file that cannot be read or is malformed in any way is an error (vigil
 * does not silently fall back to the configured anchors).
 *
 * Returns 0 and *@p out, or VG_EPARSE, VG_ELIMIT (more than
 * VG_AUTOTA_KEYS_MAX keys for one zone), VG_EINVAL (a configured anchor that
 * is not a DS or an unrevoked DNSSEC zone key), VG_ENOMEM or -errno;
 * *@p out is then NULL.
 */
int vg_autota_load(struct vg_autota **out, const char *path, const struct vg_ta_set *initial,
		   uint32_t now, FILE *errout);

/** Hold-down times in seconds (default VG_AUTOTA_HOLDDOWN each); for tests. */
void vg_autota_set_holddown(struct vg_autota *a, uint32_t add, uint32_t remove);

/**
 * Apply a DNSKEY RRset fetched for anchor zone @p zone, with the RRSIG
 * records at the same owner @p rrsig (may be NULL; those not covering DNSKEY
 * or not signed by @p zone are ignored).  Both are borrowed, in the packed
 * form of wire.h; @p now is Unix time.
 *
 * Self-signed revocations of trusted keys are applied first; then, if the
 * RRset verifies with a trusted key, the RFC 5011 state machine runs and the
 * refresh time is recorded, otherwise the attempt counts as a failure for
 * the retry schedule.  *@p changed (may be NULL) tells whether the trust
 * anchors (vg_autota_anchors()) changed, which can happen on either path.
 * Every call changes what vg_autota_save() writes.
 *
 * Returns 0 (accepted), VG_ENOTFOUND (@p zone is not an anchor zone),
 * VG_EINVAL (not a DNSKEY RRset of @p zone), VG_EMALFORMED, VG_EBOGUS (not
 * signed by a trusted key, or no trusted key left), VG_ENOTSUP (no trusted
 * key or signature with a supported algorithm), VG_ELIMIT (work budget
 * exceeded) or VG_ENOMEM.
 */
int vg_autota_update(struct vg_autota *a, const uint8_t *zone, const struct vg_rrset *dnskey,
		     const struct vg_rrset *rrsig, uint32_t now, bool *changed);

/**
 * The refresh of @p zone failed without an answer to give to
 * vg_autota_update() (timeout, SERVFAIL...): schedule a retry.
 * 0 or VG_ENOTFOUND.
 */
int vg_autota_failed(struct vg_autota *a, const uint8_t *zone, uint32_t now);

/**
 * The current trust anchors into @p out (overwritten): Valid and Missing keys
 * as DNSKEY anchors and pending DS anchors, for every zone.  0, or VG_ELIMIT
 * when they do not fit in a struct vg_ta_set (then @p out holds the first
 * VG_TA_MAX).
 */
int vg_autota_anchors(const struct vg_autota *a, struct vg_ta_set *out);

/**
 * Write the state to @p path atomically: a temporary file next to it,
 * fsync, rename over @p path, fsync of the directory.  0 or -errno (then
 * @p path is unchanged and no temporary file is left).
 */
int vg_autota_save(const struct vg_autota *a, const char *path);

/**
 * When to query a zone's DNSKEY RRset next (Unix time, at least @p now when
 * overdue), the earliest over all zones; *@p zone (may be NULL) receives that
 * zone's name (borrowed from @p a, valid until the next call that changes it).
 * After an accepted refresh: MAX(1 hour, MIN(15 days, TTL/2, signature
 * expiry interval/2)); after a failure: MAX(1 hour, MIN(1 day, TTL/10,
 * expiry interval/10)) from the failed attempt (RFC 5011 2.3).  A zone never
 * refreshed is due at once.  No jitter is added: the caller may add some.
 * VG_AUTOTA_NEVER when no zone has a trusted key or DS anchor left.
 */
uint32_t vg_autota_next_refresh(const struct vg_autota *a, uint32_t now, const uint8_t **zone);

/**
 * State of the DNSKEY with rdata @p key (REVOKE bit ignored, so a key is
 * found in either form) in zone @p zone; *@p since (may be NULL) receives
 * the time of its last state change.  VG_AUTOTA_START when the key is not
 * known, VG_ENOTFOUND when @p zone is not an anchor zone.
 */
int vg_autota_key_state(const struct vg_autota *a, const uint8_t *zone, const uint8_t *key,
			size_t keylen, uint32_t *since);

/** "start", "addpend", "valid", "missing", "revoked", "removed" or "?". */
const char *vg_autota_state_name(int state);

/** One key or DS anchor of the state, for an operator (vigilctl trust-anchors). */
struct vg_autota_info {
	uint8_t zone[VG_NAME_MAX];
	bool ds;           /* a configured DS not matched by a key yet */
	uint16_t tag;      /* key tag (of the DS: its key tag field) */
	uint8_t alg;
	int state;         /* enum vg_autota_state (a DS: VG_AUTOTA_ADDPEND) */
	uint32_t since;    /* Unix time of the last change */
	uint32_t until;    /* hold-down end (AddPend) or removal time, 0 none */
	uint32_t refreshed; /* the zone's last accepted refresh, 0 never */
	uint32_t failures;  /* the zone's failed refreshes since */
};

/** Every key and DS anchor into @p out (at most @p cap); how many there are. */
size_t vg_autota_list(const struct vg_autota *a, struct vg_autota_info *out, size_t cap);

void vg_autota_free(struct vg_autota *a);

#endif
