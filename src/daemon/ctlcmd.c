/* SPDX-License-Identifier: MIT
 *
 * The control socket's commands (control.c serves the connections): each
 * writes its answer, text or JSON, for one vigilctl request.
 *
 * Access: the socket file's mode (control.mode, default 0660) and group
 * (control.group) decide who may connect; then the peer's credentials
 * (SO_PEERCRED, SO_PEERGROUPS) are checked: root, the socket file's owner,
 * or a process in the socket file's group (its primary or a supplementary
 * one).  Anyone else gets "error" with
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
#include "daemon/control_impl.h"
#include "ctl/ctlproto.h"
#include "daemon/daemon.h"
#include "daemon/explain.h"
#include "feed/feed.h"
#include "policy/engine.h"
#include "tls/tls.h"
#include "upstream/upstream.h"

/* ------------------------------------------------------------ output */

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

/* Seconds of @p pz left at @p now (0 once over: the timer ends it soon). */
static unsigned long long pause_left_s(const struct pause *pz, uint64_t now)
{
	return pz->until_ms > now ? (pz->until_ms - now + 999) / 1000 : 0;
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
			     pz ? (long long)pause_left_s(pz, now) : 0);
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
				pause_left_s(pz, now));
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
			jstr(&x->o, &g, "validation", vg_dnssec_status_name(in[i].sec));
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
			vg_dnssec_status_name(in[i].sec));
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
			pause_left_s(pz, uv_now(&x->d->loop)));
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
void vg__ctl_up_wait_done(struct upjob *j)
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
	/* which workers replied, read once: a late one may reply while this runs
	 * (after the time ran out), and must count in all three loops or none */
	bool *got = calloc(d->n_workers, sizeof(*got));
	struct vg_infra_info *all = NULL;
	struct upm *mg = NULL;
	size_t n = 0, k = 0;
	if (!got) {
		fprintf(f, json ? "{\"error\": \"out of memory\"}\n" : "out of memory\n");
		return;
	}
	for (unsigned i = 0; i < d->n_workers; i++)
		if (atomic_load_explicit(&ctl->up[i].phase, memory_order_acquire) >= UP_COPIED) {
			got[i] = true;
			total += ctl->up[i].n;
			replied++;
		}
	all = calloc(total ? total : 1, sizeof(*all));
	mg = calloc(total ? total : 1, sizeof(*mg));
	if (!all || !mg) {
		fprintf(f, json ? "{\"error\": \"out of memory\"}\n" : "out of memory\n");
		goto out;
	}
	for (unsigned i = 0; i < d->n_workers; i++)
		if (got[i]) {
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
			if (!got[i])
				fprintf(f, "%s%u", c++ ? ", " : "", i);
		fputs("], \"servers\": [", f);
	} else {
		fprintf(f, "upstream servers: %zu (merged over %u of %u workers; at most %u, most "
			"recently used first)\n", n, replied, d->n_workers, CTL_UP_MAX);
		for (unsigned i = 0; i < d->n_workers; i++)
			if (!got[i] && !ctl->up[i].asked)
				fprintf(f, "worker %u could not be asked (busy with another job): "
					"its view is missing\n", i);
			else if (!got[i])
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
	free(got);
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
		vg__ctl_reply_error(c, ctl->up_json, "out of memory");
		return;
	}
	fputs("ok\n", f);
	up_write(ctl, f, ctl->up_json);
	fclose(f);
	vg__ctl_reply(c, buf, len);
}

void vg__ctl_on_up_async(uv_async_t *a)
{
	struct vg_control *ctl = a->data;
	if (!ctl->up_busy)
		return;
	for (unsigned i = 0; i < ctl->d->n_workers; i++)
		if (ctl->up[i].asked &&
		    atomic_load_explicit(&ctl->up[i].phase, memory_order_acquire) < UP_COPIED)
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
		vg__ctl_up_wait_done(j);
		int ph = atomic_load_explicit(&j->phase, memory_order_acquire);
		j->asked = true;
		if (ph == UP_POSTED)
			continue; /* the last request's job is still waiting: this one reuses it */
		j->job.fn = up_copy;
		j->ctl = ctl;
		j->n = 0;
		j->unknown_ms = d->cur.cfg->resolv.upstream_timeout_ms;
		atomic_store_explicit(&j->phase, UP_POSTED, memory_order_release);
		if (vg_worker_post(&d->workers[i], &j->job) < 0) {
			/* its slot is taken: no answer will come, none is waited for */
			atomic_store_explicit(&j->phase, UP_IDLE, memory_order_relaxed);
			j->asked = false;
		}
	}
	ctl->up_busy = true;
	ctl->up_conn = x->c;
	ctl->up_json = x->o.json;
	uv_timer_start(&ctl->up_timer, on_up_timer, CTL_UP_WAIT_MS, 0);
	uv_async_send(&ctl->up_async); /* answers now if nothing was posted */
	return CTL_PENDING;
}

static int cmd_help(struct ctx *x, int argc, char **argv);

static const struct command commands[] = {
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
	if (!x->o.json) {
		for (size_t i = 0; i < VG_ARRAY_SIZE(commands); i++)
			fprintf(x->o.f, "%-14s %s\n", commands[i].name, commands[i].what);
		return 0;
	}
	fputs("{\"commands\": [", x->o.f);
	for (size_t i = 0; i < VG_ARRAY_SIZE(commands); i++) {
		bool first = true;
		fputs(i ? ", {" : "{", x->o.f);
		jstr(&x->o, &first, "name", commands[i].name);
		jstr(&x->o, &first, "what", commands[i].what);
		fputs("}", x->o.f);
	}
	fputs("]}\n", x->o.f);
	return 0;
}

const struct command *vg__ctl_command(const char *name)
{
	for (size_t i = 0; i < VG_ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}
