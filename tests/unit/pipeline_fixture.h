/* SPDX-License-Identifier: MIT
 *
 * The fixture of the pipeline suites (test_pipeline.c: the policy's actions;
 * test_pipeline_stages.c: stage boundaries, time, allocations): fake I/O,
 * fake clocks, a fake authoritative server, policy files, and helpers that
 * read what the client got.  Included by each suite (each its own binary).
 *
 * The whole request pipeline (src/pipeline) driven with fake I/O and fake
 * time: vg_pipe_query() gets the client's bytes, the fake io->answer records
 * what the client was given (bytes, or "nothing"), the fake io->send records
 * each upstream query and the test answers it later with vg_pipe_reply(),
 * playing one authoritative server for every name (a small table of
 * records, see "the fake upstream"); io->cancel records cancellations and
 * the clocks are the test's.  The cache, infra table and policy are the
 * real ones, the policy loaded the way the daemon loads it (vg_policy_load
 * from struct vg_policy_opts, RPZ and list files written into a temporary
 * directory, groups covering the test client).
 *
 * Every test checks what the client got (parsed with vg_msg_parse: rcode,
 * TC/AD, answer records, EDE code and text, the policy SOA) and what went
 * upstream ("nothing goes upstream" is counted at the fake upstream), and
 * that every query was answered exactly once.
 *
 * The binary is linked with -Wl,--wrap=malloc,calloc,realloc: the cache-hit
 * tests count this thread's heap calls across vg_pipe_query().  (The wrap
 * sees vigil's own calls, its static libraries being linked in; calls made inside
 * shared libraries -- libc, ldns, OpenSSL -- are not counted.)
 */
#ifndef VG_TEST_PIPELINE_FIXTURE_H
#define VG_TEST_PIPELINE_FIXTURE_H

/* not every suite uses every helper */
#pragma GCC diagnostic ignored "-Wunused-function"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "pipeline/pipeline.h"
#include "policy/engine.h"
#include "policy/plog.h"

#include "heap_count.h"

/* ---------------------------------------------------------- fake I/O */
#define MAX_TAGS 256
#define MAX_SENT 128
#define PKT_MAX 8192

struct delivered {
	size_t len; /* 0: nothing was sent */
	enum vg_transport transport;
	uint8_t pkt[PKT_MAX];
};

struct sent_q {
	struct vg_outbound o; /* a copy: req->out changes with the next query */
	struct vg_pipe_req *r;
	bool replied, cancelled;
};

static struct {
	uint64_t now_ms;
	uint64_t now_ns;   /* io->now_ns (the latency clock) */
	unsigned now_ns_reads;
	uint32_t wall;
	unsigned calls[MAX_TAGS]; /* io->answer calls per query (tag) */
	struct delivered ans[MAX_TAGS];
	unsigned bad_tag, too_big;
	struct sent_q sent[MAX_SENT];
	unsigned nsent, ncancel, bad_cancel;
	int send_error;    /* nonzero: io->send fails with it */
	unsigned send_failed;
} io;

/* called after each answer: a transport taking its next query from inside it */
static void (*answer_hook)(int tag);

/* nothing here may allocate or assert: it runs inside the measured calls */
static void fake_answer(void *arg, const struct vg_client *c, const uint8_t *pkt, size_t len)
{
	(void)arg;
	if (c->sock <= 0 || c->sock >= MAX_TAGS) {
		io.bad_tag++;
		return;
	}
	struct delivered *d = &io.ans[c->sock];
	io.calls[c->sock]++;
	d->transport = c->transport;
	d->len = len;
	if (len > PKT_MAX) {
		io.too_big++;
		d->len = 0;
		return;
	}
	if (len)
		memcpy(d->pkt, pkt, len);
	if (answer_hook)
		answer_hook(c->sock);
}

static int fake_send(void *arg, const struct vg_outbound *o, struct vg_pipe_req *r, void **handle)
{
	(void)arg;
	if (io.send_error) {
		io.send_failed++;
		return io.send_error;
	}
	if (io.nsent >= MAX_SENT)
		return -ENOBUFS;
	struct sent_q *s = &io.sent[io.nsent++];
	s->o = *o;
	s->r = r;
	s->replied = s->cancelled = false;
	*handle = s;
	return 0;
}

