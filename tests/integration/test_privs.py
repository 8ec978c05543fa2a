"""Least privilege and installation (issue 12 part 5).

vigil started as root with server.user set binds its sockets (here on a port
below 1024, which needs root or CAP_NET_BIND_SERVICE), then runs as that
user: its uid and gid, only that group, no capability in any set, no_new_privs
(read from /proc/PID/status).  It still answers, writes its RFC 5011 state and
its policy log into server.state-directory (relative names resolve there),
which it created and gave to the user, reloads on SIGHUP, and stops with
status 0.  Started as another user with CAP_NET_BIND_SERVICE (what systemd's
User= and AmbientCapabilities= give it: setpriv(1) does the same here), it
binds port < 1024 and then holds no capability either.  A missing user, or a
state file the user cannot write, stop the start with a message naming the
key.  With NOTIFY_SOCKET set (a datagram socket the test listens on), systemd's
READY=1, RELOADING=1 and STOPPING=1 arrive.  `meson install --destdir` puts
the binary, the unit, the policy and the example config in place, and keeps an
existing config.

The user is `nobody` (group nogroup), which Debian always has; the files it
must read (config, root hints, trust anchor) are copied into a directory it
can read.  vigil only; needs root.
"""
import os
import pwd
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import dns.rcode
import pytest

import conftest
from helpers import preload_shim
from test_daemon import Custom

