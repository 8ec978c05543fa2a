"""The JSON query log (query-log section): real queries appear with their
fields, a blocked name with the policy's decision; client addresses
truncated or pseudonymised; fields selectable; rotation by size with N files
kept; SIGHUP reopens the file."""
import json
import os
import re
import signal
import time

import dns.message
import dns.name
import dns.query
import pytest

import conftest
from helpers import Upstream, own_resolver

pytestmark = pytest.mark.vigil_only

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def rpz_policy(d):
    path = os.path.join(str(d), "qlog-block.rpz")
    with open(path, "w") as f:
        f.write("$ORIGIN qlog-block.rpz.\n$TTL 300\n"
                "@ IN SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n"
                "@ IN NS localhost.\n"
                "txt.basic.lab IN CNAME .\n")
    return ("policy:\n  sources:\n    - name: qlog-block\n      type: rpz\n"
            "      file: \"%s\"\n  groups:\n    - name: all\n"
            "      clients: [ \"0.0.0.0/0\", \"::/0\" ]\n      sources: [ qlog-block ]\n" % path)


def start(lab, d, section, extra=""):
    return own_resolver(lab, d, lambda kind, text: text + section + extra)


def read_lines(path):
    try:
        with open(path) as f:
            return [json.loads(l) for l in f.read().splitlines() if l]
    except FileNotFoundError:
        return []


def wait_lines(path, pred, what, r, limit=10):
    """Poll PATH until a line satisfies PRED; every line must be valid JSON."""
    deadline = time.monotonic() + limit
    while True:
        lines = read_lines(path)
        hit = [l for l in lines if pred(l)]
        if hit:
            return hit
        if time.monotonic() > deadline:
            pytest.fail("no query log line with %s in %s:\n%s\nlog:\n%s"
                        % (what, path, "\n".join(map(json.dumps, lines[-10:])), r.log_tail()))
        time.sleep(0.1)


def test_json_fields_cache_policy_and_odd_names(lab, tmp_path):
    logf = str(tmp_path / "queries.json")
    r = start(lab, tmp_path, 'query-log:\n  file: "%s"\n' % logf, rpz_policy(tmp_path))
    try:
        # mail.basic.lab. A twice, each from a port of its own (the log says
        # which line is which): the first goes to the lab's server, the second
        # is a cache hit -- counted there, not taken from vigil's word
        name = "mail.basic.lab."
        up = Upstream(lab)
        ports = []
        for i in range(2):
            ports.append(conftest.free_port())
            ans = dns.query.udp(dns.message.make_query(name, "A"), r.addr, port=r.port,
                                timeout=5, source="127.0.0.1", source_port=ports[-1])
            if i == 0:
                first = ans
                up.some("%s A, first asked" % name, "basic")
            else:
                up.none("%s A, asked again" % name)
        want = sorted("A " + rd.address for rs in first.answer for rd in rs if rd.rdtype == 1)
        assert want, "%s has no A answer: %s" % (name, first)
        r.query("www.basic.lab.", "AAAA", tcp=True)
        blocked = r.query("txt.basic.lab.", "A")
        assert blocked.rcode() == 3, "txt.basic.lab is not blocked: %s" % blocked
        # a name with a quote, a backslash and control bytes in a label
        odd = dns.name.Name([b'o"d\\d\x01\x7f\xff', b"basic", b"lab", b""])
        r.send(dns.message.make_query(odd, "A"))

        twice = [wait_lines(logf, lambda l: l.get("name") == name and l.get("type") == "A"
                          and l.get("port") == port, "%s A from port %d" % (name, port), r)[0]
               for port in ports]
        assert [l["cache_hit"] for l in twice] == [False, True], twice
        for l in twice:
            assert TIME_RE.match(l["time"]), l
            assert l["client"] == "127.0.0.1" and isinstance(l["port"], int) and l["port"], l
            assert l["transport"] == "udp" and l["rcode"] == "NOERROR", l
            assert sorted(a for a in l["answer"] if a.startswith("A ")) == want, l
            assert isinstance(l["latency_ms"], float) and l["latency_ms"] >= 0, l
            assert l["validation"] in ("secure", "insecure", "unchecked", "bogus"), l
            assert "policy" not in l and "identity" not in l, l
        tcp = wait_lines(logf, lambda l: l.get("type") == "AAAA", "the TCP query", r)
        assert tcp[0]["transport"] == "tcp", tcp
        blk = wait_lines(logf, lambda l: l.get("name") == "txt.basic.lab.", "the blocked name",
                         r)[0]
        assert blk["rcode"] == "NXDOMAIN", blk
        assert blk["policy"]["action"] == "nxdomain", blk
        assert blk["policy"]["source"] == "qlog-block", blk
        assert "txt.basic.lab" in blk["policy"]["rule"], blk
        odd_line = wait_lines(logf, lambda l: l.get("name", "").endswith(".basic.lab.") and
                              l["name"].startswith("o"), "the odd name", r)[0]
        # vigil writes a name's odd bytes as \DDD and JSON escapes the rest
        assert odd_line["name"] == 'o"d\\\\d\\001\\127\\255.basic.lab.', odd_line
    finally:
        r.stop()


