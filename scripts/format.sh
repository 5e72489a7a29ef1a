#!/usr/bin/env bash
# Formats the C sources with clang-format 14 and the repository's
# .clang-format: worker/ common/ config/ tests/ and top-level *.c *.h.
#
#   scripts/format.sh           rewrite files in place
#   scripts/format.sh --check   change nothing; list unformatted files, exit 1
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
check=false
case ${1:-} in
"") ;;
--check) check=true ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

# Another major version formats differently: insist on 14.
cf=
for c in clang-format-14 clang-format; do
	if command -v "$c" >/dev/null 2>&1 &&
	    [[ $("$c" --version) =~ version\ 14\. ]]; then
		cf=$c
		break
	fi
done
if [[ -z $cf ]]; then
	echo "format: clang-format 14 not found (apt-get install clang-format-14," \
	    "or run scripts/bootstrap.sh)" >&2
	exit 1
fi
[[ -f $root/.clang-format ]] || { echo "format: $root/.clang-format missing" >&2; exit 1; }

cd "$root"
mapfile -d '' files < <({
	find worker common config tests \( -name '*.c' -o -name '*.h' \) \
	    -type f -print0 2>/dev/null || true
	find . -maxdepth 1 \( -name '*.c' -o -name '*.h' \) -type f -print0
} | sort -z)
if ((${#files[@]} == 0)); then
	echo "format: no C files found under $root" >&2
	exit 1
fi

if ! $check; then
	"$cf" -style=file -i "${files[@]}"
	echo "format: ${#files[@]} files formatted"
	exit 0
fi

bad=0
for f in "${files[@]}"; do
	if ! "$cf" -style=file "$f" | cmp -s - "$f"; then
		echo "format: not formatted: ${f#./}"
		bad=$((bad + 1))
	fi
done
if ((bad > 0)); then
	echo "format: $bad of ${#files[@]} files need scripts/format.sh" \
	    "(to see how: $cf -style=file FILE | diff -u FILE -)"
	exit 1
fi
echo "format: ${#files[@]} files formatted as .clang-format says"
