#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# One entry point for setting vigil up on Debian 12, as root.
#
#   bash contrib/setup.sh start   install packages, build vigil (only the
#                                 daemon) into ./build, create the system
#                                 user vigil and /var/lib/vigil, run it in
#                                 the foreground with its default config
#                                 (as root: it drops to vigil once bound)
#   bash contrib/setup.sh test    install packages, build three times (plain,
#                                 ASan+UBSan, TSan), run the whole suite on each
#   bash contrib/setup.sh deps    install the Debian packages only
#   bash contrib/setup.sh build   install packages and build into ./build
#   bash contrib/setup.sh fuzz-deps  install what tests/fuzz/run.sh needs
#                                 besides PACKAGES (clang, libFuzzer)
#
# Every package the build, the tests and the benchmark need is listed in
# PACKAGES.  Debian starts the nsd, unbound, knot, dnsdist and prometheus services
# when it installs them (dnsdist: contrib/fleet and tests/integration/test_fleet.py;
# prometheus: tests/integration/test_metrics.py scrapes vigil with one of its own);
# the tests and the benchmark run their own instances on 127.53.0.0/16 and
# 127.54.0.0/16 (Knot DNS: the RPZ feed tests, tests/lab/labknot.py), so this
# script disables those system services right after installing them (only the
# ones it installed itself).
set -euo pipefail

PACKAGES=(
	gcc libc6-dev pkg-config meson ninja-build
	libuv1-dev libldns-dev libssl-dev libsodium-dev libyaml-dev libnghttp2-dev check libsubunit-dev
	libfstrm-dev libprotobuf-c-dev protobuf-c-compiler fstrm-bin bind9-dnsutils
	libsystemd-dev
	nsd unbound knot dnsperf dnsutils ldnsutils knot-dnsutils openssl
	python3 python3-dnspython python3-pytest python3-h2 python3-cryptography
	iproute2 procps util-linux adduser
	dnsdist  # contrib/fleet (run.sh, tests/integration/test_fleet.py): the load balancer
	prometheus  # tests/integration/test_metrics.py scrapes vigil's /metrics
)
# tests/fuzz/run.sh only (libFuzzer builds); the test command does not need them
FUZZ_PACKAGES=(clang-14 libclang-rt-14-dev)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup.sh: run as root (it installs Debian packages)" >&2
		exit 1
	fi
}

