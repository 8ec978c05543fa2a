/* SPDX-License-Identifier: MIT
 *
 * The request pipeline: what happens to every client query, whatever
 * transport brought it.  A transport (UDP, TCP, and later DNS-over-TLS and
 * DNS-over-HTTPS) hands the pipeline the query bytes and a description of
 * the client; the pipeline decides, in this order and in one file
 * (pipeline.c):
 *
 *   1. parse      the question and the RFC checks (FORMERR, NOTIMP, BADVERS,
 *                 REFUSED for other classes and zone transfers); another
 *                 opcode goes to its own handler (NOTIFY: the RPZ feeds)
 *   2. access     the client ACL (allow, refuse, drop); then the UDP rate
 *                 limit per client prefix (ratelimit.h: TC=1 or nothing)
 *   2b. discovery names vigil answers itself (discovery.c): DDR's
 *                 _dns.resolver.arpa SVCB and the rest of resolver.arpa,
 *                 the application DNS canary when it is blocked
 *   3. policy     CLIENT-IP and QNAME rules, before resolution (src/policy),
 *                 for the client's group: by identity (client ID, client
 *                 certificate) before address
 *   4. cache      the cache-hit path (no request, no allocation)
 *   5. resolve    iterate and validate (src/resolv) in a request of its own,
 *                 sending upstream through the transport-independent I/O
 *                 callbacks
 *   6. policy     RESPONSE-IP, NSDNAME, NSIP and CNAME-chain rules on the
 *                 answer, fresh or cached
 *   7. answer     written once (src/wire/answer.c): EDE, the policy zone's
 *                 SOA, truncation for the transport's size
 *
 * The pipeline touches no socket, loop or clock of its own: everything it
 * needs from outside comes through struct vg_pipe_io (deliver an answer,
 * send or cancel an upstream query, read the clock), so unit tests drive it
 * with fake I/O and fake time.  One pipeline per worker thread; nothing here
 * locks (the cache locks its shards).
 */
#ifndef VG_PIPELINE_H
#define VG_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/core.h"
#include "pipeline/cookie.h"
#include "pipeline/ratelimit.h"
#include "pipeline/shed.h"
#include "policy/policy.h"
#include "resolv/resolv.h"
#include "vigil/wire.h"

struct vg_policy;
struct vg_plog;
struct vg_qlog;
struct vg_pipe_tap;

#define VG_DDR_MAX_ENDPOINTS 8 /* SVCB records in a DDR answer */
#define VG_DDR_MAX_HINTS 8     /* addresses per family in ipv4hint / ipv6hint */
#define VG_DDR_TTL 300         /* TTL of the DDR answer's records */

/** One encrypted endpoint vigil announces by DDR: one SVCB record. */
struct vg_ddr_endpoint {
	char alpn[16];     /* the ALPN protocol id: "dot" (DoT) or "h2" (DoH) */
	uint16_t port;
	bool doh;          /* DNS-over-HTTPS: the record carries dohpath */
	uint8_t v4[VG_DDR_MAX_HINTS][4];  /* ipv4hint (none: the key is left out) */
	size_t n_v4;
	uint8_t v6[VG_DDR_MAX_HINTS][16]; /* ipv6hint */
	size_t n_v6;
};

/**
 * Discovery (section discovery): DDR (RFC 9462, RFC 9461) and the
 * application DNS canary.  Filled by the daemon (vg_config_ddr_from_config)
 * from the encrypted listeners and tls.server-name, or from the discovery
 * section's own keys.
 */
struct vg_ddr_opts {
	bool enabled;                /* discovery.ddr (default yes) */
	bool block_canary;           /* discovery.block-doh-canary: use-application-dns.net
				      * is NXDOMAIN (default no) */
	uint8_t target[VG_NAME_MAX]; /* TargetName: tls.server-name (wire, lower-case) */
	char dohpath[256];           /* the DoH endpoints' URI template, "/dns-query{?dns}" */
	struct vg_ddr_endpoint ep[VG_DDR_MAX_ENDPOINTS]; /* in priority order (1, 2, ...) */
	size_t n_ep;                 /* 0: nothing to announce (NODATA) */
};

