/* SPDX-License-Identifier: MIT
 *
 * The control socket: vigilctl's requests, served on the daemon's main
 * libuv loop (never on a worker), one request per connection (ctlproto.h).
 *
 * Access: the socket file's mode (control.mode, default 0660) and group
 * (control.group) decide who may connect; then the peer's credentials
 * (SO_PEERCRED) are checked: root, the socket file's owner, or a process
 * whose group is the socket file's group.  Anyone else gets "error" with
 * the reason, and the attempt is logged.
 *
 * What the commands read: the daemon's state on this thread (the snapshot
 * in force, the RFC 5011 driver), the workers' counters (relaxed atomic
 * reads, stats.c), the shared cache (under its shard locks, cache.h), the
 * feeds' published state (under their lock, feed.h).  The pause of a client
 * group is a shared table of atomics the policy stage reads (vg_pipe.paused).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "cache/cache.h"
#include "core/core.h"
#include "daemon/autotrust.h"
#include "daemon/control.h"
#include "ctl/ctlproto.h"
#include "daemon/daemon.h"
#include "daemon/explain.h"
#include "feed/feed.h"
#include "policy/engine.h"
#include "tls/tls.h"
#include "upstream/upstream.h"

#ifndef VIGIL_VERSION
#define VIGIL_VERSION "0.1.0"
#endif

#define CTL_MAX_CONNS 16
#define CTL_IDLE_MS 10000 /* a client that sends no full request line in this is closed */
#define CTL_PAUSE_MAX_MIN (7 * 24 * 60)
#define CTL_UP_MAX 1000      /* servers in one upstreams answer (and per worker) */
#define CTL_UP_WAIT_MS 2000  /* workers that have not replied by then are named */
#define CTL_PENDING 1        /* a command that answers later (upstreams) */

/* One worker's part of an upstreams request: posted to the worker
 * (vg_worker_post), which copies its infra table into info and moves phase
 * from UP_POSTED to UP_COPIED (the copy is complete: release), signals the
 * main loop (up_async), then to UP_DONE: from then on it touches neither the
 * job nor the control.  The main thread reads info after it saw UP_COPIED
 * (acquire) and posts the job again only after UP_DONE. */
enum { UP_IDLE, UP_POSTED, UP_COPIED, UP_DONE };
struct upjob {
	struct vg_worker_job job;
	struct vg_control *ctl;
	atomic_int phase;
	uint32_t unknown_ms;
	size_t n;
	struct vg_infra_info *info; /* CTL_UP_MAX */
};

struct conn {
	union {
		uv_pipe_t pipe;   /* the unix socket */
		uv_tcp_t tcp;     /* control.listen-tls */
	} h;
	struct vg_tls_conn *tls; /* TLS: the session; NULL on the unix socket */
	bool tls_checked;        /* the client's certificate was looked at */
	bool close_after;        /* TLS: close once the writes went out */
	unsigned writes;         /* TLS: writes in flight */
	char who[320];           /* for the log: "uid 0 (pid 1)", "TLS client ... (CN=..)" */
	uv_timer_t idle;
	uv_write_t wr;
	struct vg_control *ctl;
	struct conn *next;
	unsigned closing;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	size_t len;
	char line[VG_CTL_LINE_MAX + 1];
	char *resp;
	uint8_t rx[4096];        /* TLS: ciphertext read */
};

struct vg_control {
	struct daemon *d;
	uv_pipe_t srv;
	uv_timer_t pause_timer;
	bool srv_open;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	uid_t owner;
	gid_t group;
	uint64_t started_ms;
	struct conn *conns;
	unsigned n_conns;
	bool stopping;
	unsigned open_handles; /* srv, pause_timer, up_async, up_timer while stopping */
	/* the upstreams request in progress (one at a time) */
	struct upjob *up;      /* one per worker */
	uv_async_t up_async;   /* a worker copied its table */
	uv_timer_t up_timer;   /* CTL_UP_WAIT_MS */
	struct conn *up_conn;  /* who asked, NULL: none (or it left) */
	bool up_json, up_busy;
	/* remote access (control.listen-tls): TCP+TLS, a client certificate required */
	uv_tcp_t tls_srv;
	bool tls_open;
	struct vg_tls_ctx *tls_ctx;
	char tls_addr[64];
	/* pauses by group name; mapped to the policy's indexes in d->shared.paused */
	struct pause {
		char group[64];
		uint64_t until_ms; /* uv_now clock (the workers' io.now_ms is uv_now too) */
		uid_t by;
	} pauses[VG_POLICY_MAX_GROUPS];
};

/* ------------------------------------------------------------ output */

struct out {
	FILE *f;
	bool json;
};

static void jkey(struct out *o, bool *first, const char *k)
{
	fprintf(o->f, "%s", *first ? "" : ", ");
	*first = false;
	vg_ctl_json_str(o->f, k);
	fputs(": ", o->f);
}

static void jstr(struct out *o, bool *first, const char *k, const char *v)
{
	jkey(o, first, k);
	vg_ctl_json_str(o->f, v);
}

static void jnum(struct out *o, bool *first, const char *k, long long v)
{
	jkey(o, first, k);
	fprintf(o->f, "%lld", v);
}

static void jbool(struct out *o, bool *first, const char *k, bool v)
{
	jkey(o, first, k);
	fputs(v ? "true" : "false", o->f);
}

static void name_str(const uint8_t *name, char *buf, size_t size)
{
	vg_name_to_str(name, buf, size);
}

static void when_str(int64_t t, char *buf, size_t size)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (!t || !gmtime_r(&tt, &tm)) {
		snprintf(buf, size, "never");
		return;
	}
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ------------------------------------------------------------ pause */

static const struct vg_policy *live_policy(struct daemon *d)
{
	return d->cur.h ? d->cur.h->policy : NULL;
}

static int group_index(const struct vg_policy *p, const char *name)
{
	for (unsigned i = 0; p && i < p->ngroups; i++)
		if (!strcmp(p->groups[i].name, name))
			return (int)i;
	return -1;
}

/* Write the table the workers read from the pauses in force. */
static void pause_publish(struct vg_control *ctl)
{
	const struct vg_policy *p = live_policy(ctl->d);
	uint64_t until[VG_POLICY_MAX_GROUPS] = { 0 };
	for (unsigned i = 0; i < VG_POLICY_MAX_GROUPS; i++) {
		int k = ctl->pauses[i].group[0] ? group_index(p, ctl->pauses[i].group) : -1;
		if (k >= 0)
			until[k] = vg_pause_word(ctl->pauses[i].group, ctl->pauses[i].until_ms);
	}
	for (unsigned i = 0; i < VG_POLICY_MAX_GROUPS; i++)
		atomic_store_explicit(&ctl->d->shared.paused[i], until[i], memory_order_relaxed);
}

/* Once a second while a pause is in force: log the ones that ended. */
static void on_pause_timer(uv_timer_t *t)
{
	struct vg_control *ctl = t->data;
	uint64_t now = uv_now(t->loop);
	bool any = false;
	for (unsigned i = 0; i < VG_POLICY_MAX_GROUPS; i++) {
		struct pause *pz = &ctl->pauses[i];
		if (!pz->group[0])
			continue;
		if (pz->until_ms <= now) {
			vg_log(VG_LOG_NOTICE, "control: the pause of client group '%s' ended; its "
			       "policy applies again", pz->group);
			memset(pz, 0, sizeof(*pz));
		} else {
			any = true;
		}
	}
	pause_publish(ctl);
	if (!any)
		uv_timer_stop(t);
}

void vg_control_policy_changed(struct daemon *d)
{
	if (d->control)
		pause_publish(d->control);
}

static struct pause *pause_find(struct vg_control *ctl, const char *group)
{
	for (unsigned i = 0; i < VG_POLICY_MAX_GROUPS; i++)
		if (ctl->pauses[i].group[0] && !strcmp(ctl->pauses[i].group, group))
			return &ctl->pauses[i];
	return NULL;
}

/* "30" (minutes), "30m", "2h", "45s": milliseconds, or 0 when not a duration. */
static uint64_t parse_duration(const char *s)
{
	unsigned long long v;
	char num[24];
	size_t n = strspn(s, "0123456789");
	uint64_t unit = 60000;
	if (!n || n >= sizeof(num))
		return 0;
	if (s[n] == 's' && !s[n + 1])
		unit = 1000;
	else if (s[n] == 'h' && !s[n + 1])
		unit = 3600000;
	else if (s[n] && !(s[n] == 'm' && !s[n + 1]))
		return 0;
	memcpy(num, s, n);
	num[n] = '\0';
	if (vg_parse_uint(num, CTL_PAUSE_MAX_MIN * 60ull, &v) < 0 || !v ||
	    v * unit > CTL_PAUSE_MAX_MIN * 60000ull)
		return 0;
	return v * unit;
}

