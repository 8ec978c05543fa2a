/* SPDX-License-Identifier: MIT
 *
 * The vigil daemon: command line, start-up, signals, reload and shutdown.
 *
 * The main thread owns the config and hints snapshots and the shared cache;
 * it starts one worker thread per configured worker and then only waits for
 * signals on its own libuv loop.  SIGHUP loads the config file again: if it
 * is valid the new snapshot is published and every worker adopts it, the cache
 * is kept; if it is not, the errors are logged and the old config stays.
 *
 * A replaced snapshot is retired, not freed: requests in flight may still
 * read it.  Each worker says which generation it has adopted; once every
 * worker has moved past a retired snapshot, it is freed after one more
 * request time limit (by then every request that started on it has ended,
 * answered or timed out).  So reloads do not accumulate memory, which
 * matters with a million-rule policy.
 *
 * The policy's files are watched (uv_fs_poll): when one changes, only the
 * policy is rebuilt -- only the changed sources are read again, off the
 * workers -- and published the same way.  A source whose new file is broken
 * keeps its previous version (engine.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "cache/cache.h"
#include "core/core.h"
#include "daemon/autotrust.h"
#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/metrics.h"
#include "daemon/explain.h"
#include "daemon/privs.h"
#include "daemon/sdnotify.h"
#include "feed/feed.h"
#include "policy/engine.h"
#include "policy/plog.h"
#include "net/net.h"
#include "resolv/resolv.h"

#ifndef VIGIL_VERSION
#define VIGIL_VERSION "0.1.0"
#endif

#define MAX_WORKERS 64
#define RECLAIM_MS 1000         /* how often retired snapshots are looked at */
#define COOKIE_ROTATE_MS (24 * 3600 * 1000u) /* DNS cookie keys */

static void usage(FILE *out)
{
	fputs(
"NAME\n"
"    vigil - protective, caching, iterative DNS resolver\n"
"\n"
"SYNOPSIS\n"
"    vigil [-c FILE]\n"
"    vigil --check-config FILE\n"
"    vigil explain NAME [--client ADDR] [--client-id ID] [--client-cert CERT]\n"
"                  [--transport T] [--type TYPE] [-c FILE]\n"
"    vigil --help | --version\n"
"\n"
"DESCRIPTION\n"
"    vigil answers DNS queries from clients over UDP and TCP, and over TLS\n"
"    (DoT, RFC 7858) and HTTPS (DoH, RFC 8484) when server.listen-tls and\n"
"    server.listen-https are set with a certificate (section tls).  It resolves\n"
"    names iteratively from the root name servers (or sends configured zones\n"
"    to forwarders) and keeps answers in a shared, size-bounded cache.  It\n"
"    validates DNSSEC by default: secure answers get the AD bit, bogus ones\n"
"    SERVFAIL with an Extended DNS Error saying why (CD=1 returns the data).\n"
"    It runs in the foreground and logs to standard error (or syslog).\n"
"\n"
"    Started as root, vigil binds its sockets and then runs as server.user\n"
"    (default vigil; it must exist, \"\" keeps root) without capabilities;\n"
"    the files it writes live in server.state-directory (default\n"
"    /var/lib/vigil), which it creates and gives to that user.  Started as\n"
"    another user it drops any capability once bound.  Under systemd\n"
"    (NOTIFY_SOCKET set) it reports READY=1, RELOADING=1 and STOPPING=1.\n"
"\n"
"    Without -c, vigil runs on built-in defaults: it listens on 127.0.0.1 and\n"
"    ::1 port 53, answers loopback and private-range clients, refuses others,\n"
"    starts from the IANA root hints, and validates from the IANA root trust\n"
"    anchors (key tags 20326 and 38696).  contrib/vigil.yaml documents every\n"
"    setting.\n"
"\n"
"OPTIONS\n"
"    -c, --config FILE\n"
"        Read the YAML configuration FILE.  Errors are reported as FILE:LINE\n"
"        and vigil does not start.\n"
"    -t, --check-config FILE\n"
"        Check FILE (and the root hints, trust anchor, certificate and key\n"
"        files it names: a TLS key must match its certificate),\n"
"        print every error as FILE:LINE: message, and exit: 0 if valid, 1 if\n"
"        not.  Warnings (policy sources that apply to no client) do not\n"
"        change the exit status.\n"
"    explain NAME [--client ADDR] [--client-id ID] [--client-cert CERT]\n"
"            [--transport udp|tcp|dot|doh] [--type TYPE] [-c FILE]\n"
"        Load the policy of FILE (or the built-in defaults) and print which\n"
"        client group applies and why (a client ID or certificate the group\n"
"        names, or the address), and which rule, in which source at which\n"
"        FILE:LINE, decides NAME for a query from ADDR (default 127.0.0.1),\n"
"        or that none does.  CERT is sha256:HEX (the certificate's\n"
"        fingerprint) or subject:DN (RFC 2253).  Sends nothing.\n"
"    -p, --pidfile FILE\n"
"        Write the process ID to FILE after start-up; removed at exit.\n"
"    -h, --help\n"
"        Show this help and exit.\n"
"    -V, --version\n"
"        Show the version and exit.\n"
"\n"
"SIGNALS\n"
"    SIGTERM, SIGINT  stop: close listening sockets, abandon requests in\n"
"                     flight, and exit 0.\n"
"    SIGHUP           reload the config file, root hints and trust anchor\n"
"                     files, TLS certificates and keys, and the policy files\n"
"                     that changed; the cache is kept, open TLS connections\n"
"                     keep their certificate.  Listen addresses, worker\n"
"                     count and cache size\n"
"                     need a restart.  An invalid file is reported and the\n"
"                     running config stays in force; a policy source whose\n"
"                     new file is broken keeps its previous version.  Policy\n"
"                     files are also re-read when they change (policy.watch).\n"
"                     The policy decision log (policy.log) and the JSON query\n"
"                     log (query-log.file) are reopened, a moved-away dnstap\n"
"                     file (dnstap.file) replaced (rotation by others);\n"
"                     query-log and dnstap settings need a restart.\n"
"    SIGUSR1          log one line of statistics (stats: key=value ...);\n"
"                     query_log_dropped counts query log and dnstap events\n"
"                     lost because a worker's buffer was full.\n"
"\n"
"QUERY LOGS\n"
"    query-log.file writes one JSON object per client query (or 1 in\n"
"    query-log.sample); dnstap.socket or dnstap.file writes dnstap\n"
"    (Frame Streams) client and resolver messages.  Client addresses in both\n"
"    are kept, truncated or pseudonymised (query-log.client-address).  See\n"
"    the README, \"Query logs and dnstap\".\n"
"\n"
"METRICS\n"
"    With metrics.listen (or metrics.enabled: yes, 127.0.0.1@9153), vigil\n"
"    serves GET /metrics over HTTP: the Prometheus text format (queries by\n"
"    transport, type and rcode, cache, policy, DNSSEC, upstream, latency and\n"
"    RTT histograms).  README.md, section Metrics, lists every metric.\n"
"CONTROL SOCKET\n"
"    vigil serves vigilctl(1) on a unix socket, control.socket (default\n"
"    /run/vigil/control.sock, mode control.mode 0660, group control.group):\n"
"    status, stats, reload, flush, cache lookups, explain against the live\n"
"    policy, pause/resume of a client group, feeds, upstream servers, trust\n"
"    anchors.  Only root, the socket's owner and its group may use it.  With\n"
"    control.listen-tls (and tls-certificate, tls-key, client-ca) the same\n"
"    commands over TCP+TLS for clients with a certificate of client-ca\n"
"    (vigilctl -r).  See vigilctl --help.\n"
"\n"
"EXIT STATUS\n"
"    0 on a clean stop or a valid config; 1 on a configuration or start-up\n"
"    error; 2 on a command-line error.\n"
"\n"
"EXAMPLES\n"
"    vigil -c /etc/vigil/vigil.yaml\n"
"    vigil --check-config contrib/vigil.yaml\n"
"    dig @127.0.0.1 example.com A\n"
"    curl -s http://127.0.0.1:9153/metrics\n"
"    kdig @127.0.0.1 +tls +tls-ca=ca.pem +tls-hostname=dns.example.net example.com\n"
"    dig @127.0.0.1 +https +tls-ca=ca.pem +tls-hostname=dns.example.net example.com\n",
	      out);
}

