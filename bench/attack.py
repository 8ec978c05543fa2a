#!/usr/bin/python3
"""Helper for the attack, slow-server and soak cases of bench/run.sh (see
bench/README.md, "Attacks").  Unlike bench.py it needs python3-dnspython: the
KeyTrap zone (tests/lab/labdnssec.py) is the test lab's own, imported from
tests/lab; the hostile server is bench/hostile.c (or, BENCH_ATK_AUTH=py,
tests/lab/slowauth.py, the lab server it copies).

Subcommands:
  keytrap WORKDIR IP           sign the KeyTrap zone keytrap. (the test lab's
                               "keytrap-big" breakage) into WORKDIR/keytrap.zone;
                               write its delegation + DS to WORKDIR/root.extra
  names WORKDIR TAG N          attack query files WORKDIR/atk-<attack>-TAG.q,
                               N never-asked names each (ATTACKS below)
  slownames WORKDIR TAG N      WORKDIR/slow-TAG.q: N names the hostile server
                               answers after 500 ms
  soaknames WORKDIR N MIXN     WORKDIR/soak-miss.q (N random names under the
                               wildcard *.w.bench.) and soak-atk.q (MIXN names,
                               the attacks in turn)
  count atk FILE | nsd SOCKET  queries the hostile server (its count file) or an
                               NSD (its control socket) has received so far
  settle KIND ARG [QUIET MAX]  the same once it has not moved for QUIET s (0.5)
  slowclient ADDR PORT FILE CONC TIMEOUT
                               ask FILE's names, CONC in flight; print how many
                               were answered with the genuine address
  rss PID INTERVAL SECS OUT    sample VmRSS of PID every INTERVAL s for SECS s
                               (or until it exits) into OUT; print the peak (kB)
  atkpool KVFILE TAG ROUNDS    an attack's figures over its rounds: mean benign
                               q/s and resolver CPU of each side, the per-round
                               p99 ratios (min, median, max), the attack
                               stream's totals (sent, lost, rcodes)
  report KVFILE                the attack / slow / soak tables
"""
import json
import os
import random
import selectors
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LABDIR = os.path.join(HERE, "..", "tests", "lab")
sys.path.insert(0, LABDIR)
sys.path.append("/usr/lib/python3/dist-packages")  # Debian's dnspython under a pyenv python3

ATK_ZONE = "atk."
KEYTRAP_ZONE = "keytrap."
# attack -> (query name pattern, where its upstream queries are counted).
# {t} is a tag unique to the run and resolver, {i} the name's index.
ATTACKS = {
    "nxns": ("{t}{i}.nxns.atk", "atk"),        # 40 glueless NS names per referral
    "loop": ("a{t}{i}.loop.atk", "atk"),       # a<x> CNAME b<x> CNAME a<x> ...
    "chain": ("c0-{t}{i}.chain.atk", "atk"),   # 100 CNAMEs, one per answer
    "tsuname": ("{t}{i}.tsua.atk", "atk"),     # tsua NS ns.tsub, tsub NS ns.tsua
    "keytrap": ("{t}{i}.any.keytrap", "nsd"),  # 350 colliding keys x 480 bad RRSIGs
    "spoof": ("s200-{t}{i}.atk", "atk"),       # forged answers, genuine one at 200 ms
    "tudoor": ("j50-{t}{i}.atk", "atk"),       # junk with the right ID, answer at 50 ms
    "slow": ("d500-{t}{i}.atk", "atk"),        # every answer after 500 ms
}
SLOW_ADDR = "192.0.2.201"  # ANSWER_ADDR of bench/hostile.c and slowauth


