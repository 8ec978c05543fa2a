#!/usr/bin/python3
"""vigil test lab: a small authoritative DNS hierarchy on loopback.

Builds zone files from Python into a directory and starts one NSD instance per
"server" on its own loopback address (127.53.0.0/16 by default, port 53), plus a
silent Python socket for the unresponsive-NS case, and a slow Python responder
(tests/lab/slowauth.py: d<ms>-* names answered after <ms> ms) for queries that
must stay in flight.  Every process is started with
a pidfile inside the lab directory and is stopped only through that pidfile.

CLI:
    lab.py start DIR [--port N] [--prefix 127.53]   build + start, print address map
    lab.py stop DIR                                  stop everything started in DIR
    lab.py stats DIR [SERVER]                        print NSD query counters
    lab.py map [--prefix 127.53]                     print the address map only

As a module:
    lab = Lab(dir, port=53, prefix="127.53"); lab.start(); ...; lab.stop()
    lab.addr("basic")            -> "127.53.2.1"
    lab.stats("basic")           -> {"num.queries": 12, "num.udp": 11, "num.tcp": 1, ...}
    lab.total_queries()          -> sum of num.queries over all servers
    lab.slow_queries("x.slow.lab.", "A") -> queries the slow server got for that name/type
    lab.root_hints               -> path of DIR/root.hints
    lab.trust_anchor             -> path of DIR/root.key (the root's DS, the lab's anchor)

The root, lab. (NSEC), example. (NSEC3) and the TLD sec. with its children are
DNSSEC-signed at every start (tests/lab/labdnssec.py; keys are cached in
DIR/keys).  SIGNED below says which zone is signed how, SEC_ZONES which case
lives under sec.

A resolver can only use the lab with port 53 (root hints and NS records carry
no port).  Another --prefix (e.g. 127.54) lets two labs run on one machine.

The layout (addresses, zones, which case lives where) is documented in
tests/integration/README.md; `lab.py map` prints it.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

try:
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype
except ImportError:  # e.g. a pyenv python3 first in PATH: use Debian's dnspython
    sys.path.append("/usr/lib/python3/dist-packages")
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

import labdnssec
from labdnssec import OPTOUT_MARK, Signing
from slowauth import ANSWER_ADDR as SLOW_ANSWER  # A of every other name in slow.lab.

HERE = os.path.dirname(os.path.abspath(__file__))
BLACKHOLE = os.path.join(HERE, "blackhole.py")
SLOWAUTH = os.path.join(HERE, "slowauth.py")
SCRIPTS = {"blackhole": BLACKHOLE, "slowauth": SLOWAUTH}  # kinds that are Python scripts
NSD = shutil.which("nsd") or "/usr/sbin/nsd"
NSD_CONTROL = shutil.which("nsd-control") or "/usr/sbin/nsd-control"

DEFAULT_PREFIX = os.environ.get("VIGIL_LAB_PREFIX", "127.53")
DEFAULT_PORT = int(os.environ.get("VIGIL_LAB_PORT", "53"))

# The children of the signed TLD sec.: (label, how it is signed or None for an
# unsigned zone, address of www.<label>.sec.).  All of them are served by
# sec-child, never by tld-sec: a server authoritative for both parent and child
# would answer the child's DS/DNSKEY questions itself and hide the zone cut.
# What each case must give is in tests/integration/README.md.
SEC_ZONES = [
    # one secure zone per algorithm (alg5 with a SHA-1 DS, alg14 with SHA-384)
    ("alg5", Signing(alg=5, digest=1), "198.51.100.5"),
    ("alg7", Signing(alg=7, nsec3=0), "198.51.100.7"),
    ("alg8", Signing(alg=8), "198.51.100.8"),
    ("alg10", Signing(alg=10), "198.51.100.10"),
    ("alg13", Signing(alg=13), "198.51.100.13"),
    ("alg14", Signing(alg=14, digest=4), "198.51.100.14"),
    ("alg15", Signing(alg=15), "198.51.100.15"),
    ("alg16", Signing(alg=16), "198.51.100.16"),
    # denial of existence: NXDOMAIN, NODATA, wildcard, CNAME (SEC_DENIAL_EXTRA)
    ("nsec", Signing(), "198.51.100.20"),
    ("nsec3", Signing(nsec3=0), "198.51.100.21"),
    ("optout", Signing(nsec3=0, optout=True), "198.51.100.22"),  # + child.optout.sec.
    # a wildcard whose proving NSEC / NSEC3 has TTL 0 (SOA MINIMUM 0: TTL0_ZONES)
    ("ttl0", Signing(), "198.51.100.43"),
    ("ttl0n3", Signing(nsec3=0), "198.51.100.44"),
    # insecure on purpose
    ("insecure", None, "198.51.100.23"),  # delegated without DS
    ("unsupported-alg", Signing(case="unsupported-alg"), "198.51.100.24"),
    ("unsupported-digest", Signing(digest=6), "198.51.100.25"),  # DS digest 6 (SM3)
    ("nsec3iter", Signing(nsec3=100), "198.51.100.26"),  # above RFC 9276 limits
    # bogus: see labdnssec.BREAKAGES
    ("expired", Signing(case="expired"), "198.51.100.30"),
    ("notyet", Signing(case="notyet"), "198.51.100.31"),
    ("wrongkey", Signing(case="wrongkey"), "198.51.100.32"),
    ("norrsig", Signing(case="norrsig"), "198.51.100.33"),
    ("badds", Signing(case="badds"), "198.51.100.34"),
    ("tampered", Signing(case="tampered"), "198.51.100.35"),
    ("nonsec", Signing(case="nonsec"), "198.51.100.36"),
    ("nta", Signing(case="expired"), "198.51.100.37"),  # the resolvers' negative trust anchor
    ("keytrap", Signing(alg=8, case="keytrap"), "198.51.100.38"),
    ("keytrap-big", Signing(alg=8, case="keytrap-big"), "198.51.100.39"),
    # bounds: more RRSIGs than dnssec.max-rrsigs-per-rrset ahead of the valid one
    ("rrsigcap", Signing(case="rrsigcap"), "198.51.100.41"),
    # bounds: more DS records of the KSK's tag than dnssec.max-ds-digests ahead of the real one
    ("dscap", Signing(case="dscap"), "198.51.100.45"),
    # healthy, with a DNSKEY RRset near the 64 KB message size
    ("bigdnskey", Signing(alg=8, case="bigdnskey"), "198.51.100.42"),
]
SEC_WWW = {label + ".sec.": addr for label, _, addr in SEC_ZONES}
OPTOUT_CHILD_WWW = "198.51.100.40"  # www.child.optout.sec. (unsigned, no DS)
SEC_WILD_ADDR = "198.51.100.77"  # *.wild.{nsec,nsec3,optout,ttl0,ttl0n3}.sec., *.any.keytrap.sec.
# Zones whose SOA MINIMUM is 0: the signer gives their NSEC / NSEC3 records
# (and the RRSIGs over them) TTL 0, and their negative TTL is 0.
TTL0_ZONES = ("ttl0.sec.", "ttl0n3.sec.")
# Negative trust anchors for the resolver under test: nta.sec. is bogus on
# purpose and must be answered as insecure; corp.internal. is the forward zone,
# which the signed root proves does not exist (NXDOMAIN for internal.), so a
# validator needs to be told, as with any private zone under an undelegated TLD.
NEGATIVE_TRUST_ANCHORS = ["nta.sec.", "corp.internal."]

# Names the signed root serves itself (no delegation, so their data is signed
# by the root's key): under vigil's built-in insecure names test. and corp.
# they must be insecure all the same; mytest. only ends in the same letters
# and is secure.  name -> address of its A record.
ROOT_OWN_NAMES = {"www.test.": "192.0.2.81", "www.corp.": "192.0.2.82",
                  "www.mytest.": "192.0.2.83"}

# Extra names of nsec.sec. and nsec3.sec. (relative to the zone).  Canonical
# order (NSEC chain): @, cname, ns1, nx, ny, *.wild, www.  nx -> ny is the NSEC range
# every nx-<anything> falls into (aggressive NSEC test); @ -> cname covers *.
SEC_DENIAL_EXTRA = """\
cname             IN CNAME www
nx                IN TXT   "start of the nx range"
ny                IN TXT   "end of the nx range"
*.wild            IN A     %s
""" % SEC_WILD_ADDR
# nsec.sec. only: a DNAME whose chain comes back under itself (query
# www.zdn.nsec.sec.: DNAME zdn -> zto, CNAME www.zto -> www2.zdn, the same
# DNAME again, then www2.zto A).  After www in canonical order, so the NSEC
# ranges the other tests use stay as they are.
SEC_DNAME_ADDR = "198.51.100.79"
SEC_DNAME_EXTRA = """\
zdn               IN DNAME zto.nsec.sec.
www.zto           IN CNAME www2.zdn.nsec.sec.
www2.zto          IN A     %s
""" % SEC_DNAME_ADDR

# How each signed zone is signed (labdnssec.Signing); every other zone is unsigned.
SIGNED = {
    ".": Signing(),
    "lab.": Signing(),  # NSEC; its children are unsigned (no DS)
    "example.": Signing(nsec3=0),  # NSEC3, 0 iterations, no salt (RFC 9276)
    "sec.": Signing(),
}
SIGNED.update({label + ".sec.": spec for label, spec, _ in SEC_ZONES if spec})

# The slow server's zone: any <x>.slow.lab. has A SLOW_ADDR; d<ms>-<x>.slow.lab.
# is answered only after <ms> milliseconds (tests/lab/slowauth.py).
SLOW_ZONE = "slow.lab."
SLOW_ADDR = "192.0.2.201"

# name -> (last two octets, kind, zones served).  kind: nsd | blackhole |
# slowauth (tests/lab/slowauth.py: answers its zone, holding back d<ms>-* names) | none.
# Octets "5.2+5.3+5.4": one NSD listening on several addresses (the first is the
# server's main address).
SERVERS = [
    ("root", "0.1", "nsd", ["."]),
    ("tld-lab", "1.1", "nsd", ["lab."]),
    ("tld-example", "1.2", "nsd", ["example."]),
    ("basic", "2.1", "nsd", ["basic.lab."]),
    ("chain1", "3.1", "nsd", ["chain1.lab."]),
    ("chain2", "3.2", "nsd", ["chain2.example.", "shop.example."]),
    ("chain3", "3.3", "nsd", ["chain3.lab."]),
    ("hoster", "4.1", "nsd", ["hoster.example."]),
    ("glueless", "4.2", "nsd", ["glueless.lab."]),
    ("lame-good", "5.2+5.3+5.4", "nsd", ["lame.lab.", "dead.lab.", "refused.lab.",
                                 "lame3.lab.", "dead3.lab.", "refused3.lab."]),
    ("lame-silent", "5.10", "blackhole", []),
    ("lame-dead", "5.11", "none", []),
    ("lame-refused", "5.12", "nsd", []),  # NSD serving nothing: REFUSED to all
    ("lame-good2", "5.20+5.21+5.22", "nsd", ["lame2.lab.", "dead2.lab.", "refused2.lab."]),
    ("big", "6.1", "nsd", ["big.lab."]),
    ("corp", "9.1", "nsd", ["corp.internal."]),  # not reachable from the root
    ("tld-sec", "10.1", "nsd", ["sec."]),
    ("sec-child", "10.2", "nsd", [label + ".sec." for label, _, _ in SEC_ZONES]),
    ("sec-grandchild", "10.3", "nsd", ["child.optout.sec."]),  # child of optout.sec.
    ("slow", "11.1", "slowauth", [SLOW_ZONE]),  # answers d<ms>-<x>.slow.lab. after <ms> ms
]

# Delegations with one broken NS: (zone label under lab., broken server, good
# address, layout).  Each case (lame/dead/refused) has good addresses of its own,
# so what the resolver learnt in one case does not steer the next.  Layouts, so
# that a resolver with any fixed preference meets the broken NS at least once:
#   bad-first     NS ns1 (broken, higher address), ns2 (good); both with glue
#   good-first    NS ns1 (good, higher address), ns2 (broken); both with glue
#   good-glueless NS ns1 (broken, glue) and ns-<zone>.hoster.example. (good, no
#                 glue: reachable only after a sub-query)
# good address: (server, index into its addrs)
LAME_ZONES = [
    ("lame", "lame-silent", ("lame-good", 0), "bad-first"),
    ("lame2", "lame-silent", ("lame-good2", 0), "good-first"),
    ("lame3", "lame-silent", ("lame-good", 0), "good-glueless"),
    ("dead", "lame-dead", ("lame-good", 1), "bad-first"),
    ("dead2", "lame-dead", ("lame-good2", 1), "good-first"),
    ("dead3", "lame-dead", ("lame-good", 1), "good-glueless"),
    ("refused", "lame-refused", ("lame-good", 2), "bad-first"),
    ("refused2", "lame-refused", ("lame-good2", 2), "good-first"),
    ("refused3", "lame-refused", ("lame-good", 2), "good-glueless"),
]
# hN.<zone>.lab. A 192.0.2.(base+N), N = 1..8
LAME_BASE = {"lame": 100, "dead": 110, "refused": 120,
             "lame2": 140, "dead2": 150, "refused2": 160,
             "lame3": 170, "dead3": 180, "refused3": 190}

SOA_MINIMUM = 300  # negative TTL of every lab zone
BIG_TXT_COUNT = 12  # TXT records per big RRset
BIG_TXT_LEN = 250  # characters per TXT string  (~3.1 kB RRset)


class LabError(Exception):
    pass


class LabBusy(LabError):
    """The lab's own addresses are taken (another lab?): another prefix may work."""


