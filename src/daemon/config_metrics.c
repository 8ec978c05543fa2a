/* SPDX-License-Identifier: MIT
 *
 * The metrics section's schema (the Prometheus endpoint, metrics.h):
 *
 *   metrics:
 *     enabled: no              serve /metrics (default no; yes when listen is set)
 *     listen: 127.0.0.1@9153   the HTTP address (default 127.0.0.1, port 9153)
 */
#include <string.h>

#include "daemon/config_impl.h"

#define CFG struct vg_config

enum { M_ENABLED, M_LISTEN, M_COUNT };

static void parse_listen(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	struct vg_metrics_opts *m = &((CFG *)base)->metrics;
	const char *s = vg__cfg_scalar(c, val, "an address like 127.0.0.1@9153");

	if (!s)
		return;
	if (strlen(s) >= sizeof(m->listen) || vg_sockaddr_parse(s, VG_METRICS_PORT, &m->addr) < 0) {
		vg__cfg_bad_value(c, val, "an address like 127.0.0.1, 127.0.0.1@9153 or "
				  "[::1]:9153 (default port 9153)");
		return;
	}
	snprintf(m->listen, sizeof(m->listen), "%s", s);
}

static bool dump_listen(const struct vg__cfg_out *o, const char *lead, int col,
			const struct vg__cfg_key *k, const void *base)
{
	const struct vg_metrics_opts *m = &((const CFG *)base)->metrics;
	char buf[VG_ADDRSTRLEN];

	(void)col;
	if (!m->listen[0])
		return false;
	fprintf(o->f, "%s%s: \"%s\"\n", lead, k->name,
		vg_sockaddr_str(&m->addr, VG_ADDR_PORT, buf, sizeof(buf)));
	return true;
}

static const struct vg__cfg_key metrics_keys[M_COUNT] = {
	[M_ENABLED] = VG_CFG_KBOOL("enabled", CFG, metrics.enabled, "no", .want = "yes or no"),
	[M_LISTEN] = VG_CFG_KCUSTOM("listen", parse_listen, dump_listen),
};

const struct vg__cfg_map vg__cfg_metrics_map = {
	.name = "metrics", .in = "section 'metrics'", .label = "section 'metrics'",
	.keys = metrics_keys, .n_keys = M_COUNT,
};

void vg__cfg_metrics_finish(struct vg__cfg_ctx *c, int si)
{
	struct vg_metrics_opts *m = &c->cfg->metrics;
	const struct vg__cfg_seen *s = &c->sec[si];

	/* listen alone turns the endpoint on; "enabled: no" beside it keeps it off */
	if (m->listen[0] && !s->line[M_ENABLED])
		m->enabled = true;
	/* (no listen: vg_metrics_start takes 127.0.0.1@9153) */
}
