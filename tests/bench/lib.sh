# shellcheck shell=bash disable=SC2154,SC2034
# Shell functions shared by the benchmark scripts (sourced, not run).
#
# The sourcing script sets before calling them:
#   root     the repository's top directory
#   here     tests/bench
#   work     a private scratch directory (removed by the caller)
# bench_build sets janitor and measure; bench_sandbox sets sock, server,
# pool_mib, redo_mib and started_sandbox.

say() {
	echo "bench: $*" >&2
}

sql() {
	bash "$root/scripts/sandbox-db.sh" sql "$@"
}

# A release tree in build-bench (no sanitizers) and tests/bench/measure.c.
bench_build() { # TARGET...
	local build=$root/build-bench
	say "building a release tree in $build"
	cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPJ_SANITIZE=OFF \
	    >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log" >&2; exit 1; }
	cmake --build "$build" -j"$(nproc)" --target "$@" \
	    >"$work/build.log" 2>&1 ||
	    { tail -n 40 "$work/build.log" >&2; exit 1; }
	janitor=$build/placement-janitor
	measure=$build/bench-measure
	cc -std=c11 -O2 -D_DEFAULT_SOURCE -Wall -Wextra -Werror \
	    -o "$measure" "$here/measure.c"
}

# Starts the sandbox of PJ_SANDBOX_DIR if it is not running and sets its
# buffer pool to PJ_BENCH_BUFFER_POOL_MB (default 1024) with SET GLOBAL,
# since sandbox-db.sh starts it with 256 MiB, and its redo log to
# PJ_BENCH_REDO_LOG_MB (default 512; the server starts with 48 MiB, which a
# 10^6-row destructive run fills: its checkpoint flushes stalled one batch
# in a few hundred past 250 ms, RESULTS.md).
bench_sandbox() {
	local sandbox=$root/scripts/sandbox-db.sh pool_want redo_want status
	if ! bash "$sandbox" status >/dev/null 2>&1; then
		bash "$sandbox" start >&2
		started_sandbox=true
	fi
	eval "$(bash "$sandbox" env)"
	sock=$PJ_TEST_SOCKET
	pool_want=${PJ_BENCH_BUFFER_POOL_MB:-1024}
	[[ $pool_want =~ ^[0-9]+$ ]] ||
	    { echo "${0##*/}: PJ_BENCH_BUFFER_POOL_MB is not a number" >&2; exit 2; }
	sql -e "SET GLOBAL innodb_buffer_pool_size = $((pool_want * 1048576))"
	# The resize runs in the background: wait until it is done.
	for _ in $(seq 1 120); do
		status=$(sql -N -B -e "SHOW STATUS LIKE 'Innodb_buffer_pool_resize_status'" |
		    cut -f2)
		[[ $status == *"ompleted"* || -z $status ]] && break
		sleep 0.5
	done
	redo_want=${PJ_BENCH_REDO_LOG_MB:-512}
	[[ $redo_want =~ ^[0-9]+$ ]] ||
	    { echo "${0##*/}: PJ_BENCH_REDO_LOG_MB is not a number" >&2; exit 2; }
	sql -e "SET GLOBAL innodb_log_file_size = $((redo_want * 1048576))"
	server=$(sql -N -B -e "SELECT VERSION()")
	pool_mib=$(sql -N -B -e "SELECT @@innodb_buffer_pool_size DIV 1048576")
	redo_mib=$(sql -N -B -e "SELECT @@innodb_log_file_size DIV 1048576")
}

reset_db() { # DB
	sql -e "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1
	    CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci"
	sql "$1" <"$root/sql/placement-schema.sql"
}

config_for() { # DB -> path of a config for it
	local f=$work/$1.yaml
	# A private run directory: the host's run lock is not ours to take.
	printf 'database:\n  socket: "%s"\n  name: "%s"\n  user: root\nworker:\n  lock:\n    run_dir: "%s"\n' \
	    "$sock" "$1" "$work/run" >"$f"
	chmod 600 "$f"
	echo "$f"
}

