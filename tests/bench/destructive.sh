#!/usr/bin/env bash
# Benchmark of the destructive passes against their set-based floor: prints
# figures, asserts nothing about time (STYLE.md section 9).
#
#   tests/bench/destructive.sh [--sizes 10000,100000,1000000] [--damage PCT]
#       [--seed SEED] [--batch-size N] [--repeat N] [--passes A,B,...]
#       [--providers-pct P] [--slow-log DIR]
#
# Each round at each size seeds two identical databases (seed.sh with no
# incomplete consumers, then damage.sql with PCT% damage of every kind,
# default 10) and then, pass by pass in the engine's order, on one database
# `placement-janitor repair --pass NAME` (that pass in repair mode, archive
# on) and on the other the pass's floor: one transaction of set-based
# statements doing the same work (archive INSERT ... SELECT JSON_OBJECT,
# then DELETE ... LEFT JOIN or UPDATE, consumers or providers settled as
# the pass settles them), timed through the mariadb client. Both databases
# see the same sequence of repairs, so they stay identical. It prints per
# pass and size: damaged rows, wall time of both and their ratio, rows per
# second, batch transaction times (p50/p99/max from the JSON report; no -v,
# whose one line per found record would be timed too), peak RSS (tests/bench/measure.c), and checks: `check --pass NAME`
# finds 0 afterwards, the pass's archive rows equal the rows deleted or
# changed, and the floor archived the same keys and rows. A size is the
# allocation rows of the data set, with P providers per 100 of them
# (default 1, as run.sh; --providers-pct 100 gives the provider tables'
# passes as many providers as allocations). --slow-log DIR
# also writes the server's slow log (long_query_time 0) of each worker run
# there and prints each one summed by statement shape (slowlog.awk:
# executions, server seconds, rows examined); logging slows the server
# down, so take the times of such a run as a breakdown only.
#
# Build tree, sandbox and buffer pool as tests/bench/run.sh (lib.sh);
# PJ_SANDBOX_DIR default build-bench/sandbox, PJ_SANDBOX_PORT default 13370.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"

all_passes="orphaned_allocations,orphaned_inventories,orphaned_provider_links,dangling_consumer_refs,root_provider_ids,orphaned_consumers"
sizes="10000,100000,1000000"
damage=10
seed=bench
batch=""
repeat=3
passes=$all_passes
slow_dir=""
providers_pct=1
cmdline="tests/bench/destructive.sh${*:+ $*}"

usage() {
	sed -n '5,8p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while (($# > 0)); do
	case $1 in
	--sizes) sizes=${2:?}; shift ;;
	--damage) damage=${2:?}; shift ;;
	--seed) seed=${2:?}; shift ;;
	--batch-size) batch=${2:?}; shift ;;
	--repeat) repeat=${2:?}; shift ;;
	--passes) passes=${2:?}; shift ;;
	--slow-log) slow_dir=${2:?}; shift ;;
	--providers-pct) providers_pct=${2:?}; shift ;;
	-h | --help) usage ;;
	*) echo "destructive.sh: unknown argument: $1" >&2; usage ;;
	esac
	shift
done
read -r -a size_list <<<"${sizes//,/ }"
for n in "${size_list[@]}"; do
	[[ $n =~ ^[0-9]+$ ]] && ((n >= 100)) ||
	    { echo "destructive.sh: bad size: $n" >&2; exit 2; }
done
[[ $damage =~ ^[0-9]+$ ]] && ((damage >= 1 && damage <= 50)) ||
    { echo "destructive.sh: --damage must be 1..50" >&2; exit 2; }
[[ $seed =~ ^[A-Za-z0-9_-]{1,64}$ ]] ||
    { echo "destructive.sh: bad --seed" >&2; exit 2; }
[[ -z $batch || $batch =~ ^[0-9]+$ ]] ||
    { echo "destructive.sh: bad --batch-size" >&2; exit 2; }
[[ $repeat =~ ^[0-9]+$ ]] && ((repeat >= 1)) ||
    { echo "destructive.sh: bad --repeat" >&2; exit 2; }
