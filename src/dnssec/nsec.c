/* SPDX-License-Identifier: MIT
 *
 * Authenticated denial building blocks: canonical name order, NSEC and NSEC3
 * interval checks and type bitmaps.  The proofs built from them (closest
 * encloser, wildcard, opt-out) belong to the validator, still to come.
 */
#include <string.h>

#include "dnssec/dnssec.h"

static inline uint8_t lc(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* Pointers to the labels of @p name, leftmost first; returns the count. */
static int split(const uint8_t *name, const uint8_t *lab[128])
{
	int n = 0;
	while (*name && n < 128) {
		lab[n++] = name;
		name += *name + 1;
	}
	return n;
}

int vg_dnssec_name_cmp(const uint8_t *a, const uint8_t *b)
{
	const uint8_t *la[128], *lb[128];
	int na = split(a, la), nb = split(b, lb);
	for (int i = na - 1, j = nb - 1; i >= 0 && j >= 0; i--, j--) {
		unsigned l1 = la[i][0], l2 = lb[j][0];
		unsigned n = l1 < l2 ? l1 : l2;
		for (unsigned k = 1; k <= n; k++) {
			uint8_t c1 = lc(la[i][k]), c2 = lc(lb[j][k]);
			if (c1 != c2)
				return c1 < c2 ? -1 : 1;
		}
		if (l1 != l2)
			return l1 < l2 ? -1 : 1;
	}
	return na == nb ? 0 : (na < nb ? -1 : 1);
}

bool vg_nsec_covers(const uint8_t *owner, const uint8_t *next, const uint8_t *name)
{
	int after_owner = vg_dnssec_name_cmp(owner, name) < 0;
	if (vg_dnssec_name_cmp(owner, next) < 0)
		return after_owner && vg_dnssec_name_cmp(name, next) < 0;
	/* the last NSEC: next is the apex, so it covers everything after owner */
	return after_owner;
}

bool vg_nsec3_covers(const uint8_t *owner_hash, const uint8_t *next_hash, const uint8_t *hash,
		     size_t len)
{
	int on = memcmp(owner_hash, next_hash, len);
	int oh = memcmp(owner_hash, hash, len);
	int hn = memcmp(hash, next_hash, len);
	if (on < 0)
		return oh < 0 && hn < 0;
	/* the last in the chain wraps around: above owner or below next */
	return oh < 0 || hn < 0;
}

bool vg_nsec_bitmap_has(const uint8_t *bm, size_t len, uint16_t type, bool *malformed)
{
	int last_window = -1;
	size_t o = 0;
	if (malformed)
		*malformed = false;
	while (o < len) {
		if (len - o < 2)
			goto bad;
		uint8_t window = bm[o], blen = bm[o + 1];
		if ((int)window <= last_window || blen == 0 || blen > 32 || len - o - 2 < blen)
			goto bad;
		last_window = window;
		if (window == type >> 8) {
			unsigned bit = type & 0xff;
			return bit / 8 < blen && (bm[o + 2 + bit / 8] & (0x80 >> (bit % 8)));
		}
		o += 2u + blen;
	}
	return false;
bad:
	if (malformed)
		*malformed = true;
	return false;
}

/* ------------------------------------------------------------ NSEC proofs */

int vg_nsec_prove_nodata(const struct vg_nsec *n, unsigned count, const uint8_t *name,
			 uint16_t qtype)
{
	for (unsigned i = 0; i < count; i++) {
		bool bad = false;
		if (!vg_name_eq(n[i].owner, name))
			continue;
		if (vg_nsec_bitmap_has(n[i].bitmap, n[i].bitmap_len, qtype, &bad) || bad ||
		    vg_nsec_bitmap_has(n[i].bitmap, n[i].bitmap_len, VG_T_CNAME, &bad))
			return VG_EBOGUS; /* the type (or a CNAME) exists after all */
		return 0;
	}
	return VG_EBOGUS;
}

static const struct vg_nsec *covering(const struct vg_nsec *n, unsigned count, const uint8_t *name)
{
	for (unsigned i = 0; i < count; i++)
		if (vg_nsec_covers(n[i].owner, n[i].next, name))
			return &n[i];
	return NULL;
}

/* The longest common ancestor of @p a and @p b (a suffix of @p a). */
static const uint8_t *common_ancestor(const uint8_t *a, const uint8_t *b)
{
	int la = vg_name_labels(a), lb = vg_name_labels(b);
	for (int l = la < lb ? la : lb; l > 0; l--) {
		const uint8_t *sa = vg_name_suffix(a, l);
		if (vg_name_eq(sa, vg_name_suffix(b, l)))
			return sa;
	}
	return vg_name_suffix(a, 0);
}

int vg_nsec_prove_no_exact(const struct vg_nsec *n, unsigned count, const uint8_t *name)
{
	return covering(n, count, name) ? 0 : VG_EBOGUS;
}

int vg_nsec_wildcard(const uint8_t *name, const uint8_t *owner, const uint8_t *next,
		     const uint8_t *zone, uint8_t *wild)
{
	/* the closest encloser is the deeper of the two common ancestors */
	const uint8_t *ce1 = common_ancestor(name, owner);
	const uint8_t *ce2 = common_ancestor(name, next);
	const uint8_t *ce = vg_name_labels(ce1) >= vg_name_labels(ce2) ? ce1 : ce2;
	size_t cl = vg_name_len(ce);
	if (!vg_name_is_sub(ce, zone) || cl + 2 > VG_NAME_MAX)
		return VG_EBOGUS;
	wild[0] = 1;
	wild[1] = '*';
	memcpy(wild + 2, ce, cl);
	return 0;
}

int vg_nsec_prove_nxdomain(const struct vg_nsec *n, unsigned count, const uint8_t *zone,
			   const uint8_t *name)
{
	const struct vg_nsec *c = covering(n, count, name);
	uint8_t wild[VG_NAME_MAX];
	if (!c || vg_nsec_wildcard(name, c->owner, c->next, zone, wild) < 0)
		return VG_EBOGUS;
	return covering(n, count, wild) ? 0 : VG_EBOGUS;
}

int vg_nsec_prove_nodata_any(const struct vg_nsec *n, unsigned count, const uint8_t *zone,
			     const uint8_t *name, uint16_t qtype)
{
	if (vg_nsec_prove_nodata(n, count, name, qtype) == 0)
		return 0;
	const struct vg_nsec *c = covering(n, count, name);
	if (!c)
		return VG_EBOGUS;
	/* an empty non-terminal: the next name in the zone lies below it */
	if (vg_name_is_sub(c->next, name) && !vg_name_eq(c->next, name))
		return 0;
	/* a wildcard NODATA: the name is absent and its closest encloser's
	 * wildcard exists without the type */
	uint8_t wild[VG_NAME_MAX];
	if (vg_nsec_wildcard(name, c->owner, c->next, zone, wild) < 0)
		return VG_EBOGUS;
	return vg_nsec_prove_nodata(n, count, wild, qtype);
}
