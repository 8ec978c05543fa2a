#!/bin/bash
# contrib/fleet/run.sh: a whole vigil fleet on one machine's loopback addresses,
# to try the recipe of README's "More than one machine" (and for
# tests/integration/test_fleet.py): a hidden Knot DNS primary serving the
# policy zone, two vigils transferring it (IXFR, NOTIFY, TSIG), dnsdist in
# front of them.
#
#   run.sh start            write the configs into $FLEET_DIR and start everything
#   run.sh stop [NAME...]   stop everything, or the named parts (dnsdist, vigil-a,
#                           vigil-b, knot), by the PIDs in $FLEET_DIR; a vigil
#                           that did not exit 0 makes it fail
#   run.sh status           what runs, and dnsdist's view of its backends
#   run.sh knotc ARGS...    knotc for the primary, e.g. to block a name:
#       run.sh knotc zone-begin fleet.rpz
#       run.sh knotc zone-set fleet.rpz bad.example.fleet.rpz. 60 CNAME .
#       run.sh knotc zone-commit fleet.rpz     (serial +1, IXFR, NOTIFY)
#
# Environment (defaults in brackets):
#   FLEET_PREFIX   the first three octets of the addresses [127.77.0]: .1 dnsdist,
#                  .2 the Knot primary, .11 vigil-a, .12 vigil-b
#   FLEET_PORT     the DNS port of all of them [53]
#   FLEET_DIR      configs, logs, PIDs, zone and feed copies [${TMPDIR:-/tmp}/vigil-fleet]
#   FLEET_ZONE_FILE  the policy zone's first version when $FLEET_DIR has none
#                  [contrib/fleet/fleet.rpz]; its zone must be fleet.rpz.
#   FLEET_VIGIL_INCLUDE  a file of YAML sections appended to both vigil configs,
#                  e.g. a test lab's root hints (resolver:, dnssec:); without it
#                  the vigils resolve from the public root servers
#   FLEET_VIGIL_USER  the user the vigils run as once bound (server.user)
#                  [vigil when that user exists, else "": they stay root]
#   VIGIL          the vigil binary [<repo>/build/vigil, else vigil on PATH]
#
# Needs dnsdist, knot (knotd, knotc) and dig (dnsutils); root for port 53.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PREFIX=${FLEET_PREFIX:-127.77.0}
PORT=${FLEET_PORT:-53}
DIR=$(realpath -m -- "${FLEET_DIR:-${TMPDIR:-/tmp}/vigil-fleet}") # absolute: the configs name it
ZONE=fleet.rpz.
ZONE_SRC=${FLEET_ZONE_FILE:-$HERE/fleet.rpz}
INCLUDE=${FLEET_VIGIL_INCLUDE:-}
KNOTD=${KNOTD:-/usr/sbin/knotd}
KNOTC=${KNOTC:-/usr/sbin/knotc}
DNSDIST=${DNSDIST:-/usr/bin/dnsdist}
if [ -z "${VIGIL:-}" ]; then
	if [ -x "$REPO/build/vigil" ]; then VIGIL=$REPO/build/vigil; else VIGIL=$(command -v vigil || true); fi
fi

if [ -z "${FLEET_VIGIL_USER+set}" ]; then
	if id vigil >/dev/null 2>&1; then FLEET_VIGIL_USER=vigil; else FLEET_VIGIL_USER=""; fi
fi

DNSDIST_ADDR=$PREFIX.1
KNOT_ADDR=$PREFIX.2
VIGIL_A=$PREFIX.11
VIGIL_B=$PREFIX.12
WEB_PORT=8083
CONSOLE_PORT=5199
METRICS_PORT=9153
STOP_TIMEOUT=10 # seconds from SIGTERM to SIGKILL
START_TIMEOUT=15

die() { echo "run.sh: $*" >&2; exit 1; }

# The configuration of part $1 (its PID is ours only if its command line names it).
conf_of() {
	case $1 in
	knot) echo "$DIR/knot/knot.conf" ;;
	dnsdist) echo "$DIR/dnsdist.conf" ;;
	vigil-a | vigil-b) echo "$DIR/$1.yaml" ;;
	*) die "no part called '$1' (dnsdist, vigil-a, vigil-b, knot)" ;;
	esac
}

# The PID of part $1 if it runs and is ours, else nothing.
pid_of() {
	local f=$DIR/$1.pid pid
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$(conf_of "$1")" && echo "$pid"
	return 0
}

