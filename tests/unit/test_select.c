/* SPDX-License-Identifier: MIT
 *
 * Unit tests for src/upstream/select.c (the infra table): RTT smoothing,
 * scores for unknown, failing and down servers, retransmission timeouts,
 * lameness per zone, address predicates, the bounded table under many
 * addresses, a server-selection scenario, and the client side of DNS
 * cookies (src/upstream/upcookie.c and the servers' cookie state).
 *
 * Clocks are explicit milliseconds; nothing here reads the time.
 */
#include <check.h>

#include "check_main.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "upstream/upstream.h"
#include "vigil/wire.h"

#define UNKNOWN 400 /* the default upstream-timeout, what iterate.c passes */
#define DOWN 100000 /* "a large penalty": anything at least this is down */

static struct vg_sockaddr sa(const char *ip, uint16_t port)
{
	struct vg_sockaddr s;
	memset(&s, 0, sizeof(s));
	if (strchr(ip, ':')) {
		s.u.in6.sin6_family = AF_INET6;
		s.u.in6.sin6_port = htons(port);
		ck_assert_int_eq(inet_pton(AF_INET6, ip, &s.u.in6.sin6_addr), 1);
		s.len = sizeof(s.u.in6);
	} else {
		s.u.in4.sin_family = AF_INET;
		s.u.in4.sin_port = htons(port);
		ck_assert_int_eq(inet_pton(AF_INET, ip, &s.u.in4.sin_addr), 1);
		s.len = sizeof(s.u.in4);
	}
	return s;
}

static struct vg_infra *I;

static void setup(void)
{
	I = vg_infra_new(64);
	ck_assert_ptr_nonnull(I);
}

static void teardown(void)
{
	vg_infra_free(I);
	I = NULL;
}

/* ------------------------------------------------------------ rtt and score */

START_TEST(rtt_smoothing)
{
	struct vg_sockaddr a = sa("192.0.2.1", 53);
	ck_assert_uint_eq(vg_infra_score(I, &a, 0, UNKNOWN), UNKNOWN);
	ck_assert_uint_eq(vg_infra_score(I, &a, 0, 123), 123);
	vg_infra_rtt(I, &a, 100, 10);
	ck_assert_uint_eq(vg_infra_score(I, &a, 10, UNKNOWN), 100); /* first sample */
	vg_infra_rtt(I, &a, 200, 20);
	ck_assert_uint_eq(vg_infra_score(I, &a, 20, UNKNOWN), 112); /* 100 + 100/8 */
	vg_infra_rtt(I, &a, 16, 30);
	ck_assert_uint_eq(vg_infra_score(I, &a, 30, UNKNOWN), 100); /* 112 - 96/8 */
	for (int i = 0; i < 100; i++)
		vg_infra_rtt(I, &a, 20, 40 + (uint64_t)i);
	uint32_t s = vg_infra_score(I, &a, 200, UNKNOWN);
	ck_assert_uint_ge(s, 20);
	ck_assert_uint_le(s, 28); /* converges on the samples (integer rounding) */
	/* another port is another server */
	struct vg_sockaddr a2 = sa("192.0.2.1", 5353);
	ck_assert_uint_eq(vg_infra_score(I, &a2, 200, UNKNOWN), UNKNOWN);
	/* a 0 ms sample still counts as measured */
	struct vg_sockaddr b = sa("2001:db8::1", 53);
	vg_infra_rtt(I, &b, 0, 10);
	ck_assert_uint_lt(vg_infra_score(I, &b, 10, UNKNOWN), 5);
}
END_TEST

/* Queries sent side by side with one timer time out together: the server
 * backs off once, not once per query, and is not marked down; the retries,
 * sent with the longer timer, count again. */
START_TEST(timeouts_back_off_once_per_timer)
{
	struct vg_sockaddr a = sa("192.0.2.9", 53);
	const uint64_t t = 1000000;
	for (int i = 0; i < 50; i++)
		vg_infra_timed_out(I, &a, UNKNOWN, t + (uint64_t)i);
	ck_assert(!vg_infra_is_down(I, &a, t + 50));
	uint32_t rto = vg_infra_timeout(I, &a, t + 50, UNKNOWN);
	ck_assert_uint_eq(rto, 2 * UNKNOWN);
	for (int i = 0; i < 50; i++)
		vg_infra_timed_out(I, &a, rto, t + 900 + (uint64_t)i);
	ck_assert_uint_eq(vg_infra_timeout(I, &a, t + 950, UNKNOWN), 4 * UNKNOWN);
	ck_assert(!vg_infra_is_down(I, &a, t + 950));
	/* a late answer measures it: the back-off is over */
	vg_infra_rtt(I, &a, 500, t + 1000);
	ck_assert_uint_ge(vg_infra_timeout(I, &a, t + 1000, UNKNOWN), 500);
	ck_assert(!vg_infra_is_failing(I, &a, t + 1000));
	/* a server that never answers still goes down, timer after timer */
	struct vg_sockaddr b = sa("192.0.2.10", 53);
	for (int i = 0; i < 4; i++)
		vg_infra_timed_out(I, &b, vg_infra_timeout(I, &b, t, UNKNOWN), t);
	ck_assert(vg_infra_is_down(I, &b, t));
}
END_TEST

