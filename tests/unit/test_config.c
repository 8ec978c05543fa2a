/* SPDX-License-Identifier: MIT
 *
 * Unit tests for src/daemon/config.c: defaults, a full valid file, every kind
 * of error with its line number, the presentation-format parsers, the ACL
 * decision and hostile input (binary junk, deep nesting, aliases).
 *
 * Files are written to mkstemp() temporaries; error output is captured with
 * open_memstream().  contrib/vigil.yaml is found through VG_SRCDIR (the source
 * root, "." when not defined by the build).
 */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "vigil/err.h"
#include "daemon/config.h"
#include "daemon/privs.h"
#include "dnssec/ta.h"

#ifndef VG_SRCDIR
#define VG_SRCDIR "."
#endif

struct loaded {
	struct vg_config cfg;
	int ret;
	char *err; /* everything written to errout */
	int n_errors;
};

/* Write @len bytes of @text to a temp file, load it, capture the messages. */
static void load_bytes(struct loaded *l, const char *text, size_t len)
{
	char path[] = "/tmp/vg_test_config_XXXXXX";
	size_t errlen = 0;
	FILE *errout;
	char *p;
	int fd;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	errout = open_memstream(&l->err, &errlen);
	ck_assert_ptr_nonnull(errout);
	l->ret = vg_config_load(&l->cfg, path, errout);
	fclose(errout);
	unlink(path);
	l->n_errors = 0;
	for (p = l->err; *p; p++)
		l->n_errors += *p == '\n';
	/* messages name the file: rewrite it to "F" so tests can match whole lines */
	while ((p = strstr(l->err, path))) {
		*p = 'F';
		memmove(p + 1, p + strlen(path), strlen(p + strlen(path)) + 1);
	}
}

static void load_text(struct loaded *l, const char *text)
{
	load_bytes(l, text, strlen(text));
}

/* The file must be rejected with exactly one error, containing @needle. */
static void expect_error(const char *text, const char *needle)
{
	struct loaded l;

	load_text(&l, text);
	ck_assert_msg(l.ret == VG_ECONFIG, "accepted: %s", text);
	ck_assert_msg(strstr(l.err, needle), "wanted '%s', got '%s'", needle, l.err);
	ck_assert_msg(l.n_errors == 1, "wanted one error, got: %s", l.err);
	free(l.err);
}

static void expect_ok(const char *text, struct vg_config *cfg)
{
	struct loaded l;

	load_text(&l, text);
	ck_assert_msg(l.ret == 0, "rejected: %s\n%s", text, l.err);
	ck_assert_str_eq(l.err, "");
	free(l.err);
	*cfg = l.cfg;
}

/* Everything but source_file; both sides come from memset + field stores. */
static bool cfg_equal(const struct vg_config *a, const struct vg_config *b)
{
	size_t off = offsetof(struct vg_config, net);

	return !memcmp((const char *)a + off, (const char *)b + off, sizeof(*a) - off);
}

static uint16_t port_of(const struct vg_sockaddr *sa)
{
	return ntohs(sa->u.sa.sa_family == AF_INET ? sa->u.in4.sin_port : sa->u.in6.sin6_port);
}

static void sockaddr_text(const struct vg_sockaddr *sa, char *buf, size_t size)
{
	inet_ntop(sa->u.sa.sa_family,
		  sa->u.sa.sa_family == AF_INET ? (const void *)&sa->u.in4.sin_addr :
						  (const void *)&sa->u.in6.sin6_addr,
		  buf, (socklen_t)size);
}

static enum vg_acl_action acl_for(const struct vg_config *cfg, const char *addr)
{
	struct vg_sockaddr sa;

	ck_assert_int_eq(vg_sockaddr_parse(addr, 53, &sa), 0);
	return vg_acl_check(&cfg->serve.acl, &sa.u.sa);
}

/* ---- defaults ---- */

START_TEST(defaults)
{
	struct vg_config cfg;
	char buf[64];

	vg_config_defaults(&cfg);
	ck_assert_str_eq(cfg.source_file, "");
	ck_assert_uint_eq(cfg.net.n_listen, 2);
	sockaddr_text(&cfg.net.listen[0], buf, sizeof(buf));
	ck_assert_str_eq(buf, "127.0.0.1");
	sockaddr_text(&cfg.net.listen[1], buf, sizeof(buf));
	ck_assert_str_eq(buf, "::1");
	ck_assert_uint_eq(port_of(&cfg.net.listen[0]), 53);
	ck_assert_uint_eq(port_of(&cfg.net.listen[1]), 53);
	ck_assert_uint_eq(cfg.net.workers, 0);
	ck_assert_uint_eq(cfg.serve.max_udp_size, 1232);
	ck_assert_uint_eq(cfg.net.tcp_idle_ms, 10000);
	ck_assert_uint_eq(cfg.net.tcp_max_per_worker, 256);
	ck_assert_uint_eq(cfg.net.tcp_max_total, 1024);
	ck_assert_uint_eq(cfg.net.tcp_max_pipeline, 100);
	ck_assert_uint_eq(cfg.serve.acl.n, 9);
	ck_assert_int_eq(cfg.serve.acl.dflt, VG_ACL_REFUSE);
	ck_assert_uint_eq(cfg.cache.size, 64u << 20);
	ck_assert_uint_eq(cfg.cache.max_ttl, 86400);
	ck_assert_uint_eq(cfg.cache.max_neg_ttl, 3600);
	ck_assert_uint_eq(cfg.cache.min_ttl, 0);
	ck_assert_uint_eq(cfg.resolv.servfail_ttl, 5);
	ck_assert_str_eq(cfg.root_hints, "");
	ck_assert_uint_eq(cfg.upstream.n_outgoing, 0);
	ck_assert(!cfg.resolv.allow_query_localhost);
	ck_assert(cfg.resolv.allow_query_private);
	ck_assert(cfg.resolv.qname_minimisation);
	ck_assert(cfg.resolv.prime_root);
	ck_assert(!cfg.resolv.prefetch);
	ck_assert(!cfg.resolv.serve_stale);
	ck_assert_uint_eq(cfg.resolv.serve_stale_max, 86400);
	ck_assert_uint_eq(cfg.resolv.stale_answer_timeout_ms, 1800);
	ck_assert(cfg.resolv.use_ipv6_upstream);
	ck_assert_uint_eq(cfg.upstream.udp_size, 1232);
	ck_assert(cfg.upstream.cookies);
	ck_assert_uint_eq(cfg.resolv.max_upstream_queries, 200);
	ck_assert_uint_eq(cfg.resolv.max_subquery_depth, 8);
	ck_assert_uint_eq(cfg.resolv.max_referrals, 30);
	ck_assert_uint_eq(cfg.resolv.max_cname_chain, 11);
	ck_assert_uint_eq(cfg.resolv.max_glueless_ns, 5);
	ck_assert_uint_eq(cfg.serve.request_timeout_ms, 5000);
	ck_assert_uint_eq(cfg.resolv.upstream_timeout_ms, 400);
	ck_assert_uint_eq(cfg.resolv.n_forwards, 0);
	ck_assert_int_eq(cfg.log.level, 6);
	ck_assert_int_eq(cfg.log.target, VG_LOG_STDERR);
}
END_TEST

START_TEST(default_acl)
{
	struct vg_config cfg;

	vg_config_defaults(&cfg);
	ck_assert_int_eq(acl_for(&cfg, "127.0.0.1"), VG_ACL_ALLOW);
	ck_assert_int_eq(acl_for(&cfg, "::1"), VG_ACL_ALLOW);
	ck_assert_int_eq(acl_for(&cfg, "10.200.1.1"), VG_ACL_ALLOW);
	ck_assert_int_eq(acl_for(&cfg, "172.31.255.255"), VG_ACL_ALLOW);
	ck_assert_int_eq(acl_for(&cfg, "172.32.0.0"), VG_ACL_REFUSE);
	ck_assert_int_eq(acl_for(&cfg, "192.168.4.4"), VG_ACL_ALLOW);
	ck_assert_int_eq(acl_for(&cfg, "100.127.0.1"), VG_ACL_ALLOW);
	ck_assert_int_eq(acl_for(&cfg, "100.128.0.1"), VG_ACL_REFUSE);
	ck_assert_int_eq(acl_for(&cfg, "169.254.9.9"), VG_ACL_ALLOW);
	ck_assert_int_eq(acl_for(&cfg, "fd12::1"), VG_ACL_ALLOW);
	ck_assert_int_eq(acl_for(&cfg, "fe80::1"), VG_ACL_ALLOW);
	ck_assert_int_eq(acl_for(&cfg, "8.8.8.8"), VG_ACL_REFUSE);
	ck_assert_int_eq(acl_for(&cfg, "2001:db8::1"), VG_ACL_REFUSE);
	ck_assert_int_eq(acl_for(&cfg, "::ffff:10.1.1.1"), VG_ACL_ALLOW);
	ck_assert_int_eq(acl_for(&cfg, "::ffff:8.8.8.8"), VG_ACL_REFUSE);
}
END_TEST

START_TEST(empty_files_give_defaults)
{
	static const char *const texts[] = {
		"", "\n", "# only a comment\n", "---\n", "~\n", "---\n...\n",
		"server:\ncache: ~\nresolver: null\nforward-zones:\n",
	};
	struct vg_config def, cfg;
	size_t i;

	vg_config_defaults(&def);
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		expect_ok(texts[i], &cfg);
		ck_assert_msg(cfg_equal(&cfg, &def), "differs: %s", texts[i]);
		ck_assert_str_ne(cfg.source_file, "");
	}
}
END_TEST

START_TEST(example_file_is_defaults)
{
	struct vg_config def, cfg;
	char *err = NULL;
	size_t errlen = 0;
	FILE *errout = open_memstream(&err, &errlen);
	int ret = vg_config_load(&cfg, VG_SRCDIR "/contrib/vigil.yaml", errout);

	fclose(errout);
	ck_assert_msg(ret == 0, "contrib/vigil.yaml: %s", err);
	ck_assert_str_eq(err, "");
	free(err);
	vg_config_defaults(&def);
	ck_assert(cfg_equal(&cfg, &def));
}
END_TEST

/* ---- a full valid file ---- */

