"""Discovery and bypass (issue 10, section 5), and client identity in
`vigil explain` (section 3), in the lab.

* DDR (RFC 9462): _dns.resolver.arpa SVCB over UDP is answered by vigil
  with one SVCB record per announced endpoint (discovery.ddr-endpoints,
  ddr-name, ddr-hints); dnspython parses the records and the test checks
  every SvcParam (alpn, port, ipv4hint, ipv6hint, dohpath).  Other types and
  names of resolver.arpa are NODATA with the zone's SOA; so is SVCB with
  ddr: no.
* The application DNS canary: use-application-dns.net is NXDOMAIN with
  vigil's EDE when discovery.block-doh-canary is on; off (the default) it is
  resolved like any name (the lab has no such name: the lab root's
  NXDOMAIN, without vigil's EDE).
* The shipped policy/encrypted-dns-bypass.rpz, as a source of a group,
  blocks a listed public resolver name (NXDOMAIN, EDE 15, the zone's SOA);
  other names resolve; without it the name is not rewritten.
* `vigil explain --client-id / --client-cert / --transport`: the group an
  identity selects and why, the address's group otherwise.

Transports with identities (DoT, DoH) are tested where they are built; here
the identity only reaches explain.  vigil only.
"""
import os
import subprocess

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rdtypes.svcbbase as svcb
import pytest

import conftest
from helpers import assert_rcode, show
from test_policy import (BLOCKED, C1, assert_blocked, assert_clean, assert_resolves, ask,
                         edes, group, policy, source, started, write)

pytestmark = pytest.mark.vigil_only

REPO = conftest.REPO
DOHPATH = 7  # SvcParamKey dohpath (RFC 9461); dnspython 2.3 has no name for it
BYPASS = os.path.join(REPO, "policy", "encrypted-dns-bypass.rpz")
DDR = ("discovery:\n"
       "  ddr-name: dns.example.net\n"
       "  ddr-endpoints: [ \"dot 853\", \"doh 443\" ]\n"
       "  ddr-hints: [ 127.0.0.1, \"::1\", 127.0.0.2 ]\n"
       "  block-doh-canary: %s\n")


@pytest.fixture(scope="module")
def ddr(lab, tmp_path_factory):
    v = started(lab, tmp_path_factory.mktemp("ddr"), DDR % "yes")
    yield v
    v.stop()


def params(rd):
    """{key number: value} of an SVCB record's SvcParams."""
    return {int(k): v for k, v in rd.params.items()}


def test_ddr_svcb_over_udp(ddr):
    r = ask(ddr, "_dns.resolver.arpa.", "SVCB")
    assert_rcode(r, "NOERROR")
    rrs = [rs for rs in r.answer if rs.rdtype == dns.rdatatype.SVCB]
    assert len(rrs) == 1 and len(rrs[0]) == 2, show(r)
    assert rrs[0].name == dns.name.from_text("_dns.resolver.arpa."), show(r)
    recs = sorted(rrs[0], key=lambda x: x.priority)
    dot, doh = recs
    for rec, prio, alpn, port in ((dot, 1, b"dot", 853), (doh, 2, b"h2", 443)):
        assert rec.priority == prio, show(r)
        assert rec.target == dns.name.from_text("dns.example.net."), show(r)
        p = params(rec)
        assert list(p) == sorted(p), show(r)  # keys in ascending order
        assert p[svcb.ParamKey.ALPN].ids == (alpn,), show(r)
        assert p[svcb.ParamKey.PORT].port == port, show(r)
        assert [str(a) for a in p[svcb.ParamKey.IPV4HINT].addresses] == [
            "127.0.0.1", "127.0.0.2"], show(r)
        assert [str(a) for a in p[svcb.ParamKey.IPV6HINT].addresses] == ["::1"], show(r)
    assert DOHPATH not in params(dot), show(r)
    # dnspython 2.3 has no class for key 7: its raw value is the URI template
    path = params(doh)[DOHPATH]
    assert getattr(path, "value", None) == b"/dns-query{?dns}", show(r)
    assert not edes(r), show(r)


def test_ddr_over_tcp_and_nodata(ddr):
    r = ask(ddr, "_dns.resolver.arpa.", "SVCB", tcp=True)
    assert len(r.answer) == 1 and len(r.answer[0]) == 2, show(r)
    for name, rdtype in (("_dns.resolver.arpa.", "A"), ("foo.resolver.arpa.", "SVCB"),
                         ("resolver.arpa.", "SOA")):
        r = ask(ddr, name, rdtype)
        assert_rcode(r, "NOERROR")
        assert not r.answer, show(r)
        soa = [rs for rs in r.authority if rs.rdtype == dns.rdatatype.SOA]
        assert soa and soa[0].name == dns.name.from_text("resolver.arpa."), show(r)


def test_ddr_off_is_nodata(lab, tmp_path):
    v = started(lab, tmp_path, (DDR % "no") + "  ddr: no\n")
    try:
        r = ask(v, "_dns.resolver.arpa.", "SVCB")
        assert_rcode(r, "NOERROR")
        assert not r.answer, show(r)
    finally:
        v.stop()


