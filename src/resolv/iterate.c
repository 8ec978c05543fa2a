/* SPDX-License-Identifier: MIT
 *
 * Iterative resolution: the state machine that walks from the closest known
 * zone cut down to the answer.
 *
 * Design.  A request holds a stack of tasks.  Task 0 resolves the client's
 * question; a task above it resolves the address of a glue-less name server for
 * the task below (a sub-query), and hands the addresses it finds straight to
 * its parent.  Only the top task is active, so a request has at most one query
 * upstream at a time.  Each task goes round this loop:
 *
 *   cache   answer, cached CNAME (follow it) or cached negative answer?
 *   cut     closest zone cut: a forward zone, the deepest cached NS set, or the
 *           root hints; plus every known address of its name servers
 *   select  the address with the best smoothed RTT not yet failed for this task
 *           (none left: resolve a glue-less NS name in a sub-task, or fail)
 *   send    (QNAME minimised per RFC 9156, relaxed mode)
 *   consume referral (zone cut moves down, in-bailiwick glue kept), answer
 *           (CNAME/DNAME chain followed), NXDOMAIN/NODATA (cached per RFC
 *           2308), or a failure (try the next server)
 *
 * Every loop is bounded: upstream queries, referrals, CNAME/DNAME steps and
 * sub-query depth per client query come from the config (ATTACKS.md 3, 5) and
 * exceeding one fails the request with SERVFAIL.  Records outside the
 * bailiwick of the server that sent them are ignored (ATTACKS.md 10).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "resolv/resolv.h"

#define MAX_NS 20
#define MAX_ADDRS 48
#define MAX_TRIES 4 /* per address and task; timeouts back off 1x, 2x, 4x, 8x (send_timeout) */
#define TRIED_OUT 255
#define MAX_MINIMISE 10
#define STEP_GUARD 256

enum { NS_A_DONE = 1, NS_AAAA_DONE = 2 };

/*
 * The parent's glue for a name server is kept in the cache under types of its
 * own (private use, RFC 6895 3.1), beside the name's A/AAAA entry, which the
 * child's authoritative addresses replace.  Parent and child disagree while a
 * zone is renumbered: a cut gets both sets, so when one fails the other is
 * tried.  Read only at glue rank: an answer for these types (a client may
 * ask for them) never becomes a server address.
 */
#define T_PARENT_A 0xff41
#define T_PARENT_AAAA 0xff42

struct vg_task {
	uint8_t qname[VG_NAME_MAX];
	uint16_t qtype;
	uint8_t sname[VG_NAME_MAX];
	uint8_t zone[VG_NAME_MAX];
	bool cut_valid, forward, qmin_off, done;
	const struct vg_forward_zone *fwd; /* the forward zone (forward set) */
	int rcode;
	int qmin_labels;
	unsigned minimised_sent;
	unsigned n_ns;
	const uint8_t *ns[MAX_NS];
	uint8_t ns_state[MAX_NS];
	unsigned n_addr;
	struct vg_sockaddr addr[MAX_ADDRS];
	uint8_t tries[MAX_ADDRS];
	uint16_t last_timeout[MAX_ADDRS]; /* ms the last try to each address waited */
	unsigned glueless;
	int sent_idx;
	bool sent_min;
	bool val_fetch;        /* a DS/DNSKEY fetch for the validator */
	struct vg_result res;  /* what it found (val_fetch tasks) */
	struct vg_origin from; /* who sent what it takes now (unset: the cache) */
};

static inline const struct vg_resolv_opts *opts_of(const struct vg_request *req)
{
	return req->env->opts;
}

static inline const struct vg_dnssec_opts *dnssec_of(const struct vg_request *req)
{
	return req->env->dnssec;
}

/* Is @p t the task of the client's own question (the bottom of the stack)? */
static bool is_client_task(const struct vg_request *req, const struct vg_task *t)
{
	return req->stack[0] == t;
}

