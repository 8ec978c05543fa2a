/* SPDX-License-Identifier: MIT
 *
 * The one main() body every Check suite shares: libsodium initialised (the
 * cache and random numbers use it), results as TAP on stdout for meson's
 * `protocol: 'tap'`, exit status 1 if any test failed.
 */
#ifndef VG_TEST_CHECK_MAIN_H
#define VG_TEST_CHECK_MAIN_H

#include <check.h>
#include <sodium.h>

static inline int vg_test_run(Suite *s)
{
	if (sodium_init() < 0)
		return 1;
	SRunner *sr = srunner_create(s);
	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_SILENT);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

#endif
