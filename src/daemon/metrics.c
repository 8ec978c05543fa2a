/* SPDX-License-Identifier: MIT
 *
 * The Prometheus metrics endpoint (metrics.h): what a scrape reports
 * (vg_metrics_write), then the small HTTP/1.1 server on the main loop.
 *
 * Naming (Prometheus conventions): the vigil_ prefix, counters end in
 * _total, times in seconds, sizes in bytes.  The daemon's totals table
 * (stats.c, the stats line's names) comes first, each entry under its
 * metric name below (an entry not listed here still appears, as a counter
 * vigil_NAME_total); then the breakdowns the stats line does not have.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "cache/cache.h"
#include "core/core.h"
#include "daemon/daemon.h"
#include "daemon/expo.h"
#include "daemon/metrics.h"
#include "policy/engine.h"
#include "qlog/qlog.h"
#include "upstream/upstream.h"

/* ------------------------------------------------------------ the values */

static time_t started_at(const struct vg_metrics *m);

static const struct stat_meta {
	const char *stat;   /* its name in the totals table (stats.c) */
	const char *metric;
	const char *type;
	const char *help;
} stat_meta[] = {
	{ "queries", "vigil_queries_total", "counter", "Client queries received, every transport." },
	{ "udp", "vigil_udp_queries_total", "counter", "Client queries received over UDP." },
	{ "tcp", "vigil_tcp_queries_total", "counter", "Client queries received over TCP." },
	{ "cache_hits", "vigil_cache_hits_total", "counter", "Queries answered from the cache." },
	{ "answered", "vigil_answered_total", "counter", "Answers sent to clients." },
	{ "servfail", "vigil_servfail_total", "counter", "Resolutions that ended in SERVFAIL." },
	{ "nxdomain", "vigil_nxdomain_total", "counter", "Resolutions that ended in NXDOMAIN." },
	{ "malformed", "vigil_malformed_total", "counter",
	  "Client messages dropped unparsed (no header, or a response)." },
	{ "formerr", "vigil_formerr_total", "counter", "Queries answered FORMERR." },
	{ "notimp", "vigil_notimp_total", "counter", "Queries answered NOTIMP." },
	{ "refused", "vigil_refused_total", "counter", "Queries answered REFUSED." },
	{ "dropped", "vigil_dropped_total", "counter",
	  "Queries dropped without an answer (access list, policy DROP, no memory)." },
	{ "request_timeouts", "vigil_request_timeouts_total", "counter",
	  "Requests ended by limits.request-timeout." },
	{ "inflight", "vigil_requests_inflight", "gauge", "Requests being resolved now." },
	{ "send_errors", "vigil_send_errors_total", "counter", "Answers a socket did not take." },
	{ "tcp_accepted", "vigil_tcp_accepted_total", "counter",
	  "Stream connections accepted (TCP, DoT, DoH)." },
	{ "tcp_rejected", "vigil_tcp_rejected_total", "counter",
	  "Stream connections refused (connection limits)." },
	{ "upstream_udp", "vigil_upstream_udp_queries_total", "counter",
	  "Queries sent to authoritative servers or forwarders over UDP." },
	{ "upstream_tcp", "vigil_upstream_tcp_queries_total", "counter",
	  "Queries sent upstream over TCP." },
	{ "upstream_timeouts", "vigil_upstream_timeouts_total", "counter",
	  "Upstream queries that timed out." },
	{ "upstream_unwanted", "vigil_upstream_unwanted_total", "counter",
	  "Upstream answers dropped (no query matched, wrong cookie)." },
	{ "upstream_shared", "vigil_upstream_shared_total", "counter",
	  "Queries that joined an identical upstream query in flight." },
	{ "upstream_shared_xworker", "vigil_upstream_shared_xworker_total", "counter",
	  "Of those, queries that joined another worker's." },
	{ "upstream_tc", "vigil_upstream_tc_total", "counter",
	  "Truncated upstream answers retried over TCP." },
	{ "upstream_late", "vigil_upstream_late_total", "counter",
	  "Upstream answers that came after their query's timeout." },
	{ "upstream_spoof_tcp", "vigil_upstream_spoof_tcp_total", "counter",
	  "Upstream queries moved to TCP because their server saw spoofing attempts." },
	{ "upstream_ignored_tcp", "vigil_upstream_ignored_tcp_total", "counter",
	  "Upstream retries sent over TCP because the server let earlier tries time out "
	  "while it answered other queries." },
	{ "cache_entries", "vigil_cache_entries", "gauge", "Entries in the cache." },
	{ "cache_bytes", "vigil_cache_bytes", "gauge", "Bytes the cache holds (accounted)." },
	{ "cache_limit", "vigil_cache_limit_bytes", "gauge", "The cache's size limit (cache.size)." },
	{ "policy_rewrites", "vigil_policy_rewrites_total", "counter",
	  "Queries the policy answered, dropped or redirected." },
	{ "policy_log_dropped", "vigil_policy_log_dropped_total", "counter",
	  "Policy decision log lines dropped (the log's buffer was full)." },
	{ "dot", "vigil_dot_queries_total", "counter", "Client queries received over DNS-over-TLS." },
	{ "tls_handshakes", "vigil_tls_handshakes_total", "counter",
	  "Client TLS handshakes completed." },
	{ "tls_resumed", "vigil_tls_resumed_total", "counter",
	  "Client TLS handshakes that resumed a session." },
	{ "tls_failed", "vigil_tls_failed_total", "counter", "Client TLS handshakes that failed." },
	{ "conn_evicted", "vigil_conn_evicted_total", "counter",
	  "Idle client connections closed to make room for new ones." },
	{ "doh", "vigil_doh_queries_total", "counter",
	  "Client queries received over DNS-over-HTTPS." },
	{ "upstream_tls", "vigil_upstream_tls_queries_total", "counter",
	  "Queries sent to forwarders over TLS." },
	{ "upstream_tls_connects", "vigil_upstream_tls_connects_total", "counter",
	  "TLS connections opened to forwarders." },
	{ "upstream_tls_failed", "vigil_upstream_tls_failed_total", "counter",
	  "TLS connections to forwarders that failed (handshake, authentication)." },
	{ "upstream_tls_refused", "vigil_upstream_tls_refused_total", "counter",
	  "Queries to TLS forwarders failed unsent (back-off, queue full)." },
	{ "rate_limited", "vigil_rate_limited_total", "counter",
	  "UDP queries over their client's rate (answered TC=1 or dropped)." },
	{ "cookies_valid", "vigil_cookies_valid_total", "counter",
	  "Queries with a valid DNS server cookie." },
	{ "shed", "vigil_shed_total", "counter", "Queries refused (SERVFAIL) under overload." },
	{ "evicted", "vigil_evicted_total", "counter",
	  "Requests ended (SERVFAIL) under overload to make room." },
	{ "request_bytes", "vigil_request_memory_bytes", "gauge",
	  "Bytes held by the requests in flight." },
	{ "upstream_cookie_bad", "vigil_upstream_cookie_bad_total", "counter",
	  "Upstream answers dropped for a missing or wrong DNS cookie." },
	{ "upstream_badcookie", "vigil_upstream_badcookie_total", "counter",
	  "BADCOOKIE upstream answers retried." },
	{ "upstream_cookie_formerr", "vigil_upstream_cookie_formerr_total", "counter",
	  "Upstream queries sent again without a cookie after FORMERR." },
	{ "stale_answers", "vigil_stale_answers_total", "counter",
	  "Answers with stale data (RFC 8767, EDE 3)." },
	{ "prefetches", "vigil_prefetches_total", "counter",
	  "Cache entries refreshed before they expired." },
	{ "yielded", "vigil_validation_yields_total", "counter",
	  "Times a long validation stopped to let its worker serve other queries." },
	{ "query_log_dropped", "vigil_query_log_dropped_total", "counter",
	  "Query log and dnstap events dropped by the workers (their buffer was full)." },
};

