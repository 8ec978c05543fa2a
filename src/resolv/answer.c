/* SPDX-License-Identifier: MIT
 *
 * Requests and answers: request allocation, the answer of a resolved
 * request, and the cache-hit path.
 *
 * The cache-hit path (vg_resolv_answer_cached) is the hot path: it copies the
 * RRsets it needs out of the cache into the worker's scratch buffer and writes
 * the reply, without a request, an arena or any heap allocation.
 */
#include <string.h>

#include "resolv/resolv.h"

#define REQ_ARENA_FIRST 16384
#define REQ_ARENA_MAX (2u << 20)

struct vg_request *vg_request_new(const struct vg_resolv_env *env, const uint8_t *qname,
				  uint16_t qtype)
{
	struct vg_arena *a = vg_arena_new(REQ_ARENA_FIRST, REQ_ARENA_MAX, env->req_mem);
	if (!a)
		return NULL;
	struct vg_request *req = vg_arena_zalloc(a, sizeof(*req));
	if (!req) {
		vg_arena_free(a);
		return NULL;
	}
	req->arena = a;
	req->env = env;
	memcpy(req->qname, qname, vg_name_len(qname));
	req->qtype = qtype;
	req->start_ms = env->now_ms;
	req->rcode = VG_RCODE_SERVFAIL;
	return req;
}

void vg_request_free(struct vg_request *req)
{
	if (!req)
		return;
	vg__val_cleanup(req);
	vg_arena_free(req->arena); /* req lives in its own arena */
}

/*
 * The root key trust anchor sentinel (RFC 8509): a secure A or AAAA answer
 * whose first label is root-key-sentinel-is-ta-NNNNN (NNNNN the decimal key
 * tag of a root key) becomes SERVFAIL unless vigil trusts that key, and one
 * for root-key-sentinel-not-ta-NNNNN becomes SERVFAIL if it does: a user
 * can tell which root keys their resolver trusts.  True: answer SERVFAIL.
 */
static bool sentinel_refuses(const struct vg_ta_set *ta, const uint8_t *qname, uint16_t qtype)
{
	static const char is[] = "root-key-sentinel-is-ta-", not[] = "root-key-sentinel-not-ta-";
	size_t l = qname[0], p;
	bool want;
	if (!ta || (qtype != VG_T_A && qtype != VG_T_AAAA))
		return false;
	if (l == sizeof(is) - 1 + 5 && !strncasecmp((const char *)qname + 1, is, sizeof(is) - 1)) {
		want = true;
		p = sizeof(is) - 1;
	} else if (l == sizeof(not) - 1 + 5 &&
		   !strncasecmp((const char *)qname + 1, not, sizeof(not) - 1)) {
		want = false;
		p = sizeof(not) - 1;
	} else {
		return false;
	}
	unsigned tag = 0;
	for (size_t i = 1 + p; i < 1 + l; i++) {
		if (qname[i] < '0' || qname[i] > '9')
			return false;
		tag = tag * 10 + (unsigned)(qname[i] - '0');
	}
	if (tag > 65535)
		return false;
	bool trusted = false;
	for (unsigned i = 0; i < ta->n && !trusted; i++) {
		const struct vg_ta *t = &ta->ta[i];
		if (t->owner[0] != 0) /* the root's anchors only */
			continue;
		if (t->type == VG_T_DS)
			trusted = t->rdlen >= 2 && vg_get16(t->rdata) == tag;
		else if (t->type == VG_T_DNSKEY)
			trusted = vg_dnssec_keytag(t->rdata, t->rdlen) == tag;
	}
	return trusted != want;
}

static const char sentinel_text[] = "vigil: root key sentinel (RFC 8509)";

