/* SPDX-License-Identifier: MIT
 *
 * A feed's zone in memory (struct vg_xfr_zone) and its file form: the SOA
 * and the other records of one policy zone, added, looked up and taken out
 * by identity for IXFR, and written as a zone file (SOA first) or read back
 * from one.  ldns is used only for the presentation form of records here,
 * a control-path job.
 *
 * This file does not transfer anything (xfr.c fills and changes a zone from
 * the answers of a primary), does not decide where the file lives or replace
 * it atomically (feed.c), and does not compile policy (src/policy reads the
 * written file like any other RPZ source).
 *
 * The zone keeps its records in a hash table on (owner, type, class, rdata)
 * -- the identity of a record for IXFR deletions (TTL excluded), hashed with
 * a random SipHash key per zone -- and in a list in transfer order, so a
 * written file is stable and diffs stay small.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "core/core.h"
#include "feed/impl.h"

/* ------------------------------------------------------------ zone */

struct vg_xfr_rr *vg_xfr_rr_new(const uint8_t *owner, uint16_t type, uint16_t rclass,
				uint32_t ttl, const uint8_t *rdata, uint16_t rdlen)
{
	int olen = vg_name_check(owner, VG_NAME_MAX);
	if (olen < 0)
		return NULL;
	struct vg_xfr_rr *rr = malloc(sizeof(*rr) + (size_t)olen + rdlen);
	if (!rr)
		return NULL;
	memset(rr, 0, sizeof(*rr));
	rr->type = type;
	rr->rclass = rclass;
	rr->ttl = ttl;
	rr->rdlen = rdlen;
	rr->owner_len = (uint16_t)olen;
	memcpy(rr->data, owner, (size_t)olen);
	vg_name_lower(rr->data);
	if (rdlen)
		memcpy(rr->data + olen, rdata, rdlen);
	return rr;
}

int vg_xfr_zone_init(struct vg_xfr_zone *z, const uint8_t *origin)
{
	memset(z, 0, sizeof(*z));
	int n = vg_name_check(origin, VG_NAME_MAX);
	if (n < 0)
		return VG_EINVAL;
	memcpy(z->origin, origin, (size_t)n);
	vg_name_lower(z->origin);
	randombytes_buf(z->key, sizeof(z->key));
	return 0;
}

void vg_xfr_zone_deinit(struct vg_xfr_zone *z)
{
	struct vg_xfr_rr *rr = z->head;
	while (rr) {
		struct vg_xfr_rr *next = rr->next;
		free(rr);
		rr = next;
	}
	free(z->soa);
	free(z->tab);
	z->soa = z->head = z->tail = NULL;
	z->tab = NULL;
	z->cap = z->n = 0;
}

size_t vg_xfr_zone_count(const struct vg_xfr_zone *z)
{
	return z->n + (z->soa ? 1 : 0);
}

static uint64_t rr_hash(const struct vg_xfr_zone *z, const struct vg_xfr_rr *rr)
{
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, rr->data, (size_t)rr->owner_len + rr->rdlen, z->key);
	return h ^ ((uint64_t)rr->type << 16 | rr->rclass) * 0x9e3779b97f4a7c15ull;
}

static bool rr_same(const struct vg_xfr_rr *a, const struct vg_xfr_rr *b)
{
	return a->hash == b->hash && a->type == b->type && a->rclass == b->rclass &&
	       a->owner_len == b->owner_len && a->rdlen == b->rdlen &&
	       !memcmp(a->data, b->data, (size_t)a->owner_len + a->rdlen);
}

static int grow(struct vg_xfr_zone *z)
{
	size_t cap = z->cap ? z->cap * 2 : 1024;
	struct vg_xfr_rr **tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return VG_ENOMEM;
	for (struct vg_xfr_rr *rr = z->head; rr; rr = rr->next) {
		size_t b = rr->hash & (cap - 1);
		rr->chain = tab[b];
		tab[b] = rr;
	}
	free(z->tab);
	z->tab = tab;
	z->cap = cap;
	return 0;
}

static struct vg_xfr_rr **find(const struct vg_xfr_zone *z, const struct vg_xfr_rr *rr)
{
	if (!z->cap)
		return NULL;
	struct vg_xfr_rr **pp = &z->tab[rr->hash & (z->cap - 1)];
	for (; *pp; pp = &(*pp)->chain)
		if (rr_same(*pp, rr))
			return pp;
	return NULL;
}

