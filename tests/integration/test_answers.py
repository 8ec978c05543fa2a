"""Resolution through the lab hierarchy: positive, negative and indirect answers."""
import dns.exception
import dns.flags
import dns.rcode
import pytest

import lab as labmod
from helpers import (assert_answer, assert_rcode, rdatas, rrset, show,
                     soa_in_authority)


# ---------------------------------------------------------------- plain records

def test_a(resolver):
    r = resolver.query("www.basic.lab.", "A")
    assert_answer(r, "www.basic.lab.", "A", ["192.0.2.10"])
    assert r.flags & dns.flags.RA, "RA not set in a recursive answer:" + show(r)
    assert r.flags & dns.flags.QR


def test_aaaa(resolver):
    r = resolver.query("www.basic.lab.", "AAAA")
    assert_answer(r, "www.basic.lab.", "AAAA", ["2001:db8::10"])


def test_mx(resolver):
    r = resolver.query("basic.lab.", "MX")
    assert_answer(r, "basic.lab.", "MX", ["10 mail.basic.lab.", "20 mail2.basic.lab."])


def test_txt(resolver):
    r = resolver.query("txt.basic.lab.", "TXT")
    assert_answer(r, "txt.basic.lab.", "TXT", ['"v=lab1 hello" "second string"'])


def test_name_is_case_insensitive_and_question_echoed(resolver):
    r = resolver.query("WwW.BaSiC.LaB.", "A")
    assert_answer(r, "www.basic.lab.", "A", ["192.0.2.10"])
    assert r.question and r.question[0].name.to_text() == "WwW.BaSiC.LaB.", (
        "question section must echo the client's spelling:" + show(r))


# ---------------------------------------------------------------- negative answers

def test_nxdomain(resolver):
    r = resolver.query("does-not-exist.basic.lab.", "A")
    assert_rcode(r, "NXDOMAIN")
    assert not r.answer, "NXDOMAIN with an answer section:" + show(r)
    soa = soa_in_authority(r, "basic.lab.")
    assert 0 < soa.ttl <= labmod.SOA_MINIMUM, (
        "negative TTL must be capped by the SOA minimum %d, got %d:%s"
        % (labmod.SOA_MINIMUM, soa.ttl, show(r)))


def test_nxdomain_at_tld_level(resolver):
    r = resolver.query("no-such-zone.lab.", "A")
    assert_rcode(r, "NXDOMAIN")
    soa_in_authority(r, "lab.")


def test_nodata(resolver):
    r = resolver.query("v4only.basic.lab.", "AAAA")
    assert_rcode(r, "NOERROR")
    assert not r.answer, "NODATA must have an empty answer section:" + show(r)
    soa = soa_in_authority(r, "basic.lab.")
    assert 0 < soa.ttl <= labmod.SOA_MINIMUM


def test_empty_non_terminal_is_not_nxdomain(resolver):
    """a.ent.basic.lab. has no records but a child: qname minimisation must go through."""
    r = resolver.query("deep.a.ent.basic.lab.", "A")
    assert_answer(r, "deep.a.ent.basic.lab.", "A", ["192.0.2.18"])
    r = resolver.query("a.ent.basic.lab.", "A")
    assert_rcode(r, "NOERROR")
    assert not r.answer, show(r)


# ---------------------------------------------------------------- indirection

def test_cname_chain_across_zones(resolver):
    """a.chain1.lab -> b.chain2.example -> c.chain3.lab (three zones, three servers)."""
    r = resolver.query("a.chain1.lab.", "A")
    assert_rcode(r, "NOERROR")
    got = [(rs.name.to_text(), rs.rdtype, sorted(x.to_text() for x in rs))
           for rs in r.answer]
    want = [("a.chain1.lab.", 5, ["b.chain2.example."]),
            ("b.chain2.example.", 5, ["c.chain3.lab."]),
            ("c.chain3.lab.", 1, ["192.0.2.33"])]
    assert got == want, "CNAME chain not complete / not in order:%s" % show(r)


def test_cname_target_type_nodata(resolver):
    """The chain is followed for other types too: c.chain3.lab has no AAAA."""
    r = resolver.query("a.chain1.lab.", "AAAA")
    assert_rcode(r, "NOERROR")
    assert rdatas(r.answer, "a.chain1.lab.", "CNAME") == ["b.chain2.example."], show(r)
    assert rrset(r.answer, "c.chain3.lab.", "AAAA") is None, show(r)


def test_dname(resolver):
    """legacy.basic.lab. DNAME shop.example.; www.shop.example. A 192.0.2.50."""
    r = resolver.query("www.legacy.basic.lab.", "A")
    assert_rcode(r, "NOERROR")
    assert rdatas(r.answer, "legacy.basic.lab.", "DNAME") == ["shop.example."], (
        "DNAME record missing:" + show(r))
    assert rdatas(r.answer, "www.legacy.basic.lab.", "CNAME") == ["www.shop.example."], (
        "synthesized CNAME missing:" + show(r))
    assert rdatas(r.answer, "www.shop.example.", "A") == ["192.0.2.50"], (
        "final answer missing:" + show(r))
    order = [(rs.name.to_text(), rs.rdtype) for rs in r.answer]
    assert order.index(("www.legacy.basic.lab.", 5)) < order.index(("www.shop.example.", 1)), (
        "CNAME must come before its target:" + show(r))


