"""Malformed and unusual queries: the resolver answers with a fitting error code or
not at all, never crashes, and keeps answering normal queries afterwards."""
import random
import socket
import struct

import dns.edns
import dns.message
import dns.name
import dns.rcode
import pytest

from helpers import assert_answer, show, udp_raw

FORMERR, NOTIMP, REFUSED = dns.rcode.FORMERR, dns.rcode.NOTIMP, dns.rcode.REFUSED
QID = 0x4242
RD = 0x0100


def header(qid=QID, flags=RD, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def question(name="www.basic.lab.", qtype=1, qclass=1):
    return dns.name.from_text(name).to_wire() + struct.pack("!HH", qtype, qclass)


def opt_rr(version=0, payload=1232):
    # root name, TYPE OPT, CLASS = payload, TTL = ext-rcode|version|flags, RDLEN 0
    return b"\x00" + struct.pack("!HHBBHH", 41, payload, 0, version, 0, 0)


def _random_packets():
    rnd = random.Random(20240101)
    out = []
    for i in range(8):
        n = rnd.randint(12, 80)
        b = bytearray(rnd.getrandbits(8) for _ in range(n))
        b[2] &= 0x7F  # QR=0: it claims to be a query, so the server must look at it
        out.append(("random-%d" % i, bytes(b)))
    return out


# name -> (packet, rcodes acceptable in a reply, silence acceptable)
CASES = {
    "short-3-bytes": (b"\x42\x42\x01", {FORMERR}, True),
    "header-only-11-bytes": (header()[:11], {FORMERR}, True),
    "compression-loop-self": (header() + b"\xc0\x0c" + struct.pack("!HH", 1, 1),
                              {FORMERR}, True),
    "compression-loop-label": (header() + b"\x01a\xc0\x0c" + struct.pack("!HH", 1, 1),
                               {FORMERR}, True),
    "compression-pointer-out-of-range": (header() + b"\x03www\xc0\xf0"
                                         + struct.pack("!HH", 1, 1), {FORMERR}, True),
    "label-longer-than-packet": (header() + b"\x3fabc", {FORMERR}, True),
    "question-without-type-class": (header() + dns.name.from_text("www.basic.lab.").to_wire(),
                                    {FORMERR}, True),
    "qdcount-0": (header(qd=0), {FORMERR}, True),
    "qdcount-2": (header(qd=2) + question() + question("mail.basic.lab."),
                  {FORMERR, NOTIMP}, True),
    "qdcount-2-but-one-question": (header(qd=2) + question(), {FORMERR}, True),
    "two-opt-records": (header(ar=2) + question() + opt_rr() + opt_rr(), {FORMERR}, True),
    "opcode-status": (header(flags=RD | (2 << 11)) + question(), {NOTIMP}, False),
    "opcode-update": (header(flags=(5 << 11)) + question(), {NOTIMP, REFUSED}, False),
    "class-chaos": (header() + question(qclass=3), {REFUSED, NOTIMP}, False),
    "qr-set-response": (header(flags=0x8000 | RD) + question(), set(), True),
}
for _name, _pkt in _random_packets():
    CASES[_name] = (_pkt, {FORMERR, NOTIMP, REFUSED}, True)


def _still_answers(resolver):
    if resolver.proc is not None:
        assert resolver.alive(), "resolver died; log tail:\n" + resolver.log_tail()
    r = resolver.query("www.basic.lab.", "A", timeout=3)
    assert_answer(r, "www.basic.lab.", "A", ["192.0.2.10"])


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_udp(resolver, case):
    pkt, allowed, silence_ok = CASES[case]
    raw = udp_raw(resolver.addr, resolver.port, pkt, timeout=1.5)
    if raw is None:
        assert silence_ok, "%s: no answer, expected one of %s" % (
            case, sorted(dns.rcode.to_text(x) for x in allowed))
    else:
        assert len(raw) >= 12, "%s: reply shorter than a header: %r" % (case, raw)
        qid, flags = struct.unpack("!HH", raw[:4])
        assert allowed, "%s: must not be answered, got %r" % (case, raw[:32])
        assert flags & 0x8000, "%s: reply without QR" % case
        if len(pkt) >= 2:
            assert qid == struct.unpack("!H", pkt[:2])[0], "%s: reply ID differs" % case
        rcode = flags & 0xF
        try:
            msg = dns.message.from_wire(raw, ignore_trailing=True)
            rcode = msg.rcode()
        except Exception:
            msg = None
        assert rcode in allowed, "%s: rcode %s, expected one of %s%s" % (
            case, dns.rcode.to_text(rcode), sorted(dns.rcode.to_text(x) for x in allowed),
            show(msg) if msg else " (unparsable reply %r)" % raw[:64])
    _still_answers(resolver)


def test_edns_version_1_badvers(resolver):
    q = dns.message.make_query("www.basic.lab.", "A")
    q.use_edns(1, payload=1232)  # make_query(use_edns=1) sends version 0 in dnspython 2.3
    r = resolver.send(q, timeout=3)
    assert r.rcode() == dns.rcode.BADVERS, "expected BADVERS, got %s:%s" % (
        dns.rcode.to_text(r.rcode()), show(r))
    assert r.edns == 0, "BADVERS reply must carry OPT version 0:" + show(r)
    assert not r.answer, show(r)


def _tcp_send_and_close(resolver, data, read=True):
    s = socket.create_connection((resolver.addr, resolver.port), timeout=3)
    try:
        s.sendall(data)
        if read:
            s.settimeout(1.5)
            try:
                return s.recv(65535)
            except (socket.timeout, ConnectionError):
                return None
        return None
    finally:
        s.close()


@pytest.mark.parametrize("case", ["length-longer-than-data", "length-zero",
                                  "garbage-message", "half-length-prefix"])
def test_malformed_tcp(resolver, case):
    if case == "length-longer-than-data":
        _tcp_send_and_close(resolver, struct.pack("!H", 512) + header() + b"\x03ww", read=False)
    elif case == "length-zero":
        _tcp_send_and_close(resolver, b"\x00\x00")
    elif case == "garbage-message":
        raw = _tcp_send_and_close(resolver, struct.pack("!H", 20) + b"\x42\x42" + b"\xff" * 18)
        if raw:
            assert len(raw) >= 14 and raw[2:4] == b"\x42\x42", "reply ID differs: %r" % raw[:16]
            assert raw[5] & 0xF in (FORMERR, NOTIMP, REFUSED), "rcode %d" % (raw[5] & 0xF)
    else:
        _tcp_send_and_close(resolver, b"\x00", read=False)
    _still_answers(resolver)


def test_still_answers_after_everything(resolver):
    """Fire every malformed UDP packet again, back to back, then resolve normally."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _ in range(3):
            for pkt, _, _ in CASES.values():
                s.sendto(pkt, (resolver.addr, resolver.port))
    finally:
        s.close()
    _still_answers(resolver)
    r = resolver.query("www.basic.lab.", "AAAA", tcp=True, timeout=3)
    assert_answer(r, "www.basic.lab.", "AAAA", ["2001:db8::10"])