/* Unwanted replies from a server: past the threshold within the window it is
 * under attack (asked over TCP) for a while; 0 turns that off; scattered
 * ones never add up. */
START_TEST(spoofed_server_goes_tcp)
{
	struct vg_sockaddr a = sa("192.0.2.11", 53), b = sa("192.0.2.12", 53);
	const uint64_t t = 1000000;
	for (int i = 0; i < 9; i++)
		ck_assert(!vg_infra_unwanted(I, &a, 10, t + (uint64_t)i));
	ck_assert(!vg_infra_is_spoofed(I, &a, t + 9));
	ck_assert(vg_infra_unwanted(I, &a, 10, t + 9)); /* the tenth: under attack */
	ck_assert(!vg_infra_unwanted(I, &a, 10, t + 10)); /* not again */
	ck_assert(vg_infra_is_spoofed(I, &a, t + 10));
	ck_assert(vg_infra_is_spoofed(I, &a, t + 10 + VG_INFRA_SPOOF_TCP_MS - 1));
	ck_assert(!vg_infra_is_spoofed(I, &a, t + 10 + VG_INFRA_SPOOF_TCP_MS));
	for (int i = 0; i < 100; i++) /* one per window */
		ck_assert(!vg_infra_unwanted(I, &b, 10, t + (uint64_t)i * VG_INFRA_SPOOF_WINDOW_MS));
	for (int i = 0; i < 100; i++) /* off */
		ck_assert(!vg_infra_unwanted(I, &b, 0, t));
	ck_assert(!vg_infra_is_spoofed(I, &b, t));
}
END_TEST

START_TEST(failures_double_then_down)
{
	struct vg_sockaddr a = sa("192.0.2.2", 53);
	const uint64_t t = 1000000;
	vg_infra_rtt(I, &a, 100, t);
	/* a failure costs at least a full timeout: scored from unknown_ms, doubled */
	vg_infra_failed(I, &a, t + 1);
	ck_assert_uint_eq(vg_infra_score(I, &a, t + 1, UNKNOWN), 2 * UNKNOWN);
	vg_infra_failed(I, &a, t + 2);
	ck_assert_uint_eq(vg_infra_score(I, &a, t + 2, UNKNOWN), 4 * UNKNOWN);
	vg_infra_failed(I, &a, t + 3);
	ck_assert_uint_eq(vg_infra_score(I, &a, t + 3, UNKNOWN), 8 * UNKNOWN);
	ck_assert(!vg_infra_is_down(I, &a, t + 3));
	vg_infra_failed(I, &a, t + 4); /* the fourth in a row: down */
	ck_assert(vg_infra_is_down(I, &a, t + 4));
	ck_assert_uint_ge(vg_infra_score(I, &a, t + 4, UNKNOWN), DOWN + 16 * UNKNOWN);
	/* one good answer clears it all */
	vg_infra_rtt(I, &a, 50, t + 5);
	ck_assert(!vg_infra_is_down(I, &a, t + 5));
	ck_assert_uint_eq(vg_infra_score(I, &a, t + 5, UNKNOWN), 93); /* (700 + 50) / 8 */
	ck_assert_uint_le(vg_infra_timeout(I, &a, t + 5, UNKNOWN), 3000);

	/* an unmeasured server that fails is scored from unknown_ms */
	struct vg_sockaddr b = sa("192.0.2.3", 53);
	vg_infra_failed(I, &b, t);
	ck_assert_uint_eq(vg_infra_score(I, &b, t, UNKNOWN), 2 * UNKNOWN);
	for (int i = 0; i < 20; i++)
		vg_infra_failed(I, &b, t);
	ck_assert_uint_ge(vg_infra_score(I, &b, t, UNKNOWN), DOWN); /* no overflow wrap */
	/* "down" lasts a while, then only the back-off remains */
	ck_assert_uint_ge(vg_infra_score(I, &b, t + 30 * 1000, UNKNOWN), DOWN);
	ck_assert(vg_infra_is_down(I, &b, t + 30 * 1000));
	ck_assert(!vg_infra_is_down(I, &b, t + 61 * 1000));
	uint32_t later = vg_infra_score(I, &b, t + 10 * 60 * 1000, UNKNOWN);
	ck_assert_uint_lt(later, 2 * DOWN);
	ck_assert_uint_gt(later, UNKNOWN);
}
END_TEST

