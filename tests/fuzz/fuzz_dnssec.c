/* SPDX-License-Identifier: MIT
 *
 * Fuzz harness: DNSSEC verification of fuzzed records (src/dnssec): a
 * DNSKEY, an RRSIG and an RRset from the input, verified directly
 * (vg_keycache_get / vg_dnssec_key_init, vg_dnssec_verify: canonical form,
 * OpenSSL and libsodium with hostile keys and signatures) and through
 * vg_dnssec_validate_rrset (the budget, validity period, key tags); the
 * DNSKEY matched against a DS (vg_dnssec_ds_match), the owner hashed as
 * NSEC3 (vg_dnssec_nsec3_hash) and the RRset's rdata read as an NSEC type
 * bitmap (vg_nsec_bitmap_has).
 *
 * Input: [u16 len] chunks: DNSKEY rdata, RRSIG rdata, the owner name (wire,
 * uncompressed; "example." when it is not a valid name), the RRset's
 * records ([u16 rdlen][rdata]... as vigil packs them; the type is the one
 * the RRSIG covers), DS rdata, NSEC3 salt.
 */
#include <stdlib.h>
#include <string.h>

#include "dnssec/dnssec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const uint8_t *p, *end;
};

static const uint8_t *chunk(struct input *in, size_t *len)
{
	if (in->end - in->p < 2) {
		*len = 0;
		return in->p;
	}
	size_t l = (size_t)in->p[0] << 8 | in->p[1];
	in->p += 2;
	if ((size_t)(in->end - in->p) < l)
		l = (size_t)(in->end - in->p);
	const uint8_t *b = in->p;
	in->p += l;
	*len = l;
	return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t scratch[65536 + 1024]; /* the size of the resolver's (VG_SCRATCH) */
	static const uint8_t example[] = "\7example";
	struct input in = { data, data + size };
	size_t klen, slen, olen, rlen, dlen, saltlen;
	const uint8_t *kd = chunk(&in, &klen), *sd = chunk(&in, &slen);
	const uint8_t *od = chunk(&in, &olen), *rd = chunk(&in, &rlen);
	const uint8_t *dd = chunk(&in, &dlen), *salt = chunk(&in, &saltlen);
	uint8_t owner[VG_NAME_MAX];

	/* copies of exactly their size: a read past the end is ASan's */
	uint8_t *key = malloc(klen + 1), *sig = malloc(slen + 1), *rr = malloc(rlen + 1);
	if (!key || !sig || !rr)
		goto out;
	memcpy(key, kd, klen);
	memcpy(sig, sd, slen);
	memcpy(rr, rd, rlen);
	if (olen <= VG_NAME_MAX && vg_name_check(od, olen) > 0)
		memcpy(owner, od, olen);
	else
		memcpy(owner, example, sizeof(example));

	unsigned count = 0;
	for (size_t o = 0; rlen - o >= 2;) {
		size_t l = vg_get16(rr + o);
		if (rlen - o - 2 < l)
			break;
		o += 2 + l;
		count++;
	}
	uint16_t covered = slen >= 2 ? vg_get16(sig) : VG_T_A;
	struct vg_rrset rs = { .owner = owner, .type = covered, .rclass = VG_C_IN, .ttl = 300,
			       .count = (uint16_t)count, .rdata_len = (uint16_t)rlen, .rdata = rr };

	struct vg_dnssec_key k;
	if (vg_dnssec_key_init(&k, key, klen) == 0) {
		vg_dnssec_verify(&k, &rs, sig, slen, scratch, sizeof(scratch));
		/* the RRSIG as an RRset of its own: [u16 len][rdata] */
		uint8_t *packed = malloc(slen + 2);
		if (packed && slen <= 65533) {
			vg_put16(packed, (uint16_t)slen);
			memcpy(packed + 2, sig, slen);
			struct vg_rrset sigs = { .owner = owner, .type = VG_T_RRSIG,
						 .rclass = VG_C_IN, .ttl = 300, .count = 1,
						 .rdata_len = (uint16_t)(slen + 2),
						 .rdata = packed };
			struct vg_val_budget b = { .sigs_left = 4, .rrsigs_per_rrset = 8,
						   .keys_per_tag = 2, .skew = 300 };
			int ede = 0;
			vg_dnssec_validate_rrset(&rs, &sigs, &k, 1, 1700000000u, &b, scratch,
						 sizeof(scratch), &ede);
		}
		free(packed);
		vg_dnssec_key_deinit(&k);
	}
	if (dlen >= 4)
		vg_dnssec_ds_match(owner, key, klen, dd, dlen);
	uint8_t hash[64];
	vg_dnssec_nsec3_hash(owner, salt, saltlen, size & 0xf, hash);
	bool malformed;
	vg_nsec_bitmap_has(rr, rlen, covered, &malformed);
out:
	free(key);
	free(sig);
	free(rr);
	return 0;
}
