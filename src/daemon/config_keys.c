/* SPDX-License-Identifier: MIT
 *
 * The schema of every section but policy (config_policy.c): one key table per
 * section (server, cache, resolver, limits, dnssec, log) and the item table
 * of forward-zones, the custom keys whose values are really special (address
 * lists with the server's port applied later, the ACL's "PREFIX ACTION"
 * rules, trust anchor files), the cross-key checks that run after the walk,
 * and vg_config_defaults().
 *
 * The walk itself is config.c's; config_impl.h describes the tables.
 */
#include <arpa/inet.h>
#include <string.h>

#include "vigil/err.h"
#include "vigil/wire.h"
#include "daemon/config_impl.h"

_Static_assert(VG_NET_MAX_LISTEN == VG_CFG_MAX_ADDRS &&
		       VG_UPSTREAM_MAX_SOURCES == VG_CFG_MAX_ADDRS &&
		       VG_RESOLV_MAX_FORWARD_ADDRS == VG_CFG_MAX_ADDRS,
	       "address lists share one parser bound");
_Static_assert(sizeof(enum vg_acl_action) == sizeof(int), "enum fields are stored as int");
_Static_assert(sizeof(enum vg_log_target) == sizeof(int), "enum fields are stored as int");
_Static_assert(VG_DNSSEC_MAX_NTA <= VG_CFG_MAX_NAMES && VG_DNSSEC_MAX_INSECURE <= VG_CFG_MAX_NAMES,
	       "raise VG_CFG_MAX_NAMES");

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define CFG struct vg_config

static const struct vg__cfg_enum acl_actions[] = {
	{ "allow", VG_ACL_ALLOW }, { "refuse", VG_ACL_REFUSE }, { "drop", VG_ACL_DROP },
	{ NULL, 0 }
};
static const struct vg__cfg_enum log_levels[] = {
	{ "error", 3 }, { "warning", 4 }, { "notice", 5 }, { "info", 6 }, { "debug", 7 },
	{ NULL, 0 }
};
static const struct vg__cfg_enum log_targets[] = {
	{ "stderr", VG_LOG_STDERR }, { "syslog", VG_LOG_SYSLOG }, { NULL, 0 }
};

static const char *const default_listen[] = { "127.0.0.1", "::1" };
static const char *const default_acl[] = {
	"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
	"100.64.0.0/10", "169.254.0.0/16", "fc00::/7", "fe80::/10",
};

/* ---- server ---- */

static void parse_listen(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	struct vg_config *cfg = base;
	/* default port 0 marks "no explicit port": server.port is applied in finish() */
	int n = vg__cfg_addr_list(c, val, cfg->net.listen, VG_NET_MAX_LISTEN, 0,
				  "an address like 192.0.2.1, 192.0.2.1@53 or [2001:db8::1]:53",
				  c->listen_line);

	if (n == 0)
		vg__cfg_report(c, vg__cfg_line(val), "%s: at least one address is needed",
			       c->where);
	cfg->net.n_listen = n > 0 ? (size_t)n : 0;
	for (int i = 0; i < n; i++)
		c->listen_port[i] = vg_sockaddr_port(&cfg->net.listen[i]) != 0;
}

static bool dump_listen(const struct vg__cfg_out *o, const char *lead, int col,
			const struct vg__cfg_key *k, const void *base)
{
	const struct vg_config *cfg = base;

	vg__cfg_dump_addrs(o->f, lead, col, k->name, cfg->net.listen, cfg->net.n_listen, true);
	return true;
}

static void parse_port(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	const char *s = vg__cfg_scalar(c, val, "a port number");
	unsigned long long v;

	(void)base;
	if (s && (vg_parse_uint(s, 65535, &v) < 0 || v == 0))
		vg__cfg_bad_value(c, val, "a port number in 1..65535");
	else if (s)
		c->port = (uint16_t)v;
}

