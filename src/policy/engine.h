/* SPDX-License-Identifier: MIT
 *
 * The policy engine (engine.c): the configured sources compiled into one
 * immutable object, and the decision for a client query.  Loaded with the
 * config snapshot (start-up and SIGHUP), read by every worker.
 */
#ifndef VG_POLICY_ENGINE_H
#define VG_POLICY_ENGINE_H

#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "core/core.h"
#include "policy/policy.h"
#include "policy/snapshot.h"

struct vg_policy_src {
	char name[64];
	uint16_t ede;
	bool rpz;                    /* an RPZ zone: its SOA goes into rewritten answers */
	uint8_t origin[VG_NAME_MAX];
	uint32_t serial;
	uint8_t soa[2 + 512];        /* the zone's SOA in packed RRset form ([u16 len][rdata]) */
	uint32_t soa_ttl;
	struct vg_policy_source cfg; /* the configuration it was loaded with */
	struct vg_pol_compiled *comp; /* its rules (the snapshot holds the reference) */
	bool loaded;                 /* false: optional, and its file could not be read */
	bool reused;                 /* shared with the previous policy (file unchanged, or kept) */
	bool kept;                   /* the new file was broken: this is the previous version */
	unsigned rules, errors;
	/* the file as loaded: a reload reads it again only when one of these changed */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

/** How a client's group was chosen (precedence: the lowest non-zero value). */
enum vg_pol_by {
	VG_POL_BY_NONE = 0,     /* no group */
	VG_POL_BY_CERT_FP,      /* client-certs "sha256:..." named the client's certificate */
	VG_POL_BY_CERT_SUBJECT, /* client-certs "subject:..." named its subject */
	VG_POL_BY_ID,           /* client-ids named its client ID */
	VG_POL_BY_ADDR,         /* the longest prefix of clients matched its address */
};
/** "client-cert", "client-cert-subject", "client-id", "address" ("-" for none). */
const char *vg_policy_by_name(enum vg_pol_by by);

/** One identity a group names: sorted by (kind, key) for a binary search. */
struct vg_policy_ident_ent {
	const char *key; /* into the policy's copy of the group ("subject:" left out) */
	uint8_t kind;    /* enum vg_pol_by: CERT_FP, CERT_SUBJECT or ID */
	uint8_t group;
};

#define VG_POLICY_MAX_IDENTS (VG_POLICY_MAX_GROUPS * (VG_POLICY_MAX_IDS + VG_POLICY_MAX_CERTS))

struct vg_policy {
	atomic_uint refs;
	bool qname_wait_recurse; /* policy.qname-wait-recurse (RPZ.md 2.5 knobs) */
	unsigned min_ns_dots;    /* policy.min-ns-dots (RPZ.md 2.3) */
	unsigned kept;               /* sources that kept their previous version */
	struct vg_pol_snapshot *snap;
	unsigned nsources;
	struct vg_policy_src src[VG_POLICY_MAX_SOURCES];
	unsigned ngroups;
	struct vg_policy_group groups[VG_POLICY_MAX_GROUPS]; /* a copy: immutable */
	unsigned nidents;
	struct vg_policy_ident_ent idents[VG_POLICY_MAX_IDENTS]; /* the groups' client-ids and
								    * client-certs, sorted */
};

/**
 * Who the client is beyond its address, as the transport authenticated or
 * was told (TLS server name, DoH path, client certificate); borrowed for
 * the call.  Pass NULL when there is none (UDP, TCP): then no string is
 * looked at.
 */
struct vg_policy_ident {
	const char *id;           /* client ID, "" or NULL: none */
	const char *cert_fp;      /* "sha256:<64 lower-case hex>", or NULL */
	const char *cert_subject; /* RFC 2253 one-line subject, or NULL */
};

/**
 * Load every source of @p opts (off the workers: start-up, reload).  Bad
 * records are reported to @p errout as FILE:LINE and skipped; a source that
 * cannot be read at all is an error (VG_ECONFIG) unless it is optional.
 *
 * With @p prev (the policy in force, on reload): a source whose config and
 * file (device, inode, size, mtime) are unchanged shares prev's compiled
 * rules instead of being read again; a changed source whose new file cannot
 * be read or has errors keeps its previous version (said on @p errout).
 * The result has one reference.
 */
int vg_policy_load(struct vg_policy **out, const struct vg_policy_opts *opts,
		   const struct vg_policy *prev, FILE *errout);
void vg_policy_ref(const struct vg_policy *p);
/** Drop a reference; the last one frees the policy (and unshared rules). */
void vg_policy_free(struct vg_policy *p);

struct vg_policy_decision {
	bool matched, rewrite, wildcard, denied_by_allowlist;
	bool defer;        /* decide after resolution: an earlier source has RESPONSE-IP,
			    * NSDNAME or NSIP rules that could still beat this decision */
	bool check_answer; /* vg_policy_check_response has something to do for this query */
	const char *group;
	unsigned gidx;     /* the group's index in p->groups (with group) */
	enum vg_pol_by by; /* why that group: an identity it names, or the address */
	unsigned source;
	unsigned order;    /* position of the deciding source in the group (n_sources: none) */
	enum vg_pol_trigger trigger;
	enum vg_pol_action action;
	unsigned line, labels, bits;
	uint8_t addr[16];
	/* positions in the group (bit i: g->sources[i]) of the sources scanned
	 * before resolution that have rules the answer can trigger */
	uint32_t post_srcs;  /* RESPONSE-IP, NSDNAME or NSIP rules */
	uint32_t qname_srcs; /* QNAME rules (later CNAME stages) */
	unsigned stage;      /* CNAME/DNAME chain stage of the match: 0 = the qname */
	const struct vg_pol_crule *rule; /* the deciding rule (its local data), or NULL */
	uint32_t skip_srcs;  /* positions in the group of sources that do not apply to this
			      * query (recursive-only and RD=0) */
	bool kept_dnssec;    /* a match not applied: signed answer, break-dnssec no */
	uint32_t keep_srcs;  /* ... whose rules rewrite it only when the answer has no
			      * DNSSEC data (DO=1, break-dnssec no: RPZ.md 2.5) */
	/* the best match of a source whose override is "disabled": only logged,
	 * the next best match applies (RPZ.md 2.4) */
	struct {
		bool set, wildcard;
		uint8_t trigger, action;
		unsigned source, line, labels, bits;
		uint8_t addr[16];
	} logonly;
	/* from here on not cleared by vg_policy_check (only the first bytes) */
	uint8_t name[VG_NAME_MAX];       /* the name the rule matched when it is not the
					  * qname: a later stage's name (QNAME), the name
					  * server's name (NSDNAME, NSIP); "" otherwise */
	uint8_t stage_name[VG_NAME_MAX]; /* stage > 0: that stage's name (lower-case) */
};

/**
 * The decision before resolution for a query for @p qname (lower-case) from
 * @p client: 1 when the answer is rewritten (d->action says how), 0 when the
 * query resolves normally (no group, no match, or PASSTHRU / an allow rule).
 * d->check_answer says whether the answer must go through
 * vg_policy_check_response (cached answers included): the decision was
 * deferred (d->defer), or nothing matched the qname and the group has rules
 * an answer can trigger (RESPONSE-IP, NSDNAME, NSIP, or QNAME rules for the
 * names of a CNAME chain).
 */
int vg_policy_check(const struct vg_policy *p, const struct sockaddr *client,
		    const uint8_t *qname, struct vg_policy_decision *d);

/**
 * vg_policy_check for a query with these flags from a client with identity
 * @p ident (NULL: none): sources that do not apply to it (RD=0 with
 * recursive-only, the default; DO=1 without break-dnssec, the default for
 * configured sources) are skipped and marked in d->skip_srcs.
 * vg_policy_check is this with no identity, RD=1, DO=0.
 *
 * The group: one that names the client's certificate fingerprint, else its
 * certificate subject, else its client ID (the first such group in the
 * configuration), else the group with the longest prefix matching @p client
 * (d->by says which).  @p client may be NULL or of no address family when
 * an identity selects the group; CLIENT-IP rules then do not match.
 */
int vg_policy_check_flags(const struct vg_policy *p, const struct sockaddr *client,
			  const struct vg_policy_ident *ident, const uint8_t *qname, bool rd,
			  bool dnssec_ok, struct vg_policy_decision *d);

/**
 * The group of a client with @p ident (NULL: none) and address @p client,
 * and why (*@p by); NULL when no group applies.  What vg_policy_check_flags
 * uses.
 */
const struct vg_policy_group *vg_policy_group_of(const struct vg_policy *p,
						 const struct sockaddr *client,
						 const struct vg_policy_ident *ident,
						 enum vg_pol_by *by);


struct vg_cache;

/** What the decision after resolution looks at; all borrowed for the call. */
struct vg_policy_answer {
	const uint8_t *qname;         /* lower-case */
	uint16_t qtype;
	struct vg_rrset *const *ans;  /* the answer section (the CNAME chain, then the data) */
	unsigned nans;
	/* name server names and addresses for NSDNAME / NSIP rules: read from the
	 * cache (NS RRsets of the delegation points, A / AAAA of the names);
	 * cache NULL: those rules do not apply */
	struct vg_cache *cache;
	uint32_t now;
	uint8_t *buf; /* copy-out scratch for the cache reads, >= 1 KiB */
	size_t cap;
	bool dnssec_data; /* the answer carries DNSSEC data (RRSIGs, a signed denial) */
};

/**
 * The decision after resolution (RPZ.md 2.4), updating @p d (from
 * vg_policy_check) in place.  The chain is qname (stage 0), then the target
 * of each CNAME of the answer in turn (DNAMEs through the CNAMEs synthesized
 * from them); QTYPE ANY, CNAME and DNAME have stage 0 only.  At each stage,
 * in the group's source order, the first source with a match decides; within
 * a source QNAME > RESPONSE-IP (A / AAAA RRsets owned by the stage's name) >
 * NSDNAME > NSIP (name servers of every cached delegation point from the
 * stage's name up to p->min_ns_dots labels).  Stage 0's CLIENT-IP and
 * QNAME rules were decided before resolution: only earlier sources can beat
 * that decision here, and when stage 0 has a match (PASSTHRU included) later
 * stages are not looked at -- one rule for the whole chain.  Among NSDNAME
 * matches of a source: exact before wildcard, more labels, then the name
 * server's name that sorts last (canonical order); among RESPONSE-IP or NSIP
 * matches: the longest prefix, then the smallest address.
 *
 * 1 when the answer is rewritten (d->stage > 0: the answer keeps the chain's
 * CNAMEs up to d->stage_name, see vg_policy_chain).  No allocation; the cache
 * is only read.
 */
int vg_policy_check_response(const struct vg_policy *p, const struct vg_policy_answer *a,
			     struct vg_policy_decision *d);

/**
 * The RRsets of @p ans that lead from @p qname to the name of stage @p stage
 * (the CNAMEs, and DNAMEs they were synthesized from), in order, into @p out
 * (capacity @p cap).  Returns how many.
 */
unsigned vg_policy_chain(const uint8_t *qname, struct vg_rrset *const *ans, unsigned nans,
			 unsigned stage, struct vg_rrset **out, unsigned cap);

/**
 * The decision @p d with its source's override applied (RPZ.md 2.5): the
 * action replaced by the override's (NXDOMAIN, NODATA, PASSTHRU, DROP,
 * TCP-only, or a CNAME to the override's domain, which is local data);
 * "given" and "disabled" change nothing here (disabled sources never
 * decide).  *@p cname gets the override's CNAME target or NULL.
 */
void vg_policy_override(const struct vg_policy *p, struct vg_policy_decision *d,
			const uint8_t **cname);

/**
 * EXTRA-TEXT for the EDE: "vigil: SOURCE rule RULE", RULE as the source has
 * the trigger ("bad.example", "*.example", "client-ip 192.0.2.0/24",
 * "response-ip ...", "nsdname ns.example", "nsip 192.0.2.53/32").
 */
size_t vg_policy_describe(const struct vg_policy *p, const struct vg_policy_decision *d,
			  const uint8_t *qname, char *buf, size_t cap);
/** "nxdomain", "nodata", "drop", "local-data" ... ("unknown" for a value out of range). */
const char *vg_policy_action_name(enum vg_pol_action a);

/* ------------------------------------------------------------ respond.c */

#define VG_POLICY_ANSWER_MAX 64 /* answer RRsets a rewritten answer keeps */
#define VG_REDIRECT_CHAIN 8     /* CNAME / DNAME RRsets before a later stage's local CNAME */

/*
 * A local-data CNAME to follow (a plain one, a walled garden's, or an
 * override's "cname DOMAIN"): the answer is that CNAME and then the
 * resolution of its target, to which no policy applies (RPZ.md 2.3: never
 * to data the policy itself synthesised).
 */
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
	} chain[VG_REDIRECT_CHAIN];
	uint8_t chain_buf[4096];
};

