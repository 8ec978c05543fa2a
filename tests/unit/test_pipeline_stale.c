/* SPDX-License-Identifier: MIT
 *
 * Serve-stale (RFC 8767) and prefetch, through the whole pipeline with fake
 * I/O and fake time (pipeline_fixture.h): what the client gets (TTL 30,
 * EDE 3 Stale Answer, or SERVFAIL), when (at once, at the client response
 * timer, after the resolution failed) and what goes upstream (counted at
 * the fake upstream).  The cache-hit path with both on still allocates
 * nothing.
 */
#include "pipeline_fixture.h"

#define TTL 60

/* Serve-stale on: stale data up to @p max_s seconds, client response timer
 * @p timer_ms (0: only when resolution fails). */
static void stale_on(uint32_t max_s, unsigned timer_ms)
{
	ropts.serve_stale = true;
	ropts.serve_stale_max = max_s;
	ropts.stale_answer_timeout_ms = timer_ms;
	vg_cache_set_stale(cache, max_s);
	adopt(NULL);
}

/* The authoritative servers are dead: every query in flight, and every
 * one it leads to, times out.  How many. */
static unsigned all_time_out(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < io.nsent; i++) {
		struct sent_q *s = &io.sent[i];
		if (s->replied || s->cancelled)
			continue;
		s->replied = true;
		n++;
		vg_pipe_reply(s->r, -ETIMEDOUT, NULL, 0, NULL);
	}
	return n;
}

static uint32_t first_ttl(const struct vg_msg *m)
{
	return rr_at(m, VG_SEC_AN, 0)->ttl;
}

static void is_stale(const struct vg_msg *m, const char *name, const char *ip)
{
	char text[300];
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	answer_a(m, 0, name, ip, VG_T_A);
	ck_assert_uint_eq(first_ttl(m), 30);
	ck_assert_uint_eq(ede_of(m, text, sizeof(text)), 3);
}

/* Cache @p name A @p ip (TTL 60) through a first query. */
static void cached(const char *name, const char *ip)
{
	z_a(name, ip, TTL);
	int t = ask(name, VG_T_A, 0);
	serve();
	answer_a(got(t), 0, name, ip, VG_T_A);
}

/* ================================================================ serve-stale */

START_TEST(stale_when_servers_dead)
{
	stale_on(86400, 1800);
	cached("st.test.", "192.0.2.1");
	io.now_ms += (TTL + 100) * 1000; /* expired 100 s ago */
	unsigned before = io.nsent;
	int t = ask("st.test.", VG_T_A, 0);
	not_answered(t);                  /* a normal resolution first */
	ck_assert_uint_gt(io.nsent, before);
	while (all_time_out())
		;
	is_stale(got(t), "st.test.", "192.0.2.1");
	ck_assert_uint_eq(pipe_.stats.stale_answers, 1);
	ck_assert_uint_eq(pipe_.stats.servfail, 0);
	ck_assert_uint_eq(pipe_.inflight, 0);
	/* its refresh failed a moment ago: the next query is answered stale at
	 * once, nothing goes upstream (RFC 8767 4, servfail-ttl) */
	before = io.nsent;
	io.now_ms += 1000;
	is_stale(got(ask("st.test.", VG_T_A, 0)), "st.test.", "192.0.2.1");
	ck_assert_uint_eq(io.nsent, before);
	ck_assert_uint_eq(pipe_.stats.stale_answers, 2);
	/* after servfail-ttl (5 s) it is tried again, and refreshed when the
	 * servers are back */
	io.now_ms += 5000;
	zrecs[0].rd[3] = 2; /* 192.0.2.2 */
	t = ask("st.test.", VG_T_A, 0);
	not_answered(t);
	ck_assert_uint_gt(io.nsent, before);
	serve();
	const struct vg_msg *m = got(t);
	answer_a(m, 0, "st.test.", "192.0.2.2", VG_T_A);
	ck_assert_uint_eq(first_ttl(m), TTL);
	no_ede(m);
	all_answered_once();
}
END_TEST

