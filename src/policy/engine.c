/* SPDX-License-Identifier: MIT
 *
 * The policy engine: loads the configured sources into one compiled
 * snapshot (at start-up and reload, off the workers) and decides, for a
 * client query, which rule applies.
 *
 * For a client's group, sources are consulted in the group's order; the
 * first source with a match decides (RPZ zone order), within a source
 * CLIENT-IP > QNAME > RESPONSE-IP > NSDNAME > NSIP, and an exact name beats
 * the longest wildcard.  A PASSTHRU (or a list's allow rule) stops the
 * search: the query resolves normally.  In allowlist mode a name no rule
 * allows is denied.  CLIENT-IP and QNAME are decided before resolution; the
 * triggers only an answer has (RESPONSE-IP, NSDNAME, NSIP, and the names of
 * a CNAME chain) after it: see "deciding" below.
 *
 * Per source, the override (RPZ.md 2.5) replaces a match's action when it
 * is applied (vg_policy_override); a "disabled" source's matches are only
 * logged and the next best match decides.  recursive-only sources skip RD=0
 * queries; sources without break-dnssec rewrite a DO=1 query only when its
 * answer turns out to have no DNSSEC data (the decision waits for it).
 *
 * Loading: each source is read and compiled on its own into a shared,
 * reference-counted object; a reload shares the sources whose files did not
 * change and keeps the previous version of one whose new file is broken.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache/cache.h"
#include "dnssec/dnssec.h"
#include "policy/engine.h"
#include "policy/lists.h"
#include "policy/rpzload.h"

/* ------------------------------------------------------------ loading */

static void idents_build(struct vg_policy *p);

struct emit_ctx {
	struct vg_pol_compiled *c;
	struct vg_pol_dup_cb dup;
	const char *file;
	FILE *errout;
	unsigned dups;
};

static void on_dup(void *arg, const struct vg_pol_rule *r)
{
	struct emit_ctx *e = arg;
	if (e->dups++ < 5 && e->errout)
		fprintf(e->errout, "%s:%u: a second rule for the same trigger: the first one "
			"read applies (this one is ignored)\n", e->file, r->line);
}

static int emit_rule(void *arg, const struct vg_pol_rule *r)
{
	struct emit_ctx *e = arg;
	return vg_pol_compile_add(e->c, r, &e->dup);
}

static bool same_identity(const struct vg_policy_src *a, const struct stat *st)
{
	return a->dev == st->st_dev && a->ino == st->st_ino && a->size == st->st_size &&
	       a->mtime.tv_sec == st->st_mtim.tv_sec && a->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static bool same_config(const struct vg_policy_source *a, const struct vg_policy_source *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->file, b->file) && a->type == b->type &&
	       a->action == b->action && vg_name_eq(a->zone, b->zone);
}

/*
 * Read and compile one source into ps.  0; VG_EPARSE / -errno when the file
 * as a whole is unusable (unreadable, not a zone); errors (bad records,
 * reported and skipped) are counted in ps->errors.
 */
static int load_source(const struct vg_policy_source *cs, struct vg_policy_src *ps, FILE *errout)
{
	struct stat st;
	FILE *f = fopen(cs->file, "r");
	if (!f) {
		int e = errno;
		fprintf(errout, "%s: cannot open policy source '%s': %s\n", cs->file, cs->name,
			strerror(e));
		return -e;
	}
	if (fstat(fileno(f), &st) == 0) {
		ps->dev = st.st_dev;
		ps->ino = st.st_ino;
		ps->size = st.st_size;
		ps->mtime = st.st_mtim;
	}
	struct emit_ctx e = { .file = cs->file, .errout = errout };
	e.dup = (struct vg_pol_dup_cb){ on_dup, &e };
	int r = vg_pol_compile_begin(&e.c);
	if (r < 0) {
		fclose(f);
		return r;
	}
	if (cs->type == VG_PSRC_RPZ) {
		struct vg_rpz_ctx c = { .path = cs->file, .emit = emit_rule, .arg = &e,
					.errout = errout };
		if (cs->zone[0]) { /* the zone's name from the configuration ({0}: not given) */
			memcpy(c.origin, cs->zone, vg_name_len(cs->zone));
			c.origin_set = true;
		}
		r = vg_rpz_load(f, &c);
		ps->rpz = c.soa_len > 0;
		memcpy(ps->origin, c.origin, vg_name_len(c.origin));
		ps->serial = c.serial;
		vg_put16(ps->soa, c.soa_len);
		memcpy(ps->soa + 2, c.soa, c.soa_len);
		ps->soa_ttl = c.soa_ttl;
		ps->errors = c.errors;
	} else {
		static const enum vg_pol_list_fmt fmts[] = { [VG_PSRC_HOSTS] = VG_LIST_HOSTS,
							     [VG_PSRC_DOMAINS] = VG_LIST_DOMAINS,
							     [VG_PSRC_ADBLOCK] = VG_LIST_ADBLOCK };
		struct vg_pol_list_ctx c = { .path = cs->file, .format = fmts[cs->type],
					     .action = (enum vg_pol_action)cs->action,
					     .emit = emit_rule, .arg = &e, .errout = errout };
		r = vg_pol_list_parse(f, &c);
		ps->errors = c.errors;
	}
	fclose(f);
	if (r == 0)
		r = vg_pol_compile_end(e.c, &e.dup);
	if (e.dups > 5 && errout)
		fprintf(errout, "%s: %u more rules for a trigger that already had one (ignored)\n",
			cs->file, e.dups - 5);
	if (r < 0) {
		vg_pol_compiled_unref(e.c);
		return r;
	}
	ps->comp = e.c;
	ps->rules = vg_pol_compiled_rules(e.c);
	ps->loaded = true;
	return 0;
}

