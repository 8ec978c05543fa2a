/* SPDX-License-Identifier: MIT
 *
 * The Prometheus text exposition format (expo.h).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/expo.h"

void vg_expo_init(struct vg_expo *e)
{
	memset(e, 0, sizeof(*e));
}

void vg_expo_free(struct vg_expo *e)
{
	free(e->buf);
	memset(e, 0, sizeof(*e));
}

/* Room for @p n more bytes and a terminating NUL: false when out of memory. */
static bool reserve(struct vg_expo *e, size_t n)
{
	if (e->oom)
		return false;
	if (e->len + n + 1 <= e->cap)
		return true;
	size_t cap = e->cap ? e->cap : 4096;
	while (cap < e->len + n + 1)
		cap *= 2;
	char *b = realloc(e->buf, cap);
	if (!b) {
		e->oom = true;
		return false;
	}
	e->buf = b;
	e->cap = cap;
	return true;
}

static void put(struct vg_expo *e, const char *s, size_t n)
{
	if (!reserve(e, n))
		return;
	memcpy(e->buf + e->len, s, n);
	e->len += n;
	e->buf[e->len] = 0;
}

static void puts_(struct vg_expo *e, const char *s)
{
	put(e, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void putf(struct vg_expo *e, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(e, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* @p s escaped: backslash and newline always, the double quote in label values. */
static void put_escaped(struct vg_expo *e, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_(e, "\\\\");
		else if (*s == '\n')
			puts_(e, "\\n");
		else if (quote && *s == '"')
			puts_(e, "\\\"");
		else
			put(e, s, 1);
	}
}

void vg_expo_family(struct vg_expo *e, const char *name, const char *type, const char *help)
{
	puts_(e, "# HELP ");
	puts_(e, name);
	puts_(e, " ");
	put_escaped(e, help, false);
	puts_(e, "\n# TYPE ");
	puts_(e, name);
	puts_(e, " ");
	puts_(e, type);
	puts_(e, "\n");
}

static void put_name(struct vg_expo *e, const char *name, const char *suffix,
		     const struct vg_expo_label *l, size_t nl)
{
	puts_(e, name);
	if (suffix)
		puts_(e, suffix);
	if (!nl)
		return;
	puts_(e, "{");
	for (size_t i = 0; i < nl; i++) {
		if (i)
			puts_(e, ",");
		puts_(e, l[i].name);
		puts_(e, "=\"");
		put_escaped(e, l[i].value ? l[i].value : "", true);
		puts_(e, "\"");
	}
	puts_(e, "}");
}

static void put_special(struct vg_expo *e, double v)
{
	if (isnan(v))
		puts_(e, "NaN");
	else
		puts_(e, v > 0 ? "+Inf" : "-Inf");
}

/* @p v in the shortest of %.15g .. %.17g that reads back as @p v (so 0.1
 * is "0.1", not "0.10000000000000001"). */
static void fmt_double(char out[40], double v)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, 40, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			break;
	}
}

static void put_bound(struct vg_expo *e, double v)
{
	char tmp[40];
	fmt_double(tmp, v);
	puts_(e, tmp);
}

void vg_expo_u64(struct vg_expo *e, const char *name, const struct vg_expo_label *l, size_t nl,
		 uint64_t v)
{
	put_name(e, name, NULL, l, nl);
	putf(e, " %llu\n", (unsigned long long)v);
}

void vg_expo_f64(struct vg_expo *e, const char *name, const struct vg_expo_label *l, size_t nl,
		 double v)
{
	put_name(e, name, NULL, l, nl);
	puts_(e, " ");
	if (!isnan(v) && !isinf(v))
		put_bound(e, v);
	else
		put_special(e, v);
	puts_(e, "\n");
}

void vg_expo_histogram(struct vg_expo *e, const char *name, const struct vg_expo_label *l,
		       size_t nl, const uint64_t *counts, const double *bounds, size_t nb,
		       double sum)
{
	struct vg_expo_label ll[VG_EXPO_MAX_LABELS];
	char le[40];
	uint64_t cum = 0;

	if (nl > VG_EXPO_MAX_LABELS - 1)
		nl = VG_EXPO_MAX_LABELS - 1;
	if (nl)
		memcpy(ll, l, nl * sizeof(*l));
	ll[nl].name = "le";
	for (size_t i = 0; i < nb; i++) {
		cum += counts[i];
		if (i + 1 < nb) {
			fmt_double(le, bounds[i]);
			ll[nl].value = le;
		} else {
			ll[nl].value = "+Inf";
		}
		put_name(e, name, "_bucket", ll, nl + 1);
		putf(e, " %llu\n", (unsigned long long)cum);
	}
	put_name(e, name, "_sum", l, nl);
	puts_(e, " ");
	put_bound(e, sum);
	puts_(e, "\n");
	put_name(e, name, "_count", l, nl);
	putf(e, " %llu\n", (unsigned long long)cum);
}