static void parse_acl(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	struct vg_acl *acl = &((struct vg_config *)base)->serve.acl;
	yaml_node_t *items[VG_ACL_MAX];
	bool bad;
	size_t n = vg__cfg_list_items(c, val, items, VG_ACL_MAX, &bad), i, j;

	acl->n = 0; /* an explicit list replaces the default one */
	for (i = 0; i < n; i++) {
		struct vg_acl_rule *r = &acl->rule[acl->n];
		char pfx[INET6_ADDRSTRLEN + 8], act[16], extra;
		int ret = VG_EPARSE, a = -1;

		/* %51s cannot cut a valid prefix: the longest one has 49 characters */
		if (sscanf((const char *)items[i]->data.scalar.value, "%51s %15s %c", pfx, act,
			   &extra) == 2) {
			ret = vg_prefix_parse(pfx, &r->prefix);
			a = vg__cfg_enum_lookup(acl_actions, act);
		}
		if (ret == VG_EINVAL) {
			vg__cfg_bad_value(c, items[i], "a prefix with no bits set past its length");
			continue;
		}
		if (ret < 0 || a < 0) {
			vg__cfg_bad_value(c, items[i],
					  "\"PREFIX ACTION\", ACTION one of allow, refuse or drop");
			continue;
		}
		vg_prefix_unmap(&r->prefix);
		r->action = (enum vg_acl_action)a;
		for (j = 0; j < acl->n; j++)
			if (acl->rule[j].prefix.family == r->prefix.family &&
			    acl->rule[j].prefix.bits == r->prefix.bits &&
			    !memcmp(acl->rule[j].prefix.addr, r->prefix.addr, 16))
				break;
		if (j < acl->n)
			vg__cfg_dup_value(c, items[i]);
		else
			acl->n++;
	}
}

static bool dump_acl(const struct vg__cfg_out *o, const char *lead, int col,
		     const struct vg__cfg_key *k, const void *base)
{
	const struct vg_acl *acl = &((const struct vg_config *)base)->serve.acl;
	char pfx[INET6_ADDRSTRLEN + 8];

	fprintf(o->f, "%s%s:%s\n", lead, k->name, acl->n ? "" : " []");
	for (size_t i = 0; i < acl->n; i++)
		fprintf(o->f, "%*s- \"%s %s\"\n", col + 2, "",
			vg_prefix_str(&acl->rule[i].prefix, pfx, sizeof(pfx)),
			vg__cfg_enum_name(acl_actions, (int)acl->rule[i].action));
	return true;
}

static const struct vg__cfg_key server_keys[] = {
	VG_CFG_KCUSTOM("listen", parse_listen, dump_listen), /* default_listen[] */
	VG_CFG_KCUSTOM("port", parse_port, NULL),            /* dumped inside listen */
	VG_CFG_KUINT("workers", CFG, net.workers, 0, 64, "0"),
	VG_CFG_KUINT("max-udp-size", CFG, serve.max_udp_size, 512, 4096, "1232"),
	VG_CFG_KUINT("tcp-idle-timeout", CFG, net.tcp_idle_ms, 100, 600000, "10000"),
	VG_CFG_KUINT("tcp-max-connections-per-worker", CFG, net.tcp_max_per_worker, 1, 1000000,
		     "256"),
	VG_CFG_KUINT("tcp-max-connections", CFG, net.tcp_max_total, 1, 1000000, "1024"),
	VG_CFG_KUINT("tcp-max-pipeline", CFG, net.tcp_max_pipeline, 1, 1000, "100"),
	VG_CFG_KCUSTOM("access-control", parse_acl, dump_acl), /* default_acl[] */
	VG_CFG_KENUM("access-control-default", CFG, serve.acl.dflt, acl_actions, "refuse"),
};

/* ---- cache, resolver, limits ---- */

static const struct vg__cfg_key cache_keys[] = {
	{ .name = "size", .type = VG_CFG_SIZE, VG_CFG_FIELD(CFG, cache.size), .min = VG_CFG_MIB,
	  .max = SIZE_MAX, .def = "64M" },
	VG_CFG_KUINT("max-ttl", CFG, cache.max_ttl, 0, INT32_MAX, "86400"),
	VG_CFG_KUINT("max-negative-ttl", CFG, cache.max_neg_ttl, 0, INT32_MAX, "3600"),
	VG_CFG_KUINT("min-ttl", CFG, cache.min_ttl, 0, INT32_MAX, "0"),
	VG_CFG_KUINT("servfail-ttl", CFG, resolv.servfail_ttl, 0, 300, "5"),
};

static void parse_outgoing(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	struct vg_upstream_opts *up = &((struct vg_config *)base)->upstream;
	int n = vg__cfg_addr_list(c, val, up->outgoing, VG_UPSTREAM_MAX_SOURCES, 0,
				  "an address like 192.0.2.1, 192.0.2.1@53 or [2001:db8::1]:53",
				  NULL);

	up->n_outgoing = n > 0 ? (size_t)n : 0;
	for (int i = 0; i < n; i++)
		vg_sockaddr_set_port(&up->outgoing[i], 0); /* only the address is used */
}