START_TEST(timeout_bounds)
{
	struct vg_sockaddr a = sa("198.51.100.1", 53);
	/* unknown server: unknown_ms, clamped to [50, 3000] */
	ck_assert_uint_eq(vg_infra_timeout(I, &a, 0, UNKNOWN), UNKNOWN);
	ck_assert_uint_eq(vg_infra_timeout(I, &a, 0, 10), 50);
	ck_assert_uint_eq(vg_infra_timeout(I, &a, 0, 0), 50);
	ck_assert_uint_eq(vg_infra_timeout(I, &a, 0, 10000), 3000);
	/* fast server: srtt 5 + 4 * rttvar 2 = 13, raised to the 50 ms floor */
	vg_infra_rtt(I, &a, 5, 1);
	ck_assert_uint_eq(vg_infra_timeout(I, &a, 1, UNKNOWN), 50);
	/* back-off doubles per consecutive failure */
	for (int i = 1; i <= 3; i++) {
		vg_infra_failed(I, &a, 1 + (uint64_t)i);
		ck_assert_uint_eq(vg_infra_timeout(I, &a, 1 + (uint64_t)i, UNKNOWN), 50u << i);
	}
	/* once down, the next try is a probe: as long as for an unknown server
	 * (a fast server that stalled briefly must not stay unreachable) */
	vg_infra_failed(I, &a, 5);
	ck_assert(vg_infra_is_down(I, &a, 5));
	ck_assert_uint_eq(vg_infra_timeout(I, &a, 5, UNKNOWN), UNKNOWN);
	/* after the down period the back-off is back, capped at 3000 */
	for (int i = 0; i < 8; i++)
		vg_infra_failed(I, &a, 6);
	ck_assert(!vg_infra_is_down(I, &a, 6 + 61 * 1000));
	ck_assert_uint_eq(vg_infra_timeout(I, &a, 6 + 61 * 1000, UNKNOWN), 3000);
	/* slow, jittery server: rto from srtt + 4 rttvar */
	struct vg_sockaddr b = sa("198.51.100.2", 53);
	vg_infra_rtt(I, &b, 200, 1);
	ck_assert_uint_eq(vg_infra_timeout(I, &b, 1, UNKNOWN), 200 + 4 * 100);
	vg_infra_rtt(I, &b, 2000, 2); /* srtt 425, rttvar 525 */
	ck_assert_uint_eq(vg_infra_timeout(I, &b, 2, UNKNOWN), 425 + 4 * 525);
	for (int i = 0; i < 4; i++)
		vg_infra_failed(I, &b, 3);
	ck_assert_uint_eq(vg_infra_timeout(I, &b, 3, UNKNOWN), UNKNOWN); /* probe */
}
END_TEST

START_TEST(lame_per_zone)
{
	struct vg_sockaddr a = sa("203.0.113.5", 53), b = sa("203.0.113.6", 53);
	const uint8_t *com = (const uint8_t *)"\7example\3com";
	const uint64_t t = 5000;
	ck_assert(!vg_infra_is_lame(I, &a, com, t));
	vg_infra_lame(I, &a, com, t);
	ck_assert(vg_infra_is_lame(I, &a, com, t + 1));
	ck_assert(vg_infra_is_lame(I, &a, (const uint8_t *)"\7EXAMPLE\3Com", t + 1));
	ck_assert(!vg_infra_is_lame(I, &a, (const uint8_t *)"\7example\3org", t + 1));
	ck_assert(!vg_infra_is_lame(I, &a, (const uint8_t *)"\3www\7example\3com", t + 1));
	ck_assert(!vg_infra_is_lame(I, &a, (const uint8_t *)"", t + 1));
	ck_assert(!vg_infra_is_lame(I, &b, com, t + 1));
	/* marking in other case is the same zone; several zones coexist */
	vg_infra_lame(I, &a, (const uint8_t *)"\3NET", t + 2);
	ck_assert(vg_infra_is_lame(I, &a, (const uint8_t *)"\3net", t + 3));
	ck_assert(vg_infra_is_lame(I, &a, com, t + 3));
	/* lameness is not a failure: the score is untouched */
	ck_assert_uint_eq(vg_infra_score(I, &a, t + 3, UNKNOWN), UNKNOWN);
	/* and it expires (15 minutes) */
	ck_assert(vg_infra_is_lame(I, &a, com, t + 14 * 60 * 1000));
	ck_assert(!vg_infra_is_lame(I, &a, com, t + 16 * 60 * 1000));
}
END_TEST

/* ------------------------------------------------------------ addresses */

