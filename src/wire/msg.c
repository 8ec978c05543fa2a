/* SPDX-License-Identifier: MIT
 *
 * Message parsing: the light client-query view (header, question, OPT) used on
 * the hot path, the full response view used by the iterator, and rdata
 * decompression for records that are stored or forwarded.
 *
 * Nothing here allocates; the views borrow the packet buffer.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "core/core.h"
#include "vigil/err.h"
#include "vigil/wire.h"

#define MAX_OPT_OPTIONS 100

/* Parse an OPT RR at @p rr into @p e; extended rcode/version/DO from the TTL. */
static int parse_opt(const uint8_t *pkt, size_t len, const struct vg_rr *rr, struct vg_edns *e)
{
	if (e->present)
		return VG_EMALFORMED; /* more than one OPT: FORMERR (RFC 6891 6.1.1) */
	if (pkt[rr->owner] != 0)
		return VG_EMALFORMED; /* owner must be root */
	e->present = true;
	e->udp_size = rr->rclass;
	e->ext_rcode = (uint8_t)(rr->ttl >> 24);
	e->version = (uint8_t)(rr->ttl >> 16);
	e->do_bit = (rr->ttl & 0x8000) != 0;
	e->optoff = rr->rdata;
	e->optlen = rr->rdlen;
	/* walk the options: each must fit, and there may not be too many */
	size_t p = rr->rdata, end = (size_t)rr->rdata + rr->rdlen;
	unsigned n = 0;
	while (p < end) {
		if (end - p < 4 || ++n > MAX_OPT_OPTIONS)
			return VG_EMALFORMED;
		size_t olen = vg_get16(pkt + p + 2);
		if (end - p - 4 < olen)
			return VG_EMALFORMED;
		p += 4 + olen;
	}
	(void)len;
	return 0;
}

/* Read the fixed part of an RR whose owner starts at @p off. */
static int parse_rr(const uint8_t *pkt, size_t len, size_t off, struct vg_rr *rr, size_t *next)
{
	/* the root owner (every OPT record) needs no walk */
	int r = off < len && pkt[off] == 0 ? (int)off + 1 : vg_name_skip(pkt, len, off);
	if (r < 0)
		return r;
	size_t p = (size_t)r;
	if (len - p < 10)
		return VG_EMALFORMED;
	rr->owner = (uint16_t)off;
	rr->type = vg_get16(pkt + p);
	rr->rclass = vg_get16(pkt + p + 2);
	rr->ttl = vg_get32(pkt + p + 4);
	rr->rdlen = vg_get16(pkt + p + 8);
	p += 10;
	if (len - p < rr->rdlen)
		return VG_EMALFORMED;
	rr->rdata = (uint16_t)p;
	*next = p + rr->rdlen;
	return 0;
}

