"""The encrypted-DNS test tools, checked against Debian's Unbound.

Before vigil serves DoT and DoH, the helpers its tests use (enc.py), the
certificates (tests/lab/certs.py) and the DoT/DoH Unbound of the lab
(tests/lab/labunbound.py) are shown to work against a known-good server:
queries, verification failures, resumption, pipelining, DoH status codes,
concurrent streams, GOAWAY detection, slowloris connections, and the real
clients kdig and dig.  Nothing here starts vigil.

Facts about the clients found here (what other tests can rely on):
* kdig +tls-sni=NAME sends NAME as SNI; without it kdig sends +tls-hostname.
* dig 9.18 sends no SNI at all, not even its +tls-hostname: client IDs in
  the server name can only be tested with kdig or Python.
* kdig and dig present a client certificate with +tls-certfile/+tls-keyfile.
"""
import hashlib
import ssl
import time

import dns.message
import dns.rcode
import pytest

import certs as certsmod
import enc
import labunbound

WWW = "www.dot.test."
WWW_ADDR = labunbound.LOCAL_DATA[WWW][1]


def q(name=WWW, rdtype="A"):
    return dns.message.make_query(name, rdtype)


def a_addrs(msg):
    return sorted(rr.address for rrset in msg.answer for rr in rrset if hasattr(rr, "address"))


@pytest.fixture
def u(lab_unbound):
    return lab_unbound


def test_dot_query_and_certificate_checks(u, certs):
    ans, tls = enc.dot_query(u.addr, u.tls_port, q(), cafile=certs.ca.cert)
    assert ans.rcode() == dns.rcode.NOERROR and a_addrs(ans) == [WWW_ADDR]
    assert tls.version in ("TLSv1.3", "TLSv1.2")
    # what certs.py says about the certificate is what the server presents
    assert certsmod.fingerprint(certs.server.cert) == \
        "sha256:" + hashlib.sha256(tls.peer_der).hexdigest()
    assert certsmod.key_matches(certs.server.cert, certs.server.key)
    assert not certsmod.key_matches(certs.server.cert, certs.server2.key)
    assert "CN=client-1" in certsmod.subject(certs.client.cert)
    # an untrusted CA and a name the certificate does not carry both fail
    with pytest.raises(ssl.SSLCertVerificationError):
        enc.dot_query(u.addr, u.tls_port, q(), cafile=certs.rogue_ca.cert)
    with pytest.raises(ssl.SSLCertVerificationError):
        enc.dot_query(u.addr, u.tls_port, q(), cafile=certs.ca.cert,
                      server_hostname="other.vigil.test")
    # client IDs: any label under the wildcard is a valid name
    ans, _ = enc.dot_query(u.addr, u.tls_port, q(), cafile=certs.ca.cert,
                           server_hostname="laptop-7.dns.vigil.test")
    assert a_addrs(ans) == [WWW_ADDR]


def test_spki_pin_with_kdig(u, certs):
    right = enc.kdig(u.addr, u.tls_port, WWW, cafile=None, hostname=None,
                     pin=certsmod.spki_pin(certs.server.cert))
    assert right.status == "NOERROR" and right.addresses() == [WWW_ADDR], right.out + right.err
    wrong = enc.kdig(u.addr, u.tls_port, WWW, cafile=None, hostname=None,
                     pin=certsmod.spki_pin(certs.server2.cert))
    assert not wrong.ok()


def test_dot_resumption(u, certs):
    _, first = enc.dot_query(u.addr, u.tls_port, q(), cafile=certs.ca.cert)
    assert not first.session_reused and first.session is not None
    _, second = enc.dot_query(u.addr, u.tls_port, q(), cafile=certs.ca.cert,
                              session=first.session)
    assert second.session_reused


def test_dot_pipelining(u, certs):
    names = ["q%d.dot.test." % i for i in range(16)]
    queries = [q(n) for n in names]
    for i, m in enumerate(queries):
        m.id = 0x6000 + i  # distinct: answers are matched by ID
    with enc.DotConnection(u.addr, u.tls_port, cafile=certs.ca.cert) as c:
        got = c.recv_many(c.send_many(queries))
    assert len(got) == 16
    for m in queries:
        ans = got[m.id]
        assert ans.question[0].name.to_text() == m.question[0].name.to_text()
        assert a_addrs(ans) == [labunbound.LOCAL_DATA[m.question[0].name.to_text()][1]]


def test_doh_get_post_and_statuses(u, certs):
    ca = certs.ca.cert
    status, hdrs, ans = enc.doh_query(u.addr, u.https_port, q(), method="POST", cafile=ca)
    assert status == 200 and hdrs["content-type"] == "application/dns-message"
    assert a_addrs(ans) == [WWW_ADDR]
    status, _, ans = enc.doh_query(u.addr, u.https_port, q(), method="GET", cafile=ca)
    assert status == 200 and ans.id == 0 and a_addrs(ans) == [WWW_ADDR]
    # the helper passes malformed requests through as given
    assert enc.doh_request(u.addr, u.https_port, "GET", query="dns=!!!!", cafile=ca)[0] == 400
    assert enc.doh_request(u.addr, u.https_port, "POST", body=q(), cafile=ca,
                           content_type="text/plain")[0] == 415
    assert enc.doh_request(u.addr, u.https_port, "GET", "/elsewhere", query=q(),
                           cafile=ca)[0] == 404


