/* SPDX-License-Identifier: MIT
 *
 * Rules made by hand for the policy suites (test_policy.c,
 * test_policy_engine.c): a QNAME rule and an address rule.
 */
#ifndef VG_TEST_POLICY_RULES_H
#define VG_TEST_POLICY_RULES_H

#include <arpa/inet.h>
#include <check.h>
#include <string.h>

#include "policy/snapshot.h"

static inline struct vg_pol_rule qname(const char *n, bool wild, enum vg_pol_action a, unsigned line)
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

static inline struct vg_pol_rule ip(enum vg_pol_trigger t, const char *a, unsigned bits, unsigned line)
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

#endif
