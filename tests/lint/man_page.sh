#!/usr/bin/env bash
# config/placement-janitor.8, the manual page, must
#   - render without a single groff warning (groff -man -ww; also
#     mandoc -Tlint at level warning when mandoc is installed),
#   - have its sections (NAME ... SEE ALSO),
#   - name every key of config/placement-janitor.yaml,
#   - give every row of README.md's exit status table, word for word,
#   - name every pass of worker/passes.c, every command and every long
#     option of worker/cli.c.
# Checks are made on the rendered text (plain ASCII, no hyphenation), so
# roff escapes do not hide or fake a match. Before the real check the lint
# checks itself on planted broken pages.
# No groff: exit 77 (skip), or fail when CI=true.
set -euo pipefail

root=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)

if ! command -v groff >/dev/null 2>&1; then
	if [[ ${CI:-} == true ]]; then
		echo "man_page: FAIL: groff not found (apt-get install groff-base; CI=true: nothing may be skipped)" >&2
		exit 1
	fi
	echo "man_page: SKIP: groff not found (apt-get install groff-base)"
	exit 77
fi

sections=(NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS PASSES CONFIGURATION
	"EXIT STATUS" FILES EXAMPLES SECURITY "SEE ALSO")

# The page as plain text: no bold or underline, no hyphenation, long lines.
render() {
	groff -man -Tascii -rHY=0 -rLL=160n -P-c "$1" 2>/dev/null | col -bx
}

