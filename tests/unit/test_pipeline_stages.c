/* SPDX-License-Identifier: MIT
 *
 * The pipeline's stage boundaries (blocked before the cache, on the answer,
 * a cached answer rewritten, access control before the policy, truncation
 * per transport), fake time (TTL decay, failure caching, request time
 * limits), exactly-once delivery, and the allocation proof of the cache-hit
 * path.  The fixture, and how the fakes work, is in pipeline_fixture.h.
 */
#include "pipeline_fixture.h"
#include "qlog/qlog.h"

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

/* (a2) the query log on: the worker's cost of a cached answer is the ring
 * copy, no allocation (the writer thread formats and allocates on its own,
 * and its heap calls are not this thread's); every answer is written, as a
 * cache hit.  (dnstap takes the same copy on the worker; it is left out
 * here because fstrm's I/O thread is not TSan-clean to TSan's eyes.) */
START_TEST(cache_hit_with_query_log_allocates_nothing)
{
	struct vg_qlog_opts o;
	struct vg_qlog *l = NULL;
	char path[] = "/tmp/vg_test_qlog_XXXXXX", err[256] = "", line[2048];
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	vg_qlog_opts_default(&o);
	snprintf(o.file, sizeof(o.file), "%s", path);
	ck_assert_msg(vg_qlog_start(&l, &o, 1, err, sizeof(err)) == 0, "%s", err);

	z_a("www.test.", "192.0.2.80", 300);
	int t = ask("www.test.", VG_T_A, 0);
	serve();
	answer_a(got(t), 0, "www.test.", "192.0.2.80", VG_T_A);
	uint64_t before = vg_qlog_handled(l);
	pipe_.qlog = l;
	for (unsigned i = 0; i < 3; i++)
		ck_assert_uint_eq(query_heap_calls("www.test.", VG_T_A, 0, &t), 0);
	pipe_.qlog = NULL;
	for (unsigned i = 0; i < 500 && vg_qlog_handled(l) < before + 3; i++)
		usleep(10000);
	ck_assert_uint_eq(pipe_.stats.query_log_dropped, 0);
	vg_qlog_stop(l);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	unsigned hits = 0;
	while (fgets(line, sizeof(line), f))
		hits += strstr(line, "\"name\":\"www.test.\"") && strstr(line, "\"cache_hit\":true") &&
			strstr(line, "\"answer\":[\"A 192.0.2.80\"]") ? 1 : 0;
	fclose(f);
	ck_assert_uint_eq(hits, 3);
	unlink(path);
}
END_TEST

/* ================================================================ latency */

/* A query of @p name at receive time @p rx (ns); its tag. */
static int ask_at(const char *name, uint64_t rx)
{
	uint8_t q[512];
	int tag = next_tag++;
	size_t len = make_query(q, sizeof(q), name, VG_T_A, 0, tag);
	struct vg_client c = client_for(tag, 0);
	c.rx_ns = rx;
	vg_pipe_query(&pipe_, q, len, &c);
	return tag;
}

static uint64_t lat_bucket(unsigned i)
{
	return pipe_.stats.latency.bucket[i];
}

static uint64_t lat_count(void)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < VG_LAT_BUCKETS; i++)
		n += lat_bucket(i);
	return n;
}

/* The answer latency is the send time minus the receive time, to the
 * microsecond: held answers (a batch) take the time given to vg_pipe_sent
 * without a clock read of their own; others read io->now_ns once. */
