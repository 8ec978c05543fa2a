"""A bogus answer from one server of a zone is not the zone's last word
(issue 11 section 1): vigil drops that server's data, does not ask it again
for the zone in that request, and asks the zone's other servers, a bounded
number of times (VG_RESOLV_BOGUS_RETRIES in src/resolv/resolv.h), before it
answers SERVFAIL.

A hierarchy of its own, signed here with dnspython (ECDSA P-256, NSEC), and
served by in-process authoritative servers on <lab prefix>.77.x, port 53:

* root (.77.1): the root, delegating twin., stale. and broken. with DS;
* twin.: ns1.twin. (.77.2) serves a copy whose A records were changed after
  signing (the RRSIGs no longer match); twin-ns2. (.77.3) the good copy;
* stale.: ns1.stale. (.77.4) serves an old copy signed with a key the
  parent's DS does not vouch for (its DNSKEY set is stale); stale-ns2.
  (.77.5) the good copy;
* broken.: both ns1 (.77.6) and ns2 (.77.7) serve tampered copies.

In twin. and stale. only the broken server has glue (the good one's name,
twin-ns2., is the root's own data): vigil asks the server it has an address
for first, so it meets the broken one first on its first query, every time.
The good servers answer 60 ms late, so that afterwards, with both
addresses known, vigil still tends to prefer the broken one.  The servers'
own counters show whom vigil asked.
"""
import os
import re
import socket
import socketserver
import struct
import threading
import time

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from helpers import assert_rcode, rdatas, show
from test_daemon import Custom
from test_failures import edes

pytestmark = pytest.mark.vigil_only

RETRIES = 3  # VG_RESOLV_BOGUS_RETRIES (src/resolv/resolv.h)
GOOD_ADDR = "192.0.2.%d"  # nN.<zone> A in the good copies
BAD_ADDR = "198.51.100.254"  # what a tampered copy says instead
NAMES = 8  # n1..n8 in every zone
SLOW = 0.06  # the good servers' delay (steers vigil's choice, never asserted)
IN = dns.rdataclass.IN
ALG = dns.dnssec.Algorithm.ECDSAP256SHA256


def N(text):
    return dns.name.from_text(text)


class Key:
    def __init__(self, flags=257):
        self.priv = ec.generate_private_key(ec.SECP256R1())
        self.dnskey = dns.dnssec.make_dnskey(self.priv.public_key(), ALG, flags)


