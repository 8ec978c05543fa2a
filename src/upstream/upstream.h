/* SPDX-License-Identifier: MIT
 *
 * Upstream I/O: outbound queries to authoritative servers and forwarders, and
 * what vigil remembers about each server address (the infra table).
 *
 * Each worker thread owns one struct vg_upstream and one struct vg_infra, and
 * only that thread touches them.  The one shared piece is struct vg_upshare,
 * the daemon's table of every worker's queries in flight, so that identical
 * queries are sent once across workers; it has a lock per shard and is used
 * only when a query is about to be sent (never on a cache hit).  The resolver
 * core never calls the socket functions itself: the worker passes its "send
 * this to X" decisions here and feeds the replies back (STYLE B1).
 */
#ifndef VG_UPSTREAM_H
#define VG_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "core/addr.h"
#include "vigil/wire.h"

/* ------------------------------------------------------------ infra (select.c) */

struct vg_infra;

/** Per-worker server table with room for @p slots addresses (rounded to 2^n). */
struct vg_infra *vg_infra_new(unsigned slots);
void vg_infra_free(struct vg_infra *inf);

/** Record a measured round trip of @p rtt_ms to @p sa (RFC 6298 smoothing). */
void vg_infra_rtt(struct vg_infra *inf, const struct vg_sockaddr *sa, uint32_t rtt_ms,
		  uint64_t now_ms);
/** Record a timeout or unreachable error: backs off, and after several in a row
 * marks the server down for a while (it is then chosen last). */
void vg_infra_failed(struct vg_infra *inf, const struct vg_sockaddr *sa, uint64_t now_ms);
/** A query to @p sa sent with a timeout of @p timeout_ms timed out: a failure
 * as vg_infra_failed(), unless the query was sent with a shorter timeout than
 * the back-off reached since (queries in flight side by side back off once). */
void vg_infra_timed_out(struct vg_infra *inf, const struct vg_sockaddr *sa, uint32_t timeout_ms,
			uint64_t now_ms);
/** Remember that @p sa is lame for @p zone (REFUSED, upward referral...). */
void vg_infra_lame(struct vg_infra *inf, const struct vg_sockaddr *sa, const uint8_t *zone,
		   uint64_t now_ms);
bool vg_infra_is_lame(struct vg_infra *inf, const struct vg_sockaddr *sa, const uint8_t *zone,
		      uint64_t now_ms);
/** Selection score in ms: smoothed RTT, @p unknown_ms for unmeasured servers,
 * plus a large penalty while the server is marked down.  Lower is better. */
uint32_t vg_infra_score(struct vg_infra *inf, const struct vg_sockaddr *sa, uint64_t now_ms,
			uint32_t unknown_ms);
/** Has @p sa answered a query (any) at or after @p since_ms (loop clock)? */
bool vg_infra_answered_since(struct vg_infra *inf, const struct vg_sockaddr *sa, uint64_t since_ms,
			     uint64_t now_ms);
/** Has @p sa failed (timed out, refused a connection) on its last tries? */
bool vg_infra_is_failing(struct vg_infra *inf, const struct vg_sockaddr *sa, uint64_t now_ms);
/** Is @p sa marked down (several failures in a row, recently)? */
bool vg_infra_is_down(struct vg_infra *inf, const struct vg_sockaddr *sa, uint64_t now_ms);
#define VG_INFRA_SPOOF_WINDOW_MS 10000
#define VG_INFRA_SPOOF_TCP_MS 60000
/** An unwanted reply (wrong ID, question...: a forgery, since the socket is
 * connected) came from @p sa.  The @p threshold th in VG_INFRA_SPOOF_WINDOW_MS
 * (0: never) puts @p sa under attack: true when that happens with this one. */
bool vg_infra_unwanted(struct vg_infra *inf, const struct vg_sockaddr *sa, unsigned threshold,
		       uint64_t now_ms);
/** Is @p sa under a spoofing attack (ask it over TCP until it is over)? */
bool vg_infra_is_spoofed(struct vg_infra *inf, const struct vg_sockaddr *sa, uint64_t now_ms);
/* DNS cookies (RFC 7873) of the servers: what a server handed out, and
 * whether it does cookies.  Per worker, like the rest of the table. */
