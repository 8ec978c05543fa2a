/* SPDX-License-Identifier: MIT
 *
 * The query log's parts (src/qlog, src/core/ring.c): the ring's records and
 * drop counting, JSON escaping and lines, address truncation and keyed
 * pseudonyms (and their key rotation), 1-in-N sampling, and the dnstap
 * encoding decoded back with the generated protobuf-c code.
 */
#include <arpa/inet.h>
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "check_main.h"
#include "core/ring.h"
#include "dnstap.pb-c.h"
#include "qlog/impl.h"
#include "vigil/wire.h"

static struct sockaddr_in v4(const char *a, uint16_t port)
{
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, a, &s.sin_addr);
	return s;
}

static struct sockaddr_in6 v6(const char *a)
{
	struct sockaddr_in6 s = { .sin6_family = AF_INET6, .sin6_port = htons(53) };
	inet_pton(AF_INET6, a, &s.sin6_addr);
	return s;
}

/* ------------------------------------------------------------ the ring */

START_TEST(ring_records_in_order_and_drops_counted)
{
	struct vg_ring *r = vg_ring_new(4096);
	ck_assert_ptr_nonnull(r);
	size_t len;
	ck_assert_ptr_null(vg_ring_peek(r, &len));
	/* records of 94..100 bytes: 8 + 96..104 bytes each, about 40 fit in 4096 */
	unsigned put = 0;
	for (unsigned i = 0; i < 50; i++) {
		uint8_t *p = vg_ring_reserve(r, 100);
		if (!p)
			continue;
		memset(p, (int)i, 100);
		vg_ring_commit(r, 100 - i % 7);
		put++;
	}
	ck_assert_uint_eq(put + vg_ring_dropped(r), 50);
	ck_assert_uint_gt(vg_ring_dropped(r), 0);
	/* read back in order, with the committed lengths */
	for (unsigned i = 0; i < put; i++) {
		const uint8_t *p = vg_ring_peek(r, &len);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq(len, 100 - i % 7);
		ck_assert_uint_eq(p[0], i);
		vg_ring_release(r);
	}
	ck_assert_ptr_null(vg_ring_peek(r, &len));
	/* wrapping around the end many times: nothing lost when drained */
	uint64_t dropped = vg_ring_dropped(r);
	for (unsigned i = 0; i < 1000; i++) {
		uint8_t *p = vg_ring_reserve(r, 1 + (i * 37) % 900);
		ck_assert_ptr_nonnull(p);
		p[0] = (uint8_t)i;
		vg_ring_commit(r, 1 + (i * 37) % 900);
		const uint8_t *q = vg_ring_peek(r, &len);
		ck_assert_ptr_nonnull(q);
		ck_assert_uint_eq(q[0], (uint8_t)i);
		ck_assert_uint_eq(len, 1 + (i * 37) % 900);
		vg_ring_release(r);
	}
	ck_assert_uint_eq(vg_ring_dropped(r), dropped);
	/* too large for the ring at all: a drop */
	ck_assert_ptr_null(vg_ring_reserve(r, 4096));
	ck_assert_uint_eq(vg_ring_dropped(r), dropped + 1);
	vg_ring_free(r);
}
END_TEST


/* One producer and one consumer thread at once (the way the workers and the
 * writer use it): every record that was not counted dropped comes out whole
 * and in order, across many wrap-arounds (run it under TSan as well). */
struct ring_run {
	struct vg_ring *r;
	unsigned n;
};

/*
 * A thread that finds the ring full (producer) or empty (consumer) waits for
 * the other: it spins a little, then sleeps.  With both threads on one CPU (a
 * loaded machine) a bare spin lasts the whole time slice each time, and the
 * test outlasts its timeout (it did, in the ASan and TSan builds).
 */
static void ring_wait(unsigned spins)
{
	if (spins < 64)
		sched_yield();
	else
		usleep(50);
}

