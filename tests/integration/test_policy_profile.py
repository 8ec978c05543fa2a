"""The shipped build-runner profile (allowlist mode): the policy
section of contrib/build-runners.yaml, run in the lab.

The sample's policy section is used as it is, with only these rewritten:

* the shipped zones' installed paths (/usr/local/share/vigil/policy/) point
  at the source tree's policy/ files;
* the site's internal allow zone is contrib/internal-allow.rpz with its
  placeholder zone corp.example replaced by the lab's chain1.lab;
* the build-runners group's clients are 127.0.0.1/32 (the test client);
  everyone else (127.0.0.9 does vigil's start-up probe) is in 'everyone';
* policy.log (syslog in the sample) is a JSON file in the test directory.

Checked: a registry name is not rewritten (the lab has no such name, so the
lab root's NXDOMAIN comes back, without a policy EDE); any other name is
denied with EDE 15 "vigil: group build-runners allowlist: not allowed" and
logged; supply-chain and ci-strict still block in the allowlist group
(they are listed before the allow sources); an allowed internal name whose
CNAME chain leads to a name no rule allows still resolves (one decision per
query: CDN names behind a registry need no rule); DO=1 queries are denied or
blocked too, and so are RD=0 queries (the sample's recursive-only: no); the
'everyone' group gets supply-chain only.  vigil only.
"""
import json
import os
import re
import subprocess
import time

import dns.message
import dns.rcode
import pytest

import conftest
from helpers import assert_answer, assert_rcode, show
from test_policy import (BLOCKED, C1, ask, assert_blocked, assert_clean, edes, policy_edes,
                         started, write)

pytestmark = pytest.mark.vigil_only

REPO = conftest.REPO
SAMPLE = os.path.join(REPO, "contrib", "build-runners.yaml")
INTERNAL_TEMPLATE = os.path.join(REPO, "contrib", "internal-allow.rpz")
OUTSIDE = "127.0.0.9"  # a client in the 'everyone' group
DENIED = "vigil: group build-runners allowlist: not allowed"


def rewrite(text, old, new):
    """TEXT with OLD replaced by NEW; fails when the sample no longer has OLD."""
    assert old in text, "contrib/build-runners.yaml no longer contains %r" % old
    return text.replace(old, new)


def sample_text(directory, logf=None):
    """The whole sample, rewritten for this machine and the lab (see above)."""
    with open(SAMPLE) as f:
        text = f.read()
    with open(INTERNAL_TEMPLATE) as f:
        internal = write(directory, "internal-allow.rpz",
                         rewrite(f.read(), "corp.example", "chain1.lab"))
    text = rewrite(text, "/usr/local/share/vigil/policy/", os.path.join(REPO, "policy") + "/")
    text = rewrite(text, "/etc/vigil/internal-allow.rpz", internal)
    text = rewrite(text, 'clients: [ "10.20.0.0/16", "fd00:20::/48" ]',
                   'clients: [ "%s/32" ]' % C1)
    if logf:
        text = rewrite(text, "  log: syslog\n", '  log: "%s"\n' % logf)
    return text


def policy_section(text):
    """The `policy:` section of a config text (up to the next top-level key)."""
    m = re.search(r"^policy:\n(?:(?:[ #].*)?\n)*", text, re.M)
    assert m, "no policy section in contrib/build-runners.yaml"
    return m.group(0)


@pytest.fixture(scope="module")
def runners(lab, tmp_path_factory):
    d = tmp_path_factory.mktemp("profile")
    logf = os.path.join(str(d), "decisions.jsonl")
    v = started(lab, d, policy_section(sample_text(d, logf)), ready_source=OUTSIDE)
    v.decisions = logf
    yield v
    v.stop()


def decisions(v, want, timeout=3.0):
    """The JSON decision lines for which WANT(line) holds, waiting for one."""
    deadline = time.monotonic() + timeout
    while True:
        got = []
        if os.path.exists(v.decisions):
            with open(v.decisions) as f:
                got = [json.loads(x) for x in f if x.strip()]
        hits = [x for x in got if want(x)]
        if hits or time.monotonic() > deadline:
            return hits
        time.sleep(0.05)


def assert_denied(msg):
    assert_rcode(msg, "NXDOMAIN")
    assert not msg.answer, show(msg)
    assert (BLOCKED, DENIED) in policy_edes(msg), (
        "expected EDE 15 %r, got %s:%s" % (DENIED, edes(msg), show(msg)))


