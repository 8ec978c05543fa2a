/* SPDX-License-Identifier: MIT
 *
 * How the cache's control-socket and metrics paths take the shard locks
 * (src/cache/cache.c), counted by wrapping pthread_mutex_lock and
 * pthread_mutex_unlock (tests/meson.build links this suite with --wrap):
 *
 * - a flush lets a shard's lock go every VG_CACHE_FLUSH_BATCH steps, so a
 *   worker whose lookup hits that shard waits for a batch, not for the
 *   whole shard -- and still removes every matching entry;
 * - the eviction total a metrics scrape reads takes no lock at all.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "cache/cache.h"
#include "vigil/err.h"
#include "vigil/wire.h"

static atomic_uint locks, unlocks;

int __real_pthread_mutex_lock(pthread_mutex_t *m);
int __real_pthread_mutex_unlock(pthread_mutex_t *m);

int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
	atomic_fetch_add(&locks, 1);
	return __real_pthread_mutex_lock(m);
}

int __wrap_pthread_mutex_unlock(pthread_mutex_t *m)
{
	atomic_fetch_add(&unlocks, 1);
	return __real_pthread_mutex_unlock(m);
}

#define NAMES 20000

/* one A record at n<i>.<zone> */
static void put_a(struct vg_cache *c, unsigned i, const char *zone, uint32_t now)
{
	char s[64];
	uint8_t owner[VG_NAME_MAX], rd[6] = { 0, 4, 192, 0, 2, 1 };
	snprintf(s, sizeof(s), "n%u.%s", i, zone);
	ck_assert_int_gt(vg_name_from_str(s, owner, sizeof(owner)), 0);
	struct vg_rrset rs = { .owner = owner, .type = VG_T_A, .rclass = VG_C_IN, .ttl = 600,
			       .count = 1, .rdata_len = sizeof(rd), .rdata = rd };
	ck_assert_int_eq(vg_cache_put(c, &rs, VG_RANK_AUTH, now), 0);
}

static bool has_a(struct vg_cache *c, unsigned i, const char *zone, uint32_t now)
{
	char s[64];
	uint8_t owner[VG_NAME_MAX];
	snprintf(s, sizeof(s), "n%u.%s", i, zone);
	ck_assert_int_gt(vg_name_from_str(s, owner, sizeof(owner)), 0);
	return vg_cache_has(c, owner, VG_T_A, now);
}

START_TEST(flush_walks_in_batches_and_is_exact)
{
	struct vg_cache *c = vg_cache_new(64u << 20);
	size_t entries;
	uint8_t zone[VG_NAME_MAX];
	ck_assert_ptr_nonnull(c);
	for (unsigned i = 0; i < NAMES; i++) {
		put_a(c, i, "gone.test", 5000);
		put_a(c, i, "kept.test", 5000);
	}
	vg_cache_usage(c, &entries, NULL, NULL);
	ck_assert_uint_eq(entries, 2 * NAMES); /* nothing evicted: all of them are walked */

	ck_assert_int_gt(vg_name_from_str("gone.test", zone, sizeof(zone)), 0);
	unsigned before = atomic_load(&unlocks);
	ck_assert_uint_eq(vg_cache_flush(c, zone, VG_CACHE_FLUSH_SUBTREE), NAMES);
	unsigned held = atomic_load(&unlocks) - before;
	/* 2 * NAMES entries looked at (and the buckets): at least one let-go per
	 * batch of them, not one per shard (32) */
	ck_assert_msg(held >= 2 * NAMES / VG_CACHE_FLUSH_BATCH,
		      "%u lock holds for %u entries", held, 2 * NAMES);
	ck_assert_uint_eq(atomic_load(&locks), atomic_load(&unlocks));

	vg_cache_usage(c, &entries, NULL, NULL);
	ck_assert_uint_eq(entries, NAMES);
	for (unsigned i = 0; i < NAMES; i++) {
		ck_assert_msg(!has_a(c, i, "gone.test", 5001), "n%u.gone.test left", i);
		ck_assert_msg(has_a(c, i, "kept.test", 5001), "n%u.kept.test flushed", i);
	}
	ck_assert_uint_eq(vg_cache_flush(c, NULL, 0), NAMES);
	vg_cache_usage(c, &entries, NULL, NULL);
	ck_assert_uint_eq(entries, 0);
	vg_cache_free(c);
}
END_TEST

START_TEST(evictions_read_without_a_lock)
{
	struct vg_cache *c = vg_cache_new(1u << 20); /* 1 MiB: most of them are evicted */
	ck_assert_ptr_nonnull(c);
	for (unsigned i = 0; i < NAMES; i++)
		put_a(c, i, "evict.test", 5000);
	unsigned before = atomic_load(&locks);
	uint64_t ev = vg_cache_evictions(c);
	ck_assert_uint_eq(atomic_load(&locks) - before, 0);
	size_t entries;
	vg_cache_usage(c, &entries, NULL, NULL);
	ck_assert_uint_gt(ev, 0);
	ck_assert_uint_eq(ev + entries, NAMES); /* every one stored is there or was evicted */
	vg_cache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cache_lock");
	TCase *tc = tcase_create("locks");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, flush_walks_in_batches_and_is_exact);
	tcase_add_test(tc, evictions_read_without_a_lock);
	suite_add_tcase(s, tc);
	return vg_test_run(s);
}
