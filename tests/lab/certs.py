#!/usr/bin/python3
"""Throwaway X.509 material for the encrypted-DNS tests, made with the openssl CLI.

Everything is written into one directory and lives as long as it does: a CA,
server certificates signed by it, client certificates for mutual TLS, and a
second, unrelated CA whose certificates nobody trusts (for the "wrong CA"
cases).  Keys are EC P-256 by default, RSA 2048 on request; every key file is
unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY"), every certificate PEM.  Validity:
from now for DAYS days (or an explicit window, for expired certificates).

    ca = CA.create(dir, "vigil test CA")
    srv = ca.issue_server("srv", "dns.vigil.test", ips=["127.0.0.1", "::1"])
    # SANs: DNS:dns.vigil.test, DNS:*.dns.vigil.test (client IDs in the SNI),
    #       IP:127.0.0.1, IP:::1
    cli = ca.issue_client("laptop", "laptop-1")       # CN=laptop-1, clientAuth
    srv.cert, srv.key, srv.chain (leaf + CA), ca.cert (the trust anchor file)
    fingerprint(cli.cert) -> "sha256:<64 lowercase hex digits>" (of the DER)
    spki_pin(srv.cert)    -> base64 SHA-256 of the SubjectPublicKeyInfo (RFC 7858 4.2)

    lab_certs(dir, ips=[...]) makes the set the tests use (see LabCerts).

CLI (by hand):  certs.py DIR [IP...]   writes the lab set into DIR and prints it.
"""
import base64
import hashlib
import os
import secrets
import shutil
import subprocess
import sys

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
DEFAULT_NAME = "dns.vigil.test"
DAYS = 30


class CertError(Exception):
    pass


def available():
    return os.access(OPENSSL, os.X_OK)