static const struct vg_policy_src *previous(const struct vg_policy *prev,
					    const struct vg_policy_source *cs)
{
	for (unsigned k = 0; prev && k < prev->nsources; k++)
		if (prev->src[k].loaded && same_config(&prev->src[k].cfg, cs))
			return &prev->src[k];
	return NULL;
}

int vg_policy_load(struct vg_policy **out, const struct vg_policy_opts *opts,
		   const struct vg_policy *prev, FILE *errout)
{
	struct vg_policy *p = calloc(1, sizeof(*p));
	struct vg_pol_compiled *comps[VG_POLICY_MAX_SOURCES];
	int ret = 0;
	if (!p)
		return VG_ENOMEM;
	atomic_init(&p->refs, 1);
	p->nsources = (unsigned)opts->n_sources;
	for (unsigned i = 0; i < p->nsources; i++) {
		const struct vg_policy_source *cs = &opts->sources[i];
		struct vg_policy_src *ps = &p->src[i];
		const struct vg_policy_src *old = previous(prev, cs);
		struct stat st;
		ps->cfg = *cs;
		if (old && stat(cs->file, &st) == 0 && same_identity(old, &st)) {
			/* unchanged since it was loaded: share the compiled rules */
			*ps = *old;
			ps->cfg = *cs;
			vg_pol_compiled_ref(ps->comp);
			ps->reused = true;
			continue;
		}
		snprintf(ps->name, sizeof(ps->name), "%s", cs->name);
		ps->ede = cs->ede;
		int r = load_source(cs, ps, errout);
		if (old && (r < 0 || ps->errors)) {
			/* a broken new version: the previous one stays in force */
			if (r == 0)
				vg_pol_compiled_unref(ps->comp);
			fprintf(errout, "%s: policy source '%s' %s: keeping its previous version "
				"(%u rules%s)\n", cs->file, cs->name,
				r < 0 ? "could not be loaded" : "has errors (see above)", old->rules,
				old->rpz ? ", from that zone's earlier serial" : "");
			*ps = *old;
			ps->cfg = *cs;
			vg_pol_compiled_ref(ps->comp);
			ps->kept = true;
			ps->reused = true;
			p->kept++;
			continue;
		}
		if (r < 0) {
			/* a feed's copy appears with its first transfer (src/feed) */
			bool no_copy_yet = r == -ENOENT && cs->n_primaries;
			if (cs->optional || no_copy_yet) {
				fprintf(errout, no_copy_yet ?
					"%s: policy source '%s' is a feed without a copy yet: empty "
					"until its first transfer\n" :
					"%s: policy source '%s' is optional: starting without it\n",
					cs->file, cs->name);
				ps->loaded = false;
				if ((ret = vg_pol_compile_begin(&ps->comp)) < 0 ||
				    (ret = vg_pol_compile_end(ps->comp, NULL)) < 0)
					break;
			} else {
				fprintf(errout, "%s: policy source '%s' could not be loaded\n",
					cs->file, cs->name);
				ret = r == VG_ENOMEM ? r : VG_ECONFIG;
				break;
			}
		}
	}
	if (ret == 0) {
		for (unsigned i = 0; i < p->nsources; i++)
			comps[i] = p->src[i].comp;
		ret = vg_pol_assemble(&p->snap, comps, p->nsources);
	}
	/* the snapshot holds the references from here on */
	for (unsigned i = 0; i < p->nsources; i++) {
		vg_pol_compiled_unref(p->src[i].comp);
		if (ret < 0)
			p->src[i].comp = NULL;
	}
	if (ret < 0) {
		vg_pol_free(p->snap);
		free(p);
		return ret;
	}
	p->ngroups = (unsigned)opts->n_groups;
	memcpy(p->groups, opts->groups, p->ngroups * sizeof(p->groups[0]));
	idents_build(p);
	p->qname_wait_recurse = opts->qname_wait_recurse;
	p->min_ns_dots = opts->min_ns_dots;
	*out = p;
	return 0;
}

void vg_policy_ref(const struct vg_policy *p)
{
	if (p)
		atomic_fetch_add_explicit(&((struct vg_policy *)p)->refs, 1, memory_order_relaxed);
}

