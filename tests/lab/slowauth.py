#!/usr/bin/python3
"""A slow authoritative name server: answers one zone, and holds back the
answers for names that ask for it.

Used by the lab (tests/lab/lab.py) for the tests that need an upstream answer
still outstanding while something else happens (TCP answers out of order,
identical queries in flight shared).

    slowauth.py [--bench] ADDR PORT PIDFILE COUNTFILE ZONE [MAX_SECONDS]

It binds ADDR:PORT (UDP and TCP), writes its PID to PIDFILE once bound and
exits by itself after MAX_SECONDS (default 6 hours) or on SIGTERM.  It serves
ZONE (e.g. slow.lab.), unsigned:

* the apex: SOA, and NS ns1.ZONE; ns1.ZONE has A ADDR;
* every other name below the apex has A 192.0.2.201 (TTL 300) and no other
  type (NODATA, SOA in the authority section);
* a name whose first label is d<MS>-<anything> (e.g. d1500-x.slow.lab.) is
  answered after MS milliseconds (at most 10000), every other one at once;
* j<MS>-<anything> (TuDoor, ATTACKS.md 9): over UDP, junk that matches the
  query's ID, address and port goes out at once (JUNK_KINDS: garbage, a bare
  header, the right question with an unparseable body, QR clear, another
  opcode, another question with a poisoned address, a FORMERR without a
  question), and the genuine answer
  after MS milliseconds;
* s<MS>-<anything> (a spoofed-answer flood, ATTACKS.md 6): over UDP, forged
  answers with the poisoned address POISON_ADDR go to the query's source
  port with every ID but the right one (FLOOD_PER_QUERY of them, spread over
  the delay), and with the right ID to other ports of the querier, then the
  genuine answer after MS milliseconds;
* u<MS>-<anything> (response rate limiting: a server that drops UDP
  answers for a name while it answers other queries, and leaves TCP
  alone): never answered over UDP, answered over TCP after MS milliseconds;
* attack subtrees (for bench/run.sh attacks; ATTACKS.md 3-5), each link of a
  chain or loop answered alone, as if it were in another zone, so that
  every hop costs the resolver one more upstream query:
  - <x>.nxns.ZONE (NXNSAttack): a referral of <x>.nxns.ZONE to NXNS_NAMES
    name servers n<i>-<x>.victim.ZONE without glue; every name under
    victim.ZONE is NXDOMAIN (so no address outside the lab is ever named);
  - anything under tsua.ZONE / tsub.ZONE (TsuNAME): referrals of tsua.ZONE
    to ns.tsub.ZONE and of tsub.ZONE to ns.tsua.ZONE, no glue (a cycle);
  - a<x>.loop.ZONE CNAME b<x>.loop.ZONE and back (a CNAME loop);
  - c<k>-<x>.chain.ZONE CNAME c<k+1>-<x>.chain.ZONE up to CHAIN_LEN, whose
    last link has an A record (a long chain);
* names outside ZONE get REFUSED.

Each TCP query is answered on its own schedule, so answers on one connection
may leave in another order than the queries came (RFC 7766 6.2.1.1).

Plain UDP queries (opcode QUERY, one question of class IN and a common type,
a name of letters, digits, '-' and '_', at most an OPT record with common
options) that are not held back are answered at once from their bytes,
without dnspython (Zone.fast_answer): the same answer, byte for byte (NS
records in a random order as dnspython puts them), at a fraction of the CPU.
Everything else (TCP, d/j/s names, other types, malformed queries, answers
that would be truncated) goes through dnspython.

COUNTFILE holds what it received, as JSON rewritten after every query:
{"udp": N, "tcp": N, "names": {"<qname lower-case> <TYPE>": N, ...}} (tcp
counts queries received over TCP, not connections), plus "junk" and "forged":
the packets of those two kinds sent.  With --bench (bench/run.sh, thousands
of distinct names a second) "names" stays empty and COUNTFILE is rewritten at
most every BENCH_WRITE_SECS (and once the server falls idle), so that keeping
count costs O(1) per query.
"""
import heapq
import json
import os
import random
import re
import selectors
import signal
import socket
import struct
import sys
import time

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype
    import dns.rrset
