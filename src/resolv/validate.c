/* SPDX-License-Identifier: MIT
 *
 * The validator stage of a request (RFC 4033-4035, RFC 5155, RFC 6840).
 *
 * Design.  When the iterator has finished a client's answer, vg__val_run()
 * decides the DNSSEC status of every part of it: each answer RRset, a
 * synthesized CNAME (as secure as its DNAME), and a negative answer's proof.
 * It needs the DNSKEYs of each signer, and those need the chain of trust:
 *
 *   keys_for(Z)   Z is an anchor point: DNSKEY(Z) signed by a key the anchor
 *                 trusts.  Otherwise DS(Z) first (ds_state), validated with
 *                 the keys of the DS's signer (its parent, found from the
 *                 RRSIG's signer name: bottom-up, so no zone cut is guessed),
 *                 then DNSKEY(Z) signed by a key some supported DS matches.
 *   ds_state(N)   DS(N) present; absent with a proof that N is an insecure
 *                 delegation; absent with a proof that N is no zone cut; or
 *                 bogus.
 *
 * Each DS or DNSKEY the validator lacks is returned as a fetch: the iterator
 * resolves it as a sub-task (from cache or upstream) and calls vg__val_run()
 * again.  Nothing already decided is redone: the result of each zone is kept
 * in req->zkeys, and each answer RRset's status in req->answer_sec[].  A
 * validated DS or DNSKEY RRset is marked secure in the cache, so the next
 * request only parses its keys.
 *
 * Unsigned data from a secure zone is bogus unless a DS query at some name
 * between the zone and the owner proves an insecure delegation (the zone cut
 * the iterator saw may be hidden when one server serves parent and child).
 *
 * Bounds: every signature verification spends one unit of the request's
 * budget (struct vg_val_budget); RRSIGs per RRset and keys per key tag are
 * bounded in vg_dnssec_validate_rrset; DS digests per DNSKEY set in
 * vg_dnssec_ds_vouches; NSEC3 work in nsec3.c; fetches per request in
 * iterate.c.  Exceeding any of them makes the answer bogus (EDE 6),
 * never a stall.
 *
 * Slices.  A worker serves cached answers between the pieces of a long
 * validation: every verification spends a unit of the request's slice
 * (VG_VAL_SLICE, renewed by iterate.c each time the request runs), and when
 * it is spent, the validation of an answer RRset or of a proof stops before
 * its next verification (VG_EAGAIN, kept place in the budget): vg__val_run
 * returns 2, the iterator VG_STEP_YIELD, and the pipeline runs the request
 * again after the worker's next poll.  Nothing decided is redone: RRsets
 * verified in an earlier slice of the same check (one answer RRset with its
 * wildcard proof, or one negative answer's proof) are remembered with the
 * keys that verified them (req->vok, emptied when the check ends: the same
 * NSEC RRset is checked under another signer's keys by another check), the
 * RRset that stopped goes on where it stopped, and a call that goes on
 * verifies at least once before it may stop again.  DS and DNSKEY RRsets
 * are verified whole (their state, req->zkeys, is being worked out).
 */
#include <string.h>
#include <time.h>

#include "dnssec/nsec3.h"
#include "resolv/resolv.h"

#define ZK_MAX 64       /* DNSKEYs parsed per zone */
#define WALK_MAX 6      /* DS queries below a zone for unsigned data */
#define DEPTH_MAX 40    /* zones in one chain of trust */

/* a fetch is needed; the slice ran out (see "Slices" above); other results
 * are enum vg_sec */
enum { ST_NEED = -1, ST_YIELD = -2 };
enum { DS_PRESENT = 10, DS_INSECURE, DS_NOT_CUT, DS_BOGUS };

struct vg_zkeys {
	struct vg_zkeys *next;
	uint8_t zone[VG_NAME_MAX];
	int status; /* enum vg_sec, or ST_NEED while being worked out */
	uint16_t ede;
	unsigned n;
	struct vg_dnssec_key keys[ZK_MAX];
};

struct vctx {
	struct vg_request *req;
	uint8_t *need_name;
	uint16_t *need_type;
	bool needed;
	uint32_t now;   /* Unix time, for signature validity */
	uint32_t mono;  /* cache clock */
	uint16_t ede;   /* first bogus reason */
	bool chain_bogus; /* a DS or DNSKEY on the way was bogus (blamed itself) */
};

static const struct vg_dnssec_opts *cfg_of(const struct vctx *v)
{
	return v->req->env->dnssec;
}

/* ------------------------------------------------------------ proof blobs */

/* Record layout: owner name, type u16, count u16, ttl u32, rdata_len u16, rdata.
 * Order: SOA RRSIG (type RRSIG covering SOA, flagged by position 0 with a
 * marker byte), then NSEC/NSEC3 RRsets each followed by its RRSIGs. */
static size_t put_rs(const struct vg_rrset *rs, uint8_t *buf, size_t cap, size_t o, bool *ok)
{
	size_t nl = vg_name_len(rs->owner);
	if (!*ok || o + nl + 10 + rs->rdata_len > cap) {
		*ok = false;
		return o;
	}
	memcpy(buf + o, rs->owner, nl);
	o += nl;
	vg_put16(buf + o, rs->type);
	vg_put16(buf + o + 2, rs->count);
	vg_put32(buf + o + 4, rs->ttl);
	vg_put16(buf + o + 8, rs->rdata_len);
	memcpy(buf + o + 10, rs->rdata, rs->rdata_len);
	return o + 10 + rs->rdata_len;
}

