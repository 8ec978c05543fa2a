/* SPDX-License-Identifier: MIT
 *
 * Fuzz harness: the whole request pipeline (src/pipeline over the resolver
 * core, cache, validator and policy), driven with fake I/O and fake time as
 * in tests/unit/pipeline_fixture.h: a client packet in, the answer out, and
 * every upstream query answered with bytes from the input, so the iterator,
 * the validator and the answer-side policy see hostile answers.
 *
 * Input:
 *   byte 0       options: 1 validation (built-in root trust anchors),
 *                2 QNAME minimisation, 4 the client uses TCP, 8 the same
 *                query is asked again once the first is answered (cache),
 *                16 the policy applies (an RPZ and a list: qname, response-
 *                IP, NSDNAME and NSIP rules), 32 qname-wait-recurse
 *   then chunks  [u16 length][bytes]: the first is the client's packet; each
 *                next one answers the next upstream query:
 *                  first byte & 0x80  the query times out (no bytes)
 *                  first byte & 0x40  the reply is the next 12 bytes as its
 *                                     header (QDCOUNT set to 1), the query's
 *                                     own question, then the rest
 *                  otherwise          the rest is the reply as it is
 *                When the chunks run out, every query left times out.
 *
 * What it checks, besides the sanitizers: every client query is answered
 * exactly once (io->answer), every answer vigil writes parses (vg_msg_parse)
 * and a UDP answer fits the size the query allowed (RFC 6891 6.2.5).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dnssec/ta.h"
#include "pipeline/pipeline.h"
#include "policy/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { O_VALIDATE = 1, O_QMIN = 2, O_TCP = 4, O_TWICE = 8, O_POLICY = 16, O_WAIT = 32 };

#define MAX_SENT 512
#define MAX_QUERIES 2

struct sent_q {
	struct vg_outbound o;
	struct vg_pipe_req *r;
	bool done; /* replied or cancelled */
};

static struct {
	uint64_t now_ms;
	struct sent_q sent[MAX_SENT];
	unsigned nsent;
	unsigned calls[MAX_QUERIES + 1];
	size_t limit[MAX_QUERIES + 1]; /* largest answer allowed (0: none) */
} io;

static struct vg_msg *parsed;

static void fake_answer(void *arg, const struct vg_client *c, const uint8_t *pkt, size_t len)
{
	(void)arg;
	if (c->sock <= 0 || c->sock > MAX_QUERIES)
		__builtin_trap(); /* an answer for a client that never asked */
	io.calls[c->sock]++;
	if (!len)
		return;
	if (len > io.limit[c->sock] || vg_msg_parse(parsed, pkt, len) < 0)
		__builtin_trap();
}

static int fake_send(void *arg, const struct vg_outbound *o, struct vg_pipe_req *r, void **handle)
{
	(void)arg;
	if (io.nsent >= MAX_SENT)
		return -ENOBUFS;
	struct sent_q *s = &io.sent[io.nsent++];
	s->o = *o;
	s->r = r;
	s->done = false;
	*handle = s;
	return 0;
}

static void fake_cancel(void *arg, void *handle, struct vg_pipe_req *r)
{
	(void)arg;
	struct sent_q *s = handle;
	if (!s || s->r != r || s->done)
		__builtin_trap(); /* cancelled twice, or after its reply */
	s->done = true;
}

static uint64_t fake_now_ms(void *arg)
{
	(void)arg;
	return io.now_ms;
}

static uint64_t fake_now_ns(void *arg)
{
	(void)arg;
	return io.now_ms * 1000000;
}

static uint32_t fake_wall_s(void *arg)
{
	(void)arg;
	return 1700000000u + (uint32_t)(io.now_ms / 1000);
}

static const struct vg_pipe_io fake_io = {
	.answer = fake_answer, .send = fake_send, .cancel = fake_cancel,
	.now_ms = fake_now_ms, .now_ns = fake_now_ns, .wall_s = fake_wall_s,
};

/* ------------------------------------------------------------ policy */

static const char rpz_body[] =
	"$ORIGIN fuzz.rpz.\n$TTL 300\n"
	"@ IN SOA localhost. hostmaster.localhost. 7 3600 600 86400 60\n"
	"@ IN NS localhost.\n"
	"nx.test CNAME .\n"
	"*.wild.test CNAME .\n"
	"nodata.test CNAME *.\n"
	"drop.test CNAME rpz-drop.\n"
	"tcp.test CNAME rpz-tcp-only.\n"
	"local.test A 192.0.2.77\n"
	"redir.test CNAME target.test.\n"
	"gardened.test CNAME *.garden.test.\n"
	"pass.test CNAME rpz-passthru.\n"
	"32.66.2.0.192.rpz-ip CNAME .\n"
	"24.0.2.0.198.rpz-ip CNAME rpz-drop.\n"
	"ns.evil.test.rpz-nsdname CNAME .\n"
	"32.53.0.0.127.rpz-nsip CNAME .\n";

