/* SPDX-License-Identifier: MIT
 *
 * The request pipeline: every client query, from its bytes to its answer,
 * through the stages listed in pipeline.h, in that order.  Read
 * vg_pipe_query() top to bottom for a query answered at once (an error, the
 * access list, the policy, the cache); a query that needs resolution goes on
 * in resolve_start() -> drive() -> finish(), where the policy looks at the
 * answer and the answer is written.
 *
 * I/O is the transport's and the worker's: the pipeline calls io->answer,
 * io->send, io->cancel and the clock, nothing else.  Every answer, whatever
 * wrote it, goes through io->answer exactly once per query.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/impl.h"
#include "policy/engine.h"
#include "qlog/qlog.h"

#define SHED_WARN_MS 10000 /* at most one overload warning per worker this often */
#define TXBUF_SIZE (65536 + 1024)

_Static_assert(VG_CLIENT_ID_MAX == VG_POLICY_ID_MAX, "a client ID fits a group's client-ids");
_Static_assert(VG_POLICY_ANSWER_MAX >= VG_ARRAY_SIZE(((struct vg_request *)0)->answer),
	       "a rewritten answer keeps every answer RRset");

/** A query being resolved; lives in its request's arena. */
struct vg_pipe_req {
	struct vg_pipe *p;
	struct vg_request *req;
	struct vg_pipe_req *next, **pprev;
	struct vg_shed_link sl;  /* first member after the list: see req_of_link */
	struct vg_client client;
	uint8_t *pkt;      /* the client's query, copied (NULL: vigil's own) */
	size_t len;
	void *upq;         /* the upstream query in flight (io->send), or NULL */
	struct vg_pipe_req *ynext, **ypprev; /* p->y_ready or y_new, while yielded */
	uint64_t deadline;
	uint64_t stale_at;   /* serve-stale: the client response timer (0: none) */
	bool stale_ok;       /* serve-stale: a failure may be answered with stale data */
	bool background;     /* no client waits (prefetch, or answered stale already) */
	struct vg_redirect *redir;     /* a local-data CNAME being followed */
	const struct vg_policy *pol;   /* a decision waiting for the answer */
	struct vg_policy_decision pol_d;
	struct vg_pipe_tap *tap;       /* the query log's (in the arena), NULL: off */
};

const uint16_t vg_pipe_qtypes[VG_PIPE_QTYPES - 1] = {
	VG_T_A, VG_T_AAAA, VG_T_CNAME, VG_T_MX, VG_T_NS, VG_T_PTR, VG_T_SOA, VG_T_SRV, VG_T_TXT,
	35 /* NAPTR */, VG_T_DS, VG_T_DNSKEY, VG_T_SVCB, 65 /* HTTPS */, VG_T_ANY, 257 /* CAA */,
};

/* The slots of the types below 256, each stored XOR VG_PIPE_QTYPES - 1 (the
 * "other" slot) so that the table's zeros are "other"; the types from 256 on
 * (CAA) are looked for in the rest of vg_pipe_qtypes.  test_pipeline checks
 * every type against a scan of vg_pipe_qtypes. */
#define QT_X(slot) ((slot) ^ (VG_PIPE_QTYPES - 1))
#define QTYPES_LOW 15 /* vg_pipe_qtypes below 256: the first 15 */
static const uint8_t qtype_slot_x[256] = {
	[VG_T_A] = QT_X(0), [VG_T_AAAA] = QT_X(1), [VG_T_CNAME] = QT_X(2), [VG_T_MX] = QT_X(3),
	[VG_T_NS] = QT_X(4), [VG_T_PTR] = QT_X(5), [VG_T_SOA] = QT_X(6), [VG_T_SRV] = QT_X(7),
	[VG_T_TXT] = QT_X(8), [35] = QT_X(9), [VG_T_DS] = QT_X(10), [VG_T_DNSKEY] = QT_X(11),
	[VG_T_SVCB] = QT_X(12), [65] = QT_X(13), [VG_T_ANY] = QT_X(14),
};

unsigned vg_pipe_qtype_slot(uint16_t qtype)
{
	if (VG_LIKELY(qtype < 256))
		return qtype_slot_x[qtype] ^ (VG_PIPE_QTYPES - 1);
	unsigned i = QTYPES_LOW;
	while (i < VG_PIPE_QTYPES - 1 && vg_pipe_qtypes[i] != qtype)
		i++;
	return i;
}

/*
 * The query log's tap (src/qlog): what a client answer is for, set by the
 * entry point that may write one (vg_pipe_query, finish, answer_stale) and
 * read by deliver(), which hands the answer to the log with it.  Only when
 * the log is on (p->qlog); nothing is formatted here.
 */
struct vg_pipe_tap {
	const uint8_t *pkt;  /* the client's query */
	size_t len;
	bool cache_hit;
	uint8_t sec;         /* enum vg_sec of the answer */
	const char *action;  /* the policy's decision (static names), NULL: none */
	char source[64];
	char rule[VG_NAME_MAX * 4 + 64];
};

_Static_assert(sizeof(((struct vg_policy_note *)0)->text) <=
		       sizeof(((struct vg_pipe_tap *)0)->rule), "a rule's text fits the tap");

/* @p tx_ns: when the answer goes out; @p held: that comes with vg_pipe_sent. */
static void tap_log(struct vg_pipe *p, const struct vg_client *c, size_t len, uint64_t tx_ns,
		    bool held)
{
	const struct vg_pipe_tap *t = p->tap;
	struct vg_qlog_client e = {
		.addr = &c->addr.u.sa, .transport = c->transport, .id = c->id,
		.cert_fp = c->cert_fp, .cert_subject = c->cert_subject,
		.query = t->pkt, .qlen = t->len, .resp = p->txbuf, .rlen = len,
		.t_query_ns = c->rx_ns, .t_resp_ns = tx_ns, .held = held,
		.cache_hit = t->cache_hit, .sec = t->sec,
		.action = t->action, .source = t->source, .rule = t->rule,
	};
	if (!vg_qlog_client(p->qlog, p->worker, &e))
		VG_STAT_INC(p->stats.query_log_dropped);
}

