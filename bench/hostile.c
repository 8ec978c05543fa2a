/*
 * hostile.c - the hostile authoritative server of bench/run.sh attacks, slow
 * and soak: tests/lab/slowauth.py --bench in C, so that the lab's per-packet
 * CPU stays off the core that the benign load generator (dnsperf) runs on:
 * 4-12 us of its own work per query (a spoof flood: ~6 us per packet sent),
 * against slowauth's 30 us to 2.4 ms of Python (bench/README.md, "Hostile
 * lab", has the measurements).
 *
 * Build: cc -O2 -Wall -o hostile hostile.c
 * Usage: hostile --bench ADDR PORT PIDFILE COUNTFILE ZONE [MAX_SECONDS]
 *
 * Only --bench mode is implemented: without --bench it prints this usage and
 * exits 2 (slowauth.py keeps per-name counts for the test lab; the bench does
 * not need them).  It binds ADDR:PORT (UDP and TCP, IPv4 or IPv6), writes
 * COUNTFILE and then its PID to PIDFILE once bound, and exits 0 after
 * MAX_SECONDS (default 6 hours) or on SIGTERM/SIGINT, removing PIDFILE.
 * Single-threaded, one epoll loop, one timer heap.
 *
 * What it serves is slowauth.py's zone (its docstring is the specification):
 * ZONE's apex SOA and NS ns1.ZONE, ns1.ZONE A ADDR, every other name A
 * 192.0.2.201 TTL 300, NODATA (SOA in authority) for other types, REFUSED
 * outside ZONE, FORMERR unless one question; the attack subtrees nxns
 * (referral to 40 shuffled glueless n<i>-<x>.victim.ZONE), victim
 * (NXDOMAIN), tsua/tsub (referrals to each other), loop (a<x>/b<x> CNAME),
 * chain (c<k>-<x> CNAME c<k+1>-<x> up to 100, then A); names whose first
 * label is d<MS>- (answer after MS ms, at most 10000), j<MS>- (UDP: the 7
 * TuDoor junk packets at once, the answer after MS), s<MS>- (UDP: 300
 * forged answers with 192.0.2.66 and every ID but the right one, a random
 * sample spread over MS, plus 8 with the right ID to other ports of the
 * querier, then the answer after MS) and u<MS>- (no UDP answer; TCP answer
 * after MS).  As in slowauth the d/j/s/u prefix applies to any name, also
 * outside ZONE or in an attack subtree.
 *
 * Answers are written the way slowauth's dnspython path and its fast path
 * (Zone.fast_answer, Wire) write them, byte for byte: flags QR + the query's
 * opcode and RD + AA (not for REFUSED and referrals), the question(s) as
 * asked, records of class IN, every name compressed against the earliest
 * earlier occurrence of each of its suffixes compared without regard to
 * case, an OPT record (payload 8192, no flags, no options) when the query
 * had one, truncation (no records, TC set) when the answer exceeds
 * max(512, the query's EDNS payload) over UDP or 65535 over TCP.  The NS
 * records of a referral are shuffled (dnspython shuffles them too, so only
 * their set is comparable).  The junk and forged packets are the same
 * bytes as slowauth's (the garbage one aside: random either way).
 * tests/integration/test_bench_hostile.py checks both servers against each
 * other.
 *
 * COUNTFILE: {"udp": N, "tcp": N, "junk": N, "forged": N, "names": {}},
 * queries received (those that parse) and junk/forged packets sent,
 * rewritten at most every 0.25 s while queries come and once more when they
 * stop (bench/attack.py settle reads udp + tcp), and at exit.
 *
 * TCP: length-prefixed, several queries per connection, each answered on its
 * own schedule; at most 64 connections (the oldest is closed for a new
 * one, as slowauth does); a connection with nothing outstanding is closed
 * after 10 s idle (slowauth never closes one); an answer that cannot be
 * written is buffered, up to 1 MiB per connection (slowauth blocks up to 2 s
 * in sendall); TCP_NODELAY is set.
 *
 * Where it differs from slowauth.py (none of it in what the bench sends):
 * - slowauth's "8 forgeries to other ports" skips a random port that equals
 *   the querier's; here always 8 are sent (both count 308);
 * - queries dnspython would not parse are dropped, not answered and not
 *   counted, as there; the checks here are dnspython's structural ones
 *   (header, names and their pointers, record headers, OPT only in the
 *   additional section with the root as owner and only once, option TLVs,
 *   no TSIG, no trailing bytes, opcode QUERY, IQUERY, STATUS or NOTIFY) but
 *   the data of records in a query's other sections is not parsed;
 * - a query with QR set, or UPDATE, is dropped (slowauth crashes on the
 *   first, and answers an UPDATE with an SOA question);
 * - a query with more than 8 questions is dropped (FORMERR in slowauth);
 * - when an answer's name cannot be made (a label over 63 bytes, e.g. the
 *   NXNS target for a 60-byte <x>, or a name over 255), no answer, counted;
 *   slowauth dies on these;
 * - labels with '.', '\' or non-ASCII bytes go into NXNS/loop/chain targets
 *   as they are (slowauth's fast path does so; its dnspython path re-parses
 *   them as text);
 * - ns1.ZONE A is NODATA when ADDR is IPv6 (slowauth dies).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ANSWER_ADDR "192.0.2.201"
#define POISON_ADDR "192.0.2.66"
#define TTL 300
#define FLOOD_PER_QUERY 300
#define FLOOD_OTHER_PORTS 8
#define JUNK_KINDS 7
#define MAX_DELAY_MS 10000
#define NXNS_NAMES 40
#define CHAIN_LEN 100
#define WRITE_NS 250000000ull /* count file: at most every 0.25 s */
#define MAX_CONNS 64
#define TCP_IDLE_NS 10000000000ull
#define TCP_OUT_MAX (1u << 20)
#define MAX_QD 8
#define MAX_COMP 1024
#define MSG_MAX 65535
#define UDP_BATCH 16
#define T_A 1
#define T_NS 2
#define T_CNAME 5
#define T_SOA 6
#define T_OPT 41
#define T_TSIG 250