static void fake_cancel(void *arg, void *handle, struct vg_pipe_req *r)
{
	(void)arg;
	struct sent_q *s = handle;
	io.ncancel++;
	if (!s || s->r != r || s->replied || s->cancelled)
		io.bad_cancel++;
	else
		s->cancelled = true;
}

static uint64_t fake_now_ms(void *arg)
{
	(void)arg;
	return io.now_ms;
}

static uint64_t fake_now_ns(void *arg)
{
	(void)arg;
	io.now_ns_reads++;
	return io.now_ns;
}

static uint32_t fake_wall_s(void *arg)
{
	(void)arg;
	return io.wall;
}

static const struct vg_pipe_io fake_io = {
	.answer = fake_answer, .send = fake_send, .cancel = fake_cancel,
	.now_ms = fake_now_ms, .now_ns = fake_now_ns, .wall_s = fake_wall_s,
};

/* ---------------------------------------------------------- fixture */
static struct vg_pipe_opts sopts;
static struct vg_resolv_opts ropts;
static struct vg_dnssec_opts dopts;
static struct vg_hints hints;
static struct vg_cache *cache;
static struct vg_infra *infra;
static uint8_t *scratch, *scratch2;
static struct vg_msg *msgbuf, *parsed;
static struct vg_pipe pipe_;
static struct vg_policy_opts popts;
static struct vg_policy *policies[8];
static unsigned npolicies;
static char tmpdir[64];
static int next_tag;
static const char *client_ip; /* the next query's source address */

static void addr_of(struct vg_sockaddr *sa, const char *ip, uint16_t port)
{
	ck_assert_int_eq(vg_sockaddr_parse(ip, port, sa), 0);
}

static void acl_add(const char *prefix, enum vg_acl_action a)
{
	struct vg_acl_rule *r = &sopts.acl.rule[sopts.acl.n++];
	ck_assert_int_eq(vg_prefix_parse(prefix, &r->prefix), 0);
	r->action = a;
}

/* Use @p pol (NULL: none) and the options as they are now. */
static void adopt(const struct vg_policy *pol)
{
	const struct vg_pipe_view v = { .serve = &sopts, .resolv = &ropts, .dnssec = &dopts,
					.hints = &hints, .policy = pol };
	vg_pipe_adopt(&pipe_, &v);
}

/* The policy files of one test (in a directory the whole run shares: main()
 * removes it, as a failed test skips its teardown). */
static void remove_sources(void)
{
	for (size_t i = 0; i < popts.n_sources; i++)
		unlink(popts.sources[i].file);
	popts.n_sources = 0;
}

static void setup(void)
{
	memset(&io, 0, sizeof(io));
	io.now_ms = 1000000; /* now_s 2000 */
	io.now_ns = 1000000000000ull;
	io.wall = 1700000000;
	next_tag = 1;
	client_ip = "10.0.0.1";
	vg_log_setup(VG_LOG_WARNING, false); /* the policy's info lines stay quiet */

	/* server: 10/8 may query, but 10.9/16 is refused and 10.8/16 dropped */
	memset(&sopts, 0, sizeof(sopts));
	acl_add("10.0.0.0/8", VG_ACL_ALLOW);
	acl_add("10.9.0.0/16", VG_ACL_REFUSE);
	acl_add("10.8.0.0/16", VG_ACL_DROP);
	sopts.acl.dflt = VG_ACL_REFUSE;
	sopts.max_udp_size = 1232;
	sopts.request_timeout_ms = 2000;
	/* the resolver's defaults, without QNAME minimisation: 127.0.0.1 (the
	 * only root hint) plays every authoritative server */
	ropts = (struct vg_resolv_opts){
		.allow_query_localhost = true, .allow_query_private = true,
		.qname_minimisation = false, .use_ipv6_upstream = false,
		.max_upstream_queries = 200, .max_subquery_depth = 8, .max_referrals = 30,
		.max_cname_chain = 11, .max_glueless_ns = 5, .upstream_timeout_ms = 400,
		.servfail_ttl = 5,
	};
	dopts = (struct vg_dnssec_opts){ .validation = false, .bogus_ttl = 60, .clock_skew = 300,
					 .max_rrsigs_per_rrset = 8, .max_keys_per_tag = 2,
					 .max_per_query = 32, .max_ds_digests = 8,
					 .nsec3_max_iterations = 50,
					 .nsec3_max_records = 8, .nsec3_max_hashes = 600 };
	memset(&hints, 0, sizeof(hints));
	vg_name_from_str("a.root.test.", hints.ns[0], VG_NAME_MAX);
	hints.n_ns = 1;
	addr_of(&hints.addr[0], "127.0.0.1", 53);
	hints.n_addr = 1;

	cache = vg_cache_new(4 << 20);
	infra = vg_infra_new(64);
	scratch = malloc(VG_SCRATCH);
	scratch2 = malloc(VG_SCRATCH);
	msgbuf = malloc(sizeof(*msgbuf));
	parsed = malloc(sizeof(*parsed));
	ck_assert(cache && infra && scratch && scratch2 && msgbuf && parsed);
	const struct vg_resolv_env env = { .cache = cache, .infra = infra, .msg = msgbuf,
					   .scratch = scratch, .scratch2 = scratch2 };
	ck_assert_int_eq(vg_pipe_init(&pipe_, 0, &fake_io, &env), 0);
	adopt(NULL);

	memset(&popts, 0, sizeof(popts));
	popts.min_ns_dots = VG_POLICY_MIN_NS_DOTS_DEFAULT;
	npolicies = 0;
}

