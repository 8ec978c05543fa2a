"""Integration fixtures: the NSD lab (tests/lab/lab.py) + the resolver under test.

Environment:
  VIGIL_BIN               resolver binary (default: <repo>/build/vigil)
  VIGIL_TEST_RESOLVER     "vigil" (default) or "unbound" (Debian's unbound with an
                          equivalent config -- validates the lab and the tests)
  VIGIL_TEST_KEEP=1       keep the lab directory (logs, configs) after the run
  VIGIL_TEST_START_TIMEOUT  seconds to wait for the resolver to answer (default 10)
  VIGIL_LAB_PREFIX        lab address prefix (default 127.53)

Encrypted DNS (issue 10): `certs` is a throwaway CA with server and client
certificates (tests/lab/certs.py) whose IP SANs cover 127.0.0.1, ::1 and the
lab's TLS addresses <prefix>.210.1-9; `lab_unbound` is Debian's Unbound
serving DoT and DoH with them on <prefix>.210.1 (tests/lab/labunbound.py).

Everything started here is stopped by PID at session end, also on failure.

Every vigil a test starts is stopped through terminate() (Resolver.stop()
calls it): SIGTERM, and then it must exit 0 by itself (not killed, not
SIGKILLed after the timeout) with no sanitizer report in its log (a line with
"Sanitizer" -- AddressSanitizer, LeakSanitizer, ThreadSanitizer -- or UBSan's
"runtime error").  A test that means vigil to die, or not to start, says so
with stop(check=False) or by not using terminate() at all.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))

try:
    import dns.message  # noqa: E402
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
import dns.edns  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

import certs as certsmod  # noqa: E402
import lab as labmod  # noqa: E402
import labunbound  # noqa: E402

RESOLVER_KIND = os.environ.get("VIGIL_TEST_RESOLVER", "vigil").strip().lower() or "vigil"
VIGIL_BIN = os.environ.get("VIGIL_BIN") or os.path.join(REPO, "build", "vigil")
if not os.path.isabs(VIGIL_BIN):
    VIGIL_BIN = os.path.join(REPO, VIGIL_BIN)
START_TIMEOUT = float(os.environ.get("VIGIL_TEST_START_TIMEOUT", "10"))
READY_NAME = "www.basic.lab."


def _project_version():
    """The version meson.build gives the project (what vigil reports)."""
    with open(os.path.join(REPO, "meson.build")) as f:
        m = re.search(r"project\([^)]*?\bversion:\s*'([^']+)'", f.read(), re.S)
    assert m, "no project version in meson.build"
    return m.group(1)


VIGIL_VERSION = _project_version()
STOP_TIMEOUT = 10.0  # seconds from SIGTERM to exit (LeakSanitizer's scan at exit included)
_KEEP_WORKDIR = []  # set when setup failed: keep the logs the error message points to
_STARTED = []  # every Resolver (and subclass) made: killed at session end if still running

# A sanitizer build of vigil writes its reports to stderr, which is the log
# every test reads: whatever the caller's environment says, the reports go
# there (log_path), and LeakSanitizer runs when vigil exits (detect_leaks).
# An option given later in the string wins, so these are appended.
_SANITIZER_FORCED = {
    "ASAN_OPTIONS": "detect_leaks=1:log_path=stderr",
    "LSAN_OPTIONS": "detect_leaks=1:log_path=stderr",
    "UBSAN_OPTIONS": "log_path=stderr",
    "TSAN_OPTIONS": "log_path=stderr:suppressions=%s" % os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tsan.supp"),
}
for _var, _opts in _SANITIZER_FORCED.items():
    os.environ[_var] = ":".join(x for x in (os.environ.get(_var, ""), _opts) if x)

STARTED_LINE = re.compile(r"vigil \S+ started")  # vigil's log, once it serves
SANITIZER_REPORT = re.compile(r"Sanitizer|runtime error")


def sanitizer_report(text):
    """The part of TEXT (a log, a process's output) from its first sanitizer
    line on, at most 60 lines; "" if there is none."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if SANITIZER_REPORT.search(line):
            return "\n".join(lines[i:i + 60])
    return ""


def assert_no_sanitizer_report(text, what="vigil"):
    """For a vigil run whose exit status the test checks itself (a refused
    start, --check-config, explain): its output has no sanitizer report."""
    report = sanitizer_report(text)
    assert not report, "%s: sanitizer report in its output:\n%s" % (what, report)


def check_exit(status, text, what="vigil", killed=False):
    """The check of every vigil stopped with SIGTERM: it exited by itself
    (KILLED false) with STATUS 0 (a subprocess returncode: negative for a
    signal), and TEXT, its log (stdout and stderr), has no sanitizer report.
    Raises AssertionError saying what was wrong, with the log's tail."""
    problems = []
    if killed:
        problems.append("did not exit in time after SIGTERM (SIGKILLed)")
    elif status < 0:
        problems.append("was killed by signal %d (%s)" % (-status, signal.Signals(-status).name))
    elif status != 0:
        problems.append("exited with status %d" % status)
    report = sanitizer_report(text)
    if report:
        problems.append("wrote a sanitizer report:\n" + report)
        text = text[:text.index(report.split("\n", 1)[0])]  # the tail: what came before it
    if problems:
        _KEEP_WORKDIR.append(True)
        tail = "".join(text.splitlines(True)[-40:])
        raise AssertionError("%s, stopped with SIGTERM, %s\nlog tail:\n%s"
                             % (what, "; ".join(problems), tail))


def terminate(proc, log_text, what="vigil", timeout=STOP_TIMEOUT, check=True):
    """Stop PROC (a subprocess.Popen): SIGTERM, wait up to TIMEOUT seconds,
    SIGKILL if it is still there.  Then, unless CHECK is false, check_exit()
    with LOG_TEXT(), its output.  A process that had exited already is checked
    the same way.  Returns True if SIGTERM was enough."""
    killed = False
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            killed = True
            proc.kill()
            proc.wait(timeout=5)
    if check:
        check_exit(proc.returncode, log_text(), "%s (pid %d)" % (what, proc.pid), killed)
    return not killed


def pytest_configure(config):
    config.addinivalue_line("markers", "vigil_only: needs a vigil-only feature "
                            "(skipped when VIGIL_TEST_RESOLVER=unbound)")


def pytest_collection_modifyitems(config, items):
    if RESOLVER_KIND == "vigil":
        return
    skip = pytest.mark.skip(reason="vigil-only feature; resolver under test is %s"
                            % RESOLVER_KIND)
    for item in items:
        if "vigil_only" in item.keywords:
            item.add_marker(skip)


def _preflight():
    """Problems that make the whole run pointless: report them at once."""
    if RESOLVER_KIND not in ("vigil", "unbound"):
        return "VIGIL_TEST_RESOLVER must be 'vigil' or 'unbound', not %r" % RESOLVER_KIND
    if RESOLVER_KIND == "vigil":
        if not os.path.isfile(VIGIL_BIN):
            return ("resolver binary not found: %s\n"
                    "  build it first (meson setup build && ninja -C build), or set "
                    "VIGIL_BIN=/path/to/vigil,\n  or run the suite against Debian's "
                    "unbound: VIGIL_TEST_RESOLVER=unbound" % VIGIL_BIN)
        if not os.access(VIGIL_BIN, os.X_OK):
            return "resolver binary is not executable: %s" % VIGIL_BIN
    elif not shutil.which("unbound") and not os.path.exists("/usr/sbin/unbound"):
        return "VIGIL_TEST_RESOLVER=unbound but unbound is not installed (apt-get install unbound)"
    for tool in ("nsd", "nsd-control"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            return "%s not found: apt-get install nsd" % tool
    if labmod.DEFAULT_PORT < 1024 and os.geteuid() != 0:
        return "the lab binds port %d on 127.53.x.y: run as root" % labmod.DEFAULT_PORT
    return None


def no_default_control(text):
    """TEXT, a vigil config, with `control: socket: ""` (no control socket)
    when it has no control section of its own: a test vigil never takes the
    default /run/vigil/control.sock, which a vigil of the machine or another
    test run may hold."""
    if re.search(r"^control:", text, re.M):
        return text
    return text + "control:\n  socket: \"\"  # the tests that use it set their own\n"


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port")


def stop_all(daemons):
    """stop() every one of DAEMONS, also when an earlier one fails its check;
    then raise the failures together."""
    failed = []
    for d in daemons:
        try:
            d.stop()
        except AssertionError as e:
            failed.append(str(e))
    if failed:
        raise AssertionError("\n\n".join(failed))


class Resolver:
    """The resolver under test, listening on 127.0.0.1:port."""

    def __init__(self, kind, workdir, lab, port):
        self.kind = kind
        self.dir = workdir
        self.lab = lab
        self.addr = "127.0.0.1"
        self.port = port
        self.proc = None
        self.pidfile = os.path.join(workdir, "resolver.pid")
        self.log_path = os.path.join(workdir, "resolver.log")
        self.config_path = None
        self.killed = False
        self._checked = None  # the process stop() has checked already
        _STARTED.append(self)

    # ------------------------------------------------------------ config
    def write_config(self):
        lab = self.lab
        # the lab's negative trust anchors (bogus zones answered as insecure)
        ntas = ", ".join('"%s"' % z.rstrip(".") for z in labmod.NEGATIVE_TRUST_ANCHORS)
        if self.kind == "vigil":
            self.config_path = os.path.join(self.dir, "vigil.yaml")
            text = f"""\
# generated by tests/integration/conftest.py
server:
  listen: [ "{self.addr}@{self.port}" ]
  workers: 2
  access-control: [ "127.0.0.1/32 allow", "127.0.0.0/8 refuse" ]
  user: ""  # the suite runs as root; test_privs.py tests the drop
resolver:
  root-hints: {lab.root_hints}
  query-localhost: yes
  prime-root: yes
forward-zones:
  - zone: corp.internal
    upstreams: [ "{lab.addr('corp')}" ]
dnssec:
  trust-anchor-file: [ "{lab.trust_anchor}" ]
  negative-trust-anchors: [ {ntas} ]
log:
  level: debug
"""
            text = no_default_control(text)
        else:
            self.config_path = os.path.join(self.dir, "unbound.conf")
            unbound_ntas = "".join('  domain-insecure: "%s"\n' % z.rstrip(".")
                                   for z in labmod.NEGATIVE_TRUST_ANCHORS)
            text = f"""\
# generated by tests/integration/conftest.py (stand-in for vigil)
server:
  interface: {self.addr}@{self.port}
  port: {self.port}
  do-ip4: yes
  do-ip6: no
  do-udp: yes
  do-tcp: yes
  do-daemonize: no
  chroot: ""
  username: ""
  directory: "{self.dir}"
  pidfile: "{self.dir}/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 1
  num-threads: 2
  root-hints: "{lab.root_hints}"
  do-not-query-localhost: no
  access-control: 127.0.0.1/32 allow
  access-control: 127.0.0.0/8 refuse
  module-config: "validator iterator"
  # DNSSEC: the lab's root DS, its negative trust anchor, RFC 8914 EDEs; the
  # NSEC3 iteration limit of vigil's default (nsec3-max-iterations 50: above it
  # an answer is insecure, RFC 9276) for every key size; aggressive NSEC on
  trust-anchor-file: "{lab.trust_anchor}"
{unbound_ntas}  ede: yes
  val-log-level: 2
  val-nsec3-keysize-iterations: "1024 50 2048 50 4096 50"
  aggressive-nsec: yes
  qname-minimisation: yes
  edns-buffer-size: 1232
  max-udp-size: 1232
  prefetch: no
  serve-expired: no
  # unbound drops replies that took longer than 1.9 s (discard-timeout); a first
  # query into lame.lab can take ~3 s while the silent NS times out
  discard-timeout: 10000
forward-zone:
  name: "corp.internal."
  forward-addr: {lab.addr('corp')}
"""
        with open(self.config_path, "w") as f:
            f.write(text)

    # ------------------------------------------------------------ process
    def cmdline(self):
        if self.kind == "vigil":
            return [VIGIL_BIN, "-c", self.config_path]
        return [shutil.which("unbound") or "/usr/sbin/unbound", "-d", "-c", self.config_path]

    def ready(self):
        """(True, _) once the resolver serves: READY_NAME resolves.  A
        subclass that cannot resolve it (no usable root) says otherwise."""
        r = self.query(READY_NAME, "A", timeout=0.5)
        return (r.rcode() == dns.rcode.NOERROR and bool(r.answer),
                "answered %s" % dns.rcode.to_text(r.rcode()))

    def start(self):
        self.write_config()
        log = open(self.log_path, "ab")
        log_start = log.tell()  # a restarted resolver appends to the same log
        self.proc = subprocess.Popen(self.cmdline(), stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=log, start_new_session=True, close_fds=True)
        log.close()
        with open(self.pidfile, "w") as f:
            f.write("%d\n" % self.proc.pid)
        deadline = time.monotonic() + START_TIMEOUT
        last = "no answer"
        # vigil logs "vigil VERSION started" once its sockets are bound: until
        # then a readiness query could only time out, so the log is polled
        # instead (often, it is cheap), with a query now and then all the same
        # (a config whose log level hides the line); unbound is simply asked
        started = self.kind != "vigil"
        next_ask = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with status %s during startup.\n"
                                   "command: %s\nlog (%s):\n%s"
                                   % (self.kind, self.proc.returncode,
                                      " ".join(self.cmdline()), self.log_path,
                                      self.log_tail()))
            if not started:
                started = bool(STARTED_LINE.search(self.log_since(log_start)))
            if started or time.monotonic() >= next_ask:
                next_ask = time.monotonic() + 0.5
                try:
                    ready, last = self.ready()
                    if ready:
                        return
                except Exception as e:  # timeout, connection refused ...
                    last = "%s: %s" % (type(e).__name__, e)
            time.sleep(0.05 if started else 0.02)
        self.stop(check=False)  # the error below says what went wrong
        raise RuntimeError("%s did not answer %s A on %s:%d within %.0fs (last: %s).\n"
                           "command: %s\nlog (%s):\n%s"
                           % (self.kind, READY_NAME, self.addr, self.port, START_TIMEOUT,
                              last, " ".join(self.cmdline()), self.log_path,
                              self.log_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT, check=True):
        """SIGTERM, wait, SIGKILL (terminate()).  Unless CHECK is false (a
        start-up that failed, a test that means vigil to die), asserts a clean
        exit: status 0 and no sanitizer report in the log.  Returns True if
        SIGTERM was enough.  A second call for the same process does nothing."""
        if self.proc is None or self._checked is self.proc:
            return True
        proc, self._checked = self.proc, self.proc
        try:
            clean = terminate(proc, self.log_text, "%s (%s)" % (self.kind, self.config_path),
                              timeout, check)
        finally:
            self.killed = self.killed or proc.returncode == -signal.SIGKILL
            try:
                os.unlink(self.pidfile)
            except OSError:
                pass
        return clean

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_since(self, offset):
        """The log from byte OFFSET on, as text."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "".join(self.log_text().splitlines(True)[-n:])

    # ------------------------------------------------------------ queries
    def query(self, name, rdtype="A", tcp=False, timeout=5.0, payload=1232,
              use_edns=0, source=None, rdclass="IN", want_dnssec=False):
        q = dns.message.make_query(name, rdtype, rdclass, use_edns=use_edns,
                                   payload=payload, want_dnssec=want_dnssec)
        return self.send(q, tcp=tcp, timeout=timeout, source=source)

    def send(self, q, tcp=False, timeout=5.0, source=None):
        if tcp:
            return dns.query.tcp(q, self.addr, port=self.port, timeout=timeout,
                                 source=source)
        return dns.query.udp(q, self.addr, port=self.port, timeout=timeout,
                             source=source, ignore_unexpected=True)

    # ------------------------------------------------------------ vigil only
    def signal(self, sig):
        assert self.alive(), "resolver is not running:\n" + self.log_tail()
        self.proc.send_signal(sig)

    def stats(self, timeout=3.0):
        """SIGUSR1 -> parse the next 'stats: key=value ...' log line (vigil only)."""
        start = len(self.log_text())
        self.signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = self.log_text()[start:]
            for line in new.splitlines():
                m = re.search(r"stats:\s*(.*)$", line)
                if m and "=" in m.group(1):
                    out = {}
                    for kv in m.group(1).split():
                        k, _, v = kv.partition("=")
                        try:
                            out[k] = int(v)
                        except ValueError:
                            out[k] = v
                    return out
            time.sleep(0.05)
        raise AssertionError("no 'stats: key=value ...' line within %.0fs of SIGUSR1; "
                             "log tail:\n%s" % (timeout, self.log_tail()))


@pytest.fixture(scope="session")
def workdir(request):
    problem = _preflight()
    if problem:
        pytest.exit("integration tests cannot run: " + problem, returncode=3)
    d = tempfile.mkdtemp(prefix="vigil-it-")
    yield d
    keep = (os.environ.get("VIGIL_TEST_KEEP") or request.session.testsfailed
            or _KEEP_WORKDIR)
    if keep:
        sys.stderr.write("\n[integration] lab + resolver logs kept in %s\n" % d)
    else:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def lab(workdir):
    """The running NSD hierarchy (tests/lab/lab.py Lab object)."""
    # Without an explicit VIGIL_LAB_PREFIX, move to 127.54, 127.55, ... when another
    # run's lab holds the default addresses (several sessions may share a machine).
    prefixes = [labmod.DEFAULT_PREFIX]
    if not os.environ.get("VIGIL_LAB_PREFIX"):
        # (not 127.54: bench/run.sh's lab)
        prefixes += ["127.%d" % n for n in range(55, 63)]
    try:
        for i, prefix in enumerate(prefixes):
            the_lab = labmod.Lab(os.path.join(workdir, "lab"), prefix=prefix)
            try:
                the_lab.start()
                break
            except labmod.LabBusy:
                if i == len(prefixes) - 1:
                    raise
    except labmod.LabError as e:
        _KEEP_WORKDIR.append(True)
        pytest.exit("integration tests cannot run: lab failed to start:\n%s" % e,
                    returncode=3)
    try:
        yield the_lab
    finally:
        the_lab.stop()


@pytest.fixture(scope="session")
def resolver(lab, workdir):
    """The resolver under test (vigil, or unbound as a stand-in), already answering."""
    r = Resolver(RESOLVER_KIND, workdir, lab, free_port())
    try:
        r.start()
    except RuntimeError as e:
        r.stop(check=False)  # it did not start: the message says why
        _KEEP_WORKDIR.append(True)
        pytest.exit("integration tests cannot run: %s" % e, returncode=3)
    yield r
    r.stop()  # exit status 0, no sanitizer report (terminate())


def tls_addrs(lab):
    """The lab's addresses for TLS servers: [unbound, vigil 1, vigil 2, ...]
    (<prefix>.210.1-9, all in the certificates' IP SANs)."""
    return [labunbound.addr_for(lab.prefix)] + ["%s.%s" % (lab.prefix, o)
                                                 for o in labunbound.VIGIL_OCTETS]


@pytest.fixture(scope="session")
def certs(lab, workdir):
    """Throwaway certificates (tests/lab/certs.py LabCerts): certs.ca.cert is the
    trust anchor; certs.server (EC P-256; CN/SAN dns.vigil.test and
    *.dns.vigil.test, IP SANs 127.0.0.1, ::1 and tls_addrs(lab)), server2
    (another key, for reloads), server_rsa, wrongname, expired, client and
    client2 (mTLS, CN client-1/client-2), and rogue_ca with rogue_server /
    rogue_client, which nobody trusts.  certsmod.fingerprint(path) ->
    "sha256:<hex>", certsmod.spki_pin(path) -> base64 SPKI SHA-256."""
    if not certsmod.available():
        pytest.skip("openssl CLI not found (apt-get install openssl)")
    try:
        return certsmod.lab_certs(os.path.join(workdir, "certs"),
                                  ips=["127.0.0.1", "::1"] + tls_addrs(lab))
    except certsmod.CertError as e:
        _KEEP_WORKDIR.append(True)
        pytest.fail("making the test certificates failed: %s" % e)


@pytest.fixture(scope="session")
def lab_unbound(lab, certs, workdir):
    """Debian's Unbound on <prefix>.210.1: plain DNS @53, DoT @853, DoH @443
    (path /dns-query) with certs.server; answers the local zone dot.test.
    itself (labunbound.LOCAL_DATA) and everything else by recursion through
    the lab (no validation).  .stats() gives its counters (num.query.tls,
    num.query.https, ...) through a control socket in its own directory."""
    ok, why = labunbound.available()
    if not ok:
        pytest.skip(why)
    u = labunbound.LabUnbound(os.path.join(workdir, "unbound-tls"), tls_addrs(lab)[0],
                              certs.server.cert, certs.server.key,
                              root_hints=lab.root_hints, control=True)
    try:
        u.start()
    except labunbound.UnboundError as e:
        u.stop()
        _KEEP_WORKDIR.append(True)
        pytest.fail("the lab's DoT/DoH unbound did not start: %s" % e)
    yield u
    u.stop()


def pytest_sessionfinish(session, exitstatus):
    """The safety net: a vigil a failed test left running is killed (by PID)."""
    for r in _STARTED:
        if r.proc is not None and r.proc.poll() is None:
            r.proc.kill()
            r.proc.wait(timeout=5)