static void *ring_producer(void *arg)
{
	struct ring_run *rr = arg;
	for (unsigned i = 0; i < rr->n; i++) {
		size_t len = 8 + (i * 131u) % 700;
		uint8_t *p;
		/* (counted dropped; try again so the sequence has no gaps) */
		for (unsigned spins = 0; !(p = vg_ring_reserve(rr->r, len)); spins++)
			ring_wait(spins);
		memcpy(p, &i, sizeof(i));
		memset(p + sizeof(i), (int)(i & 0xff), len - sizeof(i));
		vg_ring_commit(rr->r, len);
	}
	return NULL;
}

START_TEST(ring_threads)
{
	struct ring_run rr = { vg_ring_new(4096), 20000 };
	pthread_t t;
	ck_assert_ptr_nonnull(rr.r);
	ck_assert_int_eq(pthread_create(&t, NULL, ring_producer, &rr), 0);
	unsigned spins = 0;
	for (unsigned i = 0; i < rr.n;) {
		size_t len;
		const uint8_t *p = vg_ring_peek(rr.r, &len);
		if (!p) {
			ring_wait(spins++);
			continue;
		}
		spins = 0;
		unsigned seq;
		memcpy(&seq, p, sizeof(seq));
		ck_assert_uint_eq(seq, i);
		ck_assert_uint_eq(len, 8 + (i * 131u) % 700);
		for (size_t k = sizeof(seq); k < len; k++)
			if (p[k] != (uint8_t)(i & 0xff))
				ck_abort_msg("record %u torn at byte %zu", i, k);
		vg_ring_release(rr.r);
		i++;
	}
	pthread_join(t, NULL);
	size_t len;
	ck_assert_ptr_null(vg_ring_peek(rr.r, &len));
	vg_ring_free(rr.r);
}
END_TEST

/* ------------------------------------------------------------ JSON */

START_TEST(json_escaping)
{
	char o[64];
	const char in[] = "a\"b\\c\x01\x7f\xff/";
	size_t n = vg__qlog_json_str(o, sizeof(o), in, sizeof(in) - 1);
	ck_assert_str_eq(o, "a\\\"b\\\\c\\u0001\\u007f\\u00ff/");
	ck_assert_uint_eq(n, strlen(o));
	/* cut at a whole escape, always terminated */
	n = vg__qlog_json_str(o, 6, "ab\x01", 3);
	ck_assert_str_eq(o, "ab");
	ck_assert_uint_eq(n, 2);
}
END_TEST

/* A client record of a query and answer, in @p buf. */
static size_t client_rec(uint8_t *buf, size_t cap, const char *name, const uint8_t *ans,
			 size_t alen, const char *action)
{
	struct vg__qlog_rec *h = (struct vg__qlog_rec *)buf;
	uint8_t qn[VG_NAME_MAX], q[512];
	ck_assert_int_gt(vg_name_from_str(name, qn, sizeof(qn)), 0);
	int ql = vg_wire_make_query(q, sizeof(q), 7, qn, VG_T_A, true, 1232, false);
	ck_assert_int_gt(ql, 0);
	memset(h, 0, sizeof(*h));
	h->kind = REC_CLIENT;
	h->transport = VG_QLOG_T_DOT;
	h->sec = 2;
	h->flags = REC_F_CACHE | REC_F_JSON;
	h->qlen = (uint16_t)ql;
	h->rlen = (uint16_t)alen;
	struct sockaddr_in a = v4("192.0.2.77", 5353);
	memcpy(&h->addr.u.in4, &a, sizeof(a));
	h->addr.len = sizeof(a);
	h->tq = 1700000000LL * 1000000000 + 123456789;
	h->tr = h->tq + 2500000; /* 2.5 ms */
	uint8_t *p = (uint8_t *)(h + 1);
	memcpy(p, q, (size_t)ql);
	p += ql;
	memcpy(p, ans, alen);
	p += alen;
	memcpy(p, "laptop7", 7);
	h->id_len = 7;
	p += 7;
	if (action) {
		h->act_len = (uint8_t)strlen(action);
		memcpy(p, action, h->act_len);
		p += h->act_len;
		memcpy(p, "blocklist", 9);
		h->src_len = 9;
		p += 9;
		memcpy(p, "bad.example", 11);
		h->rule_len = 11;
		p += 11;
	}
	ck_assert_uint_le((size_t)(p - buf), cap);
	return (size_t)(p - buf);
}

