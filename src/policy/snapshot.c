/* SPDX-License-Identifier: MIT
 *
 * The compiled policy: an immutable snapshot built from parsed rules, off the
 * worker threads, and then only read (workers swap to a new one on reload).
 *
 * Per source (an RPZ zone or a list, in configured order):
 *   names   an open-addressing hash table of the QNAME and NSDNAME triggers,
 *           keyed by (trigger, wildcard, name).  An exact lookup is one probe
 *           sequence; the best wildcard is found by probing the name's
 *           ancestors from the closest up, so the cost depends on the name's
 *           label count, never on the number of rules.
 *   tries   binary tries over the 128-bit internal address space for the
 *           CLIENT-IP, RESPONSE-IP and NSIP triggers: a longest-prefix match
 *           walks at most 128 nodes.
 * Names live in one arena per source; a slot is 8 bytes (the table is sized
 * to its load, not to a power of two) and a rule 12, so a QNAME rule costs
 * its name's wire length plus about 24 bytes.
 *
 * Work in progress (issue 4): not yet wired into the resolver.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "policy/snapshot.h"

#define EMPTY UINT32_MAX
#define LOAD_NUM 7 /* the table is at most 7/10 full */
#define LOAD_DEN 10

struct slot {
	uint32_t name_off; /* into names; EMPTY when free */
	uint32_t rule;     /* index into rules */
};

struct tnode {
	uint32_t child[2];
	uint32_t rule; /* EMPTY: no rule ends here */
};

struct trie {
	struct tnode *n;
	uint32_t count, cap;
};

struct source {
	struct slot *slots;
	size_t nslots; /* any size: probing is modulo */
	uint8_t *names;
	size_t names_len;
	struct vg_pol_crule *rules;
	uint32_t nrules;
	struct trie tries[3]; /* CLIENT-IP, RESPONSE-IP, NSIP */
};

struct vg_pol_snapshot {
	unsigned char key[crypto_shorthash_KEYBYTES];
	unsigned nsources;
	struct source src[];
};

static int trie_index(enum vg_pol_trigger t)
{
	return t == VG_TRIG_CLIENT_IP ? 0 : t == VG_TRIG_RESP_IP ? 1 : 2;
}

static uint64_t name_hash(const struct vg_pol_snapshot *s, enum vg_pol_trigger t, bool wild,
			  const uint8_t *name)
{
	uint8_t buf[VG_NAME_MAX + 2];
	size_t n = vg_name_len(name);
	buf[0] = (uint8_t)t;
	buf[1] = wild;
	memcpy(buf + 2, name, n);
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, buf, n + 2, s->key);
	return h;
}

/* ------------------------------------------------------------ tries */

static uint32_t trie_node(struct trie *t)
{
	if (t->count == t->cap) {
		uint32_t nc = t->cap ? t->cap * 2 : 64;
		struct tnode *nn = realloc(t->n, nc * sizeof(*nn));
		if (!nn)
			return EMPTY;
		t->n = nn;
		t->cap = nc;
	}
	t->n[t->count] = (struct tnode){ { EMPTY, EMPTY }, EMPTY };
	return t->count++;
}

static int bit_at(const uint8_t *a, unsigned i)
{
	return a[i / 8] >> (7 - i % 8) & 1;
}

/* Insert; the first rule for a prefix stays (a duplicate is reported by the caller). */
static int trie_add(struct trie *t, const struct vg_pol_prefix *p, uint32_t rule, bool *dup)
{
	if (!t->count && trie_node(t) == EMPTY)
		return VG_ENOMEM;
	uint32_t cur = 0;
	for (unsigned i = 0; i < p->bits; i++) {
		int b = bit_at(p->addr, i);
		if (t->n[cur].child[b] == EMPTY) {
			uint32_t nn = trie_node(t);
			if (nn == EMPTY)
				return VG_ENOMEM;
			t->n[cur].child[b] = nn;
		}
		cur = t->n[cur].child[b];
	}
	*dup = t->n[cur].rule != EMPTY;
	if (!*dup)
		t->n[cur].rule = rule;
	return 0;
}