def test_sample_config_is_valid(tmp_path):
    """The whole sample passes --check-config once its files exist."""
    path = write(tmp_path, "build-runners.yaml", sample_text(tmp_path))
    r = subprocess.run([conftest.VIGIL_BIN, "--check-config", path], capture_output=True,
                       text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and "configuration is valid" in r.stdout, r.stdout + r.stderr


def test_registry_names_are_not_rewritten(runners):
    for name in ("files.pythonhosted.org.", "pypi.org.", "registry.npmjs.org.",
                 "production.cloudflare.docker.com."):
        r = ask(runners, name)
        assert_clean(r)  # allowed: the lab root's own answer, no policy EDE
        assert r.rcode() == dns.rcode.NXDOMAIN, show(r)


def test_other_names_are_denied_and_logged(runners):
    assert_denied(ask(runners, "www.basic.lab."))
    assert_denied(ask(runners, "txt.basic.lab.", "TXT", tcp=True))
    # a name below an allowed host is not allowed (exact rules only)
    assert_denied(ask(runners, "evil.files.pythonhosted.org."))
    hits = decisions(runners, lambda x: x.get("qname") == "www.basic.lab.")
    assert hits, "no decision line for www.basic.lab. in %s" % runners.decisions
    x = hits[0]
    assert x["client"] == C1 and x["group"] == "build-runners", x
    assert x["trigger"] == "allowlist" and x["action"] == "nxdomain" and x["ede"] == 15, x


def test_blocks_win_over_allows(runners):
    """supply-chain and ci-strict come first: their rules decide.  No shipped
    supply-chain indicator lies below a registry host, so the indicator here
    is one the allowlist would deny anyway; the EDE shows who decided."""
    r = ask(runners, "models.litellm.cloud.")
    assert_blocked(r, "NXDOMAIN", "supply-chain", BLOCKED, "*.litellm.cloud",
                   soa="supply-chain.rpz.vigil.")
    assert_blocked(ask(runners, "webhook.site."), "NXDOMAIN", "ci-strict", BLOCKED,
                   "webhook.site", soa="ci-strict.rpz.vigil.")
    # each zone's test record, decided by that zone (so each is loaded, in order)
    for zone in ("supply-chain", "ci-strict", "registries"):
        assert_blocked(ask(runners, "test.%s.vigil.invalid." % zone), "NXDOMAIN", zone,
                       BLOCKED, "test.%s.vigil.invalid" % zone, soa="%s.rpz.vigil." % zone)
    hits = decisions(runners, lambda x: x.get("qname") == "models.litellm.cloud.")
    assert hits and hits[0]["source"] == "supply-chain" and hits[0]["rule"] == "*.litellm.cloud", \
        hits


def test_internal_zone_and_cname_chains(runners):
    """The internal allow zone (the template, for chain1.lab): a.chain1.lab is
    a CNAME to b.chain2.example, then c.chain3.lab, which no rule allows; the
    allowed name decides for the whole chain."""
    r = ask(runners, "a.chain1.lab.")
    assert_answer(r, "c.chain3.lab.", "A", ["192.0.2.33"])
    assert_clean(r)
    assert_denied(ask(runners, "c.chain3.lab."))  # asked for directly: denied


def test_dnssec_ok_queries(runners):
    """DO=1: the allowlist still denies, and supply-chain (break-dnssec: yes in
    the sample) still blocks."""
    def do_query(name):
        q = dns.message.make_query(name, "A", want_dnssec=True, payload=1232)
        return runners.send(q, timeout=3.0, source=C1)
    assert_denied(do_query("www.basic.lab."))
    assert_blocked(do_query("models.litellm.cloud."), "NXDOMAIN", "supply-chain", BLOCKED,
                   "*.litellm.cloud")


def test_rd0_queries_do_not_skip_the_policy(runners):
    """vigil resolves RD=0 queries too; the sample sets recursive-only: no on
    every source, so clearing RD skips neither the allowlist nor a block."""
    assert_denied(ask(runners, "mail.basic.lab.", rd=False))
    assert_blocked(ask(runners, "models.litellm.cloud.", rd=False), "NXDOMAIN",
                   "supply-chain", BLOCKED, "*.litellm.cloud")
    assert_blocked(ask(runners, "models.litellm.cloud.", src=OUTSIDE, rd=False), "NXDOMAIN",
                   "supply-chain", BLOCKED, "*.litellm.cloud")
    assert_clean(ask(runners, "files.pythonhosted.org.", rd=False))


def test_everyone_else_gets_supply_chain_only(runners):
    r = ask(runners, "www.basic.lab.", src=OUTSIDE)
    assert_answer(r, "www.basic.lab.", "A", ["192.0.2.10"])
    assert_clean(r)
    assert_clean(ask(runners, "webhook.site.", src=OUTSIDE))  # ci-strict is not theirs
    assert_blocked(ask(runners, "models.litellm.cloud.", src=OUTSIDE), "NXDOMAIN",
                   "supply-chain", BLOCKED, "*.litellm.cloud")
