# shellcheck shell=bash disable=SC2317,SC2034,SC2086
# bench/attacks.sh - the attacks, slow and soak cases of bench/run.sh; sourced
# by run.sh (it uses its helpers: start, stop_one, dp, fg_end, kv, warn, log,
# warm_up, get). See bench/README.md, "Attacks".

# hostile_ticks: CPU ticks of the hostile lab (slowauth + the keytrap NSD).
hostile_ticks() {
    local a b
    a=$($PY cpu "${PID[atk-auth]}")
    b=$($PY cpu "${PID[nsd-keytrap]}")
    echo $((a + b))
}
# upstream_count KIND: queries received so far, once the count stops moving.
upstream_count() {
    if [[ $1 == nsd ]]; then
        $ATK settle nsd "$WORK/nsd-keytrap.ctl"
    else
        $ATK settle atk "$WORK/atk.counts"
    fi
}

# run_atk_base TAG S: the benign stream alone (fixed rate, -v for percentiles).
run_atk_base() {
    local tag=$1 s=$2 pid=${PID[atk-$2]} t0 t1
    t0=$($PY cpu "$pid")
    # shellcheck disable=SC2086
    dp "$WORK/$tag" "$GEN_CPU" "${LPORT[$s]}" -d "$WORK/cached.q" -t 1 -l "$ATK_SECS" -v -Q "$ATK_BENIGN_RATE" $RATE_ARGS
    t1=$($PY cpu "$pid")
    atk_record "$tag" $((t1 - t0)) 0
}
# atk_record TAG SERVER_TICKS EXTRA_TICKS: dnsperf figures of the benign run.
atk_record() {
    local tag=$1 rt
    $PY stats "$tag" "$WORK/$tag" >>"$KV" || warn "$tag" "$tag: dnsperf output unparsable"
    $PY lat "$tag.lat" "$WORK/$tag" >>"$KV" || warn "$tag.lat" "$tag: no latency lines"
    rm -f "$WORK/$tag"
    fg_end "$tag" "$2" "$3"
    rt=$(get "$tag.runtime")
    [[ -z $rt ]] || kv "$tag.cpu_pct" "$(pct "$2" "$rt")"
}

# run_atk TAG S ATTACK: the attack stream (dnsperf, ATK_RATE q/s, never-asked
# names under the hostile zone) starts, one second later the benign stream
# runs for ATK_SECS; then the attack ends and the hostile server's count is
# read once it stops moving.
run_atk() {
    local tag=$1 s=$2 what=$3 kind=atk rate=$ATK_RATE pid qf t0 t1 h0 h1 g0 g1 c0 c1 apid
    pid=${PID[atk-$s]}
    [[ $what != keytrap ]] || kind=nsd
    [[ $what != spoof ]] || rate=$((ATK_RATE / 10 > 0 ? ATK_RATE / 10 : 1))
    qf="$WORK/atk-$what-$s.q"
    c0=$(upstream_count "$kind")
    (
        TIMEFORMAT='%U %S'
        time taskset -c "$GEN_CPU" dnsperf -s 127.0.0.1 -p "${LPORT[$s]}" -d "$qf" -n 1 \
            -Q "$rate" -l $((ATK_SECS + 2)) -t 5 -c 4 -q 2000 >"$WORK/$tag.atk" 2>&1 || true
    ) 2>"$WORK/$tag.atk.time" &
    apid=$!
    sleep 1
    t0=$($PY cpu "$pid")
    h0=$(hostile_ticks)
    g0=$($PY cpu "$apid")
    # shellcheck disable=SC2086
    dp "$WORK/$tag.run" "$GEN_CPU" "${LPORT[$s]}" -d "$WORK/cached.q" -t 1 -l "$ATK_SECS" -v -Q "$ATK_BENIGN_RATE" $RATE_ARGS
    t1=$($PY cpu "$pid")
    h1=$(hostile_ticks)
    g1=$($PY cpu "$apid")
    wait "$apid" || true
    c1=$(upstream_count "$kind")
    atk_record "$tag.run" $((t1 - t0)) $((h1 - h0 + g1 - g0))
    kv "$tag.hostile_cpu_pct" "$(pct $((h1 - h0)) "$(get "$tag.run.runtime")")"
    kv "$tag.atk_rate" "$rate"
    $PY stats "$tag.atk" "$WORK/$tag.atk" >>"$KV" || warn "$tag.atk" "$tag: attack dnsperf output unparsable ($WORK/$tag.atk)"
    [[ $c0 == None || $c1 == None ]] || kv "$tag.upstream" $((c1 - c0))
}