void vg_policy_free(struct vg_policy *p)
{
	if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
		return;
	vg_pol_free(p->snap);
	free(p);
}

/* ------------------------------------------------------------ client groups
 *
 * A group is chosen by who the client is before where it is: a group that
 * names the client's certificate (fingerprint, then subject) or its client
 * ID wins over every group chosen by address.  An identity is a claim the
 * operator made about one client (a device behind NAT, a roaming laptop);
 * an address prefix covers whoever is there.  Among identities the
 * certificate, which TLS verified, comes before the client ID, which the
 * client only states; the fingerprint names one certificate, a subject may
 * name several.  Identities are looked up by binary search in a table built
 * at load time (no string work at all for a client without identity).
 */

static int ident_cmp(const void *a, const void *b)
{
	const struct vg_policy_ident_ent *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	return x->group < y->group ? -1 : x->group > y->group; /* the first group wins */
}

static void ident_add(struct vg_policy *p, enum vg_pol_by kind, const char *key, unsigned g)
{
	if (p->nidents < VG_POLICY_MAX_IDENTS && *key)
		p->idents[p->nidents++] = (struct vg_policy_ident_ent){
			.key = key, .kind = (uint8_t)kind, .group = (uint8_t)g };
}

/* The table of the groups' identities (keys point into p->groups). */
static void idents_build(struct vg_policy *p)
{
	p->nidents = 0;
	for (unsigned i = 0; i < p->ngroups; i++) {
		struct vg_policy_group *g = &p->groups[i];
		for (size_t k = 0; k < g->n_ids && k < VG_POLICY_MAX_IDS; k++) {
			g->ids[k][VG_POLICY_ID_MAX - 1] = 0;
			ident_add(p, VG_POL_BY_ID, g->ids[k], i);
		}
		for (size_t k = 0; k < g->n_certs && k < VG_POLICY_MAX_CERTS; k++) {
			char *c = g->certs[k];
			c[VG_POLICY_CERT_MAX - 1] = 0;
			if (!strncmp(c, "sha256:", 7))
				ident_add(p, VG_POL_BY_CERT_FP, c, i);
			else if (!strncmp(c, "subject:", 8))
				ident_add(p, VG_POL_BY_CERT_SUBJECT, c + 8, i);
		}
	}
	qsort(p->idents, p->nidents, sizeof(p->idents[0]), ident_cmp);
}

/* The first group (in config order) naming @p key of @p kind, or -1. */
static int ident_find(const struct vg_policy *p, enum vg_pol_by kind, const char *key)
{
	size_t lo = 0, hi = p->nidents;
	if (!key || !*key)
		return -1;
	while (lo < hi) { /* the first entry not below (kind, key) */
		size_t mid = lo + (hi - lo) / 2;
		const struct vg_policy_ident_ent *e = &p->idents[mid];
		int c = e->kind != kind ? (e->kind < kind ? -1 : 1) : strcmp(e->key, key);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < p->nidents && p->idents[lo].kind == kind && !strcmp(p->idents[lo].key, key))
		return p->idents[lo].group;
	return -1;
}

const char *vg_policy_by_name(enum vg_pol_by by)
{
	switch (by) {
	case VG_POL_BY_CERT_FP: return "client-cert";
	case VG_POL_BY_CERT_SUBJECT: return "client-cert-subject";
	case VG_POL_BY_ID: return "client-id";
	case VG_POL_BY_ADDR: return "address";
	default: return "-";
	}
}

/* The client's group by address: the longest matching prefix over all groups. */
static const struct vg_policy_group *group_of(const struct vg_policy *p,
					      const struct sockaddr *client)
{
	const struct vg_policy_group *best = NULL;
	int best_bits = -1;
	for (unsigned i = 0; p && i < p->ngroups; i++) {
		const struct vg_policy_group *g = &p->groups[i];
		int k = vg_prefix_longest(g->clients, g->n_clients, sizeof(g->clients[0]), client);
		if (k >= 0 && g->clients[k].bits > best_bits) {
			best = g;
			best_bits = g->clients[k].bits;
		}
	}
	return best;
}

const struct vg_policy_group *vg_policy_group_of(const struct vg_policy *p,
						 const struct sockaddr *client,
						 const struct vg_policy_ident *ident,
						 enum vg_pol_by *by)
{
	const uint8_t *a;
	*by = VG_POL_BY_NONE;
	if (!p)
		return NULL;
	if (ident && p->nidents) {
		int g = ident_find(p, VG_POL_BY_CERT_FP, ident->cert_fp);
		*by = VG_POL_BY_CERT_FP;
		if (g < 0) {
			g = ident_find(p, VG_POL_BY_CERT_SUBJECT, ident->cert_subject);
			*by = VG_POL_BY_CERT_SUBJECT;
		}
		if (g < 0) {
			g = ident_find(p, VG_POL_BY_ID, ident->id);
			*by = VG_POL_BY_ID;
		}
		if (g >= 0)
			return &p->groups[g];
		*by = VG_POL_BY_NONE;
	}
	const struct vg_policy_group *g = client && vg_addr_bytes(client, &a) ?
					  group_of(p, client) : NULL;
	if (g)
		*by = VG_POL_BY_ADDR;
	return g;
}