static bool dump_outgoing(const struct vg__cfg_out *o, const char *lead, int col,
			  const struct vg__cfg_key *k, const void *base)
{
	const struct vg_upstream_opts *up = &((const struct vg_config *)base)->upstream;

	vg__cfg_dump_addrs(o->f, lead, col, k->name, up->outgoing, up->n_outgoing, false);
	return true;
}

static const struct vg__cfg_key resolver_keys[] = {
	VG_CFG_KSTR("root-hints", CFG, root_hints, 0, ""),
	VG_CFG_KCUSTOM("outgoing-address", parse_outgoing, dump_outgoing),
	VG_CFG_KBOOL("query-localhost", CFG, resolv.allow_query_localhost, "no"),
	VG_CFG_KBOOL("query-private", CFG, resolv.allow_query_private, "yes"),
	VG_CFG_KBOOL("qname-minimisation", CFG, resolv.qname_minimisation, "yes"),
	VG_CFG_KBOOL("prime-root", CFG, resolv.prime_root, "yes"),
	VG_CFG_KBOOL("prefetch", CFG, resolv.prefetch, "no"),
	VG_CFG_KBOOL("ipv6-upstream", CFG, resolv.use_ipv6_upstream, "yes"),
	VG_CFG_KUINT("upstream-udp-size", CFG, upstream.udp_size, 512, 4096, "1232"),
};

static const struct vg__cfg_key limits_keys[] = {
	VG_CFG_KUINT("max-upstream-queries", CFG, resolv.max_upstream_queries, 1, 10000, "200"),
	VG_CFG_KUINT("max-subquery-depth", CFG, resolv.max_subquery_depth, 1, 64, "8"),
	VG_CFG_KUINT("max-referrals", CFG, resolv.max_referrals, 1, 200, "30"),
	VG_CFG_KUINT("max-cname-chain", CFG, resolv.max_cname_chain, 1, 64, "11"),
	VG_CFG_KUINT("max-glueless-ns", CFG, resolv.max_glueless_ns, 0, 64, "5"),
	VG_CFG_KUINT("request-timeout", CFG, serve.request_timeout_ms, 100, 600000, "5000"),
	VG_CFG_KUINT("upstream-timeout", CFG, resolv.upstream_timeout_ms, 10, 60000, "400"),
};

/* ---- dnssec ---- */

static void parse_ta_files(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	struct vg_dnssec_opts *d = &((struct vg_config *)base)->dnssec;
	yaml_node_t *items[VG_DNSSEC_MAX_TA_FILES];
	bool bad;
	size_t n = vg__cfg_list_items(c, val, items, VG_DNSSEC_MAX_TA_FILES, &bad);

	d->n_trust_anchor_files = 0;
	for (size_t i = 0; i < n; i++) {
		const char *s = (const char *)items[i]->data.scalar.value;
		if (!*s || strlen(s) >= sizeof(d->trust_anchor_files[0])) {
			vg__cfg_bad_value(c, items[i], "a path shorter than 512 bytes");
			continue;
		}
		memcpy(d->trust_anchor_files[d->n_trust_anchor_files++], s, strlen(s) + 1);
	}
}

static bool dump_ta_files(const struct vg__cfg_out *o, const char *lead, int col,
			  const struct vg__cfg_key *k, const void *base)
{
	const struct vg_dnssec_opts *d = &((const struct vg_config *)base)->dnssec;

	fprintf(o->f, "%s%s:%s\n", lead, k->name, d->n_trust_anchor_files ? "" : " []");
	for (size_t i = 0; i < d->n_trust_anchor_files; i++) {
		fprintf(o->f, "%*s- ", col + 2, "");
		vg__cfg_dump_str(o->f, d->trust_anchor_files[i]);
		fputc('\n', o->f);
	}
	return true;
}

