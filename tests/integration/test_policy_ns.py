"""The policy engine after resolution: NSDNAME and NSIP triggers, and rules
at every stage of a CNAME chain (RPZ.md 2.3, 2.4 rule 1).

What is tested, against the lab's own delegations (tests/lab/lab.py):

* NSDNAME (`<ns name>.rpz-nsdname`, exact and `*.` wildcard): a rule naming
  the name server of a zone rewrites the answers for names in that zone --
  resolved, and again from the cache; a rule naming a name server that does
  not serve the zone (or the root's, below the `min-ns-dots` bound of 1)
  does not;
* NSIP (`<prefix>.<reversed addr>.rpz-nsip`) on the address of a zone's name
  server, likewise;
* the CNAME chain a.chain1.lab. -> b.chain2.example. -> c.chain3.lab.: a
  QNAME (or NSDNAME, NSIP) rule on a later name of the chain rewrites the
  answer at that name, keeping the CNAMEs that lead to it (NXDOMAIN: rcode
  NXDOMAIN and the CNAMEs; NODATA: NOERROR and only the CNAMEs), with the
  EDE and the policy zone SOA; the same from the cache;
* one rule for the whole chain: an earlier stage beats a later one whatever
  the zone order, a PASSTHRU at an earlier stage stops a later block; QTYPE
  CNAME has no chain;
* the decision log names the trigger ("nsdname", "nsip") and, for a later
  stage, the stage and its name.

vigil only.  Clients: 127.0.0.1, .2, .4 in groups; 127.0.0.3 in none (it is
the readiness check's source, so that the cache holds the lab's
delegations from the start, as it would on a busy resolver).
"""
import json
import os
import time

import dns.rcode
import dns.rdatatype
import pytest

from helpers import Upstream, assert_answer, assert_rcode, rrset, show
from test_policy import (BLOCKED, C1, C2, C3, assert_clean, assert_resolves, ask, edes,
                         policy, rpz, source, started, write, group)

pytestmark = pytest.mark.vigil_only

C4 = "127.0.0.4"


def rev(addr):
    """The reversed IPv4 address of an RPZ /32 IP trigger owner."""
    return ".".join(reversed(addr.split(".")))


def cnames(msg):
    """[(owner, target)] of the CNAME RRsets of the answer section, in order."""
    return [(rs.name.to_text(), rs[0].target.to_text()) for rs in msg.answer
            if rs.rdtype == dns.rdatatype.CNAME]


def assert_rewritten(msg, rcode, src, rule, chain, soa=None):
    """A policy answer at a later stage: RCODE, exactly the CNAMEs CHAIN in
    the answer section and nothing else, the EDE "vigil: SRC rule RULE", the
    policy zone SOA in the additional section."""
    assert_rcode(msg, rcode)
    assert cnames(msg) == chain, "expected the CNAMEs %s, got:%s" % (chain, show(msg))
    assert len(msg.answer) == len(chain), "records beyond the CNAMEs:%s" % show(msg)
    want = "vigil: %s rule %s" % (src, rule)
    assert (BLOCKED, want) in edes(msg), "expected EDE 15 %r, got %s:%s" % (
        want, edes(msg), show(msg))
    if soa is not None:
        assert rrset(msg.additional, soa, "SOA") is not None, (
            "no SOA of the policy zone %s in the additional section:%s" % (soa, show(msg)))


A_B = ("a.chain1.lab.", "b.chain2.example.")
B_C = ("b.chain2.example.", "c.chain3.lab.")


def log_lines(path, want, timeout=3.0):
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                got = [json.loads(x) for x in f if x.strip()]
            if len(got) >= want:
                break
        time.sleep(0.05)
    return got


# ------------------------------------------------------------------ NSDNAME