# In the engine's order, whatever order they were given in.
pass_list=()
for p in ${all_passes//,/ }; do
	[[ ,$passes, == *,$p,* ]] && pass_list+=("$p")
done
for p in ${passes//,/ }; do
	[[ ,$all_passes, == *,$p,* ]] ||
	    { echo "destructive.sh: not a destructive pass: $p" >&2; exit 2; }
done
if [[ -n $slow_dir ]]; then
	mkdir -p "$slow_dir"
	slow_dir=$(cd "$slow_dir" && pwd)
fi

export PJ_SANDBOX_DIR=${PJ_SANDBOX_DIR:-$root/build-bench/sandbox}
export PJ_SANDBOX_PORT=${PJ_SANDBOX_PORT:-13370}
work=$(mktemp -d /tmp/pj-bench-XXXXXX)
started_sandbox=false

cleanup() {
	if $started_sandbox; then
		bash "$root/scripts/sandbox-db.sh" stop >&2 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

bench_build placement-janitor
bench_sandbox

# ---- the floors ----------------------------------------------------------

# The text of a string macro of worker/archive.h (its quoted pieces joined),
# so the floors archive exactly the JSON the worker writes.
archive_macro() { # NAME
	awk -v name="$1" '
	$1 == "#define" && $2 == name { on = 1; next }
	on {
		line = $0
		while (match(line, /"([^"\\]|\\.)*"/)) {
			s = s substr(line, RSTART + 1, RLENGTH - 2)
			line = substr(line, RSTART + RLENGTH)
		}
		if ($0 !~ /\\$/) { print s; exit }
	}' "$root/worker/archive.h"
}
COLS=$(archive_macro PJ_ARCHIVE_COLUMNS)
J_ALLOC=$(archive_macro PJ_ARCHIVE_ALLOCATION)
J_CONS=$(archive_macro PJ_ARCHIVE_CONSUMER)
J_INV=$(archive_macro PJ_ARCHIVE_INVENTORY)
J_RPA=$(archive_macro PJ_ARCHIVE_PROVIDER_AGGREGATE)
J_RPT=$(archive_macro PJ_ARCHIVE_PROVIDER_TRAIT)
J_RP=$(archive_macro PJ_ARCHIVE_PROVIDER)
for v in COLS J_ALLOC J_CONS J_INV J_RPA J_RPT J_RP; do
	[[ -n ${!v} ]] || { echo "destructive.sh: $v not found in worker/archive.h" >&2; exit 1; }
done
RUN="'00000000-0000-4000-8000-00000000f100'"
ARCHIVE="INSERT INTO placement_janitor_archive $COLS SELECT $RUN"
SENTINEL="'00000000-0000-0000-0000-000000000000'"

A_ORPH="FROM allocations a LEFT JOIN resource_providers rp
  ON rp.id = a.resource_provider_id WHERE rp.id IS NULL"
I_ORPH="FROM inventories i LEFT JOIN resource_providers rp
  ON rp.id = i.resource_provider_id WHERE rp.id IS NULL"
RPA_ORPH="FROM resource_provider_aggregates rpa
  LEFT JOIN resource_providers rp ON rp.id = rpa.resource_provider_id
  LEFT JOIN placement_aggregates pa ON pa.id = rpa.aggregate_id
  WHERE rp.id IS NULL OR pa.id IS NULL"
RPT_ORPH="FROM resource_provider_traits rpt
  LEFT JOIN resource_providers rp ON rp.id = rpt.resource_provider_id
  LEFT JOIN traits t ON t.id = rpt.trait_id
  WHERE rp.id IS NULL OR t.id IS NULL"
REFS="FROM consumers c LEFT JOIN projects p ON p.id = c.project_id
  LEFT JOIN users u ON u.id = c.user_id WHERE p.id IS NULL OR u.id IS NULL"
# The worker's min_age is the default, 1h.
C_ORPH="FROM consumers c LEFT JOIN allocations a ON a.consumer_id = c.uuid
  WHERE a.id IS NULL AND (COALESCE(c.updated_at, c.created_at) IS NULL
  OR COALESCE(c.updated_at, c.created_at) < UTC_TIMESTAMP() - INTERVAL 1 HOUR)"
# Every provider's true root: the top of its parent chain (64 levels).
WANT="CREATE TEMPORARY TABLE want (id INT NOT NULL PRIMARY KEY, root INT NOT NULL)
  WITH RECURSIVE up (start, cur, parent, depth) AS (
    SELECT id, id, parent_provider_id, 0 FROM resource_providers
    UNION ALL SELECT up.start, p.id, p.parent_provider_id, up.depth + 1
    FROM up JOIN resource_providers p ON p.id = up.parent WHERE up.depth < 64)
  SELECT start AS id, cur AS root FROM up WHERE parent IS NULL"

# The floor of a pass: one transaction doing the same work set-based.
floor_sql() { # PASS
	case $1 in
	orphaned_allocations) cat <<EOF
START TRANSACTION;
CREATE TEMPORARY TABLE lost (uuid VARCHAR(36) NOT NULL PRIMARY KEY)
  CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci
  IGNORE SELECT a.consumer_id AS uuid $A_ORPH;
$ARCHIVE, 'orphaned_allocations', 'allocations', CAST(a.id AS CHAR), 'delete',
  $J_ALLOC, UTC_TIMESTAMP(6) $A_ORPH;
DELETE a $A_ORPH;
UPDATE consumers c JOIN lost l ON l.uuid = c.uuid
  SET c.generation = c.generation + 1, c.updated_at = UTC_TIMESTAMP()
  WHERE EXISTS (SELECT 1 FROM allocations a WHERE a.consumer_id = c.uuid);
$ARCHIVE, 'orphaned_allocations', 'consumers', CAST(c.id AS CHAR), 'delete',
  $J_CONS, UTC_TIMESTAMP(6) FROM consumers c JOIN lost l ON l.uuid = c.uuid
  WHERE NOT EXISTS (SELECT 1 FROM allocations a WHERE a.consumer_id = c.uuid);
DELETE c FROM consumers c JOIN lost l ON l.uuid = c.uuid
  LEFT JOIN allocations a ON a.consumer_id = c.uuid WHERE a.id IS NULL;
COMMIT;
EOF
	;;
	orphaned_inventories) cat <<EOF
START TRANSACTION;
$ARCHIVE, 'orphaned_inventories', 'inventories', CAST(i.id AS CHAR), 'delete',
  $J_INV, UTC_TIMESTAMP(6) $I_ORPH;
DELETE i $I_ORPH;
COMMIT;
EOF
	;;
	orphaned_provider_links) cat <<EOF