static const char list_body[] = "ads.test\nbad.example\n";

static struct vg_policy *policy;

static int write_file(const char *path, const char *body)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fputs(body, f);
	return fclose(f) ? -errno : 0;
}

/* Load the policy once, from files in a temporary directory removed again. */
static void policy_init(void)
{
	static struct vg_policy_opts po;
	char dir[] = "/tmp/vg-fuzz-XXXXXX";
	if (!mkdtemp(dir))
		return;
	po.min_ns_dots = VG_POLICY_MIN_NS_DOTS_DEFAULT;
	const char *names[2] = { "fuzz", "ads" };
	for (unsigned i = 0; i < 2; i++) {
		struct vg_policy_source *s = &po.sources[i];
		snprintf(s->name, sizeof(s->name), "%s", names[i]);
		snprintf(s->file, sizeof(s->file), "%s/%s.%s", dir, names[i], i ? "list" : "rpz");
		s->type = i ? VG_PSRC_DOMAINS : VG_PSRC_RPZ;
		s->ede = 15;
		s->recursive_only = true;
		if (write_file(s->file, i ? list_body : rpz_body) < 0)
			goto out;
	}
	po.n_sources = 2;
	struct vg_policy_group *g = &po.groups[0];
	snprintf(g->name, sizeof(g->name), "everyone");
	if (vg_prefix_parse("10.0.0.0/8", &g->clients[0]) < 0)
		goto out;
	g->n_clients = 1;
	g->sources[0] = 0;
	g->sources[1] = 1;
	g->n_sources = 2;
	po.n_groups = 1;
	if (vg_policy_load(&policy, &po, NULL, stderr) < 0)
		policy = NULL;
out:
	for (unsigned i = 0; i < 2; i++)
		if (po.sources[i].file[0])
			unlink(po.sources[i].file);
	rmdir(dir);
}

/* ------------------------------------------------------------ input */

struct input {
	const uint8_t *p, *end;
};

/* The next chunk; false when there is none. */
static bool next_chunk(struct input *in, const uint8_t **b, size_t *len)
{
	if (in->end - in->p < 2)
		return false;
	size_t l = (size_t)in->p[0] << 8 | in->p[1];
	in->p += 2;
	if ((size_t)(in->end - in->p) < l)
		l = (size_t)(in->end - in->p);
	*b = in->p;
	*len = l;
	in->p += l;
	return true;
}

static uint8_t reply[65536];

/* Answer every upstream query in flight, and those they lead to. */
static void serve(struct input *in)
{
	for (unsigned i = 0; i < io.nsent; i++) {
		struct sent_q *s = &io.sent[i];
		const uint8_t *b;
		size_t len;
		if (s->done)
			continue;
		s->done = true;
		io.now_ms += 7;
		if (!next_chunk(in, &b, &len) || len == 0 || (b[0] & 0x80)) {
			vg_pipe_reply(s->r, -ETIMEDOUT, NULL, 0, NULL);
			continue;
		}
		if (!(b[0] & 0x40)) {
			memcpy(reply, b + 1, len - 1);
			vg_pipe_reply(s->r, 0, reply, len - 1, NULL);
			continue;
		}
		/* header from the input, the query's question, the rest */
		size_t n = 0, h = len - 1 < 12 ? len - 1 : 12;
		memset(reply, 0, 12);
		memcpy(reply, b + 1, h);
		vg_put16(reply + 4, 1);
		n = 12;
		size_t ql = vg_name_len(s->o.qname);
		memcpy(reply + n, s->o.qname, ql);
		n += ql;
		vg_put16(reply + n, s->o.qtype);
		vg_put16(reply + n + 2, VG_C_IN);
		n += 4;
		memcpy(reply + n, b + 1 + h, len - 1 - h);
		n += len - 1 - h;
		vg_pipe_reply(s->r, 0, reply, n, NULL);
	}
}