/**
 * The SVCB RDATA (RFC 9460 wire form: SvcPriority i + 1, TargetName
 * uncompressed, SvcParams in ascending key order: alpn, port, ipv4hint,
 * ipv6hint, dohpath) that DDR announces for endpoint @p i of @p o, into
 * @p out (@p cap bytes).  Its length, 0 when @p i is out of range, the
 * target is not set, or @p cap is too small.
 */
size_t vg_ddr_svcb_rdata(const struct vg_ddr_opts *o, size_t i, uint8_t *out, size_t cap);

#define VG_PIPE_HELD 128 /* answers whose send time waits for vg_pipe_sent */
#define VG_PIPE_MAX_REQUESTS 4096          /* limits.max-requests default, per worker */
#define VG_PIPE_REQUEST_MEMORY (64u << 20) /* limits.request-memory default, per worker */

/**
 * Pipeline settings (server: access-control, max-udp-size; limits:
 * request-timeout, max-requests, request-memory).
 */
struct vg_pipe_opts {
	struct vg_acl acl;           /* who may query; default: loopback and private ranges */
	uint16_t max_udp_size;       /* largest UDP answer to clients, 512..4096, default 1232 */
	unsigned request_timeout_ms; /* whole client query, default 5000 */
	/* overload (shed.h): requests in flight per worker, and the memory they
	 * may hold per worker; past either, load is shed fairly (0: defaults) */
	unsigned max_requests;       /* default VG_PIPE_MAX_REQUESTS */
	size_t request_memory;       /* bytes, default VG_PIPE_REQUEST_MEMORY */
	struct vg_ddr_opts ddr;      /* discovery */
	struct vg_rl_opts rl;        /* rate-limit: UDP queries per client prefix */
};

enum vg_transport {
	VG_TRANSPORT_NONE = 0, /* vigil's own queries (priming): no client */
	VG_TRANSPORT_UDP,
	VG_TRANSPORT_TCP,
	VG_TRANSPORT_DOT,
	VG_TRANSPORT_DOH,
};
/** "udp", "tcp", "dot", "doh" ("-" for none). */
const char *vg_transport_name(enum vg_transport t);

#define VG_CLIENT_ID_MAX 64

/**
 * Who sent a query and how to answer it.  The pipeline copies it (a request
 * in flight keeps its own copy) and hands it back with the answer.
 */
struct vg_client {
	struct vg_sockaddr addr;     /* address and port */
	enum vg_transport transport;
	uint16_t max_size;           /* largest answer the transport can carry; over UDP
				      * the query's EDNS size and max-udp-size bound it too */
	char id[VG_CLIENT_ID_MAX];   /* client ID from the TLS server name (ID.server-name)
				      * or the DoH path (/dns-query/ID): lower-case
				      * [a-z0-9-], "" none; selects policy groups
				      * (client-ids) and goes into the decision log */
	/* the verified client certificate (mutual TLS), or NULL: owned by the
	 * transport and valid until the query's answer was delivered (the
	 * pipeline keeps the pointers, not copies, while the query is in flight) */
	const char *cert_fp;         /* "sha256:" + 64 lower-case hex digits of its DER */
	const char *cert_subject;    /* its subject, OpenSSL's one-line RFC 2253 form
				      * (XN_FLAG_RFC2253): "CN=laptop7,O=Example" */
	/* the query's DNS client cookie (RFC 7873), set by the pipeline: the
	 * answer carries it back with a server cookie (transports: false) */
	bool has_cookie;
	uint8_t cookie[8];
	/* when the transport read the query: the monotonic clock (io->now_ns's),
	 * read once per recvmmsg batch or stream read; 0: the pipeline reads it */
	uint64_t rx_ns;
	void *conn;                  /* the transport's own reference (a connection) */
	int sock;                    /* the transport's own reference (a socket) */
	int32_t stream;              /* the transport's own reference (an HTTP/2 stream) */
};