/* ------------------------------------------------------------ deciding
 *
 * Before resolution (vg_policy_check): CLIENT-IP and QNAME of stage 0, the
 * qname.  The first source of the group with a match decides; while
 * scanning, the positions of sources with rules an answer can trigger are
 * noted in the decision (post_srcs: RESPONSE-IP, NSDNAME, NSIP; qname_srcs:
 * QNAME, for later CNAME stages).  If a source before the deciding one has
 * such rules, the decision is deferred: that source could still match
 * stage 0 once the answer is known.
 *
 * After resolution (vg_policy_check_response), on the answer as it will be
 * sent (resolved or cached): stage 0's answer-side triggers for the sources
 * before the deciding one, then -- only when stage 0 matched nothing --
 * each later stage of the CNAME chain in turn, all triggers, all sources.
 * NSDNAME and NSIP read the cache ("the cache always holds the truth"): the
 * NS RRsets at the stage's name and its ancestors (each a delegation point,
 * parent or child side, whichever is cached) and the A / AAAA of each NS
 * name.  Nothing is allocated; the cache copies into a caller's buffer.
 */

#define MAX_STAGES 64 /* a chain has at most one stage per answer RRset */

static bool has_rules(const struct vg_policy *p, unsigned s, enum vg_pol_trigger t)
{
	return vg_pol_trigger_count(p->snap, s, t) > 0;
}

static bool has_post_rules(const struct vg_policy *p, unsigned s)
{
	return has_rules(p, s, VG_TRIG_RESP_IP) || has_rules(p, s, VG_TRIG_NSDNAME) ||
	       has_rules(p, s, VG_TRIG_NSIP);
}

static uint32_t below(size_t pos)
{
	return pos >= 32 ? UINT32_MAX : (1u << pos) - 1;
}

/* The fields of the decision vg_policy_check sets; name and stage_name
 * (half a kilobyte) are only marked empty. */
static void decision_clear(struct vg_policy_decision *d)
{
	memset(d, 0, offsetof(struct vg_policy_decision, name));
	d->name[0] = 0;
	d->stage_name[0] = 0;
}

/* The action a match of source @p s has: its override's (RPZ.md 2.5: it
 * replaces the action of every match of the zone, PASSTHRU included), or the
 * rule's own, @p given. */
static enum vg_pol_action effective(const struct vg_policy *p, unsigned s,
				    enum vg_pol_action given)
{
	switch (p->src[s].cfg.override) {
	case VG_POVR_NXDOMAIN: return VG_ACT_NXDOMAIN;
	case VG_POVR_NODATA: return VG_ACT_NODATA;
	case VG_POVR_PASSTHRU: return VG_ACT_PASSTHRU;
	case VG_POVR_DROP: return VG_ACT_DROP;
	case VG_POVR_TCP_ONLY: return VG_ACT_TCP_ONLY;
	case VG_POVR_CNAME: return VG_ACT_LOCAL;
	default: return given;
	}
}

/* Can an answer-side rule of source @p s let a name through (PASSTHRU)? */
static bool answer_pass(const struct vg_policy *p, unsigned s)
{
	switch (p->src[s].cfg.override) {
	case VG_POVR_GIVEN: return vg_pol_answer_passthru(p->snap, s);
	case VG_POVR_PASSTHRU: return has_post_rules(p, s);
	default: return false; /* disabled never decides; the others block */
	}
}

/* Fill @p d from a hit of source @p s at position @p pos of its group.
 * d->action stays the rule's own (vg_policy_override applies the source's
 * override to it); d->rewrite says what the match does once overridden. */
static void decide(const struct vg_policy *p, struct vg_policy_decision *d, size_t pos,
		   unsigned s, enum vg_pol_trigger t, const struct vg_pol_hit *h)
{
	d->matched = true;
	d->denied_by_allowlist = false;
	d->order = (unsigned)pos;
	d->source = s;
	d->trigger = t;
	d->line = h->rule->line;
	d->labels = h->labels;
	d->bits = h->bits;
	memcpy(d->addr, h->addr, 16);
	d->action = h->rule->allow ? VG_ACT_PASSTHRU : (enum vg_pol_action)h->rule->action;
	d->wildcard = h->rule->wildcard;
	d->rewrite = effective(p, s, d->action) != VG_ACT_PASSTHRU;
	d->rule = h->rule;
}

static bool disabled(const struct vg_policy *p, unsigned s)
{
	return p->src[s].cfg.override == VG_POVR_DISABLED;
}

