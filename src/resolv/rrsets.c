/* SPDX-License-Identifier: MIT
 *
 * The RRsets of a request (iterate.c's building blocks): copied out of a
 * response into the request's arena (decompressed, duplicates dropped,
 * TTLs as the cache will keep them) or out of the cache, the NSEC/NSEC3
 * proof records that go with a negative or wildcard answer, and the few
 * records a response is searched for (SOA, DNAME, a CNAME's target).
 */
#include <string.h>

#include "resolv/resolv.h"

/* Copy a cached RRset (borrowed scratch) into the request arena. */
struct vg_rrset *vg__rrset_dup(struct vg_request *req, const struct vg_rrset *rs)
{
	struct vg_rrset *n = vg_arena_alloc(req->arena, sizeof(*n));
	if (!n)
		return NULL;
	*n = *rs;
	n->owner = vg_arena_dup(req->arena, rs->owner, vg_name_len(rs->owner));
	n->rdata = vg_arena_dup(req->arena, rs->rdata, rs->rdata_len);
	if (!n->owner || !n->rdata)
		return NULL;
	return n;
}

/*
 * Exact duplicates are dropped (RFC 2181 5).  The first few records are
 * compared with each other directly; past DEDUP_LINEAR of them a hash table
 * of the records' offsets takes over, so that a hostile answer with hundreds
 * of records in one RRset (KeyTrap's 480 RRSIGs) costs one keyed hash per
 * record, not a comparison with every record before it (which held the
 * worker for milliseconds).
 */
#define DEDUP_LINEAR 16
#define DEDUP_SLOTS 1024 /* a power of 2, at least twice the records of a message */
_Static_assert(DEDUP_SLOTS >= 2 * VG_MSG_MAXRR, "the dedup table must never fill");

struct dedup {
	const uint8_t *base; /* the records: 2-byte length, then rdata */
	unsigned n;          /* records so far */
	bool hashed;
	uint16_t slot[DEDUP_SLOTS]; /* offset + 1, 0 = empty (offsets < 65535) */
};

static bool rec_eq(const uint8_t *base, size_t a, size_t b)
{
	uint16_t la = vg_get16(base + a), lb = vg_get16(base + b);
	return la == lb && memcmp(base + a + 2, base + b + 2, la) == 0;
}

/* Find the record at @p off among the earlier ones, or enter it.  True if
 * it is a duplicate. */
static bool dedup_seen(struct dedup *d, size_t off)
{
	if (!d->hashed && d->n < DEDUP_LINEAR) {
		for (size_t o = 0; o < off; o += 2u + vg_get16(d->base + o))
			if (rec_eq(d->base, o, off))
				return true;
		d->n++;
		return false;
	}
	if (!d->hashed) { /* switch: enter the records so far */
		memset(d->slot, 0, sizeof(d->slot));
		d->hashed = true;
		for (size_t o = 0; o < off; o += 2u + vg_get16(d->base + o))
			(void)dedup_seen(d, o);
	}
	uint32_t h = vg_bytes_hash(d->base + off, 2u + vg_get16(d->base + off));
	for (unsigned i = h & (DEDUP_SLOTS - 1);; i = (i + 1) & (DEDUP_SLOTS - 1)) {
		if (!d->slot[i]) {
			d->slot[i] = (uint16_t)(off + 1);
			d->n++;
			return false;
		}
		if (rec_eq(d->base, d->slot[i] - 1u, off))
			return true;
	}
}

/*
 * The RRSIGs kept for one RRset when validating: the first RRSIGS_KEPT
 * distinct ones.  The validator tries at most dnssec.max-rrsigs-per-rrset
 * of them (at most 64, config_keys.c); a KeyTrap answer carries hundreds.
 * Expired RRSIGs and those of an unknown algorithm are kept too and are
 * skipped without counting as tried, so a good signature behind 64 such
 * ones is dropped and the RRset is bogus, not secure: it fails closed, and
 * whoever can write the answer could strip the signatures anyway.  Peers
 * keep fewer: Unbound's scrubber 8 (iter-scrub-rrsig), PowerDNS Recursor 2
 * (max-rrsigs-per-record).
 */
