/* SPDX-License-Identifier: MIT
 *
 * The compiled policy snapshot: name triggers (exact, wildcard, longest
 * wildcard, case), address triggers (longest prefix, IPv4 and IPv6 in one
 * space), duplicates, source isolation, and the memory a million QNAME rules
 * take (issue 4: under 64 bytes a rule).  No timings are asserted.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "check_main.h"
#include "policy/snapshot.h"

static struct vg_pol_rule qname(const char *n, bool wild, enum vg_pol_action a, unsigned line)
{
	struct vg_pol_rule r;
	memset(&r, 0, sizeof(r));
	r.trigger = VG_TRIG_QNAME;
	r.wildcard = wild;
	ck_assert_int_gt(vg_name_from_str(n, r.name, sizeof(r.name)), 0);
	r.action = a;
	r.line = line;
	return r;
}

static struct vg_pol_rule ip(enum vg_pol_trigger t, const char *a, unsigned bits, unsigned line)
{
	struct vg_pol_rule r;
	memset(&r, 0, sizeof(r));
	r.trigger = t;
	r.line = line;
	r.action = VG_ACT_NXDOMAIN;
	if (strchr(a, ':')) {
		ck_assert_int_eq(inet_pton(AF_INET6, a, r.prefix.addr), 1);
		r.prefix.bits = (uint8_t)bits;
	} else {
		uint8_t v4[4];
		ck_assert_int_eq(inet_pton(AF_INET, a, v4), 1);
		vg_pol_addr_v4(v4, r.prefix.addr);
		r.prefix.bits = (uint8_t)(bits + 96);
		r.prefix.v4 = true;
	}
	return r;
}

static int match(const struct vg_pol_snapshot *s, unsigned src, const char *n,
		 struct vg_pol_hit *h)
{
	uint8_t name[VG_NAME_MAX];
	ck_assert_int_gt(vg_name_from_str(n, name, sizeof(name)), 0);
	return vg_pol_match_name(s, src, VG_TRIG_QNAME, name, h);
}

START_TEST(names_exact_wildcard_longest)
{
	struct vg_pol_rule r[] = {
		qname("bad.example.", false, VG_ACT_NXDOMAIN, 1),
		qname("example.", true, VG_ACT_NODATA, 2),       /* *.example. */
		qname("deep.bad.example.", true, VG_ACT_DROP, 3), /* *.deep.bad.example. */
		qname("Mixed.Example.", false, VG_ACT_PASSTHRU, 4),
	};
	struct vg_pol_source_rules src = { r, 4 };
	struct vg_pol_snapshot *s;
	struct vg_pol_hit h;
	ck_assert_int_eq(vg_pol_build(&s, &src, 1, NULL), 0);
	ck_assert_uint_eq(vg_pol_rule_count(s, 0), 4);
	/* exact */
	ck_assert_int_eq(match(s, 0, "bad.example.", &h), 0);
	ck_assert_uint_eq(h.rule->line, 1);
	ck_assert(!h.rule->wildcard);
	/* a wildcard matches below its owner, not at it */
	ck_assert_int_eq(match(s, 0, "example.", &h), VG_ENOTFOUND);
	ck_assert_int_eq(match(s, 0, "www.example.", &h), 0);
	ck_assert_uint_eq(h.rule->line, 2);
	ck_assert_uint_eq(h.labels, 2);
	/* exact beats wildcard */
	ck_assert_int_eq(match(s, 0, "bad.example.", &h), 0);
	ck_assert_uint_eq(h.rule->action, VG_ACT_NXDOMAIN);
	/* the longer wildcard wins */
	ck_assert_int_eq(match(s, 0, "a.b.deep.bad.example.", &h), 0);
	ck_assert_uint_eq(h.rule->line, 3);
	ck_assert_uint_eq(h.labels, 4);
	ck_assert_int_eq(match(s, 0, "x.bad.example.", &h), 0);
	ck_assert_uint_eq(h.rule->line, 2);
	/* case does not matter, on either side */
	ck_assert_int_eq(match(s, 0, "MIXED.example.", &h), 0);
	ck_assert_uint_eq(h.rule->line, 4);
	ck_assert_int_eq(match(s, 0, "BAD.EXAMPLE.", &h), 0);
	ck_assert_uint_eq(h.rule->line, 1);
	/* other names and other triggers */
	ck_assert_int_eq(match(s, 0, "example.org.", &h), VG_ENOTFOUND);
	uint8_t n[VG_NAME_MAX];
	vg_name_from_str("bad.example.", n, sizeof(n));
	ck_assert_int_eq(vg_pol_match_name(s, 0, VG_TRIG_NSDNAME, n, &h), VG_ENOTFOUND);
	ck_assert_int_eq(match(s, 1, "bad.example.", &h), VG_ENOTFOUND); /* no such source */
	vg_pol_free(s);
}
END_TEST