#define VG_INFRA_NO_COOKIE (-1)
#define VG_INFRA_NOCOOKIE_MS (60 * 60 * 1000) /* a server that refused the option */
/** The server cookie to present to @p sa (copied to @p sc, up to
 * VG_UPCOOKIE_SERVER_MAX bytes): its length, 0 when none was learnt under
 * client secret @p gen, or VG_INFRA_NO_COOKIE when @p sa answered FORMERR to
 * the option within VG_INFRA_NOCOOKIE_MS (send none). */
int vg_infra_cookie(struct vg_infra *inf, const struct vg_sockaddr *sa, uint32_t gen,
		    uint8_t *sc, uint64_t now_ms);
/** Has @p sa sent a valid cookie (and not stopped doing cookies since)? */
bool vg_infra_cookie_known(struct vg_infra *inf, const struct vg_sockaddr *sa, uint64_t now_ms);
/** @p sa answered with our client cookie (secret @p gen) and server cookie @p sc. */
void vg_infra_cookie_learn(struct vg_infra *inf, const struct vg_sockaddr *sa, uint32_t gen,
			   const uint8_t *sc, size_t sclen, uint64_t now_ms);
/** @p sa answered over TCP without a cookie: it no longer does cookies. */
void vg_infra_cookie_forget(struct vg_infra *inf, const struct vg_sockaddr *sa, uint64_t now_ms);
/** @p sa answered FORMERR to a query with the option: send it none for a while. */
void vg_infra_cookie_refused(struct vg_infra *inf, const struct vg_sockaddr *sa,
			     uint64_t now_ms);
/** The longest retransmission timeout, ms (the back-off stops there). */
#define VG_INFRA_RTO_MAX 3000

/** Retransmission timeout for the next query to @p sa (ms), with back-off. */
uint32_t vg_infra_timeout(struct vg_infra *inf, const struct vg_sockaddr *sa, uint64_t now_ms,
			  uint32_t unknown_ms);

/** What the table holds about one server address (vigilctl upstreams). */
struct vg_infra_info {
	uint8_t family;          /* AF_INET or AF_INET6 */
	uint8_t addr[16];        /* IPv4: the first 4 bytes */
	uint16_t port;           /* host order */
	uint32_t srtt_ms, rttvar_ms; /* smoothed RTT and its variance; 0: not measured */
	uint32_t timeout_ms;     /* the retransmission timeout the next query gets */
	uint32_t fails_in_row;   /* consecutive failures (timeouts, errors) */
	uint32_t answers, timeouts, errors; /* since the slot was made (totals) */
	uint64_t down_until_ms;  /* held down (chosen last) until then; 0: usable */
	uint64_t tcp_until_ms;   /* spoofed replies seen: TCP only until then; 0: no */
	uint64_t last_use_ms;
	unsigned lame_zones;     /* zones it is lame for now */
	bool cookie_known;       /* it sends DNS cookies */
	bool no_cookie;          /* it refused the cookie option: none sent for now */
};

/**
 * Copy the table's entries into @p out: at most @p cap of them, the most
 * recently used, sorted by last use (newest first).  Times are the loop
 * clock of @p now_ms; @p unknown_ms as for vg_infra_timeout().  Returns how
 * many were written.  On the table's own thread.
 */
size_t vg_infra_snapshot(const struct vg_infra *inf, struct vg_infra_info *out, size_t cap,
			 uint64_t now_ms, uint32_t unknown_ms);

/* ------------------------------------------------------------ cookies (upcookie.c) */

#define VG_UPCOOKIE_CLIENT 8      /* client cookie length (RFC 7873 4) */
#define VG_UPCOOKIE_SERVER_MIN 8  /* server cookie length: 8..32 bytes */
#define VG_UPCOOKIE_SERVER_MAX 32
#define VG_UPCOOKIE_KEY 16        /* the client secret (SipHash-2-4 key) */

/**
 * The client cookie for queries from address @p client to address @p server
 * (ports ignored) under @p key: SipHash-2-4 of the two addresses (RFC 7873
 * 4.1; the form RFC 9018 gives server cookies, applied to the client side).
 */
