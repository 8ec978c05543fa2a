"""vigilctl upstreams (issue 12, part 1): the workers' infra tables, merged.

A lab of the test's own (tests/lab/minilab.py): a root and two zones, each
on its own server; vigil runs two workers.  After resolving names, both
servers appear in `vigilctl upstreams` (text and --json) with a measured
round trip and answers; after the server of one zone is stopped and a
silent one (tests/lab/blackhole.py) takes its address, names in that zone
make that server show timeouts (and be failing or down) while the other
stays usable.  (A stopped server alone would refuse, counted as errors.)  Nothing asserts a timing: only that an RTT was
measured, and counts.
"""
import json
import os
import subprocess
import sys
import time

import pytest

import conftest
from ownlab import OwnRoot, ask, mini_lab

pytestmark = pytest.mark.vigil_only

BLACKHOLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab",
                         "blackhole.py")
VIGILCTL = os.path.join(os.path.dirname(conftest.VIGIL_BIN), "vigilctl")

SERVERS = [
    ("u-root", "224.1", "nsd", ["."]),
    ("u-one", "224.2", "nsd", ["one."]),
    ("u-two", "224.3", "nsd", ["two."]),
]


def zones(m):
    z = {".": ("$ORIGIN .\n$TTL 3600\n"
               ". IN SOA a.root. hostmaster.root. 1 3600 600 86400 300\n"
               ". IN NS a.root.\n"
               "a.root. IN A %s\n"
               "one. IN NS ns.one.\n"
               "ns.one. IN A %s\n"
               "two. IN NS ns.two.\n"
               "ns.two. IN A %s\n" % (m.addr("u-root"), m.addr("u-one"),
                                      m.addr("u-two")))}
    for zone, srv in (("one.", "u-one"), ("two.", "u-two")):
        z[zone] = ("$ORIGIN %s\n$TTL 3600\n"
                   "@ IN SOA ns hostmaster 1 3600 600 86400 300\n"
                   "@ IN NS ns\nns IN A %s\n"
                   "*.w 1 IN A 192.0.2.1\n" % (zone, m.addr(srv)))
    return z


@pytest.fixture
def mini(tmp_path, lab):
    with mini_lab(tmp_path, "ups", lab.prefix, servers=SERVERS, zones=zones,
                  hints_server="u-root") as m:
        yield m


class TwoWorkers(OwnRoot):
    def write_config(self):
        super().write_config()
        with open(self.config_path) as f:
            text = f.read()
        with open(self.config_path, "w") as f:
            f.write(text.replace("  workers: 1\n", "  workers: 2\n", 1))


def ctl(sock, *args, json_out=False):
    cmd = [VIGILCTL, "-s", sock] + (["--json"] if json_out else []) + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    return json.loads(p.stdout) if json_out else p.stdout


def servers_by_addr(sock):
    up = ctl(sock, "upstreams", json_out=True)
    assert up["workers"] == 2 and up["workers_replied"] == 2 and up["workers_missing"] == []
    return up, {s["address"]: s for s in up["servers"]}


def test_upstreams_rtt_and_timeouts(tmp_path, mini):
    sock = os.path.join(str(tmp_path), "ctl.sock")
    v = TwoWorkers(str(tmp_path), mini, False, "control:\n  socket: \"%s\"\n" % sock)
    v.start()
    try:
        run(v, mini, sock)
    finally:
        assert v.stop(), v.log_tail()


def run(v, mini, sock):
    if True:
        for i in range(8):  # both workers (SO_REUSEPORT spreads the source ports)
            assert ask(v, "a%d.w.one." % i).answer
            assert ask(v, "a%d.w.two." % i).answer
        up, by = servers_by_addr(sock)
        one, two, root = mini.addr("u-one"), mini.addr("u-two"), mini.addr("u-root")
        for a in (one, two, root):
            assert a in by, (a, up)
            s = by[a]
            assert s["port"] == mini.port, s
            assert s["srtt_ms"] > 0 and s["srtt_mean_ms"] >= s["srtt_ms"], s
            assert s["answers"] >= 1 and s["timeouts"] == 0, s
            assert s["state"] == "usable" and s["timeout_ms"] > 0, s
        # the answers of the workers add up to what the zone's server answered
        assert by[one]["answers"] >= 8
        text = ctl(sock, "upstreams")
        assert "merged over 2 of 2 workers" in text
        assert ("%s@%d: rtt " % (one, by[one]["port"])) in text and "usable" in text

        # the zone's server stops, and a silent one takes its address: the
        # queries to it time out (a closed port would be refused: errors)
        mini.stop(names=["u-two"])
        d = os.path.join(os.path.dirname(sock), "hole")
        os.makedirs(d, exist_ok=True)
        hole = subprocess.Popen([sys.executable, BLACKHOLE, two, str(by[two]["port"]),
                                 os.path.join(d, "pid"), os.path.join(d, "count"), "120"])
        try:
            deadline = time.monotonic() + 10
            while not os.path.exists(os.path.join(d, "pid")):
                assert time.monotonic() < deadline and hole.poll() is None, "no blackhole"
                time.sleep(0.05)
            deadline = time.monotonic() + 30
            i = 0
            while True:
                ask(v, "b%d.w.two." % i)  # SERVFAIL in the end: no server answers
                i += 1
                _, by = servers_by_addr(sock)
                if by[two]["timeouts"] >= 1 and by[two]["state"] != "usable":
                    break
                assert time.monotonic() < deadline, json.dumps(by[two])
        finally:
            hole.terminate()
            hole.wait(10)
        assert by[two]["failures_in_row"] >= 1 and by[two]["answers"] >= 8
        assert by[one]["state"] == "usable" and by[one]["timeouts"] == 0
        text = ctl(sock, "upstreams")
        line = [ln for ln in text.splitlines() if ln.startswith(two + "@")][0]
        assert " timeouts" in line and ("failing" in line or "DOWN" in line), line
