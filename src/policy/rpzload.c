/* SPDX-License-Identifier: MIT
 *
 * Reading an RPZ zone file (draft-vixie-dnsop-dns-rpz-00, RPZ.md 2.1-2.3)
 * into policy rules, record by record, so that every problem is reported
 * with its FILE:LINE and the record skipped (a bad rule never stops the rest
 * of the zone from loading).
 *
 * Speed: a policy zone is mostly one-line records "OWNER [TTL] [IN] CNAME
 * TARGET" (or A / AAAA local data).  Such lines are parsed here directly,
 * without allocating; everything else (the SOA, records spread over several
 * lines with parentheses, quoted strings, escapes, TTL units, any other
 * type) goes to ldns's parser, one record at a time.  A million rules load
 * in well under a second this way; through ldns alone they took ten times
 * as long.
 *
 * The apex SOA gives the zone's name and serial (for the SOA put in rewritten
 * answers); apex NS records are ignored; the owner of every other record is
 * the trigger (vg_rpz_owner) and its RRset the action:
 *
 *   CNAME .                NXDOMAIN        CNAME rpz-passthru.  PASSTHRU
 *   CNAME *.               NODATA          CNAME rpz-drop.      DROP
 *   CNAME rpz-tcp-only.    TCP-only        CNAME *.garden.net.  walled garden
 *   CNAME <the trigger name itself>        PASSTHRU (deprecated form)
 *   any other record                       local data (kept with the rule)
 *
 * SOA and NS below the apex, DNAME and DNSSEC records are errors (RPZ.md
 * 2.2), as are CNAMEs to other "rpz-" names.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "core/core.h"
#include "policy/rpzload.h"

struct reader {
	struct vg_rpz_ctx *c;
	uint8_t origin[VG_NAME_MAX]; /* $ORIGIN */
	bool have_origin;
	uint8_t zone[VG_NAME_MAX];   /* the zone's name from the configuration */
	bool have_zone;
	uint8_t prev[VG_NAME_MAX];   /* the last owner (for lines that start blank) */
	bool have_prev;
	uint32_t ttl;                /* $TTL */
	bool have_soa;
	/* a record spread over lines with parentheses */
	char *acc;
	size_t acc_len, acc_cap;
	unsigned acc_line;
	int depth;
};

static void report(struct vg_rpz_ctx *c, unsigned line, const char *fmt, const char *what)
{
	c->errors++;
	if (c->errout) {
		fprintf(c->errout, "%s:%u: ", c->path, line);
		fprintf(c->errout, fmt, what);
		fputs(" (record skipped)\n", c->errout);
	}
}

/* An error that makes the whole file unusable (no "record skipped"). */
static int fail(struct vg_rpz_ctx *c, unsigned line, const char *fmt, const uint8_t *n1,
		const uint8_t *n2)
{
	char a[VG_NAME_MAX * 4 + 8], b[VG_NAME_MAX * 4 + 8];

	c->errors++;
	if (c->errout) {
		vg_name_to_str(n1, a, sizeof(a));
		vg_name_to_str(n2, b, sizeof(b));
		fprintf(c->errout, "%s:%u: ", c->path, line);
		fprintf(c->errout, fmt, a, b);
		fputc('\n', c->errout);
	}
	return VG_EPARSE;
}

/* Is @p name "rpz-*." or below such a TLD? */
static bool rpz_tld(const uint8_t *name)
{
	int labels = vg_name_labels(name);
	if (labels < 1)
		return false;
	const uint8_t *tld = vg_name_suffix(name, 1);
	return tld[0] >= 4 && !memcmp(tld + 1, "rpz-", 4);
}

static bool name_is(const uint8_t *name, const char *text)
{
	uint8_t n[VG_NAME_MAX];
	return vg_name_from_str(text, n, sizeof(n)) > 0 && vg_name_eq(name, n);
}

