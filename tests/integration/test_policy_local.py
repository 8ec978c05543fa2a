"""Local data, walled gardens, per-zone overrides, recursive-only and
break-dnssec (RPZ.md 2.2 and 2.5).

* local data: the RRset of the query type (several records of one owner are
  one rule), NODATA for a type the rule has no data for, the EDE and the
  policy zone's SOA as for any rewritten answer;
* a local-data CNAME is followed: the answer is the CNAME and then the
  target's records, resolved in the lab (no policy on the target);
* walled garden: "CNAME *.garden" answers <qname>.garden and resolves it
  (the lab's *.wild.basic.lab wildcard answers it);
* overrides: disabled (logged only, the next source decides), nxdomain,
  nodata, passthru (stops later sources), drop, tcp-only, "cname DOMAIN";
* recursive-only (default yes: RD=0 not rewritten; no: rewritten) and
  break-dnssec (default no for a configured source: DO=1 not rewritten;
  yes: rewritten).

vigil only, in the lab.
"""
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import pytest

from helpers import Upstream, assert_answer, rdatas, rrset, show
from test_policy import (C1, BLOCKED, ask, assert_blocked, assert_clean, edes, group,
                         policy, policy_edes, rpz, source, started, write)

pytestmark = pytest.mark.vigil_only

LOCAL_RULES = [
    "local.lab.test 30 A 10.1.2.3",      # line 5
    "local.lab.test 30 A 10.1.2.4",
    "local.lab.test AAAA 2001:db8::99",
    "local.lab.test TXT \"blocked; see the intranet\"",
    "redirect.lab.test CNAME www.basic.lab.",
    "garden.lab.test CNAME *.wild.basic.lab.",   # line 10
    "*.gardens.lab.test CNAME *.wild.basic.lab.",
    "32.10.2.0.192.rpz-ip A 10.9.9.9",             # RESPONSE-IP with local data
]


@pytest.fixture
def loc(lab, tmp_path):
    path = write(tmp_path, "local.rpz", rpz("local.rpz.", *LOCAL_RULES))
    v = started(lab, tmp_path, policy([source("local", "rpz", path)],
                                      [group("all", ["127.0.0.0/8"], ["local"])]))
    yield v
    v.stop()


def assert_policy_answer(msg, src_name, rule):
    """NOERROR, rewritten by SRC_NAME's RULE (EDE text), the zone SOA added."""
    assert msg.rcode() == dns.rcode.NOERROR, show(msg)
    got = policy_edes(msg)
    assert any(c == BLOCKED and t == "vigil: %s rule %s" % (src_name, rule) for c, t in got), (
        "expected EDE 15 'vigil: %s rule %s', got %s:%s" % (src_name, rule, got, show(msg)))


def test_local_data_by_type(loc):
    r = ask(loc, "local.lab.test.", "A")
    assert_policy_answer(r, "local", "local.lab.test")
    assert sorted(rdatas(r.answer, "local.lab.test.", "A")) == ["10.1.2.3", "10.1.2.4"], show(r)
    assert rrset(r.answer, "local.lab.test.", "A").ttl == 30
    assert rrset(r.additional, "local.rpz.", "SOA") is not None, show(r)
    r = ask(loc, "LOCAL.lab.test.", "AAAA")
    assert_policy_answer(r, "local", "local.lab.test")
    assert rdatas(r.answer, "local.lab.test.", "AAAA") == ["2001:db8::99"], show(r)
    r = ask(loc, "local.lab.test.", "TXT")
    assert rdatas(r.answer, "local.lab.test.", "TXT") == ['"blocked; see the intranet"'], show(r)
    # no MX data: NODATA, still rewritten
    r = ask(loc, "local.lab.test.", "MX")
    assert_policy_answer(r, "local", "local.lab.test")
    assert not r.answer, show(r)


def test_local_cname_is_followed(loc):
    r = ask(loc, "redirect.lab.test.", "A")
    assert_policy_answer(r, "local", "redirect.lab.test")
    assert rdatas(r.answer, "redirect.lab.test.", "CNAME") == ["www.basic.lab."], show(r)
    assert_answer(r, "www.basic.lab.", "A", ["192.0.2.10"])
    # asked for the CNAME itself: just the CNAME
    r = ask(loc, "redirect.lab.test.", "CNAME")
    assert rdatas(r.answer, "redirect.lab.test.", "CNAME") == ["www.basic.lab."], show(r)
    assert rrset(r.answer, "www.basic.lab.", "A") is None, show(r)


