/* SPDX-License-Identifier: MIT
 *
 * vigil configuration loader, the walk: YAML file -> struct vg_config, driven
 * by the tables of config_keys.c and config_policy.c (config_impl.h explains
 * them), plus the presentation-format parsers (sizes, domain names).
 *
 * The file is read whole (capped at CONFIG_MAX_FILE).  A first pass over the
 * libyaml event stream stops at syntax errors, extra documents and nesting
 * deeper than CONFIG_MAX_DEPTH (libyaml's scanner is quadratic in the depth);
 * then the document API loads it.  The walk over the tree is shallow and
 * table driven: the root's keys are the sections, a section's keys are its
 * table's, a list of mappings (forward-zones, policy.sources, ...) is read
 * entry by entry with the item's table.  Every problem is reported as
 * "FILE:LINE: message" and the walk goes on, so one run shows all errors;
 * only a YAML syntax error stops early (libyaml cannot resume after one).  A
 * list entry with an error is left out (so later references to it fail too).
 * Cross-key checks (min-ttl <= max-ttl, ...) run after the walk and skip keys
 * that were already reported, so one typo gives one error.  Aliases are
 * harmless here: the document API shares aliased nodes instead of copying
 * them, and the walk never recurses.
 *
 * This file knows no section or key by name, opens no sockets, reads no root
 * hints and does not check that paths exist.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vigil/err.h"
#include "vigil/wire.h"
#include "daemon/config_impl.h"

#define CONFIG_MAX_FILE (4u << 20) /* a config file is a few KiB; refuse absurd ones */
#define CONFIG_MAX_DEPTH 32        /* the schema needs 4 levels */

const struct vg__cfg_enum vg__cfg_bools[] = {
	{ "yes", 1 }, { "no", 0 }, { "true", 1 }, { "false", 0 }, { "on", 1 }, { "off", 0 },
	{ NULL, 0 }
};

/* ---- presentation-format parsers ---- */

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
	ret = vg_parse_uint(digits, SIZE_MAX, &v);
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

int vg__cfg_enum_lookup(const struct vg__cfg_enum *names, const char *s)
{
	for (; names->name; names++)
		if (!strcasecmp(names->name, s))
			return names->value;
	return -1;
}

const char *vg__cfg_enum_name(const struct vg__cfg_enum *names, int value)
{
	for (; names->name; names++)
		if (names->value == value)
			return names->name;
	return "?";
}

unsigned long long vg__cfg_get_uint(const void *field, size_t size)
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

/* One name into @p out (lower-case wire form); 0 or VG_EPARSE. */
static int set_name(const struct vg__cfg_key *k, const char *s, uint8_t *out)
{
	if (vg_config_parse_name(s, out, k->size) < 0)
		return VG_EPARSE;
	vg_name_lower(out);
	return (k->flags & VG_CFG_NOT_ROOT) && out[0] == 0 ? VG_EPARSE : 0;
}

/* Set a scalar key from its text; 0 or negative (the caller says what was expected). */
static int set_value(void *base, const struct vg__cfg_key *k, const char *s)
{
	char *field = (char *)base + k->off;
	unsigned long long v;
	size_t sz;
	int e;

	switch (k->type) {
	case VG_CFG_BOOL:
	case VG_CFG_ENUM:
		e = vg__cfg_enum_lookup(k->type == VG_CFG_BOOL ? vg__cfg_bools : k->names, s);
		if (e < 0)
			return VG_EPARSE;
		if (k->type == VG_CFG_BOOL)
			*(bool *)field = e;
		else
			memcpy(field, &e, sizeof(e));
		return 0;
	case VG_CFG_SIZE:
		if (vg_config_parse_size(s, &sz) < 0 || sz < k->min)
			return VG_EPARSE;
		memcpy(field, &sz, sizeof(sz));
		return 0;
	case VG_CFG_STR:
		if (strlen(s) < k->min)
			return VG_EPARSE;
		if (strlen(s) >= k->size)
			return VG_ELIMIT;
		memcpy(field, s, strlen(s) + 1);
		return 0;
	case VG_CFG_UINT:
		if (vg_parse_uint(s, k->max, &v) < 0 || v < k->min)
			return VG_EPARSE;
		put_uint(field, k->size, v);
		return 0;
	case VG_CFG_NAME:
		return set_name(k, s, (uint8_t *)field);
	default:
		return VG_EINVAL;
	}
}

