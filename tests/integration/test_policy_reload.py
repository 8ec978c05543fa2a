"""Policy reload at scale.

* SIGHUP rebuilds the policy off the workers; a source whose file did not
  change is shared, not read again;
* a changed policy file is picked up without any signal (the files are
  polled);
* a source whose new file is broken (not a zone, or bad records) keeps its
  previous version, and the log says why with FILE:LINE -- also on SIGHUP;
* reload under load: a stream of queries runs (cached answers and blocked
  names, from two clients) while the policy is replaced several times, by
  SIGHUP and by file changes: every query gets an answer, each one of the
  policy before or after a swap, never a failure;
* retired snapshots are freed: many reloads of a 20,000-rule policy do not
  make vigil grow by a copy per reload.

vigil only, in the lab (test_policy.PolicyVigil).
"""
import os
import re
import signal
import socket
import threading
import time

import dns.message
import dns.rcode
import pytest

from test_policy import (C1, C2, BLOCKED, ask, assert_blocked, assert_resolves, group,
                         policy, policy_edes, rpz, source, started, write)

pytestmark = pytest.mark.vigil_only


def wait_for(pred, what, limit=10.0, v=None):
    """Poll PRED until true, else fail saying WHAT (with the log tail of V)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    pytest.fail("%s: not within %.0f s%s" % (what, limit,
                                             ("; log:\n" + v.log_tail()) if v else ""),
                pytrace=False)


def rewrite(path, text):
    """Replace PATH's contents the way editors and feeds do: a new file renamed in."""
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def log_text(v):
    with open(v.log_path, errors="replace") as f:
        return f.read()


def blocked(v, name, src=C1, rcode=dns.rcode.NXDOMAIN):
    """Is NAME rewritten by the policy (RCODE, no answer, a policy EDE)?"""
    r = ask(v, name, src=src)
    return r.rcode() == rcode and not r.answer and bool(policy_edes(r))


def sanitized(pid):
    """Is process PID a sanitizer build (its allocator keeps freed memory)?"""
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read()
    return "libasan" in maps or "libtsan" in maps


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.fixture
def two(lab, tmp_path):
    """vigil with two RPZ sources: 'a' (blocks one.lab.test) and 'b'."""
    pa = write(tmp_path, "a.rpz", rpz("a.rpz.", "one.lab.test CNAME ."))
    pb = write(tmp_path, "b.rpz", rpz("b.rpz.", "two.lab.test CNAME ."))
    v = started(lab, tmp_path, policy(
        [source("a", "rpz", pa), source("b", "rpz", pb)],
        [group("all", ["127.0.0.0/8"], ["a", "b"])]))
    yield v, pa, pb
    v.stop()


def test_sighup_reload_reads_only_changed_sources(two):
    v, pa, pb = two
    assert_blocked(ask(v, "one.lab.test."), dns.rcode.NXDOMAIN, "a", BLOCKED, "one.lab.test")
    rewrite(pa, rpz("a.rpz.", "three.lab.test CNAME ."))
    v.signal(signal.SIGHUP)
    wait_for(lambda: blocked(v, "three.lab.test."), "the new rule of 'a' after SIGHUP", v=v)
    assert_blocked(ask(v, "two.lab.test."), dns.rcode.NXDOMAIN, "b", BLOCKED, "two.lab.test")
    assert not blocked(v, "one.lab.test."), "still blocked by the old version of 'a'"

    log = log_text(v)
    assert "policy: source 'a' reloaded from %s" % pa in log, log
    # 'b' did not change: it was shared, not read again
    assert "source 'b' reloaded" not in log, log


def test_changed_file_is_picked_up_without_a_signal(two):
    v, pa, pb = two
    rewrite(pb, rpz("b.rpz.", "two.lab.test CNAME .", "four.lab.test CNAME *."))
    wait_for(lambda: blocked(v, "four.lab.test.", rcode=dns.rcode.NOERROR),
             "the file change of 'b' applied (NODATA for four.lab.test)", v=v)
    assert "policy: source 'b' reloaded from %s" % pb in log_text(v)