/* The action of a CNAME to @p target for the rule @p r; VG_EINVAL if invalid. */
static int cname_action(const struct vg_pol_rule *r, const uint8_t *target, const char **why)
{
	if (target[0] == 0)
		return VG_ACT_NXDOMAIN;
	if (target[0] == 1 && target[1] == '*') {
		if (target[2] == 0)
			return VG_ACT_NODATA;
		return VG_ACT_GARDEN; /* *.garden.example. */
	}
	if (name_is(target, "rpz-passthru."))
		return VG_ACT_PASSTHRU;
	if (name_is(target, "rpz-drop."))
		return VG_ACT_DROP;
	if (name_is(target, "rpz-tcp-only."))
		return VG_ACT_TCP_ONLY;
	if (rpz_tld(target)) {
		*why = "CNAME to an unknown rpz- action";
		return VG_EINVAL;
	}
	if (r->trigger == VG_TRIG_QNAME && !r->wildcard && vg_name_eq(target, r->name))
		return VG_ACT_PASSTHRU; /* the deprecated "CNAME to itself" form (draft §10) */
	return VG_ACT_LOCAL;
}

/* Is @p name at or below @p apex? */
static bool name_under(const uint8_t *name, const uint8_t *apex)
{
	int nl = vg_name_labels(name), al = vg_name_labels(apex);
	return nl >= al && al >= 0 && vg_name_eq(vg_name_suffix(name, al), apex);
}

static const char *type_str(uint16_t type, char *buf, size_t cap)
{
	char *t = ldns_rr_type2str((ldns_rr_type)type);
	snprintf(buf, cap, "%s", t ? t : "?");
	free(t);
	return buf;
}

/* The length of the uncompressed wire name at @p p (at most @p max bytes), or 0. */
static size_t wire_name_len(const uint8_t *p, size_t max)
{
	size_t i = 0;
	while (i < max && p[i]) {
		if (p[i] > 63)
			return 0;
		i += (size_t)p[i] + 1;
	}
	return i < max && i + 1 <= VG_NAME_MAX ? i + 1 : 0;
}