/* Remember the first match of a disabled source, for the log. */
static void log_only(struct vg_policy_decision *d, unsigned s, const struct vg_pol_hit *h)
{
	if (d->logonly.set)
		return;
	d->logonly.set = true;
	d->logonly.source = s;
	d->logonly.trigger = h->rule->trigger;
	d->logonly.action = h->rule->allow ? VG_ACT_PASSTHRU : h->rule->action;
	d->logonly.line = h->rule->line;
	d->logonly.labels = h->labels;
	d->logonly.wildcard = h->rule->wildcard;
	d->logonly.bits = h->bits;
	memcpy(d->logonly.addr, h->addr, 16);
}

void vg_policy_override(const struct vg_policy *p, struct vg_policy_decision *d,
			const uint8_t **cname)
{
	*cname = NULL;
	if (!d->matched || d->denied_by_allowlist || d->source >= p->nsources)
		return;
	const struct vg_policy_source *cs = &p->src[d->source].cfg;
	switch (cs->override) {
	case VG_POVR_NXDOMAIN: d->action = VG_ACT_NXDOMAIN; break;
	case VG_POVR_NODATA: d->action = VG_ACT_NODATA; break;
	case VG_POVR_PASSTHRU: d->action = VG_ACT_PASSTHRU; break;
	case VG_POVR_DROP: d->action = VG_ACT_DROP; break;
	case VG_POVR_TCP_ONLY: d->action = VG_ACT_TCP_ONLY; break;
	case VG_POVR_CNAME:
		d->action = VG_ACT_LOCAL;
		*cname = cs->override_cname;
		break;
	default:
		return;
	}
	d->rewrite = d->action != VG_ACT_PASSTHRU;
}

int vg_policy_check(const struct vg_policy *p, const struct sockaddr *client,
		    const uint8_t *qname, struct vg_policy_decision *d)
{
	return vg_policy_check_flags(p, client, NULL, qname, true, false, d);
}

int vg_policy_check_flags(const struct vg_policy *p, const struct sockaddr *client,
			  const struct vg_policy_ident *ident, const uint8_t *qname, bool rd,
			  bool dnssec_ok, struct vg_policy_decision *d)
{
	decision_clear(d);
	const uint8_t *a = NULL;
	int fam = client ? vg_addr_bytes(client, &a) : 0;
	const struct vg_policy_group *g = vg_policy_group_of(p, client, ident, &d->by);
	if (!g)
		return 0;
	uint8_t addr[16];
	if (fam == AF_INET)
		vg_pol_addr_v4(a, addr);
	else if (fam)
		memcpy(addr, a, 16);
	d->group = g->name;
	d->gidx = (unsigned)(g - p->groups);
	bool any = false;
	uint32_t keep_dnssec = 0, pass_srcs = 0; /* DO=1 and break-dnssec no: no rewrite from these */
	for (size_t i = 0; i < g->n_sources && i < 32; i++) {
		const struct vg_policy_source *cs = &p->src[g->sources[i]].cfg;
		if (!rd && cs->recursive_only)
			d->skip_srcs |= 1u << i;
		else
			any = true;
		if (dnssec_ok && !cs->break_dnssec)
			keep_dnssec |= 1u << i;
	}
	if (!any)
		return 0; /* RD=0 and every source is recursive-only (the default) */
	d->keep_srcs = keep_dnssec;
	for (size_t i = 0; i < g->n_sources; i++) {
		unsigned s = g->sources[i];
		struct vg_pol_hit h;
		if (i < 32 && (d->skip_srcs >> i & 1))
			continue;
		/* within a source, CLIENT-IP beats QNAME (RPZ.md 2.4 rule 4) */
		if ((fam && vg_pol_match_ip(p->snap, s, VG_TRIG_CLIENT_IP, addr, &h) == 0) ||
		    vg_pol_match_name(p->snap, s, VG_TRIG_QNAME, qname, &h) == 0) {
			if (disabled(p, s)) {
				log_only(d, s, &h); /* logged; the next best match decides */
				continue;
			}
			decide(p, d, i, s, (enum vg_pol_trigger)h.rule->trigger, &h);
			bool keep = i < 32 && (keep_dnssec >> i & 1) && d->rewrite;
			/* DO=1 without break-dnssec: rewritten only if the answer turns
			 * out to have no DNSSEC data, so the answer decides.  An earlier
			 * source's answer-side rules can beat this match (RPZ.md 2.4):
			 * a pass always waits for them; a rewrite waits only with
			 * qname-wait-recurse, or when one of them could let it through
			 * (PASSTHRU) -- else the name is never sent upstream */
			bool wait = d->rewrite && !p->qname_wait_recurse ? pass_srcs != 0
									 : d->post_srcs != 0;
			d->defer = wait || keep;
			d->check_answer = d->defer;
			return d->rewrite;
		}
		if (i < 32 && has_post_rules(p, s))
			d->post_srcs |= 1u << i;
		if (i < 32 && answer_pass(p, s))
			pass_srcs |= 1u << i;
		if (i < 32 && has_rules(p, s, VG_TRIG_QNAME))
			d->qname_srcs |= 1u << i;
	}
	d->order = (unsigned)g->n_sources;
	d->defer = d->post_srcs != 0;
	if (g->allowlist) {
		if (!p->qname_wait_recurse)
			d->defer = pass_srcs != 0; /* only a PASSTHRU could undo the denial */
		/* allowlist mode: nothing allowed this name; that decides stage 0,
		 * so later stages do not count, but an earlier answer-side rule can
		 * still allow it */
		d->denied_by_allowlist = true;
		d->action = VG_ACT_NXDOMAIN;
		d->rewrite = true;
		d->check_answer = d->defer;
		return 1;
	}
	d->check_answer = d->post_srcs || d->qname_srcs;
	return 0;
}