def big_txt_strings(label):
    """The TXT strings of the big RRset at LABEL.big.lab. (sorted)."""
    out = []
    for i in range(BIG_TXT_COUNT):
        head = "%s-record-%02d-" % (label, i)
        out.append(head + ("abcdefghij" * 30)[: BIG_TXT_LEN - len(head)])
    return out


def server_env():
    """The environment of the lab's own servers: the caller's without
    MALLOC_PERTURB_, which `meson test` sets for the program under test (vigil
    keeps it).  With it glibc fills every block NSD allocates and frees, and
    each reading of NSD's counters (stats_noreset) took up to three times as
    long: the lab is not what is tested."""
    env = dict(os.environ)
    env.pop("MALLOC_PERTURB_", None)
    return env


def _pid_alive(pid):
    """True while PID exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def _proc_cwd(pid):
    try:
        return os.readlink("/proc/%d/cwd" % pid)
    except OSError:
        return ""


def _proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _proc_comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def listeners(port):
    """[(proto, local_addr, [(procname, pid)])] for UDP+TCP listeners on PORT."""
    out = []
    for proto, flag in (("udp", "-ulpnH"), ("tcp", "-tlpnH")):
        try:
            text = subprocess.run(["ss", flag], capture_output=True, text=True,
                                  timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        for line in text.splitlines():
            cols = line.split()
            if len(cols) < 5:
                continue
            local = cols[3]
            host, _, p = local.rpartition(":")
            if p != str(port):
                continue
            host = host.strip("[]")
            if "%" in host:
                host = host.split("%", 1)[0]
            procs = [(m.group(1), int(m.group(2)))
                     for m in re.finditer(r'\("([^"]*)",pid=(\d+)', line)]
            out.append((proto, host, procs))
    return out


class Server:
    def __init__(self, lab, name, octets, kind, zones):
        self.lab = lab
        self.name = name
        self.addrs = ["%s.%s" % (lab.prefix, o) for o in octets.split("+")]
        self.addr = self.addrs[0]
        self.kind = kind
        self.zones = zones
        self.dir = os.path.join(lab.dir, name)
        self.conf = os.path.join(self.dir, "nsd.conf")
        self.pidfile = os.path.join(self.dir, "%s.pid" % kind)
        self.logfile = os.path.join(self.dir, "%s.log" % kind)
        self.ctl = os.path.join(self.dir, "nsd.ctl")
        self.countfile = os.path.join(self.dir, "%s.count" % kind)

    def __repr__(self):
        return "<%s %s %s %s>" % (self.name, self.kind, self.addr, " ".join(self.zones))


class Lab:
    def __init__(self, directory, port=DEFAULT_PORT, prefix=DEFAULT_PREFIX):
        self.dir = os.path.abspath(directory)
        self.port = int(port)
        self.prefix = prefix
        if not re.fullmatch(r"127\.\d{1,3}", prefix):
            raise LabError("prefix must be 127.N (loopback only), got %r" % prefix)
        self.servers = {n: Server(self, n, o, k, z) for n, o, k, z in SERVERS}
        self.root_hints = os.path.join(self.dir, "root.hints")
        self.trust_anchor = os.path.join(self.dir, "root.key")  # the root's DS
        self.signer = None  # labdnssec.Signer, made by build()
        # the Python servers this object started: stop() finds them by PID even
        # before they wrote their pidfile (a start that fails at once)
        self._spawned = {}

    # ---------------------------------------------------------------- lookup
    def addr(self, name):
        return self.servers[name].addr

    def address_map(self):
        return {n: {"addr": s.addr, "addrs": s.addrs, "kind": s.kind, "zones": s.zones}
                for n, s in self.servers.items()}

    def _a(self, name):
        return self.addr(name)

    # ---------------------------------------------------------------- zones
    def zones(self):
        """{zone origin: zone file text}."""
        a = self._a
        ds = self._ds
        z = {}

        def soa(origin, ns):
            return ("$ORIGIN %s\n$TTL 3600\n"
                    "@ 3600 IN SOA %s hostmaster.%s 2024010101 3600 600 86400 %d\n"
                    % (origin, ns, origin if origin != "." else "lab.", SOA_MINIMUM))

        z["."] = soa(".", "a.root-servers.lab.") + f"""\