class Zone:
    """A signed zone: {name: {rdtype: rrset}}, one key (KSK and ZSK at once),
    an NSEC chain; delegations (NS below the apex) with their DS signed and
    glue unsigned."""

    def __init__(self, origin, text, key, tamper=False):
        self.origin = N(origin)
        self.key = key
        self.data = {}
        self.cuts = set()
        now = int(time.time())
        for line in text.strip().splitlines():
            owner, ttl, rdtype, rdata = line.split(None, 3)
            self.add(N(owner), int(ttl), rdtype, rdata)
        self.add(self.origin, 3600, "DNSKEY", key.dnskey.to_text())
        self.cuts = {n for n, node in self.data.items()
                     if n != self.origin and dns.rdatatype.NS in node}
        auth = sorted(n for n in self.data if not self.is_glue(n))
        for i, n in enumerate(auth):
            types = sorted(dns.rdatatype.to_text(t) for t in self.data[n]
                           if n not in self.cuts or t in (dns.rdatatype.NS, dns.rdatatype.DS))
            self.add(n, 300, "NSEC", "%s %s RRSIG NSEC" % (auth[(i + 1) % len(auth)],
                                                            " ".join(types)))
        for n in auth:
            for t, rrset in list(self.data[n].items()):
                if n in self.cuts and t == dns.rdatatype.NS:
                    continue  # the child's, not signed here
                sig = dns.dnssec.sign(rrset, key.priv, self.origin, key.dnskey,
                                      inception=now - 3600, expiration=now + 30 * 86400)
                self.data[n][(dns.rdatatype.RRSIG, t)] = dns.rrset.from_rdata(n, rrset.ttl, sig)
        if tamper:  # after signing: the RRSIGs no longer match
            for n, node in self.data.items():
                if re.match(rb"n\d+$", n.labels[0]) and dns.rdatatype.A in node:
                    node[dns.rdatatype.A] = dns.rrset.from_text(n, 3600, IN, "A", BAD_ADDR)

    def add(self, owner, ttl, rdtype, rdata):
        t = dns.rdatatype.from_text(rdtype)
        rd = dns.rdata.from_text(IN, t, rdata, origin=self.origin, relativize=False)
        node = self.data.setdefault(owner, {})
        if t not in node:
            node[t] = dns.rrset.RRset(owner, IN, t)
        node[t].add(rd, ttl)

    def is_glue(self, n):
        return any(n != c and n.is_subdomain(c) for c in self.cuts)

    def rrsets(self, n, t):
        node = self.data.get(n, {})
        out = [node[t]] if t in node else []
        if (dns.rdatatype.RRSIG, t) in node:
            out.append(node[(dns.rdatatype.RRSIG, t)])
        return out

    def nsec_covering(self, qname):
        owners = sorted(n for n, node in self.data.items() if dns.rdatatype.NSEC in node)
        prev = owners[-1]
        for n in owners:
            if n < qname:
                prev = n
        return self.rrsets(prev, dns.rdatatype.NSEC)

    def answer(self, q, r):
        qname, qtype = q.question[0].name, q.question[0].rdtype
        for cut in sorted(self.cuts, key=len, reverse=True):
            if qname.is_subdomain(cut) and not (qname == cut and qtype == dns.rdatatype.DS):
                r.authority += [self.data[cut][dns.rdatatype.NS]]
                r.authority += self.rrsets(cut, dns.rdatatype.DS)
                for ns in self.data[cut][dns.rdatatype.NS]:
                    if ns.target.is_subdomain(cut):  # glue only
                        r.additional += self.rrsets(ns.target, dns.rdatatype.A)
                return
        r.flags |= dns.flags.AA
        soa = self.rrsets(self.origin, dns.rdatatype.SOA)
        if qname in self.data and not self.is_glue(qname):
            got = self.rrsets(qname, qtype)
            if got:
                r.answer += got
            else:
                r.authority += soa + self.rrsets(qname, dns.rdatatype.NSEC)
            return
        r.set_rcode(dns.rcode.NXDOMAIN)
        r.authority += soa + self.nsec_covering(qname)
        wild = self.nsec_covering(N("*").concatenate(self.origin))
        if wild[0] not in r.authority:
            r.authority += wild


class Auth:
    """One authoritative server (UDP and TCP on ADDR:53) serving ZONE; it
    counts the queries it gets per (name, type)."""

    def __init__(self, addr, zone, delay=0.0):
        self.addr, self.zone, self.delay = addr, zone, delay
        self.counts, self.lock = {}, threading.Lock()
        outer = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self):
                out = outer.reply(self.request[0])
                if out:
                    self.request[1].sendto(out, self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self):
                hdr = self.request.recv(2)
                if len(hdr) == 2:
                    n = struct.unpack("!H", hdr)[0]
                    data = b""
                    while len(data) < n:
                        chunk = self.request.recv(n - len(data))
                        if not chunk:
                            return
                        data += chunk
                    out = outer.reply(data)
                    if out:
                        self.request.sendall(struct.pack("!H", len(out)) + out)

        socketserver.ThreadingUDPServer.allow_reuse_address = True
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.servers = [socketserver.ThreadingUDPServer((addr, 53), Udp),
                        socketserver.ThreadingTCPServer((addr, 53), Tcp)]
        for s in self.servers:
            s.daemon_threads = True
            threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True).start()

    def reply(self, wire):
        try:
            q = dns.message.from_wire(wire)
        except Exception:
            return None
        if len(q.question) != 1:
            return None
        key = (q.question[0].name.to_text().lower(), dns.rdatatype.to_text(q.question[0].rdtype))
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
        r = dns.message.make_response(q)
        r.use_edns(0, dns.flags.DO, 1232)
        if q.question[0].name.is_subdomain(self.zone.origin):
            self.zone.answer(q, r)
        else:
            r.set_rcode(dns.rcode.REFUSED)
        if self.delay:
            time.sleep(self.delay)
        return r.to_wire(max_size=65535)

    def asked(self, name, rdtype="A"):
        with self.lock:
            return self.counts.get((name.lower(), rdtype), 0)

    def stop(self):
        for s in self.servers:
            s.shutdown()
            s.server_close()