START TRANSACTION;
CREATE TEMPORARY TABLE bump (id INT NOT NULL PRIMARY KEY)
  IGNORE SELECT rp.id FROM resource_provider_aggregates rpa
    JOIN resource_providers rp ON rp.id = rpa.resource_provider_id
    LEFT JOIN placement_aggregates pa ON pa.id = rpa.aggregate_id
    WHERE pa.id IS NULL AND rp.generation IS NOT NULL
  UNION SELECT rp.id FROM resource_provider_traits rpt
    JOIN resource_providers rp ON rp.id = rpt.resource_provider_id
    LEFT JOIN traits t ON t.id = rpt.trait_id
    WHERE t.id IS NULL AND rp.generation IS NOT NULL;
$ARCHIVE, 'orphaned_provider_links', 'resource_provider_aggregates',
  CONCAT(rpa.resource_provider_id, ',', rpa.aggregate_id), 'delete',
  $J_RPA, UTC_TIMESTAMP(6) $RPA_ORPH;
DELETE rpa $RPA_ORPH;
$ARCHIVE, 'orphaned_provider_links', 'resource_provider_traits',
  CONCAT(rpt.trait_id, ',', rpt.resource_provider_id), 'delete',
  $J_RPT, UTC_TIMESTAMP(6) $RPT_ORPH;