/* ------------------------------------------------------------ names */

/* A name in uncompressed wire format, the root label included. */
struct dname {
	size_t len;
	uint8_t w[256];
};

static uint8_t lc(uint8_t c) { return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c; }

static bool ci_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lc(a[i]) != lc(b[i]))
			return false;
	return true;
}

static void dn_root(struct dname *n)
{
	n->w[0] = 0;
	n->len = 1;
}

/* Append label P (L bytes) before the root; -1 if it cannot be a label or
 * the name would exceed 255 bytes. */
static int dn_add(struct dname *n, const uint8_t *p, size_t l)
{
	if (l == 0 || l > 63 || n->len + 1 + l > 255)
		return -1;
	n->w[n->len - 1] = (uint8_t)l;
	memcpy(n->w + n->len, p, l);
	n->len += 1 + l;
	n->w[n->len - 1] = 0;
	return 0;
}

static int dn_adds(struct dname *n, const char *s)
{
	return dn_add(n, (const uint8_t *)s, strlen(s));
}

/* Append the labels of T. */
static int dn_cat(struct dname *n, const struct dname *t)
{
	for (const uint8_t *s = t->w; *s; s += 1 + *s)
		if (dn_add(n, s + 1, *s) < 0)
			return -1;
	return 0;
}

/* The labels of N (pointers to their length bytes); their number. */
static int dn_labels(const struct dname *n, const uint8_t **lab)
{
	int k = 0;
	for (const uint8_t *s = n->w; *s; s += 1 + *s)
		lab[k++] = s;
	return k;
}

static bool lab_is(const uint8_t *lab, const char *s)
{
	size_t l = strlen(s);
	return lab[0] == l && ci_eq(lab + 1, (const uint8_t *)s, l);
}

/* ------------------------------------------------------------ writer */

/* A message written the way dnspython's renderer writes one. */
struct wr {
	uint8_t *b;
	size_t len, cap;
	int bad;
	uint16_t cnt[4];
	int nat;
	uint16_t at[MAX_COMP];
	uint32_t hash[MAX_COMP];
};

static void wr_put(struct wr *w, const void *p, size_t n)
{
	if (w->bad || w->len + n > w->cap) {
		w->bad = 1;
		return;
	}
	memcpy(w->b + w->len, p, n);
	w->len += n;
}

static void wr_u16(struct wr *w, unsigned v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	wr_put(w, b, 2);
}

static void wr_u32(struct wr *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	wr_put(w, b, 4);
}

static void wr_init(struct wr *w, uint8_t *buf, size_t cap)
{
	w->b = buf;
	w->cap = cap;
	w->len = 0;
	w->bad = 0;
	w->nat = 0;
	memset(w->cnt, 0, sizeof(w->cnt));
	memset(buf, 0, 12 < cap ? 12 : cap);
	w->len = 12;
}

static uint32_t suffix_hash(const uint8_t *s)
{
	uint32_t h = 2166136261u;
	for (;;) {
		uint8_t l = *s;
		h = (h ^ l) * 16777619u;
		if (!l)
			return h;
		for (size_t i = 1; i <= l; i++)
			h = (h ^ lc(s[i])) * 16777619u;
		s += 1 + l;
	}
}

/* Is the uncompressed name S the name written at offset O? */
static bool wr_same(const struct wr *w, const uint8_t *s, size_t o)
{
	for (;;) {
		uint8_t l = w->b[o];
		while ((l & 0xC0) == 0xC0) {
			o = (size_t)(l & 0x3F) << 8 | w->b[o + 1];
			l = w->b[o];
		}
		if (l != *s)
			return false;
		if (!l)
			return true;
		if (!ci_eq(w->b + o + 1, s + 1, l))
			return false;
		o += 1u + l;
		s += 1u + l;
	}
}

/* Write N, compressed against the earliest occurrence of each suffix. */
static void wr_name(struct wr *w, const struct dname *n)
{
	for (const uint8_t *s = n->w; *s && !w->bad; s += 1 + *s) {
		uint32_t h = suffix_hash(s);
		for (int i = 0; i < w->nat; i++) {
			if (w->hash[i] == h && wr_same(w, s, w->at[i])) {
				wr_u16(w, 0xC000u | w->at[i]);
				return;
			}
		}
		if (w->len <= 0x3FFF && w->nat < MAX_COMP && w->len + 1u + *s <= w->cap) {
			w->at[w->nat] = (uint16_t)w->len;
			w->hash[w->nat++] = h;
		}
		wr_put(w, s, 1u + *s);
	}
	wr_put(w, "", 1);
}

static void wr_question(struct wr *w, const struct dname *n, uint16_t type, uint16_t cls)
{
	wr_name(w, n);
	wr_u16(w, type);
	wr_u16(w, cls);
	w->cnt[0]++;
}

/* Start a record (class IN, TTL): the offset of its data. */
static size_t wr_rr(struct wr *w, const struct dname *owner, uint16_t type)
{
	wr_name(w, owner);
	wr_u16(w, type);
	wr_u16(w, 1);
	wr_u32(w, TTL);
	wr_u16(w, 0);
	return w->len;
}

static void wr_rr_end(struct wr *w, int section, size_t start)
{
	if (w->bad)
		return;
	size_t n = w->len - start;
	w->b[start - 2] = (uint8_t)(n >> 8);
	w->b[start - 1] = (uint8_t)n;
	w->cnt[section]++;
}

/* The OPT record of dns.message.make_response(): payload 8192, nothing else. */
static void wr_opt(struct wr *w)
{
	static const uint8_t opt[11] = { 0, 0, T_OPT, 0x20, 0x00, 0, 0, 0, 0, 0, 0 };
	wr_put(w, opt, sizeof(opt));
	w->cnt[3]++;
}

static size_t wr_done(struct wr *w, uint16_t id, uint16_t flags)
{
	uint8_t *b = w->b;
	b[0] = (uint8_t)(id >> 8);
	b[1] = (uint8_t)id;
	b[2] = (uint8_t)(flags >> 8);
	b[3] = (uint8_t)flags;
	for (int i = 0; i < 4; i++) {
		b[4 + 2 * i] = (uint8_t)(w->cnt[i] >> 8);
		b[5 + 2 * i] = (uint8_t)w->cnt[i];
	}
	return w->len;
}