size_t vg_resolv_write_answer(const struct vg_request *req, const struct vg_client_q *cq,
			      uint8_t *buf, size_t cap)
{
	bool fail = req->rcode == VG_RCODE_SERVFAIL;
	bool secure = req->validate && req->sec == VG_SEC_SECURE && !fail;
	if (secure && sentinel_refuses(req->env->ta, req->qname, req->qtype)) {
		struct vg_answer_view sv = { .rcode = VG_RCODE_SERVFAIL, .ede_text = sentinel_text };
		return vg_answer_write(cq, &sv, buf, cap);
	}
	struct vg_answer_view av = {
		.rcode = req->rcode,
		.ans = req->answer,
		.ans_sig = req->answer_sig,
		.nans = fail ? 0 : req->n_answer,
		.soa = fail ? NULL : req->soa,
		.soa_sig = req->neg.soa_sig,
		.auth = req->neg.auth,
		.auth_sig = req->neg.auth_sig,
		.nauth = req->neg.n_auth,
		.ad = req->validate && req->sec == VG_SEC_SECURE && !fail,
		.ede = req->ede,
		.ede_text = req->ede_text,
	};
	return vg_answer_write(cq, &av, buf, cap);
}

#define CACHED_MAX_CHAIN 16

/* Can this cached entry answer the client?  1 yes, 0 no (a miss: the
 * iterator validates it), -1 it is bogus (SERVFAIL). */
static int usable(const struct vg_resolv_env *env, const struct vg_query *q,
		  const struct vg_cache_entry *e, bool *secure)
{
	if (!env->dnssec->validation || !env->ta || (q->flags & VG_F_CD)) {
		*secure = false;
		return 1;
	}
	if (e->sec == VG_SEC_BOGUS)
		return -1;
	if (e->sec == VG_SEC_UNCHECKED)
		return 0;
	*secure &= e->sec == VG_SEC_SECURE;
	return 1;
}

/*
 * A cached entry's proof records (a negative answer's, or a wildcard
 * expansion's: RFC 4035 3.1.3.3) after those already in @p proof, each
 * (type, owner) once, in @p store from slot *@p used on; their TTLs at most
 * the entry's remaining one.
 */
static void add_cached_proof(const struct vg_cache_entry *e, struct vg_result *proof,
			     struct vg_rrset *store, unsigned store_n, unsigned *used)
{
	unsigned first = proof->n_auth, from = *used;
	*used += vg__proof_unpack(e->proof, e->proof_len, proof, store + from, store_n - from);
	for (unsigned i = from; i < *used; i++)
		if (store[i].ttl > e->ttl)
			store[i].ttl = e->ttl;
	unsigned n = first;
	for (unsigned i = first; i < proof->n_auth; i++) {
		bool seen = false;
		for (unsigned k = 0; k < n && !seen; k++)
			seen = proof->auth[k]->type == proof->auth[i]->type &&
			       vg_name_eq(proof->auth[k]->owner, proof->auth[i]->owner);
		if (seen)
			continue;
		proof->auth[n] = proof->auth[i];
		proof->auth_sig[n++] = proof->auth_sig[i];
	}
	proof->n_auth = n;
}

/* Stale data found in place of a cached failure: not the failure's answer. */
static void stale_instead(struct vg_answer_view *av, bool *failed)
{
	av->rcode = VG_RCODE_NOERROR;
	av->ede = 0;
	av->ede_text = NULL;
	*failed = false;
}

size_t vg_resolv_answer_cached(const struct vg_resolv_env *env, const struct vg_client_q *cq,
			       struct vg_answer_hook *hook, uint8_t *buf, size_t cap)
{
	return vg_resolv_answer_cached_ex(env, cq, hook, 0, 0, NULL, buf, cap);
}

size_t vg_resolv_answer_cached_ex(const struct vg_resolv_env *env, const struct vg_client_q *cq,
				  struct vg_answer_hook *hook, unsigned flags, uint64_t key_hash,
				  struct vg_cached_info *info, uint8_t *buf, size_t cap)
{
	struct vg_cached_info dummy;
	const struct vg_query *q = cq->q;
	struct vg_rrset rrsets[CACHED_MAX_CHAIN], sigs[CACHED_MAX_CHAIN];
	struct vg_rrset *ans[CACHED_MAX_CHAIN], *ans_sig[CACHED_MAX_CHAIN];
	struct vg_rrset store[2 * VG_AUTH_MAX + 1];
	struct vg_result proof;
	struct vg_answer_view av = { .rcode = VG_RCODE_NOERROR, .ans = ans, .ans_sig = ans_sig };
	struct vg_cache_entry e;
	unsigned n = 0, used = 0;
	size_t off = 0;
	const uint8_t *name = q->qname;
	uint32_t now = env->now_s;
	unsigned max_chain = env->opts->max_cname_chain;
	bool secure = true, dnssec = q->edns.present && q->edns.do_bit, failed = false;
	int u;

