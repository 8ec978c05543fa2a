"""Process control: SIGUSR1 stats line (vigil only), SIGHUP reload."""
import signal
import struct
import time

import pytest

from helpers import assert_answer, assert_rcode, udp_raw

STATS_KEYS = ("queries", "cache_hits", "upstream_udp", "upstream_tcp", "malformed", "refused",
              "send_errors", "tcp_accepted", "tcp_rejected")


@pytest.mark.vigil_only
def test_sigusr1_stats_line_counts(resolver):
    s0 = resolver.stats()
    missing = [k for k in STATS_KEYS if k not in s0]
    assert not missing, "stats line lacks %s: %r" % (missing, s0)
    for k in STATS_KEYS:
        assert isinstance(s0[k], int) and s0[k] >= 0, "%s is not a counter: %r" % (k, s0[k])

    # 2 queries for one fresh name: one miss, one hit
    for _ in range(2):
        assert_answer(resolver.query("stats.basic.lab.", "A"), "stats.basic.lab.", "A",
                      ["192.0.2.15"])
    # one answer that needs TCP upstream (tc3.big.lab TXT is ~3.2 kB)
    r = resolver.query("tc3.big.lab.", "TXT", tcp=True, timeout=6)
    assert_rcode(r, "NOERROR")
    # one refused client; malformed: a 3-byte packet and a compression loop
    assert_rcode(resolver.query("www.basic.lab.", "A", source="127.0.0.2", timeout=3),
                 "REFUSED")
    udp_raw(resolver.addr, resolver.port, b"\x43\x44\x01", timeout=0.5)
    udp_raw(resolver.addr, resolver.port,
            struct.pack("!HHHHHH", 0x4343, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c"
            + struct.pack("!HH", 1, 1), timeout=1)
    # the counters are bumped as each packet is handled: poll until the last of
    # them (the malformed ones, whose senders get no answer to wait for) shows
    deadline = time.monotonic() + 5
    while True:
        s1 = resolver.stats()
        d = {k: s1[k] - s0[k] for k in STATS_KEYS}
        if d["malformed"] >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert d["queries"] >= 4, "queries +%d after 4 queries: %r -> %r" % (d["queries"], s0, s1)
    assert d["cache_hits"] >= 1, "cache_hits +%d after a repeated query" % d["cache_hits"]
    assert d["upstream_udp"] >= 1, "upstream_udp +%d after a cache miss" % d["upstream_udp"]
    assert d["upstream_tcp"] >= 1, "upstream_tcp +%d after a truncated upstream answer" % (
        d["upstream_tcp"])
    assert d["refused"] >= 1, "refused +%d after an ACL-refused query" % d["refused"]
    assert d["malformed"] >= 1, "malformed +%d after a 3-byte packet and a compression loop" % (
        d["malformed"])
    assert resolver.alive()


def test_sighup_reload_keeps_serving(resolver):
    assert_answer(resolver.query("reload.basic.lab.", "A"), "reload.basic.lab.", "A",
                  ["192.0.2.16"])
    resolver.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    last = None
    while time.monotonic() < deadline:
        assert resolver.alive(), "resolver exited on SIGHUP:\n" + resolver.log_tail()
        try:
            r = resolver.query("reload.basic.lab.", "A", timeout=1)
            if r.rcode() == 0 and r.answer:
                break
            last = r
        except Exception as e:  # reload in progress
            last = e
        time.sleep(0.2)
    else:
        pytest.fail("no answer within 5 s of SIGHUP (last: %s)\n%s" % (last, resolver.log_tail()))
    assert_answer(r, "reload.basic.lab.", "A", ["192.0.2.16"])
    assert_answer(resolver.query("www.corp.internal.", "A"), "www.corp.internal.", "A",
                  ["192.0.2.90"])