@pytest.mark.parametrize("broken", ["not-a-zone", "bad-record"])
def test_broken_source_keeps_its_previous_version(two, broken):
    v, pa, pb = two
    if broken == "not-a-zone":
        text = "this is not a zone file\n"
        line = 1
    else:  # the SOA is fine, line 6 is not; the new rule on line 5 must not apply either
        text = rpz("a.rpz.", "five.lab.test CNAME .", "bad.lab.test A not-an-address")
        line = 6
    rewrite(pa, text)
    v.signal(signal.SIGHUP)
    wait_for(lambda: "keeping its previous version" in log_text(v),
             "the log saying 'a' keeps its previous version", v=v)
    log = log_text(v)
    assert "%s:%d:" % (pa, line) in log, "no FILE:LINE for the broken source:\n" + log
    # the old rules of 'a' still apply, the new ones do not; 'b' is untouched
    assert_blocked(ask(v, "one.lab.test."), dns.rcode.NXDOMAIN, "a", BLOCKED, "one.lab.test")
    assert_blocked(ask(v, "two.lab.test."), dns.rcode.NXDOMAIN, "b", BLOCKED, "two.lab.test")
    assert not blocked(v, "five.lab.test.")
    # fixed: the next change applies
    rewrite(pa, rpz("a.rpz.", "six.lab.test CNAME ."))
    v.signal(signal.SIGHUP)
    wait_for(lambda: blocked(v, "six.lab.test."), "the fixed 'a' after SIGHUP", v=v)


class Stream:
    """Queries in a loop from threads until stopped: counts answers by kind."""

    def __init__(self, v, names, sources):
        self.v, self.names, self.sources = v, names, sources
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.sent = self.answered = 0
        self.failures = []
        self.kinds = {}
        self.threads = [threading.Thread(target=self.run, args=(s,), daemon=True)
                        for s in sources]

    def run(self, src):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((src, 0))
        s.settimeout(2.0)
        i = 0
        while not self.stop_flag.is_set():
            name = self.names[i % len(self.names)]
            i += 1
            q = dns.message.make_query(name, "A")
            with self.lock:
                self.sent += 1
            try:
                s.sendto(q.to_wire(), (self.v.addr, self.v.port))
                while True:
                    data, _ = s.recvfrom(65535)
                    r = dns.message.from_wire(data)
                    if r.id == q.id:
                        break
            except Exception as e:  # noqa: BLE001 -- any failure is recorded
                with self.lock:
                    self.failures.append("%s from %s: %s" % (name, src, e))
                continue
            kind = (name, dns.rcode.to_text(r.rcode()), len(r.answer) > 0)
            with self.lock:
                self.answered += 1
                self.kinds[kind] = self.kinds.get(kind, 0) + 1
                if r.rcode() == dns.rcode.SERVFAIL:
                    self.failures.append("%s from %s: SERVFAIL" % (name, src))
        s.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join(5)

    def wait_more(self, n, what, limit=20.0):
        """Wait until N more queries have been answered (or have failed): the
        stream really runs at this point of the test, however slow the machine."""
        with self.lock:
            target = self.answered + len(self.failures) + n
        deadline = time.monotonic() + limit
        while True:
            with self.lock:
                done = self.answered + len(self.failures)
            if done >= target:
                return
            if time.monotonic() > deadline:
                pytest.fail("%s: the query stream did not get %d more answers (%d so far)"
                            % (what, n, done), pytrace=False)
            time.sleep(0.02)


