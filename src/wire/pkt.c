/* SPDX-License-Identifier: MIT
 *
 * The message writer: header, question, records with name compression, OPT.
 *
 * Compression remembers the offset of every label sequence written in full
 * (up to VG_PKT_COMP of them); a new name is compressed against the longest
 * remembered suffix.  Names inside rdata are compressed only for the types
 * RFC 3597 section 4 allows (NS, CNAME, SOA, MX, PTR and the obsolete ones).
 * On VG_ENOSPACE the packet is left as it was before the failed call.
 */
#include <string.h>

#include "vigil/err.h"
#include "vigil/wire.h"

static inline uint8_t lc(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

void vg_pkt_init(struct vg_pkt *p, uint8_t *buf, size_t cap, uint16_t id, uint16_t flags)
{
	p->buf = buf;
	p->cap = cap > 65535 ? 65535 : cap;
	p->len = VG_HDR_LEN;
	memset(p->counts, 0, sizeof(p->counts));
	p->section = 0;
	p->ncomp = 0;
	p->qname_lc = NULL;
	p->qname_lc_len = 0;
	vg_put16(buf, id);
	vg_put16(buf + 2, flags);
	memset(buf + 4, 0, 8);
}

void vg_pkt_set_rcode(struct vg_pkt *p, int rcode)
{
	p->buf[3] = (uint8_t)((p->buf[3] & 0xf0) | (rcode & 0xf));
}

/* Does the (possibly compressed) name at @p off equal uncompressed @p name? */
static bool pkt_name_eq(const uint8_t *buf, size_t off, const uint8_t *name)
{
	for (unsigned hops = 0; hops < 64;) {
		uint8_t l = buf[off];
		if ((l & 0xc0) == 0xc0) {
			off = (size_t)((l & 0x3f) << 8 | buf[off + 1]);
			hops++;
			continue;
		}
		if (l != *name)
			return false;
		if (l == 0)
			return true;
		for (unsigned i = 1; i <= l; i++)
			if (buf[off + i] != name[i] && lc(buf[off + i]) != lc(name[i]))
				return false;
		off += l + 1u;
		name += l + 1;
	}
	return false;
}

/* Write @p name at the end, compressed if @p compress; remembers new suffixes. */
static int put_name(struct vg_pkt *p, const uint8_t *name, bool compress)
{
	const uint8_t *s = name;
	size_t ptr = 0;
	/* most owners of an answer are the question's name: a pointer to it at
	 * once, when the bytes equal its lower-cased copy (what the walk below
	 * would find first, since comp[0] is the question) */
	if (compress && p->qname_lc && p->ncomp && p->comp[0] == VG_HDR_LEN &&
	    name[0] == p->qname_lc[0] && vg_name_len(name) == p->qname_lc_len &&
	    memcmp(name, p->qname_lc, p->qname_lc_len) == 0) {
		ptr = VG_HDR_LEN; /* the whole name: nothing written before the pointer */
		goto found;
	}
	if (compress) {
		for (; *s; s += *s + 1) {
			for (unsigned i = 0; i < p->ncomp; i++) {
				if (pkt_name_eq(p->buf, p->comp[i], s)) {
					ptr = p->comp[i];
					goto found;
				}
			}
		}
	} else {
		s += vg_name_len(name) - 1;
	}
found:;
	size_t plain = (size_t)(s - name);
	size_t need = plain + (ptr ? 2 : 1);
	if (p->cap - p->len < need)
		return VG_ENOSPACE;
	/* remember where each written label sequence starts */
	for (const uint8_t *q = name; q < s && p->ncomp < VG_PKT_COMP; q += *q + 1) {
		size_t at = p->len + (size_t)(q - name);
		if (at < 0x4000)
			p->comp[p->ncomp++] = (uint16_t)at;
	}
	memcpy(p->buf + p->len, name, plain);
	p->len += plain;
	if (ptr) {
		vg_put16(p->buf + p->len, (uint16_t)(0xc000 | ptr));
		p->len += 2;
	} else {
		p->buf[p->len++] = 0;
	}
	return 0;
}

int vg_pkt_put_question(struct vg_pkt *p, const uint8_t *qname, uint16_t qtype, uint16_t qclass)
{
	size_t save = p->len;
	unsigned nc = p->ncomp;
	int r = put_name(p, qname, true);
	if (r == 0 && p->cap - p->len < 4)
		r = VG_ENOSPACE;
	if (r < 0) {
		p->len = save;
		p->ncomp = nc;
		return r;
	}
	vg_put16(p->buf + p->len, qtype);
	vg_put16(p->buf + p->len + 2, qclass);
	p->len += 4;
	p->counts[0]++;
	return 0;
}

int vg_pkt_copy_question(struct vg_pkt *p, const struct vg_query *q)
{
	/* a query's name is the first in the message, so it is never compressed:
	 * vg_query_parse checked that its qname_len bytes start at offset 12 */
	size_t n = (size_t)q->qname_len + 4;
	if (q->qdcount != 1 || !q->qname_len || p->len != VG_HDR_LEN || q->len < VG_HDR_LEN + n ||
	    (q->pkt[VG_HDR_LEN] & 0xc0))
		return VG_EINVAL;
	if (p->cap - p->len < n)
		return VG_ENOSPACE;
	memcpy(p->buf + VG_HDR_LEN, q->pkt + VG_HDR_LEN, n);
	p->qname_lc = q->qname;
	p->qname_lc_len = q->qname_len;
	for (size_t o = VG_HDR_LEN; p->buf[o] && p->ncomp < VG_PKT_COMP; o += p->buf[o] + 1u)
		p->comp[p->ncomp++] = (uint16_t)o;
	p->len += n;
	p->counts[0]++;
	return 0;
}

void vg_pkt_begin(struct vg_pkt *p, int section)
{
	if (section > p->section)
		p->section = section;
}

/* rdata compression layout for RFC 3597 well-known types */
static int put_rdata(struct vg_pkt *p, uint16_t type, const uint8_t *rd, uint16_t rdlen)
{
	int names = 0;
	size_t pre = 0, post = 0;
	switch (type) {
	case VG_T_NS: case VG_T_CNAME: case VG_T_PTR: case VG_T_MD: case VG_T_MF:
	case VG_T_MB: case VG_T_MG: case VG_T_MR:
		names = 1;
		break;
	case VG_T_MX:
		names = 1;
		pre = 2;
		break;
	case VG_T_SOA:
		names = 2;
		post = 20;
		break;
	case VG_T_MINFO:
		names = 2;
		break;
	default:
		break;
	}
	if (names == 0) {
		if (p->cap - p->len < rdlen)
			return VG_ENOSPACE;
		memcpy(p->buf + p->len, rd, rdlen);
		p->len += rdlen;
		return 0;
	}
	/* validate the stored layout before trusting it */
	size_t o = pre;
	if (rdlen < pre)
		return VG_EMALFORMED;
	if (p->cap - p->len < pre)
		return VG_ENOSPACE;
	memcpy(p->buf + p->len, rd, pre);
	p->len += pre;
	for (int i = 0; i < names; i++) {
		int n = vg_name_check(rd + o, rdlen - o);
		if (n < 0)
			return VG_EMALFORMED;
		int r = put_name(p, rd + o, true);
		if (r < 0)
			return r;
		o += (size_t)n;
	}
	if (rdlen - o != post)
		return VG_EMALFORMED;
	if (p->cap - p->len < post)
		return VG_ENOSPACE;
	memcpy(p->buf + p->len, rd + o, post);
	p->len += post;
	return 0;
}

int vg_pkt_put_rr(struct vg_pkt *p, const uint8_t *owner, uint16_t type, uint16_t rclass,
		  uint32_t ttl, const uint8_t *rdata, uint16_t rdlen)
{
	size_t save = p->len;
	unsigned nc = p->ncomp;
	int r;
	if (p->section < 1)
		p->section = 1;
	r = put_name(p, owner, true);
	if (r < 0)
		goto fail;
	if (p->cap - p->len < 10) {
		r = VG_ENOSPACE;
		goto fail;
	}
	uint8_t *h = p->buf + p->len;
	vg_put16(h, type);
	vg_put16(h + 2, rclass);
	vg_put32(h + 4, ttl);
	p->len += 10;
	size_t rdstart = p->len;
	r = put_rdata(p, type, rdata, rdlen);
	if (r < 0)
		goto fail;
	vg_put16(h + 8, (uint16_t)(p->len - rdstart));
	p->counts[p->section]++;
	return 0;
fail:
	p->len = save;
	p->ncomp = nc;
	return r;
}

int vg_pkt_put_rrset(struct vg_pkt *p, const struct vg_rrset *rs, uint32_t ttl)
{
	const uint8_t *d = rs->rdata, *end = rs->rdata + rs->rdata_len;
	size_t save = p->len;
	unsigned nc = p->ncomp;
	uint16_t counts[4];
	int r = 0;
	memcpy(counts, p->counts, sizeof(counts));
	for (unsigned i = 0; i < rs->count; i++) {
		uint16_t l;
		if (end - d < 2 || end - d - 2 < (l = vg_get16(d))) {
			r = VG_EMALFORMED;
			break;
		}
		r = vg_pkt_put_rr(p, rs->owner, rs->type, rs->rclass, ttl, d + 2, l);
		if (r < 0)
			break;
		d += 2 + l;
	}
	if (r < 0) { /* all or nothing: never half an RRset */
		p->len = save;
		p->ncomp = nc;
		memcpy(p->counts, counts, sizeof(counts));
	}
	return r;
}

int vg_pkt_put_opt(struct vg_pkt *p, uint16_t udp_size, int rcode, bool do_bit,
		   const uint8_t *opts, uint16_t optlen)
{
	if (p->cap - p->len < 11u + optlen)
		return VG_ENOSPACE;
	p->section = 3;
	uint8_t *h = p->buf + p->len;
	h[0] = 0;
	vg_put16(h + 1, VG_T_OPT);
	vg_put16(h + 3, udp_size);
	h[5] = (uint8_t)(rcode >> 4);
	h[6] = 0; /* version */
	vg_put16(h + 7, do_bit ? 0x8000 : 0);
	vg_put16(h + 9, optlen);
	if (optlen)
		memcpy(h + 11, opts, optlen);
	p->len += 11u + optlen;
	p->counts[3]++;
	vg_pkt_set_rcode(p, rcode & 0xf);
	return 0;
}

size_t vg_pkt_finish(struct vg_pkt *p)
{
	for (int i = 0; i < 4; i++)
		vg_put16(p->buf + 4 + 2 * i, p->counts[i]);
	return p->len;
}

size_t vg_wire_error_reply(const struct vg_query *q, int rcode, bool tc, uint16_t udp_size,
			   uint8_t *buf, size_t cap)
{
	struct vg_pkt p;
	if (cap < VG_HDR_LEN)
		return 0;
	uint16_t flags = (uint16_t)(VG_F_QR | (q->flags & (VG_F_RD | VG_F_CD | 0x7800)) | VG_F_RA);
	if (tc)
		flags |= VG_F_TC;
	vg_pkt_init(&p, buf, cap, q->id, flags);
	if (q->qdcount == 1 && q->qname_len) {
		/* echo the question as the client wrote it (case preserved) */
		uint8_t name[VG_NAME_MAX];
		size_t next;
		if (vg_name_unpack(q->pkt, q->len, VG_HDR_LEN, name, false, &next) > 0)
			(void)vg_pkt_put_question(&p, name, q->qtype, q->qclass);
	}
	if (q->edns.present || rcode > 15) {
		if (vg_pkt_put_opt(&p, udp_size, rcode, q->edns.do_bit, NULL, 0) < 0)
			vg_pkt_set_rcode(&p, rcode & 0xf);
	} else {
		vg_pkt_set_rcode(&p, rcode);
	}
	return vg_pkt_finish(&p);
}

int vg_wire_make_query(uint8_t *buf, size_t cap, uint16_t id, const uint8_t *qname,
		       uint16_t qtype, bool rd, uint16_t udp_size, bool do_bit)
{
	struct vg_pkt p;
	if (cap < VG_HDR_LEN)
		return VG_ENOSPACE;
	vg_pkt_init(&p, buf, cap, id, rd ? VG_F_RD : 0);
	int r = vg_pkt_put_question(&p, qname, qtype, VG_C_IN);
	if (r < 0)
		return r;
	if (udp_size) {
		r = vg_pkt_put_opt(&p, udp_size, 0, do_bit, NULL, 0);
		if (r < 0)
			return r;
	}
	return (int)vg_pkt_finish(&p);
}

/* The offset of the OPT record when it is the message's last record (the
 * only place options can be appended), else 0. */
static size_t last_opt(const uint8_t *buf, size_t len)
{
	if (len < VG_HDR_LEN)
		return 0;
	unsigned qd = vg_get16(buf + 4);
	unsigned rrs = vg_get16(buf + 6) + vg_get16(buf + 8) + vg_get16(buf + 10);
	size_t off = VG_HDR_LEN, opt = 0;
	for (unsigned i = 0; i < qd; i++) {
		int n = vg_name_skip(buf, len, off);
		if (n < 0 || (size_t)n + 4 > len)
			return 0;
		off = (size_t)n + 4;
	}
	for (unsigned i = 0; i < rrs; i++) {
		int n = vg_name_skip(buf, len, off);
		if (n < 0 || (size_t)n + 10 > len)
			return 0;
		size_t rd = (size_t)n + 10 + vg_get16(buf + n + 8);
		if (rd > len)
			return 0;
		opt = vg_get16(buf + n) == VG_T_OPT && i + 1 == rrs ? (size_t)n : 0;
		off = rd;
	}
	return off == len ? opt : 0;
}

size_t vg_wire_add_option(uint8_t *buf, size_t len, size_t cap, uint16_t code,
			  const uint8_t *data, uint16_t dlen)
{
	size_t opt = last_opt(buf, len);
	size_t want = len + 4 + dlen;
	if (!opt || want > cap || want > 65535 || vg_get16(buf + opt + 8) + 4u + dlen > 65535)
		return len;
	vg_put16(buf + opt + 8, (uint16_t)(vg_get16(buf + opt + 8) + 4 + dlen));
	vg_put16(buf + len, code);
	vg_put16(buf + len + 2, dlen);
	if (dlen)
		memcpy(buf + len + 4, data, dlen);
	return want;
}

int vg_edns_find(const uint8_t *pkt, const struct vg_edns *e, uint16_t code,
		 const uint8_t **data)
{
	if (!e->present)
		return -1;
	size_t p = e->optoff, end = p + e->optlen;
	while (p + 4 <= end) { /* (the parser checked that the options fit) */
		uint16_t c = vg_get16(pkt + p), l = vg_get16(pkt + p + 2);
		if (c == code) {
			*data = pkt + p + 4;
			return l;
		}
		p += 4 + (size_t)l;
	}
	return -1;
}

int vg_edns_option(const struct vg_query *q, uint16_t code, const uint8_t **data)
{
	return vg_edns_find(q->pkt, &q->edns, code, data);
}

size_t vg_wire_pad(uint8_t *buf, size_t len, size_t cap, unsigned block)
{
	if (!block || !last_opt(buf, len))
		return len;
	size_t want = (len + 4 + block - 1) / block * block;
	if (want > cap || want > 65535)
		return len;
	static const uint8_t zero[VG_PAD_ANSWER > 512 ? VG_PAD_ANSWER : 512];
	if (want - len - 4 > sizeof(zero))
		return len;
	return vg_wire_add_option(buf, len, cap, VG_EDNS_PADDING, zero, (uint16_t)(want - len - 4));
}
