#!/usr/bin/python3
"""Debian's Unbound as a DNS-over-TLS / DNS-over-HTTPS server for the tests.

One unbound on one loopback address, serving plain DNS (udp+tcp), DoT
(tls-port) and DoH (https-port, HTTP/2 via the nghttp2 Debian builds in) with
a certificate from tests/lab/certs.py.  It answers a local zone of its own
(LOCAL_ZONE, from local-data: no upstream traffic at all) and, when given the
lab's root hints, everything else by recursion through the lab's NSD servers
(or through FORWARD zones).  It is the DoT upstream of vigil's forward-zone
tests and the peer the helpers in tests/integration/enc.py are checked
against.

Its config, log, pidfile and control socket are all under its own directory;
chroot "" and username "" (runs as the caller); started in the foreground and
stopped only through the PID it was started with.

    u = LabUnbound(dir, "127.53.210.1", cert, key)        # cert/key: PEM paths
    u = LabUnbound(dir, addr, cert, key, root_hints=lab.root_hints)   # + recursion
    u.start(); u.addr, u.port (53), u.tls_port (853), u.https_port (443); u.stop()
    u.stats() -> {"num.query.tls": 3, "num.query.https": 1, ...}  (control=True only)

Addresses: the integration fixtures put it on <lab prefix>.210.1 (ADDR_OCTETS
below), next to the lab (tests/lab/lab.py owns <prefix>.0-11.x, the RPZ feed
test <prefix>.200.x); the ports are the standard ones because the address is
the lab's own.  Pass other ports for anything else.
"""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

try:
    import dns.message
    import dns.query
    import dns.rcode
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    import dns.message
    import dns.query
    import dns.rcode

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
UNBOUND_CONTROL = shutil.which("unbound-control") or "/usr/sbin/unbound-control"
ADDR_OCTETS = "210.1"          # <prefix>.210.1: the lab's Unbound
VIGIL_OCTETS = ["210.%d" % i for i in range(2, 10)]  # for vigil instances with TLS
LOCAL_ZONE = "dot.test."       # answered by this Unbound itself
# name -> (type, rdata): the local zone's content (TTL 300)
LOCAL_DATA = {
    "www.dot.test.": ("A", "192.0.2.53"),
    "v6.dot.test.": ("AAAA", "2001:db8::53"),
    "txt.dot.test.": ("TXT", '"served by the lab unbound"'),
}
for _i in range(16):  # q0 .. q15: distinct names for pipelining tests
    LOCAL_DATA["q%d.dot.test." % _i] = ("A", "192.0.2.%d" % (100 + _i))


class UnboundError(Exception):
    pass


class UnboundBusy(UnboundError):
    """One of its address:port pairs is taken."""