int vg_query_parse(struct vg_query *q, const uint8_t *pkt, size_t len, int *rcode_out)
{
	*rcode_out = 0;
	q->pkt = pkt;
	q->len = len;
	q->qname_len = 0;
	q->qtype = q->qclass = 0;
	memset(&q->edns, 0, sizeof(q->edns));
	if (len < VG_HDR_LEN || len > 65535)
		return VG_EMALFORMED;
	q->id = vg_get16(pkt);
	q->flags = vg_get16(pkt + 2);
	if (q->flags & VG_F_QR)
		return VG_EMALFORMED; /* a response sent to us: never answer it */
	q->qdcount = vg_get16(pkt + 4);
	uint16_t an = vg_get16(pkt + 6), ns = vg_get16(pkt + 8), ar = vg_get16(pkt + 10);

	if (VG_F_OPCODE(q->flags) != VG_OPCODE_QUERY) {
		*rcode_out = VG_RCODE_NOTIMP;
		q->qdcount = 0; /* do not echo a question we did not parse */
		return 0;
	}
	if (q->qdcount != 1) {
		*rcode_out = VG_RCODE_FORMERR;
		q->qdcount = 0;
		return 0;
	}
	size_t next;
	int r = vg_name_unpack(pkt, len, VG_HDR_LEN, q->qname, true, &next);
	if (r < 0 || len - next < 4) {
		*rcode_out = VG_RCODE_FORMERR;
		q->qdcount = 0;
		return 0;
	}
	q->qname_len = (uint16_t)r;
	q->qtype = vg_get16(pkt + next);
	q->qclass = vg_get16(pkt + next + 2);
	next += 4;

	if (an != 0 || ns > 16 || ar > 16) {
		*rcode_out = VG_RCODE_FORMERR;
		return 0;
	}
	/* skip authority, look for OPT in additional */
	for (unsigned i = 0; i < (unsigned)ns + ar; i++) {
		struct vg_rr rr;
		if (parse_rr(pkt, len, next, &rr, &next) < 0) {
			*rcode_out = VG_RCODE_FORMERR;
			return 0;
		}
		if (i < ns && rr.type == VG_T_OPT) {
			*rcode_out = VG_RCODE_FORMERR; /* OPT only in additional (RFC 6891) */
			return 0;
		}
		if (i >= ns && rr.type == VG_T_OPT) {
			if (parse_opt(pkt, len, &rr, &q->edns) < 0) {
				*rcode_out = VG_RCODE_FORMERR;
				memset(&q->edns, 0, sizeof(q->edns));
				return 0;
			}
		}
	}
	if (next != len) {
		*rcode_out = VG_RCODE_FORMERR; /* trailing garbage */
		return 0;
	}
	if (q->edns.present && q->edns.version != 0) {
		*rcode_out = VG_RCODE_BADVERS;
		return 0;
	}
	return 0;
}

int vg_msg_parse(struct vg_msg *m, const uint8_t *pkt, size_t len)
{
	m->pkt = pkt;
	m->len = len;
	m->nrr = 0;
	m->owners_hashed = false;
	memset(&m->edns, 0, sizeof(m->edns));
	m->qname_len = 0;
	if (len < VG_HDR_LEN || len > 65535)
		return VG_EMALFORMED;
	m->id = vg_get16(pkt);
	m->flags = vg_get16(pkt + 2);
	m->qdcount = vg_get16(pkt + 4);
	m->ancount = vg_get16(pkt + 6);
	m->nscount = vg_get16(pkt + 8);
	m->arcount = vg_get16(pkt + 10);
	if (m->qdcount > 1)
		return VG_EMALFORMED;
	size_t next = VG_HDR_LEN;
	if (m->qdcount == 1) {
		int r = vg_name_unpack(pkt, len, next, m->qname, true, &next);
		if (r < 0 || len - next < 4)
			return VG_EMALFORMED;
		m->qname_off = VG_HDR_LEN;
		m->qname_len = (uint16_t)r;
		m->qtype = vg_get16(pkt + next);
		m->qclass = vg_get16(pkt + next + 2);
		next += 4;
	}
	const uint16_t counts[3] = { m->ancount, m->nscount, m->arcount };
	if ((unsigned)counts[0] + counts[1] + counts[2] > VG_MSG_MAXRR + 1)
		return VG_EMALFORMED;
	for (int s = 0; s < 3; s++) {
		m->sec_start[s] = m->nrr;
		for (unsigned i = 0; i < counts[s]; i++) {
			struct vg_rr rr;
			if (parse_rr(pkt, len, next, &rr, &next) < 0)
				return VG_EMALFORMED;
			if (rr.type == VG_T_OPT) {
				if (s != VG_SEC_AR || parse_opt(pkt, len, &rr, &m->edns) < 0)
					return VG_EMALFORMED;
				continue;
			}
			if (m->nrr >= VG_MSG_MAXRR)
				return VG_EMALFORMED;
			m->rr[m->nrr++] = rr;
		}
	}
	m->sec_start[3] = m->nrr;
	/* trailing bytes after the last record are tolerated in responses (some
	 * servers pad); they are simply ignored */
	return 0;
}

static unsigned char name_hash_key[crypto_shorthash_KEYBYTES];
static pthread_once_t name_hash_once = PTHREAD_ONCE_INIT;

static void name_hash_init(void)
{
	randombytes_buf(name_hash_key, sizeof(name_hash_key));
}

