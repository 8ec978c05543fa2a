"""The vigil daemon itself: command line, config checking, start-up refusal,
TCP connection limits and idle timeout, a failed reload, clean shutdown, the
prime-root switch.  (Identical queries in flight: test_inflight.py.)  vigil
only."""
import os
import re
import signal
import socket
import struct
import subprocess
import time

import dns.message
import dns.rcode
import pytest

import conftest
from helpers import assert_answer, assert_rcode, settle, tcp_read_msg

pytestmark = pytest.mark.vigil_only

REPO = conftest.REPO


def run(*args, timeout=10):
    """vigil ARGS, to its end; its exit status is the caller's to check, a
    sanitizer report in its output fails here."""
    r = subprocess.run([conftest.VIGIL_BIN, *args], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    conftest.assert_no_sanitizer_report(r.stdout + r.stderr, "vigil " + " ".join(args))
    return r


# ------------------------------------------------------------------ command line

def test_help_and_version():
    r = run("--help")
    assert r.returncode == 0
    for word in ("SYNOPSIS", "--config", "--check-config", "SIGHUP", "EXIT STATUS"):
        assert word in r.stdout, "--help lacks %s:\n%s" % (word, r.stdout)
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("vigil "), r.stdout
    r = run("--no-such-option")
    assert r.returncode == 2, "a bad option must exit 2, got %d" % r.returncode


def test_check_config_reports_file_and_line(tmp_path):
    good = os.path.join(REPO, "contrib", "vigil.yaml")
    r = run("--check-config", good)
    assert r.returncode == 0, "contrib/vigil.yaml must be valid:\n" + r.stdout + r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  workers: many\n  no-such-key: 1\ncache:\n  size: 10x\n")
    r = run("--check-config", str(bad))
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    for line in (2, 3, 5):
        assert "%s:%d:" % (bad, line) in out, "no error reported for line %d:\n%s" % (line, out)


def test_start_refused_on_broken_config(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("server:\n  listen: [ \"127.0.0.1@notaport\" ]\n")
    r = run("-c", str(bad))
    assert r.returncode == 1, "vigil started on a broken config:\n" + r.stderr
    assert "%s:2:" % bad in r.stderr, r.stderr


# ------------------------------------------------------------------ a second instance

class Custom(conftest.Resolver):
    """A vigil with its own config text (the lab's hints, test-specific limits)."""

    def __init__(self, workdir, lab, extra):
        super().__init__("vigil", workdir, lab, conftest.free_port())
        self.extra = extra

    def write_config(self):
        self.config_path = os.path.join(self.dir, "vigil.yaml")
        with open(self.config_path, "w") as f:
            f.write(conftest.no_default_control(self.text()))

    def text(self, extra=None):
        return ("server:\n  listen: [ \"127.0.0.1@%d\" ]\n  workers: 1\n  user: \"\"\n%s"
                "resolver:\n  root-hints: %s\n  query-localhost: yes\n"
                "dnssec:\n  trust-anchor-file: [ \"%s\" ]\n"
                "log:\n  level: info\n" % (self.port, extra if extra is not None
                                            else self.extra, self.lab.root_hints,
                                            self.lab.trust_anchor))


@pytest.fixture
def small(lab, tmp_path):
    v = Custom(str(tmp_path), lab, "  tcp-idle-timeout: 400\n"
               "  tcp-max-connections-per-worker: 2\n  tcp-max-connections: 2\n")
    v.start()
    yield v
    v.stop()


def tcp_connect(v):
    s = socket.create_connection((v.addr, v.port), timeout=3)
    return s


def tcp_ask(s, name):
    wire = dns.message.make_query(name, "A").to_wire()
    s.sendall(struct.pack("!H", len(wire)) + wire)
    return dns.message.from_wire(tcp_read_msg(s))


def tcp_try_ask(s, name):
    """tcp_ask, or None if the server closed the connection instead."""
    try:
        wire = dns.message.make_query(name, "A").to_wire()
        s.sendall(struct.pack("!H", len(wire)) + wire)
        raw = tcp_read_msg(s)
    except OSError:  # reset, broken pipe, timeout
        return None
    return dns.message.from_wire(raw) if raw is not None else None


def closed_by_server(s, within):
    s.settimeout(within)
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def test_tcp_idle_timeout(small):
    """The configured idle timeout (400 ms) applies, not the default (10 s): the
    server closes the idle connection before the client gives up waiting."""
    s = tcp_connect(small)
    assert_answer(tcp_ask(s, "www.basic.lab."), "www.basic.lab.", "A", ["192.0.2.10"])
    assert closed_by_server(s, 5.0), "idle connection still open (tcp-idle-timeout 400 ms)"
    s.close()


def test_tcp_connection_cap(small):
    a, b = tcp_connect(small), tcp_connect(small)
    assert_rcode(tcp_ask(a, "www.basic.lab."), "NOERROR")
    assert_rcode(tcp_ask(b, "www.basic.lab."), "NOERROR")
    c = tcp_connect(small)  # the third: over both caps
    assert closed_by_server(c, 2.0), "a third connection was kept over a cap of 2"
    st = small.stats()
    assert st["tcp_rejected"] == 1 and st["tcp_accepted"] >= 2, st
    # the first two still work
    assert_rcode(tcp_ask(a, "mail.basic.lab."), "NOERROR")
    for s in (a, b, c):
        s.close()
    # room again once vigil has seen them close: poll (a connection made before
    # that is closed by vigil, as the third one was)
    deadline = time.monotonic() + 5
    while True:
        d = tcp_connect(small)
        r = tcp_try_ask(d, "www.basic.lab.")
        d.close()
        if r is not None:
            break
        assert time.monotonic() < deadline, "no room for a new connection after the others closed"
        time.sleep(0.05)
    assert_rcode(r, "NOERROR")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_tcp_client_that_never_reads(small):
    """A client pipelines cached queries and never reads the answers: vigil stops
    reading from it once its answers pile up, instead of queueing them without
    bound, and keeps serving everyone else."""
    small.query("www.basic.lab.")  # cached
    wire = dns.message.make_query("www.basic.lab.", "A").to_wire()
    frame = struct.pack("!H", len(wire)) + wire
    chunk = frame * 2000
    rss0 = rss_kib(small.proc.pid)
    s = tcp_connect(small)
    s.setblocking(False)
    sent, deadline = 0, time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            sent += s.send(chunk)
        except BlockingIOError:
            time.sleep(0.01)
        except (ConnectionResetError, BrokenPipeError):
            break  # the idle timeout closed it while reading was paused: fine
    grown = rss_kib(small.proc.pid) - rss0
    # the kernel's socket buffers take a few MB; without backpressure vigil reads
    # everything (tens of MB in 3 s) and queues an answer for each query
    assert sent < 16 * 1024 * 1024, "vigil read %d bytes from a client that never reads" % sent
    # generous: sanitizer builds keep freed memory in quarantine
    assert grown < 128 * 1024, "vigil grew by %d KiB for one non-reading client" % grown
    assert_answer(small.query("www.basic.lab."), "www.basic.lab.", "A", ["192.0.2.10"])
    s.close()


def test_failed_reload_keeps_config_and_serving(small):
    with open(small.config_path, "w") as f:
        f.write("server:\n  workers: lots\n")
    small.signal(signal.SIGHUP)
    deadline = time.monotonic() + 3
    while "failed" not in small.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = small.log_text()
    assert "reload" in log and "failed" in log and "vigil.yaml:2:" in log, log[-2000:]
    assert_answer(small.query("www.basic.lab."), "www.basic.lab.", "A", ["192.0.2.10"])
    # a good file is taken, and the cache survives the reload (no upstream query)
    small.write_config()
    before = small.lab.stats("basic")["num.queries"]
    small.signal(signal.SIGHUP)
    deadline = time.monotonic() + 3
    while "reloaded" not in small.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "reloaded" in small.log_text()
    assert_answer(small.query("www.basic.lab."), "www.basic.lab.", "A", ["192.0.2.10"])
    assert small.lab.stats("basic")["num.queries"] == before, "reload dropped the cache"


def test_sigterm_stops_cleanly(lab, tmp_path):
    v = Custom(str(tmp_path), lab, "")
    v.start()
    pid = v.proc.pid
    # SIGTERM: exit status 0 and no sanitizer report (conftest.terminate);
    # a vigil still running 10 s later fails the test -- no timing asserted
    v.stop(timeout=10.0)
    assert "stopped" in v.log_text()
    assert not os.path.exists("/proc/%d" % pid) or open("/proc/%d/stat" % pid).read().split()[2] == "Z"


# ------------------------------------------------------------------ no config at all

@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/bin/unshare"),
                    reason="needs root and unshare(1) for a private network namespace")
def test_default_config_in_isolated_namespace(tmp_path):
    """What `bash contrib/setup.sh start` runs: vigil with no config file.  It
    binds 127.0.0.1:53 and ::1:53, so it runs in a network namespace of its own
    with only loopback up: its priming query for the real root servers cannot
    leave the machine, and nothing clashes with the lab.  The default policy
    (the shipped supply-chain zone) blocks its indicators for every client.
    As root it drops to the default server.user, vigil (which setup.sh start
    creates): in a mount namespace of its own, the test adds that user to a
    copy of /etc/passwd when the machine has none, and /var/lib (where the
    default state directory is made) is a fresh tmpfs."""
    script = tmp_path / "run.sh"
    log = tmp_path / "vigil.log"
    script.write_text(f"""set -e
ip link set lo up
if ! getent passwd vigil >/dev/null; then
    cp /etc/passwd {tmp_path}/passwd
    cp /etc/group {tmp_path}/group
    echo "vigil:x:64987:64987:vigil test:/nonexistent:/usr/sbin/nologin" >> {tmp_path}/passwd
    echo "vigil:x:64987:" >> {tmp_path}/group
    mount --bind {tmp_path}/passwd /etc/passwd
    mount --bind {tmp_path}/group /etc/group
fi
mount -t tmpfs tmpfs /var/lib
{conftest.VIGIL_BIN} -p {tmp_path}/pid > {log} 2>&1 &
vigil=$!
for i in $(seq 50); do [ -s {tmp_path}/pid ] && break; sleep 0.1; done
/usr/bin/python3 - <<'PY'
import dns.message, dns.query, dns.rcode
for addr in ("127.0.0.1", "::1"):
    for tcp in (False, True):
        q = dns.message.make_query("example.com.", "A")
        f = dns.query.tcp if tcp else dns.query.udp
        r = f(q, addr, timeout=3)
        # no route to any root server: a fast SERVFAIL, not a hang
        print(addr, "tcp" if tcp else "udp", dns.rcode.to_text(r.rcode()))
# the default policy: the shipped supply-chain zone, for every client
q = dns.message.make_query("models.litellm.cloud.", "A", use_edns=0)
r = dns.query.udp(q, "127.0.0.1", timeout=3)
ede = ["%d %s" % (int(o.code), o.text) for o in r.options if o.otype == 15]
print("policy", dns.rcode.to_text(r.rcode()), *ede)
PY
kill -TERM $(cat {tmp_path}/pid)
rc=0
wait $vigil || rc=$?
echo "vigil exit status $rc"
""")
    r = subprocess.run(["/usr/bin/unshare", "-n", "-m", "bash", str(script)], capture_output=True,
                       text=True, timeout=30)
    out = r.stdout + r.stderr + log.read_text()
    assert r.returncode == 0, out
    status = re.search(r"^vigil exit status (\d+)$", r.stdout, re.M)
    assert status, out
    conftest.check_exit(int(status.group(1)), log.read_text(), "vigil (no config)")
    for addr in ("127.0.0.1", "::1"):
        for proto in ("udp", "tcp"):
            assert "%s %s SERVFAIL" % (addr, proto) in r.stdout, out
    assert "listening on 127.0.0.1@53" in out and "listening on ::1@53" in out, out
    assert "built-in root hints" in out and "stopped" in out, out
    assert re.search(r"running as user vigil \(uid \d+, gid \d+\), without capabilities", out), out
    assert "policy NXDOMAIN 15 vigil: supply-chain rule *.litellm.cloud" in r.stdout, out


@pytest.mark.parametrize("prime", ["yes", "no"])
def test_prime_root_switch(lab, tmp_path, prime):
    """With prime-root: no, vigil sends no query of its own before a client asks;
    with yes it primes the root servers at start.  The worker primes before it
    serves its first client, so once it has answered a query that needs no
    resolution (class CH: REFUSED or NOTIMP, from the worker itself), any
    priming query has been sent; the lab's counters, once quiet, tell."""
    v = Custom(str(tmp_path), lab, "")
    v.write_config()
    with open(v.config_path) as f:
        text = f.read().replace("  query-localhost: yes\n",
                                "  query-localhost: yes\n  prime-root: %s\n" % prime)
    with open(v.config_path, "w") as f:
        f.write(text)
    before = settle(lab)["root"]
    log = open(v.log_path, "ab")
    proc = subprocess.Popen([conftest.VIGIL_BIN, "-c", v.config_path], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    log.close()
    v.proc = proc  # stopped and checked by v.stop() (conftest.terminate)
    try:
        deadline = time.monotonic() + 5
        while "started" not in v.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "started" in v.log_text(), v.log_tail()
        q = dns.message.make_query("version.lab.", "TXT", rdclass="CH")
        r = v.send(q, timeout=3)  # the worker's event loop runs: past its priming step
        assert r.rcode() in (dns.rcode.REFUSED, dns.rcode.NOTIMP), r
        asked = settle(lab)["root"] - before
    finally:
        v.stop()
    if prime == "no":
        assert asked == 0, "prime-root: no, yet the root was asked %d times" % asked
    else:
        assert asked >= 1, "prime-root: yes, yet the root was never asked"
