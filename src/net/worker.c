/* SPDX-License-Identifier: MIT
 *
 * A worker thread: its loop, the query path from packet to answer, and the
 * driver that runs requests through the resolver core and upstream I/O.
 *
 * Query path: parse the question (no allocation) -> RFC checks (FORMERR,
 * NOTIMP, BADVERS, REFUSED for other classes) -> access control -> cache ->
 * on a miss, a request in its own arena, driven by vg_resolv_begin/consume
 * with upstream replies.  A 100 ms tick enforces the per-request time limit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/net.h"
#include "policy/engine.h"
#include "policy/feed.h"
#include "policy/plog.h"

#define TICK_MS 100
#define MAX_INFLIGHT 4096

/** A request in flight and how to answer it; lives in the request's arena. */
struct vg_ctx {
	struct vg_worker *w;
	struct vg_request *req;
	struct vg_ctx *next, **pprev;
	struct vg_peer peer;
	uint8_t *pkt; /* copy of the client's query */
	size_t len;
	struct vg_upq *upq;
	uint64_t deadline;
	/* a local-data CNAME being followed (the request resolves its target) */
	struct vg_redirect *redir;
	/* a policy decision waiting for the answer (vg_policy_check_response) */
	const struct vg_policy *pol;
	struct vg_policy_decision pol_d;
};

/*
 * A local-data CNAME (a plain one, a walled garden's, or an override's
 * "cname DOMAIN"): the answer is that CNAME and then the resolution of its
 * target, to which no policy applies (RPZ.md 2.3: never to data the policy
 * itself synthesised).
 */
#define REDIRECT_CHAIN 8 /* CNAME / DNAME RRsets before a later stage's local CNAME */
struct vg_redirect {
	uint8_t owner[VG_NAME_MAX];     /* the local CNAME's owner (a chain stage's name) */
	uint8_t target[VG_NAME_MAX];
	uint8_t cname[2 + VG_NAME_MAX]; /* the CNAME's packed RDATA */
	uint32_t ttl;
	uint16_t ede;
	char text[300];
	const struct vg_policy_src *src; /* its SOA goes into the additional section */
	/* a match at a later CNAME-chain stage: the chain's RRsets before it, copied */
	unsigned nchain;
	struct {
		uint16_t type, count, rdata_len;
		uint32_t ttl;
		uint16_t owner_off, rdata_off;
	} chain[REDIRECT_CHAIN];
	uint8_t chain_buf[4096];
};

/* Copy the chain RRsets @p rs into @p r (false: too many or too big: not followed). */
static bool redirect_chain(struct vg_redirect *r, struct vg_rrset *const *rs, unsigned n)
{
	size_t off = 0;
	r->nchain = 0;
	if (n > REDIRECT_CHAIN)
		return false;
	for (unsigned i = 0; i < n; i++) {
		size_t ol = vg_name_len(rs[i]->owner);
		if (off + ol + rs[i]->rdata_len > sizeof(r->chain_buf))
			return false;
		r->chain[i].type = rs[i]->type;
		r->chain[i].count = rs[i]->count;
		r->chain[i].rdata_len = rs[i]->rdata_len;
		r->chain[i].ttl = rs[i]->ttl;
		r->chain[i].owner_off = (uint16_t)off;
		memcpy(r->chain_buf + off, rs[i]->owner, ol);
		off += ol;
		r->chain[i].rdata_off = (uint16_t)off;
		memcpy(r->chain_buf + off, rs[i]->rdata, rs[i]->rdata_len);
		off += rs[i]->rdata_len;
	}
	r->nchain = n;
	return true;
}

static void ctx_unlink(struct vg_ctx *x)
{
	if (x->pprev) {
		*x->pprev = x->next;
		if (x->next)
			x->next->pprev = x->pprev;
		x->pprev = NULL;
		x->w->inflight--;
	}
}

static void ctx_free(struct vg_ctx *x)
{
	struct vg_worker *w = x->w;
	ctx_unlink(x);
	if (x->upq) {
		vg_upstream_cancel(x->upq, x);
		x->upq = NULL;
	}
	if (x->peer.transport == VG_TRANSPORT_TCP)
		vg__tcp_request_done(x->peer.conn);
	VG_STAT_ADD(w->stats.inflight, (uint64_t)-1);
	vg_request_free(x->req);
}

static size_t udp_limit(const struct vg_config *cfg, const struct vg_query *q)
{
	if (!q->edns.present)
		return 512;
	size_t s = q->edns.udp_size < 512 ? 512 : q->edns.udp_size;
	return s > cfg->max_udp_size ? cfg->max_udp_size : s;
}

void vg__worker_reply(struct vg_worker *w, const struct vg_peer *peer, const uint8_t *pkt,
		      size_t len)
{
	if (peer->transport == VG_TRANSPORT_UDP) {
		if (vg__udp_batch_add(w, peer->udp_fd, &peer->addr.sa, pkt, len))
			return;
		socklen_t alen = peer->addr.sa.sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
								     : sizeof(struct sockaddr_in);
		if (sendto(peer->udp_fd, pkt, len, MSG_DONTWAIT, &peer->addr.sa, alen) < 0)
			VG_STAT_INC(w->stats.send_errors);
	} else if (peer->transport == VG_TRANSPORT_TCP) {
		vg__tcp_send(peer->conn, pkt, len);
	}
}

