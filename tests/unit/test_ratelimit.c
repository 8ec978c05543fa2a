/* SPDX-License-Identifier: MIT
 *
 * src/pipeline/ratelimit.c on a fake clock: the burst, the refill rate,
 * the slip (every slip-th limited query TC, the others dropped), prefixes
 * sharing a bucket, exempt clients, clocks that differ between workers.
 */
#include <arpa/inet.h>
#include <check.h>
#include <string.h>

#include "check_main.h"
#include "pipeline/ratelimit.h"

static struct sockaddr_storage addr(const char *s)
{
	struct sockaddr_storage ss;
	struct vg_sockaddr a;
	memset(&ss, 0, sizeof(ss));
	ck_assert_int_eq(vg_sockaddr_parse(s, 53, &a), 0);
	memcpy(&ss, &a.u, a.len);
	return ss;
}

static struct vg_rl_opts opts(unsigned qps, unsigned burst, unsigned slip)
{
	struct vg_rl_opts o = { .qps = qps, .burst = burst, .slip = slip, .v4_prefix = 32,
				.v6_prefix = 56 };
	return o;
}

static unsigned passes(struct vg_ratelimit *rl, const struct vg_rl_opts *o, const char *a,
		       unsigned n, uint64_t now, unsigned *slip, unsigned *slipped)
{
	struct sockaddr_storage ss = addr(a);
	unsigned ok = 0;
	for (unsigned i = 0; i < n; i++) {
		enum vg_rl_verdict v = vg_rl_check(rl, o, (struct sockaddr *)&ss, now, slip);
		ok += v == VG_RL_PASS;
		if (slipped)
			*slipped += v == VG_RL_SLIP;
	}
	return ok;
}

START_TEST(burst_then_rate)
{
	struct vg_ratelimit *rl = vg_rl_new(1024);
	struct vg_rl_opts o = opts(100, 50, 2);
	unsigned slip = 0, slipped = 0;
	/* a fresh client has the whole burst */
	ck_assert_uint_eq(passes(rl, &o, "192.0.2.1", 80, 1000, &slip, &slipped), 50);
	/* 30 limited: every 2nd one TC */
	ck_assert_uint_eq(slipped, 15);
	/* 100 ms later: 10 more tokens */
	ck_assert_uint_eq(passes(rl, &o, "192.0.2.1", 20, 1100, &slip, NULL), 10);
	/* a second later: the burst again, not more */
	ck_assert_uint_eq(passes(rl, &o, "192.0.2.1", 80, 2100, &slip, NULL), 50);
	/* another client is not affected */
	ck_assert_uint_eq(passes(rl, &o, "192.0.2.2", 10, 2100, &slip, NULL), 10);
	vg_rl_free(rl);
}
END_TEST

START_TEST(slip_settings)
{
	struct vg_ratelimit *rl = vg_rl_new(1024);
	unsigned slip = 0, slipped = 0;
	struct vg_rl_opts o = opts(1, 1, 0); /* never TC */
	passes(rl, &o, "192.0.2.3", 11, 5000, &slip, &slipped);
	ck_assert_uint_eq(slipped, 0);
	o = opts(1, 1, 1); /* always TC */
	slipped = 0;
	passes(rl, &o, "192.0.2.4", 11, 5000, &slip, &slipped);
	ck_assert_uint_eq(slipped, 10);
	vg_rl_free(rl);
}
END_TEST

START_TEST(prefixes_and_exempt)
{
	struct vg_ratelimit *rl = vg_rl_new(1024);
	struct vg_rl_opts o = opts(10, 10, 2);
	unsigned slip = 0;
	/* IPv6: one /56 is one client */
	ck_assert_uint_eq(passes(rl, &o, "2001:db8:0:1::1", 6, 0, &slip, NULL), 6);
	ck_assert_uint_eq(passes(rl, &o, "2001:db8:0:2::1", 6, 0, &slip, NULL), 4);
	/* IPv4 with a /24 */
	o.v4_prefix = 24;
	ck_assert_uint_eq(passes(rl, &o, "198.51.100.1", 6, 0, &slip, NULL), 6);
	ck_assert_uint_eq(passes(rl, &o, "198.51.100.200", 6, 0, &slip, NULL), 4);
	/* exempt clients are never limited; qps 0 limits no one */
	ck_assert_int_eq(vg_prefix_parse("203.0.113.0/24", &o.exempt[0]), 0);
	o.n_exempt = 1;
	ck_assert_uint_eq(passes(rl, &o, "203.0.113.9", 100, 0, &slip, NULL), 100);
	o = opts(0, 1, 2);
	ck_assert_uint_eq(passes(rl, &o, "192.0.2.9", 100, 0, &slip, NULL), 100);
	/* no table: no limit */
	o = opts(1, 1, 2);
	ck_assert_uint_eq(passes(NULL, &o, "192.0.2.9", 10, 0, &slip, NULL), 10);
	vg_rl_free(rl);
}
END_TEST

START_TEST(clocks_out_of_order)
{
	/* two workers' clocks a few milliseconds apart: an older "now" after a
	 * newer one refills nothing and does not give the burst back */
	struct vg_ratelimit *rl = vg_rl_new(1024);
	struct vg_rl_opts o = opts(10, 5, 2);
	unsigned slip = 0;
	ck_assert_uint_eq(passes(rl, &o, "192.0.2.5", 10, 100000, &slip, NULL), 5);
	ck_assert_uint_eq(passes(rl, &o, "192.0.2.5", 10, 99995, &slip, NULL), 0);
	ck_assert_uint_eq(passes(rl, &o, "192.0.2.5", 10, 100000, &slip, NULL), 0);
	ck_assert_uint_eq(passes(rl, &o, "192.0.2.5", 10, 100100, &slip, NULL), 1);
	/* the 32-bit millisecond clock wrapping */
	ck_assert_uint_eq(passes(rl, &o, "192.0.2.6", 10, 0xfffffff0ull, &slip, NULL), 5);
	ck_assert_uint_eq(passes(rl, &o, "192.0.2.6", 10, 0x100000064ull, &slip, NULL), 1);
	ck_assert_ptr_null(vg_rl_new(1000)); /* not a power of two */
	vg_rl_free(rl);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("ratelimit");
	tcase_add_test(tc, burst_then_rate);
	tcase_add_test(tc, slip_settings);
	tcase_add_test(tc, prefixes_and_exempt);
	tcase_add_test(tc, clocks_out_of_order);
	suite_add_tcase(s, tc);
	return vg_test_run(s);
}