void vg_upcookie_client(const uint8_t key[VG_UPCOOKIE_KEY], const struct sockaddr *client,
			const struct sockaddr *server, uint8_t out[VG_UPCOOKIE_CLIENT]);

enum vg_upcookie {
	VG_UPCOOKIE_NONE, /* no COOKIE option */
	VG_UPCOOKIE_OK,   /* our client cookie and a server cookie of 8..32 bytes */
	VG_UPCOOKIE_BAD,  /* another client cookie, or a malformed option */
};

/**
 * The COOKIE option of reply @p m to a query that carried client cookie
 * @p cc; with VG_UPCOOKIE_OK the server cookie is copied to @p sc
 * (VG_UPCOOKIE_SERVER_MAX bytes of room) and its length to @p *sclen.
 */
enum vg_upcookie vg_upcookie_parse(const struct vg_msg *m, const uint8_t cc[VG_UPCOOKIE_CLIENT],
				   uint8_t *sc, size_t *sclen);

/* ------------------------------------------------------------ outbound.c */

#define VG_UPSTREAM_MAX_SOURCES 16

#define VG_UPSTREAM_TLS_NAME_MAX 256 /* an authentication name and its NUL */
#define VG_UPSTREAM_TLS_PINS 4       /* SPKI pins per forward zone */
/* the pins as text: base64 of 32 bytes is 44 characters, each with a separator */
#define VG_UPSTREAM_TLS_PINS_MAX (VG_UPSTREAM_TLS_PINS * 45)
#define VG_UPSTREAM_TLS_PATH_MAX 512

/** Upstream settings (resolver.outgoing-address, resolver.upstream-*). */
struct vg_upstream_opts {
	struct vg_sockaddr outgoing[VG_UPSTREAM_MAX_SOURCES]; /* source addresses; port ignored */
	size_t n_outgoing;
	uint16_t udp_size; /* EDNS size advertised upstream, default 1232 */
	unsigned tls_idle_ms;      /* an idle DoT connection is closed after this (10000) */
	unsigned tls_handshake_ms; /* connect + TLS handshake, at most (3000) */
	/* unwanted replies from a server within VG_INFRA_SPOOF_WINDOW_MS that
	 * switch it to TCP for VG_INFRA_SPOOF_TCP_MS (10); 0: never */
	unsigned spoof_tcp;
	/* DNS cookies (RFC 7873) on UDP queries to upstreams (yes) */
	bool cookies;
};

/**
 * How a DNS-over-TLS upstream is authenticated (RFC 7858, RFC 8310 strict
 * profile): its certificate must verify against @p ca_file (or the system's
 * CA store) and carry @p name, and/or its public key must match one of
 * @p pins.  At least one of @p name and @p pins is set (the config refuses a
 * TLS upstream with neither).  The strings are borrowed for the call to
 * vg_upstream_query(); the connections keep copies.
 */
struct vg_upstream_tls {
	const char *name;    /* authentication name, also sent as SNI; "" none */
	const char *pins;    /* base64 SHA-256 SPKI pins separated by spaces; "" none */
	const char *ca_file; /* PEM CA certificates; "" the system store */
};

struct vg_upstream;
struct vg_upq;
struct vg_upshare;

/** shared: queries that joined one in flight (any worker's); shared_xworker:
 * those of them that joined another worker's query. */
struct vg_upstream_stats {
	vg_counter_t udp_sent, tcp_sent, timeouts, errors, unwanted, shared, tc_fallback;
	vg_counter_t shared_xworker;
	/* answers that came after their query's timeout (to an earlier try) */
	vg_counter_t late;
	/* queries sent over TCP (or moved to it) because their server was
	 * under a spoofing attack */
	vg_counter_t spoof_tcp;
	/* third tries sent over TCP because the server let the first two time
	 * out while it answered other queries (rate limiting) */
	vg_counter_t ignored_tcp;
	/* DNS over TLS: queries written, connections opened (TCP connect
	 * attempts), handshakes or authentications that failed, and queries
	 * failed without being sent (the upstream is in back-off or its queue
	 * is full) */
	vg_counter_t tls_sent, tls_connects, tls_failed, tls_refused;
	/* DNS cookies: answers dropped for a missing or wrong cookie (also
	 * counted as unwanted), BADCOOKIE answers retried, and queries sent
	 * again without the option after a FORMERR */
	vg_counter_t cookie_bad, badcookie, cookie_formerr;
	/* round trips of the answers received (the infra table's samples), ms */
	struct vg_histo rtt;
};

