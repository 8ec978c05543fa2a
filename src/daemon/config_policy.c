/* SPDX-License-Identifier: MIT
 *
 * The policy section's schema: its own key table and the item tables of its
 * lists (tsig-keys, sources, groups), read by the same walk as every other
 * section (config.c).  Custom keys only where the value is really special: a
 * base64 secret, an address or prefix list, a reference to another entry
 * (a source's tsig-key, a group's sources), a source's override (a keyword or
 * "cname DOMAIN").  Cross-key rules of a source (a feed needs 'zone', 'zone'
 * is for rpz sources only, a feed without 'file' keeps its copy in the feed
 * directory) run once all its keys were read.
 *
 * Also the default policy: the shipped supply-chain zone for every client.
 */
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sodium.h>

#include "vigil/err.h"
#include "vigil/wire.h"
#include "daemon/config_impl.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define CFG struct vg_config
#define SRC struct vg_policy_source
#define GRP struct vg_policy_group
#define KEY struct vg_tsig_key

_Static_assert(sizeof(enum vg_policy_source_type) == sizeof(int), "enum fields are int");
_Static_assert(sizeof(enum vg_tsig_alg) == sizeof(int), "enum fields are int");

/* ---- policy.tsig-keys[]: {name, algorithm, secret} ---- */

/* "hmac-sha256." as in a TSIG record is the same algorithm; the dump uses the first name */
static const struct vg__cfg_enum tsig_algs[] = {
	{ "hmac-sha256", VG_TSIG_HMAC_SHA256 }, { "hmac-sha512", VG_TSIG_HMAC_SHA512 },
	{ "hmac-sha1", VG_TSIG_HMAC_SHA1 },     { "hmac-sha256.", VG_TSIG_HMAC_SHA256 },
	{ "hmac-sha512.", VG_TSIG_HMAC_SHA512 }, { "hmac-sha1.", VG_TSIG_HMAC_SHA1 },
	{ NULL, 0 },
};