/* ------------------------------------------------------------ commands */

struct ctx {
	struct vg_control *ctl;
	struct daemon *d;
	struct out o;
	struct conn *c;
	FILE *err; /* the reason of a failure */
};

typedef int (*cmd_fn)(struct ctx *x, int argc, char **argv);

static int usage_err(struct ctx *x, const char *u)
{
	fprintf(x->err, "usage: %s", u);
	return VG_EINVAL;
}

static int cmd_status(struct ctx *x, int argc, char **argv)
{
	struct daemon *d = x->d;
	struct out *o = &x->o;
	const struct vg_policy *p = live_policy(d);
	uint64_t now = uv_now(&d->loop);
	uint64_t up = (now - x->ctl->started_ms) / 1000;
	unsigned rules = 0, nfeeds = 0;
	struct vg_feed_status fs[VG_POLICY_MAX_SOURCES];
	(void)argv;
	if (argc != 1)
		return usage_err(x, "status");
	for (unsigned i = 0; p && i < p->nsources; i++)
		rules += p->src[i].rules;
	nfeeds = (unsigned)vg_feed_status(d->feed, fs, VG_ARRAY_SIZE(fs));
	if (nfeeds > VG_ARRAY_SIZE(fs))
		nfeeds = VG_ARRAY_SIZE(fs);
	const char *cfgf = d->config_path ? d->config_path : "";
	if (o->json) {
		bool f = true;
		fputc('{', o->f);
		jstr(o, &f, "version", VIGIL_VERSION);
		jnum(o, &f, "pid", (long long)getpid());
		jnum(o, &f, "uptime_s", (long long)up);
		jnum(o, &f, "workers", d->n_workers);
		jstr(o, &f, "config_file", cfgf);
		jnum(o, &f, "generation", (long long)d->gen);
		jkey(o, &f, "policy");
		fputc('{', o->f);
		bool g = true;
		jnum(o, &g, "sources", p ? p->nsources : 0);
		jnum(o, &g, "rules", rules);
		jkey(o, &g, "groups");
		fputc('[', o->f);
		for (unsigned i = 0; p && i < p->ngroups; i++) {
			struct pause *pz = pause_find(x->ctl, p->groups[i].name);
			bool h = true;
			fprintf(o->f, "%s{", i ? ", " : "");
			jstr(o, &h, "name", p->groups[i].name);
			jbool(o, &h, "paused", pz != NULL);
			jnum(o, &h, "paused_remaining_s",
			     pz ? (long long)((pz->until_ms - now + 999) / 1000) : 0);
			fputc('}', o->f);
		}
		fputs("]}", o->f);
		jkey(o, &f, "feeds");
		fputc('[', o->f);
		for (unsigned i = 0; i < nfeeds; i++) {
			bool h = true;
			fprintf(o->f, "%s{", i ? ", " : "");
			jstr(o, &h, "name", fs[i].name);
			jnum(o, &h, "serial", fs[i].has_version ? (long long)fs[i].serial : -1);
			fputc('}', o->f);
		}
		fputs("]}\n", o->f);
		return 0;
	}
	fprintf(o->f, "vigil %s, pid %ld, up %llu s\n", VIGIL_VERSION, (long)getpid(),
		(unsigned long long)up);
	fprintf(o->f, "workers: %u\nconfig file: %s\nconfig generation: %llu\n", d->n_workers,
		cfgf[0] ? cfgf : "(built-in defaults)", (unsigned long long)d->gen);
	fprintf(o->f, "policy: %u sources, %u rules, %u client groups\n", p ? p->nsources : 0,
		rules, p ? p->ngroups : 0);
	for (unsigned i = 0; p && i < p->ngroups; i++) {
		struct pause *pz = pause_find(x->ctl, p->groups[i].name);
		if (pz)
			fprintf(o->f, "  group %s: PAUSED for %llu s more (no policy applies)\n",
				p->groups[i].name,
				(unsigned long long)((pz->until_ms - now + 999) / 1000));
		else
			fprintf(o->f, "  group %s: policy applies\n", p->groups[i].name);
	}
	fprintf(o->f, "feeds: %u\n", nfeeds);
	for (unsigned i = 0; i < nfeeds; i++) {
		if (fs[i].has_version)
			fprintf(o->f, "  %s: serial %u\n", fs[i].name, fs[i].serial);
		else
			fprintf(o->f, "  %s: no version yet\n", fs[i].name);
	}
	return 0;
}

static int cmd_stats(struct ctx *x, int argc, char **argv)
{
	struct vg_stat st[VG_DAEMON_STATS_MAX];
	size_t n = vg_daemon_stats(x->d, st, VG_ARRAY_SIZE(st));
	(void)argv;
	if (argc != 1)
		return usage_err(x, "stats");
	if (x->o.json)
		fputc('{', x->o.f);
	bool f = true;
	for (size_t i = 0; i < n; i++) {
		if (x->o.json)
			jnum(&x->o, &f, st[i].name, (long long)st[i].value);
		else
			fprintf(x->o.f, "%s: %llu\n", st[i].name, (unsigned long long)st[i].value);
	}
	if (x->o.json)
		fputs("}\n", x->o.f);
	return 0;
}

static int cmd_reload(struct ctx *x, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return usage_err(x, "reload");
	vg_log(VG_LOG_NOTICE, "control: reload asked by %s", x->c->who);
	int r = vg_daemon_reload(x->d);
	if (r < 0) {
		fprintf(x->err, "reload failed, the running config stays in force:\n%s",
			x->d->reload_error[0] ? x->d->reload_error : vg_strerror(r));
		return r;
	}
	vg_feed_check_config(x->d->feed, &x->d->cur.cfg->policy, &x->d->cur.cfg->feed);
	if (x->o.json) {
		bool f = true;
		fputc('{', x->o.f);
		jstr(&x->o, &f, "reloaded", x->d->config_path);
		jnum(&x->o, &f, "generation", (long long)x->d->gen);
		fputs("}\n", x->o.f);
	} else {
		fprintf(x->o.f, "reloaded %s (config generation %llu)\n", x->d->config_path,
			(unsigned long long)x->d->gen);
	}
	return 0;
}

static int parse_name(struct ctx *x, const char *s, uint8_t *out)
{
	if (vg_name_from_str(s, out, VG_NAME_MAX) <= 0) {
		fprintf(x->err, "'%s' is not a domain name", s);
		return VG_EINVAL;
	}
	return 0;
}

static int cmd_flush(struct ctx *x, int argc, char **argv)
{
	static const char u[] = "flush [--subtree] [--negative] [NAME]\n"
				"  (no NAME: everything; --subtree: NAME and every name below it;\n"
				"   --negative: only negative entries and cached failures)";
	unsigned flags = 0;
	const char *name = NULL;
	uint8_t wire[VG_NAME_MAX];
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--subtree"))
			flags |= VG_CACHE_FLUSH_SUBTREE;
		else if (!strcmp(argv[i], "--negative"))
			flags |= VG_CACHE_FLUSH_NEGATIVE;
		else if (argv[i][0] != '-' && !name)
			name = argv[i];
		else
			return usage_err(x, u);
	}
	if ((flags & VG_CACHE_FLUSH_SUBTREE) && !name)
		return usage_err(x, u);
	if (name && parse_name(x, name, wire) < 0)
		return VG_EINVAL;
	size_t n = vg_cache_flush(x->d->shared.cache, name ? wire : NULL, flags);
	char what[VG_NAME_MAX * 4 + 64];
	char nm[VG_NAME_MAX * 4 + 8] = "";
	if (name)
		name_str(wire, nm, sizeof(nm));
	snprintf(what, sizeof(what), "%s%s%s%s",
		 flags & VG_CACHE_FLUSH_NEGATIVE ? "negative entries" : name ? "entries" :
		 "every entry", name ? " at " : "", nm,
		 flags & VG_CACHE_FLUSH_SUBTREE ? " and below" : "");
	vg_log(VG_LOG_NOTICE, "control: flushed %s (%zu removed), asked by %s", what, n,
	       x->c->who);
	if (x->o.json) {
		bool f = true;
		fputc('{', x->o.f);
		jstr(&x->o, &f, "name", name ? nm : "");
		jbool(&x->o, &f, "subtree", flags & VG_CACHE_FLUSH_SUBTREE);
		jbool(&x->o, &f, "negative_only", flags & VG_CACHE_FLUSH_NEGATIVE);
		jnum(&x->o, &f, "removed", (long long)n);
		fputs("}\n", x->o.f);
	} else {
		fprintf(x->o.f, "flushed %s: %zu removed\n", what, n);
	}
	return 0;
}

