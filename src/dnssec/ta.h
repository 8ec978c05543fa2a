/* SPDX-License-Identifier: MIT
 *
 * DNSSEC trust anchors: the IANA root anchors built in (KSK-2017, key tag
 * 20326, and KSK-2024, key tag 38696, as DS records), or anchors read from
 * files in DS or DNSKEY presentation format (via ldns: start-up and reload
 * only).  Any zone may be an anchor point.  The validator
 * (src/resolv/validate.c) walks the chain of trust down from these; RFC 5011
 * keeps them current (autota.h).
 */
#ifndef VG_DNSSEC_TA_H
#define VG_DNSSEC_TA_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dnssec/dnssec.h"

#define VG_TA_MAX 64
#define VG_TA_RDATA_MAX 2048

struct vg_ta {
	uint8_t owner[VG_NAME_MAX]; /* lower-case */
	uint16_t type;              /* VG_T_DS or VG_T_DNSKEY */
	uint16_t rdlen;
	uint8_t rdata[VG_TA_RDATA_MAX];
};

struct vg_ta_set {
	unsigned n;
	struct vg_ta ta[VG_TA_MAX];
};

/** The IANA root anchors. */
int vg_ta_builtin(struct vg_ta_set *s);

/**
 * Add the DS and DNSKEY records of @p path.  Every problem is reported to
 * @p errout as "FILE:LINE: message"; records of other types are errors too.
 * 0, or a negative code when anything was wrong (the set is then partial).
 */
int vg_ta_load(struct vg_ta_set *s, const char *path, FILE *errout);

/**
 * Is @p name (wire form, lower-case) at or below a negative trust anchor or
 * an insecure name of @p o?  Data there is insecure: not validated, no AD.
 */
bool vg_dnssec_is_insecure(const struct vg_dnssec_opts *o, const uint8_t *name);

/** The closest anchor point at or above @p name, or NULL (name is insecure). */
const uint8_t *vg_ta_anchor_for(const struct vg_ta_set *s, const uint8_t *name);

/**
 * Is the DNSKEY (@p owner, @p key) trusted by an anchor: a DS anchor whose
 * digest matches, or a DNSKEY anchor with the same rdata?  0 yes, VG_EBOGUS
 * no, VG_ENOTSUP if the only anchors for @p owner use unsupported digests or
 * algorithms (then the zone is to be treated as insecure, RFC 4035 5.2).
 */
int vg_ta_trusts_key(const struct vg_ta_set *s, const uint8_t *owner, const uint8_t *key,
		     size_t keylen);

#endif
