"""DNS cookies towards upstream servers (RFC 7873, RFC 9018; issue 11 section
2, "Clients"): vigil as the client.

The name server here is the test's own (CookieServer, a thread of this
process on 127.0.0.1, UDP and TCP on one port), reached through a forward
zone ck.test.  It hands out a server cookie that is a keyed hash of the
client cookie and the client's address (what RFC 7873 5.2 asks of a server),
and records every query it receives with its COOKIE option, so what the
tests claim about vigil's queries is what the server saw.  What it does
depends on the first label of the name:

* p-*   a cookie server: the answer echoes the client cookie with a server
        cookie (queries without a COOKIE option get none back);
* f-*   as p-*, but first, from the server's own address and port with the
        query's ID, two forged answers with a poisoned address: one echoing a
        wrong client cookie, one with no COOKIE option; the genuine answer
        follows after FORGE_DELAY (longer than vigil's retransmission timer
        for a server that answers at once);
* fz-*  the same, the genuine answer right after the forgeries;
* b-*   BADCOOKIE (extended rcode 23) with a server cookie of this name's own
        unless the query already presents that one; then the answer;
* bb-*  BADCOOKIE (a new server cookie each time) to every UDP query;
        over TCP the answer;
* x-*   FORMERR to any query that has a COOKIE option (a server that does
        not take EDNS options), the answer to one without;
* n-*   a server that ignores cookies: answers, no COOKIE option back.

Other names (the apex: DS, DNSKEY...) as the test's default mode, p, x or n:
one server does cookies or does not.

vigil runs with one worker here: what it learns about a server (its cookie,
whether it does cookies) is kept per worker.
"""
import hashlib
import os
import random
import selectors
import socket
import struct
import threading
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from helpers import own_resolver, rdatas, replace_once

pytestmark = pytest.mark.vigil_only

COOKIE = 10
BADCOOKIE = 23
GOOD_ADDR = "192.0.2.77"
POISON_ADDR = "192.0.2.66"
FORGE_DELAY = 0.15


def cookie_of(msg):
    """The COOKIE option's data of MSG, or None."""
    for o in msg.options:
        if o.otype == COOKIE:
            return o.to_wire() if hasattr(o, "to_wire") else o.data
    return None


