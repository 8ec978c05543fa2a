/* SPDX-License-Identifier: MIT
 *
 * vigil configuration loader: YAML file -> struct vg_config, plus the small
 * presentation-format parsers (addresses, prefixes, sizes, domain names) and
 * the ACL decision that other modules use.
 *
 * The file is read whole (capped at CONFIG_MAX_FILE).  A first pass over the
 * libyaml event stream stops at syntax errors, extra documents and nesting
 * deeper than CONFIG_MAX_DEPTH (libyaml's scanner is quadratic in the depth);
 * then the document API loads it.  The walk over the tree is shallow and table
 * driven: each section has a table of keys giving a type, a range, a default
 * and the field it sets, so the defaults, the loader and vg_config_dump()
 * cannot drift apart.  Every problem is reported as "FILE:LINE: message" and
 * the walk goes on, so one run shows all errors; only a YAML syntax error stops
 * early (libyaml cannot resume after one).  Cross-key checks (min-ttl <=
 * max-ttl, ...) run after the walk and skip keys that were already reported,
 * so one typo gives one error.  Aliases are harmless here: the document API
 * shares aliased nodes instead of copying them, and the walk never recurses.
 *
 * This file does not open sockets, read root hints or check that paths exist.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sodium.h>
#include <yaml.h>

#include "vigil/err.h"
#include "daemon/config.h"
#include "vigil/wire.h"

#define CONFIG_MAX_FILE (4u << 20) /* a config file is a few KiB; refuse absurd ones */
#define CONFIG_MAX_DEPTH 32        /* the schema needs 4 levels */
#define MAX_KEYS 16                /* keys per section, for the seen/line table */
#define LINE_BAD ((size_t)-1)      /* key was present but invalid */
#define MIB ((size_t)1 << 20)
#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_ADDRS 16               /* every address list of the schema */
_Static_assert(VG_NET_MAX_LISTEN == MAX_ADDRS && VG_UPSTREAM_MAX_SOURCES == MAX_ADDRS &&
		       VG_RESOLV_MAX_FORWARD_ADDRS == MAX_ADDRS,
	       "address lists share one parser bound");

_Static_assert(sizeof(enum vg_acl_action) == sizeof(int), "enum fields are stored as int");
_Static_assert(sizeof(enum vg_log_target) == sizeof(int), "enum fields are stored as int");

enum { SEC_SERVER, SEC_CACHE, SEC_RESOLVER, SEC_LIMITS, SEC_DNSSEC, SEC_FORWARDS, SEC_POLICY,
       SEC_LOG, SEC_COUNT };

struct ctx {
	struct vg_config *cfg;
	const char *path;
	FILE *errout;
	yaml_document_t *doc;
	unsigned errors;
	char where[80];                        /* "section.key", prefixes value errors */
	uint16_t port;                         /* server.port, applied after the walk */
	bool listen_port[MAX_ADDRS]; /* entry had an explicit port */
	size_t listen_line[MAX_ADDRS];
	size_t lines[SEC_COUNT][MAX_KEYS];     /* line a key was set at, 0 unset, LINE_BAD */
};

enum ktype { K_UINT, K_BOOL, K_SIZE, K_PATH, K_ENUM, K_CUSTOM };

struct enum_name {
	const char *name;
	int value;
};

struct key {
	const char *name;
	enum ktype type;
	size_t off, size; /* of the field in struct vg_config */
	unsigned long long min, max;
	const char *def;               /* default, in the same syntax as the file */
	const struct enum_name *names; /* K_ENUM, NULL-terminated */
	void (*parse)(struct ctx *c, yaml_node_t *val);       /* K_CUSTOM */
	void (*dump)(const struct vg_config *cfg, FILE *out); /* K_CUSTOM; NULL = not dumped */
};

struct section {
	const char *name;
	const struct key *keys; /* NULL: the whole value goes to parse/dump */
	size_t n_keys;
	void (*parse)(struct ctx *c, yaml_node_t *val);
	void (*dump)(const struct vg_config *cfg, FILE *out);
};

static const struct enum_name acl_actions[] = {
	{ "allow", VG_ACL_ALLOW }, { "refuse", VG_ACL_REFUSE }, { "drop", VG_ACL_DROP },
	{ NULL, 0 }
};
static const struct enum_name log_levels[] = {
	{ "error", 3 }, { "warning", 4 }, { "notice", 5 }, { "info", 6 }, { "debug", 7 },
	{ NULL, 0 }
};
static const struct enum_name log_targets[] = {
	{ "stderr", VG_LOG_STDERR }, { "syslog", VG_LOG_SYSLOG }, { NULL, 0 }
};
static const struct enum_name bools[] = {
	{ "yes", 1 }, { "no", 0 }, { "true", 1 }, { "false", 0 }, { "on", 1 }, { "off", 0 },
	{ NULL, 0 }
};

static const char *const default_listen[] = { "127.0.0.1", "::1" };
static const char *const default_acl[] = {
	"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
	"100.64.0.0/10", "169.254.0.0/16", "fc00::/7", "fe80::/10",
};

/* ---- presentation-format parsers ---- */

/* Plain decimal only: no sign, no spaces, no 0x.  VG_ELIMIT when above max. */
static int parse_ull(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;
	unsigned d;

	if (!*s)
		return VG_EPARSE;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return VG_EPARSE;
		d = (unsigned)(*s - '0');
		if (d > max || v > (max - d) / 10)
			return VG_ELIMIT;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int parse_port(const char *s, uint16_t *out)
{
	unsigned long long v;

	if (parse_ull(s, 65535, &v) < 0 || v == 0)
		return VG_EPARSE;
	*out = (uint16_t)v;
	return 0;
}



int vg_config_parse_size(const char *s, size_t *out)
{
	size_t n = strlen(s);
	char digits[24];
	unsigned long long v, mult = 1;
	int ret;

	if (n == 0 || n >= sizeof(digits))
		return VG_EPARSE;
	memcpy(digits, s, n + 1);
	switch (digits[n - 1]) {
	case 'k': case 'K': mult = 1ull << 10; break;
	case 'm': case 'M': mult = 1ull << 20; break;
	case 'g': case 'G': mult = 1ull << 30; break;
	default: break;
	}
	if (mult != 1)
		digits[n - 1] = '\0';
	ret = parse_ull(digits, SIZE_MAX, &v);
	if (ret == 0 && v > SIZE_MAX / mult)
		ret = VG_ELIMIT;
	if (ret == 0)
		*out = (size_t)(v * mult);
	return ret;
}

int vg_config_parse_name(const char *s, uint8_t *out, size_t outlen)
{
	return vg_name_from_str(s, out, outlen); /* one parser for names: src/wire/name.c */
}



/* ---- values: store, compare, format ---- */


static int enum_lookup(const struct enum_name *names, const char *s)
{
	for (; names->name; names++)
		if (!strcasecmp(names->name, s))
			return names->value;
	return -1;
}

static const char *enum_name_of(const struct enum_name *names, int value)
{
	for (; names->name; names++)
		if (names->value == value)
			return names->name;
	return "?";
}

static unsigned long long get_uint(const void *field, size_t size)
{
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	if (size == 2)
		return memcpy(&u16, field, 2), u16;
	if (size == 4)
		return memcpy(&u32, field, 4), u32;
	return memcpy(&u64, field, 8), u64;
}

static void put_uint(void *field, size_t size, unsigned long long v)
{
	uint16_t u16 = (uint16_t)v;
	uint32_t u32 = (uint32_t)v;
	uint64_t u64 = v;

	memcpy(field, size == 2 ? (void *)&u16 : size == 4 ? (void *)&u32 : (void *)&u64, size);
}

/* Set a table-typed key from its text; 0 or negative (the caller says what was expected). */
static int set_value(struct vg_config *cfg, const struct key *k, const char *s)
{
	char *field = (char *)cfg + k->off;
	unsigned long long v;
	size_t sz;
	int e;

	switch (k->type) {
	case K_BOOL:
	case K_ENUM:
		e = enum_lookup(k->type == K_BOOL ? bools : k->names, s);
		if (e < 0)
			return VG_EPARSE;
		if (k->type == K_BOOL)
			*(bool *)field = e;
		else
			memcpy(field, &e, sizeof(e));
		return 0;
	case K_SIZE:
		if (vg_config_parse_size(s, &sz) < 0 || sz < k->min)
			return VG_EPARSE;
		memcpy(field, &sz, sizeof(sz));
		return 0;
	case K_PATH:
		if (strlen(s) >= k->size)
			return VG_ELIMIT;
		memcpy(field, s, strlen(s) + 1);
		return 0;
	case K_UINT:
		if (parse_ull(s, k->max, &v) < 0 || v < k->min)
			return VG_EPARSE;
		put_uint(field, k->size, v);
		return 0;
	default:
		return VG_EINVAL;
	}
}

static const char *expected(const struct key *k, char *buf, size_t size)
{
	const struct enum_name *e;
	size_t o = 0;

	switch (k->type) {
	case K_BOOL:
		return "yes/no, true/false or on/off";
	case K_SIZE:
		return "a size of at least 1M, like 64M or 1G (suffixes k, M, G)";
	case K_PATH:
		return "a path shorter than 512 bytes";
	case K_ENUM:
		for (e = k->names; e->name && o < size; e++) {
			const char *sep = e == k->names ? "" : e[1].name ? ", " : " or ";
			o += (size_t)snprintf(buf + o, size - o, "%s%s", sep, e->name);
		}
		return buf;
	default:
		snprintf(buf, size, "an integer in %llu..%llu", k->min, k->max);
		return buf;
	}
}





/* ---- defaults ---- */

static const struct section sections[SEC_COUNT];

#ifndef VIGIL_POLICY_DIRS
#define VIGIL_POLICY_DIRS "/usr/local/share/vigil/policy"
#endif

/*
 * The default policy: the shipped supply-chain zone for every client, from
 * the installed copy or, for a build run from its source tree, the source's
 * (the first of VIGIL_POLICY_DIRS that has it).  Optional, so that a vigil
 * without the file still starts -- it says so in its log.  A policy section
 * in the config file replaces all of this.
 */
static void default_policy(struct vg_config *cfg)
{
	struct vg_policy_source *src = &cfg->policy.sources[0];
	struct vg_policy_group *g = &cfg->policy.groups[0];
	const char *dirs = VIGIL_POLICY_DIRS;
	char path[sizeof(src->file)];
	/* the installed copy unless only the source tree has one */
	snprintf(path, sizeof(path), "%.*s/supply-chain.rpz", (int)strcspn(dirs, ":"), dirs);
	for (const char *d = dirs; *d; d += strcspn(d, ":") + (d[strcspn(d, ":")] == ':')) {
		char cand[sizeof(src->file)];
		snprintf(cand, sizeof(cand), "%.*s/supply-chain.rpz", (int)strcspn(d, ":"), d);
		if (access(cand, R_OK) == 0) {
			memcpy(path, cand, sizeof(path));
			break;
		}
	}
	snprintf(src->name, sizeof(src->name), "supply-chain");
	snprintf(src->file, sizeof(src->file), "%s", path);
	src->type = VG_PSRC_RPZ;
	src->ede = 15;
	src->optional = true;
	src->recursive_only = true;
	/* protective default: validating stubs (DO=1) are protected too; a
	 * policy section gets the spec's default (no) unless it says yes */
	src->break_dnssec = true;
	cfg->policy.n_sources = 1;
	snprintf(g->name, sizeof(g->name), "everyone");
	vg_prefix_parse("0.0.0.0/0", &g->clients[0]);
	vg_prefix_parse("::/0", &g->clients[1]);
	g->n_clients = 2;
	g->sources[0] = 0;
	g->n_sources = 1;
	cfg->policy.n_groups = 1;
}

void vg_config_defaults(struct vg_config *cfg)
{
	const struct section *sec;
	const struct key *k;
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	for (sec = sections; sec < sections + SEC_COUNT; sec++)
		for (k = sec->keys; k && k < sec->keys + sec->n_keys; k++)
			if (k->def)
				set_value(cfg, k, k->def);
	for (i = 0; i < N(default_listen); i++)
		vg_sockaddr_parse(default_listen[i], 53, &cfg->net.listen[i]);
	cfg->net.n_listen = i;
	for (i = 0; i < N(default_acl); i++) {
		vg_prefix_parse(default_acl[i], &cfg->serve.acl.rule[i].prefix);
		cfg->serve.acl.rule[i].action = VG_ACL_ALLOW;
	}
	cfg->serve.acl.n = i;
	cfg->policy.watch_ms = 2000;
	cfg->policy.min_ns_dots = VG_POLICY_MIN_NS_DOTS_DEFAULT;
	default_policy(cfg);
	snprintf(cfg->feed.directory, sizeof(cfg->feed.directory), "%s", "/var/lib/vigil");
}

/* ---- error reporting ---- */

/* Quote untrusted text for a message: printable ASCII only, bounded length. */
static const char *show(const char *s, size_t len, char *buf, size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 5 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			buf[o++] = (char)ch;
		else
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
	}
	if (i < len && o + 4 <= size)
		o += (size_t)snprintf(buf + o, size - o, "...");
	buf[o] = '\0';
	return buf;
}