size_t vg__proof_pack(const struct vg_result *r, uint8_t *buf, size_t cap)
{
	bool ok = true;
	size_t o = 0;
	if (cap < 2)
		return 0;
	buf[o++] = r->soa_sig ? 1 : 0;
	buf[o++] = (uint8_t)r->n_auth;
	if (r->soa_sig)
		o = put_rs(r->soa_sig, buf, cap, o, &ok);
	for (unsigned i = 0; i < r->n_auth; i++) {
		if (o + 1 > cap) {
			ok = false;
			break;
		}
		buf[o++] = r->auth_sig[i] ? 1 : 0;
		o = put_rs(r->auth[i], buf, cap, o, &ok);
		if (r->auth_sig[i])
			o = put_rs(r->auth_sig[i], buf, cap, o, &ok);
	}
	return ok ? o : 0;
}

static const uint8_t *get_rs(const uint8_t *p, const uint8_t *end, struct vg_rrset *rs)
{
	if (!p || p >= end)
		return NULL;
	int nl = vg_name_check(p, (size_t)(end - p));
	if (nl <= 0 || end - p < nl + 10)
		return NULL;
	rs->owner = p;
	p += nl;
	rs->type = vg_get16(p);
	rs->rclass = VG_C_IN;
	rs->count = vg_get16(p + 2);
	rs->ttl = vg_get32(p + 4);
	rs->rdata_len = vg_get16(p + 8);
	rs->rdata = p + 10;
	if (end - rs->rdata < rs->rdata_len)
		return NULL;
	return rs->rdata + rs->rdata_len;
}

unsigned vg__proof_unpack(const uint8_t *p, size_t len, struct vg_result *r,
			  struct vg_rrset *store, unsigned store_n)
{
	const uint8_t *end = p + len;
	unsigned used = 0;
	if (len < 2)
		return 0;
	bool has_soa_sig = p[0];
	unsigned n = p[1];
	p += 2;
	if (has_soa_sig && used < store_n) {
		p = get_rs(p, end, &store[used]);
		if (!p)
			return used;
		r->soa_sig = &store[used++];
	}
	for (unsigned i = 0; i < n && p && p < end && r->n_auth < VG_AUTH_MAX; i++) {
		bool has_sig = *p++;
		if (used + 2 > store_n)
			return used;
		p = get_rs(p, end, &store[used]);
		if (!p)
			return used;
		struct vg_rrset *a = &store[used++], *s = NULL;
		if (has_sig) {
			p = get_rs(p, end, &store[used]);
			if (!p)
				return used;
			s = &store[used++];
		}
		r->auth[r->n_auth] = a;
		r->auth_sig[r->n_auth++] = s;
	}
	return used;
}

/* ------------------------------------------------------------ helpers */

static struct vg_result *get(struct vctx *v, const uint8_t *name, uint16_t type)
{
	for (struct vg_fetch *f = v->req->fetched; f; f = f->next)
		if (f->type == type && f->res.name && vg_name_eq(f->res.name, name))
			return &f->res;
	if (!v->needed) {
		v->needed = true;
		memcpy(v->need_name, name, vg_name_len(name));
		*v->need_type = type;
	}
	return NULL;
}

/* The signer name of the first RRSIG in @p sig, lower-cased into @p out. */
static const uint8_t *sig_signer(const struct vg_rrset *sig, uint8_t *out)
{
	if (!sig || !sig->count || sig->rdata_len < 2)
		return NULL;
	uint16_t len = vg_get16(sig->rdata);
	if (len < 19 || len > sig->rdata_len - 2)
		return NULL;
	const uint8_t *sn = sig->rdata + 2 + 18;
	int nl = vg_name_check(sn, len - 18u);
	if (nl <= 0)
		return NULL;
	memcpy(out, sn, (size_t)nl);
	vg_name_lower(out);
	return out;
}

/* RRSIG labels field of the first RRSIG (wildcard detection). */
static int sig_labels(const struct vg_rrset *sig)
{
	if (!sig || !sig->count || vg_get16(sig->rdata) < 18)
		return -1;
	return sig->rdata[2 + 3];
}

static bool proper_sub(const uint8_t *name, const uint8_t *zone)
{
	return vg_name_is_sub(name, zone) && !vg_name_eq(name, zone);
}

/* An insecure answer may still say why (RFC 8914 1, 2: unsupported
 * algorithm or digest); a bogus reason, found later, takes precedence. */
static void info_ede(struct vctx *v, uint16_t ede)
{
	if (!v->req->ede)
		v->req->ede = ede;
}

static int bogus(struct vctx *v, uint16_t ede)
{
	if (!v->ede)
		v->ede = ede;
	return VG_SEC_BOGUS;
}

/*
 * Data that failed validation itself (not for want of a valid key): the
 * iterator drops it and does not ask its server again (iterate.c,
 * retry_bogus).  @p type is its cache key's (0 for an NXDOMAIN).
 */
static void blame(struct vctx *v, const uint8_t *name, uint16_t type, const uint8_t *zone,
		  const struct vg_origin *from)
{
	struct vg_request *req = v->req;
	if (!name)
		return;
	for (unsigned i = 0; i < req->n_blame; i++)
		if (req->blame[i].type == type && vg_name_eq(req->blame[i].name, name))
			return;
	if (req->n_blame < VG_BLAME_MAX)
		req->blame[req->n_blame++] = (struct vg_blame){ .name = name, .type = type,
								 .zone = zone, .from = *from };
}

/* A fetched DS or DNSKEY answer, bogus in itself. */
static int blame_fetch(struct vctx *v, const struct vg_result *r, int st)
{
	blame(v, r->name, r->rcode == VG_RCODE_NXDOMAIN ? 0 : r->type, r->zone, &r->from);
	return st;
}

static void mark(struct vctx *v, const uint8_t *name, uint16_t type, int st, uint16_t ede)
{
	if (st >= 0 && st != VG_SEC_UNCHECKED)
		vg_cache_set_sec(v->req->env->cache, name, type, (uint8_t)st, ede,
				 cfg_of(v)->bogus_ttl, v->mono);
}

/* Verify @p rs with @p sig and the zone's keys: 0, bogus (ede set) or, if
 * @p may_yield, VG_EAGAIN (the slice ran out: the caller returns ST_YIELD). */
