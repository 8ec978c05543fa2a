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
#include <grp.h>
#include <arpa/inet.h>
#include <string.h>

#include <sodium.h>

#include "vigil/err.h"
#include "vigil/wire.h"
#include "daemon/config_impl.h"
#include "tls/tls.h"

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

/* The encrypted listeners: each entry's port defaults to the protocol's. */
#define STREAM_LIST(fn, field, port)                                                          \
	static void parse_##fn(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)          \
	{                                                                                     \
		struct vg_net_opts *net = &((struct vg_config *)base)->net;                   \
		int n = vg__cfg_addr_list(c, val, net->field, VG_NET_MAX_LISTEN, port,        \
					  "an address like 192.0.2.1, 192.0.2.1@" #port      \
					  " or [2001:db8::1]:" #port,                         \
					  NULL);                                              \
		net->n_##field = n > 0 ? (size_t)n : 0;                                       \
	}                                                                                     \
	static bool dump_##fn(const struct vg__cfg_out *o, const char *lead, int col,        \
			      const struct vg__cfg_key *k, const void *base)                   \
	{                                                                                     \
		const struct vg_net_opts *net = &((const struct vg_config *)base)->net;       \
		vg__cfg_dump_addrs(o->f, lead, col, k->name, net->field, net->n_##field, true); \
		return true;                                                                  \
	}
STREAM_LIST(listen_tls, listen_tls, 853)
STREAM_LIST(listen_https, listen_https, 443)
STREAM_LIST(listen_http, listen_http, 80)

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
	VG_CFG_KSTR("user", CFG, run.user, 0, "vigil",
		    .want = "a user name (\"\" to stay root)"),
	VG_CFG_KSTR("state-directory", CFG, run.state_dir, 1, "/var/lib/vigil",
		    .want = "an absolute directory path shorter than 512 bytes"),
	VG_CFG_KUINT("max-udp-size", CFG, serve.max_udp_size, 512, 4096, "1232"),
	VG_CFG_KUINT("tcp-idle-timeout", CFG, net.tcp_idle_ms, 100, 600000, "10000"),
	VG_CFG_KUINT("tcp-max-connections-per-worker", CFG, net.tcp_max_per_worker, 1, 1000000,
		     "256"),
	VG_CFG_KUINT("tcp-max-connections", CFG, net.tcp_max_total, 1, 1000000, "1024"),
	VG_CFG_KUINT("tcp-max-pipeline", CFG, net.tcp_max_pipeline, 1, 1000, "100"),
	VG_CFG_KCUSTOM("access-control", parse_acl, dump_acl), /* default_acl[] */
	VG_CFG_KENUM("access-control-default", CFG, serve.acl.dflt, acl_actions, "refuse"),
	VG_CFG_KCUSTOM("listen-tls", parse_listen_tls, dump_listen_tls),
	VG_CFG_KCUSTOM("listen-https", parse_listen_https, dump_listen_https),
	VG_CFG_KCUSTOM("listen-http", parse_listen_http, dump_listen_http),
	VG_CFG_KUINT("max-connections-per-address", CFG, net.max_per_address, 0, 65535, "64"),
	VG_CFG_KBOOL("cookies", CFG, net.cookies, "yes"),
};

/* ---- http ---- */

/* A list of prefixes ("10.0.0.1", "10.0.0.0/24"), IPv4-mapped ones as IPv4. */
static size_t prefix_list(struct vg__cfg_ctx *c, yaml_node_t *val, struct vg_prefix *out,
			  size_t max)
{
	yaml_node_t *items[VG_CFG_MAX_ADDRS];
	bool bad;
	size_t n = vg__cfg_list_items(c, val, items, max < VG_CFG_MAX_ADDRS ? max : VG_CFG_MAX_ADDRS,
				      &bad), got = 0;

	for (size_t i = 0; i < n; i++) {
		int r = vg_prefix_parse((const char *)items[i]->data.scalar.value, &out[got]);
		if (r < 0) {
			vg__cfg_bad_value(c, items[i], r == VG_EINVAL
					  ? "a prefix with no bits set past its length"
					  : "an address or prefix like 10.0.0.1 or 10.0.0.0/24");
			continue;
		}
		vg_prefix_unmap(&out[got++]);
	}
	return got;
}