__attribute__((format(printf, 3, 4)))
static void report(struct ctx *c, size_t line, const char *fmt, ...)
{
	va_list ap;

	c->errors++;
	if (!c->errout)
		return;
	fprintf(c->errout, "%s:%zu: ", c->path, line);
	va_start(ap, fmt);
	vfprintf(c->errout, fmt, ap);
	va_end(ap);
	fputc('\n', c->errout);
}

static size_t line_of(const yaml_node_t *n)
{
	return n->start_mark.line + 1;
}

static const char *node_kind(const yaml_node_t *n)
{
	return n->type == YAML_MAPPING_NODE ? "a mapping" :
	       n->type == YAML_SEQUENCE_NODE ? "a list" : "a scalar";
}

static bool is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return !*v || !strcmp(v, "~") || !strcasecmp(v, "null");
}

/* The scalar's text, or NULL after reporting why it can't be used as one. */
static const char *scalar(struct ctx *c, yaml_node_t *n, const char *what)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE) {
		report(c, line_of(n), "%s: expected %s, got %s", c->where, what, node_kind(n));
		return NULL;
	}
	v = (const char *)n->data.scalar.value;
	if (strlen(v) != n->data.scalar.length) {
		report(c, line_of(n), "%s: value contains a NUL byte", c->where);
		return NULL;
	}
	return v;
}

static void bad_value(struct ctx *c, yaml_node_t *n, const char *what)
{
	char buf[100];

	report(c, line_of(n), "%s: expected %s, got '%s'", c->where, what,
	       show((const char *)n->data.scalar.value, n->data.scalar.length, buf, sizeof(buf)));
}

static void dup_value(struct ctx *c, yaml_node_t *n)
{
	char buf[100];

	report(c, line_of(n), "%s: '%s' is listed twice", c->where,
	       show((const char *)n->data.scalar.value, n->data.scalar.length, buf, sizeof(buf)));
}

/* ---- lists and custom keys ---- */

/*
 * Collect the scalar items of a list value (a single scalar is a one-item list,
 * null an empty one).  Items that are not scalars are reported and left out;
 * *bad is set when anything was reported.  Stops after @max items.
 */
static size_t list_items(struct ctx *c, yaml_node_t *val, yaml_node_t **items, size_t max,
			 bool *bad)
{
	yaml_node_item_t *it;
	yaml_node_t *item;
	size_t n = 0;

	*bad = false;
	if (is_null(val))
		return 0;
	if (val->type == YAML_MAPPING_NODE) {
		report(c, line_of(val), "%s: expected a list, got a mapping", c->where);
		*bad = true;
		return 0;
	}
	if (val->type == YAML_SCALAR_NODE) {
		*bad = !scalar(c, val, "a string");
		items[0] = val;
		return *bad ? 0 : 1;
	}
	for (it = val->data.sequence.items.start; it < val->data.sequence.items.top; it++) {
		item = yaml_document_get_node(c->doc, *it);
		if (n == max) {
			report(c, line_of(item), "%s: too many entries (at most %zu)", c->where,
			       max);
			*bad = true;
			break;
		}
		if (scalar(c, item, "a string"))
			items[n++] = item;
		else
			*bad = true;
	}
	return n;
}

/* Parse an address list into @out, reporting bad and duplicate entries; count or -1. */
static int addr_list(struct ctx *c, yaml_node_t *val, struct vg_sockaddr *out,
		     uint16_t default_port, size_t *lines)
{
	yaml_node_t *items[MAX_ADDRS];
	bool bad;
	size_t n = list_items(c, val, items, MAX_ADDRS, &bad), i, j, good = 0;

	for (i = 0; i < n; i++) {
		if (vg_sockaddr_parse((const char *)items[i]->data.scalar.value,
					     default_port, &out[good]) < 0) {
			bad_value(c, items[i],
				  "an address like 192.0.2.1, 192.0.2.1@53 or [2001:db8::1]:53");
			continue;
		}
		for (j = 0; j < good && !vg_sockaddr_eq(&out[j], &out[good]); j++)
			;
		if (j < good) {
			dup_value(c, items[i]);
			continue;
		}
		if (lines)
			lines[good] = line_of(items[i]);
		good++;
	}
	return bad || good != n ? -1 : (int)n;
}

static void parse_listen(struct ctx *c, yaml_node_t *val)
{
	/* default port 0 marks "no explicit port": server.port is applied in finish() */
	int n = addr_list(c, val, c->cfg->net.listen, 0, c->listen_line), i;

	if (n == 0)
		report(c, line_of(val), "%s: at least one address is needed", c->where);
	c->cfg->net.n_listen = n > 0 ? (size_t)n : 0;
	for (i = 0; i < n; i++)
		c->listen_port[i] = vg_sockaddr_port(&c->cfg->net.listen[i]) != 0;
}

static void parse_port_key(struct ctx *c, yaml_node_t *val)
{
	const char *s = scalar(c, val, "a port number");

	if (s && parse_port(s, &c->port) < 0)
		bad_value(c, val, "a port number in 1..65535");
}

