/* SPDX-License-Identifier: MIT
 *
 * The policy engine: RPZ zones and ordinary blocklists compiled
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

#include "core/addr.h"
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

/** What a matching rule does (RPZ.md 2.2, and the actions of list sources). */
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

/* ------------------------------------------------------------ options */

#define VG_POLICY_MAX_SOURCES 32
#define VG_POLICY_MAX_GROUPS 16
#define VG_POLICY_MAX_CLIENTS 32 /* prefixes per group */
#define VG_POLICY_MAX_PRIMARIES 4
#define VG_POLICY_MAX_IDS 32     /* client-ids per group */
#define VG_POLICY_MAX_CERTS 16   /* client-certs per group */
#define VG_POLICY_ID_MAX 64      /* a client ID, with its NUL (the pipeline's VG_CLIENT_ID_MAX) */
#define VG_POLICY_CERT_MAX 256   /* a client-certs entry, with its NUL */
#define VG_POLICY_MIN_NS_DOTS_DEFAULT 1 /* policy.min-ns-dots */
#define VG_POLICY_WATCH_MS 2000         /* policy.watch: yes polls the files this often */

enum vg_policy_source_type { VG_PSRC_RPZ = 0, VG_PSRC_HOSTS, VG_PSRC_DOMAINS, VG_PSRC_ADBLOCK };
/** A source's override of its rules' actions (RPZ.md 2.5): GIVEN keeps them. */
enum vg_policy_override {
	VG_POVR_GIVEN = 0, VG_POVR_DISABLED, VG_POVR_NXDOMAIN, VG_POVR_NODATA, VG_POVR_PASSTHRU,
	VG_POVR_DROP, VG_POVR_TCP_ONLY, VG_POVR_CNAME,
};

/** policy.sources[]: one RPZ zone or list. */
struct vg_policy_source {
	char name[64];
	char file[512];   /* feeds: the last good copy (default <feed-directory>/<name>.rpz) */
	enum vg_policy_source_type type;
	uint16_t ede;     /* 15 (default), 16 or 17 */
	int action;       /* lists: enum vg_pol_action for block entries (NXDOMAIN default) */
	bool optional;    /* a broken file at start-up is a warning, not an error */
	/* RPZ.md 2.5: the per-zone policy override, and where the rules apply */
	int override;     /* enum vg_policy_override */
	uint8_t override_cname[VG_NAME_MAX]; /* override "cname DOMAIN" (wire) */
	bool recursive_only; /* rules apply to RD=1 queries only (default yes) */
	bool break_dnssec;   /* rewrite DO=1 queries for signed data too (default no) */
	/* the policy zone's name (wire, lower-case; {0}: not given): for a file
	 * source without $ORIGIN, and the zone a feed transfers */
	uint8_t zone[VG_NAME_MAX];
	/* RPZ feeds (src/feed): the zone is transferred from a primary.  src/feed
	 * reads these through this header; src/policy never includes a feed
	 * header (feed/feed.h says why the settings live here) */
	struct vg_sockaddr primaries[VG_POLICY_MAX_PRIMARIES]; /* default port 53 */
	size_t n_primaries;                /* 0: a plain file, not a feed */
	unsigned tsig_key;                 /* 1 + index into the feed options' keys; 0: no TSIG */
};

/**
 * policy.groups[]: clients (by address prefix, client ID or client
 * certificate) and the sources applied to them.  A group that names a
 * client's identity wins over every group selected by address: by
 * certificate fingerprint, then certificate subject, then client ID, then
 * the longest matching prefix (engine.c).
 */
struct vg_policy_group {
	char name[64];
	struct vg_prefix clients[VG_POLICY_MAX_CLIENTS];
	size_t n_clients;
	/* client-ids: lower-case [a-z0-9-], as the transports give them */
	char ids[VG_POLICY_MAX_IDS][VG_POLICY_ID_MAX];
	size_t n_ids;
	/* client-certs: "sha256:<64 lower-case hex>" (the certificate's DER) or
	 * "subject:<RFC 2253 subject>", as the transports give them */
	char certs[VG_POLICY_MAX_CERTS][VG_POLICY_CERT_MAX];
	size_t n_certs;
	uint8_t sources[VG_POLICY_MAX_SOURCES]; /* indexes into the sources */
	size_t n_sources;
	bool allowlist;   /* only allowed / PASSTHRU names resolve */
};

/** The policy section of the configuration. */
struct vg_policy_opts {
	struct vg_policy_source sources[VG_POLICY_MAX_SOURCES];
	size_t n_sources;
	struct vg_policy_group groups[VG_POLICY_MAX_GROUPS];
	size_t n_groups;
	char log[512];           /* JSON decision log: a file, "syslog", or "" (the main log) */
	bool qname_wait_recurse; /* resolve a name a rule rewrites, to let an earlier
				  * source's answer-side rules decide (default no) */
	unsigned min_ns_dots;    /* NSDNAME/NSIP: delegation points with fewer labels are
				  * not looked at (default 1: the root's are not) */
	unsigned watch_ms;       /* poll the sources' files for changes; 0 = off (default 2000) */
};

#endif