DELETE rpt $RPT_ORPH;
UPDATE resource_providers rp JOIN bump b ON b.id = rp.id
  SET rp.generation = rp.generation + 1, rp.updated_at = UTC_TIMESTAMP();
COMMIT;
EOF
	;;
	dangling_consumer_refs) cat <<EOF
INSERT IGNORE INTO projects (external_id, created_at)
  VALUES ($SENTINEL, UTC_TIMESTAMP());
INSERT IGNORE INTO users (external_id, created_at)
  VALUES ($SENTINEL, UTC_TIMESTAMP());
START TRANSACTION;
SELECT id INTO @project FROM projects WHERE external_id = $SENTINEL;
SELECT id INTO @user FROM users WHERE external_id = $SENTINEL;
$ARCHIVE, 'dangling_consumer_refs', 'consumers', CAST(c.id AS CHAR), 'update',
  $J_CONS, UTC_TIMESTAMP(6) $REFS;
UPDATE consumers c LEFT JOIN projects p ON p.id = c.project_id
  LEFT JOIN users u ON u.id = c.user_id
  SET c.project_id = IF(p.id IS NULL, @project, c.project_id),
    c.user_id = IF(u.id IS NULL, @user, c.user_id),
    c.updated_at = UTC_TIMESTAMP()
  WHERE p.id IS NULL OR u.id IS NULL;
COMMIT;
EOF
	;;
	root_provider_ids) cat <<EOF
START TRANSACTION;
$WANT;
$ARCHIVE, 'root_provider_ids', 'resource_providers', CAST(rp.id AS CHAR),
  'update', $J_RP, UTC_TIMESTAMP(6) FROM resource_providers rp
  JOIN want w ON w.id = rp.id WHERE NOT (rp.root_provider_id <=> w.root);
UPDATE resource_providers rp JOIN want w ON w.id = rp.id
  SET rp.root_provider_id = w.root, rp.updated_at = UTC_TIMESTAMP()
  WHERE NOT (rp.root_provider_id <=> w.root);
COMMIT;
EOF
	;;
	orphaned_consumers) cat <<EOF
START TRANSACTION;
$ARCHIVE, 'orphaned_consumers', 'consumers', CAST(c.id AS CHAR), 'delete',
  $J_CONS, UTC_TIMESTAMP(6) $C_ORPH;
DELETE c $C_ORPH;
COMMIT;
EOF
	;;
	esac
}

# The pass's damage as one count (what `check` must find 0 of afterwards).
damage_sql() { # PASS
	case $1 in
	orphaned_allocations) echo "SELECT COUNT(*) $A_ORPH" ;;
	orphaned_inventories) echo "SELECT COUNT(*) $I_ORPH" ;;
	orphaned_provider_links)
		echo "SELECT (SELECT COUNT(*) $RPA_ORPH) + (SELECT COUNT(*) $RPT_ORPH)" ;;
	dangling_consumer_refs) echo "SELECT COUNT(*) $REFS" ;;
	root_provider_ids) echo "$WANT; SELECT COUNT(*) FROM resource_providers rp
	    LEFT JOIN want w ON w.id = rp.id WHERE NOT (rp.root_provider_id <=> w.root)" ;;
	orphaned_consumers) echo "SELECT COUNT(*) $C_ORPH" ;;
	esac
}

# The tables a pass deletes from (row counts before and after: the rows
# deleted); none for the passes that update (the damage fixed counts).
deleted_from() { # PASS
	case $1 in
	orphaned_allocations) echo "allocations consumers" ;;
	orphaned_inventories) echo "inventories" ;;
	orphaned_provider_links) echo "resource_provider_aggregates resource_provider_traits" ;;
	orphaned_consumers) echo "consumers" ;;
	*) echo "" ;;
	esac
}

# The table the pass scans, for the table_rows column.
scanned() { # PASS
	case $1 in
	orphaned_allocations) echo allocations ;;
	orphaned_inventories) echo inventories ;;
	orphaned_provider_links) echo resource_provider_aggregates ;;
	dangling_consumer_refs | orphaned_consumers) echo consumers ;;
	root_provider_ids) echo resource_providers ;;
	esac
}

