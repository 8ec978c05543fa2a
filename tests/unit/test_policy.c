/* SPDX-License-Identifier: MIT
 *
 * The compiled policy snapshot: name triggers (exact, wildcard, longest
 * wildcard, case), address triggers (longest prefix, IPv4 and IPv6 in one
 * space), duplicates, source isolation, and the memory a million QNAME rules
 * take (the bound: under 64 bytes a rule); the engine's decision after
 * resolution (NSDNAME, NSIP, zone and trigger order, CNAME chain stages).
 * No timings are asserted.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "check_main.h"
#include "cache/cache.h"
#include "policy/engine.h"
#include "policy/lists.h"
#include "policy/plog.h"
#include "policy/rpzload.h"
#include "policy/snapshot.h"

static struct vg_pol_rule qname(const char *n, bool wild, enum vg_pol_action a, unsigned line)
{
	struct vg_pol_rule r;
	memset(&r, 0, sizeof(r));
	r.trigger = VG_TRIG_QNAME;
	r.wildcard = wild;
	ck_assert_int_gt(vg_name_from_str(n, r.name, sizeof(r.name)), 0);
	r.action = a;
	r.line = line;
	return r;
}

static struct vg_pol_rule ip(enum vg_pol_trigger t, const char *a, unsigned bits, unsigned line)
{
	struct vg_pol_rule r;
	memset(&r, 0, sizeof(r));
	r.trigger = t;
	r.line = line;
	r.action = VG_ACT_NXDOMAIN;
	if (strchr(a, ':')) {
		ck_assert_int_eq(inet_pton(AF_INET6, a, r.prefix.addr), 1);
		r.prefix.bits = (uint8_t)bits;
	} else {
		uint8_t v4[4];
		ck_assert_int_eq(inet_pton(AF_INET, a, v4), 1);
		vg_pol_addr_v4(v4, r.prefix.addr);
		r.prefix.bits = (uint8_t)(bits + 96);
		r.prefix.v4 = true;
	}
	return r;
}

static int match(const struct vg_pol_snapshot *s, unsigned src, const char *n,
		 struct vg_pol_hit *h)
{
	uint8_t name[VG_NAME_MAX];
	ck_assert_int_gt(vg_name_from_str(n, name, sizeof(name)), 0);
	return vg_pol_match_name(s, src, VG_TRIG_QNAME, name, h);
}

START_TEST(names_exact_wildcard_longest)
{
	struct vg_pol_rule r[] = {
		qname("bad.example.", false, VG_ACT_NXDOMAIN, 1),
		qname("example.", true, VG_ACT_NODATA, 2),       /* *.example. */
		qname("deep.bad.example.", true, VG_ACT_DROP, 3), /* *.deep.bad.example. */
		qname("Mixed.Example.", false, VG_ACT_PASSTHRU, 4),
	};
	struct vg_pol_source_rules src = { r, 4 };
	struct vg_pol_snapshot *s;
	struct vg_pol_hit h;
	ck_assert_int_eq(vg_pol_build(&s, &src, 1, NULL), 0);
	ck_assert_uint_eq(vg_pol_rule_count(s, 0), 4);
	/* exact */
	ck_assert_int_eq(match(s, 0, "bad.example.", &h), 0);
	ck_assert_uint_eq(h.rule->line, 1);
	ck_assert(!h.rule->wildcard);
	/* a wildcard matches below its owner, not at it */
	ck_assert_int_eq(match(s, 0, "example.", &h), VG_ENOTFOUND);
	ck_assert_int_eq(match(s, 0, "www.example.", &h), 0);
	ck_assert_uint_eq(h.rule->line, 2);
	ck_assert_uint_eq(h.labels, 2);
	/* exact beats wildcard */
	ck_assert_int_eq(match(s, 0, "bad.example.", &h), 0);
	ck_assert_uint_eq(h.rule->action, VG_ACT_NXDOMAIN);
	/* the longer wildcard wins */
	ck_assert_int_eq(match(s, 0, "a.b.deep.bad.example.", &h), 0);
	ck_assert_uint_eq(h.rule->line, 3);
	ck_assert_uint_eq(h.labels, 4);
	ck_assert_int_eq(match(s, 0, "x.bad.example.", &h), 0);
	ck_assert_uint_eq(h.rule->line, 2);
	/* case does not matter, on either side */
	ck_assert_int_eq(match(s, 0, "MIXED.example.", &h), 0);
	ck_assert_uint_eq(h.rule->line, 4);
	ck_assert_int_eq(match(s, 0, "BAD.EXAMPLE.", &h), 0);
	ck_assert_uint_eq(h.rule->line, 1);
	/* other names and other triggers */
	ck_assert_int_eq(match(s, 0, "example.org.", &h), VG_ENOTFOUND);
	uint8_t n[VG_NAME_MAX];
	vg_name_from_str("bad.example.", n, sizeof(n));
	ck_assert_int_eq(vg_pol_match_name(s, 0, VG_TRIG_NSDNAME, n, &h), VG_ENOTFOUND);
	ck_assert_int_eq(match(s, 1, "bad.example.", &h), VG_ENOTFOUND); /* no such source */
	vg_pol_free(s);
}
END_TEST

static unsigned dups;
static void on_dup(void *arg, const struct vg_pol_rule *r)
{
	(void)arg;
	ck_assert_uint_eq(r->line, 2);
	dups++;
}

START_TEST(duplicates_keep_the_first_and_sources_are_separate)
{
	struct vg_pol_rule a[] = {
		qname("x.test.", false, VG_ACT_NXDOMAIN, 1),
		qname("X.Test.", false, VG_ACT_DROP, 2), /* same key: dropped */
		qname("x.test.", true, VG_ACT_DROP, 3),  /* wildcard: another key */
	};
	struct vg_pol_rule b[] = { qname("y.test.", false, VG_ACT_PASSTHRU, 7) };
	struct vg_pol_source_rules src[2] = { { a, 3 }, { b, 1 } };
	struct vg_pol_dup_cb cb = { on_dup, NULL };
	struct vg_pol_snapshot *s;
	struct vg_pol_hit h;
	dups = 0;
	ck_assert_int_eq(vg_pol_build(&s, src, 2, &cb), 0);
	ck_assert_uint_eq(dups, 1);
	ck_assert_uint_eq(vg_pol_rule_count(s, 0), 2);
	ck_assert_int_eq(match(s, 0, "x.test.", &h), 0);
	ck_assert_uint_eq(h.rule->action, VG_ACT_NXDOMAIN);
	ck_assert_int_eq(match(s, 0, "a.x.test.", &h), 0);
	ck_assert_uint_eq(h.rule->line, 3);
	ck_assert_int_eq(match(s, 0, "y.test.", &h), VG_ENOTFOUND);
	ck_assert_int_eq(match(s, 1, "y.test.", &h), 0);
	ck_assert_uint_eq(h.source, 1);
	ck_assert_int_eq(match(s, 1, "x.test.", &h), VG_ENOTFOUND);
	vg_pol_free(s);
}
END_TEST

static int match_ip(const struct vg_pol_snapshot *s, enum vg_pol_trigger t, const char *a,
		    struct vg_pol_hit *h)
{
	uint8_t addr[16];
	if (strchr(a, ':')) {
		ck_assert_int_eq(inet_pton(AF_INET6, a, addr), 1);
	} else {
		uint8_t v4[4];
		ck_assert_int_eq(inet_pton(AF_INET, a, v4), 1);
		vg_pol_addr_v4(v4, addr);
	}
	return vg_pol_match_ip(s, 0, t, addr, h);
}

START_TEST(addresses_longest_prefix)
{
	struct vg_pol_rule r[] = {
		ip(VG_TRIG_RESP_IP, "10.0.0.0", 8, 1),
		ip(VG_TRIG_RESP_IP, "10.1.0.0", 16, 2),
		ip(VG_TRIG_RESP_IP, "10.1.2.3", 32, 3),
		ip(VG_TRIG_RESP_IP, "2001:db8::", 32, 4),
		ip(VG_TRIG_RESP_IP, "2001:db8::1", 128, 5),
		ip(VG_TRIG_CLIENT_IP, "192.0.2.0", 24, 6),
		ip(VG_TRIG_NSIP, "198.51.100.53", 32, 7),
	};
	struct vg_pol_source_rules src = { r, sizeof(r) / sizeof(r[0]) };
	struct vg_pol_snapshot *s;
	struct vg_pol_hit h;
	ck_assert_int_eq(vg_pol_build(&s, &src, 1, NULL), 0);
	ck_assert_int_eq(match_ip(s, VG_TRIG_RESP_IP, "10.9.9.9", &h), 0);
	ck_assert_uint_eq(h.rule->line, 1);
	ck_assert_uint_eq(h.bits, 8 + 96);
	ck_assert_int_eq(match_ip(s, VG_TRIG_RESP_IP, "10.1.9.9", &h), 0);
	ck_assert_uint_eq(h.rule->line, 2);
	ck_assert_int_eq(match_ip(s, VG_TRIG_RESP_IP, "10.1.2.3", &h), 0);
	ck_assert_uint_eq(h.rule->line, 3);
	ck_assert_uint_eq(h.bits, 128);
	ck_assert_int_eq(match_ip(s, VG_TRIG_RESP_IP, "11.0.0.1", &h), VG_ENOTFOUND);
	ck_assert_int_eq(match_ip(s, VG_TRIG_RESP_IP, "2001:db8:1::5", &h), 0);
	ck_assert_uint_eq(h.rule->line, 4);
	ck_assert_int_eq(match_ip(s, VG_TRIG_RESP_IP, "2001:db8::1", &h), 0);
	ck_assert_uint_eq(h.rule->line, 5);
	ck_assert_int_eq(match_ip(s, VG_TRIG_RESP_IP, "2001:db9::1", &h), VG_ENOTFOUND);
	/* an IPv6 address with the same low bits is not the IPv4 one */
	ck_assert_int_eq(match_ip(s, VG_TRIG_RESP_IP, "::ffff:10.1.2.3", &h), VG_ENOTFOUND);
	/* each trigger has its own trie */
	ck_assert_int_eq(match_ip(s, VG_TRIG_CLIENT_IP, "192.0.2.77", &h), 0);
	ck_assert_uint_eq(h.rule->line, 6);
	ck_assert_int_eq(match_ip(s, VG_TRIG_RESP_IP, "192.0.2.77", &h), VG_ENOTFOUND);
	ck_assert_int_eq(match_ip(s, VG_TRIG_NSIP, "198.51.100.53", &h), 0);
	ck_assert_int_eq(match_ip(s, VG_TRIG_NSIP, "198.51.100.54", &h), VG_ENOTFOUND);
	vg_pol_free(s);
}
END_TEST