def test_walled_garden(loc):
    r = ask(loc, "garden.lab.test.", "A")
    assert_policy_answer(r, "local", "garden.lab.test")
    target = "garden.lab.test.wild.basic.lab."
    assert rdatas(r.answer, "garden.lab.test.", "CNAME") == [target], show(r)
    assert_answer(r, target, "A", ["192.0.2.77"])
    r = ask(loc, "x.gardens.lab.test.", "A")
    assert_policy_answer(r, "local", "*.gardens.lab.test")
    target = "x.gardens.lab.test.wild.basic.lab."
    assert rdatas(r.answer, "x.gardens.lab.test.", "CNAME") == [target], show(r)
    assert_answer(r, target, "A", ["192.0.2.77"])


def test_response_ip_local_data(loc):
    """A RESPONSE-IP rule with local data replaces the answer's address."""
    r = ask(loc, "www.basic.lab.", "A")
    assert_policy_answer(r, "local", "response-ip 192.0.2.10/32")
    assert rdatas(r.answer, "www.basic.lab.", "A") == ["10.9.9.9"], show(r)


# ------------------------------------------------------------------ overrides

def override_vigil(lab, tmp_path, ovr, second=True):
    """Source 'first' (override OVR) blocks x.lab.test with NODATA and
    www.basic.lab with NXDOMAIN; source 'second' blocks x.lab.test (NXDOMAIN)."""
    p1 = write(tmp_path, "first.rpz", rpz("first.rpz.", "x.lab.test CNAME *.",
                                          "www.basic.lab CNAME ."))
    p2 = write(tmp_path, "second.rpz", rpz("second.rpz.", "x.lab.test CNAME ."))
    srcs = [source("first", "rpz", p1, override='"%s"' % ovr)]
    names = ["first"]
    if second:
        srcs.append(source("second", "rpz", p2))
        names.append("second")
    # the group is 127.0.0.1 only: vigil's start-up probe asks from 127.0.0.9
    return started(lab, tmp_path, policy(srcs, [group("c1", [C1 + "/32"], names)]),
                   ready_source="127.0.0.9")


def test_override_disabled_logs_and_next_source_decides(lab, tmp_path):
    v = override_vigil(lab, tmp_path, "disabled")
    try:
        assert_blocked(ask(v, "x.lab.test."), dns.rcode.NXDOMAIN, "second", BLOCKED,
                       "x.lab.test")
        with open(v.log_path) as f:
            log = f.read()
        assert "vigil: first rule x.lab.test (disabled: log only)" in log, log[-3000:]
    finally:
        v.stop()


@pytest.mark.parametrize("ovr,rcode", [("nxdomain", dns.rcode.NXDOMAIN),
                                       ("nodata", dns.rcode.NOERROR)])
def test_override_nxdomain_nodata(lab, tmp_path, ovr, rcode):
    v = override_vigil(lab, tmp_path, ovr, second=False)
    try:
        r = ask(v, "x.lab.test.")
        assert r.rcode() == rcode and not r.answer and policy_edes(r), show(r)
    finally:
        v.stop()


def test_override_passthru_stops_later_sources(lab, tmp_path):
    v = override_vigil(lab, tmp_path, "passthru")
    try:
        r = ask(v, "www.basic.lab.")
        assert_answer(r, "www.basic.lab.", "A", ["192.0.2.10"])
        assert_clean(r)
        r = ask(v, "x.lab.test.")  # the second source's block does not apply either
        assert_clean(r)
    finally:
        v.stop()


def test_override_drop_and_tcp_only(lab, tmp_path):
    v = override_vigil(lab, tmp_path, "drop", second=False)
    try:
        with pytest.raises(dns.exception.Timeout):
            ask(v, "x.lab.test.", timeout=1.0)
    finally:
        v.stop()
    v = override_vigil(lab, tmp_path, "tcp-only", second=False)
    try:
        r = ask(v, "x.lab.test.")
        assert r.flags & dns.flags.TC, show(r)
        r = ask(v, "www.basic.lab.", tcp=True)
        assert_answer(r, "www.basic.lab.", "A", ["192.0.2.10"])
    finally:
        v.stop()


def test_override_cname(lab, tmp_path):
    v = override_vigil(lab, tmp_path, "cname www.basic.lab.", second=False)
    try:
        r = ask(v, "x.lab.test.")
        assert rdatas(r.answer, "x.lab.test.", "CNAME") == ["www.basic.lab."], show(r)
        assert_answer(r, "www.basic.lab.", "A", ["192.0.2.10"])
        assert policy_edes(r), show(r)
    finally:
        v.stop()


