/* SPDX-License-Identifier: MIT
 *
 * Reading an RPZ zone file (draft-vixie-dnsop-dns-rpz-00, RPZ.md 2.1-2.3)
 * into policy rules, record by record with ldns so that every problem is
 * reported with its FILE:LINE and the record skipped (a bad rule never stops
 * the rest of the zone from loading).
 *
 * The apex SOA gives the zone's name and serial (for the SOA put in rewritten
 * answers); apex NS records are ignored; the owner of every other record is
 * the trigger (vg_rpz_owner) and its RRset the action:
 *
 *   CNAME .                NXDOMAIN        CNAME rpz-passthru.  PASSTHRU
 *   CNAME *.               NODATA          CNAME rpz-drop.      DROP
 *   CNAME rpz-tcp-only.    TCP-only        CNAME *.garden.net.  walled garden
 *   CNAME <the trigger name itself>        PASSTHRU (deprecated form)
 *   any other record                       local data
 *
 * SOA and NS below the apex, DNAME and DNSSEC records are errors (RPZ.md
 * 2.2), as are CNAMEs to other "rpz-" names.  Work in progress (issue 4):
 * local data is recognised as an action but its records are not kept yet.
 */
#include <string.h>

#include <ldns/ldns.h>

#include "policy/rpzload.h"

static int rdf_name(const ldns_rdf *rdf, uint8_t *out)
{
	if (!rdf || ldns_rdf_get_type(rdf) != LDNS_RDF_TYPE_DNAME || ldns_rdf_size(rdf) > VG_NAME_MAX)
		return VG_EMALFORMED;
	memcpy(out, ldns_rdf_data(rdf), ldns_rdf_size(rdf));
	vg_name_lower(out);
	return 0;
}

/* Is @p name "rpz-*." or below such a TLD? */
static bool rpz_tld(const uint8_t *name)
{
	int labels = vg_name_labels(name);
	if (labels < 1)
		return false;
	const uint8_t *tld = vg_name_suffix(name, 1);
	return tld[0] >= 4 && !memcmp(tld + 1, "rpz-", 4);
}

static bool name_is(const uint8_t *name, const char *text)
{
	uint8_t n[VG_NAME_MAX];
	return vg_name_from_str(text, n, sizeof(n)) > 0 && vg_name_eq(name, n);
}

/* The action of a CNAME to @p target for the rule @p r; VG_EINVAL if invalid. */
static int cname_action(const struct vg_pol_rule *r, const uint8_t *target, const char **why)
{
	if (target[0] == 0)
		return VG_ACT_NXDOMAIN;
	if (target[0] == 1 && target[1] == '*') {
		if (target[2] == 0)
			return VG_ACT_NODATA;
		return VG_ACT_GARDEN; /* *.garden.example. */
	}
	if (name_is(target, "rpz-passthru."))
		return VG_ACT_PASSTHRU;
	if (name_is(target, "rpz-drop."))
		return VG_ACT_DROP;
	if (name_is(target, "rpz-tcp-only."))
		return VG_ACT_TCP_ONLY;
	if (rpz_tld(target)) {
		*why = "CNAME to an unknown rpz- action";
		return VG_EINVAL;
	}
	if (r->trigger == VG_TRIG_QNAME && !r->wildcard && vg_name_eq(target, r->name))
		return VG_ACT_PASSTHRU; /* the deprecated "CNAME to itself" form (draft §10) */
	return VG_ACT_LOCAL;
}

static void report(struct vg_rpz_ctx *c, unsigned line, const char *fmt, const char *what)
{
	c->errors++;
	if (c->errout) {
		fprintf(c->errout, "%s:%u: ", c->path, line);
		fprintf(c->errout, fmt, what);
		fputs(" (record skipped)\n", c->errout);
	}
}