static const char full[] = "server:\n"
			   "  listen: [ \"192.0.2.1\", \"2001:db8::1@5353\", "
			   "\"[2001:db8::2]:853\", \"192.0.2.2:99\" ]\n"
			   "  port: 5300\n"
			   "  workers: 4\n"
			   "  max-udp-size: 4096\n"
			   "  tcp-idle-timeout: 600000\n"
			   "  tcp-max-connections-per-worker: 10\n"
			   "  tcp-max-connections: 40\n"
			   "  tcp-max-pipeline: 1\n"
			   "  access-control:\n"
			   "    - \"0.0.0.0/0 drop\"\n"
			   "    - \"192.0.2.0/24   allow\"\n"
			   "    - \"192.0.2.128/25 refuse\"\n"
			   "    - \"::/0 refuse\"\n"
			   "    - \"2001:db8::/32 allow\"\n"
			   "    - \"::ffff:198.51.100.0/120 allow\"\n"
			   "  access-control-default: allow\n"
			   "cache:\n"
			   "  size: 2g\n"
			   "  max-ttl: 3600\n"
			   "  max-negative-ttl: 60\n"
			   "  min-ttl: 30\n"
			   "  servfail-ttl: 0\n"
			   "resolver:\n"
			   "  root-hints: \"/etc/vigil/root.hints\"\n"
			   "  outgoing-address: [ 192.0.2.9, \"2001:db8::9@1234\" ]\n"
			   "  query-localhost: on\n"
			   "  query-private: off\n"
			   "  qname-minimisation: false\n"
			   "  prime-root: No\n"
			   "  prefetch: TRUE\n"
			   "  serve-stale: yes\n"
			   "  serve-stale-max: 259200\n"
			   "  stale-answer-timeout: 0\n"
			   "  ipv6-upstream: no\n"
			   "  upstream-udp-size: 512\n"
			   "  upstream-cookies: no\n"
			   "limits:\n"
			   "  max-upstream-queries: 50\n"
			   "  max-subquery-depth: 3\n"
			   "  max-referrals: 10\n"
			   "  max-cname-chain: 4\n"
			   "  max-glueless-ns: 0\n"
			   "  request-timeout: 3000\n"
			   "  upstream-timeout: 3000\n"
			   "forward-zones:\n"
			   "  - zone: Corp.Example.\n"
			   "    upstreams: [ \"192.0.2.53\", \"192.0.2.54@5353\" ]\n"
			   "  - zone: \".\"\n"
			   "    upstreams: \"2001:db8::53\"\n"
			   "  - zone: dot.example\n"
			   "    tls: yes\n"
			   "    spki-pins: [ \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\n"
			   "                 \"BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=\" ]\n"
			   "    upstreams: [ \"192.0.2.80#DNS.Example.NET.\", \"192.0.2.81@8853\",\n"
			   "                 \"[2001:db8::80]#dns.example.net\" ]\n"
			   "log:\n"
			   "  level: debug\n"
			   "  target: syslog\n";

static void check_full(const struct vg_config *cfg)
{
	static const uint8_t corp[] = "\4corp\7example";
	char buf[64];

	ck_assert_uint_eq(cfg->net.n_listen, 4);
	sockaddr_text(&cfg->net.listen[0], buf, sizeof(buf));
	ck_assert_str_eq(buf, "192.0.2.1");
	ck_assert_uint_eq(port_of(&cfg->net.listen[0]), 5300); /* port applies after the fact */
	ck_assert_uint_eq(port_of(&cfg->net.listen[1]), 5353);
	sockaddr_text(&cfg->net.listen[2], buf, sizeof(buf));
	ck_assert_str_eq(buf, "2001:db8::2");
	ck_assert_uint_eq(port_of(&cfg->net.listen[2]), 853);
	ck_assert_uint_eq(port_of(&cfg->net.listen[3]), 99);
	ck_assert_uint_eq(cfg->net.workers, 4);
	ck_assert_uint_eq(cfg->serve.max_udp_size, 4096);
	ck_assert_uint_eq(cfg->net.tcp_idle_ms, 600000);
	ck_assert_uint_eq(cfg->net.tcp_max_per_worker, 10);
	ck_assert_uint_eq(cfg->net.tcp_max_total, 40);
	ck_assert_uint_eq(cfg->net.tcp_max_pipeline, 1);
	ck_assert_uint_eq(cfg->serve.acl.n, 6);
	ck_assert_int_eq(cfg->serve.acl.rule[5].prefix.family, AF_INET); /* mapped prefix stored as IPv4 */
	ck_assert_uint_eq(cfg->serve.acl.rule[5].prefix.bits, 24);
	ck_assert_int_eq(cfg->serve.acl.dflt, VG_ACL_ALLOW);
	ck_assert_int_eq(acl_for(cfg, "192.0.2.1"), VG_ACL_ALLOW);
	ck_assert_int_eq(acl_for(cfg, "192.0.2.200"), VG_ACL_REFUSE);
	ck_assert_int_eq(acl_for(cfg, "203.0.113.1"), VG_ACL_DROP);
	ck_assert_int_eq(acl_for(cfg, "::ffff:192.0.2.129"), VG_ACL_REFUSE);
	ck_assert_int_eq(acl_for(cfg, "::ffff:198.51.100.7"), VG_ACL_ALLOW);
	ck_assert_int_eq(acl_for(cfg, "2001:db8:1::1"), VG_ACL_ALLOW);
	ck_assert_int_eq(acl_for(cfg, "2001:db9::1"), VG_ACL_REFUSE);
	ck_assert_uint_eq(cfg->cache.size, (size_t)2 << 30);
	ck_assert_uint_eq(cfg->cache.max_ttl, 3600);
	ck_assert_uint_eq(cfg->cache.max_neg_ttl, 60);
	ck_assert_uint_eq(cfg->cache.min_ttl, 30);
	ck_assert_uint_eq(cfg->resolv.servfail_ttl, 0);
	ck_assert_str_eq(cfg->root_hints, "/etc/vigil/root.hints");
	ck_assert_uint_eq(cfg->upstream.n_outgoing, 2);
	ck_assert_uint_eq(port_of(&cfg->upstream.outgoing[1]), 0);
	ck_assert(cfg->resolv.allow_query_localhost);
	ck_assert(!cfg->resolv.allow_query_private);
	ck_assert(!cfg->resolv.qname_minimisation);
	ck_assert(!cfg->resolv.prime_root);
	ck_assert(cfg->resolv.prefetch);
	ck_assert(cfg->resolv.serve_stale);
	ck_assert_uint_eq(cfg->resolv.serve_stale_max, 259200);
	ck_assert_uint_eq(cfg->resolv.stale_answer_timeout_ms, 0);
	ck_assert(!cfg->resolv.use_ipv6_upstream);
	ck_assert_uint_eq(cfg->upstream.udp_size, 512);
	ck_assert(!cfg->upstream.cookies);
	ck_assert_uint_eq(cfg->resolv.max_upstream_queries, 50);
	ck_assert_uint_eq(cfg->resolv.max_subquery_depth, 3);
	ck_assert_uint_eq(cfg->resolv.max_referrals, 10);
	ck_assert_uint_eq(cfg->resolv.max_cname_chain, 4);
	ck_assert_uint_eq(cfg->resolv.max_glueless_ns, 0);
	ck_assert_uint_eq(cfg->serve.request_timeout_ms, 3000);
	ck_assert_uint_eq(cfg->resolv.upstream_timeout_ms, 3000);
	ck_assert_uint_eq(cfg->resolv.n_forwards, 3);
	ck_assert_uint_eq(cfg->resolv.forwards[0].zone_len, sizeof(corp));
	ck_assert_mem_eq(cfg->resolv.forwards[0].zone, corp, sizeof(corp));
	ck_assert_uint_eq(cfg->resolv.forwards[0].n_upstreams, 2);
	ck_assert_uint_eq(port_of(&cfg->resolv.forwards[0].upstreams[0]), 53);
	ck_assert_uint_eq(port_of(&cfg->resolv.forwards[0].upstreams[1]), 5353);
	ck_assert_uint_eq(cfg->resolv.forwards[1].zone_len, 1);
	ck_assert_uint_eq(cfg->resolv.forwards[1].zone[0], 0);
	ck_assert_uint_eq(cfg->resolv.forwards[1].n_upstreams, 1);
	ck_assert(!cfg->resolv.forwards[0].tls);
	const struct vg_forward_zone *d = &cfg->resolv.forwards[2];
	ck_assert(d->tls);
	ck_assert_uint_eq(d->n_upstreams, 3);
	ck_assert_uint_eq(port_of(&d->upstreams[0]), 853); /* the DoT default */
	ck_assert_uint_eq(port_of(&d->upstreams[1]), 8853);
	ck_assert_uint_eq(port_of(&d->upstreams[2]), 853);
	ck_assert_str_eq(d->tls_names[0], "dns.example.net"); /* lower-case, no final dot */
	ck_assert_str_eq(d->tls_names[1], "");                /* the pins authenticate it */
	ck_assert_str_eq(d->tls_names[2], "dns.example.net");
	ck_assert_str_eq(d->spki_pins, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= "
				       "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=");
	ck_assert_str_eq(d->tls_ca_file, "");
	ck_assert_uint_eq(cfg->upstream.tls_idle_ms, 10000);
	ck_assert_uint_eq(cfg->upstream.tls_handshake_ms, 3000);
	ck_assert_int_eq(cfg->log.level, 7);
	ck_assert_int_eq(cfg->log.target, VG_LOG_SYSLOG);
}

START_TEST(full_file)
{
	struct vg_config cfg;

	expect_ok(full, &cfg);
	check_full(&cfg);
}
END_TEST

/* dump -> load gives the same config, for the defaults and for the full file */
START_TEST(dump_reloads)
{
	struct vg_config src, again;
	struct loaded l;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (_i == 0)
		vg_config_defaults(&src);
	else
		expect_ok(full, &src);
	f = open_memstream(&text, &len);
	vg_config_dump(&src, f);
	fclose(f);
	load_text(&l, text);
	ck_assert_msg(l.ret == 0, "dump does not reload: %s\n%s", l.err, text);
	ck_assert_msg(cfg_equal(&src, &l.cfg), "dump reloads differently:\n%s", text);
	again = l.cfg;
	if (_i == 1)
		check_full(&again);
	free(l.err);
	free(text);
}
END_TEST

START_TEST(port_order_independent)
{
	struct vg_config cfg;

	expect_ok("server:\n  port: 5301\n  listen: [ 127.0.0.2, \"::1@54\" ]\n", &cfg);
	ck_assert_uint_eq(port_of(&cfg.net.listen[0]), 5301);
	ck_assert_uint_eq(port_of(&cfg.net.listen[1]), 54);
	expect_ok("server:\n  port: 5302\n", &cfg); /* applies to the default listen list */
	ck_assert_uint_eq(port_of(&cfg.net.listen[0]), 5302);
	ck_assert_uint_eq(port_of(&cfg.net.listen[1]), 5302);
	expect_ok("server:\n  listen: 10.0.0.1\n", &cfg); /* one scalar is a one-item list */
	ck_assert_uint_eq(cfg.net.n_listen, 1);
	ck_assert_uint_eq(port_of(&cfg.net.listen[0]), 53);
}
END_TEST

START_TEST(acl_replaces_default)
{
	struct vg_config cfg;

	expect_ok("server:\n  access-control: [ \"192.0.2.0/24 allow\" ]\n", &cfg);
	ck_assert_uint_eq(cfg.serve.acl.n, 1);
	ck_assert_int_eq(acl_for(&cfg, "127.0.0.1"), VG_ACL_REFUSE);
	ck_assert_int_eq(acl_for(&cfg, "192.0.2.7"), VG_ACL_ALLOW);
	expect_ok("server:\n  access-control: []\n  access-control-default: allow\n", &cfg);
	ck_assert_uint_eq(cfg.serve.acl.n, 0);
	ck_assert_int_eq(acl_for(&cfg, "8.8.8.8"), VG_ACL_ALLOW);
}
END_TEST

