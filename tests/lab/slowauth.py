#!/usr/bin/python3
"""A slow authoritative server: answers one zone over UDP, every reply held back.

Used by the lab (tests/lab/lab.py) for tests that need queries to stay in
flight for a while (sharing of identical upstream queries).

    slowauth.py ADDR PORT PIDFILE COUNTFILE ZONE NS_ADDR DELAY_MS [MAX_SECONDS]

It serves ZONE (NS ns1.ZONE with address NS_ADDR, SOA, and an A record
192.0.2.201 for every other name below it: NODATA for other types), REFUSED
outside it.  Each reply is sent DELAY_MS after its query arrived, or N ms
for a name whose first label starts with "dN-" (N up to 10000); queries are
not blocked by one another.  It counts what it receives, by name and type, in
COUNTFILE (JSON: {"total": N, "names": {"name./TYPE": N}}), writes its PID to
PIDFILE once bound, and exits on SIGTERM or after MAX_SECONDS (default 6 h).
"""
import heapq
import json
import os
import re
import selectors
import signal
import socket
import sys
import time

try:
    import dns.message
except ImportError:  # a python3 without dnspython first in PATH: use Debian's
    sys.path.append("/usr/lib/python3/dist-packages")
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdataclass  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.rrset  # noqa: E402

ANSWER_ADDR = "192.0.2.201"
TTL = 3600
NEG_TTL = 300


def answer(wire, zone, ns_addr):
    """The reply to WIRE (bytes), or None for garbage."""
    try:
        q = dns.message.from_wire(wire)
    except Exception:
        return None
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    r.flags &= ~dns.flags.RA
    if len(q.question) != 1:
        r.set_rcode(dns.rcode.FORMERR)
        return r.to_wire()
    qname, qtype = q.question[0].name, q.question[0].rdtype
    if q.question[0].rdclass != dns.rdataclass.IN or not qname.is_subdomain(zone):
        r.flags &= ~dns.flags.AA
        r.set_rcode(dns.rcode.REFUSED)
        return r.to_wire()
    ns = dns.name.from_text("ns1", zone)
    soa = dns.rrset.from_text(zone, TTL, "IN", "SOA", "%s hostmaster.%s 1 3600 600 86400 %d"
                              % (ns, zone, NEG_TTL))
    data = None
    if qname == zone and qtype == dns.rdatatype.SOA:
        data = soa
    elif qname == zone and qtype == dns.rdatatype.NS:
        data = dns.rrset.from_text(zone, TTL, "IN", "NS", str(ns))
    elif qname == ns and qtype == dns.rdatatype.A:
        data = dns.rrset.from_text(ns, TTL, "IN", "A", ns_addr)
    elif qname != zone and qname != ns and qtype == dns.rdatatype.A:
        data = dns.rrset.from_text(qname, TTL, "IN", "A", ANSWER_ADDR)
    if data is not None:
        r.answer.append(data)
    else:
        r.authority.append(soa)
    return r.to_wire()


def delay_of(wire, default):
    """DEFAULT seconds, or N ms for a first label "dN-..." (capped at 10 s)."""
    try:
        label = dns.message.from_wire(wire).question[0].name.labels[0]
    except Exception:
        return default
    m = re.match(rb"[dD](\d{1,5})-", label)
    return min(int(m.group(1)), 10000) / 1000.0 if m else default


def qkey(wire):
    try:
        q = dns.message.from_wire(wire)
        return "%s/%s" % (str(q.question[0].name).lower(),
                          dns.rdatatype.to_text(q.question[0].rdtype))
    except Exception:
        return "?"


def main(argv):
    if len(argv) not in (8, 9):
        sys.stderr.write(__doc__)
        return 2
    addr, port, pidfile, countfile = argv[1], int(argv[2]), argv[3], argv[4]
    zone = dns.name.from_text(argv[5])
    ns_addr, delay = argv[6], float(argv[7]) / 1000.0
    deadline = time.monotonic() + (float(argv[8]) if len(argv) == 9 else 6 * 3600.0)

    udp = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((addr, port))
    udp.setblocking(False)

    stop = {"flag": False}

    def on_term(signum, frame):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    counts = {"total": 0, "names": {}}

    def write_counts():
        tmp = countfile + ".tmp"
        with open(tmp, "w") as f:
            json.dump(counts, f)
        os.replace(tmp, countfile)

    write_counts()
    tmp = pidfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % os.getpid())
    os.replace(tmp, pidfile)

    sel = selectors.DefaultSelector()
    sel.register(udp, selectors.EVENT_READ)
    due = []  # heap of (time, seq, reply, peer)
    seq = 0
    while not stop["flag"] and time.monotonic() < deadline:
        now = time.monotonic()
        wait = 0.5 if not due else max(0.0, min(0.5, due[0][0] - now))
        if sel.select(timeout=wait):
            while True:
                try:
                    wire, peer = udp.recvfrom(65535)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                k = qkey(wire)
                counts["total"] += 1
                counts["names"][k] = counts["names"].get(k, 0) + 1
                write_counts()
                reply = answer(wire, zone, ns_addr)
                if reply is not None:
                    seq += 1
                    heapq.heappush(due, (time.monotonic() + delay_of(wire, delay), seq,
                                         reply, peer))
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, _, reply, peer = heapq.heappop(due)
            try:
                udp.sendto(reply, peer)
            except OSError:
                pass
    udp.close()
    try:
        os.unlink(pidfile)
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