/* A stale NXDOMAIN is served too (RFC 8767 4: negative answers). */
START_TEST(stale_nxdomain)
{
	stale_on(86400, 1800);
	int t = ask("gone.test.", VG_T_A, 0);
	serve();
	ck_assert_int_eq(rcode_of(got(t)), VG_RCODE_NXDOMAIN);
	io.now_ms += 400 * 1000; /* the SOA's 300 s passed */
	t = ask("gone.test.", VG_T_A, 0);
	not_answered(t);
	while (all_time_out())
		;
	const struct vg_msg *m = got(t);
	char text[300];
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	ck_assert_uint_eq(ede_of(m, text, sizeof(text)), 3);
	ck_assert_uint_eq(rr_at(m, VG_SEC_NS, 0)->ttl, 30);
	/* the failure cached for (name, A) does not hide the stale NXDOMAIN:
	 * the next query has it at once, nothing upstream */
	unsigned before = io.nsent;
	io.now_ms += 1000;
	m = got(ask("gone.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	ck_assert_uint_eq(ede_of(m, text, sizeof(text)), 3);
	ck_assert_uint_eq(io.nsent, before);
	ck_assert_uint_eq(pipe_.stats.stale_answers, 2);
	all_answered_once();
}
END_TEST

START_TEST(no_stale_past_max)
{
	stale_on(100, 1800);
	cached("old.test.", "192.0.2.3");
	io.now_ms += (TTL + 101) * 1000; /* 101 s past expiry, the limit is 100 */
	int t = ask("old.test.", VG_T_A, 0);
	io.now_ms += 1900;
	vg_pipe_tick(&pipe_); /* (the timer finds nothing stale either) */
	not_answered(t);
	while (all_time_out())
		;
	/* the resolution's own failure (the servers did not answer: EDE 22),
	 * counted as one, not the failure it cached a moment before read back
	 * as a cached error (EDE 13) */
	char text[256];
	ck_assert_int_eq(rcode_of(got(t)), VG_RCODE_SERVFAIL);
	ck_assert_uint_eq(ede_of(got(t), text, sizeof(text)), VG_EDE_NO_REACHABLE_AUTHORITY);
	ck_assert_uint_eq(pipe_.stats.servfail, 1);
	ck_assert_uint_eq(pipe_.stats.stale_answers, 0);
	all_answered_once();
}
END_TEST

START_TEST(no_stale_when_off)
{
	cached("off.test.", "192.0.2.4");
	io.now_ms += (TTL + 10) * 1000;
	int t = ask("off.test.", VG_T_A, 0);
	io.now_ms += 1900;
	vg_pipe_tick(&pipe_);
	not_answered(t);
	while (all_time_out())
		;
	ck_assert_int_eq(rcode_of(got(t)), VG_RCODE_SERVFAIL);
	ck_assert_uint_eq(pipe_.stats.stale_answers, 0);
	all_answered_once();
}
END_TEST

/* The client response timer fires while the servers are silent: the client
 * gets the stale answer then; the late answer still refreshes the cache. */
START_TEST(timer_then_late_refresh)
{
	stale_on(86400, 1800);
	cached("slow.test.", "192.0.2.5");
	io.now_ms += (TTL + 30) * 1000;
	unsigned before = io.nsent;
	int t = ask("slow.test.", VG_T_A, 0);
	ck_assert_uint_eq(in_flight(), 1);
	io.now_ms += 1799;
	vg_pipe_tick(&pipe_);
	not_answered(t);
	io.now_ms += 1;
	vg_pipe_tick(&pipe_);
	is_stale(got(t), "slow.test.", "192.0.2.5");
	ck_assert_uint_eq(pipe_.stats.stale_answers, 1);
	/* the resolution goes on: its query is still in flight, not cancelled */
	ck_assert_uint_eq(in_flight(), 1);
	ck_assert_uint_eq(io.ncancel, 0);
	zrecs[0].rd[3] = 6; /* the server now says 192.0.2.6 */
	serve();
	ck_assert_uint_eq(io.calls[t], 1); /* answered once, not again */
	ck_assert_uint_eq(pipe_.inflight, 0);
	unsigned asked = io.nsent;
	ck_assert_uint_gt(asked, before);
	const struct vg_msg *m = got(ask("slow.test.", VG_T_A, 0));
	answer_a(m, 0, "slow.test.", "192.0.2.6", VG_T_A);
	ck_assert_uint_eq(first_ttl(m), TTL);
	no_ede(m);
	ck_assert_uint_eq(io.nsent, asked); /* from the cache */
	all_answered_once();
}
END_TEST

/* With the timer off, stale data is used only when resolution fails. */
START_TEST(timer_off_waits_for_failure)
{
	stale_on(86400, 0);
	cached("wait.test.", "192.0.2.7");
	io.now_ms += (TTL + 30) * 1000;
	int t = ask("wait.test.", VG_T_A, 0);
	io.now_ms += 1900;
	vg_pipe_tick(&pipe_);
	not_answered(t);
	while (all_time_out())
		;
	is_stale(got(t), "wait.test.", "192.0.2.7");
	all_answered_once();
}
END_TEST

/* Bogus data is never served stale. */
START_TEST(bogus_never_stale)
{
	stale_on(86400, 1800);
	cached("bad.test.", "192.0.2.8");
	vg_cache_set_sec(cache, N("bad.test."), VG_T_A, VG_SEC_BOGUS, 6, 1,
			 vg_time_s_of_ms(io.now_ms));
	io.now_ms += (TTL + 30) * 1000;
	int t = ask("bad.test.", VG_T_A, 0);
	while (all_time_out())
		;
	ck_assert_int_eq(rcode_of(got(t)), VG_RCODE_SERVFAIL);
	ck_assert_uint_eq(pipe_.stats.stale_answers, 0);
}
END_TEST

/* ================================================================ prefetch */

static void prefetch_on(void)
{
	ropts.prefetch = true;
	adopt(NULL);
}

START_TEST(prefetch_near_expiry)
{
	prefetch_on();
	z_a("pf.test.", "192.0.2.9", 100);
	int t = ask("pf.test.", VG_T_A, 0);
	serve();
	got(t);
	unsigned before = io.nsent;
	io.now_ms += 89 * 1000; /* 11 s of 100 left: no prefetch yet */
	ck_assert_uint_eq(first_ttl(got(ask("pf.test.", VG_T_A, 0))), 11);
	ck_assert_uint_eq(io.nsent, before);
	io.now_ms += 2 * 1000;  /* 9 s left: under a tenth */
	t = ask("pf.test.", VG_T_A, 0);
	/* the client has the cached answer at once ... */
	const struct vg_msg *m = got(t);
	answer_a(m, 0, "pf.test.", "192.0.2.9", VG_T_A);
	ck_assert_uint_eq(first_ttl(m), 9);
	/* ... and exactly one refresh went upstream */
	ck_assert_uint_eq(io.nsent, before + 1);
	ck_assert_uint_eq(sent_for("pf.test."), 2);
	ck_assert_uint_eq(pipe_.stats.prefetches, 1);
	got(ask("pf.test.", VG_T_A, 0)); /* asked again meanwhile: no second refresh */
	ck_assert_uint_eq(io.nsent, before + 1);
	zrecs[0].rd[3] = 10;
	serve();
	ck_assert_uint_eq(pipe_.inflight, 0);
	m = got(ask("pf.test.", VG_T_A, 0));
	answer_a(m, 0, "pf.test.", "192.0.2.10", VG_T_A);
	ck_assert_uint_eq(first_ttl(m), 100);
	ck_assert_uint_eq(io.nsent, before + 1);
	ck_assert_uint_eq(pipe_.stats.prefetches, 1);
	all_answered_once();
}
END_TEST

START_TEST(no_prefetch_when_off)
{
	z_a("npf.test.", "192.0.2.11", 100);
	int t = ask("npf.test.", VG_T_A, 0);
	serve();
	got(t);
	io.now_ms += 95 * 1000;
	got(ask("npf.test.", VG_T_A, 0));
	ck_assert_uint_eq(io.nsent, 1);
	ck_assert_uint_eq(pipe_.stats.prefetches, 0);
}
END_TEST

/* Prefetch never crowds out clients: not while the worker is half full. */
START_TEST(no_prefetch_when_busy)
{
	prefetch_on();
	sopts.max_requests = 4;
	adopt(NULL);
	z_a("busy.test.", "192.0.2.12", 100);
	int t = ask("busy.test.", VG_T_A, 0);
	serve();
	got(t);
	ask("w1.test.", VG_T_A, 0);
	ask("w2.test.", VG_T_A, 0); /* two of four in flight */
	unsigned before = io.nsent;
	io.now_ms += 95 * 1000;
	got(ask("busy.test.", VG_T_A, 0));
	ck_assert_uint_eq(io.nsent, before);
	ck_assert_uint_eq(pipe_.stats.prefetches, 0);
	serve();
}
END_TEST

/* ================================================================ allocations */

START_TEST(cache_hit_allocates_nothing_with_stale_and_prefetch)
{
	stale_on(86400, 1800);
	prefetch_on();
	z_a("www.test.", "192.0.2.80", 300);
	int t = ask("www.test.", VG_T_A, 0);
	serve();
	got(t);
	for (unsigned i = 0; i < 3; i++) {
		uint8_t q[512];
		t = next_tag++;
		size_t len = make_query(q, sizeof(q), "www.test.", VG_T_A, 0, t);
		struct vg_client c = client_for(t, 0);
		unsigned long before = heap_calls;
		vg_pipe_query(&pipe_, q, len, &c);
		ck_assert_uint_eq(heap_calls - before, 0);
		answer_a(got(t), 0, "www.test.", "192.0.2.80", VG_T_A);
	}
	ck_assert_uint_eq(io.nsent, 1);
}
END_TEST

/* A stale answer given at once (its refresh failed a moment ago) is a cache
 * hit too: nothing allocated, nothing sent upstream. */
START_TEST(stale_answer_at_once_allocates_nothing)
{
	stale_on(86400, 1800);
	cached("st.test.", "192.0.2.1");
	io.now_ms += (TTL + 100) * 1000;
	int t = ask("st.test.", VG_T_A, 0);
	while (all_time_out())
		;
	is_stale(got(t), "st.test.", "192.0.2.1");
	unsigned sent = io.nsent;
	for (unsigned i = 0; i < 3; i++) {
		uint8_t q[512];
		io.now_ms += 500;
		t = next_tag++;
		size_t len = make_query(q, sizeof(q), "st.test.", VG_T_A, 0, t);
		struct vg_client c = client_for(t, 0);
		unsigned long before = heap_calls;
		vg_pipe_query(&pipe_, q, len, &c);
		ck_assert_uint_eq(heap_calls - before, 0);
		is_stale(got(t), "st.test.", "192.0.2.1");
	}
	ck_assert_uint_eq(io.nsent, sent);
	ck_assert_uint_eq(pipe_.stats.stale_answers, 4);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pipeline_stale");
	TCase *tc = tcase_create("serve-stale");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, stale_when_servers_dead);
	tcase_add_test(tc, stale_nxdomain);
	tcase_add_test(tc, no_stale_past_max);
	tcase_add_test(tc, no_stale_when_off);
	tcase_add_test(tc, timer_then_late_refresh);
	tcase_add_test(tc, timer_off_waits_for_failure);
	tcase_add_test(tc, bogus_never_stale);
	suite_add_tcase(s, tc);

	TCase *tp = tcase_create("prefetch");
	tcase_add_checked_fixture(tp, setup, teardown);
	tcase_add_test(tp, prefetch_near_expiry);
	tcase_add_test(tp, no_prefetch_when_off);
	tcase_add_test(tp, no_prefetch_when_busy);
	tcase_add_test(tp, cache_hit_allocates_nothing_with_stale_and_prefetch);
	tcase_add_test(tp, stale_answer_at_once_allocates_nothing);
	suite_add_tcase(s, tp);
	return run_suite(s);
}