static const char *rank_name(uint8_t r)
{
	static const char *const names[] = { "hint", "glue", "referral", "non-authoritative",
					     "authoritative" };
	return r < VG_ARRAY_SIZE(names) ? names[r] : "?";
}

static const char *sec_name(uint8_t s)
{
	static const char *const names[] = { "unchecked", "insecure", "secure", "bogus" };
	return s < VG_ARRAY_SIZE(names) ? names[s] : "?";
}

static const char *kind_of(const struct vg_cache_info *in)
{
	return in->failure ? "failure" : in->nxdomain ? "nxdomain" : in->negative ? "nodata"
										   : "data";
}

static int cmd_cache(struct ctx *x, int argc, char **argv)
{
	uint8_t wire[VG_NAME_MAX];
	char nm[VG_NAME_MAX * 4 + 8], tn[16];
	if (argc < 2 || argc > 3)
		return usage_err(x, "cache NAME [TYPE]   (TYPE default A)");
	if (parse_name(x, argv[1], wire) < 0)
		return VG_EINVAL;
	int t = vg_type_from_str(argc == 3 ? argv[2] : "A");
	if (t <= 0) {
		fprintf(x->err, "'%s' is not a record type (A, AAAA, MX, TYPE65, ...)", argv[2]);
		return VG_EINVAL;
	}
	name_str(wire, nm, sizeof(nm));
	vg_type_to_str((uint16_t)t, tn, sizeof(tn));
	/* the entry for the type, and the name's NXDOMAIN entry (type 0) */
	struct vg_cache_info in[2];
	bool have[2];
	uint32_t now = vg_time_now_s();
	have[0] = vg_cache_peek(x->d->shared.cache, wire, (uint16_t)t, now, &in[0]) == 0;
	have[1] = vg_cache_peek(x->d->shared.cache, wire, 0, now, &in[1]) == 0;
	if (x->o.json) {
		bool f = true;
		fputc('{', x->o.f);
		jstr(&x->o, &f, "name", nm);
		jstr(&x->o, &f, "type", tn);
		jkey(&x->o, &f, "entries");
		fputc('[', x->o.f);
		bool firstent = true;
		for (int i = 0; i < 2; i++) {
			if (!have[i])
				continue;
			bool g = true;
			fprintf(x->o.f, "%s{", firstent ? "" : ", ");
			firstent = false;
			jstr(&x->o, &g, "type", i ? "NXDOMAIN (any type)" : tn);
			jstr(&x->o, &g, "kind", kind_of(&in[i]));
			jnum(&x->o, &g, "ttl", in[i].ttl);
			jnum(&x->o, &g, "ttl_stored", in[i].ttl0);
			jbool(&x->o, &g, "stale", in[i].expired);
			jnum(&x->o, &g, "stale_for_s", in[i].stale_for);
			jstr(&x->o, &g, "rank", rank_name(in[i].rank));
			jstr(&x->o, &g, "validation", sec_name(in[i].sec));
			jnum(&x->o, &g, "ede", in[i].ede);
			jstr(&x->o, &g, "ede_text", in[i].ede ? vg_ede_text(in[i].ede) : "");
			jnum(&x->o, &g, "records", in[i].count);
			jnum(&x->o, &g, "rrsigs", in[i].sig_count);
			fputc('}', x->o.f);
		}
		fputs("]}\n", x->o.f);
		return 0;
	}
	if (!have[0] && !have[1]) {
		fprintf(x->o.f, "%s %s: not in the cache\n", nm, tn);
		return 0;
	}
	for (int i = 0; i < 2; i++) {
		if (!have[i])
			continue;
		fprintf(x->o.f, "%s %s: %s", nm, i ? "(any type)" : tn,
			in[i].failure ? "cached failure (SERVFAIL)" : in[i].nxdomain ? "NXDOMAIN" :
			in[i].negative ? "NODATA" : "data");
		if (!in[i].negative && !in[i].failure)
			fprintf(x->o.f, ", %u record%s, %u RRSIG%s", in[i].count,
				in[i].count == 1 ? "" : "s", in[i].sig_count,
				in[i].sig_count == 1 ? "" : "s");
		fputc('\n', x->o.f);
		if (in[i].expired)
			fprintf(x->o.f, "  TTL: expired %u s ago (kept for serve-stale), stored %u\n",
				in[i].stale_for, in[i].ttl0);
		else
			fprintf(x->o.f, "  TTL: %u s remaining of %u\n", in[i].ttl, in[i].ttl0);
		fprintf(x->o.f, "  rank: %s\n  validation: %s\n", rank_name(in[i].rank),
			sec_name(in[i].sec));
		if (in[i].ede)
			fprintf(x->o.f, "  EDE: %u (%s)\n", in[i].ede, vg_ede_text(in[i].ede));
	}
	return 0;
}

static int cmd_explain(struct ctx *x, int argc, char **argv)
{
	struct vg_explain_req q;
	const struct vg_policy *p = live_policy(x->d);
	char *buf = NULL;
	size_t len = 0;
	int r = vg_explain_parse(argc, argv, &q, x->err);
	if (r == 1)
		return usage_err(x, "explain NAME [--client ADDR] [--client-id ID] "
				 "[--client-cert CERT] [--transport T] [--type TYPE]");
	if (r)
		return VG_EINVAL;
	if (q.config) {
		fprintf(x->err, "explain: -c does not apply: the live policy is explained "
			"(use `vigil explain -c FILE` for a file)");
		return VG_EINVAL;
	}
	if (!p) {
		fprintf(x->err, "no policy is configured: every name resolves normally");
		return VG_ENOTFOUND;
	}
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return VG_ENOMEM;
	vg_explain_write(m, x->d->cur.cfg, p, &q);
	/* the live state the file does not have: a paused group */
	enum vg_pol_by by;
	const struct vg_policy_ident id = { q.id[0] ? q.id : NULL,
					    q.cert_fp[0] ? q.cert_fp : NULL,
					    q.subject[0] ? q.subject : NULL };
	bool has_id = id.id || id.cert_fp || id.cert_subject;
	const struct vg_policy_group *g = vg_policy_group_of(p, &q.sa.u.sa, has_id ? &id : NULL,
							     &by);
	struct pause *pz = g ? pause_find(x->ctl, g->name) : NULL;
	if (pz)
		fprintf(m, "  PAUSED: group %s has no policy for %llu s more (vigilctl pause): "
			"the name resolves normally now\n", g->name,
			(unsigned long long)((pz->until_ms - uv_now(&x->d->loop) + 999) / 1000));
	fclose(m);
	if (x->o.json) {
		bool f = true;
		fputc('{', x->o.f);
		jstr(&x->o, &f, "group", g ? g->name : "");
		jbool(&x->o, &f, "paused", pz != NULL);
		jstr(&x->o, &f, "explanation", buf ? buf : "");
		fputs("}\n", x->o.f);
	} else {
		fputs(buf ? buf : "", x->o.f);
	}
	free(buf);
	return 0;
}

static int cmd_pause(struct ctx *x, int argc, char **argv)
{
	struct vg_control *ctl = x->ctl;
	const struct vg_policy *p = live_policy(x->d);
	uint64_t ms;
	if (argc != 3 || !(ms = parse_duration(argv[2])))
		return usage_err(x, "pause GROUP DURATION   (DURATION: minutes, or Ns, Nm, Nh; "
				 "at most 7 days)");
	if (group_index(p, argv[1]) < 0) {
		fprintf(x->err, "no client group '%s' in the policy in force", argv[1]);
		return VG_ENOTFOUND;
	}
	struct pause *pz = pause_find(ctl, argv[1]);
	for (unsigned i = 0; !pz && i < VG_POLICY_MAX_GROUPS; i++)
		if (!ctl->pauses[i].group[0])
			pz = &ctl->pauses[i];
	if (!pz)
		return VG_ELIMIT;
	snprintf(pz->group, sizeof(pz->group), "%s", argv[1]);
	pz->until_ms = uv_now(&x->d->loop) + ms;
	pz->by = x->c->uid;
	pause_publish(ctl);
	if (!uv_is_active((uv_handle_t *)&ctl->pause_timer))
		uv_timer_start(&ctl->pause_timer, on_pause_timer, 1000, 1000);
	vg_log(VG_LOG_NOTICE, "control: policy PAUSED for client group '%s' for %llu s "
	       "(asked by %s)", pz->group, (unsigned long long)(ms / 1000), x->c->who);
	if (x->o.json) {
		bool f = true;
		fputc('{', x->o.f);
		jstr(&x->o, &f, "group", pz->group);
		jnum(&x->o, &f, "paused_s", (long long)(ms / 1000));
		fputs("}\n", x->o.f);
	} else {
		fprintf(x->o.f, "group %s: policy paused for %llu s\n", pz->group,
			(unsigned long long)(ms / 1000));
	}
	return 0;
}

