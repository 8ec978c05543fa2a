"""RPZ feeds: policy zones transferred from a primary (AXFR, IXFR, NOTIFY,
TSIG, SOA timers, the last good copy on disk).

A Knot DNS primary (tests/lab/labknot.py) on <prefix>.200.1 serves two
policy zones:

* feed.rpz. -- transfers need the TSIG key feed-key, and Knot NOTIFYs vigil
  (signed) after every change; its SOA refresh is an hour, so only a NOTIFY
  can make vigil refresh it during the test;
* timer.rpz. -- no TSIG, no NOTIFY, SOA refresh 2 s: vigil picks up its
  changes on its own.

vigil (listening on <prefix>.200.2) has both as feed sources, with its copies
in the test's feed-directory.  The tests run in order, on one Knot and one
vigil that they share:

1. at start vigil has no copy: AXFR of both zones, and the rules apply
   (NXDOMAIN with EDE 15 and the policy zone's SOA);
2. a change in Knot (one rule removed, one added, serial 2): Knot's NOTIFY
   makes vigil IXFR, and the new rule applies within seconds, the removed
   one no longer does;
3. the refresh timer without a NOTIFY (timer.rpz.);
4. NOTIFYs that must be refused: another sender, an unknown zone, unsigned,
   a wrong key (NOTAUTH); a good one is answered NOERROR, signed;
5. SIGHUP: the feeds keep running with their start-up settings (a changed
   feed definition is warned about), and the next change still arrives;
6. vigil restarted with Knot stopped, its copy older than the SOA expire
   interval: the last good copy is enforced, and the expiry is logged;
7. a vigil with a wrong TSIG secret: the transfer fails (logged as a TSIG
   failure) and the policy of its copy stays in force, the copy untouched.

vigil only; needs knotd (apt-get install knot).
"""
import os
import re
import shutil
import signal
import socket
import time

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import pytest

import conftest
import labknot
from helpers import show, wait_log
from test_daemon import Custom
from test_policy import BLOCKED, assert_blocked, assert_clean, assert_resolves

pytestmark = [pytest.mark.vigil_only,
              pytest.mark.skipif(not labknot.available(), reason="knotd not installed")]

KEY_NAME = "feed-key."
SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="  # "secret-secret-secret-secret-1234"
WRONG_SECRET = "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc0NTY="


def zone(apex, serial, rules, refresh=3600, retry=600):
    return ("$ORIGIN %s\n$TTL 60\n"
            "@ IN SOA localhost. hostmaster.localhost. %d %d %d 86400 60\n"
            "@ IN NS localhost.\n" % (apex, serial, refresh, retry)
            + "".join(r + "\n" for r in rules))


FEED_1 = ["mail.basic.lab IN CNAME .", "v4only.basic.lab IN CNAME ."]
FEED_2 = ["mail.basic.lab IN CNAME .", "pipe1.basic.lab IN CNAME ."]  # -v4only +pipe1
FEED_3 = FEED_2 + ["pipe2.basic.lab IN CNAME ."]
TIMER_1 = ["pipe3.basic.lab IN CNAME ."]
TIMER_2 = ["pipe3.basic.lab IN CNAME .", "pipe4.basic.lab IN CNAME ."]


class FeedVigil(Custom):
    """A vigil on ADDR with the two feed sources."""

    def __init__(self, workdir, lab, addr, knot_addr, feed_dir, secret=SECRET):
        super().__init__(str(workdir), lab, '  access-control: [ "127.0.0.0/8 allow" ]\n')
        self.addr = addr
        self.knot_addr = knot_addr
        self.feed_dir = feed_dir
        self.secret = secret

    def text(self, extra=None):
        base = super().text(extra).replace('"127.0.0.1@%d"' % self.port,
                                           '"%s@%d"' % (self.addr, self.port))
        return base + f"""\
policy:
  feed-directory: "{self.feed_dir}"
  tsig-keys:
    - name: {KEY_NAME}
      algorithm: hmac-sha256
      secret: "{self.secret}"
  sources:
    - name: feed
      type: rpz
      primary: "{self.knot_addr}"
      zone: feed.rpz
      tsig-key: {KEY_NAME}
    - name: timer
      type: rpz
      primary: [ "{self.knot_addr}@53" ]
      zone: timer.rpz
  groups:
    - name: everyone
      clients: [ "127.0.0.0/8" ]
      sources: [ feed, timer ]
"""


def ask(v, qname, rdtype="A"):
    q = dns.message.make_query(qname, rdtype, use_edns=0, payload=1232)
    return v.send(q, timeout=3.0)