def cmd_keytrap(workdir, ip):
    import labdnssec
    from lab import SEC_WILD_ADDR
    spec = labdnssec.Signing(alg=8, case="keytrap-big")
    signer = labdnssec.Signer(os.path.join(workdir, "keytrap-keys"))
    signer.make_keys({KEYTRAP_ZONE: spec})
    text = ("$ORIGIN keytrap.\n$TTL 3600\n"
            "@ IN SOA ns.keytrap. hostmaster.keytrap. 1 3600 600 86400 300\n"
            "@ IN NS ns.keytrap.\nns IN A %s\nwww IN A 198.51.100.39\n"
            "*.any IN A %s\n" % (ip, SEC_WILD_ADDR))
    tmp = os.path.join(workdir, "keytrap-sign")
    os.makedirs(tmp, exist_ok=True)
    signer.sign(KEYTRAP_ZONE, spec, text, tmp, os.path.join(workdir, "keytrap.zone"))
    with open(os.path.join(workdir, "root.extra"), "a") as f:
        f.write("keytrap. IN NS ns.keytrap.\nns.keytrap. IN A %s\n" % ip)
        f.write(signer.ds_records(KEYTRAP_ZONE, spec))
    return 0


def cmd_names(workdir, tag, n):
    for atk, (pat, _) in ATTACKS.items():
        with open(os.path.join(workdir, "atk-%s-%s.q" % (atk, tag)), "w") as f:
            for i in range(int(n)):
                f.write(pat.format(t=tag, i=i) + " A\n")
    return 0


def cmd_slownames(workdir, tag, n):
    with open(os.path.join(workdir, "slow-%s.q" % tag), "w") as f:
        for i in range(int(n)):
            f.write("d500-%s-%d.atk A\n" % (tag, i))
    return 0


def cmd_soaknames(workdir, n, mixn):
    rng = random.Random()
    with open(os.path.join(workdir, "soak-miss.q"), "w") as f:
        for i in range(int(n)):
            f.write("%x%d.w.bench A\n" % (rng.getrandbits(40), i))
    kinds = list(ATTACKS)
    tag = "%x" % rng.getrandbits(24)
    with open(os.path.join(workdir, "soak-atk.q"), "w") as f:
        for i in range(int(mixn)):
            f.write(ATTACKS[kinds[i % len(kinds)]][0].format(t="k" + tag, i=i) + " A\n")
    return 0


def count(kind, arg):
    if kind == "atk":
        try:
            with open(arg) as f:
                kv = json.load(f)
        except (OSError, ValueError):
            return None
        return kv["udp"] + kv["tcp"]
    buf = b""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:  # nsd-control protocol
        s.settimeout(10)
        s.connect(arg)
        s.sendall(b"NSDCT1 stats_noreset\n")
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    for line in buf.decode(errors="replace").splitlines():
        if line.startswith("num.queries="):
            return int(line.split("=", 1)[1])
    return None


def cmd_count(kind, arg):
    print(count(kind, arg))
    return 0


def cmd_settle(kind, arg, quiet="0.5", limit="15"):
    deadline = time.monotonic() + float(limit)
    prev = count(kind, arg)
    while time.monotonic() < deadline:
        time.sleep(float(quiet))
        cur = count(kind, arg)
        if cur == prev:
            break
        prev = cur
    print(prev)
    return 0