static int cmd_resume(struct ctx *x, int argc, char **argv)
{
	if (argc != 2)
		return usage_err(x, "resume GROUP");
	struct pause *pz = pause_find(x->ctl, argv[1]);
	if (!pz) {
		fprintf(x->err, "client group '%s' is not paused", argv[1]);
		return VG_ENOTFOUND;
	}
	memset(pz, 0, sizeof(*pz));
	pause_publish(x->ctl);
	vg_log(VG_LOG_NOTICE, "control: policy RESUMED for client group '%s' (asked by %s)",
	       argv[1], x->c->who);
	if (x->o.json) {
		bool f = true;
		fputc('{', x->o.f);
		jstr(&x->o, &f, "group", argv[1]);
		jbool(&x->o, &f, "paused", false);
		fputs("}\n", x->o.f);
	} else {
		fprintf(x->o.f, "group %s: policy applies again\n", argv[1]);
	}
	return 0;
}

static int cmd_feeds(struct ctx *x, int argc, char **argv)
{
	struct vg_feed_status fs[VG_POLICY_MAX_SOURCES];
	char a[32], b[32], c[32];
	(void)argv;
	if (argc != 1)
		return usage_err(x, "feeds");
	size_t n = vg_feed_status(x->d->feed, fs, VG_ARRAY_SIZE(fs));
	if (n > VG_ARRAY_SIZE(fs))
		n = VG_ARRAY_SIZE(fs);
	if (x->o.json)
		fputc('[', x->o.f);
	else if (!n)
		fputs("no feeds (no policy source has primaries)\n", x->o.f);
	for (size_t i = 0; i < n; i++) {
		when_str(fs[i].last_ok, a, sizeof(a));
		when_str(fs[i].busy ? 0 : fs[i].next_refresh, b, sizeof(b));
		when_str(fs[i].last_attempt, c, sizeof(c));
		if (x->o.json) {
			bool f = true;
			fprintf(x->o.f, "%s{", i ? ", " : "");
			jstr(&x->o, &f, "name", fs[i].name);
			jstr(&x->o, &f, "zone", fs[i].zone);
			jnum(&x->o, &f, "serial", fs[i].has_version ? (long long)fs[i].serial : -1);
			jnum(&x->o, &f, "records", (long long)fs[i].records);
			jnum(&x->o, &f, "last_transfer", fs[i].last_ok);
			jnum(&x->o, &f, "last_attempt", fs[i].last_attempt);
			jnum(&x->o, &f, "next_refresh", fs[i].busy ? 0 : fs[i].next_refresh);
			jbool(&x->o, &f, "refreshing", fs[i].busy);
			jstr(&x->o, &f, "last_error", fs[i].last_error);
			fputc('}', x->o.f);
			continue;
		}
		fprintf(x->o.f, "%s (zone %s):\n", fs[i].name, fs[i].zone);
		if (fs[i].has_version)
			fprintf(x->o.f, "  serial: %u, %zu records\n", fs[i].serial, fs[i].records);
		else
			fprintf(x->o.f, "  serial: none yet (the source is empty)\n");
		fprintf(x->o.f, "  last good refresh: %s\n  last attempt: %s\n", a, c);
		fprintf(x->o.f, "  next refresh: %s\n", fs[i].busy ? "in progress" : b);
		fprintf(x->o.f, "  last error: %s\n",
			fs[i].last_error[0] ? fs[i].last_error : "none");
	}
	if (x->o.json)
		fputs("]\n", x->o.f);
	return 0;
}

static int cmd_trust_anchors(struct ctx *x, int argc, char **argv)
{
	struct vg_autota_info k[64];
	char zn[VG_NAME_MAX * 4 + 8], s1[32], s2[32], s3[32];
	(void)argv;
	if (argc != 1)
		return usage_err(x, "trust-anchors");
	if (!x->d->autotrust) {
		const struct vg_ta_set *ta = x->d->cur.h ? &x->d->cur.h->ta : NULL;
		if (x->o.json)
			fprintf(x->o.f, "{\"rfc5011\": false, \"anchors\": %u, \"keys\": []}\n",
				ta ? ta->n : 0);
		else
			fprintf(x->o.f, "RFC 5011 is off (dnssec.auto-trust-anchor-file); %u static "
				"trust anchors in force\n", ta ? ta->n : 0);
		return 0;
	}
	size_t n = vg_autotrust_list(x->d->autotrust, k, VG_ARRAY_SIZE(k));
	if (n > VG_ARRAY_SIZE(k))
		n = VG_ARRAY_SIZE(k);
	if (x->o.json)
		fputs("{\"rfc5011\": true, \"keys\": [", x->o.f);
	for (size_t i = 0; i < n; i++) {
		name_str(k[i].zone, zn, sizeof(zn));
		when_str(k[i].since, s1, sizeof(s1));
		when_str(k[i].until, s2, sizeof(s2));
		when_str(k[i].refreshed, s3, sizeof(s3));
		const char *st = vg_autota_state_name(k[i].state);
		if (x->o.json) {
			bool f = true;
			fprintf(x->o.f, "%s{", i ? ", " : "");
			jstr(&x->o, &f, "zone", zn);
			jstr(&x->o, &f, "kind", k[i].ds ? "DS" : "DNSKEY");
			jnum(&x->o, &f, "key_tag", k[i].tag);
			jnum(&x->o, &f, "algorithm", k[i].alg);
			jstr(&x->o, &f, "state", k[i].ds ? "pending-ds" : st);
			jnum(&x->o, &f, "since", k[i].since);
			jnum(&x->o, &f, "hold_down_until", k[i].until);
			jnum(&x->o, &f, "zone_refreshed", k[i].refreshed);
			jnum(&x->o, &f, "zone_failures", k[i].failures);
			fputc('}', x->o.f);
			continue;
		}
		fprintf(x->o.f, "%s %s key tag %u, algorithm %u: %s since %s", zn,
			k[i].ds ? "DS" : "DNSKEY", k[i].tag, k[i].alg,
			k[i].ds ? "pending (DS, no matching key seen yet)" : st, s1);
		if (k[i].until)
			fprintf(x->o.f, ", hold-down until %s", s2);
		fprintf(x->o.f, " (zone refreshed %s, %u failures since)\n", s3, k[i].failures);
	}
	if (x->o.json)
		fputs("]}\n", x->o.f);
	return 0;
}

/* ------------------------------------------------------------ upstreams */

static void conn_reply(struct conn *c, char *resp, size_t len);
static void conn_reply_error(struct conn *c, bool json, const char *msg);

/* On the worker's thread: copy its table; times become relative to its clock. */
static void up_copy(struct vg_worker *w, struct vg_worker_job *job)
{
	struct upjob *j = (struct upjob *)job;
	uint64_t now = uv_now(&w->loop);
	size_t n = vg_infra_snapshot(w->infra, j->info, CTL_UP_MAX, now, j->unknown_ms);
	for (size_t i = 0; i < n; i++) {
		struct vg_infra_info *in = &j->info[i];
		in->down_until_ms = in->down_until_ms ? in->down_until_ms - now : 0;
		in->tcp_until_ms = in->tcp_until_ms ? in->tcp_until_ms - now : 0;
		in->last_use_ms = now - in->last_use_ms; /* now: how long ago */
	}
	j->n = n;
	atomic_store_explicit(&j->phase, UP_COPIED, memory_order_release);
	uv_async_send(&j->ctl->up_async);
	atomic_store_explicit(&j->phase, UP_DONE, memory_order_release);
}

/* A job the worker took finishes in microseconds: wait for it to let go. */
static void up_wait_done(struct upjob *j)
{
	while (atomic_load_explicit(&j->phase, memory_order_acquire) == UP_COPIED)
		sched_yield();
}

static int info_key_cmp(const void *a, const void *b)
{
	const struct vg_infra_info *x = a, *y = b;
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	int c = memcmp(x->addr, y->addr, 16);
	if (c)
		return c;
	return x->port < y->port ? -1 : x->port > y->port;
}