uint32_t vg_bytes_hash(const void *p, size_t len)
{
	uint64_t h;
	pthread_once(&name_hash_once, name_hash_init);
	crypto_shorthash((unsigned char *)&h, p, len, name_hash_key);
	return (uint32_t)h;
}

uint32_t vg_name_hash(const uint8_t *name)
{
	uint8_t low[VG_NAME_MAX];
	size_t len = vg_name_len(name);
	memcpy(low, name, len);
	vg_name_lower(low);
	return vg_bytes_hash(low, len);
}

size_t vg_msg_name_start(const struct vg_msg *m, size_t off)
{
	if (off + 1 < m->len && (m->pkt[off] & 0xc0) == 0xc0)
		return (size_t)(m->pkt[off] & 0x3f) << 8 | m->pkt[off + 1];
	return off;
}

/* Owners that are one compression pointer to the same place (most of them:
 * to the question, or to the first record of the RRset) are the same name:
 * it is decompressed and hashed once, not once per record (KeyTrap's answer
 * has 480 RRSIGs at one owner). */
#define OWNER_MEMO 8

void vg_msg_hash_owners(struct vg_msg *m)
{
	struct { size_t start; uint32_t hash; } memo[OWNER_MEMO];
	for (unsigned k = 0; k < OWNER_MEMO; k++)
		memo[k].start = SIZE_MAX;
	for (unsigned i = 0; i < m->nrr; i++) {
		size_t start = vg_msg_name_start(m, m->rr[i].owner);
		unsigned k = (unsigned)start % OWNER_MEMO;
		if (memo[k].start == start) {
			m->owner_hash[i] = memo[k].hash;
			continue;
		}
		uint8_t low[VG_NAME_MAX];
		int n = vg_name_unpack(m->pkt, m->len, m->rr[i].owner, low, true, NULL);
		/* the parse walked every owner already: n < 0 cannot happen */
		m->owner_hash[i] = n > 0 ? vg_bytes_hash(low, (size_t)n) : 0;
		memo[k].start = start;
		memo[k].hash = m->owner_hash[i];
	}
	m->owners_hashed = true;
}

/* Layout of names inside rdata for types whose names may be compressed. */
enum { NAME_END = 0, NAME = 1, FIX2 = 2, FIX6 = 6, FIX18 = 18, FIX20 = 20 };

static const uint8_t *rdata_layout(uint16_t type)
{
	static const uint8_t one[] = { NAME, NAME_END };
	static const uint8_t pref_name[] = { FIX2, NAME, NAME_END };
	static const uint8_t two[] = { NAME, NAME, NAME_END };
	static const uint8_t soa[] = { NAME, NAME, FIX20, NAME_END };
	static const uint8_t srv[] = { FIX6, NAME, NAME_END };
	static const uint8_t px[] = { FIX2, NAME, NAME, NAME_END };
	static const uint8_t rrsig[] = { FIX18, NAME, NAME_END };
	static const uint8_t nsec[] = { NAME, NAME_END };

	switch (type) {
	case VG_T_NS: case VG_T_MD: case VG_T_MF: case VG_T_CNAME: case VG_T_MB:
	case VG_T_MG: case VG_T_MR: case VG_T_PTR: case VG_T_DNAME:
		return one;
	case VG_T_MX: case VG_T_AFSDB: case VG_T_RT: case VG_T_KX:
		return pref_name;
	case VG_T_MINFO: case VG_T_RP:
		return two;
	case VG_T_SOA:
		return soa;
	case VG_T_SRV:
		return srv;
	case VG_T_PX:
		return px;
	case VG_T_RRSIG:
		return rrsig;
	case VG_T_NSEC:
		return nsec;
	default:
		return NULL;
	}
}