def cmd_slowclient(addr, port, path, conc, timeout):
    import dns.message
    import dns.rcode
    with open(path) as f:
        names = [line.split()[0] for line in f if line.strip()]
    conc, timeout = int(conc), float(timeout)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.connect((addr, int(port)))
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    ids = random.sample(range(65536), 65536)
    out = {}  # id -> (name, deadline)
    res = {"good": 0, "servfail": 0, "timeout": 0, "other": 0}
    nxt, t0 = 0, time.monotonic()
    while nxt < len(names) or out:
        now = time.monotonic()
        while nxt < len(names) and len(out) < conc:
            qid = ids[nxt % 65536]
            q = dns.message.make_query(names[nxt], "A", use_edns=0, payload=1232)
            q.id = qid
            try:
                sock.send(q.to_wire())
            except BlockingIOError:
                break
            out[qid] = (names[nxt], now + timeout)
            nxt += 1
        for qid in [k for k, v in out.items() if v[1] <= now]:
            del out[qid]
            res["timeout"] += 1
        for _ in sel.select(timeout=0.05):
            while True:
                try:
                    wire = sock.recv(65535)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                try:
                    m = dns.message.from_wire(wire)
                except Exception:
                    continue
                ent = out.pop(m.id, None)
                if ent is None:
                    continue
                addrs = [r.to_text() for rs in m.answer if rs.rdtype == 1 for r in rs]
                if m.rcode() == dns.rcode.NOERROR and addrs == [SLOW_ADDR]:
                    res["good"] += 1
                elif m.rcode() == dns.rcode.SERVFAIL:
                    res["servfail"] += 1
                else:
                    res["other"] += 1
    print("n %d good %d servfail %d timeout %d other %d secs %.1f" % (
        len(names), res["good"], res["servfail"], res["timeout"], res["other"],
        time.monotonic() - t0))
    return 0


def rss_kb(pid):
    try:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cmd_rss(pid, interval, secs, out):
    peak, t0 = 0, time.monotonic()
    with open(out, "w") as f:
        while time.monotonic() - t0 < float(secs):
            v = rss_kb(pid)
            if v is None:
                break
            peak = max(peak, v)
            f.write("%.1f %d\n" % (time.monotonic() - t0, v))
            f.flush()
            time.sleep(float(interval))
    print(peak)
    return 0


# ---------------------------------------------------------------- report

def load_kv(path):
    kv = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition(" ")
            kv[k] = v
    return kv


def num(kv, k):
    try:
        return float(kv[k])
    except (KeyError, ValueError):
        return None


def f_(v, fmt="%.0f"):
    return fmt % v if v is not None else "n/a"


def cmd_atkpool(path, tag, rounds):
    kv = load_kv(path)
    n = int(rounds)
    out = []
    for side in ("base", "run"):
        for key in ("qps", "cpu_pct", "hostile_cpu_pct"):
            vals = [num(kv, "%s.%s.r%d.%s" % (tag, side, r, key)) for r in range(1, n + 1)]
            vals = [v for v in vals if v is not None]
            if vals:
                out.append("%s.%s.%s %.3f" % (tag, side, key, sum(vals) / len(vals)))
    ratios = []
    for r in range(1, n + 1):
        b = num(kv, "%s.base.r%d.lat.p99" % (tag, r))
        a = num(kv, "%s.run.r%d.lat.p99" % (tag, r))
        if a is not None and b:
            ratios.append(a / b)
    if ratios:
        ratios.sort()
        mid = len(ratios) // 2
        med = ratios[mid] if len(ratios) % 2 else (ratios[mid - 1] + ratios[mid]) / 2
        out.append("%s.p99x.min %.3f" % (tag, ratios[0]))
        out.append("%s.p99x.median %.3f" % (tag, med))
        out.append("%s.p99x.max %.3f" % (tag, ratios[-1]))
        out.append("%s.p99x.rounds %d" % (tag, len(ratios)))
    sent = lost = 0
    codes = {}
    for r in range(1, n + 1):
        p = "%s.atk.r%d" % (tag, r)
        sent += num(kv, p + ".sent") or 0
        lost += num(kv, p + ".lost") or 0
        for item in filter(None, kv.get(p + ".rcodes", "").split(",")):
            c, v = item.split("=")
            codes[c] = codes.get(c, 0) + int(v)
    out.append("%s.atk.sent %d" % (tag, sent))
    out.append("%s.atk.lost %d" % (tag, lost))
    if codes:
        out.append("%s.atk.rcodes %s" % (tag, ",".join("%s=%d" % i for i in sorted(codes.items()))))
    print("\n".join(out))
    return 0 if len(ratios) == n else 1