/* A NAMES default: names separated by spaces. */
static void set_names(void *base, const struct vg__cfg_key *k, const char *s)
{
	size_t *n = (size_t *)((char *)base + k->n_off);
	char one[VG_NAME_MAX * 4 + 1];

	for (*n = 0; *s && *n < k->max;) {
		size_t len = strcspn(s, " ");
		snprintf(one, sizeof(one), "%.*s", (int)len, s);
		if (len && set_name(k, one, (uint8_t *)base + k->off + *n * k->size) == 0)
			(*n)++;
		s += len + (s[len] == ' ');
	}
}

void vg__cfg_defaults(const struct vg__cfg_map *m, void *base)
{
	for (const struct vg__cfg_key *k = m->keys; k < m->keys + m->n_keys; k++) {
		if (!k->def)
			continue;
		if (k->type == VG_CFG_NAMES)
			set_names(base, k, k->def);
		else
			set_value(base, k, k->def);
	}
}

static const char *expected(const struct vg__cfg_key *k, char *buf, size_t size)
{
	const struct vg__cfg_enum *e;
	size_t o = 0;

	if (k->want)
		return k->want;
	switch (k->type) {
	case VG_CFG_BOOL:
		return "yes/no, true/false or on/off";
	case VG_CFG_SIZE:
		return "a size of at least 1M, like 64M or 1G (suffixes k, M, G)";
	case VG_CFG_STR:
		snprintf(buf, size, "a path shorter than %zu bytes", k->size);
		return buf;
	case VG_CFG_NAME:
	case VG_CFG_NAMES:
		return "a domain name";
	case VG_CFG_ENUM:
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

/* ---- error reporting ---- */

const char *vg__cfg_show(const char *s, size_t len, char *buf, size_t size)
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

void vg__cfg_report(struct vg__cfg_ctx *c, size_t line, const char *fmt, ...)
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

size_t vg__cfg_line(const yaml_node_t *n)
{
	return n->start_mark.line + 1;
}

const char *vg__cfg_kind(const yaml_node_t *n)
{
	return n->type == YAML_MAPPING_NODE ? "a mapping" :
	       n->type == YAML_SEQUENCE_NODE ? "a list" : "a scalar";
}

bool vg__cfg_is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return !*v || !strcmp(v, "~") || !strcasecmp(v, "null");
}

const char *vg__cfg_scalar(struct vg__cfg_ctx *c, yaml_node_t *n, const char *what)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE) {
		vg__cfg_report(c, vg__cfg_line(n), "%s: expected %s, got %s", c->where, what,
			       vg__cfg_kind(n));
		return NULL;
	}
	v = (const char *)n->data.scalar.value;
	if (strlen(v) != n->data.scalar.length) {
		vg__cfg_report(c, vg__cfg_line(n), "%s: value contains a NUL byte", c->where);
		return NULL;
	}
	return v;
}

void vg__cfg_bad_value(struct vg__cfg_ctx *c, yaml_node_t *n, const char *what)
{
	char buf[100];

	vg__cfg_report(c, vg__cfg_line(n), "%s: expected %s, got '%s'", c->where, what,
		       vg__cfg_show((const char *)n->data.scalar.value, n->data.scalar.length, buf,
				    sizeof(buf)));
}

void vg__cfg_dup_value(struct vg__cfg_ctx *c, yaml_node_t *n)
{
	char buf[100];

	vg__cfg_report(c, vg__cfg_line(n), "%s: '%s' is listed twice", c->where,
		       vg__cfg_show((const char *)n->data.scalar.value, n->data.scalar.length, buf,
				    sizeof(buf)));
}

