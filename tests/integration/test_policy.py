"""The policy engine: RPZ zones and blocklists applied
before the cache, per client group.

What is tested (the config's `policy:` section, see the fixtures below):

* RPZ QNAME triggers, exact and `*.` wildcard (exact beats wildcard, the
  longest wildcard wins, `*.x` does not match `x`), and CLIENT-IP triggers
  (which beat QNAME triggers of the same zone);
* the actions NXDOMAIN (`CNAME .`), NODATA (`CNAME *.`), DROP
  (`CNAME rpz-drop.`), TCP-only (`CNAME rpz-tcp-only.`) and PASSTHRU
  (`CNAME rpz-passthru.`);
* precedence between sources: the earlier source's rule wins, and an earlier
  PASSTHRU (or adblock allow rule) stops the later sources -- but a later
  allow rule does not undo an earlier block;
* hosts / domains / adblock lists: an entry blocks the name and everything
  below it, with the source's `action` and `ede`;
* client groups by source address (127.0.0.1, 127.0.0.2, and 127.0.0.3 in
  no group at all), and the allowlist mode;
* every rewritten answer carries an RFC 8914 Extended DNS Error: the source's
  code (15 by default) and the text "vigil: <source> rule <owner>", plus the
  policy zone's SOA in the additional section for RPZ sources;
* RD=0 queries are not rewritten;
* start-up: a missing file or a zone without SOA refuses the start and names
  the file, unless the source is `optional: yes` (then a warning); a bad
  record is logged as FILE:LINE and the rest of the zone still applies.

Every vigil here is a test_daemon.Custom (the lab's root hints and trust
anchor) with a `policy:` section appended.  The resolver listens on
127.0.0.1; the tests ask from 127.0.0.1, 127.0.0.2 or 127.0.0.3 by binding
the client socket's source address.  vigil only.
"""
import os
import re
import signal
import struct
import subprocess
import time

import dns.flags
import dns.message
import dns.rcode
import pytest

import conftest
from helpers import Upstream, assert_answer, assert_rcode, rrset, show, udp_raw, wait_log
from test_daemon import Custom

pytestmark = pytest.mark.vigil_only

C1, C2, C3 = "127.0.0.1", "127.0.0.2", "127.0.0.3"  # client source addresses
EDE = 15  # EDNS option code of RFC 8914 Extended DNS Errors
BLOCKED, CENSORED, FILTERED = 15, 16, 17  # EDE INFO-CODEs


# ------------------------------------------------------------------ files and configs

def rpz(apex, *rules):
    """An RPZ zone file: SOA and NS at APEX, then RULES (owner names relative
    to the apex).  Returns the text; the rule on line N of the result is
    RULES[N - 5]."""
    return ("$ORIGIN %s\n$TTL 300\n"
            "@ IN SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n"
            "@ IN NS localhost.\n" % apex) + "".join(r + "\n" for r in rules)


def write(directory, name, text):
    """Write TEXT to DIRECTORY/NAME; the absolute path."""
    path = os.path.join(str(directory), name)
    with open(path, "w") as f:
        f.write(text)
    return path


def source(name, type_, path, **opts):
    """One `policy.sources` entry (YAML)."""
    out = "    - name: %s\n      type: %s\n      file: \"%s\"\n" % (name, type_, path)
    for k, v in opts.items():
        out += "      %s: %s\n" % (k, v)
    return out


def group(name, clients, sources, allowlist=None):
    """One `policy.groups` entry (YAML)."""
    out = "    - name: %s\n      clients: [ %s ]\n      sources: [ %s ]\n" % (
        name, ", ".join('"%s"' % c for c in clients), ", ".join(sources))
    if allowlist is not None:
        out += "      allowlist: %s\n" % allowlist
    return out


def policy(sources, groups):
    return "policy:\n  sources:\n%s  groups:\n%s" % ("".join(sources), "".join(groups))


class PolicyVigil(Custom):
    """A Custom vigil with a `policy:` section.  The ACL lets all of 127/8 in.
    It counts as started once READY_SOURCE gets an answer for www.basic.lab.
    (pick a client and a config for which that name is not blocked)."""

    def __init__(self, workdir, lab, policy_text, ready_source=C1):
        super().__init__(str(workdir), lab, '  access-control: [ "127.0.0.0/8 allow" ]\n')
        self.policy = policy_text
        self.ready_source = ready_source

    def text(self, extra=None):
        return super().text(extra) + self.policy

    def ready(self):
        """(conftest.Resolver.start() polls it) READY_NAME resolves for READY_SOURCE."""
        r = self.query(conftest.READY_NAME, "A", timeout=0.5, source=self.ready_source)
        return (r.rcode() == dns.rcode.NOERROR and bool(r.answer),
                "%s answered %s" % (self.ready_source, dns.rcode.to_text(r.rcode())))


def started(lab, workdir, policy_text, ready_source=C1):
    v = PolicyVigil(workdir, lab, policy_text, ready_source)
    try:
        v.start()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    return v


# ------------------------------------------------------------------ asking and checking

