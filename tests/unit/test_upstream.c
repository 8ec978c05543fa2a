/* SPDX-License-Identifier: MIT
 *
 * Unit tests for src/upstream/outbound.c: identical queries in flight shared
 * across workers (struct vg_upshare).
 *
 * Each "worker" here is what the daemon's worker is to the upstream code: a
 * thread running its own uv loop with its own vg_upstream and vg_infra, all
 * of them on one vg_upshare.  The test thread drives a worker by handing it a
 * command (run on the worker's loop, through a uv_async_t) and waiting for it.
 * The name server is the test's own: a thread on 127.0.0.1 (UDP, and TCP for
 * the truncation case) that counts what it receives and holds its replies
 * back for a set time, or never answers.
 *
 * Waits are bounded (LIVENESS_S) only so that a broken build fails instead of
 * hanging; no test claims anything about how long something took.
 */
#include <check.h>

#include "check_main.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "upstream/upstream.h"
#include "vigil/wire.h"

#define LIVENESS_S 30
#define LONG_MS 30000 /* a timeout no test waits for */
/* How long the server holds replies back: the second worker must have joined
 * by then (a command round trip), even on a loaded machine under a sanitizer. */
#define HOLD_MS 800

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void wait_sem(sem_t *s)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += LIVENESS_S;
	int r;
	while ((r = sem_timedwait(s, &ts)) < 0 && errno == EINTR)
		;
	ck_assert_msg(r == 0, "nothing happened within %d s", LIVENESS_S);
}

/* ------------------------------------------------------------ the name server */

struct pending_reply {
	struct sockaddr_in to;
	int tcp_fd; /* -1: UDP */
	uint8_t pkt[512];
	size_t len;
	uint64_t due;
};

struct server {
	int udp, tcp;
	uint16_t port;
	int delay_ms;     /* UDP replies; < 0: never */
	bool tc;          /* UDP: answer at once with TC; TCP: after tcp_delay_ms */
	int tcp_delay_ms;
	uint8_t drop[VG_NAME_MAX]; /* UDP queries for this name get no answer ("": none) */
	atomic_int udp_queries, tcp_queries;
	atomic_uint sync_req, sync_done; /* see server_sync() */
	atomic_bool stop;
	pthread_t thread;
	struct pending_reply pend[256];
	unsigned npend;
};

static void schedule(struct server *s, const uint8_t *q, size_t len, const struct sockaddr_in *to,
		     int tcp_fd, int delay_ms, bool tc)
{
	if (len < VG_HDR_LEN || len > sizeof(s->pend[0].pkt) || s->npend == 256) {
		if (tcp_fd >= 0)
			close(tcp_fd);
		return;
	}
	struct pending_reply *p = &s->pend[s->npend++];
	memcpy(p->pkt, q, len); /* the query, with QR (and maybe TC): a matching reply */
	vg_put16(p->pkt + 2, (uint16_t)(vg_get16(q + 2) | VG_F_QR | VG_F_RA | (tc ? VG_F_TC : 0)));
	p->len = len;
	if (to)
		p->to = *to;
	p->tcp_fd = tcp_fd;
	p->due = mono_ms() + (uint64_t)delay_ms;
}

static void send_due(struct server *s)
{
	uint64_t now = mono_ms();
	for (unsigned i = 0; i < s->npend;) {
		struct pending_reply *p = &s->pend[i];
		if (p->due > now) {
			i++;
			continue;
		}
		if (p->tcp_fd >= 0) {
			uint8_t buf[2 + 512];
			vg_put16(buf, (uint16_t)p->len);
			memcpy(buf + 2, p->pkt, p->len);
			ssize_t n = write(p->tcp_fd, buf, p->len + 2);
			(void)n;
			close(p->tcp_fd);
		} else {
			sendto(s->udp, p->pkt, p->len, 0, (struct sockaddr *)&p->to, sizeof(p->to));
		}
		*p = s->pend[--s->npend];
	}
}

static void tcp_accept(struct server *s)
{
	int c = accept(s->tcp, NULL, NULL);
	if (c < 0)
		return;
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint8_t buf[2 + 512];
	size_t have = 0, want = 2;
	while (have < want) {
		ssize_t n = read(c, buf + have, want - have);
		if (n <= 0) {
			close(c);
			return;
		}
		have += (size_t)n;
		if (have == 2) {
			want = 2 + vg_get16(buf);
			if (want > sizeof(buf)) {
				close(c);
				return;
			}
		}
	}
	atomic_fetch_add(&s->tcp_queries, 1);
	schedule(s, buf + 2, want - 2, NULL, c, s->tcp_delay_ms, false);
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	while (!atomic_load(&s->stop)) {
		unsigned req = atomic_load(&s->sync_req);
		struct pollfd pf[2] = { { .fd = s->udp, .events = POLLIN },
					{ .fd = s->tcp, .events = POLLIN } };
		if (poll(pf, 2, 0) == 0) /* all read that came before @req */
			atomic_store(&s->sync_done, req);
		poll(pf, 2, 5);
		if (pf[0].revents & POLLIN) {
			uint8_t buf[512];
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(s->udp, buf, sizeof(buf), 0, (struct sockaddr *)&from,
					     &fl);
			if (n > 0) {
				atomic_fetch_add(&s->udp_queries, 1);
				size_t dl = s->drop[0] ? vg_name_len(s->drop) : 0;
				if (dl && (size_t)n >= VG_HDR_LEN + dl &&
				    !memcmp(buf + VG_HDR_LEN, s->drop, dl))
					; /* rate limited: no answer over UDP */
				else if (s->tc)
					schedule(s, buf, (size_t)n, &from, -1, 0, true);
				else if (s->delay_ms >= 0)
					schedule(s, buf, (size_t)n, &from, -1, s->delay_ms, false);
			}
		}
		if (pf[1].revents & POLLIN)
			tcp_accept(s);
		send_due(s);
	}
	for (unsigned i = 0; i < s->npend; i++)
		if (s->pend[i].tcp_fd >= 0)
			close(s->pend[i].tcp_fd);
	return NULL;
}