START_TEST(latency_from_receive_to_send)
{
	const uint64_t T = 5000000000ull; /* 5 s on the fake monotonic clock */
	z_a("www.test.", "192.0.2.80", 300);
	int t0 = ask("www.test.", VG_T_A, 0);
	serve();
	answer_a(got(t0), 0, "www.test.", "192.0.2.80", VG_T_A);
	memset(&pipe_.stats.latency, 0, sizeof(pipe_.stats.latency));
	unsigned reads = io.now_ns_reads;

	/* a batch of two cache hits sent 30 us after it came: <= 50 us */
	vg_pipe_hold(&pipe_);
	answered_once(ask_at("www.test.", T));
	answered_once(ask_at("www.test.", T));
	ck_assert_uint_eq(lat_count(), 0); /* not sent yet */
	vg_pipe_sent(&pipe_, T + 30000);
	ck_assert_uint_eq(lat_bucket(0), 2);
	ck_assert_uint_eq(io.now_ns_reads, reads); /* no clock read for them */

	/* bounds are "<=": exactly 50 us is the first bucket, 50.001 us the next */
	vg_pipe_hold(&pipe_);
	ask_at("www.test.", T);
	vg_pipe_sent(&pipe_, T + 50000);
	vg_pipe_hold(&pipe_);
	ask_at("www.test.", T);
	vg_pipe_sent(&pipe_, T + 50001);
	ck_assert_uint_eq(lat_bucket(0), 3);
	ck_assert_uint_eq(lat_bucket(1), 1); /* (50, 100] us */

	/* 700 us: (500 us, 1 ms]; nested holds: the outer one sends */
	vg_pipe_hold(&pipe_);
	vg_pipe_hold(&pipe_);
	ask_at("www.test.", T);
	vg_pipe_sent(&pipe_, T + 1);
	ck_assert_uint_eq(lat_count(), 4);
	vg_pipe_sent(&pipe_, T + 700000);
	ck_assert_uint_eq(lat_bucket(4), 1);
	ck_assert_uint_eq(io.now_ns_reads, reads);

	/* outside a hold: one clock read, 3 ms -> (2.5, 5] ms */
	io.now_ns = T + 3000000;
	ask_at("www.test.", T);
	ck_assert_uint_eq(io.now_ns_reads, reads + 1);
	ck_assert_uint_eq(lat_bucket(6), 1);

	/* resolved: it came at T, its answer is given at the upstream reply
	 * 120 ms later -> (100, 250] ms */
	z_a("slow.test.", "192.0.2.81", 300);
	int t = ask_at("slow.test.", T);
	not_answered(t);
	io.now_ns = T + 120000000;
	serve();
	answered_once(t);
	ck_assert_uint_eq(lat_bucket(11), 1);
	/* past 10 s: the last bucket */
	io.now_ns = T + 11000000000ull;
	ask_at("www.test.", T);
	ck_assert_uint_eq(lat_bucket(VG_LAT_BUCKETS - 1), 1);
	ck_assert_uint_eq(lat_count(), 8);
	ck_assert_uint_eq(pipe_.stats.latency.sum,
			  30 + 30 + 50 + 50 + 700 + 3000 + 120000 + 11000000ull);

	/* more answers in one hold than it keeps: they count as sent when it
	 * is full (one clock read), the rest at vg_pipe_sent */
	memset(&pipe_.stats.latency, 0, sizeof(pipe_.stats.latency));
	io.now_ns = T + 200000; /* (100, 250] us */
	vg_pipe_hold(&pipe_);
	for (unsigned i = 0; i < VG_PIPE_HELD + 2; i++) {
		uint8_t q[512];
		size_t len = make_query(q, sizeof(q), "www.test.", VG_T_A, 0, 1);
		struct vg_client c = client_for(1, 0);
		c.rx_ns = T;
		vg_pipe_query(&pipe_, q, len, &c);
	}
	vg_pipe_sent(&pipe_, T + 2000000); /* (1, 2.5] ms */
	ck_assert_uint_eq(lat_bucket(2), VG_PIPE_HELD + 1);
	ck_assert_uint_eq(lat_bucket(5), 1);
	ck_assert_uint_eq(lat_count(), VG_PIPE_HELD + 2);
}
END_TEST

/* A transport that gives no receive time: the pipeline reads the clock for
 * the query (and once more for the answer). */
START_TEST(latency_without_receive_time)
{
	z_a("www.test.", "192.0.2.80", 300);
	int t = ask("www.test.", VG_T_A, 0);
	serve();
	answered_once(t);
	memset(&pipe_.stats.latency, 0, sizeof(pipe_.stats.latency));
	io.now_ns = 7000000000ull;
	unsigned reads = io.now_ns_reads;
	answered_once(ask("www.test.", VG_T_A, 0));
	ck_assert_uint_eq(io.now_ns_reads, reads + 2);
	ck_assert_uint_eq(lat_bucket(0), 1);
	ck_assert_uint_eq(lat_count(), 1);
}
END_TEST

/* ================================================================ cost probes
 *
 * PROBE_N answers of one kind, each through its own noinline function so
 * callgrind can count exactly them:
 *   valgrind --tool=callgrind --collect-atstart=no \
 *     --toggle-collect=probe_cache_hits build/tests/test_pipeline_stages
 * (CK_FORK=no; also probe_cache_hits_logged, probe_blocked_logged).  Each
 * probe also checks what it measured: every query answered, from the cache
 * or by the policy, without a heap call. */
#define PROBE_N 1000

/* @p batch: queries per vg_pipe_hold .. vg_pipe_sent, as UDP's recvmmsg
 * batches (0: none, every answer reads the clock) */
