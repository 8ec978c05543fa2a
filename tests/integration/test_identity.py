"""Client identity over the encrypted transports selects policy groups.

One vigil with DoT, DoH and a client CA (mutual TLS); a source that blocks
www.basic.lab. applies only to the group of client ID laptop7 and to the
group of one client certificate (by its SHA-256 fingerprint); everyone else
(by address) gets a source that blocks another name.  Over real DoT
connections (SNI laptop7.dns.vigil.test), DoH (the path /dns-query/laptop7)
and mutual TLS, the identity decides; the decision log names transport,
identity and why the group was chosen.  DDR announces the two listeners
under tls.server-name with http.path.
"""
import dns.message
import dns.query
import dns.rcode
import pytest

import certs as certsmod
import conftest
import enc
from helpers import assert_answer, wait_log
from test_policy import C1, PolicyVigil, rpz, write

pytestmark = pytest.mark.vigil_only

WWW = "www.basic.lab."
WWW_ADDR = "192.0.2.10"
SNI = "dns.vigil.test"


class IdentityVigil(PolicyVigil):
    def __init__(self, workdir, lab, certs, policy_text):
        super().__init__(workdir, lab, policy_text)
        self.tls_port, self.https_port = conftest.free_port(), conftest.free_port()
        self.extra += ('  listen-tls: [ "127.0.0.1@%d" ]\n  listen-https: [ "127.0.0.1@%d" ]\n'
                       % (self.tls_port, self.https_port))
        self.tls_text = ("tls:\n  certificate: %s\n  key: %s\n  client-ca: %s\n"
                         "  server-name: %s\nhttp:\n  path: /q\n"
                         % (certs.server.cert, certs.server.key, certs.ca.cert, SNI))

    def text(self, extra=None):
        return super().text(extra) + self.tls_text


@pytest.fixture(scope="module")
def ident(lab, certs, tmp_path_factory):
    d = tmp_path_factory.mktemp("identity")
    block = write(d, "block.rpz", rpz("block.rpz.", "www.basic.lab CNAME ."))
    other = write(d, "other.rpz", rpz("other.rpz.", "mail.basic.lab CNAME ."))
    fp = certsmod.fingerprint(certs.client.cert)
    text = ("policy:\n  sources:\n"
            "    - { name: block, type: rpz, file: \"%s\" }\n"
            "    - { name: other, type: rpz, file: \"%s\" }\n"
            "  groups:\n"
            "    - { name: laptops, client-ids: [ laptop7 ], sources: [ block ] }\n"
            "    - { name: certified, client-certs: [ \"%s\" ], sources: [ block ] }\n"
            "    - { name: everyone, clients: [ \"0.0.0.0/0\", \"::/0\" ], sources: [ other ] }\n"
            % (block, other, fp))
    v = IdentityVigil(d, lab, certs, text)
    v.start()
    yield v
    v.stop()


def q(name=WWW):
    return dns.message.make_query(name, "A", use_edns=0)


def blocked(msg):
    return msg.rcode() == dns.rcode.NXDOMAIN and not msg.answer


def test_sni_client_id_selects_the_group(ident, certs):
    ans, _ = enc.dot_query(ident.addr, ident.tls_port, q(), cafile=certs.ca.cert)
    assert_answer(ans, WWW, "A", [WWW_ADDR])  # by address: 'everyone'
    ans, _ = enc.dot_query(ident.addr, ident.tls_port, q(), cafile=certs.ca.cert,
                           server_hostname="laptop7.dns.vigil.test")
    assert blocked(ans), ans
    line = wait_log(ident, r"policy: client .*\(dot id laptop7\) group laptops \(by ")
    assert line and "www.basic.lab" in line, ident.log_tail()
    # another ID, not listed: by address
    ans, _ = enc.dot_query(ident.addr, ident.tls_port, q(), cafile=certs.ca.cert,
                           server_hostname="tablet.dns.vigil.test")
    assert_answer(ans, WWW, "A", [WWW_ADDR])
    # kdig with the ID in SNI (dig sends no SNI)
    k = enc.kdig(ident.addr, ident.tls_port, WWW, "A", mode="tls", cafile=certs.ca.cert,
                 hostname=SNI, sni="laptop7.dns.vigil.test")
    assert k.status == "NXDOMAIN", k.out + k.err


def test_doh_path_client_id_selects_the_group(ident, certs):
    status, _, ans = enc.doh_query(ident.addr, ident.https_port, q(), path="/q",
                                   cafile=certs.ca.cert)
    assert status == 200
    assert_answer(ans, WWW, "A", [WWW_ADDR])
    status, _, ans = enc.doh_query(ident.addr, ident.https_port, q(), path="/q/laptop7",
                                   cafile=certs.ca.cert)
    assert status == 200 and blocked(ans), ans
    assert wait_log(ident, r"policy: client .*\(doh id laptop7\) group laptops"), \
        ident.log_tail()
    # the 'everyone' source still applies to everyone else over DoH
    status, _, ans = enc.doh_query(ident.addr, ident.https_port, q("mail.basic.lab."),
                                   path="/q", cafile=certs.ca.cert)
    assert status == 200 and blocked(ans), ans


def test_client_certificate_selects_the_group(ident, certs):
    fp = certsmod.fingerprint(certs.client.cert)
    ans, _ = enc.dot_query(ident.addr, ident.tls_port, q(), cafile=certs.ca.cert,
                           client_cert=(certs.client.cert, certs.client.key))
    assert blocked(ans), ans
    line = wait_log(ident, r"policy: client .*\(dot cert %s" % fp)
    assert line and "group certified" in line, ident.log_tail()
    # a certificate from the same CA that no group names: by address
    ans, _ = enc.dot_query(ident.addr, ident.tls_port, q(), cafile=certs.ca.cert,
                           client_cert=(certs.client2.cert, certs.client2.key))
    assert_answer(ans, WWW, "A", [WWW_ADDR])
    # over DoH too
    status, _, ans = enc.doh_query(ident.addr, ident.https_port, q(), path="/q",
                                   cafile=certs.ca.cert,
                                   client_cert=(certs.client.cert, certs.client.key))
    assert status == 200 and blocked(ans), ans
    # a certificate no trusted CA signed ends the handshake
    with pytest.raises(Exception):
        enc.dot_query(ident.addr, ident.tls_port, q(), cafile=certs.ca.cert,
                      client_cert=(certs.rogue_client.cert, certs.rogue_client.key))


def test_ddr_announces_the_listeners(ident):
    msg = dns.message.make_query("_dns.resolver.arpa.", "SVCB")
    ans = dns.query.udp(msg, ident.addr, port=ident.port, timeout=3, source=C1)
    assert ans.rcode() == dns.rcode.NOERROR
    recs = sorted((rd for rrset in ans.answer for rd in rrset), key=lambda rd: rd.priority)
    assert len(recs) == 2, ans
    got = []
    for rd in recs:
        p = {int(k): v for k, v in rd.params.items()}
        alpn = [a.decode() for a in p[1].ids]
        got.append((rd.priority, str(rd.target), alpn, p[3].port,
                    [str(a) for a in p[4].addresses]))
        if alpn == ["h2"]:
            dohpath = p[7]
            text = dohpath.value if hasattr(dohpath, "value") else dohpath.to_text()
            text = text.decode() if isinstance(text, bytes) else str(text)
            assert "/q{?dns}" in text, text
    assert got == [(1, SNI + ".", ["dot"], ident.tls_port, ["127.0.0.1"]),
                   (2, SNI + ".", ["h2"], ident.https_port, ["127.0.0.1"])], got