@                    518400 IN NS a.root-servers.lab.
a.root-servers.lab.  518400 IN A  {a('root')}
lab.                 172800 IN NS ns1.nic.lab.
ns1.nic.lab.         172800 IN A  {a('tld-lab')}
example.             172800 IN NS ns1.nic.example.
ns1.nic.example.     172800 IN A  {a('tld-example')}
sec.                 172800 IN NS ns1.nic.sec.
ns1.nic.sec.         172800 IN A  {a('tld-sec')}
""" + "".join("%-20s 3600 IN A %s\n" % (n, addr) for n, addr in ROOT_OWN_NAMES.items()) \
            + ds("lab.") + ds("example.") + ds("sec.")
        lame_delegations = ""
        lame_ns = {}  # zone -> [(NS name, address or None if glue-less)]
        hoster_extra = ""
        for zone, bad, (gsrv, gi), layout in LAME_ZONES:
            good_addr = self.servers[gsrv].addrs[gi]
            if layout == "bad-first":
                ns = [("ns1.%s.lab." % zone, a(bad)), ("ns2.%s.lab." % zone, good_addr)]
            elif layout == "good-first":
                ns = [("ns1.%s.lab." % zone, good_addr), ("ns2.%s.lab." % zone, a(bad))]
            else:
                ns = [("ns1.%s.lab." % zone, a(bad)), ("ns-%s.hoster.example." % zone, None)]
                hoster_extra += "ns-%-14s IN A     %s\n" % (zone, good_addr)
            lame_ns[zone] = ns
            for name, _ in ns:
                lame_delegations += "%-17s IN NS %s\n" % (zone, name)
            for name, addr in ns:
                if addr:
                    lame_delegations += "%-17s IN A  %s\n" % (name, addr)
        z["lab."] = soa("lab.", "ns1.nic.lab.") + f"""\