static __attribute__((noipa)) unsigned long probe_run(const char *name, int tag, unsigned batch)
{
	uint8_t q[512];
	size_t len = make_query(q, sizeof(q), name, VG_T_A, 0, tag);
	struct vg_client c = client_for(tag, 0);
	c.rx_ns = io.now_ns; /* (the transport's batch time) */
	unsigned long before = heap_calls;
	for (unsigned i = 0; i < PROBE_N; i++) {
		if (batch && i % batch == 0)
			vg_pipe_hold(&pipe_);
		vg_pipe_query(&pipe_, q, len, &c);
		if (batch && (i % batch == batch - 1 || i == PROBE_N - 1))
			vg_pipe_sent(&pipe_, io.now_ns + 1000);
	}
	return heap_calls - before;
}

static __attribute__((noipa)) unsigned long probe_cache_hits(const char *name, int tag)
{
	return probe_run(name, tag, 0);
}

static __attribute__((noipa)) unsigned long probe_cache_hits_batched(const char *name, int tag)
{
	return probe_run(name, tag, 64);
}

static __attribute__((noipa)) unsigned long probe_cache_hits_logged(const char *name, int tag)
{
	return probe_run(name, tag, 64);
}

static __attribute__((noipa)) unsigned long probe_blocked_logged(const char *name, int tag)
{
	return probe_run(name, tag, 64);
}

static struct vg_qlog *probe_log(char *path)
{
	struct vg_qlog_opts o;
	struct vg_qlog *l = NULL;
	char err[256] = "";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	vg_qlog_opts_default(&o);
	snprintf(o.file, sizeof(o.file), "%s", path);
	ck_assert_msg(vg_qlog_start(&l, &o, 1, err, sizeof(err)) == 0, "%s", err);
	return l;
}

START_TEST(probe_costs)
{
	z_a("www.test.", "192.0.2.80", 300);
	int t = ask("www.test.", VG_T_A, 0);
	serve();
	answer_a(got(t), 0, "www.test.", "192.0.2.80", VG_T_A);
	uint64_t hits = pipe_.stats.cache_hits;
	t = next_tag++;
	ck_assert_uint_eq(probe_cache_hits("www.test.", t), 0);
	ck_assert_uint_eq(io.calls[t], PROBE_N);
	ck_assert_uint_eq(pipe_.stats.cache_hits, hits + PROBE_N);
	io.calls[t] = 1; /* (got() checks one answer: they are all the same) */
	answer_a(got(t), 0, "www.test.", "192.0.2.80", VG_T_A);
	t = next_tag++;
	ck_assert_uint_eq(probe_cache_hits_batched("www.test.", t), 0);
	ck_assert_uint_eq(io.calls[t], PROBE_N);
	ck_assert_uint_eq(pipe_.stats.cache_hits, hits + 2 * PROBE_N);

	char path[] = "/tmp/vg_test_probe_XXXXXX";
	struct vg_qlog *l = probe_log(path);
	pipe_.qlog = l;
	t = next_tag++;
	unsigned reads = io.now_ns_reads;
	ck_assert_uint_eq(probe_cache_hits_logged("www.test.", t), 0);
	ck_assert_uint_eq(io.now_ns_reads, reads); /* the log reads no clock of its own */
	ck_assert_uint_eq(io.calls[t], PROBE_N);
	ck_assert_uint_eq(pipe_.stats.cache_hits, hits + 3 * PROBE_N);

	adopt(block_policy());
	t = next_tag++;
	ck_assert_uint_eq(probe_blocked_logged("nx.test.", t), 0);
	ck_assert_uint_eq(io.calls[t], PROBE_N);
	io.calls[t] = 1;
	ck_assert_int_eq(rcode_of(got(t)), VG_RCODE_NXDOMAIN);
	pipe_.qlog = NULL;
	vg_qlog_stop(l);
	/* every held event was written, with its batch's send time (1 us) */
	FILE *f = fopen(path, "r");
	char line[2048];
	unsigned lines = 0, lat1 = 0;
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		lines++;
		lat1 += strstr(line, "\"latency_ms\":0.001,") != NULL;
	}
	fclose(f);
	ck_assert_uint_eq(lines, 2 * PROBE_N);
	ck_assert_uint_eq(lat1, 2 * PROBE_N);
	unlink(path);
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
	ck_assert_int_eq(vg_policy_check_flags(pol, &ca.u.sa, NULL, N("www.test."), true, false, &d),
			 0);
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


/* ================================================================ discovery */