static void log_failure(const struct vg_ctx *x)
{
	if (!vg_log_enabled(VG_LOG_DEBUG))
		return;
	char name[VG_NAME_MAX * 4 + 8];
	vg_name_to_str(x->req->qname, name, sizeof(name));
	vg_log(VG_LOG_DEBUG, "query %s type %u: SERVFAIL (%s; %u upstream queries, %u referrals)",
	       name, x->req->qtype, x->req->fail_reason ? x->req->fail_reason : "unknown",
	       x->req->used.upstream, x->req->used.referrals);
}

static bool policy_respond(struct vg_worker *w, const struct vg_policy *pol,
			   const struct vg_query *q, const struct vg_client_q *cq,
			   const struct vg_peer *peer, const struct vg_policy_decision *dp,
			   struct vg_rrset *const *ans, unsigned nans);

static void log_only_decision(struct vg_worker *w, const struct vg_policy *pol,
			      const struct vg_query *q, const struct vg_peer *peer,
			      const struct vg_policy_decision *d);

static void policy_soa(const struct vg_policy_src *src, struct vg_rrset *soa,
		       struct vg_answer_view *av)
{
	if (!src || !src->rpz)
		return;
	*soa = (struct vg_rrset){ .owner = src->origin, .type = VG_T_SOA, .rclass = VG_C_IN,
				  .ttl = src->soa_ttl, .count = 1,
				  .rdata_len = (uint16_t)(2 + vg_get16(src->soa)),
				  .rdata = src->soa };
	av->add_soa = soa;
}