static const struct vg__cfg_key dnssec_keys[] = {
	VG_CFG_KBOOL("validation", CFG, dnssec.validation, "yes"),
	VG_CFG_KCUSTOM("trust-anchor-file", parse_ta_files, dump_ta_files),
	VG_CFG_KNAMES("negative-trust-anchors", CFG, dnssec.nta, dnssec.n_nta, NULL),
	VG_CFG_KNAMES("insecure-names", CFG, dnssec.insecure, dnssec.n_insecure,
		      VG_DNSSEC_INSECURE_DEFAULT),
	VG_CFG_KUINT("clock-skew", CFG, dnssec.clock_skew, 0, 86400, "300"),
	VG_CFG_KUINT("bogus-ttl", CFG, dnssec.bogus_ttl, 0, 86400, "60"),
	VG_CFG_KUINT("max-rrsigs-per-rrset", CFG, dnssec.max_rrsigs_per_rrset, 1, 64, "8"),
	VG_CFG_KUINT("max-keys-per-tag", CFG, dnssec.max_keys_per_tag, 1, 64, "2"),
	VG_CFG_KUINT("max-validations-per-query", CFG, dnssec.max_per_query, 1, 1024, "32"),
	VG_CFG_KUINT("nsec3-max-iterations", CFG, dnssec.nsec3_max_iterations, 0, 2500, "50"),
	VG_CFG_KUINT("max-nsec3-records", CFG, dnssec.nsec3_max_records, 1, 64, "8"),
	VG_CFG_KUINT("max-nsec3-hashes", CFG, dnssec.nsec3_max_hashes, 1, 100000, "600"),
	VG_CFG_KBOOL("aggressive-nsec", CFG, dnssec.aggressive_nsec, "yes"),
	VG_CFG_KSTR("auto-trust-anchor-file", CFG, dnssec.auto_ta_file, 0, ""),
};

/* ---- forward-zones: a list of {zone, upstreams} ---- */

#define FZ struct vg_forward_zone

static void parse_upstreams(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	FZ *fz = base;
	int n = vg__cfg_addr_list(c, val, fz->upstreams, VG_RESOLV_MAX_FORWARD_ADDRS, 53,
				  "an address like 192.0.2.1, 192.0.2.1@53 or [2001:db8::1]:53",
				  NULL);

	if (n == 0)
		vg__cfg_report(c, vg__cfg_line(val), "%s: at least one upstream is needed",
			       c->where);
	fz->n_upstreams = n > 0 ? (size_t)n : 0;
}

static bool dump_upstreams(const struct vg__cfg_out *o, const char *lead, int col,
			   const struct vg__cfg_key *k, const void *base)
{
	const FZ *fz = base;

	vg__cfg_dump_addrs(o->f, lead, col, k->name, fz->upstreams, fz->n_upstreams, true);
	return true;
}

static bool check_forward(struct vg__cfg_ctx *c, void *base, const struct vg__cfg_seen *s,
			  yaml_node_t *item)
{
	FZ *fz = base;

	(void)c, (void)s, (void)item;
	fz->zone_len = vg_name_len(fz->zone);
	return true;
}

static const struct vg__cfg_key forward_keys[] = {
	VG_CFG_KNAME("zone", FZ, zone, .flags = VG_CFG_REQUIRED | VG_CFG_UNIQUE,
		     .want = "a domain name (labels of 1..63 bytes, 255 bytes in all)"),
	VG_CFG_KCUSTOM("upstreams", parse_upstreams, dump_upstreams, .flags = VG_CFG_REQUIRED),
};

static const struct vg__cfg_map forward_map = {
	.name = "forward-zones", .in = "section 'forward-zones'", .label = "forward-zones",
	.what = "a mapping with zone and upstreams", .keys = forward_keys,
	.n_keys = N(forward_keys), .size = sizeof(FZ), .ordered = true,
	.need = "an entry needs both 'zone' and 'upstreams'", .check = check_forward,
};

static const struct vg__cfg_list forward_list = {
	.item = &forward_map, .off = offsetof(CFG, resolv.forwards),
	.n_off = offsetof(CFG, resolv.n_forwards), .max = VG_RESOLV_MAX_FORWARDS,
};

/* ---- log ---- */

static const struct vg__cfg_key log_keys[] = {
	VG_CFG_KENUM("level", CFG, log.level, log_levels, "info"),
	VG_CFG_KENUM("target", CFG, log.target, log_targets, "stderr"),
};

/* ---- the root ---- */

#define SECTION(nm, tbl) \
	(&(const struct vg__cfg_map){ .name = nm, .in = "section '" nm "'", \
				      .label = "section '" nm "'", .keys = tbl, \
				      .n_keys = N(tbl) })

