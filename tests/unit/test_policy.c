/* SPDX-License-Identifier: MIT
 *
 * The compiled policy snapshot: name triggers (exact, wildcard, longest
 * wildcard, case), address triggers (longest prefix, IPv4 and IPv6 in one
 * space), duplicates, source isolation, and the memory a million QNAME rules
 * take (the bound: under 64 bytes a rule); the list and RPZ readers, the
 * decision log.  The engine's decisions: test_policy_engine.c.  No timings
 * are asserted.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "check_main.h"
#include "policy_rules.h"
#include "cache/cache.h"
#include "policy/engine.h"
#include "policy/lists.h"
#include "policy/plog.h"
#include "policy/rpzload.h"
#include "policy/snapshot.h"


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
					     "policy/registries.rpz",
					     "policy/encrypted-dns-bypass.rpz" };
	static const char *const tests[] = { "test.supply-chain.vigil.invalid.",
					     "test.ci-strict.vigil.invalid.",
					     "test.registries.vigil.invalid.",
					     "test.encrypted-dns-bypass.vigil.invalid." };
	/* at least this many rules, and a name with the action of the zone */
	static const unsigned min_rules[] = { 50, 50, 20, 30 };
	static const char *const names[] = { "models.litellm.cloud.", "x.webhook.site.",
					     "files.pythonhosted.org.",
					     "mozilla.cloudflare-dns.com." };
	static const enum vg_pol_action actions[] = { VG_ACT_NXDOMAIN, VG_ACT_NXDOMAIN,
						      VG_ACT_PASSTHRU, VG_ACT_NXDOMAIN };
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
	tcase_add_loop_test(tc, shipped_policy_loads, 0, 4);
	suite_add_tcase(s, tc);
	return vg_test_run(s);
}
