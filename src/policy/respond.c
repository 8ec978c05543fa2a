/* SPDX-License-Identifier: MIT
 *
 * Carrying out a policy decision (RPZ.md 2.2, 2.5): the answer a rule gives
 * -- NXDOMAIN, NODATA, TCP-only (TC over UDP), DROP, the null address, local
 * data, a CNAME redirect or walled garden to follow, an override's action --
 * and the decision log line for it.  The pipeline (src/pipeline) decides
 * when a decision is made; this file decides what it means for the client.
 *
 * Every answer written here carries EDE 15/16/17 with the text "vigil:
 * SOURCE rule RULE" and, for RPZ sources, the policy zone's SOA in the
 * additional section.  Nothing here allocates: records are built in caller
 * and stack buffers and written by the shared answer writer.
 */
#include <stdio.h>
#include <string.h>

#include "policy/engine.h"
#include "policy/plog.h"

/* The policy zone's SOA for the additional section (RPZ sources only). */
static void policy_soa(const struct vg_policy_src *src, struct vg_rrset *soa,
		       struct vg_answer_view *av)
{
	if (!src || !src->rpz)
		return;
	*soa = (struct vg_rrset){ .owner = src->origin, .type = VG_T_SOA, .rclass = VG_C_IN,
				  .ttl = src->soa_ttl, .count = 1,
				  .rdata_len = (uint16_t)(2 + vg_get16(src->soa)),
				  .rdata = src->soa };
	av->add_soa = soa;
}

/* Copy the chain RRsets @p rs into @p r (false: too many or too big: not followed). */
static bool redirect_chain(struct vg_redirect *r, struct vg_rrset *const *rs, unsigned n)
{
	size_t off = 0;
	r->nchain = 0;
	if (n > VG_REDIRECT_CHAIN)
		return false;
	for (unsigned i = 0; i < n; i++) {
		size_t ol = vg_name_len(rs[i]->owner);
		if (off + ol + rs[i]->rdata_len > sizeof(r->chain_buf))
			return false;
		r->chain[i].type = rs[i]->type;
		r->chain[i].count = rs[i]->count;
		r->chain[i].rdata_len = rs[i]->rdata_len;
		r->chain[i].ttl = rs[i]->ttl;
		r->chain[i].owner_off = (uint16_t)off;
		memcpy(r->chain_buf + off, rs[i]->owner, ol);
		off += ol;
		r->chain[i].rdata_off = (uint16_t)off;
		memcpy(r->chain_buf + off, rs[i]->rdata, rs[i]->rdata_len);
		off += rs[i]->rdata_len;
	}
	r->nchain = n;
	return true;
}

size_t vg_policy_redirect_answer(const struct vg_redirect *r, const struct vg_client_q *cq,
				 int rcode, struct vg_rrset *const *ans, unsigned nans,
				 const struct vg_rrset *soa, uint8_t *buf, size_t cap)
{
	bool fail = rcode == VG_RCODE_SERVFAIL;
	struct vg_rrset cn = { .owner = r->owner, .type = VG_T_CNAME, .rclass = VG_C_IN,
			       .ttl = r->ttl, .count = 1,
			       .rdata_len = (uint16_t)(2 + vg_get16(r->cname)), .rdata = r->cname };
	struct vg_rrset chain[VG_REDIRECT_CHAIN];
	struct vg_rrset *out[VG_POLICY_ANSWER_MAX + VG_REDIRECT_CHAIN + 1], psoa;
	unsigned n = 0;
	for (unsigned i = 0; i < r->nchain; i++) {
		chain[i] = (struct vg_rrset){ .owner = r->chain_buf + r->chain[i].owner_off,
					      .type = r->chain[i].type, .rclass = VG_C_IN,
					      .ttl = r->chain[i].ttl, .count = r->chain[i].count,
					      .rdata_len = r->chain[i].rdata_len,
					      .rdata = r->chain_buf + r->chain[i].rdata_off };
		out[n++] = &chain[i];
	}
	out[n++] = &cn;
	for (unsigned i = 0; !fail && i < nans && n < VG_ARRAY_SIZE(out); i++)
		out[n++] = ans[i];
	struct vg_answer_view av = { .rcode = rcode, .ans = out, .nans = n,
				     .soa = fail ? NULL : soa, .ede = r->ede,
				     .ede_text = r->text };
	policy_soa(r->src, &psoa, &av);
	return vg_answer_write(cq, &av, buf, cap);
}

/*
 * The local data of decision @p d for a query of type @p qtype (RPZ.md 2.2):
 * for ANY every record, else the RRset of that type; else the CNAME (a
 * walled garden's "*.garden" target becomes <owner>.garden).  The RRsets go
 * to @p out (*@p n: capacity in, count out), their RDATA into @p buf.
 * Returns 1 when the answer is a CNAME to follow (@p rdr has its target),
 * else 0 (records, or none: NODATA).  An override's "cname DOMAIN" is
 * @p ocname.
 */