static const char *const rcode_names[VG_PIPE_RCODES] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "other",
};
static const char *const stream_names[VG_STREAM_KINDS] = { "tcp", "dot", "doh", "h2c" };

_Static_assert(VG_ACT_NULL_ADDR + 1 == VG_PIPE_POL_ACTIONS, "one counter per policy action");

#define PIPE_OFF(f) offsetof(struct vg_pipe_stats, f)
#define WORKER_OFF(f) offsetof(struct vg_worker_stats, f)
#define CTR sizeof(vg_counter_t)

static uint64_t pipe_sum(const struct daemon *d, size_t off)
{
	uint64_t s = 0;
	for (unsigned i = 0; i < d->n_workers; i++)
		s += VG_STAT_GET(*(const vg_counter_t *)((const char *)&d->workers[i].pipe.stats +
							 off));
	return s;
}

static uint64_t worker_sum(const struct daemon *d, size_t off)
{
	uint64_t s = 0;
	for (unsigned i = 0; i < d->n_workers; i++)
		s += VG_STAT_GET(*(const vg_counter_t *)((const char *)&d->workers[i].stats + off));
	return s;
}

static uint64_t upstream_sum(const struct daemon *d, size_t off)
{
	uint64_t s = 0;
	for (unsigned i = 0; i < d->n_workers; i++)
		if (d->workers[i].up)
			s += VG_STAT_GET(*(const vg_counter_t *)((const char *)vg_upstream_stats(
									 d->workers[i].up) + off));
	return s;
}

