#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Check vigil's shipped RPZ policy zones.
#
#   policy/check.sh [FILE.rpz ...]     default: every policy/*.rpz next to this script
#
# For each file:
#   1. ldns-read-zone must parse it (syntax, $ORIGIN/$TTL, record data);
#   2. named-checkzone must load it, if installed (Debian: bind9-utils);
#   3. RPZ checks on the parsed records (RPZ.md 2.1-2.3):
#      - exactly one SOA, at the apex, with a YYYYMMDDNN serial, and an NS at the apex;
#      - every owner at or below the apex;
#      - no SOA or NS below the apex, no DNAME, no DNSSEC types;
#      - no duplicate owner+type (no rule listed twice), no CNAME next to other data;
#      - "*" only as the leftmost label;
#      - CNAME targets under an rpz- TLD are rpz-passthru., rpz-drop. or rpz-tcp-only.;
#      - rpz-ip / rpz-nsip / rpz-client-ip owners are canonical (RPZ.md 2.3);
#      - a test record (a QNAME rule below .invalid, RPZ.md 2.5);
#   4. every rule line in the file carries a ";" comment (its source or its reason).
# Exit status: 0 all clean, 1 problems found, 2 a required tool is missing.

set -u

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -gt 0 ]; then
	files=("$@")
else
	files=("$here"/*.rpz)
fi

for tool in ldns-read-zone python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "check.sh: $tool not found (apt-get install ldnsutils python3)" >&2
		exit 2
	fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

for f in "${files[@]}"; do
	if [ ! -r "$f" ]; then
		echo "$f: cannot read" >&2
		status=1
		continue
	fi
	if ! ldns-read-zone "$f" >"$tmp/parsed" 2>"$tmp/err"; then
		echo "$f: ldns-read-zone failed:" >&2
		cat "$tmp/err" >&2
		status=1
		continue
	fi
	apex=$(awk '$4 == "SOA" { print $1; exit }' "$tmp/parsed")
	if command -v named-checkzone >/dev/null 2>&1 && [ -n "$apex" ]; then
		if ! named-checkzone -i local "$apex" "$f" >"$tmp/err" 2>&1; then
			echo "$f: named-checkzone failed:" >&2
			cat "$tmp/err" >&2
			status=1
		fi
	fi
	if ! python3 - "$f" "$tmp/parsed" <<'EOF'
import datetime
import re
import sys

path, parsed = sys.argv[1], sys.argv[2]
problems = []

def problem(msg):
    problems.append(msg)

DNSSEC = {"DS", "DNSKEY", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM", "CDS", "CDNSKEY",
          "KEY", "SIG", "NXT", "DLV", "TA"}
RPZ_TARGETS = {"rpz-passthru.", "rpz-drop.", "rpz-tcp-only."}

# --- records as ldns printed them: owner ttl class type rdata (absolute names) ---
records = []
for line in open(parsed, encoding="utf-8"):
    line = line.strip()
    if not line or line.startswith(";"):
        continue
    fields = line.split(None, 4)
    if len(fields) < 5:
        problem(f"unparsed record: {line}")
        continue
    owner, _ttl, _cls, rtype, rdata = fields
    records.append((owner.lower(), rtype.upper(), rdata.strip()))

soas = [r for r in records if r[1] == "SOA"]
if len(soas) != 1:
    problem(f"expected one SOA, found {len(soas)}")
    print("\n".join(f"{path}: {p}" for p in problems), file=sys.stderr)
    sys.exit(1)
apex = soas[0][0]
serial = soas[0][2].split()[2]
try:
    if not re.fullmatch(r"\d{10}", serial):
        raise ValueError
    datetime.date(int(serial[0:4]), int(serial[4:6]), int(serial[6:8]))
except ValueError:
    problem(f"SOA serial {serial} is not YYYYMMDDNN")
if not any(o == apex and t == "NS" for o, t, _ in records):
    problem("no NS record at the apex")


def check_ip(rel, trig):
    """RPZ.md 2.3: <prefix>.<reversed addr>.<trigger>, canonical, no bits past the prefix."""
    labels = rel.split(".")[:-1]
    if len(labels) < 2 or not labels[0].isdigit() or labels[0] != str(int(labels[0])):
        return "bad prefix label"
    plen, words = int(labels[0]), labels[1:][::-1]
    if len(words) == 4 and "zz" not in words:
        if not (1 <= plen <= 32):
            return "IPv4 prefix out of 1..32"
        if any(not w.isdigit() or w != str(int(w)) or int(w) > 255 for w in words):
            return "IPv4 octets must be decimal 0..255 without leading zeros"
        value, bits = int.from_bytes(bytes(int(w) for w in words), "big"), 32
    else:
        if not (1 <= plen <= 128):
            return "IPv6 prefix out of 1..128"
        if words.count("zz") > 1:
            return "more than one zz"
        if any(w != "zz" and not re.fullmatch(r"[0-9a-f]{1,4}", w) for w in words):
            return "IPv6 words must be 1-4 hex digits"
        if any(w != "zz" and w != format(int(w, 16), "x") for w in words):
            return "IPv6 words must have no leading zeros"
        if "zz" in words:
            i = words.index("zz")
            fill = 8 - (len(words) - 1)
            if fill < 1:
                return "zz stands for no zero words"
            full = words[:i] + ["0"] * fill + words[i + 1:]
        else:
            full = words
        if len(full) != 8:
            return "IPv6 address needs 8 words"
        nums = [int(w, 16) for w in full]
        # canonical form (RFC 5952): zz replaces the first longest run of >= 2 zero words
        best, run_start, best_len = None, None, 1
        for k in range(9):
            if k < 8 and nums[k] == 0:
                run_start = k if run_start is None else run_start
            else:
                if run_start is not None and k - run_start > best_len:
                    best, best_len = run_start, k - run_start
                run_start = None
        canon = [format(n, "x") for n in nums]
        if best is not None:
            canon = canon[:best] + ["zz"] + canon[best + best_len:]
        if canon != words:
            return "IPv6 address not in canonical zz form"
        value, bits = int.from_bytes(b"".join(n.to_bytes(2, "big") for n in nums), "big"), 128
    if value & ((1 << (bits - plen)) - 1):
        return "bits set past the prefix length"
    return None


seen = {}
types_at = {}
has_test = False
for owner, rtype, rdata in records:
    if owner != apex and not owner.endswith("." + apex):
        problem(f"{owner} {rtype}: owner is not below the apex {apex}")
        continue
    key = (owner, rtype)
    if rtype not in ("SOA", "NS") and key in seen:
        problem(f"{owner} {rtype}: duplicate owner+type")
    seen[key] = True
    types_at.setdefault(owner, set()).add(rtype)
    if rtype in ("SOA", "NS") and owner != apex:
        problem(f"{owner} {rtype}: {rtype} is only allowed at the apex")
    if rtype == "DNAME" or rtype in DNSSEC:
        problem(f"{owner} {rtype}: type not allowed in an RPZ zone")
    if owner == apex:
        continue
    rel = owner[: -(len(apex) + 1)]
    if "*" in rel.split(".")[1:] or any("*" in l and l != "*" for l in rel.split(".")):
        problem(f"{owner}: '*' may only be the whole leftmost label")
    for trig in ("rpz-ip", "rpz-nsip", "rpz-client-ip"):
        if rel == trig or rel.endswith("." + trig):
            why = check_ip(rel, trig)
            if why:
                problem(f"{owner}: invalid {trig} trigger: {why}")
    if rtype == "CNAME":
        target = rdata.lower()
        tld = target.rstrip(".").split(".")[-1] if target not in (".", "*.") else ""
        if tld.startswith("rpz-") and target not in RPZ_TARGETS:
            problem(f"{owner}: unknown RPZ action CNAME {target}")
        if rel.endswith(".invalid") and target == ".":
            has_test = True
for owner, types in types_at.items():
    if "CNAME" in types and len(types) > 1:
        problem(f"{owner}: CNAME next to other data ({', '.join(sorted(types))})")
if not has_test:
    problem("no test record (a QNAME rule below .invalid answering NXDOMAIN, RPZ.md 2.5)")

# --- source text: every rule line carries a comment ---
depth = 0
for no, raw in enumerate(open(path, encoding="utf-8"), 1):
    code, _, comment = raw.partition(";")
    stripped = code.strip()
    was_open = depth > 0
    depth += code.count("(") - code.count(")")
    if was_open or not stripped or stripped.startswith("$"):
        continue
    fields = stripped.split()
    upper = [x.upper() for x in fields]
    if ("SOA" in upper or "NS" in upper) and (raw[0] in " \t" or fields[0] == "@"):
        continue  # apex SOA / NS: zone plumbing, not a rule
    if not comment.strip():
        problem(f"line {no}: rule without a comment: {stripped}")

if problems:
    print("\n".join(f"{path}: {p}" for p in problems), file=sys.stderr)
    sys.exit(1)
rules = sum(1 for o, t, _ in records if o != apex)
print(f"{path}: OK, {rules} rules, serial {serial}")
EOF
	then
		status=1
	fi
done
exit $status
