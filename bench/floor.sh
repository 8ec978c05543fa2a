# shellcheck shell=bash disable=SC2317,SC2034
# bench/floor.sh - the floor case of bench/run.sh ("floor"): what answering
# a cached name costs at a fixed rate when the server does no work at all,
# and how much of it the way a server waits adds.  Sourced by run.sh (it
# uses its helpers: start, stop_one, wait_ready, warm_up, kv, warn, log and
# pair_tests/run_pair of case (m)).
#
# Five servers, each on the server CPU, all up side by side: the canned
# responder (bench/canned.c) three times -- blocking in recvmmsg ("block",
# two system calls per wake-up, the least a UDP server can make), behind
# epoll_wait ("epoll"), and behind a libuv loop and uv_poll_t the way
# vigil's UDP front end waits ("uv") -- then vigil (1 worker) and Unbound (1
# thread) on the base configuration.  Paired slices as in (m): FLOOR_ROUNDS
# rounds, in each every server gets PAIR_SECS at each rate of PAIR_RATES,
# order rotated; each server's CPU per answer is compared with Unbound's in
# the same round (bench.py pairsum, floorreport).

FLOOR_ROUNDS=${BENCH_FLOOR_ROUNDS:-12}
FLOOR_LOOPS="block epoll uv"

floor_case() {
    local up=() m name
    LPORT["canned-block"]=$CANNED_PORT
    LPORT["canned-epoll"]=$CANNED_EPOLL_PORT
    LPORT["canned-uv"]=$CANNED_UV_PORT
    for m in $FLOOR_LOOPS; do
        name=canned-$m
        start "lat-$name" "$SRV_CPU" "$WORK/canned" "${LPORT[$name]}" "" "$m"
        if wait_ready "lat-$name" 127.0.0.1 "${LPORT[$name]}" c0.bench; then
            kv "$name.n.status" ok
            up+=("$name")
        else
            kv "$name.n.status" failed
            warn "$name.n" "canned responder ($m) failed to start"
        fi
    done
    if [[ $VIGIL_BIN == skip ]]; then
        kv vigil.n.status skipped
    else
        start lat-vigil "$SRV_CPU" "$VIGIL_BIN" -c "$WORK/vigil-1.yaml"
        if wait_ready lat-vigil 127.0.0.1 "$VIGIL_PORT" c0.bench; then
            kv vigil.n.status ok
            warm_up vigil.nwarm "$VIGIL_PORT"
            up+=(vigil)
        else
            kv vigil.n.status failed
            warn vigil.n "vigil (1 worker) failed to start or answer; see $WORK/lat-vigil.out"
            vigil_failed=1
        fi
    fi
    start lat-unbound "$SRV_CPU" unbound -d -c "$WORK/unbound-1.conf"
    if wait_ready lat-unbound 127.0.0.1 "$UNBOUND_PORT" c0.bench; then
        kv unbound.n.status ok
        warm_up unbound.nwarm "$UNBOUND_PORT"
        up+=(unbound)
    else
        kv unbound.n.status failed
        warn unbound.n "unbound failed to start; see $WORK/lat-unbound.out and unbound.log"
    fi
    kv meta.floor_servers "$(
        IFS=,
        echo "${up[*]}"
    )"
    ((${#up[@]} < 2)) || PAIR_ROUNDS=$FLOOR_ROUNDS pair_tests "${up[@]}"
    if [[ -n ${PID[lat-vigil]:-} ]] && ! kill -0 "${PID[lat-vigil]}" 2>/dev/null; then
        warn vigil.n.died "vigil exited during the floor runs"
        vigil_failed=1
    fi
    stop_one lat-unbound
    stop_one lat-vigil
    for m in $FLOOR_LOOPS; do stop_one "lat-canned-$m"; done
}