static void dump_prefixes(FILE *f, const char *lead, const char *name, const struct vg_prefix *p,
			  size_t n)
{
	char pfx[INET6_ADDRSTRLEN + 8];

	fprintf(f, "%s%s: [", lead, name);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s\"%s\"", i ? ", " : " ", vg_prefix_str(&p[i], pfx, sizeof(pfx)));
	fprintf(f, " ]\n");
}

static void parse_proxies(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	struct vg_net_opts *net = &((struct vg_config *)base)->net;

	net->n_trusted_proxies = prefix_list(c, val, net->trusted_proxies, VG_NET_MAX_PROXIES);
}

static bool dump_proxies(const struct vg__cfg_out *o, const char *lead, int col,
			 const struct vg__cfg_key *k, const void *base)
{
	const struct vg_net_opts *net = &((const struct vg_config *)base)->net;

	(void)col;
	dump_prefixes(o->f, lead, k->name, net->trusted_proxies, net->n_trusted_proxies);
	return true;
}

static const struct vg__cfg_key http_keys[] = {
	VG_CFG_KSTR("path", CFG, net.doh.path, 1, "/dns-query"),
	VG_CFG_KUINT("max-concurrent-streams", CFG, net.doh.max_streams, 1, 10000, "100"),
	VG_CFG_KUINT("max-header-list-size", CFG, net.doh.max_header_list, 1024, 65536, "8192"),
	VG_CFG_KSTR("forwarded-header", CFG, net.doh.forwarded_header, 0, "x-forwarded-for"),
	VG_CFG_KCUSTOM("trusted-proxies", parse_proxies, dump_proxies),
};

/* ---- rate-limit ---- */

static const char *const default_rl_exempt[] = { "127.0.0.0/8", "::1/128" };

static void parse_rl_exempt(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	struct vg_rl_opts *rl = &((struct vg_config *)base)->serve.rl;

	rl->n_exempt = prefix_list(c, val, rl->exempt, VG_RL_MAX_EXEMPT);
}

static bool dump_rl_exempt(const struct vg__cfg_out *o, const char *lead, int col,
			   const struct vg__cfg_key *k, const void *base)
{
	const struct vg_rl_opts *rl = &((const struct vg_config *)base)->serve.rl;

	(void)col;
	dump_prefixes(o->f, lead, k->name, rl->exempt, rl->n_exempt);
	return true;
}

static const struct vg__cfg_key rl_keys[] = {
	VG_CFG_KUINT("queries-per-second", CFG, serve.rl.qps, 0, 1000000, "1000"),
	VG_CFG_KUINT("burst", CFG, serve.rl.burst, 1, 4000000, "2000"),
	VG_CFG_KUINT("slip", CFG, serve.rl.slip, 0, 10, "2"),
	VG_CFG_KUINT("ipv4-prefix", CFG, serve.rl.v4_prefix, 1, 32, "32"),
	VG_CFG_KUINT("ipv6-prefix", CFG, serve.rl.v6_prefix, 1, 128, "56"),
	VG_CFG_KCUSTOM("exempt", parse_rl_exempt, dump_rl_exempt), /* default_rl_exempt[] */
};

/* ---- tls ---- */

