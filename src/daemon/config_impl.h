/* SPDX-License-Identifier: MIT
 *
 * Internals of the config loader, shared by its files and by nothing else:
 *
 *   config.c         the YAML walk: reading the file, the libyaml event check
 *                    and document, the table-driven walk over mappings and
 *                    lists of mappings, FILE:LINE error reporting
 *   config_keys.c    the schema of every section but policy: key tables, the
 *                    custom keys (addresses, ACL, trust anchor files), the
 *                    cross-key checks and vg_config_defaults()
 *   config_policy.c  the policy section: its key table and those of its list
 *                    items (sources, groups, tsig-keys), their custom keys and
 *                    checks, the default policy
 *   config_discovery.c  the discovery section (DDR, the canary) and what DDR
 *                    announces (vg_config_ddr_from_config)
 *   config_dump.c    vg_config_dump(): the tables written back as YAML
 *
 * The schema is a tree of tables.  A table (struct vg__cfg_map) describes
 * one YAML mapping: a section, whose fields live in struct vg_config, or an
 * item of a list (forward-zones, policy.sources, ...), whose fields live in
 * the item's own struct.  Each key gives its type, the field it sets (offset
 * and size in that struct), its range and default, so that the defaults, the
 * loader and the dump cannot drift apart.  A key whose value is really
 * special (an address or prefix list, a base64 secret, a reference to another
 * entry) has a parse and a dump function of its own.
 */
#ifndef VG_DAEMON_CONFIG_IMPL_H
#define VG_DAEMON_CONFIG_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <yaml.h>

#include "daemon/config.h"

#define VG_CFG_MAX_KEYS 24              /* keys per table */
#define VG_CFG_LINE_BAD ((size_t)-1)    /* the key was present but rejected */
#define VG_CFG_MAX_ADDRS 16             /* every address list of the schema */
#define VG_CFG_MAX_NAMES 64             /* NAMES lists, at most */
#define VG_CFG_MIB ((size_t)1 << 20)
#define VG_CFG_STRINGIFY_(x) #x
#define VG_CFG_STRINGIFY(x) VG_CFG_STRINGIFY_(x)

enum vg__cfg_type {
	VG_CFG_UINT,   /* decimal in min..max; a field of 2, 4 or 8 bytes */
	VG_CFG_BOOL,   /* yes/no, true/false, on/off; a bool */
	VG_CFG_SIZE,   /* "64M"; a size_t of at least min */
	VG_CFG_STR,    /* a string of min..size-1 bytes; a char array */
	VG_CFG_ENUM,   /* one of names[]; an int-sized field */
	VG_CFG_NAME,   /* a domain name; uint8_t[size], wire form, lower-case */
	VG_CFG_NAMES,  /* a list of domain names: uint8_t[max][size], count at n_off */
	VG_CFG_LIST,   /* a list of mappings, each described by list->item */
	VG_CFG_MAP,    /* a section: a mapping described by map (root table only) */
	VG_CFG_CUSTOM, /* parse and dump */
};

enum {
	VG_CFG_REQUIRED = 1,   /* list items: the entry needs this key */
	VG_CFG_UNIQUE = 2,     /* list items: no two entries may have the same value */
	VG_CFG_NOT_ROOT = 4,   /* NAME: "." is not a valid value */
	VG_CFG_SKIP_EMPTY = 8, /* dump: left out when empty ("" or the root name) */
};

struct vg__cfg_enum {
	const char *name;
	int value;
};

struct vg__cfg_ctx;
struct vg__cfg_key;
struct vg__cfg_map;

/** Where the dump writes, and the config it comes from (for references). */
struct vg__cfg_out {
	FILE *f;
	const struct vg_config *cfg;
};

/*
 * A custom key's parser: reports what is wrong (the ctx's 'where' names the
 * key); the key counts as rejected when it reported anything.
 */
typedef void vg__cfg_parse_fn(struct vg__cfg_ctx *c, void *base, yaml_node_t *val);
/*
 * A custom key's dump: "LEAD" then "key: value" (nested lines indented past
 * column @p col); false when it wrote nothing.
 */
typedef bool vg__cfg_dump_fn(const struct vg__cfg_out *o, const char *lead, int col,
			     const struct vg__cfg_key *k, const void *base);

struct vg__cfg_key {
	const char *name;
	enum vg__cfg_type type;
	unsigned flags;                  /* VG_CFG_REQUIRED ... */
	size_t off, size;                /* the field, in the struct the table describes */
	unsigned long long min, max;     /* UINT, SIZE: range; STR: least length; NAMES: max */
	const char *def;                 /* default, in the file's syntax; NULL: zero */
	const char *want;                /* a bad value: "expected WANT"; NULL: from the type */
	const struct vg__cfg_enum *names; /* ENUM, NULL-terminated */
	size_t n_off;                    /* NAMES: the size_t count */
	const struct vg__cfg_map *map;   /* MAP */
	const struct vg__cfg_list *list; /* LIST */
	vg__cfg_parse_fn *parse;         /* CUSTOM */
	vg__cfg_dump_fn *dump;           /* CUSTOM; NULL: not dumped */
};

