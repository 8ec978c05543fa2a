/* SPDX-License-Identifier: MIT
 *
 * A bounded single-producer, single-consumer ring of variable-sized records
 * (ring.c), for logs that a worker must never wait for: the worker reserves
 * room for a record, fills it and commits it with one release store, or,
 * when the ring is full, the record is counted as dropped.  One consumer
 * thread peeks and releases records in order.  No lock, no allocation after
 * vg_ring_new().
 *
 * Used by the policy decision log (src/policy/plog.c) and the query log
 * (src/qlog): one ring per worker, one writer thread draining them all.
 */
#ifndef VG_RING_H
#define VG_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vg_ring;

/** A ring of @p bytes (rounded up to a power of two, at least 4 KiB); NULL: no memory. */
struct vg_ring *vg_ring_new(size_t bytes);
void vg_ring_free(struct vg_ring *r);

/* ---- the producer (one thread) ---- */
/**
 * Room for a record of up to @p len bytes (8-byte aligned), or NULL when the
 * ring is full (the record counts as dropped).  Nothing is visible to the
 * consumer before vg_ring_commit().
 */
void *vg_ring_reserve(struct vg_ring *r, size_t len);
/** Publish the reserved record with its actual length @p len (<= the reserved one). */
void vg_ring_commit(struct vg_ring *r, size_t len);
/** Count a record dropped for another reason (it did not fit its format). */
void vg_ring_drop(struct vg_ring *r);

/* ---- the consumer (one thread) ---- */
/** The oldest record and its length, or NULL when the ring is empty. */
const void *vg_ring_peek(struct vg_ring *r, size_t *len);
/** Done with the record vg_ring_peek() returned: its room goes back to the producer. */
void vg_ring_release(struct vg_ring *r);

/* ---- any thread ---- */
uint64_t vg_ring_dropped(const struct vg_ring *r);
/** The largest record the ring can hold. */
size_t vg_ring_max_record(const struct vg_ring *r);

#endif
