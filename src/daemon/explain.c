/* SPDX-License-Identifier: MIT
 *
 * `vigil explain NAME [--client ADDR] [--client-id ID] [--client-cert CERT]
 * [--transport T] [--type T] [-c CONFIG]`: load the same policy the daemon
 * would, and say which client group applies and why (an identity the group
 * names, or the address), and which rule in which source at which
 * FILE:LINE decides NAME for that client, or that none does.  Nothing is
 * sent anywhere; the decision is the one vigil makes before resolution (a
 * note says when rules only an answer can trigger may still apply).
 */
#include <getopt.h>
#include <stdio.h>
#include <strings.h>
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

/* "  group G: chosen by ..." -- which identity or address selected the group */
static void print_why(FILE *out, const struct vg_policy *pol, const struct vg_policy_decision *d,
		      const struct vg_sockaddr *sa, const struct vg_policy_ident *id)
{
	const struct vg_policy_group *g = &pol->groups[d->gidx];
	char pfx[INET6_ADDRSTRLEN + 8];
	int k;

	fprintf(out, ":\n  group %s: ", d->group);
	switch (d->by) {
	case VG_POL_BY_CERT_FP:
		fprintf(out, "chosen by the client certificate %s (client-certs; an identity the "
		       "group names wins over addresses)", id->cert_fp);
		break;
	case VG_POL_BY_CERT_SUBJECT:
		fprintf(out, "chosen by the client certificate's subject %s (client-certs; an "
		       "identity the group names wins over addresses)", id->cert_subject);
		break;
	case VG_POL_BY_ID:
		fprintf(out, "chosen by the client ID %s (client-ids; an identity the group names "
		       "wins over addresses)", id->id);
		break;
	default:
		k = vg_prefix_longest(g->clients, g->n_clients, sizeof(g->clients[0]),
				      &sa->u.sa);
		fprintf(out, "chosen by the client's address (clients: %s, the longest matching "
		       "prefix of all groups)",
		       k >= 0 ? vg_prefix_str(&g->clients[k], pfx, sizeof(pfx)) : "?");
		if (id->id || id->cert_fp || id->cert_subject)
			fprintf(out, "; no group names this client's identity");
		break;
	}
	fprintf(out, "\n");
}

static void explain_usage(FILE *out)
{
	fputs("usage: vigil explain NAME [--client ADDR] [--client-id ID]\n"
	      "                     [--client-cert sha256:HEX|subject:DN]\n"
	      "                     [--transport udp|tcp|dot|doh] [--type TYPE] [-c FILE]\n"
	      "    Print which client group applies and why, and which policy rule\n"
	      "    (source, FILE:LINE) decides NAME for a client (default 127.0.0.1 over\n"
	      "    udp), using the config FILE (default: built-in defaults).  --client-id\n"
	      "    and --client-cert describe a client of DNS-over-TLS or -HTTPS (the\n"
	      "    transport defaults to dot then).\n",
	      out);
}