/* The answer to a followed local-data CNAME: the CNAME, then the target's. */
static void redirect_finish(struct vg_ctx *x, const struct vg_client_q *cq)
{
	struct vg_worker *w = x->w;
	const struct vg_request *req = x->req;
	const struct vg_redirect *r = x->redir;
	bool fail = req->rcode == VG_RCODE_SERVFAIL;
	struct vg_rrset cn = { .owner = r->owner, .type = VG_T_CNAME, .rclass = VG_C_IN,
			       .ttl = r->ttl, .count = 1,
			       .rdata_len = (uint16_t)(2 + vg_get16(r->cname)), .rdata = r->cname };
	struct vg_rrset chain[REDIRECT_CHAIN];
	struct vg_rrset *ans[VG_ARRAY_SIZE(req->answer) + REDIRECT_CHAIN + 1], soa;
	unsigned n = 0;
	for (unsigned i = 0; i < r->nchain; i++) {
		chain[i] = (struct vg_rrset){ .owner = r->chain_buf + r->chain[i].owner_off,
					      .type = r->chain[i].type, .rclass = VG_C_IN,
					      .ttl = r->chain[i].ttl, .count = r->chain[i].count,
					      .rdata_len = r->chain[i].rdata_len,
					      .rdata = r->chain_buf + r->chain[i].rdata_off };
		ans[n++] = &chain[i];
	}
	ans[n++] = &cn;
	for (unsigned i = 0; !fail && i < req->n_answer && n < VG_ARRAY_SIZE(ans); i++)
		ans[n++] = req->answer[i];
	struct vg_answer_view av = { .rcode = req->rcode, .ans = ans, .nans = n,
				     .soa = fail ? NULL : req->soa, .ede = r->ede,
				     .ede_text = r->text };
	policy_soa(r->src, &soa, &av);
	size_t len = vg__resolv_write(cq, &av, w->txbuf, 65535);
	if (len)
		vg__worker_reply(w, &x->peer, w->txbuf, len);
	VG_STAT_INC(w->stats.answered);
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

/* Answer the client (if any) and release the request. */
static void ctx_finish(struct vg_ctx *x)
{
	struct vg_worker *w = x->w;
	if (x->req->rcode == VG_RCODE_SERVFAIL) {
		VG_STAT_INC(w->stats.servfail);
		log_failure(x);
	} else if (x->req->rcode == VG_RCODE_NXDOMAIN) {
		VG_STAT_INC(w->stats.nxdomain);
	}
	if (x->peer.transport != VG_TRANSPORT_NONE) {
		struct vg_query q;
		int rc;
		if (vg_query_parse(&q, x->pkt, x->len, &rc) == 0) {
			struct vg_client_q cq = {
				.q = &q,
				.limit = x->peer.transport == VG_TRANSPORT_UDP ? udp_limit(w->cfg, &q)
									       : 65535,
				.edns_size = w->cfg->max_udp_size,
			};
			if (x->redir) {
				redirect_finish(x, &cq);
				ctx_free(x);
				return;
			}
			/* POLICY: the decision after resolution (RESPONSE-IP, NSDNAME,
			 * NSIP, the names of the CNAME chain); a failed resolution has
			 * no answer records, but its name servers may still match.
			 * The request is done: scratch2 is free for the cache reads */
			if (x->pol) {
				bool fail = x->req->rcode == VG_RCODE_SERVFAIL;
				struct vg_policy_answer pa = {
					.qname = x->req->qname, .qtype = x->req->qtype,
					.ans = x->req->answer, .nans = fail ? 0 : x->req->n_answer,
					.cache = w->env.cache, .now = vg_time_now_s(),
					.buf = w->scratch2, .cap = VG_SCRATCH,
					.dnssec_data = has_dnssec_data(x->req),
				};
				int pr = vg_policy_check_response(x->pol, &pa, &x->pol_d);
				if (VG_UNLIKELY(x->pol_d.logonly.set))
					log_only_decision(w, x->pol, &q, &x->peer, &x->pol_d);
				if (pr && policy_respond(w, x->pol, &q, &cq, &x->peer, &x->pol_d,
							 pa.ans, pa.nans)) {
					ctx_free(x);
					return;
				}
			}
			size_t n = vg_resolv_write_answer(x->req, &cq, w->txbuf, 65535);
			if (n)
				vg__worker_reply(w, &x->peer, w->txbuf, n);
			VG_STAT_INC(w->stats.answered);
		}
	}
	ctx_free(x);
}

static void drive(struct vg_ctx *x, enum vg_step st);

static void on_upstream(void *arg, int status, const uint8_t *pkt, size_t len)
{
	struct vg_ctx *x = arg;
	x->upq = NULL;
	drive(x, vg_resolv_consume(x->req, status, pkt, len, uv_now(&x->w->loop)));
}

static void drive(struct vg_ctx *x, enum vg_step st)
{
	struct vg_worker *w = x->w;
	for (;;) {
		if (st != VG_STEP_SEND) {
			ctx_finish(x);
			return;
		}
		const struct vg_outbound *o = &x->req->out;
		if (vg_log_enabled(VG_LOG_DEBUG)) {
			char n[VG_NAME_MAX * 4 + 8], a[64];
			vg_name_to_str(o->qname, n, sizeof(n));
			vg_sockaddr_str(&o->to, a, sizeof(a));
			vg_log(VG_LOG_DEBUG, "upstream %s type %u to %s (timeout %u ms)", n, o->qtype,
			       a, o->timeout_ms);
		}
		int r = vg_upstream_query(w->up, &o->to, o->qname, o->qtype, o->rd, o->do_bit,
					  o->timeout_ms, on_upstream, x, &x->upq);
		if (r == 0)
			return; /* on_upstream continues */
		x->upq = NULL;
		st = vg_resolv_consume(x->req, r, NULL, 0, uv_now(&w->loop));
	}
}

static void start_request(struct vg_worker *w, const uint8_t *pkt, size_t len,
			  const struct vg_query *q, const struct vg_peer *peer,
			  const struct vg_policy *pol, const struct vg_policy_decision *pd,
			  const struct vg_redirect *redir)
{
	uint64_t now = uv_now(&w->loop);
	struct vg_request *req = vg_request_new(&w->env, redir ? redir->target
							 : q ? q->qname : (const uint8_t *)"",
						q ? q->qtype : VG_T_NS, now);
	struct vg_ctx *x = req ? vg_arena_zalloc(req->arena, sizeof(*x)) : NULL;
	if (!x || (len && !(x->pkt = vg_arena_dup(req->arena, pkt, len))) ||
	    (redir && !(x->redir = vg_arena_dup(req->arena, redir, sizeof(*redir))))) {
		vg_request_free(req);
		VG_STAT_INC(w->stats.dropped);
		return;
	}
	x->w = w;
	x->req = req;
	x->pol = pol;
	if (pol)
		x->pol_d = *pd;
	req->cd = q && (q->flags & VG_F_CD);
	x->len = len;
	x->peer = *peer;
	x->deadline = now + w->cfg->request_timeout_ms;
	req->user = x;
	x->next = w->inflight_head;
	if (x->next)
		x->next->pprev = &x->next;
	w->inflight_head = x;
	x->pprev = &w->inflight_head;
	w->inflight++;
	VG_STAT_INC(w->stats.inflight);
	if (peer->transport == VG_TRANSPORT_TCP)
		vg__tcp_request_start(peer->conn);
	drive(x, vg_resolv_begin(req, now));
}

/* One line per decision: JSON to the decision log, or text to the main log. */
static void log_decision(struct vg_worker *w, const struct vg_policy *pol,
			 const struct vg_query *q, const struct vg_peer *peer,
			 const struct vg_policy_decision *d, const char *text)
{
	static const char *const actions[] = {
		[VG_ACT_NXDOMAIN] = "nxdomain", [VG_ACT_NODATA] = "nodata",
		[VG_ACT_PASSTHRU] = "passthru", [VG_ACT_DROP] = "drop",
		[VG_ACT_TCP_ONLY] = "tcp-only", [VG_ACT_LOCAL] = "local-data",
		[VG_ACT_GARDEN] = "walled-garden", [VG_ACT_NULL_ADDR] = "null-address",
	};
	if (!w->shared->plog && !vg_log_enabled(VG_LOG_INFO))
		return;
	char qn[VG_NAME_MAX * 4 + 8], ca[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	vg_name_to_str(q->qname, qn, sizeof(qn));
	if (peer->addr.sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &peer->addr.in4.sin_addr, ca, sizeof(ca));
		port = ntohs(peer->addr.in4.sin_port);
	} else if (peer->addr.sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &peer->addr.in6.sin6_addr, ca, sizeof(ca));
		port = ntohs(peer->addr.in6.sin6_port);
	}
	static const char *const triggers[] = {
		[VG_TRIG_CLIENT_IP] = "client-ip", [VG_TRIG_QNAME] = "qname",
		[VG_TRIG_RESP_IP] = "response-ip", [VG_TRIG_NSDNAME] = "nsdname",
		[VG_TRIG_NSIP] = "nsip",
	};
	const char *source = d->denied_by_allowlist ? "" : pol->src[d->source].name;
	const char *rule = strstr(text, " rule ");
	const char *trigger = d->denied_by_allowlist ? "allowlist" : triggers[d->trigger];
	char sn[VG_NAME_MAX * 4 + 8] = "";
	if (d->stage) /* matched at a later stage of the CNAME chain: that name */
		vg_name_to_str(d->stage_name, sn, sizeof(sn));
	rule = d->denied_by_allowlist ? "allowlist" : rule ? rule + 6 : text;
	if (!w->shared->plog) {
		vg_log(VG_LOG_INFO, "policy: client %s group %s qname %s type %u: %s (%s, %s%s%s)",
		       ca, d->group ? d->group : "-", qn, q->qtype, text, actions[d->action],
		       trigger, d->stage ? ", at CNAME target " : "", sn);
		return;
	}
	struct vg_plog_entry e = {
		.client = ca, .port = port,
		.transport = peer->transport == VG_TRANSPORT_UDP ? "udp" : "tcp",
		.group = d->group, .qname = qn, .qtype = q->qtype, .source = source,
		.trigger = trigger, .rule = rule, .action = actions[d->action],
		.ede = d->denied_by_allowlist ? 15 : pol->src[d->source].ede,
		.stage = d->stage, .stage_name = d->stage ? sn : NULL,
	};
	if (!vg_plog_write(w->shared->plog, w->id, &e))
		VG_STAT_INC(w->stats.policy_log_dropped);
}