static const struct vg__cfg_key tls_keys[] = {
	VG_CFG_KSTR("certificate", CFG, tls.certificate, 0, ""),
	VG_CFG_KSTR("key", CFG, tls.key, 0, ""),
	VG_CFG_KSTR("client-ca", CFG, tls.client_ca, 0, ""),
	VG_CFG_KSTR("server-name", CFG, tls.server_name, 0, ""),
	VG_CFG_KUINT("ticket-rotation", CFG, tls.ticket_rotation_s, 60, 604800, "43200"),
	VG_CFG_KUINT("handshake-timeout", CFG, net.tls_handshake_ms, 100, 600000, "5000"),
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
	VG_CFG_KBOOL("serve-stale", CFG, resolv.serve_stale, "no"),
	VG_CFG_KUINT("serve-stale-max", CFG, resolv.serve_stale_max, 1, 604800, "86400"),
	VG_CFG_KUINT("stale-answer-timeout", CFG, resolv.stale_answer_timeout_ms, 0, 60000,
		     "1800"),
	VG_CFG_KBOOL("ipv6-upstream", CFG, resolv.use_ipv6_upstream, "yes"),
	VG_CFG_KUINT("upstream-udp-size", CFG, upstream.udp_size, 512, 4096, "1232"),
	VG_CFG_KUINT("upstream-tls-idle-timeout", CFG, upstream.tls_idle_ms, 100, 3600000,
		     "10000"),
	VG_CFG_KUINT("upstream-tls-handshake-timeout", CFG, upstream.tls_handshake_ms, 100,
		     60000, "3000"),
	VG_CFG_KUINT("upstream-spoof-tcp", CFG, upstream.spoof_tcp, 0, 1000000, "10"),
	VG_CFG_KBOOL("upstream-cookies", CFG, upstream.cookies, "yes"),
};

static const struct vg__cfg_key limits_keys[] = {
	VG_CFG_KUINT("max-upstream-queries", CFG, resolv.max_upstream_queries, 1, 10000, "200"),
	VG_CFG_KUINT("max-subquery-depth", CFG, resolv.max_subquery_depth, 1, 64, "8"),
	VG_CFG_KUINT("max-referrals", CFG, resolv.max_referrals, 1, 200, "30"),
	VG_CFG_KUINT("max-cname-chain", CFG, resolv.max_cname_chain, 1, 64, "11"),
	VG_CFG_KUINT("max-glueless-ns", CFG, resolv.max_glueless_ns, 0, 64, "5"),
	VG_CFG_KUINT("request-timeout", CFG, serve.request_timeout_ms, 100, 600000, "5000"),
	VG_CFG_KUINT("max-requests", CFG, serve.max_requests, 16, 1000000, "4096"),
	{ .name = "request-memory", .type = VG_CFG_SIZE, VG_CFG_FIELD(CFG, serve.request_memory),
	  .min = VG_CFG_MIB, .max = SIZE_MAX, .def = "64M" },
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
	VG_CFG_KUINT("max-ds-digests", CFG, dnssec.max_ds_digests, 1, 64, "8"),
	VG_CFG_KUINT("nsec3-max-iterations", CFG, dnssec.nsec3_max_iterations, 0, 2500, "50"),
	VG_CFG_KUINT("max-nsec3-records", CFG, dnssec.nsec3_max_records, 1, 64, "8"),
	VG_CFG_KUINT("max-nsec3-hashes", CFG, dnssec.nsec3_max_hashes, 1, 100000, "600"),
	VG_CFG_KBOOL("aggressive-nsec", CFG, dnssec.aggressive_nsec, "yes"),
	VG_CFG_KSTR("auto-trust-anchor-file", CFG, dnssec.auto_ta_file, 0, ""),
};

/* ---- forward-zones: a list of {zone, upstreams, tls ...} ---- */

#define FZ struct vg_forward_zone

/*
 * DNS over TLS: "tls: yes" makes every upstream of the zone a DoT upstream
 * (default port 853), written ADDRESS[@PORT]#NAME with the name its
 * certificate must carry (Unbound's form), and/or authenticated by the
 * zone's spki-pins.  Strict only (RFC 8310): a TLS upstream with neither a
 * name nor pins is an error, and so are a #NAME, pins or a CA file in a zone
 * without tls (they would suggest an encryption that does not happen).  The
 * keys are read in table order: tls, the CA file and the pins before the
 * upstreams that need them.
 */