@                 IN NS ns1.nic.lab.
ns1.nic           IN A  {a('tld-lab')}
a.root-servers    IN A  {a('root')}
; leaf delegations with in-bailiwick glue
basic             IN NS ns1.basic.lab.
ns1.basic         IN A  {a('basic')}
chain1            IN NS ns1.chain1.lab.
ns1.chain1        IN A  {a('chain1')}
chain3            IN NS ns1.chain3.lab.
ns1.chain3        IN A  {a('chain3')}
big               IN NS ns1.big.lab.
ns1.big           IN A  {a('big')}
slow              IN NS ns1.slow.lab.
ns1.slow          IN A  {a('slow')}
; glue-less: the NS name lives in hoster.example., no address here
glueless          IN NS ns.hoster.example.
; two NS each, one broken: X.lab lists the broken one first (higher address
; than the good one), X2.lab lists it second (lower address than the good one)
{lame_delegations}"""
        z["example."] = soa("example.", "ns1.nic.example.") + f"""\
@                 IN NS ns1.nic.example.
ns1.nic           IN A  {a('tld-example')}
chain2            IN NS ns1.chain2.example.
ns1.chain2        IN A  {a('chain2')}
shop              IN NS ns1.shop.example.
ns1.shop          IN A  {a('chain2')}
hoster            IN NS ns1.hoster.example.
ns1.hoster        IN A  {a('hoster')}
"""
        z["basic.lab."] = soa("basic.lab.", "ns1.basic.lab.") + f"""\
@                 IN NS   ns1.basic.lab.
@                 IN MX   10 mail.basic.lab.
@                 IN MX   20 mail2.basic.lab.
ns1               IN A    {a('basic')}
www               IN A    192.0.2.10
www               IN AAAA 2001:db8::10
mail              IN A    192.0.2.25
mail2             IN A    192.0.2.26
txt               IN TXT  "v=lab1 hello" "second string"
v4only            IN A    192.0.2.11
nodata-cache      IN A    192.0.2.12
cache-pos         IN A    192.0.2.13
short           1 IN A    192.0.2.14
stats             IN A    192.0.2.15
reload            IN A    192.0.2.16
edns              IN A    192.0.2.17
pipe1             IN A    192.0.2.41
pipe2             IN A    192.0.2.42
pipe3             IN A    192.0.2.43
pipe4             IN A    192.0.2.44
pipe5             IN A    192.0.2.45
deep.a.ent        IN A    192.0.2.18
ttl               IN A    192.0.2.19
*.wild            IN A    192.0.2.77
*.wild            IN TXT  "wildcard"
legacy            IN DNAME shop.example.
"""
        z["chain1.lab."] = soa("chain1.lab.", "ns1.chain1.lab.") + f"""\
