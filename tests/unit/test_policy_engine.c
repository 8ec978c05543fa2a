/* SPDX-License-Identifier: MIT
 *
 * The policy engine's decisions (engine.c): vg_policy_check and
 * vg_policy_check_response on a hand-made policy (one
 * group, 192.0.2.0/24, with the given sources in order) and a real cache
 * holding the delegations NSDNAME and NSIP rules look at: NSDNAME and NSIP
 * precedence, trigger and zone order, overrides and query flags,
 * qname-wait-recurse, CNAME chain stages.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "check_main.h"
#include "policy_rules.h"
#include "cache/cache.h"
#include "policy/engine.h"

#define NOW 1000

static struct vg_pol_rule nsdname(const char *n, bool wild, enum vg_pol_action a, unsigned line)
{
	struct vg_pol_rule r = qname(n, wild, a, line);
	r.trigger = VG_TRIG_NSDNAME;
	return r;
}

static struct vg_pol_rule ipa(enum vg_pol_trigger t, const char *a, unsigned bits,
			      enum vg_pol_action act, unsigned line)
{
	struct vg_pol_rule r = ip(t, a, bits, line);
	r.action = act;
	return r;
}

static struct vg_policy *pol_new(const struct vg_pol_source_rules *src, unsigned n)
{
	struct vg_policy *p = calloc(1, sizeof(*p));
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(vg_pol_build(&p->snap, src, n, NULL), 0);
	p->nsources = n;
	p->min_ns_dots = VG_POLICY_MIN_NS_DOTS_DEFAULT;
	for (unsigned i = 0; i < n; i++) {
		snprintf(p->src[i].name, sizeof(p->src[i].name), "s%u", i);
		p->src[i].ede = 15;
	}
	p->ngroups = 1;
	struct vg_policy_group *g = &p->groups[0];
	snprintf(g->name, sizeof(g->name), "g");
	g->clients[0].family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.0", g->clients[0].addr), 1);
	g->clients[0].bits = 24;
	g->n_clients = 1;
	for (unsigned i = 0; i < n; i++)
		g->sources[i] = (uint8_t)i;
	g->n_sources = n;
	return p;
}

static void pol_del(struct vg_policy *p)
{
	vg_pol_free(p->snap);
	free(p);
}

static const struct sockaddr *client(void)
{
	static struct sockaddr_in sin;
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	return (const struct sockaddr *)&sin;
}

/* RRsets with their own storage, for the cache and for answers. */
struct rrbuf {
	uint8_t owner[VG_NAME_MAX];
	uint8_t rd[1024];
	struct vg_rrset rs;
};

static uint8_t *wname(const char *s, uint8_t *out)
{
	ck_assert_int_gt(vg_name_from_str(s, out, VG_NAME_MAX), 0);
	return out;
}

/* An RRset of names (NS, CNAME): @p targets separated by spaces. */
static struct vg_rrset *mk_names(struct rrbuf *b, const char *owner, uint16_t type,
				 const char *targets)
{
	char copy[512], *save = NULL;
	size_t off = 0;
	uint16_t n = 0;
	wname(owner, b->owner);
	snprintf(copy, sizeof(copy), "%s", targets);
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		uint8_t nm[VG_NAME_MAX];
		wname(t, nm);
		size_t l = vg_name_len(nm);
		vg_put16(b->rd + off, (uint16_t)l);
		memcpy(b->rd + off + 2, nm, l);
		off += 2 + l;
		n++;
	}
	b->rs = (struct vg_rrset){ .owner = b->owner, .type = type, .rclass = VG_C_IN, .ttl = 3600,
				   .count = n, .rdata_len = (uint16_t)off, .rdata = b->rd };
	return &b->rs;
}

/* An A or AAAA RRset: @p addrs separated by spaces (all of one family). */
static struct vg_rrset *mk_addrs(struct rrbuf *b, const char *owner, const char *addrs)
{
	char copy[512], *save = NULL;
	size_t off = 0;
	uint16_t n = 0, type = strchr(addrs, ':') ? VG_T_AAAA : VG_T_A;
	wname(owner, b->owner);
	snprintf(copy, sizeof(copy), "%s", addrs);
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		uint16_t l = type == VG_T_A ? 4 : 16;
		vg_put16(b->rd + off, l);
		int fam = type == VG_T_A ? AF_INET : AF_INET6;
		ck_assert_int_eq(inet_pton(fam, t, b->rd + off + 2), 1);
		off += 2u + l;
		n++;
	}
	b->rs = (struct vg_rrset){ .owner = b->owner, .type = type, .rclass = VG_C_IN, .ttl = 3600,
				   .count = n, .rdata_len = (uint16_t)off, .rdata = b->rd };
	return &b->rs;
}