/* A million QNAME rules fit in under 64 bytes each, and still match. */
START_TEST(million_rules_memory)
{
	enum { N = 1000000 };
	struct vg_pol_rule *r = malloc(N * sizeof(*r));
	ck_assert_ptr_nonnull(r);
	size_t name_bytes = 0;
	for (unsigned i = 0; i < N; i++) {
		char n[64];
		snprintf(n, sizeof(n), "h%u.blocked-%u.example.", i, i % 977);
		memset(&r[i], 0, sizeof(r[i]));
		r[i].trigger = VG_TRIG_QNAME;
		r[i].action = VG_ACT_NXDOMAIN;
		r[i].line = i + 1;
		ck_assert_int_gt(vg_name_from_str(n, r[i].name, sizeof(r[i].name)), 0);
		name_bytes += vg_name_len(r[i].name);
	}
	struct vg_pol_source_rules src = { r, N };
	struct vg_pol_snapshot *s;
	ck_assert_int_eq(vg_pol_build(&s, &src, 1, NULL), 0);
	size_t mem = vg_pol_memory(s);
	double per = (double)mem / N;
	fprintf(stderr, "# %u rules: %zu bytes, %.1f per rule (names average %.1f)\n", N, mem, per,
		(double)name_bytes / N);
	ck_assert_msg(per < 64.0, "%.1f bytes per rule", per);
	struct vg_pol_hit h;
	char n[64];
	snprintf(n, sizeof(n), "h123456.blocked-%u.example.", 123456u % 977);
	ck_assert_int_eq(match(s, 0, n, &h), 0);
	ck_assert_uint_eq(h.rule->line, 123457);
	snprintf(n, sizeof(n), "h123456.blocked-%u.example.", 123456u % 977 + 1);
	ck_assert_int_eq(match(s, 0, n, &h), VG_ENOTFOUND);
	for (unsigned i = 0; i < N; i += 99991) { /* a sample of all of them */
		snprintf(n, sizeof(n), "H%u.Blocked-%u.example.", i, i % 977);
		ck_assert_int_eq(match(s, 0, n, &h), 0);
		ck_assert_uint_eq(h.rule->line, i + 1);
	}
	vg_pol_free(s);
	free(r);
}
END_TEST

/* ------------------------------------------------------------ lists */

struct collected {
	struct vg_pol_rule r[64];
	unsigned n;
};

static int collect(void *arg, const struct vg_pol_rule *r)
{
	struct collected *c = arg;
	ck_assert_uint_lt(c->n, 64);
	c->r[c->n++] = *r;
	return 0;
}

static struct vg_pol_list_ctx parse_text(const char *text, enum vg_pol_list_fmt fmt,
					 struct collected *out, char **errs)
{
	static char *ebuf;
	static size_t elen;
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	FILE *err = open_memstream(&ebuf, &elen);
	ck_assert_ptr_nonnull(in);
	out->n = 0;
	struct vg_pol_list_ctx c = { .path = "list.txt", .format = fmt, .action = VG_ACT_NXDOMAIN,
				     .emit = collect, .arg = out, .errout = err };
	ck_assert_int_eq(vg_pol_list_parse(in, &c), 0);
	fclose(in);
	fclose(err);
	*errs = ebuf;
	return c;
}

static bool has(const struct collected *c, const char *name, bool wild, bool allow, unsigned line)
{
	uint8_t n[VG_NAME_MAX];
	ck_assert_int_gt(vg_name_from_str(name, n, sizeof(n)), 0);
	for (unsigned i = 0; i < c->n; i++)
		if (vg_name_eq(c->r[i].name, n) && c->r[i].wildcard == wild &&
		    c->r[i].allow == allow && c->r[i].line == line &&
		    c->r[i].trigger == VG_TRIG_QNAME)
			return true;
	return false;
}

START_TEST(hosts_file)
{
	struct collected out;
	char *errs;
	struct vg_pol_list_ctx c = parse_text(
		"# a hosts file\n"
		"127.0.0.1 localhost\n"
		"::1 ip6-localhost ip6-loopback\n"
		"0.0.0.0 ads.example.com tracker.Example.NET # two names\n"
		"\n"
		"0.0.0.0\tbad_host.example.org\r\n"
		"not-an-address example.com\n"
		"0.0.0.0 bad..name\n"
		"0.0.0.0\n",
		VG_LIST_HOSTS, &out, &errs);
	ck_assert_uint_eq(c.entries, 3);
	ck_assert_uint_eq(out.n, 6); /* each entry: the name and everything below */
	ck_assert(has(&out, "ads.example.com.", false, false, 4));
	ck_assert(has(&out, "ads.example.com.", true, false, 4));
	ck_assert(has(&out, "tracker.example.net.", false, false, 4)); /* lower-cased */
	ck_assert(has(&out, "bad_host.example.org.", true, false, 6));
	ck_assert_uint_eq(c.errors, 3);
	ck_assert_ptr_nonnull(strstr(errs, "list.txt:7:"));
	ck_assert_ptr_nonnull(strstr(errs, "list.txt:8:"));
	ck_assert_ptr_nonnull(strstr(errs, "list.txt:9:"));
	free(errs);
}
END_TEST

START_TEST(domain_list)
{
	struct collected out;
	char *errs;
	struct vg_pol_list_ctx c = parse_text("example.com\n# comment\n  *.wild.example  \n"
					      "two names.example\nlast.example.", VG_LIST_DOMAINS,
					      &out, &errs);
	ck_assert_uint_eq(c.entries, 3);
	ck_assert(has(&out, "example.com.", false, false, 1));
	ck_assert(has(&out, "wild.example.", false, false, 3));
	ck_assert(has(&out, "wild.example.", true, false, 3));
	ck_assert(has(&out, "last.example.", true, false, 5)); /* no newline at the end */
	ck_assert_uint_eq(c.errors, 1);
	ck_assert_ptr_nonnull(strstr(errs, "list.txt:4:"));
	free(errs);
}
END_TEST

START_TEST(adblock_rules)
{
	struct collected out;
	char *errs;
	struct vg_pol_list_ctx c = parse_text(
		"[Adblock Plus 2.0]\n"
		"! Title: test\n"
		"||ads.example.com^\n"
		"@@||good.ads.example.com^\n"
		"||important.example^$important\n"
		"||thirdparty.example^$third-party\n"
		"||path.example/ads/*\n"
		"example.com##.banner\n"
		"/banner[0-9]+/\n"
		"||wild*.example^\n"
		"||bad^name.example^\n",
		VG_LIST_ADBLOCK, &out, &errs);
	ck_assert_uint_eq(c.entries, 3);
	ck_assert(has(&out, "ads.example.com.", false, false, 3));
	ck_assert(has(&out, "ads.example.com.", true, false, 3));
	ck_assert(has(&out, "good.ads.example.com.", false, true, 4)); /* an allow rule */
	ck_assert(has(&out, "good.ads.example.com.", true, true, 4));
	ck_assert(has(&out, "important.example.", false, false, 5));
	ck_assert_uint_eq(c.skipped, 6); /* $third-party, path, cosmetic, regex, wildcard, ^ inside */
	ck_assert_uint_eq(c.errors, 0);
	free(errs);
}
END_TEST

/* ------------------------------------------------------------ RPZ zones */