atk_case() {
    local up=() s atk tag
    for s in vigil unbound; do
        $ATK names "$WORK" "$s" $((ATK_RATE * (ATK_SECS + 4)))
    done
    if [[ $VIGIL_BIN == skip ]]; then
        kv vigil.atk.status skipped
    else
        start atk-vigil "$SRV_CPU" "$VIGIL_BIN" -c "$WORK/vigil-atk.yaml"
        if wait_ready atk-vigil 127.0.0.1 "$VIGIL_PORT" c0.bench; then
            warm_up vigil.atkwarm "$VIGIL_PORT"
            up+=(vigil)
        else
            warn vigil.atk "vigil failed to start; see $WORK/atk-vigil.out"
            vigil_failed=1
        fi
    fi
    start atk-unbound "$SRV_CPU" unbound -d -c "$WORK/unbound-atk.conf"
    if wait_ready atk-unbound 127.0.0.1 "$UNBOUND_PORT" c0.bench; then
        warm_up unbound.atkwarm "$UNBOUND_PORT"
        up+=(unbound)
    else
        warn unbound.atk "unbound failed to start; see $WORK/atk-unbound.out"
    fi
    for atk in $ATK_LIST; do
        for s in "${up[@]}"; do
            tag=$s.atk.$atk
            if ! kill -0 "${PID[atk-$s]}" 2>/dev/null; then
                warn "$tag.died" "$s is no longer running (before the $atk attack)"
                [[ $s != vigil ]] || vigil_failed=1
                continue
            fi
            log "$s attack $atk: benign -Q $ATK_BENIGN_RATE alone ${ATK_SECS}s, then with the attack"
            attempt "$tag.base" run_atk_base "$tag.base" "$s"
            run_atk "$tag" "$s" "$atk"
            fg_warn "$tag.run"
            kv "$tag.status" ok
            log "$s attack $atk: benign $(get "$tag.base.qps") -> $(get "$tag.run.qps") q/s, p99 $(get "$tag.base.lat.p99") -> $(get "$tag.run.lat.p99") s; upstream $(get "$tag.upstream") for $(get "$tag.atk.sent") attack queries ($(get "$tag.atk.rcodes"))"
        done
    done
    for s in "${up[@]}"; do
        kill -0 "${PID[atk-$s]}" 2>/dev/null || { warn "atk-$s.died" "$s exited during the attack runs"; [[ $s != vigil ]] || vigil_failed=1; }
        stop_one "atk-$s"
    done
}