# Install the packages named (default: PACKAGES) that are missing.
deps() {
	local missing=() want=("$@")
	[ ${#want[@]} -gt 0 ] || want=("${PACKAGES[@]}")
	for p in "${want[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		return 0
	fi
	need_root
	echo "setup.sh: installing the Debian packages missing here: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
	# Debian starts these on install; vigil's tests and bench run their own.
	for svc in nsd unbound knot dnsdist prometheus; do
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

# The install step: the system user vigil drops to after binding port 53
# (server.user) and its state directory (server.state-directory), once.
install_user() {
	need_root
	if ! getent passwd vigil >/dev/null; then
		echo "setup.sh: creating the system user vigil (vigil runs as it once bound)"
		adduser --system --group --no-create-home --home /var/lib/vigil \
			--gecos "vigil DNS resolver" vigil >/dev/null
	fi
	install -d -m 0750 -o vigil -g vigil /var/lib/vigil
}

# Configure build directory $1 with meson options $2..., once.  meson's own
# output is kept in $1/setup.log and shown when it fails (its errors are never
# hidden), so a normal run prints one line per build directory.
configure() {
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		return 0
	fi
	echo "setup.sh: configuring $dir (meson setup $dir $*)"
	local log
	log=$(mktemp)
	if ! meson setup "$dir" "$@" >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "setup.sh: meson setup $dir failed (above)" >&2
		exit 1
	fi
	mv "$log" "$dir/setup.log"
}

# Build target(s) $2... (default: everything) in build directory $1.
compile() {
	local dir=$1
	shift
	echo "setup.sh: building ${*:-everything} in $dir"
	ninja -C "$dir" "$@"
}

build() {
	deps
	configure build
	compile build
}

build_asan() {
	configure build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
	compile build-asan
}

build_tsan() {
	configure build-tsan -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug
	compile build-tsan
}

# Sanitizer options for every test run: reports to stderr (what meson and
# the integration tests read), the first error ends the process, and
# LeakSanitizer runs at every exit (the unit tests' and each vigil's).  Set
# here, so the caller's environment cannot turn a check off.
run_tests() {
	local dir=$1
	echo "=== test suite: $dir ==="
	rm -f "$dir/meson-logs/testlog.json" # no stale results if meson test fails early
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	LSAN_OPTIONS=detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		meson test -C "$dir" --print-errorlogs --num-processes 2
}

# One closing line over the builds: "tests: N passed, M failed, E errors,
# S skipped", counting each Check test case and each pytest case (from meson's
# JSON test log).  Failed counts the failed cases, plus one for each meson
# test that failed without a failed case of its own (it crashed, timed out,
# had only pytest errors, or has no log), so a failing run never says
# "0 failed"; so does a nonzero exit status of the run (first argument).
summary() {
	/usr/bin/python3 - "$@" <<'PY'
import json, re, sys
status, dirs = int(sys.argv[1]), sys.argv[2:]
n = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
# pytest's closing line: "1 failed, 10 passed, 2 skipped, 5 errors in 16.0s"
final = re.compile(r"^=*\s*((?:\d+ [a-z]+(?:, )?)+) in \d+(?:\.\d+)?s\b.*$", re.M)
kinds = {"passed": "passed", "failed": "failed", "error": "errors", "errors": "errors",
         "skipped": "skipped", "deselected": "skipped"}
for d in dirs:
    try:
        lines = open(d + "/meson-logs/testlog.json").read().splitlines()
    except OSError:
        print("summary: no test log in %s" % d, file=sys.stderr)
        n["failed"] += 1
        continue
    for line in lines:
        t = json.loads(line)
        out = t.get("stdout") or ""
        result = t.get("result")
        bad = 0  # failed cases this meson test reported
        m = final.findall(out)
        taps = re.findall(r"^(ok|not ok)\b[^\n#]*(#\s*\w+)?", out, re.M)
        if m:  # pytest
            for count, kind in re.findall(r"(\d+) ([a-z]+)", m[-1]):
                if kind in kinds:
                    n[kinds[kind]] += int(count)
                    bad += int(count) if kinds[kind] == "failed" else 0
        elif taps:  # Check, TAP
            for ok, directive in taps:
                if directive and directive.lstrip("# ").upper() == "SKIP":
                    n["skipped"] += 1
                elif ok == "ok":
                    n["passed"] += 1
                else:
                    n["failed"] += 1
                    bad += 1
        elif result == "SKIP":
            n["skipped"] += 1
        elif result == "OK":
            n["passed"] += 1
        if result not in ("OK", "SKIP", "EXPECTEDFAIL") and not bad:
            print("summary: %s: %s without a failed test case" % (t.get("name"), result),
                  file=sys.stderr)
            n["failed"] += 1
if status != 0 and n["failed"] == 0:
    print("summary: the run failed (exit status %d)" % status, file=sys.stderr)
    n["failed"] += 1
print("tests: %(passed)d passed, %(failed)d failed, %(errors)d errors, %(skipped)d skipped" % n)
PY
}

case "${1:-}" in
deps)
	deps
	;;
fuzz-deps)
	deps "${PACKAGES[@]}" "${FUZZ_PACKAGES[@]}"
	command -v clang >/dev/null || ln -s clang-14 /usr/bin/clang 2>/dev/null || true
	;;
build)
	build
	;;
start)
	deps
	configure build
	compile build vigil # only what starting needs, not the test programs
	shift
	install_user
	echo "setup.sh: starting vigil in the foreground (Ctrl-C stops it)"
	exec ./build/vigil "$@"
	;;
test)
	# What is tested is fixed here, not by the caller's environment: the
	# resolver under test is each build's vigil (tests/meson.build passes
	# VIGIL_BIN), and every test case runs.
	unset VIGIL_TEST_RESOLVER VIGIL_BIN PYTEST_ADDOPTS PYTEST_PLUGINS \
		CK_RUN_SUITE CK_RUN_CASE CK_INCLUDE_TAGS CK_EXCLUDE_TAGS CK_FORK
	build
	build_asan
	build_tsan
	status=0
	run_tests build || status=1
	run_tests build-asan || status=1
	run_tests build-tsan || status=1
	summary $status build build-asan build-tsan
	exit $status
	;;
*)
	echo "usage: bash contrib/setup.sh start|test|deps|build|fuzz-deps" >&2
	exit 2
	;;
esac
