/* SPDX-License-Identifier: MIT
 *
 * Trust anchors: built-in root DS records and anchor files read with ldns.
 */
#include <errno.h>
#include <string.h>

#include <ldns/ldns.h>

#include "core/core.h"
#include "dnssec/ta.h"

/* IANA root anchors (root-anchors.xml; also Debian's dns-root-data root.ds) */
static const struct {
	uint16_t tag;
	uint8_t alg, digest_type;
	const char *digest;
} root_ds[] = {
	{ 20326, 8, 2, "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D" },
	{ 38696, 8, 2, "683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16" },
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int vg_ta_builtin(struct vg_ta_set *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < VG_ARRAY_SIZE(root_ds); i++) {
		struct vg_ta *t = &s->ta[s->n++];
		size_t hl = strlen(root_ds[i].digest);
		t->owner[0] = 0;
		t->type = VG_T_DS;
		vg_put16(t->rdata, root_ds[i].tag);
		t->rdata[2] = root_ds[i].alg;
		t->rdata[3] = root_ds[i].digest_type;
		for (size_t k = 0; k + 1 < hl; k += 2) {
			int hi = hexval(root_ds[i].digest[k]), lo = hexval(root_ds[i].digest[k + 1]);
			if (hi < 0 || lo < 0)
				return VG_EINVAL;
			t->rdata[4 + k / 2] = (uint8_t)(hi << 4 | lo);
		}
		t->rdlen = (uint16_t)(4 + hl / 2);
	}
	return 0;
}

int vg_ta_load(struct vg_ta_set *s, const char *path, FILE *errout)
{
	FILE *f = fopen(path, "r");
	int ret = 0, line = 1;
	ldns_rdf *origin = NULL;
	uint32_t ttl = 3600;
	if (!f) {
		fprintf(errout, "%s: cannot open trust anchor file: %s\n", path, strerror(errno));
		return -errno;
	}
	for (;;) {
		ldns_rr *rr = NULL;
		ldns_status st = ldns_rr_new_frm_fp_l(&rr, f, &ttl, &origin, NULL, &line);
		/* ldns skips comments itself and leaves @line past the record's end */
		int at = line > 1 ? line - 1 : 1;
		if (st == LDNS_STATUS_SYNTAX_EMPTY || st == LDNS_STATUS_SYNTAX_TTL ||
		    st == LDNS_STATUS_SYNTAX_ORIGIN) {
			if (feof(f))
				break;
			continue;
		}
		if (st != LDNS_STATUS_OK) {
			if (feof(f) && st == LDNS_STATUS_SYNTAX_ERR && !rr)
				break;
			fprintf(errout, "%s:%d: %s\n", path, at, ldns_get_errorstr_by_id(st));
			ret = VG_EPARSE;
			if (feof(f))
				break;
			continue;
		}
		ldns_rr_type t = ldns_rr_get_type(rr);
		ldns_buffer *b = ldns_buffer_new(VG_TA_RDATA_MAX);
		if (t != LDNS_RR_TYPE_DS && t != LDNS_RR_TYPE_DNSKEY) {
			fprintf(errout, "%s:%d: only DS and DNSKEY records may be trust anchors\n",
				path, at);
			ret = VG_EPARSE;
		} else if (s->n >= VG_TA_MAX) {
			fprintf(errout, "%s:%d: more than %d trust anchors\n", path, at, VG_TA_MAX);
			ret = VG_ELIMIT;
		} else if (!b || ldns_rr_rdata2buffer_wire(b, rr) != LDNS_STATUS_OK ||
			   ldns_buffer_position(b) > VG_TA_RDATA_MAX ||
			   ldns_rdf_size(ldns_rr_owner(rr)) > VG_NAME_MAX) {
			fprintf(errout, "%s:%d: trust anchor too large\n", path, at);
			ret = VG_EPARSE;
		} else {
			struct vg_ta *ta = &s->ta[s->n++];
			memcpy(ta->owner, ldns_rdf_data(ldns_rr_owner(rr)),
			       ldns_rdf_size(ldns_rr_owner(rr)));
			vg_name_lower(ta->owner);
			ta->type = t == LDNS_RR_TYPE_DS ? VG_T_DS : VG_T_DNSKEY;
			ta->rdlen = (uint16_t)ldns_buffer_position(b);
			memcpy(ta->rdata, ldns_buffer_begin(b), ta->rdlen);
		}
		ldns_buffer_free(b);
		ldns_rr_free(rr);
		if (feof(f))
			break;
	}
	ldns_rdf_deep_free(origin);
	fclose(f);
	return ret;
}

bool vg_dnssec_is_insecure(const struct vg_dnssec_opts *o, const uint8_t *name)
{
	for (size_t i = 0; i < o->n_nta; i++)
		if (vg_name_is_sub(name, o->nta[i]))
			return true;
	for (size_t i = 0; i < o->n_insecure; i++)
		if (vg_name_is_sub(name, o->insecure[i]))
			return true;
	return false;
}

const uint8_t *vg_ta_anchor_for(const struct vg_ta_set *s, const uint8_t *name)
{
	const uint8_t *best = NULL;
	int best_labels = -1;
	for (unsigned i = 0; i < s->n; i++) {
		int l = vg_name_labels(s->ta[i].owner);
		if (l > best_labels && vg_name_is_sub(name, s->ta[i].owner)) {
			best = s->ta[i].owner;
			best_labels = l;
		}
	}
	return best;
}

int vg_ta_trusts_key(const struct vg_ta_set *s, const uint8_t *owner, const uint8_t *key,
		     size_t keylen)
{
	bool any_supported = false, any = false;
	for (unsigned i = 0; i < s->n; i++) {
		const struct vg_ta *t = &s->ta[i];
		if (!vg_name_eq(t->owner, owner))
			continue;
		any = true;
		if (t->type == VG_T_DNSKEY) {
			if (t->rdlen >= 4 && vg_dnssec_alg_supported(t->rdata[3]))
				any_supported = true;
			if (t->rdlen == keylen && !memcmp(t->rdata, key, keylen))
				return 0;
			continue;
		}
		if (t->rdlen < 4 || !vg_dnssec_alg_supported(t->rdata[2]) ||
		    !vg_dnssec_digest_supported(t->rdata[3]))
			continue;
		any_supported = true;
		if (vg_dnssec_ds_match(owner, key, keylen, t->rdata, t->rdlen) == 0)
			return 0;
	}
	return any && !any_supported ? VG_ENOTSUP : VG_EBOGUS;
}