void vg__cfg_where(struct vg__cfg_ctx *c, const struct vg__cfg_map *m, size_t i)
{
	snprintf(c->where, sizeof(c->where), "%s.%s", m->name, m->keys[i].name);
}

/* ---- lists of scalars ---- */

size_t vg__cfg_list_items(struct vg__cfg_ctx *c, yaml_node_t *val, yaml_node_t **items,
			  size_t max, bool *bad)
{
	yaml_node_item_t *it;
	yaml_node_t *item;
	size_t n = 0;

	*bad = false;
	if (vg__cfg_is_null(val))
		return 0;
	if (val->type == YAML_MAPPING_NODE) {
		vg__cfg_report(c, vg__cfg_line(val), "%s: expected a list, got a mapping",
			       c->where);
		*bad = true;
		return 0;
	}
	if (val->type == YAML_SCALAR_NODE) {
		*bad = !vg__cfg_scalar(c, val, "a string");
		items[0] = val;
		return *bad ? 0 : 1;
	}
	for (it = val->data.sequence.items.start; it < val->data.sequence.items.top; it++) {
		item = yaml_document_get_node(c->doc, *it);
		if (n == max) {
			vg__cfg_report(c, vg__cfg_line(item), "%s: too many entries (at most %zu)",
				       c->where, max);
			*bad = true;
			break;
		}
		if (vg__cfg_scalar(c, item, "a string"))
			items[n++] = item;
		else
			*bad = true;
	}
	return n;
}

int vg__cfg_addr_list(struct vg__cfg_ctx *c, yaml_node_t *val, struct vg_sockaddr *out,
		      size_t max, uint16_t default_port, const char *want, size_t *lines)
{
	yaml_node_t *items[VG_CFG_MAX_ADDRS];
	bool bad;
	size_t n, i, j, good = 0;

	if (max > VG_CFG_MAX_ADDRS)
		max = VG_CFG_MAX_ADDRS;
	n = vg__cfg_list_items(c, val, items, max, &bad);
	for (i = 0; i < n; i++) {
		if (vg_sockaddr_parse((const char *)items[i]->data.scalar.value, default_port,
				      &out[good]) < 0) {
			vg__cfg_bad_value(c, items[i], want);
			continue;
		}
		for (j = 0; j < good && !vg_sockaddr_eq(&out[j], &out[good]); j++)
			;
		if (j < good) {
			vg__cfg_dup_value(c, items[i]);
			continue;
		}
		if (lines)
			lines[good] = vg__cfg_line(items[i]);
		good++;
	}
	return bad || good != n ? -1 : (int)n;
}

/* A NAMES value: replaces the default list. */
static void parse_names(struct vg__cfg_ctx *c, const struct vg__cfg_key *k, void *base,
			yaml_node_t *val)
{
	size_t *cnt = (size_t *)((char *)base + k->n_off);
	yaml_node_t *items[VG_CFG_MAX_NAMES];
	bool bad;
	size_t n = vg__cfg_list_items(c, val, items, k->max, &bad), i, j;
	char buf[80];

	*cnt = 0;
	for (i = 0; i < n; i++) {
		uint8_t *name = (uint8_t *)base + k->off + *cnt * k->size;
		if (set_name(k, (const char *)items[i]->data.scalar.value, name) < 0) {
			vg__cfg_bad_value(c, items[i], expected(k, buf, sizeof(buf)));
			continue;
		}
		for (j = 0; j < *cnt && !vg_name_eq((uint8_t *)base + k->off + j * k->size, name);
		     j++)
			;
		if (j < *cnt)
			vg__cfg_dup_value(c, items[i]);
		else
			(*cnt)++;
	}
}

/* ---- the walk ---- */

