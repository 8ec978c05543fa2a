"""DNSSEC for the vigil test lab: keys, DS records, zone signing, and the zones
that are broken on purpose.

tests/lab/lab.py decides which zone is signed how (its SIGNED table); this module
does the work with ldns's own tools (package ldnsutils):

* Keys come from ldns-keygen and are kept in DIR/keys, named after zone,
  algorithm and role, so a restart of the same lab directory reuses them (only
  the first start pays for the RSA keys).  Each signed zone has a KSK (flags
  257: signs the DNSKEY RRset, the parent's DS points at it) and a ZSK (256:
  signs everything else).
* Zones are signed with ldns-signzone at every start, signatures valid from
  now - 1 h to now + 30 days unless a breakage asks otherwise.
* Breakages are applied to ldns-signzone's output, which has one RR per line.

DS records are computed here (hashlib over owner + DNSKEY rdata, RFC 4034 5.1.4)
rather than with ldns-key2ds, so that unknown algorithms and digest types can
be written too.
"""
import base64
import hashlib
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

import dns.dnssec
import dns.name
import dns.rdata

LDNS_KEYGEN = shutil.which("ldns-keygen") or "/usr/bin/ldns-keygen"
LDNS_SIGNZONE = shutil.which("ldns-signzone") or "/usr/bin/ldns-signzone"
WORKERS = min(8, os.cpu_count() or 1)  # parallel ldns-keygen / ldns-signzone runs

HOUR = 3600
DAY = 86400
VALID = (-HOUR, 30 * DAY)  # normal signature window, relative to now
EXPIRED = (-40 * DAY, -10 * DAY)  # breakage "expired": ended 10 days ago
NOT_YET = (10 * DAY, 40 * DAY)  # breakage "notyet": starts in 10 days

# DNSSEC algorithm number -> (ldns-keygen name, KSK bits, ZSK bits).  RSA ZSKs
# are 1024 bits as in many real zones (and quick to make), RSA KSKs 2048.
ALGORITHMS = {
    5: ("RSASHA1", 2048, 1024),
    7: ("RSASHA1-NSEC3-SHA1", 2048, 1024),
    8: ("RSASHA256", 2048, 1024),
    10: ("RSASHA512", 2048, 1024),
    13: ("ECDSAP256SHA256", 256, 256),
    14: ("ECDSAP384SHA384", 384, 384),
    15: ("ED25519", 256, 256),
    16: ("ED448", 456, 456),
}
KSK_ROLES = ("ksk", "spare")  # key roles made with flags 257 (SEP); others get 256
# DS digest type -> hash.  Any other type number gets the SHA-256 bytes: a
# validator that does not know the type must not look at them anyway.
DIGESTS = {1: hashlib.sha1, 2: hashlib.sha256, 4: hashlib.sha384}

UNKNOWN_ALG = 100  # unassigned in the IANA DNSSEC algorithm registry (17-122 are)
TAMPERED_ADDR = "198.51.100.254"  # what `www A` says after "tampered" changed it
KEYTRAP_KEYS = 32  # colliding DNSKEYs in the KeyTrap zone
KEYTRAP_SIGS = 32  # bogus RRSIGs on each attacked RRset
KEYTRAP_OWNERS = ("www", "*.any")  # the attacked names (relative to the zone)
# The big KeyTrap zone: many colliding RSA-512 keys (RFC 5702 allows 512..4096
# bits) and bogus RRSIGs; a validator that tried every RRSIG with every key of
# its tag would do KEYTRAP_BIG_KEYS * KEYTRAP_BIG_SIGS = 168,000 RSA
# verifications for one RRset (about a second of CPU, again for every new
# name under its wildcard), a bounded one a handful.  Sizes: the DNSKEY RRset
# (~30 KB) is small enough for vigil to verify (its canonical form and the
# signed data share a 65 KB buffer), the 481-record answer under vigil's 512
# records per message.
KEYTRAP_BIG_KEYS = 350
KEYTRAP_BIG_SIGS = 480
KEYTRAP_BIG_BITS = 512
# bigdnskey: a healthy zone whose DNSKEY RRset is near the 64 KB message size:
# BIGDNSKEY_KEYS extra RSA-1024 keys (no private half, never used to sign)
# next to its KSK and ZSK; everything is validly signed.
BIGDNSKEY_KEYS = 360
# rrsigcap: www A carries RRSIGCAP_EXTRA bogus RRSIGs (a key tag no key has)
# before its one valid RRSIG, so a validator tries RRSIGCAP_EXTRA + 1 RRSIGs
# to find the valid one (dnssec.max-rrsigs-per-rrset decides).
RRSIGCAP_EXTRA = 11
# dscap: the parent's DS RRset for the zone carries DSCAP_EXTRA DS records
# with its KSK's key tag and algorithm but wrong SHA-1 digests, ahead of the
# real DS (digest type 1 sorts before 2), all validly signed by the parent:
# a validator computes DSCAP_EXTRA + 1 digests to find the KSK
# (dnssec.max-ds-digests decides).
DSCAP_EXTRA = 11

