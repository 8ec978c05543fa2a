/* SPDX-License-Identifier: MIT
 *
 * The discovery section's schema (DDR, RFC 9462; the application DNS
 * canary) and what DDR announces: vg_config_ddr_from_config() turns the
 * section and the encrypted listeners into the pipeline's struct
 * vg_ddr_opts (serve.ddr), which src/pipeline/discovery.c answers from.
 *
 *   discovery:
 *     ddr: yes                 announce the encrypted endpoints (default yes)
 *     ddr-name: dns.example.net   TargetName (default: tls.server-name)
 *     ddr-endpoints: [ "dot 853", "doh 443" ]   what to announce, when it is not
 *                              what vigil listens on (a proxy, NAT); default:
 *                              server.listen-tls and server.listen-https
 *     ddr-hints: [ 192.0.2.53, "2001:db8::53" ]  their addresses (ipv4hint,
 *                              ipv6hint); default: the listeners' addresses
 *     block-doh-canary: no     use-application-dns.net NXDOMAIN (default no)
 */
#include <string.h>

#include "vigil/err.h"
#include "vigil/wire.h"
#include "daemon/config_impl.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define CFG struct vg_config

/* the DoH path when http.path is not set (RFC 8484's customary one) */
#define DDR_DOH_PATH_DEFAULT "/dns-query"

/* ---- ddr-endpoints: "dot PORT" or "doh PORT" ---- */

static void parse_endpoints(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	static const char *const want = "\"dot PORT\" or \"doh PORT\" (like \"dot 853\")";
	struct vg_discovery_opts *d = &((CFG *)base)->discovery;
	yaml_node_t *items[VG_DDR_MAX_ENDPOINTS];
	bool bad;
	size_t n = vg__cfg_list_items(c, val, items, VG_DDR_MAX_ENDPOINTS, &bad);

	d->n_ep = 0;
	for (size_t i = 0; i < n; i++) {
		const char *s = (const char *)items[i]->data.scalar.value;
		char proto[8] = "", port[8] = "", extra;
		unsigned long long v;
		if (sscanf(s, "%7s %7s %c", proto, port, &extra) != 2 ||
		    (strcmp(proto, "dot") && strcmp(proto, "doh")) ||
		    vg_parse_uint(port, 65535, &v) < 0 || v == 0) {
			vg__cfg_bad_value(c, items[i], want);
			continue;
		}
		struct vg_ddr_endpoint *e = &d->ep[d->n_ep];
		memset(e, 0, sizeof(*e));
		e->doh = !strcmp(proto, "doh");
		snprintf(e->alpn, sizeof(e->alpn), "%s", e->doh ? "h2" : "dot");
		e->port = (uint16_t)v;
		size_t k = 0;
		while (k < d->n_ep && (d->ep[k].port != e->port || d->ep[k].doh != e->doh))
			k++;
		if (k < d->n_ep)
			vg__cfg_dup_value(c, items[i]);
		else
			d->n_ep++;
	}
}

static bool dump_endpoints(const struct vg__cfg_out *o, const char *lead, int col,
			   const struct vg__cfg_key *k, const void *base)
{
	const struct vg_discovery_opts *d = &((const CFG *)base)->discovery;

	if (!d->n_ep)
		return false;
	fprintf(o->f, "%s%s:\n", lead, k->name);
	for (size_t i = 0; i < d->n_ep; i++)
		fprintf(o->f, "%*s- \"%s %u\"\n", col + 2, "", d->ep[i].doh ? "doh" : "dot",
			d->ep[i].port);
	return true;
}

/* ---- ddr-hints: addresses, no port ---- */