def test_nsdname_rules(lab, tmp_path):
    zone = write(tmp_path, "nsd.rpz", rpz(
        "nsd.rpz.",
        "ns1.basic.lab.rpz-nsdname        CNAME .",   # basic.lab's name server
        "ns1.chain3.lab.rpz-nsdname       CNAME *.",  # chain3.lab's: NODATA
        "*.hoster.example.rpz-nsdname     CNAME .",   # glueless.lab's (glue-less NS)
        "a.root-servers.lab.rpz-nsdname   CNAME .",   # the root's: not looked at
        "ns1.nic.sec.rpz-nsdname          CNAME ."))  # a TLD's: looked at
    logf = os.path.join(str(tmp_path), "decisions.jsonl")
    text = policy([source("nsd", "rpz", zone)], [group("g", [C1 + "/32"], ["nsd"])])
    text = text.replace("policy:\n", "policy:\n  log: \"%s\"\n" % logf, 1)
    v = started(lab, tmp_path, text, ready_source=C3)
    try:
        up = Upstream(lab)
        # www.basic.lab. is cached (the readiness check): the cache-hit path
        for _ in range(2):
            r = ask(v, "www.basic.lab.")
            assert_rewritten(r, "NXDOMAIN", "nsd", "nsdname ns1.basic.lab", [],
                             soa="nsd.rpz.")
        up.none("www.basic.lab. A (cached by the readiness check), twice")
        # not cached yet: decided when resolved, then from the cache
        for fresh in (True, False):
            r = ask(v, "txt.basic.lab.", "TXT")
            assert_rewritten(r, "NXDOMAIN", "nsd", "nsdname ns1.basic.lab", [],
                             soa="nsd.rpz.")
            if fresh:
                up.some("txt.basic.lab. TXT, first asked", "basic")
            else:
                up.none("txt.basic.lab. TXT, asked again")
        # a name that does not exist in the zone: still the zone's name server
        r = ask(v, "nothere.basic.lab.")
        assert_rewritten(r, "NXDOMAIN", "nsd", "nsdname ns1.basic.lab", [], soa="nsd.rpz.")
        # name servers no rule names (ns1.shop.example., ns1.nic.example.): the
        # rules on other zones' servers and on the root's do not apply
        assert_resolves(ask(v, "www.shop.example."), "www.shop.example.", "A",
                        ["192.0.2.50"])
        # NODATA on chain3.lab.
        r = ask(v, "c.chain3.lab.")
        assert_rewritten(r, "NOERROR", "nsd", "nsdname ns1.chain3.lab", [], soa="nsd.rpz.")
        # a wildcard NSDNAME rule, on a name server reached without glue
        r = ask(v, "www.glueless.lab.")
        assert_rewritten(r, "NXDOMAIN", "nsd", "nsdname *.hoster.example", [],
                         soa="nsd.rpz.")
        # the TLD sec.'s name server (delegation points down to one label)
        r = ask(v, "www.alg8.sec.")
        assert_rewritten(r, "NXDOMAIN", "nsd", "nsdname ns1.nic.sec", [], soa="nsd.rpz.")
        # a later stage of a chain: c.chain3.lab. is served by ns1.chain3.lab.
        up.delta()
        for fresh in (True, False):
            r = ask(v, "a.chain1.lab.")
            assert_rewritten(r, "NOERROR", "nsd", "nsdname ns1.chain3.lab", [A_B, B_C],
                             soa="nsd.rpz.")
            if fresh:
                up.some("a.chain1.lab. A, first asked", "chain1")
            else:
                up.none("a.chain1.lab. A, asked again")
        # a client in no group
        assert_resolves(ask(v, "www.basic.lab.", src=C3), "www.basic.lab.", "A",
                        ["192.0.2.10"])
        got = log_lines(logf, 10)
        assert len(got) == 10, got
        assert all(x["trigger"] == "nsdname" and x["source"] == "nsd" for x in got), got
        assert got[0]["rule"] == "nsdname ns1.basic.lab" and got[0]["action"] == "nxdomain"
        assert "stage" not in got[0] and "stage_name" not in got[0], got[0]
        chain = [x for x in got if x["qname"] == "a.chain1.lab."]
        assert len(chain) == 2, got
        for x in chain:
            assert x["stage"] == 2 and x["stage_name"] == "c.chain3.lab.", x
            assert x["rule"] == "nsdname ns1.chain3.lab" and x["action"] == "nodata", x
    finally:
        v.stop()


