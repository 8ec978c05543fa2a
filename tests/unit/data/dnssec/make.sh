#!/usr/bin/env bash
# Regenerate the DNSSEC fixtures for tests/unit/test_dnssec.c with ldns's own
# tools (ldnsutils): one small zone per algorithm, signed until 2037, plus the
# DS records of each key in SHA-1, SHA-256 and SHA-384.  The outputs are
# committed; this script documents how they were made.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/zone" <<'Z'
$ORIGIN example.
$TTL 3600
@        IN SOA  NS1.Example. Hostmaster.EXAMPLE. 1 3600 600 86400 300
@        IN NS   NS1.Example.
@        IN MX   10 Mail.EXAMPLE.
NS1      IN A    192.0.2.1
Mail     IN A    192.0.2.2
Mail     IN A    192.0.2.3
www      IN CNAME Mail.Example.
txt      IN TXT  "vigil" "fixture"
*.wild   IN A    192.0.2.9
srv      IN SRV  0 5 53 NS1.EXAMPLE.
Z
for alg in RSASHA1:1024 RSASHA1-NSEC3-SHA1:1024 RSASHA256:2048 RSASHA512:2048 \
	   ECDSAP256SHA256:256 ECDSAP384SHA384:384 ED25519:256 ED448:456; do
	name=${alg%%:*} bits=${alg##*:}
	(cd "$work" && ldns-keygen -a "$name" -b "$bits" example. >/dev/null)
	key=$(ls "$work"/Kexample.+*.key | head -1)
	base=${key%.key}
	nsec3=""
	[ "$name" = RSASHA1-NSEC3-SHA1 ] && nsec3="-n -s aabbccdd -t 1"
	# shellcheck disable=SC2086
	ldns-signzone $nsec3 -e 20371231000000 -i 20250101000000 -f "$work/out" \
		"$work/zone" "$base" >/dev/null
	num=$(basename "$base" | sed 's/.*+0*\([0-9]*\)+.*/\1/')
	cp "$work/out" "alg$num.zone"
	for d in 1 2 4; do
		(cd "$work" && ldns-key2ds -f -$d "$key" >/dev/null && cat "$base.ds")
	done > "alg$num.ds"
	rm -f "$work"/Kexample.*
done