/* One server over the workers that know it. */
struct upm {
	struct vg_infra_info m;  /* merged: see up_merge */
	unsigned workers, measured;
	uint64_t srtt_sum;
};

static int upm_recent(const void *a, const void *b)
{
	const struct upm *x = a, *y = b;
	return x->m.last_use_ms < y->m.last_use_ms ? -1 : x->m.last_use_ms > y->m.last_use_ms;
}

/*
 * Merge the workers' views per server address: smoothed RTT the lowest and
 * the mean of the workers that measured it; variance, timeout in use,
 * failures in a row, hold-down and TCP-only time left, lame zones: the
 * highest; answers, timeouts, errors: summed; last use: the latest; cookie
 * flags: any worker.  Sorted by last use, newest first; at most CTL_UP_MAX.
 */
static size_t up_merge(struct vg_infra_info *all, size_t n, struct upm *out)
{
	size_t m = 0;
	qsort(all, n, sizeof(*all), info_key_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct vg_infra_info *in = &all[i];
		struct upm *u = m ? &out[m - 1] : NULL;
		if (!u || info_key_cmp(&u->m, in)) {
			u = &out[m++];
			memset(u, 0, sizeof(*u));
			u->m = *in;
			u->m.srtt_ms = 0;
			u->m.answers = u->m.timeouts = u->m.errors = 0;
		}
		u->workers++;
		if (in->srtt_ms) {
			if (!u->measured || in->srtt_ms < u->m.srtt_ms)
				u->m.srtt_ms = in->srtt_ms;
			u->measured++;
			u->srtt_sum += in->srtt_ms;
		}
#define UP_MAX(f) do { if (in->f > u->m.f) u->m.f = in->f; } while (0)
		UP_MAX(rttvar_ms);
		UP_MAX(timeout_ms);
		UP_MAX(fails_in_row);
		UP_MAX(down_until_ms);
		UP_MAX(tcp_until_ms);
		UP_MAX(lame_zones);
#undef UP_MAX
		u->m.answers += in->answers;
		u->m.timeouts += in->timeouts;
		u->m.errors += in->errors;
		if (in->last_use_ms < u->m.last_use_ms)
			u->m.last_use_ms = in->last_use_ms;
		u->m.cookie_known |= in->cookie_known;
		u->m.no_cookie |= in->no_cookie;
	}
	qsort(out, m, sizeof(*out), upm_recent);
	return m < CTL_UP_MAX ? m : CTL_UP_MAX;
}

static const char *up_state(const struct vg_infra_info *m)
{
	return m->down_until_ms ? "down" : m->fails_in_row ? "failing" : "usable";
}

static void up_write(struct vg_control *ctl, FILE *f, bool json)
{
	struct daemon *d = ctl->d;
	struct out o = { .f = f, .json = json };
	size_t total = 0;
	unsigned replied = 0;
	for (unsigned i = 0; i < d->n_workers; i++)
		if (atomic_load_explicit(&ctl->up[i].phase, memory_order_acquire) >= UP_COPIED) {
			total += ctl->up[i].n;
			replied++;
		}
	struct vg_infra_info *all = calloc(total ? total : 1, sizeof(*all));
	struct upm *mg = calloc(total ? total : 1, sizeof(*mg));
	size_t n = 0, k = 0;
	if (!all || !mg) {
		fprintf(f, json ? "{\"error\": \"out of memory\"}\n" : "out of memory\n");
		goto out;
	}
	for (unsigned i = 0; i < d->n_workers; i++)
		if (atomic_load_explicit(&ctl->up[i].phase, memory_order_acquire) >= UP_COPIED) {
			memcpy(all + k, ctl->up[i].info, ctl->up[i].n * sizeof(*all));
			k += ctl->up[i].n;
		}
	n = up_merge(all, k, mg);
	if (json) {
		bool first = true;
		fputc('{', f);
		jnum(&o, &first, "workers", d->n_workers);
		jnum(&o, &first, "workers_replied", replied);
		jkey(&o, &first, "workers_missing");
		fputc('[', f);
		for (unsigned i = 0, c = 0; i < d->n_workers; i++)
			if (atomic_load_explicit(&ctl->up[i].phase, memory_order_acquire) < UP_COPIED)
				fprintf(f, "%s%u", c++ ? ", " : "", i);
		fputs("], \"servers\": [", f);
	} else {
		fprintf(f, "upstream servers: %zu (merged over %u of %u workers; at most %u, most "
			"recently used first)\n", n, replied, d->n_workers, CTL_UP_MAX);
		for (unsigned i = 0; i < d->n_workers; i++)
			if (atomic_load_explicit(&ctl->up[i].phase, memory_order_acquire) < UP_COPIED)
				fprintf(f, "worker %u did not reply within %u ms: its view is "
					"missing\n", i, CTL_UP_WAIT_MS);
	}
	for (size_t i = 0; i < n; i++) {
		const struct upm *u = &mg[i];
		const struct vg_infra_info *m = &u->m;
		char a[INET6_ADDRSTRLEN];
		inet_ntop(m->family, m->addr, a, sizeof(a));
		unsigned mean = u->measured ? (unsigned)(u->srtt_sum / u->measured) : 0;
		if (json) {
			bool g = true;
			fprintf(f, "%s{", i ? ", " : "");
			jstr(&o, &g, "address", a);
			jnum(&o, &g, "port", m->port);
			jnum(&o, &g, "srtt_ms", m->srtt_ms);
			jnum(&o, &g, "srtt_mean_ms", mean);
			jnum(&o, &g, "rttvar_ms", m->rttvar_ms);
			jnum(&o, &g, "timeout_ms", m->timeout_ms);
			jnum(&o, &g, "answers", m->answers);
			jnum(&o, &g, "timeouts", m->timeouts);
			jnum(&o, &g, "errors", m->errors);
			jnum(&o, &g, "failures_in_row", m->fails_in_row);
			jstr(&o, &g, "state", up_state(m));
			jnum(&o, &g, "down_for_ms", (long long)m->down_until_ms);
			jbool(&o, &g, "tcp_only", m->tcp_until_ms != 0);
			jnum(&o, &g, "tcp_only_for_ms", (long long)m->tcp_until_ms);
			jnum(&o, &g, "lame_zones", m->lame_zones);
			jbool(&o, &g, "cookies", m->cookie_known);
			jbool(&o, &g, "cookie_refused", m->no_cookie);
			jnum(&o, &g, "last_used_ms_ago", (long long)m->last_use_ms);
			jnum(&o, &g, "workers", u->workers);
			fputc('}', f);
			continue;
		}
		fprintf(f, "%s@%u: ", a, m->port);
		if (u->measured)
			fprintf(f, "rtt %u ms (mean %u), var %u ms", m->srtt_ms, mean, m->rttvar_ms);
		else
			fputs("rtt not measured", f);
		fprintf(f, ", timeout %u ms; %u answers, %u timeouts, %u errors; ", m->timeout_ms,
			m->answers, m->timeouts, m->errors);
		if (m->down_until_ms)
			fprintf(f, "DOWN (held down for %llu s more, %u failures in a row)",
				(unsigned long long)(m->down_until_ms + 999) / 1000, m->fails_in_row);
		else if (m->fails_in_row)
			fprintf(f, "failing (%u failures in a row)", m->fails_in_row);
		else
			fputs("usable", f);
		if (m->tcp_until_ms)
			fprintf(f, "; TCP only for %llu s (spoofed replies)",
				(unsigned long long)(m->tcp_until_ms + 999) / 1000);
		if (m->lame_zones)
			fprintf(f, "; lame for %u zones", m->lame_zones);
		if (m->cookie_known)
			fputs("; cookies", f);
		if (m->no_cookie)
			fputs("; refused cookies", f);
		fprintf(f, "; used %llu s ago\n", (unsigned long long)m->last_use_ms / 1000);
	}
	if (json)
		fputs("]}\n", f);
out:
	free(all);
	free(mg);
}

/* Every worker replied, or the time is up: answer (if the client is still there). */
static void up_finish(struct vg_control *ctl)
{
	char *buf = NULL;
	size_t len = 0;
	uv_timer_stop(&ctl->up_timer);
	ctl->up_busy = false;
	struct conn *c = ctl->up_conn;
	ctl->up_conn = NULL;
	if (!c)
		return;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		conn_reply_error(c, ctl->up_json, "out of memory");
		return;
	}
	fputs("ok\n", f);
	up_write(ctl, f, ctl->up_json);
	fclose(f);
	conn_reply(c, buf, len);
}

