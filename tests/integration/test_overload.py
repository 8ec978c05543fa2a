"""Overload: a full request table sheds load fairly (issue 11 section 2).

A vigil with one worker and a request table of 16 (limits.max-requests).
Client A (127.0.0.1) fills it with cache misses under slow.lab., whose
server holds d3000-* names for 3 s, and sends more; client B (127.0.0.2)
then asks a name vigil has not cached.  B is answered (A's oldest request
gives way), A's queries past its share are refused at once with SERVFAIL
and a reason, a cached name is answered to A while the table is full, and
the stats count what was shed and evicted.  No timing is asserted: the test
waits for vigil's own count of requests in flight.
"""
import random
import socket
import time

import dns.message
import dns.rcode
import pytest

from helpers import assert_answer, own_resolver, replace_once

pytestmark = pytest.mark.vigil_only

TABLE = 16
CACHED = "www.basic.lab."


def overloaded_vigil(lab, tmp_path):
    def edit(kind, text):
        text = replace_once(text, "  workers: 2\n", "  workers: 1\n")
        text = replace_once(text, '[ "127.0.0.1/32 allow", "127.0.0.0/8 refuse" ]',
                            '[ "127.0.0.0/8 allow" ]')
        return text + "limits:\n  max-requests: %d\n" % TABLE
    return own_resolver(lab, tmp_path, edit)


def ede_texts(msg):
    return [getattr(o, "text", "") or "" for o in msg.options if o.otype == 15]


def test_full_table_sheds_fairly(lab, tmp_path):
    v = overloaded_vigil(lab, tmp_path)
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        assert_answer(v.query(CACHED), CACHED, "A", ["192.0.2.10"])
        s0 = v.stats()
        a.bind(("127.0.0.1", 0))
        tag = "%x" % random.getrandbits(32)
        n = TABLE + 24
        for i in range(n):
            q = dns.message.make_query("d3000-%s-%d.slow.lab." % (tag, i), "A", use_edns=0,
                                       payload=1232)
            q.id = i
            a.sendto(q.to_wire(), (v.addr, v.port))
        # wait for vigil's own count: the table is full
        deadline = time.monotonic() + 10
        while v.stats()["inflight"] < TABLE:
            assert time.monotonic() < deadline, "the table never filled: %s" % v.stats()
            time.sleep(0.05)

        # a cached answer needs no request: A gets it while the table is full
        q = dns.message.make_query(CACHED, "A")
        q.id = 60000
        a.sendto(q.to_wire(), (v.addr, v.port))

        # B, a newcomer, asks a name vigil has not cached: answered
        b = dns.message.make_query("mail.basic.lab.", "A")
        r = v.send(b, timeout=5, source="127.0.0.2")
        assert_answer(r, "mail.basic.lab.", "A", ["192.0.2.25"])

        # what A got so far: SERVFAIL "overloaded" for what was shed at once
        # and for its oldest request (evicted for B); the cached name
        a.settimeout(2.0)
        got = {}
        try:
            while len(got) < n + 1:
                m = dns.message.from_wire(a.recv(4096))
                got[m.id] = m
        except socket.timeout:
            pass
        cached = got.pop(60000, None)
        assert cached is not None, "the cached name was not answered while the table was full"
        assert_answer(cached, CACHED, "A", ["192.0.2.10"])
        shed = [m for m in got.values()
                if m.rcode() == dns.rcode.SERVFAIL and any("overloaded" in t
                                                           for t in ede_texts(m))]
        assert len(shed) >= n - TABLE + 1, (
            "%d of %d queries past the table shed with a reason; got %s" % (
                len(shed), n - TABLE + 1,
                sorted((i, dns.rcode.to_text(m.rcode())) for i, m in got.items())))
        assert 0 in got and got[0] in shed, "A's oldest request did not give way to B"
        st = v.stats()
        assert st["shed"] - s0["shed"] >= n - TABLE, st
        assert st["evicted"] - s0["evicted"] >= 1, st
        assert st["inflight"] <= TABLE, st
        assert "overloaded" in v.log_text()
    finally:
        a.close()
        v.stop()
