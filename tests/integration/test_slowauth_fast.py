"""The lab's slow server (tests/lab/slowauth.py) answers plain UDP queries
without dnspython (Zone.fast_answer, for bench/run.sh attacks): its answers
must be the very ones dnspython's path (render) makes.

No resolver here: the two paths are compared query by query, over every
attack subtree and the plain names, the query types that matter, with and
without EDNS (DO bit, cookie option, small payloads), names in upper, lower
and mixed case, and names outside the zone (REFUSED); the queries the fast
path must leave alone are checked to be left alone.  One case runs the
server itself and checks that what it sends and counts is the same.
"""
import json
import os
import random
import socket
import subprocess
import sys
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rdatatype
import dns.rrset
import pytest

import slowauth

TYPES = ["A", "AAAA", "NS", "DS", "DNSKEY", "SOA", "CNAME", "TXT", "MX"]
COOKIE = dns.edns.GenericOption(10, bytes(range(8)) + bytes(range(100, 116)))
# (use_edns, payload, ednsflags, options) of the queries
EDNS = [(False, 0, 0, []), (0, 1232, 0, []), (0, 1232, dns.flags.DO, []),
        (0, 4096, 0, [COOKIE]), (0, 512, dns.flags.DO, [COOKIE]), (0, 0, 0, [])]
# names relative to the zone (x: a tag, as in bench/attack.py's names)
NAMES = ["@", "ns1", "www", "x", "nxns", "victim", "loop", "chain", "ns1.x",
         "tsua", "tsub", "ns.tsua", "ns.tsub", "deep.x.tsub",
         "x12.nxns", "deep.x12.nxns", "n3-x12.victim", "a.b.victim",
         "ax1.loop", "bx1.loop", "cx1.loop", "ax1.y.loop",
         "c0-x1.chain", "c42-x1.chain", "c99-x1.chain", "c100-x1.chain", "c007-x1.chain",
         "c12-3-x.chain", "cq-x.chain", "c5-x.y.chain", "c-x.chain", "a_b-c.x"]
OUTSIDE = [".", "example.", "x.other.", "lab.", "xatk.", "atk.example."]
ZONES = ["atk.", "slow.lab."]


def cases(name):
    """NAME in lower case, upper case and a mixed case (as with 0x20)."""
    rng = random.Random(name)
    return [name.lower(), name.upper(),
            "".join(c.upper() if rng.random() < 0.5 else c for c in name)]


def absolute(rel, origin):
    if rel.endswith("."):
        return rel
    return origin if rel == "@" else rel + "." + origin


def query(name, rdtype, edns=(False, 0, 0, []), flags=dns.flags.RD):
    use_edns, payload, ednsflags, options = edns
    q = dns.message.make_query(name, rdtype, use_edns=use_edns, payload=payload,
                               ednsflags=ednsflags, options=options)
    q.flags = flags
    q.id = random.randrange(65536)
    return q


def slow(zone, wire):
    return slowauth.render(zone, dns.message.from_wire(wire), "udp")


def described(wire):
    """What a message says, as dnspython reads it: id, flags, rcode, EDNS
    and every section's RRsets (names, TTLs, records in any order)."""
    m = dns.message.from_wire(wire)
    return {"id": m.id, "flags": dns.flags.to_text(m.flags), "rcode": m.rcode(),
            "opcode": m.opcode(), "edns": (m.edns, m.payload, m.ednsflags, m.options),
            "question": [(r.name.to_text(), r.rdtype, r.rdclass) for r in m.question],
            "sections": [[(r.name.to_text(), r.ttl, sorted(r.to_text().splitlines()))
                          for r in sec] for sec in (m.answer, m.authority, m.additional)]}


def check_same(zone, wire):
    """The fast path's answer to WIRE, which must be dnspython's (or None
    when dnspython's answer is truncated: then that path answers)."""
    rng = random.getstate()  # both paths shuffle an NXNS referral's records alike
    fast = zone.fast_answer(wire)
    random.setstate(rng)
    want = slow(zone, wire)
    if fast is None:
        assert dns.message.from_wire(want).flags & dns.flags.TC, \
            "fast path declined %s" % described(wire)
        return None
    out, labels, qtype = fast
    q = dns.message.from_wire(wire)
    assert described(out) == described(want)
    assert out == want, "same message, other bytes (compression?)"
    assert (b".".join(labels).decode().lower() + "." == q.question[0].name.to_text().lower()
            and slowauth.FAST_TYPES[qtype] == dns.rdatatype.to_text(q.question[0].rdtype))
    return out


@pytest.mark.parametrize("origin", ZONES)
def test_fast_path_answers_as_dnspython(origin):
    zone = slowauth.Zone(origin, "127.0.0.9")
    answered, truncated = 0, set()
    for i, rel in enumerate(NAMES + OUTSIDE):
        queries = []
        for name in cases(absolute(rel, origin)):
            for j, rdtype in enumerate(TYPES):
                flags = dns.flags.RD if (i + j) % 2 else dns.flags.CD | dns.flags.AD
                queries.append(query(name, rdtype, EDNS[(i + j) % len(EDNS)], flags))
        for edns in EDNS:  # every EDNS variant and both RD settings for the A query
            for flags in (0, dns.flags.RD):
                queries.append(query(absolute(rel, origin), "A", edns, flags))
        for q in queries:
            if check_same(zone, q.to_wire()) is None:
                truncated.add(rel)
            else:
                answered += 1
    # only NXNS referrals (40 NS records) outgrow 512 bytes
    assert answered > 1400 and truncated == {"x12.nxns", "deep.x12.nxns"}