static void teardown(void)
{
	vg_pipe_deinit(&pipe_);
	for (unsigned i = 0; i < npolicies; i++)
		vg_policy_free(policies[i]);
	remove_sources();
	vg_cache_free(cache);
	vg_infra_free(infra);
	free(scratch);
	free(scratch2);
	free(msgbuf);
	free(parsed);
}

static const uint8_t *N(const char *s)
{
	static uint8_t bufs[8][VG_NAME_MAX];
	static int i;
	uint8_t *b = bufs[i++ & 7];
	ck_assert_int_gt(vg_name_from_str(s, b, VG_NAME_MAX), 0);
	return b;
}

/* ---------------------------------------------------------- policy files */

#define RPZ_SERIAL 7

/* A policy source named @p name (its file written from @p body, after the
 * SOA and NS for an RPZ); the config section's defaults.  Its index. */
static unsigned source(const char *name, enum vg_policy_source_type type, const char *body)
{
	ck_assert_uint_lt(popts.n_sources, VG_POLICY_MAX_SOURCES);
	struct vg_policy_source *s = &popts.sources[popts.n_sources];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->file, sizeof(s->file), "%s/%s.%s", tmpdir, name,
		 type == VG_PSRC_RPZ ? "rpz" : "list");
	s->type = type;
	s->ede = 15;
	s->recursive_only = true; /* RPZ.md 2.5: the spec's defaults, as config.c sets */
	s->break_dnssec = false;
	FILE *f = fopen(s->file, "w");
	ck_assert_ptr_nonnull(f);
	if (type == VG_PSRC_RPZ)
		fprintf(f, "$ORIGIN %s.rpz.\n$TTL 300\n"
			"@ IN SOA localhost. hostmaster.localhost. %u 3600 600 86400 60\n"
			"@ IN NS localhost.\n", name, RPZ_SERIAL);
	fputs(body, f);
	ck_assert_int_eq(fclose(f), 0);
	return (unsigned)popts.n_sources++;
}

/* A group for the clients in @p prefix with sources @p srcs (indexes, -1 ends). */
static void group(const char *name, const char *prefix, bool allowlist, ...)
{
	struct vg_policy_group *g = &popts.groups[popts.n_groups++];
	va_list ap;
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", name);
	ck_assert_int_eq(vg_prefix_parse(prefix, &g->clients[0]), 0);
	g->n_clients = 1;
	g->allowlist = allowlist;
	va_start(ap, allowlist);
	for (int s; (s = va_arg(ap, int)) >= 0;)
		g->sources[g->n_sources++] = (uint8_t)s;
	va_end(ap);
}

/* Load the policy from popts as the daemon does, and adopt it. */
static const struct vg_policy *load_policy(void)
{
	struct vg_policy *p = NULL;
	ck_assert_int_eq(vg_policy_load(&p, &popts, NULL, stderr), 0);
	for (unsigned i = 0; i < p->nsources; i++) {
		ck_assert_msg(p->src[i].loaded && p->src[i].errors == 0 && p->src[i].rules > 0,
			      "source %s did not load cleanly", p->src[i].name);
	}
	ck_assert_uint_lt(npolicies, VG_ARRAY_SIZE(policies));
	policies[npolicies++] = p;
	adopt(p);
	return p;
}