except ImportError:  # e.g. a pyenv python3 first in PATH: use Debian's dnspython
    sys.path.append("/usr/lib/python3/dist-packages")
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype
    import dns.rrset

ANSWER_ADDR = "192.0.2.201"
POISON_ADDR = "192.0.2.66"
TTL = 300
DELAY_RE = re.compile(r"^([djsu])(\d{1,5})-", re.I)
JUNK_KINDS = ("garbage", "header", "body", "qr-clear", "opcode", "question", "formerr")
FLOOD_PER_QUERY = 300
MAX_DELAY_MS = 10000
NXNS_NAMES = 40  # glueless NS names per NXNS referral (fit in a 1232-byte answer)
CHAIN_LEN = 100  # CNAME links of a long chain
BENCH_WRITE_SECS = 0.25
# the plain UDP queries answered without dnspython (Zone.fast_answer): these
# query types, name labels of these characters, and these EDNS options
FAST_TYPES = {t: dns.rdatatype.to_text(t) for t in (1, 2, 5, 6, 12, 15, 16, 28, 33, 43, 46, 47,
                                                    48, 50, 64, 65)}
FAST_LABEL_CHARS = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
FAST_OPTIONS = (3, 10, 11, 12)  # NSID, COOKIE, TCP keepalive, padding
CHAIN_RE = re.compile(rb"^c(\d+)-(.*)$")


