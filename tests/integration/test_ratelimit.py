"""UDP rate limiting per client prefix (rate-limit section).

A vigil that limits even loopback (exempt: [ ]) to 10 queries a second
with a burst of 10 and slip 2: 100 UDP queries sent at once get at most the
burst plus what the elapsed time refills in full answers, about half of the
rest an empty truncated answer (TC), and the others nothing; a TCP query is
answered meanwhile (TCP is not limited); the default config exempts
loopback (the rest of the suite runs on it).
"""
import socket
import time

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import pytest

import conftest
from helpers import assert_answer, own_resolver, replace_once

pytestmark = pytest.mark.vigil_only

WWW = "www.basic.lab."


@pytest.fixture
def limited(lab, tmp_path):
    def edit(kind, text):
        return text + ("rate-limit:\n  queries-per-second: 10\n  burst: 10\n  slip: 2\n"
                       "  exempt: [ ]\n")
    if conftest.RESOLVER_KIND != "vigil":
        pytest.skip("vigil's own rate limit")
    v = own_resolver(lab, tmp_path, edit)
    yield v
    v.stop()


def blast(v, n):
    """N queries from one UDP socket without waiting; the answers that come."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    t0 = time.monotonic()
    for i in range(n):
        q = dns.message.make_query(WWW, "A")
        q.id = i
        s.sendto(q.to_wire(), (v.addr, v.port))
    elapsed = time.monotonic() - t0
    got = []
    s.settimeout(1.0)
    try:
        while True:
            got.append(dns.message.from_wire(s.recv(4096)))
    except socket.timeout:
        pass
    s.close()
    return got, elapsed


def test_udp_rate_limit_with_slip(limited):
    got, elapsed = blast(limited, 100)
    full = [m for m in got if not m.flags & dns.flags.TC]
    tc = [m for m in got if m.flags & dns.flags.TC]
    assert all(m.rcode() == dns.rcode.NOERROR and m.answer for m in full), full
    assert all(not m.answer for m in tc)
    # never more than the burst and the refill while sending (whatever the
    # start-up check left in the bucket)
    allowed = 10 + int(10 * elapsed) + 1
    assert len(full) <= allowed, (len(full), elapsed)
    limited_n = 100 - len(full)
    # every 2nd limited query gets TC (one worker or two: each counts its own)
    assert abs(len(tc) - limited_n / 2) <= 2, (len(tc), limited_n)
    st = limited.stats()
    assert st["rate_limited"] >= limited_n, st
    # TCP is not limited
    assert_answer(limited.query(WWW, tcp=True), WWW, "A", ["192.0.2.10"])


def test_loopback_exempt_by_default(resolver):
    got, _ = blast(resolver, 100)
    assert len(got) == 100 and not any(m.flags & dns.flags.TC for m in got)


def cookie_query(cookie):
    q = dns.message.make_query(WWW, "A", use_edns=0, payload=1232)
    q.use_edns(0, 0, 1232, options=[dns.edns.GenericOption(10, cookie)])
    return q


def answer_cookie(msg):
    for o in msg.options:
        if o.otype == 10:
            return o.to_wire() if hasattr(o, "to_wire") else o.data
    return None


def test_cookies_and_the_rate_limit(limited):
    """DNS cookies (RFC 7873): the answer carries the client cookie back with
    a 16-byte server cookie; a client that presents it is not rate limited
    (100 queries at once, all answered in full); a malformed COOKIE option is
    FORMERR."""
    cc = b"\x01\x02\x03\x04\x05\x06\x07\x08"
    r = limited.send(cookie_query(cc), tcp=True)  # TCP: not limited, any bucket state
    got = answer_cookie(r)
    assert got is not None and len(got) == 24 and got[:8] == cc, got
    assert got[8] == 1, got  # RFC 9018 version 1
    before = limited.stats()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    for i in range(100):
        q = cookie_query(got)
        q.id = i
        s.sendto(q.to_wire(), (limited.addr, limited.port))
    answers = []
    s.settimeout(1.0)
    try:
        while True:
            answers.append(dns.message.from_wire(s.recv(4096)))
    except socket.timeout:
        pass
    s.close()
    full = [m for m in answers if not m.flags & dns.flags.TC and m.answer]
    assert len(full) == 100, "%d of 100 queries with a valid cookie answered" % len(full)
    after = limited.stats()
    assert after["cookies_valid"] - before["cookies_valid"] >= 100, (before, after)
    assert after["rate_limited"] == before["rate_limited"], (before, after)
    # a COOKIE option of a wrong length
    r = limited.send(cookie_query(b"\x01\x02\x03"), tcp=True)
    assert r.rcode() == dns.rcode.FORMERR, r
