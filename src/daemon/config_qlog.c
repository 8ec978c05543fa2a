/* SPDX-License-Identifier: MIT
 *
 * The sections of the query logs (src/qlog): query-log (the JSON log and
 * the privacy settings both outputs follow) and dnstap.
 */
#include <string.h>

#include "daemon/config_impl.h"

#define CFG struct vg_config

static const struct vg__cfg_enum addr_modes[] = {
	{ "full", VG_QLOG_ADDR_FULL }, { "truncate", VG_QLOG_ADDR_TRUNCATE },
	{ "pseudonym", VG_QLOG_ADDR_PSEUDONYM }, { NULL, 0 }
};

_Static_assert(sizeof(enum vg_qlog_addr) == sizeof(int), "enum fields are stored as int");

/* fields: a list of the JSON keys to write (default: all of them) */
static void parse_fields(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	struct vg_qlog_opts *o = &((struct vg_config *)base)->qlog;
	yaml_node_t *items[VG_QF_COUNT * 2];
	bool bad;
	size_t n = vg__cfg_list_items(c, val, items, VG_ARRAY_SIZE(items), &bad);
	uint32_t f = 0;

	for (size_t i = 0; i < n; i++) {
		int k = vg_qlog_field_parse((const char *)items[i]->data.scalar.value);
		if (k < 0) {
			vg__cfg_bad_value(c, items[i],
					  "a field: time, client, port, transport, identity, name, "
					  "type, rcode, answer, policy, validation, latency_ms, "
					  "cache_hit");
			continue;
		}
		if (f & (1u << k))
			vg__cfg_dup_value(c, items[i]);
		f |= 1u << k;
	}
	if (!bad && n == 0)
		vg__cfg_report(c, vg__cfg_line(val), "%s: at least one field is needed", c->where);
	o->fields = f == VG_QF_ALL ? 0 : f; /* (0 is all: the default compares equal) */
}

static bool dump_fields(const struct vg__cfg_out *o, const char *lead, int col,
			const struct vg__cfg_key *k, const void *base)
{
	const struct vg_qlog_opts *q = &((const struct vg_config *)base)->qlog;
	uint32_t f = q->fields ? q->fields : VG_QF_ALL;

	(void)col;
	fprintf(o->f, "%s%s: [", lead, k->name);
	for (unsigned i = 0, first = 1; i < VG_QF_COUNT; i++) {
		if (!(f & (1u << i)))
			continue;
		fprintf(o->f, "%s%s", first ? " " : ", ", vg_qlog_field_name(i));
		first = 0;
	}
	fprintf(o->f, " ]\n");
	return true;
}

static const struct vg__cfg_key qlog_keys[] = {
	VG_CFG_KSTR("file", CFG, qlog.file, 0, ""),
	VG_CFG_KUINT("sample", CFG, qlog.sample, 1, 1000000, "1"),
	VG_CFG_KCUSTOM("fields", parse_fields, dump_fields),
	VG_CFG_KENUM("client-address", CFG, qlog.addr_mode, addr_modes, "full"),
	VG_CFG_KUINT("ipv4-prefix", CFG, qlog.v4_prefix, 0, 32, "24"),
	VG_CFG_KUINT("ipv6-prefix", CFG, qlog.v6_prefix, 0, 128, "56"),
	VG_CFG_KUINT("pseudonym-rotate", CFG, qlog.pseudonym_rotate_s, 60, 31536000, "86400"),
	{ .name = "rotate-size", .type = VG_CFG_SIZE, VG_CFG_FIELD(CFG, qlog.rotate_size),
	  .min = 0, .max = SIZE_MAX, .def = "0" },
	VG_CFG_KUINT("rotate-interval", CFG, qlog.rotate_interval_s, 0, 31536000, "0"),
	VG_CFG_KUINT("keep", CFG, qlog.keep, 0, 1000, "7"),
	VG_CFG_KUINT("buffer", CFG, qlog.ring_kib, 64, 1048576, "4096"),
};

const struct vg__cfg_map vg__cfg_qlog_map = {
	.name = "query-log", .in = "section 'query-log'", .label = "section 'query-log'",
	.keys = qlog_keys, .n_keys = VG_ARRAY_SIZE(qlog_keys),
};

static const struct vg__cfg_key dnstap_keys[] = {
	VG_CFG_KSTR("socket", CFG, qlog.dnstap_socket, 0, ""),
	VG_CFG_KSTR("file", CFG, qlog.dnstap_file, 0, ""),
	VG_CFG_KSTR("identity", CFG, qlog.dnstap_identity, 0, ""),
	VG_CFG_KBOOL("client-query", CFG, qlog.client_query, "yes"),
	VG_CFG_KBOOL("client-response", CFG, qlog.client_response, "yes"),
	VG_CFG_KBOOL("resolver-query", CFG, qlog.resolver_query, "no"),
	VG_CFG_KBOOL("resolver-response", CFG, qlog.resolver_response, "no"),
};

const struct vg__cfg_map vg__cfg_dnstap_map = {
	.name = "dnstap", .in = "section 'dnstap'", .label = "section 'dnstap'",
	.keys = dnstap_keys, .n_keys = VG_ARRAY_SIZE(dnstap_keys),
};

void vg__cfg_qlog_finish(struct vg__cfg_ctx *c)
{
	const struct vg_qlog_opts *o = &c->cfg->qlog;
	const struct vg__cfg_seen *s = &c->sec[VG_SEC_DNSTAP];
	size_t sock = s->line[vg__cfg_key_index(&vg__cfg_dnstap_map, "socket")];
	size_t file = s->line[vg__cfg_key_index(&vg__cfg_dnstap_map, "file")];

	if (o->dnstap_socket[0] && o->dnstap_file[0])
		vg__cfg_report(c, sock > file ? sock : file,
			       "dnstap: socket and file exclude each other (one output)");
}