static int local_data(const struct vg_policy *pol, const struct vg_policy_decision *d,
		      const uint8_t *ocname, uint16_t qtype, const uint8_t *owner,
		      struct vg_rrset **out, unsigned *n, struct vg_rrset *rrs, uint8_t *buf,
		      size_t cap, struct vg_redirect *rdr)
{
	struct vg_pol_hit h = { .rule = d->rule, .source = d->source };
	struct vg_pol_ldata ld;
	uint16_t types[8];
	unsigned nt = 0, max = *n < 8 ? *n : 8;
	const uint8_t *cname = ocname;
	uint32_t cttl = 60, cur = 0;
	*n = 0;
	while (!cname && d->rule && vg_pol_local_next(pol->snap, &h, &cur, &ld)) {
		if (ld.type == VG_T_CNAME && qtype != VG_T_CNAME && qtype != VG_T_ANY) {
			cname = ld.rdata;
			cttl = ld.ttl;
			break;
		}
		if (qtype != VG_T_ANY && ld.type != qtype)
			continue;
		unsigned t = 0;
		while (t < nt && types[t] != ld.type)
			t++;
		if (t == nt && nt < max)
			types[nt++] = ld.type;
	}
	if (cname) {
		/* a walled garden: "*.garden" -> <owner>.garden */
		size_t ol = vg_name_len(owner), cl = vg_name_len(cname), tl = cl;
		if (cname[0] == 1 && cname[1] == '*') {
			tl = ol - 1 + cl - 2;
			if (tl > VG_NAME_MAX)
				return 0; /* too long: NODATA */
			memcpy(rdr->target, owner, ol - 1);
			memcpy(rdr->target + ol - 1, cname + 2, cl - 2);
		} else {
			memcpy(rdr->target, cname, cl);
		}
		vg_put16(rdr->cname, (uint16_t)tl);
		memcpy(rdr->cname + 2, rdr->target, tl);
		rdr->ttl = cttl;
		if (qtype != VG_T_CNAME && qtype != VG_T_ANY)
			return 1;
		/* CNAME / ANY queries get the CNAME itself */
		rrs[0] = (struct vg_rrset){ .owner = owner, .type = VG_T_CNAME, .rclass = VG_C_IN,
					    .ttl = cttl, .count = 1, .rdata_len = (uint16_t)(2 + tl),
					    .rdata = rdr->cname };
		out[0] = &rrs[0];
		*n = 1;
		return 0;
	}
	size_t off = 0;
	for (unsigned t = 0; t < nt; t++) {
		struct vg_rrset *rs = &rrs[*n];
		*rs = (struct vg_rrset){ .owner = owner, .type = types[t], .rclass = VG_C_IN,
					 .ttl = UINT32_MAX, .rdata = buf + off };
		cur = 0;
		while (vg_pol_local_next(pol->snap, &h, &cur, &ld)) {
			if (ld.type != types[t])
				continue;
			if (off + 2 + ld.rdlen > cap || rs->rdata_len + 2u + ld.rdlen > UINT16_MAX)
				break;
			vg_put16(buf + off, ld.rdlen);
			memcpy(buf + off + 2, ld.rdata, ld.rdlen);
			off += 2u + ld.rdlen;
			rs->rdata_len = (uint16_t)(rs->rdata_len + 2 + ld.rdlen);
			rs->count++;
			if (ld.ttl < rs->ttl)
				rs->ttl = ld.ttl;
		}
		if (rs->count)
			out[(*n)++] = rs;
	}
	return 0;
}

/* ------------------------------------------------------------ the decision log */

static const char *const action_names[] = {
	[VG_ACT_NXDOMAIN] = "nxdomain", [VG_ACT_NODATA] = "nodata",
	[VG_ACT_PASSTHRU] = "passthru", [VG_ACT_DROP] = "drop",
	[VG_ACT_TCP_ONLY] = "tcp-only", [VG_ACT_LOCAL] = "local-data",
	[VG_ACT_GARDEN] = "walled-garden", [VG_ACT_NULL_ADDR] = "null-address",
};

const char *vg_policy_action_name(enum vg_pol_action a)
{
	return (size_t)a < VG_ARRAY_SIZE(action_names) && action_names[a] ? action_names[a]
									    : "unknown";
}

static const char *const trigger_names[] = {
	[VG_TRIG_CLIENT_IP] = "client-ip", [VG_TRIG_QNAME] = "qname",
	[VG_TRIG_RESP_IP] = "response-ip", [VG_TRIG_NSDNAME] = "nsdname",
	[VG_TRIG_NSIP] = "nsip",
};

