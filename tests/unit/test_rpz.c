/* SPDX-License-Identifier: MIT
 *
 * Unit tests for src/policy/rpz.c: RPZ trigger decoding from owner names
 * (draft-vixie-dnsop-dns-rpz-00 §4, RPZ.md 2.3).  This covers every trigger
 * type, the worked examples of RPZ.md and of the example zone in the draft
 * and the BIND ARM, the boundary prefix lengths, the "zz" canonical form
 * (RFC 5952), and each way an encoding can be invalid.  It also checks that
 * no input crashes the decoder, running under ASan/UBSan as well.
 *
 * Owner names are written in presentation form relative to the policy zone
 * ORIGIN and turned into wire form by mkname(), which keeps letter case
 * (vg_name_from_str lower-cases), so upper-case input really reaches the
 * decoder.
 */
#include <check.h>

#include "check_main.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"
#include "vigil/err.h"
#include "vigil/wire.h"

#define ORIGIN "rpz.example.org"

/* Case-preserving presentation -> wire ("a.b." or "a.b"; "." is the root); no escapes. */
static void mkname(const char *s, uint8_t out[VG_NAME_MAX])
{
	size_t o = 0;
	if (strcmp(s, ".") == 0) {
		out[0] = 0;
		return;
	}
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		ck_assert_msg(l >= 1 && l <= 63, "bad test label in %s", s);
		ck_assert_uint_lt(o + 1 + l, VG_NAME_MAX);
		out[o++] = (uint8_t)l;
		memcpy(out + o, s, l);
		o += l;
		s += l;
		if (*s == '.')
			s++;
	}
	out[o] = 0;
}

/* Decode @p rel (relative to ORIGIN) into @p r. */
static int dec(const char *rel, struct vg_pol_rule *r, const char **why)
{
	char buf[600];
	uint8_t owner[VG_NAME_MAX], origin[VG_NAME_MAX];
	snprintf(buf, sizeof(buf), "%s.%s", rel, ORIGIN);
	mkname(buf, owner);
	mkname(ORIGIN, origin);
	memset(r, 0xa5, sizeof(*r)); /* garbage: the decoder must set what it reports */
	return vg_rpz_owner(owner, origin, r, why);
}

static void expect_name(const char *rel, enum vg_pol_trigger t, bool wild, const char *name)
{
	struct vg_pol_rule r;
	const char *why = "unset";
	uint8_t want[VG_NAME_MAX];
	ck_assert_int_gt(vg_name_from_str(name, want, sizeof(want)), 0);
	int ret = dec(rel, &r, &why);
	ck_assert_msg(ret == 0, "%s: %d (%s)", rel, ret, why ? why : "-");
	ck_assert_ptr_null(why);
	ck_assert_msg(r.trigger == t, "%s: trigger %d, want %d", rel, r.trigger, t);
	ck_assert_msg(r.wildcard == wild, "%s: wildcard %d", rel, r.wildcard);
	/* exact bytes: the stored name is lower-case */
	size_t len = vg_name_len(want);
	ck_assert_msg(vg_name_len(r.name) == len && memcmp(r.name, want, len) == 0,
		      "%s: wrong name", rel);
	ck_assert_uint_eq(r.prefix.bits, 0);
}

static void expect_addr(const char *rel, enum vg_pol_trigger t, const uint8_t addr[16],
			unsigned bits, bool v4)
{
	struct vg_pol_rule r;
	const char *why = "unset";
	int ret = dec(rel, &r, &why);
	ck_assert_msg(ret == 0, "%s: %d (%s)", rel, ret, why ? why : "-");
	ck_assert_ptr_null(why);
	ck_assert_msg(r.trigger == t, "%s: trigger %d, want %d", rel, r.trigger, t);
	ck_assert_msg(memcmp(r.prefix.addr, addr, 16) == 0, "%s: wrong address", rel);
	ck_assert_msg(r.prefix.bits == bits, "%s: bits %u, want %u", rel, r.prefix.bits, bits);
	ck_assert_msg(r.prefix.v4 == v4, "%s: v4 %d", rel, r.prefix.v4);
	ck_assert(!r.wildcard);
	ck_assert_uint_eq(r.name[0], 0); /* root: no name for address triggers */
}

/* IPv4 a.b.c.d/plen as ::a.b.c.d with plen + 96 bits */
static void expect_v4(const char *rel, enum vg_pol_trigger t, const char *a4, unsigned plen)
{
	uint8_t addr[16] = { 0 };
	ck_assert_int_eq(inet_pton(AF_INET, a4, addr + 12), 1);
	expect_addr(rel, t, addr, plen + 96, true);
}

static void expect_v6(const char *rel, enum vg_pol_trigger t, const char *a6, unsigned plen)
{
	uint8_t addr[16];
	ck_assert_int_eq(inet_pton(AF_INET6, a6, addr), 1);
	expect_addr(rel, t, addr, plen, false);
}