/* The decision after resolution on a cached answer (vg_answer_hook), from
 * inside vg_resolv_answer_cached while its RRsets are still there: decide,
 * and when the policy rewrites, answer (or drop) right here.  Nonzero when
 * done; 0 lets the cached answer go out as it is. */
struct post_check {
	struct vg_worker *w;
	const struct vg_policy *pol;
	const struct vg_query *q;
	const struct vg_client_q *cq;
	const struct vg_peer *peer;
	struct vg_policy_decision *d;
	const struct vg_answer_hook *hook;
};

static int post_check_fn(void *arg, struct vg_rrset *const *ans, unsigned nans)
{
	struct post_check *c = arg;
	struct vg_worker *w = c->w;
	struct vg_policy_answer pa = {
		.qname = c->q->qname, .qtype = c->q->qtype, .ans = ans, .nans = nans,
		.cache = w->env.cache, .now = w->env.now_s ? w->env.now_s : vg_time_now_s(),
		.buf = w->scratch2, .cap = VG_SCRATCH, /* answer_cached uses scratch only */
		.dnssec_data = c->hook->dnssec_data,
	};
	int r = vg_policy_check_response(c->pol, &pa, c->d);
	if (VG_UNLIKELY(c->d->logonly.set))
		log_only_decision(w, c->pol, c->q, c->peer, c->d);
	return r && policy_respond(w, c->pol, c->q, c->cq, c->peer, c->d, ans, nans);
}

/*
 * The local data of decision @p d for a query of type @p qtype (RPZ.md 2.2):
 * for ANY every record, else the RRset of that type; else the CNAME (a
 * walled garden's "*.garden" target becomes <owner>.garden).  The RRsets go
 * to @p out (*@p n: capacity in, count out), their RDATA into @p buf.
 * Returns 1 when the answer is a CNAME to follow (@p rdr has its target),
 * else 0 (records, or none: NODATA).  An override's "cname DOMAIN" is
 * @p ocname.
 */
