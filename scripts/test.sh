#!/usr/bin/env bash
# The test suite, as CI runs it: installs what is missing, builds with
# sanitizers into build-test/, starts a private sandbox MariaDB (its own
# port, so a demo sandbox can run beside it) and a three-node Galera
# cluster (scripts/galera-sandbox.sh, ports 13320..13331 or from
# PJ_TEST_GALERA_PORT), runs ctest and always stops them. Extra arguments
# go to ctest (e.g. -L unit, -R config).
#
# With CI=true nothing may be skipped: PJ_TEST_ALLOW_SKIP=0 is exported and
# a test that ctest reports as skipped or disabled fails the run.
# Exit status: ctest's (or 1 for a skip under CI, or a setup failure).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build-test
cd "$root"

bash scripts/bootstrap.sh
cmake -S "$root" -B "$build" -DPJ_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
cmake --build "$build" -j2
# The optimiser sees more (-Wmaybe-uninitialized, -Wrestrict): the release
# build must be warning-free too, as scripts/demo.sh and packagers build it.
# Prefix /usr as a distribution package has it (tests/lint/install.sh).
cmake -S "$root" -B "$root/build-release" -DCMAKE_BUILD_TYPE=Release \
    -DPJ_BUILD_TESTS=OFF -DCMAKE_INSTALL_PREFIX=/usr
cmake --build "$root/build-release" -j2

# The static-analysis lints read this tree's compile_commands.json.
export PJ_BUILD_DIR=$build
export PJ_SANDBOX_DIR=$build/sandbox
export PJ_SANDBOX_PORT=${PJ_TEST_SANDBOX_PORT:-13307}
# The three-node Galera cluster of test_galera, when the provider is
# installed (scripts/bootstrap.sh installs it; without it test_galera
# fails, or skips where skips are allowed).
export PJ_GALERA_DIR=$build/galera
export PJ_GALERA_PORT=${PJ_TEST_GALERA_PORT:-13320}
galera=false
if [[ -r /usr/lib/galera/libgalera_smm.so ]]; then
	galera=true
fi
stop_sandbox() {
	if $galera; then
		bash "$root/scripts/galera-sandbox.sh" stop || true
	fi
	bash "$root/scripts/sandbox-db.sh" stop || true
}
ctest_pid=
on_signal() {
	if [[ -n $ctest_pid ]]; then
		kill -TERM "$ctest_pid" 2>/dev/null || true
	fi
	exit "$1"
}
trap stop_sandbox EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
bash scripts/sandbox-db.sh start
eval "$(bash scripts/sandbox-db.sh env)"
if $galera; then
	bash scripts/galera-sandbox.sh start
	eval "$(bash scripts/galera-sandbox.sh env)"
fi

ci=false
# A hung test fails after PJ_TEST_TIMEOUT seconds (ctest's default: 1500).
ctest_args=(--test-dir "$build" --output-on-failure --parallel 2
	--timeout "${PJ_TEST_TIMEOUT:-600}")
if [[ ${CI:-} == true ]]; then
	ci=true
	export PJ_TEST_ALLOW_SKIP=0
	ctest_args+=(--no-tests=error)
fi
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

log=$build/ctest.log
# ctest and the copy of its log to the terminal run in the background, so
# that a signal to this script is handled at once, not after ctest ends.
ctest "${ctest_args[@]}" "$@" >"$log" 2>&1 &
ctest_pid=$!
tail -n +1 -f --pid="$ctest_pid" "$log" &
tail_pid=$!
rc=0
wait "$ctest_pid" || rc=$?
ctest_pid=
wait "$tail_pid" || true

if $ci && grep -qE '\*\*\*(Skipped|Not Run \(Disabled\))|\((Skipped|Disabled)\)' "$log"; then
	echo "test.sh: CI=true and ctest skipped or disabled tests:" >&2
	grep -E '\*\*\*(Skipped|Not Run \(Disabled\))|\((Skipped|Disabled)\)' "$log" >&2
	((rc != 0)) || rc=1
fi
exit "$rc"
