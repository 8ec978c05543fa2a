#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Write the seed corpora of the fuzz harnesses (tests/fuzz/corpus/<name>/).

Run from anywhere with Debian's python3 (dnspython, cryptography):
    /usr/bin/python3 tests/fuzz/gen_corpus.py
Seeds are named seed-*: this script rewrites those and leaves every other
file alone (crash-*, and what run.sh saved from the fuzzer).  The seeds are
small, valid inputs in each harness's input format (fuzz_<name>.c says
which), so the fuzzer starts from messages and files vigil really reads.
"""
import os
import shutil
import struct
import sys

import dns.dnssec
import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def out(harness, name, data):
    d = os.path.join(HERE, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def chunk(b):
    return struct.pack("!H", len(b)) + b


def rr(name, ttl, rtype, *texts):
    return dns.rrset.from_text(name, ttl, "IN", rtype, *texts)


def response(qname, qtype, answer=(), authority=(), additional=(), rcode=0, aa=True,
             edns=True):
    q = dns.message.make_query(qname, qtype, use_edns=0 if edns else False, want_dnssec=edns)
    m = dns.message.make_response(q)
    m.flags |= dns.flags.AA if aa else 0
    m.set_rcode(rcode)
    m.answer.extend(answer)
    m.authority.extend(authority)
    m.additional.extend(additional)
    return m.to_wire()


# ------------------------------------------------------------------ wire
def wire():
    q = lambda n, t, **kw: dns.message.make_query(n, t, **kw).to_wire()
    out("wire", "query-a", q("www.example.com.", "A"))
    out("wire", "query-edns-do", q("example.com.", "DNSKEY", use_edns=0, want_dnssec=True))
    out("wire", "query-any-noedns", q("Example.ORG.", "ANY", use_edns=False))
    m = dns.message.make_query("c.test.", "A", use_edns=0,
                               options=[dns.edns.GenericOption(10, b"\x01" * 8)])
    out("wire", "query-cookie", m.to_wire())
    out("wire", "resp-a", response("www.example.com.", "A",
                                   [rr("www.example.com.", 300, "A", "192.0.2.1", "192.0.2.2")]))
    out("wire", "resp-cname", response("www.example.com.", "A", [
        rr("www.example.com.", 300, "CNAME", "web.example.net."),
        rr("web.example.net.", 60, "AAAA", "2001:db8::1")]))
    out("wire", "resp-dname", response("a.b.example.com.", "A", [
        rr("b.example.com.", 300, "DNAME", "example.net."),
        rr("a.b.example.com.", 300, "CNAME", "a.example.net."),
        rr("a.example.net.", 300, "A", "192.0.2.9")]))
    out("wire", "resp-referral", response("www.example.com.", "A", [], [
        rr("example.com.", 172800, "NS", "a.iana-servers.net.", "ns.example.com.")], [
        rr("ns.example.com.", 172800, "A", "192.0.2.53"),
        rr("ns.example.com.", 172800, "AAAA", "2001:db8::53")], aa=False))
    out("wire", "resp-nxdomain", response("nx.example.com.", "A", [], [
        rr("example.com.", 3600, "SOA", "ns.example.com. h.example.com. 1 7200 3600 1209600 300"),
        rr("example.com.", 3600, "NSEC", "www.example.com. A NS SOA RRSIG NSEC DNSKEY"),
        rr("example.com.", 3600, "RRSIG",
           "NSEC 13 2 3600 20300101000000 20200101000000 12345 example.com. "
           "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")],
        rcode=3))
    out("wire", "resp-nsec3", response("x.example.com.", "A", [], [
        rr("2vptu5timamqttgl4luu9kg21e0aor3s.example.com.", 300, "NSEC3",
           "1 1 10 aabbccdd 2vptu5timamqttgl4luu9kg21e0aor3t A RRSIG")], rcode=3))
    out("wire", "resp-mx-srv-txt", response("example.com.", "ANY", [
        rr("example.com.", 300, "MX", "10 mail.example.com."),
        rr("_sip._tcp.example.com.", 300, "SRV", "0 5 5060 sip.example.com."),
        rr("example.com.", 300, "TXT", '"v=spf1 -all"', '"hello world"'),
        rr("example.com.", 300, "NAPTR", '100 10 "u" "E2U+sip" "!^.*$!sip:a@example.com!" .'),
        rr("4.3.2.1.in-addr.arpa.", 300, "PTR", "host.example.com."),
        rr("example.com.", 300, "CAA", '0 issue "ca.example.net"')]))
    out("wire", "resp-dnskey-ds", response("example.com.", "DNSKEY", [
        rr("example.com.", 3600, "DNSKEY",
           "257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="),
        rr("example.com.", 3600, "DS",
           "12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]))
    out("wire", "resp-svcb", response("example.com.", "HTTPS", [
        rr("example.com.", 300, "HTTPS", '1 . alpn="h2,h3" ipv4hint=192.0.2.1 port=8443'),
        rr("_dns.resolver.arpa.", 300, "SVCB", '1 dns.example.net. alpn=dot')]))
    out("wire", "resp-tc", response("big.example.com.", "TXT", aa=False)[:2] + b"\x83\x00" +
        response("big.example.com.", "TXT", aa=False)[4:])
    # compression pointers: a loop and a forward pointer (both malformed)
    h = struct.pack("!HHHHHH", 1, 0x8180, 1, 1, 0, 0)
    out("wire", "ptr-loop", h + b"\xc0\x0c\x00\x01\x00\x01" + b"\xc0\x0c\x00\x01\x00\x01"
        + struct.pack("!IH", 300, 4) + b"\xc0\x00\x02\x01")
    out("wire", "ptr-forward", h + b"\xc0\x12\x00\x01\x00\x01\x01a\x00")
    out("wire", "short-header", b"\x12\x34\x01")


# ------------------------------------------------------------------ pipeline
def pipeline():
    def seed(name, opts, qname, qtype, replies, do=False, edns=True):
        q = dns.message.make_query(qname, qtype, use_edns=0 if edns else False,
                                   want_dnssec=do).to_wire()
        data = bytes([opts]) + chunk(q)
        for r in replies:
            data += chunk(r)
        out("pipeline", name, data)

    raw = lambda b: b"\x00" + b
    nsa = rr("test.", 172800, "NS", "ns.test.")
    glue = rr("ns.test.", 172800, "A", "127.0.0.1")
    ans = lambda n, t, *r: response(n, t, list(r))
    seed("a-direct", 0, "www.test.", "A",
         [raw(ans("www.test.", "A", rr("www.test.", 300, "A", "192.0.2.1")))])
    seed("referral-then-answer", 0, "www.test.", "A", [
        raw(response("www.test.", "A", [], [nsa], [glue], aa=False)),
        raw(ans("www.test.", "A", rr("www.test.", 300, "A", "192.0.2.1")))])
    seed("cname-chain", 8, "a.test.", "A", [
        raw(ans("a.test.", "A", rr("a.test.", 300, "CNAME", "b.test."))),
        raw(ans("b.test.", "A", rr("b.test.", 300, "A", "192.0.2.66")))])
    seed("nxdomain", 0, "nx.test.", "AAAA", [raw(response("nx.test.", "AAAA", [], [
        rr("test.", 300, "SOA", "a.root.test. h.test. 1 3600 600 86400 300")], rcode=3))])
    seed("glueless", 0, "www.test.", "A", [
        raw(response("www.test.", "A", [], [rr("test.", 172800, "NS", "ns.other.")],
                     aa=False)),
        raw(ans("ns.other.", "A", rr("ns.other.", 300, "A", "127.0.0.2"))),
        raw(ans("www.test.", "A", rr("www.test.", 300, "A", "192.0.2.5")))])
    seed("qmin", 2, "a.b.c.test.", "A", [
        raw(response("test.", "NS", [], [nsa], [glue], aa=False)),
        raw(ans("c.test.", "A")),
        raw(ans("a.b.c.test.", "A", rr("a.b.c.test.", 300, "A", "192.0.2.7")))])
    seed("timeouts", 0, "slow.test.", "A", [b"\x80", b"\x80",
        raw(ans("slow.test.", "A", rr("slow.test.", 300, "A", "192.0.2.8")))])
    seed("servfail", 0, "sf.test.", "A", [raw(response("sf.test.", "A", rcode=2))] * 3)
    seed("policy-qname", 16, "nx.test.", "A", [])
    seed("policy-respip", 16, "r.test.", "A",
         [raw(ans("r.test.", "A", rr("r.test.", 300, "A", "192.0.2.66")))])
    seed("policy-nsdname", 16, "www.bad.", "A", [
        raw(response("www.bad.", "A", [], [rr("bad.", 300, "NS", "ns.evil.test.")],
                     [rr("ns.evil.test.", 300, "A", "127.0.0.9")], aa=False)),
        raw(ans("www.bad.", "A", rr("www.bad.", 300, "A", "192.0.2.4")))])
    seed("policy-redir", 16 | 32, "redir.test.", "A", [
        raw(ans("target.test.", "A", rr("target.test.", 300, "A", "192.0.2.3")))])
    seed("validate-dnskey", 1, "www.test.", "A", [
        raw(ans(".", "DNSKEY", rr(".", 3600, "DNSKEY",
            "257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=")),
        ),
        raw(ans("www.test.", "A", rr("www.test.", 300, "A", "192.0.2.1"),
                rr("www.test.", 300, "RRSIG",
                   "A 8 2 300 20300101000000 20200101000000 20326 . AAAA")))], do=True)
    # splice mode: the harness writes the question; the answer points at it
    body = (struct.pack("!HHHHHH", 0, 0x8400, 1, 1, 0, 0)[0:12] +
            b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + bytes([192, 0, 2, 44]))
    seed("splice-answer", 0, "s.test.", "A", [b"\x40" + body])
    seed("tcp-twice", 4 | 8, "www.test.", "TXT",
         [raw(ans("www.test.", "TXT", rr("www.test.", 300, "TXT", '"x"' * 1)))])
    seed("noedns", 0, "www.test.", "A",
         [raw(ans("www.test.", "A", rr("www.test.", 300, "A", "192.0.2.1")))], edns=False)
    out("pipeline", "garbage-query", b"\x00" + chunk(b"\x00\x01\x02\x03"))


# ------------------------------------------------------------------ rpz
def rpz():
    zone = ("$TTL 300\n@ IN SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n"
            "@ IN NS localhost.\n")
    out("rpz", "rpz-actions", b"\x04" + (zone +
        "nx.example CNAME .\n*.wild.example CNAME .\nnodata.example CNAME *.\n"
        "drop.example CNAME rpz-drop.\ntcp.example CNAME rpz-tcp-only.\n"
        "pass.example CNAME rpz-passthru.\nlocal.example A 192.0.2.1\n"
        "local.example AAAA 2001:db8::1\nlocal.example TXT \"blocked\"\n"
        "garden.example CNAME *.garden.example.net.\n"
        "redir.example CNAME elsewhere.example.net.\n").encode())
    out("rpz", "rpz-triggers", b"\x14" + (zone +
        "32.1.2.0.192.rpz-ip CNAME .\n24.0.2.0.198.rpz-client-ip CNAME rpz-drop.\n"
        "128.1.zz.db8.2001.rpz-ip CNAME .\nns.evil.example.rpz-nsdname CNAME .\n"
        "*.evil.example.rpz-nsdname CNAME .\n32.53.0.0.127.rpz-nsip CNAME .\n"
        "8.0.0.0.10.rpz-client-ip CNAME rpz-passthru.\n").encode())
    out("rpz", "rpz-origin", b"\x00$ORIGIN policy.example.\n" + zone.encode() +
        b"bad..name CNAME .\n$INCLUDE /nonexistent\nx 300 IN CNAME .\n"
        b"y IN TYPE65534 \\# 2 0102\n")
    for f in ("policy/ci-strict.rpz", "contrib/internal-allow.rpz"):
        with open(os.path.join(ROOT, f), "rb") as fh:
            out("rpz", "file-" + os.path.basename(f), b"\x04" + fh.read()[:3000])
    out("rpz", "hosts", b"\x11" + b"127.0.0.1 localhost\n0.0.0.0 ads.example tracker.example"
        b" # comment\n:: v6.example\n0.0.0.0 bad_name!\n")
    out("rpz", "domains", b"\x02" + b"# list\nads.example\n*.tracker.example\n.lead.example\n"
        b"\n  spaces.example  \nxn--nxasmq6b.example\n")
    out("rpz", "adblock", b"\x13" + b"[Adblock Plus 2.0]\n! comment\n||ads.example^\n"
        b"@@||good.example^\n||tracker.example^$third-party\n/banner/*\n"
        b"||sub.*.example^\n")


# ------------------------------------------------------------------ config
def config():
    for f in ("contrib/vigil.yaml", "contrib/build-runners.yaml"):
        with open(os.path.join(ROOT, f), "rb") as fh:
            out("config", os.path.basename(f), fh.read())
    out("config", "minimal.yaml", "server:\n  listen: [127.0.0.1@5353]\n")
    out("config", "policy.yaml", """\