# ------------------------------------------------------------------ NSIP

def test_nsip_rules(lab, tmp_path):
    basic = lab.addr("basic")   # ns1.basic.lab.
    chain2 = lab.addr("chain2")  # ns1.chain2.example. and ns1.shop.example.
    zone = write(tmp_path, "nsip.rpz", rpz(
        "nsip.rpz.",
        "32.%s.rpz-nsip CNAME ." % rev(basic),
        "32.%s.rpz-nsip CNAME *." % rev(chain2),
        "32.%s.rpz-nsip CNAME ." % rev(lab.addr("root"))))  # the root's: not looked at
    later = write(tmp_path, "later.rpz", rpz(
        "later.rpz.", "www.basic.lab CNAME *.", "www.glueless.lab CNAME *."))
    # qname-wait-recurse: the later zone's QNAME rule waits for the answer, so
    # that the earlier zone's NSIP rule can win (RPZ.md 2.4 exactly)
    v = started(lab, tmp_path, policy([source("nsip", "rpz", zone),
                                       source("later", "rpz", later)],
                                      [group("g", [C1 + "/32"], ["nsip"]),
                                       group("g2", [C2 + "/32"], ["nsip", "later"])])
                + "  qname-wait-recurse: yes\n",
                ready_source=C3)
    try:
        up = Upstream(lab)
        for _ in range(2):  # cached by the readiness check
            assert_rewritten(ask(v, "www.basic.lab."), "NXDOMAIN", "nsip",
                             "nsip %s/32" % basic, [], soa="nsip.rpz.")
        up.none("www.basic.lab. A (cached by the readiness check), twice")
        assert_rewritten(ask(v, "mail.basic.lab."), "NXDOMAIN", "nsip",
                         "nsip %s/32" % basic, [], soa="nsip.rpz.")
        # another zone's name server address
        assert_resolves(ask(v, "c.chain3.lab."), "c.chain3.lab.", "A", ["192.0.2.33"])
        assert_resolves(ask(v, "www.glueless.lab."), "www.glueless.lab.", "A",
                        ["192.0.2.60"])
        # stage 1 of the chain (b.chain2.example.): NODATA after one CNAME,
        # resolved and then from the cache
        up.delta()
        for fresh in (True, False):
            assert_rewritten(ask(v, "a.chain1.lab."), "NOERROR", "nsip",
                             "nsip %s/32" % chain2, [A_B], soa="nsip.rpz.")
            if fresh:
                up.some("a.chain1.lab. A, first asked", "chain1")
            else:
                up.none("a.chain1.lab. A, asked again")
        assert_rewritten(ask(v, "www.shop.example."), "NOERROR", "nsip",
                         "nsip %s/32" % chain2, [], soa="nsip.rpz.")
        # zone order: the earlier zone's NSIP rule beats the later zone's QNAME
        # rule (the QNAME decision waits for the answer) ...
        for _ in range(2):
            assert_rewritten(ask(v, "www.basic.lab.", src=C2), "NXDOMAIN", "nsip",
                             "nsip %s/32" % basic, [], soa="nsip.rpz.")
        # ... and where no NSIP rule matches, the later QNAME rule applies
        for _ in range(2):
            assert_rewritten(ask(v, "www.glueless.lab.", src=C2), "NOERROR", "later",
                             "www.glueless.lab", [], soa="later.rpz.")
    finally:
        v.stop()


# ------------------------------------------------------------------ CNAME chain

