"""Attacks through the authoritative side (issue 11 section 2, ATTACKS.md 3-5):
the upstream queries one client query may cause stay bounded, counted at the
authoritative servers, and cached names are still answered while the attack
runs.  (KeyTrap, the fourth, is in test_dnssec.py; the rate and latency of a
benign stream under each attack are measured by `bash bench/run.sh attacks`,
not asserted here.)

A lab of this module's own (tests/lab/minilab.py, <prefix>.222.x):

* NXNS: nxns. is delegated to 40 name servers under victim., none with glue.
  Each query for a new name under nxns. must not make vigil ask victim.'s
  server for more than limits.max-glueless-ns (5) of them.
* CNAME loop: a.loop. -> b.loop. -> a.loop.; a long chain c1 -> c2 -> ... ->
  c30 that alternates between two zones (each link costs a query).
* TsuNAME: cyc1. and cyc2. are delegated to name servers inside each other
  (ns.cyc2. and ns.cyc1.), without glue: a cyclic dependency.  Repeating the
  query must not repeat the work (the failure is cached, RFC 9520).
"""
import contextlib
import random
import threading

import dns.rcode
import pytest

from helpers import assert_answer, diff_counts
from ownlab import ask, mini_lab, own_vigil

pytestmark = pytest.mark.vigil_only

NXNS_NAMES = 40
GLUELESS = 5  # limits.max-glueless-ns default
CNAME_CHAIN = 11  # limits.max-cname-chain default
CHAIN_LEN = 30
BENIGN = "www.benign."
BENIGN_ADDR = "192.0.2.150"

SERVERS = [
    ("x-root", "222.1", "nsd", ["."]),
    ("x-victim", "222.2", "nsd", ["victim."]),
    ("x-hostile", "222.3", "nsd", ["loop.", "chain1.", "chain2.", "benign."]),
]

SOA = "$ORIGIN %s\n$TTL 3600\n@ IN SOA ns.root. hostmaster.root. 1 3600 600 86400 300\n"


def zones(m):
    hostile = m.addr("x-hostile")
    root = SOA % "." + "@ IN NS ns.root.\nns.root. IN A %s\n" % m.addr("x-root")
    root += "victim. IN NS ns.victim.\nns.victim. IN A %s\n" % m.addr("x-victim")
    root += "".join("nxns. IN NS ns%d.victim.\n" % i for i in range(NXNS_NAMES))
    for z in ("loop.", "chain1.", "chain2.", "benign."):
        root += "%s IN NS ns.%s\nns.%s IN A %s\n" % (z, z, z, hostile)
    root += "cyc1. IN NS ns.cyc2.\ncyc2. IN NS ns.cyc1.\n"

    def hosted(z):
        return SOA % z + "@ IN NS ns\nns IN A %s\n" % hostile

    chain = {"chain1.": hosted("chain1."), "chain2.": hosted("chain2.")}
    for i in range(1, CHAIN_LEN):
        here, there = "chain%d." % (1 + (i + 1) % 2), "chain%d." % (1 + i % 2)
        chain[here] += "c%d IN CNAME c%d.%s\n" % (i, i + 1, there)
    last = "chain%d." % (1 + (CHAIN_LEN + 1) % 2)
    chain[last] += "c%d IN A 192.0.2.151\n" % CHAIN_LEN
    z = {".": root,
         "victim.": SOA % "victim." + "@ IN NS ns\nns IN A %s\n" % m.addr("x-victim"),
         "loop.": hosted("loop.") + "a IN CNAME b\nb IN CNAME a\n",
         "benign.": hosted("benign.") + "www IN A %s\n" % BENIGN_ADDR}
    z.update(chain)
    return z


@pytest.fixture(scope="module")
def mini(lab, tmp_path_factory):
    with mini_lab(tmp_path_factory.mktemp("attacks"), "attacks", lab.prefix,
                  servers=SERVERS, zones=zones, hints_ns="ns.root.",
                  hints_server="x-root") as m:
        yield m


