/* SPDX-License-Identifier: MIT
 *
 * The compiled, immutable policy snapshot (snapshot.c): per source, a hash
 * table of name triggers and prefix tries of address triggers.  Built off the
 * worker threads from parsed rules; read by any number of threads at once.
 * Each source is compiled on its own (vg_pol_compile_*) into a
 * reference-counted object that several snapshots may share.
 */
#ifndef VG_POLICY_SNAPSHOT_H
#define VG_POLICY_SNAPSHOT_H

#include "policy/policy.h"

/** A compiled rule (12 bytes). */
struct vg_pol_crule {
	uint8_t action;   /* enum vg_pol_action */
	uint8_t trigger;  /* enum vg_pol_trigger */
	bool wildcard;
	bool allow;
	uint32_t line;    /* where the source had it */
	uint32_t data;    /* local data: its first record (vg_pol_local_next), 0 = none */
};

/** The rules of one source, in the order read. */
struct vg_pol_source_rules {
	const struct vg_pol_rule *rules;
	size_t n;
};

/** Called for each rule dropped as a duplicate of an earlier one (may be NULL). */
struct vg_pol_dup_cb {
	void (*fn)(void *arg, const struct vg_pol_rule *dropped);
	void *arg;
};

struct vg_pol_snapshot;
struct vg_pol_compiled; /* one source, compiled */

/**
 * Compile one source incrementally: begin, add each rule in the order read,
 * end.  Within a source the first rule for a trigger key wins; later
 * duplicates go to @p dupcb (now or at the end), except local data, whose
 * records for one trigger are merged into one rule (a CNAME excludes any
 * other data).  The result starts with one reference.  0 or VG_ENOMEM.
 */
int vg_pol_compile_begin(struct vg_pol_compiled **out);
int vg_pol_compile_add(struct vg_pol_compiled *c, const struct vg_pol_rule *r,
		       struct vg_pol_dup_cb *dupcb);
int vg_pol_compile_end(struct vg_pol_compiled *c, struct vg_pol_dup_cb *dupcb);
void vg_pol_compiled_ref(struct vg_pol_compiled *c);
void vg_pol_compiled_unref(struct vg_pol_compiled *c);
unsigned vg_pol_compiled_rules(const struct vg_pol_compiled *c);

/** A snapshot of @p n compiled sources (in zone order); takes a reference on each. */
int vg_pol_assemble(struct vg_pol_snapshot **out, struct vg_pol_compiled *const *srcs,
		    unsigned n);
struct vg_pol_compiled *vg_pol_source(const struct vg_pol_snapshot *s, unsigned source);

/**
 * Compile @p nsources sources (index = configured order) into a snapshot.
 * Within a source the first rule for a trigger key wins; later duplicates go
 * to @p dupcb.  0 or VG_ENOMEM.
 */
int vg_pol_build(struct vg_pol_snapshot **out, const struct vg_pol_source_rules *sources,
		 unsigned nsources, struct vg_pol_dup_cb *dupcb);
void vg_pol_free(struct vg_pol_snapshot *s);

/** Bytes the snapshot holds (tables, names, rules, tries). */
size_t vg_pol_memory(const struct vg_pol_snapshot *s);
unsigned vg_pol_rule_count(const struct vg_pol_snapshot *s, unsigned source);

/** A match, with what the precedence rules compare (RPZ.md 2.4). */
struct vg_pol_hit {
	const struct vg_pol_crule *rule;
	unsigned source;   /* zone order */
	unsigned labels;   /* name triggers: labels of the matched owner ("*" counted) */
	unsigned bits;     /* address triggers: internal prefix length */
	uint8_t addr[16];  /* address triggers: the address that matched */
};

/**
 * Best QNAME or NSDNAME rule of @p source for @p name (any case): an exact
 * match, else the wildcard with the most labels.  0 or VG_ENOTFOUND.  Cost:
 * at most one probe sequence per label of @p name.
 */
int vg_pol_match_name(const struct vg_pol_snapshot *s, unsigned source, enum vg_pol_trigger t,
		      const uint8_t *name, struct vg_pol_hit *hit);

/**
 * Longest-prefix CLIENT-IP, RESPONSE-IP or NSIP rule of @p source containing
 * @p addr (internal 128-bit form: IPv4 as ::a.b.c.d, see vg_pol_addr_v4).
 * 0 or VG_ENOTFOUND.
 */
int vg_pol_match_ip(const struct vg_pol_snapshot *s, unsigned source, enum vg_pol_trigger t,
		    const uint8_t addr[16], struct vg_pol_hit *hit);

/** Does @p source have any rule of trigger @p t (address triggers only)? */
bool vg_pol_has_ip_rules(const struct vg_pol_snapshot *s, unsigned source, enum vg_pol_trigger t);

/** RESPONSE-IP, NSDNAME and NSIP rules of @p source whose action is PASSTHRU (or allow). */
unsigned vg_pol_answer_passthru(const struct vg_pol_snapshot *s, unsigned source);

/** Rules of trigger @p t in @p source (any trigger; cheap). */
unsigned vg_pol_trigger_count(const struct vg_pol_snapshot *s, unsigned source,
			      enum vg_pol_trigger t);

/** One local-data record of a rule. */
struct vg_pol_ldata {
	uint16_t type;
	uint16_t rdlen;
	uint32_t ttl;
	const uint8_t *rdata; /* uncompressed wire form */
};

/**
 * The local-data records of the rule of @p hit, one per call: start with
 * *@p cursor = 0; false when there are no more.
 */
bool vg_pol_local_next(const struct vg_pol_snapshot *s, const struct vg_pol_hit *hit,
		       uint32_t *cursor, struct vg_pol_ldata *out);

/** IPv4 address into the internal form. */
void vg_pol_addr_v4(const uint8_t v4[4], uint8_t out[16]);

#endif
