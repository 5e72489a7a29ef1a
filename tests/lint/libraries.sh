#!/usr/bin/env bash
# One library, one file (STYLE.md section 2): in the .c and .h files of
# worker/ common/ config/ tests/,
#   mysql_*, MYSQL* and <mysql.h>      appear only in common/db.c
#   libyaml names and <yaml.h>         appear only in config/yaml.c
#   libuuid names and <uuid/uuid.h>    appear only in common/uuid.c
# Comments and string literals are ignored. libyaml and libuuid names are
# the identifiers their installed headers declare, so a variable such as
# yaml_text or uuid_len is no finding. Before scanning, the lint checks itself on a
# planted tree, so a lint that can no longer fail fails.
set -euo pipefail

root=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
yaml_header=${PJ_YAML_HEADER:-/usr/include/yaml.h}
uuid_header=${PJ_UUID_HEADER:-/usr/include/uuid/uuid.h}

# Prints one line per finding: path:line: what. Exit status 0 either way.
scan() {
	local tree=$1 files
	files=$(cd "$tree" && find worker common config tests \
	    \( -name '*.c' -o -name '*.h' \) -type f 2>/dev/null | sort)
	[[ -n $files ]] || return 0
	(cd "$tree" && printf '%s\n' "$files" |
	    YAML_HEADER=$yaml_header UUID_HEADER=$uuid_header perl -e '
use strict;
use warnings;

# Identifiers a header declares.
sub names_of {
	my ($path, $re) = @_;
	open(my $fh, "<", $path) or die "libraries: cannot read $path\n";
	local $/;
	my $text = <$fh>;
	close($fh);
	my %names = map { $_ => 1 } ($text =~ /\b($re)/g);
	return \%names;
}

my $yaml = names_of($ENV{YAML_HEADER}, qr/(?:yaml|YAML)_\w+/);
my $uuid = names_of($ENV{UUID_HEADER}, qr/(?:uuid|UUID)_\w+/);
my @rules = (
	{ lib => "libmariadb", home => "common/db.c",
	  word => qr/\b(mysql_\w+|MYSQL\w*)/,
	  include => qr{[<"](?:mariadb/|mysql/)?mysql\.h[>"]} },
	{ lib => "libyaml", home => "config/yaml.c", names => $yaml,
	  word => qr/\b((?:yaml|YAML)_\w+)/,
	  include => qr{[<"]yaml\.h[>"]} },
	{ lib => "libuuid", home => "common/uuid.c", names => $uuid,
	  word => qr/\b((?:uuid|UUID)_\w+)/,
	  include => qr{[<"](?:uuid/)?uuid\.h[>"]} },
);

# Blanks comments and the insides of string and character literals, keeping
# line breaks so line numbers stay right.
sub strip {
	my ($s) = @_;
	$s =~ s{(/\*.*?\*/)|(//[^\n]*)|("(?:\\.|[^"\\\n])*")|(\x27(?:\\.|[^\x27\\\n])*\x27)}{
		my $m = $&;
		if (defined $1 || defined $2) {
			$m =~ s/[^\n]/ /g;
			$m;
		} else {
			substr($m, 0, 1) . (" " x (length($m) - 2)) . substr($m, -1);
		}
	}gse;
	return $s;
}

while (my $path = <STDIN>) {
	chomp $path;
	open(my $fh, "<", $path) or die "libraries: cannot read $path\n";
	local $/;
	my $raw = <$fh>;
	close($fh);
	my @raw = split /\n/, $raw, -1;
	my @code = split /\n/, strip($raw), -1;
	for my $r (@rules) {
		next if $path eq $r->{home};
		for my $i (0 .. $#code) {
			my $n = $i + 1;
			if ($raw[$i] =~ /^\s*#\s*include\s*($r->{include})/) {
				print "$path:$n: includes $1 ($r->{lib} belongs in $r->{home})\n";
				next;
			}
			next if $code[$i] =~ /^\s*#\s*include\b/;
			my %seen;
			while ($code[$i] =~ /$r->{word}/g) {
				my $w = $1;
				next if $seen{$w}++;
				next if defined $r->{names} && !$r->{names}{$w};
				print "$path:$n: $w ($r->{lib} belongs in $r->{home})\n";
			}
		}
	}
}
')
}

# The lint must still catch what it is for, and only that.
self_test() {
	local t got want
	t=$(mktemp -d)
	trap 'rm -rf "$t"' RETURN
	mkdir -p "$t/worker" "$t/common" "$t/config" "$t/tests/unit"
	cat >"$t/worker/bad.c" <<-'EOF'
	#include <mysql.h>
	static MYSQL_BIND b; /* mysql_query in a comment is fine */
	int f(void) { return mysql_query(0, "mysql_ in a string is fine"); }
	int g(void) { yaml_parser_t p; return yaml_parser_initialize(&p); }
	#include <uuid/uuid.h>
	void h(uuid_t u) { uuid_generate(u); }
	EOF
	cat >"$t/common/db.c" <<-'EOF'
	#include <mysql.h>
	static MYSQL *db;
	EOF
	cat >"$t/config/yaml.h" <<-'EOF'
	int pj_yaml_load(const char *yaml_text); /* pj_yaml_ is ours */
	EOF
	cat >"$t/tests/unit/test_ok.c" <<-'EOF'
	#include "config/yaml.h"
	#include "common/uuid.h"
	static const char *yaml_text = "yaml_parser_t";
	static int uuid_len = 36; /* a variable, not libuuid */
	EOF
	got=$(scan "$t" | sed -E 's/ \(.*//')
	want="worker/bad.c:1: includes <mysql.h>
worker/bad.c:2: MYSQL_BIND
worker/bad.c:3: mysql_query
worker/bad.c:4: yaml_parser_t
worker/bad.c:4: yaml_parser_initialize
worker/bad.c:5: includes <uuid/uuid.h>
worker/bad.c:6: uuid_t
worker/bad.c:6: uuid_generate"
	if [[ $got != "$want" ]]; then
		echo "libraries: SELF-TEST FAILED: on the planted tree, expected:"
		echo "$want"
		echo "but found:"
		echo "$got"
		return 1
	fi
}

for h in "$yaml_header" "$uuid_header"; do
	if [[ ! -r $h ]]; then
		echo "libraries: $h not found (run scripts/bootstrap.sh)"
		exit 1
	fi
done
self_test
findings=$(scan "$root")
if [[ -n $findings ]]; then
	echo "$findings"
	echo "libraries: $(wc -l <<<"$findings") use(s) of a library outside its one file"
	exit 1
fi
echo "libraries: ok (libmariadb only in common/db.c, libyaml only in config/yaml.c, libuuid only in common/uuid.c)"
