/* SPDX-License-Identifier: MIT
 *
 * RPZ trigger decoding (draft-vixie-dnsop-dns-rpz-00 §4, RPZ.md 2.3): the
 * owner name of a policy RRset, taken relative to the policy zone's apex,
 * becomes the trigger half of a struct vg_pol_rule (trigger, wildcard, name
 * or address prefix).  This file owns only that owner-name grammar.  Actions
 * (the RDATA half) and zone loading (rpzload.c) and the compiled lookup
 * structures (snapshot.c) live elsewhere.  No allocation: the relative labels
 * are pointers into the caller's owner name.
 *
 * The last relative label picks the trigger:
 *   rpz-client-ip / rpz-ip / rpz-nsip   <prefix>.<address, last part first>
 *   rpz-nsdname                         [*.]<name>
 *   any other "rpz-" label              unknown higher-format trigger: ENOTSUP
 *   anything else                       QNAME, [*.]<name>
 *
 * Address encodings are decoded strictly, because a sloppy decoder would
 * block a different address from the one the zone's producer meant:
 *  - IPv4 is exactly four decimal octets (0..255, no leading zeros) with no
 *    "zz" label.  It is stored zero-filled as ::B1.B2.B3.B4 with prefix + 96
 *    bits, so v4 and v6 rules share one 128-bit space (RPZ.md 2.4 rules 6, 7).
 *    This is not the v4-mapped ::ffff:0:0/96 that BIND uses internally.
 *  - IPv6 is the RFC 5952 text form, reversed: 1 to 4 hex digits per hextet
 *    (either case, no leading zeros), and at most one "zz" that stands for 2
 *    or more zero hextets.
 *  - Canonical "zz": we accept exactly the names BIND's ip2name() writes.
 *    Those are RFC 5952 §4.2: compress the longest run of zero hextets, only
 *    when the run has 2 or more hextets, and on a tie the first run in address
 *    order (the last in owner order).  So "128.1.0.0.1.zz.db8.2001"
 *    (2001:db8::1:0:0:1) is valid and "128.1.zz.1.0.0.db8.2001" is not.
 *    BIND's own loader (name2ipkey) is more lenient.  It parses the
 *    non-canonical form, logs "is not the canonical", and still loads it.
 *    We reject it (RPZ.md 2.3): a rule that two resolvers read differently
 *    is worse than a rule that is refused loudly.
 *  - No bit may be set past the prefix length (8.2.0.0.10 is 10.0.0.2/8).
 *    The prefix is 1..32 for IPv4 and 1..128 for IPv6.
 *
 * DNS names compare without regard to case, so owners that differ only in
 * case are the same node.  For that reason "ZZ", upper-case hex digits and
 * "RPZ-IP" are accepted like their lower-case forms.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "policy/policy.h"

/* A name of at most 255 bytes has at most 127 labels besides the root. */
#define MAX_LABELS 128

