/* SPDX-License-Identifier: MIT
 *
 * vg_config_dump(): the effective configuration written back as YAML that
 * loads to the same settings (used by --check-config -v style tooling and
 * the tests), from the same tables the loader reads (config_impl.h): every
 * section, key by key, lists of mappings entry by entry; custom keys write
 * themselves (config_keys.c, config_policy.c) with the helpers here.
 */
#include <ctype.h>
#include <string.h>

#include "vigil/wire.h"
#include "daemon/config_impl.h"

void vg__cfg_dump_name(FILE *out, const uint8_t *name)
{
	size_t len = vg_name_len(name), i = 0, j;

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

void vg__cfg_dump_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			fprintf(out, "\\x%02x", (unsigned char)*p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

void vg__cfg_dump_addrs(FILE *out, const char *lead, int col, const char *key,
			const struct vg_sockaddr *sa, size_t n, bool with_port)
{
	char buf[VG_ADDRSTRLEN];

	fprintf(out, "%s%s:%s\n", lead, key, n ? "" : " []");
	for (size_t i = 0; i < n; i++) {
		vg_sockaddr_str(&sa[i], with_port ? VG_ADDR_PORT : 0, buf, sizeof(buf));
		fprintf(out, "%*s- \"%s\"\n", col + 2, "", buf);
	}
}

static void dump_map(const struct vg__cfg_out *o, const struct vg__cfg_map *m,
		     const void *base, const char *first_lead, int col);

static void dump_size(FILE *out, size_t sz)
{
	if (sz % VG_CFG_MIB)
		fprintf(out, "%zu", sz);
	else if (sz % (1024 * VG_CFG_MIB))
		fprintf(out, "%zuM", sz / VG_CFG_MIB);
	else
		fprintf(out, "%zuG", sz / (1024 * VG_CFG_MIB));
}

/* A list of mappings: "key: []", or one "- " entry per item. */
static void dump_list(const struct vg__cfg_out *o, const char *lead, int col,
		      const struct vg__cfg_key *k)
{
	const struct vg__cfg_list *l = k->list;
	const char *arr = (const char *)o->cfg + l->off;
	size_t n = *(const size_t *)((const char *)o->cfg + l->n_off);
	char item_lead[40];

	fprintf(o->f, "%s%s:%s\n", lead, k->name, n ? "" : " []");
	snprintf(item_lead, sizeof(item_lead), "%*s- ", col + 2, "");
	for (size_t i = 0; i < n; i++)
		dump_map(o, l->item, arr + i * l->item->size, item_lead, col + 4);
}

/* One key at column @p col after @p lead; false when nothing was written. */
static bool dump_key(const struct vg__cfg_out *o, const struct vg__cfg_key *k,
		     const void *base, const char *lead, int col)
{
	const char *field = (const char *)base + k->off;
	size_t sz;
	int e;

	switch (k->type) {
	case VG_CFG_CUSTOM:
		return k->dump && k->dump(o, lead, col, k, base);
	case VG_CFG_LIST:
		dump_list(o, lead, col, k);
		return true;
	case VG_CFG_MAP:
		return false;
	case VG_CFG_NAMES:
		sz = *(const size_t *)((const char *)base + k->n_off);
		fprintf(o->f, "%s%s:%s\n", lead, k->name, sz ? "" : " []");
		for (size_t i = 0; i < sz; i++) {
			fprintf(o->f, "%*s- '", col + 2, "");
			vg__cfg_dump_name(o->f, (const uint8_t *)field + i * k->size);
			fputs("'\n", o->f);
		}
		return true;
	default:
		break;
	}
	if ((k->flags & VG_CFG_SKIP_EMPTY) && !field[0])
		return false; /* "" or the root name: not set */
	fprintf(o->f, "%s%s: ", lead, k->name);
	switch (k->type) {
	case VG_CFG_BOOL:
		fputs(*(const bool *)field ? "yes" : "no", o->f);
		break;
	case VG_CFG_SIZE:
		memcpy(&sz, field, sizeof(sz));
		dump_size(o->f, sz);
		break;
	case VG_CFG_STR:
		vg__cfg_dump_str(o->f, field);
		break;
	case VG_CFG_ENUM:
		memcpy(&e, field, sizeof(e));
		fputs(vg__cfg_enum_name(k->names, e), o->f);
		break;
	case VG_CFG_NAME:
		fputc('\'', o->f);
		vg__cfg_dump_name(o->f, (const uint8_t *)field);
		fputc('\'', o->f);
		break;
	default:
		fprintf(o->f, "%llu", vg__cfg_get_uint(field, k->size));
		break;
	}
	fputc('\n', o->f);
	return true;
}

/* The keys of @p m; the first one written follows @p first_lead ("- " for items). */
static void dump_map(const struct vg__cfg_out *o, const struct vg__cfg_map *m,
		     const void *base, const char *first_lead, int col)
{
	char indent[40];
	const char *lead = first_lead;

	snprintf(indent, sizeof(indent), "%*s", col, "");
	for (const struct vg__cfg_key *k = m->keys; k < m->keys + m->n_keys; k++)
		if (dump_key(o, k, base, lead, col))
			lead = indent;
}

void vg_config_dump(const struct vg_config *cfg, FILE *out)
{
	const struct vg__cfg_out o = { .f = out, .cfg = cfg };
	char buf[120];

	fprintf(out, "# vigil effective configuration (%s)\n",
		cfg->source_file[0] ? vg__cfg_show(cfg->source_file, strlen(cfg->source_file), buf,
						   sizeof(buf)) : "built-in defaults");
	for (const struct vg__cfg_key *sec = vg__cfg_sections;
	     sec < vg__cfg_sections + VG_SEC_COUNT; sec++) {
		if (sec->type == VG_CFG_LIST) {
			dump_list(&o, "", 0, sec);
			continue;
		}
		fprintf(out, "%s:\n", sec->name);
		dump_map(&o, sec->map, cfg, "  ", 2);
	}
}
