/* SPDX-License-Identifier: MIT
 *
 * Outbound queries to authoritative servers and forwarders.
 *
 * Each query gets its own connected UDP socket on a random source port (port
 * and query ID from libsodium), so replies from any other address or port are
 * dropped by the kernel.  A reply is accepted only if its ID, QR bit, opcode
 * and question match and the whole message parses; anything else on the
 * socket is counted as unwanted and the query keeps waiting (TuDoor,
 * ATTACKS.md 9: junk with the right ID must not end it).  A FORMERR or
 * NOTIMP without a question, which cannot be told from a forgery, is held:
 * at the timeout the callers are told -ETIMEDOUT (not counted against the
 * server) while the query lingers for the real answer, and only a query that
 * cannot linger delivers the held error.  A truncated
 * reply is retried over TCP to the same server, and so is the third try of a
 * question whose two earlier tries still linger while the server has
 * answered other queries since (ignored_by_live_server: rate limiting).
 *
 * Earlier tries.  When a UDP query times out its callers are told at once
 * (the resolver core retries, with a backed-off timer, or moves on), but its
 * socket stays open ("lingering") until LINGER_MS after it was sent: a late
 * answer to it still measures the server (its round trip feeds the RTT
 * estimate, so a server slower than the first timer is learnt) and, if an
 * identical query (the retry) is in flight, completes that one.  Whichever
 * genuine answer comes first wins, and the others' sockets close.  At most
 * LINGER_PER_KEY earlier tries per query linger (the oldest is dropped), and
 * LINGER_MAX per worker.  A query to a DNS-over-TLS
 * upstream (a forward zone with tls) is built here too, padded, and handed
 * to dot.c, which pipelines it on the worker's connection to that server;
 * it never goes over UDP or cleartext TCP.
 *
 * Cookies (RFC 7873).  A UDP query carries a COOKIE option: a client cookie,
 * SipHash-2-4 of the socket's source address and the server's address under
 * this worker's secret (random at start, replaced every 24 hours: each
 * worker has its own, as the server cookies it goes with are kept in its own
 * infra table), and the server cookie that server last handed out under that
 * secret.  An answer whose COOKIE option echoes another client cookie, or
 * has none while the server is known to do cookies (it sent a valid one
 * before), is a forgery: counted (cookie_bad, and unwanted) and ignored, the
 * query listening on as for junk.  Such a server is not switched to TCP by
 * the spoofing counter (its cookie already tells forgeries apart); a query
 * that dropped an answer for its cookie and then times out goes on over TCP
 * once (the server may have stopped doing cookies: an answer over TCP
 * without a cookie makes it a server without cookies again).  BADCOOKIE
 * with our client cookie: the new server cookie is taken and the query sent
 * again once, on the same socket; a second BADCOOKIE goes on over TCP.  A
 * FORMERR without a COOKIE option (with the question, or question-less and
 * held until the timeout) from a server not known to do cookies: the query
 * is sent again without the option, and the server gets none for an hour.
 * Queries that start on TCP (spoofed servers) or TLS carry no cookie.
 *
 * Identical queries in flight (same server address and port, name, type, RD
 * and DO) are shared, in two steps:
 *
 * 1. Within a worker: the worker's own pending table, no lock.  Later askers
 *    join the first one's waiter list.
 * 2. Across workers: struct vg_upshare, a table of every worker's queries in
 *    flight, in XSHARDS shards with a mutex each.  It is looked at only when
 *    step 1 missed, i.e. when a query would otherwise be sent: the cache-hit
 *    path never touches it.  A worker B that finds worker A's query there does
 *    not send its own: it links a struct vg__up_join to A's query.
 * Neither list has a cap of its own: every waiter is a request in flight, and
 * those are bounded per worker (a cap here only meant more identical queries
 * to the same server in a burst).
 *
 * Cross-worker joins.  A's query and its libuv handles belong to A's thread;
 * the join and its timer belong to B's.  When A's query ends (reply, timeout,
 * error, or A shutting down), A, holding the shard lock, unlinks every join,
 * copies the reply into it (A's receive buffer is reused at once), pushes it
 * on B's inbox (a mutex-protected list) and wakes B with uv_async_send; B's
 * loop then calls B's callback.  So a reply reaches B only after A matched it
 * (address, port, ID, QR, question), and the infra RTT/failure accounting is
 * done once, by A.  If A's query fails, B gets the same failure and does not
 * send a query of its own: the resolver core treats it like a failure of its
 * own query to that server (it moves on to another server or retries), and a
 * second query to a server that just failed would double the load on exactly
 * the servers that are struggling.
 *
 * B's join keeps B's own timeout: its timer fires after the timeout B asked
 * for (extended, as B's own query would have been, when A's query went on to
 * TCP after a truncated reply), and B then gets -ETIMEDOUT while A's query
 * goes on.  A query that has lost all its local waiters keeps running while
 * joins from other workers wait on it; once they are gone too it runs out
 * on its own timer (its reply still feeds A's RTT estimate).
 *
 * Locks: a shard lock, then (nested) an inbox lock; nothing takes them the
 * other way round.  The join's "linked" flag, the query's shared-table
 * fields and the join list are guarded by the shard lock.  Memory safety of
 * the hand-over:
 * - A's query stays allocated while any join is linked to it: A frees it only
 *   after detaching all joins under the shard lock (xshare_release).
 * - B's inbox and async handle stay valid while A may push: A pushes (and
 *   wakes B, under the inbox lock) only while holding the shard lock of a
 *   join that is still linked; B's shutdown first unlinks each of its joins
 *   under that join's shard lock, then takes its inbox lock once, and only
 *   then closes the async handle.
 * - A join is freed by B alone, in its timer's close callback, once it is
 *   neither linked nor in the inbox.
 *
 * Lifetime: a query is freed when all its libuv handles have closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "tls/tls.h"
#include "upstream/impl.h"

#define XSHARDS 64
#define XBUCKETS 64 /* per shard */
#define TCP_TIMEOUT_MIN 1500
#define LINGER_MS 3000   /* an earlier try listens this long after it was sent */
#define LINGER_PER_KEY 2 /* earlier tries of one query: 3 outstanding at most */
#define LINGER_MAX 512   /* lingering queries per worker */

/* A worker waiting on another worker's query. */
struct vg__up_join {
	struct vg_upq h;
	struct vg_upstream *up; /* the joiner's; set before linking, never changed */
	unsigned shard;
	/* guarded by the shard lock */
	bool linked;
	struct vg__up_query *q; /* valid while linked */
	struct vg__up_join *xnext, **xpprev;
	/* filled by the sender under the shard lock, before the push; read by
	 * the joiner after taking the join off its inbox */
	int status;
	uint8_t *reply;
	size_t len;
	struct vg__up_join *inext; /* inbox chain, guarded by the inbox lock */
	/* the joiner's thread only */
	vg_upstream_cb cb; /* NULL once called or cancelled */
	void *arg;
	bool cancelled;
	uint32_t timeout_ms;
	uv_timer_t timer;
	struct vg__up_join *lnext, **lpprev; /* up->joins */
};