/* Fails with @p err, a reason containing @p frag, and leaves the rule untouched. */
static void expect_err(const char *rel, int err, const char *frag)
{
	char buf[600];
	uint8_t owner[VG_NAME_MAX], origin[VG_NAME_MAX];
	struct vg_pol_rule r, before;
	const char *why = NULL;
	snprintf(buf, sizeof(buf), "%s.%s", rel, ORIGIN);
	mkname(buf, owner);
	mkname(ORIGIN, origin);
	memset(&r, 0x5a, sizeof(r));
	before = r;
	int ret = vg_rpz_owner(owner, origin, &r, &why);
	ck_assert_msg(ret == err, "%s: got %d, want %d (%s)", rel, ret, err, why ? why : "-");
	ck_assert_msg(why != NULL, "%s: no reason", rel);
	ck_assert_msg(strstr(why, frag) != NULL, "%s: reason \"%s\" lacks \"%s\"", rel, why, frag);
	ck_assert_msg(memcmp(&r, &before, sizeof(r)) == 0, "%s: rule changed on error", rel);
}

#define BITS "past the prefix"
#define CANON "not a canonical IPv6"
#define COUNT "wrong number of address labels"
#define OCTET "IPv4 octet"
#define HEXTET "IPv6 hextet"
#define PLEN "prefix length"

/* ------------------------------------------------------------ name triggers */

START_TEST(qname_exact)
{
	expect_name("www.example.com", VG_TRIG_QNAME, false, "www.example.com.");
	expect_name("com", VG_TRIG_QNAME, false, "com.");
	/* a '*' inside a label is an ordinary character, not a wildcard */
	expect_name("a*b.example", VG_TRIG_QNAME, false, "a*b.example.");
	/* rpz- labels only mean something as the last relative label */
	expect_name("24.0.2.0.192.rpz-ip.example", VG_TRIG_QNAME, false,
		    "24.0.2.0.192.rpz-ip.example.");
	expect_name("rpz-nsdname.example.com", VG_TRIG_QNAME, false, "rpz-nsdname.example.com.");
}
END_TEST

START_TEST(qname_wildcard)
{
	/* "*.example.com.rpz.example.org." gives wildcard example.com. (RPZ.md 2.3) */
	expect_name("*.example.com", VG_TRIG_QNAME, true, "example.com.");
	expect_name("*.a.b.c.d.example", VG_TRIG_QNAME, true, "a.b.c.d.example.");
	/* "*" alone: everything below the root */
	expect_name("*", VG_TRIG_QNAME, true, ".");
}
END_TEST

START_TEST(qname_uppercase_lowered)
{
	expect_name("WWW.Example.COM", VG_TRIG_QNAME, false, "www.example.com.");
	expect_name("*.EXAMPLE.NET", VG_TRIG_QNAME, true, "example.net.");
	expect_name("NS.Example.NET.Rpz-NsDname", VG_TRIG_NSDNAME, false, "ns.example.net.");
}
END_TEST

START_TEST(star_only_as_first_label)
{
	expect_err("www.*.example.com", VG_EINVAL, "first label");
	expect_err("example.*", VG_EINVAL, "first label");
	expect_err("*.*.example.com", VG_EINVAL, "first label");
	expect_err("ns.*.example.com.rpz-nsdname", VG_EINVAL, "first label");
	expect_err("*.*.rpz-nsdname", VG_EINVAL, "first label");
}
END_TEST

START_TEST(nsdname_exact)
{
	expect_name("ns.evil.example.com.rpz-nsdname", VG_TRIG_NSDNAME, false,
		    "ns.evil.example.com.");
	expect_name("ns1.rpz-nsdname", VG_TRIG_NSDNAME, false, "ns1.");
}
END_TEST

START_TEST(nsdname_wildcard)
{
	expect_name("*.hoster.example.net.rpz-nsdname", VG_TRIG_NSDNAME, true,
		    "hoster.example.net.");
	expect_name("*.rpz-nsdname", VG_TRIG_NSDNAME, true, ".");
	/* no name at all before rpz-nsdname */
	expect_err("rpz-nsdname", VG_EINVAL, "no name");
}
END_TEST

/* ------------------------------------------------------------ IPv4 */

START_TEST(client_ip_v4)
{
	expect_v4("32.1.0.0.127.rpz-client-ip", VG_TRIG_CLIENT_IP, "127.0.0.1", 32);
	expect_v4("8.0.0.0.127.rpz-client-ip", VG_TRIG_CLIENT_IP, "127.0.0.0", 8);
	expect_v4("16.0.0.1.10.rpz-client-ip", VG_TRIG_CLIENT_IP, "10.1.0.0", 16);
}
END_TEST

