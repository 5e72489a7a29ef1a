#!/usr/bin/env bash
# Benchmark of the incomplete_consumers repair: prints figures, asserts
# nothing about time (STYLE.md section 9).
#
#   tests/bench/run.sh [--sizes 10000,100000,1000000] [--incomplete PCT]
#       [--seed SEED] [--batch-size N] [--writer-seconds S]
#       [--writer-clients N] [--interference-size N|0] [--repeat N]
#       [--peer] [--peer-size N]
#
# For each size (allocation rows, from seed.sh with PCT% incomplete
# consumers) it seeds two identical databases and prints: rows repaired per
# second and wall time of `placement-janitor repair` (median of --repeat
# rounds, default 3, each on freshly seeded data), its batch
# transaction times (p50/p99/max, from its JSON report: no -v, whose
# one line per found record would be timed too), its peak
# RSS (wait4 rusage, tests/bench/measure.c), the wall time of ONE set-based
# INSERT ... SELECT doing the same repair on the copy and the ratio; then
# `check` on the repaired database against one anti-join COUNT, and how
# time grows with size. At the interference size it runs placement_writer
# alone, then while the worker repairs, side by side. --peer also times
# Placement's own `placement-manage db online_data_migrations` (Debian
# python3-placement, installed with apt) on the same data, at the
# interference size or --peer-size N. It is not run by default: it
# installs packages, and its batches (INSERT ... SELECT ... LIMIT 50 with
# no cursor) rescan the index from the start, so it grows with the square
# of the size.
#
# Builds a release tree in build-bench (no sanitizers) and uses the sandbox
# of PJ_SANDBOX_DIR (default build-bench/sandbox) and PJ_SANDBOX_PORT
# (default 13370), started here if needed and then stopped again. Its
# buffer pool is set at run time to PJ_BENCH_BUFFER_POOL_MB (default 1024)
# with SET GLOBAL, since sandbox-db.sh starts it with 256 MiB.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

sizes="10000,100000,1000000"
pct=20
seed=bench
batch=""
writer_seconds=10
writer_clients=2
interference=""
peer=false
repeat=3
peer_size=""
cmdline="tests/bench/run.sh${*:+ $*}"

usage() {
	sed -n '5,8p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while (($# > 0)); do
	case $1 in
	--sizes) sizes=${2:?}; shift ;;
	--incomplete) pct=${2:?}; shift ;;
	--seed) seed=${2:?}; shift ;;
	--batch-size) batch=${2:?}; shift ;;
	--writer-seconds) writer_seconds=${2:?}; shift ;;
	--writer-clients) writer_clients=${2:?}; shift ;;
	--interference-size) interference=${2:?}; shift ;;
	--repeat) repeat=${2:?}; shift ;;
	--peer) peer=true ;;
	--peer-size) peer=true peer_size=${2:?}; shift ;;
	-h | --help) usage ;;
	*) echo "run.sh: unknown argument: $1" >&2; usage ;;
	esac
	shift
done
read -r -a size_list <<<"${sizes//,/ }"
for n in "${size_list[@]}"; do
	[[ $n =~ ^[0-9]+$ ]] && ((n >= 100)) ||
	    { echo "run.sh: bad size: $n" >&2; exit 2; }
done
[[ $pct =~ ^[0-9]+$ ]] && ((pct >= 1 && pct <= 100)) ||
    { echo "run.sh: --incomplete must be 1..100" >&2; exit 2; }
[[ -z $batch || $batch =~ ^[0-9]+$ ]] ||
    { echo "run.sh: bad --batch-size" >&2; exit 2; }
[[ $repeat =~ ^[0-9]+$ ]] && ((repeat >= 1)) ||
    { echo "run.sh: bad --repeat" >&2; exit 2; }
[[ $writer_seconds =~ ^[0-9]+$ && $writer_clients =~ ^[0-9]+$ ]] ||
    { echo "run.sh: bad writer option" >&2; exit 2; }
# Interference at 10^5 when that size is run, else at the first size.
if [[ -z $interference ]]; then
	interference=${size_list[0]}
	for n in "${size_list[@]}"; do
		((n == 100000)) && interference=100000
	done
fi