def test_dname_nxdomain_below_target(resolver):
    r = resolver.query("nothing.legacy.basic.lab.", "A")
    assert_rcode(r, "NXDOMAIN")
    assert rdatas(r.answer, "nothing.legacy.basic.lab.", "CNAME") == ["nothing.shop.example."], show(r)


def test_wildcard(resolver):
    r = resolver.query("anything-goes.wild.basic.lab.", "A")
    assert_answer(r, "anything-goes.wild.basic.lab.", "A", ["192.0.2.77"])
    assert r.answer[0].name.to_text() == "anything-goes.wild.basic.lab.", (
        "wildcard answer must be owned by the query name:" + show(r))
    r = resolver.query("other.wild.basic.lab.", "TXT")
    assert_answer(r, "other.wild.basic.lab.", "TXT", ['"wildcard"'])
    r = resolver.query("other.wild.basic.lab.", "MX")
    assert_rcode(r, "NOERROR")
    assert not r.answer, "wildcard NODATA expected:" + show(r)


# ---------------------------------------------------------------- delegations

def test_glueless_delegation(resolver):
    """glueless.lab. NS ns.hoster.example. -- no glue: the NS address is a sub-query."""
    r = resolver.query("www.glueless.lab.", "A")
    assert_answer(r, "www.glueless.lab.", "A", ["192.0.2.60"])


@pytest.mark.parametrize("case,bad", [
    ("lame", "silent: reads, never answers"),
    ("dead", "nothing listening: ICMP port unreachable"),
    ("refused", "answers REFUSED: not authoritative"),
])
def test_broken_ns_other_works(resolver, lab, case, bad):
    """Delegations with two NS, one broken, in three layouts (see lab.LAME_ZONES:
    broken NS listed first / listed second / the only one with glue), so a resolver
    with any fixed preference meets the broken one; 6 distinct names per zone.
    Each must be answered correctly (the broken NS costs a retry, not the answer)."""
    zones = [z for z in labmod.LAME_ZONES if z[0] in (case, case + "2", case + "3")]
    bad_server = zones[0][1]
    before = lab.stats(bad_server)["num.queries"]
    for zone, _, _, _ in zones:
        for i in range(1, 7):
            name = "h%d.%s.lab." % (i, zone)
            try:
                r = resolver.query(name, "A", timeout=6)
            except dns.exception.Timeout:
                pytest.fail("%s: no answer; its broken NS (%s) is %s"
                            % (name, lab.addr(bad_server), bad), pytrace=False)
            assert_answer(r, name, "A", ["192.0.2.%d" % (labmod.LAME_BASE[zone] + i)])
    if lab.servers[bad_server].kind != "none":  # nothing there to count packets
        after = lab.stats(bad_server)["num.queries"]
        assert after > before, (
            "18 names in %s answered, but the broken NS %s (%s) was never asked: the "
            "fallback case was not exercised" % (", ".join(z[0] + ".lab" for z in zones),
                                                 lab.addr(bad_server), bad))


# ---------------------------------------------------------------- forward zone

def test_forward_zone(resolver):
    r = resolver.query("www.corp.internal.", "A")
    assert_answer(r, "www.corp.internal.", "A", ["192.0.2.90"])
    r = resolver.query("mail.corp.internal.", "TXT")
    assert_answer(r, "mail.corp.internal.", "TXT", ['"corp only"'])


def test_forward_zone_not_in_public_tree(lab):
    """Lab sanity: corp.internal. is reachable only through the forward zone."""
    import dns.message
    import dns.query
    q = dns.message.make_query("www.corp.internal.", "A")
    r = dns.query.udp(q, lab.addr("root"), port=lab.port, timeout=2)
    assert_rcode(r, "NXDOMAIN")


# ---------------------------------------------------------------- large answers

def test_large_answer_tc_over_udp_full_over_tcp(resolver, lab):
    """tc1.big.lab. TXT is ~3.2 kB: UDP (EDNS 1232) -> TC=1; TCP -> all 12 records;
    the resolver itself had to use TCP towards the big.lab server."""
    name = "tc1.big.lab."
    before = lab.stats("big")
    r = resolver.query(name, "TXT", payload=1232, timeout=6)
    assert r.flags & dns.flags.TC, "expected TC=1 over UDP with EDNS 1232:" + show(r)
    assert len(r.to_wire()) <= 1232
    r = resolver.query(name, "TXT", tcp=True, timeout=6)
    want = sorted('"%s"' % s for s in labmod.big_txt_strings("tc1"))
    assert_answer(r, name, "TXT", want)
    assert not r.flags & dns.flags.TC
    after = lab.stats("big")
    tcp = (after["num.tcp"] + after.get("num.tcp6", 0)) - (
        before["num.tcp"] + before.get("num.tcp6", 0))
    assert tcp >= 1, ("the big.lab server (%s) got no TCP query from the resolver "
                      "(udp %d -> %d, tcp %d -> %d, truncated %d -> %d)"
                      % (lab.addr("big"), before["num.udp"], after["num.udp"],
                         before["num.tcp"], after["num.tcp"],
                         before.get("num.truncated", 0), after.get("num.truncated", 0)))


def test_large_answer_no_edns_udp_truncated(resolver):
    r = resolver.query("tc2.big.lab.", "TXT", use_edns=False, timeout=6)
    assert r.flags & dns.flags.TC, "expected TC=1 over plain UDP (512):" + show(r)
    assert len(r.to_wire()) <= 512