static void on_up_async(uv_async_t *a)
{
	struct vg_control *ctl = a->data;
	if (!ctl->up_busy)
		return;
	for (unsigned i = 0; i < ctl->d->n_workers; i++)
		if (atomic_load_explicit(&ctl->up[i].phase, memory_order_acquire) < UP_COPIED)
			return;
	up_finish(ctl);
}

static void on_up_timer(uv_timer_t *t)
{
	struct vg_control *ctl = t->data;
	vg_log(VG_LOG_WARNING, "control: upstreams: not every worker replied within %u ms",
	       CTL_UP_WAIT_MS);
	up_finish(ctl);
}

static int cmd_upstreams(struct ctx *x, int argc, char **argv)
{
	struct vg_control *ctl = x->ctl;
	struct daemon *d = x->d;
	(void)argv;
	if (argc != 1)
		return usage_err(x, "upstreams");
	if (ctl->up_busy) {
		fputs("another upstreams request is in progress; try again", x->err);
		return -EAGAIN;
	}
	if (!ctl->up) {
		ctl->up = calloc(d->n_workers, sizeof(*ctl->up));
		if (!ctl->up)
			return VG_ENOMEM;
	}
	for (unsigned i = 0; i < d->n_workers; i++) {
		struct upjob *j = &ctl->up[i];
		if (!j->info) {
			j->info = calloc(CTL_UP_MAX, sizeof(*j->info));
			if (!j->info)
				return VG_ENOMEM;
		}
		up_wait_done(j);
		int ph = atomic_load_explicit(&j->phase, memory_order_acquire);
		if (ph == UP_POSTED)
			continue; /* the last request's job is still waiting: this one reuses it */
		j->job.fn = up_copy;
		j->ctl = ctl;
		j->n = 0;
		j->unknown_ms = d->cur.cfg->resolv.upstream_timeout_ms;
		atomic_store_explicit(&j->phase, UP_POSTED, memory_order_release);
		if (vg_worker_post(&d->workers[i], &j->job) < 0)
			atomic_store_explicit(&j->phase, UP_IDLE, memory_order_relaxed);
	}
	ctl->up_busy = true;
	ctl->up_conn = x->c;
	ctl->up_json = x->o.json;
	uv_timer_start(&ctl->up_timer, on_up_timer, CTL_UP_WAIT_MS, 0);
	uv_async_send(&ctl->up_async); /* answers now if nothing was posted */
	return CTL_PENDING;
}

static int cmd_help(struct ctx *x, int argc, char **argv);

static const struct command {
	const char *name;
	cmd_fn fn;
	const char *what;
} commands[] = {
	{ "status", cmd_status, "version, uptime, workers, config, policy, pauses, feeds" },
	{ "stats", cmd_stats, "the counters (the SIGUSR1 stats line)" },
	{ "reload", cmd_reload, "reload the config file (as SIGHUP), with the errors" },
	{ "flush", cmd_flush, "[--subtree] [--negative] [NAME]: remove cache entries" },
	{ "cache", cmd_cache, "NAME [TYPE]: what the cache holds" },
	{ "explain", cmd_explain, "NAME [options]: the live policy's decision" },
	{ "pause", cmd_pause, "GROUP DURATION: no policy for a client group for a while" },
	{ "resume", cmd_resume, "GROUP: end a pause" },
	{ "feeds", cmd_feeds, "the RPZ feeds: serial, transfers, errors" },
	{ "upstreams", cmd_upstreams, "the servers asked: RTT, timeouts, failures, state" },
	{ "trust-anchors", cmd_trust_anchors, "RFC 5011 key states" },
	{ "help", cmd_help, "this list" },
};

static int cmd_help(struct ctx *x, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	for (size_t i = 0; i < VG_ARRAY_SIZE(commands); i++)
		fprintf(x->o.f, "%-14s %s\n", commands[i].name, commands[i].what);
	return 0;
}

/* ------------------------------------------------------------ connections */

static void maybe_free(struct vg_control *ctl)
{
	if (!ctl->stopping || ctl->open_handles || ctl->conns)
		return;
	for (unsigned i = 0; ctl->up && i < ctl->d->n_workers; i++)
		free(ctl->up[i].info);
	free(ctl->up);
	vg_tls_ctx_unref(ctl->tls_ctx);
	free(ctl);
}

static void conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (--c->closing)
		return;
	struct vg_control *ctl = c->ctl;
	for (struct conn **pp = &ctl->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	ctl->n_conns--;
	vg_tls_conn_free(c->tls);
	free(c->resp);
	free(c);
	maybe_free(ctl);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	if (c->ctl->up_conn == c)
		c->ctl->up_conn = NULL; /* its upstreams answer goes nowhere */
	c->closing = 2;
	uv_close((uv_handle_t *)&c->h, conn_closed);
	uv_close((uv_handle_t *)&c->idle, conn_closed);
}

static void on_written(uv_write_t *w, int status)
{
	(void)status;
	conn_close(w->data);
}

/* ---- TLS: the session's ciphertext goes out in writes of their own */

struct tls_wr {
	uv_write_t w;
	struct conn *c;
	uint8_t buf[];
};

static void on_tls_written(uv_write_t *w, int status)
{
	struct tls_wr *t = (struct tls_wr *)w;
	struct conn *c = t->c;
	free(t);
	c->writes--;
	if (status < 0 || (c->close_after && !c->writes))
		conn_close(c);
}

/* Write what the session has for the peer; close when told to and done. */
static void tls_flush(struct conn *c)
{
	size_t n;
	while (!c->closing && (n = vg_tls_conn_pending(c->tls)) > 0) {
		struct tls_wr *t = malloc(sizeof(*t) + n);
		if (!t) {
			conn_close(c);
			return;
		}
		t->c = c;
		n = vg_tls_conn_take(c->tls, t->buf, n);
		uv_buf_t b = uv_buf_init((char *)t->buf, (unsigned)n);
		if (uv_write(&t->w, (uv_stream_t *)&c->h, &b, 1, on_tls_written) < 0) {
			free(t);
			conn_close(c);
			return;
		}
		c->writes++;
	}
	if (c->close_after && !c->writes)
		conn_close(c);
}

/* Send @p resp (taken) and close after it. */
static void conn_reply(struct conn *c, char *resp, size_t len)
{
	if (c->tls) {
		uv_read_stop((uv_stream_t *)&c->h);
		c->close_after = true;
		if (!vg_tls_conn_established(c->tls) ||
		    vg_tls_conn_write(c->tls, (const uint8_t *)resp, len) < 0) {
			free(resp);
			conn_close(c);
			return;
		}
		free(resp);
		vg_tls_conn_shutdown(c->tls);
		tls_flush(c);
		return;
	}
	c->resp = resp;
	uv_buf_t b = uv_buf_init(resp, (unsigned)len);
	c->wr.data = c;
	uv_read_stop((uv_stream_t *)&c->h);
	if (uv_write(&c->wr, (uv_stream_t *)&c->h, &b, 1, on_written) < 0)
		conn_close(c);
}

static void conn_reply_error(struct conn *c, bool json, const char *msg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		conn_close(c);
		return;
	}
	fputs("error\n", f);
	if (json) {
		fputs("{\"error\": ", f);
		vg_ctl_json_str(f, msg);
		fputs("}\n", f);
	} else {
		fprintf(f, "%s\n", msg);
	}
	fclose(f);
	conn_reply(c, buf, len);
}

static void handle(struct conn *c)
{
	struct vg_control *ctl = c->ctl;
	struct vg_ctl_req req;
	char why[256];
	char *body = NULL, *err = NULL, *out = NULL;
	size_t blen = 0, elen = 0, olen = 0;

	if (vg_ctl_parse(c->line, &req, why, sizeof(why)) < 0) {
		conn_reply_error(c, false, why);
		return;
	}
	const struct command *cmd = NULL;
	for (size_t i = 0; i < VG_ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, req.argv[0]))
			cmd = &commands[i];
	if (!cmd) {
		snprintf(why, sizeof(why), "unknown command '%.64s' (vigilctl help lists them)",
			 req.argv[0]);
		conn_reply_error(c, req.json, why);
		return;
	}
	struct ctx x = { .ctl = ctl, .d = ctl->d, .c = c, .o = { .json = req.json } };
	x.o.f = open_memstream(&body, &blen);
	x.err = open_memstream(&err, &elen);
	FILE *o = open_memstream(&out, &olen);
	int r = VG_ENOMEM;
	if (x.o.f && x.err && o)
		r = cmd->fn(&x, req.argc, req.argv);
	if (x.o.f)
		fclose(x.o.f);
	if (x.err)
		fclose(x.err);
	if (!o) {
		conn_close(c);
		goto out;
	}
	fclose(o);
	free(out);
	if (r == CTL_PENDING) {
		/* the command answers later (the client may have shut its side) */
		uv_read_stop((uv_stream_t *)&c->h);
		goto out;
	}
	if (r < 0) {
		conn_reply_error(c, req.json, err && err[0] ? err : vg_strerror(r));
		goto out;
	}
	size_t n = 3 + blen;
	char *resp = malloc(n + 1);
	if (!resp) {
		conn_close(c);
		goto out;
	}
	memcpy(resp, "ok\n", 3);
	if (blen)
		memcpy(resp + 3, body, blen);
	conn_reply(c, resp, n);
