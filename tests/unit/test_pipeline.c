/* SPDX-License-Identifier: MIT
 *
 * The pipeline's policy actions, each carried out through the real policy
 * (src/policy/respond.c) with fake I/O and time: NXDOMAIN, NODATA, DROP,
 * TCP-only, the null address, local data, CNAME redirects and walled
 * gardens, overrides, PASSTHRU and the allowlist mode.  The fixture, and
 * how the fakes work, is in pipeline_fixture.h.
 */
#include "pipeline_fixture.h"

START_TEST(action_nxdomain)
{
	block_policy();
	const struct vg_msg *m = got(ask("nx.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	ck_assert_uint_eq(m->ancount, 0);
	ck_assert(!(m->flags & VG_F_TC));
	policy_marks(m, 15, "vigil: block rule nx.test", "block.rpz.");
	/* a wildcard rule, any type */
	m = got(ask("a.b.wild.test.", VG_T_AAAA, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	policy_marks(m, 15, "vigil: block rule *.wild.test", "block.rpz.");
	/* (a wildcard does not cover its own owner) */
	int t = ask("wild.test.", VG_T_A, 0);
	ck_assert_uint_eq(sent_for("wild.test."), 1);
	serve();
	m = got(t);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN); /* the upstream's, no EDE */
	no_ede(m);
	ck_assert_uint_eq(sent_for("nx.test."), 0);
	ck_assert_uint_eq(sent_for("a.b.wild.test."), 0);
	ck_assert_uint_eq(pipe_.stats.policy_rewrites, 2);
	all_answered_once();
}
END_TEST

START_TEST(action_nodata)
{
	block_policy();
	for (unsigned i = 0; i < 2; i++) {
		const struct vg_msg *m = got(ask("nodata.test.", i ? VG_T_MX : VG_T_A, 0));
		ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
		ck_assert_uint_eq(m->ancount, 0);
		policy_marks(m, 15, "vigil: block rule nodata.test", "block.rpz.");
	}
	ck_assert_uint_eq(io.nsent, 0);
	all_answered_once();
}
END_TEST

START_TEST(action_drop)
{
	block_policy();
	int t = ask("drop.test.", VG_T_A, 0);
	got_nothing(t);
	t = ask("drop.test.", VG_T_A, Q_TCP); /* any transport */
	got_nothing(t);
	ck_assert_uint_eq(io.nsent, 0);
	ck_assert_uint_eq(pipe_.stats.dropped, 2);
}
END_TEST

START_TEST(action_tcp_only)
{
	block_policy();
	z_a("tcp.test.", "192.0.2.20", 300);
	/* UDP: an empty truncated answer, nothing upstream */
	const struct vg_msg *m = got(ask("tcp.test.", VG_T_A, 0));
	ck_assert(m->flags & VG_F_TC);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 0);
	ck_assert_uint_eq(io.nsent, 0);
	/* TCP: resolved and answered normally */
	int t = ask("tcp.test.", VG_T_A, Q_TCP);
	not_answered(t);
	ck_assert_uint_eq(sent_for("tcp.test."), 1);
	ck_assert_uint_eq(io.sent[0].o.qtype, VG_T_A);
	struct vg_sockaddr root;
	addr_of(&root, "127.0.0.1", 53);
	ck_assert(vg_sockaddr_eq(&io.sent[0].o.to, &root));
	serve();
	m = got(t);
	ck_assert_uint_eq(io.ans[t].transport, VG_TRANSPORT_TCP);
	ck_assert(!(m->flags & VG_F_TC));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 1);
	answer_a(m, 0, "tcp.test.", "192.0.2.20", VG_T_A);
	no_ede(m);
	all_answered_once();
}
END_TEST

START_TEST(action_null_address)
{
	unsigned s = source("nulls", VG_PSRC_DOMAINS, "# a domains list\nnull.test\n");
	popts.sources[s].action = VG_ACT_NULL_ADDR;
	group("everyone", "10.0.0.0/8", false, (int)s, -1);
	load_policy();
	const struct vg_msg *m = got(ask("null.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 1);
	answer_a(m, 0, "null.test.", "0.0.0.0", VG_T_A);
	policy_marks(m, 15, "vigil: nulls rule null.test", NULL); /* a list: no SOA */
	m = got(ask("www.null.test.", VG_T_AAAA, 0)); /* a list entry covers what is below */
	ck_assert_uint_eq(m->ancount, 1);
	answer_a(m, 0, "www.null.test.", "::", VG_T_AAAA);
	policy_marks(m, 15, "vigil: nulls rule *.null.test", NULL);
	m = got(ask("null.test.", VG_T_TXT, 0)); /* another type: no address, NODATA */
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 0);
	ck_assert_uint_eq(io.nsent, 0);
	all_answered_once();
}
END_TEST

START_TEST(action_local_data)
{
	block_policy();
	const struct vg_msg *m = got(ask("local.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 2);
	answer_a(m, 0, "local.test.", "192.0.2.77", VG_T_A);
	answer_a(m, 1, "local.test.", "192.0.2.78", VG_T_A);
	policy_marks(m, 15, "vigil: block rule local.test", "block.rpz.");
	/* another type: NODATA */
	m = got(ask("local.test.", VG_T_AAAA, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 0);
	policy_marks(m, 15, "vigil: block rule local.test", "block.rpz.");
	ck_assert_uint_eq(io.nsent, 0);
	all_answered_once();
}
END_TEST

START_TEST(action_cname_redirect)
{
	block_policy();
	z_a("target.lab.", "192.0.2.44", 300);
	z_a("redir.test.", "192.0.2.99", 300); /* the blocked name's real data */
	int t = ask("redir.test.", VG_T_A, 0);
	not_answered(t);
	/* the target is resolved, never the blocked name */
	ck_assert_uint_eq(sent_for("target.lab."), 1);
	ck_assert_uint_eq(sent_for("redir.test."), 0);
	ck_assert_uint_eq(io.sent[0].o.qtype, VG_T_A);
	serve();
	ck_assert_uint_eq(sent_for("redir.test."), 0);
	const struct vg_msg *m = got(t);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 2);
	answer_cname(m, 0, "redir.test.", "target.lab.");
	answer_a(m, 1, "target.lab.", "192.0.2.44", VG_T_A);
	policy_marks(m, 15, "vigil: block rule redir.test", "block.rpz.");
	all_answered_once();
}
END_TEST

START_TEST(action_walled_garden)
{
	block_policy();
	z_a("gardened.test.garden.lab.", "192.0.2.45", 300);
	int t = ask("gardened.test.", VG_T_A, 0);
	ck_assert_uint_eq(io.nsent, 1);
	ck_assert_uint_eq(sent_for("gardened.test.garden.lab."), 1);
	ck_assert_uint_eq(sent_for("gardened.test."), 0);
	serve();
	const struct vg_msg *m = got(t);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 2);
	answer_cname(m, 0, "gardened.test.", "gardened.test.garden.lab.");
	answer_a(m, 1, "gardened.test.garden.lab.", "192.0.2.45", VG_T_A);
	policy_marks(m, 15, "vigil: block rule gardened.test", "block.rpz.");
	all_answered_once();
}
END_TEST

/* override: nxdomain on a source of PASSTHRU rules: the override replaces
 * the action of every match of the source (RPZ.md 2.5, policy/README.md),
 * so the name is NXDOMAIN and never asked upstream. */
START_TEST(override_nxdomain_on_passthru_source)
{
	unsigned s = source("pt", VG_PSRC_RPZ, "allowed.test CNAME rpz-passthru.\n");
	popts.sources[s].override = VG_POVR_NXDOMAIN;
	group("everyone", "10.0.0.0/8", false, (int)s, -1);
	load_policy();
	z_a("allowed.test.", "192.0.2.30", 300);
	int t = ask("allowed.test.", VG_T_A, 0);
	serve();
	const struct vg_msg *m = got(t);
	ck_assert_msg(rcode_of(m) == VG_RCODE_NXDOMAIN,
		      "override nxdomain did not apply to a PASSTHRU rule: rcode %d, %u upstream "
		      "queries for the name", rcode_of(m), sent_for("allowed.test."));
	policy_marks(m, 15, "vigil: pt rule allowed.test", "pt.rpz.");
	ck_assert_uint_eq(sent_for("allowed.test."), 0);
}
END_TEST

/* override: nxdomain and nodata on a source of block rules. */
START_TEST(override_on_block_source)
{
	unsigned a = source("ovnx", VG_PSRC_RPZ, "x.test CNAME *.\n");
	unsigned b = source("ovnd", VG_PSRC_RPZ, "y.test CNAME .\n");
	popts.sources[a].override = VG_POVR_NXDOMAIN;
	popts.sources[b].override = VG_POVR_NODATA;
	group("everyone", "10.0.0.0/8", false, (int)a, (int)b, -1);
	load_policy();
	const struct vg_msg *m = got(ask("x.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	policy_marks(m, 15, "vigil: ovnx rule x.test", "ovnx.rpz.");
	m = got(ask("y.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 0);
	policy_marks(m, 15, "vigil: ovnd rule y.test", "ovnd.rpz.");
	ck_assert_uint_eq(io.nsent, 0);
	all_answered_once();
}
END_TEST

/* override: passthru: the match resolves normally and stops later sources. */
START_TEST(override_passthru_stops_later_sources)
{
	unsigned a = source("ovpt", VG_PSRC_RPZ, "nx.test CNAME .\n");
	int b = (int)source("block", VG_PSRC_RPZ, block_rpz);
	popts.sources[a].override = VG_POVR_PASSTHRU;
	group("everyone", "10.0.0.0/8", false, (int)a, b, -1);
	load_policy();
	z_a("nx.test.", "192.0.2.31", 300);
	int t = ask("nx.test.", VG_T_A, 0);
	ck_assert_uint_eq(sent_for("nx.test."), 1);
	serve();
	const struct vg_msg *m = got(t);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	answer_a(m, 0, "nx.test.", "192.0.2.31", VG_T_A);
	no_ede(m);
	all_answered_once();
}
END_TEST

/* override: disabled: the match is logged only, the next source decides. */
START_TEST(override_disabled_logs_and_next_source_decides)
{
	char logpath[128], line[4096];
	unsigned d = source("dis", VG_PSRC_RPZ, "nx.test CNAME *.\nonlydis.test CNAME .\n");
	int b = (int)source("block", VG_PSRC_RPZ, block_rpz);
	popts.sources[d].override = VG_POVR_DISABLED;
	group("everyone", "10.0.0.0/8", false, (int)d, b, -1);
	load_policy();
	struct vg_plog *plog;
	snprintf(logpath, sizeof(logpath), "%s/decisions.jsonl", tmpdir);
	ck_assert_int_eq(vg_plog_start(&plog, logpath, 1), 0);
	pipe_.plog = plog;
	z_a("onlydis.test.", "192.0.2.32", 300);

	/* the next source's rule decides */
	const struct vg_msg *m = got(ask("nx.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	policy_marks(m, 15, "vigil: block rule nx.test", "block.rpz.");
	/* no other source: resolved normally */
	int t = ask("onlydis.test.", VG_T_A, 0);
	ck_assert_uint_eq(sent_for("onlydis.test."), 1);
	serve();
	m = got(t);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	answer_a(m, 0, "onlydis.test.", "192.0.2.32", VG_T_A);
	no_ede(m);

	pipe_.plog = NULL;
	vg_plog_stop(plog);
	FILE *f = fopen(logpath, "r");
	ck_assert_ptr_nonnull(f);
	unsigned logonly = 0, decided = 0, n = 0;
	while (fgets(line, sizeof(line), f)) {
		n++;
		if (strstr(line, "\"source\":\"dis\"") &&
		    strstr(line, "(disabled: log only)") && strstr(line, "\"action\":\"passthru\""))
			logonly++;
		if (strstr(line, "\"source\":\"block\"") && strstr(line, "\"qname\":\"nx.test.\"") &&
		    strstr(line, "\"action\":\"nxdomain\""))
			decided++;
	}
	fclose(f);
	unlink(logpath);
	ck_assert_msg(logonly == 2, "%u log-only lines for the disabled source (of %u)", logonly,
		      n);
	ck_assert_uint_eq(decided, 1);
	ck_assert_uint_eq(n, 3);
	all_answered_once();
}
END_TEST

/* A PASSTHRU in an earlier source stops a later source's block. */
START_TEST(passthru_stops_later_block)
{
	int a = (int)source("allow", VG_PSRC_RPZ, "pass.test CNAME rpz-passthru.\n");
	int b = (int)source("block", VG_PSRC_RPZ, block_rpz);
	group("everyone", "10.0.0.0/8", false, a, b, -1);
	load_policy();
	z_a("pass.test.", "192.0.2.33", 300);
	int t = ask("pass.test.", VG_T_A, 0);
	ck_assert_uint_eq(sent_for("pass.test."), 1);
	serve();
	const struct vg_msg *m = got(t);
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NOERROR);
	ck_assert_uint_eq(m->ancount, 1);
	answer_a(m, 0, "pass.test.", "192.0.2.33", VG_T_A);
	no_ede(m);
	/* the later source still blocks what the earlier one does not allow */
	m = got(ask("nx.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	ck_assert_uint_eq(sent_for("nx.test."), 0);
	/* the order matters: block first, allow second -> blocked */
	memset(&popts.groups, 0, sizeof(popts.groups));
	popts.n_groups = 0;
	group("everyone", "10.0.0.0/8", false, b, a, -1);
	load_policy();
	m = got(ask("pass.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	policy_marks(m, 15, "vigil: block rule pass.test", "block.rpz.");
	ck_assert_uint_eq(sent_for("pass.test."), 1);
	all_answered_once();
}
END_TEST

START_TEST(allowlist_mode)
{
	int a = (int)source("allow", VG_PSRC_RPZ,
			    "pass.test CNAME rpz-passthru.\n*.pass.test CNAME rpz-passthru.\n");
	group("runners", "10.0.0.0/8", true, a, -1);
	load_policy();
	z_a("pass.test.", "192.0.2.34", 300);
	z_a("www.pass.test.", "192.0.2.35", 300);
	z_a("other.test.", "192.0.2.36", 300);
	int t1 = ask("pass.test.", VG_T_A, 0);
	int t2 = ask("www.pass.test.", VG_T_A, 0);
	serve();
	answer_a(got(t1), 0, "pass.test.", "192.0.2.34", VG_T_A);
	no_ede(parsed);
	answer_a(got(t2), 0, "www.pass.test.", "192.0.2.35", VG_T_A);
	/* anything else is denied, without a query upstream */
	const struct vg_msg *m = got(ask("other.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	policy_marks(m, 15, "vigil: group runners allowlist: not allowed", NULL);
	ck_assert_uint_eq(sent_for("other.test."), 0);
	/* even when it is in the cache (resolved without the policy) */
	adopt(NULL);
	t1 = ask("other.test.", VG_T_A, 0);
	serve();
	ck_assert_int_eq(rcode_of(got(t1)), VG_RCODE_NOERROR);
	adopt(policies[0]);
	unsigned before = io.nsent;
	m = got(ask("other.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	ck_assert_uint_eq(io.nsent, before);
	all_answered_once();
}
END_TEST


/* ================================================================ client identity */

#define FP_A "sha256:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define FP_B "sha256:" "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* A query from a client of @p transport with identity @p id (""), @p fp, @p subject. */
static int ask_as(const char *name, enum vg_transport transport, const char *id, const char *fp,
		  const char *subject)
{
	uint8_t q[512];
	int tag = next_tag++;
	size_t len = make_query(q, sizeof(q), name, VG_T_A, 0, tag);
	struct vg_client c = client_for(tag, Q_TCP);
	c.transport = transport;
	snprintf(c.id, sizeof(c.id), "%s", id);
	c.cert_fp = fp;
	c.cert_subject = subject;
	vg_pipe_query(&pipe_, q, len, &c);
	return tag;
}

/* Groups by address and by identity: "lan" (10/8) blocks a.test; "ids"
 * (client-ids laptop7, tab-1; no prefixes) blocks b.test; "certs"
 * (a subject, and fingerprint FP_B) blocks c.test; "fp" (fingerprint FP_A,
 * and client ID laptop7 named again, later: the first group wins) blocks
 * d.test. */
static const struct vg_policy *identity_policy(void)
{
	int a = (int)source("a", VG_PSRC_RPZ, "a.test CNAME .\n");
	int b = (int)source("b", VG_PSRC_RPZ, "b.test CNAME .\n");
	int c = (int)source("c", VG_PSRC_RPZ, "c.test CNAME .\n");
	int d = (int)source("d", VG_PSRC_RPZ, "d.test CNAME .\n");
	group("lan", "10.0.0.0/8", false, a, -1);
	group("ids", "10.0.0.0/8", false, b, -1);
	struct vg_policy_group *g = &popts.groups[1];
	g->n_clients = 0; /* identities only */
	snprintf(g->ids[g->n_ids++], VG_POLICY_ID_MAX, "laptop7");
	snprintf(g->ids[g->n_ids++], VG_POLICY_ID_MAX, "tab-1");
	group("certs", "10.0.0.0/8", false, c, -1);
	g = &popts.groups[2];
	g->n_clients = 0;
	snprintf(g->certs[g->n_certs++], VG_POLICY_CERT_MAX, "subject:CN=laptop9,O=Example");
	snprintf(g->certs[g->n_certs++], VG_POLICY_CERT_MAX, "%s", FP_B);
	group("fp", "10.0.0.0/8", false, d, -1);
	g = &popts.groups[3];
	g->n_clients = 0;
	snprintf(g->certs[g->n_certs++], VG_POLICY_CERT_MAX, "%s", FP_A);
	snprintf(g->ids[g->n_ids++], VG_POLICY_ID_MAX, "laptop7");
	return load_policy();
}

/* The engine: which group, and why (precedence: certificate fingerprint,
 * certificate subject, client ID, address). */
START_TEST(identity_selects_group)
{
	const struct vg_policy *pol = identity_policy();
	struct vg_sockaddr in, out;
	enum vg_pol_by by;
	addr_of(&in, "10.0.0.1", 853);
	addr_of(&out, "192.0.2.1", 853); /* in no group's prefixes */
	const struct vg_policy_ident none = { "", NULL, NULL }, id7 = { "laptop7", NULL, NULL },
				     other = { "laptop8", FP_B "0", "CN=laptop9" },
				     subj = { "laptop7", NULL, "CN=laptop9,O=Example" },
				     fpa = { "laptop7", FP_A, "CN=laptop9,O=Example" },
				     fpb = { "tab-1", FP_B, NULL };
	const struct {
		const struct sockaddr *sa;
		const struct vg_policy_ident *id;
		const char *group;
		enum vg_pol_by by;
	} cases[] = {
		{ &in.u.sa, NULL, "lan", VG_POL_BY_ADDR },
		{ &in.u.sa, &none, "lan", VG_POL_BY_ADDR },   /* an empty identity is none */
		{ &in.u.sa, &other, "lan", VG_POL_BY_ADDR },  /* named by no group */
		{ &in.u.sa, &id7, "ids", VG_POL_BY_ID },      /* the first group naming it */
		{ &out.u.sa, &id7, "ids", VG_POL_BY_ID },     /* wherever the client is */
		{ NULL, &id7, "ids", VG_POL_BY_ID },          /* with no address at all */
		{ &in.u.sa, &subj, "certs", VG_POL_BY_CERT_SUBJECT }, /* subject over ID */
		{ &in.u.sa, &fpa, "fp", VG_POL_BY_CERT_FP },  /* fingerprint over subject */
		{ &out.u.sa, &fpb, "certs", VG_POL_BY_CERT_FP },
		{ &out.u.sa, NULL, NULL, VG_POL_BY_NONE },
		{ &out.u.sa, &other, NULL, VG_POL_BY_NONE },
	};
	for (unsigned i = 0; i < VG_ARRAY_SIZE(cases); i++) {
		const struct vg_policy_group *g = vg_policy_group_of(pol, cases[i].sa, cases[i].id,
								     &by);
		ck_assert_msg(cases[i].group ? g && !strcmp(g->name, cases[i].group) : !g,
			      "case %u: group %s, expected %s", i, g ? g->name : "(none)",
			      cases[i].group ? cases[i].group : "(none)");
		ck_assert_msg(by == cases[i].by, "case %u: by %s", i, vg_policy_by_name(by));
	}
	/* the decision says the same, and the group's sources apply */
	struct vg_policy_decision d;
	ck_assert_int_eq(vg_policy_check_flags(pol, &in.u.sa, &id7, N("b.test."), true, false, &d),
			 1);
	ck_assert_str_eq(d.group, "ids");
	ck_assert_uint_eq(d.by, VG_POL_BY_ID);
	ck_assert_int_eq(vg_policy_check_flags(pol, &in.u.sa, &id7, N("a.test."), true, false, &d),
			 0);
	ck_assert_int_eq(vg_policy_check_flags(pol, NULL, &fpa, N("d.test."), true, false, &d), 1);
	ck_assert_uint_eq(d.by, VG_POL_BY_CERT_FP);
	ck_assert_str_eq(vg_policy_by_name(VG_POL_BY_ADDR), "address");
	ck_assert_str_eq(vg_policy_by_name(VG_POL_BY_ID), "client-id");
	ck_assert_str_eq(vg_policy_by_name(VG_POL_BY_CERT_FP), "client-cert");
	ck_assert_str_eq(vg_policy_by_name(VG_POL_BY_CERT_SUBJECT), "client-cert-subject");
}
END_TEST

/* Through the pipeline: the transport's vg_client (id, certificate) picks
 * the group; the same address without identity gets the address's group;
 * the decision log shows transport, identity and why. */
START_TEST(identity_through_pipeline)
{
	char logpath[128], line[4096];
	identity_policy();
	struct vg_plog *plog;
	snprintf(logpath, sizeof(logpath), "%s/identity.jsonl", tmpdir);
	ck_assert_int_eq(vg_plog_start(&plog, logpath, 1), 0);
	pipe_.plog = plog;

	/* DoT client laptop7: group ids blocks b.test, not a.test */
	const struct vg_msg *m = got(ask_as("b.test.", VG_TRANSPORT_DOT, "laptop7", NULL, NULL));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	policy_marks(m, 15, "vigil: b rule b.test", "b.rpz.");
	int t = ask_as("a.test.", VG_TRANSPORT_DOT, "laptop7", NULL, NULL);
	ck_assert_uint_eq(sent_for("a.test."), 1); /* not blocked: resolved */
	serve();
	ck_assert_int_eq(rcode_of(got(t)), VG_RCODE_NXDOMAIN); /* the fake root's */
	no_ede(got(t));
	/* the same address over UDP, without identity: group lan */
	m = got(ask("a.test.", VG_T_A, 0));
	ck_assert_int_eq(rcode_of(m), VG_RCODE_NXDOMAIN);
	policy_marks(m, 15, "vigil: a rule a.test", "a.rpz.");
	/* DoH with a client certificate: fingerprint FP_A, group fp */
	m = got(ask_as("d.test.", VG_TRANSPORT_DOH, "", FP_A, "CN=laptop9,O=Example"));
	policy_marks(m, 15, "vigil: d rule d.test", "d.rpz.");
	/* the subject alone: group certs */
	m = got(ask_as("c.test.", VG_TRANSPORT_DOT, "", NULL, "CN=laptop9,O=Example"));
	policy_marks(m, 15, "vigil: c rule c.test", "c.rpz.");

	pipe_.plog = NULL;
	vg_plog_stop(plog);
	FILE *f = fopen(logpath, "r");
	ck_assert_ptr_nonnull(f);
	unsigned by_id = 0, by_addr = 0, by_fp = 0, by_subj = 0, n = 0;
	while (fgets(line, sizeof(line), f)) {
		n++;
		if (strstr(line, "\"transport\":\"dot\",\"client_id\":\"laptop7\","
				 "\"group_by\":\"client-id\",\"group\":\"ids\"") &&
		    strstr(line, "\"qname\":\"b.test.\""))
			by_id++;
		if (strstr(line, "\"transport\":\"udp\",\"group_by\":\"address\","
				 "\"group\":\"lan\"") && !strstr(line, "client_id"))
			by_addr++;
		if (strstr(line, "\"transport\":\"doh\",\"client_cert\":\"" FP_A "\","
				 "\"client_subject\":\"CN=laptop9,O=Example\","
				 "\"group_by\":\"client-cert\",\"group\":\"fp\""))
			by_fp++;
		if (strstr(line, "\"group_by\":\"client-cert-subject\",\"group\":\"certs\""))
			by_subj++;
	}
	fclose(f);
	unlink(logpath);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(by_id, 1);
	ck_assert_uint_eq(by_addr, 1);
	ck_assert_uint_eq(by_fp, 1);
	ck_assert_uint_eq(by_subj, 1);
	all_answered_once();
}
END_TEST

/* ================================================================ stage boundaries */

/* Stage 3 before 4: a blocked name is answered before the cache, cached
 * or not, and never asked upstream. */

/* The per-type counter's slot: a direct index for types below 256 gives
 * what a scan of vg_pipe_qtypes gives, for every type. */
START_TEST(qtype_slots_match_the_list)
{
	for (unsigned t = 0; t < 65536; t++) {
		unsigned want = 0;
		while (want < VG_PIPE_QTYPES - 1 && vg_pipe_qtypes[want] != t)
			want++;
		ck_assert_msg(vg_pipe_qtype_slot((uint16_t)t) == want, "type %u: slot %u, not %u",
			      t, vg_pipe_qtype_slot((uint16_t)t), want);
	}
	ck_assert_uint_eq(vg_pipe_qtype_slot(VG_T_A), 0);
	ck_assert_uint_eq(vg_pipe_qtype_slot(257), VG_PIPE_QTYPES - 2); /* CAA */
	ck_assert_uint_eq(vg_pipe_qtype_slot(VG_T_NSEC), VG_PIPE_QTYPES - 1); /* other */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pipeline");
	TCase *ta = tcase_create("actions");
	tcase_add_checked_fixture(ta, setup, teardown);
	tcase_add_test(ta, action_nxdomain);
	tcase_add_test(ta, qtype_slots_match_the_list);
	tcase_add_test(ta, action_nodata);
	tcase_add_test(ta, action_drop);
	tcase_add_test(ta, action_tcp_only);
	tcase_add_test(ta, action_null_address);
	tcase_add_test(ta, action_local_data);
	tcase_add_test(ta, action_cname_redirect);
	tcase_add_test(ta, action_walled_garden);
	tcase_add_test(ta, override_nxdomain_on_passthru_source);
	tcase_add_test(ta, override_on_block_source);
	tcase_add_test(ta, override_passthru_stops_later_sources);
	tcase_add_test(ta, override_disabled_logs_and_next_source_decides);
	tcase_add_test(ta, passthru_stops_later_block);
	tcase_add_test(ta, allowlist_mode);
	tcase_add_test(ta, identity_selects_group);
	tcase_add_test(ta, identity_through_pipeline);
	suite_add_tcase(s, ta);

	return run_suite(s);
}
