/* SPDX-License-Identifier: MIT
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
 * sees vigil's own calls, libvigil.a being linked in; calls made inside
 * shared libraries -- libc, ldns, OpenSSL -- are not counted.)
 */
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

/* ---------------------------------------------------------- heap counter */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
/* per thread: the decision log's writer thread does not count */
static __thread unsigned long heap_calls;
void *__wrap_malloc(size_t n)
{
	heap_calls++;
	return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m)
{
	heap_calls++;
	return __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n)
{
	heap_calls++;
	return __real_realloc(p, n);
}

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
	uint32_t wall;
	unsigned calls[MAX_TAGS]; /* io->answer calls per query (tag) */
	struct delivered ans[MAX_TAGS];
	unsigned bad_tag, too_big;
	struct sent_q sent[MAX_SENT];
	unsigned nsent, ncancel, bad_cancel;
	int send_error;    /* nonzero: io->send fails with it */
	unsigned send_failed;
} io;

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

static uint32_t fake_wall_s(void *arg)
{
	(void)arg;
	return io.wall;
}

static const struct vg_pipe_io fake_io = {
	.answer = fake_answer, .send = fake_send, .cancel = fake_cancel,
	.now_ms = fake_now_ms, .wall_s = fake_wall_s,
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
					 .max_per_query = 32, .nsec3_max_iterations = 50,
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
		vg_pipe_reply(s->r, 0, buf, len); /* (may send more: i goes on to them) */
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

START_TEST(action_nxdomain)
{
	block_policy();
	const struct vg_msg *m = got(ask("nx.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	ck_assert_uint_eq(m->ancount, 0);
	ck_assert(!(m->flags & VG_F_TC));
	policy_marks(m, 15, "vigil: block rule nx.test", "block.rpz.");
	/* a wildcard rule, any type */
	m = got(ask("a.b.wild.test.", VG_T_AAAA, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	policy_marks(m, 15, "vigil: block rule *.wild.test", "block.rpz.");
	/* (a wildcard does not cover its own owner) */
	int t = ask("wild.test.", VG_T_A, 0);
	ck_assert_uint_eq(sent_for("wild.test."), 1);
	serve();
	m = got(t);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN); /* the upstream's, no EDE */
	no_ede(m);
	ck_assert_uint_eq(sent_for("nx.test."), 0);
	ck_assert_uint_eq(sent_for("a.b.wild.test."), 0);
	ck_assert_uint_eq(pipe_.stats.policy_rewrites, 2);
	all_answered_once();
}
END_TEST

START_TEST(action_nodata)
{
	block_policy();
	for (unsigned i = 0; i < 2; i++) {
		const struct vg_msg *m = got(ask("nodata.test.", i ? VG_T_MX : VG_T_A, 0));
		ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
		ck_assert_uint_eq(m->ancount, 0);
		policy_marks(m, 15, "vigil: block rule nodata.test", "block.rpz.");
	}
	ck_assert_uint_eq(io.nsent, 0);
	all_answered_once();
}
END_TEST

START_TEST(action_drop)
{
	block_policy();
	int t = ask("drop.test.", VG_T_A, 0);
	got_nothing(t);
	t = ask("drop.test.", VG_T_A, Q_TCP); /* any transport */
	got_nothing(t);
	ck_assert_uint_eq(io.nsent, 0);
	ck_assert_uint_eq(pipe_.stats.dropped, 2);
}
END_TEST

START_TEST(action_tcp_only)
{
	block_policy();
	z_a("tcp.test.", "192.0.2.20", 300);
	/* UDP: an empty truncated answer, nothing upstream */
	const struct vg_msg *m = got(ask("tcp.test.", VG_T_A, 0));
	ck_assert(m->flags & VG_F_TC);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 0);
	ck_assert_uint_eq(io.nsent, 0);
	/* TCP: resolved and answered normally */
	int t = ask("tcp.test.", VG_T_A, Q_TCP);
	not_answered(t);
	ck_assert_uint_eq(sent_for("tcp.test."), 1);
	ck_assert_uint_eq(io.sent[0].o.qtype, VG_T_A);
	struct vg_sockaddr root;
	addr_of(&root, "127.0.0.1", 53);
	ck_assert(vg_sockaddr_eq(&io.sent[0].o.to, &root));
	serve();
	m = got(t);
	ck_assert_uint_eq(io.ans[t].transport, VG_TRANSPORT_TCP);
	ck_assert(!(m->flags & VG_F_TC));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 1);
	answer_a(m, 0, "tcp.test.", "192.0.2.20", VG_T_A);
	no_ede(m);
	all_answered_once();
}
END_TEST

START_TEST(action_null_address)
{
	unsigned s = source("nulls", VG_PSRC_DOMAINS, "# a domains list\nnull.test\n");
	popts.sources[s].action = VG_ACT_NULL_ADDR;
	group("everyone", "10.0.0.0/8", false, (int)s, -1);
	load_policy();
	const struct vg_msg *m = got(ask("null.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 1);
	answer_a(m, 0, "null.test.", "0.0.0.0", VG_T_A);
	policy_marks(m, 15, "vigil: nulls rule null.test", NULL); /* a list: no SOA */
	m = got(ask("www.null.test.", VG_T_AAAA, 0)); /* a list entry covers what is below */
	ck_assert_uint_eq(m->ancount, 1);
	answer_a(m, 0, "www.null.test.", "::", VG_T_AAAA);
	policy_marks(m, 15, "vigil: nulls rule *.null.test", NULL);
	m = got(ask("null.test.", VG_T_TXT, 0)); /* another type: no address, NODATA */
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 0);
	ck_assert_uint_eq(io.nsent, 0);
	all_answered_once();
}
END_TEST

START_TEST(action_local_data)
{
	block_policy();
	const struct vg_msg *m = got(ask("local.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 2);
	answer_a(m, 0, "local.test.", "192.0.2.77", VG_T_A);
	answer_a(m, 1, "local.test.", "192.0.2.78", VG_T_A);
	policy_marks(m, 15, "vigil: block rule local.test", "block.rpz.");
	/* another type: NODATA */
	m = got(ask("local.test.", VG_T_AAAA, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 0);
	policy_marks(m, 15, "vigil: block rule local.test", "block.rpz.");
	ck_assert_uint_eq(io.nsent, 0);
	all_answered_once();
}
END_TEST

START_TEST(action_cname_redirect)
{
	block_policy();
	z_a("target.lab.", "192.0.2.44", 300);
	z_a("redir.test.", "192.0.2.99", 300); /* the blocked name's real data */
	int t = ask("redir.test.", VG_T_A, 0);
	not_answered(t);
	/* the target is resolved, never the blocked name */
	ck_assert_uint_eq(sent_for("target.lab."), 1);
	ck_assert_uint_eq(sent_for("redir.test."), 0);
	ck_assert_uint_eq(io.sent[0].o.qtype, VG_T_A);
	serve();
	ck_assert_uint_eq(sent_for("redir.test."), 0);
	const struct vg_msg *m = got(t);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 2);
	answer_cname(m, 0, "redir.test.", "target.lab.");
	answer_a(m, 1, "target.lab.", "192.0.2.44", VG_T_A);
	policy_marks(m, 15, "vigil: block rule redir.test", "block.rpz.");
	all_answered_once();
}
END_TEST

START_TEST(action_walled_garden)
{
	block_policy();
	z_a("gardened.test.garden.lab.", "192.0.2.45", 300);
	int t = ask("gardened.test.", VG_T_A, 0);
	ck_assert_uint_eq(io.nsent, 1);
	ck_assert_uint_eq(sent_for("gardened.test.garden.lab."), 1);
	ck_assert_uint_eq(sent_for("gardened.test."), 0);
	serve();
	const struct vg_msg *m = got(t);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 2);
	answer_cname(m, 0, "gardened.test.", "gardened.test.garden.lab.");
	answer_a(m, 1, "gardened.test.garden.lab.", "192.0.2.45", VG_T_A);
	policy_marks(m, 15, "vigil: block rule gardened.test", "block.rpz.");
	all_answered_once();
}
END_TEST

/* override: nxdomain on a source of PASSTHRU rules: the override replaces
 * the action of every match of the source (RPZ.md 2.5, policy/README.md),
 * so the name is NXDOMAIN and never asked upstream. */
START_TEST(override_nxdomain_on_passthru_source)
{
	unsigned s = source("pt", VG_PSRC_RPZ, "allowed.test CNAME rpz-passthru.\n");
	popts.sources[s].override = VG_POVR_NXDOMAIN;
	group("everyone", "10.0.0.0/8", false, (int)s, -1);
	load_policy();
	z_a("allowed.test.", "192.0.2.30", 300);
	int t = ask("allowed.test.", VG_T_A, 0);
	serve();
	const struct vg_msg *m = got(t);
	ck_assert_msg(rcode_of(m) == VG_RCODE_NXDOMAIN,
		      "override nxdomain did not apply to a PASSTHRU rule: rcode %d, %u upstream "
		      "queries for the name", rcode_of(m), sent_for("allowed.test."));
	policy_marks(m, 15, "vigil: pt rule allowed.test", "pt.rpz.");
	ck_assert_uint_eq(sent_for("allowed.test."), 0);
}
END_TEST

/* override: nxdomain and nodata on a source of block rules. */
START_TEST(override_on_block_source)
{
	unsigned a = source("ovnx", VG_PSRC_RPZ, "x.test CNAME *.\n");
	unsigned b = source("ovnd", VG_PSRC_RPZ, "y.test CNAME .\n");
	popts.sources[a].override = VG_POVR_NXDOMAIN;
	popts.sources[b].override = VG_POVR_NODATA;
	group("everyone", "10.0.0.0/8", false, (int)a, (int)b, -1);
	load_policy();
	const struct vg_msg *m = got(ask("x.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	policy_marks(m, 15, "vigil: ovnx rule x.test", "ovnx.rpz.");
	m = got(ask("y.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 0);
	policy_marks(m, 15, "vigil: ovnd rule y.test", "ovnd.rpz.");
	ck_assert_uint_eq(io.nsent, 0);
	all_answered_once();
}
END_TEST

/* override: passthru: the match resolves normally and stops later sources. */
START_TEST(override_passthru_stops_later_sources)
{
	unsigned a = source("ovpt", VG_PSRC_RPZ, "nx.test CNAME .\n");
	int b = (int)source("block", VG_PSRC_RPZ, block_rpz);
	popts.sources[a].override = VG_POVR_PASSTHRU;
	group("everyone", "10.0.0.0/8", false, (int)a, b, -1);
	load_policy();
	z_a("nx.test.", "192.0.2.31", 300);
	int t = ask("nx.test.", VG_T_A, 0);
	ck_assert_uint_eq(sent_for("nx.test."), 1);
	serve();
	const struct vg_msg *m = got(t);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	answer_a(m, 0, "nx.test.", "192.0.2.31", VG_T_A);
	no_ede(m);
	all_answered_once();
}
END_TEST

/* override: disabled: the match is logged only, the next source decides. */
START_TEST(override_disabled_logs_and_next_source_decides)
{
	char logpath[128], line[4096];
	unsigned d = source("dis", VG_PSRC_RPZ, "nx.test CNAME *.\nonlydis.test CNAME .\n");
	int b = (int)source("block", VG_PSRC_RPZ, block_rpz);
	popts.sources[d].override = VG_POVR_DISABLED;
	group("everyone", "10.0.0.0/8", false, (int)d, b, -1);
	load_policy();
	struct vg_plog *plog;
	snprintf(logpath, sizeof(logpath), "%s/decisions.jsonl", tmpdir);
	ck_assert_int_eq(vg_plog_start(&plog, logpath, 1), 0);
	pipe_.plog = plog;
	z_a("onlydis.test.", "192.0.2.32", 300);

	/* the next source's rule decides */
	const struct vg_msg *m = got(ask("nx.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	policy_marks(m, 15, "vigil: block rule nx.test", "block.rpz.");
	/* no other source: resolved normally */
	int t = ask("onlydis.test.", VG_T_A, 0);
	ck_assert_uint_eq(sent_for("onlydis.test."), 1);
	serve();
	m = got(t);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	answer_a(m, 0, "onlydis.test.", "192.0.2.32", VG_T_A);
	no_ede(m);

	pipe_.plog = NULL;
	vg_plog_stop(plog);
	FILE *f = fopen(logpath, "r");
	ck_assert_ptr_nonnull(f);
	unsigned logonly = 0, decided = 0, n = 0;
	while (fgets(line, sizeof(line), f)) {
		n++;
		if (strstr(line, "\"source\":\"dis\"") &&
		    strstr(line, "(disabled: log only)") && strstr(line, "\"action\":\"passthru\""))
			logonly++;
		if (strstr(line, "\"source\":\"block\"") && strstr(line, "\"qname\":\"nx.test.\"") &&
		    strstr(line, "\"action\":\"nxdomain\""))
			decided++;
	}
	fclose(f);
	unlink(logpath);
	ck_assert_msg(logonly == 2, "%u log-only lines for the disabled source (of %u)", logonly,
		      n);
	ck_assert_uint_eq(decided, 1);
	ck_assert_uint_eq(n, 3);
	all_answered_once();
}
END_TEST

/* A PASSTHRU in an earlier source stops a later source's block. */
START_TEST(passthru_stops_later_block)
{
	int a = (int)source("allow", VG_PSRC_RPZ, "pass.test CNAME rpz-passthru.\n");
	int b = (int)source("block", VG_PSRC_RPZ, block_rpz);
	group("everyone", "10.0.0.0/8", false, a, b, -1);
	load_policy();
	z_a("pass.test.", "192.0.2.33", 300);
	int t = ask("pass.test.", VG_T_A, 0);
	ck_assert_uint_eq(sent_for("pass.test."), 1);
	serve();
	const struct vg_msg *m = got(t);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 1);
	answer_a(m, 0, "pass.test.", "192.0.2.33", VG_T_A);
	no_ede(m);
	/* the later source still blocks what the earlier one does not allow */
	m = got(ask("nx.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	ck_assert_uint_eq(sent_for("nx.test."), 0);
	/* the order matters: block first, allow second -> blocked */
	memset(&popts.groups, 0, sizeof(popts.groups));
	popts.n_groups = 0;
	group("everyone", "10.0.0.0/8", false, b, a, -1);
	load_policy();
	m = got(ask("pass.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	policy_marks(m, 15, "vigil: block rule pass.test", "block.rpz.");
	ck_assert_uint_eq(sent_for("pass.test."), 1);
	all_answered_once();
}
END_TEST

START_TEST(allowlist_mode)
{
	int a = (int)source("allow", VG_PSRC_RPZ,
			    "pass.test CNAME rpz-passthru.\n*.pass.test CNAME rpz-passthru.\n");
	group("runners", "10.0.0.0/8", true, a, -1);
	load_policy();
	z_a("pass.test.", "192.0.2.34", 300);
	z_a("www.pass.test.", "192.0.2.35", 300);
	z_a("other.test.", "192.0.2.36", 300);
	int t1 = ask("pass.test.", VG_T_A, 0);
	int t2 = ask("www.pass.test.", VG_T_A, 0);
	serve();
	answer_a(got(t1), 0, "pass.test.", "192.0.2.34", VG_T_A);
	no_ede(parsed);
	answer_a(got(t2), 0, "www.pass.test.", "192.0.2.35", VG_T_A);
	/* anything else is denied, without a query upstream */
	const struct vg_msg *m = got(ask("other.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	policy_marks(m, 15, "vigil: group runners allowlist: not allowed", NULL);
	ck_assert_uint_eq(sent_for("other.test."), 0);
	/* even when it is in the cache (resolved without the policy) */
	adopt(NULL);
	t1 = ask("other.test.", VG_T_A, 0);
	serve();
	ck_assert_int_eq(rcode_of(got(t1)), VG_RCODE_NOERROR);
	adopt(policies[0]);
	unsigned before = io.nsent;
	m = got(ask("other.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	ck_assert_uint_eq(io.nsent, before);
	all_answered_once();
}
END_TEST

/* ================================================================ stage boundaries */

/* Stage 3 before 4: a blocked name is answered before the cache, cached
 * or not, and never asked upstream. */
START_TEST(blocked_before_the_cache)
{
	block_policy();
	/* uncached */
	const struct vg_msg *m = got(ask("nx.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	ck_assert_uint_eq(io.nsent, 0);
	/* cached (authoritative data for it): still the policy's answer */
	static const uint8_t rd[] = { 0, 4, 192, 0, 2, 50 };
	struct vg_rrset rs = { .owner = N("nx.test."), .type = VG_T_A, .rclass = VG_C_IN,
			       .ttl = 300, .count = 1, .rdata_len = 6, .rdata = rd };
	ck_assert_int_eq(vg_cache_put(cache, &rs, VG_RANK_AUTH, vg_time_s_of_ms(io.now_ms)), 0);
	m = got(ask("nx.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	ck_assert_uint_eq(m->ancount, 0);
	policy_marks(m, 15, "vigil: block rule nx.test", "block.rpz.");
	ck_assert_uint_eq(io.nsent, 0);
	ck_assert_uint_eq(pipe_.stats.cache_hits, 0);
	all_answered_once();
}
END_TEST

/* Stage 6: a RESPONSE-IP rule matches the resolved answer. */
START_TEST(blocked_on_the_answer)
{
	block_policy();
	z_a("resp.test.", "192.0.2.66", 300);
	int t = ask("resp.test.", VG_T_A, 0);
	not_answered(t);
	ck_assert_uint_eq(sent_for("resp.test."), 1); /* the answer is needed */
	serve();
	const struct vg_msg *m = got(t);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	ck_assert_uint_eq(m->ancount, 0);
	policy_marks(m, 15, "vigil: block rule response-ip 192.0.2.66/32", "block.rpz.");
	/* the cache keeps the truth; the second time it is rewritten from there */
	ck_assert(vg_cache_has(cache, N("resp.test."), VG_T_A, vg_time_s_of_ms(io.now_ms)));
	m = got(ask("resp.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	ck_assert_uint_eq(io.nsent, 1);
	/* an address the rules do not match: the answer as it is */
	z_a("fine.test.", "192.0.2.65", 300);
	t = ask("fine.test.", VG_T_A, 0);
	serve();
	m = got(t);
	answer_a(m, 0, "fine.test.", "192.0.2.65", VG_T_A);
	no_ede(m);
	all_answered_once();
}
END_TEST

/* Stage 6 through a CNAME chain: the address at the end of it matches. */
START_TEST(blocked_on_the_answer_through_cname)
{
	block_policy();
	z_cname("alias.test.", "host.lab.");
	z_a("host.lab.", "192.0.2.66", 300);
	int t = ask("alias.test.", VG_T_A, 0);
	serve();
	const struct vg_msg *m = got(t);
	/* a later stage of the chain: the CNAME kept, then NXDOMAIN for its target */
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	ck_assert_uint_eq(m->ancount, 1);
	answer_cname(m, 0, "alias.test.", "host.lab.");
	policy_marks(m, 15, "vigil: block rule response-ip 192.0.2.66/32", "block.rpz.");
	all_answered_once();
}
END_TEST

/* A local-data CNAME at a later stage of the chain: the chain's CNAME, the
 * rule's CNAME, then its target resolved -- for a fresh answer, and from
 * the cache-hit hook for a cached one (its target cached too: answered
 * from inside the hook). */
START_TEST(redirect_at_later_chain_stage)
{
	block_policy();
	z_cname("alias.test.", "redir.test.");
	z_a("redir.test.", "192.0.2.99", 300);
	z_a("target.lab.", "192.0.2.44", 300);
	for (unsigned pass = 0; pass < 2; pass++) {
		unsigned before = io.nsent;
		int t = ask("alias.test.", VG_T_A, 0);
		serve();
		const struct vg_msg *m = got(t);
		ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
		ck_assert_uint_eq(m->ancount, 3);
		answer_cname(m, 0, "alias.test.", "redir.test.");
		answer_cname(m, 1, "redir.test.", "target.lab.");
		answer_a(m, 2, "target.lab.", "192.0.2.44", VG_T_A);
		policy_marks(m, 15, "vigil: block rule redir.test", "block.rpz.");
		if (pass == 1)
			ck_assert_uint_eq(io.nsent, before); /* all from the cache */
	}
	all_answered_once();
}
END_TEST

/* A cached answer, resolved before the rule existed, is rewritten from the
 * cache-hit hook without asking upstream again. */
START_TEST(cached_answer_rewritten)
{
	z_a("cached.test.", "192.0.2.66", 300);
	int t = ask("cached.test.", VG_T_A, 0); /* no policy yet */
	serve();
	answer_a(got(t), 0, "cached.test.", "192.0.2.66", VG_T_A);
	ck_assert_uint_eq(io.nsent, 1);
	block_policy(); /* now a RESPONSE-IP rule for 192.0.2.66 */
	const struct vg_msg *m = got(ask("cached.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	policy_marks(m, 15, "vigil: block rule response-ip 192.0.2.66/32", "block.rpz.");
	ck_assert_uint_eq(io.nsent, 1);
	ck_assert_uint_eq(pipe_.stats.cache_hits, 1);
	all_answered_once();
}
END_TEST

/* DROP sends nothing, at every stage: before the cache, on a resolved
 * answer, on a cached one. */
START_TEST(drop_sends_nothing)
{
	block_policy();
	got_nothing(ask("drop.test.", VG_T_A, 0));
	ck_assert_uint_eq(io.nsent, 0);
	z_a("dropped.test.", "192.0.2.67", 300);
	int t = ask("dropped.test.", VG_T_A, 0);
	not_answered(t);
	serve();
	got_nothing(t); /* resolved, then dropped by the response-ip rule */
	got_nothing(ask("dropped.test.", VG_T_A, 0)); /* from the cache */
	ck_assert_uint_eq(io.nsent, 1);
	all_answered_once();
}
END_TEST

/* TCP-only over UDP: TC=1, so the client retries over TCP. */
START_TEST(tcp_only_on_udp_gets_tc)
{
	block_policy();
	const struct vg_msg *m = got(ask("tcp.test.", VG_T_AAAA, Q_NOEDNS));
	ck_assert(m->flags & VG_F_TC);
	ck_assert_uint_eq(m->ancount + m->nscount, 0);
	ck_assert_uint_eq(io.nsent, 0);
	all_answered_once();
}
END_TEST

/* Stage 2 before 3: the ACL decides before the policy. */
START_TEST(access_control_before_policy)
{
	int b = (int)source("block", VG_PSRC_RPZ, block_rpz);
	group("everyone", "10.0.0.0/8", false, b, -1); /* covers the refused and dropped too */
	load_policy();
	client_ip = "10.9.0.1";
	const struct vg_msg *m = got(ask("nx.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_REFUSED);
	ck_assert_uint_eq(m->ancount, 0);
	ck_assert_uint_eq(section_count(m, VG_SEC_AR), 0); /* no policy SOA */
	m = got(ask("local.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_REFUSED);
	client_ip = "10.8.0.1";
	got_nothing(ask("local.test.", VG_T_A, 0));
	got_nothing(ask("www.test.", VG_T_A, 0));
	client_ip = "192.0.2.200"; /* the default: refuse */
	ck_assert_int_eq(rcode_of(got(ask("www.test.", VG_T_A, 0))), VG_RCODE_REFUSED);
	ck_assert_uint_eq(io.nsent, 0);
	ck_assert_uint_eq(pipe_.stats.policy_rewrites, 0);
	ck_assert_uint_eq(pipe_.stats.refused, 3);
	all_answered_once();
}
END_TEST

START_TEST(malformed_input_gets_nothing)
{
	block_policy();
	static const uint8_t shorter[] = { 0x12, 0x34, 0x01, 0x00, 0, 1 };
	got_nothing(ask_raw(shorter, sizeof(shorter)));
	got_nothing(ask_raw(NULL, 0));
	/* a response sent to the resolver */
	uint8_t q[512];
	size_t len = make_query(q, sizeof(q), "nx.test.", VG_T_A, 0, next_tag);
	q[2] |= 0x80;
	got_nothing(ask_raw(q, len));
	/* a header and a broken question: FORMERR */
	len = make_query(q, sizeof(q), "www.test.", VG_T_A, Q_NOEDNS, next_tag);
	q[12] = 60; /* a label longer than the packet */
	const struct vg_msg *m = got(ask_raw(q, len));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_FORMERR);
	ck_assert_uint_eq(io.nsent, 0);
	ck_assert_uint_eq(pipe_.stats.malformed, 3);
	all_answered_once();
}
END_TEST

/* RD=0 under recursive-only: a cached answer is not rewritten, but a name
 * vigil would have to resolve is checked first: nothing goes upstream. */
START_TEST(rd0_uncached_blocked_name_stays_blocked)
{
	block_policy();
	const struct vg_msg *m = got(ask("nx.test.", VG_T_A, Q_NORD));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	ck_assert(!(m->flags & VG_F_RD));
	policy_marks(m, 15, "vigil: block rule nx.test", "block.rpz.");
	got_nothing(ask("drop.test.", VG_T_A, Q_NORD));
	ck_assert_uint_eq(io.nsent, 0);
	/* in the cache: an RD=0 query gets it (recursive-only), RD=1 does not */
	static const uint8_t rd[] = { 0, 4, 192, 0, 2, 51 };
	struct vg_rrset rs = { .owner = N("nx.test."), .type = VG_T_A, .rclass = VG_C_IN,
			       .ttl = 300, .count = 1, .rdata_len = 6, .rdata = rd };
	ck_assert_int_eq(vg_cache_put(cache, &rs, VG_RANK_AUTH, vg_time_s_of_ms(io.now_ms)), 0);
	m = got(ask("nx.test.", VG_T_A, Q_NORD));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	answer_a(m, 0, "nx.test.", "192.0.2.51", VG_T_A);
	ck_assert_int_eq(rcode_of(got(ask("nx.test.", VG_T_A, 0))), VG_RCODE_NXDOMAIN);
	ck_assert_uint_eq(io.nsent, 0);
	all_answered_once();
}
END_TEST


/* break-dnssec no (the default): a DO=1 query for a blocked name whose
 * (cached, validated) answer is signed gets the truth; DO=0 gets the block;
 * break-dnssec yes rewrites DO=1 too, before the cache. */
START_TEST(signed_cached_answer_kept_for_do1)
{
	validation_on();
	put_secure("signed.test.", 91);
	int b = (int)source("sblock", VG_PSRC_RPZ, "signed.test CNAME .\n");
	group("everyone", "10.0.0.0/8", false, b, -1);
	load_policy();
	const struct vg_msg *m = got(ask("signed.test.", VG_T_A, Q_DO));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert(m->flags & VG_F_AD);
	answer_a(m, 0, "signed.test.", "192.0.2.91", VG_T_A);
	ck_assert_uint_eq(rr_at(m, VG_SEC_AN, 1)->type, VG_T_RRSIG);
	no_ede(m);
	m = got(ask("signed.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	policy_marks(m, 15, "vigil: sblock rule signed.test", "sblock.rpz.");
	popts.sources[b].break_dnssec = true;
	load_policy();
	m = got(ask("signed.test.", VG_T_A, Q_DO));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	ck_assert(!(m->flags & VG_F_AD));
	ck_assert_uint_eq(m->ancount, 0);
	policy_marks(m, 15, "vigil: sblock rule signed.test", "sblock.rpz.");
	ck_assert_uint_eq(io.nsent, 0);
	all_answered_once();
}
END_TEST

/* Stage 7: an answer over the UDP size is truncated; TCP carries it all. */
START_TEST(truncation_by_transport)
{
	for (unsigned i = 1; i <= 60; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "192.0.2.%u", i);
		z_a("big.test.", ip, 300);
	}
	int t = ask("big.test.", VG_T_A, Q_NOEDNS);
	serve();
	const struct vg_msg *m = got(t);
	ck_assert(m->flags & VG_F_TC);
	ck_assert_uint_le(io.ans[t].len, 512);
	m = got(ask("big.test.", VG_T_A, Q_TCP)); /* (from the cache) */
	ck_assert(!(m->flags & VG_F_TC));
	ck_assert_uint_eq(m->ancount, 60);
	m = got(ask("big.test.", VG_T_A, 0)); /* EDNS 1232: 60 A records fit */
	ck_assert(!(m->flags & VG_F_TC));
	ck_assert_uint_eq(m->ancount, 60);
	ck_assert_uint_eq(io.nsent, 1);
	all_answered_once();
}
END_TEST

/* io->send fails: the query is still answered once (SERVFAIL), nothing
 * is left in flight and nothing is cancelled. */
START_TEST(send_failure_answered_once)
{
	io.send_error = -ENETUNREACH;
	int t = ask("unreach.test.", VG_T_A, 0);
	ck_assert_uint_ge(io.send_failed, 1);
	const struct vg_msg *m = got(t);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_SERVFAIL);
	ck_assert_uint_eq(io.ncancel, 0);
	ck_assert_uint_eq(pipe_.inflight, 0);
	io.now_ms += 60000;
	vg_pipe_tick(&pipe_);
	all_answered_once();
}
END_TEST

/* ================================================================ fake time */

static uint32_t first_ttl(const struct vg_msg *m)
{
	return rr_at(m, VG_SEC_AN, 0)->ttl;
}

START_TEST(ttl_decays_then_entry_expires)
{
	z_a("ttl.test.", "192.0.2.60", 300);
	int t = ask("ttl.test.", VG_T_A, 0);
	serve();
	ck_assert_uint_eq(first_ttl(got(t)), 300);
	io.now_ms += 100 * 1000;
	ck_assert_uint_eq(first_ttl(got(ask("ttl.test.", VG_T_A, 0))), 200);
	io.now_ms += 150 * 1000 + 400;
	ck_assert_uint_eq(first_ttl(got(ask("ttl.test.", VG_T_A, 0))), 50);
	ck_assert_uint_eq(io.nsent, 1);
	io.now_ms += 50 * 1000; /* 300 s after it was cached: gone */
	t = ask("ttl.test.", VG_T_A, 0);
	not_answered(t);
	ck_assert_uint_eq(sent_for("ttl.test."), 2);
	serve();
	ck_assert_uint_eq(first_ttl(got(t)), 300);
	all_answered_once();
}
END_TEST

START_TEST(servfail_cached_for_servfail_ttl)
{
	z_a("flaky.test.", "192.0.2.61", 300);
	z_servfail("flaky.test.", true);
	int t = ask("flaky.test.", VG_T_A, 0);
	serve();
	ck_assert_int_eq(rcode_of(got(t)), VG_RCODE_SERVFAIL);
	unsigned asked = io.nsent;
	ck_assert_uint_ge(asked, 1);
	/* remembered for cache.servfail-ttl (5 s) of fake time */
	z_servfail(NULL, false); /* (the server is fine again) */
	io.now_ms += 4900;
	ck_assert_int_eq(rcode_of(got(ask("flaky.test.", VG_T_A, 0))), VG_RCODE_SERVFAIL);
	ck_assert_uint_eq(io.nsent, asked);
	/* then asked again */
	io.now_ms += 200;
	t = ask("flaky.test.", VG_T_A, 0);
	ck_assert_msg(io.nsent > asked, "not retried after servfail-ttl");
	serve();
	const struct vg_msg *m = got(t);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	answer_a(m, 0, "flaky.test.", "192.0.2.61", VG_T_A);
	all_answered_once();
}
END_TEST

START_TEST(request_timeout_by_tick)
{
	int t = ask("slow.test.", VG_T_A, 0);
	ck_assert_uint_eq(io.nsent, 1);
	io.now_ms += 1999;
	vg_pipe_tick(&pipe_);
	not_answered(t);
	ck_assert_uint_eq(io.ncancel, 0);
	io.now_ms += 1;
	vg_pipe_tick(&pipe_);
	const struct vg_msg *m = got(t);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_SERVFAIL);
	ck_assert_uint_eq(m->ancount, 0);
	/* the upstream query was cancelled, and nothing is left in flight */
	ck_assert_uint_eq(io.ncancel, 1);
	ck_assert_uint_eq(io.bad_cancel, 0);
	ck_assert(io.sent[0].cancelled);
	ck_assert_uint_eq(in_flight(), 0);
	ck_assert_uint_eq(pipe_.inflight, 0);
	ck_assert_uint_eq(pipe_.stats.timeouts, 1);
	vg_pipe_tick(&pipe_);
	io.now_ms += 10000;
	vg_pipe_tick(&pipe_);
	all_answered_once();
}
END_TEST

/* ================================================================ exactly once */

START_TEST(exactly_once_and_stop_with_requests_in_flight)
{
	block_policy();
	z_a("done.test.", "192.0.2.70", 300);
	ask("done.test.", VG_T_A, 0);
	serve();
	ask("done.test.", VG_T_A, 0); /* cache hit */
	ask("nx.test.", VG_T_A, 0);   /* policy */
	ask("drop.test.", VG_T_A, 0); /* nothing */
	int w1 = ask("wait1.test.", VG_T_A, 0);   /* in flight */
	int w2 = ask("wait2.test.", VG_T_AAAA, Q_TCP);
	int w3 = ask("redir.test.", VG_T_A, 0);   /* a redirect being followed */
	ck_assert_uint_eq(in_flight(), 3);
	ck_assert_uint_eq(pipe_.inflight, 3);
	not_answered(w1);
	not_answered(w2);
	not_answered(w3);
	vg_pipe_stop(&pipe_);
	got_nothing(w1);
	got_nothing(w2);
	got_nothing(w3);
	ck_assert_uint_eq(io.ncancel, 3); /* their upstream queries are cancelled */
	ck_assert_uint_eq(io.bad_cancel, 0);
	ck_assert_uint_eq(in_flight(), 0);
	/* after the stop: nothing, at once */
	got_nothing(ask("done.test.", VG_T_A, 0));
	vg_pipe_tick(&pipe_);
	vg_pipe_stop(&pipe_);
	all_answered_once();
	ck_assert_uint_eq(serve(), 0);
}
END_TEST

/* Every query of a busy mix is answered exactly once, whatever answers it. */
START_TEST(exactly_once_mix)
{
	block_policy();
	z_a("a.test.", "192.0.2.71", 300);
	z_a("b.test.", "192.0.2.66", 300); /* response-ip */
	z_a("c.test.", "192.0.2.67", 300); /* response-ip drop */
	z_servfail("e.test.", true);
	static const char *const names[] = { "a.test.", "b.test.", "c.test.", "d.test.",
					     "e.test.", "nx.test.", "drop.test.", "tcp.test.",
					     "local.test.", "redir.test.", "gardened.test." };
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < VG_ARRAY_SIZE(names); i++)
			ask(names[i], VG_T_A, i % 2 ? Q_TCP : 0);
		serve();
	}
	int t = ask("f.test.", VG_T_A, 0); /* left to time out */
	io.now_ms += 60000;
	vg_pipe_tick(&pipe_);
	ck_assert_int_eq(rcode_of(got(t)), VG_RCODE_SERVFAIL);
	all_answered_once();
	ck_assert_uint_eq(in_flight(), 0);
	ck_assert_uint_eq(pipe_.inflight, 0);
}
END_TEST

/* ================================================================ allocations */

/* Heap calls of this thread across one vg_pipe_query of @p name (cached). */
static unsigned long query_heap_calls(const char *name, uint16_t qtype, unsigned flags, int *tag)
{
	uint8_t q[512];
	*tag = next_tag++;
	size_t len = make_query(q, sizeof(q), name, qtype, flags, *tag);
	struct vg_client c = client_for(*tag, flags);
	unsigned long before = heap_calls;
	vg_pipe_query(&pipe_, q, len, &c);
	return heap_calls - before;
}

/* (a) DO=0, validation off, no policy. */
START_TEST(cache_hit_allocates_nothing)
{
	z_a("www.test.", "192.0.2.80", 300);
	int t = ask("www.test.", VG_T_A, 0);
	serve();
	answer_a(got(t), 0, "www.test.", "192.0.2.80", VG_T_A);
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_uint_eq(query_heap_calls("www.test.", VG_T_A, i == 2 ? Q_TCP : 0, &t), 0);
		const struct vg_msg *m = got(t);
		answer_a(m, 0, "www.test.", "192.0.2.80", VG_T_A);
	}
	ck_assert_uint_eq(pipe_.stats.cache_hits, 3);
	ck_assert_uint_eq(io.nsent, 1);
	/* (the counter counts: a query that must be resolved allocates its request) */
	ck_assert_uint_gt(query_heap_calls("miss.test.", VG_T_A, 0, &t), 0);
	ck_assert_uint_eq(io.nsent, 2);
}
END_TEST

/* (b) the real policy, a group with answer-side rules: the cache-hit hook
 * runs and the policy reads the cached answer (and the cache, NSDNAME). */
START_TEST(cache_hit_with_policy_allocates_nothing)
{
	const struct vg_policy *pol = block_policy();
	z_a("www.test.", "192.0.2.80", 300);
	z_a("resp.test.", "192.0.2.66", 300);
	int t1 = ask("www.test.", VG_T_A, 0);
	int t2 = ask("resp.test.", VG_T_A, 0);
	serve();
	answer_a(got(t1), 0, "www.test.", "192.0.2.80", VG_T_A);
	ck_assert_int_eq(rcode_of(got(t2)), VG_RCODE_NXDOMAIN);
	/* the decision before resolution leaves the answer to be checked */
	struct vg_policy_decision d;
	struct vg_sockaddr ca;
	addr_of(&ca, client_ip, 5300);
	ck_assert_int_eq(vg_policy_check_flags(pol, &ca.u.sa, N("www.test."), true, false, &d), 0);
	ck_assert(d.check_answer);
	int t;
	ck_assert_uint_eq(query_heap_calls("www.test.", VG_T_A, 0, &t), 0);
	const struct vg_msg *m = got(t);
	answer_a(m, 0, "www.test.", "192.0.2.80", VG_T_A);
	no_ede(m);
	/* a cached answer the policy rewrites from the hook, with the main log on */
	vg_log_setup(VG_LOG_INFO, false);
	ck_assert_uint_eq(query_heap_calls("resp.test.", VG_T_A, 0, &t), 0);
	vg_log_setup(VG_LOG_WARNING, false);
	m = got(t);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	policy_marks(m, 15, "vigil: block rule response-ip 192.0.2.66/32", "block.rpz.");
	/* a QNAME block before the cache, for good measure */
	ck_assert_uint_eq(query_heap_calls("nx.test.", VG_T_A, 0, &t), 0);
	ck_assert_int_eq(rcode_of(got(t)), VG_RCODE_NXDOMAIN);
	ck_assert_uint_eq(io.nsent, 2);
	ck_assert_uint_eq(pipe_.stats.cache_hits, 2);
}
END_TEST

/* (c) a validated answer to a DO=1 query: AD, the RRSIG, no allocation. */
START_TEST(validated_cache_hit_allocates_nothing)
{
	validation_on();
	size_t siglen = put_secure("secure.test.", 90);
	for (unsigned pass = 0; pass < 2; pass++) {
		if (pass == 1)
			block_policy(); /* and with the policy consulted on it */
		int t;
		ck_assert_uint_eq(query_heap_calls("secure.test.", VG_T_A, Q_DO, &t), 0);
		const struct vg_msg *m = got(t);
		ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
		ck_assert_msg(m->flags & VG_F_AD, "a secure cached answer without AD");
		ck_assert_uint_eq(m->ancount, 2);
		answer_a(m, 0, "secure.test.", "192.0.2.90", VG_T_A);
		const struct vg_rr *rr = rr_at(m, VG_SEC_AN, 1);
		ck_assert_uint_eq(rr->type, VG_T_RRSIG);
		ck_assert(owner_is(m, rr, "secure.test."));
		ck_assert_uint_eq(rr->rdlen, siglen);
		ck_assert_uint_eq(vg_get16(m->pkt + rr->rdata), VG_T_A);
		no_ede(m);
		/* without DO: no RRSIG, no AD */
		ck_assert_uint_eq(query_heap_calls("secure.test.", VG_T_A, 0, &t), 0);
		m = got(t);
		ck_assert(!(m->flags & VG_F_AD));
		ck_assert_uint_eq(m->ancount, 1);
	}
	ck_assert_uint_eq(io.nsent, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pipeline");
	TCase *ta = tcase_create("actions");
	tcase_add_checked_fixture(ta, setup, teardown);
	tcase_add_test(ta, action_nxdomain);
	tcase_add_test(ta, action_nodata);
	tcase_add_test(ta, action_drop);
	tcase_add_test(ta, action_tcp_only);
	tcase_add_test(ta, action_null_address);
	tcase_add_test(ta, action_local_data);
	tcase_add_test(ta, action_cname_redirect);
	tcase_add_test(ta, action_walled_garden);
	tcase_add_test(ta, override_nxdomain_on_passthru_source);
	tcase_add_test(ta, override_on_block_source);
	tcase_add_test(ta, override_passthru_stops_later_sources);
	tcase_add_test(ta, override_disabled_logs_and_next_source_decides);
	tcase_add_test(ta, passthru_stops_later_block);
	tcase_add_test(ta, allowlist_mode);
	suite_add_tcase(s, ta);

	TCase *tb = tcase_create("stages");
	tcase_add_checked_fixture(tb, setup, teardown);
	tcase_add_test(tb, blocked_before_the_cache);
	tcase_add_test(tb, blocked_on_the_answer);
	tcase_add_test(tb, blocked_on_the_answer_through_cname);
	tcase_add_test(tb, cached_answer_rewritten);
	tcase_add_test(tb, redirect_at_later_chain_stage);
	tcase_add_test(tb, drop_sends_nothing);
	tcase_add_test(tb, tcp_only_on_udp_gets_tc);
	tcase_add_test(tb, access_control_before_policy);
	tcase_add_test(tb, malformed_input_gets_nothing);
	tcase_add_test(tb, rd0_uncached_blocked_name_stays_blocked);
	tcase_add_test(tb, signed_cached_answer_kept_for_do1);
	tcase_add_test(tb, truncation_by_transport);
	tcase_add_test(tb, send_failure_answered_once);
	suite_add_tcase(s, tb);

	TCase *tc = tcase_create("time");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, ttl_decays_then_entry_expires);
	tcase_add_test(tc, servfail_cached_for_servfail_ttl);
	tcase_add_test(tc, request_timeout_by_tick);
	tcase_add_test(tc, exactly_once_and_stop_with_requests_in_flight);
	tcase_add_test(tc, exactly_once_mix);
	suite_add_tcase(s, tc);

	TCase *td = tcase_create("allocations");
	tcase_add_checked_fixture(td, setup, teardown);
	tcase_add_test(td, cache_hit_allocates_nothing);
	tcase_add_test(td, cache_hit_with_policy_allocates_nothing);
	tcase_add_test(td, validated_cache_hit_allocates_nothing);
	suite_add_tcase(s, td);

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
