"""More than one machine (issue 12 part 6): the recipe of contrib/fleet, in the lab.

contrib/fleet/run.sh starts, on <prefix>.202.x (inside the lab's own prefix):

* .2  a hidden Knot DNS primary serving the policy zone fleet.rpz.
      (transfers signed with a TSIG key, NOTIFY to both vigils);
* .11 vigil-a and .12 vigil-b, each a feed secondary of fleet.rpz., resolving
      through the lab (its root hints and trust anchor, FLEET_VIGIL_INCLUDE);
* .1  dnsdist in front of them, health-checking both.

The tests run in order on that one fleet:

1. through dnsdist names resolve and a name of the first policy version is
   blocked, by both vigils, with the policy zone's serial 1;
2. a change on the primary (knotc zone-begin / zone-set / zone-commit: serial 2)
   reaches both vigils by NOTIFY and IXFR (their log lines and Knot's), and both
   enforce serial 2, asked directly and through dnsdist;
3. three changes in a row: both end at the last serial;
4. vigil-a stopped by its PID: once dnsdist marks it down, dnsdist keeps
   answering from vigil-b, with the same policy.

The Prometheus /metrics of each vigil (the endpoint contrib/fleet/prometheus.yml
scrapes) shows that both served; the SIGUSR1 stats line shows vigil-b took
over.
Every vigil must exit 0 on SIGTERM with no sanitizer report (conftest's
check_exit, on the exit status run.sh's wrapper records).  Needs knotd and
dnsdist (apt-get install knot dnsdist).
"""
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

import conftest
import labknot
from helpers import show, wait_log
from test_policy import BLOCKED, assert_blocked, assert_resolves

RUN_SH = os.path.join(conftest.REPO, "contrib", "fleet", "run.sh")
METRICS_PORT = 9153  # run.sh's METRICS_PORT
DNSDIST = shutil.which("dnsdist") or "/usr/bin/dnsdist"

pytestmark = [pytest.mark.vigil_only,
              pytest.mark.skipif(not labknot.available(), reason="knotd not installed"),
              pytest.mark.skipif(not os.access(DNSDIST, os.X_OK),
                                 reason="dnsdist not installed (apt-get install dnsdist)"),
              pytest.mark.skipif(not shutil.which("dig"), reason="dig not installed")]

ZONE = "fleet.rpz."
A_QUERIES = 'vigil_queries_by_type_total{type="A"}'
FIRST = """\
$ORIGIN fleet.rpz.
$TTL 60
@ IN SOA localhost. hostmaster.localhost. 1 3600 600 86400 60
@ IN NS localhost.
mail.basic.lab IN CNAME .
"""


class FleetVigil:
    """One of run.sh's vigils: its address, log and PID (from run.sh's pidfile)."""

    def __init__(self, fleet_dir, name, addr):
        self.name = name
        self.addr = addr
        self.port = 53
        self.dir = fleet_dir
        self.log_path = os.path.join(fleet_dir, name + ".log")
        self.kind = "vigil"
        self.checked = False

    def pid(self):
        with open(os.path.join(self.dir, self.name + ".pid")) as f:
            return int(f.read())

    def exit_status(self):
        """The status run.sh's wrapper recorded when vigil exited."""
        with open(os.path.join(self.dir, self.name + ".exit")) as f:
            return int(f.read())

    def signal(self, sig):
        os.kill(self.pid(), sig)

    # the same log readers, queries and stats line as the fixtures' vigils
    log_text = conftest.Resolver.log_text
    log_tail = conftest.Resolver.log_tail
    query = conftest.Resolver.query
    send = conftest.Resolver.send
    stats = conftest.Resolver.stats

    def metrics(self):
        """The samples of its /metrics (metrics.listen, run.sh's port): NAME
        for one without labels, NAME{LABELS} as written for the others."""
        url = "http://%s:%d/metrics" % (self.addr, METRICS_PORT)
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            m = re.match(r"^([a-z_:]+(?:\{[^}]*\})?) ([0-9.e+-]+)$", line)
            if m:
                out[m.group(1)] = float(m.group(2))
        return out

    def a_queries(self):
        """Client queries of type A it received.  dnsdist's health checks ask
        resolver.arpa. SOA (contrib/fleet/dnsdist.conf), the tests ask A
        only: this counts the tests' queries and nothing else."""
        return self.metrics()[A_QUERIES]