def cmd_report(path):
    kv = load_kv(path)
    case = kv.get("meta.case", "")
    lines = []
    tck = num(kv, "meta.clk_tck") or 100.0
    if case == "attacks":
        rate = kv.get("meta.atk_benign_rate", "?")
        lines.append("benign stream: %s q/s of cached names, %s rounds of a slice alone then a slice "
                     "under the attack; latencies pooled over the rounds on each side; pass = rate "
                     ">= 90%% of the baseline and pooled p99 < 2x the baseline (ATTACKS.md); "
                     "'rounds p99 x' = the per-round p99 ratios, min/median/max (on a 2-vCPU VM "
                     "p99 is mostly wake-up latency, see bench/README.md)" % (
                         rate, kv.get("meta.atk_rounds", "?")))
        hdr = ("%-8s %-8s %9s %9s %7s %8s %8s %6s %8s %8s %8s %8s %6s %-16s %6s %5s %9s %8s "
               "%s" % ("attack", "resolver", "base q/s", "atk q/s", "rate", "base avg",
                       "atk avg", "avg x", "base p50", "atk p50", "base p99", "atk p99",
                       "p99 x", "rounds p99 x", "cpu%", "pass", "up/atk q", "atk sent",
                       "attack answers"))
        lines += [hdr, "-" * len(hdr)]
        for atk in kv.get("meta.atk_list", "").split(","):
            for s in ("vigil", "unbound", "lab"):
                p = "%s.atk.%s" % (s, atk)
                if kv.get(p + ".status") is None:
                    continue
                bq, aq = num(kv, p + ".base.qps"), num(kv, p + ".run.qps")
                b50, a50 = num(kv, p + ".base.lat.p50"), num(kv, p + ".run.lat.p50")
                b99, a99 = num(kv, p + ".base.lat.p99"), num(kv, p + ".run.lat.p99")
                bm, am = num(kv, p + ".base.lat.mean"), num(kv, p + ".run.lat.mean")
                rr = aq / bq if aq is not None and bq else None
                pr = a99 / b99 if a99 is not None and b99 else None
                mr = am / bm if am is not None and bm else None
                ok = rr is not None and pr is not None and rr >= 0.9 and pr < 2.0
                up, sent = num(kv, p + ".upstream"), num(kv, p + ".atk.sent")
                upq = up / sent if up is not None and sent else None
                cpu = num(kv, p + ".run.cpu_pct")
                rnd = "%s/%s/%s" % (f_(num(kv, p + ".p99x.min"), "%.2f"),
                                    f_(num(kv, p + ".p99x.median"), "%.2f"),
                                    f_(num(kv, p + ".p99x.max"), "%.2f"))
                lines.append("%-8s %-8s %9s %9s %6s%% %7sus %7sus %6s %7sus %7sus %7sus %7sus %6s "
                             "%-16s %6s %5s %9s %8s %s" % (
                    atk, s, f_(bq), f_(aq), f_(rr * 100 if rr is not None else None),
                    f_(bm * 1e6 if bm is not None else None),
                    f_(am * 1e6 if am is not None else None), f_(mr, "%.2f"),
                    f_(b50 * 1e6 if b50 is not None else None),
                    f_(a50 * 1e6 if a50 is not None else None),
                    f_(b99 * 1e6 if b99 is not None else None),
                    f_(a99 * 1e6 if a99 is not None else None),
                    f_(pr, "%.2f"), rnd, f_(cpu), "PASS" if ok else "FAIL", f_(upq, "%.1f"),
                    f_(sent), kv.get(p + ".atk.rcodes", "") +
                    (" lost=%s" % f_(num(kv, p + ".atk.lost")))))
                kv["verdict." + p] = "PASS" if ok else "FAIL"
        lines.append("up/atk q = queries the hostile server (KeyTrap: the keytrap. NSD) received "
                     "during the run / attack queries sent; cpu% = the resolver's CPU during the "
                     "attack run (% of its core)")
        redone = sum(int(num(kv, k) or 0) for k in kv if k.endswith(".redone"))
        if redone:
            lines.append("rounds done again because other processes used over %s%% of a core in a "
                         "slice (fresh attack names each time): %d in all" %
                         (kv.get("meta.foreign_max", "?"), redone))
        if any(k.startswith("lab.atk.") for k in kv):
            lines.append("lab = the control: vigil serves the benign stream, the attack stream goes "
                         "straight to the hostile server (vigil sees none of it): what the lab "
                         "alone, on the benign client's core, does to the benign stream")
    if case == "slow":
        lines.append("slow server: every answer after 500 ms; names asked once each")
        for s in ("vigil", "unbound"):
            p = "%s.slow" % s
            if num(kv, p + ".n") is None:
                lines.append("%-8s n/a" % s)
                continue
            up, n = num(kv, p + ".upstream"), num(kv, p + ".n")
            lines.append("%-8s %s of %s answered with the genuine address (SERVFAIL %s, no answer "
                         "%s, other %s) in %s s; %s upstream queries per name" % (
                             s, f_(num(kv, p + ".good")), f_(n), f_(num(kv, p + ".servfail")),
                             f_(num(kv, p + ".timeout")), f_(num(kv, p + ".other")),
                             kv.get(p + ".secs", "?"), f_(up / n if up is not None and n else None,
                                                          "%.2f")))
    if case == "soak":
        cache = num(kv, "soak.cache_bytes")
        base = num(kv, "soak.idle1_kb")
        base2 = num(kv, "soak.idle2_kb")
        peak = num(kv, "soak.peak_kb")
        allow = num(kv, "soak.overhead_allow_mb")
        lines.append("soak: %s s, %s cache-miss q/s + %s attack q/s, vigil workers %s, cache %s MiB" % (
            kv.get("soak.secs"), kv.get("soak.rate"), kv.get("soak.atk_rate"),
            kv.get("soak.workers"), f_(cache / 1048576 if cache else None)))
        lines.append("idle RSS: %s MiB (1 worker), %s MiB (2 workers: %s MiB per extra worker)" % (
            f_(base / 1024 if base else None, "%.1f"), f_(base2 / 1024 if base2 else None, "%.1f"),
            f_((base2 - base) / 1024 if base and base2 else None, "%.1f")))
        if peak and cache:
            over = peak / 1024 - cache / 1048576
            ok = allow is not None and over <= allow
            lines.append("peak RSS %.1f MiB = cache %.0f MiB + %.1f MiB overhead; allowed overhead "
                         "%s MiB: %s" % (peak / 1024, cache / 1048576, over, f_(allow),
                                         "PASS" if ok else "FAIL"))
        lines.append("RSS at the end %s MiB; cache-miss stream: %s answered of %s sent (%s), "
                     "attack stream: %s" % (
                         f_(num(kv, "soak.end_kb") / 1024 if num(kv, "soak.end_kb") else None, "%.1f"),
                         f_(num(kv, "soak.miss.completed")), f_(num(kv, "soak.miss.sent")),
                         kv.get("soak.miss.rcodes", ""), kv.get("soak.atk.rcodes", "")))
    del tck
    lines += ["WARNING: " + kv[k] for k in sorted(kv) if k.startswith("warn.")]
    print("\n".join(lines))
    return 0


def main(argv):
    fns = {"keytrap": cmd_keytrap, "names": cmd_names, "slownames": cmd_slownames,
           "soaknames": cmd_soaknames, "count": cmd_count, "settle": cmd_settle,
           "slowclient": cmd_slowclient, "rss": cmd_rss, "atkpool": cmd_atkpool,
           "report": cmd_report}
    if len(argv) < 2 or argv[1] not in fns:
        sys.stderr.write(__doc__)
        return 2
    return fns[argv[1]](*argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
