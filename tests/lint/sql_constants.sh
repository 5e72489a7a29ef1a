#!/usr/bin/env bash
# SQL is never built from data (STYLE.md section 5). In the .c and .h files
# of worker/ common/ config/:
#   - every pj_stmt_prepare, pj_db_stmt, pj_db_exec, pj_db_show_column,
#     mysql_stmt_prepare,
#     mysql_real_query and mysql_query call passes as its SQL text string
#     literals or an SQL_ constant defined in the same file as
#     `static const char SQL_...[] =` (inside common/db.c, the wrappers
#     themselves, also their parameter named sql);
#   - no *printf, str*cat, str*cpy, memcpy or memmove call has a string
#     literal holding "SELECT ", "INSERT ", "UPDATE " or "DELETE ", or an
#     SQL_ constant, among its arguments.
# Comments are ignored. Before scanning, the lint checks itself on a planted
# tree, so a lint that can no longer fail fails.
set -euo pipefail

root=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)

# Prints one line per finding: path:line: what. Exit status 0 either way.
scan() {
	local tree=$1 files
	files=$(cd "$tree" && find worker common config \
	    \( -name '*.c' -o -name '*.h' \) -type f 2>/dev/null | sort)
	[[ -n $files ]] || return 0
	(cd "$tree" && printf '%s\n' "$files" | perl -e '
use strict;
use warnings;

my $str = qr/"(?:\\.|[^"\\\n])*"/;
my $chr = qr/\x27(?:\\.|[^\x27\\\n])*\x27/;