/* The main RPZ: one rule for every action, and answer-side rules. */
static const char block_rpz[] =
	"nx.test CNAME .\n"
	"*.wild.test CNAME .\n"
	"nodata.test CNAME *.\n"
	"drop.test CNAME rpz-drop.\n"
	"tcp.test CNAME rpz-tcp-only.\n"
	"local.test A 192.0.2.77\n"
	"local.test A 192.0.2.78\n"
	"redir.test CNAME target.lab.\n"
	"gardened.test CNAME *.garden.lab.\n"
	"pass.test CNAME .\n"
	"32.66.2.0.192.rpz-ip CNAME .\n"          /* response-ip 192.0.2.66: NXDOMAIN */
	"32.67.2.0.192.rpz-ip CNAME rpz-drop.\n"  /* response-ip 192.0.2.67: DROP */
	"ns.evil.lab.rpz-nsdname CNAME .\n";      /* an NSDNAME rule: the cache is read */

/* "block" for everyone in 10/8 (the test client). */
static const struct vg_policy *block_policy(void)
{
	int b = (int)source("block", VG_PSRC_RPZ, block_rpz);
	group("everyone", "10.0.0.0/8", false, b, -1);
	return load_policy();
}

/* ---------------------------------------------------------- the fake upstream
 *
 * One authoritative server (the root hint, 127.0.0.1) for every name: it
 * answers from this table with AA -- the records of the name and type, or
 * a CNAME at the name (and its target's records), NODATA for a name with
 * other types, NXDOMAIN otherwise -- or SERVFAIL for a name in servfail[].
 */
struct zrec {
	uint8_t name[VG_NAME_MAX];
	uint16_t type;
	uint32_t ttl;
	uint16_t rdlen;
	uint8_t rd[VG_NAME_MAX];
};
static struct zrec zrecs[64];
static unsigned nzone;
static uint8_t servfail[4][VG_NAME_MAX];
static unsigned nservfail;

static void z_add(const char *name, uint16_t type, uint32_t ttl, const void *rd, size_t rdlen)
{
	ck_assert_uint_lt(nzone, VG_ARRAY_SIZE(zrecs));
	struct zrec *z = &zrecs[nzone++];
	vg_name_from_str(name, z->name, sizeof(z->name));
	z->type = type;
	z->ttl = ttl;
	z->rdlen = (uint16_t)rdlen;
	memcpy(z->rd, rd, rdlen);
}

static void z_a(const char *name, const char *ip, uint32_t ttl)
{
	uint8_t a[4];
	ck_assert_int_eq(inet_pton(AF_INET, ip, a), 1);
	z_add(name, VG_T_A, ttl, a, 4);
}

static void z_cname(const char *name, const char *target)
{
	const uint8_t *t = N(target);
	z_add(name, VG_T_CNAME, 300, t, vg_name_len(t));
}

static void z_servfail(const char *name, bool on)
{
	if (on) {
		vg_name_from_str(name, servfail[nservfail++], VG_NAME_MAX);
		return;
	}
	nservfail = 0;
}

static bool z_has(const uint8_t *name, uint16_t type)
{
	for (unsigned i = 0; i < nzone; i++)
		if (vg_name_eq(zrecs[i].name, name) && (!type || zrecs[i].type == type))
			return true;
	return false;
}

static void z_put(struct vg_pkt *p, const uint8_t *name, uint16_t type)
{
	for (unsigned i = 0; i < nzone; i++)
		if (vg_name_eq(zrecs[i].name, name) && zrecs[i].type == type)
			ck_assert_int_eq(vg_pkt_put_rr(p, zrecs[i].name, type, VG_C_IN, zrecs[i].ttl,
						       zrecs[i].rd, zrecs[i].rdlen), 0);
}

