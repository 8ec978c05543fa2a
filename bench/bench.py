#!/usr/bin/env python3
"""Helper for bench/run.sh: lab data generation, probing, dnsperf output
parsing, process accounting and the final report.

Subcommands (all output on stdout):
  lab WORKDIR ROOT_IP BENCH_IP MISS SEC_IP LEAF_IP SEC_MISS
                                   write zones, root hints and query files; sign
                                   the root (and with SEC_MISS > 0 the sec. zones);
                                   WORKDIR/root.extra, if there, goes into the root
  portfree ADDR PORT               exit 1 if ADDR:PORT (udp or tcp) is taken
  probe ADDR PORT QNAME [TIMEOUT]  exit 0 once a NOERROR answer with >=1 RR arrives
  tlsprobe ADDR PORT dot|doh [TIMEOUT]
                                   dot: exit 0 once a DoT query for c0.bench is answered
                                   NOERROR; doh: once a TLS handshake selects ALPN h2
  adcheck TAG ADDR PORT FILE [N]   DO=1 queries for FILE's lines ("qname type expect",
                                   expect secure|insecure|bogus) or N of them picked
                                   at random; exit 1 if any answer is not as expected
  stats TAG FILE                   dnsperf summary -> "TAG.key value" lines
  lat TAG FILE...                  dnsperf -v output -> latency percentiles
                                   (several files: pooled)
  tree PID                         PID and its descendants, one a line
  cpu PID                          utime+stime ticks of PID and its descendants
  sched PID                        the same ticks, then the voluntary and involuntary
                                   context switches of all their threads
  sysbusy                          busy ticks of all CPUs (incl. irq, steal)
  mem PID                          VmRSS and VmHWM (kB) of PID and its descendants
  rpz WORKDIR N ZONE               the policy case's RPZ zone (N QNAME rules, half "*."
                                   wildcards, all CNAME .) and its check sample
  loadtime TAG GOFILE ADDR PORT QNAME MAXSECS [LOG]
                                   once GOFILE says "T0 PID": seconds from T0 until the
                                   first answer on ADDR:PORT (and vigil's "policy:" line)
  polcheck TAG ADDR PORT FILE ZONE MODE
                                   the policy sample: blocked names NXDOMAIN (+ EDE 15
                                   with MODE rules-ede), others not blocked; MODE none:
                                   nothing blocked
  polsum KVFILE S                  derived policy-case figures for resolver S
  schedns PID                      scheduler run time (ns) of PID's tree, all threads
  pairsum KVFILE                   (m) paired slices: per-round ratios to Unbound, medians
  floorreport KVFILE               print the floor case's table (bench/floor.sh)
  loadsum KVFILE S                 (l) figures of server S: medians over the rounds
  report KVFILE                    print the results table
  dtcount FILE                     data frames in an fstrm (dnstap) file
  obssum KVFILE                    the observe case's figures: medians, with/without ratios
  obsreport KVFILE                 print the observe case's table and verdicts
Only the standard library is used, plus ldns-keygen, ldns-signzone and
ldns-key2ds (Debian ldnsutils) for the signed zones.
"""
import concurrent.futures
import math
import os
import random
import re
import socket
import struct
import subprocess
import sys
import time

# ---------------------------------------------------------------- lab data

ROOT_NS = "ns.lab-root."
N_NAMES = int(os.environ.get("BENCH_ZONE_NAMES", "50000"))  # n0.bench .. (cache-miss test)
N_CACHED = 1000          # c0.bench .. c999.bench   (cached-answer tests)


def ip_for(i):
    return "10.%d.%d.%d" % ((i >> 16) & 255, (i >> 8) & 255, i & 255)


# DNSSEC case: the root (RSA/SHA-256, like the real root) delegates the signed
# TLD sec. (ECDSA P-256, on SEC_IP), which delegates SEC_ZONES signed leaf
# zones z0.sec. .. z7.sec. (on LEAF_IP, another server, so that resolvers
# follow signed referrals as in real life): ECDSA P-256 except z7
# (RSA/SHA-256, 2048 bits). Every zone has a KSK (257, signs DNSKEY) and a ZSK
# (256, signs the rest), NSEC. bench. stays an unsigned (insecure) delegation,
# used by (a)-(d).
SEC_ZONES = 8
ALG_NAME = {8: ("RSASHA256", 2048), 13: ("ECDSAP256SHA256", 256)}
ROOT_ALG = 8
SEC_ALG = {"sec.": 13}
SEC_ALG.update({"z%d.sec." % k: (8 if k == SEC_ZONES - 1 else 13) for k in range(SEC_ZONES)})
BOGUS_ADDR = ("10.254.0.1", "10.254.0.2")  # bogus.z0.sec. A: signed, then changed
SIG_WINDOW = (-3600, 30 * 86400)  # signature inception / expiration, relative to now


def sec_zone(i):
    return "z%d.sec." % (i % SEC_ZONES)


