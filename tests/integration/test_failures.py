"""Failures say why (RFC 8914): a resolution that fails is SERVFAIL with an
Extended DNS Error and EXTRA-TEXT, and a resolver cut off from a zone's (or
the root's) name servers logs a warning, once.

* every server of a zone times out           -> EDE 22 No Reachable Authority
* every server of a zone is unreachable       -> EDE 23 Network Error
  (ICMP port unreachable: ECONNREFUSED)
* the same question again within servfail-ttl -> EDE 13 Cached Error (RFC 9520)
* a limit of vigil's own (max-cname-chain)    -> EDE 0 Other, the limit as text
* no root name server answers                 -> EDE 23 and one warning that
  says to check the network and the root hints, not one per query

Each vigil here is a test_daemon.Custom with the lab's root hints; forward
zones point at the lab's silent (blackhole) and dead (nothing listening)
addresses.  vigil only.
"""
import os
import re
import time

import dns.message
import dns.rcode
import pytest

from helpers import assert_rcode, show, wait_log
from test_daemon import Custom

pytestmark = pytest.mark.vigil_only

EDE = 15  # EDNS option code of RFC 8914


def edes(msg):
    """[(code, text)] of the EDE options in MSG."""
    out = []
    for o in msg.options:
        if o.otype == EDE:
            wire = o.to_wire() if hasattr(o, "to_wire") else o.data
            code = int.from_bytes(wire[:2], "big")
            out.append((code, wire[2:].decode("utf-8", "replace")))
    return out


def ask(v, name, rdtype="A"):
    q = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
    return v.send(q, timeout=8)


@pytest.fixture
def cut_off(lab, tmp_path):
    """A vigil whose forward zones lead nowhere; short upstream timeouts."""
    extra = ("forward-zones:\n"
             "  - zone: silent.test\n    upstreams: [ \"%s\" ]\n"
             "  - zone: dead.test\n    upstreams: [ \"%s\" ]\n"
             "limits:\n  upstream-timeout: 100\n  max-cname-chain: 1\n"
             "cache:\n  servfail-ttl: 60\n" % (lab.addr("lame-silent"), lab.addr("lame-dead")))
    v = Custom(str(tmp_path), lab, extra)
    v.start()
    yield v
    v.stop()


def test_every_server_times_out_ede_22(cut_off):
    r = ask(cut_off, "www.silent.test.")
    assert_rcode(r, "SERVFAIL")
    got = edes(r)
    assert len(got) == 1 and got[0][0] == 22, got
    assert "no reachable authority for silent.test." in got[0][1], got
    assert "timed out" in got[0][1], got
    assert wait_log(cut_off, r"warning.*no name server of silent\.test\. answers"), \
        cut_off.log_tail()


def test_every_server_unreachable_ede_23(cut_off):
    r = ask(cut_off, "www.dead.test.")
    assert_rcode(r, "SERVFAIL")
    got = edes(r)
    assert len(got) == 1 and got[0][0] == 23, got
    assert "network error reaching the name servers of dead.test." in got[0][1], got


def test_cached_failure_ede_13(cut_off):
    r = ask(cut_off, "a.dead.test.")
    assert edes(r)[0][0] == 23, show(r)
    r = ask(cut_off, "a.dead.test.")  # within servfail-ttl: from the failure cache
    assert_rcode(r, "SERVFAIL")
    got = edes(r)
    assert len(got) == 1 and got[0][0] == 13, got
    assert "failure cached" in got[0][1] and "network error" in got[0][1], got


def test_own_limit_ede_0_with_text(cut_off):
    # a.chain1.lab -> b.chain2.example -> c.chain3.lab: two CNAMEs, the limit is 1
    r = ask(cut_off, "a.chain1.lab.")
    assert_rcode(r, "SERVFAIL")
    got = edes(r)
    assert got == [(0, "vigil: CNAME chain too long")], got


class DeadRoot(Custom):
    """A vigil whose root hints name only an address where nothing listens."""

    def __init__(self, workdir, lab, hints):
        super().__init__(workdir, lab, "")
        self.hints = hints

    def text(self, extra=None):
        return (super().text(extra)
                .replace("root-hints: %s" % self.lab.root_hints,
                         "root-hints: %s\n  prime-root: no" % self.hints)
                + "limits:\n  upstream-timeout: 100\n")

    def ready(self):
        """Ready when it says so: it cannot resolve the usual ready name."""
        return bool(re.search(r"vigil \S+ started", self.log_text())), "not started"


def test_no_root_server_answers_warns_once(lab, tmp_path):
    hints = os.path.join(str(tmp_path), "dead.hints")
    with open(hints, "w") as f:
        f.write(".  3600000 IN NS a.root.test.\n"
                "a.root.test.  3600000 IN A %s\n" % lab.addr("lame-dead"))
    v = DeadRoot(str(tmp_path), lab, hints)
    v.start()
    try:
        r = ask(v, "www.example.")
        assert_rcode(r, "SERVFAIL")
        got = edes(r)
        assert len(got) == 1 and got[0][0] == 23 and "name servers of ." in got[0][1], got
        r = ask(v, "www.other.")  # another name, same cause
        assert_rcode(r, "SERVFAIL")
        assert edes(r)[0][0] == 23, show(r)
        assert wait_log(v, r"no root name server answers.*root-hints"), v.log_tail()
        n = len(re.findall(r"no root name server answers", v.log_text()))
        assert n == 1, "warned %d times:\n%s" % (n, v.log_tail())
    finally:
        assert v.stop(), v.log_tail()