START_TEST(resp_ip_v4_rpz_md_example)
{
	/* RPZ.md 2.3: 192.0.2.0/24 -> 24.0.2.0.192 */
	expect_v4("24.0.2.0.192.rpz-ip", VG_TRIG_RESP_IP, "192.0.2.0", 24);

	/* RPZ.md 2.4 rule 7: stored as ::c000:0200, zero-filled, not ::ffff:c000:200 */
	struct vg_pol_rule r;
	uint8_t want[16];
	ck_assert_int_eq(dec("24.0.2.0.192.rpz-ip", &r, NULL), 0);
	ck_assert_int_eq(inet_pton(AF_INET6, "::c000:200", want), 1);
	ck_assert_mem_eq(r.prefix.addr, want, 16);
	ck_assert_uint_eq(r.prefix.addr[10], 0);
	ck_assert_uint_eq(r.prefix.addr[11], 0);
	ck_assert_uint_eq(r.prefix.bits, 120);
}
END_TEST

START_TEST(nsip_v4)
{
	expect_v4("32.13.2.0.192.rpz-nsip", VG_TRIG_NSIP, "192.0.2.13", 32);
	expect_v4("28.240.2.0.192.rpz-nsip", VG_TRIG_NSIP, "192.0.2.240", 28);
}
END_TEST

START_TEST(v4_prefix_bounds)
{
	expect_v4("1.0.0.0.128.rpz-ip", VG_TRIG_RESP_IP, "128.0.0.0", 1);
	expect_v4("1.0.0.0.0.rpz-ip", VG_TRIG_RESP_IP, "0.0.0.0", 1);
	expect_v4("32.255.255.255.255.rpz-ip", VG_TRIG_RESP_IP, "255.255.255.255", 32);
	expect_v4("32.0.0.0.0.rpz-ip", VG_TRIG_RESP_IP, "0.0.0.0", 32);
	expect_err("1.0.0.0.192.rpz-ip", VG_EINVAL, BITS);
	expect_err("0.0.0.0.0.rpz-ip", VG_EINVAL, PLEN);
	expect_err("33.1.0.0.10.rpz-ip", VG_EINVAL, PLEN);
	expect_err("64.1.0.0.10.rpz-ip", VG_EINVAL, PLEN);
}
END_TEST

/* ------------------------------------------------------------ IPv6 */

START_TEST(v6_triggers)
{
	/* RPZ.md 2.3: 2001:db8::3/128 -> 128.3.zz.db8.2001 */
	expect_v6("128.3.zz.db8.2001.rpz-ip", VG_TRIG_RESP_IP, "2001:db8::3", 128);
	expect_v6("48.zz.2.2001.rpz-nsip", VG_TRIG_NSIP, "2001:2::", 48);
	expect_v6("112.zz.2001.rpz-client-ip", VG_TRIG_CLIENT_IP, "2001::", 112);
	expect_v6("128.1.zz.rpz-client-ip", VG_TRIG_CLIENT_IP, "::1", 128);
}
END_TEST

START_TEST(v6_prefix_bounds)
{
	expect_v6("1.zz.8000.rpz-ip", VG_TRIG_RESP_IP, "8000::", 1);
	expect_v6("1.zz.rpz-ip", VG_TRIG_RESP_IP, "::", 1);
	expect_v6("64.zz.1.0.db8.2001.rpz-ip", VG_TRIG_RESP_IP, "2001:db8:0:1::", 64);
	expect_v6("128.8.7.6.5.4.3.2.1.rpz-ip", VG_TRIG_RESP_IP, "1:2:3:4:5:6:7:8", 128);
	expect_v6("128.ffff.ffff.ffff.ffff.ffff.ffff.ffff.ffff.rpz-ip", VG_TRIG_RESP_IP,
		  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128);
	expect_v6("128.zz.rpz-ip", VG_TRIG_RESP_IP, "::", 128);
	expect_err("0.zz.rpz-ip", VG_EINVAL, PLEN);
	expect_err("129.zz.rpz-ip", VG_EINVAL, PLEN);
	expect_err("999.zz.rpz-ip", VG_EINVAL, PLEN);
	expect_err("1000.zz.rpz-ip", VG_EINVAL, PLEN);
}
END_TEST

START_TEST(v6_uppercase)
{
	expect_v6("128.3.ZZ.DB8.2001.RPZ-IP", VG_TRIG_RESP_IP, "2001:db8::3", 128);
	expect_v6("128.ABCD.zz.Fe80.rpz-nsip", VG_TRIG_NSIP, "fe80::abcd", 128);
	expect_v4("24.0.2.0.192.RPZ-CLIENT-IP", VG_TRIG_CLIENT_IP, "192.0.2.0", 24);
}
END_TEST

