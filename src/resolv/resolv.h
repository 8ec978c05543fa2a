/* SPDX-License-Identifier: MIT
 *
 * The resolver core: answering from cache, and iterative resolution.
 *
 * This module does no I/O (STYLE B1).  A request is driven by its owner (the
 * request pipeline, src/pipeline): vg_resolv_begin() and vg_resolv_consume()
 * return a step.  On VG_STEP_SEND, req->out says which server to ask what;
 * the owner sends it and feeds the outcome to vg_resolv_consume().  On
 * VG_STEP_ANSWER the result is ready for vg_resolv_write_answer().  The core
 * reads the clock only through its environment (env->now_s, now_ms,
 * now_wall), which the owner sets before each call, so tests drive it with
 * fake I/O and fake time.
 *
 * The cache-hit path, vg_resolv_answer_cached(), answers a client query from
 * the cache alone, without creating a request and without heap allocation.
 */
#ifndef VG_RESOLV_H
#define VG_RESOLV_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/cache.h"
#include "core/addr.h"
#include "core/core.h"
#include "dnssec/dnssec.h"
#include "dnssec/ta.h"
#include "upstream/upstream.h"
#include "vigil/wire.h"

#define VG_RESOLV_MAX_FORWARDS 32
#define VG_RESOLV_MAX_FORWARD_ADDRS 16

/**
 * forward-zones[]: a zone whose queries go to fixed servers.  With @p tls,
 * over DNS over TLS only (RFC 7858; the upstream module never falls back to
 * cleartext), each upstream authenticated by its name in tls_names[] (its
 * certificate, verified against tls_ca_file or the system's CA store, must
 * carry it) and/or by the zone's SPKI pins; the config refuses a TLS
 * upstream with neither.
 */
struct vg_forward_zone {
	uint8_t zone[VG_NAME_MAX]; /* wire format, lower-case, "." is {0} */
	size_t zone_len;
	struct vg_sockaddr upstreams[VG_RESOLV_MAX_FORWARD_ADDRS]; /* default port 53, 853 */
	size_t n_upstreams;
	bool tls;
	char tls_names[VG_RESOLV_MAX_FORWARD_ADDRS][VG_UPSTREAM_TLS_NAME_MAX]; /* "" none */
	char spki_pins[VG_UPSTREAM_TLS_PINS_MAX]; /* base64, separated by spaces; "" none */
	char tls_ca_file[VG_UPSTREAM_TLS_PATH_MAX]; /* "" the system's CA store */
};

/** The resolver's settings (resolver, limits and forward-zones sections). */
struct vg_resolv_opts {
	bool allow_query_localhost; /* upstreams on 127/8, ::1; default false */
	bool allow_query_private;   /* upstreams on RFC 1918, fc00::/7 etc.; default true */
	bool qname_minimisation;    /* default true */
	bool prime_root;            /* a priming query at start; default true */
	bool prefetch;              /* refresh entries asked for near expiry; default false */
	bool serve_stale;           /* RFC 8767; default false */
	uint32_t serve_stale_max;   /* seconds past expiry data may be served, default 1 day */
	unsigned stale_answer_timeout_ms; /* client response timer, default 1800; 0: stale
					   * only when resolution fails */
	bool use_ipv6_upstream;     /* default true */
	unsigned max_upstream_queries; /* per client query, default 200 */
	unsigned max_subquery_depth;   /* default 8 */
	unsigned max_referrals;        /* default 30 */
	unsigned max_cname_chain;      /* default 11 */
	unsigned max_glueless_ns;      /* glue-less NS names resolved per delegation, default 5 */
	unsigned upstream_timeout_ms;  /* first try to an unknown server, default 400 */
	uint32_t servfail_ttl;         /* failure caching, RFC 9520 (cache.servfail-ttl); 5 */
	struct vg_forward_zone forwards[VG_RESOLV_MAX_FORWARDS];
	size_t n_forwards;
};

#define VG_HINTS_MAX 32