/* Is (bits, addr) a better RESPONSE-IP / NSIP match than the best so far
 * (RPZ.md 2.4 rules 6, 7)? */
static bool better(unsigned bits, const uint8_t *addr, const struct vg_pol_hit *best, bool have)
{
	if (!have || bits > best->bits)
		return true;
	return bits == best->bits && memcmp(addr, best->addr, 16) < 0;
}

/* Each address of an A or AAAA RRset (internal form) against the @p t rules
 * of source @p s; the best into @p best.  True when it changed. */
static bool match_addrs(const struct vg_policy *p, unsigned s, enum vg_pol_trigger t,
			const struct vg_rrset *rs, struct vg_pol_hit *best, bool *have)
{
	bool changed = false;
	if (rs->type != VG_T_A && rs->type != VG_T_AAAA)
		return false;
	const uint8_t *q = rs->rdata, *end = rs->rdata + rs->rdata_len;
	for (unsigned r = 0; r < rs->count && end - q >= 2; r++) {
		uint16_t l = vg_get16(q);
		uint8_t addr[16];
		struct vg_pol_hit h;
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
		if (vg_pol_match_ip(p->snap, s, t, addr, &h) == 0 &&
		    better(h.bits, addr, best, *have)) {
			*best = h;
			*have = true;
			changed = true;
		}
	}
	return changed;
}

/* Is NSDNAME hit @p h on name server @p ns better than @p best on @p best_ns
 * (RPZ.md 2.4: exact before wildcard, the wildcard with more labels, then
 * the name server's name that sorts last in canonical order)? */
static bool nsd_better(const struct vg_pol_hit *h, const uint8_t *ns, const struct vg_pol_hit *best,
		       const uint8_t *best_ns, bool have)
{
	if (!have)
		return true;
	if (h->rule->wildcard != best->rule->wildcard)
		return !h->rule->wildcard;
	if (h->rule->wildcard && h->labels != best->labels)
		return h->labels > best->labels;
	return vg_dnssec_name_cmp(ns, best_ns) > 0;
}

/* What the name servers of one stage's name triggered in one source. */
struct ns_hits {
	bool have_nsd, have_nsip;
	struct vg_pol_hit nsd, nsip;
	uint8_t nsd_ns[VG_NAME_MAX], nsip_ns[VG_NAME_MAX];
};

/* NSIP: the cached A / AAAA of name server @p ns (lower-case). */
static void ns_addrs(const struct vg_policy *p, unsigned s, const struct vg_policy_answer *a,
		     const uint8_t *ns, uint8_t *buf, size_t cap, struct ns_hits *out)
{
	static const uint16_t types[] = { VG_T_A, VG_T_AAAA };
	for (unsigned k = 0; k < 2; k++) {
		struct vg_cache_entry e;
		if (vg_cache_get(a->cache, ns, types[k], a->now, &e, buf, cap) != 0 || e.negative ||
		    e.failure)
			continue;
		if (match_addrs(p, s, VG_TRIG_NSIP, &e.rs, &out->nsip, &out->have_nsip))
			memcpy(out->nsip_ns, ns, vg_name_len(ns));
	}
}

/* NSDNAME and NSIP rules of source @p s against the name servers of every
 * cached delegation point of @p name (lower-case), from the name itself up
 * to p->min_ns_dots labels. */
static void ns_walk(const struct vg_policy *p, unsigned s, const struct vg_policy_answer *a,
		    const uint8_t *name, struct ns_hits *out)
{
	bool nsd = has_rules(p, s, VG_TRIG_NSDNAME), nsip = has_rules(p, s, VG_TRIG_NSIP);
	out->have_nsd = out->have_nsip = false;
	if (!a->cache || !a->buf || a->cap < 1024 || (!nsd && !nsip))
		return;
	/* the NS RRset stays in the first half while the second holds addresses */
	size_t half = a->cap / 2;
	for (const uint8_t *anc = name; vg_name_labels(anc) >= (int)p->min_ns_dots;
	     anc += *anc + 1) {
		struct vg_cache_entry e;
		if (vg_cache_get(a->cache, anc, VG_T_NS, a->now, &e, a->buf, half) == 0 &&
		    !e.negative && !e.failure) {
			const uint8_t *q = e.rs.rdata, *end = e.rs.rdata + e.rs.rdata_len;
			for (unsigned r = 0; r < e.rs.count && end - q >= 2; r++) {
				uint16_t l = vg_get16(q);
				const uint8_t *target = q + 2u + l <= end
								? vg_rdata_target(VG_T_NS, q + 2, l)
								: NULL;
				q += 2u + l;
				if (!target)
					continue;
				uint8_t ns[VG_NAME_MAX];
				struct vg_pol_hit h;
				memcpy(ns, target, vg_name_len(target));
				vg_name_lower(ns);
				if (nsd &&
				    vg_pol_match_name(p->snap, s, VG_TRIG_NSDNAME, ns, &h) == 0 &&
				    nsd_better(&h, ns, &out->nsd, out->nsd_ns, out->have_nsd)) {
					out->nsd = h;
					out->have_nsd = true;
					memcpy(out->nsd_ns, ns, vg_name_len(ns));
				}
				if (nsip && !out->have_nsd)
					ns_addrs(p, s, a, ns, a->buf + half, a->cap - half, out);
			}
		}
		if (!*anc)
			break;
	}
}