static void parse_secret(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	KEY *k = base;
	const char *s = vg__cfg_scalar(c, val, "a base64 secret");
	size_t len;

	if (!s)
		return;
	if (sodium_base642bin(k->secret, sizeof(k->secret), s, strlen(s), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || len == 0) {
		vg__cfg_bad_value(c, val, "a base64 secret of 1..128 bytes");
		return;
	}
	k->secret_len = (uint16_t)len;
}

static bool dump_secret(const struct vg__cfg_out *o, const char *lead, int col,
			const struct vg__cfg_key *k, const void *base)
{
	const KEY *key = base;
	char b64[sodium_base64_ENCODED_LEN(VG_TSIG_SECRET_MAX, sodium_base64_VARIANT_ORIGINAL)];

	(void)col;
	sodium_bin2base64(b64, sizeof(b64), key->secret, key->secret_len,
			  sodium_base64_VARIANT_ORIGINAL);
	fprintf(o->f, "%s%s: \"%s\"\n", lead, k->name, b64);
	return true;
}

static const struct vg__cfg_key tsig_keys[] = {
	VG_CFG_KNAME("name", KEY, name, .flags = VG_CFG_REQUIRED | VG_CFG_UNIQUE,
		     .want = "a key name (a domain name, like feed-key or key.example.)"),
	VG_CFG_KENUM("algorithm", KEY, alg, tsig_algs, "hmac-sha256",
		     .want = "hmac-sha256, hmac-sha512 or hmac-sha1"),
	VG_CFG_KCUSTOM("secret", parse_secret, dump_secret, .flags = VG_CFG_REQUIRED),
};

static const struct vg__cfg_map tsig_map = {
	.name = "policy.tsig-keys", .in = "policy.tsig-keys", .label = "policy.tsig-keys",
	.keys = tsig_keys, .n_keys = N(tsig_keys), .size = sizeof(KEY), .ordered = true,
	.need = "an entry needs 'name' and 'secret'",
};

static const struct vg__cfg_list tsig_list = {
	.item = &tsig_map, .off = offsetof(CFG, feed.tsig_keys),
	.n_off = offsetof(CFG, feed.n_tsig_keys), .max = VG_FEED_MAX_KEYS,
};

/* ---- policy.sources[] ---- */

static const struct vg__cfg_enum psrc_types[] = {
	{ "rpz", VG_PSRC_RPZ }, { "hosts", VG_PSRC_HOSTS }, { "domains", VG_PSRC_DOMAINS },
	{ "adblock", VG_PSRC_ADBLOCK }, { NULL, 0 },
};
static const struct vg__cfg_enum psrc_actions[] = {
	{ "nxdomain", VG_ACT_NXDOMAIN }, { "nodata", VG_ACT_NODATA }, { "drop", VG_ACT_DROP },
	{ "null", VG_ACT_NULL_ADDR }, { NULL, 0 },
};
static const struct vg__cfg_enum povr_names[] = {
	{ "given", VG_POVR_GIVEN }, { "disabled", VG_POVR_DISABLED },
	{ "nxdomain", VG_POVR_NXDOMAIN }, { "nodata", VG_POVR_NODATA },
	{ "passthru", VG_POVR_PASSTHRU }, { "drop", VG_POVR_DROP },
	{ "tcp-only", VG_POVR_TCP_ONLY }, { NULL, 0 },
};

/* primary: up to 4 addresses, port 53 unless given */
static void parse_primary(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	SRC *src = base;
	int n = vg__cfg_addr_list(c, val, src->primaries, VG_POLICY_MAX_PRIMARIES, 53,
				  "an address like 192.0.2.1 or 192.0.2.1@5353", NULL);

	if (n == 0)
		vg__cfg_report(c, vg__cfg_line(val), "%s: at least one address is needed",
			       c->where);
	src->n_primaries = n > 0 ? (size_t)n : 0;
}

static bool dump_primary(const struct vg__cfg_out *o, const char *lead, int col,
			 const struct vg__cfg_key *k, const void *base)
{
	const SRC *src = base;

	if (!src->n_primaries)
		return false;
	vg__cfg_dump_addrs(o->f, lead, col, k->name, src->primaries, src->n_primaries, true);
	return true;
}

/*
 * tsig-key: the name of an entry of policy.tsig-keys (read before the
 * sources); looked up by check_source, once the source is known to be a feed.
 */
static void parse_key_ref(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	(void)base;
	vg__cfg_scalar(c, val, "a key name");
}

static bool resolve_key_ref(struct vg__cfg_ctx *c, SRC *src, yaml_node_t *val)
{
	const struct vg_feed_opts *fo = &c->cfg->feed;
	uint8_t kn[VG_NAME_MAX];
	size_t i = 0;
	int r = vg_config_parse_name((const char *)val->data.scalar.value, kn, sizeof(kn));

	while (r >= 0 && i < fo->n_tsig_keys && !vg_name_eq(fo->tsig_keys[i].name, kn))
		i++;
	if (r < 0 || i == fo->n_tsig_keys) {
		snprintf(c->where, sizeof(c->where), "policy.sources.tsig-key");
		vg__cfg_bad_value(c, val, "the name of an entry of policy.tsig-keys");
		return false;
	}
	src->tsig_key = (unsigned)i + 1;
	return true;
}

static bool dump_key_ref(const struct vg__cfg_out *o, const char *lead, int col,
			 const struct vg__cfg_key *k, const void *base)
{
	const SRC *src = base;

	(void)col;
	if (!src->tsig_key)
		return false;
	fprintf(o->f, "%s%s: '", lead, k->name);
	vg__cfg_dump_name(o->f, o->cfg->feed.tsig_keys[src->tsig_key - 1].name);
	fputs("'\n", o->f);
	return true;
}

/* override (RPZ.md 2.5): a keyword, or "cname DOMAIN" */
static void parse_override(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	static const char *const want =
		"given, disabled, nxdomain, nodata, passthru, drop, tcp-only or \"cname DOMAIN\"";
	SRC *src = base;
	const char *s = vg__cfg_scalar(c, val, want), *t;
	int o;

	if (!s)
		return;
	o = vg__cfg_enum_lookup(povr_names, s);
	if (o >= 0) {
		src->override = o;
		return;
	}
	if (strncasecmp(s, "cname", 5) || (s[5] != ' ' && s[5] != '\t')) {
		vg__cfg_bad_value(c, val, want);
		return;
	}
	for (t = s + 5; *t == ' ' || *t == '\t'; t++)
		;
	if (vg_name_from_str(t, src->override_cname, sizeof(src->override_cname)) <= 0 ||
	    src->override_cname[0] == 0) {
		vg__cfg_bad_value(c, val, "\"cname DOMAIN\" with a valid domain name");
		return;
	}
	vg_name_lower(src->override_cname);
	src->override = VG_POVR_CNAME;
}

static bool dump_override(const struct vg__cfg_out *o, const char *lead, int col,
			  const struct vg__cfg_key *k, const void *base)
{
	const SRC *src = base;
	char n[VG_NAME_MAX * 4 + 8];

	(void)col;
	if (src->override != VG_POVR_CNAME) {
		fprintf(o->f, "%s%s: %s\n", lead, k->name,
			vg__cfg_enum_name(povr_names, src->override));
		return true;
	}
	vg_name_to_str(src->override_cname, n, sizeof(n));
	fprintf(o->f, "%s%s: \"cname %s\"\n", lead, k->name, n);
	return true;
}

/* table order is reading order: the checks below use these indexes */
enum { S_NAME, S_TYPE, S_FILE, S_EDE, S_ACTION, S_OPTIONAL, S_PRIMARY, S_ZONE, S_TSIG_KEY,
       S_OVERRIDE, S_RECURSIVE_ONLY, S_BREAK_DNSSEC, S_COUNT };

static const struct vg__cfg_key source_keys[S_COUNT] = {
	[S_NAME] = VG_CFG_KSTR("name", SRC, name, 1, NULL, .flags = VG_CFG_UNIQUE,
			       .want = "a name of 1..63 characters"),
	[S_TYPE] = VG_CFG_KENUM("type", SRC, type, psrc_types, "rpz"),
	[S_FILE] = VG_CFG_KSTR("file", SRC, file, 1, NULL, .want = "a path shorter than 512 bytes"),
	[S_EDE] = VG_CFG_KUINT("ede", SRC, ede, 15, 17, "15",
			       .want = "15 (Blocked), 16 (Censored) or 17 (Filtered)"),
	[S_ACTION] = VG_CFG_KENUM("action", SRC, action, psrc_actions, "nxdomain"),
	[S_OPTIONAL] = VG_CFG_KBOOL("optional", SRC, optional, "no", .want = "yes or no"),
	[S_PRIMARY] = VG_CFG_KCUSTOM("primary", parse_primary, dump_primary),
	[S_ZONE] = VG_CFG_KNAME("zone", SRC, zone, .flags = VG_CFG_NOT_ROOT | VG_CFG_SKIP_EMPTY,
				.want = "a domain name (the policy zone, like rpz.example.org)"),
	[S_TSIG_KEY] = VG_CFG_KCUSTOM("tsig-key", parse_key_ref, dump_key_ref),
	[S_OVERRIDE] = VG_CFG_KCUSTOM("override", parse_override, dump_override),
	/* RPZ.md 2.5: the spec's defaults */
	[S_RECURSIVE_ONLY] = VG_CFG_KBOOL("recursive-only", SRC, recursive_only, "yes",
					  .want = "yes or no"),
	[S_BREAK_DNSSEC] = VG_CFG_KBOOL("break-dnssec", SRC, break_dnssec, "no",
					.want = "yes or no"),
};

static bool source_has_needed(const struct vg__cfg_seen *s)
{
	return s->val[S_NAME] && (s->val[S_FILE] || s->val[S_PRIMARY]);
}

/*
 * zone names the policy zone of an rpz source: for a file, when the file has
 * no $ORIGIN (and it must agree with one it has: src/policy/rpzload.c); for
 * a feed (a source with primary, always rpz), the zone to transfer.
 * tsig-key is for feeds only.  A feed without file keeps its copy in
 * <feed-directory>/<name>.rpz.
 */
static bool check_source(struct vg__cfg_ctx *c, void *base, const struct vg__cfg_seen *s,
			 yaml_node_t *item)
{
	const struct vg_config *cfg = c->cfg;
	SRC *src = base;

	if (s->val[S_PRIMARY] && src->type != VG_PSRC_RPZ) {
		vg__cfg_report(c, vg__cfg_line(s->val[S_PRIMARY]),
			       "policy.sources.primary: only an rpz source can be a feed");
		return false;
	}
	if (s->val[S_ZONE] && src->type != VG_PSRC_RPZ) {
		vg__cfg_report(c, vg__cfg_line(s->val[S_ZONE]), "policy.sources.zone: only for an "
			       "rpz source (the policy zone's name)");
		return false;
	}
	if (!s->val[S_PRIMARY]) {
		if (s->val[S_TSIG_KEY]) {
			vg__cfg_report(c, vg__cfg_line(s->val[S_TSIG_KEY]),
				       "policy.sources.tsig-key: only for a feed (a source with "
				       "'primary')");
			return false;
		}
		return true;
	}
	if (!s->val[S_ZONE]) {
		vg__cfg_report(c, vg__cfg_line(item), "policy.sources: a feed ('primary') needs "
			       "'zone', the name of the policy zone to transfer");
		return false;
	}
	if (s->val[S_TSIG_KEY] && !resolve_key_ref(c, src, s->val[S_TSIG_KEY]))
		return false;
	if (s->val[S_FILE])
		return true;
	/* the name becomes a file name: no directories, nothing hidden */
	if (strchr(src->name, '/') || src->name[0] == '.') {
		vg__cfg_report(c, vg__cfg_line(item), "policy.sources: feed '%s' needs 'file' (its "
			       "name cannot be a file name in policy.feed-directory)", src->name);
		return false;
	}
	/* no directory yet: the state directory, applied after the walk (config_keys.c) */
	if ((size_t)snprintf(src->file, sizeof(src->file), "%s%s%s.rpz", cfg->feed.directory,
			     cfg->feed.directory[0] ? "/" : "", src->name) >= sizeof(src->file)) {
		vg__cfg_report(c, vg__cfg_line(item), "policy.sources: feed '%s': the path of its "
			       "copy in policy.feed-directory is too long", src->name);
		return false;
	}
	return true;
}

static const struct vg__cfg_map source_map = {
	.name = "policy.sources", .in = "policy.sources", .label = "policy.sources",
	.keys = source_keys, .n_keys = S_COUNT, .size = sizeof(SRC), .ordered = true,
	.need = "an entry needs 'name' and 'file' (or 'primary' and 'zone' for a feed)",
	.has_needed = source_has_needed, .check = check_source,
};

static const struct vg__cfg_list source_list = {
	.item = &source_map, .off = offsetof(CFG, policy.sources),
	.n_off = offsetof(CFG, policy.n_sources), .max = VG_POLICY_MAX_SOURCES,
};

/* ---- policy.groups[] ---- */

static void parse_clients(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	GRP *g = base;
	yaml_node_t *items[VG_POLICY_MAX_CLIENTS];
	bool bad;
	size_t n = vg__cfg_list_items(c, val, items, VG_POLICY_MAX_CLIENTS, &bad);

	for (size_t i = 0; i < n; i++) {
		struct vg_prefix *pf = &g->clients[g->n_clients];
		int r = vg_prefix_parse((const char *)items[i]->data.scalar.value, pf);
		if (r < 0) {
			vg__cfg_bad_value(c, items[i], r == VG_EINVAL ?
					  "a prefix with no bits set past its length" :
					  "a prefix like 192.0.2.0/24 or 2001:db8::/32");
			continue;
		}
		vg_prefix_unmap(pf);
		g->n_clients++;
	}
}

static bool dump_clients(const struct vg__cfg_out *o, const char *lead, int col,
			 const struct vg__cfg_key *k, const void *base)
{
	const GRP *g = base;
	char pfx[INET6_ADDRSTRLEN + 8];

	fprintf(o->f, "%s%s:%s\n", lead, k->name, g->n_clients ? "" : " []");
	for (size_t i = 0; i < g->n_clients; i++)
		fprintf(o->f, "%*s- \"%s\"\n", col + 2, "",
			vg_prefix_str(&g->clients[i], pfx, sizeof(pfx)));
	return true;
}

/* sources: names of entries of policy.sources (read before the groups) */
static void parse_group_sources(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	const struct vg_policy_opts *po = &c->cfg->policy;
	GRP *g = base;
	yaml_node_t *items[VG_POLICY_MAX_SOURCES];
	bool bad;
	size_t n = vg__cfg_list_items(c, val, items, VG_POLICY_MAX_SOURCES, &bad);

	for (size_t i = 0; i < n; i++) {
		const char *s = (const char *)items[i]->data.scalar.value;
		size_t k = 0;
		while (k < po->n_sources && strcmp(po->sources[k].name, s))
			k++;
		if (k == po->n_sources) {
			vg__cfg_bad_value(c, items[i],
					  "the name of an entry of policy.sources (defined above)");
			continue;
		}
		g->sources[g->n_sources++] = (uint8_t)k;
	}
}

static bool dump_group_sources(const struct vg__cfg_out *o, const char *lead, int col,
			       const struct vg__cfg_key *k, const void *base)
{
	const GRP *g = base;

	fprintf(o->f, "%s%s:%s\n", lead, k->name, g->n_sources ? "" : " []");
	for (size_t i = 0; i < g->n_sources; i++) {
		fprintf(o->f, "%*s- ", col + 2, "");
		vg__cfg_dump_str(o->f, o->cfg->policy.sources[g->sources[i]].name);
		fputc('\n', o->f);
	}
	return true;
}

/*
 * client-ids and client-certs: who a client is, for clients that come over
 * TLS or HTTPS (the transports lower-case what they give the pipeline, so
 * the config is normalised the same way).  An identity may be named by one
 * group only: a second group naming it is an error, not a silent tie.
 */

/* Is @p s named already, by group @p gi's earlier entries or an earlier group? */
static const char *ident_owner(const struct vg__cfg_ctx *c, const GRP *g, const char *s,
			       bool cert)
{
	const struct vg_policy_opts *po = &c->cfg->policy;
	for (size_t i = 0; i <= po->n_groups && i < VG_POLICY_MAX_GROUPS; i++) {
		const GRP *o = i < po->n_groups ? &po->groups[i] : g;
		size_t n = cert ? o->n_certs : o->n_ids;
		for (size_t k = 0; k < n; k++)
			if (!strcmp(cert ? o->certs[k] : o->ids[k], s))
				return o == g ? "" : o->name;
		if (o == g)
			break;
	}
	return NULL;
}

static void report_dup_ident(struct vg__cfg_ctx *c, yaml_node_t *item, const char *owner)
{
	char show[80];
	const char *v = (const char *)item->data.scalar.value;

	if (!*owner) {
		vg__cfg_dup_value(c, item);
		return;
	}
	vg__cfg_report(c, vg__cfg_line(item), "%s: '%s' is named by group '%s' already (an "
		       "identity selects one group)", c->where,
		       vg__cfg_show(v, strlen(v), show, sizeof(show)), owner);
}

static void parse_client_ids(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	GRP *g = base;
	yaml_node_t *items[VG_POLICY_MAX_IDS];
	bool bad;
	size_t n = vg__cfg_list_items(c, val, items, VG_POLICY_MAX_IDS, &bad);

	for (size_t i = 0; i < n; i++) {
		const char *s = (const char *)items[i]->data.scalar.value;
		char id[VG_POLICY_ID_MAX];
		size_t len = strlen(s), k;
		for (k = 0; k < len && k < VG_POLICY_ID_MAX - 1; k++) {
			char ch = s[k];
			if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch - 'A' + 'a');
			if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
				break;
			id[k] = ch;
		}
		if (len == 0 || k != len || len > 63) {
			vg__cfg_bad_value(c, items[i], "a client ID of 1..63 letters, digits and "
					  "'-' (as in ID.dns.example.net or /dns-query/ID)");
			continue;
		}
		id[len] = 0;
		const char *owner = ident_owner(c, g, id, false);
		if (owner) {
			report_dup_ident(c, items[i], owner);
			continue;
		}
		memcpy(g->ids[g->n_ids++], id, len + 1);
	}
}