static void parse_outgoing(struct ctx *c, yaml_node_t *val)
{
	int n = addr_list(c, val, c->cfg->upstream.outgoing, 0, NULL), i;

	c->cfg->upstream.n_outgoing = n > 0 ? (size_t)n : 0;
	for (i = 0; i < n; i++)
		vg_sockaddr_set_port(&c->cfg->upstream.outgoing[i], 0); /* only the address is used */
}

static void parse_acl(struct ctx *c, yaml_node_t *val)
{
	struct vg_config *cfg = c->cfg;
	yaml_node_t *items[VG_ACL_MAX];
	bool bad;
	size_t n = list_items(c, val, items, VG_ACL_MAX, &bad), i, j;

	cfg->serve.acl.n = 0; /* an explicit list replaces the default one */
	for (i = 0; i < n; i++) {
		struct vg_acl_rule *r = &cfg->serve.acl.rule[cfg->serve.acl.n];
		char pfx[INET6_ADDRSTRLEN + 8], act[16], extra;
		int ret = VG_EPARSE, a = -1;

		/* %51s cannot cut a valid prefix: the longest one has 49 characters */
		if (sscanf((const char *)items[i]->data.scalar.value, "%51s %15s %c", pfx, act,
			   &extra) == 2) {
			ret = vg_prefix_parse(pfx, &r->prefix);
			a = enum_lookup(acl_actions, act);
		}
		if (ret == VG_EINVAL) {
			bad_value(c, items[i], "a prefix with no bits set past its length");
			continue;
		}
		if (ret < 0 || a < 0) {
			bad_value(c, items[i],
				  "\"PREFIX ACTION\", ACTION one of allow, refuse or drop");
			continue;
		}
		vg_prefix_unmap(&r->prefix);
		r->action = (enum vg_acl_action)a;
		for (j = 0; j < cfg->serve.acl.n; j++)
			if (cfg->serve.acl.rule[j].prefix.family == r->prefix.family &&
			    cfg->serve.acl.rule[j].prefix.bits == r->prefix.bits &&
			    !memcmp(cfg->serve.acl.rule[j].prefix.addr, r->prefix.addr, 16))
				break;
		if (j < cfg->serve.acl.n)
			dup_value(c, items[i]);
		else
			cfg->serve.acl.n++;
	}
}

static void parse_forward_zone(struct ctx *c, yaml_node_t *item)
{
	struct vg_forward_zone *fz = &c->cfg->resolv.forwards[c->cfg->resolv.n_forwards];
	yaml_node_t *zone = NULL, *ups = NULL, **slot, *k;
	yaml_node_pair_t *p;
	const char *name;
	char buf[100];
	size_t i;
	int n;

	if (item->type != YAML_MAPPING_NODE) {
		report(c, line_of(item),
		       "forward-zones: expected a mapping with zone and upstreams, got %s",
		       node_kind(item));
		return;
	}
	for (p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top; p++) {
		k = yaml_document_get_node(c->doc, p->key);
		name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
		slot = !strcmp(name, "zone") ? &zone : !strcmp(name, "upstreams") ? &ups : NULL;
		if (!slot)
			report(c, line_of(k), "unknown key '%s' in section 'forward-zones'",
			       show(name, strlen(name), buf, sizeof(buf)));
		else if (*slot)
			report(c, line_of(k), "duplicate key '%s' in section 'forward-zones'",
			       name);
		else
			*slot = yaml_document_get_node(c->doc, p->value);
	}
	if (!zone || !ups) {
		report(c, line_of(item),
		       "forward-zones: an entry needs both 'zone' and 'upstreams'");
		return;
	}
	snprintf(c->where, sizeof(c->where), "forward-zones.zone");
	if (!scalar(c, zone, "a domain name"))
		return;
	n = vg_config_parse_name((const char *)zone->data.scalar.value, fz->zone, sizeof(fz->zone));
	if (n < 0) {
		bad_value(c, zone, "a domain name (labels of 1..63 bytes, 255 bytes in all)");
		return;
	}
	fz->zone_len = (size_t)n;
	for (i = 0; i < c->cfg->resolv.n_forwards; i++) {
		if (c->cfg->resolv.forwards[i].zone_len == fz->zone_len &&
		    !memcmp(c->cfg->resolv.forwards[i].zone, fz->zone, fz->zone_len)) {
			dup_value(c, zone);
			return;
		}
	}
	snprintf(c->where, sizeof(c->where), "forward-zones.upstreams");
	n = addr_list(c, ups, fz->upstreams, 53, NULL);
	if (n == 0)
		report(c, line_of(ups), "%s: at least one upstream is needed", c->where);
	if (n > 0) {
		fz->n_upstreams = (size_t)n;
		c->cfg->resolv.n_forwards++;
	}
}

static void parse_forwards(struct ctx *c, yaml_node_t *val)
{
	yaml_node_item_t *it;

	if (is_null(val))
		return;
	if (val->type != YAML_SEQUENCE_NODE) {
		report(c, line_of(val), "forward-zones: expected a list, got %s", node_kind(val));
		return;
	}
	for (it = val->data.sequence.items.start; it < val->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);
		if (c->cfg->resolv.n_forwards == VG_RESOLV_MAX_FORWARDS) {
			report(c, line_of(item), "forward-zones: too many entries (at most %d)",
			       VG_RESOLV_MAX_FORWARDS);
			return;
		}
		parse_forward_zone(c, item);
	}
}

/* ---- policy: sources and groups ---- */

/*
 * Collect the keys of mapping @p item into @p vals (by position in @p names,
 * NULL-terminated), reporting unknown and duplicate keys.  False if @p item
 * is not a mapping.
 */
static bool mapping_keys(struct ctx *c, yaml_node_t *item, const char *where,
			 const char *const *names, yaml_node_t **vals)
{
	char buf[100];
	if (item->type != YAML_MAPPING_NODE) {
		report(c, line_of(item), "%s: expected a mapping, got %s", where, node_kind(item));
		return false;
	}
	for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
	     p < item->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
		int i = 0;
		while (names[i] && strcmp(names[i], name))
			i++;
		if (!names[i])
			report(c, line_of(k), "unknown key '%s' in %s",
			       show(name, strlen(name), buf, sizeof(buf)), where);
		else if (vals[i])
			report(c, line_of(k), "duplicate key '%s' in %s", name, where);
		else
			vals[i] = yaml_document_get_node(c->doc, p->value);
	}
	return true;
}

static const struct enum_name psrc_types[] = {
	{ "rpz", VG_PSRC_RPZ }, { "hosts", VG_PSRC_HOSTS }, { "domains", VG_PSRC_DOMAINS },
	{ "adblock", VG_PSRC_ADBLOCK }, { NULL, 0 },
};
/* values of enum vg_pol_action (src/policy/policy.h) */
static const struct enum_name psrc_actions[] = {
	{ "nxdomain", 0 }, { "nodata", 1 }, { "drop", 3 }, { "null", 7 }, { NULL, 0 },
};

/* A short scalar into @p out (capacity @p cap), reporting what was wrong. */
static bool short_string(struct ctx *c, yaml_node_t *n, char *out, size_t cap, const char *what)
{
	const char *s = scalar(c, n, what);
	if (!s)
		return false;
	if (!*s || strlen(s) >= cap) {
		bad_value(c, n, what);
		return false;
	}
	memcpy(out, s, strlen(s) + 1);
	return true;
}

/* policy.tsig-keys[]: {name, algorithm, secret}. */
static const struct enum_name tsig_algs[] = {
	{ "hmac-sha256", VG_TSIG_HMAC_SHA256 }, { "hmac-sha512", VG_TSIG_HMAC_SHA512 },
	{ "hmac-sha1", VG_TSIG_HMAC_SHA1 }, { NULL, 0 },
};

