"""DNS over TLS to forward-zone upstreams (forward-zones with tls: yes).

Two kinds of DoT server, both on lab addresses with certificates from a
throwaway CA (tests/lab/certs.py):

- Debian's Unbound (tests/lab/labunbound.py), which answers its local zone
  dot.test.  It serves plain DNS on port 53 of the same address too, and its
  statistics (unbound-control) count every query it got, over any
  transport: "nothing reached it" is read there, so a query that vigil had
  sent in cleartext (UDP or TCP) or over a TLS session it should have refused
  would show.
- MockDoT, a small DoT server in this file, which sees the plaintext of
  every query: it counts the TCP connections it accepted (connection reuse),
  records each query's size and EDNS options (padding), and can hold one
  answer back until a later query on the same connection was answered
  (pipelining, out-of-order answers).

Each vigil here runs one worker, so it has one connection per upstream.
"""
import os
import re
import socket
import ssl
import struct
import subprocess
import threading
import time

import dns.edns
import dns.message
import dns.rcode
import dns.rrset
import pytest

import certs as certsmod
import conftest
import labunbound
from helpers import assert_rcode, show
from test_daemon import Custom

pytestmark = pytest.mark.vigil_only

EDE = 15


def edes(msg):
    out = []
    for o in msg.options:
        if o.otype == EDE:
            wire = o.to_wire() if hasattr(o, "to_wire") else o.data
            out.append((int.from_bytes(wire[:2], "big"), wire[2:].decode("utf-8", "replace")))
    return out


def ask(v, name, rdtype="A", timeout=8):
    q = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
    return v.send(q, timeout=timeout)


def poll(pred, timeout=15.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(step)
    return pred()


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def tlsdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("upstream-tls"))


@pytest.fixture(scope="module")
def addrs(lab):
    """Lab addresses: this module's own Unbound and the mock, next to the
    session's DoT Unbound (conftest.lab_unbound, on labunbound.addr_for()):
    not on its address, where both would listen (Unbound sets SO_REUSEPORT)
    and split the connections between two certificates."""
    return {"unbound": "%s.210.21" % lab.prefix,
            "mock": "%s.210.20" % lab.prefix}


@pytest.fixture(scope="module")
def pki(tlsdir, addrs):
    if not certsmod.available():
        pytest.skip("openssl CLI not installed")
    return certsmod.lab_certs(os.path.join(tlsdir, "certs"),
                              ips=[addrs["unbound"], addrs["mock"]])


@pytest.fixture(scope="module")
def unbound(tlsdir, addrs, pki):
    ok, why = labunbound.available()
    if not ok:
        pytest.skip(why)
    u = labunbound.LabUnbound(os.path.join(tlsdir, "unbound"), addrs["unbound"],
                              pki.server.cert, pki.server.key, control=True)
    with pytest.MonkeyPatch.context() as mp:
        # the server's end of a connection closed in an earlier run stays in
        # TIME-WAIT for a minute, which labunbound's check of the port (a
        # bind in Python) takes for a busy port; Unbound binds it all the same
        # (and says so if the port really is taken)
        mp.setattr(labunbound, "port_free", lambda addr, port: None)
        u.start()
    yield u
    u.stop()


def queries_at(u):
    """Every query Unbound got, over any transport (UDP, TCP, TLS, HTTPS)."""
    return u.stats().get("total.num.queries", 0)


# ---------------------------------------------------------------- the mock DoT server