/* ------------------------------------------------------------ queries */

struct query {
	uint16_t id, flags;
	int qd;
	struct dname qname[MAX_QD];
	uint16_t qtype[MAX_QD], qclass[MAX_QD];
	int edns; /* -1 without an OPT record */
	uint16_t payload;
};

/* dnspython's name parser: pointers only backwards, each before the last. */
static int get_name(const uint8_t *p, size_t len, size_t *at, struct dname *n)
{
	size_t cur = *at, biggest = *at, end = 0;
	bool jumped = false;

	n->len = 0;
	for (;;) {
		if (cur >= len)
			return -1;
		uint8_t c = p[cur++];
		if (c == 0)
			break;
		if (c < 64) {
			if (cur + c > len || n->len + 1 + c + 1 > 255)
				return -1;
			n->w[n->len] = c;
			memcpy(n->w + n->len + 1, p + cur, c);
			n->len += 1u + c;
			cur += c;
		} else if (c >= 192) {
			if (cur >= len)
				return -1;
			size_t ptr = (size_t)(c & 0x3F) << 8 | p[cur++];
			if (!jumped) {
				end = cur;
				jumped = true;
			}
			if (ptr >= biggest)
				return -1;
			biggest = ptr;
			cur = ptr;
		} else {
			return -1;
		}
	}
	n->w[n->len++] = 0;
	*at = jumped ? end : cur;
	return 0;
}

static unsigned get16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }

/* Parse query P as dns.message.from_wire() would accept it; -1 to drop. */
static int parse_query(const uint8_t *p, size_t len, struct query *q)
{
	if (len < 12)
		return -1;
	q->id = (uint16_t)get16(p);
	q->flags = (uint16_t)get16(p + 2);
	unsigned opcode = (q->flags >> 11) & 0xF;
	unsigned qd = get16(p + 4), counts[3] = { get16(p + 6), get16(p + 8), get16(p + 10) };
	if (q->flags & 0x8000 || !(opcode <= 2 || opcode == 4) || qd > MAX_QD)
		return -1;
	size_t at = 12;
	q->qd = (int)qd;
	for (unsigned i = 0; i < qd; i++) {
		if (get_name(p, len, &at, &q->qname[i]) < 0 || at + 4 > len)
			return -1;
		q->qtype[i] = (uint16_t)get16(p + at);
		q->qclass[i] = (uint16_t)get16(p + at + 2);
		at += 4;
	}
	q->edns = -1;
	for (int s = 0; s < 3; s++) {
		for (unsigned i = 0; i < counts[s]; i++) {
			struct dname owner;
			if (get_name(p, len, &at, &owner) < 0 || at + 10 > len)
				return -1;
			unsigned type = get16(p + at), rdlen = get16(p + at + 8);
			const uint8_t *rd = p + at + 10;
			at += 10;
			if (at + rdlen > len || type == T_TSIG)
				return -1;
			if (type == T_OPT) {
				if (s != 2 || q->edns >= 0 || owner.len != 1)
					return -1;
				q->payload = (uint16_t)get16(p + at - 8);
				q->edns = p[at - 5];
				for (size_t o = 0; o < rdlen;) {
					if (o + 4 > rdlen || o + 4 + get16(rd + o + 2) > rdlen)
						return -1;
					o += 4 + get16(rd + o + 2);
				}
			}
			at += rdlen;
		}
	}
	return at == len ? 0 : -1;
}

/* ------------------------------------------------------------ the zone */

struct zone {
	struct dname origin, ns1, hostmaster;
	const uint8_t *olab[128];
	int no;
	bool ns_v4;
	uint8_t ns_addr[4], answer_addr[4], poison_addr[4];
};

static struct zone Z;

static uint64_t rng_s[4];

static uint64_t rng_next(void)
{
	uint64_t *s = rng_s, r = s[1] * 5, t = s[1] << 17;
	r = (r << 7 | r >> 57) * 9;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = s[3] << 45 | s[3] >> 19;
	return r;
}

static uint32_t rng_below(uint32_t n) { return (uint32_t)(((rng_next() >> 32) * n) >> 32); }

static void soa(struct wr *w, int section)
{
	size_t at = wr_rr(w, &Z.origin, T_SOA);
	wr_name(w, &Z.ns1);
	wr_name(w, &Z.hostmaster);
	wr_u32(w, 1);
	wr_u32(w, 3600);
	wr_u32(w, 600);
	wr_u32(w, 86400);
	wr_u32(w, TTL);
	wr_rr_end(w, section, at);
}

static void rr_name(struct wr *w, int section, const struct dname *owner, uint16_t type,
		    const struct dname *target)
{
	size_t at = wr_rr(w, owner, type);
	wr_name(w, target);
	wr_rr_end(w, section, at);
}

static void rr_a(struct wr *w, const struct dname *owner, const uint8_t *addr)
{
	size_t at = wr_rr(w, owner, T_A);
	wr_put(w, addr, 4);
	wr_rr_end(w, 1, at);
}

/* A referral of CUT to TARGETS (N of them, in a random order as dnspython
 * writes them), no glue. */
static void referral(struct wr *w, uint16_t *flags, const struct dname *cut,
		     const struct dname *targets, int n)
{
	int order[NXNS_NAMES];

	*flags &= (uint16_t)~0x0400;
	for (int i = 0; i < n; i++) {
		int j = (int)rng_below((uint32_t)i + 1); /* the inside-out shuffle */
		order[i] = j == i ? i : order[j];
		order[j] = i;
	}
	for (int i = 0; i < n; i++)
		rr_name(w, 2, cut, T_NS, &targets[order[i]]);
}

/* The attack subtrees (slowauth's Zone.attack): 1 done, 0 not an attack
 * name, -1 a name of the answer cannot be made. */