struct vg_plog;

/** The client as the decision log sees it; all borrowed for the call. */
struct vg_policy_client {
	const struct sockaddr *addr;
	const char *transport;     /* "udp", "tcp", "dot", "doh" */
	const char *id;            /* TLS / HTTP client ID, "" or NULL: none */
	const char *cert_fp;       /* client certificate: "sha256:...", or NULL */
	const char *cert_subject;  /* its subject (RFC 2253), or NULL */
	bool datagram;             /* TCP-only rules truncate (UDP) */
	struct vg_plog *plog;      /* the JSON decision log, NULL: the main log */
	unsigned worker;           /* the decision log's ring */
	vg_counter_t *log_dropped; /* counts lines the decision log had no room for */
};

enum vg_pol_outcome {
	VG_POL_PASS,   /* answer normally (an override "passthru", TCP-only over TCP) */
	VG_POL_ANSWER, /* the rewritten answer is in the buffer */
	VG_POL_DROP,   /* send nothing */
	VG_POL_FOLLOW, /* resolve rdr->target (no policy) and answer with
			* vg_policy_redirect_answer */
};

/**
 * What vg_policy_respond carried out, for the pipeline's counters and query
 * log: the action after the source's override, and the decision's
 * description as logged ("vigil: SOURCE rule RULE", vg_policy_describe).
 */
