#!/usr/bin/env bash
# cppcheck (Debian 12: 2.10) over every .c file of worker/ common/ config/,
# each compiled as the build's compile_commands.json says: warnings, style,
# performance and portability findings. Any finding fails.
#
# The build directory is $PJ_BUILD_DIR, by default <source>/build-test
# (scripts/test.sh configures it); configuring any build of this tree
# writes the compile_commands.json it needs, building is not required.
# A false positive is silenced where it occurs, with a
# /* cppcheck-suppress <id> */ comment giving the reason, or below when it
# is a rule of ours. Before checking the tree the lint checks itself on a
# planted file, so a lint that can no longer fail fails.
set -euo pipefail

root=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
build=${PJ_BUILD_DIR:-$root/build-test}
jobs=${PJ_LINT_JOBS:-$(nproc)}

if ! command -v cppcheck >/dev/null 2>&1; then
	echo "cppcheck: not found (apt-get install cppcheck, or run" \
	    "scripts/bootstrap.sh)"
	exit 1
fi

# Suppressed everywhere, and why.
suppress=(
	# STYLE.md section 4: a function declares its resources and rc at
	# the top, so that the one out: label can release them.
	--suppress=variableScope
	# cppcheck 2.10 takes n = a < 16 ? a : 16 (a unsigned) for 0 and
	# calls every later i < n false; cppcheck --enable=style on
	#   unsigned f(const unsigned *a) { unsigned n = *a < 16 ? *a : 16,
	#   i, s = 0; for (i = 0; i < n; i++) s += i; return s; }
	# shows it. Only report.c writes the clamp this way.
	"--suppress=knownConditionTrueFalse:$root/worker/report.c"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mapfile -t files < <(cd "$root" && find worker common config -name '*.c' \
    -type f | sort)
db=$build/compile_commands.json
if [[ ! -r $db ]]; then
	echo "cppcheck: $db not found: configure a build first" \
	    "(cmake -S $root -B $build), or set PJ_BUILD_DIR"
	exit 1
fi
# Our files' entries only (cppcheck 2.10's --file-filter does not work
# with --project); a file missing from the database is refused, not
# skipped.
if ! perl -MJSON::PP -e '
	local $/;
	open(my $fh, "<", $ARGV[0]) or die "cppcheck: cannot read $ARGV[0]\n";
	my %by = map { $_->{file} => $_ } @{ decode_json(<$fh>) };
	my @missing = grep { !$by{"$ARGV[1]/$_"} } @ARGV[2 .. $#ARGV];
	if (@missing) {
		print STDERR "cppcheck: not in $ARGV[0] (reconfigure the build):\n";
		print STDERR "$_\n" for @missing;
		exit 1;
	}
	print JSON::PP->new->pretty->encode(
	    [ map { $by{"$ARGV[1]/$_"} } @ARGV[2 .. $#ARGV] ]);
' "$db" "$root" "${files[@]}" >"$tmp/compile_commands.json"; then
	exit 1
fi

# cppcheck over the compile database $1; prints the findings, one line
# each. Exit status 0 only when there were none.
run() {
	cppcheck --project="$1" --std=c11 --library=posix \
	    --enable=warning,style,performance,portability --inline-suppr \
	    "${suppress[@]}" --error-exitcode=1 --quiet -j "$jobs" \
	    --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
	    2>&1
}

# The lint must still catch what it is for.
self_test() {
	local got
	mkdir "$tmp/self"
	cat >"$tmp/self/planted.c" <<-'EOF'
	#include <stdlib.h>
	int planted(int i);
	int
	planted(int i)
	{
	    int counts[4] = { 0 };
	    int *copy = malloc(sizeof(*copy));

	    if (copy == NULL)
	        return counts[4];
	    *copy = i;
	    return *copy;
	}
	EOF
	printf '[{"directory": "%s", "file": "planted.c",
	    "command": "cc -std=c11 -c planted.c"}]\n' "$tmp/self" \
	    >"$tmp/self/compile_commands.json"
	if got=$(run "$tmp/self/compile_commands.json"); then
		echo "cppcheck: SELF-TEST FAILED: a planted overflow and leak" \
		    "passed:"
		echo "$got"
		return 1
	fi
	for id in arrayIndexOutOfBounds memleak; do
		if [[ $got != *"[$id]"* ]]; then
			echo "cppcheck: SELF-TEST FAILED: $id not found in the" \
			    "planted file:"
			echo "$got"
			return 1
		fi
	done
}

self_test
start=$SECONDS
if ! findings=$(run "$tmp/compile_commands.json"); then
	echo "$findings"
	n=$(grep -cE '^[^ ]+:[0-9]+:[0-9]+: [a-z]+: ' <<<"$findings" || true)
	echo "cppcheck: $n finding(s) in worker/ common/ config/"
	exit 1
fi
echo "cppcheck: ok (${#files[@]} files, $((SECONDS - start))s)"