static void parse_hints(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	struct vg_discovery_opts *d = &((CFG *)base)->discovery;
	struct vg_sockaddr tmp[VG_CFG_MAX_ADDRS];
	size_t lines[VG_CFG_MAX_ADDRS];
	int n = vg__cfg_addr_list(c, val, tmp, VG_CFG_MAX_ADDRS, 0,
				  "an address like 192.0.2.53 or 2001:db8::53", lines);
	size_t n4 = 0, n6 = 0;

	d->n_hints = 0;
	for (int i = 0; i < n; i++) {
		const uint8_t *a;
		int fam = vg_addr_bytes(&tmp[i].u.sa, &a);
		static const uint8_t zero[16];
		if (!memcmp(a, zero, fam == AF_INET ? 4 : 16) || vg_sockaddr_port(&tmp[i])) {
			vg__cfg_report(c, lines[i], "%s: a hint is an address a client can reach "
				       "(not 0.0.0.0 or ::), without a port", c->where);
			continue;
		}
		if ((fam == AF_INET ? ++n4 : ++n6) > VG_DDR_MAX_HINTS) {
			vg__cfg_report(c, lines[i], "%s: at most %d addresses of each family",
				       c->where, VG_DDR_MAX_HINTS);
			continue;
		}
		d->hints[d->n_hints++] = tmp[i];
	}
}

static bool dump_hints(const struct vg__cfg_out *o, const char *lead, int col,
		       const struct vg__cfg_key *k, const void *base)
{
	const struct vg_discovery_opts *d = &((const CFG *)base)->discovery;

	if (!d->n_hints)
		return false;
	vg__cfg_dump_addrs(o->f, lead, col, k->name, d->hints, d->n_hints, false);
	return true;
}

enum { D_DDR, D_NAME, D_ENDPOINTS, D_HINTS, D_CANARY, D_COUNT };

static const struct vg__cfg_key discovery_keys[D_COUNT] = {
	[D_DDR] = VG_CFG_KBOOL("ddr", CFG, discovery.ddr, "yes", .want = "yes or no"),
	[D_NAME] = VG_CFG_KNAME("ddr-name", CFG, discovery.name,
				.flags = VG_CFG_NOT_ROOT | VG_CFG_SKIP_EMPTY,
				.want = "a domain name (the name in vigil's TLS certificate)"),
	[D_ENDPOINTS] = VG_CFG_KCUSTOM("ddr-endpoints", parse_endpoints, dump_endpoints),
	[D_HINTS] = VG_CFG_KCUSTOM("ddr-hints", parse_hints, dump_hints),
	[D_CANARY] = VG_CFG_KBOOL("block-doh-canary", CFG, discovery.block_canary, "no",
				  .want = "yes or no"),
};

const struct vg__cfg_map vg__cfg_discovery_map = {
	.name = "discovery", .in = "section 'discovery'", .label = "section 'discovery'",
	.keys = discovery_keys, .n_keys = D_COUNT,
};

/* ---- what DDR announces ---- */

/* The TargetName: discovery.ddr-name, else tls.server-name, in @p buf
 * (wire, lower-case); NULL: none. */
static const uint8_t *ddr_target(const struct vg_config *cfg, uint8_t buf[VG_NAME_MAX])
{
	if (cfg->discovery.name[0])
		return cfg->discovery.name;
	if (cfg->tls.server_name[0] &&
	    vg_config_parse_name(cfg->tls.server_name, buf, VG_NAME_MAX) > 0)
		return buf;
	return NULL;
}

/* Add one address to @p e's hints; false when the family's hints are full. */
static bool add_hint(struct vg_ddr_endpoint *e, const struct vg_sockaddr *sa)
{
	static const uint8_t zero[16];
	const uint8_t *a;
	int fam = vg_addr_bytes(&sa->u.sa, &a);
	size_t *n = fam == AF_INET ? &e->n_v4 : &e->n_v6;
	size_t len = fam == AF_INET ? 4 : 16;
	uint8_t *dst;

	if (!fam || !memcmp(a, zero, len))
		return true; /* a wildcard listener: no hint */
	for (size_t i = 0; i < *n; i++)
		if (!memcmp(fam == AF_INET ? e->v4[i] : e->v6[i], a, len))
			return true;
	if (*n == VG_DDR_MAX_HINTS)
		return false;
	dst = fam == AF_INET ? e->v4[*n] : e->v6[*n];
	memcpy(dst, a, len);
	(*n)++;
	return true;
}