/* The metrics' breakdowns (src/daemon/metrics.c names them): the query
 * types counted by name, then "other"; answer rcodes NOERROR..REFUSED, then
 * "other"; EDE codes 0..30 of bogus answers, then "other"; policy rewrites
 * by source (its position in the policy; the last slot: a group's
 * allowlist) and action (enum vg_pol_action). */
#define VG_PIPE_QTYPES 17
extern const uint16_t vg_pipe_qtypes[VG_PIPE_QTYPES - 1];
/** @p qtype's slot in by_qtype (VG_PIPE_QTYPES - 1: other). */
unsigned vg_pipe_qtype_slot(uint16_t qtype);
#define VG_PIPE_RCODES 7
#define VG_PIPE_EDES 32
#define VG_PIPE_POL_SOURCES (VG_POLICY_MAX_SOURCES + 1)
#define VG_PIPE_POL_ACTIONS 8

/** Per-worker counters (one writer: the worker; read by the stats line). */
struct vg_pipe_stats {
	vg_counter_t queries, cache_hits, answered, servfail, nxdomain;
	vg_counter_t malformed, formerr, notimp, refused, dropped, timeouts;
	vg_counter_t policy_rewrites, policy_log_dropped, inflight;
	vg_counter_t rate_limited;   /* UDP queries over their client's rate (TC or nothing) */
	vg_counter_t cookies_valid;  /* queries with a valid server cookie (never limited) */
	vg_counter_t shed;           /* overload: queries refused (SERVFAIL) at once */
	vg_counter_t evicted;        /* overload: requests ended (SERVFAIL) to make room */
	vg_counter_t req_mem;        /* bytes held by the requests in flight now */
	vg_counter_t stale_answers;  /* answers with stale data (RFC 8767, EDE 3) */
	vg_counter_t prefetches;     /* refreshes of entries asked for near expiry */
	vg_counter_t yielded;        /* validations stopped to serve others (io->wake) */
	/* for the metrics: client queries by transport (enum vg_transport) and
	 * by type, answers by rcode, queries that missed the cache, the DNSSEC
	 * status of resolved answers (enum vg_sec) and the EDE of bogus ones,
	 * policy rewrites by source and action, and the answer latency */
	vg_counter_t by_transport[VG_TRANSPORT_DOH + 1];
	vg_counter_t by_qtype[VG_PIPE_QTYPES];
	vg_counter_t by_rcode[VG_PIPE_RCODES];
	vg_counter_t cache_misses;
	vg_counter_t by_sec[VG_SEC_STATES];
	vg_counter_t bogus_ede[VG_PIPE_EDES];
	vg_counter_t policy[VG_PIPE_POL_SOURCES][VG_PIPE_POL_ACTIONS];
	struct vg_histo latency;      /* client query read to answer sent (see vg_pipe_hold) */
	vg_counter_t query_log_dropped; /* query log / dnstap events lost: the ring was full */
};

struct vg_pipe_req;

/** What the pipeline needs from the outside world; fake in unit tests. */
struct vg_pipe_io {
	void *arg;
	/**
	 * The answer to one query (@p len 0: send nothing, e.g. DROP or
	 * shutdown).  Called exactly once for every vg_pipe_query(), from inside
	 * it (cache hit, policy, error) or later (resolved).  @p pkt is valid
	 * only during the call.
	 */
	void (*answer)(void *arg, const struct vg_client *c, const uint8_t *pkt, size_t len);
	/**
	 * Send @p o upstream for request @p r: 0, and vg_pipe_reply(r, ...)
	 * follows exactly once unless cancelled; or a negative code (then
	 * nothing follows).  *@p handle identifies the query for cancel.
	 */
	int (*send)(void *arg, const struct vg_outbound *o, struct vg_pipe_req *r, void **handle);
	/** Stop waiting for @p handle: no vg_pipe_reply for @p r follows. */
	void (*cancel)(void *arg, void *handle, struct vg_pipe_req *r);
	/** Monotonic milliseconds. */
	uint64_t (*now_ms)(void *arg);
	/**
	 * Monotonic nanoseconds (CLOCK_MONOTONIC, as vg_client.rx_ns): read for
	 * an answer's latency when it goes out outside vg_pipe_hold.
	 */
	uint64_t (*now_ns)(void *arg);
	/** Wall-clock seconds (signature validity). */
	uint32_t (*wall_s)(void *arg);
	/**
	 * A request stopped to let others be served (a long validation, see
	 * resolv/validate.c "Slices"): call vg_pipe_run_yielded after each of
	 * the loop's polls for I/O until it returns 0, and poll without
	 * blocking meanwhile.  NULL: the pipeline goes on at once.
	 */
	void (*wake)(void *arg);
};