struct xshard {
	pthread_mutex_t lock;
	struct vg__up_query *bucket[XBUCKETS];
} __attribute__((aligned(64)));

struct vg_upshare {
	unsigned char key[crypto_shorthash_KEYBYTES];
	struct xshard shard[XSHARDS];
};

static void on_inbox(uv_async_t *a);

/* ------------------------------------------------------------ shared table */

struct vg_upshare *vg_upshare_new(void)
{
	struct vg_upshare *s = aligned_alloc(64, sizeof(*s));
	if (!s)
		return NULL;
	memset(s, 0, sizeof(*s));
	randombytes_buf(s->key, sizeof(s->key));
	for (unsigned i = 0; i < XSHARDS; i++) {
		if (pthread_mutex_init(&s->shard[i].lock, NULL) != 0) {
			while (i--)
				pthread_mutex_destroy(&s->shard[i].lock);
			free(s);
			return NULL;
		}
	}
	return s;
}

void vg_upshare_free(struct vg_upshare *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < XSHARDS; i++) {
		for (unsigned b = 0; b < XBUCKETS; b++)
			(void)VG_FAILS(!s->shard[i].bucket[b]); /* every worker shut down first */
		pthread_mutex_destroy(&s->shard[i].lock);
	}
	free(s);
}

/* ------------------------------------------------------------ upstream object */

struct vg_upstream *vg_upstream_new(struct uv_loop_s *loop, struct vg_infra *inf,
				    const struct vg_upstream_opts *opts, struct vg_upshare *share)
{
	struct vg_upstream *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->loop = loop;
	u->infra = inf;
	u->opts = opts;
	u->share = share;
	randombytes_buf(u->ck_key, sizeof(u->ck_key));
	u->ck_gen = 1;
	u->ck_rotate_at = uv_now(loop) + VG__UP_COOKIE_ROTATE_MS;
	if (!share) {
		randombytes_buf(u->key, sizeof(u->key));
		return u;
	}
	memcpy(u->key, share->key, sizeof(u->key)); /* one hash for both tables */
	if (pthread_mutex_init(&u->inbox_lock, NULL) != 0)
		goto fail;
	if (uv_async_init(loop, &u->inbox_async, on_inbox) < 0) {
		pthread_mutex_destroy(&u->inbox_lock);
		goto fail;
	}
	u->inbox_async.data = u;
	uv_unref((uv_handle_t *)&u->inbox_async); /* joins' timers keep the loop alive */
	u->inbox_tail = &u->inbox_head;
	u->inbox_ready = true;
	return u;
fail:
	free(u);
	return NULL;
}

void vg_upstream_set_opts(struct vg_upstream *u, const struct vg_upstream_opts *opts)
{
	if (opts != u->opts)
		vg__dot_reset_ctx(u); /* a reload: the CA files are read again */
	u->opts = opts;
}

unsigned vg_upstream_pending(const struct vg_upstream *u)
{
	return u->pending;
}

const struct vg_upstream_stats *vg_upstream_stats(const struct vg_upstream *u)
{
	return &u->stats;
}

void vg_upstream_free(struct vg_upstream *u)
{
	if (!u)
		return;
	vg__dot_reset_ctx(u);
	if (u->inbox_ready)
		pthread_mutex_destroy(&u->inbox_lock);
	free(u);
}

/* Keyed (SipHash): remote clients choose the names, and the chains are walked
 * under a lock.  The address is hashed by its fields, not its bytes. */
static uint64_t key_hash(const unsigned char *key, const struct vg_sockaddr *to, uint64_t tls_id,
			 const uint8_t *qname, uint16_t qtype, bool rd, bool do_bit)
{
	uint8_t buf[1 + 2 + 16 + 8 + VG_NAME_MAX + 2 + 1];
	size_t n = 0;
	if (to->u.sa.sa_family == AF_INET6) {
		buf[n++] = 6;
		memcpy(buf + n, &to->u.in6.sin6_port, 2);
		memcpy(buf + n + 2, &to->u.in6.sin6_addr, 16);
		n += 18;
	} else {
		buf[n++] = 4;
		memcpy(buf + n, &to->u.in4.sin_port, 2);
		memcpy(buf + n + 2, &to->u.in4.sin_addr, 4);
		n += 6;
	}
	memcpy(buf + n, &tls_id, 8);
	n += 8;
	size_t nl = vg_name_len(qname);
	memcpy(buf + n, qname, nl);
	vg_name_lower(buf + n); /* names compare case-insensitively */
	n += nl;
	vg_put16(buf + n, qtype);
	buf[n + 2] = (uint8_t)(rd | do_bit << 1);
	n += 3;
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, buf, n, key);
	return h;
}

static bool same_key(const struct vg__up_query *a, uint64_t hash, const struct vg_sockaddr *to,
		     uint64_t tls_id, const uint8_t *qname, uint16_t qtype, bool rd, bool do_bit)
{
	return a->hash == hash && a->qtype == qtype && a->rd == rd && a->do_bit == do_bit &&
	       a->tls_id == tls_id && vg_sockaddr_eq(&a->to, to) && vg_name_eq(a->qname, qname);
}

static void table_remove(struct vg__up_query *q)
{
	if (!q->in_table)
		return;
	struct vg__up_query **pp = &q->up->table[q->hash % VG__UP_PENDING_BUCKETS];
	while (*pp && *pp != q)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = q->hnext;
	q->in_table = false;
}

static struct xshard *shard_of(struct vg_upshare *s, uint64_t hash)
{
	return &s->shard[hash % XSHARDS];
}

static struct vg__up_query **xbucket_of(struct xshard *sh, uint64_t hash)
{
	return &sh->bucket[(hash / XSHARDS) % XBUCKETS];
}

/* Under the shard lock: take @p q out of its bucket. */
static void xbucket_remove(struct xshard *sh, struct vg__up_query *q)
{
	struct vg__up_query **pp = xbucket_of(sh, q->hash);
	while (*pp && *pp != q)
		pp = &(*pp)->xnext;
	if (*pp)
		*pp = q->xnext;
	q->xnext = NULL;
	q->xlinked = false;
}

/* Under the shard lock: take @p j off its query's join list. */
static void join_unlink(struct vg__up_join *j)
{
	*j->xpprev = j->xnext;
	if (j->xnext)
		j->xnext->xpprev = j->xpprev;
	j->q = NULL;
	j->xnext = NULL;
	j->xpprev = NULL;
	j->linked = false;
}

