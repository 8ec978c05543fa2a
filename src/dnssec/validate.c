/* SPDX-License-Identifier: MIT
 *
 * Validating one RRset: choose RRSIGs and keys, check validity periods, and
 * stay within the work bounds.
 *
 * Bounds (KeyTrap): at most rrsigs_per_rrset RRSIGs are tried for an RRset,
 * at most keys_per_tag keys are tried for one RRSIG (keys whose tag and
 * algorithm match it), and every verification spends one unit of the query's
 * budget.  When a bound is hit the answer is VG_ELIMIT, never a stall: the
 * worst case is rrsigs_per_rrset * keys_per_tag verifications per RRset.
 * DS digests (vouching for a zone's DNSKEYs) have an allowance of their own
 * per DNSKEY set, ds_digests: a digest costs far less than a verification,
 * and the DS of a legitimate zone needs one or two per key.
 *
 * Validity (RFC 4034 3.1.5): inception and expiration are compared with the
 * clock in 32-bit serial number arithmetic, with a small allowed skew.
 */
#include "dnssec/dnssec.h"

static const char *const status_names[VG_SEC_STATES] = {
	[VG_SEC_UNCHECKED] = "unchecked", [VG_SEC_INSECURE] = "insecure",
	[VG_SEC_SECURE] = "secure", [VG_SEC_BOGUS] = "bogus",
};

const char *vg_dnssec_status_name(unsigned sec)
{
	return sec < VG_SEC_STATES ? status_names[sec] : "unknown";
}

/* serial arithmetic: is a before b? */
static bool serial_lt(uint32_t a, uint32_t b)
{
	return a != b && (uint32_t)(b - a) < 0x80000000u;
}

int vg_dnssec_validate_rrset(const struct vg_rrset *rs, const struct vg_rrset *sigs,
			     const struct vg_dnssec_key *keys, unsigned nkeys, uint32_t now,
			     struct vg_val_budget *budget, uint8_t *scratch, size_t cap, int *ede)
{
	const uint8_t *d = sigs ? sigs->rdata : NULL, *end = d ? d + sigs->rdata_len : NULL;
	unsigned tried = 0, count = sigs ? sigs->count : 0;
	bool supported = false, expired = false, early = false;
	/* going on after a slice ran out: the RRSIGs before cur_i are passed
	 * over as they were (their checks again, no verification), and the
	 * keys of RRSIG cur_i before cur_k too; this call verifies once before
	 * it may stop again.  While another RRset's place is kept, this one is
	 * done whole (one place is kept, and the one kept makes progress). */
	bool resume = budget->cur_sigs && budget->cur_rs == rs && budget->cur_sigs == sigs;
	bool other_kept = budget->cur_sigs && !resume;
	bool may_stop = budget->yield_ok && !other_kept && !resume;
	unsigned from_i = resume ? budget->cur_i : 0;
	if (resume)
		budget->cur_rs = budget->cur_sigs = NULL;

	*ede = VG_EDE_RRSIGS_MISSING;
	for (unsigned i = 0; i < count && end - d >= 2; i++) {
		uint16_t len = vg_get16(d);
		const uint8_t *sig = d + 2;
		d += 2u + len;
		if (len < 19 || (size_t)(end - sig) < len || vg_get16(sig) != rs->type)
			continue;
		if (!vg_dnssec_alg_supported(sig[2]))
			continue;
		supported = true;
		uint32_t expire = vg_get32(sig + 8), incept = vg_get32(sig + 12);
		if (serial_lt(expire + budget->skew, now)) {
			expired = true;
			continue;
		}
		if (serial_lt(now + budget->skew, incept)) {
			early = true;
			continue;
		}
		if (++tried > budget->rrsigs_per_rrset) {
			*ede = VG_EDE_BOGUS;
			return VG_ELIMIT;
		}
		if (i < from_i)
			continue; /* tried in an earlier slice */
		unsigned same_tag = 0, k = 0;
		if (resume && i == from_i) {
			k = budget->cur_k;
			same_tag = budget->cur_same;
		}
		for (; k < nkeys; k++) {
			if (keys[k].alg != sig[2] || keys[k].tag != vg_get16(sig + 16))
				continue;
			if (same_tag >= budget->keys_per_tag)
				break; /* colliding key tags: try no more of them */
			if (budget->sigs_left == 0) {
				*ede = VG_EDE_BOGUS;
				return VG_ELIMIT;
			}
			if (budget->slice_left == 0 && may_stop) { /* (a verification is next) */
				budget->cur_rs = rs;
				budget->cur_sigs = sigs;
				budget->cur_i = i;
				budget->cur_k = k;
				budget->cur_same = same_tag;
				return VG_EAGAIN;
			}
			same_tag++;
			budget->sigs_left--;
			if (budget->slice_left)
				budget->slice_left--;
			may_stop = budget->yield_ok && !other_kept;
			int r = vg_dnssec_verify(&keys[k], rs, sig, len, scratch, cap);
			if (r == 0)
				return 0;
			if (r != VG_EBOGUS && r != VG_EMALFORMED)
				return r;
		}
	}
	if (!supported && count) {
		*ede = VG_EDE_UNSUPPORTED_ALG;
		return VG_ENOTSUP;
	}
	if (tried == 0 && expired)
		*ede = VG_EDE_SIG_EXPIRED;
	else if (tried == 0 && early)
		*ede = VG_EDE_SIG_NOT_YET_VALID;
	else if (count)
		*ede = VG_EDE_BOGUS;
	return VG_EBOGUS;
}

int vg_dnssec_ds_vouches(const uint8_t *owner, const uint8_t *key, size_t keylen, uint16_t tag,
			 const struct vg_rrset *ds, unsigned *digests_left)
{
	const uint8_t *q = ds->rdata, *end = ds->rdata + ds->rdata_len;
	if (keylen < 4)
		return VG_EBOGUS;
	for (unsigned j = 0; j < ds->count && end - q >= 2; j++) {
		uint16_t dl = vg_get16(q);
		const uint8_t *d = q + 2;
		q += 2u + dl;
		if (q > end)
			break;
		if (dl < 4 || vg_get16(d) != tag || d[2] != key[3] ||
		    !vg_dnssec_alg_supported(d[2]) || !vg_dnssec_digest_supported(d[3]))
			continue;
		if (*digests_left == 0)
			return VG_ELIMIT;
		(*digests_left)--;
		if (vg_dnssec_ds_match(owner, key, keylen, d, dl) == 0)
			return 0;
	}
	return VG_EBOGUS;
}