def ask(v, name, rdtype="A", src=C1, tcp=False, rd=True, timeout=3.0):
    q = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
    if not rd:
        q.flags &= ~dns.flags.RD
    return v.send(q, tcp=tcp, timeout=timeout, source=src)


def edes(msg):
    """[(info-code, extra-text)] of the EDE options in MSG."""
    out = []
    for o in msg.options:
        if o.otype != EDE:
            continue
        if hasattr(o, "code"):
            out.append((int(o.code), o.text or ""))
        else:
            data = o.to_wire() if hasattr(o, "to_wire") else o.data
            out.append((struct.unpack("!H", data[:2])[0],
                        data[2:].decode("utf-8", "replace")))
    return out


def policy_edes(msg):
    """The EDEs that look like vigil's policy ones (text "vigil: ...")."""
    return [(c, t) for c, t in edes(msg) if t.startswith("vigil:")]


def assert_blocked(msg, rcode, src_name, code, name, soa=None):
    """A policy answer: RCODE, no answer records, an EDE of CODE whose text
    starts with "vigil: SRC_NAME" and contains NAME, and (RPZ sources) the
    policy zone SOA of zone SOA in the additional section."""
    assert_rcode(msg, rcode)
    assert not msg.answer, "a blocked answer with answer records:%s" % show(msg)
    got = edes(msg)
    want = name.rstrip(".").lower()
    ok = [(c, t) for c, t in got
          if c == code and t.startswith("vigil: " + src_name) and want in t.lower()]
    assert ok, ("expected an EDE %d \"vigil: %s ... %s ...\", got %s:%s"
                % (code, src_name, want, got or "no EDE", show(msg)))
    if soa is not None:
        assert rrset(msg.additional, soa, "SOA") is not None, (
            "no SOA of the policy zone %s in the additional section:%s" % (soa, show(msg)))


def assert_clean(msg):
    """Not rewritten by policy: no policy EDE."""
    assert not policy_edes(msg), "a policy EDE on an answer not rewritten:%s" % show(msg)


def assert_resolves(msg, name, rdtype, expected):
    assert_answer(msg, name, rdtype, expected)
    assert_clean(msg)


def assert_nodata(msg, src_name, code, name, soa=None):
    assert_blocked(msg, "NOERROR", src_name, code, name, soa)


TXT = ['"v=lab1 hello" "second string"']  # txt.basic.lab. TXT


# ------------------------------------------------------------------ RPZ zones, groups

# Group A (127.0.0.1): lab-first, then lab-block.  Group B (127.0.0.2): other.
# 127.0.0.3 is in no group.
LAB_FIRST = ("first.rpz.", [
    "mail.basic.lab        IN CNAME rpz-passthru.",  # stops lab-block's NXDOMAIN
    "pipe5.basic.lab       IN CNAME .",              # beats lab-block's NODATA
])
LAB_BLOCK = ("lab-block.rpz.", [
    "mail.basic.lab        IN CNAME .",
    "pipe5.basic.lab       IN CNAME *.",
    "txt.basic.lab         IN CNAME .",              # NXDOMAIN
    "mail2.basic.lab       IN CNAME *.",             # NODATA
    "stats.basic.lab       IN CNAME rpz-drop.",      # DROP
    "edns.basic.lab        IN CNAME rpz-tcp-only.",  # TCP-only
    "*.wild.basic.lab      IN CNAME .",              # wildcard NXDOMAIN
    "ok.wild.basic.lab     IN CNAME rpz-passthru.",  # exact PASSTHRU beats it
    "nd.wild.basic.lab     IN CNAME *.",             # exact NODATA beats it
    "*.deep.wild.basic.lab IN CNAME *.",             # longer wildcard: NODATA
])
OTHER = ("other.rpz.", [
    "v4only.basic.lab      IN CNAME .",
])


@pytest.fixture(scope="module")
def pol(lab, tmp_path_factory):
    d = tmp_path_factory.mktemp("policy-main")
    files = {n: write(d, n + ".rpz", rpz(apex, *rules))
             for n, (apex, rules) in (("lab-first", LAB_FIRST), ("lab-block", LAB_BLOCK),
                                      ("other", OTHER))}
    text = policy(
        [source("lab-first", "rpz", files["lab-first"], ede=16),
         source("lab-block", "rpz", files["lab-block"]),
         source("other", "rpz", files["other"], ede=17)],
        [group("group-a", [C1 + "/32"], ["lab-first", "lab-block"]),
         group("group-b", [C2 + "/32"], ["other"])])
    v = started(lab, d, text)
    yield v
    v.stop()


def test_nxdomain_action_ede_and_soa(pol):
    for rdtype in ("TXT", "A"):
        r = ask(pol, "txt.basic.lab.", rdtype)
        assert_blocked(r, "NXDOMAIN", "lab-block", BLOCKED, "txt.basic.lab", soa="lab-block.rpz.")


def test_nodata_action(pol):
    r = ask(pol, "mail2.basic.lab.", "A")
    assert_nodata(r, "lab-block", BLOCKED, "mail2.basic.lab", soa="lab-block.rpz.")


