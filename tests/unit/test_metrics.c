/* SPDX-License-Identifier: MIT
 *
 * src/daemon/expo.c: the Prometheus text exposition format (0.0.4) the
 * metrics endpoint writes -- HELP and TYPE lines, samples with labels,
 * escaping of label values and HELP text, histograms (cumulative buckets
 * ending with +Inf, _sum and _count consistent with them); and
 * vg_histo_observe's buckets (src/core/core.h), which the metrics sum.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "core/core.h"
#include "daemon/expo.h"

START_TEST(family_and_samples)
{
	struct vg_expo e;
	vg_expo_init(&e);
	vg_expo_family(&e, "vigil_queries_total", "counter", "Client queries.");
	vg_expo_u64(&e, "vigil_queries_total", NULL, 0, 42);
	struct vg_expo_label l[2] = { { "transport", "udp" }, { "x", "" } };
	vg_expo_u64(&e, "vigil_q_total", l, 2, 18446744073709551615ull);
	vg_expo_f64(&e, "vigil_g", NULL, 0, 0.1);
	vg_expo_f64(&e, "vigil_g", NULL, 0, 1.0 / 0.0);
	vg_expo_f64(&e, "vigil_g", NULL, 0, 0.0 / 0.0);
	vg_expo_f64(&e, "vigil_g", NULL, 0, 1e21);
	ck_assert(!e.oom);
	ck_assert_str_eq(e.buf, "# HELP vigil_queries_total Client queries.\n"
				"# TYPE vigil_queries_total counter\n"
				"vigil_queries_total 42\n"
				"vigil_q_total{transport=\"udp\",x=\"\"} 18446744073709551615\n"
				"vigil_g 0.1\n"
				"vigil_g +Inf\n"
				"vigil_g NaN\n"
				"vigil_g 1e+21\n");
	ck_assert_uint_eq(e.len, strlen(e.buf));
	vg_expo_free(&e);
	ck_assert_ptr_null(e.buf);
}
END_TEST

START_TEST(escaping)
{
	struct vg_expo e;
	vg_expo_init(&e);
	/* HELP: backslash and newline escaped, a double quote left alone */
	vg_expo_family(&e, "m", "gauge", "a \\ b\nc \"d\"");
	/* label values: backslash, double quote and newline escaped */
	struct vg_expo_label l = { "source", "we\\ird\"name\nx" };
	vg_expo_u64(&e, "m", &l, 1, 1);
	ck_assert_str_eq(e.buf, "# HELP m a \\\\ b\\nc \"d\"\n"
				"# TYPE m gauge\n"
				"m{source=\"we\\\\ird\\\"name\\nx\"} 1\n");
	vg_expo_free(&e);
}
END_TEST

START_TEST(histogram_exact)
{
	struct vg_expo e;
	const uint64_t counts[4] = { 1, 0, 2, 3 };
	const double bounds[3] = { 0.001, 0.5, 2 };
	struct vg_expo_label l = { "kind", "a\"b" };
	vg_expo_init(&e);
	vg_expo_histogram(&e, "h_seconds", &l, 1, counts, bounds, 4, 7.25);
	ck_assert_str_eq(e.buf, "h_seconds_bucket{kind=\"a\\\"b\",le=\"0.001\"} 1\n"
				"h_seconds_bucket{kind=\"a\\\"b\",le=\"0.5\"} 1\n"
				"h_seconds_bucket{kind=\"a\\\"b\",le=\"2\"} 3\n"
				"h_seconds_bucket{kind=\"a\\\"b\",le=\"+Inf\"} 6\n"
				"h_seconds_sum{kind=\"a\\\"b\"} 7.25\n"
				"h_seconds_count{kind=\"a\\\"b\"} 6\n");
	vg_expo_free(&e);
}
END_TEST

/* Parse what vg_expo_histogram wrote for @p name (no labels): every bucket's
 * value in @p cum (at most @p cap), their le bounds, _sum and _count. */
static size_t parse_hist(const char *text, const char *name, uint64_t *cum, char les[][16],
			 size_t cap, double *sum, uint64_t *count)
{
	size_t n = 0, nl = strlen(name);
	*count = (uint64_t)-1;
	for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
		ck_assert_int_eq(strncmp(p, name, nl), 0);
		const char *r = p + nl;
		if (!strncmp(r, "_bucket{le=\"", 12)) {
			ck_assert_uint_lt(n, cap);
			const char *q = strchr(r + 12, '"');
			ck_assert_uint_lt((size_t)(q - (r + 12)), 16);
			memcpy(les[n], r + 12, (size_t)(q - (r + 12)));
			les[n][q - (r + 12)] = 0;
			ck_assert(!strncmp(q, "\"} ", 3)); /* the label set ends, the value follows */
			cum[n++] = strtoull(q + 3, NULL, 10);
		} else if (!strncmp(r, "_sum ", 5)) {
			*sum = strtod(r + 5, NULL);
		} else if (!strncmp(r, "_count ", 7)) {
			*count = strtoull(r + 7, NULL, 10);
		} else {
			ck_abort_msg("unexpected line: %.40s", p);
		}
	}
	return n;
}