static int verify(struct vctx *v, const struct vg_rrset *rs, const struct vg_rrset *sig,
		  const struct vg_zkeys *zk, bool may_yield, uint16_t *ede)
{
	struct vg_request *req = v->req;
	int e = 0;
	if (!sig || !sig->count) {
		*ede = VG_EDE_RRSIGS_MISSING;
		return VG_EBOGUS;
	}
	for (unsigned i = 0; i < req->n_vok; i++)
		if (req->vok[i].rs == rs && req->vok[i].sig == sig && req->vok[i].zk == zk)
			return 0; /* verified with these keys in an earlier slice */
	req->vbudget.yield_ok = may_yield;
	int r = vg_dnssec_validate_rrset(rs, sig, zk->keys, zk->n, v->now, &req->vbudget,
					 req->env->scratch2, VG_SCRATCH, &e);
	req->vbudget.yield_ok = false;
	if (r == VG_EAGAIN)
		return VG_EAGAIN;
	if (r == 0) {
		if (may_yield && req->n_vok < VG_VOK_MAX) { /* (the others never run twice) */
			req->vok[req->n_vok].rs = rs;
			req->vok[req->n_vok].sig = sig;
			req->vok[req->n_vok].zk = zk;
			req->n_vok++;
		}
		return 0;
	}
	if (r == VG_ELIMIT && vg_log_enabled(VG_LOG_DEBUG)) {
		char n[VG_NAME_MAX * 4 + 8];
		vg_name_to_str(rs->owner, n, sizeof(n));
		vg_log(VG_LOG_DEBUG, "validation limit reached at %s type %u (%u RRSIGs, %u "
		       "verifications left of the query's budget): bogus", n, rs->type, sig->count,
		       v->req->vbudget.sigs_left);
	}
	*ede = (uint16_t)(r == VG_ENOTSUP ? VG_EDE_BOGUS : e ? e : VG_EDE_BOGUS);
	return VG_EBOGUS;
}

/*
 * Negative trust anchors (RFC 7646) and the insecure names (dnssec.insecure-
 * names: by default private names no public chain of trust can cover): a
 * zone at or below one is insecure, and so is data owned by a name at or
 * below one, whichever zone serves it (a signed parent may serve it itself).
 */
static bool under_nta(const struct vctx *v, const uint8_t *name)
{
	return vg_dnssec_is_insecure(cfg_of(v), name);
}

/* NSEC records of a result as struct vg_nsec, for the proofs in nsec.c. */
static unsigned nsec_list(const struct vg_result *r, struct vg_nsec *out, unsigned max)
{
	unsigned n = 0;
	for (unsigned i = 0; i < r->n_auth; i++) {
		const struct vg_rrset *rs = r->auth[i];
		if (rs->type != VG_T_NSEC)
			continue;
		const uint8_t *d = rs->rdata, *end = rs->rdata + rs->rdata_len;
		for (unsigned k = 0; k < rs->count && end - d >= 2 && n < max; k++) {
			uint16_t l = vg_get16(d);
			const uint8_t *rd = d + 2;
			d += 2u + l;
			if (d > end)
				break;
			int nl = vg_name_check(rd, l);
			if (nl <= 0)
				continue;
			out[n].owner = rs->owner;
			out[n].next = rd;
			out[n].bitmap = rd + nl;
			out[n].bitmap_len = l - (size_t)nl;
			n++;
		}
	}
	return n;
}

static unsigned nsec3_list(const struct vg_result *r, const uint8_t *zone, struct vg_nsec3 *out,
			   unsigned max)
{
	unsigned n = 0;
	for (unsigned i = 0; i < r->n_auth; i++) {
		const struct vg_rrset *rs = r->auth[i];
		if (rs->type != VG_T_NSEC3 || !rs->count || rs->rdata_len < 2)
			continue;
		if (vg_name_labels(rs->owner) != vg_name_labels(zone) + 1 ||
		    !vg_name_is_sub(rs->owner, zone))
			continue;
		uint16_t l = vg_get16(rs->rdata);
		if (n < max && l <= rs->rdata_len - 2u &&
		    vg_nsec3_parse(&out[n], rs->owner, rs->rdata + 2, l) == 0)
			n++;
	}
	return n;
}

enum n3_proof { N3_NXDOMAIN, N3_NODATA, N3_NODS, N3_WILDCARD };

/*
 * Run an NSEC3 proof over the NSEC3 records of @p r in zone @p signer, within
 * the request's NSEC3 limits (the hash budget is spent across proofs).
 * *@p have is false when @p r has no NSEC3 records of that zone (nothing was
 * proven); else the proof's result (nsec3.h), with *@p ede.
 */
static int nsec3_proof(struct vctx *v, enum n3_proof kind, const struct vg_result *r,
		       const uint8_t *signer, const uint8_t *name, uint16_t type, const uint8_t *ce,
		       int *ede, bool *have)
{
	struct vg_nsec3 n3[VG_AUTH_MAX];
	unsigned n = nsec3_list(r, signer, n3, VG_ARRAY_SIZE(n3));
	*have = n > 0;
	if (!n)
		return VG_EBOGUS;
	const struct vg_dnssec_opts *cfg = cfg_of(v);
	struct vg_nsec3_limits lim = {
		.max_records = cfg->nsec3_max_records,
		.hashes_left = v->req->nsec3_hashes_left,
		.max_iterations = (uint16_t)cfg->nsec3_max_iterations,
	};
	int p;
	*ede = 0;
	switch (kind) {
	case N3_NXDOMAIN: p = vg_nsec3_prove_nxdomain(n3, n, signer, name, &lim, ede); break;
	case N3_NODATA: p = vg_nsec3_prove_nodata(n3, n, signer, name, type, &lim, ede); break;
	case N3_NODS: p = vg_nsec3_prove_nods(n3, n, signer, name, &lim, ede); break;
	default: p = vg_nsec3_prove_wildcard(n3, n, signer, name, ce, &lim, ede); break;
	}
	v->req->nsec3_hashes_left = lim.hashes_left;
	return p;
}