static int load_hints(const struct vg_config *cfg, struct vg_hints *h,
		      const struct vg_policy *prev, FILE *errout)
{
	int r = cfg->root_hints[0] ? vg_hints_load(h, cfg->root_hints, errout)
				   : vg_hints_builtin(h);
	if (r < 0)
		return r;
	/* trust anchors: the configured files replace the built-in root anchors */
	h->ta.n = 0;
	if (cfg->dnssec.n_trust_anchor_files == 0)
		r = vg_ta_builtin(&h->ta);
	for (size_t i = 0; i < cfg->dnssec.n_trust_anchor_files; i++) {
		int t = vg_ta_load(&h->ta, cfg->dnssec.trust_anchor_files[i], errout);
		if (t < 0)
			r = t;
	}
	if (r == 0 && h->ta.n == 0 && cfg->dnssec.n_trust_anchor_files) {
		fprintf(errout, "%s: no trust anchors in the trust-anchor-file(s)\n",
			cfg->dnssec.trust_anchor_files[0]);
		r = VG_ECONFIG;
	}
	if (r < 0)
		return r;
	/* the policy sources, compiled off the workers; unchanged ones shared with prev */
	h->policy = NULL;
	h->owns_policy = false;
	if (cfg->policy.n_groups) {
		r = vg_policy_load(&h->policy, &cfg->policy, prev, errout);
		h->owns_policy = r == 0;
	}
	return r;
}

static void hints_free(struct vg_hints *h)
{
	if (h)
		vg_policy_free(h->policy); /* one reference per hints struct */
	free(h);
}

/* Load config + hints into fresh snapshots. 0 or negative (errors printed). */
static int load_snapshot(const char *path, struct vg_config **cfg_out, struct vg_hints **h_out,
			 const struct vg_policy *prev, FILE *errout)
{
	struct vg_config *cfg = malloc(sizeof(*cfg));
	struct vg_hints *h = calloc(1, sizeof(*h));
	int r = VG_ENOMEM;
	if (!cfg || !h)
		goto fail;
	if (path)
		r = vg_config_load(cfg, path, errout);
	else {
		vg_config_defaults(cfg);
		r = 0;
	}
	if (r < 0)
		goto fail;
	r = load_hints(cfg, h, prev, errout);
	if (r < 0)
		goto fail;
	*cfg_out = cfg;
	*h_out = h;
	return 0;
fail:
	free(cfg);
	hints_free(h);
	return r;
}

static void policy_refresh(struct daemon *d, const char *why);

static void tls_unref_all(struct vg_tls_ctx *tls[VG_STREAM_KINDS])
{
	for (unsigned k = 0; k < VG_STREAM_KINDS; k++) {
		vg_tls_ctx_unref(tls[k]);
		tls[k] = NULL;
	}
}

/*
 * The TLS contexts the configured listeners need (DoT, DoH), from the
 * certificate and key files, sharing ticket keys @p t (NULL: none, for
 * --check-config).  0, or VG_ECONFIG with the reasons written to @p errout.
 */
static int load_tls(const struct vg_config *cfg, struct vg_tls_tickets *t,
		    struct vg_tls_ctx *tls[VG_STREAM_KINDS], FILE *errout)
{
	static const struct {
		enum vg_stream_kind kind;
		enum vg_tls_role role;
		const char *key;
	} need[] = { { VG_STREAM_DOT, VG_TLS_DOT, "server.listen-tls" },
		     { VG_STREAM_DOH, VG_TLS_DOH, "server.listen-https" } };
	const size_t n[] = { cfg->net.n_listen_tls, cfg->net.n_listen_https };
	char err[768];
	for (unsigned k = 0; k < VG_STREAM_KINDS; k++)
		tls[k] = NULL;
	for (size_t i = 0; i < VG_ARRAY_SIZE(need); i++) {
		if (!n[i])
			continue;
		if (vg_tls_server_new(&cfg->tls, need[i].role, t, &tls[need[i].kind], err,
				      sizeof(err)) < 0) {
			fprintf(errout, "%s: %s: %s\n", cfg->source_file[0] ? cfg->source_file : "vigil",
				need[i].key, err);
			tls_unref_all(tls);
			return VG_ECONFIG;
		}
	}
	return 0;
}