/* "vigil: <text>" in the request's arena, for an EDE's EXTRA-TEXT. */
static const char *ede_text(struct vg_request *req, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static const char *ede_text(struct vg_request *req, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	return vg_arena_dup(req->arena, buf, strlen(buf) + 1);
}

/* The request failed: remember it briefly (RFC 9520) so that a broken or
 * hostile zone cannot make every later query redo the same work.  The
 * client learns why from the EDE (RFC 8914): the validator's code, 22 or 23
 * set when no server answered (unreachable()), else 0 "Other" with the
 * reason as EXTRA-TEXT. */
static enum vg_step fail(struct vg_request *req, const char *why)
{
	req->rcode = VG_RCODE_SERVFAIL;
	if (why)
		req->fail_reason = why;
	if (req->bogus_retries && req->sec != VG_SEC_BOGUS) {
		/* a retry after a bogus answer found no server with valid data:
		 * still a validation failure, whatever ended the last round */
		req->sec = VG_SEC_BOGUS;
		req->ede = req->bogus_ede ? req->bogus_ede : VG_EDE_BOGUS;
		req->ede_text = NULL;
		req->fail_reason = "DNSSEC validation failed (no server gave valid data)";
	}
	if (!req->ede && !req->ede_text && req->fail_reason)
		req->ede_text = ede_text(req, "vigil: %s", req->fail_reason);
	uint32_t now = req->env->now_s;
	if (req->cd)
		return VG_STEP_FAIL; /* a CD answer says nothing about the validated one */
	if (vg_arena_budget_hit(req->arena))
		return VG_STEP_FAIL; /* the worker's memory budget, not the name's fault */
	bool bogus = req->sec == VG_SEC_BOGUS && req->ede;
	vg_cache_put_fail(req->env->cache, req->qname, req->qtype, opts_of(req)->servfail_ttl,
			  bogus ? 0 : req->ede, now);
	if (bogus)
		vg_cache_set_sec(req->env->cache, req->qname, req->qtype, VG_SEC_BOGUS, req->ede,
				 dnssec_of(req)->bogus_ttl, now);
	return VG_STEP_FAIL;
}

/*
 * No server of the client task's zone cut answered usably.  EDE 23 (Network
 * Error) when sending failed and nothing timed out or answered, else 22 (No
 * Reachable Authority), with the counts as EXTRA-TEXT; and a warning in the
 * log, at most every WARN_EVERY_S seconds per zone (the root's says to check
 * the network and the root hints), so that a resolver cut off from the
 * world says so once instead of SERVFAILing in silence.
 */
#define WARN_SLOTS 64
#define WARN_EVERY_S 600
static _Atomic uint32_t warned_at[WARN_SLOTS];

static void unreachable(struct vg_request *req, const struct vg_task *t)
{
	char zone[VG_NAME_MAX * 4 + 8], what[160];
	unsigned tried = 0;
	vg_name_to_str(t->zone, zone, sizeof(zone));
	for (unsigned i = 0; i < t->n_addr; i++)
		tried += t->tries[i] > 0;
	const typeof(req->up) *u = &req->up;
	bool neterr = u->neterr && !u->timeouts && !u->refused && !u->lame && !u->malformed;
	snprintf(what, sizeof(what),
		 "%u name server%s, %u address%s tried: %u timed out, %u network errors%s%s, "
		 "%u refused or failed, %u lame, %u malformed", t->n_ns, t->n_ns == 1 ? "" : "s", tried,
		 tried == 1 ? "" : "es", u->timeouts, u->neterr, u->neterr ? " " : "",
		 u->neterr ? vg_strerror(u->last_err) : "", u->refused, u->lame, u->malformed);
	req->ede = neterr ? VG_EDE_NETWORK_ERROR : VG_EDE_NO_REACHABLE_AUTHORITY;
	req->ede_text = ede_text(req, "vigil: %s %s (%s)",
				 neterr ? "network error reaching the name servers of"
					: "no reachable authority for",
				 zone, what);
	uint32_t h = 0, now = req->env->now_s;
	for (size_t i = 0, n = vg_name_len(t->zone); i < n; i++) /* (zones are lower-case) */
		h = h * 31 + t->zone[i];
	_Atomic uint32_t *slot = &warned_at[h % WARN_SLOTS];
	uint32_t last = atomic_load_explicit(slot, memory_order_relaxed);
	if ((last && now - last < WARN_EVERY_S) ||
	    !atomic_compare_exchange_strong(slot, &last, now))
		return;
	if (t->zone[0] == 0)
		vg_log(VG_LOG_WARNING, "no root name server answers (%s): check the network and "
		       "resolver.root-hints", what);
	else
		vg_log(VG_LOG_WARNING, "no name server of %s answers (%s)", zone, what);
}

/* ------------------------------------------------------------ answer RRsets */

/*
 * Cache an answer RRset.  A wildcard expansion is kept with the NSEC/NSEC3
 * records (and RRSIGs) of the authority section that prove it, and lives no
 * longer than they do: later answers to DO clients carry them as the first
 * did (RFC 4035 3.1.3.3), and a validator can check them.  A client's answer
 * gets them too (req->neg: for the validator and the authority section).
 */
static int put_answer(struct vg_request *req, struct vg_task *t, const struct vg_msg *m,
		      const uint8_t *bailiwick, const struct vg_rrset *rs,
		      const struct vg_rrset *sig, uint8_t rank, uint8_t sec)
{
	struct vg_result pr;
	bool client = is_client_task(req, t);
	size_t plen = 0;
	uint32_t pttl = UINT32_MAX;

	memset(&pr, 0, sizeof(pr));
	if (vg__is_expansion(rs, sig))
		vg__collect_proof(req, m, bailiwick, &pr);
	else if (client)
		vg__collect_proof(req, m, bailiwick, &req->neg); /* whatever the server proved */
	if (pr.n_auth) {
		plen = vg__proof_pack(&pr, req->env->scratch, VG_SCRATCH);
		for (unsigned i = 0; i < pr.n_auth; i++) {
			if (pr.auth[i]->ttl < pttl)
				pttl = pr.auth[i]->ttl;
			if (pr.auth_sig[i] && pr.auth_sig[i]->ttl < pttl)
				pttl = pr.auth_sig[i]->ttl;
		}
	}
	if (!pr.n_auth || plen) /* (a proof that does not pack is not cached without it) */
		vg_cache_put_signed_proof(req->env->cache, rs, sig, plen ? req->env->scratch : NULL,
					  plen, pttl, rank, sec, req->env->now_s);
	return client ? vg__proof_add(req, &req->neg, &pr, false, 0) : 0;
}

/* A cached wildcard expansion's proof into the client's (req->neg). */
static int proof_from_cache(struct vg_request *req, const struct vg_cache_entry *e)
{
	struct vg_rrset store[2 * VG_AUTH_MAX + 1];
	struct vg_result tmp;
	memset(&tmp, 0, sizeof(tmp));
	vg__proof_unpack(e->proof, e->proof_len, &tmp, store, VG_ARRAY_SIZE(store));
	return vg__proof_add(req, &req->neg, &tmp, true, e->ttl);
}

/* Is the RRset (owner, type) in the client's answer already? */
static bool in_answer(const struct vg_request *req, const uint8_t *owner, uint16_t type)
{
	for (unsigned k = 0; k < req->n_answer; k++)
		if (req->answer[k]->type == type && vg_name_eq(req->answer[k]->owner, owner))
			return true;
	return false;
}

/* Add an RRset to the client's answer, once: a chain that passes the same
 * DNAME (or CNAME) twice must not repeat it (RFC 2181 5). */
static int append_answer_x(struct vg_request *req, struct vg_task *t, struct vg_rrset *rs,
			   struct vg_rrset *sig, uint8_t sec, bool synth)
{
	if (!is_client_task(req, t))
		return 0;
	if (in_answer(req, rs->owner, rs->type))
		return 0;
	if (req->n_answer >= VG_ARRAY_SIZE(req->answer))
		return VG_ELIMIT;
	unsigned i = req->n_answer++;
	req->answer[i] = rs;
	req->answer_from[i] = t->from;
	req->answer_sig[i] = sig;
	req->answer_sec[i] = sec;
	req->answer_synth[i] = synth;
	req->answer_zone[i] = t->cut_valid ? vg_arena_dup(req->arena, t->zone, vg_name_len(t->zone))
					   : NULL;
	return 0;
}



/* ------------------------------------------------------------ addresses */

static bool addr_allowed(const struct vg_resolv_opts *opts, const struct vg_sockaddr *sa)
{
	if (sa->u.sa.sa_family == AF_INET6 && !opts->use_ipv6_upstream)
		return false;
	if (vg_sockaddr_is_loopback(sa))
		return opts->allow_query_localhost;
	if (vg_sockaddr_is_private(sa))
		return opts->allow_query_private;
	return true;
}

static void task_add_addr(struct vg_request *req, struct vg_task *t, const struct vg_sockaddr *sa,
			  bool check_policy)
{
	if (check_policy && !addr_allowed(opts_of(req), sa))
		return;
	for (unsigned i = 0; i < t->n_addr; i++)
		if (vg_sockaddr_eq(&t->addr[i], sa))
			return;
	if (t->n_addr >= MAX_ADDRS)
		return;
	t->tries[t->n_addr] = 0;
	t->last_timeout[t->n_addr] = 0;
	t->addr[t->n_addr++] = *sa;
}

/* Add every address in an A or AAAA RRset to @p t. */
static void task_add_rrset_addrs(struct vg_request *req, struct vg_task *t,
				 const struct vg_rrset *rs)
{
	const uint8_t *d = rs->rdata, *end = rs->rdata + rs->rdata_len;
	for (unsigned i = 0; i < rs->count && end - d >= 2; i++) {
		uint16_t l = vg_get16(d);
		struct vg_sockaddr sa;
		memset(&sa, 0, sizeof(sa));
		if (rs->type == VG_T_A && l == 4) {
			sa.u.in4.sin_family = AF_INET;
			sa.u.in4.sin_port = htons(53);
			memcpy(&sa.u.in4.sin_addr, d + 2, 4);
			sa.len = sizeof(sa.u.in4);
			task_add_addr(req, t, &sa, true);
		} else if (rs->type == VG_T_AAAA && l == 16) {
			sa.u.in6.sin6_family = AF_INET6;
			sa.u.in6.sin6_port = htons(53);
			memcpy(&sa.u.in6.sin6_addr, d + 2, 16);
			sa.len = sizeof(sa.u.in6);
			task_add_addr(req, t, &sa, true);
		}
		d += 2u + l;
	}
}

/* Known addresses of NS name @p ns from the cache (any rank: glue is fine
 * here), and the parent's glue for it when the child's replaced it. */
static void task_addrs_from_cache(struct vg_request *req, struct vg_task *t, const uint8_t *ns)
{
	struct vg_cache_entry e;
	uint32_t now = req->env->now_s;
	static const uint16_t types[2] = { VG_T_A, VG_T_AAAA };
	static const uint16_t parent[2] = { T_PARENT_A, T_PARENT_AAAA };
	for (int i = 0; i < 2; i++) {
		if (types[i] == VG_T_AAAA && !opts_of(req)->use_ipv6_upstream)
			continue;
		if (vg_cache_get(req->env->cache, ns, types[i], now, &e, req->env->scratch,
				 VG_SCRATCH) == 0 && !e.negative && !e.failure)
			task_add_rrset_addrs(req, t, &e.rs);
		if (vg_cache_get(req->env->cache, ns, parent[i], now, &e, req->env->scratch,
				 VG_SCRATCH) == 0 && !e.negative && !e.failure &&
		    e.rank == VG_RANK_GLUE) {
			e.rs.type = types[i];
			task_add_rrset_addrs(req, t, &e.rs);
		}
	}
}

static int task_add_ns(struct vg_request *req, struct vg_task *t, const uint8_t *name)
{
	for (unsigned i = 0; i < t->n_ns; i++)
		if (vg_name_eq(t->ns[i], name))
			return 0;
	if (t->n_ns >= MAX_NS)
		return 0;
	uint8_t *copy = vg_arena_dup(req->arena, name, vg_name_len(name));
	if (!copy)
		return VG_ENOMEM;
	vg_name_lower(copy); /* cache keys are lower-case */
	t->ns_state[t->n_ns] = 0;
	t->ns[t->n_ns++] = copy;
	return 0;
}

static void task_reset_cut(struct vg_task *t, const uint8_t *zone)
{
	memmove(t->zone, zone, vg_name_len(zone));
	t->n_ns = 0;
	t->n_addr = 0;
	t->glueless = 0;
	t->forward = false;
	t->fwd = NULL;
	t->cut_valid = true;
	t->qmin_labels = vg_name_labels(t->zone);
}

/* ------------------------------------------------------------ zone cut */

/*
 * "No zone cut here" (QNAME minimisation, RFC 9156): a minimised query
 * answered by the zone's server without a referral shows that the name is
 * in that zone, so the next name below it need not be minimised through it
 * again (without this, every new name under c.example. cost a second
 * upstream query for c.example. itself).  Kept in the cache as a marker of
 * a private-use type at glue rank, which is never served to a client; as
 * long as the answer's records (or its SOA's negative TTL) live.  Believing
 * it wrongly costs nothing but privacy: the zone's server then answers the
 * longer name with the referral it has.
 */
static bool no_cut(struct vg_request *req, const uint8_t *name)
{
	return vg_cache_has(req->env->cache, name, VG_T_PRIV_NOCUT, req->env->now_s);
}

static void put_no_cut(struct vg_request *req, const struct vg_msg *m, const uint8_t *name)
{
	uint32_t ttl = UINT32_MAX;
	for (unsigned i = m->sec_start[VG_SEC_AN]; i < m->sec_start[VG_SEC_AN + 1]; i++)
		ttl = m->rr[i].ttl < ttl ? m->rr[i].ttl : ttl;
	for (unsigned i = m->sec_start[VG_SEC_NS]; i < m->sec_start[VG_SEC_NS + 1]; i++) {
		const struct vg_rr *rr = &m->rr[i];
		uint8_t rd[2 * VG_NAME_MAX + 20];
		if (rr->type != VG_T_SOA || ttl != UINT32_MAX)
			continue;
		int n = vg_rdata_unpack(m->pkt, m->len, rr, rd, sizeof(rd));
		if (n >= 20) {
			uint32_t min = vg_get32(rd + n - 4);
			ttl = rr->ttl < min ? rr->ttl : min;
		}
	}
	if (ttl == UINT32_MAX || ttl == 0)
		return; /* nothing says how long this holds */
	uint8_t owner[VG_NAME_MAX], rdata[2] = { 0, 0 };
	memcpy(owner, name, vg_name_len(name));
	vg_name_lower(owner);
	const struct vg_rrset rs = {
		.owner = owner, .type = VG_T_PRIV_NOCUT, .rclass = VG_C_IN,
		.ttl = vg_cache_clamp_ttl(req->env->cache, ttl, false), .count = 1,
		.rdata = rdata, .rdata_len = sizeof(rdata),
	};
	(void)vg_cache_put(req->env->cache, &rs, VG_RANK_GLUE, req->env->now_s);
}

static const struct vg_forward_zone *find_forward(const struct vg_resolv_opts *opts,
						  const uint8_t *name)
{
	const struct vg_forward_zone *best = NULL;
	int best_labels = -1;
	for (size_t i = 0; i < opts->n_forwards; i++) {
		const struct vg_forward_zone *f = &opts->forwards[i];
		int l = vg_name_labels(f->zone);
		if (l > best_labels && vg_name_is_sub(name, f->zone)) {
			best = f;
			best_labels = l;
		}
	}
	return best;
}

/* The root hints into a root cut: their names and addresses, which a root NS
 * set from the cache (a priming answer without addresses, or naming other
 * servers) adds to but never replaces. */
static int add_hints(struct vg_request *req, struct vg_task *t)
{
	const struct vg_hints *h = req->env->hints;
	for (unsigned i = 0; i < h->n_ns; i++)
		if (task_add_ns(req, t, h->ns[i]) < 0)
			return VG_ENOMEM;
	for (unsigned i = 0; i < h->n_addr; i++) {
		if (h->addr_ns[i] >= h->n_ns)
			continue;
		unsigned k = 0;
		while (k < t->n_ns && !vg_name_eq(t->ns[k], h->ns[h->addr_ns[i]]))
			k++;
		if (k == t->n_ns)
			continue; /* its NS name did not fit in the task */
		task_add_addr(req, t, &h->addr[i], true);
		/* the hint names are now "resolved" as far as we are concerned */
		t->ns_state[k] |= h->addr[i].u.sa.sa_family == AF_INET ? NS_A_DONE : NS_AAAA_DONE;
	}
	return 0;
}

static int find_cut(struct vg_request *req, struct vg_task *t)
{
	const struct vg_forward_zone *fwd = find_forward(opts_of(req), t->sname);
	uint32_t now = req->env->now_s;
	const uint8_t *name = t->sname;

	if (fwd) {
		task_reset_cut(t, fwd->zone);
		t->forward = true;
		t->fwd = fwd;
		for (size_t i = 0; i < fwd->n_upstreams; i++)
			task_add_addr(req, t, &fwd->upstreams[i], false);
		return 0;
	}
	/* DS lives in the parent zone */
	if (t->qtype == VG_T_DS && *name)
		name += *name + 1;
	for (;;) {
		struct vg_cache_entry e;
		if (vg_cache_get(req->env->cache, name, VG_T_NS, now, &e, req->env->scratch2,
				 VG_SCRATCH) == 0 && !e.negative) {
			task_reset_cut(t, name);
			const uint8_t *d = e.rs.rdata, *end = e.rs.rdata + e.rs.rdata_len;
			for (unsigned i = 0; i < e.rs.count && end - d >= 2; i++) {
				uint16_t l = vg_get16(d);
				if (vg_name_check(d + 2, l) > 0 && task_add_ns(req, t, d + 2) < 0)
					return VG_ENOMEM;
				d += 2u + l;
			}
			for (unsigned i = 0; i < t->n_ns; i++)
				task_addrs_from_cache(req, t, t->ns[i]);
			if (t->n_ns > 0)
				return *name == 0 ? add_hints(req, t) : 0;
		}
		if (*name == 0)
			break;
		name += *name + 1;
	}
	/* nothing cached: root hints */
	static const uint8_t root[1] = { 0 };
	task_reset_cut(t, root);
	return add_hints(req, t);
}

/* ------------------------------------------------------------ selection */

/*
 * Mostly the address with the best smoothed RTT (ties broken at random), but
 * one time in EXPLORE_ONE_IN a random usable address that is not failing, so
 * that servers not yet measured, or measured long ago, get a fresh RTT
 * (epsilon-greedy, as Knot Resolver does).  Addresses that failed for this task or are lame for the
 * zone are never chosen; servers marked down only score worse.
 */
#define EXPLORE_ONE_IN 16

/* A TLS forward zone's upstream goes over TLS with its authentication (the
 * task's addresses are the zone's upstreams, found by address). */
static void set_tls(struct vg_outbound *o, const struct vg_task *t)
{
	const struct vg_forward_zone *f = t->forward ? t->fwd : NULL;
	o->use_tls = f && f->tls;
	if (!o->use_tls)
		return;
	/* (every address of a forward task is one of its zone's upstreams; were
	 * one not, it would go with no authentication, which the upstream module
	 * refuses: never in cleartext) */
	o->tls = (struct vg_upstream_tls){ .name = "", .pins = "", .ca_file = "" };
	for (size_t i = 0; i < f->n_upstreams; i++) {
		if (vg_sockaddr_eq(&f->upstreams[i], &o->to)) {
			o->tls = (struct vg_upstream_tls){ .name = f->tls_names[i],
							   .pins = f->spki_pins,
							   .ca_file = f->tls_ca_file };
			break;
		}
	}
}

/* Did @p sa send bogus data for @p zone in this request? */
static int choose_server(struct vg_request *req, struct vg_task *t, uint64_t now_ms)
{
	int best = -1, best_down = -1, usable[MAX_ADDRS];
	unsigned n_usable = 0;
	uint64_t best_score = UINT64_MAX;
	uint32_t unknown = opts_of(req)->upstream_timeout_ms;
	for (unsigned i = 0; i < t->n_addr; i++) {
		if (t->tries[i] >= MAX_TRIES || vg__shunned(req, &t->addr[i], t->zone))
			continue;
		if (!t->forward && vg_infra_is_lame(req->env->infra, &t->addr[i], t->zone, now_ms))
			continue;
		/* a server already known to be down gets one probe per task; a
		 * second only when nothing else is left (a stall, not a death) */
		if (t->tries[i] && vg_infra_is_down(req->env->infra, &t->addr[i], now_ms)) {
			if (t->tries[i] < 2 && best_down < 0)
				best_down = (int)i;
			continue;
		}
		/* exploring is for servers not yet measured or measured well, not
		 * for ones in back-off: their next timeout is long */
		if (!vg_infra_is_failing(req->env->infra, &t->addr[i], now_ms))
			usable[n_usable++] = (int)i;
		uint64_t score = vg_infra_score(req->env->infra, &t->addr[i], now_ms, unknown);
		score = score * 4 + t->tries[i] * 100000ULL + vg_rand_uniform(4);
		if (score < best_score) {
			best_score = score;
			best = (int)i;
		}
	}
	if (n_usable > 1 && vg_rand_uniform(EXPLORE_ONE_IN) == 0)
		return usable[vg_rand_uniform(n_usable)];
	return best >= 0 ? best : best_down;
}

static bool ancestor_asks(const struct vg_request *req, const uint8_t *name, uint16_t type)
{
	for (int i = 0; i <= req->depth; i++)
		if (req->stack[i]->qtype == type && vg_name_eq(req->stack[i]->qname, name))
			return true;
	return false;
}

static struct vg_task *task_new(struct vg_request *req, const uint8_t *qname, uint16_t qtype)
{
	struct vg_task *t = vg_arena_zalloc(req->arena, sizeof(*t));
	if (!t)
		return NULL;
	size_t n = vg_name_len(qname);
	memcpy(t->qname, qname, n);
	vg_name_lower(t->qname);
	memcpy(t->sname, t->qname, n);
	t->qtype = qtype;
	t->sent_idx = -1;
	t->qmin_off = !req->env->opts->qname_minimisation;
	return t;
}

/* Is there a cached zone cut strictly between @p zone and @p name (at or
 * above the parent of @p name)? */
static bool known_cut_below(struct vg_request *req, const uint8_t *name, const uint8_t *zone)
{
	int zl = vg_name_labels(zone);
	if (*name == 0)
		return false;
	for (const uint8_t *n = name + *name + 1; *n && vg_name_labels(n) > zl; n += *n + 1) {
		struct vg_cache_entry e;
		if (vg_cache_get(req->env->cache, n, VG_T_NS, req->env->now_s, &e, req->env->scratch,
				 VG_SCRATCH) == 0 && !e.negative && !e.failure)
			return true;
	}
	return false;
}

/* Start a sub-task for the address of a glue-less NS name. 1 pushed, 0 none, <0 error. */
static int push_glueless(struct vg_request *req, struct vg_task *t)
{
	const struct vg_resolv_opts *opts = opts_of(req);
	if (t->forward || req->depth + 1 >= (int)VG_ARRAY_SIZE(req->stack) ||
	    (unsigned)req->depth + 1 > opts->max_subquery_depth)
		return 0;
	for (unsigned i = 0; i < t->n_ns; i++) {
		uint16_t type;
		uint8_t bit;
		if (!(t->ns_state[i] & NS_A_DONE)) {
			type = VG_T_A;
			bit = NS_A_DONE;
		} else if (!(t->ns_state[i] & NS_AAAA_DONE) && opts->use_ipv6_upstream) {
			type = VG_T_AAAA;
			bit = NS_AAAA_DONE;
		} else {
			continue;
		}
		t->ns_state[i] |= bit;
		/* a name server inside the zone it serves can only be found through
		 * that zone's own servers, which we could ask the question directly;
		 * unless it lies in a zone delegated from there whose servers we know
		 * (the root's servers under root-servers.net., say) */
		if (vg_name_is_sub(t->ns[i], t->zone) && !known_cut_below(req, t->ns[i], t->zone))
			continue;
		/* its address is known already (glue or cache): it is in t->addr */
		if (vg_cache_has(req->env->cache, t->ns[i], type, req->env->now_s))
			continue;
		if (ancestor_asks(req, t->ns[i], type))
			continue;
		if (++t->glueless > opts->max_glueless_ns)
			return 0;
		struct vg_task *sub = task_new(req, t->ns[i], type);
		if (!sub)
			return VG_ENOMEM;
		req->stack[++req->depth] = sub;
		if ((unsigned)req->depth > req->used.depth_max)
			req->used.depth_max = (unsigned)req->depth;
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------ cache stage */

static void task_done(struct vg_task *t, int rcode)
{
	t->done = true;
	t->rcode = rcode;
}

/* Result of a finished sub-task: its addresses go to the parent. */
static int deliver(struct vg_request *req, struct vg_task *t, struct vg_rrset *rs,
		   struct vg_rrset *sig, uint8_t sec)
{
	if (is_client_task(req, t))
		return append_answer_x(req, t, rs, sig, sec, false);
	if (t->val_fetch) {
		t->res.rs = rs;
		t->res.sig = sig;
		t->res.sec = sec;
		t->res.from = t->from;
		t->res.zone = t->cut_valid ? vg_arena_dup(req->arena, t->zone, vg_name_len(t->zone))
					   : NULL;
		return 0;
	}
	if (rs->type == VG_T_A || rs->type == VG_T_AAAA)
		task_add_rrset_addrs(req, req->stack[req->depth - 1], rs);
	return 0;
}

static int follow_cname(struct vg_request *req, struct vg_task *t, const uint8_t *target)
{
	if (++req->used.cnames > opts_of(req)->max_cname_chain)
		return VG_ELIMIT;
	memmove(t->sname, target, vg_name_len(target));
	vg_name_lower(t->sname);
	t->cut_valid = false;
	t->qmin_off = !opts_of(req)->qname_minimisation;
	t->minimised_sent = 0;
	return 0;
}

/* Build the CNAME a DNAME implies for @p name (RFC 6672). */
static struct vg_rrset *synth_cname(struct vg_request *req, const uint8_t *name,
				    const struct vg_rrset *dname, int *yxdomain)
{
	uint16_t tlen;
	const uint8_t *target = vg__first_rdata(dname, &tlen);
	if (vg_name_check(target, tlen) < 0)
		return NULL;
	size_t keep = vg_name_len(name) - vg_name_len(dname->owner); /* labels before the owner */
	size_t tl = vg_name_len(target);
	if (keep + tl > VG_NAME_MAX) {
		*yxdomain = 1;
		return NULL;
	}
	uint8_t *rd = vg_arena_alloc(req->arena, 2 + keep + tl);
	struct vg_rrset *rs = vg_arena_alloc(req->arena, sizeof(*rs));
	uint8_t *owner = vg_arena_dup(req->arena, name, vg_name_len(name));
	if (!rd || !rs || !owner)
		return NULL;
	vg_put16(rd, (uint16_t)(keep + tl));
	memcpy(rd + 2, name, keep);
	memcpy(rd + 2 + keep, target, tl);
	rs->owner = owner;
	rs->type = VG_T_CNAME;
	rs->rclass = VG_C_IN;
	rs->ttl = dname->ttl;
	rs->count = 1;
	rs->rdata_len = (uint16_t)(2 + keep + tl);
	rs->rdata = rd;
	return rs;
}

/* Where a task's negative result goes: the request (top task) or the task. */
static struct vg_result *neg_result(struct vg_request *req, struct vg_task *t)
{
	if (is_client_task(req, t))
		return &req->neg;
	return t->val_fetch ? &t->res : NULL;
}

/* A cached negative entry: its SOA and proof records into the task's result. */
static int neg_from_cache(struct vg_request *req, struct vg_task *t, const struct vg_cache_entry *e)
{
	struct vg_result *r = neg_result(req, t);
	if (!r)
		return 0;
	r->negative = true;
	r->sec = e->sec;
	r->ede = e->ede;
	r->name = vg_arena_dup(req->arena, t->sname, vg_name_len(t->sname));
	r->type = t->qtype;
	if (!r->name)
		return VG_ENOMEM;
	if (e->soa.count && !(r->soa = vg__rrset_dup(req, &e->soa)))
		return VG_ENOMEM;
	if (is_client_task(req, t))
		req->soa = r->soa;
	if (e->proof_len) {
		struct vg_rrset store[2 * VG_AUTH_MAX + 1];
		struct vg_result tmp;
		memset(&tmp, 0, sizeof(tmp));
		vg__proof_unpack(e->proof, e->proof_len, &tmp, store, VG_ARRAY_SIZE(store));
		if (tmp.soa_sig && !(r->soa_sig = vg__rrset_dup(req, tmp.soa_sig)))
			return VG_ENOMEM;
		/* after the proofs of wildcard expansions earlier in the chain */
		if (vg__proof_add(req, r, &tmp, true, e->ttl) < 0)
			return VG_ENOMEM;
	}
	return 0;
}

/* Cached data that failed validation, for a client that wants validated data. */
static bool bogus_for(const struct vg_request *req, const struct vg_task *t,
		      const struct vg_cache_entry *e)
{
	return e->sec == VG_SEC_BOGUS && req->validate && is_client_task(req, t);
}

/* An unvalidated wildcard expansion in the cache (stored for a CD=1 client)
 * without the proof a validating client needs: a fresh answer is (with its
 * proof, the validator checks the cached one). */
static bool unproven_wildcard(const struct vg_request *req, const struct vg_task *t,
			      const struct vg_cache_entry *e)
{
	if (!req->validate || !is_client_task(req, t) || e->negative || e->sec != VG_SEC_UNCHECKED ||
	    e->proof_len)
		return false;
	return vg__is_expansion(&e->rs, &e->sigs);
}

static int cached_bogus(struct vg_request *req, struct vg_task *t, const struct vg_cache_entry *e)
{
	req->fail_reason = "DNSSEC validation failed (cached)";
	req->fail_cached = true;
	req->ede = e->ede ? e->ede : VG_EDE_BOGUS;
	req->sec = VG_SEC_BOGUS;
	task_done(t, VG_RCODE_SERVFAIL);
	return 1;
}

/* RFC 8198: validated NSEC records in the cache prove the name or type absent,
 * so no upstream query is needed.  1 answered, 0 not, <0 error. */
static int try_aggressive(struct vg_request *req, struct vg_task *t, uint32_t now)
{
	struct vg_aggr_answer a;
	if (vg_aggr_get(vg_cache_aggr(req->env->cache), t->sname, t->qtype, now, &a,
			req->env->scratch, VG_SCRATCH) != 0)
		return 0;
	struct vg_result *r = &req->neg;
	r->negative = true;
	r->sec = VG_SEC_SECURE;
	r->name = vg_arena_dup(req->arena, t->sname, vg_name_len(t->sname));
	r->type = t->qtype;
	r->soa = vg__rrset_dup(req, &a.soa);
	r->soa_sig = vg__rrset_dup(req, &a.soa_sig);
	if (!r->name || !r->soa || !r->soa_sig)
		return VG_ENOMEM;
	r->n_auth = 0;
	for (unsigned i = 0; i < a.n; i++) {
		r->auth[i] = vg__rrset_dup(req, &a.nsec[i]);
		r->auth_sig[i] = vg__rrset_dup(req, &a.nsec_sig[i]);
		if (!r->auth[i] || !r->auth_sig[i])
			return VG_ENOMEM;
		r->n_auth++;
	}
	req->soa = r->soa;
	req->aggressive = true;
	task_done(t, a.nxdomain ? VG_RCODE_NXDOMAIN : VG_RCODE_NOERROR);
	return 1;
}

/* 1 = finished, 2 = moved along a CNAME, 0 = miss, <0 = error */
static int try_cache(struct vg_request *req, struct vg_task *t)
{
	struct vg_cache_entry e;
	struct vg_cache *c = req->env->cache;
	uint8_t *buf = req->env->scratch;
	uint32_t now = req->env->now_s;

	t->from.set = false; /* what it takes here comes from the cache */
	if (req->refresh && is_client_task(req, t) && req->n_answer == 0 &&
	    vg_name_eq(t->sname, req->qname))
		return 0; /* prefetch: what the cache holds is what is being renewed */
	int found = t->qtype == VG_T_ANY ? VG_ENOTFOUND
					  : vg_cache_get(c, t->sname, t->qtype, now, &e, buf, VG_SCRATCH);
	if (found == 0 && e.failure && is_client_task(req, t) && req->n_answer == 0 &&
	    !(req->cd && e.sec == VG_SEC_BOGUS)) {
		req->fail_reason = e.sec == VG_SEC_BOGUS ? "DNSSEC validation failed (cached)"
							 : "failure cached (RFC 9520)";
		req->fail_cached = true;
		if (e.sec == VG_SEC_BOGUS) {
			req->ede = e.ede;
			req->sec = VG_SEC_BOGUS;
		} else {
			req->ede = VG_EDE_CACHED_ERROR;
			req->ede_text = ede_text(req, "%s", vg_ede_cached_text(e.ede));
		}
		task_done(t, VG_RCODE_SERVFAIL);
		return 1;
	}
	if (found == 0 && !e.failure && (e.negative || e.rank >= VG_RANK_NONAUTH) &&
	    !unproven_wildcard(req, t, &e)) {
		if (bogus_for(req, t, &e))
			return cached_bogus(req, t, &e);
		if (e.negative) {
			if (neg_from_cache(req, t, &e) < 0)
				return VG_ENOMEM;
			task_done(t, VG_RCODE_NOERROR);
			return 1;
		}
		struct vg_rrset *rs = vg__rrset_dup(req, &e.rs);
		struct vg_rrset *sg = e.sigs.count ? vg__rrset_dup(req, &e.sigs) : NULL;
		if (!rs || (e.sigs.count && !sg) || deliver(req, t, rs, sg, e.sec) < 0)
			return VG_ENOMEM;
		if (e.proof_len && is_client_task(req, t) && proof_from_cache(req, &e) < 0)
			return VG_ENOMEM;
		task_done(t, VG_RCODE_NOERROR);
		return 1;
	}
	if (t->qtype != VG_T_CNAME &&
	    vg_cache_get(c, t->sname, VG_T_CNAME, now, &e, buf, VG_SCRATCH) == 0 && !e.negative &&
	    e.rank >= VG_RANK_NONAUTH) {
		if (bogus_for(req, t, &e))
			return cached_bogus(req, t, &e);
		const uint8_t *target = vg__rrset_target(&e.rs);
		struct vg_rrset *rs = vg__rrset_dup(req, &e.rs);
		struct vg_rrset *sg = e.sigs.count ? vg__rrset_dup(req, &e.sigs) : NULL;
		if (!target || !rs)
			return VG_ENOMEM;
		if (append_answer_x(req, t, rs, sg, e.sec, false) < 0)
			return VG_ELIMIT;
		if (e.proof_len && is_client_task(req, t) && proof_from_cache(req, &e) < 0)
			return VG_ENOMEM;
		target = vg__rrset_target(rs);
		int r = follow_cname(req, t, target);
		return r < 0 ? r : 2;
	}
	/* a cached DNAME at an ancestor: synthesize the CNAME (RFC 6672); the
	 * synthesized CNAME is never cached itself, so answers keep their DNAME */
	for (const uint8_t *anc = t->sname; *anc;) {
		anc += *anc + 1;
		if (vg_cache_get(c, anc, VG_T_DNAME, now, &e, buf, VG_SCRATCH) != 0 || e.negative ||
		    e.failure || e.rank < VG_RANK_NONAUTH)
			continue;
		if (bogus_for(req, t, &e))
			return cached_bogus(req, t, &e);
		int yx = 0;
		struct vg_rrset *dn = vg__rrset_dup(req, &e.rs);
		struct vg_rrset *dsig = e.sigs.count ? vg__rrset_dup(req, &e.sigs) : NULL;
		struct vg_rrset *cn = dn ? synth_cname(req, t->sname, dn, &yx) : NULL;
		if (yx) {
			if (append_answer_x(req, t, dn, dsig, e.sec, false) < 0)
				return VG_ELIMIT;
			task_done(t, 6 /* YXDOMAIN */);
			return 1;
		}
		const uint8_t *target = cn ? vg__rrset_target(cn) : NULL;
		if (!target)
			return VG_ENOMEM;
		if (append_answer_x(req, t, dn, dsig, e.sec, false) < 0 ||
		    append_answer_x(req, t, cn, NULL, VG_SEC_UNCHECKED, true) < 0)
			return VG_ELIMIT;
		int r = follow_cname(req, t, target);
		return r < 0 ? r : 2;
	}
	if (vg_cache_get(c, t->sname, 0, now, &e, buf, VG_SCRATCH) == 0 && e.negative) {
		if (bogus_for(req, t, &e))
			return cached_bogus(req, t, &e);
		if (neg_from_cache(req, t, &e) < 0)
			return VG_ENOMEM;
		task_done(t, VG_RCODE_NXDOMAIN);
		return 1;
	}
	if (is_client_task(req, t) && req->validate && dnssec_of(req)->aggressive_nsec)
		return try_aggressive(req, t, now);
	return 0;
}

/* ------------------------------------------------------------ validator fetches */

#define MAX_FETCHES 48 /* DS/DNSKEY fetches per client query */

static int add_fetch(struct vg_request *req, const struct vg_result *res, uint16_t type)
{
	struct vg_fetch *f = vg_arena_zalloc(req->arena, sizeof(*f));
	if (!f)
		return VG_ENOMEM;
	f->type = type;
	f->res = *res;
	f->next = req->fetched;
	req->fetched = f;
	return 0;
}

/* A finished fetch task: its result becomes visible to the validator. */
static int record_fetch(struct vg_request *req, struct vg_task *t)
{
	t->res.rcode = t->rcode;
	t->res.type = t->qtype;
	if (t->rcode == VG_RCODE_NXDOMAIN)
		t->res.negative = true;
	if (t->rcode == VG_RCODE_NOERROR && !t->res.rs)
		t->res.negative = true;
	return add_fetch(req, &t->res, t->qtype);
}

/* The validator needs (name, type): resolve it in a sub-task. */
static int push_fetch(struct vg_request *req, const uint8_t *name, uint16_t type)
{
	if (req->n_fetches++ >= MAX_FETCHES || req->depth + 1 >= (int)VG_ARRAY_SIZE(req->stack)) {
		struct vg_result r;
		memset(&r, 0, sizeof(r));
		r.rcode = VG_RCODE_SERVFAIL;
		r.type = type;
		r.name = vg_arena_dup(req->arena, name, vg_name_len(name));
		return r.name ? add_fetch(req, &r, type) : VG_ENOMEM;
	}
	struct vg_task *sub = task_new(req, name, type);
	if (!sub)
		return VG_ENOMEM;
	sub->val_fetch = true;
	sub->res.name = vg_arena_dup(req->arena, sub->qname, vg_name_len(sub->qname));
	sub->res.type = type;
	if (!sub->res.name)
		return VG_ENOMEM;
	req->stack[++req->depth] = sub;
	if ((unsigned)req->depth > req->used.depth_max)
		req->used.depth_max = (unsigned)req->depth;
	return 0;
}

/* ------------------------------------------------------------ bogus answers */

/*
 * The answer is bogus.  Drop what the validator blamed (and the answer's
 * bogus parts) from the cache, keep the servers that sent it from being
 * asked again for their zone in this request, and resolve the question
 * again.  1 restarted, 0 not (no retries left, nothing to blame, or no
 * progress possible), <0 out of memory.
 */
static int retry_bogus(struct vg_request *req)
{
	unsigned shunned_now = 0;
	if (req->cd || req->bogus_retries >= VG_RESOLV_BOGUS_RETRIES || !req->n_blame ||
	    !vg__bogus_forget(req, &shunned_now))
		return 0;
	struct vg_task *t = task_new(req, req->qname, req->qtype);
	if (!t)
		return VG_ENOMEM;
	req->bogus_retries++;
	if (!req->bogus_ede)
		req->bogus_ede = req->ede;
	vg__bogus_log(req, shunned_now);
	req->stack[0] = t;
	req->depth = 0;
	req->rcode = VG_RCODE_SERVFAIL;
	req->n_answer = 0;
	req->soa = NULL;
	memset(&req->neg, 0, sizeof(req->neg));
	req->fetched = NULL;
	vg__val_cleanup(req);
	req->aggressive = false;
	req->sec = VG_SEC_UNCHECKED;
	req->ede = 0;
	req->ede_text = NULL;
	req->n_blame = 0;
	req->used.cnames = 0; /* the same chain again */
	/* the fetches start again, but the validation budget (signature checks,
	 * NSEC3 hashes) goes on: retries must not multiply the per-query bound */
	req->n_fetches = 0;
	return 1;
}

/* ------------------------------------------------------------ the loop */

/* How long the try about to go to address @p idx of @p t waits: the server's
 * retransmission timeout (its smoothed RTT, backed off by its consecutive
 * failures), and at least twice what this task's last try to it waited.
 * The server's back-off is reset by any answer it gives, so a server that
 * answers other queries but drops this one -- response rate limiting does
 * that for minutes -- would otherwise get every retry after its shortest
 * timeout, and the task would give up within a fraction of a second. */
static uint32_t send_timeout(struct vg_request *req, struct vg_task *t, int idx, uint64_t now_ms)
{
	uint32_t to = vg_infra_timeout(req->env->infra, &t->addr[idx], now_ms,
				       opts_of(req)->upstream_timeout_ms);
	uint32_t last = t->last_timeout[idx];
	if (t->tries[idx] && last && to < 2 * last)
		to = 2 * last < VG_INFRA_RTO_MAX ? 2 * last : VG_INFRA_RTO_MAX;
	t->last_timeout[idx] = (uint16_t)(to < UINT16_MAX ? to : UINT16_MAX);
	return to;
}

static enum vg_step step(struct vg_request *req, uint64_t now_ms)
{
	const struct vg_resolv_opts *opts = opts_of(req);
	const struct vg_dnssec_opts *dopts = dnssec_of(req);
	vg__budget_slice(req); /* (validate.c, "Slices") */
	for (unsigned guard = 0; guard < STEP_GUARD; guard++) {
		struct vg_task *t = req->stack[req->depth];
		if (t->done) {
			if (req->depth == 0) {
				req->rcode = t->rcode;
				if (t->rcode == VG_RCODE_SERVFAIL)
					return req->fail_cached ? VG_STEP_FAIL : fail(req, NULL);
				if (req->validate && req->vbudget.slice_left == 0)
					return VG_STEP_YIELD; /* a big reply: validate later */
				if (req->validate) {
					uint8_t need[VG_NAME_MAX];
					uint16_t need_type;
					int v = vg__val_run(req, need, &need_type);
					if (v < 0)
						return fail(req, "out of memory");
					if (v == 2)
						return VG_STEP_YIELD; /* vg_resolv_resume */
					if (v > 0) {
						if (push_fetch(req, need, need_type) < 0)
							return fail(req, "out of memory");
						continue;
					}
					if (req->sec == VG_SEC_BOGUS) {
						if (retry_bogus(req) > 0)
							continue;
						return fail(req, "DNSSEC validation failed");
					}
				}
				return VG_STEP_ANSWER;
			}
			if (t->val_fetch && record_fetch(req, t) < 0)
				return fail(req, "out of memory");
			req->depth--; /* the parent already has any addresses found */
			continue;
		}
		int r = try_cache(req, t);
		if (r == VG_ELIMIT)
			return fail(req, "CNAME chain too long");
		if (r < 0)
			return fail(req, "out of memory");
		if (r > 0)
			continue;
		if (!t->cut_valid && find_cut(req, t) < 0)
			return fail(req, "out of memory");
		if (vg_log_enabled(VG_LOG_DEBUG)) {
			char zs[VG_NAME_MAX * 4 + 8], ns[VG_NAME_MAX * 4 + 8];
			vg_name_to_str(t->zone, zs, sizeof(zs));
			vg_name_to_str(t->sname, ns, sizeof(ns));
			vg_log(VG_LOG_DEBUG, "[%d] %s type %u: zone cut %s%s, %u name servers, %u addresses",
			       req->depth, ns, t->qtype, zs, t->forward ? " (forward)" : "", t->n_ns,
			       t->n_addr);
		}
		int idx = choose_server(req, t, now_ms);
		if (idx >= 0 && (t->tries[idx] > 0 ||
				 vg_infra_is_down(req->env->infra, &t->addr[idx], now_ms))) {
			/* only retries or down servers left: a glue-less NS may do better */
			r = push_glueless(req, t);
			if (r < 0)
				return fail(req, "out of memory");
			if (r > 0)
				continue;
		}
		if (idx < 0) {
			r = push_glueless(req, t);
			if (r < 0)
				return fail(req, "out of memory");
			if (r > 0)
				continue;
			if (is_client_task(req, t)) {
				req->fail_reason = "no reachable name server";
				unreachable(req, t);
			}
			task_done(t, VG_RCODE_SERVFAIL);
			continue;
		}
		if (++req->used.upstream > opts->max_upstream_queries)
			return fail(req, "upstream query limit reached");

		struct vg_outbound *o = &req->out;
		o->to = t->addr[idx];
		o->rd = t->forward;
		o->do_bit = dopts->validation;
		o->timeout_ms = send_timeout(req, t, idx, now_ms);
		set_tls(o, t);
		t->sent_idx = idx;
		t->sent_min = false;
		int zl = vg_name_labels(t->zone), sl = vg_name_labels(t->sname);
		if (t->qmin_labels < zl)
			t->qmin_labels = zl;
		while (!t->forward && !t->qmin_off && t->qmin_labels + 1 < sl &&
		       no_cut(req, vg_name_suffix(t->sname, t->qmin_labels + 1)))
			t->qmin_labels++; /* known to be in this zone: no need to ask */
		if (!t->forward && !t->qmin_off && t->qtype != VG_T_DS &&
		    t->qmin_labels + 1 < sl && t->minimised_sent < MAX_MINIMISE) {
			const uint8_t *suffix = vg_name_suffix(t->sname, t->qmin_labels + 1);
			memcpy(o->qname, suffix, vg_name_len(suffix));
			o->qtype = VG_T_A;
			t->sent_min = true;
			t->minimised_sent++;
		} else {
			memcpy(o->qname, t->sname, vg_name_len(t->sname));
			o->qtype = t->qtype;
		}
		return VG_STEP_SEND;
	}
	return fail(req, "iteration limit reached");
}

/* ------------------------------------------------------------ responses */

static void server_failed(struct vg_request *req, struct vg_task *t, bool for_good)
{
	(void)req;
	if (t->sent_idx < 0 || (unsigned)t->sent_idx >= t->n_addr)
		return;
	if (for_good)
		t->tries[t->sent_idx] = TRIED_OUT;
	else if (t->tries[t->sent_idx] < TRIED_OUT)
		t->tries[t->sent_idx]++;
}

/* The NS owner if @p m is a referral below the current cut, else NULL. */
static bool find_referral(const struct vg_msg *m, const struct vg_task *t, const uint8_t *asked,
			  uint8_t *zone_out)
{
	if (m->ancount != 0)
		return false;
	for (unsigned i = m->sec_start[VG_SEC_NS]; i < m->sec_start[VG_SEC_AR]; i++) {
		const struct vg_rr *rr = &m->rr[i];
		if (rr->type == VG_T_SOA)
			return false;
	}
	for (unsigned i = m->sec_start[VG_SEC_NS]; i < m->sec_start[VG_SEC_AR]; i++) {
		const struct vg_rr *rr = &m->rr[i];
		if (rr->type != VG_T_NS || rr->rclass != VG_C_IN)
			continue;
		if (vg_name_unpack(m->pkt, m->len, rr->owner, zone_out, true, NULL) < 0)
			continue;
		if (vg_name_is_sub(asked, zone_out) && vg_name_is_sub(zone_out, t->zone) &&
		    vg_name_labels(zone_out) > vg_name_labels(t->zone))
			return true;
	}
	return false;
}

/* Cache in-bailiwick glue for the NS targets of @p ns.  A referral's (@p
 * referral) is the parent's glue: added to @p t, and kept apart too
 * (T_PARENT_A); an NS answer's additional addresses are only cached. */
static void take_glue(struct vg_request *req, struct vg_task *t, const struct vg_msg *m,
		      const struct vg_rrset *ns, const uint8_t *bailiwick, bool referral)
{
	const uint8_t *d = ns->rdata, *end = ns->rdata + ns->rdata_len;
	uint32_t now = req->env->now_s;
	/* only as many as a task keeps: each lookup scans the additional section */
	for (unsigned i = 0; i < ns->count && i < MAX_NS && end - d >= 2; i++) {
		uint16_t l = vg_get16(d);
		const uint8_t *target = d + 2;
		d += 2u + l;
		if (vg_name_check(target, l) < 0 || !vg_name_is_sub(target, bailiwick))
			continue;
		static const uint16_t types[2] = { VG_T_A, VG_T_AAAA };
		for (int k = 0; k < 2; k++) {
			struct vg_rrset *g = vg__collect(req, m, VG_SEC_AR, target, types[k]);
			if (!g)
				continue;
			vg_cache_put(req->env->cache, g, VG_RANK_GLUE, now);
			if (referral) {
				task_add_rrset_addrs(req, t, g);
				struct vg_rrset pg = *g;
				pg.type = k == 0 ? T_PARENT_A : T_PARENT_AAAA;
				vg_cache_put(req->env->cache, &pg, VG_RANK_GLUE, now);
			}
		}
	}
}

/*
 * A signed referral carries the child's DS set and its RRSIG from the parent
 * (RFC 4035 3.1.4): cached (unchecked; the validator verifies it as it would
 * a DS answer), the validator finds it there instead of asking the parent
 * again -- one upstream query less for every signed delegation on a miss.
 * Without a signed DS set (an unsigned delegation's denial) the validator
 * still asks.
 */
static void referral_ds(struct vg_request *req, const struct vg_msg *m, const uint8_t *zone)
{
	if (!req->validate)
		return;
	struct vg_rrset *ds = vg__collect(req, m, VG_SEC_NS, zone, VG_T_DS);
	struct vg_rrset *sig = ds ? vg__collect_sigs(req, m, VG_SEC_NS, zone, VG_T_DS) : NULL;
	if (ds && sig)
		vg_cache_put_signed(req->env->cache, ds, sig, VG_RANK_NONAUTH, VG_SEC_UNCHECKED,
				    req->env->now_s);
}

static enum vg_step on_referral(struct vg_request *req, struct vg_task *t, const struct vg_msg *m,
				const uint8_t *zone, uint64_t now_ms)
{
	if (++req->used.referrals > opts_of(req)->max_referrals)
		return fail(req, "referral limit reached");
	struct vg_rrset *ns = vg__collect(req, m, VG_SEC_NS, zone, VG_T_NS);
	if (!ns)
		return fail(req, "out of memory");
	uint8_t old_zone[VG_NAME_MAX];
	memcpy(old_zone, t->zone, vg_name_len(t->zone));
	task_reset_cut(t, zone);
	const uint8_t *d = ns->rdata, *end = ns->rdata + ns->rdata_len;
	for (unsigned i = 0; i < ns->count && end - d >= 2; i++) {
		uint16_t l = vg_get16(d);
		if (vg_name_check(d + 2, l) > 0 && task_add_ns(req, t, d + 2) < 0)
			return fail(req, "out of memory");
		d += 2u + l;
	}
	take_glue(req, t, m, ns, old_zone, true);
	/* the NS RRset goes into the cache after its glue: another worker that
	 * finds the new cut there must find its addresses too (in between, it
	 * saw a cut whose in-bailiwick name servers it could not resolve, and
	 * answered SERVFAIL "0 addresses tried") */
	vg_cache_put(req->env->cache, ns, VG_RANK_REFERRAL, req->env->now_s);
	referral_ds(req, m, zone);
	for (unsigned i = 0; i < t->n_ns; i++)
		task_addrs_from_cache(req, t, t->ns[i]);
	return step(req, now_ms);
}

static enum vg_step negative(struct vg_request *req, struct vg_task *t, const struct vg_msg *m,
			     const uint8_t *bailiwick, struct vg_rrset *soa, bool nxdomain,
			     uint8_t rank, uint64_t now_ms)
{
	struct vg_result tmp, *r = neg_result(req, t);
	if (!r) {
		memset(&tmp, 0, sizeof(tmp));
		r = &tmp;
	}
	r->negative = true;
	r->soa = soa;
	r->from = t->from;
	r->zone = vg_arena_dup(req->arena, t->zone, vg_name_len(t->zone));
	r->name = vg_arena_dup(req->arena, t->sname, vg_name_len(t->sname));
	r->type = t->qtype;
	vg__collect_proof(req, m, bailiwick, r);
	if (soa) {
		uint32_t ttl = vg_cache_clamp_ttl(req->env->cache, vg__soa_negative_ttl(soa), true);
		soa->ttl = ttl;
		size_t plen = vg__proof_pack(r, req->env->scratch, VG_SCRATCH);
		vg_cache_put_neg_proof(req->env->cache, t->sname, nxdomain ? 0 : t->qtype, soa, ttl,
				       rank, VG_SEC_UNCHECKED, req->env->scratch, plen,
				       req->env->now_s);
		if (is_client_task(req, t))
			req->soa = soa;
	}
	task_done(t, nxdomain ? VG_RCODE_NXDOMAIN : VG_RCODE_NOERROR);
	return step(req, now_ms);
}

/* An answer (not a referral) to the full question: follow the chain. */
static enum vg_step on_answer(struct vg_request *req, struct vg_task *t, const struct vg_msg *m,
			      int rc, uint64_t now_ms)
{
	static const uint8_t root[1] = { 0 };
	const uint8_t *bailiwick = t->forward ? root : t->zone;
	uint8_t rank = (m->flags & VG_F_AA) && !t->forward ? VG_RANK_AUTH : VG_RANK_NONAUTH;
	uint32_t now = req->env->now_s;
	bool moved = false;

	for (unsigned hop = 0; hop <= opts_of(req)->max_cname_chain; hop++) {
		if (!vg_name_is_sub(t->sname, bailiwick))
			break;
		struct vg_rrset *rs = NULL;
		if (t->qtype == VG_T_ANY) {
			/* ANY: every RRset at the name is the answer */
			for (unsigned i = m->sec_start[VG_SEC_AN]; i < m->sec_start[VG_SEC_NS]; i++) {
				uint8_t owner[VG_NAME_MAX];
				const struct vg_rr *rr = &m->rr[i];
				/* (RRSIGs go with the RRset they cover) */
				if (rr->type == VG_T_RRSIG ||
				    vg_name_unpack(m->pkt, m->len, rr->owner, owner, true, NULL) < 0 ||
				    !vg_name_eq(owner, t->sname) || in_answer(req, owner, rr->type))
					continue;
				rs = vg__collect(req, m, VG_SEC_AN, t->sname, rr->type);
				if (rs && append_answer_x(req, t, rs,
							  vg__collect_sigs(req, m, VG_SEC_AN, t->sname,
								       rr->type),
							  VG_SEC_UNCHECKED, false) < 0)
					break;
			}
			if (rs) {
				task_done(t, VG_RCODE_NOERROR);
				return step(req, now_ms);
			}
		} else if ((rs = vg__collect(req, m, VG_SEC_AN, t->sname, t->qtype))) {
			/* type RRSIG: every RRSIG at the name, not validated (peers
			 * answer them so too: they are signatures, not signed data) */
			bool rrsig = t->qtype == VG_T_RRSIG;
			uint8_t sec = rrsig ? VG_SEC_INSECURE : VG_SEC_UNCHECKED;
			struct vg_rrset *sig = rrsig ? NULL
						     : vg__collect_sigs(req, m, VG_SEC_AN, t->sname, t->qtype);
			if (put_answer(req, t, m, bailiwick, rs, sig, rank, sec) < 0)
				return fail(req, "out of memory");
			if (rs->type == VG_T_NS)
				take_glue(req, t, m, rs, bailiwick, false);
			if (deliver(req, t, rs, sig, sec) < 0)
				return fail(req, "answer too long");
			task_done(t, VG_RCODE_NOERROR);
			return step(req, now_ms);
		}
		/* a DNAME is preferred to the CNAME the server synthesized from it */
		struct vg_rrset *dn = vg__find_dname(req, m, t->sname, bailiwick);
		if (dn && t->qtype != VG_T_DNAME) {
			int yx = 0;
			struct vg_rrset *cn = synth_cname(req, t->sname, dn, &yx);
			struct vg_rrset *dsig = vg__collect_sigs(req, m, VG_SEC_AN, dn->owner, VG_T_DNAME);
			if (yx) {
				append_answer_x(req, t, dn, dsig, VG_SEC_UNCHECKED, false);
				task_done(t, 6 /* YXDOMAIN */);
				return step(req, now_ms);
			}
			if (!cn)
				break;
			/* not cn: see try_cache */
			vg_cache_put_signed(req->env->cache, dn, dsig, rank, VG_SEC_UNCHECKED, now);
			const uint8_t *target = vg__rrset_target(cn);
			if (!target)
				break;
			if (append_answer_x(req, t, dn, dsig, VG_SEC_UNCHECKED, false) < 0 ||
			    append_answer_x(req, t, cn, NULL, VG_SEC_UNCHECKED, true) < 0 ||
			    follow_cname(req, t, target) < 0)
				return fail(req, "CNAME chain too long");
			moved = true;
			continue;
		}
		if (t->qtype != VG_T_CNAME && (rs = vg__collect(req, m, VG_SEC_AN, t->sname, VG_T_CNAME))) {
			const uint8_t *target = vg__rrset_target(rs);
			if (!target)
				break;
			struct vg_rrset *sig = vg__collect_sigs(req, m, VG_SEC_AN, t->sname, VG_T_CNAME);
			if (put_answer(req, t, m, bailiwick, rs, sig, rank, VG_SEC_UNCHECKED) < 0)
				return fail(req, "out of memory");
			if (append_answer_x(req, t, rs, sig, VG_SEC_UNCHECKED, false) < 0 ||
			    follow_cname(req, t, target) < 0)
				return fail(req, "CNAME chain too long");
			moved = true;
			continue;
		}
		break;
	}

	if (moved && !vg_name_is_sub(t->sname, bailiwick))
		return step(req, now_ms); /* the chain left this server's zone */
	struct vg_rrset *soa = vg__find_soa(req, m, bailiwick, t->sname);
	if (rc == VG_RCODE_NXDOMAIN)
		return negative(req, t, m, bailiwick, soa, true, rank, now_ms);
	if (soa || ((m->flags & VG_F_AA) && !moved && m->ancount == 0))
		return negative(req, t, m, bailiwick, soa, false, rank, now_ms);
	if (moved)
		return step(req, now_ms); /* chain leads elsewhere: resolve the target */
	/* neither answer, referral nor proof of absence: the server is lame */
	vg_infra_lame(req->env->infra, &t->addr[t->sent_idx], t->zone, now_ms);
	req->up.lame++;
	server_failed(req, t, true);
	return step(req, now_ms);
}

enum vg_step vg_resolv_consume_parsed(struct vg_request *req, int status, const uint8_t *pkt,
				      size_t len, struct vg_msg *parsed)
{
	uint64_t now_ms = req->env->now_ms;
	struct vg_task *t = req->stack[req->depth];
	struct vg_msg *m = parsed ? parsed : req->env->msg;

	if (status < 0 || (!parsed && vg_msg_parse(m, pkt, len) < 0)) {
		if (status >= 0 || status == VG_EMALFORMED) {
			req->up.malformed++;
		} else if (status == -ETIMEDOUT) {
			req->up.timeouts++;
		} else {
			req->up.neterr++;
			req->up.last_err = status;
		}
		server_failed(req, t, status >= 0);
		return step(req, now_ms);
	}
	int rc = VG_F_RCODE(m->flags);
	if (rc != VG_RCODE_NOERROR && rc != VG_RCODE_NXDOMAIN) {
		if (t->sent_min && rc != VG_RCODE_REFUSED) {
			t->qmin_off = true; /* relaxed mode: some servers reject minimised names */
			return step(req, now_ms);
		}
		if (rc == VG_RCODE_REFUSED && !t->forward)
			vg_infra_lame(req->env->infra, &t->addr[t->sent_idx], t->zone, now_ms);
		req->up.refused++; /* REFUSED, SERVFAIL, NOTIMP...: counted together */
		server_failed(req, t, true);
		return step(req, now_ms);
	}
	vg_msg_hash_owners(m); /* for the RRsets gathered from it (rrsets.c) */
	req->slice_rrs = m->nrr; /* (a cost to the validation's slice) */
	uint8_t zone[VG_NAME_MAX];
	const uint8_t *asked = t->sent_min ? req->out.qname : t->sname;
	if (!t->forward && rc == VG_RCODE_NOERROR && find_referral(m, t, asked, zone))
		return on_referral(req, t, m, zone, now_ms);
	if (t->sent_min) {
		if (rc == VG_RCODE_NXDOMAIN) {
			t->qmin_off = true; /* relaxed: ask the full name before believing it */
		} else {
			t->qmin_labels = vg_name_labels(req->out.qname);
			put_no_cut(req, m, req->out.qname);
		}
		return step(req, now_ms);
	}
	t->from.set = true;
	t->from.addr = req->out.to;
	return on_answer(req, t, m, rc, now_ms);
}

enum vg_step vg_resolv_resume(struct vg_request *req)
{
	return step(req, req->env->now_ms);
}

void vg_resolv_expire(struct vg_request *req)
{
	struct vg_task *t = req->stack[req->depth];
	req->fail_reason = "request time limit reached";
	if (!req->ede && (req->up.timeouts || req->up.neterr) && t)
		unreachable(req, t);
	if (!req->ede && !req->ede_text)
		req->ede_text = "vigil: request time limit reached";
	(void)fail(req, NULL);
}

enum vg_step vg_resolv_begin(struct vg_request *req)
{
	uint64_t now_ms = req->env->now_ms;
	struct vg_task *t = task_new(req, req->qname, req->qtype);
	if (!t)
		return fail(req, "out of memory");
	req->stack[0] = t;
	req->depth = 0;
	const struct vg_dnssec_opts *dopts = dnssec_of(req);
	req->validate = dopts->validation && !req->cd && req->env->ta;
	req->sec = VG_SEC_UNCHECKED;
	vg__budget_init(req);
	return step(req, now_ms);
}
