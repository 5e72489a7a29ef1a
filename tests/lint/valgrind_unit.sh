#!/usr/bin/env bash
# Every unit test binary under valgrind's memcheck: any invalid access, use
# of an uninitialized value, bad free or definitely lost block fails, as
# does a failing test. AddressSanitizer and valgrind do not mix, so the
# unit tests are built once more, without sanitizers, in their own tree:
# $PJ_VALGRIND_BUILD_DIR, by default <source>/build-valgrind (only the unit
# test targets are built there). Before that the lint checks itself on a
# planted leak, so a lint that can no longer fail fails.
set -euo pipefail

root=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
build=${PJ_VALGRIND_BUILD_DIR:-$root/build-valgrind}
jobs=${PJ_LINT_JOBS:-$(nproc)}

if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind_unit: valgrind not found (apt-get install valgrind," \
	    "or run scripts/bootstrap.sh)"
	exit 1
fi

memcheck=(valgrind --quiet --error-exitcode=1 --leak-check=full
	--show-leak-kinds=definite --errors-for-leak-kinds=definite
	--track-origins=yes)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The lint must still catch what it is for.
self_test() {
	local got
	cat >"$tmp/planted.c" <<-'EOF'
	#include <stdlib.h>
	#include <string.h>
	int
	main(int argc, char **argv)
	{
	    char *lost = malloc(16);

	    (void)argv;
	    memset(lost, 'x', 16);
	    lost = NULL;
	    return argc - 1;
	}
	EOF
	if ! cc -g -O0 -o "$tmp/planted" "$tmp/planted.c"; then
		echo "valgrind_unit: SELF-TEST FAILED: cannot compile the" \
		    "planted leak"
		return 1
	fi
	if got=$("${memcheck[@]}" "$tmp/planted" 2>&1); then
		echo "valgrind_unit: SELF-TEST FAILED: a planted leak passed:"
		echo "$got"
		return 1
	fi
	if [[ $got != *"definitely lost"* ]]; then
		echo "valgrind_unit: SELF-TEST FAILED: no leak reported for" \
		    "the planted leak:"
		echo "$got"
		return 1
	fi
}

self_test

mapfile -t tests < <(cd "$root/tests/unit" && find . -maxdepth 1 \
    -name 'test_*.c' -type f | sed -e 's|^\./||' -e 's|\.c$||' | sort)
if ((${#tests[@]} == 0)); then
	echo "valgrind_unit: no unit tests under $root/tests/unit"
	exit 1
fi

start=$SECONDS
if ! cmake -S "$root" -B "$build" -DPJ_SANITIZE=OFF \
    -DCMAKE_BUILD_TYPE=Debug >"$tmp/configure.log" 2>&1; then
	cat "$tmp/configure.log"
	echo "valgrind_unit: configuring $build failed"
	exit 1
fi
if ! cmake --build "$build" -j "$jobs" --target "${tests[@]}" \
    >"$tmp/build.log" 2>&1; then
	cat "$tmp/build.log"
	echo "valgrind_unit: building the unit tests in $build failed"
	exit 1
fi
built=$((SECONDS - start))

failed=()
for t in "${tests[@]}"; do
	exe=$build/tests/$t
	if [[ ! -x $exe ]]; then
		echo "valgrind_unit: $exe was not built"
		failed+=("$t")
		continue
	fi
	# As ctest runs it: from the test's build directory.
	if ! (cd "$build/tests" && "${memcheck[@]}" "$exe") \
	    >"$tmp/$t.log" 2>&1; then
		cat "$tmp/$t.log"
		echo "valgrind_unit: $t: FAILED under memcheck"
		failed+=("$t")
	fi
done
if ((${#failed[@]} > 0)); then
	echo "valgrind_unit: ${#failed[@]} of ${#tests[@]} unit tests failed" \
	    "under memcheck: ${failed[*]}"
	exit 1
fi
echo "valgrind_unit: ok (${#tests[@]} unit tests; build ${built}s," \
    "memcheck $((SECONDS - start - built))s)"