/**
 * Handler for a request with another opcode than QUERY (NOTIFY for the RPZ
 * feeds): writes the response into @p resp (@p cap bytes) and returns its
 * length, 0 for none.  Thread-safe; the client ACL does not apply to it.
 */
typedef size_t (*vg_pipe_opcode_fn)(void *arg, const uint8_t *pkt, size_t len,
				    const struct sockaddr *from, uint8_t *resp, size_t cap);

/**
 * What a worker reads for every query, adopted together (an immutable
 * snapshot: the daemon swaps it on reload, requests in flight finish on the
 * one they started with as long as the daemon keeps it).
 */
struct vg_pipe_view {
	const struct vg_pipe_opts *serve;
	const struct vg_resolv_opts *resolv;
	const struct vg_dnssec_opts *dnssec;
	const struct vg_hints *hints; /* root hints and trust anchors */
	const struct vg_policy *policy; /* NULL: no policy */
};

struct vg_pipe {
	struct vg_pipe_io io;
	struct vg_resolv_env env;  /* the core's view: cache, infra, keys, buffers, clock */
	const struct vg_pipe_opts *opts;
	const struct vg_policy *policy; /* NULL: no policy */
	struct vg_plog *plog;      /* decision log (NULL: the main log) */
	unsigned worker;           /* index, for the decision log's rings */
	struct vg_qlog *qlog;      /* query log and dnstap (src/qlog), NULL: off */
	struct vg_pipe_tap *tap;   /* qlog: what the answer being written is for */
	vg_pipe_opcode_fn notify;  /* NOTIFY handler, or NULL */
	void *notify_arg;
	struct vg_pipe_stats stats;
	struct vg_ratelimit *rl;   /* shared by the workers; NULL: no limiting */
	const struct vg_cookie_secret *cookies; /* shared; NULL: no DNS cookies */
	/* the control socket's pause: entry i is vg_pause_word() of client
	 * group i of the policy in force (its name and the time, io.now_ms's
	 * clock, until which it has no policy applied), 0 none; shared, written
	 * by the daemon (VG_POLICY_MAX_GROUPS entries); NULL: no pause.  One
	 * relaxed load per query with a group.  The name in the word keeps a
	 * worker still on an older policy (a reload that reordered the groups)
	 * from pausing another group that has the index now. */
	const _Atomic uint64_t *paused;
	unsigned rl_slip;          /* limited queries seen, for the slip rate */
	struct vg_pipe_req *inflight_head;
	unsigned inflight;
	struct vg_shed *shed;      /* requests in flight per client (fair shedding) */
	struct vg_arena_budget req_mem; /* the requests' memory (limits.request-memory) */
	uint64_t shed_warned_ms;   /* last overload warning */
	unsigned answering;        /* depth of io->answer calls (no eviction inside) */
	struct vg_pipe_req *tick_next; /* vg_pipe_tick's next request */
	/* requests that yielded (io->wake): before the last poll, and since */
	struct vg_pipe_req *y_ready, *y_new;
	unsigned n_yielded;
	bool stopping;
	uint8_t *txbuf;            /* answers are written here: 65536 + slack */
	/* answers going out together (vg_pipe_hold): the receive times of
	 * those given since, their latency observed at vg_pipe_sent */
	unsigned hold;             /* depth of vg_pipe_hold */
	unsigned n_held;
	uint64_t held_rx[VG_PIPE_HELD];
};

