/* SPDX-License-Identifier: MIT
 *
 * The small pieces of src/core and src/wire every module leans on: the one
 * growable array (vg_grow: doubling, contents kept, overflow refused without
 * touching the array), the big zeroed block for hot tables (vg_big_alloc:
 * zeroed, huge-page aligned from 2 MiB), type mnemonics both ways, the clock's seconds, and
 * address prefix matching (the ACL's, on every query) against its definition.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include "check_main.h"
#include "core/addr.h"
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

START_TEST(big_alloc_zeroed_and_aligned)
{
	/* below a huge page: plain zeroed heap memory */
	uint8_t *small = vg_big_alloc(1000);
	ck_assert_ptr_nonnull(small);
	for (size_t i = 0; i < 1000; i++)
		ck_assert_uint_eq(small[i], 0);
	vg_big_free(small, 1000);
	/* from 2 MiB up, any size: aligned to 2 MiB, zeroed, every byte usable */
	static const size_t sizes[] = { VG_BIG_PAGE, VG_BIG_PAGE + 1, 3 * VG_BIG_PAGE - 8 };
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];
		uint8_t *p = vg_big_alloc(n);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq((uintptr_t)p % VG_BIG_PAGE, 0);
		for (size_t i = 0; i < n; i += 4093)
			ck_assert_uint_eq(p[i], 0);
		ck_assert_uint_eq(p[n - 1], 0);
		memset(p, 0x5a, n);
		ck_assert_uint_eq(p[n - 1], 0x5a);
		vg_big_free(p, n);
	}
	ck_assert_ptr_null(vg_big_alloc(SIZE_MAX - VG_BIG_PAGE)); /* no overflow */
	vg_big_free(NULL, VG_BIG_PAGE);
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

/* Arenas sharing a budget: every chunk is counted, growth past the limit is
 * refused and remembered (budget_hit), a new arena that would not fit is
 * refused, and freeing gives everything back. */
START_TEST(arena_budget_shared_and_bounded)
{
	struct vg_arena_budget b = { .used = 0, .limit = 3 * 4096 };
	struct vg_arena *a1 = vg_arena_new(4096, 1 << 20, &b);
	struct vg_arena *a2 = vg_arena_new(4096, 1 << 20, &b);
	ck_assert_ptr_nonnull(a1);
	ck_assert_ptr_nonnull(a2);
	ck_assert_uint_eq(b.used, 2 * 4096);
	ck_assert_ptr_nonnull(vg_arena_alloc(a1, 4000));
	ck_assert(!vg_arena_budget_hit(a1));
	/* a1's next chunk (8 KiB) would pass the limit: refused, and said so */
	ck_assert_ptr_null(vg_arena_alloc(a1, 4000));
	ck_assert(vg_arena_budget_hit(a1));
	ck_assert(!vg_arena_budget_hit(a2));
	ck_assert_uint_le(b.used, b.limit);
	/* room within a chunk needs no budget; one more first chunk fits, then none */
	ck_assert_ptr_nonnull(vg_arena_alloc(a2, 4096));
	ck_assert_uint_eq(b.used, 2 * 4096);
	struct vg_arena *a4 = vg_arena_new(4096, 1 << 20, &b);
	ck_assert_ptr_nonnull(a4);
	ck_assert_uint_eq(b.used, 3 * 4096);
	ck_assert_ptr_null(vg_arena_new(4096, 1 << 20, &b));
	vg_arena_free(a1);
	vg_arena_free(a2);
	vg_arena_free(a4);
	ck_assert_uint_eq(b.used, 0);
	/* no budget: only the arena's own cap */
	struct vg_arena *a3 = vg_arena_new(4096, 8192, NULL);
	ck_assert_ptr_nonnull(vg_arena_alloc(a3, 4096));
	ck_assert_ptr_null(vg_arena_alloc(a3, 8192));
	ck_assert(!vg_arena_budget_hit(a3));
	vg_arena_free(a3);
}
END_TEST

/* The definition, byte by byte: the first BITS bits of A and B are equal. */
static bool ref_contains(const struct vg_prefix *p, int family, const uint8_t *a)
{
	unsigned max = family == AF_INET ? 32 : 128;
	if (p->family != family || p->bits > max)
		return false;
	for (unsigned i = 0; i < p->bits; i++) {
		unsigned m = 0x80u >> (i % 8);
		if ((p->addr[i / 8] & m) != (a[i / 8] & m))
			return false;
	}
	return true;
}

/* vg_prefix_contains (masked word compares) agrees with the definition for
 * every prefix length of both families (and one past), for addresses that
 * differ from the prefix in exactly one bit (each bit in turn) and for
 * random ones, and never matches across families. */
START_TEST(prefix_contains_is_the_definition)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	unsigned checked = 0, matched = 0;
	for (int f = 0; f < 2; f++) {
		int fam = f ? AF_INET6 : AF_INET;
		unsigned max = f ? 128 : 32;
		for (unsigned bits = 0; bits <= max + 1; bits++) {
			for (int rep = 0; rep < 8; rep++) {
				struct vg_prefix p = { .family = fam, .bits = (uint8_t)bits };
				uint8_t a[16] = { 0 };
				for (unsigned i = 0; i < 16; i++) {
					seed = seed * 6364136223846793005ull + 1442695040888963407ull;
					p.addr[i] = (uint8_t)(seed >> 56);
					a[i] = (uint8_t)(seed >> 48);
				}
				bool want = ref_contains(&p, fam, a);
				ck_assert_int_eq(vg_prefix_contains(&p, fam, a), want);
				ck_assert(!vg_prefix_contains(&p, f ? AF_INET : AF_INET6, a));
				checked++;
				for (unsigned flip = 0; flip <= max; flip++) {
					memcpy(a, p.addr, 16);
					if (flip < max)
						a[flip / 8] ^= (uint8_t)(0x80u >> (flip % 8));
					want = ref_contains(&p, fam, a);
					ck_assert_msg(vg_prefix_contains(&p, fam, a) == want,
						      "family %d /%u, bit %u flipped", fam, bits, flip);
					matched += want;
					checked++;
				}
			}
		}
	}
	ck_assert_uint_gt(matched, 1000); /* both outcomes were exercised */
	ck_assert_uint_gt(checked - matched, 1000);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, grow_doubles_and_keeps);
	tcase_add_test(tc, grow_refuses_overflow);
	tcase_add_test(tc, big_alloc_zeroed_and_aligned);
	tcase_add_test(tc, type_names_both_ways);
	tcase_add_test(tc, clock_seconds);
	tcase_add_test(tc, arena_budget_shared_and_bounded);
	tcase_add_test(tc, prefix_contains_is_the_definition);
	suite_add_tcase(s, tc);
	return vg_test_run(s);
}
