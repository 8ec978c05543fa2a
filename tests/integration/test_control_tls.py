"""Remote vigilctl over TCP+TLS with a client certificate (issue 12, part 1).

One vigil of the lab with `control.listen-tls` on 127.0.0.1 and the test
certificates (tests/lab/certs.py): its server certificate, and the test CA
as `control.client-ca`.  vigilctl -r ADDRESS@PORT:

* with a client certificate of that CA: status and a flush work (same
  protocol as the unix socket), the flush logged with the certificate;
* without a client certificate: refused ("client certificate ... is
  required"), logged, nothing done;
* with a certificate of another CA (rogue_client): the handshake fails,
  logged as refused;
* vigilctl refuses a server whose certificate its --ca did not sign;
* a config with listen-tls but no client-ca is refused at start.
"""
import os
import socket
import ssl
import subprocess

import pytest

import conftest
from helpers import expect_log
from test_control import CtlVigil, VIGILCTL, blocklist_policy

pytestmark = pytest.mark.vigil_only


def rctl(addr, *args, cert=None, key=None, ca=None, json_out=False):
    cmd = [VIGILCTL, "-r", addr]
    if cert:
        cmd += ["--cert", cert]
    if key:
        cmd += ["--key", key]
    if ca:
        cmd += ["--ca", ca]
    cmd += (["--json"] if json_out else []) + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture(scope="module")
def tv(lab, certs, tmp_path_factory):
    d = tmp_path_factory.mktemp("ctltls")
    port = conftest.free_port()
    addr = "127.0.0.1@%d" % port
    control = ("  listen-tls: \"%s\"\n  tls-certificate: \"%s\"\n  tls-key: \"%s\"\n"
               "  client-ca: \"%s\"\n" % (addr, certs.server.cert, certs.server.key,
                                          certs.ca.cert))
    vig = CtlVigil(d, lab, blocklist_policy(str(d)), control)
    try:
        vig.start()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    vig.tls_addr = addr
    yield vig
    vig.stop()


def test_good_client_certificate(tv, certs):
    c = certs.client
    rc, out, err = rctl(tv.tls_addr, "status", cert=c.cert, key=c.key, ca=certs.ca.cert)
    assert rc == 0, (out, err)
    assert "vigil %s" % conftest.VIGIL_VERSION in out and tv.config_path in out
    rc, out, err = rctl(tv.tls_addr, "flush", "example.", cert=c.cert, key=c.key,
                        ca=certs.ca.cert, json_out=True)
    assert rc == 0 and '"removed"' in out, (out, err)
    expect_log(tv, r"control: flushed entries at example\. .*asked by TLS client "
                 r"127\.0\.0\.1@\d+ \(certificate .*CN ?= ?client-1")


def test_no_client_certificate_is_refused(tv, certs):
    rc, out, err = rctl(tv.tls_addr, "flush", ca=certs.ca.cert)
    assert rc == 2 and "needs --cert" in err  # vigilctl itself wants one
    # a client that sends none (Python's ssl): vigil answers an error, logs it
    host, port = tv.tls_addr.split("@")
    before = tv.log_text().count("control: flushed")
    ctx = ssl.create_default_context(cafile=certs.ca.cert)
    ctx.check_hostname = False
    with socket.create_connection((host, int(port)), timeout=20) as raw:
        with ctx.wrap_socket(raw) as s:
            s.sendall(b"VIGILCTL/1 text flush\n")
            got = b""
            while True:
                try:
                    chunk = s.recv(4096)
                except (ssl.SSLError, OSError):
                    break
                if not chunk:
                    break
                got += chunk
    assert got.startswith(b"error\npermission denied: a client certificate signed by "
                          b"control.client-ca is required"), got
    expect_log(tv, r"control: refused TLS client 127\.0\.0\.1@\d+: no client certificate")
    assert tv.log_text().count("control: flushed") == before


def test_wrong_ca_is_refused(tv, certs):
    before = tv.log_text().count("control: flushed")
    r = certs.rogue_client
    rc, out, err = rctl(tv.tls_addr, "flush", cert=r.cert, key=r.key, ca=certs.ca.cert)
    assert rc == 2 and not out, (out, err)
    expect_log(tv, r"control: refused TLS client 127\.0\.0\.1@\d+: TLS handshake failed")
    assert tv.log_text().count("control: flushed") == before
    # and vigilctl checks the server: a --ca that did not sign vigil's certificate
    c = certs.client
    rc, out, err = rctl(tv.tls_addr, "status", cert=c.cert, key=c.key, ca=certs.rogue_ca.cert)
    assert rc == 2 and "the server's certificate" in err and not out, (out, err)


def test_listen_tls_needs_client_ca(lab, certs, tmp_path):
    control = ("  listen-tls: \"127.0.0.1@%d\"\n  tls-certificate: \"%s\"\n"
               "  tls-key: \"%s\"\n" % (conftest.free_port(), certs.server.cert,
                                        certs.server.key))
    vig = CtlVigil(tmp_path, lab, blocklist_policy(str(tmp_path)), control)
    vig.write_config()
    p = subprocess.run([conftest.VIGIL_BIN, "--check-config", vig.config_path],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "control.listen-tls needs" in p.stdout + p.stderr, p

