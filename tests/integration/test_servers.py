"""Issue 11 section 1: answers that real authoritative servers give, and that a
resolver must turn into correct answers (RRSIG queries, DNAME chains that come
back under their own DNAME), and two shapes of delegation data that need labs
of their own (tests/lab/minilab.py): a parent whose glue disagrees with the
child's own address for its name server (renumbering), and a root whose NS
answer carries no addresses."""
import collections

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdatatype
import pytest

import lab as labmod
from helpers import assert_answer, assert_rcode, diff_counts, rdatas, rrset, show
from labdnssec import Signing


# ---------------------------------------------------------------- type RRSIG

def covered_types(msg, name):
    """The types the RRSIGs at NAME in the answer cover (dnspython keeps one
    RRset per covered type)."""
    n = dns.name.from_text(name)
    return sorted(dns.rdatatype.to_text(rs.covers) for rs in msg.answer
                  if rs.name == n and rs.rdtype == dns.rdatatype.RRSIG)


def test_rrsig_query_signed_zone_apex(resolver):
    """`example. RRSIG`: the RRSIGs at the apex of a signed zone, unvalidated
    (no AD), as Unbound and Knot Resolver answer it."""
    for do in (False, True):
        r = resolver.query("example.", "RRSIG", use_edns=0, want_dnssec=do)
        assert_rcode(r, "NOERROR")
        # the apex has SOA, NS, DNSKEY and NSEC3PARAM, each signed
        for t in ("SOA", "NS", "DNSKEY", "NSEC3PARAM"):
            assert t in covered_types(r, "example."), "no RRSIG covering %s:%s" % (t, show(r))
        assert not r.flags & dns.flags.AD, "RRSIG answers are not validated:" + show(r)


def test_rrsig_query_signed_name(resolver):
    r = resolver.query("www.alg13.sec.", "RRSIG", use_edns=0)
    assert_rcode(r, "NOERROR")
    assert covered_types(r, "www.alg13.sec.") == ["A", "NSEC"], show(r)
    assert all(rd.algorithm == 13 for rs in r.answer for rd in rs), show(r)


def test_rrsig_query_unsigned_name(resolver):
    """An unsigned zone has no RRSIGs: NODATA (NOERROR, SOA), not SERVFAIL."""
    r = resolver.query("www.basic.lab.", "RRSIG", use_edns=0)
    assert_rcode(r, "NOERROR")
    assert not r.answer, show(r)
    assert rrset(r.authority, "basic.lab.", "SOA") is not None, show(r)


# ---------------------------------------------------------------- DNAME

def test_dname_chain_back_under_itself_has_no_duplicates(resolver):
    """www.zdn.nsec.sec.: DNAME zdn -> zto, CNAME www.zto -> www2.zdn (under the
    same DNAME again), www2.zto A.  The DNAME and its RRSIG appear once
    (RFC 2181 5), and the whole chain still validates."""
    q = dns.message.make_query("www.zdn.nsec.sec.", "A", use_edns=0, want_dnssec=True)
    # one RR per RRset: dnspython would otherwise merge a repeated RRset
    r = dns.query.udp(q, resolver.addr, port=resolver.port, timeout=5.0,
                      one_rr_per_rrset=True)
    assert_rcode(r, "NOERROR")
    seen = collections.Counter((rs.name.to_text(), rs.rdtype, rs.covers, rs[0].to_text())
                               for rs in r.answer)
    dups = sorted(k[:3] for k, n in seen.items() if n > 1)
    assert not dups, "records repeated in the answer section %s:%s" % (dups, show(r))
    r = resolver.query("www.zdn.nsec.sec.", "A", use_edns=0, want_dnssec=True)
    assert rdatas(r.answer, "www2.zto.nsec.sec.", "A") == [labmod.SEC_DNAME_ADDR], show(r)
    assert rdatas(r.answer, "zdn.nsec.sec.", "DNAME") == ["zto.nsec.sec."], show(r)
    assert rdatas(r.answer, "www2.zdn.nsec.sec.", "CNAME") == ["www2.zto.nsec.sec."], show(r)
    assert r.flags & dns.flags.AD, "the chain is signed and must validate:" + show(r)


