/* SPDX-License-Identifier: MIT
 *
 * A worker thread: its loop, its transports, its request pipeline, and the
 * I/O the pipeline asks for -- answers handed back to the transport they
 * came from, upstream queries through src/upstream, the loop's clock.
 *
 * Query path: udp.c / tcp.c read a query and call vg_pipe_query(); the
 * pipeline answers through answer_cb() (UDP: the open sendmmsg batch or a
 * direct send; TCP: the connection's write queue).  A 100 ms tick enforces
 * the per-request time limit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dnssec/dnssec.h"
#include "net/stream.h"

#define TICK_MS 100

/* ------------------------------------------------------------ pipeline I/O */

static void answer_cb(void *arg, const struct vg_client *c, const uint8_t *pkt, size_t len)
{
	struct vg_worker *w = arg;
	switch (c->transport) {
	case VG_TRANSPORT_UDP:
		if (len && !vg__udp_batch_add(w, c->sock, &c->addr.u.sa, pkt, len))
			vg__udp_send(w, c->sock, &c->addr.u.sa, pkt, len);
		break;
	case VG_TRANSPORT_TCP:
	case VG_TRANSPORT_DOT:
		vg__tcp_answer(c->conn, pkt, len);
		break;
	case VG_TRANSPORT_DOH:
		vg__doh_answer(c->conn, c->stream, pkt, len);
		break;
	default:
		break;
	}
}

static void upstream_done(void *arg, int status, const uint8_t *pkt, size_t len,
			  struct vg_msg *m)
{
	vg_pipe_reply(arg, status, pkt, len, m);
}

static int send_cb(void *arg, const struct vg_outbound *o, struct vg_pipe_req *r, void **handle)
{
	struct vg_worker *w = arg;
	return vg_upstream_query(w->up, &o->to, o->use_tls ? &o->tls : NULL, o->qname, o->qtype,
				 o->rd, o->do_bit, o->timeout_ms, upstream_done, r,
				 (struct vg_upq **)handle);
}

static void cancel_cb(void *arg, void *handle, struct vg_pipe_req *r)
{
	(void)arg;
	vg_upstream_cancel(handle, r);
}

static uint64_t now_ms_cb(void *arg)
{
	struct vg_worker *w = arg;
	return uv_now(&w->loop);
}

static uint64_t now_ns_cb(void *arg)
{
	(void)arg;
	return vg_time_now_ns();
}

static uint32_t wall_s_cb(void *arg)
{
	(void)arg;
	return (uint32_t)time(NULL);
}

/* ------------------------------------------------------------ lifecycle */

static void adopt_snapshot(struct vg_worker *w)
{
	uint64_t gen = atomic_load_explicit(&w->shared->gen, memory_order_acquire);
	const struct vg_net_snapshot *s =
		atomic_load_explicit(&w->shared->snap, memory_order_acquire);
	w->snap = s;
	if (w->pipe_ready) {
		vg_pipe_adopt(&w->pipe, &s->view);
		w->pipe.cookies = s->net->cookies ? &w->shared->cookies : NULL;
	}
	if (w->up)
		vg_upstream_set_opts(w->up, s->upstream);
	atomic_store_explicit(&w->seen_gen, gen, memory_order_release);
}

uint64_t vg_worker_generation(struct vg_worker *w)
{
	return atomic_load_explicit(&w->seen_gen, memory_order_acquire);
}

static void on_tick(uv_timer_t *t)
{
	struct vg_worker *w = t->data;
	vg_pipe_tick(&w->pipe);
}

static void close_cb_noop(uv_handle_t *h)
{
	(void)h;
}

/* Requests that stopped in the middle of a long validation (resolv/validate.c,
 * "Slices") go on after each poll, the queries that came meanwhile served
 * first; the idle handle keeps the poll from blocking while any wait. */
static void y_idle_cb(uv_idle_t *h)
{
	(void)h;
}

static void y_check_cb(uv_check_t *h)
{
	struct vg_worker *w = h->data;
	if (vg_pipe_run_yielded(&w->pipe) == 0) {
		uv_idle_stop(&w->y_idle);
		uv_check_stop(&w->y_check);
	}
}

static void wake_cb(void *arg)
{
	struct vg_worker *w = arg;
	if (w->stopping)
		return;
	uv_idle_start(&w->y_idle, y_idle_cb);
	uv_check_start(&w->y_check, y_check_cb);
}

