/* SPDX-License-Identifier: MIT
 *
 * The front end: worker threads, each with its own libuv loop, its own UDP
 * and TCP sockets (SO_REUSEPORT) and its own request pipeline.  The
 * transports only move bytes: a query read from a socket or a connection
 * goes to the pipeline (src/pipeline) with a description of the client, and
 * the answer comes back through the worker's answer callback, which hands it
 * to the transport it came from.  Sockets, batching, framing and
 * backpressure are all this module does.
 *
 * No worker touches another's handles.  The shared pieces are the cache
 * (sharded locks) and the read-only snapshot of settings, hints and policy,
 * which the daemon swaps on reload and workers adopt through their async
 * handle.
 */
#ifndef VG_NET_H
#define VG_NET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "cache/cache.h"
#include "core/addr.h"
#include "core/core.h"
#include "pipeline/pipeline.h"
#include "policy/policy.h"
#include "http/doh.h"
#include "tls/tls.h"
#include "upstream/upstream.h"

#define VG_NET_MAX_LISTEN 16
#define VG_MMSG_BATCH 64   /* datagrams per recvmmsg / sendmmsg (bench/: 64 wakes the
			    * client less often than 20, and costs no more) */
#define VG_UDP_QUERY_MAX 8192 /* receive slot; a larger UDP query is dropped */
#define VG_NET_TLS_BUF (64 * 1024) /* a worker's buffers for TLS and HTTP/2 bytes */
#define VG_NET_ADDR_BUCKETS 8192   /* per-address connection counts */
#define VG_NET_MAX_PROXIES 16      /* http.trusted-proxies */

/** The kinds of stream listener, and so of client connection. */
enum vg_stream_kind {
	VG_STREAM_TCP = 0, /* DNS over TCP (RFC 7766) */
	VG_STREAM_DOT,     /* DNS over TLS (RFC 7858) */
	VG_STREAM_DOH,     /* DNS over HTTPS: HTTP/2 over TLS (RFC 8484) */
	VG_STREAM_H2C,     /* DoH's HTTP/2 in cleartext, behind a reverse proxy */
	VG_STREAM_KINDS,
};

/** The front end's settings (the server section, less what the pipeline takes). */
struct vg_net_opts {
	struct vg_sockaddr listen[VG_NET_MAX_LISTEN]; /* both UDP and TCP */
	size_t n_listen;
	struct vg_sockaddr listen_tls[VG_NET_MAX_LISTEN];   /* DoT, default port 853 */
	size_t n_listen_tls;
	struct vg_sockaddr listen_https[VG_NET_MAX_LISTEN]; /* DoH, default port 443 */
	size_t n_listen_https;
	struct vg_sockaddr listen_http[VG_NET_MAX_LISTEN];  /* cleartext HTTP/2 */
	size_t n_listen_http;
	unsigned max_per_address;    /* stream connections per client address (IPv6: /64),
				      * all workers; 0 = no limit; default 64 */
	unsigned tls_handshake_ms;   /* a TLS handshake must end within this (default 5000) */
	bool cookies;                /* answer DNS cookies (RFC 7873, RFC 9018); default yes */
	struct vg_doh_opts doh;      /* the http section: DoH path, HTTP/2 limits */
	struct vg_prefix trusted_proxies[VG_NET_MAX_PROXIES]; /* http.trusted-proxies */
	size_t n_trusted_proxies;
	unsigned workers;            /* 0 = number of cores */
	unsigned tcp_idle_ms;        /* default 10000 */
	unsigned tcp_max_per_worker; /* default 256 */
	unsigned tcp_max_total;      /* default 1024 */
	unsigned tcp_max_pipeline;   /* queries in flight per TCP connection, default 100 */
};

/** What the daemon publishes for the workers: immutable, swapped on reload. */
struct vg_net_snapshot {
	const struct vg_net_opts *net;
	struct vg_tls_ctx *tls[VG_STREAM_KINDS]; /* per stream kind; NULL: no TLS */
	const struct vg_upstream_opts *upstream;
	struct vg_pipe_view view;
	bool prime_root; /* worker 0 sends a priming query at start */
};