# A field of the measure file: wall_s, peak_rss_kib or exit.
mfield() { # FILE KEY
	tr ' ' '\n' <"$1" | sed -n "s/^$2=//p"
}

# One pass's object in a JSON report, from its name up to its "error" (its
# counts and batch_ms; the object nests braces, so no [^}]* match).
pass_object() { # FILE.json PASS
	local obj
	obj=$(grep -o "\"name\":\"$2\".*" "$1" | head -n1)
	echo "${obj%%,\"error\":*}"
}

# One pass's batch transaction times from its JSON report (passes[].batch_ms
# and batches_over_target, README "JSON report"), so the timed run needs no
# -v: "p50 p99 max over batches" (ms; over = batches longer than
# worker.batch_target, 100 ms by default), or nothing before any batch.
batch_fields() { # FILE.json PASS
	local obj ms
	obj=$(pass_object "$1" "$2")
	ms=$(sed -n 's/.*"batch_ms":{"p50":\([0-9.]*\),"p99":\([0-9.]*\),"max":\([0-9.]*\)}.*/\1 \2 \3/p' \
	    <<<"$obj")
	[[ -n $ms ]] || return 0
	echo "$ms $(grep -o '"batches_over_target":[0-9]*' <<<"$obj" | cut -d: -f2)" \
	    "$(grep -o '"batches":[0-9]*' <<<"$obj" | head -n1 | cut -d: -f2)"
}

# Rounds' batch_fields lines -> "p50 p99 max over batches": the median p50,
# the highest p99 and max, the sums; "- - - 0 0" without any.
batch_combine() { # FILE
	sort -g "$1" | awk '
	{ p50[NR] = $1; if ($2 > p99) p99 = $2; if ($3 > mx) mx = $3
	  over += $4; n += $5 }
	END {
		if (NR == 0) { print "- - - 0 0"; exit }
		printf "%.1f %.1f %.1f %d %d\n", p50[int((NR + 1) / 2)], p99, mx,
		    over, n
	}'
}

ratio() { # A B -> A/B with 2 decimals, or - if B is 0
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}

# Times one SQL text through the client (process start included).
time_sql() { # DB FILE.m SQL
	"$measure" "$2" mariadb --no-defaults --socket="$sock" --user=root \
	    -N -B "$1" -e "$3" >"$2.out"
}

# Lets InnoDB purge the rows the last step deleted and write back its dirty
# pages, so one timed step does not pay for the one before: a probe that
# walks delete-marked index records not yet purged costs more. Up to 60 s.
quiesce() {
	local old dirty history i
	old=$(sql -N -B -e "SELECT @@innodb_max_dirty_pages_pct")
	sql -e "SET GLOBAL innodb_max_dirty_pages_pct = 0;
	    SET GLOBAL innodb_monitor_enable = 'trx_rseg_history_len'"
	for ((i = 0; i < 120; i++)); do
		history=$(sql -N -B -e "SELECT count FROM information_schema.INNODB_METRICS
		    WHERE name = 'trx_rseg_history_len'")
		dirty=$(sql -N -B -e "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'" |
		    cut -f2)
		((history < 100 && dirty < 50)) && break
		sleep 0.5
	done
	sql -e "SET GLOBAL innodb_max_dirty_pages_pct = $old"
}

median() { # numbers... -> the median (the lower middle one for an even count)
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# CPU seconds the sandbox server has used so far (all its threads, user +
# system): with the client's own from measure, the work a step cost, which
# other load on the machine moves far less than wall time.
server_cpu() {
	local pid
	pid=$(tr -dc '0-9' <"$PJ_SANDBOX_DIR/mysqld.pid")
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' \
	    "/proc/$pid/stat"
}

# Client CPU (from FILE.m) plus the server's since BEFORE.
step_cpu() { # FILE.m BEFORE
	awk -v c="$(mfield "$1" cpu_s)" -v a="$2" -v b="$(server_cpu)" \
	    'BEGIN { printf "%.2f", c + b - a }'
}