def test_truncated_addresses(lab, tmp_path):
    logf = str(tmp_path / "queries.json")
    r = start(lab, tmp_path, 'query-log:\n  file: "%s"\n  client-address: truncate\n'
              '  ipv4-prefix: 16\n' % logf)
    try:
        r.query("trunc.basic.lab.", "A")
        l = wait_lines(logf, lambda l: l.get("name") == "trunc.basic.lab.", "the query", r)[0]
        assert l["client"] == "127.0.0.0", l
    finally:
        r.stop()


def test_pseudonyms_and_fields(lab, tmp_path):
    logf = str(tmp_path / "queries.json")
    r = start(lab, tmp_path, 'query-log:\n  file: "%s"\n  client-address: pseudonym\n'
              '  fields: [ name, client ]\n' % logf)
    try:
        r.query("p1.basic.lab.", "A")
        r.query("p2.basic.lab.", "A")
        r.query("p3.basic.lab.", "A", source="127.0.0.2")  # refused: logged all the same
        ls = {n: wait_lines(logf, lambda l, n=n: l.get("name") == n, n, r)[0]
              for n in ("p1.basic.lab.", "p2.basic.lab.", "p3.basic.lab.")}
        for l in ls.values():
            assert set(l) == {"name", "client"}, l
            assert re.match(r"^[0-9a-f]{16}$", l["client"]), l
            assert "127.0.0" not in json.dumps(l), l
        assert ls["p1.basic.lab."]["client"] == ls["p2.basic.lab."]["client"], ls
        assert ls["p1.basic.lab."]["client"] != ls["p3.basic.lab."]["client"], ls
    finally:
        r.stop()


def test_rotation_by_size_keep_and_sighup_reopen(lab, tmp_path):
    logf = str(tmp_path / "queries.json")
    r = start(lab, tmp_path, 'query-log:\n  file: "%s"\n  rotate-size: 2k\n  keep: 2\n' % logf)
    try:
        # lines of ~350 bytes: 2 KiB every 6 or so; enough for 3 rotations
        deadline = time.monotonic() + 15
        i = 0
        while not (os.path.exists(logf + ".2") and os.path.exists(logf + ".1")):
            assert time.monotonic() < deadline, "no rotation: %s\n%s" % (
                os.listdir(str(tmp_path)), r.log_tail())
            r.query("www.basic.lab.", "A")
            i += 1
            if i > 40:
                time.sleep(0.05)
        for _ in range(30):
            r.query("www.basic.lab.", "A")
        # the writer thread renames and reopens while the test looks (the
        # live file is briefly missing between the two): poll until all three
        # files exist and none changed over 0.2 s
        deadline = time.monotonic() + 5
        last = None
        while True:
            try:
                now = [os.path.getsize(p) for p in (logf, logf + ".1", logf + ".2")]
                for p in (logf + ".1", logf + ".2"):
                    read_lines(p)  # whole lines of JSON
                if now == last:
                    break
                last = now
            except (FileNotFoundError, ValueError):
                last = None
            assert time.monotonic() < deadline, os.listdir(str(tmp_path))
            time.sleep(0.2)
        sizes = last[1:]
        assert all(s >= 2048 for s in sizes), sizes
        assert not os.path.exists(logf + ".3"), "keep: 2 kept a third file"
        # logrotate's way: move the file away, then SIGHUP; vigil opens a new one
        os.rename(logf, str(tmp_path / "moved.json"))
        r.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while not any(l.get("name") == "after-hup.basic.lab." for l in read_lines(logf)):
            assert time.monotonic() < deadline, "no new file after SIGHUP:\n" + r.log_tail()
            r.query("after-hup.basic.lab.", "A")
            time.sleep(0.1)
    finally:
        r.stop()