static int attack(struct wr *w, uint16_t *flags, const struct dname *qname,
		  const uint8_t **lab, int nrel)
{
	static struct dname targets[NXNS_NAMES];
	struct dname cut, t;
	uint8_t buf[96];

	if (nrel == 0)
		return 0;
	const uint8_t *top = lab[nrel - 1];
	if (lab_is(top, "tsua") || lab_is(top, "tsub")) {
		bool a = lab_is(top, "tsua");
		dn_root(&cut);
		dn_root(&targets[0]);
		if (dn_adds(&cut, a ? "tsua" : "tsub") < 0 || dn_cat(&cut, &Z.origin) < 0 ||
		    dn_adds(&targets[0], "ns") < 0 || dn_adds(&targets[0], a ? "tsub" : "tsua") < 0 ||
		    dn_cat(&targets[0], &Z.origin) < 0)
			return -1;
		referral(w, flags, &cut, targets, 1);
		return 1;
	}
	if (nrel == 1)
		return 0;
	if (lab_is(top, "nxns")) {
		const uint8_t *x = lab[nrel - 2];
		dn_root(&cut);
		if (dn_add(&cut, x + 1, x[0]) < 0 || dn_add(&cut, top + 1, top[0]) < 0 ||
		    dn_cat(&cut, &Z.origin) < 0)
			return -1;
		struct dname tail; /* victim.ZONE */
		dn_root(&tail);
		if (dn_adds(&tail, "victim") < 0 || dn_cat(&tail, &Z.origin) < 0)
			return -1;
		_Static_assert(NXNS_NAMES <= 100, "n<i>- written with at most two digits");
		for (int i = 0; i < NXNS_NAMES; i++) {
			size_t l = 0; /* n<i>- */
			buf[l++] = 'n';
			if (i >= 10)
				buf[l++] = (uint8_t)('0' + i / 10);
			buf[l++] = (uint8_t)('0' + i % 10);
			buf[l++] = '-';
			if (l + x[0] > 63)
				return -1;
			memcpy(buf + l, x + 1, x[0]);
			dn_root(&targets[i]);
			if (dn_add(&targets[i], buf, l + x[0]) < 0 || dn_cat(&targets[i], &tail) < 0)
				return -1;
		}
		referral(w, flags, &cut, targets, NXNS_NAMES);
		return 1;
	}
	if (lab_is(top, "victim")) {
		*flags |= 3; /* NXDOMAIN */
		soa(w, 2);
		return 1;
	}
	bool loop = lab_is(top, "loop");
	if (nrel != 2 || !(loop || lab_is(top, "chain")))
		return 0;
	const uint8_t *f = lab[0];
	size_t fl = f[0], tl = 0;
	if (loop && (lc(f[1]) == 'a' || lc(f[1]) == 'b')) {
		buf[0] = lc(f[1]) == 'a' ? 'b' : 'a';
		for (size_t i = 1; i < fl; i++)
			buf[i] = lc(f[1 + i]);
		tl = fl;
	} else if (!loop && lc(f[1]) == 'c') {
		size_t i = 1;
		unsigned long k = 0;
		while (i < fl && f[1 + i] >= '0' && f[1 + i] <= '9') {
			k = k > CHAIN_LEN ? k : k * 10 + (unsigned long)(f[1 + i] - '0');
			i++;
		}
		if (i == 1 || i >= fl || f[1 + i] != '-' || k >= CHAIN_LEN)
			return 0; /* the chain's end (or another name): the zone's A record */
		int l = snprintf((char *)buf, sizeof(buf), "c%lu-", k + 1);
		if (l + (fl - i - 1) > 63)
			return -1;
		for (size_t j = i + 1; j < fl; j++)
			buf[l++] = lc(f[1 + j]);
		tl = (size_t)l;
	} else {
		return 0;
	}
	dn_root(&t);
	if (dn_add(&t, buf, tl) < 0 || dn_adds(&t, loop ? "loop" : "chain") < 0 ||
	    dn_cat(&t, &Z.origin) < 0)
		return -1;
	rr_name(w, 1, qname, T_CNAME, &t);
	return 1;
}

/* Fill in the answer to the one question of Q; -1 if it cannot be made. */
static int zone_fill(struct wr *w, uint16_t *flags, const struct query *q)
{
	const struct dname *qname = &q->qname[0];
	const uint8_t *lab[128];
	int n = dn_labels(qname, lab), nrel = n - Z.no;
	uint16_t qtype = q->qtype[0];

	bool inside = nrel >= 0;
	for (int i = 0; inside && i < Z.no; i++)
		inside = lab[nrel + i][0] == Z.olab[i][0] &&
			 ci_eq(lab[nrel + i] + 1, Z.olab[i] + 1, Z.olab[i][0]);
	if (!inside) {
		*flags = (uint16_t)((*flags & ~0x0400) | 5); /* REFUSED */
		return 0;
	}
	int r = attack(w, flags, qname, lab, nrel);
	if (r)
		return r < 0 ? -1 : 0;
	if (nrel == 0) {
		if (qtype == T_SOA)
			soa(w, 1);
		else if (qtype == T_NS)
			rr_name(w, 1, qname, T_NS, &Z.ns1);
		else
			soa(w, 2);
	} else if (nrel == 1 && lab_is(lab[0], "ns1")) {
		if (qtype == T_A && Z.ns_v4)
			rr_a(w, qname, Z.ns_addr);
		else
			soa(w, 2);
	} else if (qtype == T_A) {
		rr_a(w, qname, Z.answer_addr);
	} else {
		soa(w, 2);
	}
	return 0;
}

static void questions(struct wr *w, const struct query *q)
{
	for (int i = 0; i < q->qd; i++)
		wr_question(w, &q->qname[i], q->qtype[i], q->qclass[i]);
}

/* The answer to Q in OUT (MSG_MAX bytes), truncated beyond LIMIT bytes; 0 if
 * it cannot be made. */