/* Wait until the server has read everything sent to it so far. */
static void server_sync(struct server *s)
{
	unsigned gen = atomic_fetch_add(&s->sync_req, 1) + 1;
	struct timespec nap = { 0, 1000 * 1000 };
	for (int i = 0; i < LIVENESS_S * 1000 && atomic_load(&s->sync_done) < gen; i++)
		nanosleep(&nap, NULL);
	ck_assert_uint_ge(atomic_load(&s->sync_done), gen);
}

/* Queries the server received over UDP / TCP, everything sent so far counted. */
static int udp_seen(struct server *s)
{
	server_sync(s);
	return atomic_load(&s->udp_queries);
}

static int tcp_seen(struct server *s)
{
	server_sync(s);
	return atomic_load(&s->tcp_queries);
}

/* @p drop: a name whose UDP queries get no answer, or NULL (set before the
 * server's thread starts: it reads it unlocked) */
static struct server *server_start_dropping(int delay_ms, bool tc, int tcp_delay_ms,
					    const char *drop)
{
	struct server *s = calloc(1, sizeof(*s));
	ck_assert_ptr_nonnull(s);
	if (drop)
		ck_assert_int_gt(vg_name_from_str(drop, s->drop, VG_NAME_MAX), 0);
	s->delay_ms = delay_ms;
	s->tc = tc;
	s->tcp_delay_ms = tcp_delay_ms;
	for (int tries = 0; tries < 50; tries++) { /* one port free for UDP and TCP */
		struct sockaddr_in a = { .sin_family = AF_INET };
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t al = sizeof(a);
		s->udp = socket(AF_INET, SOCK_DGRAM, 0);
		ck_assert_int_ge(s->udp, 0);
		ck_assert_int_eq(bind(s->udp, (struct sockaddr *)&a, sizeof(a)), 0);
		getsockname(s->udp, (struct sockaddr *)&a, &al);
		s->tcp = socket(AF_INET, SOCK_STREAM, 0);
		ck_assert_int_ge(s->tcp, 0);
		if (bind(s->tcp, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		    listen(s->tcp, 16) == 0) {
			s->port = ntohs(a.sin_port);
			break;
		}
		close(s->udp);
		close(s->tcp);
	}
	ck_assert_uint_ne(s->port, 0);
	ck_assert_int_eq(pthread_create(&s->thread, NULL, server_main, s), 0);
	return s;
}

static struct server *server_start(int delay_ms, bool tc, int tcp_delay_ms)
{
	return server_start_dropping(delay_ms, tc, tcp_delay_ms, NULL);
}

static void server_stop(struct server *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	close(s->udp);
	close(s->tcp);
	free(s);
}

static struct vg_sockaddr server_addr(const struct server *s)
{
	struct vg_sockaddr a;
	memset(&a, 0, sizeof(a));
	a.u.in4.sin_family = AF_INET;
	a.u.in4.sin_port = htons(s->port);
	a.u.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.len = sizeof(a.u.in4);
	return a;
}

/* ------------------------------------------------------------ workers */

struct worker;
typedef void (*cmd_fn)(struct worker *w, void *arg);

struct worker {
	uv_loop_t loop;
	uv_async_t cmd;
	struct vg_infra *infra;
	struct vg_upstream *up;
	pthread_t thread;
	pthread_mutex_t lock;
	cmd_fn fn; /* guarded by lock */
	void *arg;
	sem_t done;
};

static struct vg_upstream_opts Opts = { .udp_size = 1232 }; /* the config's defaults */
static struct vg_upshare *Share;
static struct server *Srv;
static struct worker W[3];

static void on_cmd(uv_async_t *a)
{
	struct worker *w = a->data;
	pthread_mutex_lock(&w->lock);
	cmd_fn fn = w->fn;
	void *arg = w->arg;
	w->fn = NULL;
	pthread_mutex_unlock(&w->lock);
	if (!fn)
		return;
	fn(w, arg);
	sem_post(&w->done);
}

/* Run @p fn on @p w's loop and wait until it has run. */
static void run_on(struct worker *w, cmd_fn fn, void *arg)
{
	pthread_mutex_lock(&w->lock);
	w->fn = fn;
	w->arg = arg;
	pthread_mutex_unlock(&w->lock);
	uv_async_send(&w->cmd);
	wait_sem(&w->done);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uv_run(&w->loop, UV_RUN_DEFAULT);
	return NULL;
}

/*
 * libuv runs the async handles that are due in the order they were made.
 * The upstream's inbox handle made after our command handle is run in the
 * same pass as a command that filled the inbox; made before it, in the next
 * loop iteration, after the close callbacks of what the command closed.
 * Both orders are worth running (joiner_cancelled_with_reply_in_inbox).
 */
static void worker_start_ordered(struct worker *w, bool upstream_first)
{
	memset(w, 0, sizeof(*w));
	ck_assert_int_eq(uv_loop_init(&w->loop), 0);
	w->infra = vg_infra_new(64);
	ck_assert_ptr_nonnull(w->infra);
	if (upstream_first)
		w->up = vg_upstream_new(&w->loop, w->infra, &Opts, Share);
	ck_assert_int_eq(uv_async_init(&w->loop, &w->cmd, on_cmd), 0);
	w->cmd.data = w;
	if (!upstream_first)
		w->up = vg_upstream_new(&w->loop, w->infra, &Opts, Share);
	ck_assert_ptr_nonnull(w->up);
	pthread_mutex_init(&w->lock, NULL);
	sem_init(&w->done, 0, 0);
	ck_assert_int_eq(pthread_create(&w->thread, NULL, worker_main, w), 0);
}

static void worker_start(struct worker *w)
{
	worker_start_ordered(w, false);
}

static void cmd_quit(struct worker *w, void *arg)
{
	(void)arg;
	vg_upstream_shutdown(w->up);
	uv_close((uv_handle_t *)&w->cmd, NULL);
}

/* Shut the worker's upstream down and end its thread (idempotent). */
static void worker_stop(struct worker *w)
{
	if (!w->up)
		return;
	run_on(w, cmd_quit, NULL);
	pthread_join(w->thread, NULL);
	ck_assert_uint_eq(vg_upstream_pending(w->up), 0); /* every query and join freed */
	ck_assert_int_eq(uv_loop_close(&w->loop), 0);     /* every handle closed */
	vg_upstream_free(w->up);
	w->up = NULL;
	vg_infra_free(w->infra);
	pthread_mutex_destroy(&w->lock);
	sem_destroy(&w->done);
}

static void noop(struct worker *w, void *arg)
{
	(void)w;
	(void)arg;
}

/* Let @p w's loop run what is due (inbox, close callbacks) before looking. */
static void settle(struct worker *w)
{
	run_on(w, noop, NULL);
	run_on(w, noop, NULL);
}

/* ------------------------------------------------------------ queries */

struct result {
	atomic_int called;
	int status;
	size_t len;
	uint8_t pkt[512];
	int parsed; /* the reply came parsed: 1, and from pkt; -1 from something else */
	sem_t sem;
	struct vg_upq *handle;
};

static void on_result(void *arg, int status, const uint8_t *pkt, size_t len, struct vg_msg *m)
{
	struct result *r = arg;
	r->status = status;
	r->len = len;
	if (pkt && len <= sizeof(r->pkt))
		memcpy(r->pkt, pkt, len);
	if (m)
		r->parsed = status == 0 && m->pkt == pkt && m->len == len && len >= VG_HDR_LEN &&
				    m->id == vg_get16(pkt) && m->ancount == vg_get16(pkt + 6) ? 1 : -1;
	atomic_fetch_add(&r->called, 1);
	sem_post(&r->sem);
}

struct query_cmd {
	const char *name;
	uint32_t timeout_ms;
	struct result *res;
	int ret;
};

static void cmd_query(struct worker *w, void *arg)
{
	struct query_cmd *c = arg;
	uint8_t qname[VG_NAME_MAX];
	ck_assert_int_ge(vg_name_from_str(c->name, qname, sizeof(qname)), 0);
	struct vg_sockaddr to = server_addr(Srv);
	c->ret = vg_upstream_query(w->up, &to, NULL, qname, VG_T_A, false, true, c->timeout_ms,
				   on_result, c->res, &c->res->handle);
}

static void query(struct worker *w, const char *name, uint32_t timeout_ms, struct result *r)
{
	memset(r, 0, sizeof(*r));
	sem_init(&r->sem, 0, 0);
	struct query_cmd c = { name, timeout_ms, r, 0 };
	run_on(w, cmd_query, &c);
	ck_assert_int_eq(c.ret, 0);
}

static void cmd_cancel(struct worker *w, void *arg)
{
	struct result *r = arg;
	(void)w;
	vg_upstream_cancel(r->handle, r);
}

static void cmd_shutdown(struct worker *w, void *arg)
{
	(void)arg;
	vg_upstream_shutdown(w->up);
}

static void cmd_pending(struct worker *w, void *arg)
{
	*(unsigned *)arg = vg_upstream_pending(w->up);
}

/* Queries and joins of @p w not yet freed (read on its own thread). */
static unsigned pending_of(struct worker *w)
{
	unsigned n = 0;
	run_on(w, cmd_pending, &n);
	return n;
}

static uint64_t stat_of(struct worker *w, size_t off)
{
	const struct vg_upstream_stats *s = vg_upstream_stats(w->up);
	return VG_STAT_GET(*(vg_counter_t *)((char *)s + off));
}
#define STAT(w, f) stat_of(w, offsetof(struct vg_upstream_stats, f))

static void setup(void)
{
	Share = vg_upshare_new();
	ck_assert_ptr_nonnull(Share);
}

static void teardown(void)
{
	for (unsigned i = 0; i < 3; i++)
		worker_stop(&W[i]);
	if (Srv)
		server_stop(Srv);
	Srv = NULL;
	vg_upshare_free(Share);
	Share = NULL;
}

/* ------------------------------------------------------------ tests */

/* Two workers ask the same question while the server holds its reply back:
 * one query goes out, both get the (same) reply. */
START_TEST(shared_across_workers)
{
	Srv = server_start(HOLD_MS, false, 0);
	worker_start(&W[0]);
	worker_start(&W[1]);
	struct result a, b;
	query(&W[0], "www.example.test", 3000, &a);
	query(&W[1], "www.example.test", 3000, &b);
	ck_assert_uint_eq(STAT(&W[0], udp_sent), 1);
	ck_assert_uint_eq(STAT(&W[1], udp_sent), 0);
	ck_assert_uint_eq(STAT(&W[1], shared_xworker), 1);
	ck_assert_uint_eq(STAT(&W[1], shared), 1);
	wait_sem(&a.sem);
	wait_sem(&b.sem);
	ck_assert_int_eq(a.status, 0);
	ck_assert_int_eq(b.status, 0);
	ck_assert_int_eq(a.parsed, 1); /* the sender parsed it, and says so */
	ck_assert_int_eq(b.parsed, 0); /* another worker's copy: its own to parse */
	ck_assert_uint_gt(a.len, VG_HDR_LEN);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert_int_eq(memcmp(a.pkt, b.pkt, a.len), 0);
	ck_assert(vg_get16(b.pkt + 2) & VG_F_QR);
	ck_assert_int_eq(udp_seen(Srv), 1);
	settle(&W[1]);
	ck_assert_int_eq(atomic_load(&a.called), 1);
	ck_assert_int_eq(atomic_load(&b.called), 1);
	/* the reply is over: the same question now goes out again */
	struct result c;
	query(&W[1], "www.example.test", 3000, &c);
	ck_assert_uint_eq(STAT(&W[1], udp_sent), 1);
	wait_sem(&c.sem);
	ck_assert_int_eq(c.status, 0);
	ck_assert_int_eq(udp_seen(Srv), 2);
}
END_TEST

/* Many askers on each worker (more than fit inline in a query's waiter list):
 * still one query; every one of them gets the reply. */
#define MANY 40
START_TEST(many_waiters_one_query)
{
	Srv = server_start(HOLD_MS, false, 0);
	worker_start(&W[0]);
	worker_start(&W[1]);
	static struct result r[2][MANY];
	for (unsigned i = 0; i < MANY; i++) {
		query(&W[0], "www.example.test", 3000, &r[0][i]);
		query(&W[1], "www.example.test", 3000, &r[1][i]);
	}
	ck_assert_uint_eq(STAT(&W[0], udp_sent), 1);
	ck_assert_uint_eq(STAT(&W[1], udp_sent), 0);
	ck_assert_uint_eq(STAT(&W[0], shared), MANY - 1);
	ck_assert_uint_eq(STAT(&W[1], shared), MANY);
	ck_assert_uint_eq(STAT(&W[1], shared_xworker), MANY);
	for (unsigned w = 0; w < 2; w++) {
		for (unsigned i = 0; i < MANY; i++) {
			wait_sem(&r[w][i].sem);
			ck_assert_int_eq(r[w][i].status, 0);
			ck_assert_uint_eq(r[w][i].len, r[0][0].len);
		}
	}
	ck_assert_int_eq(udp_seen(Srv), 1);
}
END_TEST

/* A different question is not shared. */
START_TEST(only_identical_queries_shared)
{
	Srv = server_start(HOLD_MS, false, 0);
	worker_start(&W[0]);
	worker_start(&W[1]);
	struct result a, b;
	query(&W[0], "one.example.test", 3000, &a);
	query(&W[1], "two.example.test", 3000, &b);
	ck_assert_uint_eq(STAT(&W[1], shared_xworker), 0);
	wait_sem(&a.sem);
	wait_sem(&b.sem);
	ck_assert_int_eq(a.status, 0);
	ck_assert_int_eq(b.status, 0);
	ck_assert_int_eq(udp_seen(Srv), 2);
}
END_TEST

/* The joined waiter is cancelled before the reply: it is never called, the
 * sender still gets its reply, one query went out. */
START_TEST(joiner_cancelled_before_reply)
{
	Srv = server_start(HOLD_MS, false, 0);
	worker_start(&W[0]);
	worker_start(&W[1]);
	struct result a, b;
	query(&W[0], "www.example.test", 3000, &a);
	query(&W[1], "www.example.test", 3000, &b);
	ck_assert_uint_eq(STAT(&W[1], shared_xworker), 1);
	run_on(&W[1], cmd_cancel, &b);
	settle(&W[1]);
	ck_assert_uint_eq(pending_of(&W[1]), 0); /* the join is freed */
	wait_sem(&a.sem);
	ck_assert_int_eq(a.status, 0);
	settle(&W[1]);
	ck_assert_int_eq(atomic_load(&b.called), 0);
	ck_assert_int_eq(udp_seen(Srv), 1);
}
END_TEST

struct wait_cancel {
	struct result *sender, *joiner;
};

/* On the joiner's loop: block until the sender's callback ran (so the reply
 * sits in our inbox, not yet delivered), then cancel. */
static void cmd_wait_then_cancel(struct worker *w, void *arg)
{
	struct wait_cancel *wc = arg;
	(void)w;
	wait_sem(&wc->sender->sem);
	sem_post(&wc->sender->sem); /* for the test thread */
	vg_upstream_cancel(wc->joiner->handle, wc->joiner);
}

START_TEST(joiner_cancelled_with_reply_in_inbox)
{
	Srv = server_start(HOLD_MS, false, 0);
	worker_start(&W[0]);
	worker_start_ordered(&W[1], _i == 1);
	struct result a, b;
	query(&W[0], "www.example.test", 3000, &a);
	query(&W[1], "www.example.test", 3000, &b);
	struct wait_cancel wc = { &a, &b };
	run_on(&W[1], cmd_wait_then_cancel, &wc);
	wait_sem(&a.sem);
	ck_assert_int_eq(a.status, 0);
	settle(&W[1]);
	ck_assert_int_eq(atomic_load(&b.called), 0);
	ck_assert_uint_eq(pending_of(&W[1]), 0);
	ck_assert_int_eq(udp_seen(Srv), 1);
}
END_TEST

/* The sender's own waiter goes away: its query runs on for the joiner. */
START_TEST(sender_cancelled_joiner_still_answered)
{
	Srv = server_start(HOLD_MS, false, 0);
	worker_start(&W[0]);
	worker_start(&W[1]);
	struct result a, b;
	query(&W[0], "www.example.test", 3000, &a);
	query(&W[1], "www.example.test", 3000, &b);
	run_on(&W[0], cmd_cancel, &a);
	wait_sem(&b.sem);
	ck_assert_int_eq(b.status, 0);
	ck_assert_uint_gt(b.len, VG_HDR_LEN);
	settle(&W[0]);
	ck_assert_int_eq(atomic_load(&a.called), 0);
	ck_assert_int_eq(udp_seen(Srv), 1);
}
END_TEST

/* The sender times out: the joiner gets that failure and sends nothing. */
START_TEST(sender_timeout_reaches_joiner)
{
	Srv = server_start(-1, false, 0);
	worker_start(&W[0]);
	worker_start(&W[1]);
	struct result a, b;
	query(&W[0], "www.example.test", 200, &a);
	query(&W[1], "www.example.test", LONG_MS, &b);
	wait_sem(&a.sem);
	wait_sem(&b.sem);
	ck_assert_int_eq(a.status, -ETIMEDOUT);
	ck_assert_int_eq(b.status, -ETIMEDOUT);
	ck_assert_uint_eq(STAT(&W[0], timeouts), 1);
	ck_assert_uint_eq(STAT(&W[1], udp_sent), 0);
	ck_assert_int_eq(udp_seen(Srv), 1);
}
END_TEST

/* A server slower than the first timer: the retry (an identical query right
 * after the timeout) is completed by the late answer to the first try, whose
 * socket stayed open; its round trip is what the server is measured at. */
START_TEST(late_answer_to_earlier_try)
{
	Srv = server_start(300, false, 0);
	worker_start(&W[0]);
	struct result a, b;
	query(&W[0], "www.example.test", 100, &a);
	wait_sem(&a.sem);
	ck_assert_int_eq(a.status, -ETIMEDOUT);
	query(&W[0], "www.example.test", 3000, &b);
	wait_sem(&b.sem);
	ck_assert_int_eq(b.status, 0);
	ck_assert_int_eq(b.parsed, 1);
	ck_assert_uint_gt(b.len, VG_HDR_LEN);
	ck_assert_uint_eq(STAT(&W[0], late), 1);
	ck_assert_uint_eq(STAT(&W[0], udp_sent), 2);
	ck_assert_int_eq(udp_seen(Srv), 2);
	settle(&W[0]);
	ck_assert_uint_eq(pending_of(&W[0]), 0); /* both sockets closed */
	ck_assert_uint_eq(atomic_load(&a.called), 1);
	ck_assert_uint_eq(atomic_load(&b.called), 1);
}
END_TEST

/* A server that answers other queries but lets two tries of one question
 * time out (response rate limiting does that, for UDP only): the third try
 * goes over TCP and gets the answer.  A server that answers nothing keeps
 * getting UDP: it is not dropping selectively. */
static void two_ignored_tries(const char *name)
{
	struct result r;
	for (int i = 0; i < 2; i++) {
		query(&W[0], name, 50, &r);
		wait_sem(&r.sem);
		ck_assert_int_eq(r.status, -ETIMEDOUT);
		query(&W[0], i ? "other2.example.test" : "other1.example.test",
		      Srv->delay_ms >= 0 ? 3000 : 50, &r);
		wait_sem(&r.sem);
		ck_assert_int_eq(r.status, Srv->delay_ms >= 0 ? 0 : -ETIMEDOUT);
	}
}

START_TEST(third_try_over_tcp_when_ignored)
{
	Srv = server_start_dropping(0, false, 0, "rl.example.test");
	worker_start(&W[0]);
	two_ignored_tries("rl.example.test");
	ck_assert_int_eq(tcp_seen(Srv), 0);
	struct result r;
	query(&W[0], "rl.example.test", 3000, &r);
	wait_sem(&r.sem);
	ck_assert_int_eq(r.status, 0);
	ck_assert_int_ne(r.parsed, -1); /* (parsed over TCP only to read a cookie) */
	ck_assert_uint_gt(r.len, VG_HDR_LEN);
	ck_assert_int_eq(tcp_seen(Srv), 1);
	ck_assert_int_eq(udp_seen(Srv), 4); /* two tries of rl., other1, other2 */
	ck_assert_uint_eq(STAT(&W[0], ignored_tcp), 1);
}
END_TEST

START_TEST(silent_server_keeps_udp)
{
	Srv = server_start(-1, false, 0);
	worker_start(&W[0]);
	two_ignored_tries("rl.example.test");
	struct result r;
	query(&W[0], "rl.example.test", 50, &r);
	wait_sem(&r.sem);
	ck_assert_int_eq(r.status, -ETIMEDOUT);
	ck_assert_int_eq(tcp_seen(Srv), 0);
	ck_assert_int_eq(udp_seen(Srv), 5);
	ck_assert_uint_eq(STAT(&W[0], ignored_tcp), 0);
}
END_TEST

/* A try that times out with nobody retrying still closes, after lingering. */
START_TEST(earlier_try_lingers_then_closes)
{
	Srv = server_start(-1, false, 0);
	worker_start(&W[0]);
	struct result a;
	query(&W[0], "www.example.test", 50, &a);
	wait_sem(&a.sem);
	ck_assert_int_eq(a.status, -ETIMEDOUT);
	ck_assert_uint_eq(pending_of(&W[0]), 1); /* listening for a late answer */
	for (int i = 0; i < 100 && pending_of(&W[0]); i++)
		usleep(50 * 1000);
	ck_assert_uint_eq(pending_of(&W[0]), 0);
	ck_assert_uint_eq(atomic_load(&a.called), 1);
}
END_TEST

/* The joiner's own timeout is shorter than the sender's: it ends by itself,
 * and the sender's query is not disturbed. */
START_TEST(joiner_keeps_its_own_timeout)
{
	Srv = server_start(-1, false, 0);
	worker_start(&W[0]);
	worker_start(&W[1]);
	struct result a, b;
	query(&W[0], "www.example.test", LONG_MS, &a);
	query(&W[1], "www.example.test", 100, &b);
	wait_sem(&b.sem);
	ck_assert_int_eq(b.status, -ETIMEDOUT);
	ck_assert_int_eq(atomic_load(&a.called), 0); /* the sender waits on */
	ck_assert_uint_eq(pending_of(&W[0]), 1);
	settle(&W[1]);
	ck_assert_uint_eq(pending_of(&W[1]), 0);
	/* another joiner still finds the sender's query */
	struct result c;
	query(&W[1], "www.example.test", 100, &c);
	ck_assert_uint_eq(STAT(&W[1], shared_xworker), 2);
	wait_sem(&c.sem);
	ck_assert_int_eq(c.status, -ETIMEDOUT);
	ck_assert_int_eq(udp_seen(Srv), 1);
}
END_TEST

/* The sender's worker shuts down: the joiner gets -ECANCELED at once. */
START_TEST(sender_shutdown_reaches_joiner)
{
	Srv = server_start(-1, false, 0);
	worker_start(&W[0]);
	worker_start(&W[1]);
	struct result a, b;
	query(&W[0], "www.example.test", LONG_MS, &a);
	query(&W[1], "www.example.test", LONG_MS, &b);
	run_on(&W[0], cmd_shutdown, NULL);
	wait_sem(&b.sem);
	ck_assert_int_eq(b.status, -ECANCELED);
	ck_assert_int_eq(atomic_load(&a.called), 0);
	worker_stop(&W[0]);
	settle(&W[1]);
	ck_assert_uint_eq(pending_of(&W[1]), 0);
	ck_assert_int_eq(udp_seen(Srv), 1);
}
END_TEST

/* The joiner's worker shuts down while joined; the sender carries on. */
START_TEST(joiner_shutdown)
{
	Srv = server_start(HOLD_MS, false, 0);
	worker_start(&W[0]);
	worker_start(&W[1]);
	struct result a, b;
	query(&W[0], "www.example.test", 3000, &a);
	query(&W[1], "www.example.test", 3000, &b);
	worker_stop(&W[1]); /* shutdown, loop ended, upstream freed */
	wait_sem(&a.sem);
	ck_assert_int_eq(a.status, 0);
	ck_assert_int_eq(atomic_load(&b.called), 0);
	ck_assert_int_eq(udp_seen(Srv), 1);
}
END_TEST

/* Truncated: the sender goes on to TCP; the joiner, whose own UDP timeout
 * is short, waits as its own TCP retry would and gets the TCP reply. */
START_TEST(joiner_follows_tcp_retry)
{
	Srv = server_start(0, true, 600);
	worker_start(&W[0]);
	worker_start(&W[1]);
	struct result a, b;
	query(&W[0], "big.example.test", 1000, &a);
	query(&W[1], "big.example.test", 250, &b); /* < 600: it would time out over UDP */
	wait_sem(&a.sem);
	wait_sem(&b.sem);
	ck_assert_int_eq(a.status, 0);
	ck_assert_int_eq(b.status, 0);
	ck_assert(!(vg_get16(b.pkt + 2) & VG_F_TC));
	ck_assert_int_eq(udp_seen(Srv), 1);
	ck_assert_int_eq(tcp_seen(Srv), 1);
	ck_assert_uint_eq(STAT(&W[1], tcp_sent), 0);
}
END_TEST

/* Without a shared table (NULL), workers share nothing. */
START_TEST(no_table_no_sharing)
{
	vg_upshare_free(Share);
	Share = NULL;
	Srv = server_start(HOLD_MS, false, 0);
	worker_start(&W[0]);
	worker_start(&W[1]);
	struct result a, b, c;
	query(&W[0], "www.example.test", 3000, &a);
	query(&W[1], "www.example.test", 3000, &b);
	query(&W[1], "www.example.test", 3000, &c); /* within the worker: shared */
	ck_assert_uint_eq(STAT(&W[1], shared), 1);
	ck_assert_uint_eq(STAT(&W[1], shared_xworker), 0);
	wait_sem(&a.sem);
	wait_sem(&b.sem);
	wait_sem(&c.sem);
	ck_assert_int_eq(udp_seen(Srv), 2);
}
END_TEST

/* ------------------------------------------------------------ stress (for TSan/ASan) */

#define STRESS_N 300
#define STRESS_NAMES 6

struct stress;
struct sreq {
	struct stress *st;
	struct vg_upq *handle;
	atomic_int called;
	bool cancelled, failed;
};

struct stress {
	struct worker *w;
	uv_timer_t timer;
	unsigned seed, issued, finished;
	struct sreq req[STRESS_N];
	sem_t all_done;
};

static void stress_count(struct stress *st)
{
	if (++st->finished == STRESS_N)
		sem_post(&st->all_done);
}

static void stress_cb(void *arg, int status, const uint8_t *pkt, size_t len, struct vg_msg *m)
{
	struct sreq *r = arg;
	(void)status;
	(void)m;
	(void)pkt;
	(void)len;
	ck_assert(!r->cancelled);
	ck_assert_int_eq(atomic_fetch_add(&r->called, 1), 0);
	r->handle = NULL;
	stress_count(r->st);
}

static void stress_tick(uv_timer_t *t)
{
	struct stress *st = t->data;
	static const uint32_t timeouts[] = { 5, 15, 40, 2000 };
	for (int k = 0; k < 4 && st->issued < STRESS_N; k++) {
		struct sreq *r = &st->req[st->issued++];
		char name[64];
		snprintf(name, sizeof(name), "s%u.example.test",
			 (unsigned)rand_r(&st->seed) % STRESS_NAMES);
		uint8_t qname[VG_NAME_MAX];
		ck_assert_int_ge(vg_name_from_str(name, qname, sizeof(qname)), 0);
		struct vg_sockaddr to = server_addr(Srv);
		r->st = st;
		int rc = vg_upstream_query(st->w->up, &to, NULL, qname, VG_T_A, false, false,
					   timeouts[rand_r(&st->seed) % 4], stress_cb, r,
					   &r->handle);
		if (rc < 0) {
			r->failed = true;
			stress_count(st);
		}
	}
	/* cancel a random earlier one that is still waiting */
	if (st->issued && rand_r(&st->seed) % 3 == 0) {
		struct sreq *r = &st->req[(unsigned)rand_r(&st->seed) % st->issued];
		if (r->handle && !r->cancelled && !r->failed) {
			r->cancelled = true;
			vg_upstream_cancel(r->handle, r);
			r->handle = NULL;
			stress_count(st);
		}
	}
	if (st->issued == STRESS_N)
		uv_timer_stop(t);
}

static void cmd_stress_start(struct worker *w, void *arg)
{
	struct stress *st = arg;
	st->w = w;
	uv_timer_init(&w->loop, &st->timer);
	st->timer.data = st;
	uv_timer_start(&st->timer, stress_tick, 1, 1);
}

static void cmd_stress_end(struct worker *w, void *arg)
{
	struct stress *st = arg;
	(void)w;
	uv_close((uv_handle_t *)&st->timer, NULL);
}

START_TEST(stress_three_workers)
{
	Srv = server_start(10, false, 0);
	struct stress *st = calloc(3, sizeof(*st));
	ck_assert_ptr_nonnull(st);
	for (unsigned i = 0; i < 3; i++) {
		worker_start(&W[i]);
		st[i].seed = 12345u * (i + 1);
		sem_init(&st[i].all_done, 0, 0);
	}
	for (unsigned i = 0; i < 3; i++)
		run_on(&W[i], cmd_stress_start, &st[i]);
	for (unsigned i = 0; i < 3; i++)
		wait_sem(&st[i].all_done);
	uint64_t sent = 0, udp = 0, joined = 0, failed = 0, xjoined = 0;
	for (unsigned i = 0; i < 3; i++) {
		run_on(&W[i], cmd_stress_end, &st[i]);
		for (unsigned k = 0; k < STRESS_N; k++) {
			struct sreq *r = &st[i].req[k];
			int want = r->cancelled || r->failed ? 0 : 1;
			ck_assert_int_eq(atomic_load(&r->called), want);
			failed += r->failed;
		}
		/* a third try after two that timed out (5 ms timers against the
		 * server's 10 ms) while the server answered others goes over TCP */
		udp += STAT(&W[i], udp_sent);
		sent += STAT(&W[i], udp_sent) + STAT(&W[i], ignored_tcp);
		joined += STAT(&W[i], shared);
		xjoined += STAT(&W[i], shared_xworker);
	}
	ck_assert_uint_eq(failed, 0);
	ck_assert_uint_eq(sent + joined, 3 * STRESS_N); /* each one sent or joined */
	ck_assert_uint_le(xjoined, joined);
	ck_assert_uint_eq((uint64_t)udp_seen(Srv), udp);
	for (unsigned i = 0; i < 3; i++)
		worker_stop(&W[i]); /* asserts everything was freed */
	free(st);
}
END_TEST

/* ---------------------------------------------------------------- padding (I/O-free) */

/* Queries to TLS upstreams: padded to a multiple of 128 bytes (RFC 8467
 * 4.1) with one Padding option (RFC 7830) of zeros, the rest unchanged. */
START_TEST(pad_query_to_128)
{
	static const char *names[] = { ".", "a.", "www.example.com.",
		"a-rather-long-label-for-a-padding-test-0123456789.example.org.",
		/* 4 x 63: the longest name, the query still padded within 512 bytes */
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
		"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."
		"ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc."
		"ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd." };
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint8_t q[512], plain[512], name[VG_NAME_MAX];
		ck_assert_int_gt(vg_name_from_str(names[i], name, sizeof(name)), 0);
		int len = vg_wire_make_query(q, sizeof(q), 0x1234, name, VG_T_A, true, 1232, true);
		ck_assert_int_gt(len, 0);
		memcpy(plain, q, (size_t)len);
		int n = (int)vg_wire_pad(q, (size_t)len, sizeof(q), VG_PAD_QUERY);
		ck_assert_int_gt(n, len);
		ck_assert_int_eq(n % 128, 0);
		ck_assert_int_lt(n - len, 128 + 4); /* the least padding that reaches it */
		/* the message before the OPT RDATA is unchanged but for RDLENGTH */
		ck_assert_mem_eq(q, plain, (size_t)len - 2);
		ck_assert_uint_eq(vg_get16(q + len - 2), (unsigned)(n - len));
		ck_assert_uint_eq(vg_get16(q + len), 12); /* Padding */
		ck_assert_uint_eq(vg_get16(q + len + 2), (unsigned)(n - len - 4));
		for (int j = len + 4; j < n; j++)
			ck_assert_uint_eq(q[j], 0);
		struct vg_msg m;
		ck_assert_int_eq(vg_msg_parse(&m, q, (size_t)n), 0); /* still a valid message */
		ck_assert(m.edns.present && m.edns.do_bit);
		ck_assert_uint_eq(m.edns.udp_size, 1232);
		ck_assert_uint_eq(m.edns.optlen, (unsigned)(n - len));
		ck_assert(vg_name_eq(m.qname, name));
	}
}
END_TEST


