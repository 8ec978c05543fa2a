/* SPDX-License-Identifier: MIT
 *
 * Core utilities shared by every module: logging, the per-request arena,
 * clocks, random numbers (libsodium) and statistics counters.
 *
 * Nothing here knows about DNS, sockets or the event loop.
 */
#ifndef VG_CORE_H
#define VG_CORE_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/err.h"

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif

#define VG_LIKELY(x) __builtin_expect(!!(x), 1)
#define VG_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define VG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- logging ---- */
enum { VG_LOG_ERR = 3, VG_LOG_WARNING = 4, VG_LOG_NOTICE = 5, VG_LOG_INFO = 6, VG_LOG_DEBUG = 7 };

extern atomic_int vg__log_level;

/** Route log lines to syslog (true) or stderr (false), and set the level. */
void vg_log_setup(int level, bool use_syslog);
void vg_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Log at @p level; formatting is skipped when the level is disabled. */
#define vg_log(level, ...)                                                             \
	do {                                                                           \
		if (VG_UNLIKELY((level) <= atomic_load_explicit(&vg__log_level,          \
								memory_order_relaxed))) \
			vg_log_write((level), __VA_ARGS__);                            \
	} while (0)

static inline bool vg_log_enabled(int level)
{
	return level <= atomic_load_explicit(&vg__log_level, memory_order_relaxed);
}