static size_t answer(const struct query *q, uint8_t *out, size_t limit)
{
	static struct wr w;
	uint16_t flags = (uint16_t)(0x8000 | (q->flags & 0x7900) | 0x0400);

	wr_init(&w, out, MSG_MAX);
	questions(&w, q);
	if (q->qd != 1)
		flags |= 1; /* FORMERR */
	else if (zone_fill(&w, &flags, q) < 0)
		return 0;
	if (q->edns >= 0)
		wr_opt(&w);
	size_t n = wr_done(&w, q->id, flags);
	if (!w.bad && n <= limit)
		return n;
	wr_init(&w, out, MSG_MAX);
	questions(&w, q);
	if (q->edns >= 0)
		wr_opt(&w);
	return w.bad ? 0 : wr_done(&w, q->id, flags | 0x0200);
}

/* slowauth's poisoned(): an answer to Q for QNAME (its own question name
 * replaced) with POISON_ADDR, flags QR, RD and AA if asked for. */
static size_t poisoned(const struct query *q, const struct dname *qname, bool aa, uint8_t *out)
{
	static struct wr w;

	wr_init(&w, out, MSG_MAX);
	wr_question(&w, qname, q->qtype[0], q->qclass[0]);
	rr_a(&w, qname, Z.poison_addr);
	if (q->edns >= 0)
		wr_opt(&w);
	size_t n = wr_done(&w, q->id, (uint16_t)(0x8000 | (q->flags & 0x7900) | (aa ? 0x0400 : 0)));
	return w.bad ? 0 : n;
}

/* d<MS>-, j<MS>-, s<MS>- or u<MS>- as the first label: its letter (lower
 * case) and *MS (at most MAX_DELAY_MS); 0 for anything else. */
static int mode_of(const struct query *q, unsigned *ms)
{
	*ms = 0;
	if (q->qd != 1)
		return 0;
	const uint8_t *l = q->qname[0].w;
	if (l[0] < 3)
		return 0;
	int c = lc(l[1]);
	if (!(c == 'd' || c == 'j' || c == 's' || c == 'u'))
		return 0;
	unsigned v = 0, i = 2;
	while (i <= l[0] && i <= 6 && l[i] >= '0' && l[i] <= '9')
		v = v * 10 + (unsigned)(l[i++] - '0');
	if (i == 2 || i > l[0] || l[i] != '-')
		return 0;
	*ms = v > MAX_DELAY_MS ? MAX_DELAY_MS : v;
	return c;
}

/* ------------------------------------------------------------ the server */

enum { EV_UDP, EV_TCP, EV_FLOOD };

struct ev {
	uint64_t due, seq;
	int kind;
	struct sockaddr_storage peer;
	socklen_t plen;
	int slot;		/* EV_TCP */
	uint64_t serial;
	int n;			/* EV_FLOOD: the next forged answer */
	uint64_t t0, span;
	uint16_t *ids;
	size_t len;
	uint8_t pkt[];
};

struct conn {
	int fd;
	uint64_t serial, last;
	int pending;
	bool want_out;
	uint8_t *in;
	size_t inlen;
	uint8_t *out;
	size_t outlen, outcap;
};

static volatile sig_atomic_t stop;
static int epfd = -1, udp_fd = -1, tcp_fd = -1;
static struct conn conns[MAX_CONNS];
static uint64_t conn_serial, ev_seq;
static struct ev **heap;
static size_t nheap, capheap;
static unsigned long long n_udp, n_tcp, n_junk, n_forged;
static bool dirty;
static uint64_t written_at;
static const char *countfile;
static uint16_t perm[65536];
static uint8_t abuf[MSG_MAX + 16], jbuf[MSG_MAX + 16];

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void write_counts(void)
{
	char buf[256], tmp[4096];
	int n = snprintf(buf, sizeof(buf),
			 "{\"udp\": %llu, \"tcp\": %llu, \"junk\": %llu, \"forged\": %llu, "
			 "\"names\": {}}", n_udp, n_tcp, n_junk, n_forged);
	written_at = now_ns();
	dirty = false;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", countfile) >= (int)sizeof(tmp))
		return;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, (size_t)n) != n || close(fd) < 0 || rename(tmp, countfile) < 0)
		fprintf(stderr, "hostile: cannot write %s: %s\n", countfile, strerror(errno));
}

static bool ev_before(const struct ev *a, const struct ev *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static int heap_push(struct ev *e)
{
	if (nheap == capheap) {
		size_t cap = capheap ? 2 * capheap : 256;
		struct ev **h = realloc(heap, cap * sizeof(*h));
		if (!h)
			return -1;
		heap = h;
		capheap = cap;
	}
	size_t i = nheap++;
	while (i > 0 && ev_before(e, heap[(i - 1) / 2])) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i] = e;
	return 0;
}

static struct ev *heap_pop(void)
{
	struct ev *top = heap[0], *last = heap[--nheap];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= nheap)
			break;
		if (c + 1 < nheap && ev_before(heap[c + 1], heap[c]))
			c++;
		if (!ev_before(heap[c], last))
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (nheap)
		heap[i] = last;
	return top;
}

static struct ev *ev_new(int kind, const uint8_t *pkt, size_t len, uint64_t due)
{
	struct ev *e = calloc(1, sizeof(*e) + len);
	if (!e)
		return NULL;
	e->kind = kind;
	e->due = due;
	e->seq = ++ev_seq;
	e->len = len;
	memcpy(e->pkt, pkt, len);
	return e;
}

static void ev_free(struct ev *e)
{
	if (e) {
		free(e->ids);
		free(e);
	}
}

static void schedule(struct ev *e)
{
	if (!e || heap_push(e) < 0) {
		ev_free(e);
		return;
	}
	if (e->kind == EV_TCP)
		conns[e->slot].pending++;
}

static void udp_send(const uint8_t *p, size_t len, const struct sockaddr_storage *to,
		     socklen_t tolen)
{
	if (sendto(udp_fd, p, len, MSG_DONTWAIT, (const struct sockaddr *)to, tolen) < 0) {
		/* as slowauth: a lost UDP packet is lost */
	}
}