# ---- helpers -------------------------------------------------------------

seed_damaged() { # DB ROWS
	reset_db "$1"
	sql "$1" <"$root/sql/archive.sql"
	bash "$here/seed.sh" "$1" "$2" 0 "$seed" "$providers_pct" >&2
	{
		printf "SET @seed = '%s', @damage_pct = %d;\n" "$seed" "$damage"
		cat "$here/damage.sql"
	} | sql "$1"
}

config_repair() { # DB -> a config with every destructive pass in repair mode
	local f
	f=$(config_for "$1")
	{
		echo "passes:"
		for p in ${all_passes//,/ }; do
			printf '  %s:\n    mode: repair\n' "$p"
		done
		echo "archive:"
		echo "  enabled: true"
	} >>"$f"
	echo "$f"
}

# A number field of one pass's object in a JSON report.
pfield() { # FILE PASS KEY
	pass_object "$1" "$2" | grep -o "\"$3\":[0-9]*" | head -n1 | cut -d: -f2
}

run_janitor() { # DB PASS COMMAND FILE
	local cfg args=(--format json --pass "$2")
	cfg=$(config_repair "$1")
	[[ -n $batch ]] && args+=(--batch-size "$batch")
	"$measure" "$4.m" "$janitor" --config "$cfg" "${args[@]}" "$3" \
	    >"$4.json" 2>"$4.err" || true
}

rows_of() { # DB TABLES... -> the sum of their row counts
	local db=$1 q="SELECT 0" t
	shift
	for t in "$@"; do
		q="$q + (SELECT COUNT(*) FROM $t)"
	done
	sql -N -B "$db" -e "$q"
}

# How the two databases' archive rows of a pass differ: "MISSING ROWS GEN"
# = keys archived on one side only, keys whose rows differ (updated_at
# aside: earlier passes set it from the clock, which differs), and how many
# of those differ in the generation alone (a consumer bumped by one batch
# and deleted by the next, where the floor deletes it in one go).
archive_diff() { # PASS
	local d="JSON_REMOVE(row_data, '\$.updated_at')"
	local g="JSON_REMOVE(row_data, '\$.updated_at', '\$.generation')"
	sql -N -B -e "SELECT COALESCE(SUM(n <> 2), 0),
	    COALESCE(SUM(n = 2 AND d1 <> d2), 0),
	    COALESCE(SUM(n = 2 AND d1 <> d2 AND g1 = g2), 0)
	  FROM (SELECT COUNT(*) AS n, MIN(d) AS d1, MAX(d) AS d2,
	      MIN(g) AS g1, MAX(g) AS g2
	    FROM (SELECT table_name, row_key, action, $d AS d, $g AS g
	        FROM bench_dw.placement_janitor_archive WHERE pass = '$1'
	      UNION ALL SELECT table_name, row_key, action, $d, $g
	        FROM bench_df.placement_janitor_archive WHERE pass = '$1') AS u
	    GROUP BY table_name, row_key, action) AS k" | tr '\t' ' '
}

archived() { # DB PASS
	sql -N -B "$1" -e "SELECT COUNT(*) FROM placement_janitor_archive
	    WHERE pass = '$2'"
}

slow_log_on() { # FILE
	sql -e "SET GLOBAL slow_query_log_file = '$1', GLOBAL long_query_time = 0,
	    GLOBAL log_slow_admin_statements = ON, GLOBAL slow_query_log = ON"
}

slow_log_off() {
	sql -e "SET GLOBAL slow_query_log = OFF, GLOBAL long_query_time = 10"
}

# One pass on both databases: worker on bench_dw, floor on bench_df.
one_pass() { # ROWS ROUND PASS
	local n=$1 r=$2 p=$3 tables before after dmg left changed k
	local narch missing differ gen
	tables=$(deleted_from "$p")
	dmg=$(sql -N -B bench_dw -e "$(damage_sql "$p")")
	# shellcheck disable=SC2086
	[[ -n $tables ]] && before=$(rows_of bench_dw $tables)
	table_rows["$n $p"]=$(rows_of bench_dw "$(scanned "$p")")

	say "size $n round $r $p: worker repair ($dmg damaged)"
	quiesce
	[[ -n $slow_dir ]] && slow_log_on "$slow_dir/$p-$n-$r.log"
	run_janitor bench_dw "$p" repair "$work/repair"
	[[ -n $slow_dir ]] && slow_log_off
	k="$n $p"
	s_worker[$k]+=" $(mfield "$work/repair.m" wall_s)"
	rss=$(mfield "$work/repair.m" peak_rss_kib)
	((rss > ${rss_max[$k]:-0})) && rss_max[$k]=$rss
	exitw=$(mfield "$work/repair.m" exit)
	((exitw > ${worst_exit[$k]:-0})) && worst_exit[$k]=$exitw
	retries[$k]=$((${retries[$k]:-0} + $(pfield "$work/repair.json" "$p" retries)))
	conflicts[$k]=$((${conflicts[$k]:-0} + $(pfield "$work/repair.json" "$p" conflicts)))
	batch_fields "$work/repair.json" "$p" >>"$work/batches-$n-$p"
	if [[ $exitw != 0 ]]; then
		say "size $n $p: repair exited $exitw:"
		tail -n 5 "$work/repair.err" >&2
	fi

	left=$(sql -N -B bench_dw -e "$(damage_sql "$p")")
	if [[ -n $tables ]]; then
		# shellcheck disable=SC2086
		after=$(rows_of bench_dw $tables)
		changed=$((before - after))
	else
		changed=$((dmg - left))
	fi
	narch=$(archived bench_dw "$p")
	run_janitor bench_dw "$p" check "$work/check"
	found=$(pfield "$work/check.json" "$p" found)

	say "size $n round $r $p: set-based floor"
	quiesce
	time_sql bench_df "$work/floor.m" "$(floor_sql "$p")"
	s_floor[$k]+=" $(mfield "$work/floor.m" wall_s)"
	[[ $(mfield "$work/floor.m" exit) == 0 ]] ||
	    { say "size $n $p: the floor failed"; cat "$work/floor.m.out" >&2; }
	read -r missing differ gen < <(archive_diff "$p")

	# What the round proves: the pass left nothing, archived every row it
	# deleted or changed, and the same rows as the floor.
	local ok=""
	[[ $left == 0 && $found == 0 ]] || ok+="left=$left/check=$found "
	[[ $narch == "$changed" ]] || ok+="archived=$narch/changed=$changed "
	((missing == 0)) || ok+="keys-differ=$missing "
	((differ == gen)) || ok+="rows-differ=$((differ - gen)) "
	((gen == 0)) || ok+="gen=$gen "
	verdict[$k]+="${ok:-ok} "
	damaged[$k]=$dmg
	changed_n[$k]=$changed
}

one_round() { # ROWS ROUND
	say "size $1 round $2: seeding two identical damaged databases"
	seed_damaged bench_dw "$1"
	seed_damaged bench_df "$1"
	for p in "${pass_list[@]}"; do
		one_pass "$1" "$2" "$p"
	done
}

declare -A s_worker s_floor rss_max worst_exit retries conflicts verdict
declare -A damaged changed_n table_rows
for n in "${size_list[@]}"; do
	for ((r = 1; r <= repeat; r++)); do
		one_round "$n" "$r"
	done
done

# ---- report --------------------------------------------------------------

fmt='%8s %-24s %8s %7s %7s %4s %8s %8s %6s %8s %6s %6s %7s %4s %5s %7s %5s  %s\n'
echo "# placement-janitor benchmark: destructive passes vs set-based floor"
echo "command: $cmdline"
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), MariaDB $server, buffer pool $pool_mib MiB, redo log $redo_mib MiB, load average now $(cut -d' ' -f1-3 /proc/loadavg)"
echo "data: seed.sh SEED=$seed, 0% incomplete, $providers_pct providers per 100 allocations; damage.sql $damage%; batch size ${batch:-default}"
echo
# shellcheck disable=SC2059
printf "$fmt" size pass tbl_rows damaged changed exit worker_s floor_s ratio \
    rows/s p50_ms p99_ms max_ms '>100' batch rss_kib 'r/c' checks