/* Under the shard lock (nested: the inbox lock): hand @p j to its worker. */
static void inbox_push(struct vg__up_join *j)
{
	struct vg_upstream *u = j->up;
	pthread_mutex_lock(&u->inbox_lock);
	j->inext = NULL;
	*u->inbox_tail = j;
	u->inbox_tail = &j->inext;
	/* under the lock: the joiner closes the handle only after taking it */
	uv_async_send(&u->inbox_async);
	pthread_mutex_unlock(&u->inbox_lock);
}

/*
 * Owner's thread: take @p q out of the shared table and give every join the
 * outcome (the reply copied).  Nothing from another worker can reach @p q
 * afterwards.
 */
static void xshare_release(struct vg__up_query *q, int status, const uint8_t *pkt, size_t len)
{
	if (!q->xlinked)
		return;
	struct xshard *sh = shard_of(q->up->share, q->hash);
	pthread_mutex_lock(&sh->lock);
	xbucket_remove(sh, q);
	struct vg__up_join *j = q->xjoins;
	q->xjoins = NULL;
	while (j) {
		struct vg__up_join *next = j->xnext;
		j->linked = false;
		j->q = NULL;
		j->xnext = NULL;
		j->xpprev = NULL;
		j->status = status;
		j->reply = NULL;
		j->len = 0;
		if (status == 0) {
			j->reply = malloc(len ? len : 1);
			if (j->reply) {
				memcpy(j->reply, pkt, len);
				j->len = len;
			} else {
				j->status = VG_ENOMEM;
			}
		}
		inbox_push(j);
		j = next;
	}
	pthread_mutex_unlock(&sh->lock);
}

/* Owner's thread: leave the shared table if no other worker waits on @p q.
 * False: joins are linked, so @p q must keep running for them. */
static bool xshare_retire(struct vg__up_query *q)
{
	if (!q->xlinked)
		return true;
	struct xshard *sh = shard_of(q->up->share, q->hash);
	pthread_mutex_lock(&sh->lock);
	bool busy = q->xjoins != NULL;
	if (!busy)
		xbucket_remove(sh, q);
	pthread_mutex_unlock(&sh->lock);
	return !busy;
}

/* ------------------------------------------------------------ joins (joiner's thread) */

static void join_closed(uv_handle_t *h)
{
	struct vg__up_join *j = h->data;
	j->up->pending--;
	free(j->reply);
	free(j);
}

/* Free @p j (once it is neither linked nor in the inbox).  Idempotent. */
static void join_release(struct vg__up_join *j)
{
	if (uv_is_closing((uv_handle_t *)&j->timer))
		return;
	j->cb = NULL;
	if (j->lpprev) {
		*j->lpprev = j->lnext;
		if (j->lnext)
			j->lnext->lpprev = j->lpprev;
		j->lpprev = NULL;
	}
	uv_timer_stop(&j->timer);
	uv_close((uv_handle_t *)&j->timer, join_closed);
}

static void join_timeout(uv_timer_t *t)
{
	struct vg__up_join *j = t->data;
	if (!j->cb)
		return;
	struct xshard *sh = &j->up->share->shard[j->shard];
	uint64_t extend = 0;
	pthread_mutex_lock(&sh->lock);
	bool was_linked = j->linked;
	if (was_linked && j->q->tcp_since_ms) {
		/* the sender went on to TCP: wait as long as our own TCP retry would */
		uint64_t tcp = (uint64_t)j->timeout_ms * 2;
		if (tcp < TCP_TIMEOUT_MIN)
			tcp = TCP_TIMEOUT_MIN;
		uint64_t now = vg_time_now_ms();
		if (j->q->tcp_since_ms + tcp > now)
			extend = j->q->tcp_since_ms + tcp - now;
	}
	if (was_linked && !extend)
		join_unlink(j);
	pthread_mutex_unlock(&sh->lock);
	if (extend) {
		uv_timer_start(t, join_timeout, extend, 0);
		return;
	}
	if (!was_linked)
		return; /* the outcome is in our inbox: on_inbox delivers it */
	VG_STAT_INC(j->up->stats.timeouts);
	vg_upstream_cb cb = j->cb;
	j->cb = NULL;
	cb(j->arg, -ETIMEDOUT, NULL, 0, NULL);
	join_release(j);
}

static void join_cancel(struct vg__up_join *j)
{
	if (!j->cb || j->cancelled)
		return;
	j->cancelled = true;
	j->cb = NULL;
	uv_timer_stop(&j->timer);
	struct xshard *sh = &j->up->share->shard[j->shard];
	pthread_mutex_lock(&sh->lock);
	bool was_linked = j->linked;
	if (was_linked)
		join_unlink(j);
	pthread_mutex_unlock(&sh->lock);
	if (was_linked)
		join_release(j);
	/* else it is in our inbox (or about to be): on_inbox frees it */
}

static struct vg__up_join *inbox_take(struct vg_upstream *u)
{
	pthread_mutex_lock(&u->inbox_lock);
	struct vg__up_join *list = u->inbox_head;
	u->inbox_head = NULL;
	u->inbox_tail = &u->inbox_head;
	pthread_mutex_unlock(&u->inbox_lock);
	return list;
}

static void on_inbox(uv_async_t *a)
{
	struct vg_upstream *u = a->data;
	struct vg__up_join *j = inbox_take(u);
	while (j) {
		struct vg__up_join *next = j->inext;
		vg_upstream_cb cb = j->cb;
		if (cb && !j->cancelled) {
			j->cb = NULL;
			uv_timer_stop(&j->timer);
			cb(j->arg, j->status, j->reply, j->len, NULL);
		}
		join_release(j);
		j = next;
	}
}

/* Look for another worker's identical query in flight; join it, or publish
 * @p q (not yet sent) as the one the others will join.  Returns the join, or
 * NULL when @p q was published. */
static struct vg__up_join *xshare_join_or_add(struct vg_upstream *u, struct vg__up_query *q, vg_upstream_cb cb,
				       void *arg, uint32_t timeout_ms)
{
	struct xshard *sh = shard_of(u->share, q->hash);
	struct vg__up_query **b = xbucket_of(sh, q->hash);
	struct vg__up_join *j = NULL;
	pthread_mutex_lock(&sh->lock);
	for (struct vg__up_query *o = *b; o; o = o->xnext) {
		if (o->up == u ||
		    !same_key(o, q->hash, &q->to, q->tls_id, q->qname, q->qtype, q->rd, q->do_bit))
			continue;
		j = calloc(1, sizeof(*j));
		if (!j)
			break; /* send our own */
		j->h.kind = VG__UPQ_JOIN;
		j->up = u;
		j->shard = (unsigned)(q->hash % XSHARDS);
		j->cb = cb;
		j->arg = arg;
		j->timeout_ms = timeout_ms;
		j->q = o;
		j->xnext = o->xjoins;
		if (o->xjoins)
			o->xjoins->xpprev = &j->xnext;
		o->xjoins = j;
		j->xpprev = &o->xjoins;
		j->linked = true;
		break;
	}
	if (!j) {
		q->xnext = *b;
		*b = q;
		q->xlinked = true;
	}
	pthread_mutex_unlock(&sh->lock);
	if (!j)
		return NULL;
	/* the timer is ours alone: the sender never touches it, and our inbox is
	 * not read before we return to the loop */
	uv_timer_init(u->loop, &j->timer);
	j->timer.data = j;
	uv_timer_start(&j->timer, join_timeout, timeout_ms, 0);
	j->lnext = u->joins;
	if (u->joins)
		u->joins->lpprev = &j->lnext;
	u->joins = j;
	j->lpprev = &u->joins;
	u->pending++;
	return j;
}