int vg_config_ddr_add_listeners(struct vg_ddr_opts *o, const char *alpn, bool doh,
				const struct vg_sockaddr *addrs, size_t n)
{
	int ret = 0;

	for (size_t i = 0; i < n; i++) {
		uint16_t port = vg_sockaddr_port(&addrs[i]);
		size_t k = 0;
		while (k < o->n_ep && (o->ep[k].port != port || strcmp(o->ep[k].alpn, alpn)))
			k++;
		if (k == o->n_ep) {
			if (o->n_ep == VG_DDR_MAX_ENDPOINTS) {
				ret = VG_ELIMIT;
				continue;
			}
			struct vg_ddr_endpoint *e = &o->ep[o->n_ep++];
			memset(e, 0, sizeof(*e));
			snprintf(e->alpn, sizeof(e->alpn), "%s", alpn);
			e->port = port;
			e->doh = doh;
		}
		if (!add_hint(&o->ep[k], &addrs[i]))
			ret = VG_ELIMIT;
	}
	return ret;
}

void vg_config_ddr_from_config(const struct vg_config *cfg, struct vg_ddr_opts *out)
{
	const struct vg_discovery_opts *d = &cfg->discovery;
	uint8_t tbuf[VG_NAME_MAX];
	const uint8_t *target = ddr_target(cfg, tbuf);

	memset(out, 0, sizeof(*out));
	out->enabled = d->ddr;
	out->block_canary = d->block_canary;
	snprintf(out->dohpath, sizeof(out->dohpath), "%s{?dns}",
		 cfg->net.doh.path[0] ? cfg->net.doh.path : DDR_DOH_PATH_DEFAULT);
	if (!d->ddr || !target)
		return; /* nothing to announce: NODATA */
	memcpy(out->target, target, vg_name_len(target));
	if (d->n_ep) {
		/* announced as configured: every endpoint gets every hint */
		for (size_t i = 0; i < d->n_ep && i < VG_DDR_MAX_ENDPOINTS; i++) {
			out->ep[i] = d->ep[i];
			for (size_t k = 0; k < d->n_hints; k++)
				add_hint(&out->ep[i], &d->hints[k]);
		}
		out->n_ep = d->n_ep;
		return;
	}
	/* from the encrypted listeners, DoT first (priority 1); listen-http,
	 * cleartext behind a proxy, is not announced: the proxy's endpoint is,
	 * through ddr-endpoints.  With ddr-hints, those replace the listeners'
	 * addresses as hints. */
	vg_config_ddr_add_listeners(out, "dot", false, cfg->net.listen_tls, cfg->net.n_listen_tls);
	vg_config_ddr_add_listeners(out, "h2", true, cfg->net.listen_https,
				    cfg->net.n_listen_https);
	if (d->n_hints)
		for (size_t i = 0; i < out->n_ep; i++) {
			out->ep[i].n_v4 = out->ep[i].n_v6 = 0;
			for (size_t k = 0; k < d->n_hints; k++)
				add_hint(&out->ep[i], &d->hints[k]);
		}
}

/* ddr-endpoints and ddr-hints need a TargetName; hints need endpoints. */
void vg__cfg_discovery_finish(struct vg__cfg_ctx *c)
{
	const struct vg__cfg_seen *s = &c->sec[VG_SEC_DISCOVERY];
	struct vg_config *cfg = c->cfg;

	uint8_t tbuf[VG_NAME_MAX];
	if (cfg->discovery.ddr && cfg->discovery.n_ep && !ddr_target(cfg, tbuf) &&
	    s->line[D_ENDPOINTS] != VG_CFG_LINE_BAD)
		vg__cfg_report(c, s->line[D_ENDPOINTS], "discovery.ddr-endpoints: DDR needs the "
			       "name in vigil's certificate: set discovery.ddr-name (or "
			       "tls.server-name)");
	vg_config_ddr_from_config(cfg, &cfg->serve.ddr);
}

_Static_assert(D_COUNT <= VG_CFG_MAX_KEYS, "raise VG_CFG_MAX_KEYS");