START_TEST(zz_positions)
{
	/* zz first in the owner = the end of the address */
	expect_v6("128.zz.1.rpz-ip", VG_TRIG_RESP_IP, "1::", 128);
	expect_v6("64.zz.2.1.rpz-ip", VG_TRIG_RESP_IP, "1:2::", 64);
	/* zz last in the owner = the start of the address */
	expect_v6("128.1.zz.rpz-ip", VG_TRIG_RESP_IP, "::1", 128);
	expect_v6("128.2.1.zz.rpz-ip", VG_TRIG_RESP_IP, "::1:2", 128);
	/* middle, for 2 and for 6 hextets */
	expect_v6("128.6.5.4.3.zz.2.1.rpz-ip", VG_TRIG_RESP_IP, "1:2::3:4:5:6", 128);
	expect_v6("128.2.zz.1.rpz-ip", VG_TRIG_RESP_IP, "1::2", 128);
}
END_TEST

START_TEST(zz_tied_runs)
{
	/* 2001:db8:0:0:1:0:0:1: RFC 5952 compresses the first run (the last in the owner) */
	expect_v6("128.1.0.0.1.zz.db8.2001.rpz-ip", VG_TRIG_RESP_IP, "2001:db8::1:0:0:1", 128);
	expect_err("128.1.zz.1.0.0.db8.2001.rpz-ip", VG_EINVAL, CANON);
	/* 1:0:0:2:0:0:3:4 */
	expect_v6("128.4.3.0.0.2.zz.1.rpz-ip", VG_TRIG_RESP_IP, "1::2:0:0:3:4", 128);
	expect_err("128.4.3.zz.2.0.0.1.rpz-ip", VG_EINVAL, CANON);
	/* 0:0:1:0:0:1:0:0 (three runs of two) */
	expect_v6("128.0.0.1.0.0.1.zz.rpz-ip", VG_TRIG_RESP_IP, "::1:0:0:1:0:0", 128);
	expect_err("128.zz.1.0.0.1.0.0.rpz-ip", VG_EINVAL, CANON);
}
END_TEST

START_TEST(zz_must_be_longest_run)
{
	/* 2001:0:0:1:0:0:0:1: the longer, later run wins over the first */
	expect_v6("128.1.zz.1.0.0.2001.rpz-ip", VG_TRIG_RESP_IP, "2001:0:0:1::1", 128);
	expect_err("128.1.0.0.0.1.zz.2001.rpz-ip", VG_EINVAL, CANON);
	/* a zz next to a written-out zero does not cover the whole run */
	expect_err("128.1.0.zz.2001.rpz-ip", VG_EINVAL, CANON);
	expect_err("128.1.zz.0.2001.rpz-ip", VG_EINVAL, CANON);
	/* runs of zeros written out in full */
	expect_err("128.1.0.0.0.0.0.db8.2001.rpz-ip", VG_EINVAL, "not written as zz");
	expect_err("128.0.0.0.0.0.0.0.0.rpz-ip", VG_EINVAL, "not written as zz");
	expect_err("128.1.1.1.1.1.1.0.0.rpz-ip", VG_EINVAL, "not written as zz");
}
END_TEST

START_TEST(zz_single_zero_hextet)
{
	/* RFC 5952 4.2.2: one zero hextet is written as 0, never as :: / zz */
	expect_v6("128.1.1.1.1.1.0.db8.2001.rpz-ip", VG_TRIG_RESP_IP, "2001:db8:0:1:1:1:1:1",
		  128);
	expect_err("128.1.1.1.1.1.zz.db8.2001.rpz-ip", VG_EINVAL, "single zero");
	expect_v6("128.0.7.6.5.4.3.2.1.rpz-ip", VG_TRIG_RESP_IP, "1:2:3:4:5:6:7:0", 128);
	expect_err("128.zz.7.6.5.4.3.2.1.rpz-ip", VG_EINVAL, "single zero");
}
END_TEST

/* ------------------------------------------------------------ invalid */

START_TEST(bits_past_prefix_v4)
{
	/* RPZ.md 2.3: 10.0.0.2/8 */
	expect_err("8.2.0.0.10.rpz-client-ip", VG_EINVAL, BITS);
	expect_err("24.1.2.0.192.rpz-ip", VG_EINVAL, BITS);
	/* 192.168.31.3/31: the last bit of .3 is past a /31 */
	expect_err("31.3.31.168.192.rpz-ip", VG_EINVAL, BITS);
	expect_v4("31.2.31.168.192.rpz-ip", VG_TRIG_RESP_IP, "192.168.31.2", 31);
	expect_err("31.1.0.0.0.rpz-nsip", VG_EINVAL, BITS);
}
END_TEST

START_TEST(bits_past_prefix_v6)
{
	/* 2001:db8::10/32, an example that circulates but is not a valid /32 */
	expect_err("32.10.zz.db8.2001.rpz-ip", VG_EINVAL, BITS);
	expect_v6("32.zz.db8.2001.rpz-ip", VG_TRIG_RESP_IP, "2001:db8::", 32);
	expect_err("127.1.zz.rpz-ip", VG_EINVAL, BITS);
	expect_err("1.zz.c000.rpz-ip", VG_EINVAL, BITS);
	expect_err("64.1.zz.1.0.db8.2001.rpz-nsip", VG_EINVAL, BITS);
	expect_err("47.zz.1.1.2001.rpz-client-ip", VG_EINVAL, BITS); /* 2001:1:1::/47 */
	expect_v6("48.zz.1.1.2001.rpz-client-ip", VG_TRIG_CLIENT_IP, "2001:1:1::", 48);
}
END_TEST