out:
	free(body);
	free(err);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)suggested;
	buf->base = c->line + c->len;
	buf->len = VG_CTL_LINE_MAX - c->len;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	(void)buf;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)nread;
	c->line[c->len] = '\0';
	if (memchr(c->line, '\n', c->len)) {
		*strchr(c->line, '\n') = '\0';
		uv_timer_stop(&c->idle);
		handle(c);
	} else if (c->len >= VG_CTL_LINE_MAX) {
		conn_reply_error(c, false, "request line too long");
	}
}

static void on_idle(uv_timer_t *t)
{
	conn_close(t->data);
}

static void on_alloc_tls(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)suggested;
	buf->base = (char *)c->rx;
	buf->len = sizeof(c->rx);
}

/* The handshake is over: a verified client certificate, or refused. */
static bool tls_client_ok(struct conn *c)
{
	const char *fp = vg_tls_conn_cert_fp(c->tls);
	c->tls_checked = true;
	if (!fp[0]) {
		vg_log(VG_LOG_WARNING, "control: refused %s: no client certificate "
		       "(control.client-ca)", c->who);
		conn_reply_error(c, false, "permission denied: a client certificate signed by "
				 "control.client-ca is required");
		return false;
	}
	size_t l = strlen(c->who);
	snprintf(c->who + l, sizeof(c->who) - l, " (certificate %.200s)",
		 vg_tls_conn_cert_subject(c->tls));
	vg_log(VG_LOG_INFO, "control: %s", c->who);
	return true;
}

static void on_read_tls(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	(void)buf;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (vg_tls_conn_input(c->tls, c->rx, (size_t)nread) < 0) {
		conn_close(c);
		return;
	}
	for (;;) {
		if (c->len >= VG_CTL_LINE_MAX)
			break;
		ssize_t r = vg_tls_conn_read(c->tls, (uint8_t *)c->line + c->len,
					     VG_CTL_LINE_MAX - c->len);
		if (r > 0) {
			c->len += (size_t)r;
			continue;
		}
		if (r == VG_TLS_AGAIN)
			break;
		if (!vg_tls_conn_established(c->tls))
			vg_log(VG_LOG_WARNING, "control: refused %s: TLS handshake failed: %s",
			       c->who, vg_tls_conn_error(c->tls)[0] ? vg_tls_conn_error(c->tls) :
			       "(no reason)");
		c->close_after = true; /* the alert goes out first */
		tls_flush(c);
		return;
	}
	tls_flush(c);
	if (c->closing || !vg_tls_conn_established(c->tls))
		return;
	if (!c->tls_checked && !tls_client_ok(c))
		return;
	c->line[c->len] = '\0';
	if (memchr(c->line, '\n', c->len)) {
		*strchr(c->line, '\n') = '\0';
		uv_timer_stop(&c->idle);
		handle(c);
	} else if (c->len >= VG_CTL_LINE_MAX) {
		conn_reply_error(c, false, "request line too long");
	}
}

static void on_tls_connection(uv_stream_t *srv, int status)
{
	struct vg_control *ctl = srv->data;
	if (status < 0)
		return;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->ctl = ctl;
	uv_tcp_init(srv->loop, &c->h.tcp);
	uv_timer_init(srv->loop, &c->idle);
	c->h.tcp.data = c->idle.data = c;
	c->next = ctl->conns;
	ctl->conns = c;
	ctl->n_conns++;
	c->uid = (uid_t)-1;
	c->gid = (gid_t)-1;
	snprintf(c->who, sizeof(c->who), "TLS client ?");
	if (uv_accept(srv, (uv_stream_t *)&c->h) < 0) {
		conn_close(c);
		return;
	}
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &sl) == 0) {
		struct vg_sockaddr va;
		char a[VG_ADDRSTRLEN];
		memset(&va, 0, sizeof(va));
		memcpy(&va.u, &ss, sizeof(va.u) < (size_t)sl ? sizeof(va.u) : (size_t)sl);
		va.len = (socklen_t)sl;
		vg_sockaddr_str(&va, VG_ADDR_PORT, a, sizeof(a));
		snprintf(c->who, sizeof(c->who), "TLS client %s", a);
	}
	c->tls = vg_tls_conn_accept(ctl->tls_ctx);
	if (!c->tls || ctl->n_conns > CTL_MAX_CONNS) {
		vg_log(VG_LOG_WARNING, "control: %s closed: %s", c->who,
		       c->tls ? "too many control connections" : "out of memory");
		conn_close(c);
		return;
	}
	uv_timer_start(&c->idle, on_idle, CTL_IDLE_MS, 0);
	uv_read_start((uv_stream_t *)&c->h, on_alloc_tls, on_read_tls);
}

/* control.listen-tls: the TLS context and the listening TCP socket. */
static int tls_start(struct vg_control *ctl, const struct vg_control_opts *co)
{
	struct vg_tls_opts to;
	char err[512];
	struct sockaddr_storage ss;
	int r;
	memset(&to, 0, sizeof(to));
	snprintf(to.certificate, sizeof(to.certificate), "%s", co->tls_certificate);
	snprintf(to.key, sizeof(to.key), "%s", co->tls_key);
	snprintf(to.client_ca, sizeof(to.client_ca), "%s", co->client_ca);
	snprintf(ctl->tls_addr, sizeof(ctl->tls_addr), "%s", co->listen_tls);
	r = vg_tls_server_new(&to, VG_TLS_DOT, NULL, &ctl->tls_ctx, err, sizeof(err));
	if (r < 0) {
		vg_log(VG_LOG_ERR, "control.listen-tls %s: %s", ctl->tls_addr, err);
		return r;
	}
	uv_tcp_init(&ctl->d->loop, &ctl->tls_srv);
	ctl->tls_srv.data = ctl;
	ctl->tls_open = true;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, &co->tls_addr.u, co->tls_addr.len);
	r = uv_tcp_bind(&ctl->tls_srv, (const struct sockaddr *)&ss, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&ctl->tls_srv, 16, on_tls_connection);
	if (r < 0) {
		vg_log(VG_LOG_ERR, "control.listen-tls %s: %s", ctl->tls_addr, uv_strerror(r));
		return r;
	}
	uv_unref((uv_handle_t *)&ctl->tls_srv);
	vg_log(VG_LOG_NOTICE, "control over TLS on %s (client certificates of %s required)",
	       ctl->tls_addr, co->client_ca);
	return 0;
}

/* root, the socket file's owner, or its group: who may use the socket */
static bool peer_allowed(const struct vg_control *ctl, uid_t uid, gid_t gid)
{
	return uid == 0 || uid == ctl->owner || uid == geteuid() || gid == ctl->group;
}

static void on_connection(uv_stream_t *srv, int status)
{
	struct vg_control *ctl = srv->data;
	if (status < 0)
		return;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->ctl = ctl;
	uv_pipe_init(srv->loop, &c->h.pipe, 0);
	uv_timer_init(srv->loop, &c->idle);
	c->h.pipe.data = c->idle.data = c;
	c->next = ctl->conns;
	ctl->conns = c;
	ctl->n_conns++;
	if (uv_accept(srv, (uv_stream_t *)&c->h) < 0) {
		conn_close(c);
		return;
	}
	uv_os_fd_t fd;
	struct ucred cr;
	socklen_t crl = sizeof(cr);
	if (uv_fileno((uv_handle_t *)&c->h, &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0) {
		conn_close(c);
		return;
	}
	c->uid = cr.uid;
	c->gid = cr.gid;
	c->pid = cr.pid;
	snprintf(c->who, sizeof(c->who), "uid %u (pid %ld)", (unsigned)cr.uid, (long)cr.pid);
	if (!peer_allowed(ctl, cr.uid, cr.gid)) {
		char msg[300];
		vg_log(VG_LOG_WARNING, "control: refused uid %u gid %u (pid %ld): neither root, "
		       "nor the owner (uid %u) nor the group (gid %u) of %s", (unsigned)cr.uid,
		       (unsigned)cr.gid, (long)cr.pid, (unsigned)ctl->owner, (unsigned)ctl->group,
		       ctl->path);
		snprintf(msg, sizeof(msg), "permission denied: uid %u (gid %u) is neither root nor "
			 "the owner (uid %u) nor in the group (gid %u) of the control socket",
			 (unsigned)cr.uid, (unsigned)cr.gid, (unsigned)ctl->owner,
			 (unsigned)ctl->group);
		conn_reply_error(c, false, msg);
		return;
	}
	if (ctl->n_conns > CTL_MAX_CONNS) {
		conn_reply_error(c, false, "too many control connections; try again");
		return;
	}
	uv_timer_start(&c->idle, on_idle, CTL_IDLE_MS, 0);
	uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read);
}