/*
 * One stage of the chain, @p name (lower-case), for the sources at
 * positions below @p limit: the first source with a match decides (into
 * @p d).  Stage 0's QNAME rules were looked at before resolution.
 */
static bool decide_stage(const struct vg_policy *p, const struct vg_policy_group *g,
			 const struct vg_policy_answer *a, struct vg_policy_decision *d,
			 unsigned stage, const uint8_t *name, size_t limit)
{
	for (size_t i = 0; i < limit && i < g->n_sources; i++) {
		unsigned s = g->sources[i];
		uint32_t bit = i < 32 ? 1u << i : 0;
		struct vg_pol_hit h;
		if (d->skip_srcs & bit)
			continue; /* does not apply to this query (recursive-only) */
		enum vg_pol_trigger t = VG_TRIG_QNAME;
		const uint8_t *matched = stage ? name : NULL;
		bool have = false;
		if (stage && (d->qname_srcs & bit))
			have = vg_pol_match_name(p->snap, s, VG_TRIG_QNAME, name, &h) == 0;
		if (!have && (d->post_srcs & bit) && has_rules(p, s, VG_TRIG_RESP_IP)) {
			/* the A / AAAA RRsets of this stage (answer section only) */
			for (unsigned k = 0; k < a->nans; k++)
				if (vg_name_eq(a->ans[k]->owner, name))
					match_addrs(p, s, VG_TRIG_RESP_IP, a->ans[k], &h, &have);
			t = VG_TRIG_RESP_IP;
			matched = NULL;
		}
		struct ns_hits nh;
		if (!have && (d->post_srcs & bit)) {
			ns_walk(p, s, a, name, &nh);
			if (nh.have_nsd) {
				h = nh.nsd;
				t = VG_TRIG_NSDNAME;
				matched = nh.nsd_ns;
				have = true;
			} else if (nh.have_nsip) {
				h = nh.nsip;
				t = VG_TRIG_NSIP;
				matched = nh.nsip_ns;
				have = true;
			}
		}
		if (!have)
			continue;
		if (disabled(p, s)) {
			log_only(d, s, &h); /* logged; the next best match decides */
			continue;
		}
		decide(p, d, i, s, t, &h);
		d->defer = false;
		d->stage = stage;
		d->name[0] = 0;
		if (matched)
			memcpy(d->name, matched, vg_name_len(matched));
		d->stage_name[0] = 0;
		if (stage)
			memcpy(d->stage_name, name, vg_name_len(name));
		return true;
	}
	return false;
}

/* The index of the CNAME RRset owned by @p name in the answer, or -1. */
static int cname_at(struct vg_rrset *const *ans, unsigned nans, const uint8_t *name)
{
	for (unsigned k = 0; k < nans; k++)
		if (ans[k]->type == VG_T_CNAME && ans[k]->count && vg_name_eq(ans[k]->owner, name))
			return (int)k;
	return -1;
}

static const uint8_t *cname_target(const struct vg_rrset *rs)
{
	if (rs->rdata_len < 2 || vg_get16(rs->rdata) > rs->rdata_len - 2)
		return NULL;
	return vg_rdata_target(VG_T_CNAME, rs->rdata + 2, vg_get16(rs->rdata));
}

static int check_response(const struct vg_policy *p, const struct vg_policy_answer *a,
			  struct vg_policy_decision *d);

int vg_policy_check_response(const struct vg_policy *p, const struct vg_policy_answer *a,
			     struct vg_policy_decision *d)
{
	int r = check_response(p, a, d);
	/* break-dnssec no (RPZ.md 2.5): a DO=1 query's answer that has DNSSEC
	 * data is not rewritten by that source; the client gets the truth */
	if (r && d->matched && !d->denied_by_allowlist && d->order < 32 &&
	    (d->keep_srcs >> d->order & 1) && a->dnssec_data) {
		d->rewrite = false;
		d->kept_dnssec = true;
		return 0;
	}
	return r;
}