/* One record, whichever parser read it.  <0 stops the reading. */
static int record(struct reader *rd, const uint8_t *owner, uint16_t type, uint32_t ttl,
		  const uint8_t *rdata, size_t rdlen, unsigned at)
{
	struct vg_rpz_ctx *c = rd->c;
	char tb[32];
	if (!rd->have_soa) {
		/* the first record must be the apex SOA: it names the zone */
		if (type != VG_T_SOA) {
			report(c, at, "%s", "the first record must be the zone's SOA");
			return VG_EPARSE;
		}
		size_t n1 = wire_name_len(rdata, rdlen);
		size_t n2 = n1 ? wire_name_len(rdata + n1, rdlen - n1) : 0;
		if (!n2 || n1 + n2 + 20 != rdlen || rdlen > sizeof(c->soa)) {
			report(c, at, "%s", "malformed SOA record");
			return VG_EPARSE;
		}
		if (rd->have_zone && !vg_name_eq(owner, rd->zone))
			return fail(c, at, "the zone's SOA is owned by %s, but its source's 'zone' "
				    "is %s: they must agree", owner, rd->zone);
		rd->have_soa = true;
		memcpy(c->origin, owner, vg_name_len(owner));
		c->serial = vg_get32(rdata + n1 + n2);
		c->soa_ttl = ttl;
		c->soa_len = (uint16_t)rdlen;
		memcpy(c->soa, rdata, rdlen);
		return 0;
	}
	bool apex = vg_name_eq(owner, c->origin);
	if (apex && (type == VG_T_NS || type == VG_T_SOA))
		return 0; /* zone infrastructure, not policy */
	if (apex) {
		report(c, at, "%s", "a record at the zone apex cannot be policy");
		return 0;
	}
	if (type == VG_T_SOA || type == VG_T_NS || type == VG_T_DNAME || type == VG_T_RRSIG ||
	    type == VG_T_NSEC || type == VG_T_NSEC3 || type == 51 /* NSEC3PARAM */ ||
	    type == VG_T_DNSKEY || type == VG_T_DS) {
		report(c, at, "%s records cannot be policy (RPZ forbids them)",
		       type_str(type, tb, sizeof(tb)));
		return 0;
	}
	if (!name_under(owner, c->origin)) {
		report(c, at, "%s", "owner name outside the policy zone");
		return 0;
	}
	struct vg_pol_rule r;
	const char *why = NULL;
	memset(&r, 0, sizeof(r));
	int o = vg_rpz_owner(owner, c->origin, &r, &why);
	if (o == VG_ENOTSUP) {
		c->ignored++; /* an unknown higher-format trigger: harmless */
		return 0;
	}
	if (o < 0) {
		report(c, at, "invalid trigger: %s", why ? why : "malformed owner name");
		return 0;
	}
	if (rdlen > UINT16_MAX) {
		report(c, at, "%s", "record too long");
		return 0;
	}
	uint8_t target[VG_NAME_MAX]; /* (outlives the branch: r.ldata may point to it) */
	if (type == VG_T_CNAME) {
		size_t tl = wire_name_len(rdata, rdlen);
		if (!tl || tl != rdlen) {
			report(c, at, "%s", "bad CNAME target");
			return 0;
		}
		memcpy(target, rdata, tl);
		vg_name_lower(target);
		int a = cname_action(&r, target, &why);
		if (a < 0) {
			report(c, at, "%s", why);
			return 0;
		}
		r.action = (enum vg_pol_action)a;
		if (a == VG_ACT_LOCAL || a == VG_ACT_GARDEN) {
			r.ltype = VG_T_CNAME;
			r.ldata = target;
			r.ldata_len = (uint16_t)tl;
			r.lttl = ttl;
		}
	} else {
		r.action = VG_ACT_LOCAL;
		r.ltype = type;
		r.ldata = rdata;
		r.ldata_len = (uint16_t)rdlen;
		r.lttl = ttl;
	}
	r.line = at;
	int e = c->emit(c->arg, &r);
	if (e < 0)
		return e;
	c->rules++;
	return 0;
}

/* ------------------------------------------------------------ ldns: any record */

static int slow_record(struct reader *rd, const char *text, unsigned at)
{
	struct vg_rpz_ctx *c = rd->c;
	ldns_rdf *origin = NULL, *prev = NULL;
	ldns_rr *rr = NULL;
	ldns_buffer *b = NULL;
	int ret = 0;
	if (rd->have_origin &&
	    !(origin = ldns_dname_new_frm_data((uint16_t)vg_name_len(rd->origin), rd->origin)))
		return VG_ENOMEM;
	if (rd->have_prev &&
	    !(prev = ldns_dname_new_frm_data((uint16_t)vg_name_len(rd->prev), rd->prev))) {
		ldns_rdf_deep_free(origin);
		return VG_ENOMEM;
	}
	ldns_status st = ldns_rr_new_frm_str(&rr, text, rd->ttl, origin, &prev);
	if (st != LDNS_STATUS_OK) {
		report(c, at, "%s", ldns_get_errorstr_by_id(st));
		goto out;
	}
	const ldns_rdf *own = ldns_rr_owner(rr);
	if (!own || ldns_rdf_get_type(own) != LDNS_RDF_TYPE_DNAME ||
	    ldns_rdf_size(own) > VG_NAME_MAX) {
		report(c, at, "%s", "bad owner name");
		goto out;
	}
	uint8_t owner[VG_NAME_MAX];
	memcpy(owner, ldns_rdf_data(own), ldns_rdf_size(own));
	vg_name_lower(owner);
	memcpy(rd->prev, owner, vg_name_len(owner));
	rd->have_prev = true;
	b = ldns_buffer_new(512);
	if (!b) {
		ret = VG_ENOMEM;
		goto out;
	}
	if (ldns_rr_rdata2buffer_wire(b, rr) != LDNS_STATUS_OK) {
		report(c, at, "%s", "bad record data");
		goto out;
	}
	ret = record(rd, owner, (uint16_t)ldns_rr_get_type(rr), ldns_rr_ttl(rr),
		     ldns_buffer_begin(b), ldns_buffer_position(b), at);
out:
	ldns_buffer_free(b);
	ldns_rr_free(rr);
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	return ret;
}

