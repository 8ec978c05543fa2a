/* SPDX-License-Identifier: MIT
 *
 * The daemon's totals: every worker's counters summed, read without a lock
 * (each counter has one writer, its worker; the reads are relaxed atomics).
 * One table names them, in the order of the stats line (SIGUSR1), so the
 * line and every other reader (the control socket, the metrics) agree.
 */
#include <stddef.h>
#include <stdio.h>

#include "cache/cache.h"
#include "core/core.h"
#include "daemon/daemon.h"
#include "upstream/upstream.h"

enum src { PIPE, WORKER, UPSTREAM, CACHE };

static const struct counter {
	const char *name;
	enum src src;
	size_t off;
} counters[] = {
#define P(n, f) { n, PIPE, offsetof(struct vg_pipe_stats, f) }
#define W(n, f) { n, WORKER, offsetof(struct vg_worker_stats, f) }
#define U(n, f) { n, UPSTREAM, offsetof(struct vg_upstream_stats, f) }
#define C(n, k) { n, CACHE, k }
	P("queries", queries), W("udp", udp_queries), W("tcp", tcp_queries),
	P("cache_hits", cache_hits), P("answered", answered), P("servfail", servfail),
	P("nxdomain", nxdomain), P("malformed", malformed), P("formerr", formerr),
	P("notimp", notimp), P("refused", refused), P("dropped", dropped),
	P("request_timeouts", timeouts), P("inflight", inflight), W("send_errors", send_errors),
	W("tcp_accepted", tcp_accepted), W("tcp_rejected", tcp_rejected),
	U("upstream_udp", udp_sent), U("upstream_tcp", tcp_sent), U("upstream_timeouts", timeouts),
	U("upstream_unwanted", unwanted), U("upstream_shared", shared),
	U("upstream_shared_xworker", shared_xworker), U("upstream_tc", tc_fallback),
	U("upstream_late", late), U("upstream_spoof_tcp", spoof_tcp),
	U("upstream_ignored_tcp", ignored_tcp),
	C("cache_entries", 0), C("cache_bytes", 1), C("cache_limit", 2),
	P("policy_rewrites", policy_rewrites), P("policy_log_dropped", policy_log_dropped),
	W("dot", tls_queries), W("tls_handshakes", tls_handshakes), W("tls_resumed", tls_resumed),
	W("tls_failed", tls_failed), W("conn_evicted", tcp_evicted), W("doh", doh_queries),
	U("upstream_tls", tls_sent), U("upstream_tls_connects", tls_connects),
	U("upstream_tls_failed", tls_failed), U("upstream_tls_refused", tls_refused),
	P("rate_limited", rate_limited), P("cookies_valid", cookies_valid), P("shed", shed),
	P("evicted", evicted), P("request_bytes", req_mem),
	U("upstream_cookie_bad", cookie_bad), U("upstream_badcookie", badcookie),
	U("upstream_cookie_formerr", cookie_formerr),
	P("stale_answers", stale_answers), P("prefetches", prefetches), P("yielded", yielded),
	P("query_log_dropped", query_log_dropped),
#undef P
#undef W
#undef U
#undef C
};

static uint64_t counter_sum(struct daemon *d, const struct counter *c)
{
	uint64_t sum = 0;
	for (unsigned i = 0; i < d->n_workers; i++) {
		const void *base;
		switch (c->src) {
		case PIPE:
			base = &d->workers[i].pipe.stats;
			break;
		case WORKER:
			base = &d->workers[i].stats;
			break;
		default:
			base = vg_upstream_stats(d->workers[i].up);
			break;
		}
		sum += VG_STAT_GET(*(const vg_counter_t *)((const char *)base + c->off));
	}
	return sum;
}

size_t vg_daemon_stats(struct daemon *d, struct vg_stat *out, size_t cap)
{
	size_t n = 0, usage[3] = { 0, 0, 0 };

	if (d->shared.cache)
		vg_cache_usage(d->shared.cache, &usage[0], &usage[1], &usage[2]);
	for (size_t i = 0; i < VG_ARRAY_SIZE(counters) && n < cap; i++) {
		const struct counter *c = &counters[i];
		out[n++] = (struct vg_stat){
			c->name, c->src == CACHE ? (uint64_t)usage[c->off] : counter_sum(d, c)
		};
	}
	return n;
}

void vg_daemon_log_stats(struct daemon *d)
{
	struct vg_stat st[VG_DAEMON_STATS_MAX];
	char line[4096];
	size_t n = vg_daemon_stats(d, st, VG_ARRAY_SIZE(st)), o = 0;

	for (size_t i = 0; i < n && o < sizeof(line); i++) {
		int w = snprintf(line + o, sizeof(line) - o, "%s%s=%llu", i ? " " : "", st[i].name,
				 (unsigned long long)st[i].value);
		if (w < 0)
			break;
		o += (size_t)w;
	}
	vg_log_write(VG_LOG_NOTICE, "stats: %s", line);
}