static void on_cookie_timer(uv_timer_t *t)
{
	struct daemon *d = t->data;
	vg_cookie_rotate(&d->shared.cookies); /* the previous key still verifies */
}

static void on_ticket_timer(uv_timer_t *t)
{
	struct daemon *d = t->data;
	if (vg_tls_tickets_rotate(d->tickets) < 0)
		vg_log(VG_LOG_WARNING, "TLS: cannot make a new session ticket key; keeping the old");
	else
		vg_log(VG_LOG_INFO, "TLS: new session ticket key");
}

static void snap_free(struct snap *sn)
{
	if (sn->owns_cfg)
		free(sn->cfg);
	hints_free(sn->h);
	if (sn->ns)
		for (unsigned k = 0; k < VG_STREAM_KINDS; k++)
			vg_tls_ctx_unref(sn->ns->tls[k]);
	free(sn->ns);
	memset(sn, 0, sizeof(*sn));
}

/* Room to retire the snapshot in force? (else the caller reports and gives up) */
static bool can_publish(struct daemon *d)
{
	return d->n_retired < VG_DAEMON_MAX_RETIRED;
}

/*
 * Make (cfg, h) the snapshot in force and wake the workers.  @p own_cfg:
 * cfg is new (else it is the current one, shared).  The previous snapshot
 * is retired.  The caller checked can_publish().  0, or VG_ENOMEM (nothing
 * changed; the caller still owns cfg and h).
 */
static int publish(struct daemon *d, struct vg_config *cfg, bool own_cfg, struct vg_hints *h)
{
	struct vg_net_snapshot *ns = malloc(sizeof(*ns));
	if (!ns) {
		vg_log(VG_LOG_ERR, "out of memory: the new settings are not applied");
		return VG_ENOMEM;
	}
	struct snap old = d->cur;
	*ns = (struct vg_net_snapshot){
		.net = &cfg->net, .upstream = &cfg->upstream, .prime_root = cfg->resolv.prime_root,
		.view = { .serve = &cfg->serve, .resolv = &cfg->resolv, .dnssec = &cfg->dnssec,
			  .hints = h, .policy = h->policy },
	};
	for (unsigned k = 0; k < VG_STREAM_KINDS; k++)
		ns->tls[k] = d->tls[k] ? vg_tls_ctx_ref(d->tls[k]) : NULL;
	d->cur = (struct snap){ .cfg = cfg, .owns_cfg = own_cfg || old.owns_cfg, .h = h, .ns = ns };
	if (old.h) {
		if (!own_cfg)
			old.owns_cfg = false; /* the new snapshot owns the shared config now */
		old.gen = d->gen + 1;
		old.idle_at = 0;
		d->retired[d->n_retired++] = old;
	}
	atomic_store_explicit(&d->shared.snap, ns, memory_order_release);
	atomic_store_explicit(&d->shared.gen, ++d->gen, memory_order_release);
	vg_control_policy_changed(d); /* paused groups by name: their new indexes */
	for (unsigned i = 0; i < d->n_workers; i++)
		vg_worker_notify(&d->workers[i]);
	return 0;
}

/* Free the retired snapshots nobody can use any more (oldest first). */
static void on_reclaim(uv_timer_t *t)
{
	struct daemon *d = t->data;
	uint64_t now = uv_now(&d->loop);
	uint64_t grace = (uint64_t)d->cur.cfg->serve.request_timeout_ms + 2 * RECLAIM_MS;
	unsigned done = 0;
	uint64_t seen = UINT64_MAX; /* the oldest generation a worker is on */
	for (unsigned i = 0; i < d->n_workers; i++) {
		uint64_t g = vg_worker_generation(&d->workers[i]);
		seen = g < seen ? g : seen;
	}
	for (unsigned k = 0; k < d->n_retired; k++)
		if (!d->retired[k].idle_at && seen >= d->retired[k].gen)
			d->retired[k].idle_at = now;
	while (done < d->n_retired) {
		struct snap *sn = &d->retired[done];
		if (!sn->idle_at || now - sn->idle_at < grace)
			break; /* the later ones were retired later */
		snap_free(sn);
		done++;
	}
	if (done) {
		memmove(d->retired, d->retired + done, (d->n_retired - done) * sizeof(d->retired[0]));
		d->n_retired -= done;
		malloc_trim(0); /* a big policy's arrays go back to the system */
		vg_log(VG_LOG_INFO, "freed %u retired snapshot%s (%u still retired)", done,
		       done == 1 ? "" : "s", d->n_retired);
	}
	if (d->refresh_pending && can_publish(d))
		policy_refresh(d, "retry");
}

/* RFC 5011 changed the trusted keys: a new snapshot with them. */
static void on_anchors_changed(void *arg, const struct vg_ta_set *ta)
{
	struct daemon *d = arg;
	if (!can_publish(d)) {
		vg_log(VG_LOG_ERR, "trust anchors changed but too many snapshots are still in use; "
		       "they apply at the next reload");
		return;
	}
	const struct vg_hints *cur = d->cur.h;
	struct vg_hints *h = malloc(sizeof(*h));
	if (!h)
		return;
	memcpy(h, cur, sizeof(*h));
	h->ta = *ta;
	vg_policy_ref(h->policy); /* shared with the snapshot it copies */
	if (publish(d, d->cur.cfg, false, h) < 0) {
		hints_free(h);
		return;
	}
	vg_log(VG_LOG_NOTICE, "trust anchors updated (RFC 5011): %u anchors", ta->n);
}

static unsigned policy_rules(const struct vg_policy *p)
{
	unsigned rules = 0;
	for (unsigned i = 0; p && i < p->nsources; i++)
		rules += vg_pol_rule_count(p->snap, i);
	return rules;
}

/* One line per source a new policy read again (the others were shared). */
static void log_reloaded(const struct vg_policy *p, const char *why)
{
	for (unsigned i = 0; i < p->nsources; i++)
		if (!p->src[i].reused)
			vg_log(VG_LOG_NOTICE, "policy: source '%s' reloaded from %s: %u rules%s (%s)",
			       p->src[i].name, p->src[i].cfg.file, p->src[i].rules,
			       p->src[i].errors ? ", with errors" : "", why);
}