/* The policy's decision @p d for the log: the action, its source and rule. */
static void tap_policy(struct vg_pipe *p, const struct vg_policy *pol,
		       const struct vg_policy_decision *d, const struct vg_policy_note *note)
{
	struct vg_pipe_tap *t = p->tap;
	t->action = vg_policy_action_name(note->action);
	snprintf(t->source, sizeof(t->source), "%s",
		 d->denied_by_allowlist ? "allowlist" : pol->src[d->source].name);
	/* the description vg_policy_respond made for the decision log */
	const char *rule = strstr(note->text, " rule ");
	rule = rule ? rule + 6 : note->text;
	size_t rl = strlen(rule); /* (note->text is terminated, shorter than t->rule) */
	memcpy(t->rule, rule, rl);
	t->rule[rl] = 0;
}

static void tap_upstream(struct vg_pipe *p, const struct vg_outbound *o, const uint8_t *pkt,
			 size_t len)
{
	struct vg_qlog_upstream e = {
		.to = &o->to.u.sa, .tls = o->use_tls, .qname = o->qname, .qtype = o->qtype,
		.rd = o->rd, .do_bit = o->do_bit, .resp = pkt, .rlen = len,
		.t_ns = p->io.now_ns(p->io.arg),
	};
	if (!vg_qlog_upstream(p->qlog, p->worker, &e))
		VG_STAT_INC(p->stats.query_log_dropped);
}

const char *vg_transport_name(enum vg_transport t)
{
	switch (t) {
	case VG_TRANSPORT_UDP: return "udp";
	case VG_TRANSPORT_TCP: return "tcp";
	case VG_TRANSPORT_DOT: return "dot";
	case VG_TRANSPORT_DOH: return "doh";
	default: return "-";
	}
}

/* Read the clock into the core's environment (wall time only when a
 * request may validate: the cache-hit path does not need it). */
static void clock_read(struct vg_pipe *p, bool wall)
{
	uint64_t ms = p->io.now_ms(p->io.arg);
	p->env.now_ms = ms;
	p->env.now_s = vg_time_s_of_ms(ms);
	if (wall)
		p->env.now_wall = p->io.wall_s(p->io.arg);
}

static void lat_observe(struct vg_pipe *p, uint64_t rx, uint64_t tx)
{
	vg_lat_observe(&p->stats.latency, tx > rx ? tx - rx : 0);
}

void vg_pipe_hold(struct vg_pipe *p)
{
	p->hold++;
}

/* The held answers went out at @p tx. */
static void held_sent(struct vg_pipe *p, uint64_t tx)
{
	for (unsigned i = 0; i < p->n_held; i++)
		lat_observe(p, p->held_rx[i], tx);
	p->n_held = 0;
	if (VG_UNLIKELY(p->qlog != NULL))
		vg_qlog_sent(p->qlog, p->worker, tx);
}

void vg_pipe_sent(struct vg_pipe *p, uint64_t tx_ns)
{
	if (p->hold && --p->hold)
		return; /* an inner batch: the outer one sends */
	held_sent(p, tx_ns);
}

/*
 * The metrics of an answer about to go out: its rcode, and its latency --
 * now (one clock read), or held until vg_pipe_sent (*@p held).  The send
 * time (nothing sent: the query's receive time).
 */
static uint64_t count_answer(struct vg_pipe *p, const struct vg_client *c, size_t len,
			     bool *held)
{
	*held = false;
	if (!len || len < VG_HDR_LEN)
		return c->rx_ns;
	unsigned rc = p->txbuf[3] & 0x0f;
	VG_STAT_INC(p->stats.by_rcode[rc < VG_PIPE_RCODES - 1 ? rc : VG_PIPE_RCODES - 1]);
	if (VG_LIKELY(p->hold && p->n_held < VG_PIPE_HELD)) {
		p->held_rx[p->n_held++] = c->rx_ns;
		*held = true;
		return 0;
	}
	uint64_t tx = p->io.now_ns(p->io.arg);
	if (p->hold) /* more answers than the hold keeps: they count as sent now */
		held_sent(p, tx);
	lat_observe(p, c->rx_ns, tx);
	return tx;
}

static void deliver(struct vg_pipe *p, const struct vg_client *c, size_t len)
{
	if (c->has_cookie && len && p->cookies)
		len = vg_cookie_add(p->cookies, p->txbuf, len, c->max_size, c->cookie,
				    &c->addr.u.sa, p->io.wall_s(p->io.arg));
	/* encrypted transports hide the answer's size (RFC 8467); a client with
	 * EDNS gets padding whether or not it padded its query */
	if (c->transport == VG_TRANSPORT_DOT || c->transport == VG_TRANSPORT_DOH)
		len = vg_wire_pad(p->txbuf, len, c->max_size, VG_PAD_ANSWER);
	bool held;
	uint64_t tx = count_answer(p, c, len, &held);
	if (VG_UNLIKELY(p->tap != NULL))
		tap_log(p, c, len, tx, held);
	/* a stream transport may hand over the connection's next query from
	 * inside the answer: that one must not end other requests (admit) */
	p->answering++;
	p->io.answer(p->io.arg, c, p->txbuf, len);
	p->answering--;
}

/* The largest answer for this client: the transport's, and over UDP the
 * query's EDNS size (512 without EDNS) within server.max-udp-size. */
static size_t answer_limit(const struct vg_pipe *p, const struct vg_client *c,
			   const struct vg_query *q)
{
	size_t lim = c->max_size;
	if (c->transport == VG_TRANSPORT_UDP) {
		size_t s = !q->edns.present || q->edns.udp_size < 512 ? 512 : q->edns.udp_size;
		if (s > p->opts->max_udp_size)
			s = p->opts->max_udp_size;
		if (s < lim)
			lim = s;
	}
	return lim;
}

static struct vg_client_q client_q(const struct vg_pipe *p, const struct vg_client *c,
				   const struct vg_query *q)
{
	return (struct vg_client_q){ .q = q, .limit = answer_limit(p, c, q),
				     .edns_size = p->opts->max_udp_size };
}

static void reply_error(struct vg_pipe *p, const struct vg_query *q, int rcode,
			const struct vg_client *c)
{
	deliver(p, c, vg_wire_error_reply(q, rcode, false, p->opts->max_udp_size, p->txbuf,
					  TXBUF_SIZE));
}