@contextlib.contextmanager
def benign_stream(v):
    """While the block runs, a client keeps asking a cached name; yields the
    list of its outcomes (rcodes, or exceptions)."""
    assert_answer(ask(v, BENIGN), BENIGN, "A", [BENIGN_ADDR])
    out, stop = [], threading.Event()

    def run():
        while not stop.is_set():
            try:
                out.append(ask(v, BENIGN).rcode())
            except Exception as e:  # a lost answer is a failure of the stream
                out.append(e)
    t = threading.Thread(target=run)
    t.start()
    try:
        yield out
    finally:
        stop.set()
        t.join()


def check_benign(out):
    assert out, "the benign stream asked nothing"
    bad = [x for x in out if x != dns.rcode.NOERROR]
    assert not bad, "cached name not answered during the attack: %d of %d (%s)" % (
        len(bad), len(out), bad[:3])


def tag():
    return "%x" % random.getrandbits(32)


def test_nxns_bounded(mini, tmp_path):
    with own_vigil(tmp_path, mini, validation=False) as v:
        n = 6
        with benign_stream(v) as out:
            before = mini.query_counts()
            for i in range(n):
                r = ask(v, "x%d-%s.nxns." % (i, tag()))
                assert r.rcode() == dns.rcode.SERVFAIL, r
            sent = diff_counts(before, mini.query_counts())
        check_benign(out)
        victim = sent.get("x-victim", 0)
        print("NXNS: %d client queries -> upstream %s" % (n, sent))
        assert victim >= 1, "the attack did not reach victim. (%s)" % sent
        # per client query at most GLUELESS name server names, A only (no IPv6
        # upstreams here), each tried at most 4 times
        assert victim <= n * GLUELESS * 4, (
            "%d queries at victim. for %d client queries (NS names: %d; bound %d)" % (
                victim, n, NXNS_NAMES, n * GLUELESS * 4))
        # and far fewer than the referral's 40 names per query
        assert victim < n * NXNS_NAMES / 2, sent


def ask_once_under_watch(mini, tmp_path, qname):
    """A vigil of its own asks QNAME once while the benign stream runs:
    (the reply, the queries each server got meanwhile)."""
    with own_vigil(tmp_path, mini, validation=False) as v:
        with benign_stream(v) as out:
            before = mini.query_counts()
            r = ask(v, qname)
            sent = diff_counts(before, mini.query_counts())
        check_benign(out)
    return r, sent


def test_cname_loop_bounded(mini, tmp_path):
    r, sent = ask_once_under_watch(mini, tmp_path, "a.loop.")
    print("CNAME loop: upstream %s, %s" % (sent, dns.rcode.to_text(r.rcode())))
    # NSD gives the loop in one answer; vigil must not keep asking
    assert r.rcode() == dns.rcode.SERVFAIL, r
    assert sent.get("x-hostile", 0) <= 4, sent


def test_long_cname_chain_bounded(mini, tmp_path):
    r, sent = ask_once_under_watch(mini, tmp_path, "c1.chain1.")
    assert r.rcode() == dns.rcode.SERVFAIL, "a %d-link chain must stop at %d: %s" % (
        CHAIN_LEN, CNAME_CHAIN, r)
    hostile = sent.get("x-hostile", 0)
    print("CNAME chain of %d: upstream %s" % (CHAIN_LEN, sent))
    assert hostile >= CNAME_CHAIN // 2, "the chain was not followed: %s" % sent
    # one query per link followed, plus a retry or two
    assert hostile <= CNAME_CHAIN + 3, sent


def test_tsuname_cycle_bounded(mini, tmp_path):
    with own_vigil(tmp_path, mini, validation=False) as v:
        with benign_stream(v) as out:
            before = mini.query_counts()
            r = ask(v, "www.cyc1.")
            first = diff_counts(before, mini.query_counts())
            mid = mini.query_counts()
            for _ in range(10):
                r2 = ask(v, "www.cyc1.")
                assert r2.rcode() == dns.rcode.SERVFAIL, r2
            again = diff_counts(mid, mini.query_counts())
        check_benign(out)
        assert r.rcode() == dns.rcode.SERVFAIL, r
        root = first.get("x-root", 0)
        print("TsuNAME: first query upstream %s, 10 repeats %s" % (first, again))
        assert 1 <= root <= 20, "a cyclic delegation cost %d root queries: %s" % (root, first)
        # repeated within servfail-ttl: answered from the failure cache
        assert sum(again.values()) == 0, "10 repeats went upstream: %s" % again