struct vg_policy_note {
	enum vg_pol_action action;
	char text[300];     /* as the EDE text of the answer carries it */
};

/**
 * Carry out decision @p d for the query of @p cq: log it (decision log or
 * main log), apply its source's override, and write the rewritten answer
 * into @p buf (*@p len) -- NXDOMAIN, NODATA, TC for TCP-only over UDP, the
 * null address, local data -- or say DROP, PASS or FOLLOW (@p rdr filled).
 * A match at a later CNAME-chain stage (d->stage) keeps the chain's RRsets
 * from @p ans up to that name.  @p note (may be NULL) receives the action
 * carried out and the description, formatted once for the log and the
 * caller.  No allocation.
 */
enum vg_pol_outcome vg_policy_respond(const struct vg_policy *p,
				      const struct vg_policy_decision *d,
				      const struct vg_policy_client *c,
				      const struct vg_client_q *cq, struct vg_rrset *const *ans,
				      unsigned nans, struct vg_redirect *rdr, uint8_t *buf,
				      size_t cap, size_t *len, struct vg_policy_note *note);

/** Log the match of a "disabled" source carried in d->logonly (nothing else). */
void vg_policy_log_only(const struct vg_policy *p, const struct vg_policy_decision *d,
			const struct vg_policy_client *c, const uint8_t *qname, uint16_t qtype);

/**
 * The answer to a followed redirect: the chain's RRsets, the CNAME, then the
 * target's resolution (@p rcode, @p ans, @p soa), with the rule's EDE.
 */
size_t vg_policy_redirect_answer(const struct vg_redirect *r, const struct vg_client_q *cq,
				 int rcode, struct vg_rrset *const *ans, unsigned nans,
				 const struct vg_rrset *soa, uint8_t *buf, size_t cap);

#endif
