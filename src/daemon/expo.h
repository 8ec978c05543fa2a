/* SPDX-License-Identifier: MIT
 *
 * The Prometheus text exposition format, version 0.0.4: what the metrics
 * endpoint (metrics.c) writes.  A metric family is its "# HELP" and
 * "# TYPE" lines, then its samples: NAME{LABEL="VALUE",...} VALUE.  Label
 * values are escaped (backslash, double quote, newline), and so is HELP text
 * (backslash, newline).  A histogram's buckets are written cumulative, each
 * bucket's "le" its upper bound in the family's unit, ending with le="+Inf",
 * then NAME_sum and NAME_count (the +Inf bucket's value).
 *
 * The text grows in one heap buffer (the main thread, at scrape time); an
 * allocation failure is remembered (oom) and the rest is left out.
 */
#ifndef VG_DAEMON_EXPO_H
#define VG_DAEMON_EXPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_EXPO_MAX_LABELS 4

struct vg_expo {
	char *buf;
	size_t len, cap;
	bool oom;
};

/** One label: name (a valid label name, not escaped) and value (escaped). */
struct vg_expo_label {
	const char *name;
	const char *value;
};

void vg_expo_init(struct vg_expo *e);
void vg_expo_free(struct vg_expo *e);

/** "# HELP NAME HELP" and "# TYPE NAME TYPE" (counter, gauge, histogram). */
void vg_expo_family(struct vg_expo *e, const char *name, const char *type, const char *help);
/** One sample with an integer value; @p l may be NULL when @p nl is 0. */
void vg_expo_u64(struct vg_expo *e, const char *name, const struct vg_expo_label *l, size_t nl,
		 uint64_t v);
/** One sample with a floating-point value (shortest exact form, "+Inf", "NaN"). */
void vg_expo_f64(struct vg_expo *e, const char *name, const struct vg_expo_label *l, size_t nl,
		 double v);
/**
 * The samples of histogram @p name: @p counts[i] (NOT cumulative) counts the
 * values in (bounds[i-1], bounds[i]], counts[nb - 1] those above the last of
 * the @p nb - 1 bounds; @p sum their sum.  Writes NAME_bucket for every bound
 * and +Inf (cumulative), NAME_sum and NAME_count, each with the labels
 * @p l (at most VG_EXPO_MAX_LABELS - 1: "le" is added).
 */
void vg_expo_histogram(struct vg_expo *e, const char *name, const struct vg_expo_label *l,
		       size_t nl, const uint64_t *counts, const double *bounds, size_t nb,
		       double sum);

#endif
