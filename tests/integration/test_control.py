"""The control socket and vigilctl (issue 12, part 1), end to end.

One vigil of the lab (test_policy.PolicyVigil: a blocklist for the group
"lan" = 127.0.0.1, none for 127.0.0.2) with `control.socket` in the test's
directory; vigilctl (this build's, next to VIGIL_BIN) runs against it:

* status / stats, as text and as JSON;
* flush: a flushed name goes upstream again, counted at the lab's
  authoritative server; a name not flushed does not; --subtree and
  --negative remove what they say and nothing else;
* cache NAME TYPE: TTL, rank, validation status of a cached answer, an
  NXDOMAIN entry;
* explain against the live policy (the rule, and the pause);
* pause / resume: a blocked name resolves during the pause (for that group
  only), is blocked again after resume and after a pause runs out;
* reload: a changed config takes effect; a broken one is reported with
  FILE:LINE, exit status 1, and the old config stays;
* feeds (a primary that refuses: the last error) and trust-anchors (RFC 5011
  key states);
* access: a client that is neither root nor the socket's owner or group is
  refused by vigil (SO_PEERCRED; socket mode 0666 so that it can connect),
  and by the file mode (0660 default).

vigil only.
"""
import json
import os
import re
import subprocess
import tempfile
import time

import dns.rcode
import pytest

import conftest
from helpers import Upstream, expect_log
from test_daemon import Custom
from test_policy import C1, C2, PolicyVigil, ask, group, policy, source, write

pytestmark = pytest.mark.vigil_only

VIGILCTL = os.path.join(os.path.dirname(conftest.VIGIL_BIN), "vigilctl")
BLOCKED_NAME = "mail.basic.lab."