#define RRSIGS_KEPT 64

/* Gather the RRset (owner, type) of section @p sec into the arena, rdata
 * decompressed.  NULL if absent (or memory is short).  For type RRSIG, only
 * the signatures covering @p covered (RRSIGS_KEPT of them at most), or all of
 * them when it is 0 (a query for type RRSIG: no RRSIG covers type 0). */
static struct vg_rrset *collect_x(struct vg_request *req, const struct vg_msg *m, int sec,
				  const uint8_t *owner, uint16_t type, uint16_t covered)
{
	uint8_t *tmp = req->env->scratch2;
	size_t used = 0;
	unsigned count = 0;
	uint32_t ttl = UINT32_MAX;
	struct dedup dd;
	dd.base = tmp;
	dd.n = 0;
	dd.hashed = false;
	/* owners are compared by their hashes first (vg_msg_hash_owners): only
	 * the records of this owner are decompressed, once per RRset, not every
	 * record of the section for every RRset gathered from it */
	bool hashed = m->owners_hashed;
	uint32_t h = hashed ? vg_name_hash(owner) : 0;
	size_t same = SIZE_MAX; /* where an owner found equal starts (vg_msg_name_start) */

	for (unsigned i = m->sec_start[sec]; i < m->sec_start[sec + 1]; i++) {
		const struct vg_rr *rr = &m->rr[i];
		uint8_t name[VG_NAME_MAX];
		if (rr->type != type || rr->rclass != VG_C_IN)
			continue;
		if (hashed && m->owner_hash[i] != h)
			continue;
		if (type == VG_T_RRSIG && covered &&
		    (rr->rdlen < 2 || vg_get16(m->pkt + rr->rdata) != covered))
			continue; /* (type covered is never compressed) */
		size_t start = vg_msg_name_start(m, rr->owner);
		if (start != same) {
			if (vg_name_unpack(m->pkt, m->len, rr->owner, name, true, NULL) < 0 ||
			    !vg_name_eq(name, owner))
				continue;
			same = start;
		}
		if (VG_SCRATCH - used < 2 || count == 0xffff)
			break;
		if (type == VG_T_RRSIG && covered && count == RRSIGS_KEPT)
			break;
		int n = vg_rdata_unpack(m->pkt, m->len, rr, tmp + used + 2, VG_SCRATCH - used - 2);
		if (n < 0)
			continue; /* a broken record is dropped, the rest still count */
		if (type == VG_T_RRSIG &&
		    (n < 18 || (covered && vg_get16(tmp + used + 2) != covered)))
			continue;
		if (used + 2 + (size_t)n > 65535)
			break;
		vg_put16(tmp + used, (uint16_t)n);
		if (dedup_seen(&dd, used))
			continue;
		used += 2 + (size_t)n;
		count++;
		if (rr->ttl < ttl)
			ttl = rr->ttl;
	}
	if (count == 0)
		return NULL;
	struct vg_rrset *rs = vg_arena_alloc(req->arena, sizeof(*rs));
	if (!rs)
		return NULL;
	rs->owner = vg_arena_dup(req->arena, owner, vg_name_len(owner));
	rs->rdata = vg_arena_dup(req->arena, tmp, used);
	if (!rs->owner || !rs->rdata)
		return NULL;
	rs->type = type;
	rs->rclass = VG_C_IN;
	/* the answer the client gets says what the cache will (cache.min-ttl,
	 * cache.max-ttl; RFC 2181 8: above 2^31 - 1 is 0) */
	rs->ttl = vg_cache_clamp_ttl(req->env->cache, ttl, false);
	rs->count = (uint16_t)count;
	rs->rdata_len = (uint16_t)used;
	return rs;
}