static int local_data(const struct vg_policy *pol, const struct vg_policy_decision *d,
		      const uint8_t *ocname, uint16_t qtype, const uint8_t *owner,
		      struct vg_rrset **out, unsigned *n, struct vg_rrset *rrs, uint8_t *buf,
		      size_t cap, struct vg_redirect *rdr)
{
	struct vg_pol_hit h = { .rule = d->rule, .source = d->source };
	struct vg_pol_ldata ld;
	uint16_t types[8];
	unsigned nt = 0, max = *n < 8 ? *n : 8;
	const uint8_t *cname = ocname;
	uint32_t cttl = 60, cur = 0;
	*n = 0;
	while (!cname && d->rule && vg_pol_local_next(pol->snap, &h, &cur, &ld)) {
		if (ld.type == VG_T_CNAME && qtype != VG_T_CNAME && qtype != VG_T_ANY) {
			cname = ld.rdata;
			cttl = ld.ttl;
			break;
		}
		if (qtype != VG_T_ANY && ld.type != qtype)
			continue;
		unsigned t = 0;
		while (t < nt && types[t] != ld.type)
			t++;
		if (t == nt && nt < max)
			types[nt++] = ld.type;
	}
	if (cname) {
		/* a walled garden: "*.garden" -> <owner>.garden */
		size_t ol = vg_name_len(owner), cl = vg_name_len(cname), tl = cl;
		if (cname[0] == 1 && cname[1] == '*') {
			tl = ol - 1 + cl - 2;
			if (tl > VG_NAME_MAX)
				return 0; /* too long: NODATA */
			memcpy(rdr->target, owner, ol - 1);
			memcpy(rdr->target + ol - 1, cname + 2, cl - 2);
		} else {
			memcpy(rdr->target, cname, cl);
		}
		vg_put16(rdr->cname, (uint16_t)tl);
		memcpy(rdr->cname + 2, rdr->target, tl);
		rdr->ttl = cttl;
		if (qtype != VG_T_CNAME && qtype != VG_T_ANY)
			return 1;
		/* CNAME / ANY queries get the CNAME itself */
		rrs[0] = (struct vg_rrset){ .owner = owner, .type = VG_T_CNAME, .rclass = VG_C_IN,
					    .ttl = cttl, .count = 1, .rdata_len = (uint16_t)(2 + tl),
					    .rdata = rdr->cname };
		out[0] = &rrs[0];
		*n = 1;
		return 0;
	}
	size_t off = 0;
	for (unsigned t = 0; t < nt; t++) {
		struct vg_rrset *rs = &rrs[*n];
		*rs = (struct vg_rrset){ .owner = owner, .type = types[t], .rclass = VG_C_IN,
					 .ttl = UINT32_MAX, .rdata = buf + off };
		cur = 0;
		while (vg_pol_local_next(pol->snap, &h, &cur, &ld)) {
			if (ld.type != types[t])
				continue;
			if (off + 2 + ld.rdlen > cap || rs->rdata_len + 2u + ld.rdlen > UINT16_MAX)
				break;
			vg_put16(buf + off, ld.rdlen);
			memcpy(buf + off + 2, ld.rdata, ld.rdlen);
			off += 2u + ld.rdlen;
			rs->rdata_len = (uint16_t)(rs->rdata_len + 2 + ld.rdlen);
			rs->count++;
			if (ld.ttl < rs->ttl)
				rs->ttl = ld.ttl;
		}
		if (rs->count)
			out[(*n)++] = rs;
	}
	return 0;
}

/* A match of a source whose override is "disabled": logged, nothing else. */
static void log_only_decision(struct vg_worker *w, const struct vg_policy *pol,
			      const struct vg_query *q, const struct vg_peer *peer,
			      const struct vg_policy_decision *d)
{
	struct vg_policy_decision lo;
	memset(&lo, 0, offsetof(struct vg_policy_decision, name));
	lo.name[0] = lo.stage_name[0] = 0;
	lo.matched = true;
	lo.group = d->group;
	lo.source = d->logonly.source;
	lo.trigger = (enum vg_pol_trigger)d->logonly.trigger;
	lo.action = VG_ACT_PASSTHRU;
	lo.line = d->logonly.line;
	lo.labels = d->logonly.labels;
	lo.wildcard = d->logonly.wildcard;
	lo.bits = d->logonly.bits;
	memcpy(lo.addr, d->logonly.addr, 16);
	char text[300];
	vg_policy_describe(pol, &lo, q->qname, text, sizeof(text));
	strncat(text, " (disabled: log only)", sizeof(text) - strlen(text) - 1);
	log_decision(w, pol, q, peer, &lo, text);
}

/* Apply a policy decision: true when the query was answered (or dropped)
 * by the policy.  A match at a later stage of the CNAME chain (dp->stage)
 * keeps the chain's CNAMEs from @p ans up to the rewritten name, and the
 * action applies to that name. */
