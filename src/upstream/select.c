/* SPDX-License-Identifier: MIT
 *
 * The infra table: per server address, a smoothed RTT and variance (RFC 6298),
 * consecutive failures with exponential back-off, a "down" mark, and the zones
 * for which the server was found lame.
 *
 * Timeouts back off once per timer, not once per query: queries sent side by
 * side with one retransmission timeout all time out together, and counting
 * each would mark a slow but working server down after one burst (its probes
 * then never wait long enough).  A timeout counts only when its query waited
 * at least as long as the back-off already reached (Unbound's infra cache
 * does the same); the retries, sent with the longer timer, then count again.
 *
 * Spoofing: replies that arrive on a query's connected socket (so from the
 * server's address and port) and are not its answer are forgeries; enough of
 * them in a short window put the server "under attack", and it is asked over
 * TCP for a while (BIND goes to TCP on the first mismatched ID), where a
 * forger would have to hijack a connection.
 *
 * Cookies (RFC 7873): each server's last server cookie, kept with the
 * generation of the client secret it answered (a rotated secret makes new
 * client cookies, and the old server cookie is then not sent), whether it
 * does cookies at all (it sent a valid one: from then on an answer without
 * one is a forgery, see outbound.c), and whether it refused the option.
 *
 * A fixed open-addressed table (linear probing over a short window); when the
 * window is full the least recently used slot is reused, so memory is bounded
 * and an attacker naming many servers only pushes out old measurements.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream/upstream.h"
#include "vigil/wire.h"

#define PROBE 8
#define LAME_SLOTS 4
#define LAME_MS (15 * 60 * 1000)
#define DOWN_AFTER 4
#define DOWN_MS (60 * 1000)
#define RTO_MIN 50
#define RTO_MAX VG_INFRA_RTO_MAX
#define DOWN_PENALTY 100000

struct lame {
	uint64_t zone_hash;
	uint64_t until;
};

struct slot {
	bool used;
	uint8_t family;
	uint16_t port;
	uint8_t addr[16];
	uint32_t srtt, rttvar; /* ms; srtt 0 = unmeasured */
	uint8_t fails;         /* consecutive */
	uint32_t backoff_ms;   /* a timeout counts if its query waited this long */
	uint32_t unwanted;     /* since unwanted_since */
	uint64_t unwanted_since, tcp_until;
	uint64_t last_answer;  /* when it last answered (loop clock, ms) */
	uint64_t down_until, last_use;
	/* totals for the operator (vigilctl upstreams), never read to decide */
	uint32_t n_answers, n_timeouts, n_errors;
	struct lame lame[LAME_SLOTS];
	/* DNS cookies: the server cookie learnt under client secret cookie_gen */
	bool cookie_known;       /* it sent a valid cookie (and still does) */
	uint8_t cookie_len;
	uint32_t cookie_gen;
	uint64_t nocookie_until; /* it refused the option: send none until then */
	uint8_t cookie[VG_UPCOOKIE_SERVER_MAX];
};

struct vg_infra {
	struct slot *slots;
	unsigned mask;
};

static void sa_key(const struct vg_sockaddr *sa, uint8_t *family, uint16_t *port, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (sa->u.sa.sa_family == AF_INET6) {
		*family = AF_INET6;
		*port = sa->u.in6.sin6_port;
		memcpy(addr, &sa->u.in6.sin6_addr, 16);
	} else {
		*family = AF_INET;
		*port = sa->u.in4.sin_port;
		memcpy(addr, &sa->u.in4.sin_addr, 4);
	}
}

static uint64_t fnv(const uint8_t *p, size_t n, uint64_t h)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

struct vg_infra *vg_infra_new(unsigned slots)
{
	unsigned n = 64;
	while (n < slots)
		n <<= 1;
	struct vg_infra *inf = calloc(1, sizeof(*inf));
	if (!inf)
		return NULL;
	inf->slots = calloc(n, sizeof(*inf->slots));
	if (!inf->slots) {
		free(inf);
		return NULL;
	}
	inf->mask = n - 1;
	return inf;
}