@                 IN NS    ns1.chain1.lab.
ns1               IN A     {a('chain1')}
a                 IN CNAME b.chain2.example.
"""
        z["chain2.example."] = soa("chain2.example.", "ns1.chain2.example.") + f"""\
@                 IN NS    ns1.chain2.example.
ns1               IN A     {a('chain2')}
b                 IN CNAME c.chain3.lab.
"""
        z["chain3.lab."] = soa("chain3.lab.", "ns1.chain3.lab.") + f"""\
@                 IN NS    ns1.chain3.lab.
ns1               IN A     {a('chain3')}
c                 IN A     192.0.2.33
"""
        z["shop.example."] = soa("shop.example.", "ns1.shop.example.") + f"""\
@                 IN NS    ns1.shop.example.
ns1               IN A     {a('chain2')}
www               IN A     192.0.2.50
"""
        z["hoster.example."] = soa("hoster.example.", "ns1.hoster.example.") + f"""\
@                 IN NS    ns1.hoster.example.
ns1               IN A     {a('hoster')}
ns                IN A     {a('glueless')}
""" + hoster_extra
        z["glueless.lab."] = soa("glueless.lab.", "ns.hoster.example.") + """\
@                 IN NS    ns.hoster.example.
www               IN A     192.0.2.60
"""
        for zone, _, _, _ in LAME_ZONES:
            ns = lame_ns[zone]
            text = soa(zone + ".lab.", ns[0][0])
            for name, _ in ns:
                text += "@                 IN NS    %s\n" % name
            for name, addr in ns:
                if addr:
                    text += "%-17s IN A     %s\n" % (name, addr)
            for i in range(1, 9):
                text += "h%d                IN A     192.0.2.%d\n" % (i, LAME_BASE[zone] + i)
            z[zone + ".lab."] = text
        text = soa("big.lab.", "ns1.big.lab.") + f"""\
@                 IN NS    ns1.big.lab.
ns1               IN A     {a('big')}
small             IN TXT   "small"
"""
        for label in ("tc1", "tc2", "tc3"):
            for s in big_txt_strings(label):
                text += '%s IN TXT "%s"\n' % (label, s)
        z["big.lab."] = text
        z["corp.internal."] = soa("corp.internal.", "ns1.corp.internal.") + f"""\
@                 IN NS    ns1.corp.internal.
ns1               IN A     {a('corp')}
www               IN A     192.0.2.90
mail              IN TXT   "corp only"
"""
        z.update(self._sec_zones())
        return z

    def _sec_zones(self):
        """sec. and the zones below it (SEC_ZONES)."""
        a = self._a
        z = {}

        def soa(origin, ns=None):
            minimum = 0 if origin in TTL0_ZONES else SOA_MINIMUM
            return ("$ORIGIN %s\n$TTL 3600\n"
                    "@ 3600 IN SOA %s hostmaster.%s 2024010101 3600 600 86400 %d\n"
                    % (origin, ns or "ns1." + origin, origin, minimum))

        text = soa("sec.", "ns1.nic.sec.") + f"""\
@                 IN NS ns1.nic.sec.
ns1.nic           IN A  {a('tld-sec')}
"""
        for label, spec, _ in SEC_ZONES:
            zone = label + ".sec."
            text += "%-17s IN NS ns1.%s\n" % (label, zone)
            text += "%-17s IN A  %s\n" % ("ns1." + label, a("sec-child"))
            if spec:
                text += self._ds(zone)
        z["sec."] = text
        for label, spec, www in SEC_ZONES:
            zone = label + ".sec."
            text = soa(zone) + f"""\
@                 IN NS    ns1.{zone}
ns1               IN A     {a('sec-child')}
www               IN A     {www}
"""
            if label in ("nsec", "nsec3"):
                text += SEC_DENIAL_EXTRA
            if label == "nsec":
                text += SEC_DNAME_EXTRA
            elif zone in TTL0_ZONES:
                text += "*.wild            IN A     %s\n" % SEC_WILD_ADDR
            elif label in ("keytrap", "keytrap-big"):  # one more attacked name: <x>.any
                text += "*.any             IN A     %s\n" % SEC_WILD_ADDR
            elif label == "optout":  # an unsigned delegation, covered by opt-out NSEC3
                # and a wildcard, whose expansions only opt-out NSEC3 can "prove"
                text += "*.wild            IN A     %s\n" % SEC_WILD_ADDR
                text += OPTOUT_MARK + f"""\
child             IN NS    ns1.child.optout.sec.
ns1.child         IN A     {a('sec-grandchild')}
"""
            z[zone] = text
        z["child.optout.sec."] = soa("child.optout.sec.") + f"""\
