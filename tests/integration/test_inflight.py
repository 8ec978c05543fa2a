"""Identical queries in flight are shared: N clients ask for one name at once,
the authoritative server sees one query for it.

The name lives on the lab's slow server (tests/lab/slowauth.py), which holds
its answer back for a second: every client's query reaches the resolver while
the first upstream query is still outstanding, so nothing but sharing (no
cache, no luck in timing) can explain a single query at the server.  The
resolver's retry timer for a server it has no round-trip time for is set
above that second, so a retransmission does not count as a second query.
The slow server counts queries per name and type (lab.slow_queries).
"""
import random
import socket

import dns.message
import dns.rcode
import pytest

import lab as labmod
from helpers import assert_answer, own_resolver, replace_once, settle

# Every client has its own source port, so SO_REUSEPORT spreads them over the
# workers: with 2 workers, the chance that all 64 land on one is 2 ** -63
# (and the vigil-only check below says whether a join across workers
# happened).  There is no cap on the askers one upstream query serves.
CLIENTS = 64
DELAY_MS = 1000


def config(workers):
    def edit(kind, text):
        if kind == "vigil":
            text = replace_once(text, "  workers: 2\n", "  workers: %d\n" % workers)
            return text + "limits:\n  upstream-timeout: 3000\n"
        text = replace_once(text, "  num-threads: 2\n", "  num-threads: %d\n" % workers)
        return replace_once(text, "  prefetch: no\n",
                            "  prefetch: no\n  infra-cache-min-rtt: 3000\n")
    return edit


def ask_all_at_once(r, name):
    """CLIENTS clients (a socket each) send the same query, then all read."""
    socks = []
    try:
        for _ in range(CLIENTS):
            q = dns.message.make_query(name, "A", use_edns=0, payload=1232)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(8)
            s.sendto(q.to_wire(), (r.addr, r.port))
            socks.append((s, q))
        out = []
        for s, q in socks:
            a = dns.message.from_wire(s.recv(65535))
            assert a.id == q.id, a
            out.append(a)
        return out
    finally:
        for s, _ in socks:
            s.close()


def shared_once(lab, tmp_path, workers, across=False):
    r = own_resolver(lab, tmp_path, config(workers))
    try:
        s0 = r.stats() if across else None
        # a name the resolver has never seen, in a zone it has never asked:
        # the delegation, the DS proof and the name itself are all fetched now
        name = "d%d-%x.slow.lab." % (DELAY_MS, random.getrandbits(40))
        answers = ask_all_at_once(r, name)
        for a in answers:
            assert_answer(a, name, "A", [labmod.SLOW_ADDR])
        settle(lab)
        asked = lab.slow_queries(name, "A")
        assert asked == 1, ("%d identical client queries in flight (%d worker%s): the "
                            "slow server got %d queries for %s A"
                            % (CLIENTS, workers, "" if workers == 1 else "s", asked, name))
        if across:  # a worker joined the other worker's query in flight
            joined = r.stats()["upstream_shared_xworker"] - s0["upstream_shared_xworker"]
            assert joined >= 1, "no join across workers (%d)" % joined
    finally:
        r.stop()


def test_identical_queries_in_flight_are_shared(lab, tmp_path):
    shared_once(lab, tmp_path, 1)


@pytest.mark.vigil_only
def test_identical_queries_shared_across_workers(lab, tmp_path):
    shared_once(lab, tmp_path, 2, across=True)
