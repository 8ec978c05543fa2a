"""bench/hostile.c, the hostile authoritative server of bench/run.sh attacks,
against the one it replaces there, tests/lab/slowauth.py --bench.

No resolver here: hostile.c is compiled into a temporary directory and run
beside slowauth.py, each on a loopback address of its own (127.70.0.1 and
127.70.0.2, used by no other test) and an unprivileged port.  The same
queries go to both and their answers are compared byte for byte (an NXNS
referral's NS records are shuffled by both: compared as sets), the held
back, junk, spoofed and rate-limited modes are checked for what they send
and when, and both count files must agree.  hostile.c must exit 0 on
SIGTERM.  HOSTILE_CFLAGS adds compiler flags, e.g.
HOSTILE_CFLAGS="-fsanitize=address,undefined -g" for a sanitizer build
(its log must then hold no report).

Where hostile.c means to differ from slowauth (its header comment lists
them) the queries are left out or checked on hostile.c alone.
"""
import json
import os
import random
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

import slowauth
import test_slowauth_fast as fast  # its query sets and helpers

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SOURCE = os.path.join(REPO, "bench", "hostile.c")
C_ADDR, PY_ADDR = "127.70.0.1", "127.70.0.2"
# the querier's own addresses for the spoof flood (its forgeries to other
# ports are told apart by their destination)
C_CLIENT, PY_CLIENT = "127.70.0.9", "127.70.0.10"
ZONE = "atk."
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux; not in every Python
POISON = socket.inet_aton(slowauth.POISON_ADDR)


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (cc) to build bench/hostile.c")
    out = str(tmp_path_factory.mktemp("hostile") / "hostile")
    flags = ["-O2", "-Wall", "-Wextra", "-Werror"] + \
        shlex.split(os.environ.get("HOSTILE_CFLAGS", ""))
    built = subprocess.run([cc] + flags + ["-o", out, SOURCE], capture_output=True, text=True)
    assert built.returncode == 0, "cc %s failed:\n%s" % (" ".join(flags), built.stderr)
    return out


