#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# One entry point for setting vigil up on Debian 12, as root.
#
#   bash contrib/setup.sh start   install packages, build, run vigil in the
#                                 foreground with its default config
#   bash contrib/setup.sh test    install packages, build three times (plain,
#                                 ASan+UBSan, TSan), run the whole suite on each
#   bash contrib/setup.sh deps    install the Debian packages only
#   bash contrib/setup.sh build   install packages and build into ./build
#
# Every package the build, the tests and the benchmark need is listed in
# PACKAGES.  Debian starts the nsd, unbound and knot services when it installs
# them; the tests and the benchmark run their own instances on 127.53.0.0/16 and
# 127.54.0.0/16 (Knot DNS: the RPZ feed tests, tests/lab/labknot.py), so this
# script disables those system services right after installing them (only the
# ones it installed itself).
set -euo pipefail

PACKAGES=(
	gcc libc6-dev pkg-config meson ninja-build
	libuv1-dev libldns-dev libssl-dev libsodium-dev libyaml-dev check libsubunit-dev
	nsd unbound knot dnsperf dnsutils ldnsutils
	python3 python3-dnspython python3-pytest
	iproute2 procps util-linux
)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup.sh: run as root (it installs Debian packages)" >&2
		exit 1
	fi
}

deps() {
	local missing=()
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		return 0
	fi
	need_root
	echo "setup.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# Debian starts these on install; vigil's tests and bench run their own.
	for svc in nsd unbound knot; do
		# (enabled counts too: where policy-rc.d stopped the start, as in a
		# container, the service would still come up at the next boot)
		if printf '%s\n' "${missing[@]}" | grep -qx "$svc" && command -v systemctl >/dev/null &&
			{ systemctl is-active --quiet "$svc" 2>/dev/null ||
			  systemctl is-enabled --quiet "$svc" 2>/dev/null; }; then
			echo "setup.sh: disabling the $svc system service it just installed"
			systemctl disable --now "$svc" >/dev/null 2>&1 || true
		fi
	done
}

build() {
	deps
	if [ ! -f build/build.ninja ]; then
		meson setup build >/dev/null
	fi
	ninja -C build
}

build_asan() {
	if [ ! -f build-asan/build.ninja ]; then
		meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
			-Dbuildtype=debug >/dev/null
	fi
	ninja -C build-asan
}

build_tsan() {
	if [ ! -f build-tsan/build.ninja ]; then
		meson setup build-tsan -Db_sanitize=thread -Db_lundef=false \
			-Dbuildtype=debug >/dev/null
	fi
	ninja -C build-tsan
}

run_tests() {
	local dir=$1
	echo "=== test suite: $dir ==="
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		meson test -C "$dir" --print-errorlogs --num-processes 2
}

# One closing line over both builds: "tests: N passed, M failed", counting each
# Check test case and each pytest case (from meson's JSON test log).
summary() {
	/usr/bin/python3 - "$@" <<'PY'
import json, re, sys
passed = failed = 0
for d in sys.argv[1:]:
    try:
        lines = open(d + "/meson-logs/testlog.json").read().splitlines()
    except OSError:
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        out = t.get("stdout") or ""
        ok = t.get("result") == "OK"
        m = re.search(r"(\d+) passed", out)
        f = re.search(r"(\d+) failed", out)
        taps = re.findall(r"^(ok|not ok) \d+", out, re.M)
        if m:  # pytest
            passed += int(m.group(1))
            failed += int(f.group(1)) if f else 0
        elif taps:  # Check, TAP
            passed += sum(1 for x in taps if x == "ok")
            failed += sum(1 for x in taps if x != "ok")
        if not ok and not (f or "not ok" in taps):
            failed += 1  # crashed or timed out without saying what
print("tests: %d passed, %d failed" % (passed, failed))
PY
}

case "${1:-}" in
deps)
	deps
	;;
build)
	build
	;;
start)
	build
	shift
	echo "setup.sh: starting vigil in the foreground (Ctrl-C stops it)"
	exec ./build/vigil "$@"
	;;
test)
	build
	build_asan
	build_tsan
	status=0
	run_tests build || status=1
	run_tests build-asan || status=1
	run_tests build-tsan || status=1
	summary build build-asan build-tsan
	exit $status
	;;
*)
	echo "usage: bash contrib/setup.sh start|test|deps|build" >&2
	exit 2
	;;
esac
