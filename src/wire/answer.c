/* SPDX-License-Identifier: MIT
 *
 * The answer writer (vg_answer_write): every answer a client gets -- from
 * the cache, from a resolved request, from the policy -- is written here,
 * with the client's question, its DO/AD/CD semantics, the Extended DNS
 * Error option (RFC 8914) and truncation to the transport's limit.
 */
#include <string.h>

#include "vigil/wire.h"

/* EDE option (RFC 8914): code 15, INFO-CODE, and a short EXTRA-TEXT. */
/* EDE option (RFC 8914): code 15, INFO-CODE, and a short EXTRA-TEXT. */
const char *vg_ede_text(uint16_t code)
{
	switch (code) {
	case 1: return "vigil: DNSKEY algorithm not supported";
	case 2: return "vigil: DS digest type not supported";
	case 6: return "vigil: DNSSEC validation failed";
	case 7: return "vigil: signature expired";
	case 8: return "vigil: signature not yet valid";
	case 9: return "vigil: no DNSKEY matches the DS";
	case 10: return "vigil: RRSIGs missing";
	case 12: return "vigil: NSEC/NSEC3 proof missing";
	case 13: return "vigil: failure cached (RFC 9520)";
	case 22: return "vigil: no reachable authority";
	case 23: return "vigil: network error";
	case 27: return "vigil: NSEC3 iterations above limit, treated as insecure";
	default: return "";
	}
}

const char *vg_ede_cached_text(uint16_t cause)
{
	switch (cause) {
	case 22: return "vigil: failure cached (RFC 9520): no reachable authority";
	case 23: return "vigil: failure cached (RFC 9520): network error";
	default: return "vigil: failure cached (RFC 9520)";
	}
}

static uint16_t ede_option(uint16_t code, const char *given, uint8_t *out, size_t cap)
{
	const char *text = given ? given : vg_ede_text(code);
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

/* Is answer @p i a repeat of an earlier RRset of the view?  Whoever built the
 * view, the client gets each RRset once (RFC 2181 5). */
static bool repeated(const struct vg_answer_view *av, unsigned i)
{
	for (unsigned k = 0; k < i; k++)
		if (av->ans[k]->type == av->ans[i]->type &&
		    vg_name_eq(av->ans[k]->owner, av->ans[i]->owner))
			return true;
	return false;
}

size_t vg_answer_write(const struct vg_client_q *cq, const struct vg_answer_view *av,
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
		if (repeated(av, i))
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
		/* an EDE code, or text alone: EDE 0 "Other Error" (RFC 8914 4.1) */
		uint16_t olen = av->ede || av->ede_text ?
					ede_option(av->ede, av->ede_text, opt, sizeof(opt)) : 0;
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

