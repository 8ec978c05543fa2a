#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions run via "attempt" and traps
# bench/run.sh - measure vigil against Unbound side by side, plus a canned
# responder as the machine's ceiling, in one run. See bench/README.md.
#
# Usage: bash bench/run.sh [all|base|latency|dnssec|policy|tls]
#   all     (default) every case below
#   base    (a)-(d), (a2) and (l): canned ceiling, vigil and Unbound without
#           validation
#   latency (l) only: cached answers at fixed offered rates (20k, 50k, 100k q/s),
#           all three servers up side by side, alternating rounds: CPU per
#           answer, mean/p50/p99 latency, wake-ups and system calls per answer
#   dnssec  (e)-(h): vigil and Unbound validating, signed zones, DO=1 queries
#   policy  (p1)-(p4): 1,000,000 RPZ QNAME rules: load time, resident bytes per
#           rule, cached qps with and without the rules, blocking checked
#   tls     (t1)-(t4): DNS-over-TLS and DNS-over-HTTPS: cached qps (dnsperf -m dot
#           / -m doh), CPU per answer at a fixed rate, memory per idle DoT
#           connection (BENCH_IDLE_CONNS held open), new connections per second
#   attacks a benign stream of cached names at a fixed rate, in rounds of a
#           slice alone and a slice under each attack (NXNS, CNAME loop, long
#           chain, TsuNAME, KeyTrap, spoofed-answer flood, TuDoor junk, 500 ms
#           server), vigil and Unbound validating; upstream queries per attack
#           query; the lab-alone control with BENCH_ATK_CONTROL=1
#           (bench/attacks.sh; not in "all")
#   slow    5,000 names from a server that answers after 500 ms: how many each
#           resolver answers correctly (not in "all")
#   floor   the floor: CPU per answer at fixed rates of the canned responder
#           blocking in recvmmsg, behind epoll and behind libuv, beside vigil
#           and Unbound, in paired slices (bench/floor.sh; not in "all")
#   observe the cost of query logging: cached answers per second and CPU per
#           answer with vigil's dnstap on, its JSON query log on, both off, and
#           Unbound with and without dnstap, side by side (bench/observe.sh;
#           not in "all")
#   soak    vigil's VmRSS under SOAK_SECS of random cache misses plus attack
#           traffic against its cache size + a fixed overhead (not in "all")
#
# Environment (all optional):
#   VIGIL_BIN        vigil binary (default: <repo>/build/vigil); "skip" = no vigil
#   BENCH_RATE       offered rate for (b), queries/s         (default 100000)
#   BENCH_ZONE_NAMES names n0..nN-1 in the bench zone       (default 50000)
#   BENCH_SECS       duration of (a) and (b) runs, seconds    (default 10)
#   BENCH_LAT_SECS   duration of the saturated -v latency run of (a) (default 5)
#   BENCH_LOAD_PLAN  (l): "RATE:SECONDS ..." fixed-rate runs per round
#                    (default "20000:10 50000:5 100000:5")
#   BENCH_LOAD_ROUNDS  (l): rounds; figures are medians over them (default 3)
#   BENCH_SYSC_RATE  (l): rate of the system-call counting run (default: the
#                    plan's first rate); BENCH_SYSC_SECS its duration (default 5);
#                    BENCH_SYSC=0 skips it
#   BENCH_PAIR_RATES / BENCH_PAIR_SECS / BENCH_PAIR_ROUNDS  (m): paired slices
#                    ("20000 100000" / 2 / 8; 0 rounds leaves (m) out)
#   BENCH_MISS       cache-miss names per resolver            (default 20000)
#   BENCH_SAT_ARGS   dnsperf args for saturated runs  (default "-c 8 -q 200 -T 2")
#   BENCH_SAT2_ARGS  dnsperf args for the 2-thread run (default "-c 8 -q 400 -T 2")
#   BENCH_MISS_ARGS  dnsperf args for the miss run    (default "-c 8 -q 200 -T 1")
#   BENCH_FOREIGN_MAX  % of a core other processes may use before a run
#                    counts as disturbed                       (default 20)
#   BENCH_RETRIES    repeats of a disturbed (a)/(b)/(f)/(g) run (default 1)
#   BENCH_SEC_MISS   signed cache-miss names per resolver, (e) (default 40000)
#   BENCH_SEC_RATE   offered DO=1 rate for (g), queries/s      (default 50000)
#   BENCH_POL_RULES  RPZ QNAME rules in the policy case         (default 1000000)
#   BENCH_POL_ROUNDS with/without rounds of (p3), alternating   (default 4)
#   BENCH_POL_SECS   duration of each (p3) run, seconds         (default 5)
#   BENCH_POL_LOAD_MAX  seconds a resolver may take to load them (default 300)
#   BENCH_KEEP=1     keep the work directory (always kept on failure)
#   CANNED_PORT / VIGIL_PORT / UNBOUND_PORT   (default 5400 / 5401 / 5402)
#   VIGIL_POL_PORT / UNBOUND_POL_PORT (with-rules instances, default 5403 / 5404)
#   BENCH_TLS_SECS   duration of the (t1)/(t2) runs, seconds    (default 10)
#   BENCH_TLS_RATE   offered rate for (t2), queries/s          (default 20000)
#   BENCH_TLS_ARGS   dnsperf args for (t1)/(t2)  (default "-c 8 -q 200 -T 2")
#   BENCH_DOH_METHOD GET or POST for the DoH runs               (default GET)
#   BENCH_IDLE_CONNS idle DoT connections held for (t3)         (default 10000)
#   BENCH_HS_SECS / BENCH_HS_CONC  (t4) seconds per run / connections in flight
#                                                              (default 5 / 16)
#   VIGIL_DOT_PORT / VIGIL_DOH_PORT / UNBOUND_DOT_PORT / UNBOUND_DOH_PORT
#                                             (default 8531 / 4431 / 8532 / 4432)
#   LAB_ROOT_IP / LAB_BENCH_IP / LAB_SEC_IP / LAB_LEAF_IP
#                                             (default 127.54.0.1 / .2 / .3 / .4)
#   attacks / slow / soak (bench/README.md, "Attacks"):
#   BENCH_ATK_ROUNDS rounds per attack and resolver: a benign slice alone,
#                    then one under the attack                     (3)
#   BENCH_ATK_RETRIES  rounds done again (fresh names) when other processes
#                    used over BENCH_FOREIGN_MAX% of a core in a slice, per
#                    attack and resolver; ROUNDS + RETRIES <= 9      (3)
#   BENCH_ATK_SECS   seconds of each benign slice                  (5)
#   BENCH_ATK_CONTROL=1  also the control rows ("lab"): the attack stream
#                    sent straight to the hostile server, vigil serving only
#                    the benign stream: what the lab alone does to it    (0)
#   BENCH_ATK_BENIGN_RATE  the benign stream's rate, q/s           (20000)
#   BENCH_ATK_RATE   attack queries/s (the spoof flood: a tenth)   (100)
#   BENCH_ATK_LIST   attacks to run (default: all, see attack.py ATTACKS)
#   BENCH_SLOW_NAMES / BENCH_SLOW_CONC / BENCH_SLOW_TIMEOUT   (5000 / 100 / 10)
#   SOAK_SECS (600), BENCH_SOAK_RATE (5000 miss q/s), BENCH_SOAK_ATK_RATE (50),
#   BENCH_SOAK_CACHE (64, MiB), BENCH_SOAK_WORKERS (1), BENCH_SOAK_EVERY (2 s),
#   BENCH_SOAK_OVERHEAD_MB (the allowed peak RSS above the cache size, 48)
#   LAB_ATK_IP / LAB_KEYTRAP_IP               (default 127.54.0.5 / .6)
#   BENCH_ATK_AUTH   the hostile server of atk.: "c" = bench/hostile.c, built
#                    here; "py" = tests/lab/slowauth.py --bench, whose
#                    Python answers cost CPU on the benign dnsperf's core  (c)
#   BENCH_LAB_IDLE=1 the hostile lab (hostile server, keytrap NSD, attack
#                    generator) runs as SCHED_IDLE on the benign client's
#                    core, so that it takes the CPU only when the benign
#                    dnsperf does not want it; 0 = normal priority      (1)
#   observe: BENCH_OBS_ROUNDS (3), BENCH_OBS_SECS (5, each run),
#   BENCH_OBS_RATE (50000, the fixed rate for CPU per answer),
#   VIGIL_OBS_DT_PORT / VIGIL_OBS_JS_PORT / UNBOUND_OBS_DT_PORT (5405 / 5406 / 5407)
#   floor: BENCH_FLOOR_ROUNDS (12; rates and seconds from BENCH_PAIR_RATES/SECS),
#   CANNED_EPOLL_PORT / CANNED_UV_PORT (5408 / 5409)
#
# Exit status: 0 ok, 1 a measurement or vigil failed, 2 prerequisites missing.
set -euo pipefail

CASE=${1:-all}
RUN_ATK=0 RUN_SLOW=0 RUN_SOAK=0 RUN_OBS=0 RUN_FLOOR=0
case $CASE in
all) RUN_BASE=1 RUN_LOAD=1 RUN_SEC=1 RUN_POL=1 RUN_TLS=1 ;;
base) RUN_BASE=1 RUN_LOAD=1 RUN_SEC=0 RUN_POL=0 RUN_TLS=0 ;;
latency) RUN_BASE=0 RUN_LOAD=1 RUN_SEC=0 RUN_POL=0 RUN_TLS=0 ;;
dnssec) RUN_BASE=0 RUN_LOAD=0 RUN_SEC=1 RUN_POL=0 RUN_TLS=0 ;;
policy) RUN_BASE=0 RUN_LOAD=0 RUN_SEC=0 RUN_POL=1 RUN_TLS=0 ;;
tls) RUN_BASE=0 RUN_LOAD=0 RUN_SEC=0 RUN_POL=0 RUN_TLS=1 ;;
attacks) RUN_BASE=0 RUN_LOAD=0 RUN_SEC=0 RUN_POL=0 RUN_TLS=0 RUN_ATK=1 ;;
slow) RUN_BASE=0 RUN_LOAD=0 RUN_SEC=0 RUN_POL=0 RUN_TLS=0 RUN_SLOW=1 ;;
soak) RUN_BASE=0 RUN_LOAD=0 RUN_SEC=0 RUN_POL=0 RUN_TLS=0 RUN_SOAK=1 ;;
observe) RUN_BASE=0 RUN_LOAD=0 RUN_SEC=0 RUN_POL=0 RUN_TLS=0 RUN_OBS=1 ;;
floor) RUN_BASE=0 RUN_LOAD=0 RUN_SEC=0 RUN_POL=0 RUN_TLS=0 RUN_FLOOR=1 ;;
*)  echo "usage: bash bench/run.sh [all|base|latency|dnssec|policy|tls|attacks|slow|soak|observe|floor]" >&2
    exit 2 ;;
esac
HOSTILE=$((RUN_ATK || RUN_SLOW || RUN_SOAK))   # the hostile lab (attacks.sh)

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$REPO/bench"
PY="python3 $BENCH/bench.py"
ATK="/usr/bin/python3 $BENCH/attack.py"   # needs Debian's python3-dnspython

VIGIL_BIN=${VIGIL_BIN:-$REPO/build/vigil}
RATE=${BENCH_RATE:-100000}
FOREIGN_MAX=${BENCH_FOREIGN_MAX:-20}
RETRIES=${BENCH_RETRIES:-1}
SECS=${BENCH_SECS:-10}
LAT_SECS=${BENCH_LAT_SECS:-5}
LOAD_PLAN=${BENCH_LOAD_PLAN:-20000:10 50000:5 100000:5}
LOAD_ROUNDS=${BENCH_LOAD_ROUNDS:-3}
SYSC_RATE=${BENCH_SYSC_RATE:-${LOAD_PLAN%%:*}}
SYSC_SECS=${BENCH_SYSC_SECS:-5}
SYSC=${BENCH_SYSC:-1}
PAIR_RATES=${BENCH_PAIR_RATES:-20000 100000}
PAIR_SECS=${BENCH_PAIR_SECS:-2}
PAIR_ROUNDS=${BENCH_PAIR_ROUNDS:-8}
for item in $PAIR_RATES $PAIR_SECS $PAIR_ROUNDS; do
    if [[ ! $item =~ ^[0-9]+$ ]]; then
        echo "bench/run.sh: BENCH_PAIR_RATES/SECS/ROUNDS: '$item' is not a number" >&2
        exit 2
    fi
done
for item in $LOAD_PLAN; do
    if [[ ! $item =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]]; then
        echo "bench/run.sh: BENCH_LOAD_PLAN: '$item' is not RATE:SECONDS" >&2
        exit 2
    fi
