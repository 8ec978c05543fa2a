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
	if (req)
		vg_arena_free(req->arena); /* req lives in its own arena */
}

size_t vg__resolv_write(const struct vg_client_q *cq, int rcode, struct vg_rrset *const *ans,
			unsigned nans, const struct vg_rrset *soa, uint8_t *buf, size_t cap)
{
	const struct vg_query *q = cq->q;
	struct vg_pkt p;
	size_t limit = cq->limit < cap ? cq->limit : cap;

	uint16_t flags = (uint16_t)(VG_F_QR | VG_F_RA | (q->flags & (VG_F_RD | VG_F_CD)));
	vg_pkt_init(&p, buf, cap, q->id, flags);
	vg_pkt_set_rcode(&p, rcode);
	/* the question as the client wrote it (case preserved) */
	if (vg_pkt_copy_question(&p, q) < 0)
		goto truncated;
	vg_pkt_begin(&p, 1);
	for (unsigned i = 0; i < nans; i++)
		if (vg_pkt_put_rrset(&p, ans[i], ans[i]->ttl) < 0)
			goto truncated;
	if (soa && soa->count) {
		vg_pkt_begin(&p, 2);
		if (vg_pkt_put_rrset(&p, soa, soa->ttl) < 0)
			goto truncated;
	}
	if (q->edns.present && vg_pkt_put_opt(&p, cq->edns_size, rcode, q->edns.do_bit, NULL, 0) < 0)
		goto truncated;
	if (p.len > limit)
		goto truncated;
	return vg_pkt_finish(&p);
truncated:
	return vg_wire_error_reply(q, rcode, true, cq->edns_size, buf, cap);
}

size_t vg_resolv_write_answer(const struct vg_request *req, const struct vg_client_q *cq,
			      uint8_t *buf, size_t cap)
{
	return vg__resolv_write(cq, req->rcode, req->answer, req->n_answer, req->soa, buf, cap);
}

#define CACHED_MAX_CHAIN 16

size_t vg_resolv_answer_cached(const struct vg_resolv_env *env, const struct vg_client_q *cq,
			       uint8_t *buf, size_t cap)
{
	const struct vg_query *q = cq->q;
	struct vg_rrset rrsets[CACHED_MAX_CHAIN];
	struct vg_rrset *ans[CACHED_MAX_CHAIN];
	const struct vg_rrset *soa = NULL;
	struct vg_cache_entry e;
	unsigned n = 0;
	size_t off = 0;
	int rcode = VG_RCODE_NOERROR;
	const uint8_t *name = q->qname;
	uint32_t now = env->now_s ? env->now_s : vg_time_now_s();
	unsigned max_chain = env->cfg->max_cname_chain;

	if (q->qtype == VG_T_ANY || q->qtype == VG_T_RRSIG)
		return 0;
	if (max_chain >= CACHED_MAX_CHAIN)
		max_chain = CACHED_MAX_CHAIN - 1;
	for (unsigned hop = 0;; hop++) {
		uint8_t *sb = env->scratch + off;
		size_t room = VG_SCRATCH - off;
		int found = vg_cache_get(env->cache, name, q->qtype, now, &e, sb, room);
		if (found == 0 && e.failure && n == 0) {
			rcode = VG_RCODE_SERVFAIL; /* RFC 9520 failure cache */
			break;
		}
		if (found == 0 && !e.failure && (e.negative || e.rank >= VG_RANK_NONAUTH)) {
			if (e.negative) {
				rrsets[n] = e.soa;
				soa = &rrsets[n];
			} else {
				rrsets[n] = e.rs;
				ans[n] = &rrsets[n];
				n++;
			}
			break;
		}
		if (q->qtype != VG_T_CNAME && hop < max_chain &&
		    vg_cache_get(env->cache, name, VG_T_CNAME, now, &e, sb, room) == 0 &&
		    !e.negative && e.rank >= VG_RANK_NONAUTH) {
			uint16_t l = vg_get16(e.rs.rdata);
			const uint8_t *target = vg_rdata_target(VG_T_CNAME, e.rs.rdata + 2, l);
			if (!target)
				return 0;
			rrsets[n] = e.rs;
			ans[n] = &rrsets[n];
			n++;
			off += vg_name_len(e.rs.owner) + e.rs.rdata_len;
			name = target;
			continue;
		}
		if (vg_cache_get(env->cache, name, 0, now, &e, sb, room) == 0 && e.negative) {
			rcode = VG_RCODE_NXDOMAIN;
			rrsets[n] = e.soa;
			soa = &rrsets[n];
			break;
		}
		return 0; /* miss: the iterator takes over */
	}
	/* POLICY: a cached answer still passes the post-resolution policy here */
	return vg__resolv_write(cq, rcode, ans, n, soa, buf, cap);
}