# Fill in a template: $1 -> $2, with $3 as the vigil's address.
render() {
	sed -e "s|{{DNSDIST_ADDR}}|$DNSDIST_ADDR|g; s|{{KNOT_ADDR}}|$KNOT_ADDR|g" \
	    -e "s|{{VIGIL_A}}|$VIGIL_A|g; s|{{VIGIL_B}}|$VIGIL_B|g; s|{{VIGIL_ADDR}}|${3:-}|g" \
	    -e "s|{{PORT}}|$PORT|g; s|{{WEB_PORT}}|$WEB_PORT|g; s|{{CONSOLE_PORT}}|$CONSOLE_PORT|g" \
	    -e "s|{{METRICS_PORT}}|$METRICS_PORT|g; s|{{ZONE}}|$ZONE|g" \
	    -e "s|{{ZONE_FILE}}|$DIR/knot/zones/fleet.rpz.zone|g; s|{{KNOT_DIR}}|$DIR/knot|g" \
	    -e "s|{{STATE_DIR}}|$DIR/${4:-}|g; s|{{TSIG_SECRET}}|$TSIG_SECRET|g" \
	    -e "s|{{VIGIL_USER}}|$FLEET_VIGIL_USER|g" \
	    -e "s|{{WEB_PASSWORD}}|$WEB_PASSWORD|g; s|{{API_KEY}}|$API_KEY|g" \
	    -e "s|{{XFR_FROM}}|$VIGIL_A, $VIGIL_B, 127.0.0.1|g; s|{{CONSOLE_KEY}}|$CONSOLE_KEY|g" "$1" >"$2.tmp"
	mv "$2.tmp" "$2"
}

# dig's status line for NAME TYPE at ADDR, or nothing.
ask() {
	dig @"$1" -p "$PORT" +time=1 +tries=1 +norecurse "$2" "$3" 2>/dev/null |
		sed -n 's/.*status: \([A-Z]*\).*/\1/p'
}

wait_for() { # PART NAME TYPE ADDR: until ADDR answers NAME TYPE with NOERROR
	local deadline=$((SECONDS + START_TIMEOUT)) pid
	while [ "$(ask "$4" "$2" "$3")" != NOERROR ]; do
		pid=$(pid_of "$1")
		[ -n "$pid" ] || { echo "run.sh: $1 is not running; its log:" >&2; tail -20 "$(log_of "$1")" >&2; return 1; }
		[ $SECONDS -lt $deadline ] || { echo "run.sh: $1 does not answer $2 $3 at $4; its log:" >&2; tail -20 "$(log_of "$1")" >&2; return 1; }
		sleep 0.2
	done
}

log_of() {
	case $1 in
	knot) echo "$DIR/knot/knot.log" ;;
	*) echo "$DIR/$1.log" ;;
	esac
}

secrets() {
	local f=$DIR/secrets
	if [ ! -f "$f" ]; then
		(umask 077
		 {
			echo "TSIG_SECRET=$(head -c 32 /dev/urandom | base64)"
			echo "CONSOLE_KEY=$(head -c 32 /dev/urandom | base64)"
			echo "WEB_PASSWORD=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
			echo "API_KEY=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
		 } >"$f")
	fi
	# shellcheck disable=SC1090
	. "$f"
}

start_vigil() { # NAME ADDR
	local name=$1 conf=$DIR/$1.yaml deadline
	mkdir -p "$DIR/$name-feeds"
	render "$HERE/vigil.yaml" "$conf" "$2" "$name-feeds"
	[ -z "$INCLUDE" ] || cat "$INCLUDE" >>"$conf"
	rm -f "$DIR/$name.pid" "$DIR/$name.exit"
	# a small wrapper keeps vigil's exit status ($name.exit) for `stop`
	(
		"$VIGIL" -c "$conf" </dev/null >>"$DIR/$name.log" 2>&1 &
		pid=$!
		echo "$pid" >"$DIR/$name.pid"
		st=0
		wait "$pid" || st=$?
		echo "$st" >"$DIR/$name.exit"
	) </dev/null >/dev/null 2>&1 &
	deadline=$((SECONDS + 5))
	until [ -s "$DIR/$name.pid" ]; do
		[ $SECONDS -lt $deadline ] || die "$name: no PID"
		sleep 0.05
	done
}