done
MISS=${BENCH_MISS:-20000}
SEC_MISS=${BENCH_SEC_MISS:-40000}
SEC_RATE=${BENCH_SEC_RATE:-50000}
POL_RULES=${BENCH_POL_RULES:-1000000}
POL_ROUNDS=${BENCH_POL_ROUNDS:-4}
POL_SECS=${BENCH_POL_SECS:-5}
POL_LOAD_MAX=${BENCH_POL_LOAD_MAX:-300}
POL_ZONE=blocklist.rpz.   # the policy case's RPZ zone name
SAT_ARGS=${BENCH_SAT_ARGS:--c 8 -q 200 -T 2}
SAT2_ARGS=${BENCH_SAT2_ARGS:--c 8 -q 400 -T 2}
MISS_ARGS=${BENCH_MISS_ARGS:--c 8 -q 200 -T 1}
RATE_ARGS="-c 8 -q 200 -T 2"
CANNED_PORT=${CANNED_PORT:-5400}
VIGIL_PORT=${VIGIL_PORT:-5401}
UNBOUND_PORT=${UNBOUND_PORT:-5402}
VIGIL_POL_PORT=${VIGIL_POL_PORT:-5403}
UNBOUND_POL_PORT=${UNBOUND_POL_PORT:-5404}
VIGIL_OBS_DT_PORT=${VIGIL_OBS_DT_PORT:-5405}
VIGIL_OBS_JS_PORT=${VIGIL_OBS_JS_PORT:-5406}
UNBOUND_OBS_DT_PORT=${UNBOUND_OBS_DT_PORT:-5407}
CANNED_EPOLL_PORT=${CANNED_EPOLL_PORT:-5408}
CANNED_UV_PORT=${CANNED_UV_PORT:-5409}
OBS_ROUNDS=${BENCH_OBS_ROUNDS:-3}
OBS_SECS=${BENCH_OBS_SECS:-5}
OBS_RATE=${BENCH_OBS_RATE:-50000}
ROOT_IP=${LAB_ROOT_IP:-127.54.0.1}
BENCH_IP=${LAB_BENCH_IP:-127.54.0.2}
SEC_IP=${LAB_SEC_IP:-127.54.0.3}
LEAF_IP=${LAB_LEAF_IP:-127.54.0.4}
TLS_SECS=${BENCH_TLS_SECS:-10}
TLS_RATE=${BENCH_TLS_RATE:-20000}
TLS_ARGS=${BENCH_TLS_ARGS:--c 8 -q 200 -T 2}
DOH_METHOD=${BENCH_DOH_METHOD:-GET}
IDLE_CONNS=${BENCH_IDLE_CONNS:-10000}
HS_SECS=${BENCH_HS_SECS:-5}
HS_CONC=${BENCH_HS_CONC:-16}
VIGIL_DOT_PORT=${VIGIL_DOT_PORT:-8531}
VIGIL_DOH_PORT=${VIGIL_DOH_PORT:-4431}
UNBOUND_DOT_PORT=${UNBOUND_DOT_PORT:-8532}
UNBOUND_DOH_PORT=${UNBOUND_DOH_PORT:-4432}
TLS_NAME=bench.vigil.test   # the certificate's name (and dnsperf's DoH authority)
ATK_SECS=${BENCH_ATK_SECS:-5}
ATK_ROUNDS=${BENCH_ATK_ROUNDS:-3}
# disturbed rounds done again (bench/attacks.sh run_atk); a round's names
# are tagged with one digit (v1x..v9x: the NXNS referral must fit 1232 bytes)
ATK_RETRIES=${BENCH_ATK_RETRIES:-3}
if ((ATK_ROUNDS < 1 || ATK_ROUNDS + ATK_RETRIES > 9)); then
    echo "bench/run.sh: BENCH_ATK_ROUNDS + BENCH_ATK_RETRIES must be 1..9" >&2
    exit 2
fi
ATK_CONTROL=${BENCH_ATK_CONTROL:-0}
ATK_BENIGN_RATE=${BENCH_ATK_BENIGN_RATE:-20000}
ATK_RATE=${BENCH_ATK_RATE:-100}
ATK_LIST=${BENCH_ATK_LIST:-nxns loop chain tsuname keytrap spoof tudoor slow}
ATK_AUTH=${BENCH_ATK_AUTH:-c}
# The hostile lab shares CPU GEN_CPU with the benign client; as SCHED_IDLE it
# stands for servers and attackers on other machines (bench/README.md,
# "What the lab itself costs"). LAB_PRE prefixes their commands.
LAB_IDLE=${BENCH_LAB_IDLE:-1}
LAB_PRE=()
((!LAB_IDLE)) || LAB_PRE=(chrt --idle 0)
SLOW_NAMES=${BENCH_SLOW_NAMES:-5000}
SLOW_CONC=${BENCH_SLOW_CONC:-100}
SLOW_TIMEOUT=${BENCH_SLOW_TIMEOUT:-10}
SOAK_SECS=${SOAK_SECS:-600}
SOAK_RATE=${BENCH_SOAK_RATE:-5000}
SOAK_ATK_RATE=${BENCH_SOAK_ATK_RATE:-50}
SOAK_CACHE=${BENCH_SOAK_CACHE:-64}
SOAK_CACHE_BYTES=$((SOAK_CACHE * 1048576))
SOAK_WORKERS=${BENCH_SOAK_WORKERS:-1}
SOAK_EVERY=${BENCH_SOAK_EVERY:-2}
SOAK_OVERHEAD_MB=${BENCH_SOAK_OVERHEAD_MB:-48}
ATK_IP=${LAB_ATK_IP:-127.54.0.5}
KEYTRAP_IP=${LAB_KEYTRAP_IP:-127.54.0.6}
SRV_CPU=0          # server under test
GEN_CPU=1          # dnsperf and the authoritative lab
BOTH_CPUS=0,1      # 2-thread run: everything shares both cores

# Log to the original stderr even from inside redirected blocks (traps can
# run there).
exec {LOGFD}>&2
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&"$LOGFD"; }
die() { log "ERROR: $*"; exit 1; }

# ------------------------------------------------------------ prerequisites
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2 (for $1)"); }
need dnsperf dnsperf
need unbound unbound
need nsd nsd
need cc gcc
need python3 python3
need taskset util-linux
need getconf libc-bin
need ldns-keygen ldnsutils
need ldns-signzone ldnsutils
need ldns-key2ds ldnsutils
if ((RUN_TLS)); then
    need openssl openssl
    [[ -e /usr/include/openssl/ssl.h ]] || missing+=("libssl-dev (for bench/tlsconn.c)")
fi
((!RUN_OBS)) || need fstrm_capture fstrm-bin
[[ -e /usr/include/uv.h ]] || missing+=("libuv1-dev (for bench/canned.c)")
if ((HOSTILE)) && ! /usr/bin/python3 -c 'import dns.message' 2>/dev/null; then
    missing+=("python3-dnspython (for bench/attack.py and tests/lab/slowauth.py)")
fi
if ((HOSTILE)) && [[ $ATK_AUTH != c && $ATK_AUTH != py ]]; then
    echo "bench/run.sh: BENCH_ATK_AUTH must be c (bench/hostile.c) or py (tests/lab/slowauth.py), not '$ATK_AUTH'" >&2
    exit 2
fi
if ((${#missing[@]})); then
    echo "bench/run.sh: missing tools; install the Debian packages:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    pkgs=$(printf '%s\n' "${missing[@]}" | cut -d' ' -f1 | sort -u | tr '\n' ' ')
    echo "  apt-get install -y $pkgs" >&2
    exit 2
fi
dnsperf_ver=$(dnsperf -h 2>&1 | sed -n 's/^Version //p' | head -1)
if [[ ${dnsperf_ver%%.*} -lt 2 ]]; then
    echo "bench/run.sh: dnsperf >= 2 required (found '$dnsperf_ver'); apt-get install -y dnsperf" >&2
    exit 2
fi
if [[ $(id -u) != 0 ]] && (($(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo 1024) > 53)); then
    echo "bench/run.sh: the authoritative lab binds port 53 on $ROOT_IP/$BENCH_IP/$SEC_IP/$LEAF_IP: run as root" >&2
    exit 2
fi
case $VIGIL_BIN in
skip) ;;
*)  if [[ ! -x $VIGIL_BIN ]]; then
        echo "bench/run.sh: vigil binary '$VIGIL_BIN' not found or not executable" >&2
        echo "  build it first (meson setup build && ninja -C build), set VIGIL_BIN, or VIGIL_BIN=skip" >&2
        exit 2
    fi
    VIGIL_BIN=$(cd "$(dirname "$VIGIL_BIN")" && pwd)/$(basename "$VIGIL_BIN") ;;
esac
ncpu=$(getconf _NPROCESSORS_ONLN)
if ((ncpu < 2)); then
    log "WARNING: only $ncpu CPU online; everything shares CPU 0 (figures not meaningful)"
    GEN_CPU=0 BOTH_CPUS=0
fi
TCK=$(getconf CLK_TCK)

pol_ports=()
((!RUN_POL)) || pol_ports=("127.0.0.1 $VIGIL_POL_PORT" "127.0.0.1 $UNBOUND_POL_PORT")
((!RUN_TLS)) || pol_ports+=("127.0.0.1 $VIGIL_DOT_PORT" "127.0.0.1 $VIGIL_DOH_PORT"
    "127.0.0.1 $UNBOUND_DOT_PORT" "127.0.0.1 $UNBOUND_DOH_PORT")
((!HOSTILE)) || pol_ports+=("$ATK_IP 53" "$KEYTRAP_IP 53")
((!RUN_OBS)) || pol_ports+=("127.0.0.1 $VIGIL_OBS_DT_PORT" "127.0.0.1 $VIGIL_OBS_JS_PORT"
    "127.0.0.1 $UNBOUND_OBS_DT_PORT")
((!RUN_FLOOR)) || pol_ports+=("127.0.0.1 $CANNED_EPOLL_PORT" "127.0.0.1 $CANNED_UV_PORT")
for ap in "$ROOT_IP 53" "$BENCH_IP 53" "$SEC_IP 53" "$LEAF_IP 53" "127.0.0.1 $CANNED_PORT" "127.0.0.1 $VIGIL_PORT" "127.0.0.1 $UNBOUND_PORT" "${pol_ports[@]}"; do
    # shellcheck disable=SC2086
    if ! why=$($PY portfree $ap); then
        echo "bench/run.sh: address in use: $why (another server? pick other ports via env)" >&2
        exit 2
    fi
done

# ------------------------------------------------------------ work dir, cleanup
WORK=$(mktemp -d /tmp/vigil-bench.XXXXXX)
KV=$WORK/results.kv
: >"$KV"
declare -A PID=() EXE=()
ok=0

stop_one() { # name
    local name=$1 pid=${PID[$1]:-} i p tree
    [[ -n $pid ]] || return 0
    unset "PID[$name]"
    # $pid is our own child (started with &, not yet reaped), so its PID
    # cannot have been reused; its descendants are checked by binary below.
    tree=$($PY tree "$pid")     # e.g. NSD's forked main/server processes
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    # Descendants that outlived their parent (only after a SIGKILL).
    for p in $tree; do
        [[ $p == "$pid" ]] && continue
        if [[ $(readlink "/proc/$p/exe" 2>/dev/null) == "${EXE[$name]}" ]]; then
            kill -KILL "$p" 2>/dev/null || true
        fi
    done
    rm -f "$WORK/$name.bpid"
}

cleanup() {
    local rc=$? name
    trap - EXIT INT TERM
    for name in "${!PID[@]}"; do stop_one "$name"; done
    if ((ok)) && [[ ${BENCH_KEEP:-0} != 1 ]]; then
        rm -rf "$WORK"
    else
        log "work dir kept: $WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CPUS CMD...: start in background (pinned), record pid and binary.
# A command in the array START_PRE, if set, runs CMD (chrt: LAB_PRE).
START_PRE=()
start() {
    local name=$1 cpus=$2
    shift 2
    EXE[$name]=$(readlink -f "$(command -v "$1")")
    taskset -c "$cpus" "${START_PRE[@]}" "$@" >"$WORK/$name.out" 2>&1 &
    PID[$name]=$!
    echo "${PID[$name]}" >"$WORK/$name.bpid"
}

# wait_ready NAME ADDR PORT QNAME: probe until answered (15 s at most, less
# if the process exits); 0 ok / 1 failed.
wait_ready() {
    local name=$1 i
    for ((i = 0; i < 15; i++)); do
        if ! kill -0 "${PID[$name]}" 2>/dev/null; then
            log "$name exited during start-up; last output:"
            tail -n 20 "$WORK/$name.out" >&"$LOGFD" || true
            return 1
        fi
        if $PY probe "$2" "$3" "$4" 1; then
            return 0
        fi
    done
    log "$name did not answer $4 on $2@$3 within 15 s; last output:"
    tail -n 20 "$WORK/$name.out" >&"$LOGFD" || true
    return 1
}

kv() { echo "$1 $2" >>"$KV"; }
warn() { log "WARNING: $2"; kv "warn.$1" "$2"; }

# sysbusy: busy ticks of all CPUs from /proc/stat (user nice system irq
# softirq steal), bash builtins only so that measuring costs nothing.
sysbusy() {
    local _c u n s _i _w q sq st _r
    read -r _c u n s _i _w q sq st _r </proc/stat
    echo $((u + n + s + q + sq + st))
}

# dp OUT CPUS PORT ARGS...: one bounded dnsperf run (every call has -l).
# The generator's own user+sys CPU seconds go to OUT.time; machine-wide busy
# ticks and wall time around the run go to DP_BUSY / DP_WALL. A command in
# the array DP_PRE, if set, runs dnsperf (the system-call counter of (l)).
DP_PRE=()
dp() {
    local out=$1 cpus=$2 port=$3 TIMEFORMAT='%U %S' b0 b1 w0 w1
    shift 3
    b0=$(sysbusy) w0=$EPOCHREALTIME
    { time taskset -c "$cpus" "${DP_PRE[@]}" dnsperf -s 127.0.0.1 -p "$port" "$@" >"$out" 2>&1 || true; } 2>"$out.time"
    b1=$(sysbusy) w1=$EPOCHREALTIME
    DP_BUSY=$((b1 - b0))
    DP_WALL=$(awk -v a="$w0" -v b="$w1" 'BEGIN{print b - a}')
}

# Foreign load: CPU used on the machine during the last dp run by anything
# other than the server under test, dnsperf and (for (c)) the bench NSD:
# other sessions, builds, ... Includes kernel softirq work not charged to a
# process, so a few % is normal.
# fg_end TAG SERVER_TICKS [EXTRA_TICKS]: record TAG.foreign_cpu_pct, set FG_PCT.
fg_end() {
    local tag=$1 srv=$2 extra=${3:-0} gen
    FG_PCT=0
    [[ -s $WORK/$tag.time ]] || return 0
    gen=$(awk '{print $1+$2}' "$WORK/$tag.time")
    FG_PCT=$(awk -v b=$((DP_BUSY - srv - extra)) -v h="$TCK" -v g="$gen" -v r="$DP_WALL" \
        'BEGIN{ v = 100*(b/h - g)/r; if (v < 0) v = 0; printf "%.0f", v }')
    kv "$tag.foreign_cpu_pct" "$FG_PCT"
}
fg_warn() { # TAG
    if ((FG_PCT > FOREIGN_MAX)); then
        warn "$1.foreign" "$1: other processes used ~${FG_PCT}% of a core during this run; figures are disturbed (rerun on a quiet machine)"
    fi
}

# attempt TAG FN ARGS...: run one measurement; while other processes
# disturbed it (FG_PCT > FOREIGN_MAX), repeat it up to RETRIES times. The
# last attempt's values are the ones reported (later lines win in the KV file).
attempt() {
    local tag=$1 i
    shift
    for ((i = 0; ; i++)); do
        "$@"
        ((FG_PCT > FOREIGN_MAX && i < RETRIES)) || break
        log "$tag disturbed: other processes used ~${FG_PCT}% of a core; repeating ($((i + 1))/$RETRIES)"
        sleep 1
    done
    kv "$tag.attempts" $((i + 1))
    fg_warn "$tag"
}

# pct TICKS SECONDS: CPU ticks over a wall-clock interval -> % of one core.
pct() { awk -v t="$1" -v h="$TCK" -v r="$2" 'BEGIN{ if (r > 0) printf "%.0f", 100*t/h/r; else print "n/a" }'; }
# get KEY: value recorded in the results file.
get() { awk -v k="$1" '$1==k{v=$2} END{print v}' "$KV"; }
# gen_pct TAG OUT: record the generator's CPU % of one core over the last
# dp run (wall time, so it includes dnsperf's start-up and final wait).
gen_pct() {
    kv "$1.gen_cpu_pct" "$(awk -v r="$DP_WALL" '{ if (r > 0) printf "%.0f", 100*($1+$2)/r }' "$2.time")"
}

# ------------------------------------------------------------ authoritative lab
log "work dir $WORK"
LAB_T0=$EPOCHREALTIME
if ((HOSTILE)); then  # the KeyTrap zone, signed like the test lab's keytrap-big.sec.
    $ATK keytrap "$WORK" "$KEYTRAP_IP" || die "signing the KeyTrap zone failed"
    printf 'atk. IN NS ns1.atk.\nns1.atk. IN A %s\n' "$ATK_IP" >>"$WORK/root.extra"  # unsigned
fi
$PY lab "$WORK" "$ROOT_IP" "$BENCH_IP" "$MISS" "$SEC_IP" "$LEAF_IP" "$((RUN_SEC ? SEC_MISS : 0))"
log "lab zones written and signed in $(awk -v a="$LAB_T0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}') s"
cc -O2 -Wall -o "$WORK/canned" "$BENCH/canned.c" -luv
if ((HOSTILE)) && [[ $ATK_AUTH == c ]]; then  # the hostile server of atk.
    cc -O2 -Wall -o "$WORK/hostile" "$BENCH/hostile.c"
fi
SYSC_OK=0
if ((RUN_LOAD && SYSC)); then
    cc -O2 -Wall -o "$WORK/sysc" "$BENCH/sysc.c"
    if "$WORK/sysc" $$ /dev/null raw_syscalls:sys_enter -- true 2>"$WORK/sysc.check"; then
        SYSC_OK=1
    else
        log "system calls per answer not measured: bench/sysc cannot count ($(head -1 "$WORK/sysc.check"))"
    fi
fi
if ((RUN_POL)); then
    # Written once per run; not part of any measurement.
    POL_T0=$EPOCHREALTIME
    read -r _ _ _ pol_wild _ pol_bytes _ pol_mean < <($PY rpz "$WORK" "$POL_RULES" "$POL_ZONE")
    log "policy zone: $POL_RULES QNAME rules ($pol_wild \"*.\" wildcards, mean name $pol_mean chars, $((pol_bytes / 1048576)) MiB) written in $(awk -v a="$POL_T0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}') s"