pytestmark = [pytest.mark.vigil_only,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

USER = "nobody"


def status_fields(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def privileged_port():
    """A port below 1024 free on 127.0.0.1 for both UDP and TCP."""
    for port in range(700, 1000):
        ok = True
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, kind)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return port
    pytest.skip("no free port below 1024")


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def assert_every_thread_dropped(pid, pw, bounding=True):
    """Every thread of PID (capabilities, uids and no_new_privs are per thread):
    the user's uids and gids, no capability in any set, no_new_privs."""
    tids = os.listdir("/proc/%d/task" % pid)
    assert len(tids) > 1, "only one thread: the workers did not start?"
    for tid in tids:
        st = status_fields(int(tid))
        assert st["Uid"] == [str(pw.pw_uid)] * 4, (tid, st["Uid"])
        assert st["Gid"] == [str(pw.pw_gid)] * 4, (tid, st["Gid"])
        caps = ("CapEff", "CapPrm", "CapInh", "CapAmb") + (("CapBnd",) if bounding else ())
        for cap in caps:
            assert int(st[cap][0], 16) == 0, (tid, st["Name"], cap, st[cap])
        assert st["NoNewPrivs"] == ["1"], (tid, st["Name"])


@pytest.fixture
def readable_dir():
    """A directory USER can read (pytest's tmp_path is root's, mode 0700)."""
    d = tempfile.mkdtemp(prefix="vigil-privs-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Dropping(Custom):
    """A vigil on a port below 1024 that drops to server.user."""

    def __init__(self, d, lab, user=USER, extra="", prefix=None):
        super().__init__(d, lab, extra)
        self.port = privileged_port()
        self.user = user
        self.state = os.path.join(d, "state")
        self.prefix = prefix or []
        # what the user must read again on SIGHUP: copies in a readable directory
        self.hints = os.path.join(d, "root.hints")
        self.anchor = os.path.join(d, "root.ds")
        shutil.copy(lab.root_hints, self.hints)
        shutil.copy(lab.trust_anchor, self.anchor)
        for p in (self.hints, self.anchor):
            os.chmod(p, 0o644)

    def text(self, extra=None):
        t = super().text(extra)
        t = t.replace('  user: ""\n', '  user: "%s"\n  state-directory: "%s"\n'
                      % (self.user, self.state))
        t = t.replace(self.lab.root_hints, self.hints).replace(self.lab.trust_anchor,
                                                                self.anchor)
        t = t.replace("dnssec:\n", "dnssec:\n  auto-trust-anchor-file: root.autota\n")
        return t + "policy:\n  log: logs/decisions.log\n"  # a directory vigil makes

    def write_config(self):
        super().write_config()
        os.chmod(self.config_path, 0o644)

    def cmdline(self):
        return self.prefix + super().cmdline()


def test_root_drops_to_user(lab, readable_dir):
    pw = pwd.getpwnam(USER)
    v = Dropping(readable_dir, lab)
    v.start()  # answered a query that needs resolution (conftest READY_NAME)
    try:
        st = status_fields(v.proc.pid)
        assert st["Uid"] == [str(pw.pw_uid)] * 4, st["Uid"]
        assert st["Gid"] == [str(pw.pw_gid)] * 4, st["Gid"]
        assert st["Groups"] == [str(pw.pw_gid)], st["Groups"]
        for cap in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"):
            assert int(st[cap][0], 16) == 0, (cap, st[cap])
        assert st["NoNewPrivs"] == ["1"]
        assert_every_thread_dropped(v.proc.pid, pw)
        r = v.query("www.basic.lab.", "A", tcp=True)
        assert r.rcode() == dns.rcode.NOERROR and r.answer, r
        assert "running as user %s (uid %d, gid %d), without capabilities" % (
            USER, pw.pw_uid, pw.pw_gid) in v.log_text()
        # the state directory: created, the user's; the files in it too
        s = os.stat(v.state)
        assert (s.st_uid, s.st_gid) == (pw.pw_uid, pw.pw_gid)
        autota = os.path.join(v.state, "root.autota")
        assert wait_for(lambda: os.path.exists(autota)), v.log_tail()
        assert wait_for(lambda: "dnskey valid" in open(autota).read()), v.log_tail()
        plog = os.path.join(v.state, "logs", "decisions.log")
        assert wait_for(lambda: os.path.exists(plog)), v.log_tail()
        for p in (autota, plog, os.path.dirname(plog)):
            s = os.stat(p)
            assert (s.st_uid, s.st_gid) == (pw.pw_uid, pw.pw_gid), p
        # SIGHUP after the drop: the config, hints and anchors are read again
        n = v.log_text().count("reloaded ")
        with open(v.config_path, "a") as f:
            f.write("cache:\n  min-ttl: 1\n")
        v.signal(signal.SIGHUP)
        assert wait_for(lambda: v.log_text().count("reloaded ") > n), v.log_tail()
        assert "reload of %s failed" % v.config_path not in v.log_text(), v.log_tail()
        r = v.query("www.basic.lab.", "A")
        assert r.rcode() == dns.rcode.NOERROR and r.answer, r
    finally:
        v.stop()  # exit status 0, no sanitizer report
    assert "stopped" in v.log_text()


def test_user_with_bind_capability_keeps_none(lab, readable_dir):
    """systemd's User=vigil + AmbientCapabilities=CAP_NET_BIND_SERVICE, by setpriv."""
    pw = pwd.getpwnam(USER)
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.skip("setpriv (util-linux) not installed")
    prefix = [setpriv, "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid, "--clear-groups",
              "--inh-caps=-all,+net_bind_service", "--ambient-caps=-all,+net_bind_service",
              "--bounding-set=-all,+net_bind_service"]
    v = Dropping(readable_dir, lab, prefix=prefix)
    for d in (v.state, os.path.join(v.state, "logs")):
        os.makedirs(d)
        os.chown(d, pw.pw_uid, pw.pw_gid)  # systemd's StateDirectory= does this
    v.start()
    try:
        r = v.query("www.basic.lab.", "A")
        assert_every_thread_dropped(v.proc.pid, pw, bounding=False)
        assert r.rcode() == dns.rcode.NOERROR and r.answer, r
    finally:
        v.stop()


def run_once(v):
    v.write_config()
    return subprocess.run([conftest.VIGIL_BIN, "-c", v.config_path], capture_output=True,
                          text=True, timeout=20, stdin=subprocess.DEVNULL)


def test_missing_user_is_a_startup_error(lab, readable_dir):
    v = Dropping(readable_dir, lab, user="vigil-test-no-such-user")
    r = run_once(v)
    assert r.returncode == 1, r.stderr
    conftest.assert_no_sanitizer_report(r.stderr)
    assert "server.user: there is no user 'vigil-test-no-such-user'" in r.stderr, r.stderr
    assert "listening on" not in r.stderr  # nothing was bound


def test_unwritable_state_file_is_a_startup_error(lab, readable_dir):
    v = Dropping(readable_dir, lab)
    locked = os.path.join(readable_dir, "locked")
    os.mkdir(locked, 0o755)  # root's: the user cannot write in it
    v.text_base = v.text
    v.text = lambda extra=None: v.text_base(extra).replace(
        "auto-trust-anchor-file: root.autota", "auto-trust-anchor-file: %s/a" % locked)
    r = run_once(v)
    assert r.returncode == 1, r.stderr
    conftest.assert_no_sanitizer_report(r.stderr)
    assert "%s/a: its directory %s is not writable by user %s" % (locked, locked, USER) \
        in r.stderr, r.stderr


def test_link_planted_in_state_directory_is_not_followed(lab, readable_dir):
    """The user owns the state directory, so it (a compromised vigil of an
    earlier run) may put a symbolic link in it: state/a -> a directory of
    root's.  A file configured at state/a/b/... must not make vigil, still
    root, create or chown anything through that link (here: give root's
    directory rootdir/b to the user).  vigil refuses to start instead."""
    pw = pwd.getpwnam(USER)
    v = Dropping(readable_dir, lab)
    v.text_base = v.text
    v.text = lambda extra=None: v.text_base(extra).replace(
        "  log: logs/decisions.log\n", "  log: a/b/decisions.log\n")
    os.makedirs(v.state, 0o750)
    os.chown(v.state, pw.pw_uid, pw.pw_gid)
    target = os.path.join(readable_dir, "rootdir")
    os.makedirs(os.path.join(target, "b"), 0o755)
    link = os.path.join(v.state, "a")
    os.symlink(target, link)
    os.lchown(link, pw.pw_uid, pw.pw_gid)
    try:
        r = run_once(v)
    except subprocess.TimeoutExpired:
        r = None  # it started (killed by run): checked below
    s = os.stat(os.path.join(target, "b"))
    assert (s.st_uid, s.st_gid) == (0, 0), "vigil chowned a directory through the link"
    assert oct(os.stat(target).st_mode & 0o777) == "0o755"
    assert r is not None and r.returncode == 1, r and r.stderr
    conftest.assert_no_sanitizer_report(r.stderr)
    assert "a/b/decisions.log: its directory" in r.stderr, r.stderr


RACE_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

/* bind(), then the attacker's move at once: a link renamed over the new socket */
int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	int (*real)(int, const struct sockaddr *, socklen_t) = dlsym(RTLD_NEXT, "bind");
	const char *sock = getenv("RACE_SOCKET"), *link = getenv("RACE_LINK");
	int r = real(fd, sa, len);

	if (r == 0 && sa->sa_family == AF_UNIX && sock && link &&
	    !strcmp(((const struct sockaddr_un *)sa)->sun_path, sock))
		rename(link, sock);
	return r;
}

/* the same for the socket's directory, right after vigil made it */
int mkdir(const char *path, mode_t mode)
{
	int (*real)(const char *, mode_t) = dlsym(RTLD_NEXT, "mkdir");
	const char *dir = getenv("RACE_DIR"), *link = getenv("RACE_DIR_LINK");
	int r = real(path, mode);

	if (r == 0 && dir && link && !strcmp(path, dir)) {
		char away[4200];
		snprintf(away, sizeof(away), "%s.away", dir);
		rename(dir, away);
		rename(link, dir);
	}
	return r;
}
"""


def test_control_socket_swapped_for_a_link(lab, readable_dir, monkeypatch):
    """The socket's directory is the user's (/run/vigil is made for it), so
    between vigil's bind() and its chown/chmod of the socket the user may put a
    link to root's file in its place.  Simulated deterministically by an
    LD_PRELOAD bind() that renames the link over the socket at once: vigil
    (still root) must not chown or chmod the file the link points to."""
    shim = preload_shim(readable_dir, RACE_SHIM, monkeypatch, "race")
    pw = pwd.getpwnam(USER)
    ctl_dir = os.path.join(readable_dir, "run")
    os.mkdir(ctl_dir, 0o755)
    os.chown(ctl_dir, pw.pw_uid, pw.pw_gid)  # as vigil makes /run/vigil
    sock = os.path.join(ctl_dir, "control.sock")
    decoy = os.path.join(readable_dir, "shadow")
    with open(decoy, "w") as f:
        f.write("root's secret\n")
    os.chmod(decoy, 0o600)
    link = os.path.join(ctl_dir, ".link")
    os.symlink(decoy, link)
    os.lchown(link, pw.pw_uid, pw.pw_gid)
    v = Dropping(readable_dir, lab)
    v.text_base = v.text
    v.text = lambda extra=None: v.text_base(extra) + (
        "control:\n  socket: \"%s\"\n  mode: \"0666\"\n" % sock)
    monkeypatch.setenv("LD_PRELOAD", shim)
    monkeypatch.setenv("RACE_SOCKET", sock)
    monkeypatch.setenv("RACE_LINK", link)
    try:
        r = run_once(v)
    except subprocess.TimeoutExpired:
        r = None  # it started (killed by run): checked below
    monkeypatch.delenv("LD_PRELOAD")
    assert not os.path.lexists(link), "the shim did not swap the socket: this proves nothing"
    s = os.stat(decoy)
    assert (s.st_uid, s.st_gid, oct(s.st_mode & 0o777)) == (0, 0, "0o600"), \
        "vigil changed the file the link points to"
    assert r is not None and r.returncode == 1, r and r.stderr
    assert "control socket %s" % sock in r.stderr, r.stderr


def test_control_directory_swapped_for_a_link(lab, readable_dir, monkeypatch):
    """control.socket in a directory vigil makes inside one the user owns (the
    state directory): right after vigil's mkdir, the user moves it away and
    puts a link to root's directory in its place (the shim's mkdir does it at
    once).  vigil must not give root's directory to the user."""
    shim = preload_shim(readable_dir, RACE_SHIM, monkeypatch, "race")
    pw = pwd.getpwnam(USER)
    v = Dropping(readable_dir, lab)
    os.makedirs(v.state, 0o750)
    os.chown(v.state, pw.pw_uid, pw.pw_gid)
    ctl_dir = os.path.join(v.state, "ctl")
    target = os.path.join(readable_dir, "rootdir")
    os.mkdir(target, 0o755)
    link = os.path.join(v.state, ".link")
    os.symlink(target, link)
    os.lchown(link, pw.pw_uid, pw.pw_gid)
    v.text_base = v.text
    v.text = lambda extra=None: v.text_base(extra) + (
        "control:\n  socket: \"%s/control.sock\"\n" % ctl_dir)
    monkeypatch.setenv("LD_PRELOAD", shim)
    monkeypatch.setenv("RACE_DIR", ctl_dir)
    monkeypatch.setenv("RACE_DIR_LINK", link)
    try:
        r = run_once(v)
    except subprocess.TimeoutExpired:
        r = None
    monkeypatch.delenv("LD_PRELOAD")
    assert not os.path.lexists(link), "the shim did not swap the directory: this proves nothing"
    s = os.stat(target)
    assert (s.st_uid, s.st_gid) == (0, 0), "vigil gave root's directory to the user"
    assert r is not None and r.returncode == 1, r and r.stderr
    assert "cannot create its directory" in r.stderr, r.stderr