/** The transports' own counters (the pipeline counts the rest). */
struct vg_worker_stats {
	vg_counter_t udp_queries, tcp_queries, send_errors, tcp_accepted, tcp_rejected;
	vg_counter_t tls_queries, tls_handshakes, tls_resumed, tls_failed, tcp_evicted;
	vg_counter_t doh_queries;
	vg_counter_t conns_open[VG_STREAM_KINDS]; /* client connections open now, by kind */
};

/** Shared by all workers; owned by the daemon. */
struct vg_shared {
	struct vg_cache *cache;
	_Atomic(const struct vg_net_snapshot *) snap;
	atomic_uint_fast64_t gen;     /* generation of snap, bumped after it is stored */
	atomic_uint tcp_total;         /* stream connections open, all kinds */
	/* stream connections per client address, counted in hashed buckets
	 * (two addresses in one bucket share its count) */
	_Atomic uint16_t *per_addr;
	uint64_t per_addr_key;
	struct vg_plog *plog;         /* policy decision log, NULL: decisions go to the main log */
	struct vg_qlog *qlog;         /* query log and dnstap (src/qlog), NULL: off */
	vg_pipe_opcode_fn notify;     /* NOTIFY handler (RPZ feeds), or NULL */
	void *notify_arg;
	struct vg_upshare *upshare;   /* upstream queries in flight, shared across workers */
	struct vg_ratelimit *rl;      /* UDP rate limit buckets (pipeline/ratelimit.h) */
	struct vg_cookie_secret cookies; /* DNS server cookie keys (pipeline/cookie.h) */
	/* the control socket's pause per client group (vg_pipe.paused) */
	_Atomic uint64_t paused[VG_POLICY_MAX_GROUPS];
};

/** Replies to one recvmmsg batch, sent together with sendmmsg. */
#define VG_BATCH_REPLY_MAX 4096
struct vg_udp_batch {
	int fd; /* the socket the batch came in on */
	unsigned n;
	struct mmsghdr msg[VG_MMSG_BATCH];
	struct iovec iov[VG_MMSG_BATCH];
	struct sockaddr_storage addr[VG_MMSG_BATCH];
	uint8_t *buf; /* VG_MMSG_BATCH * VG_BATCH_REPLY_MAX */
};

struct vg_tcp_conn;
struct vg_worker;

/**
 * Work the main thread hands to a worker's own thread (vigilctl reading the
 * worker's infra table): @p fn runs on the worker's loop, once, from its
 * wakeup.  The job's memory is the poster's; it tells itself when fn is done.
 */
struct vg_worker_job {
	void (*fn)(struct vg_worker *w, struct vg_worker_job *job);
};

struct vg_worker {
	unsigned id;
	pthread_t thread;
	uv_loop_t loop;
	uv_async_t wakeup;
	uv_timer_t tick;
	uv_idle_t y_idle;   /* requests that yielded: poll without blocking, */
	uv_check_t y_check; /* and go on with them after each poll */
	struct vg_shared *shared;
	const struct vg_net_snapshot *snap; /* adopted */
	atomic_uint_fast64_t seen_gen; /* the generation adopted (see vg_worker_generation) */
	struct vg_pipe pipe;
	struct vg_infra *infra;
	struct vg_keycache *keys;    /* parsed DNSKEYs (dnssec.h) */
	struct vg_upstream *up;
	atomic_bool stop_requested;
	_Atomic(struct vg_worker_job *) job; /* posted by vg_worker_post, taken on wakeup */
	bool stopping;
	bool prime_pending;
	bool loop_ready, handles_ready, pipe_ready;