/* An answer: bad.example. A 192.0.2.1, rcode @p rc. */
static size_t answer(uint8_t *buf, const char *name, int rc)
{
	uint8_t qn[VG_NAME_MAX];
	vg_name_from_str(name, qn, sizeof(qn));
	struct vg_pkt pk;
	vg_pkt_init(&pk, buf, 512, 7, VG_F_QR | VG_F_RD | VG_F_RA);
	vg_pkt_set_rcode(&pk, rc);
	vg_pkt_put_question(&pk, qn, VG_T_A, VG_C_IN);
	vg_pkt_begin(&pk, VG_SEC_AN);
	uint8_t a[4] = { 192, 0, 2, 1 };
	if (!rc)
		vg_pkt_put_rr(&pk, qn, VG_T_A, VG_C_IN, 60, a, 4);
	return vg_pkt_finish(&pk);
}

START_TEST(json_line_fields)
{
	uint8_t rec[2048], ans[512];
	char line[4096];
	struct vg__qlog_view v;
	struct vg_qlog_opts o;
	struct vg__qlog_priv pv;
	vg_qlog_opts_default(&o);
	vg__qlog_priv_init(&pv, &o);
	size_t al = answer(ans, "www.example", 0);
	size_t rl = client_rec(rec, sizeof(rec), "www.example", ans, al, NULL);
	ck_assert(vg__qlog_view(rec, rl, &v));
	ck_assert(!vg__qlog_view(rec, rl - 1, &v)); /* short: refused */
	ck_assert(vg__qlog_view(rec, rl, &v));
	size_t n = vg__qlog_json_line(&v, &pv, 0, line, sizeof(line));
	ck_assert_uint_gt(n, 0);
	ck_assert_str_eq(line, "{\"time\":\"2023-11-14T22:13:20.123Z\",\"client\":\"192.0.2.77\","
			       "\"port\":5353,\"transport\":\"dot\",\"identity\":{\"id\":\"laptop7\"},"
			       "\"name\":\"www.example.\",\"type\":\"A\",\"rcode\":\"NOERROR\","
			       "\"answer\":[\"A 192.0.2.1\"],\"validation\":\"secure\","
			       "\"latency_ms\":2.500,\"cache_hit\":true}");
	/* a policy decision, selected fields only */
	al = answer(ans, "bad.example", 3);
	rl = client_rec(rec, sizeof(rec), "bad.example", ans, al, "nxdomain");
	ck_assert(vg__qlog_view(rec, rl, &v));
	n = vg__qlog_json_line(&v, &pv, (1u << VG_QF_NAME) | (1u << VG_QF_RCODE) |
					(1u << VG_QF_POLICY), line, sizeof(line));
	ck_assert_str_eq(line, "{\"name\":\"bad.example.\",\"rcode\":\"NXDOMAIN\",\"policy\":"
			       "{\"action\":\"nxdomain\",\"source\":\"blocklist\",\"rule\":"
			       "\"bad.example\"}}");
	/* a line that does not fit: none at all rather than a cut one */
	ck_assert_uint_eq(vg__qlog_json_line(&v, &pv, 0, line, 40), 0);
	/* fields by name */
	ck_assert_int_eq(vg_qlog_field_parse("latency_ms"), VG_QF_LATENCY);
	ck_assert_int_lt(vg_qlog_field_parse("latency"), 0);
	ck_assert_str_eq(vg_qlog_field_name(VG_QF_CACHE), "cache_hit");
}
END_TEST

/* ------------------------------------------------------------ privacy */