static const char *trigger_name(enum vg_pol_trigger t)
{
	return (size_t)t < VG_ARRAY_SIZE(trigger_names) && trigger_names[t] ? trigger_names[t]
									     : "unknown";
}

/* One line per decision: JSON to the decision log, or text to the main log. */
static void log_decision(const struct vg_policy *pol, const struct vg_policy_client *c,
			 const uint8_t *qname, uint16_t qtype,
			 const struct vg_policy_decision *d, const char *text)
{
	if (!c->plog && !vg_log_enabled(VG_LOG_INFO))
		return;
	char qn[VG_NAME_MAX * 4 + 8], ca[VG_ADDRSTRLEN], tn[16];
	struct vg_sockaddr sa;
	unsigned port = 0;
	if (vg_sockaddr_from(&sa, c->addr) == 0) {
		vg_sockaddr_str(&sa, 0, ca, sizeof(ca));
		port = vg_sockaddr_port(&sa);
	} else {
		snprintf(ca, sizeof(ca), "?");
	}
	vg_name_to_str(qname, qn, sizeof(qn));
	vg_type_to_str(qtype, tn, sizeof(tn));
	const char *source = d->denied_by_allowlist ? "" : pol->src[d->source].name;
	const char *rule = strstr(text, " rule ");
	const char *trigger = d->denied_by_allowlist ? "allowlist" : trigger_name(d->trigger);
	char sn[VG_NAME_MAX * 4 + 8] = "";
	if (d->stage) /* matched at a later stage of the CNAME chain: that name */
		vg_name_to_str(d->stage_name, sn, sizeof(sn));
	rule = d->denied_by_allowlist ? "allowlist" : rule ? rule + 6 : text;
	const char *id = c->id && c->id[0] ? c->id : NULL;
	const char *by = d->by ? vg_policy_by_name(d->by) : NULL;
	if (!c->plog) {
		/* "(dot id laptop7 cert sha256:... subject CN=x)": the identities
		 * the transport gave, then the group and why it applies */
		char who[VG_POLICY_ID_MAX + VG_POLICY_CERT_MAX + 128];
		snprintf(who, sizeof(who), "%s%s%s%s%s%s%.120s", c->transport, id ? " id " : "",
			 id ? id : "", c->cert_fp ? " cert " : "", c->cert_fp ? c->cert_fp : "",
			 c->cert_subject ? " subject " : "",
			 c->cert_subject ? c->cert_subject : "");
		vg_log(VG_LOG_INFO,
		       "policy: client %s (%s) group %s%s%s%s qname %s type %s: %s (%s, %s%s%s)",
		       ca, who, d->group ? d->group : "-", by ? " (by " : "", by ? by : "",
		       by ? ")" : "", qn, tn, text, vg_policy_action_name(d->action), trigger,
		       d->stage ? ", at CNAME target " : "", sn);
		return;
	}
	struct vg_plog_entry e = {
		.client = ca, .port = port, .transport = c->transport,
		.client_id = id, .client_cert = c->cert_fp, .client_subject = c->cert_subject,
		.group = d->group, .group_by = by, .qname = qn, .qtype = tn, .source = source,
		.trigger = trigger, .rule = rule, .action = vg_policy_action_name(d->action),
		.ede = d->denied_by_allowlist ? 15 : pol->src[d->source].ede,
		.stage = d->stage, .stage_name = d->stage ? sn : NULL,
	};
	if (!vg_plog_write(c->plog, c->worker, &e) && c->log_dropped)
		VG_STAT_INC(*c->log_dropped);
}

void vg_policy_log_only(const struct vg_policy *pol, const struct vg_policy_decision *d,
			const struct vg_policy_client *c, const uint8_t *qname, uint16_t qtype)
{
	struct vg_policy_decision lo;
	memset(&lo, 0, offsetof(struct vg_policy_decision, name));
	lo.name[0] = lo.stage_name[0] = 0;
	lo.matched = true;
	lo.group = d->group;
	lo.by = d->by;
	lo.source = d->logonly.source;
	lo.trigger = (enum vg_pol_trigger)d->logonly.trigger;
	lo.action = VG_ACT_PASSTHRU;
	lo.line = d->logonly.line;
	lo.labels = d->logonly.labels;
	lo.wildcard = d->logonly.wildcard;
	lo.bits = d->logonly.bits;
	memcpy(lo.addr, d->logonly.addr, 16);
	char text[300];
	vg_policy_describe(pol, &lo, qname, text, sizeof(text));
	strncat(text, " (disabled: log only)", sizeof(text) - strlen(text) - 1);
	log_decision(pol, c, qname, qtype, &lo, text);
}