/* The histogram (struct vg_histo) at @p off in one of the structs summed by
 * @p sum, on scale @p sc, written in seconds. */
static void histogram(struct vg_expo *e, const struct daemon *d, const char *name,
		      const char *help, uint64_t (*sum)(const struct daemon *, size_t), size_t off,
		      const struct vg_histo_scale *sc)
{
	uint64_t counts[VG_HISTO_MAX];
	double bounds[VG_HISTO_MAX - 1];
	for (unsigned i = 0; i < sc->n; i++) {
		counts[i] = sum(d, off + offsetof(struct vg_histo, bucket) + i * CTR);
		if (i < sc->n - 1)
			bounds[i] = (double)sc->bound[i] / sc->per_s;
	}
	double s = (double)sum(d, off + offsetof(struct vg_histo, sum)) / sc->per_s;
	vg_expo_family(e, name, "histogram", help);
	vg_expo_histogram(e, name, NULL, 0, counts, bounds, sc->n, s);
}

static const struct stat_meta *meta_of(const char *stat)
{
	for (size_t i = 0; i < VG_ARRAY_SIZE(stat_meta); i++)
		if (!strcmp(stat_meta[i].stat, stat))
			return &stat_meta[i];
	return NULL;
}

static void totals(struct vg_expo *e, struct daemon *d)
{
	struct vg_stat st[VG_DAEMON_STATS_MAX];
	size_t n = vg_daemon_stats(d, st, VG_ARRAY_SIZE(st));
	for (size_t i = 0; i < n; i++) {
		const struct stat_meta *m = meta_of(st[i].name);
		char name[96];
		if (m) {
			vg_expo_family(e, m->metric, m->type, m->help);
			vg_expo_u64(e, m->metric, NULL, 0, st[i].value);
		} else {
			snprintf(name, sizeof(name), "vigil_%s_total", st[i].name);
			vg_expo_family(e, name, "counter", "See the stats line (README, Metrics).");
			vg_expo_u64(e, name, NULL, 0, st[i].value);
		}
	}
}