@                 IN NS    ns1.child.optout.sec.
ns1               IN A     {a('sec-grandchild')}
www               IN A     {OPTOUT_CHILD_WWW}
"""
        return z

    def _ds(self, zone):
        """The DS record(s) of signed ZONE, for its parent's zone text."""
        return self.signer.ds_records(zone, SIGNED[zone])

    def hints_text(self):
        return (".                    3600000      NS    a.root-servers.lab.\n"
                "a.root-servers.lab.  3600000      A     %s\n" % self.addr("root"))

    def nsd_conf(self, srv):
        ips = "".join("  ip-address: %s\n" % x for x in srv.addrs)
        zf = ""
        for zone in srv.zones:
            zf += 'zone:\n  name: "%s"\n  zonefile: "%s"\n' % (zone, _zonefile(zone))
        return f"""\
# generated by tests/lab/lab.py -- server {srv.name}
server:
{ips}  port: {self.port}
  do-ip4: yes
  do-ip6: no
  reuseport: no
  username: ""
  chroot: ""
  zonesdir: "{srv.dir}"
  pidfile: "{srv.pidfile}"
  logfile: "{srv.logfile}"
  database: ""
  zonelistfile: "{srv.dir}/zone.list"
  xfrdfile: "{srv.dir}/xfrd.state"
  xfrdir: "{srv.dir}"
  server-count: 1
  tcp-count: 64
  verbosity: 1
  hide-version: no
  identity: "{srv.name}"
  ipv4-edns-size: 1232
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
  zonefiles-write: 0
remote-control:
  control-enable: yes
  control-interface: "{srv.ctl}"
{zf}"""

    # ---------------------------------------------------------------- build
    def build(self):
        os.makedirs(self.dir, exist_ok=True)
        self.signer = labdnssec.Signer(os.path.join(self.dir, "keys"))
        try:
            self.signer.make_keys(SIGNED)  # in parallel; cached in DIR/keys
            zones = self.zones()
            jobs = []  # (zone, text, server dir, zone file) to sign
            for srv in self.servers.values():
                os.makedirs(srv.dir, exist_ok=True)
                if srv.kind != "nsd":
                    continue
                if len(srv.ctl) > 100:
                    raise LabError("lab dir path too long for a unix socket: %s" % srv.ctl)
                for zone in srv.zones:
                    path = os.path.join(srv.dir, _zonefile(zone))
                    if zone in SIGNED:
                        jobs.append((zone, zones[zone], srv.dir, path))
                    else:
                        with open(path, "w") as f:
                            f.write(zones[zone])
                with open(srv.conf, "w") as f:
                    f.write(self.nsd_conf(srv))
            self.signer.sign_all([(z, SIGNED[z], t, d, p) for z, t, d, p in jobs])
            with open(self.trust_anchor, "w") as f:
                f.write(self.signer.trust_anchor(SIGNED["."]))
        except labdnssec.SigningError as e:
            raise LabError("signing the lab zones: %s" % e)
        with open(self.root_hints, "w") as f:
            f.write(self.hints_text())
        with open(os.path.join(self.dir, "lab.json"), "w") as f:
            json.dump({"port": self.port, "prefix": self.prefix,
                       "servers": self.address_map()}, f, indent=1)

    # ---------------------------------------------------------------- checks
    def check_conflicts(self):
        """Raise LabError if the lab's addresses (or the wildcard) are taken."""
        ours = {a for s in self.servers.values() for a in s.addrs}
        problems = []
        taken = {}  # owner description -> set of our addresses it holds
        for proto, host, procs in listeners(self.port):
            names = ", ".join("%s pid %d" % p for p in procs) or "unknown process"
            if host in ("0.0.0.0", "*", "::", "127.0.0.1"):
                system = any(n.startswith(("nsd", "unbound")) for n, _ in procs)
                if host == "127.0.0.1" and not system:
                    continue  # someone's 127.0.0.1:53 does not block 127.53.x.y
                if system:
                    problems.append(
                        "%s %s:%d is held by a system-started %s. The lab will not stop "
                        "it; disable that service (e.g. `service nsd stop` / `service "
                        "unbound stop`, or kill it via its own pidfile "
                        "/run/nsd/nsd.pid, /run/unbound.pid) and retry."
                        % (proto, host, self.port, names))
                elif host != "127.0.0.1":
                    problems.append("%s %s:%d (all addresses) is held by %s; the lab "
                                    "cannot bind its addresses." % (proto, host, self.port, names))
            elif host in ours:
                owner = "another process"
                for name, pid in procs:
                    m = re.search(r"(\S+)/[^/\s]+/(?:blackhole|slowauth)\.pid",
                                  _proc_cmdline(pid))
                    if m:
                        owner = "a lab in %s" % m.group(1)
                    elif name.startswith("nsd") and _proc_cwd(pid):
                        owner = "a lab in %s" % os.path.dirname(_proc_cwd(pid))
                    else:
                        owner = "%s pid %d" % (name, pid)
                taken.setdefault(owner, set()).add(host)
        for owner, hosts in sorted(taken.items()):
            hosts = sorted(hosts, key=lambda h: tuple(int(x) for x in h.split(".")))
            hint = ""
            if owner.startswith("a lab in "):
                hint = (" -- another test run may be using it: wait for it, or run this "
                        "one on other addresses (VIGIL_LAB_PREFIX=127.54 / --prefix "
                        "127.54); if that lab is left over, `lab.py stop %s`"
                        % owner[len("a lab in "):])
            problems.append("%d lab address(es) on port %d (%s%s) are in use by %s%s"
                            % (len(hosts), self.port, ", ".join(hosts[:4]),
                               ", ..." if len(hosts) > 4 else "", owner, hint))
        if problems:
            cls = LabBusy if taken and len(problems) == len(taken) else LabError
            raise cls("cannot start the lab:\n  " + "\n  ".join(sorted(set(problems))))
        dead = self.servers["lame-dead"]
        for s in (socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
                  socket.socket(socket.AF_INET, socket.SOCK_STREAM)):
            try:
                s.bind((dead.addr, self.port))
            except OSError as e:
                raise LabError("%s:%d must be free (it is the NS nobody answers on): %s"
                               % (dead.addr, self.port, e))
            finally:
                s.close()

    # ---------------------------------------------------------------- start/stop
    def start(self, timeout=15.0):
        for tool in (NSD, NSD_CONTROL):
            if not os.path.exists(tool):
                raise LabError("%s not found: apt-get install nsd" % tool)
        for tool in (labdnssec.LDNS_KEYGEN, labdnssec.LDNS_SIGNZONE):
            if not os.path.exists(tool):
                raise LabError("%s not found: apt-get install ldnsutils" % tool)
        if os.path.isdir(self.dir) and any(
                os.path.exists(s.pidfile) for s in self.servers.values()):
            self.stop()  # leftovers of an earlier run in the same directory
        self.check_conflicts()
        self.build()
        try:
            self._start_all(timeout)
        except BaseException:
            self.stop()
            raise

    def _start_all(self, timeout):
        procs = {}
        for srv in self.servers.values():
            for p in (srv.pidfile, srv.pidfile + ".tmp"):
                if os.path.exists(p):
                    os.unlink(p)
            if srv.kind == "nsd":
                procs[srv.name] = subprocess.Popen(
                    [NSD, "-c", srv.conf], stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=server_env())
            elif srv.kind in SCRIPTS:
                log = open(srv.logfile, "ab")
                self._spawned[srv.name] = subprocess.Popen(
                    [sys.executable, SCRIPTS[srv.kind], srv.addr, str(self.port), srv.pidfile,
                     srv.countfile] + srv.zones[:1], stdin=subprocess.DEVNULL, stdout=log,
                    stderr=log, start_new_session=True, close_fds=True, env=server_env())
                log.close()
        failed = []
        for name, p in procs.items():
            try:
                out, _ = p.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise LabError("nsd for %s did not daemonize within %.0fs" % (name, timeout))
            if p.returncode != 0:
                failed.append("nsd for %s failed to start (exit %d): %s\n%s"
                              % (name, p.returncode, out.decode(errors="replace"),
                                 _tail(self.servers[name].logfile)))
        if failed:
            # another lab took the addresses between the check above and now
            # (two runs starting at once): stop what started here, and let the
            # caller try other addresses
            busy = all("Address already in use" in f for f in failed)
            time.sleep(0.5)  # the daemonized NSDs write their pidfiles
            self.stop()
            raise (LabBusy if busy else LabError)("\n".join(failed))
        deadline = time.monotonic() + timeout
        for srv in self.servers.values():
            if srv.kind == "none":
                continue
            while True:
                pid = _read_pid(srv.pidfile)
                if pid and self._answers(srv):
                    break
                if time.monotonic() > deadline:
                    raise LabError("%s (%s:%d) not ready after %.0fs\n%s"
                                   % (srv.name, srv.addr, self.port, timeout,
                                      _tail(srv.logfile)))
                time.sleep(0.05)

    def _answers(self, srv):
        if srv.kind == "blackhole":
            try:
                with socket.create_connection((srv.addr, self.port), timeout=0.5):
                    return True
            except OSError:
                return False
        zone = srv.zones[0] if srv.zones else "."
        q = dns.message.make_query(zone, "SOA")
        try:  # (slowauth answers its SOA at once: only d<ms>-* names wait)
            r = dns.query.udp(q, srv.addr, port=self.port, timeout=0.5)
        except Exception:
            return False
        if srv.zones:
            return r.rcode() == dns.rcode.NOERROR and len(r.answer) == 1
        return True

    def _family(self, srv, pid):
        """PIDs of the processes of SRV: the pidfile PID plus listeners whose cwd is srv.dir."""
        pids = {pid}
        for _, host, procs in listeners(self.port):
            if host not in srv.addrs:
                continue
            for _, p in procs:
                if _proc_cwd(p) == srv.dir:
                    pids.add(p)
        return pids

    def _ours(self, srv, pid):
        if not _pid_alive(pid):
            return False
        if srv.kind == "nsd":
            return _proc_comm(pid).startswith("nsd") and _proc_cwd(pid) == srv.dir
        return SCRIPTS[srv.kind] in _proc_cmdline(pid) and srv.pidfile in _proc_cmdline(pid)

    def stop(self, timeout=5.0, names=None):
        """SIGTERM every process started by this lab (by pidfile), then SIGKILL.
        NAMES: only those servers' (a test making one unreachable)."""
        victims = []
        chosen = [s for s in self.servers.values() if names is None or s.name in names]
        children = [self._spawned[s.name] for s in chosen if s.name in self._spawned]
        for srv in chosen:
            pid = _read_pid(srv.pidfile)
            proc = self._spawned.pop(srv.name, None)
            if pid and not self._ours(srv, pid):
                _unlink(srv.pidfile)  # stale: the process is gone or is not ours
                pid = 0
            if not pid and proc is not None and proc.poll() is None:
                pid = proc.pid  # started here, its pidfile not written yet
            if not pid:
                continue
            family = self._family(srv, pid) if srv.kind == "nsd" else {pid}
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            victims.append((srv, family))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(
                _pid_alive(p) for _, fam in victims for p in fam):
            time.sleep(0.05)
        for srv, fam in victims:
            for p in fam:
                if _pid_alive(p):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and any(
                _pid_alive(p) for _, fam in victims for p in fam):
            time.sleep(0.05)
        for srv, _ in victims:
            _unlink(srv.pidfile)
        for proc in children:
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass

    # ---------------------------------------------------------------- stats
    def stats(self, name):
        """Real query counters of one server: num.queries, num.udp, num.tcp, ...

        NSD: `stats_noreset` over its unix control socket (what `nsd-control
        stats_noreset` sends; spoken here directly, which saves a process per
        server and call).  blackhole: datagrams / connections it received.
        slowauth: the queries it received.  none: zeros.
        """
        srv = self.servers[name]
        if srv.kind == "none":
            return {"num.queries": 0, "num.udp": 0, "num.tcp": 0}
        if srv.kind == "slowauth":
            kv = self._slow_counts(srv)
            return {"num.queries": kv["udp"] + kv["tcp"], "num.udp": kv["udp"],
                    "num.tcp": kv["tcp"]}
        if srv.kind == "blackhole":
            try:
                with open(srv.countfile) as f:
                    kv = dict(x.split("=") for x in f.read().split())
            except OSError:
                kv = {"udp": "0", "tcp": "0"}
            u, t = int(kv["udp"]), int(kv["tcp"])
            return {"num.queries": u + t, "num.udp": u, "num.tcp": t}
        text = self._nsd_control(srv, "stats_noreset")
        out = {}
        for line in text.splitlines():
            k, sep, v = line.partition("=")
            if not sep:
                continue
            try:
                out[k] = int(v)
            except ValueError:
                try:
                    out[k] = float(v)
                except ValueError:
                    out[k] = v
        if "num.queries" not in out:
            raise LabError("nsd-control stats for %s: no num.queries in %r" % (name, text))
        return out

    @staticmethod
    def _slow_counts(srv):
        try:
            with open(srv.countfile) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {"udp": 0, "tcp": 0, "names": {}}

    def slow_queries(self, qname, rdtype="A"):
        """How many queries for QNAME/RDTYPE the slow server received."""
        kv = self._slow_counts(self.servers["slow"])
        return kv["names"].get("%s %s" % (qname.lower(), rdtype.upper()), 0)

    @staticmethod
    def _nsd_control(srv, command, timeout=10.0):
        """Run one remote-control COMMAND on SRV's NSD; its output as text.

        The control interface is a unix socket, which NSD serves without TLS:
        the client sends "NSDCT1 <command>\\n" (protocol version 1) and reads
        until NSD closes the connection."""
        buf = b""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(srv.ctl)
                s.sendall(b"NSDCT1 %s\n" % command.encode())
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
        except OSError as e:
            raise LabError("nsd-control %s for %s (%s) failed: %s"
                           % (command, srv.name, srv.ctl, e))
        text = buf.decode(errors="replace")
        if text.startswith("error"):
            raise LabError("nsd-control %s for %s: %s" % (command, srv.name, text.strip()))
        return text

    def stats_all(self):
        """stats() of every server; the nsd-control calls run side by side."""
        with ThreadPoolExecutor(max_workers=len(self.servers)) as pool:
            return dict(zip(self.servers, pool.map(self.stats, self.servers)))

    def total_queries(self, key="num.queries"):
        return sum(s.get(key, 0) for s in self.stats_all().values())

    def query_counts(self):
        """{server: num.queries} -- handy for before/after diffs."""
        return {n: s["num.queries"] for n, s in self.stats_all().items()}