class Zone:
    def __init__(self, origin, ns_addr):
        self.origin = dns.name.from_text(origin)
        self.ns = dns.name.from_text("ns1", self.origin)
        self.ns_addr = ns_addr
        self.soa = dns.rrset.from_text(
            self.origin, TTL, "IN", "SOA",
            "%s hostmaster.%s 1 3600 600 86400 %d" % (self.ns, self.origin, TTL))
        self.fast_init()

    def answer(self, q):
        """The reply to query message Q."""
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA
        r.flags &= ~dns.flags.RA
        if len(q.question) != 1:
            r.set_rcode(dns.rcode.FORMERR)
            return r
        qname, qtype = q.question[0].name, q.question[0].rdtype
        if not qname.is_subdomain(self.origin):
            r.flags &= ~dns.flags.AA
            r.set_rcode(dns.rcode.REFUSED)
            return r
        attack = self.attack(q, r, qname, qtype)
        if attack is not None:
            return attack
        data = None
        if qname == self.origin:
            if qtype == dns.rdatatype.SOA:
                data = self.soa
            elif qtype == dns.rdatatype.NS:
                data = dns.rrset.from_text(qname, TTL, "IN", "NS", self.ns.to_text())
        elif qname == self.ns:
            if qtype == dns.rdatatype.A:
                data = dns.rrset.from_text(qname, TTL, "IN", "A", self.ns_addr)
        elif qtype == dns.rdatatype.A:
            data = dns.rrset.from_text(qname, TTL, "IN", "A", ANSWER_ADDR)
        if data is not None:
            r.answer.append(data)
        else:
            r.authority.append(self.soa)
        return r


    def sub(self, label):
        return dns.name.from_text(label, self.origin)

    def referral(self, r, cut, targets):
        """R made a referral of CUT to name servers TARGETS, no glue."""
        r.flags &= ~dns.flags.AA
        r.authority.append(dns.rrset.from_text_list(
            cut, TTL, "IN", "NS", [t.to_text() for t in targets]))
        return r

    def attack(self, q, r, qname, qtype):
        """R filled in for a name in one of the attack subtrees, else None."""
        rel = qname.relativize(self.origin).labels
        if not rel or qname == self.origin:
            return None
        top, below = rel[-1].lower(), rel[:-1]
        if top in (b"tsua", b"tsub"):
            other = b"tsub" if top == b"tsua" else b"tsua"
            return self.referral(r, self.sub(top.decode()),
                                 [self.sub("ns." + other.decode())])
        if not below:
            return None
        if top == b"nxns":
            cut = dns.name.Name(rel[-2:]).derelativize(self.origin)
            x = rel[-2].decode("ascii", "replace")
            return self.referral(r, cut, [self.sub("n%d-%s.victim" % (i, x))
                                          for i in range(NXNS_NAMES)])
        if top == b"victim":
            r.set_rcode(dns.rcode.NXDOMAIN)
            r.authority.append(self.soa)
            return r
        if len(below) != 1 or top not in (b"loop", b"chain"):
            return None
        first = below[0].decode("ascii", "replace").lower()
        target = None
        if top == b"loop" and first[:1] in ("a", "b"):
            target = ("b" if first[0] == "a" else "a") + first[1:]
        m = re.match(r"^c(\d+)-(.*)$", first) if top == b"chain" else None
        if m and int(m.group(1)) < CHAIN_LEN:
            target = "c%d-%s" % (int(m.group(1)) + 1, m.group(2))
        if target is None:
            return None  # the chain's end (or another name): the zone's A record
        r.answer.append(dns.rrset.from_text(qname, TTL, "IN", "CNAME",
                                            self.sub("%s.%s" % (target, top.decode())).to_text()))
        return r


    # The fast path: what answer() and render() make of a plain UDP query,
    # built from its bytes without dnspython, which costs several times the
    # CPU (bench/run.sh attacks send up to ~1700 queries a second here, on
    # the core the benign load generator uses).
    # tests/integration/test_slowauth_fast.py checks that both paths agree
    # byte for byte.

    def fast_init(self):
        """The pieces of the fast path's answers, from the zone's own records."""
        self.fast_origin = [label for label in self.origin.labels if label]
        self.fast_olow = [label.lower() for label in self.fast_origin]
        soa = self.soa[0]
        self.fast_soa_names = ([label for label in soa.mname.labels if label],
                               [label for label in soa.rname.labels if label])
        self.fast_soa_tail = struct.pack("!IIIII", soa.serial, soa.refresh, soa.retry,
                                         soa.expire, soa.minimum)
        try:
            self.fast_ns_addr = socket.inet_aton(self.ns_addr)
        except OSError:  # not IPv4: dnspython's path says what it says
            self.fast_ns_addr = None
        self.fast_answer_addr = socket.inet_aton(ANSWER_ADDR)

    def fast_answer(self, wire):
        """(the answer to query WIRE, its question's labels, its type) as
        render() would make it for a UDP query, or None if WIRE is not one
        of the plain queries this handles (then dnspython's path must)."""
        q = parse_plain_query(wire)
        if q is None:
            return None
        qid, rd, labels, qtype, payload = q
        if labels and DELAY_RE.match(labels[0].decode()):
            return None  # held back, junk or spoofs first: dnspython's path
        low = [label.lower() for label in labels]
        w = Wire(qid, 0x8000 | rd | 0x0400, labels, qtype)
        k = len(self.fast_olow)
        if len(low) < k or low[len(low) - k:] != self.fast_olow:
            w.flags &= ~0x0400
            w.flags |= dns.rcode.REFUSED
        elif not self.fast_attack(w, labels, low[:len(low) - k]):
            return None
        if payload is not None:
            w.opt()
        out = w.done()
        if len(out) > max(512, payload or 512):
            return None  # truncated: dnspython's path
        return out, labels, qtype

    def fast_attack(self, w, labels, rel):
        """Fill in W for the question LABELS (REL: below the origin, lower
        case) as attack() and answer() do; False if that cannot be done here."""
        origin = self.fast_origin
        top, below = (rel[-1], rel[:-1]) if rel else (None, [])
        if top in (b"tsua", b"tsub"):
            other = b"tsub" if top == b"tsua" else b"tsua"
            return self.fast_referral(w, [top] + origin, [[b"ns", other] + origin])
        if below and top == b"nxns":
            x = labels[len(labels) - len(origin) - 2]
            cut = labels[len(labels) - len(origin) - 2:len(labels) - len(origin)] + origin
            return self.fast_referral(w, cut, [[b"n%d-%s" % (i, x), b"victim"] + origin
                                               for i in range(NXNS_NAMES)])
        if below and top == b"victim":
            w.flags |= dns.rcode.NXDOMAIN
            self.fast_soa(w)
            return True
        target = None
        if len(below) == 1 and top == b"loop" and below[0][:1] in (b"a", b"b"):
            target = (b"b" if below[0][:1] == b"a" else b"a") + below[0][1:]
        m = CHAIN_RE.match(below[0]) if len(below) == 1 and top == b"chain" else None
        if m and int(m.group(1)) < CHAIN_LEN:
            target = b"c%d-%s" % (int(m.group(1)) + 1, m.group(2))
        if target is not None:
            return w.rr(1, labels, dns.rdatatype.CNAME, [[target, top] + origin])
        if not rel:  # the apex
            if w.qtype == dns.rdatatype.SOA:
                self.fast_soa(w, 1)
            elif w.qtype == dns.rdatatype.NS:
                return w.rr(1, labels, dns.rdatatype.NS, [[b"ns1"] + origin])
            else:
                self.fast_soa(w)
        elif w.qtype != dns.rdatatype.A:
            self.fast_soa(w)
        elif rel == [b"ns1"]:
            if self.fast_ns_addr is None:
                return False
            w.rr(1, labels, dns.rdatatype.A, [], self.fast_ns_addr)
        else:
            w.rr(1, labels, dns.rdatatype.A, [], self.fast_answer_addr)
        return True

    def fast_referral(self, w, cut, targets):
        w.flags &= ~0x0400
        random.shuffle(targets)  # as dnspython shuffles an RRset's records when it writes them
        for target in targets:
            if not w.rr(2, cut, dns.rdatatype.NS, [target]):
                return False
        return True

    def fast_soa(self, w, section=2):
        w.rr(section, self.fast_origin, dns.rdatatype.SOA, self.fast_soa_names,
             self.fast_soa_tail)