static unsigned dups;
static void on_dup(void *arg, const struct vg_pol_rule *r)
{
	(void)arg;
	ck_assert_uint_eq(r->line, 2);
	dups++;
}

START_TEST(duplicates_keep_the_first_and_sources_are_separate)
{
	struct vg_pol_rule a[] = {
		qname("x.test.", false, VG_ACT_NXDOMAIN, 1),
		qname("X.Test.", false, VG_ACT_DROP, 2), /* same key: dropped */
		qname("x.test.", true, VG_ACT_DROP, 3),  /* wildcard: another key */
	};
	struct vg_pol_rule b[] = { qname("y.test.", false, VG_ACT_PASSTHRU, 7) };
	struct vg_pol_source_rules src[2] = { { a, 3 }, { b, 1 } };
	struct vg_pol_dup_cb cb = { on_dup, NULL };
	struct vg_pol_snapshot *s;
	struct vg_pol_hit h;
	dups = 0;
	ck_assert_int_eq(vg_pol_build(&s, src, 2, &cb), 0);
	ck_assert_uint_eq(dups, 1);
	ck_assert_uint_eq(vg_pol_rule_count(s, 0), 2);
	ck_assert_int_eq(match(s, 0, "x.test.", &h), 0);
	ck_assert_uint_eq(h.rule->action, VG_ACT_NXDOMAIN);
	ck_assert_int_eq(match(s, 0, "a.x.test.", &h), 0);
	ck_assert_uint_eq(h.rule->line, 3);
	ck_assert_int_eq(match(s, 0, "y.test.", &h), VG_ENOTFOUND);
	ck_assert_int_eq(match(s, 1, "y.test.", &h), 0);
	ck_assert_uint_eq(h.source, 1);
	ck_assert_int_eq(match(s, 1, "x.test.", &h), VG_ENOTFOUND);
	vg_pol_free(s);
}
END_TEST

static int match_ip(const struct vg_pol_snapshot *s, enum vg_pol_trigger t, const char *a,
		    struct vg_pol_hit *h)
{
	uint8_t addr[16];
	if (strchr(a, ':')) {
		ck_assert_int_eq(inet_pton(AF_INET6, a, addr), 1);
	} else {
		uint8_t v4[4];
		ck_assert_int_eq(inet_pton(AF_INET, a, v4), 1);
		vg_pol_addr_v4(v4, addr);
	}
	return vg_pol_match_ip(s, 0, t, addr, h);
}

