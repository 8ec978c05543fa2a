"""Client-facing transport: TCP pipelining, EDNS, access control."""
import random
import socket
import struct
import time

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode

import lab as labmod
from helpers import assert_answer, assert_rcode, show, tcp_read_msg


def test_tcp_single_query(resolver):
    r = resolver.query("www.basic.lab.", "AAAA", tcp=True)
    assert_answer(r, "www.basic.lab.", "AAAA", ["2001:db8::10"])


def test_tcp_pipelining(resolver):
    """One connection, 5 queries written back to back before reading; 5 answers
    (any order), matched by ID."""
    names = {0x5101 + i: ("pipe%d.basic.lab." % (i + 1), "192.0.2.%d" % (41 + i))
             for i in range(5)}
    wire = b""
    for qid, (name, _) in names.items():
        q = dns.message.make_query(name, "A", use_edns=0, payload=1232)
        q.id = qid
        w = q.to_wire()
        wire += struct.pack("!H", len(w)) + w
    s = socket.create_connection((resolver.addr, resolver.port), timeout=10)
    try:
        s.sendall(wire)
        got = {}
        deadline = time.monotonic() + 10
        while len(got) < len(names) and time.monotonic() < deadline:
            data = tcp_read_msg(s)
            assert data is not None, ("connection closed after %d of %d pipelined "
                                      "answers" % (len(got), len(names)))
            r = dns.message.from_wire(data)
            assert r.id in names, "answer with unknown ID %#x:%s" % (r.id, show(r))
            assert r.id not in got, "two answers for ID %#x" % r.id
            got[r.id] = r
    finally:
        s.close()
    assert len(got) == len(names), "got %d of %d pipelined answers" % (len(got), len(names))
    for qid, (name, addr) in names.items():
        assert_answer(got[qid], name, "A", [addr])


def test_tcp_answers_out_of_order(resolver, lab):
    """RFC 7766 6.2.1.1: on one connection, a query whose upstream answer is held
    back (the lab's slow server answers d<ms>-* names late) and then one for a
    cached name: the cached answer must not wait behind the slow one."""
    cached = "www.basic.lab."
    assert_answer(resolver.query(cached, "A"), cached, "A", ["192.0.2.10"])
    # Held back 250 ms: ages for a cached answer, and still answered by vigil
    # when it knows the server as a fast one (it retries after 50, 100, 200 and
    # 400 ms, each try replacing the last, then gives up at 750 ms)
    slow = "d250-%x.slow.lab." % random.getrandbits(40)
    qs = dns.message.make_query(slow, "A", use_edns=0, payload=1232)
    qc = dns.message.make_query(cached, "A", use_edns=0, payload=1232)
    qs.id, qc.id = 0x7101, 0x7102
    wire = b"".join(struct.pack("!H", len(w)) + w for w in (qs.to_wire(), qc.to_wire()))
    s = socket.create_connection((resolver.addr, resolver.port), timeout=10)
    try:
        s.sendall(wire)  # both in one write: the slow one first
        got = []
        for _ in range(2):
            data = tcp_read_msg(s)
            assert data is not None, "connection closed after %d of 2 answers" % len(got)
            got.append(dns.message.from_wire(data))
    finally:
        s.close()
    assert [r.id for r in got] == [qc.id, qs.id], (
        "answer order %s: the cached answer (%#x) waited for the slow one (%#x)"
        % (["%#x" % r.id for r in got], qc.id, qs.id))
    assert_answer(got[0], cached, "A", ["192.0.2.10"])
    assert_answer(got[1], slow, "A", [labmod.SLOW_ADDR])
    assert lab.slow_queries(slow, "A") >= 1, "the slow name never reached the slow server"


def test_tcp_connection_reused_sequentially(resolver):
    """Three queries one after another on one connection (RFC 7766 keep-open)."""
    s = socket.create_connection((resolver.addr, resolver.port), timeout=10)
    try:
        for i, name in enumerate(("www.basic.lab.", "mail.basic.lab.", "mail2.basic.lab.")):
            q = dns.message.make_query(name, "A")
            q.id = 0x6100 + i
            w = q.to_wire()
            s.sendall(struct.pack("!H", len(w)) + w)
            data = tcp_read_msg(s)
            assert data is not None, "connection closed after %d answers" % i
            r = dns.message.from_wire(data)
            assert r.id == q.id
            assert_rcode(r, "NOERROR")
            assert r.answer, show(r)
    finally:
        s.close()


def test_edns_opt_in_answer(resolver):
    r = resolver.query("edns.basic.lab.", "A", use_edns=0, payload=4096)
    assert_answer(r, "edns.basic.lab.", "A", ["192.0.2.17"])
    assert r.edns == 0, "answer to an EDNS query must carry OPT (version 0):" + show(r)
    assert r.payload == 1232, "OPT must advertise udp size 1232, got %d" % r.payload


def test_no_edns_no_opt(resolver):
    r = resolver.query("edns.basic.lab.", "A", use_edns=False)
    assert_answer(r, "edns.basic.lab.", "A", ["192.0.2.17"])
    assert r.edns < 0, "answer to a query without EDNS must not carry OPT:" + show(r)


def test_acl_refused_from_other_loopback_source(resolver):
    """access-control: 127.0.0.1/32 allow, 127.0.0.0/8 refuse."""
    r = resolver.query("www.basic.lab.", "A", source="127.0.0.2", timeout=3)
    assert_rcode(r, "REFUSED")
    assert not r.answer, "REFUSED must not leak an answer:" + show(r)
    r = resolver.query("www.basic.lab.", "A", source="127.0.0.1", timeout=3)
    assert_answer(r, "www.basic.lab.", "A", ["192.0.2.10"])


def test_acl_refused_over_tcp(resolver):
    """Over TCP a refused client gets REFUSED or a closed connection, never data."""
    q = dns.message.make_query("www.basic.lab.", "A")
    try:
        r = dns.query.tcp(q, resolver.addr, port=resolver.port, timeout=3,
                          source="127.0.0.2")
    except (EOFError, ConnectionError, OSError, dns.exception.Timeout):
        r = None  # closed: no data either
    if r is not None:
        assert_rcode(r, "REFUSED")
        assert not r.answer, show(r)
    # either way the resolver is still running and serves an allowed client over TCP
    assert resolver.alive(), "the resolver died:\n" + resolver.log_tail()
    r = resolver.query("www.basic.lab.", "A", tcp=True, source="127.0.0.1", timeout=3)
    assert_answer(r, "www.basic.lab.", "A", ["192.0.2.10"])