static void cache_ns(struct vg_cache *c, const char *zone, const char *ns)
{
	struct rrbuf b;
	struct vg_rrset *rs = mk_names(&b, zone, VG_T_NS, ns);
	ck_assert_int_eq(vg_cache_put(c, rs, VG_RANK_REFERRAL, NOW), 0);
}

static void cache_addrs(struct vg_cache *c, const char *name, const char *addrs)
{
	struct rrbuf b;
	ck_assert_int_eq(vg_cache_put(c, mk_addrs(&b, name, addrs), VG_RANK_GLUE, NOW), 0);
}

/* The answer to QNAME: a chain "a b c" means a CNAME b, b CNAME c, c A @p addr. */
struct answer {
	struct rrbuf b[8];
	struct vg_rrset *ans[8];
	unsigned n;
	uint8_t qname[VG_NAME_MAX];
	uint8_t buf[8192];
	struct vg_policy_answer pa;
};

static struct vg_policy_answer *answer(struct answer *a, struct vg_cache *c, uint16_t qtype,
				       const char *chain, const char *addr)
{
	char copy[512], *save = NULL, *prev = NULL;
	snprintf(copy, sizeof(copy), "%s", chain);
	a->n = 0;
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (prev) {
			a->ans[a->n] = mk_names(&a->b[a->n], prev, VG_T_CNAME, t);
			a->n++;
		} else {
			wname(t, a->qname);
		}
		prev = t;
	}
	if (addr) {
		a->ans[a->n] = mk_addrs(&a->b[a->n], prev, addr);
		a->n++;
	}
	a->pa = (struct vg_policy_answer){ .qname = a->qname, .qtype = qtype, .ans = a->ans,
					   .nans = a->n, .cache = c, .now = NOW, .buf = a->buf,
					   .cap = sizeof(a->buf) };
	return &a->pa;
}

/* Both steps for the query of @p a: the result of vg_policy_check_response. */
static int decide_all(const struct vg_policy *p, struct answer *a, struct vg_policy_decision *d)
{
	vg_policy_check(p, client(), a->qname, d);
	return vg_policy_check_response(p, &a->pa, d);
}

static void describe_is(const struct vg_policy *p, const struct vg_policy_decision *d,
			const uint8_t *qn, const char *want)
{
	char text[300];
	vg_policy_describe(p, d, qn, text, sizeof(text));
	ck_assert_str_eq(text, want);
}