/* ------------------------------------------------------------ the fast path */

/* A name token (no escapes) into lower-case wire form; 0 or -1. */
static int parse_name(const struct reader *rd, const char *s, size_t n, uint8_t *out)
{
	if (n == 1 && s[0] == '@') {
		if (!rd->have_origin)
			return -1;
		memcpy(out, rd->origin, vg_name_len(rd->origin));
		return 0;
	}
	if (n == 1 && s[0] == '.') {
		out[0] = 0;
		return 0;
	}
	size_t o = 0, i = 0;
	bool abs = false;
	while (i < n) {
		size_t j = i;
		while (j < n && s[j] != '.')
			j++;
		size_t l = j - i;
		if (l == 0 || l > 63 || o + l + 1 >= VG_NAME_MAX)
			return -1;
		out[o++] = (uint8_t)l;
		for (size_t k = i; k < j; k++)
			out[o++] = (uint8_t)tolower((unsigned char)s[k]);
		if (j == n)
			break;
		i = j + 1;
		if (i == n)
			abs = true;
	}
	if (abs) {
		out[o] = 0;
		return 0;
	}
	if (!rd->have_origin)
		return -1;
	size_t ol = vg_name_len(rd->origin);
	if (o + ol > VG_NAME_MAX)
		return -1;
	memcpy(out + o, rd->origin, ol);
	return 0;
}