class MockDoT:
    """A DoT server that answers A queries with 192.0.2.1 (TTL 0) and
    remembers what it saw.  Queries for names starting with "hold" are
    answered only after the next query for a name starting with "release"
    on the same connection was answered."""

    def __init__(self, addr, cert, key, port=853):
        self.addr, self.port = addr, port
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.lock = threading.Lock()
        self.accepted = 0          # TCP connections accepted
        self.queries = []          # (connection number, wire length, message)
        self.sock = None
        self.conns = []
        self.thread = None
        self.stopping = False

    def start(self):
        self.stopping = False
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.addr, self.port))
        s.listen(16)
        s.settimeout(0.2)
        self.sock = s
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def stop(self):
        """Close the listener and every connection (the server 'dies')."""
        self.stopping = True
        if self.thread:
            self.thread.join(5)
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self.conns = []

    def _accept(self):
        while not self.stopping:
            try:
                raw, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                n = self.accepted
            threading.Thread(target=self._serve, args=(raw, n), daemon=True).start()

    @staticmethod
    def _read(c, n):
        buf = b""
        while len(buf) < n:
            got = c.recv(n - len(buf))
            if not got:
                raise EOFError
            buf += got
        return buf

    def _serve(self, raw, n):
        try:
            raw.settimeout(30)
            c = self.ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        with self.lock:
            self.conns.append(c)
        held = []
        try:
            while True:
                ln = struct.unpack("!H", self._read(c, 2))[0]
                wire = self._read(c, ln)
                q = dns.message.from_wire(wire)
                with self.lock:
                    self.queries.append((n, ln, q))
                r = dns.message.make_response(q)
                name = q.question[0].name
                if q.question[0].rdtype == 1:
                    r.answer.append(dns.rrset.from_text(name, 0, "IN", "A", "192.0.2.1"))
                out = r.to_wire()
                if name.labels[0].startswith(b"hold"):
                    held.append(out)  # (vigil's retries of it too, if it timed out)
                    continue
                c.sendall(struct.pack("!H", len(out)) + out)
                if name.labels[0].startswith(b"release"):
                    for h in held:
                        c.sendall(struct.pack("!H", len(h)) + h)
                    held = []
        except (EOFError, OSError, ssl.SSLError, dns.exception.DNSException):
            pass
        finally:
            c.close()

    def seen(self, prefix):
        with self.lock:
            return [(n, ln, q) for n, ln, q in self.queries
                    if q.question[0].name.to_text().startswith(prefix)]


@pytest.fixture(scope="module")
def mock(addrs, pki):
    m = MockDoT(addrs["mock"], pki.server.cert, pki.server.key)
    m.start()
    yield m
    m.stop()


@pytest.fixture(scope="module")
def mock2(addrs, pki):
    m = MockDoT(addrs["mock"], pki.server.cert, pki.server.key, port=8853)
    m.start()
    yield m
    m.stop()


# ---------------------------------------------------------------- vigil

def zones_text(addrs, pki):
    u, m = addrs["unbound"], addrs["mock"]
    pin = pki.server.spki_pin()
    wrong_pin = pki.rogue_server.spki_pin()
    return f"""\
forward-zones:
  - zone: dot.test
    tls: yes
    tls-ca-file: {pki.ca.cert}
    upstreams: [ "{u}#dns.vigil.test" ]
  - zone: wrongname.dot.test
    tls: yes
    tls-ca-file: {pki.ca.cert}
    upstreams: [ "{u}#wrong.vigil.test" ]
  - zone: systemca.dot.test
    tls: yes
    upstreams: [ "{u}#dns.vigil.test" ]
  - zone: pinned.dot.test
    tls: yes
    spki-pins: [ "{wrong_pin}", "{pin}" ]
    upstreams: [ "{u}" ]
  - zone: wrongpin.dot.test
    tls: yes
    spki-pins: [ "{wrong_pin}" ]
    upstreams: [ "{u}" ]
  - zone: mock.test
    tls: yes
    tls-ca-file: {pki.ca.cert}
    upstreams: [ "{m}@853#dns.vigil.test" ]
  - zone: pipe.test
    tls: yes
    tls-ca-file: {pki.ca.cert}
    upstreams: [ "{m}@8853#dns.vigil.test" ]
cache:
  servfail-ttl: 0
"""


class TlsVigil(Custom):
    """One worker (Custom's), so one connection per upstream; idle
    connections kept for a minute, longer than any test here."""

    def text(self, extra=None):
        return super().text(extra).replace(
            "resolver:\n", "resolver:\n  upstream-tls-idle-timeout: 60000\n", 1)


@pytest.fixture(scope="module")
def vigil(lab, tlsdir, addrs, pki, unbound, mock, mock2):
    d = os.path.join(tlsdir, "vigil")
    os.makedirs(d, exist_ok=True)
    v = TlsVigil(d, lab, zones_text(addrs, pki))
    v.start()
    yield v
    v.stop()