/**
 * The table through which workers share identical queries in flight.  Made
 * once (by the daemon) and handed to every worker's vg_upstream_new; free it
 * after every worker's upstream was shut down.  NULL on allocation failure.
 */
struct vg_upshare *vg_upshare_new(void);
void vg_upshare_free(struct vg_upshare *s);

/**
 * Completion: @p status 0 with the reply in @p pkt (valid only during the call),
 * or a negative code (-ETIMEDOUT, -ECONNREFUSED, VG_EMALFORMED...).  @p m,
 * when not NULL, is that reply parsed (vg_msg_parse of @p pkt, @p len),
 * valid during the call; the callee may use it instead of parsing again
 * and may add to it (vg_msg_hash_owners), nothing more.
 */
typedef void (*vg_upstream_cb)(void *arg, int status, const uint8_t *pkt, size_t len,
			       struct vg_msg *m);

struct uv_loop_s; /* libuv's uv_loop_t: this header does not need uv.h */

/**
 * Upstream I/O on @p loop (the worker's), with @p inf for round trips and
 * failures; only the loop's thread may use it afterwards.  @p share
 * (borrowed, may be NULL: sharing within this worker only) must outlive it.
 * NULL on allocation failure.
 */
struct vg_upstream *vg_upstream_new(struct uv_loop_s *loop, struct vg_infra *inf,
				    const struct vg_upstream_opts *opts, struct vg_upshare *share);
/** Abort every query in flight without calling back (other workers waiting on
 * one get -ECANCELED), and every wait on other workers' queries; handles
 * close on the loop. */
void vg_upstream_shutdown(struct vg_upstream *u);
/** Free after the loop has run the close callbacks (pending == 0). */
void vg_upstream_free(struct vg_upstream *u);
unsigned vg_upstream_pending(const struct vg_upstream *u);
const struct vg_upstream_stats *vg_upstream_stats(const struct vg_upstream *u);
void vg_upstream_set_opts(struct vg_upstream *u, const struct vg_upstream_opts *opts);

/**
 * Send (qname, qtype) to @p to: over UDP (TCP after a truncated reply), or,
 * with @p tls, over TLS only (DNS over TLS, RFC 7858; never in cleartext).
 * A DoT query goes on this worker's connection to that server with that
 * authentication (opened on demand, kept open while busy and for
 * tls_idle_ms after, queries pipelined on it and answered in any order),
 * padded to a multiple of 128 bytes (RFC 8467).  When the connection cannot
 * be made or the server not authenticated, its queries fail (-ECONNREFUSED,
 * -ETIMEDOUT, VG_ETLS) and new ones fail at once (returned here) until a
 * back-off delay has passed.  An identical query already in flight to the
 * same server (and, over TLS, with the same authentication), by this worker
 * or (through the vg_upshare table) another, is shared: nothing is sent, and @p cb gets that query's outcome -- the reply,
 * or its failure -- or -ETIMEDOUT after @p timeout_ms (extended as for a TCP
 * retry if that query went on to TCP), whichever comes first.  The reply is
 * matched on address, port, ID and question; anything else arriving on the
 * socket is counted and ignored.  A truncated UDP reply is retried over TCP.
 * @p cb is called exactly once, on this worker's loop, unless the waiter is
 * cancelled first.  Returns 0 or a negative error (then @p cb is not called).
 * @p *handle identifies the waiter for cancellation.
 */
int vg_upstream_query(struct vg_upstream *u, const struct vg_sockaddr *to,
		      const struct vg_upstream_tls *tls, const uint8_t *qname, uint16_t qtype,
		      bool rd, bool do_bit, uint32_t timeout_ms, vg_upstream_cb cb, void *arg,
		      struct vg_upq **handle);

/** Stop waiting: @p cb will not be called for @p arg. */
void vg_upstream_cancel(struct vg_upq *q, void *arg);

#endif