START_TEST(rpz_zone_actions_and_errors)
{
	static const char zone[] =
		"$TTL 300\n"
		"$ORIGIN rpz.test.\n"
		"@ SOA localhost. root.localhost. 2026112201 3600 600 86400 60\n"
		"  NS localhost.\n"
		"nx.example.com CNAME .\n"                              /* 5 */
		"nodata.example.com CNAME *.\n"
		"*.wild.example.com CNAME .\n"
		"pass.example.com CNAME rpz-passthru.\n"
		"self.example.com CNAME self.example.com.rpz.test.\n"   /* not itself: local */
		"drop.example.com CNAME rpz-drop.\n"                    /* 10 */
		"tcp.example.com CNAME rpz-tcp-only.\n"
		"garden.example.com CNAME *.garden.example.net.\n"
		"local.example.com A 192.0.2.1\n"
		"redirect.example.com CNAME walled.example.net.\n"
		"24.0.2.0.192.rpz-ip CNAME .\n"                         /* 15 */
		"32.1.0.0.127.rpz-client-ip CNAME rpz-drop.\n"
		"ns.evil.example.rpz-nsdname CNAME .\n"
		"32.53.100.51.198.rpz-nsip CNAME .\n"
		"8.2.0.0.10.rpz-client-ip CNAME .\n"                    /* bits past the prefix */
		"bad.example.com CNAME rpz-unknown.\n"                  /* 20: unknown action */
		"ns.example.com NS ns1.example.net.\n"                  /* NS below the apex */
		"dname.example.com DNAME example.net.\n"
		"x.rpz-future CNAME .\n"                                /* unknown trigger: ignored */
		"@ A 192.0.2.9\n"                                       /* policy at the apex */
		"broken.example.com A not-an-address\n";                /* 25 */
	struct collected out;
	char *errs = NULL;
	size_t elen = 0;
	FILE *in = fmemopen((void *)zone, sizeof(zone) - 1, "r");
	FILE *err = open_memstream(&errs, &elen);
	struct vg_rpz_ctx c = { .path = "test.rpz", .emit = collect, .arg = &out, .errout = err };
	out.n = 0;
	ck_assert_int_eq(vg_rpz_load(in, &c), 0);
	fclose(in);
	fclose(err);
	ck_assert_uint_eq(c.serial, 2026112201u);
	uint8_t origin[VG_NAME_MAX];
	vg_name_from_str("rpz.test.", origin, sizeof(origin));
	ck_assert(vg_name_eq(c.origin, origin));
	static const struct { const char *name; bool wild; int trig; int action; } want[] = {
		{ "nx.example.com.", false, VG_TRIG_QNAME, VG_ACT_NXDOMAIN },
		{ "nodata.example.com.", false, VG_TRIG_QNAME, VG_ACT_NODATA },
		{ "wild.example.com.", true, VG_TRIG_QNAME, VG_ACT_NXDOMAIN },
		{ "pass.example.com.", false, VG_TRIG_QNAME, VG_ACT_PASSTHRU },
		{ "self.example.com.", false, VG_TRIG_QNAME, VG_ACT_LOCAL },
		{ "drop.example.com.", false, VG_TRIG_QNAME, VG_ACT_DROP },
		{ "tcp.example.com.", false, VG_TRIG_QNAME, VG_ACT_TCP_ONLY },
		{ "garden.example.com.", false, VG_TRIG_QNAME, VG_ACT_GARDEN },
		{ "local.example.com.", false, VG_TRIG_QNAME, VG_ACT_LOCAL },
		{ "redirect.example.com.", false, VG_TRIG_QNAME, VG_ACT_LOCAL },
		{ ".", false, VG_TRIG_RESP_IP, VG_ACT_NXDOMAIN },
		{ ".", false, VG_TRIG_CLIENT_IP, VG_ACT_DROP },
		{ "ns.evil.example.", false, VG_TRIG_NSDNAME, VG_ACT_NXDOMAIN },
		{ ".", false, VG_TRIG_NSIP, VG_ACT_NXDOMAIN },
	};
	ck_assert_uint_eq(out.n, sizeof(want) / sizeof(want[0]));
	ck_assert_uint_eq(c.rules, out.n);
	for (unsigned i = 0; i < out.n; i++) {
		uint8_t n[VG_NAME_MAX];
		vg_name_from_str(want[i].name, n, sizeof(n));
		ck_assert_msg(vg_name_eq(out.r[i].name, n), "rule %u name", i);
		ck_assert_int_eq(out.r[i].wildcard, want[i].wild);
		ck_assert_int_eq(out.r[i].trigger, want[i].trig);
		ck_assert_int_eq(out.r[i].action, want[i].action);
		ck_assert_uint_eq(out.r[i].line, 5 + i); /* each rule knows its line */
	}
	ck_assert_uint_eq(out.r[10].prefix.bits, 24 + 96);
	ck_assert_uint_eq(c.ignored, 1);
	ck_assert_uint_eq(c.errors, 6);
	for (int l = 19; l <= 25; l++) {
		if (l == 23)
			continue; /* the ignored one is not an error */
		char where[32];
		snprintf(where, sizeof(where), "test.rpz:%d:", l);
		ck_assert_msg(strstr(errs, where) != NULL, "no error at %s in:\n%s", where, errs);
	}
	free(errs);
}
END_TEST

/* Rules compiled straight from the reader (as the engine does), with their local data. */
struct compiling {
	struct vg_pol_compiled *c;
	unsigned dups;
};

static void count_dup(void *arg, const struct vg_pol_rule *r)
{
	(void)r;
	((struct compiling *)arg)->dups++;
}

static int compile_emit(void *arg, const struct vg_pol_rule *r)
{
	struct compiling *k = arg;
	struct vg_pol_dup_cb cb = { count_dup, k };
	return vg_pol_compile_add(k->c, r, &cb);
}

/*
 * The reader's two paths give the same result: one-line records it parses
 * itself, and everything else through ldns -- a multi-line SOA with
 * comments, records that continue the previous owner, TTL and class in
 * either order, $ORIGIN changes, escapes and quoted strings (with ";"
 * inside), TTL units -- each rule on its own line number.
 */
START_TEST(rpz_reader_forms)
{
	static const char zone[] =
		"$TTL 1h\n"
		"$ORIGIN RPZ.Test.\n"
		"@ IN SOA localhost. root.localhost. ( ; a comment\n"
		"        2026112202 ; serial\n"
		"        3600 600 86400 60 )\n"
		"@ NS localhost.\n"                                     /* 6 */
		"Upper.Example.COM CNAME .\n"
		"   IN 120 CNAME .\n"                                   /* same owner: a duplicate */
		"ttl.example.com 300 IN CNAME *.\n"
		"cls.example.com IN 300 CNAME rpz-drop.\n"              /* 10 */
		"abs.example.org.rpz.test. CNAME .\n"
		"$ORIGIN sub.rpz.test.\n"
		"rel.example.net CNAME .\n"                            /* -> rel.example.net.sub */
		"$ORIGIN rpz.test.\n"
		"esc\\.dot.example.com CNAME .\n"                       /* 15: slow path */
		"txt.example.com TXT \"a;b\" \"c d\"\n"
		"multi.example.com MX ( 10\n"
		"    mail.example.net. )\n"
		"local.example.com 30 A 192.0.2.1\n"
		"local.example.com 30 A 192.0.2.2\n"                    /* 20 */
		"local.example.com 30 AAAA 2001:db8::1\n"
		"garden.example.com CNAME *.garden.example.net.\n"
		"unbalanced.example.com TXT ( \"x\"\n";
	FILE *in = fmemopen((void *)zone, sizeof(zone) - 1, "r");
	char *errs = NULL;
	size_t elen = 0;
	FILE *err = open_memstream(&errs, &elen);
	struct compiling k = { 0 };
	ck_assert_int_eq(vg_pol_compile_begin(&k.c), 0);
	struct vg_rpz_ctx c = { .path = "forms.rpz", .emit = compile_emit, .arg = &k, .errout = err };
	ck_assert_int_eq(vg_rpz_load(in, &c), 0);
	fclose(in);
	fclose(err);
	struct vg_pol_dup_cb cb = { count_dup, &k };
	ck_assert_int_eq(vg_pol_compile_end(k.c, &cb), 0);
	ck_assert_uint_eq(c.serial, 2026112202u);
	ck_assert_uint_eq(c.soa_ttl, 3600);
	ck_assert_msg(c.errors == 1 && strstr(errs, "forms.rpz:23:"), "errors: %s", errs);
	ck_assert_uint_eq(k.dups, 1); /* line 8 repeats line 7's trigger */
	struct vg_pol_snapshot *s;
	ck_assert_int_eq(vg_pol_assemble(&s, &k.c, 1), 0);
	vg_pol_compiled_unref(k.c);
	static const struct { const char *name; unsigned line; int action; } want[] = {
		{ "upper.example.com.", 7, VG_ACT_NXDOMAIN },
		{ "UPPER.example.com.", 7, VG_ACT_NXDOMAIN },
		{ "ttl.example.com.", 9, VG_ACT_NODATA },
		{ "cls.example.com.", 10, VG_ACT_DROP },
		{ "abs.example.org.", 11, VG_ACT_NXDOMAIN },
		{ "rel.example.net.sub.", 13, VG_ACT_NXDOMAIN },
		{ "esc\\.dot.example.com.", 15, VG_ACT_NXDOMAIN },
		{ "txt.example.com.", 16, VG_ACT_LOCAL },
		{ "multi.example.com.", 17, VG_ACT_LOCAL },
		{ "local.example.com.", 19, VG_ACT_LOCAL },
		{ "garden.example.com.", 22, VG_ACT_GARDEN },
	};
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct vg_pol_hit h;
		ck_assert_msg(match(s, 0, want[i].name, &h) == 0, "%s", want[i].name);
		ck_assert_uint_eq(h.rule->line, want[i].line);
		ck_assert_int_eq(h.rule->action, want[i].action);
	}
	struct vg_pol_hit h;
	ck_assert_int_eq(match(s, 0, "rel.example.net.", &h), VG_ENOTFOUND);
	ck_assert_int_eq(match(s, 0, "unbalanced.example.com.", &h), VG_ENOTFOUND);
	ck_assert_uint_eq(vg_pol_rule_count(s, 0), sizeof(want) / sizeof(want[0]) - 1);

	/* local data: the three records of one owner are one rule, in file order */
	ck_assert_int_eq(match(s, 0, "local.example.com.", &h), 0);
	struct vg_pol_ldata ld;
	uint32_t cur = 0;
	static const uint8_t a1[4] = { 192, 0, 2, 1 }, a2[4] = { 192, 0, 2, 2 };
	ck_assert(vg_pol_local_next(s, &h, &cur, &ld));
	ck_assert(ld.type == VG_T_A && ld.ttl == 30 && ld.rdlen == 4 && !memcmp(ld.rdata, a1, 4));
	ck_assert(vg_pol_local_next(s, &h, &cur, &ld));
	ck_assert(ld.type == VG_T_A && !memcmp(ld.rdata, a2, 4));
	ck_assert(vg_pol_local_next(s, &h, &cur, &ld));
	ck_assert(ld.type == VG_T_AAAA && ld.rdlen == 16);
	ck_assert(!vg_pol_local_next(s, &h, &cur, &ld));
	/* a TXT through ldns: two strings, the ";" kept */
	ck_assert_int_eq(match(s, 0, "txt.example.com.", &h), 0);
	cur = 0;
	ck_assert(vg_pol_local_next(s, &h, &cur, &ld));
	ck_assert(ld.type == VG_T_TXT && ld.ttl == 3600 && ld.rdlen == 8);
	ck_assert(!memcmp(ld.rdata, "\3a;b\3c d", 8));
	/* the walled garden keeps its target */
	ck_assert_int_eq(match(s, 0, "garden.example.com.", &h), 0);
	cur = 0;
	ck_assert(vg_pol_local_next(s, &h, &cur, &ld));
	uint8_t g[VG_NAME_MAX];
	vg_name_from_str("*.garden.example.net.", g, sizeof(g));
	ck_assert(ld.type == VG_T_CNAME && vg_name_eq(ld.rdata, g));
	vg_pol_free(s);
	free(errs);
}
END_TEST

