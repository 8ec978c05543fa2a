/* SPDX-License-Identifier: MIT
 *
 * Reading an RPZ zone file into policy rules (rpzload.c, via ldns: a
 * control-path job, never on the query path).
 */
#ifndef VG_POLICY_RPZLOAD_H
#define VG_POLICY_RPZLOAD_H

#include "policy/policy.h"

struct vg_rpz_ctx {
	/* in */
	const char *path;     /* for messages */
	/* with origin_set, the policy zone's name from the configuration (a
	 * source's 'zone'): the $ORIGIN until the file sets one, and the name
	 * the zone's SOA must be owned by (also a $ORIGIN before the SOA) */
	uint8_t origin[VG_NAME_MAX];
	bool origin_set;
	int (*emit)(void *arg, const struct vg_pol_rule *r); /* <0 stops reading */
	void *arg;
	FILE *errout;         /* "FILE:LINE: message" per bad record; may be NULL */
	/* out */
	uint32_t serial;      /* the SOA serial */
	uint8_t soa[512];     /* the SOA's rdata (uncompressed wire form), for answers */
	uint16_t soa_len;
	uint32_t soa_ttl;
	unsigned rules;       /* rules emitted */
	unsigned errors;      /* records reported and skipped */
	unsigned ignored;     /* unknown higher-format triggers (harmless, RPZ.md 2.1) */
};

/**
 * Read the zone in @p f; c->origin is set to the zone's apex (the owner of
 * its first record, the SOA).  The zone's name must be known: from a
 * $ORIGIN before the first record, or from c->origin (origin_set).  Bad
 * records are reported and skipped.  0; VG_EPARSE when the file is not a
 * zone at all (no SOA first), has no name, or names another zone than
 * c->origin; or the first negative value emit returned.
 */
int vg_rpz_load(FILE *f, struct vg_rpz_ctx *c);

#endif