START_TEST(prefix_zero_and_range)
{
	expect_err("0.0.0.0.0.rpz-client-ip", VG_EINVAL, PLEN);
	expect_err("33.0.0.0.10.rpz-client-ip", VG_EINVAL, PLEN);
	expect_err("0.zz.rpz-client-ip", VG_EINVAL, PLEN);
	expect_err("129.zz.rpz-client-ip", VG_EINVAL, PLEN);
	expect_err("200.zz.rpz-client-ip", VG_EINVAL, PLEN);
}
END_TEST

START_TEST(leading_zeros)
{
	expect_err("024.0.2.0.192.rpz-ip", VG_EINVAL, PLEN);
	expect_err("00.0.2.0.192.rpz-ip", VG_EINVAL, PLEN);
	expect_err("24.0.02.0.192.rpz-ip", VG_EINVAL, OCTET);
	expect_err("24.00.2.0.192.rpz-ip", VG_EINVAL, OCTET);
	expect_err("24.0.2.0.0192.rpz-ip", VG_EINVAL, OCTET);
	expect_err("0128.3.zz.db8.2001.rpz-ip", VG_EINVAL, PLEN);
	expect_err("128.03.zz.db8.2001.rpz-ip", VG_EINVAL, HEXTET);
	expect_err("128.3.zz.0db8.2001.rpz-ip", VG_EINVAL, HEXTET);
	expect_err("128.1.0000.0.1.zz.db8.2001.rpz-ip", VG_EINVAL, HEXTET);
}
END_TEST

START_TEST(non_digits)
{
	expect_err("2x.0.2.0.192.rpz-ip", VG_EINVAL, PLEN);
	expect_err("+24.0.2.0.192.rpz-ip", VG_EINVAL, PLEN);
	expect_err("-1.0.2.0.192.rpz-ip", VG_EINVAL, PLEN);
	expect_err("24.0.2.0.c0.rpz-ip", VG_EINVAL, OCTET); /* hex is not an octet */
	expect_err("24.0.2. 0.192.rpz-ip", VG_EINVAL, OCTET);
	expect_err("24.0.2.0.*.rpz-ip", VG_EINVAL, OCTET);
	expect_err("*.24.0.2.0.192.rpz-ip", VG_EINVAL, PLEN);
	expect_err("ff.zz.rpz-ip", VG_EINVAL, PLEN); /* the prefix is decimal even for v6 */
}
END_TEST

START_TEST(octet_count_and_range)
{
	expect_err("24.2.0.192.rpz-ip", VG_EINVAL, COUNT);     /* 3 octets */
	expect_err("24.0.0.2.0.192.rpz-ip", VG_EINVAL, COUNT); /* 5 octets */
	expect_err("8.10.rpz-ip", VG_EINVAL, COUNT);           /* 1 octet */
	expect_err("32.256.0.0.10.rpz-ip", VG_EINVAL, OCTET);
	expect_err("32.1.0.0.999.rpz-ip", VG_EINVAL, OCTET);
	expect_v4("32.255.0.0.10.rpz-ip", VG_TRIG_RESP_IP, "10.0.0.255", 32);
}
END_TEST

START_TEST(bad_hex)
{
	expect_err("128.3.zz.dg8.2001.rpz-ip", VG_EINVAL, HEXTET);
	expect_err("128.3.zz.db8.200x.rpz-ip", VG_EINVAL, HEXTET);
	expect_err("128.3.zz.10db8.2001.rpz-ip", VG_EINVAL, HEXTET); /* 5 digits */
	expect_err("128.3.zz.db8.12001.rpz-ip", VG_EINVAL, HEXTET);
	expect_err("128.3.zz.-1.2001.rpz-ip", VG_EINVAL, HEXTET);
	expect_err("128.1.2.3.4.5.z.db8.2001.rpz-ip", VG_EINVAL, HEXTET);
	expect_err("128.1.2.3.4.5.zzz.db8.2001.rpz-ip", VG_EINVAL, HEXTET);
	/* four address labels without zz are IPv4, whatever they look like */
	expect_err("128.3.z.db8.2001.rpz-ip", VG_EINVAL, "IPv4 prefix");
	expect_err("24.3.z.db8.2001.rpz-ip", VG_EINVAL, OCTET);
}
END_TEST