/* Two endpoints as the daemon would fill them: DoT on 853 with both
 * families' hints, DoH on 443 with an IPv4 hint only. */
static void ddr_on(void)
{
	struct vg_ddr_opts *o = &sopts.ddr;
	memset(o, 0, sizeof(*o));
	o->enabled = true;
	ck_assert_int_gt(vg_name_from_str("dns.example.net.", o->target, sizeof(o->target)), 0);
	snprintf(o->dohpath, sizeof(o->dohpath), "/dns-query{?dns}");
	snprintf(o->ep[0].alpn, sizeof(o->ep[0].alpn), "dot");
	o->ep[0].port = 853;
	ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.53", o->ep[0].v4[0]), 1);
	ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.54", o->ep[0].v4[1]), 1);
	o->ep[0].n_v4 = 2;
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::53", o->ep[0].v6[0]), 1);
	o->ep[0].n_v6 = 1;
	snprintf(o->ep[1].alpn, sizeof(o->ep[1].alpn), "h2");
	o->ep[1].port = 443;
	o->ep[1].doh = true;
	ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.53", o->ep[1].v4[0]), 1);
	o->ep[1].n_v4 = 1;
	o->n_ep = 2;
	adopt(NULL);
}

/* One SvcParam of @p rd: its value (and length), or NULL; checks that the
 * keys ascend and every length is in bounds. */
static const uint8_t *svc_param(const uint8_t *rd, size_t len, uint16_t want, uint16_t *vlen)
{
	size_t off = 2;
	ck_assert_uint_ge(len, 3);
	while (off < len && rd[off]) /* TargetName, uncompressed */
		off += 1u + rd[off];
	ck_assert_uint_lt(off, len);
	off++;
	int last = -1;
	const uint8_t *found = NULL;
	while (off < len) {
		ck_assert_uint_le(off + 4, len);
		uint16_t key = vg_get16(rd + off), l = vg_get16(rd + off + 2);
		ck_assert_msg((int)key > last, "SvcParamKeys not in ascending order");
		last = key;
		ck_assert_uint_le(off + 4 + l, len);
		if (key == want) {
			found = rd + off + 4;
			*vlen = l;
		}
		off += 4u + l;
	}
	ck_assert_uint_eq(off, len);
	return found;
}

/* The SVCB RDATA, decoded here by hand: priority, target, alpn, port,
 * hints, dohpath. */
START_TEST(ddr_svcb_encoding)
{
	ddr_on();
	uint8_t rd[1024];
	uint16_t l;
	size_t n = vg_ddr_svcb_rdata(&sopts.ddr, 0, rd, sizeof(rd));
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_eq(vg_get16(rd), 1); /* ServiceMode, first */
	ck_assert(vg_name_eq(rd + 2, N("dns.example.net.")));
	const uint8_t *v = svc_param(rd, n, 1, &l);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(l, 4);
	ck_assert_mem_eq(v, "\x03" "dot", 4);
	v = svc_param(rd, n, 3, &l);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(l, 2);
	ck_assert_uint_eq(vg_get16(v), 853);
	v = svc_param(rd, n, 4, &l);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(l, 8);
	ck_assert_mem_eq(v, "\xc0\x00\x02\x35\xc0\x00\x02\x36", 8);
	v = svc_param(rd, n, 6, &l);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(l, 16);
	ck_assert_uint_eq(v[0], 0x20);
	ck_assert_uint_eq(v[15], 0x53);
	ck_assert_ptr_null(svc_param(rd, n, 7, &l)); /* no dohpath for DoT */
	/* the whole record, byte for byte */
	static const uint8_t want[] = {
		0, 1, 3, 'd', 'n', 's', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'n', 'e', 't', 0,
		0, 1, 0, 4, 3, 'd', 'o', 't',
		0, 3, 0, 2, 0x03, 0x55,
		0, 4, 0, 8, 192, 0, 2, 53, 192, 0, 2, 54,
		0, 6, 0, 16, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53,
	};
	ck_assert_uint_eq(n, sizeof(want));
	ck_assert_mem_eq(rd, want, sizeof(want));

	n = vg_ddr_svcb_rdata(&sopts.ddr, 1, rd, sizeof(rd));
	ck_assert_uint_eq(vg_get16(rd), 2);
	v = svc_param(rd, n, 1, &l);
	ck_assert_uint_eq(l, 3);
	ck_assert_mem_eq(v, "\x02h2", 3);
	ck_assert_uint_eq(vg_get16(svc_param(rd, n, 3, &l)), 443);
	ck_assert_ptr_null(svc_param(rd, n, 6, &l)); /* no IPv6 hint: no key */
	v = svc_param(rd, n, 7, &l);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(l, strlen("/dns-query{?dns}"));
	ck_assert_mem_eq(v, "/dns-query{?dns}", l);

	/* out of range, no target, no room: nothing */
	ck_assert_uint_eq(vg_ddr_svcb_rdata(&sopts.ddr, 2, rd, sizeof(rd)), 0);
	ck_assert_uint_eq(vg_ddr_svcb_rdata(&sopts.ddr, 0, rd, 20), 0);
	sopts.ddr.target[0] = 0;
	ck_assert_uint_eq(vg_ddr_svcb_rdata(&sopts.ddr, 0, rd, sizeof(rd)), 0);
}
END_TEST