# ---------------------------------------------------------------- config errors

def test_tls_upstream_without_authentication_is_refused(lab, tmp_path):
    """Strict only: a TLS upstream with neither a name nor pins does not load."""
    cfg = tmp_path / "v.yaml"
    cfg.write_text("forward-zones:\n  - zone: a.test\n    tls: yes\n"
                   "    upstreams: [ \"192.0.2.1\" ]\n")
    r = subprocess.run([conftest.VIGIL_BIN, "--check-config", str(cfg)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0, r.stdout + r.stderr
    assert re.search(r"v\.yaml:4: forward-zones\.upstreams: the TLS upstream '192\.0\.2\.1' "
                     r"has no authentication", r.stdout + r.stderr), r.stdout + r.stderr


# ---------------------------------------------------------------- Unbound

def test_forward_over_dot_answers(vigil, unbound):
    before = unbound.stats()
    r = ask(vigil, "www.dot.test.")
    assert_rcode(r, "NOERROR")
    assert [rr.to_text() for rs in r.answer for rr in rs] == ["192.0.2.53"], show(r)
    after = unbound.stats()
    # it came over TLS: Unbound counted one more TLS query and no more queries in all
    assert after.get("num.query.tls", 0) == before.get("num.query.tls", 0) + 1, after
    assert after["total.num.queries"] == before["total.num.queries"] + 1, after


@pytest.mark.parametrize("zone,why", [
    ("wrongname", "the certificate does not carry the name"),
    ("systemca", "the certificate is not from a CA of the system store"),
    ("wrongpin", "the server's key matches no pin"),
])
def test_unauthenticated_server_gets_nothing(vigil, unbound, zone, why):
    """SERVFAIL with EDE 23, and Unbound got no query at all -- not over
    TLS, and not in cleartext on its port 53 either."""
    before = queries_at(unbound)
    for i in range(3):  # the first tries and fails; the others find it in back-off
        r = ask(vigil, "q%d.%s.dot.test." % (i, zone))
        assert_rcode(r, "SERVFAIL")
        got = edes(r)
        assert len(got) == 1 and got[0][0] == 23, (why, got)
        assert "TLS handshake or authentication failed" in got[0][1], (why, got)
    assert queries_at(unbound) == before, why
    assert re.search(r"DNS over TLS to %s@853#?\S* failed" % re.escape(unbound.addr),
                     vigil.log_text()), vigil.log_tail()


def test_right_pin_answers(vigil, unbound):
    before = queries_at(unbound)
    r = ask(vigil, "www.pinned.dot.test.")
    assert_rcode(r, "NXDOMAIN")  # Unbound's answer: its local zone has no such name
    assert queries_at(unbound) == before + 1


def tcp_sockets(addr, port):
    """Every TCP socket with ADDR:PORT at one end, but the listener: the set
    of (state, local, peer), from the kernel (ss).  A connection opened and
    closed leaves one in TIME-WAIT for a minute on the side that closed."""
    out = subprocess.run(["ss", "-Htan"], capture_output=True, text=True, timeout=10).stdout
    end = "%s:%d" % (addr, port)
    got = set()
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 5 and f[0] != "LISTEN" and end in (f[3], f[4]):
            got.add((f[0], f[3], f[4]))
    return got


def test_one_connection_reused_for_many_queries(vigil, unbound):
    """Twenty queries, and no TCP connection to or from Unbound's TLS port
    was opened or closed meanwhile (the kernel's sockets are the same set
    before and after, TIME-WAIT included), while Unbound counted twenty
    more TLS queries."""
    assert_rcode(ask(vigil, "reuse0.dot.test."), "NXDOMAIN")  # the connection is up
    before = tcp_sockets(unbound.addr, unbound.tls_port)
    assert any(s[0] == "ESTAB" for s in before), before
    n = unbound.stats().get("num.query.tls", 0)
    for i in range(1, 21):
        assert_rcode(ask(vigil, "reuse%d.dot.test." % i), "NXDOMAIN")
    assert unbound.stats().get("num.query.tls", 0) == n + 20
    assert tcp_sockets(unbound.addr, unbound.tls_port) == before


def test_upstream_dies_and_comes_back(vigil, unbound, monkeypatch):
    assert_rcode(ask(vigil, "alive.dot.test."), "NXDOMAIN")
    unbound.stop()
    try:
        r = ask(vigil, "gone1.dot.test.")
        assert_rcode(r, "SERVFAIL")
        got = edes(r)
        assert len(got) == 1 and got[0][0] == 23, got
        assert "Connection refused" in got[0][1], got
    finally:
        # (Unbound's end of vigil's connection is in TIME-WAIT now: see unbound())
        monkeypatch.setattr(labunbound, "port_free", lambda addr, port: None)
        unbound.start()
    n = [0]

    def answered():
        n[0] += 1
        r = ask(vigil, "back%d.dot.test." % n[0])
        return r.rcode() == dns.rcode.NXDOMAIN
    assert poll(answered, timeout=40, step=0.2), vigil.log_tail()


# ---------------------------------------------------------------- the mock

def test_queries_are_padded(vigil, mock):
    names = ["a.mock.test.", "a-much-longer-name-to-pad.mock.test.",
             "x" * 60 + ".y.mock.test."]
    for name in names:
        assert_rcode(ask(vigil, name), "NOERROR")
    for name in names:
        got = mock.seen(name)
        assert got, name
        for _, ln, q in got:
            assert ln % 128 == 0, (name, ln)
            pads = [o for o in q.options if o.otype == dns.edns.PADDING]
            assert len(pads) == 1, (name, q.options)


def test_pipelined_out_of_order_on_one_connection(vigil, mock2):
    """A query the server holds back and one it answers at once, sent
    together: both answered, on one connection, the later one first.  (Its
    own upstream, not measured yet: the held query's first timeout is the
    one for an unknown server, 400 ms, not one derived from loopback round
    trips; should it time out, its retries are held and answered too.)"""
    mock = mock2
    accepted = mock.accepted
    res = {}

    def ask_into(key, name):
        res[key] = ask(vigil, name, timeout=10)
    t = threading.Thread(target=ask_into, args=("hold", "hold1.pipe.test."))
    t.start()
    assert poll(lambda: mock.seen("hold1.pipe.test."), timeout=10, step=0.005)
    ask_into("release", "release1.pipe.test.")
    t.join(15)
    assert_rcode(res["release"], "NOERROR")
    assert_rcode(res["hold"], "NOERROR")
    conns = {c for c, _, _ in mock.seen("hold1.pipe.test.") + mock.seen("release1.pipe.test.")}
    assert len(conns) == 1, conns
    assert mock.accepted - accepted == 1


def test_connection_count_at_the_server(vigil, mock):
    """Thirty queries, one TLS connection accepted by the server."""
    assert_rcode(ask(vigil, "warm.mock.test."), "NOERROR")
    accepted = mock.accepted
    for i in range(30):
        assert_rcode(ask(vigil, "n%d.mock.test." % i), "NOERROR")
    conns = {c for c, _, _ in mock.seen("n")}
    assert mock.accepted == accepted, (mock.accepted, accepted)
    assert len(conns) == 1, conns


def test_mock_dies_and_comes_back(vigil, mock):
    assert_rcode(ask(vigil, "alive.mock.test."), "NOERROR")
    mock.stop()
    try:
        r = ask(vigil, "dead1.mock.test.")
        assert_rcode(r, "SERVFAIL")
        # the next one, within the back-off, fails at once without a new attempt
        r = ask(vigil, "dead2.mock.test.")
        assert_rcode(r, "SERVFAIL")
    finally:
        mock.start()
    accepted = mock.accepted
    n = [0]

    def answered():
        n[0] += 1
        return ask(vigil, "again%d.mock.test." % n[0]).rcode() == dns.rcode.NOERROR
    assert poll(answered, timeout=40, step=0.2), vigil.log_tail()
    assert mock.accepted == accepted + 1
    st = vigil.stats()
    assert st["upstream_tls_failed"] >= 1 and st["upstream_tls_refused"] >= 1, st
