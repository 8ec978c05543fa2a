"""dnstap (dnstap section): the messages vigil writes, read back by real
readers -- Debian's dnstap-read (BIND) on a file, and fstrm_capture on a
unix socket (fstrm's bidirectional handshake) whose capture dnstap-read
then decodes: the names, types, addresses and message types sent."""
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from helpers import own_resolver

pytestmark = pytest.mark.vigil_only

DNSTAP_READ = shutil.which("dnstap-read") or "/usr/bin/dnstap-read"
FSTRM_CAPTURE = shutil.which("fstrm_capture") or "/usr/bin/fstrm_capture"


def messages(path):
    """dnstap-read -y of PATH as a list of dicts: type, query_address,
    response_address, questions ('name. IN A'), extra."""
    out = subprocess.run([DNSTAP_READ, "-y", path], capture_output=True, text=True,
                         timeout=10)
    if out.returncode != 0:
        return None, out.stderr
    msgs = []
    for doc in out.stdout.split("\n---"):
        m = re.search(r"^  type: (\w+)$", doc, re.M)
        if not m:
            continue
        d = {"type": m.group(1), "questions": re.findall(r"^\s+- '(.+)'$", doc, re.M)}
        for k in ("query_address", "response_address", "socket_protocol", "extra"):
            v = re.search(r"^\s*%s: \"?([^\"\n]*)\"?$" % k, doc, re.M)
            d[k] = v.group(1) if v else None
        msgs.append(d)
    return msgs, out.stderr


def wait_messages(path, pred, what, r, limit=10):
    deadline = time.monotonic() + limit
    msgs, err = None, ""
    while time.monotonic() < deadline:
        if os.path.exists(path):
            msgs, err = messages(path)
            if msgs and any(pred(m) for m in msgs):
                return msgs
        time.sleep(0.2)
    pytest.fail("no dnstap message with %s in %s (dnstap-read: %s)\n%s\nlog:\n%s"
                % (what, path, err, msgs, r.log_tail() if r else ""))


def test_file_client_and_resolver_messages(lab, tmp_path):
    path = str(tmp_path / "vigil.dnstap")
    r = own_resolver(lab, tmp_path, lambda kind, text: text + (
        'dnstap:\n  file: "%s"\n  resolver-query: yes\n  resolver-response: yes\n' % path))
    try:
        r.query("dnstap.basic.lab.", "A")  # (NXDOMAIN: asked of basic.lab's server)
    finally:
        r.stop()  # fstrm's writer closes the file: every frame is in it
    msgs = wait_messages(path, lambda m: "dnstap.basic.lab. IN A" in m["questions"],
                         "dnstap.basic.lab", None)
    cq = [m for m in msgs if m["type"] == "CLIENT_QUERY" and
          "dnstap.basic.lab. IN A" in m["questions"]]
    cr = [m for m in msgs if m["type"] == "CLIENT_RESPONSE" and
          "dnstap.basic.lab. IN A" in m["questions"]]
    rq = [m for m in msgs if m["type"] == "RESOLVER_QUERY"]
    rr = [m for m in msgs if m["type"] == "RESOLVER_RESPONSE"]
    assert cq and cr, msgs
    assert cq[0]["query_address"] == "127.0.0.1" and cq[0]["socket_protocol"] == "UDP", cq
    assert cr[0]["query_address"] == "127.0.0.1", cr
    # the lab's servers were asked (their addresses are the lab's 127.x ones)
    lab_addrs = {m["response_address"] for m in rq}
    assert rq and rr and all(a and a.startswith("127.") for a in lab_addrs), rq
    assert any(q.endswith("IN A") and "basic.lab" in q for m in rq for q in m["questions"]), rq