START_TEST(truncation)
{
	struct vg_qlog_opts o;
	struct vg__qlog_priv pv;
	char s[64];
	vg_qlog_opts_default(&o);
	o.addr_mode = VG_QLOG_ADDR_TRUNCATE;
	vg__qlog_priv_init(&pv, &o);
	struct sockaddr_in a = v4("192.0.2.77", 1);
	struct sockaddr_in6 b = v6("2001:db8:1234:5678:9abc::1");
	struct sockaddr_in6 m = v6("::ffff:198.51.100.200");
	vg__qlog_priv_str(&pv, (struct sockaddr *)&a, 0, s, sizeof(s));
	ck_assert_str_eq(s, "192.0.2.0");
	vg__qlog_priv_str(&pv, (struct sockaddr *)&b, 0, s, sizeof(s));
	ck_assert_str_eq(s, "2001:db8:1234:5600::");
	vg__qlog_priv_str(&pv, (struct sockaddr *)&m, 0, s, sizeof(s));
	ck_assert_str_eq(s, "198.51.100.0"); /* a mapped address as the IPv4 one */
	o.v4_prefix = 13;
	o.v6_prefix = 0;
	vg__qlog_priv_init(&pv, &o);
	vg__qlog_priv_str(&pv, (struct sockaddr *)&a, 0, s, sizeof(s));
	ck_assert_str_eq(s, "192.0.0.0");
	vg__qlog_priv_str(&pv, (struct sockaddr *)&b, 0, s, sizeof(s));
	ck_assert_str_eq(s, "::");
	o.addr_mode = VG_QLOG_ADDR_FULL;
	vg__qlog_priv_init(&pv, &o);
	vg__qlog_priv_str(&pv, (struct sockaddr *)&a, 0, s, sizeof(s));
	ck_assert_str_eq(s, "192.0.2.77");
}
END_TEST

START_TEST(pseudonyms_per_key_period)
{
	struct vg_qlog_opts o;
	struct vg__qlog_priv pv;
	char a1[32], a2[32], b1[32], a3[32];
	vg_qlog_opts_default(&o);
	o.addr_mode = VG_QLOG_ADDR_PSEUDONYM;
	o.pseudonym_rotate_s = 3600;
	vg__qlog_priv_init(&pv, &o);
	struct sockaddr_in a = v4("192.0.2.77", 1), a_port = v4("192.0.2.77", 2);
	struct sockaddr_in b = v4("192.0.2.78", 1);
	int64_t t = 1700000000 / 3600 * 3600; /* the start of a period */
	vg__qlog_priv_str(&pv, (struct sockaddr *)&a, t, a1, sizeof(a1));
	vg__qlog_priv_str(&pv, (struct sockaddr *)&a_port, t + 3599, a2, sizeof(a2));
	vg__qlog_priv_str(&pv, (struct sockaddr *)&b, t + 10, b1, sizeof(b1));
	ck_assert_uint_eq(strlen(a1), 16);
	ck_assert_str_eq(a1, a2);            /* same address, same period: the same */
	ck_assert_str_ne(a1, b1);            /* another address: another one */
	ck_assert(!strstr(a1, "192"));
	vg__qlog_priv_str(&pv, (struct sockaddr *)&a, t + 3600, a3, sizeof(a3));
	ck_assert_str_ne(a1, a3);            /* the next period: a new key */
	/* the dnstap form: address-sized bytes, not the address */
	uint8_t out[16];
	ck_assert_int_eq(vg__qlog_priv_addr(&pv, (struct sockaddr *)&a, t + 3600, out), AF_INET);
	ck_assert(memcmp(out, "\xc0\x00\x02\x4d", 4) != 0);
	/* an IPv4 pseudonym's 16 hex digits are 8 bytes of the hash, all of
	 * them: nothing from the caller's buffer (the stack) shows through */
	uint8_t o1[16], o2[16];
	memset(o1, 0xaa, sizeof(o1));
	memset(o2, 0x55, sizeof(o2));
	vg__qlog_priv_addr(&pv, (struct sockaddr *)&a, t + 3600, o1);
	vg__qlog_priv_addr(&pv, (struct sockaddr *)&a, t + 3600, o2);
	ck_assert(memcmp(o1, o2, 8) == 0);
	/* a second logger has its own random key */
	struct vg__qlog_priv pv2;
	vg__qlog_priv_init(&pv2, &o);
	vg__qlog_priv_str(&pv2, (struct sockaddr *)&a, t, a2, sizeof(a2));
	ck_assert_str_ne(a1, a2);
	/* the writer drains the workers' rings in turn: an event of the past
	 * period can come after one of the new; it does not bring a new key,
	 * so the new period's pseudonyms stay the same */
	char late[32], a4[32];
	vg__qlog_priv_str(&pv, (struct sockaddr *)&b, t + 3599, late, sizeof(late));
	vg__qlog_priv_str(&pv, (struct sockaddr *)&a, t + 3601, a4, sizeof(a4));
	ck_assert_str_eq(a3, a4);
	ck_assert_str_ne(late, b1);          /* (the old key is gone all the same) */
}
END_TEST