/* _dns.resolver.arpa SVCB: answered by vigil (before the policy and the
 * cache, nothing upstream), one record per endpoint; other types and names
 * of resolver.arpa, and SVCB with nothing to announce: NODATA. */
START_TEST(ddr_answered_locally)
{
	ddr_on();
	/* a policy that would block everything in resolver.arpa does not apply */
	int b = (int)source("block", VG_PSRC_RPZ, "*.resolver.arpa CNAME .\nresolver.arpa CNAME .\n");
	group("everyone", "10.0.0.0/8", false, b, -1);
	load_policy();
	const struct vg_msg *m = got(ask("_dns.resolver.arpa.", VG_T_SVCB, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 2);
	uint8_t rd[1024];
	for (unsigned i = 0; i < 2; i++) {
		const struct vg_rr *rr = rr_at(m, VG_SEC_AN, i);
		ck_assert_uint_eq(rr->type, VG_T_SVCB);
		ck_assert(owner_is(m, rr, "_dns.resolver.arpa."));
		size_t n = vg_ddr_svcb_rdata(&sopts.ddr, i, rd, sizeof(rd));
		ck_assert_uint_eq(rr->rdlen, n);
		ck_assert_mem_eq(m->pkt + rr->rdata, rd, n);
	}
	no_ede(m);
	/* case does not matter; TCP too */
	m = got(ask("_DNS.Resolver.ARPA.", VG_T_SVCB, Q_TCP));
	ck_assert_uint_eq(m->ancount, 2);
	/* another type at the name, another name of the zone, the zone: NODATA
	 * with the zone's SOA */
	const char *names[] = { "_dns.resolver.arpa.", "foo.resolver.arpa.", "resolver.arpa." };
	const uint16_t types[] = { VG_T_A, VG_T_SVCB, VG_T_SVCB };
	for (unsigned i = 0; i < 3; i++) {
		m = got(ask(names[i], types[i], 0));
		ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
		ck_assert_uint_eq(m->ancount, 0);
		ck_assert_uint_eq(section_count(m, VG_SEC_NS), 1);
		const struct vg_rr *soa = rr_at(m, VG_SEC_NS, 0);
		ck_assert_uint_eq(soa->type, VG_T_SOA);
		ck_assert(owner_is(m, soa, "resolver.arpa."));
		no_ede(m);
	}
	/* ddr: no, or nothing to announce: NODATA too */
	sopts.ddr.enabled = false;
	m = got(ask("_dns.resolver.arpa.", VG_T_SVCB, 0));
	ck_assert_uint_eq(m->ancount, 0);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	sopts.ddr.enabled = true;
	sopts.ddr.n_ep = 0;
	m = got(ask("_dns.resolver.arpa.", VG_T_SVCB, 0));
	ck_assert_uint_eq(m->ancount, 0);
	ck_assert_uint_eq(io.nsent, 0); /* none of it went upstream */
	/* a name that only ends like the zone is not in it: resolved as usual */
	int t = ask("xresolver.arpa.", VG_T_A, 0);
	ck_assert_uint_eq(sent_for("xresolver.arpa."), 1);
	serve();
	got(t);
	/* a client the ACL refuses gets REFUSED, not the endpoints */
	client_ip = "10.9.0.1";
	ck_assert_int_eq(rcode_of(got(ask("_dns.resolver.arpa.", VG_T_SVCB, 0))),
			 VG_RCODE_REFUSED);
	all_answered_once();
}
END_TEST

/* use-application-dns.net: NXDOMAIN (EDE 15) when blocked, any type;
 * otherwise resolved like any name. */
START_TEST(doh_canary)
{
	int t = ask("use-application-dns.net.", VG_T_A, 0);
	ck_assert_uint_eq(sent_for("use-application-dns.net."), 1);
	serve();
	got(t);
	sopts.ddr.block_canary = true;
	unsigned before = io.nsent;
	const uint16_t types[] = { VG_T_A, VG_T_AAAA, VG_T_TXT };
	for (unsigned i = 0; i < 3; i++) {
		const struct vg_msg *m = got(ask("Use-Application-DNS.net.", types[i], 0));
		ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
		char text[300];
		ck_assert_uint_eq(ede_of(m, text, sizeof(text)), 15);
		ck_assert_str_eq(text, "vigil: discovery.block-doh-canary");
	}
	ck_assert_uint_eq(io.nsent, before);
	/* only the name itself */
	t = ask("x.use-application-dns.net.", VG_T_A, 0);
	ck_assert_uint_eq(sent_for("x.use-application-dns.net."), 1);
	serve();
	all_answered_once();
}
END_TEST

/* (d) discovery on, and a client with an identity (string work, no heap):
 * still no allocation on a cache hit, nor for a DDR answer. */
START_TEST(identity_and_discovery_allocate_nothing)
{
	ddr_on();
	sopts.ddr.block_canary = true;
	int b = (int)source("block", VG_PSRC_RPZ, block_rpz);
	group("everyone", "10.0.0.0/8", false, b, -1);
	group("laptops", "10.0.0.0/8", false, b, -1);
	struct vg_policy_group *g = &popts.groups[1];
	g->n_clients = 0;
	snprintf(g->ids[g->n_ids++], VG_POLICY_ID_MAX, "laptop7");
	snprintf(g->certs[g->n_certs++], VG_POLICY_CERT_MAX, "subject:CN=laptop7");
	load_policy();
	z_a("www.test.", "192.0.2.80", 300);
	int t = ask("www.test.", VG_T_A, 0);
	serve();
	answer_a(got(t), 0, "www.test.", "192.0.2.80", VG_T_A);
	uint8_t q[512];
	for (unsigned i = 0; i < 4; i++) {
		static const char *const names[] = { "www.test.", "nx.test.",
						     "_dns.resolver.arpa.",
						     "use-application-dns.net." };
		t = next_tag++;
		size_t len = make_query(q, sizeof(q), names[i], i == 2 ? VG_T_SVCB : VG_T_A,
					Q_TCP, t);
		struct vg_client c = client_for(t, Q_TCP);
		c.transport = VG_TRANSPORT_DOT;
		snprintf(c.id, sizeof(c.id), "laptop7");
		c.cert_subject = "CN=laptop7";
		unsigned long before = heap_calls;
		vg_pipe_query(&pipe_, q, len, &c);
		ck_assert_msg(heap_calls == before, "%s: %lu heap calls", names[i],
			      heap_calls - before);
		got(t);
	}
	ck_assert_uint_eq(io.nsent, 1);
}
END_TEST

/* ================================================================ overload */

/* The SERVFAIL of a shed or evicted query says why (EDE 0 with text). */
static void got_shed(int tag)
{
	char text[128];
	const struct vg_msg *m = got(tag);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_SERVFAIL);
	ck_assert_uint_eq(ede_of(m, text, sizeof(text)), 0);
	ck_assert_msg(strstr(text, "overloaded"), "EDE text '%s'", text);
}