static void do_stop(struct vg_worker *w)
{
	if (w->stopping)
		return;
	w->stopping = true;
	for (unsigned i = 0; i < w->n_udp; i++)
		uv_close((uv_handle_t *)&w->udp[i], close_cb_noop);
	for (unsigned i = 0; i < w->n_tcp; i++)
		uv_close((uv_handle_t *)&w->tcp[i].h, close_cb_noop);
	if (w->pipe_ready)
		vg_pipe_stop(&w->pipe); /* requests in flight: their clients get no answer */
	vg__tcp_close_all(w);
	if (w->up)
		vg_upstream_shutdown(w->up);
	if (w->handles_ready) {
		uv_timer_stop(&w->tick);
		uv_close((uv_handle_t *)&w->tick, close_cb_noop);
		uv_close((uv_handle_t *)&w->y_idle, close_cb_noop);
		uv_close((uv_handle_t *)&w->y_check, close_cb_noop);
		uv_close((uv_handle_t *)&w->wakeup, close_cb_noop);
	}
}

static void on_wakeup(uv_async_t *a)
{
	struct vg_worker *w = a->data;
	if (atomic_load(&w->stop_requested)) {
		do_stop(w);
		return;
	}
	adopt_snapshot(w);
	struct vg_worker_job *j = atomic_exchange_explicit(&w->job, NULL, memory_order_acq_rel);
	if (j)
		j->fn(w, j);
}

static void *worker_main(void *arg)
{
	struct vg_worker *w = arg;
	if (w->prime_pending)
		vg_pipe_prime(&w->pipe);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	return NULL;
}

int vg_worker_init(struct vg_worker *w, unsigned id, struct vg_shared *shared)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->shared = shared;
	int r = uv_loop_init(&w->loop);
	if (r < 0)
		return r;
	w->loop_ready = true;
	w->rxbuf = malloc(VG_MMSG_BATCH * VG_UDP_QUERY_MAX);
	w->batch.buf = malloc(VG_MMSG_BATCH * VG_BATCH_REPLY_MAX);
	w->msg = malloc(sizeof(*w->msg));
	w->scratch = malloc(VG_SCRATCH);
	w->scratch2 = malloc(VG_SCRATCH);
	w->tls_rx = malloc(VG_NET_TLS_BUF);
	w->tls_tx = malloc(VG_NET_TLS_BUF + 2); /* also a whole DoT frame: 2 + 65535 */
	w->h2_tx = malloc(VG_NET_TLS_BUF);
	w->infra = vg_infra_new(4096);
	w->keys = vg_keycache_new();
	if (!w->rxbuf || !w->batch.buf || !w->msg || !w->scratch || !w->scratch2 || !w->infra ||
	    !w->keys || !w->tls_rx || !w->tls_tx || !w->h2_tx)
		return VG_ENOMEM;
	vg__udp_init_batch(w);
	adopt_snapshot(w);
	w->up = vg_upstream_new(&w->loop, w->infra, w->snap->upstream, shared->upshare);
	if (!w->up)
		return VG_ENOMEM;
	const struct vg_pipe_io io = {
		.arg = w, .answer = answer_cb, .send = send_cb, .cancel = cancel_cb,
		.now_ms = now_ms_cb, .now_ns = now_ns_cb, .wall_s = wall_s_cb, .wake = wake_cb,
	};
	const struct vg_resolv_env env = {
		.cache = shared->cache, .keys = w->keys, .infra = w->infra, .msg = w->msg,
		.scratch = w->scratch, .scratch2 = w->scratch2,
	};
	r = vg_pipe_init(&w->pipe, id, &io, &env);
	if (r < 0)
		return r;
	w->pipe_ready = true;
	w->pipe.rl = shared->rl;
	w->pipe.paused = shared->paused;
	vg_pipe_adopt(&w->pipe, &w->snap->view);
	w->pipe.cookies = w->snap->net->cookies ? &shared->cookies : NULL;
	uv_async_init(&w->loop, &w->wakeup, on_wakeup);
	w->wakeup.data = w;
	uv_timer_init(&w->loop, &w->tick);
	w->tick.data = w;
	uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS);
	uv_idle_init(&w->loop, &w->y_idle);
	uv_check_init(&w->loop, &w->y_check);
	w->y_check.data = w;
	w->handles_ready = true;

	const struct vg_net_opts *net = w->snap->net;
	for (size_t i = 0; i < net->n_listen; i++) {
		char a[VG_ADDRSTRLEN];
		vg_sockaddr_str(&net->listen[i], VG_ADDR_PORT, a, sizeof(a));
		r = vg__udp_listen(w, &net->listen[i]);
		if (r < 0) {
			vg_log(VG_LOG_ERR, "cannot listen on UDP %s: %s", a, vg_strerror(r));
			return r;
		}
		r = vg__tcp_listen(w, &net->listen[i], VG_STREAM_TCP);
		if (r < 0) {
			vg_log(VG_LOG_ERR, "cannot listen on TCP %s: %s", a, vg_strerror(r));
			return r;
		}
		if (id == 0)
			vg_log(VG_LOG_INFO, "listening on %s (UDP and TCP)", a);
	}
	static const struct {
		enum vg_stream_kind kind;
		const char *what;
	} kinds[] = { { VG_STREAM_DOT, "DNS over TLS" }, { VG_STREAM_DOH, "DNS over HTTPS" },
		      { VG_STREAM_H2C, "cleartext HTTP/2 (DoH behind a proxy)" } };
	for (size_t k = 0; k < VG_ARRAY_SIZE(kinds); k++) {
		const struct vg_sockaddr *addrs = kinds[k].kind == VG_STREAM_DOT ? net->listen_tls
			: kinds[k].kind == VG_STREAM_DOH ? net->listen_https : net->listen_http;
		size_t n = kinds[k].kind == VG_STREAM_DOT ? net->n_listen_tls
			 : kinds[k].kind == VG_STREAM_DOH ? net->n_listen_https : net->n_listen_http;
		for (size_t i = 0; i < n; i++) {
			char a[VG_ADDRSTRLEN];
			vg_sockaddr_str(&addrs[i], VG_ADDR_PORT, a, sizeof(a));
			r = vg__tcp_listen(w, &addrs[i], kinds[k].kind);
			if (r < 0) {
				vg_log(VG_LOG_ERR, "cannot listen for %s on %s: %s", kinds[k].what,
				       a, vg_strerror(r));
				return r;
			}
			if (id == 0)
				vg_log(VG_LOG_INFO, "listening on %s (%s)", a, kinds[k].what);
		}
	}
	w->prime_pending = id == 0 && w->snap->prime_root;
	return 0;
}

