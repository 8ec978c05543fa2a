"""Client helpers for the encrypted-DNS integration tests (DoT, DoH, abuse, real clients).

Python's ssl for DNS-over-TLS (RFC 7858), h2 (python3-h2) over an ssl socket
for DNS-over-HTTPS (RFC 8484), a hand-written HTTP/2 frame layer for abuse
tests (floods the h2 state machine would refuse to send), slowloris
connections, and wrappers around the real clients kdig (+tls, +https) and
dig (+tls, +https).  Checked against Debian's Unbound in test_enc_lab.py.

DoT
    ans, tls = dot_query(addr, port, msg_or_wire, server_hostname=..., cafile=...)
    tls.session (pass back as session= to resume), tls.session_reused,
    tls.version, tls.alpn, tls.peer_der
    with DotConnection(addr, port, ...) as c:      # one connection, pipelined
        c.send_many([q1, q2, q3]); answers = c.recv_many({q1.id, q2.id, q3.id})
DoH
    status, headers, body = doh_request(addr, port, "GET", "/dns-query", query=msg, ...)
    ans = doh_query(addr, port, msg, method="POST")  -> (status, headers, dns.message)
    with DohConnection(addr, port, ...) as h: sids = [h.request(...) ...]; h.response(sid)
    with RawH2(addr, port, ...) as r: r.rapid_reset(1000); r.outcome() -> {"goaway": code, ...}
Slowloris
    with Slowloris(addr, port, 1000, mode="silent"|"partial"|"trickle") as s: s.open_count()
Real clients
    kdig(addr, port, "www.dot.test", "A", mode="tls", cafile=..., hostname=..., sni=...)
    dig(addr, port, "www.dot.test", "A", mode="https", cafile=..., hostname=...)
    -> ClientResult(rc, status, answer=[rr lines], tls=..., http_status=..., out=...)

Contexts are cached per (cafile, client cert, ALPN, verify) so that a session
from one call can be resumed by the next (Python only resumes a session with
the SSLContext that made it).
"""
import base64
import os
import re
import resource
import select
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time

import dns.message
import dns.rcode

DEFAULT_SNI = "dns.vigil.test"
KDIG = shutil.which("kdig") or "/usr/bin/kdig"
DIG = shutil.which("dig") or "/usr/bin/dig"

# ------------------------------------------------------------------ common


