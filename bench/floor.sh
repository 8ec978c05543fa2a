# shellcheck shell=bash disable=SC2317,SC2034
# bench/floor.sh - the floor case of bench/run.sh ("floor"): what answering
# a cached name costs at a fixed rate when the server does no work at all,
# and how much of it the way a server waits adds.  Sourced by run.sh (it
# uses its helpers: lat_start, lat_resolvers, lat_stop, kv and pair_tests
# of case (m)).
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
    local m
    LPORT["canned-block"]=$CANNED_PORT
    LPORT["canned-epoll"]=$CANNED_EPOLL_PORT
    LPORT["canned-uv"]=$CANNED_UV_PORT
    LAT_UP=()
    for m in $FLOOR_LOOPS; do
        lat_start "canned-$m" n "${LPORT[canned-$m]}" 0 "$WORK/canned" "${LPORT[canned-$m]}" "" "$m"
    done
    lat_resolvers n
    kv meta.floor_servers "$(
        IFS=,
        echo "${LAT_UP[*]}"
    )"
    ((${#LAT_UP[@]} < 2)) || PAIR_ROUNDS=$FLOOR_ROUNDS pair_tests "${LAT_UP[@]}"
    lat_stop n unbound vigil canned-block canned-epoll canned-uv
}