static void parse_upstreams(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	FZ *fz = base;
	yaml_node_t *items[VG_RESOLV_MAX_FORWARD_ADDRS];
	bool bad;
	size_t n = vg__cfg_list_items(c, val, items, VG_RESOLV_MAX_FORWARD_ADDRS, &bad), i, j;
	const char *want = fz->tls ? "an address like 192.0.2.1#dns.example.net, "
				     "192.0.2.1@853#dns.example.net or [2001:db8::1]:853#NAME"
				   : "an address like 192.0.2.1, 192.0.2.1@53 or [2001:db8::1]:53";
	char show[80];

	fz->n_upstreams = 0;
	for (i = 0; i < n; i++) {
		const char *s = (const char *)items[i]->data.scalar.value;
		const char *hash = strchr(s, '#');
		char addr[VG_ADDRSTRLEN + 16];
		size_t al = hash ? (size_t)(hash - s) : strlen(s);
		struct vg_sockaddr *sa = &fz->upstreams[fz->n_upstreams];
		char *name = fz->tls_names[fz->n_upstreams];
		uint8_t wire[VG_NAME_MAX];

		if (al >= sizeof(addr) ||
		    (memcpy(addr, s, al), addr[al] = 0,
		     vg_sockaddr_parse(addr, fz->tls ? 853 : 53, sa) < 0)) {
			vg__cfg_bad_value(c, items[i], want);
			continue;
		}
		name[0] = 0;
		if (hash && !fz->tls) {
			vg__cfg_report(c, vg__cfg_line(items[i]),
				       "%s: '%s' names a TLS authentication name, but the zone has no "
				       "'tls: yes' (its queries would go in cleartext)", c->where,
				       vg__cfg_show(s, strlen(s), show, sizeof(show)));
			continue;
		}
		if (hash) {
			size_t nl = strlen(hash + 1);
			if (!nl || nl >= VG_UPSTREAM_TLS_NAME_MAX || hash[1] == '.' ||
			    vg_config_parse_name(hash + 1, wire, sizeof(wire)) < 0 || !wire[0]) {
				vg__cfg_bad_value(c, items[i], "ADDRESS#NAME with NAME a host name, "
						  "as in the server's certificate");
				continue;
			}
			for (j = 0; j < nl; j++) /* as typed, lower-case, no final dot */
				name[j] = (char)(hash[1 + j] >= 'A' && hash[1 + j] <= 'Z'
							 ? hash[1 + j] + 32 : hash[1 + j]);
			name[nl - (hash[nl] == '.')] = 0;
		}
		if (fz->tls && !name[0] && !fz->spki_pins[0]) {
			vg__cfg_report(c, vg__cfg_line(items[i]),
				       "%s: the TLS upstream '%s' has no authentication: write "
				       "ADDRESS#NAME (the name in its certificate) or give the zone "
				       "spki-pins (vigil never talks TLS to a server it cannot "
				       "authenticate)", c->where,
				       vg__cfg_show(s, strlen(s), show, sizeof(show)));
			continue;
		}
		for (j = 0; j < fz->n_upstreams && !vg_sockaddr_eq(&fz->upstreams[j], sa); j++)
			;
		if (j < fz->n_upstreams) {
			vg__cfg_dup_value(c, items[i]);
			continue;
		}
		fz->n_upstreams++;
	}
	if (n == 0 && !bad)
		vg__cfg_report(c, vg__cfg_line(val), "%s: at least one upstream is needed",
			       c->where);
}

