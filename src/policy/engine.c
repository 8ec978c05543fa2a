/* SPDX-License-Identifier: MIT
 *
 * The policy engine: loads the configured sources into one compiled
 * snapshot (at start-up and reload, off the workers) and decides, for a
 * client query, which rule applies.
 *
 * This first slice decides before resolution, with the triggers that can be
 * decided there: CLIENT-IP and QNAME.  For a client's group, sources are
 * consulted in the group's order; the first source with a match decides
 * (RPZ zone order), within a source CLIENT-IP beats QNAME and an exact QNAME
 * beats the longest wildcard.  A PASSTHRU (or a list's allow rule) stops
 * the search: the query resolves normally.  In allowlist mode a name no
 * rule allows is denied.  RESPONSE-IP, NSDNAME and NSIP rules are loaded but
 * not applied yet, and neither is local data (such rules are reported at
 * load time and skipped).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy/engine.h"
#include "policy/lists.h"
#include "policy/rpzload.h"

struct rulevec {
	struct vg_pol_rule *r;
	size_t n, cap;
	unsigned skipped_local; /* local data / walled garden: not applied yet */
	unsigned first_local_line;
};

static int vec_emit(void *arg, const struct vg_pol_rule *r)
{
	struct rulevec *v = arg;
	if (r->action == VG_ACT_LOCAL || r->action == VG_ACT_GARDEN) {
		if (!v->skipped_local++)
			v->first_local_line = r->line;
		return 0;
	}
	if (v->n == v->cap) {
		size_t nc = v->cap ? v->cap * 2 : 256;
		struct vg_pol_rule *nr = realloc(v->r, nc * sizeof(*nr));
		if (!nr)
			return VG_ENOMEM;
		v->r = nr;
		v->cap = nc;
	}
	v->r[v->n++] = *r;
	return 0;
}

/* Read one source; 0, or <0 when the file as a whole is unusable. */
static int load_source(const struct vg_policy_source *cs, struct vg_policy_src *ps,
		       struct rulevec *v, FILE *errout)
{
	FILE *f = fopen(cs->file, "r");
	if (!f) {
		fprintf(errout, "%s: cannot open policy source '%s': %s\n", cs->file, cs->name,
			strerror(errno));
		return -errno;
	}
	int r;
	if (cs->type == VG_PSRC_RPZ) {
		struct vg_rpz_ctx c = { .path = cs->file, .emit = vec_emit, .arg = v,
					.errout = errout };
		r = vg_rpz_load(f, &c);
		ps->rpz = c.soa_len > 0;
		memcpy(ps->origin, c.origin, vg_name_len(c.origin));
		ps->serial = c.serial;
		vg_put16(ps->soa, c.soa_len);
		memcpy(ps->soa + 2, c.soa, c.soa_len);
		ps->soa_ttl = c.soa_ttl;
	} else {
		static const enum vg_pol_list_fmt fmts[] = { [VG_PSRC_HOSTS] = VG_LIST_HOSTS,
							     [VG_PSRC_DOMAINS] = VG_LIST_DOMAINS,
							     [VG_PSRC_ADBLOCK] = VG_LIST_ADBLOCK };
		struct vg_pol_list_ctx c = { .path = cs->file, .format = fmts[cs->type],
					     .action = (enum vg_pol_action)cs->action,
					     .emit = vec_emit, .arg = v, .errout = errout };
		r = vg_pol_list_parse(f, &c);
	}
	fclose(f);
	if (v->skipped_local)
		fprintf(errout,
			"%s:%u: local-data and walled-garden rules are not supported yet: %u "
			"skipped\n", cs->file, v->first_local_line, v->skipped_local);
	return r;
}

int vg_policy_load(struct vg_policy **out, const struct vg_config *cfg, FILE *errout)
{
	struct vg_policy *p = calloc(1, sizeof(*p));
	struct rulevec vecs[VG_CONFIG_MAX_POLICY_SOURCES];
	struct vg_pol_source_rules rs[VG_CONFIG_MAX_POLICY_SOURCES];
	int ret = 0;
	memset(vecs, 0, sizeof(vecs));
	if (!p)
		return VG_ENOMEM;
	p->nsources = (unsigned)cfg->n_policy_sources;
	for (unsigned i = 0; i < p->nsources; i++) {
		const struct vg_policy_source *cs = &cfg->policy_sources[i];
		struct vg_policy_src *ps = &p->src[i];
		snprintf(ps->name, sizeof(ps->name), "%s", cs->name);
		ps->ede = cs->ede;
		int r = load_source(cs, ps, &vecs[i], errout);
		if (r < 0) {
			if (cs->optional) {
				fprintf(errout, "%s: policy source '%s' is optional: starting without "
					"it\n", cs->file, cs->name);
				vecs[i].n = 0;
			} else {
				fprintf(errout, "%s: policy source '%s' could not be loaded\n",
					cs->file, cs->name);
				ret = r == VG_ENOMEM ? r : VG_ECONFIG;
			}
		}
		rs[i].rules = vecs[i].r;
		rs[i].n = vecs[i].n;
	}
	if (ret == 0)
		ret = vg_pol_build(&p->snap, rs, p->nsources, NULL);
	for (unsigned i = 0; i < p->nsources; i++)
		free(vecs[i].r);
	if (ret < 0) {
		vg_policy_free(p);
		return ret;
	}
	p->ngroups = (unsigned)cfg->n_policy_groups;
	memcpy(p->groups, cfg->policy_groups, p->ngroups * sizeof(p->groups[0]));
	*out = p;
	return 0;
}