def test_sd_notify(lab, readable_dir, monkeypatch):
    sock_dir = os.path.join(readable_dir, "notify")
    os.mkdir(sock_dir)
    os.chmod(sock_dir, 0o777)
    path = os.path.join(sock_dir, "sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)  # vigil sends after it has become the user
    s.settimeout(10)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    v = Dropping(readable_dir, lab)
    try:
        v.start()
        msgs = [s.recv(4096).decode()]
        assert "READY=1" in msgs[0].split("\n"), msgs
        assert any(m.startswith("STATUS=serving") for m in msgs[0].split("\n")), msgs
        v.signal(signal.SIGHUP)
        msgs.append(s.recv(4096).decode())
        msgs.append(s.recv(4096).decode())
        assert "RELOADING=1" in msgs[1].split("\n"), msgs
        assert "READY=1" in msgs[2].split("\n") and "reloaded" in msgs[2], msgs
        v.stop()
        msgs.append(s.recv(4096).decode())
        assert "STOPPING=1" in msgs[3].split("\n"), msgs
    finally:
        v.stop()
        s.close()


def test_meson_install_destdir(tmp_path):
    build = os.path.dirname(conftest.VIGIL_BIN)
    if not os.path.exists(os.path.join(build, "build.ninja")) or not shutil.which("meson"):
        pytest.skip("VIGIL_BIN is not in a meson build directory")
    dest = tmp_path / "dest"

    def install():
        return subprocess.run(["meson", "install", "-C", build, "--no-rebuild",
                               "--destdir", str(dest)], capture_output=True, text=True,
                              timeout=120)
    r = install()
    assert r.returncode == 0, r.stdout + r.stderr
    info = subprocess.run(["meson", "introspect", "--buildoptions", build],
                          capture_output=True, text=True, check=True).stdout
    opts = {o["name"]: o["value"] for o in json.loads(info)}
    prefix = opts["prefix"]
    sysconf = os.path.join(prefix, opts["sysconfdir"])
    bindir = os.path.join(prefix, opts["bindir"])
    root = str(dest)
    binary = root + os.path.join(bindir, "vigil")
    assert os.access(binary, os.X_OK)
    units = [os.path.join(dp, f) for dp, _, fs in os.walk(root) for f in fs
             if f == "vigil.service"]
    assert len(units) == 1 and "/systemd/system/" in units[0], units
    unit = open(units[0]).read()
    assert "ExecStart=%s/vigil -c %s/vigil/vigil.yaml" % (bindir, sysconf) in unit
    assert "Type=notify" in unit and "User=vigil" in unit
    assert "@bindir@" not in unit and "@sysconfdir@" not in unit
    policy = root + os.path.join(prefix, opts["datadir"], "vigil", "policy")
    assert os.path.exists(os.path.join(policy, "supply-chain.rpz"))
    cfg = root + os.path.join(sysconf, "vigil", "vigil.yaml")
    repo_cfg = os.path.join(conftest.REPO, "contrib", "vigil.yaml")
    assert open(cfg).read() == open(repo_cfg).read()
    # the installed example config is valid for the installed binary
    r = subprocess.run([binary, "--check-config", cfg], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    # a second install keeps the administrator's config
    with open(cfg, "a") as f:
        f.write("# changed by the administrator\n")
    r = install()
    assert r.returncode == 0, r.stdout + r.stderr
    assert open(cfg).read().endswith("# changed by the administrator\n")
