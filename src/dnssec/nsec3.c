/* SPDX-License-Identifier: MIT
 *
 * NSEC3 denial proofs (RFC 5155 section 8, 9.2 and erratum 3441) and the
 * NSEC/NSEC3 "no DS" proofs for delegations.  Verdicts, record selection and
 * costs are specified in nsec3.h; this file is the how.
 *
 * Design.  Every proof starts with setup(): it looks at no more than
 * lim->max_records records, keeps those that are usable (right zone, SHA-1,
 * flags 0/1, sane lengths and bitmap, the parameters of the first usable
 * one) in a small array on the stack, and refuses to go on when the
 * iteration count is above the RFC 9276 limit, before anything is hashed.
 *
 * All the names a proof hashes are the ancestors of the query name between
 * the name and the zone apex, plus the wildcard below one of them, so the
 * hashes are memoised in two tables indexed by label count (a name has at
 * most 127 labels): a name is hashed at most once per call, and the closest
 * encloser walk (RFC 5155 8.3, from the name up to the apex) hashes at most
 * labels(name) - labels(zone) + 1 names.  Each hash first takes
 * iterations + 1 units from lim->hashes_left, so a deep name in a zone with
 * many iterations (CVE-2023-50868) ends in VG_ELIMIT instead of burning CPU.
 *
 * The walk stops at the first (longest) ancestor with a matching NSEC3; the
 * next closer name is then the ancestor one label longer, whose hash the
 * walk has already computed.  Only that name has to be covered: an ancestor
 * that is neither matched nor covered above it is irrelevant once the
 * closest encloser is found.
 */
#include <string.h>

#include "dnssec/nsec3.h"

/* ------------------------------------------------------------ base32hex */

static int b32hex_value(uint8_t ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'v')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'V')
		return ch - 'A' + 10;
	return -1;
}

int vg_nsec3_base32hex_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	size_t rem = len % 8, want = len / 8 * 5;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;

	/* 1, 3 or 6 trailing characters carry no whole byte: nothing encodes to that */
	if (rem == 1 || rem == 3 || rem == 6 || len > 4096)
		return VG_EMALFORMED;
	want += rem * 5 / 8;
	if (want > cap)
		return VG_ENOSPACE;
	for (size_t i = 0; i < len; i++) {
		int v = b32hex_value(in[i]);
		if (v < 0)
			return VG_EMALFORMED;
		acc = acc << 5 | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
		acc &= (1u << bits) - 1;
	}
	/* the unused low bits of the last character must be zero (canonical form) */
	if (acc != 0)
		return VG_EMALFORMED;
	return (int)o;
}

/* ------------------------------------------------------------ parsing */

/* RFC 4034 4.1.2: windows ascending, 1..32 octets each, no overrun. */
static bool bitmap_ok(const uint8_t *bm, size_t len)
{
	int last = -1;
	size_t o = 0;
	if (len && !bm)
		return false;
	while (o < len) {
		if (len - o < 2)
			return false;
		unsigned window = bm[o], blen = bm[o + 1];
		if ((int)window <= last || blen == 0 || blen > 32 || len - o - 2 < blen)
			return false;
		last = (int)window;
		o += 2u + blen;
	}
	return true;
}

int vg_nsec3_parse(struct vg_nsec3 *n, const uint8_t *owner, const uint8_t *rdata, size_t len)
{
	uint8_t hash[40]; /* a 63-character label decodes to at most 39 bytes */
	size_t o = 5;
	int hl;

	memset(n, 0, sizeof(*n));
	if (!owner || owner[0] == 0 || owner[0] > 63 || !rdata || len < 5)
		goto bad;
	n->alg = rdata[0];
	n->flags = rdata[1];
	n->iterations = vg_get16(rdata + 2);
	n->salt_len = rdata[4];
	if (len - o < n->salt_len)
		goto bad;
	n->salt = rdata + o;
	o += n->salt_len;
	if (len - o < 1)
		goto bad;
	n->next_len = rdata[o++];
	if (n->next_len == 0 || len - o < n->next_len)
		goto bad;
	n->next = rdata + o;
	o += n->next_len;
	n->bitmap = rdata + o;
	n->bitmap_len = len - o;
	if (!bitmap_ok(n->bitmap, n->bitmap_len))
		goto bad;

	hl = vg_nsec3_base32hex_decode(owner + 1, owner[0], hash, sizeof(hash));
	if (hl <= 0)
		goto bad;
	if (n->alg == VG_NSEC3_HASH_SHA1 &&
	    (hl != VG_NSEC3_SHA1_LEN || n->next_len != VG_NSEC3_SHA1_LEN))
		goto bad;
	if (hl <= (int)sizeof(n->hash)) { /* else an unknown algorithm: kept, never used */
		memcpy(n->hash, hash, (size_t)hl);
		n->hash_len = (uint8_t)hl;
	}
	n->owner = owner;
	return 0;
bad:
	memset(n, 0, sizeof(*n));
	return VG_EMALFORMED;
}