int vg_worker_start(struct vg_worker *w)
{
	/* set up after the sockets were bound and privileges dropped (src/daemon) */
	w->pipe.plog = w->shared->plog;
	w->pipe.qlog = w->shared->qlog;
	w->pipe.notify = w->shared->notify;
	w->pipe.notify_arg = w->shared->notify_arg;
	return -pthread_create(&w->thread, NULL, worker_main, w);
}

void vg_worker_stop(struct vg_worker *w)
{
	atomic_store(&w->stop_requested, true);
	uv_async_send(&w->wakeup);
}

int vg_worker_post(struct vg_worker *w, struct vg_worker_job *job)
{
	struct vg_worker_job *none = NULL;
	if (!atomic_compare_exchange_strong_explicit(&w->job, &none, job, memory_order_acq_rel,
						     memory_order_acquire))
		return -EAGAIN;
	uv_async_send(&w->wakeup);
	return 0;
}

bool vg_worker_unpost(struct vg_worker *w, struct vg_worker_job *job)
{
	struct vg_worker_job *mine = job;
	return atomic_compare_exchange_strong_explicit(&w->job, &mine, NULL, memory_order_acq_rel,
						       memory_order_acquire);
}

void vg_worker_notify(struct vg_worker *w)
{
	uv_async_send(&w->wakeup);
}

void vg_worker_join(struct vg_worker *w)
{
	pthread_join(w->thread, NULL);
}

void vg_worker_deinit(struct vg_worker *w)
{
	if (!w->loop_ready)
		return;
	if (!w->stopping) /* never started (start-up error): close what init opened */
		do_stop(w);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	uv_loop_close(&w->loop);
	for (unsigned i = 0; i < w->n_udp; i++)
		close(w->udp_fd[i]); /* uv_poll_t does not own the socket */
	if (w->pipe_ready)
		vg_pipe_deinit(&w->pipe);
	vg_upstream_free(w->up);
	vg_infra_free(w->infra);
	vg_keycache_free(w->keys);
	w->keys = NULL;
	free(w->rxbuf);
	free(w->batch.buf);
	free(w->msg);
	free(w->scratch);
	free(w->scratch2);
	free(w->tls_rx);
	free(w->tls_tx);
	free(w->h2_tx);
}