static struct vg_policy_client policy_client(struct vg_pipe *p, const struct vg_client *c)
{
	return (struct vg_policy_client){
		.addr = &c->addr.u.sa, .transport = vg_transport_name(c->transport),
		.id = c->id, .cert_fp = c->cert_fp, .cert_subject = c->cert_subject,
		.datagram = c->transport == VG_TRANSPORT_UDP, .plog = p->plog,
		.worker = p->worker, .log_dropped = &p->stats.policy_log_dropped,
	};
}

static void resolve_start(struct vg_pipe *p, const struct vg_query *q, const struct vg_client *c,
			  const struct vg_policy *pol, const struct vg_policy_decision *pd,
			  const struct vg_redirect *redir, bool refresh);

/* A rewrite, by the deciding source and the action it took (its override
 * applied, as vg_policy_respond did). */
static void count_rewrite(struct vg_pipe *p, const struct vg_policy_decision *d,
			  const struct vg_policy_note *note)
{
	unsigned src = VG_PIPE_POL_SOURCES - 1;
	if (!d->denied_by_allowlist && d->source < VG_PIPE_POL_SOURCES - 1)
		src = d->source;
	unsigned act = (unsigned)note->action < VG_PIPE_POL_ACTIONS ? (unsigned)note->action : 0;
	VG_STAT_INC(p->stats.policy[src][act]);
}

/*
 * Carry out a policy decision (src/policy/respond.c): true when the policy
 * answered the query (or dropped it, or started following a local CNAME);
 * false to answer it normally.  @p ans: the answer the decision was made on.
 */
static bool policy_apply(struct vg_pipe *p, const struct vg_policy *pol, const struct vg_query *q,
			 const struct vg_client *c, const struct vg_policy_decision *d,
			 struct vg_rrset *const *ans, unsigned nans)
{
	struct vg_policy_client pc = policy_client(p, c);
	struct vg_client_q cq = client_q(p, c, q);
	struct vg_redirect rdr;
	size_t len;
	struct vg_policy_note note;
	enum vg_pol_outcome out = vg_policy_respond(pol, d, &pc, &cq, ans, nans, &rdr, p->txbuf,
						    TXBUF_SIZE, &len, &note);
	if (out != VG_POL_PASS)
		count_rewrite(p, d, &note);
	if (VG_UNLIKELY(p->tap != NULL) && out != VG_POL_PASS)
		tap_policy(p, pol, d, &note);
	switch (out) {
	case VG_POL_PASS:
		return false;
	case VG_POL_DROP:
		VG_STAT_INC(p->stats.policy_rewrites);
		VG_STAT_INC(p->stats.dropped);
		deliver(p, c, 0);
		return true;
	case VG_POL_FOLLOW:
		VG_STAT_INC(p->stats.policy_rewrites);
		resolve_start(p, q, c, NULL, NULL, &rdr, false); /* answers the client when done */
		return true;
	case VG_POL_ANSWER:
	default:
		VG_STAT_INC(p->stats.policy_rewrites);
		VG_STAT_INC(p->stats.answered);
		deliver(p, c, len);
		return true;
	}
}

/* A decision before resolution: log a disabled source's match, then apply.
 * 1 answered by the policy, 0 go on (*wait: the answer must be checked). */
static bool policy_before(struct vg_pipe *p, const struct vg_query *q, const struct vg_client *c,
			  bool rd, struct vg_policy_decision *pd, bool *wait)
{
	const struct vg_policy *pol = p->policy;
	/* an identity only when the transport gave one: no string work for
	 * UDP and TCP clients */
	struct vg_policy_ident id = { c->id, c->cert_fp, c->cert_subject };
	bool has_id = c->id[0] || c->cert_fp || c->cert_subject;
	int r = vg_policy_check_flags(pol, &c->addr.u.sa, has_id ? &id : NULL, q->qname, rd,
				      q->edns.present && q->edns.do_bit, pd);
	uint64_t pause = p->paused && pd->group ?
		atomic_load_explicit(&p->paused[pd->gidx], memory_order_relaxed) : 0;
	if (VG_UNLIKELY(pause != 0) && vg_pause_active(pause, pd->group, p->env.now_ms)) {
		/* paused by the operator (vigilctl pause): no rewrite, no answer check */
		*wait = false;
		return false;
	}
	if (VG_UNLIKELY(pd->logonly.set)) {
		struct vg_policy_client pc = policy_client(p, c);
		vg_policy_log_only(pol, pd, &pc, q->qname, q->qtype);
		pd->logonly.set = false; /* (the answer may find another) */
	}
	if (r && !pd->defer && policy_apply(p, pol, q, c, pd, NULL, 0))
		return true;
	*wait = pd->check_answer;
	return false;
}

/* The decision on the answer (RESPONSE-IP, NSDNAME, NSIP, the names of the
 * CNAME chain).  True when the policy answered.  @p scratch: room for the
 * cache reads (>= 1 KiB). */
static bool policy_after(struct vg_pipe *p, const struct vg_policy *pol, const struct vg_query *q,
			 const struct vg_client *c, struct vg_policy_decision *d,
			 struct vg_rrset *const *ans, unsigned nans, bool dnssec_data)
{
	struct vg_policy_answer pa = {
		.qname = q->qname, .qtype = q->qtype, .ans = ans, .nans = nans,
		.cache = p->env.cache, .now = p->env.now_s,
		.buf = p->env.scratch2, .cap = VG_SCRATCH,
		.dnssec_data = dnssec_data,
	};
	int r = vg_policy_check_response(pol, &pa, d);
	if (VG_UNLIKELY(d->logonly.set)) {
		struct vg_policy_client pc = policy_client(p, c);
		vg_policy_log_only(pol, d, &pc, q->qname, q->qtype);
	}
	return r && policy_apply(p, pol, q, c, d, ans, nans);
}

/* The answer-side decision on a cached answer, from inside
 * vg_resolv_answer_cached while its RRsets are still there (answer_cached
 * uses env->scratch; the policy's cache reads use scratch2). */