static size_t z_reply(const struct vg_outbound *o, uint8_t *buf, size_t cap)
{
	struct vg_pkt p;
	int rcode = VG_RCODE_NOERROR;
	for (unsigned i = 0; i < nservfail; i++)
		if (vg_name_eq(servfail[i], o->qname))
			rcode = VG_RCODE_SERVFAIL;
	vg_pkt_init(&p, buf, cap, 1, (uint16_t)(VG_F_QR | (rcode ? 0 : VG_F_AA)));
	ck_assert_int_eq(vg_pkt_put_question(&p, o->qname, o->qtype, VG_C_IN), 0);
	if (rcode) {
		vg_pkt_set_rcode(&p, rcode);
		return vg_pkt_finish(&p);
	}
	vg_pkt_begin(&p, 1);
	if (z_has(o->qname, o->qtype)) {
		z_put(&p, o->qname, o->qtype);
		return vg_pkt_finish(&p);
	}
	const uint8_t *name = o->qname;
	for (unsigned hop = 0; hop < 8 && o->qtype != VG_T_CNAME && z_has(name, VG_T_CNAME);
	     hop++) {
		z_put(&p, name, VG_T_CNAME);
		for (unsigned i = 0; i < nzone; i++)
			if (vg_name_eq(zrecs[i].name, name) && zrecs[i].type == VG_T_CNAME)
				name = zrecs[i].rd;
		if (z_has(name, o->qtype)) {
			z_put(&p, name, o->qtype);
			return vg_pkt_finish(&p);
		}
	}
	if (!z_has(name, 0))
		rcode = VG_RCODE_NXDOMAIN;
	vg_pkt_set_rcode(&p, rcode);
	/* the root zone's SOA, MINIMUM 300 */
	uint8_t rd[VG_NAME_MAX * 2 + 20];
	size_t off = 0;
	const uint8_t *m = N("a.root.test."), *e = N("hostmaster.test.");
	memcpy(rd, m, vg_name_len(m));
	off += vg_name_len(m);
	memcpy(rd + off, e, vg_name_len(e));
	off += vg_name_len(e);
	uint32_t v[5] = { 1, 3600, 600, 86400, 300 };
	for (int i = 0; i < 5; i++, off += 4)
		vg_put32(rd + off, v[i]);
	vg_pkt_begin(&p, 2);
	ck_assert_int_eq(vg_pkt_put_rr(&p, N("."), VG_T_SOA, VG_C_IN, 300, rd, (uint16_t)off), 0);
	return vg_pkt_finish(&p);
}

/* Answer every upstream query in flight, and those they lead to.  How many. */
static unsigned serve(void)
{
	static uint8_t buf[4096];
	unsigned n = 0;
	for (unsigned i = 0; i < io.nsent; i++) {
		struct sent_q *s = &io.sent[i];
		if (s->replied || s->cancelled)
			continue;
		s->replied = true;
		size_t len = z_reply(&s->o, buf, sizeof(buf));
		n++;
		vg_pipe_reply(s->r, 0, buf, len, NULL); /* (may send more: i goes on to them) */
	}
	return n;
}

/* How many upstream queries asked for @p name (any type). */
static unsigned sent_for(const char *name)
{
	unsigned n = 0;
	const uint8_t *w = N(name);
	for (unsigned i = 0; i < io.nsent; i++)
		if (vg_name_eq(io.sent[i].o.qname, w))
			n++;
	return n;
}

static unsigned in_flight(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < io.nsent; i++)
		n += !io.sent[i].replied && !io.sent[i].cancelled;
	return n;
}

/* ---------------------------------------------------------- clients */

enum { Q_TCP = 1, Q_NORD = 2, Q_DO = 4, Q_NOEDNS = 8 };

static struct vg_client client_for(int tag, unsigned flags)
{
	struct vg_client c;
	memset(&c, 0, sizeof(c));
	addr_of(&c.addr, client_ip, 5300);
	c.transport = flags & Q_TCP ? VG_TRANSPORT_TCP : VG_TRANSPORT_UDP;
	c.max_size = flags & Q_TCP ? 65535 : 65535 - 28;
	c.sock = tag; /* which query an answer belongs to */
	return c;
}

static size_t make_query(uint8_t *buf, size_t cap, const char *name, uint16_t qtype,
			 unsigned flags, int tag)
{
	int len = vg_wire_make_query(buf, cap, (uint16_t)(0x4000 + tag), N(name), qtype,
				     !(flags & Q_NORD), flags & Q_NOEDNS ? 0 : 1232, flags & Q_DO);
	ck_assert_int_gt(len, 0);
	return (size_t)len;
}

/* Send a query to the pipeline; its tag. */
static int ask(const char *name, uint16_t qtype, unsigned flags)
{
	uint8_t q[512];
	int tag = next_tag++;
	ck_assert_int_lt(tag, MAX_TAGS);
	size_t len = make_query(q, sizeof(q), name, qtype, flags, tag);
	struct vg_client c = client_for(tag, flags);
	vg_pipe_query(&pipe_, q, len, &c);
	return tag;
}