static bool dump_client_ids(const struct vg__cfg_out *o, const char *lead, int col,
			    const struct vg__cfg_key *k, const void *base)
{
	const GRP *g = base;

	if (!g->n_ids)
		return false;
	fprintf(o->f, "%s%s:\n", lead, k->name);
	for (size_t i = 0; i < g->n_ids; i++)
		fprintf(o->f, "%*s- \"%s\"\n", col + 2, "", g->ids[i]);
	return true;
}

/*
 * "sha256:HEX": the SHA-256 of the certificate's DER, 64 hex digits in any
 * case, with or without the colons `openssl x509 -fingerprint -sha256`
 * prints; kept as "sha256:" and 64 lower-case digits.  "subject:TEXT": the
 * subject as `openssl x509 -noout -subject -nameopt RFC2253` prints it
 * (without "subject="), compared exactly.
 */
static int cert_entry(const char *s, char *out)
{
	if (!strncasecmp(s, "sha256:", 7)) {
		size_t n = 0;
		memcpy(out, "sha256:", 7);
		for (const char *p = s + 7; *p; p++) {
			char ch = *p;
			if (ch == ':' && n && n % 2 == 0 && p[1] && p[1] != ':')
				continue;
			if (ch >= 'A' && ch <= 'F')
				ch = (char)(ch - 'A' + 'a');
			if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')) || n == 64)
				return VG_EPARSE;
			out[7 + n++] = ch;
		}
		if (n != 64)
			return VG_EPARSE;
		out[7 + 64] = 0;
		return 0;
	}
	if (!strncasecmp(s, "subject:", 8)) {
		size_t len = strlen(s + 8);
		if (!len || len > VG_POLICY_CERT_MAX - 9)
			return VG_EPARSE;
		memcpy(out, "subject:", 8);
		memcpy(out + 8, s + 8, len + 1);
		return 0;
	}
	return VG_EPARSE;
}