/** Root hints: the servers resolution starts from when the cache knows none. */
struct vg_hints {
	unsigned n_ns;
	uint8_t ns[VG_HINTS_MAX][VG_NAME_MAX];
	unsigned n_addr;
	struct vg_sockaddr addr[VG_HINTS_MAX * 2];
	uint8_t addr_ns[VG_HINTS_MAX * 2]; /* index of the NS name of each address */
	/* DNSSEC trust anchors: loaded and swapped with the hints, as one
	 * snapshot of where resolution and validation start */
	struct vg_ta_set ta;
	/* the compiled policy (src/policy/engine.h), NULL when none is configured */
	struct vg_policy *policy;
	bool owns_policy; /* false in copies that share it */
};

/** Built-in IANA root hints. */
int vg_hints_builtin(struct vg_hints *h);
/** Load a root hints file (zone-file format, via ldns).  Errors go to @p errout. */
int vg_hints_load(struct vg_hints *h, const char *path, FILE *errout);

/** Everything a request needs from its worker; borrowed, never owned. */
struct vg_resolv_env {
	const struct vg_resolv_opts *opts;
	const struct vg_dnssec_opts *dnssec;
	struct vg_cache *cache;
	const struct vg_hints *hints;
	const struct vg_ta_set *ta;  /* trust anchors (with the hints snapshot) */
	struct vg_keycache *keys;    /* parsed DNSKEYs, per worker (may be NULL) */
	struct vg_infra *infra;
	struct vg_arena_budget *req_mem; /* requests' memory, per worker (may be NULL) */
	struct vg_msg *msg;     /* parse scratch, one per worker */
	uint8_t *scratch;       /* cache copy-out scratch, VG_SCRATCH bytes */
	uint8_t *scratch2;
	/* the clock, set by the owner before every call into the core */
	uint64_t now_ms;        /* monotonic milliseconds */
	uint32_t now_s;         /* monotonic seconds (cache ages; vg_time_s_of_ms(now_ms)) */
	uint32_t now_wall;      /* wall-clock seconds (signature validity periods) */
};
#define VG_SCRATCH (65536 + 1024)

/* VG_STEP_YIELD: the request stopped in the middle of its validation to
 * let the worker serve others (validate.c, "Slices"): call vg_resolv_resume
 * after the worker's next poll. */
enum vg_step { VG_STEP_ANSWER, VG_STEP_SEND, VG_STEP_FAIL, VG_STEP_YIELD };
/* signature verifications a request does each time it runs (validate.c) */
#define VG_VAL_SLICE 2
/* RRsets verified in earlier slices of one answer RRset's or one proof's
 * check, remembered: the RRset, a proof's SOA and authority RRsets */
#define VG_VOK_MAX (VG_AUTH_MAX + 2)

/** The query the core wants sent. */
struct vg_outbound {
	struct vg_sockaddr to;
	uint8_t qname[VG_NAME_MAX];
	uint16_t qtype;
	bool rd;
	bool do_bit; /* ask for DNSSEC records (validation is on) */
	uint32_t timeout_ms;
	/* a forward zone's DoT upstream: over TLS only, authenticated as in
	 * @p tls (strings borrowed from the options the request runs with) */
	bool use_tls;
	struct vg_upstream_tls tls;
};

/** Which server sent a piece of data (unset: it came from the cache). */
struct vg_origin {
	bool set;
	struct vg_sockaddr addr;
};

/*
 * What one task found, kept for the validator: the RRset and its RRSIGs, or
 * for a negative answer the SOA and the NSEC/NSEC3 records (with their
 * RRSIGs) that prove it.  rs/sig and auth[]/auth_sig[] are parallel.
 */
#define VG_AUTH_MAX 16
struct vg_result {
	int rcode;                 /* NOERROR, NXDOMAIN or SERVFAIL */
	bool negative;
	uint8_t sec;               /* status the cache had for it (enum vg_sec) */
	uint16_t ede;
	struct vg_rrset *rs, *sig; /* positive */
	struct vg_rrset *soa, *soa_sig;
	unsigned n_auth;
	struct vg_rrset *auth[VG_AUTH_MAX], *auth_sig[VG_AUTH_MAX];
	const uint8_t *zone;       /* zone cut the answer came from ("" unknown) */
	const uint8_t *name;       /* the name it is about */
	uint16_t type;
	struct vg_origin from;     /* the server that sent it */
};

