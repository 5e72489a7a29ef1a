#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang, ASan, UBSan and
# libFuzzer into $PJ_FUZZ_BUILD_DIR (default <source>/build-fuzz) and runs
# each for SECONDS, from its seed corpus (tests/fuzz/corpus/<name>/, never
# written to) and what earlier runs in that build directory found. Any
# crash, sanitizer report, leak, input slower than 10 s or use of more than
# 2 GB fails the run; the input is kept in <build>/artifacts/<name>/ and
# the command reproducing it is printed.
#
#   tests/fuzz/run.sh [SECONDS]
#
# SECONDS is per target: by default $PJ_FUZZ_SECONDS, else 60 (in CI too,
# as issue #6 asks: the two targets add about two minutes to the suite).
# Needs clang and the libFuzzer runtime (Debian: libclang-rt-14-dev).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${PJ_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${1:-${PJ_FUZZ_SECONDS:-60}}
if [[ ! $seconds =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: $0 [SECONDS]  (a whole number of seconds per target)" >&2
	exit 2
fi
targets=(fuzz_config fuzz_duration)
declare -A corpus=([fuzz_config]=config [fuzz_duration]=duration)
declare -A max_len=([fuzz_config]=16384 [fuzz_duration]=64)

if ! command -v clang >/dev/null 2>&1; then
	echo "fuzz: clang not found (apt-get install clang libclang-rt-14-dev," \
	    "or run scripts/bootstrap.sh)" >&2
	exit 1
fi
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n);
int LLVMFuzzerTestOneInput(const char *d, unsigned long n)
{ (void)d; (void)n; return 0; }' |
    clang -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
	echo "fuzz: clang cannot link libFuzzer (apt-get install" \
	    "libclang-rt-14-dev, or run scripts/bootstrap.sh)" >&2
	exit 1
fi

# A config input becomes a file: put it on a tmpfs when there is one.
tmp=$(mktemp -d /dev/shm/pj-fuzz.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Only the fuzz targets and the libraries they test: -O1 rather than
# Debug's -O0 for speed, with assertions left on.
start=$SECONDS
if ! cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" \
    -DPJ_SANITIZE=ON -DPJ_FUZZ=ON -DPJ_BUILD_TESTS=OFF \
    >"$tmp/configure.log" 2>&1; then
	cat "$tmp/configure.log" >&2
	echo "fuzz: configuring $build failed" >&2
	exit 1
fi
if ! cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" \
    >"$build/build.log" 2>&1; then
	cat "$build/build.log" >&2
	echo "fuzz: building the fuzz targets failed" >&2
	exit 1
fi
echo "fuzz: built ${targets[*]} in $((SECONDS - start))s"

# The config fuzzer's dictionary: every key of the example file, and YAML's
# punctuation, so that it reaches the checks behind the key table.
{
	grep -oE '^ *[a-z_]+:' "$root/config/placement-janitor.yaml" |
	    sed -E 's/^ *//' | sort -u | sed -E 's/.*/"&"/'
	for t in '\x0a  ' '- ' '? ' ': ' '{' '}' '[' ']' ', ' '#' '&a ' '*a' \
	    '!!str ' '---' '...' '|' '>' '"' "'" '\x09' '\x00' '\xff' \
	    ' true' ' false' ' 0' ' 65535' ' 9223372036854775807' ' 500ms' \
	    ' 1h' ' 90d' ' off' ' report' ' repair' ' [::1]:3306'; do
		printf '"%s"\n' "${t//\"/\\\"}"
	done
} >"$tmp/config.dict"
printf '"%s"\n' ms s m h d 0 9 922337203685477580 >"$tmp/duration.dict"

# Runs fuzzer $1 for $2 seconds with libFuzzer options $3..., logging to
# $log. Exit status: 0, or the fuzzer's (a finding) or timeout's.
fuzz() {
	local exe=$1 secs=$2
	shift 2
	# libFuzzer ends itself after max_total_time; timeout is the backstop
	# should it hang outside an input.
	TMPDIR=$tmp timeout --kill-after=10 $((secs + 120)) "$exe" \
	    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 "$@" >"$log" 2>&1
}

# The runner must still fail on what it is there to catch: a planted
# target that crashes, leaks or hangs on one input each.
self_test() {
	local what rc
	mkdir -p "$tmp/self"
	cat >"$tmp/self/planted.c" <<-'EOF'
	#include <stdint.h>
	#include <stdlib.h>
	#include <string.h>
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
	static volatile unsigned long spin;
	int
	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
	{
	    if (size == 5 && memcmp(data, "crash", 5) == 0)
	        abort();
	    if (size == 4 && memcmp(data, "leak", 4) == 0)
	        (void)strdup("lost");
	    while (size == 4 && memcmp(data, "hang", 4) == 0)
	        spin++;
	    return 0;
	}
	EOF
	if ! clang -g -D_POSIX_C_SOURCE=200809L -fsanitize=fuzzer,address \
	    -o "$tmp/self/planted" "$tmp/self/planted.c" 2>"$tmp/self/cc.log"; then
		cat "$tmp/self/cc.log"
		echo "fuzz: SELF-TEST FAILED: cannot build the planted target"
		return 1
	fi
	local -A expect=([crash]='deadly signal' [leak]='LeakSanitizer'
	    [hang]='ERROR: libFuzzer: timeout')
	for what in crash leak hang; do
		mkdir -p "$tmp/self/$what" "$tmp/self/$what.out"
		printf '%s' "$what" >"$tmp/self/$what/input"
		log=$tmp/self/$what.log
		rc=0
		# -runs: the seed only, no mutations; -timeout: a 1 s "hang".
		fuzz "$tmp/self/planted" 30 -runs=0 -timeout=1 \
		    -artifact_prefix="$tmp/self/$what.out/" "$tmp/self/$what" ||
		    rc=$?
		if ((rc == 0)) || ! grep -q "${expect[$what]}" "$log"; then
			cat "$log"
			echo "fuzz: SELF-TEST FAILED: a planted $what was not" \
			    "reported (${expect[$what]})"
			return 1
		fi
	done
}

self_test
failed=()
for t in "${targets[@]}"; do
	name=${corpus[$t]}
	seeds=$root/tests/fuzz/corpus/$name
	work=$build/corpus/$name
	artifacts=$build/artifacts/$name/
	rm -rf "$artifacts"
	mkdir -p "$work" "$artifacts"
	log=$build/$t.log
	echo "fuzz: $t for ${seconds}s (seeds: tests/fuzz/corpus/$name)"
	rc=0
	fuzz "$build/tests/fuzz/$t" "$seconds" -max_len="${max_len[$t]}" \
	    -dict="$tmp/$name.dict" -artifact_prefix="$artifacts" \
	    "$work" "$seeds" || rc=$?
	if ((rc != 0)); then
		tail -n 60 "$log"
		echo "fuzz: $t FAILED (exit $rc); full log: $log"
		for a in "$artifacts"*; do
			[[ -e $a ]] || continue
			echo "fuzz: reproduce with: $build/tests/fuzz/$t $a"
		done
		failed+=("$t")
		continue
	fi
	runs=$(sed -nE 's/^stat::number_of_executed_units: *//p' "$log")
	echo "fuzz: $t ok: ${runs:-?} inputs, corpus of" \
	    "$(find "$work" -type f | wc -l) in $work"
done
if ((${#failed[@]} > 0)); then
	echo "fuzz: failed: ${failed[*]}"
	exit 1
fi
echo "fuzz: ok (${targets[*]}, ${seconds}s each)"