fi

if ((RUN_TLS)); then
    # A throwaway CA and an EC P-256 server certificate for $TLS_NAME and
    # 127.0.0.1 (both servers use the same one).  Unbound keeps its default
    # session resumption (OpenSSL's server-side cache, single-use TLS 1.3
    # tickets): with tls-session-ticket-keys, on this build only every other
    # resumption attempt succeeded (bench/tlsconn chains tickets).
    (
        cd "$WORK"
        openssl req -x509 -new -nodes -batch -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
            -keyout tls-ca.key -out tls-ca.pem -days 7 -subj "/CN=vigil bench CA" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
        openssl req -new -nodes -batch -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
            -keyout tls.key -out tls.csr -subj "/CN=$TLS_NAME"
        printf 'subjectAltName=DNS:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' "$TLS_NAME" >tls.ext
        openssl x509 -req -in tls.csr -CA tls-ca.pem -CAkey tls-ca.key -CAcreateserial \
            -days 7 -sha256 -extfile tls.ext -out tls.pem
    ) >"$WORK/tls-certs.out" 2>&1 || die "making the TLS certificate failed: see $WORK/tls-certs.out"
    cc -O2 -Wall -o "$WORK/tlsconn" "$BENCH/tlsconn.c" -lssl -lcrypto
fi