static void parse_client_certs(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	GRP *g = base;
	yaml_node_t *items[VG_POLICY_MAX_CERTS];
	bool bad;
	size_t n = vg__cfg_list_items(c, val, items, VG_POLICY_MAX_CERTS, &bad);

	for (size_t i = 0; i < n; i++) {
		char e[VG_POLICY_CERT_MAX];
		if (cert_entry((const char *)items[i]->data.scalar.value, e) < 0) {
			vg__cfg_bad_value(c, items[i], "\"sha256:\" and the 64 hex digits of the "
					  "certificate's SHA-256 fingerprint, or \"subject:\" and "
					  "its subject in RFC 2253 form (CN=laptop9,O=Example)");
			continue;
		}
		const char *owner = ident_owner(c, g, e, true);
		if (owner) {
			report_dup_ident(c, items[i], owner);
			continue;
		}
		memcpy(g->certs[g->n_certs++], e, strlen(e) + 1);
	}
}

static bool dump_client_certs(const struct vg__cfg_out *o, const char *lead, int col,
			      const struct vg__cfg_key *k, const void *base)
{
	const GRP *g = base;

	if (!g->n_certs)
		return false;
	fprintf(o->f, "%s%s:\n", lead, k->name);
	for (size_t i = 0; i < g->n_certs; i++) {
		fprintf(o->f, "%*s- ", col + 2, "");
		vg__cfg_dump_str(o->f, g->certs[i]);
		fputc('\n', o->f);
	}
	return true;
}