def raise_nofile(n):
    """Raise RLIMIT_NOFILE (soft, and hard if root) to at least N; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= n:
        return soft
    if hard < n:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
            return n
        except (ValueError, OSError):
            n = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard if hard >= n else n))
    return n


def _wire(msg):
    """(wire bytes, id) of a dns.message.Message or raw bytes."""
    if isinstance(msg, (bytes, bytearray)):
        wire = bytes(msg)
        return wire, (struct.unpack("!H", wire[:2])[0] if len(wire) >= 2 else None)
    return msg.to_wire(), msg.id


_CONTEXTS = {}
_CTX_LOCK = threading.Lock()


def client_context(cafile=None, client_cert=None, alpn=("dot",), verify=True,
                   min_version=None, max_version=None):
    """A cached ssl.SSLContext.  CLIENT_CERT: a certs.Cert (has .cert/.key) or a
    (certfile, keyfile) pair.  VERIFY false: no certificate or name check.
    CAFILE None with VERIFY: the system store."""
    if client_cert is not None and not isinstance(client_cert, tuple):
        client_cert = (client_cert.cert, client_cert.key)
    key = (cafile, client_cert, tuple(alpn or ()), verify, min_version, max_version)
    with _CTX_LOCK:
        ctx = _CONTEXTS.get(key)
        if ctx is not None:
            return ctx
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if verify:
            if cafile:
                ctx.load_verify_locations(cafile=cafile)
            else:
                ctx.load_default_certs()
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if client_cert:
            ctx.load_cert_chain(client_cert[0], client_cert[1])
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        if min_version is not None:
            ctx.minimum_version = min_version
        if max_version is not None:
            ctx.maximum_version = max_version
        _CONTEXTS[key] = ctx
        return ctx


class TlsInfo:
    """What a TLS connection negotiated."""

    def __init__(self, sock):
        self.session = sock.session
        self.session_reused = sock.session_reused
        self.version = sock.version()
        self.cipher = sock.cipher()
        self.alpn = sock.selected_alpn_protocol()
        self.peer_der = sock.getpeercert(binary_form=True)

    def refresh(self, sock):
        """The session as of now (TLS 1.3 tickets arrive after the handshake)."""
        self.session = sock.session
        return self

    def __repr__(self):
        return "<TlsInfo %s %s alpn=%s reused=%s>" % (self.version, self.cipher and self.cipher[0],
                                                      self.alpn, self.session_reused)


def tls_connect(addr, port, server_hostname=DEFAULT_SNI, cafile=None, client_cert=None,
                session=None, alpn=("dot",), verify=True, timeout=5.0, context=None,
                source=None):
    """A connected, handshaken ssl socket.  SERVER_HOSTNAME is the SNI and the
    name checked (None: no SNI; then verification checks nothing by name).
    SOURCE: the local address to connect from."""
    ctx = context or client_context(cafile, client_cert, alpn, verify)
    if server_hostname is None and ctx.check_hostname:
        # no SNI and no name check: a separate cached context
        ctx = client_context(cafile, client_cert, alpn, False) if not verify else \
            _no_name_context(cafile, client_cert, alpn)
    raw = socket.create_connection((addr, port), timeout=timeout,
                                   source_address=(source, 0) if source else None)
    try:
        s = ctx.wrap_socket(raw, server_hostname=server_hostname, session=session)
    except BaseException:
        raw.close()
        raise
    s.settimeout(timeout)
    return s


def _no_name_context(cafile, client_cert, alpn):
    key = ("noname", cafile, client_cert, tuple(alpn or ()))
    with _CTX_LOCK:
        ctx = _CONTEXTS.get(key)
        if ctx is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.load_verify_locations(cafile=cafile) if cafile else ctx.load_default_certs()
            if client_cert:
                cc = client_cert if isinstance(client_cert, tuple) else \
                    (client_cert.cert, client_cert.key)
                ctx.load_cert_chain(*cc)
            if alpn:
                ctx.set_alpn_protocols(list(alpn))
            _CONTEXTS[key] = ctx
        return ctx


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


# ------------------------------------------------------------------ DoT


def dot_query(addr, port, msg, server_hostname=DEFAULT_SNI, cafile=None, client_cert=None,
              session=None, timeout=5.0, alpn=("dot",), verify=True, raw=False):
    """One query over a fresh DoT connection.  MSG: dns.message.Message or wire
    bytes.  Returns (answer, TlsInfo): answer a dns.message.Message (wire
    bytes with RAW), TlsInfo.session to resume with, .session_reused for
    this connection.  Raises ssl.SSLError on a failed handshake,
    ConnectionError if the server closes without answering."""
    wire, _ = _wire(msg)
    with tls_connect(addr, port, server_hostname, cafile, client_cert, session, alpn, verify,
                     timeout) as s:
        info = TlsInfo(s)
        s.sendall(struct.pack("!H", len(wire)) + wire)
        head = _recv_exact(s, 2)
        if head is None:
            raise ConnectionError("DoT server closed the connection without an answer")
        body = _recv_exact(s, struct.unpack("!H", head)[0])
        if body is None:
            raise ConnectionError("DoT server closed the connection mid-answer")
        info.refresh(s)
    return (body if raw else dns.message.from_wire(body)), info


class DotConnection:
    """One DoT connection for pipelining: send several queries, read the
    answers in whatever order they come, matched by ID."""

    def __init__(self, addr, port, server_hostname=DEFAULT_SNI, cafile=None, client_cert=None,
                 session=None, timeout=5.0, alpn=("dot",), verify=True):
        self.sock = tls_connect(addr, port, server_hostname, cafile, client_cert, session,
                                alpn, verify, timeout)
        self.info = TlsInfo(self.sock)
        self.order = []  # IDs in the order the answers arrived

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, msg):
        wire, qid = _wire(msg)
        self.sock.sendall(struct.pack("!H", len(wire)) + wire)
        return qid

    def send_many(self, msgs):
        """All queries in one write (they reach the server together)."""
        out, ids = b"", []
        for m in msgs:
            wire, qid = _wire(m)
            out += struct.pack("!H", len(wire)) + wire
            ids.append(qid)
        self.sock.sendall(out)
        return ids

    def send_bytes(self, data):
        self.sock.sendall(data)

    def recv_wire(self):
        """The next answer's wire bytes, or None when the server closed."""
        head = _recv_exact(self.sock, 2)
        if head is None:
            return None
        return _recv_exact(self.sock, struct.unpack("!H", head)[0])

    def recv(self):
        wire = self.recv_wire()
        if wire is None:
            return None
        m = dns.message.from_wire(wire)
        self.order.append(m.id)
        return m

    def recv_many(self, ids):
        """{id: answer} for every ID in IDS (any order); ConnectionError if the
        server closes first, socket.timeout if one does not come."""
        want, got = set(ids), {}
        while want - set(got):
            m = self.recv()
            if m is None:
                raise ConnectionError("DoT server closed the connection; still waiting for %s"
                                      % sorted(want - set(got)))
            got[m.id] = m
        return got

    def query(self, msg):
        qid = self.send(msg)
        return self.recv_many([qid])[qid]

    def refresh_session(self):
        return self.info.refresh(self.sock).session

    def peer_closed(self, timeout=5.0):
        """True once the server has closed (EOF or reset) within TIMEOUT; data
        that arrives meanwhile is read and dropped."""
        return wait_closed(self.sock, timeout)