# Blanks comments, keeping line breaks and string literals.
sub strip_comments {
	my ($s) = @_;
	$s =~ s{(/\*.*?\*/)|(//[^\n]*)|($str)|($chr)}{
		my $m = $&;
		$m =~ s/[^\n]/ /g if defined $1 || defined $2;
		$m;
	}gse;
	return $s;
}

# The arguments of the call whose "(" is at $pos: a list of texts, or
# undef if the parentheses do not close.
sub call_args {
	my ($s, $pos) = @_;
	my ($depth, $cur, @args) = (0, "");
	pos($s) = $pos + 1;
	while (pos($s) < length($s)) {
		if ($s =~ /\G($str|$chr)/gc) {
			$cur .= $1;
		} elsif ($s =~ /\G([(\[{])/gc) {
			$depth++;
			$cur .= $1;
		} elsif ($s =~ /\G([)\]}])/gc) {
			if ($depth == 0) {
				push @args, $cur;
				return \@args;
			}
			$depth--;
			$cur .= $1;
		} elsif ($depth == 0 && $s =~ /\G,/gc) {
			push @args, $cur;
			$cur = "";
		} else {
			$s =~ /\G(.)/gcs;
			$cur .= $1;
		}
	}
	return undef;
}

sub one_line {
	my ($t) = @_;
	$t =~ s/\s+/ /g;
	$t =~ s/^ | $//g;
	return length($t) > 70 ? substr($t, 0, 67) . "..." : $t;
}

my $prepare = qr/\b(pj_stmt_prepare|pj_db_stmt|pj_db_exec|pj_db_show_column|mysql_stmt_prepare|mysql_real_query|mysql_query)\s*\(/;
my $builder = qr/\b(\w*printf|str\w*cat|str\w*cpy|pj_strlcpy|memcpy|memmove)\s*\(/;
my $keyword = qr/\b(?:SELECT|INSERT|UPDATE|DELETE)\s/;

while (my $path = <STDIN>) {
	chomp $path;
	open(my $fh, "<", $path) or die "sql_constants: cannot read $path\n";
	local $/;
	my $s = strip_comments(scalar <$fh>);
	close($fh);
	my $line_of = sub { 1 + (substr($s, 0, $_[0]) =~ tr/\n//) };
	my %const = map { $_ => 1 }
	    ($s =~ /\bstatic\s+const\s+char\s+(SQL_\w+)\s*\[\s*\]\s*=/g);

	while ($s =~ /$prepare/g) {
		my ($fn, $open) = ($1, pos($s) - 1);
		my $args = call_args($s, $open);
		my $n = $line_of->($open);
		if (!$args || @$args < 2) {
			print "$path:$n: $fn: cannot read its arguments\n";
			next;
		}
		my $sql = $args->[1];
		$sql =~ s/^\s+|\s+$//g;
		# A declaration or definition, not a call.
		next if $sql =~ /^(?:const\s+)?char\s*\*\s*(?:const\s+)?\w+$/;
		if ($sql =~ /^SQL_\w+$/) {
			next if $const{$sql};
			print "$path:$n: $fn passes $sql, not a static const char" .
			    " $sql\[\] of this file\n";
			next;
		}
		next if $sql =~ /^$str(?:\s*$str)*$/;
		next if $path eq "common/db.c" && $sql eq "sql";
		print "$path:$n: $fn passes \x27" . one_line($sql) .
		    "\x27: only an SQL_ constant or a string literal may be SQL\n";
	}

	pos($s) = 0;
	while ($s =~ /$builder/g) {
		my ($fn, $open) = ($1, pos($s) - 1);
		my $args = call_args($s, $open);
		next unless $args;
		my $text = join(",", @$args);
		my @why;
		for my $lit ($text =~ /($str)/g) {
			push @why, "literal $lit" if $lit =~ $keyword;
		}
		push @why, "$1" while $text =~ /\b(SQL_\w+)/g;
		next unless @why;
		my $n = $line_of->($open);
		print "$path:$n: $fn builds text with SQL (" .
		    one_line(join(", ", @why)) . ")\n";
	}
}
')
}

# The lint must still catch what it is for, and only that.
self_test() {
	local t got want
	t=$(mktemp -d)
	trap 'rm -rf "$t"' RETURN
	mkdir -p "$t/worker" "$t/common"
	cat >"$t/worker/bad.c" <<-'EOF'
	static const char SQL_OK[] = "SELECT 1";
	static int f(struct pj_db *db, const char *sql_get, char *buf)
	{
		/* pj_stmt_prepare(db, buf, ...) in a comment is fine */
		rc = pj_stmt_prepare(db, SQL_OK, &st, err);
		rc = pj_stmt_prepare(db, "SELECT id"
		    " FROM t", &st, err);
		rc = pj_db_exec(db, sql_get, NULL, 0, NULL, err);
		rc = pj_stmt_prepare(db,
		    buf, &st, err);
		snprintf(buf, 64, "DELETE FROM t WHERE id = %d", 1);
		snprintf(buf, 64, "%s", SQL_OK);
		snprintf(buf, 64, "deleted %d rows", 1);
		strcat(buf, "UPDATE ");
		rc = pj_stmt_prepare(db, SQL_ELSEWHERE, &st, err);
		rc = pj_db_stmt(db, sql_get, &st, err);
		return mysql_query(conn, f(x, y));
	}
	EOF
	cat >"$t/common/db.c" <<-'EOF'
	static const char SQL_BEGIN[] = "START TRANSACTION";
	int
	pj_stmt_prepare(struct pj_db *db, const char *sql, struct pj_stmt **out,
	    struct pj_error *err)
	{
		if (mysql_stmt_prepare(st->stmt, sql, strlen(sql)) != 0)
			return 1;
		return mysql_real_query(db->conn, SQL_BEGIN, sizeof(SQL_BEGIN) - 1);
	}
	EOF
	cat >"$t/common/other.c" <<-'EOF'
	int g(const char *sql) { return pj_db_exec(db, sql, NULL, 0, NULL, err); }
	EOF
	got=$(scan "$t" | sed -E 's/ (passes|builds).*//')
	want="common/other.c:1: pj_db_exec
worker/bad.c:8: pj_db_exec
worker/bad.c:9: pj_stmt_prepare
worker/bad.c:15: pj_stmt_prepare
worker/bad.c:16: pj_db_stmt
worker/bad.c:17: mysql_query
worker/bad.c:11: snprintf
worker/bad.c:12: snprintf
worker/bad.c:14: strcat"
	if [[ $got != "$want" ]]; then
		echo "sql_constants: SELF-TEST FAILED: on the planted tree, expected:"
		echo "$want"
		echo "but found:"
		echo "$got"
		return 1
	fi
}

self_test
findings=$(scan "$root")
if [[ -n $findings ]]; then
	echo "$findings"
	echo "sql_constants: $(wc -l <<<"$findings") place(s) where SQL is not a constant"
	exit 1
fi
echo "sql_constants: ok (every prepared or run SQL text is an SQL_ constant or a literal; no SQL built with printf/strcat/strcpy/memcpy)"