/* A CNAME owner cannot carry other data: the second record is a duplicate. */
START_TEST(local_data_cname_excludes_others)
{
	static const char zone[] =
		"$ORIGIN rpz.test.\n"
		"@ SOA localhost. root.localhost. 1 3600 600 86400 60\n"
		"a.example.com CNAME target.example.net.\n"
		"a.example.com A 192.0.2.1\n"
		"b.example.com A 192.0.2.1\n"
		"b.example.com CNAME .\n";
	FILE *in = fmemopen((void *)zone, sizeof(zone) - 1, "r");
	struct compiling k = { 0 };
	ck_assert_int_eq(vg_pol_compile_begin(&k.c), 0);
	struct vg_rpz_ctx c = { .path = "x.rpz", .emit = compile_emit, .arg = &k };
	ck_assert_int_eq(vg_rpz_load(in, &c), 0);
	fclose(in);
	struct vg_pol_dup_cb cb = { count_dup, &k };
	ck_assert_int_eq(vg_pol_compile_end(k.c, &cb), 0);
	ck_assert_uint_eq(k.dups, 2);
	struct vg_pol_snapshot *s;
	ck_assert_int_eq(vg_pol_assemble(&s, &k.c, 1), 0);
	vg_pol_compiled_unref(k.c);
	struct vg_pol_hit h;
	struct vg_pol_ldata ld;
	uint32_t cur = 0;
	ck_assert_int_eq(match(s, 0, "a.example.com.", &h), 0);
	ck_assert(vg_pol_local_next(s, &h, &cur, &ld) && ld.type == VG_T_CNAME);
	ck_assert(!vg_pol_local_next(s, &h, &cur, &ld));
	ck_assert_int_eq(match(s, 0, "b.example.com.", &h), 0);
	ck_assert_int_eq(h.rule->action, VG_ACT_LOCAL);
	vg_pol_free(s);
}
END_TEST

/*
 * Broken policy files never crash the reader, on either path: a zone that
 * exercises both (one-line records, parentheses, quotes, escapes,
 * directives, local data) is mutated thousands of times (bytes replaced,
 * lines cut, characters that matter to the parsers inserted) and read into
 * a compiled source each time (ASan/UBSan builds run this too).  Every run
 * ends with 0 or VG_EPARSE, and the unmutated zone loads without errors.
 */
START_TEST(rpz_reader_mutations_never_crash)
{
	static const char base[] =
		"$TTL 300\n$ORIGIN rpz.test.\n"
		"@ SOA ns. root. ( 1 3600\n 600 86400 60 ) ; soa\n"
		"@ NS ns.\n"
		"a.example CNAME .\n*.b.example CNAME *.\n"
		"c.example 60 IN A 192.0.2.1\n  AAAA 2001:db8::1\n"
		"d\\.e.example TXT \"x;y\" \"z\"\n"
		"24.0.2.0.192.rpz-ip CNAME rpz-drop.\n"
		"128.1.zz.db8.2001.rpz-client-ip CNAME rpz-passthru.\n"
		"ns.f.example.rpz-nsdname CNAME .\n"
		"g.example CNAME *.garden.example.\n"
		"h.example MX ( 10\n mail.example. )\n";
	static const char special[] = "();\\\".*@$ \t\n0123456789zZ-";
	char buf[sizeof(base) + 64];
	uint32_t seed = 12345;
	unsigned ok = 0, parse = 0;
	for (int run = 0; run < 3000; run++) {
		size_t n = sizeof(base) - 1;
		memcpy(buf, base, n);
		int muts = run == 0 ? 0 : 1 + run % 4;
		for (int m = 0; m < muts && n; m++) {
			seed = seed * 1103515245u + 12345u;
			size_t at = (seed >> 8) % n;
			seed = seed * 1103515245u + 12345u;
			switch ((seed >> 16) % 4) {
			case 0: /* any byte */
				buf[at] = (char)(seed >> 24);
				break;
			case 1: /* a character the parsers care about */
				buf[at] = special[(seed >> 20) % (sizeof(special) - 1)];
				break;
			case 2: /* cut the rest */
				n = at;
				break;
			default: /* insert one */
				if (n + 1 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = special[(seed >> 20) % (sizeof(special) - 1)];
					n++;
				}
				break;
			}
		}
		FILE *in = fmemopen(buf, n ? n : 1, "r");
		ck_assert_ptr_nonnull(in);
		struct compiling k = { 0 };
		ck_assert_int_eq(vg_pol_compile_begin(&k.c), 0);
		struct vg_rpz_ctx c = { .path = "m.rpz", .emit = compile_emit, .arg = &k };
		int r = n ? vg_rpz_load(in, &c) : VG_EPARSE;
		fclose(in);
		ck_assert_msg(r == 0 || r == VG_EPARSE, "run %d: %d", run, r);
		if (run == 0)
			ck_assert_msg(r == 0 && c.errors == 0 && c.rules == 10, "base: %d errors %u rules %u",
				      r, c.errors, c.rules);
		ck_assert_int_eq(vg_pol_compile_end(k.c, NULL), 0);
		vg_pol_compiled_unref(k.c);
		r == 0 ? ok++ : parse++;
	}
	ck_assert(ok > 100 && parse > 10); /* the sweep reached both outcomes */
}
END_TEST

START_TEST(rpz_not_a_zone)
{
	static const char text[] = "www.example.com. 300 IN CNAME .\n";
	struct collected out;
	char *errs = NULL;
	size_t elen = 0;
	FILE *in = fmemopen((void *)text, sizeof(text) - 1, "r");
	FILE *err = open_memstream(&errs, &elen);
	struct vg_rpz_ctx c = { .path = "x.rpz", .emit = collect, .arg = &out, .errout = err };
	out.n = 0;
	ck_assert_int_eq(vg_rpz_load(in, &c), VG_EPARSE);
	fclose(in);
	fclose(err);
	ck_assert_uint_eq(out.n, 0);
	ck_assert_ptr_nonnull(strstr(errs, "x.rpz:1:"));
	free(errs);
}
END_TEST


/* Read @p text as a zone, the configured zone name @p zone (NULL: none). */
static int load_rpz_text(const char *text, const char *zone, struct collected *out,
			 struct vg_rpz_ctx *c, char **errs)
{
	size_t elen = 0;
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	FILE *err = open_memstream(errs, &elen);
	*c = (struct vg_rpz_ctx){ .path = "z.rpz", .emit = collect, .arg = out, .errout = err };
	if (zone) {
		ck_assert_int_gt(vg_name_from_str(zone, c->origin, sizeof(c->origin)), 0);
		c->origin_set = true;
	}
	out->n = 0;
	int r = vg_rpz_load(in, c);
	fclose(in);
	fclose(err);
	return r;
}

/*
 * The policy zone's name comes from $ORIGIN or the source's configured zone:
 * a file with neither is an error at its first record (it used to be read
 * silently as a zone named "."); when both are given they must agree.
 */
START_TEST(rpz_zone_name)
{
	static const char no_origin[] =
		"; no $ORIGIN\n"
		"$TTL 300\n"
		"@ SOA localhost. root.localhost. 7 3600 600 86400 60\n" /* 3 */
		"  NS localhost.\n"
		"bad.example CNAME .\n";
	static const char with_origin[] =
		"$ORIGIN rpz.example.\n"
		"@ SOA localhost. root.localhost. 7 3600 600 86400 60\n"
		"bad.example CNAME .\n";
	static const char absolute[] =
		"other.example. 300 SOA localhost. root.localhost. 7 3600 600 86400 60\n"
		"bad.example.other.example. 300 CNAME .\n";
	struct collected out;
	struct vg_rpz_ctx c;
	uint8_t want[VG_NAME_MAX], rule[VG_NAME_MAX];
	char *errs;

	/* neither $ORIGIN nor zone: FILE:LINE at the first record */
	ck_assert_int_eq(load_rpz_text(no_origin, NULL, &out, &c, &errs), VG_EPARSE);
	ck_assert_msg(strstr(errs, "z.rpz:3: no $ORIGIN") != NULL, "%s", errs);
	ck_assert_uint_eq(out.n, 0);
	free(errs);
	ck_assert_int_eq(load_rpz_text("", NULL, &out, &c, &errs), VG_EPARSE);
	ck_assert_msg(strstr(errs, "z.rpz:1:") != NULL, "%s", errs);
	free(errs);
	ck_assert_int_eq(load_rpz_text(absolute, NULL, &out, &c, &errs), VG_EPARSE);
	ck_assert_msg(strstr(errs, "z.rpz:1: no $ORIGIN") != NULL, "%s", errs);
	free(errs);

	/* the configured zone names it */
	ck_assert_int_eq(load_rpz_text(no_origin, "RPZ.Example", &out, &c, &errs), 0);
	ck_assert_str_eq(errs, "");
	free(errs);
	vg_name_from_str("rpz.example.", want, sizeof(want));
	ck_assert(vg_name_eq(c.origin, want));
	ck_assert_uint_eq(c.serial, 7);
	vg_name_from_str("bad.example.", rule, sizeof(rule));
	ck_assert_uint_eq(out.n, 1);
	ck_assert(vg_name_eq(out.r[0].name, rule));
	ck_assert_uint_eq(out.r[0].line, 5);

	/* both, agreeing (case and trailing dot do not matter) */
	ck_assert_int_eq(load_rpz_text(with_origin, "rpz.EXAMPLE.", &out, &c, &errs), 0);
	ck_assert_str_eq(errs, "");
	free(errs);
	ck_assert(vg_name_eq(c.origin, want));
	ck_assert_uint_eq(out.n, 1);
	ck_assert_int_eq(load_rpz_text(with_origin, NULL, &out, &c, &errs), 0);
	free(errs);
	ck_assert(vg_name_eq(c.origin, want));
	/* both, disagreeing: at the $ORIGIN, or at the SOA when it names the zone */
	ck_assert_int_eq(load_rpz_text(with_origin, "other.example", &out, &c, &errs), VG_EPARSE);
	ck_assert_msg(strstr(errs, "z.rpz:1: $ORIGIN rpz.example. before the SOA, but its "
			     "source's 'zone' is other.example.") != NULL, "%s", errs);
	ck_assert_uint_eq(out.n, 0);
	free(errs);
	ck_assert_int_eq(load_rpz_text(absolute, "rpz.example", &out, &c, &errs), VG_EPARSE);
	ck_assert_msg(strstr(errs, "z.rpz:1: the zone's SOA is owned by other.example., but "
			     "its source's 'zone' is rpz.example.") != NULL, "%s", errs);
	free(errs);
	ck_assert_int_eq(load_rpz_text(absolute, "other.example", &out, &c, &errs), 0);
	ck_assert_str_eq(errs, "");
	free(errs);
	ck_assert_uint_eq(out.n, 1);
	/* a $ORIGIN after the SOA only changes the relative names */
	ck_assert_int_eq(load_rpz_text("$ORIGIN rpz.example.\n@ SOA ns. root. 1 2 3 4 5\n"
				       "$ORIGIN sub.rpz.example.\nx CNAME .\n", "rpz.example",
				       &out, &c, &errs), 0);
	ck_assert_str_eq(errs, "");
	free(errs);
	vg_name_from_str("x.sub.", rule, sizeof(rule));
	ck_assert_uint_eq(out.n, 1);
	ck_assert(vg_name_eq(out.r[0].name, rule));
}
END_TEST

