/* SPDX-License-Identifier: MIT
 *
 * Logging, clocks, randomness and the request arena.
 *
 * The arena is a list of chunks; each allocation bumps a pointer.  The byte cap
 * bounds what one client query may consume: hitting it makes the caller fail
 * that query (SERVFAIL), never the process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <syslog.h>
#include <time.h>
#include <pthread.h>

#include <sodium.h>

#include "core/core.h"

const uint32_t vg_histo_bounds_ms[VG_HISTO_BUCKETS - 1] = {
	1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000,
};

const uint32_t vg_lat_bounds_us[VG_LAT_BUCKETS - 1] = {
	50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};

const struct vg_histo_scale vg_histo_rtt_scale = {
	.bound = vg_histo_bounds_ms, .n = VG_HISTO_BUCKETS, .per_s = 1000,
};
const struct vg_histo_scale vg_histo_lat_scale = {
	.bound = vg_lat_bounds_us, .n = VG_LAT_BUCKETS, .per_s = 1000000,
};

atomic_int vg__log_level = VG_LOG_INFO;
static atomic_bool log_syslog;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void vg_log_setup(int level, bool use_syslog)
{
	if (use_syslog && !atomic_load(&log_syslog))
		openlog("vigil", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	atomic_store(&log_syslog, use_syslog);
	atomic_store(&vg__log_level, level);
}

void vg_log_write(int level, const char *fmt, ...)
{
	static const char *const names[] = { "emerg", "alert", "crit", "error",
					     "warning", "notice", "info", "debug" };
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (level < 0)
		level = 0;
	if (level > 7)
		level = 7;
	if (atomic_load_explicit(&log_syslog, memory_order_relaxed)) {
		syslog(level, "%s", line);
		return;
	}
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ vigil[%s]: %s\n",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		ts.tv_nsec / 1000000, names[level], line);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

uint32_t vg_time_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return vg_time_s_of_ms((uint64_t)ts.tv_sec * 1000);
}

uint64_t vg_time_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t vg_time_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

int vg_parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;
	if (!*s)
		return VG_EPARSE;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return VG_EPARSE;
		unsigned d = (unsigned)(*s - '0');
		if (d > max || v > (max - d) / 10)
			return VG_ELIMIT;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int vg_grow(void **p, size_t *cap, size_t need, size_t size, size_t first)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap : (first ? first : 1);
	while (nc < need) {
		if (nc > SIZE_MAX / 2)
			return VG_ENOMEM;
		nc *= 2;
	}
	if (size && nc > SIZE_MAX / size)
		return VG_ENOMEM;
	void *np = realloc(*p, nc * size);
	if (!np)
		return VG_ENOMEM;
	*p = np;
	*cap = nc;
	return 0;
}

/*
 * Query IDs, source ports and server choices take a few random bytes per
 * upstream query.  libsodium reads them from the kernel (getrandom) on every
 * call, a system call each; instead each thread draws a block at a time and
 * hands it out, wiping every byte it hands out (what was drawn before cannot
 * be read back from memory later).
 */
#define RAND_POOL 256

static _Thread_local struct {
	uint8_t buf[RAND_POOL];
	unsigned pos; /* bytes handed out */
} rand_pool = { .pos = RAND_POOL };

static void rand_take(void *out, unsigned n)
{
	if (RAND_POOL - rand_pool.pos < n) {
		randombytes_buf(rand_pool.buf, sizeof(rand_pool.buf));
		rand_pool.pos = 0;
	}
	memcpy(out, rand_pool.buf + rand_pool.pos, n);
	memset(rand_pool.buf + rand_pool.pos, 0, n);
	rand_pool.pos += n;
}

/* Uniform in [0, upper): rejection sampling, no modulo bias (as libsodium's
 * randombytes_uniform). */
uint32_t vg_rand_uniform(uint32_t upper)
{
	if (upper < 2)
		return 0;
	uint32_t min = (1U + ~upper) % upper; /* 2^32 mod upper */
	uint32_t r;
	do {
		rand_take(&r, sizeof(r));
	} while (r < min);
	return r % upper;
}

