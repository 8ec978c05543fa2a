/* SPDX-License-Identifier: MIT
 *
 * Per-client rate limiting of UDP queries, so that vigil cannot be used to
 * reflect and amplify traffic at a spoofed victim (../shared/ATTACKS.md 12).
 *
 * Each client prefix (an IPv4 /32 and an IPv6 /56 by default) has a token
 * bucket: `queries-per-second` tokens a second up to `burst`.  A UDP query
 * without a token is not answered in full: every `slip`-th one gets an
 * empty truncated answer (TC=1), so a real client retries over TCP, which
 * a spoofed source cannot; the others get nothing.  TCP, DoT and DoH are
 * not limited (their source address is verified by the handshake).
 * Loopback is exempt by default.
 *
 * The buckets are shared by every worker (a client's packets reach several
 * of them): a fixed table of 64-bit words updated with compare-and-swap, no
 * lock, no allocation.  Clients are hashed into it with a random key; two
 * clients in one bucket share its tokens (stricter, never looser).  The
 * clock is the caller's (milliseconds), so unit tests drive it.
 */
#ifndef VG_PIPELINE_RATELIMIT_H
#define VG_PIPELINE_RATELIMIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/addr.h"

#define VG_RL_MAX_EXEMPT 16
#define VG_RL_BUCKETS 65536 /* the table: 512 KiB, shared by the workers */

/** The rate-limit section of the configuration. */
struct vg_rl_opts {
	unsigned qps;          /* tokens a second per client prefix; 0 = no limit (default 1000) */
	unsigned burst;        /* bucket size (default 2000) */
	unsigned slip;         /* every slip-th limited query gets TC=1; 0 none (default 2) */
	unsigned v4_prefix;    /* 1..32 (default 32) */
	unsigned v6_prefix;    /* 1..128 (default 56) */
	struct vg_prefix exempt[VG_RL_MAX_EXEMPT]; /* default 127.0.0.0/8, ::1/128 */
	size_t n_exempt;
};

struct vg_ratelimit;

/** A table of @p buckets buckets (a power of two).  NULL: no memory. */
struct vg_ratelimit *vg_rl_new(unsigned buckets);
void vg_rl_free(struct vg_ratelimit *rl);

enum vg_rl_verdict { VG_RL_PASS = 0, VG_RL_SLIP, VG_RL_DROP };

/**
 * May client @p sa ask now (@p now_ms)?  PASS, or for a limited query SLIP
 * (send an empty TC=1 answer) or DROP (send nothing).  @p slip_count is the
 * caller's counter of limited queries (one per worker), for the slip rate.
 */
enum vg_rl_verdict vg_rl_check(struct vg_ratelimit *rl, const struct vg_rl_opts *o,
			       const struct sockaddr *sa, uint64_t now_ms, unsigned *slip_count);

#endif