static bool policy_respond(struct vg_worker *w, const struct vg_policy *pol,
			   const struct vg_query *q, const struct vg_client_q *cq,
			   const struct vg_peer *peer, const struct vg_policy_decision *dp,
			   struct vg_rrset *const *ans, unsigned nans)
{
	struct vg_policy_decision d = *dp;
	char text[300];
	const uint8_t *ocname;
	vg_policy_override(pol, &d, &ocname); /* the source's override, if any */
	vg_policy_describe(pol, &d, q->qname, text, sizeof(text));
	log_decision(w, pol, q, peer, &d, text);
	if (d.action == VG_ACT_PASSTHRU)
		return false; /* an override "passthru": logged, answered normally */
	VG_STAT_INC(w->stats.policy_rewrites);
	if (d.action == VG_ACT_DROP) {
		VG_STAT_INC(w->stats.dropped);
		return true;
	}
	const struct vg_policy_src *src = d.denied_by_allowlist ? NULL : &pol->src[d.source];
	struct vg_rrset soa = { 0 }, addr = { 0 };
	struct vg_rrset *out[VG_ARRAY_SIZE(((struct vg_request *)0)->answer) + 1];
	unsigned nout = d.stage ? vg_policy_chain(q->qname, ans, nans, d.stage, out,
						  VG_ARRAY_SIZE(out) - 1) : 0;
	const uint8_t *owner = d.stage ? d.stage_name : q->qname;
	uint8_t rd[2 + 16], lbuf[4096];
	struct vg_rrset lrs[8];
	struct vg_answer_view av = { .ede = src ? src->ede : 15, .ede_text = text,
				     .ans = out, .nans = nout };
	policy_soa(src, &soa, &av);
	switch (d.action) {
	case VG_ACT_TCP_ONLY:
		if (peer->transport != VG_TRANSPORT_UDP)
			return false; /* over TCP the query is answered normally */
		av.rcode = VG_RCODE_NOERROR;
		av.tc = true;
		av.add_soa = NULL;
		av.nans = 0;
		break;
	case VG_ACT_NODATA:
		av.rcode = VG_RCODE_NOERROR;
		break;
	case VG_ACT_LOCAL:
	case VG_ACT_GARDEN: {
		struct vg_redirect rdr;
		unsigned k = VG_ARRAY_SIZE(out) - av.nans;
		int r = local_data(pol, &d, ocname, q->qtype, owner, out + av.nans, &k, lrs, lbuf,
				   sizeof(lbuf), &rdr);
		if (r == 1 && redirect_chain(&rdr, out, av.nans)) {
			/* follow the CNAME: its target is resolved (without policy); at a
			 * later chain stage the chain's CNAMEs come first */
			memcpy(rdr.owner, owner, vg_name_len(owner));
			rdr.ede = av.ede;
			snprintf(rdr.text, sizeof(rdr.text), "%s", text);
			rdr.src = src;
			start_request(w, q->pkt, q->len, q, peer, NULL, NULL, &rdr);
			return true;
		}
		if (r == 1) { /* (a chain too long to carry: the CNAME, not followed) */
			lrs[0] = (struct vg_rrset){ .owner = owner, .type = VG_T_CNAME,
						    .rclass = VG_C_IN, .ttl = rdr.ttl, .count = 1,
						    .rdata_len = (uint16_t)(2 + vg_get16(rdr.cname)),
						    .rdata = rdr.cname };
			out[av.nans + k++] = &lrs[0];
		}
		av.rcode = VG_RCODE_NOERROR;
		av.nans += k; /* the records, or none: NODATA */
		break;
	}
	case VG_ACT_NULL_ADDR:
		av.rcode = VG_RCODE_NOERROR;
		if (q->qtype == VG_T_A || q->qtype == VG_T_AAAA) {
			uint16_t l = q->qtype == VG_T_A ? 4 : 16;
			memset(rd, 0, sizeof(rd));
			vg_put16(rd, l);
			addr = (struct vg_rrset){ .owner = owner, .type = q->qtype,
						  .rclass = VG_C_IN, .ttl = 60, .count = 1,
						  .rdata_len = (uint16_t)(2 + l), .rdata = rd };
			out[av.nans++] = &addr;
		}
		break;
	default:
		av.rcode = VG_RCODE_NXDOMAIN;
		break;
	}
	size_t n = vg__resolv_write(cq, &av, w->txbuf, 65535);
	if (n)
		vg__worker_reply(w, peer, w->txbuf, n);
	VG_STAT_INC(w->stats.answered);
	return true;
}

static void reply_error(struct vg_worker *w, const struct vg_query *q, int rcode,
			const struct vg_peer *peer)
{
	size_t n = vg_wire_error_reply(q, rcode, false, w->cfg->max_udp_size, w->txbuf, 65535);
	if (n)
		vg__worker_reply(w, peer, w->txbuf, n);
}