def wait_closed(sock, timeout):
    deadline = time.monotonic() + timeout
    old = sock.gettimeout()
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            sock.settimeout(left)
            try:
                if not sock.recv(65536):
                    return True
            except (socket.timeout, TimeoutError):
                return False
            except ssl.SSLWantReadError:
                continue
            except (ConnectionError, ssl.SSLError, OSError):
                return True
    finally:
        try:
            sock.settimeout(old)
        except OSError:
            pass


# ------------------------------------------------------------------ DoH


def b64url(wire):
    return base64.urlsafe_b64encode(wire).rstrip(b"=").decode()


def doh_path(path, msg):
    """PATH?dns=<base64url(MSG), no padding> (RFC 8484 4.1)."""
    wire, _ = _wire(msg)
    return "%s%sdns=%s" % (path, "&" if "?" in path else "?", b64url(wire))


class DohConnection:
    """An HTTP/2 connection (h2) over TLS with ALPN h2; many streams at once."""

    def __init__(self, addr, port, server_hostname=DEFAULT_SNI, cafile=None, client_cert=None,
                 session=None, timeout=5.0, verify=True, authority=None):
        import h2.config
        import h2.connection
        self.sock = tls_connect(addr, port, server_hostname, cafile, client_cert, session,
                                ("h2",), verify, timeout)
        self.info = TlsInfo(self.sock)
        if self.info.alpn != "h2":
            self.sock.close()
            raise ConnectionError("server did not select ALPN h2 (got %r)" % self.info.alpn)
        self.authority = authority or server_hostname or addr
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())
        self.streams = {}  # sid -> {"headers": [], "body": b"", "done": bool, "reset": code}
        self.goaway = None  # error code of a GOAWAY received
        self.closed = False
        self.timeout = timeout
        self.pings_acked = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            if not self.closed:
                self.conn.close_connection()
                self.sock.sendall(self.conn.data_to_send())
        except Exception:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def request(self, method="POST", path="/dns-query", body=None, headers=None,
                content_type="application/dns-message", end_stream=True):
        """Start one request; returns its stream ID.  BODY: bytes or a
        dns.message.Message.  HEADERS: extra (name, value) pairs; one named like
        a default (content-type, accept, ...) replaces it."""
        if body is not None and not isinstance(body, (bytes, bytearray)):
            body = body.to_wire()
        hdrs = [(b":method", method.encode()), (b":scheme", b"https"),
                (b":authority", self.authority.encode()), (b":path", path.encode())]
        extra = [(k.encode() if isinstance(k, str) else k, v.encode() if isinstance(v, str) else v)
                 for k, v in (headers or [])]
        names = {k.lower() for k, _ in extra}
        defaults = [(b"accept", b"application/dns-message")]
        if body is not None and content_type:
            defaults.append((b"content-type", content_type.encode()))
        if body is not None:
            defaults.append((b"content-length", str(len(body)).encode()))
        hdrs += [h for h in defaults if h[0] not in names] + extra
        sid = self.conn.get_next_available_stream_id()
        self.streams[sid] = {"headers": [], "body": b"", "done": False, "reset": None}
        self.conn.send_headers(sid, hdrs, end_stream=end_stream and body is None)
        if body is not None:
            self._send_body(sid, bytes(body), end_stream)
        self.sock.sendall(self.conn.data_to_send())
        return sid

    def _send_body(self, sid, body, end_stream):
        off = 0
        while True:
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window <= 0:
                self.sock.sendall(self.conn.data_to_send())
                self._pump(self.timeout)
                continue
            chunk = body[off:off + window]
            off += len(chunk)
            last = off >= len(body)
            self.conn.send_data(sid, chunk, end_stream=end_stream and last)
            if last:
                return

    def _pump(self, timeout):
        """Read once (up to TIMEOUT) and process the events; False on EOF/timeout."""
        import h2.events
        if self.closed:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionError, ssl.SSLError, OSError):
            data = b""
        if not data:
            self.closed = True
            return False
        for ev in self.conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                self.streams.setdefault(ev.stream_id, {"headers": [], "body": b"",
                                                       "done": False, "reset": None})
                self.streams[ev.stream_id]["headers"] += ev.headers
            elif isinstance(ev, h2.events.TrailersReceived):
                self.streams[ev.stream_id]["headers"] += ev.headers
            elif isinstance(ev, h2.events.DataReceived):
                self.streams[ev.stream_id]["body"] += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                self.streams[ev.stream_id]["done"] = True
            elif isinstance(ev, h2.events.StreamReset):
                st = self.streams.setdefault(ev.stream_id, {"headers": [], "body": b"",
                                                            "done": False, "reset": None})
                st["reset"], st["done"] = ev.error_code, True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = ev.error_code
            elif isinstance(ev, h2.events.PingAckReceived):
                self.pings_acked += 1
        out = self.conn.data_to_send()
        if out:
            try:
                self.sock.sendall(out)
            except OSError:
                self.closed = True
        return True

    def response(self, sid, timeout=None):
        """(status, {header: value}, body) of stream SID once it has ended.
        Raises ConnectionError if the stream was reset or the connection went
        away first, TimeoutError if nothing completes it within TIMEOUT."""
        deadline = time.monotonic() + (timeout or self.timeout)
        st = self.streams[sid]
        while not st["done"]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("stream %d: no complete response" % sid)
            if not self._pump(left):
                if self.closed or self.goaway is not None:
                    raise ConnectionError("stream %d: connection closed (GOAWAY %s) before the "
                                          "response ended" % (sid, self.goaway))
        if st["reset"] is not None and not st["headers"]:
            raise ConnectionError("stream %d reset by the server (error code %d)"
                                  % (sid, st["reset"]))
        hdrs = {}
        for k, v in st["headers"]:
            k = k.decode() if isinstance(k, bytes) else k
            v = v.decode() if isinstance(v, bytes) else v
            hdrs[k] = v if k not in hdrs else hdrs[k] + ", " + v
        status = int(hdrs.get(":status", "0"))
        return status, hdrs, st["body"]

    def max_concurrent_streams(self):
        return self.conn.remote_settings.max_concurrent_streams

    def ping(self, timeout=None):
        """True if the server acknowledges a PING within TIMEOUT."""
        before = self.pings_acked
        self.conn.ping(b"vigil-pi")
        self.sock.sendall(self.conn.data_to_send())
        deadline = time.monotonic() + (timeout or self.timeout)
        while self.pings_acked == before:
            left = deadline - time.monotonic()
            if left <= 0 or (not self._pump(left) and self.closed):
                return False
        return True


