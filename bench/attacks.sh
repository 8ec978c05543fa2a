# shellcheck shell=bash disable=SC2317,SC2034,SC2086
# bench/attacks.sh - the attacks, slow and soak cases of bench/run.sh; sourced
# by run.sh (it uses its helpers: start, stop_one, dp, fg_end, kv, warn, log,
# warm_up, get). See bench/README.md, "Attacks".

# hostile_ticks: CPU ticks of the hostile lab (the atk. server, bench/hostile.c
# or with BENCH_ATK_AUTH=py tests/lab/slowauth.py, + the keytrap NSD).
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

# The benign stream is measured in ATK_ROUNDS rounds, each a slice alone and
# then a slice under the attack (ATK_SECS each, dnsperf -v). On this VM the
# p99 of one run moves by 2-8x from one minute to the next with no attack at
# all (the host wakes the vCPUs late now and then, bench/README.md), so one
# run alone and one under attack compare two different minutes. Interleaved
# slices see the same minutes: the report pools each side's latencies over
# the rounds (pooled p99) and gives the range of the per-round ratios. The
# attack's slice always comes second and the next round starts only once the
# hostile server has been quiet, so no after-effect lands in a baseline.

# atk_slice TAG S [APID]: one benign slice to resolver S (fixed rate, -v
# kept in WORK/TAG.lat for pooling); the resolver's CPU in TAG.cpu_pct. The
# hostile lab's CPU and that of the attack generator APID are known load, not
# "other processes"; what other processes used is left in FG_PCT (the round
# decides whether it counts).
atk_slice() {
    local tag=$1 s=$2 apid=${3:-} pid=${PID[atk-$2]} t0 t1 h0 h1 g0=0 g1=0 rt
    t0=$($PY cpu "$pid")
    h0=$(hostile_ticks)
    [[ -z $apid ]] || g0=$($PY cpu "$apid")
    # shellcheck disable=SC2086
    dp "$WORK/$tag.lat" "$GEN_CPU" "${LPORT[$s]}" -d "$WORK/cached.q" -t 1 -l "$ATK_SECS" -v -Q "$ATK_BENIGN_RATE" $RATE_ARGS
    t1=$($PY cpu "$pid")
    h1=$(hostile_ticks)
    [[ -z $apid ]] || g1=$($PY cpu "$apid")
    $PY stats "$tag" "$WORK/$tag.lat" >>"$KV" || warn "$tag" "$tag: dnsperf output unparsable"
    $PY lat "$tag.lat" "$WORK/$tag.lat" >>"$KV" || warn "$tag.lat" "$tag: no latency lines"
    mv "$WORK/$tag.lat.time" "$WORK/$tag.time"
    fg_end "$tag" $((t1 - t0)) $((h1 - h0 + g1 - g0))
    rt=$(get "$tag.runtime")
    [[ -z $rt ]] || kv "$tag.cpu_pct" "$(pct $((t1 - t0)) "$rt")"
    [[ -z $rt || -z $apid ]] || kv "$tag.hostile_cpu_pct" "$(pct $((h1 - h0)) "$rt")"
}

# atk_round TAG S ATTACK R K: round R, with name set K. The baseline slice
# (TAG.base.rR), then the attack stream (dnsperf, its rate, never-asked names
# of set K under the hostile zone) starts and one second later the second
# slice (TAG.run.rR) runs; then the attack ends and the hostile server's count
# is left to stop moving (ATK_UP: that count). S "lab" is the control: the
# benign stream goes to vigil, the attack stream straight to the hostile
# server (the keytrap NSD for keytrap), so vigil sees none of it.
# ATK_FG_BASE / ATK_FG_RUN: what other processes used during each slice.
atk_round() {
    local tag=$1 s=$2 what=$3 r=$4 k=$5 rate=$ATK_RATE qf apid kind=atk ben=$2
    local dst=127.0.0.1 port=${LPORT[$2]:-} edns=()
    [[ $what != keytrap ]] || kind=nsd
    [[ $what != spoof ]] || rate=$((ATK_RATE / 10 > 0 ? ATK_RATE / 10 : 1))
    if [[ $s == lab ]]; then
        # EDNS, as a resolver asks (an NXNS referral does not fit in 512 bytes)
        ben=vigil port=53 dst=$ATK_IP edns=(-e)
        [[ $what != keytrap ]] || dst=$KEYTRAP_IP
    fi
    qf="$WORK/atk-$what-${s:0:1}${k}x.q"
    atk_slice "$tag.base.r$r" "$ben"
    ATK_FG_BASE=$FG_PCT
    (
        TIMEFORMAT='%U %S'
        time taskset -c "$GEN_CPU" "${LAB_PRE[@]}" dnsperf -s "$dst" -p "$port" "${edns[@]}" -d "$qf" -n 1 \
            -Q "$rate" -l $((ATK_SECS + 2)) -t 5 -c 4 -q 2000 >"$WORK/$tag.atk.r$r" 2>&1 || true
    ) 2>"$WORK/$tag.atk.r$r.time" &
    apid=$!
    sleep 1
    atk_slice "$tag.run.r$r" "$ben" "$apid"
    ATK_FG_RUN=$FG_PCT
    wait "$apid" || true
    $PY stats "$tag.atk.r$r" "$WORK/$tag.atk.r$r" >>"$KV" ||
        warn "$tag.atk.r$r" "$tag: attack dnsperf output unparsable ($WORK/$tag.atk.r$r)"
    ATK_UP=$(upstream_count "$kind")
}