void vg__worker_query(struct vg_worker *w, const uint8_t *pkt, size_t len,
		      const struct vg_peer *peer)
{
	struct vg_query q;
	int rcode;
	const struct vg_config *cfg = w->cfg;

	if (VG_UNLIKELY(w->stopping))
		return;
	VG_STAT_INC(w->stats.queries);
	if (vg_query_parse(&q, pkt, len, &rcode) < 0) {
		VG_STAT_INC(w->stats.malformed);
		return; /* not even a header, or a response: drop */
	}
	/* FEED: a NOTIFY for an RPZ feed (src/policy/feed.c).  Only the feed's own
	 * primaries (and TSIG key) may send one, so the client ACL does not apply. */
	if (VG_UNLIKELY(rcode == VG_RCODE_NOTIMP) && w->shared->feed &&
	    VG_F_OPCODE(q.flags) == VG_OPCODE_NOTIFY) {
		size_t n = vg_feed_notify(w->shared->feed, pkt, len, &peer->addr.sa, w->txbuf,
					  65535);
		if (n)
			vg__worker_reply(w, peer, w->txbuf, n);
		return;
	}
	enum vg_acl_action acl = vg_config_acl_check(cfg, &peer->addr.sa);
	if (acl == VG_ACL_DROP) {
		VG_STAT_INC(w->stats.dropped);
		return;
	}
	if (acl == VG_ACL_REFUSE) {
		VG_STAT_INC(w->stats.refused);
		reply_error(w, &q, VG_RCODE_REFUSED, peer);
		return;
	}
	if (rcode) {
		if (rcode == VG_RCODE_FORMERR)
			VG_STAT_INC(w->stats.formerr);
		else
			VG_STAT_INC(w->stats.notimp);
		reply_error(w, &q, rcode, peer);
		return;
	}
	if (q.qclass != VG_C_IN) {
		/* vigil serves the Internet class only */
		VG_STAT_INC(w->stats.refused);
		reply_error(w, &q, VG_RCODE_REFUSED, peer);
		return;
	}
	switch (q.qtype) {
	case VG_T_AXFR: case VG_T_IXFR:
		VG_STAT_INC(w->stats.refused);
		reply_error(w, &q, VG_RCODE_REFUSED, peer); /* no zone transfers from a resolver */
		return;
	case VG_T_MAILA: case VG_T_MAILB:
		VG_STAT_INC(w->stats.notimp);
		reply_error(w, &q, VG_RCODE_NOTIMP, peer);
		return;
	case VG_T_OPT: case 0:
		VG_STAT_INC(w->stats.formerr);
		reply_error(w, &q, VG_RCODE_FORMERR, peer);
		return;
	default:
		break;
	}
	struct vg_client_q cq = {
		.q = &q,
		.limit = peer->transport == VG_TRANSPORT_UDP ? udp_limit(cfg, &q) : 65535,
		.edns_size = cfg->max_udp_size,
	};
	/* POLICY: client-IP and QNAME rules run here, before the cache, for
	 * recursive queries (RPZ's default).  What only the answer can decide
	 * (RESPONSE-IP, NSDNAME, NSIP, the names of a CNAME chain) is decided
	 * on the answer: in the cache-hit hook, or in ctx_finish; so is a
	 * decision an earlier source's such rules could still beat (defer) */
	const struct vg_policy *pol = w->hints->policy;
	struct vg_policy_decision pd;
	bool wait_answer = false;
	if (pol) {
		/* recursive-only sources skip RD=0 queries (until they miss the
		 * cache, below); break-dnssec-no ones make a DO=1 query's rewrite
		 * wait for its answer, which must have no DNSSEC data (RPZ.md 2.5) */
		int r = vg_policy_check_flags(pol, &peer->addr.sa, q.qname, q.flags & VG_F_RD,
					      q.edns.present && q.edns.do_bit, &pd);
		if (VG_UNLIKELY(pd.logonly.set)) {
			log_only_decision(w, pol, &q, peer, &pd);
			pd.logonly.set = false; /* (the answer may find another) */
		}
		if (r && !pd.defer && policy_respond(w, pol, &q, &cq, peer, &pd, NULL, 0))
			return;
		wait_answer = pd.check_answer;
	}
	struct post_check pc = { w, pol, &q, &cq, peer, &pd };
	struct vg_answer_hook hook = { post_check_fn, &pc, false, false };
	pc.hook = &hook;
	if (wait_answer)
		cq.hook = &hook; /* cached answers are checked too, without a request */
	size_t n = vg_resolv_answer_cached(&w->env, &cq, w->txbuf, 65535);
	if (hook.fired) {
		/* the policy answered (or dropped) it from inside the hook */
		VG_STAT_INC(w->stats.cache_hits);
		return;
	}
	if (n) {
		VG_STAT_INC(w->stats.cache_hits);
		VG_STAT_INC(w->stats.answered);
		vg__worker_reply(w, peer, w->txbuf, n);
		return;
	}
	if (pol && !(q.flags & VG_F_RD) && pd.skip_srcs) {
		/* recursive-only sources leave RD=0 queries alone, but this one is
		 * about to be resolved (not in the cache): they apply after all,
		 * so that nothing goes upstream past the policy */
		int r = vg_policy_check_flags(pol, &peer->addr.sa, q.qname, true,
					      q.edns.present && q.edns.do_bit, &pd);
		if (VG_UNLIKELY(pd.logonly.set)) {
			log_only_decision(w, pol, &q, peer, &pd);
			pd.logonly.set = false;
		}
		if (r && !pd.defer && policy_respond(w, pol, &q, &cq, peer, &pd, NULL, 0))
			return;
		wait_answer = pd.check_answer;
	}
	if (w->inflight >= MAX_INFLIGHT) {
		VG_STAT_INC(w->stats.dropped);
		reply_error(w, &q, VG_RCODE_SERVFAIL, peer);
		return;
	}
	start_request(w, pkt, len, &q, peer, wait_answer ? pol : NULL, &pd, NULL);
}

/* ------------------------------------------------------------ lifecycle */

static void adopt_snapshot(struct vg_worker *w)
{
	uint64_t gen = atomic_load_explicit(&w->shared->gen, memory_order_acquire);
	const struct vg_config *cfg = atomic_load_explicit(&w->shared->cfg, memory_order_acquire);
	const struct vg_hints *h = atomic_load_explicit(&w->shared->hints, memory_order_acquire);
	w->cfg = cfg;
	w->hints = h;
	w->env.cfg = cfg;
	w->env.hints = h;
	w->env.ta = &h->ta;
	if (w->up)
		vg_upstream_set_config(w->up, cfg);
	atomic_store_explicit(&w->seen_gen, gen, memory_order_release);
}

uint64_t vg_worker_generation(struct vg_worker *w)
{
	return atomic_load_explicit(&w->seen_gen, memory_order_acquire);
}

static void on_tick(uv_timer_t *t)
{
	struct vg_worker *w = t->data;
	uint64_t now = uv_now(&w->loop);
	struct vg_ctx *x = w->inflight_head;
	while (x) {
		struct vg_ctx *next = x->next;
		if (x->deadline <= now) {
			VG_STAT_INC(w->stats.timeouts);
			x->req->rcode = VG_RCODE_SERVFAIL;
			x->req->fail_reason = "request time limit reached";
			ctx_finish(x);
		}
		x = next;
	}
}

static void close_cb_noop(uv_handle_t *h)
{
	(void)h;
}