static bool parse_list(struct vg__cfg_ctx *c, const struct vg__cfg_list *l, yaml_node_t *val);

/* VG_CFG_UNIQUE: the value must differ from the list's earlier entries. */
static bool unique(struct vg__cfg_ctx *c, const struct vg__cfg_map *m,
		   const struct vg__cfg_key *k, const void *base, yaml_node_t *val)
{
	const char *field = (const char *)base + k->off;

	for (size_t i = 0; i < c->list_n; i++) {
		const char *other = c->list_arr + i * m->size + k->off;
		bool same = k->type == VG_CFG_NAME ?
				    vg_name_eq((const uint8_t *)other, (const uint8_t *)field) :
				    !strcmp(other, field);
		if (same) {
			vg__cfg_dup_value(c, val);
			return false;
		}
	}
	return true;
}

/* Key @p i of @p m from its value; false when it was rejected (and reported). */
static bool parse_at(struct vg__cfg_ctx *c, const struct vg__cfg_map *m, size_t i, void *base,
		     struct vg__cfg_seen *s)
{
	const struct vg__cfg_key *k = &m->keys[i];
	yaml_node_t *val = s->val[i];
	unsigned before = c->errors;
	const char *str;
	char buf[100];

	vg__cfg_where(c, m, i);
	switch (k->type) {
	case VG_CFG_CUSTOM:
		k->parse(c, base, val);
		break;
	case VG_CFG_LIST:
		parse_list(c, k->list, val);
		break;
	case VG_CFG_NAMES:
		parse_names(c, k, base, val);
		break;
	case VG_CFG_MAP:
		break; /* sections are keys of the root only */
	default:
		str = k->want ? k->want : k->type == VG_CFG_BOOL ? "yes or no" : "a single value";
		str = vg__cfg_scalar(c, val, str);
		if (str && set_value(base, k, str) < 0)
			vg__cfg_bad_value(c, val, expected(k, buf, sizeof(buf)));
		else if (str && (k->flags & VG_CFG_UNIQUE))
			unique(c, m, k, base, val);
		break;
	}
	if (c->errors != before)
		s->line[i] = VG_CFG_LINE_BAD;
	return c->errors == before;
}

size_t vg__cfg_key_index(const struct vg__cfg_map *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->n_keys && strcmp(m->keys[i].name, name); i++)
		;
	return i;
}

/*
 * The keys of mapping @p node into @p s (unknown and duplicate keys
 * reported); unless @p m is ordered, each value is read as it comes.  False
 * when a value was rejected.
 */
static bool walk_map(struct vg__cfg_ctx *c, const struct vg__cfg_map *m, void *base,
		     yaml_node_t *node, struct vg__cfg_seen *s)
{
	bool ok = true;
	char buf[100];

	memset(s, 0, sizeof(*s));
	for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
	     p < node->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		const char *name;
		size_t i;
		if (k->type != YAML_SCALAR_NODE) {
			vg__cfg_report(c, vg__cfg_line(k), "%s: expected a key name, got %s", m->in,
				       vg__cfg_kind(k));
			continue;
		}
		name = (const char *)k->data.scalar.value;
		i = vg__cfg_key_index(m, name);
		if (i == m->n_keys) {
			vg__cfg_report(c, vg__cfg_line(k), "unknown key '%s' in %s",
				       vg__cfg_show(name, k->data.scalar.length, buf, sizeof(buf)),
				       m->in);
		} else if (s->val[i]) {
			vg__cfg_report(c, vg__cfg_line(k), "duplicate key '%s' in %s", name, m->in);
		} else {
			s->val[i] = yaml_document_get_node(c->doc, p->value);
			s->line[i] = vg__cfg_line(k);
			if (!m->ordered)
				ok &= parse_at(c, m, i, base, s);
		}
	}
	return ok;
}

/* The keys collected by walk_map, in table order. */
static bool parse_ordered(struct vg__cfg_ctx *c, const struct vg__cfg_map *m, void *base,
			  struct vg__cfg_seen *s)
{
	bool ok = true;