START_TEST(nsdname_exact_wildcard_and_name_order)
{
	struct vg_pol_rule r[] = {
		nsdname("ns1.evil.example.", false, VG_ACT_NXDOMAIN, 1),
		nsdname("evil.example.", true, VG_ACT_NODATA, 2),      /* *.evil.example */
		nsdname("deep.evil.example.", true, VG_ACT_DROP, 3),   /* *.deep.evil.example */
		nsdname("a.ns.example.", false, VG_ACT_NXDOMAIN, 4),
		nsdname("z.ns.example.", false, VG_ACT_NODATA, 5),
	};
	struct vg_pol_source_rules src = { r, 5 };
	struct vg_policy *p = pol_new(&src, 1);
	struct vg_cache *c = vg_cache_new(1 << 20);
	struct answer a;
	struct vg_policy_decision d;
	/* exact beats any wildcard, whatever the order of the NS records */
	cache_ns(c, "v1.test.", "x.deep.evil.example. ns1.evil.example. y.evil.example.");
	answer(&a, c, VG_T_A, "www.v1.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_int_eq(d.trigger, VG_TRIG_NSDNAME);
	ck_assert_uint_eq(d.line, 1);
	ck_assert_uint_eq(d.stage, 0);
	ck_assert_int_eq(d.action, VG_ACT_NXDOMAIN);
	describe_is(p, &d, a.qname, "vigil: s0 rule nsdname ns1.evil.example");
	/* among wildcards, more labels */
	cache_ns(c, "v2.test.", "y.evil.example. x.deep.evil.example.");
	answer(&a, c, VG_T_A, "www.v2.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_uint_eq(d.line, 3);
	describe_is(p, &d, a.qname, "vigil: s0 rule nsdname *.deep.evil.example");
	/* two exact matches: the name server's name sorting last wins (z > a) */
	cache_ns(c, "v3.test.", "z.ns.example. a.ns.example.");
	answer(&a, c, VG_T_A, "www.v3.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_uint_eq(d.line, 5);
	cache_ns(c, "v4.test.", "a.ns.example. z.ns.example.");
	answer(&a, c, VG_T_A, "www.v4.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_uint_eq(d.line, 5);
	/* every delegation point counts, not only the closest one: the TLD's */
	cache_ns(c, "test.", "a.ns.example.");
	cache_ns(c, "v5.test.", "ns.clean.example.");
	answer(&a, c, VG_T_A, "www.v5.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_uint_eq(d.line, 4);
	/* but not the root's (min-ns-dots 1, the default) */
	cache_ns(c, ".", "ns1.evil.example.");
	answer(&a, c, VG_T_A, "www.other.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 0);
	ck_assert(!d.matched);
	p->min_ns_dots = 0; /* min-ns-dots 0: the root's too */
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert(d.matched && d.trigger == VG_TRIG_NSDNAME);
	p->min_ns_dots = 2; /* 2: not the TLD's either (test.'s a.ns.example) */
	answer(&a, c, VG_T_A, "www.v5.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 0);
	p->min_ns_dots = VG_POLICY_MIN_NS_DOTS_DEFAULT;
	/* nothing cached for the name: no NSDNAME data, no match; no cache at all */
	answer(&a, c, VG_T_A, "www.unknown.invalid.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 0);
	answer(&a, NULL, VG_T_A, "www.v1.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 0);
	/* a negative answer (no records) still has name servers; and the name
	 * order applies across delegation points: test.'s a.ns.example sorts
	 * after v1.test.'s ns1.evil.example (ns > evil in the second label) */
	answer(&a, c, VG_T_A, "nx.v1.test.", NULL);
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_uint_eq(d.line, 4);
	vg_cache_free(c);
	pol_del(p);
}
END_TEST

START_TEST(nsip_prefix_then_address)
{
	struct vg_pol_rule r[] = {
		ipa(VG_TRIG_NSIP, "10.0.0.0", 8, VG_ACT_NODATA, 1),
		ipa(VG_TRIG_NSIP, "10.1.0.0", 16, VG_ACT_NXDOMAIN, 2),
		ipa(VG_TRIG_NSIP, "2001:db8::", 32, VG_ACT_DROP, 3),
	};
	struct vg_pol_source_rules src = { r, 3 };
	struct vg_policy *p = pol_new(&src, 1);
	struct vg_cache *c = vg_cache_new(1 << 20);
	struct answer a;
	struct vg_policy_decision d;
	/* the longest prefix, over all addresses of all name servers */
	cache_ns(c, "z1.test.", "ns1.z1.test. ns2.z1.test.");
	cache_addrs(c, "ns1.z1.test.", "10.9.9.9");
	cache_addrs(c, "ns2.z1.test.", "10.1.5.5");
	answer(&a, c, VG_T_A, "www.z1.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_int_eq(d.trigger, VG_TRIG_NSIP);
	ck_assert_uint_eq(d.line, 2);
	describe_is(p, &d, a.qname, "vigil: s0 rule nsip 10.1.0.0/16");
	ck_assert_str_eq((char *)d.name, "\3ns2\2z1\4test");
	/* equal prefixes: the smallest address (IPv4 is ::a.b.c.d, below 2001:db8::) */
	cache_ns(c, "z2.test.", "ns1.z2.test. ns2.z2.test.");
	cache_addrs(c, "ns1.z2.test.", "10.1.0.9 10.1.0.7");
	cache_addrs(c, "ns2.z2.test.", "10.1.0.8");
	answer(&a, c, VG_T_A, "www.z2.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_uint_eq(d.line, 2);
	ck_assert_uint_eq(d.addr[15], 7);
	/* AAAA too */
	cache_ns(c, "z3.test.", "ns1.z3.test.");
	cache_addrs(c, "ns1.z3.test.", "2001:db8::53");
	answer(&a, c, VG_T_A, "www.z3.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_uint_eq(d.line, 3);
	ck_assert_int_eq(d.action, VG_ACT_DROP);
	describe_is(p, &d, a.qname, "vigil: s0 rule nsip 2001:db8::/32");
	/* an address no rule covers */
	cache_ns(c, "z4.test.", "ns1.z4.test.");
	cache_addrs(c, "ns1.z4.test.", "192.0.2.53");
	answer(&a, c, VG_T_A, "www.z4.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 0);
	vg_cache_free(c);
	pol_del(p);
}
END_TEST

/* An address rule is described by its network: the address bits past the
 * prefix are cleared, also inside a byte (/20, /39). */
START_TEST(describe_masks_the_address_to_the_prefix)
{
	struct vg_pol_rule r[] = { ipa(VG_TRIG_CLIENT_IP, "10.1.0.0", 20, VG_ACT_NXDOMAIN, 1) };
	struct vg_pol_source_rules src = { r, 1 };
	struct vg_policy *p = pol_new(&src, 1);
	struct vg_policy_decision d;
	memset(&d, 0, sizeof(d));
	d.trigger = VG_TRIG_CLIENT_IP;
	d.bits = 96 + 20;
	static const uint8_t v4[16] = { [12] = 10, 1, 15, 200 };
	memcpy(d.addr, v4, 16);
	describe_is(p, &d, NULL, "vigil: s0 rule client-ip 10.1.0.0/20");
	d.trigger = VG_TRIG_RESP_IP;
	d.bits = 39;
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, [15] = 1 };
	memcpy(d.addr, v6, 16);
	describe_is(p, &d, NULL, "vigil: s0 rule response-ip 2001:db8:fe00::/39");
	d.bits = 128;
	describe_is(p, &d, NULL, "vigil: s0 rule response-ip 2001:db8:ffff::1/128");
	pol_del(p);
}
END_TEST

/* Within one zone: QNAME > RESPONSE-IP > NSDNAME > NSIP (RPZ.md 2.4 rule 4). */
START_TEST(trigger_order_within_a_zone)
{
	struct vg_cache *c = vg_cache_new(1 << 20);
	cache_ns(c, "t.test.", "ns1.t.test.");
	cache_addrs(c, "ns1.t.test.", "10.0.0.53");
	struct vg_pol_rule all[] = {
		ipa(VG_TRIG_NSIP, "10.0.0.53", 32, VG_ACT_NXDOMAIN, 1),
		nsdname("ns1.t.test.", false, VG_ACT_NXDOMAIN, 2),
		ipa(VG_TRIG_RESP_IP, "192.0.2.10", 32, VG_ACT_NXDOMAIN, 3),
		qname("www.t.test.", false, VG_ACT_NODATA, 4),
	};
	static const enum vg_pol_trigger want[] = { VG_TRIG_NSIP, VG_TRIG_NSDNAME,
						    VG_TRIG_RESP_IP, VG_TRIG_QNAME };
	for (unsigned n = 1; n <= 4; n++) {
		struct vg_pol_source_rules src = { all, n };
		struct vg_policy *p = pol_new(&src, 1);
		struct answer a;
		struct vg_policy_decision d;
		answer(&a, c, VG_T_A, "www.t.test.", "192.0.2.10");
		int pre = vg_policy_check(p, client(), a.qname, &d);
		/* a QNAME match in the only source is final before resolution */
		ck_assert_int_eq(d.check_answer, n < 4);
		ck_assert(n < 4 || !d.defer);
		ck_assert_int_eq(pre, n == 4);
		ck_assert_int_eq(vg_policy_check_response(p, &a.pa, &d), 1);
		ck_assert_int_eq(d.trigger, want[n - 1]);
		ck_assert_uint_eq(d.line, n);
		pol_del(p);
	}
	vg_cache_free(c);
}
END_TEST

/* Zone order first (RPZ.md 2.4 rule 2): an earlier zone's answer-side rule
 * beats a later zone's QNAME rule (the decision waits for the answer), a
 * later zone's never beats an earlier zone's. */
START_TEST(zone_order_across_sources)
{
	struct vg_cache *c = vg_cache_new(1 << 20);
	cache_ns(c, "t.test.", "ns1.t.test.");
	cache_addrs(c, "ns1.t.test.", "10.0.0.53");
	struct answer a;
	struct vg_policy_decision d;
	struct vg_pol_rule nsip_pass[] = { ipa(VG_TRIG_NSIP, "10.0.0.0", 8, VG_ACT_PASSTHRU, 1) };
	struct vg_pol_rule nsd_block[] = { nsdname("ns1.t.test.", false, VG_ACT_NODATA, 1) };
	struct vg_pol_rule qn_block[] = { qname("www.t.test.", false, VG_ACT_NXDOMAIN, 7) };
	struct vg_pol_rule nsd_other[] = { nsdname("ns.elsewhere.test.", false, VG_ACT_DROP, 1) };
	/* NSIP PASSTHRU in zone 0 beats zone 1's QNAME NXDOMAIN */
	struct vg_pol_source_rules s1[] = { { nsip_pass, 1 }, { qn_block, 1 } };
	struct vg_policy *p = pol_new(s1, 2);
	answer(&a, c, VG_T_A, "www.t.test.", "192.0.2.10");
	ck_assert_int_eq(vg_policy_check(p, client(), a.qname, &d), 1);
	ck_assert(d.defer && d.check_answer);
	ck_assert_uint_eq(d.order, 1);
	ck_assert_int_eq(vg_policy_check_response(p, &a.pa, &d), 0);
	ck_assert(d.matched);
	ck_assert_int_eq(d.action, VG_ACT_PASSTHRU);
	ck_assert_int_eq(d.trigger, VG_TRIG_NSIP);
	ck_assert_uint_eq(d.order, 0);
	pol_del(p);
	/* zone 0's NSDNAME rules match nothing here: zone 1's QNAME rule stands */
	struct vg_pol_source_rules s2[] = { { nsd_other, 1 }, { qn_block, 1 } };
	p = pol_new(s2, 2);
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_int_eq(d.trigger, VG_TRIG_QNAME);
	ck_assert_uint_eq(d.line, 7);
	pol_del(p);
	/* QNAME in zone 0, NSDNAME in zone 1: decided before resolution */
	struct vg_pol_source_rules s3[] = { { qn_block, 1 }, { nsd_block, 1 } };
	p = pol_new(s3, 2);
	ck_assert_int_eq(vg_policy_check(p, client(), a.qname, &d), 1);
	ck_assert(!d.defer && !d.check_answer);
	ck_assert_int_eq(vg_policy_check_response(p, &a.pa, &d), 1);
	ck_assert_int_eq(d.trigger, VG_TRIG_QNAME);
	pol_del(p);
	/* two answer-side rules: zone 0's NSDNAME over zone 1's NSIP PASSTHRU */
	struct vg_pol_source_rules s4[] = { { nsd_block, 1 }, { nsip_pass, 1 } };
	p = pol_new(s4, 2);
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_int_eq(d.trigger, VG_TRIG_NSDNAME);
	ck_assert_int_eq(d.action, VG_ACT_NODATA);
	ck_assert_uint_eq(d.order, 0);
	pol_del(p);
	vg_cache_free(c);
}
END_TEST

/* Per-source overrides (RPZ.md 2.5) and the query flags a source applies to. */
START_TEST(overrides_and_query_flags)
{
	struct vg_pol_rule r0[] = { qname("x.test.", false, VG_ACT_NXDOMAIN, 3),
				    qname("p.test.", false, VG_ACT_PASSTHRU, 4) };
	struct vg_pol_rule r1[] = { qname("x.test.", false, VG_ACT_NODATA, 9),
				    qname("p.test.", false, VG_ACT_NXDOMAIN, 10) };
	struct vg_pol_source_rules src[] = { { r0, 2 }, { r1, 2 } };
	struct vg_policy *p = pol_new(src, 2);
	struct vg_policy_decision d;
	uint8_t x[VG_NAME_MAX], pn[VG_NAME_MAX];
	const uint8_t *cn;
	wname("x.test.", x);
	wname("p.test.", pn);
	/* disabled: source 0's match is only logged; source 1 decides */
	p->src[0].cfg.override = VG_POVR_DISABLED;
	ck_assert_int_eq(vg_policy_check(p, client(), x, &d), 1);
	ck_assert_uint_eq(d.source, 1);
	ck_assert_int_eq(d.action, VG_ACT_NODATA);
	ck_assert(d.logonly.set);
	ck_assert_uint_eq(d.logonly.source, 0);
	ck_assert_uint_eq(d.logonly.line, 3);
	/* given: source 0 decides; an override replaces the action afterwards */
	p->src[0].cfg.override = VG_POVR_GIVEN;
	ck_assert_int_eq(vg_policy_check(p, client(), x, &d), 1);
	ck_assert(d.source == 0 && d.action == VG_ACT_NXDOMAIN && !d.logonly.set);
	p->src[0].cfg.override = VG_POVR_NODATA;
	vg_policy_override(p, &d, &cn);
	ck_assert(d.action == VG_ACT_NODATA && d.rewrite && !cn);
	/* an override replaces the action of every match (RPZ.md 2.5): a
	 * blocking rule under "passthru" lets the name through (and stops the
	 * later sources), a PASSTHRU rule under "nxdomain" blocks */
	p->src[0].cfg.override = VG_POVR_PASSTHRU;
	ck_assert_int_eq(vg_policy_check(p, client(), x, &d), 0);
	ck_assert(d.matched && d.source == 0 && !d.rewrite);
	vg_policy_override(p, &d, &cn);
	ck_assert(d.action == VG_ACT_PASSTHRU && !d.rewrite);
	p->src[0].cfg.override = VG_POVR_NXDOMAIN;
	ck_assert_int_eq(vg_policy_check(p, client(), pn, &d), 1);
	ck_assert(d.matched && d.source == 0 && d.rewrite && d.action == VG_ACT_PASSTHRU);
	vg_policy_override(p, &d, &cn);
	ck_assert(d.action == VG_ACT_NXDOMAIN && d.rewrite);
	p->src[0].cfg.override = VG_POVR_CNAME;
	wname("walled.example.", p->src[0].cfg.override_cname);
	ck_assert_int_eq(vg_policy_check(p, client(), x, &d), 1);
	vg_policy_override(p, &d, &cn);
	ck_assert(d.action == VG_ACT_LOCAL && cn == p->src[0].cfg.override_cname);
	p->src[0].cfg.override = VG_POVR_GIVEN;
	/* recursive-only: an RD=0 query is not checked against such sources */
	p->src[0].cfg.recursive_only = p->src[1].cfg.recursive_only = true;
	ck_assert_int_eq(vg_policy_check_flags(p, client(), NULL, x, false, false, &d), 0);
	ck_assert(!d.matched);
	p->src[0].cfg.recursive_only = false;
	ck_assert_int_eq(vg_policy_check_flags(p, client(), NULL, x, false, false, &d), 1);
	ck_assert_uint_eq(d.source, 0);
	/* break-dnssec no: a DO=1 query waits for the answer, which is rewritten
	 * only if it has no DNSSEC data; a PASSTHRU still stops at once */
	p->src[0].cfg.break_dnssec = p->src[1].cfg.break_dnssec = false;
	struct vg_policy_answer pa = { .qname = x, .qtype = VG_T_A };
	ck_assert_int_eq(vg_policy_check_flags(p, client(), NULL, x, true, true, &d), 1);
	ck_assert(d.defer && d.check_answer && d.source == 0);
	pa.dnssec_data = true;
	ck_assert_int_eq(vg_policy_check_response(p, &pa, &d), 0);
	ck_assert(!d.rewrite && d.kept_dnssec);
	ck_assert_int_eq(vg_policy_check_flags(p, client(), NULL, x, true, true, &d), 1);
	pa.dnssec_data = false;
	ck_assert_int_eq(vg_policy_check_response(p, &pa, &d), 1);
	ck_assert(d.rewrite && d.source == 0 && d.action == VG_ACT_NXDOMAIN);
	ck_assert_int_eq(vg_policy_check_flags(p, client(), NULL, pn, true, true, &d), 0);
	ck_assert(d.matched && d.source == 0 && d.action == VG_ACT_PASSTHRU && !d.defer);
	/* DO=0: decided at once, whatever break-dnssec says */
	ck_assert_int_eq(vg_policy_check_flags(p, client(), NULL, x, true, false, &d), 1);
	ck_assert(!d.defer && d.source == 0);
	pol_del(p);
}
END_TEST

/* A rewrite waits for the answer only when an earlier source's answer-side
 * rules could let the name through, or with qname-wait-recurse. */
START_TEST(qname_wait_recurse)
{
	struct vg_pol_rule blk[] = { ipa(VG_TRIG_RESP_IP, "10.99.99.99", 32, VG_ACT_NODATA, 1) };
	struct vg_pol_rule pass[] = { ipa(VG_TRIG_RESP_IP, "10.99.99.99", 32, VG_ACT_PASSTHRU, 1) };
	struct vg_pol_rule q[] = { qname("x.test.", false, VG_ACT_NXDOMAIN, 2),
				   qname("y.test.", false, VG_ACT_PASSTHRU, 3) };
	struct vg_policy_decision d;
	uint8_t x[VG_NAME_MAX], y[VG_NAME_MAX];
	wname("x.test.", x);
	wname("y.test.", y);
	struct vg_pol_source_rules s1[] = { { blk, 1 }, { q, 2 } };
	struct vg_policy *p = pol_new(s1, 2);
	ck_assert_int_eq(vg_policy_check(p, client(), x, &d), 1);
	ck_assert(!d.defer && !d.check_answer); /* decided: never sent upstream */
	ck_assert_int_eq(vg_policy_check(p, client(), y, &d), 0);
	ck_assert(d.defer); /* a pass still waits: the earlier block may apply */
	p->qname_wait_recurse = true;
	ck_assert_int_eq(vg_policy_check(p, client(), x, &d), 1);
	ck_assert(d.defer && d.check_answer);
	pol_del(p);
	struct vg_pol_source_rules s2[] = { { pass, 1 }, { q, 2 } };
	p = pol_new(s2, 2);
	ck_assert_int_eq(vg_policy_check(p, client(), x, &d), 1);
	ck_assert(d.defer); /* the earlier PASSTHRU could let it through */
	pol_del(p);
}
END_TEST

/* The CNAME chain (RPZ.md 2.4 rule 1): an earlier stage beats a later one
 * whatever the zone order; one rule for the whole chain, PASSTHRU included. */
START_TEST(chain_stages)
{
	struct vg_cache *c = vg_cache_new(1 << 20);
	cache_ns(c, "c.test.", "ns.bad.example.");
	struct answer a;
	struct vg_policy_decision d;
	struct vg_rrset *chain[8];
	struct vg_pol_rule z0[] = { qname("c.test.", false, VG_ACT_NXDOMAIN, 1) };
	struct vg_pol_rule z1[] = { qname("b.test.", false, VG_ACT_NODATA, 2) };
	/* zone 1 matches stage 1 (b), zone 0 stage 2 (c): stage 1 wins */
	struct vg_pol_source_rules s1[] = { { z0, 1 }, { z1, 1 } };
	struct vg_policy *p = pol_new(s1, 2);
	answer(&a, c, VG_T_A, "a.test. b.test. c.test.", "192.0.2.33");
	ck_assert_int_eq(vg_policy_check(p, client(), a.qname, &d), 0);
	ck_assert(d.check_answer && !d.defer);
	ck_assert_int_eq(vg_policy_check_response(p, &a.pa, &d), 1);
	ck_assert_uint_eq(d.stage, 1);
	ck_assert_uint_eq(d.source, 1);
	ck_assert_int_eq(d.action, VG_ACT_NODATA);
	ck_assert(vg_name_eq(d.stage_name, a.b[1].owner));
	describe_is(p, &d, a.qname, "vigil: s1 rule b.test");
	/* the answer keeps the CNAMEs up to the rewritten name */
	ck_assert_uint_eq(vg_policy_chain(a.qname, a.ans, a.n, 1, chain, 8), 1);
	ck_assert_ptr_eq(chain[0], a.ans[0]);
	ck_assert_uint_eq(vg_policy_chain(a.qname, a.ans, a.n, 2, chain, 8), 2);
	pol_del(p);
	/* only zone 0: stage 2 */
	p = pol_new(s1, 1);
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_uint_eq(d.stage, 2);
	describe_is(p, &d, a.qname, "vigil: s0 rule c.test");
	/* QTYPE CNAME: no chain, nothing */
	answer(&a, c, VG_T_CNAME, "a.test. b.test.", NULL);
	ck_assert_int_eq(decide_all(p, &a, &d), 0);
	ck_assert(!d.matched);
	pol_del(p);
	/* PASSTHRU at stage 1 stops the block at stage 2 (same zone, or later zones) */
	struct vg_pol_rule z2[] = { qname("b.test.", false, VG_ACT_PASSTHRU, 3),
				    qname("c.test.", false, VG_ACT_NXDOMAIN, 4) };
	struct vg_pol_source_rules s2[] = { { z2, 2 } };
	p = pol_new(s2, 1);
	answer(&a, c, VG_T_A, "a.test. b.test. c.test.", "192.0.2.33");
	ck_assert_int_eq(decide_all(p, &a, &d), 0);
	ck_assert(d.matched);
	ck_assert_uint_eq(d.stage, 1);
	ck_assert_int_eq(d.action, VG_ACT_PASSTHRU);
	pol_del(p);
	struct vg_pol_rule z3[] = { qname("b.test.", false, VG_ACT_PASSTHRU, 5) };
	struct vg_pol_source_rules s3[] = { { z3, 1 }, { z0, 1 } };
	p = pol_new(s3, 2);
	ck_assert_int_eq(decide_all(p, &a, &d), 0);
	ck_assert_uint_eq(d.stage, 1);
	pol_del(p);
	/* PASSTHRU at stage 0 (before resolution): later stages are not looked at */
	struct vg_pol_rule z4[] = { qname("a.test.", false, VG_ACT_PASSTHRU, 6),
				    qname("c.test.", false, VG_ACT_NXDOMAIN, 7) };
	struct vg_pol_source_rules s4[] = { { z4, 2 } };
	p = pol_new(s4, 1);
	ck_assert_int_eq(vg_policy_check(p, client(), a.qname, &d), 0);
	ck_assert(!d.check_answer);
	ck_assert_int_eq(vg_policy_check_response(p, &a.pa, &d), 0);
	pol_del(p);
	/* a later zone's QNAME rule at stage 1 beats an earlier zone's
	 * RESPONSE-IP rule on the address of the last stage */
	struct vg_pol_rule z5[] = { ipa(VG_TRIG_RESP_IP, "192.0.2.33", 32, VG_ACT_DROP, 8) };
	struct vg_pol_source_rules s5[] = { { z5, 1 }, { z1, 1 } };
	p = pol_new(s5, 2);
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_int_eq(d.trigger, VG_TRIG_QNAME);
	ck_assert_uint_eq(d.stage, 1);
	pol_del(p);
	/* ... and without it the RESPONSE-IP rule matches at the last stage */
	p = pol_new(s5, 1);
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_int_eq(d.trigger, VG_TRIG_RESP_IP);
	ck_assert_uint_eq(d.stage, 2);
	pol_del(p);
	/* NSDNAME at a later stage: c.test's name server */
	struct vg_pol_rule z6[] = { nsdname("ns.bad.example.", false, VG_ACT_NXDOMAIN, 9) };
	struct vg_pol_source_rules s6[] = { { z6, 1 } };
	p = pol_new(s6, 1);
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_int_eq(d.trigger, VG_TRIG_NSDNAME);
	ck_assert_uint_eq(d.stage, 2);
	ck_assert(vg_name_eq(d.stage_name, a.b[2].owner));
	describe_is(p, &d, a.qname, "vigil: s0 rule nsdname ns.bad.example");
	/* the client's group has no rule for any stage: nothing to check */
	pol_del(p);
	struct vg_pol_source_rules none[] = { { NULL, 0 } };
	p = pol_new(none, 1);
	ck_assert_int_eq(vg_policy_check(p, client(), a.qname, &d), 0);
	ck_assert(!d.check_answer);
	pol_del(p);
	vg_cache_free(c);
}
END_TEST


/* The action's name for the logs: a value past the table is "unknown", never
 * a read past it (ASan would see one). */
START_TEST(action_names_bounded)
{
	ck_assert_str_eq(vg_policy_action_name(VG_ACT_NXDOMAIN), "nxdomain");
	ck_assert_str_eq(vg_policy_action_name(VG_ACT_NULL_ADDR), "null-address");
	ck_assert_str_eq(vg_policy_action_name((enum vg_pol_action)(VG_ACT_NULL_ADDR + 1)),
			 "unknown");
	ck_assert_str_eq(vg_policy_action_name((enum vg_pol_action)1000), "unknown");
	ck_assert_str_eq(vg_policy_action_name((enum vg_pol_action)-1), "unknown");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy_engine");
	TCase *te = tcase_create("engine");
	tcase_add_test(te, nsdname_exact_wildcard_and_name_order);
	tcase_add_test(te, nsip_prefix_then_address);
	tcase_add_test(te, describe_masks_the_address_to_the_prefix);
	tcase_add_test(te, trigger_order_within_a_zone);
	tcase_add_test(te, zone_order_across_sources);
	tcase_add_test(te, chain_stages);
	tcase_add_test(te, overrides_and_query_flags);
	tcase_add_test(te, qname_wait_recurse);
	tcase_add_test(te, action_names_bounded);
	suite_add_tcase(s, te);
	return vg_test_run(s);
}