struct growing {
	struct vg_pol_rule *r;
	unsigned n;
};

static int shipped_emit(void *arg, const struct vg_pol_rule *r)
{
	struct growing *g = arg;
	if (g->n >= 4096)
		return VG_ELIMIT;
	g->r[g->n++] = *r;
	return 0;
}

/* The shipped policy zones load with vigil's own reader, without a single
 * error, and block what their test record says; the allow zone
 * (registries.rpz) lets its names through. */
START_TEST(shipped_policy_loads)
{
	static const char *const files[] = { "policy/supply-chain.rpz", "policy/ci-strict.rpz",
					     "policy/registries.rpz" };
	static const char *const tests[] = { "test.supply-chain.vigil.invalid.",
					     "test.ci-strict.vigil.invalid.",
					     "test.registries.vigil.invalid." };
	/* at least this many rules, and a name with the action of the zone */
	static const unsigned min_rules[] = { 50, 50, 20 };
	static const char *const names[] = { "models.litellm.cloud.", "x.webhook.site.",
					     "files.pythonhosted.org." };
	static const enum vg_pol_action actions[] = { VG_ACT_NXDOMAIN, VG_ACT_NXDOMAIN,
						      VG_ACT_PASSTHRU };
	FILE *f = fopen(files[_i], "r");
	ck_assert_msg(f != NULL, "cannot open %s (run from the source root)", files[_i]);
	struct vg_pol_rule *rules = calloc(4096, sizeof(*rules));
	struct growing g = { rules, 0 };
	struct vg_rpz_ctx c = { .path = files[_i], .errout = stderr, .arg = &g };
	c.emit = shipped_emit;
	ck_assert_int_eq(vg_rpz_load(f, &c), 0);
	fclose(f);
	ck_assert_uint_eq(c.errors, 0);
	ck_assert_uint_gt(c.rules, min_rules[_i]);
	ck_assert_uint_gt(c.serial, 2026000000u);
	struct vg_pol_source_rules src = { g.r, g.n };
	struct vg_pol_snapshot *s;
	struct vg_pol_hit h;
	ck_assert_int_eq(vg_pol_build(&s, &src, 1, NULL), 0);
	ck_assert_int_eq(match(s, 0, tests[_i], &h), 0);
	ck_assert_uint_eq(h.rule->action, VG_ACT_NXDOMAIN);
	ck_assert_int_eq(match(s, 0, names[_i], &h), 0);
	ck_assert_uint_eq(h.rule->action, actions[_i]);
	vg_pol_free(s);
	free(rules);
}
END_TEST

/* The decision log: lines written by the writer thread, JSON-escaped, all
 * of them by the time it stops. */
START_TEST(decision_log_lines)
{
	char path[] = "/tmp/vigil-plog-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	struct vg_plog *l;
	ck_assert_int_eq(vg_plog_start(&l, path, 2), 0);
	struct vg_plog_entry e = { .client = "192.0.2.1", .port = 5353, .transport = "udp",
				   .group = "g", .qname = "we\"ird\\name\x01.", .qtype = "A",
				   .source = "s", .trigger = "qname", .rule = "*.x",
				   .action = "nxdomain", .ede = 15 };
	for (unsigned i = 0; i < 100; i++)
		ck_assert(vg_plog_write(l, i % 2, &e));
	vg_plog_stop(l);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	char line[1024];
	unsigned n = 0;
	while (fgets(line, sizeof(line), f)) {
		n++;
		ck_assert_ptr_nonnull(strstr(line, "\"qname\":\"we\\\"ird\\\\name\\u0001.\""));
		ck_assert_ptr_nonnull(strstr(line, "\"client\":\"192.0.2.1\",\"port\":5353"));
		ck_assert_ptr_nonnull(strstr(line, "\"qtype\":\"A\""));
		ck_assert_ptr_nonnull(strstr(line, "\"ede\":15}"));
	}
	fclose(f);
	unlink(path);
	ck_assert_uint_eq(n, 100);
	/* a file that cannot be opened is an error at start */
	ck_assert_int_lt(vg_plog_start(&l, "/nonexistent-dir/x.log", 1), 0);
}
END_TEST

START_TEST(list_format_names)
{
	ck_assert_int_eq(vg_pol_list_format("hosts"), VG_LIST_HOSTS);
	ck_assert_int_eq(vg_pol_list_format("domains"), VG_LIST_DOMAINS);
	ck_assert_int_eq(vg_pol_list_format("adblock"), VG_LIST_ADBLOCK);
	ck_assert_int_eq(vg_pol_list_format("rpz"), VG_EINVAL);
}
END_TEST

/* ------------------------------------------------------------ the engine after resolution
 *
 * vg_policy_check / vg_policy_check_response on a hand-made policy (one
 * group, 192.0.2.0/24, with the given sources in order) and a real cache
 * holding the delegations NSDNAME and NSIP rules look at.
 */

#define NOW 1000

static struct vg_pol_rule nsdname(const char *n, bool wild, enum vg_pol_action a, unsigned line)
{
	struct vg_pol_rule r = qname(n, wild, a, line);
	r.trigger = VG_TRIG_NSDNAME;
	return r;
}

static struct vg_pol_rule ipa(enum vg_pol_trigger t, const char *a, unsigned bits,
			      enum vg_pol_action act, unsigned line)
{
	struct vg_pol_rule r = ip(t, a, bits, line);
	r.action = act;
	return r;
}

static struct vg_policy *pol_new(const struct vg_pol_source_rules *src, unsigned n)
{
	struct vg_policy *p = calloc(1, sizeof(*p));
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(vg_pol_build(&p->snap, src, n, NULL), 0);
	p->nsources = n;
	p->min_ns_dots = VG_POLICY_MIN_NS_DOTS_DEFAULT;
	for (unsigned i = 0; i < n; i++) {
		snprintf(p->src[i].name, sizeof(p->src[i].name), "s%u", i);
		p->src[i].ede = 15;
	}
	p->ngroups = 1;
	struct vg_policy_group *g = &p->groups[0];
	snprintf(g->name, sizeof(g->name), "g");
	g->clients[0].family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.0", g->clients[0].addr), 1);
	g->clients[0].bits = 24;
	g->n_clients = 1;
	for (unsigned i = 0; i < n; i++)
		g->sources[i] = (uint8_t)i;
	g->n_sources = n;
	return p;
}

static void pol_del(struct vg_policy *p)
{
	vg_pol_free(p->snap);
	free(p);
}

static const struct sockaddr *client(void)
{
	static struct sockaddr_in sin;
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	return (const struct sockaddr *)&sin;
}

/* RRsets with their own storage, for the cache and for answers. */
struct rrbuf {
	uint8_t owner[VG_NAME_MAX];
	uint8_t rd[1024];
	struct vg_rrset rs;
};

static uint8_t *wname(const char *s, uint8_t *out)
{
	ck_assert_int_gt(vg_name_from_str(s, out, VG_NAME_MAX), 0);
	return out;
}

/* An RRset of names (NS, CNAME): @p targets separated by spaces. */
static struct vg_rrset *mk_names(struct rrbuf *b, const char *owner, uint16_t type,
				 const char *targets)
{
	char copy[512], *save = NULL;
	size_t off = 0;
	uint16_t n = 0;
	wname(owner, b->owner);
	snprintf(copy, sizeof(copy), "%s", targets);
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		uint8_t nm[VG_NAME_MAX];
		wname(t, nm);
		size_t l = vg_name_len(nm);
		vg_put16(b->rd + off, (uint16_t)l);
		memcpy(b->rd + off + 2, nm, l);
		off += 2 + l;
		n++;
	}
	b->rs = (struct vg_rrset){ .owner = b->owner, .type = type, .rclass = VG_C_IN, .ttl = 3600,
				   .count = n, .rdata_len = (uint16_t)off, .rdata = b->rd };
	return &b->rs;
}