START_TEST(addresses_longest_prefix)
{
	struct vg_pol_rule r[] = {
		ip(VG_TRIG_RESP_IP, "10.0.0.0", 8, 1),
		ip(VG_TRIG_RESP_IP, "10.1.0.0", 16, 2),
		ip(VG_TRIG_RESP_IP, "10.1.2.3", 32, 3),
		ip(VG_TRIG_RESP_IP, "2001:db8::", 32, 4),
		ip(VG_TRIG_RESP_IP, "2001:db8::1", 128, 5),
		ip(VG_TRIG_CLIENT_IP, "192.0.2.0", 24, 6),
		ip(VG_TRIG_NSIP, "198.51.100.53", 32, 7),
	};
	struct vg_pol_source_rules src = { r, sizeof(r) / sizeof(r[0]) };
	struct vg_pol_snapshot *s;
	struct vg_pol_hit h;
	ck_assert_int_eq(vg_pol_build(&s, &src, 1, NULL), 0);
	ck_assert_int_eq(match_ip(s, VG_TRIG_RESP_IP, "10.9.9.9", &h), 0);
	ck_assert_uint_eq(h.rule->line, 1);
	ck_assert_uint_eq(h.bits, 8 + 96);
	ck_assert_int_eq(match_ip(s, VG_TRIG_RESP_IP, "10.1.9.9", &h), 0);
	ck_assert_uint_eq(h.rule->line, 2);
	ck_assert_int_eq(match_ip(s, VG_TRIG_RESP_IP, "10.1.2.3", &h), 0);
	ck_assert_uint_eq(h.rule->line, 3);
	ck_assert_uint_eq(h.bits, 128);
	ck_assert_int_eq(match_ip(s, VG_TRIG_RESP_IP, "11.0.0.1", &h), VG_ENOTFOUND);
	ck_assert_int_eq(match_ip(s, VG_TRIG_RESP_IP, "2001:db8:1::5", &h), 0);
	ck_assert_uint_eq(h.rule->line, 4);
	ck_assert_int_eq(match_ip(s, VG_TRIG_RESP_IP, "2001:db8::1", &h), 0);
	ck_assert_uint_eq(h.rule->line, 5);
	ck_assert_int_eq(match_ip(s, VG_TRIG_RESP_IP, "2001:db9::1", &h), VG_ENOTFOUND);
	/* an IPv6 address with the same low bits is not the IPv4 one */
	ck_assert_int_eq(match_ip(s, VG_TRIG_RESP_IP, "::ffff:10.1.2.3", &h), VG_ENOTFOUND);
	/* each trigger has its own trie */
	ck_assert_int_eq(match_ip(s, VG_TRIG_CLIENT_IP, "192.0.2.77", &h), 0);
	ck_assert_uint_eq(h.rule->line, 6);
	ck_assert_int_eq(match_ip(s, VG_TRIG_RESP_IP, "192.0.2.77", &h), VG_ENOTFOUND);
	ck_assert_int_eq(match_ip(s, VG_TRIG_NSIP, "198.51.100.53", &h), 0);
	ck_assert_int_eq(match_ip(s, VG_TRIG_NSIP, "198.51.100.54", &h), VG_ENOTFOUND);
	vg_pol_free(s);
}
END_TEST

/* A million QNAME rules fit in under 64 bytes each, and still match. */
START_TEST(million_rules_memory)
{
	enum { N = 1000000 };
	struct vg_pol_rule *r = malloc(N * sizeof(*r));
	ck_assert_ptr_nonnull(r);
	size_t name_bytes = 0;
	for (unsigned i = 0; i < N; i++) {
		char n[64];
		snprintf(n, sizeof(n), "h%u.blocked-%u.example.", i, i % 977);
		memset(&r[i], 0, sizeof(r[i]));
		r[i].trigger = VG_TRIG_QNAME;
		r[i].action = VG_ACT_NXDOMAIN;
		r[i].line = i + 1;
		ck_assert_int_gt(vg_name_from_str(n, r[i].name, sizeof(r[i].name)), 0);
		name_bytes += vg_name_len(r[i].name);
	}
	struct vg_pol_source_rules src = { r, N };
	struct vg_pol_snapshot *s;
	ck_assert_int_eq(vg_pol_build(&s, &src, 1, NULL), 0);
	size_t mem = vg_pol_memory(s);
	double per = (double)mem / N;
	fprintf(stderr, "# %u rules: %zu bytes, %.1f per rule (names average %.1f)\n", N, mem, per,
		(double)name_bytes / N);
	ck_assert_msg(per < 64.0, "%.1f bytes per rule", per);
	struct vg_pol_hit h;
	char n[64];
	snprintf(n, sizeof(n), "h123456.blocked-%u.example.", 123456u % 977);
	ck_assert_int_eq(match(s, 0, n, &h), 0);
	ck_assert_uint_eq(h.rule->line, 123457);
	snprintf(n, sizeof(n), "h123456.blocked-%u.example.", 123456u % 977 + 1);
	ck_assert_int_eq(match(s, 0, n, &h), VG_ENOTFOUND);
	for (unsigned i = 0; i < N; i += 99991) { /* a sample of all of them */
		snprintf(n, sizeof(n), "H%u.Blocked-%u.example.", i, i % 977);
		ck_assert_int_eq(match(s, 0, n, &h), 0);
		ck_assert_uint_eq(h.rule->line, i + 1);
	}
	vg_pol_free(s);
	free(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("snapshot");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, names_exact_wildcard_longest);
	tcase_add_test(tc, duplicates_keep_the_first_and_sources_are_separate);
	tcase_add_test(tc, addresses_longest_prefix);
	tcase_add_test(tc, million_rules_memory);
	suite_add_tcase(s, tc);
	return vg_test_run(s);
}