static Suite *suite(void)
{
	Suite *s = suite_create("upstream");
	TCase *tc = tcase_create("xworker");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120); /* slow under sanitizers */
	tcase_add_test(tc, shared_across_workers);
	tcase_add_test(tc, many_waiters_one_query);
	tcase_add_test(tc, only_identical_queries_shared);
	tcase_add_test(tc, joiner_cancelled_before_reply);
	tcase_add_loop_test(tc, joiner_cancelled_with_reply_in_inbox, 0, 2);
	tcase_add_test(tc, sender_cancelled_joiner_still_answered);
	tcase_add_test(tc, sender_timeout_reaches_joiner);
	tcase_add_test(tc, joiner_keeps_its_own_timeout);
	tcase_add_test(tc, sender_shutdown_reaches_joiner);
	tcase_add_test(tc, joiner_shutdown);
	tcase_add_test(tc, joiner_follows_tcp_retry);
	tcase_add_test(tc, no_table_no_sharing);
	tcase_add_test(tc, late_answer_to_earlier_try);
	tcase_add_test(tc, earlier_try_lingers_then_closes);
	tcase_add_test(tc, third_try_over_tcp_when_ignored);
	tcase_add_test(tc, silent_server_keeps_udp);
	tcase_add_test(tc, stress_three_workers);
	suite_add_tcase(s, tc);
	TCase *pad = tcase_create("padding");
	tcase_add_test(pad, pad_query_to_128);
	suite_add_tcase(s, pad);
	return s;
}

int main(void)
{
	return vg_test_run(suite());
}
