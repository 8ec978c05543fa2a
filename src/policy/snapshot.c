/* SPDX-License-Identifier: MIT
 *
 * The compiled policy: immutable structures built from parsed rules, off the
 * worker threads, and then only read (workers move to a new snapshot on
 * reload; the old one is freed once nobody can still use it).
 *
 * One compiled source (an RPZ zone or a list) is built incrementally while
 * its file is read (vg_pol_compile_*), is reference-counted, and is shared
 * by every snapshot that includes it: a reload rebuilds only the sources
 * whose files changed, and a source that fails to load keeps its previous
 * compiled version.  A snapshot is the ordered array of its sources.
 *
 * Per source:
 *   names   an open-addressing hash table of the QNAME and NSDNAME triggers,
 *           keyed by (trigger, wildcard, name).  An exact lookup is one probe
 *           sequence; the best wildcard is found by probing the name's
 *           ancestors from the closest up, so the cost depends on the name's
 *           label count, never on the number of rules.
 *   tries   binary tries over the 128-bit internal address space for the
 *           CLIENT-IP, RESPONSE-IP and NSIP triggers: a longest-prefix match
 *           walks at most 128 nodes.
 *   ldata   the local data of rules whose action is local data (or a walled
 *           garden): per rule a chain of records (type, TTL, RDATA).
 * Names live in one arena per source; a slot is 8 bytes (the table is sized
 * to its load, not to a power of two) and a rule 12, so a QNAME rule costs
 * its name's wire length plus about 24 bytes.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/core.h"
#include "policy/snapshot.h"

#define EMPTY UINT32_MAX
#define LOAD_NUM 7 /* the table is at most 7/10 full */
#define LOAD_DEN 10

struct slot {
	uint32_t name_off; /* into names; EMPTY when free */
	uint32_t rule;     /* index into rules */
	uint32_t tag;      /* the top half of the name's hash: a probe that does not
			    * match is rejected here, without reading the rule or the
			    * name (each a cache miss in a large table) */
};

struct tnode {
	uint32_t child[2];
	uint32_t rule; /* EMPTY: no rule ends here */
};

struct trie {
	struct tnode *n;
	uint32_t count;
	size_t cap;
	/* IPv4 addresses are ::a.b.c.d (96 zero bits first): the walk down those
	 * 96 bits is the same for all of them, so it is done once, at the end of
	 * compiling: the node it reaches (EMPTY: none) and the best rule on the
	 * way (EMPTY: none, else with v4_bits) */
	uint32_t v4_node, v4_best, v4_bits;
};

/* A local-data record in ldata: next record of the same rule (offset + 1, 0 = none). */
struct lrec {
	uint32_t next;
	uint32_t ttl;
	uint16_t type;
	uint16_t rdlen;
	/* rdata follows */
};

struct vg_pol_compiled {
	atomic_uint refs;
	bool done;
	uint64_t seed; /* of name_hash: random per compiled source */
	struct slot *slots;
	size_t nslots; /* any size: probing is modulo */
	uint8_t *names;
	size_t names_len, names_cap;
	struct vg_pol_crule *rules;
	uint32_t nrules, rules_cap, live;
	uint32_t *rule_name; /* while building: each rule's name offset (EMPTY: address rule) */
	uint32_t *ltail;     /* while building: each rule's last local-data record (offset + 1) */
	struct trie tries[3]; /* CLIENT-IP, RESPONSE-IP, NSIP */
	uint8_t *ldata;
	size_t ldata_len, ldata_cap;
	unsigned per_trigger[5];
	unsigned pass_answer; /* RESPONSE-IP / NSDNAME / NSIP rules that PASSTHRU */
	/* the label counts of the QNAME / NSDNAME rule names, exact and
	 * wildcard (bit n: a name of n labels, 63: 63 or more): a lookup for a
	 * name with a count no rule has is not made */
	uint64_t label_mask[2][2];
};

static unsigned label_bit(const uint8_t *name)
{
	int n = vg_name_labels(name);
	return n > 63 ? 63 : (unsigned)n;
}