/* Verify the SOA and every NSEC/NSEC3 RRset of a negative result: 0,
 * VG_EBOGUS, or VG_EAGAIN (only if @p may_yield). */
static int verify_proof(struct vctx *v, const struct vg_result *r, const struct vg_zkeys *zk,
			bool may_yield, uint16_t *ede)
{
	int e = r->soa ? verify(v, r->soa, r->soa_sig, zk, may_yield, ede) : 0;
	if (e < 0)
		return e == VG_EAGAIN ? e : VG_EBOGUS;
	for (unsigned i = 0; i < r->n_auth; i++) {
		if (!vg_name_is_sub(r->auth[i]->owner, zk->zone))
			continue; /* not the signer's: ignored by the proofs too */
		e = verify(v, r->auth[i], r->auth_sig[i], zk, may_yield, ede);
		if (e < 0)
			return e == VG_EAGAIN ? e : VG_EBOGUS;
	}
	return 0;
}

/* The signer of a negative result's records. */
static const uint8_t *proof_signer(const struct vg_result *r, uint8_t *out)
{
	const uint8_t *s = sig_signer(r->soa_sig, out);
	for (unsigned i = 0; !s && i < r->n_auth; i++)
		s = sig_signer(r->auth_sig[i], out);
	return s;
}

static int keys_for(struct vctx *v, const uint8_t *zone, struct vg_zkeys **out, int depth);
static int ds_state(struct vctx *v, const uint8_t *name, int depth, const struct vg_rrset **ds);

/* ------------------------------------------------------------ DS */

/*
 * What DS(@p name) says: DS_PRESENT (*@p ds set), DS_INSECURE (proven absent
 * at a delegation, or the parent is insecure), DS_NOT_CUT (proven: no
 * delegation at name), DS_BOGUS or ST_NEED.
 */
static int ds_state_x(struct vctx *v, const uint8_t *name, int depth, const struct vg_rrset **ds)
{
	uint8_t sbuf[VG_NAME_MAX];
	struct vg_zkeys *zk;
	uint16_t ede = VG_EDE_BOGUS;
	struct vg_result *r = get(v, name, VG_T_DS);
	if (!r)
		return ST_NEED;
	if (r->rcode == VG_RCODE_SERVFAIL) {
		bogus(v, VG_EDE_BOGUS);
		return DS_BOGUS;
	}
	const uint8_t *signer = r->negative ? proof_signer(r, sbuf) : sig_signer(r->sig, sbuf);
	if (!signer) {
		/* unsigned: fine only if the zone that answered is insecure */
		const uint8_t *parent = r->zone && *r->zone ? r->zone : NULL;
		if (!parent && r->soa)
			parent = r->soa->owner;
		if (!parent || !proper_sub(name, parent) || depth > DEPTH_MAX) {
			bogus(v, r->negative ? VG_EDE_NSEC_MISSING : VG_EDE_RRSIGS_MISSING);
			return DS_BOGUS;
		}
		uint8_t p[VG_NAME_MAX];
		memcpy(p, parent, vg_name_len(parent));
		vg_name_lower(p);
		int st = keys_for(v, p, &zk, depth + 1);
		if (st == ST_NEED)
			return ST_NEED;
		if (st == VG_SEC_INSECURE)
			return DS_INSECURE;
		if (st != VG_SEC_SECURE)
			return DS_BOGUS;
		bogus(v, r->negative ? VG_EDE_NSEC_MISSING : VG_EDE_RRSIGS_MISSING);
		return blame_fetch(v, r, DS_BOGUS);
	}
	if (!proper_sub(name, signer)) {
		bogus(v, VG_EDE_BOGUS);
		return blame_fetch(v, r, DS_BOGUS);
	}
	int st = keys_for(v, signer, &zk, depth + 1);
	if (st == ST_NEED)
		return ST_NEED;
	if (st == VG_SEC_INSECURE)
		return DS_INSECURE;
	if (st != VG_SEC_SECURE)
		return DS_BOGUS;
	if (!r->negative) {
		if (r->sec != VG_SEC_SECURE) {
			if (verify(v, r->rs, r->sig, zk, false, &ede) < 0) {
				bogus(v, ede);
				mark(v, name, VG_T_DS, VG_SEC_BOGUS, ede);
				return blame_fetch(v, r, DS_BOGUS);
			}
			r->sec = VG_SEC_SECURE;
			mark(v, name, VG_T_DS, VG_SEC_SECURE, 0);
		}
		*ds = r->rs;
		return DS_PRESENT;
	}
	/* no DS: the proof must say why */
	if (r->sec != VG_SEC_SECURE) {
		if (verify_proof(v, r, zk, false, &ede) < 0) {
			bogus(v, ede);
			return blame_fetch(v, r, DS_BOGUS);
		}
		r->sec = VG_SEC_SECURE;
		mark(v, name, r->rcode == VG_RCODE_NXDOMAIN ? 0 : VG_T_DS, VG_SEC_SECURE, 0);
	}
	bool nx = r->rcode == VG_RCODE_NXDOMAIN;
	struct vg_nsec nsec[VG_AUTH_MAX * 4];
	unsigned nn = nsec_list(r, nsec, VG_ARRAY_SIZE(nsec));
	if (nn) {
		if (nx) /* no such name: no zone cut either */
			return vg_nsec_prove_nxdomain(nsec, nn, signer, name) == 0
				       ? DS_NOT_CUT
				       : blame_fetch(v, r, DS_BOGUS);
		int p = vg_nsec_prove_nods(nsec, nn, name);
		if (p == 0)
			return DS_INSECURE;
		if (p == VG_ENOTFOUND ||
		    vg_nsec_prove_nodata_any(nsec, nn, signer, name, VG_T_DS) == 0)
			return DS_NOT_CUT; /* exists without NS, or an empty non-terminal */
		bogus(v, VG_EDE_BOGUS);
		return blame_fetch(v, r, DS_BOGUS);
	}
	int e = 0;
	bool have;
	int p = nsec3_proof(v, nx ? N3_NXDOMAIN : N3_NODS, r, signer, name, 0, NULL, &e, &have);
	if (have) {
		if (nx && p == 0)
			return DS_NOT_CUT;
		if (!nx && (p == 0 || p == VG_ENOTSUP))
			return DS_INSECURE; /* proven no DS, or opt-out / iterations: insecure */
		if (nx && p == VG_ENOTSUP)
			return DS_INSECURE;
		if (p == VG_ENOTFOUND)
			return DS_NOT_CUT;
		bogus(v, (uint16_t)(e ? e : VG_EDE_BOGUS));
		return blame_fetch(v, r, DS_BOGUS);
	}
	bogus(v, VG_EDE_NSEC_MISSING);
	return blame_fetch(v, r, DS_BOGUS);
}

