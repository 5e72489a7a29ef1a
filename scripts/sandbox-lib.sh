# Shell functions shared by scripts/sandbox-db.sh (one server) and
# scripts/galera-sandbox.sh (three Galera nodes): sourced, never run.
#
# The caller sets sb_name (the prefix of messages) before using them.

sb_say() {
	echo "$sb_name: $*"
}

sb_die() {
	echo "$sb_name: $*" >&2
	exit 1
}

# A unix socket path holds at most 107 bytes: under a deep directory, a
# name in /tmp derived from the directory instead.
sb_socket_path() {
	local dir=$1 sock=$1/mysqld.sock
	if ((${#sock} > 100)); then
		sock=/tmp/pj-sandbox-$(printf '%s' "$dir" | md5sum | cut -c1-16).sock
	fi
	echo "$sock"
}

sb_alive() {
	local state
	[[ -r /proc/$1/stat ]] || return 1
	state=$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)
	[[ $state != Z ]]
}

# The pid in pidfile, if it names a live mariadbd on datadir (not a
# zombie, not a recycled pid).
sb_running_pid() {
	local pidfile=$1 datadir=$2 pid cmdline
	[[ -f $pidfile ]] || return 1
	pid=$(tr -dc '0-9' <"$pidfile")
	[[ -n $pid ]] || return 1
	sb_alive "$pid" || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
	[[ $cmdline == *mariadbd* && $cmdline == *"--datadir=$datadir "* ]] ||
	    return 1
	echo "$pid"
}

sb_ping() {
	mariadb-admin --no-defaults --socket="$1" --user=root \
	    --connect-timeout=2 ping >/dev/null 2>&1
}

sb_user_args() {
	if ((EUID == 0)); then
		echo --user=root
	fi
}

# mariadb-install-db into datadir unless it holds a server already; the
# log goes to dir/install.log.
sb_init_datadir() {
	local dir=$1 datadir=$2
	[[ -d $datadir/mysql ]] && return 0
	rm -rf "$datadir"
	mkdir -p "$datadir"
	sb_say "initialising $datadir"
	# shellcheck disable=SC2046
	if ! mariadb-install-db --no-defaults $(sb_user_args) \
	    --datadir="$datadir" --auth-root-authentication-method=normal \
	    --skip-test-db --skip-name-resolve >"$dir/install.log" 2>&1; then
		tail -n 30 "$dir/install.log" >&2
		rm -rf "$datadir"
		sb_die "mariadb-install-db failed (full log: $dir/install.log)"
	fi
}

# The options every sandbox server gets: no option file, everything in
# its own directory (a private --tmpdir: a shared one lost temp tables to
# an unrelated cleaner), a small redo log. Callers append their own, which
# win. Usage: sb_server_args DIR DATADIR SOCKET PORT PIDFILE LOG
sb_server_args() {
	local dir=$1 datadir=$2 sock=$3 port=$4 pidfile=$5 log=$6
	# shellcheck disable=SC2046
	printf '%s\n' --no-defaults $(sb_user_args) \
	    --datadir="$datadir" --tmpdir="$dir/tmp" \
	    --socket="$sock" --port="$port" --bind-address=127.0.0.1 \
	    --pid-file="$pidfile" --log-error="$log" \
	    --skip-name-resolve \
	    --innodb-log-file-size=48M \
	    --innodb-flush-log-at-trx-commit=2 \
	    --max-connections=200 \
	    --character-set-server=utf8mb4 \
	    --collation-server=utf8mb4_general_ci
}

# The last lines a server logged since byte offset from (1-based).
sb_log_tail() {
	local log=$1 from=$2
	echo "---- $log (last lines of this start)" >&2
	tail -c "+$from" "$log" 2>/dev/null | tail -n 30 >&2
}

# SIGTERM, then SIGKILL after 30 s; fails if the process survives both.
sb_stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 120; i++)); do
		sb_alive "$pid" || break
		sleep 0.25
	done
	if sb_alive "$pid"; then
		sb_say "pid $pid ignored SIGTERM for 30 s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 40; i++)); do
			sb_alive "$pid" || break
			sleep 0.25
		done
	fi
	! sb_alive "$pid"
}
