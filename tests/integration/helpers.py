"""Small assertion helpers shared by the integration tests."""
import re
import socket
import struct
import time

import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype


def show(msg):
    """A message as text, for assertion messages."""
    return "\n" + msg.to_text() if msg is not None else "\n<no answer>"


def rrset(section, name, rdtype):
    """The RRset NAME/RDTYPE in SECTION (a list of RRsets) or None."""
    n = dns.name.from_text(name)
    t = dns.rdatatype.from_text(rdtype) if isinstance(rdtype, str) else rdtype
    for rs in section:
        if rs.name == n and rs.rdtype == t and rs.rdclass == dns.rdataclass.IN:
            return rs
    return None


def rdatas(section, name, rdtype):
    """Sorted rdata texts of NAME/RDTYPE in SECTION ([] if absent)."""
    rs = rrset(section, name, rdtype)
    return sorted(r.to_text() for r in rs) if rs is not None else []


def assert_rcode(msg, rcode):
    want = dns.rcode.from_text(rcode) if isinstance(rcode, str) else rcode
    assert msg.rcode() == want, "expected rcode %s, got %s:%s" % (
        dns.rcode.to_text(want), dns.rcode.to_text(msg.rcode()), show(msg))


def assert_answer(msg, name, rdtype, expected):
    """NOERROR and exactly EXPECTED (list of rdata texts) at NAME/RDTYPE."""
    assert_rcode(msg, "NOERROR")
    got = rdatas(msg.answer, name, rdtype)
    assert got == sorted(expected), "%s %s: expected %s, got %s:%s" % (
        name, rdtype, sorted(expected), got, show(msg))


def soa_in_authority(msg, zone):
    rs = rrset(msg.authority, zone, "SOA")
    assert rs is not None, "no SOA of %s in the authority section:%s" % (zone, show(msg))
    return rs


def diff_counts(before, after):
    """{server: delta} for the lab servers whose query counter changed."""
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


SETTLE_QUIET = 0.2  # seconds without a new query at any lab server (see settle())


def settle(lab, quiet=SETTLE_QUIET, limit=5.0):
    """Wait until the lab's query counters stop moving (background work of the
    resolver after an answer, e.g. fetching NS addresses). Returns the counts.

    The counters are exact when read (NSD's stats_noreset reads the servers'
    shared counters; a query a resolver's answer depended on is counted before
    the server answers it), so the quiet window only has to cover work the
    resolver does after its answer: QUIET seconds between two equal readings,
    plus the time a reading of every server takes (tens of ms when idle, a few
    hundred on a loaded machine)."""
    deadline = time.monotonic() + limit
    prev = lab.query_counts()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        cur = lab.query_counts()
        if cur == prev:
            return cur
        prev = cur
    return prev


def udp_raw(addr, port, data, timeout=1.5, source=None):
    """Send raw bytes over UDP; return the raw reply or None on timeout."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if source:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.sendto(data, (addr, port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None
    finally:
        s.close()


def tcp_read_msg(sock):
    """Read one length-prefixed DNS message from a TCP socket (None on EOF)."""
    hdr = _recv_exact(sock, 2)
    if hdr is None:
        return None
    (n,) = struct.unpack("!H", hdr)
    return _recv_exact(sock, n)


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def own_resolver(lab, workdir, edit):
    """Start a resolver of the kind under test (vigil or unbound) of its own,
    on the session's config (conftest.Resolver) changed by EDIT(kind, text) ->
    text.  Set .edit and call .write_config() + SIGHUP to change it later.
    Stop it with .stop()."""
    import conftest  # the fixtures' module: imported late, it imports the lab
    import pytest

    class Own(conftest.Resolver):
        def write_config(self):
            super().write_config()
            with open(self.config_path) as f:
                text = f.read()
            with open(self.config_path, "w") as f:
                f.write(self.edit(self.kind, text))

    r = Own(conftest.RESOLVER_KIND, str(workdir), lab, conftest.free_port())
    r.edit = edit
    try:
        r.start()
    except RuntimeError as e:
        r.stop()
        pytest.fail(str(e), pytrace=False)
    return r


def replace_once(text, old, new):
    """TEXT with OLD replaced by NEW; OLD must be there exactly once."""
    assert text.count(old) == 1, "%r is not in the config once:\n%s" % (old, text)
    return text.replace(old, new)


class Upstream:
    """What the lab's servers received between two points of a test, from
    their own counters: "answered from the cache" and "nothing goes upstream"
    are checked here, not against the resolver's word.

        up = Upstream(lab)      # counters once quiet
        ask(...)
        sent = up.delta()       # {server: queries} since then (quiet again)
        ask(...)
        up.none("the second ask")   # fails if any server got a query
    """

    QUIET = SETTLE_QUIET  # seconds without a new query (plus the time to read the counters)

    def __init__(self, lab):
        self.lab = lab
        self.last = settle(lab, quiet=self.QUIET)

    def delta(self):
        cur = settle(self.lab, quiet=self.QUIET)
        d = diff_counts(self.last, cur)
        self.last = cur
        return d

    def describe(self, d):
        return ", ".join("%s(%s)+%d" % (k, self.lab.addr(k), v) for k, v in sorted(d.items()))

    def none(self, what):
        """Nothing reached any lab server since the last call."""
        d = self.delta()
        assert not d, "%s: expected no upstream query, yet the lab servers got %s" % (
            what, self.describe(d))

    def some(self, what, server=None):
        """Something (at SERVER, if given) reached the lab since the last call."""
        d = self.delta()
        if server is None:
            assert d, "%s: expected upstream queries, the lab servers got none" % what
        else:
            assert d.get(server), "%s: expected queries at %s (%s), the lab got %s" % (
                what, server, self.lab.addr(server), self.describe(d) or "none")
        return d


def wait_log(v, pattern, timeout=10.0, start=0):
    """The first line of V's log (after character offset START) that matches
    the regex PATTERN, polled until TIMEOUT seconds; None if there is none.
    TIMEOUT 0 looks once (for "no such line")."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        for line in v.log_text()[start:].splitlines():
            if rx.search(line):
                return line
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def expect_log(v, pattern, timeout=10.0, start=0):
    """wait_log(), failing the test (with the log's tail) if no line matches."""
    line = wait_log(v, pattern, timeout, start)
    if line is None:
        import pytest
        pytest.fail("no log line /%s/ within %.0f s; log:\n%s" % (pattern, timeout,
                                                                   v.log_tail()),
                    pytrace=False)
    return line


def preload_shim(directory, c_source, monkeypatch, name="shim"):
    """Build C_SOURCE into DIRECTORY/NAME.so for LD_PRELOAD (the caller sets
    LD_PRELOAD).  Skips the test for a ThreadSanitizer build (its runtime
    must come first) or without a C compiler; lets an ASan build's runtime
    come after the shim.  Returns the shim's path."""
    import os
    import shutil
    import subprocess

    import conftest
    import pytest

    ldd = subprocess.run(["ldd", conftest.VIGIL_BIN], capture_output=True, text=True).stdout
    if "libtsan" in ldd or not shutil.which("cc"):
        pytest.skip("needs a build without ThreadSanitizer (LD_PRELOAD) and cc")
    if "libasan" in ldd:  # the shim comes before ASan's runtime: let it
        monkeypatch.setenv("ASAN_OPTIONS",
                           os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
    src = os.path.join(directory, name + ".c")
    shim = os.path.join(directory, name + ".so")
    with open(src, "w") as f:
        f.write(c_source)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", shim, src, "-ldl"], check=True)
    return shim