def available():
    """(True, "") if Debian's unbound is there and can serve DoH; else (False, why)."""
    if not os.access(UNBOUND, os.X_OK):
        return False, "unbound not installed (apt-get install unbound)"
    try:
        v = subprocess.run([UNBOUND, "-V"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, "unbound -V: %s" % e
    if "--with-libnghttp2" not in v:
        return False, "this unbound was built without nghttp2 (no DoH)"
    return True, ""


def addr_for(prefix):
    return "%s.%s" % (prefix, ADDR_OCTETS)


def port_free(addr, port):
    """None if ADDR:PORT is free for tcp (and udp), else the error text."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(fam, kind)
        try:
            s.bind((addr, port))
        except OSError as e:
            return "%s %s:%d: %s" % ("tcp" if kind == socket.SOCK_STREAM else "udp",
                                     addr, port, e.strerror)
        finally:
            s.close()
    return None


class LabUnbound:
    def __init__(self, directory, addr, cert, key, port=53, tls_port=853, https_port=443,
                 root_hints=None, trust_anchor=None, forward=None, local_data=None,
                 threads=1, http_path="/dns-query", control=False, verbosity=1,
                 log_queries=False, extra=""):
        """FORWARD: {zone: [addr or addr@port, ...]}; LOCAL_DATA defaults to
        LOCAL_DATA above; TRUST_ANCHOR (a DS/DNSKEY file) turns validation on;
        EXTRA: more 'server:' lines, verbatim."""
        self.dir = os.path.abspath(directory)
        self.addr = addr
        self.port = int(port)
        self.tls_port = int(tls_port)
        self.https_port = int(https_port)
        self.cert = os.path.abspath(cert)
        self.key = os.path.abspath(key)
        self.root_hints = root_hints
        self.trust_anchor = trust_anchor
        self.forward = dict(forward or {})
        self.local_data = dict(LOCAL_DATA if local_data is None else local_data)
        self.threads = int(threads)
        self.http_path = http_path
        self.control = control
        self.verbosity = verbosity
        self.log_queries = log_queries
        self.extra = extra
        self.proc = None
        self.conf = os.path.join(self.dir, "unbound.conf")
        self.pidfile = os.path.join(self.dir, "unbound.pid")        # ours: Popen's PID
        self.own_pidfile = os.path.join(self.dir, "unbound-own.pid")  # unbound's own
        self.log_path = os.path.join(self.dir, "unbound.log")
        self.out_path = os.path.join(self.dir, "unbound.out")
        self.ctl_sock = os.path.join(self.dir, "control.sock")
        os.makedirs(self.dir, exist_ok=True)

    # ------------------------------------------------------------ config
    def config_text(self):
        a = self.addr
        lines = ["# generated by tests/lab/labunbound.py",
                 "server:",
                 "  interface: %s@%d" % (a, self.port),
                 "  interface: %s@%d" % (a, self.tls_port),
                 "  interface: %s@%d" % (a, self.https_port),
                 "  port: %d" % self.port,
                 "  tls-port: %d" % self.tls_port,
                 "  https-port: %d" % self.https_port,
                 '  tls-service-key: "%s"' % self.key,
                 '  tls-service-pem: "%s"' % self.cert,
                 '  http-endpoint: "%s"' % self.http_path,
                 "  http-notls-downstream: no",
                 "  do-ip4: %s" % ("no" if ":" in a else "yes"),
                 "  do-ip6: %s" % ("yes" if ":" in a else "no"),
                 "  do-udp: yes",
                 "  do-tcp: yes",
                 "  do-daemonize: no",
                 '  chroot: ""',
                 '  username: ""',
                 '  directory: "%s"' % self.dir,
                 '  pidfile: "%s"' % self.own_pidfile,
                 "  use-syslog: no",
                 '  logfile: "%s"' % self.log_path,
                 "  log-time-ascii: yes",
                 "  verbosity: %d" % self.verbosity,
                 "  log-queries: %s" % ("yes" if self.log_queries else "no"),
                 "  num-threads: %d" % self.threads,
                 "  access-control: 127.0.0.0/8 allow",
                 "  access-control: ::1/128 allow",
                 "  do-not-query-localhost: no",
                 "  qname-minimisation: yes",
                 "  minimal-responses: yes",
                 "  incoming-num-tcp: 200",
                 "  edns-buffer-size: 1232",
                 "  prefetch: no",
                 # the lab's recursion can be slow on purpose (lame servers)
                 "  discard-timeout: 10000",
                 "  extended-statistics: yes",
                 "  statistics-cumulative: yes"]
        if self.root_hints:
            lines.append('  root-hints: "%s"' % self.root_hints)
        if self.trust_anchor:
            lines += ['  module-config: "validator iterator"',
                      '  trust-anchor-file: "%s"' % self.trust_anchor]
        else:
            lines.append('  module-config: "iterator"')
        zone = LOCAL_ZONE
        lines.append('  local-zone: "%s" static' % zone)
        lines.append('  local-data: "%s 300 IN SOA ns.%s hostmaster.%s 1 3600 600 86400 300"'
                     % (zone, zone, zone))
        lines.append('  local-data: "%s 300 IN NS ns.%s"' % (zone, zone))
        lines.append('  local-data: "ns.%s 300 IN A %s"' % (zone, "192.0.2.1"))
        for name, (rtype, rdata) in sorted(self.local_data.items()):
            lines.append("  local-data: '%s 300 IN %s %s'" % (name, rtype, rdata))
        if self.extra:
            lines += ["  " + l.strip() for l in self.extra.strip().splitlines()]
        lines.append("remote-control:")
        if self.control:
            lines += ["  control-enable: yes",
                      '  control-interface: "%s"' % self.ctl_sock,
                      "  control-use-cert: no"]
        else:
            lines.append("  control-enable: no")
        for zone, ups in sorted(self.forward.items()):
            lines += ["forward-zone:", '  name: "%s"' % zone]
            lines += ["  forward-addr: %s" % u for u in ups]
        return "\n".join(lines) + "\n"

    def write_config(self):
        with open(self.conf, "w") as f:
            f.write(self.config_text())
        checkconf = shutil.which("unbound-checkconf") or "/usr/sbin/unbound-checkconf"
        if os.access(checkconf, os.X_OK):
            r = subprocess.run([checkconf, self.conf], capture_output=True, text=True,
                               timeout=30)
            if r.returncode != 0:
                raise UnboundError("unbound-checkconf %s: %s%s"
                                   % (self.conf, r.stdout, r.stderr))

    # ------------------------------------------------------------ process
    def start(self, timeout=10.0):
        if self.alive():
            return
        for p in (self.port, self.tls_port, self.https_port):
            why = port_free(self.addr, p)
            if why:
                raise UnboundBusy("cannot start the lab unbound: %s" % why)
        self.write_config()
        out = open(self.out_path, "ab")
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=out, start_new_session=True,
                                     close_fds=True)
        out.close()
        with open(self.pidfile, "w") as f:
            f.write("%d\n" % self.proc.pid)
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise UnboundError("unbound exited with status %s at start-up; log %s:\n%s"
                                   % (self.proc.returncode, self.log_path, self.log_tail()))
            ok, last = self.ready()
            if ok:
                return
            time.sleep(0.1)
        self.stop()
        raise UnboundError("unbound did not serve within %.0f s (%s); log:\n%s"
                           % (timeout, last, self.log_tail()))

    def ready(self):
        """(True, _) once plain DNS answers the local zone and the DoT and DoH
        ports complete a TLS handshake."""
        try:
            r = dns.query.udp(dns.message.make_query("www." + LOCAL_ZONE, "A"), self.addr,
                              port=self.port, timeout=0.3)
            if r.rcode() != dns.rcode.NOERROR or not r.answer:
                return False, "plain DNS answered %s" % dns.rcode.to_text(r.rcode())
        except Exception as e:
            return False, "plain DNS: %s: %s" % (type(e).__name__, e)
        for port, alpn in ((self.tls_port, "dot"), (self.https_port, "h2")):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols([alpn])
            try:
                with socket.create_connection((self.addr, port), timeout=1.0) as s:
                    with ctx.wrap_socket(s):
                        pass
            except (OSError, ssl.SSLError) as e:
                return False, "TLS on port %d: %s" % (port, e)
        return True, "ok"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=5.0):
        """SIGTERM to the PID we started (recorded in self.pidfile), then SIGKILL."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        for p in (self.pidfile, self.own_pidfile):
            try:
                os.unlink(p)
            except OSError:
                pass

    def reload(self):
        """SIGHUP: re-read the config (and the certificate files)."""
        if not self.alive():
            raise UnboundError("unbound is not running")
        self.proc.send_signal(signal.SIGHUP)

    # ------------------------------------------------------------ observing
    def stats(self):
        """Counters from `unbound-control stats_noreset` (needs control=True):
        num.query.tls, num.query.https, num.query.tcp, num.queries, ..."""
        if not self.control:
            raise UnboundError("LabUnbound(control=True) is needed for stats()")
        r = subprocess.run([UNBOUND_CONTROL, "-c", self.conf, "-s", self.ctl_sock,
                            "stats_noreset"], capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise UnboundError("unbound-control stats_noreset: %s%s" % (r.stdout, r.stderr))
        out = {}
        for line in r.stdout.splitlines():
            k, _, v = line.partition("=")
            try:
                out[k] = float(v) if "." in v else int(v)
            except ValueError:
                out[k] = v
        return out

    def log_text(self):
        text = ""
        for p in (self.out_path, self.log_path):
            try:
                with open(p, errors="replace") as f:
                    text += f.read()
            except OSError:
                pass
        return text

    def log_tail(self, n=30):
        return "".join(self.log_text().splitlines(True)[-n:])


def main(argv):
    """labunbound.py DIR ADDR CERT KEY [ROOT_HINTS]: run in the foreground until Ctrl-C."""
    if len(argv) < 5:
        print(__doc__)
        return 2
    u = LabUnbound(argv[1], argv[2], argv[3], argv[4],
                   root_hints=argv[5] if len(argv) > 5 else None)
    u.start()
    print("unbound pid %d: %s@%d (dns) @%d (DoT) @%d (DoH %s); log %s"
          % (u.proc.pid, u.addr, u.port, u.tls_port, u.https_port, u.http_path, u.log_path))
    try:
        while u.alive():
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        u.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