static bool all_digits(const char *s, size_t n)
{
	if (!n || n > 10)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static uint32_t to_u32(const char *s, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	return v > INT32_MAX ? INT32_MAX : (uint32_t)v;
}

#define MAXTOK 8

/*
 * A one-line record without quotes, parentheses or escapes.  1 when it was
 * handled (read, or reported), 0 when ldns should read it, <0 to stop.
 */
static int fast_record(struct reader *rd, char *line, size_t len, unsigned at)
{
	const char *tok[MAXTOK];
	size_t tl[MAXTOK];
	unsigned nt = 0;
	bool blank_owner = line[0] == ' ' || line[0] == '\t';
	for (size_t i = 0; i < len;) {
		while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
			i++;
		if (i == len)
			break;
		if (nt == MAXTOK)
			return 0;
		size_t j = i;
		while (j < len && line[j] != ' ' && line[j] != '\t' && line[j] != '\r')
			j++;
		tok[nt] = line + i;
		tl[nt++] = j - i;
		i = j;
	}
	if (!rd->have_soa || nt < 2)
		return 0;
	unsigned k = 0;
	uint8_t owner[VG_NAME_MAX];
	if (blank_owner) {
		if (!rd->have_prev)
			return 0;
		memcpy(owner, rd->prev, vg_name_len(rd->prev));
	} else if (parse_name(rd, tok[k++], tl[0], owner) < 0) {
		return 0; /* let ldns say what is wrong with it */
	}
	uint32_t ttl = rd->ttl;
	for (int n = 0; n < 2 && k < nt; n++) {
		if (all_digits(tok[k], tl[k])) {
			ttl = to_u32(tok[k], tl[k]);
			k++;
		}
		else if (tl[k] == 2 && strncasecmp(tok[k], "IN", 2) == 0)
			k++;
		else
			break;
	}
	if (k + 2 != nt)
		return 0;
	const char *ty = tok[k], *val = tok[k + 1];
	size_t tyl = tl[k], vl = tl[k + 1];
	uint8_t rdata[VG_NAME_MAX];
	uint16_t type;
	size_t rdlen;
	if (tyl == 5 && strncasecmp(ty, "CNAME", 5) == 0) {
		if (parse_name(rd, val, vl, rdata) < 0)
			return 0;
		type = VG_T_CNAME;
		rdlen = vg_name_len(rdata);
	} else if ((tyl == 1 && (ty[0] == 'A' || ty[0] == 'a')) ||
		   (tyl == 4 && strncasecmp(ty, "AAAA", 4) == 0)) {
		char a[64];
		if (vl >= sizeof(a))
			return 0;
		memcpy(a, val, vl);
		a[vl] = 0;
		type = tyl == 1 ? VG_T_A : VG_T_AAAA;
		if (inet_pton(tyl == 1 ? AF_INET : AF_INET6, a, rdata) != 1)
			return 0;
		rdlen = tyl == 1 ? 4 : 16;
	} else {
		return 0;
	}
	memcpy(rd->prev, owner, vg_name_len(owner));
	rd->have_prev = true;
	int r = record(rd, owner, type, ttl, rdata, rdlen, at);
	return r < 0 ? r : 1;
}

/* ------------------------------------------------------------ lines */

/* A $ directive; <0 when the file cannot be used. */
static int directive(struct reader *rd, char *line, size_t len, unsigned at)
{
	struct vg_rpz_ctx *c = rd->c;
	size_t i = 0;
	while (i < len && !isspace((unsigned char)line[i]))
		i++;
	size_t kl = i;
	while (i < len && isspace((unsigned char)line[i]))
		i++;
	size_t j = i;
	while (j < len && !isspace((unsigned char)line[j]))
		j++;
	const char *arg = line + i;
	size_t al = j - i;
	if (kl == 4 && strncasecmp(line, "$TTL", 4) == 0) {
		if (!all_digits(arg, al)) {
			/* units ("1h"): ldns knows them */
			char tmp[32];
			if (al == 0 || al >= sizeof(tmp)) {
				report(c, at, "%s", "bad $TTL");
				return 0;
			}
			memcpy(tmp, arg, al);
			tmp[al] = 0;
			const char *end = NULL;
			uint32_t v = ldns_str2period(tmp, &end);
			if (!end || *end) {
				report(c, at, "%s", "bad $TTL");
				return 0;
			}
			rd->ttl = v;
		} else {
			rd->ttl = to_u32(arg, al);
		}
		return 0;
	}
	if (kl == 7 && strncasecmp(line, "$ORIGIN", 7) == 0) {
		uint8_t n[VG_NAME_MAX];
		if (!al || memchr(arg, '\\', al) || parse_name(rd, arg, al, n) < 0) {
			report(c, at, "%s", "bad $ORIGIN");
			return 0;
		}
		/* before the SOA, $ORIGIN names the zone: the configuration must agree */
		if (!rd->have_soa && rd->have_zone && !vg_name_eq(n, rd->zone))
			return fail(c, at, "$ORIGIN %s before the SOA, but its source's 'zone' is "
				    "%s: they must agree", n, rd->zone);
		memcpy(rd->origin, n, vg_name_len(n));
		rd->have_origin = true;
		return 0;
	}
	if (kl == 8 && strncasecmp(line, "$INCLUDE", 8) == 0) {
		report(c, at, "%s", "$INCLUDE is not supported");
		return 0;
	}
	report(c, at, "%s", "unknown directive");
	return 0;
}

/*
 * Strip a comment (";" outside quotes) and find what the fast path cannot
 * take.  Returns the new length; *@p depth is updated by the parentheses.
 */
static size_t scan(char *line, size_t len, int *depth, bool *plain)
{
	bool q = false;
	*plain = true;
	for (size_t i = 0; i < len; i++) {
		char ch = line[i];
		if (ch == '\\') {
			*plain = false;
			i++;
		} else if (ch == '"') {
			q = !q;
			*plain = false;
		} else if (!q && ch == ';') {
			len = i;
			break;
		} else if (!q && (ch == '(' || ch == ')')) {
			*depth += ch == '(' ? 1 : -1;
			*plain = false;
		}
	}
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
		       line[len - 1] == '\t'))
		len--;
	line[len] = 0;
	return len;
}