/* ------------------------------------------------------------ sampling, drops */

static size_t file_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	size_t n = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n;
}

static void wait_handled(struct vg_qlog *l, uint64_t n)
{
	for (unsigned i = 0; i < 500 && vg_qlog_handled(l) < n; i++)
		usleep(10000);
	ck_assert_uint_ge(vg_qlog_handled(l), n);
}

START_TEST(sampling_one_in_n)
{
	struct vg_qlog_opts o;
	struct vg_qlog *l;
	char path[] = "/tmp/vg_test_qlog_XXXXXX", err[256];
	uint8_t ans[512], q[512], qn[VG_NAME_MAX];
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	vg_qlog_opts_default(&o);
	snprintf(o.file, sizeof(o.file), "%s", path);
	o.sample = 10;
	ck_assert_int_eq(vg_qlog_start(&l, &o, 2, err, sizeof(err)), 0);
	vg_name_from_str("www.example", qn, sizeof(qn));
	int ql = vg_wire_make_query(q, sizeof(q), 7, qn, VG_T_A, true, 1232, false);
	size_t al = answer(ans, "www.example", 0);
	struct sockaddr_in a = v4("192.0.2.1", 1000);
	struct vg_qlog_client e = { .addr = (struct sockaddr *)&a, .transport = VG_QLOG_T_UDP,
				    .query = q, .qlen = (size_t)ql, .resp = ans, .rlen = al };
	/* 100 queries on each of two workers: 1 in 10 of each is written */
	for (unsigned i = 0; i < 200; i++)
		ck_assert(vg_qlog_client(l, i % 2, &e));
	wait_handled(l, 20);
	vg_qlog_stop(l);
	ck_assert_uint_eq(file_lines(path), 20);
	unlink(path);
}
END_TEST

START_TEST(full_ring_counts_drops)
{
	struct vg_qlog_opts o;
	struct vg_qlog *l;
	char path[] = "/tmp/vg_test_qlog_XXXXXX", err[256];
	uint8_t big[60000] = { 0 };
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	vg_qlog_opts_default(&o);
	snprintf(o.file, sizeof(o.file), "%s", path);
	o.ring_kib = 64; /* a 64 KiB ring: one 60 kB event fits, the next waits */
	ck_assert_int_eq(vg_qlog_start(&l, &o, 1, err, sizeof(err)), 0);
	struct sockaddr_in a = v4("192.0.2.1", 1000);
	struct vg_qlog_client e = { .addr = (struct sockaddr *)&a, .query = big, .qlen = 20000,
				    .resp = big, .rlen = 10000 };
	unsigned ok = 0, dropped = 0;
	for (unsigned i = 0; i < 200; i++)
		if (vg_qlog_client(l, 0, &e))
			ok++;
		else
			dropped++;
	ck_assert_uint_eq(vg_qlog_dropped(l), dropped);
	wait_handled(l, ok);
	vg_qlog_stop(l);
	ck_assert_uint_eq(file_lines(path), ok); /* what was not dropped was written */
	unlink(path);
}
END_TEST