# Lines of a zone text after this marker are appended to the signed zone
# unchanged: used for the unsigned delegations of an NSEC3 opt-out zone, so
# they get no NSEC3 record of their own (as a real opt-out signer does).
OPTOUT_MARK = "; ---- opt-out: below here stays unsigned and outside the NSEC3 chain\n"

# Breakages (Signing.case) and what they do to the signed zone.
BREAKAGES = {
    "expired": "every signature ended 10 days ago",
    "notyet": "every signature starts in 10 days",
    "wrongkey": "www A is signed by a ZSK that is not in the DNSKEY set",
    "norrsig": "the RRSIG of www A is removed",
    "badds": "the DS in the parent is of a key the zone does not have",
    "tampered": "www A is changed after signing (to %s)" % TAMPERED_ADDR,
    "nonsec": "the NSEC records and their RRSIGs are removed",
    "unsupported-alg": "DNSKEY, RRSIG and DS carry algorithm %d (unassigned); the "
                       "signatures are ECDSA ones and do not verify" % UNKNOWN_ALG,
    "keytrap": "KeyTrap (CVE-2023-50387): %d extra RSA DNSKEYs share one key tag, and "
               "www / *.any A carry %d RRSIGs with that tag that do not verify; the "
               "DNSKEY RRset itself is validly signed" % (KEYTRAP_KEYS, KEYTRAP_SIGS),
    "keytrap-big": "KeyTrap, large: %d extra RSA-%d DNSKEYs share one key tag, and "
                   "www / *.any A carry %d RRSIGs with that tag that do not verify "
                   "(%d verifications for an unbounded validator); the DNSKEY RRset "
                   "itself is validly signed"
                   % (KEYTRAP_BIG_KEYS, KEYTRAP_BIG_BITS, KEYTRAP_BIG_SIGS,
                      KEYTRAP_BIG_KEYS * KEYTRAP_BIG_SIGS),
    "bigdnskey": "%d extra RSA-1024 DNSKEYs (never used to sign; the DNSKEY RRset is "
                 "about 54 KB), everything validly signed" % BIGDNSKEY_KEYS,
    "rrsigcap": "www A carries %d RRSIGs that match no key (in their validity window, "
                "expiring a day before the real one) ahead of its valid RRSIG"
                % RRSIGCAP_EXTRA,
    "dscap": "the parent's DS RRset has %d DS records with the KSK's key tag and "
             "algorithm but wrong SHA-1 digests ahead of the real one" % DSCAP_EXTRA,
}


class SigningError(Exception):
    pass


# How one zone is signed.
#   alg     DNSSEC algorithm of its KSK and ZSK
#   nsec3   None: NSEC; a number: NSEC3 with that many extra iterations, no salt
#   optout  NSEC3 opt-out flag (and OPTOUT_MARK delegations left out of the chain)
#   digest  digest type of the DS record in the parent
#   case    a deliberate breakage, a key of BREAKAGES (None: a healthy zone)
Signing = namedtuple("Signing", "alg nsec3 optout digest case",
                     defaults=(13, None, False, 2, None))