/* Raw bytes as a query. */
static int ask_raw(const uint8_t *pkt, size_t len)
{
	int tag = next_tag++;
	struct vg_client c = client_for(tag, 0);
	vg_pipe_query(&pipe_, pkt, len, &c);
	return tag;
}

static void answered_once(int tag)
{
	ck_assert_uint_eq(io.bad_tag, 0);
	ck_assert_uint_eq(io.too_big, 0);
	ck_assert_msg(io.calls[tag] == 1, "query %d: io->answer called %u times, not once", tag,
		      io.calls[tag]);
}

static void not_answered(int tag)
{
	ck_assert_msg(io.calls[tag] == 0, "query %d: answered before its time", tag);
}

/* The client got nothing (exactly one "nothing"). */
static void got_nothing(int tag)
{
	answered_once(tag);
	ck_assert_msg(io.ans[tag].len == 0, "query %d: expected no answer, got %zu bytes", tag,
		      io.ans[tag].len);
}

/* The answer to @p tag, parsed. */
static const struct vg_msg *got(int tag)
{
	answered_once(tag);
	ck_assert_msg(io.ans[tag].len > 0, "query %d: got nothing", tag);
	ck_assert_int_eq(vg_msg_parse(parsed, io.ans[tag].pkt, io.ans[tag].len), 0);
	ck_assert(parsed->flags & VG_F_QR);
	ck_assert_uint_eq(parsed->id, 0x4000 + tag);
	return parsed;
}

/* Every query so far was answered exactly once. */
static void all_answered_once(void)
{
	for (int t = 1; t < next_tag; t++)
		answered_once(t);
}

static int rcode_of(const struct vg_msg *m)
{
	return VG_F_RCODE(m->flags);
}

static unsigned section_count(const struct vg_msg *m, int sec)
{
	return (unsigned)(m->sec_start[sec + 1] - m->sec_start[sec]);
}

static const struct vg_rr *rr_at(const struct vg_msg *m, int sec, unsigned i)
{
	ck_assert_uint_lt(i, section_count(m, sec));
	return &m->rr[m->sec_start[sec] + i];
}

static bool owner_is(const struct vg_msg *m, const struct vg_rr *rr, const char *name)
{
	uint8_t o[VG_NAME_MAX];
	size_t next;
	ck_assert_int_gt(vg_name_unpack(m->pkt, m->len, rr->owner, o, true, &next), 0);
	return vg_name_eq(o, N(name));
}

/* Answer record @p i is an A record of @p owner with address @p ip. */
static void answer_a(const struct vg_msg *m, unsigned i, const char *owner, const char *ip,
		     uint16_t type)
{
	const struct vg_rr *rr = rr_at(m, VG_SEC_AN, i);
	uint8_t want[16];
	ck_assert_uint_eq(rr->type, type);
	ck_assert_msg(owner_is(m, rr, owner), "answer %u: not owned by %s", i, owner);
	ck_assert_int_eq(inet_pton(type == VG_T_A ? AF_INET : AF_INET6, ip, want), 1);
	ck_assert_uint_eq(rr->rdlen, type == VG_T_A ? 4 : 16);
	ck_assert_mem_eq(m->pkt + rr->rdata, want, rr->rdlen);
}

/* Answer record @p i is a CNAME from @p owner to @p target. */
static void answer_cname(const struct vg_msg *m, unsigned i, const char *owner,
			 const char *target)
{
	const struct vg_rr *rr = rr_at(m, VG_SEC_AN, i);
	uint8_t rd[VG_NAME_MAX + 2];
	ck_assert_uint_eq(rr->type, VG_T_CNAME);
	ck_assert(owner_is(m, rr, owner));
	int l = vg_rdata_unpack(m->pkt, m->len, rr, rd, sizeof(rd));
	ck_assert_int_gt(l, 0);
	ck_assert_msg(vg_name_eq(rd, N(target)), "CNAME %s: wrong target", owner);
}