struct cached_check {
	struct vg_pipe *p;
	const struct vg_query *q;
	const struct vg_client *c;
	struct vg_policy_decision *d;
	const struct vg_answer_hook *hook;
	const struct vg_policy *pol;
};

static int cached_check_fn(void *arg, struct vg_rrset *const *ans, unsigned nans)
{
	struct cached_check *cc = arg;
	return policy_after(cc->p, cc->pol, cc->q, cc->c, cc->d, ans, nans,
			    cc->hook->dnssec_data);
}

static void prefetch(struct vg_pipe *p, const struct vg_query *q);
static unsigned max_requests(const struct vg_pipe *p);

/* ------------------------------------------------------------ the stages */

static void query_stages(struct vg_pipe *p, const uint8_t *pkt, size_t len,
			 const struct vg_client *c);

void vg_pipe_query(struct vg_pipe *p, const uint8_t *pkt, size_t len, const struct vg_client *c)
{
	struct vg_client rc;
	if (VG_UNLIKELY(!c->rx_ns)) { /* the transport did not read the clock */
		rc = *c;
		rc.rx_ns = p->io.now_ns(p->io.arg);
		c = &rc;
	}
	if (VG_LIKELY(!p->qlog)) {
		query_stages(p, pkt, len, c);
		return;
	}
	struct vg_pipe_tap t, *prev = p->tap;
	t.pkt = pkt;
	t.len = len;
	t.cache_hit = false;
	t.sec = 0;
	t.action = NULL;
	t.source[0] = t.rule[0] = 0;
	p->tap = &t;
	query_stages(p, pkt, len, c);
	p->tap = prev;
}

static void query_stages(struct vg_pipe *p, const uint8_t *pkt, size_t len,
			 const struct vg_client *c)
{
	struct vg_query q;
	int rcode;

	if (VG_UNLIKELY(p->stopping)) {
		p->io.answer(p->io.arg, c, NULL, 0);
		return;
	}
	clock_read(p, false);
	VG_STAT_INC(p->stats.queries);
	VG_STAT_INC(p->stats.by_transport[c->transport <= VG_TRANSPORT_DOH ? c->transport : 0]);

	/* 1. parse: the header, question and EDNS, nothing allocated */
	if (vg_query_parse(&q, pkt, len, &rcode) < 0) {
		VG_STAT_INC(p->stats.malformed);
		deliver(p, c, 0); /* not even a header, or a response: drop */
		return;
	}
	VG_STAT_INC(p->stats.by_qtype[vg_pipe_qtype_slot(q.qtype)]);
	if (VG_UNLIKELY(rcode == VG_RCODE_NOTIMP) && p->notify &&
	    VG_F_OPCODE(q.flags) == VG_OPCODE_NOTIFY) {
		/* another opcode, another handler: only a feed's own primaries
		 * (and TSIG key) may send a NOTIFY, so the client ACL does not apply */
		deliver(p, c, p->notify(p->notify_arg, pkt, len, &c->addr.u.sa, p->txbuf,
					TXBUF_SIZE));
		return;
	}

	/* 1b. DNS cookies (RFC 7873): the answer carries the client cookie
	 * back with a server cookie; a valid server cookie proves the source
	 * address (no rate limit); a malformed option is FORMERR */
	struct vg_client ckc;
	bool proven = false;
	if (p->cookies && q.edns.present && !rcode) {
		uint8_t ck[VG_COOKIE_CLIENT_LEN];
		enum vg_cookie_state cs = vg_cookie_check(p->cookies, &q, &c->addr.u.sa,
							  p->io.wall_s(p->io.arg), ck);
		if (cs == VG_COOKIE_BAD) {
			VG_STAT_INC(p->stats.formerr);
			reply_error(p, &q, VG_RCODE_FORMERR, c);
			return;
		}
		if (cs != VG_COOKIE_NONE) {
			ckc = *c;
			ckc.has_cookie = true;
			memcpy(ckc.cookie, ck, sizeof(ck));
			c = &ckc;
			proven = cs == VG_COOKIE_VALID;
			if (proven)
				VG_STAT_INC(p->stats.cookies_valid);
		}
	}

	/* 2. access control: the longest matching prefix */
	enum vg_acl_action acl = vg_acl_check(&p->opts->acl, &c->addr.u.sa);
	if (acl == VG_ACL_DROP) {
		VG_STAT_INC(p->stats.dropped);
		deliver(p, c, 0);
		return;
	}
	/* 2a. rate limit (UDP): a limited client gets an empty TC=1 answer now
	 * and then (a real one retries over TCP) and nothing otherwise, so a
	 * spoofed victim is not flooded with answers -- refusals included */
	if (c->transport == VG_TRANSPORT_UDP && p->rl && p->opts->rl.qps && !proven) {
		switch (vg_rl_check(p->rl, &p->opts->rl, &c->addr.u.sa, p->env.now_ms,
				    &p->rl_slip)) {
		case VG_RL_PASS:
			break;
		case VG_RL_SLIP:
			VG_STAT_INC(p->stats.rate_limited);
			deliver(p, c, vg_wire_error_reply(&q, VG_RCODE_NOERROR, true,
							  p->opts->max_udp_size, p->txbuf,
							  TXBUF_SIZE));
			return;
		case VG_RL_DROP:
			VG_STAT_INC(p->stats.rate_limited);
			deliver(p, c, 0);
			return;
		}
	}
	if (acl == VG_ACL_REFUSE) {
		VG_STAT_INC(p->stats.refused);
		reply_error(p, &q, VG_RCODE_REFUSED, c);
		return;
	}
	if (rcode) {
		VG_STAT_INC(*(rcode == VG_RCODE_FORMERR ? &p->stats.formerr : &p->stats.notimp));
		reply_error(p, &q, rcode, c);
		return;
	}
	if (q.qclass != VG_C_IN) { /* vigil serves the Internet class only */
		VG_STAT_INC(p->stats.refused);
		reply_error(p, &q, VG_RCODE_REFUSED, c);
		return;
	}
	switch (q.qtype) {
	case VG_T_AXFR: case VG_T_IXFR: /* no zone transfers from a resolver */
		VG_STAT_INC(p->stats.refused);
		reply_error(p, &q, VG_RCODE_REFUSED, c);
		return;
	case VG_T_MAILA: case VG_T_MAILB:
		VG_STAT_INC(p->stats.notimp);
		reply_error(p, &q, VG_RCODE_NOTIMP, c);
		return;
	case VG_T_OPT: case 0:
		VG_STAT_INC(p->stats.formerr);
		reply_error(p, &q, VG_RCODE_FORMERR, c);
		return;
	default:
		break;
	}

	/* the cache is looked up below, after the policy: start loading its
	 * bucket now, so that the memory access overlaps the policy's work */
	uint64_t key_hash = vg_cache_prefetch(p->env.cache, q.qname, q.qtype);

	/* 2b. discovery: names vigil answers itself (DDR, resolver.arpa, the
	 * canary), before the policy and the cache */
	{
		bool done;
		struct vg_client_q dq = client_q(p, c, &q);
		size_t dl = vg__pipe_discovery(&p->opts->ddr, &dq, p->txbuf, TXBUF_SIZE, &done);
		if (VG_UNLIKELY(done)) {
			VG_STAT_INC(p->stats.answered);
			deliver(p, c, dl);
			return;
		}
	}

	/* 3. policy before resolution: CLIENT-IP and QNAME rules, for recursive
	 * queries (recursive-only sources skip RD=0 ones until they miss the
	 * cache, below); what only the answer can decide waits for it */
	struct vg_policy_decision pd;
	bool wait_answer = false;
	if (p->policy && policy_before(p, &q, c, q.flags & VG_F_RD, &pd, &wait_answer))
		return;

	/* 4. cache: answered without a request or an allocation; a cached
	 * answer still passes the policy's decision on the answer (hook).
	 * Serve-stale: data whose refresh failed a moment ago is answered stale
	 * at once (RFC 8767 4); prefetch: an entry near its end is renewed in
	 * the background after the client has its answer */
	struct vg_client_q cq = client_q(p, c, &q);
	struct cached_check cc = { p, &q, c, &pd, NULL, p->policy };
	struct vg_answer_hook hook = { cached_check_fn, &cc, false, false };
	struct vg_cached_info ci;
	unsigned cf = (p->env.opts->serve_stale ? VG_CACHE_STALE_FAILED : 0) |
		      (p->env.opts->prefetch ? VG_CACHE_PREFETCH : 0);
	cc.hook = &hook;
	size_t n = vg_resolv_answer_cached_ex(&p->env, &cq, wait_answer ? &hook : NULL, cf,
					      key_hash, &ci, p->txbuf, TXBUF_SIZE);
	if (hook.fired || n) {
		VG_STAT_INC(p->stats.cache_hits);
		if (VG_UNLIKELY(p->tap != NULL)) {
			p->tap->cache_hit = true;
			p->tap->sec = ci.sec;
		}
		if (VG_UNLIKELY(ci.stale))
			VG_STAT_INC(p->stats.stale_answers);
		if (n) {
			VG_STAT_INC(p->stats.answered);
			deliver(p, c, n);
		} /* (else the policy answered or dropped it from inside the hook) */
		if (VG_UNLIKELY(ci.prefetch))
			prefetch(p, &q);
		return;
	}

	/* 5. resolve: an RD=0 query vigil would send upstream is checked against
	 * the recursive-only sources after all, so nothing goes upstream past
	 * the policy; then a request of its own (stages 6 and 7 in finish()) */
	VG_STAT_INC(p->stats.cache_misses);
	if (p->policy && !(q.flags & VG_F_RD) && pd.skip_srcs &&
	    policy_before(p, &q, c, true, &pd, &wait_answer))
		return;
	resolve_start(p, &q, c, wait_answer ? p->policy : NULL, &pd, NULL, false);
}