static void parse_tsig_key(struct ctx *c, yaml_node_t *item)
{
	static const char *const names[] = { "name", "algorithm", "secret", NULL };
	yaml_node_t *v[3] = { 0 };
	struct vg_config *cfg = c->cfg;
	struct vg_tsig_key *k = &cfg->feed.tsig_keys[cfg->feed.n_tsig_keys];
	const char *s;
	size_t len;
	if (!mapping_keys(c, item, "policy.tsig-keys", names, v))
		return;
	if (!v[0] || !v[2]) {
		report(c, line_of(item), "policy.tsig-keys: an entry needs 'name' and 'secret'");
		return;
	}
	memset(k, 0, sizeof(*k));
	snprintf(c->where, sizeof(c->where), "policy.tsig-keys.name");
	if (!(s = scalar(c, v[0], "a key name")))
		return;
	if (vg_config_parse_name(s, k->name, sizeof(k->name)) < 0) {
		bad_value(c, v[0], "a key name (a domain name, like feed-key or key.example.)");
		return;
	}
	for (size_t i = 0; i < cfg->feed.n_tsig_keys; i++)
		if (vg_name_eq(cfg->feed.tsig_keys[i].name, k->name)) {
			dup_value(c, v[0]);
			return;
		}
	if (v[1]) {
		char alg[32];
		snprintf(c->where, sizeof(c->where), "policy.tsig-keys.algorithm");
		if (!(s = scalar(c, v[1], "hmac-sha256, hmac-sha512 or hmac-sha1")))
			return;
		len = strlen(s);
		/* "hmac-sha256." as in a TSIG record is the same algorithm */
		snprintf(alg, sizeof(alg), "%.*s", (int)(len && s[len - 1] == '.' ? len - 1 : len),
			 s);
		int a = len < sizeof(alg) ? enum_lookup(tsig_algs, alg) : -1;
		if (a < 0) {
			bad_value(c, v[1], "hmac-sha256, hmac-sha512 or hmac-sha1");
			return;
		}
		k->alg = (enum vg_tsig_alg)a;
	}
	snprintf(c->where, sizeof(c->where), "policy.tsig-keys.secret");
	if (!(s = scalar(c, v[2], "a base64 secret")))
		return;
	if (sodium_base642bin(k->secret, sizeof(k->secret), s, strlen(s), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || len == 0) {
		bad_value(c, v[2], "a base64 secret of 1..128 bytes");
		return;
	}
	k->secret_len = (uint16_t)len;
	cfg->feed.n_tsig_keys++;
}

/*
 * The feed keys of a policy source: primary (a list of up to 4 addresses),
 * zone (required with primary) and tsig-key (a policy.tsig-keys name).  A
 * feed without 'file' keeps its copy in <feed-directory>/<name>.rpz.  False
 * when something was reported.
 */
static bool parse_feed_keys(struct ctx *c, struct vg_policy_source *src, yaml_node_t *item,
			    yaml_node_t *primary, yaml_node_t *zone, yaml_node_t *key,
			    bool have_file)
{
	struct vg_config *cfg = c->cfg;
	const char *s;
	if (!primary) {
		yaml_node_t *stray = zone ? zone : key;
		if (stray) {
			snprintf(c->where, sizeof(c->where), "policy.sources.%s",
				 zone ? "zone" : "tsig-key");
			report(c, line_of(stray), "%s: only for a feed (a source with 'primary')",
			       c->where);
			return false;
		}
		return true;
	}
	snprintf(c->where, sizeof(c->where), "policy.sources.primary");
	if (src->type != VG_PSRC_RPZ) {
		report(c, line_of(primary), "%s: only an rpz source can be a feed", c->where);
		return false;
	}
	yaml_node_t *items[VG_POLICY_MAX_PRIMARIES];
	bool bad;
	size_t n = list_items(c, primary, items, VG_POLICY_MAX_PRIMARIES, &bad);
	if (bad)
		return false;
	if (n == 0) {
		report(c, line_of(primary), "%s: at least one address is needed", c->where);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		struct vg_sockaddr *sa = &src->primaries[i];
		if (vg_sockaddr_parse((const char *)items[i]->data.scalar.value, 53, sa) < 0) {
			bad_value(c, items[i], "an address like 192.0.2.1 or 192.0.2.1@5353");
			return false;
		}
		for (size_t j = 0; j < i; j++)
			if (vg_sockaddr_eq(&src->primaries[j], sa)) {
				dup_value(c, items[i]);
				return false;
			}
	}
	src->n_primaries = n;
	if (!zone) {
		report(c, line_of(item), "policy.sources: a feed ('primary') needs 'zone', "
		       "the name of the policy zone to transfer");
		return false;
	}
	snprintf(c->where, sizeof(c->where), "policy.sources.zone");
	if (!(s = scalar(c, zone, "a domain name")))
		return false;
	if (vg_config_parse_name(s, src->zone, sizeof(src->zone)) < 0) {
		bad_value(c, zone, "a domain name (the policy zone, like rpz.example.org)");
		return false;
	}
	if (key) {
		uint8_t kn[VG_NAME_MAX];
		size_t i = 0;
		snprintf(c->where, sizeof(c->where), "policy.sources.tsig-key");
		if (!(s = scalar(c, key, "a key name")))
			return false;
		int r = vg_config_parse_name(s, kn, sizeof(kn));
		while (r >= 0 && i < cfg->feed.n_tsig_keys &&
		       !vg_name_eq(cfg->feed.tsig_keys[i].name, kn))
			i++;
		if (r < 0 || i == cfg->feed.n_tsig_keys) {
			bad_value(c, key, "the name of an entry of policy.tsig-keys");
			return false;
		}
		src->tsig_key = (unsigned)i + 1;
	}
	if (!have_file) {
		/* the name becomes a file name: no directories, nothing hidden */
		if (strchr(src->name, '/') || src->name[0] == '.') {
			report(c, line_of(item), "policy.sources: feed '%s' needs 'file' (its name "
			       "cannot be a file name in policy.feed-directory)", src->name);
			return false;
		}
		char dir[sizeof(cfg->feed.directory)], nm[sizeof(src->name)];
		memcpy(dir, cfg->feed.directory, sizeof(dir)); /* (no overlap with src->file) */
		memcpy(nm, src->name, sizeof(nm));
		if ((size_t)snprintf(src->file, sizeof(src->file), "%s/%s.rpz", dir, nm) >=
		    sizeof(src->file)) {
			report(c, line_of(item), "policy.sources: feed '%s': the path of its copy in "
			       "policy.feed-directory is too long", src->name);
			return false;
		}
	}
	return true;
}

/* A yes/no value of key @p where: 1, 0, or -1 (reported). */
static int yes_no(struct ctx *c, yaml_node_t *n, const char *where)
{
	const char *s;
	snprintf(c->where, sizeof(c->where), "%s", where);
	int b = (s = scalar(c, n, "yes or no")) ? enum_lookup(bools, s) : -1;
	if (s && b < 0)
		bad_value(c, n, "yes or no");
	return b;
}

static const struct enum_name povr_names[] = {
	{ "given", VG_POVR_GIVEN }, { "disabled", VG_POVR_DISABLED },
	{ "nxdomain", VG_POVR_NXDOMAIN }, { "nodata", VG_POVR_NODATA },
	{ "passthru", VG_POVR_PASSTHRU }, { "drop", VG_POVR_DROP },
	{ "tcp-only", VG_POVR_TCP_ONLY }, { NULL, 0 },
};

/* override, recursive-only, break-dnssec (RPZ.md 2.5). */
static bool parse_source_options(struct ctx *c, struct vg_policy_source *src, yaml_node_t *ovr,
				 yaml_node_t *ronly, yaml_node_t *bdnssec)
{
	static const char *const want =
		"given, disabled, nxdomain, nodata, passthru, drop, tcp-only or \"cname DOMAIN\"";
	const char *s;
	if (ovr) {
		snprintf(c->where, sizeof(c->where), "policy.sources.override");
		if (!(s = scalar(c, ovr, want)))
			return false;
		int o = enum_lookup(povr_names, s);
		if (o >= 0) {
			src->override = o;
		} else if (!strncasecmp(s, "cname", 5) && (s[5] == ' ' || s[5] == '\t')) {
			const char *t = s + 5;
			while (*t == ' ' || *t == '\t')
				t++;
			if (vg_name_from_str(t, src->override_cname, sizeof(src->override_cname)) <= 0 ||
			    src->override_cname[0] == 0) {
				bad_value(c, ovr, "\"cname DOMAIN\" with a valid domain name");
				return false;
			}
			vg_name_lower(src->override_cname);
			src->override = VG_POVR_CNAME;
		} else {
			bad_value(c, ovr, want);
			return false;
		}
	}
	yaml_node_t *bn[2] = { ronly, bdnssec };
	bool *bv[2] = { &src->recursive_only, &src->break_dnssec };
	const char *bw[2] = { "policy.sources.recursive-only", "policy.sources.break-dnssec" };
	for (int i = 0; i < 2; i++) {
		int b = bn[i] ? yes_no(c, bn[i], bw[i]) : 0;
		if (b < 0)
			return false;
		if (bn[i])
			*bv[i] = b;
	}
	return true;
}

static void parse_policy_source(struct ctx *c, yaml_node_t *item)
{
	static const char *const names[] = { "name", "type", "file", "ede", "action", "optional",
					     "primary", "zone", "tsig-key",
					     "override", "recursive-only", "break-dnssec", NULL };
	yaml_node_t *v[12] = { 0 };
	struct vg_config *cfg = c->cfg;
	struct vg_policy_source *src = &cfg->policy.sources[cfg->policy.n_sources];
	const char *s;
	if (!mapping_keys(c, item, "policy.sources", names, v))
		return;
	if (!v[0] || (!v[2] && !v[6])) {
		report(c, line_of(item), "policy.sources: an entry needs 'name' and 'file' "
		       "(or 'primary' and 'zone' for a feed)");
		return;
	}
	memset(src, 0, sizeof(*src));
	src->ede = 15;
	src->action = 0;
	src->recursive_only = true; /* RPZ.md 2.5: the spec's defaults */
	src->break_dnssec = false;
	if (!parse_source_options(c, src, v[9], v[10], v[11]))
		return;
	snprintf(c->where, sizeof(c->where), "policy.sources.name");
	if (!short_string(c, v[0], src->name, sizeof(src->name), "a name of 1..63 characters"))
		return;
	for (size_t i = 0; i < cfg->policy.n_sources; i++)
		if (!strcmp(cfg->policy.sources[i].name, src->name)) {
			dup_value(c, v[0]);
			return;
		}
	snprintf(c->where, sizeof(c->where), "policy.sources.file");
	if (v[2] && !short_string(c, v[2], src->file, sizeof(src->file),
				  "a path shorter than 512 bytes"))
		return;
	if (v[1]) {
		snprintf(c->where, sizeof(c->where), "policy.sources.type");
		int t = (s = scalar(c, v[1], "rpz, hosts, domains or adblock")) ?
				enum_lookup(psrc_types, s) : -1;
		if (s && t < 0)
			bad_value(c, v[1], "rpz, hosts, domains or adblock");
		if (t < 0)
			return;
		src->type = (enum vg_policy_source_type)t;
	}
	if (v[3]) {
		snprintf(c->where, sizeof(c->where), "policy.sources.ede");
		s = scalar(c, v[3], "15, 16 or 17");
		if (!s)
			return;
		if (strcmp(s, "15") && strcmp(s, "16") && strcmp(s, "17")) {
			bad_value(c, v[3], "15 (Blocked), 16 (Censored) or 17 (Filtered)");
			return;
		}
		src->ede = (uint16_t)atoi(s);
	}
	if (v[4]) {
		snprintf(c->where, sizeof(c->where), "policy.sources.action");
		int a = (s = scalar(c, v[4], "nxdomain, nodata, drop or null")) ?
				enum_lookup(psrc_actions, s) : -1;
		if (s && a < 0)
			bad_value(c, v[4], "nxdomain, nodata, drop or null");
		if (a < 0)
			return;
		src->action = a;
	}
	if (v[5]) {
		snprintf(c->where, sizeof(c->where), "policy.sources.optional");
		int b = (s = scalar(c, v[5], "yes or no")) ? enum_lookup(bools, s) : -1;
		if (s && b < 0)
			bad_value(c, v[5], "yes or no");
		if (b < 0)
			return;
		src->optional = b;
	}
	if (!parse_feed_keys(c, src, item, v[6], v[7], v[8], v[2] != NULL))
		return;
	cfg->policy.n_sources++;
}

static void parse_policy_group(struct ctx *c, yaml_node_t *item)
{
	static const char *const names[] = { "name", "clients", "sources", "allowlist", NULL };
	yaml_node_t *v[4] = { 0 }, *items[VG_POLICY_MAX_SOURCES];
	struct vg_config *cfg = c->cfg;
	struct vg_policy_group *g = &cfg->policy.groups[cfg->policy.n_groups];
	bool bad;
	const char *s;
	if (!mapping_keys(c, item, "policy.groups", names, v))
		return;
	if (!v[0] || !v[1] || !v[2]) {
		report(c, line_of(item),
		       "policy.groups: an entry needs 'name', 'clients' and 'sources'");
		return;
	}
	memset(g, 0, sizeof(*g));
	snprintf(c->where, sizeof(c->where), "policy.groups.name");
	if (!short_string(c, v[0], g->name, sizeof(g->name), "a name of 1..63 characters"))
		return;
	snprintf(c->where, sizeof(c->where), "policy.groups.clients");
	yaml_node_t *pitems[VG_POLICY_MAX_CLIENTS];
	size_t n = list_items(c, v[1], pitems, VG_POLICY_MAX_CLIENTS, &bad);
	for (size_t i = 0; i < n; i++) {
		struct vg_prefix *pf = &g->clients[g->n_clients];
		int r = vg_prefix_parse((const char *)pitems[i]->data.scalar.value, pf);
		if (r < 0) {
			bad_value(c, pitems[i], r == VG_EINVAL ? "a prefix with no bits set past its length"
							    : "a prefix like 192.0.2.0/24 or 2001:db8::/32");
			continue;
		}
		vg_prefix_unmap(pf);
		g->n_clients++;
	}
	snprintf(c->where, sizeof(c->where), "policy.groups.sources");
	n = list_items(c, v[2], items, VG_POLICY_MAX_SOURCES, &bad);
	for (size_t i = 0; i < n; i++) {
		s = (const char *)items[i]->data.scalar.value;
		size_t k = 0;
		while (k < cfg->policy.n_sources && strcmp(cfg->policy.sources[k].name, s))
			k++;
		if (k == cfg->policy.n_sources) {
			bad_value(c, items[i], "the name of an entry of policy.sources (defined above)");
			continue;
		}
		g->sources[g->n_sources++] = (uint8_t)k;
	}
	if (v[3]) {
		snprintf(c->where, sizeof(c->where), "policy.groups.allowlist");
		int b = (s = scalar(c, v[3], "yes or no")) ? enum_lookup(bools, s) : -1;
		if (s && b < 0)
			bad_value(c, v[3], "yes or no");
		if (b < 0)
			return;
		g->allowlist = b;
	}
	cfg->policy.n_groups++;
}

static void parse_policy(struct ctx *c, yaml_node_t *val)
{
	static const char *const names[] = { "sources", "groups", "log", "tsig-keys",
					     "feed-directory", "watch", "qname-wait-recurse",
					     "min-ns-dots", NULL };
	yaml_node_t *v[8] = { 0 };
	/* a policy section replaces the default one, even an empty section */
	c->cfg->policy.n_sources = 0;
	c->cfg->policy.n_groups = 0;
	if (is_null(val) || !mapping_keys(c, val, "section 'policy'", names, v))
		return;
	if (v[2]) {
		snprintf(c->where, sizeof(c->where), "policy.log");
		short_string(c, v[2], c->cfg->policy.log, sizeof(c->cfg->policy.log),
			     "a file path shorter than 512 bytes, or syslog");
	}
	int b;
	if (v[6] && (b = yes_no(c, v[6], "policy.qname-wait-recurse")) >= 0)
		c->cfg->policy.qname_wait_recurse = b;
	if (v[5] && (b = yes_no(c, v[5], "policy.watch")) >= 0)
		c->cfg->policy.watch_ms = b ? 2000 : 0;
	if (v[7]) {
		const char *s;
		snprintf(c->where, sizeof(c->where), "policy.min-ns-dots");
		if ((s = scalar(c, v[7], "0..127"))) {
			char *end;
			long n = strtol(s, &end, 10);
			if (!*s || *end || n < 0 || n > 127)
				bad_value(c, v[7], "a number of labels, 0..127 (0: the root's name "
					  "servers too)");
			else
				c->cfg->policy.min_ns_dots = (unsigned)n;
		}
	}
	/* before the sources: feeds name a key and keep their copies there */
	if (v[4]) {
		snprintf(c->where, sizeof(c->where), "policy.feed-directory");
		short_string(c, v[4], c->cfg->feed.directory, sizeof(c->cfg->feed.directory),
			     "a directory path shorter than 512 bytes");
	}
	if (v[3] && !is_null(v[3])) {
		if (v[3]->type != YAML_SEQUENCE_NODE) {
			report(c, line_of(v[3]), "policy.tsig-keys: expected a list, got %s",
			       node_kind(v[3]));
		} else {
			for (yaml_node_item_t *it = v[3]->data.sequence.items.start;
			     it < v[3]->data.sequence.items.top; it++) {
				yaml_node_t *item = yaml_document_get_node(c->doc, *it);
				if (c->cfg->feed.n_tsig_keys == VG_FEED_MAX_KEYS) {
					report(c, line_of(item), "policy.tsig-keys: too many entries "
					       "(at most %d)", VG_FEED_MAX_KEYS);
					break;
				}
				parse_tsig_key(c, item);
			}
		}
	}
	/* sources first: groups refer to them by name */
	for (int part = 0; part < 2; part++) {
		yaml_node_t *list = v[part];
		const char *what = part ? "policy.groups" : "policy.sources";
		size_t max = part ? VG_POLICY_MAX_GROUPS : VG_POLICY_MAX_SOURCES;
		if (!list || is_null(list))
			continue;
		if (list->type != YAML_SEQUENCE_NODE) {
			report(c, line_of(list), "%s: expected a list, got %s", what, node_kind(list));
			continue;
		}
		for (yaml_node_item_t *it = list->data.sequence.items.start;
		     it < list->data.sequence.items.top; it++) {
			yaml_node_t *item = yaml_document_get_node(c->doc, *it);
			if ((part ? c->cfg->policy.n_groups : c->cfg->policy.n_sources) == max) {
				report(c, line_of(item), "%s: too many entries (at most %zu)", what, max);
				break;
			}
			if (part)
				parse_policy_group(c, item);
			else
				parse_policy_source(c, item);
		}
	}
}

static void dump_addrs(FILE *out, const char *indent, const char *key,
		       const struct vg_sockaddr *sa, size_t n, bool with_port);
static void dump_name(FILE *out, const uint8_t *name, size_t len);

static void dump_policy(const struct vg_config *cfg, FILE *out)
{
	char host[INET6_ADDRSTRLEN];
	fprintf(out, "policy:\n  feed-directory: \"%s\"\n", cfg->feed.directory);
	fprintf(out, "  tsig-keys:%s\n", cfg->feed.n_tsig_keys ? "" : " []");
	for (size_t i = 0; i < cfg->feed.n_tsig_keys; i++) {
		const struct vg_tsig_key *k = &cfg->feed.tsig_keys[i];
		char b64[sodium_base64_ENCODED_LEN(VG_TSIG_SECRET_MAX,
						   sodium_base64_VARIANT_ORIGINAL)];
		sodium_bin2base64(b64, sizeof(b64), k->secret, k->secret_len,
				  sodium_base64_VARIANT_ORIGINAL);
		fputs("    - name: '", out);
		dump_name(out, k->name, vg_name_len(k->name));
		fprintf(out, "'\n      algorithm: %s\n      secret: \"%s\"\n",
			enum_name_of(tsig_algs, (int)k->alg), b64);
	}
	fprintf(out, "  sources:%s\n", cfg->policy.n_sources ? "" : " []");
	for (size_t i = 0; i < cfg->policy.n_sources; i++) {
		const struct vg_policy_source *s = &cfg->policy.sources[i];
		fprintf(out, "    - name: \"%s\"\n      type: %s\n      file: \"%s\"\n"
			"      ede: %u\n      action: %s\n      optional: %s\n",
			s->name, enum_name_of(psrc_types, (int)s->type), s->file, s->ede,
			enum_name_of(psrc_actions, s->action), s->optional ? "yes" : "no");
		if (s->override == VG_POVR_CNAME) {
			char n[VG_NAME_MAX * 4 + 8];
			vg_name_to_str(s->override_cname, n, sizeof(n));
			fprintf(out, "      override: \"cname %s\"\n", n);
		} else {
			fprintf(out, "      override: %s\n", enum_name_of(povr_names, s->override));
		}
		fprintf(out, "      recursive-only: %s\n      break-dnssec: %s\n",
			s->recursive_only ? "yes" : "no", s->break_dnssec ? "yes" : "no");
		if (!s->n_primaries)
			continue;
		dump_addrs(out, "      ", "primary", s->primaries, s->n_primaries, true);
		fputs("      zone: '", out);
		dump_name(out, s->zone, vg_name_len(s->zone));
		fputs("'\n", out);
		if (s->tsig_key) {
			const uint8_t *kn = cfg->feed.tsig_keys[s->tsig_key - 1].name;
			fputs("      tsig-key: '", out);
			dump_name(out, kn, vg_name_len(kn));
			fputs("'\n", out);
		}
	}
	if (cfg->policy.log[0])
		fprintf(out, "  log: \"%s\"\n", cfg->policy.log);
	fprintf(out, "  watch: %s\n", cfg->policy.watch_ms ? "yes" : "no");
	fprintf(out, "  qname-wait-recurse: %s\n", cfg->policy.qname_wait_recurse ? "yes" : "no");
	fprintf(out, "  min-ns-dots: %u\n", cfg->policy.min_ns_dots);
	fprintf(out, "  groups:%s\n", cfg->policy.n_groups ? "" : " []");
	for (size_t i = 0; i < cfg->policy.n_groups; i++) {
		const struct vg_policy_group *g = &cfg->policy.groups[i];
		fprintf(out, "    - name: \"%s\"\n      clients:%s\n", g->name,
			g->n_clients ? "" : " []");
		for (size_t k = 0; k < g->n_clients; k++) {
			inet_ntop(g->clients[k].family, g->clients[k].addr, host, sizeof(host));
			fprintf(out, "        - \"%s/%u\"\n", host, g->clients[k].bits);
		}
		fprintf(out, "      sources:%s\n", g->n_sources ? "" : " []");
		for (size_t k = 0; k < g->n_sources; k++)
			fprintf(out, "        - \"%s\"\n", cfg->policy.sources[g->sources[k]].name);
		fprintf(out, "      allowlist: %s\n", g->allowlist ? "yes" : "no");
	}
}

/* ---- dump helpers for the custom keys ---- */

static void dump_addrs(FILE *out, const char *indent, const char *key,
		       const struct vg_sockaddr *sa, size_t n, bool with_port)
{
	char buf[VG_ADDRSTRLEN];
	size_t i;

	fprintf(out, "%s%s:%s\n", indent, key, n ? "" : " []");
	for (i = 0; i < n; i++) {
		vg_sockaddr_str(&sa[i], with_port ? VG_ADDR_PORT : 0, buf, sizeof(buf));
		fprintf(out, "%s  - \"%s\"\n", indent, buf);
	}
}

static void dump_listen(const struct vg_config *cfg, FILE *out)
{
	dump_addrs(out, "  ", "listen", cfg->net.listen, cfg->net.n_listen, true);
}

static void dump_outgoing(const struct vg_config *cfg, FILE *out)
{
	dump_addrs(out, "  ", "outgoing-address", cfg->upstream.outgoing, cfg->upstream.n_outgoing, false);
}

static void dump_acl(const struct vg_config *cfg, FILE *out)
{
	char host[INET6_ADDRSTRLEN];
	size_t i;

	fprintf(out, "  access-control:%s\n", cfg->serve.acl.n ? "" : " []");
	for (i = 0; i < cfg->serve.acl.n; i++) {
		inet_ntop(cfg->serve.acl.rule[i].prefix.family, cfg->serve.acl.rule[i].prefix.addr, host, sizeof(host));
		fprintf(out, "    - \"%s/%u %s\"\n", host, cfg->serve.acl.rule[i].prefix.bits,
			enum_name_of(acl_actions, (int)cfg->serve.acl.rule[i].action));
	}
}

static void parse_ta_files(struct ctx *c, yaml_node_t *val)
{
	struct vg_config *cfg = c->cfg;
	yaml_node_t *items[VG_DNSSEC_MAX_TA_FILES];
	bool bad;
	size_t n = list_items(c, val, items, VG_DNSSEC_MAX_TA_FILES, &bad), i;

	cfg->dnssec.n_trust_anchor_files = 0;
	for (i = 0; i < n; i++) {
		const char *s = (const char *)items[i]->data.scalar.value;
		if (!*s || strlen(s) >= sizeof(cfg->dnssec.trust_anchor_files[0])) {
			bad_value(c, items[i], "a path shorter than 512 bytes");
			continue;
		}
		memcpy(cfg->dnssec.trust_anchor_files[cfg->dnssec.n_trust_anchor_files++], s, strlen(s) + 1);
	}
}

static void parse_nta(struct ctx *c, yaml_node_t *val)
{
	struct vg_config *cfg = c->cfg;
	yaml_node_t *items[VG_DNSSEC_MAX_NTA];
	bool bad;
	size_t n = list_items(c, val, items, VG_DNSSEC_MAX_NTA, &bad), i, j;

	cfg->dnssec.n_nta = 0;
	for (i = 0; i < n; i++) {
		uint8_t *name = cfg->dnssec.nta[cfg->dnssec.n_nta];
		if (vg_config_parse_name((const char *)items[i]->data.scalar.value, name,
					 VG_NAME_MAX) < 0) {
			bad_value(c, items[i], "a domain name");
			continue;
		}
		vg_name_lower(name);
		for (j = 0; j < cfg->dnssec.n_nta && !vg_name_eq(cfg->dnssec.nta[j], name); j++)
			;
		if (j < cfg->dnssec.n_nta)
			dup_value(c, items[i]);
		else
			cfg->dnssec.n_nta++;
	}
}

static void dump_name(FILE *out, const uint8_t *name, size_t len);

static void dump_ta_files(const struct vg_config *cfg, FILE *out)
{
	fprintf(out, "  trust-anchor-file:%s\n", cfg->dnssec.n_trust_anchor_files ? "" : " []");
	for (size_t i = 0; i < cfg->dnssec.n_trust_anchor_files; i++)
		fprintf(out, "    - \"%s\"\n", cfg->dnssec.trust_anchor_files[i]);
}

static void dump_nta(const struct vg_config *cfg, FILE *out)
{
	fprintf(out, "  negative-trust-anchors:%s\n", cfg->dnssec.n_nta ? "" : " []");
	for (size_t i = 0; i < cfg->dnssec.n_nta; i++) {
		fputs("    - '", out);
		dump_name(out, cfg->dnssec.nta[i], vg_name_len(cfg->dnssec.nta[i]));
		fputs("'\n", out);
	}
}

/* Wire name to presentation form; unusual bytes become \DDD so single quotes suffice. */
static void dump_name(FILE *out, const uint8_t *name, size_t len)
{
	size_t i = 0, j;

	if (len <= 1)
		fputc('.', out);
	for (; i < len && name[i] && i + name[i] < len; i += name[i] + 1u) {
		for (j = i + 1; j <= i + name[i]; j++) {
			if (isalnum(name[j]) || name[j] == '-' || name[j] == '_' || name[j] == '*')
				fputc(name[j], out);
			else
				fprintf(out, "\\%03u", name[j]);
		}
		fputc('.', out);
	}
}

static void dump_forwards(const struct vg_config *cfg, FILE *out)
{
	size_t i;

	fprintf(out, "forward-zones:%s\n", cfg->resolv.n_forwards ? "" : " []");
	for (i = 0; i < cfg->resolv.n_forwards; i++) {
		fputs("  - zone: '", out);
		dump_name(out, cfg->resolv.forwards[i].zone, cfg->resolv.forwards[i].zone_len);
		fputs("'\n", out);
		dump_addrs(out, "    ", "upstreams", cfg->resolv.forwards[i].upstreams,
			   cfg->resolv.forwards[i].n_upstreams, true);
	}
}

/* ---- the schema ---- */

#define FIELD(f) offsetof(struct vg_config, f), sizeof(((struct vg_config *)0)->f)
#define KUINT(name, f, lo, hi, def) { name, K_UINT, FIELD(f), lo, hi, def, NULL, NULL, NULL }
#define KBOOL(name, f, def) { name, K_BOOL, FIELD(f), 0, 1, def, NULL, NULL, NULL }
#define KENUM(name, f, tbl, def) { name, K_ENUM, FIELD(f), 0, 0, def, tbl, NULL, NULL }
#define KCUSTOM(name, p, d) { name, K_CUSTOM, 0, 0, 0, 0, NULL, NULL, p, d }

static const struct key server_keys[] = {
	KCUSTOM("listen", parse_listen, dump_listen), /* default_listen[] */
	KCUSTOM("port", parse_port_key, NULL),        /* dumped inside listen */
	KUINT("workers", net.workers, 0, 64, "0"),
	KUINT("max-udp-size", serve.max_udp_size, 512, 4096, "1232"),
	KUINT("tcp-idle-timeout", net.tcp_idle_ms, 100, 600000, "10000"),
	KUINT("tcp-max-connections-per-worker", net.tcp_max_per_worker, 1, 1000000, "256"),
	KUINT("tcp-max-connections", net.tcp_max_total, 1, 1000000, "1024"),
	KUINT("tcp-max-pipeline", net.tcp_max_pipeline, 1, 1000, "100"),
	KCUSTOM("access-control", parse_acl, dump_acl), /* default_acl[] */
	KENUM("access-control-default", serve.acl.dflt, acl_actions, "refuse"),
};

static const struct key cache_keys[] = {
	{ "size", K_SIZE, FIELD(cache.size), MIB, SIZE_MAX, "64M", NULL, NULL, NULL },
	KUINT("max-ttl", cache.max_ttl, 0, INT32_MAX, "86400"),
	KUINT("max-negative-ttl", cache.max_neg_ttl, 0, INT32_MAX, "3600"),
	KUINT("min-ttl", cache.min_ttl, 0, INT32_MAX, "0"),
	KUINT("servfail-ttl", resolv.servfail_ttl, 0, 300, "5"),
};

static const struct key resolver_keys[] = {
	{ "root-hints", K_PATH, FIELD(root_hints), 0, 0, "", NULL, NULL, NULL },
	KCUSTOM("outgoing-address", parse_outgoing, dump_outgoing),
	KBOOL("query-localhost", resolv.allow_query_localhost, "no"),
	KBOOL("query-private", resolv.allow_query_private, "yes"),
	KBOOL("qname-minimisation", resolv.qname_minimisation, "yes"),
	KBOOL("prime-root", resolv.prime_root, "yes"),
	KBOOL("prefetch", resolv.prefetch, "no"),
	KBOOL("ipv6-upstream", resolv.use_ipv6_upstream, "yes"),
	KUINT("upstream-udp-size", upstream.udp_size, 512, 4096, "1232"),
};

static const struct key limits_keys[] = {
	KUINT("max-upstream-queries", resolv.max_upstream_queries, 1, 10000, "200"),
	KUINT("max-subquery-depth", resolv.max_subquery_depth, 1, 64, "8"),
	KUINT("max-referrals", resolv.max_referrals, 1, 200, "30"),
	KUINT("max-cname-chain", resolv.max_cname_chain, 1, 64, "11"),
	KUINT("max-glueless-ns", resolv.max_glueless_ns, 0, 64, "5"),
	KUINT("request-timeout", serve.request_timeout_ms, 100, 600000, "5000"),
	KUINT("upstream-timeout", resolv.upstream_timeout_ms, 10, 60000, "400"),
};

static const struct key dnssec_keys[] = {
	KBOOL("validation", dnssec.validation, "yes"),
	KCUSTOM("trust-anchor-file", parse_ta_files, dump_ta_files),
	KCUSTOM("negative-trust-anchors", parse_nta, dump_nta),
	KUINT("clock-skew", dnssec.clock_skew, 0, 86400, "300"),
	KUINT("bogus-ttl", dnssec.bogus_ttl, 0, 86400, "60"),
	KUINT("max-rrsigs-per-rrset", dnssec.max_rrsigs_per_rrset, 1, 64, "8"),
	KUINT("max-keys-per-tag", dnssec.max_keys_per_tag, 1, 64, "2"),
	KUINT("max-validations-per-query", dnssec.max_per_query, 1, 1024, "32"),
	KUINT("nsec3-max-iterations", dnssec.nsec3_max_iterations, 0, 2500, "50"),
	KUINT("max-nsec3-records", dnssec.nsec3_max_records, 1, 64, "8"),
	KUINT("max-nsec3-hashes", dnssec.nsec3_max_hashes, 1, 100000, "600"),
	KBOOL("aggressive-nsec", dnssec.aggressive_nsec, "yes"),
	{ "auto-trust-anchor-file", K_PATH, FIELD(dnssec.auto_ta_file), 0, 0, "", NULL, NULL, NULL },
};

static const struct key log_keys[] = {
	KENUM("level", log.level, log_levels, "info"),
	KENUM("target", log.target, log_targets, "stderr"),
};

static const struct section sections[SEC_COUNT] = {
	[SEC_SERVER] = { "server", server_keys, N(server_keys), NULL, NULL },
	[SEC_CACHE] = { "cache", cache_keys, N(cache_keys), NULL, NULL },
	[SEC_RESOLVER] = { "resolver", resolver_keys, N(resolver_keys), NULL, NULL },
	[SEC_LIMITS] = { "limits", limits_keys, N(limits_keys), NULL, NULL },
	[SEC_DNSSEC] = { "dnssec", dnssec_keys, N(dnssec_keys), NULL, NULL },
	[SEC_FORWARDS] = { "forward-zones", NULL, 0, parse_forwards, dump_forwards },
	[SEC_POLICY] = { "policy", NULL, 0, parse_policy, dump_policy },
	[SEC_LOG] = { "log", log_keys, N(log_keys), NULL, NULL },
};
_Static_assert(N(server_keys) <= MAX_KEYS && N(resolver_keys) <= MAX_KEYS &&
	       N(dnssec_keys) <= MAX_KEYS, "raise MAX_KEYS");

/* ---- the walk ---- */

/* Returns false when the value was rejected (and reported). */
static bool parse_key(struct ctx *c, const struct key *k, yaml_node_t *val)
{
	unsigned before = c->errors;
	const char *s;
	char buf[80];

	if (k->type == K_CUSTOM) {
		k->parse(c, val);
		return c->errors == before;
	}
	s = scalar(c, val, k->type == K_BOOL ? "yes or no" : "a single value");
	if (s && set_value(c->cfg, k, s) < 0)
		bad_value(c, val, expected(k, buf, sizeof(buf)));
	return c->errors == before;
}

static void parse_section(struct ctx *c, int si, yaml_node_t *val)
{
	const struct section *sec = &sections[si];
	yaml_node_pair_t *p;
	yaml_node_t *k;
	const char *name;
	char buf[100];
	size_t i;

	if (is_null(val))
		return;
	if (val->type != YAML_MAPPING_NODE) {
		report(c, line_of(val), "section '%s': expected a mapping, got %s", sec->name,
		       node_kind(val));
		return;
	}
	for (p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top; p++) {
		k = yaml_document_get_node(c->doc, p->key);
		if (k->type != YAML_SCALAR_NODE) {
			report(c, line_of(k), "section '%s': expected a key name, got %s",
			       sec->name, node_kind(k));
			continue;
		}
		name = (const char *)k->data.scalar.value;
		for (i = 0; i < sec->n_keys && strcmp(sec->keys[i].name, name); i++)
			;
		if (i == sec->n_keys) {
			report(c, line_of(k), "unknown key '%s' in section '%s'",
			       show(name, k->data.scalar.length, buf, sizeof(buf)), sec->name);
		} else if (c->lines[si][i]) {
			report(c, line_of(k), "duplicate key '%s' in section '%s'", name,
			       sec->name);
		} else {
			snprintf(c->where, sizeof(c->where), "%s.%s", sec->name, name);
			c->lines[si][i] = parse_key(c, &sec->keys[i],
						    yaml_document_get_node(c->doc, p->value)) ?
					  line_of(k) : LINE_BAD;
		}
	}
}

static void parse_root(struct ctx *c, yaml_node_t *root)
{
	bool seen[SEC_COUNT] = { false };
	yaml_node_pair_t *p;
	yaml_node_t *k, *v;
	const char *name;
	char buf[100];
	int si;

	if (is_null(root))
		return;
	if (root->type != YAML_MAPPING_NODE) {
		report(c, line_of(root), "expected a mapping of sections at the top, got %s",
		       node_kind(root));
		return;
	}
	for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		k = yaml_document_get_node(c->doc, p->key);
		v = yaml_document_get_node(c->doc, p->value);
		name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
		for (si = 0; si < SEC_COUNT && strcmp(sections[si].name, name); si++)
			;
		if (k->type != YAML_SCALAR_NODE) {
			report(c, line_of(k), "expected a section name, got %s", node_kind(k));
		} else if (si == SEC_COUNT) {
			report(c, line_of(k), "unknown section '%s'",
			       show(name, k->data.scalar.length, buf, sizeof(buf)));
		} else if (seen[si]) {
			report(c, line_of(k), "duplicate section '%s'", name);
		} else {
			seen[si] = true;
			snprintf(c->where, sizeof(c->where), "%s", name);
			if (sections[si].parse)
				sections[si].parse(c, v);
			else
				parse_section(c, si, v);
		}
	}
}