static void ask(struct vg_pipe *p, const uint8_t *pkt, size_t len, unsigned opts, int tag)
{
	struct vg_client c;
	struct vg_query q;
	int rcode;
	memset(&c, 0, sizeof(c));
	vg_sockaddr_parse("10.0.0.1", 5300, &c.addr);
	c.transport = opts & O_TCP ? VG_TRANSPORT_TCP : VG_TRANSPORT_UDP;
	c.max_size = opts & O_TCP ? 65535 : 65535 - 28;
	c.sock = tag;
	io.limit[tag] = c.max_size;
	if (!(opts & O_TCP) && vg_query_parse(&q, pkt, len, &rcode) == 0) {
		size_t s = !q.edns.present || q.edns.udp_size < 512 ? 512 : q.edns.udp_size;
		io.limit[tag] = s < 1232 ? s : 1232;
	}
	vg_pipe_query(p, pkt, len, &c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	static struct vg_hints hints;
	static uint8_t client[65535];
	if (!ready) {
		vg_log_setup(VG_LOG_ERR - 1, false); /* quiet: VG_FAILS lines too */
		policy_init();
		vg_name_from_str("a.root.test.", hints.ns[0], VG_NAME_MAX);
		hints.n_ns = 1;
		vg_sockaddr_parse("127.0.0.1", 53, &hints.addr[0]);
		hints.n_addr = 1;
		if (vg_ta_builtin(&hints.ta) < 0)
			__builtin_trap();
		ready = true;
	}
	if (size < 1)
		return 0;
	unsigned opts = data[0];
	struct input in = { data + 1, data + size };
	const uint8_t *q;
	size_t qlen;
	if (!next_chunk(&in, &q, &qlen))
		return 0;
	memcpy(client, q, qlen); /* the pipeline may keep no pointer into it */

	struct vg_pipe_opts sopts = { 0 };
	sopts.acl.rule[0].action = VG_ACL_ALLOW;
	vg_prefix_parse("10.0.0.0/8", &sopts.acl.rule[0].prefix);
	sopts.acl.n = 1;
	sopts.acl.dflt = VG_ACL_REFUSE;
	sopts.max_udp_size = 1232;
	sopts.request_timeout_ms = 2000;
	struct vg_resolv_opts ropts = {
		.allow_query_localhost = true, .allow_query_private = true,
		.qname_minimisation = opts & O_QMIN, .use_ipv6_upstream = false,
		.max_upstream_queries = 200, .max_subquery_depth = 8, .max_referrals = 30,
		.max_cname_chain = 11, .max_glueless_ns = 5, .upstream_timeout_ms = 400,
		.servfail_ttl = 5,
	};
	struct vg_dnssec_opts dopts = {
		.validation = opts & O_VALIDATE, .bogus_ttl = 60, .clock_skew = 300,
		.max_rrsigs_per_rrset = 8, .max_keys_per_tag = 2, .max_per_query = 32,
		.max_ds_digests = 8,
		.nsec3_max_iterations = 50, .nsec3_max_records = 8, .nsec3_max_hashes = 600,
	};
	if (policy)
		policy->qname_wait_recurse = opts & O_WAIT;

	memset(&io, 0, sizeof(io));
	io.now_ms = 1000000;
	struct vg_cache *cache = vg_cache_new(1 << 20);
	struct vg_infra *infra = vg_infra_new(64);
	uint8_t *scratch = malloc(VG_SCRATCH), *scratch2 = malloc(VG_SCRATCH);
	struct vg_msg *msgbuf = malloc(sizeof(*msgbuf));
	parsed = malloc(sizeof(*parsed));
	struct vg_pipe p;
	bool inited = false;
	if (!cache || !infra || !scratch || !scratch2 || !msgbuf || !parsed)
		goto out;
	const struct vg_resolv_env env = { .cache = cache, .infra = infra, .msg = msgbuf,
					   .scratch = scratch, .scratch2 = scratch2 };
	if (vg_pipe_init(&p, 0, &fake_io, &env) < 0)
		goto out;
	inited = true;
	const struct vg_pipe_view v = { .serve = &sopts, .resolv = &ropts, .dnssec = &dopts,
					.hints = &hints,
					.policy = opts & O_POLICY ? policy : NULL };
	vg_pipe_adopt(&p, &v);

	int nq = opts & O_TWICE ? 2 : 1;
	for (int tag = 1; tag <= nq; tag++) {
		ask(&p, client, qlen, opts, tag);
		serve(&in);
		/* whatever is still waiting ends at its deadline */
		io.now_ms += 10000;
		vg_pipe_tick(&p);
		if (io.calls[tag] != 1)
			__builtin_trap(); /* not answered exactly once */
	}
out:
	if (inited)
		vg_pipe_deinit(&p);
	vg_cache_free(cache);
	vg_infra_free(infra);
	free(scratch);
	free(scratch2);
	free(msgbuf);
	free(parsed);
	return 0;
}