static void policy_metrics(struct vg_expo *e, struct daemon *d)
{
	const struct vg_policy *pol = d->cur.h ? d->cur.h->policy : NULL;
	char idx[32];

	vg_expo_family(e, "vigil_policy_rewrites_by_source_total", "counter",
		       "Policy rewrites by the deciding source and the action taken (series "
		       "appear once non-zero; source \"(allowlist)\": a group's allowlist).");
	for (unsigned s = 0; s < VG_PIPE_POL_SOURCES; s++) {
		const char *src;
		if (s == VG_PIPE_POL_SOURCES - 1) {
			src = "(allowlist)";
		} else if (pol && s < pol->nsources) {
			src = pol->src[s].name;
		} else {
			snprintf(idx, sizeof(idx), "source-%u", s);
			src = idx;
		}
		for (unsigned a = 0; a < VG_PIPE_POL_ACTIONS; a++) {
			uint64_t v = pipe_sum(d, PIPE_OFF(policy) +
						 (s * VG_PIPE_POL_ACTIONS + a) * CTR);
			struct vg_expo_label l[2] = { { "source", src },
						      { "action", vg_policy_action_name(a) } };
			if (v)
				vg_expo_u64(e, "vigil_policy_rewrites_by_source_total", l, 2, v);
		}
	}
	if (!pol)
		return;
	time_t now = time(NULL);
	vg_expo_family(e, "vigil_policy_source_serial", "gauge",
		       "The SOA serial of each RPZ policy source in force (feeds: the last "
		       "transferred version).");
	for (unsigned s = 0; s < pol->nsources; s++) {
		const struct vg_policy_src *ps = &pol->src[s];
		struct vg_expo_label l[2] = { { "source", ps->name },
					      { "feed", ps->cfg.n_primaries ? "yes" : "no" } };
		if (ps->loaded && ps->rpz)
			vg_expo_u64(e, "vigil_policy_source_serial", l, 2, ps->serial);
	}
	vg_expo_family(e, "vigil_policy_source_age_seconds", "gauge",
		       "Seconds since each policy source's file in force was written (feeds: "
		       "since the last transfer that brought a new version).");
	for (unsigned s = 0; s < pol->nsources; s++) {
		const struct vg_policy_src *ps = &pol->src[s];
		struct vg_expo_label l[2] = { { "source", ps->name },
					      { "feed", ps->cfg.n_primaries ? "yes" : "no" } };
		if (ps->loaded && ps->mtime.tv_sec)
			vg_expo_u64(e, "vigil_policy_source_age_seconds", l, 2,
				    now > ps->mtime.tv_sec ? (uint64_t)(now - ps->mtime.tv_sec)
							   : 0);
	}
}

