/* SPDX-License-Identifier: MIT
 *
 * Fair load shedding: which client gives way when a worker's request table
 * (limits.max-requests) or its requests' memory (limits.request-memory) is
 * full.
 *
 * Each worker counts its requests in flight per client prefix (the rate
 * limit's prefix lengths: an IPv4 /32 and an IPv6 /56 by default), and keeps
 * each prefix's requests oldest first.  When a new query would need a
 * request and the worker is full, the prefix holding the most requests
 * gives way: if it holds at least two more than the newcomer's prefix, its
 * oldest request ends (SERVFAIL) and the newcomer gets the place; otherwise
 * the newcomer is refused (SERVFAIL at once).  So under overload the table
 * is shared out evenly among the clients asking, a client flooding it with
 * cache misses loses its own requests first, and the outcome depends only
 * on the counts (deterministic).  Cached answers never need a request and
 * are never shed.
 *
 * Clients are hashed into a fixed table with a random key; two prefixes in
 * one slot are counted as one client (stricter for both, never looser).
 * One table per worker, used by its thread only: no lock, no allocation
 * after vg_shed_new.
 */
#ifndef VG_PIPELINE_SHED_H
#define VG_PIPELINE_SHED_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define VG_SHED_SLOTS 4096 /* client slots per worker (a power of two) */

/** Membership of one request in its client's list (embedded in the request). */
struct vg_shed_link {
	struct vg_shed_link *next, *prev; /* next: younger */
	uint32_t slot;
	bool on;                          /* counted (in a list) */
};

struct vg_shed;

/** A table for one worker; NULL when out of memory. */
struct vg_shed *vg_shed_new(void);
void vg_shed_free(struct vg_shed *s);

/** The slot of client @p sa, by the prefix lengths @p v4_bits and @p v6_bits. */
uint32_t vg_shed_slot(const struct vg_shed *s, const struct sockaddr *sa, unsigned v4_bits,
		      unsigned v6_bits);

/** Count request @p l (not counted yet) for @p slot, as its youngest. */
void vg_shed_add(struct vg_shed *s, struct vg_shed_link *l, uint32_t slot);
/** The request @p l ends: no longer counted (no-op when it is not). */
void vg_shed_del(struct vg_shed *s, struct vg_shed_link *l);
/** Requests counted for @p slot. */
unsigned vg_shed_count(const struct vg_shed *s, uint32_t slot);

/**
 * The worker is full and a client in @p slot wants a request: the request
 * that gives way (the oldest of the slot holding the most, when that holds
 * at least two more than @p slot), or NULL: refuse the newcomer.
 */
struct vg_shed_link *vg_shed_victim(const struct vg_shed *s, uint32_t slot);

#endif