/* Longest prefix containing @p addr: the rule and its length, or EMPTY. */
static uint32_t trie_match(const struct trie *t, const uint8_t addr[16], unsigned *bits)
{
	uint32_t best = EMPTY, cur = 0;
	if (!t->count)
		return EMPTY;
	for (unsigned i = 0;; i++) {
		if (t->n[cur].rule != EMPTY) {
			best = t->n[cur].rule;
			*bits = i;
		}
		if (i == 128)
			break;
		uint32_t next = t->n[cur].child[bit_at(addr, i)];
		if (next == EMPTY)
			break;
		cur = next;
	}
	return best;
}

/* ------------------------------------------------------------ names */

static int build_source(struct vg_pol_snapshot *s, struct source *src,
			const struct vg_pol_rule *rules, size_t n, struct vg_pol_dup_cb *dupcb)
{
	size_t nnames = 0, bytes = 0;
	for (size_t i = 0; i < n; i++)
		if (rules[i].trigger == VG_TRIG_QNAME || rules[i].trigger == VG_TRIG_NSDNAME) {
			nnames++;
			bytes += vg_name_len(rules[i].name);
		}
	src->nslots = nnames * LOAD_DEN / LOAD_NUM + 16;
	src->slots = malloc(src->nslots * sizeof(*src->slots));
	src->names = malloc(bytes ? bytes : 1);
	src->rules = malloc((n ? n : 1) * sizeof(*src->rules));
	if (!src->slots || !src->names || !src->rules)
		return VG_ENOMEM;
	for (size_t i = 0; i < src->nslots; i++)
		src->slots[i].name_off = EMPTY;
	for (size_t i = 0; i < n; i++) {
		const struct vg_pol_rule *r = &rules[i];
		uint32_t idx = src->nrules;
		struct vg_pol_crule *c = &src->rules[idx];
		*c = (struct vg_pol_crule){ .action = (uint8_t)r->action, .trigger = (uint8_t)r->trigger,
					    .wildcard = r->wildcard, .allow = r->allow,
					    .line = r->line };
		bool dup = false;
		if (r->trigger == VG_TRIG_QNAME || r->trigger == VG_TRIG_NSDNAME) {
			uint8_t key[VG_NAME_MAX];
			memcpy(key, r->name, vg_name_len(r->name));
			vg_name_lower(key);
			uint64_t h = name_hash(s, r->trigger, r->wildcard, key);
			/* the key of a slot is (trigger, wildcard, name) */
			struct slot *sl = NULL;
			for (size_t k = h % src->nslots;; k = k + 1 == src->nslots ? 0 : k + 1) {
				sl = &src->slots[k];
				if (sl->name_off == EMPTY)
					break;
				const struct vg_pol_crule *o = &src->rules[sl->rule];
				if (o->trigger == r->trigger && o->wildcard == r->wildcard &&
				    vg_name_eq(src->names + sl->name_off, key)) {
					dup = true;
					break;
				}
			}
			if (!dup) {
				size_t kl = vg_name_len(key);
				memcpy(src->names + src->names_len, key, kl);
				sl->name_off = (uint32_t)src->names_len;
				sl->rule = idx;
				src->names_len += kl;
			}
		} else {
			int rc = trie_add(&src->tries[trie_index(r->trigger)], &r->prefix, idx, &dup);
			if (rc < 0)
				return rc;
		}
		if (dup) {
			if (dupcb && dupcb->fn)
				dupcb->fn(dupcb->arg, r);
			continue; /* the first one read stays */
		}
		src->nrules++;
	}
	return 0;
}

int vg_pol_build(struct vg_pol_snapshot **out, const struct vg_pol_source_rules *sources,
		 unsigned nsources, struct vg_pol_dup_cb *dupcb)
{
	struct vg_pol_snapshot *s = calloc(1, sizeof(*s) + nsources * sizeof(s->src[0]));
	if (!s)
		return VG_ENOMEM;
	randombytes_buf(s->key, sizeof(s->key));
	s->nsources = nsources;
	for (unsigned i = 0; i < nsources; i++) {
		int r = build_source(s, &s->src[i], sources[i].rules, sources[i].n, dupcb);
		if (r < 0) {
			vg_pol_free(s);
			return r;
		}
	}
	*out = s;
	return 0;
}