def test_drop_action(pol):
    q = dns.message.make_query("stats.basic.lab.", "A", use_edns=0, payload=1232)
    reply = udp_raw(pol.addr, pol.port, q.to_wire(), timeout=1.0, source=C1)
    assert reply is None, "rpz-drop: expected no response, got:%s" % show(
        dns.message.from_wire(reply))
    # still serving
    assert_resolves(ask(pol, "www.basic.lab."), "www.basic.lab.", "A", ["192.0.2.10"])


def test_tcp_only_action(pol):
    r = ask(pol, "edns.basic.lab.", "A")
    assert r.flags & dns.flags.TC, "rpz-tcp-only over UDP: expected TC=1:%s" % show(r)
    r = ask(pol, "edns.basic.lab.", "A", tcp=True)
    assert_resolves(r, "edns.basic.lab.", "A", ["192.0.2.17"])
    assert not r.flags & dns.flags.TC, show(r)


def test_passthru_in_first_source_stops_later_sources(pol):
    # lab-block says NXDOMAIN for mail.basic.lab, lab-first (earlier) PASSTHRU
    r = ask(pol, "mail.basic.lab.", "A")
    assert_resolves(r, "mail.basic.lab.", "A", ["192.0.2.25"])


def test_earlier_source_wins(pol):
    # lab-first: NXDOMAIN (EDE 16), lab-block: NODATA
    r = ask(pol, "pipe5.basic.lab.", "A")
    assert_blocked(r, "NXDOMAIN", "lab-first", CENSORED, "pipe5.basic.lab", soa="first.rpz.")


def test_wildcard_and_exact(pol):
    # the wildcard blocks a name that exists in the lab (via *.wild.basic.lab)
    r = ask(pol, "x.wild.basic.lab.", "A")
    assert_blocked(r, "NXDOMAIN", "lab-block", BLOCKED, "wild.basic.lab", soa="lab-block.rpz.")
    # an exact rule beats the wildcard: PASSTHRU, NODATA
    assert_resolves(ask(pol, "ok.wild.basic.lab."), "ok.wild.basic.lab.", "A", ["192.0.2.77"])
    r = ask(pol, "nd.wild.basic.lab.", "A")
    assert_nodata(r, "lab-block", BLOCKED, "nd.wild.basic.lab", soa="lab-block.rpz.")
    # the longer wildcard wins: *.deep.wild (NODATA) over *.wild (NXDOMAIN)
    r = ask(pol, "a.deep.wild.basic.lab.", "A")
    assert_nodata(r, "lab-block", BLOCKED, "deep.wild.basic.lab", soa="lab-block.rpz.")
    # *.wild.basic.lab does not match wild.basic.lab itself (an empty non-terminal)
    r = ask(pol, "wild.basic.lab.", "A")
    assert r.rcode() != dns.rcode.NXDOMAIN, show(r)
    assert_clean(r)


def test_unmatched_names_resolve(pol):
    assert_resolves(ask(pol, "www.basic.lab."), "www.basic.lab.", "A", ["192.0.2.10"])
    assert_resolves(ask(pol, "www.basic.lab.", "AAAA"), "www.basic.lab.", "AAAA",
                    ["2001:db8::10"])
    assert_resolves(ask(pol, "a.chain1.lab."), "c.chain3.lab.", "A", ["192.0.2.33"])


def test_client_groups_before_the_cache(pol):
    # 127.0.0.2 (group B, no rule for txt) fills the cache first ...
    assert_resolves(ask(pol, "txt.basic.lab.", "TXT", src=C2), "txt.basic.lab.", "TXT", TXT)
    up = Upstream(pol.lab)
    # ... 127.0.0.1 (group A) is still blocked: policy applies before the cache
    assert_blocked(ask(pol, "txt.basic.lab.", "TXT", src=C1), "NXDOMAIN", "lab-block",
                   BLOCKED, "txt.basic.lab", soa="lab-block.rpz.")
    # (the name was in the cache: 127.0.0.3, in no group, gets it from there)
    assert_resolves(ask(pol, "txt.basic.lab.", "TXT", src=C3), "txt.basic.lab.", "TXT", TXT)
    up.none("txt.basic.lab. TXT, cached by 127.0.0.2, asked by 127.0.0.1 and .3")
    # and the other way round: group B's rule, cached for group A first
    assert_resolves(ask(pol, "v4only.basic.lab.", src=C1), "v4only.basic.lab.", "A",
                    ["192.0.2.11"])
    assert_blocked(ask(pol, "v4only.basic.lab.", src=C2), "NXDOMAIN", "other", FILTERED,
                   "v4only.basic.lab", soa="other.rpz.")
    # 127.0.0.3 is in no group: no policy at all
    assert_resolves(ask(pol, "txt.basic.lab.", "TXT", src=C3), "txt.basic.lab.", "TXT", TXT)
    assert_resolves(ask(pol, "v4only.basic.lab.", src=C3), "v4only.basic.lab.", "A",
                    ["192.0.2.11"])
    r = ask(pol, "mail2.basic.lab.", src=C3)
    assert_resolves(r, "mail2.basic.lab.", "A", ["192.0.2.26"])