declare -A wmed fmed
for n in "${size_list[@]}"; do
	for p in "${pass_list[@]}"; do
		k="$n $p"
		# shellcheck disable=SC2086
		wmed[$k]=$(median ${s_worker[$k]})
		# shellcheck disable=SC2086
		fmed[$k]=$(median ${s_floor[$k]})
		read -r p50 p99 pmax over nbatch < <(batch_combine "$work/batches-$n-$p")
		# shellcheck disable=SC2059
		printf "$fmt" "$n" "$p" "${table_rows[$k]}" "${damaged[$k]}" \
		    "${changed_n[$k]}" "${worst_exit[$k]:-0}" "${wmed[$k]}" "${fmed[$k]}" \
		    "$(ratio "${wmed[$k]}" "${fmed[$k]}")" \
		    "$(awk -v c="${changed_n[$k]}" -v w="${wmed[$k]}" 'BEGIN { if (w > 0) printf "%.0f", c / w; else print "-" }')" \
		    "$p50" "$p99" "$pmax" "$over" "$nbatch" \
		    "${rss_max[$k]:-0}" "${retries[$k]}/${conflicts[$k]}" "${verdict[$k]}"
	done
done
echo
echo "columns (times: median of $repeat rounds; each round seeds two identical databases"
echo "and runs the passes in this order on both): tbl_rows = rows of the table the pass"
echo "pages through (last round); damaged = the pass's damage before it ran; changed = rows"
echo "the worker deleted (row counts before/after) or fixed (damage before/after);"
echo "worker_s = placement-janitor repair --pass NAME; floor_s = the floor transaction"
echo "through the mariadb client (process start included); ratio = worker_s / floor_s;"
echo "rows/s = changed / worker_s; p50/p99/max = batch transactions (BEGIN to COMMIT) from"
echo "the JSON report's batch_ms: the rounds' median p50, highest p99 and max (p50 and p99 at"
echo "most 1/8 above the truth, max exact); >100 = batches longer than worker.batch_target"
echo "(100 ms); batch = their number; rss_kib ="
echo "highest peak RSS; r/c = retries/conflicts; checks per round: ok = check finds 0,"
echo "archive rows = changed, floor archived the same keys and rows (updated_at aside);"
echo "gen=N: N archived rows differ from the floor's in the generation only (a consumer"
echo "bumped by one batch and deleted by the next, or bumped twice)"
echo
echo "samples (s):"
for n in "${size_list[@]}"; do
	for p in "${pass_list[@]}"; do
		k="$n $p"
		echo "  $n $p: worker${s_worker[$k]}; floor${s_floor[$k]}"
	done