/* ------------------------------------------------------------ proof context */

#define MAX_LABELS 128 /* a 255-byte name has at most 127 labels, plus the root */

struct ctx {
	const struct vg_nsec3 *rec[VG_NSEC3_MAX_RECORDS]; /* the usable records */
	unsigned nrec;
	const uint8_t *salt;
	uint8_t salt_len;
	uint16_t iterations;
	struct vg_nsec3_limits *lim;
	const uint8_t *name;
	int name_labels, zone_labels;
	bool anc_done[MAX_LABELS], wc_done[MAX_LABELS];
	uint8_t anc[MAX_LABELS][VG_NSEC3_SHA1_LEN]; /* H(ancestor of name with i labels) */
	uint8_t wc[MAX_LABELS][VG_NSEC3_SHA1_LEN];  /* H(*.ancestor with i labels) */
};

/* The closest encloser proof's result (RFC 5155 8.3). */
struct ce {
	int labels;                  /* labels of the closest encloser */
	const struct vg_nsec3 *nc;   /* the record covering the next closer name */
};

static int verdict(int *ede, int ret, int code)
{
	if (ede)
		*ede = code;
	return ret;
}
#define PROVEN(ede) verdict((ede), 0, 0)
#define INSECURE(ede) verdict((ede), VG_ENOTSUP, 0)
#define MISSING(ede) verdict((ede), VG_EBOGUS, VG_EDE_NSEC_MISSING)
#define BOGUS(ede) verdict((ede), VG_EBOGUS, VG_EDE_BOGUS)

/* Errors from hashing: VG_ELIMIT (budget), anything else is bogus too. */
static int hash_failed(int *ede, int ret)
{
	return verdict(ede, ret == VG_ELIMIT ? VG_ELIMIT : VG_EBOGUS, VG_EDE_BOGUS);
}

static bool has(const struct vg_nsec3 *r, uint16_t type)
{
	return vg_nsec_bitmap_has(r->bitmap, r->bitmap_len, type, NULL);
}

static bool optout(const struct vg_nsec3 *r)
{
	return r->flags & VG_NSEC3_FLAG_OPTOUT;
}

/* Is the owner exactly <one label>.<zone>? */
static bool in_zone(const struct vg_nsec3 *r, const uint8_t *zone)
{
	return r->owner && r->owner[0] && vg_name_eq(r->owner + 1 + r->owner[0], zone);
}

static bool same_params(const struct vg_nsec3 *a, const struct vg_nsec3 *b)
{
	return a->iterations == b->iterations && a->salt_len == b->salt_len &&
	       (a->salt_len == 0 || memcmp(a->salt, b->salt, a->salt_len) == 0);
}