def free_port():
    """A port free for UDP and TCP on both servers' addresses."""
    for _ in range(50):
        port = random.randrange(20000, 60000)
        socks = []
        try:
            for addr in (C_ADDR, PY_ADDR):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    socks.append(s)
                    s.bind((addr, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port")


class Server:
    """One server process, started and stopped by its PID."""

    def __init__(self, argv, addr, port, workdir, name, zone=ZONE):
        self.addr, self.port, self.name = addr, port, name
        self.pidfile = os.path.join(workdir, name + ".pid")
        self.countfile = os.path.join(workdir, name + ".counts")
        self.log = os.path.join(workdir, name + ".log")
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = "detect_leaks=1:log_path=stderr:" + env.get("ASAN_OPTIONS", "")
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:" + env.get("UBSAN_OPTIONS", "")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                argv + ["--bench", addr, str(port), self.pidfile, self.countfile, zone, "60"],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        self.code = None
        deadline = time.monotonic() + 10
        while not os.path.exists(self.pidfile):
            assert self.proc.poll() is None, "%s exited at start: %s" % (name, self.output())
            assert time.monotonic() < deadline, "%s did not start" % name
            time.sleep(0.02)
        with open(self.pidfile) as f:
            assert int(f.read()) == self.proc.pid

    def output(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def counts(self):
        with open(self.countfile) as f:
            return json.load(f)

    def stop(self):
        """SIGTERM (once); the exit status."""
        if self.code is None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.code = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.code = "killed"
        return self.code


@pytest.fixture
def pair(binary, tmp_path):
    """(hostile.c, slowauth.py), both serving atk. on the same port."""
    port = free_port()
    servers = []
    try:
        servers.append(Server([binary], C_ADDR, port, str(tmp_path), "hostile"))
        servers.append(Server([sys.executable, slowauth.__file__], PY_ADDR, port,
                              str(tmp_path), "slowauth"))
        yield servers
    finally:
        for s in servers:
            s.stop()


def stop_clean(c):
    """hostile.c exits 0 on SIGTERM, removes its pidfile, leaves no
    sanitizer report."""
    assert c.stop() == 0, c.output()
    out = c.output()
    assert "Sanitizer" not in out and "runtime error" not in out, out
    assert not os.path.exists(c.pidfile)


def udp_socket(bind=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((bind or "127.0.0.1", 0))
    return s


def receive_all(socks, until, wait, t0=None):
    """The datagrams on each of SOCKS, read as they come, each (seconds since
    T0, by default now, and bytes), until UNTIL(data) is true for one
    (included) or WAIT seconds went by."""
    t0 = time.monotonic() if t0 is None else t0
    got = {s: [] for s in socks}
    open_ = list(socks)
    while open_:
        left = t0 + wait - time.monotonic()
        ready = select.select(open_, [], [], left)[0] if left > 0 else []
        if not ready:
            break
        for s in ready:
            data = s.recv(65535)
            got[s].append((time.monotonic() - t0, data))
            if until(data):
                open_.remove(s)
    return [got[s] for s in socks]


def receive(s, until, wait, t0=None):
    return receive_all([s], until, wait, t0)[0]


def send_both(pair, socks, wire):
    """Send WIRE to both servers; the time it left."""
    t0 = time.monotonic()
    for server, s in zip(pair, socks):
        s.sendto(wire, (server.addr, server.port))
    return t0


def ask_both(pair, socks, wire, wait=2.0):
    """The first answer of each server to WIRE over UDP (None: none in WAIT s)."""
    out = []
    t0 = send_both(pair, socks, wire)
    for got in receive_all(socks, lambda d: d[:2] == wire[:2], wait, t0):
        out.append(got[-1][1] if got and got[-1][1][:2] == wire[:2] else None)
    return out


def nxns_referral(wire):
    try:
        m = dns.message.from_wire(wire)
    except Exception:
        return False
    return any(r.rdtype == dns.rdatatype.NS and len(r) == slowauth.NXNS_NAMES
               for r in m.authority)


def desc(wire):
    try:
        return fast.described(wire)
    except Exception as e:
        return "%r (%s)" % (wire, e)


def check_same(c_out, py_out, query, what=""):
    """hostile.c's answer to QUERY is slowauth's: the same bytes, but for
    ns1's own address and the order of an NXNS referral's records."""
    assert c_out is not None and py_out is not None, (what, desc(query), c_out, py_out)
    py_out = py_out.replace(socket.inet_aton(PY_ADDR), socket.inet_aton(C_ADDR))
    if nxns_referral(py_out):  # the same records, in a random order in both
        assert len(c_out) == len(py_out), (what, desc(query))
        assert fast.described(c_out) == fast.described(py_out), (what, desc(query))
    else:
        assert c_out == py_out, (what, desc(query), desc(c_out), desc(py_out))


def wait_counts(pair, want):
    """Both count files, once they say WANT (udp/tcp/junk/forged)."""
    deadline = time.monotonic() + 5
    while True:
        counts = [s.counts() for s in pair]
        kinds = [{k: c[k] for k in ("udp", "tcp", "junk", "forged")} for c in counts]
        if all(k == want for k in kinds) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert kinds[0] == want and kinds[1] == want, kinds
    assert counts[0]["names"] == {} and counts[1]["names"] == {}


def plain_queries():
    """Queries both servers answer at once: fast.NAMES and names outside the
    zone in several cases, types and EDNS variants, plus the ones slowauth
    leaves to dnspython (other types and classes, other options, two or no
    questions, other opcodes, odd names)."""
    out = []
    for i, rel in enumerate(fast.NAMES + fast.OUTSIDE):
        for j, name in enumerate(fast.cases(fast.absolute(rel, ZONE))):
            for k, rdtype in enumerate(["A", "AAAA", "NS", "SOA"]):
                flags = dns.flags.RD if (i + j + k) % 2 else dns.flags.CD | dns.flags.AD
                out.append(fast.query(name, rdtype, fast.EDNS[(i + j + k) % len(fast.EDNS)],
                                      flags).to_wire())
    for rdtype in ("ANY", "TYPE65280", "NULL", "DS", "DNSKEY"):
        out.append(fast.query("x.atk.", rdtype, fast.EDNS[1]).to_wire())
    for name in ("*.atk.", "a\\000.atk.", "\\195\\169.atk.", "x12.NXNS.atk.", "n1-x.victim.atk."):
        out.append(fast.query(name, "A", fast.EDNS[2]).to_wire())
    q = fast.query("x.atk.", "A", (0, 1232, 0, [dns.edns.ECSOption("192.0.2.0", 24)]))
    out.append(q.to_wire())
    q = fast.query("x.atk.", "A", fast.EDNS[1])
    q.use_edns(1, 0, 1232)
    out.append(q.to_wire())
    q = fast.query("x.atk.", "A")
    q.question[0].rdclass = dns.rdataclass.CH
    out.append(q.to_wire())
    q = fast.query("x.atk.", "A", fast.EDNS[3])
    q.question.append(dns.rrset.RRset(dns.name.from_text("y.ATK."), dns.rdataclass.IN,
                                      dns.rdatatype.AAAA))
    out.append(q.to_wire())  # two questions: FORMERR
    q = fast.query("x.atk.", "A", fast.EDNS[1])
    q.question = []
    out.append(q.to_wire())  # none: FORMERR
    q = fast.query("x.atk.", "A")
    q.answer.append(dns.rrset.from_text("x.atk.", 300, "IN", "A", "192.0.2.1"))
    out.append(q.to_wire())  # an answer section in a query
    wire = fast.query("chain.atk.", "A", fast.EDNS[1]).to_wire()
    for opcode in (1, 2, 4):  # IQUERY, STATUS, NOTIFY
        out.append(wire[:2] + bytes([wire[2] & 0x87 | opcode << 3]) + wire[3:])
    for payload in (0, 100, 511, 512, 513, 600, 1232):  # an NXNS referral: truncated?
        out.append(fast.query("Xy7.nxns.atk.", "A", (0, payload, 0, [])).to_wire())
    return out


def test_answers_agree(pair):
    """Every answer over UDP and TCP the same as slowauth's, and the counts."""
    c, py = pair
    socks = [udp_socket(), udp_socket()]
    queries = plain_queries()
    for wire in queries:
        c_out, py_out = ask_both(pair, socks, wire)
        check_same(c_out, py_out, wire)
    # queries dnspython does not take: no answer, not counted
    bad = [b"\x12\x34", b"\x12\x34" + bytes(10) + b"\x00"]
    wire = fast.query("x.atk.", "A", fast.EDNS[1]).to_wire()
    bad += [wire + b"\x00", wire[:-1], wire[:12] + b"\xc0\x0c" + wire[-15:],
            wire[:2] + bytes([wire[2] & 0x87 | 3 << 3]) + wire[3:]]
    for wire in bad:
        for server, s in zip(pair, socks):
            s.sendto(wire, (server.addr, server.port))
    assert receive_all(socks, lambda d: True, 0.3) == [[], []]
    # TCP: one connection each, every plain query pipelined, answers by ID
    conns = [socket.create_connection((s.addr, s.port), timeout=5) for s in pair]
    ids = set()
    batch = []
    for wire in queries:  # distinct IDs on one connection
        if wire[:2] not in ids:
            ids.add(wire[:2])
            batch.append(wire)
    answers = []
    for conn in conns:
        conn.sendall(b"".join(struct.pack("!H", len(w)) + w for w in batch))
        got = {}
        buf = b""
        while len(got) < len(batch):
            data = conn.recv(65535)
            assert data, "connection closed after %d answers" % len(got)
            buf += data
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                got[buf[2:4]] = buf[2:2 + n]
                buf = buf[2 + n:]
        answers.append(got)
    for wire in batch:
        out = answers[0][wire[:2]]
        check_same(out, answers[1][wire[:2]], wire, "TCP")
        if nxns_referral(out):
            assert not dns.message.from_wire(out).flags & dns.flags.TC  # 65535 over TCP
    for sock in conns + socks:
        sock.close()
    wait_counts(pair, {"udp": len(queries), "tcp": len(batch), "junk": 0, "forged": 0})
    stop_clean(c)
    assert py.stop() == 0


def genuine(q):
    """Is a datagram the genuine answer to query message Q?"""
    def test(data):
        try:
            m = dns.message.from_wire(data)
        except Exception:
            return False
        return (m.id == q.id and m.flags & dns.flags.QR and m.flags & dns.flags.AA
                and m.opcode() == 0 and m.question == q.question and POISON not in data)
    return test


def test_held_back_junk_spoofed_limited(pair):
    c, py = pair
    socks = [udp_socket(), udp_socket()]
    # d50-: the same answer, 50 ms late
    q = fast.query("d50-Slow.atk.", "A", fast.EDNS[1])
    t0 = send_both(pair, socks, q.to_wire())
    got = receive_all(socks, genuine(q), 3, t0)
    for g in got:
        assert len(g) == 1 and g[0][0] >= 0.045, g
    assert got[0][0][1] == got[1][0][1]

    # j30-: the seven kinds of junk at once, the same bytes (but for the
    # garbage), then the genuine answer 30 ms later
    q = fast.query("j30-Td.atk.", "AAAA", fast.EDNS[3])
    t0 = send_both(pair, socks, q.to_wire())
    got = receive_all(socks, genuine(q), 3, t0)
    for g in got:
        assert len(g) == len(slowauth.JUNK_KINDS) + 1, g
        assert len(g[0][1]) == 40 and g[0][1][:2] == q.to_wire()[:2]  # garbage
        assert all(d[:2] == q.to_wire()[:2] for _, d in g)
    assert [d for _, d in got[0][1:]] == [d for _, d in got[1][1:]]
    for g in got:
        assert g[-1][0] >= 0.025 and g[-2][0] < g[-1][0] - 0.01, [t for t, _ in g]
    header, body, qr, opcode, other, formerr = [d for _, d in got[0][1:-1]]
    assert header[2:] == b"\x84\x00\x00\x01\x00\x01" + bytes(4)  # a bare header
    with pytest.raises(Exception):  # the right question, then an answer cut short
        dns.message.from_wire(body)
    assert body[12:].startswith(q.to_wire()[12:12 + len(q.question[0].name.to_wire()) + 4])
    m = dns.message.from_wire(qr)
    assert not m.flags & dns.flags.QR and m.question == q.question and POISON in qr
    m = dns.message.from_wire(opcode)
    assert m.opcode() == 4 and m.question == q.question and POISON in opcode
    m = dns.message.from_wire(other)
    assert m.question[0].name.to_text() == "other.atk." and POISON in other
    assert formerr[2:] == b"\x80\x01" + bytes(8)  # FORMERR without a question

    # s50-: 300 forged answers (every ID but the right one) to the query's
    # port over the 50 ms, 8 with the right ID to other ports, the genuine
    # answer last; the right-ID ones are seen by a raw socket (root only)
    raw = None
    if os.geteuid() == 0:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
        raw.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20)
    spoof = [udp_socket(C_CLIENT), udp_socket(PY_CLIENT)]
    q = fast.query("s50-Sp.atk.", "A", fast.EDNS[2])
    wire = q.to_wire()
    t0 = send_both(pair, spoof, wire)
    got = receive_all(spoof, genuine(q), 3, t0)
    forged = []
    for g in got:
        assert genuine(q)(g[-1][1]) and g[-1][0] >= 0.045
        f = g[:-1]
        assert len(f) == slowauth.FLOOD_PER_QUERY, len(f)
        ids = {d[:2] for _, d in f}
        assert len(ids) == len(f) and wire[:2] not in ids
        assert all(d.endswith(POISON + b"\x00\x00\x29\x20\x00\x00\x00\x00\x00\x00\x00")
                   for _, d in f)
        assert f[-1][0] - f[0][0] >= 0.03, "not spread over the delay"
        forged.append({d[2:] for _, d in f})
    assert len(forged[0]) == 1 and forged[0] == forged[1]  # one packet, but for the ID
    assert got[0][-1][1] == got[1][-1][1]
    if raw is not None:
        time.sleep(0.05)
        others = {C_CLIENT: [], PY_CLIENT: []}
        ports = {C_CLIENT: spoof[0].getsockname()[1], PY_CLIENT: spoof[1].getsockname()[1]}
        while select.select([raw], [], [], 0)[0]:
            pkt = raw.recv(65535)
            ihl = (pkt[0] & 0xF) * 4
            src, dst = socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20])
            dport = struct.unpack("!H", pkt[ihl + 2:ihl + 4])[0]
            if dst in others and src in (C_ADDR, PY_ADDR) and dport != ports[dst]:
                others[dst].append(pkt[ihl + 8:])
        raw.close()
        for dst, pkts in others.items():
            assert len(pkts) == 8, (dst, len(pkts))
            assert all(p[:2] == wire[:2] and p[2:] in forged[0] for p in pkts)
    for s in spoof:
        s.close()

    # u50-: never answered over UDP, over TCP after 50 ms
    q = fast.query("u50-Rl.atk.", "A", fast.EDNS[1])
    for server, s in zip(pair, socks):
        s.sendto(q.to_wire(), (server.addr, server.port))
    assert receive_all(socks, lambda d: True, 0.3) == [[], []]
    tcp = []
    for server in pair:
        with socket.create_connection((server.addr, server.port), timeout=5) as conn:
            t0 = time.monotonic()
            # the held-back query first: its answer comes second
            qs = [q, fast.query("D200-x.chain.atk.", "A"), fast.query("c7-y.chain.atk.", "A")]
            qs[1].id, qs[2].id = q.id ^ 1, q.id ^ 2
            conn.sendall(b"".join(struct.pack("!H", len(m.to_wire())) + m.to_wire()
                                  for m in qs))
            buf, got = b"", []
            while len(got) < 3:
                data = conn.recv(65535)
                assert data
                buf += data
                while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                    n = struct.unpack("!H", buf[:2])[0]
                    got.append((time.monotonic() - t0, buf[2:2 + n]))
                    buf = buf[2 + n:]
        assert [dns.message.from_wire(d).id for _, d in got] == [qs[2].id, q.id, qs[1].id]
        assert got[1][0] >= 0.045 and got[2][0] >= 0.195, got
        tcp.append([d for _, d in got])
    assert tcp[0] == tcp[1]
    for s in socks:
        s.close()
    wait_counts(pair, {"udp": 4, "tcp": 3, "junk": 7, "forged": 308})
    stop_clean(c)
    assert py.stop() == 0


@pytest.mark.parametrize("origin", fast.ZONES)
def test_all_of_the_fast_set(binary, tmp_path, origin):
    """test_slowauth_fast's whole query set (both zones) against slowauth's
    own rendering in this process, and the truncation edge; QR set: dropped."""
    port = free_port()
    c = Server([binary], C_ADDR, port, str(tmp_path), "hostile", origin)
    try:
        zone = slowauth.Zone(origin, C_ADDR)
        s = udp_socket()
        n = 0

        def ask(wire):
            s.sendto(wire, (C_ADDR, port))
            got = receive(s, lambda d: d[:2] == wire[:2], 2)
            assert got, desc(wire)
            return got[-1][1]

        for i, rel in enumerate(fast.NAMES + fast.OUTSIDE):
            for name in fast.cases(fast.absolute(rel, origin)):
                for j, rdtype in enumerate(fast.TYPES):
                    flags = dns.flags.RD if (i + j) % 2 else dns.flags.CD | dns.flags.AD
                    wire = fast.query(name, rdtype, fast.EDNS[(i + j) % len(fast.EDNS)],
                                      flags).to_wire()
                    check_same(ask(wire), fast.slow(zone, wire), wire)
                    n += 1
        for k in (1, 20, 59):  # an NXNS referral of the payload's size, one byte over
            name = "%s.nxns.%s" % ("Q" * k, origin)
            size = len(zone.fast_answer(fast.query(name, "A", (0, 4096, 0, [])).to_wire())[0])
            for payload in (size - 1, size, size + 1):
                wire = fast.query(name, "A", (0, payload, 0, [])).to_wire()
                out = ask(wire)
                check_same(out, fast.slow(zone, wire), wire)
                assert bool(dns.message.from_wire(out).flags & dns.flags.TC) == (payload < size)
                n += 1
        wire = fast.query("x." + origin, "A").to_wire()
        s.sendto(wire[:2] + bytes([wire[2] | 0x80]) + wire[3:], (C_ADDR, port))
        assert receive(s, lambda d: True, 0.2) == []
        assert n > 1000
        deadline = time.monotonic() + 5
        while c.counts()["udp"] != n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.counts() == {"udp": n, "tcp": 0, "junk": 0, "forged": 0, "names": {}}
        s.close()
        stop_clean(c)
    finally:
        c.stop()


def test_refuses_without_bench(binary, tmp_path):
    out = subprocess.run([binary, C_ADDR, "53", str(tmp_path / "p"), str(tmp_path / "c"),
                          ZONE], capture_output=True, text=True, timeout=10)
    assert out.returncode == 2 and "--bench" in out.stderr
    assert not os.path.exists(tmp_path / "p")
