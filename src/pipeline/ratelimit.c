/* SPDX-License-Identifier: MIT
 *
 * Per-client UDP rate limiting: shared token buckets (see ratelimit.h).
 *
 * A bucket is one 64-bit word: the time of its last update (milliseconds,
 * the low 32 bits of the clock) above its tokens in thousandths.  A word of
 * 0 is a bucket never used: full.  Updates are compare-and-swap loops, so
 * workers never wait for each other.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/core.h"
#include "pipeline/ratelimit.h"

struct vg_ratelimit {
	unsigned mask;
	uint64_t key;
	_Atomic uint64_t bucket[];
};

struct vg_ratelimit *vg_rl_new(unsigned buckets)
{
	if (!buckets || (buckets & (buckets - 1)))
		return NULL;
	struct vg_ratelimit *rl = calloc(1, sizeof(*rl) + buckets * sizeof(rl->bucket[0]));
	if (!rl)
		return NULL;
	rl->mask = buckets - 1;
	randombytes_buf(&rl->key, sizeof(rl->key));
	return rl;
}

void vg_rl_free(struct vg_ratelimit *rl)
{
	free(rl);
}

/* The bucket of the client's prefix. */
static unsigned bucket_of(const struct vg_ratelimit *rl, const struct vg_rl_opts *o,
			  const struct sockaddr *sa)
{
	return (unsigned)vg_addr_prefix_hash(sa, o->v4_prefix, o->v6_prefix, rl->key) & rl->mask;
}

static bool exempt(const struct vg_rl_opts *o, const struct sockaddr *sa)
{
	return o->n_exempt &&
	       vg_prefix_longest(o->exempt, o->n_exempt, sizeof(o->exempt[0]), sa) >= 0;
}

enum vg_rl_verdict vg_rl_check(struct vg_ratelimit *rl, const struct vg_rl_opts *o,
			       const struct sockaddr *sa, uint64_t now_ms, unsigned *slip_count)
{
	if (!rl || !o->qps || exempt(o, sa))
		return VG_RL_PASS;
	_Atomic uint64_t *b = &rl->bucket[bucket_of(rl, o, sa)];
	uint32_t now = (uint32_t)now_ms;
	uint64_t full = (uint64_t)o->burst * 1000;
	uint64_t old = atomic_load_explicit(b, memory_order_relaxed), upd;
	bool pass;
	do {
		uint64_t tokens;
		uint32_t ts = now;
		if (old == 0) {
			tokens = full; /* never used */
		} else {
			/* workers' clocks differ by a few milliseconds: an update
			 * from the past refills nothing and keeps the newer time */
			int32_t d = (int32_t)(now - (uint32_t)(old >> 32));
			tokens = old & 0xffffffffu;
			if (d < 0)
				ts = (uint32_t)(old >> 32);
			else if (d > 3600000)
				tokens = full; /* idle for an hour (or the 32-bit clock wrapped) */
			else
				tokens += (uint64_t)d * o->qps;
			if (tokens > full)
				tokens = full;
		}
		pass = tokens >= 1000;
		if (pass)
			tokens -= 1000;
		upd = (uint64_t)ts << 32 | tokens;
		if (upd == 0)
			upd = 1; /* (0 means "never used") */
	} while (!atomic_compare_exchange_weak_explicit(b, &old, upd, memory_order_relaxed,
							memory_order_relaxed));
	if (pass)
		return VG_RL_PASS;
	++*slip_count;
	return o->slip && *slip_count % o->slip == 0 ? VG_RL_SLIP : VG_RL_DROP;
}