/*
 * Rebuild the policy of the config in force: sources whose files changed
 * are read again (a broken one keeps its previous version), the others are
 * shared.  Runs on the main loop, never on a worker.
 */
static void policy_refresh(struct daemon *d, const char *why)
{
	const struct vg_policy *old = d->cur.h->policy;
	if (!old)
		return;
	if (!can_publish(d)) {
		vg_log(VG_LOG_WARNING, "policy (%s): too many snapshots still in use; retrying", why);
		d->refresh_pending = true;
		return;
	}
	d->refresh_pending = false;
	char *errbuf = NULL;
	size_t errlen = 0;
	FILE *err = open_memstream(&errbuf, &errlen);
	struct vg_policy *p = NULL;
	uint64_t t0 = uv_hrtime();
	int r = vg_policy_load(&p, &d->cur.cfg->policy, old, err ? err : stderr);
	if (err)
		fclose(err);
	if (r < 0) {
		vg_log(VG_LOG_ERR, "policy (%s): reload failed, the policy in force stays:\n%s", why,
		       errbuf ? errbuf : "");
		free(errbuf);
		return;
	}
	unsigned changed = 0;
	for (unsigned i = 0; i < p->nsources; i++)
		changed += !p->src[i].reused;
	if (!changed && !p->kept) {
		free(errbuf);
		vg_policy_free(p);
		return; /* nothing new (a touched file with the same identity, say) */
	}
	if (errbuf && errbuf[0])
		vg_log(p->kept ? VG_LOG_ERR : VG_LOG_WARNING, "policy (%s):\n%s", why, errbuf);
	free(errbuf);
	if (!changed) {
		vg_policy_free(p);
		return; /* only broken files: the policy in force stays as it is */
	}
	struct vg_hints *h = malloc(sizeof(*h));
	if (!h) {
		vg_policy_free(p);
		return;
	}
	memcpy(h, d->cur.h, sizeof(*h));
	h->policy = p;
	h->owns_policy = true;
	if (publish(d, d->cur.cfg, false, h) < 0) {
		hints_free(h);
		return;
	}
	log_reloaded(p, why);
	vg_log(VG_LOG_NOTICE, "policy: %u sources, %u rules, %u client groups (built in %.0f ms)",
	       p->nsources, policy_rules(p), p->ngroups, (double)(uv_hrtime() - t0) / 1e6);
}

static void on_refresh_timer(uv_timer_t *t)
{
	struct daemon *d = t->data;
	policy_refresh(d, "a policy file changed");
}

static void on_watch(uv_fs_poll_t *w, int status, const uv_stat_t *prev, const uv_stat_t *curr)
{
	struct daemon *d = w->data;
	(void)prev;
	(void)curr;
	(void)status;
	/* let a writer finish (and several files change together) before reading */
	uv_timer_start(&d->refresh, on_refresh_timer, 200, 0);
}

/* Watch the files of the policy in force (again after a reload). */
static void free_handle(uv_handle_t *h)
{
	free(h);
}

/* A watcher is closed, and its memory freed once libuv is done with it: the
 * same storage is never set up again while it is still closing. */
static void watch_close(uv_fs_poll_t *w)
{
	uv_fs_poll_stop(w);
	uv_close((uv_handle_t *)w, free_handle);
}

static void policy_watch(struct daemon *d)
{
	const struct vg_config *cfg = d->cur.cfg;
	bool same = d->n_watch == cfg->policy.n_sources;
	for (unsigned i = 0; same && i < d->n_watch; i++)
		same = !strcmp(d->watched[i], cfg->policy.sources[i].file);
	if (same)
		return;
	for (unsigned i = 0; i < d->n_watch; i++)
		watch_close(d->watch[i]);
	d->n_watch = 0;
	if (!cfg->policy.watch_ms || !d->cur.h->policy)
		return;
	for (size_t i = 0; i < cfg->policy.n_sources; i++) {
		uv_fs_poll_t *w = malloc(sizeof(*w));
		if (!w)
			continue;
		d->watch[d->n_watch] = w;
		uv_fs_poll_init(&d->loop, w);
		w->data = d;
		snprintf(d->watched[d->n_watch], sizeof(d->watched[0]), "%s",
			 cfg->policy.sources[i].file);
		if (uv_fs_poll_start(w, on_watch, d->watched[d->n_watch], cfg->policy.watch_ms) < 0) {
			uv_close((uv_handle_t *)w, free_handle);
			continue;
		}
		uv_unref((uv_handle_t *)w);
		d->n_watch++;
	}
}

static void stop_all(struct daemon *d)
{
	vg_log(VG_LOG_NOTICE, "stopping");
	vg_sd_stopping();
	vg_control_stop(d);
	vg_autotrust_stop(d->autotrust);
	d->autotrust = NULL;
	vg_metrics_stop(d->metrics);
	for (unsigned i = 0; i < d->n_workers; i++)
		vg_worker_stop(&d->workers[i]);
	for (unsigned i = 0; i < d->n_watch; i++)
		watch_close(d->watch[i]);
	d->n_watch = 0;
	uv_timer_stop(&d->reclaim);
	uv_close((uv_handle_t *)&d->reclaim, NULL);
	uv_timer_stop(&d->refresh);
	uv_close((uv_handle_t *)&d->refresh, NULL);
	uv_signal_stop(&d->sig_term);
	uv_signal_stop(&d->sig_int);
	uv_signal_stop(&d->sig_hup);
	uv_signal_stop(&d->sig_usr1);
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	uv_close((uv_handle_t *)&d->sig_int, NULL);
	uv_close((uv_handle_t *)&d->sig_hup, NULL);
	uv_close((uv_handle_t *)&d->sig_usr1, NULL);
}

/* ---- what the policy applies to whom ---- */

/* The warning for sources that apply to no client; false when there is none. */
static bool unused_sources_warning(const struct vg_config *cfg, char *buf, size_t cap)
{
	char names[512];
	size_t n = vg_config_policy_unused(cfg, names, sizeof(names));

	if (!n)
		return false;
	snprintf(buf, cap, "policy: %s %s %s to no client: %s", n == 1 ? "source" : "sources",
		 names, n == 1 ? "applies" : "apply",
		 !cfg->policy.n_groups ? "the policy section has no groups" :
		 n == 1 ? "no group with clients lists it" : "no group with clients lists them");
	return true;
}