# ---------------------------------------------------------------- labs of their own
#
# The two cases below need zones the shared lab cannot hold without changing
# what every other test sees (a root whose NS answer has no addresses; a
# parent and a child that disagree about a name server's address), so each
# test starts a small lab of its own (tests/lab/minilab.py): NSD servers on
# <prefix>.220.x / .221.x of the session's prefix, its own root hints and trust
# anchor, stopped by PID at the end.  vigil only (a vigil of the test's own).

from ownlab import ask, mini_lab, own_vigil  # noqa: E402


# ------------------------------------------ parent glue vs the child's addresses

GLUE_WWW = "192.0.2.130"  # nN.<child> A 192.0.2.(130 + N)


def glue_zones(m):
    """example. delegates two children to ns.<child> with glue = the address of
    the NSD that serves the child (P); the child itself says ns.<child> is
    somewhere else (C): nothing listens there (dead) or an NSD that serves
    nothing answers REFUSED (refused)."""
    soa = ("$ORIGIN %s\n$TTL 3600\n@ IN SOA ns.%s hostmaster.%s 1 3600 600 86400 300\n")
    root = soa % (".", "root.", "root.") + """\
@                 IN NS ns.root.
ns.root.          IN A  %s
example.          IN NS ns.nic.example.
ns.nic.example.   IN A  %s
""" % (m.addr("g-root"), m.addr("g-tld"))
    tld = soa % ("example.", "nic.example.", "example.") + """\
@                 IN NS ns.nic.example.
ns.nic            IN A  %s
""" % m.addr("g-tld")
    z = {".": root}
    for child, c in (("dead", "g-gone"), ("refused", "g-refuse")):
        origin = "%s.example." % child
        tld += "%-17s IN NS ns.%s\nns.%-14s IN A  %s\n" % (child, origin, child,
                                                           m.addr("g-child"))
        z[origin] = soa % (origin, origin, origin) + """\
@                 IN NS ns
ns                IN A  %s
""" % m.addr(c) + "".join("n%d IN A 192.0.2.%d\n" % (i, 130 + i) for i in range(1, 9))
    z["example."] = tld
    return z


GLUE_SERVERS = [
    ("g-root", "220.1", "nsd", ["."]),
    ("g-tld", "220.2", "nsd", ["example."]),
    ("g-child", "220.3", "nsd", ["dead.example.", "refused.example."]),  # P: the glue
    ("g-gone", "220.4", "none", []),  # C of dead.example.: nothing listens
    ("g-refuse", "220.5", "nsd", []),  # C of refused.example.: REFUSED to all
]


@pytest.mark.vigil_only
@pytest.mark.parametrize("child", ["dead", "refused"])
def test_parent_glue_kept_when_child_addresses_fail(lab, tmp_path, child):
    """Renumbering: the parent's glue says P (the server that works), the child
    says its name server is at C (which does not answer, or refuses).  Once
    vigil has the child's address (ns.<child> A, asked directly), new names
    of the child must still resolve, through P: the glue is not dropped."""
    zone = "%s.example." % child
    with mini_lab(tmp_path, "glue-" + child, lab.prefix, servers=GLUE_SERVERS,
                  zones=glue_zones, hints_ns="ns.root.", hints_server="g-root") as m, \
            own_vigil(tmp_path, m, validation=False) as v:
        p, c = m.addr("g-child"), m.addr("g-gone" if child == "dead" else "g-refuse")
        assert_answer(ask(v, "n1." + zone), "n1." + zone, "A", ["192.0.2.131"])
        # the child's own answer: ns.<child> is at C, which vigil now holds
        # at a better rank than the glue
        r = ask(v, "ns." + zone)
        assert_answer(r, "ns." + zone, "A", [c])
        before = m.query_counts()
        for i in range(2, 6):
            name = "n%d.%s" % (i, zone)
            assert_answer(ask(v, name), name, "A", ["192.0.2.%d" % (130 + i)])
        after = m.query_counts()
        sent = diff_counts(before, after)
        assert sent.get("g-child", 0) >= 4, (
            "the 4 new names must be asked at the parent's address %s (P); the servers "
            "got %s" % (p, sent))


