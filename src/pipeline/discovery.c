/* SPDX-License-Identifier: MIT
 *
 * Discovery: the names vigil answers itself, before the policy, the cache
 * and resolution (pipeline stage 2b, after the access list).
 *
 *   resolver.arpa        DDR (RFC 9462): _dns.resolver.arpa SVCB is answered
 *                        with one SVCB record (RFC 9460, RFC 9461) per
 *                        encrypted endpoint vigil announces; every other name
 *                        and type at or below resolver.arpa, and SVCB when
 *                        there is nothing to announce (or discovery.ddr is
 *                        no), is NODATA (RFC 9462 section 6.4: the name is
 *                        special-use and never sent upstream).
 *   use-application-dns.net
 *                        the application DNS canary: NXDOMAIN when
 *                        discovery.block-doh-canary is on (Firefox then keeps
 *                        its DNS on the network's resolver); otherwise the
 *                        name resolves as any other.
 *
 * The SVCB RDATA is written here, not by ldns: SvcPriority, TargetName
 * (uncompressed, RFC 9460 section 2.2), then the SvcParams in ascending key
 * order -- alpn (1: length-prefixed protocol ids), port (3), ipv4hint (4),
 * ipv6hint (6), dohpath (7: the URI template, RFC 9461 section 5).  Nothing
 * is allocated; these queries are rare, so the records are built per query.
 */
#include <string.h>

#include "pipeline/impl.h"

enum { KEY_ALPN = 1, KEY_PORT = 3, KEY_IPV4HINT = 4, KEY_IPV6HINT = 6, KEY_DOHPATH = 7 };

/* lower-case wire names (the query's qname is lower-cased by the parser) */
static const uint8_t ddr_name[] = "\x04_dns\x08resolver\x04" "arpa";      /* + root */
static const uint8_t arpa_zone[] = "\x08resolver\x04" "arpa";             /* + root */
static const uint8_t canary[] = "\x13use-application-dns\x03net";       /* + root */

/* A SvcParam header (key, length); false when it does not fit. */
static bool param(uint8_t *out, size_t cap, size_t *off, uint16_t key, size_t len)
{
	if (len > UINT16_MAX || cap - *off < 4 + len)
		return false;
	vg_put16(out + *off, key);
	vg_put16(out + *off + 2, (uint16_t)len);
	*off += 4;
	return true;
}

size_t vg_ddr_svcb_rdata(const struct vg_ddr_opts *o, size_t i, uint8_t *out, size_t cap)
{
	const struct vg_ddr_endpoint *e;
	size_t off = 0, tl, al, pl;

	if (i >= o->n_ep || i >= VG_DDR_MAX_ENDPOINTS)
		return 0;
	e = &o->ep[i];
	tl = vg_name_len(o->target);
	al = strnlen(e->alpn, sizeof(e->alpn));
	pl = strnlen(o->dohpath, sizeof(o->dohpath));
	if (!o->target[0] || !al || al > 255 || cap < 2 + tl)
		return 0; /* no TargetName ("." would name _dns.resolver.arpa itself) */
	vg_put16(out, (uint16_t)(i + 1)); /* SvcPriority: ServiceMode, in the given order */
	memcpy(out + 2, o->target, tl);
	off = 2 + tl;
	if (!param(out, cap, &off, KEY_ALPN, 1 + al))
		return 0;
	out[off] = (uint8_t)al;
	memcpy(out + off + 1, e->alpn, al);
	off += 1 + al;
	if (!param(out, cap, &off, KEY_PORT, 2))
		return 0;
	vg_put16(out + off, e->port);
	off += 2;
	if (e->n_v4 && e->n_v4 <= VG_DDR_MAX_HINTS) {
		if (!param(out, cap, &off, KEY_IPV4HINT, 4 * e->n_v4))
			return 0;
		memcpy(out + off, e->v4, 4 * e->n_v4);
		off += 4 * e->n_v4;
	}
	if (e->n_v6 && e->n_v6 <= VG_DDR_MAX_HINTS) {
		if (!param(out, cap, &off, KEY_IPV6HINT, 16 * e->n_v6))
			return 0;
		memcpy(out + off, e->v6, 16 * e->n_v6);
		off += 16 * e->n_v6;
	}
	if (e->doh && pl) {
		if (!param(out, cap, &off, KEY_DOHPATH, pl))
			return 0;
		memcpy(out + off, o->dohpath, pl);
		off += pl;
	}
	return off;
}