/* ------------------------------------------------------------ queries (owner's thread) */

static void handle_closed(uv_handle_t *h)
{
	struct vg__up_query *q = h->data;
	if (--q->open_handles == 0) {
		q->up->pending--;
		if (q->waiters != q->inline_waiters)
			free(q->waiters);
		free(q->tcp_buf);
		free(q);
	}
}

static void close_handle(uv_handle_t *h)
{
	if (h->loop && !uv_is_closing(h))
		uv_close(h, handle_closed);
}

/* Stop everything and release the query once libuv is done with it.  Joins
 * still linked (none, except at shutdown) get -ECANCELED. */
static void finish(struct vg__up_query *q)
{
	if (q->lingering) {
		q->lingering = false;
		q->up->lingering--;
	}
	q->done = true;
	table_remove(q);
	xshare_release(q, -ECANCELED, NULL, 0);
	if (q->dot)
		vg__dot_detach(q);
	uv_timer_stop(&q->timer);
	close_handle((uv_handle_t *)&q->timer);
	if (q->udp.loop) {
		uv_udp_recv_stop(&q->udp);
		close_handle((uv_handle_t *)&q->udp);
	}
	if (q->tcp.loop)
		close_handle((uv_handle_t *)&q->tcp);
}

static bool same_query(const struct vg__up_query *a, const struct vg__up_query *b)
{
	return same_key(a, b->hash, &b->to, b->tls_id, b->qname, b->qtype, b->rd, b->do_bit);
}

/*
 * Account for the outcome and call every live waiter; the query's own fate
 * is the caller's.  @p account: the outcome says how the server does (a
 * reply to this query's own packet: its round trip; a timeout: a failure).
 * Before the call the query must be out of
 * reach of identical queries that callbacks start (out of the table, or
 * lingering).
 */
static void deliver(struct vg__up_query *q, int status, const uint8_t *pkt, size_t len,
		    struct vg_msg *m, bool account)
{
	uint64_t now = uv_now(q->up->loop);
	if (status == 0) {
		if (account) {
			vg_infra_rtt(q->up->infra, &q->to, (uint32_t)(now - q->sent_ms), now);
			vg_histo_observe(&q->up->stats.rtt, now - q->sent_ms);
		}
	} else if (status == -ETIMEDOUT) {
		if (account)
			vg_infra_timed_out(q->up->infra, &q->to, q->timeout_ms, now);
		VG_STAT_INC(q->up->stats.timeouts);
	} else if (status == -ECONNREFUSED || status == VG_ETLS) {
		vg_infra_failed(q->up->infra, &q->to, now);
		VG_STAT_INC(q->up->stats.errors);
	} else {
		VG_STAT_INC(q->up->stats.errors);
	}
	if (q->dot)
		vg__dot_detach(q); /* callbacks must not find it on its TLS connection */
	xshare_release(q, status, pkt, len); /* other workers: copied, before pkt is reused */
	q->completing = true;
	/* in place, not from a copy: a callback may cancel a later waiter */
	for (unsigned i = 0; i < q->nwaiters; i++) {
		vg_upstream_cb cb = q->waiters[i].cb;
		q->waiters[i].cb = NULL;
		if (cb)
			cb(q->waiters[i].arg, status, pkt, len, m);
	}
	q->completing = false;
	q->nwaiters = 0;
}

/* @p q was answered: close the sockets of its earlier tries. */
static void drop_earlier(struct vg__up_query *q)
{
	struct vg__up_query *o = q->up->table[q->hash % VG__UP_PENDING_BUCKETS];
	while (o) {
		struct vg__up_query *next = o->hnext; /* finish() unlinks o, frees it later */
		if (o->lingering && same_query(o, q))
			finish(o);
		o = next;
	}
}

/* @p m: the reply parsed in u->msg, or NULL (the waiters parse it if they
 * need it) */
static void complete(struct vg__up_query *q, int status, const uint8_t *pkt, size_t len,
		     struct vg_msg *m, bool account)
{
	if (q->done)
		return;
	if (q->lingering) { /* its callers were told already */
		finish(q);
		return;
	}
	/* callbacks may start an identical query: it must not join us */
	table_remove(q);
	q->done = true;
	deliver(q, status, pkt, len, m, account);
	if (status == 0)
		drop_earlier(q);
	finish(q);
}

/* Deliver the outcome to every live waiter, then finish. */
void vg__up_complete(struct vg__up_query *q, int status, const uint8_t *pkt, size_t len)
{
	complete(q, status, pkt, len, NULL, true);
}

/* Is @p pkt the reply to @p q? (ID, QR, opcode, question) */
bool vg__up_reply_matches(const struct vg__up_query *q, const uint8_t *pkt, size_t len)
{
	if (len < VG_HDR_LEN || vg_get16(pkt) != q->id)
		return false;
	uint16_t flags = vg_get16(pkt + 2);
	if (!(flags & VG_F_QR) || VG_F_OPCODE(flags) != VG_OPCODE_QUERY)
		return false;
	if (vg_get16(pkt + 4) != 1) {
		/* FORMERR/NOTIMP replies may come without a question */
		int rc = VG_F_RCODE(flags);
		return vg_get16(pkt + 4) == 0 && (rc == VG_RCODE_FORMERR || rc == VG_RCODE_NOTIMP);
	}
	uint8_t name[VG_NAME_MAX];
	size_t next;
	if (vg_name_unpack(pkt, len, VG_HDR_LEN, name, true, &next) < 0 || len - next < 4)
		return false;
	return vg_name_eq(name, q->qname) && vg_get16(pkt + next) == q->qtype &&
	       vg_get16(pkt + next + 2) == VG_C_IN;
}

/* The identical query in flight that is not an earlier try, or NULL. */
static struct vg__up_query *live_twin(struct vg__up_query *q)
{
	for (struct vg__up_query *o = q->up->table[q->hash % VG__UP_PENDING_BUCKETS]; o;
	     o = o->hnext)
		if (o != q && !o->lingering && !o->done && same_query(o, q))
			return o;
	return NULL;
}

