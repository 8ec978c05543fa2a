"""The control socket against hostile or broken clients (issue 12, part 1;
the security review of session 17).

A client allowed on the socket (root here) sends what vigilctl never does:
a NUL byte in the request line, a line without its newline, a line longer
than the limit, many connections at once.  vigil must answer "error" or
close, and keep serving: checked by a normal vigilctl request and a DNS
answer after each.

vigil only.
"""
import json
import socket
import time

import pytest

from test_control import CtlVigil, blocklist_policy, ctl, ctl_json, resolves

pytestmark = pytest.mark.vigil_only


@pytest.fixture(scope="module")
def v(lab, tmp_path_factory):
    d = tmp_path_factory.mktemp("control-hostile")
    vig = CtlVigil(d, lab, blocklist_policy(d), "")
    try:
        vig.start()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    yield vig
    vig.stop()  # exit status 0, no sanitizer report, after all the abuse


def raw(v, data, shut=True):
    """Send DATA on a new connection; what vigil answers before it closes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        s.connect(v.ctl_socket)
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def still_serves(v):
    assert v.alive(), "vigil died; log:\n" + v.log_tail()
    assert ctl_json(v, "status")["workers"] == 1
    assert resolves(v, "www.basic.lab.")


def test_nul_byte_in_the_request_line(v):
    """A NUL before the newline: an error answer, not a crash."""
    out = raw(v, b"VIGILCTL/1 text status\x00\n")
    assert out.startswith(b"error\n") and b"printable" in out, out
    still_serves(v)
    out = raw(v, b"\x00\n")
    assert out.startswith(b"error\n"), out
    still_serves(v)


def test_line_without_newline_and_too_long(v):
    out = raw(v, b"VIGILCTL/1 text status")  # the client shuts its side: no request
    assert out == b"", out
    out = raw(v, b"A" * 5000)
    assert out.startswith(b"error\n") and b"too long" in out, out
    out = raw(v, b"VIGILCTL/1 json help " + b"x " * 40 + b"\n")
    assert out.startswith(b"error\n"), out
    still_serves(v)


def test_many_connections(v):
    """More idle connections than the limit: the extra ones are told to try
    again, the daemon keeps serving once they leave."""
    socks = []
    try:
        for _ in range(40):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            socks.append(s)
            s.connect(v.ctl_socket)  # blocking: waits while vigil's backlog is full
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(v.ctl_socket)
        s.settimeout(30)
        assert s.recv(1000).startswith(b"error\ntoo many control connections")
        s.close()
    finally:
        for s in socks:
            s.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rc, out, _ = ctl(v, "status", json_out=True)
        if rc == 0:
            break
        time.sleep(0.1)
    assert rc == 0 and json.loads(out)["workers"] == 1
    still_serves(v)


def test_member_of_the_group_by_supplementary_group(lab, tmp_path_factory):
    """control.group given to an operator as a supplementary group (adduser
    alice vigil), not as the primary one: the socket's mode lets the operator
    connect, and vigil's credential check lets it in too (SO_PEERGROUPS); a
    process in neither group is still refused."""
    import grp
    import subprocess
    from test_control import VIGILCTL, open_dir_vigil
    gid = grp.getgrnam("daemon").gr_gid
    d, vig = open_dir_vigil(lab, tmp_path_factory, "  group: daemon\n  mode: \"0666\"\n")
    try:
        vig.start()
        try:
            base = ["setpriv", "--reuid=nobody", "--regid=nogroup"]
            cmd = [VIGILCTL, "-s", vig.ctl_socket, "--json", "status"]
            p = subprocess.run(base + ["--groups=%d" % gid] + cmd, capture_output=True,
                               text=True, timeout=60)
            assert p.returncode == 0, p.stderr
            assert json.loads(p.stdout)["workers"] == 1
            p = subprocess.run(base + ["--clear-groups"] + cmd, capture_output=True,
                               text=True, timeout=60)
            assert p.returncode == 1 and "permission denied" in p.stderr, p.stderr
        finally:
            vig.stop()
    finally:
        subprocess.run(["rm", "-rf", d])
