/* SPDX-License-Identifier: MIT
 *
 * The bounded SPSC ring of ring.h.  head and tail are byte counts that only
 * grow (64 bits: they never wrap); a record is an 8-byte header (its length,
 * or PAD for the unused end of the buffer before a wrap) and its bytes,
 * 8-byte aligned.  The producer owns head, the consumer tail; each reads the
 * other's with acquire and publishes its own with release.  The producer
 * keeps the tail it saw last and loads it again only when the ring looks
 * full by it (the consumer's cache line is not read for every record).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/ring.h"

#define HDR 8u
#define PAD UINT32_MAX

struct vg_ring {
	_Alignas(64) _Atomic uint64_t head; /* producer: bytes published */
	uint64_t res_head;                  /* producer: where the reserved record starts */
	uint64_t tail_seen;                 /* producer: tail when it last loaded it */
	_Alignas(64) _Atomic uint64_t tail; /* consumer: bytes released */
	uint64_t peek_len;                  /* consumer: the peeked record's room */
	_Alignas(64) _Atomic uint64_t dropped;
	size_t size; /* power of two */
	uint8_t *buf;
};

static size_t round8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

struct vg_ring *vg_ring_new(size_t bytes)
{
	size_t size = 4096;
	while (size < bytes && size < ((size_t)1 << 40))
		size <<= 1;
	struct vg_ring *r = aligned_alloc(64, sizeof(*r));
	if (!r)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->size = size;
	r->buf = aligned_alloc(64, size);
	if (!r->buf) {
		free(r);
		return NULL;
	}
	return r;
}

void vg_ring_free(struct vg_ring *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r);
}

size_t vg_ring_max_record(const struct vg_ring *r)
{
	return r->size / 2 - HDR;
}

void *vg_ring_reserve(struct vg_ring *r, size_t len)
{
	uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t need = HDR + round8(len), pos = (size_t)(h & (r->size - 1));
	size_t to_end = r->size - pos, pad = need > to_end ? to_end : 0;

	/* the tail seen last is at or behind the real one (it only grows), and
	 * the consumer let go of every byte before it (acquired then): load it
	 * again only when the ring looks too full by it */
	if (len > vg_ring_max_record(r))
		goto drop;
	if (r->size - (size_t)(h - r->tail_seen) < pad + need) {
		r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (r->size - (size_t)(h - r->tail_seen) < pad + need)
			goto drop;
	}
	if (pad) { /* the record does not fit before the end: skip it */
		uint32_t mark = PAD;
		memcpy(r->buf + pos, &mark, sizeof(mark));
		pos = 0;
	}
	r->res_head = h + pad;
	return r->buf + pos + HDR;
drop:
	atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
	return NULL;
}

void vg_ring_commit(struct vg_ring *r, size_t len)
{
	size_t pos = (size_t)(r->res_head & (r->size - 1));
	uint32_t l = (uint32_t)len;
	memcpy(r->buf + pos, &l, sizeof(l));
	atomic_store_explicit(&r->head, r->res_head + HDR + round8(len), memory_order_release);
}

void vg_ring_drop(struct vg_ring *r)
{
	atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
}

const void *vg_ring_peek(struct vg_ring *r, size_t *len)
{
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
	for (;;) {
		if (t == h)
			return NULL;
		size_t pos = (size_t)(t & (r->size - 1));
		uint32_t l;
		memcpy(&l, r->buf + pos, sizeof(l));
		if (l == PAD) { /* on to the start of the buffer */
			t += r->size - pos;
			atomic_store_explicit(&r->tail, t, memory_order_release);
			continue;
		}
		r->peek_len = HDR + round8(l);
		*len = l;
		return r->buf + pos + HDR;
	}
}

void vg_ring_release(struct vg_ring *r)
{
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	atomic_store_explicit(&r->tail, t + r->peek_len, memory_order_release);
	r->peek_len = 0;
}

uint64_t vg_ring_dropped(const struct vg_ring *r)
{
	return atomic_load_explicit(&((struct vg_ring *)r)->dropped, memory_order_relaxed);
}