	for (size_t i = 0; i < m->n_keys; i++)
		if (s->val[i])
			ok &= parse_at(c, m, i, base, s);
	return ok;
}

static bool has_required(const struct vg__cfg_map *m, const struct vg__cfg_seen *s)
{
	if (m->has_needed)
		return m->has_needed(s);
	for (size_t i = 0; i < m->n_keys; i++)
		if ((m->keys[i].flags & VG_CFG_REQUIRED) && !s->val[i])
			return false;
	return true;
}

/* One entry of list @p l: added when every key was fine and the checks pass. */
static void parse_item(struct vg__cfg_ctx *c, const struct vg__cfg_list *l, yaml_node_t *item)
{
	const struct vg__cfg_map *m = l->item;
	size_t *n = (size_t *)((char *)c->cfg + l->n_off);
	char *arr = (char *)c->cfg + l->off;
	void *base = arr + *n * m->size;
	struct vg__cfg_seen s;

	if (item->type != YAML_MAPPING_NODE) {
		vg__cfg_report(c, vg__cfg_line(item), "%s: expected %s, got %s", m->label,
			       m->what ? m->what : "a mapping", vg__cfg_kind(item));
		return;
	}
	memset(base, 0, m->size);
	vg__cfg_defaults(m, base);
	walk_map(c, m, base, item, &s); /* items are ordered: nothing read yet */
	if (!has_required(m, &s)) {
		vg__cfg_report(c, vg__cfg_line(item), "%s: %s", m->label, m->need);
		return;
	}
	c->list_arr = arr;
	c->list_n = *n;
	if (!parse_ordered(c, m, base, &s))
		return;
	if (m->check && !m->check(c, base, &s, item))
		return;
	(*n)++;
}

static bool parse_list(struct vg__cfg_ctx *c, const struct vg__cfg_list *l, yaml_node_t *val)
{
	const struct vg__cfg_map *m = l->item;
	size_t *n = (size_t *)((char *)c->cfg + l->n_off);
	unsigned before = c->errors;

	if (vg__cfg_is_null(val))
		return true;
	if (val->type != YAML_SEQUENCE_NODE) {
		vg__cfg_report(c, vg__cfg_line(val), "%s: expected a list, got %s", m->label,
			       vg__cfg_kind(val));
		return false;
	}
	for (yaml_node_item_t *it = val->data.sequence.items.start;
	     it < val->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);
		if (*n == l->max) {
			vg__cfg_report(c, vg__cfg_line(item), "%s: too many entries (at most %zu)",
				       m->label, l->max);
			break;
		}
		parse_item(c, l, item);
	}
	return c->errors == before;
}

static void parse_section(struct vg__cfg_ctx *c, int si, yaml_node_t *val)
{
	const struct vg__cfg_key *sec = &vg__cfg_sections[si];
	const struct vg__cfg_map *m = sec->map;

	snprintf(c->where, sizeof(c->where), "%s", sec->name);
	if (sec->type == VG_CFG_LIST) {
		parse_list(c, sec->list, val);
		return;
	}
	if (m->begin)
		m->begin(c);
	if (vg__cfg_is_null(val))
		return;
	if (val->type != YAML_MAPPING_NODE) {
		vg__cfg_report(c, vg__cfg_line(val), "%s: expected a mapping, got %s", m->label,
			       vg__cfg_kind(val));
		return;
	}
	walk_map(c, m, c->cfg, val, &c->sec[si]);
	if (m->ordered)
		parse_ordered(c, m, c->cfg, &c->sec[si]);
}