START_TEST(acl_longest_prefix)
{
	struct vg_config cfg;
	struct sockaddr other = { .sa_family = AF_UNIX };

	expect_ok("server:\n"
		  "  access-control:\n"
		  "    - 10.1.2.0/24 drop\n"      /* longer than the /8 listed after it */
		  "    - 10.0.0.0/8 allow\n"
		  "    - 10.1.2.3/32 refuse\n"
		  "    - 10.1.0.0/16 allow\n"
		  "    - 0.0.0.0/0 refuse\n"
		  "    - 2001:db8::/32 drop\n"
		  "    - 2001:db8:ff00::/40 allow\n"
		  "  access-control-default: drop\n", &cfg);
	ck_assert_int_eq(acl_for(&cfg, "10.9.9.9"), VG_ACL_ALLOW);
	ck_assert_int_eq(acl_for(&cfg, "10.1.9.9"), VG_ACL_ALLOW);
	ck_assert_int_eq(acl_for(&cfg, "10.1.2.4"), VG_ACL_DROP);
	ck_assert_int_eq(acl_for(&cfg, "10.1.2.3"), VG_ACL_REFUSE);
	ck_assert_int_eq(acl_for(&cfg, "::ffff:10.1.2.3"), VG_ACL_REFUSE);
	ck_assert_int_eq(acl_for(&cfg, "11.0.0.1"), VG_ACL_REFUSE);
	ck_assert_int_eq(acl_for(&cfg, "2001:db8:ff12::1"), VG_ACL_ALLOW);
	ck_assert_int_eq(acl_for(&cfg, "2001:db8:fe00::1"), VG_ACL_DROP);
	ck_assert_int_eq(acl_for(&cfg, "::1"), VG_ACL_DROP); /* no IPv6 rule: the default */
	ck_assert_int_eq(vg_acl_check(&cfg.serve.acl, &other), VG_ACL_DROP);
	ck_assert_int_eq(vg_acl_check(&cfg.serve.acl, NULL), VG_ACL_DROP);
}
END_TEST

/* ---- errors, one kind at a time, with the line ---- */

START_TEST(error_unknown_key)
{
	expect_error("server:\n  workers: 2\n  foo: 1\n",
		     "F:3: unknown key 'foo' in section 'server'");
	expect_error("cache:\n  size: 1G\nbogus:\n  a: 1\n", "F:3: unknown section 'bogus'");
	expect_error("forward-zones:\n  - zone: a\n    upstreams: 192.0.2.1\n    via: x\n",
		     "F:4: unknown key 'via' in section 'forward-zones'");
	expect_error("log:\n  ? [a]\n  : b\n",
		     "F:2: section 'log': expected a key name, got a list");
}
END_TEST

START_TEST(error_duplicates)
{
	expect_error("server:\n  port: 1\n  port: 2\n",
		     "F:3: duplicate key 'port' in section 'server'");
	expect_error("log:\n  level: info\ncache: {}\nlog: {}\n", "F:4: duplicate section 'log'");
	expect_error("server:\n  listen:\n    - 127.0.0.1\n    - 127.0.0.1\n",
		     "F:4: server.listen: '127.0.0.1' is listed twice");
	/* a duplicate only once the port is applied */
	expect_error("server:\n  port: 54\n  listen:\n    - 127.0.0.1\n    - 127.0.0.1@54\n",
		     "F:5: server.listen: '127.0.0.1@54' is listed twice");
	expect_error("server:\n  access-control:\n    - 10.0.0.0/8 allow\n    - 10.0.0.0/8 drop\n",
		     "F:4: server.access-control: '10.0.0.0/8 drop' is listed twice");
	expect_error("forward-zones:\n"
		     "  - zone: example.com\n    upstreams: [ 192.0.2.1 ]\n"
		     "  - zone: EXAMPLE.com.\n    upstreams: [ 192.0.2.2 ]\n",
		     "F:4: forward-zones.zone: 'EXAMPLE.com.' is listed twice");
}
END_TEST

START_TEST(error_types)
{
	expect_error("server:\n  workers: [ 1 ]\n",
		     "F:2: server.workers: expected a single value, got a list");
	expect_error("server:\n  workers:\n    a: 1\n",
		     "F:3: server.workers: expected a single value, got a mapping");
	expect_error("server:\n  workers: four\n",
		     "F:2: server.workers: expected an integer in 0..64, got 'four'");
	expect_error("server:\n  workers: -1\n",
		     "F:2: server.workers: expected an integer in 0..64, got '-1'");
	expect_error("server:\n  workers: 0x10\n", "expected an integer in 0..64");
	expect_error("server:\n  workers: \" 1\"\n", "expected an integer in 0..64");
	expect_error("server:\n  workers: 1.5\n", "expected an integer in 0..64");
	expect_error("server:\n  listen:\n    a: b\n",
		     "F:3: server.listen: expected a list, got a mapping");
	expect_error("server:\n  listen:\n    - [ 127.0.0.1 ]\n",
		     "F:3: server.listen: expected a string, got a list");
	expect_error("server: 5\n", "F:1: section 'server': expected a mapping, got a scalar");
	expect_error("- server\n", "F:1: expected a mapping of sections at the top, got a list");
	expect_error("resolver:\n  prefetch: maybe\n",
		     "F:2: resolver.prefetch: expected yes/no, true/false or on/off, got 'maybe'");
	expect_error("resolver:\n  prefetch: [yes]\n",
		     "F:2: resolver.prefetch: expected yes or no, got a list");
	expect_error(
		"log:\n  level: verbose\n",
		"F:2: log.level: expected error, warning, notice, info or debug, got 'verbose'");
	expect_error("log:\n  target: file\n",
		     "F:2: log.target: expected stderr or syslog, got 'file'");
	expect_error("forward-zones:\n  zone: a\n",
		     "F:2: forward-zones: expected a list, got a mapping");
	expect_error(
		"forward-zones:\n  - a.example\n",
		"F:2: forward-zones: expected a mapping with zone and upstreams, got a scalar");
	expect_error("resolver:\n  root-hints: \"a\\0b\"\n",
		     "F:2: resolver.root-hints: value contains a NUL byte");
}
END_TEST

START_TEST(error_ranges)
{
	expect_error("server:\n  workers: 65\n",
		     "F:2: server.workers: expected an integer in 0..64, got '65'");
	expect_error("server:\n  port: 0\n",
		     "F:2: server.port: expected a port number in 1..65535, got '0'");
	expect_error("server:\n  port: 65536\n",
		     "F:2: server.port: expected a port number in 1..65535");
	expect_error("server:\n  max-udp-size: 511\n",
		     "F:2: server.max-udp-size: expected an integer in 512..4096");
	expect_error("server:\n  max-udp-size: 4097\n", "expected an integer in 512..4096");
	expect_error("server:\n  tcp-idle-timeout: 99\n", "expected an integer in 100..600000");
	expect_error("server:\n  tcp-max-pipeline: 1001\n", "expected an integer in 1..1000");
	expect_error("server:\n  tcp-max-pipeline: 0\n", "expected an integer in 1..1000");
	expect_error("cache:\n  servfail-ttl: 301\n",
		     "F:2: cache.servfail-ttl: expected an integer in 0..300");
	expect_error("cache:\n  max-ttl: 99999999999999999999999999\n",
		     "F:2: cache.max-ttl: expected an integer in 0..2147483647");
	expect_error("cache:\n  size: 1023k\n", "F:2: cache.size: expected a size of at least 1M");
	expect_error("cache:\n  size: 64T\n", "F:2: cache.size: expected a size");
	expect_error("cache:\n  size: 99999999999999999999G\n", "F:2: cache.size: expected a size");
	expect_error("resolver:\n  upstream-udp-size: 100\n", "expected an integer in 512..4096");
	expect_error("limits:\n  max-subquery-depth: 0\n",
		     "F:2: limits.max-subquery-depth: expected an integer in 1..64");
	expect_error("server:\n  listen: []\n",
		     "F:2: server.listen: at least one address is needed");
}
END_TEST

START_TEST(error_cross_checks)
{
	expect_error("cache:\n  max-ttl: 100\n  min-ttl: 200\n",
		     "F:3: cache.min-ttl (200) must not be larger than cache.max-ttl (100)");
	expect_error("cache:\n  min-ttl: 90000\n", "F:2: cache.min-ttl (90000) must not be larger");
	expect_error("limits:\n  upstream-timeout: 6000\n",
		     "F:2: limits.upstream-timeout (6000) must not be larger than "
		     "limits.request-timeout (5000)");
	expect_error("server:\n  tcp-max-connections: 100\n",
		     "F:2: server.tcp-max-connections-per-worker (256) must not be larger");
	/* a bad value is reported once, not again by the cross check */
	expect_error("cache:\n  max-ttl: x\n  min-ttl: 90000\n", "F:2: cache.max-ttl: expected");
}
END_TEST

START_TEST(error_addresses)
{
	expect_error("server:\n  listen: [ \"127.0.0.1\", \"localhost\" ]\n",
		     "F:2: server.listen: expected an address like 192.0.2.1, 192.0.2.1@53 or "
		     "[2001:db8::1]:53, got 'localhost'");
	expect_error("resolver:\n  outgoing-address:\n    - 300.1.1.1\n",
		     "F:3: resolver.outgoing-address: expected an address");
	expect_error(
		"server:\n  access-control:\n    - 10.1.2.3/8 allow\n",
		"F:3: server.access-control: expected a prefix with no bits set past its length, "
		"got '10.1.2.3/8 allow'");
	expect_error("server:\n  access-control:\n    - 10.0.0.0/8 permit\n",
		     "F:3: server.access-control: expected \"PREFIX ACTION\"");
	expect_error("server:\n  access-control:\n    - 10.0.0.0/8\n",
		     "F:3: server.access-control: expected");
	expect_error("server:\n  access-control:\n    - 10.0.0.0/8 allow now\n",
		     "F:3: server.access-control");
	expect_error("server:\n  access-control:\n    - 10.0.0.0/33 allow\n",
		     "F:3: server.access-control");
	expect_error(
		"server:\n  access-control-default: permit\n",
		"F:2: server.access-control-default: expected allow, refuse or drop, got 'permit'");
}
END_TEST

START_TEST(error_forward_zones)
{
	expect_error("forward-zones:\n  - zone: a..b\n    upstreams: [ 192.0.2.1 ]\n",
		     "F:2: forward-zones.zone: expected a domain name");
	expect_error("forward-zones:\n  - zone: a.example\n",
		     "F:2: forward-zones: an entry needs both");
	expect_error("forward-zones:\n  - zone: a.example\n    upstreams: []\n",
		     "F:3: forward-zones.upstreams: at least one upstream is needed");
	expect_error(
		"forward-zones:\n  - zone: a.example\n    upstreams: [ 192.0.2.1, 192.0.2.1@53 ]\n",
		"F:3: forward-zones.upstreams: '192.0.2.1@53' is listed twice");
	expect_error("forward-zones:\n  - zone: a\n    zone: b\n    upstreams: 192.0.2.1\n",
		     "F:3: duplicate key 'zone' in section 'forward-zones'");
	expect_error("forward-zones:\n  - zone: a\n    upstreams: [ 192.0.2.1,\n"
		     "      192.0.2.2, 192.0.2.3, 192.0.2.4, 192.0.2.5, 192.0.2.6, 192.0.2.7,\n"
		     "      192.0.2.8, 192.0.2.9, 192.0.2.10, 192.0.2.11, 192.0.2.12, 192.0.2.13,\n"
		     "      192.0.2.14, 192.0.2.15, 192.0.2.16, 192.0.2.17 ]\n",
		     "F:6: forward-zones.upstreams: too many entries (at most 16)");
}
END_TEST

