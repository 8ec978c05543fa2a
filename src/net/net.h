/* SPDX-License-Identifier: MIT
 *
 * The front end: worker threads, each with its own libuv loop and its own UDP
 * and TCP sockets (SO_REUSEPORT), which take client queries, answer from cache
 * or drive a request through the resolver core and upstream I/O.
 *
 * No worker touches another's handles.  The shared pieces are the cache
 * (sharded locks), and the read-only config and hints snapshots, which the
 * daemon swaps on reload and workers adopt through their async handle.
 */
#ifndef VG_NET_H
#define VG_NET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "cache/cache.h"
#include "core/core.h"
#include "daemon/config.h"
#include "resolv/resolv.h"
#include "upstream/upstream.h"

#define VG_MMSG_BATCH 64   /* datagrams per recvmmsg / sendmmsg (bench/: 64 wakes the
				  * client less often than 20, and costs no more) */
#define VG_UDP_QUERY_MAX 8192 /* receive slot; a larger UDP query is dropped */

struct vg_worker_stats {
	vg_counter_t queries, udp_queries, tcp_queries, cache_hits, answered, servfail, nxdomain;
	vg_counter_t malformed, formerr, notimp, refused, dropped, timeouts, send_errors;
	vg_counter_t tcp_accepted, tcp_rejected, policy_rewrites, policy_log_dropped;
	vg_counter_t inflight;
};

/** Shared by all workers; owned by the daemon. */
struct vg_shared {
	struct vg_cache *cache;
	_Atomic(const struct vg_config *) cfg;
	_Atomic(const struct vg_hints *) hints;
	atomic_uint_fast64_t gen;     /* generation of (cfg, hints), bumped after both are stored */
	atomic_uint tcp_total;
	struct vg_plog *plog; /* policy decision log, NULL: decisions go to the main log */
	struct vg_feed *feed; /* RPZ feeds (NOTIFY goes there), NULL: none */
	struct vg_upshare *upshare; /* upstream queries in flight, shared across workers */
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

struct vg_worker {
	unsigned id;
	pthread_t thread;
	uv_loop_t loop;
	uv_async_t wakeup;
	uv_timer_t tick;
	struct vg_shared *shared;
	const struct vg_config *cfg; /* adopted snapshot */
	const struct vg_hints *hints;
	atomic_uint_fast64_t seen_gen; /* the generation adopted (see vg_worker_generation) */
	struct vg_resolv_env env;
	struct vg_infra *infra;
	struct vg_keycache *keys;    /* parsed DNSKEYs (dnssec.h) */
	struct vg_upstream *up;
	atomic_bool stop_requested;
	bool stopping;
	bool prime_pending;
	bool loop_ready, handles_ready;

	unsigned n_udp, n_tcp;
	uv_poll_t udp[VG_CONFIG_MAX_ADDRS]; /* readable events for udp_fd[] */
	int udp_fd[VG_CONFIG_MAX_ADDRS];
	uv_tcp_t tcp[VG_CONFIG_MAX_ADDRS];
	unsigned tcp_conns;
	struct vg_tcp_conn *conns; /* client connections, for shutdown */

	struct vg_ctx *inflight_head; /* requests in flight, for timeouts and shutdown */
	unsigned inflight;

	struct vg_worker_stats stats;
	struct vg_udp_batch batch;
	uint8_t *rxbuf; /* VG_MMSG_BATCH * VG_UDP_QUERY_MAX, for recvmmsg */
	struct mmsghdr rx_msg[VG_MMSG_BATCH];
	struct iovec rx_iov[VG_MMSG_BATCH];
	struct sockaddr_storage rx_addr[VG_MMSG_BATCH];
	uint8_t *txbuf; /* 65536 + slack */
	struct vg_msg *msg;
	uint8_t *scratch, *scratch2;
};

/**
 * Prepare worker @p id: loop, buffers and its listening sockets (bound now, so
 * errors are reported before serving).  Errors go to the log.  0 or negative.
 */
int vg_worker_init(struct vg_worker *w, unsigned id, struct vg_shared *shared);
/** Start the worker's thread. */
int vg_worker_start(struct vg_worker *w);
/** Ask the worker to stop (thread-safe); join it with vg_worker_join. */
void vg_worker_stop(struct vg_worker *w);
/** Ask the worker to adopt the current config/hints snapshot (thread-safe). */
void vg_worker_notify(struct vg_worker *w);
/**
 * The snapshot generation this worker has adopted: no request it starts
 * from now on reads an older snapshot (older ones end by their deadline).
 */
uint64_t vg_worker_generation(struct vg_worker *w);
void vg_worker_join(struct vg_worker *w);
void vg_worker_deinit(struct vg_worker *w);

/* cross-file internals of the net module (udp.c, tcp.c, worker.c) */
struct vg_tcp_conn;
enum vg_transport { VG_TRANSPORT_NONE, VG_TRANSPORT_UDP, VG_TRANSPORT_TCP };

/** A client's peer and how to answer it. */
struct vg_peer {
	enum vg_transport transport;
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
		struct sockaddr_storage ss;
	} addr;
	int udp_fd;
	struct vg_tcp_conn *conn;
};

/** Handle one query datagram / frame.  The packet is borrowed for the call. */
void vg__worker_query(struct vg_worker *w, const uint8_t *pkt, size_t len,
		      const struct vg_peer *peer);
/** Send a reply to @p peer (UDP now, or queued on the TCP connection). */
void vg__worker_reply(struct vg_worker *w, const struct vg_peer *peer, const uint8_t *pkt,
		      size_t len);

/** Queue a UDP reply in the open batch; false if it must be sent directly. */
bool vg__udp_batch_add(struct vg_worker *w, int fd, const struct sockaddr *to,
		       const uint8_t *pkt, size_t len);
/** Set up the worker's recvmmsg headers (once, after its buffers exist). */
void vg__udp_init_batch(struct vg_worker *w);
/** Bind UDP listener number w->n_udp on @p addr and start reading it. */
int vg__udp_listen(struct vg_worker *w, const struct vg_sockaddr *addr);
int vg__tcp_listen(struct vg_worker *w, const struct vg_sockaddr *addr, uv_tcp_t *h);
/** Send @p pkt on the connection (framed); drops it if the connection closed. */
void vg__tcp_send(struct vg_tcp_conn *c, const uint8_t *pkt, size_t len);
/** A request on @p c finished (answered or abandoned). */
void vg__tcp_request_done(struct vg_tcp_conn *c);
void vg__tcp_request_start(struct vg_tcp_conn *c);
/** Close every client connection of the worker (shutdown). */
void vg__tcp_close_all(struct vg_worker *w);

#endif