uint16_t vg_rand_u16(void)
{
	uint16_t r;
	rand_take(&r, sizeof(r));
	return r;
}

struct chunk {
	struct chunk *next;
	size_t size, used;
	_Alignas(16) uint8_t data[];
};

struct vg_arena {
	struct chunk *head;
	size_t total, cap;
	struct vg_arena_budget *budget;
	bool budget_hit;
};

static bool budget_allows(const struct vg_arena_budget *b, size_t sz)
{
	return !b || !b->limit || (b->used <= b->limit && sz <= b->limit - b->used);
}

static struct chunk *chunk_new(size_t size)
{
	struct chunk *c = malloc(sizeof(*c) + size);
	if (!c)
		return NULL;
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

struct vg_arena *vg_arena_new(size_t first, size_t cap, struct vg_arena_budget *budget)
{
	if (!budget_allows(budget, first))
		return NULL;
	struct vg_arena *a = malloc(sizeof(*a));
	if (!a)
		return NULL;
	a->head = chunk_new(first);
	if (!a->head) {
		free(a);
		return NULL;
	}
	a->total = first;
	a->cap = cap < first ? first : cap;
	a->budget = budget;
	a->budget_hit = false;
	if (budget)
		budget->used += first;
	return a;
}

void vg_arena_free(struct vg_arena *a)
{
	if (!a)
		return;
	if (a->budget)
		a->budget->used -= a->total;
	struct chunk *c = a->head;
	while (c) {
		struct chunk *n = c->next;
		free(c);
		c = n;
	}
	free(a);
}

void *vg_arena_alloc(struct vg_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct chunk *c = a->head;
	if (c->size - c->used < n) {
		size_t sz = c->size * 2;
		if (sz < n)
			sz = n;
		if (a->total + sz > a->cap) {
			sz = n > 4096 ? n : 4096;
			if (a->total + sz > a->cap)
				return NULL;
		}
		if (!budget_allows(a->budget, sz)) {
			a->budget_hit = true;
			return NULL;
		}
		struct chunk *nc = chunk_new(sz);
		if (!nc)
			return NULL;
		nc->next = a->head;
		a->head = nc;
		a->total += sz;
		if (a->budget)
			a->budget->used += sz;
		c = nc;
	}
	void *p = c->data + c->used;
	c->used += n;
	return p;
}

void *vg_arena_zalloc(struct vg_arena *a, size_t n)
{
	void *p = vg_arena_alloc(a, n);
	if (p)
		memset(p, 0, n);
	return p;
}

void *vg_arena_dup(struct vg_arena *a, const void *p, size_t n)
{
	void *q = vg_arena_alloc(a, n ? n : 1);
	if (q && n)
		memcpy(q, p, n);
	return q;
}

size_t vg_arena_used(const struct vg_arena *a)
{
	return a->total;
}

bool vg_arena_budget_hit(const struct vg_arena *a)
{
	return a->budget_hit;
}

void *vg_big_alloc(size_t n)
{
	if (n < VG_BIG_PAGE)
		return calloc(1, n ? n : 1);
	if (n > SIZE_MAX - 2 * VG_BIG_PAGE)
		return NULL;
	size_t len = (n + VG_BIG_PAGE - 1) & ~(VG_BIG_PAGE - 1);
	/* map one huge page more, then cut the ends off to align it */
	uint8_t *m = mmap(NULL, len + VG_BIG_PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	uintptr_t a = ((uintptr_t)m + VG_BIG_PAGE - 1) & ~(uintptr_t)(VG_BIG_PAGE - 1);
	uint8_t *p = (uint8_t *)a;
	if (p > m)
		munmap(m, (size_t)(p - m));
	if (m + len + VG_BIG_PAGE > p + len)
		munmap(p + len, (size_t)(m + len + VG_BIG_PAGE - (p + len)));
	(void)madvise(p, len, MADV_HUGEPAGE); /* advice: without THP, small pages */
	return p;
}

void vg_big_free(void *p, size_t n)
{
	if (!p)
		return;
	if (n < VG_BIG_PAGE) {
		free(p);
		return;
	}
	munmap(p, (n + VG_BIG_PAGE - 1) & ~(VG_BIG_PAGE - 1));
}
