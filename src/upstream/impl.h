/* SPDX-License-Identifier: MIT
 *
 * Internals of the upstream module, shared by its files and by nothing else:
 *
 *   outbound.c  queries: the per-worker and cross-worker in-flight tables,
 *               UDP, TCP after truncation, completion
 *   dot.c       DNS over TLS: each worker's connections to TLS upstreams,
 *               on which outbound.c's queries are pipelined
 *   select.c    the infra table (round trips, failures, lameness)
 */
#ifndef VG_UPSTREAM_IMPL_H
#define VG_UPSTREAM_IMPL_H

#include <pthread.h>

#include <sodium.h>
#include <uv.h>

#include "upstream/upstream.h"
#include "vigil/wire.h"

#define VG__UP_INLINE_WAITERS 4 /* more are allocated */
#define VG__UP_PENDING_BUCKETS 1024
#define VG__UP_COOKIE_ROTATE_MS (24 * 3600 * 1000ULL) /* client cookie secret lifetime */
#define VG__UP_TLS_CTX_MAX 8 /* client contexts cached per worker (one per CA file) */

struct vg__up_waiter {
	vg_upstream_cb cb;
	void *arg;
};

enum vg__upq_kind { VG__UPQ_QUERY, VG__UPQ_JOIN };

/* What callers hold: a query of this worker, or a join to another worker's. */
struct vg_upq {
	enum vg__upq_kind kind;
};

struct vg__up_join;
struct vg__dot_conn;

/* One query this worker sends (see outbound.c for the sharing rules). */
struct vg__up_query {
	struct vg_upq h;
	struct vg_upstream *up;
	struct vg__up_query *hnext; /* pending table chain */
	uint64_t hash;
	bool in_table, done, use_tcp, completing;
	/* timed out, its callers told, its socket still open for a late answer
	 * (outbound.c, "earlier tries") */
	bool lingering;
	/* a question-less FORMERR/NOTIMP with our ID, held until the timeout */
	bool has_held;
	uint8_t held[VG_HDR_LEN];
	/* in the shared table; written by the owner only (others find the query
	 * through the shard's chain, under its lock) */
	bool xlinked;
	/* guarded by the shard lock */
	struct vg__up_query *xnext;   /* shard bucket chain */
	struct vg__up_join *xjoins;   /* joins from other workers */
	uint64_t tcp_since_ms;        /* went on to TCP at (vg_time_now_ms), 0: UDP */
	int open_handles;
	uv_udp_t udp;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t connect;
	uv_write_t write;
	/* the key: set before the query enters the shared table, never changed */
	struct vg_sockaddr to;
	uint64_t tls_id; /* 0: cleartext; else a keyed hash of the TLS authentication */
	uint8_t qname[VG_NAME_MAX];
	uint16_t qtype, id;
	bool rd, do_bit;
	uint32_t timeout_ms;
	uint64_t sent_ms;
	uint8_t qbuf[2 + 512]; /* 2-byte length prefix for TCP and TLS, then the query */
	size_t qlen;
	/* DNS cookies (outbound.c, "Cookies") */
	bool ck_sent;     /* the query on the wire has a COOKIE option */
	bool ck_retried;  /* sent again after a BADCOOKIE */
	bool ck_formerr;  /* sent again without the option after a FORMERR */
	bool ck_dropped;  /* an answer was dropped for its cookie */
	uint32_t ck_gen;  /* the client secret's generation */
	uint8_t ck[VG_UPCOOKIE_CLIENT];
	uint8_t *tcp_buf; /* 2 + 65535, on TCP only */
	size_t tcp_have;
	/* DNS over TLS (dot.c): the connection it waits on or was written to */
	struct vg__dot_conn *dot;
	struct vg__up_query *dnext, **dpprev; /* the connection's query list */
	bool dot_sent;    /* written on the connection (else queued) */
	bool dot_retried; /* requeued once after its connection closed */
	unsigned nwaiters, cap;
	struct vg__up_waiter *waiters; /* inline_waiters, or allocated */
	struct vg__up_waiter inline_waiters[VG__UP_INLINE_WAITERS];
};

struct vg__up_tls_ctx {
	char ca_file[VG_UPSTREAM_TLS_PATH_MAX];
	struct vg_tls_ctx *ctx;
};

struct vg_upstream {
	uv_loop_t *loop;
	struct vg_infra *infra;
	const struct vg_upstream_opts *opts;
	struct vg_upshare *share; /* NULL: no sharing across workers */
	unsigned char key[crypto_shorthash_KEYBYTES];
	/* the client cookie secret (this worker's), its generation, and when it
	 * is replaced (uv_now) */
	uint8_t ck_key[VG_UPCOOKIE_KEY];
	uint32_t ck_gen;
	uint64_t ck_rotate_at;
	struct vg__up_query *table[VG__UP_PENDING_BUCKETS];
	unsigned pending; /* queries, joins and DoT connections not yet freed */
	unsigned lingering; /* queries in the lingering state */
	bool shut;
	bool inbox_ready;
	struct vg__up_join *joins; /* this worker's joins, until freed */
	uv_async_t inbox_async;
	pthread_mutex_t inbox_lock;
	struct vg__up_join *inbox_head, **inbox_tail; /* guarded by inbox_lock */
	/* DNS over TLS (dot.c) */
	struct vg__dot_conn *dot;  /* this worker's connections */
	unsigned n_dot;
	struct vg__up_tls_ctx tls_ctx[VG__UP_TLS_CTX_MAX]; /* client contexts, by CA file */
	unsigned n_tls_ctx;
	struct vg_upstream_stats stats;
	struct vg_msg msg; /* a reply is fully parsed before it is accepted */
	uint8_t rxbuf[65536];
};

/* outbound.c */
/** Deliver the outcome to every waiter of @p q and release it. */
void vg__up_complete(struct vg__up_query *q, int status, const uint8_t *pkt, size_t len);
/** Is @p pkt the reply to @p q? (ID, QR, opcode, question) */
bool vg__up_reply_matches(const struct vg__up_query *q, const uint8_t *pkt, size_t len);
/** The query's timeout timer callback (the query fails with -ETIMEDOUT). */
void vg__up_on_timeout(uv_timer_t *t);
/** The configured source address for @p family, NULL: any. */
const struct vg_sockaddr *vg__up_source_for(const struct vg_upstream *u, int family);

/* dot.c */
/** The key of a TLS authentication (never 0), for the in-flight tables. */
uint64_t vg__dot_id(const unsigned char *key, const struct vg_upstream_tls *tls);
/**
 * Send @p q (built, padded) over TLS to q->to authenticated by @p tls: on
 * the connection's queue, written once it is up.  0, or a negative error
 * (nothing queued: the upstream is in back-off, or its queue is full).
 */
int vg__dot_send(struct vg__up_query *q, const struct vg_upstream_tls *tls);
/** @p q is done: off its connection (which may then go idle). */
void vg__dot_detach(struct vg__up_query *q);
/** Close every connection (their queries were finished before). */
void vg__dot_shutdown(struct vg_upstream *u);
/** The settings changed (a reload): forget the client contexts. */
void vg__dot_reset_ctx(struct vg_upstream *u);

#endif