static inline uint8_t lc(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* Does label @p lab (length byte first) spell @p s (lower-case ASCII), ignoring case? */
static bool label_is(const uint8_t *lab, const char *s)
{
	size_t n = strlen(s);
	if ((size_t)lab[0] != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lc(lab[1 + i]) != (uint8_t)s[i])
			return false;
	return true;
}

static bool label_starts(const uint8_t *lab, const char *s)
{
	size_t n = strlen(s);
	if ((size_t)lab[0] < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lc(lab[1 + i]) != (uint8_t)s[i])
			return false;
	return true;
}

/* Decimal 0..999 in 1..3 digits, no sign, no leading zeros ("0" itself is fine). */
static bool parse_dec(const uint8_t *lab, unsigned *out)
{
	unsigned n = lab[0], v = 0;
	if (n == 0 || n > 3 || (n > 1 && lab[1] == '0'))
		return false;
	for (unsigned i = 1; i <= n; i++) {
		if (lab[i] < '0' || lab[i] > '9')
			return false;
		v = v * 10 + (unsigned)(lab[i] - '0');
	}
	*out = v;
	return true;
}

/* One hextet: 1..4 hex digits of either case, no leading zeros. */
static bool parse_hex(const uint8_t *lab, uint16_t *out)
{
	unsigned n = lab[0], v = 0;
	if (n == 0 || n > 4 || (n > 1 && lab[1] == '0'))
		return false;
	for (unsigned i = 1; i <= n; i++) {
		uint8_t c = lc(lab[i]);
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return false;
		v = v << 4 | d;
	}
	*out = (uint16_t)v;
	return true;
}

static bool bits_past(const uint8_t addr[16], unsigned bits)
{
	for (unsigned i = bits; i < 128; i++)
		if (addr[i / 8] & (0x80u >> (i % 8)))
			return true;
	return false;
}

/*
 * The RFC 5952 run to compress: the longest run of at least two zero
 * hextets, the first one in address order on a tie.  *start = -1 if none.
 */
static void zero_run(const uint16_t h[8], int *start, int *len)
{
	*start = -1;
	*len = 0;
	for (int i = 0; i < 8;) {
		if (h[i]) {
			i++;
			continue;
		}
		int j = i;
		while (j < 8 && h[j] == 0)
			j++;
		if (j - i >= 2 && j - i > *len) {
			*start = i;
			*len = j - i;
		}
		i = j;
	}
}

static int decode_v6(const uint8_t *const *lab, int n, unsigned plen, struct vg_pol_prefix *out,
		     const char **why)
{
	int m = n - 1, nzz = 0;
	uint16_t h[8] = { 0 };
	int zstart = -1, zlen = 0, p = 8;

	for (int i = 1; i < n; i++)
		if (label_is(lab[i], "zz"))
			nzz++;
	if (nzz > 1) {
		*why = "more than one zz label";
		return VG_EINVAL;
	}
	if (nzz == 1 && m == 9) {
		*why = "zz stands for no hextets";
		return VG_EINVAL;
	}
	if ((nzz == 0 && m != 8) || m > 9) {
		*why = "wrong number of address labels";
		return VG_EINVAL;
	}
	if (plen < 1 || plen > 128) {
		*why = "IPv6 prefix length not in 1..128";
		return VG_EINVAL;
	}
	/* Owner order is last hextet first; with m <= 8 and one zz, p lands on 0. */
	for (int i = 1; i < n; i++) {
		if (label_is(lab[i], "zz")) {
			zlen = 9 - m;
			p -= zlen;
			zstart = p;
			continue;
		}
		if (!parse_hex(lab[i], &h[--p])) {
			*why = "IPv6 hextet is not 1 to 4 hex digits without leading zeros";
			return VG_EINVAL;
		}
	}

	int bstart, blen;
	zero_run(h, &bstart, &blen);
	if (zlen == 1) {
		*why = "not a canonical IPv6 encoding (zz for a single zero hextet)";
		return VG_EINVAL;
	}
	if (zlen == 0 && blen > 0) {
		*why = "not a canonical IPv6 encoding (zero hextets not written as zz)";
		return VG_EINVAL;
	}
	if (zlen != blen || zstart != bstart) {
		*why = "not a canonical IPv6 encoding (zz is not the longest, first zero run)";
		return VG_EINVAL;
	}

	for (int i = 0; i < 8; i++) {
		out->addr[2 * i] = (uint8_t)(h[i] >> 8);
		out->addr[2 * i + 1] = (uint8_t)h[i];
	}
	out->bits = (uint8_t)plen;
	out->v4 = false;
	return 0;
}

/* @p lab[0] is the prefix length, @p lab[1..n-1] the address, last part first. */
static int decode_addr(const uint8_t *const *lab, int n, struct vg_pol_prefix *out,
		       const char **why)
{
	unsigned plen;
	bool has_zz = false;
	int ret;

	memset(out, 0, sizeof(*out));
	if (n < 2) {
		*why = "no address before the trigger label";
		return VG_EINVAL;
	}
	if (!parse_dec(lab[0], &plen)) {
		*why = "prefix length is not a decimal number without leading zeros";
		return VG_EINVAL;
	}
	for (int i = 1; i < n; i++)
		if (label_is(lab[i], "zz"))
			has_zz = true;

	if (n - 1 == 4 && !has_zz) {
		if (plen < 1 || plen > 32) {
			*why = "IPv4 prefix length not in 1..32";
			return VG_EINVAL;
		}
		for (int i = 0; i < 4; i++) {
			unsigned o;
			if (!parse_dec(lab[1 + i], &o) || o > 255) {
				*why = "IPv4 octet is not a decimal number 0..255 without leading zeros";
				return VG_EINVAL;
			}
			out->addr[15 - i] = (uint8_t)o; /* B4 (the last octet) comes first */
		}
		out->bits = (uint8_t)(plen + 96);
		out->v4 = true;
	} else {
		ret = decode_v6(lab, n, plen, out, why);
		if (ret < 0)
			return ret;
	}
	if (bits_past(out->addr, out->bits)) {
		*why = "bits set past the prefix length";
		return VG_EINVAL;
	}
	return 0;
}

/* Labels @p lab[0..n-1] as a name: an optional leading "*" makes it a wildcard. */
static int decode_name(const uint8_t *const *lab, int n, uint8_t name[VG_NAME_MAX], bool *wild,
		       const char **why)
{
	int first = 0;
	size_t o = 0;

	*wild = false;
	if (n > 0 && label_is(lab[0], "*")) {
		*wild = true;
		first = 1;
	}
	for (int i = first; i < n; i++) {
		if (label_is(lab[i], "*")) {
			*why = "'*' is a wildcard only as the first label";
			return VG_EINVAL;
		}
		/* fits: these labels are a strict part of a name of <= 255 bytes */
		memcpy(name + o, lab[i], 1 + (size_t)lab[i][0]);
		o += 1 + (size_t)lab[i][0];
	}
	name[o] = 0;
	vg_name_lower(name);
	return 0;
}

static const struct {
	const char *label;
	enum vg_pol_trigger trigger;
} addr_triggers[] = {
	{ "rpz-client-ip", VG_TRIG_CLIENT_IP },
	{ "rpz-ip", VG_TRIG_RESP_IP },
	{ "rpz-nsip", VG_TRIG_NSIP },
};

int vg_rpz_owner(const uint8_t *owner, const uint8_t *origin, struct vg_pol_rule *rule,
		 const char **why)
{
	const char *unused;
	const uint8_t *lab[MAX_LABELS];
	enum vg_pol_trigger trigger = VG_TRIG_QNAME;
	bool wild = false;
	uint8_t name[VG_NAME_MAX];
	struct vg_pol_prefix prefix;
	int ret;

	if (!why)
		why = &unused;
	*why = NULL;
	memset(&prefix, 0, sizeof(prefix));
	name[0] = 0;
	if (!owner || !origin || !rule) {
		*why = "missing argument";
		return VG_EINVAL;
	}
	if (vg_name_check(owner, VG_NAME_MAX) < 0 || vg_name_check(origin, VG_NAME_MAX) < 0) {
		*why = "malformed name";
		return VG_EMALFORMED;
	}
	int ol = vg_name_labels(owner), zl = vg_name_labels(origin);
	if (ol < zl || !vg_name_eq(vg_name_suffix(owner, zl), origin)) {
		*why = "owner name is not in the policy zone";
		return VG_EINVAL;
	}
	int rl = ol - zl;
	if (rl == 0) {
		*why = "the zone apex carries no trigger";
		return VG_ENOTSUP;
	}
	const uint8_t *p = owner;
	for (int i = 0; i < rl; i++) {
		lab[i] = p;
		p += 1 + *p;
	}

	const uint8_t *last = lab[rl - 1];
	bool is_addr = false;
	for (size_t i = 0; i < sizeof(addr_triggers) / sizeof(addr_triggers[0]); i++) {
		if (label_is(last, addr_triggers[i].label)) {
			trigger = addr_triggers[i].trigger;
			is_addr = true;
		}
	}
	if (is_addr) {
		ret = decode_addr(lab, rl - 1, &prefix, why);
	} else if (label_is(last, "rpz-nsdname")) {
		trigger = VG_TRIG_NSDNAME;
		if (rl == 1) {
			*why = "no name before rpz-nsdname";
			return VG_EINVAL;
		}
		ret = decode_name(lab, rl - 1, name, &wild, why);
	} else if (label_starts(last, "rpz-")) {
		*why = "unknown rpz- trigger label";
		return VG_ENOTSUP;
	} else {
		ret = decode_name(lab, rl, name, &wild, why);
	}
	if (ret < 0)
		return ret;

	rule->trigger = trigger;
	rule->wildcard = wild;
	memcpy(rule->name, name, vg_name_len(name));
	rule->prefix = prefix;
	return 0;
}