	unsigned n_udp, n_tcp;
	uv_poll_t udp[VG_NET_MAX_LISTEN]; /* readable events for udp_fd[] */
	int udp_fd[VG_NET_MAX_LISTEN];
	struct vg_listener {
		uv_tcp_t h;
		enum vg_stream_kind kind;
	} tcp[VG_NET_MAX_LISTEN * VG_STREAM_KINDS];
	unsigned tcp_conns;
	struct vg_tcp_conn *conns, *conns_tail; /* client connections, newest first */
	uint8_t *tls_rx;   /* ciphertext read from any TLS connection (then decrypted) */
	uint8_t *tls_tx;   /* a framed answer (TCP, DoT: 2 + 65535 bytes), then on TLS
			    * the ciphertext taken from the session (VG_NET_TLS_BUF) */
	uint8_t *h2_tx;    /* HTTP/2 frames gathered for one write */

	struct vg_worker_stats stats;
	struct vg_udp_batch batch;
	uint8_t *rxbuf; /* VG_MMSG_BATCH * VG_UDP_QUERY_MAX, for recvmmsg */
	struct mmsghdr rx_msg[VG_MMSG_BATCH];
	struct iovec rx_iov[VG_MMSG_BATCH];
	struct sockaddr_storage rx_addr[VG_MMSG_BATCH];
	struct vg_msg *msg;
	uint8_t *scratch, *scratch2;
};

/**
 * Prepare worker @p id: loop, buffers, pipeline and its listening sockets
 * (bound now, so errors are reported before serving).  Errors go to the
 * log.  0 or negative.
 */
int vg_worker_init(struct vg_worker *w, unsigned id, struct vg_shared *shared);
/**
 * Start the worker's thread.  The shared policy log and NOTIFY handler are
 * taken now, not at init: they may be set up between the two (after the
 * sockets are bound and root is left).
 */
int vg_worker_start(struct vg_worker *w);
/** Ask the worker to stop (thread-safe); join it with vg_worker_join. */
void vg_worker_stop(struct vg_worker *w);
/** Ask the worker to adopt the current snapshot (thread-safe). */
void vg_worker_notify(struct vg_worker *w);
/**
 * Run @p job on the worker's thread soon (from the main thread).  0, or
 * -EAGAIN when a job posted before has not been taken yet (one at a time).
 */
int vg_worker_post(struct vg_worker *w, struct vg_worker_job *job);
/**
 * Take back @p job if the worker has not taken it: true when it was still
 * waiting (then it never runs), false when the worker took it (it runs or
 * ran).
 */
bool vg_worker_unpost(struct vg_worker *w, struct vg_worker_job *job);
/**
 * The snapshot generation this worker has adopted: no request it starts
 * from now on reads an older snapshot (older ones end by their deadline).
 */
uint64_t vg_worker_generation(struct vg_worker *w);
void vg_worker_join(struct vg_worker *w);
void vg_worker_deinit(struct vg_worker *w);

/* ---- cross-file internals of the net module: the transports (udp.c, tcp.c),
 * which worker.c sets up and answers through ---- */

/** Queue a UDP reply in the open batch; false if it must be sent directly. */
bool vg__udp_batch_add(struct vg_worker *w, int fd, const struct sockaddr *to,
		       const uint8_t *pkt, size_t len);
/** Send a UDP reply now (outside a batch: a request that finished later). */
void vg__udp_send(struct vg_worker *w, int fd, const struct sockaddr *to, const uint8_t *pkt,
		  size_t len);
/** Set up the worker's recvmmsg headers (once, after its buffers exist). */
void vg__udp_init_batch(struct vg_worker *w);
/** Bind UDP listener number w->n_udp on @p addr and start reading it. */
int vg__udp_listen(struct vg_worker *w, const struct vg_sockaddr *addr);
/** Listen for stream connections of @p kind on @p addr (w->tcp[w->n_tcp]). */
int vg__tcp_listen(struct vg_worker *w, const struct vg_sockaddr *addr, enum vg_stream_kind kind);
/**
 * The answer to one query of connection @p c: queued (framed) when @p len
 * is nonzero, and the query is done either way.
 */
void vg__tcp_answer(struct vg_tcp_conn *c, const uint8_t *pkt, size_t len);
/** Close every client connection of the worker (shutdown). */
void vg__tcp_close_all(struct vg_worker *w);

#endif