class CookieServer:
    def __init__(self):
        self.secret = os.urandom(16)
        self.lock = threading.Lock()
        self.log = []  # (qname lower-case, "udp"/"tcp", cookie bytes or None)
        self.forged = 0
        self.default = "p"
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(50):
            self.udp.bind(("127.0.0.1", 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.tcp.close()
                self.udp.close()
                self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.tcp.listen(16)
        self.stop_flag = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def close(self):
        self.stop_flag = True
        self.thread.join(5)
        self.udp.close()
        self.tcp.close()

    def server_cookie(self, cc, ip, salt=b""):
        return hashlib.blake2b(cc + socket.inet_aton(ip) + salt, key=self.secret,
                               digest_size=16).digest()

    def queries(self, qname):
        with self.lock:
            return [(t, c) for n, t, c in self.log if n == qname.lower()]

    def answer(self, q, addr=GOOD_ADDR, cookie=None):
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA
        name = q.question[0].name
        if q.question[0].rdtype == dns.rdatatype.A:
            r.answer.append(dns.rrset.from_text(name, 300, "IN", "A", addr))
        else:
            r.authority.append(dns.rrset.from_text(
                dns.name.from_text("ck.test."), 300, "IN", "SOA",
                "ns.ck.test. h.ck.test. 1 3600 600 86400 300"))
        opts = [dns.edns.GenericOption(COOKIE, cookie)] if cookie is not None else []
        r.use_edns(0, 0, 1232, options=opts)
        return r

    def reply(self, q, wire, peer, transport):
        """The answer's wire form (None: no answer); may send forgeries."""
        label = q.question[0].name.labels[0].decode("ascii", "replace").lower()
        mode = label.split("-", 1)[0]
        if mode not in ("p", "f", "fz", "b", "bb", "x", "n"):
            mode = self.default  # the apex and anything else vigil asks
        c = cookie_of(q)
        cc = c[:8] if c and len(c) >= 8 else None
        good = self.server_cookie(cc, peer[0]) if cc else None
        if mode == "x":
            if c is not None:
                r = dns.message.make_response(q)
                r.use_edns(False)
                r.set_rcode(dns.rcode.FORMERR)
                return r.to_wire()
            return self.answer(q).to_wire()
        if mode in ("f", "fz") and transport == "udp":
            # forged whether or not the query has a cookie: a resolver
            # without cookies takes the first one
            forged = [self.answer(q, POISON_ADDR).to_wire()]
            if cc:
                wrong = bytes(b ^ 0xFF for b in cc)
                forged.insert(0, self.answer(q, POISON_ADDR, wrong + good).to_wire())
            for f in forged:
                self.udp.sendto(f, peer)
            with self.lock:
                self.forged += len(forged)
            genuine = self.answer(q, cookie=cc + good if cc else None).to_wire()
            if mode == "fz":
                return genuine
            threading.Timer(FORGE_DELAY, self.udp.sendto, (genuine, peer)).start()
            return None
        if mode == "n" or cc is None:
            return self.answer(q).to_wire()
        if mode == "b":
            want = self.server_cookie(cc, peer[0], q.question[0].name.to_wire())
            if c[8:] != want:
                r = self.answer(q, cookie=cc + want)
                r.answer = []
                r.set_rcode(BADCOOKIE)
                return r.to_wire()
            return self.answer(q, cookie=cc + want).to_wire()
        if mode == "bb" and transport == "udp":
            r = self.answer(q, cookie=cc + os.urandom(16))
            r.answer = []
            r.set_rcode(BADCOOKIE)
            return r.to_wire()
        return self.answer(q, cookie=cc + good).to_wire()

    def handle(self, wire, peer, transport):
        try:
            q = dns.message.from_wire(wire)
        except Exception:
            return None
        if len(q.question) != 1:
            return None
        with self.lock:
            self.log.append((q.question[0].name.to_text().lower(), transport, cookie_of(q)))
        return self.reply(q, wire, peer, transport)

    def run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.udp, selectors.EVENT_READ, "udp")
        sel.register(self.tcp, selectors.EVENT_READ, "tcp")
        while not self.stop_flag:
            for key, _ in sel.select(0.1):
                if key.data == "udp":
                    wire, peer = self.udp.recvfrom(65535)
                    out = self.handle(wire, peer, "udp")
                    if out:
                        self.udp.sendto(out, peer)
                else:
                    conn, peer = self.tcp.accept()
                    conn.settimeout(2)
                    try:
                        n = struct.unpack("!H", conn.recv(2, socket.MSG_WAITALL))[0]
                        wire = conn.recv(n, socket.MSG_WAITALL)
                        out = self.handle(wire, peer, "tcp")
                        if out:
                            conn.sendall(struct.pack("!H", len(out)) + out)
                    except (OSError, struct.error):
                        pass
                    finally:
                        conn.close()


@pytest.fixture
def cookie_server():
    s = CookieServer()
    yield s
    s.close()


def cookie_vigil(lab, tmp_path, server, resolver_keys=""):
    def edit(kind, text):
        text = replace_once(text, "  workers: 2\n", "  workers: 1\n")
        text = replace_once(text, "  prime-root: yes\n", "  prime-root: yes\n" + resolver_keys)
        return replace_once(text, "forward-zones:\n",
                            "forward-zones:\n  - zone: ck.test\n"
                            "    upstreams: [ \"127.0.0.1@%d\" ]\n" % server.port)
    return own_resolver(lab, tmp_path, edit)


def name(mode):
    return "%s-%x.ck.test." % (mode, random.getrandbits(32))


def ask(r, qname):
    q = dns.message.make_query(qname, "A", use_edns=0, payload=1232)
    return r.send(q, timeout=8)


def good_answer(a, qname):
    return a.rcode() == dns.rcode.NOERROR and rdatas(a.answer, qname, "A") == [GOOD_ADDR]


def test_cookie_sent_and_server_cookie_echoed(lab, tmp_path, cookie_server):
    """(1) Every query carries a COOKIE option with an 8-byte client cookie;
    the second one presents the server cookie the server handed out."""
    r = cookie_vigil(lab, tmp_path, cookie_server)
    try:
        n1, n2 = name("p"), name("p")
        assert good_answer(ask(r, n1), n1)
        assert good_answer(ask(r, n2), n2)
        q1, q2 = cookie_server.queries(n1), cookie_server.queries(n2)
        assert len(q1) == 1 and len(q2) == 1, (q1, q2)
        c1, c2 = q1[0][1], q2[0][1]
        assert c1 is not None, "vigil's first query carries no COOKIE option"
        assert len(c1) == 8, "the first query has %d bytes of cookie, not a client cookie " \
            "alone" % len(c1)
        assert c2 is not None and len(c2) == 8 + 16, c2
        assert c2[:8] == c1, "the client cookie changed between two queries to one server"
        assert c2[8:] == cookie_server.server_cookie(c1, "127.0.0.1"), \
            "the server cookie handed out is not the one presented"
    finally:
        r.stop()


def test_forged_answers_without_the_cookie_ignored(lab, tmp_path, cookie_server):
    """(2) Forged answers with the right ID and port -- a wrong client cookie,
    no cookie from a server known to do cookies -- are dropped; the genuine
    answer that follows is the one used.  When it comes after the timer
    (f-*), the query that dropped forgeries for their cookie goes on over TCP
    (as one would to a server that stopped doing cookies); the spoofing
    counter never switches this server to TCP."""
    r = cookie_vigil(lab, tmp_path, cookie_server)
    try:
        s0 = r.stats()
        first = name("p")
        assert good_answer(ask(r, first), first)  # vigil learns the server does cookies
        quick = [name("fz") for _ in range(5)]
        qnames = quick + [name("f") for _ in range(5)]
        for n in qnames:
            a = ask(r, n)
            assert POISON_ADDR not in rdatas(a.answer, n, "A"), "%s poisoned" % n
            assert good_answer(a, n), (n, a.to_text())
        assert cookie_server.forged >= 2 * len(qnames)
        s1 = r.stats()
        dropped = s1.get("upstream_cookie_bad", 0) - s0.get("upstream_cookie_bad", 0)
        assert dropped >= 2 * len(qnames), dropped
        # the cookie defeats the forgeries: no switch to TCP for this server
        sent = {n: [t for t, _ in cookie_server.queries(n)] for n in qnames}
        assert all(sent[n] == ["udp"] for n in quick), sent
        assert all(t[0] == "udp" for t in sent.values()), sent
        assert s1["upstream_spoof_tcp"] == s0["upstream_spoof_tcp"]
    finally:
        r.stop()


def test_badcookie_retried_once(lab, tmp_path, cookie_server):
    """(3) BADCOOKIE: the query is sent again once with the new server cookie;
    a second BADCOOKIE sends it over TCP."""
    r = cookie_vigil(lab, tmp_path, cookie_server)
    try:
        n = name("b")
        assert good_answer(ask(r, n), n)
        got = cookie_server.queries(n)
        want = cookie_server.server_cookie(got[0][1][:8], "127.0.0.1",
                                           dns.name.from_text(n).to_wire()) if got[0][1] else None
        assert [t for t, _ in got] == ["udp", "udp"], got
        assert got[1][1] is not None and got[1][1][8:] == want, got
        n2 = name("bb")
        assert good_answer(ask(r, n2), n2)
        got2 = cookie_server.queries(n2)
        assert [t for t, _ in got2] == ["udp", "udp", "tcp"], got2
    finally:
        r.stop()


def test_server_formerr_to_cookie_works(lab, tmp_path, cookie_server):
    """(4) A server that answers FORMERR to the COOKIE option is asked again
    without it, and remembered."""
    cookie_server.default = "x"
    r = cookie_vigil(lab, tmp_path, cookie_server)
    try:
        xs = [name("x") for _ in range(3)]
        for n in xs:
            assert good_answer(ask(r, n), n), n
        with cookie_server.lock:
            log = list(cookie_server.log)
        # the first query vigil sent it (for one of these names or for the
        # zone's apex) had the option; it was sent again without, and no
        # later query has one: remembered
        assert log[0][2] is not None, log[0]
        assert [c for _, _, c in log[1:] if c is not None] == [], log
        assert log[1][0] == log[0][0], log[:2]
    finally:
        r.stop()


def test_server_ignoring_cookies_works(lab, tmp_path, cookie_server):
    """(4) A server that ignores cookies answers as ever: one query a name."""
    cookie_server.default = "n"
    r = cookie_vigil(lab, tmp_path, cookie_server)
    try:
        ns = [name("n") for _ in range(3)]
        for n in ns:
            assert good_answer(ask(r, n), n), n
            assert len(cookie_server.queries(n)) == 1
    finally:
        r.stop()


def test_cookies_off(lab, tmp_path, cookie_server):
    """resolver.upstream-cookies: no sends no COOKIE option."""
    r = cookie_vigil(lab, tmp_path, cookie_server, "  upstream-cookies: no\n")
    try:
        n = name("p")
        assert good_answer(ask(r, n), n)
        assert [c for _, c in cookie_server.queries(n)] == [None]
    finally:
        r.stop()