void vg_policy_free(struct vg_policy *p)
{
	if (!p)
		return;
	vg_pol_free(p->snap);
	free(p);
}

/* The client's group: the longest matching prefix over all groups. */
static const struct vg_policy_group *group_of(const struct vg_policy *p, int fam,
					      const uint8_t *a)
{
	const struct vg_policy_group *best = NULL;
	int best_bits = -1;
	for (unsigned i = 0; i < p->ngroups; i++)
		for (size_t k = 0; k < p->groups[i].n_clients; k++) {
			const struct vg_prefix *pf = &p->groups[i].clients[k];
			if (pf->bits > best_bits && vg_prefix_contains(pf, fam, a)) {
				best = &p->groups[i];
				best_bits = pf->bits;
			}
		}
	return best;
}

/* The client's address family and bytes (IPv4-mapped IPv6 as IPv4). */
static bool client_addr(const struct sockaddr *client, int *fam, const uint8_t **a)
{
	if (client->sa_family == AF_INET) {
		*fam = AF_INET;
		*a = (const uint8_t *)&((const struct sockaddr_in *)client)->sin_addr;
		return true;
	}
	if (client->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)client)->sin6_addr;
		*fam = IN6_IS_ADDR_V4MAPPED(a6) ? AF_INET : AF_INET6;
		*a = a6->s6_addr + (*fam == AF_INET ? 12 : 0);
		return true;
	}
	return false;
}

static const struct vg_policy_group *client_group(const struct vg_policy *p,
						  const struct sockaddr *client)
{
	int fam;
	const uint8_t *a;
	if (!p || !p->ngroups || !client_addr(client, &fam, &a))
		return NULL;
	return group_of(p, fam, a);
}

/* Does a source before position @p upto of group @p g have RESPONSE-IP rules? */
static bool resp_ip_before(const struct vg_policy *p, const struct vg_policy_group *g,
			   size_t upto)
{
	for (size_t i = 0; i < upto && i < g->n_sources; i++)
		if (vg_pol_has_ip_rules(p->snap, g->sources[i], VG_TRIG_RESP_IP))
			return true;
	return false;
}

bool vg_policy_wants_response(const struct vg_policy *p, const struct sockaddr *client)
{
	const struct vg_policy_group *g = client_group(p, client);
	return g && resp_ip_before(p, g, g->n_sources);
}

int vg_policy_check(const struct vg_policy *p, const struct sockaddr *client,
		    const uint8_t *qname, struct vg_policy_decision *d)
{
	memset(d, 0, sizeof(*d));
	int fam;
	const uint8_t *a;
	if (!p || !p->ngroups || !client_addr(client, &fam, &a))
		return 0;
	const struct vg_policy_group *g = group_of(p, fam, a);
	if (!g)
		return 0;
	uint8_t addr[16];
	if (fam == AF_INET)
		vg_pol_addr_v4(a, addr);
	else
		memcpy(addr, a, 16);
	d->group = g->name;
	for (size_t i = 0; i < g->n_sources; i++) {
		unsigned s = g->sources[i];
		struct vg_pol_hit h;
		/* within a source, CLIENT-IP beats QNAME (RPZ.md 2.4 rule 4) */
		if (vg_pol_match_ip(p->snap, s, VG_TRIG_CLIENT_IP, addr, &h) != 0 &&
		    vg_pol_match_name(p->snap, s, VG_TRIG_QNAME, qname, &h) != 0)
			continue;
		d->matched = true;
		d->order = (unsigned)i;
		d->defer = resp_ip_before(p, g, i);
		d->source = s;
		d->trigger = (enum vg_pol_trigger)h.rule->trigger;
		d->line = h.rule->line;
		d->labels = h.labels;
		d->bits = h.bits;
		memcpy(d->addr, h.addr, 16);
		d->action = h.rule->allow ? VG_ACT_PASSTHRU : (enum vg_pol_action)h.rule->action;
		d->wildcard = h.rule->wildcard;
		d->rewrite = d->action != VG_ACT_PASSTHRU;
		return d->rewrite;
	}
	d->order = (unsigned)g->n_sources;
	d->defer = resp_ip_before(p, g, g->n_sources);
	if (g->allowlist) {
		/* allowlist mode: nothing allowed this name */
		d->denied_by_allowlist = true;
		d->action = VG_ACT_NXDOMAIN;
		d->rewrite = true;
		return 1;
	}
	return 0;
}