# Dotted paths of the leaf keys of a YAML file written as ours is (two
# spaces per level, one key per line, comments on their own lines).
yaml_keys() {
	awk '
	/^[[:space:]]*(#|$)/ { next }
	{
		match($0, /^ */)
		depth = RLENGTH / 2
		line = substr($0, RLENGTH + 1)
		key = line
		sub(/:.*/, "", key)
		value = line
		sub(/^[^:]*:[[:space:]]*/, "", value)
		path[depth] = key
		if (value == "")
			next
		out = path[0]
		for (i = 1; i <= depth; i++)
			out = out "." path[i]
		print out
	}' "$1"
}

# README's exit status rows as "CODE MEANING", backticks dropped.
readme_exit_rows() {
	awk '
	/^## Exit status/ { on = 1; next }
	/^## / { on = 0 }
	on && /^\| [0-9]+ \|/ {
		row = $0
		gsub(/`/, "", row)
		sub(/^\| /, "", row)
		sub(/ \|[[:space:]]*$/, "", row)
		sub(/ \| /, " ", row)
		print row
	}' "$1"
}

# Words the page must hold (TAB-separated: what, word) from the sources.
source_words() {
	local src=$1
	sed -n 's/^[[:space:]]*&pj_pass_\([a-z_]*\),$/pass\t\1/p' \
	    "$src/worker/passes.c"
	sed -n 's/^[[:space:]]*{ "\([a-z-]*\)", PJ_CMD_[A-Z_]* },$/command\t\1/p' \
	    "$src/worker/cli.c"
	sed -n 's/^[[:space:]]*{ "\([a-z-]*\)", [a-z_]*_argument,.*/option\t--\1/p' \
	    "$src/worker/cli.c"
}

# has_word WORD: whether stdin holds WORD whole, not as a part of a longer
# word or dotted path (password in password_file, a pass name in
# passes.NAME.mode, help in --help).
has_word() {
	WORD=$1 perl -e '
		my $t = do { local $/; <STDIN> };
		exit($t =~ /(?<![\w.-])\Q$ENV{WORD}\E(?![\w-])/ ? 0 : 1)'
}

# lint PAGE YAML README SRC: prints one line per problem.
lint() {
	local page=$1 yaml=$2 readme=$3 src=$4 text flat s key row what word
	groff -man -Tutf8 -ww -z "$page" 2>&1 | sed 's/^/groff: /' || true
	if command -v mandoc >/dev/null 2>&1; then
		mandoc -Tlint -Wwarning "$page" 2>&1 | sed 's/^/mandoc: /' || true
	fi
	text=$(render "$page")
	for s in "${sections[@]}"; do
		grep -qx "$s" <<<"$text" || echo "section: no $s"
	done
	# One line, single spaces: wrapping does not matter.
	flat=" $(tr -s '[:space:]' ' ' <<<"$text") "
	while IFS= read -r key; do
		has_word "$key" <<<"$flat" ||
		    echo "config key: $key not in the page"
	done < <(yaml_keys "$yaml")
	local exit_text
	exit_text=" $(sed -n '/^EXIT STATUS$/,/^[A-Z][A-Z ]*$/p' <<<"$text" |
	    tr -s '[:space:]' ' ') "
	while IFS= read -r row; do
		[[ $exit_text == *" $row "* ]] ||
		    echo "exit status: \"$row\" not in EXIT STATUS"
	done < <(readme_exit_rows "$readme")
	while IFS=$'\t' read -r what word; do
		has_word "$word" <<<"$flat" || echo "$what: $word not in the page"
	done < <(source_words "$src")
}

self_test() {
	local t got want
	t=$(mktemp -d)
	trap 'rm -rf "$t"' RETURN
	mkdir -p "$t/worker"
	printf 'a:\n  b: 1\n  # c: comment\n  c:\n    d_e: "x"\nf: ""\ng_h: 0\n' >"$t/k.yaml"
	printf '## Exit status\n\n| code | meaning |\n| --- | --- |\n| 0 | all `fine` |\n| 9 | bad, really bad |\n\n## Next\n| 7 | not a row |\n' >"$t/README.md"
	printf '\t&pj_pass_alpha,\n\t&pj_pass_beta_two,\n' >"$t/worker/passes.c"
	printf '\t{ "check", PJ_CMD_CHECK },\n\t{ "config", required_argument, NULL, 1 },\n\t{ "dry-run", no_argument, NULL, 2 },\n' >"$t/worker/cli.c"
	cat >"$t/bad.8" <<-'EOF'
	.TH X 8
	.SH NAME
	x \- y
	.BOGUS
	.SH SYNOPSIS
	.SH DESCRIPTION
	a.b a.c.d_ef g_h alpha check \-\-config x.beta_two.y \-\-dry\-runs
	.SH COMMANDS
	.SH OPTIONS
	.SH PASSES
	.SH CONFIGURATION
	.SH EXIT STATUS
	.TP
	.B 0
	all fine
	.TP
	.B 9
	bad, really
	.SH FILES
	.SH EXAMPLES
	.SH SECURITY
	EOF
	got=$(lint "$t/bad.8" "$t/k.yaml" "$t/README.md" "$t" |
	    sed -e 's/^groff: .*BOGUS.*/groff: BOGUS/' | sort)
	want=$(sort <<-'EOF'
	groff: BOGUS
	section: no SEE ALSO
	config key: a.c.d_e not in the page
	config key: f not in the page
	exit status: "9 bad, really bad" not in EXIT STATUS
	pass: beta_two not in the page
	option: --dry-run not in the page
	EOF
	)
	if [[ $got != "$want" ]]; then
		echo "man_page: SELF-TEST FAILED: on the planted page, expected:" >&2
		echo "$want" >&2
		echo "but found:" >&2
		echo "$got" >&2
		return 1
	fi
}

self_test
problems=$(lint "$root/config/placement-janitor.8" \
    "$root/config/placement-janitor.yaml" "$root/README.md" "$root")
if [[ -n $problems ]]; then
	echo "$problems"
	echo "man_page: FAIL: $(wc -l <<<"$problems") problem(s) in config/placement-janitor.8" >&2
	exit 1
fi
echo "man_page: ok ($(yaml_keys "$root/config/placement-janitor.yaml" | wc -l) config keys, $(readme_exit_rows "$root/README.md" | wc -l) exit codes, passes, commands and options documented; groff -ww clean)"