/** A DS or DNSKEY answer fetched for the validator in this request. */
struct vg_fetch {
	struct vg_fetch *next;
	uint16_t type;
	struct vg_result res;
};

struct vg_zkeys;

struct vg_task;

/*
 * A bogus answer (RFC 4035 5.5) is not final while the zone has other
 * servers: the data the validator found bogus is dropped from the request
 * and the cache, the servers that sent it are not asked again for that zone
 * in this request, and the question is resolved again, at most
 * VG_RESOLV_BOGUS_RETRIES times (as Unbound's val-max-restart).  Every
 * query of a retry counts against max_upstream_queries.
 */
#define VG_RESOLV_BOGUS_RETRIES 3
#define VG_BLAME_MAX 8
#define VG_SHUN_MAX (VG_BLAME_MAX * VG_RESOLV_BOGUS_RETRIES)

/** Data the validator found bogus: its cache key, the zone it came from, its server. */
struct vg_blame {
	const uint8_t *name;
	uint16_t type;             /* cache key: 0 for an NXDOMAIN */
	const uint8_t *zone;       /* zone cut it was asked of (NULL unknown) */
	struct vg_origin from;
};

/** A server not to ask for @p zone again in this request (it sent bogus data). */
struct vg_shun {
	struct vg_sockaddr addr;
	const uint8_t *zone;
};

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
	const char *ede_text;       /* EXTRA-TEXT of the EDE (NULL: the code's standard
				     * text); with ede 0, EDE 0 "Other Error" */
	/* what the servers asked for this request did (for a failure's EDE) */
	struct {
		unsigned timeouts, neterr, refused, lame, malformed;
		int last_err; /* the last network error (negative errno) */
	} up;
	bool fail_cached;           /* answered from the failure cache */
	bool refresh;               /* prefetch: the client's question is not answered
				     * from the cache, it is asked again */

	/* DNSSEC */
	bool cd;                    /* client set CD: answer without validating */
	bool validate;              /* validation applies to this request */
	uint8_t sec;                /* status of the whole answer (enum vg_sec) */
	uint16_t ede;               /* Extended DNS Error for the client, 0 = none */
	struct vg_rrset *answer_sig[64];
	uint8_t answer_sec[64];
	const uint8_t *answer_zone[64];
	bool answer_synth[64];      /* CNAME synthesized from a DNAME */
	struct vg_result neg;       /* final negative answer / wildcard proofs */
	struct vg_fetch *fetched;
	struct vg_zkeys *zkeys;     /* keys found valid or not, per zone (validate.c) */
	unsigned n_fetches;
	struct vg_val_budget vbudget;
	struct { /* verified in this check (validate.c, "Slices") */
		const struct vg_rrset *rs, *sig;
		const struct vg_zkeys *zk;
	} vok[VG_VOK_MAX];
	unsigned n_vok;
	unsigned slice_rrs;         /* records of the reply this run parsed (bogus.c) */
	unsigned nsec3_hashes_left;
	bool aggressive;            /* answered from validated NSEC ranges (RFC 8198) */
	struct vg_origin answer_from[64];
	struct vg_blame blame[VG_BLAME_MAX]; /* this validation's bogus data */
	unsigned n_blame;
	struct vg_shun shun[VG_SHUN_MAX];
	unsigned n_shun;
	unsigned bogus_retries;     /* resolutions redone after a bogus answer */
	uint16_t bogus_ede;         /* the first bogus answer's EDE */

	struct vg_budget used;
	struct vg_outbound out;
	struct vg_task *stack[16];
	int depth; /* index of the active task */
	void *user; /* the owner's context */
};

/* validate.c: run the validator over a finished answer.  0 done (req->sec,
 * req->ede set), 1 a DS/DNSKEY must be fetched first (@p name, @p type), 2
 * the slice ran out (run it again later). */
int vg__val_run(struct vg_request *req, uint8_t *name, uint16_t *type);
void vg__val_cleanup(struct vg_request *req);
/* Pack / unpack proof records for the cache (no allocation when unpacking).
 * Unpacking appends to r->auth[] (up to VG_AUTH_MAX), the RRsets in @p store,
 * and returns how many of its @p store_n slots it used. */