/* The longest line a client event can make (a 255-byte question name of odd
 * bytes, four CNAMEs to such names, every identity field at its 255 bytes,
 * 1024 bytes of rule) is written whole, not lost without a count. */
static size_t odd_name(uint8_t *n, uint8_t fill)
{
	size_t o = 0;
	for (unsigned l = 0; l < 4; l++) {
		unsigned ll = l < 3 ? 63 : 61;
		n[o++] = (uint8_t)ll;
		memset(n + o, l % 2 ? '\\' : fill, ll);
		o += ll;
	}
	n[o++] = 0;
	return o;
}

static size_t count_newlines(const char *path, size_t *longest)
{
	FILE *f = fopen(path, "r");
	size_t n = 0, cur = 0;
	int ch;
	*longest = 0;
	if (!f)
		return 0;
	while ((ch = fgetc(f)) != EOF) {
		if (ch == '\n') {
			n++;
			if (cur > *longest)
				*longest = cur;
			cur = 0;
		} else {
			cur++;
		}
	}
	fclose(f);
	return n;
}

START_TEST(longest_line_written)
{
	struct vg_qlog_opts o;
	struct vg_qlog *l;
	char path[] = "/tmp/vg_test_qlog_XXXXXX", err[256];
	uint8_t qn[VG_NAME_MAX], tn[VG_NAME_MAX], q[512], ans[4096];
	char id[256], rule[1100];
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_uint_eq(odd_name(qn, 0xff), 255);
	int ql = vg_wire_make_query(q, sizeof(q), 7, qn, VG_T_A, true, 1232, false);
	ck_assert_int_gt(ql, 0);
	struct vg_pkt pk;
	vg_pkt_init(&pk, ans, sizeof(ans), 7, VG_F_QR | VG_F_RD | VG_F_RA);
	vg_pkt_put_question(&pk, qn, VG_T_A, VG_C_IN);
	vg_pkt_begin(&pk, VG_SEC_AN);
	for (unsigned i = 0; i < 4; i++) {
		size_t tl = odd_name(tn, (uint8_t)(0x80 + i));
		ck_assert_int_eq(vg_pkt_put_rr(&pk, i ? tn : qn, VG_T_CNAME, VG_C_IN, 60, tn,
					       (uint16_t)tl), 0);
	}
	size_t al = vg_pkt_finish(&pk);
	ck_assert_uint_gt(al, 0);
	memset(id, 1, sizeof(id) - 1);
	id[sizeof(id) - 1] = 0;
	memset(rule, '"', sizeof(rule) - 1);
	rule[sizeof(rule) - 1] = 0;
	vg_qlog_opts_default(&o);
	snprintf(o.file, sizeof(o.file), "%s", path);
	ck_assert_int_eq(vg_qlog_start(&l, &o, 1, err, sizeof(err)), 0);
	struct sockaddr_in a = v4("192.0.2.1", 1000);
	struct vg_qlog_client e = {
		.addr = (struct sockaddr *)&a, .transport = VG_QLOG_T_DOT, .id = id,
		.cert_fp = id, .cert_subject = id, .query = q, .qlen = (size_t)ql,
		.resp = ans, .rlen = al, .action = id, .source = id, .rule = rule,
	};
	ck_assert(vg_qlog_client(l, 0, &e));
	wait_handled(l, 1);
	vg_qlog_stop(l);
	size_t longest;
	ck_assert_uint_eq(count_newlines(path, &longest), 1);
	ck_assert_uint_gt(longest, 4096);
	unlink(path);
}
END_TEST


/* A file that takes nothing (a full disk: /dev/full) and a dnstap output
 * that is not there: every event the writer could not write is counted. */