def test_doh_many_streams(u, certs):
    with enc.DohConnection(u.addr, u.https_port, cafile=certs.ca.cert) as h:
        sids = {h.request("POST", "/dns-query", q("q%d.dot.test." % (i % 16))): i
                for i in range(40)}
        for sid, i in sids.items():
            status, _, body = h.response(sid)
            assert status == 200
            assert a_addrs(dns.message.from_wire(body)) == \
                [labunbound.LOCAL_DATA["q%d.dot.test." % (i % 16)][1]]
        assert h.ping()


def test_raw_h2_frames_and_goaway(u, certs):
    with enc.RawH2(u.addr, u.https_port, cafile=certs.ca.cert) as r:
        assert r.ping_flood(200) == 200
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and \
                sum(1 for f in r.frames if f[0] == enc.FRAME["PING"] and f[1] & 1) < 200:
            r.poll(0.2)
        assert sum(1 for f in r.frames if f[0] == enc.FRAME["PING"] and f[1] & 1) == 200
        assert r.outcome(0.2)["goaway"] is None
    # a PING on a stream is a connection error (RFC 9113 6.7): GOAWAY PROTOCOL_ERROR
    with enc.RawH2(u.addr, u.https_port, cafile=certs.ca.cert) as r:
        r.send_frame(enc.FRAME["PING"], 0, 1, b"12345678")
        out = r.outcome(5)
        assert out["goaway"] == 1 and out["frames"].get("GOAWAY") == 1


def test_slowloris_helpers(u, certs):
    with enc.Slowloris(u.addr, u.tls_port, 50, mode="silent") as s:
        assert len(s.socks) == 50 and s.open_count() == 50
        ans, _ = enc.dot_query(u.addr, u.tls_port, q(), cafile=certs.ca.cert)
        assert a_addrs(ans) == [WWW_ADDR]
    with enc.Slowloris(u.addr, u.tls_port, 5, mode="partial") as s:
        assert s.open_count() == 5
    with enc.Slowloris(u.addr, u.tls_port, 3, mode="trickle", interval=0.02) as s:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and min(s.sent.values()) < 3:
            time.sleep(0.02)
        assert min(s.sent.values()) >= 3 and s.open_count() == 3


@pytest.mark.parametrize("tool", ["kdig", "dig"])
@pytest.mark.parametrize("mode,get", [("tls", False), ("https", False), ("https", True)])
def test_real_clients(u, certs, tool, mode, get):
    port = u.tls_port if mode == "tls" else u.https_port
    fn = enc.kdig if tool == "kdig" else enc.dig
    kw = {"get": get} if mode == "https" else {}
    r = fn(u.addr, port, WWW, mode=mode, cafile=certs.ca.cert, **kw)
    assert r.ok() and r.status == "NOERROR", r.out + r.err
    assert r.addresses() == [WWW_ADDR]
    if tool == "kdig":
        assert r.tls and r.tls.startswith("(TLS1.")
        if mode == "https":
            assert r.http_status == 200
    else:
        assert r.transport == {"tls": "TLS", "https": "HTTPS-GET" if get else "HTTPS"}[mode]
    bad = fn(u.addr, port, WWW, mode=mode, cafile=certs.rogue_ca.cert, **kw)
    assert not bad.ok()


def test_what_clients_send(certs):
    """SNI and client certificates as the clients really send them."""
    ca, cl = certs.ca.cert, certs.client
    want = certsmod.fingerprint(cl.cert)
    fp = lambda der: der and "sha256:" + hashlib.sha256(der).hexdigest()  # noqa: E731
    with enc.SniCatcher(certs.server.cert, certs.server.key, client_ca=ca) as c:
        enc.kdig(c.addr, c.port, WWW, cafile=ca, sni="laptop.dns.vigil.test", client_cert=cl,
                 timeout=1)
        assert c.wait(1)
        enc.kdig(c.addr, c.port, WWW, mode="https", cafile=ca, timeout=1)
        assert c.wait(2)
        enc.dig(c.addr, c.port, WWW, cafile=ca, hostname="phone.dns.vigil.test",
                client_cert=cl, timeout=1)
        assert c.wait(3)
        with pytest.raises((ConnectionError, OSError)):
            enc.dot_query(c.addr, c.port, q(), cafile=ca, server_hostname="py.dns.vigil.test",
                          client_cert=cl, timeout=2)
        assert c.wait(4)
        assert c.names == ["laptop.dns.vigil.test", "dns.vigil.test", None,
                           "py.dns.vigil.test"]
        assert c.alpns == ["dot", "h2", "dot", "dot"]
        assert [fp(d) for d in c.client_ders] == [want, None, want, want]


def test_unbound_counts_encrypted_queries(u, certs):
    """The counters vigil's DoT-upstream tests read at the lab's Unbound."""
    before = u.stats()
    enc.dot_query(u.addr, u.tls_port, q(), cafile=certs.ca.cert)
    mid = u.stats()
    assert mid["num.query.tls"] == before["num.query.tls"] + 1
    assert mid.get("num.query.https", 0) == before.get("num.query.https", 0)
    enc.doh_query(u.addr, u.https_port, q(), cafile=certs.ca.cert)
    after = u.stats()
    assert after["num.query.https"] == mid.get("num.query.https", 0) + 1


def test_unbound_recurses_through_the_lab(u, lab):
    """Names outside dot.test. come from the lab's NSD servers (counted there)."""
    before = lab.stats("basic")["num.queries"]
    ans, _ = enc.dot_query(u.addr, u.tls_port, q("www.basic.lab."), verify=False)
    assert ans.rcode() == dns.rcode.NOERROR and ans.answer
    assert lab.stats("basic")["num.queries"] > before