static void overload_setup(unsigned max_requests, size_t memory)
{
	sopts.max_requests = max_requests;
	sopts.request_memory = memory;
	sopts.rl.v4_prefix = 32; /* clients are told apart by /32 (the config's default) */
	sopts.rl.v6_prefix = 56;
	adopt(NULL);
	char name[64];
	for (int i = 0; i < 16; i++) {
		snprintf(name, sizeof(name), "a%d.test.", i);
		z_a(name, "192.0.2.80", 300);
		snprintf(name, sizeof(name), "b%d.test.", i);
		z_a(name, "192.0.2.81", 300);
	}
	z_a("cached.test.", "192.0.2.82", 300);
	ask("cached.test.", VG_T_A, 0);
	ck_assert_uint_eq(serve(), 1);
}

/*
 * A full request table is shared out evenly: a client flooding it with cache
 * misses gives way to a newcomer (its oldest request is ended), is refused
 * once it holds its share, and cached answers never wait.  Shed and evicted
 * queries get SERVFAIL with a reason, are counted, and leave nothing in the
 * failure cache.
 */
START_TEST(overload_sheds_fairly)
{
	char name[64];
	int a[16], b[16];
	overload_setup(8, 0);
	client_ip = "10.0.0.1";
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "a%d.test.", i);
		a[i] = ask(name, VG_T_A, 0);
	}
	ck_assert_uint_eq(pipe_.inflight, 8);
	ck_assert_uint_eq(in_flight(), 8);
	/* full: a cache hit is still answered at once, for the flooding client too */
	ck_assert_int_eq(rcode_of(got(ask("cached.test.", VG_T_A, 0))), VG_RCODE_NOERROR);
	/* the flooding client holds all 8: its next miss is refused */
	int a8 = ask("a8.test.", VG_T_A, 0);
	got_shed(a8);
	ck_assert_uint_eq(pipe_.stats.shed, 1);
	ck_assert_uint_eq(in_flight(), 8);
	/* a newcomer gets places from it, its oldest first, until both hold 4 */
	client_ip = "10.0.0.2";
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "b%d.test.", i);
		b[i] = ask(name, VG_T_A, 0);
		not_answered(b[i]);
		got_shed(a[i]);
	}
	ck_assert_uint_eq(pipe_.stats.evicted, 4);
	ck_assert_uint_eq(pipe_.inflight, 8);
	ck_assert_uint_eq(io.ncancel, 4); /* the evicted requests' upstream queries */
	ck_assert_uint_eq(io.bad_cancel, 0);
	for (int i = 4; i < 8; i++)
		not_answered(a[i]);
	/* now each holds its share: the newcomer's next miss is refused too */
	b[4] = ask("b4.test.", VG_T_A, 0);
	got_shed(b[4]);
	ck_assert_uint_eq(pipe_.stats.shed, 2);
	/* a third client still gets a place: the oldest request of one of the
	 * two (a tie: which one depends on the table's random key) */
	client_ip = "10.0.0.3";
	int c0 = ask("b5.test.", VG_T_A, 0);
	not_answered(c0);
	ck_assert_uint_eq(pipe_.stats.evicted, 5);
	ck_assert_uint_eq(io.calls[a[4]] + io.calls[b[0]], 1);
	int gave_way = io.calls[a[4]] ? a[4] : b[0], kept = io.calls[a[4]] ? b[0] : a[4];
	got_shed(gave_way);
	/* everything left is answered */
	serve();
	all_answered_once();
	ck_assert_uint_eq(pipe_.inflight, 0);
	ck_assert_int_eq(rcode_of(got(c0)), VG_RCODE_NOERROR);
	ck_assert_int_eq(rcode_of(got(kept)), VG_RCODE_NOERROR);
	/* no failure was cached for what was shed: asked again, it resolves */
	unsigned before = sent_for("a0.test.");
	int again = ask("a0.test.", VG_T_A, 0);
	ck_assert_uint_eq(sent_for("a0.test."), before + 1);
	serve();
	ck_assert_int_eq(rcode_of(got(again)), VG_RCODE_NOERROR);
	ck_assert_uint_eq(pipe_.req_mem.used, 0);
}
END_TEST