def ctl(v, *args, json_out=False, user=None, check=None):
    """Run vigilctl against V; (status, stdout, stderr)."""
    cmd = [VIGILCTL, "-s", v.ctl_socket] + (["--json"] if json_out else []) + list(args)
    if user:
        cmd = ["setpriv", "--reuid=%s" % user, "--regid=nogroup", "--clear-groups"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check is not None:
        assert p.returncode == check, "vigilctl %s: status %d\nstdout: %s\nstderr: %s" % (
            " ".join(args), p.returncode, p.stdout, p.stderr)
    return p.returncode, p.stdout, p.stderr


def ctl_json(v, *args):
    return json.loads(ctl(v, *args, json_out=True, check=0)[1])


def blocked(v, name, src=C1):
    r = ask(v, name, src=src)
    return r.rcode() == dns.rcode.NXDOMAIN and not r.answer


def resolves(v, name, src=C1):
    r = ask(v, name, src=src)
    return r.rcode() == dns.rcode.NOERROR and bool(r.answer)


class CtlVigil(PolicyVigil):
    def __init__(self, workdir, lab, policy_text, control):
        super().__init__(workdir, lab, policy_text)
        self.control = control
        self.ctl_socket = os.path.join(str(workdir), "ctl", "control.sock")

    def text(self, extra=None):
        return super().text(extra) + ("control:\n  socket: \"%s\"\n%s"
                                      % (self.ctl_socket, self.control))


def blocklist_policy(d):
    path = write(d, "block.txt", BLOCKED_NAME.rstrip(".") + "\n")
    return policy([source("blocks", "domains", path)],
                  [group("lan", [C1 + "/32"], ["blocks"]),
                   group("other", [C2 + "/32"], [])])


@pytest.fixture(scope="module")
def v(lab, tmp_path_factory):
    d = tmp_path_factory.mktemp("control")
    vig = CtlVigil(d, lab, blocklist_policy(d), "")
    try:
        vig.start()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    yield vig
    vig.stop()


def test_vigilctl_is_built():
    assert os.access(VIGILCTL, os.X_OK), "no vigilctl next to %s" % conftest.VIGIL_BIN
    out = subprocess.run([VIGILCTL, "--help"], capture_output=True, text=True).stdout
    for cmd in ("status", "stats", "reload", "flush", "cache", "explain", "pause", "resume",
                "feeds", "upstreams", "trust-anchors"):
        assert re.search(r"^    %s\b" % cmd, out, re.M), "--help does not describe " + cmd


def test_status_and_stats(v):
    assert resolves(v, "www.basic.lab.")
    _, out, _ = ctl(v, "status", check=0)
    assert "vigil %s" % conftest.VIGIL_VERSION in out, out
    assert "workers: 1" in out and v.config_path in out
    assert "group lan: policy applies" in out
    st = ctl_json(v, "status")
    assert st["workers"] == 1 and st["config_file"] == v.config_path
    assert st["policy"]["sources"] == 1
    assert [g["name"] for g in st["policy"]["groups"]] == ["lan", "other"]
    stats = ctl_json(v, "stats")
    assert stats["queries"] >= 1 and "cache_hits" in stats
    _, out, _ = ctl(v, "stats", check=0)
    assert re.search(r"^queries: \d+$", out, re.M)


def test_help_lists_every_command(v):
    rc, out, _ = ctl(v, "help", check=0)
    text = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert {"status", "stats", "flush", "upstreams", "help"} <= set(text), out
    got = ctl_json(v, "help")  # one JSON value, as every command gives with --json
    assert [c["name"] for c in got["commands"]] == text, (got, text)


def test_unknown_command_and_bad_arguments(v):
    rc, out, err = ctl(v, "frobnicate")
    assert rc == 1 and "unknown command 'frobnicate'" in err
    rc, out, err = ctl(v, "cache", "not..a..name")
    assert rc == 1 and "not a domain name" in err
    rc, out, err = ctl(v, "pause", "lan", "forever")
    assert rc == 1 and "usage: pause GROUP DURATION" in err
    rc, out, err = ctl(v, "--json", "frobnicate")  # after the command: an argument
    assert rc == 1
    rc, _, err = ctl(v, "frobnicate", json_out=True)
    assert rc == 1 and json.loads(err)["error"].startswith("unknown command")


def asked(up, v, name, rdtype="A"):
    """Ask NAME; (the answer, how many queries the lab's servers got since
    UP's last reading, counted by them once quiet)."""
    r = ask(v, name, rdtype)
    return r, sum(up.delta().values())


def test_flush_one_name_goes_upstream_again(v, lab):
    ask(v, "www.basic.lab.")
    ask(v, "mail2.basic.lab.")
    up = Upstream(lab)
    r, n = asked(up, v, "www.basic.lab.")
    assert r.answer and n == 0, "a cached name went upstream"
    _, out, _ = ctl(v, "flush", "www.basic.lab", check=0)
    assert re.search(r"flushed entries at www\.basic\.lab\.: [1-9]\d* removed", out)
    r, n = asked(up, v, "www.basic.lab.")
    assert r.answer and n >= 1, "the flushed name was not asked upstream again"
    r, n = asked(up, v, "mail2.basic.lab.", "A")
    assert r.answer and n == 0, "a name not flushed went upstream"


def test_flush_subtree_and_everything(v, lab):
    for name in ("www.basic.lab.", "txt.basic.lab.", "www.test."):
        ask(v, name)
    up = Upstream(lab)
    res = ctl_json(v, "flush", "--subtree", "basic.lab")
    assert res["subtree"] and res["removed"] >= 2
    r, n = asked(up, v, "txt.basic.lab.", "A")
    assert n >= 1
    r, n = asked(up, v, "www.test.")
    assert r.answer and n == 0, "a name outside the subtree was flushed"
    ctl(v, "flush", check=0)
    r, n = asked(up, v, "www.test.")
    assert r.answer and n >= 1, "flush of everything left www.test. in the cache"


def test_flush_negative_only(v, lab):
    ask(v, "www.basic.lab.")
    r = ask(v, "nothere.basic.lab.")
    assert r.rcode() == dns.rcode.NXDOMAIN
    up = Upstream(lab)
    info = ctl_json(v, "cache", "nothere.basic.lab", "A")
    assert [e["kind"] for e in info["entries"]] == ["nxdomain"]
    res = ctl_json(v, "flush", "--negative")
    assert res["negative_only"] and res["removed"] >= 1
    assert ctl_json(v, "cache", "nothere.basic.lab", "A")["entries"] == []
    r, n = asked(up, v, "nothere.basic.lab.")
    assert r.rcode() == dns.rcode.NXDOMAIN and n >= 1
    r, n = asked(up, v, "www.basic.lab.")
    assert r.answer and n == 0, "--negative removed a positive entry"


def test_cache_lookup(v):
    r = ask(v, "www.basic.lab.", "AAAA")
    assert r.answer
    ttl = r.answer[0].ttl
    info = ctl_json(v, "cache", "WWW.basic.lab", "AAAA")
    assert info["name"] == "www.basic.lab." and info["type"] == "AAAA"
    (e,) = info["entries"]
    assert e["kind"] == "data" and e["records"] == 1
    assert 0 < e["ttl"] <= ttl and e["ttl_stored"] >= e["ttl"]
    assert e["rank"] == "authoritative"
    assert e["validation"] in ("insecure", "unchecked")
    _, out, _ = ctl(v, "cache", "www.basic.lab", "AAAA", check=0)
    assert "TTL:" in out and "rank: authoritative" in out and "validation:" in out
    _, out, _ = ctl(v, "cache", "absent.basic.lab", "TXT", check=0)
    assert "not in the cache" in out


def test_explain_live_policy(v):
    _, out, _ = ctl(v, "explain", BLOCKED_NAME, "--client", C1, check=0)
    assert "group lan" in out and "decided by source 'blocks'" in out
    _, out, _ = ctl(v, "explain", BLOCKED_NAME, "--client", C2, check=0)
    assert "group other" in out and "no rule matches" in out
    rc, _, err = ctl(v, "explain", BLOCKED_NAME, "-c", "/etc/passwd")
    assert rc == 1 and "live policy" in err


def test_pause_and_resume(v):
    assert blocked(v, BLOCKED_NAME)
    _, out, _ = ctl(v, "pause", "lan", "5", check=0)
    assert "group lan: policy paused for 300 s" in out
    expect_log(v, r"control: policy PAUSED for client group 'lan' for 300 s")
    assert resolves(v, BLOCKED_NAME), "a paused group's name is still blocked"
    st = ctl_json(v, "status")
    lan = [g for g in st["policy"]["groups"] if g["name"] == "lan"][0]
    assert lan["paused"] and 0 < lan["paused_remaining_s"] <= 300
    _, out, _ = ctl(v, "explain", BLOCKED_NAME, "--client", C1, check=0)
    assert "PAUSED" in out
    ctl(v, "resume", "lan", check=0)
    expect_log(v, r"control: policy RESUMED for client group 'lan'")
    assert blocked(v, BLOCKED_NAME), "blocked again after resume"
    rc, _, err = ctl(v, "resume", "lan")
    assert rc == 1 and "not paused" in err
    rc, _, err = ctl(v, "pause", "nosuchgroup", "5")
    assert rc == 1 and "no client group 'nosuchgroup'" in err


def test_pause_runs_out(v):
    """A short pause resolves the name while it lasts and blocks it again once
    it ran out.  On a slow build the pause may run out before the name is
    asked: an answer blocked later than the pause's length after the command
    was sent proves nothing, and a longer pause is tried."""
    ended = r"control: the pause of client group 'lan' ended"
    for seconds in (2, 4, 8, 16):
        start = len(v.log_text())
        sent = time.monotonic()
        ctl(v, "pause", "lan", "%ds" % seconds, check=0)
        during = resolves(v, BLOCKED_NAME)
        if during:
            break
        assert time.monotonic() - sent >= seconds, (
            "blocked while its group's pause (%d s, sent %.1f s before) was in force"
            % (seconds, time.monotonic() - sent))
        expect_log(v, ended, start=start)  # that pause is over: the next one starts clean
    assert during, "every pause ran out before the name was asked"
    expect_log(v, ended, start=start)
    assert blocked(v, BLOCKED_NAME), "blocked again when the pause ran out"


def test_reload_takes_effect_and_broken_config_is_reported(v):
    gen = ctl_json(v, "status")["generation"]
    assert not blocked(v, "mail2.basic.lab.")
    # a changed blocklist in a changed config: the new rule applies
    d = os.path.dirname(v.config_path)
    path2 = write(d, "block2.txt", "mail2.basic.lab\n")
    good = v.text()
    v.policy = policy([source("blocks", "domains", os.path.join(d, "block.txt")),
                       source("more", "domains", path2)],
                      [group("lan", [C1 + "/32"], ["blocks", "more"]),
                       group("other", [C2 + "/32"], [])])
    v.write_config()
    _, out, _ = ctl(v, "reload", check=0)
    assert "reloaded %s" % v.config_path in out
    assert blocked(v, "mail2.basic.lab."), "the reloaded config's rule does not apply"
    gen2 = ctl_json(v, "status")["generation"]
    assert gen2 > gen
    # a broken file: reported with FILE:LINE, the running config stays
    with open(v.config_path, "a") as f:
        f.write("cache:\n  max-ttl: banana\n")
    rc, out, err = ctl(v, "reload")
    assert rc == 1, out
    assert "reload failed" in err and re.search(re.escape(v.config_path) + r":\d+:.*max-ttl",
                                                err), err
    assert blocked(v, "mail2.basic.lab.") and ctl_json(v, "status")["generation"] == gen2
    with open(v.config_path, "w") as f:
        f.write(good)  # the first config again, for the tests after this one
    v.policy = blocklist_policy(d)
    v.write_config()
    ctl(v, "reload", check=0)
    assert not blocked(v, "mail2.basic.lab.")


def open_dir_vigil(lab, tmp_path_factory, control):
    """A CtlVigil whose socket's directories others may search (/tmp/vigil-ctl-*,
    0755), so that only the socket file's mode and vigil's check decide."""
    d = tempfile.mkdtemp(prefix="vigil-ctl-", dir="/tmp")
    os.chmod(d, 0o755)
    vig = CtlVigil(d, lab, blocklist_policy(str(tmp_path_factory.mktemp("p"))), control)
    os.makedirs(os.path.dirname(vig.ctl_socket), mode=0o755, exist_ok=True)
    return d, vig


def test_refused_without_permission(lab, tmp_path_factory):
    """A client that is neither root nor the owner or group of the socket: the
    socket's mode (0666) lets it connect, vigil's SO_PEERCRED check refuses."""
    d, vig = open_dir_vigil(lab, tmp_path_factory, "  mode: \"0666\"\n")
    try:
        vig.start()
        try:
            assert oct(os.stat(vig.ctl_socket).st_mode & 0o777) == "0o666"
            rc, out, err = ctl(vig, "status", user="nobody")
            assert rc == 1, (out, err)
            assert "permission denied: uid 65534" in err and "vigil" not in out
            expect_log(vig, r"control: refused uid 65534")
            rc, out, err = ctl(vig, "flush", user="nobody")
            assert rc == 1 and "flushed" not in out and "flushed" not in vig.log_text()
            ctl(vig, "status", check=0)  # root still may
        finally:
            vig.stop()
    finally:
        subprocess.run(["rm", "-rf", d])


def test_default_mode_keeps_others_out(lab, tmp_path_factory):
    """The default mode 0660 (owner root, group root): others cannot connect."""
    d, vig = open_dir_vigil(lab, tmp_path_factory, "")
    try:
        vig.start()
        try:
            assert oct(os.stat(vig.ctl_socket).st_mode & 0o777) == "0o660"
            rc, out, err = ctl(vig, "status", user="nobody")
            assert rc == 2 and "permission denied" in err and not out
        finally:
            vig.stop()
    finally:
        subprocess.run(["rm", "-rf", d])


def test_feeds_and_trust_anchors(lab, tmp_path):
    d = str(tmp_path)
    # a feed whose primary refuses connections (a port nobody listens on)
    port = conftest.free_port()
    pol = ("policy:\n  feed-directory: \"%s\"\n  sources:\n"
           "    - name: remote\n      type: rpz\n      file: \"%s/remote.rpz\"\n"
           "      zone: remote.rpz\n      primary: [ \"127.0.0.1@%d\" ]\n"
           "  groups:\n    - name: lan\n      clients: [ \"127.0.0.1/32\" ]\n"
           "      sources: [ remote ]\n" % (d, d, port))
    state = os.path.join(d, "autotrust.state")
    vig = CtlVigil(d, lab, pol, "")
    base_text = vig.text

    def text(extra=None):
        t = base_text(extra)
        return t.replace('  trust-anchor-file: [ "%s" ]\n' % lab.trust_anchor,
                         '  trust-anchor-file: [ "%s" ]\n  auto-trust-anchor-file: "%s"\n'
                         % (lab.trust_anchor, state))
    vig.text = text
    vig.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            (f,) = ctl_json(vig, "feeds")
            if f["last_error"]:
                break
            time.sleep(0.2)
        assert f["name"] == "remote" and f["zone"] == "remote.rpz."
        assert f["serial"] == -1 and f["last_transfer"] == 0
        assert "127.0.0.1@%d" % port in f["last_error"], f
        assert f["refreshing"] or f["next_refresh"] > time.time() - 1
        _, out, _ = ctl(vig, "feeds", check=0)
        assert "remote (zone remote.rpz.)" in out and "last error: " in out
        ta = ctl_json(vig, "trust-anchors")
        assert ta["rfc5011"] and ta["keys"]
        assert {k["zone"] for k in ta["keys"]} == {"."}
        assert all(k["state"] in ("valid", "addpend", "pending-ds") for k in ta["keys"])
        _, out, _ = ctl(vig, "trust-anchors", check=0)
        assert re.search(r"^\. (DNSKEY|DS) key tag \d+", out, re.M)
        st = ctl_json(vig, "status")
        assert st["feeds"] == [{"name": "remote", "serial": -1}]
    finally:
        vig.stop()