struct vg_pol_snapshot {
	unsigned nsources;
	struct vg_pol_compiled *src[];
};

static int trie_index(enum vg_pol_trigger t)
{
	return t == VG_TRIG_CLIENT_IP ? 0 : t == VG_TRIG_RESP_IP ? 1 : 2;
}

static bool name_trigger(enum vg_pol_trigger t)
{
	return t == VG_TRIG_QNAME || t == VG_TRIG_NSDNAME;
}

/*
 * The name table's hash: a seeded multiply-rotate over the name eight bytes
 * at a time, then a full avalanche (the splitmix64 finaliser).  Not SipHash,
 * as the cache's keys are: clients never insert into a policy table, so the
 * worst they can do is look up names that land in the longest probe run the
 * table already has -- bounded at compile time, not by them.  It is about a
 * third of SipHash's cost on a lookup that runs for every query and label.
 */
static uint64_t name_hash(const struct vg_pol_compiled *c, enum vg_pol_trigger t, bool wild,
			  const uint8_t *name)
{
	size_t n = vg_name_len(name), i = 0;
	uint64_t h = c->seed ^ ((uint64_t)t << 1 | wild) ^ (uint64_t)n << 8, w;
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, name + i, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h = h << 29 | h >> 35;
	}
	if (i < n) {
		w = 0;
		memcpy(&w, name + i, n - i);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	return h ^ h >> 31;
}

/* ------------------------------------------------------------ tries */

static uint32_t trie_node(struct trie *t)
{
	if (t->count == EMPTY ||
	    vg_grow((void **)&t->n, &t->cap, (size_t)t->count + 1, sizeof(*t->n), 64) < 0)
		return EMPTY;
	t->n[t->count] = (struct tnode){ { EMPTY, EMPTY }, EMPTY };
	return t->count++;
}

static int bit_at(const uint8_t *a, unsigned i)
{
	return a[i / 8] >> (7 - i % 8) & 1;
}

/* Insert; the first rule for a prefix stays (*@p had gets it, else EMPTY). */
static int trie_add(struct trie *t, const struct vg_pol_prefix *p, uint32_t rule, uint32_t *had)
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
	*had = t->n[cur].rule;
	if (*had == EMPTY)
		t->n[cur].rule = rule;
	return 0;
}

/* Longest prefix containing @p addr: the rule and its length, or EMPTY. */
static const uint8_t zero96[12];

