/* SPDX-License-Identifier: MIT
 *
 * Requests and answers: request allocation, the answer writer shared by the
 * cache-hit path and resolved requests, and the cache-hit path itself.
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
				  uint16_t qtype, uint64_t now_ms)
{
	struct vg_arena *a = vg_arena_new(REQ_ARENA_FIRST, REQ_ARENA_MAX);
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
	req->start_ms = now_ms;
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

/* EDE option (RFC 8914): code 15, INFO-CODE, and a short EXTRA-TEXT. */
static uint16_t ede_option(uint16_t code, const char *given, uint8_t *out, size_t cap)
{
	const char *text;
	switch (given ? 0 : code) {
	case 1: text = "vigil: DNSKEY algorithm not supported"; break;
	case 2: text = "vigil: DS digest type not supported"; break;
	case 6: text = "vigil: DNSSEC validation failed"; break;
	case 7: text = "vigil: signature expired"; break;
	case 8: text = "vigil: signature not yet valid"; break;
	case 9: text = "vigil: no DNSKEY matches the DS"; break;
	case 10: text = "vigil: RRSIGs missing"; break;
	case 12: text = "vigil: NSEC/NSEC3 proof missing"; break;
	case 27: text = "vigil: NSEC3 iterations above limit, treated as insecure"; break;
	default: text = given ? given : ""; break;
	}
	size_t tl = strlen(text);
	if (cap < 6 + tl)
		return 0;
	vg_put16(out, 15);
	vg_put16(out + 2, (uint16_t)(2 + tl));
	vg_put16(out + 4, code);
	memcpy(out + 6, text, tl);
	return (uint16_t)(6 + tl);
}

static bool is_dnssec_type(uint16_t t)
{
	return t == VG_T_RRSIG || t == VG_T_NSEC || t == VG_T_NSEC3;
}

size_t vg__resolv_write(const struct vg_client_q *cq, const struct vg_answer_view *av,
			uint8_t *buf, size_t cap)
{
	const struct vg_query *q = cq->q;
	struct vg_pkt p;
	size_t limit = cq->limit < cap ? cq->limit : cap;
	bool dnssec = q->edns.present && q->edns.do_bit;
	int rcode = av->rcode;

	uint16_t flags = (uint16_t)(VG_F_QR | VG_F_RA | (q->flags & (VG_F_RD | VG_F_CD)));
	if (av->ad && (dnssec || (q->flags & VG_F_AD)))
		flags |= VG_F_AD;
	if (av->tc)
		flags |= VG_F_TC;
	vg_pkt_init(&p, buf, cap, q->id, flags);
	vg_pkt_set_rcode(&p, rcode);
	/* the question as the client wrote it (case preserved) */
	if (vg_pkt_copy_question(&p, q) < 0)
		goto truncated;
	vg_pkt_begin(&p, 1);
	for (unsigned i = 0; i < av->nans; i++) {
		if (!dnssec && is_dnssec_type(av->ans[i]->type) && q->qtype != av->ans[i]->type)
			continue;
		if (vg_pkt_put_rrset(&p, av->ans[i], av->ans[i]->ttl) < 0)
			goto truncated;
		const struct vg_rrset *sig = av->ans_sig ? av->ans_sig[i] : NULL;
		if (dnssec && sig && sig->count && vg_pkt_put_rrset(&p, sig, av->ans[i]->ttl) < 0)
			goto truncated;
	}
	vg_pkt_begin(&p, 2);
	if (av->soa && av->soa->count) {
		if (vg_pkt_put_rrset(&p, av->soa, av->soa->ttl) < 0)
			goto truncated;
		if (dnssec && av->soa_sig && av->soa_sig->count &&
		    vg_pkt_put_rrset(&p, av->soa_sig, av->soa->ttl) < 0)
			goto truncated;
	}
	for (unsigned i = 0; dnssec && rcode != VG_RCODE_SERVFAIL && i < av->nauth; i++) {
		uint32_t ttl = av->soa ? av->soa->ttl : av->auth[i]->ttl;
		if (vg_pkt_put_rrset(&p, av->auth[i], ttl) < 0)
			goto truncated;
		if (av->auth_sig && av->auth_sig[i] && av->auth_sig[i]->count &&
		    vg_pkt_put_rrset(&p, av->auth_sig[i], ttl) < 0)
			goto truncated;
	}
	if (av->add_soa) {
		vg_pkt_begin(&p, 3);
		if (vg_pkt_put_rrset(&p, av->add_soa, av->add_soa->ttl) < 0)
			goto truncated;
	}
	if (q->edns.present) {
		uint8_t opt[320];
		uint16_t olen = av->ede ? ede_option(av->ede, av->ede_text, opt, sizeof(opt)) : 0;
		if (vg_pkt_put_opt(&p, cq->edns_size, rcode, q->edns.do_bit, olen ? opt : NULL,
				   olen) < 0)
			goto truncated;
	}
	if (p.len > limit)
		goto truncated;
	return vg_pkt_finish(&p);
truncated:
	return vg_wire_error_reply(q, rcode, true, cq->edns_size, buf, cap);
}

size_t vg_resolv_write_answer(const struct vg_request *req, const struct vg_client_q *cq,
			      uint8_t *buf, size_t cap)
{
	bool fail = req->rcode == VG_RCODE_SERVFAIL;
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
	};
	return vg__resolv_write(cq, &av, buf, cap);
}

#define CACHED_MAX_CHAIN 16