int vg_rpz_load(FILE *f, struct vg_rpz_ctx *c)
{
	uint32_t ttl = 3600;
	ldns_rdf *origin = NULL, *prev = NULL;
	int line = 1, ret = 0;
	bool have_soa = false;

	if (c->origin[0] || c->origin_set) {
		origin = ldns_dname_new_frm_data((uint16_t)vg_name_len(c->origin), c->origin);
		if (!origin)
			return VG_ENOMEM;
	}
	while (!feof(f)) {
		ldns_rr *rr = NULL;
		int before = line;
		ldns_status st = ldns_rr_new_frm_fp_l(&rr, f, &ttl, &origin, &prev, &line);
		if (st == LDNS_STATUS_SYNTAX_EMPTY || st == LDNS_STATUS_SYNTAX_TTL ||
		    st == LDNS_STATUS_SYNTAX_ORIGIN || st == LDNS_STATUS_SYNTAX_INCLUDE) {
			if (st == LDNS_STATUS_SYNTAX_INCLUDE)
				report(c, (unsigned)before, "%s", "$INCLUDE is not supported");
			continue;
		}
		if (st != LDNS_STATUS_OK) {
			report(c, (unsigned)before, "%s", ldns_get_errorstr_by_id(st));
			ldns_rr_free(rr);
			continue;
		}
		unsigned at = (unsigned)before; /* where the record starts */
		ldns_rr_type type = ldns_rr_get_type(rr);
		uint8_t owner[VG_NAME_MAX];
		if (rdf_name(ldns_rr_owner(rr), owner) < 0) {
			report(c, at, "%s", "bad owner name");
			ldns_rr_free(rr);
			continue;
		}
		if (!have_soa) {
			/* the first record must be the apex SOA: it names the zone */
			if (type != LDNS_RR_TYPE_SOA) {
				report(c, at, "%s", "the first record must be the zone's SOA");
				ldns_rr_free(rr);
				ret = VG_EPARSE;
				break;
			}
			have_soa = true;
			memcpy(c->origin, owner, vg_name_len(owner));
			ldns_rdf *serial = ldns_rr_rdf(rr, 2);
			c->serial = serial ? ldns_rdf2native_int32(serial) : 0;
			c->soa_ttl = ldns_rr_ttl(rr);
			ldns_buffer *b = ldns_buffer_new(512);
			if (b && ldns_rr_rdata2buffer_wire(b, rr) == LDNS_STATUS_OK &&
			    ldns_buffer_position(b) <= sizeof(c->soa)) {
				c->soa_len = (uint16_t)ldns_buffer_position(b);
				memcpy(c->soa, ldns_buffer_begin(b), c->soa_len);
			}
			ldns_buffer_free(b);
			ldns_rr_free(rr);
			continue;
		}
		bool apex = vg_name_eq(owner, c->origin);
		if (apex && (type == LDNS_RR_TYPE_NS || type == LDNS_RR_TYPE_SOA)) {
			ldns_rr_free(rr);
			continue; /* zone infrastructure, not policy */
		}
		if (apex) {
			report(c, at, "%s", "a record at the zone apex cannot be policy");
			ldns_rr_free(rr);
			continue;
		}
		if (type == LDNS_RR_TYPE_SOA || type == LDNS_RR_TYPE_NS ||
		    type == LDNS_RR_TYPE_DNAME || type == LDNS_RR_TYPE_RRSIG ||
		    type == LDNS_RR_TYPE_NSEC || type == LDNS_RR_TYPE_NSEC3 ||
		    type == LDNS_RR_TYPE_NSEC3PARAM || type == LDNS_RR_TYPE_DNSKEY ||
		    type == LDNS_RR_TYPE_DS) {
			char *t = ldns_rr_type2str(type);
			report(c, at, "%s records cannot be policy (RPZ forbids them)", t ? t : "?");
			free(t);
			ldns_rr_free(rr);
			continue;
		}
		struct vg_pol_rule r;
		const char *why = NULL;
		memset(&r, 0, sizeof(r));
		int o = vg_rpz_owner(owner, c->origin, &r, &why);
		if (o == VG_ENOTSUP) {
			c->ignored++; /* an unknown higher-format trigger: harmless */
			ldns_rr_free(rr);
			continue;
		}
		if (o < 0) {
			report(c, at, "invalid trigger: %s", why ? why : "malformed owner name");
			ldns_rr_free(rr);
			continue;
		}
		if (type == LDNS_RR_TYPE_CNAME) {
			uint8_t target[VG_NAME_MAX];
			if (rdf_name(ldns_rr_rdf(rr, 0), target) < 0) {
				report(c, at, "%s", "bad CNAME target");
				ldns_rr_free(rr);
				continue;
			}
			int a = cname_action(&r, target, &why);
			if (a < 0) {
				report(c, at, "%s", why);
				ldns_rr_free(rr);
				continue;
			}
			r.action = (enum vg_pol_action)a;
		} else {
			r.action = VG_ACT_LOCAL;
		}
		r.line = at;
		ldns_rr_free(rr);
		int e = c->emit(c->arg, &r);
		if (e < 0) {
			ret = e;
			break;
		}
		c->rules++;
	}
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	if (ret == 0 && !have_soa) {
		report(c, (unsigned)line, "%s", "no SOA record: not a zone");
		ret = VG_EPARSE;
	}
	return ret;
}