/* ------------------------------------------------------------ requests */

static void y_unlink(struct vg_pipe_req *r)
{
	if (!r->ypprev)
		return;
	*r->ypprev = r->ynext;
	if (r->ynext)
		r->ynext->ypprev = r->ypprev;
	r->ypprev = NULL;
	r->p->n_yielded--;
}

static void req_unlink(struct vg_pipe_req *r)
{
	y_unlink(r);
	if (r->pprev) {
		*r->pprev = r->next;
		if (r->next)
			r->next->pprev = r->pprev;
		r->pprev = NULL;
		r->p->inflight--;
		VG_STAT_ADD(r->p->stats.inflight, (uint64_t)-1);
		vg_shed_del(r->p->shed, &r->sl);
		if (r->p->tick_next == r) /* vg_pipe_tick's next one goes */
			r->p->tick_next = r->next;
	}
}

/* Free the request; the client's answer was given (or handed on) before. */
static void req_release(struct vg_pipe_req *r)
{
	struct vg_pipe *p = r->p;
	req_unlink(r);
	if (r->upq) {
		p->io.cancel(p->io.arg, r->upq, r);
		r->upq = NULL;
	}
	vg_request_free(r->req);
}

static void log_failure(const struct vg_pipe_req *r)
{
	if (!vg_log_enabled(VG_LOG_DEBUG))
		return;
	char name[VG_NAME_MAX * 4 + 8], tn[16];
	vg_name_to_str(r->req->qname, name, sizeof(name));
	vg_log(VG_LOG_DEBUG, "query %s %s: SERVFAIL (%s; %u upstream queries, %u referrals)", name,
	       vg_type_to_str(r->req->qtype, tn, sizeof(tn)),
	       r->req->fail_reason ? r->req->fail_reason : "unknown", r->req->used.upstream,
	       r->req->used.referrals);
}

/* Does the answer of @p req carry DNSSEC data (RRSIGs, a signed denial)? */
static bool has_dnssec_data(const struct vg_request *req)
{
	if (req->sec == VG_SEC_SECURE || (req->neg.soa_sig && req->neg.soa_sig->count))
		return true;
	for (unsigned i = 0; i < req->n_answer; i++)
		if (req->answer_sig[i] && req->answer_sig[i]->count)
			return true;
	return false;
}

/* Stages 6 and 7 for a resolved (or failed, or timed-out) request: the
 * policy's decision on the answer, then the answer; then the request ends. */