def doh_request(addr, port, method="POST", path="/dns-query", body=None, query=None,
                headers=None, sni=DEFAULT_SNI, cafile=None, client_cert=None, timeout=5.0,
                verify=True, content_type="application/dns-message", authority=None):
    """One request over a new connection: (status, headers, body).  QUERY (GET):
    a DNS message or wire bytes, sent as ?dns=base64url; a str is appended
    verbatim after '?' (for malformed requests)."""
    if query is not None:
        if isinstance(query, str):
            path = "%s%s%s" % (path, "&" if "?" in path else "?", query)
        else:
            path = doh_path(path, query)
    with DohConnection(addr, port, sni, cafile, client_cert, None, timeout, verify,
                       authority) as h:
        sid = h.request(method, path, body, headers, content_type)
        return h.response(sid, timeout)


def doh_query(addr, port, msg, method="POST", path="/dns-query", **kw):
    """(status, headers, answer) for one DNS query over DoH (GET: id set to 0
    as RFC 8484 recommends, on a copy when MSG is a Message)."""
    wire, _ = _wire(msg)
    if method == "GET":
        wire = b"\0\0" + wire[2:]
        status, hdrs, body = doh_request(addr, port, "GET", path, query=wire, **kw)
    else:
        status, hdrs, body = doh_request(addr, port, "POST", path, body=wire, **kw)
    ans = dns.message.from_wire(body) if status == 200 and body else None
    return status, hdrs, ans


