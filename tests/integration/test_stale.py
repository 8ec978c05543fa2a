"""Serve-stale (RFC 8767) and prefetch in a lab of the test's own
(tests/lab/minilab.py): a root and one zone, stale., whose server the test
can stop.

- serve-stale: www.stale. (TTL 2) is cached, its only server is stopped;
  once the data expired, vigil answers it stale (TTL 30, EDE 3 Stale
  Answer) instead of SERVFAIL.
- prefetch: pf.stale. (TTL 11) asked for when under a tenth of its TTL is
  left is answered from the cache and renewed at once: a query reaches
  the zone's server without any further client query, and the next answer
  has a fresh TTL.

Nothing here asserts a timing: the tests poll answers and the server's
query counter, each poll bounded.
"""
import time

import dns.edns
import dns.rcode
import dns.rdatatype
import pytest

from ownlab import ask, mini_lab, own_vigil

SERVERS = [
    ("s-root", "223.1", "nsd", ["."]),
    ("s-leaf", "223.2", "nsd", ["stale."]),
]


def zones(m):
    return {
        ".": ("$ORIGIN .\n$TTL 3600\n"
              ". IN SOA a.root. hostmaster.root. 1 3600 600 86400 300\n"
              ". IN NS a.root.\n"
              "a.root. IN A %s\n"
              "stale. IN NS ns.stale.\n"
              "ns.stale. IN A %s\n" % (m.addr("s-root"), m.addr("s-leaf"))),
        "stale.": ("$ORIGIN stale.\n$TTL 3600\n"
                   "@ IN SOA ns.stale. hostmaster.stale. 1 3600 600 86400 300\n"
                   "@ IN NS ns.stale.\n"
                   "ns IN A %s\n"
                   "www 2 IN A 192.0.2.1\n"
                   "pf 11 IN A 192.0.2.2\n" % m.addr("s-leaf")),
    }


@pytest.fixture
def mini(tmp_path, lab):
    with mini_lab(tmp_path, "stale", lab.prefix, servers=SERVERS, zones=zones,
                  hints_server="s-root") as m:
        yield m


def ede_codes(r):
    return [o.code for o in r.options if o.otype == dns.edns.EDE]


def a_of(r):
    return [(rr.to_text(), rs.ttl) for rs in r.answer if rs.rdtype == dns.rdatatype.A
            for rr in rs]


def test_stale_answer_when_server_is_gone(tmp_path, mini):
    with own_vigil(tmp_path, mini, validation=False,
                   resolver="  serve-stale: yes\n  serve-stale-max: 3600\n") as v:
        r = ask(v, "www.stale.")
        assert r.rcode() == dns.rcode.NOERROR and a_of(r)[0][0] == "192.0.2.1", r
        mini.stop(names=["s-leaf"])  # the zone's only server is gone
        # fresh answers from the cache until the 2 s expire; then the stale one
        deadline = time.monotonic() + 30
        while True:
            r = ask(v, "www.stale.", do=False)
            if r.rcode() != dns.rcode.NOERROR or ede_codes(r):
                break
            assert a_of(r)[0][0] == "192.0.2.1"
            assert time.monotonic() < deadline, "the entry never expired"
            time.sleep(0.2)
        assert r.rcode() == dns.rcode.NOERROR, "expired data not served stale:\n%s\n%s" % (
            r, v.log_tail())
        assert a_of(r) == [("192.0.2.1", 30)], r
        assert ede_codes(r) == [3], r
        assert v.stats()["stale_answers"] >= 1


def test_stale_off_is_servfail(tmp_path, mini):
    with own_vigil(tmp_path, mini, validation=False) as v:
        r = ask(v, "www.stale.")
        assert r.rcode() == dns.rcode.NOERROR, r
        mini.stop(names=["s-leaf"])
        deadline = time.monotonic() + 30
        while True:
            r = ask(v, "www.stale.")
            if r.rcode() != dns.rcode.NOERROR:
                break
            assert time.monotonic() < deadline, "the entry never expired"
            time.sleep(0.2)
        assert r.rcode() == dns.rcode.SERVFAIL, r
        assert 3 not in ede_codes(r)


def test_prefetch_before_expiry(tmp_path, mini):
    with own_vigil(tmp_path, mini, validation=False, resolver="  prefetch: yes\n") as v:
        r = ask(v, "pf.stale.")
        assert a_of(r) == [("192.0.2.2", 11)], r
        # ask until under a tenth of its 11 s is left (the answer's TTL says 1:
        # 11 is the shortest TTL whose tenth is above a whole second)
        deadline = time.monotonic() + 30
        while True:
            before = mini.stats("s-leaf")["num.queries"]
            r = ask(v, "pf.stale.")
            ttl = a_of(r)[0][1]
            if ttl <= 1:
                break
            assert time.monotonic() < deadline, "TTL never fell to 1"
            time.sleep(0.2)
        # that answer came from the cache, and the entry is being renewed: a
        # query reaches the server with no further client query (one refresh,
        # which the upstream module may retry when the server is slow)
        deadline = time.monotonic() + 10
        while mini.stats("s-leaf")["num.queries"] == before:
            assert time.monotonic() < deadline, (
                "no prefetch query reached the server\n%s" % v.log_tail())
            time.sleep(0.1)
        while v.stats()["inflight"]:  # the refresh (and any retry of it) is done
            assert time.monotonic() < deadline, "the refresh never ended"
            time.sleep(0.1)
        renewed = mini.stats("s-leaf")["num.queries"]
        r = ask(v, "pf.stale.")
        assert a_of(r)[0][0] == "192.0.2.2" and a_of(r)[0][1] > 1, r
        assert mini.stats("s-leaf")["num.queries"] == renewed  # from the cache
        assert v.stats()["prefetches"] == 1