class Key(namedtuple("Key", "base dnskey")):
    """A key pair on disk: BASE.key and BASE.private; DNSKEY is its rdata."""

    @property
    def tag(self):
        return dns.dnssec.key_id(self.dnskey)


def _fname(zone):
    return "root" if zone == "." else zone.rstrip(".")


def _stamp(t):
    """RRSIG time field (YYYYMMDDHHmmSS, UTC)."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(t))


def _run(args, cwd=None):
    r = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise SigningError("%s failed (exit %d): %s%s"
                           % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r.stdout


def _read_dnskey(path):
    """The DNSKEY rdata in an ldns .key file ("owner IN DNSKEY rdata ;{id = ...}")."""
    with open(path) as f:
        text = f.read()
    m = re.search(r"\bDNSKEY\s+([^;]+)", text)
    if not m:
        raise SigningError("no DNSKEY in %s" % path)
    return dns.rdata.from_text("IN", "DNSKEY", m.group(1).strip())


def ds_rdata(zone, dnskey, digest):
    """DS rdata text (RFC 4034 5.1.4) of DNSKEY rdata at ZONE, any digest type."""
    owner = dns.name.from_text(zone).canonicalize().to_wire()
    h = DIGESTS.get(digest, hashlib.sha256)
    return "%d %d %d %s" % (dns.dnssec.key_id(dnskey), dnskey.algorithm, digest,
                            h(owner + dnskey.to_digestable()).hexdigest().upper())


def with_algorithm(dnskey, alg):
    """DNSKEY rdata with another algorithm number (the key bytes unchanged)."""
    return dnskey.replace(algorithm=alg)


class KeyStore:
    """Keys in one directory, made on first use and reused afterwards."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)

    def get(self, zone, alg, role):
        """The key of ZONE for ALG and ROLE (ksk, zsk, or a spare role like rogue)."""
        base = os.path.join(self.dir, "%s+%03d.%s" % (_fname(zone), alg, role))
        if not (os.path.exists(base + ".key") and os.path.exists(base + ".private")):
            self._generate(zone, alg, role, base)
        return Key(base, _read_dnskey(base + ".key"))

    def _generate(self, zone, alg, role, base):
        name, ksk_bits, zsk_bits = ALGORITHMS[alg]
        ksk = role in KSK_ROLES
        tmp = tempfile.mkdtemp(prefix="keygen-", dir=self.dir)
        try:
            args = [LDNS_KEYGEN, "-a", name, "-b", str(ksk_bits if ksk else zsk_bits)]
            if ksk:
                args.append("-k")  # flags 257 (SEP)
            made = _run(args + [zone], cwd=tmp).split()[0]  # prints "K<zone>+<alg>+<tag>"
            # .private first: a key counts as present once its .key exists
            os.replace(os.path.join(tmp, made + ".private"), base + ".private")
            os.replace(os.path.join(tmp, made + ".key"), base + ".key")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class Record:
    """One RR of ldns-signzone's output (absolute owner; rdata as text)."""

    def __init__(self, line):
        line = re.sub(r"\s*;\{id = .*$", "", line)  # ldns's DNSKEY comment
        self.owner, self.ttl, self.rdclass, self.rdtype, self.rdata = line.split(None, 4)
        self.rdata = self.rdata.strip()

    def covers(self, rdtype):
        """Is this an RRSIG over RDTYPE?"""
        return self.rdtype == "RRSIG" and self.rdata.split()[0] == rdtype

    def is_name(self, name):
        return self.owner.lower() == name.lower()

    def __str__(self):
        return "\t".join((self.owner, self.ttl, self.rdclass, self.rdtype, self.rdata))


def _norm(rdata):
    """DNSKEY rdata text in one form (ldns splits the key into chunks)."""
    return dns.rdata.from_text("IN", "DNSKEY", rdata).to_text(chunksize=0)