static int ds_state(struct vctx *v, const uint8_t *name, int depth, const struct vg_rrset **ds)
{
	int d = ds_state_x(v, name, depth, ds);
	if (d == DS_BOGUS)
		v->chain_bogus = true;
	return d;
}

/* ------------------------------------------------------------ DNSKEY */

static struct vg_zkeys *zk_find(struct vg_request *req, const uint8_t *zone)
{
	for (struct vg_zkeys *z = req->zkeys; z; z = z->next)
		if (vg_name_eq(z->zone, zone))
			return z;
	return NULL;
}

static int zk_done(struct vg_zkeys *zk, int st, uint16_t ede)
{
	zk->status = st;
	zk->ede = ede;
	return st;
}

/* Is DS rdata usable by vigil (supported digest and algorithm)? */
static bool ds_supported(const uint8_t *ds, uint16_t len)
{
	return len >= 4 && vg_dnssec_alg_supported(ds[2]) && vg_dnssec_digest_supported(ds[3]);
}

static int keys_for_x(struct vctx *v, const uint8_t *zone, struct vg_zkeys **out, int depth)
{
	struct vg_request *req = v->req;
	struct vg_zkeys *zk = zk_find(req, zone);
	if (zk) {
		*out = zk;
		if (zk->status == ST_NEED && zk->ede == 0xffff) /* a loop in the chain */
			return bogus(v, VG_EDE_BOGUS);
		if (zk->status != ST_NEED) {
			if (zk->status == VG_SEC_BOGUS)
				bogus(v, zk->ede);
			return zk->status;
		}
	} else {
		zk = vg_arena_zalloc(req->arena, sizeof(*zk));
		if (!zk)
			return bogus(v, VG_EDE_BOGUS);
		memcpy(zk->zone, zone, vg_name_len(zone));
		zk->status = ST_NEED;
		zk->next = req->zkeys;
		req->zkeys = zk;
	}
	*out = zk;
	if (depth > DEPTH_MAX)
		return zk_done(zk, bogus(v, VG_EDE_BOGUS), VG_EDE_BOGUS);
	if (under_nta(v, zone))
		return zk_done(zk, VG_SEC_INSECURE, 0);
	const uint8_t *anchor = vg_ta_anchor_for(req->env->ta, zone);
	if (!anchor)
		return zk_done(zk, VG_SEC_INSECURE, 0);

	bool at_anchor = vg_name_eq(anchor, zone);
	const struct vg_rrset *ds = NULL;
	if (!at_anchor) {
		zk->ede = 0xffff; /* in progress: a chain that comes back here is a loop */
		int d = ds_state(v, zone, depth, &ds);
		zk->ede = 0;
		if (d == ST_NEED)
			return ST_NEED;
		if (d == DS_INSECURE)
			return zk_done(zk, VG_SEC_INSECURE, 0);
		if (d == DS_NOT_CUT) /* a signer that is not a zone */
			return zk_done(zk, bogus(v, VG_EDE_BOGUS), VG_EDE_BOGUS);
		if (d != DS_PRESENT)
			return zk_done(zk, VG_SEC_BOGUS, v->ede ? v->ede : VG_EDE_BOGUS);
		bool any = false, alg_ok = false;
		const uint8_t *p = ds->rdata, *end = ds->rdata + ds->rdata_len;
		for (unsigned i = 0; i < ds->count && end - p >= 2; i++) {
			uint16_t l = vg_get16(p);
			any |= ds_supported(p + 2, l);
			alg_ok |= l >= 4 && vg_dnssec_alg_supported(p[2 + 2]);
			p += 2u + l;
		}
		if (!any) { /* RFC 4035 5.2, RFC 6840 5.2: unsupported only = insecure */
			info_ede(v, alg_ok ? VG_EDE_UNSUPPORTED_DIGEST : VG_EDE_UNSUPPORTED_ALG);
			return zk_done(zk, VG_SEC_INSECURE, 0);
		}
	}

	struct vg_result *dk = get(v, zone, VG_T_DNSKEY);
	if (!dk)
		return ST_NEED;
	if (dk->rcode == VG_RCODE_SERVFAIL)
		return zk_done(zk, bogus(v, VG_EDE_DNSKEY_MISSING), VG_EDE_DNSKEY_MISSING);
	if (dk->negative || !dk->rs) /* a server that says the zone has no keys */
		return blame_fetch(v, dk, zk_done(zk, bogus(v, VG_EDE_DNSKEY_MISSING),
						  VG_EDE_DNSKEY_MISSING));

	/* parse the zone keys, and find those the anchor or a DS vouches for
	 * (unless an earlier request validated this DNSKEY RRset: then the
	 * vouching is not used, and its digests are not worth computing) */
	struct vg_dnssec_key trusted[ZK_MAX];
	unsigned nt = 0, digests = req->vbudget.ds_digests;
	bool unsupported_anchor = false, known = dk->sec == VG_SEC_SECURE, limited = false;
	const uint8_t *p = dk->rs->rdata, *end = dk->rs->rdata + dk->rs->rdata_len;
	for (unsigned i = 0; i < dk->rs->count && end - p >= 2 && zk->n < ZK_MAX; i++) {
		uint16_t l = vg_get16(p);
		const uint8_t *rd = p + 2;
		p += 2u + l;
		if (p > end || l < 4 || !(vg_get16(rd) & 0x0100) || rd[2] != 3)
			continue; /* not a zone key (RFC 4034 2.1.1) */
		if (vg_get16(rd) & 0x0080)
			continue; /* revoked (RFC 5011): never used for validation */
		struct vg_dnssec_key *k = &zk->keys[zk->n];
		if (vg_keycache_get(req->env->keys, k, rd, l) < 0)
			continue;
		zk->n++;
		if (known)
			continue;
		bool vouched = false;
		if (at_anchor) {
			int t = vg_ta_trusts_key(req->env->ta, zone, rd, l);
			vouched = t == 0;
			unsupported_anchor |= t == VG_ENOTSUP;
		} else if (!limited) {
			int t = vg_dnssec_ds_vouches(zone, rd, l, k->tag, ds, &digests);
			vouched = t == 0;
			limited = t == VG_ELIMIT; /* the keys after it are not vouched for */
		}
		if (vouched && nt < ZK_MAX)
			trusted[nt++] = *k;
	}
	if (at_anchor && nt == 0 && zk->n == 0 && dk->rs->count) {
		/* an anchor for keys vigil cannot use at all: insecure */
		int t = VG_EBOGUS;
		p = dk->rs->rdata;
		for (unsigned i = 0; i < dk->rs->count && end - p >= 2; i++) {
			uint16_t l = vg_get16(p);
			if (vg_ta_trusts_key(req->env->ta, zone, p + 2, l) == VG_ENOTSUP)
				t = VG_ENOTSUP;
			p += 2u + l;
		}
		if (t == VG_ENOTSUP || unsupported_anchor) {
			info_ede(v, VG_EDE_UNSUPPORTED_ALG);
			return zk_done(zk, VG_SEC_INSECURE, 0);
		}
	}
	if (known && zk->n)
		return zk_done(zk, VG_SEC_SECURE, 0); /* validated by an earlier request */
	if (nt == 0 && limited) { /* the DS digest allowance ran out first */
		if (vg_log_enabled(VG_LOG_DEBUG)) {
			char n[VG_NAME_MAX * 4 + 8];
			vg_name_to_str(zone, n, sizeof(n));
			vg_log(VG_LOG_DEBUG, "validation limit reached at %s: %u DS digests "
			       "vouched for none of its DNSKEYs (%u DS): bogus", n,
			       req->vbudget.ds_digests, ds->count);
		}
		return blame_fetch(v, dk, zk_done(zk, bogus(v, VG_EDE_BOGUS), VG_EDE_BOGUS));
	}
	if (nt == 0) /* none the DS (or the anchor) vouches for: a stale or wrong key set */
		return blame_fetch(v, dk, zk_done(zk, bogus(v, VG_EDE_DNSKEY_MISSING),
						  VG_EDE_DNSKEY_MISSING));
	struct vg_zkeys tk; /* the DNSKEY RRset must be signed by a vouched-for key */
	memcpy(tk.zone, zone, vg_name_len(zone));
	memcpy(tk.keys, trusted, nt * sizeof(trusted[0]));
	tk.n = nt;
	uint16_t ede = VG_EDE_BOGUS;
	if (verify(v, dk->rs, dk->sig, &tk, false, &ede) < 0) {
		mark(v, zone, VG_T_DNSKEY, VG_SEC_BOGUS, ede);
		return blame_fetch(v, dk, zk_done(zk, bogus(v, ede), ede));
	}
	dk->sec = VG_SEC_SECURE;
	mark(v, zone, VG_T_DNSKEY, VG_SEC_SECURE, 0);
	return zk_done(zk, VG_SEC_SECURE, 0);
}

