#!/usr/bin/env bash
# sql/placement-schema.sql, our test fixture, must create exactly the schema
# of a real Placement database: the reference dump in
# ../shared/reference/placement-schema.sql (beside the clone; override with
# PJ_REFERENCE_SCHEMA). Both are loaded into fresh databases of the sandbox
# (PJ_TEST_SOCKET) and SHOW CREATE TABLE of every table is compared,
# AUTO_INCREMENT counters aside.
#
# Exit 77 (skip) without a reference dump, unless CI=true; without a
# sandbox only when PJ_TEST_ALLOW_SKIP=1 and CI is not true.
set -euo pipefail

root=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
reference=${PJ_REFERENCE_SCHEMA:-$root/../shared/reference/placement-schema.sql}
ours=$root/sql/placement-schema.sql
ci=${CI:-}

skip_or_fail() {
	if [[ $ci == true ]]; then
		echo "schema_fixture: FAIL: $1 (CI=true: nothing may be skipped)" >&2
		exit 1
	fi
	if [[ $2 == always || ${PJ_TEST_ALLOW_SKIP:-} == 1 ]]; then
		echo "schema_fixture: SKIP: $1"
		exit 77
	fi
	echo "schema_fixture: FAIL: $1 (set PJ_TEST_ALLOW_SKIP=1 to skip)" >&2
	exit 1
}

if [[ -z ${PJ_TEST_SOCKET:-} ]]; then
	skip_or_fail "PJ_TEST_SOCKET is not set (start scripts/sandbox-db.sh)" allowed
fi
db() {
	mariadb --no-defaults --socket="$PJ_TEST_SOCKET" --user=root "$@"
}
if ! db -e 'SELECT 1' >/dev/null 2>&1; then
	skip_or_fail "no server answers on $PJ_TEST_SOCKET" allowed
fi

suffix=$$
own_db=pj_lint_schema_own_$suffix
ref_db=pj_lint_schema_ref_$suffix
work=$(mktemp -d)
cleanup() {
	db -e "DROP DATABASE IF EXISTS $own_db; DROP DATABASE IF EXISTS $ref_db" \
	    >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

# Every table's CREATE TABLE, one file per database, in name order.
describe() {
	local name=$1 out=$2 t
	: >"$out"
	for t in $(db -N -B -e "SELECT table_name FROM information_schema.tables
	    WHERE table_schema = '$name' ORDER BY table_name"); do
		{
			db -N -B -r "$name" -e "SHOW CREATE TABLE \`$t\`" |
			    cut -f2- | sed -E 's/ AUTO_INCREMENT=[0-9]+//'
			echo
		} >>"$out"
	done
}

db -e "CREATE DATABASE $own_db"
db "$own_db" <"$ours"
version=$(db -N -B "$own_db" -e 'SELECT GROUP_CONCAT(version_num) FROM alembic_version')
if [[ $version != 422ece571366 ]]; then
	echo "schema_fixture: FAIL: alembic_version holds '$version', expected '422ece571366'" >&2
	exit 1
fi

if [[ ! -r $reference ]]; then
	skip_or_fail "no reference dump at $reference" always
fi
db -e "CREATE DATABASE $ref_db"
db "$ref_db" <"$reference"

describe "$own_db" "$work/ours.sql"
describe "$ref_db" "$work/reference.sql"
tables=$(grep -c '^CREATE TABLE' "$work/reference.sql" || true)
if ((tables == 0)); then
	echo "schema_fixture: FAIL: the reference dump created no table" >&2
	exit 1
fi
if ! diff -u "$work/reference.sql" "$work/ours.sql" >"$work/diff"; then
	echo "schema_fixture: FAIL: $ours differs from $reference:" >&2
	cat "$work/diff" >&2
	exit 1
fi
echo "schema_fixture: ok: $tables tables match the reference, alembic_version $version"