static int setup(struct ctx *c, const struct vg_nsec3 *n, unsigned count, const uint8_t *zone,
		 const uint8_t *name, struct vg_nsec3_limits *lim, int *ede)
{
	const struct vg_nsec3 *first = NULL;
	bool unsupported = false;
	unsigned look = count < lim->max_records ? count : lim->max_records;

	if (look > VG_NSEC3_MAX_RECORDS)
		look = VG_NSEC3_MAX_RECORDS;
	c->nrec = 0;
	c->lim = lim;
	c->name = name;
	c->name_labels = vg_name_labels(name);
	c->zone_labels = vg_name_labels(zone);
	memset(c->anc_done, 0, sizeof(c->anc_done));
	memset(c->wc_done, 0, sizeof(c->wc_done));
	if (!vg_name_is_sub(name, zone))
		return BOGUS(ede);

	for (unsigned i = 0; i < look; i++) {
		const struct vg_nsec3 *r = &n[i];
		if (!in_zone(r, zone))
			continue;
		if (r->alg != VG_NSEC3_HASH_SHA1 || (r->flags & ~VG_NSEC3_FLAG_OPTOUT)) {
			unsupported = true; /* RFC 5155 8.1, 8.2: ignore */
			continue;
		}
		if (r->hash_len != VG_NSEC3_SHA1_LEN || r->next_len != VG_NSEC3_SHA1_LEN ||
		    !r->next || (r->salt_len && !r->salt) || !bitmap_ok(r->bitmap, r->bitmap_len))
			continue;
		if (!first)
			first = r;
		else if (!same_params(r, first))
			continue; /* RFC 5155 8.2: other parameters, other chain */
		c->rec[c->nrec++] = r;
	}
	if (!first)
		return unsupported ? INSECURE(ede) : MISSING(ede);
	/* RFC 9276 3.2: above the limit the zone is insecure; say so before hashing */
	if (first->iterations > lim->max_iterations)
		return verdict(ede, VG_ENOTSUP, VG_EDE_NSEC3_ITERATIONS);
	c->iterations = first->iterations;
	c->salt_len = first->salt_len;
	c->salt = first->salt_len ? first->salt : (const uint8_t *)"";
	return 0;
}

/* Hash @p nm after paying for it. */
static int hash_paid(struct ctx *c, const uint8_t *nm, uint8_t out[VG_NSEC3_SHA1_LEN])
{
	unsigned cost = c->iterations + 1u;
	if (c->lim->hashes_left < cost)
		return VG_ELIMIT;
	c->lim->hashes_left -= cost;
	return vg_dnssec_nsec3_hash(nm, c->salt, c->salt_len, c->iterations, out);
}

/* H(the ancestor of the query name with @p labels labels), memoised. */
static int anc_hash(struct ctx *c, int labels, const uint8_t **h)
{
	if (labels < 0 || labels >= MAX_LABELS)
		return VG_EINVAL;
	if (!c->anc_done[labels]) {
		int ret = hash_paid(c, vg_name_suffix(c->name, labels), c->anc[labels]);
		if (ret)
			return ret;
		c->anc_done[labels] = true;
	}
	*h = c->anc[labels];
	return 0;
}

/* H(*.<the ancestor with @p labels labels>), memoised. */
static int wc_hash(struct ctx *c, int labels, const uint8_t **h)
{
	if (labels < 0 || labels >= MAX_LABELS)
		return VG_EINVAL;
	if (!c->wc_done[labels]) {
		uint8_t wild[VG_NAME_MAX];
		const uint8_t *base = vg_name_suffix(c->name, labels);
		size_t blen = vg_name_len(base);
		if (blen + 2 > VG_NAME_MAX)
			return VG_EINVAL; /* only for the name itself, never a proper ancestor */
		wild[0] = 1;
		wild[1] = '*';
		memcpy(wild + 2, base, blen);
		int ret = hash_paid(c, wild, c->wc[labels]);
		if (ret)
			return ret;
		c->wc_done[labels] = true;
	}
	*h = c->wc[labels];
	return 0;
}

static const struct vg_nsec3 *matching(const struct ctx *c, const uint8_t *h)
{
	for (unsigned i = 0; i < c->nrec; i++)
		if (memcmp(c->rec[i]->hash, h, VG_NSEC3_SHA1_LEN) == 0)
			return c->rec[i];
	return NULL;
}

static const struct vg_nsec3 *covering(const struct ctx *c, const uint8_t *h)
{
	for (unsigned i = 0; i < c->nrec; i++)
		if (vg_nsec3_covers(c->rec[i]->hash, c->rec[i]->next, h, VG_NSEC3_SHA1_LEN))
			return c->rec[i];
	return NULL;
}

/*
 * Closest encloser proof (RFC 5155 8.3) for a query name that must not
 * exist.  0 with @p ce filled, or a final verdict: the name exists (bogus),
 * the closest encloser is a delegation (insecure without DS, else bogus) or
 * a DNAME (bogus; the answer should have been a referral or a DNAME), or a
 * record is missing.
 */
