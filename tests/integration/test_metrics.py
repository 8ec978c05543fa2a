"""The Prometheus metrics endpoint (metrics.listen; README "Metrics").

  counts     a vigil of its own with a policy source: known queries (cache
             hits over UDP and TCP, a name the policy blocks, an NXDOMAIN, a
             DNSSEC-secure and a bogus answer) move the scraped values by
             exactly what was sent; "nothing went upstream" for the cache
             hits is counted at the lab's servers, and vigil's upstream query
             count is compared with what the lab's servers received
  http       other paths 404, other methods 405, an oversized request 431,
             idle clients (more than the connection limit) do not lock a
             scraper out, open TCP connections are a gauge
  prometheus Debian's prometheus scrapes vigil; the values are read back
             through its HTTP query API (/api/v1/query)

Nothing here asserts a timing: every wait polls a value with a bound.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import dns.flags
import dns.message
import dns.query
import pytest

import conftest
from helpers import assert_rcode, diff_counts, own_resolver, settle, show

pytestmark = pytest.mark.vigil_only

BLOCKED = "blocked-metrics.basic.lab."
SECURE = "www.alg13.sec."
BOGUS = "www.expired.sec."      # EDE 7, Signature Expired
MISSING = "nope-metrics.basic.lab."


def scrape(port, path="/metrics", timeout=3.0):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        assert r.status == 200
        ctype = r.headers["Content-Type"]
        assert ctype.startswith("text/plain; version=0.0.4"), ctype
        return r.read().decode()


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels)): value}; checks every family has HELP and TYPE
    before its samples."""
    out, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or base in typed, "sample before its TYPE: %r" % line
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(name, labels)] = float(m.group(4))
    return out


def val(metrics, name, **labels):
    return metrics.get((name, frozenset(labels.items())), 0.0)


def dq(r, name, rdtype="A", tcp=False):
    q = dns.message.make_query(name, rdtype, want_dnssec=True, payload=1232)
    return r.send(q, tcp=tcp)


def metrics_edit(port, rpz):
    def edit(kind, text):
        text = text.replace('  access-control: [ "127.0.0.1/32 allow", "127.0.0.0/8 refuse" ]',
                            '  access-control: [ "127.0.0.0/8 allow" ]')
        return text + (
            "metrics:\n  listen: 127.0.0.1@%d\n"
            "policy:\n  sources:\n    - name: metrics-block\n      type: rpz\n"
            "      file: \"%s\"\n  groups:\n    - name: all\n"
            "      clients: [ \"127.0.0.0/8\" ]\n      sources: [ metrics-block ]\n"
            % (port, rpz))
    return edit


@pytest.fixture
def mvigil(lab, tmp_path):
    rpz = tmp_path / "block.rpz"
    rpz.write_text("$ORIGIN metrics-block.rpz.\n$TTL 300\n"
                   "@ IN SOA localhost. hostmaster.localhost. 7 3600 600 86400 60\n"
                   "@ IN NS localhost.\n"
                   "%s CNAME .\n" % BLOCKED.replace(".basic.lab.", ".basic.lab"))
    port = conftest.free_port()
    v = own_resolver(lab, tmp_path, metrics_edit(port, rpz))
    v.metrics_port = port
    yield v
    v.stop()