policy:
  sources:
    - name: block
      file: /etc/vigil/block.rpz
      ede: 17
    - name: ads
      file: /etc/vigil/ads.txt
      format: domains
      action: nodata
    - name: feed
      zone: feed.rpz.
      primaries: [192.0.2.1, "2001:db8::1@5353"]
      tsig-key: k1
  tsig-keys:
    - name: k1
      algorithm: hmac-sha256
      secret: c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0
  groups:
    - name: lan
      clients: [10.0.0.0/8, "fd00::/8"]
      sources: [block, ads]
    - name: ci
      client-ids: [runner-1]
      sources: [feed]
      allowlist: true
""")
    out("config", "limits.yaml", """\
cache:
  size: 64M
  max-ttl: 86400
resolver:
  qname-minimisation: true
  max-upstream-queries: 100
  forward-zones:
    - zone: corp.example.
      servers: [192.0.2.10]
dnssec:
  validation: true
  trust-anchors: [/usr/share/dns/root.key]
limits:
  request-timeout: 5s
server:
  access-control:
    - {prefix: 10.0.0.0/8, action: allow}
    - {prefix: 0.0.0.0/0, action: refuse}
log:
  level: info
""")
    out("config", "bad.yaml", "server: [unclosed\n  - &a *a\n\t:\n")
    out("config", "anchors.yaml", "a: &x {b: *x}\nserver: *x\n")


# ------------------------------------------------------------------ xfr
def xfr():
    zone = "fuzz.rpz."
    soa = lambda serial: rr(zone, 300, "SOA",
                            "localhost. hostmaster.localhost. %d 3600 600 86400 60" % serial)

    def msg(qtype, *records):
        q = dns.message.make_query(zone, qtype, use_edns=False)
        m = dns.message.make_response(q)
        m.flags |= dns.flags.AA
        m.answer.extend(records)
        return m.to_wire()

    def seed(name, kind, serial, *msgs):
        out("xfr", name, bytes([kind]) + struct.pack("!I", serial) + b"".join(map(chunk, msgs)))

    recs = [rr("nx.example." + zone, 300, "CNAME", "."),
            rr("*.wild." + zone, 300, "CNAME", "*."),
            rr("local.example." + zone, 300, "A", "192.0.2.1"),
            rr("32.1.2.0.192.rpz-ip." + zone, 300, "CNAME", "rpz-drop.")]
    seed("soa-uptodate", 0, 5, msg("SOA", soa(5)))
    seed("soa-newer", 0, 5, msg("SOA", soa(9)))
    seed("axfr-one", 1, 0, msg("AXFR", soa(7), *recs, soa(7)))
    seed("axfr-multi", 1, 0, msg("AXFR", soa(7), recs[0], recs[1]),
         msg("AXFR", recs[2]), msg("AXFR", recs[3], soa(7)))
    seed("ixfr-incr", 2, 5, msg("IXFR", soa(7), soa(5), recs[0], soa(6), recs[1],
                                soa(6), recs[1], soa(7), recs[2]))
    seed("ixfr-uptodate", 2, 7, msg("IXFR", soa(7)))
    seed("ixfr-axfr-style", 2, 5, msg("IXFR", soa(7), *recs, soa(7)))
    seed("axfr-refused", 1, 0, msg("AXFR")[:3] + b"\x05" + msg("AXFR")[4:])
    # a TSIG record the key does not verify (BADSIG path, error field parse)
    tsig = (b"\x01k\x00" + struct.pack("!HHIH", 250, 255, 0, 0))
    body = (b"\x0bhmac-sha256\x00" + struct.pack("!HIH", 0, 1700000000, 300) +
            struct.pack("!H", 32) + b"\x11" * 32 + struct.pack("!HHH", 1, 16, 0))
    m = bytearray(msg("AXFR", soa(7), soa(7)))
    m[10:12] = struct.pack("!H", 1)
    seed("axfr-tsig", 5, 0, bytes(m) + tsig[:-2] + struct.pack("!H", len(body)) + body)


# ------------------------------------------------------------------ dnssec
def dnssec():
    owner = dns.name.from_text("www.example.")
    keys = {
        "ed25519": (ed25519.Ed25519PrivateKey.generate(), dns.dnssec.Algorithm.ED25519),
        "p256": (ec.generate_private_key(ec.SECP256R1()), dns.dnssec.Algorithm.ECDSAP256SHA256),
        "p384": (ec.generate_private_key(ec.SECP384R1()), dns.dnssec.Algorithm.ECDSAP384SHA384),
        "rsa": (rsa.generate_private_key(65537, 1024), dns.dnssec.Algorithm.RSASHA256),
    }
    rrsets = {
        "a": rr("www.example.", 300, "A", "192.0.2.1", "192.0.2.2"),
        "txt": rr("www.example.", 300, "TXT", '"hello"', '"World"'),
        "mx": rr("www.example.", 300, "MX", "10 Mail.Example.", "20 mx2.example."),
    }
    for kname, (priv, alg) in keys.items():
        dnskey = dns.dnssec.make_dnskey(priv.public_key(), alg, flags=257)
        kwire = dnskey.to_wire()
        ds = dns.dnssec.make_ds(dns.name.from_text("example."), dnskey, "SHA256").to_wire()
        for rname, rs in rrsets.items():
            sig = dns.dnssec.sign(rs, priv, dns.name.from_text("example."), dnskey,
                                  inception=1600000000, expiration=1900000000)
            packed = b"".join(chunk(r.to_wire()) for r in rs)
            data = (chunk(kwire) + chunk(sig.to_wire()) + chunk(owner.to_wire()) +
                    chunk(packed) + chunk(ds) + chunk(b"\xaa\xbb"))
            out("dnssec", "%s-%s" % (kname, rname), data)
    # an NSEC bitmap as the RRset's rdata
    bm = dns.rdata.from_text("IN", "NSEC", "z.example. A NS SOA RRSIG NSEC DNSKEY TYPE1234")
    out("dnssec", "nsec-bitmap", chunk(b"") + chunk(b"") + chunk(owner.to_wire()) +
        chunk(bm.to_wire()[len(b"\x01z\x07example\x00"):]))


def main():
    for fn in (wire, pipeline, rpz, config, xfr, dnssec):
        fn()
    return 0


if __name__ == "__main__":
    sys.exit(main())