static int prove_ce(struct ctx *c, struct ce *ce, int *ede)
{
	const struct vg_nsec3 *m = NULL;
	const uint8_t *h;
	int ret, l;

	for (l = c->name_labels; l >= c->zone_labels; l--) {
		if ((ret = anc_hash(c, l, &h)))
			return hash_failed(ede, ret);
		if ((m = matching(c, h)))
			break;
	}
	if (!m)
		return MISSING(ede);
	if (l == c->name_labels)
		return BOGUS(ede); /* the name exists */
	if (has(m, VG_T_NS) && !has(m, VG_T_SOA))
		return has(m, VG_T_DS) ? BOGUS(ede) : INSECURE(ede);
	if (has(m, VG_T_DNAME))
		return BOGUS(ede);
	if ((ret = anc_hash(c, l + 1, &h))) /* memoised by the walk: free */
		return hash_failed(ede, ret);
	ce->labels = l;
	ce->nc = covering(c, h);
	return ce->nc ? 0 : MISSING(ede);
}

/* ------------------------------------------------------------ proofs */

int vg_nsec3_prove_nxdomain(const struct vg_nsec3 *n, unsigned count, const uint8_t *zone,
			    const uint8_t *name, struct vg_nsec3_limits *lim, int *ede)
{
	struct ctx c;
	struct ce ce;
	const uint8_t *h;
	int ret;

	if ((ret = setup(&c, n, count, zone, name, lim, ede)))
		return ret;
	if ((ret = prove_ce(&c, &ce, ede)))
		return ret;
	if ((ret = wc_hash(&c, ce.labels, &h)))
		return hash_failed(ede, ret);
	if (matching(&c, h))
		return BOGUS(ede); /* the wildcard exists: the answer should use it */
	if (!covering(&c, h))
		return MISSING(ede);
	/* RFC 5155 9.2: the name may exist as an unsigned delegation */
	if (optout(ce.nc))
		return INSECURE(ede);
	return PROVEN(ede);
}

/* RFC 5155 8.5/8.6 with an NSEC3 matching the query name. */
static int nodata_matched(const struct vg_nsec3 *m, const uint8_t *name, uint16_t qtype,
			  int *ede)
{
	if (has(m, qtype) || has(m, VG_T_CNAME))
		return BOGUS(ede);
	if (qtype == VG_T_DS) {
		/* DS lives on the parent side: an apex record comes from the child */
		if (has(m, VG_T_SOA) && name[0] != 0)
			return BOGUS(ede);
		return PROVEN(ede);
	}
	/* a parent-side delegation record: the data is in the child zone */
	if (has(m, VG_T_NS) && !has(m, VG_T_SOA))
		return has(m, VG_T_DS) ? BOGUS(ede) : INSECURE(ede);
	return PROVEN(ede);
}

int vg_nsec3_prove_nodata(const struct vg_nsec3 *n, unsigned count, const uint8_t *zone,
			  const uint8_t *name, uint16_t qtype, struct vg_nsec3_limits *lim,
			  int *ede)
{
	const struct vg_nsec3 *m;
	struct ctx c;
	struct ce ce;
	const uint8_t *h;
	int ret;

	if ((ret = setup(&c, n, count, zone, name, lim, ede)))
		return ret;
	if ((ret = anc_hash(&c, c.name_labels, &h)))
		return hash_failed(ede, ret);
	if ((m = matching(&c, h)))
		return nodata_matched(m, name, qtype, ede);

	if ((ret = prove_ce(&c, &ce, ede)))
		return ret;
	/* RFC 5155 8.7: wildcard no data */
	if ((ret = wc_hash(&c, ce.labels, &h)))
		return hash_failed(ede, ret);
	if ((m = matching(&c, h))) {
		if (has(m, qtype) || has(m, VG_T_CNAME))
			return BOGUS(ede);
		if (qtype == VG_T_DS ? has(m, VG_T_SOA) : (has(m, VG_T_NS) && !has(m, VG_T_SOA)))
			return BOGUS(ede);
		return optout(ce.nc) ? INSECURE(ede) : PROVEN(ede);
	}
	/*
	 * RFC 5155 8.6 (DS) and erratum 3441 (an empty non-terminal whose only
	 * descendants are insecure delegations has no NSEC3 of its own): with
	 * an Opt-Out cover the answer is insecure; without it the name was
	 * proven not to exist, which is not a NODATA answer.
	 */
	if (optout(ce.nc))
		return INSECURE(ede);
	return MISSING(ede);
}

