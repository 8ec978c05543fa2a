/* SPDX-License-Identifier: MIT
 *
 * The policy engine (engine.c): the configured sources compiled into one
 * immutable object, and the decision for a client query.  Loaded with the
 * config snapshot (start-up and SIGHUP), read by every worker.
 */
#ifndef VG_POLICY_ENGINE_H
#define VG_POLICY_ENGINE_H

#include <sys/socket.h>

#include "daemon/config.h"
#include "policy/snapshot.h"

struct vg_policy_src {
	char name[64];
	uint16_t ede;
	bool rpz;                    /* an RPZ zone: its SOA goes into rewritten answers */
	uint8_t origin[VG_NAME_MAX];
	uint32_t serial;
	uint8_t soa[2 + 512];        /* the zone's SOA in packed RRset form ([u16 len][rdata]) */
	uint32_t soa_ttl;
};

struct vg_policy {
	struct vg_pol_snapshot *snap;
	unsigned nsources;
	struct vg_policy_src src[VG_CONFIG_MAX_POLICY_SOURCES];
	unsigned ngroups;
	struct vg_policy_group groups[VG_CONFIG_MAX_POLICY_GROUPS]; /* a copy: immutable */
};

/**
 * Load every source of @p cfg.  Bad records are reported to @p errout as
 * FILE:LINE and skipped; a source that cannot be read at all is an error
 * (VG_ECONFIG) unless it is optional.
 */
int vg_policy_load(struct vg_policy **out, const struct vg_config *cfg, FILE *errout);
void vg_policy_free(struct vg_policy *p);

struct vg_policy_decision {
	bool matched, rewrite, wildcard, denied_by_allowlist;
	bool defer;        /* decide after resolution: an earlier source has RESPONSE-IP rules */
	const char *group;
	unsigned source;
	unsigned order;    /* position of the deciding source in the group (n_sources: none) */
	enum vg_pol_trigger trigger;
	enum vg_pol_action action;
	unsigned line, labels, bits;
	uint8_t addr[16];
};

/**
 * The decision before resolution for a query for @p qname (lower-case) from
 * @p client: 1 when the answer is rewritten (d->action says how), 0 when the
 * query resolves normally (no group, no match, or PASSTHRU / an allow rule).
 */
int vg_policy_check(const struct vg_policy *p, const struct sockaddr *client,
		    const uint8_t *qname, struct vg_policy_decision *d);

/**
 * Does this client's group have RESPONSE-IP rules at all (so that its
 * answers, cached ones included, must be checked after resolution)?
 */
bool vg_policy_wants_response(const struct vg_policy *p, const struct sockaddr *client);

/**
 * The decision after resolution: the pre-resolution decision @p d (from
 * vg_policy_check, updated in place) against the RESPONSE-IP rules matching
 * the A/AAAA records of the answer (@p ans, @p nans RRsets; answer section
 * only).  A RESPONSE-IP match in an earlier source wins over a later
 * source's QNAME rule (RPZ.md 2.4 rule 2); within a source the longest
 * prefix, then the smallest address wins (rules 6, 7).  1 when the answer
 * is rewritten.
 */
int vg_policy_check_response(const struct vg_policy *p, const struct sockaddr *client,
			     struct vg_rrset *const *ans, unsigned nans,
			     struct vg_policy_decision *d);

/** EXTRA-TEXT for the EDE: "vigil: SOURCE rule RULE". */
size_t vg_policy_describe(const struct vg_policy *p, const struct vg_policy_decision *d,
			  const uint8_t *qname, char *buf, size_t cap);

#endif