/* An A or AAAA RRset: @p addrs separated by spaces (all of one family). */
static struct vg_rrset *mk_addrs(struct rrbuf *b, const char *owner, const char *addrs)
{
	char copy[512], *save = NULL;
	size_t off = 0;
	uint16_t n = 0, type = strchr(addrs, ':') ? VG_T_AAAA : VG_T_A;
	wname(owner, b->owner);
	snprintf(copy, sizeof(copy), "%s", addrs);
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		uint16_t l = type == VG_T_A ? 4 : 16;
		vg_put16(b->rd + off, l);
		int fam = type == VG_T_A ? AF_INET : AF_INET6;
		ck_assert_int_eq(inet_pton(fam, t, b->rd + off + 2), 1);
		off += 2u + l;
		n++;
	}
	b->rs = (struct vg_rrset){ .owner = b->owner, .type = type, .rclass = VG_C_IN, .ttl = 3600,
				   .count = n, .rdata_len = (uint16_t)off, .rdata = b->rd };
	return &b->rs;
}

static void cache_ns(struct vg_cache *c, const char *zone, const char *ns)
{
	struct rrbuf b;
	struct vg_rrset *rs = mk_names(&b, zone, VG_T_NS, ns);
	ck_assert_int_eq(vg_cache_put(c, rs, VG_RANK_REFERRAL, NOW), 0);
}

static void cache_addrs(struct vg_cache *c, const char *name, const char *addrs)
{
	struct rrbuf b;
	ck_assert_int_eq(vg_cache_put(c, mk_addrs(&b, name, addrs), VG_RANK_GLUE, NOW), 0);
}

/* The answer to QNAME: a chain "a b c" means a CNAME b, b CNAME c, c A @p addr. */
struct answer {
	struct rrbuf b[8];
	struct vg_rrset *ans[8];
	unsigned n;
	uint8_t qname[VG_NAME_MAX];
	uint8_t buf[8192];
	struct vg_policy_answer pa;
};

static struct vg_policy_answer *answer(struct answer *a, struct vg_cache *c, uint16_t qtype,
				       const char *chain, const char *addr)
{
	char copy[512], *save = NULL, *prev = NULL;
	snprintf(copy, sizeof(copy), "%s", chain);
	a->n = 0;
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (prev) {
			a->ans[a->n] = mk_names(&a->b[a->n], prev, VG_T_CNAME, t);
			a->n++;
		} else {
			wname(t, a->qname);
		}
		prev = t;
	}
	if (addr) {
		a->ans[a->n] = mk_addrs(&a->b[a->n], prev, addr);
		a->n++;
	}
	a->pa = (struct vg_policy_answer){ .qname = a->qname, .qtype = qtype, .ans = a->ans,
					   .nans = a->n, .cache = c, .now = NOW, .buf = a->buf,
					   .cap = sizeof(a->buf) };
	return &a->pa;
}

/* Both steps for the query of @p a: the result of vg_policy_check_response. */
static int decide_all(const struct vg_policy *p, struct answer *a, struct vg_policy_decision *d)
{
	vg_policy_check(p, client(), a->qname, d);
	return vg_policy_check_response(p, &a->pa, d);
}

static void describe_is(const struct vg_policy *p, const struct vg_policy_decision *d,
			const uint8_t *qn, const char *want)
{
	char text[300];
	vg_policy_describe(p, d, qn, text, sizeof(text));
	ck_assert_str_eq(text, want);
}