build=$root/build-bench
export PJ_SANDBOX_DIR=${PJ_SANDBOX_DIR:-$build/sandbox}
export PJ_SANDBOX_PORT=${PJ_SANDBOX_PORT:-13370}
sandbox=$root/scripts/sandbox-db.sh
work=$(mktemp -d /tmp/pj-bench-XXXXXX)
started_sandbox=false
writer_pid=""

cleanup() {
	if [[ -n $writer_pid ]] && kill -0 "$writer_pid" 2>/dev/null; then
		touch "$work/stop"
		wait "$writer_pid" 2>/dev/null || true
	fi
	if $started_sandbox; then
		bash "$sandbox" stop >&2 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"

# ---- build and sandbox ---------------------------------------------------

bench_build placement-janitor placement_writer
writer=$build/tests/placement_writer
bench_sandbox

# ---- helpers -------------------------------------------------------------

seed_db() { # DB ROWS
	reset_db "$1"
	bash "$here/seed.sh" "$1" "$2" "$pct" "$seed" >&2
}

# A number of the pass in a JSON report.
jfield() { # FILE KEY
	grep -o "\"$2\":[0-9]*" "$1" | head -n1 | cut -d: -f2
}

# Runs the worker under measure; leaves FILE.m (measure), FILE.json, FILE.err.
run_janitor() { # DB COMMAND FILE
	local cfg args=(--format json --pass incomplete_consumers)
	cfg=$(config_for "$1")
	[[ -n $batch ]] && args+=(--batch-size "$batch")
	"$measure" "$3.m" "$janitor" --config "$cfg" "${args[@]}" "$2" \
	    >"$3.json" 2>"$3.err" || true
}

SQL_SINGLE="INSERT INTO consumers
  (uuid, project_id, user_id, generation, consumer_type_id, created_at)
  SELECT a.consumer_id,
    (SELECT id FROM projects WHERE external_id = '00000000-0000-0000-0000-000000000000'),
    (SELECT id FROM users WHERE external_id = '00000000-0000-0000-0000-000000000000'),
    0, NULL, UTC_TIMESTAMP()
  FROM allocations a LEFT JOIN consumers c ON c.uuid = a.consumer_id
  WHERE c.id IS NULL GROUP BY a.consumer_id;
  SELECT ROW_COUNT();"
SQL_SENTINELS="INSERT IGNORE INTO projects (external_id, created_at)
  VALUES ('00000000-0000-0000-0000-000000000000', UTC_TIMESTAMP());
  INSERT IGNORE INTO users (external_id, created_at)
  VALUES ('00000000-0000-0000-0000-000000000000', UTC_TIMESTAMP());"
SQL_COUNT="SELECT COUNT(DISTINCT a.consumer_id) FROM allocations a
  LEFT JOIN consumers c ON c.uuid = a.consumer_id WHERE c.id IS NULL"

# One repetition at size n: fresh identical databases, repair, the single
# statement, check and count. Appends to the sample arrays.
one_round() { # ROWS ROUND
	local n=$1 r=$2 left
	say "size $n round $r: seeding two identical databases"
	seed_db bench_a "$n"
	seed_db bench_b "$n"
	allocs=$(sql -N -B bench_a -e "SELECT COUNT(*) FROM allocations")
	missing=$(sql -N -B bench_a -e "$SQL_COUNT")
	sql bench_b -e "$SQL_SENTINELS"

	say "size $n round $r: placement-janitor repair"
	quiesce
	cpu0=$(server_cpu)
	run_janitor bench_a repair "$work/repair"
	s_repair_cpu+=("$(step_cpu "$work/repair.m" "$cpu0")")
	s_repair+=("$(mfield "$work/repair.m" wall_s)")
	s_rss+=("$(mfield "$work/repair.m" peak_rss_kib)")
	exit_r=$(mfield "$work/repair.m" exit)
	repaired=$(jfield "$work/repair.json" repaired)
	retries=$((retries + $(jfield "$work/repair.json" retries)))
	failed=$((failed + $(jfield "$work/repair.json" failed)))
	batch_fields "$work/repair.json" incomplete_consumers >>"$work/batches"
	left=$(sql -N -B bench_a -e "$SQL_COUNT")
	if [[ $exit_r != 0 || $left != 0 ]]; then
		say "size $n: repair exited $exit_r, $left left:"
		tail -n 5 "$work/repair.err" >&2
		bad_exit=$exit_r
	fi

	say "size $n round $r: one set-based INSERT ... SELECT on the copy"
	quiesce
	cpu0=$(server_cpu)
	time_sql bench_b "$work/single.m" "$SQL_SINGLE"
	s_single_cpu+=("$(step_cpu "$work/single.m" "$cpu0")")
	s_single+=("$(mfield "$work/single.m" wall_s)")
	single_rows=$(tail -n1 "$work/single.m.out")
	if [[ $single_rows != "$repaired" ]]; then
		say "size $n: the single statement made $single_rows rows, the worker $repaired"
	fi

	say "size $n round $r: check on the repaired database vs one anti-join count"
	quiesce
	run_janitor bench_a check "$work/check"
	s_check+=("$(mfield "$work/check.m" wall_s)")
	exit_c=$(mfield "$work/check.m" exit)
	time_sql bench_a "$work/count.m" "$SQL_COUNT"
	s_count+=("$(mfield "$work/count.m" wall_s)")
}

declare -A repair_s single_s
rows_out=()
samples_out=()
cpu_out=()
for n in "${size_list[@]}"; do
	s_repair=() s_single=() s_check=() s_count=() s_rss=()
	s_repair_cpu=() s_single_cpu=()
	retries=0 failed=0 bad_exit=0
	: >"$work/batches"
	for ((r = 1; r <= repeat; r++)); do
		one_round "$n" "$r"
	done
	read -r p50 p99 pmax over nbatch < <(batch_combine "$work/batches")
	wall=$(median "${s_repair[@]}")
	single=$(median "${s_single[@]}")
	check=$(median "${s_check[@]}")
	count=$(median "${s_count[@]}")
	rss=$(printf '%s\n' "${s_rss[@]}" | sort -n | tail -n1)
	repair_s[$n]=$wall
	single_s[$n]=$single
	rows_out+=("$(printf '%9s %9s %8s %8s %6s %9s %8s %9s %6s %6s %7s %6s %5s %7s %8s %7s %8s %8s %6s %6s' \
	    "$n" "$allocs" "$missing" "$repaired" "$bad_exit" "$wall" \
	    "$(awk -v r="$repaired" -v w="$wall" 'BEGIN { if (w > 0) printf "%.0f", r / w; else print "-" }')" \
	    "$single" "$(ratio "$wall" "$single")" "$p50" "$p99" "$pmax" \
	    "$over" "$nbatch" "$rss" "$retries/$failed" \
	    "$check" "$count" "$(ratio "$check" "$count")" "$exit_c")")
	samples_out+=("  $n: repair ${s_repair[*]}; single ${s_single[*]}; check ${s_check[*]}; count ${s_count[*]}")
	cpu_repair=$(median "${s_repair_cpu[@]}")
	cpu_single=$(median "${s_single_cpu[@]}")
	cpu_out+=("$(printf '%9s %10s %10s %6s   repair %s; single %s' "$n" \
	    "$cpu_repair" "$cpu_single" "$(ratio "$cpu_repair" "$cpu_single")" \
	    "${s_repair_cpu[*]}" "${s_single_cpu[*]}")")
done

# ---- interference --------------------------------------------------------

# The writer's figures as: tps p50 p99 max committed conflicts errors.
writer_stats() { # FILE
	awk '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		print f["tps"], f["lat_p50_ms"], f["lat_p99_ms"], f["lat_max_ms"],
		    f["committed"], f["conflicts"], f["errors"], f["seconds"]
	}' "$1"
}