static int keys_for(struct vctx *v, const uint8_t *zone, struct vg_zkeys **out, int depth)
{
	int st = keys_for_x(v, zone, out, depth);
	if (st == VG_SEC_BOGUS)
		v->chain_bogus = true;
	return st;
}

/* ------------------------------------------------------------ unsigned data */

/* The deepest zone cut the cache knows at or above @p name. */
static const uint8_t *guess_zone(struct vctx *v, const uint8_t *name)
{
	for (const uint8_t *n = name;; n += *n + 1) {
		if (vg_cache_has(v->req->env->cache, n, VG_T_NS, v->mono) || !*n)
			return n;
	}
}

/*
 * Data without signatures from @p zone: insecure if the zone is, or if a DS
 * query between the zone and @p owner proves an insecure delegation; else
 * bogus with @p ede.
 */
static int unsigned_status(struct vctx *v, const uint8_t *zone, const uint8_t *owner,
			   uint16_t ede)
{
	uint8_t z[VG_NAME_MAX];
	struct vg_zkeys *zk;
	if (!zone || !vg_name_is_sub(owner, zone))
		zone = guess_zone(v, owner);
	memcpy(z, zone, vg_name_len(zone));
	vg_name_lower(z);
	int st = keys_for(v, z, &zk, 0);
	if (st != VG_SEC_SECURE)
		return st;
	int zl = vg_name_labels(z), ol = vg_name_labels(owner);
	for (int l = zl + 1; l <= ol && l <= zl + WALK_MAX; l++) {
		const uint8_t *n = vg_name_suffix(owner, l);
		const struct vg_rrset *ds;
		uint8_t low[VG_NAME_MAX];
		memcpy(low, n, vg_name_len(n));
		vg_name_lower(low);
		int d = ds_state(v, low, 1, &ds);
		if (d == ST_NEED)
			return ST_NEED;
		if (d == DS_INSECURE)
			return VG_SEC_INSECURE;
		if (d == DS_NOT_CUT)
			continue;
		break;
	}
	return bogus(v, ede);
}