/* DNS over TLS upstreams: strict only, so every way of not authenticating
 * the server, or of seeming to use TLS without it, is an error at its line. */
START_TEST(error_forward_tls)
{
	static const char pin[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	char text[1024];

	expect_error("forward-zones:\n  - zone: a\n    tls: yes\n"
		     "    upstreams: [ \"192.0.2.1#dns.example\",\n      192.0.2.2 ]\n",
		     "F:5: forward-zones.upstreams: the TLS upstream '192.0.2.2' has no "
		     "authentication: write ADDRESS#NAME");
	expect_error("forward-zones:\n  - zone: a\n    upstreams: [ \"192.0.2.1#dns.example\" ]\n",
		     "F:3: forward-zones.upstreams: '192.0.2.1#dns.example' names a TLS "
		     "authentication name, but the zone has no 'tls: yes'");
	snprintf(text, sizeof(text), "forward-zones:\n  - zone: a\n    upstreams: 192.0.2.1\n"
		 "    spki-pins: [ \"%s\" ]\n", pin);
	expect_error(text, "F:4: forward-zones.spki-pins: pins need 'tls: yes' in the zone");
	expect_error("forward-zones:\n  - zone: a\n    tls: yes\n"
		     "    spki-pins: [ \"c2hvcnQ=\" ]\n    upstreams: 192.0.2.1\n",
		     "F:4: forward-zones.spki-pins: expected the base64 SHA-256 digest");
	expect_error("forward-zones:\n  - zone: a\n    tls: yes\n"
		     "    upstreams: \"192.0.2.1#\"\n",
		     "F:4: forward-zones.upstreams: expected ADDRESS#NAME with NAME a host name");
	expect_error("forward-zones:\n  - zone: a\n    tls: yes\n"
		     "    upstreams: \"192.0.2.1#a..b\"\n",
		     "F:4: forward-zones.upstreams: expected ADDRESS#NAME");
	struct loaded l;
	load_text(&l, "forward-zones:\n  - zone: a\n    tls: maybe\n"
		  "    upstreams: \"192.0.2.1#a.b\"\n");
	ck_assert_int_eq(l.ret, VG_ECONFIG);
	ck_assert_msg(strstr(l.err, "F:3: forward-zones.tls: expected"), "%s", l.err);
	free(l.err);
	expect_error("forward-zones:\n  - zone: a\n    tls-ca-file: /etc/hostname\n"
		     "    upstreams: \"192.0.2.1\"\n",
		     "F:3: forward-zones.tls-ca-file: a CA file needs 'tls: yes'");
	expect_error("forward-zones:\n  - zone: a\n    tls: yes\n"
		     "    tls-ca-file: /nonexistent/ca.pem\n    upstreams: \"192.0.2.1#a.b\"\n",
		     "F:4: forward-zones.tls-ca-file: cannot load the CA certificates "
		     "/nonexistent/ca.pem");
	snprintf(text, sizeof(text), "forward-zones:\n  - zone: a\n    tls: yes\n"
		 "    spki-pins: [ \"%s\", \"%s\" ]\n    upstreams: 192.0.2.1\n", pin, pin);
	expect_error(text, "F:4: forward-zones.spki-pins: '" /* the second */);
	/* a zone that is all right: pins only, the order of the keys does not matter */
	struct vg_config cfg;
	snprintf(text, sizeof(text), "forward-zones:\n  - upstreams: [ 192.0.2.1, \"::1@5353\" ]\n"
		 "    spki-pins: \"%s\"\n    tls: on\n    zone: a\n", pin);
	expect_ok(text, &cfg);
	ck_assert(cfg.resolv.forwards[0].tls);
	ck_assert_uint_eq(port_of(&cfg.resolv.forwards[0].upstreams[0]), 853);
	ck_assert_uint_eq(port_of(&cfg.resolv.forwards[0].upstreams[1]), 5353);
	ck_assert_str_eq(cfg.resolv.forwards[0].spki_pins, pin);
}
END_TEST

START_TEST(error_syntax)
{
	expect_error("server:\n  port: 53\n  workers: [ 1\n", "F:4: syntax error: ");
	expect_error("server:\n  port: 53\n listen: x\n", "F:3: syntax error: ");
	expect_error("server:\n\tport: 53\n", "F:2: syntax error: ");
	expect_error("a: *nowhere\n", "F:1: syntax error: ");
	expect_error("server: {}\n---\nserver: {}\n", "F:2: only one YAML document is allowed");
	expect_error("server: {}\n---\nserver: [\n", "F:2: only one YAML document is allowed");
	expect_error("server: {}\n---\n", "F:2: only one YAML document is allowed");
	expect_error(
		"server:\n  listen: "
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
		"F:2: nested deeper than 32 levels");
}
END_TEST

START_TEST(error_invalid_utf8)
{
	static const char text[] = "log:\n  level: info\n  target: \xff\xfe\n";
	struct loaded l;

	load_bytes(&l, text, sizeof(text) - 1);
	ck_assert_int_eq(l.ret, VG_ECONFIG);
	ck_assert_msg(strstr(l.err, "F:3: syntax error"), "%s", l.err);
	free(l.err);
}
END_TEST

START_TEST(all_errors_reported)
{
	struct loaded l;

	load_text(&l, "server:\n"
		      "  workers: 100\n"       /* 2 */
		      "  colour: blue\n"       /* 3 */
		      "  listen: [ 127.0.0.1, nowhere ]\n" /* 4 */
		      "cache:\n"
		      "  size: 1k\n"           /* 6 */
		      "resolver:\n"
		      "  prefetch: sometimes\n" /* 8 */
		      "log:\n"
		      "  level: loud\n");      /* 10 */
	ck_assert_int_eq(l.ret, VG_ECONFIG);
	ck_assert_int_eq(l.n_errors, 6);
	ck_assert_ptr_nonnull(strstr(l.err, "F:2: server.workers"));
	ck_assert_ptr_nonnull(strstr(l.err, "F:3: unknown key 'colour'"));
	ck_assert_ptr_nonnull(strstr(l.err, "F:4: server.listen"));
	ck_assert_ptr_nonnull(strstr(l.err, "F:6: cache.size"));
	ck_assert_ptr_nonnull(strstr(l.err, "F:8: resolver.prefetch"));
	ck_assert_ptr_nonnull(strstr(l.err, "F:10: log.level"));
	free(l.err);
}
END_TEST

START_TEST(missing_file)
{
	struct vg_config cfg;
	char *err = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&err, &len);

	ck_assert_int_eq(vg_config_load(&cfg, "/nonexistent/vigil.yaml", f), -ENOENT);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/vigil.yaml: cannot read"));
	free(err);
	ck_assert_int_lt(vg_config_load(&cfg, "/tmp", NULL), 0); /* a directory */
}
END_TEST

START_TEST(huge_file)
{
	size_t n = 5u << 20;
	char *text = malloc(n);
	struct loaded l;

	memset(text, '\n', n); /* valid YAML, but no config file is 5 MiB */
	load_bytes(&l, text, n);
	free(text);
	ck_assert_int_eq(l.ret, -EFBIG);
	ck_assert_ptr_nonnull(strstr(l.err, "cannot read: File too large"));
	free(l.err);
}
END_TEST

/* ---- hostile input: any result but a crash or a leak; errors must be reported ---- */

START_TEST(hostile)
{
	struct loaded l;
	size_t n = 200000, i;
	char *big = malloc(2 * n + 64);

	/* deep nesting */
	for (i = 0; i < n; i++)
		big[i] = '[';
	load_bytes(&l, big, n);
	ck_assert_int_eq(l.ret, VG_ECONFIG);
	ck_assert_str_eq(l.err, "F:1: nested deeper than 32 levels\n");
	free(l.err);
	memcpy(big, "server:\n  listen: ", 18);
	for (i = 0; i < n; i++)
		big[18 + i] = '[', big[18 + n + i] = ']';
	load_bytes(&l, big, 18 + 2 * n);
	ck_assert_int_eq(l.ret, VG_ECONFIG);
	free(l.err);
	/* binary junk */
	srand(1);
	for (i = 0; i < n; i++)
		big[i] = (char)rand();
	load_bytes(&l, big, n);
	ck_assert_int_eq(l.ret, VG_ECONFIG);
	ck_assert_int_ge(l.n_errors, 1);
	free(l.err);
	/* a huge scalar key: the message is cut short */
	memset(big, 'k', n);
	memcpy(big + n, ": 1\n", 5);
	load_text(&l, big);
	ck_assert_int_eq(l.ret, VG_ECONFIG);
	ck_assert_int_lt(strlen(l.err), 300);
	free(l.err);
	free(big);
	/* aliases, including one that refers to its own mapping */
	load_text(&l, "server: &s\n  workers: 2\n  again: *s\n");
	ck_assert_int_eq(l.ret, VG_ECONFIG);
	free(l.err);
	load_text(&l, "x: &a [ *a ]\n");
	ck_assert_int_eq(l.ret, VG_ECONFIG);
	free(l.err);
	load_text(&l, "a: &a [1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\n"
		      "c: &c [*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c]\n"
		      "e: &e [*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e]\n");
	ck_assert_int_eq(l.ret, VG_ECONFIG);
	free(l.err);
	/* aliases where values are expected are simply shared values */
	load_text(&l, "limits:\n  max-referrals: &n 20\n  max-cname-chain: *n\n");
	ck_assert_int_eq(l.ret, 0);
	ck_assert_uint_eq(l.cfg.resolv.max_cname_chain, 20);
	free(l.err);
	/* tags, odd keys, control characters in messages */
	load_text(&l, "server:\n  !!binary workers: 1\n  \"\\x01\\e\": 2\n  ? |\n    x\n  : 3\n");
	ck_assert_int_eq(l.ret, VG_ECONFIG);
	ck_assert_ptr_nonnull(strstr(l.err, "unknown key '\\x01\\x1b'"));
	free(l.err);
	load_text(&l, "forward-zones:\n  - { zone: ., upstreams: *x }\n");
	ck_assert_int_eq(l.ret, VG_ECONFIG);
	free(l.err);
}
END_TEST

/* ---- the small parsers ---- */