def _run(args, stdin=None):
    """openssl ARGS; its stdout (bytes).  CertError with its stderr on failure."""
    try:
        r = subprocess.run([OPENSSL] + args, input=stdin, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CertError("openssl %s: %s" % (" ".join(args), e))
    if r.returncode != 0:
        raise CertError("openssl %s failed (exit %d): %s"
                        % (" ".join(args), r.returncode, r.stderr.decode(errors="replace")))
    return r.stdout


def _newkey_args(kind):
    if kind == "ec":
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    if kind == "rsa":
        return ["-newkey", "rsa:2048"]
    raise CertError("key kind must be 'ec' or 'rsa', not %r" % (kind,))


def _subject(cn, org="vigil tests"):
    for ch in "/=+,\\":
        if ch in cn:
            raise CertError("keep CNs simple (no %r): %r" % (ch, cn))
    return "/O=%s/CN=%s" % (org, cn)


class Cert:
    """One issued certificate: paths of its PEM files and what it was made for."""

    def __init__(self, directory, base, cn, dns_names=(), ips=(), kind="ec", ca=None):
        self.dir = directory
        self.base = base
        self.cn = cn
        self.dns_names = list(dns_names)
        self.ips = list(ips)
        self.kind = kind
        self.ca = ca
        self.cert = os.path.join(directory, base + ".pem")
        self.key = os.path.join(directory, base + ".key")
        self.chain = os.path.join(directory, base + ".chain.pem")  # leaf + issuing CA
        self.combined = os.path.join(directory, base + ".combined.pem")  # key + leaf

    def fingerprint(self):
        return fingerprint(self.cert)

    def spki_pin(self):
        return spki_pin(self.cert)

    def __repr__(self):
        return "<Cert %s CN=%s %s>" % (self.base, self.cn, self.cert)


class CA:
    def __init__(self, directory, base, cn, kind):
        self.dir = os.path.abspath(directory)
        self.base = base
        self.cn = cn
        self.kind = kind
        self.cert = os.path.join(self.dir, base + ".pem")
        self.key = os.path.join(self.dir, base + ".key")

    @classmethod
    def create(cls, directory, cn="vigil test CA", base="ca", kind="ec", days=DAYS):
        """A new self-signed CA (basicConstraints CA:TRUE, keyCertSign) in DIRECTORY."""
        os.makedirs(directory, exist_ok=True)
        ca = cls(directory, base, cn, kind)
        _run(["req", "-x509", "-new", "-nodes", "-batch"] + _newkey_args(kind) +
             ["-keyout", ca.key, "-out", ca.cert, "-days", str(days),
              "-subj", _subject(cn), "-sha256",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign",
              "-addext", "subjectKeyIdentifier=hash"])
        os.chmod(ca.key, 0o600)
        return ca

    def _issue(self, base, cn, extensions, kind, days, not_before=None):
        c = Cert(self.dir, base, cn, kind=kind, ca=self)
        csr = os.path.join(self.dir, base + ".csr")
        ext = os.path.join(self.dir, base + ".ext")
        with open(ext, "w") as f:
            f.write("[v3]\n" + "".join("%s\n" % e for e in extensions))
        _run(["req", "-new", "-nodes", "-batch"] + _newkey_args(kind) +
             ["-keyout", c.key, "-out", csr, "-subj", _subject(cn)])
        os.chmod(c.key, 0o600)
        args = ["x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                "-set_serial", "0x" + secrets.token_hex(16).lstrip("0"), "-sha256",
                "-extfile", ext, "-extensions", "v3", "-out", c.cert]
        if not_before is None:
            args += ["-days", str(days)]
        else:  # openssl 3.0's x509 has no -not_before: go through 'ca' instead
            return self._issue_ca_cmd(c, csr, ext, not_before, days)
        _run(args)
        self._finish(c)
        os.unlink(csr)
        return c

    def _issue_ca_cmd(self, c, csr, ext, not_before, days):
        """Sign CSR with explicit validity (openssl ca -startdate/-enddate), for
        expired or not-yet-valid certificates."""
        import datetime
        db = os.path.join(self.dir, "ca-db")
        os.makedirs(db, exist_ok=True)
        index = os.path.join(db, "index.txt")
        open(index, "a").close()
        conf = os.path.join(db, "ca.cnf")
        with open(conf, "w") as f:
            f.write("[ca]\ndefault_ca = d\n[d]\ndatabase = %s\nnew_certs_dir = %s\n"
                    "serial = %s/serial\npolicy = p\ndefault_md = sha256\n"
                    "unique_subject = no\ncopy_extensions = none\n"
                    "[p]\ncommonName = supplied\norganizationName = optional\n"
                    % (index, db, db))
        with open(os.path.join(db, "serial"), "w") as f:
            f.write(secrets.token_hex(16).lstrip("0").rjust(2, "1") + "\n")
        start = datetime.datetime.utcnow() + datetime.timedelta(seconds=not_before)
        end = start + datetime.timedelta(days=days)
        fmt = "%Y%m%d%H%M%SZ"
        _run(["ca", "-batch", "-config", conf, "-in", csr, "-out", c.cert,
              "-cert", self.cert, "-keyfile", self.key, "-notext",
              "-startdate", start.strftime(fmt), "-enddate", end.strftime(fmt),
              "-extfile", ext, "-extensions", "v3"])
        self._finish(c)
        os.unlink(csr)
        return c

    def _finish(self, c):
        with open(c.cert) as f:
            leaf = f.read()
        with open(self.cert) as f:
            ca = f.read()
        with open(c.key) as f:
            key = f.read()
        with open(c.chain, "w") as f:
            f.write(leaf + ca)
        with open(c.combined, "w") as f:
            f.write(key + leaf)
        os.chmod(c.combined, 0o600)

    def issue_server(self, base, name=DEFAULT_NAME, ips=(), wildcard=True, extra_dns=(),
                     kind="ec", days=DAYS, not_before=None):
        """A TLS server certificate: CN=NAME, SANs DNS:NAME, DNS:*.NAME (WILDCARD:
        client IDs in the server name), EXTRA_DNS, and an IP SAN per IPS.
        NOT_BEFORE (seconds from now, may be negative) with DAYS makes an
        expired (-40 days, days=1) or not-yet-valid certificate."""
        dns_names = [name] + (["*." + name] if wildcard else []) + list(extra_dns)
        san = ["DNS:" + d for d in dns_names] + ["IP:" + ip for ip in ips]
        ext = ["basicConstraints=critical,CA:FALSE",
               "keyUsage=critical,digitalSignature" + (",keyEncipherment" if kind == "rsa" else ""),
               "extendedKeyUsage=serverAuth",
               "subjectKeyIdentifier=hash",
               "authorityKeyIdentifier=keyid",
               "subjectAltName=" + ",".join(san)]
        c = self._issue(base, name, ext, kind, days, not_before)
        c.dns_names, c.ips = dns_names, list(ips)
        return c

    def issue_client(self, base, cn, kind="ec", days=DAYS):
        """A TLS client certificate (extendedKeyUsage clientAuth) with CN and no SAN."""
        ext = ["basicConstraints=critical,CA:FALSE",
               "keyUsage=critical,digitalSignature" + (",keyEncipherment" if kind == "rsa" else ""),
               "extendedKeyUsage=clientAuth",
               "subjectKeyIdentifier=hash",
               "authorityKeyIdentifier=keyid"]
        return self._issue(base, cn, ext, kind, days)


def der(cert_path):
    """The DER bytes of the (first) certificate in a PEM file."""
    return _run(["x509", "-in", cert_path, "-outform", "DER"])


def fingerprint(cert_path):
    """'sha256:' + lowercase hex SHA-256 of the certificate's DER encoding."""
    return "sha256:" + hashlib.sha256(der(cert_path)).hexdigest()


def spki_der(cert_path):
    """DER of the certificate's SubjectPublicKeyInfo."""
    pub = _run(["x509", "-in", cert_path, "-noout", "-pubkey"])
    return _run(["pkey", "-pubin", "-outform", "DER"], stdin=pub)


def spki_pin(cert_path):
    """RFC 7858 section 4.2 pin: base64 of SHA-256 over the SubjectPublicKeyInfo."""
    return base64.b64encode(hashlib.sha256(spki_der(cert_path)).digest()).decode()


def subject(cert_path):
    """The subject as openssl prints it in RFC 2253 form, e.g. 'CN=laptop-1,O=vigil tests'."""
    out = _run(["x509", "-in", cert_path, "-noout", "-subject", "-nameopt", "RFC2253"])
    return out.decode().strip().partition("=")[2].strip()


def key_matches(cert_path, key_path):
    """True if KEY_PATH is the private key of CERT_PATH's public key."""
    pub_cert = spki_der(cert_path)
    pub_key = _run(["pkey", "-in", key_path, "-pubout", "-outform", "DER"])
    return pub_cert == pub_key


class LabCerts:
    """The set the integration tests use, all under one directory:

    ca          the trusted CA (ca.cert is the file clients and vigil's client-ca load)
    server      CN/SAN NAME, *.NAME, IPs                (EC P-256)
    server2     same names, its own key and serial      (reload tests: a different cert)
    server_rsa  same names, RSA 2048
    wrongname   CN/SAN wrong.vigil.test, same IPs       (name mismatch)
    expired     same names, expired 10 days ago
    client      CN=client-1 (mTLS), client2 CN=client-2
    rogue_ca    an unrelated CA nobody is told to trust
    rogue_server / rogue_client  issued by rogue_ca, otherwise like server / client
    """

    def __init__(self, directory, name=DEFAULT_NAME, ips=("127.0.0.1", "::1"), kind="ec"):
        self.dir = os.path.abspath(directory)
        self.name = name
        self.ips = list(ips)
        self.ca = CA.create(self.dir, "vigil test CA", "ca", kind)
        self.server = self.ca.issue_server("server", name, self.ips, kind=kind)
        self.server2 = self.ca.issue_server("server2", name, self.ips, kind=kind)
        self.server_rsa = self.ca.issue_server("server-rsa", name, self.ips, kind="rsa")
        self.wrongname = self.ca.issue_server("wrongname", "wrong.vigil.test", self.ips,
                                              kind=kind)
        self.expired = self.ca.issue_server("expired", name, self.ips, kind=kind,
                                            not_before=-11 * 86400, days=1)
        self.client = self.ca.issue_client("client-1", "client-1", kind=kind)
        self.client2 = self.ca.issue_client("client-2", "client-2", kind=kind)
        self.rogue_ca = CA.create(self.dir, "rogue CA", "rogue-ca", kind)
        self.rogue_server = self.rogue_ca.issue_server("rogue-server", name, self.ips,
                                                       kind=kind)
        self.rogue_client = self.rogue_ca.issue_client("rogue-client", "client-1", kind=kind)

    def all(self):
        return {k: v for k, v in vars(self).items() if isinstance(v, (Cert, CA))}


def lab_certs(directory, name=DEFAULT_NAME, ips=("127.0.0.1", "::1"), kind="ec"):
    return LabCerts(directory, name, ips, kind)


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 2
    ips = argv[2:] or ["127.0.0.1", "::1"]
    lc = lab_certs(argv[1], ips=ips)
    for k, v in lc.all().items():
        if isinstance(v, CA):
            print("%-13s CA   %s" % (k, v.cert))
        else:
            print("%-13s %-4s %s  %s  pin %s" % (k, v.kind, v.cert, fingerprint(v.cert),
                                                spki_pin(v.cert)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