/* ------------------------------------------------------------ the answer */

enum vg_pol_outcome vg_policy_respond(const struct vg_policy *pol,
				      const struct vg_policy_decision *dp,
				      const struct vg_policy_client *c,
				      const struct vg_client_q *cq, struct vg_rrset *const *ans,
				      unsigned nans, struct vg_redirect *rdr, uint8_t *buf,
				      size_t cap, size_t *len, struct vg_policy_note *note)
{
	const struct vg_query *q = cq->q;
	struct vg_policy_decision d = *dp;
	char own[300];
	char *text = note ? note->text : own;
	size_t text_cap = note ? sizeof(note->text) : sizeof(own);
	const uint8_t *ocname;
	*len = 0;
	vg_policy_override(pol, &d, &ocname); /* the source's override, if any */
	vg_policy_describe(pol, &d, q->qname, text, text_cap);
	if (note)
		note->action = d.action;
	log_decision(pol, c, q->qname, q->qtype, &d, text);
	if (d.action == VG_ACT_PASSTHRU)
		return VG_POL_PASS; /* an override "passthru": logged, answered normally */
	if (d.action == VG_ACT_TCP_ONLY && !c->datagram)
		return VG_POL_PASS; /* over a stream the query is answered normally */
	if (d.action == VG_ACT_DROP)
		return VG_POL_DROP;
	const struct vg_policy_src *src = d.denied_by_allowlist ? NULL : &pol->src[d.source];
	struct vg_rrset soa = { 0 }, addr = { 0 };
	struct vg_rrset *out[VG_POLICY_ANSWER_MAX + 1];
	unsigned nout = d.stage ? vg_policy_chain(q->qname, ans, nans, d.stage, out,
						  VG_ARRAY_SIZE(out) - 1) : 0;
	const uint8_t *owner = d.stage ? d.stage_name : q->qname;
	uint8_t rd[2 + 16], lbuf[4096];
	struct vg_rrset lrs[8];
	struct vg_answer_view av = { .ede = src ? src->ede : 15, .ede_text = text,
				     .ans = out, .nans = nout };
	policy_soa(src, &soa, &av);
	switch (d.action) {
	case VG_ACT_TCP_ONLY: /* over UDP: an empty truncated answer, the client retries */
		av.rcode = VG_RCODE_NOERROR;
		av.tc = true;
		av.add_soa = NULL;
		av.nans = 0;
		break;
	case VG_ACT_NODATA:
		av.rcode = VG_RCODE_NOERROR;
		break;
	case VG_ACT_LOCAL:
	case VG_ACT_GARDEN: {
		unsigned k = VG_ARRAY_SIZE(out) - av.nans;
		int r = local_data(pol, &d, ocname, q->qtype, owner, out + av.nans, &k, lrs, lbuf,
				   sizeof(lbuf), rdr);
		if (r == 1 && redirect_chain(rdr, out, av.nans)) {
			/* follow the CNAME: its target is resolved (without policy); at a
			 * later chain stage the chain's CNAMEs come first */
			memcpy(rdr->owner, owner, vg_name_len(owner));
			rdr->ede = av.ede;
			snprintf(rdr->text, sizeof(rdr->text), "%s", text);
			rdr->src = src;
			return VG_POL_FOLLOW;
		}
		if (r == 1) { /* (a chain too long to carry: the CNAME, not followed) */
			lrs[0] = (struct vg_rrset){ .owner = owner, .type = VG_T_CNAME,
						    .rclass = VG_C_IN, .ttl = rdr->ttl, .count = 1,
						    .rdata_len = (uint16_t)(2 + vg_get16(rdr->cname)),
						    .rdata = rdr->cname };
			out[av.nans + k++] = &lrs[0];
		}
		av.rcode = VG_RCODE_NOERROR;
		av.nans += k; /* the records, or none: NODATA */
		break;
	}
	case VG_ACT_NULL_ADDR:
		av.rcode = VG_RCODE_NOERROR;
		if (q->qtype == VG_T_A || q->qtype == VG_T_AAAA) {
			uint16_t l = q->qtype == VG_T_A ? 4 : 16;
			memset(rd, 0, sizeof(rd));
			vg_put16(rd, l);
			addr = (struct vg_rrset){ .owner = owner, .type = q->qtype,
						  .rclass = VG_C_IN, .ttl = 60, .count = 1,
						  .rdata_len = (uint16_t)(2 + l), .rdata = rd };
			out[av.nans++] = &addr;
		}
		break;
	default:
		av.rcode = VG_RCODE_NXDOMAIN;
		break;
	}
	*len = vg_answer_write(cq, &av, buf, cap);
	return VG_POL_ANSWER;
}