struct vg_rrset *vg__collect(struct vg_request *req, const struct vg_msg *m, int sec,
			     const uint8_t *owner, uint16_t type)
{
	return collect_x(req, m, sec, owner, type, 0);
}

/* The RRSIGs in section @p sec covering (owner, type), when validating. */
struct vg_rrset *vg__collect_sigs(struct vg_request *req, const struct vg_msg *m, int sec,
				  const uint8_t *owner, uint16_t type)
{
	if (!req->env->dnssec->validation)
		return NULL;
	return collect_x(req, m, sec, owner, VG_T_RRSIG, type);
}

/* NSEC/NSEC3 records (with their RRSIGs) and the SOA's RRSIGs from the
 * authority section, in bailiwick: the proof of a negative or wildcard answer. */
void vg__collect_proof(struct vg_request *req, const struct vg_msg *m, const uint8_t *bailiwick,
		       struct vg_result *r)
{
	if (!req->env->dnssec->validation)
		return;
	if (r->soa)
		r->soa_sig = vg__collect_sigs(req, m, VG_SEC_NS, r->soa->owner, VG_T_SOA);
	for (unsigned i = m->sec_start[VG_SEC_NS]; i < m->sec_start[VG_SEC_AR]; i++) {
		const struct vg_rr *rr = &m->rr[i];
		uint8_t owner[VG_NAME_MAX];
		if ((rr->type != VG_T_NSEC && rr->type != VG_T_NSEC3) || r->n_auth >= VG_AUTH_MAX)
			continue;
		if (vg_name_unpack(m->pkt, m->len, rr->owner, owner, true, NULL) < 0 ||
		    !vg_name_is_sub(owner, bailiwick))
			continue;
		if (vg__proof_has(r, rr->type, owner))
			continue;
		struct vg_rrset *rs = vg__collect(req, m, VG_SEC_NS, owner, rr->type);
		if (!rs)
			continue;
		r->auth_sig[r->n_auth] = vg__collect_sigs(req, m, VG_SEC_NS, owner, rr->type);
		r->auth[r->n_auth++] = rs;
	}
}

/* Does @p r hold an NSEC/NSEC3 record of @p type at @p owner already? */
bool vg__proof_has(const struct vg_result *r, uint16_t type, const uint8_t *owner)
{
	for (unsigned k = 0; k < r->n_auth; k++)
		if (r->auth[k]->type == type && vg_name_eq(r->auth[k]->owner, owner))
			return true;
	return false;
}

/* Is @p rs, signed by @p sig, a wildcard expansion (RFC 4035 5.3.4: the
 * RRSIG labels field is below the owner's label count, "*" not counted)? */
bool vg__is_expansion(const struct vg_rrset *rs, const struct vg_rrset *sig)
{
	if (!sig || !sig->count || sig->rdata_len < 2 + 18 || vg_get16(sig->rdata) < 18)
		return false;
	const uint8_t *o = rs->owner;
	int labels = vg_name_labels(o) - (o[0] == 1 && o[1] == '*');
	return sig->rdata[2 + 3] < labels;
}

/* Add the NSEC/NSEC3 records of @p from (with their RRSIGs) to @p to, each
 * (type, owner) once, up to VG_AUTH_MAX.  With @p dup they are borrowed
 * (a cache copy-out): copied into the arena, their TTLs then at most @p ttl.
 * 0 or VG_ENOMEM. */