def ns2_name(zone):
    """The good server's name: in the zone (with glue), or for twin. and
    stale. a name of the root's (no glue in the referral)."""
    return "ns2.broken." if zone == "broken." else zone.rstrip(".") + "-ns2."


def zone_text(origin, ns1, ns2, good):
    lines = ["%s 3600 SOA ns1.%s hostmaster.%s 1 3600 600 86400 300" % (origin, origin, origin),
             "%s 3600 NS ns1.%s" % (origin, origin), "%s 3600 NS %s" % (origin, ns2_name(origin)),
             "ns1.%s 3600 A %s" % (origin, ns1)]
    if ns2_name(origin).endswith("." + origin):
        lines.append("%s 3600 A %s" % (ns2_name(origin), ns2))
    lines += ["n%d.%s 3600 A %s" % (i, origin, GOOD_ADDR % (good + i)) for i in range(1, NAMES + 1)]
    return "\n".join(lines)


class Hierarchy:
    ZONES = {"twin.": 10, "stale.": 30, "broken.": 50}  # base of the good addresses

    def __init__(self, prefix):
        a = lambda n: "%s.77.%d" % (prefix, n)
        self.root_addr = a(1)
        self.addrs = {"twin.": (a(2), a(3)), "stale.": (a(4), a(5)), "broken.": (a(6), a(7))}
        keys = {z: Key() for z in self.ZONES}
        old = Key()  # stale.'s key before a rollover its ns1 never saw
        root_key = Key()
        root = [". 3600 SOA a.root. hostmaster.root. 1 3600 600 86400 300",
                ". 3600 NS a.root.", "a.root. 3600 A %s" % self.root_addr]
        for z, (ns1, ns2) in self.addrs.items():
            root += ["%s 3600 NS ns1.%s" % (z, z), "%s 3600 NS %s" % (z, ns2_name(z)),
                     "ns1.%s 3600 A %s" % (z, ns1), "%s 3600 A %s" % (ns2_name(z), ns2),
                     "%s 3600 DS %s" % (z, dns.dnssec.make_ds(z, keys[z].dnskey, "SHA256"))]
        self.root_ds = dns.dnssec.make_ds(".", root_key.dnskey, "SHA256")
        self.servers = [Auth(self.root_addr, Zone(".", "\n".join(root), root_key))]
        self.bad, self.good = {}, {}
        try:
            for z, (ns1, ns2) in self.addrs.items():
                text = zone_text(z, ns1, ns2, self.ZONES[z])
                if z == "stale.":
                    bad = Zone(z, text, old)
                else:
                    bad = Zone(z, text, keys[z], tamper=True)
                second = Zone(z, text, keys[z], tamper=(z == "broken."))
                self.bad[z] = Auth(ns1, bad)
                self.good[z] = Auth(ns2, second, delay=SLOW)
                self.servers += [self.bad[z], self.good[z]]
        except Exception:
            self.stop()
            raise

    def stop(self):
        for s in self.servers:
            s.stop()