class Wire:
    """A DNS answer written the way dnspython's renderer writes it: the
    question, then resource records (class IN, TTL), every name compressed
    against the earliest earlier occurrence of each of its suffixes (compared
    without regard to case).  The records of an RRset go in the order given
    (dnspython shuffles them: so does the caller)."""

    def __init__(self, qid, flags, labels, qtype):
        self.qid, self.flags, self.qtype = qid, flags, qtype
        self.counts = [1, 0, 0, 0]
        self.out = bytearray(12)
        self.names = {}  # lower-case suffix -> its offset
        self.name(labels)
        self.out += struct.pack("!HH", qtype, dns.rdataclass.IN)

    def name(self, labels):
        """Write LABELS (the name without the root label); False if the name
        cannot be a name (a label over 63 bytes or the name over 255)."""
        if sum(len(label) + 1 for label in labels) + 1 > 255:
            return False
        for i, label in enumerate(labels):
            if len(label) > 63:
                return False
            key = b".".join(labels[i:]).lower()
            at = self.names.get(key)
            if at is not None:
                self.out += struct.pack("!H", 0xC000 | at)
                return True
            if len(self.out) <= 0x3FFF:
                self.names[key] = len(self.out)
            self.out.append(len(label))
            self.out += label
        self.out.append(0)
        return True

    def rr(self, section, owner, rdtype, names, tail=b""):
        """Add a record of type RDTYPE to SECTION (1 answer, 2 authority)
        whose data is NAMES (each a list of labels), then TAIL; False if a
        name cannot be written."""
        if not self.name(owner):
            return False
        self.out += struct.pack("!HHIH", rdtype, dns.rdataclass.IN, TTL, 0)
        start = len(self.out)
        for labels in names:
            if not self.name(labels):
                return False
        self.out += tail
        struct.pack_into("!H", self.out, start - 2, len(self.out) - start)
        self.counts[section] += 1
        return True

    def opt(self):
        """An OPT record as dns.message.make_response() makes it: payload
        8192, no extended rcode or flags (no DO bit), no options."""
        self.out += b"\x00" + struct.pack("!HHIH", dns.rdatatype.OPT, 8192, 0, 0)
        self.counts[3] += 1

    def done(self):
        struct.pack_into("!HHHHHH", self.out, 0, self.qid, self.flags, *self.counts)
        return bytes(self.out)


