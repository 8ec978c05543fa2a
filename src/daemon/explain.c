/* SPDX-License-Identifier: MIT
 *
 * `vigil explain NAME [--client ADDR] [--type T] [-c CONFIG]`: load the same
 * policy the daemon would, and say which rule in which source at which
 * FILE:LINE decides NAME for that client, or that none does.  Nothing is
 * sent anywhere; the decision is the one vigil makes before resolution (a
 * note says when rules only an answer can trigger may still apply).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/explain.h"
#include "policy/engine.h"

static const char *const action_names[] = {
	[VG_ACT_NXDOMAIN] = "NXDOMAIN", [VG_ACT_NODATA] = "NODATA",
	[VG_ACT_PASSTHRU] = "PASSTHRU (resolves normally)", [VG_ACT_DROP] = "DROP (no answer)",
	[VG_ACT_TCP_ONLY] = "TCP-only (truncated over UDP)", [VG_ACT_LOCAL] = "local data",
	[VG_ACT_GARDEN] = "walled garden", [VG_ACT_NULL_ADDR] = "null address (0.0.0.0 / ::)",
};

static const char *const trigger_names[] = {
	[VG_TRIG_CLIENT_IP] = "CLIENT-IP", [VG_TRIG_QNAME] = "QNAME", [VG_TRIG_RESP_IP] = "RESPONSE-IP",
	[VG_TRIG_NSDNAME] = "NSDNAME", [VG_TRIG_NSIP] = "NSIP",
};

static void explain_usage(FILE *out)
{
	fputs("usage: vigil explain NAME [--client ADDR] [--type TYPE] [-c FILE]\n"
	      "    Print which policy rule (source, FILE:LINE) decides NAME for a client\n"
	      "    (default 127.0.0.1), using the config FILE (default: built-in defaults).\n",
	      out);
}

int vg_explain_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "client", required_argument, NULL, 'a' },
		{ "type", required_argument, NULL, 'T' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *client = "127.0.0.1", *type = "A", *config = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "a:T:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': client = optarg; break;
		case 'T': type = optarg; break;
		case 'c': config = optarg; break;
		case 'h': explain_usage(stdout); return 0;
		default: explain_usage(stderr); return 2;
		}
	}
	if (optind + 1 != argc) {
		explain_usage(stderr);
		return 2;
	}
	const char *name = argv[optind];
	uint8_t qname[VG_NAME_MAX];
	if (vg_name_from_str(name, qname, sizeof(qname)) <= 0) {
		fprintf(stderr, "vigil explain: '%s' is not a domain name\n", name);
		return 2;
	}
	vg_name_lower(qname);
	struct vg_sockaddr sa;
	if (vg_sockaddr_parse(client, 0, &sa) < 0) {
		fprintf(stderr, "vigil explain: '%s' is not an IPv4 or IPv6 address\n", client);
		return 2;
	}
	int qtype = vg_type_from_str(type);
	char tn[16];
	if (qtype < 0) {
		fprintf(stderr, "vigil explain: '%s' is not a record type (A, AAAA, TYPE65, ...)\n",
			type);
		return 2;
	}
	type = vg_type_to_str((uint16_t)qtype, tn, sizeof(tn));

	struct vg_config *cfg = malloc(sizeof(*cfg));
	struct vg_policy *pol = NULL;
	int ret = 1;
	if (!cfg)
		return 1;
	if (config ? vg_config_load(cfg, config, stderr) < 0 : (vg_config_defaults(cfg), 0)) {
		fprintf(stderr, "vigil explain: %s: configuration is NOT valid\n", config);
		goto out;
	}
	if (vg_policy_load(&pol, &cfg->policy, NULL, stderr) < 0) {
		fprintf(stderr, "vigil explain: the policy could not be loaded (above)\n");
		goto out;
	}
	char nm[VG_NAME_MAX * 4 + 8];
	vg_name_to_str(qname, nm, sizeof(nm));
	struct vg_policy_decision d;
	int rewrite = vg_policy_check(pol, &sa.u.sa, qname, &d);
	enum vg_pol_action given = d.action;
	const uint8_t *ocname = NULL;
	if (d.matched && !d.denied_by_allowlist) {
		vg_policy_override(pol, &d, &ocname); /* as the worker applies it */
		rewrite = d.rewrite;
	}
	printf("%s %s from client %s", nm, type, client);
	if (!d.group) {
		printf(": no client group matches this client, so no policy applies\n");
	} else if (!d.matched && !rewrite) {
		printf(" (group %s): no rule matches; it resolves normally\n", d.group);
	} else if (d.denied_by_allowlist) {
		printf(" (group %s, allowlist mode): no allow rule matches, so it is denied: "
		       "NXDOMAIN, EDE 15\n", d.group);
	} else {
		const struct vg_policy_source *cs = &cfg->policy.sources[d.source];
		char text[300];
		vg_policy_describe(pol, &d, qname, text, sizeof(text));
		printf(" (group %s):\n  decided by source '%s' (%s), %s rule at %s:%u\n"
		       "  rule: %s\n  action: %s", d.group, cs->name,
		       cs->type == VG_PSRC_RPZ ? "RPZ zone" : "list", trigger_names[d.trigger],
		       cs->file, d.line, text + strlen("vigil: ") + strlen(cs->name) + strlen(" rule "),
		       action_names[d.action]);
		if (d.action != given) {
			char on[VG_NAME_MAX * 4 + 8] = "";
			if (ocname)
				vg_name_to_str(ocname, on, sizeof(on));
			printf(" (the source's override; the rule says %s%s%s)", action_names[given],
			       ocname ? ", answered with a CNAME to " : "", on);
		}
		if (rewrite)
			printf(", EDE %u \"%s\"", pol->src[d.source].ede, text);
		printf("\n");
	}
	if (d.group && d.logonly.set)
		printf("  note: source '%s' has a rule at %s:%u too, but its override is "
		       "'disabled': that match is only logged\n", pol->src[d.logonly.source].name,
		       cfg->policy.sources[d.logonly.source].file, d.logonly.line);
	/* what only the answer decides (vg_policy_check_response) */
	if (d.group && d.defer && (d.matched || d.denied_by_allowlist))
		printf("  note: an earlier source has RESPONSE-IP, NSDNAME or NSIP rules; they are "
		       "decided at query time, on the answer, and take precedence if they match\n");
	else if (d.group && d.check_answer)
		printf("  note: RESPONSE-IP, NSDNAME and NSIP rules, and rules on the names a "
		       "CNAME chain leads to, are decided at query time, on the answer\n");
	ret = 0;
out:
	vg_policy_free(pol);
	free(cfg);
	return ret;
}