static void conn_close(int slot)
{
	struct conn *c = &conns[slot];
	if (c->fd < 0)
		return;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void conn_watch(int slot, bool out)
{
	struct conn *c = &conns[slot];
	struct epoll_event ee = { .events = EPOLLIN | (out ? EPOLLOUT : 0u),
				  .data.u64 = 2u + (unsigned)slot };
	if (c->want_out != out && epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ee) == 0)
		c->want_out = out;
}

/* Write what is buffered for SLOT; false if the connection was closed. */
static bool conn_flush(int slot)
{
	struct conn *c = &conns[slot];
	size_t off = 0;
	while (off < c->outlen) {
		ssize_t n = send(c->fd, c->out + off, c->outlen - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			conn_close(slot);
			return false;
		}
		off += (size_t)n;
	}
	memmove(c->out, c->out + off, c->outlen - off);
	c->outlen -= off;
	c->last = now_ns();
	conn_watch(slot, c->outlen > 0);
	return true;
}

static void tcp_send(int slot, const uint8_t *p, size_t len)
{
	struct conn *c = &conns[slot];
	if (c->outlen + 2 + len > c->outcap) {
		size_t cap = c->outlen + 2 + len;
		cap = cap < 4096 ? 4096 : cap * 2;
		uint8_t *o = cap > TCP_OUT_MAX ? NULL : realloc(c->out, cap);
		if (!o) {
			conn_close(slot);
			return;
		}
		c->out = o;
		c->outcap = cap;
	}
	c->out[c->outlen] = (uint8_t)(len >> 8);
	c->out[c->outlen + 1] = (uint8_t)len;
	memcpy(c->out + c->outlen + 2, p, len);
	c->outlen += 2 + len;
	if (!c->want_out)
		conn_flush(slot);
}

static void flood_fire(struct ev *e, uint64_t now)
{
	while (e->n < FLOOD_PER_QUERY &&
	       e->t0 + e->span * (uint64_t)e->n / FLOOD_PER_QUERY <= now) {
		e->pkt[0] = (uint8_t)(e->ids[e->n] >> 8);
		e->pkt[1] = (uint8_t)e->ids[e->n];
		udp_send(e->pkt, e->len, &e->peer, e->plen);
		e->n++;
	}
	if (e->n >= FLOOD_PER_QUERY) {
		ev_free(e);
		return;
	}
	e->due = e->t0 + e->span * (uint64_t)e->n / FLOOD_PER_QUERY;
	if (heap_push(e) < 0)
		ev_free(e);
}

static void run_due(uint64_t now)
{
	while (nheap && heap[0]->due <= now) {
		struct ev *e = heap_pop();
		if (e->kind == EV_FLOOD) {
			flood_fire(e, now);
			continue;
		}
		if (e->kind == EV_UDP) {
			udp_send(e->pkt, e->len, &e->peer, e->plen);
		} else if (conns[e->slot].fd >= 0 && conns[e->slot].serial == e->serial) {
			conns[e->slot].pending--;
			tcp_send(e->slot, e->pkt, e->len);
		}
		ev_free(e);
	}
}

static void put_id(uint8_t *p, uint16_t id)
{
	p[0] = (uint8_t)(id >> 8);
	p[1] = (uint8_t)id;
}

/* slowauth's junk(): 7 packets that match Q on ID, address and port and
 * are not its answer, sent to PEER at once. */
static void junk(const struct query *q, const struct sockaddr_storage *peer, socklen_t plen)
{
	uint8_t pkt[64];
	size_t n;

	put_id(pkt, q->id);
	for (int i = 2; i < 40; i++)
		pkt[i] = (uint8_t)rng_next();
	udp_send(pkt, 40, peer, plen); /* garbage */
	static const uint8_t hdr[10] = { 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0 };
	memcpy(pkt + 2, hdr, sizeof(hdr));
	udp_send(pkt, 12, peer, plen); /* a bare header */
	n_junk += 2;
	/* the answer with the poisoned address, no AA: cut short, QR clear,
	 * opcode NOTIFY */
	n = poisoned(q, &q->qname[0], false, jbuf);
	if (n) {
		static uint8_t body[12 + 255 + 4 + 7];
		static const uint8_t counts[6] = { 0, 3, 0, 0, 0, 0 };
		static const uint8_t cut[7] = { 0xc0, 0x0c, 0, 1, 0, 1, 0 };
		size_t qend = 12 + q->qname[0].len + 4; /* header and question */
		uint8_t b2 = jbuf[2];
		memcpy(body, jbuf, qend);
		memcpy(body + 6, counts, sizeof(counts));
		memcpy(body + qend, cut, sizeof(cut));
		udp_send(body, qend + sizeof(cut), peer, plen);
		jbuf[2] = b2 & 0x7F; /* QR clear: a query, not a reply */
		udp_send(jbuf, n, peer, plen);
		jbuf[2] = (uint8_t)((b2 & 0x87) | (4 << 3)); /* NOTIFY */
		udp_send(jbuf, n, peer, plen);
		n_junk += 3;
	}
	/* another question (other.<parent>), a poisoned answer with AA */
	struct dname other;
	dn_root(&other);
	const uint8_t *l = q->qname[0].w;
	struct dname parent;
	parent.len = q->qname[0].len - 1u - l[0];
	memcpy(parent.w, l + 1 + l[0], parent.len);
	if (dn_adds(&other, "other") == 0 && dn_cat(&other, &parent) == 0 &&
	    (n = poisoned(q, &other, true, jbuf)) > 0) {
		udp_send(jbuf, n, peer, plen);
		n_junk++;
	}
	static const uint8_t formerr[10] = { 0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 0 };
	memcpy(pkt + 2, formerr, sizeof(formerr));
	udp_send(pkt, 12, peer, plen); /* FORMERR without a question */
	n_junk++;
}

/* The spoof flood: FLOOD_PER_QUERY forged answers with every ID but the
 * right one (a random sample) spread over MS, and FLOOD_OTHER_PORTS with
 * the right ID to other ports of PEER at once. */