enum { G_NAME, G_CLIENTS, G_CLIENT_IDS, G_CLIENT_CERTS, G_SOURCES, G_ALLOWLIST, G_COUNT };

static const struct vg__cfg_key group_keys[G_COUNT] = {
	[G_NAME] = VG_CFG_KSTR("name", GRP, name, 1, NULL, .flags = VG_CFG_REQUIRED,
			       .want = "a name of 1..63 characters"),
	[G_CLIENTS] = VG_CFG_KCUSTOM("clients", parse_clients, dump_clients),
	[G_CLIENT_IDS] = VG_CFG_KCUSTOM("client-ids", parse_client_ids, dump_client_ids),
	[G_CLIENT_CERTS] = VG_CFG_KCUSTOM("client-certs", parse_client_certs,
					  dump_client_certs),
	[G_SOURCES] = VG_CFG_KCUSTOM("sources", parse_group_sources, dump_group_sources,
				     .flags = VG_CFG_REQUIRED),
	[G_ALLOWLIST] = VG_CFG_KBOOL("allowlist", GRP, allowlist, "no", .want = "yes or no"),
};

/* a group selects clients by address, by client ID or by certificate, or several */
static bool group_has_needed(const struct vg__cfg_seen *s)
{
	return s->val[G_NAME] && s->val[G_SOURCES] &&
	       (s->val[G_CLIENTS] || s->val[G_CLIENT_IDS] || s->val[G_CLIENT_CERTS]);
}