def wait_blocked(v, qname, blocked, timeout=5.0):
    """Ask until QNAME is (not) blocked; the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        r = ask(v, qname)
        if (r.rcode() == dns.rcode.NXDOMAIN) == blocked or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


def assert_feed_blocked(r, qname, source, soa):
    assert_blocked(r, "NXDOMAIN", source, BLOCKED, qname.rstrip("."), soa=soa)


class Env:
    pass


@pytest.fixture(scope="module")
def env(lab, tmp_path_factory):
    d = tmp_path_factory.mktemp("feed")
    e = Env()
    e.dir = str(d)
    e.lab = lab
    e.knot_addr = "%s.200.1" % lab.prefix
    e.vigil_addr = "%s.200.2" % lab.prefix
    e.stranger = "%s.200.9" % lab.prefix
    e.feed_dir = os.path.join(e.dir, "feeds")
    e.vigil = FeedVigil(os.path.join(e.dir, "vigil"), lab, e.vigil_addr, e.knot_addr, e.feed_dir)
    os.makedirs(e.vigil.dir)
    e.knot = labknot.Knot(os.path.join(e.dir, "knot"), e.knot_addr)
    e.knot.add_key(KEY_NAME.rstrip("."), "hmac-sha256", SECRET)
    e.knot.add_zone("feed.rpz.", zone("feed.rpz.", 1, FEED_1), key=KEY_NAME.rstrip("."),
                    notify=["%s@%d" % (e.vigil_addr, e.vigil.port)])
    e.knot.add_zone("timer.rpz.", zone("timer.rpz.", 1, TIMER_1, refresh=2, retry=2))
    e.others = []
    try:
        e.knot.start()
        e.vigil.start()
    except (labknot.KnotError, RuntimeError) as err:
        e.knot.stop()
        e.vigil.stop(check=False)  # it did not start: the message says why
        pytest.fail(str(err), pytrace=False)
    yield e
    try:
        conftest.stop_all([e.vigil] + e.others)
    finally:
        e.knot.stop()


def test_axfr_at_start(env):
    v = env.vigil
    for name in ("feed", "timer"):
        assert wait_log(v, r"feed %s: AXFR of %s\.rpz\. from %s@53: serial none -> 1"
                        % (name, name, re.escape(env.knot_addr))), v.log_tail()
    assert wait_log(v, r"feed feed: no copy yet at .*feed\.rpz"), v.log_tail()
    r = wait_blocked(v, "mail.basic.lab.", True)
    assert_feed_blocked(r, "mail.basic.lab.", "feed", "feed.rpz.")
    assert_feed_blocked(wait_blocked(v, "v4only.basic.lab.", True), "v4only.basic.lab.", "feed",
                        "feed.rpz.")
    assert_feed_blocked(wait_blocked(v, "pipe3.basic.lab.", True), "pipe3.basic.lab.", "timer",
                        "timer.rpz.")
    # not (yet) in any zone
    assert_resolves(ask(v, "pipe1.basic.lab."), "pipe1.basic.lab.", "A", ["192.0.2.41"])
    assert_resolves(ask(v, "www.basic.lab."), "www.basic.lab.", "A", ["192.0.2.10"])
    # the copies on disk: zone files, SOA first
    with open(os.path.join(env.feed_dir, "feed.rpz")) as f:
        text = f.read()
    assert re.search(r"^feed\.rpz\.\s+60\s+IN\s+SOA\s", text.split("\n", 2)[1]), text
    assert "v4only.basic.lab.feed.rpz." in text, text


def test_notify_then_ixfr(env):
    v, k = env.vigil, env.knot
    start = len(v.log_text())
    k.set_zone("feed.rpz.", zone("feed.rpz.", 2, FEED_2))
    k.reload("feed.rpz.")
    line = wait_log(v, r"feed feed: IXFR of feed\.rpz\. from .*: serial 1 -> 2, 4 records "
                    r"\(1 added, 1 deleted\)", timeout=5.0, start=start)
    assert line, "no IXFR after Knot's NOTIFY; vigil log:\n%s\nknot log:\n%s" % (
        v.log_tail(), k.log_tail())
    assert wait_log(v, r"feed feed: NOTIFY for feed\.rpz\.", start=start, timeout=0), v.log_tail()
    # the added rule applies, the removed one no longer does
    r = wait_blocked(v, "pipe1.basic.lab.", True)
    assert_feed_blocked(r, "pipe1.basic.lab.", "feed", "feed.rpz.")
    r = wait_blocked(v, "v4only.basic.lab.", False)
    assert_resolves(r, "v4only.basic.lab.", "A", ["192.0.2.11"])
    assert_feed_blocked(ask(v, "mail.basic.lab."), "mail.basic.lab.", "feed", "feed.rpz.")
    # the SOA in rewritten answers has the new serial
    r = ask(v, "mail.basic.lab.")
    soas = [rs for rs in r.additional if rs.rdtype == dns.rdatatype.SOA]
    assert soas and soas[0][0].serial == 2, show(r)


def test_refresh_timer_without_notify(env):
    v, k = env.vigil, env.knot
    start = len(v.log_text())
    assert_resolves(ask(v, "pipe4.basic.lab."), "pipe4.basic.lab.", "A", ["192.0.2.44"])
    k.set_zone("timer.rpz.", zone("timer.rpz.", 2, TIMER_2, refresh=2, retry=2))
    k.reload("timer.rpz.")
    k.wait_serial("timer.rpz.", 2)
    # refresh is 2 s: within a few seconds, with no NOTIFY for this zone
    line = wait_log(v, r"feed timer: IXFR of timer\.rpz\. from .*: serial 1 -> 2", timeout=6.0,
                    start=start)
    assert line, v.log_tail()
    assert not wait_log(v, r"NOTIFY for timer\.rpz\.", timeout=0, start=start), v.log_tail()
    r = wait_blocked(v, "pipe4.basic.lab.", True)
    assert_feed_blocked(r, "pipe4.basic.lab.", "timer", "timer.rpz.")


def notify(env, zone_name, source, keyring=None, keyname=None):
    """Send a NOTIFY for ZONE_NAME to vigil from SOURCE; (rcode, raw reply, request)."""
    q = dns.message.make_query(zone_name, "SOA")
    q.flags = dns.flags.AA  # (the opcode lives in the flags: set it after)
    q.set_opcode(dns.opcode.NOTIFY)
    if keyring:
        q.use_tsig(keyring, keyname=keyname, algorithm=dns.tsig.HMAC_SHA256)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((source, 0))
        s.settimeout(3.0)
        s.sendto(q.to_wire(), (env.vigil_addr, env.vigil.port))
        raw, _ = s.recvfrom(65535)
    finally:
        s.close()
    return raw[3] & 0xf, raw, q


def test_notify_checks(env):
    v = env.vigil
    good = dns.tsigkeyring.from_text({KEY_NAME: SECRET})
    bad = dns.tsigkeyring.from_text({KEY_NAME: WRONG_SECRET})
    # not one of the zone's primaries: REFUSED (and logged)
    rcode, _, _ = notify(env, "feed.rpz.", env.stranger, good, KEY_NAME)
    assert rcode == dns.rcode.REFUSED
    assert wait_log(v, r"NOTIFY for feed\.rpz\. from %s refused: not one of its primaries"
                    % re.escape(env.stranger)), v.log_tail()
    # a zone that is no feed
    rcode, _, _ = notify(env, "basic.lab.", env.knot_addr, good, KEY_NAME)
    assert rcode == dns.rcode.REFUSED
    # from the primary's address, but unsigned where the feed has a key
    rcode, _, _ = notify(env, "feed.rpz.", env.knot_addr)
    assert rcode == dns.rcode.REFUSED
    # signed with another secret: NOTAUTH (RFC 8945), TSIG error BADSIG
    rcode, raw, _ = notify(env, "feed.rpz.", env.knot_addr, bad, KEY_NAME)
    assert rcode == dns.rcode.NOTAUTH
    # a good one: NOERROR, signed (dnspython checks the response's TSIG)
    start = len(v.log_text())
    rcode, raw, q = notify(env, "feed.rpz.", env.knot_addr, good, KEY_NAME)
    assert rcode == dns.rcode.NOERROR
    r = dns.message.from_wire(raw, keyring=good, request_mac=q.mac)
    assert r.had_tsig and r.opcode() == dns.opcode.NOTIFY and r.flags & dns.flags.AA, show(r)
    assert wait_log(v, r"feed feed: NOTIFY for feed\.rpz\.: refreshing", start=start), v.log_tail()
    # the timer zone has no key: an unsigned NOTIFY from its primary is fine
    rcode, _, _ = notify(env, "timer.rpz.", env.knot_addr)
    assert rcode == dns.rcode.NOERROR
    # still serving
    assert_resolves(ask(v, "www.basic.lab."), "www.basic.lab.", "A", ["192.0.2.10"])


def test_sighup_keeps_feeds(env):
    v, k = env.vigil, env.knot
    # a reload with the feeds as they were: no warning
    start = len(v.log_text())
    v.signal(signal.SIGHUP)
    assert wait_log(v, r"reloaded ", start=start), v.log_tail()
    assert not wait_log(v, r"the feeds .* changed", timeout=0.3, start=start), v.log_tail()
    # a reload that changes a feed's key: warned about; the feed keeps its key
    start = len(v.log_text())
    v.secret = WRONG_SECRET
    v.write_config()
    try:
        v.signal(signal.SIGHUP)
        assert wait_log(v, r"reload: the feeds .* changed; the running feeds keep their "
                        r"start-up settings", start=start), v.log_tail()
        k.set_zone("feed.rpz.", zone("feed.rpz.", 3, FEED_3))
        k.reload("feed.rpz.")
        assert wait_log(v, r"feed feed: IXFR of feed\.rpz\. from .*: serial 2 -> 3", start=start),\
            v.log_tail()
        assert_feed_blocked(wait_blocked(v, "pipe2.basic.lab.", True), "pipe2.basic.lab.", "feed",
                            "feed.rpz.")
    finally:
        v.secret = SECRET
        v.write_config()
        v.signal(signal.SIGHUP)


def test_restart_with_primary_down(env):
    v, k = env.vigil, env.knot
    assert v.stop(), "vigil did not stop on SIGTERM:\n" + v.log_tail()
    k.stop()
    # the copy is older than the zone's SOA expire (86400 s)
    copy = os.path.join(env.feed_dir, "feed.rpz")
    old = time.time() - 200000
    os.utime(copy, (old, old))
    start = len(v.log_text())
    try:
        v.start()
        assert wait_log(v, r"feed feed: last good copy .*feed\.rpz: zone feed\.rpz\. serial 3",
                        start=start), v.log_tail()
        line = wait_log(v, r"feed feed: IXFR of feed\.rpz\. from .* failed: cannot connect",
                        start=start)
        assert line, v.log_tail()
        assert wait_log(v, r"feed feed: zone feed\.rpz\. expired: no successful refresh for "
                        r"2000\d\d s \(SOA expire 86400 s\); still enforcing the last good copy, "
                        r"serial 3", start=start), v.log_tail()
        # the last good copy (serial 3) is enforced
        assert_feed_blocked(ask(v, "pipe1.basic.lab."), "pipe1.basic.lab.", "feed", "feed.rpz.")
        assert_feed_blocked(ask(v, "pipe2.basic.lab."), "pipe2.basic.lab.", "feed", "feed.rpz.")
        assert_feed_blocked(ask(v, "mail.basic.lab."), "mail.basic.lab.", "feed", "feed.rpz.")
        assert_feed_blocked(ask(v, "pipe4.basic.lab."), "pipe4.basic.lab.", "timer",
                            "timer.rpz.")
        assert_resolves(ask(v, "v4only.basic.lab."), "v4only.basic.lab.", "A", ["192.0.2.11"])
    finally:
        k.start()


def test_wrong_tsig_secret_keeps_the_old_policy(env):
    # another vigil, with a copy of the good feed file and the wrong secret
    d = os.path.join(env.dir, "wrong")
    feeds = os.path.join(d, "feeds")
    os.makedirs(feeds)
    shutil.copy(os.path.join(env.feed_dir, "feed.rpz"), os.path.join(feeds, "feed.rpz"))
    with open(os.path.join(feeds, "feed.rpz")) as f:
        before = f.read()
    w = FeedVigil(d, env.lab, "%s.200.3" % env.lab.prefix, env.knot_addr, feeds,
                  secret=WRONG_SECRET)
    env.others.append(w)
    w.start()
    line = wait_log(w, r"feed feed: IXFR of feed\.rpz\. from .* failed: TSIG failure: the "
                    r"primary says BADSIG")
    assert line, w.log_tail()
    assert wait_log(w, r"feed feed: no primary could be used; keeping the version in force"), (
        w.log_tail())
    # the old policy stays: the copy's rules, and the copy is untouched
    assert_feed_blocked(ask(w, "pipe1.basic.lab."), "pipe1.basic.lab.", "feed", "feed.rpz.")
    assert_feed_blocked(ask(w, "mail.basic.lab."), "mail.basic.lab.", "feed", "feed.rpz.")
    with open(os.path.join(feeds, "feed.rpz")) as f:
        assert f.read() == before
    # the timer feed (no key) transferred fine meanwhile
    assert wait_log(w, r"feed timer: AXFR of timer\.rpz\. from .*: serial none -> 2"), (
        w.log_tail())
    assert_clean(ask(w, "www.basic.lab."))