def parse_plain_query(wire):
    """(ID, RD flag, question labels, type, EDNS payload or None) of WIRE if it
    is a plain query: opcode QUERY, QR clear, one question of class IN and a
    type in FAST_TYPES whose name is uncompressed, of FAST_LABEL_CHARS only,
    nothing else but an OPT record (version 0, no extended rcode, options in
    FAST_OPTIONS only); else None."""
    if len(wire) < 17:
        return None
    qid, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", wire)
    if flags & 0xF800 or qd != 1 or an or ns or ar > 1:
        return None
    labels = []
    at = 12
    while at < len(wire) and wire[at]:
        n = wire[at]
        label = wire[at + 1:at + 1 + n]
        if n > 63 or len(label) != n or label.translate(None, FAST_LABEL_CHARS):
            return None
        labels.append(label)
        at += 1 + n
    at += 1
    if at - 12 > 255 or at + 4 > len(wire):
        return None
    qtype, qclass = struct.unpack_from("!HH", wire, at)
    if qtype not in FAST_TYPES or qclass != dns.rdataclass.IN:
        return None
    at += 4
    payload = None
    if ar:
        if at + 11 > len(wire) or wire[at] != 0:
            return None
        rdtype, payload, ttl, rdlen = struct.unpack_from("!HHIH", wire, at + 1)
        at += 11
        if rdtype != dns.rdatatype.OPT or ttl & 0xFFFF0000 or at + rdlen != len(wire):
            return None
        while at < len(wire):
            if at + 4 > len(wire):
                return None
            code, n = struct.unpack_from("!HH", wire, at)
            at += 4 + n
            if code not in FAST_OPTIONS or at > len(wire):
                return None
    if at != len(wire):
        return None
    return qid, flags & 0x0100, labels, qtype, payload


def render(zone, q, transport):
    """The answer to query message Q received over TRANSPORT, in wire format
    (dnspython's path)."""
    r = zone.answer(q)
    try:
        return r.to_wire(max_size=65535 if transport == "tcp" else
                         max(512, q.payload if q.edns >= 0 else 512))
    except dns.exception.TooBig:  # e.g. an NXNS referral to a client without EDNS
        r.answer, r.authority, r.additional = [], [], []
        r.flags |= dns.flags.TC
        return r.to_wire()


def delay_of(q):
    """Seconds to hold back the answer to Q."""
    if len(q.question) != 1 or not q.question[0].name.labels:
        return 0.0
    m = DELAY_RE.match(q.question[0].name.labels[0].decode("ascii", "replace"))
    return min(int(m.group(2)), MAX_DELAY_MS) / 1000.0 if m else 0.0


def hostile_mode(q):
    """"j" (junk first), "s" (spoof flood), "u" (no UDP answer) or None for
    query Q."""
    if len(q.question) != 1 or not q.question[0].name.labels:
        return None
    m = DELAY_RE.match(q.question[0].name.labels[0].decode("ascii", "replace"))
    mode = m.group(1).lower() if m else "d"
    return mode if mode in "jsu" else None


def poisoned(q, qname=None):
    """A well-formed authoritative answer to Q (or for QNAME) with POISON_ADDR."""
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    name = qname if qname is not None else q.question[0].name
    if qname is not None:  # a question of its own: the RRset is the query's too
        r.question[0] = dns.rrset.RRset(qname, dns.rdataclass.IN, q.question[0].rdtype)
    r.answer.append(dns.rrset.from_text(name, TTL, "IN", "A", POISON_ADDR))
    return r.to_wire()


