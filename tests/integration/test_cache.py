"""Caching: hits cause no upstream traffic (proved with the NSD query counters),
TTLs count down, negative answers are cached, short TTLs expire.

Each test uses its own names so the tests do not depend on one another's order.
"""
import time

import pytest

import lab as labmod
from helpers import (assert_answer, assert_rcode, diff_counts, own_resolver, rrset, settle,
                     show, soa_in_authority)


# A cached answer's TTL is counted down in whole seconds: asked again this
# long after the first answer, it is at least 1 lower.
COUNTDOWN = 1.2


def _wait_since(t0, seconds):
    """Sleep until SECONDS have passed since T0 (time.monotonic())."""
    time.sleep(max(0.0, t0 + seconds - time.monotonic()))


def _no_upstream(lab, resolver, before, what):
    after = settle(lab)  # any (wrong) upstream query has landed once the counters are quiet
    delta = diff_counts(before, after)
    assert not delta, ("%s was answered from cache, yet lab servers received queries: %s"
                       % (what, ", ".join("%s(%s)+%d" % (k, lab.addr(k), v)
                                          for k, v in sorted(delta.items()))))


def test_positive_cache_hit(resolver, lab):
    name = "cache-pos.basic.lab."
    r1 = resolver.query(name, "A")
    assert_answer(r1, name, "A", ["192.0.2.13"])
    ttl1 = r1.answer[0].ttl
    t1 = time.monotonic()
    before = settle(lab)
    _wait_since(t1, COUNTDOWN)
    r2 = resolver.query(name, "A")
    assert_answer(r2, name, "A", ["192.0.2.13"])
    ttl2 = r2.answer[0].ttl
    waited = time.monotonic() - t1
    assert ttl2 <= ttl1 - 1, "TTL did not count down: %d then %d after %.1f s" % (
        ttl1, ttl2, waited)
    assert ttl2 >= ttl1 - 10, "TTL dropped too far: %d then %d after %.1f s" % (
        ttl1, ttl2, waited)
    _no_upstream(lab, resolver, before, "%s A (second time)" % name)


def test_nxdomain_cached(resolver, lab):
    name = "nx-cache.basic.lab."
    r1 = resolver.query(name, "A")
    assert_rcode(r1, "NXDOMAIN")
    soa_in_authority(r1, "basic.lab.")
    t1 = time.monotonic()
    before = settle(lab)
    _wait_since(t1, COUNTDOWN)
    r2 = resolver.query(name, "A")
    assert_rcode(r2, "NXDOMAIN")
    soa2 = soa_in_authority(r2, "basic.lab.")
    assert soa2.ttl <= labmod.SOA_MINIMUM - 1, (
        "negative TTL must count down from <= %d:%s" % (labmod.SOA_MINIMUM, show(r2)))
    _no_upstream(lab, resolver, before, "NXDOMAIN %s (second time)" % name)


def test_nodata_cached(resolver, lab):
    name = "nodata-cache.basic.lab."
    r1 = resolver.query(name, "AAAA")
    assert_rcode(r1, "NOERROR")
    assert not r1.answer, show(r1)
    soa_in_authority(r1, "basic.lab.")
    t1 = time.monotonic()
    before = settle(lab)
    _wait_since(t1, COUNTDOWN)
    r2 = resolver.query(name, "AAAA")
    assert_rcode(r2, "NOERROR")
    assert not r2.answer, "cached NODATA grew an answer:" + show(r2)
    soa2 = soa_in_authority(r2, "basic.lab.")
    assert soa2.ttl <= labmod.SOA_MINIMUM - 1
    _no_upstream(lab, resolver, before, "NODATA %s AAAA (second time)" % name)


def test_cached_cname_chain_no_upstream(resolver, lab):
    """The chain a.chain1.lab -> ... is cached piecewise; the second ask is free."""
    r1 = resolver.query("a.chain1.lab.", "TXT")
    assert_rcode(r1, "NOERROR")
    before = settle(lab)
    r2 = resolver.query("a.chain1.lab.", "TXT")
    assert_rcode(r2, "NOERROR")
    assert [rs.to_text() for rs in r2.answer if rs.rdtype == 5], show(r2)
    _no_upstream(lab, resolver, before, "a.chain1.lab. TXT (second time)")


def test_cached_dname_keeps_dname_no_upstream(resolver, lab):
    """A name under a DNAME answered again from cache still carries the DNAME
    (the CNAME is synthesized from the cached DNAME, RFC 6672), and asking a
    sibling name under the same DNAME costs the DNAME's zone nothing."""
    r1 = resolver.query("www.legacy.basic.lab.", "A")
    assert_rcode(r1, "NOERROR")
    before = settle(lab)
    r2 = resolver.query("www.legacy.basic.lab.", "A")
    types = [(rs.name.to_text(), rs.rdtype) for rs in r2.answer]
    assert ("legacy.basic.lab.", 39) in types, "DNAME missing from cached answer:" + show(r2)
    assert ("www.legacy.basic.lab.", 5) in types, show(r2)
    assert ("www.shop.example.", 1) in types, show(r2)
    _no_upstream(lab, resolver, before, "www.legacy.basic.lab. A (second time)")


def test_short_ttl_expires(resolver, lab):
    """short.basic.lab. has TTL 1: 2.5 s later the resolver must ask again."""
    name = "short.basic.lab."
    r1 = resolver.query(name, "A")
    t1 = time.monotonic()
    assert_answer(r1, name, "A", ["192.0.2.14"])
    assert r1.answer[0].ttl <= 1, "TTL above the record's 1 s:" + show(r1)
    before = lab.stats("basic")["num.queries"]
    _wait_since(t1, 2.5)
    r2 = resolver.query(name, "A")
    assert_answer(r2, name, "A", ["192.0.2.14"])
    assert r2.answer[0].ttl <= 1, show(r2)
    after = lab.stats("basic")["num.queries"]
    assert after > before, ("record with TTL 1 was served 2.5 s later without asking "
                            "basic.lab (%s) again" % lab.addr("basic"))


def test_normal_ttl_not_exceeded(resolver):
    """ttl.basic.lab. (TTL 3600, asked only here) comes back with ~3600."""
    r = resolver.query("ttl.basic.lab.", "A")
    assert_answer(r, "ttl.basic.lab.", "A", ["192.0.2.19"])
    ttl = rrset(r.answer, "ttl.basic.lab.", "A").ttl
    assert 3590 <= ttl <= 3600, "TTL should be ~3600:" + show(r)


def test_max_ttl_applies_to_the_first_answer(lab, tmp_path):
    """cache.max-ttl (Unbound: cache-max-ttl) 60: the answer that fills the
    cache carries a TTL of at most 60 too, like every answer from the cache
    after it -- a client must not keep for an hour what the resolver keeps for
    a minute."""
    def edit(kind, text):
        if kind == "vigil":
            return text + "cache:\n  max-ttl: 60\n"
        return text.replace("  prefetch: no\n", "  prefetch: no\n  cache-max-ttl: 60\n", 1)
    r = own_resolver(lab, tmp_path, edit)
    try:
        ttls = []
        for _ in range(2):  # resolved, then from the cache
            a = r.query("mail.basic.lab.", "A")
            assert_answer(a, "mail.basic.lab.", "A", ["192.0.2.25"])
            ttls.append(a.answer[0].ttl)
        assert max(ttls) <= 60, "TTLs %s with max-ttl 60 (the record has 3600)" % ttls
    finally:
        r.stop()