int vg__proof_add(struct vg_request *req, struct vg_result *to, const struct vg_result *from,
		  bool dup, uint32_t ttl)
{
	for (unsigned i = 0; i < from->n_auth && to->n_auth < VG_AUTH_MAX; i++) {
		struct vg_rrset *a = from->auth[i], *sig = from->auth_sig[i];
		if (vg__proof_has(to, a->type, a->owner))
			continue;
		if (dup) {
			a = vg__rrset_dup(req, a);
			sig = sig ? vg__rrset_dup(req, sig) : NULL;
			if (!a || (from->auth_sig[i] && !sig))
				return VG_ENOMEM;
			a->ttl = a->ttl < ttl ? a->ttl : ttl;
			if (sig)
				sig->ttl = sig->ttl < ttl ? sig->ttl : ttl;
		}
		to->auth_sig[to->n_auth] = sig;
		to->auth[to->n_auth++] = a;
	}
	return 0;
}

/* The first record's rdata of an RRset (for CNAME / DNAME / SOA). */
const uint8_t *vg__first_rdata(const struct vg_rrset *rs, uint16_t *len)
{
	*len = vg_get16(rs->rdata);
	return rs->rdata + 2;
}

/* The target name in the first record of a CNAME/DNAME RRset, or NULL. */
const uint8_t *vg__rrset_target(const struct vg_rrset *rs)
{
	uint16_t len;
	const uint8_t *rd = vg__first_rdata(rs, &len);
	return vg_rdata_target(rs->type, rd, len);
}

uint32_t vg__soa_negative_ttl(const struct vg_rrset *soa)
{
	uint16_t len;
	const uint8_t *rd = vg__first_rdata(soa, &len);
	if (len < 22)
		return 0;
	uint32_t min = vg_get32(rd + len - 4);
	return soa->ttl < min ? soa->ttl : min;
}

/* The SOA of the authority section, if it is in bailiwick and above @p name. */
struct vg_rrset *vg__find_soa(struct vg_request *req, const struct vg_msg *m,
			      const uint8_t *bailiwick, const uint8_t *name)
{
	for (unsigned i = m->sec_start[VG_SEC_NS]; i < m->sec_start[VG_SEC_AR]; i++) {
		const struct vg_rr *rr = &m->rr[i];
		uint8_t owner[VG_NAME_MAX];
		if (rr->type != VG_T_SOA)
			continue;
		if (vg_name_unpack(m->pkt, m->len, rr->owner, owner, true, NULL) < 0)
			continue;
		if (!vg_name_is_sub(owner, bailiwick) || !vg_name_is_sub(name, owner))
			continue;
		return vg__collect(req, m, VG_SEC_NS, owner, VG_T_SOA);
	}
	return NULL;
}

/* A DNAME in the answer section whose owner is a proper ancestor of @p name. */
struct vg_rrset *vg__find_dname(struct vg_request *req, const struct vg_msg *m,
				const uint8_t *name, const uint8_t *bailiwick)
{
	/* the hashes of the proper ancestors of @p name (at most 127): a DNAME
	 * owned elsewhere is not decompressed (this runs once per CNAME hop) */
	uint32_t anc[VG_NAME_MAX / 2 + 1];
	unsigned na = 0;
	bool hashed = m->owners_hashed;
	for (const uint8_t *n = name; hashed && *n && na < VG_ARRAY_SIZE(anc);) {
		n += *n + 1;
		anc[na++] = vg_name_hash(n);
	}
	for (unsigned i = m->sec_start[VG_SEC_AN]; i < m->sec_start[VG_SEC_NS]; i++) {
		const struct vg_rr *rr = &m->rr[i];
		uint8_t owner[VG_NAME_MAX];
		if (rr->type != VG_T_DNAME)
			continue;
		if (hashed) {
			unsigned k = 0;
			while (k < na && anc[k] != m->owner_hash[i])
				k++;
			if (k == na)
				continue;
		}
		if (vg_name_unpack(m->pkt, m->len, rr->owner, owner, true, NULL) < 0)
			continue;
		if (vg_name_eq(owner, name) || !vg_name_is_sub(name, owner) ||
		    !vg_name_is_sub(owner, bailiwick))
			continue;
		return vg__collect(req, m, VG_SEC_AN, owner, VG_T_DNAME);
	}
	return NULL;
}