static const struct vg__cfg_map group_map = {
	.name = "policy.groups", .in = "policy.groups", .label = "policy.groups",
	.keys = group_keys, .n_keys = G_COUNT, .size = sizeof(GRP), .ordered = true,
	.need = "an entry needs 'name', 'sources' and the clients it is for: 'clients' "
		"(address prefixes), 'client-ids' or 'client-certs'",
	.has_needed = group_has_needed,
};

static const struct vg__cfg_list group_list = {
	.item = &group_map, .off = offsetof(CFG, policy.groups),
	.n_off = offsetof(CFG, policy.n_groups), .max = VG_POLICY_MAX_GROUPS,
};

/* ---- the policy section ---- */

/* watch: yes polls the sources' files every 2 s */
static void parse_watch(struct vg__cfg_ctx *c, void *base, yaml_node_t *val)
{
	const char *s = vg__cfg_scalar(c, val, "yes or no");
	int b = s ? vg__cfg_enum_lookup(vg__cfg_bools, s) : -1;

	if (s && b < 0)
		vg__cfg_bad_value(c, val, "yes or no");
	else if (s)
		((CFG *)base)->policy.watch_ms = b ? VG_POLICY_WATCH_MS : 0;
}

static bool dump_watch(const struct vg__cfg_out *o, const char *lead, int col,
		       const struct vg__cfg_key *k, const void *base)
{
	(void)col;
	fprintf(o->f, "%s%s: %s\n", lead, k->name, ((const CFG *)base)->policy.watch_ms ? "yes"
											: "no");
	return true;
}