# run_atk TAG S ATTACK: ATK_ROUNDS rounds, then the pooled figures. A round
# in which other processes used more than FOREIGN_MAX% of a core during
# either slice is done again with the next set of fresh attack names, up to
# ATK_RETRIES times per attack and resolver (this VM's neighbours come and
# go and move p99 several-fold: bench/README.md). The last try of a round
# counts (later KV lines win); the upstream count is that of the tries that
# count.
run_atk() {
    local tag=$1 s=$2 what=$3 kind=atk prev r k=1 up=0 redone=0 base=() run=()
    [[ $what != keytrap ]] || kind=nsd
    prev=$(upstream_count "$kind")
    for ((r = 1; r <= ATK_ROUNDS; r++, k++)); do
        log "$s attack $what, round $r/$ATK_ROUNDS: ${ATK_SECS}s alone, then ${ATK_SECS}s under the attack"
        atk_round "$tag" "$s" "$what" "$r" "$k"
        while ((ATK_FG_BASE > FOREIGN_MAX || ATK_FG_RUN > FOREIGN_MAX)) &&
            ((redone < ATK_RETRIES)); do
            log "$s attack $what, round $r disturbed (other processes ~$ATK_FG_BASE% / ~$ATK_FG_RUN% of a core): again, with fresh names"
            prev=$ATK_UP redone=$((redone + 1)) k=$((k + 1))
            atk_round "$tag" "$s" "$what" "$r" "$k"
        done
        FG_PCT=$ATK_FG_BASE
        fg_warn "$tag.base.r$r"
        FG_PCT=$ATK_FG_RUN
        fg_warn "$tag.run.r$r"
        if [[ $up != None && $prev != None && $ATK_UP != None ]]; then
            up=$((up + ATK_UP - prev))
        else
            up=None
        fi
        prev=$ATK_UP
        base+=("$WORK/$tag.base.r$r.lat")
        run+=("$WORK/$tag.run.r$r.lat")
    done
    kv "$tag.redone" "$redone"
    [[ $up == None ]] || kv "$tag.upstream" "$up"
    $PY lat "$tag.base.lat" "${base[@]}" >>"$KV" || warn "$tag.base.lat" "$tag: no latency lines"
    $PY lat "$tag.run.lat" "${run[@]}" >>"$KV" || warn "$tag.run.lat" "$tag: no latency lines"
    $ATK atkpool "$KV" "$tag" "$ATK_ROUNDS" >"$WORK/atkpool" ||
        warn "$tag.pool" "$tag: a round has no figures"
    cat "$WORK/atkpool" >>"$KV"
    rm -f "${base[@]}" "${run[@]}"
}

atk_case() {
    local up=() s atk tag r who=(vigil unbound)
    ((!ATK_CONTROL)) || who+=(lab)
    for s in "${who[@]}"; do
        for ((r = 1; r <= ATK_ROUNDS + ATK_RETRIES; r++)); do
            # tag v1x, u2x, l3x, ...: short, as the hostile server's NXNS
            # referral to 40 names built from it must fit in 1232 bytes
            # (NXNS_NAMES in bench/hostile.c and tests/lab/slowauth.py)
            $ATK names "$WORK" "${s:0:1}${r}x" $((ATK_RATE * (ATK_SECS + 4)))
        done
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
    # the control rows: the lab's own effect on the benign stream (vigil's)
    ((!ATK_CONTROL)) || [[ " ${up[*]} " != *" vigil "* ]] || up+=(lab)
    for atk in $ATK_LIST; do
        for s in "${up[@]}"; do
            tag=$s.atk.$atk
            if [[ $s != lab ]] && ! kill -0 "${PID[atk-$s]}" 2>/dev/null; then
                warn "$tag.died" "$s is no longer running (before the $atk attack)"
                [[ $s != vigil ]] || vigil_failed=1
                continue
            fi
            run_atk "$tag" "$s" "$atk"
            kv "$tag.status" ok
            log "$s attack $atk: benign $(get "$tag.base.qps") -> $(get "$tag.run.qps") q/s, p99 $(get "$tag.base.lat.p99") -> $(get "$tag.run.lat.p99") s; upstream $(get "$tag.upstream") for $(get "$tag.atk.sent") attack queries ($(get "$tag.atk.rcodes"))"
        done
    done
    for s in "${up[@]}"; do
        [[ $s != lab ]] || continue
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