void vg_pol_free(struct vg_pol_snapshot *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->nsources; i++) {
		struct source *src = &s->src[i];
		free(src->slots);
		free(src->names);
		free(src->rules);
		for (int t = 0; t < 3; t++)
			free(src->tries[t].n);
	}
	free(s);
}

size_t vg_pol_memory(const struct vg_pol_snapshot *s)
{
	size_t b = sizeof(*s) + s->nsources * sizeof(s->src[0]);
	for (unsigned i = 0; i < s->nsources; i++) {
		const struct source *src = &s->src[i];
		b += src->nslots * sizeof(*src->slots) + src->names_len +
		     src->nrules * sizeof(*src->rules);
		for (int t = 0; t < 3; t++)
			b += src->tries[t].count * sizeof(struct tnode);
	}
	return b;
}

/* ------------------------------------------------------------ lookups */

static const struct vg_pol_crule *name_lookup(const struct vg_pol_snapshot *s,
					      const struct source *src,
					      enum vg_pol_trigger t, bool wild,
					      const uint8_t *name)
{
	uint64_t h = name_hash(s, t, wild, name);
	for (size_t i = h % src->nslots;; i = i + 1 == src->nslots ? 0 : i + 1) {
		const struct slot *sl = &src->slots[i];
		if (sl->name_off == EMPTY)
			return NULL;
		const struct vg_pol_crule *r = &src->rules[sl->rule];
		if (r->trigger == t && r->wildcard == wild &&
		    vg_name_eq(src->names + sl->name_off, name))
			return r;
	}
}

int vg_pol_match_name(const struct vg_pol_snapshot *s, unsigned source, enum vg_pol_trigger t,
		      const uint8_t *name, struct vg_pol_hit *hit)
{
	if (!s || source >= s->nsources)
		return VG_ENOTFOUND;
	const struct source *src = &s->src[source];
	if (!src->nrules)
		return VG_ENOTFOUND;
	uint8_t low[VG_NAME_MAX];
	memcpy(low, name, vg_name_len(name));
	vg_name_lower(low);
	/* exact beats any wildcard; among wildcards, more labels win (RPZ.md 2.4 rule 3) */
	const struct vg_pol_crule *r = name_lookup(s, src, t, false, low);
	const uint8_t *at = low;
	for (const uint8_t *anc = low; !r && *anc;) {
		anc += *anc + 1;
		r = name_lookup(s, src, t, true, anc);
		at = anc;
	}
	if (!r)
		return VG_ENOTFOUND;
	hit->rule = r;
	hit->source = source;
	hit->labels = vg_name_labels(at) + (r->wildcard ? 1 : 0);
	hit->bits = 0;
	memset(hit->addr, 0, sizeof(hit->addr));
	return 0;
}

int vg_pol_match_ip(const struct vg_pol_snapshot *s, unsigned source, enum vg_pol_trigger t,
		    const uint8_t addr[16], struct vg_pol_hit *hit)
{
	if (!s || source >= s->nsources || t == VG_TRIG_QNAME || t == VG_TRIG_NSDNAME)
		return VG_ENOTFOUND;
	const struct source *src = &s->src[source];
	unsigned bits = 0;
	uint32_t r = trie_match(&src->tries[trie_index(t)], addr, &bits);
	if (r == EMPTY)
		return VG_ENOTFOUND;
	hit->rule = &src->rules[r];
	hit->source = source;
	hit->labels = 0;
	hit->bits = bits;
	memcpy(hit->addr, addr, 16);
	return 0;
}

unsigned vg_pol_rule_count(const struct vg_pol_snapshot *s, unsigned source)
{
	return s && source < s->nsources ? s->src[source].nrules : 0;
}

bool vg_pol_has_ip_rules(const struct vg_pol_snapshot *s, unsigned source, enum vg_pol_trigger t)
{
	if (!s || source >= s->nsources || t == VG_TRIG_QNAME || t == VG_TRIG_NSDNAME)
		return false;
	const struct trie *tr = &s->src[source].tries[trie_index(t)];
	return tr->count > 0 && (tr->count > 1 || tr->n[0].rule != EMPTY);
}

void vg_pol_addr_v4(const uint8_t v4[4], uint8_t out[16])
{
	memset(out, 0, 12);
	memcpy(out + 12, v4, 4);
}