/* The EDE option: its INFO-CODE (0: none) and EXTRA-TEXT. */
static unsigned ede_of(const struct vg_msg *m, char *text, size_t cap)
{
	text[0] = 0;
	if (!m->edns.present)
		return 0;
	const uint8_t *o = m->pkt + m->edns.optoff, *end = o + m->edns.optlen;
	while (end - o >= 4) {
		uint16_t code = vg_get16(o), len = vg_get16(o + 2);
		ck_assert_int_ge(end - o - 4, len);
		if (code == 15) {
			ck_assert_uint_ge(len, 2);
			size_t tl = len - 2u < cap - 1 ? len - 2u : cap - 1;
			memcpy(text, o + 6, tl);
			text[tl] = 0;
			return vg_get16(o + 4);
		}
		o += 4 + len;
	}
	return 0;
}

static void no_ede(const struct vg_msg *m)
{
	char t[300];
	ck_assert_msg(ede_of(m, t, sizeof(t)) == 0, "unexpected EDE '%s'", t);
}

/* A policy answer: EDE @p code with text @p text, and for an RPZ source
 * (@p zone) its SOA in the additional section. */
static void policy_marks(const struct vg_msg *m, unsigned code, const char *text,
			 const char *zone)
{
	char t[300];
	ck_assert_uint_eq(ede_of(m, t, sizeof(t)), code);
	ck_assert_str_eq(t, text);
	if (!zone) {
		ck_assert_uint_eq(section_count(m, VG_SEC_AR), 0);
		return;
	}
	ck_assert_uint_eq(section_count(m, VG_SEC_AR), 1);
	const struct vg_rr *soa = rr_at(m, VG_SEC_AR, 0);
	ck_assert_uint_eq(soa->type, VG_T_SOA);
	ck_assert_msg(owner_is(m, soa, zone), "additional SOA is not the policy zone's");
	uint8_t rd[2 * VG_NAME_MAX + 20];
	int l = vg_rdata_unpack(m->pkt, m->len, soa, rd, sizeof(rd));
	ck_assert_int_gt(l, 20);
	ck_assert_uint_eq(vg_get32(rd + l - 20), RPZ_SERIAL);
}

/* Put @p name A 192.0.2.@p last, with an RRSIG, in the cache as validated
 * (secure).  The RRSIG's RDATA length. */
static size_t put_secure(const char *name, uint8_t last)
{
	static uint8_t a_rd[6] = { 0, 4, 192, 0, 2, 0 };
	static uint8_t sig[2 + 18 + VG_NAME_MAX + 64];
	size_t o = 2;
	a_rd[5] = last;
	vg_put16(sig + o, VG_T_A);
	sig[o + 2] = 13; /* ECDSAP256SHA256 */
	sig[o + 3] = 2;  /* labels */
	vg_put32(sig + o + 4, 300);
	vg_put32(sig + o + 8, io.wall + 86400);
	vg_put32(sig + o + 12, io.wall - 3600);
	vg_put16(sig + o + 16, 12345);
	o += 18;
	const uint8_t *signer = N("test.");
	memcpy(sig + o, signer, vg_name_len(signer));
	o += vg_name_len(signer);
	memset(sig + o, 0xab, 64);
	o += 64;
	vg_put16(sig, (uint16_t)(o - 2));
	const uint8_t *owner = N(name);
	struct vg_rrset rs = { .owner = owner, .type = VG_T_A, .rclass = VG_C_IN, .ttl = 300,
			       .count = 1, .rdata_len = sizeof(a_rd), .rdata = a_rd };
	struct vg_rrset sigs = { .owner = owner, .type = VG_T_RRSIG, .rclass = VG_C_IN,
				 .ttl = 300, .count = 1, .rdata_len = (uint16_t)o, .rdata = sig };
	ck_assert_int_eq(vg_cache_put_signed(cache, &rs, &sigs, VG_RANK_AUTH, VG_SEC_SECURE,
					     vg_time_s_of_ms(io.now_ms)), 0);
	return o - 2;
}

/* Validation on, with the built-in root trust anchors. */
static void validation_on(void)
{
	dopts.validation = true;
	ck_assert_int_eq(vg_ta_builtin(&hints.ta), 0);
	ck_assert_uint_gt(hints.ta.n, 0);
	adopt(NULL);
}

/* ================================================================ policy actions */

/* Run @p s with a temporary directory for the policy files, removed after. */
static int run_suite(Suite *s)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vg-pipe-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	int ret = vg_test_run(s);
	DIR *d = opendir(tmpdir);
	for (struct dirent *e; d && (e = readdir(d));) {
		char path[sizeof(tmpdir) + 256];
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
			unlink(path);
		}
	}
	if (d)
		closedir(d);
	rmdir(tmpdir);
	return ret;
}

#endif