# ------------------------------------------------------------------ raw HTTP/2 (abuse)

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME = {"DATA": 0, "HEADERS": 1, "PRIORITY": 2, "RST_STREAM": 3, "SETTINGS": 4,
         "PUSH_PROMISE": 5, "PING": 6, "GOAWAY": 7, "WINDOW_UPDATE": 8, "CONTINUATION": 9}
FRAME_NAME = {v: k for k, v in FRAME.items()}


class RawH2:
    """HTTP/2 spoken by hand over TLS (ALPN h2), for floods: nothing here
    checks what the protocol allows.  Server SETTINGS are acknowledged (so
    the server has no reason to complain but the flood itself)."""

    def __init__(self, addr, port, server_hostname=DEFAULT_SNI, cafile=None, verify=True,
                 timeout=5.0, authority=None, settings=None):
        import hpack
        self.sock = tls_connect(addr, port, server_hostname, cafile, None, None, ("h2",),
                                verify, timeout)
        self.info = TlsInfo(self.sock)
        self.encoder = hpack.Encoder()
        self.authority = authority or server_hostname or addr
        self.next_sid = 1
        self.frames = []  # (type, flags, sid, payload) received
        self.goaway = None  # (error code, last stream id, debug data)
        self.closed = False
        self.buf = b""
        self.sent_bytes = 0
        payload = b"".join(struct.pack("!HI", k, v) for k, v in (settings or {}).items())
        self._send(H2_PREFACE + self.frame(FRAME["SETTINGS"], 0, 0, payload))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    @staticmethod
    def frame(ftype, flags, sid, payload=b""):
        return struct.pack("!I", len(payload))[1:] + struct.pack("!BBI", ftype, flags,
                                                                 sid & 0x7FFFFFFF) + payload

    def _send(self, data):
        """Send; False (and closed) if the server has gone."""
        if self.closed:
            return False
        try:
            self.sock.sendall(data)
            self.sent_bytes += len(data)
            return True
        except (OSError, ssl.SSLError):
            self.closed = True
            return False

    def headers_block(self, method="GET", path="/dns-query?dns=AAABAAABAAAAAAAAA3d3dwNkb3QEdGVzdAAAAQAB",
                      extra=()):
        return self.encoder.encode([(":method", method), (":scheme", "https"),
                                    (":authority", self.authority), (":path", path),
                                    ("accept", "application/dns-message")] + list(extra))

    def send_frame(self, ftype, flags, sid, payload=b""):
        return self._send(self.frame(ftype, flags, sid, payload))

    def open_stream(self, end_stream=True, path=None, extra=()):
        sid = self.next_sid
        self.next_sid += 2
        block = self.headers_block(path=path) if path else self.headers_block(extra=extra)
        self.send_frame(FRAME["HEADERS"], 0x4 | (0x1 if end_stream else 0), sid, block)
        return sid

    def rapid_reset(self, n, batch=100):
        """CVE-2023-44487: N times HEADERS then RST_STREAM(CANCEL) at once,
        written BATCH pairs at a time; returns the pairs sent before the
        server closed."""
        sent = 0
        while sent < n and not self.closed:
            out = b""
            for _ in range(min(batch, n - sent)):
                sid = self.next_sid
                self.next_sid += 2
                out += self.frame(FRAME["HEADERS"], 0x5, sid, self.headers_block())
                out += self.frame(FRAME["RST_STREAM"], 0, sid, struct.pack("!I", 8))
            if not self._send(out):
                break
            sent += min(batch, n - sent)
            self.poll(0)
        return sent

    def ping_flood(self, n, batch=200):
        sent = 0
        while sent < n and not self.closed:
            k = min(batch, n - sent)
            if not self._send(b"".join(self.frame(FRAME["PING"], 0, 0, struct.pack("!Q", sent + i))
                                       for i in range(k))):
                break
            sent += k
            self.poll(0)
        return sent

    def settings_flood(self, n, batch=200):
        sent = 0
        while sent < n and not self.closed:
            k = min(batch, n - sent)
            if not self._send(b"".join(self.frame(FRAME["SETTINGS"], 0, 0,
                                                  struct.pack("!HI", 3, 100 + (sent + i) % 50))
                                       for i in range(k))):
                break
            sent += k
            self.poll(0)
        return sent

    def poll(self, timeout):
        """Read what has arrived within TIMEOUT; returns the new frames."""
        new = []
        deadline = time.monotonic() + timeout
        while not self.closed:
            left = max(0.0, deadline - time.monotonic())
            if not self.sock.pending():
                r, _, _ = select.select([self.sock], [], [], left)
                if not r:
                    break
            try:
                self.sock.setblocking(False)
                data = self.sock.recv(65536)
            except (ssl.SSLWantReadError, BlockingIOError):
                if left <= 0:
                    break
                continue
            except (OSError, ssl.SSLError):
                data = b""
            finally:
                if not self.closed:
                    try:
                        self.sock.setblocking(True)
                    except OSError:
                        pass
            if not data:
                self.closed = True
                break
            self.buf += data
            while len(self.buf) >= 9:
                ln = struct.unpack("!I", b"\0" + self.buf[:3])[0]
                if len(self.buf) < 9 + ln:
                    break
                ftype, flags, sid = struct.unpack("!BBI", self.buf[3:9])
                payload, self.buf = self.buf[9:9 + ln], self.buf[9 + ln:]
                fr = (ftype, flags, sid & 0x7FFFFFFF, payload)
                new.append(fr)
                if ftype == FRAME["SETTINGS"] and not flags & 1:
                    self._send(self.frame(FRAME["SETTINGS"], 1, 0))
                elif ftype == FRAME["GOAWAY"] and len(payload) >= 8:
                    last, code = struct.unpack("!II", payload[:8])
                    self.goaway = (code, last & 0x7FFFFFFF, payload[8:])
            if timeout == 0:
                continue
        self.frames += new
        return new

    def outcome(self, timeout=3.0):
        """Wait up to TIMEOUT for the server to react; returns
        {"goaway": error code or None, "closed": bool, "frames": {name: count}}."""
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.poll(min(0.2, deadline - time.monotonic()))
            if self.goaway is not None:
                self.poll(0.2)  # a close usually follows
                break
        counts = {}
        for ftype, _, _, _ in self.frames:
            name = FRAME_NAME.get(ftype, str(ftype))
            counts[name] = counts.get(name, 0) + 1
        return {"goaway": None if self.goaway is None else self.goaway[0],
                "closed": self.closed, "frames": counts}


