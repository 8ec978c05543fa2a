/* SPDX-License-Identifier: MIT
 *
 * The policy engine (issue 4): RPZ zones and ordinary blocklists compiled
 * into one immutable snapshot per configuration, looked up per query.
 *
 * This header holds the shared vocabulary (triggers, actions, address
 * prefixes, one parsed rule) used by the parsers (rpz.c for RPZ owner names
 * and actions, rpzload.c for zone files, lists.c for hosts / domain /
 * adblock lists) and the compiled lookup structures (snapshot.c).
 */
#ifndef VG_POLICY_H
#define VG_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vigil/err.h"
#include "vigil/wire.h"

/** RPZ triggers, in the precedence order of RPZ.md 2.4 rule 4 (lower wins). */
enum vg_pol_trigger {
	VG_TRIG_CLIENT_IP = 0, /* <prefix>.<reversed addr>.rpz-client-ip */
	VG_TRIG_QNAME = 1,     /* example.com / *.example.com */
	VG_TRIG_RESP_IP = 2,   /* <prefix>.<reversed addr>.rpz-ip */
	VG_TRIG_NSDNAME = 3,   /* ns.example.com.rpz-nsdname (and *.) */
	VG_TRIG_NSIP = 4,      /* <prefix>.<reversed addr>.rpz-nsip */
};

/** What a matching rule does (RPZ.md 2.2, and the list sources of issue 4). */
enum vg_pol_action {
	VG_ACT_NXDOMAIN = 0, /* CNAME . */
	VG_ACT_NODATA,       /* CNAME *. */
	VG_ACT_PASSTHRU,     /* CNAME rpz-passthru. (or the legacy CNAME to itself) */
	VG_ACT_DROP,         /* CNAME rpz-drop. */
	VG_ACT_TCP_ONLY,     /* CNAME rpz-tcp-only. */
	VG_ACT_LOCAL,        /* local data: any other RRsets (a plain CNAME included) */
	VG_ACT_GARDEN,       /* CNAME *.garden.example.: CNAME to <qname>.garden.example. */
	VG_ACT_NULL_ADDR,    /* answer 0.0.0.0 / :: (list sources, on request) */
};

/**
 * An address prefix in one 128-bit space: IPv4 a.b.c.d/n is ::a.b.c.d with
 * n + 96 bits (RPZ.md 2.4 rule 6, "internal prefix"), IPv6 as is.
 */
struct vg_pol_prefix {
	uint8_t addr[16];
	uint8_t bits; /* 0..128, internal length */
	bool v4;      /* written as IPv4 in the rule */
};

/** One rule as parsed, before compilation.  Names are wire form, lower-case. */
struct vg_pol_rule {
	enum vg_pol_trigger trigger;
	bool wildcard;              /* QNAME / NSDNAME: "*." prefix (matches below, not at) */
	uint8_t name[VG_NAME_MAX];  /* QNAME / NSDNAME triggers: the name, "*." removed */
	struct vg_pol_prefix prefix; /* IP triggers */
	enum vg_pol_action action;
	bool allow;                 /* a list's allow rule ("@@||example.com^") */
	unsigned line;              /* where it was read (file:line in logs and explain) */
	/* local data (VG_ACT_LOCAL) and walled gardens (VG_ACT_GARDEN, a CNAME
	 * to "*.garden"): one record of the rule, RDATA in uncompressed wire
	 * form; only valid while the rule is handed over (rules for the same
	 * trigger are merged into one rule with several records) */
	uint16_t ltype;
	uint16_t ldata_len;
	uint32_t lttl;
	const uint8_t *ldata;
};

/* ------------------------------------------------------------ rpz.c */

/**
 * Decode an RPZ owner name relative to the policy zone's apex @p origin into
 * the trigger part of @p rule (trigger, wildcard, name or prefix).  @p owner
 * must be at or below @p origin.  0, VG_EINVAL for an invalid trigger (bits
 * set past the prefix, a prefix out of range, a malformed or non-canonical
 * address encoding, "zz" misused), VG_ENOTSUP for the apex itself or an
 * unknown "rpz-" trigger label, VG_EMALFORMED otherwise.  *@p why (may be
 * NULL) gets a short English reason for the error message.
 */
int vg_rpz_owner(const uint8_t *owner, const uint8_t *origin, struct vg_pol_rule *rule,
		 const char **why);

#endif
