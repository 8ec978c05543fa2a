/* SPDX-License-Identifier: MIT
 *
 * The small pieces of src/core and src/wire every module leans on: the one
 * growable array (vg_grow: doubling, contents kept, overflow refused without
 * touching the array), type mnemonics both ways, and the clock's seconds.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "core/core.h"
#include "vigil/wire.h"

START_TEST(grow_doubles_and_keeps)
{
	uint32_t *a = NULL;
	size_t cap = 0;
	ck_assert_int_eq(vg_grow((void **)&a, &cap, 1, sizeof(*a), 4), 0);
	ck_assert_uint_eq(cap, 4);
	for (uint32_t i = 0; i < 1000; i++) {
		ck_assert_int_eq(vg_grow((void **)&a, &cap, i + 1, sizeof(*a), 4), 0);
		ck_assert_uint_ge(cap, i + 1);
		a[i] = i * 7;
	}
	ck_assert_uint_eq(cap, 1024); /* 4, 8, ... 1024 */
	for (uint32_t i = 0; i < 1000; i++)
		ck_assert_uint_eq(a[i], i * 7);
	ck_assert_int_eq(vg_grow((void **)&a, &cap, 10, sizeof(*a), 4), 0); /* room already */
	ck_assert_uint_eq(cap, 1024);
	free(a);
}
END_TEST

START_TEST(grow_refuses_overflow)
{
	uint8_t *a = NULL;
	size_t cap = 0;
	ck_assert_int_eq(vg_grow((void **)&a, &cap, 16, 1, 16), 0);
	memset(a, 0xab, 16);
	/* need * size past SIZE_MAX: refused, the array and its capacity unchanged */
	ck_assert_int_eq(vg_grow((void **)&a, &cap, SIZE_MAX / 2 + 2, 1, 16), VG_ENOMEM);
	ck_assert_int_eq(vg_grow((void **)&a, &cap, SIZE_MAX / 8, 16, 16), VG_ENOMEM);
	ck_assert_uint_eq(cap, 16);
	ck_assert_uint_eq(a[15], 0xab);
	free(a);
}
END_TEST

START_TEST(type_names_both_ways)
{
	static const struct {
		uint16_t type;
		const char *name;
	} t[] = { { 1, "A" }, { 28, "AAAA" }, { 65, "HTTPS" }, { 64, "SVCB" },
		  { 46, "RRSIG" }, { 255, "ANY" }, { 65280, "TYPE65280" }, { 0, "TYPE0" } };
	char buf[16];
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_str_eq(vg_type_to_str(t[i].type, buf, sizeof(buf)), t[i].name);
		ck_assert_int_eq(vg_type_from_str(t[i].name), t[i].type);
	}
	ck_assert_int_eq(vg_type_from_str("https"), 65);
	ck_assert_int_eq(vg_type_from_str("type28"), 28);
	static const char *const bad[] = { "", "TYPE", "TYPE65536", "TYPE-1", "TYPE1x", "NOPE" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(vg_type_from_str(bad[i]) == VG_EPARSE, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(clock_seconds)
{
	/* 0 never means "now": the offset keeps a fresh entry's expiry above it */
	ck_assert_uint_eq(vg_time_s_of_ms(0), 1000);
	ck_assert_uint_eq(vg_time_s_of_ms(1999), 1001);
	ck_assert_uint_ge(vg_time_now_s(), 1000);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, grow_doubles_and_keeps);
	tcase_add_test(tc, grow_refuses_overflow);
	tcase_add_test(tc, type_names_both_ways);
	tcase_add_test(tc, clock_seconds);
	suite_add_tcase(s, tc);
	return vg_test_run(s);
}
