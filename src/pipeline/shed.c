/* SPDX-License-Identifier: MIT
 *
 * Fair load shedding per worker (see shed.h).
 *
 * A slot is a count and a list of requests, oldest first.  Finding the
 * slot that holds the most is a scan of the counts, done only when the
 * worker is full and the others together hold enough for one of them to
 * outweigh the newcomer (a few microseconds for 4096 slots, against the
 * milliseconds a cache miss costs); a flood from one client is refused
 * without it.
 */
#include <stdlib.h>

#include <sodium.h>

#include "core/addr.h"
#include "pipeline/shed.h"

struct vg_shed {
	uint64_t key;
	uint32_t total; /* requests counted in all slots */
	uint32_t count[VG_SHED_SLOTS];
	struct vg_shed_link *head[VG_SHED_SLOTS], *tail[VG_SHED_SLOTS];
};

struct vg_shed *vg_shed_new(void)
{
	struct vg_shed *s = calloc(1, sizeof(*s));
	if (s)
		randombytes_buf(&s->key, sizeof(s->key));
	return s;
}

void vg_shed_free(struct vg_shed *s)
{
	free(s);
}

uint32_t vg_shed_slot(const struct vg_shed *s, const struct sockaddr *sa, unsigned v4_bits,
		      unsigned v6_bits)
{
	return (uint32_t)vg_addr_prefix_hash(sa, v4_bits, v6_bits, s->key) & (VG_SHED_SLOTS - 1);
}

void vg_shed_add(struct vg_shed *s, struct vg_shed_link *l, uint32_t slot)
{
	slot &= VG_SHED_SLOTS - 1;
	l->slot = slot;
	l->next = NULL;
	l->prev = s->tail[slot];
	if (l->prev)
		l->prev->next = l;
	else
		s->head[slot] = l;
	s->tail[slot] = l;
	s->count[slot]++;
	s->total++;
	l->on = true;
}

void vg_shed_del(struct vg_shed *s, struct vg_shed_link *l)
{
	if (!l->on)
		return;
	if (l->prev)
		l->prev->next = l->next;
	else
		s->head[l->slot] = l->next;
	if (l->next)
		l->next->prev = l->prev;
	else
		s->tail[l->slot] = l->prev;
	s->count[l->slot]--;
	s->total--;
	l->next = l->prev = NULL;
	l->on = false;
}

unsigned vg_shed_count(const struct vg_shed *s, uint32_t slot)
{
	return s->count[slot & (VG_SHED_SLOTS - 1)];
}

struct vg_shed_link *vg_shed_victim(const struct vg_shed *s, uint32_t slot)
{
	uint32_t mine = s->count[slot & (VG_SHED_SLOTS - 1)];
	if (s->total - mine < mine + 2)
		return NULL; /* no other slot can hold two more (a flood from one client) */
	uint32_t best = 0, most = 0;
	for (uint32_t i = 0; i < VG_SHED_SLOTS; i++) {
		if (s->count[i] > most) {
			most = s->count[i];
			best = i;
		}
	}
	if (most < mine + 2)
		return NULL; /* the newcomer has its share already */
	return s->head[best];
}