START_TEST(zz_misused)
{
	expect_err("128.1.zz.2.zz.3.rpz-ip", VG_EINVAL, "more than one zz");
	expect_err("128.zz.zz.rpz-ip", VG_EINVAL, "more than one zz");
	expect_err("128.Zz.1.ZZ.rpz-ip", VG_EINVAL, "more than one zz");
	/* eight hextets already: zz would stand for nothing */
	expect_err("128.8.7.6.5.4.3.2.1.zz.rpz-ip", VG_EINVAL, "no hextets");
	expect_err("128.8.7.6.zz.5.4.3.2.1.rpz-ip", VG_EINVAL, "no hextets");
	/* too many and too few hextets */
	expect_err("128.9.8.7.6.5.4.3.2.1.rpz-ip", VG_EINVAL, COUNT);
	expect_err("128.9.8.7.6.5.4.3.2.1.zz.rpz-ip", VG_EINVAL, COUNT);
	expect_err("128.7.6.5.4.3.2.1.rpz-ip", VG_EINVAL, COUNT);
	expect_err("128.2.1.rpz-ip", VG_EINVAL, COUNT);
}
END_TEST

START_TEST(no_address)
{
	expect_err("rpz-ip", VG_EINVAL, "no address");
	expect_err("24.rpz-client-ip", VG_EINVAL, "no address");
	expect_err("*.rpz-nsip", VG_EINVAL, "no address");
}
END_TEST

START_TEST(unknown_rpz_label_notsup)
{
	expect_err("foo.rpz-future", VG_ENOTSUP, "unknown rpz-");
	expect_err("24.0.2.0.192.rpz-ipv6", VG_ENOTSUP, "unknown rpz-");
	expect_err("rpz-", VG_ENOTSUP, "unknown rpz-");
	expect_err("1.2.RPZ-Bogus", VG_ENOTSUP, "unknown rpz-");
	/* a QNAME rule may still mention rpz- in a non-final label */
	expect_name("rpz-future.example", VG_TRIG_QNAME, false, "rpz-future.example.");
}
END_TEST

START_TEST(apex_notsup)
{
	uint8_t origin[VG_NAME_MAX], owner[VG_NAME_MAX];
	struct vg_pol_rule r;
	const char *why = NULL;
	mkname(ORIGIN, origin);
	mkname("RPZ.Example.ORG", owner);
	ck_assert_int_eq(vg_rpz_owner(owner, origin, &r, &why), VG_ENOTSUP);
	ck_assert_ptr_nonnull(strstr(why, "apex"));
	/* a root policy zone: the apex is the root */
	ck_assert_int_eq(vg_rpz_owner((const uint8_t *)"", (const uint8_t *)"", &r, &why),
			 VG_ENOTSUP);
}
END_TEST

START_TEST(owner_outside_origin)
{
	static const char *const outside[] = {
		"www.example.com",      /* unrelated */
		"example.org",          /* the parent of the origin */
		"org",                  /* shorter still */
		"rpz.example.org.evil", /* origin labels, but not as the suffix */
		"x.rpz2.example.org",   /* sibling zone */
		".",                    /* the root */
	};
	uint8_t origin[VG_NAME_MAX], owner[VG_NAME_MAX];
	mkname(ORIGIN, origin);
	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		struct vg_pol_rule r;
		const char *why = NULL;
		mkname(outside[i], owner);
		ck_assert_msg(vg_rpz_owner(owner, origin, &r, &why) == VG_EINVAL, "%s", outside[i]);
		ck_assert_ptr_nonnull(strstr(why, "not in the policy zone"));
	}
}
END_TEST

START_TEST(origin_case_and_root)
{
	uint8_t origin[VG_NAME_MAX], owner[VG_NAME_MAX];
	struct vg_pol_rule r;
	uint8_t want[16] = { 0 };
	/* the origin is matched without regard to case */
	mkname("32.1.0.0.127.rpz-client-ip.RPZ.EXAMPLE.org", owner);
	mkname("rpz.Example.ORG", origin);
	ck_assert_int_eq(vg_rpz_owner(owner, origin, &r, NULL), 0);
	ck_assert_int_eq(r.trigger, VG_TRIG_CLIENT_IP);
	/* a policy zone at the root */
	mkname("32.1.0.0.127.rpz-client-ip", owner);
	ck_assert_int_eq(vg_rpz_owner(owner, (const uint8_t *)"", &r, NULL), 0);
	ck_assert_int_eq(inet_pton(AF_INET, "127.0.0.1", want + 12), 1);
	ck_assert_mem_eq(r.prefix.addr, want, 16);
	ck_assert_uint_eq(r.prefix.bits, 128);
}
END_TEST