static int check_response(const struct vg_policy *p, const struct vg_policy_answer *a,
			  struct vg_policy_decision *d)
{
	if (!d->check_answer || !d->group || !p || d->gidx >= p->ngroups)
		return d->rewrite;
	const struct vg_policy_group *g = &p->groups[d->gidx];
	bool decided = d->matched || d->denied_by_allowlist;
	size_t limit = decided ? d->order : g->n_sources;
	/* stage 0: only the answer-side triggers are left, and only sources
	 * before the one that decided already can change the decision */
	if ((d->post_srcs & below(limit)) && decide_stage(p, g, a, d, 0, a->qname, limit))
		return d->rewrite;
	/* one rule for the whole chain, even PASSTHRU (RPZ.md 2.4 rule 1) */
	if (decided || !(d->post_srcs | d->qname_srcs))
		return d->rewrite;
	if (a->qtype == VG_T_ANY || a->qtype == VG_T_CNAME || a->qtype == VG_T_DNAME)
		return 0;
	const uint8_t *name = a->qname;
	for (unsigned stage = 1; stage < MAX_STAGES && stage <= a->nans; stage++) {
		int k = cname_at(a->ans, a->nans, name);
		const uint8_t *target = k >= 0 ? cname_target(a->ans[k]) : NULL;
		if (!target)
			break;
		uint8_t low[VG_NAME_MAX];
		memcpy(low, target, vg_name_len(target));
		vg_name_lower(low);
		if (decide_stage(p, g, a, d, stage, low, g->n_sources))
			return d->rewrite;
		name = target;
	}
	return 0;
}

unsigned vg_policy_chain(const uint8_t *qname, struct vg_rrset *const *ans, unsigned nans,
			 unsigned stage, struct vg_rrset **out, unsigned cap)
{
	const uint8_t *name = qname;
	int last = -1;
	for (unsigned st = 0; st < stage; st++) {
		int k = cname_at(ans, nans, name);
		const uint8_t *target = k >= 0 ? cname_target(ans[k]) : NULL;
		if (!target)
			break;
		if (k > last)
			last = k;
		name = target;
	}
	unsigned n = 0;
	for (int k = 0; k <= last && n < cap; k++)
		if (ans[k]->type == VG_T_CNAME || ans[k]->type == VG_T_DNAME)
			out[n++] = ans[k];
	return n;
}

/* The owner of the rule a name trigger matched on @p name ("*." for a
 * wildcard), in presentation form without the final dot. */
static void rule_owner(const struct vg_policy_decision *d, const uint8_t *name, char *out,
		       size_t cap)
{
	const uint8_t *owner = vg_name_suffix(name, (int)d->labels - (d->wildcard ? 1 : 0));
	char n[VG_NAME_MAX * 4 + 8];
	vg_name_to_str(owner, n, sizeof(n));
	size_t nl = strlen(n);
	if (nl > 1 && n[nl - 1] == '.')
		n[nl - 1] = 0;
	snprintf(out, cap, "%s%s", d->wildcard ? "*." : "", n);
}

size_t vg_policy_describe(const struct vg_policy *p, const struct vg_policy_decision *d,
			  const uint8_t *qname, char *buf, size_t cap)
{
	static const char *const ip_trig[] = { [VG_TRIG_CLIENT_IP] = "client-ip",
					       [VG_TRIG_RESP_IP] = "response-ip",
					       [VG_TRIG_NSIP] = "nsip" };
	char rule[VG_NAME_MAX * 4 + 64];
	if (d->denied_by_allowlist) {
		return (size_t)snprintf(buf, cap, "vigil: group %s allowlist: not allowed",
					d->group ? d->group : "?");
	}
	if (d->trigger == VG_TRIG_CLIENT_IP || d->trigger == VG_TRIG_RESP_IP ||
	    d->trigger == VG_TRIG_NSIP) {
		char a[INET6_ADDRSTRLEN];
		uint8_t net[16] = { 0 }; /* the rule's network, not the address */
		unsigned bits = d->bits < 128 ? d->bits : 128;
		memcpy(net, d->addr, bits / 8);
		if (bits % 8)
			net[bits / 8] = (uint8_t)(d->addr[bits / 8] & (0xff00u >> (bits % 8)));
		bool v4 = d->bits >= 96 && !memcmp(d->addr, "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
		if (v4)
			inet_ntop(AF_INET, net + 12, a, sizeof(a));
		else
			inet_ntop(AF_INET6, net, a, sizeof(a));
		snprintf(rule, sizeof(rule), "%s %s/%u", ip_trig[d->trigger], a,
			 v4 ? d->bits - 96 : d->bits);
	} else if (d->trigger == VG_TRIG_NSDNAME) {
		char o[VG_NAME_MAX * 4 + 16];
		rule_owner(d, d->name, o, sizeof(o));
		snprintf(rule, sizeof(rule), "nsdname %s", o);
	} else {
		rule_owner(d, d->name[0] ? d->name : qname, rule, sizeof(rule));
	}
	return (size_t)snprintf(buf, cap, "vigil: %s rule %s", p->src[d->source].name, rule);
}