START_TEST(write_errors_counted)
{
	struct vg_qlog_opts o;
	struct vg_qlog *l;
	char err[256];
	uint8_t ans[512], q[512], qn[VG_NAME_MAX];
	vg_qlog_opts_default(&o);
	snprintf(o.file, sizeof(o.file), "/dev/full");
	ck_assert_int_eq(vg_qlog_start(&l, &o, 1, err, sizeof(err)), 0);
	vg_name_from_str("www.example", qn, sizeof(qn));
	int ql = vg_wire_make_query(q, sizeof(q), 7, qn, VG_T_A, true, 1232, false);
	size_t al = answer(ans, "www.example", 0);
	struct sockaddr_in a = v4("192.0.2.1", 1000);
	struct vg_qlog_client e = { .addr = (struct sockaddr *)&a, .transport = VG_QLOG_T_UDP,
				    .query = q, .qlen = (size_t)ql, .resp = ans, .rlen = al };
	for (unsigned i = 0; i < 10; i++)
		ck_assert(vg_qlog_client(l, 0, &e));
	wait_handled(l, 10);
	for (unsigned i = 0; i < 300 && vg_qlog_lost(l) < 10; i++)
		usleep(10000);
	ck_assert_uint_eq(vg_qlog_lost(l), 10);
	ck_assert_uint_eq(vg_qlog_dropped(l), 0); /* (not the workers' drops) */
	vg_qlog_stop(l);
}
END_TEST

/* ------------------------------------------------------------ dnstap */

START_TEST(dnstap_encoding_decoded_back)
{
	uint8_t rec[2048], ans[512], *frame;
	size_t flen;
	struct vg__qlog_view v;
	struct vg_qlog_opts o;
	struct vg__qlog_priv pv;
	vg_qlog_opts_default(&o);
	vg__qlog_priv_init(&pv, &o);
	size_t al = answer(ans, "bad.example", 3);
	size_t rl = client_rec(rec, sizeof(rec), "bad.example", ans, al, "nxdomain");
	ck_assert(vg__qlog_view(rec, rl, &v));

	ck_assert_int_eq(vg__dnstap_encode(&v, VG_DNSTAP_CLIENT_QUERY, &pv, "resolver1", &frame,
					   &flen), 0);
	Dnstap__Dnstap *d = dnstap__dnstap__unpack(NULL, flen, frame);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(d->type, DNSTAP__DNSTAP__TYPE__MESSAGE);
	ck_assert(d->has_identity && d->identity.len == 9 &&
		  !memcmp(d->identity.data, "resolver1", 9));
	Dnstap__Message *m = d->message;
	ck_assert_int_eq(m->type, DNSTAP__MESSAGE__TYPE__CLIENT_QUERY);
	ck_assert_int_eq(m->socket_family, DNSTAP__SOCKET_FAMILY__INET);
	ck_assert_int_eq(m->socket_protocol, DNSTAP__SOCKET_PROTOCOL__DOT);
	ck_assert(m->has_query_address && m->query_address.len == 4 &&
		  !memcmp(m->query_address.data, "\xc0\x00\x02\x4d", 4));
	ck_assert_uint_eq(m->query_port, 5353);
	ck_assert_uint_eq(m->query_time_sec, 1700000000);
	ck_assert_uint_eq(m->query_time_nsec, 123456789);
	ck_assert(m->has_query_message && m->query_message.len == v.h->qlen &&
		  !memcmp(m->query_message.data, v.query, v.h->qlen));
	ck_assert(!m->has_response_message);
	dnstap__dnstap__free_unpacked(d, NULL);
	free(frame);

	/* the response, with the policy's decision in extra; client truncated */
	o.addr_mode = VG_QLOG_ADDR_TRUNCATE;
	vg__qlog_priv_init(&pv, &o);
	ck_assert_int_eq(vg__dnstap_encode(&v, VG_DNSTAP_CLIENT_RESPONSE, &pv, "", &frame, &flen),
			 0);
	d = dnstap__dnstap__unpack(NULL, flen, frame);
	ck_assert_ptr_nonnull(d);
	m = d->message;
	ck_assert_int_eq(m->type, DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE);
	ck_assert(!memcmp(m->query_address.data, "\xc0\x00\x02\x00", 4));
	ck_assert(m->has_response_message && m->response_message.len == al &&
		  !memcmp(m->response_message.data, ans, al));
	ck_assert_uint_eq(m->response_time_nsec, 125956789);
	ck_assert(d->has_extra);
	ck_assert(memmem(d->extra.data, d->extra.len, "action=nxdomain", 15) != NULL);
	dnstap__dnstap__free_unpacked(d, NULL);
	free(frame);

	/* a client record is no resolver message; a dropped answer no response */
	ck_assert_int_lt(vg__dnstap_encode(&v, VG_DNSTAP_RESOLVER_QUERY, &pv, "", &frame, &flen),
			 0);
	((struct vg__qlog_rec *)rec)->rlen = 0;
	ck_assert_int_lt(vg__dnstap_encode(&v, VG_DNSTAP_CLIENT_RESPONSE, &pv, "", &frame,
					   &flen), 0);
}
END_TEST