static void parse_root(struct vg__cfg_ctx *c, yaml_node_t *root)
{
	bool seen[VG_SEC_COUNT] = { false };
	yaml_node_pair_t *p;
	yaml_node_t *k, *v;
	const char *name;
	char buf[100];
	int si;

	if (vg__cfg_is_null(root))
		return;
	if (root->type != YAML_MAPPING_NODE) {
		vg__cfg_report(c, vg__cfg_line(root),
			       "expected a mapping of sections at the top, got %s",
			       vg__cfg_kind(root));
		return;
	}
	for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		k = yaml_document_get_node(c->doc, p->key);
		v = yaml_document_get_node(c->doc, p->value);
		name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
		for (si = 0; si < VG_SEC_COUNT && strcmp(vg__cfg_sections[si].name, name); si++)
			;
		if (k->type != YAML_SCALAR_NODE) {
			vg__cfg_report(c, vg__cfg_line(k), "expected a section name, got %s",
				       vg__cfg_kind(k));
		} else if (si == VG_SEC_COUNT) {
			vg__cfg_report(c, vg__cfg_line(k), "unknown section '%s'",
				       vg__cfg_show(name, k->data.scalar.length, buf, sizeof(buf)));
		} else if (seen[si]) {
			vg__cfg_report(c, vg__cfg_line(k), "duplicate section '%s'", name);
		} else {
			seen[si] = true;
			parse_section(c, si, v);
		}
	}
}

/* ---- reading the file ---- */

static void syntax_error(struct vg__cfg_ctx *c, yaml_parser_t *parser, const char *buf,
			 size_t len)
{
	size_t line = parser->problem_mark.line + 1, i;

	if (parser->error == YAML_MEMORY_ERROR) {
		vg__cfg_report(c, 1, "out of memory while parsing");
		return;
	}
	if (parser->error == YAML_READER_ERROR) { /* bad UTF-8 etc.: only a byte offset */
		for (i = 0, line = 1; i < parser->problem_offset && i < len; i++)
			line += buf[i] == '\n';
	}
	if (parser->context)
		vg__cfg_report(c, line, "syntax error: %s (%s on line %zu)",
			       parser->problem ? parser->problem : "?", parser->context,
			       parser->context_mark.line + 1);
	else
		vg__cfg_report(c, line, "syntax error: %s",
			       parser->problem ? parser->problem : "?");
}

/*
 * First pass over the event stream: syntax, nesting depth and document count.
 * libyaml's scanner is quadratic in the nesting depth (200000 '[' take a
 * minute), so the depth limit has to stop it before a document is composed.
 */
static int check_events(struct vg__cfg_ctx *c, const char *buf, size_t len)
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
			vg__cfg_report(c, ev.start_mark.line + 1, "nested deeper than %d levels",
				       CONFIG_MAX_DEPTH);
			ret = VG_ECONFIG;
		} else if (ev.type == YAML_SEQUENCE_END_EVENT ||
			   ev.type == YAML_MAPPING_END_EVENT) {
			depth--;
		} else if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
			vg__cfg_report(c, ev.start_mark.line + 1,
				       "only one YAML document is allowed");
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
	char *buf = NULL;
	int ret = 0;

	if (!f)
		return -errno;
	while (n == cap && ret == 0) { /* until a short read */
		if (cap >= 2 * CONFIG_MAX_FILE) {
			ret = -EFBIG;
			break;
		}
		if (vg_grow((void **)&buf, &cap, cap + 1, 1, 16384) < 0) {
			ret = VG_ENOMEM;
			break;
		}
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
	struct vg__cfg_ctx c = { .cfg = cfg, .path = path, .errout = errout, .port = 53 };
	bool have_parser = false, have_doc = false;
	yaml_document_t doc;
	yaml_parser_t parser;
	char *buf = NULL;
	size_t len = 0;
	int ret;

	vg_config_defaults(cfg);
	cfg->feed.directory[0] = '\0'; /* unless set: server.state-directory, after the walk */
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
	vg__cfg_finish(&c);
	ret = c.errors ? VG_ECONFIG : 0;
out:
	if (have_doc)
		yaml_document_delete(&doc);
	if (have_parser)
		yaml_parser_delete(&parser);
	free(buf);
	return ret;
}