/* ---- assertions (STYLE B3) ---- */
/** Always-on check; aborts.  Only for programming errors, never for input. */
#define VG_REQUIRE(x)                                                                  \
	do {                                                                           \
		if (VG_UNLIKELY(!(x))) {                                               \
			vg_log_write(VG_LOG_ERR, "%s:%d: requirement failed: %s", __FILE__, \
				     __LINE__, #x);                                        \
			__builtin_trap();                                              \
		}                                                                      \
	} while (0)
/** Soft check: logs and evaluates to true when @p x does not hold. */
#define VG_FAILS(x) (VG_UNLIKELY(!(x)) ? (vg_log_write(VG_LOG_ERR, "%s:%d: check failed: %s", \
						      __FILE__, __LINE__, #x), 1) : 0)

/* ---- counters: one writer thread, any reader; plain add on x86 ---- */
typedef _Atomic uint64_t vg_counter_t;
#define VG_STAT_ADD(c, n)                                                               \
	atomic_store_explicit(&(c), atomic_load_explicit(&(c), memory_order_relaxed) + (n), \
			      memory_order_relaxed)
#define VG_STAT_INC(c) VG_STAT_ADD(c, 1)
#define VG_STAT_GET(c) atomic_load_explicit(&(c), memory_order_relaxed)

/*
 * A histogram: fixed buckets (no allocation), one writer.  bucket[i] counts
 * the values in (bound[i-1], bound[i]] -- not cumulative; the bucket after
 * the last bound those above every bound.  sum is their sum, in the scale's
 * unit.  Two scales share the type (their bounds in core.c):
 *   upstream round trips: milliseconds, 1 ms to 10 s (VG_HISTO_BUCKETS);
 *   answer latency: microseconds, 50 us to 10 s (VG_LAT_BUCKETS: a cached
 *   answer takes tens of microseconds), observed in nanoseconds.
 */
#define VG_HISTO_BUCKETS 14
#define VG_LAT_BUCKETS 18
#define VG_HISTO_MAX VG_LAT_BUCKETS /* the bucket slots: the larger scale's */
struct vg_histo {
	vg_counter_t bucket[VG_HISTO_MAX];
	vg_counter_t sum;
};
/** A histogram's scale: its bounds, and the unit they and its sum are in. */
struct vg_histo_scale {
	const uint32_t *bound; /* n - 1 inclusive upper bounds, ascending */
	unsigned n;            /* buckets: the bounds and the one above them */
	uint32_t per_s;        /* units in a second (the metrics write seconds) */
};
extern const uint32_t vg_histo_bounds_ms[VG_HISTO_BUCKETS - 1];
extern const uint32_t vg_lat_bounds_us[VG_LAT_BUCKETS - 1];
extern const struct vg_histo_scale vg_histo_rtt_scale; /* ms */
extern const struct vg_histo_scale vg_histo_lat_scale; /* us */

/* Count @p v (in units of @p per_unit sub-units each) in the bucket of the
 * @p n - 1 @p bound; constants when inlined by the wrappers below. */
static inline void vg__histo_add(struct vg_histo *h, const uint32_t *bound, unsigned n,
				 uint64_t per_unit, uint64_t v)
{
	unsigned i = 0;
	while (i < n - 1 && v > (uint64_t)bound[i] * per_unit)
		i++;
	VG_STAT_INC(h->bucket[i]);
	VG_STAT_ADD(h->sum, v / per_unit);
}
/** An upstream round trip of @p ms milliseconds (vg_histo_rtt_scale). */
static inline void vg_histo_observe(struct vg_histo *h, uint64_t ms)
{
	vg__histo_add(h, vg_histo_bounds_ms, VG_HISTO_BUCKETS, 1, ms);
}
/** An answer's latency of @p ns nanoseconds (vg_histo_lat_scale: microseconds). */
static inline void vg_lat_observe(struct vg_histo *h, uint64_t ns)
{
	vg__histo_add(h, vg_lat_bounds_us, VG_LAT_BUCKETS, 1000, ns);
}

/* ---- clocks ---- */
/**
 * Seconds on the monotonic clock (cache ages and TTLs) for @p ms
 * milliseconds on it; offset so that 0 never means "now" for an entry.
 */
static inline uint32_t vg_time_s_of_ms(uint64_t ms)
{
	return (uint32_t)(ms / 1000) + 1000;
}
/** Seconds on a monotonic clock (cache ages and TTLs). */
uint32_t vg_time_now_s(void);
/** Milliseconds on a monotonic clock. */
uint64_t vg_time_now_ms(void);
/** Nanoseconds on the monotonic clock (CLOCK_MONOTONIC: the vDSO, no system call). */
uint64_t vg_time_now_ns(void);

/* ---- randomness (libsodium) ---- */
uint32_t vg_rand_uniform(uint32_t upper);
uint16_t vg_rand_u16(void);

/* ---- numbers ---- */
/**
 * Plain decimal digits (no sign, space or 0x) into *@p out, at most @p max.
 * 0, VG_EPARSE (empty, or not a digit), or VG_ELIMIT (above @p max).  The
 * one number parser of config files, addresses and type names.
 */
int vg_parse_uint(const char *s, unsigned long long max, unsigned long long *out);

/* ---- growable arrays ---- */
/**
 * Make room for @p need elements of @p size bytes in the heap array *@p p of
 * *@p cap elements: the capacity doubles, starting at @p first.  0 (*@p p
 * and *@p cap updated, the contents kept), or VG_ENOMEM (unchanged; also
 * when the size would overflow).  The one growable array of vigil.
 */
int vg_grow(void **p, size_t *cap, size_t need, size_t size, size_t first);

/**
 * A zeroed block of @p n bytes for a large table that is read at random on
 * the hot path (the cache's buckets).  From 2 MiB up it is 2 MiB-aligned and
 * asks for transparent huge pages (MADV_HUGEPAGE), so that lookups spread
 * over it do not each need a page walk; below that it is calloc.  NULL when
 * out of memory.  Freed with vg_big_free and the same @p n.
 */
#define VG_BIG_PAGE ((size_t)2 << 20)
void *vg_big_alloc(size_t n);
void vg_big_free(void *p, size_t n);

/* ---- arena: bump allocator with a byte cap, freed all at once ---- */
struct vg_arena;

/**
 * Memory that several arenas share (a worker's requests in flight): each
 * arena's chunks count in @p used, and an arena does not grow past
 * @p limit (0: no limit).  One thread uses it; nothing here locks.
 */
struct vg_arena_budget {
	size_t used, limit;
};

/**
 * New arena whose first chunk holds @p first bytes; total use capped at @p
 * cap and, with @p budget (may be NULL), counted in it: NULL when the budget
 * has no room for the first chunk either.
 */
struct vg_arena *vg_arena_new(size_t first, size_t cap, struct vg_arena_budget *budget);
void vg_arena_free(struct vg_arena *a);
/** Allocate @p n bytes (16-aligned); NULL when the cap or budget is hit or the heap is out. */
void *vg_arena_alloc(struct vg_arena *a, size_t n);
void *vg_arena_zalloc(struct vg_arena *a, size_t n);
void *vg_arena_dup(struct vg_arena *a, const void *p, size_t n);
size_t vg_arena_used(const struct vg_arena *a);
/** Did the budget (not the arena's own cap or the heap) ever refuse @p a memory? */
bool vg_arena_budget_hit(const struct vg_arena *a);

#endif