static void do_stop(struct vg_worker *w)
{
	if (w->stopping)
		return;
	w->stopping = true;
	for (unsigned i = 0; i < w->n_udp; i++)
		uv_close((uv_handle_t *)&w->udp[i], close_cb_noop);
	for (unsigned i = 0; i < w->n_tcp; i++)
		uv_close((uv_handle_t *)&w->tcp[i], close_cb_noop);
	/* abandon requests in flight: their clients get no answer */
	while (w->inflight_head) {
		struct vg_ctx *x = w->inflight_head;
		x->peer.transport = x->peer.transport == VG_TRANSPORT_TCP ? VG_TRANSPORT_TCP
									   : VG_TRANSPORT_NONE;
		ctx_free(x);
	}
	vg__tcp_close_all(w);
	if (w->up)
		vg_upstream_shutdown(w->up);
	if (w->handles_ready) {
		uv_timer_stop(&w->tick);
		uv_close((uv_handle_t *)&w->tick, close_cb_noop);
		uv_close((uv_handle_t *)&w->wakeup, close_cb_noop);
	}
}

static void prime(struct vg_worker *w)
{
	struct vg_peer none = { .transport = VG_TRANSPORT_NONE };
	struct vg_query q;
	memset(&q, 0, sizeof(q));
	q.qname[0] = 0;
	q.qtype = VG_T_NS;
	q.qclass = VG_C_IN;
	vg_log(VG_LOG_INFO, "priming the root name servers");
	start_request(w, NULL, 0, &q, &none, NULL, NULL, NULL);
}

static void on_wakeup(uv_async_t *a)
{
	struct vg_worker *w = a->data;
	if (atomic_load(&w->stop_requested)) {
		do_stop(w);
		return;
	}
	adopt_snapshot(w);
}

static void *worker_main(void *arg)
{
	struct vg_worker *w = arg;
	if (w->prime_pending)
		prime(w);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	return NULL;
}

int vg_worker_init(struct vg_worker *w, unsigned id, struct vg_shared *shared)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->shared = shared;
	int r = uv_loop_init(&w->loop);
	if (r < 0)
		return r;
	w->loop_ready = true;
	w->rxbuf = malloc(VG_MMSG_BATCH * VG_UDP_QUERY_MAX);
	w->batch.buf = malloc(VG_MMSG_BATCH * VG_BATCH_REPLY_MAX);

	w->txbuf = malloc(65536 + 1024);
	w->msg = malloc(sizeof(*w->msg));
	w->scratch = malloc(VG_SCRATCH);
	w->scratch2 = malloc(VG_SCRATCH);
	w->infra = vg_infra_new(4096);
	if (!w->rxbuf || !w->batch.buf || !w->txbuf || !w->msg || !w->scratch || !w->scratch2 || !w->infra)
		return VG_ENOMEM;
	vg__udp_init_batch(w);
	adopt_snapshot(w);
	w->up = vg_upstream_new(&w->loop, w->infra, w->cfg, shared->upshare);
	if (!w->up)
		return VG_ENOMEM;
	w->env.cache = shared->cache;
	w->env.infra = w->infra;
	w->env.msg = w->msg;
	w->env.scratch = w->scratch;
	w->env.scratch2 = w->scratch2;
	w->keys = vg_keycache_new();
	w->env.keys = w->keys;
	uv_async_init(&w->loop, &w->wakeup, on_wakeup);
	w->wakeup.data = w;
	uv_timer_init(&w->loop, &w->tick);
	w->tick.data = w;
	uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS);
	w->handles_ready = true;

	const struct vg_config *cfg = w->cfg;
	for (size_t i = 0; i < cfg->n_listen; i++) {
		char a[64];
		vg_sockaddr_str(&cfg->listen[i], a, sizeof(a));
		r = vg__udp_listen(w, &cfg->listen[i]);
		if (r < 0) {
			vg_log(VG_LOG_ERR, "cannot listen on UDP %s: %s", a, vg_strerror(r));
			return r;
		}
		r = vg__tcp_listen(w, &cfg->listen[i], &w->tcp[w->n_tcp]);
		if (r < 0) {
			vg_log(VG_LOG_ERR, "cannot listen on TCP %s: %s", a, vg_strerror(r));
			return r;
		}
		w->n_tcp++;
		if (id == 0)
			vg_log(VG_LOG_INFO, "listening on %s (UDP and TCP)", a);
	}
	w->prime_pending = id == 0 && cfg->prime_root;
	return 0;
}

int vg_worker_start(struct vg_worker *w)
{
	return -pthread_create(&w->thread, NULL, worker_main, w);
}

void vg_worker_stop(struct vg_worker *w)
{
	atomic_store(&w->stop_requested, true);
	uv_async_send(&w->wakeup);
}

void vg_worker_notify(struct vg_worker *w)
{
	uv_async_send(&w->wakeup);
}

void vg_worker_join(struct vg_worker *w)
{
	pthread_join(w->thread, NULL);
}

void vg_worker_deinit(struct vg_worker *w)
{
	if (!w->loop_ready)
		return;
	if (!w->stopping) /* never started (start-up error): close what init opened */
		do_stop(w);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	uv_loop_close(&w->loop);
	for (unsigned i = 0; i < w->n_udp; i++)
		close(w->udp_fd[i]); /* uv_poll_t does not own the socket */
	vg_upstream_free(w->up);
	vg_infra_free(w->infra);
	vg_keycache_free(w->keys);
	w->keys = NULL;
	free(w->rxbuf);
	free(w->batch.buf);
	free(w->txbuf);
	free(w->msg);
	free(w->scratch);
	free(w->scratch2);
}