def test_metrics_count_what_was_sent(lab, mvigil):
    v, port = mvigil, mvigil.metrics_port
    # the ready query (www.basic.lab. A) is cached; wait until the lab is quiet
    # (priming and its fetches done)
    settle(lab, quiet=0.3)
    before = parse(scrape(port))
    lab0 = lab.query_counts()

    # cache hits: twice over UDP, once over TCP -- nothing reaches the lab
    for tcp in (False, False, True):
        r = v.query(conftest.READY_NAME, "A", tcp=tcp)
        assert_rcode(r, "NOERROR")
    lab1 = settle(lab, quiet=0.3)
    assert not diff_counts(lab0, lab1), "cache hits went upstream: %s" % diff_counts(lab0, lab1)
    mid = parse(scrape(port))

    # a name the policy blocks (NXDOMAIN, before the cache), a real NXDOMAIN
    # (insecure zone), a secure answer and a bogus one: all over UDP, type A
    r = v.query(BLOCKED, "A")
    assert_rcode(r, "NXDOMAIN")
    r = dq(v, MISSING)
    assert_rcode(r, "NXDOMAIN")
    r = dq(v, SECURE)
    assert_rcode(r, "NOERROR")
    assert r.flags & dns.flags.AD, show(r)
    r = dq(v, BOGUS)
    assert_rcode(r, "SERVFAIL")
    lab2 = settle(lab, quiet=0.3)
    after = parse(scrape(port))

    def d(a, b, name, **labels):
        return val(b, name, **labels) - val(a, name, **labels)

    # the cache hits
    assert d(before, mid, "vigil_cache_hits_total") == 3
    assert d(before, mid, "vigil_cache_misses_total") == 0
    assert d(before, mid, "vigil_queries_by_transport_total", transport="udp") == 2
    assert d(before, mid, "vigil_queries_by_transport_total", transport="tcp") == 1
    assert d(before, mid, "vigil_answers_by_rcode_total", rcode="NOERROR") == 3
    assert d(before, mid, "vigil_upstream_queries_total", protocol="udp") == 0
    assert d(before, mid, "vigil_answer_latency_seconds_count") == 3
    assert d(before, mid, "vigil_connections_open", kind="tcp") == 0
    # their latency is measured below the millisecond: the histogram has
    # buckets under 1 ms exist, the +Inf bucket counts all three (no
    # timing: where they land is the machine's business), and their sum is
    # not 0 (a millisecond clock counted every cache hit as 0)
    les = sorted(float(dict(k[1])["le"]) for k in mid
                 if k[0] == "vigil_answer_latency_seconds_bucket")
    assert les[0] <= 0.0001 and 0.001 in les, les
    def le_count(m, le):
        return sum(v for k, v in m.items() if k[0] == "vigil_answer_latency_seconds_bucket"
                   and float(dict(k[1])["le"]) == le)
    assert le_count(mid, float("inf")) - le_count(before, float("inf")) == 3
    lat_sum = d(before, mid, "vigil_answer_latency_seconds_sum")
    assert 0 < lat_sum, lat_sum

    # the four others
    assert d(mid, after, "vigil_queries_total") == 4
    assert d(mid, after, "vigil_queries_by_transport_total", transport="udp") == 4
    assert d(mid, after, "vigil_queries_by_type_total", type="A") == 4
    assert d(mid, after, "vigil_cache_hits_total") == 0
    assert d(mid, after, "vigil_cache_misses_total") == 3  # (the blocked one: policy first)
    assert d(mid, after, "vigil_answers_by_rcode_total", rcode="NXDOMAIN") == 2
    assert d(mid, after, "vigil_answers_by_rcode_total", rcode="NOERROR") == 1
    assert d(mid, after, "vigil_answers_by_rcode_total", rcode="SERVFAIL") == 1
    assert d(mid, after, "vigil_policy_rewrites_total") == 1
    assert d(mid, after, "vigil_policy_rewrites_by_source_total", source="metrics-block",
             action="nxdomain") == 1
    assert d(mid, after, "vigil_dnssec_answers_total", status="secure") == 1
    assert d(mid, after, "vigil_dnssec_answers_total", status="bogus") == 1
    assert d(mid, after, "vigil_dnssec_answers_total", status="insecure") == 1
    assert d(mid, after, "vigil_dnssec_bogus_total", ede="7") == 1
    assert d(mid, after, "vigil_answer_latency_seconds_count") == 4
    assert val(after, "vigil_policy_source_serial", source="metrics-block", feed="no") == 7

    # upstream: what vigil says it sent is what the lab's servers received
    sent = sum(d(mid, after, "vigil_upstream_queries_total", protocol=p)
               for p in ("udp", "tcp", "tls"))
    received = sum(diff_counts(lab1, lab2).values())
    assert sent > 0 and sent == received, (sent, diff_counts(lab1, lab2))
    assert (d(mid, after, "vigil_upstream_rtt_seconds_count")
            == sent - d(mid, after, "vigil_upstream_timeouts_total"))

    # histograms: cumulative buckets, +Inf last and equal to _count
    for h in ("vigil_answer_latency_seconds", "vigil_upstream_rtt_seconds"):
        buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in after.items()
                          if k[0] == h + "_bucket"), key=lambda x: x[0])
        assert buckets and buckets[-1][0] == float("inf"), buckets
        assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), buckets
        assert buckets[-1][1] == val(after, h + "_count")

    # the totals table agrees with the stats line
    st = v.stats()
    final = parse(scrape(port))
    assert val(final, "vigil_queries_total") == st["queries"]
    assert val(final, "vigil_cache_hits_total") == st["cache_hits"]