static int acc_add(struct reader *rd, const char *s, size_t n)
{
	if (rd->acc_len + n + 2 > 1 << 20)
		return VG_EPARSE; /* one record's text: a bound, not a memory problem */
	if (vg_grow((void **)&rd->acc, &rd->acc_cap, rd->acc_len + n + 2, 1, 1024) < 0)
		return VG_ENOMEM;
	memcpy(rd->acc + rd->acc_len, s, n);
	rd->acc_len += n;
	rd->acc[rd->acc_len++] = ' ';
	rd->acc[rd->acc_len] = 0;
	return 0;
}

int vg_rpz_load(FILE *f, struct vg_rpz_ctx *c)
{
	struct reader rd = { .c = c, .ttl = 3600 };
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	unsigned lineno = 0;
	int ret = 0;

	if (c->origin_set) {
		memcpy(rd.origin, c->origin, vg_name_len(c->origin));
		rd.have_origin = true;
		memcpy(rd.zone, c->origin, vg_name_len(c->origin));
		rd.have_zone = true;
	}
	while ((got = getline(&line, &cap, f)) >= 0) {
		lineno++;
		bool plain;
		if (rd.depth > 0) {
			size_t n = scan(line, (size_t)got, &rd.depth, &plain);
			int e = acc_add(&rd, line, n);
			if (e < 0) {
				report(c, rd.acc_line, "%s", "record too long (unbalanced parentheses?)");
				rd.depth = 0;
				rd.acc_len = 0;
				if (e == VG_ENOMEM) {
					ret = e;
					break;
				}
				continue;
			}
			if (rd.depth > 0)
				continue;
			rd.depth = 0;
			ret = slow_record(&rd, rd.acc, rd.acc_line);
			rd.acc_len = 0;
			if (ret < 0)
				break;
			continue;
		}
		size_t n = scan(line, (size_t)got, &rd.depth, &plain);
		if (rd.depth < 0) {
			report(c, lineno, "%s", "unbalanced ')'");
			rd.depth = 0;
			continue;
		}
		size_t i = 0;
		while (i < n && isspace((unsigned char)line[i]))
			i++;
		if (i == n) {
			rd.depth = 0;
			continue; /* blank or comment */
		}
		if (line[0] == '$') {
			if ((ret = directive(&rd, line, n, lineno)) < 0)
				break;
			continue;
		}
		if (!rd.have_soa && !rd.have_origin) {
			/* relative names would silently become names under the root, and
			 * so would the policy zone (its SOA in rewritten answers) */
			c->errors++;
			if (c->errout)
				fprintf(c->errout, "%s:%u: no $ORIGIN before the zone's first "
					"record, and no 'zone' in its source's configuration: the "
					"policy zone's name is unknown\n", c->path, lineno);
			ret = VG_EPARSE;
			break;
		}
		if (rd.depth > 0) {
			rd.acc_line = lineno;
			rd.acc_len = 0;
			if ((ret = acc_add(&rd, line, n)) < 0)
				break;
			continue;
		}
		int r = plain ? fast_record(&rd, line, n, lineno) : 0;
		if (r == 0)
			r = slow_record(&rd, line, lineno);
		if (r < 0) {
			ret = r;
			break;
		}
	}
	if (ret == 0 && rd.depth > 0)
		report(c, rd.acc_line, "%s", "unbalanced '(': the record never ends");
	free(line);
	free(rd.acc);
	if (ret == 0 && !rd.have_soa) {
		report(c, lineno ? lineno : 1, "%s", "no SOA record: not a zone");
		ret = VG_EPARSE;
	}
	if (ret == 0 && ferror(f)) {
		report(c, lineno, "%s", "read error");
		ret = VG_EPARSE;
	}
	return ret;
}