static uint32_t trie_match(const struct trie *t, const uint8_t addr[16], unsigned *bits)
{
	uint32_t best = EMPTY, cur = 0;
	unsigned i = 0;
	if (!t->count)
		return EMPTY;
	if (!memcmp(addr, zero96, 12)) { /* IPv4: start where the common walk ended */
		best = t->v4_best;
		*bits = t->v4_bits;
		if (t->v4_node == EMPTY)
			return best;
		cur = t->v4_node;
		i = 96;
	}
	for (;; i++) {
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

/* The walk down ::/96 that every IPv4 lookup would make (see struct trie). */
static void trie_v4(struct trie *t)
{
	uint32_t cur = 0;
	t->v4_best = t->v4_node = EMPTY;
	t->v4_bits = 0;
	if (!t->count)
		return;
	for (unsigned i = 0; i < 96; i++) {
		if (t->n[cur].rule != EMPTY) {
			t->v4_best = t->n[cur].rule;
			t->v4_bits = i;
		}
		cur = t->n[cur].child[0];
		if (cur == EMPTY)
			return;
	}
	t->v4_node = cur;
}

/* ------------------------------------------------------------ building */

int vg_pol_compile_begin(struct vg_pol_compiled **out)
{
	struct vg_pol_compiled *c = calloc(1, sizeof(*c));
	if (!c)
		return VG_ENOMEM;
	atomic_init(&c->refs, 1);
	randombytes_buf(&c->seed, sizeof(c->seed));
	*out = c;
	return 0;
}

static bool has_cname(const struct vg_pol_compiled *c, uint32_t data)
{
	for (uint32_t o = data; o; o = ((const struct lrec *)(c->ldata + o - 1))->next)
		if (((const struct lrec *)(c->ldata + o - 1))->type == VG_T_CNAME)
			return true;
	return false;
}

/*
 * A second rule @p ni for the trigger of rule @p keep: local data of both is
 * one rule (several records for one owner); anything else is a duplicate and
 * the first one read stays.  True when merged.
 */
static bool merge_local(struct vg_pol_compiled *c, uint32_t keep, uint32_t ni)
{
	struct vg_pol_crule *k = &c->rules[keep], *n = &c->rules[ni];
	if (k->action != VG_ACT_LOCAL || n->action != VG_ACT_LOCAL || !k->data || !n->data)
		return false;
	if (has_cname(c, k->data) || has_cname(c, n->data))
		return false; /* a CNAME owner cannot carry other data (RPZ.md 2.2) */
	struct lrec *tail = (struct lrec *)(c->ldata + c->ltail[keep] - 1);
	tail->next = n->data;
	c->ltail[keep] = c->ltail[ni];
	n->data = 0;
	return true;
}

static void report_dup(struct vg_pol_compiled *c, uint32_t idx, const uint8_t *name,
		       const struct vg_pol_rule *orig, struct vg_pol_dup_cb *dupcb)
{
	if (dupcb && dupcb->fn) {
		struct vg_pol_rule r;
		if (orig)
			r = *orig;
		else {
			const struct vg_pol_crule *cr = &c->rules[idx];
			memset(&r, 0, sizeof(r));
			r.trigger = (enum vg_pol_trigger)cr->trigger;
			r.wildcard = cr->wildcard;
			r.allow = cr->allow;
			r.action = (enum vg_pol_action)cr->action;
			r.line = cr->line;
			if (name)
				memcpy(r.name, name, vg_name_len(name));
		}
		dupcb->fn(dupcb->arg, &r);
	}
	c->rules[idx].action = 0xff; /* dead: never matched */
}

int vg_pol_compile_add(struct vg_pol_compiled *c, const struct vg_pol_rule *r,
		       struct vg_pol_dup_cb *dupcb)
{
	if (c->done || c->nrules == EMPTY - 1)
		return VG_EINVAL;
	size_t cap = c->rules_cap;
	if (vg_grow((void **)&c->rules, &cap, c->nrules + 1, sizeof(*c->rules), 1024) < 0)
		return VG_ENOMEM;
	size_t cap2 = c->rules_cap;
	if (vg_grow((void **)&c->rule_name, &cap2, c->nrules + 1, sizeof(*c->rule_name), 1024) < 0)
		return VG_ENOMEM;
	size_t cap3 = c->rules_cap;
	if (vg_grow((void **)&c->ltail, &cap3, c->nrules + 1, sizeof(*c->ltail), 1024) < 0)
		return VG_ENOMEM;
	c->rules_cap = (uint32_t)cap;
	uint32_t idx = c->nrules;
	c->rules[idx] = (struct vg_pol_crule){ .action = (uint8_t)r->action,
					       .trigger = (uint8_t)r->trigger,
					       .wildcard = r->wildcard, .allow = r->allow,
					       .line = r->line };
	c->rule_name[idx] = EMPTY;
	c->ltail[idx] = 0;
	if ((r->allow || r->action == VG_ACT_PASSTHRU) &&
	    (r->trigger == VG_TRIG_RESP_IP || r->trigger == VG_TRIG_NSDNAME ||
	     r->trigger == VG_TRIG_NSIP))
		c->pass_answer++;
	if (r->ldata_len || r->ltype) {
		size_t need = c->ldata_len + sizeof(struct lrec) + r->ldata_len;
		need = (need + 3) & ~(size_t)3;
		if (need > UINT32_MAX - 1)
			return VG_ENOMEM;
		if (vg_grow((void **)&c->ldata, &c->ldata_cap, need, 1, 4096) < 0)
			return VG_ENOMEM;
		struct lrec *lr = (struct lrec *)(c->ldata + c->ldata_len);
		*lr = (struct lrec){ 0, r->lttl, r->ltype, r->ldata_len };
		if (r->ldata_len)
			memcpy(lr + 1, r->ldata, r->ldata_len);
		c->rules[idx].data = (uint32_t)c->ldata_len + 1;
		c->ltail[idx] = c->rules[idx].data;
		c->ldata_len = need;
	}
	c->nrules++;
	if (name_trigger(r->trigger)) {
		size_t kl = vg_name_len(r->name);
		if (vg_grow((void **)&c->names, &c->names_cap, c->names_len + kl, 1, 65536) < 0 ||
		    c->names_len + kl >= EMPTY)
			return VG_ENOMEM;
		memcpy(c->names + c->names_len, r->name, kl);
		vg_name_lower(c->names + c->names_len);
		c->label_mask[r->trigger == VG_TRIG_NSDNAME][r->wildcard] |=
			1ull << label_bit(r->name);
		c->rule_name[idx] = (uint32_t)c->names_len;
		c->names_len += kl;
		return 0; /* duplicates are found when the table is built */
	}
	uint32_t had;
	int rc = trie_add(&c->tries[trie_index(r->trigger)], &r->prefix, idx, &had);
	if (rc < 0)
		return rc;
	if (had != EMPTY && !merge_local(c, had, idx))
		report_dup(c, idx, NULL, r, dupcb);
	else if (had == EMPTY)
		c->per_trigger[r->trigger]++;
	return 0;
}

int vg_pol_compile_end(struct vg_pol_compiled *c, struct vg_pol_dup_cb *dupcb)
{
	size_t nnames = 0;
	for (uint32_t i = 0; i < c->nrules; i++)
		nnames += c->rule_name[i] != EMPTY;
	c->nslots = nnames * LOAD_DEN / LOAD_NUM + 16;
	c->slots = malloc(c->nslots * sizeof(*c->slots));
	if (!c->slots)
		return VG_ENOMEM;
	for (size_t i = 0; i < c->nslots; i++)
		c->slots[i].name_off = EMPTY;
	for (uint32_t i = 0; i < c->nrules; i++) {
		uint32_t off = c->rule_name[i];
		if (off == EMPTY)
			continue;
		const struct vg_pol_crule *r = &c->rules[i];
		const uint8_t *key = c->names + off;
		uint64_t h = name_hash(c, (enum vg_pol_trigger)r->trigger, r->wildcard, key);
		struct slot *sl = NULL;
		bool dup = false;
		for (size_t k = h % c->nslots;; k = k + 1 == c->nslots ? 0 : k + 1) {
			sl = &c->slots[k];
			if (sl->name_off == EMPTY)
				break;
			const struct vg_pol_crule *o = &c->rules[sl->rule];
			if (o->trigger == r->trigger && o->wildcard == r->wildcard &&
			    vg_name_eq(c->names + sl->name_off, key)) {
				dup = true;
				break;
			}
		}
		if (!dup) {
			sl->name_off = off;
			sl->rule = i;
			sl->tag = (uint32_t)(h >> 32);
			c->per_trigger[r->trigger]++;
		} else if (!merge_local(c, sl->rule, i)) {
			report_dup(c, i, key, NULL, dupcb);
		}
	}
	for (int t = 0; t < 5; t++)
		c->live += c->per_trigger[t];
	free(c->rule_name);
	free(c->ltail);
	c->rule_name = c->ltail = NULL;
	/* give back what the doubling over-allocated */
	if (c->nrules && c->rules_cap > c->nrules) {
		void *p = realloc(c->rules, c->nrules * sizeof(*c->rules));
		if (p)
			c->rules = p;
	}
	if (c->names_len && c->names_cap > c->names_len) {
		void *p = realloc(c->names, c->names_len);
		if (p)
			c->names = p;
	}
	if (c->ldata_len && c->ldata_cap > c->ldata_len) {
		void *p = realloc(c->ldata, c->ldata_len);
		if (p)
			c->ldata = p;
	}
	for (int t = 0; t < 3; t++) {
		if (c->tries[t].count && c->tries[t].cap > c->tries[t].count) {
			void *p = realloc(c->tries[t].n, c->tries[t].count * sizeof(struct tnode));
			if (p)
				c->tries[t].n = p;
		}
		trie_v4(&c->tries[t]);
	}
	c->done = true;
	return 0;
}

void vg_pol_compiled_ref(struct vg_pol_compiled *c)
{
	if (c)
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void vg_pol_compiled_unref(struct vg_pol_compiled *c)
{
	if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(c->slots);
	free(c->names);
	free(c->rules);
	free(c->rule_name);
	free(c->ltail);
	free(c->ldata);
	for (int t = 0; t < 3; t++)
		free(c->tries[t].n);
	free(c);
}

unsigned vg_pol_compiled_rules(const struct vg_pol_compiled *c)
{
	return c ? c->live : 0;
}

int vg_pol_assemble(struct vg_pol_snapshot **out, struct vg_pol_compiled *const *srcs,
		    unsigned n)
{
	struct vg_pol_snapshot *s = calloc(1, sizeof(*s) + n * sizeof(s->src[0]));
	if (!s)
		return VG_ENOMEM;
	s->nsources = n;
	for (unsigned i = 0; i < n; i++) {
		s->src[i] = srcs[i];
		vg_pol_compiled_ref(srcs[i]);
	}
	*out = s;
	return 0;
}

struct vg_pol_compiled *vg_pol_source(const struct vg_pol_snapshot *s, unsigned source)
{
	return s && source < s->nsources ? s->src[source] : NULL;
}

int vg_pol_build(struct vg_pol_snapshot **out, const struct vg_pol_source_rules *sources,
		 unsigned nsources, struct vg_pol_dup_cb *dupcb)
{
	struct vg_pol_compiled **cs = calloc(nsources ? nsources : 1, sizeof(*cs));
	int r = cs ? 0 : VG_ENOMEM;
	for (unsigned i = 0; r == 0 && i < nsources; i++) {
		r = vg_pol_compile_begin(&cs[i]);
		for (size_t k = 0; r == 0 && k < sources[i].n; k++)
			r = vg_pol_compile_add(cs[i], &sources[i].rules[k], dupcb);
		if (r == 0)
			r = vg_pol_compile_end(cs[i], dupcb);
	}
	if (r == 0)
		r = vg_pol_assemble(out, cs, nsources);
	for (unsigned i = 0; cs && i < nsources; i++)
		vg_pol_compiled_unref(cs[i]);
	free(cs);
	return r;
}

void vg_pol_free(struct vg_pol_snapshot *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->nsources; i++)
		vg_pol_compiled_unref(s->src[i]);
	free(s);
}

static size_t compiled_memory(const struct vg_pol_compiled *c)
{
	size_t b = sizeof(*c) + c->nslots * sizeof(*c->slots) + c->names_len +
		   c->nrules * sizeof(*c->rules) + c->ldata_len;
	for (int t = 0; t < 3; t++)
		b += c->tries[t].count * sizeof(struct tnode);
	return b;
}

size_t vg_pol_memory(const struct vg_pol_snapshot *s)
{
	size_t b = sizeof(*s) + s->nsources * sizeof(s->src[0]);
	for (unsigned i = 0; i < s->nsources; i++)
		b += compiled_memory(s->src[i]);
	return b;
}

/* ------------------------------------------------------------ lookups */

/* Are the lower-case names @p key and @p name (@p len bytes) equal?  Byte by
 * byte up to the first difference, which comes before the end of the
 * shorter of two valid names: nothing past @p key is read. */
static bool same_bytes(const uint8_t *key, const uint8_t *name, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (key[i] != name[i])
			return false;
	return true;
}

static const struct vg_pol_crule *name_lookup(const struct vg_pol_compiled *c,
					      enum vg_pol_trigger t, bool wild,
					      const uint8_t *name)
{
	uint64_t h = name_hash(c, t, wild, name);
	uint32_t tag = (uint32_t)(h >> 32);
	size_t len = vg_name_len(name);
	for (size_t i = h % c->nslots;; i = i + 1 == c->nslots ? 0 : i + 1) {
		const struct slot *sl = &c->slots[i];
		if (sl->name_off == EMPTY)
			return NULL;
		if (sl->tag != tag)
			continue;
		const struct vg_pol_crule *r = &c->rules[sl->rule];
		if (r->trigger == t && r->wildcard == wild &&
		    same_bytes(c->names + sl->name_off, name, len))
			return r;
	}
}

int vg_pol_match_name(const struct vg_pol_snapshot *s, unsigned source, enum vg_pol_trigger t,
		      const uint8_t *name, struct vg_pol_hit *hit)
{
	const struct vg_pol_compiled *c = vg_pol_source(s, source);
	if (!c || !name_trigger(t) || !c->per_trigger[t])
		return VG_ENOTFOUND;
	uint8_t low[VG_NAME_MAX];
	memcpy(low, name, vg_name_len(name));
	vg_name_lower(low);
	/* exact beats any wildcard; among wildcards, more labels win (RPZ.md 2.4
	 * rule 3); names of a label count no rule has are not looked up */
	const uint64_t *mask = c->label_mask[t == VG_TRIG_NSDNAME];
	int labels = vg_name_labels(low);
	const struct vg_pol_crule *r = NULL;
	if (mask[0] >> (labels > 63 ? 63 : labels) & 1)
		r = name_lookup(c, t, false, low);
	const uint8_t *at = low;
	for (const uint8_t *anc = low; !r && *anc;) {
		anc += *anc + 1;
		labels--;
		if (mask[1] >> (labels > 63 ? 63 : labels) & 1)
			r = name_lookup(c, t, true, anc);
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
	const struct vg_pol_compiled *c = vg_pol_source(s, source);
	if (!c || name_trigger(t) || !c->per_trigger[t])
		return VG_ENOTFOUND;
	unsigned bits = 0;
	uint32_t r = trie_match(&c->tries[trie_index(t)], addr, &bits);
	if (r == EMPTY)
		return VG_ENOTFOUND;
	hit->rule = &c->rules[r];
	hit->source = source;
	hit->labels = 0;
	hit->bits = bits;
	memcpy(hit->addr, addr, 16);
	return 0;
}

unsigned vg_pol_rule_count(const struct vg_pol_snapshot *s, unsigned source)
{
	return vg_pol_compiled_rules(vg_pol_source(s, source));
}

unsigned vg_pol_trigger_count(const struct vg_pol_snapshot *s, unsigned source,
			      enum vg_pol_trigger t)
{
	const struct vg_pol_compiled *c = vg_pol_source(s, source);
	return c && (unsigned)t < 5 ? c->per_trigger[t] : 0;
}

unsigned vg_pol_answer_passthru(const struct vg_pol_snapshot *s, unsigned source)
{
	const struct vg_pol_compiled *c = vg_pol_source(s, source);
	return c ? c->pass_answer : 0;
}

bool vg_pol_has_ip_rules(const struct vg_pol_snapshot *s, unsigned source, enum vg_pol_trigger t)
{
	return !name_trigger(t) && vg_pol_trigger_count(s, source, t) > 0;
}

bool vg_pol_local_next(const struct vg_pol_snapshot *s, const struct vg_pol_hit *hit,
		       uint32_t *cursor, struct vg_pol_ldata *out)
{
	const struct vg_pol_compiled *c = vg_pol_source(s, hit->source);
	if (!c)
		return false;
	uint32_t o = *cursor ? *cursor : hit->rule->data;
	if (!o || o == EMPTY)
		return false;
	const struct lrec *lr = (const struct lrec *)(c->ldata + o - 1);
	out->type = lr->type;
	out->ttl = lr->ttl;
	out->rdlen = lr->rdlen;
	out->rdata = (const uint8_t *)(lr + 1);
	*cursor = lr->next ? lr->next : EMPTY;
	return true;
}

void vg_pol_addr_v4(const uint8_t v4[4], uint8_t out[16])
{
	memset(out, 0, 12);
	memcpy(out + 12, v4, 4);
}