START_TEST(malformed_names)
{
	uint8_t origin[VG_NAME_MAX], owner[VG_NAME_MAX];
	struct vg_pol_rule r;
	const char *why = NULL;
	mkname(ORIGIN, origin);

	/* label length 64 (and the 0x40/0x80 label types) */
	memset(owner, 'a', sizeof(owner));
	owner[0] = 64;
	owner[65] = 0;
	ck_assert_int_eq(vg_rpz_owner(owner, origin, &r, &why), VG_EMALFORMED);
	ck_assert_ptr_nonnull(why);
	owner[0] = 0x80;
	ck_assert_int_eq(vg_rpz_owner(owner, origin, &r, &why), VG_EMALFORMED);
	/* a compression pointer has no business in an uncompressed name */
	memcpy(owner, "\3www\xc0\x0c", 7);
	ck_assert_int_eq(vg_rpz_owner(owner, origin, &r, &why), VG_EMALFORMED);
	/* 255 bytes of labels and no root label: longer than any name */
	memset(owner, 3, sizeof(owner));
	ck_assert_int_eq(vg_rpz_owner(owner, origin, &r, &why), VG_EMALFORMED);
	/* the origin is checked too */
	mkname("www.example.com." ORIGIN, owner);
	memset(origin, 63, sizeof(origin));
	ck_assert_int_eq(vg_rpz_owner(owner, origin, &r, &why), VG_EMALFORMED);
}
END_TEST

START_TEST(empty_label_cannot_occur)
{
	/*
	 * An empty label cannot occur in the middle of a wire name, because a
	 * zero length byte is the root.  vg_name_from_str refuses "24..2" in
	 * presentation form.  In wire form the name simply ends there, and
	 * the shortened owner is no longer in the zone.
	 */
	uint8_t origin[VG_NAME_MAX], owner[VG_NAME_MAX];
	struct vg_pol_rule r;
	const char *why = NULL;
	ck_assert_int_eq(vg_name_from_str("24..2.0.192.rpz-ip." ORIGIN ".", owner, sizeof(owner)),
			 VG_EPARSE);
	mkname(ORIGIN, origin);
	memcpy(owner, "\00224\000\0012\0010\003192", 13);
	ck_assert_int_eq(vg_rpz_owner(owner, origin, &r, &why), VG_EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "not in the policy zone"));
}
END_TEST

START_TEST(null_arguments)
{
	uint8_t origin[VG_NAME_MAX], owner[VG_NAME_MAX];
	struct vg_pol_rule r;
	const char *why = NULL;
	mkname(ORIGIN, origin);
	mkname("x." ORIGIN, owner);
	ck_assert_int_eq(vg_rpz_owner(NULL, origin, &r, &why), VG_EINVAL);
	ck_assert_ptr_nonnull(why);
	ck_assert_int_eq(vg_rpz_owner(owner, NULL, &r, &why), VG_EINVAL);
	ck_assert_int_eq(vg_rpz_owner(owner, origin, NULL, &why), VG_EINVAL);
	/* why may be NULL, on success and on failure */
	ck_assert_int_eq(vg_rpz_owner(owner, origin, &r, NULL), 0);
	ck_assert_int_eq(vg_rpz_owner(origin, origin, &r, NULL), VG_ENOTSUP);
}
END_TEST

START_TEST(keeps_non_trigger_fields)
{
	uint8_t origin[VG_NAME_MAX], owner[VG_NAME_MAX];
	struct vg_pol_rule r;
	memset(&r, 0, sizeof(r));
	r.action = VG_ACT_DROP;
	r.allow = true;
	r.line = 42;
	mkname(ORIGIN, origin);
	mkname("*.example.com." ORIGIN, owner);
	ck_assert_int_eq(vg_rpz_owner(owner, origin, &r, NULL), 0);
	ck_assert_int_eq(r.action, VG_ACT_DROP);
	ck_assert(r.allow);
	ck_assert_uint_eq(r.line, 42);
	/* a later address decode into the same rule clears the name and wildcard */
	mkname("24.0.2.0.192.rpz-ip." ORIGIN, owner);
	ck_assert_int_eq(vg_rpz_owner(owner, origin, &r, NULL), 0);
	ck_assert(!r.wildcard);
	ck_assert_uint_eq(r.name[0], 0);
	ck_assert_uint_eq(r.prefix.bits, 120);
	ck_assert_uint_eq(r.line, 42);
}
END_TEST

START_TEST(draft_example_zone)
{
	/*
	 * Owner names of the example policy zone in the draft, which the BIND
	 * ARM repeats: 127/8 except 127.0.0.1, an NSIP /48, an IPv6 client
	 * block and a client /16.
	 */
	expect_v4("8.0.0.0.127.rpz-ip", VG_TRIG_RESP_IP, "127.0.0.0", 8);
	expect_v4("32.1.0.0.127.rpz-ip", VG_TRIG_RESP_IP, "127.0.0.1", 32);
	expect_name("ns.domain.com.rpz-nsdname", VG_TRIG_NSDNAME, false, "ns.domain.com.");
	expect_v6("48.zz.2.2001.rpz-nsip", VG_TRIG_NSIP, "2001:2::", 48);
	expect_v6("112.zz.2001.rpz-client-ip", VG_TRIG_CLIENT_IP, "2001::", 112);
	expect_v4("8.0.0.0.127.rpz-client-ip", VG_TRIG_CLIENT_IP, "127.0.0.0", 8);
	expect_v4("16.0.0.1.10.rpz-client-ip", VG_TRIG_CLIENT_IP, "10.1.0.0", 16);
	expect_name("nxdomain.domain.com", VG_TRIG_QNAME, false, "nxdomain.domain.com.");
	expect_name("*.nxdomain.domain.com", VG_TRIG_QNAME, true, "nxdomain.domain.com.");
	expect_name("*.bzone.domain.com", VG_TRIG_QNAME, true, "bzone.domain.com.");
}
END_TEST

