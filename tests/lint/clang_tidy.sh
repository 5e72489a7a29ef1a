#!/usr/bin/env bash
# clang-tidy 14 with the repository's .clang-tidy over every .c file of
# worker/ common/ config/ (and our headers they include), each compiled as
# the build's compile_commands.json says. Any finding fails.
#
# The build directory is $PJ_BUILD_DIR, by default <source>/build-test
# (scripts/test.sh configures it); configuring any build of this tree
# writes the compile_commands.json it needs, building is not required.
# $PJ_LINT_JOBS clang-tidy processes run at once (default: every CPU).
# Before checking the tree the lint checks itself on a planted file, so a
# lint that can no longer fail fails.
set -euo pipefail

root=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
build=${PJ_BUILD_DIR:-$root/build-test}
jobs=${PJ_LINT_JOBS:-$(nproc)}
config=$root/.clang-tidy

tidy=
for c in clang-tidy-14 clang-tidy; do
	if command -v "$c" >/dev/null 2>&1 &&
	    [[ $("$c" --version) =~ version\ 14\. ]]; then
		tidy=$c
		break
	fi
done
if [[ -z $tidy ]]; then
	echo "clang_tidy: clang-tidy 14 not found (apt-get install" \
	    "clang-tidy-14, or run scripts/bootstrap.sh)"
	exit 1
fi
[[ -f $config ]] || { echo "clang_tidy: $config missing"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The tree's own sources, as the compile database names them.
mapfile -t files < <(cd "$root" && find worker common config -name '*.c' \
    -type f | sort)
db=$build/compile_commands.json
if [[ ! -r $db ]]; then
	echo "clang_tidy: $db not found: configure a build first" \
	    "(cmake -S $root -B $build), or set PJ_BUILD_DIR"
	exit 1
fi
# A file missing from the database would go unchecked: refuse instead.
missing=$(perl -MJSON::PP -e '
	local $/;
	open(my $fh, "<", $ARGV[0]) or die "clang_tidy: cannot read $ARGV[0]\n";
	my %in = map { $_->{file} => 1 } @{ decode_json(<$fh>) };
	print "$_\n" for grep { !$in{"$ARGV[1]/$_"} } @ARGV[2 .. $#ARGV];
' "$db" "$root" "${files[@]}")
if [[ -n $missing ]]; then
	echo "clang_tidy: not in $db (reconfigure the build):"
	echo "$missing"
	exit 1
fi

# Runs clang-tidy over the files given after --, the rest being its
# options; prints the findings. Exit status 0 only when there were none.
run() {
	local status=0 opts=()

	while [[ $1 != -- ]]; do
		opts+=("$1")
		shift
	done
	shift
	printf '%s\0' "$@" | xargs -0 -P "$jobs" -n 4 "$tidy" --quiet \
	    --config-file="$config" --extra-arg=-Wno-unknown-warning-option \
	    "${opts[@]}" >"$tmp/out" 2>"$tmp/err" || status=$?
	cat "$tmp/out"
	# Compiler errors and crashes go to stderr; the counts are noise.
	grep -vE '^[0-9]+ warnings? (generated|treated as errors)\.$|^Suppressed [0-9]+ warnings|^Use -header-filter' \
	    "$tmp/err" || true
	return "$status"
}

# The lint must still catch what it is for.
self_test() {
	local got
	mkdir "$tmp/self"
	# Indented with spaces: <<- strips leading tabs.
	cat >"$tmp/self/planted.c" <<-'EOF'
	#include <stdlib.h>
	int planted(int *counts);
	static int
	first(int *counts)
	{
	    return *counts;
	}
	int
	planted(int *counts)
	{
	    int *copy = malloc(sizeof(*copy));

	    if (copy == NULL)
	        return 0;
	    *copy = first(counts);
	    free(copy);
	    return *copy;
	}
	EOF
	printf '[{"directory": "%s", "file": "planted.c",
	    "command": "cc -std=c11 -c planted.c"}]\n' "$tmp/self" \
	    >"$tmp/self/compile_commands.json"
	if got=$(run -p "$tmp/self" -- "$tmp/self/planted.c" 2>&1); then
		echo "clang_tidy: SELF-TEST FAILED: a planted use after free" \
		    "and a non-const parameter passed:"
		echo "$got"
		return 1
	fi
	for check in clang-analyzer-unix.Malloc \
	    readability-non-const-parameter; do
		if [[ $got != *"[$check,-warnings-as-errors]"* ]]; then
			echo "clang_tidy: SELF-TEST FAILED: $check did not fire" \
			    "on the planted file:"
			echo "$got"
			return 1
		fi
	done
}

self_test
start=$SECONDS
if ! findings=$(run -p "$build" -- "${files[@]/#/$root/}"); then
	echo "$findings"
	n=$(grep -cE '^[^ ]+:[0-9]+:[0-9]+: error: ' <<<"$findings" || true)
	echo "clang_tidy: $n finding(s) in worker/ common/ config/ (see" \
	    ".clang-tidy; silence a false positive inline, with its reason)"
	exit 1
fi
echo "clang_tidy: ok (${#files[@]} files, $((SECONDS - start))s)"