static size_t key_index(int si, const char *name)
{
	size_t i;

	for (i = 0; i < sections[si].n_keys && strcmp(sections[si].keys[i].name, name); i++)
		;
	return i;
}

/* Report lo > hi once, at the later line the file set them on (the defaults agree). */
static void check_le(struct ctx *c, int si, const char *lo_name, const char *hi_name)
{
	size_t lo_i = key_index(si, lo_name), hi_i = key_index(si, hi_name);
	const struct key *lo = &sections[si].keys[lo_i], *hi = &sections[si].keys[hi_i];
	const struct vg_config *cfg = c->cfg;
	unsigned long long lo_v = get_uint((const char *)cfg + lo->off, lo->size);
	unsigned long long hi_v = get_uint((const char *)cfg + hi->off, hi->size);
	size_t l1 = c->lines[si][lo_i], l2 = c->lines[si][hi_i];

	if (lo_v <= hi_v || l1 == LINE_BAD || l2 == LINE_BAD)
		return;
	report(c, l1 > l2 ? l1 : l2, "%s.%s (%llu) must not be larger than %s.%s (%llu)",
	       sections[si].name, lo->name, lo_v, sections[si].name, hi->name, hi_v);
}

static void finish(struct ctx *c)
{
	struct vg_config *cfg = c->cfg;
	char buf[INET6_ADDRSTRLEN + 24];
	size_t i, j;

	for (i = 0; i < cfg->net.n_listen; i++) {
		if (!c->listen_port[i])
			vg_sockaddr_set_port(&cfg->net.listen[i], c->port);
		for (j = 0; j < i && !vg_sockaddr_eq(&cfg->net.listen[i], &cfg->net.listen[j]); j++)
			;
		if (j < i) {
			vg_sockaddr_str(&cfg->net.listen[i], VG_ADDR_PORT, buf, sizeof(buf));
			report(c, c->listen_line[i], "server.listen: '%s' is listed twice", buf);
		}
	}
	check_le(c, SEC_SERVER, "tcp-max-connections-per-worker", "tcp-max-connections");
	check_le(c, SEC_CACHE, "min-ttl", "max-ttl");
	check_le(c, SEC_LIMITS, "upstream-timeout", "request-timeout");
}