/* a policy section replaces the default one, even an empty section */
static void policy_begin(struct vg__cfg_ctx *c)
{
	c->cfg->policy.n_sources = 0;
	c->cfg->policy.n_groups = 0;
}

/* read in this order: sources name a key, feeds keep their copies in the
 * feed directory, groups name sources */
static const struct vg__cfg_key policy_keys[] = {
	VG_CFG_KSTR("log", CFG, policy.log, 1, NULL, .flags = VG_CFG_SKIP_EMPTY,
		    .want = "a file path shorter than 512 bytes, or syslog"),
	VG_CFG_KBOOL("qname-wait-recurse", CFG, policy.qname_wait_recurse, "no",
		     .want = "yes or no"),
	VG_CFG_KCUSTOM("watch", parse_watch, dump_watch),
	VG_CFG_KUINT("min-ns-dots", CFG, policy.min_ns_dots, 0, 127,
		     VG_CFG_STRINGIFY(VG_POLICY_MIN_NS_DOTS_DEFAULT),
		     .want = "a number of labels, 0..127 (0: the root's name servers too)"),
	VG_CFG_KSTR("feed-directory", CFG, feed.directory, 1, "",
		    .want = "a directory path shorter than 512 bytes"),
	VG_CFG_KLIST("tsig-keys", &tsig_list),
	VG_CFG_KLIST("sources", &source_list),
	VG_CFG_KLIST("groups", &group_list),
};