def test_cname_chain_stages(lab, tmp_path):
    """a.chain1.lab. CNAME b.chain2.example. CNAME c.chain3.lab. A 192.0.2.33"""
    chain = write(tmp_path, "chain.rpz", rpz("chain.rpz.", "c.chain3.lab CNAME ."))
    pas = write(tmp_path, "pass.rpz", rpz("pass.rpz.", "b.chain2.example CNAME rpz-passthru."))
    late = write(tmp_path, "late.rpz", rpz("late.rpz.", "b.chain2.example CNAME *."))
    v = started(lab, tmp_path, policy(
        [source("chain", "rpz", chain), source("pass", "rpz", pas),
         source("late", "rpz", late)],
        [group("block-c", [C1 + "/32"], ["chain"]),
         group("pass-b", [C2 + "/32"], ["pass", "chain"]),
         group("late-b", [C4 + "/32"], ["chain", "late"])]),
        ready_source=C3)
    try:
        # the last name is blocked: NXDOMAIN with the two CNAMEs, resolved
        # and then from the cache
        up = Upstream(lab)
        for fresh in (True, False):
            r = ask(v, "a.chain1.lab.")
            assert_rewritten(r, "NXDOMAIN", "chain", "c.chain3.lab", [A_B, B_C],
                             soa="chain.rpz.")
            if fresh:
                up.some("a.chain1.lab. A, first asked", "chain1")
            else:
                up.none("a.chain1.lab. A, asked again")
        # other types too, and a chain starting in the middle
        r = ask(v, "a.chain1.lab.", "AAAA")
        assert_rewritten(r, "NXDOMAIN", "chain", "c.chain3.lab", [A_B, B_C], soa="chain.rpz.")
        r = ask(v, "b.chain2.example.")
        assert_rewritten(r, "NXDOMAIN", "chain", "c.chain3.lab", [B_C], soa="chain.rpz.")
        # the blocked name itself: stage 0, no CNAME
        r = ask(v, "c.chain3.lab.")
        assert_rewritten(r, "NXDOMAIN", "chain", "c.chain3.lab", [], soa="chain.rpz.")
        # QTYPE CNAME: no chain to follow, the CNAME as it is
        r = ask(v, "a.chain1.lab.", "CNAME")
        assert_rcode(r, "NOERROR")
        assert cnames(r) == [A_B], show(r)
        assert_clean(r)
        # PASSTHRU at an earlier stage (b, in an earlier zone) stops the block of c
        for _ in range(2):
            assert_resolves(ask(v, "a.chain1.lab.", src=C2), "c.chain3.lab.", "A",
                            ["192.0.2.33"])
        # an earlier stage wins over an earlier zone: "late" (second) blocks b
        # with NODATA, "chain" (first) blocks c: b's rule applies
        for _ in range(2):
            r = ask(v, "a.chain1.lab.", src=C4)
            assert_rewritten(r, "NOERROR", "late", "b.chain2.example", [A_B],
                             soa="late.rpz.")
        # a client in no group: the real answer
        r = ask(v, "a.chain1.lab.", src=C3)
        assert_answer(r, "c.chain3.lab.", "A", ["192.0.2.33"])
        assert cnames(r) == [A_B, B_C], show(r)
    finally:
        v.stop()


def test_chain_stage_in_text_log(lab, tmp_path):
    """Without a decision log file, the main log's line names the trigger and
    the stage's name."""
    chain = write(tmp_path, "chain.rpz", rpz("chain.rpz.", "c.chain3.lab CNAME ."))
    v = started(lab, tmp_path, policy([source("chain", "rpz", chain)],
                                      [group("g", [C1 + "/32"], ["chain"])]),
                ready_source=C3)
    try:
        r = ask(v, "a.chain1.lab.")
        assert r.rcode() == dns.rcode.NXDOMAIN, show(r)
        deadline = time.monotonic() + 3
        line = None
        while line is None and time.monotonic() < deadline:
            line = next((x for x in v.log_text().splitlines()
                         if "qname a.chain1.lab." in x and "policy:" in x), None)
            time.sleep(0.05)
        assert line and "qname, at CNAME target c.chain3.lab." in line, (
            line or v.log_tail())
    finally:
        v.stop()
