"""Issue 11 section 1: answers that real authoritative servers give, and that a
resolver must turn into correct answers (RRSIG queries, DNAME chains that come
back under their own DNAME)."""
import collections

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdatatype

import lab as labmod
from helpers import assert_rcode, rdatas, rrset, show


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