/* Append @p item to the ", "-separated list in @p buf (o: its length so far). */
static size_t join(char *buf, size_t cap, size_t o, const char *item)
{
	int w;

	if (o >= cap)
		return o;
	w = snprintf(buf + o, cap - o, "%s%s", o ? ", " : "", item);
	if (w < 0 || (size_t)w >= cap - o) {
		if (cap > 4)
			memcpy(buf + cap - 4, "...", 4);
		return cap;
	}
	return o + (size_t)w;
}

/* One line per client group (who gets which sources, in order), then the warning. */
static void log_policy_groups(const struct vg_config *cfg)
{
	const struct vg_policy_opts *po = &cfg->policy;
	char clients[400], sources[400], pfx[INET6_ADDRSTRLEN + 8], warn[700];

	for (size_t i = 0; i < po->n_groups; i++) {
		const struct vg_policy_group *g = &po->groups[i];
		size_t oc = 0, os = 0;
		clients[0] = sources[0] = '\0';
		for (size_t k = 0; k < g->n_clients; k++)
			oc = join(clients, sizeof(clients), oc,
				  vg_prefix_str(&g->clients[k], pfx, sizeof(pfx)));
		for (size_t k = 0; k < g->n_ids; k++) /* then client IDs and certificates */
			oc = join(clients, sizeof(clients), oc, g->ids[k]);
		for (size_t k = 0; k < g->n_certs; k++)
			oc = join(clients, sizeof(clients), oc, g->certs[k]);
		for (size_t k = 0; k < g->n_sources; k++)
			os = join(sources, sizeof(sources), os, po->sources[g->sources[k]].name);
		vg_log(VG_LOG_NOTICE, "policy: group '%s': clients %s; sources %s; allowlist %s",
		       g->name, oc ? clients : "none", os ? sources : "none",
		       g->allowlist ? "yes" : "no");
	}
	if (unused_sources_warning(cfg, warn, sizeof(warn)))
		vg_log(VG_LOG_WARNING, "%s", warn);
}

static bool net_addrs_eq(const struct vg_sockaddr *a, size_t na, const struct vg_sockaddr *b,
			 size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!vg_sockaddr_eq(&a[i], &b[i]))
			return false;
	return true;
}

static int reload(struct daemon *d)
{
	d->reload_error[0] = '\0';
	if (!d->config_path) {
		vg_log(VG_LOG_NOTICE, "SIGHUP: no config file to reload (running on defaults)");
		snprintf(d->reload_error, sizeof(d->reload_error),
			 "no config file to reload (running on defaults)\n");
		return VG_EINVAL;
	}
	if (!can_publish(d)) {
		vg_log(VG_LOG_ERR, "SIGHUP: too many snapshots still in use by requests in flight; "
		       "try again in a few seconds");
		snprintf(d->reload_error, sizeof(d->reload_error), "too many snapshots still in use "
			 "by requests in flight; try again in a few seconds\n");
		return -EAGAIN;
	}
	char *errbuf = NULL;
	size_t errlen = 0;
	FILE *err = open_memstream(&errbuf, &errlen);
	struct vg_config *cfg;
	struct vg_hints *h;
	int r = load_snapshot(d->config_path, &cfg, &h, d->cur.h->policy, err ? err : stderr);
	if (err)
		fclose(err);
	if (r < 0) {
		vg_log(VG_LOG_ERR, "reload of %s failed, keeping the running config:\n%s",
		       d->config_path, errbuf ? errbuf : "");
		snprintf(d->reload_error, sizeof(d->reload_error), "%s", errbuf ? errbuf : "");
		free(errbuf);
		return VG_ECONFIG;
	}
	if (errbuf && errbuf[0])
		vg_log(VG_LOG_WARNING, "reload of %s:\n%s", d->config_path, errbuf);
	free(errbuf);
	/* certificates and keys are read again: open connections keep the old ones */
	struct vg_tls_ctx *tls[VG_STREAM_KINDS];
	errbuf = NULL;
	err = open_memstream(&errbuf, &errlen);
	r = load_tls(cfg, d->tickets, tls, err ? err : stderr);
	if (err)
		fclose(err);
	if (r < 0) {
		vg_log(VG_LOG_ERR, "reload of %s failed, keeping the running config:\n%s",
		       d->config_path, errbuf ? errbuf : "");
		snprintf(d->reload_error, sizeof(d->reload_error), "%s", errbuf ? errbuf : "");
		free(errbuf);
		free(cfg);
		hints_free(h);
		return VG_ECONFIG;
	}
	free(errbuf);
	const struct vg_config *old = d->cur.cfg;
	if (old->net.n_listen != cfg->net.n_listen ||
	    memcmp(old->net.listen, cfg->net.listen, sizeof(cfg->net.listen[0]) * cfg->net.n_listen) != 0)
		vg_log(VG_LOG_WARNING, "reload: listen addresses changed; restart to apply");
	if (old->net.workers != cfg->net.workers)
		vg_log(VG_LOG_WARNING, "reload: worker count changed; restart to apply");
	if (old->cache.size != cfg->cache.size)
		vg_log(VG_LOG_WARNING, "reload: cache size changed; restart to apply");
	vg_cache_set_limits(d->shared.cache, cfg->cache.min_ttl, cfg->cache.max_ttl,
			    cfg->cache.max_neg_ttl);
	vg_cache_set_stale(d->shared.cache, cfg->resolv.serve_stale ? cfg->resolv.serve_stale_max
								     : 0);
	vg_log_setup(cfg->log.level, cfg->log.target == VG_LOG_SYSLOG);
	vg_plog_reopen(d->shared.plog); /* rotation: the decision log file is opened again */
	vg_qlog_reopen(d->shared.qlog); /* and the JSON query log */
	if (memcmp(&old->qlog, &cfg->qlog, sizeof(cfg->qlog)))
		vg_log(VG_LOG_WARNING, "reload: query-log or dnstap changed; restart to apply");
	if (strcmp(old->policy.log, cfg->policy.log))
		vg_log(VG_LOG_WARNING, "reload: policy.log changed; restart to apply");
	if (memcmp(&old->control, &cfg->control, sizeof(cfg->control)))
		vg_log(VG_LOG_WARNING, "reload: the control section changed; restart to apply");
	if (memcmp(&old->metrics, &cfg->metrics, sizeof(cfg->metrics)))
		vg_log(VG_LOG_WARNING, "reload: the metrics section changed; restart to apply");
	if (memcmp(&old->run, &cfg->run, sizeof(cfg->run)))
		vg_log(VG_LOG_WARNING, "reload: server.user or state-directory changed; restart "
		       "to apply");
	if (!net_addrs_eq(old->net.listen_tls, old->net.n_listen_tls, cfg->net.listen_tls,
			  cfg->net.n_listen_tls) ||
	    !net_addrs_eq(old->net.listen_https, old->net.n_listen_https, cfg->net.listen_https,
			  cfg->net.n_listen_https) ||
	    !net_addrs_eq(old->net.listen_http, old->net.n_listen_http, cfg->net.listen_http,
			  cfg->net.n_listen_http))
		vg_log(VG_LOG_WARNING, "reload: DoT/DoH listen addresses changed; restart to apply");
	if (old->tls.ticket_rotation_s != cfg->tls.ticket_rotation_s)
		vg_log(VG_LOG_WARNING, "reload: tls.ticket-rotation changed; restart to apply");
	if (d->autotrust)
		vg_autotrust_anchors(d->autotrust, &h->ta); /* RFC 5011 state wins */
	struct vg_tls_ctx *old_tls[VG_STREAM_KINDS];
	memcpy(old_tls, d->tls, sizeof(old_tls));
	memcpy(d->tls, tls, sizeof(tls));
	if (publish(d, cfg, true, h) < 0) {
		memcpy(d->tls, old_tls, sizeof(old_tls));
		tls_unref_all(tls);
		free(cfg);
		hints_free(h);
		return VG_ENOMEM;
	}
	tls_unref_all(old_tls); /* the snapshots using them hold their own references */
	policy_watch(d);
	vg_log(VG_LOG_NOTICE, "reloaded %s", d->config_path);
	if (h->policy) {
		log_reloaded(h->policy, "SIGHUP");
		vg_log(VG_LOG_NOTICE, "policy: %u sources, %u rules, %u client groups",
		       h->policy->nsources, policy_rules(h->policy), h->policy->ngroups);
	}
	log_policy_groups(cfg);
	return 0;
}