/* The requests' memory budget sheds the same way as the table, and every
 * byte is given back. */
START_TEST(overload_memory_budget)
{
	char name[64];
	int a[8];
	overload_setup(1000, 0);
	ck_assert_uint_eq(pipe_.req_mem.used, 0);
	client_ip = "10.0.0.1";
	a[0] = ask("a0.test.", VG_T_A, 0);
	size_t one = pipe_.req_mem.used; /* what a request holds */
	ck_assert_uint_gt(one, 0);
	sopts.request_memory = 4 * one;
	adopt(NULL);
	for (int i = 1; i < 4; i++) {
		snprintf(name, sizeof(name), "a%d.test.", i);
		a[i] = ask(name, VG_T_A, 0);
	}
	ck_assert_uint_eq(pipe_.inflight, 4);
	got_shed(ask("a4.test.", VG_T_A, 0));
	client_ip = "10.0.0.2";
	int b0 = ask("b0.test.", VG_T_A, 0);
	not_answered(b0);
	got_shed(a[0]);
	ck_assert_uint_eq(pipe_.stats.shed, 1);
	ck_assert_uint_eq(pipe_.stats.evicted, 1);
	ck_assert_uint_le(pipe_.req_mem.used, 4 * one);
	serve();
	all_answered_once();
	ck_assert_int_eq(rcode_of(got(b0)), VG_RCODE_NOERROR);
	ck_assert_uint_eq(pipe_.req_mem.used, 0);
}
END_TEST


/* A stream transport hands the pipeline a connection's next buffered query
 * from inside the answer to its previous one (tcp.c: vg__conn_query_done ->
 * conn_frames -> vg_pipe_query).  @p tag's answer brings in a cache miss
 * from 10.0.0.3. */
