# shellcheck shell=bash disable=SC2317,SC2034,SC2086
# bench/observe.sh - the observability case of bench/run.sh ("observe"):
# what query logging costs.  Sourced by run.sh (it uses its helpers: start,
# stop_one, dp, fg_end, kv, warn, log, warm_up, get, run_pa, run_pb).
#
# Five servers, each 1 worker/thread on the server CPU, all up side by side
# on their own ports: vigil with no query log, vigil with dnstap (client
# query + client response messages to a unix socket), vigil with the JSON
# query log (every query, to a file), Unbound without and with dnstap (the
# same two message types, to a unix socket).  Each dnstap socket is read by
# Debian's fstrm_capture on the generator's CPU, writing to a file; its CPU
# time is counted apart (not as foreign load).  OBS_ROUNDS rounds, the
# variants' order rotated each round; in each, the saturated cached rate
# (dnsperf, OBS_SECS) and the CPU per answer at a fixed OBS_RATE.  With /
# without = the median of the per-round ratios.

OBS_VARIANTS="vigil-off vigil-dnstap vigil-json unbound-off unbound-dnstap"
declare -A OPORT=([vigil-off]=$VIGIL_PORT [vigil-dnstap]=$VIGIL_OBS_DT_PORT
    [vigil-json]=$VIGIL_OBS_JS_PORT [unbound-off]=$UNBOUND_PORT
    [unbound-dnstap]=$UNBOUND_OBS_DT_PORT)

# obs_confs: the five configs (vigil's from vigil_conf, Unbound's from unbound_conf).
obs_confs() {
    obs_unbound_confs
    [[ $VIGIL_BIN != skip ]] || return 0
    vigil_conf obs-off 1 0 "$VIGIL_PORT"
    vigil_conf obs-dnstap 1 0 "$VIGIL_OBS_DT_PORT"
    cat >>"$WORK/vigil-obs-dnstap.yaml" <<YAML
dnstap:
  socket: $WORK/vigil-dnstap.sock
  client-query: yes
  client-response: yes
  resolver-query: no
  resolver-response: no
YAML
    vigil_conf obs-json 1 0 "$VIGIL_OBS_JS_PORT"
    cat >>"$WORK/vigil-obs-json.yaml" <<YAML
query-log:
  file: $WORK/vigil-queries.json
  sample: 1
YAML
    for v in dnstap json; do
        "$VIGIL_BIN" --check-config "$WORK/vigil-obs-$v.yaml" >"$WORK/vigil-obs-$v.check" 2>&1 ||
            die "vigil --check-config failed for vigil-obs-$v.yaml: $(head -3 "$WORK/vigil-obs-$v.check")"
    done
}
obs_unbound_confs() {
    unbound_conf obs-off 1 0 "$UNBOUND_PORT" none
    unbound_conf obs-dnstap 1 0 "$UNBOUND_OBS_DT_PORT" none
    cat >>"$WORK/unbound-obs-dnstap.conf" <<CONF
dnstap:
    dnstap-enable: yes
    dnstap-socket-path: "$WORK/unbound-dnstap.sock"
    dnstap-send-identity: no
    dnstap-send-version: no
    dnstap-log-client-query-messages: yes
    dnstap-log-client-response-messages: yes
CONF
    unbound-checkconf "$WORK/unbound-obs-dnstap.conf" >/dev/null ||
        die "unbound-checkconf failed for unbound-obs-dnstap.conf"
}

# obs_capture NAME SOCKET OUT: fstrm_capture reading SOCKET into OUT.
obs_capture() {
    start "$1" "$GEN_CPU" fstrm_capture -t protobuf:dnstap.Dnstap -u "$2" -w "$3"
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -S $2 ]] && return 0
        sleep 0.1
    done
    warn "$1" "fstrm_capture did not create $2 (see $WORK/$1.out)"
    return 1
}