void vg_metrics_write(struct daemon *d, struct vg_expo *e)
{
	char tn[16], code[8];

	totals(e, d);

	vg_expo_family(e, "vigil_queries_by_transport_total", "counter",
		       "Client queries received, by transport.");
	for (unsigned t = VG_TRANSPORT_UDP; t <= VG_TRANSPORT_DOH; t++) {
		struct vg_expo_label l = { "transport", vg_transport_name(t) };
		vg_expo_u64(e, "vigil_queries_by_transport_total", &l, 1,
			    pipe_sum(d, PIPE_OFF(by_transport) + t * CTR));
	}
	vg_expo_family(e, "vigil_queries_by_type_total", "counter",
		       "Client queries parsed, by query type (\"other\": the rest).");
	for (unsigned i = 0; i < VG_PIPE_QTYPES; i++) {
		struct vg_expo_label l = { "type", i < VG_PIPE_QTYPES - 1
							 ? vg_type_to_str(vg_pipe_qtypes[i], tn,
									  sizeof(tn))
							 : "other" };
		vg_expo_u64(e, "vigil_queries_by_type_total", &l, 1,
			    pipe_sum(d, PIPE_OFF(by_qtype) + i * CTR));
	}
	vg_expo_family(e, "vigil_answers_by_rcode_total", "counter",
		       "Answers sent to clients, by response code.");
	for (unsigned i = 0; i < VG_PIPE_RCODES; i++) {
		struct vg_expo_label l = { "rcode", rcode_names[i] };
		vg_expo_u64(e, "vigil_answers_by_rcode_total", &l, 1,
			    pipe_sum(d, PIPE_OFF(by_rcode) + i * CTR));
	}
	histogram(e, d, "vigil_answer_latency_seconds",
		  "Time from a client's query read (its recvmmsg batch, its stream read) to its "
		  "answer sent (the batch's sendmmsg), microsecond resolution.",
		  pipe_sum, PIPE_OFF(latency), &vg_histo_lat_scale);

	vg_expo_family(e, "vigil_cache_misses_total", "counter",
		       "Queries the cache could not answer (resolved).");
	vg_expo_u64(e, "vigil_cache_misses_total", NULL, 0, pipe_sum(d, PIPE_OFF(cache_misses)));
	vg_expo_family(e, "vigil_cache_evictions_total", "counter",
		       "Cache entries removed to make room for others.");
	vg_expo_u64(e, "vigil_cache_evictions_total", NULL, 0,
		    d->shared.cache ? vg_cache_evictions(d->shared.cache) : 0);

	vg_expo_family(e, "vigil_dnssec_answers_total", "counter",
		       "Resolved answers to clients by DNSSEC status (unchecked: not validated, "
		       "CD=1 or validation off).");
	for (unsigned i = 0; i < VG_SEC_STATES; i++) {
		struct vg_expo_label l = { "status", vg_dnssec_status_name(i) };
		vg_expo_u64(e, "vigil_dnssec_answers_total", &l, 1,
			    pipe_sum(d, PIPE_OFF(by_sec) + i * CTR));
	}
	vg_expo_family(e, "vigil_dnssec_bogus_total", "counter",
		       "Bogus resolved answers by Extended DNS Error code (series appear once "
		       "non-zero; \"other\": codes above 30).");
	for (unsigned i = 0; i < VG_PIPE_EDES; i++) {
		uint64_t v = pipe_sum(d, PIPE_OFF(bogus_ede) + i * CTR);
		snprintf(code, sizeof(code), "%u", i);
		struct vg_expo_label l = { "ede", i < VG_PIPE_EDES - 1 ? code : "other" };
		if (v)
			vg_expo_u64(e, "vigil_dnssec_bogus_total", &l, 1, v);
	}

	policy_metrics(e, d);

	vg_expo_family(e, "vigil_upstream_queries_total", "counter",
		       "Queries sent upstream, by protocol.");
	const struct {
		const char *proto;
		size_t off;
	} up[] = { { "udp", offsetof(struct vg_upstream_stats, udp_sent) },
		   { "tcp", offsetof(struct vg_upstream_stats, tcp_sent) },
		   { "tls", offsetof(struct vg_upstream_stats, tls_sent) } };
	for (size_t i = 0; i < VG_ARRAY_SIZE(up); i++) {
		struct vg_expo_label l = { "protocol", up[i].proto };
		vg_expo_u64(e, "vigil_upstream_queries_total", &l, 1, upstream_sum(d, up[i].off));
	}
	histogram(e, d, "vigil_upstream_rtt_seconds",
		  "Round trip of the upstream answers received.", upstream_sum,
		  offsetof(struct vg_upstream_stats, rtt), &vg_histo_rtt_scale);

	vg_expo_family(e, "vigil_connections_open", "gauge",
		       "Client stream connections open now, by kind (tcp, dot, doh, h2c).");
	for (unsigned k = 0; k < VG_STREAM_KINDS; k++) {
		struct vg_expo_label l = { "kind", stream_names[k] };
		vg_expo_u64(e, "vigil_connections_open", &l, 1,
			    worker_sum(d, WORKER_OFF(conns_open) + k * CTR));
	}

	if (d->shared.qlog) {
		vg_expo_family(e, "vigil_query_log_lost_total", "counter",
			       "Query log lines and dnstap frames the writer could not write out "
			       "(a write error such as a full disk, the dnstap output's queue "
			       "full).");
		vg_expo_u64(e, "vigil_query_log_lost_total", NULL, 0,
			    vg_qlog_lost(d->shared.qlog));
	}

	vg_expo_family(e, "vigil_workers", "gauge", "Worker threads.");
	vg_expo_u64(e, "vigil_workers", NULL, 0, d->n_workers);
	vg_expo_family(e, "vigil_build_info", "gauge", "vigil's version (the value is 1).");
	struct vg_expo_label v = { "version", VIGIL_VERSION };
	vg_expo_u64(e, "vigil_build_info", &v, 1, 1);
	if (d->metrics) {
		vg_expo_family(e, "vigil_start_time_seconds", "gauge",
			       "When vigil started (Unix time, seconds).");
		vg_expo_u64(e, "vigil_start_time_seconds", NULL, 0,
			    (uint64_t)started_at(d->metrics));
	}
}