START_TEST(parse_sockaddr)
{
	struct vg_sockaddr sa;
	char buf[64];

	ck_assert_int_eq(vg_sockaddr_parse("1.2.3.4", 53, &sa), 0);
	ck_assert_int_eq(sa.u.sa.sa_family, AF_INET);
	ck_assert_uint_eq(sa.len, sizeof(struct sockaddr_in));
	ck_assert_uint_eq(port_of(&sa), 53);
	ck_assert_int_eq(vg_sockaddr_parse("1.2.3.4@5353", 53, &sa), 0);
	ck_assert_uint_eq(port_of(&sa), 5353);
	ck_assert_int_eq(vg_sockaddr_parse("1.2.3.4:853", 53, &sa), 0);
	ck_assert_uint_eq(port_of(&sa), 853);
	ck_assert_int_eq(vg_sockaddr_parse("::1", 53, &sa), 0);
	ck_assert_int_eq(sa.u.sa.sa_family, AF_INET6);
	ck_assert_uint_eq(sa.len, sizeof(struct sockaddr_in6));
	ck_assert_uint_eq(port_of(&sa), 53);
	ck_assert_int_eq(vg_sockaddr_parse("::1@5353", 53, &sa), 0);
	ck_assert_uint_eq(port_of(&sa), 5353);
	ck_assert_int_eq(vg_sockaddr_parse("[::1]:5353", 53, &sa), 0);
	ck_assert_uint_eq(port_of(&sa), 5353);
	ck_assert_int_eq(vg_sockaddr_parse("[2001:db8::1]", 7, &sa), 0);
	ck_assert_uint_eq(port_of(&sa), 7);
	sockaddr_text(&sa, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2001:db8::1");
	ck_assert_int_eq(vg_sockaddr_parse("::ffff:1.2.3.4@1", 53, &sa), 0);
	ck_assert_int_eq(sa.u.sa.sa_family, AF_INET6);
	ck_assert_int_eq(vg_sockaddr_parse("fe80::1%1@53", 53, &sa), 0);
	ck_assert_uint_eq(sa.u.in6.sin6_scope_id, 1);
	ck_assert_int_eq(vg_sockaddr_parse("fe80::1%lo", 53, &sa), 0);
	ck_assert_uint_ne(sa.u.in6.sin6_scope_id, 0);

	static const char *const bad[] = {
		"", "@53", "1.2.3.4@", "1.2.3.4@0", "1.2.3.4@65536", "1.2.3.4@53x", "1.2.3.4@-1",
		"1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4", "localhost", "[::1",
		"[::1]x", "[::1]:", "[1.2.3.4]:53", "::1:", "1::2::3", "::1@53@54", "fe80::1%",
		"fe80::1%nosuchif0", "1.2.3.4%1", "[::1]:99999999999999999999", "127.1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(vg_sockaddr_parse(bad[i], 53, &sa) < 0, "accepted '%s'",
			      bad[i]);
}
END_TEST

START_TEST(parse_prefix)
{
	struct vg_prefix p;

	ck_assert_int_eq(vg_prefix_parse("10.0.0.0/8", &p), 0);
	ck_assert_int_eq(p.family, AF_INET);
	ck_assert_uint_eq(p.bits, 8);
	ck_assert_uint_eq(p.addr[0], 10);
	ck_assert_int_eq(vg_prefix_parse("192.0.2.1", &p), 0);
	ck_assert_uint_eq(p.bits, 32);
	ck_assert_int_eq(vg_prefix_parse("0.0.0.0/0", &p), 0);
	ck_assert_uint_eq(p.bits, 0);
	ck_assert_int_eq(vg_prefix_parse("::/0", &p), 0);
	ck_assert_int_eq(p.family, AF_INET6);
	ck_assert_int_eq(vg_prefix_parse("2001:db8::/32", &p), 0);
	ck_assert_uint_eq(p.bits, 32);
	ck_assert_int_eq(vg_prefix_parse("::1", &p), 0);
	ck_assert_uint_eq(p.bits, 128);
	ck_assert_int_eq(vg_prefix_parse("172.16.0.0/12", &p), 0);
	ck_assert_int_eq(vg_prefix_parse("10.1.2.3/8", &p), VG_EINVAL);
	ck_assert_int_eq(vg_prefix_parse("172.17.0.0/12", &p), VG_EINVAL);
	ck_assert_int_eq(vg_prefix_parse("2001:db8::1/64", &p), VG_EINVAL);
	ck_assert_int_eq(vg_prefix_parse("fe80::/8", &p), VG_EINVAL);

	static const char *const bad[] = {
		"", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/8/8",
		"10.0.0.0/ 8", "10.0.0/8", "x/8", "10.0.0.0/08x", "2001:db8::/99999999999999999999",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(vg_prefix_parse(bad[i], &p) < 0, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(parse_size)
{
	static const struct {
		const char *s;
		size_t v;
	} good[] = {
		{ "0", 0 },	    { "1048576", 1048576 },    { "1k", 1024 },
		{ "512K", 524288 }, { "64M", 64u << 20 },      { "64m", 64u << 20 },
		{ "1G", 1u << 30 }, { "3g", (size_t)3 << 30 },
	};
	static const char *const bad[] = {
		"", "M", "1.5M", "-1", "+1", " 1M", "1M ", "1MB", "1T", "0x10", "1kk",
		"99999999999999999999", "18446744073709551616", "17179869184G",
	};
	size_t v, i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_int_eq(vg_config_parse_size(good[i].s, &v), 0);
		ck_assert_uint_eq(v, good[i].v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(vg_config_parse_size(bad[i], &v) < 0, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(parse_name)
{
	uint8_t out[VG_NAME_MAX + 10];
	char name[600];
	size_t i;

	ck_assert_int_eq(vg_config_parse_name(".", out, sizeof(out)), 1);
	ck_assert_uint_eq(out[0], 0);
	ck_assert_int_eq(vg_config_parse_name("Example.COM", out, sizeof(out)), 13);
	ck_assert_mem_eq(out, "\7example\3com", 13);
	ck_assert_int_eq(vg_config_parse_name("example.com.", out, sizeof(out)), 13);
	ck_assert_mem_eq(out, "\7example\3com", 13);
	ck_assert_int_eq(vg_config_parse_name("a\\.b.c", out, sizeof(out)), 7);
	ck_assert_mem_eq(out, "\3a.b\1c", 7);
	ck_assert_int_eq(vg_config_parse_name("\\065\\.\\\\x", out, sizeof(out)), 6);
	ck_assert_mem_eq(out, "\4a.\\x", 6);
	ck_assert_int_eq(vg_config_parse_name("\\000", out, sizeof(out)), 3);
	ck_assert_mem_eq(out, "\1\0", 3);
	ck_assert_int_eq(vg_config_parse_name("a.b", out, 4), VG_ENOSPACE);
	ck_assert_int_eq(vg_config_parse_name("a.b", out, 5), 5);

	static const char *const bad[] = { "", "..", "a..b", ".a", "a..", "\\", "a\\", "\\25",
					   "\\2a5", "\\256" };
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(vg_config_parse_name(bad[i], out, sizeof(out)) < 0, "accepted '%s'",
			      bad[i]);

	/* 63-byte labels are fine, 64 are not */
	memset(name, 'a', 63);
	name[63] = '\0';
	ck_assert_int_eq(vg_config_parse_name(name, out, sizeof(out)), 65);
	memset(name, 'a', 64);
	name[64] = '\0';
	ck_assert_int_lt(vg_config_parse_name(name, out, sizeof(out)), 0);
	/* 255 bytes of wire form are fine, 256 are not: 4 labels of 63 + root = 257 ... */
	for (i = 0; i < 4; i++) {
		memset(name + i * 64, 'b', 63);
		name[i * 64 + 63] = '.';
	}
	name[4 * 64 - 1] = '\0'; /* 4 x 63-byte labels: 4 * 64 + 1 = 257 bytes */
	ck_assert_int_lt(vg_config_parse_name(name, out, sizeof(out)), 0);
	name[3 * 64 + 61] = '\0'; /* last label 61 bytes: 3 * 64 + 62 + 1 = 255 */
	ck_assert_int_eq(vg_config_parse_name(name, out, sizeof(out)), 255);
	name[3 * 64 + 61] = 'b'; /* last label 62 bytes: 256 */
	name[3 * 64 + 62] = '\0';
	ck_assert_int_lt(vg_config_parse_name(name, out, sizeof(out)), 0);
	/* escapes count once: \\098 is one byte */
	for (i = 0; i < 60; i++)
		memcpy(name + i * 4, "\\098", 4);
	name[240] = '\0';
	ck_assert_int_eq(vg_config_parse_name(name, out, sizeof(out)), 62);
	ck_assert_uint_eq(out[1], 'b');
}
END_TEST

START_TEST(prefix_contains)
{
	struct vg_prefix p;
	uint8_t a4[4] = { 10, 1, 2, 3 }, a6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0xff };

	vg_prefix_parse("10.0.0.0/8", &p);
	ck_assert(vg_prefix_contains(&p, AF_INET, a4));
	ck_assert(!vg_prefix_contains(&p, AF_INET6, a6));
	a4[0] = 11;
	ck_assert(!vg_prefix_contains(&p, AF_INET, a4));
	vg_prefix_parse("0.0.0.0/0", &p);
	ck_assert(vg_prefix_contains(&p, AF_INET, a4));
	vg_prefix_parse("11.1.2.3", &p);
	ck_assert(vg_prefix_contains(&p, AF_INET, a4));
	a4[3] = 4;
	ck_assert(!vg_prefix_contains(&p, AF_INET, a4));
	vg_prefix_parse("11.1.2.0/30", &p); /* .0 - .3 */
	ck_assert(!vg_prefix_contains(&p, AF_INET, a4));
	a4[3] = 3;
	ck_assert(vg_prefix_contains(&p, AF_INET, a4));
	ck_assert_int_eq(vg_prefix_parse("2001:db8:fe00::/39", &p), 0); /* ff, fe match */
	ck_assert(vg_prefix_contains(&p, AF_INET6, a6));
	a6[4] = 0xfe;
	ck_assert(vg_prefix_contains(&p, AF_INET6, a6));
	a6[4] = 0xfc;
	ck_assert(!vg_prefix_contains(&p, AF_INET6, a6));
	vg_prefix_parse("::/0", &p);
	ck_assert(vg_prefix_contains(&p, AF_INET6, a6));
	ck_assert(!vg_prefix_contains(&p, AF_INET, a4));
	p.bits = 129; /* malformed prefixes match nothing */
	ck_assert(!vg_prefix_contains(&p, AF_INET6, a6));
}
END_TEST


/* ---- server.user, server.state-directory: where the written files go ---- */

START_TEST(state_directory_config)
{
	struct vg_config cfg;

	vg_config_defaults(&cfg);
	ck_assert_str_eq(cfg.run.user, "vigil");
	ck_assert_str_eq(cfg.run.state_dir, "/var/lib/vigil");
	/* relative names of written files resolve inside the state directory */
	expect_ok("server:\n  user: \"\"\n  state-directory: /srv/vs\n"
		  "dnssec:\n  auto-trust-anchor-file: root.autota\n"
		  "policy:\n  log: logs/policy.log\n  sources:\n"
		  "    - name: live\n      primary: 192.0.2.1\n      zone: rpz.example\n"
		  "    - name: own\n      primary: 192.0.2.1\n      zone: own.example\n"
		  "      file: copies/own.rpz\n"
		  "    - name: fixed\n      primary: 192.0.2.1\n      zone: f.example\n"
		  "      file: /abs/f.rpz\n"
		  "  groups:\n    - name: all\n      clients: [ 0.0.0.0/0 ]\n"
		  "      sources: [ live, own, fixed ]\n", &cfg);
	ck_assert_str_eq(cfg.run.user, "");
	ck_assert_str_eq(cfg.dnssec.auto_ta_file, "/srv/vs/root.autota");
	ck_assert_str_eq(cfg.policy.log, "/srv/vs/logs/policy.log");
	ck_assert_str_eq(cfg.feed.directory, "/srv/vs");
	ck_assert_str_eq(cfg.policy.sources[0].file, "/srv/vs/live.rpz");
	ck_assert_str_eq(cfg.policy.sources[1].file, "/srv/vs/copies/own.rpz");
	ck_assert_str_eq(cfg.policy.sources[2].file, "/abs/f.rpz");
	const char *files[8];
	ck_assert_uint_eq(vg_privs_written_files(&cfg, files, 8), 5);
	ck_assert_str_eq(files[0], "/srv/vs/root.autota");
	ck_assert_str_eq(files[1], "/srv/vs/logs/policy.log");
	/* a relative feed-directory is inside it too; syslog stays syslog */
	expect_ok("server:\n  state-directory: /srv/vs\n"
		  "policy:\n  log: syslog\n  feed-directory: feeds\n", &cfg);
	ck_assert_str_eq(cfg.feed.directory, "/srv/vs/feeds");
	ck_assert_str_eq(cfg.policy.log, "syslog");
	expect_error("server:\n  state-directory: var/lib/vigil\n",
		     "F:2: server.state-directory: expected an absolute path, got 'var/lib/vigil'");
}
END_TEST

/* ---- policy: RPZ feeds (primary, zone, tsig-key, tsig-keys, feed-directory) ---- */

static const char feeds[] =
	"policy:\n"
	"  feed-directory: /tmp/vg-feeds\n"
	"  tsig-keys:\n"
	"    - name: Feed-Key\n"
	"      secret: \"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=\"\n"
	"    - name: key2.example.\n"
	"      algorithm: hmac-sha512.\n"
	"      secret: \"AAECAwQ=\"\n"
	"    - name: old\n"
	"      algorithm: HMAC-SHA1\n"
	"      secret: \"AQ==\"\n"
	"  sources:\n"
	"    - name: live\n"
	"      type: rpz\n"
	"      primary: [ 192.0.2.1, \"[2001:db8::1]:5353\" ]\n"
	"      zone: RPZ.Example.org\n"
	"      tsig-key: feed-key\n"
	"    - name: local\n"
	"      file: /tmp/local.rpz\n"
	"    - name: mirrored\n"
	"      primary: 192.0.2.2@5300\n"
	"      zone: m.rpz\n"
	"      file: /srv/m.rpz\n"
	"  groups:\n"
	"    - name: all\n"
	"      clients: [ 0.0.0.0/0 ]\n"
	"      sources: [ live, local, mirrored ]\n";

START_TEST(feed_config)
{
	struct vg_config cfg;
	uint8_t zone[VG_NAME_MAX], key[VG_NAME_MAX];
	char host[64];

	vg_config_defaults(&cfg);
	ck_assert_str_eq(cfg.feed.directory, "/var/lib/vigil");
	ck_assert_uint_eq(cfg.feed.n_tsig_keys, 0);
	ck_assert_uint_eq(cfg.policy.sources[0].n_primaries, 0);

	expect_ok(feeds, &cfg);
	ck_assert_str_eq(cfg.feed.directory, "/tmp/vg-feeds");
	ck_assert_uint_eq(cfg.feed.n_tsig_keys, 3);
	ck_assert_int_gt(vg_config_parse_name("feed-key", key, sizeof(key)), 0);
	ck_assert_mem_eq(cfg.feed.tsig_keys[0].name, key, 10);
	ck_assert_int_eq(cfg.feed.tsig_keys[0].alg, VG_TSIG_HMAC_SHA256);
	ck_assert_uint_eq(cfg.feed.tsig_keys[0].secret_len, 32);
	ck_assert_mem_eq(cfg.feed.tsig_keys[0].secret, "secret-secret-secret-secret-1234", 32);
	ck_assert_int_eq(cfg.feed.tsig_keys[1].alg, VG_TSIG_HMAC_SHA512);
	ck_assert_uint_eq(cfg.feed.tsig_keys[1].secret_len, 5);
	ck_assert_int_eq(cfg.feed.tsig_keys[2].alg, VG_TSIG_HMAC_SHA1);

	const struct vg_policy_source *live = &cfg.policy.sources[0];
	ck_assert_str_eq(live->name, "live");
	ck_assert_str_eq(live->file, "/tmp/vg-feeds/live.rpz"); /* the default copy */
	ck_assert_uint_eq(live->n_primaries, 2);
	ck_assert_uint_eq(port_of(&live->primaries[0]), 53);
	ck_assert_uint_eq(port_of(&live->primaries[1]), 5353);
	sockaddr_text(&live->primaries[1], host, sizeof(host));
	ck_assert_str_eq(host, "2001:db8::1");
	ck_assert_int_gt(vg_config_parse_name("rpz.example.org", zone, sizeof(zone)), 0);
	ck_assert_mem_eq(live->zone, zone, 17); /* lower-case */
	ck_assert_uint_eq(live->tsig_key, 1);

	ck_assert_uint_eq(cfg.policy.sources[1].n_primaries, 0); /* a plain file */
	ck_assert_uint_eq(cfg.policy.sources[1].tsig_key, 0);
	const struct vg_policy_source *m = &cfg.policy.sources[2];
	ck_assert_str_eq(m->file, "/srv/m.rpz"); /* an explicit copy */
	ck_assert_uint_eq(m->n_primaries, 1);
	ck_assert_uint_eq(port_of(&m->primaries[0]), 5300);
	ck_assert_uint_eq(m->tsig_key, 0);

	/* keys and the feed directory may come after the sources that use them */
	expect_ok("policy:\n  sources:\n    - name: f\n      primary: 192.0.2.1\n"
		  "      zone: z\n      tsig-key: k2\n"
		  "  tsig-keys:\n    - { name: k1, secret: AQ== }\n    - { name: k2, secret: Ag== }\n"
		  "  feed-directory: /d\n", &cfg);
	ck_assert_uint_eq(cfg.policy.sources[0].tsig_key, 2);
	ck_assert_str_eq(cfg.policy.sources[0].file, "/d/f.rpz");
}
END_TEST

/* the feed keys survive dump -> load (secrets included: it is the effective config) */
START_TEST(feed_dump_reloads)
{
	struct vg_config src;
	struct loaded l;
	char *text = NULL;
	size_t len = 0;

	expect_ok(feeds, &src);
	FILE *f = open_memstream(&text, &len);
	vg_config_dump(&src, f);
	fclose(f);
	load_text(&l, text);
	ck_assert_msg(l.ret == 0, "dump does not reload: %s\n%s", l.err, text);
	ck_assert_msg(cfg_equal(&src, &l.cfg), "dump reloads differently:\n%s", text);
	free(l.err);
	free(text);
}
END_TEST

#define FEED_HEAD "policy:\n  sources:\n    - name: f\n"

START_TEST(error_feeds)
{
	expect_error(FEED_HEAD "      primary: 192.0.2.1\n",
		     "F:3: policy.sources: a feed ('primary') needs 'zone'");
	/* (zone with file alone is fine: the name of a zone file without $ORIGIN) */
	expect_error(FEED_HEAD "      type: hosts\n      file: /x\n      zone: rpz.example\n",
		     "F:6: policy.sources.zone: only for an rpz source");
	expect_error(FEED_HEAD "      file: /x\n      zone: .\n",
		     "F:5: policy.sources.zone: expected a domain name (the policy zone");
	expect_error(FEED_HEAD "      file: /x\n      tsig-key: k\n",
		     "F:5: policy.sources.tsig-key: only for a feed");
	expect_error(FEED_HEAD "      type: hosts\n      primary: 192.0.2.1\n      zone: z\n",
		     "F:5: policy.sources.primary: only an rpz source can be a feed");
	expect_error(FEED_HEAD "      primary: 192.0.2.300\n      zone: z\n",
		     "F:4: policy.sources.primary: expected an address like 192.0.2.1");
	expect_error(FEED_HEAD "      primary: [ 192.0.2.1, 192.0.2.1@53 ]\n      zone: z\n",
		     "F:4: policy.sources.primary: '192.0.2.1@53' is listed twice");
	expect_error(FEED_HEAD "      primary: [ 192.0.2.1, 192.0.2.2, 192.0.2.3, 192.0.2.4,"
		     " 192.0.2.5 ]\n      zone: z\n",
		     "F:4: policy.sources.primary: too many entries (at most 4)");
	expect_error(FEED_HEAD "      primary: []\n      zone: z\n",
		     "F:4: policy.sources.primary: at least one address is needed");
	expect_error(FEED_HEAD "      primary: 192.0.2.1\n      zone: a..b\n",
		     "F:5: policy.sources.zone: expected a domain name");
	expect_error(FEED_HEAD "      primary: 192.0.2.1\n      zone: z\n      tsig-key: nokey\n",
		     "F:6: policy.sources.tsig-key: expected the name of an entry of "
		     "policy.tsig-keys, got 'nokey'");
	expect_error("policy:\n  sources:\n    - name: a/b\n      primary: 192.0.2.1\n"
		     "      zone: z\n", "F:3: policy.sources: feed 'a/b' needs 'file'");
	expect_error("policy:\n  tsig-keys:\n    - name: k\n",
		     "F:3: policy.tsig-keys: an entry needs 'name' and 'secret'");
	expect_error("policy:\n  tsig-keys:\n    - name: k\n      secret: \"not base64!\"\n",
		     "F:4: policy.tsig-keys.secret: expected a base64 secret of 1..128 bytes");
	expect_error("policy:\n  tsig-keys:\n    - name: k\n      secret: \"\"\n",
		     "F:4: policy.tsig-keys.secret: expected a base64 secret");
	expect_error("policy:\n  tsig-keys:\n    - name: k\n      algorithm: hmac-md5\n"
		     "      secret: AQ==\n",
		     "F:4: policy.tsig-keys.algorithm: expected hmac-sha256, hmac-sha512 or "
		     "hmac-sha1, got 'hmac-md5'");
	expect_error("policy:\n  tsig-keys:\n    - name: k\n      secret: AQ==\n"
		     "    - name: K.\n      secret: AQ==\n",
		     "F:5: policy.tsig-keys.name: 'K.' is listed twice");
	expect_error("policy:\n  tsig-keys:\n    - name: k\n      secret: AQ==\n      colour: red\n",
		     "F:5: unknown key 'colour' in policy.tsig-keys");
	expect_error("policy:\n  tsig-keys: k\n", "F:2: policy.tsig-keys: expected a list");
	expect_error("policy:\n  feed-directory: [ a ]\n",
		     "F:2: policy.feed-directory: expected a directory path");
}
END_TEST


/* zone for a file source: the policy zone's name when the file has no $ORIGIN */
START_TEST(file_source_zone)
{
	static const char text[] = "policy:\n  sources:\n"
				   "    - { name: a, file: /x.rpz, zone: RPZ.Example. }\n"
				   "    - { name: b, file: /y.rpz }\n"
				   "  groups:\n"
				   "    - { name: g, clients: [ \"::/0\" ], sources: [ a, b ] }\n";
	struct vg_config cfg;
	uint8_t zone[VG_NAME_MAX];
	struct loaded l;
	char *dump = NULL;
	size_t len = 0;

	expect_ok(text, &cfg);
	ck_assert_int_gt(vg_config_parse_name("rpz.example", zone, sizeof(zone)), 0);
	ck_assert_mem_eq(cfg.policy.sources[0].zone, zone, 13);
	ck_assert_uint_eq(cfg.policy.sources[0].n_primaries, 0);
	ck_assert_uint_eq(cfg.policy.sources[1].zone[0], 0); /* not given */
	FILE *f = open_memstream(&dump, &len);
	vg_config_dump(&cfg, f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(dump, "zone: 'rpz.example.'"));
	load_text(&l, dump);
	ck_assert_msg(l.ret == 0 && cfg_equal(&cfg, &l.cfg), "%s\n%s", l.err, dump);
	free(l.err);
	free(dump);
}
END_TEST

/* sources no group with clients lists apply to no client (--check-config warns) */
START_TEST(policy_unused_sources)
{
	struct vg_config cfg;
	char names[64];

	vg_config_defaults(&cfg);
	ck_assert_uint_eq(vg_config_policy_unused(&cfg, names, sizeof(names)), 0);
	ck_assert_str_eq(names, "");
	expect_ok("policy:\n  sources:\n    - { name: a, file: /a }\n    - { name: b, file: /b }\n",
		  &cfg);
	ck_assert_uint_eq(vg_config_policy_unused(&cfg, names, sizeof(names)), 2);
	ck_assert_str_eq(names, "'a', 'b'");
	expect_ok("policy:\n  sources:\n    - { name: a, file: /a }\n    - { name: b, file: /b }\n"
		  "    - { name: c, file: /c }\n  groups:\n"
		  "    - { name: none, clients: [], sources: [ a ] }\n"
		  "    - { name: some, clients: [ 10.0.0.0/8 ], sources: [ c ] }\n", &cfg);
	ck_assert_uint_eq(vg_config_policy_unused(&cfg, names, sizeof(names)), 2);
	ck_assert_str_eq(names, "'a', 'b'");
	ck_assert_uint_eq(vg_config_policy_unused(&cfg, names, 6), 2); /* cut short */
	ck_assert_str_eq(names, "'a...");
}
END_TEST


/* ---- client identity in policy groups ---- */

static const char idents[] =
	"policy:\n"
	"  sources:\n"
	"    - { name: a, file: /a }\n"
	"  groups:\n"
	"    - name: laptops\n"
	"      client-ids: [ Laptop7, tab-1 ]\n"
	"      client-certs:\n"
	"        - \"SHA256:AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:"
	"ab:cd:ef:01:23:45:67:89\"\n"
	"        - \"subject:CN=laptop9,O=Example\"\n"
	"      sources: [ a ]\n"
	"    - name: lan\n"
	"      clients: [ 10.0.0.0/8 ]\n"
	"      client-ids: [ desk1 ]\n"
	"      sources: [ a ]\n";

START_TEST(group_identities)
{
	struct vg_config cfg;
	char names[64];
	expect_ok(idents, &cfg);
	const struct vg_policy_group *g = &cfg.policy.groups[0];
	ck_assert_uint_eq(cfg.policy.n_groups, 2);
	ck_assert_uint_eq(g->n_clients, 0); /* identities only */
	ck_assert_uint_eq(g->n_ids, 2);
	ck_assert_str_eq(g->ids[0], "laptop7"); /* lower-case, as the transports give it */
	ck_assert_str_eq(g->ids[1], "tab-1");
	ck_assert_uint_eq(g->n_certs, 2);
	ck_assert_str_eq(g->certs[0], "sha256:abcdef0123456789abcdef0123456789"
				      "abcdef0123456789abcdef0123456789");
	ck_assert_str_eq(g->certs[1], "subject:CN=laptop9,O=Example");
	ck_assert_uint_eq(cfg.policy.groups[1].n_clients, 1);
	ck_assert_uint_eq(cfg.policy.groups[1].n_ids, 1);
	/* a group of identities only applies to clients: no warning */
	ck_assert_uint_eq(vg_config_policy_unused(&cfg, names, sizeof(names)), 0);
}
END_TEST

START_TEST(error_group_identities)
{
	static const char head[] = "policy:\n  sources:\n    - { name: a, file: /a }\n"
				   "  groups:\n";
	static const char fp[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char buf[1024];
	static const struct {
		const char *groups, *err;
	} cases[] = {
		{ "    - { name: g, sources: [ a ] }\n",
		  "F:5: policy.groups: an entry needs 'name', 'sources' and the clients it is for" },
		{ "    - { name: g, client-ids: [ bad_id ], sources: [ a ] }\n",
		  "F:5: policy.groups.client-ids: expected a client ID of 1..63" },
		{ "    - { name: g, client-ids: [ \"\" ], sources: [ a ] }\n",
		  "F:5: policy.groups.client-ids: expected a client ID" },
		{ "    - { name: g, client-ids: [ "
		  "a123456789012345678901234567890123456789012345678901234567890123 ], "
		  "sources: [ a ] }\n", "expected a client ID of 1..63" },
		{ "    - { name: g, client-ids: [ x, X ], sources: [ a ] }\n",
		  "F:5: policy.groups.client-ids: 'X' is listed twice" },
		{ "    - { name: g, client-ids: [ x ], sources: [ a ] }\n"
		  "    - { name: h, client-ids: [ x ], sources: [ a ] }\n",
		  "F:6: policy.groups.client-ids: 'x' is named by group 'g' already" },
		{ "    - { name: g, client-certs: [ \"sha256:abc\" ], sources: [ a ] }\n",
		  "F:5: policy.groups.client-certs: expected \"sha256:\" and the 64 hex digits" },
		{ "    - { name: g, client-certs: [ \"md5:00\" ], sources: [ a ] }\n",
		  "policy.groups.client-certs: expected" },
		{ "    - { name: g, client-certs: [ \"subject:\" ], sources: [ a ] }\n",
		  "policy.groups.client-certs: expected" },
		{ "    - { name: g, client-certs: [ \"sha256:%s\" ], sources: [ a ] }\n"
		  "    - { name: h, client-certs: [ \"SHA256:%s\" ], sources: [ a ] }\n",
		  "F:6: policy.groups.client-certs: 'SHA256:" },
	};
	for (unsigned i = 0; i < VG_ARRAY_SIZE(cases); i++) {
		int n = snprintf(buf, sizeof(buf), "%s", head);
		snprintf(buf + n, sizeof(buf) - (size_t)n, cases[i].groups, fp, fp);
		expect_error(buf, cases[i].err);
	}
}
END_TEST

/* ---- discovery ---- */

START_TEST(discovery_config)
{
	struct vg_config cfg;
	const struct vg_ddr_opts *o = &cfg.serve.ddr;

	/* the defaults: DDR on, nothing to announce yet; the canary answered */
	vg_config_defaults(&cfg);
	ck_assert(cfg.discovery.ddr && o->enabled);
	ck_assert(!cfg.discovery.block_canary && !o->block_canary);
	ck_assert_uint_eq(o->n_ep, 0);
	ck_assert_str_eq(o->dohpath, "/dns-query{?dns}");

	expect_ok("discovery:\n  ddr-name: DNS.Example.NET\n"
		  "  ddr-endpoints: [ \"dot 853\", \"doh 443\", \"dot 8853\" ]\n"
		  "  ddr-hints: [ 192.0.2.53, \"2001:db8::53\", 192.0.2.54 ]\n"
		  "  block-doh-canary: yes\n", &cfg);
	ck_assert(o->enabled && o->block_canary);
	ck_assert(vg_name_eq(o->target, (const uint8_t *)"\x03" "dns\x07" "example\x03" "net"));
	ck_assert_uint_eq(o->n_ep, 3);
	ck_assert_str_eq(o->ep[0].alpn, "dot");
	ck_assert_uint_eq(o->ep[0].port, 853);
	ck_assert(!o->ep[0].doh);
	ck_assert_str_eq(o->ep[1].alpn, "h2");
	ck_assert_uint_eq(o->ep[1].port, 443);
	ck_assert(o->ep[1].doh);
	ck_assert_uint_eq(o->ep[2].port, 8853);
	for (unsigned i = 0; i < 3; i++) { /* every endpoint, every hint */
		ck_assert_uint_eq(o->ep[i].n_v4, 2);
		ck_assert_uint_eq(o->ep[i].n_v6, 1);
		ck_assert_mem_eq(o->ep[i].v4[1], "\xc0\x00\x02\x36", 4);
	}
	/* the pipeline encodes it */
	uint8_t rd[512];
	ck_assert_uint_gt(vg_ddr_svcb_rdata(o, 1, rd, sizeof(rd)), 0);

	/* ddr: no announces nothing, the canary stays */
	expect_ok("discovery:\n  ddr: no\n  ddr-name: dns.example.net\n"
		  "  ddr-endpoints: [ \"dot 853\" ]\n  block-doh-canary: yes\n", &cfg);
	ck_assert(!o->enabled && o->block_canary);
	ck_assert_uint_eq(o->n_ep, 0);
}
END_TEST

START_TEST(error_discovery)
{
	expect_error("discovery:\n  ddr-endpoints: [ \"dot 853\" ]\n",
		     "F:2: discovery.ddr-endpoints: DDR needs the name in vigil's certificate");
	expect_error("discovery:\n  ddr-name: x.example\n  ddr-endpoints: [ \"quic 853\" ]\n",
		     "F:3: discovery.ddr-endpoints: expected \"dot PORT\" or \"doh PORT\"");
	expect_error("discovery:\n  ddr-name: x.example\n  ddr-endpoints: [ \"dot 0\" ]\n",
		     "expected \"dot PORT\"");
	expect_error("discovery:\n  ddr-name: x.example\n  ddr-endpoints: [ \"dot 853 x\" ]\n",
		     "expected \"dot PORT\"");
	expect_error("discovery:\n  ddr-name: x.example\n"
		     "  ddr-endpoints: [ \"dot 853\", \"dot 853\" ]\n", "is listed twice");
	expect_error("discovery:\n  ddr-name: x.example\n  ddr-endpoints: [ \"dot 853\" ]\n"
		     "  ddr-hints: [ 0.0.0.0 ]\n", "F:4: discovery.ddr-hints: a hint is an address");
	expect_error("discovery:\n  ddr-name: x.example\n  ddr-endpoints: [ \"dot 853\" ]\n"
		     "  ddr-hints: [ \"192.0.2.1@53\" ]\n", "without a port");
	expect_error("discovery:\n  ddr-name: .\n", "F:2: discovery.ddr-name");
	expect_error("discovery:\n  block-doh-canary: maybe\n",
		     "F:2: discovery.block-doh-canary: expected yes or no");
	expect_error("discovery:\n  ddr-nmae: x\n", "unknown key 'ddr-nmae'");
}
END_TEST

/* What the lead's listeners will feed DDR: one endpoint per port, their
 * addresses as hints, wildcard addresses left out. */
/* DDR from the config: the encrypted listeners under tls.server-name, the
 * DoH path from http.path; ddr-hints replace the listeners' addresses */
START_TEST(ddr_from_tls_config)
{
	struct loaded l;
	load_text(&l, "server:\n  listen-tls: [ \"192.0.2.53@853\" ]\n"
		  "  listen-https: [ \"192.0.2.53@8443\" ]\n"
		  "tls:\n  certificate: c.pem\n  key: k.pem\n  server-name: DNS.Example.NET\n"
		  "http:\n  path: /q\n");
	ck_assert_msg(l.ret == 0, "%s", l.err);
	free(l.err);
	const struct vg_ddr_opts *o = &l.cfg.serve.ddr;
	ck_assert(o->enabled);
	ck_assert_uint_eq(o->n_ep, 2);
	ck_assert_str_eq(o->ep[0].alpn, "dot");
	ck_assert_uint_eq(o->ep[0].port, 853);
	ck_assert_str_eq(o->ep[1].alpn, "h2");
	ck_assert_uint_eq(o->ep[1].port, 8443);
	ck_assert_uint_eq(o->ep[1].n_v4, 1);
	ck_assert_mem_eq(o->ep[1].v4[0], "\xc0\x00\x02\x35", 4);
	ck_assert_str_eq(o->dohpath, "/q{?dns}");
	ck_assert_mem_eq(o->target, "\x03" "dns" "\x07" "example" "\x03" "net", 17);
	load_text(&l, "server:\n  listen-tls: [ \"0.0.0.0@853\" ]\n"
		  "tls:\n  certificate: c.pem\n  key: k.pem\n  server-name: dns.example.net\n"
		  "discovery:\n  ddr-hints: [ 203.0.113.7 ]\n");
	ck_assert_msg(l.ret == 0, "%s", l.err);
	free(l.err);
	ck_assert_uint_eq(l.cfg.serve.ddr.n_ep, 1);
	ck_assert_uint_eq(l.cfg.serve.ddr.ep[0].n_v4, 1);
	ck_assert_mem_eq(l.cfg.serve.ddr.ep[0].v4[0], "\xcb\x00\x71\x07", 4);
	/* no server name: nothing to announce */
	load_text(&l, "server:\n  listen-tls: [ \"192.0.2.53\" ]\n"
		  "tls:\n  certificate: c.pem\n  key: k.pem\n");
	ck_assert_msg(l.ret == 0, "%s", l.err);
	free(l.err);
	ck_assert_uint_eq(l.cfg.serve.ddr.n_ep, 0);
}
END_TEST

START_TEST(ddr_from_listeners)
{
	struct vg_ddr_opts o;
	struct vg_sockaddr tls[4], https[2];
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(vg_sockaddr_parse("192.0.2.53@853", 0, &tls[0]), 0);
	ck_assert_int_eq(vg_sockaddr_parse("[2001:db8::53]:853", 0, &tls[1]), 0);
	ck_assert_int_eq(vg_sockaddr_parse("0.0.0.0@8853", 0, &tls[2]), 0);
	ck_assert_int_eq(vg_sockaddr_parse("192.0.2.53@853", 0, &tls[3]), 0); /* again */
	ck_assert_int_eq(vg_sockaddr_parse("192.0.2.54@443", 0, &https[0]), 0);
	ck_assert_int_eq(vg_sockaddr_parse("[::]:443", 0, &https[1]), 0);
	ck_assert_int_eq(vg_config_ddr_add_listeners(&o, "dot", false, tls, 4), 0);
	ck_assert_int_eq(vg_config_ddr_add_listeners(&o, "h2", true, https, 2), 0);
	ck_assert_uint_eq(o.n_ep, 3);
	ck_assert_str_eq(o.ep[0].alpn, "dot");
	ck_assert_uint_eq(o.ep[0].port, 853);
	ck_assert_uint_eq(o.ep[0].n_v4, 1);
	ck_assert_uint_eq(o.ep[0].n_v6, 1);
	ck_assert_uint_eq(o.ep[1].port, 8853);
	ck_assert_uint_eq(o.ep[1].n_v4 + o.ep[1].n_v6, 0); /* a wildcard: no hint */
	ck_assert_str_eq(o.ep[2].alpn, "h2");
	ck_assert(o.ep[2].doh);
	ck_assert_uint_eq(o.ep[2].n_v4, 1);
	ck_assert_mem_eq(o.ep[2].v4[0], "\xc0\x00\x02\x36", 4);
	/* too many: kept up to the limit, said so */
	struct vg_sockaddr many[VG_DDR_MAX_ENDPOINTS + 1];
	for (unsigned i = 0; i < VG_ARRAY_SIZE(many); i++) {
		ck_assert_int_eq(vg_sockaddr_parse("192.0.2.1", 0, &many[i]), 0);
		vg_sockaddr_set_port(&many[i], (uint16_t)(1000 + i));
	}
	ck_assert_int_eq(vg_config_ddr_add_listeners(&o, "dot", false, many, VG_ARRAY_SIZE(many)),
			 VG_ELIMIT);
	ck_assert_uint_eq(o.n_ep, VG_DDR_MAX_ENDPOINTS);
}
END_TEST

/* identities and discovery survive a dump and a reload */
START_TEST(identity_discovery_dump_reloads)
{
	struct vg_config src;
	struct loaded l;
	char text[4096], *dump = NULL;
	size_t len = 0;
	snprintf(text, sizeof(text), "%sdiscovery:\n  ddr-name: dns.example.net\n"
		 "  ddr-endpoints: [ \"dot 853\", \"doh 443\" ]\n  ddr-hints: [ 192.0.2.53 ]\n"
		 "  block-doh-canary: yes\n", idents);
	expect_ok(text, &src);
	FILE *f = open_memstream(&dump, &len);
	vg_config_dump(&src, f);
	fclose(f);
	load_text(&l, dump);
	ck_assert_msg(l.ret == 0, "dump does not reload: %s\n%s", l.err, dump);
	ck_assert_msg(cfg_equal(&src, &l.cfg), "dump reloads differently:\n%s", dump);
	ck_assert_ptr_nonnull(strstr(dump, "client-ids:"));
	ck_assert_ptr_nonnull(strstr(dump, "\"subject:CN=laptop9,O=Example\""));
	ck_assert_ptr_nonnull(strstr(dump, "ddr-endpoints:"));
	free(l.err);
	free(dump);
}
END_TEST

/* ---- dnssec.insecure-names ---- */

static bool insecure(const struct vg_config *cfg, const char *name)
{
	uint8_t wire[VG_NAME_MAX];

	ck_assert_int_gt(vg_config_parse_name(name, wire, sizeof(wire)), 0);
	return vg_dnssec_is_insecure(&cfg->dnssec, wire);
}

/*
 * Every built-in insecure name, and a name below it, is insecure; a name
 * that only ends in the same letters, or only starts with the name, is not.
 * The list is written out here, not taken from the code's own, so that a
 * name the code spells wrong (as "\x04corp" once was: byte 0x4c, then "orp")
 * fails.
 */
START_TEST(insecure_names_builtin)
{
	static const char *const builtin[] = { "internal", "home.arpa", "local", "localhost",
					       "test", "invalid", "lan", "corp" };
	struct vg_config cfg;
	char buf[300];

	vg_config_defaults(&cfg);
	ck_assert_uint_eq(cfg.dnssec.n_insecure, sizeof(builtin) / sizeof(builtin[0]));
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
		ck_assert_msg(insecure(&cfg, builtin[i]), "%s is not insecure", builtin[i]);
		snprintf(buf, sizeof(buf), "www.sub.%s.", builtin[i]);
		ck_assert_msg(insecure(&cfg, buf), "%s is not insecure", buf);
		snprintf(buf, sizeof(buf), "x%s", builtin[i]); /* same ending letters */
		ck_assert_msg(!insecure(&cfg, buf), "%s is insecure", buf);
		snprintf(buf, sizeof(buf), "www.my%s", builtin[i]);
		ck_assert_msg(!insecure(&cfg, buf), "%s is insecure", buf);
		snprintf(buf, sizeof(buf), "%s.example", builtin[i]); /* not below it */
		ck_assert_msg(!insecure(&cfg, buf), "%s is insecure", buf);
	}
	ck_assert(!insecure(&cfg, "arpa"));
	ck_assert(!insecure(&cfg, "."));
	ck_assert(!insecure(&cfg, "example.com"));
	/* negative trust anchors are checked the same way */
	expect_ok("dnssec:\n  negative-trust-anchors: [ nta.example ]\n", &cfg);
	ck_assert(insecure(&cfg, "a.nta.example."));
	ck_assert(!insecure(&cfg, "xnta.example."));
	ck_assert(insecure(&cfg, "www.corp."));
}
END_TEST

/* the list can be replaced, or emptied (a real signed internal TLD, a test lab) */
START_TEST(insecure_names_config)
{
	struct vg_config cfg, def;

	expect_ok("dnssec:\n  insecure-names: []\n", &cfg);
	ck_assert_uint_eq(cfg.dnssec.n_insecure, 0);
	ck_assert(!insecure(&cfg, "www.corp."));
	ck_assert(!insecure(&cfg, "www.test."));
	expect_ok("dnssec:\n  insecure-names: [ Corp.Example., lan ]\n", &cfg);
	ck_assert_uint_eq(cfg.dnssec.n_insecure, 2);
	ck_assert(insecure(&cfg, "a.corp.example."));
	ck_assert(insecure(&cfg, "a.lan."));
	ck_assert(!insecure(&cfg, "a.corp."));
	ck_assert(!insecure(&cfg, "www.test."));
	/* the default spelled out is the default */
	expect_ok("dnssec:\n  insecure-names: [ internal, home.arpa, local, localhost, test, "
		  "invalid, lan, corp ]\n", &cfg);
	vg_config_defaults(&def);
	ck_assert(cfg_equal(&cfg, &def));
	expect_error("dnssec:\n  insecure-names: [ a..b ]\n",
		     "F:2: dnssec.insecure-names: expected a domain name, got 'a..b'");
	expect_error("dnssec:\n  insecure-names: [ lan, LAN. ]\n",
		     "F:2: dnssec.insecure-names: 'LAN.' is listed twice");
	expect_error("dnssec:\n  insecure-names: { a: b }\n",
		     "F:2: dnssec.insecure-names: expected a list, got a mapping");
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, group_identities);
	tcase_add_test(tc, error_group_identities);
	tcase_add_test(tc, discovery_config);
	tcase_add_test(tc, error_discovery);
	tcase_add_test(tc, ddr_from_listeners);
	tcase_add_test(tc, ddr_from_tls_config);
	tcase_add_test(tc, identity_discovery_dump_reloads);
	tcase_add_test(tc, default_acl);
	tcase_add_test(tc, empty_files_give_defaults);
	tcase_add_test(tc, example_file_is_defaults);
	tcase_add_test(tc, full_file);
	tcase_add_loop_test(tc, dump_reloads, 0, 2);
	tcase_add_test(tc, port_order_independent);
	tcase_add_test(tc, acl_replaces_default);
	tcase_add_test(tc, acl_longest_prefix);
	tcase_add_test(tc, error_unknown_key);
	tcase_add_test(tc, error_duplicates);
	tcase_add_test(tc, error_types);
	tcase_add_test(tc, error_ranges);
	tcase_add_test(tc, error_cross_checks);
	tcase_add_test(tc, error_addresses);
	tcase_add_test(tc, error_forward_zones);
	tcase_add_test(tc, error_forward_tls);
	tcase_add_test(tc, error_syntax);
	tcase_add_test(tc, error_invalid_utf8);
	tcase_add_test(tc, all_errors_reported);
	tcase_add_test(tc, missing_file);
	tcase_add_test(tc, huge_file);
	tcase_add_test(tc, hostile);
	tcase_add_test(tc, parse_sockaddr);
	tcase_add_test(tc, parse_prefix);
	tcase_add_test(tc, parse_size);
	tcase_add_test(tc, parse_name);
	tcase_add_test(tc, prefix_contains);
	tcase_add_test(tc, feed_config);
	tcase_add_test(tc, state_directory_config);
	tcase_add_test(tc, feed_dump_reloads);
	tcase_add_test(tc, error_feeds);
	tcase_add_test(tc, file_source_zone);
	tcase_add_test(tc, policy_unused_sources);
	tcase_add_test(tc, insecure_names_builtin);
	tcase_add_test(tc, insecure_names_config);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return vg_test_run(config_suite());
}
