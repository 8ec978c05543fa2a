"""vigilctl feeds against a real transfer (issue 12, part 1).

A Knot DNS primary (tests/lab/labknot.py) on <prefix>.201.1 serves the
policy zone ctl.rpz. (serial 1, three records besides SOA and NS; SOA
refresh one hour) and NOTIFYs vigil on <prefix>.201.2 after a change.  After
vigil's AXFR at start, `vigilctl feeds` (text and --json) shows serial 1,
the record count, a last transfer time and a next refresh an hour later (no
error); after a change in Knot (serial 2, one record more), Knot's NOTIFY
makes vigil IXFR and `vigilctl feeds` shows serial 2 and the new count, a
later transfer time.  The times are checked against the wall clock the test
reads around them, never for how long anything took.

vigil only; needs knotd (apt-get install knot).
"""
import json
import os
import re
import subprocess
import time

import pytest

import labknot
from test_control import VIGILCTL
from helpers import wait_log
from test_feed import FeedVigil, zone

pytestmark = [pytest.mark.vigil_only,
              pytest.mark.skipif(not labknot.available(), reason="knotd not installed")]

RULES_1 = ["mail.basic.lab IN CNAME .", "v4only.basic.lab IN CNAME .",
           "pipe1.basic.lab IN CNAME ."]
RULES_2 = RULES_1 + ["pipe2.basic.lab IN CNAME ."]


class CtlFeedVigil(FeedVigil):
    def __init__(self, workdir, lab, addr, knot_addr, feed_dir):
        super().__init__(workdir, lab, addr, knot_addr, feed_dir)
        self.ctl_socket = os.path.join(str(workdir), "ctl.sock")

    def text(self, extra=None):
        return (super().text(extra).split("policy:\n")[0] + f"""\
control:
  socket: "{self.ctl_socket}"
policy:
  feed-directory: "{self.feed_dir}"
  sources:
    - name: ctlfeed
      type: rpz
      primary: "{self.knot_addr}"
      zone: ctl.rpz
  groups:
    - name: everyone
      clients: [ "127.0.0.0/8" ]
      sources: [ ctlfeed ]
""")


def feeds(v, json_out):
    p = subprocess.run([VIGILCTL, "-s", v.ctl_socket] + (["--json"] if json_out else [])
                       + ["feeds"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, (p.stdout, p.stderr)
    return json.loads(p.stdout) if json_out else p.stdout


def wait_serial(v, serial, limit=15.0):
    deadline = time.monotonic() + limit
    while True:
        (f,) = feeds(v, True)
        if f["serial"] == serial and not f["refreshing"]:
            return f
        assert time.monotonic() < deadline, (f, v.log_tail())
        time.sleep(0.1)


@pytest.fixture
def env(lab, tmp_path):
    knot_addr, vigil_addr = "%s.201.1" % lab.prefix, "%s.201.2" % lab.prefix
    v = CtlFeedVigil(os.path.join(str(tmp_path), "vigil"), lab, vigil_addr, knot_addr,
                     os.path.join(str(tmp_path), "feeds"))
    os.makedirs(v.dir)
    k = labknot.Knot(os.path.join(str(tmp_path), "knot"), knot_addr)
    k.add_zone("ctl.rpz.", zone("ctl.rpz.", 1, RULES_1),
               notify=["%s@%d" % (vigil_addr, v.port)])
    try:
        k.start()
        v.start()
    except (labknot.KnotError, RuntimeError) as err:
        k.stop()
        v.stop(check=False)
        pytest.fail(str(err), pytrace=False)
    yield v, k
    try:
        v.stop()
    finally:
        k.stop()


def test_feeds_after_axfr_and_ixfr(env):
    v, k = env
    t0 = int(time.time())
    assert wait_log(v, r"feed ctlfeed: AXFR of ctl\.rpz\. from .*: serial none -> 1",
                    timeout=15), v.log_tail()
    f = wait_serial(v, 1)
    t1 = int(time.time())
    assert f["name"] == "ctlfeed" and f["zone"] == "ctl.rpz."
    # SOA + NS + the rules (what vigil counts: every record of the zone)
    assert f["records"] == 2 + len(RULES_1), f
    assert t0 - 1 <= f["last_transfer"] <= t1 + 1, (t0, f, t1)
    # last_attempt is when the refresh started (feed.h), last_transfer when it
    # ended: no later attempt yet (SOA refresh 3600), so the one that gave
    # this copy began at or before its end -- the same second or an earlier
    # one (">=" failed whenever the AXFR crossed a second)
    assert 0 < f["last_attempt"] <= f["last_transfer"], f
    # SOA refresh 3600: the next refresh about an hour after the transfer
    assert f["last_transfer"] + 3000 <= f["next_refresh"] <= f["last_transfer"] + 3700, f
    assert f["last_error"] == "", f
    text = feeds(v, False)
    assert "ctlfeed (zone ctl.rpz.):" in text
    assert "serial: 1, %d records" % (2 + len(RULES_1)) in text, text
    assert re.search(r"last good refresh: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text), text
    assert re.search(r"next refresh: \d{4}-", text) and "last error: none" in text, text

    start = len(v.log_text())
    k.set_zone("ctl.rpz.", zone("ctl.rpz.", 2, RULES_2))
    k.reload("ctl.rpz.")
    assert wait_log(v, r"feed ctlfeed: IXFR of ctl\.rpz\. from .*: serial 1 -> 2",
                    timeout=15, start=start), (v.log_tail(), k.log_tail())
    g = wait_serial(v, 2)
    assert g["records"] == 2 + len(RULES_2), g
    assert g["last_transfer"] >= f["last_transfer"] and g["last_error"] == "", g
    assert "serial: 2, %d records" % (2 + len(RULES_2)) in feeds(v, False)