class Fleet:
    def __init__(self, lab, directory):
        self.lab = lab
        self.dir = directory
        prefix = "%s.202" % lab.prefix
        self.dnsdist = "%s.1" % prefix
        self.knot = "%s.2" % prefix
        self.a = FleetVigil(directory, "vigil-a", "%s.11" % prefix)
        self.b = FleetVigil(directory, "vigil-b", "%s.12" % prefix)
        include = os.path.join(os.path.dirname(directory), "lab-resolver.yaml")
        with open(include, "w") as f:
            # (two vigils on one machine: neither takes the default control socket)
            f.write("resolver:\n  root-hints: %s\n  query-localhost: yes\n"
                    "dnssec:\n  trust-anchor-file: [ \"%s\" ]\n"
                    "control:\n  socket: \"\"\n"
                    % (lab.root_hints, lab.trust_anchor))
        zone = os.path.join(os.path.dirname(directory), "first.rpz")
        with open(zone, "w") as f:
            f.write(FIRST)
        self.env = dict(os.environ, FLEET_PREFIX=prefix, FLEET_DIR=directory,
                        FLEET_VIGIL_INCLUDE=include, FLEET_ZONE_FILE=zone,
                        # the test's directories are root's (0700): the
                        # vigils stay root here (test_privs tests the drop)
                        FLEET_VIGIL_USER="",
                        VIGIL=conftest.VIGIL_BIN)

    def run(self, *args, timeout=60):
        return subprocess.run([RUN_SH] + list(args), env=self.env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def knotc(self, *args):
        r = self.run("knotc", *args, timeout=10)
        assert r.returncode == 0 and "OK" in r.stdout, "knotc %s: %s%s" % (
            " ".join(args), r.stdout, r.stderr)

    def knot_log(self):
        with open(os.path.join(self.dir, "knot", "knot.log"), errors="replace") as f:
            return f.read()

    def ask(self, qname, rdtype="A"):
        """A query through dnsdist."""
        q = dns.message.make_query(qname, rdtype, use_edns=0, payload=1232)
        return dns.query.udp(q, self.dnsdist, port=53, timeout=3.0)

    def backends(self):
        """dnsdist's view: {name: state} from its web API."""
        key = None
        with open(os.path.join(self.dir, "secrets")) as f:
            for line in f:
                if line.startswith("API_KEY="):
                    key = line.strip().split("=", 1)[1]
        req = urllib.request.Request("http://%s:8083/api/v1/servers/localhost" % self.dnsdist,
                                     headers={"X-API-Key": key})
        with urllib.request.urlopen(req, timeout=3) as r:
            data = json.load(r)
        return {s["name"]: s["state"] for s in data["servers"]}

    def wait_backends(self, want, timeout=15.0):
        """Poll dnsdist until its backends' states are WANT; the last states."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.backends()
            if got == want or time.monotonic() > deadline:
                return got
            time.sleep(0.2)

    def check_vigil(self, v):
        """The fixtures' check for a vigil run.sh stopped: exit 0, no sanitizer report."""
        if v.checked:
            return
        v.checked = True
        conftest.check_exit(v.exit_status(), v.log_text(), "%s (pid file in %s)"
                            % (v.name, self.dir))


def wait_text(read, pattern, count=1, timeout=10.0):
    """Poll READ() until PATTERN occurs COUNT times; the matches."""
    rx = re.compile(pattern, re.M)
    deadline = time.monotonic() + timeout
    while True:
        found = rx.findall(read())
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def policy_serial(r):
    """The serial of the policy zone's SOA in a rewritten answer."""
    soas = [rs for rs in r.additional if rs.rdtype == dns.rdatatype.SOA]
    assert soas and soas[0].name.to_text() == ZONE, show(r)
    return soas[0][0].serial


def assert_fleet_blocked(r, qname, serial):
    assert_blocked(r, "NXDOMAIN", "fleet", BLOCKED, qname.rstrip("."), soa=ZONE)
    assert policy_serial(r) == serial, show(r)


def wait_blocked(ask, qname, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        r = ask(qname)
        if r.rcode() == dns.rcode.NXDOMAIN or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


def wait_serial(ask, qname, serial, timeout=5.0):
    """Ask until QNAME is blocked with the policy zone's SERIAL; the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        r = ask(qname)
        soas = [rs for rs in r.additional if rs.rdtype == dns.rdatatype.SOA]
        if (soas and soas[0][0].serial == serial) or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


def direct(v):
    return lambda qname: v.query(qname, "A", timeout=3.0)


@pytest.fixture(scope="module")
def fleet(lab, tmp_path_factory):
    d = str(tmp_path_factory.mktemp("fleet"))
    f = Fleet(lab, os.path.join(d, "run"))
    r = f.run("start")
    try:
        if r.returncode != 0:
            pytest.fail("contrib/fleet/run.sh start failed:\n%s%s" % (r.stdout, r.stderr),
                        pytrace=False)
        yield f
    finally:
        stop = f.run("stop")
        problems = []
        for v in (f.a, f.b):
            if os.path.exists(os.path.join(f.dir, v.name + ".exit")):
                try:
                    f.check_vigil(v)
                except AssertionError as e:
                    problems.append(str(e))
        assert stop.returncode == 0 or problems, "run.sh stop: %s%s" % (stop.stdout, stop.stderr)
        assert not problems, "\n\n".join(problems)


def test_resolves_and_blocks_through_dnsdist(fleet):
    a, b = fleet.a, fleet.b
    for v in (a, b):
        assert wait_log(v, r"feed fleet: AXFR of fleet\.rpz\. from %s@53: serial none -> 1"
                        % re.escape(fleet.knot)), v.log_tail()
    assert fleet.wait_backends({"vigil-a": "up", "vigil-b": "up"}) == \
        {"vigil-a": "up", "vigil-b": "up"}
    before = {v.name: v.metrics() for v in (a, b)}
    sent = []  # every A query the test sends, through dnsdist or directly

    def counted(ask):
        def f(qname):
            sent.append(qname)
            return ask(qname)
        return f

    # through dnsdist: a name resolves, the blocked one is blocked (serial 1)
    for _ in range(5):
        assert_resolves(counted(fleet.ask)("www.basic.lab."), "www.basic.lab.", "A",
                        ["192.0.2.10"])
        assert_fleet_blocked(wait_blocked(counted(fleet.ask), "mail.basic.lab."),
                             "mail.basic.lab.", 1)
    # each vigil, asked directly, enforces the same version
    for v in (a, b):
        assert_fleet_blocked(wait_blocked(counted(direct(v)), "mail.basic.lab."),
                             "mail.basic.lab.", 1)
        assert_resolves(counted(direct(v))("pipe1.basic.lab."), "pipe1.basic.lab.", "A",
                        ["192.0.2.41"])
    # the metrics of both: every A query sent (the ten through dnsdist
    # included) reached one of them -- dnsdist's health checks are SOA queries,
    # not counted here -- and each rewrote its direct one
    after = {v.name: v.metrics() for v in (a, b)}
    rw = "vigil_policy_rewrites_total"
    got = sum(after[n][A_QUERIES] - before[n][A_QUERIES] for n in after)
    assert got >= len(sent), (len(sent), before, after)
    for n in after:
        assert after[n][rw] > before[n][rw], (n, before[n][rw], after[n][rw])


def test_change_on_primary_reaches_both(fleet):
    a, b = fleet.a, fleet.b
    start = {v.name: len(v.log_text()) for v in (a, b)}
    # one transaction on the primary: Knot raises the serial (serial-policy
    # increment), journals the difference and NOTIFYs both vigils
    fleet.knotc("zone-begin", ZONE)
    fleet.knotc("zone-set", ZONE, "pipe1.basic.lab." + ZONE, "60", "CNAME", ".")
    fleet.knotc("zone-commit", ZONE)
    for v in (a, b):
        assert wait_log(v, r"feed fleet: NOTIFY for fleet\.rpz\.", start=start[v.name]), \
            v.log_tail()
        line = wait_log(v, r"feed fleet: IXFR of fleet\.rpz\. from %s@53: serial 1 -> 2, "
                        r"\d+ records \(1 added, 0 deleted\)" % re.escape(fleet.knot),
                        start=start[v.name])
        assert line, "%s did not IXFR serial 2; its log:\n%s\nknot:\n%s" % (
            v.name, v.log_tail(), fleet.knot_log()[-3000:])
    # Knot's side: two IXFRs out, 1 -> 2 (one per vigil), no AXFR of serial 2
    ixfrs = wait_text(fleet.knot_log, r"IXFR, outgoing, remote .*, started, serial 1 -> 2$", 2)
    assert len(ixfrs) == 2, fleet.knot_log()[-3000:]
    assert not re.search(r"AXFR, outgoing.*serial 2", fleet.knot_log())
    # both enforce serial 2: directly ...
    for v in (a, b):
        assert_fleet_blocked(wait_blocked(direct(v), "pipe1.basic.lab."), "pipe1.basic.lab.", 2)
        assert_fleet_blocked(v.query("mail.basic.lab."), "mail.basic.lab.", 2)
    # ... and through dnsdist, whichever of them answers
    for _ in range(6):
        assert_fleet_blocked(fleet.ask("pipe1.basic.lab."), "pipe1.basic.lab.", 2)
        assert_fleet_blocked(fleet.ask("mail.basic.lab."), "mail.basic.lab.", 2)


def test_changes_in_a_row_end_at_the_last_serial(fleet):
    """Three commits back to back: NOTIFYs arrive while a transfer is in
    progress; both vigils still end at the last serial (5), not in between."""
    a, b = fleet.a, fleet.b
    start = {v.name: len(v.log_text()) for v in (a, b)}
    for name in ("pipe2", "pipe3", "pipe4"):
        fleet.knotc("zone-begin", ZONE)
        fleet.knotc("zone-set", ZONE, "%s.basic.lab.%s" % (name, ZONE), "60", "CNAME", ".")
        fleet.knotc("zone-commit", ZONE)
    for v in (a, b):
        line = wait_log(v, r"feed fleet: [AI]XFR of fleet\.rpz\. from .*: serial \d+ -> 5",
                        start=start[v.name])
        assert line, "%s did not reach serial 5; its log:\n%s" % (v.name, v.log_tail())
        # the policy is rebuilt from the new copy after the transfer's log line
        r = wait_serial(direct(v), "pipe4.basic.lab.", 5)
        assert_fleet_blocked(r, "pipe4.basic.lab.", 5)
        for name in ("pipe2", "pipe3"):
            qname = "%s.basic.lab." % name
            assert_fleet_blocked(v.query(qname), qname, 5)
    for _ in range(4):
        assert_fleet_blocked(fleet.ask("pipe4.basic.lab."), "pipe4.basic.lab.", 5)


def test_one_down_dnsdist_answers_from_the_other(fleet):
    a, b = fleet.a, fleet.b
    pid = a.pid()
    r = fleet.run("stop", "vigil-a")  # SIGTERM to that PID, then its exit status
    assert r.returncode == 0, r.stdout + r.stderr
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    fleet.check_vigil(a)
    # dnsdist notices by its health checks (2 missed)
    states = fleet.wait_backends({"vigil-a": "down", "vigil-b": "up"})
    assert states == {"vigil-a": "down", "vigil-b": "up"}, states
    before, before_a = b.stats(), b.a_queries()
    for _ in range(5):
        assert_resolves(fleet.ask("www.basic.lab."), "www.basic.lab.", "A", ["192.0.2.10"])
        assert_fleet_blocked(fleet.ask("pipe1.basic.lab."), "pipe1.basic.lab.", 5)
    after, after_a = b.stats(), b.a_queries()
    # the ten A queries reached vigil-b (dnsdist's SOA health checks not counted)
    assert after_a - before_a >= 10, (before_a, after_a)
    assert after["policy_rewrites"] - before["policy_rewrites"] >= 5, (before, after)
    os.kill(b.pid(), 0)  # vigil-b still runs
