"""Identical upstream queries in flight are shared across worker threads.

A vigil of its own with `workers: 2` (its listening sockets use SO_REUSEPORT,
so the kernel spreads clients over both workers by their address and port)
gets a burst of identical queries from many source ports for a name whose
authoritative server (the lab's slow server, tests/lab/slowauth.py) holds
the reply back a second ("d1000-" names).  All of them arrive while the first
upstream query is in flight, so the server must see that name asked exactly once --
counted at the server, not at vigil -- and vigil's stats must show that a
worker joined the other worker's query.
"""
import os
import socket
import time

import dns.message
import dns.rcode
import pytest

import conftest
import lab as labmod
from helpers import assert_answer, settle

CLIENTS = 64  # source ports: all on one worker has probability 2 * 2**-64


class TwoWorkers(conftest.Resolver):
    """vigil with two workers and an upstream timeout well above the slow
    server's delay (a retry would be a second query for another reason): 3 s
    for a server not measured yet, and 3 x RTT (RFC 6298 after one sample,
    capped at 3 s) for one measured by the warm-up query."""

    def __init__(self, workdir, lab):
        super().__init__("vigil", workdir, lab, conftest.free_port())

    def write_config(self):
        self.config_path = os.path.join(self.dir, "vigil.yaml")
        with open(self.config_path, "w") as f:
            f.write("server:\n  listen: [ \"127.0.0.1@%d\" ]\n  workers: 2\n"
                    "resolver:\n  root-hints: %s\n  query-localhost: yes\n"
                    "limits:\n  upstream-timeout: 3000\n"
                    "dnssec:\n  trust-anchor-file: [ \"%s\" ]\n"
                    "log:\n  level: info\n"
                    % (self.port, self.lab.root_hints, self.lab.trust_anchor))


@pytest.fixture
def two_workers(lab, tmp_path):
    v = TwoWorkers(str(tmp_path), lab)
    v.start()
    yield v
    clean = v.stop()
    assert clean, "vigil did not stop on SIGTERM:\n" + v.log_tail()
    assert v.proc.returncode == 0, ("vigil exited with status %d (a sanitizer build: "
                                    "see its report):\n%s" % (v.proc.returncode, v.log_tail()))


@pytest.mark.vigil_only
def test_burst_sends_one_upstream_query_across_workers(two_workers, lab):
    v = two_workers
    # the zone cut and the proof that slow.lab. is unsigned, cached first (the
    # cache is shared by the workers): the burst needs nothing but its own name
    assert_answer(v.query("d1000-warm.slow.lab.", "A"), "d1000-warm.slow.lab.", "A",
                  [labmod.SLOW_ANSWER])
    name = "d1000-burst-%d.slow.lab." % int(time.time() * 1000)
    settle(lab)
    assert lab.slow_queries(name) == 0
    s0 = v.stats()

    socks, ids = [], []
    try:
        for _ in range(CLIENTS):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))  # a port of its own: the kernel hashes on it
            s.settimeout(10)
            socks.append(s)
        assert len({s.getsockname()[1] for s in socks}) == CLIENTS
        wires = []
        for _ in socks:
            q = dns.message.make_query(name, "A", use_edns=0, payload=1232)
            ids.append(q.id)
            wires.append(q.to_wire())
        for s, w in zip(socks, wires):  # all sent within the slow server's delay
            s.sendto(w, (v.addr, v.port))
        for s, qid in zip(socks, ids):
            r = dns.message.from_wire(s.recv(4096))
            assert r.id == qid
            assert_answer(r, name, "A", [labmod.SLOW_ANSWER])
    finally:
        for s in socks:
            s.close()

    settle(lab)  # nothing more on its way to the servers
    asked = lab.slow_queries(name)
    s1 = v.stats()
    joined = s1["upstream_shared"] - s0["upstream_shared"]
    xjoined = s1["upstream_shared_xworker"] - s0["upstream_shared_xworker"]
    assert asked == 1, ("%d identical client queries from %d ports caused %d queries at "
                        "the authoritative server (joined %d, across workers %d)"
                        % (CLIENTS, CLIENTS, asked, joined, xjoined))
    # 64 client ports over two SO_REUSEPORT sockets: both workers got some of
    # them, so the worker that did not send joined the other one's query
    assert xjoined >= 1, ("no worker joined the other's query in flight (joined %d); "
                          "stats: %s" % (joined, s1))
    assert xjoined <= joined
