#!/usr/bin/python3
"""A silent "name server": reads UDP datagrams and TCP connections, never answers.

Used by the lab (tests/lab/lab.py) as the unresponsive NS of a delegation.

    blackhole.py ADDR PORT PIDFILE COUNTFILE [MAX_SECONDS]

It binds ADDR:PORT (UDP and TCP), writes its PID to PIDFILE once bound, counts
what it receives in COUNTFILE ("udp=N tcp=N") and exits by itself after
MAX_SECONDS (default 6 hours) or on SIGTERM.  TCP connections are accepted and
read from, never written to; at most 64 are kept open (oldest closed first).
"""
import os
import selectors
import signal
import socket
import sys
import time


def main(argv):
    if len(argv) not in (5, 6):
        sys.stderr.write(__doc__)
        return 2
    addr, port, pidfile, countfile = argv[1], int(argv[2]), argv[3], argv[4]
    max_seconds = float(argv[5]) if len(argv) == 6 else 6 * 3600.0
    deadline = time.monotonic() + max_seconds

    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    udp = socket.socket(family, socket.SOCK_DGRAM)
    udp.bind((addr, port))
    tcp = socket.socket(family, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((addr, port))
    tcp.listen(16)
    udp.setblocking(False)
    tcp.setblocking(False)

    stop = {"flag": False}

    def on_term(signum, frame):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    counts = {"udp": 0, "tcp": 0}

    def write_counts():
        tmp = countfile + ".tmp"
        with open(tmp, "w") as f:
            f.write("udp=%d tcp=%d\n" % (counts["udp"], counts["tcp"]))
        os.replace(tmp, countfile)

    write_counts()
    tmp = pidfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % os.getpid())
    os.replace(tmp, pidfile)

    sel = selectors.DefaultSelector()
    sel.register(udp, selectors.EVENT_READ, "udp")
    sel.register(tcp, selectors.EVENT_READ, "listen")
    conns = []
    while not stop["flag"] and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            what = key.data
            if what == "udp":
                try:
                    udp.recvfrom(65535)
                    counts["udp"] += 1
                    write_counts()
                except OSError:
                    pass
            elif what == "listen":
                try:
                    c, _ = tcp.accept()
                except OSError:
                    continue
                c.setblocking(False)
                counts["tcp"] += 1
                write_counts()
                conns.append(c)
                sel.register(c, selectors.EVENT_READ, "conn")
                if len(conns) > 64:
                    old = conns.pop(0)
                    sel.unregister(old)
                    old.close()
            else:
                c = key.fileobj
                try:
                    data = c.recv(65535)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(c)
                    conns.remove(c)
                    c.close()
    for c in conns:
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