_Static_assert(S_COUNT <= VG_CFG_MAX_KEYS && N(policy_keys) <= VG_CFG_MAX_KEYS,
	       "raise VG_CFG_MAX_KEYS");

const struct vg__cfg_map vg__cfg_policy_map = {
	.name = "policy", .in = "section 'policy'", .label = "section 'policy'",
	.keys = policy_keys, .n_keys = N(policy_keys), .ordered = true, .begin = policy_begin,
};

/* ---- checks on a loaded config ---- */

size_t vg_config_policy_unused(const struct vg_config *cfg, char *names, size_t cap)
{
	const struct vg_policy_opts *po = &cfg->policy;
	bool used[VG_POLICY_MAX_SOURCES] = { false };
	size_t n = 0, o = 0;

	for (size_t g = 0; g < po->n_groups; g++)
		for (size_t k = 0; (po->groups[g].n_clients || po->groups[g].n_ids ||
				    po->groups[g].n_certs) && k < po->groups[g].n_sources; k++)
			used[po->groups[g].sources[k]] = true;
	if (cap)
		names[0] = '\0';
	for (size_t i = 0; i < po->n_sources; i++) {
		if (used[i])
			continue;
		if (o < cap) {
			int w = snprintf(names + o, cap - o, "%s'%s'", n ? ", " : "",
					 po->sources[i].name);
			o = w < 0 || (size_t)w >= cap - o ? cap : o + (size_t)w;
			if (o == cap && cap > 4)
				memcpy(names + cap - 4, "...", 4);
		}
		n++;
	}
	return n;
}

/* ---- the default policy ---- */

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
void vg__cfg_default_policy(struct vg_config *cfg)
{
	struct vg_policy_source *src = &cfg->policy.sources[0];
	struct vg_policy_group *g = &cfg->policy.groups[0];
	const char *dirs = VIGIL_POLICY_DIRS;
	char path[sizeof(src->file)];

	cfg->policy.watch_ms = VG_POLICY_WATCH_MS;
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
	memset(src, 0, sizeof(*src));
	vg__cfg_defaults(&source_map, src);
	snprintf(src->name, sizeof(src->name), "supply-chain");
	snprintf(src->file, sizeof(src->file), "%s", path);
	src->optional = true;
	/* protective default: validating stubs (DO=1) are protected too; a
	 * policy section gets the spec's default (no) unless it says yes */
	src->break_dnssec = true;
	cfg->policy.n_sources = 1;
	memset(g, 0, sizeof(*g));
	vg__cfg_defaults(&group_map, g);
	snprintf(g->name, sizeof(g->name), "everyone");
	vg_prefix_parse("0.0.0.0/0", &g->clients[0]);
	vg_prefix_parse("::/0", &g->clients[1]);
	g->n_clients = 2;
	g->sources[0] = 0;
	g->n_sources = 1;
	cfg->policy.n_groups = 1;
}