int vg_explain_parse(int argc, char **argv, struct vg_explain_req *q, FILE *err)
{
	static const struct option opts[] = {
		{ "client", required_argument, NULL, 'a' },
		{ "client-id", required_argument, NULL, 'i' },
		{ "client-cert", required_argument, NULL, 'C' },
		{ "transport", required_argument, NULL, 'P' },
		{ "type", required_argument, NULL, 'T' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *client = "127.0.0.1", *type = "A", *config = NULL, *transport = NULL;
	const char *client_id = NULL, *client_cert = NULL;
	int c;
	/* the daemon parses many requests (vigilctl explain): 0 resets glibc's
	 * getopt entirely (1 would keep its place inside an earlier request's
	 * option cluster, memory freed since); its messages would go to the
	 * daemon's stderr, explain_usage says what is wrong instead */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "a:T:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': client = optarg; break;
		case 'i': client_id = optarg; break;
		case 'C': client_cert = optarg; break;
		case 'P': transport = optarg; break;
		case 'T': type = optarg; break;
		case 'c': config = optarg; break;
		case 'h': return 1;
		default: explain_usage(err); return 2;
		}
	}
	if (optind + 1 != argc) {
		explain_usage(err);
		return 2;
	}
	const char *name = argv[optind];
	uint8_t qname[VG_NAME_MAX];
	if (vg_name_from_str(name, qname, sizeof(qname)) <= 0) {
		fprintf(err, "vigil explain: '%s' is not a domain name\n", name);
		return 2;
	}
	vg_name_lower(qname);
	struct vg_sockaddr sa;
	if (vg_sockaddr_parse(client, 0, &sa) < 0) {
		fprintf(err, "vigil explain: '%s' is not an IPv4 or IPv6 address\n", client);
		return 2;
	}
	int qtype = vg_type_from_str(type);
	char tn[16];
	if (qtype < 0) {
		fprintf(err, "vigil explain: '%s' is not a record type (A, AAAA, TYPE65, ...)\n",
			type);
		return 2;
	}
	type = vg_type_to_str((uint16_t)qtype, tn, sizeof(tn));
	/* the identity as a transport gives it to the pipeline: the ID
	 * lower-case, the fingerprint "sha256:" + lower-case hex */
	char idbuf[VG_POLICY_ID_MAX], fp[8 + 64];
	const char *subject = NULL, *cert_fp = NULL;
	if (client_id) {
		size_t k, len = strlen(client_id);
		for (k = 0; k < len && k < sizeof(idbuf) - 1; k++) {
			char ch = client_id[k];
			if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch - 'A' + 'a');
			if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
				break;
			idbuf[k] = ch;
		}
		if (!len || k != len) {
			fprintf(err, "vigil explain: '%s' is not a client ID (1..63 letters, "
				"digits and '-')\n", client_id);
			return 2;
		}
		idbuf[len] = 0;
	}
	if (client_cert && !strncasecmp(client_cert, "subject:", 8) && client_cert[8]) {
		subject = client_cert + 8;
	} else if (client_cert && !strncasecmp(client_cert, "sha256:", 7)) {
		size_t n = 0;
		memcpy(fp, "sha256:", 7);
		for (const char *p = client_cert + 7; *p && n <= 64; p++) {
			char ch = *p;
			if (ch == ':')
				continue;
			if (ch >= 'A' && ch <= 'F')
				ch = (char)(ch - 'A' + 'a');
			if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
				n = 65;
			else if (n < 64)
				fp[7 + n] = ch;
			n++;
		}
		if (n == 64) {
			fp[7 + 64] = 0;
			cert_fp = fp;
		}
	}
	if (client_cert && !subject && !cert_fp) {
		fprintf(err, "vigil explain: '%s' is not sha256:HEX (64 digits) or "
			"subject:DN\n", client_cert);
		return 2;
	}
	if (!transport)
		transport = client_id || client_cert ? "dot" : "udp";
	if (strcmp(transport, "udp") && strcmp(transport, "tcp") && strcmp(transport, "dot") &&
	    strcmp(transport, "doh")) {
		fprintf(err, "vigil explain: '%s' is not a transport (udp, tcp, dot, doh)\n",
			transport);
		return 2;
	}
	memset(q, 0, sizeof(*q));
	memcpy(q->qname, qname, vg_name_len(qname));
	q->sa = sa;
	snprintf(q->client, sizeof(q->client), "%s", client);
	snprintf(q->type, sizeof(q->type), "%s", type);
	snprintf(q->transport, sizeof(q->transport), "%s", transport);
	if (client_id)
		snprintf(q->id, sizeof(q->id), "%s", idbuf);
	if (cert_fp)
		snprintf(q->cert_fp, sizeof(q->cert_fp), "%s", cert_fp);
	if (subject)
		snprintf(q->subject, sizeof(q->subject), "%s", subject);
	q->config = config;
	return 0;
}