static bool answer_stale(struct vg_pipe_req *r);
static void finish_req(struct vg_pipe_req *r);

/*
 * finish_req, with what the query log needs: it sees the answer with what
 * this request knows of it.  It may run inside another query's stage (an
 * eviction), whose tap it keeps.
 */
static void finish(struct vg_pipe_req *r)
{
	struct vg_pipe *p = r->p;
	if (VG_LIKELY(!r->tap && !p->tap)) { /* (the query log is off) */
		finish_req(r);
		return;
	}
	/* r's own tap, or none (its copy failed): never the tap of the query
	 * whose stage this runs inside */
	struct vg_pipe_tap *prev = p->tap;
	if (r->tap)
		r->tap->sec = r->req->sec;
	p->tap = r->tap;
	finish_req(r); /* (frees r) */
	p->tap = prev;
}

static void finish_req(struct vg_pipe_req *r)
{
	struct vg_pipe *p = r->p;
	const struct vg_request *req = r->req;
	struct vg_query q;
	int rc;
	size_t n = 0;

	/* serve-stale (RFC 8767): a failed resolution (timeouts, SERVFAIL from
	 * every server) is answered with stale data when the cache has some;
	 * not one that found bogus data (its servers did answer) */
	if (req->rcode == VG_RCODE_SERVFAIL && r->stale_ok && !r->background &&
	    req->sec != VG_SEC_BOGUS && answer_stale(r)) {
		req_release(r);
		return;
	}
	if (r->background) {
		req_release(r); /* nobody waits: the cache has what it found */
		return;
	}
	if (req->rcode == VG_RCODE_SERVFAIL) {
		VG_STAT_INC(p->stats.servfail);
		log_failure(r);
	} else if (req->rcode == VG_RCODE_NXDOMAIN) {
		VG_STAT_INC(p->stats.nxdomain);
	}
	if (r->client.transport == VG_TRANSPORT_NONE) {
		req_release(r); /* vigil's own query: nobody to answer */
		return;
	}
	VG_STAT_INC(p->stats.by_sec[req->sec & 3]);
	if (req->sec == VG_SEC_BOGUS)
		VG_STAT_INC(p->stats.bogus_ede[req->ede < VG_PIPE_EDES - 1 ? req->ede
									: VG_PIPE_EDES - 1]);
	if (vg_query_parse(&q, r->pkt, r->len, &rc) < 0) { /* (it parsed before) */
		deliver(p, &r->client, 0);
		req_release(r);
		return;
	}
	struct vg_client_q cq = client_q(p, &r->client, &q);
	bool fail = req->rcode == VG_RCODE_SERVFAIL;
	if (r->redir) {
		/* 7. a followed local-data CNAME: the CNAME, then the target's answer */
		n = vg_policy_redirect_answer(r->redir, &cq, req->rcode, req->answer,
					      req->n_answer, req->soa, p->txbuf, TXBUF_SIZE);
	} else if (r->pol && policy_after(p, r->pol, &q, &r->client, &r->pol_d, req->answer,
					  fail ? 0 : req->n_answer, has_dnssec_data(req))) {
		/* 6. the policy answered on the answer (a failed resolution has no
		 * answer records, but its name servers may still match) */
		req_release(r);
		return;
	} else {
		/* 7. the resolved answer */
		n = vg_resolv_write_answer(req, &cq, p->txbuf, TXBUF_SIZE);
	}
	if (n)
		VG_STAT_INC(p->stats.answered);
	deliver(p, &r->client, n);
	req_release(r);
}

/*
 * Serve-stale (RFC 8767): answer @p r's client with the stale data the
 * cache holds (TTL 30, EDE 3 Stale Answer), through the policy's decision
 * on the answer when one waits for it.  True when the client was answered:
 * the request goes on in the background, and what it finds refreshes the
 * cache.  False when the cache has nothing for it.
 */
static bool answer_stale_req(struct vg_pipe_req *r);

static bool answer_stale(struct vg_pipe_req *r)
{
	struct vg_pipe *p = r->p;
	if (VG_LIKELY(!r->tap && !p->tap)) /* (the query log is off) */
		return answer_stale_req(r);
	struct vg_pipe_tap *prev = p->tap;
	p->tap = r->tap;
	bool done = answer_stale_req(r);
	p->tap = prev;
	return done;
}

static bool answer_stale_req(struct vg_pipe_req *r)
{
	struct vg_pipe *p = r->p;
	struct vg_query q;
	int rc;
	if (r->client.transport == VG_TRANSPORT_NONE || r->background ||
	    vg_query_parse(&q, r->pkt, r->len, &rc) < 0)
		return false;
	struct vg_client_q cq = client_q(p, &r->client, &q);
	struct cached_check cc = { p, &q, &r->client, &r->pol_d, NULL, r->pol };
	struct vg_answer_hook hook = { cached_check_fn, &cc, false, false };
	struct vg_cached_info ci;
	cc.hook = &hook;
	if (r->tap)
		r->tap->cache_hit = true;
	size_t n = vg_resolv_answer_cached_ex(&p->env, &cq, r->pol ? &hook : NULL,
					      VG_CACHE_STALE | VG_CACHE_NO_FAIL, 0, &ci, p->txbuf,
					      TXBUF_SIZE);
	if (!n && !hook.fired) {
		if (r->tap) /* no stale data: what follows is not from the cache */
			r->tap->cache_hit = false;
		return false;
	}
	r->background = true; /* (before the answer: a transport may re-enter) */
	if (ci.stale)
		VG_STAT_INC(p->stats.stale_answers);
	if (r->tap)
		r->tap->sec = ci.sec;
	if (n) {
		VG_STAT_INC(p->stats.answered);
		deliver(p, &r->client, n);
	}
	if (vg_log_enabled(VG_LOG_DEBUG)) {
		char name[VG_NAME_MAX * 4 + 8], tn[16];
		vg_name_to_str(r->req->qname, name, sizeof(name));
		vg_log(VG_LOG_DEBUG, "query %s %s: answered %s, resolution goes on", name,
		       vg_type_to_str(r->req->qtype, tn, sizeof(tn)),
		       ci.stale ? "stale (RFC 8767)" : "from the cache");
	}
	r->client.transport = VG_TRANSPORT_NONE;
	return true;
}