const struct vg__cfg_key vg__cfg_sections[VG_SEC_COUNT] = {
	[VG_SEC_SERVER] = { .name = "server", .type = VG_CFG_MAP,
			    .map = SECTION("server", server_keys) },
	[VG_SEC_CACHE] = { .name = "cache", .type = VG_CFG_MAP,
			   .map = SECTION("cache", cache_keys) },
	[VG_SEC_RESOLVER] = { .name = "resolver", .type = VG_CFG_MAP,
			      .map = SECTION("resolver", resolver_keys) },
	[VG_SEC_LIMITS] = { .name = "limits", .type = VG_CFG_MAP,
			    .map = SECTION("limits", limits_keys) },
	[VG_SEC_DNSSEC] = { .name = "dnssec", .type = VG_CFG_MAP,
			    .map = SECTION("dnssec", dnssec_keys) },
	[VG_SEC_FORWARDS] = VG_CFG_KLIST("forward-zones", &forward_list),
	[VG_SEC_POLICY] = { .name = "policy", .type = VG_CFG_MAP, .map = &vg__cfg_policy_map },
	[VG_SEC_LOG] = { .name = "log", .type = VG_CFG_MAP, .map = SECTION("log", log_keys) },
	[VG_SEC_DISCOVERY] = { .name = "discovery", .type = VG_CFG_MAP,
			       .map = &vg__cfg_discovery_map },
};
_Static_assert(N(server_keys) <= VG_CFG_MAX_KEYS && N(resolver_keys) <= VG_CFG_MAX_KEYS &&
		       N(dnssec_keys) <= VG_CFG_MAX_KEYS,
	       "raise VG_CFG_MAX_KEYS");

/* ---- defaults and cross-key checks ---- */

void vg_config_defaults(struct vg_config *cfg)
{
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < VG_SEC_COUNT; i++)
		if (vg__cfg_sections[i].type == VG_CFG_MAP)
			vg__cfg_defaults(vg__cfg_sections[i].map, cfg);
	for (i = 0; i < N(default_listen); i++)
		vg_sockaddr_parse(default_listen[i], 53, &cfg->net.listen[i]);
	cfg->net.n_listen = i;
	for (i = 0; i < N(default_acl); i++) {
		vg_prefix_parse(default_acl[i], &cfg->serve.acl.rule[i].prefix);
		cfg->serve.acl.rule[i].action = VG_ACL_ALLOW;
	}
	cfg->serve.acl.n = i;
	vg__cfg_default_policy(cfg);
	vg_config_ddr_from_config(cfg, &cfg->serve.ddr);
}

/* Report lo > hi once, at the later line the file set them on (the defaults agree). */
static void check_le(struct vg__cfg_ctx *c, int si, const char *lo_name, const char *hi_name)
{
	const struct vg__cfg_map *m = vg__cfg_sections[si].map;
	size_t lo_i = vg__cfg_key_index(m, lo_name), hi_i = vg__cfg_key_index(m, hi_name);
	const struct vg__cfg_key *lo = &m->keys[lo_i], *hi = &m->keys[hi_i];
	unsigned long long lo_v = vg__cfg_get_uint((const char *)c->cfg + lo->off, lo->size);
	unsigned long long hi_v = vg__cfg_get_uint((const char *)c->cfg + hi->off, hi->size);
	size_t l1 = c->sec[si].line[lo_i], l2 = c->sec[si].line[hi_i];

	if (lo_v <= hi_v || l1 == VG_CFG_LINE_BAD || l2 == VG_CFG_LINE_BAD)
		return;
	vg__cfg_report(c, l1 > l2 ? l1 : l2, "%s.%s (%llu) must not be larger than %s.%s (%llu)",
		       m->name, lo->name, lo_v, m->name, hi->name, hi_v);
}

void vg__cfg_finish(struct vg__cfg_ctx *c)
{
	struct vg_config *cfg = c->cfg;
	char buf[VG_ADDRSTRLEN];
	size_t i, j;

	for (i = 0; i < cfg->net.n_listen; i++) {
		if (!c->listen_port[i])
			vg_sockaddr_set_port(&cfg->net.listen[i], c->port);
		for (j = 0; j < i && !vg_sockaddr_eq(&cfg->net.listen[i], &cfg->net.listen[j]); j++)
			;
		if (j < i) {
			vg_sockaddr_str(&cfg->net.listen[i], VG_ADDR_PORT, buf, sizeof(buf));
			vg__cfg_report(c, c->listen_line[i], "server.listen: '%s' is listed twice",
				       buf);
		}
	}
	check_le(c, VG_SEC_SERVER, "tcp-max-connections-per-worker", "tcp-max-connections");
	check_le(c, VG_SEC_CACHE, "min-ttl", "max-ttl");
	check_le(c, VG_SEC_LIMITS, "upstream-timeout", "request-timeout");
	vg__cfg_discovery_finish(c);
}