static int reenter_on, reenter_tag;
static void reenter(int tag)
{
	static bool busy;
	if (tag != reenter_on || reenter_tag >= 0 || busy)
		return;
	busy = true;
	const char *saved = client_ip;
	client_ip = "10.0.0.3";
	reenter_tag = ask("b9.test.", VG_T_A, 0);
	client_ip = saved;
	busy = false;
}

/*
 * The tick expires b0 and, inside b0's answer, a newcomer finds the table
 * full: it would evict a0, the request the tick visits next (a use after
 * free before the fix).  Inside an answer nothing is evicted: the newcomer
 * is refused, the tick goes on to a0, and every query is answered once.
 */
START_TEST(overload_no_eviction_inside_tick)
{
	overload_setup(4, 0);
	reenter_tag = -1;
	client_ip = "10.0.0.1";
	int a0 = ask("a0.test.", VG_T_A, 0);
	client_ip = "10.0.0.2";
	int b0 = ask("b0.test.", VG_T_A, 0);
	io.now_ms += 1500;
	client_ip = "10.0.0.1";
	ask("a1.test.", VG_T_A, 0);
	ask("a2.test.", VG_T_A, 0);
	ck_assert_uint_eq(pipe_.inflight, 4);
	reenter_on = b0;
	answer_hook = reenter;
	io.now_ms += 600; /* a0 and b0 expire; the list is a2 a1 b0 a0 */
	vg_pipe_tick(&pipe_);
	answer_hook = NULL;
	ck_assert_int_ge(reenter_tag, 0);
	got_shed(reenter_tag);
	ck_assert_int_eq(rcode_of(got(a0)), VG_RCODE_SERVFAIL); /* timed out */
	ck_assert_int_eq(rcode_of(got(b0)), VG_RCODE_SERVFAIL);
	ck_assert_uint_eq(pipe_.stats.evicted, 0);
	ck_assert_uint_eq(pipe_.stats.shed, 1);
	ck_assert_uint_eq(pipe_.stats.timeouts, 2);
	serve();
	all_answered_once();
	ck_assert_uint_eq(pipe_.inflight, 0);
}
END_TEST

/* The request being answered would be the victim itself (a proxy's
 * connection carries another client's next query): answered once. */
START_TEST(overload_no_self_eviction)
{
	overload_setup(4, 0);
	reenter_tag = -1;
	client_ip = "10.0.0.1";
	int a0 = ask("a0.test.", VG_T_A, 0);
	io.now_ms += 1500;
	ask("a1.test.", VG_T_A, 0);
	ask("a2.test.", VG_T_A, 0);
	client_ip = "10.0.0.2";
	ask("b0.test.", VG_T_A, 0);
	ck_assert_uint_eq(pipe_.inflight, 4);
	reenter_on = a0;
	answer_hook = reenter;
	io.now_ms += 600; /* only a0 expires */
	vg_pipe_tick(&pipe_);
	answer_hook = NULL;
	answered_once(a0);
	got_shed(reenter_tag);
	ck_assert_uint_eq(pipe_.stats.evicted, 0);
	serve();
	all_answered_once();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pipeline");
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
	tcase_add_test(tc, overload_sheds_fairly);
	tcase_add_test(tc, overload_memory_budget);
	tcase_add_test(tc, overload_no_eviction_inside_tick);
	tcase_add_test(tc, overload_no_self_eviction);
	suite_add_tcase(s, tc);

	TCase *td = tcase_create("allocations");
	tcase_add_checked_fixture(td, setup, teardown);
	tcase_add_test(td, cache_hit_allocates_nothing);
	tcase_add_test(td, cache_hit_with_policy_allocates_nothing);
	tcase_add_test(td, cache_hit_with_query_log_allocates_nothing);
	tcase_add_test(td, validated_cache_hit_allocates_nothing);
	tcase_add_test(td, identity_and_discovery_allocate_nothing);
	tcase_add_test(td, probe_costs);
	tcase_add_test(td, latency_from_receive_to_send);
	tcase_add_test(td, latency_without_receive_time);
	suite_add_tcase(s, td);

	TCase *tf = tcase_create("discovery");
	tcase_add_checked_fixture(tf, setup, teardown);
	tcase_add_test(tf, ddr_svcb_encoding);
	tcase_add_test(tf, ddr_answered_locally);
	tcase_add_test(tf, doh_canary);
	suite_add_tcase(s, tf);

	return run_suite(s);
}