void vg_infra_free(struct vg_infra *inf)
{
	if (!inf)
		return;
	free(inf->slots);
	free(inf);
}

/* Find the slot of @p sa; create it (evicting the LRU in the window) if @p create. */
static struct slot *lookup(struct vg_infra *inf, const struct vg_sockaddr *sa, bool create,
			   uint64_t now)
{
	uint8_t fam, addr[16];
	uint16_t port;
	sa_key(sa, &fam, &port, addr);
	uint64_t h = fnv(addr, 16, 0xcbf29ce484222325ULL);
	h = fnv((const uint8_t *)&port, 2, h);
	struct slot *victim = NULL;
	for (unsigned i = 0; i < PROBE; i++) {
		struct slot *s = &inf->slots[(h + i) & inf->mask];
		if (s->used && s->family == fam && s->port == port && !memcmp(s->addr, addr, 16)) {
			s->last_use = now;
			return s;
		}
		if (!s->used) {
			if (!victim || victim->used)
				victim = s; /* a free slot beats any used one */
		} else if (!victim || (victim->used && s->last_use < victim->last_use)) {
			victim = s;
		}
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	victim->used = true;
	victim->family = fam;
	victim->port = port;
	memcpy(victim->addr, addr, 16);
	victim->last_use = now;
	return victim;
}

void vg_infra_rtt(struct vg_infra *inf, const struct vg_sockaddr *sa, uint32_t rtt_ms,
		  uint64_t now_ms)
{
	struct slot *s = lookup(inf, sa, true, now_ms);
	if (rtt_ms == 0)
		rtt_ms = 1;
	if (s->srtt == 0) {
		s->srtt = rtt_ms;
		s->rttvar = rtt_ms / 2;
	} else {
		uint32_t d = s->srtt > rtt_ms ? s->srtt - rtt_ms : rtt_ms - s->srtt;
		s->rttvar = (3 * s->rttvar + d) / 4;
		s->srtt = (7 * s->srtt + rtt_ms) / 8;
		if (s->srtt == 0)
			s->srtt = 1;
	}
	s->fails = 0;
	s->backoff_ms = 0;
	s->down_until = 0;
	s->last_answer = now_ms;
	if (s->n_answers < UINT32_MAX)
		s->n_answers++;
}

static void slot_failed(struct slot *s, uint64_t now_ms)
{
	if (s->fails < 255)
		s->fails++;
	if (s->fails >= DOWN_AFTER)
		s->down_until = now_ms + DOWN_MS;
}

void vg_infra_timed_out(struct vg_infra *inf, const struct vg_sockaddr *sa, uint32_t timeout_ms,
			uint64_t now_ms)
{
	struct slot *s = lookup(inf, sa, true, now_ms);
	if (s->n_timeouts < UINT32_MAX)
		s->n_timeouts++;
	if (timeout_ms < s->backoff_ms)
		return; /* sent before the last back-off: that timeout was counted */
	s->backoff_ms = timeout_ms >= RTO_MAX / 2 ? RTO_MAX : timeout_ms * 2;
	slot_failed(s, now_ms);
}

void vg_infra_failed(struct vg_infra *inf, const struct vg_sockaddr *sa, uint64_t now_ms)
{
	struct slot *s = lookup(inf, sa, true, now_ms);
	if (s->n_errors < UINT32_MAX)
		s->n_errors++;
	slot_failed(s, now_ms);
}

static uint64_t zone_hash(const uint8_t *zone)
{
	uint8_t z[VG_NAME_MAX];
	size_t n = vg_name_len(zone);
	memcpy(z, zone, n);
	vg_name_lower(z);
	return fnv(z, n, 0xcbf29ce484222325ULL);
}

void vg_infra_lame(struct vg_infra *inf, const struct vg_sockaddr *sa, const uint8_t *zone,
		   uint64_t now_ms)
{
	struct slot *s = lookup(inf, sa, true, now_ms);
	uint64_t zh = zone_hash(zone);
	struct lame *best = &s->lame[0];
	for (int i = 0; i < LAME_SLOTS; i++) {
		if (s->lame[i].zone_hash == zh || s->lame[i].until < best->until) {
			best = &s->lame[i];
			if (s->lame[i].zone_hash == zh)
				break;
		}
	}
	best->zone_hash = zh;
	best->until = now_ms + LAME_MS;
}

bool vg_infra_is_lame(struct vg_infra *inf, const struct vg_sockaddr *sa, const uint8_t *zone,
		      uint64_t now_ms)
{
	struct slot *s = lookup(inf, sa, false, now_ms);
	if (!s)
		return false;
	uint64_t zh = zone_hash(zone);
	for (int i = 0; i < LAME_SLOTS; i++)
		if (s->lame[i].zone_hash == zh && s->lame[i].until > now_ms)
			return true;
	return false;
}

uint32_t vg_infra_score(struct vg_infra *inf, const struct vg_sockaddr *sa, uint64_t now_ms,
			uint32_t unknown_ms)
{
	struct slot *s = lookup(inf, sa, false, now_ms);
	if (!s)
		return unknown_ms;
	uint32_t base = s->srtt ? s->srtt : unknown_ms;
	/* a failure cost at least a full timeout: score it as that, doubled per
	 * failure in a row, so a fast server that stopped answering loses to one
	 * that was never tried */
	if (s->fails && base < unknown_ms)
		base = unknown_ms;
	for (unsigned i = 0; i < s->fails && base < DOWN_PENALTY; i++)
		base *= 2;
	if (s->down_until > now_ms)
		base += DOWN_PENALTY;
	return base;
}

bool vg_infra_is_failing(struct vg_infra *inf, const struct vg_sockaddr *sa, uint64_t now_ms)
{
	struct slot *s = lookup(inf, sa, false, now_ms);
	return s && s->fails > 0;
}

bool vg_infra_answered_since(struct vg_infra *inf, const struct vg_sockaddr *sa, uint64_t since_ms,
			     uint64_t now_ms)
{
	struct slot *s = lookup(inf, sa, false, now_ms);
	return s && s->n_answers && s->last_answer >= since_ms;
}

bool vg_infra_is_down(struct vg_infra *inf, const struct vg_sockaddr *sa, uint64_t now_ms)
{
	struct slot *s = lookup(inf, sa, false, now_ms);
	return s && s->down_until > now_ms;
}

bool vg_infra_unwanted(struct vg_infra *inf, const struct vg_sockaddr *sa, unsigned threshold,
		       uint64_t now_ms)
{
	if (!threshold)
		return false;
	struct slot *s = lookup(inf, sa, true, now_ms);
	if (now_ms >= s->unwanted_since + VG_INFRA_SPOOF_WINDOW_MS) {
		s->unwanted_since = now_ms;
		s->unwanted = 0;
	}
	if (s->unwanted < UINT32_MAX)
		s->unwanted++;
	if (s->unwanted < threshold)
		return false;
	bool fresh = s->tcp_until <= now_ms;
	s->tcp_until = now_ms + VG_INFRA_SPOOF_TCP_MS;
	return fresh;
}

bool vg_infra_is_spoofed(struct vg_infra *inf, const struct vg_sockaddr *sa, uint64_t now_ms)
{
	struct slot *s = lookup(inf, sa, false, now_ms);
	return s && s->tcp_until > now_ms;
}

static uint32_t slot_timeout(const struct slot *s, uint64_t now_ms, uint32_t unknown_ms)
{
	uint32_t rto = unknown_ms;
	if (s && s->srtt)
		rto = s->srtt + 4 * s->rttvar;
	if (rto < RTO_MIN)
		rto = RTO_MIN;
	if (s && s->down_until > now_ms)
		return unknown_ms; /* a probe: as long as for a server never seen, no back-off */
	for (unsigned i = 0; s && i < s->fails && rto < RTO_MAX; i++)
		rto *= 2;
	if (rto > RTO_MAX)
		rto = RTO_MAX;
	return rto;
}

uint32_t vg_infra_timeout(struct vg_infra *inf, const struct vg_sockaddr *sa, uint64_t now_ms,
			  uint32_t unknown_ms)
{
	return slot_timeout(lookup(inf, sa, false, now_ms), now_ms, unknown_ms);
}

int vg_infra_cookie(struct vg_infra *inf, const struct vg_sockaddr *sa, uint32_t gen,
		    uint8_t *sc, uint64_t now_ms)
{
	struct slot *s = lookup(inf, sa, false, now_ms);
	if (!s)
		return 0;
	if (s->nocookie_until > now_ms)
		return VG_INFRA_NO_COOKIE;
	if (!s->cookie_len || s->cookie_gen != gen)
		return 0;
	memcpy(sc, s->cookie, s->cookie_len);
	return s->cookie_len;
}

bool vg_infra_cookie_known(struct vg_infra *inf, const struct vg_sockaddr *sa, uint64_t now_ms)
{
	struct slot *s = lookup(inf, sa, false, now_ms);
	return s && s->cookie_known;
}

void vg_infra_cookie_learn(struct vg_infra *inf, const struct vg_sockaddr *sa, uint32_t gen,
			   const uint8_t *sc, size_t sclen, uint64_t now_ms)
{
	if (sclen > VG_UPCOOKIE_SERVER_MAX)
		return;
	struct slot *s = lookup(inf, sa, true, now_ms);
	s->cookie_known = true;
	s->nocookie_until = 0;
	s->cookie_gen = gen;
	s->cookie_len = (uint8_t)sclen;
	memcpy(s->cookie, sc, sclen);
}

void vg_infra_cookie_forget(struct vg_infra *inf, const struct vg_sockaddr *sa, uint64_t now_ms)
{
	struct slot *s = lookup(inf, sa, false, now_ms);
	if (s) {
		s->cookie_known = false;
		s->cookie_len = 0;
	}
}

void vg_infra_cookie_refused(struct vg_infra *inf, const struct vg_sockaddr *sa,
			     uint64_t now_ms)
{
	struct slot *s = lookup(inf, sa, true, now_ms);
	s->cookie_known = false;
	s->cookie_len = 0;
	s->nocookie_until = now_ms + VG_INFRA_NOCOOKIE_MS;
}

static int by_last_use(const void *a, const void *b)
{
	const struct vg_infra_info *x = a, *y = b;
	return x->last_use_ms < y->last_use_ms ? 1 : x->last_use_ms > y->last_use_ms ? -1 : 0;
}

size_t vg_infra_snapshot(const struct vg_infra *inf, struct vg_infra_info *out, size_t cap,
			 uint64_t now_ms, uint32_t unknown_ms)
{
	size_t n = 0;
	if (!cap)
		return 0;
	for (unsigned i = 0; i <= inf->mask; i++) {
		const struct slot *s = &inf->slots[i];
		if (!s->used)
			continue;
		struct vg_infra_info in = {
			.family = s->family, .port = ntohs(s->port), .srtt_ms = s->srtt,
			.rttvar_ms = s->rttvar, .timeout_ms = slot_timeout(s, now_ms, unknown_ms),
			.fails_in_row = s->fails, .answers = s->n_answers,
			.timeouts = s->n_timeouts, .errors = s->n_errors,
			.down_until_ms = s->down_until > now_ms ? s->down_until : 0,
			.tcp_until_ms = s->tcp_until > now_ms ? s->tcp_until : 0,
			.last_use_ms = s->last_use, .cookie_known = s->cookie_known,
			.no_cookie = s->nocookie_until > now_ms,
		};
		memcpy(in.addr, s->addr, 16);
		for (int k = 0; k < LAME_SLOTS; k++)
			in.lame_zones += s->lame[k].zone_hash && s->lame[k].until > now_ms;
		if (n < cap) {
			out[n++] = in;
			continue;
		}
		/* full: replace the least recently used of those kept (a linear
		 * scan: cap is small, this runs only for vigilctl) */
		size_t lru = 0;
		for (size_t k = 1; k < n; k++)
			if (out[k].last_use_ms < out[lru].last_use_ms)
				lru = k;
		if (in.last_use_ms > out[lru].last_use_ms)
			out[lru] = in;
	}
	qsort(out, n, sizeof(*out), by_last_use);
	return n;
}
