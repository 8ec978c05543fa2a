/* SPDX-License-Identifier: MIT
 *
 * Reading hosts files, one-domain-per-line lists and adblock-style domain
 * rules into policy rules (lists.c).
 */
#ifndef VG_POLICY_LISTS_H
#define VG_POLICY_LISTS_H

#include "policy/policy.h"

enum vg_pol_list_fmt { VG_LIST_HOSTS, VG_LIST_DOMAINS, VG_LIST_ADBLOCK };

/** One list being read: what to read, where rules go, what was found. */
struct vg_pol_list_ctx {
	/* in */
	const char *path;             /* for messages */
	enum vg_pol_list_fmt format;
	enum vg_pol_action action;    /* for block entries (allow entries keep it, allow=true) */
	int (*emit)(void *arg, const struct vg_pol_rule *r); /* <0 stops reading */
	void *arg;
	FILE *errout;                 /* "FILE:LINE: message" per bad line; may be NULL */
	/* out */
	unsigned entries;             /* names read (each gives an exact and a wildcard rule) */
	unsigned errors;              /* bad lines, reported and skipped */
	unsigned skipped;             /* adblock rules that are not whole-domain rules */
};

/**
 * Read @p f to the end.  Each entry is emitted twice: the name (exact) and
 * everything below it (wildcard).  Bad lines are reported and skipped.
 * 0, -EIO, or the first negative value emit returned.
 */
int vg_pol_list_parse(FILE *f, struct vg_pol_list_ctx *c);

/** "hosts", "domains" or "adblock" to its enum value; VG_EINVAL otherwise. */
int vg_pol_list_format(const char *name);

#endif