interference_out=()
if ((interference > 0)); then
	# Pool: up to 2000 incomplete consumers and 2000 healthy ones.
	seed_db bench_c "$interference"
	{
		sql -N -B bench_c -e "SELECT DISTINCT a.consumer_id FROM allocations a
		    LEFT JOIN consumers c ON c.uuid = a.consumer_id
		    WHERE c.id IS NULL ORDER BY a.consumer_id LIMIT 2000"
		sql -N -B bench_c -e "SELECT uuid FROM consumers ORDER BY id LIMIT 2000"
	} >"$work/pool"
	wargs=(--socket "$sock" --database bench_c --clients "$writer_clients"
		--seed 1 --pool-file "$work/pool")

	say "interference: writer alone for $writer_seconds s"
	quiesce
	"$writer" "${wargs[@]}" --seconds "$writer_seconds" >"$work/alone" ||
	    say "writer (alone) exited $?"

	say "interference: writer while the worker repairs"
	seed_db bench_c "$interference"
	quiesce
	rm -f "$work/stop"
	"$writer" "${wargs[@]}" --seconds 3600 --stop-file "$work/stop" \
	    >"$work/during" &
	writer_pid=$!
	sleep 0.3
	run_janitor bench_c repair "$work/irepair"
	touch "$work/stop"
	wait "$writer_pid" || say "writer (during repair) exited $?"
	writer_pid=""
	read -r a_tps a_p50 a_p99 a_max a_com a_con a_err a_s < <(writer_stats "$work/alone")
	read -r d_tps d_p50 d_p99 d_max d_com d_con d_err d_s < <(writer_stats "$work/during")
	batch_fields "$work/irepair.json" incomplete_consumers >"$work/ibatches"
	read -r _ ip99 ipmax _ _ < <(batch_combine "$work/ibatches")
	interference_out+=(
	    "$(printf '%-26s %10s %10s' "" "alone" "repairing")"
	    "$(printf '%-26s %10s %10s' "window (s)" "$a_s" "$d_s")"
	    "$(printf '%-26s %10s %10s' "writer tps" "$a_tps" "$d_tps")"
	    "$(printf '%-26s %10s %10s' "writer p50 (ms)" "$a_p50" "$d_p50")"
	    "$(printf '%-26s %10s %10s' "writer p99 (ms)" "$a_p99" "$d_p99")"
	    "$(printf '%-26s %10s %10s' "writer max (ms)" "$a_max" "$d_max")"
	    "$(printf '%-26s %10s %10s' "writer committed" "$a_com" "$d_com")"
	    "$(printf '%-26s %10s %10s' "writer conflicts (retried)" "$a_con" "$d_con")"
	    "$(printf '%-26s %10s %10s' "writer errors" "$a_err" "$d_err")"
	    "$(printf '%-26s %10s %10s' "worker exit" "-" "$(mfield "$work/irepair.m" exit)")"
	    "$(printf '%-26s %10s %10s' "worker wall (s)" "-" "$(mfield "$work/irepair.m" wall_s)")"
	    "$(printf '%-26s %10s %10s' "worker retries" "-" "$(jfield "$work/irepair.json" retries)")"
	    "$(printf '%-26s %10s %10s' "worker batch p99/max (ms)" "-" "$ip99/$ipmax")"
	    "$(printf '%-26s %10s %10s' "p99 rise (ms)" "" "$(awk -v a="$a_p99" -v d="$d_p99" 'BEGIN { printf "%+.2f", d - a }')")"
	)
	echo "writer alone:     $(cat "$work/alone")" >"$work/writer-lines"
	echo "writer repairing: $(cat "$work/during")" >>"$work/writer-lines"
