/* SPDX-License-Identifier: MIT
 *
 * Root hints: the IANA root servers built in, or a hints file read with ldns
 * (cold path: start-up and reload only).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <ldns/ldns.h>

#include "resolv/resolv.h"

static const struct {
	const char *name, *v4, *v6;
} iana[] = {
	{ "a.root-servers.net", "198.41.0.4", "2001:503:ba3e::2:30" },
	{ "b.root-servers.net", "170.247.170.2", "2801:1b8:10::b" },
	{ "c.root-servers.net", "192.33.4.12", "2001:500:2::c" },
	{ "d.root-servers.net", "199.7.91.13", "2001:500:2d::d" },
	{ "e.root-servers.net", "192.203.230.10", "2001:500:a8::e" },
	{ "f.root-servers.net", "192.5.5.241", "2001:500:2f::f" },
	{ "g.root-servers.net", "192.112.36.4", "2001:500:12::d0d" },
	{ "h.root-servers.net", "198.97.190.53", "2001:500:1::53" },
	{ "i.root-servers.net", "192.36.148.17", "2001:7fe::53" },
	{ "j.root-servers.net", "192.58.128.30", "2001:503:c27::2:30" },
	{ "k.root-servers.net", "193.0.14.129", "2001:7fd::1" },
	{ "l.root-servers.net", "199.7.83.42", "2001:500:9f::42" },
	{ "m.root-servers.net", "202.12.27.33", "2001:dc3::35" },
};

static int add_addr(struct vg_hints *h, unsigned ns, int family, const void *addr)
{
	if (h->n_addr >= VG_ARRAY_SIZE(h->addr))
		return VG_ELIMIT;
	struct vg_sockaddr *sa = &h->addr[h->n_addr];
	memset(sa, 0, sizeof(*sa));
	if (family == AF_INET) {
		sa->u.in4.sin_family = AF_INET;
		sa->u.in4.sin_port = htons(53);
		memcpy(&sa->u.in4.sin_addr, addr, 4);
		sa->len = sizeof(sa->u.in4);
	} else {
		sa->u.in6.sin6_family = AF_INET6;
		sa->u.in6.sin6_port = htons(53);
		memcpy(&sa->u.in6.sin6_addr, addr, 16);
		sa->len = sizeof(sa->u.in6);
	}
	h->addr_ns[h->n_addr++] = (uint8_t)ns;
	return 0;
}

int vg_hints_builtin(struct vg_hints *h)
{
	memset(h, 0, sizeof(*h));
	for (unsigned i = 0; i < VG_ARRAY_SIZE(iana); i++) {
		uint8_t a4[4], a6[16];
		if (vg_name_from_str(iana[i].name, h->ns[i], VG_NAME_MAX) < 0 ||
		    inet_pton(AF_INET, iana[i].v4, a4) != 1 ||
		    inet_pton(AF_INET6, iana[i].v6, a6) != 1)
			return VG_EINVAL;
		add_addr(h, i, AF_INET, a4);
		add_addr(h, i, AF_INET6, a6);
		h->n_ns++;
	}
	return 0;
}

static int find_ns(const struct vg_hints *h, const uint8_t *name)
{
	for (unsigned i = 0; i < h->n_ns; i++)
		if (vg_name_eq(h->ns[i], name))
			return (int)i;
	return -1;
}

static int rdf_name(const ldns_rdf *rdf, uint8_t *out)
{
	if (!rdf || ldns_rdf_get_type(rdf) != LDNS_RDF_TYPE_DNAME || ldns_rdf_size(rdf) > VG_NAME_MAX)
		return VG_EPARSE;
	memcpy(out, ldns_rdf_data(rdf), ldns_rdf_size(rdf));
	vg_name_lower(out);
	return 0;
}

int vg_hints_load(struct vg_hints *h, const char *path, FILE *errout)
{
	FILE *f = fopen(path, "r");
	ldns_zone *z = NULL;
	int line = 0, ret = VG_EPARSE;

	memset(h, 0, sizeof(*h));
	if (!f) {
		fprintf(errout, "%s: cannot open root hints: %s\n", path, strerror(errno));
		return -errno;
	}
	ldns_status st = ldns_zone_new_frm_fp_l(&z, f, NULL, 3600, LDNS_RR_CLASS_IN, &line);
	if (st != LDNS_STATUS_OK) {
		fprintf(errout, "%s:%d: root hints: %s\n", path, line, ldns_get_errorstr_by_id(st));
		goto out;
	}
	ldns_rr_list *rrs = ldns_zone_rrs(z);
	/* first pass: NS names of the root; second: their addresses */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
			ldns_rr *rr = ldns_rr_list_rr(rrs, i);
			uint8_t owner[VG_NAME_MAX], target[VG_NAME_MAX];
			if (rdf_name(ldns_rr_owner(rr), owner) < 0)
				continue;
			ldns_rr_type t = ldns_rr_get_type(rr);
			if (pass == 0 && t == LDNS_RR_TYPE_NS && owner[0] == 0) {
				if (rdf_name(ldns_rr_rdf(rr, 0), target) < 0 || h->n_ns >= VG_HINTS_MAX)
					continue;
				if (find_ns(h, target) < 0)
					memcpy(h->ns[h->n_ns++], target, vg_name_len(target));
			} else if (pass == 1 && (t == LDNS_RR_TYPE_A || t == LDNS_RR_TYPE_AAAA)) {
				int ns = find_ns(h, owner);
				const ldns_rdf *rd = ldns_rr_rdf(rr, 0);
				if (ns < 0 || !rd)
					continue;
				if (t == LDNS_RR_TYPE_A && ldns_rdf_size(rd) == 4)
					add_addr(h, (unsigned)ns, AF_INET, ldns_rdf_data(rd));
				else if (t == LDNS_RR_TYPE_AAAA && ldns_rdf_size(rd) == 16)
					add_addr(h, (unsigned)ns, AF_INET6, ldns_rdf_data(rd));
			}
		}
	}
	if (h->n_ns == 0 || h->n_addr == 0) {
		fprintf(errout, "%s: root hints hold no root NS with an address\n", path);
		goto out;
	}
	ret = 0;
out:
	if (z)
		ldns_zone_deep_free(z);
	fclose(f);
	return ret;
}