static bool can_linger(const struct vg__up_query *q)
{
	const struct vg_upstream *u = q->up;
	return !q->dot && !q->use_tcp && q->udp.loop && q->in_table && !u->shut &&
	       u->lingering < LINGER_MAX && uv_now(u->loop) < q->sent_ms + LINGER_MS;
}

/* @p q timed out: tell its callers, and keep its socket open for a late
 * answer (see the top). */
static void linger(struct vg__up_query *q)
{
	struct vg_upstream *u = q->up;
	struct vg__up_query *oldest = NULL;
	unsigned n = 0;
	for (struct vg__up_query *o = u->table[q->hash % VG__UP_PENDING_BUCKETS]; o; o = o->hnext) {
		if (o->lingering && same_query(o, q)) {
			n++;
			if (!oldest || o->sent_ms < oldest->sent_ms)
				oldest = o;
		}
	}
	if (n >= LINGER_PER_KEY)
		finish(oldest);
	q->lingering = true; /* an identical query started by a callback is a retry */
	u->lingering++;
	/* a held error means the server is there: not a failure of its own */
	deliver(q, -ETIMEDOUT, NULL, 0, NULL, !q->has_held);
	if (!q->lingering)
		return; /* finished meanwhile (a shutdown from a callback) */
	uint64_t now = uv_now(u->loop), end = q->sent_ms + LINGER_MS;
	uv_timer_start(&q->timer, vg__up_on_timeout, end > now ? end - now : 0, 0);
}

/* A genuine answer reached @p q after its timeout. */
static void late_answer(struct vg__up_query *q, const uint8_t *pkt, size_t len)
{
	struct vg_upstream *u = q->up;
	uint64_t now = uv_now(u->loop);
	vg_infra_rtt(u->infra, &q->to, (uint32_t)(now - q->sent_ms), now);
	vg_histo_observe(&u->stats.rtt, now - q->sent_ms);
	VG_STAT_INC(u->stats.late);
	struct vg__up_query *live = live_twin(q);
	if (live && !(vg_get16(pkt + 2) & VG_F_TC))
		complete(live, 0, pkt, len, &u->msg, false); /* closes q too (drop_earlier) */
	finish(q);
}

static void go_tcp(struct vg__up_query *q);
static void cookie_resend(struct vg__up_query *q);
static int send_udp(struct vg__up_query *q);

/* The query held a question-less error and times out: was it a FORMERR to
 * our COOKIE option (from a server not known to do cookies)? */
static bool held_cookie_formerr(struct vg__up_query *q)
{
	struct vg_upstream *u = q->up;
	uint64_t now = uv_now(u->loop);
	return q->has_held && q->ck_sent && !q->ck_formerr &&
	       VG_F_RCODE(vg_get16(q->held + 2)) == VG_RCODE_FORMERR &&
	       !vg_infra_cookie_known(u->infra, &q->to, now);
}

void vg__up_on_timeout(uv_timer_t *t)
{
	struct vg__up_query *q = t->data;
	if (q->lingering) {
		finish(q);
	} else if (q->ck_dropped && !q->use_tcp && !q->dot) {
		go_tcp(q); /* answers dropped for their cookie, and no genuine one */
	} else if (held_cookie_formerr(q)) {
		VG_STAT_INC(q->up->stats.cookie_formerr);
		vg_infra_cookie_refused(q->up->infra, &q->to, uv_now(q->up->loop));
		q->ck_formerr = true;
		cookie_resend(q); /* still held: counted unwanted if an answer comes */
	} else if (can_linger(q)) {
		linger(q);
	} else if (q->has_held) { /* nothing better came: the held error it is */
		complete(q, 0, q->held, sizeof(q->held), NULL, false);
	} else {
		vg__up_complete(q, -ETIMEDOUT, NULL, 0);
	}
}

/* ------------------------------------------------------------------ TCP */

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct vg__up_query *q = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)q->tcp_buf + q->tcp_have, (unsigned)(2 + 65535 - q->tcp_have));
}

static void tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct vg__up_query *q = s->data;
	(void)buf;
	if (q->done)
		return;
	if (nread < 0) {
		vg__up_complete(q, nread == UV_EOF ? VG_EMALFORMED : (int)nread, NULL, 0);
		return;
	}
	q->tcp_have += (size_t)nread;
	if (q->tcp_have < 2)
		return;
	size_t mlen = vg_get16(q->tcp_buf);
	if (q->tcp_have < 2 + mlen)
		return;
	if (!vg__up_reply_matches(q, q->tcp_buf + 2, mlen)) {
		/* on a TCP stream a wrong reply means the stream is useless */
		VG_STAT_INC(q->up->stats.unwanted);
		vg__up_complete(q, VG_EMALFORMED, NULL, 0);
		return;
	}
	struct vg_upstream *u = q->up;
	struct vg_msg *m = NULL;
	if (q->ck_sent && vg_msg_parse(&u->msg, q->tcp_buf + 2, mlen) == 0) {
		m = &u->msg;
		/* no forger on a TCP stream: what it says about cookies is so */
		uint8_t sc[VG_UPCOOKIE_SERVER_MAX];
		size_t sclen = 0;
		uint64_t now = uv_now(u->loop);
		enum vg_upcookie c = vg_upcookie_parse(&u->msg, q->ck, sc, &sclen);
		if (c == VG_UPCOOKIE_OK)
			vg_infra_cookie_learn(u->infra, &q->to, q->ck_gen, sc, sclen, now);
		else if (c == VG_UPCOOKIE_NONE)
			vg_infra_cookie_forget(u->infra, &q->to, now);
	}
	complete(q, 0, q->tcp_buf + 2, mlen, m, true);
}

static void tcp_written(uv_write_t *w, int status)
{
	struct vg__up_query *q = w->data;
	if (status < 0 && !q->done)
		vg__up_complete(q, status, NULL, 0);
}

static void tcp_connected(uv_connect_t *c, int status)
{
	struct vg__up_query *q = c->data;
	if (q->done)
		return;
	if (status < 0) {
		vg__up_complete(q, status == UV_ECONNREFUSED ? -ECONNREFUSED : status, NULL, 0);
		return;
	}
	uv_buf_t b = uv_buf_init((char *)q->qbuf, (unsigned)(q->qlen + 2));
	q->write.data = q;
	int r = uv_write(&q->write, (uv_stream_t *)&q->tcp, &b, 1, tcp_written);
	if (r == 0)
		r = uv_read_start((uv_stream_t *)&q->tcp, tcp_alloc, tcp_read);
	if (r < 0)
		vg__up_complete(q, r, NULL, 0);
}