size_t vg__proof_pack(const struct vg_result *r, uint8_t *buf, size_t cap);
unsigned vg__proof_unpack(const uint8_t *p, size_t len, struct vg_result *r,
			  struct vg_rrset *store, unsigned store_n);

/* A cache entry of a private-use type (RFC 6895), kept at glue rank so that
 * it is never served to a client: "this name is no zone cut, do not minimise
 * through it again" (iterate.c, no_cut). */
#define VG_T_PRIV_NOCUT 65300

/* bogus.c: after a bogus answer.  The validation budgets of one client
 * query (set once: retries spend what is left); whether a server is kept
 * from being asked again for @p zone in this request; forget what the
 * validator blamed (dropped from the cache, its servers shunned for their
 * zone) and the answer's bogus parts: true if a retry can make progress,
 * @p shunned_now the servers shunned by this call; log the retry. */
void vg__budget_init(struct vg_request *req);
void vg__budget_slice(struct vg_request *req); /* a new slice (validate.c, "Slices") */
bool vg__shunned(const struct vg_request *req, const struct vg_sockaddr *sa, const uint8_t *zone);
bool vg__bogus_forget(struct vg_request *req, unsigned *shunned_now);
void vg__bogus_log(const struct vg_request *req, unsigned shunned_now);

/* rrsets.c: the RRsets of a request, out of a response (@p sec, its owner
 * and type; decompressed into the arena, duplicates dropped) or the cache
 * (vg__rrset_dup), and the proofs that go with them. */
struct vg_rrset *vg__rrset_dup(struct vg_request *req, const struct vg_rrset *rs);
struct vg_rrset *vg__collect(struct vg_request *req, const struct vg_msg *m, int sec,
			     const uint8_t *owner, uint16_t type);
/* The RRSIGs covering (owner, type), when validating (else NULL). */
struct vg_rrset *vg__collect_sigs(struct vg_request *req, const struct vg_msg *m, int sec,
				  const uint8_t *owner, uint16_t type);
/* The in-bailiwick NSEC/NSEC3 records (and RRSIGs) of the authority section,
 * and the SOA's RRSIGs, into @p r: a negative or wildcard answer's proof. */
void vg__collect_proof(struct vg_request *req, const struct vg_msg *m, const uint8_t *bailiwick,
		       struct vg_result *r);
bool vg__proof_has(const struct vg_result *r, uint16_t type, const uint8_t *owner);
/* @p from's proof records not in @p to yet, appended; @p dup: copied into
 * the arena with TTLs at most @p ttl (borrowed cache records).  0 or VG_ENOMEM. */
int vg__proof_add(struct vg_request *req, struct vg_result *to, const struct vg_result *from,
		  bool dup, uint32_t ttl);
/* Is @p rs, signed by @p sig, a wildcard expansion (RFC 4035 5.3.4)? */
bool vg__is_expansion(const struct vg_rrset *rs, const struct vg_rrset *sig);
const uint8_t *vg__first_rdata(const struct vg_rrset *rs, uint16_t *len);
/* The target of a CNAME/DNAME RRset's first record, or NULL. */
const uint8_t *vg__rrset_target(const struct vg_rrset *rs);
/* RFC 2308: the smaller of the SOA's TTL and its MINIMUM. */
uint32_t vg__soa_negative_ttl(const struct vg_rrset *soa);
/* The in-bailiwick SOA of the authority section above @p name, or NULL. */
struct vg_rrset *vg__find_soa(struct vg_request *req, const struct vg_msg *m,
			      const uint8_t *bailiwick, const uint8_t *name);
/* A DNAME of the answer section at a proper ancestor of @p name, or NULL. */
struct vg_rrset *vg__find_dname(struct vg_request *req, const struct vg_msg *m,
				const uint8_t *name, const uint8_t *bailiwick);

/**
 * New request for (qname, qtype) in its own arena.  @p qname is lower-case
 * wire form.  Returns NULL when memory is short.
 */
struct vg_request *vg_request_new(const struct vg_resolv_env *env, const uint8_t *qname,
				  uint16_t qtype);
void vg_request_free(struct vg_request *req);