/* ------------------------------------------------------------ HTTP */

struct conn {
	uv_tcp_t h;
	uv_timer_t timer;
	uv_write_t wr;
	uv_shutdown_t sd;
	struct vg_metrics *m;
	struct conn *next, **pprev;
	unsigned open_handles;     /* freed when both have closed */
	bool closing, responded;
	size_t n;
	char head[256];
	struct vg_expo body;
	char req[VG_METRICS_REQ_MAX];
};

struct vg_metrics {
	struct daemon *d;
	uv_tcp_t listener;
	bool listening;
	struct conn *conns;
	unsigned n_conns;
	time_t started;
	char where[VG_ADDRSTRLEN];
};

static time_t started_at(const struct vg_metrics *m)
{
	return m->started;
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (--c->open_handles)
		return;
	vg_expo_free(&c->body);
	free(c);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->pprev) {
		*c->pprev = c->next;
		if (c->next)
			c->next->pprev = c->pprev;
		c->pprev = NULL;
		c->m->n_conns--;
	}
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
	uv_close((uv_handle_t *)&c->h, conn_handle_closed);
}

static void on_conn_timeout(uv_timer_t *t)
{
	conn_close(t->data);
}

static void on_shutdown(uv_shutdown_t *sd, int status)
{
	(void)status;
	conn_close(sd->data);
}

static void on_written(uv_write_t *wr, int status)
{
	struct conn *c = wr->data;
	if (status < 0 || c->closing ||
	    uv_shutdown(&c->sd, (uv_stream_t *)&c->h, on_shutdown) < 0)
		conn_close(c);
}

/* Send the response (once) and end the connection after it. */
static void respond(struct conn *c, int code, const char *reason, bool head_only)
{
	if (c->responded)
		return;
	c->responded = true;
	uv_read_stop((uv_stream_t *)&c->h);
	if (code != 200) { /* the body: the status line's words */
		char msg[64];
		snprintf(msg, sizeof(msg), "%d %s\n", code, reason);
		vg_expo_free(&c->body);
		c->body.buf = strdup(msg);
		c->body.len = c->body.buf ? strlen(msg) : 0;
		c->body.cap = c->body.len;
	}
	int hl = snprintf(c->head, sizeof(c->head),
			  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			  "%sConnection: close\r\n\r\n",
			  code, reason,
			  code == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain",
			  c->body.len, code == 405 ? "Allow: GET, HEAD\r\n" : "");
	uv_buf_t b[2] = { uv_buf_init(c->head, (unsigned)hl),
			  uv_buf_init(c->body.buf ? c->body.buf : c->head,
				      head_only || !c->body.buf ? 0 : (unsigned)c->body.len) };
	c->wr.data = c;
	c->sd.data = c;
	if (uv_write(&c->wr, (uv_stream_t *)&c->h, b, b[1].len ? 2 : 1, on_written) < 0)
		conn_close(c);
}