/* Is @p name (wire, lower-case, @p len bytes with the root) @p zone or below it? */
static bool at_or_below(const uint8_t *name, size_t len, const uint8_t *zone, size_t zlen)
{
	size_t off = 0;
	if (len < zlen || memcmp(name + len - zlen, zone, zlen))
		return false;
	while (off < len - zlen && name[off]) /* the suffix must start at a label */
		off += 1u + name[off];
	return off == len - zlen;
}

/* The synthesised SOA of resolver.arpa, for NODATA (negative TTL 300). */
static void arpa_soa(struct vg_rrset *soa, uint8_t *rd, size_t cap)
{
	static const uint8_t rname[] = "\x06nobody\x07invalid";
	static const uint32_t v[5] = { 1, 3600, 1200, 604800, VG_DDR_TTL };
	size_t zl = sizeof(arpa_zone), rl = sizeof(rname), off = 2;

	if (cap < 2 + zl + rl + 20) {
		soa->count = 0;
		return;
	}
	memcpy(rd + off, arpa_zone, zl);
	off += zl;
	memcpy(rd + off, rname, rl);
	off += rl;
	for (int i = 0; i < 5; i++, off += 4)
		vg_put32(rd + off, v[i]);
	vg_put16(rd, (uint16_t)(off - 2));
	*soa = (struct vg_rrset){ .owner = arpa_zone, .type = VG_T_SOA, .rclass = VG_C_IN,
				  .ttl = VG_DDR_TTL, .count = 1, .rdata_len = (uint16_t)off,
				  .rdata = rd };
}

/* The answer for a name at or below resolver.arpa (the buffers live here,
 * not in the caller's frame: every query passes through the checks). */
static __attribute__((noinline)) size_t answer_arpa(const struct vg_ddr_opts *o,
						    const struct vg_client_q *cq, uint8_t *buf,
						    size_t cap)
{
	const struct vg_query *q = cq->q;
	size_t len = q->qname_len;
	struct vg_answer_view av = { .rcode = VG_RCODE_NOERROR };
	struct vg_rrset svcb, soa, *ans[1] = { &svcb };
	uint8_t rd[VG_DDR_MAX_ENDPOINTS * 768], soa_rd[96];

	if (o->enabled && o->n_ep && q->qtype == VG_T_SVCB && len == sizeof(ddr_name) &&
	    !memcmp(q->qname, ddr_name, len)) {
		size_t off = 0;
		svcb = (struct vg_rrset){ .owner = q->qname, .type = VG_T_SVCB, .rclass = VG_C_IN,
					  .ttl = VG_DDR_TTL };
		for (size_t i = 0; i < o->n_ep && i < VG_DDR_MAX_ENDPOINTS; i++) {
			size_t n = vg_ddr_svcb_rdata(o, i, rd + off + 2, sizeof(rd) - off - 2);
			if (!n)
				continue;
			vg_put16(rd + off, (uint16_t)n);
			off += 2 + n;
			svcb.count++;
		}
		svcb.rdata = rd;
		svcb.rdata_len = (uint16_t)off;
		if (svcb.count) {
			av.ans = ans;
			av.nans = 1;
			return vg_answer_write(cq, &av, buf, cap);
		}
	}
	arpa_soa(&soa, soa_rd, sizeof(soa_rd)); /* NODATA */
	av.soa = soa.count ? &soa : NULL;
	return vg_answer_write(cq, &av, buf, cap);
}

size_t vg__pipe_discovery(const struct vg_ddr_opts *o, const struct vg_client_q *cq,
			  uint8_t *buf, size_t cap, bool *answered)
{
	const struct vg_query *q = cq->q;
	size_t len = q->qname_len;

	*answered = false;
	/* the common case costs a length check and a short compare */
	if (o->block_canary && len == sizeof(canary) && !memcmp(q->qname, canary, len)) {
		struct vg_answer_view av = { .rcode = VG_RCODE_NXDOMAIN, .ede = 15,
					     .ede_text = "vigil: discovery.block-doh-canary" };
		*answered = true;
		return vg_answer_write(cq, &av, buf, cap);
	}
	if (len < sizeof(arpa_zone) || !at_or_below(q->qname, len, arpa_zone, sizeof(arpa_zone)))
		return 0;
	*answered = true;
	return answer_arpa(o, cq, buf, cap);
}