int vg_daemon_reload(struct daemon *d)
{
	vg_sd_reloading();
	int r = reload(d);
	vg_sd_ready("serving; %s %s", r == 0 ? "reloaded" : "reload failed, kept",
		    d->config_path ? d->config_path : "the built-in defaults");
	return r;
}

/* ---- RPZ feeds (src/feed) ---- */

/* A feed wrote a new version of its source's file (on the feed thread). */
static void on_feed_update(void *arg, unsigned source_index)
{
	struct daemon *d = arg;
	(void)source_index;
	uv_async_send(&d->feed_async);
}

/* On the main loop: a feed wrote a new copy.  Only the policy is rebuilt,
 * and only that source is read again (the others are shared: engine.c). */
static void on_feed_async(uv_async_t *a)
{
	policy_refresh(a->data, "a feed was transferred");
}

/* The pipeline's handler for NOTIFY (another opcode than QUERY). */
static size_t feed_notify(void *arg, const uint8_t *pkt, size_t len, const struct sockaddr *from,
			  uint8_t *resp, size_t cap)
{
	return vg_feed_notify(arg, pkt, len, from, resp, cap);
}

/* After the policy is loaded, before the workers are set up. 0 or negative. */
static int feeds_start(struct daemon *d, const struct vg_config *cfg)
{
	uv_async_init(&d->loop, &d->feed_async, on_feed_async);
	d->feed_async.data = d;
	uv_unref((uv_handle_t *)&d->feed_async); /* never what keeps the loop running */
	int r = vg_feed_start(&d->feed, &cfg->policy, &cfg->feed, on_feed_update, d);
	if (d->feed) {
		d->shared.notify = feed_notify;
		d->shared.notify_arg = d->feed;
	}
	return r;
}

/* Once no worker can pass a NOTIFY any more. */
static void feeds_stop(struct daemon *d)
{
	vg_feed_stop(d->feed); /* no on_feed_update after this */
	vg_feed_free(d->feed);
	d->feed = NULL;
	d->shared.notify = NULL;
	d->shared.notify_arg = NULL;
	if (d->feed_async.loop && !uv_is_closing((uv_handle_t *)&d->feed_async)) {
		uv_close((uv_handle_t *)&d->feed_async, NULL);
		uv_run(&d->loop, UV_RUN_NOWAIT);
	}
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;
	switch (signum) {
	case SIGTERM:
	case SIGINT:
		stop_all(d);
		break;
	case SIGHUP:
		/* a failed reload kept the running config: nothing of the file
		 * is acted on, its feeds included (as vigilctl reload) */
		if (vg_daemon_reload(d) == 0)
			vg_feed_check_config(d->feed, &d->cur.cfg->policy, &d->cur.cfg->feed);
		break;
	case SIGUSR1:
		vg_daemon_log_stats(d);
		break;
	default:
		break;
	}
}

static int check_config(const char *path)
{
	struct vg_config *cfg;
	struct vg_hints *h;
	struct vg_tls_ctx *tls[VG_STREAM_KINDS];
	if (load_snapshot(path, &cfg, &h, NULL, stdout) < 0) {
		fprintf(stdout, "%s: configuration is NOT valid\n", path);
		return 1;
	}
	if (load_tls(cfg, NULL, tls, stdout) < 0) {
		fprintf(stdout, "%s: configuration is NOT valid\n", path);
		free(cfg);
		hints_free(h);
		return 1;
	}
	tls_unref_all(tls);
	char warn[700];
	if (unused_sources_warning(cfg, warn, sizeof(warn)))
		fprintf(stdout, "%s: warning: %s\n", path, warn); /* valid all the same */
	fprintf(stdout, "%s: configuration is valid\n", path);
	free(cfg);
	hints_free(h);
	return 0;
}

static unsigned worker_count(const struct vg_config *cfg)
{
	if (cfg->net.workers)
		return cfg->net.workers;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return n > MAX_WORKERS ? MAX_WORKERS : (unsigned)n;
}