/* The request line and headers are in: answer it. */
static void handle(struct conn *c)
{
	char *eol = memchr(c->req, '\n', c->n);
	char method[8], path[256], version[16];
	*eol = 0;
	if (sscanf(c->req, "%7s %255s %15s", method, path, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7)) {
		respond(c, 400, "Bad Request", false);
		return;
	}
	bool head = !strcmp(method, "HEAD");
	if (strcmp(path, "/metrics") && strncmp(path, "/metrics?", 9)) {
		respond(c, 404, "Not Found", head);
		return;
	}
	if (!head && strcmp(method, "GET")) {
		respond(c, 405, "Method Not Allowed", false);
		return;
	}
	vg_expo_init(&c->body);
	vg_metrics_write(c->m->d, &c->body);
	if (c->body.oom) {
		vg_expo_free(&c->body);
		respond(c, 503, "Service Unavailable", head);
		return;
	}
	respond(c, 200, "OK", head);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)hint;
	*buf = uv_buf_init(c->req + c->n, (unsigned)(sizeof(c->req) - 1 - c->n));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	(void)buf;
	if (nread < 0) {
		conn_close(c); /* EOF before a whole request, or an error */
		return;
	}
	if (c->responded)
		return;
	c->n += (size_t)nread;
	c->req[c->n] = 0;
	/* the request ends with an empty line (CRLF CRLF, or bare LFs) */
	if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n")) {
		handle(c);
		return;
	}
	if (memchr(c->req, 0, c->n)) {
		respond(c, 400, "Bad Request", false);
		return;
	}
	if (c->n >= sizeof(c->req) - 1)
		respond(c, 431, "Request Header Fields Too Large", false);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct vg_metrics *m = server->data;
	if (status < 0)
		return;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		/* take it off the backlog all the same, and close it */
		uv_tcp_t *t = malloc(sizeof(*t));
		if (t && uv_tcp_init(server->loop, t) == 0) {
			uv_accept(server, (uv_stream_t *)t);
			uv_close((uv_handle_t *)t, (uv_close_cb)free);
		} else {
			free(t);
		}
		return;
	}
	c->m = m;
	uv_tcp_init(server->loop, &c->h);
	uv_timer_init(server->loop, &c->timer);
	c->h.data = c->timer.data = c;
	c->open_handles = 2;
	if (uv_accept(server, (uv_stream_t *)&c->h) < 0) {
		c->closing = true;
		uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
		uv_close((uv_handle_t *)&c->h, conn_handle_closed);
		return;
	}
	c->next = m->conns;
	if (c->next)
		c->next->pprev = &c->next;
	m->conns = c;
	c->pprev = &m->conns;
	m->n_conns++;
	if (m->n_conns > VG_METRICS_MAX_CONNS) {
		/* full: the oldest goes (slow or idle clients cannot lock out a
		 * scraper; each holds at most VG_METRICS_TIMEOUT_MS anyway) */
		struct conn *old = m->conns;
		while (old->next)
			old = old->next;
		conn_close(old);
	}
	uv_timer_start(&c->timer, on_conn_timeout, VG_METRICS_TIMEOUT_MS, 0);
	if (uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read) < 0)
		conn_close(c);
}

int vg_metrics_start(struct vg_metrics **out, struct daemon *d, const struct vg_metrics_opts *o)
{
	*out = NULL;
	if (!o->enabled)
		return 0;
	struct vg_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return VG_ENOMEM;
	m->d = d;
	m->started = time(NULL);
	struct vg_sockaddr addr = o->addr;
	if (!o->listen[0]) /* enabled without an address: loopback */
		vg_sockaddr_parse("127.0.0.1", VG_METRICS_PORT, &addr);
	vg_sockaddr_str(&addr, VG_ADDR_PORT, m->where, sizeof(m->where));
	uv_tcp_init(&d->loop, &m->listener);
	m->listener.data = m;
	m->listening = true;
	int r = uv_tcp_bind(&m->listener, &addr.u.sa, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&m->listener, VG_METRICS_MAX_CONNS, on_connection);
	if (r < 0) {
		vg_log(VG_LOG_ERR, "metrics.listen %s: %s", m->where, uv_strerror(r));
		vg_metrics_stop(m);
		uv_run(&d->loop, UV_RUN_NOWAIT); /* the listener's close callback */
		free(m);
		return r;
	}
	vg_log(VG_LOG_INFO, "metrics on http://%s/metrics", m->where);
	*out = m;
	return 0;
}

void vg_metrics_stop(struct vg_metrics *m)
{
	if (!m)
		return;
	if (m->listening) {
		m->listening = false;
		uv_close((uv_handle_t *)&m->listener, NULL);
	}
	while (m->conns)
		conn_close(m->conns);
}

void vg_metrics_free(struct vg_metrics *m)
{
	free(m);
}