	if (!info)
		info = &dummy;
	info->stale = info->prefetch = false;
	info->sec = VG_SEC_UNCHECKED;
	if (q->qtype == VG_T_ANY || q->qtype == VG_T_RRSIG)
		return 0;
	proof.n_auth = 0; /* (all vg__proof_unpack and the writer read of it) */
	proof.soa_sig = NULL;
	if (max_chain >= CACHED_MAX_CHAIN)
		max_chain = CACHED_MAX_CHAIN - 1;
	for (unsigned hop = 0;; hop++) {
		uint8_t *sb = env->scratch + off;
		size_t room = VG_SCRATCH - off;
		/* prefetch: the first entry only, the one a refresh of (qname,
		 * qtype) fetches again */
		unsigned f = hop ? flags & ~VG_CACHE_PREFETCH : flags;
		int found = hop || !key_hash
				    ? vg_cache_get_ex(env->cache, name, q->qtype, now, f, &e, sb, room)
				    : vg_cache_get_hashed(env->cache, name, q->qtype, key_hash, now, f,
							  &e, sb, room);
		if (found == 0 && e.failure && n == 0) {
			if (e.sec == VG_SEC_BOGUS && (q->flags & VG_F_CD))
				return 0; /* CD: the unvalidated answer is wanted */
			av.rcode = VG_RCODE_SERVFAIL; /* RFC 9520 failure cache */
			av.ede = e.sec == VG_SEC_BOGUS ? e.ede : VG_EDE_CACHED_ERROR;
			if (e.sec != VG_SEC_BOGUS)
				av.ede_text = vg_ede_cached_text(e.ede);
			if (!(flags & (VG_CACHE_STALE | VG_CACHE_STALE_FAILED)) ||
			    e.sec == VG_SEC_BOGUS) {
				if (flags & VG_CACHE_NO_FAIL)
					return 0;
				break;
			}
			/* serve-stale: resolving it failed just now, so a stale
			 * CNAME or NXDOMAIN at the name stands in for the failure
			 * (RFC 8767 4); without one, the failure is the answer */
			failed = true;
			flags = (flags | VG_CACHE_STALE) & ~VG_CACHE_PREFETCH;
			f = flags;
		}
		if (found == 0 && !e.failure && (e.negative || e.rank >= VG_RANK_NONAUTH)) {
			if ((u = usable(env, q, &e, &secure)) <= 0)
				goto not_usable;
			info->stale |= e.stale;
			info->prefetch |= e.prefetch;
			if (e.negative) {
				rrsets[n] = e.soa;
				av.soa = &rrsets[n];
				goto negative;
			}
			rrsets[n] = e.rs;
			sigs[n] = e.sigs;
			ans[n] = &rrsets[n];
			ans_sig[n] = &sigs[n];
			n++;
			if (dnssec && e.proof_len) /* a wildcard expansion's proof */
				add_cached_proof(&e, &proof, store, VG_ARRAY_SIZE(store), &used);
			break;
		}
		if (q->qtype != VG_T_CNAME && hop < max_chain &&
		    vg_cache_get_ex(env->cache, name, VG_T_CNAME, now, f, &e, sb, room) == 0 &&
		    !e.negative && e.rank >= VG_RANK_NONAUTH) {
			if ((u = usable(env, q, &e, &secure)) <= 0)
				goto not_usable;
			info->stale |= e.stale;
			info->prefetch |= e.prefetch;
			if (failed)
				stale_instead(&av, &failed);
			uint16_t l = vg_get16(e.rs.rdata);
			const uint8_t *target = vg_rdata_target(VG_T_CNAME, e.rs.rdata + 2, l);
			if (!target)
				return 0;
			rrsets[n] = e.rs;
			sigs[n] = e.sigs;
			ans[n] = &rrsets[n];
			ans_sig[n] = &sigs[n];
			n++;
			if (dnssec && e.proof_len)
				add_cached_proof(&e, &proof, store, VG_ARRAY_SIZE(store), &used);
			/* the next copy-out goes after this one (the proof is last) */
			off += vg_name_len(e.rs.owner) + e.rs.rdata_len + e.sigs.rdata_len +
			       e.proof_len;
			name = target;
			continue;
		}
		if (vg_cache_get_ex(env->cache, name, 0, now, f, &e, sb, room) == 0 &&
		    e.negative) {
			if ((u = usable(env, q, &e, &secure)) <= 0)
				goto not_usable;
			info->stale |= e.stale;
			info->prefetch |= e.prefetch;
			if (failed)
				stale_instead(&av, &failed);
			av.rcode = VG_RCODE_NXDOMAIN;
			rrsets[n] = e.soa;
			av.soa = &rrsets[n];
			goto negative;
		}
		if (failed) {
			if (flags & VG_CACHE_NO_FAIL)
				return 0;
			n = 0;
			goto write; /* the cached failure, av as set above */
		}
		return 0; /* miss: the iterator takes over */
	}
	goto write;
negative:
	if (dnssec && e.proof_len)
		add_cached_proof(&e, &proof, store, VG_ARRAY_SIZE(store), &used);
write:
	if (proof.n_auth || proof.soa_sig) {
		av.soa_sig = proof.soa_sig;
		av.auth = proof.auth;
		av.auth_sig = proof.auth_sig;
		av.nauth = proof.n_auth;
	}
	/* the hook (the policy's decision on the answer) sees every cached
	 * answer, negative and failed ones too (a decision may wait for the
	 * answer, and NSDNAME / NSIP rules need no answer records) */
	if (hook) {
		bool sd = av.soa && e.negative && e.proof_len > 0;
		for (unsigned k = 0; k < n && !sd; k++)
			sd = sigs[k].count > 0;
		hook->dnssec_data = sd;
		if (hook->fn(hook->arg, ans, av.rcode == VG_RCODE_SERVFAIL ? 0 : n)) {
			hook->fired = true;
			return 0;
		}
	}
	av.nans = n;
	if (info->stale && !av.ede)
		av.ede = VG_EDE_STALE_ANSWER; /* RFC 8767 4, RFC 8914 4.4 */
	av.ad = secure && av.rcode != VG_RCODE_SERVFAIL && env->dnssec->validation &&
		env->ta && !(q->flags & VG_F_CD);
	if (env->dnssec->validation && env->ta && !(q->flags & VG_F_CD))
		info->sec = av.ad ? VG_SEC_SECURE
			: e.failure && e.sec == VG_SEC_BOGUS ? VG_SEC_BOGUS : VG_SEC_INSECURE;
	if (av.ad && sentinel_refuses(env->ta, q->qname, q->qtype)) {
		struct vg_answer_view sv = { .rcode = VG_RCODE_SERVFAIL, .ede_text = sentinel_text };
		return vg_answer_write(cq, &sv, buf, cap);
	}
	return vg_answer_write(cq, &av, buf, cap);
not_usable:
	if (u == 0)
		return 0;
	if (hook && hook->fn(hook->arg, ans, 0)) {
		hook->fired = true;
		return 0;
	}
	av.rcode = VG_RCODE_SERVFAIL;
	av.ede = e.ede ? e.ede : 6;
	av.nans = 0;
	av.soa = NULL;
	return vg_answer_write(cq, &av, buf, cap);
}

void vg_resolv_abandon(struct vg_request *req, const char *why)
{
	req->rcode = VG_RCODE_SERVFAIL;
	req->fail_reason = why;
	req->ede = 0;
	req->ede_text = why;
}