static void flood(const struct query *q, unsigned ms, const struct sockaddr_storage *peer,
		  socklen_t plen, uint64_t now)
{
	size_t n = poisoned(q, &q->qname[0], true, jbuf);
	if (!n)
		return;
	n_forged += FLOOD_PER_QUERY + FLOOD_OTHER_PORTS;
	struct ev *e = ev_new(EV_FLOOD, jbuf, n, now);
	uint16_t *ids = malloc(FLOOD_PER_QUERY * sizeof(*ids));
	if (e && ids) {
		/* a partial Fisher-Yates shuffle: perm[0..FLOOD] a random sample */
		int k = 0;
		for (int i = 0; i <= FLOOD_PER_QUERY; i++) {
			uint32_t j = (uint32_t)i + rng_below(65536u - (uint32_t)i);
			uint16_t t = perm[i];
			perm[i] = perm[j];
			perm[j] = t;
			if (perm[i] != q->id && k < FLOOD_PER_QUERY)
				ids[k++] = perm[i];
		}
		e->ids = ids;
		e->peer = *peer;
		e->plen = plen;
		e->t0 = now;
		e->span = (uint64_t)ms * 1000000u;
		flood_fire(e, now); /* the first one now, the others on the heap */
	} else {
		free(ids);
		ev_free(e);
	}
	bool v6 = peer->ss_family == AF_INET6;
	const struct sockaddr_in6 *p6 = (const struct sockaddr_in6 *)peer;
	const struct sockaddr_in *p4 = (const struct sockaddr_in *)peer;
	uint16_t own = ntohs(v6 ? p6->sin6_port : p4->sin_port);
	for (int i = 0; i < FLOOD_OTHER_PORTS; i++) {
		struct sockaddr_storage to = *peer;
		uint16_t port;
		do
			port = (uint16_t)(1024 + rng_below(65536 - 1024));
		while (port == own);
		if (v6)
			((struct sockaddr_in6 *)&to)->sin6_port = htons(port);
		else
			((struct sockaddr_in *)&to)->sin_port = htons(port);
		udp_send(jbuf, n, &to, plen); /* the right ID */
	}
}

/* A query received over UDP (SLOT < 0, from PEER) or TCP connection SLOT. */
static void handle(const uint8_t *wire, size_t len, int slot,
		   const struct sockaddr_storage *peer, socklen_t plen)
{
	static struct query q;
	bool udp = slot < 0;
	unsigned ms;

	if (parse_query(wire, len, &q) < 0)
		return; /* as dnspython's from_wire() failing: not counted, no answer */
	if (udp)
		n_udp++;
	else
		n_tcp++;
	dirty = true;
	int mode = mode_of(&q, &ms);
	if (mode == 'u' && udp)
		return; /* rate limited: counted, not answered */
	size_t limit = udp ? (q.edns >= 0 && q.payload > 512 ? q.payload : 512) : MSG_MAX;
	size_t n = answer(&q, abuf, limit);
	uint64_t now = now_ns();
	if (udp && mode == 'j')
		junk(&q, peer, plen);
	else if (udp && mode == 's')
		flood(&q, ms, peer, plen, now);
	if (!n)
		return;
	if (ms == 0) {
		if (udp)
			udp_send(abuf, n, peer, plen);
		else
			tcp_send(slot, abuf, n);
		return;
	}
	struct ev *e = ev_new(udp ? EV_UDP : EV_TCP, abuf, n, now + (uint64_t)ms * 1000000u);
	if (!e)
		return;
	if (udp) {
		e->peer = *peer;
		e->plen = plen;
	} else {
		e->slot = slot;
		e->serial = conns[slot].serial;
	}
	schedule(e);
}

static void udp_read(void)
{
	static uint8_t bufs[UDP_BATCH][MSG_MAX + 1];
	static struct sockaddr_storage peers[UDP_BATCH];
	struct mmsghdr mm[UDP_BATCH];
	struct iovec iov[UDP_BATCH];

	memset(mm, 0, sizeof(mm));
	for (int i = 0; i < UDP_BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof(bufs[i]);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_name = &peers[i];
		mm[i].msg_hdr.msg_namelen = sizeof(peers[i]);
	}
	int n = recvmmsg(udp_fd, mm, UDP_BATCH, MSG_DONTWAIT, NULL);
	for (int i = 0; i < n; i++)
		if (!(mm[i].msg_hdr.msg_flags & MSG_TRUNC))
			handle(bufs[i], mm[i].msg_len, -1, &peers[i], mm[i].msg_hdr.msg_namelen);
}

static void tcp_accept(void)
{
	int fd = accept4(tcp_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	int slot = -1, oldest = 0;
	for (int i = 0; i < MAX_CONNS; i++) {
		if (conns[i].fd < 0) {
			slot = i;
			break;
		}
		if (conns[i].serial < conns[oldest].serial)
			oldest = i;
	}
	if (slot < 0) {
		conn_close(oldest); /* as slowauth: at most 64, the oldest goes */
		slot = oldest;
	}
	struct conn *c = &conns[slot];
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct epoll_event ee = { .events = EPOLLIN, .data.u64 = 2u + (unsigned)slot };
	c->in = malloc(2 + MSG_MAX);
	if (!c->in || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ee) < 0) {
		free(c->in);
		c->in = NULL;
		close(fd);
		return;
	}
	c->fd = fd;
	c->serial = ++conn_serial;
	c->last = now_ns();
}

static void tcp_read(int slot)
{
	struct conn *c = &conns[slot];
	uint64_t serial = c->serial;
	ssize_t n = recv(c->fd, c->in + c->inlen, 2 + MSG_MAX - c->inlen, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(slot);
		return;
	}
	c->inlen += (size_t)n;
	c->last = now_ns();
	size_t at = 0;
	while (c->inlen - at >= 2) {
		size_t len = get16(c->in + at);
		if (c->inlen - at < 2 + len)
			break;
		handle(c->in + at + 2, len, slot, NULL, 0);
		if (c->fd < 0 || c->serial != serial)
			return; /* closed while answering */
		at += 2 + len;
	}
	memmove(c->in, c->in + at, c->inlen - at);
	c->inlen -= at;
}

