/* SPDX-License-Identifier: MIT
 *
 * src/pipeline/cookie.c: server cookies made and checked (RFC 7873, RFC
 * 9018 form), tied to the client's address and cookie, valid for an hour,
 * across one key rotation but not two; malformed options.
 */
#include <check.h>
#include <string.h>

#include "check_main.h"
#include "core/addr.h"
#include "pipeline/cookie.h"

static const uint8_t WWW[] = "\x03www\x07" "example\x00";

/* A query whose OPT carries COOKIE @p opt (@p olen bytes), parsed into @p q. */
static void query_with(uint8_t *buf, size_t cap, const uint8_t *opt, uint16_t olen,
		       struct vg_query *q)
{
	int n = vg_wire_make_query(buf, cap, 7, WWW, VG_T_A, true, 1232, false);
	ck_assert_int_gt(n, 0);
	size_t len = vg_wire_add_option(buf, (size_t)n, cap, VG_EDNS_COOKIE, opt, olen);
	ck_assert_uint_eq(len, (size_t)n + 4 + olen);
	int rc;
	ck_assert_int_eq(vg_query_parse(q, buf, len, &rc), 0);
	ck_assert_int_eq(rc, 0);
}

static struct sockaddr_storage addr(const char *s)
{
	struct sockaddr_storage ss;
	struct vg_sockaddr a;
	memset(&ss, 0, sizeof(ss));
	ck_assert_int_eq(vg_sockaddr_parse(s, 53, &a), 0);
	memcpy(&ss, &a.u, a.len);
	return ss;
}

/* The server cookie vigil would give @p cc from @p client at @p now. */
static void server_cookie(const struct vg_cookie_secret *s, const uint8_t *cc,
			  const struct sockaddr *client, uint32_t now, uint8_t out[24])
{
	uint8_t buf[512];
	int n = vg_wire_make_query(buf, sizeof(buf), 7, WWW, VG_T_A, true, 1232, false);
	size_t len = vg_cookie_add(s, buf, (size_t)n, sizeof(buf), cc, client, now);
	ck_assert_uint_eq(len, (size_t)n + 4 + 24);
	ck_assert_uint_eq(vg_get16(buf + n), VG_EDNS_COOKIE);
	ck_assert_uint_eq(vg_get16(buf + n + 2), 24);
	memcpy(out, buf + n + 4, 24);
	ck_assert_mem_eq(out, cc, 8);  /* the client cookie comes back */
	ck_assert_uint_eq(out[8], 1); /* version 1 */
	ck_assert_uint_eq(vg_get32(out + 12), now);
}

static enum vg_cookie_state check(const struct vg_cookie_secret *s, const uint8_t *opt,
				  uint16_t olen, const struct sockaddr *client, uint32_t now)
{
	uint8_t buf[512], cc[8];
	struct vg_query q;
	query_with(buf, sizeof(buf), opt, olen, &q);
	return vg_cookie_check(s, &q, client, now, cc);
}

START_TEST(round_trip)
{
	struct vg_cookie_secret s;
	vg_cookie_init(&s);
	const uint8_t cc[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct sockaddr_storage a = addr("192.0.2.1"), b = addr("192.0.2.2"),
				v6 = addr("2001:db8::1");
	uint8_t sc[24];
	server_cookie(&s, cc, (struct sockaddr *)&a, 1000000, sc);
	ck_assert_int_eq(check(&s, sc, 24, (struct sockaddr *)&a, 1000010), VG_COOKIE_VALID);
	/* another address, another client cookie, a changed hash: not ours */
	ck_assert_int_eq(check(&s, sc, 24, (struct sockaddr *)&b, 1000010), VG_COOKIE_CLIENT);
	sc[0] ^= 1;
	ck_assert_int_eq(check(&s, sc, 24, (struct sockaddr *)&a, 1000010), VG_COOKIE_CLIENT);
	sc[0] ^= 1;
	sc[23] ^= 1;
	ck_assert_int_eq(check(&s, sc, 24, (struct sockaddr *)&a, 1000010), VG_COOKIE_CLIENT);
	sc[23] ^= 1;
	/* an hour old, or from the future: not accepted */
	ck_assert_int_eq(check(&s, sc, 24, (struct sockaddr *)&a, 1000000 + 3601),
			 VG_COOKIE_CLIENT);
	ck_assert_int_eq(check(&s, sc, 24, (struct sockaddr *)&a, 1000000 - 301),
			 VG_COOKIE_CLIENT);
	/* IPv6 too */
	server_cookie(&s, cc, (struct sockaddr *)&v6, 5000, sc);
	ck_assert_int_eq(check(&s, sc, 24, (struct sockaddr *)&v6, 5000), VG_COOKIE_VALID);
	/* a client cookie alone */
	ck_assert_int_eq(check(&s, cc, 8, (struct sockaddr *)&a, 5000), VG_COOKIE_CLIENT);
}
END_TEST

START_TEST(rotation)
{
	struct vg_cookie_secret s;
	vg_cookie_init(&s);
	const uint8_t cc[8] = { 9, 9, 9, 9, 9, 9, 9, 9 };
	struct sockaddr_storage a = addr("198.51.100.7");
	uint8_t sc[24];
	server_cookie(&s, cc, (struct sockaddr *)&a, 100, sc);
	vg_cookie_rotate(&s);
	ck_assert_int_eq(check(&s, sc, 24, (struct sockaddr *)&a, 100), VG_COOKIE_VALID);
	vg_cookie_rotate(&s);
	ck_assert_int_eq(check(&s, sc, 24, (struct sockaddr *)&a, 100), VG_COOKIE_CLIENT);
}
END_TEST

START_TEST(malformed_and_absent)
{
	struct vg_cookie_secret s;
	vg_cookie_init(&s);
	struct sockaddr_storage a = addr("192.0.2.1");
	uint8_t junk[41] = { 0 };
	static const uint16_t bad[] = { 0, 1, 7, 9, 15, 41 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(check(&s, junk, bad[i], (struct sockaddr *)&a, 1) == VG_COOKIE_BAD,
			      "length %u accepted", bad[i]);
	/* a server cookie of another server's form (8..32 bytes): a client cookie */
	ck_assert_int_eq(check(&s, junk, 16, (struct sockaddr *)&a, 1), VG_COOKIE_CLIENT);
	ck_assert_int_eq(check(&s, junk, 40, (struct sockaddr *)&a, 1), VG_COOKIE_CLIENT);
	/* no COOKIE option */
	uint8_t buf[512], cc[8];
	struct vg_query q;
	int n = vg_wire_make_query(buf, sizeof(buf), 7, WWW, VG_T_A, true, 1232, false), rc;
	ck_assert_int_eq(vg_query_parse(&q, buf, (size_t)n, &rc), 0);
	ck_assert_int_eq(vg_cookie_check(&s, &q, (struct sockaddr *)&a, 1, cc), VG_COOKIE_NONE);
	/* no OPT in the answer: nothing added */
	n = vg_wire_make_query(buf, sizeof(buf), 7, WWW, VG_T_A, true, 0, false);
	ck_assert_uint_eq(vg_cookie_add(&s, buf, (size_t)n, sizeof(buf), cc, (struct sockaddr *)&a,
					1), (size_t)n);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cookie");
	TCase *tc = tcase_create("cookie");
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, rotation);
	tcase_add_test(tc, malformed_and_absent);
	suite_add_tcase(s, tc);
	return vg_test_run(s);
}