static void syntax_error(struct ctx *c, yaml_parser_t *parser, const char *buf, size_t len)
{
	size_t line = parser->problem_mark.line + 1, i;

	if (parser->error == YAML_MEMORY_ERROR) {
		report(c, 1, "out of memory while parsing");
		return;
	}
	if (parser->error == YAML_READER_ERROR) { /* bad UTF-8 etc.: only a byte offset */
		for (i = 0, line = 1; i < parser->problem_offset && i < len; i++)
			line += buf[i] == '\n';
	}
	if (parser->context)
		report(c, line, "syntax error: %s (%s on line %zu)",
		       parser->problem ? parser->problem : "?", parser->context,
		       parser->context_mark.line + 1);
	else
		report(c, line, "syntax error: %s", parser->problem ? parser->problem : "?");
}

/*
 * First pass over the event stream: syntax, nesting depth and document count.
 * libyaml's scanner is quadratic in the nesting depth (200000 '[' take a
 * minute), so the depth limit has to stop it before a document is composed.
 */
static int check_events(struct ctx *c, const char *buf, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int depth = 0, docs = 0, ret = 1;

	if (!yaml_parser_initialize(&parser))
		return VG_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (ret > 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			syntax_error(c, &parser, buf, len);
			ret = VG_ECONFIG;
			break;
		}
		if ((ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) &&
		    ++depth > CONFIG_MAX_DEPTH) {
			report(c, ev.start_mark.line + 1, "nested deeper than %d levels",
			       CONFIG_MAX_DEPTH);
			ret = VG_ECONFIG;
		} else if (ev.type == YAML_SEQUENCE_END_EVENT ||
			   ev.type == YAML_MAPPING_END_EVENT) {
			depth--;
		} else if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
			report(c, ev.start_mark.line + 1, "only one YAML document is allowed");
			ret = VG_ECONFIG;
		} else if (ev.type == YAML_STREAM_END_EVENT) {
			ret = 0;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return ret;
}