/** Start resolving: ANSWER, SEND or FAIL (FAIL still has rcode SERVFAIL set). */
enum vg_step vg_resolv_begin(struct vg_request *req);
/**
 * Feed the outcome of the last VG_STEP_SEND: @p status 0 with the reply in
 * @p pkt, or a negative code for a timeout / unreachable server.
 */
enum vg_step vg_resolv_consume_parsed(struct vg_request *req, int status, const uint8_t *pkt,
				      size_t len, struct vg_msg *m);
/* (with @p m: the reply already parsed, vg_msg_parse of @p pkt and @p len; it
 * may have its owners hashed, vg_msg_hash_owners, nothing more) */
static inline enum vg_step vg_resolv_consume(struct vg_request *req, int status,
					     const uint8_t *pkt, size_t len)
{
	return vg_resolv_consume_parsed(req, status, pkt, len, NULL);
}
/** Go on after VG_STEP_YIELD (after the owner's next poll for I/O). */
enum vg_step vg_resolv_resume(struct vg_request *req);

/**
 * The request ran out of time (the owner's time limit): it fails with
 * SERVFAIL, an EDE saying why (22 when its servers timed out, 23 on network
 * errors, else 0 with the text) and a failure-cache entry (RFC 9520).  The
 * owner cancels the upstream query in flight and answers.
 */
void vg_resolv_expire(struct vg_request *req);
/**
 * The owner ends the request for a reason of its own, not the name's (load
 * shedding): SERVFAIL with EDE 0 and @p why (a string that outlives the
 * request) as its text, and nothing cached.
 * The owner cancels the upstream query in flight and answers.
 */
void vg_resolv_abandon(struct vg_request *req, const char *why);

/**
 * A check of a cached answer before it is written (the policy's decision
 * after resolution), called for every answer the cache would give -- no
 * answer records (@p nans 0) for a SERVFAIL.  Nonzero means "do not answer
 * from the cache": the hook has answered (or dropped) the query itself,
 * while @p ans (in the worker's scratch and this call's stack) is valid.
 */
struct vg_answer_hook {
	int (*fn)(void *arg, struct vg_rrset *const *ans, unsigned nans);
	void *arg;
	bool fired; /* set when fn returned nonzero */
	bool dnssec_data; /* set before fn: the cached answer has RRSIGs or a signed denial */
};

/**
 * Write the request's answer for @p cq into @p buf.  Answers over the client's
 * limit are replaced by a truncated (TC=1) reply.  Returns the length (> 0).
 */
size_t vg_resolv_write_answer(const struct vg_request *req, const struct vg_client_q *cq,
			      uint8_t *buf, size_t cap);

/** What vg_resolv_answer_cached_ex found. */
struct vg_cached_info {
	bool stale;    /* the answer has stale data (TTL 30, EDE 3 Stale Answer) */
	bool prefetch; /* the (qname, qtype) entry is near its end: refresh it */
	uint8_t sec;   /* the answer's validation status (enum vg_sec), for the query log */
};

/**
 * vg_resolv_answer_cached with cache lookup @p flags (VG_CACHE_STALE,
 * VG_CACHE_STALE_FAILED: stale data may answer, marked with EDE 3 and TTL
 * VG_CACHE_STALE_TTL; VG_CACHE_PREFETCH: claim the refresh of the entry of
 * (qname, qtype) when under a tenth of its TTL is left), reporting in
 * @p info (may be NULL).  @p key_hash: what vg_cache_prefetch returned for
 * (qname, qtype), or 0 (computed here).  No heap allocation.
 */
size_t vg_resolv_answer_cached_ex(const struct vg_resolv_env *env, const struct vg_client_q *cq,
				  struct vg_answer_hook *hook, unsigned flags, uint64_t key_hash,
				  struct vg_cached_info *info, uint8_t *buf, size_t cap);

/**
 * Answer @p cq from the cache alone: positive RRsets (following cached CNAMEs)
 * and cached negative answers.  Returns the reply length, or 0 on a miss.
 * No heap allocation; uses env->scratch.
 */
size_t vg_resolv_answer_cached(const struct vg_resolv_env *env, const struct vg_client_q *cq,
			       struct vg_answer_hook *hook, uint8_t *buf, size_t cap);

#endif