void vg_explain_write(FILE *out, const struct vg_config *cfg, const struct vg_policy *pol,
		      const struct vg_explain_req *q)
{
	const uint8_t *qname = q->qname;
	const struct vg_sockaddr sa = q->sa;
	const char *client = q->client, *type = q->type, *transport = q->transport;
	const char *client_id = q->id[0] ? q->id : NULL, *idbuf = q->id;
	const char *cert_fp = q->cert_fp[0] ? q->cert_fp : NULL;
	const char *subject = q->subject[0] ? q->subject : NULL;
	struct vg_policy_ident ident = { client_id, cert_fp, subject };
	bool has_ident = client_id || cert_fp || subject;
	char nm[VG_NAME_MAX * 4 + 8];
	vg_name_to_str(qname, nm, sizeof(nm));
	struct vg_policy_decision d;
	int rewrite = vg_policy_check_flags(pol, &sa.u.sa, has_ident ? &ident : NULL, qname, true,
					    false, &d);
	enum vg_pol_action given = d.action;
	const uint8_t *ocname = NULL;
	if (d.matched && !d.denied_by_allowlist) {
		vg_policy_override(pol, &d, &ocname); /* as the worker applies it */
		rewrite = d.rewrite;
	}
	fprintf(out, "%s %s from client %s (%s%s%s%s%s%s%s)", nm, type, client, transport,
	       client_id ? ", client ID " : "", client_id ? idbuf : "",
	       cert_fp ? ", certificate " : "", cert_fp ? cert_fp : "",
	       subject ? ", certificate subject " : "", subject ? subject : "");
	if (!d.group) {
		fprintf(out, ": no client group matches this client, so no policy applies\n");
	} else if (print_why(out, pol, &d, &sa, &ident), !d.matched && !rewrite) {
		fprintf(out, "  no rule matches; it resolves normally\n");
	} else if (d.denied_by_allowlist) {
		fprintf(out, "  allowlist mode: no allow rule matches, so it is denied: NXDOMAIN, "
		       "EDE 15\n");
	} else {
		const struct vg_policy_source *cs = &cfg->policy.sources[d.source];
		char text[300];
		vg_policy_describe(pol, &d, qname, text, sizeof(text));
		fprintf(out, "  decided by source '%s' (%s), %s rule at %s:%u\n"
		       "  rule: %s\n  action: %s", cs->name,
		       cs->type == VG_PSRC_RPZ ? "RPZ zone" : "list", trigger_names[d.trigger],
		       cs->file, d.line, text + strlen("vigil: ") + strlen(cs->name) + strlen(" rule "),
		       action_names[d.action]);
		if (d.action != given) {
			char on[VG_NAME_MAX * 4 + 8] = "";
			if (ocname)
				vg_name_to_str(ocname, on, sizeof(on));
			fprintf(out, " (the source's override; the rule says %s%s%s)", action_names[given],
			       ocname ? ", answered with a CNAME to " : "", on);
		}
		if (rewrite)
			fprintf(out, ", EDE %u \"%s\"", pol->src[d.source].ede, text);
		fprintf(out, "\n");
		if (d.action == VG_ACT_TCP_ONLY && strcmp(transport, "udp"))
			fprintf(out, "  note: over %s (a stream) a TCP-only rule answers normally\n",
			       transport);
	}
	if (d.group && d.logonly.set)
		fprintf(out, "  note: source '%s' has a rule at %s:%u too, but its override is "
		       "'disabled': that match is only logged\n", pol->src[d.logonly.source].name,
		       cfg->policy.sources[d.logonly.source].file, d.logonly.line);
	/* what only the answer decides (vg_policy_check_response) */
	if (d.group && d.defer && (d.matched || d.denied_by_allowlist))
		fprintf(out, "  note: an earlier source has RESPONSE-IP, NSDNAME or NSIP rules; they are "
		       "decided at query time, on the answer, and take precedence if they match\n");
	else if (d.group && d.check_answer)
		fprintf(out, "  note: RESPONSE-IP, NSDNAME and NSIP rules, and rules on the names a "
		       "CNAME chain leads to, are decided at query time, on the answer\n");
}

int vg_explain_main(int argc, char **argv)
{
	struct vg_explain_req q;
	int r = vg_explain_parse(argc, argv, &q, stderr);
	if (r == 1) { /* --help */
		explain_usage(stdout);
		return 0;
	}
	if (r)
		return r;
	struct vg_config *cfg = malloc(sizeof(*cfg));
	struct vg_policy *pol = NULL;
	int ret = 1;
	if (!cfg)
		return 1;
	if (q.config ? vg_config_load(cfg, q.config, stderr) < 0 : (vg_config_defaults(cfg), 0)) {
		fprintf(stderr, "vigil explain: %s: configuration is NOT valid\n", q.config);
		goto out;
	}
	if (vg_policy_load(&pol, &cfg->policy, NULL, stderr) < 0) {
		fprintf(stderr, "vigil explain: the policy could not be loaded (above)\n");
		goto out;
	}
	vg_explain_write(stdout, cfg, pol, &q);
	ret = 0;
out:
	vg_policy_free(pol);
	free(cfg);
	return ret;
}
