#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Fuzz vigil with libFuzzer (tests/fuzz/README.md):
#
#   bash tests/fuzz/run.sh [SECONDS] [HARNESS...]
#
# builds the harnesses with clang -fsanitize=fuzzer,address,undefined into
# ./build-fuzz (Debian's clang and libFuzzer: contrib/setup.sh fuzz-deps
# installs them) and runs each HARNESS (default: all of them, one after the
# other) for SECONDS (default 60) on its seed corpus.  Per harness it prints
# the executions, the coverage libFuzzer reports at the end (cov: edges,
# ft: features) and the corpus size, and any crash, leak, timeout or OOM,
# whose input is saved as tests/fuzz/corpus/<name>/crash-* (timeout-*,
# leak-*, oom-*): the test command then replays it as a regression input.
# New interesting inputs go to build-fuzz/corpus/<name> (kept between runs,
# not committed).  Exit status 1 when any harness found something.
#
# Environment: FUZZ_ARGS adds libFuzzer options (e.g. "-jobs=2 -workers=2"
# or "-max_len=8192"); CC overrides the compiler (default clang).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$here"

secs=${1:-60}
shift || true
all=(wire pipeline rpz config xfr dnssec)
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${all[@]}")
case $secs in
'' | *[!0-9]*)
	echo "usage: bash tests/fuzz/run.sh [SECONDS] [HARNESS...] (harnesses: ${all[*]})" >&2
	exit 2
	;;
esac

bash contrib/setup.sh fuzz-deps
dir=build-fuzz
if [ ! -f "$dir/build.ninja" ]; then
	# -Werror stays with the gcc builds: clang warns about GNU extensions vigil uses
	echo "run.sh: configuring $dir (clang, libFuzzer, ASan+UBSan)"
	CC=${CC:-clang} meson setup "$dir" -Dfuzzing=true -Dintegration=false \
		-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized \
		-Dc_args=-fno-sanitize-recover=undefined -Dwerror=false >"$dir.setup.log" 2>&1 ||
		{ cat "$dir.setup.log" >&2; exit 1; }
	mv "$dir.setup.log" "$dir/setup.log"
fi
targets=()
for h in "${harnesses[@]}"; do
	[ -f "tests/fuzz/fuzz_$h.c" ] || { echo "run.sh: no harness '$h' (${all[*]})" >&2; exit 2; }
	targets+=("tests/fuzz/fuzz_$h")
done
ninja -C "$dir" "${targets[@]}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
# leaks inside Debian's libraries that a harness would find again every run
export LSAN_OPTIONS=suppressions=$here/tests/fuzz/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

status=0
summary=()
for h in "${harnesses[@]}"; do
	seeds=tests/fuzz/corpus/$h
	work=$dir/corpus/$h
	log=$dir/fuzz-$h.log
	mkdir -p "$work"
	echo "=== fuzz_$h: ${secs}s (log: $log)"
	rc=0
	# new inputs go to $work (first directory); crashers into the seed directory
	"$dir/tests/fuzz/fuzz_$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$seeds/" ${FUZZ_ARGS:-} \
		"$work" "$seeds" >"$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	found=$(grep -E '^(artifact_prefix|Test unit written to)' "$log" | sed 's/.*written to //' |
		sort -u | tr '\n' ' ' || true)
	line=$(printf '%-9s execs %-10s cov %-6s ft %-6s corpus %-5s %s' "$h" "${execs:-?}" \
		"${cov:-?}" "${ft:-?}" "$(ls "$work" | wc -l)" \
		"${found:+FOUND: $found}")
	echo "$line"
	if [ $rc -ne 0 ] || [ -n "$found" ]; then
		status=1
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -5 || true
	fi
	summary+=("$line")
done
echo "=== fuzzing summary (${secs}s each)"
printf '%s\n' "${summary[@]}"
exit $status