const struct vg_sockaddr *vg__up_source_for(const struct vg_upstream *u, int family)
{
	for (size_t i = 0; i < u->opts->n_outgoing; i++)
		if (u->opts->outgoing[i].u.sa.sa_family == family)
			return &u->opts->outgoing[i];
	return NULL;
}

static int start_tcp(struct vg__up_query *q)
{
	q->use_tcp = true;
	if (q->xlinked) { /* joins from other workers wait longer now, as we do */
		struct xshard *sh = shard_of(q->up->share, q->hash);
		pthread_mutex_lock(&sh->lock);
		q->tcp_since_ms = vg_time_now_ms();
		pthread_mutex_unlock(&sh->lock);
	}
	if (!q->tcp_buf) {
		q->tcp_buf = malloc(2 + 65535);
		if (!q->tcp_buf)
			return VG_ENOMEM;
	}
	q->tcp_have = 0;
	int r = uv_tcp_init(q->up->loop, &q->tcp);
	if (r < 0)
		return r;
	q->tcp.data = q;
	q->open_handles++;
	const struct vg_sockaddr *src = vg__up_source_for(q->up, q->to.u.sa.sa_family);
	if (src) {
		struct vg_sockaddr s = *src;
		if (s.u.sa.sa_family == AF_INET6)
			s.u.in6.sin6_port = 0;
		else
			s.u.in4.sin_port = 0;
		r = uv_tcp_bind(&q->tcp, &s.u.sa, 0);
		if (r < 0)
			return r;
	}
	q->connect.data = q;
	r = uv_tcp_connect(&q->connect, &q->tcp, &q->to.u.sa, tcp_connected);
	if (r < 0)
		return r;
	VG_STAT_INC(q->up->stats.tcp_sent);
	uint32_t t = q->timeout_ms * 2;
	uv_timer_start(&q->timer, vg__up_on_timeout, t < TCP_TIMEOUT_MIN ? TCP_TIMEOUT_MIN : t, 0);
	return 0;
}

/* ------------------------------------------------------------------ UDP */

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct vg__up_query *q = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)q->up->rxbuf, sizeof(q->up->rxbuf));
}

/* Something that is not @p q's answer came on its socket: count it against
 * the server, and go on over TCP if the server is now under attack (the
 * genuine answer may be lost in the flood). */
static void unwanted(struct vg__up_query *q)
{
	struct vg_upstream *u = q->up;
	VG_STAT_INC(u->stats.unwanted);
	uint64_t now = uv_now(u->loop);
	if (u->opts->cookies && vg_infra_cookie_known(u->infra, &q->to, now))
		return; /* its cookie tells its answers from forgeries: no need for TCP */
	if (!vg_infra_unwanted(u->infra, &q->to, u->opts->spoof_tcp, now) &&
	    !vg_infra_is_spoofed(u->infra, &q->to, now))
		return;
	if (q->lingering || q->use_tcp || q->has_held)
		return;
	VG_STAT_INC(u->stats.spoof_tcp);
	go_tcp(q);
}

/* On over TCP: the UDP socket stops listening. */
static void go_tcp(struct vg__up_query *q)
{
	uv_udp_recv_stop(&q->udp);
	uv_timer_stop(&q->timer);
	int r = start_tcp(q);
	if (r < 0)
		vg__up_complete(q, r, NULL, 0);
}

/* ------------------------------------------------------------------ cookies */

/* (Re)build @p q's UDP query: the base query, and the COOKIE option unless
 * cookies are off, the server refused the option, or it went without. */
static int build_udp(struct vg__up_query *q)
{
	struct vg_upstream *u = q->up;
	uint8_t *buf = q->qbuf + 2;
	size_t cap = sizeof(q->qbuf) - 2;
	int len = vg_wire_make_query(buf, cap, q->id, q->qname, q->qtype, q->rd,
				     u->opts->udp_size, q->do_bit);
	if (len < 0)
		return len;
	q->qlen = (size_t)len;
	q->ck_sent = false;
	uint64_t now = uv_now(u->loop);
	if (u->opts->cookies && !q->ck_formerr) {
		uint8_t opt[VG_UPCOOKIE_CLIENT + VG_UPCOOKIE_SERVER_MAX];
		struct vg_sockaddr me;
		int mlen = (int)sizeof(me.u);
		if (now >= u->ck_rotate_at) { /* a new secret: new client cookies */
			randombytes_buf(u->ck_key, sizeof(u->ck_key));
			u->ck_gen++;
			u->ck_rotate_at = now + VG__UP_COOKIE_ROTATE_MS;
		}
		int sl = vg_infra_cookie(u->infra, &q->to, u->ck_gen, opt + VG_UPCOOKIE_CLIENT, now);
		if (sl != VG_INFRA_NO_COOKIE && uv_udp_getsockname(&q->udp, &me.u.sa, &mlen) == 0) {
			vg_upcookie_client(u->ck_key, &me.u.sa, &q->to.u.sa, q->ck);
			memcpy(opt, q->ck, VG_UPCOOKIE_CLIENT);
			q->ck_gen = u->ck_gen;
			size_t n = vg_wire_add_option(buf, q->qlen, cap, VG_EDNS_COOKIE, opt,
						      (uint16_t)(VG_UPCOOKIE_CLIENT + sl));
			q->ck_sent = n != q->qlen;
			q->qlen = n;
		}
	}
	vg_put16(q->qbuf, (uint16_t)q->qlen);
	return 0;
}

/* Send @p q again on its socket (same ID), rebuilt with what was learnt. */
static void cookie_resend(struct vg__up_query *q)
{
	uv_timer_stop(&q->timer);
	q->sent_ms = uv_now(q->up->loop);
	int r = build_udp(q);
	if (r == 0)
		r = send_udp(q);
	if (r < 0)
		vg__up_complete(q, r, NULL, 0);
}

enum { CK_ACCEPT, CK_DROP, CK_DONE };

/* The cookie checks of @p q's UDP answer, parsed in u->msg (see the top):
 * accept it, drop it (a forgery), or done (sent again, or finished). */