# ------------------------------------------ a root NS answer without addresses

ROOT_NS = "a.root-servers.lab."  # lives in lab., served by the TLD server only
ROOT_WWW = "192.0.2.140"  # www0.lab., www1.lab. A
ROOT_OWN = "192.0.2.141"  # www0/www1.rootown. A (names of the root zone itself)


def noglue_zones(m):
    """The root's NS is a.root-servers.lab., whose address only lab. (another
    server) holds: the root zone has no address for it, so `. NS` comes with
    an empty additional section, as when a priming answer is cut short."""
    soa = ("$ORIGIN %s\n$TTL 3600\n@ IN SOA %s hostmaster.%s 1 3600 600 86400 300\n")
    root = soa % (".", ROOT_NS, "lab.") + """\
@                 518400 IN NS %s
lab.              172800 IN NS ns1.nic.lab.
ns1.nic.lab.      172800 IN A  %s
www0.rootown.            IN A  %s
www1.rootown.            IN A  %s
""" % (ROOT_NS, m.addr("n-tld"), ROOT_OWN, ROOT_OWN) + m.ds("lab.")
    tld = soa % ("lab.", "ns1.nic.lab.", "lab.") + """\
@                 IN NS ns1.nic
ns1.nic           IN A  %s
a.root-servers    IN A  %s
www0              IN A  %s
www1              IN A  %s
""" % (m.addr("n-tld"), m.addr("n-root"), ROOT_WWW, ROOT_WWW)
    return {".": root, "lab.": tld}


NOGLUE_SERVERS = [
    ("n-root", "221.1", "nsd", ["."]),
    ("n-tld", "221.2", "nsd", ["lab."]),
]


@pytest.mark.vigil_only
@pytest.mark.parametrize("validation,hints_ns", [
    (True, ROOT_NS), (False, ROOT_NS), (True, "h.hints.invalid.")],
    ids=["validating", "not-validating", "hints-name-another-server"])
def test_root_ns_without_addresses(lab, tmp_path, validation, hints_ns):
    """The root hints name a.root-servers.lab. (or another name) at the
    root's address; the root's own NS answer (priming) names
    a.root-servers.lab. with no address.  The hints are never lost, and the
    name without an address is resolved (through lab.): `. NS`, `. DNSKEY`
    and ordinary names resolve, with AD when validating, also in a second
    round of new names after the clients' own `. NS`."""
    with mini_lab(tmp_path, "noglue", lab.prefix, servers=NOGLUE_SERVERS,
                  zones=noglue_zones, signed={".": Signing(), "lab.": Signing()},
                  hints_ns=hints_ns, hints_server="n-root") as m, \
            own_vigil(tmp_path, m, validation) as v:
        # the lab is what the test says: `. NS` from the root has no addresses
        q = dns.message.make_query(".", "NS")
        direct = dns.query.udp(q, m.addr("n-root"), port=m.port, timeout=3)
        assert rdatas(direct.answer, ".", "NS") == [ROOT_NS] and not direct.additional, \
            show(direct)

        def secure(r):
            if validation:
                assert r.flags & dns.flags.AD, "signed, must validate:" + show(r)
            else:
                assert not r.flags & dns.flags.AD, show(r)

        for rnd in range(2):  # round 1: new names, after the clients' `. NS` too
            r = ask(v, ".", "NS", do=validation)
            assert_answer(r, ".", "NS", [ROOT_NS])
            secure(r)
            r = ask(v, ".", "DNSKEY", do=validation)
            assert_rcode(r, "NOERROR")
            assert rrset(r.answer, ".", "DNSKEY") is not None, show(r)
            secure(r)
            for name, addr in (("www%d.lab." % rnd, ROOT_WWW),
                               ("www%d.rootown." % rnd, ROOT_OWN)):
                r = ask(v, name, do=validation)
                assert_answer(r, name, "A", [addr])
                secure(r)
        # and the name without an address resolves (in lab., signed)
        r = ask(v, ROOT_NS, do=validation)
        assert_answer(r, ROOT_NS, "A", [m.addr("n-root")])
        secure(r)