int vg_xfr_zone_add(struct vg_xfr_zone *z, struct vg_xfr_rr *rr)
{
	rr->hash = rr_hash(z, rr);
	struct vg_xfr_rr **pp = find(z, rr);
	if (pp) {
		(*pp)->ttl = rr->ttl;
		return 1;
	}
	if (z->n >= VG_XFR_MAX_RECORDS)
		return VG_ELIMIT;
	if (z->n >= z->cap && grow(z) < 0)
		return VG_ENOMEM;
	size_t b = rr->hash & (z->cap - 1);
	rr->chain = z->tab[b];
	z->tab[b] = rr;
	rr->next = NULL;
	rr->prev = z->tail;
	if (z->tail)
		z->tail->next = rr;
	else
		z->head = rr;
	z->tail = rr;
	z->n++;
	return 0;
}

struct vg_xfr_rr *vg_xfr_zone_take(struct vg_xfr_zone *z, struct vg_xfr_rr *probe)
{
	probe->hash = rr_hash(z, probe);
	struct vg_xfr_rr **pp = find(z, probe), *rr;
	if (!pp)
		return NULL;
	rr = *pp;
	*pp = rr->chain;
	if (rr->prev)
		rr->prev->next = rr->next;
	else
		z->head = rr->next;
	if (rr->next)
		rr->next->prev = rr->prev;
	else
		z->tail = rr->prev;
	rr->chain = rr->prev = rr->next = NULL;
	z->n--;
	return rr;
}

/* SOA rdata: two names then serial, refresh, retry, expire, minimum (also xfr.c's). */
int vg_xfr_soa_fields(const uint8_t *rd, uint16_t rdlen, uint32_t v[5])
{
	int a = vg_name_check(rd, rdlen);
	if (a < 0)
		return VG_EMALFORMED;
	int b = vg_name_check(rd + a, (size_t)rdlen - (size_t)a);
	if (b < 0 || (size_t)rdlen != (size_t)a + (size_t)b + 20)
		return VG_EMALFORMED;
	for (int i = 0; i < 5; i++)
		v[i] = vg_get32(rd + a + b + 4 * i);
	return 0;
}

int vg_xfr_zone_set_soa(struct vg_xfr_zone *z, struct vg_xfr_rr *soa, struct vg_xfr_rr **old)
{
	uint32_t v[5];
	if (soa->type != VG_T_SOA || !vg_name_eq(soa->data, z->origin) ||
	    vg_xfr_soa_fields(vg_xfr_rr_rdata(soa), soa->rdlen, v) < 0)
		return VG_EMALFORMED;
	if (old)
		*old = z->soa;
	else
		free(z->soa);
	z->soa = soa;
	z->serial = v[0];
	z->refresh = v[1];
	z->retry = v[2];
	z->expire = v[3];
	return 0;
}

void vg_xfr_zone_move(struct vg_xfr_zone *to, struct vg_xfr_zone *from)
{
	vg_xfr_zone_deinit(to);
	*to = *from;
	from->soa = from->head = from->tail = NULL;
	from->tab = NULL;
	from->cap = from->n = 0;
}

/* ------------------------------------------------------------ zone files */

/* One record as an ldns_rr (for printing); NULL when ldns cannot take it. */
static ldns_rr *to_ldns(const struct vg_xfr_rr *r, uint8_t *buf)
{
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *owner = ldns_dname_new_frm_data(r->owner_len, r->data);
	if (!rr || !owner) {
		ldns_rr_free(rr);
		ldns_rdf_deep_free(owner);
		return NULL;
	}
	ldns_rr_set_owner(rr, owner);
	ldns_rr_set_type(rr, (ldns_rr_type)r->type);
	ldns_rr_set_class(rr, (ldns_rr_class)r->rclass);
	ldns_rr_set_ttl(rr, r->ttl);
	vg_put16(buf, r->rdlen);
	memcpy(buf + 2, vg_xfr_rr_rdata(r), r->rdlen);
	size_t pos = 0;
	if (ldns_wire2rdf(rr, buf, (size_t)r->rdlen + 2, &pos) != LDNS_STATUS_OK) {
		ldns_rr_free(rr);
		return NULL;
	}
	return rr;
}

/* Does the printed record @p s read back to the rdata of @p r?  ldns prints
 * some malformed rdata it accepted from the wire (a 3-byte DNSKEY) as a
 * partial record that no reader takes: one such line would make the whole
 * saved zone unreadable (found by tests/fuzz, fuzz_xfr). */
static bool reads_back(const char *s, const struct vg_xfr_rr *r, ldns_buffer *b)
{
	ldns_rr *back = NULL;
	bool same = false;
	if (ldns_rr_new_frm_str(&back, s, 0, NULL, NULL) == LDNS_STATUS_OK && back) {
		ldns_buffer_clear(b);
		same = ldns_rr_rdata2buffer_wire(b, back) == LDNS_STATUS_OK &&
		       ldns_buffer_position(b) == r->rdlen &&
		       !memcmp(ldns_buffer_begin(b), vg_xfr_rr_rdata(r), r->rdlen);
	}
	ldns_rr_free(back);
	return same;
}