fi

# ---- peer: Placement's own online data migration -------------------------

peer_out=()
run_peer() {
	local n=${peer_size:-${size_list[0]}} conf=$work/placement.conf why=""
	if [[ -z $peer_size ]]; then
		for s in "${size_list[@]}"; do
			((s == interference)) && n=$s
		done
	fi
	if ! command -v placement-manage >/dev/null; then
		say "peer: installing python3-placement (apt)"
		if ! { apt-get install -y --no-install-recommends \
		    python3-placement python3-pymysql >"$work/apt.log" 2>&1 ||
		    { apt-get update >>"$work/apt.log" 2>&1 &&
		    apt-get install -y --no-install-recommends \
		    python3-placement python3-pymysql >>"$work/apt.log" 2>&1; }; }; then
			why="apt-get install python3-placement failed: $(tail -n1 "$work/apt.log")"
		fi
	fi
	if [[ -z $why ]] && ! command -v placement-manage >/dev/null; then
		why="python3-placement installs no placement-manage here"
	fi
	if [[ -n $why ]]; then
		peer_out+=("peer: not run: $why")
		return
	fi
	seed_db bench_p "$n"
	printf '[placement_database]\nconnection = mysql+pymysql://root@localhost/bench_p?unix_socket=%s&charset=utf8\n' \
	    "$sock" >"$conf"
	say "peer: placement-manage db online_data_migrations at $n rows"
	"$measure" "$work/peer.m" placement-manage --config-file "$conf" \
	    db online_data_migrations >"$work/peer.out" 2>&1 || true
	local left exit_p
	left=$(sql -N -B bench_p -e "$SQL_COUNT")
	exit_p=$(mfield "$work/peer.m" exit)
	peer_out+=("peer: placement-manage db online_data_migrations ($(dpkg-query -W -f '${Version}' python3-placement 2>/dev/null || echo '?')) at $n rows: exit $exit_p, wall $(mfield "$work/peer.m" wall_s) s, peak RSS $(mfield "$work/peer.m" peak_rss_kib) KiB, incomplete left $left; placement-janitor repair at the same size: ${repair_s[$n]:-?} s")
	peer_out+=("peer: its output ends:")
	while IFS= read -r line; do
		peer_out+=("  $line")
	done < <(tail -n 8 "$work/peer.out")
}
if $peer; then
	run_peer