cmd_start() {
	local p
	[ -n "$VIGIL" ] && [ -x "$VIGIL" ] || die "no vigil binary (build it, or set VIGIL=)"
	for p in "$KNOTD" "$KNOTC" "$DNSDIST"; do
		[ -x "$p" ] || die "$p not found (apt-get install knot dnsdist)"
	done
	command -v dig >/dev/null || die "dig not found (apt-get install dnsutils)"
	for p in knot vigil-a vigil-b dnsdist; do
		[ -z "$(pid_of $p)" ] || die "$p runs already (pid $(pid_of $p)); run.sh stop first"
	done
	mkdir -p "$DIR/knot/zones" "$DIR/knot/db" "$DIR/knot/run"
	secrets

	# 1. the hidden primary, with the first version of the zone unless it has one
	render "$HERE/knot.conf" "$DIR/knot/knot.conf"
	[ -f "$DIR/knot/zones/fleet.rpz.zone" ] || cp "$ZONE_SRC" "$DIR/knot/zones/fleet.rpz.zone"
	"$KNOTD" -c "$DIR/knot/knot.conf" </dev/null >>"$DIR/knot/knot.log" 2>&1 &
	echo $! >"$DIR/knot.pid"
	wait_for knot "$ZONE" SOA "$KNOT_ADDR" || { cmd_stop; exit 1; }

	# 2. the two vigils: each transfers the zone at start (AXFR, IXFR when its
	#    last good copy is there) and then on every NOTIFY
	start_vigil vigil-a "$VIGIL_A"
	start_vigil vigil-b "$VIGIL_B"
	# resolver.arpa is answered by vigil itself: up, whatever the Internet does
	wait_for vigil-a resolver.arpa SOA "$VIGIL_A" || { cmd_stop; exit 1; }
	wait_for vigil-b resolver.arpa SOA "$VIGIL_B" || { cmd_stop; exit 1; }

	# 3. dnsdist in front
	render "$HERE/dnsdist.conf" "$DIR/dnsdist.conf"
	chmod 600 "$DIR/dnsdist.conf"
	"$DNSDIST" --supervised --disable-syslog -C "$DIR/dnsdist.conf" \
		</dev/null >>"$DIR/dnsdist.log" 2>&1 &
	echo $! >"$DIR/dnsdist.pid"
	wait_for dnsdist resolver.arpa SOA "$DNSDIST_ADDR" || { cmd_stop; exit 1; }

	render "$HERE/prometheus.yml" "$DIR/prometheus.yml"
	cat <<EOF
fleet up in $DIR:
  dnsdist  $DNSDIST_ADDR@$PORT (pid $(pid_of dnsdist); web $DNSDIST_ADDR:$WEB_PORT)
  vigil-a  $VIGIL_A@$PORT (pid $(pid_of vigil-a))
  vigil-b  $VIGIL_B@$PORT (pid $(pid_of vigil-b))
  knot     $KNOT_ADDR@$PORT (pid $(pid_of knot)), zone $ZONE (hidden primary)
try: dig @$DNSDIST_ADDR -p $PORT malware.example
EOF
}

stop_one() { # NAME: SIGTERM, wait, SIGKILL; a vigil's exit status
	local name=$1 pid deadline st
	pid=$(pid_of "$name")
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		deadline=$((SECONDS + STOP_TIMEOUT))
		while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			echo "run.sh: $name (pid $pid) still there after ${STOP_TIMEOUT}s: SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$DIR/$name.pid"
	case $name in vigil-*) ;; *) return 0 ;; esac
	[ -n "$pid" ] || return 0
	deadline=$((SECONDS + 5))
	until [ -s "$DIR/$name.exit" ] || [ $SECONDS -ge $deadline ]; do sleep 0.05; done
	st=$(cat "$DIR/$name.exit" 2>/dev/null || echo unknown)
	if [ "$st" != 0 ]; then
		echo "run.sh: $name exited with status $st; log $DIR/$name.log" >&2
		return 1
	fi
}

cmd_stop() {
	local rc=0 p
	[ $# -gt 0 ] || set -- dnsdist vigil-a vigil-b knot
	for p in "$@"; do
		conf_of "$p" >/dev/null
		stop_one "$p" || rc=1
	done
	return $rc
}

cmd_status() {
	local p pid
	for p in dnsdist vigil-a vigil-b knot; do
		pid=$(pid_of $p)
		if [ -n "$pid" ]; then printf '%-8s running, pid %s\n' "$p" "$pid"; else printf '%-8s stopped\n' "$p"; fi
	done
	if [ -n "$(pid_of dnsdist)" ]; then
		"$DNSDIST" -c -C "$DIR/dnsdist.conf" -e 'showServers()' || true
	fi
}

case ${1:-} in
start) cmd_start ;;
stop) shift; cmd_stop "$@" ;;
status) cmd_status ;;
knotc) shift; exec "$KNOTC" -c "$DIR/knot/knot.conf" "$@" ;;
*) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