def junk(q, wire):
    """Packets that match query Q (raw WIRE) on ID, address and port and yet
    are not its answer, one per JUNK_KINDS."""
    qid = wire[:2]
    good = dns.message.make_response(q)
    good.answer.append(dns.rrset.from_text(q.question[0].name, TTL, "IN", "A", POISON_ADDR))
    gw = good.to_wire()
    qlen = len(wire) - 12  # question (and OPT) of the query
    out = []
    out.append(qid + os.urandom(38))  # garbage
    out.append(qid + struct.pack("!HHHHH", 0x8400, 1, 1, 0, 0))  # a bare header
    # the right header and question, then an answer section cut short
    body = bytearray(gw[:12 + len(q.question[0].name.to_wire()) + 4])
    body[6:12] = struct.pack("!HHH", 3, 0, 0)
    out.append(bytes(body) + b"\xc0\x0c\x00\x01\x00\x01\x00")
    qr = bytearray(gw)
    qr[2] &= 0x7F  # QR clear: a query, not a reply
    out.append(bytes(qr))
    op = bytearray(gw)
    op[2] = (op[2] & 0x87) | (4 << 3)  # NOTIFY
    out.append(bytes(op))
    other = dns.name.from_text("other", q.question[0].name.parent())
    out.append(poisoned(q, other))  # another question, a poisoned answer
    # FORMERR without a question (what a server that cannot parse a query
    # may send): nothing ties it to the query but the ID
    out.append(qid + struct.pack("!HHHHH", 0x8001, 0, 0, 0, 0))
    assert len(out) == len(JUNK_KINDS) and qlen >= 0
    return out