# obs_reader_ticks: CPU ticks of the dnstap readers (neither the servers'
# nor foreign load); run_pa / run_pb call it through extra_ticks.
obs_reader_ticks() {
    local a=0 b=0
    [[ -z ${PID[cap-vigil]:-} ]] || a=$($PY cpu "${PID[cap-vigil]}")
    [[ -z ${PID[cap-unbound]:-} ]] || b=$($PY cpu "${PID[cap-unbound]}")
    echo $((a + b))
}

obs_case() {
    local v r order n s pid good q i
    obs_confs
    extra_ticks() { obs_reader_ticks; }
    obs_capture cap-vigil "$WORK/vigil-dnstap.sock" "$WORK/vigil.dnstap" || return 0
    obs_capture cap-unbound "$WORK/unbound-dnstap.sock" "$WORK/unbound.dnstap" || return 0
    for v in $OBS_VARIANTS; do
        s=${v%%-*}
        if [[ $s == vigil ]]; then
            [[ $VIGIL_BIN != skip ]] || continue
            start "obs-$v" "$SRV_CPU" "$VIGIL_BIN" -c "$WORK/vigil-obs-${v#vigil-}.yaml"
        else
            start "obs-$v" "$SRV_CPU" unbound -d -c "$WORK/unbound-obs-${v#unbound-}.conf"
        fi
        if wait_ready "obs-$v" 127.0.0.1 "${OPORT[$v]}" c0.bench; then
            kv "obs.$v.status" ok
            warm_up "obs.$v.warm" "${OPORT[$v]}"
        else
            kv "obs.$v.status" failed
            warn "obs.$v" "$v failed to start or answer; see $WORK/obs-$v.out"
            [[ $s != vigil ]] || vigil_failed=1
        fi
    done
    n=0
    set -- $OBS_VARIANTS
    for ((r = 1; r <= OBS_ROUNDS; r++)); do
        # rotate the order each round
        order=""
        for ((i = 0; i < $#; i++)); do
            local k=$(((i + r - 1) % $# + 1))
            order+=" ${!k}"
        done
        for v in $order; do
            [[ $(get "obs.$v.status") == ok ]] || continue
            pid=${PID[obs-$v]}
            log "observe round $r/$OBS_ROUNDS, $v: saturated cached ${OBS_SECS}s, then -Q $OBS_RATE ${OBS_SECS}s"
            POL_SECS=$OBS_SECS attempt "obs.$v.a$r" run_pa "obs.$v.a$r" "${OPORT[$v]}" "$pid"
            RATE=$OBS_RATE POL_SECS=$OBS_SECS attempt "obs.$v.b$r" run_pb "obs.$v.b$r" "${OPORT[$v]}" "$pid"
            q=$(get "obs.$v.b$r.qps")
            q=${q%.*}
            if ((${q:-0} < OBS_RATE * 97 / 100)); then
                warn "obs.$v.b$r.rate" "$v (round $r): offered $OBS_RATE q/s but only ${q:-0} answered/s were achieved; CPU/answer is at that rate"
            fi
        done
    done
    for v in $OBS_VARIANTS; do
        [[ -z ${PID[obs-$v]:-} ]] || kill -0 "${PID[obs-$v]}" 2>/dev/null ||
            { warn "obs.$v.died" "$v exited during the run"; [[ ${v%%-*} != vigil ]] || vigil_failed=1; }
        stop_one "obs-$v"
    done
    extra_ticks() { echo 0; }
    stop_one cap-vigil
    stop_one cap-unbound
    # what the logs hold: proof that logging was on (a dnstap frame or a
    # JSON line per query, at least as many as the answers counted)
    kv obs.vigil-dnstap.frames "$($PY dtcount "$WORK/vigil.dnstap")"
    kv obs.unbound-dnstap.frames "$($PY dtcount "$WORK/unbound.dnstap")"
    kv obs.vigil-json.lines "$(cat "$WORK"/vigil-queries.json* 2>/dev/null | wc -l)"
    $PY obssum "$KV" >"$WORK/obs.sum" && cat "$WORK/obs.sum" >>"$KV"
}