def run_tool(args, cwd=None):
    r = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        sys.exit("%s failed (exit %d): %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r.stdout


def make_key(keydir, zone, alg, ksk):
    """ldns-keygen a key for ZONE in its own directory; returns the file base."""
    d = os.path.join(keydir, "%s%d%s" % (zone.rstrip(".") or "root", alg, "k" if ksk else "z"))
    os.makedirs(d)
    name, bits = ALG_NAME[alg]
    base = run_tool(["ldns-keygen", "-a", name, "-b", str(bits)] + (["-k"] if ksk else [])
                    + [zone], cwd=d).split()[0]
    return os.path.join(d, base)


def sign_zone(zone, src, dst, keys, now):
    """ldns-signzone SRC into DST (NSEC, one RR per line) with KEYS (KSK, ZSK)."""
    run_tool(["ldns-signzone", "-f", dst, "-o", zone, "-i", str(now + SIG_WINDOW[0]),
              "-e", str(now + SIG_WINDOW[1]), src] + list(keys))


def ds_of(ksk_base):
    """The DS (SHA-256) of a KSK, one presentation-format line."""
    return run_tool(["ldns-key2ds", "-n", "-2", ksk_base + ".key"]).strip() + "\n"


def cmd_lab(workdir, root_ip, bench_ip, miss_per_resolver, sec_ip, leaf_ip,
            sec_miss_per_resolver):
    miss = int(miss_per_resolver)
    sec_miss = int(sec_miss_per_resolver)
    if 2 * miss > N_NAMES:
        sys.exit("miss names per resolver must be <= %d" % (N_NAMES // 2))
    now = int(time.time())
    keydir = os.path.join(workdir, "keys")
    os.makedirs(keydir)
    soa = "SOA %s hostmaster.lab-root. 1 3600 600 86400 3600"
    zones = ["."] + sorted(SEC_ALG)
    algs = dict(SEC_ALG, **{".": ROOT_ALG})
    # Key generation and signing run in parallel (RSA is the slow part).
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
    futs = {(z, ksk): pool.submit(make_key, keydir, z, algs[z], ksk)
            for z in zones for ksk in (True, False)}
    keys = {z: (futs[(z, True)].result(), futs[(z, False)].result()) for z in zones}
    ds = {z: ds_of(keys[z][0]) for z in zones}
    with open(os.path.join(workdir, "root.ds"), "w") as f:
        f.write(ds["."])  # the lab's trust anchor, for vigil and Unbound
    with open(os.path.join(workdir, "root.zone.in"), "w") as f:
        f.write("$TTL 86400\n")
        f.write(". IN " + soa % ROOT_NS + "\n")
        f.write(". IN NS %s\n" % ROOT_NS)
        f.write("%s IN A %s\n" % (ROOT_NS, root_ip))
        f.write("bench. IN NS ns.bench.\n")
        f.write("ns.bench. IN A %s\n" % bench_ip)
        f.write("sec. IN NS ns.sec.\n")
        f.write("ns.sec. IN A %s\n" % sec_ip)
        f.write(ds["sec."])
        # the attack cases' delegations (bench/attack.py keytrap, run.sh)
        extra = os.path.join(workdir, "root.extra")
        if os.path.exists(extra):
            with open(extra) as e:
                f.write(e.read())
    jobs = [(".", "root.zone.in", "root.zone")]
    if sec_miss > 0:
        jobs += write_sec_zones(workdir, sec_ip, leaf_ip, sec_miss, soa, ds)
    list(pool.map(lambda j: sign_zone(j[0], os.path.join(workdir, j[1]),
                                      os.path.join(workdir, j[2]), keys[j[0]], now), jobs))
    pool.shutdown()
    if sec_miss > 0:
        # The bogus name: its A changed after signing, so its RRSIG fails.
        path = os.path.join(workdir, "z0.sec.zone")
        with open(path) as f:
            text = f.read()
        text, n = re.subn(r"(?m)^(bogus\.z0\.sec\.\s+\d+\s+IN\s+A\s+)%s$"
                          % re.escape(BOGUS_ADDR[0]), r"\g<1>" + BOGUS_ADDR[1], text)
        if n != 1:
            sys.exit("lab: bogus.z0.sec. A not found in the signed zone")
        with open(path, "w") as f:
            f.write(text)
    with open(os.path.join(workdir, "bench.zone"), "w") as f:
        f.write("$ORIGIN bench.\n$TTL 86400\n")
        f.write("@ IN " + soa % "ns.bench." + "\n")
        f.write("@ IN NS ns.bench.\n")
        f.write("ns IN A %s\n" % bench_ip)
        f.write("*.w IN A 10.252.0.1\n")  # the soak's random cache misses
        for i in range(N_NAMES):
            f.write("n%d IN A %s\n" % (i, ip_for(i)))
        for i in range(N_CACHED):
            f.write("c%d IN A %s\n" % (i, ip_for(100000 + i)))
    with open(os.path.join(workdir, "root.hints"), "w") as f:
        f.write(".  3600000 IN NS %s\n" % ROOT_NS)
        f.write("%s 3600000 IN A %s\n" % (ROOT_NS, root_ip))
    with open(os.path.join(workdir, "cached.q"), "w") as f:
        for i in range(N_CACHED):
            f.write("c%d.bench A\n" % i)
    # Disjoint, same-shape miss sets; shuffled identically (fixed seed) so
    # neither resolver sees a friendlier order.
    order = list(range(miss))
    random.Random(54).shuffle(order)
    for name, base in (("miss-vigil.q", 0), ("miss-unbound.q", miss)):
        with open(os.path.join(workdir, name), "w") as f:
            for i in order:
                f.write("n%d.bench A\n" % (base + i))


def write_sec_zones(workdir, sec_ip, leaf_ip, sec_miss, soa, ds):
    """Unsigned texts of sec. and z*.sec. plus the DNSSEC case's query files;
    returns the signing jobs (zone, source, signed file)."""
    n_miss = 2 * sec_miss
    jobs = []
    with open(os.path.join(workdir, "sec.zone.in"), "w") as f:
        f.write("$ORIGIN sec.\n$TTL 86400\n")
        f.write("@ IN " + soa % "ns.sec." + "\n")
        f.write("@ IN NS ns.sec.\n")
        f.write("ns IN A %s\n" % sec_ip)
        f.write("nsl IN A %s\n" % leaf_ip)
        for k in range(SEC_ZONES):
            f.write("z%d IN NS nsl.sec.\n" % k)
            f.write(ds["z%d.sec." % k])
    jobs.append(("sec.", "sec.zone.in", "sec.zone"))
    texts = {}
    for k in range(SEC_ZONES):
        z = "z%d.sec." % k
        texts[z] = ["$ORIGIN %s\n$TTL 86400\n" % z, "@ IN " + soa % "nsl.sec." + "\n",
                    "@ IN NS nsl.sec.\n", "p%d IN A 10.253.0.%d\n" % (k, k)]
    for i in range(n_miss):
        texts[sec_zone(i)].append("n%d IN A %s\n" % (i, ip_for(i)))
    for i in range(N_CACHED):
        texts[sec_zone(i)].append("c%d IN A %s\n" % (i, ip_for(100000 + i)))
    texts["z0.sec."].append("bogus IN A %s\n" % BOGUS_ADDR[0])
    for z, lines in texts.items():
        with open(os.path.join(workdir, z + "zone.in"), "w") as f:
            f.writelines(lines)
        jobs.append((z, z + "zone.in", z + "zone"))
    with open(os.path.join(workdir, "sec-cached.q"), "w") as f:
        for i in range(N_CACHED):
            f.write("c%d.%s A\n" % (i, sec_zone(i)))
    order = list(range(sec_miss))
    random.Random(54).shuffle(order)
    for name, base in (("sec-miss-vigil.q", 0), ("sec-miss-unbound.q", sec_miss)):
        with open(os.path.join(workdir, name), "w") as f:
            for i in order:
                f.write("n%d.%s A\n" % (base + i, sec_zone(base + i)))
    # Sanity sample, asked before any measurement: probe names (first
    # resolution, one per zone, RSA and ECDSA), cached names, a name whose
    # signature does not verify, and a name under the unsigned bench.
    with open(os.path.join(workdir, "sec-check.q"), "w") as f:
        for k in range(SEC_ZONES):
            f.write("p%d.z%d.sec A secure\n" % (k, k))
        for i in range(0, 16 * 61, 61):  # 16 names over all 8 zones
            f.write("c%d.%s A secure\n" % (i, sec_zone(i)))
        f.write("bogus.z0.sec A bogus\n")
        f.write("c0.bench A insecure\n")
    return jobs


# ---------------------------------------------------------------- network

def cmd_portfree(addr, port):
    port = int(port)
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        if kind == socket.SOCK_STREAM:
            # connections of an earlier run in TIME-WAIT do not stop a server
            # (they all set SO_REUSEADDR); a listener still does
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((addr, port))
        except OSError as e:
            print("%s:%d/%s: %s" % (addr, port,
                                    "udp" if kind == socket.SOCK_DGRAM else "tcp",
                                    e.strerror))
            return 1
        finally:
            s.close()
    return 0


QTYPES = {"A": 1, "NS": 2, "SOA": 6, "AAAA": 28, "DS": 43, "DNSKEY": 48}
T_RRSIG = 46


def build_query(qname, qid, qtype=1, do=False):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1 if do else 0)
    for label in qname.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack("!HH", qtype, 1)
    if do:  # OPT: root owner, type 41, UDP size 1232, DO flag
        q += b"\x00" + struct.pack("!HHIH", 41, 1232, 0x8000, 0)
    return q


def skip_name(data, off):
    """Offset after the (possibly compressed) name at OFF."""
    while True:
        if off >= len(data):
            raise ValueError("truncated name")
        n = data[off]
        if n & 0xC0 == 0xC0:
            return off + 2
        if n == 0:
            return off + 1
        off += 1 + n


def parse_answer(data, qid):
    """(rcode, ad, answer types) of a response to QID, or None."""
    if len(data) < 12:
        return None
    rid, flags, qd, an = struct.unpack("!HHHH", data[:8])
    if rid != qid or not flags & 0x8000:
        return None
    off = 12
    for _ in range(qd):
        off = skip_name(data, off) + 4
    types = []
    for _ in range(an):
        off = skip_name(data, off)
        t, _c, _ttl, rdlen = struct.unpack("!HHIH", data[off:off + 10])
        types.append(t)
        off += 10 + rdlen
    return flags & 0xF, bool(flags & 0x0020), types


def ask(addr, port, qname, qtype, do, tries=3, timeout=3.0):
    """One query (retried on silence); (rcode, ad, types) or None."""
    for _ in range(tries):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        qid = random.randrange(65536)
        try:
            s.sendto(build_query(qname, qid, qtype, do), (addr, port))
            while True:
                r = parse_answer(s.recvfrom(65535)[0], qid)
                if r is not None:
                    return r
        except (OSError, ValueError, struct.error):
            pass
        finally:
            s.close()
    return None


def cmd_adcheck(tag, addr, port, path, sample="0"):
    """DO=1 queries; secure = NOERROR + AD + an RRSIG in the answer, insecure =
    NOERROR, answer, no AD, bogus = SERVFAIL. Prints TAG.{n,ok,ad,fail};
    the failures go to stderr."""
    port = int(port)
    with open(path) as f:
        items = [(w[0], w[1] if len(w) > 1 else "A", w[2] if len(w) > 2 else "secure")
                 for w in (l.split() for l in f) if w]
    if int(sample):
        items = random.Random(54).sample(items, min(int(sample), len(items)))
    ok = ad = 0
    fails = []
    for qname, qtype, expect in items:
        r = ask(addr, port, qname, QTYPES.get(qtype, 1), True)
        if r is None:
            fails.append("%s %s: no answer" % (qname, qtype))
            continue
        rcode, has_ad, types = r
        ad += has_ad
        want = {"secure": rcode == 0 and has_ad and T_RRSIG in types and len(types) > 1,
                "insecure": rcode == 0 and not has_ad and len(types) >= 1,
                "bogus": rcode == 2}[expect]
        if want:
            ok += 1
        else:
            fails.append("%s %s: expected %s, got rcode %d, AD %d, answer types %s"
                         % (qname, qtype, expect, rcode, has_ad, types))
    print("%s.n %d" % (tag, len(items)))
    print("%s.ok %d" % (tag, ok))
    print("%s.ad %d" % (tag, ad))
    print("%s.fail %d" % (tag, len(fails)))
    for line in fails:
        print("%s: %s" % (tag, line), file=sys.stderr)
    return 1 if fails or not items else 0


def cmd_probe(addr, port, qname, timeout="10"):
    deadline = time.time() + float(timeout)
    port = int(port)
    while time.time() < deadline:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.5)
        qid = random.randrange(65536)
        try:
            s.sendto(build_query(qname, qid), (addr, port))
            data, _ = s.recvfrom(4096)
            if len(data) >= 12:
                rid, flags, _, an = struct.unpack("!HHHH", data[:8])
                if rid == qid and flags & 0x8000 and flags & 0xF == 0 and an >= 1:
                    return 0
        except OSError:
            pass
        finally:
            s.close()
        time.sleep(0.2)
    return 1


def cmd_tlsprobe(addr, port, kind, timeout="10"):
    import ssl
    deadline = time.time() + float(timeout)
    port = int(port)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"] if kind == "doh" else ["dot"])
    while time.time() < deadline:
        try:
            with socket.create_connection((addr, port), timeout=1.0) as raw:
                with ctx.wrap_socket(raw, server_hostname="bench.vigil.test") as s:
                    if kind == "doh":
                        if s.selected_alpn_protocol() == "h2":
                            return 0
                    else:
                        qid = random.randrange(65536)
                        q = build_query("c0.bench", qid)
                        s.sendall(struct.pack("!H", len(q)) + q)
                        buf = b""
                        while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
                            chunk = s.recv(4096)
                            if not chunk:
                                break
                            buf += chunk
                        if len(buf) >= 14:
                            rid, flags, _, an = struct.unpack("!HHHH", buf[2:10])
                            if rid == qid and flags & 0xF == 0 and an >= 1:
                                return 0
        except (OSError, ValueError, struct.error):
            pass
        time.sleep(0.2)
    return 1


# ---------------------------------------------------------------- dnsperf

NUM = r"([0-9]+(?:\.[0-9]+)?)"


def parse_dnsperf(text):
    r = {}
    pats = {
        "sent": r"Queries sent:\s+" + NUM,
        "completed": r"Queries completed:\s+" + NUM,
        "lost": r"Queries lost:\s+" + NUM,
        "runtime": r"Run time \(s\):\s+" + NUM,
        "qps": r"Queries per second:\s+" + NUM,
        "lat_avg": r"Average Latency \(s\):\s+" + NUM,
        "lat_sd": r"Latency StdDev \(s\):\s+" + NUM,
    }
    for k, p in pats.items():
        m = re.search(p, text)
        if m:
            r[k] = float(m.group(1))
    m = re.search(r"Response codes:\s+(.*)", text)
    if m:
        codes = dict((c, int(n)) for c, n in re.findall(r"([A-Z]+) ([0-9]+)", m.group(1)))
        r["noerror"] = codes.get("NOERROR", 0)
        r["rcode_other"] = sum(v for c, v in codes.items() if c != "NOERROR")
        r["rcodes"] = ",".join("%s=%d" % kv for kv in sorted(codes.items()))
    return r


def cmd_stats(tag, path):
    with open(path, errors="replace") as f:
        r = parse_dnsperf(f.read())
    if "completed" not in r:
        print("%s.error dnsperf_output_unparsable" % tag)
        return 1
    for k, v in r.items():
        print("%s.%s %s" % (tag, k, v))
    return 0


def percentile(sorted_vals, p):
    """Nearest-rank percentile."""
    if not sorted_vals:
        return float("nan")
    k = max(0, math.ceil(p / 100.0 * len(sorted_vals)) - 1)
    return sorted_vals[k]


def cmd_lat(tag, *paths):
    lats = []
    timeouts = 0
    for path in paths:
        with open(path, errors="replace") as f:
            for line in f:
                if not line.startswith("> "):
                    continue
                parts = line.split()
                if parts[1] == "T":
                    timeouts += 1
                    continue
                try:
                    lats.append(float(parts[-1]))
                except ValueError:
                    pass
    if not lats:
        print("%s.error no_latency_lines" % tag)
        return 1
    lats.sort()
    print("%s.n %d" % (tag, len(lats)))
    print("%s.timeouts %d" % (tag, timeouts))
    print("%s.mean %.9f" % (tag, sum(lats) / len(lats)))
    for p in (50, 90, 99, 99.9):
        print("%s.p%s %.9f" % (tag, str(p).replace(".", "_"), percentile(lats, p)))
    print("%s.max %.9f" % (tag, lats[-1]))
    return 0


# ---------------------------------------------------------------- /proc

def proc_tree(pid):
    pid = int(pid)
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cmd_tree(pid):
    for p in proc_tree(pid):
        print(p)
    return 0


def cmd_cpu(pid):
    total = 0
    for p in proc_tree(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        # fields[0] is field 3 (state); utime/stime are fields 14/15.
        total += int(fields[11]) + int(fields[12])
    print(total)
    return 0


def cmd_sched(pid):
    ticks = vol = invol = 0
    for p in proc_tree(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read()
            tids = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        ticks += int(fields[11]) + int(fields[12])
        for t in tids:
            try:
                with open("/proc/%d/task/%s/status" % (p, t)) as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches:"):
                            vol += int(line.split()[1])
                        elif line.startswith("nonvoluntary_ctxt_switches:"):
                            invol += int(line.split()[1])
            except OSError:
                continue
    print(ticks, vol, invol)
    return 0


def cmd_schedns(pid):
    """Run time in ns of PID and its descendants, every thread: the first
    field of /proc/P/task/T/schedstat (user + system, to the nanosecond)."""
    total = 0
    for p in proc_tree(pid):
        try:
            tids = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for t in tids:
            try:
                with open("/proc/%d/task/%s/schedstat" % (p, t)) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    print(total)
    return 0


def cmd_sysbusy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice]
    # (guest time is already included in user/nice).
    print(sum(v[:8]) - v[3] - v[4])
    return 0


def cmd_mem(pid):
    rss = hwm = 0
    for p in proc_tree(pid):
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        hwm += int(line.split()[1])
        except OSError:
            continue
    print(rss, hwm)
    return 0


# ---------------------------------------------------------------- policy case
# A blocklist-shaped RPZ zone: N distinct QNAME triggers, registrable domains
# of 5-16 characters under a weighted TLD mix (never "bench."), 35% bare,
# 40% with one extra label (common ad/tracker prefixes or random), 25% with
# two; half the rules "*." wildcards; every action "CNAME ." (NXDOMAIN).
POL_TLDS = (["com"] * 40 + ["net"] * 12 + ["org"] * 6 + ["info"] * 4 + ["xyz"] * 4 + ["io"] * 3
            + ["ru", "de", "top", "online", "site", "biz", "co", "us", "cn", "uk", "fr", "nl",
               "club", "live", "app", "pro", "click", "link", "store", "tk"])
POL_PREFIX = ["ads", "ad", "track", "tracking", "metrics", "stats", "pixel", "cdn", "api", "img",
              "static", "log", "events", "analytics", "t", "s", "m", "www", "banner", "click",
              "collect", "beacon", "tag", "sync", "rtb", "srv", "data", "go", "promo", "mail"]
POL_SAMPLE = 50  # blocked exact names and children of wildcards each, in the check sample


def pol_label(rng, lo, hi):
    n = rng.randint(lo, hi)
    alpha = "abcdefghijklmnopqrstuvwxyz" if rng.random() < 0.8 else \
        "abcdefghijklmnopqrstuvwxyz0123456789"
    s = "".join(rng.choices(alpha, k=n))
    if n > 6 and rng.random() < 0.15:
        k = rng.randint(2, n - 3)
        s = s[:k] + "-" + s[k + 1:]
    return s


def pol_name(rng):
    base = pol_label(rng, 5, 16) + "." + rng.choice(POL_TLDS)
    r = rng.random()
    sub = lambda lo, hi: rng.choice(POL_PREFIX) if rng.random() < 0.5 else pol_label(rng, lo, hi)
    if r < 0.35:
        return base
    if r < 0.75:
        return sub(1, 10) + "." + base
    return pol_label(rng, 1, 8) + "." + sub(2, 10) + "." + base


def cmd_rpz(workdir, n, zone):
    """WORKDIR/policy.rpz (N rules) and WORKDIR/pol-check.q ("qname expect"
    lines: blocked, pass = NOERROR with an answer, notblocked = no policy
    answer, whatever the rcode)."""
    n = int(n)
    zone = zone.rstrip(".") + "."
    rng = random.Random(4)
    seen, names = set(), []
    while len(names) < n:
        x = pol_name(rng)
        if x not in seen:
            seen.add(x)
            names.append(x)
    wild = set(names[1::2])  # odd positions are "*." rules
    nbytes = 0
    with open(os.path.join(workdir, "policy.rpz"), "w") as f:
        head = ("$TTL 300\n$ORIGIN %s\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 300\n"
                "@ NS localhost.\n" % zone)
        f.write(head)
        body = "".join(("*.%s CNAME .\n" if i & 1 else "%s CNAME .\n") % x
                       for i, x in enumerate(names))
        f.write(body)
        nbytes = len(head) + len(body)
    exact = [x for x in names[0::2]]
    pick = random.Random(54)
    lines = ["%s blocked\n" % x for x in pick.sample(exact, min(POL_SAMPLE, len(exact)))]
    lines += ["%s.%s blocked\n" % (pol_label(pick, 1, 8), x)
              for x in pick.sample(names[1::2], min(POL_SAMPLE, len(wild)))]

    def covered(x):  # does any rule other than "*.x" itself match the name x?
        if x in seen and x not in wild:
            return True
        labels = x.split(".")
        return any(".".join(labels[i:]) in wild for i in range(1, len(labels)))
    apex = [x for x in names[1::2] if not covered(x)]
    lines += ["%s notblocked\n" % x for x in pick.sample(apex, min(8, len(apex)))]
    lines += ["c%d.bench pass\n" % i for i in range(0, 16 * 61, 61)]
    with open(os.path.join(workdir, "pol-check.q"), "w") as f:
        f.writelines(lines)
    print("rules %d wildcards %d bytes %d mean_name_len %.1f"
          % (n, len(wild), nbytes, sum(map(len, names)) / max(n, 1)))
    return 0


def read_name(data, off):
    """(lower-case presentation name, offset after it) of the name at OFF."""
    labels, end, hops = [], None, 0
    while True:
        if off >= len(data):
            raise ValueError("truncated name")
        c = data[off]
        if c & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = (c & 0x3F) << 8 | data[off + 1]
            hops += 1
            if hops > 64:
                raise ValueError("pointer loop")
            continue
        if c == 0:
            return ".".join(labels).lower() + ".", end if end is not None else off + 1
        labels.append(data[off + 1:off + 1 + c].decode("ascii", "replace"))
        off += 1 + c


def parse_full(data, qid):
    """(rcode, AA, answer count, SOA owners in authority/additional, EDE codes)."""
    if len(data) < 12:
        return None
    rid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", data[:12])
    if rid != qid or not flags & 0x8000:
        return None
    off = 12
    for _ in range(qd):
        off = skip_name(data, off) + 4
    soas, ede, rcode = [], [], flags & 0xF
    for i in range(an + ns + ar):
        owner, off = read_name(data, off)
        t, _c, ttl, rdlen = struct.unpack("!HHIH", data[off:off + 10])
        off += 10
        rd = data[off:off + rdlen]
        off += rdlen
        if t == 6 and i >= an:
            soas.append(owner)
        if t == 41:
            rcode |= (ttl >> 24) << 4
            o = 0
            while o + 4 <= len(rd):
                code, ln = struct.unpack("!HH", rd[o:o + 4])
                if code == 15 and ln >= 2:
                    ede.append(struct.unpack("!H", rd[o + 4:o + 6])[0])
                o += 4 + ln
    return rcode, bool(flags & 0x0400), an, soas, ede


def cmd_loadtime(tag, gofile, addr, port, qname, maxsecs, logfile=None):
    """Started before the server (so that Python's own start-up is not
    counted): create GOFILE.ready, wait for GOFILE to hold "T0 PID" (the epoch
    time just before the server was started, and its PID), then poll
    ADDR:PORT every 10 ms (a new query each time; an answer to any of them
    counts) until the first answer; print TAG.answer_s = its time - T0 and
    TAG.first_poll_s (when polling began: the resolution). With LOGFILE, also
    TAG.log_s (the timestamp of vigil's "policy: ..." line - T0) and
    TAG.log_rules. Exit 1 if PID exits or nothing answers within MAXSECS."""
    port = int(port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    open(gofile + ".ready", "w").close()
    deadline = time.time() + 60
    while True:
        try:
            with open(gofile) as f:
                w = f.read().split()
            if len(w) == 2:
                t0, pid = float(w[0]), int(w[1])
                break
        except (OSError, ValueError):
            pass
        if time.time() > deadline:
            print("%s.error no_go" % tag)
            return 1
        time.sleep(0.001)
    print("%s.first_poll_s %.3f" % (tag, time.time() - t0))
    sent = set()
    got = None
    while got is None:
        now = time.time()
        if now - t0 > float(maxsecs):
            print("%s.error no_answer_within_%ss" % (tag, maxsecs))
            return 1
        try:
            os.kill(pid, 0)
        except OSError:
            print("%s.error exited" % tag)
            return 1
        qid = random.randrange(65536)
        sent.add(qid)
        try:
            s.sendto(build_query(qname, qid), (addr, port))
        except OSError:
            pass  # ICMP port unreachable from an earlier send: not bound yet
        end = time.time() + 0.01
        while got is None and time.time() < end:
            try:
                data = s.recv(4096)
            except BlockingIOError:
                time.sleep(0.0005)
                continue
            except OSError:
                continue
            if len(data) >= 12 and struct.unpack("!H", data[:2])[0] in sent and data[2] & 0x80:
                got = time.time()
    s.close()
    print("%s.answer_s %.3f" % (tag, got - t0))
    if logfile:
        # 2026-11-22T15:30:48.548Z vigil[notice]: policy: 1 sources, 1000000 rules, ...
        pat = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z .*policy: (\d+) sources?, "
                         r"(\d+) rules")
        try:
            with open(logfile, errors="replace") as f:
                for line in f:
                    m = pat.match(line)
                    if m:
                        import calendar
                        ts, _, frac = m.group(1).partition(".")
                        t = calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%S"))
                        t += float("0." + frac) if frac else 0.0
                        print("%s.log_s %.3f" % (tag, t - t0))
                        print("%s.log_rules %s" % (tag, m.group(3)))
                        break
        except OSError:
            pass
    return 0


def cmd_polcheck(tag, addr, port, path, zone, mode):
    """Queries (EDNS, no DO) for FILE's "qname expect" lines. Blocked = NXDOMAIN
    with EDE 15, or with the policy zone's SOA (authority or additional; vigil),
    or authoritative (AA) with no SOA at all (Unbound 1.17's RPZ answer; an
    NXDOMAIN resolved from the lab is not AA and carries the lab root's SOA). MODE
    rules-ede: "blocked" lines must be blocked and carry EDE 15; rules: blocked
    (EDE counted, not required); none: nothing may be blocked. "pass" lines
    must be NOERROR with an answer, "notblocked" ones not blocked. Prints
    TAG.{n,blocked,ede15,fail}; failures to stderr; exit 1 if any."""
    port = int(port)
    zone = zone.rstrip(".").lower() + "."
    with open(path) as f:
        items = [l.split() for l in f if l.strip()]
    blocked = ede15 = 0
    fails = []
    for qname, expect in items:
        r = None
        for _ in range(3):
            sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sk.settimeout(3.0)
            qid = random.randrange(65536)
            try:
                q = build_query(qname, qid)
                q = q[:10] + struct.pack("!H", 1) + q[12:] + b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
                sk.sendto(q, (addr, port))
                while r is None:
                    r = parse_full(sk.recvfrom(65535)[0], qid)
            except (OSError, ValueError, struct.error):
                pass
            finally:
                sk.close()
            if r is not None:
                break
        if r is None:
            fails.append("%s: no answer" % qname)
            continue
        rcode, aa, an, soas, ede = r
        is_blocked = rcode == 3 and (15 in ede or zone in soas or (aa and not soas))
        blocked += is_blocked
        ede15 += 15 in ede
        if expect == "blocked" and mode != "none":
            ok = is_blocked and rcode == 3 and (mode != "rules-ede" or 15 in ede)
        elif expect == "pass":
            ok = not is_blocked and rcode == 0 and an >= 1
        else:
            ok = not is_blocked
        if not ok:
            fails.append("%s (%s, mode %s): rcode %d, %d answers, SOA %s, EDE %s"
                         % (qname, expect, mode, rcode, an, soas, ede))
    print("%s.n %d" % (tag, len(items)))
    print("%s.expect_blocked %d" % (tag, 0 if mode == "none" else
                                    sum(1 for w in items if w[1] == "blocked")))
    print("%s.blocked %d" % (tag, blocked))
    print("%s.ede15 %d" % (tag, ede15))
    print("%s.fail %d" % (tag, len(fails)))
    for line in fails[:20]:
        print("%s: %s" % (tag, line), file=sys.stderr)
    return 1 if fails or not items else 0


def median(vals):
    v = sorted(vals)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0


def cmd_polsum(path, s):
    """Derived policy-case figures for resolver S from the raw values: for
    each variant the median over the rounds; with/without = the median of
    the per-round ratios (each round measures both back to back, so slow
    drifts of the machine cancel), and their range; CPU per answer; resident
    bytes per rule."""
    kv = load_kv(path)
    tck = num(kv, "meta.clk_tck") or 100.0
    rules = num(kv, "meta.pol_rules")
    p = s + ".pol."
    out = {}
    none_rss, rules_rss = num(kv, p + "none.rss_kb"), num(kv, p + "rules.rss_kb")
    if rules and none_rss is not None and rules_rss is not None:
        out["bytes_per_rule"] = "%.1f" % ((rules_rss - none_rss) * 1024.0 / rules)
    na, ra = num(kv, p + "none.rss_after_kb"), num(kv, p + "rules.rss_after_kb")
    if rules and na is not None and ra is not None:
        out["bytes_per_rule_after"] = "%.1f" % ((ra - na) * 1024.0 / rules)
    rounds = int(num(kv, "meta.pol_rounds") or 0)
    for test, key in (("a", "qps"), ("b", "us_per_answer"), ("a", "server_cpu_pct"),
                      ("a", "gen_cpu_pct"), ("a", "foreign_cpu_pct"), ("b", "foreign_cpu_pct")):
        per = {}
        for v in ("none", "rules"):
            vals = []
            for r in range(1, rounds + 1):
                t = "%s%s%d" % (p + v + ".", test, r)
                if key == "us_per_answer":
                    ticks, n = num(kv, t + ".cpu_ticks"), num(kv, t + ".completed")
                    x = ticks / tck * 1e6 / n if ticks is not None and n else None
                else:
                    x = num(kv, t + "." + key)
                vals.append(x)
            per[v] = vals
            good = [x for x in vals if x is not None]
            if good:
                out["%s.%s.%s" % (v, test, key)] = "%.3f" % median(good)
        if key in ("qps", "us_per_answer"):
            rs = [a / b for a, b in zip(per["rules"], per["none"]) if a is not None and b]
            if rs:
                out["%s.%s_ratio" % (test, key)] = "%.4f" % median(rs)
                out["%s.%s_ratio_min" % (test, key)] = "%.4f" % min(rs)
                out["%s.%s_ratio_max" % (test, key)] = "%.4f" % max(rs)
    fg = [num(kv, "%s%s.%s%d.foreign_cpu_pct" % (p, v, t, r)) for v in ("none", "rules")
          for t in ("a", "b") for r in range(1, rounds + 1)]
    fg = [x for x in fg if x is not None]
    if fg:
        out["foreign_max"] = "%d" % max(fg)
    for k, v in out.items():
        print("%s%s %s" % (p, k, v))
    return 0


# ---------------------------------------------------------------- observe case
OBS_VARIANTS = ("vigil-off", "vigil-dnstap", "vigil-json", "unbound-off", "unbound-dnstap")
OBS_BASE = {"vigil-dnstap": "vigil-off", "vigil-json": "vigil-off",
            "unbound-dnstap": "unbound-off"}


def cmd_dtcount(path):
    """Data frames in an fstrm file (Frame Streams: a 4-byte big-endian
    length, or 0 then a control frame).  Prints 0 for a missing file."""
    n = 0
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        print(0)
        return 0
    o = 0
    while o + 4 <= len(data):
        ln = int.from_bytes(data[o:o + 4], "big")
        o += 4
        if ln == 0:  # control frame: its own length follows
            if o + 4 > len(data):
                break
            o += 4 + int.from_bytes(data[o:o + 4], "big")
            continue
        o += ln
        if o <= len(data):
            n += 1
    print(n)
    return 0


def cmd_obssum(path):
    """The observe case: per variant the median over the rounds of the
    saturated rate (a) and CPU per answer at the fixed rate (b); with /
    without = the median of the per-round ratios against the same server
    with logging off (each round runs every variant back to back)."""
    kv = load_kv(path)
    tck = num(kv, "meta.clk_tck") or 100.0
    rounds = int(num(kv, "meta.obs_rounds") or 0)
    out = {}
    per = {}
    for v in OBS_VARIANTS:
        for test in ("a", "b"):
            vals = []
            for r in range(1, rounds + 1):
                t = "obs.%s.%s%d" % (v, test, r)
                if test == "b":
                    ticks, n = num(kv, t + ".cpu_ticks"), num(kv, t + ".completed")
                    x = ticks / tck * 1e6 / n if ticks is not None and n else None
                else:
                    x = num(kv, t + ".qps")
                vals.append(x)
            per[(v, test)] = vals
            good = [x for x in vals if x is not None]
            if good:
                out["obs.%s.%s" % (v, "qps" if test == "a" else "us_per_answer")] = \
                    "%.3f" % median(good)
    for v, base in OBS_BASE.items():
        for test, key in (("a", "qps"), ("b", "us_per_answer")):
            rs = [x / y for x, y in zip(per[(v, test)], per[(base, test)]) if x is not None and y]
            if rs:
                out["obs.%s.%s_ratio" % (v, key)] = "%.4f" % median(rs)
                out["obs.%s.%s_ratio_min" % (v, key)] = "%.4f" % min(rs)
                out["obs.%s.%s_ratio_max" % (v, key)] = "%.4f" % max(rs)
    fg = [num(kv, "obs.%s.%s%d.foreign_cpu_pct" % (v, t, r)) for v in OBS_VARIANTS
          for t in ("a", "b") for r in range(1, rounds + 1)]
    fg = [x for x in fg if x is not None]
    if fg:
        out["obs.foreign_max"] = "%d" % max(fg)
    for k, v in out.items():
        print("%s %s" % (k, v))
    return 0


def cmd_obsreport(path):
    """The observe case's table: one row per server and logging variant."""
    kv = load_kv(path)
    f = lambda k, fmt: "n/a" if num(kv, k) is None else fmt % num(kv, k)
    hdr = "%-26s %12s %10s %14s %10s  %s" % (
        "observe: server, logging", "cached qps", "vs off", "CPU us/answer", "vs off",
        "records written")
    lines = [hdr, "-" * len(hdr)]
    rec = {"vigil-dnstap": "obs.vigil-dnstap.frames", "vigil-json": "obs.vigil-json.lines",
           "unbound-dnstap": "obs.unbound-dnstap.frames"}
    for v in OBS_VARIANTS:
        st = kv.get("obs.%s.status" % v, "n/a")
        if st != "ok":
            lines.append("%-26s %s" % (v, st))
            continue
        lines.append("%-26s %12s %10s %14s %10s  %s" % (
            v, f("obs.%s.qps" % v, "%.0f"),
            f("obs.%s.qps_ratio" % v, "%.3f") if v in OBS_BASE else "-",
            f("obs.%s.us_per_answer" % v, "%.2f"),
            f("obs.%s.us_per_answer_ratio" % v, "%.3f") if v in OBS_BASE else "-",
            kv.get(rec[v], "n/a") if v in rec else "-"))
        if v in OBS_BASE:
            lo, hi = num(kv, "obs.%s.qps_ratio_min" % v), num(kv, "obs.%s.qps_ratio_max" % v)
            if lo is not None:
                lines.append("%-26s %12s %10s" % ("", "rounds:", "%.3f-%.3f" % (lo, hi)))
    lines.append("")
    lines.append("other load, worst run: ~%s%% of a core" % kv.get("obs.foreign_max", "?"))
    lines.append("")
    lines.append("verdicts (target: cached qps at most 10% lower with logging on):")
    for v in ("vigil-dnstap", "vigil-json"):
        r = num(kv, "obs.%s.qps_ratio" % v)
        lines.append("  %-44s %s" % ("%s qps >= 0.90 x vigil-off" % v,
                                     "n/a" if r is None else ("PASS" if r >= 0.90 else "FAIL")))
    r = num(kv, "obs.unbound-dnstap.qps_ratio")
    lines.append("  %-44s %s" % ("(for comparison) unbound-dnstap / unbound-off",
                                 "n/a" if r is None else "%.3f" % r))
    print("\n".join(lines))
    return 0


def cmd_floorreport(path):
    """The floor case's table: per rate, each server's median CPU per answer
    (and range over slices), its median per-round ratio to Unbound (and range,
    undisturbed rounds), the median of dnsperf's mean latency per slice, and
    the ratios of the medians over all slices."""
    kv = load_kv(path)
    servers = [x for x in (kv.get("meta.floor_servers") or "").split(",") if x]
    rates = [int(x) for x in (kv.get("meta.pair_rates") or "").split(",") if x]
    hdr = "%-26s %14s %14s %10s %16s %9s" % ("floor: server @ rate", "CPU us/answer", "range",
                                             "x unbound", "ratio range, n", "mean lat")
    lines = [hdr, "-" * len(hdr)]
    for r in rates:
        for sv in servers:
            k = "%s.m%d." % (sv, r)
            us, lo, hi = (num(kv, k + x) for x in ("us_per_answer", "us_per_answer_min",
                                                 "us_per_answer_max"))
            ra, rlo, rhi = (num(kv, k + x) for x in ("ratio", "ratio_min", "ratio_max"))
            lat = num(kv, k + "lat_us")
            lines.append("%-26s %14s %14s %10s %16s %9s" % (
                "%s @%dk" % (sv, r // 1000),
                "n/a" if us is None else "%.2f" % us,
                "" if lo is None else "%.1f-%.1f" % (lo, hi),
                "n/a" if ra is None else "%.2f" % ra,
                "" if rlo is None else "%.2f-%.2f n%s" % (rlo, rhi, kv.get(k + "rounds", "?")),
                "n/a" if lat is None else "%.0fus" % lat))
        lines.append("")
    # the ratio of each server's median CPU per answer to Unbound's: what is
    # left when every round had a disturbed slice (the per-round ratios need
    # all five slices of a round undisturbed)
    lines.append("x unbound of the medians (all slices):")
    for r in rates:
        u = num(kv, "unbound.m%d.us_per_answer" % r)
        if not u:
            continue
        lines.append("  @%dk: " % (r // 1000) + ", ".join(
            "%s %.2f" % (sv, num(kv, "%s.m%d.us_per_answer" % (sv, r)) / u) for sv in servers
            if num(kv, "%s.m%d.us_per_answer" % (sv, r)) is not None))
    lines.append("")
    lines.append("issue 9 asks vigil for <= 0.75 x unbound at 20k and 100k.  canned-block is the")
    lines.append("least any UDP server can cost; canned-uv the least one waiting in a libuv loop can:")
    for r in rates:
        b, e, v = (num(kv, "%s.m%d.ratio" % (sv, r)) for sv in ("canned-block", "canned-uv", "vigil"))
        f = lambda x: "n/a" if x is None else "%.2f" % x
        lines.append("  @%dk: canned-block %s, canned-uv %s, vigil %s x unbound: vigil %s" % (
            r // 1000, f(b), f(e), f(v),
            "n/a" if v is None else ("PASS" if v <= 0.75 else "FAIL")))
    print("\n".join(lines))
    return 0


def load_plan(kv):
    """The (l) rates, from meta.load_plan ("RATE:SECS,...")."""
    out = []
    for item in (kv.get("meta.load_plan") or "").split(","):
        if ":" in item:
            out.append(int(item.split(":")[0]))
    return out


def cmd_loadsum(path, s):
    """(l) figures of server S from the raw values: for each rate, the median
    over the rounds of CPU per answer, mean/p50/p99/p99.9 latency, achieved
    rate, answers per wake-up (answers / voluntary context switches) and
    involuntary switches per 1000 answers (preemption: other load on the
    server's core); the range of p99 and of CPU per answer over the rounds;
    queries lost (sum) and the worst round's foreign load. From the counting
    run: system calls per answer, in all and by call."""
    kv = load_kv(path)
    tck = num(kv, "meta.clk_tck") or 100.0
    rounds = int(num(kv, "meta.load_rounds") or 0)
    out = {}
    sysc_rate = int(num(kv, "meta.sysc_rate") or 0)
    rates = load_plan(kv) + ([sysc_rate] if sysc_rate and sysc_rate not in load_plan(kv) else [])
    for rate in rates:
        p = "%s.l%d." % (s, rate)
        per = {k: [] for k in ("us_per_answer", "lat_avg", "p50", "p99", "p99_9", "qps",
                               "per_wake", "nvcsw_per_k")}
        lost, fg = 0.0, []
        for r in range(1, rounds + 1):
            t = "%sr%d." % (p, r)
            n = num(kv, t + "completed")
            if not n:
                continue
            ticks, vol, invol = (num(kv, t + k) for k in ("cpu_ticks", "vcsw", "nvcsw"))
            if ticks is not None:
                per["us_per_answer"].append(ticks / tck * 1e6 / n)
            if vol:
                per["per_wake"].append(n / vol)
            if invol is not None:
                per["nvcsw_per_k"].append(invol * 1000.0 / n)
            for k, src in (("lat_avg", "lat_avg"), ("qps", "qps"), ("p50", "lat.p50"),
                           ("p99", "lat.p99"), ("p99_9", "lat.p99_9")):
                x = num(kv, t + src)
                if x is not None:
                    per[k].append(x)
            lost += num(kv, t + "lost") or 0
            x = num(kv, t + "foreign_cpu_pct")
            if x is not None:
                fg.append(x)
        for k, vals in per.items():
            if vals:
                out[p + k] = "%.9g" % median(vals)
        for k in ("p99", "us_per_answer"):
            if per[k]:
                out[p + k + "_min"] = "%.9g" % min(per[k])
                out[p + k + "_max"] = "%.9g" % max(per[k])
        out[p + "rounds"] = "%d" % len(per["qps"])
        out[p + "lost"] = "%d" % lost
        if fg:
            out[p + "foreign_max"] = "%d" % max(fg)
        n = num(kv, p + "sysc.completed")
        if n:
            c = p + "sysc.calls."
            for k in sorted(kv):
                x = num(kv, k) if k.startswith(c) else None
                if x is not None:
                    out[p + "sysc_per_answer." + k[len(c):]] = "%.4f" % (x / n)
            if p + "sysc_per_answer.all" in out:
                out[p + "syscalls_per_answer"] = out[p + "sysc_per_answer.all"]
    for k, v in out.items():
        print("%s %s" % (k, v))
    return 0


# ---------------------------------------------------------------- report

def cmd_pairsum(path):
    """(m) figures from the paired slices: per server and rate the median CPU
    per answer (and its range); per round the ratio of each server's CPU per
    answer to Unbound's in the same round, and the median and range of those
    ratios. A round in which any slice was disturbed (foreign load above
    meta.foreign_max) is left out of the ratios and counted."""
    kv = load_kv(path)
    rounds = int(num(kv, "meta.pair_rounds") or 0)
    fmax = num(kv, "meta.foreign_max") or 20
    rates = [int(x) for x in (kv.get("meta.pair_rates") or "").split(",") if x]
    # the servers of the slices: (m)'s three, or the floor case's five
    servers = sorted({k.split(".m")[0] for k in kv if re.match(r"[\w-]+\.m\d+\.r\d+\.cpu_ns$", k)})
    out = {}
    for rate in rates:
        per = {s: {} for s in servers}
        for s in servers:
            for r in range(1, rounds + 1):
                t = "%s.m%d.r%d." % (s, rate, r)
                n, ns = num(kv, t + "completed"), num(kv, t + "cpu_ns")
                if n and ns is not None:
                    per[s][r] = (ns / 1e3 / n, (num(kv, t + "foreign_cpu_pct") or 0) > fmax)
        for s in servers:
            v = [x for x, _ in per[s].values()]
            if not v:
                continue
            p = "%s.m%d." % (s, rate)
            out[p + "us_per_answer"] = "%.9g" % median(v)
            out[p + "us_per_answer_min"] = "%.9g" % min(v)
            out[p + "us_per_answer_max"] = "%.9g" % max(v)
            lat = [num(kv, "%s.m%d.r%d.lat_avg" % (s, rate, r)) for r in per[s]]
            lat = [x * 1e6 for x in lat if x is not None]
            if lat:  # dnsperf's mean latency of each slice, in us: the median
                out[p + "lat_us"] = "%.4g" % median(lat)
            ratios, skipped = [], 0
            for r, (x, bad) in per[s].items():
                u = per.get("unbound", {}).get(r)
                if u is None or u[0] <= 0:
                    continue
                if bad or u[1] or any(per[o].get(r, (0, False))[1] for o in servers):
                    skipped += 1
                    continue
                ratios.append(x / u[0])
            if ratios:
                out[p + "ratio"] = "%.4f" % median(ratios)
                out[p + "ratio_min"] = "%.4f" % min(ratios)
                out[p + "ratio_max"] = "%.4f" % max(ratios)
            out[p + "rounds"] = "%d" % len(ratios)
            out[p + "rounds_disturbed"] = "%d" % skipped
    for k, v in out.items():
        print(k, v)
    return 0


def load_kv(path):
    kv = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            k, _, v = line.partition(" ")
            kv[k] = v
    return kv


def num(kv, key):
    v = kv.get(key)
    if v is None:
        return None
    try:
        return float(v)
    except ValueError:
        return None


def cmd_report(path):
    kv = load_kv(path)
    tck = num(kv, "meta.clk_tck") or 100.0
    for s in ("vigil", "unbound", "canned"):
        for c in ("b", "g"):
            t, n = num(kv, "%s.%s.cpu_ticks" % (s, c)), num(kv, "%s.%s.completed" % (s, c))
            if t is not None and n:
                kv["%s.%s.us_per_answer" % (s, c)] = str(t / tck * 1e6 / n)
    for s in ("vigil", "unbound"):
        for c in ("tdot.b", "tdoh.b"):
            t, n = num(kv, "%s.%s.cpu_ticks" % (s, c)), num(kv, "%s.%s.completed" % (s, c))
            if t is not None and n:
                kv["%s.%s.us_per_answer" % (s, c)] = str(t / tck * 1e6 / n)
        for m in ("full", "resume"):
            t, n = num(kv, "%s.ths.%s.cpu_ticks" % (s, m)), num(kv, "%s.ths.%s.done" % (s, m))
            secs = num(kv, "%s.ths.%s.secs" % (s, m))
            if t is not None and n:
                kv["%s.ths.%s.us_per_conn" % (s, m)] = str(t / tck * 1e6 / n)
            if n is not None and secs:
                kv["%s.ths.%s.rate" % (s, m)] = str(n / secs)
            ru = num(kv, "%s.ths.%s.reused" % (s, m))
            if ru is not None and n:
                kv["%s.ths.%s.reused_pct" % (s, m)] = str(100.0 * ru / n)
        r0, r1, ok = (num(kv, "%s.t3.%s" % (s, k)) for k in ("rss0_kb", "rss1_kb", "ok"))
        if r0 is not None and r1 is not None and ok:
            kv["%s.t3.bytes_per_conn" % s] = str((r1 - r0) * 1024.0 / ok)
    case = kv.get("meta.case", "all")
    run_base, run_sec = case in ("all", "base"), case in ("all", "dnssec")
    run_load = case in ("all", "base", "latency")
    run_pol = case in ("all", "policy")
    run_tls = case in ("all", "tls")
    servers = ["vigil", "unbound", "canned"]
    status = {s: kv.get(s + ".status", "n/a") for s in servers}

    def fmt(v, unit):
        if v is None:
            return "n/a"
        if unit == "qps":
            return "{:,.0f}".format(v)
        if unit == "us":
            return "%.1f" % v
        if unit in ("us2", "f2"):
            return "%.2f" % v
        if unit in ("MiB", "f1"):
            return "%.1f" % v
        if unit in ("s3", "f3"):
            return "%.3f" % v
        if unit == "s2":
            return "%.2f" % v
        return str(v)

    def ratio(a, b):
        if isinstance(a, str) or isinstance(b, str):
            return "-"
        if a is None or b is None or b == 0:
            return "n/a"
        return "%.2f" % (a / b)

    us = lambda k: (lambda s: None if num(kv, s + k) is None else num(kv, s + k) * 1e6)
    raw = lambda k: (lambda s: num(kv, s + k))
    mib = lambda k: (lambda s: None if num(kv, s + k) is None else num(kv, s + k) / 1024.0)

    # (label, getter, unit, show ceiling, target description, better)
    pct = lambda k: (lambda s: num(kv, s + k))
    bad = lambda c: (lambda s: (None if num(kv, s + c + ".completed") is None else
                                (num(kv, s + c + ".lost") or 0) +
                                (num(kv, s + c + ".rcode_other") or 0)))
    miss_bad = bad(".c")

    # (label, getter, unit, show ceiling column, target)
    rows = [
        ("(a) cached qps, 1 core", raw(".a.qps"), "qps", True, ">= unbound, >= 0.95 x ceiling"),
        ("(a) mean latency us", us(".a.lat_avg"), "us", True, ""),
        ("(a) server CPU % of core", pct(".a.server_cpu_pct"), "raw", True, "~100 = server-bound"),
        ("(a) dnsperf CPU % of core", pct(".a.gen_cpu_pct"), "raw", True, "~100 = generator-bound"),
        ("(a) other load % of a core", pct(".a.foreign_cpu_pct"), "raw", True, "< %s (else disturbed)" % kv.get("meta.foreign_max", "20")),
        ("(a) p50 us, saturated -v", us(".alat.p50"), "us", True, ""),
        ("(a) p99 us, saturated -v", us(".alat.p99"), "us", True, ""),
        ("(b) CPU us/answer @%s" % kv.get("meta.rate", "?"), raw(".b.us_per_answer"), "us2", True,
         "<= 0.85 x unbound; issue 9: <= 0.75 x"),
        ("(b) achieved qps", raw(".b.qps"), "qps", True, ""),
        ("(b) other load % of a core", pct(".b.foreign_cpu_pct"), "raw", True, ""),
        ("(c) cache-miss res/s", raw(".c.qps"), "qps", False, ">= unbound"),
        ("(c) lost + non-NOERROR", miss_bad, "raw", False, "0"),
        ("(c) resolver CPU % of core", pct(".c.server_cpu_pct"), "raw", False, ""),
        ("(c) auth NSD CPU % of core", pct(".c.auth_cpu_pct"), "raw", False, "< 80 (else lab-bound)"),
        ("(c) other load % of a core", pct(".c.foreign_cpu_pct"), "raw", False, ""),
        ("(d) VmRSS MiB after run", mib(".d.rss_kb"), "MiB", False, "<= unbound"),
        ("(d) VmHWM MiB (peak)", mib(".d.hwm_kb"), "MiB", False, ""),
        ("(a2) cached qps, 2 thr *", raw(".a2.qps"), "qps", False, "* contended: info only"),
        ("(a2) mean latency us *", us(".a2.lat_avg"), "us", False, ""),
    ]
    sec_rows = [
        ("(e) signed miss res/s DO=1", raw(".e.qps"), "qps", False, ">= unbound"),
        ("(e) lost + non-NOERROR", bad(".e"), "raw", False, "0"),
        ("(e) AD+RRSIG in sample of 200", raw(".eadcheck.ok"), "raw", False, "200"),
        ("(e) resolver CPU % of core", pct(".e.server_cpu_pct"), "raw", False, ""),
        ("(e) auth NSD CPU % of core", pct(".e.auth_cpu_pct"), "raw", False, "< 80 (else lab-bound)"),
        ("(e) other load % of a core", pct(".e.foreign_cpu_pct"), "raw", False, ""),
        ("(f) DO=1 cached qps, 1 core", raw(".f.qps"), "qps", False, ">= unbound"),
        ("(f) lost + non-NOERROR", bad(".f"), "raw", False, "0"),
        ("(f) mean latency us", us(".f.lat_avg"), "us", False, ""),
        ("(f) server CPU % of core", pct(".f.server_cpu_pct"), "raw", False, "~100 = server-bound"),
        ("(f) dnsperf CPU % of core", pct(".f.gen_cpu_pct"), "raw", False, "~100 = generator-bound"),
        ("(f) other load % of a core", pct(".f.foreign_cpu_pct"), "raw", False, ""),
        ("(g) DO=1 CPU us/answer @%s" % kv.get("meta.sec_rate", "?"), raw(".g.us_per_answer"),
         "us2", False, "<= 0.85 x unbound"),
        ("(g) achieved qps", raw(".g.qps"), "qps", False, ""),
        ("(g) other load % of a core", pct(".g.foreign_cpu_pct"), "raw", False, ""),
        ("(h) VmRSS MiB after (e)-(g)", mib(".h.rss_kb"), "MiB", False, ""),
        ("(h) VmHWM MiB (peak)", mib(".h.hwm_kb"), "MiB", False, ""),
    ]

    # (l): per rate of the plan; the ceiling ratio is shown for every row
    # (ceil == "all"). Targets (issue 9): at 20k CPU/answer <= 0.75 x and mean
    # latency <= Unbound's; at 50k p99 <= Unbound's.
    def krate(r):
        return "%dk" % (r // 1000) if r % 1000 == 0 else str(r)

    def us_rng(k):
        def g(s):
            lo, hi = num(kv, s + k + "_min"), num(kv, s + k + "_max")
            return None if lo is None or hi is None else "%.0f-%.0f" % (lo * 1e6, hi * 1e6)
        return g
    sysc_rate = int(num(kv, "meta.sysc_rate") or 0)
    load_rows = []
    for r in load_plan(kv):
        k, L = ".l%d." % r, "(l) @%s " % krate(r)
        load_rows += [
            (L + "CPU us/answer", raw(k + "us_per_answer"), "us2", "all",
             "<= 0.75 x unbound" if r == 20000 else ""),
            (L + "mean latency us", us(k + "lat_avg"), "us", "all",
             "<= unbound" if r == 20000 else ""),
            (L + "p50 us", us(k + "p50"), "us", "all", ""),
            (L + "p99 us", us(k + "p99"), "us", "all", "<= unbound" if r == 50000 else ""),
            (L + "  p99 range, rounds", us_rng(k + "p99"), "str", "all", ""),
            (L + "answers per wake-up", raw(k + "per_wake"), "f1", "all", ""),
        ]
        if r == sysc_rate:
            load_rows.append((L + "syscalls/answer", raw(k + "syscalls_per_answer"), "f2", "all",
                              "separate run, counted"))
    if sysc_rate and sysc_rate not in load_plan(kv):
        load_rows.append(("(l) @%s syscalls/answer" % krate(sysc_rate),
                          raw(".l%d.syscalls_per_answer" % sysc_rate), "f2", "all",
                          "separate run, counted"))
    # (m): paired slices (pairsum); the ratio rows show each server's median
    # per-round ratio to Unbound's CPU per answer, with its range.
    def ratio_rng(k):
        def g(s):
            lo, hi = num(kv, s + k + "ratio_min"), num(kv, s + k + "ratio_max")
            n = num(kv, s + k + "rounds") or 0
            return None if lo is None or hi is None else "%.2f-%.2f n%d" % (lo, hi, n)
        return g

    def us_range(k):
        def g(s):
            lo, hi = num(kv, s + k + "_min"), num(kv, s + k + "_max")
            return None if lo is None or hi is None else "%.1f-%.1f" % (lo, hi)
        return g
    pair_rates = [int(x) for x in (kv.get("meta.pair_rates") or "").split(",") if x]
    for r in pair_rates:
        k, M = ".m%d." % r, "(m) @%s " % krate(r)
        load_rows += [
            (M + "CPU us/answer", raw(k + "us_per_answer"), "us2", "all", "median of slices"),
            (M + "  CPU range, slices", us_range(k + "us_per_answer"), "str", "all", ""),
            (M + "x unbound, median", raw(k + "ratio"), "f2", "all",
             "per-round ratios; <= 0.75" if r in (20000, 100000) else "per-round ratios"),
            (M + "  x unbound, range", ratio_rng(k), "str", "all",
             "n = undisturbed rounds"),
        ]
    fgl = lambda s: (lambda xs: max(xs) if xs else None)(
        [x for x in (num(kv, "%s.l%d.foreign_max" % (s, r)) for r in load_plan(kv))
         if x is not None])
    load_rows.append(("(l) other load %, worst run", fgl, "raw", "all",
                      "< %s (else disturbed)" % kv.get("meta.foreign_max", "20")))

    nrules = num(kv, "meta.pol_rules")

    def rng(k):  # "min-max" of a per-round ratio
        def g(s):
            lo, hi = num(kv, s + k + "_min"), num(kv, s + k + "_max")
            return None if lo is None or hi is None else "%.3f-%.3f" % (lo, hi)
        return g
    pol_rows = [
        ("(p1) rules loaded (log line)", raw(".pol.rules.log_rules"), "raw", False,
         "%d (vigil only)" % (nrules or 0)),
        ("(p1) load s: start->1st answer", raw(".pol.rules.answer_s"), "s3", False, "< 2 s"),
        ("(p1) start->'policy:' line s", raw(".pol.rules.log_s"), "s3", False, "vigil only"),
        ("(p1) CPU s used by the load", raw(".pol.rules.load_cpu_s"), "s2", False, "user+sys"),
        ("(p1) no rules: ->1st answer s", raw(".pol.none.answer_s"), "s3", False, ""),
        ("(p2) VmRSS MiB, no rules", mib(".pol.none.rss_kb"), "MiB", False, "right after 1st answer"),
        ("(p2) VmRSS MiB, with rules", mib(".pol.rules.rss_kb"), "MiB", False, ""),
        ("(p2) VmHWM MiB, with rules", mib(".pol.rules.hwm_kb"), "MiB", False, "peak while loading"),
        ("(p2) resident bytes per rule", raw(".pol.bytes_per_rule"), "f1", False, "< 64"),
        ("(p2) bytes/rule after (p3)", raw(".pol.bytes_per_rule_after"), "f1", False, ""),
        ("(p3a) cached qps, no rules", raw(".pol.none.a.qps"), "qps", False, "median of rounds"),
        ("(p3a) cached qps, with rules", raw(".pol.rules.a.qps"), "qps", False, ""),
        ("(p3a) qps with / without", raw(".pol.a.qps_ratio"), "f3", False, ">= 0.95"),
        ("(p3a)   per-round range", rng(".pol.a.qps_ratio"), "str", False, ""),
        ("(p3a) server CPU %, no rules", pct(".pol.none.a.server_cpu_pct"), "raw", False,
         "~100 = server-bound"),
        ("(p3a) server CPU %, rules", pct(".pol.rules.a.server_cpu_pct"), "raw", False, ""),
        ("(p3a) dnsperf CPU %, rules", pct(".pol.rules.a.gen_cpu_pct"), "raw", False,
         "~100 = generator-bound"),
        ("(p3b) CPU us/answer, no rules", raw(".pol.none.b.us_per_answer"), "us2", False,
         "@%s q/s" % kv.get("meta.rate", "?")),
        ("(p3b) CPU us/answer, rules", raw(".pol.rules.b.us_per_answer"), "us2", False, ""),
        ("(p3b) us/answer with / without", raw(".pol.b.us_per_answer_ratio"), "f3", False,
         "<= 1.05 (stricter reading)"),
        ("(p3b)   per-round range", rng(".pol.b.us_per_answer_ratio"), "str", False, ""),
        ("(p3) other load %, worst run", pct(".pol.foreign_max"), "raw", False,
         "< %s (else disturbed)" % kv.get("meta.foreign_max", "20")),
        ("(p4) sample blocked (NXDOMAIN)", raw(".pol.check.blocked"), "raw", False,
         "%s" % kv.get("vigil.pol.check.expect_blocked", kv.get("unbound.pol.check.expect_blocked", "?"))),
        ("(p4) with EDE 15", raw(".pol.check.ede15"), "raw", False, "all (vigil)"),
        ("(p4) sample answers wrong", raw(".pol.check.fail"), "raw", False, "0"),
    ]

    tls_rows = [
        ("(t1) DoT cached qps, 1 core", raw(".tdot.a.qps"), "qps", False, ">= 1.2 x unbound"),
        ("(t1) DoT lost + non-NOERROR", bad(".tdot.a"), "raw", False, "0"),
        ("(t1) DoT mean latency us", us(".tdot.a.lat_avg"), "us", False, ""),
        ("(t1) DoT server CPU % of core", pct(".tdot.a.server_cpu_pct"), "raw", False,
         "~100 = server-bound"),
        ("(t1) DoT dnsperf CPU %", pct(".tdot.a.gen_cpu_pct"), "raw", False,
         "~100 = generator-bound"),
        ("(t1) DoH cached qps, 1 core", raw(".tdoh.a.qps"), "qps", False, ">= 1.2 x unbound"),
        ("(t1) DoH lost + non-NOERROR", bad(".tdoh.a"), "raw", False, "0"),
        ("(t1) DoH mean latency us", us(".tdoh.a.lat_avg"), "us", False, ""),
        ("(t1) DoH server CPU % of core", pct(".tdoh.a.server_cpu_pct"), "raw", False,
         "~100 = server-bound"),
        ("(t1) DoH dnsperf CPU %", pct(".tdoh.a.gen_cpu_pct"), "raw", False,
         "~100 = generator-bound"),
        ("(t2) DoT CPU us/answer @%s" % kv.get("meta.tls_rate", "?"),
         raw(".tdot.b.us_per_answer"), "us2", False, "<= 0.8 x unbound"),
        ("(t2) DoT achieved qps", raw(".tdot.b.qps"), "qps", False, ""),
        ("(t2) DoH CPU us/answer @%s" % kv.get("meta.tls_rate", "?"),
         raw(".tdoh.b.us_per_answer"), "us2", False, "<= 0.8 x unbound"),
        ("(t2) DoH achieved qps", raw(".tdoh.b.qps"), "qps", False, ""),
        ("(t3) idle DoT conns set up", raw(".t3.ok"), "raw", False,
         "%s" % kv.get("meta.idle_conns", "?")),
        ("(t3) still open at the end", raw(".t3.open"), "raw", False, ""),
        ("(t3) VmRSS MiB before", mib(".t3.rss0_kb"), "MiB", False, ""),
        ("(t3) VmRSS MiB with them", mib(".t3.rss1_kb"), "MiB", False, ""),
        ("(t3) RSS bytes per idle conn", raw(".t3.bytes_per_conn"), "f1", False, "<= unbound"),
        ("(t4) new conns/s, full hs", raw(".ths.full.rate"), "qps", False, "conn+hs+1 query"),
        ("(t4) server CPU us/conn, full", raw(".ths.full.us_per_conn"), "f1", False, ""),
        ("(t4) server CPU %, full", pct(".ths.full.server_cpu_pct"), "raw", False,
         "~100 = server-bound"),
        ("(t4) new conns/s, resumed", raw(".ths.resume.rate"), "qps", False, ""),
        ("(t4) % of them resumed", raw(".ths.resume.reused_pct"), "f1", False, "~100"),
        ("(t4) server CPU us/conn, res.", raw(".ths.resume.us_per_conn"), "f1", False, ""),
        ("(t4) server CPU %, resumed", pct(".ths.resume.server_cpu_pct"), "raw", False, ""),
    ]

    lines = []
    hdr = "%-28s %12s %12s %12s %9s %9s  %s" % (
        "metric", "vigil", "unbound", "ceiling", "vig/unb", "vig/ceil", "target")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    verdicts = []
    shown = (rows if run_base else []) + (
        [("-- (l) fixed offered rate, cached, %s rounds --" % kv.get("meta.load_rounds", "?"),
          None, "", False, "")] if run_load and run_base else []
    ) + (load_rows if run_load else []) + (
        [("-- DNSSEC: validating, DO=1 --", None, "", False, "")]
        if (run_base or run_load) and run_sec else []
    ) + (sec_rows if run_sec else []) + (
        [("-- policy: %s RPZ QNAME rules --" % ("{:,}".format(int(nrules)) if nrules else "?"),
          None, "", False, "")] if run_pol and (run_base or run_load or run_sec) else []
    ) + (pol_rows if run_pol else []) + (
        [("-- DoT / DoH --", None, "", False, "")]
        if run_tls and (run_base or run_load or run_sec or run_pol) else []
    ) + (tls_rows if run_tls else [])
    for label, get, unit, ceil, target in shown:
        if get is None:
            lines.append(label)
            continue
        v, u = get("vigil"), get("unbound")
        c = get("canned") if ceil else None
        def f(x):
            if x is None:
                return "n/a"
            if unit == "str":
                return x
            if unit == "raw":
                return "%d" % x
            return fmt(x, unit)
        lines.append("%-28s %12s %12s %12s %9s %9s  %s" % (
            label, f(v), f(u), f(c) if ceil else "-", ratio(v, u),
            ratio(v, c) if ceil and (unit == "qps" or ceil == "all") else "-", target))
    lines.append("")

    # Verdicts against the targets.
    def verdict(name, ok):
        verdicts.append("  %-44s %s" % (name, "n/a" if ok is None else ("PASS" if ok else "FAIL")))
    va, ua, ca = num(kv, "vigil.a.qps"), num(kv, "unbound.a.qps"), num(kv, "canned.a.qps")
    cmp = lambda key, test: (lambda v, u: None if v is None or u is None else test(v, u))(
        num(kv, "vigil." + key), num(kv, "unbound." + key))
    if run_base:
        verdict("(a) vigil qps >= unbound", None if va is None or ua is None else va >= ua)
        verdict("(a) vigil qps >= 95% of ceiling",
                None if va is None or ca is None else va >= 0.95 * ca)
        verdict("(b) vigil CPU/answer <= 0.85 x unbound",
                cmp("b.us_per_answer", lambda v, u: v <= 0.85 * u))
        verdict("(b) issue 9: vigil CPU/answer <= 0.75 x unb",
                cmp("b.us_per_answer", lambda v, u: v <= 0.75 * u))
        verdict("(c) vigil miss res/s >= unbound", cmp("c.qps", lambda v, u: v >= u))
        verdict("(d) vigil RSS <= unbound", cmp("d.rss_kb", lambda v, u: v <= u))
    if run_load:
        if not run_base and 100000 in load_plan(kv):
            verdict("(l) @100k vigil CPU/answer <= 0.75 x unbound",
                    cmp("l100000.us_per_answer", lambda v, u: v <= 0.75 * u))
        verdict("(l) @20k vigil CPU/answer <= 0.75 x unbound",
                cmp("l20000.us_per_answer", lambda v, u: v <= 0.75 * u))
        for r in pair_rates:
            if r in (20000, 100000):
                x = num(kv, "vigil.m%d.ratio" % r)
                verdict("(m) @%s vigil/unbound CPU, paired <= 0.75" % krate(r),
                        None if x is None else x <= 0.75)
        verdict("(l) @20k vigil mean latency <= unbound", cmp("l20000.lat_avg", lambda v, u: v <= u))
        verdict("(l) @50k vigil p99 <= unbound", cmp("l50000.p99", lambda v, u: v <= u))
    if run_sec:
        for s in ("vigil", "unbound"):
            st = kv.get(s + ".sec.status")
            verdict("(e-g) %s validates (AD, bogus = SERVFAIL)" % s,
                    None if st in (None, "skipped") else st == "ok")
        verdict("(e) vigil signed miss res/s >= unbound", cmp("e.qps", lambda v, u: v >= u))
        verdict("(f) vigil DO=1 cached qps >= unbound", cmp("f.qps", lambda v, u: v >= u))
        verdict("(g) vigil DO=1 CPU/answer <= 0.85 x unbound",
                cmp("g.us_per_answer", lambda v, u: v <= 0.85 * u))
    if run_pol:
        polok = lambda s: (None if kv.get(s + ".pol.status") in (None, "skipped")
                           else kv.get(s + ".pol.status") == "ok")
        one = lambda key, test: (lambda v: None if v is None else test(v))(num(kv, "vigil." + key))
        verdict("(p1) vigil loads %s rules in < 2 s" % ("{:,}".format(int(nrules)) if nrules else "?"),
                one("pol.rules.answer_s", lambda v: v < 2.0))
        verdict("(p2) vigil < 64 resident bytes per rule", one("pol.bytes_per_rule", lambda v: v < 64))
        verdict("(p3a) vigil qps with rules >= 0.95 x without", one("pol.a.qps_ratio", lambda v: v >= 0.95))
        verdict("(p3b) vigil CPU/answer with <= 1.05x without",
                one("pol.b.us_per_answer_ratio", lambda v: v <= 1.05))
        verdict("(p4) vigil blocks sample (NXDOMAIN + EDE 15)", polok("vigil"))
        verdict("(p4) unbound blocks sample (NXDOMAIN)", polok("unbound"))
    if run_tls:
        verdict("(t1) vigil DoT cached qps >= 1.2 x unbound", cmp("tdot.a.qps", lambda v, u: v >= 1.2 * u))
        verdict("(t1) vigil DoH cached qps >= 1.2 x unbound", cmp("tdoh.a.qps", lambda v, u: v >= 1.2 * u))
        verdict("(t2) vigil DoT CPU/answer <= 0.8 x unbound",
                cmp("tdot.b.us_per_answer", lambda v, u: v <= 0.8 * u))
        verdict("(t2) vigil DoH CPU/answer <= 0.8 x unbound",
                cmp("tdoh.b.us_per_answer", lambda v, u: v <= 0.8 * u))
        verdict("(t3) vigil bytes per idle DoT conn <= unbound",
                cmp("t3.bytes_per_conn", lambda v, u: v <= u))
    lines.append("targets:")
    lines.extend(verdicts)
    lines.append("")
    st = []
    if run_base:
        st += ["%s=%s" % (s, status[s]) for s in servers]
    if run_load:
        st += ["%s (l)=%s" % (s, kv.get(s + ".l.status", "n/a")) for s in servers]
    if run_sec:
        st += ["%s (validating)=%s" % (s, kv.get(s + ".sec.status", "n/a"))
               for s in ("vigil", "unbound")]
    if run_tls:
        st += ["%s (tls)=%s" % (s, kv.get(s + ".tls.status", "n/a")) for s in ("vigil", "unbound")]
    if run_pol:
        st += ["%s (policy)=%s" % (s, kv.get(s + ".pol.status", "n/a")) for s in ("vigil", "unbound")]
    lines.append("server status: " + ", ".join(st))
    for k in sorted(kv):
        if k.startswith("warn."):
            lines.append("WARNING: " + kv[k])
    print("\n".join(lines))
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmd, args = argv[1], argv[2:]
    fn = {
        "lab": cmd_lab, "portfree": cmd_portfree, "probe": cmd_probe, "tlsprobe": cmd_tlsprobe, "adcheck": cmd_adcheck,
        "stats": cmd_stats, "lat": cmd_lat, "tree": cmd_tree, "cpu": cmd_cpu, "sched": cmd_sched,
        "schedns": cmd_schedns, "pairsum": cmd_pairsum, "floorreport": cmd_floorreport,
        "sysbusy": cmd_sysbusy, "mem": cmd_mem, "loadsum": cmd_loadsum,
        "report": cmd_report, "rpz": cmd_rpz, "loadtime": cmd_loadtime,
        "polcheck": cmd_polcheck, "polsum": cmd_polsum,
        "dtcount": cmd_dtcount, "obssum": cmd_obssum, "obsreport": cmd_obsreport,
    }.get(cmd)
    if fn is None:
        print(__doc__)
        return 2
    return fn(*args) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