static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 0, n = 0;
	char *buf = NULL, *p;
	int ret = 0;

	if (!f)
		return -errno;
	while (n == cap && ret == 0) { /* until a short read */
		cap = cap ? cap * 2 : 16384;
		p = cap <= 2 * CONFIG_MAX_FILE ? realloc(buf, cap) : NULL;
		if (!p) {
			ret = cap <= 2 * CONFIG_MAX_FILE ? VG_ENOMEM : -EFBIG;
			break;
		}
		buf = p;
		n += fread(buf + n, 1, cap - n, f);
	}
	if (ret == 0 && ferror(f))
		ret = errno ? -errno : -EIO;
	else if (ret == 0 && n > CONFIG_MAX_FILE)
		ret = -EFBIG;
	fclose(f);
	if (ret < 0)
		free(buf);
	else
		*out = buf, *len = n;
	return ret;
}

int vg_config_load(struct vg_config *cfg, const char *path, FILE *errout)
{
	struct ctx c = { .cfg = cfg, .path = path, .errout = errout, .port = 53 };
	bool have_parser = false, have_doc = false;
	yaml_document_t doc;
	yaml_parser_t parser;
	char *buf = NULL;
	size_t len = 0;
	int ret;

	vg_config_defaults(cfg);
	if (!path)
		return VG_EINVAL;
	snprintf(cfg->source_file, sizeof(cfg->source_file), "%s", path);
	ret = read_file(path, &buf, &len);
	if (ret < 0) {
		if (errout)
			fprintf(errout, "%s: cannot read: %s\n", path,
				ret == VG_ENOMEM ? "out of memory" : strerror(-ret));
		goto out;
	}
	ret = check_events(&c, buf, len);
	if (ret < 0)
		goto out;
	ret = VG_ENOMEM;
	if (!yaml_parser_initialize(&parser))
		goto out;
	have_parser = true;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	ret = VG_ECONFIG;
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(&c, &parser, buf, len);
		goto out;
	}
	have_doc = true;
	c.doc = &doc;
	if (yaml_document_get_root_node(&doc))
		parse_root(&c, yaml_document_get_root_node(&doc));
	finish(&c);
	ret = c.errors ? VG_ECONFIG : 0;