/* Can this cached entry answer the client?  1 yes, 0 no (a miss: the
 * iterator validates it), -1 it is bogus (SERVFAIL). */
static int usable(const struct vg_resolv_env *env, const struct vg_query *q,
		  const struct vg_cache_entry *e, bool *secure)
{
	if (!env->cfg->dnssec_validation || !env->ta || (q->flags & VG_F_CD)) {
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

size_t vg_resolv_answer_cached(const struct vg_resolv_env *env, const struct vg_client_q *cq,
			       uint8_t *buf, size_t cap)
{
	const struct vg_query *q = cq->q;
	struct vg_rrset rrsets[CACHED_MAX_CHAIN], sigs[CACHED_MAX_CHAIN];
	struct vg_rrset *ans[CACHED_MAX_CHAIN], *ans_sig[CACHED_MAX_CHAIN];
	struct vg_rrset store[2 * VG_AUTH_MAX + 1];
	struct vg_result proof;
	struct vg_answer_view av = { .rcode = VG_RCODE_NOERROR, .ans = ans, .ans_sig = ans_sig };
	struct vg_cache_entry e;
	unsigned n = 0;
	size_t off = 0;
	const uint8_t *name = q->qname;
	uint32_t now = env->now_s ? env->now_s : vg_time_now_s();
	unsigned max_chain = env->cfg->max_cname_chain;
	bool secure = true, dnssec = q->edns.present && q->edns.do_bit;
	int u;

	if (q->qtype == VG_T_ANY || q->qtype == VG_T_RRSIG)
		return 0;
	if (max_chain >= CACHED_MAX_CHAIN)
		max_chain = CACHED_MAX_CHAIN - 1;
	for (unsigned hop = 0;; hop++) {
		uint8_t *sb = env->scratch + off;
		size_t room = VG_SCRATCH - off;
		int found = vg_cache_get(env->cache, name, q->qtype, now, &e, sb, room);
		if (found == 0 && e.failure && n == 0) {
			if (e.sec == VG_SEC_BOGUS && (q->flags & VG_F_CD))
				return 0; /* CD: the unvalidated answer is wanted */
			av.rcode = VG_RCODE_SERVFAIL; /* RFC 9520 failure cache */
			av.ede = e.sec == VG_SEC_BOGUS ? e.ede : 0;
			break;
		}
		if (found == 0 && !e.failure && (e.negative || e.rank >= VG_RANK_NONAUTH)) {
			if ((u = usable(env, q, &e, &secure)) <= 0)
				goto not_usable;
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
			break;
		}
		if (q->qtype != VG_T_CNAME && hop < max_chain &&
		    vg_cache_get(env->cache, name, VG_T_CNAME, now, &e, sb, room) == 0 &&
		    !e.negative && e.rank >= VG_RANK_NONAUTH) {
			if ((u = usable(env, q, &e, &secure)) <= 0)
				goto not_usable;
			uint16_t l = vg_get16(e.rs.rdata);
			const uint8_t *target = vg_rdata_target(VG_T_CNAME, e.rs.rdata + 2, l);
			if (!target)
				return 0;
			rrsets[n] = e.rs;
			sigs[n] = e.sigs;
			ans[n] = &rrsets[n];
			ans_sig[n] = &sigs[n];
			n++;
			off += vg_name_len(e.rs.owner) + e.rs.rdata_len + e.sigs.rdata_len;
			name = target;
			continue;
		}
		if (vg_cache_get(env->cache, name, 0, now, &e, sb, room) == 0 && e.negative) {
			if ((u = usable(env, q, &e, &secure)) <= 0)
				goto not_usable;
			av.rcode = VG_RCODE_NXDOMAIN;
			rrsets[n] = e.soa;
			av.soa = &rrsets[n];
			goto negative;
		}
		return 0; /* miss: the iterator takes over */
	}
	goto write;
negative:
	if (dnssec && e.proof_len) {
		memset(&proof, 0, sizeof(proof));
		vg__proof_unpack(e.proof, e.proof_len, &proof, store, VG_ARRAY_SIZE(store));
		av.soa_sig = proof.soa_sig;
		av.auth = proof.auth;
		av.auth_sig = proof.auth_sig;
		av.nauth = proof.n_auth;
	}
write:
	/* POLICY: a cached answer still passes the post-resolution policy here,
	 * negative and failed ones too (a decision may wait for the answer, and
	 * NSDNAME / NSIP rules need no answer records) */
	if (cq->hook) {
		bool sd = av.soa && e.negative && e.proof_len > 0;
		for (unsigned k = 0; k < n && !sd; k++)
			sd = sigs[k].count > 0;
		cq->hook->dnssec_data = sd;
		if (cq->hook->fn(cq->hook->arg, ans, av.rcode == VG_RCODE_SERVFAIL ? 0 : n)) {
			cq->hook->fired = true;
			return 0;
		}
	}
	av.nans = n;
	av.ad = secure && av.rcode != VG_RCODE_SERVFAIL && env->cfg->dnssec_validation &&
		env->ta && !(q->flags & VG_F_CD);
	return vg__resolv_write(cq, &av, buf, cap);
not_usable:
	if (u == 0)
		return 0;
	if (cq->hook && cq->hook->fn(cq->hook->arg, ans, 0)) {
		cq->hook->fired = true;
		return 0;
	}
	av.rcode = VG_RCODE_SERVFAIL;
	av.ede = e.ede ? e.ede : 6;
	av.nans = 0;
	av.soa = NULL;
	return vg__resolv_write(cq, &av, buf, cap);
}