# ------------------------------------------------------------------ where rules apply

def flags_vigil(lab, tmp_path, **opts):
    """Source f blocks blocked.lab.test (the signed root denies lab.test),
    www.basic.lab (an unsigned zone) and www.nsec.sec (a signed one)."""
    p = write(tmp_path, "f.rpz", rpz("f.rpz.", "blocked.lab.test CNAME .",
                                     "www.basic.lab CNAME .", "www.nsec.sec CNAME ."))
    return started(lab, tmp_path, policy([source("f", "rpz", p, **opts)],
                                         [group("c1", [C1 + "/32"], ["f"])]),
                   ready_source="127.0.0.9")


def do_query(v, name):
    q = dns.message.make_query(name, "A", want_dnssec=True, payload=1232)
    return v.send(q, tcp=False, timeout=3.0, source=C1)


def test_recursive_only_and_break_dnssec_defaults(lab, tmp_path):
    v = flags_vigil(lab, tmp_path)
    try:
        assert policy_edes(ask(v, "blocked.lab.test."))            # RD=1, DO=0: rewritten
        assert policy_edes(ask(v, "www.nsec.sec."))
        # RD=0: not rewritten when answered from the cache (the start-up probe
        # from 127.0.0.9, in no group, cached www.basic.lab) ...
        up = Upstream(lab)
        r = ask(v, "www.basic.lab.", rd=False)
        assert_answer(r, "www.basic.lab.", "A", ["192.0.2.10"])
        assert_clean(r)
        up.none("RD=0 www.basic.lab. A (cached)")
        # ... but one vigil must resolve is: nothing goes upstream past the policy
        r = ask(v, "blocked.lab.test.", rd=False)
        assert r.rcode() == dns.rcode.NXDOMAIN and policy_edes(r), show(r)
        up.none("RD=0 blocked.lab.test. A (blocked, not cached)")
        # DO=1 and break-dnssec no: rewritten only where the answer has no DNSSEC
        # data (RPZ.md 2.5): the signed root's denial and the signed zone's
        # answer are left alone, the unsigned zone's answer is rewritten
        r = do_query(v, "blocked.lab.test.")
        assert r.rcode() == dns.rcode.NXDOMAIN and not policy_edes(r), show(r)
        r = do_query(v, "www.nsec.sec.")
        assert r.rcode() == dns.rcode.NOERROR and r.answer and not policy_edes(r), show(r)
        r = do_query(v, "www.basic.lab.")
        assert r.rcode() == dns.rcode.NXDOMAIN and policy_edes(r), show(r)
        up.delta()
        r = do_query(v, "www.basic.lab.")  # the same from the cache
        assert r.rcode() == dns.rcode.NXDOMAIN and policy_edes(r), show(r)
        up.none("DO=1 www.basic.lab. A, asked again")
        r = do_query(v, "www.nsec.sec.")
        assert r.answer and not policy_edes(r), show(r)
    finally:
        v.stop()


def test_recursive_only_no_and_break_dnssec_yes(lab, tmp_path):
    v = flags_vigil(lab, tmp_path, **{"recursive-only": "no", "break-dnssec": "yes"})
    try:
        assert policy_edes(ask(v, "blocked.lab.test.", rd=False))
        r = do_query(v, "blocked.lab.test.")
        assert r.rcode() == dns.rcode.NXDOMAIN and policy_edes(r), show(r)
    finally:
        v.stop()


def test_answer_side_rules_honour_disabled_and_break_dnssec(lab, tmp_path):
    """RESPONSE-IP rules decided on the answer follow the same options: a
    disabled source's match is only logged (the next source decides), and a
    DO=1 query is not rewritten by a source without break-dnssec."""
    p1 = write(tmp_path, "first.rpz", rpz("first.rpz.", "32.10.2.0.192.rpz-ip CNAME *."))
    p2 = write(tmp_path, "second.rpz", rpz("second.rpz.", "32.10.2.0.192.rpz-ip CNAME ."))
    v = started(lab, tmp_path, policy(
        [source("first", "rpz", p1, override="disabled"), source("second", "rpz", p2)],
        [group("c1", [C1 + "/32"], ["first", "second"])]), ready_source="127.0.0.9")
    try:
        assert_blocked(ask(v, "www.basic.lab."), dns.rcode.NXDOMAIN, "second", BLOCKED,
                       "response-ip 192.0.2.10/32")
        with open(v.log_path) as f:
            log = f.read()
        assert "vigil: first rule response-ip 192.0.2.10/32 (disabled: log only)" in log, \
            log[-3000:]
        # DO=1, break-dnssec no, but basic.lab is unsigned: rewritten all the same
        assert_blocked(do_query(v, "www.basic.lab."), dns.rcode.NXDOMAIN, "second", BLOCKED,
                       "response-ip 192.0.2.10/32")
    finally:
        v.stop()