def test_fast_path_size_limit():
    """An NXNS referral the size of the querier's payload is answered, one
    byte over is left to dnspython's path (which truncates it)."""
    zone = slowauth.Zone("atk.", "127.0.0.9")
    for n in (1, 7, 20, 40, 59):
        name = "%s.nxns.atk." % ("Q" * n)
        size = len(zone.fast_answer(query(name, "A", (0, 4096, 0, [])).to_wire())[0])
        for payload in (size - 1, size, size + 1):
            wire = query(name, "A", (0, payload, 0, [])).to_wire()
            out = check_same(zone, wire)
            assert (out is None) == (payload < size) and (out is None or len(out) == size)


def test_fast_path_leaves_the_rest_alone():
    zone = slowauth.Zone("atk.", "127.0.0.9")

    def declined(wire, what):
        assert zone.fast_answer(wire) is None, what

    for name in ("d500-x.atk.", "j50-x.atk.", "s200-x.nxns.atk.", "D0-x.atk.", "d1-x.other."):
        declined(query(name, "A", EDNS[1]).to_wire(), name)
    for rdtype in ("ANY", "AXFR", "NULL", "TYPE65280"):
        declined(query("x.atk.", rdtype, EDNS[1]).to_wire(), rdtype)
    for name in ("*.atk.", "a\\.b.nxns.atk.", "a\\000.atk.", "\\195\\169.atk."):
        declined(query(name, "A", EDNS[1]).to_wire(), name)
    declined(query("x.atk.", "A", (0, 1232, 0, [dns.edns.ECSOption("192.0.2.0", 24)]))
             .to_wire(), "ECS option")
    q = query("x.atk.", "A", EDNS[1])
    q.use_edns(1, 0, 1232)
    declined(q.to_wire(), "EDNS version 1")
    q = query("x.atk.", "A")
    q.question[0].rdclass = dns.rdataclass.CH
    declined(q.to_wire(), "class CH")
    q = query("x.atk.", "A")
    q.question.append(dns.rrset.RRset(dns.name.from_text("y.atk."), dns.rdataclass.IN,
                                      dns.rdatatype.A))
    declined(q.to_wire(), "two questions")
    q = query("x.atk.", "A")
    q.answer.append(dns.rrset.from_text("x.atk.", 300, "IN", "A", "192.0.2.1"))
    declined(q.to_wire(), "an answer section")
    wire = query("x.atk.", "A", EDNS[1]).to_wire()
    declined(wire + b"\x00", "trailing junk")
    declined(wire[:-1], "cut short")
    declined(wire[:2] + bytes([wire[2] | 0x80]) + wire[3:], "QR set")
    declined(wire[:2] + bytes([wire[2] | 0x20]) + wire[3:], "opcode UPDATE")
    declined(wire[:12] + b"\xc0\x0c" + wire[-15:], "a compressed question name")
    long_x = "x" * 60 + ".nxns.atk."  # n39-xxx... is no label: no answer made here
    declined(query(long_x, "A", EDNS[1]).to_wire(), long_x)


def free_port():
    for _ in range(50):
        port = random.randrange(20000, 60000)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
                    socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                u.bind(("127.0.0.1", port))
                t.bind(("127.0.0.1", port))
                return port
        except OSError:
            continue
    raise RuntimeError("no free port")


@pytest.mark.parametrize("bench", [False, True])
def test_server_sends_and_counts_the_same(tmp_path, bench):
    """The running server: its answers are dnspython's, and its count file
    counts the fast path's queries as it counts the others."""
    port = free_port()
    pidfile, countfile = str(tmp_path / "s.pid"), str(tmp_path / "s.json")
    args = [sys.executable, slowauth.__file__] + (["--bench"] if bench else []) + \
        ["127.0.0.1", str(port), pidfile, countfile, "atk.", "60"]
    proc = subprocess.Popen(args)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(pidfile):
            assert proc.poll() is None and time.monotonic() < deadline, "slowauth did not start"
            time.sleep(0.05)
        zone = slowauth.Zone("atk.", "127.0.0.1")
        want = {}
        sent = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            for i, rel in enumerate(["X1.nxns", "n0-x1.Victim", "ax.loop", "c3-x.chain",
                                     "ns.tsub", "www", "@", "ns1", "d0-x", "x.other."]):
                for j, rdtype in enumerate(["A", "AAAA", "NS", "ANY"]):
                    q = query(absolute(rel, "atk."), rdtype, EDNS[(i + j) % len(EDNS)])
                    wire = q.to_wire()
                    s.sendto(wire, ("127.0.0.1", port))
                    out, _ = s.recvfrom(65535)
                    assert described(out) == described(slow(zone, wire)), described(wire)
                    sent += 1
                    key = "%s %s" % (q.question[0].name.to_text().lower(), rdtype)
                    want[key] = want.get(key, 0) + 1
        deadline = time.monotonic() + 10
        while True:
            with open(countfile) as f:
                counts = json.load(f)
            if counts["udp"] == sent or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert counts["udp"] == sent and counts["tcp"] == 0
        assert counts["names"] == ({} if bench else want)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