def test_startup_log_says_who_gets_which_sources(pol):
    """At start-up, one log line per client group: its name, client prefixes,
    sources in order, and whether it is an allowlist."""
    for want in ("policy: group 'group-a': clients 127.0.0.1/32; sources lab-first, "
                 "lab-block; allowlist no",
                 "policy: group 'group-b': clients 127.0.0.2/32; sources other; allowlist no"):
        assert wait_log(pol, re.escape(want)), "no line '%s' in the log:\n%s" % (
            want, pol.log_tail())
    assert not wait_log(pol, "apply to no client|applies to no client", timeout=0), (
        pol.log_tail())


def test_sources_for_no_client_are_a_warning(lab, tmp_path):
    """Sources that no group (with clients) lists apply to nobody: valid, but
    --check-config warns (exit status 0) and names them, and so does the
    start-up log -- for a policy without groups and for sources left out."""
    a = write(tmp_path, "a.rpz", rpz("a.rpz.", "txt.basic.lab IN CNAME ."))
    b = write(tmp_path, "b.rpz", rpz("b.rpz.", "mail2.basic.lab IN CNAME ."))
    cases = [
        (policy([source("a", "rpz", a), source("b", "rpz", b)], []).replace(
            "  groups:\n", ""), "sources 'a', 'b' apply to no client: the policy section "
         "has no groups"),
        (policy([source("a", "rpz", a), source("b", "rpz", b)],
                [group("g", [C1 + "/32"], ["a"])]),
         "source 'b' applies to no client: no group with clients lists it"),
    ]
    for text, want in cases:
        v = PolicyVigil(tmp_path, lab, text)
        v.write_config()
        r = subprocess.run([conftest.VIGIL_BIN, "--check-config", v.config_path],
                           capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        out = r.stdout + r.stderr
        assert r.returncode == 0, "a warning must not fail --check-config:\n" + out
        assert "%s: warning: policy: %s" % (v.config_path, want) in out, out
        assert "configuration is valid" in out, out
        v = started(lab, tmp_path, text)
        try:
            line = wait_log(v, re.escape(want))
            assert line and "[warning]" in line, "no warning '%s' in the log:\n%s" % (
                want, v.log_tail())
        finally:
            v.stop()
    # every source used: no warning
    text = policy([source("a", "rpz", a)], [group("g", [C1 + "/32"], ["a"])])
    v = PolicyVigil(tmp_path, lab, text)
    v.write_config()
    r = subprocess.run([conftest.VIGIL_BIN, "--check-config", v.config_path],
                       capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and "warning" not in r.stdout + r.stderr, r.stdout + r.stderr


def test_rd0_not_rewritten(pol):
    """recursive-only (the default): an RD=0 query answered from the cache is
    not rewritten; one vigil would have to resolve is (nothing goes upstream
    past the policy)."""
    ask(pol, "txt.basic.lab.", "TXT", src=C2)  # group B has no rule for it: cached
    up = Upstream(pol.lab)
    r = ask(pol, "txt.basic.lab.", "TXT", rd=False)
    assert_resolves(r, "txt.basic.lab.", "TXT", TXT)  # the data, not rewritten
    up.none("RD=0 txt.basic.lab. TXT (cached)")
    r = ask(pol, "x.deep.wild.basic.lab.", "A", rd=False)  # not cached
    assert r.rcode() == dns.rcode.NOERROR and not r.answer and policy_edes(r), show(r)
    up.none("RD=0 x.deep.wild.basic.lab. A (not cached, blocked)")


# ------------------------------------------------------------------ CLIENT-IP

CIP = ("cip.rpz.", [
    "32.1.0.0.127.rpz-client-ip IN CNAME .",   # everything for 127.0.0.1
    "www.basic.lab              IN CNAME rpz-passthru.",  # loses to CLIENT-IP
    "mail.basic.lab             IN CNAME .",
])


def test_client_ip_trigger(lab, tmp_path):
    path = write(tmp_path, "cip.rpz", rpz(CIP[0], *CIP[1]))
    v = started(lab, tmp_path, policy([source("cip", "rpz", path)],
                                      [group("all", ["127.0.0.0/8"], ["cip"])]),
                ready_source=C2)
    try:
        # 127.0.0.1: everything blocked, also a name with a QNAME PASSTHRU rule
        for name, rdtype in (("www.basic.lab.", "A"), ("txt.basic.lab.", "TXT"),
                             ("a.chain1.lab.", "A")):
            r = ask(v, name, rdtype, src=C1)
            assert_blocked(r, "NXDOMAIN", "cip", BLOCKED, "client-ip 127.0.0.1/32",
                           soa="cip.rpz.")
            assert (BLOCKED, "vigil: cip rule client-ip 127.0.0.1/32") in edes(r), show(r)
        # 127.0.0.2: only the QNAME rules
        assert_resolves(ask(v, "www.basic.lab.", src=C2), "www.basic.lab.", "A", ["192.0.2.10"])
        assert_resolves(ask(v, "txt.basic.lab.", "TXT", src=C2), "txt.basic.lab.", "TXT", TXT)
        assert_blocked(ask(v, "mail.basic.lab.", src=C2), "NXDOMAIN", "cip", BLOCKED,
                       "mail.basic.lab", soa="cip.rpz.")
    finally:
        v.stop()


# ------------------------------------------------------------------ lists

def test_list_sources(lab, tmp_path):
    ads = write(tmp_path, "ads.txt", "! adblock list\n[Adblock Plus 2.0]\n"
                "@@||pipe1.basic.lab^\n||pipe2.basic.lab^\n")
    hosts = write(tmp_path, "hosts", "# hosts\n127.0.0.1 localhost\n"
                  "0.0.0.0 pipe1.basic.lab\n0.0.0.0 pipe3.basic.lab ent.basic.lab\n")
    doms = write(tmp_path, "domains.txt", "# domains\npipe4.basic.lab\nwild.basic.lab\n")
    late = write(tmp_path, "late.txt", "@@||pipe3.basic.lab^\n")
    v = started(lab, tmp_path, policy(
        [source("ads", "adblock", ads),
         source("hosts", "hosts", hosts, ede=17),
         source("doms", "domains", doms, action="nodata"),
         source("late-allow", "adblock", late)],
        [group("lists", [C1 + "/32"], ["ads", "hosts", "doms", "late-allow"])]))
    try:
        # an allow rule in an earlier source overrides a later source's block
        assert_resolves(ask(v, "pipe1.basic.lab."), "pipe1.basic.lab.", "A", ["192.0.2.41"])
        # adblock block: the name and its subdomains
        assert_blocked(ask(v, "pipe2.basic.lab."), "NXDOMAIN", "ads", BLOCKED,
                       "pipe2.basic.lab")
        assert_blocked(ask(v, "x.pipe2.basic.lab."), "NXDOMAIN", "ads", BLOCKED,
                       "pipe2.basic.lab")
        # hosts (EDE 17); a later source's allow rule does not undo it
        assert_blocked(ask(v, "pipe3.basic.lab."), "NXDOMAIN", "hosts", FILTERED,
                       "pipe3.basic.lab")
        # a subdomain of a hosts entry (deep.a.ent.basic.lab exists in the lab)
        assert_blocked(ask(v, "deep.a.ent.basic.lab."), "NXDOMAIN", "hosts", FILTERED,
                       "ent.basic.lab")
        # domains list with action nodata: the name and below
        assert_nodata(ask(v, "pipe4.basic.lab."), "doms", BLOCKED, "pipe4.basic.lab")
        assert_nodata(ask(v, "wild.basic.lab."), "doms", BLOCKED, "wild.basic.lab")
        assert_nodata(ask(v, "a.wild.basic.lab."), "doms", BLOCKED, "wild.basic.lab")
        # not listed; and a client in no group gets no policy
        assert_resolves(ask(v, "www.basic.lab."), "www.basic.lab.", "A", ["192.0.2.10"])
        assert_resolves(ask(v, "pipe3.basic.lab.", src=C3), "pipe3.basic.lab.", "A",
                        ["192.0.2.43"])
    finally:
        v.stop()


# ------------------------------------------------------------------ allowlist mode

def test_allowlist_mode(lab, tmp_path):
    zone = write(tmp_path, "allow.rpz", rpz("allow.rpz.",
                                            "www.basic.lab    IN CNAME rpz-passthru.",
                                            "*.wild.basic.lab IN CNAME rpz-passthru."))
    ads = write(tmp_path, "allow.txt", "@@||mail.basic.lab^\n")
    v = started(lab, tmp_path, policy(
        [source("allow-rpz", "rpz", zone), source("allow-ads", "adblock", ads)],
        [group("kids", [C1 + "/32"], ["allow-rpz", "allow-ads"], allowlist="yes")]))
    try:
        assert_resolves(ask(v, "www.basic.lab."), "www.basic.lab.", "A", ["192.0.2.10"])
        assert_resolves(ask(v, "x.wild.basic.lab."), "x.wild.basic.lab.", "A", ["192.0.2.77"])
        assert_resolves(ask(v, "mail.basic.lab."), "mail.basic.lab.", "A", ["192.0.2.25"])
        # everything else: NXDOMAIN with EDE 15, and logged
        for name, rdtype in (("txt.basic.lab.", "TXT"), ("mail2.basic.lab.", "A"),
                             ("a.chain1.lab.", "A")):
            r = ask(v, name, rdtype)
            assert_rcode(r, "NXDOMAIN")
            assert not r.answer, show(r)
            assert BLOCKED in [c for c, _ in edes(r)], "no EDE 15:%s" % show(r)
        assert wait_log(v, re.escape("txt.basic.lab")), (
            "the refused name is not in the log:\n" + v.log_tail())
        # a client in no group is not restricted
        assert_resolves(ask(v, "txt.basic.lab.", "TXT", src=C2), "txt.basic.lab.", "TXT", TXT)
    finally:
        v.stop()


# ------------------------------------------------------------------ loading

def refused_start(v):
    """Run vigil on V's config; (exit status, output).  Fails if it keeps running."""
    v.write_config()
    try:
        r = subprocess.run([conftest.VIGIL_BIN, "-c", v.config_path], capture_output=True,
                           text=True, timeout=3, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:  # run() killed it
        pytest.fail("vigil started despite a broken policy file; output:\n%s"
                    % ((e.stdout or b"").decode(errors="replace")
                       + (e.stderr or b"").decode(errors="replace")), pytrace=False)
    # a refused start: no exit status 0 expected, but no sanitizer report either
    conftest.assert_no_sanitizer_report(r.stdout + r.stderr, "vigil -c " + v.config_path)
    return r.returncode, r.stdout + r.stderr


BROKEN = {
    # an RPZ zone without SOA
    "no-soa": ("rpz", "nosoa.rpz", "$ORIGIN nosoa.rpz.\n$TTL 300\n"
               "txt.basic.lab IN CNAME .\n"),
    "missing-rpz": ("rpz", "missing.rpz", None),
    "missing-list": ("hosts", "missing.hosts", None),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_file_refuses_start(lab, tmp_path, case):
    type_, fname, text = BROKEN[case]
    path = write(tmp_path, fname, text) if text is not None else str(tmp_path / fname)
    v = PolicyVigil(tmp_path, lab, policy([source("broken", type_, path)],
                                          [group("g", [C1 + "/32"], ["broken"])]))
    rc, out = refused_start(v)
    assert rc != 0, "vigil exited 0 on a broken policy file:\n" + out
    assert path in out, "the start-up error does not name %s:\n%s" % (path, out)


NO_ORIGIN = ("$TTL 300\n"
             "@ IN SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n"  # line 2
             "@ IN NS localhost.\n"
             "txt.basic.lab IN CNAME .\n")


def test_zone_file_without_origin_needs_the_zone_key(lab, tmp_path):
    """An RPZ file without $ORIGIN does not say which zone it is.  Without the
    source's `zone` key vigil does not start and names the file's first
    record (FILE:LINE) -- it used to read such a file as a zone named ".",
    whose SOA then went into rewritten answers; with `zone` the file loads as
    that zone; a `zone` that disagrees with the file's $ORIGIN is an error."""
    path = write(tmp_path, "noorigin.rpz", NO_ORIGIN)
    groups = [group("g", [C1 + "/32"], ["no-origin"])]
    v = PolicyVigil(tmp_path, lab, policy([source("no-origin", "rpz", path)], groups))
    rc, out = refused_start(v)
    assert rc != 0, "vigil started on an RPZ file without $ORIGIN and no zone:\n" + out
    assert "%s:2: no $ORIGIN" % path in out, out

    v = started(lab, tmp_path, policy([source("no-origin", "rpz", path, zone="noorigin.rpz")],
                                      groups))
    try:
        r = ask(v, "txt.basic.lab.", "TXT")
        assert_blocked(r, "NXDOMAIN", "no-origin", BLOCKED, "txt.basic.lab", soa="noorigin.rpz.")
        assert rrset(r.additional, ".", "SOA") is None, show(r)
    finally:
        v.stop()

    other = write(tmp_path, "other.rpz", rpz("other.rpz.", "txt.basic.lab IN CNAME ."))
    v = PolicyVigil(tmp_path, lab, policy([source("no-origin", "rpz", other, zone="else.rpz")],
                                          groups))
    rc, out = refused_start(v)
    assert rc != 0, "vigil started on a zone file whose $ORIGIN is not its zone:\n" + out
    assert ("%s:1: $ORIGIN other.rpz. before the SOA, but its source's 'zone' is else.rpz."
            % other) in out, out


@pytest.mark.parametrize("case", ["no-soa", "missing-rpz"])
def test_optional_broken_file_is_a_warning(lab, tmp_path, case):
    type_, fname, text = BROKEN[case]
    path = write(tmp_path, fname, text) if text is not None else str(tmp_path / fname)
    good = write(tmp_path, "good.rpz", rpz("good.rpz.", "mail2.basic.lab IN CNAME ."))
    v = started(lab, tmp_path, policy(
        [source("broken", type_, path, optional="yes"), source("good", "rpz", good)],
        [group("g", [C1 + "/32"], ["broken", "good"])]))
    try:
        # a message naming the file (its wording and log level are not checked:
        # vigil writes start-up messages before its logger is up)
        assert wait_log(v, re.escape(path)), (
            "no warning naming %s in the log:\n%s" % (path, v.log_tail()))
        # the other source applies, the broken one blocks nothing
        assert_blocked(ask(v, "mail2.basic.lab."), "NXDOMAIN", "good", BLOCKED,
                       "mail2.basic.lab", soa="good.rpz.")
        assert_resolves(ask(v, "txt.basic.lab.", "TXT"), "txt.basic.lab.", "TXT", TXT)
    finally:
        v.stop()


def test_bad_record_logged_with_file_and_line(lab, tmp_path):
    rules = [
        "txt.basic.lab              IN CNAME .",
        "8.2.0.0.10.rpz-client-ip   IN CNAME .",    # bits set beyond the prefix
        "33.1.0.0.127.rpz-client-ip IN CNAME .",    # IPv4 prefix above 32
        "mail2.basic.lab            IN CNAME *.",
    ]
    path = write(tmp_path, "bad.rpz", rpz("bad.rpz.", *rules))
    bad_lines = [i + 5 for i, r in enumerate(rules) if "rpz-client-ip" in r]
    with open(path) as f:
        lines = f.read().splitlines()
    assert all("rpz-client-ip" in lines[n - 1] for n in bad_lines)  # the helper's layout
    v = started(lab, tmp_path, policy([source("bad", "rpz", path)],
                                      [group("g", [C1 + "/32"], ["bad"])]))
    try:
        for n in bad_lines:
            assert wait_log(v, re.escape(path) + ":%d\\b" % n), (
                "no error reported as %s:%d in the log:\n%s" % (path, n, v.log_tail()))
        # the rest of the zone applies (before and after the bad records) ...
        assert_blocked(ask(v, "txt.basic.lab.", "TXT"), "NXDOMAIN", "bad", BLOCKED,
                       "txt.basic.lab", soa="bad.rpz.")
        assert_nodata(ask(v, "mail2.basic.lab."), "bad", BLOCKED, "mail2.basic.lab",
                      soa="bad.rpz.")
        # ... and the bad CLIENT-IP rules block nobody
        assert_resolves(ask(v, "www.basic.lab."), "www.basic.lab.", "A", ["192.0.2.10"])
    finally:
        v.stop()


def test_explain_names_source_file_and_line(tmp_path):
    """`vigil explain` loads the policy of a config and prints which rule, in
    which source at which FILE:LINE, decides a name for a client."""
    zone = tmp_path / "x.rpz"
    zone.write_text("$TTL 300\n$ORIGIN x.rpz.\n@ SOA localhost. root.localhost. 1 3600 600 86400 60\n"
                    "  NS localhost.\nbad.example CNAME .\n*.wild.example CNAME *.\n"
                    "32.1.0.0.127.rpz-client-ip CNAME rpz-drop.\n")
    cfgfile = tmp_path / "v.yaml"
    cfgfile.write_text("policy:\n  sources:\n    - name: x\n      file: %s\n  groups:\n"
                       "    - name: lab\n      clients: [ \"127.0.0.0/8\" ]\n      sources: [ x ]\n"
                       % zone)

    def explain(*args):
        r = subprocess.run([conftest.VIGIL_BIN, "explain", *args, "-c", str(cfgfile)],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    out = explain("bad.example", "--client", "127.0.0.2")
    assert "source 'x'" in out and "%s:5" % zone in out and "NXDOMAIN" in out, out
    out = explain("a.b.wild.example", "--client", "127.0.0.2")
    assert "%s:6" % zone in out and "*.wild.example" in out and "NODATA" in out, out
    out = explain("good.example", "--client", "127.0.0.2")
    assert "no rule matches" in out, out
    out = explain("good.example", "--client", "127.0.0.1")  # CLIENT-IP wins
    assert "CLIENT-IP" in out and "%s:7" % zone in out and "DROP" in out, out
    out = explain("bad.example", "--client", "192.0.2.1")
    assert "no client group" in out, out
    out = explain("bad.example", "--client", "127.0.0.2", "--type", "https")
    assert out.startswith("bad.example. HTTPS from client"), out  # the mnemonic, normalised
    for bad in (["--type", "NOSUCHTYPE"], ["--type", "TYPE70000"], ["--client", "300.1.1.1"]):
        r = subprocess.run([conftest.VIGIL_BIN, "explain", "bad.example", *bad, "-c", str(cfgfile)],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and "vigil explain:" in r.stderr, (bad, r.stdout, r.stderr)


# ------------------------------------------------------------------ the decision log

def test_json_decision_log_and_rotation(lab, tmp_path):
    """policy.log: one JSON line per decision (time, client address and port,
    transport, group, qname, qtype, source, trigger, matched rule, action,
    EDE); plain passes are not logged; SIGHUP reopens the file (rotation)."""
    import json
    zone = write(tmp_path, "j.rpz", rpz("j.rpz.", "blocked.basic.lab CNAME .",
                                        "*.wild.basic.lab CNAME *."))
    logf = os.path.join(str(tmp_path), "decisions.jsonl")
    text = policy([source("jz", "rpz", zone, ede=16)], [group("all", ["127.0.0.0/8"], ["jz"])])
    text = text.replace("policy:\n", "policy:\n  log: \"%s\"\n" % logf, 1)
    v = started(lab, tmp_path, text)
    try:
        assert_blocked(ask(v, "blocked.basic.lab.", src=C2), "NXDOMAIN", "jz", 16,
                       "blocked.basic.lab", soa="j.rpz.")
        ask(v, "x.wild.basic.lab.", "AAAA", src=C1, tcp=True)
        assert_clean(ask(v, "www.basic.lab."))  # a pass: not logged

        def lines(path, want):
            got = []
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                if os.path.exists(path):
                    with open(path) as f:
                        got = [json.loads(x) for x in f if x.strip()]
                    if len(got) >= want:
                        break
                time.sleep(0.05)
            return got
        got = lines(logf, 2)
        assert len(got) == 2, got
        a, b = got
        assert a["client"] == C2 and a["transport"] == "udp" and a["port"] > 0, a
        assert a["group"] == "all" and a["qname"] == "blocked.basic.lab." and a["qtype"] == "A", a
        assert a["source"] == "jz" and a["trigger"] == "qname", a
        assert a["rule"] == "blocked.basic.lab" and a["action"] == "nxdomain" and a["ede"] == 16, a
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", a["time"]), a
        assert b["client"] == C1 and b["transport"] == "tcp" and b["qtype"] == "AAAA", b
        assert b["rule"] == "*.wild.basic.lab" and b["action"] == "nodata", b
        # rotation: move the file away, SIGHUP, the next line goes to a new file
        os.rename(logf, logf + ".1")
        mark = len(v.log_text())
        v.signal(signal.SIGHUP)
        deadline = time.monotonic() + 5  # the reload is done once it says so
        while "reloaded " + v.config_path not in v.log_text()[mark:]:
            assert time.monotonic() < deadline, "no 'reloaded' after SIGHUP:\n" + v.log_tail()
            time.sleep(0.05)
        ask(v, "blocked.basic.lab.", "TXT", src=C1)
        got = lines(logf, 1)
        assert len(got) == 1 and got[0]["qtype"] == "TXT", got
        with open(logf + ".1") as f:
            assert len(f.readlines()) == 2
    finally:
        v.stop()


# ------------------------------------------------------------------ RESPONSE-IP

def test_response_ip_rules(lab, tmp_path):
    """RESPONSE-IP (`.rpz-ip`) rules match the A/AAAA records of the answer
    section, after resolution, for cached answers too; at the end of a CNAME
    chain; the longest prefix wins within a source; an earlier source's
    RESPONSE-IP rule beats a later source's QNAME rule, but not an earlier
    source's QNAME rule."""
    first = write(tmp_path, "rip.rpz", rpz(
        "rip.rpz.",
        "32.10.2.0.192.rpz-ip CNAME .",          # www.basic.lab. 192.0.2.10
        "24.0.2.0.192.rpz-ip CNAME *.",          # the rest of 192.0.2.0/24: NODATA
        "32.33.2.0.192.rpz-ip CNAME rpz-passthru.",  # c.chain3.lab. 192.0.2.33
        "mail.basic.lab CNAME rpz-passthru."))   # QNAME in the same (earlier) source
    second = write(tmp_path, "later.rpz", rpz(
        "later.rpz.", "www.basic.lab CNAME rpz-passthru.", "shop.example CNAME .",
        "a.chain1.lab CNAME rpz-drop."))
    v = started(lab, tmp_path,
                policy([source("rip", "rpz", first), source("later", "rpz", second)],
                       [group("g", ["127.0.0.1/32"], ["rip", "later"])]),
                ready_source=C2)  # 127.0.0.2 is in no group: the readiness check resolves
    try:
        up = Upstream(lab)
        # www.basic.lab. is in the cache (the readiness check asked it): the
        # rule applies to a cached answer
        assert_blocked(ask(v, "www.basic.lab."), "NXDOMAIN", "rip", BLOCKED,
                       "192.0.2.10/32", soa="rip.rpz.")
        up.none("www.basic.lab. A (cached by the readiness check)")
        # the /24 rule: NODATA for another address of the range, resolved and
        # then from the cache
        for fresh in (True, False):
            r = ask(v, "v4only.basic.lab.")
            assert_nodata(r, "rip", BLOCKED, "192.0.2.0/24", soa="rip.rpz.")
            if fresh:
                up.some("v4only.basic.lab. A, first asked", "basic")
            else:
                up.none("v4only.basic.lab. A, asked again")
        # QNAME PASSTHRU in the same source beats its own RESPONSE-IP rules
        assert_resolves(ask(v, "mail.basic.lab."), "mail.basic.lab.", "A", ["192.0.2.25"])
        # a CNAME chain ending at a PASSTHRU address (stage 2, c.chain3.lab.'s
        # A record): the later source's DROP on the first name (stage 0) wins,
        # an earlier stage of the chain beats a later one whatever the zone
        # order (RPZ.md 2.4 rule 1) -- resolved, then from the cache
        up.delta()
        for fresh in (True, False):
            q = dns.message.make_query("a.chain1.lab.", "A", use_edns=0, payload=1232)
            reply = udp_raw(v.addr, v.port, q.to_wire(), timeout=1.0, source=C1)
            assert reply is None, "expected the DROP of a.chain1.lab., got:%s" % show(
                dns.message.from_wire(reply))
            if fresh:
                up.some("a.chain1.lab. A, first asked", "chain1")
            else:
                up.none("a.chain1.lab. A, asked again")
        # b.chain2.example. has no rule of its own: the chain's end is the PASSTHRU
        r = ask(v, "b.chain2.example.")
        assert r.rcode() == dns.rcode.NOERROR and r.answer, r
        assert_clean(r)
        # no match in the earlier source: the later QNAME rule applies
        assert_blocked(ask(v, "shop.example.", "SOA"), "NXDOMAIN", "later", BLOCKED,
                       "shop.example", soa="later.rpz.")
        # 127.0.0.2 is in no group
        assert_resolves(ask(v, "www.basic.lab.", src=C2), "www.basic.lab.", "A",
                        ["192.0.2.10"])
    finally:
        v.stop()
