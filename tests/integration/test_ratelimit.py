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