/* ------------------------------------------------------------ answers */

/* A positive RRset (answer i). */
static int check_answer(struct vctx *v, unsigned i)
{
	struct vg_request *req = v->req;
	const struct vg_rrset *rs = req->answer[i], *sig = req->answer_sig[i];
	uint8_t sbuf[VG_NAME_MAX], owner[VG_NAME_MAX];
	struct vg_zkeys *zk;
	uint16_t ede = VG_EDE_BOGUS;

	memcpy(owner, rs->owner, vg_name_len(rs->owner));
	vg_name_lower(owner);
	if (under_nta(v, owner))
		return VG_SEC_INSECURE; /* whoever signed it: a private or NTA name */
	const uint8_t *signer = sig_signer(sig, sbuf);
	if (!signer)
		return unsigned_status(v, req->answer_zone[i], owner, VG_EDE_RRSIGS_MISSING);
	if (!vg_name_is_sub(owner, signer))
		return bogus(v, VG_EDE_BOGUS);
	int st = keys_for(v, signer, &zk, 0);
	if (st != VG_SEC_SECURE)
		return st;
	int e = verify(v, rs, sig, zk, true, &ede);
	if (e == VG_EAGAIN)
		return ST_YIELD;
	if (e < 0)
		return bogus(v, ede);
	int labels = sig_labels(sig);
	int ol = vg_name_labels(owner) - (owner[0] == 1 && owner[1] == '*');
	if (labels < 0 || labels >= ol)
		return VG_SEC_SECURE;
	/* wildcard expansion (RFC 4035 5.3.4): the exact name must not exist */
	const uint8_t *ce = vg_name_suffix(owner, labels);
	struct vg_result *r = &req->neg;
	for (unsigned k = 0; k < r->n_auth; k++) {
		if (!vg_name_is_sub(r->auth[k]->owner, signer))
			continue;
		e = verify(v, r->auth[k], r->auth_sig[k], zk, true, &ede);
		if (e == VG_EAGAIN)
			return ST_YIELD;
		if (e < 0)
			return bogus(v, ede);
	}
	struct vg_nsec nsec[VG_AUTH_MAX * 4];
	unsigned nn = nsec_list(r, nsec, VG_ARRAY_SIZE(nsec));
	if (nn)
		return vg_nsec_prove_no_exact(nsec, nn, owner) == 0 ? VG_SEC_SECURE
								  : bogus(v, VG_EDE_BOGUS);
	e = 0;
	bool have;
	int p = nsec3_proof(v, N3_WILDCARD, r, signer, owner, 0, ce, &e, &have);
	if (have) {
		if (p == 0)
			return VG_SEC_SECURE;
		if (p == VG_ENOTSUP)
			return VG_SEC_INSECURE;
		return bogus(v, (uint16_t)(e ? e : VG_EDE_BOGUS));
	}
	return bogus(v, VG_EDE_NSEC_MISSING);
}

/* RFC 8198: keep the validated NSEC records of a proof for later answers. */
static void keep_nsec(struct vctx *v, const uint8_t *signer, const struct vg_result *r)
{
	if (!cfg_of(v)->aggressive_nsec || !r->soa || !r->soa_sig)
		return;
	struct vg_aggr *a = vg_cache_aggr(v->req->env->cache);
	/* min(SOA TTL, MINIMUM), clamped as the cache stores it (already so for
	 * fresh answers: negative() in iterate.c; cached ones are below it) */
	uint32_t ttl = vg_cache_clamp_ttl(v->req->env->cache, r->soa->ttl, true);
	for (unsigned i = 0; i < r->n_auth; i++) {
		if (!r->auth_sig[i] || !vg_name_is_sub(r->auth[i]->owner, signer))
			continue;
		if (r->auth[i]->type == VG_T_NSEC)
			vg_aggr_put(a, signer, r->soa, r->soa_sig, ttl, r->auth[i], r->auth_sig[i],
				    v->mono);
		else if (r->auth[i]->type == VG_T_NSEC3)
			vg_aggr_put_nsec3(a, signer, r->soa, r->soa_sig, ttl, r->auth[i],
					  r->auth_sig[i], v->mono);
	}
}