static int cookie_check(struct vg__up_query *q)
{
	struct vg_upstream *u = q->up;
	if (!q->ck_sent)
		return CK_ACCEPT;
	uint64_t now = uv_now(u->loop);
	uint8_t sc[VG_UPCOOKIE_SERVER_MAX];
	size_t sclen = 0;
	enum vg_upcookie c = vg_upcookie_parse(&u->msg, q->ck, sc, &sclen);
	if (c == VG_UPCOOKIE_BAD ||
	    (c == VG_UPCOOKIE_NONE && vg_infra_cookie_known(u->infra, &q->to, now))) {
		VG_STAT_INC(u->stats.cookie_bad);
		q->ck_dropped = true;
		unwanted(q);
		return CK_DROP;
	}
	if (c == VG_UPCOOKIE_OK)
		vg_infra_cookie_learn(u->infra, &q->to, q->ck_gen, sc, sclen, now);
	int rcode = VG_F_RCODE(u->msg.flags);
	if (u->msg.edns.present)
		rcode |= u->msg.edns.ext_rcode << 4;
	if (rcode == VG_RCODE_BADCOOKIE && c == VG_UPCOOKIE_OK) {
		VG_STAT_INC(u->stats.badcookie);
		if (q->lingering) {
			finish(q); /* its retry (if any) has the new cookie now */
		} else if (!q->ck_retried) {
			q->ck_retried = true;
			cookie_resend(q);
		} else {
			go_tcp(q);
		}
		return CK_DONE;
	}
	if (rcode == VG_RCODE_FORMERR && c == VG_UPCOOKIE_NONE) {
		/* (not known to do cookies: checked above) */
		VG_STAT_INC(u->stats.cookie_formerr);
		vg_infra_cookie_refused(u->infra, &q->to, now);
		if (q->lingering) {
			finish(q);
		} else {
			q->ck_formerr = true;
			cookie_resend(q);
		}
		return CK_DONE;
	}
	return CK_ACCEPT;
}

static void udp_read(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
		     unsigned rflags)
{
	struct vg__up_query *q = h->data;
	(void)rflags;
	(void)from; /* the socket is connected: the kernel filters the source */
	if (q->done || q->use_tcp)
		return;
	if (nread < 0) {
		if (q->lingering)
			finish(q);
		else
			vg__up_complete(q, nread == UV_ECONNREFUSED ? -ECONNREFUSED : (int)nread,
					NULL, 0);
		return;
	}
	if (nread == 0)
		return;
	const uint8_t *pkt = (const uint8_t *)buf->base;
	size_t len = (size_t)nread;
	if (!vg__up_reply_matches(q, pkt, len)) {
		unwanted(q);
		return;
	}
	uint16_t flags = vg_get16(pkt + 2);
	if (vg_get16(pkt + 4) == 0) {
		/* an error without the question: anyone who saw the ID can forge
		 * it, so the query waits on for a real answer */
		if (q->ck_sent && vg_infra_cookie_known(q->up->infra, &q->to, uv_now(q->up->loop))) {
			VG_STAT_INC(q->up->stats.cookie_bad); /* not from a cookie server */
			q->ck_dropped = true;
			unwanted(q);
		} else if (!q->lingering && !q->has_held) {
			memcpy(q->held, pkt, VG_HDR_LEN);
			q->has_held = true;
		} else { /* one is enough; a lingering query never uses it */
			VG_STAT_INC(q->up->stats.unwanted);
		}
		return;
	}
	/* a truncated reply may be cut anywhere; anything else must parse */
	if (!(flags & VG_F_TC) && vg_msg_parse(&q->up->msg, pkt, len) < 0) {
		unwanted(q);
		return;
	}
	if (!(flags & VG_F_TC) && cookie_check(q) != CK_ACCEPT)
		return;
	if (q->has_held)
		VG_STAT_INC(q->up->stats.unwanted); /* it was not the answer after all */
	if (q->lingering) {
		late_answer(q, pkt, len);
		return;
	}
	if (flags & VG_F_TC) {
		VG_STAT_INC(q->up->stats.tc_fallback);
		go_tcp(q);
		return;
	}
	complete(q, 0, pkt, len, &q->up->msg, true); /* (parsed above) */
}

/*
 * A UDP socket bound to a random port, connected to the server.  libuv makes
 * the socket (non-blocking, close-on-exec) in uv_udp_bind and owns it from
 * then on: closing the handle closes it.  (uv_udp_open of a socket made here
 * would cost three more system calls per query: FIONBIO, SO_REUSEADDR and
 * getpeername.)
 */
static int open_udp(struct vg__up_query *q)
{
	int fam = q->to.u.sa.sa_family;
	struct vg_sockaddr src;
	const struct vg_sockaddr *cfgsrc = vg__up_source_for(q->up, fam);
	if (cfgsrc) {
		src = *cfgsrc;
	} else {
		memset(&src, 0, sizeof(src));
		src.u.sa.sa_family = (sa_family_t)fam;
		src.len = fam == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	}
	int r = uv_udp_init(q->up->loop, &q->udp);
	if (r < 0)
		return r;
	q->udp.data = q;
	q->open_handles++;
	r = -EADDRINUSE;
	for (int tries = 0; tries < 10 && r == -EADDRINUSE; tries++) {
		uint16_t port = (uint16_t)(1024 + vg_rand_uniform(65536 - 1024));
		if (fam == AF_INET6)
			src.u.in6.sin6_port = htons(port);
		else
			src.u.in4.sin_port = htons(port);
		r = uv_udp_bind(&q->udp, &src.u.sa, 0);
	}
	if (r < 0)
		return r;
	r = uv_udp_connect(&q->udp, &q->to.u.sa);
	if (r < 0)
		return r;
	return uv_udp_recv_start(&q->udp, udp_alloc, udp_read);
}

static int send_udp(struct vg__up_query *q)
{
	uv_buf_t b = uv_buf_init((char *)q->qbuf + 2, (unsigned)q->qlen);
	int r = uv_udp_try_send(&q->udp, &b, 1, NULL);
	if (r < 0)
		return r;
	VG_STAT_INC(q->up->stats.udp_sent);
	uv_timer_start(&q->timer, vg__up_on_timeout, q->timeout_ms, 0);
	return 0;
}

static int add_waiter(struct vg__up_query *q, vg_upstream_cb cb, void *arg)
{
	if (q->nwaiters == q->cap) {
		struct vg__up_waiter *w;
		if (q->waiters == q->inline_waiters) {
			w = malloc(2 * q->cap * sizeof(*w));
			if (w)
				memcpy(w, q->waiters, q->cap * sizeof(*w));
		} else {
			w = realloc(q->waiters, 2 * q->cap * sizeof(*w));
		}
		if (!w)
			return VG_ENOMEM;
		q->waiters = w;
		q->cap *= 2;
	}
	q->waiters[q->nwaiters++] = (struct vg__up_waiter){ cb, arg };
	return 0;
}

/* Is @p q the third try of a question its server let time out twice while it
 * answered other queries?  Response rate limiting does that: it drops a
 * share of the UDP answers for as long as the rate stays high, whatever the
 * retry timer, and leaves TCP alone -- so that try goes over TCP (the earlier
 * tries keep listening on UDP).  A server that answers nothing is not
 * dropping selectively: its retries stay on UDP. */