/* Is (bits, addr) a better RESPONSE-IP match than the best so far? */
static bool better(unsigned bits, const uint8_t *addr, const struct vg_pol_hit *best, bool have)
{
	if (!have || bits > best->bits)
		return true;
	return bits == best->bits && memcmp(addr, best->addr, 16) < 0;
}

int vg_policy_check_response(const struct vg_policy *p, const struct sockaddr *client,
			     struct vg_rrset *const *ans, unsigned nans,
			     struct vg_policy_decision *d)
{
	const struct vg_policy_group *g = client_group(p, client);
	if (!g)
		return d->rewrite;
	/* only sources before the one that decided already can change it */
	for (size_t i = 0; i < d->order && i < g->n_sources; i++) {
		unsigned s = g->sources[i];
		if (!vg_pol_has_ip_rules(p->snap, s, VG_TRIG_RESP_IP))
			continue;
		struct vg_pol_hit best, h;
		bool have = false;
		for (unsigned k = 0; k < nans; k++) {
			const struct vg_rrset *rs = ans[k];
			if (rs->type != VG_T_A && rs->type != VG_T_AAAA)
				continue;
			const uint8_t *q = rs->rdata, *end = rs->rdata + rs->rdata_len;
			for (unsigned r = 0; r < rs->count && end - q >= 2; r++) {
				uint16_t l = vg_get16(q);
				uint8_t addr[16];
				const uint8_t *rd = q + 2;
				q += 2u + l;
				if (q > end)
					break;
				if (rs->type == VG_T_A && l == 4)
					vg_pol_addr_v4(rd, addr);
				else if (rs->type == VG_T_AAAA && l == 16)
					memcpy(addr, rd, 16);
				else
					continue;
				if (vg_pol_match_ip(p->snap, s, VG_TRIG_RESP_IP, addr, &h) == 0 &&
				    better(h.bits, addr, &best, have)) {
					best = h;
					have = true;
				}
			}
		}
		if (!have)
			continue;
		memset(d, 0, sizeof(*d));
		d->group = g->name;
		d->matched = true;
		d->order = (unsigned)i;
		d->source = s;
		d->trigger = VG_TRIG_RESP_IP;
		d->line = best.rule->line;
		d->bits = best.bits;
		memcpy(d->addr, best.addr, 16);
		d->action = best.rule->allow ? VG_ACT_PASSTHRU : (enum vg_pol_action)best.rule->action;
		d->rewrite = d->action != VG_ACT_PASSTHRU;
		return d->rewrite;
	}
	return d->rewrite;
}

size_t vg_policy_describe(const struct vg_policy *p, const struct vg_policy_decision *d,
			  const uint8_t *qname, char *buf, size_t cap)
{
	char rule[VG_NAME_MAX * 4 + 64];
	uint8_t net[16];
	memcpy(net, d->addr, 16);
	for (unsigned i = d->bits; i < 128; i++) /* the rule's network, not the address */
		net[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	if (d->denied_by_allowlist) {
		return (size_t)snprintf(buf, cap, "vigil: group %s allowlist: not allowed",
					d->group ? d->group : "?");
	}
	if (d->trigger == VG_TRIG_CLIENT_IP || d->trigger == VG_TRIG_RESP_IP) {
		char a[INET6_ADDRSTRLEN];
		bool v4 = d->bits >= 96 && !memcmp(d->addr, "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
		if (v4)
			inet_ntop(AF_INET, net + 12, a, sizeof(a));
		else
			inet_ntop(AF_INET6, net, a, sizeof(a));
		snprintf(rule, sizeof(rule), "%s %s/%u",
			 d->trigger == VG_TRIG_CLIENT_IP ? "client-ip" : "response-ip", a,
			 v4 ? d->bits - 96 : d->bits);
	} else {
		const uint8_t *owner = vg_name_suffix(qname, (int)d->labels - (d->wildcard ? 1 : 0));
		char n[VG_NAME_MAX * 4 + 8];
		vg_name_to_str(owner, n, sizeof(n));
		size_t nl = strlen(n);
		if (nl > 1 && n[nl - 1] == '.')
			n[nl - 1] = 0;
		snprintf(rule, sizeof(rule), "%s%s", d->wildcard ? "*." : "", n);
	}
	return (size_t)snprintf(buf, cap, "vigil: %s rule %s", p->src[d->source].name, rule);
}