START_TEST(nsdname_exact_wildcard_and_name_order)
{
	struct vg_pol_rule r[] = {
		nsdname("ns1.evil.example.", false, VG_ACT_NXDOMAIN, 1),
		nsdname("evil.example.", true, VG_ACT_NODATA, 2),      /* *.evil.example */
		nsdname("deep.evil.example.", true, VG_ACT_DROP, 3),   /* *.deep.evil.example */
		nsdname("a.ns.example.", false, VG_ACT_NXDOMAIN, 4),
		nsdname("z.ns.example.", false, VG_ACT_NODATA, 5),
	};
	struct vg_pol_source_rules src = { r, 5 };
	struct vg_policy *p = pol_new(&src, 1);
	struct vg_cache *c = vg_cache_new(1 << 20);
	struct answer a;
	struct vg_policy_decision d;
	/* exact beats any wildcard, whatever the order of the NS records */
	cache_ns(c, "v1.test.", "x.deep.evil.example. ns1.evil.example. y.evil.example.");
	answer(&a, c, VG_T_A, "www.v1.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_int_eq(d.trigger, VG_TRIG_NSDNAME);
	ck_assert_uint_eq(d.line, 1);
	ck_assert_uint_eq(d.stage, 0);
	ck_assert_int_eq(d.action, VG_ACT_NXDOMAIN);
	describe_is(p, &d, a.qname, "vigil: s0 rule nsdname ns1.evil.example");
	/* among wildcards, more labels */
	cache_ns(c, "v2.test.", "y.evil.example. x.deep.evil.example.");
	answer(&a, c, VG_T_A, "www.v2.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_uint_eq(d.line, 3);
	describe_is(p, &d, a.qname, "vigil: s0 rule nsdname *.deep.evil.example");
	/* two exact matches: the name server's name sorting last wins (z > a) */
	cache_ns(c, "v3.test.", "z.ns.example. a.ns.example.");
	answer(&a, c, VG_T_A, "www.v3.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_uint_eq(d.line, 5);
	cache_ns(c, "v4.test.", "a.ns.example. z.ns.example.");
	answer(&a, c, VG_T_A, "www.v4.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_uint_eq(d.line, 5);
	/* every delegation point counts, not only the closest one: the TLD's */
	cache_ns(c, "test.", "a.ns.example.");
	cache_ns(c, "v5.test.", "ns.clean.example.");
	answer(&a, c, VG_T_A, "www.v5.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_uint_eq(d.line, 4);
	/* but not the root's (min-ns-dots 1, the default) */
	cache_ns(c, ".", "ns1.evil.example.");
	answer(&a, c, VG_T_A, "www.other.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 0);
	ck_assert(!d.matched);
	p->min_ns_dots = 0; /* min-ns-dots 0: the root's too */
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert(d.matched && d.trigger == VG_TRIG_NSDNAME);
	p->min_ns_dots = 2; /* 2: not the TLD's either (test.'s a.ns.example) */
	answer(&a, c, VG_T_A, "www.v5.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 0);
	p->min_ns_dots = VG_POLICY_MIN_NS_DOTS_DEFAULT;
	/* nothing cached for the name: no NSDNAME data, no match; no cache at all */
	answer(&a, c, VG_T_A, "www.unknown.invalid.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 0);
	answer(&a, NULL, VG_T_A, "www.v1.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 0);
	/* a negative answer (no records) still has name servers; and the name
	 * order applies across delegation points: test.'s a.ns.example sorts
	 * after v1.test.'s ns1.evil.example (ns > evil in the second label) */
	answer(&a, c, VG_T_A, "nx.v1.test.", NULL);
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_uint_eq(d.line, 4);
	vg_cache_free(c);
	pol_del(p);
}
END_TEST

START_TEST(nsip_prefix_then_address)
{
	struct vg_pol_rule r[] = {
		ipa(VG_TRIG_NSIP, "10.0.0.0", 8, VG_ACT_NODATA, 1),
		ipa(VG_TRIG_NSIP, "10.1.0.0", 16, VG_ACT_NXDOMAIN, 2),
		ipa(VG_TRIG_NSIP, "2001:db8::", 32, VG_ACT_DROP, 3),
	};
	struct vg_pol_source_rules src = { r, 3 };
	struct vg_policy *p = pol_new(&src, 1);
	struct vg_cache *c = vg_cache_new(1 << 20);
	struct answer a;
	struct vg_policy_decision d;
	/* the longest prefix, over all addresses of all name servers */
	cache_ns(c, "z1.test.", "ns1.z1.test. ns2.z1.test.");
	cache_addrs(c, "ns1.z1.test.", "10.9.9.9");
	cache_addrs(c, "ns2.z1.test.", "10.1.5.5");
	answer(&a, c, VG_T_A, "www.z1.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_int_eq(d.trigger, VG_TRIG_NSIP);
	ck_assert_uint_eq(d.line, 2);
	describe_is(p, &d, a.qname, "vigil: s0 rule nsip 10.1.0.0/16");
	ck_assert_str_eq((char *)d.name, "\3ns2\2z1\4test");
	/* equal prefixes: the smallest address (IPv4 is ::a.b.c.d, below 2001:db8::) */
	cache_ns(c, "z2.test.", "ns1.z2.test. ns2.z2.test.");
	cache_addrs(c, "ns1.z2.test.", "10.1.0.9 10.1.0.7");
	cache_addrs(c, "ns2.z2.test.", "10.1.0.8");
	answer(&a, c, VG_T_A, "www.z2.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_uint_eq(d.line, 2);
	ck_assert_uint_eq(d.addr[15], 7);
	/* AAAA too */
	cache_ns(c, "z3.test.", "ns1.z3.test.");
	cache_addrs(c, "ns1.z3.test.", "2001:db8::53");
	answer(&a, c, VG_T_A, "www.z3.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_uint_eq(d.line, 3);
	ck_assert_int_eq(d.action, VG_ACT_DROP);
	describe_is(p, &d, a.qname, "vigil: s0 rule nsip 2001:db8::/32");
	/* an address no rule covers */
	cache_ns(c, "z4.test.", "ns1.z4.test.");
	cache_addrs(c, "ns1.z4.test.", "192.0.2.53");
	answer(&a, c, VG_T_A, "www.z4.test.", "192.0.2.10");
	ck_assert_int_eq(decide_all(p, &a, &d), 0);
	vg_cache_free(c);
	pol_del(p);
}
END_TEST

/* Within one zone: QNAME > RESPONSE-IP > NSDNAME > NSIP (RPZ.md 2.4 rule 4). */
START_TEST(trigger_order_within_a_zone)
{
	struct vg_cache *c = vg_cache_new(1 << 20);
	cache_ns(c, "t.test.", "ns1.t.test.");
	cache_addrs(c, "ns1.t.test.", "10.0.0.53");
	struct vg_pol_rule all[] = {
		ipa(VG_TRIG_NSIP, "10.0.0.53", 32, VG_ACT_NXDOMAIN, 1),
		nsdname("ns1.t.test.", false, VG_ACT_NXDOMAIN, 2),
		ipa(VG_TRIG_RESP_IP, "192.0.2.10", 32, VG_ACT_NXDOMAIN, 3),
		qname("www.t.test.", false, VG_ACT_NODATA, 4),
	};
	static const enum vg_pol_trigger want[] = { VG_TRIG_NSIP, VG_TRIG_NSDNAME,
						    VG_TRIG_RESP_IP, VG_TRIG_QNAME };
	for (unsigned n = 1; n <= 4; n++) {
		struct vg_pol_source_rules src = { all, n };
		struct vg_policy *p = pol_new(&src, 1);
		struct answer a;
		struct vg_policy_decision d;
		answer(&a, c, VG_T_A, "www.t.test.", "192.0.2.10");
		int pre = vg_policy_check(p, client(), a.qname, &d);
		/* a QNAME match in the only source is final before resolution */
		ck_assert_int_eq(d.check_answer, n < 4);
		ck_assert(n < 4 || !d.defer);
		ck_assert_int_eq(pre, n == 4);
		ck_assert_int_eq(vg_policy_check_response(p, &a.pa, &d), 1);
		ck_assert_int_eq(d.trigger, want[n - 1]);
		ck_assert_uint_eq(d.line, n);
		pol_del(p);
	}
	vg_cache_free(c);
}
END_TEST

/* Zone order first (RPZ.md 2.4 rule 2): an earlier zone's answer-side rule
 * beats a later zone's QNAME rule (the decision waits for the answer), a
 * later zone's never beats an earlier zone's. */
START_TEST(zone_order_across_sources)
{
	struct vg_cache *c = vg_cache_new(1 << 20);
	cache_ns(c, "t.test.", "ns1.t.test.");
	cache_addrs(c, "ns1.t.test.", "10.0.0.53");
	struct answer a;
	struct vg_policy_decision d;
	struct vg_pol_rule nsip_pass[] = { ipa(VG_TRIG_NSIP, "10.0.0.0", 8, VG_ACT_PASSTHRU, 1) };
	struct vg_pol_rule nsd_block[] = { nsdname("ns1.t.test.", false, VG_ACT_NODATA, 1) };
	struct vg_pol_rule qn_block[] = { qname("www.t.test.", false, VG_ACT_NXDOMAIN, 7) };
	struct vg_pol_rule nsd_other[] = { nsdname("ns.elsewhere.test.", false, VG_ACT_DROP, 1) };
	/* NSIP PASSTHRU in zone 0 beats zone 1's QNAME NXDOMAIN */
	struct vg_pol_source_rules s1[] = { { nsip_pass, 1 }, { qn_block, 1 } };
	struct vg_policy *p = pol_new(s1, 2);
	answer(&a, c, VG_T_A, "www.t.test.", "192.0.2.10");
	ck_assert_int_eq(vg_policy_check(p, client(), a.qname, &d), 1);
	ck_assert(d.defer && d.check_answer);
	ck_assert_uint_eq(d.order, 1);
	ck_assert_int_eq(vg_policy_check_response(p, &a.pa, &d), 0);
	ck_assert(d.matched);
	ck_assert_int_eq(d.action, VG_ACT_PASSTHRU);
	ck_assert_int_eq(d.trigger, VG_TRIG_NSIP);
	ck_assert_uint_eq(d.order, 0);
	pol_del(p);
	/* zone 0's NSDNAME rules match nothing here: zone 1's QNAME rule stands */
	struct vg_pol_source_rules s2[] = { { nsd_other, 1 }, { qn_block, 1 } };
	p = pol_new(s2, 2);
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_int_eq(d.trigger, VG_TRIG_QNAME);
	ck_assert_uint_eq(d.line, 7);
	pol_del(p);
	/* QNAME in zone 0, NSDNAME in zone 1: decided before resolution */
	struct vg_pol_source_rules s3[] = { { qn_block, 1 }, { nsd_block, 1 } };
	p = pol_new(s3, 2);
	ck_assert_int_eq(vg_policy_check(p, client(), a.qname, &d), 1);
	ck_assert(!d.defer && !d.check_answer);
	ck_assert_int_eq(vg_policy_check_response(p, &a.pa, &d), 1);
	ck_assert_int_eq(d.trigger, VG_TRIG_QNAME);
	pol_del(p);
	/* two answer-side rules: zone 0's NSDNAME over zone 1's NSIP PASSTHRU */
	struct vg_pol_source_rules s4[] = { { nsd_block, 1 }, { nsip_pass, 1 } };
	p = pol_new(s4, 2);
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_int_eq(d.trigger, VG_TRIG_NSDNAME);
	ck_assert_int_eq(d.action, VG_ACT_NODATA);
	ck_assert_uint_eq(d.order, 0);
	pol_del(p);
	vg_cache_free(c);
}
END_TEST

/* Per-source overrides (RPZ.md 2.5) and the query flags a source applies to. */
START_TEST(overrides_and_query_flags)
{
	struct vg_pol_rule r0[] = { qname("x.test.", false, VG_ACT_NXDOMAIN, 3),
				    qname("p.test.", false, VG_ACT_PASSTHRU, 4) };
	struct vg_pol_rule r1[] = { qname("x.test.", false, VG_ACT_NODATA, 9),
				    qname("p.test.", false, VG_ACT_NXDOMAIN, 10) };
	struct vg_pol_source_rules src[] = { { r0, 2 }, { r1, 2 } };
	struct vg_policy *p = pol_new(src, 2);
	struct vg_policy_decision d;
	uint8_t x[VG_NAME_MAX], pn[VG_NAME_MAX];
	const uint8_t *cn;
	wname("x.test.", x);
	wname("p.test.", pn);
	/* disabled: source 0's match is only logged; source 1 decides */
	p->src[0].cfg.override = VG_POVR_DISABLED;
	ck_assert_int_eq(vg_policy_check(p, client(), x, &d), 1);
	ck_assert_uint_eq(d.source, 1);
	ck_assert_int_eq(d.action, VG_ACT_NODATA);
	ck_assert(d.logonly.set);
	ck_assert_uint_eq(d.logonly.source, 0);
	ck_assert_uint_eq(d.logonly.line, 3);
	/* given: source 0 decides; an override replaces the action afterwards */
	p->src[0].cfg.override = VG_POVR_GIVEN;
	ck_assert_int_eq(vg_policy_check(p, client(), x, &d), 1);
	ck_assert(d.source == 0 && d.action == VG_ACT_NXDOMAIN && !d.logonly.set);
	p->src[0].cfg.override = VG_POVR_NODATA;
	vg_policy_override(p, &d, &cn);
	ck_assert(d.action == VG_ACT_NODATA && d.rewrite && !cn);
	/* an override replaces the action of every match (RPZ.md 2.5): a
	 * blocking rule under "passthru" lets the name through (and stops the
	 * later sources), a PASSTHRU rule under "nxdomain" blocks */
	p->src[0].cfg.override = VG_POVR_PASSTHRU;
	ck_assert_int_eq(vg_policy_check(p, client(), x, &d), 0);
	ck_assert(d.matched && d.source == 0 && !d.rewrite);
	vg_policy_override(p, &d, &cn);
	ck_assert(d.action == VG_ACT_PASSTHRU && !d.rewrite);
	p->src[0].cfg.override = VG_POVR_NXDOMAIN;
	ck_assert_int_eq(vg_policy_check(p, client(), pn, &d), 1);
	ck_assert(d.matched && d.source == 0 && d.rewrite && d.action == VG_ACT_PASSTHRU);
	vg_policy_override(p, &d, &cn);
	ck_assert(d.action == VG_ACT_NXDOMAIN && d.rewrite);
	p->src[0].cfg.override = VG_POVR_CNAME;
	wname("walled.example.", p->src[0].cfg.override_cname);
	ck_assert_int_eq(vg_policy_check(p, client(), x, &d), 1);
	vg_policy_override(p, &d, &cn);
	ck_assert(d.action == VG_ACT_LOCAL && cn == p->src[0].cfg.override_cname);
	p->src[0].cfg.override = VG_POVR_GIVEN;
	/* recursive-only: an RD=0 query is not checked against such sources */
	p->src[0].cfg.recursive_only = p->src[1].cfg.recursive_only = true;
	ck_assert_int_eq(vg_policy_check_flags(p, client(), x, false, false, &d), 0);
	ck_assert(!d.matched);
	p->src[0].cfg.recursive_only = false;
	ck_assert_int_eq(vg_policy_check_flags(p, client(), x, false, false, &d), 1);
	ck_assert_uint_eq(d.source, 0);
	/* break-dnssec no: a DO=1 query waits for the answer, which is rewritten
	 * only if it has no DNSSEC data; a PASSTHRU still stops at once */
	p->src[0].cfg.break_dnssec = p->src[1].cfg.break_dnssec = false;
	struct vg_policy_answer pa = { .qname = x, .qtype = VG_T_A };
	ck_assert_int_eq(vg_policy_check_flags(p, client(), x, true, true, &d), 1);
	ck_assert(d.defer && d.check_answer && d.source == 0);
	pa.dnssec_data = true;
	ck_assert_int_eq(vg_policy_check_response(p, &pa, &d), 0);
	ck_assert(!d.rewrite && d.kept_dnssec);
	ck_assert_int_eq(vg_policy_check_flags(p, client(), x, true, true, &d), 1);
	pa.dnssec_data = false;
	ck_assert_int_eq(vg_policy_check_response(p, &pa, &d), 1);
	ck_assert(d.rewrite && d.source == 0 && d.action == VG_ACT_NXDOMAIN);
	ck_assert_int_eq(vg_policy_check_flags(p, client(), pn, true, true, &d), 0);
	ck_assert(d.matched && d.source == 0 && d.action == VG_ACT_PASSTHRU && !d.defer);
	/* DO=0: decided at once, whatever break-dnssec says */
	ck_assert_int_eq(vg_policy_check_flags(p, client(), x, true, false, &d), 1);
	ck_assert(!d.defer && d.source == 0);
	pol_del(p);
}
END_TEST

/* A rewrite waits for the answer only when an earlier source's answer-side
 * rules could let the name through, or with qname-wait-recurse. */
START_TEST(qname_wait_recurse)
{
	struct vg_pol_rule blk[] = { ipa(VG_TRIG_RESP_IP, "10.99.99.99", 32, VG_ACT_NODATA, 1) };
	struct vg_pol_rule pass[] = { ipa(VG_TRIG_RESP_IP, "10.99.99.99", 32, VG_ACT_PASSTHRU, 1) };
	struct vg_pol_rule q[] = { qname("x.test.", false, VG_ACT_NXDOMAIN, 2),
				   qname("y.test.", false, VG_ACT_PASSTHRU, 3) };
	struct vg_policy_decision d;
	uint8_t x[VG_NAME_MAX], y[VG_NAME_MAX];
	wname("x.test.", x);
	wname("y.test.", y);
	struct vg_pol_source_rules s1[] = { { blk, 1 }, { q, 2 } };
	struct vg_policy *p = pol_new(s1, 2);
	ck_assert_int_eq(vg_policy_check(p, client(), x, &d), 1);
	ck_assert(!d.defer && !d.check_answer); /* decided: never sent upstream */
	ck_assert_int_eq(vg_policy_check(p, client(), y, &d), 0);
	ck_assert(d.defer); /* a pass still waits: the earlier block may apply */
	p->qname_wait_recurse = true;
	ck_assert_int_eq(vg_policy_check(p, client(), x, &d), 1);
	ck_assert(d.defer && d.check_answer);
	pol_del(p);
	struct vg_pol_source_rules s2[] = { { pass, 1 }, { q, 2 } };
	p = pol_new(s2, 2);
	ck_assert_int_eq(vg_policy_check(p, client(), x, &d), 1);
	ck_assert(d.defer); /* the earlier PASSTHRU could let it through */
	pol_del(p);
}
END_TEST

/* The CNAME chain (RPZ.md 2.4 rule 1): an earlier stage beats a later one
 * whatever the zone order; one rule for the whole chain, PASSTHRU included. */
START_TEST(chain_stages)
{
	struct vg_cache *c = vg_cache_new(1 << 20);
	cache_ns(c, "c.test.", "ns.bad.example.");
	struct answer a;
	struct vg_policy_decision d;
	struct vg_rrset *chain[8];
	struct vg_pol_rule z0[] = { qname("c.test.", false, VG_ACT_NXDOMAIN, 1) };
	struct vg_pol_rule z1[] = { qname("b.test.", false, VG_ACT_NODATA, 2) };
	/* zone 1 matches stage 1 (b), zone 0 stage 2 (c): stage 1 wins */
	struct vg_pol_source_rules s1[] = { { z0, 1 }, { z1, 1 } };
	struct vg_policy *p = pol_new(s1, 2);
	answer(&a, c, VG_T_A, "a.test. b.test. c.test.", "192.0.2.33");
	ck_assert_int_eq(vg_policy_check(p, client(), a.qname, &d), 0);
	ck_assert(d.check_answer && !d.defer);
	ck_assert_int_eq(vg_policy_check_response(p, &a.pa, &d), 1);
	ck_assert_uint_eq(d.stage, 1);
	ck_assert_uint_eq(d.source, 1);
	ck_assert_int_eq(d.action, VG_ACT_NODATA);
	ck_assert(vg_name_eq(d.stage_name, a.b[1].owner));
	describe_is(p, &d, a.qname, "vigil: s1 rule b.test");
	/* the answer keeps the CNAMEs up to the rewritten name */
	ck_assert_uint_eq(vg_policy_chain(a.qname, a.ans, a.n, 1, chain, 8), 1);
	ck_assert_ptr_eq(chain[0], a.ans[0]);
	ck_assert_uint_eq(vg_policy_chain(a.qname, a.ans, a.n, 2, chain, 8), 2);
	pol_del(p);
	/* only zone 0: stage 2 */
	p = pol_new(s1, 1);
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_uint_eq(d.stage, 2);
	describe_is(p, &d, a.qname, "vigil: s0 rule c.test");
	/* QTYPE CNAME: no chain, nothing */
	answer(&a, c, VG_T_CNAME, "a.test. b.test.", NULL);
	ck_assert_int_eq(decide_all(p, &a, &d), 0);
	ck_assert(!d.matched);
	pol_del(p);
	/* PASSTHRU at stage 1 stops the block at stage 2 (same zone, or later zones) */
	struct vg_pol_rule z2[] = { qname("b.test.", false, VG_ACT_PASSTHRU, 3),
				    qname("c.test.", false, VG_ACT_NXDOMAIN, 4) };
	struct vg_pol_source_rules s2[] = { { z2, 2 } };
	p = pol_new(s2, 1);
	answer(&a, c, VG_T_A, "a.test. b.test. c.test.", "192.0.2.33");
	ck_assert_int_eq(decide_all(p, &a, &d), 0);
	ck_assert(d.matched);
	ck_assert_uint_eq(d.stage, 1);
	ck_assert_int_eq(d.action, VG_ACT_PASSTHRU);
	pol_del(p);
	struct vg_pol_rule z3[] = { qname("b.test.", false, VG_ACT_PASSTHRU, 5) };
	struct vg_pol_source_rules s3[] = { { z3, 1 }, { z0, 1 } };
	p = pol_new(s3, 2);
	ck_assert_int_eq(decide_all(p, &a, &d), 0);
	ck_assert_uint_eq(d.stage, 1);
	pol_del(p);
	/* PASSTHRU at stage 0 (before resolution): later stages are not looked at */
	struct vg_pol_rule z4[] = { qname("a.test.", false, VG_ACT_PASSTHRU, 6),
				    qname("c.test.", false, VG_ACT_NXDOMAIN, 7) };
	struct vg_pol_source_rules s4[] = { { z4, 2 } };
	p = pol_new(s4, 1);
	ck_assert_int_eq(vg_policy_check(p, client(), a.qname, &d), 0);
	ck_assert(!d.check_answer);
	ck_assert_int_eq(vg_policy_check_response(p, &a.pa, &d), 0);
	pol_del(p);
	/* a later zone's QNAME rule at stage 1 beats an earlier zone's
	 * RESPONSE-IP rule on the address of the last stage */
	struct vg_pol_rule z5[] = { ipa(VG_TRIG_RESP_IP, "192.0.2.33", 32, VG_ACT_DROP, 8) };
	struct vg_pol_source_rules s5[] = { { z5, 1 }, { z1, 1 } };
	p = pol_new(s5, 2);
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_int_eq(d.trigger, VG_TRIG_QNAME);
	ck_assert_uint_eq(d.stage, 1);
	pol_del(p);
	/* ... and without it the RESPONSE-IP rule matches at the last stage */
	p = pol_new(s5, 1);
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_int_eq(d.trigger, VG_TRIG_RESP_IP);
	ck_assert_uint_eq(d.stage, 2);
	pol_del(p);
	/* NSDNAME at a later stage: c.test's name server */
	struct vg_pol_rule z6[] = { nsdname("ns.bad.example.", false, VG_ACT_NXDOMAIN, 9) };
	struct vg_pol_source_rules s6[] = { { z6, 1 } };
	p = pol_new(s6, 1);
	ck_assert_int_eq(decide_all(p, &a, &d), 1);
	ck_assert_int_eq(d.trigger, VG_TRIG_NSDNAME);
	ck_assert_uint_eq(d.stage, 2);
	ck_assert(vg_name_eq(d.stage_name, a.b[2].owner));
	describe_is(p, &d, a.qname, "vigil: s0 rule nsdname ns.bad.example");
	/* the client's group has no rule for any stage: nothing to check */
	pol_del(p);
	struct vg_pol_source_rules none[] = { { NULL, 0 } };
	p = pol_new(none, 1);
	ck_assert_int_eq(vg_policy_check(p, client(), a.qname, &d), 0);
	ck_assert(!d.check_answer);
	pol_del(p);
	vg_cache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("snapshot");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, names_exact_wildcard_longest);
	tcase_add_test(tc, duplicates_keep_the_first_and_sources_are_separate);
	tcase_add_test(tc, addresses_longest_prefix);
	tcase_add_test(tc, million_rules_memory);
	tcase_add_test(tc, hosts_file);
	tcase_add_test(tc, domain_list);
	tcase_add_test(tc, adblock_rules);
	tcase_add_test(tc, list_format_names);
	tcase_add_test(tc, decision_log_lines);
	tcase_add_test(tc, rpz_zone_actions_and_errors);
	tcase_add_test(tc, rpz_not_a_zone);
	tcase_add_test(tc, rpz_zone_name);
	tcase_add_test(tc, rpz_reader_forms);
	tcase_add_test(tc, rpz_reader_mutations_never_crash);
	tcase_add_test(tc, local_data_cname_excludes_others);
	tcase_add_loop_test(tc, shipped_policy_loads, 0, 3);
	suite_add_tcase(s, tc);
	TCase *te = tcase_create("engine");
	tcase_add_test(te, nsdname_exact_wildcard_and_name_order);
	tcase_add_test(te, nsip_prefix_then_address);
	tcase_add_test(te, trigger_order_within_a_zone);
	tcase_add_test(te, zone_order_across_sources);
	tcase_add_test(te, chain_stages);
	tcase_add_test(te, overrides_and_query_flags);
	tcase_add_test(te, qname_wait_recurse);
	suite_add_tcase(s, te);
	return vg_test_run(s);
}