/* Which keys a mapping had (by table index), and where. */
struct vg__cfg_seen {
	size_t line[VG_CFG_MAX_KEYS]; /* 0: absent; VG_CFG_LINE_BAD: rejected */
	yaml_node_t *val[VG_CFG_MAX_KEYS];
};

/** One table: a section, or an item of a list. */
struct vg__cfg_map {
	const char *name;  /* value errors are "NAME.KEY: ..." */
	const char *in;    /* "unknown key 'x' in IN" */
	const char *label; /* "LABEL: expected WHAT, got a list" */
	const char *what;  /* NULL: "a mapping" */
	const struct vg__cfg_key *keys;
	size_t n_keys;
	size_t size;       /* items: the item struct's size */
	bool ordered;      /* values are read in table order, after the whole mapping
			    * (later keys use earlier ones); else in file order */
	/* items: the message for a missing key, and who decides (NULL: every
	 * VG_CFG_REQUIRED key must be there) */
	const char *need;
	bool (*has_needed)(const struct vg__cfg_seen *s);
	/* sections: called before the walk, even for an empty section */
	void (*begin)(struct vg__cfg_ctx *c);
	/* items: cross-key checks once every key was read without error; false
	 * (after reporting) leaves the entry out */
	bool (*check)(struct vg__cfg_ctx *c, void *base, const struct vg__cfg_seen *s,
		      yaml_node_t *item);
};

/** A list of mappings in struct vg_config (forward-zones, policy.sources ...). */
struct vg__cfg_list {
	const struct vg__cfg_map *item;
	size_t off, n_off; /* the array and its size_t count, in struct vg_config */
	size_t max;
};

/* The root: one key per section (MAP or LIST), in dump order. */
enum { VG_SEC_SERVER, VG_SEC_CACHE, VG_SEC_RESOLVER, VG_SEC_LIMITS, VG_SEC_DNSSEC,
       VG_SEC_FORWARDS, VG_SEC_POLICY, VG_SEC_LOG, VG_SEC_TLS, VG_SEC_HTTP, VG_SEC_DISCOVERY,
       VG_SEC_RATELIMIT, VG_SEC_METRICS, VG_SEC_CONTROL, VG_SEC_QLOG, VG_SEC_DNSTAP,
       VG_SEC_COUNT };
extern const struct vg__cfg_key vg__cfg_sections[VG_SEC_COUNT];

/** One load in progress. */
struct vg__cfg_ctx {
	struct vg_config *cfg;
	const char *path;
	FILE *errout;
	yaml_document_t *doc;
	unsigned errors;
	char where[80];               /* "section.key", prefixes value errors */
	struct vg__cfg_seen sec[VG_SEC_COUNT];
	/* the list whose entry is being read: VG_CFG_UNIQUE looks at the earlier ones */
	const char *list_arr;
	size_t list_n;
	/* server: port applies to the listen entries without one, after the walk */
	uint16_t port;
	bool listen_port[VG_CFG_MAX_ADDRS]; /* the entry had an explicit port */
	size_t listen_line[VG_CFG_MAX_ADDRS];
};

/* ---- field helpers for the tables ---- */

#define VG_CFG_FIELD(st, f) .off = offsetof(st, f), .size = sizeof(((st *)0)->f)
#define VG_CFG_KUINT(nm, st, f, lo, hi, d, ...) \
	{ .name = nm, .type = VG_CFG_UINT, VG_CFG_FIELD(st, f), .min = lo, .max = hi, .def = d, \
	  __VA_ARGS__ }
#define VG_CFG_KBOOL(nm, st, f, d, ...) \
	{ .name = nm, .type = VG_CFG_BOOL, VG_CFG_FIELD(st, f), .max = 1, .def = d, __VA_ARGS__ }
#define VG_CFG_KENUM(nm, st, f, tbl, d, ...) \
	{ .name = nm, .type = VG_CFG_ENUM, VG_CFG_FIELD(st, f), .names = tbl, .def = d, \
	  __VA_ARGS__ }
#define VG_CFG_KSTR(nm, st, f, least, d, ...) \
	{ .name = nm, .type = VG_CFG_STR, VG_CFG_FIELD(st, f), .min = least, .def = d, \
	  __VA_ARGS__ }
#define VG_CFG_KNAME(nm, st, f, ...) \
	{ .name = nm, .type = VG_CFG_NAME, VG_CFG_FIELD(st, f), __VA_ARGS__ }
#define VG_CFG_KNAMES(nm, st, f, cnt, d, ...) \
	{ .name = nm, .type = VG_CFG_NAMES, .off = offsetof(st, f), \
	  .size = sizeof(((st *)0)->f[0]), .max = sizeof(((st *)0)->f) / sizeof(((st *)0)->f[0]), \
	  .n_off = offsetof(st, cnt), .def = d, __VA_ARGS__ }