/* Each value in each byte of the relative part: only documented results. */
START_TEST(mutations_never_crash)
{
	static const char *const seeds[] = {
		"128.3.zz.db8.2001.rpz-ip",
		"24.0.2.0.192.rpz-client-ip",
		"*.hoster.example.net.rpz-nsdname",
	};
	uint8_t origin[VG_NAME_MAX], base[VG_NAME_MAX] = { 0 };
	mkname(ORIGIN, origin);
	unsigned ok = 0, einval = 0;
	for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
		char buf[300];
		snprintf(buf, sizeof(buf), "%s.%s", seeds[s], ORIGIN);
		mkname(buf, base);
		size_t rel = vg_name_len(base) - vg_name_len(origin);
		for (size_t pos = 0; pos < rel; pos++) {
			for (unsigned v = 0; v < 256; v++) {
				/* exactly VG_NAME_MAX bytes, so ASan sees any over-read */
				uint8_t owner[VG_NAME_MAX];
				struct vg_pol_rule r;
				const char *why = NULL;
				memcpy(owner, base, sizeof(owner));
				owner[pos] = (uint8_t)v;
				int ret = vg_rpz_owner(owner, origin, &r, &why);
				ck_assert_msg(ret == 0 || ret == VG_EINVAL || ret == VG_ENOTSUP ||
						      ret == VG_EMALFORMED,
					      "seed %zu pos %zu val %u: %d", s, pos, v, ret);
				ck_assert(ret == 0 ? why == NULL : why != NULL);
				ok += ret == 0;
				einval += ret == VG_EINVAL;
			}
		}
	}
	/* the sweep reaches both outcomes (the unmutated values succeed) */
	ck_assert_uint_gt(ok, 0);
	ck_assert_uint_gt(einval, 0);
}
END_TEST

static Suite *rpz_suite(void)
{
	Suite *s = suite_create("rpz");
	TCase *tc = tcase_create("names");
	tcase_add_test(tc, qname_exact);
	tcase_add_test(tc, qname_wildcard);
	tcase_add_test(tc, qname_uppercase_lowered);
	tcase_add_test(tc, star_only_as_first_label);
	tcase_add_test(tc, nsdname_exact);
	tcase_add_test(tc, nsdname_wildcard);
	suite_add_tcase(s, tc);

	tc = tcase_create("addresses");
	tcase_add_test(tc, client_ip_v4);
	tcase_add_test(tc, resp_ip_v4_rpz_md_example);
	tcase_add_test(tc, nsip_v4);
	tcase_add_test(tc, v4_prefix_bounds);
	tcase_add_test(tc, v6_triggers);
	tcase_add_test(tc, v6_prefix_bounds);
	tcase_add_test(tc, v6_uppercase);
	tcase_add_test(tc, zz_positions);
	tcase_add_test(tc, zz_tied_runs);
	tcase_add_test(tc, zz_must_be_longest_run);
	tcase_add_test(tc, zz_single_zero_hextet);
	tcase_add_test(tc, draft_example_zone);
	suite_add_tcase(s, tc);

	tc = tcase_create("invalid");
	tcase_add_test(tc, bits_past_prefix_v4);
	tcase_add_test(tc, bits_past_prefix_v6);
	tcase_add_test(tc, prefix_zero_and_range);
	tcase_add_test(tc, leading_zeros);
	tcase_add_test(tc, non_digits);
	tcase_add_test(tc, octet_count_and_range);
	tcase_add_test(tc, bad_hex);
	tcase_add_test(tc, zz_misused);
	tcase_add_test(tc, no_address);
	tcase_add_test(tc, unknown_rpz_label_notsup);
	tcase_add_test(tc, apex_notsup);
	tcase_add_test(tc, owner_outside_origin);
	suite_add_tcase(s, tc);

	tc = tcase_create("robustness");
	tcase_add_test(tc, origin_case_and_root);
	tcase_add_test(tc, malformed_names);
	tcase_add_test(tc, empty_label_cannot_occur);
	tcase_add_test(tc, null_arguments);
	tcase_add_test(tc, keeps_non_trigger_fields);
	tcase_add_test(tc, mutations_never_crash);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return vg_test_run(rpz_suite());
}
