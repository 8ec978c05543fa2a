/* SPDX-License-Identifier: MIT
 *
 * Blocklists people already have, read into the same rules as RPZ zones:
 *
 *   hosts     "0.0.0.0 name [name ...]" (any address: the names are what
 *             count), '#' comments; the usual local names are skipped
 *   domains   one domain per line, '#' comments
 *   adblock   "||example.com^" blocks, "@@||example.com^" allows; '!' and
 *             '[' lines are comments; rules that are not whole domains
 *             (paths, wildcards inside, cosmetic rules) are skipped and
 *             counted, not errors
 *
 * Every entry covers the name and everything below it: it becomes an exact
 * and a wildcard QNAME rule.  Bad lines are reported as FILE:LINE and
 * skipped; a list never stops loading for one bad line.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "policy/lists.h"

#define LINE_MAX_LEN 4096

static const char *const local_names[] = {
	"localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost",
	"ip6-loopback", "ip6-localnet", "ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters",
	"ip6-allhosts", "0.0.0.0",
};

static bool is_local_name(const char *s)
{
	for (size_t i = 0; i < sizeof(local_names) / sizeof(local_names[0]); i++)
		if (!strcasecmp(s, local_names[i]))
			return true;
	return false;
}

/* A domain as lists write it: letters, digits, '-', '_' and dots, no empty label. */
static bool plausible_domain(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (!n || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (!label && i + 1 != n)
				return false; /* empty label (a single trailing dot is fine) */
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

static int emit_domain(struct vg_pol_list_ctx *c, const char *dom, bool allow, unsigned line)
{
	struct vg_pol_rule r;
	memset(&r, 0, sizeof(r));
	if (!plausible_domain(dom) || vg_name_from_str(dom, r.name, sizeof(r.name)) <= 0 ||
	    r.name[0] == 0) {
		if (c->errout)
			fprintf(c->errout, "%s:%u: not a domain name: '%s' (line skipped)\n",
				c->path, line, dom);
		c->errors++;
		return 0;
	}
	vg_name_lower(r.name);
	r.trigger = VG_TRIG_QNAME;
	r.action = c->action;
	r.allow = allow;
	r.line = line;
	int ret = c->emit(c->arg, &r);
	if (ret < 0)
		return ret;
	r.wildcard = true;
	ret = c->emit(c->arg, &r);
	if (ret < 0)
		return ret;
	c->entries++;
	return 0;
}

/* hosts: address, then names; stop at '#'. */
static int hosts_line(struct vg_pol_list_ctx *c, char *s, unsigned line)
{
	char *save = NULL, *tok = strtok_r(s, " \t", &save);
	if (!tok)
		return 0;
	bool addr = strchr(tok, '.') || strchr(tok, ':');
	if (!addr || !strpbrk(tok, "0123456789")) {
		if (c->errout)
			fprintf(c->errout, "%s:%u: expected 'ADDRESS NAME...', got '%s' (line skipped)\n",
				c->path, line, tok);
		c->errors++;
		return 0;
	}
	bool any = false;
	while ((tok = strtok_r(NULL, " \t", &save))) {
		any = true;
		if (is_local_name(tok))
			continue;
		int r = emit_domain(c, tok, false, line);
		if (r < 0)
			return r;
	}
	if (!any) {
		if (c->errout)
			fprintf(c->errout, "%s:%u: an address without a name (line skipped)\n", c->path,
				line);
		c->errors++;
	}
	return 0;
}

static int domains_line(struct vg_pol_list_ctx *c, char *s, unsigned line)
{
	char *save = NULL, *tok = strtok_r(s, " \t", &save);
	if (!tok)
		return 0;
	if (strtok_r(NULL, " \t", &save)) {
		if (c->errout)
			fprintf(c->errout, "%s:%u: one domain per line expected (line skipped)\n",
				c->path, line);
		c->errors++;
		return 0;
	}
	if (!strncmp(tok, "*.", 2))
		tok += 2; /* "*.example.com": the entry covers subdomains anyway */
	return emit_domain(c, tok, false, line);
}

static int adblock_line(struct vg_pol_list_ctx *c, char *s, unsigned line)
{
	if (*s == '!' || *s == '[' || *s == '#')
		return 0; /* comment or header */
	bool allow = !strncmp(s, "@@", 2);
	if (allow)
		s += 2;
	if (strncmp(s, "||", 2)) {
		c->skipped++; /* not a domain rule */
		return 0;
	}
	s += 2;
	char *end = strchr(s, '^');
	if (!end) {
		c->skipped++;
		return 0;
	}
	*end = 0;
	const char *opts = end + 1;
	/* "$important" and similar keep the rule a whole-domain rule; anything
	 * that narrows it (third-party, script, domain=...) makes it no longer one */
	if (*opts == '$') {
		if (strcmp(opts, "$important") && strcmp(opts, "$all") && strcmp(opts, "$document")) {
			c->skipped++;
			return 0;
		}
	} else if (*opts && *opts != '|') {
		c->skipped++;
		return 0;
	}
	if (strpbrk(s, "*/:?=&")) {
		c->skipped++; /* a pattern, not a domain */
		return 0;
	}
	return emit_domain(c, s, allow, line);
}

int vg_pol_list_parse(FILE *f, struct vg_pol_list_ctx *c)
{
	char buf[LINE_MAX_LEN + 2];
	unsigned line = 0;
	while (fgets(buf, sizeof(buf), f)) {
		line++;
		size_t n = strlen(buf);
		if (n && buf[n - 1] != '\n' && !feof(f)) {
			/* an overlong line: report it and skip the rest of it */
			if (c->errout)
				fprintf(c->errout, "%s:%u: line longer than %d bytes (skipped)\n", c->path,
					line, LINE_MAX_LEN);
			c->errors++;
			int ch;
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			continue;
		}
		while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
			     buf[n - 1] == '\t'))
			buf[--n] = 0;
		if (memchr(buf, 0, n)) {
			if (c->errout)
				fprintf(c->errout, "%s:%u: NUL byte in line (skipped)\n", c->path, line);
			c->errors++;
			continue;
		}
		char *s = buf;
		while (*s == ' ' || *s == '\t')
			s++;
		if (c->format != VG_LIST_ADBLOCK) {
			char *hash = strchr(s, '#');
			if (hash)
				*hash = 0;
		}
		if (!*s)
			continue;
		int r;
		switch (c->format) {
		case VG_LIST_HOSTS: r = hosts_line(c, s, line); break;
		case VG_LIST_DOMAINS: r = domains_line(c, s, line); break;
		default: r = adblock_line(c, s, line); break;
		}
		if (r < 0)
			return r;
	}
	return ferror(f) ? -EIO : 0;
}

int vg_pol_list_format(const char *name)
{
	if (!strcmp(name, "hosts"))
		return VG_LIST_HOSTS;
	if (!strcmp(name, "domains"))
		return VG_LIST_DOMAINS;
	if (!strcmp(name, "adblock"))
		return VG_LIST_ADBLOCK;
	return VG_EINVAL;
}