/*
 * Prefetch: renew (qname, qtype) of @p q in the background, its entry being
 * near its end (the cache hands that out once per entry, to one caller).
 * Never at a client's expense: only while the worker holds under half the
 * requests and memory it may (limits.max-requests, limits.request-memory);
 * beyond that the entry simply expires and the next query resolves it.
 */
static void prefetch(struct vg_pipe *p, const struct vg_query *q)
{
	if (p->stopping || p->inflight >= max_requests(p) / 2 ||
	    (p->req_mem.limit && p->req_mem.used >= p->req_mem.limit / 2))
		return;
	VG_STAT_INC(p->stats.prefetches);
	resolve_start(p, q, NULL, NULL, NULL, NULL, true);
}

static void drive(struct vg_pipe_req *r, enum vg_step st)
{
	struct vg_pipe *p = r->p;
	for (;;) {
		if (st == VG_STEP_YIELD) {
			if (!p->io.wake || p->stopping) { /* nobody to come back: go on */
				st = vg_resolv_resume(r->req);
				continue;
			}
			/* the others first: vg_pipe_run_yielded goes on after a poll */
			r->ynext = p->y_new;
			if (r->ynext)
				r->ynext->ypprev = &r->ynext;
			r->ypprev = &p->y_new;
			p->y_new = r;
			VG_STAT_INC(p->stats.yielded);
			if (p->n_yielded++ == 0)
				p->io.wake(p->io.arg);
			return;
		}
		if (st != VG_STEP_SEND) {
			finish(r);
			return;
		}
		const struct vg_outbound *o = &r->req->out;
		if (vg_log_enabled(VG_LOG_DEBUG)) {
			char n[VG_NAME_MAX * 4 + 8], a[VG_ADDRSTRLEN], tn[16];
			vg_name_to_str(o->qname, n, sizeof(n));
			vg_sockaddr_str(&o->to, VG_ADDR_PORT, a, sizeof(a));
			vg_log(VG_LOG_DEBUG, "upstream %s %s to %s (timeout %u ms)", n,
			       vg_type_to_str(o->qtype, tn, sizeof(tn)), a, o->timeout_ms);
		}
		if (VG_UNLIKELY(p->qlog != NULL) && vg_qlog_wants_upstream(p->qlog))
			tap_upstream(p, o, NULL, 0);
		int e = p->io.send(p->io.arg, o, r, &r->upq);
		if (e == 0)
			return; /* vg_pipe_reply continues */
		r->upq = NULL;
		st = vg_resolv_consume(r->req, e, NULL, 0);
	}
}

void vg_pipe_reply(struct vg_pipe_req *r, int status, const uint8_t *pkt, size_t len,
		   struct vg_msg *m)
{
	r->upq = NULL;
	clock_read(r->p, true);
	if (VG_UNLIKELY(r->p->qlog != NULL) && status == 0 && vg_qlog_wants_upstream(r->p->qlog))
		tap_upstream(r->p, &r->req->out, pkt, len);
	drive(r, vg_resolv_consume_parsed(r->req, status, pkt, len, m));
}

unsigned vg_pipe_run_yielded(struct vg_pipe *p)
{
	clock_read(p, true);
	while (p->y_ready) { /* (ending one may end others: each is unlinked) */
		struct vg_pipe_req *r = p->y_ready;
		y_unlink(r);
		drive(r, vg_resolv_resume(r->req));
	}
	p->y_ready = p->y_new; /* those that yielded since: after the next poll */
	if (p->y_ready)
		p->y_ready->ypprev = &p->y_ready;
	p->y_new = NULL;
	return p->n_yielded;
}

/* ------------------------------------------------------------ overload */

static struct vg_pipe_req *req_of_link(struct vg_shed_link *l)
{
	return (struct vg_pipe_req *)((char *)l - offsetof(struct vg_pipe_req, sl));
}

static unsigned max_requests(const struct vg_pipe *p)
{
	return p->opts->max_requests ? p->opts->max_requests : VG_PIPE_MAX_REQUESTS;
}

static bool full(const struct vg_pipe *p)
{
	return p->inflight >= max_requests(p) ||
	       (p->req_mem.limit && p->req_mem.used >= p->req_mem.limit);
}

static void warn_overload(struct vg_pipe *p, const struct vg_client *c, uint32_t slot)
{
	if (p->shed_warned_ms && p->env.now_ms - p->shed_warned_ms < SHED_WARN_MS)
		return;
	p->shed_warned_ms = p->env.now_ms;
	char a[VG_ADDRSTRLEN];
	vg_sockaddr_str(&c->addr, 0, a, sizeof(a));
	vg_log(VG_LOG_WARNING,
	       "worker %u overloaded (%u of %u requests, %zu of %zu bytes in flight): shedding "
	       "load fairly; e.g. client %s holds %u (limits.max-requests, "
	       "limits.request-memory; counted as shed and evicted in the stats)",
	       p->worker, p->inflight, max_requests(p), p->req_mem.used, p->req_mem.limit, a,
	       vg_shed_count(p->shed, slot));
}

static const char SHED_TEXT[] = "vigil: overloaded, query shed";

/*
 * Admission of a client's new request (shed.h): true when it may start.
 * When the worker is full, the client holding the most requests gives way
 * (its oldest request is answered SERVFAIL), or the newcomer is answered
 * SERVFAIL.  No request is ended from inside another one's answer (a
 * redirect being followed, a connection's next query handed over while its
 * previous answer is written): callers up the stack still hold it.
 */
static bool admit(struct vg_pipe *p, const struct vg_query *q, const struct vg_client *c,
		  uint32_t slot, bool may_evict)
{
	if (!full(p))
		return true;
	warn_overload(p, c, slot);
	struct vg_shed_link *l = may_evict && !p->answering ? vg_shed_victim(p->shed, slot)
							   : NULL;
	if (!l) {
		VG_STAT_INC(p->stats.shed);
		struct vg_client_q cq = client_q(p, c, q);
		const struct vg_answer_view av = { .rcode = VG_RCODE_SERVFAIL,
						   .ede_text = SHED_TEXT };
		deliver(p, c, vg_answer_write(&cq, &av, p->txbuf, TXBUF_SIZE));
		return false;
	}
	struct vg_pipe_req *v = req_of_link(l);
	VG_STAT_INC(p->stats.evicted);
	vg_resolv_abandon(v->req, SHED_TEXT);
	finish(v);
	return true;
}

