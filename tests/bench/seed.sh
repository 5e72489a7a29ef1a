#!/usr/bin/env bash
# Fills a Placement database with a deterministic data set (dataset.sql).
#
#   tests/bench/seed.sh DB ROWS INCOMPLETE_PERCENT SEED [PROVIDERS_PCT]
#
# DB must exist, created from sql/placement-schema.sql, and hold no data
# yet. ROWS is about the number of allocation rows; INCOMPLETE_PERCENT of
# the consumers get no consumers row (their allocations stay); SEED (letters,
# digits, '-', '_') makes every uuid and choice. PROVIDERS_PCT is the
# number of providers per 100 allocation rows (default 1; 100: as many
# providers as allocations). The same arguments always give the same rows. Runs against the sandbox (scripts/sandbox-db.sh sql,
# so PJ_SANDBOX_DIR selects it) and prints the row counts and load time.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

usage() {
	echo "usage: $0 DB ROWS INCOMPLETE_PERCENT SEED [PROVIDERS_PCT]" >&2
	exit 2
}
(($# == 4 || $# == 5)) || usage
db=$1 rows=$2 pct=$3 seed=$4 providers_pct=${5:-1}
[[ $db =~ ^[A-Za-z0-9_]+$ ]] || { echo "seed: bad database name: $db" >&2; exit 2; }
[[ $rows =~ ^[0-9]+$ ]] && ((rows >= 1 && rows <= 100000000)) ||
    { echo "seed: ROWS must be 1..100000000: $rows" >&2; exit 2; }
[[ $pct =~ ^[0-9]+$ ]] && ((pct <= 100)) ||
    { echo "seed: INCOMPLETE_PERCENT must be 0..100: $pct" >&2; exit 2; }
[[ $seed =~ ^[A-Za-z0-9_-]{1,64}$ ]] ||
    { echo "seed: SEED must be 1..64 of [A-Za-z0-9_-]: $seed" >&2; exit 2; }
[[ $providers_pct =~ ^[0-9]+$ ]] && ((providers_pct >= 1 && providers_pct <= 1000)) ||
    { echo "seed: PROVIDERS_PCT must be 1..1000: $providers_pct" >&2; exit 2; }

sql() {
	bash "$root/scripts/sandbox-db.sh" sql "$@"
}

used=$(sql -N -B "$db" -e "SELECT (SELECT COUNT(*) FROM allocations)
    + (SELECT COUNT(*) FROM consumers) + (SELECT COUNT(*) FROM resource_providers)
    + (SELECT COUNT(*) FROM resource_classes) + (SELECT COUNT(*) FROM traits)")
if ((used != 0)); then
	echo "seed: database $db already holds data: recreate it from sql/placement-schema.sql" >&2
	exit 1
fi

start=$(date +%s.%N)
{
	printf "SET @seed = '%s', @rows = %d, @incomplete_pct = %d, @providers_pct = %d;\n" \
	    "$seed" "$rows" "$pct" "$providers_pct"
	cat "$here/dataset.sql"
} | sql "$db"
end=$(date +%s.%N)

sql -N -B "$db" -e "SELECT CONCAT('seed: ',
    (SELECT COUNT(*) FROM allocations), ' allocations, ',
    (SELECT COUNT(*) FROM consumers), ' consumers, ',
    (SELECT COUNT(DISTINCT consumer_id) FROM allocations a WHERE NOT EXISTS
        (SELECT 1 FROM consumers c WHERE c.uuid = a.consumer_id)),
        ' of them without a consumers row, ',
    (SELECT COUNT(*) FROM resource_providers), ' providers, ',
    (SELECT COUNT(*) FROM inventories), ' inventories')"
awk -v s="$start" -v e="$end" 'BEGIN { printf "seed: loaded in %.1f s\n", e - s }'