nsd_conf() { # name ip zone file [zone file]...
    local name=$1 ip=$2
    shift 2
    cat >"$WORK/nsd-$name.conf" <<EOF
server:
    server-count: 1
    ip-address: $ip
    port: 53
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "$WORK"
    database: ""
    zonelistfile: "$WORK/nsd-$name.zonelist"
    xfrdfile: "$WORK/nsd-$name.xfrd"
    xfrdir: "$WORK"
    pidfile: "$WORK/nsd-$name.pid"
    logfile: "$WORK/nsd-$name.log"
    verbosity: 0
    hide-version: yes
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
EOF
    while (($# >= 2)); do
        printf 'zone:\n    name: "%s"\n    zonefile: "%s"\n' "$1" "$2" >>"$WORK/nsd-$name.conf"
        shift 2
    done
}
# The root is signed (RSA/SHA-256) in every case; the base cases' resolvers
# do not validate and do not ask for DNSSEC records, so it costs them nothing.
nsd_conf root "$ROOT_IP" . root.zone
nsd_conf bench "$BENCH_IP" bench. bench.zone
LAB=(root bench)
if ((RUN_SEC)); then
    nsd_conf sec "$SEC_IP" sec. sec.zone
    leaf_zones=()
    for ((k = 0; k < 8; k++)); do leaf_zones+=("z$k.sec." "z$k.sec.zone"); done
    nsd_conf leaf "$LEAF_IP" "${leaf_zones[@]}"
    LAB+=(sec leaf)
fi
if ((HOSTILE)); then
    # keytrap. on an NSD of its own, with a control socket for its query count
    nsd_conf keytrap "$KEYTRAP_IP" keytrap. keytrap.zone
    sed -i "s|^    control-enable: no|    control-enable: yes\n    control-interface: \"$WORK/nsd-keytrap.ctl\"|" "$WORK/nsd-keytrap.conf"
    LAB+=(keytrap)
fi
for z in "${LAB[@]}"; do
    nsd-checkconf "$WORK/nsd-$z.conf" || die "nsd-checkconf failed for $z"
    [[ $z != keytrap ]] || START_PRE=("${LAB_PRE[@]}")
    start "nsd-$z" "$GEN_CPU" nsd -d -c "$WORK/nsd-$z.conf"
    START_PRE=()
done
wait_ready nsd-root "$ROOT_IP" 53 ns.lab-root || die "root NSD did not start"
wait_ready nsd-bench "$BENCH_IP" 53 n49999.bench || die "bench NSD did not start"
log "lab up: root on $ROOT_IP, bench. (50000+$(wc -l <"$WORK/cached.q") names) on $BENCH_IP"
if ((HOSTILE)); then
    wait_ready nsd-keytrap "$KEYTRAP_IP" 53 ns.keytrap || die "keytrap NSD did not start"
    # the hostile server, serving atk. (unsigned): bench/hostile.c, or with
    # BENCH_ATK_AUTH=py the test lab's slowauth.py it copies. It shares CPU
    # $GEN_CPU with the benign dnsperf, and slowauth's per-packet Python
    # (dnspython for the d/j/s/u names) delayed that client's replies: with
    # no attack query reaching the resolver it alone raised the benign p99
    # 1.8-5.1x (bench/README.md, "What the lab itself costs").
    if [[ $ATK_AUTH == c ]]; then
        ATK_AUTH_CMD=("$WORK/hostile")
        ATK_AUTH_NAME=bench/hostile.c
    else
        ATK_AUTH_CMD=(/usr/bin/python3 "$REPO/tests/lab/slowauth.py")
        ATK_AUTH_NAME=tests/lab/slowauth.py
    fi
    START_PRE=("${LAB_PRE[@]}")
    start atk-auth "$GEN_CPU" "${ATK_AUTH_CMD[@]}" --bench "$ATK_IP" 53 \
        "$WORK/atk.pid" "$WORK/atk.counts" atk. 7200
    START_PRE=()
    wait_ready atk-auth "$ATK_IP" 53 ns1.atk || die "the hostile server did not start"
    log "hostile lab up: atk. ($ATK_AUTH_NAME) on $ATK_IP, keytrap. on $KEYTRAP_IP"
fi
if ((RUN_SEC)); then
    wait_ready nsd-sec "$SEC_IP" 53 ns.sec || die "sec NSD did not start"
    wait_ready nsd-leaf "$LEAF_IP" 53 c999.z7.sec || die "leaf NSD did not start"
    log "signed lab up: sec. on $SEC_IP, z0..z7.sec. ($((2 * SEC_MISS + 1000)) names) on $LEAF_IP"
fi

# ------------------------------------------------------------ server configs
# vigil_conf NAME WORKERS VALIDATE(0/1) [PORT POLICY]: the base cases run
# without validation (vigil validates by default, against the real root's
# anchor). Without POLICY there is no policy section, so vigil's default (the
# shipped supply-chain zone, 61 rules) applies, as for a user who sets none;
# POLICY "empty" = an explicit empty policy (no rules at all), or an RPZ file
# for every client (the policy case; log level notice for the "policy:" line).
vigil_conf() {
    local level=warning
    [[ -z ${5:-} ]] || level=notice
    cat >"$WORK/vigil-$1.yaml" <<EOF
server:
  listen: [ "127.0.0.1@${4:-$VIGIL_PORT}" ]
  workers: $2
  user: ""
resolver:
  root-hints: $WORK/root.hints
  query-localhost: yes
cache:
  size: 256M
log:
  level: $level
control:
  socket: ""
EOF
    case ${5:-} in
    "") ;;
    empty) printf 'policy:\n  sources: []\n  groups: []\n' >>"$WORK/vigil-$1.yaml" ;;
    *)  printf 'policy:\n  sources:\n    - name: blocklist\n      type: rpz\n      file: %s\n  groups:\n    - name: all\n      clients: [ "0.0.0.0/0", "::/0" ]\n      sources: [ blocklist ]\n' \
            "$5" >>"$WORK/vigil-$1.yaml" ;;
    esac
    if (($3)); then
        printf 'dnssec:\n  validation: yes\n  trust-anchor-file: [ "%s" ]\n  aggressive-nsec: yes\n' \
            "$WORK/root.ds" >>"$WORK/vigil-$1.yaml"
    else
        printf 'dnssec:\n  validation: no\n' >>"$WORK/vigil-$1.yaml"
    fi
    # --check-config reads policy sources in full: for the 1M-rule zone that
    # takes as long as the load being measured, so that config is checked by
    # its start instead (its "policy: ... N rules" line must say all N).
    case ${5:-} in "" | empty) ;; *) return 0 ;; esac
    "$VIGIL_BIN" --check-config "$WORK/vigil-$1.yaml" >/dev/null || die "vigil --check-config failed for vigil-$1.yaml"
}
# unbound_conf NAME THREADS VALIDATE(0/1) [PORT RPZ]: with RPZ (the policy
# case) the respip module is loaded; RPZ "none" = no rpz: clause, otherwise
# the zone file of an rpz: clause.
unbound_conf() {
    local modules='"iterator"' anchor="" pidf="$WORK/unbound.pid"
    if (($3)); then
        modules='"validator iterator"'
        anchor="trust-anchor-file: \"$WORK/root.ds\""
    fi
    if [[ -n ${5:-} ]]; then
        modules='"respip iterator"'
        pidf="$WORK/unbound-$1.pid"   # two instances run side by side
    fi
    cat >"$WORK/unbound-$1.conf" <<EOF
server:
    verbosity: 0
    num-threads: $2
    interface: 127.0.0.1@${4:-$UNBOUND_PORT}
    access-control: 127.0.0.0/8 allow
    do-ip6: no
    so-reuseport: yes
    chroot: ""
    username: ""
    directory: "$WORK"
    pidfile: "$pidf"
    logfile: "$WORK/unbound.log"
    use-syslog: no
    root-hints: "$WORK/root.hints"
    do-not-query-localhost: no
    module-config: $modules
    ${anchor:-# no trust anchor: no validation}
    aggressive-nsec: yes
    qname-minimisation: yes
    minimal-responses: yes
    msg-cache-size: 85m
    rrset-cache-size: 171m
remote-control:
    control-enable: no
EOF
    if [[ -n ${5:-} && $5 != none ]]; then
        printf 'rpz:\n    name: %s\n    zonefile: "%s"\n' "$POL_ZONE" "$5" >>"$WORK/unbound-$1.conf"
        return 0 # unbound-checkconf loads the zone (~10 s for 1M rules); its start checks it
    fi
    unbound-checkconf "$WORK/unbound-$1.conf" >/dev/null || die "unbound-checkconf failed"
}
if [[ $VIGIL_BIN != skip ]]; then
    vigil_conf 1 1 0
    vigil_conf 2 2 0
    vigil_conf sec 1 1
    if ((HOSTILE)); then
        vigil_conf atk 1 1
        vigil_conf soak 1 1
        sed -i "s/^  size: 256M/  size: ${SOAK_CACHE}M/" "$WORK/vigil-soak.yaml"
        grep -q "^  size: ${SOAK_CACHE}M" "$WORK/vigil-soak.yaml" || die "vigil-soak.yaml: cache size not set"
    fi
    if ((RUN_POL)); then
        vigil_conf polnone 1 0 "$VIGIL_PORT" empty
        vigil_conf polrules 1 0 "$VIGIL_POL_PORT" "$WORK/policy.rpz"
    fi
fi
# The tls case: vigil's DoT/DoH keys (server.listen-tls / listen-https, tls:,
# http:); a vigil that does not know them yet is skipped, not failed.  Its
# connection caps and idle timeout are raised as Unbound's are for (t3):
# tlsconn holds BENCH_IDLE_CONNS connections from 100 source addresses.
VIGIL_TLS=0
if ((RUN_TLS)) && [[ $VIGIL_BIN != skip ]]; then
    vigil_conf tls 1 0
    cat >>"$WORK/vigil-tls.yaml" <<EOF
tls:
  certificate: $WORK/tls.pem
  key: $WORK/tls.key
http:
  path: /dns-query
EOF
    sed -i "s|^  listen: \[ \"127.0.0.1@$VIGIL_PORT\" \]\$|&\\n  listen-tls: [ \"127.0.0.1@$VIGIL_DOT_PORT\" ]\\n  listen-https: [ \"127.0.0.1@$VIGIL_DOH_PORT\" ]\\n  tcp-max-connections: $((IDLE_CONNS + 100))\\n  tcp-max-connections-per-worker: $((IDLE_CONNS + 100))\\n  max-connections-per-address: 0\\n  tcp-idle-timeout: 300000|" "$WORK/vigil-tls.yaml"
    if "$VIGIL_BIN" --check-config "$WORK/vigil-tls.yaml" >"$WORK/vigil-tls.check" 2>&1; then
        VIGIL_TLS=1
    else
        log "vigil's DoT/DoH not measured: --check-config refuses the tls config ($(head -1 "$WORK/vigil-tls.check"))"
    fi
fi
# unbound_tls_conf NAME MODE: "serve" = UDP (warm-up) + DoT + DoH; "idle" = DoT
# only, with room for BENCH_IDLE_CONNS connections (Unbound needs a file
# descriptor per possible connection per interface, and the hard limit may
# be 20000) and an idle timeout longer than the (t3) run.
unbound_tls_conf() {
    local f="$WORK/unbound-$1.conf" ntcp=$((IDLE_CONNS + 100))
    sed -e '/^remote-control:/,$d' -e '/^    interface:/d' "$WORK/unbound-1.conf" >"$f"
    if [[ $2 == serve ]]; then
        printf '    interface: 127.0.0.1@%s\n    interface: 127.0.0.1@%s\n    interface: 127.0.0.1@%s\n    https-port: %s\n    http-endpoint: "/dns-query"\n    incoming-num-tcp: 100\n' \
            "$UNBOUND_PORT" "$UNBOUND_DOT_PORT" "$UNBOUND_DOH_PORT" "$UNBOUND_DOH_PORT" >>"$f"
    else
        printf '    interface: 127.0.0.1@%s\n    incoming-num-tcp: %d\n    outgoing-range: 256\n    tcp-idle-timeout: 300000\n' \
            "$UNBOUND_DOT_PORT" "$ntcp" >>"$f"
    fi
    cat >>"$f" <<EOF
    tls-port: $UNBOUND_DOT_PORT
    tls-service-key: "$WORK/tls.key"
    tls-service-pem: "$WORK/tls.pem"
remote-control:
    control-enable: no
EOF
    unbound-checkconf "$f" >/dev/null || die "unbound-checkconf failed for $f"
}
unbound_conf 1 1 0
unbound_conf 2 2 0
unbound_conf sec 1 1
((!HOSTILE)) || unbound_conf atk 1 1
if ((RUN_TLS)); then
    unbound_tls_conf tls serve
    unbound_tls_conf tls-idle idle
fi
if ((RUN_POL)); then
    unbound_conf polnone 1 0 "$UNBOUND_PORT" none
    unbound_conf polrules 1 0 "$UNBOUND_POL_PORT" "$WORK/policy.rpz"
fi

# ------------------------------------------------------------ measurements
# Cached-answer tests (a) and (b) for server S on PORT, process PID NAME.
# warm_up TAG PORT: two passes over the cached names: the first resolves,
# the second must be pure cache hits; check that every answer was NOERROR.
warm_up() {
    local tag=$1 port=$2 good n
    n=$((2 * $(wc -l <"$WORK/cached.q")))
    dp "$WORK/$tag" "$GEN_CPU" "$port" -d "$WORK/cached.q" -n 2 -q 20 -l 30 -t 3
    $PY stats "$tag" "$WORK/$tag" >>"$KV" || true
    good=$(get "$tag.noerror")
    good=${good%.*}
    if [[ ${good:-0} -ne $n ]]; then
        warn "$tag" "$tag: warm-up got ${good:-0} NOERROR of $n (see $WORK/$tag)"
    fi
}
cached_tests() { # S PORT NAME warm(0/1)
    local s=$1 port=$2 warm=$4 pid=${PID[$3]} q
    ((!warm)) || warm_up "$s.warm" "$port"
    log "$s (a) saturated cached, ${SECS}s: dnsperf $SAT_ARGS"
    attempt "$s.a" run_a "$s" "$port" "$pid"
    log "$s (a) latency, saturated, with -v, ${LAT_SECS}s"
    attempt "$s.alat" run_alat "$s" "$port" "$pid"
    log "$s (b) fixed rate $RATE q/s, ${SECS}s"
    attempt "$s.b" run_b "$s" "$port" "$pid"
    q=$(get "$s.b.qps")
    q=${q%.*}
    if ((${q:-0} < RATE * 97 / 100)); then
        warn "$s.b.rate" "$s (b): offered $RATE q/s but only ${q:-0} answered/s were achieved (generator or server limit); CPU/answer is at that rate"
    fi
}

# One attempt of each cached-answer measurement: S PORT PID.
run_a() {
    local s=$1 port=$2 pid=$3 t0 t1 rt
    t0=$($PY cpu "$pid")
    # shellcheck disable=SC2086
    dp "$WORK/$s.a" "$GEN_CPU" "$port" -d "$WORK/cached.q" -t 1 -l "$SECS" $SAT_ARGS
    t1=$($PY cpu "$pid")
    $PY stats "$s.a" "$WORK/$s.a" >>"$KV" || warn "$s.a" "$s (a): dnsperf output unparsable"
    gen_pct "$s.a" "$WORK/$s.a"
    fg_end "$s.a" $((t1 - t0))
    rt=$(get "$s.a.runtime")
    [[ -z $rt ]] || kv "$s.a.server_cpu_pct" "$(pct $((t1 - t0)) "$rt")"
}
run_alat() {
    local s=$1 port=$2 pid=$3 t0 t1
    t0=$($PY cpu "$pid")
    # shellcheck disable=SC2086
    dp "$WORK/$s.alat" "$GEN_CPU" "$port" -d "$WORK/cached.q" -t 1 -l "$LAT_SECS" -v $SAT_ARGS
    t1=$($PY cpu "$pid")
    $PY lat "$s.alat" "$WORK/$s.alat" >>"$KV" || warn "$s.alat" "$s (a): no latency lines"
    $PY stats "$s.alatrun" "$WORK/$s.alat" >>"$KV" || true
    rm -f "$WORK/$s.alat"
    fg_end "$s.alat" $((t1 - t0))
}
run_b() {
    local s=$1 port=$2 pid=$3 t0 t1
    t0=$($PY cpu "$pid")
    # shellcheck disable=SC2086
    dp "$WORK/$s.b" "$GEN_CPU" "$port" -d "$WORK/cached.q" -t 1 -l "$SECS" -Q "$RATE" $RATE_ARGS
    t1=$($PY cpu "$pid")
    kv "$s.b.cpu_ticks" "$((t1 - t0))"
    $PY stats "$s.b" "$WORK/$s.b" >>"$KV" || warn "$s.b" "$s (b): dnsperf output unparsable"
    gen_pct "$s.b" "$WORK/$s.b"
    fg_end "$s.b" $((t1 - t0))
}

# Cache-miss test (c) and memory (d).
miss_tests() { # S PORT NAME QFILE
    local s=$1 port=$2 name=$3 qf=$4 pid=${PID[$3]} r0 r1 a0 a1 rt ap rss hwm
    log "$s (c) cache-miss, $(wc -l <"$qf") names: dnsperf -n 1 $MISS_ARGS"
    r0=$($PY cpu "$pid")
    a0=$($PY cpu "${PID[nsd-bench]}")
    # shellcheck disable=SC2086
    dp "$WORK/$s.c" "$GEN_CPU" "$port" -d "$qf" -n 1 -l 30 -t 3 $MISS_ARGS
    r1=$($PY cpu "$pid")
    a1=$($PY cpu "${PID[nsd-bench]}")
    $PY stats "$s.c" "$WORK/$s.c" >>"$KV" || warn "$s.c" "$s (c): dnsperf output unparsable"
    gen_pct "$s.c" "$WORK/$s.c"
    fg_end "$s.c" $((r1 - r0)) $((a1 - a0))
    fg_warn "$s.c"
    rt=$(get "$s.c.runtime")
    if [[ -n $rt ]]; then
        kv "$s.c.server_cpu_pct" "$(pct $((r1 - r0)) "$rt")"
        ap=$(pct $((a1 - a0)) "$rt")
        kv "$s.c.auth_cpu_pct" "$ap"
        if [[ $ap != n/a ]] && ((ap >= 80)); then
            warn "$s.c.auth" "$s (c): authoritative NSD used ${ap}% of a core; it may be the bottleneck"
        fi
    fi
    read -r rss hwm < <($PY mem "$pid")
    kv "$s.d.rss_kb" "$rss"
    kv "$s.d.hwm_kb" "$hwm"
}

# Saturated cached test with 2 threads on shared cores (a2).
two_thread_test() { # S PORT NAME
    local s=$1 port=$2 pid=${PID[$3]} t0 t1
    dp "$WORK/$s.warm2" "$BOTH_CPUS" "$port" -d "$WORK/cached.q" -n 2 -q 20 -l 30 -t 3
    log "$s (a2) 2 threads, saturated cached, ${SECS}s: dnsperf $SAT2_ARGS (all on cores $BOTH_CPUS)"
    t0=$($PY cpu "$pid")
    # shellcheck disable=SC2086
    dp "$WORK/$s.a2" "$BOTH_CPUS" "$port" -d "$WORK/cached.q" -t 1 -l "$SECS" $SAT2_ARGS
    t1=$($PY cpu "$pid")
    $PY stats "$s.a2" "$WORK/$s.a2" >>"$KV" || warn "$s.a2" "$s (a2): dnsperf output unparsable"
    gen_pct "$s.a2" "$WORK/$s.a2"
    fg_end "$s.a2" $((t1 - t0))
    fg_warn "$s.a2"
}

# ------------------------------------------------------------ (l) fixed-rate load
# All servers of the group are up at once (each pinned to SRV_CPU, the idle
# ones sleeping), so that each round measures them back to back: the load
# from other sessions changes by the minute, and p99 moves with it.
declare -A LPORT=([canned]=$CANNED_PORT [vigil]=$VIGIL_PORT [unbound]=$UNBOUND_PORT)
# System calls counted in the separate counting run (raw_syscalls = all).
SYSC_EVENTS="raw_syscalls:sys_enter syscalls:sys_enter_recvmmsg syscalls:sys_enter_sendmmsg
 syscalls:sys_enter_recvfrom syscalls:sys_enter_sendto syscalls:sys_enter_recvmsg
 syscalls:sys_enter_sendmsg syscalls:sys_enter_epoll_wait syscalls:sys_enter_epoll_pwait
 syscalls:sys_enter_read syscalls:sys_enter_write"

# load_tests S...: LOAD_ROUNDS rounds; in each, for every RATE:SECONDS of
# LOAD_PLAN, every server S (order rotated by round) gets one run_l. Then
# one system-call counting run per server, and the medians (bench.py loadsum).
load_tests() {
    local servers=("$@") n=$# r i s item rate secs q tag
    for ((r = 1; r <= LOAD_ROUNDS; r++)); do
        for item in $LOAD_PLAN; do
            rate=${item%%:*} secs=${item#*:}
            for ((i = 0; i < n; i++)); do
                s=${servers[(i + r - 1) % n]}
                tag=$s.l$rate.r$r
                log "$s (l) round $r/$LOAD_ROUNDS: cached, -Q $rate -v, ${secs}s"
                attempt "$tag" run_l "$tag" "$s" "$rate" "$secs"
                q=$(get "$tag.qps")
                q=${q%.*}
                if ((${q:-0} < rate * 97 / 100)); then
                    warn "$tag.rate" "$s (l) round $r: offered $rate q/s but only ${q:-0} answered/s were achieved"
                fi
                q=$(get "$tag.lost")
                q=${q%.*}
                if ((${q:-0} * 1000 > rate * secs)); then
                    warn "$tag.lost" "$s (l) round $r at $rate q/s: ${q} queries lost (> 0.1%); latencies are of the answered ones"
                fi
            done
        done
    done
    if ((SYSC_OK)); then
        for s in "${servers[@]}"; do
            tag=$s.l$SYSC_RATE.sysc
            log "$s (l) system calls counted at -Q $SYSC_RATE, ${SYSC_SECS}s (own run, not timed)"
            attempt "$tag" run_sysc "$tag" "$s"
        done
    fi
    for s in "${servers[@]}"; do
        $PY loadsum "$KV" "$s" >"$WORK/$s.loadsum" && cat "$WORK/$s.loadsum" >>"$KV"
    done
}
# One fixed-rate run: TAG S RATE SECONDS. utime+stime (ticks) and context
# switches of the server (all its threads) before/after; dnsperf -v prints
# one line per answer with its latency (bench.py lat); the summary gives the
# mean. dnsperf's own -v writes go to a file on GEN_CPU.
run_l() {
    local tag=$1 s=$2 rate=$3 secs=$4 pid=${PID[lat-$2]} t0 t1 v0 v1 n0 n1
    read -r t0 v0 n0 < <($PY sched "$pid")
    # shellcheck disable=SC2086
    dp "$WORK/$tag" "$GEN_CPU" "${LPORT[$s]}" -d "$WORK/cached.q" -t 1 -l "$secs" -v -Q "$rate" $RATE_ARGS
    read -r t1 v1 n1 < <($PY sched "$pid")
    kv "$tag.cpu_ticks" $((t1 - t0))
    kv "$tag.vcsw" $((v1 - v0))
    kv "$tag.nvcsw" $((n1 - n0))
    $PY stats "$tag" "$WORK/$tag" >>"$KV" || warn "$tag" "$tag: dnsperf output unparsable"
    $PY lat "$tag.lat" "$WORK/$tag" >>"$KV" || warn "$tag.lat" "$tag: no latency lines"
    gen_pct "$tag" "$WORK/$tag"
    rm -f "$WORK/$tag"
    fg_end "$tag" $((t1 - t0))
}
# lat_start S TAG PORT WARM CMD...: start server S as lat-S on the server
# CPU, record S.TAG.status, fill its cache first when WARM is 1, and add S
# to LAT_UP when it answers. For the cases whose servers run side by side.
LAT_UP=()
lat_start() {
    local s=$1 tag=$2 port=$3 warm=$4
    shift 4
    start "lat-$s" "$SRV_CPU" "$@"
    if wait_ready "lat-$s" 127.0.0.1 "$port" c0.bench; then
        kv "$s.$tag.status" ok
        ((!warm)) || warm_up "$s.${tag}warm" "$port"
        LAT_UP+=("$s")
    else
        kv "$s.$tag.status" failed
        warn "$s.$tag" "$s failed to start or answer; see $WORK/lat-$s.out"
        [[ $s != vigil ]] || vigil_failed=1
    fi
}
# lat_resolvers TAG: vigil (1 worker; not with VIGIL_BIN=skip) and Unbound
# (1 thread), each by lat_start, caches filled.
lat_resolvers() {
    if [[ $VIGIL_BIN == skip ]]; then
        kv "vigil.$1.status" skipped
    else
        lat_start vigil "$1" "$VIGIL_PORT" 1 "$VIGIL_BIN" -c "$WORK/vigil-1.yaml"
    fi
    lat_start unbound "$1" "$UNBOUND_PORT" 1 unbound -d -c "$WORK/unbound-1.conf"
}
# lat_stop TAG S...: note a vigil that died during the runs, stop each lat-S.
lat_stop() {
    local tag=$1 s
    shift
    if [[ -n ${PID[lat-vigil]:-} ]] && ! kill -0 "${PID[lat-vigil]}" 2>/dev/null; then
        warn "vigil.$tag.died" "vigil exited during the side-by-side runs ($tag)"
        vigil_failed=1
    fi
    for s in "$@"; do stop_one "lat-$s"; done
}

# pair_tests S...: (m), paired slices. The CPU one answer costs at a fixed
# rate moves by up to half between runs a minute apart on this VM (the host's
# state: the same server, the same load), which a median of 3 rounds cannot
# hide when each server runs in a different minute. Here each round gives
# every server one short slice (PAIR_SECS) at each rate of PAIR_RATES,
# back to back (order rotated by round), and bench.py pairsum takes, per
# round, the ratio of each server's CPU per answer to Unbound's in the same
# round: the median of those ratios is what the report compares. CPU is the
# scheduler's run time in ns (/proc/PID/task/*/schedstat), not 10 ms ticks.
pair_tests() {
    local servers=("$@") n=$# r i s rate tag
    kv meta.pair_rates "${PAIR_RATES// /,}"
    kv meta.pair_rounds "$PAIR_ROUNDS"
    kv meta.pair_secs "$PAIR_SECS"
    for ((r = 1; r <= PAIR_ROUNDS; r++)); do
        for rate in $PAIR_RATES; do
            log "(m) round $r/$PAIR_ROUNDS: ${PAIR_SECS}s at -Q $rate for ${servers[*]}"
            for ((i = 0; i < n; i++)); do
                s=${servers[(i + r - 1) % n]}
                tag=$s.m$rate.r$r
                run_pair "$tag" "$s" "$rate"
                fg_warn "$tag"
            done
        done
    done
    $PY pairsum "$KV" >"$WORK/pairsum" && cat "$WORK/pairsum" >>"$KV"
}
# One slice: TAG S RATE. dnsperf without -v (its output costs nothing).
run_pair() {
    local tag=$1 s=$2 rate=$3 pid=${PID[lat-$2]} t0 t1
    t0=$($PY schedns "$pid")
    # shellcheck disable=SC2086
    dp "$WORK/$tag" "$GEN_CPU" "${LPORT[$s]}" -d "$WORK/cached.q" -t 1 -l "$PAIR_SECS" -Q "$rate" $RATE_ARGS
    t1=$($PY schedns "$pid")
    kv "$tag.cpu_ns" $((t1 - t0))
    $PY stats "$tag" "$WORK/$tag" >>"$KV" || warn "$tag" "$tag: dnsperf output unparsable"
    rm -f "$WORK/$tag"
    fg_end "$tag" $(((t1 - t0) * TCK / 1000000000))
}
# The system-call counting run: TAG S. bench/sysc counts the server's
# system calls (tracepoints, per thread) while dnsperf runs, without -v.
run_sysc() {
    local tag=$1 s=$2 pid=${PID[lat-$2]} t0 t1 ev c
    t0=$($PY cpu "$pid")
    # shellcheck disable=SC2206
    DP_PRE=("$WORK/sysc" "$pid" "$WORK/$tag.count" $SYSC_EVENTS --)
    # shellcheck disable=SC2086
    dp "$WORK/$tag" "$GEN_CPU" "${LPORT[$s]}" -d "$WORK/cached.q" -t 1 -l "$SYSC_SECS" -Q "$SYSC_RATE" $RATE_ARGS
    DP_PRE=()
    t1=$($PY cpu "$pid")
    $PY stats "$tag" "$WORK/$tag" >>"$KV" || warn "$tag" "$tag: dnsperf output unparsable"
    if [[ -s $WORK/$tag.count ]]; then
        while read -r ev c; do
            ev=${ev#*:}
            ev=${ev#sys_enter}
            [[ -n $ev ]] || ev=all # raw_syscalls:sys_enter: every system call
            kv "$tag.calls.${ev#_}" "$c"
        done <"$WORK/$tag.count"
    else
        warn "$tag" "$tag: the system-call counter wrote nothing (see $WORK/$tag)"
    fi
    fg_end "$tag" $((t1 - t0))
}

# ------------------------------------------------------------ DNSSEC case
# sec_tests S PORT NAME QFILE: the validating resolver S (process NAME) on
# PORT. Warm-up over the signed cached names (DO=1), the AD sanity check,
# (f) saturated DO=1 cached, (g) CPU per answer at a fixed DO=1 rate, (e)
# signed cache misses, an AD check over a sample of the names just resolved,
# (h) memory. Returns 1 (and records S.sec.status failed) if the resolver
# does not validate: figures of a resolver that does not validate mean nothing.
sec_tests() {
    local s=$1 port=$2 name=$3 qf=$4 pid=${PID[$3]} n good q
    n=$(wc -l <"$WORK/sec-cached.q")
    dp "$WORK/$s.swarm" "$GEN_CPU" "$port" -D -d "$WORK/sec-cached.q" -n 2 -q 20 -l 30 -t 3
    $PY stats "$s.swarm" "$WORK/$s.swarm" >>"$KV" || true
    good=$(get "$s.swarm.noerror")
    good=${good%.*}
    if [[ ${good:-0} -ne $((2 * n)) ]]; then
        warn "$s.swarm" "$s (dnssec): warm-up got ${good:-0} NOERROR of $((2 * n)) (see $WORK/$s.swarm)"
    fi
    log "$s (dnssec) AD check: $(wc -l <"$WORK/sec-check.q") names, DO=1 (secure: AD + RRSIG; bogus: SERVFAIL; insecure: no AD)"
    if ! $PY adcheck "$s.adcheck" 127.0.0.1 "$port" "$WORK/sec-check.q" >>"$KV" 2>"$WORK/$s.adcheck.err"; then
        sed "s/^/[bench]   /" "$WORK/$s.adcheck.err" >&"$LOGFD"
        kv "$s.sec.status" failed
        warn "$s.adcheck" "$s (dnssec): DOES NOT VALIDATE as expected ($(get "$s.adcheck.fail") of $(get "$s.adcheck.n") sample answers wrong, see above): DNSSEC figures not measured"
        return 1
    fi
    log "$s (f) saturated cached DO=1, ${SECS}s: dnsperf -D $SAT_ARGS"
    attempt "$s.f" run_f "$s" "$port" "$pid"
    log "$s (g) fixed rate $SEC_RATE q/s DO=1, ${SECS}s"
    attempt "$s.g" run_g "$s" "$port" "$pid"
    q=$(get "$s.g.qps")
    q=${q%.*}
    if ((${q:-0} < SEC_RATE * 97 / 100)); then
        warn "$s.g.rate" "$s (g): offered $SEC_RATE q/s but only ${q:-0} answered/s were achieved; CPU/answer is at that rate"
    fi
    run_e "$s" "$port" "$pid" "$qf"
    log "$s (dnssec) AD check over 200 of the names just resolved (now cached)"
    if ! $PY adcheck "$s.eadcheck" 127.0.0.1 "$port" "$qf" 200 >>"$KV" 2>"$WORK/$s.eadcheck.err"; then
        sed "s/^/[bench]   /" "$WORK/$s.eadcheck.err" | head -20 >&"$LOGFD"
        kv "$s.sec.status" failed
        warn "$s.eadcheck" "$s (e): $(get "$s.eadcheck.fail") of $(get "$s.eadcheck.n") resolved names are not secure (AD + RRSIG)"
        return 1
    fi
    kv "$s.sec.status" ok
}
run_f() {
    local s=$1 port=$2 pid=$3 t0 t1 rt
    t0=$($PY cpu "$pid")
    # shellcheck disable=SC2086
    dp "$WORK/$s.f" "$GEN_CPU" "$port" -D -d "$WORK/sec-cached.q" -t 1 -l "$SECS" $SAT_ARGS
    t1=$($PY cpu "$pid")
    $PY stats "$s.f" "$WORK/$s.f" >>"$KV" || warn "$s.f" "$s (f): dnsperf output unparsable"
    gen_pct "$s.f" "$WORK/$s.f"
    fg_end "$s.f" $((t1 - t0))
    rt=$(get "$s.f.runtime")
    [[ -z $rt ]] || kv "$s.f.server_cpu_pct" "$(pct $((t1 - t0)) "$rt")"
}
run_g() {
    local s=$1 port=$2 pid=$3 t0 t1
    t0=$($PY cpu "$pid")
    # shellcheck disable=SC2086
    dp "$WORK/$s.g" "$GEN_CPU" "$port" -D -d "$WORK/sec-cached.q" -t 1 -l "$SECS" -Q "$SEC_RATE" $RATE_ARGS
    t1=$($PY cpu "$pid")
    kv "$s.g.cpu_ticks" "$((t1 - t0))"
    $PY stats "$s.g" "$WORK/$s.g" >>"$KV" || warn "$s.g" "$s (g): dnsperf output unparsable"
    gen_pct "$s.g" "$WORK/$s.g"
    fg_end "$s.g" $((t1 - t0))
}
# (e) signed cache misses, then (h) memory: like (c), DO=1, auth = leaf NSD.
run_e() {
    local s=$1 port=$2 pid=$3 qf=$4 r0 r1 a0 a1 rt ap rss hwm
    log "$s (e) signed cache-miss, $(wc -l <"$qf") names, DO=1: dnsperf -D -n 1 $MISS_ARGS"
    r0=$($PY cpu "$pid")
    a0=$($PY cpu "${PID[nsd-leaf]}")
    # shellcheck disable=SC2086
    dp "$WORK/$s.e" "$GEN_CPU" "$port" -D -d "$qf" -n 1 -l 30 -t 3 $MISS_ARGS
    r1=$($PY cpu "$pid")
    a1=$($PY cpu "${PID[nsd-leaf]}")
    $PY stats "$s.e" "$WORK/$s.e" >>"$KV" || warn "$s.e" "$s (e): dnsperf output unparsable"
    gen_pct "$s.e" "$WORK/$s.e"
    fg_end "$s.e" $((r1 - r0)) $((a1 - a0))
    fg_warn "$s.e"
    rt=$(get "$s.e.runtime")
    if [[ -n $rt ]]; then
        kv "$s.e.server_cpu_pct" "$(pct $((r1 - r0)) "$rt")"
        ap=$(pct $((a1 - a0)) "$rt")
        kv "$s.e.auth_cpu_pct" "$ap"
        if [[ $ap != n/a ]] && ((ap >= 80)); then
            warn "$s.e.auth" "$s (e): authoritative NSD used ${ap}% of a core; it may be the bottleneck"
        fi
    fi
    read -r rss hwm < <($PY mem "$pid")
    kv "$s.h.rss_kb" "$rss"
    kv "$s.h.hwm_kb" "$hwm"
}

# ------------------------------------------------------------ policy case
pol_desc() { if [[ $1 == none ]]; then echo "without rules"; else echo "with $POL_RULES rules"; fi; }
# pol_load S V NAME PORT CMD...: start NAME (variant V: none | rules) pinned
# to the server CPU and time it from just before its start until its first
# answer to c0.bench (any answer: it is serving), polled every 10 ms, and for
# vigil until its "policy: ... N rules" log line. The poller is started
# first and told T0 and the PID through a file, so that its own start-up
# (Python, ~30-300 ms) is not counted. Then the CPU time the server has used
# (its load; it has answered one query) and VmRSS / VmHWM at that moment.
pol_load() {
    local s=$1 v=$2 name=$3 port=$4 t0 ticks rss hwm lp i rc=0
    shift 4
    rm -f "$WORK/$name.go" "$WORK/$name.go.ready"
    $PY loadtime "$s.pol.$v" "$WORK/$name.go" 127.0.0.1 "$port" c0.bench "$POL_LOAD_MAX" \
        "$WORK/$name.out" >"$WORK/$name.loadtime" &
    lp=$!
    for ((i = 0; i < 200; i++)); do
        [[ -e $WORK/$name.go.ready ]] && break
        sleep 0.05
    done
    t0=$EPOCHREALTIME
    start "$name" "$SRV_CPU" "$@"
    echo "$t0 ${PID[$name]}" >"$WORK/$name.go.tmp"
    mv "$WORK/$name.go.tmp" "$WORK/$name.go"
    wait "$lp" || rc=$?
    cat "$WORK/$name.loadtime" >>"$KV"
    if ((rc)); then
        kv "$s.pol.$v.status" failed
        warn "$s.pol.$v" "$s ($(pol_desc "$v")): no answer within $POL_LOAD_MAX s of its start ($(get "$s.pol.$v.error")); see $WORK/$name.out"
        tail -n 5 "$WORK/$name.out" >&"$LOGFD" || true
        return 1
    fi
    ticks=$($PY cpu "${PID[$name]}")
    kv "$s.pol.$v.load_cpu_s" "$(awk -v t="$ticks" -v h="$TCK" 'BEGIN{printf "%.2f", t/h}')"
    read -r rss hwm < <($PY mem "${PID[$name]}")
    kv "$s.pol.$v.rss_kb" "$rss"
    kv "$s.pol.$v.hwm_kb" "$hwm"
    kv "$s.pol.$v.status" ok
    log "$s ($(pol_desc "$v")): first answer $(get "$s.pol.$v.answer_s") s after start, CPU $(get "$s.pol.$v.load_cpu_s") s, VmRSS $((rss / 1024)) MiB, VmHWM $((hwm / 1024)) MiB"
}

# pol_tests S NAME_NONE PORT_NONE NAME_RULES PORT_RULES MODE: both instances
# are up. Warm-up (two passes over the cached names, all NOERROR), the
# blocking check (bench.py polcheck MODE on the rules instance, "none" on the
# other), then POL_ROUNDS rounds of (p3a) saturated cached qps and (p3b) CPU
# per answer at a fixed rate, without and with the rules, the order
# alternating between rounds. Returns 1 (S.pol.status failed) if the rules
# do not block as they should: then nothing is measured.
pol_tests() {
    local s=$1 nn=$2 pn=$3 nr=$4 pr=$5 mode=$6 v r name port good n order q rss hwm
    n=$(wc -l <"$WORK/cached.q")
    for v in none rules; do
        if [[ $v == none ]]; then name=$nn port=$pn; else name=$nr port=$pr; fi
        dp "$WORK/$s.pol.$v.warm" "$GEN_CPU" "$port" -d "$WORK/cached.q" -n 2 -q 20 -l 30 -t 3
        $PY stats "$s.pol.$v.warm" "$WORK/$s.pol.$v.warm" >>"$KV" || true
        good=$(get "$s.pol.$v.warm.noerror")
        good=${good%.*}
        if [[ ${good:-0} -ne $((2 * n)) ]]; then
            warn "$s.pol.$v.warm" "$s ($(pol_desc "$v")): warm-up got ${good:-0} NOERROR of $((2 * n)) (see $WORK/$s.pol.$v.warm)"
        fi
    done
    log "$s (p4) policy check: $(grep -c ' blocked$' "$WORK/pol-check.q") names that rules block, $(grep -c ' notblocked$' "$WORK/pol-check.q") that none does (parents of \"*.\" rules), $(grep -c ' pass$' "$WORK/pol-check.q") cached names"
    if ! $PY polcheck "$s.pol.check" 127.0.0.1 "$pr" "$WORK/pol-check.q" "$POL_ZONE" "$mode" \
        >>"$KV" 2>"$WORK/$s.pol.check.err"; then
        sed "s/^/[bench]   /" "$WORK/$s.pol.check.err" | head -20 >&"$LOGFD"
        kv "$s.pol.status" failed
        warn "$s.pol.check" "$s (p4): with the rules, $(get "$s.pol.check.fail") of $(get "$s.pol.check.n") sample answers wrong (see above): throughput not measured"
        return 1
    fi
    if ! $PY polcheck "$s.pol.nocheck" 127.0.0.1 "$pn" "$WORK/pol-check.q" "$POL_ZONE" none \
        >>"$KV" 2>"$WORK/$s.pol.nocheck.err"; then
        sed "s/^/[bench]   /" "$WORK/$s.pol.nocheck.err" | head -20 >&"$LOGFD"
        kv "$s.pol.status" failed
        warn "$s.pol.nocheck" "$s (p4): WITHOUT rules, $(get "$s.pol.nocheck.fail") of $(get "$s.pol.nocheck.n") sample answers wrong (see above): throughput not measured"
        return 1
    fi
    for ((r = 1; r <= POL_ROUNDS; r++)); do
        order="none rules"
        ((r % 2)) || order="rules none"
        for v in $order; do
            if [[ $v == none ]]; then name=$nn port=$pn; else name=$nr port=$pr; fi
            log "$s (p3) round $r/$POL_ROUNDS, $(pol_desc "$v"): saturated cached ${POL_SECS}s, then -Q $RATE ${POL_SECS}s"
            attempt "$s.pol.$v.a$r" run_pa "$s.pol.$v.a$r" "$port" "${PID[$name]}"
            attempt "$s.pol.$v.b$r" run_pb "$s.pol.$v.b$r" "$port" "${PID[$name]}"
            q=$(get "$s.pol.$v.b$r.qps")
            q=${q%.*}
            if ((${q:-0} < RATE * 97 / 100)); then
                warn "$s.pol.$v.b$r.rate" "$s ($(pol_desc "$v"), round $r): offered $RATE q/s but only ${q:-0} answered/s were achieved; CPU/answer is at that rate"
            fi
        done
    done
    for v in none rules; do
        if [[ $v == none ]]; then name=$nn; else name=$nr; fi
        read -r rss hwm < <($PY mem "${PID[$name]}")
        kv "$s.pol.$v.rss_after_kb" "$rss"
        kv "$s.pol.$v.hwm_after_kb" "$hwm"
    done
    kv "$s.pol.status" ok
    $PY polsum "$KV" "$s" >"$WORK/$s.polsum" && cat "$WORK/$s.polsum" >>"$KV"
}
# extra_ticks: CPU ticks of helper processes a case runs beside the server
# (the observe case's dnstap readers): not counted as foreign load.
extra_ticks() { echo 0; }
# One attempt of (p3a) / (p3b): TAG PORT PID.
run_pa() {
    local tag=$1 port=$2 pid=$3 t0 t1 rt x0 x1
    t0=$($PY cpu "$pid")
    x0=$(extra_ticks)
    # shellcheck disable=SC2086
    dp "$WORK/$tag" "$GEN_CPU" "$port" -d "$WORK/cached.q" -t 1 -l "$POL_SECS" $SAT_ARGS
    t1=$($PY cpu "$pid")
    x1=$(extra_ticks)
    $PY stats "$tag" "$WORK/$tag" >>"$KV" || warn "$tag" "$tag: dnsperf output unparsable"
    gen_pct "$tag" "$WORK/$tag"
    fg_end "$tag" $((t1 - t0)) $((x1 - x0))
    rt=$(get "$tag.runtime")
    [[ -z $rt ]] || kv "$tag.server_cpu_pct" "$(pct $((t1 - t0)) "$rt")"
}
run_pb() {
    local tag=$1 port=$2 pid=$3 t0 t1 x0 x1
    t0=$($PY cpu "$pid")
    x0=$(extra_ticks)
    # shellcheck disable=SC2086
    dp "$WORK/$tag" "$GEN_CPU" "$port" -d "$WORK/cached.q" -t 1 -l "$POL_SECS" -Q "$RATE" $RATE_ARGS
    t1=$($PY cpu "$pid")
    x1=$(extra_ticks)
    kv "$tag.cpu_ticks" "$((t1 - t0))"
    $PY stats "$tag" "$WORK/$tag" >>"$KV" || warn "$tag" "$tag: dnsperf output unparsable"
    gen_pct "$tag" "$WORK/$tag"
    fg_end "$tag" $((t1 - t0)) $((x1 - x0))
}

# ------------------------------------------------------------ (t) DoT / DoH
# dnsperf's transport arguments: tls_mode_args MODE(dot|doh) PORT.
tls_mode_args() {
    if [[ $1 == dot ]]; then
        echo "-m dot"
    else
        echo "-m doh -O doh-uri=https://$TLS_NAME:$2/dns-query -O doh-method=$DOH_METHOD"
    fi
}
# One attempt of (t1) saturated / (t2) fixed-rate: TAG PORT PID MODE.
run_tsat() {
    local tag=$1 port=$2 pid=$3 mode=$4 t0 t1 rt
    t0=$($PY cpu "$pid")
    # shellcheck disable=SC2046,SC2086
    dp "$WORK/$tag" "$GEN_CPU" "$port" $(tls_mode_args "$mode" "$port") -d "$WORK/cached.q" -t 2 -l "$TLS_SECS" $TLS_ARGS
    t1=$($PY cpu "$pid")
    $PY stats "$tag" "$WORK/$tag" >>"$KV" || warn "$tag" "$tag: dnsperf output unparsable (see $WORK/$tag)"
    gen_pct "$tag" "$WORK/$tag"
    fg_end "$tag" $((t1 - t0))
    rt=$(get "$tag.runtime")
    [[ -z $rt ]] || kv "$tag.server_cpu_pct" "$(pct $((t1 - t0)) "$rt")"
}
run_trate() {
    local tag=$1 port=$2 pid=$3 mode=$4 t0 t1
    t0=$($PY cpu "$pid")
    # shellcheck disable=SC2046,SC2086
    dp "$WORK/$tag" "$GEN_CPU" "$port" $(tls_mode_args "$mode" "$port") -d "$WORK/cached.q" -t 2 -l "$TLS_SECS" -Q "$TLS_RATE" $TLS_ARGS
    t1=$($PY cpu "$pid")
    kv "$tag.cpu_ticks" "$((t1 - t0))"
    $PY stats "$tag" "$WORK/$tag" >>"$KV" || warn "$tag" "$tag: dnsperf output unparsable (see $WORK/$tag)"
    gen_pct "$tag" "$WORK/$tag"
    fg_end "$tag" $((t1 - t0))
}
# (t4) new connections per second: TAG PORT PID full|resume.
run_ths() {
    local tag=$1 port=$2 pid=$3 mode=$4 t0 t1 b0 b1 w0 w1 n reused failed secs
    t0=$($PY cpu "$pid")
    b0=$(sysbusy) w0=$EPOCHREALTIME
    taskset -c "$GEN_CPU" "$WORK/tlsconn" rate 127.0.0.1 "$port" "$HS_SECS" "$HS_CONC" "$mode" >"$WORK/$tag" 2>&1 || true
    b1=$(sysbusy) w1=$EPOCHREALTIME
    t1=$($PY cpu "$pid")
    read -r _ n reused failed secs <"$WORK/$tag" || true
    if [[ -z ${secs:-} ]]; then
        warn "$tag" "$tag: tlsconn said: $(head -c 200 "$WORK/$tag")"
        FG_PCT=0
        return 0
    fi
    kv "$tag.done" "$n"
    kv "$tag.reused" "$reused"
    kv "$tag.failed" "$failed"
    kv "$tag.secs" "$secs"
    kv "$tag.cpu_ticks" "$((t1 - t0))"
    kv "$tag.server_cpu_pct" "$(pct $((t1 - t0)) "$secs")"
    # other load: busy ticks minus the server's, minus one core for the client
    # at most (it is CPU-bound on its core)
    FG_PCT=$(awk -v b=$((b1 - b0 - (t1 - t0))) -v h="$TCK" -v r="$(awk -v a="$w0" -v b="$w1" 'BEGIN{print b - a}')" \
        'BEGIN{ v = 100*(b/h)/r - 100; if (v < 0) v = 0; printf "%.0f", v }')
    kv "$tag.foreign_cpu_pct" "$FG_PCT"
}
# wait_tls NAME PORT: until a DoT query for c0.bench is answered (15 s at most).
wait_tls() {
    local name=$1 i
    for ((i = 0; i < 15; i++)); do
        if ! kill -0 "${PID[$name]}" 2>/dev/null; then
            log "$name exited during start-up; last output:"
            tail -n 20 "$WORK/$name.out" >&"$LOGFD" || true
            return 1
        fi
        $PY tlsprobe 127.0.0.1 "$2" dot 1 && return 0
    done
    return 1
}
# tls_tests S NAME UDPPORT DOTPORT DOHPORT: (t1), (t2), (t4) on a running server.
tls_tests() {
    local s=$1 name=$2 udp=$3 dot=$4 doh=$5 pid=${PID[$2]} mode port q
    warm_up "$s.twarm" "$udp"
    for mode in dot doh; do
        port=$dot
        [[ $mode == dot ]] || port=$doh
        if ! $PY tlsprobe 127.0.0.1 "$port" "$mode" 5; then
            warn "$s.t$mode" "$s: no $mode service on 127.0.0.1@$port; its $mode figures are not measured"
            continue
        fi
        log "$s (t1) $mode saturated cached, ${TLS_SECS}s: dnsperf $(tls_mode_args "$mode" "$port") $TLS_ARGS"
        attempt "$s.t$mode.a" run_tsat "$s.t$mode.a" "$port" "$pid" "$mode"
        log "$s (t2) $mode fixed rate $TLS_RATE q/s, ${TLS_SECS}s"
        attempt "$s.t$mode.b" run_trate "$s.t$mode.b" "$port" "$pid" "$mode"
        q=$(get "$s.t$mode.b.qps")
        q=${q%.*}
        if ((${q:-0} < TLS_RATE * 97 / 100)); then
            warn "$s.t$mode.b.rate" "$s (t2) $mode: offered $TLS_RATE q/s but only ${q:-0} answered/s were achieved; CPU/answer is at that rate"
        fi
    done
    for mode in full resume; do
        log "$s (t4) new DoT connections ($mode handshakes), ${HS_SECS}s, $HS_CONC in flight"
        attempt "$s.ths.$mode" run_ths "$s.ths.$mode" "$dot" "$pid" "$mode"
    done
}
# tls_idle S NAME DOTPORT: (t3) RSS before and with IDLE_CONNS idle DoT connections.
tls_idle() {
    local s=$1 name=$2 dot=$3 pid=${PID[$2]} rss0 rss1 hwm i ok failed secs open
    sleep 1
    read -r rss0 _ < <($PY mem "$pid")
    log "$s (t3) opening $IDLE_CONNS idle DoT connections"
    start "$s-hold" "$GEN_CPU" "$WORK/tlsconn" hold 127.0.0.1 "$dot" "$IDLE_CONNS" 300
    for ((i = 0; i < 2400; i++)); do
        grep -q '^ready' "$WORK/$s-hold.out" 2>/dev/null && break
        kill -0 "${PID[$s-hold]}" 2>/dev/null || break
        sleep 0.1
    done
    read -r _ ok failed secs < <(grep '^ready' "$WORK/$s-hold.out" || echo "ready")
    sleep 1
    read -r rss1 hwm < <($PY mem "$pid")
    stop_one "$s-hold"
    read -r _ open < <(grep '^open' "$WORK/$s-hold.out" || echo "open")
    if [[ -z ${ok:-} ]]; then
        warn "$s.t3" "$s (t3): the connection holder did not report (see $WORK/$s-hold.out)"
        return 0
    fi
    kv "$s.t3.rss0_kb" "$rss0"
    kv "$s.t3.rss1_kb" "$rss1"
    kv "$s.t3.hwm_kb" "$hwm"
    kv "$s.t3.ok" "$ok"
    kv "$s.t3.failed" "$failed"
    kv "$s.t3.secs" "$secs"
    kv "$s.t3.open" "${open:-0}"
    if ((ok < IDLE_CONNS)); then
        warn "$s.t3.short" "$s (t3): only $ok of $IDLE_CONNS connections were set up ($failed failed); bytes per connection are over those"
    fi
}

# The attacks, slow and soak cases (functions only).
# shellcheck source=bench/attacks.sh
. "$BENCH/attacks.sh"

# The observe case (functions only).
# shellcheck source=bench/observe.sh
. "$BENCH/observe.sh"
# shellcheck source=bench/floor.sh
. "$BENCH/floor.sh"

# How busy is the machine before we start (other sessions, builds)?
b0=$(sysbusy)
sleep 2
idle_load=$(awk -v b=$(($(sysbusy) - b0)) -v h="$TCK" 'BEGIN{printf "%.0f", 100*b/h/2}')
kv meta.idle_load_pct "$idle_load"
if ((idle_load > FOREIGN_MAX)); then
    warn "idle" "before the benchmark other processes already used ~${idle_load}% of a core; expect disturbed figures"
fi
kv meta.clk_tck "$TCK"
kv meta.rate "$RATE"
kv meta.load_plan "${LOAD_PLAN// /,}"
kv meta.load_rounds "$LOAD_ROUNDS"
kv meta.sysc_rate "$((SYSC_OK ? SYSC_RATE : 0))"
kv meta.foreign_max "$FOREIGN_MAX"
kv meta.sec_rate "$SEC_RATE"
kv meta.case "$CASE"
kv meta.pol_rules "$POL_RULES"
kv meta.pol_rounds "$POL_ROUNDS"
kv meta.tls_rate "$TLS_RATE"
kv meta.idle_conns "$IDLE_CONNS"
kv meta.atk_list "${ATK_LIST// /,}"
kv meta.atk_auth "$ATK_AUTH"
kv meta.atk_rounds "$ATK_ROUNDS"
kv meta.atk_benign_rate "$ATK_BENIGN_RATE"
kv meta.obs_rounds "$OBS_ROUNDS"
kv meta.obs_rate "$OBS_RATE"
started=$(date +%s)
vigil_failed=0

if ((RUN_BASE)); then
    # Ceiling: canned responder.
    start canned "$SRV_CPU" "$WORK/canned" "$CANNED_PORT"
    if wait_ready canned 127.0.0.1 "$CANNED_PORT" c0.bench; then
        kv canned.status ok
        cached_tests canned "$CANNED_PORT" canned 0
    else
        kv canned.status failed
        warn canned "canned responder failed to start"
    fi
    stop_one canned

    if [[ $VIGIL_BIN == skip ]]; then
        kv vigil.status skipped
    else
        start vigil "$SRV_CPU" "$VIGIL_BIN" -c "$WORK/vigil-1.yaml"
        if wait_ready vigil 127.0.0.1 "$VIGIL_PORT" c0.bench; then
            kv vigil.status ok
            cached_tests vigil "$VIGIL_PORT" vigil 1
            miss_tests vigil "$VIGIL_PORT" vigil "$WORK/miss-vigil.q"
            kill -0 "${PID[vigil]}" 2>/dev/null || { warn vigil.died "vigil exited during the run"; vigil_failed=1; }
        else
            kv vigil.status failed
            warn vigil "vigil (1 worker) failed to start or answer; see $WORK/vigil.out"
            vigil_failed=1
        fi
        stop_one vigil
    fi

    start unbound "$SRV_CPU" unbound -d -c "$WORK/unbound-1.conf"
    if wait_ready unbound 127.0.0.1 "$UNBOUND_PORT" c0.bench; then
        kv unbound.status ok
        cached_tests unbound "$UNBOUND_PORT" unbound 1
        miss_tests unbound "$UNBOUND_PORT" unbound "$WORK/miss-unbound.q"
    else
        kv unbound.status failed
        warn unbound "unbound failed to start; see $WORK/unbound.out and unbound.log"
    fi
    stop_one unbound

    if [[ $VIGIL_BIN != skip ]] && ((!vigil_failed)); then
        start vigil2 "$BOTH_CPUS" "$VIGIL_BIN" -c "$WORK/vigil-2.yaml"
        if wait_ready vigil2 127.0.0.1 "$VIGIL_PORT" c0.bench; then
            two_thread_test vigil "$VIGIL_PORT" vigil2
        else
            warn vigil2 "vigil (2 workers) failed to start; see $WORK/vigil2.out"
            vigil_failed=1
        fi
        stop_one vigil2
    fi
    start unbound2 "$BOTH_CPUS" unbound -d -c "$WORK/unbound-2.conf"
    if wait_ready unbound2 127.0.0.1 "$UNBOUND_PORT" c0.bench; then
        two_thread_test unbound "$UNBOUND_PORT" unbound2
    else
        warn unbound2 "unbound (2 threads) failed to start"
    fi
    stop_one unbound2
fi # RUN_BASE

if ((RUN_LOAD)); then
    load_started=$(date +%s)
    LAT_UP=()
    lat_start canned l "$CANNED_PORT" 0 "$WORK/canned" "$CANNED_PORT"
    lat_resolvers l
    ((${#LAT_UP[@]} == 0)) || load_tests "${LAT_UP[@]}"
    ((${#LAT_UP[@]} == 0 || PAIR_ROUNDS == 0)) || pair_tests "${LAT_UP[@]}"
    lat_stop l unbound vigil canned
    kv meta.load_secs $(($(date +%s) - load_started))
fi

if ((RUN_SEC)); then
    if [[ $VIGIL_BIN == skip ]]; then
        kv vigil.sec.status skipped
    else
        start vigil-sec "$SRV_CPU" "$VIGIL_BIN" -c "$WORK/vigil-sec.yaml"
        if wait_ready vigil-sec 127.0.0.1 "$VIGIL_PORT" ns.sec; then
            sec_tests vigil "$VIGIL_PORT" vigil-sec "$WORK/sec-miss-vigil.q" || vigil_failed=1
            kill -0 "${PID[vigil-sec]}" 2>/dev/null || { warn vigil-sec.died "vigil (validating) exited during the run"; vigil_failed=1; }
        else
            kv vigil.sec.status failed
            warn vigil-sec "vigil (validating) failed to start or answer; see $WORK/vigil-sec.out"
            vigil_failed=1
        fi
        stop_one vigil-sec
    fi
    start unbound-sec "$SRV_CPU" unbound -d -c "$WORK/unbound-sec.conf"
    if wait_ready unbound-sec 127.0.0.1 "$UNBOUND_PORT" ns.sec; then
        sec_tests unbound "$UNBOUND_PORT" unbound-sec "$WORK/sec-miss-unbound.q" || true
    else
        kv unbound.sec.status failed
        warn unbound-sec "unbound (validating) failed to start; see $WORK/unbound-sec.out and unbound.log"
    fi
    stop_one unbound-sec
fi

if ((RUN_POL)); then
    pol_started=$(date +%s)
    if [[ $VIGIL_BIN == skip ]]; then
        kv vigil.pol.status skipped
    else
        log "vigil (p1) load: without rules, then with $POL_RULES rules (up to $POL_LOAD_MAX s each)"
        if pol_load vigil none vigil-polnone "$VIGIL_PORT" "$VIGIL_BIN" -c "$WORK/vigil-polnone.yaml" &&
            pol_load vigil rules vigil-polrules "$VIGIL_POL_PORT" "$VIGIL_BIN" -c "$WORK/vigil-polrules.yaml"; then
            n=$(get vigil.pol.rules.log_rules)
            if [[ $n != "$POL_RULES" ]]; then
                warn vigil.pol.count "vigil says it loaded ${n:-?} rules, not $POL_RULES (see $WORK/vigil-polrules.out)"
                vigil_failed=1
            fi
            pol_tests vigil vigil-polnone "$VIGIL_PORT" vigil-polrules "$VIGIL_POL_PORT" rules-ede || vigil_failed=1
            for name in vigil-polnone vigil-polrules; do
                kill -0 "${PID[$name]}" 2>/dev/null || { warn "$name.died" "$name exited during the run"; vigil_failed=1; }
            done
        else
            vigil_failed=1
        fi
        stop_one vigil-polrules
        stop_one vigil-polnone
    fi
    log "unbound (p1) load: without rules, then with $POL_RULES rules (up to $POL_LOAD_MAX s each)"
    if pol_load unbound none unbound-polnone "$UNBOUND_PORT" unbound -d -c "$WORK/unbound-polnone.conf" &&
        pol_load unbound rules unbound-polrules "$UNBOUND_POL_PORT" unbound -d -c "$WORK/unbound-polrules.conf"; then
        pol_tests unbound unbound-polnone "$UNBOUND_PORT" unbound-polrules "$UNBOUND_POL_PORT" rules || true
    fi
    stop_one unbound-polrules
    stop_one unbound-polnone
    kv meta.pol_secs $(($(date +%s) - pol_started))
fi

if ((RUN_TLS)); then
    tls_started=$(date +%s)
    if [[ $VIGIL_BIN == skip ]]; then
        kv vigil.tls.status skipped
    elif ((!VIGIL_TLS)); then
        kv vigil.tls.status skipped
        log "vigil (t1)-(t4) skipped: it does not accept server.listen-tls / listen-https / tls: / http: yet ($WORK/vigil-tls.check)"
    else
        start vigil-tls "$SRV_CPU" "$VIGIL_BIN" -c "$WORK/vigil-tls.yaml"
        if ! wait_ready vigil-tls 127.0.0.1 "$VIGIL_PORT" c0.bench; then
            kv vigil.tls.status failed
            warn vigil-tls "vigil (tls config) failed to start or answer; see $WORK/vigil-tls.out"
            vigil_failed=1
        elif ! $PY tlsprobe 127.0.0.1 "$VIGIL_DOT_PORT" dot 10; then
            kv vigil.tls.status skipped
            log "vigil (t1)-(t4) skipped: its DoT port 127.0.0.1@$VIGIL_DOT_PORT does not answer a DoT query"
        else
            kv vigil.tls.status ok
            tls_tests vigil vigil-tls "$VIGIL_PORT" "$VIGIL_DOT_PORT" "$VIGIL_DOH_PORT"
            kill -0 "${PID[vigil-tls]}" 2>/dev/null || { warn vigil-tls.died "vigil exited during the tls runs"; vigil_failed=1; }
        fi
        stop_one vigil-tls
        if [[ $(get vigil.tls.status) == ok ]]; then
            start vigil-idle "$SRV_CPU" "$VIGIL_BIN" -c "$WORK/vigil-tls.yaml"
            if wait_tls vigil-idle "$VIGIL_DOT_PORT"; then
                tls_idle vigil vigil-idle "$VIGIL_DOT_PORT"
                kill -0 "${PID[vigil-idle]}" 2>/dev/null || { warn vigil-idle.died "vigil exited during (t3)"; vigil_failed=1; }
            else
                warn vigil-idle "vigil (t3) did not answer DoT; see $WORK/vigil-idle.out"
            fi
            stop_one vigil-idle
        fi
    fi
    start unbound-tls "$SRV_CPU" unbound -d -c "$WORK/unbound-tls.conf"
    if wait_ready unbound-tls 127.0.0.1 "$UNBOUND_PORT" c0.bench && wait_tls unbound-tls "$UNBOUND_DOT_PORT"; then
        kv unbound.tls.status ok
        tls_tests unbound unbound-tls "$UNBOUND_PORT" "$UNBOUND_DOT_PORT" "$UNBOUND_DOH_PORT"
    else
        kv unbound.tls.status failed
        warn unbound-tls "unbound (DoT/DoH) failed to start; see $WORK/unbound-tls.out and unbound.log"
    fi
    stop_one unbound-tls
    if [[ $(get unbound.tls.status) == ok ]]; then
        start unbound-idle "$SRV_CPU" unbound -d -c "$WORK/unbound-tls-idle.conf"
        if wait_tls unbound-idle "$UNBOUND_DOT_PORT"; then
            tls_idle unbound unbound-idle "$UNBOUND_DOT_PORT"
        else
            warn unbound-idle "unbound (t3 config) did not answer DoT; see $WORK/unbound-idle.out"
        fi
        stop_one unbound-idle
    fi
    kv meta.tls_secs $(($(date +%s) - tls_started))
fi

if ((RUN_ATK)); then
    atk_started=$(date +%s)
    atk_case
    kv meta.atk_secs $(($(date +%s) - atk_started))
fi
((!RUN_SLOW)) || slow_case
((!RUN_SOAK)) || soak_case
((!RUN_OBS)) || obs_case
((!RUN_FLOOR)) || floor_case

((!HOSTILE)) || stop_one atk-auth
for z in "${LAB[@]}"; do stop_one "nsd-$z"; done
elapsed=$(($(date +%s) - started))

# ------------------------------------------------------------ report
commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo none)
dirty=$(git -C "$REPO" --no-optional-locks status --porcelain 2>/dev/null | head -1 || true)
{
    echo "vigil benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)  commit ${commit}${dirty:+ (dirty tree)}"
    echo "host: $(uname -srm), $ncpu CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "tools: dnsperf $dnsperf_ver, $(unbound -V 2>/dev/null | sed -n 's/^Version /unbound /p'), $(nsd -v 2>&1 | sed -n 's/^NSD version /nsd /p' | head -1)"
    echo "vigil: $VIGIL_BIN"
    echo "case: $CASE; pinning: servers on CPU $SRV_CPU, dnsperf + NSD lab on CPU $GEN_CPU; (a2) everything on CPUs $BOTH_CPUS"
    if ((RUN_BASE)); then
        echo "(a)-(d), (a2): no validation in either resolver (vigil validation: no, Unbound module-config \"iterator\")"
        echo "(a)  dnsperf -d <1000 cached names> -t 1 -l $SECS $SAT_ARGS; p50/p99 from a separate ${LAT_SECS}s saturated run with -v"
        echo "(b)  dnsperf -Q $RATE -t 1 -l $SECS $RATE_ARGS; CPU = utime+stime of the server process tree / answers"
        echo "(c)  dnsperf -n 1 -l 30 $MISS_ARGS over $MISS never-seen names (disjoint sets, same shape)"
        echo "(d)  VmRSS / VmHWM of the 1-thread resolver after (a)-(c)"
        echo "(a2) 2 workers/threads, dnsperf $SAT2_ARGS, all sharing 2 cores: contended, informational only"
    fi
    if ((RUN_LOAD)); then
        echo "(l)  fixed offered rates, cached names, no validation; canned, vigil and Unbound up side by side, each on CPU $SRV_CPU;"
        echo "     $LOAD_ROUNDS rounds (server order rotated) of dnsperf -Q RATE -v -t 1 -l SECONDS $RATE_ARGS for RATE:SECONDS in: $LOAD_PLAN"
        echo "     CPU = utime+stime / answers; latency: mean from dnsperf's summary, p50/p99 from its -v lines;"
        echo "     answers per wake-up = answers / voluntary context switches (/proc, all threads); figures = medians of the rounds"
        if ((PAIR_ROUNDS > 0)); then
            echo "(m)  paired slices: $PAIR_ROUNDS rounds; in each, every server gets ${PAIR_SECS}s of dnsperf -Q RATE (no -v) for RATE in: $PAIR_RATES,"
            echo "     back to back; CPU = scheduler run time (schedstat, ns) / answers; ratio = per-round ratio to Unbound, median [range]"
        fi
        if ((SYSC_OK)); then
            echo "     system calls per answer: separate ${SYSC_SECS}s run at -Q $SYSC_RATE (no -v), counted by bench/sysc (syscall tracepoints)"
        else
            echo "     system calls per answer: not measured (bench/sysc could not count here, or BENCH_SYSC=0)"
        fi
    fi
    if ((RUN_SEC)); then
        echo "(e)-(h): validation on in both (lab root DS as trust anchor; Unbound \"validator iterator\"); signed"
        echo "     zones: root RSASHA256, sec. + z0..z6.sec. ECDSAP256SHA256, z7.sec. RSASHA256; NSEC; all queries DO=1"
        echo "     checked first: sample answers secure = AD + RRSIG, a bad signature = SERVFAIL, unsigned = no AD"
        echo "(e)  dnsperf -D -n 1 -l 30 $MISS_ARGS over $SEC_MISS never-seen signed names, 1/8 per leaf zone"
        echo "     (their zones' DNSKEY/DS already cached: each miss = 1 upstream A query + 1 RRSIG check)"
        echo "(f)  dnsperf -D -d <1000 cached signed names> -t 1 -l $SECS $SAT_ARGS"
        echo "(g)  dnsperf -D -Q $SEC_RATE -t 1 -l $SECS $RATE_ARGS; CPU = utime+stime / answers"
        echo "(h)  VmRSS / VmHWM of the validating resolver after (e)-(g)"
    fi
    if ((RUN_POL)); then
        echo "(p1)-(p4): $POL_RULES RPZ QNAME rules (zone $POL_ZONE: half exact, half \"*.\", all CNAME . = NXDOMAIN),"
        echo "     one instance without rules (vigil: explicit empty policy; Unbound: respip, no rpz:) and one with,"
        echo "     each 1 worker/thread on CPU $SRV_CPU; vigil policy source type rpz, Unbound rpz: zonefile"
        echo "(p1) start (just before exec) -> first answer to c0.bench, polled every 10 ms; vigil also -> its \"policy:\" log line"
        echo "(p2) VmRSS right after that first answer: (with - without) / rules; VmHWM = peak during the load"
        echo "(p3) $POL_ROUNDS rounds, each both instances back to back, order alternating: (a) dnsperf -t 1 -l $POL_SECS $SAT_ARGS"
        echo "     over the 1000 cached names (not blocked), (b) -t 1 -l $POL_SECS -Q $RATE $RATE_ARGS, CPU = utime+stime / answers;"
        echo "     figures = medians over the rounds; with / without = median of the per-round ratios"
        echo "(p4) sample: 50 exact + 50 under-wildcard names NXDOMAIN (vigil: + EDE 15), 8 \"*.\" parents and 16 cached names not blocked"
    fi
    if ((RUN_TLS)); then
        echo "(t1)-(t4): DNS-over-TLS / DNS-over-HTTPS (HTTP/2, $DOH_METHOD), cached names, no validation; one EC P-256"
        echo "     certificate for both; vigil 1 worker (listen-tls/listen-https), Unbound num-threads 1 (tls-port/https-port,"
        echo "     default session cache); servers on CPU $SRV_CPU, clients on CPU $GEN_CPU"
        echo "(t1) dnsperf -m dot|doh -d <1000 cached names> -t 2 -l $TLS_SECS $TLS_ARGS (one TLS connection per -c client)"
        echo "(t2) the same with -Q $TLS_RATE; CPU = utime+stime of the server / answers"
        echo "(t3) bench/tlsconn hold: $IDLE_CONNS DoT connections (handshake + one query each, then idle; from 100"
        echo "     source addresses), a fresh server; (VmRSS with them - VmRSS before) / connections set up."
        echo "     Unbound here: DoT interface only, incoming-num-tcp $((IDLE_CONNS + 100)) (it needs an fd per slot)"
        echo "(t4) bench/tlsconn rate: ${HS_SECS}s, $HS_CONC at a time: connect + handshake + one query + close;"
        echo "     full handshakes, then resumed (each connection offers its predecessor's session ticket)"
    fi
    if ((RUN_ATK)); then
        echo "attacks: vigil (1 worker) and Unbound (1 thread), both validating (lab root DS as anchor), both up,"
        echo "     each on CPU $SRV_CPU; benign = dnsperf -Q $ATK_BENIGN_RATE -v -t 1 -l $ATK_SECS $RATE_ARGS over the 1000 cached"
        echo "     names, $ATK_ROUNDS rounds of: alone, then while dnsperf sends $ATK_RATE q/s of never-asked attack names"
        echo "     (spoof: a tenth; new names each round) to the same resolver; attack generator, hostile server"
        echo "     ($ATK_AUTH_NAME on $ATK_IP) and keytrap."
        if ((LAB_IDLE)); then
            echo "     NSD ($KEYTRAP_IP) on CPU $GEN_CPU with the benign dnsperf, as SCHED_IDLE (BENCH_LAB_IDLE=1)"
        else
            echo "     NSD ($KEYTRAP_IP) on CPU $GEN_CPU with the benign dnsperf, at normal priority (BENCH_LAB_IDLE=0)"
        fi
    fi
    if ((RUN_SLOW)); then
        echo "slow: a fresh vigil, then a fresh Unbound (validating, 1 worker/thread); $SLOW_NAMES names d500-*.atk. asked"
        echo "     once each by bench/attack.py slowclient, $SLOW_CONC in flight, ${SLOW_TIMEOUT}s client timeout"
    fi
    if ((RUN_SOAK)); then
        echo "soak: vigil cache size ${SOAK_CACHE} MiB, validating; dnsperf -Q $SOAK_RATE random names under *.w.bench."
        echo "     plus -Q $SOAK_ATK_RATE attack names (all attacks in turn) for ${SOAK_SECS}s; VmRSS every ${SOAK_EVERY}s"
    fi
    if ((RUN_OBS)); then
        echo "observe: vigil (1 worker) with no query log, with dnstap (client query + response, unix socket),"
        echo "     with the JSON query log (every query, a file); Unbound (1 thread) without and with dnstap (the same"
        echo "     two message types, unix socket); all up side by side on CPU $SRV_CPU, no validation; each dnstap"
        echo "     socket read by fstrm_capture on CPU $GEN_CPU (its CPU not counted as foreign load); $OBS_ROUNDS rounds,"
        echo "     order rotated: dnsperf -t 1 -l $OBS_SECS $SAT_ARGS (saturated), then -Q $OBS_RATE (CPU per answer)"
    fi
    if ((RUN_FLOOR)); then
        echo "floor: the canned responder blocking in recvmmsg (block), behind epoll_wait (epoll) and behind a libuv"
        echo "     loop (uv), vigil (1 worker) and Unbound (1 thread), all up side by side on CPU $SRV_CPU, cached names;"
        echo "     $FLOOR_ROUNDS rounds, in each every server gets ${PAIR_SECS}s of dnsperf -Q RATE (no -v) for RATE in:"
        echo "     $PAIR_RATES, order rotated; CPU = scheduler run time (schedstat) / answers; ratio = per-round ratio to Unbound"
    fi
    echo "machine load before start: ~${idle_load}% of one core (other processes)"
    ((!RUN_BASE && !RUN_LOAD)) || echo "ceiling = canned responder (bench/canned.c); on this box dnsperf on one core may be the real limit"
    echo
    if ((RUN_BASE || RUN_LOAD || RUN_SEC || RUN_POL || RUN_TLS)); then
        $PY report "$KV"
        ((!HOSTILE)) || echo
    fi
    ((!HOSTILE)) || $ATK report "$KV"
    ((!RUN_OBS)) || $PY obsreport "$KV"
    ((!RUN_FLOOR)) || $PY floorreport "$KV"
    echo
    echo "total bench time: ${elapsed}s"
} >"$WORK/report.txt"

cat "$WORK/report.txt"
mkdir -p "$BENCH/results"
# A full run is latest.txt; a partial one latest-<case>.txt, so that it does
# not hide the last full run.
sfx=""
[[ $CASE == all ]] || sfx="-$CASE"
cp "$WORK/report.txt" "$BENCH/results/latest$sfx.txt"
cp "$WORK/report.txt" "$BENCH/results/$(date +%Y%m%d-%H%M%S)$sfx.txt"
cp "$KV" "$BENCH/results/latest$sfx.kv"
log "written: bench/results/latest$sfx.txt (+ timestamped copy, raw values in latest$sfx.kv)"

if ((vigil_failed)) || grep -q '\.status failed' "$KV"; then
    exit 1
fi
ok=1
exit 0