static int write_rr(FILE *f, const struct vg_xfr_rr *r, uint8_t *buf, ldns_buffer *b)
{
	ldns_rr *rr = to_ldns(r, buf);
	if (!rr)
		return VG_EINVAL;
	char *s = ldns_rr2str(rr);
	ldns_rr_free(rr);
	if (!s)
		return VG_ENOMEM;
	if (!reads_back(s, r, b)) {
		free(s);
		return VG_EINVAL;
	}
	int ok = fputs(s, f) >= 0;
	free(s);
	return ok ? 0 : -EIO;
}

int vg_xfr_zone_write(const struct vg_xfr_zone *z, FILE *f, const char *comment)
{
	if (!z->soa)
		return VG_EINVAL;
	uint8_t *buf = malloc(2 + 65535);
	ldns_buffer *b = ldns_buffer_new(4096);
	int ret = 0;
	if (!buf || !b) {
		free(buf);
		ldns_buffer_free(b);
		return VG_ENOMEM;
	}
	if (comment && fprintf(f, "; %s\n", comment) < 0)
		ret = -EIO;
	if (ret == 0)
		ret = write_rr(f, z->soa, buf, b);
	for (const struct vg_xfr_rr *r = z->head; r && ret == 0; r = r->next) {
		ret = write_rr(f, r, buf, b);
		if (ret == VG_EINVAL) /* ldns cannot print it readably: leave it out */
			ret = 0;
	}
	free(buf);
	ldns_buffer_free(b);
	if (ret == 0 && ferror(f))
		ret = -EIO;
	return ret;
}

/* An ldns record into a new vg_xfr_rr. */
static struct vg_xfr_rr *from_ldns(const ldns_rr *rr, ldns_buffer *b)
{
	const ldns_rdf *owner = ldns_rr_owner(rr);
	if (!owner || ldns_rdf_get_type(owner) != LDNS_RDF_TYPE_DNAME)
		return NULL;
	ldns_buffer_clear(b);
	if (ldns_rr_rdata2buffer_wire(b, rr) != LDNS_STATUS_OK || ldns_buffer_position(b) > 65535)
		return NULL;
	return vg_xfr_rr_new(ldns_rdf_data(owner), (uint16_t)ldns_rr_get_type(rr),
			     (uint16_t)ldns_rr_get_class(rr), ldns_rr_ttl(rr),
			     ldns_buffer_begin(b), (uint16_t)ldns_buffer_position(b));
}

int vg_xfr_zone_read(struct vg_xfr_zone *z, FILE *f, const char **why)
{
	uint32_t ttl = 3600;
	ldns_rdf *origin = NULL, *prev = NULL;
	ldns_buffer *b = ldns_buffer_new(4096);
	int line = 1, ret = 0;
	*why = NULL;
	if (!b)
		return VG_ENOMEM;
	while (!feof(f)) {
		ldns_rr *rr = NULL;
		ldns_status st = ldns_rr_new_frm_fp_l(&rr, f, &ttl, &origin, &prev, &line);
		if (st == LDNS_STATUS_SYNTAX_EMPTY || st == LDNS_STATUS_SYNTAX_TTL ||
		    st == LDNS_STATUS_SYNTAX_ORIGIN)
			continue;
		if (st != LDNS_STATUS_OK) {
			ldns_rr_free(rr);
			*why = ldns_get_errorstr_by_id(st);
			ret = VG_EPARSE;
			break;
		}
		struct vg_xfr_rr *r = from_ldns(rr, b);
		ldns_rr_free(rr);
		if (!r) {
			*why = "a record that cannot be stored";
			ret = VG_EPARSE;
			break;
		}
		if (!z->soa) {
			if (r->type != VG_T_SOA) {
				free(r);
				*why = "the first record is not the SOA";
				ret = VG_EPARSE;
				break;
			}
			memcpy(z->origin, r->data, r->owner_len);
			if (vg_xfr_zone_set_soa(z, r, NULL) < 0) {
				free(r);
				*why = "a malformed SOA";
				ret = VG_EPARSE;
				break;
			}
			continue;
		}
		if (r->type == VG_T_SOA && vg_name_eq(r->data, z->origin)) {
			free(r);
			continue; /* a closing SOA, as in an AXFR dump */
		}
		int a = vg_xfr_zone_add(z, r);
		if (a != 0)
			free(r);
		if (a < 0) {
			ret = a;
			break;
		}
	}
	if (ret == 0 && !z->soa) {
		*why = "no SOA record";
		ret = VG_EPARSE;
	}
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	ldns_buffer_free(b);
	return ret;
}