START_TEST(histogram_from_observations)
{
	struct vg_histo h;
	memset(&h, 0, sizeof(h));
	/* bounds are inclusive: 1 ms is in le=0.001, 2 ms in le=0.002 */
	const uint64_t obs[] = { 0, 1, 2, 3, 7, 1000, 1001, 10000, 10001, 99999 };
	uint64_t total = 0;
	for (size_t i = 0; i < VG_ARRAY_SIZE(obs); i++) {
		vg_histo_observe(&h, obs[i]);
		total += obs[i];
	}
	ck_assert_uint_eq(VG_STAT_GET(h.bucket[0]), 2);  /* 0, 1 */
	ck_assert_uint_eq(VG_STAT_GET(h.bucket[1]), 1);  /* 2 */
	ck_assert_uint_eq(VG_STAT_GET(h.bucket[2]), 1);  /* 3 (le 5) */
	ck_assert_uint_eq(VG_STAT_GET(h.bucket[3]), 1);  /* 7 (le 10) */
	ck_assert_uint_eq(VG_STAT_GET(h.bucket[9]), 1);  /* 1000 (le 1000) */
	ck_assert_uint_eq(VG_STAT_GET(h.bucket[10]), 1); /* 1001 (le 2000) */
	ck_assert_uint_eq(VG_STAT_GET(h.bucket[12]), 1); /* 10000 (le 10000) */
	ck_assert_uint_eq(VG_STAT_GET(h.bucket[13]), 2); /* above every bound */
	ck_assert_uint_eq(VG_STAT_GET(h.sum), total);

	/* written as seconds: cumulative, non-decreasing, +Inf last and equal
	 * to _count, _sum the sum */
	uint64_t counts[VG_HISTO_BUCKETS];
	double bounds[VG_HISTO_BUCKETS - 1];
	for (unsigned i = 0; i < VG_HISTO_BUCKETS; i++) {
		counts[i] = VG_STAT_GET(h.bucket[i]);
		if (i < VG_HISTO_BUCKETS - 1)
			bounds[i] = vg_histo_bounds_ms[i] / 1000.0;
	}
	struct vg_expo e;
	vg_expo_init(&e);
	vg_expo_histogram(&e, "lat_seconds", NULL, 0, counts, bounds, VG_HISTO_BUCKETS,
			  (double)total / 1000.0);
	uint64_t cum[32], count;
	char les[32][16];
	double sum = -1;
	size_t n = parse_hist(e.buf, "lat_seconds", cum, les, 32, &sum, &count);
	ck_assert_uint_eq(n, VG_HISTO_BUCKETS);
	for (size_t i = 1; i < n; i++) {
		ck_assert_uint_ge(cum[i], cum[i - 1]);
		if (i < n - 1)
			ck_assert_double_lt(strtod(les[i - 1], NULL), strtod(les[i], NULL));
	}
	ck_assert_str_eq(les[0], "0.001");
	ck_assert_str_eq(les[n - 1], "+Inf");
	ck_assert_uint_eq(cum[n - 1], VG_ARRAY_SIZE(obs));
	ck_assert_uint_eq(count, cum[n - 1]);
	ck_assert_double_eq_tol(sum, total / 1000.0, 1e-9);
	vg_expo_free(&e);
}
END_TEST

START_TEST(grows)
{
	/* many samples: the buffer grows, nothing lost or reordered */
	struct vg_expo e;
	char name[32];
	vg_expo_init(&e);
	for (unsigned i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "m%u", i);
		vg_expo_u64(&e, name, NULL, 0, i);
	}
	ck_assert(!e.oom);
	unsigned i = 0;
	for (const char *p = e.buf; *p; p = strchr(p, '\n') + 1, i++) {
		unsigned a, b;
		ck_assert_int_eq(sscanf(p, "m%u %u", &a, &b), 2);
		ck_assert_uint_eq(a, i);
		ck_assert_uint_eq(b, i);
	}
	ck_assert_uint_eq(i, 5000);
	vg_expo_free(&e);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("expo");
	tcase_add_test(tc, family_and_samples);
	tcase_add_test(tc, escaping);
	tcase_add_test(tc, histogram_exact);
	tcase_add_test(tc, histogram_from_observations);
	tcase_add_test(tc, grows);
	suite_add_tcase(s, tc);
	return vg_test_run(s);
}