static int bind_sockets(const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
	} else {
		fprintf(stderr, "hostile: bad address %s\n", addr);
		return -1;
	}
	int one = 1;
	udp_fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	tcp_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (udp_fd < 0 || tcp_fd < 0 ||
	    setsockopt(tcp_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(udp_fd, (struct sockaddr *)&ss, sl) < 0 ||
	    bind(tcp_fd, (struct sockaddr *)&ss, sl) < 0 || listen(tcp_fd, 64) < 0) {
		fprintf(stderr, "hostile: cannot bind %s port %d: %s\n", addr, port, strerror(errno));
		return -1;
	}
	return 0;
}

static int zone_init(const char *origin, const char *addr)
{
	dn_root(&Z.origin);
	const char *p = origin;
	while (*p && strcmp(p, ".") != 0) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		if (dn_add(&Z.origin, (const uint8_t *)p, l) < 0)
			return -1;
		p += l + (dot ? 1 : 0);
	}
	Z.no = dn_labels(&Z.origin, Z.olab);
	dn_root(&Z.ns1);
	dn_root(&Z.hostmaster);
	if (dn_adds(&Z.ns1, "ns1") < 0 || dn_cat(&Z.ns1, &Z.origin) < 0 ||
	    dn_adds(&Z.hostmaster, "hostmaster") < 0 || dn_cat(&Z.hostmaster, &Z.origin) < 0)
		return -1;
	Z.ns_v4 = inet_pton(AF_INET, addr, Z.ns_addr) == 1;
	inet_pton(AF_INET, ANSWER_ADDR, Z.answer_addr);
	inet_pton(AF_INET, POISON_ADDR, Z.poison_addr);
	return 0;
}

static int write_pidfile(const char *path)
{
	char tmp[4096], buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, (size_t)n) != n || close(fd) < 0 || rename(tmp, path) < 0) {
		fprintf(stderr, "hostile: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void usage(void)
{
	fputs("usage: hostile --bench ADDR PORT PIDFILE COUNTFILE ZONE [MAX_SECONDS]\n"
	      "  tests/lab/slowauth.py --bench in C (see the comment at the top of "
	      "bench/hostile.c);\n  only --bench mode (no per-name counts)\n", stderr);
}

/* The epoll timeout until the next thing to do, in ms rounded up. */
static int next_timeout(uint64_t now, uint64_t deadline)
{
	uint64_t next = deadline;
	if (nheap && heap[0]->due < next)
		next = heap[0]->due;
	if (dirty && written_at + WRITE_NS < next)
		next = written_at + WRITE_NS;
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i].fd >= 0 && !conns[i].pending && !conns[i].outlen &&
		    conns[i].last + TCP_IDLE_NS < next)
			next = conns[i].last + TCP_IDLE_NS;
	if (next <= now)
		return 0;
	uint64_t ms = (next - now + 999999) / 1000000;
	return ms > 1000 ? 1000 : (int)ms;
}

static int serve(uint64_t deadline, const sigset_t *waitmask)
{
	struct epoll_event evs[MAX_CONNS + 2];

	for (;;) {
		uint64_t now = now_ns();
		if (stop || now >= deadline)
			return 0;
		run_due(now);
		if (dirty && now >= written_at + WRITE_NS)
			write_counts();
		for (int i = 0; i < MAX_CONNS; i++)
			if (conns[i].fd >= 0 && !conns[i].pending && !conns[i].outlen &&
			    now >= conns[i].last + TCP_IDLE_NS)
				conn_close(i);
		int n = epoll_pwait(epfd, evs, MAX_CONNS + 2, next_timeout(now, deadline), waitmask);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "hostile: epoll_wait: %s\n", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			if (tag == 0) {
				udp_read();
			} else if (tag == 1) {
				tcp_accept();
			} else {
				int slot = (int)(tag - 2);
				if (conns[slot].fd < 0)
					continue;
				if (evs[i].events & EPOLLOUT && !conn_flush(slot))
					continue;
				if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
					tcp_read(slot);
			}
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--bench") != 0 || (argc != 7 && argc != 8)) {
		usage();
		return 2;
	}
	const char *addr = argv[2], *pidfile = argv[4], *zone = argv[6];
	char *end;
	long port = strtol(argv[3], &end, 10);
	char *mend = "";
	double max_seconds = argc == 8 ? strtod(argv[7], &mend) : 6 * 3600.0;
	countfile = argv[5];
	if (*end || *mend || port < 0 || port > 65535 || !(max_seconds >= 0) ||
	    max_seconds > 1e8) {
		usage();
		return 2;
	}
	if (zone_init(zone, addr) < 0) {
		fprintf(stderr, "hostile: bad zone %s\n", zone);
		return 2;
	}
	if (getrandom(rng_s, sizeof(rng_s), 0) != (ssize_t)sizeof(rng_s)) {
		rng_s[0] = now_ns() ^ (uint64_t)getpid() << 32;
		rng_s[1] = 0x9E3779B97F4A7C15ull;
	}
	for (unsigned i = 0; i < 65536; i++)
		perm[i] = (uint16_t)i;
	for (int i = 0; i < MAX_CONNS; i++)
		conns[i].fd = -1;
	uint64_t deadline = now_ns() + (uint64_t)(max_seconds * 1e9);

	sigset_t block, waitmask;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int rc = 1;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd >= 0 && bind_sockets(addr, (int)port) == 0) {
		struct epoll_event u = { .events = EPOLLIN, .data.u64 = 0 };
		struct epoll_event t = { .events = EPOLLIN, .data.u64 = 1 };
		write_counts();
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, udp_fd, &u) == 0 &&
		    epoll_ctl(epfd, EPOLL_CTL_ADD, tcp_fd, &t) == 0 && write_pidfile(pidfile) == 0) {
			rc = serve(deadline, &waitmask);
			write_counts();
			unlink(pidfile);
		}
	}
	for (int i = 0; i < MAX_CONNS; i++)
		conn_close(i);
	while (nheap)
		ev_free(heap_pop());
	free(heap);
	if (udp_fd >= 0)
		close(udp_fd);
	if (tcp_fd >= 0)
		close(tcp_fd);
	if (epfd >= 0)
		close(epfd);
	return rc;
}