START_TEST(sockaddr_eq)
{
	struct vg_sockaddr a = sa("192.0.2.1", 53), a2 = sa("192.0.2.1", 53);
	struct vg_sockaddr p = sa("192.0.2.1", 54), o = sa("192.0.2.2", 53);
	struct vg_sockaddr s6 = sa("2001:db8::1", 53), s6b = sa("2001:db8::1", 53);
	struct vg_sockaddr s6p = sa("2001:db8::1", 853), s6o = sa("2001:db8::2", 53);
	struct vg_sockaddr m = sa("::ffff:192.0.2.1", 53), m2 = sa("::ffff:192.0.2.1", 53);
	ck_assert(vg_sockaddr_eq(&a, &a2));
	ck_assert(!vg_sockaddr_eq(&a, &p));
	ck_assert(!vg_sockaddr_eq(&a, &o));
	ck_assert(vg_sockaddr_eq(&s6, &s6b));
	ck_assert(!vg_sockaddr_eq(&s6, &s6p));
	ck_assert(!vg_sockaddr_eq(&s6, &s6o));
	ck_assert(!vg_sockaddr_eq(&a, &s6));
	ck_assert(vg_sockaddr_eq(&m, &m2));
	ck_assert(!vg_sockaddr_eq(&m, &s6));
	char buf[64];
	vg_sockaddr_str(&a, VG_ADDR_PORT, buf, sizeof(buf));
	ck_assert_str_eq(buf, "192.0.2.1@53");
	vg_sockaddr_str(&s6p, VG_ADDR_PORT, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2001:db8::1@853");
	vg_sockaddr_str(&m, VG_ADDR_PORT, buf, sizeof(buf));
	ck_assert_str_eq(buf, "::ffff:192.0.2.1@53");
	vg_sockaddr_str(&m, 0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "::ffff:192.0.2.1");
	/* the scope is part of a link-local address: one equality for every module */
	struct vg_sockaddr l1 = sa("fe80::1", 53), l2 = sa("fe80::1", 53);
	l1.u.in6.sin6_scope_id = 2;
	l2.u.in6.sin6_scope_id = 3;
	ck_assert(!vg_sockaddr_eq(&l1, &l2));
	ck_assert(!vg_sockaddr_eq_addr(&l1, &l2));
	l2.u.in6.sin6_scope_id = 2;
	ck_assert(vg_sockaddr_eq(&l1, &l2));
	vg_sockaddr_str(&l1, VG_ADDR_PORT, buf, sizeof(buf));
	ck_assert_str_eq(buf, "fe80::1%2@53");
	/* and what it prints, the config reads back */
	struct vg_sockaddr back;
	ck_assert_int_eq(vg_sockaddr_parse(buf, 1, &back), 0);
	ck_assert(vg_sockaddr_eq(&back, &l1));
	ck_assert(vg_sockaddr_eq_addr(&p, &a));
}
END_TEST

START_TEST(sockaddr_classes)
{
	static const struct {
		const char *ip;
		bool loop, priv;
	} cases[] = {
		{ "127.0.0.1", true, false },   { "127.255.1.2", true, false },
		{ "126.0.0.1", false, false },  { "128.0.0.1", false, false },
		{ "10.1.2.3", false, true },    { "11.0.0.1", false, false },
		{ "172.16.0.1", false, true },  { "172.31.255.255", false, true },
		{ "172.15.0.1", false, false }, { "172.32.0.1", false, false },
		{ "192.168.1.1", false, true }, { "192.169.0.1", false, false },
		{ "169.254.1.1", false, true }, { "100.64.0.1", false, true },
		{ "100.127.255.1", false, true }, { "100.128.0.1", false, false },
		{ "0.0.0.0", false, true },     { "8.8.8.8", false, false },
		{ "::1", true, false },         { "::2", false, false },
		{ "fc00::1", false, true },     { "fdff::1", false, true },
		{ "fe80::1", false, true },     { "febf::1", false, true },
		{ "fec0::1", false, false },    { "2001:db8::1", false, false },
		{ "::ffff:127.0.0.1", true, false }, { "::ffff:127.9.9.9", true, false },
		{ "::ffff:8.8.8.8", false, false },  { "::ffff:7f00:1", true, false },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vg_sockaddr s = sa(cases[i].ip, 53);
		ck_assert_msg(vg_sockaddr_is_loopback(&s) == cases[i].loop, "%s loopback",
			      cases[i].ip);
		ck_assert_msg(vg_sockaddr_is_private(&s) == cases[i].priv, "%s private",
			      cases[i].ip);
	}
}
END_TEST

/* A v4-mapped address must be classed like the IPv4 address it carries, as
 * is_loopback already does; otherwise an AAAA of ::ffff:10.0.0.1 gets past
 * allow-query-private=no in iterate.c addr_allowed(). */
START_TEST(sockaddr_mapped_private)
{
	static const char *const priv[] = {
		"::ffff:10.0.0.1", "::ffff:192.168.1.1", "::ffff:172.16.0.1", "::ffff:169.254.0.1",
	};
	for (unsigned i = 0; i < sizeof(priv) / sizeof(priv[0]); i++) {
		struct vg_sockaddr s = sa(priv[i], 53);
		struct vg_sockaddr v4 = sa(priv[i] + 7, 53);
		ck_assert(vg_sockaddr_is_private(&v4));
		ck_assert_msg(vg_sockaddr_is_private(&s), "%s is not classed private", priv[i]);
	}
}
END_TEST

/* ------------------------------------------------------------ table bound */

/* vigilctl upstreams: what a snapshot holds, newest first, at most cap */
START_TEST(snapshot_counts_and_order)
{
	struct vg_infra *inf = vg_infra_new(64);
	struct vg_sockaddr a = sa("192.0.2.1", 53), b = sa("2001:db8::2", 853);
	struct vg_sockaddr c = sa("192.0.2.3", 53);
	struct vg_infra_info out[4];
	vg_infra_rtt(inf, &a, 20, 1000);
	vg_infra_rtt(inf, &a, 20, 1100);
	vg_infra_timed_out(inf, &b, UNKNOWN, 1200);
	vg_infra_failed(inf, &b, 1300);
	vg_infra_rtt(inf, &c, 5, 1400);
	size_t n = vg_infra_snapshot(inf, out, 4, 1500, UNKNOWN);
	ck_assert_uint_eq(n, 3);
	/* newest first: c (1400), b (1300), a (1100) */
	ck_assert_uint_eq(out[0].addr[3], 3);
	ck_assert_uint_eq(out[1].family, AF_INET6);
	ck_assert_uint_eq(out[1].port, 853);
	ck_assert_uint_eq(out[1].timeouts, 1);
	ck_assert_uint_eq(out[1].errors, 1);
	ck_assert_uint_eq(out[1].fails_in_row, 2);
	ck_assert_uint_eq(out[1].answers, 0);
	ck_assert_uint_eq(out[1].srtt_ms, 0);
	ck_assert_uint_eq(out[2].port, 53);
	ck_assert_uint_eq(out[2].answers, 2);
	ck_assert_uint_eq(out[2].srtt_ms, 20);
	ck_assert_uint_eq(out[2].timeouts, 0);
	ck_assert_uint_eq(out[2].down_until_ms, 0);
	/* cap 2: the two most recently used */
	n = vg_infra_snapshot(inf, out, 2, 1500, UNKNOWN);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(out[0].addr[3], 3);
	ck_assert_uint_eq(out[1].family, AF_INET6);
	/* the timeout it reports is the one vg_infra_timeout gives (a lookup:
	 * it makes a the most recently used) */
	uint32_t t_a = out[1].timeout_ms;
	n = vg_infra_snapshot(inf, out, 4, 1500, UNKNOWN);
	ck_assert_uint_eq(out[2].timeout_ms, vg_infra_timeout(inf, &a, 1500, UNKNOWN));
	ck_assert_uint_eq(t_a, out[1].timeout_ms);
	/* down after DOWN_AFTER failures: the hold-down end is reported */
	for (int i = 0; i < 4; i++)
		vg_infra_failed(inf, &a, 2000);
	n = vg_infra_snapshot(inf, out, 4, 2000, UNKNOWN);
	ck_assert_uint_eq(out[0].addr[3], 1);
	ck_assert_uint_gt(out[0].down_until_ms, 2000);
	ck_assert_uint_eq(out[0].errors, 4);
	vg_infra_free(inf);
}
END_TEST

START_TEST(table_bounded)
{
	struct vg_sockaddr first = sa("10.0.0.0", 53), s;
	vg_infra_rtt(I, &first, 77, 0);
	vg_infra_lame(I, &first, (const uint8_t *)"\3com", 0);
	for (uint32_t i = 1; i < 100000; i++) {
		memset(&s, 0, sizeof(s));
		if (i % 3 == 0) {
			s.u.in6.sin6_family = AF_INET6;
			s.u.in6.sin6_port = htons(53);
			s.u.in6.sin6_addr.s6_addr[0] = 0x20;
			s.u.in6.sin6_addr.s6_addr[1] = 0x01;
			vg_put32(s.u.in6.sin6_addr.s6_addr + 12, i);
		} else {
			s.u.in4.sin_family = AF_INET;
			s.u.in4.sin_port = htons(53);
			s.u.in4.sin_addr.s_addr = htonl(0x0a000000u + i);
		}
		if (i % 5 == 0)
			vg_infra_failed(I, &s, i);
		else
			vg_infra_rtt(I, &s, 10 + i % 90, i);
	}
	/* the most recent address (99999 = 3 * 33333: IPv6) has its measurement */
	s = sa("2001::1:869f", 53);
	ck_assert_uint_eq(vg_infra_score(I, &s, 100000, UNKNOWN), 10 + 99999 % 90);
	/* and so has the one before it, IPv4 10.0.0.0 + 99998 */
	s = sa("10.1.134.158", 53);
	ck_assert_uint_eq(vg_infra_score(I, &s, 100000, UNKNOWN), 10 + 99998 % 90);
	/* the oldest was pushed out */
	ck_assert_uint_eq(vg_infra_score(I, &first, 100000, UNKNOWN), UNKNOWN);
	ck_assert(!vg_infra_is_lame(I, &first, (const uint8_t *)"\3com", 100000));
}
END_TEST

/* ------------------------------------------------------------ selection */

/* Index of the lowest score among @p n servers. */
static int best_of(const struct vg_sockaddr *s, int n, uint64_t now, uint32_t *scores)
{
	int best = 0;
	for (int i = 0; i < n; i++) {
		scores[i] = vg_infra_score(I, &s[i], now, UNKNOWN);
		if (scores[i] < scores[best])
			best = i;
	}
	return best;
}

START_TEST(selection_prefers_fast_then_unknown)
{
	struct vg_sockaddr s[3] = { sa("192.0.2.10", 53), sa("192.0.2.11", 53),
				    sa("192.0.2.12", 53) }; /* A, B, C */
	uint32_t sc[3];
	uint64_t t = 10000;
	vg_infra_rtt(I, &s[0], 5, t);           /* A: 5 ms */
	for (int i = 0; i < 4; i++)             /* C: down */
		vg_infra_failed(I, &s[2], t);
	ck_assert_int_eq(best_of(s, 3, t, sc), 0);
	ck_assert_uint_eq(sc[0], 5);
	ck_assert_uint_eq(sc[1], UNKNOWN);
	ck_assert_uint_ge(sc[2], DOWN);
	/* A times out three times in a row: an untried server should now win */
	for (int i = 0; i < 3; i++)
		vg_infra_failed(I, &s[0], t + 400 * (uint64_t)(i + 1));
	t += 1200;
	int best = best_of(s, 3, t, sc);
	ck_assert_uint_ge(sc[2], DOWN);
	ck_assert_msg(sc[1] < sc[0] && best == 1,
		      "after 3 timeouts A scores %u, unknown B %u: A still chosen",
		      (unsigned)sc[0], (unsigned)sc[1]);
}
END_TEST

/* The same scenario, checking only the ordering that holds for any
 * unknown_ms: three failures cost A more than it was worth before, and
 * the down server stays last. */
START_TEST(selection_orders_down_last)
{
	struct vg_sockaddr s[3] = { sa("192.0.2.10", 53), sa("192.0.2.11", 53),
				    sa("192.0.2.12", 53) };
	uint32_t before, sc[3];
	vg_infra_rtt(I, &s[0], 5, 1);
	for (int i = 0; i < 4; i++)
		vg_infra_failed(I, &s[2], 1);
	before = vg_infra_score(I, &s[0], 1, UNKNOWN);
	for (int i = 0; i < 3; i++)
		vg_infra_failed(I, &s[0], 2);
	best_of(s, 3, 2, sc);
	ck_assert_uint_gt(sc[0], before);
	ck_assert_uint_gt(sc[2], sc[0]);
	ck_assert_uint_gt(sc[2], sc[1]);
	/* a reply from C brings it back above the unknown B */
	vg_infra_rtt(I, &s[2], 30, 3);
	ck_assert_int_eq(best_of(s, 3, 3, sc), 2);
}
END_TEST

/* ------------------------------------------------------------ DNS cookies (client side) */

/* The client cookie is SipHash-2-4 under the secret of [4|6, client address,
 * 4|6, server address]: computed here independently of upcookie.c. */
START_TEST(client_cookie_computation)
{
	uint8_t key[VG_UPCOOKIE_KEY], key2[VG_UPCOOKIE_KEY], c[8], c2[8], want[8];
	randombytes_buf(key, sizeof(key));
	memcpy(key2, key, sizeof(key));
	key2[0] ^= 1;
	struct vg_sockaddr me = sa("192.0.2.1", 40000), srv = sa("198.51.100.7", 53);
	vg_upcookie_client(key, &me.u.sa, &srv.u.sa, c);
	uint8_t in[10] = { 4, 192, 0, 2, 1, 4, 198, 51, 100, 7 };
	crypto_shorthash(want, in, sizeof(in), key);
	ck_assert_mem_eq(c, want, 8);
	/* the ports do not matter: one cookie per pair of addresses */
	struct vg_sockaddr me2 = sa("192.0.2.1", 40001), srv2 = sa("198.51.100.7", 5353);
	vg_upcookie_client(key, &me2.u.sa, &srv2.u.sa, c2);
	ck_assert_mem_eq(c, c2, 8);
	/* another secret, client or server: another cookie */
	vg_upcookie_client(key2, &me.u.sa, &srv.u.sa, c2);
	ck_assert(memcmp(c, c2, 8) != 0);
	struct vg_sockaddr other = sa("192.0.2.2", 40000);
	vg_upcookie_client(key, &other.u.sa, &srv.u.sa, c2);
	ck_assert(memcmp(c, c2, 8) != 0);
	other = sa("198.51.100.8", 53);
	vg_upcookie_client(key, &me.u.sa, &other.u.sa, c2);
	ck_assert(memcmp(c, c2, 8) != 0);
	/* IPv6, and IPv4-mapped IPv6 as the IPv4 address it carries */
	struct vg_sockaddr me6 = sa("2001:db8::1", 1), srv6 = sa("2001:db8::53", 53);
	uint8_t in6[34] = { 6 };
	memcpy(in6 + 1, &me6.u.in6.sin6_addr, 16);
	in6[17] = 6;
	memcpy(in6 + 18, &srv6.u.in6.sin6_addr, 16);
	crypto_shorthash(want, in6, sizeof(in6), key);
	vg_upcookie_client(key, &me6.u.sa, &srv6.u.sa, c2);
	ck_assert_mem_eq(c2, want, 8);
	struct vg_sockaddr mapped = sa("::ffff:192.0.2.1", 40000);
	vg_upcookie_client(key, &mapped.u.sa, &srv.u.sa, c2);
	ck_assert_mem_eq(c, c2, 8);
}
END_TEST

/* A reply to a query for www.example. with an OPT record and, unless
 * @p olen < 0, a COOKIE option of @p olen bytes from @p data. */
static size_t reply_with(uint8_t *buf, size_t cap, const uint8_t *data, int olen, bool opt)
{
	uint8_t qname[] = "\3www\7example";
	int n = vg_wire_make_query(buf, cap, 0x1234, qname, VG_T_A, false, opt ? 1232 : 0, false);
	ck_assert_int_gt(n, 0);
	vg_put16(buf + 2, (uint16_t)(vg_get16(buf + 2) | VG_F_QR));
	size_t len = (size_t)n;
	if (olen >= 0) {
		len = vg_wire_add_option(buf, len, cap, VG_EDNS_COOKIE, data, (uint16_t)olen);
		ck_assert_uint_eq(len, (size_t)n + 4 + (size_t)olen);
	}
	return len;
}

START_TEST(server_cookie_option_parsing)
{
	uint8_t cc[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, data[48], buf[512], sc[VG_UPCOOKIE_SERVER_MAX];
	struct vg_msg m;
	size_t sclen, len;
	memcpy(data, cc, 8);
	for (int i = 8; i < 48; i++)
		data[i] = (uint8_t)(0xa0 + i);
	static const struct {
		int olen;
		enum vg_upcookie want;
	} cases[] = {
		{ 8, VG_UPCOOKIE_BAD },       /* a client cookie alone: no server cookie */
		{ 8 + 7, VG_UPCOOKIE_BAD },   /* a server cookie is 8..32 bytes */
		{ 8 + 8, VG_UPCOOKIE_OK },
		{ 8 + 16, VG_UPCOOKIE_OK },
		{ 8 + 32, VG_UPCOOKIE_OK },
		{ 8 + 33, VG_UPCOOKIE_BAD },
		{ 0, VG_UPCOOKIE_BAD },
		{ 5, VG_UPCOOKIE_BAD },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = reply_with(buf, sizeof(buf), data, cases[i].olen, true);
		ck_assert_int_eq(vg_msg_parse(&m, buf, len), 0);
		sclen = 99;
		ck_assert_msg(vg_upcookie_parse(&m, cc, sc, &sclen) == cases[i].want,
			      "option of %d bytes", cases[i].olen);
		if (cases[i].want == VG_UPCOOKIE_OK) {
			ck_assert_uint_eq(sclen, (size_t)cases[i].olen - 8);
			ck_assert_mem_eq(sc, data + 8, sclen);
		}
	}
	/* another client cookie echoed: a forgery (or an answer to another query) */
	uint8_t other[8] = { 1, 2, 3, 4, 5, 6, 7, 9 };
	len = reply_with(buf, sizeof(buf), data, 24, true);
	ck_assert_int_eq(vg_msg_parse(&m, buf, len), 0);
	ck_assert(vg_upcookie_parse(&m, other, sc, &sclen) == VG_UPCOOKIE_BAD);
	/* no option, no OPT at all */
	len = reply_with(buf, sizeof(buf), data, -1, true);
	ck_assert_int_eq(vg_msg_parse(&m, buf, len), 0);
	ck_assert(vg_upcookie_parse(&m, cc, sc, &sclen) == VG_UPCOOKIE_NONE);
	len = reply_with(buf, sizeof(buf), data, -1, false);
	ck_assert_int_eq(vg_msg_parse(&m, buf, len), 0);
	ck_assert(vg_upcookie_parse(&m, cc, sc, &sclen) == VG_UPCOOKIE_NONE);
	/* the COOKIE option found among others */
	len = reply_with(buf, sizeof(buf), data, -1, true);
	len = vg_wire_add_option(buf, len, sizeof(buf), VG_EDNS_PADDING, data, 3);
	len = vg_wire_add_option(buf, len, sizeof(buf), VG_EDNS_COOKIE, data, 24);
	ck_assert_int_eq(vg_msg_parse(&m, buf, len), 0);
	ck_assert(vg_upcookie_parse(&m, cc, sc, &sclen) == VG_UPCOOKIE_OK);
	ck_assert_uint_eq(sclen, 16);
}
END_TEST

START_TEST(server_cookie_state)
{
	struct vg_sockaddr s = sa("192.0.2.53", 53), t = sa("192.0.2.54", 53);
	uint8_t sc[16], got[VG_UPCOOKIE_SERVER_MAX];
	memset(sc, 0x5c, sizeof(sc));
	/* nothing known: a client cookie alone */
	ck_assert_int_eq(vg_infra_cookie(I, &s, 1, got, 1), 0);
	ck_assert(!vg_infra_cookie_known(I, &s, 1));
	vg_infra_cookie_learn(I, &s, 1, sc, sizeof(sc), 2);
	ck_assert(vg_infra_cookie_known(I, &s, 3));
	ck_assert_int_eq(vg_infra_cookie(I, &s, 1, got, 3), 16);
	ck_assert_mem_eq(got, sc, 16);
	ck_assert(!vg_infra_cookie_known(I, &t, 3)); /* per server */
	/* a new client secret: the old server cookie is not presented, but
	 * the server still does cookies */
	ck_assert_int_eq(vg_infra_cookie(I, &s, 2, got, 4), 0);
	ck_assert(vg_infra_cookie_known(I, &s, 4));
	/* over TCP without a cookie: it stopped doing cookies */
	vg_infra_cookie_forget(I, &s, 5);
	ck_assert(!vg_infra_cookie_known(I, &s, 5));
	ck_assert_int_eq(vg_infra_cookie(I, &s, 1, got, 5), 0);
	/* FORMERR to the option: none sent for VG_INFRA_NOCOOKIE_MS */
	vg_infra_cookie_learn(I, &t, 1, sc, 8, 6);
	vg_infra_cookie_refused(I, &t, 10);
	ck_assert(!vg_infra_cookie_known(I, &t, 11));
	ck_assert_int_eq(vg_infra_cookie(I, &t, 1, got, 11), VG_INFRA_NO_COOKIE);
	ck_assert_int_eq(vg_infra_cookie(I, &t, 1, got, 10 + VG_INFRA_NOCOOKIE_MS - 1),
			 VG_INFRA_NO_COOKIE);
	ck_assert_int_eq(vg_infra_cookie(I, &t, 1, got, 10 + VG_INFRA_NOCOOKIE_MS), 0);
	/* a valid cookie from it afterwards counts again */
	vg_infra_cookie_refused(I, &t, 20);
	vg_infra_cookie_learn(I, &t, 1, sc, 8, 21);
	ck_assert_int_eq(vg_infra_cookie(I, &t, 1, got, 22), 8);
}
END_TEST

static Suite *select_suite(void)
{
	Suite *s = suite_create("select");
	TCase *tc = tcase_create("infra");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, rtt_smoothing);
	tcase_add_test(tc, failures_double_then_down);
	tcase_add_test(tc, timeout_bounds);
	tcase_add_test(tc, lame_per_zone);
	tcase_add_test(tc, sockaddr_eq);
	tcase_add_test(tc, sockaddr_classes);
	tcase_add_test(tc, sockaddr_mapped_private);
	tcase_add_test(tc, table_bounded);
	tcase_add_test(tc, snapshot_counts_and_order);
	tcase_add_test(tc, selection_prefers_fast_then_unknown);
	tcase_add_test(tc, selection_orders_down_last);
	tcase_add_test(tc, timeouts_back_off_once_per_timer);
	tcase_add_test(tc, spoofed_server_goes_tcp);
	suite_add_tcase(s, tc);
	TCase *ck = tcase_create("cookies");
	tcase_add_checked_fixture(ck, setup, teardown);
	tcase_add_test(ck, client_cookie_computation);
	tcase_add_test(ck, server_cookie_option_parsing);
	tcase_add_test(ck, server_cookie_state);
	suite_add_tcase(s, ck);
	return s;
}

int main(void)
{
	return vg_test_run(select_suite());
}