def canary_ede(msg):
    return (BLOCKED, "vigil: discovery.block-doh-canary") in edes(msg)


def test_canary_blocked(ddr):
    for rdtype in ("A", "AAAA", "TXT"):
        r = ask(ddr, "use-application-dns.net.", rdtype)
        assert_rcode(r, "NXDOMAIN")
        assert canary_ede(r), show(r)


def test_canary_not_blocked_by_default(lab, tmp_path):
    v = started(lab, tmp_path, "")
    try:
        r = ask(v, "use-application-dns.net.")
        # resolved: the lab has no such name, so the lab root says NXDOMAIN,
        # but not vigil's canary answer
        assert not canary_ede(r), show(r)
        assert r.rcode() == dns.rcode.NXDOMAIN, show(r)
    finally:
        v.stop()


def test_bypass_zone_blocks_when_enabled(lab, tmp_path):
    text = policy([source("encrypted-dns-bypass", "rpz", BYPASS)],
                  [group("everyone", ["127.0.0.0/8"], ["encrypted-dns-bypass"])])
    v = started(lab, tmp_path, text)
    try:
        for name, rule in (("dns.google.", "dns.google"),
                           ("mozilla.cloudflare-dns.com.", "*.cloudflare-dns.com"),
                           ("abc123.dns.nextdns.io.", "*.dns.nextdns.io")):
            assert_blocked(ask(v, name), "NXDOMAIN", "encrypted-dns-bypass", BLOCKED,
                           rule, soa="encrypted-dns-bypass.rpz.vigil.")
        assert_resolves(ask(v, "www.basic.lab."), "www.basic.lab.", "A", ["192.0.2.10"])
    finally:
        v.stop()
    # off by default: the default policy does not rewrite it
    v = started(lab, tmp_path, "")
    try:
        assert_clean(ask(v, "dns.google."))
    finally:
        v.stop()


# ------------------------------------------------------------------ explain and identity

def explain_cfg(tmp_path):
    zone = write(tmp_path, "x.rpz", "$TTL 300\n$ORIGIN x.rpz.\n"
                 "@ SOA localhost. root.localhost. 1 3600 600 86400 60\n  NS localhost.\n"
                 "bad.example CNAME .\ntcp.example CNAME rpz-tcp-only.\n")
    return write(tmp_path, "v.yaml",
                 "policy:\n  sources:\n    - name: x\n      file: %s\n  groups:\n"
                 "    - name: lan\n      clients: [ \"127.0.0.0/8\" ]\n      sources: [ ]\n"
                 "    - name: laptops\n      client-ids: [ laptop7 ]\n"
                 "      client-certs: [ \"subject:CN=laptop9,O=Example\" ]\n"
                 "      sources: [ x ]\n" % zone)


def explain(cfg, *args, status=0):
    r = subprocess.run([conftest.VIGIL_BIN, "explain", *args, "-c", cfg],
                       capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    conftest.assert_no_sanitizer_report(r.stderr, "vigil explain")
    assert r.returncode == status, r.stdout + r.stderr
    return r.stdout if status == 0 else r.stderr


def test_explain_identity(tmp_path):
    cfg = explain_cfg(tmp_path)
    out = explain(cfg, "bad.example")
    assert out.startswith("bad.example. A from client 127.0.0.1 (udp):"), out
    assert "group lan: chosen by the client's address (clients: 127.0.0.0/8" in out, out
    assert "no rule matches" in out, out
    out = explain(cfg, "bad.example", "--client-id", "Laptop7")
    assert "(dot, client ID laptop7)" in out, out
    assert "group laptops: chosen by the client ID laptop7" in out, out
    assert "source 'x'" in out and "NXDOMAIN" in out, out
    # from any address: an identity wins over addresses
    out = explain(cfg, "bad.example", "--client-id", "laptop7", "--client", "192.0.2.1",
                  "--transport", "doh")
    assert "(doh, client ID laptop7)" in out and "group laptops" in out, out
    out = explain(cfg, "bad.example", "--client-cert", "subject:CN=laptop9,O=Example")
    assert "chosen by the client certificate's subject CN=laptop9,O=Example" in out, out
    # an identity no group names: the address decides, and explain says so
    out = explain(cfg, "bad.example", "--client-id", "other")
    assert "group lan: chosen by the client's address" in out, out
    assert "no group names this client's identity" in out, out
    # TCP-only over a stream answers normally; over UDP it truncates
    out = explain(cfg, "tcp.example", "--client-id", "laptop7")
    assert "TCP-only" in out and "over dot (a stream) a TCP-only rule answers normally" in out
    out = explain(cfg, "tcp.example", "--client-id", "laptop7", "--transport", "udp")
    assert "a stream" not in out, out
    for bad in (["--transport", "quic"], ["--client-id", "bad_id"],
                ["--client-cert", "sha256:abc"], ["--client-cert", "md5:00"]):
        err = explain(cfg, "bad.example", *bad, status=2)
        assert "vigil explain:" in err, (bad, err)