# ------------------------------------------------------------------ qname-wait-recurse

@pytest.mark.parametrize("wait,answer_rule,sent", [
    ("no", "32.99.99.99.10.rpz-ip CNAME *.", False),        # the default: never sent
    ("yes", "32.99.99.99.10.rpz-ip CNAME *.", True),        # resolved, then decided
    ("no", "32.99.99.99.10.rpz-ip CNAME rpz-passthru.", True),  # a PASSTHRU could win
])
def test_blocked_names_are_not_sent_upstream(lab, tmp_path, wait, answer_rule, sent):
    """A name a QNAME rule blocks is not resolved -- so a lookup that carries
    data to an attacker's name server never leaves vigil -- unless an earlier
    source has answer-side rules that could let it through (PASSTHRU), or
    qname-wait-recurse asks for the draft's exact precedence."""
    p1 = write(tmp_path, "resp.rpz", rpz("resp.rpz.", answer_rule))
    p2 = write(tmp_path, "q.rpz", rpz("q.rpz.", "*.mail2.basic.lab CNAME ."))
    v = started(lab, tmp_path, policy(
        [source("resp", "rpz", p1), source("q", "rpz", p2)],
        [group("c1", [C1 + "/32"], ["resp", "q"])]) + "  qname-wait-recurse: %s\n" % wait,
        ready_source="127.0.0.9")
    try:
        up = Upstream(lab)
        assert_blocked(ask(v, "c2VjcmV0.mail2.basic.lab."), dns.rcode.NXDOMAIN, "q", BLOCKED,
                       "*.mail2.basic.lab")
        what = "c2VjcmV0.mail2.basic.lab. (qname-wait-recurse %s, %s)" % (wait, answer_rule)
        if sent:
            up.some(what, "basic")  # basic.lab's server was asked for the name
        else:
            up.none(what)
    finally:
        v.stop()


def test_explain_applies_overrides(tmp_path):
    """`vigil explain` says what the worker would do: the source's override
    replaces the rule's action, and a disabled source's match is a note."""
    import subprocess

    import conftest
    zone = write(tmp_path, "t.rpz", rpz("t.rpz.", "bad.example CNAME *."))
    cfgfile = write(tmp_path, "v.yaml", policy(
        [source("d", "rpz", zone, override="disabled"),
         source("t", "rpz", zone, override='"cname walled.example."')],
        [group("all", ["127.0.0.0/8"], ["d", "t"])]))
    r = subprocess.run([conftest.VIGIL_BIN, "explain", "bad.example", "-c", cfgfile],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "decided by source 't'" in out and "%s:5" % zone in out, out
    assert "the rule says NODATA, answered with a CNAME to walled.example." in out, out
    assert "source 'd' has a rule at %s:5 too" % zone in out and "'disabled'" in out, out


def test_local_cname_at_a_later_chain_stage_is_followed(lab, tmp_path):
    """a.chain1.lab -> b.chain2.example -> c.chain3.lab in the lab; a local
    CNAME for the second name redirects the chain there: the answer keeps the
    first CNAME, then the policy's, then the redirect target's records --
    fresh and from the cache."""
    p = write(tmp_path, "r.rpz", rpz("r.rpz.", "b.chain2.example CNAME www.basic.lab."))
    v = started(lab, tmp_path, policy([source("r", "rpz", p)],
                                      [group("c1", [C1 + "/32"], ["r"])]),
                ready_source="127.0.0.9")
    try:
        up = Upstream(lab)
        for fresh in (True, False):
            r = ask(v, "a.chain1.lab.", "A")
            if fresh:
                up.some("a.chain1.lab. A, first asked", "chain1")
            else:
                up.none("a.chain1.lab. A, asked again")
            assert_policy_answer(r, "r", "b.chain2.example")
            assert rdatas(r.answer, "a.chain1.lab.", "CNAME") == ["b.chain2.example."], show(r)
            assert rdatas(r.answer, "b.chain2.example.", "CNAME") == ["www.basic.lab."], show(r)
            assert_answer(r, "www.basic.lab.", "A", ["192.0.2.10"])
            assert rrset(r.answer, "c.chain3.lab.", "A") is None, show(r)
    finally:
        v.stop()