START_TEST(dnstap_resolver_query)
{
	uint8_t rec[1024], *frame;
	size_t flen;
	struct vg__qlog_view v;
	struct vg__qlog_priv pv;
	struct vg_qlog_opts o;
	vg_qlog_opts_default(&o);
	o.addr_mode = VG_QLOG_ADDR_PSEUDONYM; /* (not for the servers vigil asks) */
	vg__qlog_priv_init(&pv, &o);
	struct vg__qlog_rec *h = (struct vg__qlog_rec *)rec;
	memset(h, 0, sizeof(*h));
	h->kind = REC_UP_QUERY;
	h->flags = REC_F_DO;
	h->qtype = VG_T_AAAA;
	struct sockaddr_in6 s = v6("2001:db8::53");
	memcpy(&h->addr.u.in6, &s, sizeof(s));
	int nl = vg_name_from_str("ns.example", (uint8_t *)(h + 1), VG_NAME_MAX);
	h->qlen = (uint16_t)nl;
	ck_assert(vg__qlog_view(rec, sizeof(*h) + (size_t)nl, &v));
	ck_assert_int_eq(vg__dnstap_encode(&v, VG_DNSTAP_RESOLVER_QUERY, &pv, "", &frame, &flen),
			 0);
	Dnstap__Dnstap *d = dnstap__dnstap__unpack(NULL, flen, frame);
	ck_assert_ptr_nonnull(d);
	Dnstap__Message *m = d->message;
	ck_assert_int_eq(m->type, DNSTAP__MESSAGE__TYPE__RESOLVER_QUERY);
	ck_assert_int_eq(m->socket_family, DNSTAP__SOCKET_FAMILY__INET6);
	ck_assert(m->response_address.len == 16 &&
		  !memcmp(m->response_address.data, &s.sin6_addr, 16));
	ck_assert_uint_eq(m->response_port, 53);
	struct vg_query q;
	int rc;
	ck_assert_int_eq(vg_query_parse(&q, m->query_message.data, m->query_message.len, &rc), 0);
	ck_assert_uint_eq(q.qtype, VG_T_AAAA);
	ck_assert(q.edns.do_bit);
	dnstap__dnstap__free_unpacked(d, NULL);
	free(frame);
}
END_TEST

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	Suite *s = suite_create("qlog");
	TCase *tc = tcase_create("core");
	/* ring_threads hands the ring back and forth thousands of times: on a
	 * loaded machine each hand-over waits for the scheduler */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, ring_records_in_order_and_drops_counted);
	tcase_add_test(tc, ring_threads);
	tcase_add_test(tc, json_escaping);
	tcase_add_test(tc, json_line_fields);
	tcase_add_test(tc, truncation);
	tcase_add_test(tc, pseudonyms_per_key_period);
	tcase_add_test(tc, sampling_one_in_n);
	tcase_add_test(tc, full_ring_counts_drops);
	tcase_add_test(tc, longest_line_written);
	tcase_add_test(tc, write_errors_counted);
	tcase_add_test(tc, dnstap_encoding_decoded_back);
	tcase_add_test(tc, dnstap_resolver_query);
	suite_add_tcase(s, tc);
	return vg_test_run(s);
}