#define VG_CFG_KLIST(nm, l, ...) { .name = nm, .type = VG_CFG_LIST, .list = l, __VA_ARGS__ }
#define VG_CFG_KCUSTOM(nm, p, d, ...) \
	{ .name = nm, .type = VG_CFG_CUSTOM, .parse = p, .dump = d, __VA_ARGS__ }

/* ---- config.c: reporting and values ---- */

__attribute__((format(printf, 3, 4)))
void vg__cfg_report(struct vg__cfg_ctx *c, size_t line, const char *fmt, ...);
size_t vg__cfg_line(const yaml_node_t *n);
const char *vg__cfg_kind(const yaml_node_t *n);
bool vg__cfg_is_null(const yaml_node_t *n);
/** Quote untrusted text for a message: printable ASCII only, bounded. */
const char *vg__cfg_show(const char *s, size_t len, char *buf, size_t size);
/** The scalar's text, or NULL after reporting "WHERE: expected @p what, got a list". */
const char *vg__cfg_scalar(struct vg__cfg_ctx *c, yaml_node_t *n, const char *what);
/** "WHERE: expected @p what, got 'VALUE'" */
void vg__cfg_bad_value(struct vg__cfg_ctx *c, yaml_node_t *n, const char *what);
/** "WHERE: 'VALUE' is listed twice" */
void vg__cfg_dup_value(struct vg__cfg_ctx *c, yaml_node_t *n);
/** Point 'where' at key @p i of table @p m ("NAME.KEY"). */
void vg__cfg_where(struct vg__cfg_ctx *c, const struct vg__cfg_map *m, size_t i);
/**
 * The scalar items of a list value (a single scalar is a list of one, null
 * an empty one), at most @p max; anything reported sets *@p bad.
 */
size_t vg__cfg_list_items(struct vg__cfg_ctx *c, yaml_node_t *val, yaml_node_t **items,
			  size_t max, bool *bad);
/**
 * An address list into @p out (at most VG_CFG_MAX_ADDRS), bad and duplicate
 * entries reported (@p want says what an entry should be); the count, or -1.
 */
int vg__cfg_addr_list(struct vg__cfg_ctx *c, yaml_node_t *val, struct vg_sockaddr *out,
		      size_t max, uint16_t default_port, const char *want, size_t *lines);
/** Plain decimal only: no sign, no spaces, no 0x.  VG_EPARSE, VG_ELIMIT above @p max. */
int vg__cfg_enum_lookup(const struct vg__cfg_enum *names, const char *s);
const char *vg__cfg_enum_name(const struct vg__cfg_enum *names, int value);
unsigned long long vg__cfg_get_uint(const void *field, size_t size);
/** Set every key of @p m with a default, in @p base. */
void vg__cfg_defaults(const struct vg__cfg_map *m, void *base);
/** Table index of key @p name (m->n_keys when there is none). */
size_t vg__cfg_key_index(const struct vg__cfg_map *m, const char *name);

extern const struct vg__cfg_enum vg__cfg_bools[];

/* ---- config_keys.c, config_policy.c ---- */

/** Cross-key checks of the sections, after the walk. */
void vg__cfg_finish(struct vg__cfg_ctx *c);
extern const struct vg__cfg_map vg__cfg_policy_map;
extern const struct vg__cfg_map vg__cfg_discovery_map;
/** Cross-key checks of the discovery section (config_discovery.c), after the walk. */
void vg__cfg_discovery_finish(struct vg__cfg_ctx *c);
extern const struct vg__cfg_map vg__cfg_metrics_map;
/** Cross-key checks of the metrics section (config_metrics.c; section @p si). */
void vg__cfg_metrics_finish(struct vg__cfg_ctx *c, int si);
/** The query-log and dnstap sections (config_qlog.c) and their cross-key checks. */
extern const struct vg__cfg_map vg__cfg_qlog_map;
extern const struct vg__cfg_map vg__cfg_dnstap_map;
void vg__cfg_qlog_finish(struct vg__cfg_ctx *c);
/** The default policy (the shipped supply-chain zone for every client). */
void vg__cfg_default_policy(struct vg_config *cfg);

/* ---- config_dump.c: helpers for custom dumps ---- */

/** Wire name in presentation form, unusual bytes as \DDD (single quotes suffice). */
void vg__cfg_dump_name(FILE *out, const uint8_t *name);
/** A string in double quotes, with escapes. */
void vg__cfg_dump_str(FILE *out, const char *s);
/** "LEAD" "key:" then the addresses as a list (with their ports or not). */
void vg__cfg_dump_addrs(FILE *out, const char *lead, int col, const char *key,
			const struct vg_sockaddr *sa, size_t n, bool with_port);

#endif