out:
	if (have_doc)
		yaml_document_delete(&doc);
	if (have_parser)
		yaml_parser_delete(&parser);
	free(buf);
	return ret;
}

/* ---- dump ---- */

static void dump_value(const struct vg_config *cfg, const struct key *k, FILE *out)
{
	const char *field = (const char *)cfg + k->off;
	const char *p;
	size_t sz;
	int e;

	fprintf(out, "  %s: ", k->name);
	switch (k->type) {
	case K_BOOL:
		fputs(*(const bool *)field ? "yes" : "no", out);
		break;
	case K_SIZE:
		memcpy(&sz, field, sizeof(sz));
		if (sz % MIB)
			fprintf(out, "%zu", sz);
		else if (sz % (1024 * MIB))
			fprintf(out, "%zuM", sz / MIB);
		else
			fprintf(out, "%zuG", sz / (1024 * MIB));
		break;
	case K_PATH:
		fputc('"', out);
		for (p = field; *p; p++) {
			if (*p == '"' || *p == '\\')
				fprintf(out, "\\%c", *p);
			else if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				fprintf(out, "\\x%02x", (unsigned char)*p);
			else
				fputc(*p, out);
		}
		fputc('"', out);
		break;
	case K_ENUM:
		memcpy(&e, field, sizeof(e));
		fputs(enum_name_of(k->names, e), out);
		break;
	default:
		fprintf(out, "%llu", get_uint(field, k->size));
		break;
	}
	fputc('\n', out);
}

void vg_config_dump(const struct vg_config *cfg, FILE *out)
{
	const struct section *sec;
	const struct key *k;
	char buf[120];

	fprintf(out, "# vigil effective configuration (%s)\n",
		cfg->source_file[0] ? show(cfg->source_file, strlen(cfg->source_file), buf,
					   sizeof(buf)) : "built-in defaults");
	for (sec = sections; sec < sections + SEC_COUNT; sec++) {
		if (sec->dump) {
			sec->dump(cfg, out);
			continue;
		}
		fprintf(out, "%s:\n", sec->name);
		for (k = sec->keys; k < sec->keys + sec->n_keys; k++) {
			if (k->type != K_CUSTOM)
				dump_value(cfg, k, out);
			else if (k->dump)
				k->dump(cfg, out);
		}
	}
}