def test_reload_under_load(lab, tmp_path):
    """Five policy swaps (SIGHUP and file changes) while two clients query:
    no query fails or goes unanswered; each answer is that of one of the two
    policies (blocked or resolving), never anything else."""
    pa = write(tmp_path, "a.rpz", rpz("a.rpz.", "one.lab.test CNAME ."))
    filler = ["r%d.filler.test CNAME ." % i for i in range(5000)]
    v = started(lab, tmp_path, policy(
        [source("a", "rpz", pa)], [group("all", ["127.0.0.0/8"], ["a"])]))
    try:
        assert_resolves(ask(v, "www.basic.lab."), "www.basic.lab.", "A", ["192.0.2.10"])
        names = ["www.basic.lab.", "one.lab.test.", "www.basic.lab.", "two.lab.test."]
        with Stream(v, names, [C1, C2]) as st:
            st.wait_more(50, "before the first swap")
            for i in range(5):
                # alternate which name is blocked; a bigger file so each build takes a while
                now, was = ("two", "one") if i % 2 == 0 else ("one", "two")
                rewrite(pa, rpz("a.rpz.", "%s.lab.test CNAME ." % now, *filler))
                if i % 2 == 0:
                    v.signal(signal.SIGHUP)
                wait_for(lambda: blocked(v, "%s.lab.test." % now)
                         and not blocked(v, "%s.lab.test." % was),
                         "swap %d (%s)" % (i + 1, "SIGHUP" if i % 2 == 0 else "file change"),
                         v=v)
                st.wait_more(20, "after swap %d" % (i + 1))
        assert not st.failures, "%d of %d queries failed during reloads, e.g. %s" % (
            len(st.failures), st.sent, st.failures[:5])
        assert st.answered == st.sent
        for (name, rcode, has_answer), n in st.kinds.items():
            if name == "www.basic.lab.":
                assert rcode == "NOERROR" and has_answer, (name, rcode, n)
            else:  # blocked (NXDOMAIN) or, when not blocked, the lab's NXDOMAIN too
                assert rcode in ("NXDOMAIN", "NOERROR"), (name, rcode, n)
        log = log_text(v)
        assert log.count("policy: source 'a' reloaded") >= 2, "file changes not logged"
        assert log.count("reloaded %s" % v.config_path) >= 3, "SIGHUPs not logged"
        assert "policy: 1 sources, 5001 rules" in log
    finally:
        v.stop()


def test_retired_policies_are_freed(lab, tmp_path):
    """Twelve reloads of a 20,000-rule source, each a new version: vigil
    frees the replaced snapshots (after the request time limit), so its size
    does not grow by a copy per reload."""
    rules = ["r%d.big.test CNAME ." % i for i in range(20000)]
    pa = write(tmp_path, "a.rpz", rpz("a.rpz.", *rules))
    text = policy([source("a", "rpz", pa)], [group("all", ["127.0.0.0/8"], ["a"])])
    v = started(lab, tmp_path, "limits:\n  request-timeout: 1000\n  upstream-timeout: 300\n" + text)
    try:
        pid = v.proc.pid
        time.sleep(0.5)
        base = vm_rss_kb(pid)
        for i in range(12):
            rewrite(pa, rpz("a.rpz.", "v%d.big.test CNAME ." % i, *rules))
            v.signal(signal.SIGHUP)
            wait_for(lambda: blocked(v, "v%d.big.test." % i), "version %d in force" % i, v=v)
        # grace: request-timeout (1 s) + 2 reclaim periods; allow a few periods more
        wait_for(lambda: "(0 still retired)" in log_text(v), "every retired snapshot freed",
                 limit=15, v=v)
        grown = vm_rss_kb(pid) - base
        per_copy = 20000 * 40 // 1024  # about 40 bytes a rule: KiB per snapshot
        if sanitized(pid):
            return  # ASan / TSan keep freed memory in quarantine: RSS says nothing
        assert grown < 4 * per_copy + 4096, (
            "RSS grew by %d KiB over 12 reloads (one copy is about %d KiB)" % (grown, per_copy))
    finally:
        v.stop()