def test_unix_socket_with_fstrm_capture_truncated_clients(lab, tmp_path):
    sock = str(tmp_path / "dnstap.sock")
    cap = str(tmp_path / "capture.fstrm")
    capture = subprocess.Popen([FSTRM_CAPTURE, "-t", "protobuf:dnstap.Dnstap", "-u", sock,
                                "-w", cap], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while not os.path.exists(sock):
            assert capture.poll() is None, capture.stderr.read()
            assert time.monotonic() < deadline, "fstrm_capture made no socket"
            time.sleep(0.05)
        r = own_resolver(lab, tmp_path, lambda kind, text: text + (
            'query-log:\n  client-address: truncate\n  ipv4-prefix: 8\n'
            'dnstap:\n  socket: "%s"\n  client-query: no\n' % sock))
        try:
            r.query("sock.basic.lab.", "A")
            r.query("sock.basic.lab.", "A", tcp=True)
        finally:
            r.stop()  # fstrm's writer flushes and says goodbye (FINISH)
    finally:
        capture.send_signal(signal.SIGTERM)
        try:
            capture.wait(timeout=5)
        except subprocess.TimeoutExpired:
            capture.kill()
            capture.wait()
    msgs = wait_messages(cap, lambda m: "sock.basic.lab. IN A" in m["questions"],
                         "sock.basic.lab", None)
    mine = [m for m in msgs if "sock.basic.lab. IN A" in m["questions"]]
    assert {m["type"] for m in mine} == {"CLIENT_RESPONSE"}, mine  # client-query: no
    assert {m["socket_protocol"] for m in mine} == {"UDP", "TCP"}, mine
    assert {m["query_address"] for m in mine} == {"127.0.0.0"}, mine  # truncated to /8


def test_file_reopened_on_sighup(lab, tmp_path):
    """logrotate's way: move the dnstap file away and send SIGHUP; vigil
    finishes the old file (complete: dnstap-read reads it to its end) and
    writes the next messages to a new one at the configured path."""
    path = str(tmp_path / "vigil.dnstap")
    old = path + ".1"
    jsonl = str(tmp_path / "queries.json")
    open(jsonl, "w").close()
    r = own_resolver(lab, tmp_path, lambda kind, text: text + (
        'dnstap:\n  file: "%s"\nquery-log:\n  file: "%s"\n' % (path, jsonl)))
    try:
        r.query("before-hup.basic.lab.", "A")
        # moved only once the log's writer thread has handed its frames to
        # fstrm (the file itself shows them only when fstrm's buffer is
        # written, at the latest when the output is closed): the JSON line of
        # the same event is written in the same step, so it is the sign
        deadline = time.monotonic() + 10
        while "before-hup" not in open(jsonl).read():
            assert time.monotonic() < deadline, "before-hup never logged\n" + r.log_tail()
            time.sleep(0.05)
        os.rename(path, old)
        r.signal(signal.SIGHUP)
        # the signal and the query race: ask until one lands in the new file
        deadline = time.monotonic() + 10
        while True:
            r.query("after-hup.basic.lab.", "A")
            if os.path.exists(path):
                msgs, _ = messages(path)
                if msgs and any("after-hup.basic.lab. IN A" in m["questions"] for m in msgs):
                    break
            assert time.monotonic() < deadline, (
                "no new dnstap file with after-hup after SIGHUP\n%s" % r.log_tail())
            time.sleep(0.2)
        # the old file is complete and readable, and holds what came before
        msgs, err = messages(old)
        assert msgs is not None, err
        assert any(m["type"] == "CLIENT_QUERY" and "before-hup.basic.lab. IN A"
                   in m["questions"] for m in msgs), msgs
        assert any(m["type"] == "CLIENT_RESPONSE" and "before-hup.basic.lab. IN A"
                   in m["questions"] for m in msgs), msgs
        # a SIGHUP with the file in its place keeps it (no truncation)
        n_before = len(messages(path)[0])
        r.signal(signal.SIGHUP)
        r.query("kept.basic.lab.", "A")
    finally:
        r.stop()  # the new file is closed: every frame is in it
    msgs = wait_messages(path, lambda m: "kept.basic.lab. IN A" in m["questions"],
                         "kept.basic.lab", None)
    assert any("after-hup.basic.lab. IN A" in m["questions"] for m in msgs), msgs
    assert len(msgs) > n_before, (n_before, msgs)
    assert not os.path.exists(path + ".2")


def test_file_rotated_by_size_and_kept(lab, tmp_path):
    """query-log.rotate-size and keep apply to a dnstap file as to the JSON
    log: past the size the file becomes FILE.1 (older ones move up, at most
    keep of them), each a complete stream dnstap-read reads to its end, and
    no query's messages are lost across the rotations."""
    path = str(tmp_path / "vigil.dnstap")
    # one worker: its ring keeps the queries' order (two workers' rings are
    # drained side by side, so their events may interleave in any order)
    r = own_resolver(lab, tmp_path, lambda kind, text: text.replace(
        "  workers: 2\n", "  workers: 1\n") + (
        'dnstap:\n  file: "%s"\n'
        'query-log:\n  rotate-size: 2000\n  keep: 2\n' % path))
    names = ["rot%d.basic.lab." % i for i in range(24)]
    try:
        for n in names:
            r.query(n, "A")
        deadline = time.monotonic() + 10
        while not os.path.exists(path + ".2"):  # several rotations happened
            assert time.monotonic() < deadline, (
                "no %s.2 after %d queries:\n%s" % (path, len(names), r.log_tail()))
            time.sleep(0.05)
    finally:
        r.stop()  # the last file is closed: every frame is in it
    assert not os.path.exists(path + ".3"), "keep: 2 kept a third old file"
    seen = []
    for p in (path + ".2", path + ".1", path):
        msgs, err = messages(p)
        assert msgs is not None, "%s is not a complete dnstap stream: %s" % (p, err)
        assert os.path.getsize(p) < 2000 + 1000, "%s grew far past rotate-size" % p
        seen += [q for m in msgs if m["type"] == "CLIENT_RESPONSE" for q in m["questions"]]
    # the three files hold the last queries, in order, without a gap
    got = [q.split()[0] for q in seen if q.startswith("rot")]
    assert got and got == names[len(names) - len(got):], got