done
if ((${#size_list[@]} > 1)); then
	echo
	echo "linearity (time ratio between consecutive sizes):"
	for p in "${pass_list[@]}"; do
		prev=""
		for n in "${size_list[@]}"; do
			if [[ -n $prev ]]; then
				printf '  %-24s %s -> %s (x%s): worker x%s, floor x%s\n' "$p" \
				    "$prev" "$n" "$(ratio "$n" "$prev")" \
				    "$(ratio "${wmed[$n $p]}" "${wmed[$prev $p]}")" \
				    "$(ratio "${fmed[$n $p]}" "${fmed[$prev $p]}")"
			fi
			prev=$n
		done
	done
fi
if [[ -n $slow_dir ]]; then
	echo
	echo "per statement shape (slow log; executions, server s, rows examined):"
	for n in "${size_list[@]}"; do
		for p in "${pass_list[@]}"; do
			for ((r = 1; r <= repeat; r++)); do
				f=$slow_dir/$p-$n-$r.log
				[[ -f $f ]] || continue
				echo "  $p size $n round $r: $(grep -c '^# Query_time:' "$f") statements"
				awk -f "$here/slowlog.awk" "$f" | sort -k2 -g -r | head -n 12 |
				    sed 's/^/  /'
			done
		done
	done
fi