def _raw(port, data, read=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    try:
        s.sendall(data)
        if not read:
            return s
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    finally:
        if read:
            s.close()


def test_metrics_http(mvigil):
    v, port = mvigil, mvigil.metrics_port
    with pytest.raises(urllib.error.HTTPError) as e:
        scrape(port, "/other")
    assert e.value.code == 404
    assert _raw(port, b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n").startswith(
        b"HTTP/1.1 405 ")
    assert _raw(port, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 8000 + b"\r\n\r\n").startswith(
        b"HTTP/1.1 431 ")
    assert _raw(port, b"garbage\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    head = _raw(port, b"HEAD /metrics HTTP/1.0\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n"), head[:200]

    # idle clients, more than the endpoint keeps: a scrape still gets through
    idle = [_raw(port, b"GET /met", read=False) for _ in range(24)]
    try:
        assert "vigil_queries_total" in scrape(port)
        # an open DNS-over-TCP connection shows in the gauge, and goes
        s = socket.create_connection((v.addr, v.port), timeout=3)
        try:
            deadline = time.monotonic() + 5
            while val(parse(scrape(port)), "vigil_connections_open", kind="tcp") != 1:
                assert time.monotonic() < deadline, "open TCP connection not counted"
                time.sleep(0.05)
        finally:
            s.close()
        deadline = time.monotonic() + 5
        while val(parse(scrape(port)), "vigil_connections_open", kind="tcp") != 0:
            assert time.monotonic() < deadline, "closed TCP connection still counted"
            time.sleep(0.05)
    finally:
        for s in idle:
            s.close()
    assert v.alive()


# ------------------------------------------------------------ Prometheus

PROMETHEUS = "/usr/bin/prometheus"


def prom_query(pport, expr):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (pport, urllib.parse.urlencode({"query": expr}))
    with urllib.request.urlopen(url, timeout=3) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]


@pytest.mark.skipif(not os.access(PROMETHEUS, os.X_OK),
                    reason="Debian's prometheus is not installed (contrib/setup.sh deps)")
def test_prometheus_scrapes_vigil(mvigil, tmp_path):
    v, port = mvigil, mvigil.metrics_port
    for _ in range(3):
        assert_rcode(v.query(conftest.READY_NAME, "A"), "NOERROR")
    want = val(parse(scrape(port)), "vigil_queries_by_transport_total", transport="udp")
    assert want >= 3

    pport = conftest.free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                   "scrape_configs:\n  - job_name: vigil\n    static_configs:\n"
                   "      - targets: [ \"127.0.0.1:%d\" ]\n" % port)
    store = tmp_path / "tsdb"
    store.mkdir()
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen([PROMETHEUS, "--config.file=%s" % cfg,
                             "--storage.tsdb.path=%s" % store,
                             "--web.listen-address=127.0.0.1:%d" % pport,
                             "--web.enable-lifecycle"],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True, close_fds=True)
    log.close()
    pidfile = tmp_path / "prometheus.pid"
    pidfile.write_text("%d\n" % proc.pid)
    try:
        # poll Prometheus until it has scraped vigil and holds the value
        deadline = time.monotonic() + 30
        last = None
        while True:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
            try:
                res = prom_query(pport, 'vigil_queries_by_transport_total{transport="udp"}')
                last = res
                if res and float(res[0]["value"][1]) == want:
                    break
            except (OSError, urllib.error.URLError) as e:
                last = e
            assert time.monotonic() < deadline, "prometheus never had the value %s: %s\n%s" % (
                want, last, (tmp_path / "prometheus.log").read_text()[-3000:])
            time.sleep(0.2)
        assert res[0]["metric"]["job"] == "vigil"
        # the target is up, and a histogram and a gauge came through
        up = prom_query(pport, 'up{job="vigil"}')
        assert up and float(up[0]["value"][1]) == 1
        cnt = prom_query(pport, "vigil_answer_latency_seconds_count")
        assert cnt and float(cnt[0]["value"][1]) >= 3
        inf = prom_query(pport, 'vigil_answer_latency_seconds_bucket{le="+Inf"}')
        assert inf and inf[0]["value"][1] == cnt[0]["value"][1]
        workers = prom_query(pport, "vigil_workers")
        assert workers and float(workers[0]["value"][1]) == 2
    finally:
        pid = int(pidfile.read_text())
        os.kill(pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(pid, 9)
            proc.wait(timeout=5)