static bool dump_upstreams(const struct vg__cfg_out *o, const char *lead, int col,
			   const struct vg__cfg_key *k, const void *base)
{
	const FZ *fz = base;
	char buf[VG_ADDRSTRLEN];

	if (!fz->tls) {
		vg__cfg_dump_addrs(o->f, lead, col, k->name, fz->upstreams, fz->n_upstreams, true);
		return true;
	}
	fprintf(o->f, "%s%s:%s\n", lead, k->name, fz->n_upstreams ? "" : " []");
	for (size_t i = 0; i < fz->n_upstreams; i++) {
		vg_sockaddr_str(&fz->upstreams[i], VG_ADDR_PORT, buf, sizeof(buf));
		fprintf(o->f, "%*s- \"%s%s%s\"\n", col + 2, "", buf, fz->tls_names[i][0] ? "#" : "",
			fz->tls_names[i]);
	}
	return true;
}

/* spki-pins: base64 SHA-256 digests of SubjectPublicKeyInfos (RFC 7858 4.2). */
static void parse_pins(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	FZ *fz = base;
	yaml_node_t *items[VG_UPSTREAM_TLS_PINS];
	bool bad;
	size_t n = vg__cfg_list_items(c, val, items, VG_UPSTREAM_TLS_PINS, &bad), o = 0;

	fz->spki_pins[0] = 0;
	for (size_t i = 0; i < n; i++) {
		const char *s = (const char *)items[i]->data.scalar.value;
		unsigned char bin[64];
		size_t len = 0;
		const char *end = NULL;

		if (sodium_base642bin(bin, sizeof(bin), s, strlen(s), NULL, &len, &end,
				      sodium_base64_VARIANT_ORIGINAL) != 0 || *end || len != 32) {
			vg__cfg_bad_value(c, items[i], "the base64 SHA-256 digest of a server's "
					  "SubjectPublicKeyInfo (44 characters)");
			/* the load fails already: keep the upstreams from reporting the
			 * same mistake again as "no authentication" */
			if (!o)
				o = (size_t)snprintf(fz->spki_pins, sizeof(fz->spki_pins), "-");
			continue;
		}
		if (strstr(fz->spki_pins, s)) {
			vg__cfg_dup_value(c, items[i]);
			continue;
		}
		o += (size_t)snprintf(fz->spki_pins + o, sizeof(fz->spki_pins) - o, "%s%s",
				      o ? " " : "", s);
	}
	if (!fz->tls && n && !bad)
		vg__cfg_report(c, vg__cfg_line(val), "%s: pins need 'tls: yes' in the zone",
			       c->where);
}

static bool dump_pins(const struct vg__cfg_out *o, const char *lead, int col,
		      const struct vg__cfg_key *k, const void *base)
{
	const FZ *fz = base;
	const char *p = fz->spki_pins;

	if (!*p)
		return false;
	fprintf(o->f, "%s%s:\n", lead, k->name);
	while (*p) {
		size_t l = strcspn(p, " ");
		fprintf(o->f, "%*s- \"%.*s\"\n", col + 2, "", (int)l, p);
		p += l;
		p += strspn(p, " ");
	}
	return true;
}

static const struct vg__cfg_map forward_map;

static bool check_forward(struct vg__cfg_ctx *c, void *base, const struct vg__cfg_seen *s,
			  yaml_node_t *item)
{
	FZ *fz = base;
	size_t ca = vg__cfg_key_index(&forward_map, "tls-ca-file");
	char err[512];

	(void)item;
	fz->zone_len = vg_name_len(fz->zone);
	if (!fz->tls_ca_file[0])
		return true;
	if (!fz->tls) {
		vg__cfg_report(c, s->line[ca], "forward-zones.tls-ca-file: a CA file needs "
			       "'tls: yes' in the zone");
		return false;
	}
	/* the file must load now, not at the first query */
	struct vg_tls_client_opts o = { .no_verify = false };
	struct vg_tls_ctx *ctx;
	snprintf(o.ca_file, sizeof(o.ca_file), "%s", fz->tls_ca_file);
	if (vg_tls_client_new(&o, &ctx, err, sizeof(err)) < 0) {
		vg__cfg_report(c, s->line[ca], "forward-zones.tls-ca-file: %s", err);
		return false;
	}
	vg_tls_ctx_unref(ctx);
	return true;
}