fi

# ---- report --------------------------------------------------------------

echo "# placement-janitor benchmark"
echo "command: $cmdline"
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), MariaDB $server, buffer pool $pool_mib MiB, redo log $redo_mib MiB"
echo "data: seed.sh SEED=$seed, $pct% incomplete consumers; batch size ${batch:-default};"
echo "worker runs: --pass incomplete_consumers --format json (batch times from the report)"
echo
printf '%9s %9s %8s %8s %6s %9s %8s %9s %6s %6s %7s %6s %5s %7s %8s %7s %8s %8s %6s %6s\n' \
    size allocs missing repaired r.exit repair_s rows/s single_s ratio \
    p50_ms p99_ms max_ms '>100' batches rss_kib 'retr/f' check_s \
    count_s ratio c.exit
printf '%s\n' "${rows_out[@]}"
echo
echo "columns (times: median of $repeat rounds, each on freshly seeded databases):"
echo "repair_s = wall time of placement-janitor repair; single_s = one set-based"
echo "INSERT ... SELECT on an identical copy (mariadb client, process start included);"
echo "ratio = repair_s / single_s; p50/p99/max = batch transaction times (BEGIN to COMMIT)"
echo "from the JSON report's batch_ms: the rounds' median p50, highest p99 and max (p50 and"
echo "p99 at most 1/8 above the truth, max exact); >100 = batches longer than"
echo "worker.batch_target (100 ms); batches = batch transactions over all"
echo "rounds; rss_kib = peak RSS of the worker"
echo "(highest of the rounds); retr/f = batch retries/failed keys over all rounds;"
echo "r.exit = 0 or the worst repair exit code; c.exit = exit code of check;"
echo "check_s = placement-janitor check on the repaired database; count_s = one anti-join"
echo "COUNT(DISTINCT) on it; ratio = check_s / count_s."
echo
echo "samples (s):"
printf '%s\n' "${samples_out[@]}"
echo
echo "CPU seconds (server + client, median; samples after):"
printf '%9s %10s %10s %6s\n' size repair single ratio
printf '%s\n' "${cpu_out[@]}"
if ((${#size_list[@]} > 1)); then
	echo
	echo "linearity (time ratio between consecutive sizes):"
	prev=""
	for n in "${size_list[@]}"; do
		if [[ -n $prev ]]; then
			printf '  %s -> %s rows (x%s): repair x%s, single statement x%s\n' \
			    "$prev" "$n" "$(ratio "$n" "$prev")" \
			    "$(ratio "${repair_s[$n]}" "${repair_s[$prev]}")" \
			    "$(ratio "${single_s[$n]}" "${single_s[$prev]}")"
		fi
		prev=$n
	done
fi
if ((${#interference_out[@]} > 0)); then
	echo
	echo "interference at $interference rows ($writer_clients writer clients, pool of" \
	    "$(wc -l <"$work/pool") consumer ids, half of them incomplete):"
	printf '%s\n' "${interference_out[@]}"
	cat "$work/writer-lines"
fi
if ((${#peer_out[@]} > 0)); then
	echo
	printf '%s\n' "${peer_out[@]}"
fi