# ------------------------------------------------------------------ slowloris


def client_hello(server_hostname=DEFAULT_SNI, alpn=("dot",)):
    """The bytes of a real TLS ClientHello (what Python's ssl would send)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=server_hostname)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


class Slowloris:
    """N TCP connections to a TLS port that never complete the handshake.

    mode "silent":  connect, send nothing
         "partial": send the first half of a ClientHello, then nothing
         "trickle": a thread sends the ClientHello one byte per connection
                    every INTERVAL seconds (round robin), never finishing it
    Connections stay open until close() (or the server closes them:
    open_count() says how many the server still holds)."""

    def __init__(self, addr, port, n, mode="silent", interval=1.0, server_hostname=DEFAULT_SNI,
                 connect_timeout=5.0, source=None):
        if mode not in ("silent", "partial", "trickle"):
            raise ValueError("mode: silent, partial or trickle")
        self.addr, self.port, self.n, self.mode = addr, port, n, mode
        self.interval = interval
        self.hello = client_hello(server_hostname)
        self.socks = []
        self.sent = {}  # fileno -> bytes of the hello sent
        self.failed = 0
        self.connect_timeout = connect_timeout
        self.source = source
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()

    def open(self):
        """Connect all N; returns how many connected."""
        raise_nofile(self.n + 256)
        for _ in range(self.n):
            s = socket.socket(socket.AF_INET6 if ":" in self.addr else socket.AF_INET)
            s.settimeout(self.connect_timeout)
            try:
                if self.source:
                    s.bind((self.source, 0))
                s.connect((self.addr, self.port))
            except OSError:
                self.failed += 1
                s.close()
                continue
            s.setblocking(False)
            if self.mode == "partial":
                try:
                    s.send(self.hello[:len(self.hello) // 2])
                except OSError:
                    pass
            self.sent[s.fileno()] = 0
            self.socks.append(s)
        if self.mode == "trickle":
            self._thread = threading.Thread(target=self._trickle, daemon=True)
            self._thread.start()
        return len(self.socks)

    def _trickle(self):
        limit = len(self.hello) - 1  # never the last byte
        while not self._stop.wait(self.interval):
            for s in list(self.socks):
                fd = s.fileno()
                if fd < 0:
                    continue
                k = self.sent.get(fd, 0)
                if k >= limit:
                    continue
                try:
                    s.send(self.hello[k:k + 1])
                    self.sent[fd] = k + 1
                except OSError:
                    pass

    def open_count(self):
        """How many of our connections the server has not closed."""
        n = 0
        for s in self.socks:
            try:
                data = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                if data:
                    n += 1  # the server sent something (an alert?) but is still open
            except BlockingIOError:
                n += 1
            except OSError:
                pass
        return n

    def close(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        self.socks = []


# ------------------------------------------------------------------ kdig / dig


class ClientResult:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err
        self.status = None        # "NOERROR", "NXDOMAIN", ...
        self.answer = []          # answer RRs as text lines, whitespace squeezed
        self.flags = []
        self.tls = None           # kdig: "(TLS1.3)-(ECDHE-...)-..."; dig: "TLS"/"HTTPS"
        self.http_status = None   # kdig +https: 200
        self.transport = None     # dig's SERVER line: "TCP", "TLS", "HTTPS", ...

    def ok(self):
        return self.rc == 0 and self.status is not None

    def addresses(self):
        return [rr.split()[-1] for rr in self.answer if rr.split()[3] in ("A", "AAAA")]

    def __repr__(self):
        return "<%s rc=%d status=%s answer=%s>" % (os.path.basename(self.argv[0]), self.rc,
                                                   self.status, self.answer)


def _answer_section(out, marker):
    lines, on = [], False
    for line in out.splitlines():
        if line.strip().startswith(marker):
            on = True
            continue
        if on:
            if not line.strip():
                break
            if line.startswith(";"):
                continue
            lines.append(" ".join(line.split()))
    return lines


def _run(argv, timeout):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        return -1, e.stdout or "", "timeout after %ss" % timeout


def kdig(addr, port, qname, qtype="A", mode="tls", cafile=None, hostname=DEFAULT_SNI, sni=None,
         pin=None, get=False, path="/dns-query", client_cert=None, extra=(), timeout=3):
    """kdig (Knot 3.2) over DoT (MODE "tls") or DoH ("https"; GET with GET=True).
    CAFILE: +tls-ca=FILE (without it: +tls-ca with the system store unless
    PIN, which alone authenticates); HOSTNAME: +tls-hostname (the name
    checked; also the SNI and the :authority unless SNI is given); SNI:
    +tls-sni; PIN: +tls-pin=BASE64 (SPKI); CLIENT_CERT: a certs.Cert."""
    argv = [KDIG, "@%s" % addr, "-p", str(port), "+time=%d" % timeout, "+retry=0"]
    if mode == "https":
        argv.append("+https=%s" % path if path else "+https")
        if get:
            argv.append("+https-get")
    elif mode == "tls":
        argv.append("+tls")
    else:
        raise ValueError("mode: tls or https")
    if cafile:
        argv.append("+tls-ca=%s" % cafile)
    elif not pin:
        argv.append("+tls-ca")
    if pin:
        argv.append("+tls-pin=%s" % pin)
    if hostname:
        argv.append("+tls-hostname=%s" % hostname)
    if sni:
        argv.append("+tls-sni=%s" % sni)
    if client_cert is not None:
        argv += ["+tls-certfile=%s" % client_cert.cert, "+tls-keyfile=%s" % client_cert.key]
    argv += list(extra) + [qname, qtype]
    rc, out, err = _run(argv, timeout * 3 + 5)
    res = ClientResult(argv, rc, out, err)
    m = re.search(r";; ->>HEADER<<- opcode: \w+; status: (\w+)", out)
    res.status = m.group(1) if m else None
    m = re.search(r";; Flags: ([^;]*);", out)
    res.flags = m.group(1).split() if m else []
    m = re.search(r";; TLS session (\S+)", out)
    res.tls = m.group(1) if m else None
    m = re.search(r";; HTTP session .*\(status: (\d+)\)", out)
    res.http_status = int(m.group(1)) if m else None
    m = re.search(r";; From \S+\((\w+)\)", out)
    res.transport = m.group(1) if m else None
    res.answer = _answer_section(out, ";; ANSWER SECTION:")
    if rc != 0 or res.status is None:
        res.status = res.status if rc == 0 else None
    return res


def dig(addr, port, qname, qtype="A", mode="tls", cafile=None, hostname=DEFAULT_SNI,
        get=False, path="/dns-query", client_cert=None, extra=(), timeout=3):
    """dig (BIND 9.18) over DoT ("tls") or DoH ("https"; GET with GET=True).
    CAFILE: +tls-ca=FILE (verification on; without CAFILE none);
    HOSTNAME: +tls-hostname (the name checked and sent as SNI)."""
    argv = [DIG, "@%s" % addr, "-p", str(port), "+time=%d" % timeout, "+tries=1"]
    if mode == "https":
        argv.append("+https=%s" % path if path else "+https")
        if get:
            argv.append("+https-get")
    elif mode == "tls":
        argv.append("+tls")
    else:
        raise ValueError("mode: tls or https")
    if cafile:
        argv.append("+tls-ca=%s" % cafile)
    if hostname and cafile:
        argv.append("+tls-hostname=%s" % hostname)
    if client_cert is not None:
        argv += ["+tls-certfile=%s" % client_cert.cert, "+tls-keyfile=%s" % client_cert.key]
    argv += list(extra) + [qname, qtype]
    rc, out, err = _run(argv, timeout * 3 + 5)
    res = ClientResult(argv, rc, out, err)
    m = re.search(r";; ->>HEADER<<- opcode: \w+, status: (\w+)", out)
    res.status = m.group(1) if m else None
    m = re.search(r";; flags: ([^;]*);", out)
    res.flags = m.group(1).split() if m else []
    m = re.search(r";; SERVER: \S+ \(([\w-]+)\)", out)
    res.transport = m.group(1) if m else None  # UDP, TCP, TLS, HTTPS, HTTPS-GET
    res.tls = res.transport if res.transport and res.transport.startswith(("TLS", "HTTPS")) \
        else None
    res.answer = _answer_section(out, ";; ANSWER SECTION:")
    return res


# ------------------------------------------------------------------ SNI capture


class SniCatcher:
    """A TLS server on ADDR:<free port> that records what each client sends:
    the SNI (names), the ALPN it selected (alpns) and, with CLIENT_CA, the
    DER of the client certificate (client_ders; None if none was sent); then
    it drops the connection.  Shows what a client really puts in its
    ClientHello and whether it presents a certificate."""

    def __init__(self, cert, key, addr="127.0.0.1", client_ca=None):
        self.names = []
        self.alpns = []
        self.client_ders = []
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["dot", "h2"])
        if client_ca:
            ctx.load_verify_locations(cafile=client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.sni_callback = lambda sobj, name, c: self.names.append(name)
        self.ctx = ctx
        self.lsock = socket.socket(socket.AF_INET)
        self.lsock.bind((addr, 0))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self.addr, self.port = self.lsock.getsockname()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                c, _ = self.lsock.accept()
            except (socket.timeout, TimeoutError, OSError):
                continue
            c.settimeout(2)
            try:
                with self.ctx.wrap_socket(c, server_side=True) as s:
                    self.alpns.append(s.selected_alpn_protocol())
                    self.client_ders.append(s.getpeercert(binary_form=True))
            except (OSError, ssl.SSLError):
                pass
            finally:
                c.close()

    def wait(self, n=1, timeout=5.0):
        """True once N handshakes were seen."""
        deadline = time.monotonic() + timeout
        while len(self.alpns) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return len(self.alpns) >= n

    def close(self):
        self._stop.set()
        self._t.join(timeout=5)
        self.lsock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