static const struct vg__cfg_key forward_keys[] = {
	VG_CFG_KNAME("zone", FZ, zone, .flags = VG_CFG_REQUIRED | VG_CFG_UNIQUE,
		     .want = "a domain name (labels of 1..63 bytes, 255 bytes in all)"),
	VG_CFG_KBOOL("tls", FZ, tls, "no"),
	VG_CFG_KSTR("tls-ca-file", FZ, tls_ca_file, 0, "", .flags = VG_CFG_SKIP_EMPTY),
	VG_CFG_KCUSTOM("spki-pins", parse_pins, dump_pins),
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

/* ---- control (vigilctl's socket, src/daemon/control.c) ---- */

static const struct vg__cfg_key control_keys[] = {
	VG_CFG_KSTR("socket", CFG, control.socket, 0, VG_CONTROL_SOCKET_DEFAULT),
	VG_CFG_KSTR("mode", CFG, control.mode, 1, "0660"),
	VG_CFG_KSTR("group", CFG, control.group, 0, ""),
	VG_CFG_KSTR("listen-tls", CFG, control.listen_tls, 0, ""),
	VG_CFG_KSTR("tls-certificate", CFG, control.tls_certificate, 0, ""),
	VG_CFG_KSTR("tls-key", CFG, control.tls_key, 0, ""),
	VG_CFG_KSTR("client-ca", CFG, control.client_ca, 0, ""),
};

static const struct vg__cfg_map control_map = {
	.name = "control", .in = "section 'control'", .label = "section 'control'",
	.keys = control_keys, .n_keys = N(control_keys),
};

/* The mode is octal, the path absolute; said once, at the key's line. */
static void control_finish(struct vg__cfg_ctx *c)
{
	struct vg_control_opts *o = &c->cfg->control;
	const struct vg__cfg_seen *s = &c->sec[VG_SEC_CONTROL];
	size_t km = vg__cfg_key_index(&control_map, "mode");
	size_t ks = vg__cfg_key_index(&control_map, "socket");
	char *end;
	unsigned long m;

	m = strtoul(o->mode, &end, 8);
	if (s->line[km] != VG_CFG_LINE_BAD &&
	    (!o->mode[0] || *end || m > 0777 || o->mode[0] == '-' || o->mode[0] == '+'))
		vg__cfg_report(c, s->line[km], "control.mode: '%s' is not an octal mode "
			       "(0600, 0660, 0666)", o->mode);
	else
		o->mode_bits = (unsigned)m;
	if (s->line[ks] != VG_CFG_LINE_BAD && o->socket[0] && o->socket[0] != '/')
		vg__cfg_report(c, s->line[ks], "control.socket: '%s' is not an absolute path",
			       o->socket);
	size_t kg = vg__cfg_key_index(&control_map, "group");
	if (s->line[kg] != VG_CFG_LINE_BAD && o->group[0] && !getgrnam(o->group))
		vg__cfg_report(c, s->line[kg], "control.group: no group '%s' on this system",
			       o->group);
	/* remote access: an address with a port, and all three files */
	size_t kl = vg__cfg_key_index(&control_map, "listen-tls");
	if (s->line[kl] == VG_CFG_LINE_BAD || !o->listen_tls[0])
		return;
	if (vg_sockaddr_parse(o->listen_tls, 0, &o->tls_addr) < 0 ||
	    !vg_sockaddr_port(&o->tls_addr))
		vg__cfg_report(c, s->line[kl], "control.listen-tls: '%s' is not ADDRESS@PORT",
			       o->listen_tls);
	else if (!o->socket[0])
		vg__cfg_report(c, s->line[kl], "control.listen-tls is served beside the control "
			       "socket: control.socket must not be \"\"");
	else if (!o->tls_certificate[0] || !o->tls_key[0] || !o->client_ca[0])
		vg__cfg_report(c, s->line[kl], "control.listen-tls needs control.tls-certificate, "
			       "control.tls-key and control.client-ca (a client certificate "
			       "signed by that CA is required)");
}

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
	[VG_SEC_TLS] = { .name = "tls", .type = VG_CFG_MAP, .map = SECTION("tls", tls_keys) },
	[VG_SEC_HTTP] = { .name = "http", .type = VG_CFG_MAP, .map = SECTION("http", http_keys) },
	[VG_SEC_RATELIMIT] = { .name = "rate-limit", .type = VG_CFG_MAP,
			       .map = SECTION("rate-limit", rl_keys) },
	[VG_SEC_DISCOVERY] = { .name = "discovery", .type = VG_CFG_MAP,
			       .map = &vg__cfg_discovery_map },
	[VG_SEC_METRICS] = { .name = "metrics", .type = VG_CFG_MAP, .map = &vg__cfg_metrics_map },
	[VG_SEC_CONTROL] = { .name = "control", .type = VG_CFG_MAP, .map = &control_map },
	[VG_SEC_QLOG] = { .name = "query-log", .type = VG_CFG_MAP, .map = &vg__cfg_qlog_map },
	[VG_SEC_DNSTAP] = { .name = "dnstap", .type = VG_CFG_MAP, .map = &vg__cfg_dnstap_map },
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
	for (i = 0; i < N(default_rl_exempt); i++)
		vg_prefix_parse(default_rl_exempt[i], &cfg->serve.rl.exempt[i]);
	cfg->serve.rl.n_exempt = i;
	vg__cfg_default_policy(cfg);
	vg_config_ddr_from_config(cfg, &cfg->serve.ddr);
	cfg->control.mode_bits = 0660;
	/* policy.feed-directory: the state directory */
	memcpy(cfg->feed.directory, cfg->run.state_dir, sizeof(cfg->run.state_dir));
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

/* The line of key @p name in section @p si (0: not in the file). */
static size_t key_line(struct vg__cfg_ctx *c, int si, const char *name)
{
	const struct vg__cfg_map *m = vg__cfg_sections[si].map;
	size_t l = c->sec[si].line[vg__cfg_key_index(m, name)];
	return l == VG_CFG_LINE_BAD ? 0 : l;
}

/* Stream listeners: no address:port twice across TCP, DoT, DoH and HTTP/2
 * (SO_REUSEPORT would let two listeners share it and split the clients),
 * and TLS listeners need a certificate and key. */
static void stream_checks(struct vg__cfg_ctx *c)
{
	const struct vg_net_opts *net = &c->cfg->net;
	const struct {
		const char *key;
		const struct vg_sockaddr *a;
		size_t n;
	} l[] = { { "listen", net->listen, net->n_listen },
		  { "listen-tls", net->listen_tls, net->n_listen_tls },
		  { "listen-https", net->listen_https, net->n_listen_https },
		  { "listen-http", net->listen_http, net->n_listen_http } };
	char buf[VG_ADDRSTRLEN];
	for (size_t i = 1; i < N(l); i++)
		for (size_t a = 0; a < l[i].n; a++)
			for (size_t j = 0; j < i; j++)
				for (size_t b = 0; b < l[j].n; b++)
					if (vg_sockaddr_eq(&l[i].a[a], &l[j].a[b]))
						vg__cfg_report(c, key_line(c, VG_SEC_SERVER,
									   l[i].key),
							       "server.%s: '%s' is also in server.%s",
							       l[i].key,
							       vg_sockaddr_str(&l[i].a[a],
									       VG_ADDR_PORT, buf,
									       sizeof(buf)),
							       l[j].key);
	const char *path = net->doh.path;
	if (path[0] != '/' || strpbrk(path, "?# \t") || strstr(path, "//"))
		vg__cfg_report(c, key_line(c, VG_SEC_HTTP, "path"),
			       "http.path: expected a path like /dns-query (starting with /, "
			       "without ?, # or spaces)");
	const struct vg_tls_opts *t = &c->cfg->tls;
	for (size_t i = 1; i < 3; i++)
		if (l[i].n && (!t->certificate[0] || !t->key[0]))
			vg__cfg_report(c, key_line(c, VG_SEC_SERVER, l[i].key),
				       "server.%s needs tls.certificate and tls.key", l[i].key);
	if (t->server_name[0]) {
		uint8_t wire[VG_NAME_MAX];
		if (vg_config_parse_name(t->server_name, wire, sizeof(wire)) < 0 ||
		    strchr(t->server_name, '*'))
			vg__cfg_report(c, key_line(c, VG_SEC_TLS, "server-name"),
				       "tls.server-name: expected a host name like "
				       "dns.example.net");
	}
}

/* @p path (a buffer of @p cap bytes): a relative name becomes one inside the state
 * directory; false when the result does not fit. */
static bool in_state_dir(const struct vg_config *cfg, char *path, size_t cap)
{
	char tmp[1024];

	if (!path[0] || path[0] == '/')
		return true;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/%s", cfg->run.state_dir, path) >= cap)
		return false;
	memcpy(path, tmp, strlen(tmp) + 1);
	return true;
}

/*
 * The files vigil writes (the RFC 5011 state, the feeds' copies, the policy
 * decision log) live in server.state-directory: relative names resolve
 * inside it, and policy.feed-directory defaults to it.
 */
static void state_paths(struct vg__cfg_ctx *c)
{
	struct vg_config *cfg = c->cfg;
	const char *too_long = "%s: '%s' inside server.state-directory is too long";

	if (cfg->run.state_dir[0] != '/') {
		vg__cfg_report(c, key_line(c, VG_SEC_SERVER, "state-directory"),
			       "server.state-directory: expected an absolute path, got '%s'",
			       cfg->run.state_dir);
		return;
	}
	if (!in_state_dir(cfg, cfg->dnssec.auto_ta_file, sizeof(cfg->dnssec.auto_ta_file)))
		vg__cfg_report(c, key_line(c, VG_SEC_DNSSEC, "auto-trust-anchor-file"), too_long,
			       "dnssec.auto-trust-anchor-file", cfg->dnssec.auto_ta_file);
	if (strcmp(cfg->policy.log, "syslog") &&
	    !in_state_dir(cfg, cfg->policy.log, sizeof(cfg->policy.log)))
		vg__cfg_report(c, 0, too_long, "policy.log", cfg->policy.log);
	if (!cfg->feed.directory[0])
		snprintf(cfg->feed.directory, sizeof(cfg->feed.directory), "%s",
			 cfg->run.state_dir);
	else if (!in_state_dir(cfg, cfg->feed.directory, sizeof(cfg->feed.directory)))
		vg__cfg_report(c, 0, too_long, "policy.feed-directory", cfg->feed.directory);
	for (size_t i = 0; i < cfg->policy.n_sources; i++) {
		struct vg_policy_source *src = &cfg->policy.sources[i];
		if (src->n_primaries && !in_state_dir(cfg, src->file, sizeof(src->file)))
			vg__cfg_report(c, 0, too_long, "policy.sources.file", src->file);
	}
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
	stream_checks(c);
	check_le(c, VG_SEC_SERVER, "tcp-max-connections-per-worker", "tcp-max-connections");
	check_le(c, VG_SEC_CACHE, "min-ttl", "max-ttl");
	check_le(c, VG_SEC_LIMITS, "upstream-timeout", "request-timeout");
	state_paths(c);
	vg__cfg_discovery_finish(c);
	vg__cfg_metrics_finish(c, VG_SEC_METRICS);
	control_finish(c);
	vg__cfg_qlog_finish(c);
}