int vg_nsec3_prove_wildcard(const struct vg_nsec3 *n, unsigned count, const uint8_t *zone,
			    const uint8_t *name, const uint8_t *closest_encloser,
			    struct vg_nsec3_limits *lim, int *ede)
{
	int cl = vg_name_labels(closest_encloser), nl = vg_name_labels(name);
	struct ctx c;
	const uint8_t *h;
	int ret;

	if (cl >= nl || !vg_name_is_sub(closest_encloser, zone) ||
	    !vg_name_eq(vg_name_suffix(name, cl), closest_encloser))
		return BOGUS(ede);
	/* the wildcard's own RRset: its RRSIG labels do not count the '*' */
	if (nl == cl + 1 && name[0] == 1 && name[1] == '*')
		return PROVEN(ede);
	if ((ret = setup(&c, n, count, zone, name, lim, ede)))
		return ret;
	if ((ret = anc_hash(&c, cl + 1, &h)))
		return hash_failed(ede, ret);
	if (matching(&c, h))
		return BOGUS(ede); /* the next closer name exists: wrong wildcard */
	/* an Opt-Out cover does not prove the expansion: an unsigned delegation
	 * may exist at the next closer name (RFC 5155 6 and B.4), so the
	 * answer is insecure, as Unbound and Knot Resolver have it */
	const struct vg_nsec3 *cv = covering(&c, h);
	if (!cv)
		return MISSING(ede);
	return optout(cv) ? INSECURE(ede) : PROVEN(ede);
}

int vg_nsec3_prove_nods(const struct vg_nsec3 *n, unsigned count, const uint8_t *zone,
			const uint8_t *name, struct vg_nsec3_limits *lim, int *ede)
{
	const struct vg_nsec3 *m;
	struct ctx c;
	struct ce ce;
	const uint8_t *h;
	int ret;

	/* the DS of a child is proven absent by its parent, never by itself */
	if (vg_name_labels(name) <= vg_name_labels(zone))
		return BOGUS(ede);
	if ((ret = setup(&c, n, count, zone, name, lim, ede)))
		return ret;
	if ((ret = anc_hash(&c, c.name_labels, &h)))
		return hash_failed(ede, ret);
	if ((m = matching(&c, h))) {
		if (has(m, VG_T_DS) || has(m, VG_T_SOA))
			return BOGUS(ede);
		if (has(m, VG_T_NS))
			return PROVEN(ede);
		return verdict(ede, VG_ENOTFOUND, 0); /* exists, but no zone cut */
	}
	if ((ret = prove_ce(&c, &ce, ede)))
		return ret; /* including VG_ENOTSUP: the cut is higher and insecure */
	if (optout(ce.nc))
		return INSECURE(ede); /* RFC 5155 8.6: an unsigned delegation in an Opt-Out span */
	return BOGUS(ede);            /* the name does not exist: no referral to it either */
}

int vg_nsec_prove_nods(const struct vg_nsec *n, unsigned count, const uint8_t *name)
{
	for (unsigned i = 0; i < count; i++) {
		const uint8_t *bm = n[i].bitmap;
		size_t len = n[i].bitmap_len;
		if (!vg_name_eq(n[i].owner, name))
			continue;
		if (!bitmap_ok(bm, len))
			return VG_EBOGUS;
		/* a DS exists, or this is the child's own apex NSEC */
		if (vg_nsec_bitmap_has(bm, len, VG_T_DS, NULL) ||
		    vg_nsec_bitmap_has(bm, len, VG_T_SOA, NULL))
			return VG_EBOGUS;
		return vg_nsec_bitmap_has(bm, len, VG_T_NS, NULL) ? 0 : VG_ENOTFOUND;
	}
	return VG_EBOGUS;
}