def _zonefile(zone):
    return "root.zone" if zone == "." else zone.rstrip(".") + ".zone"


def _read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def _load(directory):
    with open(os.path.join(directory, "lab.json")) as f:
        meta = json.load(f)
    return Lab(directory, port=meta["port"], prefix=meta["prefix"])


def _print_map(lab):
    print("lab dir: %s  port: %d" % (lab.dir, lab.port))
    print("root hints: %s" % lab.root_hints)
    print("trust anchor: %s" % lab.trust_anchor)
    for s in lab.servers.values():
        print("  %-14s %-15s %-9s %s" % (s.name, s.addr, s.kind, " ".join(s.zones)))
        for extra in s.addrs[1:]:
            print("  %-14s %-15s" % ("", extra))


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="vigil DNS test lab (NSD on loopback)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("start")
    p.add_argument("dir")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--prefix", default=DEFAULT_PREFIX)
    p = sub.add_parser("stop")
    p.add_argument("dir")
    p = sub.add_parser("stats")
    p.add_argument("dir")
    p.add_argument("server", nargs="?")
    p = sub.add_parser("map")
    p.add_argument("--prefix", default=DEFAULT_PREFIX)
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    a = ap.parse_args(argv[1:])
    try:
        if a.cmd == "start":
            lab = Lab(a.dir, port=a.port, prefix=a.prefix)
            lab.start()
            _print_map(lab)
        elif a.cmd == "stop":
            if not os.path.exists(os.path.join(a.dir, "lab.json")):
                print("no lab in %s" % a.dir, file=sys.stderr)
                return 1
            _load(a.dir).stop()
        elif a.cmd == "stats":
            lab = _load(a.dir)
            names = [a.server] if a.server else list(lab.servers)
            for n in names:
                s = lab.stats(n)
                print("%-13s queries=%d udp=%d tcp=%d" % (
                    n, s["num.queries"], s["num.udp"], s["num.tcp"] + s.get("num.tcp6", 0)))
        elif a.cmd == "map":
            _print_map(Lab("/nonexistent-lab-dir", port=a.port, prefix=a.prefix))
    except LabError as e:
        print("lab: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