# slow_case: SLOW_NAMES never-asked names the hostile server answers after
# 500 ms, SLOW_CONC in flight, to a fresh vigil and then a fresh Unbound.
slow_one() { # S NAME PORT CMD...
    local s=$1 name=$2 port=$3 c0 c1 line
    shift 3
    start "$name" "$SRV_CPU" "$@"
    if ! wait_ready "$name" 127.0.0.1 "$port" c0.bench; then
        warn "$s.slow" "$s failed to start; see $WORK/$name.out"
        [[ $s != vigil ]] || vigil_failed=1
        return 0
    fi
    $ATK slownames "$WORK" "$s" "$SLOW_NAMES"
    c0=$(upstream_count atk)
    log "$s slow server: $SLOW_NAMES names, $SLOW_CONC in flight"
    line=$(taskset -c "$GEN_CPU" $ATK slowclient 127.0.0.1 "$port" "$WORK/slow-$s.q" "$SLOW_CONC" "$SLOW_TIMEOUT")
    c1=$(upstream_count atk)
    log "$s slow server: $line"
    # "n N good N servfail N timeout N other N secs X" -> KV
    set -- $line
    while (($# >= 2)); do kv "$s.slow.$1" "$2"; shift 2; done
    kv "$s.slow.upstream" $((c1 - c0))
    kill -0 "${PID[$name]}" 2>/dev/null || { warn "$s.slow.died" "$s exited during the slow run"; [[ $s != vigil ]] || vigil_failed=1; }
    stop_one "$name"
}
slow_case() {
    if [[ $VIGIL_BIN == skip ]]; then
        kv vigil.slow.status skipped
    else
        slow_one vigil slow-vigil "$VIGIL_PORT" "$VIGIL_BIN" -c "$WORK/vigil-atk.yaml"
    fi
    slow_one unbound slow-unbound "$UNBOUND_PORT" unbound -d -c "$WORK/unbound-atk.conf"
}

# soak_case: idle RSS with 1 and 2 workers, then SOAK_SECS of random cache
# misses (SOAK_RATE q/s under the wildcard *.w.bench.) plus attack traffic
# (SOAK_ATK_RATE q/s, the attacks in turn), VmRSS sampled every SOAK_EVERY s.
idle_rss() { # WORKERS -> IDLE_RSS (kB); 1 if vigil did not start
    local name=soak-idle$1
    sed "s/^  workers: .*/  workers: $1/" "$WORK/vigil-soak.yaml" >"$WORK/vigil-soak$1.yaml"
    start "$name" "$SRV_CPU" "$VIGIL_BIN" -c "$WORK/vigil-soak$1.yaml"
    if ! wait_ready "$name" 127.0.0.1 "$VIGIL_PORT" c0.bench; then
        warn soak.idle "vigil failed to start; see $WORK/$name.out"
        vigil_failed=1
        stop_one "$name"
        return 1
    fi
    sleep 2
    read -r IDLE_RSS _ < <($PY mem "${PID[$name]}")
    stop_one "$name"
}
soak_case() {
    local n rss1 rss2 peak end t0 t1 apid
    if [[ $VIGIL_BIN == skip ]]; then
        kv soak.status skipped
        return 0
    fi
    n=$((SOAK_RATE * SOAK_SECS))
    ((n <= 3000000)) || n=3000000
    $ATK soaknames "$WORK" "$n" $((SOAK_ATK_RATE * (SOAK_SECS + 5)))
    kv soak.secs "$SOAK_SECS"
    kv soak.rate "$SOAK_RATE"
    kv soak.atk_rate "$SOAK_ATK_RATE"
    kv soak.workers "$SOAK_WORKERS"
    kv soak.cache_bytes "$SOAK_CACHE_BYTES"
    kv soak.overhead_allow_mb "$SOAK_OVERHEAD_MB"
    idle_rss 1 || return 0
    rss1=$IDLE_RSS
    idle_rss 2 || return 0
    rss2=$IDLE_RSS
    kv soak.idle1_kb "$rss1"
    kv soak.idle2_kb "$rss2"
    log "soak: idle vigil VmRSS ${rss1} kB (1 worker), ${rss2} kB (2 workers)"
    sed "s/^  workers: .*/  workers: $SOAK_WORKERS/" "$WORK/vigil-soak.yaml" >"$WORK/vigil-soakrun.yaml"
    start soak-vigil "$SRV_CPU" "$VIGIL_BIN" -c "$WORK/vigil-soakrun.yaml"
    if ! wait_ready soak-vigil 127.0.0.1 "$VIGIL_PORT" c0.bench; then
        warn soak "vigil failed to start; see $WORK/soak-vigil.out"
        vigil_failed=1
        stop_one soak-vigil
        return 0
    fi
    start soak-rss "$GEN_CPU" python3 "$BENCH/attack.py" rss "${PID[soak-vigil]}" "$SOAK_EVERY" $((SOAK_SECS + 30)) "$WORK/soak-rss.txt"
    log "soak: ${SOAK_SECS}s of $SOAK_RATE cache-miss q/s + $SOAK_ATK_RATE attack q/s, VmRSS every ${SOAK_EVERY}s"
    (taskset -c "$GEN_CPU" dnsperf -s 127.0.0.1 -p "$VIGIL_PORT" -d "$WORK/soak-atk.q" -n 1 \
        -Q "$SOAK_ATK_RATE" -l "$SOAK_SECS" -t 5 -c 4 -q 2000 >"$WORK/soak.atk" 2>&1 || true) &
    apid=$!
    t0=$($PY cpu "${PID[soak-vigil]}")
    dp "$WORK/soak.miss" "$GEN_CPU" "$VIGIL_PORT" -d "$WORK/soak-miss.q" -Q "$SOAK_RATE" -l "$SOAK_SECS" -t 3 -c 8 -q 500 -T 1
    t1=$($PY cpu "${PID[soak-vigil]}")
    wait "$apid" || true
    fg_end soak.miss $((t1 - t0)) 0
    sleep "$SOAK_EVERY"
    read -r end _ < <($PY mem "${PID[soak-vigil]}")
    kv soak.end_kb "$end"
    $PY stats soak.miss "$WORK/soak.miss" >>"$KV" || warn soak.miss "soak: dnsperf output unparsable"
    $PY stats soak.atk "$WORK/soak.atk" >>"$KV" || warn soak.atk "soak: attack dnsperf output unparsable"
    kill -0 "${PID[soak-vigil]}" 2>/dev/null || { warn soak.died "vigil exited during the soak"; vigil_failed=1; }
    stop_one soak-rss
    stop_one soak-vigil
    peak=$(awk '$2 > m {m = $2} END {print m + 0}' "$WORK/soak-rss.txt")
    kv soak.peak_kb "$peak"
    kv soak.samples "$(wc -l <"$WORK/soak-rss.txt")"
    cp "$WORK/soak-rss.txt" "$BENCH/results/soak-rss-latest.txt" 2>/dev/null || true
    log "soak: peak VmRSS ${peak} kB, at the end ${end} kB ($(get soak.miss.completed) misses answered)"
}
