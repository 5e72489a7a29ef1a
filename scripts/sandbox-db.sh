#!/usr/bin/env bash
# A throwaway MariaDB server for tests and demos, in a private directory.
#
#   scripts/sandbox-db.sh start|stop|restart|status|env|sql [mariadb args]
#
# Settings (environment):
#   PJ_SANDBOX_DIR   its directory (default <repo>/build/sandbox)
#   PJ_SANDBOX_PORT  TCP port on 127.0.0.1 (default 13306)
#   PJ_SANDBOX_TZ    server time zone, e.g. '+05:30' (default: the system's)
#   PJ_SANDBOX_LOCK_WAIT_TIMEOUT  innodb_lock_wait_timeout in s (default 50)
#   PJ_SANDBOX_MDL_TIMEOUT  lock_wait_timeout (metadata locks) in s (default
#                    60, not a year: a test that waits on its own idle
#                    transaction fails instead of hanging)
#   PJ_SANDBOX_EXTRA_ARGS  more mariadbd options, split on spaces, after
#                    the defaults (so they win), e.g. binary logging for a
#                    replication primary: '--log-bin=mysql-bin --server-id=1'
#
# The server reads no option file (--no-defaults), keeps data, temp files,
# socket, pid file and log in its directory, and never touches a system
# MariaDB service or /etc/mysql. root connects over the socket without a
# password, as any OS user.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${PJ_SANDBOX_DIR:-$root/build/sandbox}
port=${PJ_SANDBOX_PORT:-13306}
tz=${PJ_SANDBOX_TZ:-}
lock_wait=${PJ_SANDBOX_LOCK_WAIT_TIMEOUT:-50}
mdl_wait=${PJ_SANDBOX_MDL_TIMEOUT:-60}
read -r -a extra_args <<<"${PJ_SANDBOX_EXTRA_ARGS:-}"

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
datadir=$dir/data
tmpdir=$dir/tmp
sock=$dir/mysqld.sock
pidfile=$dir/mysqld.pid
portfile=$dir/port
log=$dir/mysqld.log

say() {
	echo "sandbox-db: $*"
}

die() {
	echo "sandbox-db: $*" >&2
	exit 1
}

# A unix socket path holds at most 107 bytes: under a deep directory, use
# a name in /tmp derived from the directory instead.
if ((${#sock} > 100)); then
	sock=/tmp/pj-sandbox-$(printf '%s' "$dir" | md5sum | cut -c1-16).sock
fi
[[ $port =~ ^[0-9]+$ ]] || die "PJ_SANDBOX_PORT is not a number: $port"

# The port of the running server, whatever PJ_SANDBOX_PORT says now.
running_port() {
	if running_pid >/dev/null && [[ -s $portfile ]]; then
		tr -dc '0-9' <"$portfile"
	else
		echo "$port"
	fi
}

# The pid of our server, if it runs: the pid file names a live process that
# is a mariadbd on this data directory (not a zombie, not a recycled pid).
running_pid() {
	local pid state cmdline
	[[ -f $pidfile ]] || return 1
	pid=$(tr -dc '0-9' <"$pidfile")
	[[ -n $pid ]] || return 1
	[[ -r /proc/$pid/stat ]] || return 1
	state=$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f1)
	[[ $state != Z ]] || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
	[[ $cmdline == *mariadbd* && $cmdline == *"--datadir=$datadir "* ]] ||
	    return 1
	echo "$pid"
}

alive() {
	local state
	[[ -r /proc/$1/stat ]] || return 1
	state=$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)
	[[ $state != Z ]]
}

ping_server() {
	mariadb-admin --no-defaults --socket="$sock" --user=root \
	    --connect-timeout=2 ping >/dev/null 2>&1
}

user_args() {
	if ((EUID == 0)); then
		echo --user=root
	fi
}

init_datadir() {
	[[ -d $datadir/mysql ]] && return 0
	rm -rf "$datadir"
	mkdir -p "$datadir" "$tmpdir"
	say "initialising $datadir"
	# shellcheck disable=SC2046
	if ! mariadb-install-db --no-defaults $(user_args) \
	    --datadir="$datadir" --auth-root-authentication-method=normal \
	    --skip-test-db --skip-name-resolve >"$dir/install.log" 2>&1; then
		tail -n 30 "$dir/install.log" >&2
		rm -rf "$datadir"
		die "mariadb-install-db failed (full log: $dir/install.log)"
	fi
}

start() {
	local pid args i log_from=1 why="did not answer within 30 s"
	if pid=$(running_pid); then
		if ping_server; then
			say "already running (pid $pid, socket $sock, port $(running_port))"
			return 0
		fi
	else
		rm -f "$pidfile"
	fi
	init_datadir
	mkdir -p "$tmpdir"
	if [[ -z ${pid:-} ]]; then
		args=(--no-defaults $(user_args)
			--datadir="$datadir" --tmpdir="$tmpdir"
			--socket="$sock" --port="$port" --bind-address=127.0.0.1
			--pid-file="$pidfile" --log-error="$log"
			--skip-name-resolve --skip-log-bin
			--innodb-buffer-pool-size=256M
			--innodb-log-file-size=48M
			--innodb-flush-log-at-trx-commit=2
			--innodb-lock-wait-timeout="$lock_wait"
			--lock-wait-timeout="$mdl_wait"
			--max-connections=200
			--character-set-server=utf8mb4
			--collation-server=utf8mb4_general_ci)
		if [[ -n $tz ]]; then
			args+=(--default-time-zone="$tz")
		fi
		args+=("${extra_args[@]}")
		: >>"$log"
		log_from=$(($(stat -c %s "$log") + 1))
		mariadbd "${args[@]}" </dev/null >>"$log" 2>&1 &
		pid=$!
		echo "$pid" >"$pidfile"
		echo "$port" >"$portfile"
	fi
	for ((i = 0; i < 60; i++)); do
		if ping_server; then
			say "running (pid $pid, socket $sock, port $port${tz:+, time zone $tz})"
			return 0
		fi
		if ! alive "$pid"; then
			why="exited"
			break
		fi
		sleep 0.5
	done
	echo "---- $log (last lines of this start)" >&2
	tail -c "+$log_from" "$log" | tail -n 30 >&2
	if alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
	die "server $why"
}

stop() {
	local pid i
	if ! pid=$(running_pid); then
		rm -f "$pidfile"
		say "not running"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 120; i++)); do
		alive "$pid" || break
		sleep 0.25
	done
	if alive "$pid"; then
		say "pid $pid ignored SIGTERM for 30 s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 40; i++)); do
			alive "$pid" || break
			sleep 0.25
		done
	fi
	alive "$pid" && die "pid $pid is still alive"
	rm -f "$pidfile" "$portfile" "$sock" "$sock.lock"
	say "stopped (pid $pid)"
}

status() {
	local pid
	if pid=$(running_pid) && ping_server; then
		say "running (pid $pid, socket $sock, port $(running_port))"
		return 0
	fi
	say "not running"
	return 3
}

print_env() {
	printf 'export PJ_TEST_SOCKET=%q\n' "$sock"
	printf 'export PJ_TEST_PORT=%q\n' "$(running_port)"
	printf 'export PJ_SANDBOX_DIR=%q\n' "$dir"
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
start) start ;;
stop) stop ;;
restart)
	stop
	start
	;;
status) status ;;
env) print_env ;;
sql)
	running_pid >/dev/null || die "not running (start it first)"
	exec mariadb --no-defaults --socket="$sock" --user=root "$@"
	;;
*)
	echo "usage: $0 start|stop|restart|status|env|sql [mariadb args]" >&2
	exit 2
	;;
esac
