/* SPDX-License-Identifier: MIT
 *
 * Fuzz harness: the policy loaders (src/policy): an RPZ zone file
 * (rpzload.c, vg_rpz_load) and the block lists (lists.c, vg_pol_list_parse:
 * hosts, domains, adblock), read from a buffer, and with input byte 0's bit
 * 0x10 the whole policy load (engine.c, vg_policy_load from a temporary
 * file: the rules compiled into a snapshot) of the same text.
 *
 * Input: byte 0: low two bits the format (0 RPZ, 1 hosts, 2 domains,
 * 3 adblock), 0x04 the RPZ has a configured zone name ("fuzz.rpz."),
 * 0x10 the full load too; the rest is the file.
 *
 * Checked: every rule a loader hands over has a valid name (vg_name_check)
 * and the loader's counts agree with what it emitted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/engine.h"
#include "policy/lists.h"
#include "policy/rpzload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned emitted;
static FILE *devnull; /* vg_policy_load's errout may not be NULL */

static int emit(void *arg, const struct vg_pol_rule *r)
{
	(void)arg;
	if ((r->trigger == VG_TRIG_QNAME || r->trigger == VG_TRIG_NSDNAME) &&
	    vg_name_check(r->name, VG_NAME_MAX) < 0)
		__builtin_trap();
	emitted++;
	return 0;
}

static void full_load(const uint8_t *text, size_t len, unsigned fmt)
{
	if (!devnull)
		return;
	static struct vg_policy_opts po;
	static const enum vg_policy_source_type types[4] = {
		VG_PSRC_RPZ, VG_PSRC_HOSTS, VG_PSRC_DOMAINS, VG_PSRC_ADBLOCK };
	char path[] = "/tmp/vg-fuzz-rpz-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		goto out;
	}
	fwrite(text, 1, len, f);
	if (fclose(f))
		goto out;
	memset(&po, 0, sizeof(po));
	po.min_ns_dots = VG_POLICY_MIN_NS_DOTS_DEFAULT;
	struct vg_policy_source *s = &po.sources[0];
	snprintf(s->name, sizeof(s->name), "fuzz");
	snprintf(s->file, sizeof(s->file), "%s", path);
	s->type = types[fmt];
	s->ede = 15;
	s->recursive_only = true;
	po.n_sources = 1;
	struct vg_policy_group *g = &po.groups[0];
	snprintf(g->name, sizeof(g->name), "all");
	vg_prefix_parse("0.0.0.0/0", &g->clients[0]);
	g->n_clients = 1;
	g->n_sources = 1;
	po.n_groups = 1;
	struct vg_policy *p = NULL;
	if (vg_policy_load(&p, &po, NULL, devnull) == 0)
		vg_policy_free(p);
out:
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		vg_log_setup(VG_LOG_ERR - 1, false);
		devnull = fopen("/dev/null", "w");
		ready = true;
	}
	if (size < 1)
		return 0;
	unsigned fmt = data[0] & 3;
	const uint8_t *text = data + 1;
	size_t len = size - 1;
	/* fmemopen of a zero-length buffer fails; a copy keeps the input read-only */
	char *buf = malloc(len + 1);
	if (!buf)
		return 0;
	memcpy(buf, text, len);
	buf[len] = 0;
	FILE *f = fmemopen(buf, len ? len : 1, "r");
	if (!f)
		goto out;
	emitted = 0;
	if (fmt == 0) {
		struct vg_rpz_ctx c;
		memset(&c, 0, sizeof(c));
		c.path = "fuzz.rpz";
		c.emit = emit;
		if (data[0] & 4) {
			vg_name_from_str("fuzz.rpz.", c.origin, sizeof(c.origin));
			c.origin_set = true;
		}
		if (vg_rpz_load(f, &c) == 0 && c.rules > emitted)
			__builtin_trap();
	} else {
		static const enum vg_pol_list_fmt lf[4] = { 0, VG_LIST_HOSTS, VG_LIST_DOMAINS,
							    VG_LIST_ADBLOCK };
		struct vg_pol_list_ctx c;
		memset(&c, 0, sizeof(c));
		c.path = "fuzz.list";
		c.format = lf[fmt];
		c.action = VG_ACT_NXDOMAIN;
		c.emit = emit;
		vg_pol_list_parse(f, &c);
	}
	fclose(f);
	if (data[0] & 0x10)
		full_load(text, len, fmt);
out:
	free(buf);
	return 0;
}