static bool ignored_by_live_server(struct vg_upstream *u, const struct vg__up_query *q)
{
	unsigned n = 0;
	uint64_t oldest = UINT64_MAX;
	for (const struct vg__up_query *o = u->table[q->hash % VG__UP_PENDING_BUCKETS]; o;
	     o = o->hnext) {
		if (o->lingering && same_query(o, q)) {
			n++;
			if (o->sent_ms < oldest)
				oldest = o->sent_ms;
		}
	}
	return n >= LINGER_PER_KEY &&
	       vg_infra_answered_since(u->infra, &q->to, oldest, uv_now(u->loop));
}

int vg_upstream_query(struct vg_upstream *u, const struct vg_sockaddr *to,
		      const struct vg_upstream_tls *tls, const uint8_t *qname, uint16_t qtype,
		      bool rd, bool do_bit, uint32_t timeout_ms, vg_upstream_cb cb, void *arg,
		      struct vg_upq **handle)
{
	uint64_t tls_id = tls ? vg__dot_id(u->key, tls) : 0;
	uint64_t h = key_hash(u->key, to, tls_id, qname, qtype, rd, do_bit);
	for (struct vg__up_query *q = u->table[h % VG__UP_PENDING_BUCKETS]; q; q = q->hnext) {
		if (!q->lingering && same_key(q, h, to, tls_id, qname, qtype, rd, do_bit) &&
		    add_waiter(q, cb, arg) == 0) {
			VG_STAT_INC(u->stats.shared);
			*handle = &q->h;
			return 0;
		}
	}

	struct vg__up_query *q = calloc(1, sizeof(*q));
	if (!q)
		return VG_ENOMEM;
	q->h.kind = VG__UPQ_QUERY;
	q->up = u;
	q->hash = h;
	q->to = *to;
	q->tls_id = tls_id;
	memcpy(q->qname, qname, vg_name_len(qname));
	q->qtype = qtype;
	q->rd = rd;
	q->do_bit = do_bit;
	q->timeout_ms = timeout_ms;
	q->id = vg_rand_u16();
	int len = vg_wire_make_query(q->qbuf + 2, sizeof(q->qbuf) - 2, q->id, qname, qtype, rd,
				     u->opts->udp_size, do_bit);
	if (len >= 0 && tls) /* RFC 8467: hide the name's length from observers */
		len = (int)vg_wire_pad(q->qbuf + 2, (size_t)len, sizeof(q->qbuf) - 2, VG_PAD_QUERY);
	if (len < 0) {
		free(q);
		return len;
	}
	q->qlen = (size_t)len;
	vg_put16(q->qbuf, (uint16_t)len);
	q->waiters = q->inline_waiters;
	q->cap = VG__UP_INLINE_WAITERS;
	q->waiters[0] = (struct vg__up_waiter){ cb, arg };
	q->nwaiters = 1;

	if (u->share && !u->shut) {
		struct vg__up_join *j = xshare_join_or_add(u, q, cb, arg, timeout_ms);
		if (j) {
			free(q); /* never sent, never published */
			VG_STAT_INC(u->stats.shared);
			VG_STAT_INC(u->stats.shared_xworker);
			*handle = &j->h;
			return 0;
		}
	}

	int r = uv_timer_init(u->loop, &q->timer);
	if (r < 0) {
		xshare_release(q, r, NULL, 0);
		free(q);
		return r;
	}
	q->timer.data = q;
	q->open_handles = 1;
	u->pending++;
	q->sent_ms = uv_now(u->loop);
	if (tls) {
		r = vg__dot_send(q, tls);
	} else if (u->opts->spoof_tcp && vg_infra_is_spoofed(u->infra, to, q->sent_ms) &&
		   !(u->opts->cookies && vg_infra_cookie_known(u->infra, to, q->sent_ms))) {
		VG_STAT_INC(u->stats.spoof_tcp);
		r = start_tcp(q);
	} else if (ignored_by_live_server(u, q)) {
		VG_STAT_INC(u->stats.ignored_tcp);
		r = start_tcp(q);
	} else {
		r = open_udp(q);
		if (r == 0)
			r = build_udp(q);
		if (r == 0)
			r = send_udp(q);
	}
	if (r < 0) {
		/* no callback: tell the caller directly, and release what we made;
		 * other workers that joined meanwhile get the error */
		q->nwaiters = 0;
		xshare_release(q, r, NULL, 0);
		finish(q);
		return r;
	}
	q->hnext = u->table[h % VG__UP_PENDING_BUCKETS];
	u->table[h % VG__UP_PENDING_BUCKETS] = q;
	q->in_table = true;
	*handle = &q->h;
	return 0;
}

void vg_upstream_cancel(struct vg_upq *handle, void *arg)
{
	if (!handle)
		return;
	if (handle->kind == VG__UPQ_JOIN) {
		join_cancel(container_of(handle, struct vg__up_join, h));
		return;
	}
	struct vg__up_query *q = container_of(handle, struct vg__up_query, h);
	if (q->completing) { /* called from a waiter's callback in vg__up_complete() */
		for (unsigned i = 0; i < q->nwaiters; i++)
			if (q->waiters[i].arg == arg)
				q->waiters[i].cb = NULL;
		return;
	}
	if (q->done || q->lingering)
		return;
	bool live = false;
	for (unsigned i = 0; i < q->nwaiters; i++) {
		if (q->waiters[i].arg == arg)
			q->waiters[i].cb = NULL;
		live |= q->waiters[i].cb != NULL;
	}
	if (live)
		return;
	/* other workers may still wait on it: then it runs on for them */
	if (xshare_retire(q)) {
		q->nwaiters = 0;
		finish(q);
	}
}

void vg_upstream_shutdown(struct vg_upstream *u)
{
	if (u->inbox_ready && !u->shut) {
		u->shut = true; /* no new joins, nothing new in the shared table */
		/* after this, no other worker can push to our inbox (see the top) */
		for (struct vg__up_join *j = u->joins; j; j = j->lnext) {
			struct xshard *sh = &u->share->shard[j->shard];
			pthread_mutex_lock(&sh->lock);
			if (j->linked)
				join_unlink(j);
			pthread_mutex_unlock(&sh->lock);
			j->cancelled = true;
			j->cb = NULL;
		}
		/* empty the inbox: a push wakes us under this lock, so once we have
		 * held it no other thread touches the async handle again.  What was
		 * in it is still on u->joins, released below. */
		(void)inbox_take(u);
		while (u->joins)
			join_release(u->joins);
		uv_close((uv_handle_t *)&u->inbox_async, NULL);
	}
	u->shut = true;
	for (unsigned b = 0; b < VG__UP_PENDING_BUCKETS; b++) {
		while (u->table[b]) {
			struct vg__up_query *q = u->table[b];
			q->nwaiters = 0;
			finish(q); /* unlinks q from both tables; other workers get -ECANCELED */
		}
	}
	vg__dot_shutdown(u); /* their queries were all in the table */
}