int vg_rdata_unpack(const uint8_t *pkt, size_t len, const struct vg_rr *rr, uint8_t *out,
		    size_t cap)
{
	const uint8_t *lay = rdata_layout(rr->type);
	size_t end = (size_t)rr->rdata + rr->rdlen;
	if (!lay) {
		if (rr->rdlen > cap)
			return VG_ENOSPACE;
		memcpy(out, pkt + rr->rdata, rr->rdlen);
		return rr->rdlen;
	}
	size_t p = rr->rdata, o = 0;
	for (; *lay != NAME_END; lay++) {
		if (*lay == NAME) {
			uint8_t name[VG_NAME_MAX];
			size_t next;
			/* names must lie within the rdata (pointers may go anywhere before) */
			int r = vg_name_unpack(pkt, end, p, name, false, &next);
			if (r < 0)
				return VG_EMALFORMED;
			if (o + (size_t)r > cap)
				return VG_ENOSPACE;
			memcpy(out + o, name, (size_t)r);
			o += (size_t)r;
			p = next;
		} else {
			size_t n = *lay;
			if (end - p < n)
				return VG_EMALFORMED;
			if (o + n > cap)
				return VG_ENOSPACE;
			memcpy(out + o, pkt + p, n);
			o += n;
			p += n;
		}
	}
	/* the rest (RRSIG signature, NSEC bitmap) is copied verbatim */
	if (p > end)
		return VG_EMALFORMED;
	if (o + (end - p) > cap || o + (end - p) > 65535)
		return VG_ENOSPACE;
	if (end - p && (rr->type != VG_T_RRSIG && rr->type != VG_T_NSEC))
		return VG_EMALFORMED; /* junk after the last name of a fixed layout */
	memcpy(out + o, pkt + p, end - p);
	o += end - p;
	(void)len;
	return (int)o;
}

const uint8_t *vg_rdata_target(uint16_t type, const uint8_t *rdata, uint16_t rdlen)
{
	size_t skip = 0;
	switch (type) {
	case VG_T_CNAME: case VG_T_DNAME: case VG_T_NS: case VG_T_PTR:
		break;
	case VG_T_MX:
		skip = 2;
		break;
	default:
		return NULL;
	}
	if (rdlen <= skip || vg_name_check(rdata + skip, rdlen - skip) < 0)
		return NULL;
	return rdata + skip;
}

/* ------------------------------------------------------------ type names */

static const struct {
	uint16_t type;
	const char *name;
} type_names[] = {
	{ 1, "A" },        { 2, "NS" },         { 5, "CNAME" },      { 6, "SOA" },
	{ 12, "PTR" },     { 13, "HINFO" },     { 15, "MX" },        { 16, "TXT" },
	{ 17, "RP" },      { 18, "AFSDB" },     { 24, "SIG" },       { 25, "KEY" },
	{ 28, "AAAA" },    { 29, "LOC" },       { 33, "SRV" },       { 35, "NAPTR" },
	{ 36, "KX" },      { 37, "CERT" },      { 39, "DNAME" },     { 41, "OPT" },
	{ 42, "APL" },     { 43, "DS" },        { 44, "SSHFP" },     { 45, "IPSECKEY" },
	{ 46, "RRSIG" },   { 47, "NSEC" },      { 48, "DNSKEY" },    { 49, "DHCID" },
	{ 50, "NSEC3" },   { 51, "NSEC3PARAM" }, { 52, "TLSA" },     { 53, "SMIMEA" },
	{ 55, "HIP" },     { 59, "CDS" },       { 60, "CDNSKEY" },   { 61, "OPENPGPKEY" },
	{ 62, "CSYNC" },   { 63, "ZONEMD" },    { 64, "SVCB" },      { 65, "HTTPS" },
	{ 99, "SPF" },     { 108, "EUI48" },    { 109, "EUI64" },    { 249, "TKEY" },
	{ 250, "TSIG" },   { 251, "IXFR" },     { 252, "AXFR" },     { 253, "MAILB" },
	{ 254, "MAILA" },  { 255, "ANY" },      { 256, "URI" },      { 257, "CAA" },
};

const char *vg_type_to_str(uint16_t type, char *buf, size_t size)
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (type_names[i].type == type) {
			snprintf(buf, size, "%s", type_names[i].name);
			return buf;
		}
	snprintf(buf, size, "TYPE%u", (unsigned)type);
	return buf;
}

int vg_type_from_str(const char *s)
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (!strcasecmp(s, type_names[i].name))
			return type_names[i].type;
	unsigned long long v;
	if (strncasecmp(s, "TYPE", 4) || vg_parse_uint(s + 4, 65535, &v) < 0)
		return VG_EPARSE;
	return (int)v;
}