/* A pause entry: a 24-bit hash of the group's name above the end time
 * (40 bits of milliseconds: 34 years of a monotonic clock). */
#define VG_PAUSE_TIME_BITS 40
#define VG_PAUSE_TIME_MASK ((UINT64_C(1) << VG_PAUSE_TIME_BITS) - 1)

static inline uint64_t vg_pause_hash(const char *name)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return (h ^ (h >> 24)) & 0xffffff;
}

/** The entry pausing group @p name until @p until_ms. */
static inline uint64_t vg_pause_word(const char *name, uint64_t until_ms)
{
	return (vg_pause_hash(name) << VG_PAUSE_TIME_BITS) | (until_ms & VG_PAUSE_TIME_MASK);
}

/** Does entry @p word pause group @p name at @p now_ms? */
static inline bool vg_pause_active(uint64_t word, const char *name, uint64_t now_ms)
{
	return word && (word >> VG_PAUSE_TIME_BITS) == vg_pause_hash(name) &&
	       (word & VG_PAUSE_TIME_MASK) > (now_ms & VG_PAUSE_TIME_MASK);
}

/**
 * Set up @p p for worker @p worker: @p env has the cache, infra table, key
 * cache and buffers (borrowed; the pipeline sets its clock and options).
 * 0 or VG_ENOMEM.
 */
int vg_pipe_init(struct vg_pipe *p, unsigned worker, const struct vg_pipe_io *io,
		 const struct vg_resolv_env *env);
/** Abandon what is in flight (clients get no answer) and free the buffers. */
void vg_pipe_deinit(struct vg_pipe *p);
/** Use @p v from now on (start-up and every reload). */
void vg_pipe_adopt(struct vg_pipe *p, const struct vg_pipe_view *v);

/**
 * One client query: @p pkt (borrowed for the call) from @p c.  The answer
 * comes through io->answer, now or later, exactly once.
 */
void vg_pipe_query(struct vg_pipe *p, const uint8_t *pkt, size_t len, const struct vg_client *c);
/**
 * Answer latency without a clock read per answer: the transport calls
 * vg_pipe_hold() before it hands over a batch of queries (a recvmmsg batch,
 * a stream read), and vg_pipe_sent() with the time it sends their answers
 * (read once, just before sendmmsg or the writes).  Every answer given in
 * between -- also one to another query, e.g. a request ended to make room --
 * counts that time minus its query's rx_ns.  Outside a hold (an answer that
 * waited for upstream) the pipeline reads io->now_ns for it.  Nests: the
 * outermost vg_pipe_sent counts.  The query log takes the same times.
 */
void vg_pipe_hold(struct vg_pipe *p);
void vg_pipe_sent(struct vg_pipe *p, uint64_t tx_ns);
/**
 * The outcome of an io->send: @p status 0 with the reply, or a negative code.
 * @p m: the reply already parsed (vg_msg_parse of @p pkt, @p len), or NULL.
 */
void vg_pipe_reply(struct vg_pipe_req *r, int status, const uint8_t *pkt, size_t len,
		   struct vg_msg *m);
/**
 * Go on with the requests that stopped (io->wake) before the last poll;
 * those that stop now wait for the next call.  Returns how many wait.
 */
unsigned vg_pipe_run_yielded(struct vg_pipe *p);
/** End the requests past their time limit (SERVFAIL); call about every 100 ms. */
void vg_pipe_tick(struct vg_pipe *p);
/** vigil's own priming query for the root name servers. */
void vg_pipe_prime(struct vg_pipe *p);
/** Stop: abandon every request in flight (each client's answer is "nothing"). */
void vg_pipe_stop(struct vg_pipe *p);

#endif