class OwnRoot(Custom):
    """A vigil whose root hints and trust anchor are the hierarchy's."""

    def __init__(self, workdir, lab, h):
        super().__init__(workdir, lab, "")
        self.h = h
        self.hints = os.path.join(workdir, "twin.hints")
        self.anchor = os.path.join(workdir, "twin.key")
        with open(self.hints, "w") as f:
            f.write(".  3600000 IN NS a.root.\na.root.  3600000 IN A %s\n" % h.root_addr)
        with open(self.anchor, "w") as f:
            f.write(". IN DS %s\n" % h.root_ds)

    def text(self, extra=None):
        return (super().text(extra)
                .replace("root-hints: %s" % self.lab.root_hints, "root-hints: %s" % self.hints)
                .replace(self.lab.trust_anchor, self.anchor))

    def ready(self):
        return bool(re.search(r"vigil \S+ started", self.log_text())), "not started"


@pytest.fixture
def hier(lab, tmp_path):
    h = Hierarchy(lab.prefix)
    v = OwnRoot(str(tmp_path), lab, h)
    try:
        v.start()
        yield h, v
    finally:
        v.stop()
        h.stop()


def ask(v, name, rdtype="A"):
    q = dns.message.make_query(name, rdtype, use_edns=0, payload=1232, want_dnssec=True)
    return v.send(q, timeout=8)


def good_answers(h, v, zone):
    """Ask every nN.ZONE; each must be the good copy's, with AD.  Returns how
    many names the broken server was asked for before the good one answered."""
    met_bad_first = 0
    for i in range(1, NAMES + 1):
        name = "n%d.%s" % (i, zone)
        r = ask(v, name)
        assert_rcode(r, "NOERROR")
        assert rdatas(r.answer, name, "A") == [GOOD_ADDR % (Hierarchy.ZONES[zone] + i)], show(r)
        assert r.flags & dns.flags.AD, "no AD for %s: %s" % (name, show(r))
        met_bad_first += h.bad[zone].asked(name) > 0
        assert h.good[zone].asked(name) >= 1, "%s: the good server was not asked" % name
        # the bogus copy did not stay in the cache: again, from the cache, good
        before = h.bad[zone].asked(name), h.good[zone].asked(name)
        r = ask(v, name)
        assert rdatas(r.answer, name, "A") == [GOOD_ADDR % (Hierarchy.ZONES[zone] + i)], show(r)
        assert r.flags & dns.flags.AD, show(r)
        assert (h.bad[zone].asked(name), h.good[zone].asked(name)) == before, (
            "%s asked upstream again" % name)
    return met_bad_first


def test_tampered_copy_on_one_server(hier):
    h, v = hier
    met = good_answers(h, v, "twin.")
    assert h.bad["twin."].asked("n1.twin.") == 1, (h.bad["twin."].counts, h.good["twin."].counts)
    assert met >= 1


def test_stale_dnskey_on_one_server(hier):
    h, v = hier
    good_answers(h, v, "stale.")
    # the first DNSKEY query went to the stale server (the only one with glue)
    assert h.bad["stale."].asked("stale.", "DNSKEY") >= 1
    assert h.good["stale."].asked("stale.", "DNSKEY") >= 1


def test_every_server_bogus_is_servfail_bounded(hier):
    h, v = hier
    for i in (1, 2, 3):
        name = "n%d.broken." % i
        r = ask(v, name)
        assert_rcode(r, "SERVFAIL")
        assert [c for c, _ in edes(r)] == [6], show(r)
        sent = h.bad["broken."].asked(name) + h.good["broken."].asked(name)
        assert 2 <= sent <= 1 + RETRIES, "%d queries for %s" % (sent, name)
        assert h.bad["broken."].asked(name) >= 1 and h.good["broken."].asked(name) >= 1
        r = ask(v, name)  # within servfail-ttl: no new query
        assert_rcode(r, "SERVFAIL")
        assert h.bad["broken."].asked(name) + h.good["broken."].asked(name) == sent