def main(argv):
    bench = len(argv) > 1 and argv[1] == "--bench"
    if bench:
        argv = argv[:1] + argv[2:]
    if len(argv) not in (6, 7):
        sys.stderr.write(__doc__)
        return 2
    addr, port, pidfile, countfile, origin = argv[1], int(argv[2]), argv[3], argv[4], argv[5]
    max_seconds = float(argv[6]) if len(argv) == 7 else 6 * 3600.0
    deadline = time.monotonic() + max_seconds
    zone = Zone(origin, addr)

    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    udp = socket.socket(family, socket.SOCK_DGRAM)
    udp.bind((addr, port))
    tcp = socket.socket(family, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((addr, port))
    tcp.listen(64)
    udp.setblocking(False)
    tcp.setblocking(False)

    stop = {"flag": False}

    def on_term(signum, frame):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    counts = {"udp": 0, "tcp": 0, "junk": 0, "forged": 0, "names": {}}
    written = {"at": 0.0, "dirty": False}

    def write_counts(force=True):
        if bench and not force:
            written["dirty"] = True
            if time.monotonic() - written["at"] < BENCH_WRITE_SECS:
                return
        written["at"], written["dirty"] = time.monotonic(), False
        tmp = countfile + ".tmp"
        with open(tmp, "w") as f:
            json.dump(counts, f)
        os.replace(tmp, countfile)

    def count(transport, question=None):
        """Count a query received over TRANSPORT whose question is QUESTION,
        a callable that returns (its name in text, its type in text)."""
        counts[transport] += 1
        if question is not None and not bench:
            key = "%s %s" % question()
            counts["names"][key] = counts["names"].get(key, 0) + 1
        write_counts(False)

    write_counts()
    tmp = pidfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % os.getpid())
    os.replace(tmp, pidfile)

    sel = selectors.DefaultSelector()
    sel.register(udp, selectors.EVENT_READ, "udp")
    sel.register(tcp, selectors.EVENT_READ, "listen")
    conns = {}  # socket -> bytes received and not yet parsed
    pending = []  # heap of (due, seq, send callable)
    seq = 0

    def schedule(after, fn):
        nonlocal seq
        seq += 1
        heapq.heappush(pending, (time.monotonic() + after, seq, fn))

    def close(c):
        if c in conns:
            sel.unregister(c)
            del conns[c]
        c.close()

    def hostile(q, wire, mode, delay, reply, peer):
        if mode == "j":
            for pkt in junk(q, wire):
                reply(pkt)
                counts["junk"] += 1
            return
        # forged answers with every ID but the right one (a sample of
        # FLOOD_PER_QUERY), spread over the delay, and a few with the right
        # ID to other ports of the querier
        ids = [i for i in random.sample(range(65536), FLOOD_PER_QUERY + 1) if i != q.id]
        forged = poisoned(q)
        for n, i in enumerate(ids[:FLOOD_PER_QUERY]):
            pkt = struct.pack("!H", i) + forged[2:]
            schedule(delay * n / FLOOD_PER_QUERY, lambda pkt=pkt: reply(pkt))
        for _ in range(8):
            port = random.randrange(1024, 65536)
            if port != peer[1]:
                schedule(0, lambda port=port: reply(forged, (peer[0], port)))
        counts["forged"] += FLOOD_PER_QUERY + 8

    def handle(wire, transport, reply, peer=None):
        fast = zone.fast_answer(wire) if transport == "udp" else None
        if fast is not None:  # a plain query, answered at once without dnspython
            out, labels, qtype = fast
            count(transport, lambda: (b".".join(labels).decode().lower() + ".",
                                      FAST_TYPES[qtype]))
            reply(out)
            return
        try:
            q = dns.message.from_wire(wire)
        except Exception:  # garbage: no answer
            return
        count(transport, (lambda: (q.question[0].name.to_text().lower(),
                                   dns.rdatatype.to_text(q.question[0].rdtype)))
              if len(q.question) == 1 else None)
        out = render(zone, q, transport)
        mode = hostile_mode(q)
        if mode == "u" and transport == "udp":
            write_counts(False)
            return  # rate limited: counted, not answered
        if mode and transport == "udp":
            hostile(q, wire, mode, delay_of(q), reply, peer)
            write_counts(False)
        schedule(delay_of(q), lambda: reply(out))

    while not stop["flag"] and time.monotonic() < deadline:
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, fn = heapq.heappop(pending)
            fn()
        timeout = 0.5 if not pending else max(0.0, min(0.5, pending[0][0] - now))
        if written["dirty"]:
            timeout = min(timeout, BENCH_WRITE_SECS)
            if time.monotonic() - written["at"] >= BENCH_WRITE_SECS:
                write_counts()
        for key, _ in sel.select(timeout=timeout):
            what = key.data
            if what == "udp":
                try:
                    wire, peer = udp.recvfrom(65535)
                except OSError:
                    continue

                def send_udp(out, to=None, peer=peer):
                    try:
                        udp.sendto(out, to or peer)
                    except OSError:
                        pass
                handle(wire, "udp", send_udp, peer)
            elif what == "listen":
                try:
                    c, _ = tcp.accept()
                except OSError:
                    continue
                c.setblocking(False)
                conns[c] = b""
                sel.register(c, selectors.EVENT_READ, "conn")
                if len(conns) > 64:
                    close(next(iter(conns)))
            else:
                c = key.fileobj
                try:
                    data = c.recv(65535)
                except OSError:
                    data = b""
                if not data:
                    close(c)
                    continue
                buf = conns[c] + data
                while len(buf) >= 2:
                    (n,) = struct.unpack("!H", buf[:2])
                    if len(buf) < 2 + n:
                        break
                    wire, buf = buf[2:2 + n], buf[2 + n:]

                    def send_tcp(out, c=c):
                        if c not in conns:
                            return  # closed in the meantime
                        try:
                            c.setblocking(True)
                            c.settimeout(2.0)
                            c.sendall(struct.pack("!H", len(out)) + out)
                            c.setblocking(False)
                        except OSError:
                            close(c)
                    handle(wire, "tcp", send_tcp)
                if c in conns:
                    conns[c] = buf
    write_counts()
    for c in list(conns):
        c.close()
    udp.close()
    tcp.close()
    try:
        os.unlink(pidfile)
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