/* What writes files (the policy decision log, the feeds' copies): after the drop, so
 * they are the user's.  Before the workers start: they take the log and the NOTIFY
 * handler then.  0 or negative (logged). */
static int start_writers(struct daemon *d, const struct vg_config *cfg)
{
	if (cfg->policy.log[0]) {
		int r = vg_plog_start(&d->shared.plog, cfg->policy.log, d->n_workers);
		if (r < 0) {
			vg_log(VG_LOG_ERR, "not starting: policy log %s: %s", cfg->policy.log,
			       vg_strerror(r));
			return r;
		}
	}
	if (vg_qlog_opts_enabled(&cfg->qlog)) {
		char why[256] = "";
		int r = vg_qlog_start(&d->shared.qlog, &cfg->qlog, d->n_workers, why, sizeof(why));
		if (r < 0) {
			vg_log(VG_LOG_ERR, "not starting: %s", why[0] ? why : vg_strerror(r));
			return r;
		}
	}
	if (feeds_start(d, cfg) < 0) {
		vg_log(VG_LOG_ERR, "not starting: the RPZ feeds cannot start");
		return VG_ECONFIG;
	}
	return 0;
}

static int run(struct daemon *d, const char *pidfile)
{
	struct vg_config *cfg;
	struct vg_hints *h;
	FILE *pidf = NULL;
	int ret = 1;

	if (load_snapshot(d->config_path, &cfg, &h, NULL, stderr) < 0) {
		fprintf(stderr, "vigil: not starting: configuration errors above\n");
		return 1;
	}
	vg_log_setup(cfg->log.level, cfg->log.target == VG_LOG_SYSLOG);
	struct vg_privs privs;
	if (vg_privs_prepare(&privs, cfg, stderr) < 0) { /* before anything is bound or written */
		free(cfg);
		hints_free(h);
		return 1;
	}
	d->run_uid = privs.change_user ? privs.uid : (uid_t)-1;
	d->run_gid = privs.change_user ? privs.gid : (gid_t)-1;
	d->tickets = vg_tls_tickets_new();
	d->shared.per_addr = calloc(VG_NET_ADDR_BUCKETS, sizeof(*d->shared.per_addr));
	if (!d->tickets || !d->shared.per_addr || load_tls(cfg, d->tickets, d->tls, stderr) < 0) {
		fprintf(stderr, "vigil: not starting: %s\n",
			d->tickets && d->shared.per_addr ? "TLS settings (above)" : "out of memory");
		free(cfg);
		hints_free(h);
		goto out;
	}
	randombytes_buf(&d->shared.per_addr_key, sizeof(d->shared.per_addr_key));
	vg_cookie_init(&d->shared.cookies);
	d->shared.rl = vg_rl_new(VG_RL_BUCKETS);
	if (!d->shared.rl) {
		vg_log(VG_LOG_ERR, "cannot allocate the rate limit table");
		free(cfg);
		hints_free(h);
		goto out;
	}
	if (publish(d, cfg, true, h) < 0) {
		free(cfg);
		hints_free(h);
		goto out;
	}
	d->shared.cache = vg_cache_new(cfg->cache.size);
	if (!d->shared.cache) {
		vg_log(VG_LOG_ERR, "cannot allocate the cache (%zu bytes)", cfg->cache.size);
		return 1;
	}
	vg_cache_set_limits(d->shared.cache, cfg->cache.min_ttl, cfg->cache.max_ttl,
			    cfg->cache.max_neg_ttl);
	vg_cache_set_stale(d->shared.cache, cfg->resolv.serve_stale ? cfg->resolv.serve_stale_max
								     : 0);
	d->shared.upshare = vg_upshare_new();
	if (!d->shared.upshare) {
		vg_log(VG_LOG_ERR, "cannot allocate the shared upstream table");
		goto out;
	}

	uv_loop_init(&d->loop);
	d->n_workers = worker_count(cfg);
	d->workers = calloc(d->n_workers, sizeof(*d->workers));
	if (!d->workers)
		goto out;
	unsigned inited = 0;
	for (; inited < d->n_workers; inited++) {
		int r = vg_worker_init(&d->workers[inited], inited, &d->shared);
		if (r < 0) {
			vg_log(VG_LOG_ERR, "worker %u: start-up failed: %s", inited, vg_strerror(r));
			vg_worker_deinit(&d->workers[inited]);
			for (unsigned i = 0; i < inited; i++)
				vg_worker_deinit(&d->workers[i]);
			goto out;
		}
	}
	/* vigilctl's socket: created here, with the listening sockets (before any
	 * privilege is given up) */
	if (vg_control_start(d, cfg) < 0) {
		vg_log(VG_LOG_ERR, "not starting: the control socket (control.socket) cannot be "
		       "created (above)");
		for (unsigned i = 0; i < d->n_workers; i++)
			vg_worker_deinit(&d->workers[i]);
		goto out;
	}

	/* the metrics endpoint: bound here with the DNS sockets (before any
	 * privilege is dropped), served from this loop */
	if (vg_metrics_start(&d->metrics, d, &cfg->metrics) < 0) {
		vg_log(VG_LOG_ERR, "not starting: the metrics endpoint cannot listen");
		for (unsigned i = 0; i < d->n_workers; i++)
			vg_worker_deinit(&d->workers[i]);
		goto out;
	}

	if (pidfile && !(pidf = fopen(pidfile, "w"))) /* opened while still root */
		vg_log(VG_LOG_WARNING, "cannot write pidfile %s: %s", pidfile, strerror(errno));
	/* every listening socket is bound above: from here on, no root and no capability;
	 * what writes files starts after (the workers take the log and NOTIFY at start) */
	if (vg_privs_drop(&privs) < 0 || start_writers(d, cfg) < 0) {
		for (unsigned i = 0; i < d->n_workers; i++)
			vg_worker_deinit(&d->workers[i]);
		goto out;
	}

	uv_timer_init(&d->loop, &d->reclaim);
	d->reclaim.data = d;
	uv_timer_start(&d->reclaim, on_reclaim, RECLAIM_MS, RECLAIM_MS);
	uv_unref((uv_handle_t *)&d->reclaim);
	uv_timer_init(&d->loop, &d->refresh);
	d->refresh.data = d;
	uv_unref((uv_handle_t *)&d->refresh);
	uv_timer_init(&d->loop, &d->ticket_timer);
	d->ticket_timer.data = d;
	uint64_t rot = (uint64_t)cfg->tls.ticket_rotation_s * 1000;
	uv_timer_start(&d->ticket_timer, on_ticket_timer, rot, rot);
	uv_unref((uv_handle_t *)&d->ticket_timer);
	uv_timer_init(&d->loop, &d->cookie_timer);
	d->cookie_timer.data = d;
	uv_timer_start(&d->cookie_timer, on_cookie_timer, COOKIE_ROTATE_MS, COOKIE_ROTATE_MS);
	uv_unref((uv_handle_t *)&d->cookie_timer);
	policy_watch(d);
	uv_signal_t *sigs[] = { &d->sig_term, &d->sig_int, &d->sig_hup, &d->sig_usr1 };
	int nums[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	for (int i = 0; i < 4; i++) {
		uv_signal_init(&d->loop, sigs[i]);
		sigs[i]->data = d;
		uv_signal_start(sigs[i], on_signal, nums[i]);
	}
	if (cfg->dnssec.validation && cfg->dnssec.auto_ta_file[0]) {
		d->autotrust = vg_autotrust_start(&d->loop, cfg->dnssec.auto_ta_file, &h->ta,
						  &cfg->net.listen[0].u.sa, on_anchors_changed, d,
						  stderr);
		if (!d->autotrust) {
			vg_log(VG_LOG_ERR, "not starting: trust anchor state %s unusable (above)",
			       cfg->dnssec.auto_ta_file);
			for (unsigned i = 0; i < d->n_workers; i++)
				vg_worker_deinit(&d->workers[i]);
			goto out;
		}
		vg_autotrust_anchors(d->autotrust, &h->ta); /* workers start with these */
	}
	for (unsigned i = 0; i < d->n_workers; i++) {
		int r = vg_worker_start(&d->workers[i]);
		if (r < 0) {
			vg_log(VG_LOG_ERR, "cannot start worker thread: %s", vg_strerror(r));
			for (unsigned k = 0; k < i; k++)
				vg_worker_stop(&d->workers[k]);
			for (unsigned k = 0; k < i; k++)
				vg_worker_join(&d->workers[k]);
			goto out;
		}
	}
	if (pidf) {
		fprintf(pidf, "%ld\n", (long)getpid());
		fflush(pidf);
	}
	vg_log(VG_LOG_NOTICE, "vigil %s started: %u worker%s, cache %zu bytes, %s", VIGIL_VERSION,
	       d->n_workers, d->n_workers == 1 ? "" : "s", cfg->cache.size,
	       cfg->root_hints[0] ? cfg->root_hints : "built-in root hints");
	if (h->policy)
		vg_log(VG_LOG_NOTICE, "policy: %u sources, %u rules, %u client groups",
		       h->policy->nsources, policy_rules(h->policy), h->policy->ngroups);
	log_policy_groups(cfg);
	vg_sd_ready("serving: %u worker%s", d->n_workers, d->n_workers == 1 ? "" : "s");
	uv_run(&d->loop, UV_RUN_DEFAULT);
	for (unsigned i = 0; i < d->n_workers; i++)
		vg_worker_join(&d->workers[i]);
	for (unsigned i = 0; i < d->n_workers; i++)
		vg_worker_deinit(&d->workers[i]);
	feeds_stop(d);
	uv_loop_close(&d->loop);
	vg_plog_stop(d->shared.plog); /* writes what the workers queued */
	d->shared.plog = NULL;
	vg_qlog_stop(d->shared.qlog); /* the same for the query log and dnstap */
	d->shared.qlog = NULL;
	vg_log(VG_LOG_NOTICE, "stopped");
	ret = 0;
out:
	if (pidf) { /* a directory only root may write keeps an empty file */
		if (unlink(pidfile) < 0 && ftruncate(fileno(pidf), 0) < 0)
			vg_log(VG_LOG_WARNING, "cannot remove pidfile %s: %s", pidfile,
			       strerror(errno));
		fclose(pidf);
	}
	if (d->control) { /* a start-up error after the control socket was made */
		vg_control_stop(d);
		uv_run(&d->loop, UV_RUN_NOWAIT);
	}
	if (d->feed) /* a start-up error after the feeds started */
		feeds_stop(d);
	if (d->metrics) { /* (after a clean stop its handles are closed already) */
		vg_metrics_stop(d->metrics);
		uv_run(&d->loop, UV_RUN_NOWAIT);
		vg_metrics_free(d->metrics);
		d->metrics = NULL;
	}
	vg_plog_stop(d->shared.plog); /* NULL unless a start-up error came after it */
	d->shared.plog = NULL;
	vg_qlog_stop(d->shared.qlog);
	d->shared.qlog = NULL;
	free(d->workers);
	vg_upshare_free(d->shared.upshare); /* after the workers: they use it to the end */
	d->shared.upshare = NULL;
	vg_cache_free(d->shared.cache);
	for (unsigned i = 0; i < d->n_retired; i++)
		snap_free(&d->retired[i]);
	d->n_retired = 0;
	snap_free(&d->cur);
	tls_unref_all(d->tls);
	vg_tls_tickets_free(d->tickets);
	free(d->shared.per_addr);
	vg_rl_free(d->shared.rl);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", required_argument, NULL, 't' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct daemon d;
	const char *pidfile = NULL, *check = NULL;
	int c;

	if (argc > 1 && !strcmp(argv[1], "explain")) {
		if (sodium_init() < 0)
			return 1;
		return vg_explain_main(argc - 1, argv + 1);
	}

	while ((c = getopt_long(argc, argv, "c:t:p:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.config_path = optarg;
			break;
		case 't':
			check = optarg;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vigil %s\n", VIGIL_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vigil: unexpected argument '%s' (see vigil --help)\n", argv[optind]);
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "vigil: libsodium failed to initialise\n");
		return 1;
	}
	if (check)
		return check_config(check);
	signal(SIGPIPE, SIG_IGN);
	/* one descriptor per client connection: take what the hard limit allows
	 * (Debian's default soft limit of 1024 would cap connections below the
	 * default tcp-max-connections) */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max > 1048576 ? 1048576 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return run(&d, pidfile);
}