/* ------------------------------------------------------------ start, stop */

/* Is a live server at @p path?  (a stale socket file is replaced) */
static bool socket_in_use(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool used;
	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	used = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno != ECONNREFUSED;
	close(fd);
	return used;
}

/* mkdir the socket's directory when it is missing (one level: /run/vigil) */
/* Make the socket's directory when missing, owned by @p uid, @p gid (-1: as
 * made), so that vigil can still remove its socket after dropping root. */
static int make_dir(const char *path, uid_t uid, gid_t gid)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) < 0)
		return errno == EEXIST ? 0 : -errno;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(dir, uid, gid) < 0)
		return -errno;
	return 0;
}

int vg_control_start(struct daemon *d, const struct vg_config *cfg)
{
	const struct vg_control_opts *co = &cfg->control;
	struct vg_control *ctl;
	struct stat st;
	int r;
	/* the default path may be another vigil's: then this one runs without */
	bool must = strcmp(co->socket, VG_CONTROL_SOCKET_DEFAULT) != 0;
	int level = must ? VG_LOG_ERR : VG_LOG_WARNING;
	const char *then = must ? "" : "; running without a control socket";

	if (!co->socket[0])
		return 0;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return VG_ENOMEM;
	ctl->d = d;
	snprintf(ctl->path, sizeof(ctl->path), "%s", co->socket);
	ctl->started_ms = uv_now(&d->loop);
	r = make_dir(ctl->path, d->run_uid, d->run_gid);
	if (r < 0) {
		vg_log(level, "control socket %s: cannot create its directory: %s%s", ctl->path,
		       strerror(-r), then);
		goto fail;
	}
	if (lstat(ctl->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			vg_log(level, "control socket %s: a file that is not a socket is in the "
			       "way%s", ctl->path, then);
			r = VG_EINVAL;
			goto fail;
		}
		if (socket_in_use(ctl->path)) {
			vg_log(level, "control socket %s: in use by another process (another "
			       "vigil?)%s", ctl->path, then);
			r = -EADDRINUSE;
			goto fail;
		}
		unlink(ctl->path); /* stale, from a vigil that did not stop cleanly */
	}
	uv_pipe_init(&d->loop, &ctl->srv, 0);
	ctl->srv.data = ctl;
	ctl->srv_open = true;
	mode_t old = umask(0177); /* nobody may connect before the chmod below */
	r = uv_pipe_bind(&ctl->srv, ctl->path);
	umask(old);
	if (r < 0) {
		vg_log(level, "control socket %s: %s%s", ctl->path, uv_strerror(r), then);
		goto fail;
	}
	gid_t gid = (gid_t)-1;
	if (co->group[0]) {
		struct group *gr = getgrnam(co->group);
		if (!gr) {
			vg_log(VG_LOG_ERR, "control socket %s: no group '%s' (control.group)",
			       ctl->path, co->group);
			r = VG_ECONFIG;
			goto fail_unlink;
		}
		gid = gr->gr_gid;
	}
	/* the user vigil will run as owns it (and its group, unless
	 * control.group says otherwise), so that it may still replace it */
	uid_t uid = d->run_uid;
	if (gid == (gid_t)-1)
		gid = d->run_gid;
	if (((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(ctl->path, uid, gid) < 0) ||
	    chmod(ctl->path, co->mode_bits) < 0 || stat(ctl->path, &st) < 0) {
		r = -errno;
		vg_log(VG_LOG_ERR, "control socket %s: %s", ctl->path, strerror(errno));
		goto fail_unlink;
	}
	ctl->dev = st.st_dev;
	ctl->ino = st.st_ino;
	ctl->owner = st.st_uid;
	ctl->group = st.st_gid;
	r = uv_listen((uv_stream_t *)&ctl->srv, 16, on_connection);
	if (r < 0) {
		vg_log(VG_LOG_ERR, "control socket %s: %s", ctl->path, uv_strerror(r));
		goto fail_unlink;
	}
	uv_unref((uv_handle_t *)&ctl->srv); /* never what keeps the loop running */
	uv_timer_init(&d->loop, &ctl->pause_timer);
	ctl->pause_timer.data = ctl;
	uv_unref((uv_handle_t *)&ctl->pause_timer);
	uv_timer_init(&d->loop, &ctl->up_timer);
	ctl->up_timer.data = ctl;
	uv_unref((uv_handle_t *)&ctl->up_timer);
	uv_async_init(&d->loop, &ctl->up_async, on_up_async);
	ctl->up_async.data = ctl;
	uv_unref((uv_handle_t *)&ctl->up_async);
	if (co->listen_tls[0]) {
		r = tls_start(ctl, co);
		if (r < 0) {
			must = true;
			goto fail_handles;
		}
	}
	d->control = ctl;
	vg_log(VG_LOG_NOTICE, "control socket %s (mode %04o, owner uid %u, group gid %u)",
	       ctl->path, co->mode_bits, (unsigned)ctl->owner, (unsigned)ctl->group);
	return 0;
fail_handles:
	uv_close((uv_handle_t *)&ctl->pause_timer, NULL);
	uv_close((uv_handle_t *)&ctl->up_timer, NULL);
	uv_close((uv_handle_t *)&ctl->up_async, NULL);
	if (ctl->tls_open)
		uv_close((uv_handle_t *)&ctl->tls_srv, NULL);
fail_unlink:
	unlink(ctl->path);
fail:
	if (ctl->srv_open)
		uv_close((uv_handle_t *)&ctl->srv, NULL);
	uv_run(&d->loop, UV_RUN_NOWAIT);
	vg_tls_ctx_unref(ctl->tls_ctx);
	if (co->listen_tls[0] && !must)
		vg_log(VG_LOG_WARNING, "control: control.listen-tls %s is not served either "
		       "(it runs beside the control socket)", co->listen_tls);
	free(ctl);
	return must ? r : 0;
}

static void ctl_handle_closed(uv_handle_t *h)
{
	struct vg_control *ctl = h->data;
	ctl->open_handles--;
	maybe_free(ctl);
}

void vg_control_stop(struct daemon *d)
{
	struct vg_control *ctl = d->control;
	struct stat st;
	if (!ctl)
		return;
	d->control = NULL;
	for (unsigned i = 0; i < VG_POLICY_MAX_GROUPS; i++)
		atomic_store_explicit(&d->shared.paused[i], 0, memory_order_relaxed);
	/* remove the file only if it is still ours (not a later vigil's) */
	if (stat(ctl->path, &st) == 0 && st.st_dev == ctl->dev && st.st_ino == ctl->ino)
		unlink(ctl->path);
	/* the workers still run: take back the upstreams jobs they have not
	 * taken, and wait for the ones they are running (a short copy) */
	for (unsigned i = 0; ctl->up && i < d->n_workers; i++) {
		struct upjob *j = &ctl->up[i];
		if (atomic_load_explicit(&j->phase, memory_order_acquire) == UP_POSTED &&
		    !vg_worker_unpost(&d->workers[i], &j->job))
			while (atomic_load_explicit(&j->phase, memory_order_acquire) != UP_DONE)
				sched_yield();
		up_wait_done(j);
	}
	ctl->up_conn = NULL;
	ctl->stopping = true;
	ctl->open_handles = ctl->tls_open ? 5 : 4;
	if (ctl->tls_open)
		uv_close((uv_handle_t *)&ctl->tls_srv, ctl_handle_closed);
	for (struct conn *c = ctl->conns; c; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&ctl->srv, ctl_handle_closed);
	uv_close((uv_handle_t *)&ctl->pause_timer, ctl_handle_closed);
	uv_close((uv_handle_t *)&ctl->up_timer, ctl_handle_closed);
	uv_close((uv_handle_t *)&ctl->up_async, ctl_handle_closed);
	/* freed by the last close callback (the loop runs them) */
}