/*
 * Stage 5: resolve (the client's question, or a followed redirect's target)
 * in a request of its own.  @p pol: a policy decision that waits for the
 * answer (@p pd).  @p c NULL: vigil's own query.
 */
static void resolve_start(struct vg_pipe *p, const struct vg_query *q, const struct vg_client *c,
			  const struct vg_policy *pol, const struct vg_policy_decision *pd,
			  const struct vg_redirect *redir, bool refresh)
{
	clock_read(p, true);
	uint32_t slot = 0;
	if (c) {
		slot = vg_shed_slot(p->shed, &c->addr.u.sa, p->opts->rl.v4_prefix,
				    p->opts->rl.v6_prefix);
		/* a redirect starts inside a policy decision: no eviction there */
		if (!admit(p, q, c, slot, !redir))
			return;
	}
	struct vg_request *req = vg_request_new(&p->env, redir ? redir->target : q->qname,
						q->qtype);
	struct vg_pipe_req *r = req ? vg_arena_zalloc(req->arena, sizeof(*r)) : NULL;
	if (!r || (c && !(r->pkt = vg_arena_dup(req->arena, q->pkt, q->len))) ||
	    (redir && !(r->redir = vg_arena_dup(req->arena, redir, sizeof(*redir))))) {
		vg_request_free(req);
		VG_STAT_INC(p->stats.dropped);
		if (c)
			deliver(p, c, 0);
		return;
	}
	r->p = p;
	r->req = req;
	if (c) {
		r->client = *c;
		r->len = q->len;
		/* the query log's tap goes with the request (the query it logs is
		 * the client's, also for a followed redirect) */
		if (p->tap && (r->tap = vg_arena_dup(req->arena, p->tap, sizeof(*p->tap)))) {
			r->tap->pkt = r->pkt;
			r->tap->len = r->len;
		}
	} else {
		r->client.transport = VG_TRANSPORT_NONE;
	}
	r->pol = pol;
	if (pol)
		r->pol_d = *pd;
	req->cd = !refresh && (q->flags & VG_F_CD);
	req->refresh = refresh;
	r->background = refresh;
	r->deadline = p->env.now_ms + p->opts->request_timeout_ms;
	if (c && !redir && p->env.opts->serve_stale) {
		r->stale_ok = true;
		if (p->env.opts->stale_answer_timeout_ms)
			r->stale_at = p->env.now_ms + p->env.opts->stale_answer_timeout_ms;
	}
	req->user = r;
	r->next = p->inflight_head;
	if (r->next)
		r->next->pprev = &r->next;
	p->inflight_head = r;
	r->pprev = &p->inflight_head;
	p->inflight++;
	VG_STAT_INC(p->stats.inflight);
	if (c)
		vg_shed_add(p->shed, &r->sl, slot);
	drive(r, vg_resolv_begin(req));
}

/* ------------------------------------------------------------ lifecycle */

int vg_pipe_init(struct vg_pipe *p, unsigned worker, const struct vg_pipe_io *io,
		 const struct vg_resolv_env *env)
{
	memset(p, 0, sizeof(*p));
	p->io = *io;
	p->env = *env;
	p->worker = worker;
	p->env.req_mem = &p->req_mem;
	p->txbuf = malloc(TXBUF_SIZE);
	p->shed = vg_shed_new();
	if (!p->txbuf || !p->shed) {
		free(p->txbuf);
		vg_shed_free(p->shed);
		p->txbuf = NULL;
		p->shed = NULL;
		return VG_ENOMEM;
	}
	return 0;
}

void vg_pipe_adopt(struct vg_pipe *p, const struct vg_pipe_view *v)
{
	p->opts = v->serve;
	p->req_mem.limit = v->serve->request_memory ? v->serve->request_memory
						    : VG_PIPE_REQUEST_MEMORY;
	p->env.opts = v->resolv;
	p->env.dnssec = v->dnssec;
	p->env.hints = v->hints;
	p->env.ta = &v->hints->ta;
	p->policy = v->policy;
}

void vg_pipe_tick(struct vg_pipe *p)
{
	clock_read(p, true);
	atomic_store_explicit(&p->stats.req_mem, p->req_mem.used, memory_order_relaxed);
	/* an answer may start or end other requests (a connection's next
	 * query): req_unlink moves tick_next on when it ends that one */
	for (struct vg_pipe_req *r = p->inflight_head; r; r = p->tick_next) {
		p->tick_next = r->next;
		if (r->deadline <= p->env.now_ms) {
			VG_STAT_INC(p->stats.timeouts);
			vg_resolv_expire(r->req);
			finish(r);
		} else if (r->stale_at && r->stale_at <= p->env.now_ms) {
			/* serve-stale's client response timer (RFC 8767 5) */
			r->stale_at = 0;
			answer_stale(r);
		}
	}
	p->tick_next = NULL;
}

void vg_pipe_prime(struct vg_pipe *p)
{
	struct vg_query q;
	memset(&q, 0, sizeof(q));
	q.qname[0] = 0;
	q.qtype = VG_T_NS;
	q.qclass = VG_C_IN;
	vg_log(VG_LOG_INFO, "priming the root name servers");
	resolve_start(p, &q, NULL, NULL, NULL, NULL, false);
}

void vg_pipe_stop(struct vg_pipe *p)
{
	p->stopping = true;
	while (p->inflight_head) { /* abandoned: their clients get no answer */
		struct vg_pipe_req *r = p->inflight_head;
		req_unlink(r);
		if (r->client.transport != VG_TRANSPORT_NONE)
			p->io.answer(p->io.arg, &r->client, NULL, 0);
		req_release(r);
	}
}

void vg_pipe_deinit(struct vg_pipe *p)
{
	vg_pipe_stop(p);
	free(p->txbuf);
	p->txbuf = NULL;
	vg_shed_free(p->shed);
	p->shed = NULL;
}