def _records(text):
    return [Record(line) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith(";")]


def _labels(owner):
    """RRSIG labels field for OWNER: its label count without the root and a '*'."""
    labels = [x for x in owner.rstrip(".").split(".") if x]
    return len(labels) - (1 if labels and labels[0] == "*" else 0)


def _key_tag_wire(wire):
    """RFC 4034 appendix B key tag of DNSKEY rdata bytes."""
    ac = sum((b << 8) if i % 2 == 0 else b for i, b in enumerate(wire))
    return (ac + ((ac >> 16) & 0xFFFF)) & 0xFFFF


def keytrap_keys(avoid, rng, count=KEYTRAP_KEYS, bits=2048):
    """COUNT RSA DNSKEYs (flags 256, alg 8, a BITS-bit modulus, no private key)
    that all have one key tag not in AVOID.  Returns (tag, [rdata])."""
    tag = 4242
    while tag in avoid:
        tag += 1
    keys = []
    size = bits // 8
    fix = size - 4  # an even index: rdata offset 8 + fix is even too
    while len(keys) < count:
        modulus = bytearray(rng.randbytes(size))
        modulus[0] |= 0x80  # a full-length modulus ...
        modulus[-1] |= 1  # ... and odd, like a real one
        head = bytes([0x01, 0x00, 3, 8, 3, 0x01, 0x00, 0x01])  # flags proto alg, e=65537
        # The key tag is a 16-bit sum over the rdata: pick the word at modulus
        # bytes fix, fix + 1 (an even rdata offset) so that the sum lands on TAG.
        modulus[fix] = modulus[fix + 1] = 0
        ac_rest = sum((b << 8) if i % 2 == 0 else b
                      for i, b in enumerate(head + bytes(modulus)))
        for carry in (0, 1):  # adding the word may carry into the fold once more
            word = (tag - ac_rest - ((ac_rest >> 16) & 0xFFFF) - carry) & 0xFFFF
            modulus[fix], modulus[fix + 1] = word >> 8, word & 0xFF
            if _key_tag_wire(head + bytes(modulus)) == tag:
                break
        else:
            continue  # rare: the carry moved; draw another modulus
        key = dns.rdata.from_text("IN", "DNSKEY", "256 3 8 " + base64.b64encode(
            head[4:] + bytes(modulus)).decode())
        assert dns.dnssec.key_id(key) == tag
        keys.append(key)
    return tag, keys


