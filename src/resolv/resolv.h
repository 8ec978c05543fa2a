/* SPDX-License-Identifier: MIT
 *
 * The resolver core: answering from cache, and iterative resolution.
 *
 * This module does no I/O (STYLE B1).  A request is driven by its owner (the
 * worker): vg_resolv_begin() and vg_resolv_consume() return a step.  On
 * VG_STEP_SEND, req->out says which server to ask what; the owner sends it and
 * feeds the outcome to vg_resolv_consume().  On VG_STEP_ANSWER the result is
 * ready for vg_resolv_write_answer().  Tests drive it with fake I/O.
 *
 * The cache-hit path, vg_resolv_answer_cached(), answers a client query from
 * the cache alone, without creating a request and without heap allocation.
 *
 * Pipeline hook points for the policy engine (issue 4) are marked "POLICY:"
 * in request.c and iterate.c: before resolution (client IP / QNAME), at every
 * CNAME step, during iteration (NS name / NS IP) and after resolution
 * (response IP).
 */
#ifndef VG_RESOLV_H
#define VG_RESOLV_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/cache.h"
#include "core/core.h"
#include "daemon/config.h"
#include "upstream/upstream.h"
#include "vigil/wire.h"

#define VG_HINTS_MAX 32

/** Root hints: the servers resolution starts from when the cache knows none. */
struct vg_hints {
	unsigned n_ns;
	uint8_t ns[VG_HINTS_MAX][VG_NAME_MAX];
	unsigned n_addr;
	struct vg_sockaddr addr[VG_HINTS_MAX * 2];
	uint8_t addr_ns[VG_HINTS_MAX * 2]; /* index of the NS name of each address */
};

/** Built-in IANA root hints. */
int vg_hints_builtin(struct vg_hints *h);
/** Load a root hints file (zone-file format, via ldns).  Errors go to @p errout. */
int vg_hints_load(struct vg_hints *h, const char *path, FILE *errout);

/** Everything a request needs from its worker; borrowed, never owned. */
struct vg_resolv_env {
	const struct vg_config *cfg;
	struct vg_cache *cache;
	const struct vg_hints *hints;
	struct vg_infra *infra;
	struct vg_msg *msg;     /* parse scratch, one per worker */
	uint8_t *scratch;       /* cache copy-out scratch, VG_SCRATCH bytes */
	uint8_t *scratch2;
	uint32_t now_s;         /* vg_time_now_s() read once per batch; 0 = read it */
};
#define VG_SCRATCH (65536 + 1024)

enum vg_step { VG_STEP_ANSWER, VG_STEP_SEND, VG_STEP_FAIL };

/** The query the core wants sent. */
struct vg_outbound {
	struct vg_sockaddr to;
	uint8_t qname[VG_NAME_MAX];
	uint16_t qtype;
	bool rd;
	uint32_t timeout_ms;
};

struct vg_task;

/** Per-request work counters, checked against the configured bounds. */
struct vg_budget {
	unsigned upstream, referrals, cnames, depth_max;
};

struct vg_request {
	struct vg_arena *arena;
	const struct vg_resolv_env *env;
	uint8_t qname[VG_NAME_MAX]; /* lower-cased */
	uint16_t qtype;
	uint64_t start_ms;

	/* result */
	int rcode;
	unsigned n_answer;
	struct vg_rrset *answer[64];
	const struct vg_rrset *soa; /* negative answers */
	const char *fail_reason;    /* for logs on SERVFAIL */
	bool fail_cached;           /* answered from the failure cache */

	struct vg_budget used;
	struct vg_outbound out;
	struct vg_task *stack[16];
	int depth; /* index of the active task */
	void *user; /* the owner's context */
};

/**
 * New request for (qname, qtype) in its own arena.  @p qname is lower-case
 * wire form.  Returns NULL when memory is short.
 */
struct vg_request *vg_request_new(const struct vg_resolv_env *env, const uint8_t *qname,
				  uint16_t qtype, uint64_t now_ms);
void vg_request_free(struct vg_request *req);

/** Start resolving: ANSWER, SEND or FAIL (FAIL still has rcode SERVFAIL set). */
enum vg_step vg_resolv_begin(struct vg_request *req, uint64_t now_ms);
/**
 * Feed the outcome of the last VG_STEP_SEND: @p status 0 with the reply in
 * @p pkt, or a negative code for a timeout / unreachable server.
 */
enum vg_step vg_resolv_consume(struct vg_request *req, int status, const uint8_t *pkt,
			       size_t len, uint64_t now_ms);

/** What the client sees: its question, flags and EDNS, and the transport limit. */
struct vg_client_q {
	const struct vg_query *q;
	size_t limit;       /* largest answer for this transport */
	uint16_t edns_size; /* UDP size we advertise in our OPT */
};

/**
 * Write the request's answer for @p cq into @p buf.  Answers over the client's
 * limit are replaced by a truncated (TC=1) reply.  Returns the length (> 0).
 */
size_t vg_resolv_write_answer(const struct vg_request *req, const struct vg_client_q *cq,
			      uint8_t *buf, size_t cap);

/**
 * Answer @p cq from the cache alone: positive RRsets (following cached CNAMEs)
 * and cached negative answers.  Returns the reply length, or 0 on a miss.
 * No heap allocation; uses env->scratch.
 */
size_t vg_resolv_answer_cached(const struct vg_resolv_env *env, const struct vg_client_q *cq,
			       uint8_t *buf, size_t cap);

/**
 * Shared answer writer: header, question (client's case), answer RRsets,
 * authority SOA, OPT.  Used by both paths above.
 */
size_t vg__resolv_write(const struct vg_client_q *cq, int rcode, struct vg_rrset *const *ans,
			unsigned nans, const struct vg_rrset *soa, uint8_t *buf, size_t cap);

#endif
