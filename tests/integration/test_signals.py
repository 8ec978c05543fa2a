"""Process control: SIGUSR1 stats line (vigil only), SIGHUP reload."""
import signal
import struct
import time

import dns.exception
import dns.rcode
import pytest

from helpers import assert_answer, assert_rcode, own_resolver, replace_once, udp_raw

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


# ------------------------------------------------------------------ a changed setting

def _acl(kind, text, action):
    """The session config's ACL with 127.0.0.0/8 set to ACTION (127.0.0.1 stays allowed)."""
    if kind == "vigil":
        return replace_once(text, '"127.0.0.0/8 refuse"', '"127.0.0.0/8 %s"' % action)
    return replace_once(text, "access-control: 127.0.0.0/8 refuse",
                        "access-control: 127.0.0.0/8 %s" % action)


def _max_ttl(kind, text, ttl):
    if kind == "vigil":
        return text + "cache:\n  max-ttl: %d\n" % ttl
    return replace_once(text, "  prefetch: no\n", "  prefetch: no\n  cache-max-ttl: %d\n" % ttl)


def test_sighup_applies_changed_settings(lab, tmp_path):
    """A resolver of its own: 127.0.0.2 refused, TTLs up to the records' 3600 s.
    The file is changed (127.0.0.0/8 allowed, cache max-ttl 60) and SIGHUP sent:
    127.0.0.2 is answered from then on, and a name cached after the reload
    comes from the cache with a TTL of at most 60."""
    r = own_resolver(lab, tmp_path, lambda kind, text: text)
    try:
        assert_rcode(r.query("www.basic.lab.", "A", source="127.0.0.2", timeout=3), "REFUSED")
        a = r.query("mail.basic.lab.", "A")
        assert_answer(a, "mail.basic.lab.", "A", ["192.0.2.25"])
        assert a.answer[0].ttl > 60, "TTL %d before any max-ttl" % a.answer[0].ttl
        r.edit = lambda kind, text: _max_ttl(kind, _acl(kind, text, "allow"), 60)
        r.write_config()
        r.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while True:  # the new ACL is in force once 127.0.0.2 is answered
            assert r.alive(), "resolver exited on SIGHUP:\n" + r.log_tail()
            try:
                a = r.query("www.basic.lab.", "A", source="127.0.0.2", timeout=1)
                if a.rcode() == dns.rcode.NOERROR:
                    break
            except dns.exception.Timeout:  # reload in progress
                a = None
            assert time.monotonic() < deadline, (
                "127.0.0.2 still not answered after SIGHUP (last %s):\n%s"
                % (a and dns.rcode.to_text(a.rcode()), r.log_tail()))
            time.sleep(0.1)
        assert_answer(a, "www.basic.lab.", "A", ["192.0.2.10"])
        r.query("mail2.basic.lab.", "A")  # not cached before the reload
        a = r.query("mail2.basic.lab.", "A")  # from the cache (see test_cache max-ttl)
        assert_answer(a, "mail2.basic.lab.", "A", ["192.0.2.26"])
        assert a.answer[0].ttl <= 60, "cache max-ttl 60 after SIGHUP, got TTL %d" % (
            a.answer[0].ttl)
    finally:
        r.stop()


@pytest.mark.vigil_only
def test_sighup_reports_settings_that_need_a_restart(lab, tmp_path):
    """The worker count, the cache size and the listen addresses are read at
    start only: a SIGHUP that changes them says so in the log, and takes the
    rest of the file (here: an ACL change)."""
    r = own_resolver(lab, tmp_path, lambda kind, text: text)
    try:
        mark = len(r.log_text())
        r.edit = lambda kind, text: _acl(kind, replace_once(
            text, "  workers: 2\n", "  workers: 1\n"), "allow") + "cache:\n  size: 8M\n"
        r.write_config()
        r.signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "reloaded " + r.config_path not in r.log_text()[mark:]:
            assert time.monotonic() < deadline, "no 'reloaded' after SIGHUP:\n" + r.log_tail()
            time.sleep(0.05)
        log = r.log_text()[mark:]
        for what in ("worker count", "cache size"):
            assert "reload: %s changed; restart to apply" % what in log, (
                "a changed %s not reported as needing a restart:\n%s" % (what, log))
        assert "listen addresses changed" not in log, log
        assert_answer(r.query("www.basic.lab.", "A", source="127.0.0.2", timeout=3),
                      "www.basic.lab.", "A", ["192.0.2.10"])
    finally:
        r.stop()