/* The final negative answer (NXDOMAIN or NODATA for req->neg.name). */
static int check_negative(struct vctx *v)
{
	struct vg_request *req = v->req;
	struct vg_result *r = &req->neg;
	uint8_t sbuf[VG_NAME_MAX];
	struct vg_zkeys *zk;
	uint16_t ede = VG_EDE_BOGUS;
	const uint8_t *name = r->name;
	bool nx = req->rcode == VG_RCODE_NXDOMAIN;

	if (!name)
		return VG_SEC_INSECURE; /* nothing to prove (e.g. no SOA was given) */
	uint8_t low[VG_NAME_MAX];
	memcpy(low, name, vg_name_len(name));
	vg_name_lower(low);
	if (under_nta(v, low))
		return VG_SEC_INSECURE;
	const uint8_t *signer = proof_signer(r, sbuf);
	if (!signer)
		return unsigned_status(v, r->zone && *r->zone ? r->zone : NULL, name,
				       VG_EDE_NSEC_MISSING);
	if (!vg_name_is_sub(name, signer))
		return bogus(v, VG_EDE_BOGUS);
	int st = keys_for(v, signer, &zk, 0);
	if (st != VG_SEC_SECURE)
		return st;
	int e = verify_proof(v, r, zk, true, &ede);
	if (e == VG_EAGAIN)
		return ST_YIELD;
	if (e < 0)
		return bogus(v, ede);
	struct vg_nsec nsec[VG_AUTH_MAX * 4];
	unsigned nn = nsec_list(r, nsec, VG_ARRAY_SIZE(nsec));
	if (nn) {
		int p = nx ? vg_nsec_prove_nxdomain(nsec, nn, signer, name)
			   : vg_nsec_prove_nodata_any(nsec, nn, signer, name, r->type);
		if (p != 0)
			return bogus(v, VG_EDE_BOGUS);
		keep_nsec(v, signer, r);
		return VG_SEC_SECURE;
	}
	e = 0;
	bool have;
	int p = nsec3_proof(v, nx ? N3_NXDOMAIN : N3_NODATA, r, signer, name, r->type, NULL, &e,
			    &have);
	if (have) {
		if (p == 0) {
			keep_nsec(v, signer, r);
			return VG_SEC_SECURE;
		}
		if (p == VG_ENOTSUP) {
			if (e == VG_EDE_NSEC3_ITERATIONS && !req->ede)
				req->ede = VG_EDE_NSEC3_ITERATIONS; /* insecure, and says why */
			return VG_SEC_INSECURE;
		}
		return bogus(v, (uint16_t)(e ? e : VG_EDE_BOGUS));
	}
	return bogus(v, VG_EDE_NSEC_MISSING);
}

/* Is @p ede one that explains a failure (not an insecure answer's note)? */
static bool bogus_ede(uint16_t ede)
{
	return ede && ede != VG_EDE_UNSUPPORTED_ALG && ede != VG_EDE_UNSUPPORTED_DIGEST &&
	       ede != VG_EDE_NSEC3_ITERATIONS;
}

/* The status of a whole answer: bogus if any part is, else insecure if any is. */
static int fold(int worst, int st)
{
	if (st == VG_SEC_BOGUS || worst == VG_SEC_BOGUS)
		return VG_SEC_BOGUS;
	return st == VG_SEC_SECURE ? worst : VG_SEC_INSECURE;
}

/* A part found bogus: its reason becomes the answer's EDE, over any note. */
static void note_bogus(struct vctx *v, int st)
{
	if (st == VG_SEC_BOGUS && !bogus_ede(v->req->ede))
		v->req->ede = v->ede ? v->ede : VG_EDE_BOGUS;
}

/* A CNAME synthesized from a DNAME is as good as that DNAME: the one before
 * it in the answer whose owner is above it (a chain that passes the same
 * DNAME twice lists it once, so it need not be just before). */
static int synth_status(const struct vg_request *req, unsigned i)
{
	for (unsigned k = i; k-- > 0;)
		if (req->answer[k]->type == VG_T_DNAME &&
		    vg_name_is_sub(req->answer[i]->owner, req->answer[k]->owner))
			return req->answer_sec[k];
	return VG_SEC_BOGUS;
}

int vg__val_run(struct vg_request *req, uint8_t *name, uint16_t *type)
{
	struct vctx v = {
		.req = req, .need_name = name, .need_type = type,
		.now = req->env->now_wall,
		.mono = req->env->now_s,
	};
	int worst = VG_SEC_SECURE;

	for (unsigned i = 0; i < req->n_answer; i++) {
		int st = req->answer_sec[i];
		if (req->answer_synth[i]) {
			st = synth_status(req, i);
		} else if (req->answer[i]->type == VG_T_RRSIG) {
			st = VG_SEC_INSECURE; /* a query for type RRSIG: not validated */
		} else if (st != VG_SEC_SECURE && st != VG_SEC_INSECURE) {
			v.ede = 0;
			v.chain_bogus = false;
			st = check_answer(&v, i);
			if (st == ST_NEED)
				return 1;
			if (st == ST_YIELD)
				return 2;
			req->n_vok = 0; /* this check is over: a memo per check */
			if (st == VG_SEC_BOGUS && !v.chain_bogus) /* the RRset itself */
				blame(&v, req->answer[i]->owner, req->answer[i]->type,
				      req->answer_zone[i], &req->answer_from[i]);
			req->answer_sec[i] = (uint8_t)st;
			mark(&v, req->answer[i]->owner, req->answer[i]->type, st, v.ede);
			note_bogus(&v, st);
		}
		worst = fold(worst, st);
	}
	bool negative_answer = req->rcode == VG_RCODE_NXDOMAIN ||
			       (req->neg.negative && req->rcode == VG_RCODE_NOERROR);
	if (negative_answer && worst != VG_SEC_BOGUS) {
		int st = req->neg.sec;
		if (st != VG_SEC_SECURE && st != VG_SEC_INSECURE) {
			v.ede = 0;
			v.chain_bogus = false;
			st = check_negative(&v);
			if (st == ST_NEED)
				return 1;
			if (st == ST_YIELD)
				return 2;
			req->n_vok = 0;
			uint16_t key = req->rcode == VG_RCODE_NXDOMAIN ? 0 : req->neg.type;
			if (st == VG_SEC_BOGUS && !v.chain_bogus)
				blame(&v, req->neg.name, key, req->neg.zone, &req->neg.from);
			req->neg.sec = (uint8_t)st;
			if (req->neg.name)
				mark(&v, req->neg.name, req->rcode == VG_RCODE_NXDOMAIN ? 0 : req->neg.type,
				     st, v.ede);
			note_bogus(&v, st);
		}
		worst = fold(worst, st);
	}
	if (req->n_answer == 0 && !negative_answer)
		worst = VG_SEC_INSECURE;
	req->sec = (uint8_t)worst;
	return 0;
}

void vg__val_cleanup(struct vg_request *req)
{
	for (struct vg_zkeys *z = req->zkeys; z; z = z->next)
		for (unsigned i = 0; i < z->n; i++)
			vg_dnssec_key_deinit(&z->keys[i]);
	req->zkeys = NULL;
}