class Signer:
    """Signs the lab's zones.  NOW (Unix time) anchors every signature window."""

    def __init__(self, keydir, now=None):
        self.keys = KeyStore(keydir)
        self.now = int(time.time()) if now is None else int(now)

    # ------------------------------------------------------------ keys and DS
    def ksk(self, zone, spec):
        return self.keys.get(zone, spec.alg, "ksk")

    def zsk(self, zone, spec):
        return self.keys.get(zone, spec.alg, "zsk")

    def served_ksk(self, zone, spec):
        """The KSK's DNSKEY rdata as the zone serves it."""
        key = self.ksk(zone, spec).dnskey
        if spec.case == "unsupported-alg":
            key = with_algorithm(key, UNKNOWN_ALG)
        return key

    def ds_records(self, zone, spec):
        """The DS line(s) for ZONE, to go into its parent's zone text."""
        if spec.case == "badds":  # a KSK that never appears in the zone
            key = self.keys.get(zone, spec.alg, "spare").dnskey
        else:
            key = self.served_ksk(zone, spec)
        out = "%-17s IN DS %s\n" % (zone, ds_rdata(zone, key, spec.digest))
        if spec.case == "dscap":  # same tag and algorithm, wrong SHA-1 digests
            tag = dns.dnssec.key_id(key)
            out += "".join("%-17s IN DS %d %d 1 %040X\n" % (zone, tag, key.algorithm, i + 1)
                           for i in range(DSCAP_EXTRA))
        return out

    def trust_anchor(self, spec):
        """The root's DS in presentation format (a trust-anchor file's content)."""
        return ". IN DS %s\n" % ds_rdata(".", self.ksk(".", spec).dnskey, spec.digest)

    def make_keys(self, specs):
        """Make (or find) every key SPECS ({zone: Signing}) needs, in parallel."""
        wanted = set()
        for zone, spec in specs.items():
            wanted |= {(zone, spec.alg, "ksk"), (zone, spec.alg, "zsk")}
            if spec.case == "badds":
                wanted.add((zone, spec.alg, "spare"))
            elif spec.case == "wrongkey":
                wanted.add((zone, spec.alg, "rogue"))
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            list(pool.map(lambda k: self.keys.get(*k), sorted(wanted)))

    # ------------------------------------------------------------ signing
    def sign_all(self, jobs):
        """sign() each (zone, spec, text, workdir, out_path), in parallel."""
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            list(pool.map(lambda j: self.sign(*j), jobs))

    def window(self, spec):
        rel = {"expired": EXPIRED, "notyet": NOT_YET}.get(spec.case, VALID)
        return self.now + rel[0], self.now + rel[1]

    def _signzone(self, zone, spec, src, dst, bases, extra=()):
        inception, expiration = self.window(spec)
        args = [LDNS_SIGNZONE, "-f", dst, "-o", zone,
                "-i", str(inception), "-e", str(expiration), *extra]
        if spec.nsec3 is not None:
            args += ["-n", "-t", str(spec.nsec3)]  # SHA-1, no salt (RFC 9276)
            if spec.optout:
                args.append("-p")
        _run(args + [src] + list(bases))
        with open(dst) as f:
            return f.read()

    def sign(self, zone, spec, text, workdir, out_path):
        """Sign zone TEXT (written to WORKDIR as input), apply SPEC.case, write
        the served zone file OUT_PATH."""
        head, mark, tail = text.partition(OPTOUT_MARK)
        ksk, zsk = self.ksk(zone, spec), self.zsk(zone, spec)
        rng = random.Random("%s/%s" % (zone, spec.case))  # same garbage every build
        trap = None
        if spec.case == "keytrap":
            trap = keytrap_keys({ksk.tag, zsk.tag}, rng)
        elif spec.case == "keytrap-big":
            trap = keytrap_keys({ksk.tag, zsk.tag}, rng, KEYTRAP_BIG_KEYS, KEYTRAP_BIG_BITS)
        elif spec.case == "bigdnskey":
            trap = keytrap_keys({ksk.tag, zsk.tag}, rng, BIGDNSKEY_KEYS, 1024)
        if trap:
            head += "".join("@ IN DNSKEY %s\n" % k.to_text(chunksize=0) for k in trap[1])
        base = os.path.join(workdir, _fname(zone))
        src = base + ".unsigned"
        with open(src, "w") as f:
            f.write(head)
        recs = _records(self._signzone(zone, spec, src, base + ".signed",
                                       [ksk.base, zsk.base]))
        www = "www." + zone
        if spec.case == "wrongkey":
            rogue = self.keys.get(zone, spec.alg, "rogue")
            other = _records(self._signzone(zone, spec, src, base + ".rogue",
                                            [rogue.base], extra=["-d"]))
            recs = [r for r in recs if not (r.is_name(www) and r.covers("A"))]
            recs += [r for r in other if r.is_name(www) and r.covers("A")]
        elif spec.case == "norrsig":
            recs = [r for r in recs if not (r.is_name(www) and r.covers("A"))]
        elif spec.case == "tampered":
            for r in recs:
                if r.is_name(www) and r.rdtype == "A":
                    r.rdata = TAMPERED_ADDR
        elif spec.case == "nonsec":
            recs = [r for r in recs if r.rdtype != "NSEC" and not r.covers("NSEC")]
        elif spec.case == "unsupported-alg":
            self._rewrite_algorithm(recs, UNKNOWN_ALG)
        elif spec.case == "keytrap":
            recs = self._keytrap_sigs(zone, spec, recs, trap[0], rng)
        elif spec.case == "keytrap-big":
            recs = self._keytrap_sigs(zone, spec, recs, trap[0], rng, KEYTRAP_BIG_SIGS,
                                      KEYTRAP_BIG_BITS // 8)
        if spec.case in ("keytrap-big", "bigdnskey"):
            # the zone's own keys first in the served DNSKEY RRset (NSD keeps
            # the file's order), as an attacker would have it: a validator
            # that reads only the first few dozen keys still finds the KSK
            # (and in keytrap-big goes on to the trap in the data signatures)
            own = {k.dnskey.to_text(chunksize=0) for k in (ksk, zsk)}
            first = [r for r in recs if r.rdtype == "DNSKEY" and _norm(r.rdata) in own]
            recs = first + [r for r in recs if not any(r is f for f in first)]
        elif spec.case == "rrsigcap":
            recs = self._rrsigcap_sigs(zone, spec, recs, {ksk.tag, zsk.tag}, rng)
        out = "".join(str(r) + "\n" for r in recs)
        if mark:
            out += "$ORIGIN %s\n%s" % (zone, tail)
        with open(out_path, "w") as f:
            f.write(out)

    @staticmethod
    def _rewrite_algorithm(recs, alg):
        """Give every DNSKEY and RRSIG algorithm ALG (and the RRSIGs the new key tags)."""
        tags = {}
        for r in recs:
            if r.rdtype == "DNSKEY":
                old = dns.rdata.from_text("IN", "DNSKEY", r.rdata)
                new = with_algorithm(old, alg)
                tags[dns.dnssec.key_id(old)] = dns.dnssec.key_id(new)
                r.rdata = new.to_text(chunksize=0)
        for r in recs:
            if r.rdtype == "RRSIG":
                f = r.rdata.split()
                f[1], f[6] = str(alg), str(tags[int(f[6])])
                r.rdata = " ".join(f)

    def _keytrap_sigs(self, zone, spec, recs, tag, rng, nsigs=KEYTRAP_SIGS, siglen=256):
        """Replace the RRSIGs over A at KEYTRAP_OWNERS by NSIGS RRSIGs (alg 8,
        key tag TAG, inside the validity window, SIGLEN bytes of garbage) that
        do not verify."""
        inception, expiration = self.window(spec)
        owners = [(o + "." + zone) for o in KEYTRAP_OWNERS]
        out = [r for r in recs if not (any(r.is_name(o) for o in owners) and r.covers("A"))]
        for owner in owners:
            ttl = next(r.ttl for r in recs if r.is_name(owner) and r.rdtype == "A")
            for _ in range(nsigs):
                out.append(Record("%s %s IN RRSIG A 8 %d %s %s %s %d %s %s" % (
                    owner, ttl, _labels(owner), ttl, _stamp(expiration), _stamp(inception),
                    tag, zone, base64.b64encode(rng.randbytes(siglen)).decode())))
        return out

    def _rrsigcap_sigs(self, zone, spec, recs, tags, rng):
        """Put RRSIGCAP_EXTRA bogus RRSIGs over www A ahead of its valid one:
        the zone's algorithm, a key tag not in TAGS, valid now but expiring a
        day before the real RRSIG (so they come first in canonical order as
        well as in the zone file), garbage signatures of the right length."""
        inception, expiration = self.window(spec)
        www = "www." + zone
        real = next(i for i, r in enumerate(recs) if r.is_name(www) and r.covers("A"))
        f = recs[real].rdata.split()
        siglen = len(base64.b64decode("".join(f[8:])))
        tag = 1
        while tag in tags:
            tag += 1
        bogus = [Record("%s %s IN RRSIG A %d %s %s %s %s %d %s %s" % (
            www, recs[real].ttl, spec.alg, f[2], f[3], _stamp(expiration - DAY),
            _stamp(inception), tag, zone, base64.b64encode(rng.randbytes(siglen)).decode()))
            for _ in range(RRSIGCAP_EXTRA)]
        return recs[:real] + bogus + recs[real:]
